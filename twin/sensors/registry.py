"""The device registry: which LoRaWAN device is what, where, and how to show its values.

A registry is read from TOML (``sensors/*.toml``) or CSV; the format is documented in
``docs/sensors.md``. It maps a device id or DevEUI to a :class:`Device` (name, kind,
position as lat/lon or a City building id, payload codec, quantities with unit, label,
display range and alarm thresholds) and holds the topic patterns and field mappings of the
generic JSON format (:class:`GenericRoute`).
"""

from __future__ import annotations

import csv
import logging
import math
import re
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any

from twin.errors import RegistryError

log = logging.getLogger(__name__)

_HEX16 = re.compile(r"^[0-9A-Fa-f]{16}$")
_CODECS = ("lpp", "json", "none")
_DEVICE_KEYS = {
    "id",
    "device_id",
    "dev_eui",
    "name",
    "kind",
    "lat",
    "lon",
    "building",
    "codec",
    "quantities",
}
_QUANTITY_KEYS = {"unit", "label", "range", "thresholds"}
_ROUTE_KEYS = {"topic", "device", "time", "values", "fields", "units", "name"}


@dataclass(frozen=True)
class Quantity:
    """How one quantity of a device is shown.

    Parameters
    ----------
    unit : str
        Unit symbol (``"ppm"``).
    label : str
        Human-readable name (``"CO₂"``); the quantity name when empty.
    range : tuple of float or None
        Display range ``(lo, hi)`` for colour maps and charts.
    thresholds : tuple of float
        Ascending alarm thresholds, e.g. ``(1000, 1400)`` for "elevated" and "alarm".
    """

    unit: str = ""
    label: str = ""
    range: tuple[float, float] | None = None
    thresholds: tuple[float, ...] = ()


@dataclass(frozen=True)
class Device:
    """One registered device.

    Parameters
    ----------
    device_id : str
        The network server's device id (TTN ``device_id``, ChirpStack device name).
    dev_eui : str or None
        16 upper-case hex digits.
    name, kind : str
        Display name and kind (``"co2"``, ``"parking"``, ``"water-level"``, ...).
    lat, lon : float or None
        WGS84 position.
    building : str or None
        A City row id such as ``"demo/rathaus"``.
    quantities : mapping of str to Quantity
        What the device measures.
    codec : str or None
        ``"lpp"`` when the device sends Cayenne LPP without a network-side formatter.
    extra : mapping
        Further keys of the registry entry, passed through (e.g. for the simulator).
    """

    device_id: str
    dev_eui: str | None = None
    name: str = ""
    kind: str = ""
    lat: float | None = None
    lon: float | None = None
    building: str | None = None
    quantities: Mapping[str, Quantity] = field(default_factory=dict)
    codec: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __hash__(self) -> int:
        return hash((self.device_id, self.dev_eui))


@dataclass(frozen=True)
class GenericRoute:
    """A topic pattern and field mapping of the generic JSON format.

    Parameters
    ----------
    topic : str
        MQTT-style pattern: ``+`` matches one level, ``#`` the rest, ``{device}`` one level
        that is the device id (``"stadt/+/{device}/data"``).
    device : str or None
        Dotted path of the device id in the body, when the topic does not hold it.
    time : str or None
        Dotted path of the time (ISO 8601, or epoch seconds/milliseconds).
    values : str or None
        Dotted path of the object holding the values; the whole body when None.
    fields : mapping of str to str
        ``quantity → dotted path``; when empty, every value under ``values`` is taken.
    units : mapping of str to str
        ``quantity → unit`` for values that carry none.
    """

    topic: str
    device: str | None = None
    time: str | None = None
    values: str | None = None
    fields: Mapping[str, str] = field(default_factory=dict)
    units: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_regex", _topic_regex(self.topic))

    def __hash__(self) -> int:
        return hash(self.topic)

    def match(self, topic: str) -> dict[str, str] | None:
        """Match a topic against the pattern.

        Parameters
        ----------
        topic : str

        Returns
        -------
        dict or None
            ``{"device": ...}`` (empty when the pattern has no ``{device}``), or None when
            the topic does not match.
        """
        m = self._regex.match(topic)  # type: ignore[attr-defined]
        return None if m is None else {k: v for k, v in m.groupdict().items() if v}


