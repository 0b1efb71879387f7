import logging
import re
from pathlib import Path

import numpy as np
import pytest
import shapely
from lxml import etree

from tests.conftest import realdata_path
from tests.geodata.util import bad_input_test, row
from twin.errors import ConfigError, GeodataError
from twin.geodata.city import City
from twin.geodata.citygml import read_citygml

FIXTURES = Path(__file__).parent / "fixtures" / "citygml"
V2 = FIXTURES / "buildings_v2.gml"
V3 = FIXTURES / "building_v3.gml"


# -- hand-written fixtures ------------------------------------------------------------------


def test_v2_buildings_parts_and_attributes(caplog):
    with caplog.at_level(logging.INFO):
        city = read_citygml(V2)
    b = city.buildings
    assert city.crs == "EPSG:25832"  # compound EPSG:25832 + 7837 → horizontal part
    assert city.n_buildings == 3 and city.n_parts == 1 and len(city) == 4
    assert set(b["format"]) == {"citygml"}
    assert "skipped non-building objects: 1 Road" in caplog.text

    house = row(city, "BLDG_A")
    assert house["id"] == "citygml/BLDG_A" and not house["is_part"]
    assert house["name"] == "Haus am Rhein"
    assert house["building_type"] == "Wohnhaus"
    assert house["roof_shape"] == "gabled"  # AdV roofType 3100
    assert house["levels"] == 2
    assert house["address"] == "Berliner Straße 30, 67059 Ludwigshafen am Rhein"
    assert house["lod"] == 2  # highest LoD by default
    assert house["height"] == pytest.approx(9.0) and house["height_source"] == "geometry"
    assert house["ground_z"] == pytest.approx(95.0)
    assert house["geometry"].area == pytest.approx(80.0)

    part = row(city, "BLDG_A_PART_1")
    assert part["is_part"] and part["building"] == "citygml/BLDG_A"
    assert part["lod"] == 1 and part["surfaces"] is None  # a box: footprint + height suffice
    assert part["height"] == pytest.approx(3.0) and part["levels"] == 1
    assert part["geometry"].area == pytest.approx(32.0)  # rings written as gml:pos
    assert part["address"] == house["address"]  # inherited from the building
    assert part["roof_shape"] is None  # a roof shape is not inherited


def test_xlink_solid_does_not_duplicate_the_thematic_surfaces():
    house = row(read_citygml(V2), "BLDG_A")
    # 7 thematic surfaces; the lod2Solid references the same 7 polygons by xlink:href.
    assert house["surface_types"] == "GWWWWRR"
    multi = shapely.from_wkb(house["surfaces"])
    assert multi.has_z and len(multi.geoms) == 7
    xyz = shapely.get_coordinates(multi, include_z=True)
    assert xyz[:, 0].min() == pytest.approx(459_100.0)  # absolute coordinates
    assert xyz[:, 2].max() == pytest.approx(104.0)


def test_xlink_only_solid_resolves_references(tmp_path):
    # Without thematic surfaces the lod2Solid (all xlink:href) is the only geometry.
    text = V2.read_text()
    text = re.sub(r"<bldg:lod1Solid>.*?</bldg:lod1Solid>", "", text, count=1, flags=re.S)
    text = text.replace("bldg:lod2MultiSurface", "bldg:lod9Unknown")
    path = tmp_path / "xlink.gml"
    path.write_text(text)
    house = row(read_citygml(path), "BLDG_A")
    assert house["lod"] == 2
    assert house["height"] == pytest.approx(9.0)
    assert house["geometry"].area == pytest.approx(80.0)
    assert sorted(house["surface_types"]) == sorted("GWWWWRR")  # classified from normals


def test_lod_choice():
    city = read_citygml(V2, lod=1)
    house = row(city, "BLDG_A")
    assert house["lod"] == 1 and house["surfaces"] is None
    assert house["height"] == pytest.approx(8.0)  # the LoD1 block, not the LoD2 ridge
    assert len(city) == 4


def test_lod_without_matching_geometry_skips_buildings(caplog):
    with caplog.at_level(logging.WARNING):
        city = read_citygml(V2, lod=2)
    assert city.buildings["source_id"].tolist() == ["BLDG_A"]
    assert "skipped 3 buildings/parts without usable geometry at LoD 2" in caplog.text


