"""Polygons as flat ring arrays: the vectorised form every mesh step works on.

Shapely geometries are unpacked once into one coordinate array plus a few index arrays
(:class:`Rings`), so that orientation, wall quads and triangulation run as numpy operations over
all buildings at once instead of a Python loop over shapely objects.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import shapely

log = logging.getLogger(__name__)

#: Two consecutive vertices closer than this (metres, per axis) are merged.
DUPLICATE_TOLERANCE = 1e-6

_POLYGON = 3
_MULTIPOLYGON = 6


@dataclass
class Rings:
    """Polygon rings as flat arrays (no closing vertex, no repeated consecutive vertices).

    The rings of one polygon are contiguous, exterior first; the vertices of one ring are
    contiguous and in ring order.

    Attributes
    ----------
    coords : numpy.ndarray
        ``(n_vertices, 2 or 3)`` float64 coordinates.
    start : numpy.ndarray
        ``(n_rings,)`` index of each ring's first vertex in :attr:`coords`.
    length : numpy.ndarray
        ``(n_rings,)`` number of vertices of each ring (at least 3).
    poly : numpy.ndarray
        ``(n_rings,)`` polygon index of each ring.
    exterior : numpy.ndarray
        ``(n_rings,)`` True for the exterior ring of its polygon.
    poly_row : numpy.ndarray
        ``(n_polygons,)`` the input row each polygon came from.
    """

    coords: np.ndarray
    start: np.ndarray
    length: np.ndarray
    poly: np.ndarray
    exterior: np.ndarray
    poly_row: np.ndarray

    @property
    def n_vertices(self) -> int:
        """Number of vertices."""
        return len(self.coords)

    @property
    def n_polygons(self) -> int:
        """Number of polygons."""
        return len(self.poly_row)

    def vertex_ring(self) -> np.ndarray:
        """Ring index of every vertex."""
        return np.repeat(np.arange(len(self.start)), self.length)

    def next_vertex(self) -> np.ndarray:
        """Index of the following vertex in the same ring (wrapping to the ring's start)."""
        nxt = np.arange(1, self.n_vertices + 1)
        if len(self.start):
            last = self.start + self.length - 1
            nxt[last] = self.start
        return nxt


def empty_rings(dim: int = 2) -> Rings:
    """Return a :class:`Rings` without any polygon."""
    i = np.zeros(0, dtype=np.int64)
    return Rings(np.zeros((0, dim)), i, i, i, np.zeros(0, dtype=bool), i)


def polygon_rings(
    geoms: np.ndarray, rows: np.ndarray, *, include_z: bool = False, orient: bool = True
) -> Rings:
    """Unpack Polygons and MultiPolygons into flat ring arrays.

    Parameters
    ----------
    geoms : numpy.ndarray
        Object array of shapely geometries; None, empty and non-polygonal ones are skipped.
    rows : numpy.ndarray
        Row number of each geometry, carried into :attr:`Rings.poly_row`.
    include_z : bool
        Keep the z coordinate (3D surfaces). Orientation is then left as given.
    orient : bool
        For 2D rings: make exteriors counter-clockwise and holes clockwise, so that walls
        built along the ring direction face outward.

    Returns
    -------
    Rings
        Degenerate rings (fewer than 3 distinct vertices) are dropped, and with an
        exterior its whole polygon.
    """
    dim = 3 if include_z else 2
    geoms = np.asarray(geoms, dtype=object)
    rows = np.asarray(rows, dtype=np.int64)
    if not len(geoms):
        return empty_rings(dim)
    type_id = shapely.get_type_id(geoms)
    is_poly = type_id == _POLYGON
    is_multi = type_id == _MULTIPOLYGON
    other = ~(is_poly | is_multi) & (type_id >= 0)
    if other.any():
        log.warning("skipping %d non-polygonal geometries", int(other.sum()))
    polys = geoms[is_poly]
    poly_row = rows[is_poly]
    if is_multi.any():
        parts, idx = shapely.get_parts(geoms[is_multi], return_index=True)
        polys = np.concatenate([polys, parts])
        poly_row = np.concatenate([poly_row, rows[is_multi][idx]])
    keep = ~shapely.is_empty(polys)
    polys, poly_row = polys[keep], poly_row[keep]
    if not len(polys):
        return empty_rings(dim)

    # Hole-free polygons (the common case) go straight to their coordinates; polygons with
    # holes are split into rings first. Both end as closed rings, one after another.
    holed = shapely.get_num_interior_rings(polys) > 0
    simple = np.flatnonzero(~holed)
    coords_a, ring_a = shapely.get_coordinates(
        polys[simple], include_z=include_z, return_index=True
    )
    ring_poly = [simple]
    ring_ext = [np.ones(len(simple), dtype=bool)]
    coords = [coords_a]
    ring_of_coord = [ring_a]
    if holed.any():
        hidx = np.flatnonzero(holed)
        rings, rpoly = shapely.get_rings(polys[hidx], return_index=True)
        coords_b, ring_b = shapely.get_coordinates(rings, include_z=include_z, return_index=True)
        first = np.ones(len(rpoly), dtype=bool)
        first[1:] = rpoly[1:] != rpoly[:-1]
        ring_poly.append(hidx[rpoly])
        ring_ext.append(first)
        coords.append(coords_b)
        ring_of_coord.append(ring_b + len(simple))
    xyz = np.concatenate(coords)
    ring = np.concatenate(ring_of_coord)
    rpoly = np.concatenate(ring_poly)
    rext = np.concatenate(ring_ext)
    if include_z and np.isnan(xyz[:, 2]).any():
        xyz[:, 2] = np.nan_to_num(xyz[:, 2])

    # Drop the closing vertex and repeated consecutive vertices (a vertex equal to its
    # successor; the closing vertex equals the first, so this also wraps around).
    n = len(xyz)
    same_next = np.zeros(n, dtype=bool)
    same_next[:-1] = (ring[1:] == ring[:-1]) & np.all(
        np.abs(xyz[1:] - xyz[:-1]) <= DUPLICATE_TOLERANCE, axis=1
    )
    last = np.ones(n, dtype=bool)
    last[:-1] = ring[1:] != ring[:-1]
    keep = ~(same_next | last)
    xyz, ring = xyz[keep], ring[keep]
    n_rings = len(rpoly)
    length = np.bincount(ring, minlength=n_rings)
    # Earcut silently skips collinear vertices; the walls would still use them and the
    # surface would get T-junctions (open edges). Remove them from footprints first: the
    # shape is unchanged. (3D surfaces keep theirs: a neighbouring surface may have a
    # corner there; triangulate() closes what earcut skips.)
    for _ in range(0 if include_z else 3):
        drop = _collinear(xyz, ring, length)
        if not drop.any():
            break
        xyz, ring = xyz[~drop], ring[~drop]
        length = np.bincount(ring, minlength=n_rings)

    # Degenerate rings and polygons whose exterior is degenerate.
    ok_ring = length >= 3
    bad_poly = np.zeros(len(polys), dtype=bool)
    bad_poly[rpoly[rext & ~ok_ring]] = True
    area = None
    if orient and not include_z:
        area = _signed_areas(xyz, ring, length)
        bad_poly[rpoly[rext & (np.abs(area) <= 1e-12)]] = True
    ok_ring &= ~bad_poly[rpoly]
    if not ok_ring.all():
        log.debug("dropping %d degenerate rings", int((~ok_ring).sum()))
        keep_v = ok_ring[ring]
        xyz = xyz[keep_v]
        new_id = np.cumsum(ok_ring) - 1
        ring = new_id[ring[keep_v]]
        rpoly, rext, length = rpoly[ok_ring], rext[ok_ring], length[ok_ring]
        if area is not None:
            area = area[ok_ring]

    # Renumber polygons densely in order of appearance (the rings of a polygon are
    # contiguous, exterior first).
    first = np.ones(len(rpoly), dtype=bool)
    first[1:] = rpoly[1:] != rpoly[:-1]
    poly_row = poly_row[rpoly[first]]
    rpoly = np.cumsum(first) - 1
    start = np.zeros(len(length), dtype=np.int64)
    np.cumsum(length[:-1], out=start[1:])
    rings_out = Rings(xyz, start, length.astype(np.int64), rpoly, rext, poly_row)
    if area is not None:
        _orient(rings_out, area)
    return rings_out


def _collinear(xyz: np.ndarray, ring: np.ndarray, length: np.ndarray) -> np.ndarray:
    """Mask of vertices to drop: repeats of their successor, and vertices on a straight line
    through their neighbours (including the tip of a zero-width spike).

    Removing a spike tip can leave its two neighbours equal; calling again removes the repeat
    (and keeps one copy), so callers iterate until nothing is left to drop.

    Parameters
    ----------
    xyz : numpy.ndarray
        Vertices of contiguous rings (2D or 3D), no closing vertex.
    ring : numpy.ndarray
        Ring index of each vertex.
    length : numpy.ndarray
        Vertex count of each ring.
    """
    n = len(xyz)
    if n == 0:
        return np.zeros(0, dtype=bool)
    start = np.zeros(len(length), dtype=np.int64)
    np.cumsum(length[:-1], out=start[1:])
    idx = np.arange(n)
    first = start[ring]
    pos = idx - first
    nxt = np.where(pos + 1 == length[ring], first, idx + 1)
    prv = np.where(pos == 0, first + length[ring] - 1, idx - 1)
    d1 = xyz - xyz[prv]
    d2 = xyz[nxt] - xyz
    big = length[ring] > 3  # smaller rings are left to the degenerate-ring check
    repeat = np.all(np.abs(d2) <= DUPLICATE_TOLERANCE, axis=1) & big
    if repeat.any():
        return repeat
    if xyz.shape[1] == 2:
        cross2 = (d1[:, 0] * d2[:, 1] - d1[:, 1] * d2[:, 0]) ** 2
    else:
        c = np.cross(d1, d2)
        cross2 = np.einsum("ij,ij->i", c, c)
    scale2 = np.einsum("ij,ij->i", d1, d1) * np.einsum("ij,ij->i", d2, d2)
    # |sin(angle)| below 1e-9: at most a nanometre off per metre of edge.
    # A vertex in the middle of a straight run, or a spike's tip: removing all of them at
    # once is safe, the remaining outline covers the same area.
    return (cross2 <= 1e-18 * scale2) & big


def _signed_areas(xy: np.ndarray, ring: np.ndarray, length: np.ndarray) -> np.ndarray:
    """Shoelace area of every ring (positive when counter-clockwise)."""
    if not len(xy):
        return np.zeros(len(length))
    start = np.zeros(len(length), dtype=np.int64)
    np.cumsum(length[:-1], out=start[1:])
    nxt = np.arange(1, len(xy) + 1)
    nonempty = length > 0
    nxt[(start + length - 1)[nonempty]] = start[nonempty]
    # Centre each ring on its first vertex to keep the products small and exact.
    base = xy[start[ring], :2]
    p = xy[:, :2] - base
    q = xy[nxt, :2] - base
    cross = p[:, 0] * q[:, 1] - q[:, 0] * p[:, 1]
    return 0.5 * np.bincount(ring, weights=cross, minlength=len(length))


def _orient(rings: Rings, area: np.ndarray) -> None:
    """Make exteriors counter-clockwise and holes clockwise, in place (``area``: signed)."""
    flip = np.where(rings.exterior, area < 0, area > 0)
    if not flip.any():
        return
    ring = rings.vertex_ring()
    pos = np.arange(rings.n_vertices) - rings.start[ring]
    rev = rings.start[ring] + rings.length[ring] - 1 - pos
    idx = np.where(flip[ring], rev, np.arange(rings.n_vertices))
    rings.coords = rings.coords[idx]
