"""Server-side picking on the rendered scene: which building or sensor is under the mouse.

A click in the browser arrives as display coordinates of the remote view. One hardware
selection pass (``vtkHardwareSelector``) answers which actor and which cell lie under that
pixel; the mesh's ``building`` cell array turns the cell into a row of the City table, and a
z-buffer lookup gives the world point, from which the nearest sensor glyph is found. No
geometry is traversed in Python, so picking costs one render whatever the city size.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

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
    """

    kind: str
    row: int | None = None
    world: tuple[float, float, float] | None = None
    actor: object | None = None
    cell: int | None = None


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
