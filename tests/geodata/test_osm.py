"""The OSM importer on small hand-written files (tests/geodata/fixtures/osm) and broken input."""

from __future__ import annotations

import bz2
import gzip
import logging
import shutil
from pathlib import Path

import numpy as np
import osmium
import pyproj
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from tests.geodata.util import bad_input_test
from twin.errors import GeodataError
from twin.geodata.city import City
from twin.geodata.osm import ATTRIBUTION, read_osm

FIXTURES = Path(__file__).parent / "fixtures" / "osm"
LOG = "twin.geodata"


def area_of(lon: np.ndarray, lat: np.ndarray) -> float:
    """Shoelace area in m² (EPSG:25832) of a closed lon/lat ring, computed without twin."""
    x, y = pyproj.Transformer.from_crs(4326, 25832, always_xy=True).transform(lon, lat)
    x, y = x - x.mean(), y - y.mean()
    return abs(float(np.dot(x[:-1], y[1:]) - np.dot(x[1:], y[:-1]))) / 2


def ring_area(path: Path, node_ids: list[str] | int) -> float:
    """Area of a closed way (by id) or node list of a fixture."""
    tree = etree.parse(str(path))
    nodes = {n.get("id"): (float(n.get("lon")), float(n.get("lat"))) for n in tree.iter("node")}
    if isinstance(node_ids, int):
        way = tree.find(f".//way[@id='{node_ids}']")
        node_ids = [nd.get("ref") for nd in way.iter("nd")]
    lon, lat = np.array([nodes[i] for i in node_ids]).T
    return area_of(lon, lat)


def row(city: City, row_id: str):
    rows = city.buildings[city.buildings["id"] == row_id]
    assert len(rows) == 1, f"{row_id} not in {city.buildings['id'].tolist()}"
    return rows.iloc[0]


def test_multipolygon_with_hole():
    path = FIXTURES / "multipolygon_hole.osm"
    city = read_osm(path)
    assert isinstance(city, City)
    assert city.crs == "EPSG:25832"
    assert city.sources == [str(path)]
    assert city.attribution == [ATTRIBUTION]
    assert city.n_buildings == 1
    b = row(city, "osm/r1")
    assert b["source_id"] == "r1"
    assert b["format"] == "osm"
    assert b["lod"] == 1
    assert b["building"] == "osm/r1"
    assert not b["is_part"]
    assert b["geometry"].geom_type == "Polygon"
    assert len(b["geometry"].interiors) == 1
    # Outer ring (split over ways 10 and 11) minus the courtyard (way 12).
    outer_area = ring_area(path, ["1", "2", "3", "4", "1"])
    inner_area = ring_area(path, 12)
    assert b["geometry"].area == pytest.approx(outer_area - inner_area, rel=1e-9)
    assert b["height"] == 12.0
    assert b["height_source"] == "measured"
    assert b["name"] == "Hofhaus"
    assert b["address"] == "Bismarckstraße 10, 67059 Ludwigshafen am Rhein"
    assert b["building_type"] == "apartments"


def test_multipolygon_hole_mesh_roof_area():
    pytest.importorskip("pyvista")
    from twin.mesh import build_mesh

    path = FIXTURES / "multipolygon_hole.osm"
    city = read_osm(path)
    mesh = build_mesh(city, lod2=False)
    roof = mesh.extract_cells(np.flatnonzero(mesh.cell_data["surface"] == 2))
    expected = city.buildings.geometry.iloc[0].area
    assert roof.area == pytest.approx(expected, rel=1e-4)
    assert expected < shapely.Polygon(city.buildings.geometry.iloc[0].exterior).area


def test_multipolygon_two_outers():
    path = FIXTURES / "multipolygon_two_outers.osm"
    city = read_osm(path)
    assert len(city) == 1 and city.n_buildings == 1
    b = row(city, "osm/r2")
    assert b["geometry"].geom_type == "MultiPolygon"
    assert len(b["geometry"].geoms) == 2
    assert b["geometry"].area == pytest.approx(ring_area(path, 20) + ring_area(path, 21))
    assert b["height_source"] == "levels"
    assert b["levels"] == 3
    assert b["height"] == pytest.approx(4 * 3.0)  # 3 storeys + 1 roof storey


