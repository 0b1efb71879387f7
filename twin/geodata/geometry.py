"""Small geometry helpers shared by the importers."""

from __future__ import annotations

import numpy as np
import shapely

_POLYGONAL = (shapely.GeometryType.POLYGON, shapely.GeometryType.MULTIPOLYGON)


def polygonal(geometry: shapely.Geometry | None) -> shapely.Geometry | None:
    """Keep the polygonal part of a geometry, e.g. of what ``shapely.make_valid`` returns.

    Parameters
    ----------
    geometry : shapely.Geometry or None
        Any geometry.

    Returns
    -------
    shapely.Geometry or None
        ``geometry`` itself when it is a Polygon or MultiPolygon; else its non-empty polygons
        with an area (one Polygon, or a MultiPolygon of several); None when none is left.

    Examples
    --------
    >>> import shapely
    >>> line = shapely.LineString([(0, 0), (2, 2)])
    >>> polygonal(shapely.GeometryCollection([shapely.box(0, 0, 1, 1), line])).wkt
    'POLYGON ((1 0, 1 1, 0 1, 0 0, 1 0))'
    >>> polygonal(shapely.Point(0, 0)) is None
    True
    """
    if geometry is None or geometry.is_empty:
        return None
    if shapely.get_type_id(geometry) in _POLYGONAL:
        return geometry
    parts = [p for p in shapely.get_parts(geometry) if shapely.get_type_id(p) in _POLYGONAL]
    polys = [q for p in parts for q in shapely.get_parts(p) if not q.is_empty and q.area > 0]
    if not polys:
        return None
    return polys[0] if len(polys) == 1 else shapely.multipolygons(polys)


def polygonal_array(geometries: np.ndarray) -> np.ndarray:
    """Apply :func:`polygonal` to every geometry of an array.

    Parameters
    ----------
    geometries : numpy.ndarray
        Object array of geometries (or None).

    Returns
    -------
    numpy.ndarray
        Object array of the same length: Polygon, MultiPolygon or None.
    """
    out = np.array(geometries, dtype=object)
    types = shapely.get_type_id(out)  # -1 for None
    for i in np.flatnonzero(~np.isin(types, _POLYGONAL)):
        out[i] = polygonal(out[i])
    return out
