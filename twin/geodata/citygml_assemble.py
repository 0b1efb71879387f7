"""Turning what the CityGML and CityJSON readers collected into a :class:`City`.

Both readers produce :class:`~twin.geodata.citygml_model.BuildingRecord` rows and feed their
polygons to one :class:`~twin.geodata.surface_arrays.SurfaceBuilder`; :func:`assemble_city`
then reprojects, derives footprints and heights and packs the LoD2 surfaces, vectorised over
the file, and :func:`context_layers` makes 2D outlines of the other objects.

Decisions shared by both formats:

* **Rows.** One row per Building and per BuildingPart with geometry; a Building drawn only
  by its parts has no row of its own (its parts carry ``building`` = its id and inherit its
  name, address and type). Ids are ``"<format>/<source id>"``, so the same model read from
  CityGML and CityJSON differs only in the prefix (``source_id`` is identical).
* **Heights.** ``ground_z`` is the lowest point of the whole building (parts included);
  ``height``/``min_height`` are the top/bottom of the row above it, so a tower part on a base
  gets ``min_height`` > 0. ``measuredHeight`` is kept only when it agrees with the geometry
  within ``max(1 m, 10 %)`` (:func:`resolve_heights`); a ``heightSource`` attribute (written
  by twin's CityJSON export) then says how that height was first derived.
* **LoD1.** A LoD1 solid whose vertices all lie at its bottom or top is a prism: footprint +
  height reproduce it exactly, so its surfaces are dropped. Other LoD1 solids (stepped
  blocks, several solids of different heights, triangulated blocks on uneven ground, as in
  Delft) keep their surfaces, since one extrusion would misdraw them; ``lod`` stays 1.
* **LoD2+.** Surfaces kept with semantics; polygons without semantics are classified from
  their normals (:func:`twin.geodata.surfaces.classify`). LoD3/4 geometry is read like LoD2
  (openings are not), and such rows get ``lod`` 2.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Protocol

import geopandas as gpd
import numpy as np
import pyproj

from twin.errors import GeodataError
from twin.geodata import surfaces as surf
from twin.geodata.city import City
from twin.geodata.citygml_model import BuildingRecord, ContextObjects
from twin.geodata.crs import parse_crs, reproject_xy, target_crs

log = logging.getLogger(__name__)


def resolve_heights(
    geometry: np.ndarray, measured: np.ndarray, *, label: str = ""
) -> tuple[np.ndarray, np.ndarray]:
    """Choose between a stated (``measuredHeight``) and a geometric height per row.

    The stated value is kept when it agrees with the geometry within ``max(1 m, 10 %)``;
    otherwise the geometric height wins and the number of overridden values is logged.

    Parameters
    ----------
    geometry : numpy.ndarray
        Top minus bottom of each row's geometry (NaN when unknown).
    measured : numpy.ndarray
        The stated height of each row (NaN when absent).
    label : str, optional
        The file, for the log message.

    Returns
    -------
    height : numpy.ndarray
        The chosen heights.
    source : numpy.ndarray
        ``"measured"``, ``"geometry"`` or ``"default"`` (neither known) per row.

    Examples
    --------
    >>> import numpy as np
    >>> h, s = resolve_heights(np.array([9.0, 9.0]), np.array([9.5, 60470.0]))
    >>> h.tolist(), s.tolist()
    ([9.5, 9.0], ['measured', 'geometry'])
    """
    geometry = np.asarray(geometry, dtype=float)
    measured = np.asarray(measured, dtype=float)
    tolerance = np.maximum(1.0, 0.1 * np.abs(geometry))
    has_m = np.isfinite(measured)
    has_g = np.isfinite(geometry)
    agrees = has_m & has_g & (np.abs(measured - geometry) <= tolerance)
    use_m = agrees | (has_m & ~has_g & (measured > 0))
    height = np.where(use_m, measured, geometry)
    source = np.where(use_m, "measured", np.where(has_g, "geometry", "default")).astype(object)
    overridden = int((has_m & has_g & ~agrees).sum())
    if overridden:
        log.info(
            "%s%d of %d measuredHeight values disagree with the geometry by more than "
            "max(1 m, 10 %%); using the geometric height for those",
            f"{label}: " if label else "",
            overridden,
            int(has_m.sum()),
        )
    return height, source


def assemble_city(
    records: list[BuildingRecord],
    builder: surf.SurfaceBuilder,
    *,
    fmt: str,
    path: Path,
    file_crs: str | None,
    crs: str | None,
    axis_swap: bool = True,
    wanted: float | None = None,
) -> City:
    """Turn the rows and polygons read from one file into a :class:`City`.

    Parameters
    ----------
    records : list of BuildingRecord
        One per row; row ``i`` owns the polygons added with row index ``i``.
    builder : SurfaceBuilder
        The polygons.
    fmt : str
        ``"citygml"`` or ``"cityjson"`` (id prefix and ``format`` column).
    path : pathlib.Path
        The file (for messages and ``sources``).
    file_crs : str or None
        The CRS named by the file (used for records without their own).
    crs : str or None
        The user's target CRS. When the file names no CRS it is also taken as the CRS of
        the coordinates.
    axis_swap : bool
        Whether coordinates in a geographic CRS with latitude first (as GML writes
        EPSG:4326) are swapped to longitude first.
    wanted : float, optional
        The LoD the user asked for, named in the error when no building has it.

    Returns
    -------
    City

    Raises
    ------
    GeodataError
        If the file holds no usable building, names an unknown CRS, or names none and
        ``crs`` is not given.
    """
    batch = builder.build(n_rows=len(records))
    if builder.dropped:
        log.warning(
            "%s: dropped %d degenerate polygons (fewer than 3 distinct corners)",
            path,
            builder.dropped,
        )
    counts = batch.polys_per_row()
    if not len(records) or not counts.any():
        if wanted is not None:
            raise GeodataError(
                f"{path}: no building with geometry at LoD {wanted:g} (expected Building "
                "objects with solids or surfaces at that LoD; without --lod each building's "
                "highest is read)"
            )
        raise GeodataError(
            f"{path}: no building with usable LoD1-4 geometry found "
            f"(expected Building objects with solids or surfaces)"
        )
    src_names = [r.crs or file_crs or crs for r in records]
    target = _reproject(batch, src_names, crs, path, axis_swap)

    zmin, zmax = batch.z_range()
    types = surf.classify(batch, zmin, zmax)
    prism = surf.prism_rows(batch, zmin, zmax)
    lods = np.array([r.lod for r in records])
    keep_surfaces = (lods >= 2) | ~prism
    shapes = surf.footprints(batch, types, label=str(path))
    surfaces, codes = surf.pack(batch, types, keep_surfaces)

    # The ground under a building part is the lowest point of its whole building, so a
    # part standing on another (a tower on a base) gets min_height > 0, as in the City
    # contract: height and min_height are measured from ground_z.
    roots = _roots(records)
    _, root_code = np.unique(np.array(roots, dtype=object), return_inverse=True)
    root_ground = np.full(root_code.max() + 1, np.inf)
    np.fmin.at(root_ground, root_code, zmin)
    ground = root_ground[root_code]
    ground = np.where(np.isfinite(ground), ground, zmin)
    min_height = np.where(np.isfinite(zmin - ground), zmin - ground, 0.0)
    measured = np.array([r.measured_height for r in records], dtype=float)
    height, source = resolve_heights(zmax - ground, measured, label=str(path))
    # twin's own CityJSON export writes how the height was first derived: keep it.
    given = np.array([r.height_source or "" for r in records], dtype=object)
    source = np.where((source == "measured") & (given != ""), given, source)

    ok = np.array([g is not None for g in shapes]) & (counts > 0)
    if (~ok).any():
        bad = [records[i].source_id for i in np.flatnonzero(~ok)[:5]]
        log.warning(
            "%s: skipped %d objects without a footprint (no polygon with area in plan), e.g. %s",
            path,
            int((~ok).sum()),
            ", ".join(bad),
        )
    n_lod1_surfaces = int(((lods < 2) & ~prism & ok).sum())
    if n_lod1_surfaces:
        log.info(
            "%s: kept the surfaces of %d LoD1 solids that are not simple prisms",
            path,
            n_lod1_surfaces,
        )
    idx = np.flatnonzero(ok)
    ids = _unique_ids([f"{fmt}/{records[i].source_id}" for i in idx], path)
    data = {
        "id": ids,
        "building": [
            f"{fmt}/{roots[i]}" if records[i].parent is not None else row_id
            for i, row_id in zip(idx, ids, strict=True)
        ],
        "is_part": [records[i].parent is not None for i in idx],
        "source_id": [records[i].source_id for i in idx],
        "format": fmt,
        "height": height[idx],
        "min_height": min_height[idx],
        "ground_z": ground[idx],
        "height_source": source[idx],
        "levels": [records[i].levels for i in idx],
        "roof_shape": [records[i].roof_shape for i in idx],
        "lod": np.where(lods[idx] >= 2, 2, 1).astype("int8"),
        "name": [records[i].name for i in idx],
        "address": [records[i].address for i in idx],
        "building_type": [records[i].building_type for i in idx],
        "surfaces": [surfaces[i] for i in idx],
        "surface_types": [codes[i] for i in idx],
    }
    gdf = gpd.GeoDataFrame(data, geometry=list(shapes[idx]), crs=target)
    return City(buildings=gdf, label=f"{path.name} ({fmt})", sources=[str(path)])


def context_layers(
    ctx: ContextObjects,
    src: str | None,
    target: pyproj.CRS | None,
    *,
    axis_swap: bool,
) -> gpd.GeoDataFrame | None:
    """Turn the polygons of non-building objects into 2D context layers.

    Parameters
    ----------
    ctx : ContextObjects
        Polygons, layer (object type in lower case, e.g. ``road``) and name of every object.
    src : str or None
        The file's CRS as written.
    target : pyproj.CRS or None
        The City's CRS.
    axis_swap : bool
        Swap latitude-first geographic coordinates (GML) to longitude first.

    Returns
    -------
    geopandas.GeoDataFrame or None
        Columns ``layer``, ``name``, ``geometry`` (the union of each object's polygons in
        plan); None when there are no such objects.
    """
    layers, names = ctx.layers, ctx.names
    if not layers:
        return None
    batch = ctx.builder.build(n_rows=len(layers))
    if src and target is not None:
        source = parse_crs(src)
        xyz = batch.xyz
        if axis_swap and source.is_geographic and _lat_first(source):
            xyz[:, 0], xyz[:, 1] = xyz[:, 1].copy(), xyz[:, 0].copy()
        if source != target:
            xyz[:, 0], xyz[:, 1] = reproject_xy(xyz[:, 0], xyz[:, 1], source, target)
    bad = ~np.isfinite(batch.xyz).all(axis=1)
    if bad.any():  # coordinates outside the CRS: drop those objects, not the city
        rows = np.unique(batch.vertex_row()[bad])
        log.warning("dropped %d context objects whose coordinates do not fit the CRS", len(rows))
        batch = batch.subset(np.flatnonzero(~np.isin(batch.poly_row, rows)))
    shapes = surf.footprints(batch, batch.poly_type)
    keep = np.array([g is not None for g in shapes])
    return gpd.GeoDataFrame(
        {
            "layer": [v for v, k in zip(layers, keep, strict=True) if k],
            "name": [v for v, k in zip(names, keep, strict=True) if k],
        },
        geometry=list(shapes[keep]),
        crs=target,
    )


def _unique_ids(ids: list[str], path: Path) -> list[str]:
    """Make row ids unique (a file may repeat a gml:id): later copies get ``#2``, ``#3``."""
    seen: dict[str, int] = {}
    out = []
    for i in ids:
        n = seen.get(i, 0) + 1
        seen[i] = n
        out.append(i if n == 1 else f"{i}#{n}")
    repeated = sum(1 for n in seen.values() if n > 1)
    if repeated:
        log.warning(
            "%s: %d ids occur more than once; renamed their repeats to <id>#2, ...", path, repeated
        )
    return out


