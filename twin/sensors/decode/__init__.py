"""Decoders of LoRaWAN network-server messages: The Things Stack v3, ChirpStack v4/v3,
Cayenne LPP payloads and a generic JSON format.

The one entry point is :func:`decode`; it returns a :class:`~twin.sensors.model.Message`
or raises :class:`~twin.errors.DecodeError` with a one-line reason, never anything else.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from twin.errors import DecodeError
from twin.sensors.decode.cayenne import decode_lpp, looks_like_lpp
from twin.sensors.decode.chirpstack import decode_chirpstack, decode_chirpstack3
from twin.sensors.decode.common import MAX_PAYLOAD, clean_text, load_json
from twin.sensors.decode.detect import FORMATS, detect_format
from twin.sensors.decode.generic import decode_generic
from twin.sensors.decode.ttn import decode_ttn
from twin.sensors.decode.ttn_fast import decode_ttn_up
from twin.sensors.decode.values import flatten, infer_unit, parse_unit_string
from twin.sensors.model import Message
from twin.sensors.registry import Registry

__all__ = [
    "FORMATS",
    "MAX_PAYLOAD",
    "DecodeError",
    "decode",
    "decode_lpp",
    "detect_format",
    "flatten",
    "infer_unit",
    "looks_like_lpp",
    "parse_unit_string",
]

log = logging.getLogger(__name__)


def decode(
    topic: str,
    payload: bytes,
    *,
    fmt: str = "auto",
    registry: Registry | None = None,
    received_at: datetime | None = None,
) -> Message:
    """Decode one MQTT message into a :class:`~twin.sensors.model.Message`.

    Parameters
    ----------
    topic : str
        The MQTT topic it arrived on.
    payload : bytes
        The message body as received (JSON).
    fmt : {"auto", "ttn", "chirpstack", "chirpstack3", "generic"}
        The wire format; ``auto`` detects it from topic and body.
    registry : Registry, optional
        Device registry: maps DevEUIs to registered ids, declares units and LPP devices,
        and holds the generic-format routes (required for ``generic``).
    received_at : datetime, optional
        When the message arrived (UTC); now by default.

    Returns
    -------
    Message
        An ``uplink`` with readings, or an ``event``.

    Raises
    ------
    DecodeError
        For anything malformed; the message names the topic, the field and what was
        expected. No other exception escapes.

    Examples
    --------
    >>> body = b'{"end_device_ids": {"device_id": "d1"}, "uplink_message": '
    >>> body += '{"f_cnt": 7, "decoded_payload": {"temperature": "21.5 °C"}}}'.encode()
    >>> m = decode("v3/app@ttn/devices/d1/up", body)
    >>> m.kind, m.f_cnt, m.readings[0]
    ('uplink', 7, Reading(quantity='temperature', value=21.5, unit='°C', text=None))
    """
    try:
        return _decode(topic, payload, fmt, registry, received_at)
    except DecodeError as err:
        raise DecodeError(_one_line(f"{_short(topic)}: {err}")) from err
    except Exception as err:  # never let a malformed message raise anything else
        raise DecodeError(_one_line(f"{_short(topic)}: {type(err).__name__}: {err}")) from err


def _short(topic: object) -> str:
    text = str(topic)
    if not text.isprintable():
        text = repr(text)
    return text if len(text) <= 160 else text[:157] + "..."


def _one_line(text: str) -> str:
    return text.replace("\r", "\\r").replace("\n", "\\n")


def _decode(
    topic: str,
    payload: bytes,
    fmt: str,
    registry: Registry | None,
    received_at: datetime | None,
) -> Message:
    if fmt not in FORMATS:
        raise DecodeError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
    if not isinstance(topic, str):
        raise DecodeError(f"topic must be a string, got {type(topic).__name__}")
    if not topic.isascii():
        topic = clean_text(topic)
    if isinstance(payload, (bytearray, memoryview)):
        payload = bytes(payload)
    if not isinstance(payload, bytes):
        raise DecodeError(f"payload must be bytes, got {type(payload).__name__}")
    if received_at is None:
        received_at = datetime.now(UTC)
    elif received_at.tzinfo is None:
        received_at = received_at.replace(tzinfo=UTC)
    if fmt == "auto" or fmt == "ttn":
        message = decode_ttn_up(topic, payload, registry, received_at)
        if message is not None:  # the usual TTN uplink, parsed field by field
            return message
    body = load_json(payload)
    if fmt == "auto":
        fmt = detect_format(topic, body, registry)
    if fmt == "ttn":
        return decode_ttn(topic, body, registry, received_at)
    if fmt == "chirpstack":
        return decode_chirpstack(topic, body, registry, received_at)
    if fmt == "chirpstack3":
        return decode_chirpstack3(topic, body, registry, received_at)
    if registry is None:
        raise DecodeError("the generic format needs a registry with [[generic]] routes")
    found = registry.route_for(topic)
    if found is None:
        raise DecodeError(f"no [[generic]] route of {registry.source} matches the topic")
    route, captures = found
    return decode_generic(topic, body, route, captures, registry, received_at)
