"""Helpers shared by the wire-format decoders: JSON, base64, times, typed field access."""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import orjson

from twin.errors import DecodeError
from twin.sensors.decode.cayenne import decode_lpp, looks_like_lpp
from twin.sensors.decode.values import flatten
from twin.sensors.model import Reading
from twin.sensors.registry import Device, Registry, normalize_dev_eui

#: Payloads larger than this are rejected before parsing.
MAX_PAYLOAD = 256 * 1024

__all__ = [
    "MAX_PAYLOAD",
    "b64",
    "best_signal",
    "clean_text",
    "get_int",
    "get_obj",
    "get_str",
    "load_json",
    "location_of",
    "normalize_dev_eui",
    "parse_rfc3339",
    "parse_time",
    "unit_lookup",
]


def _reject_constant(name: str) -> Any:
    raise DecodeError(f"JSON constant {name} is not a number")


_JSON = json.JSONDecoder(parse_constant=_reject_constant)


def load_json(payload: bytes) -> dict[str, Any]:
    """Parse a message body that must be a JSON object.

    Parameters
    ----------
    payload : bytes

    Returns
    -------
    dict

    Raises
    ------
    DecodeError
        When the body is larger than :data:`MAX_PAYLOAD`, not UTF-8, not JSON, holds
        ``NaN``/``Infinity``, or is not an object.
    """
    if len(payload) > MAX_PAYLOAD:
        raise DecodeError(f"payload of {len(payload)} bytes exceeds the limit of {MAX_PAYLOAD}")
    # Fast path: orjson parses strict UTF-8 JSON about 4x faster than the json module and
    # refuses NaN/Infinity, lone surrogates, integers beyond 64 bits and deep nesting; anything
    # it refuses goes the slow way below, which accepts what the json module accepts (big
    # integers, escaped surrogates, replaced by U+FFFD) and words the errors.
    try:
        body = orjson.loads(payload)
    except orjson.JSONDecodeError:
        pass
    else:
        if type(body) is dict:
            return body
    if not payload.strip():
        raise DecodeError("empty payload; expected a JSON object")
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as err:
        raise DecodeError(f"payload is not UTF-8 at byte {err.start}") from err
    try:
        body = _JSON.decode(text)
    except DecodeError:
        raise
    except json.JSONDecodeError as err:
        raise DecodeError(
            f"payload is not JSON: {err.msg} at line {err.lineno} column {err.colno}"
        ) from err
    except (ValueError, RecursionError) as err:
        raise DecodeError(f"payload is not JSON: {err}") from err
    if not isinstance(body, dict):
        raise DecodeError(f"payload is JSON {type(body).__name__}; expected an object")
    if _SURROGATE_ESCAPE.search(text):
        body = _without_surrogates(body)
    return body


