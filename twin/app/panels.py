"""What the side panels and banners show, read from the Twin (no trame, no state).

Small functions the app calls on its panel cadence: the health banner, the sensors in the
camera's view, the live values near a tour stop, whether the demo still loads its history.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np

from twin.scene.i18n import t

log = logging.getLogger(__name__)


def status_banner(twin: Any, lang: str, *, simple: bool = False) -> str:
    """Return the warning about the data side's health (empty when all is well).

    Parameters
    ----------
    twin : twin.scene.twin.Twin
        The scene; :meth:`Twin.status` reports the database and the MQTT feeds.
    lang : {"de", "en"}
        Language of the text.
    simple : bool
        Plain-language wording.

    Returns
    -------
    str
        The database or feed warning, or ``""``.
    """
    try:
        status = twin.status()
    except Exception as err:
        log.warning("status unavailable: %s", err)
        return t("error.database", lang, simple=simple)
    if not status.get("database", True):
        return t("error.database", lang, simple=simple)
    if any(not f.get("connected", True) for f in status.get("feeds", [])):
        return t("error.feed", lang, simple=simple)
    return ""


def sensors_in_view(twin: Any, plotter: Any, lang: str) -> list[dict] | None:
    """Return the sensor-table rows of the devices inside the camera's view frustum.

    Parameters
    ----------
    twin : twin.scene.twin.Twin
        The scene.
    plotter : pyvista.Plotter
        The plotter whose camera decides what is in view.
    lang : {"de", "en"}
        Language of labels and numbers.

    Returns
    -------
    list of dict or None
        :meth:`Twin.sensors_table` rows; None when the store does not answer.
    """
    devices = twin.devices["device"].to_numpy()
    visible = in_view(plotter, twin.device_positions())
    try:
        return twin.sensors_table(lang, devices=list(devices[visible]))
    except Exception as err:
        log.warning("sensor table unavailable: %s", err)
        return None


def values_near(twin: Any, point: Any, lang: str, *, n: int = 3) -> list[str]:
    """Return "name: value" of the ``n`` devices nearest ``point`` showing the quantity.

    Parameters
    ----------
    twin : twin.scene.twin.Twin
        The scene.
    point : sequence of float
        Local ``(x, y, ...)`` (a tour stop's focal point).
    lang : {"de", "en"}
        Language of the values.
    n : int
        Number of lines.

    Returns
    -------
    list of str
        Caption lines for the kiosk.
    """
    positions = twin.device_positions()
    if not len(positions):
        return []
    focal = np.asarray(point, dtype=float)
    d = np.hypot(positions[:, 0] - focal[0], positions[:, 1] - focal[1])
    near = twin.devices["device"].to_numpy()[np.argsort(d)[: 4 * n]]
    rows = [r for r in twin.sensors_table(lang, devices=list(near)) if r["shown"]]
    order = {dev: i for i, dev in enumerate(near)}
    rows.sort(key=lambda r: order[r["device"]])
    return [f"{r['name']}: {r['display']}" for r in rows[:n]]


def device_positions(twin: Any) -> dict[str, tuple[float, float, float]]:
    """Return ``{device id: local (x, y, z)}`` of the sensor glyphs."""
    devices = twin.devices["device"].to_numpy()
    return {str(d): tuple(p) for d, p in zip(devices, twin.device_positions(), strict=True)}


def history_loading(twin: Any) -> bool:
    """Return whether the demo simulator still backfills its history (the UI says so)."""
    return not getattr(twin, "history_ready", True)


def in_view(plotter: Any, points: Sequence[Any]) -> np.ndarray:
    """Return which points lie inside the camera's view frustum.

    Parameters
    ----------
    plotter : pyvista.Plotter
        The plotter whose active camera is tested.
    points : sequence
        ``(x, y, z)`` in local coordinates, or None (never in view).

    Returns
    -------
    numpy.ndarray
        Boolean mask, one entry per point.
    """
    n = len(points)
    mask = np.zeros(n, dtype=bool)
    known = np.array([p is not None for p in points], dtype=bool)
    if not known.any():
        return mask
    xyz = np.array([p for p in points if p is not None], dtype=float)[:, :3]
    width, height = plotter.window_size
    planes = np.zeros(24)
    plotter.renderer.GetActiveCamera().GetFrustumPlanes(width / max(height, 1), planes)
    planes = planes.reshape(6, 4)
    inside = np.all(xyz @ planes[:, :3].T + planes[:, 3] >= 0.0, axis=1)
    mask[np.flatnonzero(known)] = inside
    return mask
