"""Daily patterns of the simulated sensors, vectorised over time.

Each device kind of the demo deployment has a :class:`Pattern`: given an array of UTC
timestamps (seconds since the epoch, ascending) it returns one array of values per quantity.
Patterns follow the local clock of Ludwigshafen (Europe/Berlin, with summer time): school
hours, shop hours, rush hours, office hours, night-time setbacks. Slow variations (weather,
the Rhine's level) are smooth functions of time; small Gaussian noise is added with the
device's own random generator, so a seed gives the same values again.

Some quantities carry state from one call to the next (a meter's cumulative energy, a bike
counter's daily total, whether an access road is blocked): :meth:`Pattern.sample` keeps it in
the ``state`` dict the caller passes for each device.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

#: The local clock of Ludwigshafen.
ZONE = ZoneInfo("Europe/Berlin")
DAY = 86400.0


@dataclass(frozen=True)
class LocalTime:
    """Local-clock features of timestamps (arrays of equal length).

    Parameters
    ----------
    epoch : ndarray of float
        UTC seconds since 1970.
    hour : ndarray of float
        Local decimal hour (0–24).
    weekday : ndarray of int
        0 = Monday … 6 = Sunday.
    doy : ndarray of int
        Day of the year (1–366).
    day : ndarray of int
        The local calendar date as days since 1970-01-01.
    """

    epoch: np.ndarray
    hour: np.ndarray
    weekday: np.ndarray
    doy: np.ndarray
    day: np.ndarray

    @classmethod
    def from_epoch(cls, epoch: np.ndarray) -> LocalTime:
        """Compute the local features of UTC epoch seconds.

        The UTC offset (CET/CEST) is looked up once per distinct hour, so this stays cheap
        for one timestamp and for millions.
        """
        epoch = np.atleast_1d(np.asarray(epoch, dtype=float))
        hours = np.floor(epoch / 3600.0).astype(np.int64)
        unique, inverse = np.unique(hours, return_inverse=True)
        offsets = np.array(
            [
                datetime.fromtimestamp(int(h) * 3600, ZONE).utcoffset().total_seconds()  # type: ignore[union-attr]
                for h in unique
            ]
        )
        local = epoch + offsets[inverse]
        day = np.floor(local / DAY).astype(np.int64)
        dates = day.astype("datetime64[D]")
        doy = (dates - dates.astype("datetime64[Y]").astype("datetime64[D]")).astype(int) + 1
        return cls(
            epoch=epoch,
            hour=(local - day * DAY) / 3600.0,
            weekday=((day + 3) % 7).astype(int),  # 1970-01-01 was a Thursday
            doy=doy,
            day=day,
        )

    @property
    def workday(self) -> np.ndarray:
        """True Monday to Friday."""
        return self.weekday < 5


def smoothstep(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """0 below ``lo``, 1 above ``hi``, a smooth S-curve between."""
    t = np.clip((np.asarray(x, dtype=float) - lo) / (hi - lo), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def window(hour: np.ndarray, start: float, end: float, ramp: float = 0.5) -> np.ndarray:
    """1 between ``start`` and ``end`` o'clock, ramping over ``ramp`` hours at both ends."""
    return smoothstep(hour, start - ramp / 2, start + ramp / 2) * (
        1.0 - smoothstep(hour, end - ramp / 2, end + ramp / 2)
    )


def bump(hour: np.ndarray, centre: float, width: float) -> np.ndarray:
    """Return a Gaussian bump around ``centre`` o'clock with standard deviation ``width`` hours."""
    return np.exp(-0.5 * ((hour - centre) / width) ** 2)


def traffic(lt: LocalTime) -> np.ndarray:
    """Road traffic intensity 0–1: morning and evening rush hours on workdays."""
    workday = lt.workday
    day = 0.25 + 0.35 * window(lt.hour, 6.0, 21.0, 2.0)
    rush = 0.65 * bump(lt.hour, 7.75, 0.9) + 0.6 * bump(lt.hour, 17.0, 1.2)
    weekend = 0.15 + 0.45 * window(lt.hour, 10.0, 20.0, 2.0)
    return np.where(workday, np.minimum(day + rush, 1.0), weekend) * (
        0.15 + 0.85 * window(lt.hour, 5.0, 23.5, 1.5)
    )


def outdoor_temperature(lt: LocalTime) -> np.ndarray:
    """Ludwigshafen air temperature: ~2 °C in January, ~21 °C in July, ±5 °C per day."""
    seasonal = 11.5 - 9.5 * np.cos(2 * np.pi * (lt.doy - 15) / 365.25)
    daily = 5.0 * np.cos(2 * np.pi * (lt.hour - 15.0) / 24.0)
    weather = 2.5 * np.sin(2 * np.pi * lt.epoch / (4.3 * DAY)) + 1.5 * np.sin(
        2 * np.pi * lt.epoch / (9.1 * DAY)
    )
    return seasonal + daily + weather


