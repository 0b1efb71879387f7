"""Devices of the simulator: per-device state, radio links, generated street sensors.

Each simulated device keeps its own random generator (seeded with the simulator's seed and
its index), its pattern state and its frame counter, so that adding devices never changes
the messages of the others.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from twin.sensors.registry import Device, Quantity, Registry
from twin.sensors.sim_patterns import PATTERNS, Pattern
from twin.sensors.sim_wire import LPP_LAYOUT, Gateway, signal

#: Gateways of the simulated network (rooftops in Ludwigshafen).
GATEWAYS = (
    Gateway("ls-gw-rathaus", "B827EBFFFE6C0A01", 49.483427, 8.438093, 98.0),
    Gateway("ls-gw-feuerwache", "B827EBFFFE6C0A02", 49.485614, 8.425641, 24.0),
    Gateway("ls-gw-hallenbad", "B827EBFFFE6C0A03", 49.475707, 8.422996, 18.0),
    Gateway("ls-gw-nord", "B827EBFFFE6C0A04", 49.497300, 8.424124, 35.0),
)
#: The built area of the demo city (EPSG:25832): E min, N min, E max, N max.
BUILT_AREA = (456_500.0, 5_478_000.0, 459_750.0, 5_484_500.0)
#: Kinds of the devices added by ``devices=N`` beyond the registry.
GENERATED_KINDS = ("weather", "air-quality", "noise")


def _distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    dy = (lat2 - lat1) * 111_195.0
    dx = (lon2 - lon1) * 111_195.0 * math.cos(math.radians((lat1 + lat2) / 2))
    return math.hypot(dx, dy)


class DeviceSim:
    """Per-device state: pattern, generator, counters."""

    def __init__(self, device: Device, pattern: Pattern, seed: int, index: int) -> None:
        self.device = device
        self.pattern = pattern
        self.params = dict(device.extra)
        self.rng = np.random.default_rng([seed, index])
        self.state: dict[str, Any] = {}
        self.f_cnt = int(self.params.get("f_cnt_start", 0))
        self.quantities = [q for q in device.quantities if q in pattern.quantities] or list(
            pattern.quantities
        )
        self.dev_eui = device.dev_eui or f"70B3D57ED0{index:06X}"
        lat, lon = device.lat, device.lon
        self.lat = lat
        self.lon = lon
        if lat is None or lon is None:
            self.distances = [(gw, 1500.0) for gw in GATEWAYS[:1]]
        else:
            self.distances = sorted(
                ((gw, _distance_m(lat, lon, gw.lat, gw.lon)) for gw in GATEWAYS),
                key=lambda item: item[1],
            )
        self.spreading_factor = 7 if self.distances[0][1] < 1500 else 9
        self._gws = [gw for gw, _ in self.distances[:3]]
        self._gw_distance = [dist for _, dist in self.distances[:3]]

    def sample(self, times: np.ndarray) -> list[dict[str, Any]]:
        """Values at ascending times, one dict per time in the device's quantity order."""
        arrays = self.pattern.sample(times, self.rng, self.params, self.state)
        columns = []
        for q in self.quantities:
            column = arrays[q]
            if column.dtype == object:
                columns.append(column.tolist())
            elif q in LPP_LAYOUT and LPP_LAYOUT[q][2] / LPP_LAYOUT[q][4] >= 1:
                columns.append([int(v) for v in column.tolist()])
            else:
                columns.append(column.tolist())
        return [dict(zip(self.quantities, row, strict=True)) for row in zip(*columns, strict=True)]

    def radio(self) -> tuple[tuple[Gateway, float, float], ...]:
        """Return the gateways that hear the next uplink, with RSSI and SNR."""
        links = signal(self._gw_distance, self.rng)
        return tuple(
            (gw, rssi, snr)
            for i, (gw, (rssi, snr)) in enumerate(zip(self._gws, links, strict=True))
            if i == 0 or rssi > -118
        )


def generated_devices(registry: Registry, count: int, seed: int) -> list[Device]:
    """Street devices spread over the built area of the demo city."""
    from pyproj import Transformer

    rng = np.random.default_rng([seed, 7_777_777])
    e0, n0, e1, n1 = BUILT_AREA
    east = rng.uniform(e0, e1, count)
    north = rng.uniform(n0, n1, count)
    lon, lat = Transformer.from_crs(25832, 4326, always_xy=True).transform(east, north)
    defaults: dict[str, Quantity] = {}
    for device in registry:
        for name, quantity in device.quantities.items():
            defaults.setdefault(name, quantity)
    used_euis = {d.dev_eui for d in registry}
    devices = []
    for i in range(count):
        kind = GENERATED_KINDS[i % len(GENERATED_KINDS)]
        pattern = PATTERNS[kind]
        eui = f"70B3D57ED0F{i:05X}"
        while eui in used_euis:
            eui = f"{int(eui, 16) + 1:016X}"
        devices.append(
            Device(
                device_id=f"ls-sim-{kind}-{i + 1:05d}",
                dev_eui=eui,
                name=f"Simulated {kind} sensor {i + 1}",
                kind=kind,
                lat=round(float(lat[i]), 6),
                lon=round(float(lon[i]), 6),
                quantities={q: defaults.get(q, Quantity()) for q in pattern.quantities},
                extra={"generated": True, "traffic": round(float(rng.uniform(0.4, 1.4)), 2)},
            )
        )
    return devices
