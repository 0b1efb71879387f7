"""Triangulating many planar polygons at once.

Convex polygons without holes (most building footprints and LoD2 walls) are fanned with numpy
in one step; the rest go through mapbox-earcut one polygon per call, which handles holes and
concave outlines. Every triangle comes out counter-clockwise in the given 2D coordinates.
"""

from __future__ import annotations

import logging

import mapbox_earcut
import numpy as np

from twin.mesh.rings import Rings

log = logging.getLogger(__name__)


def triangulate(rings: Rings, xy: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Triangulate every polygon of ``rings``.

    Parameters
    ----------
    rings : Rings
        The polygons; exteriors should be counter-clockwise in ``xy`` (holes may run
        either way).
    xy : numpy.ndarray, optional
        ``(n_vertices, 2)`` planar coordinates of the vertices; defaults to the first two
        columns of ``rings.coords``.

    Returns
    -------
    triangles : numpy.ndarray
        ``(n_triangles, 3)`` int64 vertex indices into ``rings.coords``, counter-clockwise
        in ``xy``.
    polygon : numpy.ndarray
        ``(n_triangles,)`` int64 polygon index of each triangle.

    Examples
    --------
    >>> import numpy as np, shapely
    >>> from twin.mesh.rings import polygon_rings
    >>> rings = polygon_rings(np.array([shapely.box(0, 0, 2, 1)]), np.array([0]))
    >>> triangulate(rings)[0].shape
    (2, 3)
    """
    if xy is None:
        xy = rings.coords[:, :2]
    xy = np.ascontiguousarray(xy, dtype=np.float64)
    n_poly = rings.n_polygons
    if n_poly == 0:
        return np.zeros((0, 3), dtype=np.int64), np.zeros(0, dtype=np.int64)
    rings_per_poly = np.bincount(rings.poly, minlength=n_poly)
    ext = np.flatnonzero(rings.exterior)  # one exterior ring per polygon, in polygon order
    convex = (rings_per_poly == 1) & _convex(rings, xy)[ext]

    tris_fan, poly_fan = _fan(rings, ext[convex])
    tris_ec, poly_ec = _earcut(rings, xy, np.flatnonzero(~convex))
    # Fans of counter-clockwise convex rings are counter-clockwise; earcut's winding is
    # not part of its contract, so check and flip those.
    if len(tris_ec):
        a, b, c = xy[tris_ec[:, 0]], xy[tris_ec[:, 1]], xy[tris_ec[:, 2]]
        cross = (b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (
            c[:, 0] - a[:, 0]
        )
        flip = cross < 0
        if flip.any():
            tris_ec[flip] = tris_ec[flip][:, ::-1]
    tris_fix, poly_fix = _close_skipped(rings, tris_ec, np.flatnonzero(~convex))
    if len(tris_fix):
        tris_ec = np.concatenate([tris_ec, tris_fix])
        poly_ec = np.concatenate([poly_ec, poly_fix])
    if not len(tris_ec):
        tris, poly = tris_fan, poly_fan
    else:
        tris = np.concatenate([tris_fan, tris_ec])
        poly = np.concatenate([poly_fan, poly_ec])
    log.debug("triangulated %d polygons, %d of them by earcut", n_poly, int((~convex).sum()))
    return tris, poly


def _close_skipped(
    rings: Rings, tris: np.ndarray, polys: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Fill the T-junctions left where earcut skipped a (collinear) ring vertex.

    Earcut drops collinear vertices of rings it merges (holes); an adjacent wall or surface
    still uses them, which leaves open edges. For each run of skipped vertices ``u1..um``
    between the used vertices ``p`` and ``q``, add the zero-area fan
    ``(p, u1, u2) ... (p, um, q)``: it shares every edge with its neighbours, so the surface
    stays closed and consistently oriented.
    """
    empty = (np.zeros((0, 3), dtype=np.int64), np.zeros(0, dtype=np.int64))
    if not len(polys):
        return empty
    in_poly = np.zeros(rings.n_polygons, dtype=bool)
    in_poly[polys] = True
    ring = rings.vertex_ring()
    used = np.zeros(rings.n_vertices, dtype=bool)
    used[tris.ravel()] = True
    skipped = np.flatnonzero(in_poly[rings.poly[ring]] & ~used)
    if not len(skipped):
        return empty
    nxt = rings.next_vertex()
    prev = np.empty_like(nxt)
    prev[nxt] = np.arange(len(nxt))
    out = []
    poly = []
    for u in skipped.tolist():  # rare: only where earcut dropped something
        p = prev[u]
        steps = 0
        while not used[p] and steps < rings.length[ring[u]]:
            p = prev[p]
            steps += 1
        if not used[p]:
            continue  # the whole ring was skipped (degenerate): nothing to close
        out.append((p, u, nxt[u]))
        poly.append(rings.poly[ring[u]])
    log.debug("closed %d vertices skipped by earcut", len(out))
    if not out:
        return empty
    return np.asarray(out, dtype=np.int64), np.asarray(poly, dtype=np.int64)


def _convex(rings: Rings, xy: np.ndarray) -> np.ndarray:
    """Per ring: True when every turn is strictly to the left (convex, counter-clockwise)."""
    nxt = rings.next_vertex()
    prev = np.empty_like(nxt)
    prev[nxt] = np.arange(len(nxt))
    d1 = xy - xy[prev]
    d2 = xy[nxt] - xy
    cross = d1[:, 0] * d2[:, 1] - d1[:, 1] * d2[:, 0]
    # Minimum turn per ring: rings are contiguous, so reduceat over their starts works.
    return np.minimum.reduceat(cross, rings.start) > 0


def _fan(rings: Rings, ring_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Fan triangulation (first vertex to every other edge) of convex rings."""
    n_tri = rings.length[ring_ids] - 2
    total = int(n_tri.sum())
    starts = np.repeat(rings.start[ring_ids], n_tri)
    k = np.arange(total) - np.repeat(np.cumsum(n_tri) - n_tri, n_tri) + 1
    tris = np.empty((total, 3), dtype=np.int64)
    tris[:, 0] = starts
    tris[:, 1] = starts + k
    tris[:, 2] = starts + k + 1
    return tris, np.repeat(rings.poly[ring_ids], n_tri)


def _earcut(rings: Rings, xy: np.ndarray, polys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Earcut each polygon in ``polys`` (one call per polygon)."""
    if not len(polys):
        return np.zeros((0, 3), dtype=np.int64), np.zeros(0, dtype=np.int64)
    # First ring and ring count of each polygon (rings of a polygon are contiguous).
    first_ring = np.searchsorted(rings.poly, polys, side="left")
    n_rings = np.searchsorted(rings.poly, polys, side="right") - first_ring
    v0 = rings.start[first_ring]
    ring_end = (rings.start + rings.length).astype(np.uint32)  # absolute end of each ring
    earcut = mapbox_earcut.triangulate_float64
    single: dict[int, np.ndarray] = {}  # ring-end arrays of one-ring polygons, by length
    out: list[np.ndarray] = []
    for r0, nr, s in zip(first_ring.tolist(), n_rings.tolist(), v0.tolist(), strict=True):
        if nr == 1:
            n = int(rings.length[r0])
            ends = single.get(n)
            if ends is None:
                ends = single[n] = np.array([n], dtype=np.uint32)
        else:
            ends = ring_end[r0 : r0 + nr] - np.uint32(s)
        out.append(earcut(xy[s : s + int(ends[-1])], ends))
    counts = np.fromiter((len(t) for t in out), dtype=np.int64, count=len(out)) // 3
    tris = np.concatenate(out).astype(np.int64).reshape(-1, 3)
    tris += np.repeat(v0, counts)[:, None]
    return tris, np.repeat(polys, counts)
