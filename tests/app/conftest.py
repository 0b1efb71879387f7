"""Fixtures of the app tests: a small real demo Twin, a TwinApp on it, free ports."""

from __future__ import annotations

import socket

import pytest

#: Buildings of the demo city in the app tests: small enough to start in seconds.
BUILDINGS = 1500


@pytest.fixture(scope="module")
def demo_twin(tmp_path_factory):
    """A real demo Twin (generated city, DuckDB store, in-process simulator)."""
    import os

    os.environ["TWIN_CACHE_DIR"] = str(tmp_path_factory.mktemp("cache"))
    from twin.app.cache import demo_city
    from twin.scene.config import SceneConfig
    from twin.scene.twin import Twin

    city, mesh = demo_city(buildings=BUILDINGS, seed=0)
    twin = Twin.from_config(SceneConfig.demo(buildings=BUILDINGS, seed=0), city=city, mesh=mesh)
    run = twin._services.simulator  # the demo's in-process simulator
    assert run.backfilled.wait(120), "the simulator did not backfill its 24 h history"
    twin.refresh()
    yield twin
    twin.close()


@pytest.fixture
def app(demo_twin):
    """A TwinApp on the demo twin, its state computed, not served."""
    from twin.app.app import TwinApp

    a = TwinApp(demo_twin)
    a.start_state()
    yield a
    a.plotter.close()


def free_port() -> int:
    """Return a TCP port that is free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
]


@pytest.fixture(scope="module")
def browser():
    """Debian's chromium driven by Playwright (skips without chromium, fails on CI)."""
    from tests.conftest import require_tool

    chromium = require_tool("chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        yield b
        b.close()
