"""Reducing readings to devices and buildings; search text folding."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from twin.scene.search import fold, street_of
from twin.scene.styles import DEFAULT_STYLES, style_key
from twin.scene.values import annotate, per_building, per_device, to_utc

NOW = pd.Timestamp("2026-06-01T12:00:00Z")


def key_of(q: str, unit: str | None) -> str | None:
    return style_key(q)


def test_annotate_maps_keys_text_values_and_ages():
    df = pd.DataFrame(
        {
            "device": ["a", "a", "b", "c"],
            "quantity": ["co2", "temperature_3", "status", "rssi"],
            "time": [NOW - pd.Timedelta(minutes=5), NOW, NOW - pd.Timedelta(hours=1), NOW],
            "value": [812.0, 21.5, None, -100.0],
            "unit": ["ppm", "°C", "", "dBm"],
            "text": [None, None, "blocked", None],
        }
    )
    df["quantity"] = df["quantity"].replace({"status": "blocked"})
    out = annotate(df, key_of=key_of, styles=DEFAULT_STYLES, ref=NOW)
    assert out["key"].tolist()[:3] == ["co2", "temperature", "access_road"]
    assert not isinstance(out["key"].iat[3], str)  # rssi has no style
    assert out["num"].tolist()[:3] == [812.0, 21.5, 1.0]
    assert out["age_s"].tolist() == [300.0, 0.0, 3600.0, 0.0]
    assert str(out["time"].dt.tz) == "UTC"
    empty = annotate(df.iloc[:0], key_of=key_of, styles=DEFAULT_STYLES, ref=NOW)
    assert {"key", "num", "age_s"} <= set(empty.columns)


def test_per_device_means_rows_and_marks_stale():
    df = pd.DataFrame(
        {
            "device": ["a", "a", "b", "zz"],
            "num": [20.0, 22.0, 30.0, 5.0],
            "age_s": [10.0, 20.0, 7200.0, 0.0],
        }
    )
    index = pd.Series([0, 1, 2], index=["a", "b", "c"])
    value, stale, seen = per_device(df, index, 3, max_age=3600.0)
    assert value[0] == 21.0 and value[1] == 30.0 and np.isnan(value[2])
    assert stale.tolist() == [False, True, False]
    assert seen.tolist() == [True, True, False]  # unknown device "zz" ignored


def test_per_building_prefers_fresh_values():
    group = np.array([7, 7, 3, 3, 5])
    value = np.array([10.0, 20.0, 1.0, 3.0, np.nan])
    stale = np.array([False, True, True, True, False])
    groups, out, is_stale = per_building(group, value, stale)
    got = dict(zip(groups.tolist(), zip(out.tolist(), is_stale.tolist(), strict=True), strict=True))
    assert got[7] == (10.0, False)  # the stale 20 is ignored while a fresh value exists
    assert got[3] == (2.0, True)  # all stale: their mean, grey
    assert np.isnan(got[5][0]) and got[5][1] is False  # no reading: no data, not stale


def test_to_utc_accepts_common_spellings():
    assert to_utc("2026-06-01T14:00:00+02:00") == NOW
    assert to_utc(NOW.timestamp()) == NOW
    assert to_utc(NOW.to_pydatetime().replace(tzinfo=None)) == NOW


@pytest.mark.parametrize(
    ("text", "folded"),
    [
        ("Bürgerhof", "burgerhof"),
        ("Straße", "strasse"),
        ("Bismarckstr. 12", "bismarckstrasse 12"),
        ("  Berliner   Platz ", "berliner platz"),
    ],
)
def test_fold(text, folded):
    assert fold(text) == folded


def test_street_of_address():
    assert street_of("Bismarckstraße 12a") == "Bismarckstraße"
    assert street_of("Am Gymnasium 1") == "Am Gymnasium"
    assert street_of("Rathausplatz 5-7") == "Rathausplatz"
    assert street_of("Rathausplatz") is None


def test_per_building_matches_a_pandas_groupby_on_random_data():
    rng = np.random.default_rng(3)
    n = 2000
    group = rng.integers(0, 300, n)
    value = rng.normal(size=n)
    value[rng.random(n) < 0.2] = np.nan
    stale = rng.random(n) < 0.3
    groups, out, out_stale = per_building(group, value, stale)
    fresh = ~stale & ~np.isnan(value)
    ref = (
        pd.DataFrame({"g": group, "fv": np.where(fresh, value, np.nan), "v": value, "f": fresh})
        .groupby("g")
        .agg(fv=("fv", "mean"), v=("v", "mean"), f=("f", "any"))
    )
    want = np.where(ref["f"], ref["fv"], ref["v"])
    assert groups.tolist() == ref.index.tolist()
    np.testing.assert_allclose(out, want, equal_nan=True)
    assert out_stale.tolist() == (~ref["f"].to_numpy() & ~np.isnan(want)).tolist()
