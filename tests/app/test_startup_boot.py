"""Serving before the scene is built (:mod:`twin.app.boot`): a real trame server on a free port.

The scene is a stand-in whose build waits for the test, so that "the page answers while the
scene is being built" is checked deterministically; the real demo behind a real browser is
measured in ``test_startup.py``.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
import urllib.request

from tests.app.conftest import free_port
from tests.sensors.conftest import wait_until
from twin.errors import SceneError

_names = itertools.count()


class Scene:
    """What ``build`` returns: closed by Boot when no app took it over."""

    def __init__(self) -> None:
        self.closed = False

    def close(self) -> None:
        self.closed = True


class App:
    """What ``attach`` returns: begun once on the server's loop."""

    def __init__(self, scene: Scene) -> None:
        self.scene = scene
        self.begun_on: threading.Thread | None = None

    def begin(self) -> None:
        self.begun_on = threading.current_thread()


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as r:
            return r.status == 200
    except OSError:
        return False


def _boot(monkeypatch, build, attach=App):
    from trame.app import get_server

    from twin.app.boot import Boot, enable_page_modules, loading_page

    port = free_port()
    # trame ignores sys.argv under pytest and reads TRAME_ARGS instead
    monkeypatch.setenv("TRAME_ARGS", f"--server --port {port} --host 127.0.0.1")
    server = get_server(f"boot-test-{next(_names)}", client_type="vue3")
    enable_page_modules(server)
    loading_page(server, title="Testzwilling", message="Lädt …", lang="de")
    boot = Boot(server, build, attach)
    outcome: dict = {}

    def run() -> None:
        try:
            outcome["app"] = boot.run(thread=True, open_browser=False, show_connection_info=False)
        except BaseException as err:
            outcome["error"] = err

    thread = threading.Thread(target=run, name="test-boot", daemon=True)
    thread.start()
    return boot, server, f"http://127.0.0.1:{port}/", thread, outcome


def _stop(boot, thread) -> None:
    asyncio.run_coroutine_threadsafe(boot.server.stop(), boot.loop).result(30)
    thread.join(30)
    assert not thread.is_alive(), "the server did not stop"


def test_page_answers_while_the_scene_is_built(monkeypatch):
    release = threading.Event()

    def build() -> Scene:
        assert release.wait(60), "the test never released the build"
        return Scene()

    boot, server, url, thread, outcome = _boot(monkeypatch, build)
    wait_until(lambda: _answers(url), 60, "the page did not answer while the scene was built")
    template = server.state.trame__template_main
    assert 'data-testid="loading"' in template and "Testzwilling" in template
    # the page's modules are there before any app exists: a browser loads them at once
    scripts = " ".join(server.state.trame__scripts)
    assert "vuetify" in scripts and "vtk" in scripts, scripts
    assert boot.app is None  # still building
    release.set()
    wait_until(lambda: boot.app is not None and boot.app.begun_on, 30, "no app attached")
    assert isinstance(boot.app.scene, Scene) and not boot.app.scene.closed
    assert boot.app.begun_on is thread  # attached on the server's loop, not the build thread
    _stop(boot, thread)
    assert outcome == {"app": boot.app}


def test_a_failed_build_stops_the_server_and_is_raised(monkeypatch):
    started = threading.Event()

    def build() -> Scene:
        started.set()
        raise SceneError("city.parquet: not a City file (expected a GeoParquet table)")

    boot, _server, url, thread, outcome = _boot(monkeypatch, build)
    assert started.wait(30)
    thread.join(60)
    assert not thread.is_alive(), "the server kept running after the build failed"
    assert isinstance(outcome.get("error"), SceneError), outcome
    assert "not a City file" in str(outcome["error"])
    assert boot.app is None
    assert not _answers(url)  # nothing listens any more


def test_a_scene_built_after_the_server_stopped_is_closed(monkeypatch):
    release = threading.Event()
    scenes: list[Scene] = []

    def build() -> Scene:
        assert release.wait(60)
        scenes.append(Scene())
        return scenes[-1]

    boot, _server, url, thread, outcome = _boot(monkeypatch, build)
    wait_until(lambda: _answers(url), 60, "the page did not answer")
    asyncio.run_coroutine_threadsafe(boot.server.stop(), boot.loop).result(30)
    release.set()  # the build finishes after the server stopped: nobody attaches it
    thread.join(60)
    assert not thread.is_alive()
    assert outcome == {"app": None}
    assert len(scenes) == 1 and scenes[0].closed
