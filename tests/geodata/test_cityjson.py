import collections
import json
import logging
import re
from pathlib import Path

import numpy as np
import pyproj
import pytest
import shapely

from tests.conftest import realdata_path
from tests.geodata.util import bad_input_test, row
from twin.errors import ConfigError, GeodataError
from twin.geodata.city import City
from twin.geodata.citygml import read_citygml
from twin.geodata.cityjson import read_cityjson

FIXTURES = Path(__file__).parent / "fixtures" / "cityjson"
V11 = FIXTURES / "buildings_v11.city.json"
SEQ = FIXTURES / "buildings.city.jsonl"


# -- hand-written fixtures ------------------------------------------------------------------


def test_v11_parts_attributes_and_context(caplog):
    with caplog.at_level(logging.INFO):
        city = read_cityjson(V11)
    assert city.crs == "EPSG:25832"
    assert city.n_buildings == 2 and city.n_parts == 1
    assert set(city.buildings["format"]) == {"cityjson"}
    assert "skipped non-building objects: 1 Road" in caplog.text

    house = row(city, "house")
    assert house["id"] == "cityjson/house" and house["lod"] == 2
    assert house["name"] == "Haus am Rhein" and house["building_type"] == "Wohnhaus"
    assert house["roof_shape"] == "gabled" and house["levels"] == 2
    assert house["address"] == "Berliner Straße 30, 67059 Ludwigshafen am Rhein"
    assert house["surface_types"] == "GWWWWRR"
    assert house["height"] == pytest.approx(9.1)  # measuredHeight agrees with the 9 m ridge
    assert house["height_source"] == "measured"
    assert house["ground_z"] == pytest.approx(95.0)  # transform applied
    assert house["geometry"].bounds == pytest.approx((459_100, 5_481_100, 459_110, 5_481_108))

    annex = row(city, "house-annex")
    assert annex["is_part"] and annex["building"] == "cityjson/house"
    assert annex["height"] == pytest.approx(3.0) and annex["surfaces"] is None

    ctx = city.context
    assert ctx is not None and ctx["layer"].tolist() == ["road"]
    assert ctx["name"].tolist() == ["Rheinuferstraße"]
    assert ctx.geometry.iloc[0].area == pytest.approx(300.0)


def test_multisolid_lod1_keeps_surfaces_when_not_a_prism():
    towers = row(read_cityjson(V11), "towers")
    # Two boxes of 20 m and 24 m: extruding the footprint to one height would be wrong.
    assert towers["lod"] == 1
    assert towers["surface_types"] == "GRWWWW" * 2
    assert towers["height"] == pytest.approx(24.0)
    assert towers["height_source"] == "geometry"  # measuredHeight 0 overridden
    assert towers["geometry"].area == pytest.approx(72.0)


@pytest.mark.parametrize(
    ("lod", "expected_lod", "height", "rows"),
    [
        (None, 2, 9.1, 3),
        (1, 1, 8.0, 3),
        ("2.2", 2, 9.1, 1),
        (2.2, 2, 9.1, 1),
        (2, 2, 9.1, 1),
        ("1.2", 1, None, 1),
        (1.2, 1, None, 1),
    ],
)
def test_lod_choice(lod, expected_lod, height, rows):
    city = read_cityjson(V11, lod=lod)
    assert len(city) == rows
    if height is not None:
        house = row(city, "house")
        assert house["lod"] == expected_lod
        assert house["height"] == pytest.approx(height)
    else:
        assert city.buildings["source_id"].tolist() == ["towers"]


@pytest.mark.parametrize("bad", [0, "2.x", 7])
def test_invalid_lod(bad):
    with pytest.raises(ConfigError, match="lod="):
        read_cityjson(V11, lod=bad)


def test_cityjsonseq_features_parts_and_null_semantics():
    city = read_cityjson(SEQ)
    assert city.crs == "EPSG:25832"
    assert city.buildings["source_id"].tolist() == ["house", "house-annex", "shed"]
    assert row(city, "house-annex")["building"] == "cityjson/house"
    # Each feature has its own vertex list: both houses land at the same place.
    assert row(city, "shed")["geometry"].equals(row(city, "house")["geometry"])
    # The shed's walls and ground have null semantics: classified from their normals.
    assert row(city, "shed")["surface_types"] == "GWWWWRR"


def test_same_house_in_citygml_and_cityjson_agrees():
    gml = row(read_citygml(Path(__file__).parent / "fixtures/citygml/buildings_v2.gml"), "BLDG_A")
    cj = row(read_cityjson(V11), "house")
    assert gml["geometry"].symmetric_difference(cj["geometry"]).area < 1e-6
    a, b = shapely.from_wkb(gml["surfaces"]), shapely.from_wkb(cj["surfaces"])
    assert a.equals(b)


