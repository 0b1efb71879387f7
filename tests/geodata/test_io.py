"""Format detection and dispatch: read_city over every supported format, several files, errors."""

from __future__ import annotations

import bz2
import gzip
import logging
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely

from tests.conftest import realdata_path
from twin.errors import GeodataError
from twin.geodata.city import City
from twin.geodata.demo import generate_city
from twin.geodata.io import SUPPORTED, detect_format, read_city, reproject_city

FIXTURES = Path(__file__).parent / "fixtures" / "gis"
E, N = 459_100.0, 5_481_100.0

OSM_XML = """<?xml version="1.0" encoding="UTF-8"?>
<osm version="0.6" generator="hand">
  <node id="1" lat="49.4800" lon="8.4400"/>
  <node id="2" lat="49.4800" lon="8.4402"/>
  <node id="3" lat="49.4801" lon="8.4402"/>
  <node id="4" lat="49.4801" lon="8.4400"/>
  <way id="10"><nd ref="1"/><nd ref="2"/><nd ref="3"/><nd ref="4"/><nd ref="1"/>
    <tag k="building" v="yes"/><tag k="height" v="12 m"/></way>
</osm>
"""
CITYGML_HEAD = {
    "1.0": '<CityModel xmlns="http://www.opengis.net/citygml/1.0" '
    'xmlns:gml="http://www.opengis.net/gml">',
    "2.0": '<core:CityModel xmlns:core="http://www.opengis.net/citygml/2.0" '
    'xmlns:gml="http://www.opengis.net/gml">',
    "3.0": '<CityModel xmlns="http://www.opengis.net/citygml/3.0" '
    'xmlns:gml="http://www.opengis.net/gml/3.2">',
}


def _geojson(path: Path, n: int = 3, crs: str = "EPSG:25832", x0: float = E) -> Path:
    x = x0 + 30.0 * np.arange(n)
    gdf = gpd.GeoDataFrame(
        {"height": 10.0 + np.arange(n)},
        geometry=shapely.box(x, N, x + 12, N + 10),
        crs="EPSG:25832",
    ).to_crs(crs)
    gdf.to_file(path)
    return path


# ---------------------------------------------------------------- detection


def test_detects_osm_xml_plain_and_compressed(tmp_path):
    plain = tmp_path / "a.osm"
    plain.write_text(OSM_XML)
    gz = tmp_path / "a.osm.gz"
    gz.write_bytes(gzip.compress(OSM_XML.encode()))
    bz = tmp_path / "a.osm.bz2"
    bz.write_bytes(bz2.compress(OSM_XML.encode()))
    misnamed = tmp_path / "map.xml"
    misnamed.write_text(OSM_XML)
    for p in (plain, gz, bz, misnamed):
        assert detect_format(p) == "osm", p


def test_detects_pbf():
    assert detect_format(realdata_path("osm/heidelberg.test.pbf")) == "osm"


@pytest.mark.parametrize("version", sorted(CITYGML_HEAD))
def test_detects_citygml_versions(tmp_path, version):
    p = tmp_path / "model.gml"
    p.write_text(f'<?xml version="1.0" encoding="UTF-8"?>\n{CITYGML_HEAD[version]}\n</CityModel>')
    assert detect_format(p) == "citygml"


def test_detects_json_kinds(tmp_path):
    cj = tmp_path / "a.city.json"
    cj.write_text('{"type": "CityJSON", "version": "2.0", "CityObjects": {}, "vertices": []}')
    seq = tmp_path / "a.city.jsonl"
    seq.write_text(
        '{"type":"CityJSON","version":"2.0","transform":{}}\n{"type":"CityJSONFeature"}\n'
    )
    late = tmp_path / "late.json"  # the type member after a long object
    late.write_text(
        '{"CityObjects": {'
        + ", ".join(f'"b{i}": {{}}' for i in range(9000))
        + '}, "type": "CityJSON"}'
    )
    gj = _geojson(tmp_path / "b.json")
    assert [detect_format(p) for p in (cj, seq, late, gj)] == [
        "cityjson",
        "cityjson",
        "cityjson",
        "gis",
    ]


