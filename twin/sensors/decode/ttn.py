"""The Things Stack v3 (The Things Network, The Things Industries) MQTT messages.

Topics are ``v3/{application id}@{tenant}/devices/{device id}/{event}`` with event ``up``,
``join``, ``down/queued|sent|ack|nack|failed``, ``service/data`` or ``location/solved``.
Only ``up`` carries readings; everything else becomes an event. Bodies of the Storage
Integration API (``{"result": {...}}``) are unwrapped. Zero, false and empty fields are
omitted by The Things Stack, so every field is optional except the device ids.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

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
    payload_readings,
    resolve_device,
)
from twin.sensors.model import Message
from twin.sensors.registry import Registry

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
    ids = get_obj(body, "end_device_ids", "", required=True)
    device_id = get_str(ids, "device_id", "end_device_ids.", required=True)
    dev_eui = normalize_dev_eui(ids.get("dev_eui") if isinstance(ids.get("dev_eui"), str) else None)
    app_ids = get_obj(ids, "application_ids", "end_device_ids.")
    application_id = get_str(app_ids, "application_id", "end_device_ids.application_ids.")
    match = TOPIC.match(topic)
    event = match.group("event") if match else None
    if event is None or event not in _EVENTS:
        event = next((e for k, e in _EVENT_KEYS.items() if k in body), event or "unknown")
    name, device = resolve_device(registry, device_id, dev_eui)
    dedup_id = None
    corr = body.get("correlation_ids")
    if isinstance(corr, list):
        rank = len(_DEDUP_PREFIXES)
        for c in corr:
            if type(c) is str and len(c) <= 256:
                for i in range(rank):
                    if c.startswith(_DEDUP_PREFIXES[i]):
                        dedup_id, rank = c, i
                        break
    top_raw = body.get("received_at")  # checked even when a better time is present
    top_time = parse_rfc3339(top_raw, "received_at") if top_raw is not None else None
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
    up = get_obj(body, "uplink_message", "", required=True)
    where = "uplink_message."
    f_port = get_int(up, "f_port", where, hi=255)
    f_cnt = get_int(up, "f_cnt", where)
    if f_cnt is None:  # The Things Stack omits zero values
        f_cnt = 0
    if f_port is None:
        f_port = 0
    raw = b64(up["frm_payload"], where + "frm_payload") if "frm_payload" in up else None
    readings, info = payload_readings(
        up.get("decoded_payload"), raw, device, where + "decoded_payload"
    )
    rssi, snr, gateways = best_signal(up.get("rx_metadata"), "rssi", "snr", where + "rx_metadata")
    time = _uplink_time(up, top_time, received_at)
    location = None
    locations = up.get("locations")
    if isinstance(locations, dict):
        for key in ("frm-payload", "user"):
            location = location_of(locations.get(key))
            if location:
                break
    location = location or location_from_readings(readings)
    data = dict(info)
    if raw is not None:
        data["frm_payload"] = up["frm_payload"]
    if match and match.group("dev") != device_id:
        data["topic_device_id"] = match.group("dev")
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


def _uplink_time(up: dict[str, Any], top_time: datetime | None, received_at: datetime) -> datetime:
    """Network reception time: NS ``received_at``, else AS, else gateway, else ours."""
    if up.get("received_at") is not None:
        return parse_rfc3339(up["received_at"], "uplink_message.received_at")
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
