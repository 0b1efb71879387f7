"""Small SVG charts built in Python: the 24-hour sparkline of a building card.

The SVG is a plain string the browser renders with ``v-html``; it needs no chart library and
costs a few hundred bytes per quantity.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from html import escape

import numpy as np


def sparkline_svg(
    times: Sequence[float],
    values: Sequence[float | None],
    *,
    width: int = 240,
    height: int = 48,
    color: str = "#1565c0",
    label: str = "",
    font_size: int = 10,
    unit: str = "",
    x_labels: tuple[str, str] | None = None,
    fmt: Callable[[float], str] | None = None,
) -> str:
    """Draw a line chart of ``values`` over ``times`` as an inline SVG.

    Parameters
    ----------
    times : sequence of float
        Sample times (any monotonic unit, e.g. seconds since the epoch).
    values : sequence of float or None
        Sample values; None or NaN leaves a gap in the line.
    width, height : int
        Size of the SVG in CSS pixels (the chart scales with its box: ``viewBox``).
    color : str
        Stroke colour of the line.
    label : str
        Accessible name (``aria-label``) of the chart.
    font_size : int
        Size of the axis texts in pixels; the line and the margins grow with it.
    unit : str
        Unit written after the highest value (e.g. ``"ppm"``); empty writes none.
    x_labels : tuple of str, optional
        Texts under the left and the right end of the time axis (e.g. "vor 24 Stunden",
        "jetzt"); None draws no time axis.
    fmt : callable, optional
        Formats the values on the value axis (default: no decimals from 100, else one).

    Returns
    -------
    str
        An ``<svg>`` element with one polyline per unbroken run of values, and the minimum
        and maximum written at the left edge (with light guide lines when the chart is large
        enough); an empty chart with "–" when there is no value.

    Examples
    --------
    >>> svg = sparkline_svg([0, 1, 2], [1.0, 3.0, 2.0])
    >>> svg.startswith("<svg") and "polyline" in svg
    True
    """
    fmt = fmt or _fmt
    t = np.asarray(times, dtype=float)
    v = np.array([np.nan if x is None else x for x in values], dtype=float)
    n = min(len(t), len(v))
    t, v = t[:n], v[:n]
    ok = np.isfinite(v) & np.isfinite(t)
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(label)}" '
        'style="max-width:100%;height:auto">'
    )
    text_color = "#555" if font_size < 14 else "#000"
    if not ok.any():
        return (
            head + f'<text x="4" y="{height / 2 + font_size / 3:.0f}" font-size="{font_size}" '
            f'fill="{text_color}">–</text></svg>'
        )
    lo, hi = float(v[ok].min()), float(v[ok].max())
    top_text = f"{fmt(hi)} {unit}".strip()
    # room for the longest value text at the left, for the time texts at the bottom
    pad_left = max(34.0, 0.62 * font_size * max(len(top_text), len(fmt(lo))) + 6.0)
    pad = max(4.0, font_size * 0.4)
    bottom = pad + (font_size * 1.4 if x_labels else 0.0)
    stroke = 1.5 if font_size < 14 else 3.0
    span = hi - lo if hi > lo else 1.0
    t0, t1 = float(t[ok].min()), float(t[ok].max())
    tspan = t1 - t0 if t1 > t0 else 1.0
    plot_h = height - pad - bottom - font_size * 0.4
    y_top = pad + font_size * 0.4
    x = pad_left + (t - t0) / tspan * (width - pad_left - pad)
    y = y_top + plot_h - (v - lo) / span * plot_h
    # Split into runs of finite values so gaps stay gaps.
    breaks = np.flatnonzero(np.diff(ok.astype(np.int8)) != 0) + 1
    lines = []
    for run in np.split(np.arange(n), breaks):
        if len(run) == 0 or not ok[run[0]]:
            continue
        if len(run) == 1:
            lines.append(
                f'<circle cx="{x[run[0]]:.1f}" cy="{y[run[0]]:.1f}" r="{stroke:.1f}" '
                f'fill="{color}"/>'
            )
            continue
        pts = " ".join(f"{x[i]:.1f},{y[i]:.1f}" for i in run)
        lines.append(
            f'<polyline fill="none" stroke="{color}" stroke-width="{stroke}" '
            f'stroke-linejoin="round" points="{pts}"/>'
        )
    base = f'font-size="{font_size}" fill="{text_color}"'
    parts = [
        f'<text x="0" y="{y_top + font_size * 0.35:.0f}" {base}>{escape(top_text)}</text>',
        f'<text x="0" y="{y_top + plot_h + font_size * 0.35:.0f}" {base}>{escape(fmt(lo))}</text>',
    ]
    if font_size >= 14:  # large chart: guide lines at the highest and the lowest value
        for gy in (y_top, y_top + plot_h):
            parts.append(
                f'<line x1="{pad_left:.0f}" x2="{width - pad:.0f}" y1="{gy:.1f}" y2="{gy:.1f}" '
                'stroke="#999" stroke-width="1" stroke-dasharray="4 4"/>'
            )
    if x_labels:
        ty = height - pad
        parts.append(f'<text x="{pad_left:.0f}" y="{ty:.0f}" {base}>{escape(x_labels[0])}</text>')
        parts.append(
            f'<text x="{width - pad:.0f}" y="{ty:.0f}" text-anchor="end" {base}>'
            f"{escape(x_labels[1])}</text>"
        )
    return head + "".join(parts) + "".join(lines) + "</svg>"


def _fmt(value: float) -> str:
    return f"{value:.0f}" if abs(value) >= 100 else f"{value:.1f}"
