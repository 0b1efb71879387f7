"""Read CityJSON 1.0, 1.1 and 2.0 files and CityJSONSeq streams into a
:class:`~twin.geodata.city.City`.

* ``.city.json`` / ``.json``: one CityJSON object; vertices are decoded once, vectorised,
  with ``transform`` (``scale``/``translate``, optional in 1.0).
* ``.city.jsonl`` / ``.jsonl``: CityJSONSeq: the first line is a CityJSON header (with the
  ``transform`` and ``metadata.referenceSystem``), each further line a ``CityJSONFeature``
  with its own ``vertices``. Read line by line, never holding the whole JSON text.

Building and BuildingPart objects become rows (parts linked by ``parents``/``children``);
other objects (roads, terrain, vegetation, water, ...) are counted and skipped; their 2D
outlines are kept as context layers in :attr:`City.context` (layer = the CityJSON type in
lower case, e.g. ``road``, ``waterbody``, ``plantcover``), except terrain (``TINRelief``),
which would cover everything. Geometry types MultiSurface, CompositeSurface, Solid,
MultiSolid and CompositeSolid are read with their semantics (``GroundSurface``,
``WallSurface``, ``RoofSurface``, ...); ``GeometryInstance`` (templates) is skipped.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from twin.errors import GeodataError
from twin.geodata import surfaces as surf
from twin.geodata.city import City
from twin.geodata.citygml_assemble import finish_city
from twin.geodata.citygml_model import (
    SEMANTIC,
    BuildingRecord,
    ContextObjects,
    Skipped,
    check_file,
    check_lod,
    choose_lod,
    height_source_attribute,
    roof_shape,
)
from twin.geodata.crs import parse_crs
from twin.geodata.progress import progress_bar

log = logging.getLogger(__name__)

SUPPORTED_VERSIONS = ("1.0", "1.1", "2.0")
BUILDING_TYPES = frozenset({"Building", "BuildingPart"})
#: Sub-objects of buildings that are not rows of the City (skipped silently but counted).
_BUILDING_CHILDREN = frozenset(
    {
        "BuildingInstallation",
        "BuildingConstructiveElement",
        "BuildingFurniture",
        "BuildingRoom",
        "BuildingStorey",
        "BuildingUnit",
    }
)
_NO_CONTEXT = frozenset({"TINRelief"}) | _BUILDING_CHILDREN


def read_cityjson(
    path: str | Path,
    *,
    crs: str | None = None,
    lod: int | str | None = None,
    progress: bool = False,
) -> City:
    """Read the buildings of a CityJSON file or CityJSONSeq stream.

    Parameters
    ----------
    path : str or pathlib.Path
        ``.city.json``/``.json`` (CityJSON 1.0, 1.1, 2.0) or ``.city.jsonl``/``.jsonl``
        (CityJSONSeq).
    crs : str, optional
        Target CRS; by default the file's own when projected, else the UTM zone of the data.
        When the file names no CRS, ``crs`` is also taken as the CRS of its coordinates
        (and required: without it such a file is an error).
    lod : int or str, optional
        LoD to read: a number (``2``: the highest of ``"2"``, ``"2.1"``, ``"2.2"``) or an
        exact CityJSON LoD (``"2.2"``). By default each object's highest. Objects without a
        matching LoD are skipped (and counted in the log).
    progress : bool
        Show a progress bar over the city objects (lines for CityJSONSeq).

    Returns
    -------
    City
        ``format="cityjson"``, ids ``"cityjson/<key>"``; BuildingParts as rows with
        ``is_part=True``; LoD2+ rows carry their ``surfaces``.

    Raises
    ------
    GeodataError
        If the file is empty, not JSON (with line and column), not CityJSON, names an unknown
        CRS or none (without ``crs``), references missing vertices (with the object id), or
        holds no building.
    ConfigError
        If ``lod`` is not 1-4 or a CityJSON LoD such as ``"2.2"``.

    Examples
    --------
    >>> city = read_cityjson("delft.city.json")  # doctest: +SKIP
    >>> city.crs, city.n_buildings  # doctest: +SKIP
    ('EPSG:28992', 160)
    """
    path = Path(path)
    wanted = check_lod(lod)
    # "2.2" (or 2.2) asks for exactly that LoD; 2 or "2" for the highest 2.x.
    exact = (isinstance(lod, str) and "." in lod) or (
        isinstance(lod, float) and not lod.is_integer()
    )
    started = time.perf_counter()
    check_file(path, "a CityJSON document")
    reader = _Reader(path, wanted, exact)
    if path.suffix.lower() == ".jsonl":
        reader.read_seq(progress)
    else:
        reader.read_document(progress)
    return finish_city(reader, fmt="cityjson", crs=crs, axis_swap=False, started=started)


def _json_error(path: Path, err: json.JSONDecodeError) -> GeodataError:
    return GeodataError(
        f"{path}: line {err.lineno}, column {err.colno}: invalid JSON "
        f"({err.msg}); expected a CityJSON object"
    )


class _Reader:
    """Turn CityJSON objects into records + polygons."""

    def __init__(self, path: Path, wanted: float | None, exact: bool) -> None:
        self.path = path
        self.wanted = wanted
        self.exact = exact
        self.records: list[BuildingRecord] = []
        self.builder = surf.SurfaceBuilder()
        self.file_crs: str | None = None
        self.skipped = Skipped()
        self.instances = 0
        self.scale = np.ones(3)
        self.translate = np.zeros(3)
        self.ctx = ContextObjects()

    # -- documents --------------------------------------------------------------------
    def read_document(self, progress: bool) -> None:
        with open(self.path, encoding="utf-8-sig") as fh:
            try:
                doc = json.load(fh)
            except json.JSONDecodeError as err:
                if err.msg == "Extra data" and err.lineno >= 2:
                    log.info("%s: several JSON values, reading it as CityJSONSeq", self.path)
                    self.read_seq(progress)
                    return
                raise _json_error(self.path, err) from err
            except UnicodeDecodeError as err:
                raise GeodataError(
                    f"{self.path}: byte {err.start}: not UTF-8 text; expected a CityJSON file"
                ) from err
        self._header(doc, where="")
        objects = doc.get("CityObjects")
        if not isinstance(objects, dict):
            raise GeodataError(f"{self.path}: 'CityObjects' is missing or not an object")
        vertices = self._vertices(doc.get("vertices", []), "the document")
        self._objects(objects, vertices, progress)

    def read_seq(self, progress: bool) -> None:
        with progress_bar(progress, self.path, unit=" features") as bar:
            for lineno, obj in self._lines():
                if obj.get("type") == "CityJSON":
                    self._header(obj, where=f"line {lineno}: ")
                    continue
                if obj.get("type") != "CityJSONFeature":
                    raise GeodataError(
                        f"{self.path}: line {lineno}: type is {obj.get('type')!r}, "
                        "expected 'CityJSONFeature'"
                    )
                fid = obj.get("id", f"line {lineno}")
                vertices = self._vertices(obj.get("vertices", []), f"feature {fid!r}")
                self._objects(obj.get("CityObjects") or {}, vertices, False, where=lineno)
                bar.update(1)

    def _lines(self) -> Iterator[tuple[int, dict]]:
        try:
            yield from self._parse_lines()
        except UnicodeDecodeError as err:
            raise GeodataError(
                f"{self.path}: byte {err.start} of a line: not UTF-8 text; expected "
                "CityJSONSeq (one JSON object per line)"
            ) from err

    def _parse_lines(self) -> Iterator[tuple[int, dict]]:
        with open(self.path, encoding="utf-8-sig") as fh:
            first = True
            for lineno, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError as err:
                    raise GeodataError(
                        f"{self.path}: line {lineno}, column {err.colno}: invalid JSON "
                        f"({err.msg}); expected one CityJSON object per line (CityJSONSeq)"
                    ) from err
                if not isinstance(obj, dict):
                    raise GeodataError(
                        f"{self.path}: line {lineno}: a JSON {type(obj).__name__}, "
                        "expected a CityJSON object"
                    )
                if first and obj.get("type") != "CityJSON":
                    raise GeodataError(
                        f"{self.path}: line {lineno}: type is {obj.get('type')!r}; a "
                        "CityJSONSeq starts with a 'CityJSON' header line"
                    )
                first = False
                yield lineno, obj

    def _header(self, doc: Any, where: str) -> None:
        if not isinstance(doc, dict) or doc.get("type") != "CityJSON":
            kind = doc.get("type") if isinstance(doc, dict) else type(doc).__name__
            raise GeodataError(
                f"{self.path}: {where}type is {kind!r}, expected a 'CityJSON' object "
                f"(versions {', '.join(SUPPORTED_VERSIONS)})"
            )
        version = str(doc.get("version", ""))
        if version[:3] not in SUPPORTED_VERSIONS:
            log.warning(
                "%s: CityJSON version %r is not one of %s; reading it anyway",
                self.path,
                version,
                ", ".join(SUPPORTED_VERSIONS),
            )
        transform = doc.get("transform")
        if transform:
            try:
                self.scale = np.asarray(transform["scale"], dtype=float).reshape(3)
                self.translate = np.asarray(transform["translate"], dtype=float).reshape(3)
            except (KeyError, TypeError, ValueError) as err:
                raise GeodataError(
                    f"{self.path}: {where}'transform' needs 'scale' and 'translate' with 3 "
                    f"numbers each ({err})"
                ) from err
        meta = doc.get("metadata") or {}
        ref = meta.get("referenceSystem") or meta.get("crs")
        if isinstance(ref, dict):  # CityJSON 1.0 drafts: {"epsg": 7415}
            ref = f"EPSG:{ref.get('epsg')}" if ref.get("epsg") else None
        if ref:
            parse_crs(str(ref), source=f"{self.path}: metadata.referenceSystem")
            self.file_crs = str(ref)

    def _vertices(self, raw: Any, where: str) -> np.ndarray:
        try:
            v = np.asarray(raw, dtype=np.float64)
        except (TypeError, ValueError) as err:
            raise GeodataError(
                f"{self.path}: {where}: 'vertices' must be a list of [x, y, z] numbers ({err})"
            ) from err
        if v.size == 0:
            return np.empty((0, 3))
        if v.ndim != 2 or v.shape[1] != 3:
            raise GeodataError(
                f"{self.path}: {where}: 'vertices' has shape {v.shape}, expected (n, 3)"
            )
        return v * self.scale + self.translate

    # -- objects ----------------------------------------------------------------------
    def _objects(
        self, objects: dict, vertices: np.ndarray, progress: bool, where: int | None = None
    ) -> None:
        self._block = vertices
        self._bases: dict[int, int] = {}
        with progress_bar(progress, self.path, total=len(objects), unit=" objects") as bar:
            for key, obj in objects.items():
                kind = obj.get("type", "?") if isinstance(obj, dict) else "?"
                if kind in BUILDING_TYPES:
                    self._building(key, obj, objects, where)
                else:
                    self.skipped.object(kind)
                    if kind not in _NO_CONTEXT and isinstance(obj, dict):
                        self._context(key, obj)
                bar.update(1)

    def _base(self, builder: surf.SurfaceBuilder) -> int:
        """Register the current vertex block with ``builder`` once; return its base."""
        if id(builder) not in self._bases:
            self._bases[id(builder)] = builder.add_vertices(self._block)
        return self._bases[id(builder)]

    def _building(self, key: str, obj: dict, objects: dict, where: int | None) -> None:
        parents = obj.get("parents") or []
        parent = next(
            (p for p in parents if (objects.get(p) or {}).get("type") in BUILDING_TYPES), None
        )
        rec = _record(key, obj, parent)
        if parent is not None and isinstance(objects.get(parent), dict):
            rec.inherit(_record(parent, objects[parent], None))
        usable = self._geometries(obj)
        chosen = choose_lod([str(g.get("lod", "")) for g in usable], self.wanted, exact=self.exact)
        if chosen is None:
            # A building drawn by its parts (3DBAG keeps only a LoD0 footprint on the
            # parent) is represented by them: not counted as skipped.
            if not obj.get("children"):
                self.skipped.no_geometry += 1
            return
        try:
            added = self._add(self.builder, len(self.records), usable, chosen, semantics=True)
        except (IndexError, TypeError, ValueError) as err:
            at = f"line {where}: " if where else ""
            raise GeodataError(
                f"{self.path}: {at}city object {key!r}: broken geometry ({err}); "
                "expected boundaries indexing 'vertices'"
            ) from err
        if not added:
            self.skipped.no_geometry += 1
            return
        rec.lod = max(1, math.floor(float(chosen)))
        self.records.append(rec)

    def _context(self, key: str, obj: dict) -> None:
        usable = self._geometries(obj, count_instances=False)
        chosen = choose_lod([str(g.get("lod", "")) for g in usable], None, exact=False)
        try:
            added = self._add(self.ctx.builder, self.ctx.next_row, usable, chosen, semantics=False)
        except (IndexError, TypeError, ValueError):
            log.debug("%s: context object %r has broken geometry; skipped", self.path, key)
            return
        if added:
            attrs = obj.get("attributes") or {}
            self.ctx.add(str(obj.get("type", "other")), _text(attrs.get("name")))

    def _geometries(self, obj: dict, *, count_instances: bool = True) -> list[dict]:
        """Return the object's geometries except templates (``GeometryInstance``, counted)."""
        geometries = [g for g in obj.get("geometry") or [] if isinstance(g, dict)]
        usable = [g for g in geometries if g.get("type") != "GeometryInstance"]
        if count_instances:
            self.instances += len(geometries) - len(usable)
        return usable

    def _add(
        self,
        builder: surf.SurfaceBuilder,
        row: int,
        geometries: list[dict],
        lod: str | None,
        *,
        semantics: bool,
    ) -> int:
        """Add the surfaces of the geometries at ``lod`` to ``builder``; return how many."""
        base = self._base(builder)
        added = 0
        for geom in geometries:
            if str(geom.get("lod", "")) != lod:
                continue
            for rings, code in _surfaces(geom):
                added += builder.add_indexed(row, rings, code if semantics else surf.UNKNOWN, base)
        return added

    def log_summary(self) -> None:
        self.skipped.log(self.path, self.wanted)
        if self.instances:
            log.warning(
                "%s: skipped %d GeometryInstance geometries (templates are not supported)",
                self.path,
                self.instances,
            )


