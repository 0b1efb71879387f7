"""The mesh builder: one closed, outward-oriented PolyData with cell arrays for the City."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import shapely

from tests.mesh.cities import (
    BLOCK_VOLUMES,
    HOUSE_VOLUME,
    block_city,
    house_surfaces,
    lod2_city,
    random_city,
    signed_volumes,
)
from twin.errors import GeodataError
from twin.geodata.city import City, empty_buildings
from twin.mesh import build_mesh


def open_edges(mesh) -> int:
    edges = mesh.extract_feature_edges(
        boundary_edges=True, non_manifold_edges=True, feature_edges=False, manifold_edges=False
    )
    return edges.n_cells


def test_block_city_is_one_closed_triangle_mesh():
    mesh = build_mesh(block_city())
    assert mesh.is_all_triangles
    assert mesh.n_cells > 0
    assert open_edges(mesh) == 0
    assert mesh.points.dtype == np.float32


def test_volume_is_area_times_height_per_building():
    city = block_city()
    mesh = build_mesh(city)
    per_row = signed_volumes(mesh, len(city))
    np.testing.assert_allclose(per_row, list(BLOCK_VOLUMES.values()), rtol=1e-6)
    assert mesh.volume == pytest.approx(sum(BLOCK_VOLUMES.values()), rel=1e-6)


def test_hole_stays_a_hole():
    city = block_city()
    mesh = build_mesh(city)
    row = list(BLOCK_VOLUMES).index("courtyard")
    roof = (mesh.cell_data["building"] == row) & (mesh.cell_data["surface"] == 2)
    sizes = mesh.extract_cells(np.flatnonzero(roof)).compute_cell_sizes()
    assert sizes.cell_data["Area"].sum() == pytest.approx(20 * 20 - 10 * 10)
    # A vertical ray through the courtyard centre hits nothing; one through the ring does.
    ox, oy, _ = city.origin
    cx, cy = 459_040.0 - ox, 5_481_010.0 - oy
    hits, _ = mesh.ray_trace((cx, cy, -10.0), (cx, cy, 50.0))
    assert len(hits) == 0
    hits, _ = mesh.ray_trace((cx - 7.5, cy, -10.0), (cx - 7.5, cy, 50.0))
    assert len(hits) == 2


def test_cell_arrays_and_counts_per_building():
    city = block_city()
    mesh = build_mesh(city)
    assert mesh.cell_data["building"].dtype == np.int32
    assert mesh.cell_data["surface"].dtype == np.uint8
    counts = np.bincount(mesh.cell_data["building"], minlength=len(city))
    # box: 4 edges → 8 wall + 2 roof + 2 ground; courtyard: 8 edges → 16 walls and
    # 8 + 8 cap triangles (earcut with one hole); twins: two boxes; ell: 6 edges → 12 walls
    # and 4 + 4 caps; hill: a box.
    assert counts.tolist() == [12, 32, 24, 20, 12]
    per_surface = np.bincount(mesh.cell_data["surface"], minlength=4)
    assert per_surface.tolist() == [20, 60, 20, 0]
    assert mesh.field_data["crs"][0] == "EPSG:25832"
    np.testing.assert_array_equal(mesh.field_data["origin"], city.origin)


def test_origin_is_subtracted():
    city = block_city()
    minx, miny, maxx, maxy = city.buildings.total_bounds
    mesh = build_mesh(city)
    ox, oy, oz = city.origin
    np.testing.assert_allclose(
        mesh.bounds, (minx - ox, maxx - ox, miny - oy, maxy - oy, 0.0 - oz, 106.0 - oz), atol=1e-3
    )
    other = build_mesh(city, origin=(459_000.0, 5_481_000.0, 0.0))
    np.testing.assert_allclose(other.bounds, (0.0, 90.0, 0.0, 50.0, 0.0, 106.0), atol=1e-3)
    np.testing.assert_array_equal(other.field_data["origin"], [459_000.0, 5_481_000.0, 0.0])


def test_normals_are_flat_and_point_outward():
    city = block_city()
    mesh = build_mesh(city)
    normals = mesh.cell_data["Normals"]
    assert mesh.GetCellData().GetNormals() is not None
    np.testing.assert_allclose(np.linalg.norm(normals, axis=1), 1.0, rtol=1e-5)
    # The stored normals agree with the winding (right-hand rule) ...
    tri = mesh.regular_faces
    p = np.asarray(mesh.points, dtype=np.float64)
    n = np.cross(p[tri[:, 1]] - p[tri[:, 0]], p[tri[:, 2]] - p[tri[:, 0]])
    n /= np.linalg.norm(n, axis=1)[:, None]
    np.testing.assert_allclose(normals, n, atol=1e-4)
    # ... walls are horizontal, roofs up, grounds down ...
    surface = mesh.cell_data["surface"]
    np.testing.assert_allclose(normals[surface == 1, 2], 0.0, atol=1e-6)
    assert (normals[surface == 2, 2] == 1.0).all()
    assert (normals[surface == 0, 2] == -1.0).all()
    # ... and for the convex box every face points away from its centre.
    box = mesh.extract_cells(np.flatnonzero(mesh.cell_data["building"] == 0))
    centres = box.cell_centers().points - np.asarray(box.center)
    assert (np.einsum("ij,ij->i", centres, box.cell_data["Normals"]) > 0).all()
    # VTK agrees: re-orienting the normals consistently outward flips nothing.
    surf = mesh.compute_normals(
        cell_normals=True, point_normals=False, auto_orient_normals=True, split_vertices=False
    )
    np.testing.assert_allclose(surf.cell_data["Normals"], normals, atol=1e-4)


def test_lod2_house_is_triangulated_with_semantics():
    city = lod2_city()
    mesh = build_mesh(city)
    assert open_edges(mesh) == 0
    per_row = signed_volumes(mesh, len(city))
    np.testing.assert_allclose(per_row, [HOUSE_VOLUME, HOUSE_VOLUME, 10 * 10 * 7], rtol=1e-6)
    house = mesh.cell_data["building"] == 0
    counts = np.bincount(mesh.cell_data["surface"][house], minlength=4)
    # ground quad 2, two quad walls 2 + 2, two gables 3 + 3, two roof quads 2 + 2
    assert counts.tolist() == [2, 10, 4, 0]
    roof_normals = mesh.cell_data["Normals"][house & (mesh.cell_data["surface"] == 2)]
    assert (roof_normals[:, 2] > 0.8).all()
    # The ridge is at 5 m above the house's ground (95 m) in local coordinates.
    top = mesh.extract_cells(np.flatnonzero(house)).bounds[5]
    assert top == pytest.approx(95.0 + 5.0 - city.origin[2], abs=1e-4)


def test_lod2_false_extrudes_footprints():
    city = lod2_city()
    mesh = build_mesh(city, lod2=False)
    per_row = signed_volumes(mesh, len(city))
    np.testing.assert_allclose(per_row, [10 * 8 * 5, 10 * 8 * 5, 10 * 10 * 7], rtol=1e-6)


def test_lod2_types_must_match_polygons():
    wkb, types = house_surfaces()
    city = City(
        gpd.GeoDataFrame(
            {"id": ["h"], "height": [5.0], "surfaces": [wkb], "surface_types": [types[:-1]]},
            geometry=[shapely.box(0, 0, 1, 1)],
            crs="EPSG:25832",
        )
    )
    with pytest.raises(GeodataError, match=r"building h: 'surfaces' has 7 polygons.* 6 codes"):
        build_mesh(city)


def test_lod2_unknown_type_is_named():
    wkb, _ = house_surfaces()
    city = City(
        gpd.GeoDataFrame(
            {"id": ["h"], "height": [5.0], "surfaces": [wkb], "surface_types": ["GWWWWRX"]},
            geometry=[shapely.box(0, 0, 1, 1)],
            crs="EPSG:25832",
        )
    )
    with pytest.raises(GeodataError, match="building h: unknown surface type 'X'"):
        build_mesh(city)


def test_empty_city_gives_empty_mesh():
    mesh = build_mesh(City(empty_buildings("EPSG:25832")))
    assert mesh.n_cells == 0
    assert mesh.n_points == 0
    assert len(mesh.cell_data["building"]) == 0


def test_rows_without_height_or_geometry_are_skipped(caplog):
    city = City(
        gpd.GeoDataFrame(
            {
                "id": ["ok", "nan", "flat", "none"],
                "height": [5.0, np.nan, 2.0, 5.0],
                "min_height": [0.0, 0.0, 2.0, 0.0],
            },
            geometry=[
                shapely.box(0, 0, 4, 4),
                shapely.box(5, 0, 9, 4),
                shapely.box(10, 0, 14, 4),
                None,
            ],
            crs="EPSG:25832",
        )
    )
    mesh = build_mesh(city)
    assert set(np.unique(mesh.cell_data["building"])) == {0}
    assert mesh.volume == pytest.approx(80.0)
    assert "2 of 4 rows have no usable height" in caplog.text


def test_degenerate_and_repeated_vertices():
    # A repeated vertex and a zero-area sliver polygon: no crash, no extra walls.
    poly = shapely.Polygon([(0, 0), (4, 0), (4, 0), (4, 4), (0, 4)])
    sliver = shapely.Polygon([(10, 0), (12, 0), (14, 0)])
    city = City(
        gpd.GeoDataFrame(
            {"id": ["a", "b"], "height": [3.0, 3.0]}, geometry=[poly, sliver], crs="EPSG:25832"
        )
    )
    mesh = build_mesh(city)
    assert mesh.n_cells == 12
    assert open_edges(mesh) == 0


def test_many_buildings_closed_and_correct():
    city = random_city(2000, seed=3)
    mesh = build_mesh(city)
    assert open_edges(mesh) == 0
    expected = city.buildings.geometry.area.to_numpy() * city.buildings["height"].to_numpy()
    # float32 points 5 km from the origin are exact to 0.25 mm: a few 1e-5 of a small house.
    np.testing.assert_allclose(signed_volumes(mesh, len(city)), expected, rtol=2e-4)


def test_lod2_without_ground_is_closed_by_its_footprint():
    wkb, types = house_surfaces()
    polys = shapely.get_parts(shapely.from_wkb(wkb))[1:]  # drop the ground
    city = City(
        gpd.GeoDataFrame(
            {
                "id": ["h"],
                "height": [5.0],
                "ground_z": [95.0],
                "surfaces": [shapely.to_wkb(shapely.MultiPolygon(list(polys)))],
                "surface_types": [types[1:]],
            },
            geometry=[shapely.box(459_000, 5_481_000, 459_010, 5_481_008)],
            crs="EPSG:25832",
        )
    )
    mesh = build_mesh(city)
    assert open_edges(mesh) == 0
    assert mesh.volume == pytest.approx(HOUSE_VOLUME)
    ground = mesh.cell_data["surface"] == 0
    assert ground.sum() == 2
    assert mesh.cell_data["Normals"][ground, 2] == pytest.approx(-1.0)


def test_broken_lod2_wkb_names_the_building():
    wkb, types = house_surfaces()
    city = City(
        gpd.GeoDataFrame(
            {
                "id": ["ok", "broken"],
                "height": [5.0, 5.0],
                "surfaces": [wkb, wkb[:30]],
                "surface_types": [types, types],
            },
            geometry=[shapely.box(0, 0, 1, 1), shapely.box(2, 0, 3, 1)],
            crs="EPSG:25832",
        )
    )
    with pytest.raises(GeodataError, match="building broken: 'surfaces' is not valid WKB"):
        build_mesh(city)


def test_origin_must_have_three_values():
    with pytest.raises(ValueError, match=r"origin must be \(x, y, z\)"):
        build_mesh(block_city(), origin=(1.0, 2.0))


def test_spikes_and_straight_runs_are_cleaned_without_changing_the_shape():
    # A zero-width spike (out to x=15 and back) and a vertex in the middle of an edge.
    spiky = shapely.Polygon([(0, 0), (10, 0), (15, 0), (10, 0), (10, 10), (5, 10), (0, 10)])
    city = City(
        gpd.GeoDataFrame({"id": ["s"], "height": [2.0]}, geometry=[spiky], crs="EPSG:25832")
    )
    mesh = build_mesh(city)
    assert open_edges(mesh) == 0
    assert mesh.volume == pytest.approx(200.0)
    assert mesh.n_cells == 12  # cleaned to a plain box
    ox = city.origin[0]
    np.testing.assert_allclose(mesh.bounds[:2], (0.0 - ox, 10.0 - ox), atol=1e-6)
