"""The Things Stack v3 (The Things Network, The Things Industries) MQTT messages.

Topics are ``v3/{application id}@{tenant}/devices/{device id}/{event}`` with event ``up``,
``join``, ``down/queued|sent|ack|nack|failed``, ``service/data`` or ``location/solved``.
Only ``up`` carries readings; everything else becomes an event. Bodies of the Storage
Integration API (``{"result": {...}}``) are unwrapped. Zero, false and empty fields are
omitted by The Things Stack, so every field is optional except the device ids.
"""

from __future__ import annotations

import binascii
import re
from datetime import UTC, datetime
from typing import Any

from twin.sensors.decode.common import (
    b64,
    best_signal,
    flatten,
    get_int,
    get_obj,
    get_str,
    location_from_readings,
    location_of,
    normalize_dev_eui,
    parse_rfc3339,
    payload_readings,
    resolve_device,
)
from twin.sensors.model import Message, Reading
from twin.sensors.registry import Device, Registry

TOPIC = re.compile(r"^v3/(?P<app>[^/]+)/devices/(?P<dev>[^/]+)/(?P<event>.+)$")

#: Body key of each event (when the message did not come with a topic).
_EVENT_KEYS = {
    "uplink_message": "up",
    "join_accept": "join",
    "downlink_queued": "down/queued",
    "downlink_sent": "down/sent",
    "downlink_ack": "down/ack",
    "downlink_nack": "down/nack",
    "downlink_failed": "down/failed",
    "service_data": "service/data",
    "location_solved": "location/solved",
    "downlink_queue_invalidated": "down/queue/invalidated",
}
_EVENTS = {v: k for k, v in _EVENT_KEYS.items()}
_DEDUP_PREFIXES = ("as:up:", "ns:uplink:", "gs:uplink:", "pba:uplink:")


def decode_ttn(
    topic: str, body: dict[str, Any], registry: Registry | None, received_at: datetime
) -> Message:
    """Decode a The Things Stack v3 message body.

    Parameters
    ----------
    topic : str
        The MQTT topic (may be empty for Storage Integration records).
    body : dict
        The parsed JSON body.
    registry : Registry or None
        Maps the device to its registry entry (units, LPP codec).
    received_at : datetime
        When twin received the message (UTC).

    Returns
    -------
    Message

    Raises
    ------
    DecodeError
        When ids are missing or fields have the wrong type.
    """
    if "result" in body and "end_device_ids" not in body:
        body = get_obj(body, "result", "", required=True)
    # The hot path of a high-rate feed: the usual types are checked inline; anything else
    # goes through the get_* helpers, which accept or word the error.
    ids = body.get("end_device_ids")
    if type(ids) is not dict:
        ids = get_obj(body, "end_device_ids", "", required=True)
    device_id = ids.get("device_id")
    if type(device_id) is not str or not 0 < len(device_id) <= 512:
        device_id = get_str(ids, "device_id", "end_device_ids.", required=True)
    eui = ids.get("dev_eui")
    dev_eui = normalize_dev_eui(eui) if type(eui) is str else None
    app_ids = ids.get("application_ids")
    if type(app_ids) is dict and type(app_ids.get("application_id")) is str:
        application_id = app_ids["application_id"] or None
        if application_id is not None and len(application_id) > 512:
            application_id = get_str(app_ids, "application_id", "end_device_ids.application_ids.")
    else:
        app_ids = get_obj(ids, "application_ids", "end_device_ids.")
        application_id = get_str(app_ids, "application_id", "end_device_ids.application_ids.")
    match = TOPIC.match(topic)
    event = match.group("event") if match else None
    if event is None or event not in _EVENTS:
        event = next((e for k, e in _EVENT_KEYS.items() if k in body), event or "unknown")
    name, device = resolve_device(registry, device_id, dev_eui)
    dedup_id = _dedup_id(body.get("correlation_ids"))
    top_raw = body.get("received_at")  # checked even when a better time is present
    top_time = _time(top_raw, "received_at") if top_raw is not None else None
    if event != "up":
        key = _EVENTS.get(event)
        inner = body.get(key) if key else None
        data: dict[str, Any] = {"body": inner} if inner is not None else {}
        location = None
        if event == "location/solved" and isinstance(inner, dict):
            location = location_of(inner.get("location"))
        if match and match.group("dev") != device_id:
            data["topic_device_id"] = match.group("dev")
        return Message(
            topic=topic,
            format="ttn",
            kind="event",
            device_id=name,
            dev_eui=dev_eui,
            application_id=application_id,
            time=top_time or received_at,
            received_at=received_at,
            dedup_id=dedup_id,
            event_type=event,
            location=location,
            data=data,
        )
    up = body.get("uplink_message")
    if type(up) is not dict:
        up = get_obj(body, "uplink_message", "", required=True)
    where = "uplink_message."
    f_port = up.get("f_port")
    if type(f_port) is not int or not 0 <= f_port <= 255:
        f_port = get_int(up, "f_port", where, hi=255)
    f_cnt = up.get("f_cnt")
    if type(f_cnt) is not int or not 0 <= f_cnt <= 2**32:
        f_cnt = get_int(up, "f_cnt", where)
    if f_cnt is None:  # The Things Stack omits zero values
        f_cnt = 0
    if f_port is None:
        f_port = 0
    frm = up.get("frm_payload")
    raw = None
    if frm is not None or "frm_payload" in up:
        try:
            raw = binascii.a2b_base64(frm, strict_mode=True)  # stricter than b64()
        except (binascii.Error, TypeError, ValueError):
            raw = b64(frm, where + "frm_payload")  # accepts or words the error
    readings, location, data = uplink_contents(
        up.get("decoded_payload"), raw, frm, device, up.get("locations"), match, device_id
    )
    rssi, snr, gateways = best_signal(up.get("rx_metadata"), "rssi", "snr", where + "rx_metadata")
    time = _uplink_time(up, top_time, received_at)
    return Message(
        topic=topic,
        format="ttn",
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
        location=location,
        data=data,
    )


