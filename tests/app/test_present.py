"""Pure view helpers: sparkline SVG, legend and card shaping, demo cache."""

from __future__ import annotations

import numpy as np

from twin.app.charts import sparkline_svg
from twin.app.present import card_view, legend_view, table_view
from twin.scene.styles import DEFAULT_STYLES, legend


def test_sparkline_draws_gaps_and_extremes():
    svg = sparkline_svg([0, 1, 2, 3, 4], [1.0, 2.0, None, 4.0, 5.0], label="CO₂")
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    assert svg.count("<polyline") == 2  # the missing value splits the line
    assert ">5.0<" in svg and ">1.0<" in svg
    assert 'aria-label="CO₂"' in svg


def test_sparkline_without_values():
    svg = sparkline_svg([], [])
    assert "polyline" not in svg and "–" in svg


def test_legend_view_marks_thresholds_and_stale():
    view = legend_view(legend(DEFAULT_STYLES["co2"], "de"))
    assert view["title"].endswith("(ppm)")
    assert view["gradient"].startswith("linear-gradient")
    assert len(view["ticks"]) == 5 and view["ticks"][0]["left"] == "0.0%"
    assert view["thresholds"] and all(th["left"].endswith("%") for th in view["thresholds"])
    assert any(sw["label"].startswith("Veraltet") for sw in view["swatches"])


def test_card_view_of_a_building():
    card = {
        "id": "demo/rathaus",
        "title": "Rathaus",
        "address": "Rathausplatz 20",
        "height": 71.0,
        "height_text": "71,0 m",
        "height_source": "measured",
        "levels": 20.0,
        "sensors": [
            {
                "device": "co2-rathaus",
                "name": "CO₂ Rathaus",
                "readings": [{"label": "CO₂", "display": "612 ppm", "stale": False}],
            }
        ],
        "history": [
            {
                "device": "co2-rathaus",
                "label": "CO₂",
                "unit": "ppm",
                "times": ["2026-01-01T00:00:00Z", "2026-01-01T01:00:00Z"],
                "values": [500.0, 700.0],
            }
        ],
    }
    view = card_view(card, "en")
    assert view["kind"] == "building" and view["id"] == "demo/rathaus"
    fields = {f["label"]: f["value"] for f in view["fields"]}
    assert fields["Height"] == "71,0 m"
    assert fields["How the height was determined"] == "measured"
    assert view["sensors"][0]["value"] == "612 ppm"
    assert "<polyline" in view["charts"][0]["svg"]
    assert view["charts"][0]["title"] == "CO₂ · CO₂ Rathaus (ppm)"  # the name, not the raw id
    simple = card_view(card, "de", simple=True)
    assert simple["subtitle"] == "Haus"


def test_card_view_of_a_device():
    view = card_view(
        {"device": "d1", "name": "Lärm", "rssi": -97.5, "snr": 7.25, "last_seen": None}, "de"
    )
    fields = {f["label"]: f["value"] for f in view["fields"]}
    assert view["kind"] == "device"
    assert fields["Signalstärke (RSSI)"] == "-97,5 dBm"
    assert fields["Zuletzt gesehen"] == "Noch nie gesehen"


def test_simple_device_card_has_no_radio_jargon():
    card = {
        "device": "d1",
        "name": "Lärm",
        "kind": "noise",
        "dev_eui": "70B3D57ED0000001",
        "rssi": -97.5,
        "snr": 7.25,
    }
    planner = str(card_view(card, "de")["fields"])
    assert "70B3D57ED0000001" in planner and "dBm" in planner and "noise" in planner
    simple = card_view(card, "de", simple=True)
    fields = {f["label"]: f["value"] for f in simple["fields"]}
    text = str(fields)
    for jargon in ("70B3D57ED0000001", "DevEUI", "RSSI", "SNR", "dBm", "noise"):
        assert jargon not in text, jargon
    assert fields["Funk-Empfang"] == "▮▮▯▯ mittel"  # -97.5 dBm: fair reception, in words


def test_signal_bars():
    from twin.app.present import signal_bars

    assert [signal_bars(x) for x in (-40, -80, -94.9, -95, -110, -120)] == [
        "▮▮▮▮",
        "▮▮▮▮",
        "▮▮▮▯",
        "▮▮▮▯",
        "▮▮▯▯",
        "▮▯▯▯",
    ]


def test_table_view_rows():
    rows = table_view([{"device": "d1", "name": "N", "label": "CO₂", "display": "1 ppm"}])
    assert rows == [
        {
            "key": "d1",
            "device": "d1",
            "name": "N",
            "quantity": "CO₂",
            "value": "1 ppm",
            "building": "",
            "row": -1,
            "stale": False,
            "color": "#888888",
        }
    ]


def test_demo_cache_is_reused(tmp_path):
    from twin.app.cache import demo_city

    city, mesh = demo_city(buildings=50, seed=3, folder=tmp_path)
    assert len(list(tmp_path.glob("demo-50-3-*.parquet"))) == 1
    again, mesh2 = demo_city(buildings=50, seed=3, folder=tmp_path)
    assert again.n_buildings == city.n_buildings == 50
    assert mesh2.n_cells == mesh.n_cells
    np.testing.assert_array_equal(mesh2.cell_data["building"], mesh.cell_data["building"])
    assert again.context is not None and len(again.context)


