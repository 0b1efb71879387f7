"""Import buildings from OpenStreetMap files (``.osm``, ``.osm.gz``, ``.osm.bz2``, ``.osm.pbf``).

:func:`read_osm` streams the file with pyosmium, builds all footprints with vectorised shapely
calls, reprojects all coordinates in one call to the UTM zone of the data, derives heights from
tags (:mod:`twin.geodata.heights`) and returns a :class:`~twin.geodata.city.City`.

What becomes a row:

* a closed way or a multipolygon relation tagged ``building=*`` (not ``no``): one building;
* one tagged ``building:part=*``: a part. Parts whose inside point lies in a building outline
  replace that outline (its row is dropped) and carry ``building`` = the outline's id, so the
  building counts once. Parts outside every outline are buildings of their own.

Broken geometry never disappears silently: unclosed ways, rings of fewer than three distinct
nodes, ways whose nodes are missing and relations whose rings do not close are dropped and
counted at WARNING; self-intersecting rings are repaired with ``shapely.make_valid``.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely

from twin.errors import GeodataError
from twin.geodata.city import City
from twin.geodata.crs import reproject_xy, target_crs
from twin.geodata.heights import derive_heights
from twin.geodata.osm_geometry import log_dropped, relation_polygon, repair, way_polygons
from twin.geodata.osm_reader import EXPECTED, TAG_KEYS, RawOSM, detect_format, read_raw

log = logging.getLogger(__name__)

#: Licence notice of OpenStreetMap data, shown with every rendering of it.
ATTRIBUTION = "© OpenStreetMap contributors, ODbL 1.0"

_WGS84 = pyproj.CRS.from_epsg(4326)
_SUFFIXES = (".osm.pbf", ".osm.gz", ".osm.bz2", ".osm", ".pbf", ".gz", ".bz2")


def read_osm(path: str | Path, *, crs: str | None = None, progress: bool = False) -> City:
    """Read the buildings and building parts of an OpenStreetMap file.

    Parameters
    ----------
    path : str or pathlib.Path
        An OSM XML (``.osm``, optionally ``.gz``/``.bz2`` compressed) or PBF file. The
        format is told from the content, so the name's suffix does not matter.
    crs : str, optional
        Target CRS (``"EPSG:25832"``); by default the UTM zone of the data (ETRS89 / UTM in
        Europe, e.g. EPSG:25832 for Ludwigshafen).
    progress : bool
        Show a tqdm progress bar while reading (the CLI sets it); otherwise only log.

    Returns
    -------
    City
        ``format="osm"``, ids ``"osm/w123"`` / ``"osm/r45"``, LoD 1, heights with their
        ``height_source`` (``measured``, ``levels`` or ``default``).

    Raises
    ------
    GeodataError
        If the file is missing, empty, not OSM data, truncated or broken (osmium's message
        is appended), or holds no buildings.

    Examples
    --------
    >>> city = read_osm("limburg_an_der_lahn.osm.pbf")  # doctest: +SKIP
    >>> city.crs, city.n_buildings  # doctest: +SKIP
    ('EPSG:25832', 11582)
    """
    path = Path(path)
    if not path.exists():
        raise GeodataError(f"{path}: no such file (expected {EXPECTED})")
    if not path.is_file():
        raise GeodataError(f"{path}: not a file (expected {EXPECTED})")
    started = time.perf_counter()
    fmt = detect_format(path)
    raw = read_raw(path, fmt, progress=progress)
    read_s = time.perf_counter() - started
    n_candidates = sum(raw.way_is_building) + len(raw.rel_ids)
    if n_candidates == 0:
        raise GeodataError(
            f"{path}: no buildings found (expected closed ways or multipolygon relations "
            "tagged building=* or building:part=*)"
        )
    lines, dst = _project_lines(raw, crs)
    ids, geoms, tags, problems = _footprints(raw, lines, path.name)
    if problems:
        log_dropped(problems, "building way(s)/relation(s)", source=path.name)
    geoms, keep = repair(geoms, ids, source=path.name)
    duplicated = pd.Index(ids).duplicated(keep="first")
    if duplicated.any():  # e.g. extracts concatenated without merging
        dupes = sorted({i for i, d in zip(ids, duplicated, strict=True) if d})
        log.warning(
            "%s: %d object(s) appear more than once, kept the first of each: %s",
            path.name,
            len(dupes),
            ", ".join(dupes[:5]) + (f" and {len(dupes) - 5} more" if len(dupes) > 5 else ""),
        )
        keep &= ~duplicated
    ids = [i for i, k in zip(ids, keep, strict=True) if k]
    geoms = geoms[keep]
    tags = tags.loc[keep].reset_index(drop=True)
    if not ids:
        raise GeodataError(
            f"{path}: none of the {n_candidates} buildings has a usable footprint "
            "(see the warnings above)"
        )
    table = _table(ids, geoms, tags, dst)
    city = City(
        buildings=table,
        label=f"{_stem(path)} (OSM)",
        sources=[str(path)],  # as given, like every importer
        attribution=[ATTRIBUTION],
    )
    log.info(
        "read %d buildings (%d rows, %d parts) from %s in %.2f s (%.2f s in pyosmium), %s",
        city.n_buildings,
        len(city),
        city.n_parts,
        path.name,
        time.perf_counter() - started,
        read_s,
        city.crs,
    )
    return city


def _stem(path: Path) -> str:
    name = path.name
    for suffix in _SUFFIXES:
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return path.stem


def _project_lines(raw: RawOSM, crs: str | None) -> tuple[np.ndarray, pyproj.CRS]:
    """Decode the ways' WKB and reproject all their coordinates in one call."""
    lines = np.full(len(raw.way_wkb), None, dtype=object)
    present = np.array([w is not None for w in raw.way_wkb], dtype=bool)
    if present.any():
        lines[present] = shapely.from_wkb(np.array(raw.way_wkb, dtype=object)[present])
        minx, miny, maxx, maxy = shapely.total_bounds(lines[present])
    else:
        minx = miny = maxx = maxy = 0.0
    dst = target_crs(_WGS84, (minx, miny, maxx, maxy), crs)  # refuses a --crs not in metres

    def project(xy: np.ndarray) -> np.ndarray:
        x, y = reproject_xy(xy[:, 0], xy[:, 1], _WGS84, dst)
        return np.column_stack([x, y])

    if present.any():
        lines[present] = shapely.transform(lines[present], project)
    return lines, dst


