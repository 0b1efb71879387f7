"""Benchmark: one vectorised mesh of the whole city vs the naive PyVista way.

Run as a script: ``.venv/bin/python bench/bench_mesh.py [--sizes 1000 10000 100000]``.

*Naive*: per building, the footprint's exterior ring becomes a ``pv.PolyData`` face,
``extrude((0, 0, h), capping=True)`` makes the prism, and all prisms are joined with one
``pv.merge`` at the end (kinder to the naive way than merging one by one).
*Ours*: :func:`twin.mesh.build_mesh` on the whole City.

Both run on the same generated demo city (``twin.geodata.demo.generate_city``, seed 0),
saved once as GeoParquet and loaded by each measurement. Every measurement runs in its own
subprocess; its peak memory is that process's peak resident set size (``ru_maxrss``), which
includes Python, the libraries and the loaded City; the RSS just before meshing is shown too,
so the difference is what meshing costs. Timings are wall-clock. Ours is timed three times in
its process: the first (cold) call and the best of the three are shown. The naive way at
100,000 buildings is extrapolated from a 10,000-building sample when that sample predicts
more than 60 s.

A LoD2 row meshes 10,000 generated gabled houses (7 boundary surfaces each) against the naive
per-surface ``triangulate`` + ``merge`` (timed on the first 1,000 houses).

Then every export format is timed on the largest city.

The last part reads the real OpenStreetMap extract of Limburg an der Lahn (© OpenStreetMap
contributors, ODbL 1.0) and meshes it, end to end.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LIMBURG = ROOT.parent / "shared" / "realdata" / "osm" / "limburg_an_der_lahn.osm.pbf"
NAIVE_FULL_LIMIT_S = 60.0
LOD2_NAIVE_SAMPLE = 1_000
TARGET_RATE = 150_000
TARGET_RATIO = 60.0
TARGET_RSS_MB = 1024.0
TARGET_LIMBURG_S = 3.0


def _rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # kB on Linux


def naive_mesh(city, limit: int | None = None):
    """Build the city the naive way: one extruded PolyData per building, then merge."""
    import numpy as np
    import pyvista as pv
    import shapely

    b = city.buildings
    ox, oy, oz = city.origin
    geoms = b.geometry.to_numpy()
    bottom = (b["ground_z"] + b["min_height"]).to_numpy() - oz
    height = (b["height"] - b["min_height"]).to_numpy()
    n = len(b) if limit is None else min(limit, len(b))
    pieces = []
    for k in range(n):
        geom = geoms[k]
        polys = shapely.get_parts(geom)
        for poly in polys:
            ring = np.asarray(poly.exterior.coords)[:-1]
            pts = np.column_stack([ring[:, 0] - ox, ring[:, 1] - oy, np.full(len(ring), bottom[k])])
            face = pv.PolyData(pts, faces=np.r_[len(ring), np.arange(len(ring))])
            pieces.append(face.extrude((0, 0, height[k]), capping=True))
    return pv.merge(pieces)


def worker(kind: str, parquet: str, limit: int | None) -> dict:
    """Run one measurement in this (fresh) process and return its figures."""
    from twin.geodata.city import City

    city = City.load(parquet)
    n = len(city.buildings) if limit is None else min(limit, len(city.buildings))
    rss_before = _rss_mb()
    if kind == "naive":
        t0, c0 = time.perf_counter(), time.process_time()
        mesh = naive_mesh(city, limit)
        times = [time.perf_counter() - t0]
        cpu = [time.process_time() - c0]
    else:
        from twin.mesh import build_mesh

        times, cpu = [], []
        for _ in range(3):
            t0, c0 = time.perf_counter(), time.process_time()
            mesh = build_mesh(city)
            times.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
    return {
        "kind": kind,
        "n": n,
        "cold_s": times[0],
        "best_s": min(times),
        "cold_cpu_s": cpu[0],
        "cells": int(mesh.n_cells),
        "rss_before_mb": rss_before,
        "peak_mb": _peak_mb(),
    }


def lod2_city(n: int):
    """``n`` gabled LoD2 houses (ground, 4 walls, 2 roofs each) on a grid."""
    import geopandas as gpd
    import numpy as np
    import shapely

    from twin.geodata.city import City

    rings = [
        [(0, 0, 0), (0, 8, 0), (10, 8, 0), (10, 0, 0)],
        [(0, 0, 0), (10, 0, 0), (10, 0, 3), (0, 0, 3)],
        [(10, 8, 0), (0, 8, 0), (0, 8, 3), (10, 8, 3)],
        [(0, 8, 0), (0, 0, 0), (0, 0, 3), (0, 4, 5), (0, 8, 3)],
        [(10, 0, 0), (10, 8, 0), (10, 8, 3), (10, 4, 5), (10, 0, 3)],
        [(0, 0, 3), (10, 0, 3), (10, 4, 5), (0, 4, 5)],
        [(10, 8, 3), (0, 8, 3), (0, 4, 5), (10, 4, 5)],
    ]
    house = shapely.MultiPolygon([shapely.Polygon(r) for r in rings])
    side = int(np.ceil(np.sqrt(n)))
    x0 = 459_000 + 15.0 * (np.arange(n) % side)
    y0 = 5_481_000 + 12.0 * (np.arange(n) // side)
    houses = [shapely.affinity.translate(house, x, y, 95.0) for x, y in zip(x0, y0, strict=True)]
    return City(
        gpd.GeoDataFrame(
            {
                "id": [f"h{i}" for i in range(n)],
                "height": 5.0,
                "ground_z": 95.0,
                "lod": 2,
                "surfaces": shapely.to_wkb(houses),
                "surface_types": "GWWWWRR",
            },
            geometry=shapely.box(x0, y0, x0 + 10, y0 + 8),
            crs="EPSG:25832",
        )
    )


def naive_lod2(city, limit: int):
    """Per building: every surface polygon a ``pv.PolyData`` face, ``triangulate``, merge."""
    import numpy as np
    import pyvista as pv
    import shapely

    ox, oy, oz = city.origin
    pieces = []
    for blob in city.buildings["surfaces"].iloc[:limit]:
        for poly in shapely.get_parts(shapely.from_wkb(blob)):
            ring = np.asarray(poly.exterior.coords)[:-1] - (ox, oy, oz)
            face = pv.PolyData(ring, faces=np.r_[len(ring), np.arange(len(ring))])
            pieces.append(face.triangulate())
    return pv.merge(pieces)


def lod2_worker(n: int) -> dict:
    """Mesh ``n`` LoD2 houses our way (best of 3) and the naive way."""
    from twin.mesh import build_mesh

    city = lod2_city(n)
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        mesh = build_mesh(city)
        times.append(time.perf_counter() - t0)
    sample = min(n, LOD2_NAIVE_SAMPLE)
    t0 = time.perf_counter()
    naive_lod2(city, sample)
    naive_s = time.perf_counter() - t0
    return {
        "n": n,
        "cells": int(mesh.n_cells),
        "cold_s": times[0],
        "best_s": min(times),
        "naive_n": sample,
        "naive_s": naive_s,
    }


def export_worker(parquet: str) -> dict:
    """Time :func:`twin.mesh.export_city` for every format (fresh process)."""
    from twin.geodata.city import City
    from twin.mesh import export_city
    from twin.mesh.export import FORMATS

    city = City.load(parquet)
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for suffix in FORMATS:
            for old in Path(tmp).glob("city.*"):
                old.unlink()
            path = Path(tmp) / f"city{suffix}"  # .gltf also writes city.bin
            t0, c0 = time.perf_counter(), time.process_time()
            export_city(city, path)
            out[suffix] = {
                "s": time.perf_counter() - t0,
                "cpu_s": time.process_time() - c0,
                "mb": sum(f.stat().st_size for f in Path(tmp).glob("city.*")) / 1e6,
            }
    return out


def limburg_worker() -> dict:
    """Read the Limburg OSM extract and mesh it (fresh process, cold)."""
    from twin.geodata.osm import read_osm
    from twin.mesh import build_mesh

    t0 = time.perf_counter()
    city = read_osm(LIMBURG)
    t1 = time.perf_counter()
    mesh = build_mesh(city)
    t2 = time.perf_counter()
    return {
        "rows": len(city.buildings),
        "buildings": city.n_buildings,
        "cells": int(mesh.n_cells),
        "read_s": t1 - t0,
        "mesh_s": t2 - t1,
        "total_s": t2 - t0,
        "peak_mb": _peak_mb(),
    }


def _run(args: list[str]) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, *args], capture_output=True, text=True, check=False
    )
    if out.returncode != 0:
        raise RuntimeError(f"worker {args} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    parser.add_argument("--worker", nargs=3, metavar=("KIND", "PARQUET", "LIMIT"))
    parser.add_argument("--limburg-worker", action="store_true")
    parser.add_argument("--lod2-worker", type=int, metavar="N")
    parser.add_argument("--export-worker", metavar="PARQUET")
    args = parser.parse_args()
    if args.worker:
        kind, parquet, limit = args.worker
        print(json.dumps(worker(kind, parquet, None if limit == "all" else int(limit))))
        return 0
    if args.limburg_worker:
        print(json.dumps(limburg_worker()))
        return 0
    if args.lod2_worker:
        print(json.dumps(lod2_worker(args.lod2_worker)))
        return 0
    if args.export_worker:
        print(json.dumps(export_worker(args.export_worker)))
        return 0

    from twin.geodata.demo import generate_city

    print("bench_mesh: naive per-building extrude+merge vs twin.mesh.build_mesh")
    print("peak RSS = ru_maxrss of a fresh subprocess per measurement (Python + libraries +")
    print("the loaded City + the mesh); 'before' = RSS after loading the City, before meshing.")
    print("b/s = buildings per second of wall-clock time; 'cpu' = per second of the process's")
    print("CPU time (robust when other jobs share the cores: see the load average).")
    load = os.getloadavg()[0]
    print(f"load average at start: {load:.1f} on {os.cpu_count()} cores")
    print()
    header = (
        f"{'buildings':>9} {'triangles':>10} | {'naive b/s':>9} {'cpu':>6} {'peak':>7} | "
        f"{'ours cold':>9} {'cpu':>9} {'best of 3':>9} {'before':>7} {'peak':>7} | "
        f"{'ratio':>6} {'cpu':>5}"
    )
    print(header)
    print("-" * len(header))
    failures = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.sizes:
            parquet = str(Path(tmp) / f"city{n}.parquet")
            generate_city(buildings=n, seed=0).save(parquet)
            ours = _run(["--worker", "ours", parquet, "all"])
            note = ""
            if n > 10_000:
                sample = _run(["--worker", "naive", parquet, "10000"])
                predicted = sample["cold_s"] * n / sample["n"]
                if predicted > NAIVE_FULL_LIMIT_S:
                    naive = sample
                    note = f"  (naive: 10,000 sample, {predicted:.0f} s predicted for all)"
                else:
                    naive = _run(["--worker", "naive", parquet, "all"])
            else:
                naive = _run(["--worker", "naive", parquet, "all"])
            naive_rate = naive["n"] / naive["cold_s"]
            naive_cpu = naive["n"] / naive["cold_cpu_s"]
            cold_rate = n / ours["cold_s"]
            cold_cpu = n / ours["cold_cpu_s"]
            best_rate = n / ours["best_s"]
            ratio = cold_rate / naive_rate
            print(
                f"{n:>9,} {ours['cells']:>10,} | {naive_rate:>9,.0f} {naive_cpu:>6,.0f} "
                f"{naive['peak_mb']:>5.0f}MB | {cold_rate:>9,.0f} {cold_cpu:>9,.0f} "
                f"{best_rate:>9,.0f} {ours['rss_before_mb']:>5.0f}MB {ours['peak_mb']:>5.0f}MB | "
                f"{ratio:>5.0f}x {cold_cpu / naive_cpu:>4.0f}x{note}"
            )
            if n >= 100_000:
                if cold_rate < TARGET_RATE:
                    failures.append(f"{n}: {cold_rate:,.0f} buildings/s < {TARGET_RATE:,}")
                if ours["peak_mb"] > TARGET_RSS_MB:
                    failures.append(f"{n}: peak RSS {ours['peak_mb']:.0f} MB > 1 GB")
            if n >= 10_000 and ratio < TARGET_RATIO:
                failures.append(f"{n}: only {ratio:.0f}x the naive way (< {TARGET_RATIO:.0f}x)")
        exports = _run(["--export-worker", parquet])  # the largest city
    print()
    print("ratio = ours (cold, first call in a fresh process) / naive, same city, same run.")
    print(f"load average at end: {os.getloadavg()[0]:.1f}")
    print()
    print(f"export_city, {args.sizes[-1]:,} buildings (mesh built inside each call):")
    for suffix, fig in exports.items():
        print(
            f"  {suffix:<11} {fig['s']:6.2f} s wall {fig['cpu_s']:6.2f} s cpu {fig['mb']:8.1f} MB"
        )
    print()
    lod2 = _run(["--lod2-worker", "10000"])
    naive_rate = lod2["naive_n"] / lod2["naive_s"]
    cold_rate = lod2["n"] / lod2["cold_s"]
    print(
        f"LoD2: {lod2['n']:,} gabled houses (7 surfaces each, {lod2['cells']:,} triangles): "
        f"ours {cold_rate:,.0f} buildings/s cold, {lod2['n'] / lod2['best_s']:,.0f} best of 3"
    )
    print(
        f"  naive (per surface: PolyData face + triangulate, one merge; timed on the first "
        f"{lod2['naive_n']:,}) {naive_rate:,.0f}/s; ratio {cold_rate / naive_rate:.0f}x"
    )
    print()
    if LIMBURG.exists():
        lim = _run(["--limburg-worker"])
        print(
            f"Limburg an der Lahn (OSM, © OpenStreetMap contributors, ODbL): {lim['rows']:,} "
            f"rows, {lim['buildings']:,} buildings, {lim['cells']:,} triangles"
        )
        print(
            f"  read_osm {lim['read_s']:.2f} s + build_mesh {lim['mesh_s']:.2f} s = "
            f"{lim['total_s']:.2f} s end to end (target <= {TARGET_LIMBURG_S:.0f} s), "
            f"peak RSS {lim['peak_mb']:.0f} MB"
        )
        if lim["total_s"] > TARGET_LIMBURG_S:
            failures.append(f"Limburg end to end {lim['total_s']:.2f} s > {TARGET_LIMBURG_S} s")
    else:
        print(f"Limburg: skipped, {LIMBURG} not found (real data is not in a fresh clone)")
    if failures:
        print()
        print("MISSED TARGETS: " + "; ".join(failures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
