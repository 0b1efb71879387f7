"""Triangle soup pieces that the mesh builder concatenates into one PolyData."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class MeshPart:
    """Triangles with their building row and surface code.

    Attributes
    ----------
    points : numpy.ndarray
        ``(n_points, 3)`` local coordinates (float32 or float64).
    triangles : numpy.ndarray
        ``(n_triangles, 3)`` int64 point indices, counter-clockwise seen from outside.
    building : numpy.ndarray
        ``(n_triangles,)`` row index into ``City.buildings``.
    surface : numpy.ndarray
        ``(n_triangles,)`` uint8 surface code (0 ground, 1 wall, 2 roof, 3 other).
    normals : numpy.ndarray
        ``(n_triangles, 3)`` float32 unit normals pointing outward.
    """

    points: np.ndarray
    triangles: np.ndarray
    building: np.ndarray
    surface: np.ndarray
    normals: np.ndarray

    @classmethod
    def empty(cls) -> MeshPart:
        """Return a part without any triangle."""
        return cls(
            np.zeros((0, 3)),
            np.zeros((0, 3), dtype=np.int64),
            np.zeros(0, dtype=np.int32),
            np.zeros(0, dtype=np.uint8),
            np.zeros((0, 3), dtype=np.float32),
        )


def concat_parts(parts: list[MeshPart]) -> MeshPart:
    """Join parts into one, offsetting the point indices.

    Parameters
    ----------
    parts : list of MeshPart

    Returns
    -------
    MeshPart
    """
    parts = [p for p in parts if len(p.triangles)]
    if not parts:
        return MeshPart.empty()
    if len(parts) == 1:
        return parts[0]
    offsets = np.cumsum([0] + [len(p.points) for p in parts[:-1]])
    return MeshPart(
        np.concatenate([p.points for p in parts]),
        np.concatenate([p.triangles + off for p, off in zip(parts, offsets, strict=True)]),
        np.concatenate([p.building for p in parts]),
        np.concatenate([p.surface for p in parts]),
        np.concatenate([p.normals for p in parts]),
    )


def triangle_normals(points: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """Compute the unit normal of every triangle (right-hand rule); zero if degenerate.

    Parameters
    ----------
    points : numpy.ndarray
        ``(n_points, 3)`` coordinates.
    triangles : numpy.ndarray
        ``(n_triangles, 3)`` point indices.

    Returns
    -------
    numpy.ndarray
        ``(n_triangles, 3)`` float32 unit normals.
    """
    p = np.asarray(points, dtype=np.float64)
    a = p[triangles[:, 0]]
    u = p[triangles[:, 1]] - a
    v = p[triangles[:, 2]] - a
    n = np.empty((len(triangles), 3), dtype=np.float64)
    # Written out: np.cross is several times slower on long (n, 3) arrays.
    n[:, 0] = u[:, 1] * v[:, 2] - u[:, 2] * v[:, 1]
    n[:, 1] = u[:, 2] * v[:, 0] - u[:, 0] * v[:, 2]
    n[:, 2] = u[:, 0] * v[:, 1] - u[:, 1] * v[:, 0]
    length = np.sqrt(np.einsum("ij,ij->i", n, n))
    n /= np.where(length > 0, length, 1.0)[:, None]
    return n.astype(np.float32)