# JSON may escape UTF-16 surrogates (``"\\ud800"``); lone ones cannot be stored as UTF-8.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def clean_text(text: str) -> str:
    """Replace lone UTF-16 surrogates (not encodable as UTF-8) with U+FFFD."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    return text


def _without_surrogates(obj: Any) -> Any:
    if isinstance(obj, str):
        return clean_text(obj)
    if isinstance(obj, dict):
        return {clean_text(k): _without_surrogates(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_without_surrogates(v) for v in obj]
    return obj


def b64(value: Any, where: str) -> bytes:
    """Decode a base64 field (standard alphabet, padding required)."""
    if not isinstance(value, str):
        raise DecodeError(f"{where}: expected a base64 string, got {type(value).__name__}")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as err:
        raise DecodeError(f"{where}: invalid base64 ({err})") from err


def parse_time(value: Any, where: str) -> datetime:
    """Parse an ISO 8601 time (nanoseconds allowed) or epoch seconds/milliseconds.

    Naive times are taken as UTC; the result is timezone-aware UTC.
    """
    if isinstance(value, str):
        try:
            t = datetime.fromisoformat(value)
        except ValueError as err:
            raise DecodeError(f"{where}: expected an ISO 8601 time, got {value[:60]!r}") from err
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
        if not math.isfinite(seconds):
            raise DecodeError(f"{where}: expected a time, got {value!r}")
        if abs(seconds) > 1e11:  # milliseconds
            seconds /= 1000.0
        try:
            t = datetime.fromtimestamp(seconds, UTC)
        except (OverflowError, OSError, ValueError) as err:
            raise DecodeError(f"{where}: epoch time {value!r} out of range") from err
    else:
        raise DecodeError(f"{where}: expected a time, got {type(value).__name__}")
    if t.tzinfo is None:
        return t.replace(tzinfo=UTC)
    if t.tzinfo is UTC:
        return t
    try:
        return t.astimezone(UTC)
    except (OverflowError, ValueError) as err:
        raise DecodeError(f"{where}: time {value!r} out of range") from err


def parse_rfc3339(value: Any, where: str) -> datetime:
    """Parse a network-server time, which must be an RFC 3339 string (nanoseconds allowed).

    The Things Stack and ChirpStack always send times as RFC 3339 text; a number there is a
    malformed message, not an epoch time (unlike the generic format, see :func:`parse_time`).

    Raises
    ------
    DecodeError
        When ``value`` is not a string or not an ISO 8601/RFC 3339 time.
    """
    if not isinstance(value, str):
        shown = repr(value) if isinstance(value, (int, float)) else type(value).__name__
        raise DecodeError(f"{where}: expected an RFC 3339 time string, got {shown[:60]}")
    return parse_time(value, where)


def get_obj(body: dict[str, Any], key: str, where: str, *, required: bool = False) -> dict:
    """Return ``body[key]`` when it is an object (``{}`` when absent and not required)."""
    value = body.get(key)
    if value is None:
        if required:
            raise DecodeError(f"{where}{key}: missing; expected an object")
        return {}
    if not isinstance(value, dict):
        raise DecodeError(f"{where}{key}: expected an object, got {type(value).__name__}")
    return value


def get_str(body: dict[str, Any], key: str, where: str, *, required: bool = False) -> str | None:
    """Return ``body[key]`` when it is a string."""
    value = body.get(key)
    if value is None or value == "":
        if required:
            raise DecodeError(f"{where}{key}: missing; expected a string")
        return None
    if not isinstance(value, str):
        raise DecodeError(f"{where}{key}: expected a string, got {type(value).__name__}")
    if len(value) > 512:
        raise DecodeError(f"{where}{key}: string of {len(value)} characters is too long")
    return value


def get_int(body: dict[str, Any], key: str, where: str, *, lo: int = 0, hi: int = 2**32) -> int:
    """Return ``body[key]`` as an integer in ``lo..hi`` (None when absent)."""
    value = body.get(key)
    if value is None:
        return None  # type: ignore[return-value]
    if isinstance(value, str) and value.isdigit():  # protobuf JSON writes 64-bit ints as strings
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise DecodeError(f"{where}{key}: expected an integer, got {value!r:.40}")
    if not lo <= value <= hi:
        raise DecodeError(f"{where}{key}: expected {lo}…{hi}, got {value}")
    return value


def _num(value: Any) -> float | None:
    kind = type(value)
    if kind is float:
        return value if math.isfinite(value) else None
    if kind is not int:
        return None
    try:
        value = float(value)
    except OverflowError:
        return None
    return value if math.isfinite(value) else None


def best_signal(
    gateways: Any, rssi_key: str, snr_key: str, where: str
) -> tuple[float | None, float | None, int]:
    """Best RSSI and SNR over a list of gateway metadata objects, and their count."""
    if gateways is None:
        return None, None, 0
    if not isinstance(gateways, list):
        raise DecodeError(f"{where}: expected a list of gateways, got {type(gateways).__name__}")
    rssi = snr = None
    for gw in gateways:
        if not isinstance(gw, dict):
            continue
        r = _num(gw.get(rssi_key))
        s = _num(gw.get(snr_key))
        if r is not None and (rssi is None or r > rssi):
            rssi = r
        if s is not None and (snr is None or s > snr):
            snr = s
    return rssi, snr, len(gateways)


def location_of(obj: Any) -> tuple[float, float, float | None] | None:
    """``(lat, lon, alt)`` from an object with ``latitude``/``longitude`` (None if invalid)."""
    if not isinstance(obj, dict):
        return None
    lat, lon = _num(obj.get("latitude")), _num(obj.get("longitude"))
    if lat is None or lon is None or not (-90 <= lat <= 90 and -180 <= lon <= 180):
        return None
    if lat == 0 and lon == 0:
        return None
    return lat, lon, _num(obj.get("altitude"))


def location_from_readings(readings: list[Reading]) -> tuple[float, float, float | None] | None:
    """Device position from decoded GPS readings (``gps_1.latitude`` …), if any."""
    found: dict[str, dict[str, float]] = {}
    for r in readings:
        if r.value is None or "." not in r.quantity:
            continue
        head, axis = r.quantity.rsplit(".", 1)
        if axis in ("latitude", "longitude", "altitude"):
            found.setdefault(head, {})[axis] = r.value
    for parts in found.values():
        loc = location_of(parts)
        if loc is not None:
            return loc
    return None


def unit_lookup(device: Device | None) -> Callable[[str], str | None] | None:
    """Return a ``unit_for(quantity)`` function answering from the registry entry of a device."""
    if device is None or not device.quantities:
        return None
    quantities = device.quantities

    def unit_for(name: str) -> str | None:
        q = quantities.get(name)
        return q.unit if q is not None and q.unit else None

    return unit_for


def resolve_device(
    registry: Registry | None, device_id: str, dev_eui: str | None
) -> tuple[str, Device | None]:
    """Map a network device id/DevEUI to the registry's device id and entry."""
    if registry is None:
        return device_id, None
    device = registry.lookup(device_id=device_id, dev_eui=dev_eui)
    return (device.device_id if device is not None else device_id), device


def payload_readings(
    decoded: Any,
    frm_payload: bytes | None,
    device: Device | None,
    where: str,
) -> tuple[list[Reading], dict[str, Any]]:
    """Return the readings of an uplink: the network's decoded object, else Cayenne LPP, else none.

    Parameters
    ----------
    decoded : object or None
        ``decoded_payload`` (TTN) or ``object`` (ChirpStack).
    frm_payload : bytes or None
        The raw application payload.
    device : Device or None
        The registry entry: ``codec = "lpp"`` makes LPP the expected format.
    where : str
        Field path for messages.

    Returns
    -------
    readings : list of Reading
    info : dict
        ``{"codec": "lpp"}`` when LPP was decoded, ``{"payload_error": ...}`` when the
        registry said LPP but the bytes are not, ``{}`` otherwise.
    """
    unit_for = unit_lookup(device)
    if decoded is not None:
        if isinstance(decoded, dict):
            return flatten(decoded, unit_for=unit_for), {}
        raise DecodeError(f"{where}: expected an object, got {type(decoded).__name__}")
    if not frm_payload:
        return [], {}
    says_lpp = device is not None and device.codec == "lpp"
    if says_lpp or looks_like_lpp(frm_payload):
        try:
            values = decode_lpp(frm_payload)
        except DecodeError as err:
            return [], {"payload_error": str(err)}
        readings = []
        for name, (value, unit) in values.items():
            declared = unit_for(name) if unit_for else None
            readings.append(Reading(name, float(value), declared or unit))
        return readings, {"codec": "lpp"}
    return [], {}
