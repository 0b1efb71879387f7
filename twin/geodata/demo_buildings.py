"""Footprints of the synthetic demo city, generated block by block with numpy.

Each generator takes block rectangles (arrays ``x0, y0, x1, y1``) and returns
:class:`Candidates`: axis-aligned footprint boxes with heights, storeys, kind and roof shape.
Boxes of one block never touch: neighbours keep a gap of at least :data:`GAP` metres, so
that no two walls coincide in the mesh.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from twin.geodata.heights import LEVEL_HEIGHT

#: Gap in metres between neighbouring buildings of a block.
GAP = 0.6
#: Building kinds.
PERIMETER, HOUSE, HALL, TOWER = 0, 1, 2, 3
#: Roof shapes by code.
ROOFS = ("flat", "gabled", "hipped")


@dataclass
class Candidates:
    """Footprint boxes with attributes; all arrays have one entry per building."""

    box: np.ndarray  # (n, 4) minx, miny, maxx, maxy
    height: np.ndarray
    levels: np.ndarray  # NaN where no storeys were generated
    kind: np.ndarray  # PERIMETER, HOUSE, HALL, TOWER
    roof: np.ndarray  # index into ROOFS
    block: np.ndarray  # index of the block in the Layout

    def __len__(self) -> int:
        return len(self.height)

    def take(self, idx: np.ndarray) -> Candidates:
        """Return the candidates at ``idx`` (indices or a boolean mask)."""
        return Candidates(*(getattr(self, f)[idx] for f in _FIELDS))

    @staticmethod
    def concat(parts: list[Candidates]) -> Candidates:
        """Join several candidate sets."""
        return Candidates(*(np.concatenate([getattr(p, f) for p in parts]) for f in _FIELDS))


_FIELDS = ("box", "height", "levels", "kind", "roof", "block")


def split(
    start: np.ndarray,
    length: np.ndarray,
    target: np.ndarray | float,
    rng: np.random.Generator,
    gap: float = GAP,
    jitter: float = 0.25,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cut intervals into pieces of about ``target`` length, separated by ``gap``.

    Parameters
    ----------
    start, length : numpy.ndarray
        The intervals ``[start, start + length]``.
    target : float or numpy.ndarray
        Wanted piece length (per interval if an array).
    rng : numpy.random.Generator
        Source of the piece lengths' variation.
    gap : float
        Free space between pieces and at both ends.
    jitter : float
        Relative variation of the piece lengths.

    Returns
    -------
    tuple of numpy.ndarray
        ``(interval index, piece start, piece end)`` for every piece.
    """
    start = np.asarray(start, float)
    length = np.asarray(length, float)
    target = np.broadcast_to(np.asarray(target, float), length.shape)
    k = np.where(length > 0.5 * target, np.maximum(1, np.round(length / target)), 0).astype(int)
    idx = np.repeat(np.arange(len(length)), k)
    if not len(idx):
        return idx, np.empty(0), np.empty(0)
    w = rng.uniform(1 - jitter, 1 + jitter, len(idx))
    first = np.cumsum(k) - k
    first = first[k > 0]
    csum = np.cumsum(w)
    before = csum - w  # running sum before each piece
    group_base = before[first]
    total = np.add.reduceat(w, first)
    g = np.repeat(np.arange(len(first)), k[k > 0])
    f0 = (before - group_base[g]) / total[g]
    f1 = (csum - group_base[g]) / total[g]
    s0 = start[idx] + f0 * length[idx] + gap / 2
    s1 = start[idx] + f1 * length[idx] - gap / 2
    return idx, s0, s1


