"""The generic GIS importer: GeoJSON, GeoPackage, Shapefile and GeoParquet round trips."""

from __future__ import annotations

import logging
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely

from tests.geodata.util import bad_input_test, rejects
from twin.errors import GeodataError
from twin.geodata.city import City
from twin.geodata.demo import generate_city
from twin.geodata.gis import read_gis

FIXTURES = Path(__file__).parent / "fixtures" / "gis"
E, N = 459_100.0, 5_481_100.0


def _frame(n: int = 4, crs: str = "EPSG:25832", **columns) -> gpd.GeoDataFrame:
    x = E + 30.0 * np.arange(n)
    geoms = shapely.box(x, N, x + 12.0, N + 10.0)
    return gpd.GeoDataFrame(columns, geometry=geoms, crs=crs)


def _write(gdf: gpd.GeoDataFrame, path: Path) -> Path:
    if path.suffix == ".parquet":
        gdf.to_parquet(path)
    else:
        gdf.to_file(path)
    return path


@pytest.mark.parametrize("suffix", [".geojson", ".gpkg", ".shp", ".parquet"])
def test_round_trip(tmp_path, suffix):
    heights = [7.5, 12.0, 18.25, 30.0]
    src = _frame(height=heights, name=["A", "B", "C", None], levels=[2, 4, 6, 10])
    path = _write(src, tmp_path / f"bldg{suffix}")
    city = read_gis(path)
    b = city.buildings
    assert len(b) == 4 and city.crs == "EPSG:25832"
    np.testing.assert_allclose(b["height"], heights)
    assert set(b["height_source"]) == {"measured"}
    np.testing.assert_allclose(b["levels"], [2, 4, 6, 10])
    assert set(b["format"]) == {"gis"}
    assert b["id"].str.startswith("gis/bldg/").all() and b["id"].is_unique
    assert b["name"].tolist()[:3] == ["A", "B", "C"] and b["name"].iloc[3] is None
    np.testing.assert_allclose(b.geometry.area, 120.0)
    np.testing.assert_allclose(b.geometry.bounds["minx"].min(), E)
    assert city.sources == [str(path)]


def test_text_heights_with_units(tmp_path, caplog):
    src = _frame(
        5,
        height=["7.5 m", "14m", "30'", "hoch", None],
        **{"building:levels": [None, None, None, "4", None]},
        building=["house", "house", "house", "apartments", "garage"],
    )
    path = _write(src, tmp_path / "units.geojson")
    with caplog.at_level(logging.WARNING, logger="twin.geodata.gis"):
        b = read_gis(path).buildings
    np.testing.assert_allclose(b["height"], [7.5, 14.0, 9.144, 12.0, 3.0], atol=1e-3)
    assert b["height_source"].tolist() == ["measured", "measured", "measured", "levels", "default"]
    assert b["building_type"].tolist() == ["house", "house", "house", "apartments", "garage"]
    assert any(
        "could not be read as lengths" in r.getMessage() and "'hoch'" in r.getMessage()
        for r in caplog.records
    )


@pytest.mark.parametrize(
    ("column", "values", "expected", "source"),
    [
        ("HEIGHT", [10.0, 20.0], [10.0, 20.0], "measured"),
        ("hoehe", ["8,5", "11"], [8.5, 11.0], "measured"),
        ("building:height", ["6 m", "9 m"], [6.0, 9.0], "measured"),
        ("measuredHeight", [15.0, 16.5], [15.0, 16.5], "measured"),
        ("building:levels", ["3", "5"], [9.0, 15.0], "levels"),
        ("levels", [2, 7], [6.0, 21.0], "levels"),
        ("storeysAboveGround", [4, 1], [12.0, 3.0], "levels"),
    ],
)
def test_height_column_is_detected(tmp_path, column, values, expected, source):
    path = _write(_frame(2, **{column: values}), tmp_path / "detect.geojson")
    b = read_gis(path).buildings
    np.testing.assert_allclose(b["height"], expected)
    assert set(b["height_source"]) == {source}


def test_height_column_option(tmp_path, caplog):
    src = _frame(3, height=[1.0, 1.0, 1.0], traufe=["9.5 m", "12 m", "15"], geschosse=[2, 3, 4])
    path = _write(src, tmp_path / "opt.gpkg")
    b = read_gis(path, height_column="traufe").buildings
    np.testing.assert_allclose(b["height"], [9.5, 12.0, 15.0])
    # A storeys column chosen by name is read as storeys.
    b = read_gis(path, height_column="geschosse").buildings
    np.testing.assert_allclose(b["height"], [6.0, 9.0, 12.0])
    assert set(b["height_source"]) == {"levels"}
    with pytest.raises(GeodataError, match=r"no column 'roof_top'.*traufe"):
        read_gis(path, height_column="roof_top")