def test_detects_binary_gis_formats(tmp_path):
    gdf = gpd.GeoDataFrame(
        {"height": [5.0]}, geometry=[shapely.box(E, N, E + 9, N + 9)], crs="EPSG:25832"
    )
    gdf.to_file(tmp_path / "a.gpkg")
    gdf.to_file(tmp_path / "a.shp")
    gdf.to_parquet(tmp_path / "a.parquet")
    for name in ("a.gpkg", "a.shp", "a.parquet"):
        assert detect_format(tmp_path / name) == "gis"


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("image.gml", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "PNG image"),
        ("image.osm", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "PNG image"),
        ("empty.osm", b"", "empty"),
        (
            "plain.gml",
            b'<gml:FeatureCollection xmlns:gml="http://www.opengis.net/gml"/>',
            "not CityGML",
        ),
        ("page.xml", b"<html><body>hi</body></html>", "neither OSM nor CityGML"),
        ("notes.json", b"[1, 2, 3]", "a JSON list"),
        ("broken.json", b'{"type": CityJSON}', "invalid JSON at line 1, column 10"),
        (
            "cut.city.json",
            b'{"version": "2.0", "CityObjects": {"a": {"type": "Building"}, ' + b" " * 70_000,
            r"line 1, column 70063: Expecting .*; expected a GeoJSON or CityJSON document",
        ),
        ("text.osm", b"hello world", "unknown text format"),
        ("blob.pbf", b"\x00\x01\x02\x03" * 20, "unknown binary format"),
        ("data.geojson.gz", gzip.compress(b'{"type": "FeatureCollection"}'), "not OSM XML"),
        ("cut.osm.gz", gzip.compress(OSM_XML.encode())[:40], "broken compressed file"),
    ],
)
def test_unsupported_files_are_named(tmp_path, name, content, message):
    p = tmp_path / name
    p.write_bytes(content)
    with pytest.raises(GeodataError, match=message) as info:
        detect_format(p)
    text = str(info.value)
    assert text.startswith(str(p)) and "\n" not in text


def test_unknown_json_lists_supported_formats():
    with pytest.raises(GeodataError) as info:
        read_city([FIXTURES / "not_geodata.json"])
    assert "neither GeoJSON nor CityJSON" in str(info.value)
    assert SUPPORTED in str(info.value)


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(GeodataError, match="no such file"):
        read_city([tmp_path / "nope.osm"])
    with pytest.raises(GeodataError, match="not a file"):
        read_city([tmp_path])
    with pytest.raises(GeodataError, match="no input files"):
        read_city([])


# ---------------------------------------------------------------- dispatch and joining


def test_reads_osm_xml(tmp_path):
    p = tmp_path / "one.osm"
    p.write_text(OSM_XML)
    city = read_city([p])
    assert city.n_buildings == 1 and city.crs == "EPSG:25832"
    assert city.buildings["height"].iloc[0] == pytest.approx(12.0)
    assert set(city.buildings["format"]) == {"osm"}


def test_several_files_join_in_the_first_crs(tmp_path, caplog):
    a = _geojson(tmp_path / "a.geojson", 3)
    b = _geojson(tmp_path / "b.geojson", 2, crs="EPSG:4326", x0=E + 500)
    city = read_city([a, b])
    assert city.crs == "EPSG:25832" and len(city) == 5
    bounds = city.buildings.geometry.bounds
    np.testing.assert_allclose(
        sorted(bounds["minx"]), [E, E + 30, E + 60, E + 500, E + 530], atol=0.01
    )
    assert city.sources == [str(a), str(b)]
    # With --crs all land in that CRS.
    city = read_city([b, a], crs="EPSG:25833")
    assert city.crs == "EPSG:25833" and len(city) == 5
    np.testing.assert_allclose(city.buildings.geometry.area, 120.0, rtol=0.01)
    # The same file twice: rows kept once.
    with caplog.at_level(logging.WARNING, logger="twin.geodata.io"):
        twice = read_city([a, a])
    assert len(twice) == 3
    assert any("more than one file" in r.getMessage() for r in caplog.records)


def test_a_later_file_without_crs_is_not_placed_in_the_first_files_crs(tmp_path):
    # The citygml4j CityJSONSeq names no CRS (its coordinates are EPSG:3068). Joined to an
    # OSM file it must not silently land in the OSM file's UTM zone at E 0 / N 0.
    osm = realdata_path("osm/berlin-siegessaeule.osm.gz")
    seq = realdata_path("cityjson/citygml4j_lod2_buildings.city.jsonl")
    with pytest.raises(GeodataError, match=r"city\.jsonl: the file names no CRS.*--crs"):
        read_city([osm, seq])
    # With --crs the user states it, and it is used for the file without one.
    city = read_city([seq], crs="EPSG:3068")
    assert city.crs == "EPSG:3068" and city.n_buildings == 100