def test_building_parts_replace_outline(caplog):
    with caplog.at_level(logging.INFO, logger=LOG):
        city = read_osm(FIXTURES / "building_parts.osm")
    b = city.buildings
    assert "osm/w100" not in set(b["id"]), "the outline drawn by parts must not be a row"
    assert set(b["id"]) == {"osm/w101", "osm/w102", "osm/w103", "osm/w104", "osm/w105"}
    # church (by its 3 parts) + free-standing part + house
    assert city.n_buildings == 3
    assert city.n_parts == 4
    for part in ("osm/w101", "osm/w102", "osm/w103"):
        r = row(city, part)
        assert r["is_part"] and r["building"] == "osm/w100"
        assert r["name"] in ("Apostelkirche", "Turmsockel")
        assert r["address"] == "Kirchplatz 1"
    tower = row(city, "osm/w102")
    assert (tower["min_height"], tower["height"]) == (20.0, 40.0)
    assert tower["building_type"] == "tower"
    assert tower["roof_shape"] == "pyramidal"
    base = row(city, "osm/w103")
    assert (base["height"], base["height_source"], base["levels"]) == (15.0, "levels", 5.0)
    assert base["name"] == "Turmsockel"  # its own name wins over the outline's
    free = row(city, "osm/w104")
    assert free["is_part"] and free["building"] == "osm/w104"
    assert free["height"] == pytest.approx(30 * 0.3048)
    house = row(city, "osm/w105")
    assert not house["is_part"] and house["height_source"] == "default"
    assert house["height"] == pytest.approx(7.0)
    assert "1 building outline(s) are drawn by their 3 part(s)" in caplog.text
    # the City's summary counts the church once, with its tallest part
    info = city.info()
    assert info["buildings"] == 3 and info["height"]["max"] == 40.0


def test_part_without_height_takes_the_outline_height(tmp_path):
    text = (FIXTURES / "building_parts.osm").read_text()
    text = text.replace('<tag k="height" v="15 m"/>', "")
    path = tmp_path / "parts.osm"
    path.write_text(text)
    nave = row(read_osm(path), "osm/w101")
    assert (nave["height"], nave["height_source"]) == (40.0, "measured")


def test_broken_rings_repaired_or_dropped_with_warnings(caplog):
    with caplog.at_level(logging.WARNING, logger=LOG):
        city = read_osm(FIXTURES / "broken_rings.osm")
    assert set(city.buildings["id"]) == {"osm/w200", "osm/w205"}
    bowtie = row(city, "osm/w200")["geometry"]
    assert bowtie.is_valid and bowtie.geom_type == "MultiPolygon" and len(bowtie.geoms) == 2
    assert bowtie.area > 0
    messages = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    text = "\n".join(messages)
    assert "repaired 1 invalid footprint(s) with make_valid" in text and "osm/w200" in text
    assert "dropped 1 building way(s)/relation(s): fewer than 3 distinct nodes: osm/w201" in text
    assert "dropped 1 building way(s)/relation(s): not closed: osm/w202" in text
    assert "nodes missing from the file: osm/w203" in text
    assert "dropped 1 footprint(s) with no area left after make_valid: osm/w204" in text
    assert city.buildings.geometry.is_valid.all()


def test_ids_not_increasing_and_way_before_nodes():
    path = FIXTURES / "unsorted_ids.osm"
    city = read_osm(path)
    assert set(city.buildings["id"]) == {"osm/w500", "osm/w300", "osm/w200"}
    assert row(city, "osm/w500")["geometry"].area == pytest.approx(ring_area(path, 500))
    assert row(city, "osm/w300")["geometry"].area == pytest.approx(ring_area(path, 300))
    assert row(city, "osm/w200")["geometry"].area == pytest.approx(ring_area(path, 200))
    assert row(city, "osm/w500")["height"] == pytest.approx(3.0)  # default for a garage


@pytest.mark.parametrize("compression", ["gz", "bz2"])
def test_compressed_xml(tmp_path, compression):
    data = (FIXTURES / "multipolygon_hole.osm").read_bytes()
    path = tmp_path / f"hole.osm.{compression}"
    path.write_bytes(gzip.compress(data) if compression == "gz" else bz2.compress(data))
    city = read_osm(path)
    assert city.buildings["id"].tolist() == ["osm/r1"]
    assert city.label == "hole (OSM)"


