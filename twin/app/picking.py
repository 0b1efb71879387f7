"""Picking: which building or sensor is under the mouse, on the server or in the browser.

A click in the browser arrives as display coordinates of the remote view. One hardware
selection pass (``vtkHardwareSelector``) answers which actor and which cell lie under that
pixel; the mesh's ``building`` cell array turns the cell into a row of the City table, and a
z-buffer lookup gives the world point, from which the nearest sensor glyph is found. No
geometry is traversed in Python, so picking costs one render whatever the city size.

In local rendering vtk.js picks in the browser: its click event names the actor hit (its
``remoteId``, the server object's id) and the world point; :func:`pick_local` turns a point
on a glyph into the nearest sensor and a point on a building into its City row.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
from vtkmodules.vtkCommonDataModel import vtkDataObject, vtkSelectionNode
from vtkmodules.vtkRenderingCore import vtkHardwareSelector, vtkRenderer, vtkWorldPointPicker

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Pick:
    """What lies under a pixel.

    Parameters
    ----------
    kind : {"building", "sensor", "other", "none"}
        The kind of object hit.
    row : int or None
        Row index into ``city.buildings`` for a building.
    world : tuple of float or None
        The picked point in the scene's (local) coordinates.
    actor : object or None
        The VTK actor hit.
    cell : int or None
        The cell id hit within that actor's data set.
    device : str or None
        The device of a sensor glyph (local picks).
    """

    kind: str
    row: int | None = None
    world: tuple[float, float, float] | None = None
    actor: object | None = None
    cell: int | None = None
    device: str | None = None


def display_position(event: dict, window_size: tuple[int, int]) -> tuple[float, float]:
    """Convert a trame remote-view click event into display coordinates of the render window.

    Parameters
    ----------
    event : dict
        The event of ``VtkRemoteView(click=...)``: ``position`` ``{x, y}`` (origin bottom
        left) in the client canvas' pixels and ``size`` ``[w, h]`` of that canvas.
    window_size : tuple of int
        Size of the server's render window.

    Returns
    -------
    tuple of float
        ``(x, y)`` in the render window's display coordinates.
    """
    pos = event.get("position") or {}
    x, y = float(pos.get("x", 0.0)), float(pos.get("y", 0.0))
    size = event.get("size") or window_size
    sx = window_size[0] / size[0] if size[0] else 1.0
    sy = window_size[1] / size[1] if size[1] else 1.0
    return x * sx, y * sy


def pick(renderer: vtkRenderer, x: float, y: float, *, sensor_actors: tuple = ()) -> Pick:
    """Find the object under display position ``(x, y)``.

    Parameters
    ----------
    renderer : vtkRenderer
        The renderer holding the scene (already rendered at least once).
    x, y : float
        Display coordinates, origin at the bottom left.
    sensor_actors : tuple of vtkActor
        Actors that draw sensor glyphs; a hit on them is a ``"sensor"`` pick.

    Returns
    -------
    Pick
        ``kind="building"`` with ``row`` when a building was hit (the actor's data set has a
        ``building`` cell array), ``"sensor"`` for a glyph, ``"other"`` for the ground or a
        context layer, ``"none"`` for the sky.
    """
    ix, iy = round(x), round(y)
    selector = vtkHardwareSelector()
    selector.SetRenderer(renderer)
    selector.SetArea(ix, iy, ix, iy)
    selector.SetFieldAssociation(vtkDataObject.FIELD_ASSOCIATION_CELLS)
    selection = selector.Select()
    world = _world_point(renderer, ix, iy)
    if selection is None or selection.GetNumberOfNodes() == 0:
        return Pick("none", world=world)
    node = selection.GetNode(0)
    actor = node.GetProperties().Get(vtkSelectionNode.PROP())
    ids = node.GetSelectionList()
    cell = int(ids.GetValue(0)) if ids is not None and ids.GetNumberOfTuples() else None
    if actor is not None and any(actor is a for a in sensor_actors):
        return Pick("sensor", world=world, actor=actor, cell=cell)
    data = actor.GetMapper().GetInput() if actor is not None and actor.GetMapper() else None
    array = data.GetCellData().GetArray("building") if data is not None else None
    if array is not None and cell is not None and 0 <= cell < array.GetNumberOfTuples():
        return Pick("building", row=int(array.GetTuple1(cell)), world=world, actor=actor, cell=cell)
    return Pick("other", world=world, actor=actor, cell=cell)


def _world_point(renderer: vtkRenderer, x: int, y: int) -> tuple[float, float, float] | None:
    picker = vtkWorldPointPicker()
    picker.Pick(x, y, 0.0, renderer)
    point = tuple(float(v) for v in picker.GetPickPosition())
    return point if np.all(np.isfinite(point)) else None  # type: ignore[return-value]


def nearest(points: np.ndarray, target: tuple[float, float, float], *, max_distance: float) -> int:
    """Index of the point nearest ``target`` in the horizontal plane, or -1 beyond the limit.

    Parameters
    ----------
    points : numpy.ndarray
        ``(n, 2)`` or ``(n, 3)`` coordinates.
    target : tuple of float
        The point to search around.
    max_distance : float
        Largest accepted distance.

    Returns
    -------
    int
        Index into ``points``, or -1.
    """
    if len(points) == 0:
        return -1
    d = np.hypot(points[:, 0] - target[0], points[:, 1] - target[1])
    i = int(np.argmin(d))
    return i if d[i] <= max_distance else -1


#: Pixels the mouse may move between press and release for a click (more is a drag).
CLICK_SLOP = 5.0


def object_ids(plotter: Any) -> dict[str, str]:
    """Return ``{vtk.js remote id: "building" | "sensor"}`` of the pickable actors.

    Parameters
    ----------
    plotter : pyvista.Plotter
        The app's plotter; buildings are actors with a ``building`` cell array (the city or
        its tiles), sensors the actor named ``sensors``.

    Returns
    -------
    dict
        The ids trame-vtk gives these actors in the browser's scene.
    """
    from trame_vtk.modules.vtk.serializers.utils import reference_id

    from twin.app.render import building_actors

    ids = {reference_id(a): "building" for a in building_actors(plotter)}
    sensors = plotter.actors.get("sensors")
    if sensors is not None:
        ids[reference_id(sensors)] = "sensor"
    return ids


def pick_local(
    twin: Any, event: dict | None, ids: dict[str, str], *, glyph_slop: float = 2.5
) -> Pick:
    """Interpret a vtk.js click pick (local rendering) as a building or a sensor.

    Parameters
    ----------
    twin : twin.scene.twin.Twin
        The scene (footprints for buildings, glyph positions for sensors).
    event : dict or None
        The local view's click event: ``remoteId`` of the actor hit and ``worldPosition``;
        None when nothing was hit.
    ids : dict
        From :func:`object_ids`.
    glyph_slop : float
        A point on a glyph maps to the nearest glyph centre within this many glyph radii.

    Returns
    -------
    Pick
        ``"sensor"`` with ``device``, ``"building"`` with ``row``, ``"other"`` (ground, a
        context layer, or nothing found near the point) or ``"none"`` (the sky).
    """
    from twin.scene.render import GLYPH_RADIUS

    if not event or event.get("worldPosition") is None:
        return Pick("none")
    world = tuple(float(v) for v in event["worldPosition"][:3])
    kind = ids.get(str(event.get("remoteId", "")), "other")
    if kind == "sensor":
        centres = np.asarray(twin.device_positions(), dtype=float)
        if len(centres):
            d = np.linalg.norm(centres - np.asarray(world), axis=1)
            d[~np.isfinite(d)] = np.inf
            i = int(np.argmin(d))
            if d[i] <= glyph_slop * GLYPH_RADIUS:
                device = str(twin.devices["device"].iat[i])
                return Pick("sensor", world=world, device=device)  # type: ignore[arg-type]
        return Pick("other", world=world)  # type: ignore[arg-type]
    if kind == "building":
        row = twin.pick(*world)
        if row is not None:
            return Pick("building", row=int(row), world=world)  # type: ignore[arg-type]
    return Pick("other", world=world)  # type: ignore[arg-type]


def select_local(app: Any, event: dict | None = None, moved: float = 0.0) -> Pick:
    """Handle a click in the local (vtk.js) view: open the card of what was hit.

    Parameters
    ----------
    app : twin.app.app.TwinApp
        The application (``select_device``, ``select_building``, ``close_card``).
    event : dict or None
        The vtk.js pick.
    moved : float
        Pixels the pointer moved between press and release; a drag is not a click.

    Returns
    -------
    Pick
        What was hit (``"none"`` for a drag).
    """
    app.user_input()
    if float(moved or 0.0) > CLICK_SLOP:
        return Pick("none")
    hit = pick_local(app.twin, event, object_ids(app.plotter))
    log.debug("local click: %s row=%s device=%s", hit.kind, hit.row, hit.device)
    if hit.kind == "sensor" and hit.device:
        app.select_device(hit.device)
    elif hit.kind == "building" and hit.row is not None:
        app.select_building(hit.row)
    else:
        app.close_card()
    return hit
