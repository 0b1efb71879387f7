"""Boundary surfaces of 3D building models (CityGML, CityJSON), handled as flat arrays.

An importer feeds every polygon it reads to a :class:`SurfaceBuilder` (row index, rings,
semantic code); :meth:`SurfaceBuilder.build` turns them into one :class:`SurfaceBatch` of
flat numpy arrays. Everything after that runs vectorised over all polygons of the file:
normals (Newell's method), classification of polygons without semantics, the z range of
each row, the prism test of LoD1 solids, 2D footprints and the packing of the surfaces into
the City's ``surfaces`` (WKB of a MultiPolygon Z) and ``surface_types`` columns.

Surface codes are the City's: ``G`` ground, ``W`` wall, ``R`` roof, ``O`` other; ``?`` marks
a polygon without semantics, classified by :func:`classify`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import shapely
from shapely import GeometryType

log = logging.getLogger(__name__)

#: Code of a polygon whose semantic type is unknown (classified from its normal).
UNKNOWN = "?"

#: |n_z| below which a polygon counts as a wall (about 6° from vertical).
WALL_NZ = 0.1

#: Tolerance (metres) of the prism test: every vertex lies at the bottom or the top.
PRISM_TOLERANCE = 0.05


@dataclass
class SurfaceBatch:
    """Polygons of many rows as flat arrays, grouped by row.

    Attributes
    ----------
    xyz : numpy.ndarray
        ``(n_vertices, 3)`` coordinates; every ring is closed (last vertex = first).
    ring_offsets : numpy.ndarray
        ``(n_rings + 1,)`` start of each ring in ``xyz``.
    poly_offsets : numpy.ndarray
        ``(n_polygons + 1,)`` start of each polygon in the rings; its first ring is the
        exterior.
    poly_row : numpy.ndarray
        ``(n_polygons,)`` row of each polygon, non-decreasing.
    poly_type : numpy.ndarray
        ``(n_polygons,)`` one-character codes (``G``, ``W``, ``R``, ``O`` or ``?``).
    n_rows : int
        Number of rows (some may have no polygon).
    """

    xyz: np.ndarray
    ring_offsets: np.ndarray
    poly_offsets: np.ndarray
    poly_row: np.ndarray
    poly_type: np.ndarray
    n_rows: int

    @property
    def n_polygons(self) -> int:
        """Number of polygons."""
        return len(self.poly_row)

    def vertex_row(self) -> np.ndarray:
        """Return the row of every vertex, shape ``(n_vertices,)``."""
        starts = self.ring_offsets[self.poly_offsets]
        return np.repeat(self.poly_row, np.diff(starts))

    def polys_per_row(self) -> np.ndarray:
        """Return the number of polygons of every row, shape ``(n_rows,)``."""
        return np.bincount(self.poly_row, minlength=self.n_rows)

    def z_range(self) -> tuple[np.ndarray, np.ndarray]:
        """Return the lowest and highest z of every row (NaN for rows without polygons)."""
        rows = self.vertex_row()
        z = self.xyz[:, 2]
        zmin = np.full(self.n_rows, np.inf)
        zmax = np.full(self.n_rows, -np.inf)
        np.minimum.at(zmin, rows, z)
        np.maximum.at(zmax, rows, z)
        empty = self.polys_per_row() == 0
        zmin[empty] = np.nan
        zmax[empty] = np.nan
        return zmin, zmax

    def subset(self, polys: np.ndarray) -> SurfaceBatch:
        """Return a batch of the selected polygons (indices, increasing)."""
        ring_idx, poly_offsets = _ragged_take(self.poly_offsets, polys)
        vert_idx, ring_offsets = _ragged_take(self.ring_offsets, ring_idx)
        return SurfaceBatch(
            xyz=self.xyz[vert_idx],
            ring_offsets=ring_offsets,
            poly_offsets=poly_offsets,
            poly_row=self.poly_row[polys],
            poly_type=self.poly_type[polys],
            n_rows=self.n_rows,
        )


@dataclass
class SurfaceBuilder:
    """Collect polygons row by row, then :meth:`build` one :class:`SurfaceBatch`.

    Polygons come in one of two ways: as coordinates (:meth:`add_polygon` one at a time,
    :meth:`add_block` many at once, as the CityGML reader does) or as vertex indices into
    registered vertex blocks (:meth:`add_vertices` + :meth:`add_indexed`, CityJSON). Rings
    are closed and degenerate ones dropped in :meth:`build`, vectorised.

    Examples
    --------
    >>> import numpy as np
    >>> b = SurfaceBuilder()
    >>> b.add_polygon(0, [np.array([[0, 0, 0], [4, 0, 0], [4, 3, 0]], float)], "G")
    True
    >>> b.build(n_rows=1).n_polygons
    1
    """

    rings_per_poly: list[int] = field(default_factory=list)
    poly_row: list[int] = field(default_factory=list)
    poly_type: list[str] = field(default_factory=list)
    #: Polygons dropped because their exterior ring had fewer than 3 distinct points
    #: (complete after :meth:`build`).
    dropped: int = 0
    # Coordinate mode: chunks of (xyz, ring lengths) in polygon order.
    chunks: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)
    # Indexed mode (CityJSON): vertex blocks plus flat vertex indices of closed rings.
    blocks: list[np.ndarray] = field(default_factory=list)
    n_block_vertices: int = 0
    index: list[int] = field(default_factory=list)
    ring_len: list[int] = field(default_factory=list)

    def add_vertices(self, vertices: np.ndarray) -> int:
        """Register a block of vertices for :meth:`add_indexed`; return its base index.

        Parameters
        ----------
        vertices : numpy.ndarray
            ``(n, 3)`` coordinates (e.g. the decoded ``vertices`` of a CityJSON feature).
        """
        base = self.n_block_vertices
        self.blocks.append(np.asarray(vertices, dtype=np.float64).reshape(-1, 3))
        self.n_block_vertices += len(self.blocks[-1])
        return base

    def add_indexed(
        self, row: int, rings: Sequence[Sequence[int]], kind: str = UNKNOWN, base: int = 0
    ) -> bool:
        """Add one polygon given as vertex indices into the last registered block.

        Parameters
        ----------
        row : int
            Row the polygon belongs to.
        rings : sequence of sequence of int
            Exterior ring first, then holes; open (CityJSON) or closed.
        kind : str
            Surface code.
        base : int
            Base index of the vertex block (:meth:`add_vertices`).

        Returns
        -------
        bool
            False when the polygon was degenerate and dropped.

        Raises
        ------
        IndexError
            If an index lies outside the block.
        """
        if self.chunks:
            raise RuntimeError("a SurfaceBuilder takes coordinate or indexed rings, not both")
        limit = self.n_block_vertices - base
        n_rings = 0
        for i, ring in enumerate(rings):
            if len(ring) < 3:
                if i == 0:
                    self.dropped += 1
                    return False
                continue
            if min(ring) < 0 or max(ring) >= limit:
                raise IndexError(f"vertex index {max(ring)} out of range (0..{limit - 1})")
            closed = list(ring) if ring[0] == ring[-1] else [*ring, ring[0]]
            if len(closed) < 4:
                if i == 0:
                    self.dropped += 1
                    return False
                continue
            self.index.extend(closed if base == 0 else [v + base for v in closed])
            self.ring_len.append(len(closed))
            n_rings += 1
        self.rings_per_poly.append(n_rings)
        self.poly_row.append(row)
        self.poly_type.append(kind)
        return True

    def add_polygon(self, row: int, rings: Sequence[np.ndarray], kind: str = UNKNOWN) -> bool:
        """Add one polygon given by coordinates.

        Parameters
        ----------
        row : int
            Row (building or part) the polygon belongs to.
        rings : sequence of numpy.ndarray
            Exterior ring first, then holes; each ``(k, 3)``, closed or open.
        kind : str
            Surface code ``G``, ``W``, ``R``, ``O`` or ``?`` (unknown).

        Returns
        -------
        bool
            False when the exterior ring has fewer than 3 points (the polygon is dropped);
            subtler degeneracies are dropped by :meth:`build`.
        """
        if self.index:
            raise RuntimeError("a SurfaceBuilder takes coordinate or indexed rings, not both")
        arrays = [np.asarray(r, dtype=np.float64).reshape(-1, 3) for r in rings]
        if not arrays or len(arrays[0]) < 3:
            self.dropped += 1
            return False
        lengths = np.fromiter((len(a) for a in arrays), dtype=np.int64, count=len(arrays))
        self.chunks.append((np.concatenate(arrays) if len(arrays) > 1 else arrays[0], lengths))
        self.rings_per_poly.append(len(arrays))
        self.poly_row.append(row)
        self.poly_type.append(kind)
        return True

    def add_block(
        self,
        rows: Sequence[int],
        kinds: Sequence[str],
        rings_per_poly: Sequence[int],
        ring_len: np.ndarray,
        xyz: np.ndarray,
    ) -> None:
        """Add many polygons at once from flat arrays.

        Parameters
        ----------
        rows, kinds : sequence
            Row and surface code of every polygon.
        rings_per_poly : sequence of int
            Number of rings of every polygon (exterior first).
        ring_len : numpy.ndarray
            Number of vertices of every ring (closed or open).
        xyz : numpy.ndarray
            ``(sum(ring_len), 3)`` coordinates.
        """
        if self.index:
            raise RuntimeError("a SurfaceBuilder takes coordinate or indexed rings, not both")
        self.chunks.append((np.asarray(xyz, dtype=np.float64), np.asarray(ring_len, np.int64)))
        self.rings_per_poly.extend(rings_per_poly)
        self.poly_row.extend(rows)
        self.poly_type.extend(kinds)

    def build(self, n_rows: int) -> SurfaceBatch:
        """Return the collected polygons as a :class:`SurfaceBatch`, grouped by row.

        Parameters
        ----------
        n_rows : int
            Number of rows (at least one more than the largest row index used).
        """
        rows = np.asarray(self.poly_row, dtype=np.int64)
        types = np.asarray(self.poly_type, dtype="<U1")
        rpp = np.asarray(self.rings_per_poly, dtype=np.int64)
        if self.index:
            ring_len = np.asarray(self.ring_len, dtype=np.int64)
            xyz = np.concatenate(self.blocks)[np.asarray(self.index, dtype=np.int64)]
        elif self.chunks:
            xyz = np.concatenate([c[0] for c in self.chunks])
            ring_len = np.concatenate([c[1] for c in self.chunks])
            xyz, ring_len, rpp, keep = _close_rings(xyz, ring_len, rpp)
            self.dropped += int((~keep).sum())
            rows, types = rows[keep], types[keep]
        else:
            xyz, ring_len = np.empty((0, 3)), np.empty(0, dtype=np.int64)
            rows, types, rpp = rows[:0], types[:0], rpp[:0]
        batch = SurfaceBatch(
            xyz=np.asarray(xyz, dtype=np.float64),
            ring_offsets=np.concatenate([[0], np.cumsum(ring_len)]).astype(np.int64),
            poly_offsets=np.concatenate([[0], np.cumsum(rpp)]).astype(np.int64),
            poly_row=rows,
            poly_type=types,
            n_rows=n_rows,
        )
        if self.dropped:
            log.debug("dropped %d degenerate polygons", self.dropped)
        if len(batch.poly_row) and np.any(np.diff(batch.poly_row) < 0):
            batch = batch.subset(np.argsort(batch.poly_row, kind="stable"))
        return batch


def _close_rings(
    xyz: np.ndarray, ring_len: np.ndarray, rings_per_poly: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Close every ring and drop degenerate ones, vectorised.

    A ring needs 3 points besides its closing point; a polygon whose exterior fails is
    dropped, a failing hole is just removed.

    Returns
    -------
    xyz, ring_len, rings_per_poly : numpy.ndarray
        The kept rings, all closed.
    keep : numpy.ndarray
        ``(n_polygons,)`` which polygons were kept.
    """
    n_polys = len(rings_per_poly)
    if len(ring_len) == 0 or len(xyz) == 0:
        keep = np.zeros(n_polys, dtype=bool)
        return np.empty((0, 3)), np.empty(0, np.int64), np.empty(0, np.int64), keep
    starts = np.concatenate([[0], np.cumsum(ring_len)[:-1]]).astype(np.int64)
    safe_start = np.minimum(starts, len(xyz) - 1)
    last = np.clip(starts + ring_len - 1, 0, len(xyz) - 1)
    closed = (ring_len > 1) & np.all(xyz[safe_start] == xyz[last], axis=1)
    open_len = ring_len - closed  # vertices without the closing duplicate
    ring_ok = open_len >= 3
    ring_poly = np.repeat(np.arange(n_polys), rings_per_poly)
    first_ring = np.concatenate([[0], np.cumsum(rings_per_poly)[:-1]]).astype(np.int64)
    keep = (rings_per_poly > 0) & ring_ok[np.minimum(first_ring, len(ring_len) - 1)]
    kept_rings = ring_ok & keep[ring_poly]
    new_rpp = np.bincount(ring_poly[kept_rings], minlength=n_polys)[keep]
    r_start, r_open = starts[kept_rings], open_len[kept_rings]
    new_len = r_open + 1
    offsets = np.concatenate([[0], np.cumsum(new_len)]).astype(np.int64)
    local = np.arange(offsets[-1]) - np.repeat(offsets[:-1], new_len)
    idx = np.repeat(r_start, new_len) + np.where(local == np.repeat(r_open, new_len), 0, local)
    return xyz[idx], new_len, new_rpp, keep


