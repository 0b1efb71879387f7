"""Wire format of simulated uplinks: The Things Stack v3 and ChirpStack v4 JSON, Cayenne LPP.

The simulator produces the same MQTT messages a real network server would publish:

* The Things Stack v3 on ``v3/{application id}@{tenant}/devices/{device id}/up`` with
  ``end_device_ids``, ``correlation_ids`` (``as:up:<ULID>`` …), ``received_at`` and an
  ``uplink_message`` holding ``f_port``, ``f_cnt``, ``frm_payload`` (base64),
  ``decoded_payload`` (as a payload formatter would give it), ``rx_metadata`` per gateway,
  ``settings``, ``locations`` and ``network_ids``. Like the real server it leaves out fields
  that are zero, false or empty.
* ChirpStack v4 on ``application/{application id}/device/{devEui}/event/up`` with
  ``deduplicationId``, ``time``, ``deviceInfo``, ``devAddr``, ``fCnt``, ``fPort``, ``data``
  (base64), ``object`` (the codec's output), ``rxInfo`` and ``txInfo``.

The radio payload is Cayenne LPP (one channel per quantity); the decoded values are exactly
what the bytes hold, so a decoder reading either gets the same numbers. Malformed variants
(:func:`corrupt`) exercise the ingest's dead-letter path.
"""

from __future__ import annotations

import base64
import functools
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np

#: quantity → (LPP type, bytes, scale, signed, unit factor from our unit to the LPP unit).
LPP_LAYOUT: dict[str, tuple[int, int, float, bool, float]] = {
    "temperature": (103, 2, 0.1, True, 1.0),
    "water_temperature": (103, 2, 0.1, True, 1.0),
    "humidity": (104, 1, 0.5, False, 1.0),
    "pressure": (115, 2, 0.1, False, 1.0),
    "co2": (125, 2, 1.0, False, 1.0),
    "pm25": (2, 2, 0.01, True, 1.0),
    "pm10": (2, 2, 0.01, True, 1.0),
    "no2": (2, 2, 0.01, True, 1.0),
    "laeq": (2, 2, 0.01, True, 1.0),
    "lamax": (2, 2, 0.01, True, 1.0),
    "wind_speed": (2, 2, 0.01, True, 1.0),
    "occupied": (100, 4, 1.0, False, 1.0),
    "free": (100, 4, 1.0, False, 1.0),
    "occupancy": (120, 1, 1.0, False, 1.0),
    "water_level": (130, 4, 0.001, False, 0.01),  # cm → m
    "bike_rate": (100, 4, 1.0, False, 1.0),
    "bikes_today": (100, 4, 1.0, False, 1.0),
    "blocked": (0, 1, 1.0, False, 1.0),
    "battery": (116, 2, 0.01, False, 1.0),
    "power": (100, 4, 1.0, False, 1000.0),  # kW → W
    "energy": (131, 4, 0.001, False, 1.0),
}
#: Quantities derived by the payload formatter, not sent on air.
DERIVED = {"status": ("blocked", {0: "free", 1: "blocked"})}
#: Crockford's base32 alphabet of ULIDs.
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


@dataclass(frozen=True)
class Gateway:
    """A LoRaWAN gateway of the simulated network."""

    gateway_id: str
    eui: str
    lat: float
    lon: float
    altitude: float = 0.0


@dataclass(frozen=True)
class Uplink:
    """One uplink as sent by a device and heard by the network (format independent).

    Parameters
    ----------
    device_id, dev_eui, application_id : str
        Identity of the device on the network server.
    time : float
        UTC seconds since the epoch when the gateways heard it.
    f_cnt, f_port : int
        Frame counter and port.
    payload : bytes
        The radio payload (Cayenne LPP).
    decoded : dict
        What the payload formatter (TTN) or codec (ChirpStack) made of it.
    rx : list of (Gateway, rssi, snr)
        The gateways that heard it.
    lat, lon : float or None
        The device's registered position (TTN sends it as ``locations.user``).
    token : int
        128 random bits for the ids (ULIDs, UUIDs, tokens), from the device's generator.
    spreading_factor : int
        LoRa spreading factor (7–12).
    """

    device_id: str
    dev_eui: str
    application_id: str
    time: float
    f_cnt: int
    f_port: int
    payload: bytes
    decoded: dict[str, Any]
    rx: tuple[tuple[Gateway, float, float], ...]
    lat: float | None = None
    lon: float | None = None
    token: int = 0
    spreading_factor: int = 7


