"""The TTN uplink fast path (msgspec, only the fields twin keeps) against the full decoder.

Whatever :func:`twin.sensors.decode.ttn_fast.decode_ttn_up` accepts must decode exactly as
the full path (orjson → dict → :func:`~twin.sensors.decode.ttn.decode_ttn`) does; whatever
it refuses goes the full way. Compared on simulated and real bodies, mutated field by field
and at the level of the JSON text.
"""

from __future__ import annotations

import copy
import json
import random
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import twin.sensors.decode as dec
from tests.conftest import realdata_path
from twin.errors import DecodeError
from twin.sensors.decode import decode
from twin.sensors.decode.ttn_fast import decode_ttn_up
from twin.sensors.registry import Device, Quantity, Registry
from twin.sensors.simulator import Simulator

NOW = datetime(2027, 6, 15, 12, tzinfo=UTC)
T0 = datetime(2027, 6, 15, tzinfo=UTC).timestamp()
REGISTRY = Registry(
    [
        Device("ls-co2-schule-mitte", "A81758FFFE0A0101", quantities={"co2": Quantity("ppm")}),
        Device("lpp-1", "70B3D57ED0000001", codec="lpp"),
    ]
)


def _simulated(count: int = 300) -> list[tuple[str, bytes]]:
    sim = Simulator(seed=5, fmt="ttn", joins=0.0)
    return [(m.topic, m.payload) for m in sim.stream(T0, rate=10.0, count=count) if not m.event]


SIMULATED = _simulated()


def _outcome(topic: str, payload: bytes, registry: Registry | None, *, fast: bool):
    """``decode()``'s result or error text, with the fast path on or off."""
    saved = dec.decode_ttn_up
    if not fast:
        dec.decode_ttn_up = lambda *a: None
    try:
        return ("ok", decode(topic, payload, registry=registry, received_at=NOW))
    except DecodeError as err:
        return ("error", str(err))
    finally:
        dec.decode_ttn_up = saved


def _same(topic: str, payload: bytes, registry: Registry | None = None) -> bool:
    """Assert both paths agree; return whether the fast path took the message."""
    fast = _outcome(topic, payload, registry, fast=True)
    full = _outcome(topic, payload, registry, fast=False)
    assert fast == full, (topic, payload[:300])
    taken = decode_ttn_up(topic, payload, registry, NOW)
    if taken is not None:
        assert full == ("ok", taken), (topic, payload[:300])
    return taken is not None


def test_the_usual_simulated_uplink_takes_the_fast_path_and_decodes_alike():
    taken = [_same(t, p, reg) for t, p in SIMULATED for reg in (None, REGISTRY)]
    assert all(taken)  # a fast path that never engages would pass every other test
    message = decode_ttn_up(*SIMULATED[0], None, NOW)
    assert message.kind == "uplink" and message.readings and message.gateways >= 1


def test_the_cayenne_lpp_vectors_of_the_ttn_docs_decode_alike():
    for frm, expected in (
        ("A2cBEAVnAP8=", {"temperature_3": 27.2, "temperature_5": 25.5}),
        ("AHMnvwBnAN4=", {"barometric_pressure_0": 1017.5, "temperature_0": 22.2}),
    ):
        body = {
            "end_device_ids": {"device_id": "lpp-1", "application_ids": {"application_id": "a"}},
            "uplink_message": {
                "f_port": 1, "f_cnt": 3, "frm_payload": frm,
                "received_at": "2027-06-15T00:00:00Z",
            },
        }  # fmt: skip
        payload = json.dumps(body).encode()
        assert _same("v3/a@ttn/devices/lpp-1/up", payload, REGISTRY)
        message = decode_ttn_up("v3/a@ttn/devices/lpp-1/up", payload, REGISTRY, NOW)
        assert {r.quantity: r.value for r in message.readings} == pytest.approx(expected)


def test_real_ttn_captures_decode_alike():
    bodies = []
    for name in ("ttn_v3_uplink_docs_example.json", "iobroker_captured_messages.jsonl"):
        for line in realdata_path(f"lorawan/{name}").read_text().splitlines() or []:
            obj = _json_or_none(line)
            for cand in (obj, *(obj.values() if isinstance(obj, dict) else ())):
                if isinstance(cand, dict) and "uplink_message" in cand:
                    bodies.append(cand)
    whole = _json_or_none(realdata_path("lorawan/ttn_v3_uplink_docs_example.json").read_text())
    if isinstance(whole, dict) and "uplink_message" in whole:
        bodies.append(whole)
    assert bodies
    for body in bodies:
        device = body.get("end_device_ids", {}).get("device_id", "d")
        _same(f"v3/app@ttn/devices/{device}/up", json.dumps(body, ensure_ascii=False).encode())


def _json_or_none(text: str):
    try:
        return json.loads(text)
    except ValueError:
        return None


# --- mutations of the parsed body -------------------------------------------------------

