"""The mesh builder and exporters on real third-party data (see ../shared/realdata)."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import realdata_path
from tests.mesh.cities import signed_volumes
from twin.mesh import build_mesh, export_city

pytestmark = pytest.mark.realdata


def open_edges(mesh) -> int:
    return mesh.extract_feature_edges(
        boundary_edges=True, non_manifold_edges=True, feature_edges=False, manifold_edges=False
    ).n_cells


def check_closed_city(city):
    mesh = build_mesh(city)
    assert open_edges(mesh) == 0
    vols = signed_volumes(mesh, len(city))
    assert set(np.unique(mesh.cell_data["building"])) == set(range(len(city)))
    assert (vols > 0).all(), "every building encloses a positive volume (outward faces)"
    assert mesh.volume == pytest.approx(vols.sum(), rel=1e-6)
    return mesh, vols


@pytest.mark.slow
def test_limburg_osm_one_closed_mesh():
    from twin.geodata.osm import read_osm

    city = read_osm(realdata_path("osm/limburg_an_der_lahn.osm.pbf"))
    _, vols = check_closed_city(city)
    assert len(city) > 11_000
    # Block buildings: volume = footprint area × (height − min_height), holes included.
    b = city.buildings
    expected = b.geometry.area.to_numpy() * (b["height"] - b["min_height"]).to_numpy()
    # float32 points a few km from the origin: ~0.1 mm per coordinate.
    np.testing.assert_allclose(vols, expected, rtol=1e-4, atol=0.01)


def test_lod2_cityjson_closed_with_semantics():
    from twin.geodata.cityjson import read_cityjson

    city = read_cityjson(realdata_path("cityjson/citygml4j_lod2_buildings_v2.city.json"))
    assert (city.buildings["lod"] == 2).all()
    mesh, _ = check_closed_city(city)
    surface = mesh.cell_data["surface"]
    normals = mesh.cell_data["Normals"]
    assert set(np.unique(surface)) == {0, 1, 2}
    assert (normals[surface == 2, 2] > 0).all(), "roofs face up"
    assert (normals[surface == 0, 2] < -0.99).all(), "grounds face down"
    np.testing.assert_allclose(normals[surface == 1, 2], 0.0, atol=1e-3)


def test_lod2_without_ground_is_closed_by_footprint():
    from twin.geodata.cityjson import read_cityjson

    city = read_cityjson(realdata_path("cityjson/delft.city.json"))
    lod2 = city.buildings["surfaces"].notna()
    no_ground = lod2 & ~city.buildings["surface_types"].fillna("").str.contains("G")
    assert no_ground.sum() > 10  # Delft's LoD2 buildings come without ground surfaces
    check_closed_city(city)


def test_potsdam_citygml_lod1():
    from twin.geodata.citygml import read_citygml

    city = read_citygml(realdata_path("citygml/Potsdam_LoD1.gml"))
    check_closed_city(city)


def test_real_lod2_cityjson_round_trip(tmp_path):
    from twin.geodata.cityjson import read_cityjson

    city = read_cityjson(realdata_path("cityjson/citygml4j_lod2_buildings_v2.city.json"))
    vols = signed_volumes(build_mesh(city), len(city))
    back = read_cityjson(export_city(city, tmp_path / "again.city.json"))
    assert back.crs == city.crs
    assert (back.buildings["surface_types"].to_numpy() == city.buildings["surface_types"]).all()
    vols_back = signed_volumes(build_mesh(back, origin=city.origin), len(back))
    np.testing.assert_allclose(vols_back, vols, rtol=1e-4)