def occupancy(lt: LocalTime, profile: str) -> np.ndarray:
    """Share of people present (0–1) in a building of the given use.

    Parameters
    ----------
    lt : LocalTime
        The times.
    profile : str
        ``school-primary`` (8–13 h), ``school`` (8–15:30 h, Gymnasium/IGS), ``library``
        (Tue–Sat 10–19 h), ``office`` (Mon–Fri 7:30–17 h), ``council`` (office plus evening
        meetings), ``pool`` (daily 7–21 h), ``shopping`` (Mon–Sat 9–20 h).

    Returns
    -------
    ndarray of float
    """
    h, workday, wd = lt.hour, lt.workday, lt.weekday
    if profile in ("school-primary", "school"):
        end = 13.0 if profile == "school-primary" else 15.5
        lessons = window(h, 7.9, end, 0.3)
        # breaks: windows open, half the pupils outside
        breaks = 0.5 * (window(h, 9.5, 9.75, 0.1) + window(h, 11.25, 11.5, 0.1))
        lunch = 0.4 * window(h, 13.0, 13.75, 0.2) if profile == "school" else 0.0
        return np.where(workday, np.clip(lessons - breaks - lunch, 0.0, 1.0), 0.0)
    if profile == "library":
        open_days = (wd >= 1) & (wd <= 5)
        busy = 0.35 + 0.45 * bump(h, 16.5, 2.0) + 0.2 * bump(h, 11.5, 1.0)
        return np.where(open_days, window(h, 10.0, 19.0, 0.4) * np.minimum(busy, 1.0), 0.0)
    if profile == "office":
        return np.where(workday, window(h, 7.5, 17.0, 1.5) * (1 - 0.3 * bump(h, 12.5, 0.5)), 0.03)
    if profile == "council":
        meetings = np.where(wd == 1, window(h, 17.0, 20.5, 0.3), 0.0)  # Tuesday evenings
        return np.maximum(occupancy(lt, "office") * 0.6, meetings)
    if profile == "pool":
        return window(h, 7.0, 21.0, 0.5) * (0.3 + 0.5 * bump(h, 17.0, 2.0) + 0.2 * bump(h, 8, 1))
    if profile == "shopping":
        shops = np.where(wd < 6, window(h, 9.0, 20.0, 1.0), 0.0)
        return np.minimum(shops * (0.55 + 0.4 * bump(h, 14.5, 2.5)), 1.0)
    raise ValueError(f"unknown occupancy profile {profile!r}")


def _lagged(lt: LocalTime, profile: str, lag_hours: float) -> np.ndarray:
    """Occupancy smoothed by the time air (or a car park) takes to follow."""
    past = LocalTime.from_epoch(lt.epoch - lag_hours * 3600.0)
    return 0.55 * occupancy(lt, profile) + 0.45 * occupancy(past, profile)


SampleFn = Callable[[LocalTime, np.random.Generator, dict[str, Any], dict[str, Any]], dict]


@dataclass(frozen=True)
class Pattern:
    """How a device kind produces values.

    Parameters
    ----------
    kind : str
        Device kind of the registry (``co2``, ``parking``, ...).
    quantities : tuple of str
        The quantities it can produce.
    fn : callable
        ``fn(local_time, rng, params, state) -> {quantity: ndarray}``.
    """

    kind: str
    quantities: tuple[str, ...]
    fn: SampleFn

    def sample(
        self,
        epoch: np.ndarray,
        rng: np.random.Generator,
        params: dict[str, Any] | None = None,
        state: dict[str, Any] | None = None,
    ) -> dict[str, np.ndarray]:
        """Values at the given UTC timestamps (ascending).

        Parameters
        ----------
        epoch : array of float
            UTC seconds since the epoch, ascending, after any earlier call's times.
        rng : numpy.random.Generator
            The device's generator.
        params : dict, optional
            Device settings from the registry (``profile``, ``capacity``, ``base_kw`` ...).
        state : dict, optional
            Kept between calls for counters; pass the same dict for the same device.

        Returns
        -------
        dict of str to ndarray
            Float arrays, or object arrays of text for text quantities.
        """
        lt = LocalTime.from_epoch(np.atleast_1d(np.asarray(epoch, dtype=float)))
        return self.fn(lt, rng, params or {}, {} if state is None else state)


def _noise(rng: np.random.Generator, n: int, sd: float) -> np.ndarray:
    return rng.normal(0.0, sd, n)


