"""Turn the scene's dictionaries into what the page shows (pure functions, no trame).

The :class:`~twin.scene.twin.Twin` answers in plain data (a building card, a legend, the
sensor table); these helpers shape it into the small JSON-friendly dictionaries the layout
binds to: labelled fields, formatted values, inline SVG charts. Keeping them free of the
server makes them easy to test and keeps the layout free of logic.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np

from twin.app.charts import sparkline_svg
from twin.scene.i18n import relative_time, t


def legend_view(legend: Mapping[str, Any]) -> dict[str, Any]:
    """Shape a :func:`twin.scene.styles.legend` dictionary for the page.

    Parameters
    ----------
    legend : mapping
        The legend of the shown quantity.

    Returns
    -------
    dict
        ``title`` (with unit), ``gradient`` (CSS), ``ticks`` (list of ``{label, left}``,
        ``left`` as a CSS percentage), ``thresholds`` (``{label, left}``), ``swatches``
        (``{label, color}`` for categories; stale / no data / no sensor also carry ``key``,
        the UI text key the page shows in its current language and view).
    """
    unit = legend.get("unit") or ""
    title = legend.get("title", "")
    stops = list(legend.get("stops", []))
    labels = list(legend.get("labels", [])) or [_num(v) for v, _ in stops]
    categorical = bool(legend.get("categorical"))
    n = len(stops)
    ticks = []
    if not categorical:
        for i, label in enumerate(labels):
            ticks.append({"label": label, "left": f"{(100.0 * i / max(n - 1, 1)):.1f}%"})
    swatches = []
    if categorical:
        swatches += [{"label": lab, "color": c} for (_, c), lab in zip(stops, labels, strict=False)]
    for key, text_key in (
        ("stale", "legend.stale"),
        ("no_data", "legend.no_data"),
        ("neutral", "legend.no_sensor"),
    ):
        if legend.get(f"{key}_label"):
            swatches.append(
                {
                    "label": legend[f"{key}_label"],
                    "color": legend.get(f"{key}_color", "#888"),
                    "key": text_key,  # the page shows labels[key]: plain words when simple
                }
            )
    return {
        "title": f"{title} ({unit})" if unit and not categorical else title,
        "unit": unit,
        "gradient": "" if categorical else legend.get("css_gradient", ""),
        "ticks": ticks,
        "thresholds": [
            {"label": th.get("label", ""), "left": f"{100.0 * float(th.get('position', 0)):.1f}%"}
            for th in legend.get("thresholds", [])
        ],
        "swatches": swatches,
    }


#: Chart sizes (CSS pixels, font size) of the normal and the simple view.
CHART_NORMAL: dict[str, int] = {"width": 240, "height": 48, "font_size": 10}
CHART_SIMPLE: dict[str, int] = {"width": 440, "height": 190, "font_size": 18}


def card_view(
    card: Mapping[str, Any] | None,
    lang: str,
    *,
    simple: bool = False,
    now: datetime | None = None,
) -> dict | None:
    """Shape a building or device card for the info panel.

    Parameters
    ----------
    card : mapping or None
        :meth:`Twin.building_card` (has ``id``) or :meth:`Twin.device_card` (has
        ``device``) output.
    lang : {"de", "en"}
        Language of the labels.
    simple : bool
        The simple view: plain-language labels, no radio jargon or raw keys, the last message
        as a relative time ("vor 3 Minuten"), large charts with labelled axes.
    now : datetime.datetime, optional
        The present for relative times (default: the clock).

    Returns
    -------
    dict or None
        ``kind`` (``building``/``device``), ``id``, ``title``, ``subtitle``, ``fields``
        (``{label, value}``), ``sensors`` (``{label, value, stale, color}``),
        ``readings_title`` (heading of ``sensors``), ``charts`` (``{title, svg}``); None
        without a card.
    """
    if not card:
        return None

    def tr(key: str, **kw: object) -> str:
        return t(key, lang, simple=simple, **kw)

    kind = "building" if "id" in card and "device" not in card else "device"
    fields: list[dict[str, str]] = []
    sensors: list[dict[str, Any]] = []
    if kind == "building":
        title = card.get("title") or card.get("name") or tr("card.unnamed")
        subtitle = tr("card.building")
        if not simple:
            fields.append({"label": tr("card.id"), "value": str(card.get("id", ""))})
        for key, label in (("address", "card.address"), ("type", "card.type")):
            if card.get(key):
                value = card.get(f"{key}_text") or card[key]  # type_text: translated type
                fields.append({"label": tr(label), "value": str(value)})
        fields.append({"label": tr("card.height"), "value": str(card.get("height_text", "–"))})
        source = card.get("height_source")
        if source:
            fields.append(
                {"label": tr("card.height_source"), "value": tr(f"card.height_source.{source}")}
            )
        levels = card.get("levels")
        if levels is not None and not _nan(levels):
            fields.append({"label": tr("card.levels"), "value": f"{float(levels):.0f}"})
        for dev in card.get("sensors", []):
            for r in _plain(dev.get("readings", []), simple):
                sensors.append(_reading(r, prefix=str(dev.get("name") or dev.get("device", ""))))
        if simple:  # last and small: the number to quote when asking the city about it
            fields.append({"label": tr("card.id"), "value": str(card.get("id", ""))})
    else:
        title = str(card.get("name") or card.get("device", ""))
        subtitle = tr("device.title")
        if not simple:
            fields.append({"label": tr("device.id"), "value": str(card.get("device", ""))})
        if card.get("kind") and not simple:  # a registry key such as "co2"
            fields.append({"label": tr("device.kind"), "value": str(card["kind"])})
        if card.get("dev_eui") and not simple:  # a radio address means nothing to visitors
            fields.append({"label": tr("device.dev_eui"), "value": str(card["dev_eui"])})
        building = card.get("building_name") or card.get("building_id")
        fields.append(
            {"label": tr("device.building"), "value": str(building or tr("device.unbound"))}
        )
        last = card.get("last_seen")
        if not last:
            seen = tr("device.never_seen")
        elif simple:  # "vor 3 Minuten": no date arithmetic for the reader
            seen = _relative(last, lang, now)
        else:
            seen = _time(last, lang)
        fields.append({"label": tr("device.last_seen"), "value": seen})
        radio = (("rssi", "device.rssi", "dBm"), ("snr", "device.snr", "dB"))
        for key, label, unit in radio[:1] if simple else radio:
            value = card.get(key)
            if value is None or _nan(value):
                continue
            if simple:
                bars = signal_bars(float(value))
                text = f"{bars} {tr(f'device.signal.{bars.count(chr(0x25AE))}')}"
            else:
                text = f"{_num(value, lang)} {unit}"
            fields.append({"label": tr(label), "value": text})
        if simple:  # last and small: the number to quote when calling the city about it
            fields.append({"label": tr("device.id"), "value": str(card.get("device", ""))})
        sensors = [_reading(r) for r in _plain(card.get("readings", []), simple)]
    charts = []
    # a building's charts are named after their devices' names, not their raw ids
    names = {str(d.get("device", "")): d.get("name") for d in card.get("sensors", []) or []}
    size = CHART_SIMPLE if simple else CHART_NORMAL
    as_of = _as_datetime(card.get("as_of")) if card.get("as_of") else None
    end = tr("chart.end") if as_of is None else _clock(as_of, lang)
    for h in _plain(card.get("history", []) or [], simple):
        device = str(h.get("device", ""))
        name = (
            f"{h.get('label', '')} · {names.get(device) or device}"
            if kind == "building"
            else h.get("label", "")
        )
        unit = h.get("unit") or ""
        svg = sparkline_svg(
            [_epoch(x) for x in h.get("times", [])],
            h.get("values", []),
            label=f"{name} {tr('card.history')}",
            unit=unit if simple else "",
            x_labels=(tr("chart.start"), end) if simple else None,
            fmt=_chart_format(h.get("values", []), lang),
            **size,
        )
        charts.append({"title": f"{name} ({unit})" if unit else name, "svg": svg})
    return {
        "kind": kind,
        "id": str(card.get("id") or card.get("device") or ""),
        "title": title,
        "subtitle": subtitle,
        "fields": fields,
        "sensors": sensors,
        "readings_title": tr("card.sensors" if kind == "building" else "card.readings"),
        "no_sensors": tr("card.no_sensors") if kind == "building" and not sensors else "",
        "charts": charts,
        "history_title": tr("card.history") if charts else "",
    }


#: RSSI (dBm) from which a LoRaWAN uplink counts as 4, 3 or 2 of 4 signal bars.
SIGNAL_BARS_DBM = (-80.0, -95.0, -110.0)


def signal_bars(rssi: float) -> str:
    """Return the radio reception as four phone-style bars (the simple view's RSSI).

    Parameters
    ----------
    rssi : float
        Received signal strength in dBm (LoRaWAN: about -30 near a gateway, -120 at the edge).

    Returns
    -------
    str
        ``"▮▮▮▮"`` (strong) to ``"▮▯▯▯"`` (weak).

    Examples
    --------
    >>> signal_bars(-70.0), signal_bars(-100.0), signal_bars(-125.0)
    ('▮▮▮▮', '▮▮▯▯', '▮▯▯▯')
    """
    n = 1 + sum(rssi >= limit for limit in SIGNAL_BARS_DBM)
    return "▮" * n + "▯" * (4 - n)


def _reading(r: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    label = str(r.get("label") or r.get("quantity", ""))
    return {
        "label": f"{prefix} · {label}" if prefix else label,
        "value": str(r.get("display") or r.get("text") or "–"),
        "stale": bool(r.get("stale", False)),
        "color": r.get("color") or "#888888",
    }


def table_view(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Shape :meth:`Twin.sensors_table` rows for the sensor table.

    Parameters
    ----------
    rows : sequence of mapping
        One row per device.

    Returns
    -------
    list of dict
        ``key``, ``device``, ``name``, ``quantity`` (label), ``value`` (formatted with
        unit), ``building``, ``row`` (City row of the building, -1 if unbound), ``stale``,
        ``color``.
    """
    return [
        {
            "key": str(r.get("device", "")),
            "device": str(r.get("device", "")),
            "name": str(r.get("name") or r.get("device", "")),
            "quantity": str(r.get("label") or r.get("quantity") or ""),
            "value": str(r.get("display") or "–"),
            "building": str(r.get("building") or ""),
            "row": -1 if r.get("row") is None else int(r["row"]),
            "stale": bool(r.get("stale", False)),
            "color": r.get("color") or "#888888",
        }
        for r in rows
    ]


def _nan(value: Any) -> bool:
    try:
        return math.isnan(float(value))
    except (TypeError, ValueError):
        return True


def _num(value: Any, lang: str = "en", decimals: int = 1) -> str:
    text = f"{float(value):.{decimals}f}"
    return text.replace(".", ",") if lang == "de" else text


def _epoch(value: Any) -> float:
    if isinstance(value, str):
        return datetime.fromisoformat(value).timestamp()
    if isinstance(value, datetime):
        return value.timestamp()
    if hasattr(value, "timestamp"):
        return float(value.timestamp())
    return float(value)


def _clock(when: datetime, lang: str) -> str:
    local = when.astimezone()
    return local.strftime("%d.%m. %H:%M" if lang == "de" else "%b %d %H:%M")


def _chart_format(values: Sequence[Any], lang: str) -> Any:
    """Return the number format of a chart's value axis (decimals to tell its ends apart)."""
    v = np.array([np.nan if x is None else x for x in values], dtype=float)
    v = v[np.isfinite(v)]
    lo, hi = (float(v.min()), float(v.max())) if len(v) else (0.0, 0.0)
    decimals = 0 if max(abs(lo), abs(hi)) >= 100 else 1
    while decimals < 3 and f"{lo:.{decimals}f}" == f"{hi:.{decimals}f}" and hi > lo:
        decimals += 1

    def fmt(value: float) -> str:
        text = f"{value:.{decimals}f}"
        return text.replace(".", ",") if lang == "de" else text

    return fmt


def _plain(items: Sequence[Mapping[str, Any]], simple: bool) -> list[Mapping[str, Any]]:
    """Return the readings or charts to show.

    The simple view leaves out technical quantities (battery, meter counts: those without a
    colour style) when there are others.
    """
    items = list(items)
    if not simple:
        return items
    styled = [i for i in items if i.get("key")]
    return styled or items


def _relative(value: Any, lang: str, now: datetime | None) -> str:
    when = _as_datetime(value)
    if when is None:
        return str(value)
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return relative_time(when, lang, now=now)


def _as_datetime(value: Any) -> datetime | None:
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            return None
    if hasattr(value, "to_pydatetime"):
        value = value.to_pydatetime()
    return value if isinstance(value, datetime) else None


def _time(value: Any, lang: str) -> str:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return value
    if hasattr(value, "to_pydatetime"):
        value = value.to_pydatetime()
    if isinstance(value, datetime):
        local = value.astimezone()
        return local.strftime("%d.%m.%Y %H:%M:%S" if lang == "de" else "%Y-%m-%d %H:%M:%S")
    return str(value)
