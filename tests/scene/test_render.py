"""The PyVista scene of a Twin rendered offscreen: MSAA, late glyphs, context layer depth order."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from twin.geodata.demo import generate_city
from twin.scene import render
from twin.scene.config import SceneConfig
from twin.scene.services import Services
from twin.scene.twin import Twin
from twin.sensors.model import Message, Reading
from twin.sensors.registry import Registry
from twin.sensors.store import Store
from twin.sensors.writer import Writer

ROOT = Path(__file__).resolve().parents[2]
REGISTRY = ROOT / "sensors" / "devices.toml"


@pytest.fixture(scope="module")
def city():
    return generate_city(buildings=500, seed=0)


def make_twin(city, tmp_path, registry=None) -> Twin:
    store = Store(tmp_path / "twin.duckdb")
    if registry is not None:
        store.upsert_devices(registry)
    services = Services(store=store, writer=Writer(store), registry=registry)
    return Twin(
        city, store, config=SceneConfig.demo(buildings=500), registry=registry, services=services
    )


def test_multi_samples_is_set_on_the_render_window(city, tmp_path):
    with make_twin(city, tmp_path) as tw:
        pl = tw.plotter(off_screen=True, window_size=(64, 48), multi_samples=0)
        try:
            assert pl.ren_win.GetMultiSamples() == 0
        finally:
            pl.close()
        pl = tw.plotter(off_screen=True, window_size=(64, 48), multi_samples=4)
        try:
            assert pl.ren_win.GetMultiSamples() == 4
            assert pl.screenshot(return_img=True).shape[:2] == (48, 64)
        finally:
            pl.close()


def test_glyphs_added_after_the_plotter_was_made_are_drawn(city, tmp_path):
    import pyproj

    with make_twin(city, tmp_path) as tw:  # no registry: no devices, no glyphs yet
        assert tw.glyphs.n_cells == 0
        pl = tw.plotter(off_screen=True, window_size=(320, 240))
        try:
            assert "sensors" in pl.actors
            to_wgs84 = pyproj.Transformer.from_crs("EPSG:25832", "EPSG:4326", always_xy=True)
            lon, lat = to_wgs84.transform(458600.0, 5482300.0)  # inside the Gymnasium Nord
            x, y = 458600.0 - tw.origin[0], 5482300.0 - tw.origin[1]
            pl.camera_position = [(x, y - 150.0, 250.0), (x, y, 0.0), (0.0, 0.0, 1.0)]
            pl.render()
            before = pl.screenshot(return_img=True).astype(int)
            t = datetime.now(UTC)
            tw.writer.submit(
                Message(
                    topic="t", format="ttn", kind="uplink", device_id="late-sensor", time=t,
                    received_at=t, f_cnt=1, location=(lat, lon, None),
                    readings=[Reading("co2", 1500.0, "ppm")],
                )
            )  # fmt: skip
            assert tw.writer.flush(10.0)
            tw.set_quantity("co2")
            tw.refresh()  # finds the new device in the store and fills the glyph mesh
            assert tw.glyphs.n_cells > 0
            assert pl.actors["sensors"].mapper.dataset is tw.glyphs
            pl.render()
            after = pl.screenshot(return_img=True).astype(int)
        finally:
            pl.close()
    changed = np.abs(after - before).sum(axis=2) > 60
    assert changed.sum() > 50, f"only {changed.sum()} pixels changed: the glyph is not drawn"


def test_context_layers_have_distinct_heights_and_offsets():
    z = [render.CONTEXT_STYLE[k][1] for k in ("ground", "river", "park", "street")]
    assert z == sorted(z) and min(np.diff(z)) >= 0.3
    off = [render.CONTEXT_OFFSET[k] for k in ("ground", "river", "park", "street")]
    assert off == sorted(off, reverse=True)  # lower layers pushed further back


def test_history_ready_follows_the_simulator_backfill(tmp_path):
    class Run:  # the handle's contract: an Event set when the backfill is written
        backfilled = threading.Event()

    store = Store(tmp_path / "db.duckdb")
    services = Services(store=store, simulator=Run())
    try:
        assert services.history_ready is False
        assert services.status()["history_ready"] is False
        Run.backfilled.set()
        assert services.history_ready and services.status()["history_ready"]
        services.simulator = None
        assert Services(store=store).status()["history_ready"] is True
    finally:
        store.close()


def test_history_ready_with_the_real_demo_simulator(city):
    cfg = SceneConfig.demo(buildings=500)
    cfg.simulator.history_hours = 1
    with Twin.from_config(cfg, city=city) as tw:
        assert tw.wait_ready(120)
        assert tw.history_ready is True
        assert tw.status()["history_ready"] is True
    assert Registry.load(REGISTRY)  # the registry the demo used is still loadable


def test_prepare_search_builds_the_index_in_the_background(city, tmp_path):
    with make_twin(city, tmp_path, Registry.load(REGISTRY)) as tw:
        assert tw._search is None  # not built by the constructor
        thread = tw.prepare_search()
        assert thread is not None
        hits = tw.search("Rathaus")  # waits for the background build if it is still running
        thread.join(30)
        assert not thread.is_alive()
        assert hits and hits[0]["kind"] == "building"
        assert tw._search is not None


def test_feeds_can_start_after_the_first_frame(city):
    cfg = SceneConfig.demo(buildings=500)
    cfg.simulator.history_hours = 1
    with Twin.from_config(cfg, city=city, start_feeds=False) as tw:
        status = tw.status()
        assert status["simulator"] is None and status["history_ready"] is False
        assert tw.time_range() is None  # nothing written yet
        assert tw.start_feeds() is True
        assert tw.start_feeds() is False  # once
        assert tw.status()["simulator"]["running"]
        assert tw.wait_ready(120) and tw.history_ready
        lo, hi = tw.time_range()
        assert (hi - lo) >= timedelta(minutes=50)


def test_no_x_warning_on_a_machine_without_display(tmp_path):
    """Without DISPLAY the off-screen plotter renders with EGL at once: no "bad X server
    connection" warning from VTK trying X first (what `make demo` printed on a server)."""
    import ctypes.util
    import os
    import subprocess
    import sys

    if not sys.platform.startswith("linux") or ctypes.util.find_library("EGL") is None:
        pytest.skip("needs Linux with libEGL (otherwise VTK's own order is kept)")
    code = (
        "import pyvista as pv\n"
        "from twin.scene.render import prefer_egl_without_display\n"
        "assert prefer_egl_without_display()\n"
        "pl = pv.Plotter(off_screen=True, window_size=(64, 48))\n"
        "pl.add_mesh(pv.Sphere(), color='red')\n"
        "img = pl.screenshot(return_img=True)\n"
        "print(type(pl.ren_win).__name__, int(img[..., 0].max()))\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env.pop("VTK_DEFAULT_OPENGL_WINDOW", None)
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert "bad X server" not in proc.stderr and "WARN" not in proc.stderr, proc.stderr
    name, red = proc.stdout.split()
    assert name == "vtkEGLRenderWindow" and int(red) > 200
