"""Turning decoded payload objects into :class:`~twin.sensors.model.Reading` rows.

Rules (documented in ``docs/sensors.md``):

- nested objects get dotted names (``air.co2``), list items their index (``accelerometer_1.0``
  for lists, ``gps_1.latitude`` for objects);
- strings with a unit (``"30.11 °C"``, ``"3.384 V"``, ``"45 %"``) become a number and a unit;
  other strings are kept as text;
- booleans become 0/1, ``null`` is skipped;
- numbers that are not finite or do not fit a float are kept as text;
- when a value carries no unit, it is taken from the registry, else inferred from its name
  (``temperature`` → °C, ``humidity`` → %, ``co2`` → ppm, ``pressure`` → hPa, ...).
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any

from twin.errors import DecodeError
from twin.sensors.model import Reading

#: At most this many readings are taken from one message; more is rejected as malformed.
MAX_READINGS = 2000
#: Objects nested deeper than this are rejected.
MAX_DEPTH = 12
#: Text values longer than this are cut (with an ellipsis) before they are stored.
MAX_TEXT = 1000

_NUMBER_WITH_UNIT = re.compile(
    r"^\s*([-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)\s*"
    r"([%‰°µ]?[A-Za-z°µΩ%‰²³/·.]{0,9}[A-Za-z°µΩ%‰²³]?)\s*$"
)

# Name tokens (lower case) → unit; checked on the whole name, then on its tokens from the end.
_UNIT_BY_TOKEN: dict[str, str] = {
    "temperature": "°C",
    "temp": "°C",
    "humidity": "%",
    "moisture": "%",
    "rh": "%",
    "co2": "ppm",
    "tvoc": "ppb",
    "pressure": "hPa",
    "barometer": "hPa",
    "illuminance": "lx",
    "luminosity": "lx",
    "lux": "lx",
    "light": "lx",
    "voltage": "V",
    "volt": "V",
    "vbat": "V",
    "batv": "V",
    "current": "A",
    "ma": "mA",
    "rssi": "dBm",
    "snr": "dB",
    "noise": "dB(A)",
    "laeq": "dB(A)",
    "pm25": "µg/m³",
    "pm2_5": "µg/m³",
    "pm10": "µg/m³",
    "pm1": "µg/m³",
    "no2": "µg/m³",
    "o3": "µg/m³",
    "conductivity": "µS/cm",
    "power": "W",
    "energy": "kWh",
    "altitude": "m",
    "distance": "m",
    "latitude": "°",
    "longitude": "°",
    "lat": "°",
    "lon": "°",
    "lng": "°",
    "frequency": "Hz",
    "percentage": "%",
    "percent": "%",
    "occupancy": "%",
    "direction": "°",
    "gyrometer": "°/s",
    "accelerometer": "g",
    "concentration": "ppm",
}
# Suffix tokens that are themselves units (``ACI1_mA``, ``AVI1_V``, ``BAT_V``).
_UNIT_SUFFIX: dict[str, str] = {"V": "V", "mV": "mV", "mA": "mA", "A": "A", "W": "W", "C": "°C"}

_GLUED = (
    "temperature",
    "humidity",
    "moisture",
    "pressure",
    "voltage",
    "illuminance",
    "conductivity",
)
_SPLIT = re.compile(r"[^A-Za-z0-9]+|(?<=[a-z])(?=[A-Z])|(?<=[A-Za-z])(?=\d)|(?<=\d)(?=[A-Za-z])")


@lru_cache(maxsize=4096)
def infer_unit(name: str) -> str:
    """Guess the unit of a quantity from its name.

    Parameters
    ----------
    name : str
        A flattened quantity name such as ``"airtemperature"``, ``"BAT_V"`` or ``"air.co2"``.

    Returns
    -------
    str
        The unit symbol, or ``""`` when the name says nothing about it.

    Examples
    --------
    >>> infer_unit("SensorTemperature"), infer_unit("BAT_V"), infer_unit("relative_humidity_4")
    ('°C', 'V', '%')
    """
    last = name.rsplit(".", 1)[-1]
    if "_" in last:
        suffix = last.rsplit("_", 1)[-1]
        if suffix in _UNIT_SUFFIX:
            return _UNIT_SUFFIX[suffix]
    raw_tokens = [t for t in _SPLIT.split(last) if t]
    lowered = last.lower()
    if lowered in _UNIT_BY_TOKEN:
        return _UNIT_BY_TOKEN[lowered]
    if "battery" in lowered or lowered.startswith("bat"):
        return "V" if ("volt" in lowered or lowered.endswith("v")) else "%"
    tokens = [t.lower() for t in raw_tokens if not t.isdigit()]
    for token in reversed(tokens):
        if token in _UNIT_BY_TOKEN:
            return _UNIT_BY_TOKEN[token]
    # Glued words: "airtemperature", "zisternenpegel" (no unit), "soilmoisture".
    for key in _GLUED:
        if key in lowered:
            return _UNIT_BY_TOKEN[key]
    if lowered.endswith("volt"):
        return "V"
    return ""


def parse_unit_string(text: str) -> tuple[float, str] | None:
    """Split a string such as ``"30.11 °C"`` into a number and a unit.

    Parameters
    ----------
    text : str
        The string value from a decoded payload.

    Returns
    -------
    tuple of (float, str) or None
        The value and the unit (``""`` for a bare number), or None when the string is not a
        number with an optional short unit.

    Examples
    --------
    >>> parse_unit_string("3.384 V"), parse_unit_string("45 %"), parse_unit_string("OFF")
    ((3.384, 'V'), (45.0, '%'), None)
    """
    if len(text) > 40:
        return None
    match = _NUMBER_WITH_UNIT.match(text)
    if match is None:
        return None
    value = float(match.group(1))
    if not math.isfinite(value):
        return None
    return value, match.group(2)


#: Creates a Reading from a 4-tuple without the keyword handling of ``Reading(...)``.
_reading = functools.partial(tuple.__new__, Reading)


def _text(value: str) -> str:
    return value if len(value) <= MAX_TEXT else value[: MAX_TEXT - 1] + "…"


def flatten(
    obj: Any,
    *,
    unit_for: Callable[[str], str | None] | None = None,
    prefix: str = "",
    skip: frozenset[str] = frozenset(),
) -> list[Reading]:
    """Flatten a decoded payload object into readings.

    Parameters
    ----------
    obj : object
        The decoded object (dict from JSON, or a scalar).
    unit_for : callable, optional
        ``unit_for(quantity)`` returns the unit the registry declares, or None.
    prefix : str
        Name of ``obj`` itself when it is not a dict (``"value"`` by default for scalars).
    skip : frozenset of str
        Top-level keys that are not measurements (``"port"`` and the like).

    Returns
    -------
    list of Reading

    Raises
    ------
    DecodeError
        When the object is nested deeper than :data:`MAX_DEPTH` or yields more than
        :data:`MAX_READINGS` values.
    """
    out: list[Reading] = []
    if type(obj) is dict and not prefix:
        # Fast path for the common flat object of finite numbers; anything else recurses.
        for key, value in obj.items():
            kind = type(value)
            if (
                (kind is float and math.isfinite(value)) or (kind is int and -1e308 < value < 1e308)
            ) and key not in skip:
                declared = unit_for(key) if unit_for is not None else None
                unit = declared if declared is not None else infer_unit(key)
                out.append(_reading((key, float(value), unit, None)))
            elif key not in skip:
                _walk(value, key, 1, out, unit_for, skip)
        if len(out) > MAX_READINGS:
            raise DecodeError(f"decoded payload has more than {MAX_READINGS} values")
        return out
    _walk(obj, prefix, 0, out, unit_for, skip)
    return out


def _walk(
    obj: Any,
    name: str,
    depth: int,
    out: list[Reading],
    unit_for: Callable[[str], str | None] | None,
    skip: frozenset[str],
) -> None:
    if depth > MAX_DEPTH:
        raise DecodeError(f"decoded payload nested deeper than {MAX_DEPTH} levels at {name!r}")
    if isinstance(obj, Mapping):
        for key, value in obj.items():
            key = str(key)
            if depth == 0 and key in skip:
                continue
            _walk(value, f"{name}.{key}" if name else key, depth + 1, out, unit_for, skip)
        return
    if isinstance(obj, (list, tuple)):
        for i, value in enumerate(obj):
            _walk(value, f"{name}.{i}" if name else str(i), depth + 1, out, unit_for, skip)
        return
    if obj is None:
        return
    if len(out) >= MAX_READINGS:
        raise DecodeError(f"decoded payload has more than {MAX_READINGS} values")
    name = name or "value"
    declared = unit_for(name) if unit_for is not None else None
    if isinstance(obj, bool):
        out.append(Reading(name, 1.0 if obj else 0.0, declared or ""))
        return
    if isinstance(obj, (int, float)):
        try:
            value = float(obj)
        except OverflowError:
            out.append(Reading(name, None, declared or "", _text(str(obj))))
            return
        if not math.isfinite(value):
            out.append(Reading(name, None, declared or "", repr(obj)))
            return
        out.append(Reading(name, value, declared if declared is not None else infer_unit(name)))
        return
    if isinstance(obj, str):
        parsed = parse_unit_string(obj)
        if parsed is not None:
            value, unit = parsed
            unit = unit or (declared if declared is not None else infer_unit(name))
            out.append(Reading(name, value, unit))
        else:
            out.append(Reading(name, None, declared or "", _text(obj)))
        return
    out.append(Reading(name, None, declared or "", _text(str(obj))))
