"""Building the PyVista scene: context layers, sensor glyphs, lights and the default camera.

Everything here is a handful of actors whatever the city's size: one for the buildings (the
City mesh, coloured by its ``colors`` cell array), one per context layer (ground, river,
parks, streets: flat triangulated polygons) and one for all sensor glyphs.
"""

from __future__ import annotations

import ctypes.util
import functools
import logging
import os
import sys
from collections.abc import Sequence

import numpy as np
import pyvista as pv

from twin.scene.camera import default_camera

log = logging.getLogger(__name__)

#: Layer → (colour, height above the local origin in metres). Drawn bottom to top.
CONTEXT_STYLE: dict[str, tuple[str, float]] = {
    "ground": ("#d3d6ce", -1.6),
    "river": ("#6fa8d6", -1.2),
    "park": ("#a6cf8f", -0.8),
    "street": ("#eeede8", -0.4),
}
#: Polygon offset ``(factor, units)`` per layer: the lower a layer, the further back its depth is
#: pushed, so coplanar-looking layers seen from far away (a few decimetres apart over
#: kilometres of depth) never fight for the same pixels (white speckles on the river).
CONTEXT_OFFSET: dict[str, tuple[float, float]] = {
    "ground": (4.0, 64.0),
    "river": (3.0, 48.0),
    "park": (2.0, 32.0),
    "street": (1.0, 16.0),
}
BACKGROUND = ("#f4f6f8", "#b9cde0")  # bottom, top
GLYPH_RADIUS = 9.0
GLYPH_LIFT = 4.0


def flat_polygons(geoms: Sequence[object], origin: Sequence[float], z: float) -> pv.PolyData:
    """Triangulate 2D polygons (with holes) into one flat PolyData at height ``z``.

    Parameters
    ----------
    geoms : sequence of shapely geometries
        Polygons or MultiPolygons in absolute City coordinates; others are skipped.
    origin : sequence of float
        Local origin subtracted from the coordinates.
    z : float
        Local height of the layer.

    Returns
    -------
    pyvista.PolyData
        Triangles facing up, float32 points.
    """
    from twin.mesh.rings import polygon_rings
    from twin.mesh.triangulate import triangulate

    geoms = np.asarray(list(geoms), dtype=object)
    rings = polygon_rings(geoms, np.arange(len(geoms)))
    if rings.n_polygons == 0:
        return pv.PolyData()
    tris, _ = triangulate(rings)
    pts = np.empty((rings.n_vertices, 3), dtype=np.float32)
    pts[:, 0] = rings.coords[:, 0] - origin[0]
    pts[:, 1] = rings.coords[:, 1] - origin[1]
    pts[:, 2] = z
    faces = np.hstack([np.full((len(tris), 1), 3, dtype=np.int64), tris]).ravel()
    return pv.PolyData(pts, faces=faces)


def context_meshes(context: object, origin: Sequence[float]) -> dict[str, pv.PolyData]:
    """Build one flat mesh per context layer of a City (``ground``, ``river``, ...)."""
    out: dict[str, pv.PolyData] = {}
    if context is None or not len(context):  # type: ignore[arg-type]
        return out
    for layer, (_, z) in CONTEXT_STYLE.items():
        sel = context[context["layer"] == layer]  # type: ignore[index]
        if len(sel):
            mesh = flat_polygons(sel.geometry.to_numpy(), origin, z)
            if mesh.n_cells:
                out[layer] = mesh
    return out


