"""Detecting the wire format of an MQTT message from its topic and body."""

from __future__ import annotations

from typing import Any

from twin.errors import DecodeError
from twin.sensors.decode.chirpstack import TOPIC as CHIRPSTACK_TOPIC
from twin.sensors.decode.chirpstack import is_chirpstack3
from twin.sensors.decode.ttn import TOPIC as TTN_TOPIC
from twin.sensors.registry import Registry

#: Formats :func:`twin.sensors.decode.decode` accepts.
FORMATS = ("auto", "ttn", "chirpstack", "chirpstack3", "generic")


def detect_format(topic: str, body: dict[str, Any], registry: Registry | None = None) -> str:
    """Tell which wire format a message is in.

    The topic decides first (``v3/…/devices/…`` is The Things Stack, ``application/…/device/
    …/event|command/…`` is ChirpStack, a registry route is generic), then the body
    (``end_device_ids``, ``deviceInfo``, ``devEUI``). ChirpStack v3 and v4 share topics and
    are told apart by the body.

    Parameters
    ----------
    topic : str
    body : dict
        The parsed JSON body.
    registry : Registry, optional
        Its generic routes are matched against the topic.

    Returns
    -------
    str
        ``"ttn"``, ``"chirpstack"``, ``"chirpstack3"`` or ``"generic"``.

    Raises
    ------
    DecodeError
        When neither topic nor body identify a format.
    """
    if TTN_TOPIC.match(topic):
        return "ttn"
    if CHIRPSTACK_TOPIC.match(topic):
        return "chirpstack3" if is_chirpstack3(body) else "chirpstack"
    if registry is not None and registry.route_for(topic) is not None:
        return "generic"
    if "end_device_ids" in body or (
        isinstance(body.get("result"), dict) and "end_device_ids" in body["result"]
    ):
        return "ttn"
    if "deviceInfo" in body:
        return "chirpstack"
    if "devEUI" in body:
        return "chirpstack3"
    raise DecodeError(
        "unknown message format: topic matches no TTN v3, ChirpStack or registry pattern "
        "and the body has no end_device_ids/deviceInfo/devEUI"
    )