def test_no_height_column_uses_defaults(tmp_path):
    path = _write(_frame(2, building=["house", "industrial"]), tmp_path / "plain.geojson")
    b = read_gis(path).buildings
    assert set(b["height_source"]) == {"default"}
    assert (b["height"] > 0).all()


def test_bad_rings_repaired_or_dropped(caplog):
    with caplog.at_level(logging.WARNING, logger="twin.geodata.gis"):
        city = read_gis(FIXTURES / "bad_rings.geojson")
    b = city.buildings
    assert b["source_id"].tolist() == ["ok", "bowtie"]
    assert shapely.is_valid(b.geometry.values).all()
    # The bow tie became two triangles of half the box's area each.
    bowtie = b.geometry.iloc[1]
    assert bowtie.geom_type == "MultiPolygon" and len(bowtie.geoms) == 2
    assert bowtie.area == pytest.approx(b.geometry.iloc[0].area / 2, rel=0.02)
    messages = " | ".join(r.getMessage() for r in caplog.records)
    assert "rejected 1 point and 1 line features" in messages
    assert "repaired 1 invalid footprints" in messages and "'bowtie'" in messages
    assert "dropped 1 invalid footprints" in messages and "'flat'" in messages
    # WGS 84 input lands in the UTM zone of the data.
    assert city.crs == "EPSG:25832"
    assert 459_000 < b.geometry.bounds["minx"].min() < 460_000


def test_points_and_lines_only_are_rejected(tmp_path):
    gdf = gpd.GeoDataFrame(
        {"height": [1, 2, 3]},
        geometry=[
            shapely.Point(E, N),
            shapely.Point(E + 1, N),
            shapely.LineString([(E, N), (E + 5, N)]),
        ],
        crs="EPSG:25832",
    )
    path = _write(gdf, tmp_path / "points.gpkg")
    with pytest.raises(GeodataError, match=r"points\.gpkg: no polygon features \(2 point, 1 line"):
        read_gis(path)


def test_crs_override_and_reprojection(tmp_path):
    path = _write(_frame(2, height=[5.0, 6.0]), tmp_path / "utm.geojson")
    city = read_gis(path, crs="EPSG:25833")
    assert city.crs == "EPSG:25833"
    assert city.buildings.geometry.bounds["minx"].min() < 100_000  # far west of zone 33's centre
    np.testing.assert_allclose(city.buildings.geometry.area, 120.0, rtol=0.01)


def test_shapefile_without_prj(tmp_path, caplog):
    path = _write(_frame(2, height=[5.0, 6.0]), tmp_path / "noprj.shp")
    path.with_suffix(".prj").unlink()
    with pytest.raises(GeodataError, match=r"noprj\.shp: no CRS in the file.*--crs"):
        read_gis(path)
    with caplog.at_level(logging.WARNING, logger="twin.geodata.gis"):
        city = read_gis(path, crs="EPSG:25832")
    assert city.crs == "EPSG:25832"
    np.testing.assert_allclose(city.buildings.geometry.bounds["minx"].min(), E)
    assert any("no CRS in the file; assuming" in r.getMessage() for r in caplog.records)


def test_twin_city_parquet_is_loaded_as_city(tmp_path):
    path = generate_city(buildings=50, seed=3).save(tmp_path / "demo.parquet")
    city = read_gis(path)
    assert isinstance(city, City) and city.synthetic and city.n_buildings == 50
    assert set(city.buildings["format"]) == {"demo"}
    assert city.context is not None
    moved = read_gis(path, crs="EPSG:4647")
    assert moved.crs == "EPSG:4647" and moved.synthetic


def test_gpkg_layers(tmp_path):
    path = tmp_path / "multi.gpkg"
    gpd.GeoDataFrame({"kind": ["a"]}, geometry=[shapely.Point(E, N)], crs="EPSG:25832").to_file(
        path, layer="trees"
    )
    _frame(3, height=[3.0, 4.0, 5.0]).to_file(path, layer="gebaeude")
    _frame(1, height=[50.0]).to_file(path, layer="tuerme")
    assert len(read_gis(path)) == 3  # the first polygon layer
    city = read_gis(path, layer="tuerme")
    assert city.buildings["height"].tolist() == [50.0]
    with pytest.raises(
        GeodataError, match=r"no layer 'bridges'; the file has trees, gebaeude, tuerme"
    ):
        read_gis(path, layer="bridges")


