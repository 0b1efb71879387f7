"""Generic GIS importer: building footprints from GeoJSON, GeoPackage, Shapefile, GeoParquet.

:func:`read_gis` reads polygon features with pyogrio (GeoParquet with geopandas), repairs
invalid rings, picks the height from a column given by the user or detected by name, and
returns a :class:`~twin.geodata.city.City` in a metric CRS. A GeoParquet file written by
twin (``twin import``/``twin generate``) is loaded as it is with
:meth:`City.load <twin.geodata.city.City.load>`.

Height columns recognised (case-insensitive, first match wins):

* metres (numbers or text with units, ``"7.5 m"``, ``"30'"``): :data:`HEIGHT_COLUMNS`;
* storeys, × :data:`~twin.geodata.heights.LEVEL_HEIGHT`: :data:`LEVEL_COLUMNS`;
* otherwise a default by building type (:func:`~twin.geodata.heights.default_height`).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely

from twin.errors import GeodataError
from twin.geodata.city import City
from twin.geodata.crs import horizontal, parse_crs, target_crs
from twin.geodata.geometry import polygonal_array
from twin.geodata.heights import derive_heights
from twin.geodata.progress import progress_bar

log = logging.getLogger(__name__)

#: Columns holding a height in metres, in order of preference (matched case-insensitively).
HEIGHT_COLUMNS = (
    "height",
    "building:height",
    "measuredHeight",
    "building_height",
    "bldg_height",
    "height_m",
    "hoehe",
    "höhe",
    "gebaeudehoehe",
    "gebäudehöhe",
)
#: Columns holding the number of storeys above ground.
LEVEL_COLUMNS = (
    "building:levels",
    "levels",
    "storeysAboveGround",
    "storeys",
    "floors",
    "num_floors",
    "geschosse",
    "anzahl_geschosse",
    "stockwerke",
)
#: Other attribute columns: City column → candidate source columns.
ATTRIBUTE_COLUMNS: dict[str, tuple[str, ...]] = {
    "min_height": ("min_height", "building:min_height"),
    "building:min_level": ("building:min_level", "min_level"),
    "roof:levels": ("roof:levels",),
    "roof:height": ("roof:height",),
    "building_type": (
        "building_type",
        "building",
        "function",
        "funktion",
        "gebaeudefunktion",
        "type",
    ),
    "roof_shape": ("roof_shape", "roof:shape", "roofType", "dachform"),
    "name": ("name",),
    "address": ("address", "addr", "adresse", "anschrift"),
    "addr:street": ("addr:street", "street", "strasse", "straße"),
    "addr:housenumber": ("addr:housenumber", "housenumber", "hausnummer", "hnr"),
    "id": ("id", "osm_id", "gml_id", "objectid", "uuid", "gid"),
}
#: File suffixes read with geopandas' GeoParquet reader.
PARQUET_SUFFIXES = (".parquet", ".geoparquet", ".pq")
_BATCH = 65_536


def read_gis(
    path: str | Path,
    *,
    crs: str | None = None,
    height_column: str | None = None,
    layer: str | None = None,
    progress: bool = False,
) -> City:
    """Read building footprints from a GeoJSON, GeoPackage, Shapefile or GeoParquet file.

    Parameters
    ----------
    path : str or pathlib.Path
        The file.
    crs : str, optional
        Target CRS (``"EPSG:25832"``). By default the file's CRS if it is projected, else
        the UTM zone of the data. A file without a CRS is taken to be in ``crs`` if given,
        else in WGS 84 when its coordinates look like longitude/latitude.
    height_column : str, optional
        Column with the height in metres (numbers or text with units). A column whose name
        is one of :data:`LEVEL_COLUMNS` is read as storeys. Detected when not given.
    layer : str, optional
        Layer of a multi-layer file (GeoPackage); by default the first polygon layer.
    progress : bool
        Show a progress bar over the features read.

    Returns
    -------
    City
        One row per polygon feature, ``format="gis"``, ids ``gis/<file stem>/<feature id>``.

    Raises
    ------
    GeodataError
        If the file is missing or unreadable, has no polygon features, no usable CRS, or
        lacks the requested layer or height column.

    Examples
    --------
    >>> city = read_gis("buildings.gpkg", height_column="hoehe")  # doctest: +SKIP
    """
    path = Path(path)
    if not path.is_file():
        raise GeodataError(f"{path}: no such file")
    if path.suffix.lower() in PARQUET_SUFFIXES:
        city = _read_twin_parquet(path, crs)
        if city is not None:
            return city
        gdf = _read_parquet(path)
    else:
        gdf = _read_ogr(path, layer, progress)
    return _to_city(gdf, path, crs, height_column)


def _read_twin_parquet(path: Path, crs: str | None) -> City | None:
    """Load a twin City file (None if the Parquet file is not one)."""
    import pyarrow.parquet as pq

    try:
        meta = pq.read_schema(path).metadata or {}
    except Exception as err:  # pyarrow raises several types for broken files
        raise GeodataError(f"{path}: not a Parquet file ({err})") from err
    if b"twin" not in meta:
        return None
    city = City.load(path)
    if crs:
        from twin.geodata.io import reproject_city

        city = reproject_city(city, parse_crs(crs, source="crs"))
    return city


def _read_parquet(path: Path) -> gpd.GeoDataFrame:
    try:
        return gpd.read_parquet(path)
    except Exception as err:  # pyarrow / geopandas raise several types
        raise GeodataError(
            f"{path}: cannot read as GeoParquet (expected a Parquet file with 'geo' "
            f"metadata and a WKB geometry column): {err}"
        ) from err


def _read_ogr(path: Path, layer: str | None, progress: bool) -> gpd.GeoDataFrame:
    """Read one layer with pyogrio in batches of Arrow records."""
    import pyarrow as pa
    import pyogrio
    from pyogrio.errors import DataLayerError, DataSourceError, FieldError, GeometryError

    ogr_errors = (DataSourceError, DataLayerError, FieldError, GeometryError)
    try:
        layers = pyogrio.list_layers(path)
    except ogr_errors as err:
        raise GeodataError(f"{path}: cannot read as a GIS file: {err}") from err
    names = [str(n) for n in layers[:, 0]]
    if layer is None:
        polygonal = [str(n) for n, t in layers if t is None or "Polygon" in str(t)]
        layer = (polygonal or names)[0]
        if len(names) > 1:
            log.info("%s: reading layer %r of %s", path, layer, names)
    elif layer not in names:
        raise GeodataError(f"{path}: no layer {layer!r}; the file has {', '.join(names)}")
    try:
        total = pyogrio.read_info(path, layer=layer).get("features")
        with pyogrio.open_arrow(
            path, layer=layer, batch_size=_BATCH, use_pyarrow=True, return_fids=True
        ) as (meta, reader):
            batches = []
            known = total if total and total > 0 else None
            with progress_bar(progress, path, total=known, unit=" features") as bar:
                for batch in reader:
                    batches.append(batch)
                    bar.update(batch.num_rows)
            table = pa.Table.from_batches(batches, schema=reader.schema)
    except ogr_errors as err:
        raise GeodataError(f"{path}: cannot read layer {layer!r}: {err}") from err
    geom = meta.get("geometry_name") or "wkb_geometry"
    if geom not in table.column_names:
        raise GeodataError(
            f"{path}: layer {layer!r} has no geometry (a plain table?); expected a layer of "
            "building footprint polygons"
        )
    gdf = gpd.GeoDataFrame.from_arrow(table, geometry=geom)
    fid = meta.get("fid_column") or "OGC_FID"
    if fid in gdf.columns:
        gdf = gdf.rename(columns={fid: "__fid"})
    if gdf.crs is None and meta.get("crs"):
        gdf = gdf.set_crs(meta["crs"], allow_override=True)
    return gdf


def _find(columns: list[str], candidates: tuple[str, ...]) -> str | None:
    """Return the first column matching a candidate name, case-insensitively."""
    lower = {c.lower(): c for c in reversed(columns)}
    for name in candidates:
        if name.lower() in lower:
            return lower[name.lower()]
    return None


def _examples(ids: np.ndarray, limit: int = 5) -> str:
    shown = ", ".join(str(v) for v in ids[:limit])
    return shown + (", ..." if len(ids) > limit else "")


def _clean(gdf: gpd.GeoDataFrame, path: Path) -> gpd.GeoDataFrame:
    """Drop empty and non-polygon features, repair invalid ones; log what was done."""
    geoms = np.array(gdf.geometry.array, dtype=object)
    fids = gdf["__label"].to_numpy()
    types = shapely.get_type_id(geoms)  # -1 for None
    empty = (types < 0) | shapely.is_empty(geoms)
    collections = types == 7
    if collections.any():
        geoms[collections] = polygonal_array(geoms[collections])
        types = shapely.get_type_id(geoms)
        empty |= types < 0
    points = np.isin(types, (0, 4)) & ~empty
    lines = np.isin(types, (1, 2, 5)) & ~empty
    polygons = np.isin(types, (3, 6)) & ~empty
    if not polygons.any():
        found = f"{points.sum()} point, {lines.sum()} line, {empty.sum()} empty"
        raise GeodataError(
            f"{path}: no polygon features ({found} of {len(geoms)} features): "
            "buildings need footprint polygons"
        )
    if points.any() or lines.any():
        log.warning(
            "%s: rejected %d point and %d line features (buildings need footprint polygons; "
            "e.g. features %s)",
            path,
            points.sum(),
            lines.sum(),
            _examples(fids[points | lines]),
        )
    if empty.any():
        log.warning(
            "%s: dropped %d features without geometry (e.g. features %s)",
            path,
            empty.sum(),
            _examples(fids[empty]),
        )
    gdf, geoms = gdf[polygons], geoms[polygons]
    if shapely.has_z(geoms).any():
        coords, index = shapely.get_coordinates(geoms, include_z=True, return_index=True)
        zmin = np.full(len(geoms), np.inf)
        np.minimum.at(zmin, index, np.nan_to_num(coords[:, 2], nan=np.inf))
        gdf = gdf.assign(ground_z=np.where(np.isfinite(zmin), zmin, 0.0))
        geoms = shapely.force_2d(geoms)
    invalid = ~shapely.is_valid(geoms)
    if invalid.any():
        fids = gdf["__label"].to_numpy()
        reasons = shapely.is_valid_reason(geoms[invalid])
        repaired = polygonal_array(shapely.make_valid(geoms[invalid]))
        lost = np.array([g is None or g.is_empty or g.area <= 0 for g in repaired])
        geoms[invalid] = repaired
        bad = fids[invalid]
        log.warning(
            "%s: repaired %d invalid footprints with make_valid (e.g. feature %s: %s)",
            path,
            (~lost).sum(),
            bad[0],
            reasons[0],
        )
        if lost.any():
            log.warning(
                "%s: dropped %d invalid footprints with no area left after repair (features %s)",
                path,
                lost.sum(),
                _examples(bad[lost]),
            )
        keep = np.ones(len(geoms), bool)
        keep[np.flatnonzero(invalid)[lost]] = False
        gdf, geoms = gdf[keep], geoms[keep]
        if not len(geoms):
            raise GeodataError(
                f"{path}: no valid polygon left after repairing the footprints (expected "
                "building footprints with an area)"
            )
    return gdf.set_geometry(gpd.GeoSeries(geoms, index=gdf.index, crs=gdf.crs))


def _source_crs(gdf: gpd.GeoDataFrame, path: Path, crs: str | None) -> pyproj.CRS:
    """Return the CRS the file's coordinates are in."""
    if gdf.crs is not None:
        return horizontal(pyproj.CRS.from_user_input(gdf.crs))
    if crs:
        log.warning("%s: no CRS in the file; assuming its coordinates are in %s", path, crs)
        return parse_crs(crs, source="crs")
    minx, miny, maxx, maxy = gdf.total_bounds
    if -180 <= minx <= maxx <= 180 and -90 <= miny <= maxy <= 90:
        log.warning("%s: no CRS in the file; assuming longitude/latitude (EPSG:4326)", path)
        return pyproj.CRS.from_epsg(4326)
    raise GeodataError(
        f"{path}: no CRS in the file and the coordinates are not longitude/latitude; "
        "give one with --crs (e.g. --crs EPSG:25832) or add a .prj file"
    )


