"""Boundary surfaces of 3D building models (CityGML, CityJSON): vectorised analyses.

The polygons of a whole file arrive as one :class:`~twin.geodata.surface_arrays.SurfaceBatch`
(built by a :class:`~twin.geodata.surface_arrays.SurfaceBuilder`, both re-exported here).
Everything here runs vectorised over all of them: normals (Newell's method), classification
of polygons without semantics, the prism test of LoD1 solids, 2D footprints and the packing
of the surfaces into the City's ``surfaces`` (WKB of a MultiPolygon Z) and ``surface_types``
columns.

Surface codes are the City's: ``G`` ground, ``W`` wall, ``R`` roof, ``O`` other; ``?`` marks
a polygon without semantics, classified by :func:`classify`.
"""

from __future__ import annotations

import logging

import numpy as np
import shapely
from shapely import GeometryType

from twin.geodata.geometry import polygonal_array
from twin.geodata.surface_arrays import UNKNOWN, SurfaceBatch, SurfaceBuilder, ragged_take

__all__ = [
    "PRISM_TOLERANCE",
    "UNKNOWN",
    "WALL_NZ",
    "SurfaceBatch",
    "SurfaceBuilder",
    "classify",
    "footprints",
    "normals",
    "pack",
    "prism_rows",
]

log = logging.getLogger(__name__)

#: |n_z| below which a polygon counts as a wall (about 6° from vertical).
WALL_NZ = 0.1

#: Tolerance (metres) of the prism test: every vertex lies at the bottom or the top.
PRISM_TOLERANCE = 0.05