def _surfaces(geom: dict) -> Iterator[tuple[list[list[int]], str]]:
    """Yield ``(rings as vertex indices, code)`` for every surface of a CityJSON geometry."""
    kind = geom.get("type")
    boundaries = geom.get("boundaries") or []
    semantics = geom.get("semantics") or {}
    sem_surfaces = semantics.get("surfaces") or []
    values = semantics.get("values")
    codes = [
        SEMANTIC.get(s.get("type", ""), "O") if isinstance(s, dict) else "?" for s in sem_surfaces
    ]

    def code_of(value: Any) -> str:
        if value is None or not isinstance(value, int) or value >= len(codes):
            return surf.UNKNOWN
        return codes[value]

    def shells(surfaces: list, vals: Any) -> Iterator[tuple[list[list[int]], str]]:
        for i, surface in enumerate(surfaces):
            value = vals[i] if isinstance(vals, list) and i < len(vals) else None
            if surface:
                yield surface, code_of(value)

    if kind in ("MultiSurface", "CompositeSurface"):
        yield from shells(boundaries, values)
    elif kind == "Solid":
        # Only the exterior shell: interior shells are voids, invisible from outside.
        for s, shell in enumerate(boundaries[:1]):
            yield from shells(shell, values[s] if isinstance(values, list) else None)
    elif kind in ("MultiSolid", "CompositeSolid"):
        for k, solid in enumerate(boundaries):
            vals = values[k] if isinstance(values, list) else None
            for s, shell in enumerate(solid[:1]):
                yield from shells(shell, vals[s] if isinstance(vals, list) else None)


