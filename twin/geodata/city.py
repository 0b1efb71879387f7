"""The City table: one row per building (or building part), saved as GeoParquet.

Every importer returns a :class:`City`; the mesh builder, the exporters, the sensor binding and
the UI only read this table. Columns (see :data:`COLUMNS`):

``id``            stable unique row id, ``"<format>/<source id>"`` (e.g. ``"osm/w123"``)
``building``      id of the building the row belongs to (equal to ``id`` unless a part)
``is_part``       True for a ``building:part`` / ``BuildingPart`` row
``source_id``     the id in the source file (OSM ``w123``/``r45``, ``gml:id``, CityJSON key)
``format``        source format: ``osm``, ``citygml``, ``cityjson``, ``gis``, ``demo``
``geometry``      2D footprint (Polygon or MultiPolygon) in the City's CRS, absolute coordinates
``height``        top of the volume above ground, metres
``min_height``    bottom of the volume above ground, metres (stacked parts, bridges)
``ground_z``      absolute elevation of the ground under the building, metres (0 if unknown)
``height_source`` how ``height`` was derived: ``measured``, ``levels``, ``default``, ``geometry``
``levels``        number of storeys above ground if known, else NaN
``roof_shape``    roof shape (``flat``, ``gabled``, ...) or None
``lod``           level of detail: 1 for block models, 2 when ``surfaces`` hold LoD2 geometry
``name``, ``address``, ``building_type``   attributes, or None
``surfaces``      LoD2 only: WKB of a 3D MultiPolygon of all boundary surfaces, absolute
                  coordinates; None for block models
``surface_types`` LoD2 only: one character per polygon of ``surfaces``: ``G`` ground,
                  ``W`` wall, ``R`` roof, ``O`` other (closure, outer floor/ceiling)

The file's key-value metadata (key ``twin``) holds the CRS, the local origin, whether the
city is synthetic, its label, the sources and attribution, and the context layers.
"""

from __future__ import annotations

import base64
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from twin.errors import CityFileError

log = logging.getLogger(__name__)

#: Column name → pandas dtype of the City table (besides ``geometry``).
COLUMNS: dict[str, str] = {
    "id": "object",
    "building": "object",
    "is_part": "bool",
    "source_id": "object",
    "format": "object",
    "height": "float64",
    "min_height": "float64",
    "ground_z": "float64",
    "height_source": "object",
    "levels": "float64",
    "roof_shape": "object",
    "lod": "int8",
    "name": "object",
    "address": "object",
    "building_type": "object",
    "surfaces": "object",
    "surface_types": "object",
}

#: Allowed values of ``height_source``.
HEIGHT_SOURCES = ("measured", "levels", "default", "geometry")

#: Codes of ``surface_types`` and the integer used in the mesh's ``surface`` cell array.
SURFACE_CODES = {"G": 0, "W": 1, "R": 2, "O": 3}
SURFACE_NAMES = ("ground", "wall", "roof", "other")

SYNTHETIC_LABEL = "Synthetic demo city (generated, not real data)"

_META_KEY = b"twin"


