"""Start-up benchmark: process start → first frame with building pixels in Chromium.

Run: ``.venv/bin/python bench/bench_startup.py [--buildings 20000] [--repeats 3]``.

The figure a user feels: from spawning ``python -m twin demo --server --port P`` (the demo
city already cached) until the page shows the 3D view with the city drawn in it. The clock
starts before the process is spawned; the port is polled until the page answers (since the
page is served while the scene is built, see :mod:`twin.app.boot`, that is a loading page);
Debian's Chromium (already running, as a user's browser would be) then opens the page, and a
script in the page polls the view's image until it holds a rendered city (many distinct
colours, not a flat fill, the loading page or the bare background gradient).

The baselines, measured in the same run on the same cache folder, are the start-up paths of
other commits, extracted with ``git archive`` into a temporary folder: by default
:data:`BASELINE_COMMIT` (before any start-up work: every module imported eagerly, the City
read with geopandas, the search index and panels computed before serving); ``--baseline``
may be given several times (e.g. the previous state of the work). Runs alternate between
the variants so that a passing load on the machine hits all alike; the medians are printed
with their ratios.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: The start-up path before this work (``twin demo`` answered after 4.2 s, first frame 7.4 s).
BASELINE_COMMIT = "c4c9fe8ecbb056a9642e25208cd924e990e0e3fe"
#: Target of issue 4: first frame of the cached demo within 5 s.
TARGET_SECONDS = 5.0
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
]

#: In-page check: does the 3D view's image (or canvas) show a rendered city? Downscales it
#: onto a canvas and counts distinct colours and their spread, as the browser tests do.
HAS_CITY_JS = """
() => {
  const view = document.querySelector('[data-testid="view3d"]');
  if (!view) return false;
  const src = view.querySelector('img') || view.querySelector('canvas');
  if (!src) return false;
  const w0 = src.naturalWidth || src.width, h0 = src.naturalHeight || src.height;
  if (!w0 || !h0 || (src.tagName === 'IMG' && !src.complete)) return false;
  const w = Math.min(320, w0), h = Math.max(1, Math.round(h0 * w / w0));
  const c = document.createElement('canvas');
  c.width = w; c.height = h;
  const g = c.getContext('2d');
  g.drawImage(src, 0, 0, w, h);
  const d = g.getImageData(0, 0, w, h).data;
  const seen = new Set();
  const n = d.length / 4;
  const sum = [0, 0, 0], sq = [0, 0, 0];
  for (let i = 0; i < d.length; i += 4) {
    seen.add((d[i] << 16) | (d[i + 1] << 8) | d[i + 2]);
    for (let k = 0; k < 3; k++) { sum[k] += d[i + k]; sq[k] += d[i + k] * d[i + k]; }
  }
  let std = 0;
  for (let k = 0; k < 3; k++) {
    const m = sum[k] / n;
    std += Math.sqrt(Math.max(0, sq[k] / n - m * m)) / 3;
  }
  return seen.size > 150 && std > 8;
}
"""


@dataclass
class Startup:
    """One start-up measurement (seconds from spawning the process)."""

    answered: float
    first_frame: float


def free_port() -> int:
    """Return a TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def measure(
    browser,
    *,
    buildings: int,
    cache: Path,
    source: Path = ROOT,
    timeout: float = 120.0,
    log: Path | None = None,
    extra: tuple[str, ...] = (),
    verbose: bool = False,
) -> Startup:
    """Spawn ``python -m twin demo --server`` and time it until Chromium shows the city.

    Parameters
    ----------
    browser : playwright.sync_api.Browser
        A running Chromium.
    buildings : int
        Buildings of the demo city (its cache entry should exist in ``cache``).
    cache : pathlib.Path
        ``TWIN_CACHE_DIR`` of the server.
    source : pathlib.Path
        The folder whose ``twin`` package runs (the work tree or an extracted commit).
    timeout : float
        Seconds before giving up.
    log : pathlib.Path, optional
        File receiving the server's output (default: discarded).
    extra : tuple of str
        More arguments for ``twin demo``.
    verbose : bool
        Run ``twin -v`` (INFO log lines in ``log``).

    Returns
    -------
    Startup
        Seconds until the page answered and until the city was drawn.
    """
    port = free_port()
    env = dict(os.environ, TWIN_CACHE_DIR=str(cache), PYTHONPATH=str(source))
    # An installed package has its bytecode cached (pip compiles it, an editable install
    # writes it on first import); this sandbox's PYTHONDONTWRITEBYTECODE would make every
    # start compile twin's modules again.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    cmd = [sys.executable, "-m", "twin", *(["-v"] if verbose else []), "demo"]
    cmd += ["--server", "--port", str(port)]
    cmd += ["--buildings", str(buildings), *extra]
    url = f"http://127.0.0.1:{port}/"
    out = log.open("ab") if log is not None else subprocess.DEVNULL
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    deadline = time.monotonic() + timeout
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, cwd=source, stdout=out, stderr=subprocess.STDOUT)
    try:
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"twin demo exited with {proc.returncode} ({' '.join(cmd)})")
            if time.monotonic() > deadline:
                raise TimeoutError(f"{url} did not answer within {timeout} s")
            try:
                with urllib.request.urlopen(url, timeout=1) as r:
                    if r.status == 200:
                        break
            except OSError:
                time.sleep(0.02)
        answered = time.perf_counter() - t0
        page.goto(url)
        left = max(1.0, deadline - time.monotonic())
        page.wait_for_function(HAS_CITY_JS, polling=50, timeout=left * 1000)
        return Startup(answered, time.perf_counter() - t0)
    finally:
        context.close()
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if log is not None:
            out.close()  # type: ignore[union-attr]