@functools.lru_cache(maxsize=8192)
def _second_text(whole: int) -> str:
    return datetime.fromtimestamp(whole, UTC).strftime("%Y-%m-%dT%H:%M:%S")


def rfc3339(epoch: float, digits: int = 9) -> str:
    """Format UTC epoch seconds as RFC 3339 with ``Z`` (``2024-01-22T07:06:25.260676101Z``)."""
    whole = math.floor(epoch)
    base = _second_text(whole)
    if digits <= 0:
        return base + "Z"
    frac = min(round((epoch - whole) * 10**digits), 10**digits - 1)
    return f"{base}.{frac:0{digits}d}Z"


#: Two Crockford base32 characters for each 10-bit value.
_CROCKFORD2 = [a + b for a in _CROCKFORD for b in _CROCKFORD]


def ulid(epoch: float, bits: int) -> str:
    """Return a ULID (48-bit milliseconds + 80 random bits) in Crockford base32, as TTN uses."""
    value = (int(epoch * 1000) & ((1 << 48) - 1)) << 80 | (bits & ((1 << 80) - 1))
    pairs = _CROCKFORD2
    return "".join([pairs[(value >> shift) & 1023] for shift in _SHIFTS])


_SHIFTS = tuple(range(120, -1, -10))


def uuid_text(bits: int) -> str:
    """Return a version-4 UUID string from 128 bits (as ChirpStack's deduplication ids)."""
    h = f"{bits & ((1 << 128) - 1):032x}"
    h = h[:12] + "4" + h[13:16] + "89ab"[int(h[16], 16) & 3] + h[17:]
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def encode_lpp(values: dict[str, Any]) -> tuple[bytes, dict[str, Any]]:
    """Encode values as Cayenne LPP and return them as a formatter would decode them.

    Parameters
    ----------
    values : dict
        Quantity → number (text quantities of :data:`DERIVED` are rebuilt from their
        source); quantities without an LPP layout are passed through undecoded.

    Returns
    -------
    bytes
        The LPP frame, one channel per quantity in the given order (channel 1, 2, …).
    dict
        The values exactly as the bytes hold them (quantised to each type's resolution).
    """
    frame = bytearray()
    decoded: dict[str, Any] = {}
    channel = 0
    for name, value in values.items():
        layout = LPP_LAYOUT.get(name)
        if layout is None or value is None or isinstance(value, str):
            continue
        lpp_type, size, scale, signed, factor = layout
        raw = round(float(value) * factor / scale)
        lo, hi = (
            (-(1 << (8 * size - 1)), (1 << (8 * size - 1)) - 1)
            if signed
            else (0, (1 << 8 * size) - 1)
        )
        raw = min(max(raw, lo), hi)
        channel += 1
        frame += bytes((channel, lpp_type)) + raw.to_bytes(size, "big", signed=signed)
        number = raw * scale / factor
        decoded[name] = round(number) if scale * 1.0 / factor >= 1 else round(number, 6)
    for name, (source, names) in DERIVED.items():
        if name in values and source in decoded:
            decoded[name] = names.get(int(decoded[source]), str(decoded[source]))
    for name, value in values.items():
        decoded.setdefault(name, value)
    return bytes(frame), {k: decoded[k] for k in values}