def normals(batch: SurfaceBatch) -> tuple[np.ndarray, np.ndarray]:
    """Return unit normals and areas of all polygons (Newell's method on the exterior rings).

    Parameters
    ----------
    batch : SurfaceBatch
        The polygons.

    Returns
    -------
    normal : numpy.ndarray
        ``(n_polygons, 3)`` unit normals (zeros for degenerate polygons). The direction
        follows the ring orientation: CityGML and CityJSON order rings counter-clockwise
        seen from outside, so normals point outwards.
    area : numpy.ndarray
        ``(n_polygons,)`` area of the exterior ring.
    """
    ext = batch.poly_offsets[:-1]
    start = batch.ring_offsets[ext]
    count = batch.ring_offsets[ext + 1] - start
    vidx, voff = ragged_take(batch.ring_offsets, ext)
    if len(vidx) == 0:
        return np.zeros((batch.n_polygons, 3)), np.zeros(batch.n_polygons)
    p = batch.xyz[vidx]
    # Centre each ring on its first vertex: keeps precision with UTM coordinates.
    p = p - np.repeat(batch.xyz[start], count, axis=0)
    a, b = p[:-1], p[1:]
    terms = np.stack(
        [
            (a[:, 1] - b[:, 1]) * (a[:, 2] + b[:, 2]),
            (a[:, 2] - b[:, 2]) * (a[:, 0] + b[:, 0]),
            (a[:, 0] - b[:, 0]) * (a[:, 1] + b[:, 1]),
        ],
        axis=1,
    )
    # The pair from one ring's last vertex to the next ring's first is not an edge.
    terms[voff[1:-1] - 1] = 0.0
    summed = np.add.reduceat(terms, voff[:-1], axis=0)
    length = np.linalg.norm(summed, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        unit = np.where(length[:, None] > 0, summed / length[:, None], 0.0)
    return unit, length / 2.0


def classify(batch: SurfaceBatch, zmin: np.ndarray, zmax: np.ndarray) -> np.ndarray:
    """Return the surface codes with unknown (``?``) polygons classified by their normal.

    Near-vertical polygons (``|n_z| < 0.1``) are walls, upward-facing ones roofs,
    downward-facing ones ground when their lowest point lies in the bottom fifth of the
    row's height range, else ``O`` (the underside of an overhang or a passage).

    Parameters
    ----------
    batch : SurfaceBatch
        The polygons.
    zmin, zmax : numpy.ndarray
        Lowest and highest z of every row (:meth:`SurfaceBatch.z_range`).

    Returns
    -------
    numpy.ndarray
        ``(n_polygons,)`` codes, no ``?`` left.
    """
    types = batch.poly_type.copy()
    unknown = types == UNKNOWN
    if not unknown.any():
        return types
    unit, _ = normals(batch)
    nz = unit[:, 2]
    vrow_start = batch.ring_offsets[batch.poly_offsets[:-1]]
    vrow_end = batch.ring_offsets[batch.poly_offsets[1:]]
    pmin = np.minimum.reduceat(batch.xyz[:, 2], vrow_start) if len(vrow_start) else nz
    pmin = np.where(vrow_end > vrow_start, pmin, np.nan)
    rows = batch.poly_row
    low = pmin <= zmin[rows] + 0.2 * (zmax[rows] - zmin[rows]) + 1e-6
    kind = np.where(np.abs(nz) < WALL_NZ, "W", np.where(nz > 0, "R", np.where(low, "G", "O")))
    types[unknown] = kind[unknown]
    return types


def prism_rows(batch: SurfaceBatch, zmin: np.ndarray, zmax: np.ndarray) -> np.ndarray:
    """Return, for every row, whether all its vertices lie at its bottom or its top.

    Such a solid is reproduced exactly by extruding its footprint, so an importer can drop
    its surfaces and keep footprint + height.

    Parameters
    ----------
    batch : SurfaceBatch
        The polygons.
    zmin, zmax : numpy.ndarray
        Per-row z range.

    Returns
    -------
    numpy.ndarray
        ``(n_rows,)`` booleans (False for rows without polygons).
    """
    rows = batch.vertex_row()
    z = batch.xyz[:, 2]
    off = (np.abs(z - zmin[rows]) > PRISM_TOLERANCE) & (np.abs(z - zmax[rows]) > PRISM_TOLERANCE)
    bad = np.bincount(rows, weights=off, minlength=batch.n_rows) > 0
    return ~bad & (batch.polys_per_row() > 0)


def footprints(batch: SurfaceBatch, types: np.ndarray, *, label: str = "") -> np.ndarray:
    """Return the 2D footprint of every row.

    The footprint is the union of the row's ground polygons projected to 2D. Rows without
    ground polygons use their downward-facing polygons, then their upward-facing ones (a
    closed solid projects onto the same area either way), then all polygons.

    Parameters
    ----------
    batch : SurfaceBatch
        The polygons.
    types : numpy.ndarray
        Their codes after :func:`classify`.
    label : str, optional
        The file, for the log message that counts polygons repaired with ``make_valid``.

    Returns
    -------
    numpy.ndarray
        ``(n_rows,)`` object array of Polygon/MultiPolygon, or None where nothing is left.
    """
    out = np.full(batch.n_rows, None, dtype=object)
    if batch.n_polygons == 0:
        return out
    unit, area = normals(batch)
    nz = unit[:, 2]
    flat_enough = (np.abs(nz) >= 1e-6) & (area > 0)
    rows = batch.poly_row
    choice = np.zeros(batch.n_polygons, dtype=bool)
    # Candidate sets in order of preference; a row takes the first non-empty one.
    candidates = [types == "G", flat_enough & (nz < 0), flat_enough & (nz > 0), flat_enough]
    settled = np.zeros(batch.n_rows, dtype=bool)
    for cand in candidates:
        have = np.bincount(rows[cand], minlength=batch.n_rows) > 0
        take = have & ~settled
        choice |= cand & take[rows]
        settled |= take
    polys = np.flatnonzero(choice)
    if not len(polys):
        return out
    sub = batch.subset(polys)
    flat = shapely.from_ragged_array(
        GeometryType.POLYGON, sub.xyz[:, :2].copy(), (sub.ring_offsets, sub.poly_offsets)
    )
    invalid = ~shapely.is_valid(flat)
    if invalid.any():
        flat[invalid] = shapely.make_valid(flat[invalid])
        log.info(
            "%s%d footprint polygons were invalid in plan (self-intersecting or "
            "vertical); repaired with make_valid",
            f"{label}: " if label else "",
            int(invalid.sum()),
        )
    counts = np.bincount(sub.poly_row, minlength=batch.n_rows)
    starts = np.concatenate([[0], np.cumsum(counts)])
    single = np.flatnonzero(counts == 1)
    out[single] = flat[starts[single]]
    areas = shapely.area(flat)
    for r in np.flatnonzero(counts > 1):
        out[r] = _union(flat[starts[r] : starts[r + 1]], areas[starts[r] : starts[r + 1]])
    return polygonal_array(out)


def _union(parts: np.ndarray, areas: np.ndarray) -> shapely.Geometry:
    """Union polygons; fast path for edge-matched coverages (triangulations, LoD2 grounds).

    ``coverage_union_all`` is much faster than ``union_all`` but only correct when the
    parts do not overlap; its result is checked (valid, area equal to the sum of the
    parts) and the general union is used otherwise.
    """
    total = float(areas.sum())
    try:
        merged = shapely.coverage_union_all(parts)
        if merged.is_valid and abs(merged.area - total) <= 1e-6 * max(total, 1.0):
            return merged
    except shapely.errors.GEOSException:
        pass
    return shapely.union_all(parts)


def pack(batch: SurfaceBatch, types: np.ndarray, rows: np.ndarray) -> tuple[list, list]:
    """Pack the polygons of the selected rows into WKB MultiPolygon Z + type strings.

    Parameters
    ----------
    batch : SurfaceBatch
        The polygons (absolute coordinates in the target CRS).
    types : numpy.ndarray
        Their codes after :func:`classify`.
    rows : numpy.ndarray
        Boolean mask ``(n_rows,)`` of rows whose surfaces are kept.

    Returns
    -------
    surfaces : list
        ``(n_rows,)`` WKB bytes, None for rows not selected or without polygons.
    surface_types : list
        ``(n_rows,)`` strings with one code per polygon, or None.
    """
    surfaces: list = [None] * batch.n_rows
    codes: list = [None] * batch.n_rows
    polys = np.flatnonzero(rows[batch.poly_row])
    if not len(polys):
        return surfaces, codes
    sub = batch.subset(polys)
    counts = np.bincount(sub.poly_row, minlength=batch.n_rows)
    row_offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    multi = shapely.from_ragged_array(
        GeometryType.MULTIPOLYGON, sub.xyz, (sub.ring_offsets, sub.poly_offsets, row_offsets)
    )
    wkb = shapely.to_wkb(multi, output_dimension=3)
    sub_types = types[polys]
    for r in np.flatnonzero(counts):
        surfaces[r] = wkb[r]
        codes[r] = "".join(sub_types[row_offsets[r] : row_offsets[r + 1]])
    return surfaces, codes
