"""Camera navigation and search of the app: flights, bookmarks, search results.

A mixin of :class:`~twin.app.app.TwinApp` (it uses the app's ``twin``, ``plotter``,
``state`` and ``tour``): everything that moves the camera lives here, so the app module
keeps to state and refresh.
"""

from __future__ import annotations

import time
from typing import Any

from twin.app.kiosk import Flight
from twin.scene.camera import look_at
from twin.scene.i18n import t


class NavigationMixin:
    """Camera flights, bookmarks and search for :class:`~twin.app.app.TwinApp`."""

    twin: Any
    plotter: Any
    state: Any
    tour: Any
    _flight: Flight | None
    _results: list[dict]
    _home: Any
    _dirty_frame: bool
    lod: Any
    # provided by the app: select_building, select_device, _update_table, _push_frame

    def _on_search_text(self, search_text: str = "", **_: Any) -> None:
        if not search_text:
            self.state.search_results = []
            self.state.search_message = ""

    def search(self) -> None:
        """Search streets, building names and devices for the text in the search box."""
        s = self.state
        text = (s.search_text or "").strip()
        if not text:
            s.search_results = []
            return
        results = self.twin.search(text)[:20]
        s.search_results = [
            {
                "index": i,
                "label": r.get("label", ""),
                "kind": t(f"search.kind.{r.get('kind')}", s.lang),
            }
            for i, r in enumerate(results)
        ]
        self._results = results
        s.search_message = (
            t("search.results", s.lang, n=len(results)) if results else t("search.none", s.lang)
        )
        if results:  # Enter flies to the best match; the chips offer the others
            self.goto_result(0)

    def goto_result(self, index: int) -> None:
        """Fly to a search result and open its card.

        Parameters
        ----------
        index : int
            Index into the last search's results.
        """
        results = self._results
        if not 0 <= int(index) < len(results):
            return
        r = results[int(index)]
        if r.get("row") is not None and r.get("kind") != "device":
            self.select_building(int(r["row"]))
        elif r.get("device"):
            self.select_device(str(r["device"]))
        if r.get("position") is not None:
            distance = 600.0 if r.get("kind") == "street" else 250.0
            self.fly_to(look_at(r["position"], distance=distance).camera_position())

    def goto_bookmark(self, name: str) -> None:
        """Fly to a named camera bookmark.

        Parameters
        ----------
        name : str
            The bookmark's name.
        """
        for bm in self.twin.bookmarks:
            if bm.name == name:
                self.fly_to(bm.camera_position())
                return

    def reset_camera(self) -> None:
        """Fly back to the scene's default view."""
        self.fly_to(self._home)

    def user_input(self, *_: Any) -> None:
        """Note user input: pauses the kiosk tour until the idle time has passed."""
        self.tour.user_input(time.monotonic())

    def on_camera(self, *_: Any) -> None:
        """After the user moved the camera: pause the tour, restore detail, filter the table."""
        self.user_input()
        self.lod.end()
        self._update_table()
        self._push_frame()

    def fly_to(self, pose: Any, *, duration: float = 1.2) -> None:
        """Start a smooth camera flight to ``pose``.

        Parameters
        ----------
        pose : sequence
            ``(position, focal_point, view_up)`` in local coordinates.
        duration : float
            Seconds of the flight; 0 jumps.
        """
        cam = self.plotter.camera
        start = (cam.position, cam.focal_point, cam.up)
        self._flight = Flight(start, tuple(tuple(p) for p in pose), time.monotonic(), duration)
        if duration <= 0:
            self._step_flight(time.monotonic())

    def _step_flight(self, now: float) -> None:
        pose, done = self._flight.at(now)
        self.plotter.camera_position = list(pose)
        self.plotter.renderer.ResetCameraClippingRange()
        if done:
            self._flight = None
            self._update_table()
        self._dirty_frame = True
