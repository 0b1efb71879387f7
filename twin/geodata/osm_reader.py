"""Streaming passes over an OpenStreetMap file with pyosmium (private to :mod:`twin.geodata.osm`).

Passes over the file, none of which hands a node to Python:

1. relations only: multipolygon relations tagged ``building``/``building:part`` and the ids
   of their member ways;
2. nodes and ways with pyosmium's node-location cache (filled in C++) and osmium's key
   filter, so only building ways reach Python; each becomes one WKB line string, made in C++
   by osmium's WKB factory;
3. only if multipolygons have untagged member ways: those ways (id filter in C++), located
   from the cache of pass 2.

A last node pass runs only for ways whose nodes were not cached when the way was read (a
way before its nodes, negative ids of unsaved JOSM files).

The result is plain Python lists; geometry assembly happens in
:mod:`twin.geodata.osm_geometry`.
"""

from __future__ import annotations

import bz2
import gzip
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import osmium
import osmium.filter
import osmium.geom

from twin.errors import GeodataError
from twin.geodata.progress import progress_bar

log = logging.getLogger(__name__)

#: Tags read from buildings and parts (in this order in :attr:`RawOSM.way_tags`).
TAG_KEYS: tuple[str, ...] = (
    "building",
    "building:part",
    "height",
    "building:height",
    "building:levels",
    "roof:levels",
    "roof:height",
    "min_height",
    "building:min_level",
    "roof:shape",
    "name",
    "addr:street",
    "addr:place",
    "addr:housenumber",
    "addr:postcode",
    "addr:city",
)

#: The formats this reader accepts, as osmium names them.
FORMATS = ("osm", "osm.gz", "osm.bz2", "pbf")
EXPECTED = "an OpenStreetMap file (.osm XML, .osm.gz, .osm.bz2 or .osm.pbf)"

_PBF_MAGIC = b"OSMHeader"


@dataclass
class RawOSM:
    """What the passes collected, in file order.

    ``way_*`` lists hold building ways and member ways of building relations; ``way_wkb``
    is None where the geometry could not be made (``way_problem`` says why).
    """

    way_ids: list[int] = field(default_factory=list)
    way_wkb: list[bytes | None] = field(default_factory=list)
    way_closed: list[bool] = field(default_factory=list)
    way_is_building: list[bool] = field(default_factory=list)
    way_tags: list[list[str | None]] = field(default_factory=list)
    way_problem: dict[int, str] = field(default_factory=dict)
    rel_ids: list[int] = field(default_factory=list)
    rel_tags: list[list[str | None]] = field(default_factory=list)
    rel_members: list[list[tuple[int, str]]] = field(default_factory=list)


def detect_format(path: Path) -> str:
    """Tell the osmium format of a file from its first bytes (not its name).

    Parameters
    ----------
    path : pathlib.Path
        An existing file.

    Returns
    -------
    str
        ``"osm"``, ``"osm.gz"``, ``"osm.bz2"`` or ``"pbf"``.

    Raises
    ------
    GeodataError
        If the file is empty or its content is not OSM XML or PBF.
    """
    with path.open("rb") as fh:
        head = fh.read(64)
    if not head:
        raise GeodataError(f"{path}: empty file (expected {EXPECTED})")
    compression = ""
    if head[:2] == b"\x1f\x8b":
        compression = ".gz"
        opener: Any = gzip.open
    elif head[:3] == b"BZh":
        compression = ".bz2"
        opener = bz2.open
    if compression:
        try:
            with opener(path, "rb") as fh:
                head = fh.read(64)
        except (OSError, EOFError) as err:
            raise GeodataError(
                f"{path}: broken {compression[1:]} compression at the start of the file "
                f"(expected {EXPECTED}) ({err})"
            ) from err
        if not head:
            raise GeodataError(f"{path}: empty after decompression (expected {EXPECTED})")
    if _PBF_MAGIC in head[:32] and not compression:
        return "pbf"
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if text.startswith(b"<"):
        return "osm" + compression
    shown = head[:16].decode("latin-1").encode("unicode_escape").decode("ascii")
    raise GeodataError(
        f"{path}: not an OpenStreetMap file: byte 0 starts with '{shown}', expected {EXPECTED} "
        "('<' of XML, a PBF 'OSMHeader' block, or gzip/bzip2 compressed XML)"
    )