def _text(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, list):
        return ";".join(str(v) for v in value if v not in (None, "")) or None
    return str(value)


def _number(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _record(key: str, obj: dict, parent: str | None) -> BuildingRecord:
    attrs = obj.get("attributes") or {}
    levels = _number(attrs.get("storeysAboveGround"))
    return BuildingRecord(
        source_id=key,
        parent=parent,
        name=_text(attrs.get("name")),
        building_type=_text(attrs.get("function") or attrs.get("class") or attrs.get("usage")),
        roof_shape=roof_shape(attrs.get("roofType")),
        address=_address(obj.get("address") or attrs.get("address")),
        levels=levels if levels > 0 else math.nan,
        measured_height=_number(attrs.get("measuredHeight")),
        height_source=height_source_attribute(attrs.get("heightSource")),
    )


def _address(value: Any) -> str | None:
    """Format a CityJSON address (an object in 1.0, a list of objects since 1.1)."""
    if isinstance(value, list):
        value = value[0] if value else None
    if isinstance(value, str):
        return value or None
    if not isinstance(value, dict):
        return None
    line1 = " ".join(
        str(value[k]) for k in ("ThoroughfareName", "ThoroughfareNumber") if value.get(k)
    )
    line2 = " ".join(str(value[k]) for k in ("PostalCode", "LocalityName") if value.get(k))
    return ", ".join(p for p in (line1, line2) if p) or None
