"""Geodata subcommands: ``twin import``, ``twin info``, ``twin generate``, ``twin export``.

``import`` reads geodata files of any supported format into a City file (GeoParquet),
``generate`` writes the synthetic demo city, ``info`` summarises a City file (``--json``
prints exactly one JSON object, :meth:`twin.geodata.city.City.info`), and ``export`` writes
a City as a mesh or CityJSON file. Heavy modules are imported inside the commands so that
``twin --help`` stays fast.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from twin.errors import CityFileError, ExportError


def register(subparsers: Any) -> None:
    """Add the geodata subcommands to the ``twin`` parser.

    Parameters
    ----------
    subparsers : argparse._SubParsersAction
        The ``twin`` command's subparsers.
    """
    p = subparsers.add_parser(
        "import",
        help="read geodata files (OSM, CityGML, CityJSON, GeoJSON, GPKG, SHP, GeoParquet) "
        "into a City file",
        description="Read one or more geodata files into one City file (GeoParquet). Formats "
        "are detected from the files' contents; several files are brought into one CRS.",
    )
    p.add_argument("sources", nargs="+", metavar="SRC", help="input files")
    p.add_argument("--out", "-o", required=True, metavar="CITY.parquet", help="City file to write")
    p.add_argument("--crs", metavar="EPSG:N", help="target CRS (default: the first file's)")
    p.add_argument(
        "--lod",
        type=_lod,
        metavar="N",
        help="level of detail for CityGML/CityJSON: 1-4 (each building's highest of that "
        "LoD), or an exact CityJSON LoD such as 2.2 (default: each building's highest)",
    )
    p.add_argument(
        "--height-column", metavar="NAME", help="height column of GIS files (default: detected)"
    )
    p.set_defaults(func=cmd_import, accepts_extra=False)

    p = subparsers.add_parser(
        "info",
        help="summarise a City file",
        description="Summarise a City file: buildings, CRS, extent, heights, sources.",
    )
    p.add_argument("city", metavar="CITY.parquet")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_info, accepts_extra=False)

    p = subparsers.add_parser(
        "generate",
        help="generate the synthetic demo city",
        description="Generate the synthetic demo city of Ludwigshafen am Rhein (generated, "
        "not real data) and write it as a City file.",
    )
    p.add_argument("--out", "-o", required=True, metavar="CITY.parquet", help="City file to write")
    p.add_argument("--buildings", type=int, default=20_000, metavar="N", help="default 20000")
    p.add_argument("--seed", type=int, default=0, metavar="S", help="random seed (default 0)")
    p.set_defaults(func=cmd_generate, accepts_extra=False)

    p = subparsers.add_parser(
        "export",
        help="export a City file as a mesh or CityJSON",
        description="Export a City file to .glb, .gltf, .vtp, .ply, .obj or .city.json.",
    )
    p.add_argument("city", metavar="CITY.parquet")
    p.add_argument("--out", "-o", required=True, metavar="FILE", help="file to write")
    p.set_defaults(func=cmd_export, accepts_extra=False)


def _lod(text: str) -> int | str:
    """Parse ``--lod``: ``"2"`` → 2, ``"2.2"`` → ``"2.2"`` (validated by the importers)."""
    return int(text) if text.strip().isdigit() else text.strip()


def _save(city: Any, out: str) -> Path:
    try:
        return city.save(out)
    except OSError as err:
        raise CityFileError(f"{out}: cannot write the City file ({err.strerror or err})") from err


def cmd_import(args: argparse.Namespace) -> int:
    """Run ``twin import``."""
    from twin.geodata.io import read_city

    t0 = time.perf_counter()
    city = read_city(
        args.sources,
        crs=args.crs,
        lod=args.lod,
        height_column=args.height_column,
        progress=sys.stderr.isatty(),
    )
    out = _save(city, args.out)
    print(
        f"imported {city.n_buildings:,} buildings ({len(city):,} rows) from "
        f"{len(args.sources)} file(s) into {out}: CRS {city.crs}, "
        f"{time.perf_counter() - t0:.1f} s"
    )
    return 0


def cmd_generate(args: argparse.Namespace) -> int:
    """Run ``twin generate``."""
    from twin.geodata.demo import generate_city

    t0 = time.perf_counter()
    city = generate_city(buildings=args.buildings, seed=args.seed)
    out = _save(city, args.out)
    print(
        f"generated {city.n_buildings:,} buildings ({city.label}, seed {args.seed}) into "
        f"{out}: CRS {city.crs}, {time.perf_counter() - t0:.1f} s"
    )
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    """Run ``twin info``."""
    from twin.geodata.city import City

    city = City.load(args.city)
    info = city.info()
    if args.json:
        print(json.dumps(info, ensure_ascii=False))
        return 0
    print(format_info(info, args.city))
    return 0


def format_info(info: dict[str, Any], path: str) -> str:
    """Render :meth:`City.info` as a readable two-column table.

    Parameters
    ----------
    info : dict
        The output of :meth:`twin.geodata.city.City.info`.
    path : str
        The City file, shown in the first row.

    Returns
    -------
    str
        Lines of ``key  value``.
    """

    def counts(d: dict[str, int], prefix: str = "") -> str:
        return ", ".join(f"{prefix}{k}: {v:,}" for k, v in d.items()) or "-"

    minx, miny, maxx, maxy = info["bbox"]
    h = info["height"]
    rows = [("City file", path)]
    if info.get("label"):
        rows.append(("Label", info["label"]))
    if info.get("synthetic"):
        rows.append(("Data", "SYNTHETIC (generated, not real data)"))
    rows += [
        ("Buildings", f"{info['buildings']:,} ({info['parts']:,} parts, {info['rows']:,} rows)"),
        ("CRS", info["crs"] or "-"),
        ("Origin", " / ".join(f"{v:,.0f}" for v in info["origin"])),
        (
            "Extent",
            f"E {minx:,.0f} – {maxx:,.0f}, N {miny:,.0f} – {maxy:,.0f} "
            f"({(maxx - minx) / 1000:.1f} × {(maxy - miny) / 1000:.1f} km)",
        ),
        ("Height", f"min {h['min']:.1f} m, mean {h['mean']:.1f} m, max {h['max']:.1f} m"),
        ("Height source", counts(info["height_source"])),
        ("Formats", counts(info["formats"])),
        ("Level of detail", counts(info["lod"], "LoD")),
        ("Context layers", counts(info.get("context", {}))),
        ("Sources", "; ".join(info["sources"]) or "-"),
        ("Attribution", "; ".join(info["attribution"]) or "-"),
    ]
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)


def cmd_export(args: argparse.Namespace) -> int:
    """Run ``twin export``."""
    from twin.geodata.city import City
    from twin.mesh import export_city

    t0 = time.perf_counter()
    city = City.load(args.city)
    try:
        out = Path(export_city(city, args.out))
    except OSError as err:
        raise ExportError(f"{args.out}: cannot write ({err.strerror or err})") from err
    size = out.stat().st_size if out.exists() else 0
    print(
        f"exported {city.n_buildings:,} buildings to {out} ({size / 1e6:.1f} MB), "
        f"{time.perf_counter() - t0:.1f} s"
    )
    return 0