def _footprints(
    raw: RawOSM, lines: np.ndarray, source: str
) -> tuple[list[str], np.ndarray, pd.DataFrame, dict[str, str]]:
    """Footprints of building ways (vectorised) and multipolygon relations (assembled)."""
    problems: dict[str, str] = {}
    is_building = np.array(raw.way_is_building, dtype=bool)
    closed = np.array(raw.way_closed, dtype=bool)
    way_ids = np.array(raw.way_ids, dtype=np.int64)
    polygons, ok, why = way_polygons(lines[is_building], closed[is_building])
    building_ids = way_ids[is_building]
    for wid, reason in zip(building_ids, why, strict=True):
        if reason is not None:
            problems[f"osm/w{wid}"] = reason
    # Problems of member-only ways are reported with their relation.
    building_set = set(building_ids.tolist())
    for wid, reason in raw.way_problem.items():
        if wid in building_set:
            problems[f"osm/w{wid}"] = reason

    ids = [f"osm/w{w}" for w in building_ids[ok]]
    geoms = list(polygons[ok])
    rows = [r for r, b in zip(raw.way_tags, raw.way_is_building, strict=True) if b]
    tag_rows = [r for r, k in zip(rows, ok, strict=True) if k]

    index = {w: i for i, w in enumerate(raw.way_ids)}
    for rid, rtags, members in zip(raw.rel_ids, raw.rel_tags, raw.rel_members, strict=True):
        member_lines = [lines[index[ref]] for ref, _ in members if ref in index]
        member_lines = [g for g in member_lines if g is not None]
        missing = len(members) - len(member_lines)
        geometry, problem = relation_polygon(member_lines)
        key = f"osm/r{rid}"
        if geometry is None:
            extra = f", {missing} member way(s) missing" if missing else ""
            problems[key] = f"multipolygon not assembled ({problem}{extra})"
            continue
        if problem or missing:
            details = [problem] if problem else []
            if missing:
                details.append(f"{missing} member way(s) missing from the file")
            log.warning(
                "%s: %s: multipolygon assembled from the closed rings only (%s)",
                source,
                key,
                "; ".join(details),
            )
        ids.append(key)
        geoms.append(geometry)
        tag_rows.append(rtags)
    tags = pd.DataFrame(tag_rows, columns=list(TAG_KEYS), dtype=object)
    return ids, np.array(geoms, dtype=object), tags, problems


def _address(tags: pd.DataFrame) -> list[str | None]:
    """``"street housenumber, postcode city"`` from ``addr:*`` (missing pieces left out)."""
    columns = ("addr:street", "addr:place", "addr:housenumber", "addr:postcode", "addr:city")
    out: list[str | None] = []
    for street, place, number, postcode, city in zip(
        *(tags[c].tolist() for c in columns), strict=True
    ):
        if street is None and place is None and number is None and postcode is None:
            out.append(city if isinstance(city, str) and city else None)
            continue
        if not (isinstance(street, str) and street):
            street = place
        first = " ".join(v for v in (street, number) if isinstance(v, str) and v)
        second = " ".join(v for v in (postcode, city) if isinstance(v, str) and v)
        out.append(", ".join(v for v in (first, second) if v) or None)
    return out