def _battery(lt: LocalTime, rng: np.random.Generator, params: dict[str, Any]) -> np.ndarray:
    start = float(params.get("battery_start", 3.62))
    days = (lt.epoch - 1.7e9) / DAY
    return np.round(start - 0.00012 * days + _noise(rng, len(lt.epoch), 0.004), 3)


def _dt_hours(lt: LocalTime, state: dict[str, Any], default: float) -> np.ndarray:
    """Hours since the previous sample (the first one uses the state's or ``default``)."""
    prev = state.get("t")
    first = default if prev is None else max((lt.epoch[0] - prev) / 3600.0, 0.0)
    dt = np.diff(lt.epoch, prepend=lt.epoch[0]) / 3600.0
    dt[0] = first
    state["t"] = float(lt.epoch[-1])
    return dt


def indoor_air(lt, rng, params, state):  # noqa: D103
    n = len(lt.epoch)
    profile = params.get("profile", "school")
    occ = _lagged(lt, profile, 0.4)
    peak = float(params.get("co2_peak", 1300.0))
    heating = window(lt.hour, 6.0, 18.0, 1.0) * (lt.workday | (profile in ("library", "pool")))
    out = outdoor_temperature(lt)
    return {
        "co2": np.round(np.maximum(415 + (peak - 420) * occ + _noise(rng, n, 25.0), 400.0)),
        "temperature": np.round(
            17.5 + 3.0 * heating + 1.5 * occ + 0.08 * out + _noise(rng, n, 0.15), 1
        ),
        "humidity": np.round(np.clip(38 + 12 * occ - 0.3 * out + _noise(rng, n, 1.2), 15, 95), 1),
        "battery": _battery(lt, rng, params),
    }


def weather(lt, rng, params, state):  # noqa: D103
    n = len(lt.epoch)
    t = outdoor_temperature(lt) + float(params.get("offset", 0.0)) + _noise(rng, n, 0.2)
    rel = 72 - 2.2 * (t - outdoor_temperature(lt).mean()) + _noise(rng, n, 2.0)
    pressure = 1015 + 8 * np.sin(2 * np.pi * lt.epoch / (3.7 * DAY)) + _noise(rng, n, 0.3)
    wind = np.abs(2.5 + 1.5 * bump(lt.hour, 14, 3) + _noise(rng, n, 0.8))
    return {
        "temperature": np.round(t, 1),
        "humidity": np.round(np.clip(rel, 20, 100), 1),
        "pressure": np.round(pressure, 1),
        "wind_speed": np.round(wind, 1),
        "battery": _battery(lt, rng, params),
    }


def air_quality(lt, rng, params, state):  # noqa: D103
    n = len(lt.epoch)
    tr = traffic(lt) * float(params.get("traffic", 1.0))
    winter = 0.5 + 0.5 * np.cos(2 * np.pi * (lt.doy - 15) / 365.25)
    inversion = 0.6 * bump(lt.hour, 6.5, 2.0) + 0.4 * bump(lt.hour, 21.0, 2.5)
    pm25 = 6 + 7 * winter + 6 * tr + 4 * inversion * winter + _noise(rng, n, 1.2)
    return {
        "pm25": np.round(np.maximum(pm25, 1.0), 1),
        "pm10": np.round(np.maximum(pm25 * 1.6 + 3 + _noise(rng, n, 2.0), 2.0), 1),
        "no2": np.round(np.maximum(12 + 42 * tr + 8 * winter + _noise(rng, n, 3.0), 2.0), 1),
    }


def noise(lt, rng, params, state):  # noqa: D103
    n = len(lt.epoch)
    tr = traffic(lt) * float(params.get("traffic", 1.0))
    laeq = 43 + 22 * tr + _noise(rng, n, 1.5)
    return {
        "laeq": np.round(laeq, 1),
        "lamax": np.round(laeq + 9 + np.abs(_noise(rng, n, 5.0)), 1),
    }


def parking(lt, rng, params, state):  # noqa: D103
    n = len(lt.epoch)
    capacity = int(params.get("capacity", 500))
    share = 0.06 + 0.86 * _lagged(lt, "shopping", 0.5)
    share = np.where(lt.weekday == 5, share * 1.05, share)  # Saturday shopping
    occupied = np.clip(np.round(capacity * share + _noise(rng, n, capacity * 0.015)), 0, capacity)
    return {
        "occupied": occupied,
        "free": capacity - occupied,
        "occupancy": np.round(100.0 * occupied / capacity, 1),
    }