def _topic_regex(pattern: str) -> re.Pattern[str]:
    parts = []
    levels = pattern.split("/")
    for i, level in enumerate(levels):
        if level == "#":
            if i != len(levels) - 1:
                raise ValueError("'#' must be the last level")
            parts.append("(?:/.*)?" if i else ".*")
            break
        sep = "/" if i else ""
        if level == "+":
            parts.append(sep + "[^/]+")
        elif level == "{device}":
            parts.append(sep + "(?P<device>[^/]+)")
        elif "+" in level or "#" in level or "{" in level:
            raise ValueError(f"wildcard in the middle of level {level!r}")
        else:
            parts.append(sep + re.escape(level))
    regex = "".join(parts)
    if regex.startswith("(?:/.*)?"):
        regex = ".*"
    return re.compile("^" + regex + "$")


def normalize_dev_eui(value: str | None) -> str | None:
    """Return a DevEUI as 16 upper-case hex digits, or None when it is not one.

    Parameters
    ----------
    value : str or None
        ``"a84041f621857cd2"``, ``"A8-40-41-…"``, ``"a8:40:…"``.

    Returns
    -------
    str or None
    """
    if not value or not isinstance(value, str):
        return None
    text = value.replace("-", "").replace(":", "").strip()
    return text.upper() if _HEX16.match(text) else None


