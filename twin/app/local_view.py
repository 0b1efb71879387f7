"""Local rendering (``--local-rendering``): the browser draws the scene with vtk.js.

:class:`LocalView` sends the scene once (trame-vtk's delta protocol) and afterwards only the
cells whose colour changed, as a small binary message that a page script (:data:`LOCAL_JS`)
writes into the vtk.js colour arrays in place; the browser's camera comes back to the server
after each interaction, so the sensor table and picking follow what the user sees, and the
server pushes a camera only when it moved it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pyvista as pv
from trame_pyvista.widgets import PyVistaLocalView

from twin.scene.painter import COLOR_ARRAY

log = logging.getLogger(__name__)

#: wslink topic of the colour patches of :class:`LocalView`.
COLORS_TOPIC = "twin.local.colors"
#: Above this share of changed cells a patch sends the whole array (no cell indices).
WHOLE_ARRAY_SHARE = 0.25


class LocalView(PyVistaLocalView):
    """A vtk.js view that sends colour changes as patches of the changed cells only.

    trame-vtk's own :meth:`update` re-serialises the scene, re-sends its full description as
    state and makes the browser fetch every changed array whole (four bytes per triangle).
    Here the scene goes through that path only when its structure changes (first frame, new
    sensor glyphs); a colour update publishes, on :data:`COLORS_TOPIC`, the indices and RGBA
    bytes of the cells that changed since the last message, or the whole array when more
    than :data:`WHOLE_ARRAY_SHARE` of it changed.

    Parameters
    ----------
    plotter : pyvista.Plotter
        The app's plotter (rendered in the browser).
    on_camera : callable, optional
        Called with no argument after the browser's camera was copied to the plotter.
    **kwargs
        Passed to :class:`trame_pyvista.widgets.PyVistaLocalView`.

    Attributes
    ----------
    stats : dict
        Counters: ``patches``, ``cells`` (sent in patches), ``bytes`` (payload), ``full``
        (full scene updates), ``seconds`` (server time spent in updates).
    """

    def __init__(
        self, plotter: pv.Plotter, *, on_camera: Callable[[], None] | None = None, **kwargs: Any
    ) -> None:
        self._sent: dict[str, np.ndarray] = {}
        self._shapes: dict[str, tuple] = {}
        self._browser_camera: tuple | None = None
        self._on_camera = on_camera
        self._stats = {"patches": 0, "cells": 0, "bytes": 0, "full": 0, "seconds": 0.0}
        super().__init__(plotter, **kwargs)
        self.server.trigger(self.camera_trigger)(self.sync_camera)
        self.server.trigger(self.hello_trigger)(self.hello)

    @property
    def stats(self) -> dict[str, float]:
        """Counters of what the updates sent (see the class docstring)."""
        return self._stats

    # --------------------------------------------------------------- names
    @property
    def camera_trigger(self) -> str:
        """Trigger the page script calls with the browser's camera."""
        return f"twin_camera_{self.ref_name}"

    @property
    def hello_trigger(self) -> str:
        """Trigger the page script calls when its view has loaded the scene."""
        return f"twin_hello_{self.ref_name}"

    def script(self) -> str:
        """Return the page script (:data:`LOCAL_JS`) bound to this view."""
        return (
            LOCAL_JS.replace("%REF%", self.ref_name)
            .replace("%TOPIC%", COLORS_TOPIC)
            .replace("%CAMERA%", self.camera_trigger)
            .replace("%HELLO%", self.hello_trigger)
        )

    # ---------------------------------------------------------- colours
    def coloured(self) -> dict[str, pv.PolyData]:
        """Return ``{vtk.js dataset id: mesh}`` of the visible actors coloured by cells."""
        from trame_vtk.modules.vtk.serializers.utils import reference_id

        out = {}
        for actor in self.plotter.renderer.actors.values():
            mapper = actor.GetMapper() if hasattr(actor, "GetMapper") else None
            data = mapper.GetInput() if mapper is not None else None
            visible = actor.GetVisibility() if hasattr(actor, "GetVisibility") else True
            if (
                visible
                and data is not None
                and data.GetNumberOfCells()  # an empty mesh is not in the browser's scene
                and data.GetCellData().HasArray(COLOR_ARRAY)
            ):
                out[f"{reference_id(mapper)}-dataset"] = pv.wrap(data)
        return out

    def _structure(self, meshes: dict[str, pv.PolyData]) -> dict[str, tuple]:
        return {
            key: (m.n_points, m.n_cells, m.GetPoints().GetMTime() if m.GetPoints() else 0)
            for key, m in meshes.items()
        }

    def colour_patch(self) -> list[dict] | None:
        """Return the patches that bring the browser to the current colours.

        Returns
        -------
        list of dict or None
            One ``{id, array, cells, rgba}`` per dataset with changed colours (``cells`` is
            None for the whole array; bytes, int32 and uint8); an empty list when nothing
            changed; None when the scene's structure changed (a full update is needed).
        """
        meshes = self.coloured()
        if self._structure(meshes) != self._shapes:
            return None
        patches = []
        for key, mesh in meshes.items():
            now = np.asarray(mesh.cell_data[COLOR_ARRAY])
            sent = self._sent[key]
            changed = np.flatnonzero((now != sent).any(axis=1))
            if not len(changed):
                continue
            whole = len(changed) > WHOLE_ARRAY_SHARE * len(now)
            patches.append(
                {
                    "id": key,
                    "array": COLOR_ARRAY,
                    "cells": None if whole else changed.astype("<i4").tobytes(),
                    "rgba": np.ascontiguousarray(now if whole else now[changed]).tobytes(),
                }
            )
            sent[...] = now
        return patches

    def _remember(self) -> None:
        meshes = self.coloured()
        self._shapes = self._structure(meshes)
        self._sent = {k: np.array(m.cell_data[COLOR_ARRAY], copy=True) for k, m in meshes.items()}

    def update(self, widgets: Any = None, orientation_axis: int = 0, **kwargs: Any) -> None:
        """Bring the browser's scene up to date: colour patches, or a full scene update."""
        if not self.server.protocol:
            return
        started = time.perf_counter()
        patches = self.colour_patch() if self._shapes else None
        if patches is None:
            self.full_update(widgets=widgets, orientation_axis=orientation_axis)
        elif patches:
            self.server.protocol.publish(COLORS_TOPIC, {"patches": patches})
            self._stats["patches"] += 1
            self._stats["cells"] += sum(
                len(p["rgba"]) // 4 if p["cells"] is None else len(p["cells"]) // 4 for p in patches
            )
            self._stats["bytes"] += sum(len(p["rgba"]) + len(p["cells"] or b"") for p in patches)
        self._stats["seconds"] += time.perf_counter() - started

    def full_update(self, widgets: Any = None, orientation_axis: int = 0) -> None:
        """Send the whole scene the trame-vtk way (arrays the browser has are not re-sent)."""
        if not self.server.protocol:
            return
        super().update(widgets=widgets, orientation_axis=orientation_axis)
        self._remember()
        self._stats["full"] += 1

    def hello(self) -> None:
        """Send a page that has loaded its scene today's colours and the server's camera.

        Its scene may come from an older full state (arrays are fetched as they are now, but
        a patch sent between the two would be missing): one whole-array patch settles it.
        """
        if not self.server.protocol:
            return
        if not self._shapes:  # the page was built after the server started: no scene sent yet
            self.full_update()
        patches = [
            {
                "id": key,
                "array": COLOR_ARRAY,
                "cells": None,
                "rgba": np.ascontiguousarray(mesh.cell_data[COLOR_ARRAY]).tobytes(),
            }
            for key, mesh in self.coloured().items()
        ]
        self.server.protocol.publish(COLORS_TOPIC, {"patches": patches, "hello": True})
        self.push_camera(force=True)

    # ----------------------------------------------------------- camera
    def _pose(self) -> tuple:
        cam = self.plotter.camera
        return tuple(round(float(v), 3) for v in (*cam.position, *cam.focal_point, *cam.up))

    def push_camera(self, camera: Any = None, force: bool = False, **kwargs: Any) -> None:
        """Send the server's camera to the browser, only when the server moved it.

        The app pushes after every frame; pushing the browser's own camera back would undo
        what the user is dragging at that moment.
        """
        if camera is None and not force and self._pose() == self._browser_camera:
            return
        self._browser_camera = self._pose()
        super().push_camera(camera, **kwargs)

    def sync_camera(self, camera: dict | None = None, size: Sequence[float] | None = None) -> None:
        """Copy the browser's camera (and canvas size) to the plotter.

        Parameters
        ----------
        camera : dict
            vtk.js ``getCamera()``: ``position``, ``focalPoint``, ``viewUp``, ``viewAngle``.
        size : sequence of float, optional
            Canvas width and height in CSS pixels (the frustum's aspect ratio).
        """
        if not camera:
            return
        cam = self.plotter.camera
        cam.position = tuple(camera["position"])
        cam.focal_point = tuple(camera["focalPoint"])
        cam.up = tuple(camera["viewUp"])
        if camera.get("viewAngle"):
            cam.view_angle = float(camera["viewAngle"])
        if size and size[0] > 0 and size[1] > 0:
            self.plotter.render_window.SetSize(int(size[0]), int(size[1]))
        self.plotter.renderer.ResetCameraClippingRange()
        self._browser_camera = self._pose()
        log.debug("browser camera %s", self._browser_camera)
        if self._on_camera is not None:
            self._on_camera()


