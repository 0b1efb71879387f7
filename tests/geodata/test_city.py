import geopandas as gpd
import pytest
import shapely

from twin.errors import CityFileError
from twin.geodata.city import COLUMNS, SYNTHETIC_LABEL, City, concat


def _city(**kw):
    gdf = gpd.GeoDataFrame(
        {
            "id": ["t/a", "t/b1", "t/b2"],
            "building": ["t/a", "t/b", "t/b"],
            "is_part": [False, True, True],
            "height": [10.0, 20.0, 35.0],
            "min_height": [0.0, 0.0, 20.0],
            "height_source": ["measured", "levels", "measured"],
            "format": ["osm", "osm", "osm"],
        },
        geometry=[shapely.box(0, 0, 10, 10), shapely.box(20, 0, 30, 10), shapely.box(22, 2, 28, 8)],
        crs="EPSG:25832",
    )
    return City(gdf, **kw)


def test_normalise_adds_all_columns_and_defaults():
    city = _city()
    assert list(city.buildings.columns) == [*COLUMNS, "geometry"]
    assert city.buildings["ground_z"].tolist() == [0.0, 0.0, 0.0]
    assert city.origin == (15.0, 5.0, 0.0)
    assert city.crs == "EPSG:25832"


def test_parts_count_once():
    city = _city()
    assert city.n_buildings == 2
    assert city.n_parts == 2
    info = city.info()
    assert info["buildings"] == 2 and info["parts"] == 2
    # The building drawn by parts is as tall as its tallest part.
    assert info["height"] == {"min": 10.0, "max": 35.0, "mean": 22.5}
    assert info["height_source"] == {"measured": 1, "levels": 1}


def test_save_load_round_trip_keeps_metadata_and_context(tmp_path):
    ctx = gpd.GeoDataFrame(
        {"layer": ["river"], "name": ["Rhein"]},
        geometry=[shapely.box(40, 0, 50, 10)],
        crs="EPSG:25832",
    )
    city = _city(synthetic=True, context=ctx, sources=["x.osm"], attribution=["© OSM"])
    path = city.save(tmp_path / "c.parquet")
    back = City.load(path)
    assert back.label == SYNTHETIC_LABEL
    assert back.synthetic and back.sources == ["x.osm"] and back.attribution == ["© OSM"]
    assert back.origin == city.origin and back.crs == "EPSG:25832"
    assert back.buildings["id"].tolist() == ["t/a", "t/b1", "t/b2"]
    assert back.buildings.geometry.area.tolist() == [100.0, 100.0, 36.0]
    assert back.context["layer"].tolist() == ["river"]
    assert back.context.geometry.iloc[0].equals(shapely.box(40, 0, 50, 10))


def test_load_rejects_missing_and_foreign_files(tmp_path):
    with pytest.raises(CityFileError, match="no such city file"):
        City.load(tmp_path / "nope.parquet")
    bad = tmp_path / "bad.parquet"
    bad.write_text("hello")
    with pytest.raises(CityFileError, match="not a GeoParquet"):
        City.load(bad)
    foreign = tmp_path / "foreign.parquet"
    gpd.GeoDataFrame({"a": [1]}, geometry=[shapely.Point(0, 0)], crs="EPSG:4326").to_parquet(
        foreign
    )
    with pytest.raises(CityFileError, match="not a twin City"):
        City.load(foreign)


def test_concat_requires_one_crs():
    a = _city()
    b = _city()
    joined = concat([a, b])
    assert len(joined) == 6
    other = City(a.buildings.to_crs("EPSG:4326"))
    with pytest.raises(ValueError, match="one CRS"):
        concat([a, other])
