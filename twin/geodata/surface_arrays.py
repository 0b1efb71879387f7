"""Polygons of 3D building models collected into flat numpy arrays.

An importer feeds every polygon it reads to a :class:`SurfaceBuilder` (row index, rings,
semantic code); :meth:`SurfaceBuilder.build` turns them into one :class:`SurfaceBatch`:
coordinates, ring and polygon offsets, the row and the surface code of every polygon. The
analyses over a batch (normals, classification, footprints, packing) are in
:mod:`twin.geodata.surfaces`.

Surface codes are the City's: ``G`` ground, ``W`` wall, ``R`` roof, ``O`` other; ``?`` marks
a polygon without semantics, classified later from its normal.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

log = logging.getLogger(__name__)

#: Code of a polygon whose semantic type is unknown (classified from its normal).
UNKNOWN = "?"


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
        ring_idx, poly_offsets = ragged_take(self.poly_offsets, polys)
        vert_idx, ring_offsets = ragged_take(self.ring_offsets, ring_idx)
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

    def _mode(self, mode: str) -> None:
        """Refuse to mix coordinate and indexed polygons in one builder."""
        other = self.index if mode == "coordinate" else self.chunks
        if other:
            raise RuntimeError("a SurfaceBuilder takes coordinate or indexed rings, not both")

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
        self._mode("indexed")
        limit = self.n_block_vertices - base
        n_rings = 0
        for i, ring in enumerate(rings):
            closed = list(ring) if len(ring) and ring[0] == ring[-1] else [*ring, *ring[:1]]
            if len(closed) < 4:  # fewer than 3 distinct corners: a degenerate ring
                if i == 0:
                    self.dropped += 1
                    return False
                continue
            if min(ring) < 0 or max(ring) >= limit:
                raise IndexError(f"vertex index {max(ring)} out of range (0..{limit - 1})")
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
        self._mode("coordinate")
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
        self._mode("coordinate")
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


def ragged_take(offsets: np.ndarray, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Gather the items of ragged groups ``idx``: return item indices and new offsets.

    Parameters
    ----------
    offsets : numpy.ndarray
        ``(n_groups + 1,)`` start of every group.
    idx : numpy.ndarray
        Indices of the groups to take.

    Returns
    -------
    items : numpy.ndarray
        Indices of the items of the taken groups, in order.
    new_offsets : numpy.ndarray
        ``(len(idx) + 1,)`` offsets of the taken groups among ``items``.
    """
    idx = np.asarray(idx, dtype=np.int64)
    starts = offsets[idx]
    counts = offsets[idx + 1] - starts
    new_offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    if new_offsets[-1] == 0:
        return np.empty(0, dtype=np.int64), new_offsets
    items = np.arange(new_offsets[-1]) - np.repeat(new_offsets[:-1] - starts, counts)
    return items, new_offsets