def _ragged_take(offsets: np.ndarray, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Gather the items of ragged groups ``idx``: return item indices and new offsets."""
    idx = np.asarray(idx, dtype=np.int64)
    starts = offsets[idx]
    counts = offsets[idx + 1] - starts
    new_offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    if new_offsets[-1] == 0:
        return np.empty(0, dtype=np.int64), new_offsets
    items = np.arange(new_offsets[-1]) - np.repeat(new_offsets[:-1] - starts, counts)
    return items, new_offsets


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
    vidx, voff = _ragged_take(batch.ring_offsets, ext)
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


def footprints(batch: SurfaceBatch, types: np.ndarray) -> np.ndarray:
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
    counts = np.bincount(sub.poly_row, minlength=batch.n_rows)
    starts = np.concatenate([[0], np.cumsum(counts)])
    single = np.flatnonzero(counts == 1)
    out[single] = flat[starts[single]]
    areas = shapely.area(flat)
    for r in np.flatnonzero(counts > 1):
        out[r] = _union(flat[starts[r] : starts[r + 1]], areas[starts[r] : starts[r + 1]])
    return np.array([_polygonal(g) for g in out], dtype=object)


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


def _polygonal(geom: shapely.Geometry | None) -> shapely.Geometry | None:
    """Keep the polygonal part of ``geom`` (drop lines and points of a collection)."""
    if geom is None or geom.is_empty:
        return None
    kind = shapely.get_type_id(geom)
    if kind in (3, 6):  # Polygon, MultiPolygon
        return geom
    parts = [p for p in shapely.get_parts(geom) if shapely.get_type_id(p) in (3, 6)]
    parts = [q for p in parts for q in shapely.get_parts(p)]
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else shapely.MultiPolygon(parts)


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
