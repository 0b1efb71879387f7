"""Exporters: each format written and read back; errors for bad paths and formats."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import pyvista as pv
import shapely

from tests.mesh.cities import (
    BLOCK_VOLUMES,
    HOUSE_VOLUME,
    block_city,
    house_surfaces,
    lod2_city,
    signed_volumes,
)
from tests.mesh.gltf_check import read_glb, read_gltf, validate
from twin.errors import ExportError
from twin.geodata.city import City, empty_buildings
from twin.mesh import build_mesh, export_city


@pytest.mark.parametrize("suffix", [".vtp", ".ply", ".obj"])
def test_pyvista_formats_read_back(tmp_path, suffix):
    city = block_city()
    path = export_city(city, tmp_path / f"city{suffix}")
    assert path == tmp_path / f"city{suffix}"
    mesh = build_mesh(city)
    back = pv.read(path)
    assert back.n_cells == mesh.n_cells
    assert back.volume == pytest.approx(sum(BLOCK_VOLUMES.values()), rel=1e-5)
    np.testing.assert_allclose(back.bounds, mesh.bounds, atol=1e-3)


def test_vtp_keeps_cell_arrays_and_origin(tmp_path):
    city = block_city()
    back = pv.read(export_city(city, tmp_path / "city.vtp"))
    mesh = build_mesh(city)
    np.testing.assert_array_equal(back.cell_data["building"], mesh.cell_data["building"])
    np.testing.assert_array_equal(back.cell_data["surface"], mesh.cell_data["surface"])
    np.testing.assert_array_equal(back.field_data["origin"], city.origin)
    assert back.field_data["crs"][0] == "EPSG:25832"


def test_ply_colours_follow_surface_type(tmp_path):
    city = block_city()
    back = pv.read(export_city(city, tmp_path / "city.ply"))
    surface = build_mesh(city).cell_data["surface"]
    rgb = back.cell_data["RGB"]
    roofs = rgb[surface == 2]
    walls = rgb[surface == 1]
    assert (roofs == roofs[0]).all() and (walls == walls[0]).all()
    assert not np.array_equal(roofs[0], walls[0])


@pytest.mark.parametrize("suffix", [".glb", ".gltf"])
def test_gltf_structure_and_content(tmp_path, suffix):
    city = lod2_city()
    city.attribution = ["test data, hand-made"]
    path = export_city(city, tmp_path / f"city{suffix}")
    doc, binary = read_glb(path) if suffix == ".glb" else read_gltf(path)
    if suffix == ".gltf":
        assert (tmp_path / "city.bin").is_file()
    data = validate(doc, binary)
    mesh = build_mesh(city)
    # Every triangle once; one primitive (and material) per surface type present.
    assert len(data["indices"]) == mesh.n_cells
    names = [p["extras"]["surface"] for p in doc["meshes"][0]["primitives"]]
    assert names == ["ground", "wall", "roof"]
    # Y-up: glTF (x, y, z) = local (x, z, -y).
    pts = np.asarray(mesh.points)
    np.testing.assert_allclose(data["POSITION"][:, 0], pts[:, 0])
    np.testing.assert_allclose(data["POSITION"][:, 1], pts[:, 2])
    np.testing.assert_allclose(data["POSITION"][:, 2], -pts[:, 1])
    # Winding survives the rotation: the volume of the glTF triangles is the city's.
    tri = data["indices"].astype(np.int64)
    p = data["POSITION"].astype(np.float64)
    vol = np.einsum("ij,ij->i", p[tri[:, 0]], np.cross(p[tri[:, 1]], p[tri[:, 2]])).sum() / 6
    assert vol == pytest.approx(2 * HOUSE_VOLUME + 700, rel=1e-5)
    # Per-vertex building ids.
    assert set(np.unique(data["_BUILDING"]).astype(int)) == {0, 1, 2}
    # An independent reader (VTK's glTF importer) sees the same triangles, Y up.
    scene = pv.read(path).combine()
    assert scene.n_cells == mesh.n_cells
    x0, x1, y0, y1, z0, z1 = mesh.bounds
    np.testing.assert_allclose(scene.bounds, (x0, x1, z0, z1, -y1, -y0), atol=1e-4)
    extras = doc["asset"]["extras"]
    assert extras["crs"] == "EPSG:25832"
    assert extras["origin"] == list(city.origin)
    assert extras["attribution"] == ["test data, hand-made"]


def test_gltf_of_empty_city_is_valid(tmp_path):
    doc, binary = read_glb(export_city(City(empty_buildings("EPSG:25832")), tmp_path / "e.glb"))
    assert validate(doc, binary) == {}


def test_cityjson_document(tmp_path):
    city = block_city()
    path = export_city(city, tmp_path / "city.city.json")
    doc = json.loads(path.read_text(encoding="utf-8"))
    assert doc["type"] == "CityJSON" and doc["version"] == "2.0"
    assert doc["metadata"]["referenceSystem"] == "https://www.opengis.net/def/crs/EPSG/0/25832"
    scale, translate = doc["transform"]["scale"], doc["transform"]["translate"]
    verts = np.asarray(doc["vertices"])
    assert verts.dtype.kind == "i"
    assert len(np.unique(verts, axis=0)) == len(verts), "vertices are shared, not repeated"
    real = verts * scale + translate
    np.testing.assert_allclose(
        doc["metadata"]["geographicalExtent"], [*real.min(axis=0), *real.max(axis=0)]
    )
    objs = doc["CityObjects"]
    assert set(objs) == set(BLOCK_VOLUMES)
    box = objs["box"]
    assert box["type"] == "Building"
    assert box["attributes"]["measuredHeight"] == 10.0
    assert box["attributes"]["name"] == "Box"
    (geom,) = box["geometry"]
    assert geom["type"] == "Solid" and geom["lod"] == "1"
    (shell,) = geom["boundaries"]
    assert len(shell) == 6  # ground, 4 walls, roof
    assert geom["semantics"]["values"] == [[0, 1, 1, 1, 1, 2]]
    assert [s["type"] for s in geom["semantics"]["surfaces"]] == [
        "GroundSurface",
        "WallSurface",
        "RoofSurface",
    ]
    assert objs["twins"]["geometry"][0]["type"] == "MultiSolid"
    # The courtyard's roof and ground keep the hole as an inner ring.
    court = objs["courtyard"]["geometry"][0]["boundaries"][0]
    assert len(court[0]) == 2 and len(court[-1]) == 2
    # Each shell is closed and its faces point outward: the volume from the rings.
    for key, expected in BLOCK_VOLUMES.items():
        assert _cityjson_volume(objs[key]["geometry"][0], real) == pytest.approx(expected)


def _cityjson_volume(geom, real):
    """Volume of a Solid/MultiSolid by the divergence theorem over fanned rings."""
    shells = [geom["boundaries"]] if geom["type"] == "Solid" else geom["boundaries"]
    total = 0.0
    for solid in shells:
        for shell in solid:
            ref = real[shell[0][0][0]]
            for surface in shell:
                for ring in surface:  # holes run the other way and subtract themselves
                    p = real[ring] - ref
                    for k in range(1, len(p) - 1):
                        total += np.dot(p[0], np.cross(p[k], p[k + 1])) / 6
    return total


def test_cityjson_lod2_keeps_surfaces_and_semantics(tmp_path):
    doc = json.loads(export_city(lod2_city(), tmp_path / "c.city.json").read_text())
    geom = doc["CityObjects"]["house1"]["geometry"][0]
    # The house closes into one outward shell: written as a Solid.
    assert geom["type"] == "Solid" and geom["lod"] == "2"
    (shell,) = geom["boundaries"]
    assert len(shell) == 7
    (values,) = geom["semantics"]["values"]
    types = [geom["semantics"]["surfaces"][v]["type"] for v in values]
    assert types == ["GroundSurface"] + ["WallSurface"] * 4 + ["RoofSurface"] * 2
    real = np.asarray(doc["vertices"]) * doc["transform"]["scale"] + doc["transform"]["translate"]
    assert _cityjson_volume(geom, real) == pytest.approx(HOUSE_VOLUME)
    flat = doc["CityObjects"]["block"]["geometry"][0]
    assert flat["type"] == "Solid" and flat["lod"] == "1"


def test_cityjson_open_lod2_surfaces_stay_a_multisurface(tmp_path):
    city = lod2_city()
    wkb, types = house_surfaces()
    polys = shapely.get_parts(shapely.from_wkb(wkb))[1:]  # no ground: not closed
    city.buildings.loc[0, "surfaces"] = shapely.to_wkb(shapely.MultiPolygon(list(polys)))
    city.buildings.loc[0, "surface_types"] = types[1:]
    doc = json.loads(export_city(city, tmp_path / "o.city.json").read_text())
    geom = doc["CityObjects"]["house1"]["geometry"][0]
    assert geom["type"] == "MultiSurface"
    assert len(geom["boundaries"]) == 6
    types_out = [geom["semantics"]["surfaces"][v]["type"] for v in geom["semantics"]["values"]]
    assert types_out == ["WallSurface"] * 4 + ["RoofSurface"] * 2
    assert doc["CityObjects"]["house2"]["geometry"][0]["type"] == "Solid"


def test_cityjson_building_parts_are_linked(tmp_path):
    city = block_city()
    b = city.buildings
    b.loc[2, "is_part"] = True
    b.loc[2, "building"] = "tower"  # a building known only through its part
    b.loc[3, "is_part"] = True
    b.loc[3, "building"] = "box"
    doc = json.loads(export_city(city, tmp_path / "p.city.json").read_text())
    objs = doc["CityObjects"]
    assert objs["twins"]["type"] == "BuildingPart" and objs["twins"]["parents"] == ["tower"]
    assert objs["tower"] == {"type": "Building", "children": ["twins"]}
    assert objs["box"]["children"] == ["ell"] and objs["ell"]["parents"] == ["box"]


def test_cityjson_round_trip_through_our_importer(tmp_path):
    from twin.geodata.cityjson import read_cityjson

    city = block_city()
    back = read_cityjson(export_city(city, tmp_path / "rt.city.json"))
    assert back.crs == "EPSG:25832"
    a = city.buildings.set_index("id")
    b = back.buildings.assign(key=back.buildings["id"].str.removeprefix("cityjson/"))
    b = b.set_index("key").loc[a.index]
    np.testing.assert_allclose(b.geometry.area, a.geometry.area, atol=0.01)
    # Absolute bottom and top of every volume within a centimetre (a raised volume comes
    # back standing on its own bottom: CityJSON stores geometry, not min_height).
    np.testing.assert_allclose(
        b["ground_z"] + b["min_height"], a["ground_z"] + a["min_height"], atol=0.01
    )
    np.testing.assert_allclose(b["ground_z"] + b["height"], a["ground_z"] + a["height"], atol=0.01)
    assert b.loc["box", "name"] == "Box"
    # Same volumes when meshed again.
    vols = signed_volumes(build_mesh(back), len(back))
    np.testing.assert_allclose(vols, [BLOCK_VOLUMES[k] for k in b.index], rtol=1e-5)


def test_cityjson_lod2_round_trip(tmp_path):
    from twin.geodata.cityjson import read_cityjson

    back = read_cityjson(export_city(lod2_city(), tmp_path / "l.city.json"))
    rows = back.buildings.set_index("id")
    assert rows.loc["cityjson/house1", "surface_types"] == "GWWWWRR"
    assert rows.loc["cityjson/house1", "lod"] == 2
    vols = signed_volumes(build_mesh(back), len(back))
    np.testing.assert_allclose(sorted(vols), sorted([HOUSE_VOLUME, HOUSE_VOLUME, 700]), rtol=1e-5)


_CJIO_CHECK = """
import json, sys
from cjio import cityjson
with open(sys.argv[1], encoding="utf-8") as fh:
    cm = cityjson.reader(fh)
