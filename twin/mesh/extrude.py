"""Block buildings: all footprints extruded to flat-roofed prisms at once.

Every ring vertex becomes two points (bottom and top); walls are two triangles per ring edge,
roof and ground the triangulated footprint (the ground reversed so it faces down). Points are
shared between walls and caps, so each prism is a closed, consistently oriented surface.
"""

from __future__ import annotations

import logging

import numpy as np

from twin.mesh.parts import MeshPart
from twin.mesh.rings import polygon_rings
from twin.mesh.triangulate import triangulate

log = logging.getLogger(__name__)

GROUND, WALL, ROOF = 0, 1, 2


def extrude_footprints(
    geoms: np.ndarray,
    rows: np.ndarray,
    bottom: np.ndarray,
    top: np.ndarray,
    origin: tuple[float, float, float],
) -> MeshPart:
    """Extrude footprints into closed prisms.

    Parameters
    ----------
    geoms : numpy.ndarray
        Object array of Polygons / MultiPolygons in absolute coordinates.
    rows : numpy.ndarray
        Row index of each geometry (stored as the ``building`` of its triangles).
    bottom, top : numpy.ndarray
        Absolute elevation of the bottom and the roof of each geometry.
    origin : tuple of float
        Local origin subtracted from the coordinates.

    Returns
    -------
    MeshPart
        Local coordinates; surface codes 0 ground, 1 wall, 2 roof.

    Examples
    --------
    >>> import numpy as np, shapely
    >>> part = extrude_footprints(np.array([shapely.box(0, 0, 10, 5)]), np.array([0]),
    ...                           np.array([0.0]), np.array([3.0]), (0.0, 0.0, 0.0))
    >>> len(part.triangles)  # 8 wall + 2 roof + 2 ground triangles
    12
    """
    rows = np.asarray(rows, dtype=np.int64)
    # polygon_rings reports rows; map them back to positions in the given arrays.
    pos = np.arange(len(rows))
    rings = polygon_rings(np.asarray(geoms, dtype=object), pos)
    if rings.n_polygons == 0:
        return MeshPart.empty()
    ox, oy, oz = origin
    xy = rings.coords - np.array([ox, oy])
    caps, cap_poly = triangulate(rings, xy)

    n = rings.n_vertices
    vertex_ring = rings.vertex_ring()
    vertex_pos = rings.poly_row[rings.poly[vertex_ring]]
    # Local coordinates are computed in float64 and stored as float32 (the mesh's type).
    points = np.empty((2 * n, 3), dtype=np.float32)
    points[:n, :2] = xy
    points[n:, :2] = xy
    points[:n, 2] = np.asarray(bottom, dtype=np.float64)[vertex_pos] - oz
    points[n:, 2] = np.asarray(top, dtype=np.float64)[vertex_pos] - oz

    # One allocation per output array, filled in place: ground caps, walls, roof caps.
    n_caps = len(caps)
    n_tri = 2 * n_caps + 2 * n
    triangles = np.empty((n_tri, 3), dtype=np.int64)
    building = np.empty(n_tri, dtype=np.int32)
    surface = np.empty(n_tri, dtype=np.uint8)
    normals = np.zeros((n_tri, 3), dtype=np.float32)
    ground = slice(0, n_caps)
    wall = slice(n_caps, n_caps + 2 * n)
    roof = slice(n_caps + 2 * n, n_tri)

    triangles[ground] = caps[:, ::-1]  # reversed: the ground faces down
    np.add(caps, n, out=triangles[roof])
    cap_rows = rows[rings.poly_row[cap_poly]]
    building[ground] = cap_rows
    building[roof] = cap_rows
    surface[ground] = GROUND
    surface[wall] = WALL
    surface[roof] = ROOF
    normals[ground, 2] = -1.0
    normals[roof, 2] = 1.0

    # Walls: for the edge i -> j (ring order), quad (i, j, j', i') split in two triangles;
    # exteriors run counter-clockwise and holes clockwise, so the walls face outward.
    i = np.arange(n)
    j = rings.next_vertex()
    walls = triangles[wall].reshape(n, 2, 3)
    walls[:, 0, 0] = i
    walls[:, 0, 1] = j
    walls[:, 0, 2] = j + n
    walls[:, 1, 0] = i
    walls[:, 1, 1] = j + n
    walls[:, 1, 2] = i + n
    building[wall].reshape(n, 2)[:] = rows[vertex_pos][:, None]
    # Outward wall normal of edge direction (dx, dy) is (dy, -dx) normalised.
    d = xy[j] - xy
    length = np.hypot(d[:, 0], d[:, 1])
    wall_normals = normals[wall].reshape(n, 2, 3)
    wall_normals[:, :, 0] = (d[:, 1] / length)[:, None]
    wall_normals[:, :, 1] = (-d[:, 0] / length)[:, None]
    return MeshPart(
        points=points,
        triangles=triangles,
        building=building,
        surface=surface,
        normals=normals,
    )
