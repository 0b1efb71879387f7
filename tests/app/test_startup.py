"""Start-up: the order of work (first frame first) and the figure a user feels.

The figure is measured as ``bench/bench_startup.py`` does: from spawning ``python -m twin
demo --server`` (city cached) until Chromium shows the city; the bound here is generous (CI
machines are slower and busier than an idle developer machine, where it is about 3.5-4 s) so
that only a real regression fails it.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from bench.bench_startup import measure
from tests.app.conftest import BUILDINGS

#: Seconds from process start to the city in Chromium that fail the test (target: 5 s idle).
STARTUP_BOUND = 12.0


def test_deferred_work_waits_for_the_first_frame_or_the_deadline(tmp_path, monkeypatch):
    from twin.app.cache import demo_city
    from twin.app.startup import StartupSequence
    from twin.scene.config import SceneConfig
    from twin.scene.twin import Twin

    monkeypatch.setenv("TWIN_CACHE_DIR", str(tmp_path))
    city, mesh = demo_city(buildings=300, seed=0)
    renders = []
    now = [100.0]
    cfg = SceneConfig.demo(buildings=300)
    cfg.simulator = replace(cfg.simulator, history_hours=0.5)  # a short backfill
    with Twin.from_config(cfg, city=city, mesh=mesh, start_feeds=False) as twin:
        seq = StartupSequence(
            twin, lambda: renders.append(1), deadline=8.0, settle=1.5, clock=lambda: now[0]
        )
        seq.on_ready()
        assert twin._services.ingests_requested and not twin._services.simulator_requested
        assert twin._services.simulator is None and not twin.history_ready
        seq.warm_up()
        seq.warm_up()
        assert renders == [1]  # one warm-up render, not one per call
        assert not seq.tick(None, now=107.9)  # no frame shown, deadline not reached
        assert twin._services.simulator is None
        assert seq.tick(None, now=108.0)  # headless: the deadline starts it
        assert twin._services.simulator is not None
        assert not seq.tick(None, now=200.0)  # once
        assert twin.wait_ready(60)
        assert twin.history_ready


@pytest.mark.slow
@pytest.mark.browser
def test_first_frame_in_chromium_within_bound(browser, tmp_path):
    cache, log = tmp_path / "cache", tmp_path / "server.log"
    buildings = 20000
    measure(browser, buildings=buildings, cache=cache, log=log)  # fills the cache
    # the better of two runs: a passing load on a shared machine hits one, a regression both
    runs = [measure(browser, buildings=buildings, cache=cache, log=log, verbose=True)]
    runs.append(measure(browser, buildings=buildings, cache=cache, log=log, verbose=True))
    best = min(runs, key=lambda r: r.first_frame)
    assert best.answered < best.first_frame < STARTUP_BOUND, runs
    text = log.read_text()
    assert text.count("demo city from the cache") == 2, text[-3000:]  # both timed runs
    # the page was served first and the scene built behind it (twin.app.boot)
    assert text.count("scene built in") == 2 and text.count("app attached in") == 2, text[-3000:]
    # the server is stopped as soon as the city shows: the simulator's backfill had not
    # started by then (it waits for the first frame instead of competing with it)
    assert "starting the simulator" not in text, text[-3000:]
    assert "Traceback" not in text, text[-3000:]


@pytest.mark.slow
@pytest.mark.browser
def test_small_demo_first_frame(browser, tmp_path):
    """The app tests' city size: the same path, a much smaller scene."""
    result = measure(browser, buildings=BUILDINGS, cache=tmp_path / "cache")
    assert result.first_frame < STARTUP_BOUND, result


def test_mesh_cache_round_trip(tmp_path):
    """The cached mesh (uncompressed arrays) comes back identical, active arrays included."""
    import numpy as np

    from twin.app.cache import demo_city, load_mesh

    city, mesh = demo_city(buildings=200, seed=0, folder=tmp_path)
    (entry,) = tmp_path.glob("*.mesh.npz")
    again = load_mesh(entry)
    assert np.array_equal(again.points, mesh.points) and np.array_equal(again.faces, mesh.faces)
    assert list(again.cell_data) == list(mesh.cell_data)
    for name in mesh.cell_data:
        assert np.array_equal(again.cell_data[name], mesh.cell_data[name]), name
    for name in mesh.field_data:
        assert np.array_equal(again.field_data[name], mesh.field_data[name]), name
    assert again.cell_data.active_scalars_name == mesh.cell_data.active_scalars_name
    assert again.cell_data.active_normals_name == mesh.cell_data.active_normals_name
    cached_city, cached = demo_city(buildings=200, seed=0, folder=tmp_path)  # from the cache
    assert cached.n_cells == mesh.n_cells and len(cached_city) == len(city)
    entry.write_bytes(b"broken")  # a damaged entry is rebuilt, not fatal
    _, rebuilt = demo_city(buildings=200, seed=0, folder=tmp_path)
    assert rebuilt.n_cells == mesh.n_cells


def test_image_published_and_views_watched_read_trame_vtk_tracking():
    """What the start-up sequence waits for: a browser watching a view, then a sent image."""
    from types import SimpleNamespace as Link

    from twin.app.startup import image_published, views_watched

    for protocol in (None, Link(linkProtocols=[]), Link(linkProtocols=[Link(tracking_views={})])):
        assert not views_watched(protocol) and not image_published(protocol)
    watching = Link(linkProtocols=[Link(), Link(tracking_views={"v1": {"mtime": 0}})])
    assert views_watched(watching) and not image_published(watching)
    sent = Link(linkProtocols=[Link(tracking_views={"v1": {"mtime": 17}})])
    assert views_watched(sent) and image_published(sent)