def extract_commit(commit: str, folder: Path) -> Path | None:
    """Extract ``twin`` and its data folders at ``commit`` into ``folder`` (None: git failed)."""
    try:
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", commit, "twin", "sensors", "scenes", "geodata"],
            check=True,
            capture_output=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError) as err:
        print(f"(baseline commit {commit[:8]} unavailable: {err})")
        return None
    folder.mkdir(parents=True, exist_ok=True)
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
    return folder


def main() -> int:
    """Measure our start-up and the baseline's, alternating, and print medians and ratio."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--buildings", type=int, default=20000, help="demo buildings (20000)")
    p.add_argument("--repeats", type=int, default=3, help="measurements per variant (3)")
    p.add_argument("--no-baseline", action="store_true", help="measure only the work tree")
    p.add_argument(
        "--baseline",
        action="append",
        help=f"commit to compare with, repeatable (default: {BASELINE_COMMIT})",
    )
    args = p.parse_args()
    chromium = shutil.which("chromium")
    if chromium is None:
        print("chromium is not installed (apt-get install chromium): nothing measured")
        return 1
    from playwright.sync_api import sync_playwright

    work = Path(tempfile.mkdtemp(prefix="twin-bench-startup-"))
    cache = Path(os.environ.get("TWIN_CACHE_DIR") or work / "cache")
    variants = {"ours": ROOT}
    if not args.no_baseline:
        for commit in args.baseline or [BASELINE_COMMIT]:
            base = extract_commit(commit, work / f"baseline-{commit}")
            if base is not None:
                variants[f"baseline {commit[:8]}"] = base
    log = work / "server.log"
    load = os.getloadavg()
    print(f"server output: {log}")
    print(f"cache: {cache}   load average before: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    results: dict[str, list[Startup]] = {name: [] for name in variants}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            for source in variants.values():  # warm-up: fills the cache, the page cache
                measure(browser, buildings=args.buildings, cache=cache, source=source, log=log)
            for _ in range(args.repeats):
                for name, source in variants.items():
                    r = measure(
                        browser, buildings=args.buildings, cache=cache, source=source, log=log
                    )
                    results[name].append(r)
                    print(
                        f"  {name:<20} answered {r.answered:5.2f} s   frame {r.first_frame:5.2f} s"
                    )
        finally:
            browser.close()
    print(
        f"\n== process start -> first frame with building pixels in Chromium, "
        f"{args.buildings} buildings (cached city), median of {args.repeats}"
    )
    med = {n: statistics.median(x.first_frame for x in rs) for n, rs in results.items()}
    ans = {n: statistics.median(x.answered for x in rs) for n, rs in results.items()}
    for name in results:
        print(f"{name:<20} server answers {ans[name]:5.2f} s   first frame {med[name]:5.2f} s")
    ours = med["ours"]
    verdict = "OK" if ours <= TARGET_SECONDS else "MISSED"
    for name in (n for n in med if n != "ours"):
        print(f"ratio {name} / ours: {med[name] / ours:4.2f}x")
    print(f"target <= {TARGET_SECONDS:.0f} s: {verdict}")
    load = os.getloadavg()
    print(f"load average after: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    for folder in work.glob("baseline-*"):
        shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