@pytest.mark.parametrize("bad", [0, 5, "x"])
def test_invalid_lod_option(bad):
    with pytest.raises(ConfigError, match="lod="):
        read_citygml(V2, lod=bad)


def test_measured_height_agreeing_or_absurd():
    city = read_citygml(V2)
    b_row = row(city, "BLDG_B")
    assert b_row["height_source"] == "measured" and b_row["height"] == pytest.approx(12.3)
    assert b_row["building_type"] == "Bürogebäude"
    c_row = row(city, "BLDG_C")  # measuredHeight 0: the solid (7.5 m) wins
    assert c_row["height_source"] == "geometry" and c_row["height"] == pytest.approx(7.5)


def test_v3_boundary_surfaces_parts_address_height():
    city = read_citygml(V3)
    assert city.crs == "EPSG:25832"  # srsName on the gml:Solid
    house = row(city, "BLDG_A3")
    assert house["lod"] == 2 and house["surface_types"] == "GWWWWRR"
    assert house["height"] == pytest.approx(9.0) and house["height_source"] == "measured"
    assert house["address"] == "Berliner Straße 30, 67059 Ludwigshafen am Rhein"
    assert house["building_type"] == "1000" and house["roof_shape"] == "gabled"
    part = row(city, "BLDG_A3_PART_1")
    assert part["is_part"] and part["building"] == "citygml/BLDG_A3"
    assert read_citygml(V3, lod=1).buildings["lod"].tolist() == [1, 1]


def test_v2_and_v3_of_the_same_house_agree():
    a = row(read_citygml(V2), "BLDG_A")
    b = row(read_citygml(V3), "BLDG_A3")
    assert a["geometry"].symmetric_difference(b["geometry"]).area < 1e-6
    assert a["height"] == pytest.approx(b["height"])
    assert shapely.from_wkb(a["surfaces"]).equals(shapely.from_wkb(b["surfaces"]))


def test_reprojects_geographic_lat_lon_to_utm(tmp_path):
    # EPSG:4326 in GML is latitude first; the City lands in ETRS89 / UTM 32N.
    text = V2.read_text().replace(
        'srsName="urn:ogc:def:crs,crs:EPSG::25832,crs:EPSG::7837"',
        'srsName="urn:ogc:def:crs:EPSG::4326"',
    )

    def to_degrees(m):
        x, y, z = (float(v) for v in m.group(0).split())
        lat = 49.48 + (y - 5_481_100.0) * 1e-5
        lon = 8.44 + (x - 459_100.0) * 1e-5
        return f"{lat:.8f} {lon:.8f} {z}"

    text = re.sub(r"459\d\d\d\.\d\d 5481\d\d\d\.\d\d \d+\.\d\d", to_degrees, text)
    path = tmp_path / "wgs84.gml"
    path.write_text(text)
    city = read_citygml(path)
    assert city.crs == "EPSG:25832"
    minx, miny, _, _ = city.buildings.total_bounds
    assert 455_000 < minx < 462_000 and 5_478_000 < miny < 5_484_000
    assert row(city, "BLDG_A")["height"] == pytest.approx(9.0)
    road = city.context.geometry.iloc[0]  # the context is reprojected too
    assert 455_000 < road.bounds[0] < 462_000
    # 1e-5 degrees are not a metre, but road and house scale alike (300 m² vs 80 m²).
    house = row(city, "BLDG_A")["geometry"]
    assert road.area / house.area == pytest.approx(300 / 80, rel=1e-3)


def test_context_object_outside_the_crs_is_dropped(tmp_path, caplog):
    # The buildings in degrees, the road left in metres: it cannot be reprojected.
    text = V2.read_text().replace(
        'srsName="urn:ogc:def:crs,crs:EPSG::25832,crs:EPSG::7837"',
        'srsName="urn:ogc:def:crs:EPSG::4326"',
    )

    def to_degrees(m):
        x, y, z = (float(v) for v in m.group(0).split())
        return f"{49.48 + (y - 5_481_100.0) * 1e-5:.8f} {8.44 + (x - 459_100.0) * 1e-5:.8f} {z}"

    text = re.sub(r"459\d\d\d\.\d\d 54811\d\d\.\d\d \d+\.\d\d", to_degrees, text)
    path = tmp_path / "mixed.gml"
    path.write_text(text)
    with caplog.at_level(logging.WARNING):
        city = read_citygml(path)
    assert city.n_buildings == 3
    assert city.context is None or len(city.context) == 0
    assert "dropped 1 context objects" in caplog.text