def _heights(gdf: gpd.GeoDataFrame, path: Path, height_column: str | None) -> pd.DataFrame:
    """Heights, storeys and min heights from the detected or chosen columns."""
    columns = [c for c in gdf.columns if c not in ("__fid", "__label", gdf.geometry.name)]
    tags: dict[str, Any] = {}
    if height_column is not None:
        col = height_column if height_column in columns else _find(columns, (height_column,))
        if col is None:
            raise GeodataError(
                f"{path}: no column {height_column!r} for --height-column; "
                f"the file has {', '.join(columns) or 'no attribute columns'}"
            )
        if _find([col], LEVEL_COLUMNS):
            tags["building:levels"] = gdf[col]
        else:
            tags["height"] = gdf[col]
        used = col
    else:
        hcol = _find(columns, HEIGHT_COLUMNS)
        lcol = _find(columns, LEVEL_COLUMNS)
        if hcol:
            tags["height"] = gdf[hcol]
        if lcol:
            tags["building:levels"] = gdf[lcol]
        used = " + ".join(c for c in (hcol, lcol) if c) or None
    for key in ("min_height", "building:min_level", "roof:levels", "roof:height"):
        col = _find(columns, ATTRIBUTE_COLUMNS[key])
        if col:
            tags[key] = gdf[col]
    types = _text(gdf, columns, "building_type")
    if types is not None:
        tags["building_type"] = types
    out = derive_heights(tags, n=len(gdf))
    src = tags.get("height")
    if src is not None:
        given = src.notna().to_numpy() & (src.astype(str).str.strip() != "").to_numpy()
        unparsed = given & (out["height_source"].to_numpy() != "measured")
        if unparsed.any():
            log.warning(
                "%s: %d height values could not be read as lengths (e.g. %r at feature %s); "
                "used storeys or a default instead",
                path,
                unparsed.sum(),
                src[unparsed].iloc[0],
                gdf["__label"].to_numpy()[unparsed][0],
            )
    counts = out["height_source"].value_counts().to_dict()
    log.info("%s: heights from %s: %s", path, used or "no height column (defaults)", counts)
    return out


