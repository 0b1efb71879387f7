"""Information cards (building, sensor) and the sensor table, as plain data for the UI.

Everything returned here is JSON-friendly: strings, numbers, lists and dicts, times as ISO
8601 text in UTC, so the app can put it into its state as it is.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from twin.errors import SceneError
from twin.scene.i18n import building_type_label, format_number, quantity_label, t
from twin.scene.styles import colors, hex_color

if TYPE_CHECKING:
    from twin.scene.twin import Twin

log = logging.getLogger(__name__)

HISTORY = timedelta(hours=24)
MAX_POINTS = 288  # 24 h at 5-minute steps; longer histories are thinned


def _text(v: Any) -> str | None:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return None
    return str(v)


def _iso(ts: Any) -> str | None:
    if ts is None or pd.isna(ts):
        return None
    return pd.Timestamp(ts).tz_convert("UTC").isoformat().replace("+00:00", "Z")


def _num(v: Any) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(f) else f


def _latest(twin: Twin) -> pd.DataFrame:
    """Return :meth:`Twin.readings`, or an empty frame when the database does not answer.

    The failure is logged once at WARNING (the banner tells the user), then at DEBUG: panels
    refresh every few seconds and must not flood the log while the database is down.
    """
    global _warned
    try:
        frame = twin.readings()
    except Exception as err:  # database unavailable: the card still shows the building
        if _warned:
            log.debug("cannot read the latest values: %s", err)
        else:
            log.warning("cannot read the latest values (logged once): %s", err)
            _warned = True
        return pd.DataFrame()
    _warned = False
    return frame


#: Whether the current database outage was logged at WARNING already.
_warned = False


def _reading_rows(twin: Twin, df: pd.DataFrame, device: str, lang: str) -> list[dict]:
    """Return the latest readings of one device (rows of ``df``), one dict per quantity."""
    if not len(df):
        return []
    df = df[df["device"].astype(str) == device]
    out = []
    for r in df.itertuples(index=False):
        key = r.key if isinstance(r.key, str) else None
        style = twin.styles.get(key) if key else None
        num = _num(r.num)
        unit = _text(getattr(r, "unit", None)) or (style.unit if style else "")
        stale = bool(style is not None and r.age_s > style.max_age)
        out.append(
            {
                "quantity": str(r.quantity),
                "key": key,
                "label": style.label(lang) if style else quantity_label(str(r.quantity), lang),
                "value": num,
                "text": _text(getattr(r, "text", None)),
                "unit": unit,
                "display": (
                    style.format(num, lang)
                    if style and num is not None
                    else _text(getattr(r, "text", None))
                    or ("–" if num is None else format_number(num, unit, lang))
                ),
                "time": _iso(r.time),
                "age_s": float(r.age_s),
                "stale": stale,
                "color": hex_color(colors([num if num is not None else np.nan], style, [stale])[0])
                if style
                else None,
            }
        )
    order = {k: i for i, k in enumerate(twin.styles)}
    out.sort(key=lambda d: (order.get(d["key"], len(order)), d["quantity"]))
    return out


def _history(twin: Twin, device: str, lang: str) -> list[dict]:
    """Return the last 24 h (before the shown time) of one device, one series per quantity."""
    end = twin.time if twin.time is not None else pd.Timestamp.now(tz="UTC")
    try:
        df = twin.store.history(device, since=end - HISTORY, until=end)
    except Exception:
        log.warning("cannot read the history of %s", device, exc_info=True)
        return []
    if not len(df):
        return []
    series = []
    for quantity, g in df.groupby("quantity", sort=True):
        g = g.sort_values("time")
        values = pd.to_numeric(g["value"], errors="coerce")
        unit = g["unit"].dropna().iloc[-1] if "unit" in g and g["unit"].notna().any() else ""
        key = twin.key_of(str(quantity), unit or None)
        style = twin.styles.get(key) if key else None
        if values.isna().all() and style is not None and "text" in g:
            from twin.scene.styles import text_to_value

            values = pd.Series([text_to_value(x, style) for x in g["text"]], index=g.index)
        if values.isna().all():
            continue
        step = max(1, math.ceil(len(g) / MAX_POINTS))
        times = pd.to_datetime(g["time"], utc=True).iloc[::step]
        series.append(
            {
                "device": device,
                "quantity": str(quantity),
                "key": key,
                "label": style.label(lang) if style else quantity_label(str(quantity), lang),
                "unit": unit or (style.unit if style else ""),
                "times": [_iso(x) for x in times],
                "values": [_num(x) for x in values.iloc[::step]],
                "range": list(style.range) if style else None,
                "thresholds": list(style.thresholds) if style else [],
            }
        )
    return series


def building_card(twin: Twin, row: int, lang: str = "de") -> dict:
    """Describe a building for the info card.

    Parameters
    ----------
    twin : Twin
        The scene.
    row : int
        A row of ``twin.city.buildings`` (any part of the building).
    lang : str
        ``"de"`` or ``"en"``.

    Returns
    -------
    dict
        ``row``, ``id``, ``building``, ``name``, ``address``, ``type``, ``height`` (m, the
        tallest part), ``height_text``, ``height_source`` (``measured``/``levels``/
        ``default``/``geometry``), ``height_source_text``, ``levels``, ``parts``,
        ``synthetic``, ``position`` (local, on the roof), ``sensors`` (one dict per bound
        device: ``device``, ``name``, ``kind``, ``readings``), ``history`` (series of the
        last 24 h: ``device``, ``quantity``, ``label``, ``unit``, ``times``, ``values``),
        ``as_of`` (ISO time the card shows, None for live).

    Raises
    ------
    SceneError
        If ``row`` is not a row of the City.
    """
    b = twin.city.buildings
    if not 0 <= row < len(b):
        raise SceneError(f"building row {row} does not exist (the City has {len(b)} rows)")
    rows = twin.rows_of(row)
    part = b.iloc[rows]
    main = part[~part["is_part"]] if (~part["is_part"]).any() else part
    first = main.iloc[0]
    tallest = part.loc[part["height"].idxmax()] if part["height"].notna().any() else first
    height = _num(tallest["height"])
    source = str(tallest["height_source"] or "default")
    levels = _num(first["levels"])
    name = _text(first["name"])
    bound = twin.binding[twin.binding["row"].isin(rows)]
    sensors = []
    history: list[dict] = []
    latest = _latest(twin) if len(bound) else pd.DataFrame()
    for dev in bound["device"]:
        info = twin.devices.iloc[twin.device_index(dev)]
        sensors.append(
            {
                "device": dev,
                "name": str(info["name"]),
                "kind": _text(info["kind"]),
                "readings": _reading_rows(twin, latest, dev, lang),
            }
        )
        history.extend(_history(twin, dev, lang))
    dec = f"{height:.1f}".replace(".", ",") if lang == "de" and height is not None else None
    return {
        "row": int(row),
        "id": str(first["id"]),
        "building": str(first["building"]),
        "name": name,
        "title": name or t("card.unnamed", lang),
        "address": _text(first["address"]),
        "type": _text(first["building_type"]),
        "type_text": building_type_label(str(first["building_type"]), lang)
        if _text(first["building_type"])
        else None,
        "height": height,
        "height_text": f"{dec or f'{height:.1f}'} m" if height is not None else "–",
        "height_source": source,
        "height_source_text": t(f"card.height_source.{source}", lang),
        "levels": levels,
        "parts": len(rows),
        "synthetic": bool(twin.city.synthetic),
        "position": list(twin.building_position(row)),
        "sensors": sensors,
        "history": history,
        "as_of": _iso(twin.time) if twin.time is not None else None,
    }


def device_card(twin: Twin, device: str, lang: str = "de") -> dict:
    """Describe a sensor for the info card.

    Parameters
    ----------
    twin : Twin
        The scene.
    device : str
        Device id.
    lang : str
        ``"de"`` or ``"en"``.

    Returns
    -------
    dict
        ``device``, ``name``, ``kind``, ``dev_eui``, ``row`` (bound City row or None),
        ``building_id``, ``building_name``, ``how`` (``explicit``/``inside``/``nearest``/
        ``unbound``), ``distance_m``, ``position`` (local), ``last_seen`` (ISO), ``rssi``,
        ``snr``, ``readings``, ``history`` and ``as_of`` (as in :func:`building_card`).

    Raises
    ------
    SceneError
        If the device is unknown.
    """
    i = twin.device_index(device)
    if i is None:
        raise SceneError(f"unknown device {device!r}")
    info = twin.devices.iloc[i]
    bind = twin.binding.iloc[i]
    row = int(bind["row"])
    b = twin.city.buildings
    readings = _reading_rows(twin, _latest(twin), device, lang)
    last = max((r["time"] for r in readings if r["time"]), default=None)
    rssi = snr = None
    try:
        recent = twin.store.history(device, until=twin.time) if twin.time is not None else None
        if recent is None:
            recent = twin.store.history(device, since=pd.Timestamp.now(tz="UTC") - HISTORY)
        if len(recent) and "rssi" in recent:
            last_row = recent.sort_values("time").iloc[-1]
            rssi, snr = _num(last_row.get("rssi")), _num(last_row.get("snr"))
    except Exception:
        log.warning("cannot read radio data of %s", device, exc_info=True)
    pos = twin.device_positions()[i]
    return {
        "device": device,
        "name": str(info["name"]),
        "kind": _text(info["kind"]),
        "dev_eui": _text(info["dev_eui"]),
        "row": row if row >= 0 else None,
        "building_id": str(b["building"].iat[row]) if row >= 0 else None,
        "building_name": _text(b["name"].iat[row]) if row >= 0 else None,
        "how": str(bind["how"]),
        "distance_m": _num(bind["distance_m"]),
        "position": [float(v) for v in pos] if np.isfinite(pos).all() else None,
        "last_seen": last,
        "last_seen_text": last or t("device.never_seen", lang),
        "rssi": rssi,
        "snr": snr,
        "readings": readings,
        "history": _history(twin, device, lang),
        "as_of": _iso(twin.time) if twin.time is not None else None,
    }


def sensors_table(
    twin: Twin, lang: str = "de", *, devices: Sequence[str] | None = None
) -> list[dict]:
    """One row per device: its value of the shown quantity (or its first one).

    Parameters
    ----------
    twin : Twin
        The scene.
    lang : str
        ``"de"`` or ``"en"``.
    devices : sequence of str, optional
        Only these devices (e.g. those in view); all by default.

    Returns
    -------
    list of dict
        ``device``, ``name``, ``kind``, ``row``, ``building``, ``quantity``, ``label``,
        ``value``, ``display``, ``time``, ``stale``, ``color``; rows measuring the shown
        quantity first.
    """
    df = _latest(twin)
    latest: dict[str, list] = {}
    for r in df.itertuples(index=False) if len(df) else ():
        latest.setdefault(str(r.device), []).append(r)
    wanted = None if devices is None else set(devices)
    b = twin.city.buildings
    out = []
    for i, dev in enumerate(twin.devices["device"]):
        if wanted is not None and dev not in wanted:
            continue
        info = twin.devices.iloc[i]
        rows = latest.get(dev, [])
        pick = next((r for r in rows if r.key == twin.quantity), None)
        if pick is None:
            pick = next((r for r in rows if r.key in info["quantities"]), None)
        key = pick.key if pick is not None else (info["quantities"] or [None])[0]
        style = twin.styles.get(key) if key else None
        num = _num(pick.num) if pick is not None else None
        stale = bool(pick is not None and style is not None and pick.age_s > style.max_age)
        row = int(twin.binding["row"].iat[i])
        out.append(
            {
                "device": dev,
                "name": str(info["name"]),
                "kind": _text(info["kind"]),
                "row": row if row >= 0 else None,
                "building": (_text(b["name"].iat[row]) or str(b["building"].iat[row]))
                if row >= 0
                else None,
                "quantity": key,
                "label": style.label(lang) if style else "",
                "value": num,
                "display": style.format(num, lang) if style else "–",
                "time": _iso(pick.time) if pick is not None else None,
                "stale": stale,
                "color": hex_color(colors([np.nan if num is None else num], style, [stale])[0])
                if style
                else None,
                "shown": key == twin.quantity,
            }
        )
    out.sort(key=lambda d: (not d["shown"], d["name"]))
    return out