def test_format_is_told_by_content_not_name(tmp_path):
    path = tmp_path / "download"  # openstreetmap.org's export has no suffix
    shutil.copy(FIXTURES / "multipolygon_two_outers.osm", path)
    assert read_osm(path).n_buildings == 1


def _pbf(xml: Path, pbf: Path) -> Path:
    """Write the OSM XML file ``xml`` as PBF with osmium's own writer."""
    with osmium.SimpleWriter(str(pbf)) as writer:
        for obj in osmium.FileProcessor(str(xml)):
            writer.add(obj)
    return pbf


def test_pbf_round_trip_through_osmium_writer(tmp_path):
    pbf = _pbf(FIXTURES / "building_parts.osm", tmp_path / "parts.osm.pbf")
    xml_city = read_osm(FIXTURES / "building_parts.osm")
    pbf_city = read_osm(pbf)
    assert pbf_city.buildings["id"].tolist() == xml_city.buildings["id"].tolist()
    np.testing.assert_allclose(pbf_city.buildings.area, xml_city.buildings.area, rtol=1e-9)


def test_crs_override():
    city = read_osm(FIXTURES / "multipolygon_hole.osm", crs="EPSG:3857")
    assert city.crs == "EPSG:3857"
    x, y = pyproj.Transformer.from_crs(4326, 3857, always_xy=True).transform(8.44, 49.48)
    minx, miny, _, _ = city.buildings.total_bounds
    assert (minx, miny) == pytest.approx((x, y), abs=1e-3)


def test_utm_zone_follows_the_data(tmp_path):
    # Move the fixture to Berlin (13.4 E): UTM zone 33.
    text = (FIXTURES / "multipolygon_hole.osm").read_text().replace('lon="8.44', 'lon="13.44')
    path = tmp_path / "berlin.osm"
    path.write_text(text)
    assert read_osm(path).crs == "EPSG:25833"


def test_progress_bar(capsys):
    read_osm(FIXTURES / "building_parts.osm", progress=True)
    assert "building_parts.osm" in capsys.readouterr().err


def test_save_and_load_round_trip(tmp_path):
    city = read_osm(FIXTURES / "building_parts.osm")
    loaded = City.load(city.save(tmp_path / "city.parquet"))
    assert loaded.buildings["building"].tolist() == city.buildings["building"].tolist()
    assert loaded.attribution == [ATTRIBUTION]
    assert loaded.crs == "EPSG:25832"


# --- bad input ---------------------------------------------------------------------------


_TWO_NODES = '<node id="1" lat="49.48" lon="8.44"/><node id="2" lat="49.49" lon="8.44"/>'
BAD_INPUT = {
    "missing": ("nope.osm", None, r"nope\.osm: no such file \(expected an OpenStreetMap"),
    "directory": ("", None, r": not a file"),
    "empty": ("empty.osm", b"", r"empty\.osm: empty file \(expected an OpenStreetMap"),
    "json": (
        "city.osm",
        '{"type": "FeatureCollection", "features": []}',
        r"city\.osm: not an OpenStreetMap file.*byte 0",
    ),
    "html": (
        "page.osm",
        "<html><body>Not found</body></html>",
        r"page\.osm: not valid OSM XML.*top-level element: html",
    ),
    "no buildings": (
        "road.osm",
        f'<osm version="0.6">{_TWO_NODES}<way id="1"><nd ref="1"/><nd ref="2"/>'
        '<tag k="highway" v="residential"/></way></osm>',
        r"road\.osm: no buildings found",
    ),
    "no footprint": (
        "bad.osm",
        f'<osm version="0.6">{_TWO_NODES}<way id="1"><nd ref="1"/><nd ref="2"/><nd ref="1"/>'
        '<tag k="building" v="yes"/></way></osm>',
        r"bad\.osm: none of the 1 buildings",
    ),
}


test_bad_input_is_named = bad_input_test(read_osm, BAD_INPUT)