cm_info = cm.get_info(long=False)
dups, orphans = cm.remove_duplicate_vertices(), cm.remove_orphan_vertices()
cm.triangulate(True)
obj = cm.export2obj(False).getvalue()
print(json.dumps({"version": cm.get_version(), "epsg": cm.get_epsg(), "info": cm_info,
                  "dups": dups, "orphans": orphans, "faces": obj.count("\\nf ")}))
"""


def test_cityjson_read_by_cjio(tmp_path):
    # cjio patches the global json module on import (its float encoder), which changes how
    # every later json.dumps in the process writes floats (and so PROJJSON CRSs): run it in
    # its own interpreter.
    if importlib.util.find_spec("cjio") is None:
        pytest.skip("cjio is not installed (a dev dependency)")
    path = export_city(lod2_city(), tmp_path / "cj.city.json")
    out = subprocess.run(
        [sys.executable, "-c", _CJIO_CHECK, str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["version"] == "2.0"
    assert got["epsg"] == 25832
    assert "|-- Building (3)" in got["info"]
    # Vertices are shared and all used.
    assert got["dups"] == 0
    assert got["orphans"] == 0
    # cjio walks every surface when it triangulates (its earcut mode) and exports OBJ:
    # per house 2 ground + 10 wall + 4 roof triangles, 12 for the block.
    assert got["faces"] == 16 + 16 + 12


def test_unknown_suffix_lists_choices(tmp_path):
    with pytest.raises(
        ExportError,
        match=r"city\.stl: unknown export format.*\.city\.json, \.glb, \.gltf, \.vtp, \.ply, \.obj",
    ):
        export_city(block_city(), tmp_path / "city.stl")


def test_unwritable_path(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ExportError, match="cannot write here"):
        export_city(block_city(), blocker / "sub" / "city.glb")
    (tmp_path / "taken.glb").mkdir()
    with pytest.raises(ExportError, match=r"taken\.glb: cannot write here .*is a directory"):
        export_city(block_city(), tmp_path / "taken.glb")
    if os.geteuid() != 0:  # root writes anywhere
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o500)
        with pytest.raises(ExportError, match="cannot write here"):
            export_city(block_city(), ro / "city.vtp")


def test_missing_parent_folders_are_created(tmp_path):
    path = export_city(block_city(), tmp_path / "a" / "b" / "city.city.json")
    assert path.is_file()


def test_demo_city_round_trip_through_cityjson(tmp_path):
    from twin.geodata.cityjson import read_cityjson
    from twin.geodata.demo import generate_city

    city = generate_city(buildings=400, seed=1)
    back = read_cityjson(export_city(city, tmp_path / "demo.city.json"))
    assert back.n_buildings == city.n_buildings
    a = city.buildings.set_index("id")
    b = back.buildings.assign(key=back.buildings["id"].str.removeprefix("cityjson/"))
    b = b.set_index("key").loc[a.index]
    # Vertices are stored to the millimetre: outlines within a centimetre, areas to 0.1 %.
    assert shapely.hausdorff_distance(b.geometry.values, a.geometry.values).max() < 0.01
    np.testing.assert_allclose(b.geometry.area, a.geometry.area, rtol=1e-3)
    np.testing.assert_allclose(b["ground_z"] + b["height"], a["ground_z"] + a["height"], atol=0.01)
    np.testing.assert_allclose(
        b["ground_z"] + b["min_height"], a["ground_z"] + a["min_height"], atol=0.01
    )
    assert (b["name"].fillna("") == a["name"].fillna("")).all()
    assert (
        "Synthetic demo city"
        in json.loads((tmp_path / "demo.city.json").read_text())["metadata"]["title"]
    )


def test_demo_city_glb_is_valid(tmp_path):
    from twin.geodata.demo import generate_city

    city = generate_city(buildings=300, seed=2)
    doc, binary = read_glb(export_city(city, tmp_path / "demo.glb"))
    data = validate(doc, binary)
    assert len(data["indices"]) == build_mesh(city).n_cells
    assert doc["asset"]["extras"]["synthetic"] is True


def test_cityjson_of_lod2_only_city(tmp_path):
    city = lod2_city()
    city.buildings = city.buildings.iloc[:2].reset_index(drop=True)
    doc = json.loads(export_city(city, tmp_path / "only.city.json").read_text())
    geoms = [o["geometry"][0] for o in doc["CityObjects"].values()]
    assert {(g["type"], g["lod"]) for g in geoms} == {("Solid", "2")}


@pytest.mark.parametrize("name", ["U.PLY", "U.VTP", "U.OBJ", "U.GLB", "U.City.JSON"])
def test_upper_case_suffixes(tmp_path, name):
    path = export_city(block_city(), tmp_path / name)
    assert path.is_file() and path.stat().st_size > 0
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]  # no temporary left over