def test_progress_bar_gives_the_same_city(capsys):
    plain = read_citygml(V2)
    shown = read_citygml(V2, progress=True)
    assert shown.buildings.drop(columns="geometry").equals(plain.buildings.drop(columns="geometry"))
    assert "buildings_v2.gml" in capsys.readouterr().err


def test_crs_override_reprojects(tmp_path):
    city = read_citygml(V2, crs="EPSG:4647")  # ETRS89 / UTM 32N with zone prefix
    assert city.crs == "EPSG:4647"
    assert city.buildings.total_bounds[0] == pytest.approx(32_459_100.0, abs=1.0)


# -- errors ----------------------------------------------------------------------------------


def test_truncated_xml_names_line_and_column(tmp_path):
    text = V2.read_text()
    cut = text[: len(text) // 2]
    path = tmp_path / "truncated.gml"
    path.write_text(cut)
    last_line = cut.count("\n") + 1
    with pytest.raises(GeodataError, match=rf"truncated\.gml: line {last_line}, column \d+") as e:
        read_citygml(path)
    assert "truncated" in str(e.value) and isinstance(e.value.__cause__, etree.XMLSyntaxError)


BAD_INPUT = {
    "unknown crs": (
        "bad_crs.gml",
        V2.read_text().replace("crs:EPSG::25832,crs:EPSG::7837", "crs:EPSG::999999"),
        r"bad_crs\.gml.*unknown CRS .*999999",
    ),
    "json": ("city.json", '{"type": "CityJSON"}', r"city\.json: line 1, column 1: not XML"),
    "osm": (
        "map.osm",
        '<?xml version="1.0"?>\n<osm version="0.6"><node id="1"/></osm>',
        r"map\.osm: line 2: the root element is <osm>, expected a CityGML <CityModel>",
    ),
    "empty": ("empty.gml", "", r"empty\.gml: the file is empty \(expected a CityGML"),
    "missing": ("missing.gml", None, r"missing\.gml: no such file \(expected a CityGML"),
    "no buildings": (
        "roads.gml",
        '<CityModel xmlns="http://www.opengis.net/citygml/2.0" '
        'xmlns:gml="http://www.opengis.net/gml"><cityObjectMember/></CityModel>',
        r"roads\.gml: no building with usable LoD1-4 geometry",
    ),
}


test_bad_input_is_named = bad_input_test(read_citygml, BAD_INPUT)


def test_non_numeric_coordinates_name_line_and_building(tmp_path):
    text = V2.read_text()
    path = tmp_path / "nan.gml"
    lines = text.splitlines()
    ground = next(i for i, line in enumerate(lines) if "GroundSurface" in line)
    # The first posList of the LoD2 ground surface (the LoD1 block is not read by default).
    idx = next(i for i, line in enumerate(lines) if "<gml:posList>" in line and i > ground)
    lines[idx] = lines[idx].replace("459100.00", "459100,00", 1)
    path.write_text("\n".join(lines))
    with pytest.raises(GeodataError, match=rf"nan\.gml: line {idx + 1}: building BLDG_A"):
        read_citygml(path)


# -- real data -------------------------------------------------------------------------------


@pytest.mark.realdata
def test_potsdam_lod1():
    path = realdata_path("citygml/Potsdam_LoD1.gml")
    city = read_citygml(path)
    b = city.buildings
    assert city.n_buildings == 97 and len(b) == 97
    assert city.crs == "EPSG:25833"  # from urn:ogc:def:crs,crs:EPSG:6.12:25833,crs:EPSG:6.12:5783
    assert (b["lod"] == 1).all() and b["surfaces"].isna().all()  # all simple prisms
    # Every measuredHeight is 0 or tens of kilometres: the geometry decides.
    assert (b["height_source"] == "geometry").all()
    assert b["height"].between(2, 25).all()
    assert b["ground_z"].between(30, 60).all()
    tall = b.loc[b["source_id"] == _gml_id_with_measured_height(path, "60470.0")].iloc[0]
    assert 3 < tall["height"] < 30
    assert tall["building_type"] == "Verwaltungsgebaeude"
    assert b["address"].str.endswith("Potsdam").all()
    assert b.geometry.is_valid.all() and (b.geometry.area > 1).all()
    assert b.geometry.area.median() == pytest.approx(193.2, abs=0.1)


def _gml_id_with_measured_height(path, value):
    """Find the building with this measuredHeight by plain XML parsing (independent check)."""
    ns = {
        "bldg": "http://www.opengis.net/citygml/building/1.0",
        "gml": "http://www.opengis.net/gml",
    }
    tree = etree.parse(str(path))
    for bldg in tree.iterfind(".//bldg:Building", ns):
        if bldg.findtext("bldg:measuredHeight", namespaces=ns) == value:
            return bldg.get("{http://www.opengis.net/gml}id")
    raise AssertionError(value)


@pytest.mark.realdata
def test_citygml4j_lod2_v3():
    city = read_citygml(realdata_path("citygml/citygml4j_lod2_buildings_v3.gml"))
    b = city.buildings
    assert city.n_buildings == 100 and city.crs == "EPSG:3068"
    assert (b["lod"] == 2).all()
    for codes, wkb in zip(b["surface_types"], b["surfaces"], strict=True):
        assert sorted(codes) == sorted("GWWWWRR")  # 1 ground, 4 walls, 2 roofs
        assert len(shapely.from_wkb(wkb).geoms) == 7
    assert b["levels"].notna().all() and (b["roof_shape"].notna()).all()
    assert np.allclose(b["height"], b["height"].round())  # whole metres in this data set


def test_streaming_frees_each_building(tmp_path, monkeypatch):
    # A file of many buildings: while one is read, the tree must not hold the earlier ones.
    text = V2.read_text()
    member = text[text.index('<core:cityObjectMember>\n    <bldg:Building gml:id="BLDG_B">') :]
    member = member[: member.index("</core:cityObjectMember>") + len("</core:cityObjectMember>")]
    head = text[: text.index("<core:cityObjectMember>")]
    copies = [member.replace('"BLDG_B"', f'"B{i}"') for i in range(300)]
    path = tmp_path / "many.gml"
    path.write_text(head + "\n".join(copies) + "\n</core:CityModel>\n")

    from twin.geodata import citygml

    held: list[int] = []
    original = citygml._Reader._building

    def spy(self, elem):
        held.append(len(elem.getroottree().getroot()))
        return original(self, elem)

    monkeypatch.setattr(citygml._Reader, "_building", spy)
    city = read_citygml(path)
    assert city.n_buildings == 300
    # The parser reads ahead by one buffer (a dozen members here); what it holds must stay
    # bounded by that, not grow with the file: without freeing it would reach 300.
    assert max(held) < 30
    assert max(held[-100:]) <= max(held[:100])


def test_gml_coordinates_and_pos(tmp_path):
    def to_coordinates(m):
        values = m.group(1).split()
        triples = [",".join(values[i : i + 3]) for i in range(0, len(values), 3)]
        return f"<gml:coordinates>{' '.join(triples)}</gml:coordinates>"

    text = re.sub(r"<gml:posList>([^<]*)</gml:posList>", to_coordinates, V2.read_text())
    path = tmp_path / "coordinates.gml"
    path.write_text(text)
    city = read_citygml(path)
    reference = read_citygml(V2)
    assert city.buildings["height"].tolist() == reference.buildings["height"].tolist()
    assert city.buildings.geometry.area.tolist() == reference.buildings.geometry.area.tolist()


def test_cli_import_turns_broken_citygml_into_exit_code_2(tmp_path, capsys):
    from twin.cli import main

    path = tmp_path / "broken.gml"
    path.write_text(V2.read_text()[:3000])
    code = main(["import", str(path), "--out", str(tmp_path / "city.parquet")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("twin: error: ") and "broken.gml: line" in err
    assert "Traceback" not in err and err.count("\n") == 1
    ok = main(["import", str(V2), "--out", str(tmp_path / "city.parquet")])
    assert ok == 0 and City.load(tmp_path / "city.parquet").n_buildings == 3


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda t: t.rsplit(" ", 1)[0], r"14 numbers in a posList, expected a multiple of"),
        (lambda t: t.replace("95.00", "nan", 1), r"holds NaN or infinity"),
    ],
)
def test_bad_poslist_contents(tmp_path, edit, message):
    lines = V2.read_text().splitlines()
    ground = next(i for i, line in enumerate(lines) if "GroundSurface" in line)
    idx = next(i for i, line in enumerate(lines) if "<gml:posList>" in line and i > ground)
    head, rest = lines[idx].split("<gml:posList>")
    text, tail = rest.split("</gml:posList>")
    lines[idx] = f"{head}<gml:posList>{edit(text)}</gml:posList>{tail}"
    path = tmp_path / "bad.gml"
    path.write_text("\n".join(lines))
    with pytest.raises(
        GeodataError, match=rf"bad\.gml: line {idx + 1}: building BLDG_A: .*{message}"
    ):
        read_citygml(path)


