"""Reading any supported geodata file: format detection, dispatch, reprojection, joining.

:func:`read_city` tells each file's format from its first bytes (and its name when the
bytes are ambiguous), hands it to the matching importer, brings all results into one CRS
and joins them. Importers are imported lazily, so reading a GeoJSON never loads lxml or
pyosmium.

* ``osm``: an ``<osm`` XML root (also gzip/bzip2 compressed) or a PBF header →
  :func:`twin.geodata.osm.read_osm`;
* ``citygml``: XML with a ``http://www.opengis.net/citygml/...`` namespace →
  :func:`twin.geodata.citygml.read_citygml`;
* ``cityjson``: JSON with ``"type": "CityJSON"`` or ``"CityJSONFeature"`` →
  :func:`twin.geodata.cityjson.read_cityjson`;
* ``gis``: GeoJSON, GeoPackage (SQLite), Shapefile, GeoParquet → :func:`twin.geodata.gis.read_gis`.
"""

from __future__ import annotations

import bz2
import gzip
import json
import logging
import re
import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyproj
import shapely

from twin.errors import GeodataError, TwinError
from twin.geodata.city import City, concat
from twin.geodata.crs import parse_target_crs, transformer

log = logging.getLogger(__name__)

#: What :func:`read_city` reads, for error messages.
SUPPORTED = (
    "OSM XML or PBF (.osm, .osm.gz, .osm.bz2, .pbf), CityGML 1.0-3.0 (.gml, .xml), "
    "CityJSON (.city.json, .json) and CityJSONSeq (.city.jsonl, .jsonl), GeoJSON (.geojson), "
    "GeoPackage (.gpkg), Shapefile (.shp), GeoParquet (.parquet)"
)
#: Names of the formats :func:`detect_format` returns.
FORMATS = ("osm", "citygml", "cityjson", "gis")

_HEAD = 65_536
_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"%PDF", "a PDF document"),
    (b"PK\x03\x04", "a ZIP archive (unpack it first)"),
    (b"\x7fELF", "a program"),
)
_JSON_TYPE = re.compile(rb'"type"\s*:\s*"(CityJSON|CityJSONFeature|FeatureCollection|Feature)"')
_OSM_ROOT = re.compile(rb"<osm[\s>]")
_CITYGML_NS = b"http://www.opengis.net/citygml"


def _unsupported(path: Path, what: str) -> GeodataError:
    return GeodataError(f"{path}: {what}; supported formats: {SUPPORTED}")


def _read_head(path: Path) -> bytes:
    try:
        with path.open("rb") as f:
            return f.read(_HEAD)
    except OSError as err:
        raise GeodataError(f"{path}: cannot read ({err.strerror or err})") from err


def _decompressed_head(path: Path, opener: type) -> bytes:
    try:
        with opener(path, "rb") as f:
            return f.read(_HEAD)
    except (OSError, EOFError, zlib.error, ValueError) as err:
        raise GeodataError(f"{path}: broken compressed file ({err})") from err


def detect_format(path: str | Path) -> str:
    """Tell the format of a geodata file from its first bytes (and its name).

    Parameters
    ----------
    path : str or pathlib.Path
        The file.

    Returns
    -------
    str
        One of :data:`FORMATS`: ``"osm"``, ``"citygml"``, ``"cityjson"`` or ``"gis"``.

    Raises
    ------
    GeodataError
        If the file is missing, empty, or of no supported format (the message lists them).
    """
    path = Path(path)
    if not path.exists():
        raise GeodataError(f"{path}: no such file")
    if not path.is_file():
        raise GeodataError(f"{path}: not a file")
    head = _read_head(path)
    if not head:
        raise _unsupported(path, "the file is empty (0 bytes)")
    for magic, what in _MAGIC:
        if head.startswith(magic):
            raise _unsupported(path, f"this is {what}, not geodata")
    if head.startswith(b"SQLite format 3\x00") or head.startswith(b"PAR1"):
        return "gis"  # GeoPackage, GeoParquet
    if head.startswith(b"\x00\x00\x27\x0a"):
        return "gis"  # Shapefile main file
    if b"OSMHeader" in head[:64]:
        return "osm"  # PBF: a length-prefixed BlobHeader of type "OSMHeader"
    compressed = None
    if head.startswith(b"\x1f\x8b"):
        compressed, head = "gzip", _decompressed_head(path, gzip.GzipFile)
    elif head.startswith(b"BZh"):
        compressed, head = "bzip2", _decompressed_head(path, bz2.BZ2File)
    text = head.lstrip(b"\xef\xbb\xbf").lstrip()
    kind = _text_format(path, text)
    if compressed and kind != "osm":
        raise _unsupported(path, f"a {compressed}-compressed file that is not OSM XML")
    if kind is None:
        if compressed or _looks_binary(text):
            raise _unsupported(path, "unknown binary format")
        raise _unsupported(path, "unknown text format")
    return kind


