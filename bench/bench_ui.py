"""UI benchmark: start-up to first frame, camera frame time, recolouring, each beside the naive way.

Run: ``.venv/bin/python bench/bench_ui.py [--large 100000] [--frames 20]``.

1. Start-up to the first server-side frame of ``twin demo`` (20,000 buildings) and of a
   100,000-building city: City and mesh from the on-disk cache vs generated and meshed.
2. Frame time while the camera moves at 100,000 buildings, offscreen 1280×720: the served
   set-up (no multisampling, roof-only stand-in while moving, half-size interactive images as
   the remote view's ``interactive_ratio=0.5``) vs PyVista's defaults (8× multisampling,
   full model, full size).
3. Recolouring all 100,000 buildings from new values: writing the mesh's colour array in
   place (the data path, no render) vs rebuilding the mesh and its actor.
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyvista as pv

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
pv.OFF_SCREEN = True

from twin.app import render  # noqa: E402
from twin.app.cache import demo_city  # noqa: E402
from twin.scene.config import SceneConfig  # noqa: E402


def first_frame(buildings: int, *, cached: bool, folder: Path) -> float:
    """Seconds from nothing to the first rendered frame of a TwinApp (scene + UI built)."""
    from twin.app.app import TwinApp
    from twin.scene.twin import Twin

    t0 = time.perf_counter()
    city, mesh = demo_city(buildings=buildings, seed=0, folder=folder, use_cache=cached)
    twin = Twin.from_config(SceneConfig.demo(buildings=buildings), city=city, mesh=mesh)
    app = TwinApp(twin)
    app.start_state()
    app.plotter.screenshot(return_img=True)
    elapsed = time.perf_counter() - t0
    app.close()
    return elapsed


def browser_first_frame(buildings: int, folder: Path) -> tuple[float, float] | None:
    """Seconds from ``twin demo`` to the server answering and to the city shown in Chromium.

    One run of :func:`bench_startup.measure` (see ``bench/bench_startup.py`` for the figure
    beside the earlier start-up path); None when Debian's chromium is not installed.
    """
    import shutil

    from bench_startup import CHROMIUM_ARGS, measure

    chromium = shutil.which("chromium")
    if chromium is None:
        return None
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            measure(browser, buildings=buildings, cache=folder)  # the cache entry, warm files
            r = measure(browser, buildings=buildings, cache=folder)
        finally:
            browser.close()
    return r.answered, r.first_frame


def quiet_twin(buildings: int, folder: Path):
    """A Twin without simulator (no background load while timing frames)."""
    from twin.scene.services import start_services
    from twin.scene.twin import Twin

    cfg = SceneConfig.demo(buildings=buildings)
    city, mesh = demo_city(buildings=buildings, seed=0, folder=folder)
    services = start_services(cfg, start_feeds=False)
    return Twin(
        city, services.store, config=cfg, mesh=mesh, registry=services.registry, services=services
    )


def orbit(plotter: pv.Plotter, frames: int) -> list[float]:
    """Render ``frames`` frames while rotating the camera; return seconds per frame."""
    times = []
    plotter.render_window.Render()
    for _ in range(frames):
        plotter.camera.azimuth += 3.0
        t0 = time.perf_counter()
        plotter.render_window.Render()
        times.append(time.perf_counter() - t0)
    return times


def camera_move(twin, frames: int) -> tuple[float, float, float]:
    """Median frame time (s) while moving: naive, served-still and served-interactive."""
    naive = twin.plotter(off_screen=True, window_size=(1280, 720))
    naive.render_window.SetMultiSamples(8)  # PyVista's default look (8x MSAA)
    naive_t = statistics.median(orbit(naive, frames))
    naive.close()

    ours = twin.plotter(off_screen=True, window_size=(1280, 720))
    render.tune(ours)
    lod = render.InteractiveLOD(ours)
    still_t = statistics.median(orbit(ours, frames))
    lod.start()
    ours.window_size = (640, 360)  # interactive_ratio=0.5 of the remote view
    moving_t = statistics.median(orbit(ours, frames))
    lod.end()
    ours.close()
    return naive_t, still_t, moving_t


def recolour(twin, repeats: int = 20) -> tuple[float, float]:
    """Seconds to recolour every building: in place vs rebuilding mesh and actor."""
    from twin.mesh import build_mesh
    from twin.scene.styles import colors

    rng = np.random.default_rng(0)
    groups = np.arange(twin.painter.n_groups)
    in_place = []
    for _ in range(repeats):
        rgb = colors(rng.uniform(*twin.style.range, len(groups)), twin.style)
        t0 = time.perf_counter()
        twin.painter.paint(groups, rgb)
        in_place.append(time.perf_counter() - t0)
    pl = pv.Plotter(off_screen=True)
    rebuild = []
    for _ in range(3):
        per_building = colors(rng.uniform(*twin.style.range, len(groups)), twin.style)
        t0 = time.perf_counter()
        mesh = build_mesh(twin.city)
        mesh.cell_data["colors"] = per_building[twin.group_of_row[mesh.cell_data["building"]]]
        pl.add_mesh(mesh, scalars="colors", rgb=True, name="buildings")
        rebuild.append(time.perf_counter() - t0)
    pl.close()
    return statistics.median(in_place), statistics.median(rebuild)


def main() -> int:
    """Run the benchmark and print our figures beside the naive ones."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--demo", type=int, default=20000, help="buildings of the demo (20000)")
    p.add_argument("--large", type=int, default=100000, help="buildings of the large city")
    p.add_argument("--frames", type=int, default=20, help="frames per camera measurement")
    args = p.parse_args()
    logging.basicConfig(level=logging.WARNING)
    folder = Path(os.environ.get("TWIN_CACHE_DIR") or tempfile.mkdtemp(prefix="twin-bench-"))
    print(f"cache: {folder}")

    print("\n== start-up to first frame (City + mesh + store + simulator + UI + render)")
    for n in (args.demo, args.large):
        cold = first_frame(n, cached=False, folder=folder)  # also fills the cache
        warm = first_frame(n, cached=True, folder=folder)
        print(
            f"{n:>7} buildings: cached {warm:6.2f} s   generated {cold:6.2f} s   "
            f"ratio {cold / warm:5.1f}x   target <= 5 s (demo): "
            f"{'OK' if warm <= 5 or n != args.demo else 'MISSED'}"
        )

    e2e = browser_first_frame(args.demo, folder)
    if e2e is None:
        print("(chromium not installed: no end-to-end measurement)")
    else:
        print(
            f"{args.demo:>7} buildings, `twin demo` to the city in chromium: "
            f"server answers {e2e[0]:5.2f} s, city shown {e2e[1]:5.2f} s (cached city; "
            "bench_startup.py compares it with the earlier start-up path)"
        )

    twin = quiet_twin(args.large, folder)
    print(f"\n== camera move, {args.large} buildings ({twin.mesh.n_cells} triangles), 1280x720")
    naive_t, still_t, moving_t = camera_move(twin, args.frames)
    print(f"PyVista defaults (8x MSAA, full model):      {naive_t * 1e3:7.1f} ms/frame")
    print(f"served, still (no MSAA, full model):         {still_t * 1e3:7.1f} ms/frame")
    print(
        f"served, moving (roof stand-in, 640x360):     {moving_t * 1e3:7.1f} ms/frame   "
        f"ratio {naive_t / moving_t:5.1f}x   target <= 150 ms: "
        f"{'OK' if moving_t <= 0.150 else 'MISSED'}"
    )

    print(f"\n== recolour all {args.large} buildings (data path, no render)")
    ours, naive = recolour(twin)
    print(
        f"in place {ours * 1e3:7.2f} ms   rebuild mesh + actor {naive * 1e3:8.1f} ms   "
        f"ratio {naive / ours:6.1f}x   targets <= 5 ms and >= 20x: "
        f"{'OK' if ours <= 0.005 and naive / ours >= 20 else 'MISSED'}"
    )
    twin.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
