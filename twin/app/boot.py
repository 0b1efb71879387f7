"""Serve the page first and build the scene behind it.

Measured on 2 cores (``bench/bench_startup.py``): a browser needs about a second to fetch and
parse trame's scripts (Vue, Vuetify, trame-vtk) before it asks for the first image, and the
server needs about two seconds of imports (pyvista with matplotlib, pandas, geopandas,
DuckDB) and City loading before it can render one. Done one after the other they add up;
:class:`Boot` overlaps them:

1. the trame server starts listening as soon as trame itself is imported, with the modules
   the real page needs (Vuetify, trame-vtk) and a loading page, so the browser fetches and
   parses its scripts at once;
2. a worker thread imports the heavy libraries, loads the City and builds the
   :class:`~twin.scene.twin.Twin` meanwhile (pure data: no OpenGL, no trame state);
3. back on the server's loop, the app is attached: plotter, layout and state are made there
   (trame's state and VTK's OpenGL context belong to that thread), the new layout replaces
   the loading page in the connected browsers, and the first frame is rendered.

A failure while building (a broken City file, a database that is not one) stops the server,
and :meth:`Boot.run` raises it, so ``twin serve`` still exits with one line and code 2.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from trame.ui.vuetify3 import VAppLayout
from trame.widgets import client, html
from trame.widgets import vuetify3 as v3

from twin.app.kiosk import RECONNECT_JS

log = logging.getLogger(__name__)

#: The loading page's look (the real page's stylesheet comes with the real layout).
LOADING_CSS = """
html, body { margin: 0; height: 100%; overflow: hidden; }
.twin-loading { height: 100vh; display: flex; flex-direction: column; align-items: center;
  justify-content: center; gap: 18px; background: #cfd8dc; color: #263238;
  font-family: Roboto, sans-serif; }
.twin-loading h1 { font-size: 24px; font-weight: 500; margin: 0; }
"""


def enable_page_modules(server: Any) -> None:
    """Enable the client modules of the real page (Vuetify 3, trame-vtk) on ``server``.

    A trame client loads the scripts of the modules enabled when it connects, and no later:
    they must be enabled before the first browser arrives, although the views that need
    them are made once the scene is built.

    Parameters
    ----------
    server : trame_server.Server
        The server (not started yet).
    """
    from trame_vtk.modules import common, vtk

    v3.initialize(server)
    server.enable_module(common)
    server.enable_module(vtk)


def loading_page(server: Any, *, title: str, message: str, lang: str) -> VAppLayout:
    """Make the page shown while the scene is built (title, message, reconnection script).

    Parameters
    ----------
    server : trame_server.Server
        The server.
    title : str
        The scene's title in the start language.
    message : str
        What is going on ("Lädt …").
    lang : str
        The page's language (``lang`` attribute).

    Returns
    -------
    trame.ui.vuetify3.VAppLayout
        The layout (the server's main template until the app replaces it).
    """
    server.state.trame__title = title
    with VAppLayout(server, full_height=True) as page:
        client.Style(LOADING_CSS)
        client.Script(RECONNECT_JS)
        with html.Div(
            classes="twin-loading",
            raw_attrs=[f'lang="{lang}"', 'data-testid="loading"', 'aria-busy="true"'],
        ):
            # no spinner: an animation repaints the page all the time, and on 2 cores its
            # CPU is taken from building the scene
            html.H1(title)
            html.Div(message, raw_attrs=['role="status"'])
    return page


def quiet_disconnects(loop: asyncio.AbstractEventLoop) -> None:
    """Log a message lost to a browser that just left in one line, not as a traceback.

    wslink sends each message in a task of its own; when the page closes while one is being
    written, the task fails with a connection reset that nobody awaits, and asyncio's default
    handler prints it with a traceback. Other errors go to the previous handler.

    Parameters
    ----------
    loop : asyncio.AbstractEventLoop
        The server's loop.
    """
    previous = loop.get_exception_handler()

    def handle(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        err = context.get("exception")
        if isinstance(err, ConnectionResetError):  # aiohttp's ClientConnectionResetError too
            log.debug("a message to a browser that left was dropped: %s", err)
        elif previous is not None:
            previous(loop, context)
        else:
            loop.default_exception_handler(context)

    loop.set_exception_handler(handle)


class Boot:
    """Serve a loading page at once, build the scene on a thread, then attach the app.

    Parameters
    ----------
    server : trame_server.Server
        The server, with :func:`enable_page_modules` and :func:`loading_page` applied.
    build : callable
        Runs on a worker thread and returns the scene (a Twin); it must not touch the server.
    attach : callable
        ``attach(scene)`` runs on the server's loop once ``build`` returned, makes the app on
        ``server`` and returns it; the app's ``begin()`` is then called.
    """

    def __init__(self, server: Any, build: Callable[[], Any], attach: Callable[[Any], Any]) -> None:
        self.server = server
        self.build = build
        self.attach = attach
        self.app: Any = None
        self.scene: Any = None
        self.error: BaseException | None = None
        self._stopping: asyncio.Future | None = None
        #: The server's loop, once it listens.
        self.loop: asyncio.AbstractEventLoop | None = None
        self._built: Future = Future()
        self._thread = threading.Thread(target=self._build, name="twin-build", daemon=True)
        server.controller.on_server_ready.add(self._on_ready)

    def _build(self) -> None:
        started = time.perf_counter()
        try:
            self._built.set_result(self.build())
        except BaseException as err:  # handed to the loop, raised by run()
            self._built.set_exception(err)
        else:
            log.info("scene built in %.2f s", time.perf_counter() - started)

    def _on_ready(self, **_: Any) -> None:
        self.loop = loop = asyncio.get_event_loop()
        quiet_disconnects(loop)
        asyncio.wrap_future(self._built, loop=loop).add_done_callback(self._on_built)

    def _on_built(self, done: asyncio.Future) -> None:
        try:
            self.scene = done.result()
            started = time.perf_counter()
            self.app = self.attach(self.scene)
            self.app.begin()
            log.info("app attached in %.2f s", time.perf_counter() - started)
        except BaseException as err:  # stop serving; run() raises it in the main thread
            self.error = err
            self._stopping = asyncio.ensure_future(self.server.stop())

    def run(self, **start: Any) -> Any:
        """Build on a thread while serving; return the app when the server stops.

        Parameters
        ----------
        **start
            Keyword arguments of ``server.start``.

        Returns
        -------
        object or None
            The app (None if the server stopped before the scene was built).

        Raises
        ------
        BaseException
            What building the scene or attaching the app raised.
        """
        self._thread.start()
        try:
            self.server.start(**start)
        finally:
            if self.app is None:
                self._close_unattached()
        if self.error is not None:
            raise self.error
        return self.app

    def _close_unattached(self) -> None:
        """Close a scene that was built but never attached (the server stopped first)."""
        try:
            scene = self._built.result()  # waits for a build still running
        except BaseException:  # the build failed: nothing is open
            return
        close = getattr(scene, "close", None)
        if close is not None:
            close()
