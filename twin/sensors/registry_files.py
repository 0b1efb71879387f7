"""Reading device registries from TOML and CSV files (see :meth:`Registry.load`).

Every check names the file and the key (TOML) or the line and column (CSV) and says what was
expected, raising :class:`~twin.errors.RegistryError`.
"""

from __future__ import annotations

import csv
import logging
import math
import tomllib
from itertools import pairwise
from pathlib import Path
from typing import Any

from twin.errors import RegistryError
from twin.sensors.registry import Device, GenericRoute, Quantity, Registry, normalize_dev_eui

log = logging.getLogger(__name__)

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
#: Keys of other tools (or typos) that would otherwise be kept silently in ``Device.extra``
#: while the device lost its position or DevEUI.
_MISSPELT = {
    "latitude": "lat", "longitude": "lon", "lng": "lon", "long": "lon", "deveui": "dev_eui",
    "devEui": "dev_eui", "dev_EUI": "dev_eui", "eui": "dev_eui", "unit": "quantities",
    "building_id": "building", "quantity": "quantities",
}  # fmt: skip
_QUANTITY_KEYS = {"unit", "label", "range", "thresholds"}
_ROUTE_KEYS = {"topic", "device", "time", "values", "fields", "units", "name"}


# --- TOML -------------------------------------------------------------------------------


def load_toml(path: Path) -> Registry:
    """Read a TOML registry (``[quantities.*]``, ``[[devices]]``, ``[[generic]]``)."""
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
        where = f"{path}: devices[{i}]"
        registry.add(_device(entry, where, defaults), where=f"{where} ({_shown(entry.get('id'))})")
    routes_raw = data.get("generic", [])
    if not isinstance(routes_raw, list):
        raise RegistryError(f"{path}: generic: expected an array of tables ([[generic]])")
    for i, entry in enumerate(routes_raw):
        registry.routes.append(_route(entry, f"{path}: generic[{i}]"))
    log.debug("loaded %r", registry)
    return registry


def _check_keys(entry: dict[str, Any], allowed: set[str], where: str) -> None:
    """Refuse keys outside ``allowed``, naming the first one and the valid choices."""
    unknown = set(entry) - allowed
    if unknown:
        raise RegistryError(
            f"{where}.{sorted(unknown)[0]}: unknown key; expected one of {sorted(allowed)}"
        )


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
    _check_keys(spec, _QUANTITY_KEYS, where)
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


def _shown(value: Any) -> str:
    """Return a device id fit for a one-line error (its repr when it holds line breaks)."""
    text = str(value)
    return text if text.isprintable() and len(text) <= 80 else repr(text)[:80]


def _device(entry: dict[str, Any], where: str, defaults: dict[str, Quantity]) -> Device:
    device_id = entry.get("id", entry.get("device_id"))
    if not isinstance(device_id, str) or not device_id.strip():
        raise RegistryError(f"{where}.id: expected a non-empty device id string")
    where = f"{where} ({_shown(device_id)})"
    for key, meant in _MISSPELT.items():
        if key in entry:
            raise RegistryError(f"{where}.{key}: unknown key; expected {meant!r}")
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
    _check_keys(entry, _ROUTE_KEYS, where)
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


def load_csv(path: Path) -> Registry:
    """Read a CSV registry: one row per device and quantity."""
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
        entry = entries.setdefault(
            device_id, {"id": device_id, "quantities": {}, "_line": lineno, "_lines": {}}
        )
        for key in ("dev_eui", "name", "kind", "building", "codec", "lat", "lon"):
            if not cells.get(key):
                continue
            value = (
                cells[key]
                if key not in ("lat", "lon")
                else _csv_float(cells[key], path, lineno, key)
            )
            if key in entry and entry[key] != value:
                raise RegistryError(
                    f"{path}: line {lineno}, column {key}: {cells[key]!r} contradicts line "
                    f"{entry['_lines'][key]} ({entry[key]!r}) for device {device_id!r}; expected "
                    "the same value on every row of a device, or the cell left empty"
                )
            entry[key] = value
            entry["_lines"].setdefault(key, lineno)
        if cells.get("quantity") in entry["quantities"]:
            raise RegistryError(
                f"{path}: line {lineno}, column quantity: {cells['quantity']!r} is listed twice "
                f"for device {device_id!r}; expected one row per device and quantity"
            )
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
        entry.pop("_lines")
        where = f"{path}: line {line}"
        registry.add(_device(entry, where, {}), where=f"{where} ({_shown(entry['id'])})")
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
