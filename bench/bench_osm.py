"""Benchmark: reading OSM buildings into a City, ours beside the naive way, in one run.

Usage: ``python bench/bench_osm.py [FILE.osm.pbf] [--repeat N]``
(default: ../shared/realdata/osm/limburg_an_der_lahn.osm.pbf, © OpenStreetMap contributors,
ODbL 1.0).

* ours    -- ``twin.geodata.osm.read_osm``: two streaming pyosmium passes, WKB made in C++,
             all footprints built and reprojected with vectorised shapely/pyproj calls.
* naive   -- what a typical script does: pyosmium's area callback per building, one
             ``shapely.from_wkb`` and one ``pyproj`` transform per building
             (``shapely.ops.transform``), heights parsed per row, rows as a list of dicts.
* GDAL    -- for reference: GDAL's OSM driver via pyogrio + ``to_crs`` (C++; no building
             parts, no heights, and it rejects files whose ids are not increasing).

Each method runs in a fresh interpreter (``--worker NAME``), so that its peak resident memory
(``ru_maxrss``) is its own; the table shows best wall and CPU time of ``--repeat`` runs after a
warm-up, buildings per second, peak memory and the ratios to ours.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
import warnings
from pathlib import Path

import geopandas as gpd
import osmium
import pyproj
import shapely
import shapely.ops

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from twin.geodata.heights import LEVEL_HEIGHT, default_height, parse_length  # noqa: E402
from twin.geodata.osm import read_osm  # noqa: E402

DEFAULT = ROOT.parent / "shared" / "realdata" / "osm" / "limburg_an_der_lahn.osm.pbf"


def ours(path: Path) -> int:
    return read_osm(path).n_buildings


def naive(path: Path) -> int:
    tr = pyproj.Transformer.from_crs(4326, 25832, always_xy=True)
    wkb = osmium.geom.WKBFactory()
    rows: list[dict] = []

    class Handler(osmium.SimpleHandler):
        def area(self, a):
            kind = a.tags.get("building") or a.tags.get("building:part")
            if not kind or kind == "no":
                return
            try:
                geom = shapely.from_wkb(bytes.fromhex(wkb.create_multipolygon(a)))
            except RuntimeError:
                return
            with warnings.catch_warnings():  # deprecated in shapely 2.1, still the classic way
                warnings.simplefilter("ignore", DeprecationWarning)
                geom = shapely.ops.transform(tr.transform, geom)  # per-geometry call
            height = parse_length(a.tags.get("height"))
            levels = parse_length(a.tags.get("building:levels"))
            if height is None:
                height = levels * LEVEL_HEIGHT if levels else default_height(kind)
            rows.append(
                {
                    "id": f"osm/{'w' if a.from_way() else 'r'}{a.orig_id()}",
                    "height": height,
                    "building_type": kind,
                    "geometry": geom,
                }
            )

    Handler().apply_file(str(path), locations=True)
    gdf = gpd.GeoDataFrame(rows, geometry="geometry", crs="EPSG:25832")
    return len(gdf)


def gdal(path: Path) -> int:
    import pyogrio

    gdf = pyogrio.read_dataframe(path, layer="multipolygons", where="building IS NOT NULL")
    gdf = gdf.to_crs("EPSG:25832")
    return len(gdf)


def timed(func, path: Path, repeat: int) -> tuple[float, float, int]:
    """Best wall-clock and best CPU seconds (all threads) of ``repeat`` runs after a warm-up."""
    func(path)  # warm up: imports, pyproj database, file cache
    walls, cpus = [], []
    n = 0
    for _ in range(repeat):
        w, c = time.perf_counter(), time.process_time()
        n = func(path)
        walls.append(time.perf_counter() - w)
        cpus.append(time.process_time() - c)
    return min(walls), min(cpus), n


METHODS = {"ours": ours, "naive": naive, "GDAL (reference)": gdal}


def worker(name: str, path: Path, repeat: int) -> None:
    """Time one method in this process and print its figures as one JSON line."""
    wall, cpu, n = timed(METHODS[name], path, repeat)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    print(json.dumps({"wall": wall, "cpu": cpu, "n": n, "peak_mb": peak_mb}))


def run_worker(name: str, path: Path, repeat: int) -> dict:
    """Run :func:`worker` in a fresh interpreter; return its figures."""
    cmd = [sys.executable, __file__, str(path), "--repeat", str(repeat), "--worker", name]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", nargs="?", type=Path, default=DEFAULT)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--worker", choices=sorted(METHODS), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.path, args.repeat)
        return
    print(f"file: {args.path} ({args.path.stat().st_size / 1e6:.1f} MB), best of {args.repeat}")
    results = {name: run_worker(name, args.path, args.repeat) for name in METHODS}
    base = results["ours"]
    print(
        f"{'method':<18} {'wall s':>7} {'CPU s':>7} {'buildings':>10} {'buildings/s':>12} "
        f"{'peak MB':>8} {'wall/ours':>10} {'CPU/ours':>9}"
    )
    for name, r in results.items():
        print(
            f"{name:<18} {r['wall']:7.3f} {r['cpu']:7.3f} {r['n']:10d} {r['n'] / r['wall']:12,.0f} "
            f"{r['peak_mb']:8.0f} {r['wall'] / base['wall']:9.2f}x {r['cpu'] / base['cpu']:8.2f}x"
        )
    naive = results["naive"]
    print(
        f"naive / ours = {naive['wall'] / base['wall']:.1f}x wall, "
        f"{naive['cpu'] / base['cpu']:.1f}x CPU ({os.getloadavg()[0]:.1f} load average)"
    )


if __name__ == "__main__":
    main()