def test_device_card_lists_readings_and_says_last_seen_in_plain_words():
    from datetime import UTC, datetime, timedelta

    now = datetime(2026, 11, 26, 15, 0, tzinfo=UTC)
    card = {
        "device": "ls-co2-rathaus-ratssaal",
        "name": "CO₂ Rathaus, Ratssaal",
        "last_seen": (now - timedelta(minutes=3)).isoformat(),
        "readings": [{"label": "CO₂", "display": "612 ppm"}],
    }
    normal = card_view(card, "de", now=now)
    simple = card_view(card, "de", simple=True, now=now)
    english = card_view(card, "en", simple=True, now=now)
    assert normal["readings_title"] == simple["readings_title"] == "Messwerte"
    assert english["readings_title"] == "Readings"
    seen = {f["label"]: f["value"] for f in simple["fields"]}
    assert seen["Letzte Meldung"] == "vor 3 Minuten"
    assert {f["label"]: f["value"] for f in english["fields"]}["Last message"] == "3 minutes ago"
    # the normal view keeps the absolute time, for planners
    absolute = {f["label"]: f["value"] for f in normal["fields"]}["Zuletzt gesehen"]
    assert absolute.endswith(":00") and "." in absolute
    # the simple card names the building first and keeps the id last, as a small detail
    assert simple["fields"][-1] == {"label": "Gerätenummer", "value": "ls-co2-rathaus-ratssaal"}
    assert normal["fields"][0]["label"] == "Gerät"
    # a building card's list keeps its heading: the sensors with their values
    assert card_view({"id": "demo/x"}, "de")["readings_title"] == "Sensoren"


def test_simple_view_draws_large_charts_with_labelled_axes():
    card = {
        "device": "d1",
        "history": [
            {
                "label": "CO₂",
                "unit": "ppm",
                "times": ["2026-01-01T00:00:00Z", "2026-01-01T12:00:00Z"],
                "values": [512.0, 1480.0],
            }
        ],
    }
    normal = card_view(card, "de")["charts"][0]["svg"]
    simple = card_view(card, "de", simple=True)["charts"][0]["svg"]
    assert 'width="240"' in normal and 'font-size="10"' in normal
    assert 'width="440"' in simple and 'height="190"' in simple and 'font-size="18"' in simple
    assert ">1480 ppm<" in simple and ">512<" in simple  # the value axis, with its unit
    assert ">vor 24 Stunden<" in simple and ">jetzt<" in simple  # the time axis in words
    assert "vor 24 Stunden" not in normal
    past = card_view({**card, "as_of": "2026-01-01T12:00:00Z"}, "de", simple=True)
    assert ">jetzt<" not in past["charts"][0]["svg"]  # a past moment is not "now"


def test_sparkline_decimal_comma_and_font_scale():
    svg = sparkline_svg(
        [0, 1],
        [1.25, 2.5],
        width=400,
        height=160,
        font_size=18,
        unit="°C",
        fmt=lambda v: f"{v:.1f}".replace(".", ","),
    )
    assert ">2,5 °C<" in svg and ">1,2<" in svg
    assert 'stroke-width="3.0"' in svg  # a thicker line in a large chart


def test_simple_building_card_puts_plain_facts_first_and_leaves_out_technical_values():
    card = {
        "id": "demo/rathaus",
        "title": "Rathaus",
        "height_text": "69,0 m",
        "sensors": [
            {
                "device": "ls-energy-rathaus",
                "name": "Stromzähler Rathaus",
                "readings": [
                    {"key": "energy", "label": "Energieverbrauch", "display": "125,6 kW"},
                    {"key": None, "label": "Zählerstand", "display": "1.255.071 kWh"},
                    {"key": None, "label": "Batterie", "display": "3,49 V"},
                ],
            }
        ],
        "history": [
            {
                "device": "ls-energy-rathaus",
                "key": None,
                "label": "Batterie",
                "unit": "V",
                "times": [0, 1],
                "values": [3.49, 3.5],
            },
            {
                "device": "ls-energy-rathaus",
                "key": "energy",
                "label": "Energieverbrauch",
                "unit": "kW",
                "times": [0, 1],
                "values": [100.0, 130.0],
            },
        ],
    }
    planner, simple = card_view(card, "de"), card_view(card, "de", simple=True)
    assert planner["fields"][0] == {"label": "Kennung", "value": "demo/rathaus"}
    assert simple["fields"][0]["label"] == "Höhe"
    assert simple["fields"][-1] == {"label": "Gebäudenummer", "value": "demo/rathaus"}
    assert [s["value"] for s in planner["sensors"]] == ["125,6 kW", "1.255.071 kWh", "3,49 V"]
    assert [s["value"] for s in simple["sensors"]] == ["125,6 kW"]
    assert [c["title"] for c in simple["charts"]] == ["Energieverbrauch · Stromzähler Rathaus (kW)"]
    battery = planner["charts"][0]["svg"]
    assert ">3,50<" in battery and ">3,49<" in battery  # the ends of a narrow range stay apart


def test_legend_swatches_name_their_ui_text():
    view = legend_view(legend(DEFAULT_STYLES["co2"], "de"))
    keys = {sw.get("key") for sw in view["swatches"]}
    assert {"legend.stale", "legend.no_data", "legend.no_sensor"} <= keys