def test_jsonl_read_as_document_falls_back_to_sequence(tmp_path):
    path = tmp_path / "seq.json"  # a CityJSONSeq saved with a .json suffix
    path.write_text(SEQ.read_text())
    assert len(read_cityjson(path)) == 3


def test_cityjson_1_0_without_transform_and_crs_override(tmp_path):
    doc = json.loads(V11.read_text())
    s, t = doc.pop("transform")["scale"], doc["vertices"]
    x0, y0, z0 = 459_100.0, 5_481_100.0, 95.0
    doc["vertices"] = [[x0 + v[0] * s[0], y0 + v[1] * s[1], z0 + v[2] * s[2]] for v in t]
    doc["version"] = "1.0"
    doc["metadata"] = {"referenceSystem": "urn:ogc:def:crs:EPSG::25832"}
    path = tmp_path / "v10.json"
    path.write_text(json.dumps(doc))
    own = read_cityjson(path)
    city = read_cityjson(path, crs="EPSG:25833")
    assert (own.crs, city.crs) == ("EPSG:25832", "EPSG:25833")
    expected = pyproj.Transformer.from_crs(25832, 25833, always_xy=True).transform(
        *row(own, "house")["geometry"].centroid.coords[0]
    )
    got = row(city, "house")["geometry"].centroid.coords[0]
    np.testing.assert_allclose(got, expected, atol=0.01)
    assert city.context.crs == city.buildings.crs
    with pytest.raises(GeodataError, match="needs a projected CRS in metres"):
        read_cityjson(path, crs="EPSG:4326")


def test_file_without_crs_needs_the_crs_option(tmp_path):
    doc = json.loads(V11.read_text())
    del doc["metadata"]
    path = tmp_path / "nocrs.city.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(GeodataError, match=r"nocrs\.city\.json: the file names no CRS.*--crs"):
        read_cityjson(path)
    city = read_cityjson(path, crs="EPSG:25832")
    assert city.crs == "EPSG:25832"
    assert row(city, "house")["geometry"].bounds[0] == pytest.approx(459_100.0)


# -- errors ----------------------------------------------------------------------------------


def test_invalid_jsonl_line(tmp_path):
    lines = SEQ.read_text().splitlines()
    lines[2] = lines[2][:40]  # the shed feature, cut
    path = tmp_path / "broken.city.jsonl"
    path.write_text("\n".join(lines))
    with pytest.raises(GeodataError, match=r"broken\.city\.jsonl: line 3, column \d+: invalid"):
        read_cityjson(path)


def _unknown_crs() -> str:
    doc = json.loads(V11.read_text())
    doc["metadata"]["referenceSystem"] = "https://www.opengis.net/def/crs/EPSG/0/999999"
    return json.dumps(doc)


BAD_INPUT = {
    "invalid json": (
        "broken.city.json",
        '{\n  "type": "CityJSON",\n  "version": "2.0",\n  "CityObjects": {,}\n}',
        r"broken\.city\.json: line 4, column 19: invalid JSON .*expected a CityJSON object",
    ),
    "unknown crs": ("crs.city.json", _unknown_crs(), r"crs\.city\.json.*unknown CRS .*999999"),
    "gml": (
        "buildings_v2.gml",
        (Path(__file__).parent / "fixtures/citygml/buildings_v2.gml").read_text(),
        r"buildings_v2\.gml: line 1, column 1: invalid JSON",
    ),
    "geojson": (
        "roads.json",
        '{"type": "FeatureCollection", "features": []}',
        r"roads\.json: type is 'FeatureCollection', expected a 'CityJSON' object",
    ),
    "no header": (
        "features.jsonl",
        SEQ.read_text().split("\n", 1)[1],
        r"features\.jsonl: line 1: .*'CityJSON' header",
    ),
    "empty": ("empty.city.json", "", r"empty\.city\.json: the file is empty \(expected a CityJSON"),
    "missing": ("missing.city.json", None, r"missing\.city\.json: no such file"),
    "no buildings": (
        "none.city.json",
        '{"type": "CityJSON", "version": "2.0", "CityObjects": {}, "vertices": [], '
        '"metadata": {"referenceSystem": "EPSG:25832"}}',
        r"none\.city\.json: no building with usable LoD1-4 geometry",
    ),
}


