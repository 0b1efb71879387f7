"""The trame application: one :class:`TwinApp` per served scene.

The app owns the trame server, the shared state and the callbacks; everything about the city
and the sensors comes from the :class:`~twin.scene.twin.Twin` (colours, legend, cards, search,
history). A periodic task on the server's asyncio loop calls :meth:`Twin.refresh`, which
writes colours into the mesh in place, and pushes a new frame only when something changed;
geometry is never rebuilt after start-up.

Examples
--------
>>> from twin.scene.config import SceneConfig          # doctest: +SKIP
>>> from twin.scene.twin import Twin                   # doctest: +SKIP
>>> app = TwinApp(Twin.from_config(SceneConfig.demo())) # doctest: +SKIP
>>> app.server.start(port=8080)                        # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from typing import Any

from trame.app import get_server

from twin.app import layout, panels, picking, render
from twin.app.kiosk import Flight, KioskTour
from twin.app.navigation import NavigationMixin
from twin.app.present import card_view, legend_view, table_view
from twin.app.startup import (
    FIRST_FRAME_SIZE,
    WARM_UP_DELAY,
    WARM_UP_SOON,
    StartupSequence,
    coalesce_renders,
    views_watched,
    warm_up_render,
)
from twin.app.timeline import TIME_STEPS, TimelineMixin
from twin.errors import SceneError
from twin.scene.camera import look_at
from twin.scene.i18n import DEFAULT_LANGUAGE, LANGUAGES, strings, t
from twin.scene.tour import Tour

log = logging.getLogger(__name__)

_ids = itertools.count()

#: Seconds between two refreshes of the colours (new readings show within one period plus
#: one frame).
REFRESH_SECONDS = 0.25
#: Seconds between two updates of the open card and of the sensor table.
PANEL_SECONDS = 3.0
#: Pixels the mouse may move between press and release for a click (more is a drag).
CLICK_SLOP = 5.0
#: Seconds after a frame when it is sent once more: VTK encodes images in a thread and the
#: first push may carry the previous image, whose re-send trame-vtk can give up on.
FOLLOWUP_SECONDS = 0.5
#: Least seconds between two recolourings: new readings show within this plus one frame.
MIN_REFRESH_SECONDS = 0.2
#: Seconds between two recolourings without new readings (readings grow stale).
STALE_CHECK_SECONDS = 10.0
#: Rows shown at most in the sensor table.
MAX_TABLE_ROWS = 200


class TwinApp(NavigationMixin, TimelineMixin):
    """The browser application of a :class:`~twin.scene.twin.Twin`.

    Parameters
    ----------
    twin : twin.scene.twin.Twin
        The scene: city, mesh, store, styles, bookmarks.
    server : trame_server.Server, optional
        A trame server; by default a new one (vue3 client) is created.
    kiosk : bool
        Full screen, no controls, automatic camera tour.
    local_rendering : bool
        Render in the browser with vtk.js instead of on the server.
    lang : {"de", "en"}, optional
        Start language (default: the scene's, else German).
    tour_seconds : float, optional
        Seconds per tour stop (default: the scene's tour setting, else 12).
    idle_resume : float, optional
        Seconds without input after which the kiosk tour resumes (default: the scene's).
    """

    def __init__(
        self,
        twin: Any,
        *,
        server: Any = None,
        kiosk: bool = False,
        local_rendering: bool = False,
        lang: str | None = None,
        tour_seconds: float | None = None,
        idle_resume: float | None = None,
    ) -> None:
        self.twin = twin
        self.server = server or get_server(f"twin-{next(_ids)}", client_type="vue3")
        self.kiosk = kiosk
        self.local_rendering = local_rendering
        self.plotter = twin.plotter(off_screen=True)
        render.tune(self.plotter)
        self.lod = render.InteractiveLOD(self.plotter)
        self.startup = StartupSequence(twin, lambda: warm_up_render(self.plotter.render_window))
        self.view: Any = None
        self._flight: Flight | None = None
        self._task: asyncio.Task | None = None
        self._last_panel = 0.0
        self._last_frame = 0.0
        self._dirty_frame = False
        self._results: list[dict] = []
        self._starting = True
        self._followup: float | None = None
        self._last_refresh = 0.0
        self._home = twin.home.camera_position()
        cfg = twin.config
        self.tour = KioskTour(
            Tour(
                _tour_stops(twin),
                seconds_per_stop=tour_seconds or cfg.tour.seconds_per_stop,
                idle_resume=cfg.tour.idle_resume if idle_resume is None else idle_resume,
            ),
            caption=lambda bm: bm.caption_in(self.state.lang),
        )
        self._init_state(lang or cfg.language or DEFAULT_LANGUAGE)
        self._bind()
        layout.build(self)

    # ------------------------------------------------------------------ state
    @property
    def state(self):
        """The trame shared state."""
        return self.server.state

    @property
    def ctrl(self):
        """The trame controller."""
        return self.server.controller

    def _init_state(self, lang: str) -> None:
        s = self.state
        s.lang = lang if lang in LANGUAGES else DEFAULT_LANGUAGE
        s.simple = False
        s.kiosk = self.kiosk
        s.labels = strings(s.lang)
        s.synthetic = bool(getattr(self.twin.city, "synthetic", False))
        s.city_label = getattr(self.twin.city, "label", "")
        s.title = self.twin.config.title_in(s.lang)
        s.quantity = self.twin.quantity
        s.quantity_items = self._quantity_items(s.lang)
        s.legend = None
        s.card = None
        s.selected_row = -1
        s.selected_device = ""
        s.search_text = ""
        s.search_results = []
        s.search_message = ""
        s.sensors = []
        s.live = True
        s.playing = False
        s.time_pos = TIME_STEPS
        s.time_steps = TIME_STEPS
        s.time_label = t("app.live", s.lang)
        s.banner = ""
        s.caption = ""
        s.caption_values = []
        s.tour_stops = 0
        s.frames = 0
        s.history_loading = panels.history_loading(self.twin)

    def _quantity_items(self, lang: str) -> list[dict[str, str]]:
        items = [{"value": q["key"], "title": q["label"]} for q in self.twin.quantities(lang)]
        if self.twin.quantity not in {i["value"] for i in items}:
            style = self.twin.style
            items.insert(0, {"value": style.key, "title": style.label(lang)})
        return items

    def _bind(self) -> None:
        s = self.state
        s.change("quantity")(self._on_quantity)
        s.change("lang", "simple")(self._on_language)
        s.change("time_pos")(self._on_time)
        s.change("search_text")(self._on_search_text)
        self.ctrl.on_server_ready.add(self._on_ready)
        self.ctrl.on_server_exited.add(self.close)
        self.ctrl.view_click = self.on_click
        self.ctrl.go_live = self.go_live
        self.ctrl.toggle_play = self.toggle_play
        self.ctrl.search = self.search
        self.ctrl.goto_result = self.goto_result
        self.ctrl.select_sensor = self.select_sensor
        self.ctrl.close_card = self.close_card
        self.ctrl.reset_camera = self.reset_camera
        self.ctrl.user_input = self.user_input
        self.ctrl.on_camera = self.on_camera
        self.ctrl.goto_bookmark = self.goto_bookmark

    # -------------------------------------------------------------- handlers
    def _on_quantity(self, quantity: str | None = None, **_: Any) -> None:
        if not quantity or self._starting:
            return
        self.twin.set_quantity(quantity)
        self.state.legend = legend_view(self.twin.legend(self.state.lang))
        self.refresh(force=True)
        self._update_panels()

    def _on_language(self, lang: str = DEFAULT_LANGUAGE, simple: bool = False, **_: Any) -> None:
        if self._starting:
            return
        s = self.state
        s.labels = strings(lang, simple=bool(simple))
        s.title = self.twin.config.title_in(lang)
        s.quantity_items = self._quantity_items(lang)
        if s.quantity:
            s.legend = legend_view(self.twin.legend(lang))
        if s.live:
            s.time_label = t("app.live", lang)
        else:
            self._on_time(s.time_pos)
        self._update_panels()
        if self.tour.current is not None:
            s.caption = self.tour.caption(self.tour.current)

    # ---------------------------------------------------------- public actions
    def on_click(self, event: dict | None) -> None:
        """Handle a click on the 3D view: pick server-side and open the card.

        Parameters
        ----------
        event : dict
            The remote view's click event (display position and canvas size).
        """
        self.user_input()
        if not event or float(event.get("moved", 0.0)) > CLICK_SLOP:
            return  # a drag that rotated the camera, not a click
        x, y = picking.display_position(event, tuple(self.plotter.window_size))
        hit = self.select_at(x, y)
        log.debug("click at %.0f, %.0f: %s row=%s", x, y, hit.kind, hit.row)

    def select_at(self, x: float, y: float) -> picking.Pick:
        """Select what lies under display position ``(x, y)`` and show its card.

        Parameters
        ----------
        x, y : float
            Display coordinates of the render window, origin at the bottom left.

        Returns
        -------
        twin.app.picking.Pick
            What was hit.
        """
        hit = picking.pick(self.plotter.renderer, x, y, sensor_actors=tuple(self._sensor_actors()))
        if hit.kind == "sensor" and hit.cell is not None:
            self.select_device(self.twin.device_at_cell(hit.cell))
            return hit
        if hit.kind == "building" and hit.row is not None:
            self.select_building(hit.row)
        elif hit.kind in ("other", "none"):
            self.close_card()
        return hit

    def select_building(self, row: int) -> None:
        """Open the card of the building at ``row`` of the City table.

        Parameters
        ----------
        row : int
            Row index into ``twin.city.buildings``.
        """
        s = self.state
        s.selected_row = int(row)
        s.selected_device = ""
        s.card = card_view(self.twin.building_card(int(row), s.lang), s.lang, simple=s.simple)

    def select_device(self, device: str) -> None:
        """Open the card of a sensor device and mark it in the sensor table.

        Parameters
        ----------
        device : str
            The device id.
        """
        s = self.state
        s.selected_device = device
        s.selected_row = -1
        s.card = card_view(self.twin.device_card(device, s.lang), s.lang, simple=s.simple)

    def select_sensor(self, device: str) -> None:
        """Select a sensor from the table: open its card and fly to it.

        Parameters
        ----------
        device : str
            The device id.
        """
        self.user_input()
        self.select_device(device)
        position = self._device_positions().get(device)
        if position is not None:
            self.fly_to(look_at(position, distance=300.0).camera_position())

    def close_card(self) -> None:
        """Close the info card."""
        self.state.card = None
        self.state.selected_row = -1
        self.state.selected_device = ""

    # --------------------------------------------------------------- refresh
    def refresh(self, *, force: bool = False) -> bool:
        """Recompute colours from the store and mark a new frame if they changed.

        Parameters
        ----------
        force : bool
            Recompute even when the writer reported no new readings, and push a frame even
            when no colour changed.

        Returns
        -------
        bool
            Whether the colours changed.
        """
        s = self.state
        now = time.monotonic()
        if not force and now - self._last_refresh < MIN_REFRESH_SECONDS:
            return False
        due = now - self._last_refresh >= STALE_CHECK_SECONDS  # readings age into "stale"
        if not (force or due or self.twin.has_new_data):
            return False
        self._last_refresh = now
        try:
            changed = bool(self.twin.refresh())
        except Exception as err:  # database or feed unavailable: say so, keep retrying
            message = t("error.database", s.lang, simple=s.simple)
            if s.banner != message:
                log.warning("refresh failed, will retry: %s", err)
            s.banner = message
            return False
        if s.banner == t("error.database", s.lang, simple=s.simple):
            s.banner = ""  # the database answers again
        log.debug("refresh: colours %s", "changed" if changed else "unchanged")
        if changed or force:
            self._dirty_frame = True
        return changed

    def tick(self, now: float | None = None) -> None:
        """One step of the periodic task: play, tour, flight, refresh, panels, frame.

        Parameters
        ----------
        now : float, optional
            Monotonic time (default ``time.monotonic()``).
        """
        now = time.monotonic() if now is None else now
        s = self.state
        self.startup.tick(self.server.protocol, now)
        self._play_step(REFRESH_SECONDS)
        new_stop = self.kiosk and self._tour_step(now)
        if self._flight is not None:
            self._step_flight(now)
        if s.live:
            self.refresh()
        if self._dirty_frame:  # the new colours first, the panels after
            if self._push_frame():
                self._followup = now + FOLLOWUP_SECONDS
        elif self._followup is not None and now >= self._followup:
            self._followup = None
            self._push_frame()
        if now - self._last_panel >= PANEL_SECONDS:
            self._last_panel = now
            self._update_panels()
        elif new_stop:  # the new stop's values at once, not the previous stop's for seconds
            s.caption_values = panels.values_near(self.twin, self.tour.current.focal_point, s.lang)
        s.flush()

    def _tour_step(self, now: float) -> bool:
        """Fly to the next tour stop when it is due; return whether the stop changed."""
        s = self.state
        bookmark = self.tour.tick(now)
        if bookmark is None:
            return False
        if getattr(bookmark, "quantity", None):
            s.quantity = bookmark.quantity
        self.fly_to(bookmark.camera_position(), duration=2.0)
        s.caption = self.tour.caption(bookmark)
        s.tour_stops = self.tour.stops
        return True

    def _push_frame(self) -> bool:
        """Send a new frame; return whether a browser received it (a follow-up is due)."""
        log.debug("push frame")
        self._dirty_frame = False
        self.state.frames = int(self.state.frames or 0) + 1
        if self.view is None or not self.server.protocol:
            self.plotter.render_window.Render()
            return False
        self.view.update()
        if self.local_rendering:
            self.view.push_camera()
            return True
        # No page watches the view yet: nothing was rendered, and a follow-up would only
        # invalidate the first image a page asks for while it is being encoded.
        return views_watched(self.server.protocol)

    def _update_panels(self) -> None:
        s = self.state
        s.banner = panels.status_banner(self.twin, s.lang, simple=s.simple)
        loading = panels.history_loading(self.twin)
        if s.history_loading and not loading:
            self.refresh(force=True)  # the whole history is in: recolour at once
        s.history_loading = loading
        if s.selected_row is not None and s.selected_row >= 0:
            s.card = card_view(
                self.twin.building_card(int(s.selected_row), s.lang), s.lang, simple=s.simple
            )
        elif s.selected_device:
            s.card = card_view(
                self.twin.device_card(s.selected_device, s.lang), s.lang, simple=s.simple
            )
        self._update_table()
        if self.kiosk and self.tour.current is not None:
            s.caption_values = panels.values_near(self.twin, self.tour.current.focal_point, s.lang)

    def _sensor_actors(self) -> list:
        actor = self.plotter.actors.get("sensors")
        return [actor] if actor is not None else []

    def _update_table(self) -> None:
        rows = panels.sensors_in_view(self.twin, self.plotter, self.state.lang)
        if rows is not None:
            self.state.sensors = table_view(rows[:MAX_TABLE_ROWS])

    def _device_positions(self) -> dict[str, tuple[float, float, float]]:
        return panels.device_positions(self.twin)

    # ---------------------------------------------------------- life cycle
    def _on_ready(self, *, warm_up_delay: float = WARM_UP_DELAY, **_: Any) -> None:
        if self._task is not None:
            return
        loop = asyncio.get_event_loop()
        self.startup.on_ready()
        render.quick_image_delivery(self.server.protocol)
        self.startup.coalesce(coalesce_renders(self.server.protocol, loop))
        self._wake = asyncio.Event()
        # the writer thread commits a batch: wake the loop at once instead of polling (also
        # for a writer that starts later, when a database that was down opens)
        with contextlib.suppress(SceneError):  # a twin without a data side
            self.twin.add_listener(lambda *_: loop.call_soon_threadsafe(self._wake.set))
        # The first image a browser gets is rendered at the window's size, before the page
        # tells its own: make it a small one (fast to render, encode and send); the page's
        # size follows at once. Render once while the browser parses the page's scripts
        # (after it fetched them: the render holds the loop for a few hundred ms).
        if not self.local_rendering:
            self.plotter.render_window.SetSize(*FIRST_FRAME_SIZE)
        loop.call_later(warm_up_delay, self.startup.warm_up)
        self._task = loop.create_task(self._loop())

    async def _loop(self) -> None:
        while True:
            started = time.monotonic()
            try:
                self.tick(started)
            except Exception:  # keep the page alive whatever goes wrong in one tick
                log.exception("periodic update failed")
            self._wake.clear()
            pause = max(0.02, REFRESH_SECONDS - (time.monotonic() - started))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), pause)

    def start_state(self) -> None:
        """Compute the first legend, colours, panels and camera (before serving)."""
        self.state.ready()  # runs the change handlers once; they wait for _starting
        self._starting = False
        self._home = tuple(tuple(v) for v in self.plotter.camera_position)
        self._on_quantity(self.state.quantity)
        self.state.flush()

    def close(self, **_: Any) -> None:
        """Stop the periodic task and close the twin (simulator, ingest, store)."""
        if self._task is not None:
            self._task.cancel()
            self._task = None
        try:
            self.twin.close()
        finally:
            self.plotter.close()

    def begin(self) -> None:
        """Start on a server that already runs (see :class:`twin.app.boot.Boot`).

        The state (and with it the layout that replaces the loading page) goes to the
        connected browsers at once; the warm-up render follows right after it was sent,
        while the browsers mount the view.
        """
        self.start_state()
        self._on_ready(warm_up_delay=WARM_UP_SOON)

    def serve(self, **kwargs: Any) -> None:
        """Start the trame server (blocking); keyword arguments go to ``server.start``."""
        self.start_state()
        self.server.start(**kwargs)


def _tour_stops(twin: Any) -> list:
    """Return the tour's bookmarks in local coordinates, in the configured order."""
    return [bm.to_local(twin.origin) for bm in twin.config.tour_bookmarks()]