def glyph_positions(binding: object, origin: Sequence[float], row_top: np.ndarray) -> np.ndarray:
    """Return local ``(n, 3)`` sensor glyph positions.

    A glyph floats :data:`GLYPH_LIFT` metres above its bound building's roof (or the ground
    when unbound); devices at one spot stand side by side so none hides another.

    Parameters
    ----------
    binding : pandas.DataFrame
        From :func:`~twin.scene.binding.bind_devices` (``x``, ``y``, ``row``).
    origin : sequence of float
        The City's local origin.
    row_top : numpy.ndarray
        Local roof height of the building of each City row.

    Returns
    -------
    numpy.ndarray
        NaN rows for devices without a position (neither their own nor a building's).
    """
    import pandas as pd

    b = binding
    xyz = np.zeros((len(b), 3))  # type: ignore[arg-type]
    xyz[:, 0] = b["x"].to_numpy(dtype=float) - origin[0]  # type: ignore[index]
    xyz[:, 1] = b["y"].to_numpy(dtype=float) - origin[1]  # type: ignore[index]
    rows = b["row"].to_numpy()  # type: ignore[index]
    bound = rows >= 0
    xyz[bound, 2] = row_top[rows[bound]]
    xyz[:, 2] += GLYPH_LIFT
    spot = pd.Series(list(zip(np.round(xyz[:, 0]), np.round(xyz[:, 1]), strict=True)))
    rank = spot.groupby(spot).cumcount().to_numpy()
    xyz[:, 0] += rank * 2.5 * GLYPH_RADIUS
    return xyz


