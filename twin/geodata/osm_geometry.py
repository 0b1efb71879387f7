"""Footprints from OSM line strings (private to :mod:`twin.geodata.osm`).

Closed building ways become polygons in one vectorised call (``shapely.linearrings`` and
``shapely.polygons`` with indices). Multipolygon relations are assembled from their member
ways: lines are merged into rings, rings are filled by the even-odd rule (a ring inside an odd
number of other rings is a hole), which is what OSM's multipolygon semantics mean whatever
the roles say. Invalid footprints are repaired with ``shapely.make_valid`` keeping the
polygonal parts; what cannot be repaired is dropped and counted.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence

import numpy as np
import shapely

from twin.geodata.geometry import polygonal

log = logging.getLogger(__name__)


def way_polygons(
    lines: np.ndarray, closed: np.ndarray
) -> tuple[np.ndarray, np.ndarray, list[str | None]]:
    """Turn closed building ways into polygons, all at once.

    Parameters
    ----------
    lines : numpy.ndarray of shapely.LineString
        One line string per way (None where osmium made none).
    closed : numpy.ndarray of bool
        Whether the way's first and last node are the same node.

    Returns
    -------
    polygons : numpy.ndarray of shapely.Polygon
        A polygon where the way is usable, else None.
    ok : numpy.ndarray of bool
        Where a polygon was made.
    problems : list of str or None
        Why a way was not usable (``"not closed"``, ``"fewer than 3 distinct nodes"``).
    """
    n = len(lines)
    polygons = np.full(n, None, dtype=object)
    problems: list[str | None] = [None] * n
    present = ~shapely.is_missing(lines)
    npoints = np.zeros(n, dtype=np.int64)
    npoints[present] = shapely.get_num_points(lines[present])
    ok = present & closed & (npoints >= 4)
    for i in np.flatnonzero(present & ~ok):
        problems[i] = "not closed" if not closed[i] else "fewer than 3 distinct nodes"
    if ok.any():
        coords, index = shapely.get_coordinates(lines[ok], return_index=True)
        rings = shapely.linearrings(coords, indices=index)
        polygons[ok] = shapely.polygons(rings)
    return polygons, ok, problems


def relation_polygon(lines: Sequence[shapely.LineString]) -> tuple[shapely.Geometry | None, str]:
    """Assemble a multipolygon relation from the line strings of its member ways.

    Parameters
    ----------
    lines : sequence of shapely.LineString
        Member ways (any role, any direction, split anywhere along a ring).

    Returns
    -------
    geometry : shapely.Polygon or shapely.MultiPolygon or None
        The even-odd fill of all closed rings; None if no ring closes.
    problem : str
        Empty, or what went wrong (``"2 member ways do not close a ring"``).
    """
    if not lines:
        return None, "no member ways with geometry"
    merged = shapely.line_merge(shapely.multilinestrings(list(lines)))
    parts = shapely.get_parts(merged)
    closed = shapely.is_closed(parts)
    polygons = [
        shapely.polygons(shapely.linearrings(shapely.get_coordinates(p)))
        for p in parts[closed]
        if shapely.get_num_points(p) >= 4
    ]
    problem = ""
    open_parts = parts[~closed]
    if len(open_parts):
        # Rings touching at a node stop line_merge; polygonize splits them into faces.
        faces, _cuts, dangles, invalid = shapely.polygonize_full(open_parts)
        polygons.extend(shapely.get_parts(faces))
        loose = len(shapely.get_parts(dangles)) + len(shapely.get_parts(invalid))
        if loose:
            problem = f"{loose} member line(s) do not close a ring"
    if not polygons:
        return None, problem or "no closed ring"
    polygons = [p if p.is_valid else polygonal(shapely.make_valid(p)) for p in polygons]
    polygons = [p for p in polygons if p is not None and not p.is_empty]
    if not polygons:
        return None, "rings are degenerate"
    # Even-odd fill: XOR the rings one after the other (symmetric_difference_all is not XOR).
    geometry = functools.reduce(shapely.symmetric_difference, polygons)
    return polygonal(geometry), problem


def repair(
    geometries: np.ndarray, ids: Sequence[str], *, source: str = ""
) -> tuple[np.ndarray, np.ndarray]:
    """Make footprints valid, keeping polygonal parts; report what changed at WARNING.

    Parameters
    ----------
    geometries : numpy.ndarray of shapely geometries
        Footprints (Polygon/MultiPolygon) in a metric CRS.
    ids : sequence of str
        Row ids, for the log message.
    source : str, optional
        The file, for the log message.

    Returns
    -------
    geometries : numpy.ndarray
        Valid, counter-clockwise oriented footprints (None where dropped).
    keep : numpy.ndarray of bool
        False where nothing polygonal was left (self-overlapping, collapsed).
    """
    geometries = np.asarray(geometries, dtype=object).copy()
    invalid = np.flatnonzero(~shapely.is_valid(geometries))
    repaired: list[str] = []
    dropped: list[str] = []
    for i in invalid:
        fixed = polygonal(shapely.make_valid(geometries[i]))
        geometries[i] = fixed
        (repaired if fixed is not None else dropped).append(str(ids[i]))
    keep = ~shapely.is_missing(geometries)
    keep[keep] &= ~shapely.is_empty(geometries[keep])
    if repaired:
        log.warning(
            "%srepaired %d invalid footprint(s) with make_valid (e.g. self-intersecting rings): %s",
            _prefix(source),
            len(repaired),
            _sample(repaired),
        )
    if dropped:
        log.warning(
            "%sdropped %d footprint(s) with no area left after make_valid: %s",
            _prefix(source),
            len(dropped),
            _sample(dropped),
        )
    geometries[keep] = shapely.orient_polygons(geometries[keep], exterior_cw=False)
    return geometries, keep


def log_dropped(problems: dict[str, str], what: str, *, source: str = "") -> None:
    """Log objects that yield no footprint, grouped by reason, at WARNING.

    Parameters
    ----------
    problems : dict of str to str
        Row id → reason.
    what : str
        What was dropped (``"building way(s)"``).
    source : str, optional
        The file, for the log message.
    """
    by_reason: dict[str, list[str]] = {}
    for key, reason in problems.items():
        by_reason.setdefault(reason, []).append(key)
    for reason, keys in sorted(by_reason.items(), key=lambda kv: -len(kv[1])):
        log.warning(
            "%sdropped %d %s: %s: %s", _prefix(source), len(keys), what, reason, _sample(keys)
        )


def _prefix(source: str) -> str:
    return f"{source}: " if source else ""


def _sample(keys: Sequence[str], n: int = 5) -> str:
    shown = ", ".join(keys[:n])
    return shown + (f" and {len(keys) - n} more" if len(keys) > n else "")
