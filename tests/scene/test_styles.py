"""Colour styles: vectorised mapping, stale and no-data colours, legends, quantity names."""

from __future__ import annotations

import re

import numpy as np
import pytest

from twin.scene.styles import (
    DEFAULT_STYLES,
    NO_DATA_RGB,
    STALE_RGB,
    Style,
    color_codes,
    colors,
    legend,
    lookup_table,
    style_key,
    text_to_value,
    with_registry,
)

REQUIRED = (
    "temperature", "humidity", "co2", "noise", "pm25", "no2", "parking_occupancy",
    "water_level", "energy", "bike_count", "access_road",
)  # fmt: skip


def test_default_styles_cover_the_demo_quantities():
    assert set(REQUIRED) <= set(DEFAULT_STYLES)
    for key, style in DEFAULT_STYLES.items():
        assert style.key == key
        assert style.range[0] < style.range[1]
        assert style.labels["de"] and style.labels["en"]
        assert style.max_age > 0


def test_colors_follow_the_colormap_and_clamp():
    style = Style(key="x", unit="u", range=(0.0, 10.0), colormap=("#000000", "#ffffff"))
    rgb = colors(np.array([-5.0, 0.0, 5.0, 10.0, 99.0]), style)
    assert rgb.dtype == np.uint8 and rgb.shape == (5, 3)
    assert rgb[0].tolist() == [0, 0, 0] and rgb[1].tolist() == [0, 0, 0]
    assert rgb[3].tolist() == [255, 255, 255] and rgb[4].tolist() == [255, 255, 255]
    assert 120 <= rgb[2, 0] <= 135  # mid-grey
    assert (np.diff(rgb[:, 0].astype(int)) >= 0).all()  # monotonic along the ramp


def test_nan_is_no_data_and_stale_is_grey():
    style = DEFAULT_STYLES["co2"]
    values = np.array([500.0, np.nan, 1500.0, 1900.0])
    stale = np.array([False, False, True, False])
    rgb = colors(values, style, stale)
    assert rgb[1].tolist() == list(NO_DATA_RGB)
    assert rgb[2].tolist() == list(STALE_RGB)
    assert rgb[0].tolist() != rgb[3].tolist()
    assert rgb[0].tolist() not in (list(STALE_RGB), list(NO_DATA_RGB))


def test_colors_are_vectorised_packed_codes():
    style = DEFAULT_STYLES["temperature"]
    values = np.random.default_rng(0).uniform(-20, 40, 200_000)
    values[::7] = np.nan
    stale = np.zeros(len(values), dtype=bool)
    stale[::5] = True
    codes = color_codes(values, style, stale)
    assert codes.dtype == np.uint32 and codes.shape == (200_000,)
    rgba = codes.view(np.uint8).reshape(-1, 4)
    assert (rgba[:, 3] == 255).all()
    assert np.array_equal(rgba[:, :3], colors(values, style, stale))
    # the same as a plain per-value lookup
    lut = lookup_table(style.colormap)
    lo, hi = style.range
    for v, s, got in zip(values[:500], stale[:500], rgba[:500, :3], strict=True):
        if s:
            want = STALE_RGB
        elif np.isnan(v):
            want = NO_DATA_RGB
        else:
            want = lut[round(min(max((v - lo) / (hi - lo), 0), 1) * 255)]
        assert got.tolist() == list(want)
    assert lookup_table(style.colormap) is lut  # computed once
    assert not lut.flags.writeable


def test_unknown_colormap_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown colormap 'nope'"):
        lookup_table("nope")


def test_legend_stops_gradient_thresholds():
    leg = legend(DEFAULT_STYLES["co2"], "en")
    assert leg["title"] == "CO₂" and leg["unit"] == "ppm"
    values = [v for v, _ in leg["stops"]]
    assert values[0] == 400.0 and values[-1] == 2000.0 and len(values) == 5
    for _, color in leg["stops"]:
        assert re.fullmatch(r"#[0-9a-f]{6}", color)
    first = colors([400.0], DEFAULT_STYLES["co2"])[0]
    assert leg["stops"][0][1] == "#{:02x}{:02x}{:02x}".format(*first)
    assert leg["css_gradient"].startswith("linear-gradient(to right, #")
    assert [t["value"] for t in leg["thresholds"]] == [1000.0, 2000.0]
    assert leg["thresholds"][0]["position"] == pytest.approx(0.375)
    assert leg["stale_label"].startswith("Stale") and leg["stale_color"] == "#808080"
    assert legend(DEFAULT_STYLES["co2"], "de")["stale_label"].startswith("Veraltet")


def test_categorical_legend_and_text_values():
    style = DEFAULT_STYLES["access_road"]
    leg = legend(style, "de")
    assert leg["categorical"] and leg["labels"] == ["frei", "blockiert"]
    assert text_to_value("Blocked", style) == 1.0 and text_to_value("frei", style) == 0.0
    assert np.isnan(text_to_value("maybe", style))
    assert style.format(1.0, "en") == "blocked"


def test_format_uses_decimal_comma_in_german():
    style = DEFAULT_STYLES["temperature"]
    assert style.format(21.456, "de") == "21,5 °C"
    assert style.format(21.456, "en") == "21.5 °C"
    assert style.format(None) == "–"


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("temperature", "temperature"),
        ("temperature_3", "temperature"),
        ("air.temperature", "temperature"),
        ("relative_humidity_2", "humidity"),
        ("co2", "co2"),
        ("air.co2", "co2"),
        ("pm2_5", "pm25"),
        ("occupancy", "parking_occupancy"),
        ("water_level", "water_level"),
        ("rssi", None),
        ("battery", None),
    ],
)
def test_store_quantity_names_map_to_styles(name, key):
    assert style_key(name) == key


def test_style_quantities_override_the_aliases():
    styles = {**DEFAULT_STYLES, "radon": Style("radon", "Bq/m³", (0, 300), quantities=("rn",))}
    assert style_key("rn", styles) == "radon"


def test_registry_ranges_and_thresholds_fill_in_where_the_scene_is_silent():
    from pathlib import Path

    from twin.sensors.registry import Registry

    registry = Registry.load(Path(__file__).resolve().parents[2] / "sensors" / "devices.toml")
    styles = with_registry(DEFAULT_STYLES, registry)
    assert styles["water_level"].thresholds == (650.0, 750.0)  # the gauge's flood marks
    assert styles["co2"].range == (400.0, 2200.0)
    assert styles["energy"].range == (0.0, 400.0)  # from "power" in kW, not the kWh meter
    assert styles["co2"].colormap == DEFAULT_STYLES["co2"].colormap
    kept = with_registry(DEFAULT_STYLES, registry, {"co2": {"range"}})
    assert kept["co2"].range == DEFAULT_STYLES["co2"].range  # the scene file wins
    assert kept["co2"].thresholds == (1000.0, 2000.0)
    assert with_registry(DEFAULT_STYLES, None) == DEFAULT_STYLES