def _roots(records: list[BuildingRecord]) -> list[str]:
    """Return the source id of the top-level building of every record."""
    parent = {r.source_id: r.parent for r in records}
    out = []
    for r in records:
        sid, seen = r.source_id, set()
        while parent.get(sid) is not None and sid not in seen:
            seen.add(sid)
            sid = parent[sid]  # type: ignore[assignment]
        out.append(sid)
    return out


def _reproject(
    batch: surf.SurfaceBatch,
    src_names: list[str | None],
    override: str | None,
    path: Path,
    axis_swap: bool,
) -> pyproj.CRS:
    """Reproject ``batch.xyz`` in place into the target CRS; return that CRS."""
    names = sorted({n for n in src_names if n}, key=src_names.index)
    if not names:
        raise GeodataError(
            f"{path}: the file names no CRS (no srsName / metadata.referenceSystem), so its "
            "coordinates cannot be placed; give the CRS they are in, e.g. crs='EPSG:25832' "
            "(twin import --crs EPSG:25832)"
        )
    vrow = batch.vertex_row()
    row_src = np.array([names.index(n) if n else 0 for n in src_names], dtype=np.int64)
    vsrc = row_src[vrow]
    parsed = [parse_crs(n, source=str(path)) for n in names]
    xyz = batch.xyz
    for k, src in enumerate(parsed):
        if axis_swap and src.is_geographic and _lat_first(src):
            sel = vsrc == k
            xyz[sel, 0], xyz[sel, 1] = xyz[sel, 1].copy(), xyz[sel, 0].copy()
    first = vsrc == 0
    bounds = (0.0, 0.0, 0.0, 0.0)
    if first.any():
        lo, hi = xyz[first, :2].min(axis=0), xyz[first, :2].max(axis=0)
        bounds = (float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1]))
    target = target_crs(parsed[0], bounds, override)
    for k, src in enumerate(parsed):
        sel = vsrc == k
        if not sel.any() or src == target:
            continue
        x, y = reproject_xy(xyz[sel, 0], xyz[sel, 1], src, target)
        if not (np.isfinite(x).all() and np.isfinite(y).all()):
            raise GeodataError(
                f"{path}: coordinates do not fit the CRS {names[k]!r} "
                f"(reprojection to EPSG:{target.to_epsg()} gave infinite values)"
            )
        xyz[sel, 0], xyz[sel, 1] = x, y
    if len(names) > 1:
        log.info("%s: features in %d CRSs, all reprojected to %s", path, len(names), target.name)
    return target