def _looks_binary(data: bytes) -> bool:
    return b"\x00" in data[:1024]


def _text_format(path: Path, text: bytes) -> str | None:
    """Format of an XML or JSON file from its first bytes; None if neither."""
    if text.startswith(b"<"):
        if _OSM_ROOT.search(text):
            return "osm"
        if _CITYGML_NS in text:
            return "citygml"
        if b"opengis.net/gml" in text:
            raise _unsupported(path, "a GML file, but not CityGML (no CityGML namespace)")
        raise _unsupported(path, "an XML file, but neither OSM nor CityGML")
    if text.startswith((b"{", b"[", b"\x1e")):
        return _json_format(path, text)
    return None


def _json_format(path: Path, text: bytes) -> str:
    m = _JSON_TYPE.search(text)
    if m:
        return "cityjson" if m[1].startswith(b"CityJSON") else "gis"
    # The type member may come late in a big document: parse the whole (first) document.
    try:
        raw = path.read_bytes()
        first = raw.split(b"\n", 1)[0] if path.suffix.lower() in (".jsonl", ".ndjson") else raw
        doc = json.loads(first.decode("utf-8-sig"))
    except UnicodeDecodeError as err:
        raise GeodataError(
            f"{path}: not UTF-8 text at byte {err.start} (JSON must be UTF-8)"
        ) from err
    except json.JSONDecodeError as err:
        raise GeodataError(
            f"{path}: invalid JSON at line {err.lineno}, column {err.colno}: {err.msg}; "
            "expected a GeoJSON or CityJSON document (is the file truncated?)"
        ) from err
    kind = doc.get("type") if isinstance(doc, dict) else None
    found = f'top-level "type" is {kind!r}' if kind else 'no top-level "type" member'
    if not isinstance(doc, dict):
        found = f"a JSON {type(doc).__name__}, not an object"
    if kind in ("CityJSON", "CityJSONFeature"):
        return "cityjson"
    if kind in ("FeatureCollection", "Feature"):
        return "gis"
    raise _unsupported(
        path,
        f"a JSON document, but neither GeoJSON nor CityJSON ({found})",
    )


def reproject_city(city: City, dst: pyproj.CRS) -> City:
    """Return ``city`` in another CRS: footprints, LoD2 surfaces and context layers.

    Parameters
    ----------
    city : City
        A City in any CRS.
    dst : pyproj.CRS
        The target CRS.

    Returns
    -------
    City
        ``city`` itself when already in ``dst``; else a new City with a new origin.
    """
    src = city.buildings.crs
    if src is not None and pyproj.CRS.from_user_input(src).equals(dst):
        return city
    if src is None:
        raise GeodataError(f"{', '.join(city.sources) or 'city'}: no CRS to reproject from")
    gdf = city.buildings.to_crs(dst)
    surfaces = gdf["surfaces"].to_numpy()
    has = np.array([s is not None for s in surfaces], bool)
    if has.any():
        tr = transformer(pyproj.CRS.from_user_input(src), dst)

        def xyz(coords: np.ndarray) -> np.ndarray:
            x, y = tr.transform(coords[:, 0], coords[:, 1])
            return np.c_[x, y, coords[:, 2]]

        geoms = shapely.from_wkb(surfaces[has])
        moved = shapely.transform(geoms, xyz, include_z=True)
        out = surfaces.copy()
        out[has] = shapely.to_wkb(moved, output_dimension=3)
        gdf["surfaces"] = out
    context = city.context.to_crs(dst) if city.context is not None else None
    return City(
        buildings=gdf,
        synthetic=city.synthetic,
        label=city.label,
        sources=city.sources,
        attribution=city.attribution,
        context=context,
    )


def _read_one(
    path: Path,
    kind: str,
    crs: str | None,
    lod: int | str | None,
    height_column: str | None,
    progress: bool,
) -> City:
    if kind == "osm":
        from twin.geodata.osm import read_osm

        return read_osm(path, crs=crs, progress=progress)
    if kind == "citygml":
        from twin.geodata.citygml import read_citygml

        return read_citygml(path, crs=crs, lod=lod, progress=progress)
    if kind == "cityjson":
        from twin.geodata.cityjson import read_cityjson

        return read_cityjson(path, crs=crs, lod=lod, progress=progress)
    from twin.geodata.gis import read_gis

    return read_gis(path, crs=crs, height_column=height_column, progress=progress)