def uplink_contents(
    decoded: Any,
    raw: bytes | None,
    frm: str | None,
    device: Device | None,
    locations: Any,
    match: re.Match[str] | None,
    device_id: str,
) -> tuple[list[Reading], tuple[float, float, float | None] | None, dict[str, Any]]:
    """Return the readings, position and extra data of an uplink (shared with ``ttn_fast``).

    Parameters
    ----------
    decoded : object or None
        ``uplink_message.decoded_payload``.
    raw, frm : bytes or None, str or None
        ``frm_payload`` decoded and as sent (None when absent).
    device : Device or None
        The registry entry.
    locations : object or None
        ``uplink_message.locations``.
    match : re.Match or None
        The topic's match of :data:`TOPIC`.
    device_id : str
        The network's device id (compared with the topic's).

    Returns
    -------
    readings : list of Reading
    location : tuple or None
    data : dict
    """
    if type(decoded) is dict and (device is None or not device.quantities):
        readings, info = flatten(decoded), {}
    else:
        readings, info = payload_readings(decoded, raw, device, "uplink_message.decoded_payload")
    location = None
    if isinstance(locations, dict):
        for key in ("frm-payload", "user"):
            location = location_of(locations.get(key))
            if location:
                break
    if location is None and readings:
        location = location_from_readings(readings)
    data = dict(info) if info else {}
    if raw is not None:
        data["frm_payload"] = frm
    if match and match.group("dev") != device_id:
        data["topic_device_id"] = match.group("dev")
    return readings, location, data


def _dedup_id(corr: Any) -> str | None:
    """Return the best-ranked deduplication id of the correlation ids (``as:up:`` first)."""
    if type(corr) is not list:
        return None
    found, rank = None, len(_DEDUP_PREFIXES)
    for c in corr:
        if type(c) is str and c.startswith(_DEDUP_PREFIXES) and len(c) <= 256:
            for i in range(rank):
                if c.startswith(_DEDUP_PREFIXES[i]):
                    found, rank = c, i
                    break
            if rank == 0:
                break
    return found


def _time(value: Any, where: str) -> datetime:
    """:func:`parse_rfc3339`, with the usual UTC text (``…Z``) parsed inline."""
    if type(value) is str:
        try:
            t = datetime.fromisoformat(value)
        except ValueError:
            pass
        else:
            if t.tzinfo is UTC:
                return t
    return parse_rfc3339(value, where)


def _uplink_time(up: dict[str, Any], top_time: datetime | None, received_at: datetime) -> datetime:
    """Network reception time: NS ``received_at``, else AS, else gateway, else ours."""
    if up.get("received_at") is not None:
        return _time(up["received_at"], "uplink_message.received_at")
    if top_time is not None:
        return top_time
    rx = up.get("rx_metadata")
    if isinstance(rx, list) and rx and isinstance(rx[0], dict) and rx[0].get("time") is not None:
        return parse_rfc3339(rx[0]["time"], "uplink_message.rx_metadata[0].time")
    settings = up.get("settings")
    if isinstance(settings, dict) and settings.get("time") is not None:
        return parse_rfc3339(settings["time"], "uplink_message.settings.time")
    return received_at


__all__ = ["TOPIC", "decode_ttn"]