def _table(
    ids: list[str], geoms: np.ndarray, tags: pd.DataFrame, crs: pyproj.CRS
) -> gpd.GeoDataFrame:
    """Rows of the City: classify outlines and parts, derive heights, attach parts."""
    building = tags["building"]
    part = tags["building:part"]
    is_outline = (building.notna() & (building != "no")).to_numpy()
    is_part = (part.notna() & (part != "no")).to_numpy()
    use = is_outline | is_part
    if not use.all():
        log.info("skipped %d object(s) tagged building=no", int((~use).sum()))
    ids_arr = np.array(ids, dtype=object)[use]
    geoms = geoms[use]
    tags = tags.loc[use].reset_index(drop=True)
    is_outline, is_part = is_outline[use], is_part[use]

    kind = tags["building"].where(pd.Series(is_outline), tags["building:part"])
    heights = derive_heights(
        {
            **{k: tags[k] for k in TAG_KEYS},
            "building_type": kind,
        },
        n=len(tags),
    )
    frame = pd.DataFrame(
        {
            "id": ids_arr,
            "source_id": [i[4:] for i in ids_arr],
            "format": "osm",
            "height": heights["height"].to_numpy(),
            "min_height": heights["min_height"].to_numpy(),
            "ground_z": 0.0,
            "height_source": heights["height_source"].to_numpy(),
            "levels": heights["levels"].to_numpy(),
            "roof_shape": tags["roof:shape"].to_numpy(),
            "lod": 1,
            "name": tags["name"].to_numpy(),
            "address": _address(tags),
            "building_type": kind.to_numpy(),
            "surfaces": None,
            "surface_types": None,
        }
    )
    frame = _attach_parts(frame, geoms, is_outline, is_part)
    keep = frame.pop("_keep").to_numpy()
    gdf = gpd.GeoDataFrame(frame.loc[keep], geometry=list(geoms[keep]), crs=crs)
    return gdf


def _attach_parts(
    frame: pd.DataFrame, geoms: np.ndarray, is_outline: np.ndarray, is_part: np.ndarray
) -> pd.DataFrame:
    """Give each part the building whose outline holds it; drop outlines drawn by parts.

    A part belongs to the smallest outline that contains a point on the part's surface. The
    outline's row is then dropped (unless it is tagged as a part itself); parts without a
    height of their own take the outline's, and its name and address when they have none.
    """
    n = len(frame)
    frame["building"] = frame["id"]
    frame["is_part"] = is_part & ~is_outline
    frame["_keep"] = True
    parts = np.flatnonzero(is_part)
    outlines = np.flatnonzero(is_outline)
    if not len(parts) or not len(outlines):
        frame["is_part"] = is_part
        return frame
    tree = shapely.STRtree(geoms[outlines])
    points = shapely.point_on_surface(geoms[parts])
    pi, oi = tree.query(points, predicate="within")
    part_row, outline_row = parts[pi], outlines[oi]
    mask = part_row != outline_row
    part_row, outline_row = part_row[mask], outline_row[mask]
    # Smallest enclosing outline first, then keep the first match of each part.
    area = shapely.area(geoms[outline_row])
    order = np.lexsort((area, part_row))
    part_row, outline_row = part_row[order], outline_row[order]
    first = np.unique(part_row, return_index=True)[1]
    parent = np.full(n, -1, dtype=np.int64)
    parent[part_row[first]] = outline_row[first]
    # Follow chains (a part inside an outline that is itself inside another outline).
    root = parent.copy()
    for _ in range(8):
        nxt = np.where(root >= 0, parent[np.maximum(root, 0)], -1)
        step = (root >= 0) & (nxt >= 0) & (nxt != root)
        if not step.any():
            break
        root = np.where(step, nxt, root)
    has_parts = np.zeros(n, dtype=bool)
    has_parts[root[root >= 0]] = True
    attached = root >= 0
    ids = frame["id"].to_numpy()
    building = ids.copy()
    building[attached] = ids[root[attached]]
    frame["building"] = building
    frame["is_part"] = is_part & (attached | ~is_outline | has_parts)
    frame["_keep"] = ~(has_parts & ~is_part)
    # Parts without own height, name or address take the enclosing outline's.
    src = root[attached]
    rows = np.flatnonzero(attached)
    inherit = (frame["height_source"].to_numpy()[rows] == "default") & (
        frame["height_source"].to_numpy()[src] != "default"
    )
    inherit &= frame["height"].to_numpy()[src] > frame["min_height"].to_numpy()[rows]
    for column in ("height", "height_source"):
        values = frame[column].to_numpy().copy()
        values[rows[inherit]] = values[src[inherit]]
        frame[column] = values
    for column in ("name", "address"):
        values = frame[column].to_numpy().copy()
        empty = pd.isna(values[rows])
        values[rows[empty]] = values[src[empty]]
        frame[column] = values
    n_dropped = int((~frame["_keep"]).sum())
    if n_dropped:
        log.info(
            "%d building outline(s) are drawn by their %d part(s)", n_dropped, int(attached.sum())
        )
    return frame
