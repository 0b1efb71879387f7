"""The order of start-up work: what the first frame needs first, the rest after it is shown.

Measured on 2 cores with llvmpipe (``bench/bench_startup.py``): when the demo simulator's
24-hour backfill and the search index started as soon as the server answered, they competed
with the browser loading the page and with the first renders, and the city appeared seconds
later. :class:`StartupSequence` therefore

1. renders one small frame (the warm-up) before the browser asks for its first image: the
   first render of a new OpenGL context compiles shaders and uploads the mesh, which would
   otherwise delay that image. Served from the command line, the page is up before the
   scene (:mod:`twin.app.boot`), and the warm-up runs right after the real layout went out,
   while the browser mounts it (:data:`WARM_UP_SOON`); a server started with
   :meth:`TwinApp.serve` renders it :data:`WARM_UP_DELAY` after it came up, while the page
   parses its scripts,
2. connects the MQTT ingests at once (cheap, and a live feed should not wait),
3. starts the simulator and builds the search index :data:`SETTLE_SECONDS` after the first
   image was handed to a browser, or :data:`DEFERRED_DEADLINE` seconds after the server came
   up when no browser asks (a headless server, or a local-rendering client, which receives
   geometry instead).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

from twin.errors import SceneError

log = logging.getLogger(__name__)

#: Seconds after the server is up when deferred work starts even without a frame shown.
DEFERRED_DEADLINE = 8.0
#: Seconds between the first image and the start of the deferred work.
SETTLE_SECONDS = 1.5
#: Size of the first server-side image, before the page reports the view's size.
FIRST_FRAME_SIZE = (640, 360)
#: Seconds after the server is up when the warm-up render runs: a page opened at once has
#: fetched its scripts by then and parses them (measured in Chromium).
WARM_UP_DELAY = 0.6
#: Seconds after the app was attached to a running server (:class:`twin.app.boot.Boot`) when
#: the warm-up render runs: the state message with the new layout is written out first.
WARM_UP_SOON = 0.02
#: Size of the warm-up render (its cost is the first render's set-up, not the pixels).
WARM_UP_SIZE = (64, 64)
#: Pixels below which an image size is the page's placeholder (a freshly mounted view asks
#: for 300×300 at a ratio of 0.1 before its real size): no image is rendered for it while
#: the first frame is awaited. VTK encodes the first image of a view synchronously and
#: later ones on a thread, so a throw-away first image would also make the real one come
#: back "stale" (no image yet) and be rendered twice.
MIN_FIRST_IMAGE_SIDE = 100
#: Seconds a deferred render waits, so that an image already published is sent first (the
#: loop would otherwise render again before it writes the previous image to the socket).
SEND_FIRST = 0.03


def warm_up_render(window: Any) -> None:
    """Render once at :data:`WARM_UP_SIZE`: shaders compile and the mesh uploads, few pixels.

    Parameters
    ----------
    window : vtkRenderWindow
        The plotter's render window; its size is restored afterwards.
    """
    size = window.GetSize()
    window.SetSize(*WARM_UP_SIZE)
    window.Render()
    window.SetSize(*size)


def _tracked_views(protocol: Any) -> Iterator[dict]:
    """Yield the views trame-vtk's image delivery tracks, per link (none before a browser)."""
    for link in getattr(protocol, "linkProtocols", None) or []:
        views = getattr(link, "tracking_views", None)
        if views:
            yield views


def image_published(protocol: Any) -> bool:
    """Whether the remote view has sent at least one image to a browser.

    Parameters
    ----------
    protocol : wslink root protocol or None
        ``server.protocol`` of the running trame server.

    Returns
    -------
    bool
        True once trame-vtk's image delivery recorded a published frame (its ``mtime``).
    """
    return any(v.get("mtime", 0) for views in _tracked_views(protocol) for v in views.values())


def views_watched(protocol: Any) -> bool:
    """Whether a browser has subscribed to a remote view's images.

    Parameters
    ----------
    protocol : wslink root protocol or None
        ``server.protocol`` of the running trame server.

    Returns
    -------
    bool
        True once trame-vtk's image delivery tracks at least one view.
    """
    return any(True for _ in _tracked_views(protocol))


