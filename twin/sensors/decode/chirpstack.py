"""ChirpStack v4 (and v3) MQTT integration messages.

Topics are ``application/{application id}/device/{devEui}/event/{type}`` with type ``up``,
``join``, ``ack``, ``txack``, ``log``, ``status``, ``location`` or ``integration``, and
``.../command/down`` for queued downlinks. Only ``up`` carries readings; a ``log`` body that
arrives on an ``up`` topic (e.g. an ``UPLINK_CODEC`` error) is an event too.

ChirpStack v4 bodies are camelCase with ``deviceInfo``; ChirpStack v3 bodies carry
``devEUI`` (hex, or base64 with the protobuf JSON marshaler), ``rxInfo[].loRaSNR`` and the
decoded object as a JSON string in ``objectJSON``: :func:`decode_chirpstack3`.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

from twin.errors import DecodeError
from twin.sensors.decode.common import (
    b64,
    best_signal,
    get_int,
    get_obj,
    get_str,
    location_from_readings,
    location_of,
    normalize_dev_eui,
    parse_rfc3339,
    parse_time,
    payload_readings,
    resolve_device,
)
from twin.sensors.model import Message
from twin.sensors.registry import Registry

TOPIC = re.compile(
    r"^application/(?P<app>[^/]+)/device/(?P<dev>[^/]+)/(?P<dir>event|command)/(?P<type>[^/]+)$"
)


def is_chirpstack3(body: dict[str, Any]) -> bool:
    """Whether a ChirpStack body is in the v3 layout (``devEUI``, ``applicationID``)."""
    return "deviceInfo" not in body and ("devEUI" in body or "applicationID" in body)


def _is_log(body: dict[str, Any]) -> bool:
    return "level" in body and "code" in body and "fCnt" not in body and "object" not in body


def decode_chirpstack(
    topic: str, body: dict[str, Any], registry: Registry | None, received_at: datetime
) -> Message:
    """Decode a ChirpStack v4 message body.

    Parameters
    ----------
    topic : str
        The MQTT topic.
    body : dict
        The parsed JSON body.
    registry : Registry or None
        Maps the device to its registry entry.
    received_at : datetime
        When twin received the message (UTC).

    Returns
    -------
    Message

    Raises
    ------
    DecodeError
        When the device cannot be identified or fields have the wrong type.
    """
    match = TOPIC.match(topic)
    direction = match.group("dir") if match else "event"
    event = match.group("type") if match else ("log" if _is_log(body) else "up")
    is_log = _is_log(body)
    info = get_obj(
        body, "deviceInfo", "", required=direction == "event" and event == "up" and not is_log
    )
    topic_dev = match.group("dev") if match else None
    eui_text = get_str(info, "devEui", "deviceInfo.") or get_str(body, "devEui", "") or topic_dev
    dev_eui = normalize_dev_eui(eui_text)
    device_id = get_str(info, "deviceName", "deviceInfo.") or dev_eui or eui_text
    if not device_id:
        raise DecodeError("deviceInfo.devEui: missing; expected the device's DevEUI")
    application_id = get_str(info, "applicationId", "deviceInfo.") or (
        match.group("app") if match else None
    )
    name, device = resolve_device(registry, device_id, dev_eui)
    dedup_id = get_str(body, "deduplicationId", "")
    time = parse_rfc3339(body["time"], "time") if body.get("time") is not None else received_at
    if direction == "command" or event != "up" or is_log:
        event_type = f"command/{event}" if direction == "command" else event
        if event == "up":  # a log body on an up topic: a codec error
            event_type = "log"
        data = {k: v for k, v in body.items() if k not in ("deviceInfo", "time")}
        location = location_of(body.get("location")) if event == "location" else None
        return Message(
            topic=topic,
            format="chirpstack",
            kind="event",
            device_id=name,
            dev_eui=dev_eui,
            application_id=application_id,
            time=time,
            received_at=received_at,
            f_cnt=get_int(body, "fCntDown", "") if "fCntDown" in body else None,
            dedup_id=dedup_id,
            event_type=event_type,
            location=location,
            data=data,
        )
    f_port = get_int(body, "fPort", "", hi=255)
    f_cnt = get_int(body, "fCnt", "")
    raw = b64(body["data"], "data") if body.get("data") else None
    readings, extra = payload_readings(body.get("object"), raw, device, "object")
    rssi, snr, gateways = best_signal(body.get("rxInfo"), "rssi", "snr", "rxInfo")
    if body.get("time") is None:
        time = _gateway_time(body.get("rxInfo"), "gwTime", received_at, parse_rfc3339)
    data = dict(extra)
    if raw is not None:
        data["frm_payload"] = body["data"]
    return Message(
        topic=topic,
        format="chirpstack",
        kind="uplink",
        device_id=name,
        dev_eui=dev_eui,
        application_id=application_id,
        time=time,
        received_at=received_at,
        f_cnt=f_cnt,
        f_port=f_port,
        dedup_id=dedup_id,
        rssi=rssi,
        snr=snr,
        gateways=gateways,
        readings=readings,
        location=location_from_readings(readings),
        data=data,
    )


def _gateway_time(
    rx: Any, key: str, default: datetime, parse: Callable[[Any, str], datetime] = parse_time
) -> datetime:
    if isinstance(rx, list):
        for i, gw in enumerate(rx):
            if isinstance(gw, dict) and gw.get(key) is not None:
                return parse(gw[key], f"rxInfo[{i}].{key}")
    return default


def _v3_eui(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    eui = normalize_dev_eui(value)
    if eui is not None:
        return eui
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw.hex().upper() if len(raw) == 8 else None


def decode_chirpstack3(
    topic: str, body: dict[str, Any], registry: Registry | None, received_at: datetime
) -> Message:
    """Decode a ChirpStack v3 message body (``devEUI``, ``objectJSON``, ``loRaSNR``).

    Parameters and return value as for :func:`decode_chirpstack`.
    """
    match = TOPIC.match(topic)
    event = match.group("type") if match else "up"
    direction = match.group("dir") if match else "event"
    dev_eui = _v3_eui(body.get("devEUI")) or normalize_dev_eui(
        match.group("dev") if match else None
    )
    device_id = get_str(body, "deviceName", "") or dev_eui
    if not device_id:
        raise DecodeError("devEUI: missing; expected the device's DevEUI")
    application_id = body.get("applicationID")
    application_id = str(application_id) if application_id is not None else None
    name, device = resolve_device(registry, device_id, dev_eui)
    rx = body.get("rxInfo")
    time = received_at
    for key in ("publishedAt", "time"):
        if body.get(key):
            time = parse_time(body[key], key)
            break
    else:
        time = _gateway_time(rx, "time", received_at)
    if direction == "command" or event != "up":
        data = {k: v for k, v in body.items() if k not in ("devEUI",)}
        return Message(
            topic=topic,
            format="chirpstack3",
            kind="event",
            device_id=name,
            dev_eui=dev_eui,
            application_id=application_id,
            time=time,
            received_at=received_at,
            event_type=f"command/{event}" if direction == "command" else event,
            location=location_of(body.get("location")) if event == "location" else None,
            data=data,
        )
    decoded = body.get("object")
    if decoded is None and body.get("objectJSON"):
        text = body["objectJSON"]
        if not isinstance(text, str):
            raise DecodeError("objectJSON: expected a JSON string")
        try:
            decoded = json.loads(text)
        except (ValueError, RecursionError) as err:
            raise DecodeError(f"objectJSON: not JSON ({err})") from err
    raw = b64(body["data"], "data") if body.get("data") else None
    readings, extra = payload_readings(decoded, raw, device, "objectJSON")
    rssi, snr, gateways = best_signal(rx, "rssi", "loRaSNR", "rxInfo")
    data = dict(extra)
    if raw is not None:
        data["frm_payload"] = body["data"]
    return Message(
        topic=topic,
        format="chirpstack3",
        kind="uplink",
        device_id=name,
        dev_eui=dev_eui,
        application_id=application_id,
        time=time,
        received_at=received_at,
        f_cnt=get_int(body, "fCnt", ""),
        f_port=get_int(body, "fPort", "", hi=255),
        rssi=rssi,
        snr=snr,
        gateways=gateways,
        readings=readings,
        location=location_from_readings(readings),
        data=data,
    )