class Registry:
    """Devices and generic-format routes, looked up by device id or DevEUI.

    Parameters
    ----------
    devices : iterable of Device
    routes : iterable of GenericRoute
    source : str
        Where the registry came from (for messages).

    Examples
    --------
    >>> reg = Registry([Device("ls-co2-1", "70B3D57ED0000001", kind="co2")])
    >>> reg.lookup(dev_eui="70b3d57ed0000001").device_id
    'ls-co2-1'
    """

    def __init__(
        self,
        devices: list[Device] | tuple[Device, ...] = (),
        routes: list[GenericRoute] | tuple[GenericRoute, ...] = (),
        *,
        source: str = "<memory>",
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        self.source = source
        self.routes: list[GenericRoute] = list(routes)
        self.extra: dict[str, Any] = dict(extra or {})
        self._devices: list[Device] = []
        self._by_id: dict[str, Device] = {}
        self._by_eui: dict[str, Device] = {}
        for device in devices:
            self.add(device)

    def add(self, device: Device) -> None:
        """Add a device.

        Parameters
        ----------
        device : Device

        Raises
        ------
        RegistryError
            When its device id or DevEUI is already registered.
        """
        if device.device_id in self._by_id:
            raise RegistryError(f"{self.source}: device {device.device_id!r} is listed twice")
        if device.dev_eui and device.dev_eui in self._by_eui:
            other = self._by_eui[device.dev_eui].device_id
            raise RegistryError(
                f"{self.source}: device {device.device_id!r}: dev_eui {device.dev_eui} "
                f"is already used by {other!r}"
            )
        self._devices.append(device)
        self._by_id[device.device_id] = device
        if device.dev_eui:
            self._by_eui[device.dev_eui] = device

    def __iter__(self) -> Iterator[Device]:
        return iter(self._devices)

    def __len__(self) -> int:
        return len(self._devices)

    def __contains__(self, device_id: object) -> bool:
        return device_id in self._by_id

    def __repr__(self) -> str:
        return (
            f"Registry({len(self._devices)} devices, {len(self.routes)} routes from {self.source})"
        )

    def lookup(self, device_id: str | None = None, dev_eui: str | None = None) -> Device | None:
        """Find a device by DevEUI (tried first) or device id.

        Parameters
        ----------
        device_id : str, optional
        dev_eui : str, optional
            In any case, with or without separators.

        Returns
        -------
        Device or None
        """
        if dev_eui:
            eui = dev_eui if dev_eui in self._by_eui else normalize_dev_eui(dev_eui)
            if eui is not None and eui in self._by_eui:
                return self._by_eui[eui]
        if device_id is not None:
            return self._by_id.get(device_id)
        return None

    def route_for(self, topic: str) -> tuple[GenericRoute, dict[str, str]] | None:
        """Return the first generic route whose topic pattern matches, with its captures."""
        for route in self.routes:
            captures = route.match(topic)
            if captures is not None:
                return route, captures
        return None

    def merged(self, other: Registry) -> Registry:
        """Return a registry holding the devices and routes of both."""
        merged = Registry(self._devices, self.routes, source=f"{self.source}+{other.source}")
        for device in other:
            merged.add(device)
        merged.routes.extend(other.routes)
        merged.extra.update(self.extra)
        merged.extra.update(other.extra)
        return merged

    @classmethod
    def load(cls, path: str | Path) -> Registry:
        """Read a registry from a TOML or CSV file, or every such file of a folder.

        Parameters
        ----------
        path : str or Path
            ``devices.toml``, ``devices.csv``, or a folder (files merged in name order).

        Returns
        -------
        Registry

        Raises
        ------
        RegistryError
            When the file is missing, not valid TOML/CSV, or an entry is invalid; the message
            names the file and the key (or line and column).
        """
        path = Path(path)
        if path.is_dir():
            files = sorted(p for p in path.iterdir() if p.suffix.lower() in (".toml", ".csv"))
            if not files:
                raise RegistryError(f"{path}: folder holds no .toml or .csv registry")
            registry = cls.load(files[0])
            for file in files[1:]:
                registry = registry.merged(cls.load(file))
            return registry
        if not path.exists():
            raise RegistryError(f"{path}: registry file not found")
        suffix = path.suffix.lower()
        if suffix == ".toml":
            return _load_toml(path)
        if suffix == ".csv":
            return _load_csv(path)
        raise RegistryError(f"{path}: unknown registry format {suffix!r}; expected .toml or .csv")


# --- TOML -------------------------------------------------------------------------------


def _load_toml(path: Path) -> Registry:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise RegistryError(f"{path}: not valid TOML: {err}") from err
    except OSError as err:
        raise RegistryError(f"{path}: cannot read: {err}") from err
    defaults_raw = data.get("quantities", {})
    if not isinstance(defaults_raw, dict):
        raise RegistryError(f"{path}: quantities: expected a table of quantity tables")
    defaults = {
        name: _quantity(spec, f"{path}: quantities.{name}", None)
        for name, spec in defaults_raw.items()
    }
    devices_raw = data.get("devices", [])
    if not isinstance(devices_raw, list):
        raise RegistryError(f"{path}: devices: expected an array of tables ([[devices]])")
    registry = Registry(
        source=str(path),
        extra={k: v for k, v in data.items() if k not in ("quantities", "devices", "generic")},
    )
    for i, entry in enumerate(devices_raw):
        if not isinstance(entry, dict):
            raise RegistryError(f"{path}: devices[{i}]: expected a table")
        registry.add(_device(entry, f"{path}: devices[{i}]", defaults))
    routes_raw = data.get("generic", [])
    if not isinstance(routes_raw, list):
        raise RegistryError(f"{path}: generic: expected an array of tables ([[generic]])")
    for i, entry in enumerate(routes_raw):
        registry.routes.append(_route(entry, f"{path}: generic[{i}]"))
    log.debug("loaded %r", registry)
    return registry


def _number(value: Any, where: str, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise RegistryError(f"{where}: expected {what} as a number, got {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise RegistryError(f"{where}: expected a finite number, got {value!r}")
    return value


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise RegistryError(f"{where}: expected a string, got {value!r}")
    return value


def _quantity(spec: Any, where: str, base: Quantity | None) -> Quantity:
    if spec is None or spec == {}:
        return base or Quantity()
    if isinstance(spec, str):  # shorthand: co2 = "ppm"
        return Quantity(
            unit=spec,
            label=base.label if base else "",
            range=base.range if base else None,
            thresholds=base.thresholds if base else (),
        )
    if not isinstance(spec, dict):
        raise RegistryError(f"{where}: expected a table with unit/label/range/thresholds")
    unknown = set(spec) - _QUANTITY_KEYS
    if unknown:
        raise RegistryError(
            f"{where}.{sorted(unknown)[0]}: unknown key; expected one of {sorted(_QUANTITY_KEYS)}"
        )
    base = base or Quantity()
    unit = _text(spec["unit"], f"{where}.unit") if "unit" in spec else base.unit
    label = _text(spec["label"], f"{where}.label") if "label" in spec else base.label
    rng = base.range
    if "range" in spec:
        raw = spec["range"]
        if not isinstance(raw, list) or len(raw) != 2:
            raise RegistryError(f"{where}.range: expected [lo, hi], got {raw!r}")
        lo = _number(raw[0], f"{where}.range", "lo")
        hi = _number(raw[1], f"{where}.range", "hi")
        if not lo < hi:
            raise RegistryError(f"{where}.range: expected lo < hi, got {raw!r}")
        rng = (lo, hi)
    thresholds = base.thresholds
    if "thresholds" in spec:
        raw = spec["thresholds"]
        if not isinstance(raw, list):
            raise RegistryError(f"{where}.thresholds: expected a list of numbers, got {raw!r}")
        values = tuple(_number(v, f"{where}.thresholds", "a threshold") for v in raw)
        if any(b <= a for a, b in pairwise(values)):
            raise RegistryError(f"{where}.thresholds: expected ascending numbers, got {raw!r}")
        thresholds = values
    return Quantity(unit=unit, label=label, range=rng, thresholds=thresholds)


def _device(entry: dict[str, Any], where: str, defaults: dict[str, Quantity]) -> Device:
    device_id = entry.get("id", entry.get("device_id"))
    if not isinstance(device_id, str) or not device_id.strip():
        raise RegistryError(f"{where}.id: expected a non-empty device id string")
    where = f"{where} ({device_id})"
    dev_eui = None
    if entry.get("dev_eui") not in (None, ""):
        dev_eui = normalize_dev_eui(entry["dev_eui"])
        if dev_eui is None:
            raise RegistryError(
                f"{where}.dev_eui: expected 16 hex digits, got {entry['dev_eui']!r}"
            )
    lat = lon = None
    if "lat" in entry or "lon" in entry:
        if "lat" not in entry or "lon" not in entry:
            raise RegistryError(f"{where}: lat and lon must be given together")
        lat = _number(entry["lat"], f"{where}.lat", "latitude")
        lon = _number(entry["lon"], f"{where}.lon", "longitude")
        if not -90 <= lat <= 90:
            raise RegistryError(f"{where}.lat: expected -90…90, got {lat}")
        if not -180 <= lon <= 180:
            raise RegistryError(f"{where}.lon: expected -180…180, got {lon}")
    codec = entry.get("codec")
    if codec is not None and codec not in _CODECS:
        raise RegistryError(f"{where}.codec: expected one of {list(_CODECS)}, got {codec!r}")
    raw_q = entry.get("quantities", {})
    quantities: dict[str, Quantity] = {}
    if isinstance(raw_q, list):  # names only: take the [quantities.NAME] defaults
        for name in raw_q:
            if not isinstance(name, str):
                raise RegistryError(f"{where}.quantities: expected names, got {name!r}")
            quantities[name] = defaults.get(name, Quantity())
    elif isinstance(raw_q, dict):
        for name, spec in raw_q.items():
            quantities[name] = _quantity(spec, f"{where}.quantities.{name}", defaults.get(name))
    else:
        raise RegistryError(f"{where}.quantities: expected a table or a list of names")
    building = entry.get("building")
    if building is not None:
        building = _text(building, f"{where}.building")
    return Device(
        device_id=device_id,
        dev_eui=dev_eui,
        name=_text(entry.get("name", device_id), f"{where}.name"),
        kind=_text(entry.get("kind", ""), f"{where}.kind"),
        lat=lat,
        lon=lon,
        building=building or None,
        quantities=quantities,
        codec=None if codec in (None, "none") else codec,
        extra={k: v for k, v in entry.items() if k not in _DEVICE_KEYS},
    )


def _route(entry: Any, where: str) -> GenericRoute:
    if not isinstance(entry, dict):
        raise RegistryError(f"{where}: expected a table")
    unknown = set(entry) - _ROUTE_KEYS
    if unknown:
        raise RegistryError(
            f"{where}.{sorted(unknown)[0]}: unknown key; expected one of {sorted(_ROUTE_KEYS)}"
        )
    topic = entry.get("topic")
    if not isinstance(topic, str) or not topic:
        raise RegistryError(f"{where}.topic: expected a topic pattern string")
    fields = entry.get("fields", {})
    units = entry.get("units", {})
    for key, table in (("fields", fields), ("units", units)):
        if not isinstance(table, dict) or not all(isinstance(v, str) for v in table.values()):
            raise RegistryError(f"{where}.{key}: expected a table of strings")
    for key in ("device", "time", "values"):
        if key in entry and not isinstance(entry[key], str):
            raise RegistryError(f"{where}.{key}: expected a dotted path string")
    if "{device}" not in topic and "device" not in entry:
        raise RegistryError(f"{where}: give {{device}} in topic or a device path")
    try:
        return GenericRoute(
            topic=topic,
            device=entry.get("device"),
            time=entry.get("time"),
            values=entry.get("values"),
            fields=dict(fields),
            units=dict(units),
        )
    except ValueError as err:
        raise RegistryError(f"{where}.topic: {err} in {topic!r}") from err


# --- CSV --------------------------------------------------------------------------------

_CSV_COLUMNS = (
    "device_id", "dev_eui", "name", "kind", "lat", "lon", "building", "codec",
    "quantity", "unit", "label", "min", "max", "thresholds",
)  # fmt: skip


def _load_csv(path: Path) -> Registry:
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            rows = list(csv.reader(fh))
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise RegistryError(f"{path}: cannot read CSV: {err}") from err
    if not rows:
        raise RegistryError(f"{path}: empty CSV; expected a header row with device_id")
    header = [h.strip().lower() for h in rows[0]]
    if "id" in header and "device_id" not in header:
        header[header.index("id")] = "device_id"
    if "device_id" not in header:
        raise RegistryError(f"{path}: line 1: expected a device_id column, got {header}")
    unknown = [h for h in header if h not in _CSV_COLUMNS]
    if unknown:
        raise RegistryError(
            f"{path}: line 1: unknown column {unknown[0]!r}; expected {list(_CSV_COLUMNS)}"
        )
    entries: dict[str, dict[str, Any]] = {}
    for lineno, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            raise RegistryError(
                f"{path}: line {lineno}: expected {len(header)} columns, got {len(row)}"
            )
        cells = {h: c.strip() for h, c in zip(header, row, strict=True)}
        device_id = cells["device_id"]
        if not device_id:
            raise RegistryError(f"{path}: line {lineno}, column device_id: empty")
        entry = entries.setdefault(device_id, {"id": device_id, "quantities": {}, "_line": lineno})
        for key in ("dev_eui", "name", "kind", "building", "codec"):
            if cells.get(key) and key not in entry:
                entry[key] = cells[key]
        for key in ("lat", "lon"):
            if cells.get(key) and key not in entry:
                entry[key] = _csv_float(cells[key], path, lineno, key)
        if cells.get("quantity"):
            spec: dict[str, Any] = {}
            if cells.get("unit"):
                spec["unit"] = cells["unit"]
            if cells.get("label"):
                spec["label"] = cells["label"]
            if cells.get("min") or cells.get("max"):
                spec["range"] = [
                    _csv_float(cells.get("min", ""), path, lineno, "min"),
                    _csv_float(cells.get("max", ""), path, lineno, "max"),
                ]
            if cells.get("thresholds"):
                spec["thresholds"] = [
                    _csv_float(v, path, lineno, "thresholds")
                    for v in cells["thresholds"].split(";")
                    if v.strip()
                ]
            entry["quantities"][cells["quantity"]] = spec
    registry = Registry(source=str(path))
    for entry in entries.values():
        line = entry.pop("_line")
        registry.add(_device(entry, f"{path}: line {line}", {}))
    return registry


def _csv_float(text: str, path: Path, lineno: int, column: str) -> float:
    try:
        value = float(text)
    except ValueError as err:
        raise RegistryError(
            f"{path}: line {lineno}, column {column}: expected a number, got {text!r}"
        ) from err
    if not math.isfinite(value):
        raise RegistryError(f"{path}: line {lineno}, column {column}: expected a finite number")
    return value