@functools.lru_cache(maxsize=8)
def _sphere_template(radius: float, resolution: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Points, triangles and unit normals of one sphere (cached; ``vtkSphereSource``).

    ``pv.Sphere`` would cost ~0.2 s on its first call (it loads pyvista's transform
    filters); the bare VTK source is a few milliseconds.
    """
    from vtkmodules.vtkFiltersSources import vtkSphereSource

    src = vtkSphereSource()
    src.SetRadius(radius)
    src.SetThetaResolution(resolution)
    src.SetPhiResolution(resolution)
    src.Update()
    tpl = pv.wrap(src.GetOutput())
    points = np.asarray(tpl.points, dtype=np.float64)
    tris = np.asarray(tpl.faces).reshape(-1, 4)[:, 1:]
    normals = (points / np.linalg.norm(points, axis=1, keepdims=True)).astype(np.float32)
    return points, tris, normals


def glyph_mesh(
    centres: np.ndarray, *, radius: float = GLYPH_RADIUS, resolution: int = 10
) -> pv.PolyData:
    """One mesh of small spheres, one per sensor, with the cell array ``device`` (index).

    Parameters
    ----------
    centres : numpy.ndarray
        ``(n, 3)`` local positions, one per device; rows with NaN get no glyph.
    radius : float
        Sphere radius in metres.
    resolution : int
        Theta/phi resolution of each sphere.

    Returns
    -------
    pyvista.PolyData
        Built with numpy from one template sphere (no per-sensor VTK call); the cell array
        ``device`` holds the row of ``centres`` each sphere belongs to.
    """
    centres = np.asarray(centres, dtype=np.float64).reshape(-1, 3)
    ids = np.flatnonzero(np.isfinite(centres).all(axis=1))
    centres = centres[ids]
    n = len(centres)
    if n == 0:
        return pv.PolyData()
    tp, tf, normals = _sphere_template(float(radius), int(resolution))
    pts = (tp[None, :, :] + np.asarray(centres, dtype=np.float64)[:, None, :]).reshape(-1, 3)
    faces = tf[None, :, :] + (np.arange(n) * len(tp))[:, None, None]
    faces = np.concatenate(
        [np.full((n * len(tf), 1), 3, dtype=np.int64), faces.reshape(-1, 3)], axis=1
    ).ravel()
    mesh = pv.PolyData(pts.astype(np.float32), faces=faces)
    # Smooth spheres from the template's point normals (``smooth_shading`` would copy the
    # mesh, and the copy would not see colour updates).
    mesh.point_data["Normals"] = np.tile(normals, (n, 1))
    mesh.point_data.active_normals_name = "Normals"
    mesh.cell_data["device"] = np.repeat(ids.astype(np.int32), len(tf))
    return mesh


def split_tiles(mesh: pv.PolyData, n_tiles: int) -> list[pv.PolyData]:
    """Split a triangle mesh into about ``n_tiles`` spatial tiles (a square grid).

    Separate tiles let VTK's frustum culling drop what is out of view and keep each draw
    call smaller. Each tile keeps the cell arrays (``building``, ``surface``, ``Normals``) and
    gets ``cell_id``, the cell's index in the whole mesh. Vectorised: one sort of the cells by
    tile, then per tile one ``np.unique`` to compact its points.

    Parameters
    ----------
    mesh : pyvista.PolyData
        A mesh of triangles only.
    n_tiles : int
        Wanted number of tiles (rounded to a square grid; empty tiles are dropped).

    Returns
    -------
    list of pyvista.PolyData
    """
    k = max(1, int(np.ceil(np.sqrt(n_tiles))))
    if k == 1 or mesh.n_cells == 0:
        return [mesh]
    faces = np.asarray(mesh.faces).reshape(-1, 4)
    if not (faces[:, 0] == 3).all():
        raise ValueError("split_tiles needs a mesh of triangles")
    tri = faces[:, 1:]
    pts = np.asarray(mesh.points)
    centre = pts[tri].mean(axis=1)
    xmin, xmax, ymin, ymax = mesh.bounds[:4]
    ix = np.clip(((centre[:, 0] - xmin) / max(xmax - xmin, 1e-9) * k).astype(int), 0, k - 1)
    iy = np.clip(((centre[:, 1] - ymin) / max(ymax - ymin, 1e-9) * k).astype(int), 0, k - 1)
    tile = ix * k + iy
    order = np.argsort(tile, kind="stable")
    starts = np.concatenate([[0], np.cumsum(np.bincount(tile, minlength=k * k))])
    out = []
    for t in range(k * k):
        cells = order[starts[t] : starts[t + 1]]
        if not len(cells):
            continue
        used, inverse = np.unique(tri[cells], return_inverse=True)
        tf = np.concatenate(
            [np.full((len(cells), 1), 3, dtype=np.int64), inverse.reshape(-1, 3)], axis=1
        )
        part = pv.PolyData(pts[used], faces=tf.ravel())
        for name in mesh.cell_data:
            if name != "colors":
                part.cell_data[name] = np.asarray(mesh.cell_data[name])[cells]
        for name in mesh.point_data:
            part.point_data[name] = np.asarray(mesh.point_data[name])[used]
        part.cell_data["cell_id"] = cells.astype(np.int64)
        out.append(part)
    return out


def add_glyphs(pl: pv.Plotter, glyphs: pv.PolyData) -> pv.Actor:
    """Add the sensor glyph mesh as the actor ``sensors``, coloured by its ``colors`` array.

    The actor is added even when the mesh is still empty: the mapper is told to colour by
    the cell array ``colors`` directly, so glyphs that :meth:`Twin.sync_devices` writes into
    the same PolyData later (in place) appear on the next render.

    Parameters
    ----------
    pl : pyvista.Plotter
        The plotter.
    glyphs : pyvista.PolyData
        The Twin's glyph mesh (possibly without cells yet).

    Returns
    -------
    pyvista.Actor
    """
    # pl.add_mesh refuses empty meshes, so the actor is assembled by hand.
    mapper = pv.DataSetMapper(glyphs)
    mapper.SetScalarModeToUseCellFieldData()
    mapper.SelectColorArray("colors")
    mapper.SetColorModeToDirectScalars()
    mapper.ScalarVisibilityOn()
    actor = pv.Actor(mapper=mapper)
    prop = actor.prop
    prop.interpolation = "flat"
    prop.ambient, prop.diffuse = 0.35, 0.7
    prop.specular, prop.specular_power = 0.4, 30.0
    pl.add_actor(actor, name="sensors", pickable=True, reset_camera=False)
    return actor


@functools.cache
def prefer_egl_without_display() -> bool:
    """Let VTK render with EGL straight away on a Linux machine without a display.

    VTK tries an X window first and, on a server or kiosk box without ``DISPLAY``, prints a
    "bad X server connection" warning before falling back to EGL. When no display is set,
    no window class was chosen (``VTK_DEFAULT_OPENGL_WINDOW``) and libEGL is installed, this
    chooses EGL, so the fallback (and its warning) does not happen. Anything else is left to
    VTK's own order.

    Returns
    -------
    bool
        Whether EGL was chosen.
    """
    env = os.environ
    if (
        not sys.platform.startswith("linux")
        or env.get("DISPLAY")
        or env.get("WAYLAND_DISPLAY")
        or "VTK_DEFAULT_OPENGL_WINDOW" in env
        or ctypes.util.find_library("EGL") is None
    ):
        return False
    env["VTK_DEFAULT_OPENGL_WINDOW"] = "vtkEGLRenderWindow"
    return True


def make_plotter(
    twin: object,
    *,
    off_screen: bool | None = None,
    window_size: Sequence[int] = (1280, 720),
    multi_samples: int | None = None,
    tiles: int = 1,
    **kwargs: object,
) -> pv.Plotter:
    """Build a :class:`pyvista.Plotter` showing a :class:`~twin.scene.twin.Twin`.

    Parameters
    ----------
    twin : Twin
        The scene.
    off_screen : bool, optional
        Render without a window (tests, servers).
    window_size : sequence of int
        Width and height in pixels.
    multi_samples : int, optional
        MSAA samples (0 is about twice as fast on a CPU renderer).
    tiles : int
        Draw the buildings as about this many spatial tiles (actors ``buildings-<i>``, each
        with the cell arrays ``building`` and ``cell_id``) so that the renderer can cull
        what is out of view; 1 draws the City mesh itself as the actor ``buildings``.
        Tiles are coloured in place together with the mesh.
    **kwargs
        Passed to :class:`pyvista.Plotter`.

    Returns
    -------
    pyvista.Plotter
        With the actors ``buildings`` (or ``buildings-<i>``), ``context-<layer>`` and
        ``sensors``.
    """
    if off_screen:
        prefer_egl_without_display()
    pl = pv.Plotter(off_screen=off_screen, window_size=list(window_size), **kwargs)
    if multi_samples is not None:
        # pyvista 0.49's Plotter takes no multi_samples; the render window does.
        pl.ren_win.SetMultiSamples(int(multi_samples))
    pl.set_background(BACKGROUND[0], top=BACKGROUND[1])
    for layer, mesh in twin.context.items():  # type: ignore[attr-defined]
        actor = pl.add_mesh(
            mesh,
            color=CONTEXT_STYLE[layer][0],
            name=f"context-{layer}",
            lighting=True,
            ambient=0.45,
            diffuse=0.55,
            specular=0.0,
            pickable=False,
            show_scalar_bar=False,
        )
        factor, units = CONTEXT_OFFSET[layer]
        actor.mapper.SetRelativeCoincidentTopologyPolygonOffsetParameters(factor, units)
    mesh = twin.mesh  # type: ignore[attr-defined]
    parts = twin.tiles(tiles) if tiles > 1 else [mesh]  # type: ignore[attr-defined]
    for i, part in enumerate(parts if mesh.n_cells else []):
        pl.add_mesh(
            part,
            scalars="colors",
            rgb=True,
            name="buildings" if part is mesh else f"buildings-{i}",
            smooth_shading=False,
            ambient=0.28,
            diffuse=0.75,
            specular=0.08,
            specular_power=12.0,
            show_scalar_bar=False,
        )
    glyphs = twin.glyphs  # type: ignore[attr-defined]
    if glyphs is not None:
        add_glyphs(pl, glyphs)
    bounds = mesh.bounds if mesh.n_cells else (-500, 500, -500, 500, 0, 10)
    pl.camera_position = default_camera(bounds).camera_position()
    pl.camera.clipping_range = (1.0, 50000.0)
    pl.reset_camera_clipping_range()
    return pl