def _storeys(n: int, lo: int, hi: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    levels = rng.integers(lo, hi + 1, n).astype(float)
    return levels * LEVEL_HEIGHT, levels


def perimeter(
    x0: np.ndarray, y0: np.ndarray, x1: np.ndarray, y1: np.ndarray, rng: np.random.Generator
) -> Candidates:
    """Perimeter blocks: corner houses and rows of 4–6 storey houses along all four edges.

    Parameters
    ----------
    x0, y0, x1, y1 : numpy.ndarray
        Block rectangles (street edges); buildings stand 2 m back.
    rng : numpy.random.Generator
        Source of depths, widths and storeys.

    Returns
    -------
    Candidates
        Heights are storeys × :data:`~twin.geodata.heights.LEVEL_HEIGHT`.
    """
    n = len(x0)
    x0, y0, x1, y1 = x0 + 2, y0 + 2, x1 - 2, y1 - 2
    d = rng.uniform(11.0, 14.0, n)
    blocks = np.arange(n)
    parts = []
    # Corners.
    cx = np.stack([x0, x1 - d, x0, x1 - d], 1).ravel()
    cy = np.stack([y0, y0, y1 - d, y1 - d], 1).ravel()
    dd = np.repeat(d, 4)
    parts.append((np.c_[cx, cy, cx + dd, cy + dd], np.repeat(blocks, 4)))
    g = GAP
    target = rng.uniform(13.0, 20.0, n)
    # South and north rows run along x, west and east rows along y.
    for side in range(4):
        if side < 2:
            i, s0, s1 = split(x0 + d + g / 2, x1 - x0 - 2 * d - g, target, rng)
            v0 = y0[i] if side == 0 else y1[i] - d[i]
            parts.append((np.c_[s0, v0, s1, v0 + d[i]], i))
        else:
            i, s0, s1 = split(y0 + d + g / 2, y1 - y0 - 2 * d - g, target, rng)
            u0 = x0[i] if side == 2 else x1[i] - d[i]
            parts.append((np.c_[u0, s0, u0 + d[i], s1], i))
    box = np.concatenate([p[0] for p in parts])
    blk = np.concatenate([p[1] for p in parts])
    height, levels = _storeys(len(box), 4, 6, rng)
    roof = rng.choice(3, len(box), p=[0.55, 0.3, 0.15])
    return Candidates(box, height, levels, np.full(len(box), PERIMETER, np.int8), roof, blk)


def houses(
    x0: np.ndarray,
    y0: np.ndarray,
    x1: np.ndarray,
    y1: np.ndarray,
    orient: np.ndarray,
    rng: np.random.Generator,
) -> Candidates:
    """Detached houses in two rows per block, each facing its street.

    Parameters
    ----------
    x0, y0, x1, y1 : numpy.ndarray
        Block rectangles.
    orient : numpy.ndarray
        0: rows run east–west (houses face the south and north streets); 1: north–south.
    rng : numpy.random.Generator
        Source of lot widths, house sizes, set-backs and heights.

    Returns
    -------
    Candidates
        7–10 m high with pitched roofs; 1–2 storeys (heights are not storeys × 3 m).
    """
    flip = orient == 1
    u0, u1 = np.where(flip, y0, x0), np.where(flip, y1, x1)
    v0, v1 = np.where(flip, x0, y0), np.where(flip, x1, y1)
    lot = rng.uniform(16.0, 22.0, len(u0))
    boxes, blks = [], []
    for row in (0, 1):
        i, s0, s1 = split(u0 + 2, u1 - u0 - 4, lot, rng, gap=0.0, jitter=0.1)
        m = len(i)
        lot_len = s1 - s0
        w = np.minimum(lot_len - 4.0, rng.uniform(8.5, 12.0, m))
        room = (v1[i] - v0[i]) / 2 - 6.0
        depth = np.minimum(rng.uniform(8.0, 11.0, m), room - 2.0)
        setback = rng.uniform(4.0, 7.0, m)
        setback = np.minimum(setback, room - depth)
        slack = (lot_len - w) / 2 - 1.0
        mid = (s0 + s1) / 2 + rng.uniform(-1, 1, m) * np.maximum(slack, 0)
        a0, a1 = mid - w / 2, mid + w / 2
        b0 = v0[i] + setback if row == 0 else v1[i] - setback - depth
        b1 = b0 + depth
        ok = (w >= 6.0) & (depth >= 6.0)
        bx = np.where(flip[i, None], np.c_[b0, a0, b1, a1], np.c_[a0, b0, a1, b1])
        boxes.append(bx[ok])
        blks.append(i[ok])
    box = np.concatenate(boxes)
    n = len(box)
    height = np.round(rng.uniform(7.0, 10.0, n), 1)
    levels = np.where(height >= 8.0, 2.0, 1.0)
    roof = rng.choice([1, 2], n, p=[0.7, 0.3])
    return Candidates(box, height, levels, np.full(n, HOUSE, np.int8), roof, np.concatenate(blks))


def halls(
    x0: np.ndarray, y0: np.ndarray, x1: np.ndarray, y1: np.ndarray, rng: np.random.Generator
) -> Candidates:
    """Large industrial halls, 1–3 × 1–2 per block, 10–25 m high with flat roofs.

    Parameters
    ----------
    x0, y0, x1, y1 : numpy.ndarray
        Block rectangles.
    rng : numpy.random.Generator
        Source of plot splits, margins and heights.

    Returns
    -------
    Candidates
        Heights are generated directly (no storeys).
    """
    n = len(x0)
    ix, sx0, sx1 = split(x0, x1 - x0, (x1 - x0) / rng.integers(1, 4, n), rng, gap=14.0, jitter=0.3)
    # Split every column piece along y.
    iy, sy0, sy1 = split(
        y0[ix],
        y1[ix] - y0[ix],
        (y1 - y0)[ix] / rng.integers(1, 3, len(ix)),
        rng,
        gap=14.0,
        jitter=0.3,
    )
    blk = ix[iy]
    a0, a1 = sx0[iy], sx1[iy]
    m = len(blk)
    margins = rng.uniform(0.0, 18.0, (m, 4))
    box = np.c_[a0 + margins[:, 0], sy0 + margins[:, 1], a1 - margins[:, 2], sy1 - margins[:, 3]]
    ok = (box[:, 2] - box[:, 0] >= 20.0) & (box[:, 3] - box[:, 1] >= 20.0)
    box, blk = box[ok], blk[ok]
    n = len(box)
    height = np.round(rng.uniform(10.0, 25.0, n) * 2) / 2
    return Candidates(
        box, height, np.full(n, np.nan), np.full(n, HALL, np.int8), np.zeros(n, np.int64), blk
    )


def towers(
    x0: np.ndarray, y0: np.ndarray, x1: np.ndarray, y1: np.ndarray, rng: np.random.Generator
) -> Candidates:
    """One high-rise of 12–20 storeys per block, standing on an open plaza.

    Parameters
    ----------
    x0, y0, x1, y1 : numpy.ndarray
        Block rectangles.
    rng : numpy.random.Generator
        Source of sizes, positions and storeys.

    Returns
    -------
    Candidates
    """
    n = len(x0)
    w = rng.uniform(22.0, 32.0, n)
    h = w * rng.uniform(0.8, 1.25, n)
    cx = (x0 + x1) / 2 + rng.uniform(-8, 8, n)
    cy = (y0 + y1) / 2 + rng.uniform(-8, 8, n)
    box = np.c_[cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2]
    height, levels = _storeys(n, 12, 20, rng)
    return Candidates(
        box, height, levels, np.full(n, TOWER, np.int8), np.zeros(n, np.int64), np.arange(n)
    )