def read_city(
    paths: Sequence[str | Path],
    *,
    crs: str | None = None,
    lod: int | str | None = None,
    height_column: str | None = None,
    progress: bool = False,
) -> City:
    """Read one or more geodata files of any supported format into one City.

    Parameters
    ----------
    paths : sequence of str or pathlib.Path
        The files; each one's format is detected by :func:`detect_format`.
    crs : str, optional
        Target CRS (``"EPSG:25832"``); by default the CRS chosen for the first file. A file
        that names no CRS is taken to be in ``crs``; without ``crs`` it is an error.
    lod : int or str, optional
        Level of detail to read from CityGML and CityJSON files (ignored for others): 1-4,
        or an exact CityJSON LoD such as ``"2.2"`` (CityGML reads it as its integer part).
    height_column : str, optional
        Height column of GeoJSON/GeoPackage/Shapefile/GeoParquet files.
    progress : bool
        Show progress bars while reading.

    Returns
    -------
    City
        All files' buildings in one CRS; a building found in several files (same id) is
        kept once.

    Raises
    ------
    GeodataError
        If a file is missing, of an unsupported format or broken, or ``crs`` is unknown.

    Examples
    --------
    >>> city = read_city(["map.osm.pbf", "lod2.gml"], crs="EPSG:25832")  # doctest: +SKIP
    """
    if isinstance(paths, (str, Path)):
        paths = [paths]
    files = [Path(p) for p in paths]
    if not files:
        raise GeodataError(f"no input files given; supported formats: {SUPPORTED}")
    target = parse_target_crs(crs) if crs else None
    kinds = [detect_format(p) for p in files]  # fail fast, before the long reads
    if lod is not None and not {"citygml", "cityjson"} & set(kinds):
        log.warning("lod=%s applies only to CityGML and CityJSON files; ignored", lod)
    if height_column is not None and "gis" not in kinds:
        log.warning("height column %r applies only to GIS files; ignored", height_column)
    # Only the user's CRS goes to the importers: it is also the CRS assumed for a file that
    # names none. The first file's CRS is not: a later file without a CRS must fail (ask
    # for --crs) instead of being placed silently in another file's CRS.
    want = _crs_text(target) if target is not None else None
    cities: list[City] = []
    for path, kind in zip(files, kinds, strict=True):
        try:
            city = _read_one(path, kind, want, lod, height_column, progress)
        except TwinError:
            raise
        except (OSError, ValueError, SyntaxError, EOFError, RuntimeError) as err:
            log.debug("reading %s failed", path, exc_info=True)
            raise GeodataError(f"{path}: cannot read as {kind}: {err}") from err
        if target is None:
            target = pyproj.CRS.from_user_input(city.buildings.crs)
        _warn_outside_area_of_use(city, target, path)
        city = reproject_city(city, target)
        log.info("%s: %d buildings (%s)", path, city.n_buildings, kind)
        cities.append(city)
    joined = concat(cities)
    dup = joined.buildings["id"].duplicated()
    if dup.any():
        log.warning(
            "%d rows appear in more than one file (same id, e.g. %s); kept the first",
            dup.sum(),
            joined.buildings["id"][dup].iloc[0],
        )
        joined = City(
            buildings=joined.buildings[~dup],
            synthetic=joined.synthetic,
            label=joined.label,
            sources=joined.sources,
            attribution=joined.attribution,
            context=joined.context,
        )
    return joined


def _warn_outside_area_of_use(city: City, target: pyproj.CRS, path: Path) -> None:
    """Warn when the file's buildings lie outside the area where ``target`` is meant to be used.

    A UTM zone stretches badly far from its zone (a Dutch file in Berlin's zone 33 lands at
    negative eastings); joining such files is allowed, but the user should choose ``--crs``.
    """
    area = target.area_of_use
    src = city.buildings.crs
    if area is None or not len(city.buildings) or src is None or target.equals(src):
        return  # a file in its own CRS is where it says it is
    to_lonlat = pyproj.Transformer.from_crs(src, 4326, always_xy=True)
    minx, miny, maxx, maxy = city.buildings.total_bounds
    lon, lat = to_lonlat.transform((minx + maxx) / 2, (miny + maxy) / 2)
    if not (area.west <= lon <= area.east and area.south <= lat <= area.north):
        log.warning(
            "%s: its buildings (around %.2f°E %.2f°N) lie outside the area of use of %s "
            "(%.1f°E to %.1f°E, %.1f°N to %.1f°N); expect distortion, or choose --crs",
            path,
            lon,
            lat,
            _crs_text(target),
            area.west,
            area.east,
            area.south,
            area.north,
        )


def _crs_text(crs: pyproj.CRS) -> str:
    epsg = crs.to_epsg()
    return f"EPSG:{epsg}" if epsg else crs.to_wkt()
