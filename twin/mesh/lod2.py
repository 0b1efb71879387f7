"""LoD2 buildings: the stored boundary surfaces triangulated as given, with their semantics.

Each planar 3D polygon is projected onto its own plane (normal by Newell's method, which is
robust for slightly non-planar rings), triangulated in 2D and lifted back. Triangles keep the
polygon's orientation, so outward-facing CityGML/CityJSON surfaces stay outward. Vertices
shared by the surfaces of one building are merged, so a closed LoD2 solid stays closed.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import shapely

from twin.errors import GeodataError
from twin.geodata.city import SURFACE_CODES
from twin.mesh.parts import MeshPart, triangle_normals
from twin.mesh.rings import Rings, polygon_rings
from twin.mesh.triangulate import triangulate

log = logging.getLogger(__name__)

#: Vertices of one building closer than this (metres) become one point.
MERGE_TOLERANCE = 1e-3

_CODE_LOOKUP = np.full(256, 255, dtype=np.uint8)
for _char, _code in SURFACE_CODES.items():
    _CODE_LOOKUP[ord(_char)] = _code


def surface_codes(types: list[str], counts: np.ndarray, ids: list[str]) -> np.ndarray:
    """Turn ``surface_types`` strings into one surface code per polygon.

    Parameters
    ----------
    types : list of str
        One string per building, one character (``G``, ``W``, ``R``, ``O``) per polygon.
    counts : numpy.ndarray
        Number of polygons of each building's ``surfaces``.
    ids : list of str
        Building ids, for the error message.

    Returns
    -------
    numpy.ndarray
        uint8 codes (see :data:`twin.geodata.city.SURFACE_CODES`), all buildings concatenated.

    Raises
    ------
    GeodataError
        If a string's length differs from the polygon count, or holds an unknown code.
    """
    lengths = np.fromiter((len(t) for t in types), dtype=np.int64, count=len(types))
    bad = np.flatnonzero(lengths != counts)
    if len(bad):
        k = bad[0]
        raise GeodataError(
            f"building {ids[k]}: 'surfaces' has {counts[k]} polygons but 'surface_types' "
            f"has {lengths[k]} codes ({types[k]!r}); expected one of G/W/R/O per polygon"
        )
    raw = np.frombuffer("".join(types).encode("ascii", "replace"), dtype=np.uint8)
    codes = _CODE_LOOKUP[raw]
    if (codes == 255).any():
        at = int(np.flatnonzero(codes == 255)[0])
        row = int(np.searchsorted(np.cumsum(lengths), at, side="right"))
        raise GeodataError(
            f"building {ids[row]}: unknown surface type {chr(raw[at])!r} in 'surface_types'; "
            f"expected one of {', '.join(SURFACE_CODES)}"
        )
    return codes


def newell_normals(rings: Rings) -> np.ndarray:
    """Compute the unit normal of every polygon from its exterior ring (Newell's method).

    Parameters
    ----------
    rings : Rings
        3D rings.

    Returns
    -------
    numpy.ndarray
        ``(n_polygons, 3)``; zeros for degenerate polygons.
    """
    ring = rings.vertex_ring()
    ext_vertex = rings.exterior[ring]
    p = rings.coords - rings.coords[rings.start[ring]]  # centred per ring for precision
    q = rings.coords[rings.next_vertex()] - rings.coords[rings.start[ring]]
    contrib = np.cross(p, q)[ext_vertex]
    poly = rings.poly[ring][ext_vertex]
    n = np.column_stack(
        [np.bincount(poly, weights=contrib[:, k], minlength=rings.n_polygons) for k in range(3)]
    )
    length = np.linalg.norm(n, axis=1)
    return n / np.where(length > 0, length, 1.0)[:, None]


def plane_coordinates(rings: Rings, normals: np.ndarray) -> np.ndarray:
    """Project every vertex onto its polygon's plane, as 2D coordinates.

    The 2D axes ``(u, v)`` form a right-handed frame with the normal, so a ring that runs
    counter-clockwise seen from the normal's side runs counter-clockwise in ``(u, v)``.
    """
    # Helper axis: the world axis least aligned with the normal.
    helper = np.zeros_like(normals)
    helper[np.arange(len(normals)), np.argmin(np.abs(normals), axis=1)] = 1.0
    u = np.cross(helper, normals)
    u /= np.maximum(np.linalg.norm(u, axis=1), 1e-300)[:, None]
    v = np.cross(normals, u)
    vpoly = rings.poly[rings.vertex_ring()]
    p = rings.coords
    return np.column_stack([np.einsum("ij,ij->i", p, u[vpoly]), np.einsum("ij,ij->i", p, v[vpoly])])


def triangulate_surfaces(
    surfaces: list[bytes],
    types: list[str],
    rows: np.ndarray,
    ids: list[str],
    origin: tuple[float, float, float],
    *,
    footprints: np.ndarray | None = None,
    ground_z: np.ndarray | None = None,
) -> MeshPart:
    """Triangulate the LoD2 surfaces of several buildings.

    A building whose surfaces hold no ground surface (some LoD2 data leaves it out) is
    closed with its footprint at ``ground_z`` when ``footprints`` and ``ground_z`` are given.

    Parameters
    ----------
    surfaces : list of bytes
        WKB of a 3D MultiPolygon per building (absolute coordinates).
    types : list of str
        The matching ``surface_types`` strings.
    rows : numpy.ndarray
        Row index of each building (stored as ``building`` of its triangles).
    ids : list of str
        Building ids, for error messages.
    origin : tuple of float
        Local origin subtracted from the coordinates.
    footprints : numpy.ndarray, optional
        2D footprint (Polygon / MultiPolygon) of each building.
    ground_z : numpy.ndarray, optional
        Absolute ground elevation of each building.

    Returns
    -------
    MeshPart

    Raises
    ------
    GeodataError
        If a WKB blob is broken or the surface types do not match the polygons.
    """
    rows = np.asarray(rows, dtype=np.int64)
    if not len(rows):
        return MeshPart.empty()
    try:
        geoms = shapely.from_wkb(surfaces)
    except shapely.errors.GEOSException as err:
        bad = _first_bad_wkb(surfaces)
        raise GeodataError(
            f"building {ids[bad]}: 'surfaces' is not valid WKB ({err}); expected a 3D MultiPolygon"
        ) from err
    polys, owner = shapely.get_parts(geoms, return_index=True)
    counts = np.bincount(owner, minlength=len(rows))
    codes = surface_codes(types, counts, ids)
    if len(polys) and not shapely.has_z(polys).all():
        k = int(owner[np.flatnonzero(~shapely.has_z(polys))[0]])
        raise GeodataError(f"building {ids[k]}: 'surfaces' must be 3D polygons (x, y, z)")
    if footprints is not None and ground_z is not None:
        polys, owner, codes = _add_missing_grounds(
            polys, owner, codes, types, np.asarray(footprints, dtype=object), ground_z
        )

    rings = polygon_rings(polys, np.arange(len(polys)), include_z=True, orient=False)
    if rings.n_polygons == 0:
        return MeshPart.empty()
    rings.coords = rings.coords - np.asarray(origin, dtype=np.float64)
    normals = newell_normals(rings)
    flat = np.linalg.norm(normals, axis=1) == 0
    uv = plane_coordinates(rings, normals)
    tris, tri_poly = triangulate(rings, uv)
    if flat.any():
        log.debug("%d degenerate LoD2 polygons skipped", int(flat.sum()))
        keep = ~flat[tri_poly]
        tris, tri_poly = tris[keep], tri_poly[keep]
    src = rings.poly_row[tri_poly]  # index into polys
    building = rows[owner[src]]

    vertex_owner = owner[rings.poly_row[rings.poly[rings.vertex_ring()]]]
    points, tris = _merge_points(rings.coords, tris, vertex_owner)
    return MeshPart(
        points=points,
        triangles=tris,
        building=building.astype(np.int32),
        surface=codes[src].astype(np.uint8),
        normals=triangle_normals(points, tris),
    )


def _add_missing_grounds(
    polys: np.ndarray,
    owner: np.ndarray,
    codes: np.ndarray,
    types: list[str],
    footprints: np.ndarray,
    ground_z: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Append the footprint, facing down at ground level, to buildings without a ground."""
    missing = np.array(["G" not in t for t in types], dtype=bool)
    missing &= ~(shapely.is_missing(footprints) | shapely.is_empty(footprints))
    if not missing.any():
        return polys, owner, codes
    which = np.flatnonzero(missing)
    parts, idx = shapely.get_parts(footprints[which], return_index=True)
    # Clockwise seen from above: the Newell normal then points down, out of the building.
    parts = shapely.orient_polygons(shapely.force_2d(parts), exterior_cw=True)
    parts = shapely.force_3d(parts, z=np.asarray(ground_z, dtype=float)[which][idx])
    log.debug("closing %d LoD2 buildings without ground surface by their footprint", len(which))
    return (
        np.concatenate([polys, parts]),
        np.concatenate([owner, which[idx]]),
        np.concatenate([codes, np.full(len(parts), SURFACE_CODES["G"], dtype=np.uint8)]),
    )


def _merge_points(
    coords: np.ndarray, tris: np.ndarray, vertex_owner: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Merge coincident vertices (within :data:`MERGE_TOLERANCE`) of the same building."""
    key = np.column_stack(
        [vertex_owner.astype(np.int64), np.round(coords / MERGE_TOLERANCE).astype(np.int64)]
    )
    first, inverse = unique_rows(key)
    return coords[first], inverse[tris]


def unique_rows(key: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Group equal rows of an integer array.

    A hash of each row is factorised (linear time), then every row is checked against its
    group's first row; on any hash collision the exact (sorting) method is used instead.

    Parameters
    ----------
    key : numpy.ndarray
        ``(n, k)`` int64.

    Returns
    -------
    first : numpy.ndarray
        Index of the first row of each group, in order of first appearance.
    inverse : numpy.ndarray
        ``(n,)`` group of every row.
    """
    key = np.ascontiguousarray(key, dtype=np.int64)
    if not len(key):
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    h = np.zeros(len(key), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for col in key.T:  # FNV-style mixing; wraps around by design
            h = (h ^ col.view(np.uint64)) * np.uint64(0x100000001B3)
    inverse, uniques = pd.factorize(h)
    first = np.empty(len(uniques), dtype=np.int64)
    first[inverse[::-1]] = np.arange(len(key) - 1, -1, -1)
    if np.array_equal(key, key[first[inverse]]):
        return first, inverse.astype(np.int64)
    void = key.view(np.dtype((np.void, key.dtype.itemsize * key.shape[1]))).ravel()
    _, first, inverse = np.unique(void, return_index=True, return_inverse=True)
    return first, inverse.ravel()


def _first_bad_wkb(surfaces: list[bytes]) -> int:
    for k, blob in enumerate(surfaces):
        try:
            shapely.from_wkb(blob)
        except (shapely.errors.GEOSException, TypeError, ValueError):
            return k
    return 0