def _dump(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


def ttn_topic(application_id: str, tenant: str, device_id: str, event: str = "up") -> str:
    """``v3/{application id}@{tenant}/devices/{device id}/{event}``."""
    return f"v3/{application_id}@{tenant}/devices/{device_id}/{event}"


@functools.lru_cache(maxsize=4096)
def _q(text: str) -> str:
    """Return a JSON string literal."""
    return json.dumps(text, ensure_ascii=False)


@functools.lru_cache(maxsize=256)
def _ttn_gateway(gw: Gateway) -> tuple[str, str]:
    """Return the static JSON parts of a gateway's ``rx_metadata`` entry (ids, location)."""
    ids = f'{{"gateway_ids":{{"gateway_id":{_q(gw.gateway_id)},"eui":{_q(gw.eui)}}},"time":'
    location = (
        f'"location":{{"latitude":{gw.lat!r},"longitude":{gw.lon!r},'
        f'"altitude":{gw.altitude!r},"source":"SOURCE_REGISTRY"}}'
    )
    return ids, location


def encode_ttn(up: Uplink, *, tenant: str = "ttn") -> tuple[str, bytes]:
    """Encode a The Things Stack v3 uplink message (topic, JSON bytes) as its MQTT server sends it.

    Zero, false and empty fields are omitted, as The Things Stack does (an ``f_cnt`` of 0 is
    absent from the JSON). The JSON is assembled from string parts, not through a nested
    dict, which makes it about four times faster to produce.
    """
    tok = up.token
    received = up.time + 0.05 + (tok & 0xFF) / 10_000
    gw_time = rfc3339(up.time, 6)
    timestamp = int((up.time * 1e6) % 2**32)
    channel = (tok >> 16) % 8
    rx = []
    for i, (gw, rssi, snr) in enumerate(up.rx):
        ids, location = _ttn_gateway(gw)
        token = base64.b64encode(
            gw.eui.encode() + ((tok >> (8 * i)) & 0xFFFFFFFF).to_bytes(4, "big")
        ).decode()
        r = int(rssi)
        rx.append(
            f'{ids}"{gw_time}","timestamp":{timestamp},"rssi":{r},"channel_rssi":{r},'
            f'"snr":{snr!r},{location},"uplink_token":"{token}","channel_index":{channel},'
            f'"received_at":"{rfc3339(up.time + 0.02 + 0.001 * i)}"}}'
        )
    parts = [
        '{"end_device_ids":{"device_id":',
        _q(up.device_id),
        ',"application_ids":{"application_id":',
        _q(up.application_id),
        f'}},"dev_eui":"{up.dev_eui.upper()}","join_eui":"70B3D57ED0000000",'
        f'"dev_addr":"260B{(tok >> 40) & 0xFFFF:04X}"}},',
        f'"correlation_ids":["as:up:{ulid(received, tok >> 8)}",'
        f'"gs:uplink:{ulid(up.time, tok >> 24)}","ns:uplink:{ulid(up.time + 0.01, tok >> 32)}"],',
        f'"received_at":"{rfc3339(received)}","uplink_message":{{',
        '"session_key_id":"',
        base64.b64encode((tok & ((1 << 128) - 1)).to_bytes(16, "big")).decode(),
        '"',
    ]
    if up.f_port:
        parts.append(f',"f_port":{int(up.f_port)}')
    if up.f_cnt:
        parts.append(f',"f_cnt":{int(up.f_cnt)}')
    if up.payload:
        parts.append(f',"frm_payload":"{base64.b64encode(up.payload).decode()}"')
    if up.decoded:
        parts.append(',"decoded_payload":')
        parts.append(_dump(up.decoded).decode())
    parts.append(',"rx_metadata":[')
    parts.append(",".join(rx))
    parts.append(
        f'],"settings":{{"data_rate":{{"lora":{{"bandwidth":125000,'
        f'"spreading_factor":{int(up.spreading_factor)},"coding_rate":"4/5"}}}},'
        f'"frequency":"{867100000 + 200000 * channel}","timestamp":{timestamp},'
        f'"time":"{gw_time}"}},"received_at":"{rfc3339(received - 0.02)}",'
        f'"consumed_airtime":"{0.0617 * 2 ** (up.spreading_factor - 7):.6f}s",'
        '"network_ids":{"net_id":"000013","ns_id":"EC656E0000000181","tenant_id":'
    )
    parts.append(_q(tenant))
    parts.append(',"cluster_id":"eu1","cluster_address":"eu1.cloud.thethings.network"}')
    if up.lat is not None and up.lon is not None:
        parts.append(
            f',"locations":{{"user":{{"latitude":{float(up.lat)!r},'
            f'"longitude":{float(up.lon)!r},"source":"SOURCE_REGISTRY"}}}}'
        )
    parts.append("}}")
    return ttn_topic(up.application_id, tenant, up.device_id), "".join(parts).encode()


def chirpstack_topic(application_id: str, dev_eui: str, event: str = "up") -> str:
    """``application/{application id}/device/{devEui}/event/{event}`` (DevEUI lower case)."""
    return f"application/{application_id}/device/{dev_eui.lower()}/event/{event}"


def _chirpstack_device(up: Uplink, tenant_id: str) -> dict[str, Any]:
    """Return ChirpStack v4's ``deviceInfo`` object of a simulated device."""
    return {
        "tenantId": tenant_id,
        "tenantName": "Stadt Ludwigshafen",
        "applicationId": up.application_id,
        "applicationName": "twin-demo",
        "deviceProfileId": uuid_text(int.from_bytes(up.dev_eui.encode()[:16], "big")),
        "deviceProfileName": "Cayenne LPP",
        "deviceName": up.device_id,
        "devEui": up.dev_eui.lower(),
        "deviceClassEnabled": "CLASS_A",
        "tags": {},
    }


def encode_chirpstack(
    up: Uplink, *, tenant_id: str = "52f14cd4-c6f1-4fbd-8f87-4025e1d49242"
) -> tuple[str, bytes]:
    """ChirpStack v4 ``event/up`` message (topic, JSON bytes) as its MQTT integration sends it.

    ``application_id`` should be a UUID, as ChirpStack's are.
    """
    tok = up.token
    time_text = datetime.fromtimestamp(up.time, UTC).isoformat()
    rx_info = [
        {
            "gatewayId": gw.eui.lower(),
            "uplinkId": (tok >> (16 * i)) & 0xFFFF,
            "gwTime": time_text,
            "nsTime": datetime.fromtimestamp(up.time + 0.03 + 0.002 * i, UTC).isoformat(),
            "rssi": int(rssi),
            "snr": snr,
            "channel": (tok >> 16) % 8,
            "location": {"latitude": gw.lat, "longitude": gw.lon, "altitude": gw.altitude},
            "context": base64.b64encode(
                ((tok >> (8 * i)) & 0xFFFFFFFF).to_bytes(4, "big")
            ).decode(),
            "metadata": {"region_config_id": "eu868", "region_common_name": "EU868"},
            "crcStatus": "CRC_OK",
        }
        for i, (gw, rssi, snr) in enumerate(up.rx)
    ]
    body: dict[str, Any] = {
        "deduplicationId": uuid_text(tok),
        "time": time_text,
        "deviceInfo": _chirpstack_device(up, tenant_id),
        "devAddr": f"01{(tok >> 40) & 0xFFFFFF:06x}",
        "adr": True,
        "dr": 12 - up.spreading_factor,
        "fCnt": up.f_cnt,
        "fPort": up.f_port,
        "confirmed": False,
        "data": base64.b64encode(up.payload).decode(),
        "object": up.decoded,
        "rxInfo": rx_info,
        "txInfo": {
            "frequency": 867100000 + 200000 * ((tok >> 16) % 8),
            "modulation": {
                "lora": {
                    "bandwidth": 125000,
                    "spreadingFactor": up.spreading_factor,
                    "codeRate": "CR_4_5",
                }
            },
        },
        "regionConfigId": "eu868",
    }
    return chirpstack_topic(up.application_id, up.dev_eui), _dump(body)


def encode_join(
    up: Uplink,
    fmt: str,
    *,
    tenant: str = "ttn",
    tenant_id: str = "52f14cd4-c6f1-4fbd-8f87-4025e1d49242",
) -> tuple[str, bytes]:
    """Encode the join (OTAA session start) that precedes ``up``, as the network server sends it.

    The Things Stack v3: topic ``…/join`` with ``join_accept``; ChirpStack v4: ``event/join``
    with ``devAddr``. The join happens at ``up.time`` (the caller puts the uplink after it).
    """
    tok = up.token
    if fmt == "ttn":
        body = {
            "end_device_ids": {
                "device_id": up.device_id,
                "application_ids": {"application_id": up.application_id},
                "dev_eui": up.dev_eui.upper(),
                "join_eui": "70B3D57ED0000000",
                "dev_addr": f"260B{(tok >> 40) & 0xFFFF:04X}",
            },
            "correlation_ids": [f"as:up:{ulid(up.time + 0.05, tok >> 8)}"],
            "received_at": rfc3339(up.time + 0.05),
            "join_accept": {
                "session_key_id": base64.b64encode(
                    ((tok >> 3) & ((1 << 128) - 1)).to_bytes(16, "big")
                ).decode(),
                "received_at": rfc3339(up.time + 0.03),
            },
        }
        return ttn_topic(up.application_id, tenant, up.device_id, "join"), _dump(body)
    body = {
        "deduplicationId": uuid_text(tok ^ 0x5A5A5A5A),
        "time": datetime.fromtimestamp(up.time, UTC).isoformat(),
        "deviceInfo": _chirpstack_device(up, tenant_id),
        "devAddr": f"01{(tok >> 40) & 0xFFFFFF:06x}",
    }
    return chirpstack_topic(up.application_id, up.dev_eui, "join"), _dump(body)


#: Kinds of malformed messages :func:`corrupt` produces.
FAULT_KINDS = (
    "truncated",
    "garbage",
    "empty",
    "not-an-object",
    "wrong-type",
    "bad-counter",
    "bad-time",
)


def corrupt(payload: bytes, fmt: str, rng: np.random.Generator) -> tuple[str, bytes]:
    """Make a malformed variant of a valid uplink that any decoder must reject.

    Parameters
    ----------
    payload : bytes
        A valid TTN v3 or ChirpStack v4 uplink.
    fmt : {"ttn", "chirpstack"}
        Its format.
    rng : numpy.random.Generator
        Chooses the kind of fault.

    Returns
    -------
    (str, bytes)
        The fault kind (one of :data:`FAULT_KINDS`) and the malformed payload.
    """
    kind = FAULT_KINDS[int(rng.integers(len(FAULT_KINDS)))]
    if kind == "truncated":
        cut = int(rng.integers(1, max(len(payload) - 1, 2)))
        return kind, payload[:cut]
    if kind == "garbage":
        return kind, b"\xff\xfe" + rng.bytes(int(rng.integers(8, 200)))
    if kind == "empty":
        return kind, b""
    if kind == "not-an-object":
        return kind, [b"[]", b"42", b'"uplink"', b"null", b"[1,2,3]"][int(rng.integers(5))]
    body = json.loads(payload)
    if kind == "wrong-type":
        if fmt == "ttn":
            body["uplink_message"] = "f_cnt=" + str(rng.integers(1000))
        else:
            body["deviceInfo"] = ["not", "an", "object"]
    elif kind == "bad-counter":
        counter = ["seven", -1, 2**40, 1.5][int(rng.integers(4))]
        if fmt == "ttn":
            body["uplink_message"]["f_cnt"] = counter
        else:
            body["fCnt"] = counter
    elif kind == "bad-time":
        if fmt == "ttn":
            body["received_at"] = "yesterday at noon"
            body["uplink_message"]["received_at"] = "yesterday at noon"
            for meta in body["uplink_message"].get("rx_metadata", []):
                meta["time"] = meta["received_at"] = "soon"
            body["uplink_message"]["settings"]["time"] = "soon"
        else:
            body["time"] = "yesterday at noon"
            for info in body.get("rxInfo", []):
                info["gwTime"] = info["nsTime"] = "soon"
    return kind, _dump(body)


def signal(distance_m: Sequence[float], rng: np.random.Generator) -> list[tuple[int, float]]:
    """Plausible RSSI (dBm) and SNR (dB) for urban links of the given lengths (868 MHz).

    Parameters
    ----------
    distance_m : sequence of float
        Link lengths in metres.
    rng : numpy.random.Generator
        Draws the fading.

    Returns
    -------
    list of (int, float)
        RSSI rounded to whole dBm and SNR to 0.25 dB, per link.
    """
    fading = rng.standard_normal(2 * len(distance_m)).tolist()
    out = []
    for i, d in enumerate(distance_m):
        loss = 120.0 + 35.0 * math.log10(max(d, 30.0) / 1000.0)
        rssi = min(round(14.0 - loss + 4.0 * fading[2 * i]), -30)
        snr = min(max((rssi + 117.0) / 2.0 + 1.5 * fading[2 * i + 1], -20.0), 10.0)
        out.append((rssi, round(snr * 4) / 4))
    return out