def test_truncated_xml_names_the_line(tmp_path):
    lines = (FIXTURES / "building_parts.osm").read_text().splitlines()
    path = tmp_path / "cut.osm"
    path.write_text("\n".join(lines[:30]))
    with pytest.raises(GeodataError) as info:
        read_osm(path)
    message = str(info.value)
    assert "cut.osm: not valid OSM XML (broken, truncated or another format" in message
    assert "osmium says: XML parsing error at line 30" in message
    assert isinstance(info.value.__cause__, RuntimeError)


def test_truncated_gzip(tmp_path):
    data = gzip.compress((FIXTURES / "building_parts.osm").read_bytes())
    path = tmp_path / "cut.osm.gz"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(GeodataError, match=r"cut\.osm\.gz: not valid gzip-compressed OSM XML"):
        read_osm(path)


def test_truncated_pbf(tmp_path):
    data = _pbf(FIXTURES / "building_parts.osm", tmp_path / "full.osm.pbf").read_bytes()
    cut = tmp_path / "cut.osm.pbf"
    cut.write_bytes(data[: len(data) - 40])
    with pytest.raises(
        GeodataError, match=r"cut\.osm\.pbf: not valid OSM PBF .*osmium says: PBF error"
    ):
        read_osm(cut)


def test_incomplete_multipolygons_are_reported(tmp_path, caplog):
    # r1: a closed outer plus a dangling way and a member way missing from the file;
    # r2: only one open way, so no ring closes at all.
    path = tmp_path / "incomplete.osm"
    path.write_text(
        '<osm version="0.6">'
        '<node id="1" lat="49.4800" lon="8.4400"/><node id="2" lat="49.4800" lon="8.4402"/>'
        '<node id="3" lat="49.4802" lon="8.4402"/><node id="4" lat="49.4802" lon="8.4400"/>'
        '<node id="5" lat="49.4805" lon="8.4405"/><node id="6" lat="49.4806" lon="8.4406"/>'
        '<way id="10"><nd ref="1"/><nd ref="2"/><nd ref="3"/><nd ref="4"/><nd ref="1"/></way>'
        '<way id="11"><nd ref="5"/><nd ref="6"/></way>'
        '<relation id="1"><member type="way" ref="10" role="outer"/>'
        '<member type="way" ref="11" role="outer"/><member type="way" ref="99" role="inner"/>'
        '<tag k="type" v="multipolygon"/><tag k="building" v="yes"/></relation>'
        '<relation id="2"><member type="way" ref="11" role="outer"/>'
        '<tag k="type" v="multipolygon"/><tag k="building" v="yes"/></relation>'
        "</osm>"
    )
    with caplog.at_level(logging.WARNING, logger=LOG):
        city = read_osm(path)
    assert city.buildings["id"].tolist() == ["osm/r1"]
    assert row(city, "osm/r1")["geometry"].area == pytest.approx(
        ring_area(path, ["1", "2", "3", "4", "1"])
    )
    text = caplog.text
    assert "incomplete.osm: osm/r1: multipolygon assembled from the closed rings only" in text
    assert "1 member line(s) do not close a ring; 1 member way(s) missing from the file" in text
    assert "incomplete.osm: dropped 1 building way(s)/relation(s): multipolygon not assembled" in (
        text
    )
    assert "osm/r2" in text


