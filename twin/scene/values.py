"""From stored readings to one value per device and per building (vectorised).

The store answers "latest per device and quantity" (or "as of t"); these functions attach the
style key of each row, turn text readings into numbers, mark stale readings, and reduce
several rows per device and several devices per building to one value each.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from twin.scene.styles import Style, text_to_value


def to_utc(t: Any) -> pd.Timestamp:
    """Return ``t`` (datetime, ISO text, epoch seconds, Timestamp) as a UTC Timestamp.

    Examples
    --------
    >>> to_utc("2026-01-02T03:04:05").isoformat()
    '2026-01-02T03:04:05+00:00'
    """
    ts = pd.Timestamp(t, unit="s") if isinstance(t, int | float) else pd.Timestamp(t)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def utc_series(s: pd.Series) -> pd.Series:
    """Return a series of times as timezone-aware UTC (naive times are UTC)."""
    s = pd.to_datetime(s)
    if getattr(s.dt, "tz", None) is None:
        return s.dt.tz_localize("UTC")
    return s.dt.tz_convert("UTC")


def annotate(
    df: pd.DataFrame,
    *,
    key_of: Callable[[str, str | None], str | None],
    styles: Mapping[str, Style],
    ref: pd.Timestamp,
) -> pd.DataFrame:
    """Add ``key`` (style key), ``num`` (numeric value) and ``age_s`` to store rows.

    Parameters
    ----------
    df : pandas.DataFrame
        Rows of :meth:`Store.latest` / :meth:`Store.as_of` (``device, quantity, time,
        value, unit, text``).
    key_of : callable
        ``(quantity, unit) -> style key or None``.
    styles : mapping
        The styles, for text values (``"blocked"`` → 1).
    ref : pandas.Timestamp
        The moment shown; ``age_s`` is measured back from it.

    Returns
    -------
    pandas.DataFrame
        A copy with the three columns added.
    """
    if not len(df):
        return df.assign(key=[], num=[], age_s=[])
    df = df.copy()
    units = df["unit"] if "unit" in df else pd.Series(None, index=df.index)
    df["key"] = [
        key_of(str(q), None if pd.isna(u) else str(u))
        for q, u in zip(df["quantity"], units, strict=True)
    ]
    num = pd.to_numeric(df["value"], errors="coerce").to_numpy(dtype=float, copy=True)
    if "text" in df:
        missing = np.isnan(num) & df["text"].notna().to_numpy()
        for i in np.flatnonzero(missing):  # only text rows, few
            key = df["key"].iat[i]
            if isinstance(key, str):
                num[i] = text_to_value(df["text"].iat[i], styles[key])
    df["num"] = num
    df["time"] = utc_series(df["time"])
    df["age_s"] = (ref - df["time"]).dt.total_seconds().to_numpy()
    return df


def per_device(
    df: pd.DataFrame, device_index: pd.Series, n_devices: int, max_age: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Reduce annotated rows of one quantity to one value per device.

    Parameters
    ----------
    df : pandas.DataFrame
        Rows of :func:`annotate` for one style key.
    device_index : pandas.Series
        Device id → position in the device table.
    n_devices : int
        Number of devices.
    max_age : float
        Seconds after which a reading is stale.

    Returns
    -------
    value : numpy.ndarray
        Mean of the device's rows (e.g. ``temperature_1`` and ``temperature_2``); NaN
        without a reading.
    stale : numpy.ndarray
        True when all its rows are older than ``max_age``.
    seen : numpy.ndarray
        True for devices with at least one row.
    """
    value = np.full(n_devices, np.nan)
    stale = np.zeros(n_devices, dtype=bool)
    seen = np.zeros(n_devices, dtype=bool)
    if not len(df):
        return value, stale, seen
    idx = device_index.reindex(df["device"].astype(str)).to_numpy(dtype=float)
    ok = ~np.isnan(idx)
    idx = idx[ok].astype(np.intp)
    v = df["num"].to_numpy(dtype=float)[ok]
    old = df["age_s"].to_numpy(dtype=float)[ok] > max_age
    rows = np.bincount(idx, minlength=n_devices)
    seen = rows > 0
    value = _nanmean_by(idx, v, n_devices)
    stale = seen & (np.bincount(idx, weights=~old, minlength=n_devices) == 0)
    return value, stale, seen


def per_building(
    group: np.ndarray, value: np.ndarray, stale: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Reduce device values to one value per building group.

    A building shows the mean of its devices' fresh values; when all are stale, the mean
    of the stale ones, marked stale; NaN when none has a reading.

    Parameters
    ----------
    group : numpy.ndarray
        Building group of each device (bound devices only).
    value, stale : numpy.ndarray
        Per device, as from :func:`per_device`.

    Returns
    -------
    groups, value, stale : numpy.ndarray
        One entry per building group that has a device.
    """
    fresh = ~stale & ~np.isnan(value)
    groups, inv = np.unique(np.asarray(group), return_inverse=True)
    n = len(groups)
    fv = _nanmean_by(inv, np.where(fresh, value, np.nan), n)
    v = _nanmean_by(inv, value, n)
    any_fresh = np.bincount(inv, weights=fresh, minlength=n) > 0
    out = np.where(any_fresh, fv, v)
    return groups, out, ~any_fresh & ~np.isnan(out)


def _nanmean_by(index: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    """Mean of ``values`` per ``index`` (0..n-1), skipping NaN; NaN where none is left."""
    ok = ~np.isnan(values)
    total = np.bincount(index[ok], weights=values[ok], minlength=n)
    count = np.bincount(index[ok], minlength=n)
    out = np.full(n, np.nan)
    np.divide(total, count, out=out, where=count > 0)
    return out
