"""Property tests: any footprint (unions of boxes: concave, holes, MultiPolygons, collinear
vertices) becomes a closed prism of the right volume."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.mesh.cities import E0, N0, signed_volumes
from twin.geodata.city import City
from twin.mesh import build_mesh

box = st.tuples(st.integers(0, 20), st.integers(0, 20), st.integers(1, 10), st.integers(1, 10))
footprint = st.lists(box, min_size=1, max_size=8).map(
    lambda boxes: shapely.union_all([shapely.box(x, y, x + w, y + h) for x, y, w, h in boxes])
)


def open_edges(mesh) -> int:
    return mesh.extract_feature_edges(
        boundary_edges=True, non_manifold_edges=True, feature_edges=False, manifold_edges=False
    ).n_cells


@pytest.mark.slow
@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(footprint, st.floats(1.0, 50.0), st.floats(0.0, 0.9)), min_size=1, max_size=5
    )
)
def test_union_of_boxes_is_a_closed_prism(items):
    geoms = [shapely.affinity.translate(g, E0 + 40 * k, N0) for k, (g, _, _) in enumerate(items)]
    height = np.array([h for _, h, _ in items])
    min_height = np.array([f * h for _, h, f in items])
    city = City(
        gpd.GeoDataFrame(
            {
                "id": [f"b{k}" for k in range(len(items))],
                "height": height,
                "min_height": min_height,
            },
            geometry=geoms,
            crs="EPSG:25832",
        )
    )
    mesh = build_mesh(city)
    assert open_edges(mesh) == 0
    expected = np.array([g.area for g in geoms]) * (height - min_height)
    np.testing.assert_allclose(signed_volumes(mesh, len(city)), expected, rtol=1e-5)
    # Roof area equals footprint area (holes stay holes).
    roof = mesh.extract_cells(np.flatnonzero(mesh.cell_data["surface"] == 2))
    assert roof.area == pytest.approx(sum(g.area for g in geoms), rel=1e-5)


def prism_surfaces(poly: shapely.Polygon, height: float) -> tuple[bytes, str]:
    """LoD2-style surfaces of a prism, every vertex kept (ground, walls, roof)."""
    poly = shapely.orient_polygons(poly)
    rings = [np.asarray(poly.exterior.coords)[:-1]]
    rings += [np.asarray(r.coords)[:-1] for r in poly.interiors]

    def lift(ring, z):
        return np.column_stack([ring, np.full(len(ring), z)])

    ground = shapely.Polygon(lift(rings[0][::-1], 0.0), [lift(r[::-1], 0.0) for r in rings[1:]])
    roof = shapely.Polygon(lift(rings[0], height), [lift(r, height) for r in rings[1:]])
    walls = []
    for ring in rings:
        for a, b in zip(ring, np.roll(ring, -1, axis=0), strict=True):
            walls.append(shapely.Polygon([(*a, 0.0), (*b, 0.0), (*b, height), (*a, height)]))
    polys = [ground, *walls, roof]
    return shapely.to_wkb(shapely.MultiPolygon(polys)), "G" + "W" * len(walls) + "R"


def test_lod2_collinear_vertex_on_a_hole_keeps_surface_closed():
    # Earcut drops the collinear vertex (5, 10) of the courtyard when it merges the hole;
    # the courtyard walls still meet there: the builder must close the T-junction.
    courtyard = shapely.Polygon(
        [(0, 0), (20, 0), (20, 20), (0, 20)], [[(5, 5), (5, 10), (5, 15), (15, 15), (15, 5)]]
    )
    wkb, types = prism_surfaces(courtyard, 6.0)
    city = City(
        gpd.GeoDataFrame(
            {"id": ["c"], "height": [6.0], "surface_types": [types], "surfaces": [wkb]},
            geometry=[courtyard],
            crs="EPSG:25832",
        )
    )
    mesh = build_mesh(city)
    assert open_edges(mesh) == 0
    assert mesh.volume == pytest.approx(300 * 6.0)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(*[st.integers(-3, 3)] * 4), min_size=1, max_size=200))
def test_unique_rows_groups_equal_rows(rows):
    from twin.mesh.lod2 import unique_rows

    key = np.asarray(rows, dtype=np.int64)
    first, inverse = unique_rows(key)
    np.testing.assert_array_equal(key[first][inverse], key)  # every row in its own group
    assert len(first) == len(np.unique(key, axis=0))  # and no two groups are equal


def test_unique_rows_survives_hash_collisions(monkeypatch):
    import pandas as pd

    from twin.mesh import lod2

    # Every row hashes alike: the exact fallback must still separate them.
    monkeypatch.setattr(
        lod2.pd, "factorize", lambda h: (np.zeros(len(h), dtype=np.intp), pd.Index([0]))
    )
    key = np.array([[1, 2, 3, 4], [5, 6, 7, 8], [1, 2, 3, 4]], dtype=np.int64)
    first, inverse = lod2.unique_rows(key)
    np.testing.assert_array_equal(key[first][inverse], key)
    assert len(first) == 2