def water_level(lt, rng, params, state):  # noqa: D103
    n = len(lt.epoch)
    days = lt.epoch / DAY
    # Alpine snowmelt peaks in early summer; rain waves last a few days.
    seasonal = 390 + 110 * np.cos(2 * np.pi * (lt.doy - 170) / 365.25)
    waves = 70 * np.sin(2 * np.pi * days / 11.3) + 35 * np.sin(2 * np.pi * days / 4.1 + 1.0)
    return {
        "water_level": np.round(seasonal + waves + _noise(rng, n, 0.8)),
        "water_temperature": np.round(
            12.5 - 8 * np.cos(2 * np.pi * (lt.doy - 30) / 365.25) + _noise(rng, n, 0.05), 1
        ),
    }


def bike_counter(lt, rng, params, state):  # noqa: D103
    dt = _dt_hours(lt, state, float(params.get("interval", 300)) / 3600.0)
    scale = float(params.get("scale", 1.0))
    commute = 40 + 330 * bump(lt.hour, 7.6, 0.8) + 380 * bump(lt.hour, 17.1, 1.1)
    leisure = 25 + 190 * window(lt.hour, 10.0, 19.0, 2.0)
    summer = 0.65 + 0.35 * np.cos(2 * np.pi * (lt.doy - 190) / 365.25)
    night = 0.1 + 0.9 * window(lt.hour, 5.5, 23.0, 1.5)
    rate = np.where(lt.workday, commute + 0.4 * leisure, leisure) * summer * night * scale
    counts = rng.poisson(rate * dt)
    # the daily total resets at local midnight
    day_key = lt.day
    totals = np.empty(len(counts))
    total, last_day = state.get("total", 0), state.get("day")
    for i, (c, d) in enumerate(zip(counts, day_key, strict=True)):
        if d != last_day:
            total, last_day = 0, d
        total += int(c)
        totals[i] = total
    state["total"], state["day"] = total, last_day
    with np.errstate(divide="ignore", invalid="ignore"):
        per_hour = np.where(dt > 0, counts / dt, rate)
    return {"bike_rate": np.round(per_hour), "bikes_today": totals}


def fire_access(lt, rng, params, state):  # noqa: D103
    dt = _dt_hours(lt, state, float(params.get("interval", 300)) / 3600.0)
    # cars park in the access road mostly in the evening; a blockage lasts ~35 minutes
    hazard = 0.03 + 0.25 * bump(lt.hour, 19.5, 2.0) + 0.1 * bump(lt.hour, 12.5, 1.0)
    hazard = hazard * float(params.get("hazard", 1.0))
    p_block = 1 - np.exp(-hazard * dt)
    p_clear = 1 - np.exp(-dt / 0.6)
    draws = rng.random(len(dt))
    blocked = np.empty(len(dt))
    b = bool(state.get("blocked", False))
    for i in range(len(dt)):
        b = draws[i] >= p_clear[i] if b else draws[i] < p_block[i]
        blocked[i] = 1.0 if b else 0.0
    state["blocked"] = b
    status = np.where(blocked > 0, "blocked", "free").astype(object)
    return {"blocked": blocked, "status": status, "battery": _battery(lt, rng, params)}


def energy(lt, rng, params, state):  # noqa: D103
    dt = _dt_hours(lt, state, float(params.get("interval", 300)) / 3600.0)
    n = len(lt.epoch)
    base = float(params.get("base_kw", 30.0))
    peak = float(params.get("peak_kw", 120.0))
    occ = occupancy(lt, params.get("profile", "office"))
    heating = 0.15 * (0.5 + 0.5 * np.cos(2 * np.pi * (lt.doy - 15) / 365.25))
    power = np.maximum(base + (peak - base) * occ + base * heating + _noise(rng, n, base * 0.03), 0)
    meter = float(state.get("meter", params.get("meter_start", 250000.0)))
    readings = meter + np.cumsum(power * dt)
    state["meter"] = float(readings[-1])
    return {"power": np.round(power, 1), "energy": np.round(readings, 1)}


#: Patterns by registry kind.
PATTERNS: dict[str, Pattern] = {
    p.kind: p
    for p in (
        Pattern("co2", ("co2", "temperature", "humidity", "battery"), indoor_air),
        Pattern(
            "weather", ("temperature", "humidity", "pressure", "wind_speed", "battery"), weather
        ),
        Pattern("air-quality", ("pm25", "pm10", "no2"), air_quality),
        Pattern("noise", ("laeq", "lamax"), noise),
        Pattern("parking", ("occupied", "free", "occupancy"), parking),
        Pattern("water-level", ("water_level", "water_temperature"), water_level),
        Pattern("bike-counter", ("bike_rate", "bikes_today"), bike_counter),
        Pattern("fire-access", ("blocked", "status", "battery"), fire_access),
        Pattern("energy", ("power", "energy"), energy),
    )
}