_FORMAT_NAMES = {
    "osm": "OSM XML",
    "osm.gz": "gzip-compressed OSM XML",
    "osm.bz2": "bzip2-compressed OSM XML",
    "pbf": "OSM PBF",
}


def _wrap(path: Path, fmt: str, err: Exception) -> GeodataError:
    name = _FORMAT_NAMES.get(fmt, fmt)
    return GeodataError(
        f"{path}: not valid {name} (broken, truncated or another format; expected "
        f"{EXPECTED}); osmium says: {err}"
    )


def read_raw(path: Path, fmt: str, *, progress: bool = False) -> RawOSM:
    """Run the two passes and collect buildings, parts and multipolygon members.

    Parameters
    ----------
    path : pathlib.Path
        The file.
    fmt : str
        Its osmium format (see :func:`detect_format`).
    progress : bool
        Show a tqdm bar counting buildings.

    Returns
    -------
    RawOSM

    Raises
    ------
    GeodataError
        When osmium cannot parse the file; osmium's message is appended.
    """
    raw = RawOSM()
    members: set[int] = set()
    try:
        source = osmium.io.File(str(path), fmt)
        rels = osmium.FileProcessor(source, osmium.osm.RELATION).with_filter(
            osmium.filter.KeyFilter("building", "building:part")
        )
        for rel in rels:
            tags = rel.tags
            if tags.get("type") != "multipolygon":
                continue
            way_members = [(m.ref, m.role) for m in rel.members if m.type == "w"]
            raw.rel_ids.append(rel.id)
            raw.rel_tags.append([tags.get(k) for k in TAG_KEYS])
            raw.rel_members.append(way_members)
            members.update(ref for ref, _ in way_members)
    except RuntimeError as err:
        raise _wrap(path, fmt, err) from err
    _read_ways(path, fmt, raw, members, progress)
    return raw


def _read_ways(path: Path, fmt: str, raw: RawOSM, members: set[int], progress: bool) -> None:
    """Pass 2 (building ways, WKB from osmium) and, if needed, pass 3 (other member ways)."""
    fp = osmium.FileProcessor(osmium.io.File(str(path), fmt), osmium.osm.NODE | osmium.osm.WAY)
    # Only tagged ways reach Python: osmium drops nodes and other ways in C++.
    fp = fp.with_locations().with_filter(osmium.filter.EntityFilter(osmium.osm.WAY))
    fp = fp.with_filter(osmium.filter.KeyFilter("building", "building:part"))
    missing: dict[int, list[int]] = {}
    try:
        with progress_bar(progress, path, unit=" buildings") as bar:
            _collect_ways(fp, raw, missing, bar)
    except RuntimeError as err:
        raise _wrap(path, fmt, err) from err
    rest = members.difference(raw.way_ids)
    if rest:
        _read_member_ways(path, fmt, raw, rest, fp.node_location_storage, missing)
    if missing:
        _fill_missing(path, fmt, raw, missing)


