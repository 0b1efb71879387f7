"""Property tests: whatever arrives, decode() returns a Message or raises DecodeError."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from twin.errors import DecodeError
from twin.sensors.decode import decode
from twin.sensors.model import Message
from twin.sensors.registry import Device, GenericRoute, Registry

REGISTRY = Registry(
    [Device("d1", "70B3D57ED0000001", codec="lpp")],
    [GenericRoute("city/{device}/data", time="t", fields={"x": "v.x"})],
)
TOPICS = st.one_of(
    st.text(max_size=60),
    st.sampled_from(
        [
            "v3/a@ttn/devices/d1/up",
            "v3/a@ttn/devices/d1/join",
            "v3/a@ttn/devices/d1/down/ack",
            "application/a/device/70b3d57ed0000001/event/up",
            "application/a/device/70b3d57ed0000001/event/status",
            "application/a/device/x/command/down",
            "city/d1/data",
        ]
    ),
)
JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(max_size=20)
    | st.sampled_from(["\ud800", "a\udfffb", "\ud83d\ude00"]),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)
KEYS = st.sampled_from(
    [
        "end_device_ids",
        "uplink_message",
        "device_id",
        "dev_eui",
        "f_cnt",
        "f_port",
        "frm_payload",
        "decoded_payload",
        "rx_metadata",
        "received_at",
        "deviceInfo",
        "devEui",
        "deviceName",
        "fCnt",
        "fPort",
        "data",
        "object",
        "rxInfo",
        "time",
        "devEUI",
        "objectJSON",
        "result",
        "correlation_ids",
        "level",
        "code",
        "location",
        "t",
        "v",
        "x",
        "locations",
    ]
)
# Bodies shaped like the real formats, with wrong types anywhere.
SHAPED = st.recursive(
    JSON_VALUES,
    lambda children: st.dictionaries(KEYS, children, max_size=6),
    max_leaves=30,
)


def check(topic, payload):
    try:
        message = decode(topic, payload, registry=REGISTRY)
    except DecodeError as err:
        assert str(err) and "\n" not in str(err)
        return
    assert isinstance(message, Message)
    assert message.kind in ("uplink", "event")
    assert message.time.tzinfo is not None
    # Everything must be storable as UTF-8 (lone surrogates from JSON escapes are replaced).
    texts = [message.topic, message.device_id, message.dev_eui or ""]
    texts += [x for r in message.readings for x in (r.quantity, r.unit, r.text or "")]
    for text in texts:
        text.encode("utf-8")


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(topic=TOPICS, payload=st.binary(max_size=300))
def test_arbitrary_bytes(topic, payload):
    check(topic, payload)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(topic=TOPICS, body=SHAPED)
def test_arbitrary_json(topic, body):
    check(topic, json.dumps(body).encode())


@pytest.mark.slow
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    topic=TOPICS,
    up=st.dictionaries(KEYS, SHAPED, max_size=6),
    ids=st.dictionaries(KEYS, JSON_VALUES, max_size=4),
)
def test_ttn_and_chirpstack_shaped_bodies(topic, up, ids):
    check(
        topic,
        json.dumps({"end_device_ids": {"device_id": "d1", **ids}, "uplink_message": up}).encode(),
    )
    check(topic, json.dumps({"deviceInfo": {"devEui": "70b3d57ed0000001", **ids}, **up}).encode())


def test_deep_nesting_and_many_values_are_rejected_cleanly():
    deep = "[" * 5000 + "]" * 5000
    check("v3/a@ttn/devices/d1/up", deep.encode())
    nested = {"a": 1}
    for _ in range(30):
        nested = {"n": nested}
    body = {"end_device_ids": {"device_id": "d1"}, "uplink_message": {"decoded_payload": nested}}
    check("v3/a@ttn/devices/d1/up", json.dumps(body).encode())
    wide = {
        "end_device_ids": {"device_id": "d1"},
        "uplink_message": {"decoded_payload": {str(i): i for i in range(5000)}},
    }
    check("v3/a@ttn/devices/d1/up", json.dumps(wide).encode())