test_bad_input_is_named = bad_input_test(read_cityjson, BAD_INPUT)


def test_bad_vertex_index_names_the_object(tmp_path):
    doc = json.loads(V11.read_text())
    doc["CityObjects"]["towers"]["geometry"][0]["boundaries"][0][0][0][0][0] = 10_000
    path = tmp_path / "index.city.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(GeodataError, match=r"index\.city\.json: city object 'towers'.*10000"):
        read_cityjson(path)


def test_degenerate_polygons_and_invalid_footprints_are_counted(tmp_path, caplog):
    box_v, box_b = _box(0, 0, 10, 10, 0, 9, 0)
    # A second building: one self-intersecting ground polygon (a bow tie) and a roof.
    tie = [(20, 0, 0), (30, 10, 0), (30, 0, 0), (20, 10, 0)]
    roof = [(20, 0, 5), (30, 0, 5), (30, 10, 5), (20, 10, 5)]
    box_b[0].append([[0, 1]])  # a "polygon" of two vertices in the box's shell
    objects = {
        "box": {"type": "Building", "geometry": [_solid(box_b)]},
        "tie": {
            "type": "Building",
            "geometry": [
                {
                    "type": "MultiSurface",
                    "lod": "2",
                    "boundaries": [[[8, 9, 10, 11]], [[12, 13, 14, 15]]],
                    "semantics": {
                        "surfaces": [{"type": "GroundSurface"}, {"type": "RoofSurface"}],
                        "values": [0, 1],
                    },
                }
            ],
        },
    }
    path = _write(tmp_path / "odd.city.json", objects, [*box_v, *tie, *roof])
    with caplog.at_level(logging.INFO, logger="twin.geodata"):
        city = read_cityjson(path)
    assert "odd.city.json: dropped 1 degenerate polygons" in caplog.text
    assert "odd.city.json: 1 footprint polygons were invalid" in caplog.text
    b = city.buildings.set_index("source_id")
    assert b.loc["box", "geometry"].area == pytest.approx(100.0)
    assert b.loc["tie", "geometry"].is_valid
    assert b.loc["tie", "geometry"].area == pytest.approx(50.0)  # two triangles of the tie


# -- real data -------------------------------------------------------------------------------


def _surface_counts(city: City) -> set[tuple[int, int, int]]:
    return {(t.count("G"), t.count("W"), t.count("R")) for t in city.buildings["surface_types"]}


@pytest.mark.realdata
def test_citygml4j_three_encodings_agree():
    gml = read_citygml(realdata_path("citygml/citygml4j_lod2_buildings_v3.gml"))
    cj = read_cityjson(realdata_path("cityjson/citygml4j_lod2_buildings_v2.city.json"))
    # The CityJSONSeq header names no CRS; the other two say EPSG:3068.
    seq = read_cityjson(
        realdata_path("cityjson/citygml4j_lod2_buildings.city.jsonl"), crs="EPSG:3068"
    )
    cities = {"citygml": gml, "cityjson": cj, "cityjsonseq": seq}
    for name, city in cities.items():
        assert city.n_buildings == 100, name
        assert city.crs == "EPSG:3068", name
        assert _surface_counts(city) == {(1, 4, 2)}, name  # 1 ground, 4 walls, 2 roofs
        assert (city.buildings["lod"] == 2).all(), name
    # Id mapping: "citygml/<gml:id>" ↔ "cityjson/<key>"; the source ids are identical.
    frames = {n: c.buildings.set_index("source_id").sort_index() for n, c in cities.items()}
    ref = frames["citygml"]
    for name in ("cityjson", "cityjsonseq"):
        other = frames[name]
        assert other.index.equals(ref.index), name
        np.testing.assert_allclose(other.geometry.area, ref.geometry.area, atol=0.01)
        np.testing.assert_allclose(other["height"], ref["height"], atol=0.01)
        np.testing.assert_allclose(other["ground_z"], ref["ground_z"], atol=0.01)
        assert (other.geometry.symmetric_difference(ref.geometry).area < 0.01).all()
        assert other["roof_shape"].equals(ref["roof_shape"])
        assert other["levels"].equals(ref["levels"])
        assert other["name"].equals(ref["name"])


