"""Decoding real captured LoRaWAN messages (see ../shared/realdata/SOURCES.md).

iobroker_captured_messages.jsonl: BenAhrdt/ioBroker.lorawan @e45e9ff, MIT.
ttn_v3_*_docs_example: TheThingsIndustries/lorawan-stack-docs @a189a52, Apache-2.0.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from tests.conftest import realdata_path
from twin.sensors.decode import decode

pytestmark = pytest.mark.realdata


def _captures() -> list[tuple[str, bytes, str]]:
    path = realdata_path("lorawan/iobroker_captured_messages.jsonl")
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        obj = json.loads(line)
        message = obj["message"]
        body = message.encode() if isinstance(message, str) else json.dumps(message).encode()
        out.append((obj["topic"], body, obj["format"]))
    return out


def _values(message) -> dict[str, tuple]:
    return {
        r.quantity: (r.value if r.value is not None else r.text, r.unit) for r in message.readings
    }


def t(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def test_every_capture_decodes_and_uplinks_are_exactly_the_data_messages():
    captures = _captures()
    assert len(captures) == 17
    kinds = {}
    for topic, body, label in captures:
        m = decode(topic, body)
        assert m.format == {"ttn_v3": "ttn", "chirpstack_v4": "chirpstack"}[label]
        kinds.setdefault(m.kind, []).append(m)
        if m.kind == "event":
            assert m.readings == []
            assert m.event_type
    # 3 TTN uplinks + 4 ChirpStack uplinks; the rest are events.
    assert len(kinds["uplink"]) == 7
    assert len(kinds["event"]) == 10


def test_event_types_are_precise():
    types = sorted(
        decode(tp, b).event_type for tp, b, _ in _captures() if decode(tp, b).kind == "event"
    )
    assert types == sorted(
        ["command/down"] * 4 + ["down/ack", "ack", "txack", "status", "log", "join"]
    )


def _by_device() -> dict[str, object]:
    return {
        m.device_id: m for m in (decode(tp, b) for tp, b, _ in _captures()) if m.kind == "uplink"
    }


def test_ttn_lobaro_uplink():
    m = _by_device()["eui-lobaro-modbus"]
    assert m.dev_eui == "70B3D5E050013950"
    assert m.application_id == "hafi-ttn-lorawan"
    assert m.time == t("2024-01-22T07:06:25.054442Z")  # network (NS) reception time
    assert (m.f_cnt, m.f_port, m.rssi, m.snr, m.gateways) == (2, 20, -37.0, 8.5, 1)
    values = _values(m)
    assert values["airtemperature"] == (19.9, "°C")
    assert values["airhumidity"] == (50.9, "%")
    assert values["volt"] == (3.649, "V")
    assert values["relais2"] == (1.0, "")
    assert "relais3" not in values  # null is skipped
    assert m.data["topic_device_id"] == "Meins"  # topic and body disagree: body wins


def test_ttn_netvox_uplink_best_signal_over_three_gateways():
    m = _by_device()["shlm-luxsensor-001"]
    assert m.time == t("2024-11-26T12:39:20.785204Z")
    assert (m.rssi, m.snr, m.gateways, m.f_cnt) == (-29.0, 14.0, 3, 107)
    assert _values(m) == {"BatV": (3.6, "V"), "Illuminance": (258.0, "lx")}


def test_ttn_tektelic_uplink_via_packet_broker():
    m = _by_device()["eui-647fda0000009f7c"]
    assert m.time == t("2026-03-28T08:26:01.821949Z")
    assert _values(m) == {
        "ambient_temperature": (13.3, "°C"),
        "battery_voltage": (3.12, "V"),
        "relative_humidity": (64.0, "%"),
    }
    assert m.dedup_id == "pba:uplink:01KMSRSP6R5T5PZJQ04MSEXKY1"


def test_chirpstack_uplinks():
    by = _by_device()
    skimmer = by["Skimmer"]
    assert skimmer.dev_eui == "A84041F621857CD2"
    assert skimmer.time == t("2025-02-18T14:49:19.475813+00:00")
    assert skimmer.dedup_id == "46fecb8d-d7f1-481e-8b1b-bcaad7e5d1e0"
    assert (skimmer.f_cnt, skimmer.f_port, skimmer.rssi, skimmer.snr) == (170, 2, -108.0, 2.0)
    sv = _values(skimmer)
    assert sv["Soiltemperature"] == (-0.4, "°C")
    assert sv["Soilmoisture"] == (41.8, "%")
    assert sv["Volt"] == (3.318, "V")
    assert sv["devicetype"] == ("Dragino", "")

    vicki = _values(by["ThermostatKinderzimmerRika"])
    assert vicki["SensorTemperature"] == (23.06, "°C")
    assert vicki["RelativeHumidity"] == (30.47, "%")
    assert vicki["BatteryVoltage"] == (3.5, "V")
    assert vicki["OpenWindow"] == (0.0, "")  # false → 0
    assert vicki["AttachedBackplate"] == (1.0, "")  # true → 1
    assert by["ThermostatKinderzimmerRika"].f_cnt == 38547

    relay = _values(by["Relaistestgerät"])
    assert relay["RO1_status"] == ("OFF", "")
    assert relay["ACI1_mA"] == (0.0, "mA")
    assert relay["AVI1_V"] == (0.0, "V")
    door = by["Flurtüre"]
    assert door.time == t("2024-08-25T07:10:47.758298+00:00")
    assert _values(door)["BAT_V"] == (3.078, "V")
    assert _values(door)["OPEN_TIMES"] == (3976.0, "")


def test_chirpstack_codec_error_log_on_up_topic_is_an_event():
    logs = [m for m in (decode(tp, b) for tp, b, _ in _captures()) if m.event_type == "log"]
    assert len(logs) == 1
    (m,) = logs
    assert m.topic.endswith("/event/up")
    assert m.kind == "event" and m.readings == []
    assert m.data["code"] == "UPLINK_CODEC"
    assert m.device_id == "MClimate_Vicki_Heizkoerperventil_001"


def test_ttn_docs_uplink_example():
    body = realdata_path("lorawan/ttn_v3_uplink_docs_example.json").read_bytes()
    m = decode("v3/app1@ttn/devices/dev1/up", body)
    assert (m.kind, m.device_id, m.dev_eui, m.application_id) == (
        "uplink",
        "dev1",
        "4200000000000000",
        "app1",
    )
    assert m.time == t("2019-01-29T13:02:34.981Z")  # only the gateway time is given
    assert (m.f_port, m.f_cnt, m.rssi, m.snr, m.gateways) == (15, 0, -35.0, 5.0, 1)
    assert m.dedup_id == "as:up:01D2CV8HNGJ57G25BW0FCZNY07"
    # frm_payload is the text "Temperature = 0.0": no formatter, not LPP → no readings, raw kept.
    assert m.readings == []
    assert m.data["frm_payload"] == "VGVtcGVyYXR1cmUgPSAwLjA="


def test_ttn_docs_uplink_example_without_topic_is_detected_from_the_body():
    body = realdata_path("lorawan/ttn_v3_uplink_docs_example.json").read_bytes()
    assert decode("some/other/topic", body).format == "ttn"


def test_ttn_storage_integration_example():
    path = realdata_path("lorawan/ttn_v3_storage_docs_example.ndjson")
    lines = [ln for ln in path.read_text().splitlines() if ln.strip()]
    messages = [decode("", ln.encode()) for ln in lines]
    assert [m.kind for m in messages] == ["uplink", "uplink"]
    assert [m.f_cnt for m in messages] == [43, 44]
    assert [m.time for m in messages] == [
        t("2020-08-24T10:08:44.634338Z"),
        t("2020-08-24T10:08:48.931407Z"),
    ]
    assert all(m.device_id == "dev1" and m.dev_eui == "1111111111111111" for m in messages)
    assert all(m.readings == [] and m.data["frm_payload"] == "AQoBCgEKAQo=" for m in messages)


def test_captures_stored_in_duckdb(tmp_path):
    from twin.sensors.store import Store

    messages = [decode(tp, b) for tp, b, _ in _captures()]
    with Store(tmp_path / "captures.duckdb") as store:
        result = store.write(messages)
        assert (result.stored, result.events, result.duplicates) == (7, 10, 0)
        assert store.write(messages).duplicates == 17  # a redelivery stores nothing
        counts = store.counts()
        assert counts["raw_messages"] == 7 and counts["events"] == 10
        assert counts["readings"] == sum(len(m.readings) for m in messages if m.kind == "uplink")
        latest = store.latest().set_index(["device", "quantity"])
        assert latest.loc[("Skimmer", "Soiltemperature"), "value"] == -0.4
        assert latest.loc[("Skimmer", "Soiltemperature"), "unit"] == "°C"
        assert latest.loc[("Relaistestgerät", "RO1_status"), "text"] == "OFF"
        assert latest.loc[("shlm-luxsensor-001", "Illuminance"), "time"] == t(
            "2024-11-26T12:39:20.785204Z"
        )
        events = store.events()
        assert sorted(events["event_type"]) == sorted(
            ["command/down"] * 4 + ["down/ack", "ack", "txack", "status", "log", "join"]
        )
        # Nothing of the events is a reading: only uplink devices have readings.
        assert set(store.readings()["device"]) == {
            "eui-lobaro-modbus", "shlm-luxsensor-001", "eui-647fda0000009f7c", "Skimmer",
            "ThermostatKinderzimmerRika", "Relaistestgerät", "Flurtüre",
        }  # fmt: skip
        devices = store.devices().set_index("device")
        assert not devices["known"].any()
        assert devices.loc["Skimmer", "dev_eui"] == "A84041F621857CD2"