def coalesce_renders(protocol: Any, loop: Any) -> Callable[[], None]:
    """Render once for a burst of image requests, until the returned function is called.

    When a page opens, trame-vtk's client sends a burst of requests (subscribe, two sizes,
    a low interactive quality, the real size, the full quality, three image pushes) and the
    server renders the whole city for each; no image leaves the server before the burst is
    done, since the loop handles the queued requests first. Deferring each push to the loop
    and dropping those already pending renders the city once, at the final size and
    quality, after the previous image has gone out (:data:`SEND_FIRST`); a push for the
    placeholder size a view reports before its real one is dropped
    (:data:`MIN_FIRST_IMAGE_SIDE`). Pushes of camera animations (mouse drags) are not
    touched.

    Parameters
    ----------
    protocol : wslink root protocol or None
        ``server.protocol`` of the running trame server.
    loop : asyncio.AbstractEventLoop
        The server's loop.

    Returns
    -------
    callable
        Restores trame-vtk's own behaviour (call once the first frame was sent).
    """
    restore: list[Callable[[], None]] = []
    for link in getattr(protocol, "linkProtocols", None) or []:
        if not hasattr(link, "push_render") or not hasattr(link, "tracking_views"):
            continue
        original = link.push_render
        pending: dict[str, int] = {}

        def push(
            v_id: str,
            ignore_animation: bool = False,
            stale_count: int = 0,
            *,
            _original: Any = original,
            _pending: dict[str, int] = pending,
            _link: Any = link,
        ) -> None:
            if ignore_animation:
                _original(v_id, ignore_animation, stale_count)
                return
            if v_id in _pending:
                _pending[v_id] = max(_pending[v_id], stale_count)
                return
            _pending[v_id] = stale_count

            def run() -> None:
                stale = _pending.pop(v_id, 0)
                view = _link.tracking_views.get(v_id, {})
                size = [s * view.get("ratio", 1) for s in view.get("originalSize") or ()]
                if len(size) == 2 and min(size) < MIN_FIRST_IMAGE_SIDE:
                    log.debug("no image at %s: the page's real size follows", size)
                    return
                _original(v_id, False, stale)

            loop.call_later(SEND_FIRST, run)

        link.push_render = push
        restore.append(lambda _link=link: _link.__dict__.pop("push_render", None))

    def undo() -> None:
        for fn in restore:
            fn()

    return undo


class StartupSequence:
    """Start a served twin's work in the order that brings the first frame soonest.

    Parameters
    ----------
    twin : twin.scene.twin.Twin
        The scene (opened with ``start_feeds=False``).
    render : callable
        Renders one frame server-side (the warm-up).
    deadline : float
        Seconds after :meth:`on_ready` when the deferred work starts at the latest.
    settle : float
        Seconds after the first image was handed to the server's loop before the deferred
        work starts (the image still has to be sent, and the page asks for a second one at
        its own size).
    clock : callable
        Monotonic time source.
    """

    def __init__(
        self,
        twin: Any,
        render: Callable[[], None],
        *,
        deadline: float = DEFERRED_DEADLINE,
        settle: float = SETTLE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.twin = twin
        self.render = render
        self.deadline = deadline
        self.clock = clock
        self.ready_at: float | None = None
        self.shown_at: float | None = None
        self.settle = settle
        self.deferred_started = False
        self.warmed_up = False
        self._undo: list[Callable[[], None]] = []

    def coalesce(self, undo: Callable[[], None]) -> None:
        """Keep ``undo`` (from :func:`coalesce_renders`) to call once the first frame is out."""
        self._undo.append(undo)

    def on_ready(self) -> None:
        """Note that the server is up and connect the ingests (the warm-up follows)."""
        self.ready_at = self.clock()
        self._start(simulator=False, ingests=True)

    def warm_up(self) -> None:
        """Render one frame now, so the first image a browser asks for comes fast."""
        if self.warmed_up:
            return
        self.warmed_up = True
        started = self.clock()
        try:
            self.render()
        except Exception:  # a failed warm-up costs time, not the page
            log.exception("warm-up render failed")
        log.debug("warm-up render %.0f ms", (self.clock() - started) * 1e3)

    def tick(self, protocol: Any, now: float | None = None) -> bool:
        """Start the deferred work once a frame was shown or the deadline passed.

        Parameters
        ----------
        protocol : wslink root protocol or None
            ``server.protocol``, to learn whether an image was sent.
        now : float, optional
            Monotonic time (default: the clock).

        Returns
        -------
        bool
            Whether the deferred work was started by this call.
        """
        if self.deferred_started or self.ready_at is None:
            return False
        now = self.clock() if now is None else now
        if self.shown_at is None and image_published(protocol):
            self.shown_at = now
        shown = self.shown_at is not None
        if shown and now - self.shown_at < self.settle:
            return False  # the page's full-size frame follows the first one
        if not shown and now - self.ready_at < self.deadline:
            return False
        self.deferred_started = True
        for undo in self._undo:
            undo()
        self._undo.clear()
        log.info(
            "%s: starting the simulator and the search index",
            "first frame sent" if shown else f"no frame asked for in {self.deadline:.0f} s",
        )
        self._start(simulator=True, ingests=True)
        prepare = getattr(self.twin, "prepare_search", None)
        if prepare is not None:
            prepare()
        return True

    def _start(self, *, simulator: bool, ingests: bool) -> None:
        try:
            self.twin.start_feeds(simulator=simulator, ingests=ingests)
        except SceneError:
            pass  # a twin without a data side (tests, notebooks): nothing to start
        except Exception:  # shown by the status banner (Twin.status), never raised
            log.exception("starting the sensor feeds failed")
