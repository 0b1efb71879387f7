"""Server-side rendering for the app: tuning, level of detail while moving, image delivery.

Server side: on a CPU renderer (Mesa llvmpipe) a 100,000-building city takes about 0.6 s per
frame at 1280×720: too slow to follow the mouse. While the user drags, :class:`InteractiveLOD` swaps
each building actor for a light stand-in made of its roofs only (about a third of the
triangles, same colours, same silhouette from above) and the remote view sends smaller
images (``interactive_ratio``); the full model comes back at the end of the interaction.
The stand-in is built once at start-up; colours are copied per building on each swap.

The browser's own rendering (``--local-rendering``) is in :mod:`twin.app.local_view`.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

import numpy as np
import pyvista as pv

log = logging.getLogger(__name__)

#: Code of roof cells in the mesh's ``surface`` cell array.
ROOF = 2
#: vtkCommand event ids fired by the interactor style around a drag.
START_INTERACTION, END_INTERACTION = 44, 45
#: Buildings below this count are fast enough without a stand-in.
LOD_MIN_CELLS = 400_000


def tune(plotter: pv.Plotter) -> None:
    """Prepare a plotter for serving: no multisampling, no anti-aliasing passes.

    Multisampling doubles the frame time on llvmpipe for little gain in a JPEG stream.

    Parameters
    ----------
    plotter : pyvista.Plotter
        The plotter returned by :meth:`Twin.plotter`.
    """
    plotter.render_window.SetMultiSamples(0)
    with contextlib.suppress(Exception):  # not enabled: nothing to do
        plotter.disable_anti_aliasing()


def building_actors(plotter: pv.Plotter) -> list[Any]:
    """Actors whose data set carries a ``building`` cell array (the city, or its tiles).

    Parameters
    ----------
    plotter : pyvista.Plotter
        The plotter.

    Returns
    -------
    list
        The building actors.
    """
    out = []
    for actor in plotter.renderer.actors.values():
        mapper = actor.GetMapper() if hasattr(actor, "GetMapper") else None
        data = mapper.GetInput() if mapper is not None else None
        if data is not None and data.GetCellData().HasArray("building"):
            out.append(actor)
    return out


class InteractiveLOD:
    """Swap the building actors for roof-only stand-ins while the camera moves.

    Parameters
    ----------
    plotter : pyvista.Plotter
        The plotter holding the city.
    min_cells : int
        Only cities with at least this many cells get a stand-in.
    """

    def __init__(self, plotter: pv.Plotter, *, min_cells: int = LOD_MIN_CELLS) -> None:
        self.plotter = plotter
        self.active = False
        self.pairs: list[tuple[Any, Any, pv.PolyData, pv.PolyData]] = []
        actors = building_actors(plotter)
        n_cells = sum(a.GetMapper().GetInput().GetNumberOfCells() for a in actors)
        if n_cells < min_cells:
            return
        for actor in actors:
            full = pv.wrap(actor.GetMapper().GetInput())
            lite = roof_stand_in(full)
            if lite is None:
                continue
            lite_actor = plotter.add_mesh(
                lite,
                scalars=full.cell_data.active_scalars_name,
                rgb=True,
                show_scalar_bar=False,
                pickable=False,
                reset_camera=False,
            )
            lite_actor.prop.lighting = actor.GetProperty().GetLighting()
            lite_actor.SetVisibility(False)
            self.pairs.append((actor, lite_actor, full, lite))
        iren = plotter.render_window.GetInteractor()
        if self.pairs and iren is not None:
            iren.AddObserver(START_INTERACTION, lambda *_: self.start())
            iren.AddObserver(END_INTERACTION, lambda *_: self.end())
        log.info("level of detail: %d stand-in actor(s) for %d cells", len(self.pairs), n_cells)

    def start(self) -> None:
        """Show the stand-ins (with the current colours) instead of the full model."""
        if self.active or not self.pairs:
            return
        self.active = True
        for actor, lite_actor, full, lite in self.pairs:
            copy_colors(full, lite)
            actor.SetVisibility(False)
            lite_actor.SetVisibility(True)

    def end(self) -> None:
        """Show the full model again."""
        if not self.active:
            return
        self.active = False
        for actor, lite_actor, _full, _lite in self.pairs:
            actor.SetVisibility(True)
            lite_actor.SetVisibility(False)


def roof_stand_in(mesh: pv.PolyData) -> pv.PolyData | None:
    """Return the roof cells of a building mesh (with their ``building`` ids), or None.

    Parameters
    ----------
    mesh : pyvista.PolyData
        A mesh with ``surface`` and ``building`` cell arrays.

    Returns
    -------
    pyvista.PolyData or None
        Roofs only, with a colour array of the same name as the mesh's active scalars.
    """
    if "surface" not in mesh.cell_data or mesh.cell_data.active_scalars_name is None:
        return None
    roof = np.flatnonzero(np.asarray(mesh.cell_data["surface"]) == ROOF)
    if len(roof) == 0:
        return None
    lite = mesh.extract_cells(roof).extract_surface(algorithm=None)
    keep = {"building", mesh.cell_data.active_scalars_name}
    for name in list(lite.cell_data):
        if name not in keep:
            del lite.cell_data[name]
    for name in list(lite.point_data):
        del lite.point_data[name]
    lite.cell_data.active_scalars_name = mesh.cell_data.active_scalars_name
    return lite


def copy_colors(full: pv.PolyData, lite: pv.PolyData) -> None:
    """Copy per-building colours from ``full`` onto ``lite`` in place (vectorised).

    Parameters
    ----------
    full, lite : pyvista.PolyData
        Meshes with ``building`` cell arrays and an RGB active cell scalar array.
    """
    name = full.cell_data.active_scalars_name
    src = np.asarray(full.cell_data[name])
    buildings = np.asarray(full.cell_data["building"])
    per_building = np.zeros((int(buildings.max()) + 1, src.shape[1]), dtype=src.dtype)
    per_building[buildings] = src
    dst = lite.cell_data[name]
    dst[:] = per_building[np.asarray(lite.cell_data["building"])]
    lite.GetCellData().GetArray(name).Modified()


def quick_image_delivery(protocol: Any, *, delay: float = 0.1) -> int:
    """Re-render a stale remote-view image after ``delay`` seconds instead of 0.5 s.

    VTK encodes frames in a background thread: the first push after a change may carry the
    previous image, marked stale, and trame-vtk re-renders it half a second later. Shortening
    that wait brings a recoloured frame to the browser well within a second.

    Parameters
    ----------
    protocol : wslink root protocol
        ``server.protocol`` of the running trame server.
    delay : float
        Seconds before a stale image is rendered again.

    Returns
    -------
    int
        Number of image-delivery protocols changed.
    """
    changed = 0
    for link in getattr(protocol, "linkProtocols", []) or []:
        if hasattr(link, "delta_stale_time_before_render"):
            link.delta_stale_time_before_render = delay
            changed += 1
    return changed
