"""The whole City as one :class:`pyvista.PolyData` of triangles.

One mesh (one VTK actor) for all buildings: block rows are extruded all at once
(:mod:`twin.mesh.extrude`), LoD2 rows triangulated from their stored surfaces
(:mod:`twin.mesh.lod2`). Cell arrays tie every triangle to its row of ``City.buildings`` and
its surface type, so colours can be written per building in place without touching geometry.
"""

from __future__ import annotations

import logging
import time

import numpy as np
import pyvista as pv

from twin.geodata.city import City
from twin.mesh.extrude import extrude_footprints
from twin.mesh.lod2 import triangulate_surfaces
from twin.mesh.parts import MeshPart, concat_parts

log = logging.getLogger(__name__)


def build_parts(
    city: City, *, origin: tuple[float, float, float] | None = None, lod2: bool = True
) -> tuple[MeshPart, tuple[float, float, float]]:
    """Triangulate a City into one :class:`~twin.mesh.parts.MeshPart` (numpy arrays only).

    Parameters
    ----------
    city : City
        The buildings.
    origin : tuple of float, optional
        Local origin; ``city.origin`` by default.
    lod2 : bool
        Use the stored LoD2 surfaces where present; False extrudes every footprint.

    Returns
    -------
    part : MeshPart
        Points in local coordinates (float32 for blocks, float64 once LoD2 rows are
        included), triangles, ``building`` rows and ``surface``
        codes.
    origin : tuple of float
        The origin used.
    """
    b = city.buildings
    given = [float(v) for v in (origin if origin is not None else city.origin or (0, 0, 0))]
    if len(given) != 3:
        raise ValueError(f"origin must be (x, y, z), got {origin!r}")
    origin = (given[0], given[1], given[2])
    if not len(b):
        return MeshPart.empty(), origin

    has_surfaces = b["surfaces"].notna().to_numpy() if lod2 else np.zeros(len(b), dtype=bool)
    ground = b["ground_z"].to_numpy(dtype=np.float64)
    height = b["height"].to_numpy(dtype=np.float64)
    min_height = b["min_height"].to_numpy(dtype=np.float64)
    solid = np.isfinite(height) & (height > min_height)
    block = ~has_surfaces & solid
    skipped = int((~has_surfaces & ~solid).sum())
    if skipped:
        log.warning(
            "%d of %d rows have no usable height (NaN or not above min_height); not meshed",
            skipped,
            len(b),
        )
    rows = np.flatnonzero(block)
    parts = [
        extrude_footprints(
            b.geometry.to_numpy()[rows],
            rows,
            (ground + min_height)[rows],
            (ground + height)[rows],
            origin,
        )
    ]
    rows2 = np.flatnonzero(has_surfaces)
    if len(rows2):
        ids = b["id"].to_numpy()
        parts.append(
            triangulate_surfaces(
                list(b["surfaces"].to_numpy()[rows2]),
                [str(t or "") for t in b["surface_types"].to_numpy()[rows2]],
                rows2,
                [str(i) for i in ids[rows2]],
                origin,
                footprints=b.geometry.to_numpy()[rows2],
                ground_z=ground[rows2],
            )
        )
    return concat_parts(parts), origin


def build_mesh(
    city: City, *, origin: tuple[float, float, float] | None = None, lod2: bool = True
) -> pv.PolyData:
    """Build one triangle mesh of all buildings of a City.

    Parameters
    ----------
    city : City
        The buildings.
    origin : tuple of float, optional
        Local origin ``(x, y, z)`` subtracted from absolute coordinates; ``city.origin`` by
        default. Points are float32, which keeps centimetres within tens of kilometres of it.
    lod2 : bool
        Triangulate stored LoD2 surfaces where present (default); False extrudes every
        footprint to a flat-roofed block.

    Returns
    -------
    pyvista.PolyData
        Triangles, closed and outward-oriented per building. Cell arrays ``building``
        (int32 row index into ``city.buildings``), ``surface`` (uint8: 0 ground, 1 wall,
        2 roof, 3 other) and ``Normals`` (float32 flat unit normals, the active cell
        normals); field data ``origin`` (3 floats) and ``crs`` (string). An empty City gives
        an empty mesh.

    Examples
    --------
    >>> import geopandas as gpd, shapely
    >>> from twin.geodata.city import City
    >>> city = City(gpd.GeoDataFrame({"id": ["a"], "height": [10.0]},
    ...             geometry=[shapely.box(0, 0, 20, 10)], crs="EPSG:25832"))
    >>> mesh = build_mesh(city)
    >>> mesh.n_cells, round(mesh.volume)
    (12, 2000)
    """
    t0 = time.perf_counter()
    part, origin = build_parts(city, origin=origin, lod2=lod2)
    if len(part.triangles):
        points = part.points.astype(np.float32, copy=False)
        mesh = pv.PolyData.from_regular_faces(points, part.triangles)
    else:
        mesh = pv.PolyData()
    mesh.cell_data["building"] = part.building.astype(np.int32, copy=False)
    mesh.cell_data["surface"] = part.surface.astype(np.uint8, copy=False)
    # Through VTK directly: pyvista refuses empty (0, 3) arrays, and these are the active
    # cell normals (flat shading: a wall is never smoothed into its roof).
    normals = pv.convert_array(np.ascontiguousarray(part.normals, dtype=np.float32), "Normals")
    mesh.GetCellData().SetNormals(normals)
    mesh.field_data["origin"] = np.asarray(origin, dtype=np.float64)
    mesh.field_data["crs"] = [city.crs]
    log.info(
        "meshed %d rows into %d triangles in %.3f s",
        len(city.buildings),
        mesh.n_cells,
        time.perf_counter() - t0,
    )
    return mesh