def _lat_first(crs: pyproj.CRS) -> bool:
    axes = crs.axis_info
    return bool(axes) and axes[0].direction.lower() == "north"


class ModelReader(Protocol):
    """What :func:`finish_city` needs of a CityGML or CityJSON reader after reading."""

    path: Path
    wanted: float | None
    records: list[BuildingRecord]
    builder: surf.SurfaceBuilder
    ctx: ContextObjects
    file_crs: str | None

    def log_summary(self) -> None:
        """Log what was skipped."""


def finish_city(
    reader: ModelReader, *, fmt: str, crs: str | None, axis_swap: bool, started: float
) -> City:
    """Assemble the City of one file with its context layers and log what was read.

    Parameters
    ----------
    reader : ModelReader
        The reader after reading: records, polygons, context objects, the file's CRS.
    fmt, crs, axis_swap
        As for :func:`assemble_city`.
    started : float
        :func:`time.perf_counter` when reading began, for the log.

    Returns
    -------
    City
        With :attr:`City.context` set.
    """
    reader.log_summary()
    path = reader.path
    city = assemble_city(
        reader.records,
        reader.builder,
        fmt=fmt,
        path=path,
        file_crs=reader.file_crs,
        crs=crs,
        axis_swap=axis_swap,
        wanted=reader.wanted,
    )
    city.context = context_layers(
        reader.ctx, reader.file_crs or crs, city.buildings.crs, axis_swap=axis_swap
    )
    log.info(
        "%s: %d buildings (%d parts) read in %.2f s",
        path,
        city.n_buildings,
        city.n_parts,
        time.perf_counter() - started,
    )
    return city