def test_second_file_with_its_own_crs_is_reprojected(tmp_path):
    osm = realdata_path("osm/berlin-siegessaeule.osm.gz")
    cj = realdata_path("cityjson/citygml4j_lod2_buildings_v2.city.json")
    alone = read_city([cj])  # EPSG:3068, footprints near (0, 0) .. (96, 98)
    city = read_city([osm, cj])
    assert city.crs == "EPSG:25833"
    joined = city.buildings[city.buildings["format"] == "cityjson"]
    expected = alone.buildings.to_crs("EPSG:25833").total_bounds
    np.testing.assert_allclose(joined.total_bounds, expected, atol=0.01)
    assert joined.total_bounds[0] > 300_000  # placed in Berlin's UTM zone, not near 0


def test_a_file_far_outside_the_target_crs_is_warned_about(caplog):
    osm = realdata_path("osm/berlin-siegessaeule.osm.gz")  # sets EPSG:25833 (UTM 33N)
    delft = realdata_path("cityjson/delft.city.json")  # the Netherlands, 4.4°E
    with caplog.at_level(logging.WARNING, logger="twin.geodata.io"):
        city = read_city([osm, delft])
    assert city.crs == "EPSG:25833"
    warned = [r.getMessage() for r in caplog.records if "area of use" in r.getMessage()]
    assert len(warned) == 1 and "delft.city.json" in warned[0] and "EPSG:25833" in warned[0]
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="twin.geodata.io"):
        read_city([osm, realdata_path("citygml/citygml4j_lod2_buildings_v3.gml")])  # Berlin
    assert "area of use" not in caplog.text
    # A file in its own CRS is never warned about (citygml4j's sample sits at the western
    # edge of EPSG:3068's area of use).
    read_city([realdata_path("citygml/citygml4j_lod2_buildings_v3.gml")])
    assert "area of use" not in caplog.text


def test_unknown_crs_is_refused(tmp_path):
    a = _geojson(tmp_path / "a.geojson")
    with pytest.raises(GeodataError, match="unknown CRS 'EPSG:999999'"):
        read_city([a], crs="EPSG:999999")


def test_twin_city_file_is_read_back(tmp_path):
    path = generate_city(buildings=40, seed=1).save(tmp_path / "demo.parquet")
    city = read_city([path])
    assert city.synthetic and city.n_buildings == 40


def test_osm_and_lod2_citygml_joined_with_surfaces_reprojected():
    osm = realdata_path("osm/berlin-siegessaeule.osm.gz")
    gml = realdata_path("citygml/citygml4j_lod2_buildings_v3.gml")
    city = read_city([osm, gml])
    assert city.crs == "EPSG:25833"  # Berlin's UTM zone, chosen for the first file
    assert set(city.buildings["format"]) == {"osm", "citygml"}
    lod2 = city.buildings[city.buildings["surfaces"].notna()]
    assert len(lod2) == 100
    # The LoD2 surfaces moved from EPSG:3068 with their footprints.
    surf = shapely.from_wkb(lod2["surfaces"].to_numpy())
    for s, fp in zip(surf[:10], lod2.geometry.to_numpy()[:10], strict=True):
        assert np.allclose(s.bounds, fp.bounds, atol=1.0)
    assert shapely.get_coordinates(surf[0], include_z=True)[:, 2].max() > 0


def test_lod_is_passed_to_citygml():
    gml = realdata_path("citygml/citygml4j_lod2_buildings_v3.gml")
    assert set(read_city([gml], lod=2).buildings["lod"]) == {2}
    # The file has no LoD1 geometry: asking for it reaches the CityGML reader, which says so.
    with pytest.raises(GeodataError, match=r"no building with geometry at LoD 1 .*without --lod"):
        read_city([gml], lod=1)


def test_reproject_city_keeps_metadata():
    city = generate_city(buildings=30, seed=4)
    import pyproj

    moved = reproject_city(city, pyproj.CRS.from_epsg(4647))
    assert moved.crs == "EPSG:4647" and moved.synthetic and moved.label == city.label
    assert moved.context.crs == moved.buildings.crs
    assert moved.origin != city.origin
    assert reproject_city(city, pyproj.CRS.from_epsg(25832)) is city
    assert isinstance(moved, City)
