"""The device registry: which LoRaWAN device is what, where, and how to show its values.

A registry is read from TOML (``sensors/*.toml``) or CSV; the format is documented in
``docs/sensors.md``. It maps a device id or DevEUI to a :class:`Device` (name, kind,
position as lat/lon or a City building id, payload codec, quantities with unit, label,
display range and alarm thresholds) and holds the topic patterns and field mappings of the
generic JSON format (:class:`GenericRoute`).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from twin.errors import RegistryError

_HEX16 = re.compile(r"^[0-9A-Fa-f]{16}$")


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
    return _normalize_eui(value)


@functools.lru_cache(maxsize=65536)
def _normalize_eui(value: str) -> str | None:
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

    def add(self, device: Device, *, where: str | None = None) -> None:
        """Add a device.

        Parameters
        ----------
        device : Device
        where : str, optional
            Where the entry stands, for messages (``"devices.toml: devices[3] (ls-co2-x)"``);
            the registry's source by default.

        Raises
        ------
        RegistryError
            When its device id or DevEUI is already registered.
        """
        place = where or f"{self.source}: device {device.device_id!r}"
        if device.device_id in self._by_id:
            raise RegistryError(
                f"{place}: device id {device.device_id!r} is listed twice; expected each "
                "device once"
            )
        if device.dev_eui and device.dev_eui in self._by_eui:
            other = self._by_eui[device.dev_eui].device_id
            raise RegistryError(
                f"{place}: dev_eui {device.dev_eui} is already used by {other!r}; expected "
                "one DevEUI per device"
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
        from twin.sensors import registry_files  # the parsers need this module's classes

        suffix = path.suffix.lower()
        if suffix == ".toml":
            return registry_files.load_toml(path)
        if suffix == ".csv":
            return registry_files.load_csv(path)
        raise RegistryError(f"{path}: unknown registry format {suffix!r}; expected .toml or .csv")