def test_cli_import_turns_broken_osm_into_exit_code_2(tmp_path, capsys):
    from twin.cli import main

    bad = tmp_path / "bad.osm"
    bad.write_text('{"not": "osm"}')
    out = tmp_path / "city.parquet"
    assert main(["import", str(bad), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("twin: error: ") and "bad.osm" in err[0]
    assert "Traceback" not in err[0]
    assert not out.exists()
    assert main(["import", str(FIXTURES / "building_parts.osm"), "--out", str(out)]) == 0
    assert City.load(out).n_buildings == 3


def test_outline_tagged_as_part_too(tmp_path):
    # Way 1 is tagged building=yes and building:part=yes and holds part 2: it stays as a part
    # of itself, part 2 joins it, and the building counts once.
    path = tmp_path / "both.osm"
    path.write_text(
        '<osm version="0.6">'
        '<node id="1" lat="49.4800" lon="8.4400"/><node id="2" lat="49.4800" lon="8.4402"/>'
        '<node id="3" lat="49.4802" lon="8.4402"/><node id="4" lat="49.4802" lon="8.4400"/>'
        '<node id="5" lat="49.48005" lon="8.44005"/><node id="6" lat="49.48005" lon="8.44015"/>'
        '<node id="7" lat="49.48015" lon="8.44015"/>'
        '<way id="1"><nd ref="1"/><nd ref="2"/><nd ref="3"/><nd ref="4"/><nd ref="1"/>'
        '<tag k="building" v="yes"/><tag k="building:part" v="yes"/><tag k="height" v="6"/></way>'
        '<way id="2"><nd ref="5"/><nd ref="6"/><nd ref="7"/><nd ref="5"/>'
        '<tag k="building:part" v="yes"/><tag k="min_height" v="6"/><tag k="height" v="9"/></way>'
        "</osm>"
    )
    city = read_osm(path)
    b = city.buildings.set_index("id")
    assert set(b.index) == {"osm/w1", "osm/w2"}
    assert b["is_part"].all() and (b["building"] == "osm/w1").all()
    assert city.n_buildings == 1
    assert b.loc["osm/w2", "min_height"] == 6 and b.loc["osm/w2", "height"] == 9


@st.composite
def star_buildings(draw):
    """Star-shaped (hence simple) footprints near Ludwigshafen, as lon/lat rings."""
    n = draw(st.integers(min_value=1, max_value=6))
    rings = []
    for b in range(n):
        k = draw(st.integers(min_value=3, max_value=12))
        radii = draw(st.lists(st.floats(5, 30), min_size=k, max_size=k))
        angles = np.linspace(0, 2 * np.pi, k, endpoint=False)
        x = 459_000 + 100 * b + np.array(radii) * np.cos(angles)
        y = 5_481_000 + np.array(radii) * np.sin(angles)
        lon, lat = pyproj.Transformer.from_crs(25832, 4326, always_xy=True).transform(x, y)
        rings.append(np.column_stack([np.round(lon, 7), np.round(lat, 7)]))
    order = draw(st.permutations(range(n)))
    return rings, order


@settings(max_examples=15, deadline=None)
@given(star_buildings())
def test_random_footprints_keep_their_area(tmp_path_factory, data):
    rings, order = data
    path = tmp_path_factory.mktemp("prop") / "random.osm"
    nodes, ways, node_id = [], [], 1000
    for b in order:  # ways and their nodes in a random (not increasing) order
        refs = []
        for lon, lat in rings[b]:
            node_id -= 1
            nodes.append(f'<node id="{node_id}" lat="{lat:.7f}" lon="{lon:.7f}"/>')
            refs.append(node_id)
        nds = "".join(f'<nd ref="{r}"/>' for r in [*refs, refs[0]])
        ways.append(f'<way id="{b + 1}">{nds}<tag k="building" v="yes"/></way>')
    path.write_text(f'<osm version="0.6">{"".join(nodes)}{"".join(ways)}</osm>')
    city = read_osm(path, crs="EPSG:25832")
    assert city.n_buildings == len(rings)
    got = city.buildings.set_index("id").geometry.area
    for b, ring in enumerate(rings):
        closed = np.vstack([ring, ring[:1]])
        assert got[f"osm/w{b + 1}"] == pytest.approx(area_of(closed[:, 0], closed[:, 1]), rel=1e-9)


@pytest.mark.parametrize(
    ("crs", "message"),
    [("EPSG:4326", "needs a projected CRS in metres"), ("EPSG:999999", "unknown CRS")],
)
def test_bad_crs_override(crs, message):
    with pytest.raises(GeodataError, match=message):
        read_osm(FIXTURES / "multipolygon_hole.osm", crs=crs)


def test_duplicate_objects_are_kept_once(tmp_path, caplog):
    # Two extracts pasted together without merging repeat way 105.
    text = (FIXTURES / "building_parts.osm").read_text()
    house = text[text.index('  <way id="105">') : text.index("</osm>")]
    path = tmp_path / "twice.osm"
    path.write_text(text.replace("</osm>", house + "</osm>"))
    with caplog.at_level(logging.WARNING, logger=LOG):
        city = read_osm(path)
    assert city.buildings["id"].is_unique
    assert (city.buildings["id"] == "osm/w105").sum() == 1
    assert "twice.osm: 1 object(s) appear more than once, kept the first of each: osm/w105" in (
        caplog.text
    )