def _text(gdf: gpd.GeoDataFrame, columns: list[str], key: str) -> pd.Series | None:
    """Return the text of attribute ``key`` (None for missing/empty values), or None."""
    col = _find(columns, ATTRIBUTE_COLUMNS[key])
    if col is None:
        return None
    raw = gdf[col]
    na = raw.isna().to_numpy()
    if pd.api.types.is_float_dtype(raw) and np.all(np.mod(raw[~na], 1) == 0):
        raw = raw.astype("Int64")  # 5.0 → "5" for house numbers, storeys, codes
    text = raw.astype(str).str.strip()
    bad = na | (text == "").to_numpy()
    if key == "building_type":
        bad |= (text == "yes").to_numpy()
    out = text.to_numpy(dtype=object)
    out[bad] = None
    return pd.Series(out, index=gdf.index, dtype=object)


def _to_city(gdf: gpd.GeoDataFrame, path: Path, crs: str | None, height_column: str | None) -> City:
    """Turn a raw layer into a City table."""
    if "__fid" not in gdf.columns:
        gdf = gdf.assign(__fid=np.arange(len(gdf)))
    if gdf.geometry is None or not len(gdf):
        raise GeodataError(f"{path}: no features (expected building footprint polygons)")
    # Features are named in messages by their id column if there is one, else by feature id.
    id_col = _find(list(gdf.columns), ATTRIBUTE_COLUMNS["id"])
    label = gdf[id_col] if id_col else gdf["__fid"]
    gdf = gdf.assign(__label=label.astype(str).map(repr) if id_col else label)
    gdf = _clean(gdf, path)
    src = _source_crs(gdf, path, crs)
    gdf = gdf.set_crs(src, allow_override=True)
    target = target_crs(src, tuple(gdf.total_bounds), crs)
    if not target.equals(src):
        gdf = gdf.to_crs(target)
    columns = [c for c in gdf.columns if c not in ("__fid", "__label", gdf.geometry.name)]
    heights = _heights(gdf, path, height_column)
    ids = gdf[id_col] if id_col else gdf["__fid"]
    if id_col and (ids.isna().any() or not ids.is_unique):
        log.info("%s: column %r is not a unique id; using feature ids", path, id_col)
        ids = gdf["__fid"]
    source_id = ids.astype(str).to_numpy()
    address = _text(gdf, columns, "address")
    street = _text(gdf, columns, "addr:street")
    number = _text(gdf, columns, "addr:housenumber")
    if address is None and street is not None:
        num = number if number is not None else pd.Series(None, index=gdf.index)
        address = pd.Series(
            [
                None if s is None else (f"{s} {n}" if n else s)
                for s, n in zip(street, num, strict=True)
            ],
            index=gdf.index,
        )
    n = len(gdf)

    def col(s: pd.Series | None) -> Any:
        return s.to_numpy() if s is not None else np.full(n, None, dtype=object)

    table = gpd.GeoDataFrame(
        {
            "id": np.char.add(f"gis/{path.stem}/", source_id.astype(str)).astype(object),
            "source_id": source_id.astype(object),
            "format": "gis",
            "height": heights["height"].to_numpy(),
            "min_height": heights["min_height"].to_numpy(),
            "ground_z": gdf["ground_z"].to_numpy() if "ground_z" in gdf else 0.0,
            "height_source": heights["height_source"].to_numpy(),
            "levels": heights["levels"].to_numpy(),
            "roof_shape": col(_text(gdf, columns, "roof_shape")),
            "lod": 1,
            "name": col(_text(gdf, columns, "name")),
            "address": col(address),
            "building_type": col(_text(gdf, columns, "building_type")),
        },
        geometry=gdf.geometry.to_numpy(),
        crs=gdf.crs,
    )
    log.info("%s: %d buildings in %s", path, n, table.crs.to_string())
    return City(buildings=table, label=path.name, sources=[str(path)])
