"""The generic JSON format: a topic pattern and a field mapping from the registry.

For sensors that publish plain JSON (a municipal gateway, a Node-RED flow, a weather
station) the registry declares ``[[generic]]`` routes; see :class:`twin.sensors.registry.
GenericRoute` and ``docs/sensors.md``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from twin.errors import DecodeError
from twin.sensors.decode.common import location_from_readings, parse_time, resolve_device
from twin.sensors.decode.values import flatten
from twin.sensors.model import Message, Reading
from twin.sensors.registry import GenericRoute, Registry

_MISSING = object()


def get_path(body: Any, path: str) -> Any:
    """Return the value at a dotted path (``"data.air.co2"``; list items by index)."""
    node = body
    for part in path.split("."):
        if isinstance(node, dict):
            node = node.get(part, _MISSING)
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return _MISSING
        if node is _MISSING:
            return _MISSING
    return node


def decode_generic(
    topic: str,
    body: dict[str, Any],
    route: GenericRoute,
    captures: dict[str, str],
    registry: Registry,
    received_at: datetime,
) -> Message:
    """Decode a generic JSON message with its matching route.

    Parameters
    ----------
    topic : str
    body : dict
    route : GenericRoute
        The route whose topic pattern matched.
    captures : dict
        ``{"device": ...}`` captured from the topic.
    registry : Registry
    received_at : datetime

    Returns
    -------
    Message
        Always an uplink; readings named after the mapping's quantities.

    Raises
    ------
    DecodeError
        When the device id or a mapped time is missing or malformed.
    """
    device_id = captures.get("device")
    if route.device:
        value = get_path(body, route.device)
        if value is not _MISSING and isinstance(value, (str, int)) and not isinstance(value, bool):
            device_id = str(value)
    if not device_id:
        raise DecodeError(f"{route.device or 'topic'}: missing; expected the device id")
    name, device = resolve_device(registry, device_id, None)
    time = received_at
    if route.time:
        value = get_path(body, route.time)
        if value is _MISSING:
            raise DecodeError(f"{route.time}: missing; expected the measurement time")
        time = parse_time(value, route.time)
    source: Any = body
    if route.values:
        source = get_path(body, route.values)
        if not isinstance(source, dict):
            raise DecodeError(f"{route.values}: expected an object holding the values")

    def unit_for(quantity: str) -> str | None:
        if quantity in route.units:
            return route.units[quantity]
        if device is not None and quantity in device.quantities:
            return device.quantities[quantity].unit or None
        return None

    readings: list[Reading] = []
    if route.fields:
        for quantity, path in route.fields.items():
            value = get_path(source, path)
            if value is _MISSING:
                continue
            readings.extend(flatten(value, unit_for=unit_for, prefix=quantity))
    else:
        skip = frozenset(p for p in (route.device, route.time) if p and source is body)
        readings = flatten(source, unit_for=unit_for, skip=skip)
    return Message(
        topic=topic,
        format="generic",
        kind="uplink",
        device_id=name,
        time=time,
        received_at=received_at,
        readings=readings,
        location=location_from_readings(readings),
    )