def test_attributes(tmp_path):
    src = _frame(
        2,
        height=[9.0, 9.0],
        building=["yes", "school"],
        name=["Haus Eins", "Schule"],
        **{"addr:street": ["Hauptstraße", "Kirchweg"], "addr:housenumber": ["5", None]},
        **{"roof:shape": ["gabled", None]},
        osm_id=[101, 102],
    )
    b = read_gis(_write(src, tmp_path / "attrs.geojson")).buildings
    assert b["building_type"].tolist() == [None, "school"]
    assert b["address"].tolist() == ["Hauptstraße 5", "Kirchweg"]
    assert b["roof_shape"].tolist() == ["gabled", None]
    assert b["id"].tolist() == ["gis/attrs/101", "gis/attrs/102"]


def test_duplicate_id_column_falls_back_to_feature_ids(tmp_path):
    path = _write(_frame(3, id=["x", "x", "y"], height=[3.0, 3.0, 3.0]), tmp_path / "dup.gpkg")
    b = read_gis(path).buildings
    assert b["id"].is_unique


def test_3d_footprints_give_ground_z(tmp_path):
    poly = shapely.Polygon(
        [(E, N, 96.5), (E + 10, N, 96.5), (E + 10, N + 10, 97.0), (E, N + 10, 97.0)]
    )
    gdf = gpd.GeoDataFrame({"height": [8.0]}, geometry=[poly], crs="EPSG:25832")
    b = read_gis(_write(gdf, tmp_path / "z.gpkg")).buildings
    assert b["ground_z"].iloc[0] == pytest.approx(96.5)
    assert not shapely.has_z(b.geometry.values).any()


_FLAT = (
    '{"type": "Feature", "properties": {}, "geometry": {"type": "Polygon", "coordinates": '
    "[[[459100, 5481100], [459110, 5481100], [459120, 5481100], [459100, 5481100]]]}}"
)
BAD_INPUT = {
    "missing": ("nope.geojson", None, r"nope\.geojson: no such file"),
    "junk gpkg": ("junk.gpkg", b"\x00\x01not a geopackage" * 10, r"junk\.gpkg: cannot read"),
    "junk parquet": ("bad.parquet", b"PAR1 but not really", r"bad\.parquet: not a Parquet file"),
    "cut geojson": (
        "broken.geojson",
        '{"type": "FeatureCollection", "features": [',
        r"broken\.geojson: cannot read",
    ),
    "no features": (
        "empty.geojson",
        '{"type": "FeatureCollection", "features": []}',
        r"empty\.geojson: no features \(expected building footprint polygons\)",
    ),
    "only a flat ring": (
        "flat.geojson",
        '{"type": "FeatureCollection", "crs": {"type": "name", "properties": {"name": '
        f'"urn:ogc:def:crs:EPSG::25832"}}}}, "features": [{_FLAT}]}}',
        r"flat\.geojson: no valid polygon left after repairing the footprints \(expected",
    ),
}


test_bad_input_is_named = bad_input_test(read_gis, BAD_INPUT)


def test_attribute_table_without_geometry(tmp_path):
    path = tmp_path / "table.gpkg"
    _write(_frame(2, height=[5.0, 6.0]), path)
    gpd.GeoDataFrame({"a": [1, 2]}).to_file(path, layer="plain", driver="GPKG")
    rejects(
        lambda p: read_gis(p, layer="plain"),
        path,
        None,
        r"table\.gpkg: layer 'plain' has no geometry .*expected a layer of building footprint",
    )


def test_progress_bar(tmp_path, capsys):
    path = _write(_frame(3, height=[3.0, 4.0, 5.0]), tmp_path / "p.geojson")
    read_gis(path, progress=True)
    assert "3/3" in capsys.readouterr().err


def test_numeric_house_numbers_read_as_integers(tmp_path):
    src = _frame(
        2,
        height=[9.0, 9.0],
        strasse=["Hauptstraße", "Kirchweg"],
        hausnummer=[5.0, np.nan],
    )
    b = read_gis(_write(src, tmp_path / "num.gpkg")).buildings
    assert b["address"].tolist() == ["Hauptstraße 5", "Kirchweg"]