@pytest.mark.realdata
def test_delft_buildings_only(caplog):
    path = realdata_path("cityjson/delft.city.json")
    # Expected counts established independently of the importer, from the JSON itself.
    types = collections.Counter(
        o["type"] for o in json.loads(path.read_text())["CityObjects"].values()
    )
    assert types["Building"] == 160
    with caplog.at_level(logging.INFO):
        city = read_cityjson(path)
    assert city.n_buildings == 160 and len(city) == 160 and city.n_parts == 0
    assert city.crs == "EPSG:28992"  # EPSG:7415 = RD New + NAP height
    skipped = ", ".join(f"{n} {k}" for k, n in sorted(types.items()) if k != "Building")
    assert f"skipped non-building objects: {skipped}" in caplog.text
    b = city.buildings
    assert (b["lod"] == 1).all()
    assert b["height"].between(0.5, 30).all()
    assert b.geometry.is_valid.all() and (b.geometry.area > 1).all()
    # Buildings lie inside the file's geographical extent.
    minx, miny, maxx, maxy = b.total_bounds
    assert minx >= 84_616 and maxx <= 85_141 and miny >= 447_422 and maxy <= 447_751
    # The other objects are kept as context layers.
    assert city.context is not None
    assert set(city.context["layer"]) == {
        k.lower() for k in types if k not in ("Building", "TINRelief")
    }


def test_reads_what_the_cityjson_2_exporter_writes(tmp_path):
    from twin.mesh.cityjson_writer import write_cityjson

    source = read_citygml(Path(__file__).parent / "fixtures/citygml/buildings_v2.gml")
    path = tmp_path / "export.city.json"
    write_cityjson(source, path)
    back = read_cityjson(path)
    assert back.crs == source.crs
    a = source.buildings.set_index("id").sort_index()
    b = back.buildings.set_index("source_id").sort_index()  # the exporter keeps twin's ids
    assert b.index.tolist() == a.index.tolist()
    np.testing.assert_allclose(b["height"], a["height"], atol=0.01)
    np.testing.assert_allclose(b.geometry.area, a.geometry.area, atol=0.01)
    assert b.loc["citygml/BLDG_A", "surface_types"] == "GWWWWRR"
    assert b.loc["citygml/BLDG_A_PART_1", "is_part"]


def test_height_source_survives_the_cityjson_round_trip(tmp_path):
    # twin's exporter writes every height as measuredHeight plus a heightSource attribute;
    # reading it back keeps "levels" / "default" instead of calling them all "measured".
    from twin.geodata.demo import generate_city
    from twin.mesh.cityjson_writer import write_cityjson

    source = generate_city(buildings=60, seed=2)
    source.buildings.loc[::3, "height_source"] = "default"
    path = tmp_path / "demo.city.json"
    write_cityjson(source, path)
    back = read_cityjson(path).buildings.set_index("source_id").sort_index()
    a = source.buildings.set_index("id").sort_index()
    assert set(a["height_source"]) == {"default", "levels"}
    assert back["height_source"].to_dict() == a["height_source"].to_dict()


def test_heightsource_attribute_is_kept_only_when_valid_and_consistent(tmp_path):
    v, b = _box(0, 0, 10, 10, 0, 9, 0)
    objects = {
        key: {
            "type": "Building",
            "attributes": {"measuredHeight": height, "heightSource": source},
            "geometry": [_solid(b)],
        }
        for key, height, source in [
            ("ok", 9.0, "levels"),
            ("unknown", 9.0, "guessed"),  # not a height source: plain "measured"
            ("wrong", 40.0, "levels"),  # disagrees with the geometry: "geometry" wins
        ]
    }
    path = _write(tmp_path / "hs.city.json", objects, v)
    b = read_cityjson(path).buildings.set_index("source_id")
    assert b["height_source"].to_dict() == {
        "ok": "levels",
        "unknown": "measured",
        "wrong": "geometry",
    }


def _write(path, objects, vertices, *, translate=(0, 0, 0), epsg=25832):
    """Write a CityJSON 2.0 file of ``objects`` (scale 1, ``translate``) and return its path."""
    doc = {
        "type": "CityJSON",
        "version": "2.0",
        "transform": {"scale": [1, 1, 1], "translate": list(translate)},
        "metadata": {"referenceSystem": f"https://www.opengis.net/def/crs/EPSG/0/{epsg}"},
        "CityObjects": objects,
        "vertices": vertices,
    }
    path.write_text(json.dumps(doc))
    return path


def _solid(boundaries, lod="1"):
    return {"type": "Solid", "lod": lod, "boundaries": boundaries}


def _box(x0, y0, x1, y1, z0, z1, base):
    """Vertices and Solid boundaries (outward rings) of a box; indices start at ``base``."""
    v = [(x, y, z) for z in (z0, z1) for y in (y0, y1) for x in (x0, x1)]
    faces = [[0, 2, 3, 1], [4, 5, 7, 6], [0, 1, 5, 4], [3, 2, 6, 7], [2, 0, 4, 6], [1, 3, 7, 5]]
    return v, [[[[base + i for i in f]] for f in faces]]