def _collect_ways(fp: Any, raw: RawOSM, missing: dict[int, list[int]], bar: Any) -> None:
    """Pass 2's loop: each building way's id, WKB line string (from osmium) and tags."""
    wkb = osmium.geom.WKBFactory()
    n_keys = len(TAG_KEYS)
    for way in fp:
        tags = way.tags
        try:
            geom: bytes | None = bytes.fromhex(wkb.create_linestring(way))
        except (osmium.InvalidLocationError, RuntimeError) as err:
            geom = None
            if all(n.location.valid() for n in way.nodes):
                raw.way_problem[way.id] = f"degenerate ({err})"
            else:  # nodes later in the file, negative ids, or not in the file
                missing[len(raw.way_ids)] = [n.ref for n in way.nodes]
        raw.way_ids.append(way.id)
        raw.way_wkb.append(geom)
        raw.way_closed.append(way.is_closed())
        raw.way_is_building.append(True)
        if len(tags) > 1:
            raw.way_tags.append([tags.get(k) for k in TAG_KEYS])
        else:
            raw.way_tags.append(
                [tags.get("building"), tags.get("building:part")] + [None] * (n_keys - 2)
            )
        bar.update()


def _read_member_ways(
    path: Path,
    fmt: str,
    raw: RawOSM,
    wanted: set[int],
    store: Any,
    missing: dict[int, list[int]],
) -> None:
    """Pass 3: untagged member ways of building multipolygons, located from pass 2's cache."""
    fp = osmium.FileProcessor(osmium.io.File(str(path), fmt), osmium.osm.WAY)
    if min(wanted) > 0:  # osmium's IdFilter takes positive ids only
        fp = fp.with_filter(osmium.filter.IdFilter(wanted))
    try:
        for way in fp:
            if way.id not in wanted:
                continue
            refs = [n.ref for n in way.nodes]
            coords = []
            for ref in refs:
                try:
                    loc = store.get(ref) if ref > 0 else None
                except KeyError:
                    loc = None
                if loc is None or not loc.valid():
                    coords = None
                    break
                coords.append((loc.lon, loc.lat))
            if coords is None:
                missing[len(raw.way_ids)] = refs
            raw.way_ids.append(way.id)
            raw.way_wkb.append(None if coords is None else _line_wkb(raw, way.id, coords))
            raw.way_closed.append(way.is_closed())
            raw.way_is_building.append(False)
            raw.way_tags.append([None] * len(TAG_KEYS))
    except RuntimeError as err:
        raise _wrap(path, fmt, err) from err


def _line_wkb(raw: RawOSM, way_id: int, coords: list[tuple[float, float]]) -> bytes | None:
    """WKB of a line string, repeated consecutive nodes dropped (as osmium's factory does)."""
    import shapely

    coords = [c for i, c in enumerate(coords) if i == 0 or c != coords[i - 1]]
    if len(coords) < 2:
        raw.way_problem[way_id] = "degenerate (fewer than two distinct nodes)"
        return None
    return shapely.to_wkb(shapely.linestrings(coords))


def _fill_missing(path: Path, fmt: str, raw: RawOSM, missing: dict[int, list[int]]) -> None:
    """Retry ways whose nodes were not in the location cache when the way was read.

    That happens in unsorted files (a way before its nodes) and for negative node ids (JOSM
    files before upload), which osmium's cache does not hold. One more pass reads just the
    nodes needed; ways whose nodes are not in the file at all are noted as problems.
    """
    needed = {ref for refs in missing.values() for ref in refs}
    fp = osmium.FileProcessor(osmium.io.File(str(path), fmt), osmium.osm.NODE)
    if min(needed) > 0:  # osmium's IdFilter takes positive ids only
        fp = fp.with_filter(osmium.filter.IdFilter(needed))
    found: dict[int, tuple[float, float]] = {}
    try:
        for node in fp:
            if node.id in needed and node.location.valid():
                found[node.id] = (node.location.lon, node.location.lat)
    except RuntimeError as err:
        raise _wrap(path, fmt, err) from err
    for index, refs in missing.items():
        if not all(ref in found for ref in refs):
            raw.way_problem[raw.way_ids[index]] = "nodes missing from the file"
            continue
        raw.way_wkb[index] = _line_wkb(raw, raw.way_ids[index], [found[ref] for ref in refs])
    log.debug("%d way(s) completed from a second node pass", len(missing))