VALUES = [
    None, "", "x", 0, -1, 255, 256, 2**32, 2**32 + 1, 2**64, 1.5, -0.0, True, [], {},
    "AAEC", "A=", "@@", "2027-01-01T00:00:00Z", "2027-01-01T00:00:00+02:00",
    "2027-01-01T00:00:00", "as:up:1", 1e308, "12", "é", "x" * 600, [{"rssi": 1}], {"a": {}},
]  # fmt: skip


def _paths(obj, prefix=()):
    if isinstance(obj, dict):
        for key, value in obj.items():
            yield (*prefix, key)
            yield from _paths(value, (*prefix, key))
    elif isinstance(obj, list):
        for i, value in enumerate(obj):
            yield (*prefix, i)
            yield from _paths(value, (*prefix, i))


def _mutate(body: dict, rng: random.Random) -> dict:
    body = copy.deepcopy(body)
    for _ in range(rng.randint(1, 3)):
        paths = list(_paths(body))
        if not paths:
            break
        path = rng.choice(paths)
        parent = body
        for key in path[:-1]:
            parent = parent[key]
        if rng.random() < 0.3 and isinstance(parent, dict):
            parent.pop(path[-1], None)
        else:
            parent[path[-1]] = copy.deepcopy(rng.choice(VALUES))
    return body


def test_mutated_bodies_decode_alike():
    rng = random.Random(20261127)
    topics = ["v3/app@ttn/devices/{}/up", "v3/app@ttn/devices/other/up", "v3/a/devices/{}/join"]
    taken = 0
    for _topic, payload in SIMULATED[:60]:
        body = json.loads(payload)
        device = body["end_device_ids"]["device_id"]
        for _ in range(60):
            mutated = _mutate(body, rng)
            text = json.dumps(mutated, ensure_ascii=False).encode()
            chosen = rng.choice(topics).format(device)
            taken += _same(chosen, text, rng.choice([None, REGISTRY]))
    assert taken > 100  # many mutations keep the usual shape: both paths were compared


# --- mutations of the JSON text ---------------------------------------------------------

TEXT_EDITS = st.sampled_from(
    [
        ("prefix", b"\xef\xbb\xbf"),  # a byte order mark
        ("suffix", b"x"),
        ("suffix", b" {}"),
        ("suffix", b"\n"),
        ("replace", (b'"f_cnt":', b'"f_cnt":1,"f_cnt":')),  # duplicate keys: the last counts
        ("replace", (b'"device_id":"', b'"device_id":"\\u00e9')),
        ("replace", (b'"device_id":"', b'"device_id":"\\ud800')),
        ("replace", (b'"device_id":"', b'"device_id":"\t')),  # a raw control character
        ("replace", (b'"device_id":"', b'"device_id":"\xff')),  # not UTF-8
        ("replace", (b'"rssi":', b'"rssi":1e400,"x":')),
        ("replace", (b'"rssi":', b'"rssi":-0.0e-0,"x":')),
        ("replace", (b'"f_port":', b'"f_port":1.0,"x":')),
        ("replace", (b'"f_cnt":', b'"f_cnt":123456789012345678901234567890,"x":')),
        ("replace", (b'"snr":', b'"snr":NaN,"x":')),
        ("replace", (b'"decoded_payload":{', b'"decoded_payload":{"big":1e400,')),
        ("replace", (b'"decoded_payload":{', b'"decoded_payload":{"deep":[[[[[[[[[[1]]]]]]]]]],')),
        ("replace", (b'"decoded_payload":{', b'"decoded_payload":{"v":"30.11 \xc2\xb0C",')),
        ("replace", (b'"received_at":"', b'"received_at":"2027-13-01T00:00:00Z","y":"')),
        ("replace", (b'"correlation_ids":[', b'"correlation_ids":[1,')),
        ("replace", (b'"rx_metadata":[', b'"rx_metadata":[7,')),
        ("replace", (b'"rx_metadata":[', b'"rx_metadata":[{"rssi":true},')),
        ("replace", (b'{"end_device_ids"', b'{"result":{},"end_device_ids"')),
        ("truncate", None),
    ]
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    index=st.integers(0, len(SIMULATED) - 1),
    edits=st.lists(TEXT_EDITS, min_size=1, max_size=3),
    number=st.floats(allow_nan=False, allow_infinity=False),
    cut=st.integers(0, 2000),
)
def test_edited_json_text_decodes_alike(index, edits, number, cut):
    topic, payload = SIMULATED[index]
    # Any float written as Python writes it: both parsers must round alike.
    payload = payload.replace(b'"decoded_payload":{', b'"decoded_payload":{"f":%r,' % number, 1)
    for kind, arg in edits:
        if kind == "prefix":
            payload = arg + payload
        elif kind == "suffix":
            payload = payload + arg
        elif kind == "replace":
            payload = payload.replace(arg[0], arg[1], 1)
        else:
            payload = payload[: min(cut, len(payload) - 1)]
    _same(topic, payload)
