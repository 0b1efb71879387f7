"""Binding devices to buildings: explicit id, containment, nearest within a distance, unbound."""

from __future__ import annotations

import time

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import pytest
import shapely

from twin.geodata.city import City
from twin.scene.binding import bind_devices

E0, N0 = 459000.0, 5481000.0
TO_WGS84 = pyproj.Transformer.from_crs("EPSG:25832", "EPSG:4326", always_xy=True)


def latlon(e: float, n: float) -> tuple[float, float]:
    lon, lat = TO_WGS84.transform(e, n)
    return lat, lon


@pytest.fixture
def city() -> City:
    boxes = [
        shapely.box(E0, N0, E0 + 20, N0 + 20),  # a
        shapely.box(E0 + 100, N0, E0 + 120, N0 + 20),  # b
        shapely.box(E0 + 100, N0 + 200, E0 + 140, N0 + 240),  # c (parent)
        shapely.box(E0 + 100, N0 + 200, E0 + 110, N0 + 210),  # c part (inside c)
    ]
    gdf = gpd.GeoDataFrame(
        {
            "id": ["a", "b", "c", "c/part"],
            "building": ["a", "b", "c", "c"],
            "is_part": [False, False, False, True],
            "height": [10.0, 12.0, 30.0, 40.0],
        },
        geometry=boxes,
        crs="EPSG:25832",
    )
    return City(gdf)


def test_each_rule(city):
    pts = {
        "explicit": (E0 + 110, N0 + 10),  # inside b, but the registry says "a"
        "inside": (E0 + 10, N0 + 10),  # inside a
        "nearest": (E0 + 130, N0 + 10),  # 10 m east of b
        "far": (E0 + 500, N0 + 500),  # 250+ m from everything
        "part": (E0 + 105, N0 + 205),  # inside c and its part: the smaller one wins
    }
    rows = []
    for name, (e, n) in pts.items():
        lat, lon = latlon(e, n)
        rows.append({"device": name, "lat": lat, "lon": lon, "building": None})
    rows[0]["building"] = "a"
    rows.append({"device": "nopos", "lat": np.nan, "lon": np.nan, "building": "b"})
    rows.append({"device": "lost", "lat": np.nan, "lon": np.nan, "building": None})
    rows.append({"device": "typo", "lat": rows[1]["lat"], "lon": rows[1]["lon"], "building": "zz"})
    out = bind_devices(city, pd.DataFrame(rows), max_distance=50.0)
    got = out.set_index("device")
    assert list(out["device"]) == [r["device"] for r in rows]  # input order kept
    assert (got.loc["explicit", "row"], got.loc["explicit", "how"]) == (0, "explicit")
    assert (got.loc["inside", "row"], got.loc["inside", "how"]) == (0, "inside")
    assert (got.loc["nearest", "row"], got.loc["nearest", "how"]) == (1, "nearest")
    assert got.loc["nearest", "distance_m"] == pytest.approx(10.0, abs=0.01)
    assert (got.loc["far", "row"], got.loc["far", "how"]) == (-1, "unbound")
    assert np.isnan(got.loc["far", "distance_m"])
    assert got.loc["part", "row"] == 3
    assert (got.loc["nopos", "row"], got.loc["nopos", "how"]) == (1, "explicit")
    # a device without position sits on its building
    assert shapely.box(E0 + 100, N0, E0 + 120, N0 + 20).contains(
        shapely.Point(got.loc["nopos", "x"], got.loc["nopos", "y"])
    )
    assert got.loc["lost", "row"] == -1
    assert (got.loc["typo", "row"], got.loc["typo", "how"]) == (0, "inside")  # falls back
    # positions are projected into the City CRS
    assert got.loc["inside", "x"] == pytest.approx(E0 + 10, abs=0.01)
    assert got.loc["inside", "y"] == pytest.approx(N0 + 10, abs=0.01)


def test_explicit_id_matches_the_building_column_too(city):
    d = pd.DataFrame({"device": ["s"], "lat": [np.nan], "lon": [np.nan], "building": ["c"]})
    assert bind_devices(city, d)["row"].tolist() == [2]


def test_too_far_depends_on_max_distance(city):
    lat, lon = latlon(E0 + 160, N0 + 10)  # 40 m east of b
    d = pd.DataFrame({"device": ["s"], "lat": [lat], "lon": [lon]})
    assert bind_devices(city, d, max_distance=50)["row"].tolist() == [1]
    assert bind_devices(city, d, max_distance=30)["row"].tolist() == [-1]


def test_binding_is_vectorised():
    rng = np.random.default_rng(1)
    xs, ys = np.meshgrid(np.arange(200) * 30.0, np.arange(100) * 30.0)
    x0, y0 = E0 + xs.ravel(), N0 + ys.ravel()
    boxes = shapely.box(x0, y0, x0 + 20, y0 + 20)
    ids = [f"b{i}" for i in range(len(boxes))]
    gdf = gpd.GeoDataFrame({"id": ids, "height": 10.0}, geometry=boxes, crs="EPSG:25832")
    city = City(gdf)
    e = E0 + rng.uniform(0, 6000, 20_000)
    n = N0 + rng.uniform(0, 3000, 20_000)
    lon, lat = TO_WGS84.transform(e, n)
    d = pd.DataFrame({"device": [f"d{i}" for i in range(len(e))], "lat": lat, "lon": lon})
    t0 = time.perf_counter()
    out = bind_devices(city, d, max_distance=5.0)
    elapsed = time.perf_counter() - t0
    inside = shapely.contains_xy(boxes[out["row"].clip(0)], e, n) & (out["row"] >= 0)
    assert (inside == (out["how"] == "inside")).all()
    assert elapsed < 2.0, f"binding 20,000 devices took {elapsed:.2f} s"