def test_reversed_orientable_surfaces_are_flipped(tmp_path):
    # The ground written with the opposite ring order inside OrientableSurface "-", and the
    # lod2Solid (used alone here) referencing a reversed roof through baseSurface xlinks.
    text = V2.read_text()
    text = re.sub(r"<bldg:lod1Solid>.*?</bldg:lod1Solid>", "", text, count=1, flags=re.S)
    start = text.index('<gml:Polygon gml:id="A_ground">')
    end = text.index("</gml:Polygon>", start) + len("</gml:Polygon>")
    ground = text[start:end]
    poslist = re.search(r"<gml:posList>([^<]*)</gml:posList>", ground).group(1).split()
    points = [" ".join(poslist[i : i + 3]) for i in range(0, len(poslist), 3)]
    flipped = ground.replace(" ".join(poslist), " ".join(reversed(points)))
    text = text.replace(
        ground,
        '<gml:OrientableSurface orientation="-"><gml:baseSurface>'
        f"{flipped}</gml:baseSurface></gml:OrientableSurface>",
    )
    reference = row(read_citygml(V2), "BLDG_A")
    path = tmp_path / "orientable.gml"
    path.write_text(text)
    house = row(read_citygml(path), "BLDG_A")
    assert house["surface_types"] == reference["surface_types"]
    assert shapely.from_wkb(house["surfaces"]).equals(shapely.from_wkb(reference["surfaces"]))

    # Only the solid (hrefs to the thematic polygons), one roof through a reversed wrapper:
    # that roof now faces down, so it is classified as other, not roof.
    solid = V2.read_text()
    solid = re.sub(r"<bldg:lod1Solid>.*?</bldg:lod1Solid>", "", solid, count=1, flags=re.S)
    solid = solid.replace("bldg:lod2MultiSurface", "bldg:lod9Unknown").replace(
        '<gml:surfaceMember xlink:href="#A_roof_s"/>',
        '<gml:surfaceMember><gml:OrientableSurface orientation="-">'
        '<gml:baseSurface xlink:href="#A_roof_s"/></gml:OrientableSurface></gml:surfaceMember>',
    )
    path.write_text(solid)
    house = row(read_citygml(path), "BLDG_A")
    assert sorted(house["surface_types"]) == sorted("GWWWWRO")


def test_repeated_gml_ids_get_unique_row_ids(tmp_path, caplog):
    path = tmp_path / "dup.gml"
    path.write_text(V2.read_text().replace('gml:id="BLDG_C"', 'gml:id="BLDG_B"'))
    with caplog.at_level(logging.WARNING):
        city = read_citygml(path)
    assert city.buildings["id"].is_unique
    assert {"citygml/BLDG_B", "citygml/BLDG_B#2"} <= set(city.buildings["id"])
    assert city.n_buildings == 3  # still three buildings
    assert "1 ids occur more than once" in caplog.text


def test_non_building_objects_become_context_layers():
    city = read_citygml(V2)
    ctx = city.context
    assert ctx is not None and ctx["layer"].tolist() == ["road"]
    assert ctx["name"].tolist() == ["Rheinuferstraße"]
    assert ctx.crs == city.buildings.crs
    assert ctx.geometry.iloc[0].area == pytest.approx(300.0)
    assert ctx.geometry.iloc[0].bounds[0] == pytest.approx(459_100.0)