def test_stacked_part_gets_min_height_above_the_building_ground(tmp_path):
    base_v, base_b = _box(0, 0, 10, 10, 100, 105, 0)
    tower_v, tower_b = _box(2, 2, 6, 6, 105, 120, 8)
    objects = {
        "church": {"type": "Building", "children": ["base", "tower"]},
        "base": {"type": "BuildingPart", "parents": ["church"], "geometry": [_solid(base_b)]},
        "tower": {"type": "BuildingPart", "parents": ["church"], "geometry": [_solid(tower_b)]},
    }
    path = _write(
        tmp_path / "church.city.json", objects, base_v + tower_v, translate=(459_000, 5_481_000, 0)
    )
    city = read_cityjson(path)
    assert city.n_buildings == 1 and city.n_parts == 2  # the parent has no geometry: no row
    tower = row(city, "tower")
    assert tower["building"] == "cityjson/church"
    assert tower["ground_z"] == pytest.approx(100.0)
    assert tower["min_height"] == pytest.approx(5.0)
    assert tower["height"] == pytest.approx(20.0)
    base = row(city, "base")
    assert (base["ground_z"], base["min_height"], base["height"]) == (100.0, 0.0, 5.0)
    assert tower["surfaces"] is None  # both are simple prisms


def test_solid_interior_shells_are_voids_and_ignored(tmp_path):
    outer_v, outer_b = _box(0, 0, 10, 10, 0, 10, 0)
    inner_v, inner_b = _box(4, 4, 6, 6, 4, 6, 8)
    objects = {"vault": {"type": "Building", "geometry": [_solid([outer_b[0], inner_b[0]], "2")]}}
    shift = (459_000, 5_481_000, 100)
    path = _write(tmp_path / "vault.city.json", objects, outer_v + inner_v, translate=shift)
    vault = row(read_cityjson(path), "vault")
    assert len(vault["surface_types"]) == 6
    assert vault["geometry"].area == pytest.approx(100.0)


@pytest.mark.parametrize("name", ["image.city.json", "image.city.jsonl"])
def test_binary_file_is_a_clear_error(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)))
    with pytest.raises(GeodataError, match=re.escape(name) + ": .*not UTF-8 text"):
        read_cityjson(path)


@pytest.mark.parametrize(("source", "count"), [(V11, "4/4 [00:"), (SEQ, " features")])
def test_progress_bar(capsys, source, count):
    plain = read_cityjson(source)
    shown = read_cityjson(source, progress=True)
    assert shown.buildings.drop(columns="geometry").equals(plain.buildings.drop(columns="geometry"))
    err = capsys.readouterr().err
    assert f"{source.name}: " in err and count in err


@pytest.mark.parametrize("source", [V11, SEQ])
def test_utf8_byte_order_mark_is_accepted(tmp_path, source):
    path = tmp_path / source.name
    path.write_bytes(b"\xef\xbb\xbf" + source.read_bytes())
    assert len(read_cityjson(path)) == len(read_cityjson(source))


def test_3dbag_style_parent_with_lod0_and_parts(tmp_path, caplog):
    # 3DBAG: the Building holds only a LoD0 footprint, its BuildingPart the 3D geometry.
    part_v, part_b = _box(0, 0, 10, 8, 0, 6, 0)
    objects = {
        "NL.IMBAG.Pand.1": {
            "type": "Building",
            "attributes": {"oorspronkelijkbouwjaar": 1930},
            "children": ["NL.IMBAG.Pand.1-0"],
            "geometry": [{"type": "MultiSurface", "lod": "0", "boundaries": [[[0, 2, 3, 1]]]}],
        },
        "NL.IMBAG.Pand.1-0": {
            "type": "BuildingPart",
            "parents": ["NL.IMBAG.Pand.1"],
            "geometry": [_solid(part_b, "1.2"), _solid(part_b, "2.2")],
        },
    }
    path = _write(
        tmp_path / "bag.city.json", objects, part_v, translate=(85_000, 447_500, 0), epsg=7415
    )
    with caplog.at_level(logging.WARNING):
        city = read_cityjson(path)
    assert "without usable geometry" not in caplog.text
    assert city.crs == "EPSG:28992" and city.n_buildings == 1 and len(city) == 1
    part = city.buildings.iloc[0]
    assert part["building"] == "cityjson/NL.IMBAG.Pand.1" and part["lod"] == 2
