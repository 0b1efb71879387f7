"""Small SVG charts built in Python: the 24-hour sparkline of a building card.

The SVG is a plain string the browser renders with ``v-html``; it needs no chart library and
costs a few hundred bytes per quantity.
"""

from __future__ import annotations

from collections.abc import Sequence
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
) -> str:
    """Draw a line chart of ``values`` over ``times`` as an inline SVG.

    Parameters
    ----------
    times : sequence of float
        Sample times (any monotonic unit, e.g. seconds since the epoch).
    values : sequence of float or None
        Sample values; None or NaN leaves a gap in the line.
    width, height : int
        Size of the SVG in CSS pixels.
    color : str
        Stroke colour of the line.
    label : str
        Accessible name (``aria-label``) of the chart.

    Returns
    -------
    str
        An ``<svg>`` element with one polyline per unbroken run of values, and the minimum
        and maximum written at the left edge; an empty chart with "–" when there is no value.

    Examples
    --------
    >>> svg = sparkline_svg([0, 1, 2], [1.0, 3.0, 2.0])
    >>> svg.startswith("<svg") and "polyline" in svg
    True
    """
    t = np.asarray(times, dtype=float)
    v = np.array([np.nan if x is None else x for x in values], dtype=float)
    n = min(len(t), len(v))
    t, v = t[:n], v[:n]
    ok = np.isfinite(v) & np.isfinite(t)
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(label)}">'
    )
    if not ok.any():
        return (
            head + f'<text x="4" y="{height / 2 + 4:.0f}" font-size="12" fill="#666">–</text></svg>'
        )
    pad_left, pad = 34.0, 4.0
    lo, hi = float(v[ok].min()), float(v[ok].max())
    span = hi - lo if hi > lo else 1.0
    t0, t1 = float(t[ok].min()), float(t[ok].max())
    tspan = t1 - t0 if t1 > t0 else 1.0
    x = pad_left + (t - t0) / tspan * (width - pad_left - pad)
    y = height - pad - (v - lo) / span * (height - 2 * pad)
    # Split into runs of finite values so gaps stay gaps.
    breaks = np.flatnonzero(np.diff(ok.astype(np.int8)) != 0) + 1
    lines = []
    for run in np.split(np.arange(n), breaks):
        if len(run) == 0 or not ok[run[0]]:
            continue
        if len(run) == 1:
            lines.append(
                f'<circle cx="{x[run[0]]:.1f}" cy="{y[run[0]]:.1f}" r="1.5" fill="{color}"/>'
            )
            continue
        pts = " ".join(f"{x[i]:.1f},{y[i]:.1f}" for i in run)
        lines.append(f'<polyline fill="none" stroke="{color}" stroke-width="1.5" points="{pts}"/>')
    labels = (
        f'<text x="0" y="{pad + 8:.0f}" font-size="10" fill="#555">{_fmt(hi)}</text>'
        f'<text x="0" y="{height - pad:.0f}" font-size="10" fill="#555">{_fmt(lo)}</text>'
    )
    return head + labels + "".join(lines) + "</svg>"


def _fmt(value: float) -> str:
    return f"{value:.0f}" if abs(value) >= 100 else f"{value:.1f}"
