from __future__ import annotations

import logging
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from twin.geodata.heights import (
    DEFAULT_HEIGHT,
    LEVEL_HEIGHT,
    default_height,
    derive_heights,
    parse_length,
    parse_number,
)


@pytest.mark.parametrize(
    ("text", "metres"),
    [
        ("7.5 m", 7.5),
        ("14m", 14.0),
        ("14 M", 14.0),
        ("7,5", 7.5),
        ("12", 12.0),
        (" 8 ", 8.0),
        ("8.", 8.0),
        (".5", 0.5),
        ("10 metres", 10.0),
        ("10 meters", 10.0),
        ("350 cm", 3.5),
        ("30'", 30 * 0.3048),
        ("30 ft", 30 * 0.3048),
        ("30 feet", 30 * 0.3048),
        ("12'6\"", 12 * 0.3048 + 6 * 0.0254),
        ("12' 6", 12 * 0.3048 + 6 * 0.0254),
        ("12 ft 6 in", 12 * 0.3048 + 6 * 0.0254),
        (7.5, 7.5),
        (3, 3.0),
    ],
)
def test_parse_length_units(text, metres):
    assert parse_length(text) == pytest.approx(metres)


@pytest.mark.parametrize(
    "text",
    [None, "", "tall", "10;12", "-3", "m", "7.5 furlongs", "1e3", "7.5.1", float("nan"), True, []],
)
def test_parse_length_rejects_garbage(text):
    assert parse_length(text) is None


@given(st.floats(min_value=0, max_value=1000, allow_nan=False).map(lambda v: round(v, 2)))
def test_parse_length_round_trips_metres_and_feet(value):
    assert parse_length(f"{value} m") == pytest.approx(value)
    assert parse_length(f"{value}m") == pytest.approx(value)
    assert parse_length(str(value).replace(".", ",")) == pytest.approx(value)
    assert parse_length(f"{value} ft") == pytest.approx(value * 0.3048)


@given(st.text(max_size=12))
def test_parse_length_never_raises(text):
    value = parse_length(text)
    assert value is None or (math.isfinite(value) and value >= 0)


def test_parse_number():
    assert parse_number("3") == 3.0
    assert parse_number("2,5") == 2.5
    assert parse_number("3;4") is None
    assert parse_number("-1") is None
    assert parse_number(None) is None


def test_default_height_by_type():
    assert default_height("house") == pytest.approx(7.0)
    assert default_height("detached") == pytest.approx(7.0)
    assert default_height("apartments") == pytest.approx(12.0)
    assert default_height("industrial") == pytest.approx(10.0)
    assert default_height("warehouse") == pytest.approx(10.0)
    assert default_height("garage") == pytest.approx(3.0)
    assert default_height("shed") == pytest.approx(3.0)
    assert default_height("church") > default_height("apartments")
    assert default_height("yes") == DEFAULT_HEIGHT
    assert default_height(None) == DEFAULT_HEIGHT
    assert default_height("  House ") == pytest.approx(7.0)


def test_derive_heights_precedence():
    tags = pd.DataFrame(
        {
            "height": ["7.5 m", None, None, None, "garbage", None],
            "building:height": [None, "20 ft", None, None, None, None],
            "building:levels": ["9", "9", "4", "2", "3", None],
            "roof:levels": [None, None, None, "1", None, None],
            "building_type": ["house", "house", "apartments", "house", "house", "garage"],
        }
    )
    out = derive_heights(tags)
    assert out["height"].tolist() == pytest.approx(
        [7.5, 20 * 0.3048, 4 * LEVEL_HEIGHT, 3 * LEVEL_HEIGHT, 3 * LEVEL_HEIGHT, 3.0]
    )
    assert out["height_source"].tolist() == [
        "measured",
        "measured",
        "levels",
        "levels",
        "levels",
        "default",
    ]
    np.testing.assert_array_equal(out["levels"].to_numpy(), [9, 9, 4, 2, 3, np.nan])
    assert (out["min_height"] == 0).all()


def test_derive_heights_min_height_and_roof_height():
    out = derive_heights(
        {
            "height": ["40", None, None, None],
            "min_height": ["20 m", None, "3", None],
            "building:min_level": [None, "2", None, None],
            "building:levels": [None, "5", None, "2"],
            "roof:height": [None, None, None, "2.5 m"],
            "building_type": ["yes", "yes", "garage", "house"],
        }
    )
    assert out["min_height"].tolist() == pytest.approx([20.0, 2 * LEVEL_HEIGHT, 3.0, 0.0])
    # A default stands on min_height; storeys count from the ground; roof height adds on top.
    assert out["height"].tolist() == pytest.approx([40.0, 15.0, 6.0, 2 * LEVEL_HEIGHT + 2.5])


def test_derive_heights_warns_when_top_below_bottom(caplog):
    with caplog.at_level(logging.WARNING, logger="twin.geodata.heights"):
        out = derive_heights({"height": ["5 m"], "min_height": ["10 m"]})
    assert out["height"].iloc[0] == pytest.approx(10 + LEVEL_HEIGHT)
    assert "1 building(s) have a top at or below their min_height" in caplog.text


def test_derive_heights_without_columns():
    out = derive_heights({}, n=2)
    assert out["height"].tolist() == [DEFAULT_HEIGHT, DEFAULT_HEIGHT]
    assert out["height_source"].tolist() == ["default", "default"]


def test_derive_heights_logs_unreadable_values(caplog):
    with caplog.at_level(logging.INFO, logger="twin.geodata.heights"):
        out = derive_heights(
            {"height": ["tall", "tall", "10;12", None, "7 m"], "building:levels": ["2"] * 5}
        )
    assert out["height_source"].tolist() == ["levels", "levels", "levels", "levels", "measured"]
    assert "ignored 3 unreadable height value(s), e.g. 'tall', '10;12'" in caplog.text