@dataclass
class City:
    """A city model: the building table plus its CRS, local origin and context layers.

    Parameters
    ----------
    buildings : geopandas.GeoDataFrame
        One row per building or building part with the columns of :data:`COLUMNS`.
    origin : tuple of float, optional
        Local origin ``(x, y, z)`` subtracted before rendering in float32. Defaults to the
        centre of the bounding box, rounded to whole metres.
    synthetic : bool
        True for the generated demo city; the UI and exports then show :attr:`label`.
    label : str, optional
        A human-readable name ("Synthetic demo city ...", "Limburg an der Lahn (OSM)").
    sources : list of str
        Names of the files the city was read from.
    attribution : list of str
        Licence notices of the source data, shown with any rendering.
    context : geopandas.GeoDataFrame, optional
        Context layers (columns ``layer``, ``name``, ``geometry``): streets, river, parks.

    Examples
    --------
    >>> from twin.geodata.demo import generate_city
    >>> city = generate_city(buildings=100, seed=1)
    >>> city.n_buildings
    100
    """

    buildings: gpd.GeoDataFrame
    origin: tuple[float, float, float] | None = None
    synthetic: bool = False
    label: str = ""
    sources: list[str] = field(default_factory=list)
    attribution: list[str] = field(default_factory=list)
    context: gpd.GeoDataFrame | None = None

    def __post_init__(self) -> None:
        self.buildings = normalise(self.buildings)
        if self.origin is None:
            self.origin = default_origin(self.buildings)
        self.origin = tuple(float(v) for v in self.origin)  # type: ignore[assignment]
        if self.synthetic and not self.label:
            self.label = SYNTHETIC_LABEL

    @property
    def crs(self) -> str:
        """The CRS as ``"EPSG:N"`` when it has an EPSG code, else its WKT."""
        crs = self.buildings.crs
        if crs is None:
            return ""
        epsg = crs.to_epsg()
        return f"EPSG:{epsg}" if epsg else crs.to_wkt()

    @property
    def n_buildings(self) -> int:
        """Number of buildings; a building drawn by its parts counts once."""
        return int(self.buildings["building"].nunique())

    @property
    def n_parts(self) -> int:
        """Number of building-part rows."""
        return int(self.buildings["is_part"].sum())

    def __len__(self) -> int:
        return len(self.buildings)

    def save(self, path: str | Path) -> Path:
        """Write the City as GeoParquet with twin's metadata.

        Parameters
        ----------
        path : str or pathlib.Path
            Target file, conventionally ``*.parquet``.

        Returns
        -------
        pathlib.Path
            The path written.
        """
        import pyarrow.parquet as pq

        path = Path(path)
        table = self.buildings.to_arrow(index=False, geometry_encoding="WKB")
        table = pa_table(table)
        meta = dict(table.schema.metadata or {})
        meta[_META_KEY] = json.dumps(self._meta()).encode()
        table = table.replace_schema_metadata(meta)
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, path, compression="zstd")
        log.info("wrote %d rows to %s", len(self.buildings), path)
        return path

    def _meta(self) -> dict[str, Any]:
        context = None
        if self.context is not None and len(self.context):
            context = {
                "layer": [str(v) for v in self.context["layer"]],
                "name": [None if pd.isna(v) else str(v) for v in self.context.get("name", [])],
                "wkb": [
                    base64.b64encode(g).decode() for g in shapely.to_wkb(self.context.geometry)
                ],
            }
        return {
            "version": 1,
            "crs": self.crs,
            "origin": list(self.origin or (0.0, 0.0, 0.0)),
            "synthetic": self.synthetic,
            "label": self.label,
            "sources": self.sources,
            "attribution": self.attribution,
            "context": context,
        }

    @classmethod
    def load(cls, path: str | Path) -> City:
        """Read a City written by :meth:`save`.

        Parameters
        ----------
        path : str or pathlib.Path
            A GeoParquet file written by twin.

        Returns
        -------
        City

        Raises
        ------
        CityFileError
            If the file is missing, not Parquet, or lacks twin's metadata.
        """
        import pyarrow.parquet as pq

        path = Path(path)
        if not path.is_file():
            raise CityFileError(f"{path}: no such city file (expected a .parquet from twin)")
        try:
            table = pq.read_table(path)
        except Exception as err:  # pyarrow raises several types for broken files
            raise CityFileError(f"{path}: not a GeoParquet file ({err})") from err
        raw = (table.schema.metadata or {}).get(_META_KEY)
        if raw is None:
            raise CityFileError(
                f"{path}: a Parquet file, but not a twin City (no 'twin' metadata); "
                "create one with 'twin import' or 'twin generate'"
            )
        meta = json.loads(raw)
        gdf = gpd.GeoDataFrame.from_arrow(table)
        if gdf.crs is None and meta.get("crs"):
            gdf = gdf.set_crs(meta["crs"])
        context = None
        ctx = meta.get("context")
        if ctx:
            geoms = shapely.from_wkb([base64.b64decode(s) for s in ctx["wkb"]])
            context = gpd.GeoDataFrame(
                {"layer": ctx["layer"], "name": ctx["name"]}, geometry=geoms, crs=gdf.crs
            )
        return cls(
            buildings=gdf,
            origin=tuple(meta.get("origin") or (0.0, 0.0, 0.0)),
            synthetic=bool(meta.get("synthetic")),
            label=meta.get("label", ""),
            sources=list(meta.get("sources", [])),
            attribution=list(meta.get("attribution", [])),
            context=context,
        )

    def info(self) -> dict[str, Any]:
        """Summarise the City as plain data (what ``twin info --json`` prints).

        Returns
        -------
        dict
            ``buildings``, ``parts``, ``rows``, ``crs``, ``origin``, ``bbox``, ``height``
            (``min``/``max``/``mean``), ``height_source`` and ``formats`` counts, ``lod``
            counts, ``context`` (objects per context layer), ``synthetic``, ``label``,
            ``sources``, ``attribution``.
        """
        b = self.buildings
        bbox = [float(v) for v in b.total_bounds] if len(b) else [0.0, 0.0, 0.0, 0.0]
        # Height of a building = top of its tallest row (parts stack).
        tops = b["height"].groupby(b["building"]).max()
        first = b.drop_duplicates("building")

        def counts(col: pd.Series) -> dict[str, int]:
            return {str(k): int(v) for k, v in col.value_counts().sort_index().items()}

        return {
            "buildings": self.n_buildings,
            "parts": self.n_parts,
            "rows": len(b),
            "crs": self.crs,
            "origin": list(self.origin or (0.0, 0.0, 0.0)),
            "bbox": bbox,
            "height": {
                "min": float(tops.min()) if len(tops) else 0.0,
                "max": float(tops.max()) if len(tops) else 0.0,
                "mean": float(tops.mean()) if len(tops) else 0.0,
            },
            "height_source": counts(first["height_source"]),
            "formats": counts(first["format"]),
            "lod": counts(first["lod"].astype(int)),
            "context": counts(self.context["layer"]) if self.context is not None else {},
            "synthetic": self.synthetic,
            "label": self.label,
            "sources": self.sources,
            "attribution": self.attribution,
        }