#: Page script of :class:`LocalView`: applies colour patches to the vtk.js arrays, reports
#: the camera after each interaction and says hello once a view has loaded its scene.
#: It reaches the view through ``window.trame.refs`` (trame-vtk's ``vtk-local-view``
#: provides its vtk.js wrapper as ``view``); ``%...%`` are filled in by :meth:`LocalView.script`.
LOCAL_JS = """
(() => {
  const T = (window.twinLocal = window.twinLocal || {});
  T.patches = T.patches || 0;
  T.cells = T.cells || 0;
  const view = () => {
    const r = window.trame && window.trame.refs && window.trame.refs['%REF%'];
    const v = r && r.$ && r.$.provides && r.$.provides.view;
    return v && v.ctx && v.renderer ? v : null;
  };
  const bytes = (b) => (b instanceof Uint8Array ? b : new Uint8Array(b));
  T.waiting = false;
  T.apply = (msg) => {
    const v = view();
    if (!v) return false;
    if (msg.hello && !T.waiting) return false;  // another page's hello: this one is current
    let touched = false;
    let missed = false;
    for (const p of msg.patches) {
      const ds = v.ctx.getInstance(p.id);
      const arr = ds && ds.getCellData().getArrayByName(p.array);
      if (!arr) { missed = true; continue; }
      const data = arr.getData();
      const rgba = bytes(p.rgba);
      if (p.cells === null || p.cells === undefined) {
        if (rgba.length !== data.length) { missed = true; continue; }
        data.set(rgba);
        T.cells += rgba.length / 4;
      } else {
        const cells = new Int32Array(bytes(p.cells).slice().buffer);
        for (let i = 0; i < cells.length; i++) {
          data.set(rgba.subarray(4 * i, 4 * i + 4), 4 * cells[i]);
        }
        T.cells += cells.length;
      }
      arr.modified();
      ds.modified();
      touched = true;
    }
    if (touched) {
      v.renderWindow.render();
      T.patches += 1;
    }
    if (msg.hello) {
      // the scene's arrays were still loading: ask again (for a while)
      if (missed && T.hellos < 20) setTimeout(hello, 500);
      else T.waiting = false;
    }
    return touched;
  };
  const loaded = (v) => v.renderer.getActors().length > 0 && v.renderer.getActors().every((a) => {
    const ds = a.getMapper() && a.getMapper().getInputData();
    return ds && ds.getPoints() && ds.getPoints().getData().length > 0;
  });
  const hello = () => {
    T.waiting = true;
    T.hellos = (T.hellos || 0) + 1;
    window.trame.trigger('%HELLO%', []);
  };
  let timer = null;
  const report = () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      const r = window.trame.refs['%REF%'];
      const v = view();
      if (!r || !v) return;
      const c = v.container;
      window.trame.trigger('%CAMERA%', [r.getCamera(), [c.clientWidth, c.clientHeight]]);
    }, 120);
  };
  let session = null;
  let bound = null;
  setInterval(() => {
    let s = null;
    try { s = window.trame.client.getConnection().getSession(); } catch (e) { s = null; }
    if (s && s !== session) {
      session = s;
      s.subscribe('%TOPIC%', ([msg]) => T.apply(msg));
      bound = null;  // a new connection: say hello again
    }
    const v = view();
    if (s && v && v !== bound && loaded(v)) {
      bound = v;
      T.hellos = 0;
      v.interactor.onEndAnimation(report);
      v.interactor.onEndMouseWheel(report);
      hello();
    }
  }, 250);
})();
"""
