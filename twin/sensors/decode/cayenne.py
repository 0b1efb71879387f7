"""Cayenne LPP payloads, named as The Things Stack names them (``temperature_3``).

A frame is a sequence of ``[channel][type][value…]`` items, big-endian. The Things Stack
decodes the original LPP types (``digital_input``, ``analog_output``, ``luminosity``, presence,
temperature, relative humidity, accelerometer, barometric pressure, gyrometer, GPS); the
extended types of the ElectronicCats/RAKwireless libraries (voltage, current, percentage,
concentration, …) are decoded too, with their library names.

:func:`decode_lpp` decodes a frame the registry says is LPP; :func:`looks_like_lpp` is the
careful test used when nothing says so: the frame must parse exactly, use only the original
types and give physically plausible values.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from twin.errors import DecodeError


@dataclass(frozen=True)
class LppType:
    """One Cayenne LPP data type."""

    name: str
    size: int
    signed: bool
    scale: float
    unit: str
    axes: tuple[str, ...] = ()
    standard: bool = False
    lo: float = float("-inf")
    hi: float = float("inf")


# type id → layout. ``axes`` splits the value into named parts (accelerometer x/y/z).
LPP_TYPES: dict[int, LppType] = {
    0: LppType("digital_input", 1, False, 1, "", standard=True),
    1: LppType("digital_output", 1, False, 1, "", standard=True),
    2: LppType("analog_input", 2, True, 0.01, "", standard=True),
    3: LppType("analog_output", 2, True, 0.01, "", standard=True),
    100: LppType("generic", 4, False, 1, ""),
    101: LppType("luminosity", 2, False, 1, "lx", standard=True),
    102: LppType("presence", 1, False, 1, "", standard=True, hi=1),
    103: LppType("temperature", 2, True, 0.1, "°C", standard=True, lo=-90, hi=150),
    104: LppType("relative_humidity", 1, False, 0.5, "%", standard=True, hi=100),
    113: LppType("accelerometer", 6, True, 0.001, "g", ("x", "y", "z"), standard=True),
    115: LppType("barometric_pressure", 2, False, 0.1, "hPa", standard=True, lo=300, hi=1100),
    116: LppType("voltage", 2, False, 0.01, "V"),
    117: LppType("current", 2, False, 0.001, "A"),
    118: LppType("frequency", 4, False, 1, "Hz"),
    120: LppType("percentage", 1, False, 1, "%", hi=100),
    121: LppType("altitude", 2, True, 1, "m"),
    125: LppType("concentration", 2, False, 1, "ppm"),
    128: LppType("power", 2, False, 1, "W"),
    130: LppType("distance", 4, False, 0.001, "m"),
    131: LppType("energy", 4, False, 0.001, "kWh"),
    132: LppType("direction", 2, False, 1, "°", hi=360),
    133: LppType("unixtime", 4, False, 1, "s"),
    134: LppType("gyrometer", 6, True, 0.01, "°/s", ("x", "y", "z"), standard=True),
    135: LppType("colour", 3, False, 1, "", ("r", "g", "b")),
    136: LppType("gps", 9, True, 1, "", ("latitude", "longitude", "altitude"), standard=True),
    142: LppType("switch", 1, False, 1, "", hi=1),
}

_PHYSICAL = frozenset(("temperature", "relative_humidity", "barometric_pressure", "gps"))
_GPS_SCALE = (0.0001, 0.0001, 0.01)
_GPS_UNIT = ("°", "°", "m")


def _int(data: bytes, signed: bool) -> int:
    return int.from_bytes(data, "big", signed=signed)


def decode_lpp(payload: bytes) -> dict[str, tuple[Any, str]]:
    """Decode a Cayenne LPP frame.

    Parameters
    ----------
    payload : bytes
        The application payload (``frm_payload`` after base64).

    Returns
    -------
    dict
        ``{name: (value, unit)}`` in frame order; names follow The Things Stack
        (``temperature_3``) and multi-axis values get dotted names
        (``gps_1.latitude``, ``accelerometer_2.x``). Values are rounded to the type's
        resolution.

    Raises
    ------
    DecodeError
        On an unknown type or a truncated frame; the message names the byte offset.

    Examples
    --------
    >>> import base64
    >>> decode_lpp(base64.b64decode("A2cBEAVnAP8="))
    {'temperature_3': (27.2, '°C'), 'temperature_5': (25.5, '°C')}
    """
    out: dict[str, tuple[Any, str]] = {}
    i = 0
    n = len(payload)
    if n == 0:
        raise DecodeError("empty Cayenne LPP payload")
    while i < n:
        if i + 2 > n:
            raise DecodeError(f"Cayenne LPP frame truncated at byte {i}: expected channel and type")
        channel, type_id = payload[i], payload[i + 1]
        spec = LPP_TYPES.get(type_id)
        if spec is None:
            raise DecodeError(f"Cayenne LPP: unknown type {type_id} at byte {i + 1}")
        start = i + 2
        end = start + spec.size
        if end > n:
            raise DecodeError(
                f"Cayenne LPP: {spec.name} at byte {i} needs {spec.size} bytes, "
                f"only {n - start} left"
            )
        raw = payload[start:end]
        name = f"{spec.name}_{channel}"
        if spec.name == "gps":
            for k, axis in enumerate(spec.axes):
                value = _int(raw[3 * k : 3 * k + 3], True) * _GPS_SCALE[k]
                out[f"{name}.{axis}"] = (round(value, 4 if k < 2 else 2), _GPS_UNIT[k])
        elif spec.axes:
            width = spec.size // len(spec.axes)
            for k, axis in enumerate(spec.axes):
                value = _int(raw[width * k : width * (k + 1)], spec.signed) * spec.scale
                out[f"{name}.{axis}"] = (_round(value, spec.scale), spec.unit)
        else:
            value = _int(raw, spec.signed) * spec.scale
            out[name] = (_round(value, spec.scale), spec.unit)
        i = end
    return out


def _round(value: float, scale: float) -> float:
    if scale >= 1:
        return float(value)
    digits = len(f"{scale:.10f}".rstrip("0").split(".")[1])
    return round(value, digits)


def looks_like_lpp(payload: bytes) -> bool:
    """Tell whether bytes are, beyond reasonable doubt, a Cayenne LPP frame.

    Used when no payload formatter decoded an uplink and the registry does not say the device
    sends LPP. Arbitrary bytes parse as LPP surprisingly often, so this asks for more than a
    clean parse: only the original LPP types that The Things Stack decodes; at least one
    physical measurement (temperature, humidity, pressure or GPS) rather than only digital,
    analog or motion values; physically plausible values (humidity ≤ 100 %, −90…150 °C,
    300…1100 hPa, |lat| ≤ 90, |lon| ≤ 180, −500…9000 m); channels below 64, no channel used
    twice for the same type; and not printable ASCII text. Random bytes pass in well under
    0.1 % of cases (tested).

    Parameters
    ----------
    payload : bytes

    Returns
    -------
    bool
    """
    if len(payload) < 3:
        return False
    if len(payload) >= 4 and all(32 <= b < 127 for b in payload):
        return False
    i, n = 0, len(payload)
    seen: set[tuple[int, int]] = set()
    physical = False
    while i < n:
        if i + 2 > n:
            return False
        channel, type_id = payload[i], payload[i + 1]
        spec = LPP_TYPES.get(type_id)
        if spec is None or not spec.standard or (channel, type_id) in seen or channel >= 64:
            return False
        seen.add((channel, type_id))
        end = i + 2 + spec.size
        if end > n:
            return False
        raw = payload[i + 2 : end]
        if spec.name == "gps":
            lat = _int(raw[0:3], True) * 0.0001
            lon = _int(raw[3:6], True) * 0.0001
            alt = _int(raw[6:9], True) * 0.01
            if abs(lat) > 90 or abs(lon) > 180 or not -500 <= alt <= 9000:
                return False
        elif not spec.axes:
            value = _int(raw, spec.signed) * spec.scale
            if not spec.lo <= value <= spec.hi:
                return False
            if spec.name in ("digital_input", "digital_output") and value > 1:
                return False
        physical = physical or spec.name in _PHYSICAL
        i = end
    return physical