def pa_table(table: Any) -> Any:
    """Return ``table`` as a :class:`pyarrow.Table` (geopandas may hand back a stream)."""
    import pyarrow as pa

    if isinstance(table, pa.Table):
        return table
    return pa.table(table)


def empty_buildings(crs: Any = None) -> gpd.GeoDataFrame:
    """Return an empty building table with all columns of :data:`COLUMNS`.

    Parameters
    ----------
    crs : optional
        CRS of the (empty) geometry column.
    """
    data = {name: pd.Series([], dtype=dtype) for name, dtype in COLUMNS.items()}
    return gpd.GeoDataFrame(data, geometry=gpd.GeoSeries([], crs=crs), crs=crs)


def normalise(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Bring a building table into the canonical column set and order.

    Missing optional columns are added with defaults (``building`` = ``id``, ``is_part``
    False, ``min_height``/``ground_z`` 0, ``lod`` 1, text columns None); dtypes are
    coerced. Unknown extra columns are kept after the canonical ones.

    Parameters
    ----------
    gdf : geopandas.GeoDataFrame
        A table with at least ``id``, ``geometry`` and ``height``.

    Returns
    -------
    geopandas.GeoDataFrame
        A new frame with a fresh RangeIndex.
    """
    if gdf.geometry.name != "geometry":
        gdf = gdf.rename_geometry("geometry")
    gdf = gdf.reset_index(drop=True).copy()
    n = len(gdf)
    if "id" not in gdf:
        raise ValueError("a building table needs an 'id' column")
    defaults: dict[str, Any] = {
        "building": gdf["id"],
        "is_part": False,
        "source_id": gdf["id"],
        "format": "unknown",
        "height": np.nan,
        "min_height": 0.0,
        "ground_z": 0.0,
        "height_source": "default",
        "levels": np.nan,
        "lod": 1,
    }
    for name, dtype in COLUMNS.items():
        if name not in gdf:
            gdf[name] = defaults.get(name) if n else pd.Series([], dtype=dtype)
        if dtype == "float64":
            gdf[name] = pd.to_numeric(gdf[name], errors="coerce").astype("float64")
        elif dtype in ("bool", "int8"):
            gdf[name] = gdf[name].astype(dtype)
        else:
            gdf[name] = gdf[name].astype("object").where(gdf[name].notna(), None)
    gdf["min_height"] = gdf["min_height"].fillna(0.0)
    gdf["ground_z"] = gdf["ground_z"].fillna(0.0)
    extra = [c for c in gdf.columns if c not in COLUMNS and c != "geometry"]
    return gdf[[*COLUMNS, *extra, "geometry"]]


def default_origin(buildings: gpd.GeoDataFrame) -> tuple[float, float, float]:
    """Centre of the bounding box rounded to whole metres, at the lowest ground level.

    Parameters
    ----------
    buildings : geopandas.GeoDataFrame
        The building table.

    Returns
    -------
    tuple of float
        ``(x, y, z)``; zeros for an empty table.
    """
    if not len(buildings):
        return (0.0, 0.0, 0.0)
    minx, miny, maxx, maxy = buildings.total_bounds
    z = float(np.nanmin(buildings["ground_z"].to_numpy())) if "ground_z" in buildings else 0.0
    return (float(round((minx + maxx) / 2)), float(round((miny + maxy) / 2)), round(z))


def concat(cities: list[City]) -> City:
    """Join several cities (already in one CRS) into one.

    Parameters
    ----------
    cities : list of City
        Cities in the same CRS.

    Returns
    -------
    City
        Rows of all, a new origin, sources and attributions combined.
    """
    if len(cities) == 1:
        return cities[0]
    crs = cities[0].buildings.crs
    for c in cities[1:]:
        if c.buildings.crs != crs:
            raise ValueError("cities to join must share one CRS; reproject them first")
    gdf = gpd.GeoDataFrame(pd.concat([c.buildings for c in cities], ignore_index=True), crs=crs)
    ctx = [c.context for c in cities if c.context is not None and len(c.context)]
    return City(
        buildings=gdf,
        synthetic=any(c.synthetic for c in cities),
        label=" + ".join(c.label for c in cities if c.label),
        sources=[s for c in cities for s in c.sources],
        attribution=list(dict.fromkeys(a for c in cities for a in c.attribution)),
        context=gpd.GeoDataFrame(pd.concat(ctx, ignore_index=True), crs=crs) if ctx else None,
    )
