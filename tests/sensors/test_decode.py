"""Decoders on hand-built messages: TTN v3, ChirpStack v4/v3, generic JSON, values, limits."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import pytest

from twin.errors import DecodeError
from twin.sensors.decode import decode, detect_format
from twin.sensors.decode.values import flatten, parse_unit_string
from twin.sensors.model import Reading
from twin.sensors.registry import Device, GenericRoute, Quantity, Registry

T0 = datetime(2026, 5, 4, 8, 0, tzinfo=UTC)


def ttn_up(device="d1", eui="70B3D57ED0000001", **uplink) -> bytes:
    body = {
        "end_device_ids": {
            "device_id": device,
            "dev_eui": eui,
            "application_ids": {"application_id": "a"},
        },
        "correlation_ids": ["gs:uplink:X", "as:up:01ABC"],
        "received_at": "2026-05-04T08:00:01Z",
        "uplink_message": {
            "f_port": 2,
            "f_cnt": 5,
            "received_at": "2026-05-04T08:00:00.5Z",
            **uplink,
        },
    }
    return json.dumps(body).encode()


def cs_up(**fields) -> bytes:
    body = {
        "deduplicationId": "dd-1",
        "time": "2026-05-04T08:00:00+00:00",
        "deviceInfo": {
            "deviceName": "cs-dev",
            "devEui": "a84041f621857cd2",
            "applicationId": "app",
        },
        "fCnt": 9,
        "fPort": 2,
        **fields,
    }
    return json.dumps(body).encode()


def values(m) -> dict:
    return {r.quantity: (r.value if r.value is not None else r.text, r.unit) for r in m.readings}


# --- values -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30.11 °C", (30.11, "°C")),
        ("3.384 V", (3.384, "V")),
        ("45 %", (45.0, "%")),
        ("-7.5dB", (-7.5, "dB")),
        ("1013 hPa", (1013.0, "hPa")),
        ("12", (12.0, "")),
        ("25 µg/m³", (25.0, "µg/m³")),
    ],
)
def test_unit_strings(text, expected):
    assert parse_unit_string(text) == expected


@pytest.mark.parametrize(
    "text", ["OFF", "blocked", "2ACI+2AVI", "1.2.3", "5 min ago", "nan", "inf"]
)
def test_non_numbers_stay_text(text):
    assert parse_unit_string(text) is None


def test_flatten_nested_bool_null_text_and_units():
    obj = {
        "air": {"co2": 812, "temperature": "21.5 °C", "humidity": 40},
        "gate": "blocked",
        "ok": True,
        "missing": None,
        "acc": [0.1, -0.2],
        "battery": 3.6,
    }
    got = {r.quantity: r for r in flatten(obj)}
    assert got["air.co2"] == Reading("air.co2", 812.0, "ppm")
    assert got["air.temperature"] == Reading("air.temperature", 21.5, "°C")
    assert got["air.humidity"] == Reading("air.humidity", 40.0, "%")
    assert got["gate"] == Reading("gate", None, "", "blocked")
    assert got["ok"] == Reading("ok", 1.0, "")
    assert "missing" not in got
    assert got["acc.0"].value == 0.1 and got["acc.1"].value == -0.2
    assert got["battery"].unit == "%"


def test_registry_unit_wins_over_inferred_unit():
    got = flatten(
        {"temperature": 70.1, "level": 2.5}, unit_for={"temperature": "°F", "level": "m"}.get
    )
    assert [(r.quantity, r.unit) for r in got] == [("temperature", "°F"), ("level", "m")]


def test_huge_numbers_are_kept_as_text():
    got = flatten({"big": 10**400, "inf": float("inf")})
    assert got[0].value is None and got[0].text.startswith("1000")
    assert got[1].value is None and got[1].text == "inf"


# --- TTN --------------------------------------------------------------------------------


def test_ttn_uplink_with_decoded_payload():
    m = decode(
        "v3/a@ttn/devices/d1/up",
        ttn_up(
            decoded_payload={"temperature": 21.5, "co2": 640},
            rx_metadata=[{"rssi": -90, "snr": 3}, {"rssi": -70, "snr": -2}],
        ),
    )
    assert (m.format, m.kind, m.device_id, m.dev_eui) == ("ttn", "uplink", "d1", "70B3D57ED0000001")
    assert m.time == datetime(2026, 5, 4, 8, 0, 0, 500000, tzinfo=UTC)
    assert (m.rssi, m.snr, m.gateways, m.f_cnt, m.f_port) == (-70.0, 3.0, 2, 5, 2)
    assert m.dedup_id == "as:up:01ABC"
    assert values(m) == {"temperature": (21.5, "°C"), "co2": (640.0, "ppm")}


def test_ttn_lpp_without_formatter_is_decoded_when_it_parses_cleanly():
    m = decode("v3/a@ttn/devices/d1/up", ttn_up(frm_payload="A2cBEAVnAP8="))
    assert values(m) == {"temperature_3": (27.2, "°C"), "temperature_5": (25.5, "°C")}
    assert m.data["codec"] == "lpp"


def test_ttn_arbitrary_bytes_are_not_taken_for_lpp():
    payload = base64.b64encode(bytes.fromhex("0271C82F")).decode()  # parses as analog only
    m = decode("v3/a@ttn/devices/d1/up", ttn_up(frm_payload=payload))
    assert m.readings == [] and m.data["frm_payload"] == payload


def test_registry_lpp_codec_decodes_extended_types():
    reg = Registry([Device("d1", "70B3D57ED0000001", codec="lpp")])
    payload = base64.b64encode(bytes.fromhex("0C74014F")).decode()  # voltage_12
    m = decode("v3/a@ttn/devices/d1/up", ttn_up(frm_payload=payload), registry=reg)
    assert values(m) == {"voltage_12": (3.35, "V")}


def test_registry_says_lpp_but_bytes_are_not():
    reg = Registry([Device("d1", "70B3D57ED0000001", codec="lpp")])
    m = decode("v3/a@ttn/devices/d1/up", ttn_up(frm_payload="AQoBCgEKAQo="), registry=reg)
    assert m.readings == [] and "unknown type 10" in m.data["payload_error"]


def test_lpp_gps_positions_the_device():
    payload = base64.b64encode(bytes.fromhex("018806765ff2960a0003e8")).decode()
    m = decode("v3/a@ttn/devices/d1/up", ttn_up(frm_payload=payload))
    assert m.location == (42.3519, -87.9094, 10.0)


def test_registry_maps_dev_eui_to_registered_id_and_units():
    reg = Registry(
        [Device("ls-co2-1", "70B3D57ED0000001", quantities={"level": Quantity(unit="cm")})]
    )
    m = decode(
        "v3/a@ttn/devices/whatever/up",
        ttn_up(device="whatever", decoded_payload={"level": 312}),
        registry=reg,
    )
    assert m.device_id == "ls-co2-1"
    assert values(m) == {"level": (312.0, "cm")}


@pytest.mark.parametrize(
    ("event", "key"),
    [
        ("join", "join_accept"),
        ("down/queued", "downlink_queued"),
        ("down/sent", "downlink_sent"),
        ("down/ack", "downlink_ack"),
        ("down/nack", "downlink_nack"),
        ("down/failed", "downlink_failed"),
        ("service/data", "service_data"),
        ("location/solved", "location_solved"),
    ],
)
def test_ttn_non_uplinks_are_events(event, key):
    body = {
        "end_device_ids": {"device_id": "d1"},
        "received_at": "2026-05-04T08:00:00Z",
        key: {"f_port": 1, "location": {"latitude": 49.48, "longitude": 8.44}},
    }
    m = decode(f"v3/a@ttn/devices/d1/{event}", json.dumps(body).encode())
    assert (m.kind, m.event_type, m.readings, m.time) == ("event", event, [], T0)
    assert m.data["body"]["f_port"] == 1
    if event == "location/solved":
        assert m.location == (49.48, 8.44, None)


# --- ChirpStack -------------------------------------------------------------------------


def test_chirpstack_v4_uplink():
    m = decode(
        "application/app/device/a84041f621857cd2/event/up",
        cs_up(
            object={"temperature": 19.5, "state": "open"},
            rxInfo=[{"rssi": -100, "snr": -3.5}],
            data="AQ==",
        ),
    )
    assert (m.format, m.kind, m.device_id, m.dev_eui, m.dedup_id) == (
        "chirpstack",
        "uplink",
        "cs-dev",
        "A84041F621857CD2",
        "dd-1",
    )
    assert (m.f_cnt, m.f_port, m.rssi, m.snr, m.time) == (9, 2, -100.0, -3.5, T0)
    assert values(m) == {"temperature": (19.5, "°C"), "state": ("open", "")}


@pytest.mark.parametrize(
    "event", ["join", "ack", "txack", "log", "status", "location", "integration"]
)
def test_chirpstack_events(event):
    body = {
        "time": "2026-05-04T08:00:00+00:00",
        "deviceInfo": {"devEui": "a84041f621857cd2"},
        "location": {"latitude": 49.1, "longitude": 8.2},
    }
    m = decode(f"application/app/device/a84041f621857cd2/event/{event}", json.dumps(body).encode())
    assert (m.kind, m.event_type, m.device_id) == ("event", event, "A84041F621857CD2")
    assert (m.location is not None) == (event == "location")


def test_chirpstack_command_down_is_an_event():
    m = decode(
        "application/app/device/a84041f621857cd2/command/down",
        b'{"devEui":"a84041f621857cd2","fPort":1,"data":"AQ=="}',
    )
    assert (m.kind, m.event_type, m.dev_eui) == ("event", "command/down", "A84041F621857CD2")


def test_chirpstack_v3_uplink_with_object_json():
    body = {
        "applicationID": "1", "deviceName": "v3-dev", "devEUI": "AQIDBAUGBwg=",
        "rxInfo": [{"rssi": -80, "loRaSNR": 7.5, "time": "2026-05-04T08:00:00Z"}],
        "fCnt": 3, "fPort": 1, "objectJSON": json.dumps({"humidity": 55}),
    }  # fmt: skip
    m = decode("application/1/device/0102030405060708/event/up", json.dumps(body).encode())
    assert (m.format, m.dev_eui, m.device_id, m.snr, m.time) == (
        "chirpstack3",
        "0102030405060708",
        "v3-dev",
        7.5,
        T0,
    )
    assert values(m) == {"humidity": (55.0, "%")}


# --- generic ----------------------------------------------------------------------------


def test_generic_route_with_field_mapping():
    reg = Registry(
        [Device("wx-1", quantities={"wind": Quantity(unit="m/s")})],
        [
            GenericRoute(
                "stadt/wetter/{device}",
                time="ts",
                fields={"temperature": "data.t", "wind": "data.w", "rain": "data.r"},
                units={"rain": "mm"},
            )
        ],
    )
    body = {"ts": 1777881600, "data": {"t": "12.5 °C", "w": 3.1, "r": 0.2, "junk": 1}}
    m = decode("stadt/wetter/wx-1", json.dumps(body).encode(), registry=reg)
    assert (m.format, m.kind, m.device_id, m.time) == ("generic", "uplink", "wx-1", T0)
    assert values(m) == {"temperature": (12.5, "°C"), "wind": (3.1, "m/s"), "rain": (0.2, "mm")}


def test_generic_route_without_mapping_takes_all_values_but_id_and_time():
    reg = Registry(routes=[GenericRoute("sensors/+/json", device="id", time="time")])
    body = {"id": "x7", "time": "2026-05-04T08:00:00Z", "pm10": 17, "nested": {"no2": 21}}
    m = decode("sensors/a/json", json.dumps(body).encode(), registry=reg)
    assert m.device_id == "x7"
    assert values(m) == {"pm10": (17.0, "µg/m³"), "nested.no2": (21.0, "µg/m³")}


def test_generic_needs_a_route():
    with pytest.raises(DecodeError, match="no \\[\\[generic\\]\\] route"):
        decode("x/y", b"{}", fmt="generic", registry=Registry())


# --- detection and errors ---------------------------------------------------------------


def test_detect_format():
    assert detect_format("v3/a@t/devices/d/up", {}) == "ttn"
    assert detect_format("application/a/device/d/event/up", {"deviceInfo": {}}) == "chirpstack"
    assert detect_format("application/a/device/d/event/up", {"devEUI": "x"}) == "chirpstack3"
    assert detect_format("x", {"end_device_ids": {}}) == "ttn"
    with pytest.raises(DecodeError, match="unknown message format"):
        detect_format("x/y", {"a": 1})


@pytest.mark.parametrize(
    ("topic", "payload", "reason"),
    [
        ("v3/a@t/devices/d/up", b"{", "not JSON"),
        ("v3/a@t/devices/d/up", b"[1]", "expected an object"),
        ("v3/a@t/devices/d/up", b"\xff\xfe", "not UTF-8"),
        ("v3/a@t/devices/d/up", b'{"x": NaN}', "NaN"),
        ("v3/a@t/devices/d/up", b'{"uplink_message": {}}', "end_device_ids: missing"),
        ("v3/a@t/devices/d/up", ttn_up(f_cnt="seven"), "uplink_message.f_cnt: expected an integer"),
        ("v3/a@t/devices/d/up", ttn_up(frm_payload="!!!"), "frm_payload: invalid base64"),
        ("v3/a@t/devices/d/up", ttn_up(received_at="yesterday"), "expected an ISO 8601 time"),
        (
            "v3/a@t/devices/d/up",
            ttn_up(decoded_payload=[1, 2]),
            "decoded_payload: expected an object",
        ),
        ("v3/a@t/devices/d/up", b" " * (256 * 1024 + 1), "exceeds the limit"),
        ("x", b"{}", "unknown message format"),
    ],
)
def test_malformed_messages_raise_decode_error_naming_topic_and_field(topic, payload, reason):
    with pytest.raises(DecodeError, match=reason) as info:
        decode(topic, payload)
    assert str(info.value).startswith(topic + ": ")
    assert "\n" not in str(info.value)


def test_unknown_format_option():
    with pytest.raises(DecodeError, match="unknown format 'lora'"):
        decode("x", b"{}", fmt="lora")


def test_received_at_is_used_when_the_network_gives_no_time():
    body = b'{"devEui": "a84041f621857cd2"}'
    m = decode("application/a/device/a84041f621857cd2/command/down", body, received_at=T0)
    assert m.time == T0 and m.received_at == T0


def test_lone_surrogates_from_json_escapes_are_replaced():
    body = (
        b'{"end_device_ids": {"device_id": "d\\ud800x"}, "uplink_message": '
        b'{"decoded_payload": {"s": "\\udc00", "emoji": "\\ud83d\\ude00"}}}'
    )
    m = decode("v3/a@ttn/devices/d/up", body)
    assert m.device_id == "d\ufffdx"
    assert values(m) == {"s": ("\ufffd", ""), "emoji": ("\U0001f600", "")}


@pytest.mark.parametrize(
    "module",
    [
        "twin.sensors.decode",
        "twin.sensors.decode.values",
        "twin.sensors.decode.cayenne",
        "twin.sensors.registry",
    ],
)
def test_docstring_examples_run(module):
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


# --- strictness of network-server fields ------------------------------------------------------


def _without(body: bytes, *path: str) -> bytes:
    obj = json.loads(body)
    inner = obj
    for key in path[:-1]:
        inner = inner[key]
    del inner[path[-1]]
    return json.dumps(obj).encode()


def _with(body: bytes, value, *path: str) -> bytes:
    obj = json.loads(body)
    inner = obj
    for key in path[:-1]:
        inner = inner[key]
    inner[path[-1]] = value
    return json.dumps(obj).encode()


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        (_with(ttn_up(), 12, "received_at"), "received_at"),
        (_with(ttn_up(), 12, "uplink_message", "received_at"), "uplink_message.received_at"),
        (
            _with(_without(ttn_up(), "received_at"), 1.5e9, "uplink_message", "received_at"),
            "uplink_message.received_at",
        ),
        (_with(ttn_up(), True, "received_at"), "received_at"),
        (
            _with(
                _without(_without(ttn_up(), "received_at"), "uplink_message", "received_at"),
                {"t": 1},
                "uplink_message",
                "settings",
            ),
            None,
        ),
    ],
)
def test_ttn_times_must_be_rfc3339_strings(payload, field):
    if field is None:  # settings without a time: falls back to our reception time
        assert decode("v3/a@t/devices/d1/up", payload, received_at=T0).time == T0
        return
    with pytest.raises(DecodeError, match=rf": {field}: expected an RFC 3339 time string, got "):
        decode("v3/a@t/devices/d1/up", payload)


def test_ttn_event_time_must_be_rfc3339():
    body = b'{"end_device_ids": {"device_id": "d1"}, "received_at": 12, "join_accept": {}}'
    with pytest.raises(DecodeError, match="received_at: expected an RFC 3339 time string, got 12"):
        decode("v3/a@t/devices/d1/join", body)


def test_chirpstack_times_must_be_rfc3339_strings():
    with pytest.raises(DecodeError, match=r"event/up: time: expected an RFC 3339 time string"):
        decode("application/app/device/a84041f621857cd2/event/up", cs_up(time=1714809600))
    gw = _without(cs_up(rxInfo=[{"gwTime": 1714809600, "rssi": -90}]), "time")
    with pytest.raises(DecodeError, match=r"rxInfo\[0\]\.gwTime: expected an RFC 3339 time"):
        decode("application/app/device/a84041f621857cd2/event/up", gw)


def test_chirpstack_uplink_without_device_info_is_rejected():
    body = _without(cs_up(object={"temperature": 20.5}), "deviceInfo")
    topic = "application/app/device/a84041f621857cd2/event/up"
    with pytest.raises(DecodeError, match=rf"^{topic}: deviceInfo: missing; expected an object"):
        decode(topic, body)
    with pytest.raises(DecodeError, match="deviceInfo: missing"):
        decode(topic, body, fmt="chirpstack")


def test_chirpstack_codec_error_log_without_device_info_is_an_event():
    log = b'{"time": "2026-05-04T08:00:00Z", "level": "ERROR", "code": "UPLINK_CODEC"}'
    m = decode("application/app/device/a84041f621857cd2/event/up", log)
    assert (m.kind, m.event_type, m.dev_eui) == ("event", "log", "A84041F621857CD2")
