"""Read CityGML 1.0, 2.0 and 3.0 building models into a :class:`~twin.geodata.city.City`.

The file is streamed with :func:`lxml.etree.iterparse`: each ``Building`` is read when its
end tag arrives, then the element and everything before it is cleared, so memory stays
constant on large tiles. Inside a building, elements are matched by local name, which
covers the three versions at once:

* 1.0/2.0: ``bldg:lod{n}Solid`` / ``bldg:lod{n}MultiSurface`` on the building, thematic
  surfaces under ``bldg:boundedBy`` (``bldg:WallSurface``/``lod2MultiSurface``), parts under
  ``bldg:consistsOfBuildingPart``;
* 3.0: ``lod{n}Solid`` / ``lod{n}MultiSurface`` in the core namespace, surfaces under
  ``core:boundary`` (``con:WallSurface``), parts under ``bldg:buildingPart``.

When a building has thematic surfaces at the chosen LoD they are used (with their
semantics) and its ``lod{n}Solid`` is ignored for that LoD: in CityGML the solid usually
references the same polygons by ``xlink:href``. Without thematic surfaces the solid's or
multi-surface's polygons are taken and classified by their normals. ``xlink:href``
references resolve against ``gml:id`` elements of the same building (and its parts);
references to polygons elsewhere in the file are counted and skipped (the file is not
held in memory).
"""

from __future__ import annotations

import logging
import math
import re
import time
from pathlib import Path
from typing import IO, Any

import numpy as np
from lxml import etree

from twin.errors import GeodataError
from twin.geodata import surfaces as surf
from twin.geodata.city import City
from twin.geodata.citygml_assemble import finish_city
from twin.geodata.citygml_gml import (
    GML,
    GML_ID,
    POSLIST_TAGS,
    XLINK_HREF,
    PosListBatch,
    address,
    free,
    gml_id,
    height_3,
    local,
    namespace,
    ring_coords,
    srs_dimension,
    to_float,
)
from twin.geodata.citygml_model import (
    SEMANTIC,
    BuildingRecord,
    ContextObjects,
    Skipped,
    check_file,
    check_lod,
    choose_lod,
    roof_shape,
)
from twin.geodata.progress import progress_bar

log = logging.getLogger(__name__)

_BLDG = tuple(f"http://www.opengis.net/citygml/building/{v}" for v in ("1.0", "2.0", "3.0"))
_CORE = tuple(f"http://www.opengis.net/citygml/{v}" for v in ("1.0", "2.0", "3.0"))
_BUILDING_TAGS = tuple(f"{{{ns}}}Building" for ns in _BLDG)
#: Top-level members freed after reading: appearances can be large (texture coordinates).
_APPEARANCE_TAGS = (
    *(f"{{http://www.opengis.net/citygml/appearance/{v}}}appearanceMember" for v in ("1.0", "2.0")),
    *(f"{{{n}}}appearanceMember" for n in _CORE),
)
_MEMBER_TAGS = (
    *(f"{{{ns}}}cityObjectMember" for ns in _CORE),
    *(f"{{{ns}}}featureMember" for ns in GML),
    *(f"{{{ns}}}featureMembers" for ns in GML),
)
_ENVELOPE_TAGS = tuple(f"{{{ns}}}Envelope" for ns in GML)

_LOD_PROP = re.compile(r"lod([1-4])(Solid|MultiSurface|CompositeSurface|Geometry)$")
_POLYGON_TAGS = tuple(
    f"{{{ns}}}{name}" for ns in GML for name in ("Polygon", "Triangle", "PolygonPatch", "Rectangle")
)
_RING_TAGS = tuple(f"{{{ns}}}LinearRing" for ns in GML)
_ANY_HREF = etree.XPath(
    "boolean(.//@xlink:href)", namespaces={"xlink": "http://www.w3.org/1999/xlink"}
)
_ANY_REVERSED = etree.XPath("boolean(.//*[local-name()='OrientableSurface'][@orientation='-'])")
_HREFS = etree.XPath(
    "descendant-or-self::*[@xlink:href]", namespaces={"xlink": "http://www.w3.org/1999/xlink"}
)
#: Non-building objects not kept as context: terrain would cover everything, groups and
#: building sub-objects are not places.
_NO_CONTEXT = frozenset(
    {"ReliefFeature", "TINRelief", "CityObjectGroup", "BuildingInstallation", "Appearance"}
)
_PART_PROPS = frozenset({"consistsOfBuildingPart", "buildingPart"})
_SURFACE_PROPS = frozenset({"boundedBy", "boundary"})


def read_citygml(
    path: str | Path,
    *,
    crs: str | None = None,
    lod: int | str | None = None,
    progress: bool = False,
) -> City:
    """Read the buildings of a CityGML 1.0, 2.0 or 3.0 file.

    Parameters
    ----------
    path : str or pathlib.Path
        A ``.gml``/``.xml`` file with a ``CityModel`` root.
    crs : str, optional
        Target CRS (``"EPSG:25832"``); by default the file's own when projected, else the
        UTM zone of the data. When the file names no CRS, ``crs`` is also taken as the CRS
        of its coordinates (and required: without it such a file is an error).
    lod : int or str, optional
        The level of detail to read (1-4; a CityJSON-style ``"2.2"`` counts as 2). By default
        each building's highest. Buildings without geometry at the requested LoD are skipped
        (and counted in the log).
    progress : bool
        Show a progress bar over the bytes read.

    Returns
    -------
    City
        ``format="citygml"``, ids ``"citygml/<gml:id>"``; BuildingParts as rows with
        ``is_part=True``; LoD2+ rows carry their ``surfaces``.

    Raises
    ------
    GeodataError
        If the file is empty, not XML, not CityGML, broken (with line and column), names an
        unknown CRS or none (without ``crs``), or holds no building with geometry.
    ConfigError
        If ``lod`` is not 1-4.

    Examples
    --------
    >>> city = read_citygml("Potsdam_LoD1.gml")  # doctest: +SKIP
    >>> city.crs, city.n_buildings  # doctest: +SKIP
    ('EPSG:25833', 97)
    """
    path = Path(path)
    wanted = check_lod(lod)
    started = time.perf_counter()
    _check_root(path)
    reader = _Reader(path, wanted)
    size = path.stat().st_size
    with (
        open(path, "rb") as raw,
        progress_bar(progress, path, total=size, unit="B", unit_scale=True) as bar,
    ):
        stream: Any = _ProgressReader(raw, bar) if progress else raw
        try:
            reader.parse(stream)
        except etree.XMLSyntaxError as err:
            raise _xml_error(
                path,
                err,
                "XML syntax error",
                "a complete, well-formed CityGML document (is the file truncated?)",
            ) from err
    return finish_city(reader, fmt="citygml", crs=crs, axis_swap=True, started=started)


def _flips(node: Any, stop: Any, *, inclusive: bool = False) -> bool:
    """Return whether an odd number of reversed ``gml:OrientableSurface`` enclose ``node``.

    Counts from ``node``'s parent (from ``node`` itself when ``inclusive``) up to and
    including ``stop``.
    """
    flip = False
    current = node if inclusive else (None if node is stop else node.getparent())
    while current is not None:
        if local(current.tag) == "OrientableSurface" and current.get("orientation") == "-":
            flip = not flip
        if current is stop:
            break
        current = current.getparent()
    return flip


class _ProgressReader:
    """A binary file wrapper that advances a tqdm bar by the bytes read."""

    def __init__(self, raw: IO[bytes], bar: Any) -> None:
        self._raw = raw
        self._bar = bar

    def read(self, n: int = -1) -> bytes:
        data = self._raw.read(n)
        self._bar.update(len(data))
        return data


def _xml_error(path: Path, err: etree.XMLSyntaxError, what: str, expected: str) -> GeodataError:
    """One-line error naming the file, line and column of an XML syntax error."""
    line, col = err.position if err.position else (err.lineno, 0)
    return GeodataError(
        f"{path}: line {line}, column {col}: {what} ({err.msg}); expected {expected}"
    )


def _check_root(path: Path) -> None:
    """Fail early and clearly when ``path`` is empty, not XML or not a CityModel."""
    check_file(path, "a CityGML document")
    try:
        root, line = "", 1
        for _event, elem in etree.iterparse(str(path), events=("start",)):
            root, line = elem.tag, elem.sourceline
            break
    except etree.XMLSyntaxError as err:
        raise _xml_error(
            path, err, "not XML", "a CityGML document starting with <CityModel>"
        ) from err
    if local(root) != "CityModel" or not namespace(root).startswith(
        "http://www.opengis.net/citygml"
    ):
        raise GeodataError(
            f"{path}: line {line}: the root element is <{root}>, expected a CityGML <CityModel> "
            "(namespace http://www.opengis.net/citygml/1.0, /2.0 or /3.0)"
        )


class _Reader:
    """Stream one CityGML file into records + a SurfaceBuilder."""

    def __init__(self, path: Path, wanted: float | None) -> None:
        self.path = path
        self.wanted = wanted
        self.records: list[BuildingRecord] = []
        self.builder = surf.SurfaceBuilder()
        self.file_crs: str | None = None
        self.skipped = Skipped()
        self.unresolved = 0
        self.n_buildings = 0
        self._ids: dict[str, Any] | None = None
        self._root_elem: Any = None
        self._has_links = False
        self._has_orientable = False
        self._dim: int | None = None
        self.poslists = PosListBatch(path, self.builder)
        self.ctx = ContextObjects()

    # -- streaming -------------------------------------------------------------------
    def parse(self, stream: IO[bytes]) -> None:
        tags = (*_BUILDING_TAGS, *_MEMBER_TAGS, *_APPEARANCE_TAGS, *_ENVELOPE_TAGS)
        context = etree.iterparse(stream, events=("end",), tag=tags, huge_tree=True)
        for _event, elem in context:
            tag = elem.tag
            if tag in _ENVELOPE_TAGS:
                if self.file_crs is None and elem.get("srsName"):
                    self.file_crs = elem.get("srsName")
                continue
            if tag in _BUILDING_TAGS:
                self._building(elem)
                continue
            if tag in _APPEARANCE_TAGS:
                free(elem)
                continue
            # A city object member: count what it held besides buildings, keep their
            # outlines as context, then free it.
            for child in elem:
                if child.tag not in _BUILDING_TAGS and isinstance(child.tag, str):
                    name = local(child.tag)
                    self.skipped.object(name)
                    if name not in _NO_CONTEXT:
                        self._context(child, name)
            free(elem)
        self.poslists.flush()

    def _context(self, obj: Any, kind: str) -> None:
        """Keep the polygons of a non-building object (road, water, ...) for the context."""
        row = self.ctx.next_row
        sid = gml_id(obj) or kind
        added = 0
        for poly in obj.iter(_POLYGON_TAGS):
            rings = [
                c
                for r in poly.iter(_RING_TAGS)
                if (c := ring_coords(r, self.path, sid)) is not None
            ]
            if rings and self.ctx.builder.add_polygon(row, rings):
                added += 1
        if added:
            name = next((c.text for c in obj if local(c.tag) == "name" and c.text), None)
            self.ctx.add(kind, name.strip() if name else None)

    def log_summary(self) -> None:
        self.skipped.log(self.path, self.wanted)
        if self.unresolved:
            log.warning(
                "%s: %d xlink:href references point outside their building and were skipped",
                self.path,
                self.unresolved,
            )

    # -- one building ----------------------------------------------------------------
    def _building(self, elem: Any) -> None:
        self.n_buildings += 1
        self._ids = None
        self._root_elem = elem
        self._has_links = bool(_ANY_HREF(elem))
        self._has_orientable = bool(_ANY_REVERSED(elem))
        self._dim = None
        sid = gml_id(elem) or f"building-{self.n_buildings}"
        self._feature(elem, sid, parent=None, inherited=None)
        self._root_elem = None

    def _feature(
        self, elem: Any, sid: str, parent: str | None, inherited: BuildingRecord | None
    ) -> None:
        rec = BuildingRecord(source_id=sid, parent=parent)
        geoms: list[tuple[int, str | None, Any]] = []
        parts: list[Any] = []
        kinds: dict[str, list[str]] = {"function": [], "class": [], "usage": []}
        for child in elem:
            tag = child.tag
            if not isinstance(tag, str):
                continue
            name = local(tag)
            if name in _PART_PROPS:
                parts.extend(c for c in child if local(c.tag) == "BuildingPart")
            elif name in _SURFACE_PROPS:
                if namespace(tag) in GML:  # gml:boundedBy: the envelope
                    for env in child:
                        if env.get("srsName"):
                            rec.crs = env.get("srsName")
                    continue
                for ts in child:
                    code = SEMANTIC.get(local(ts.tag))
                    if code is None:
                        continue
                    for prop in ts:
                        m = _LOD_PROP.match(local(prop.tag))
                        if m:
                            geoms.append((int(m.group(1)), code, prop))
            elif m := _LOD_PROP.match(name):
                geoms.append((int(m.group(1)), None, child))
            elif name in kinds:
                if child.text and child.text.strip():
                    kinds[name].append(child.text.strip())
            else:
                self._attribute(rec, name, child)
        # function first (several joined with ";" as in OSM), else class, else usage.
        for key in ("function", "class", "usage"):
            if kinds[key]:
                rec.building_type = ";".join(dict.fromkeys(kinds[key]))
                break
        if inherited is not None:
            rec.inherit(inherited)
        self._geometry(rec, geoms, has_parts=bool(parts))
        for i, part in enumerate(parts):
            psid = gml_id(part) or f"{sid}-part-{i + 1}"
            self._feature(part, psid, parent=sid, inherited=rec)

    def _attribute(self, rec: BuildingRecord, name: str, elem: Any) -> None:
        text = (elem.text or "").strip()
        if name == "name" and rec.name is None and text:
            rec.name = text
        elif name == "roofType" and text:
            rec.roof_shape = roof_shape(text)
        elif name == "storeysAboveGround":
            value = to_float(text)
            rec.levels = value if value > 0 else math.nan
        elif name == "measuredHeight":
            rec.measured_height = to_float(text)
        elif name == "height":  # CityGML 3.0: con:height/con:Height/con:value
            value = height_3(elem)
            if math.isnan(rec.measured_height):
                rec.measured_height = value
        elif name == "address" and rec.address is None:
            rec.address = address(elem)

    def _geometry(
        self, rec: BuildingRecord, geoms: list[tuple[int, str | None, Any]], *, has_parts: bool
    ) -> None:
        available = sorted({str(g[0]) for g in geoms})
        chosen = choose_lod(available, self.wanted, exact=False)
        if chosen is None:
            # A building drawn by its parts is represented by them: not counted as skipped.
            if not has_parts:
                self.skipped.no_geometry += 1
            return
        lod = int(chosen)
        semantic = [(code, e) for g_lod, code, e in geoms if g_lod == lod and code]
        plain = [(None, e) for g_lod, code, e in geoms if g_lod == lod and not code]
        row = len(self.records)
        seen: set[Any] = set()  # elements, kept alive: lxml proxies' ids get reused
        added = 0
        for code, prop in semantic or plain:
            if rec.crs is None:
                for geom in prop:
                    if isinstance(geom.tag, str) and geom.get("srsName"):
                        rec.crs = geom.get("srsName")
            kind = code or surf.UNKNOWN
            for poly, reverse in self._polygons(prop, seen):
                rings = list(poly.iter(_RING_TAGS))
                # Fast path: every ring a single 3D posList (nearly all real data).
                pls = [r[0] for r in rings if len(r) == 1 and r[0].tag in POSLIST_TAGS]
                if (
                    not reverse
                    and rings
                    and len(pls) == len(rings)
                    and all(self._is_3d(p) for p in pls)
                ):
                    self.poslists.add(row, kind, pls, rec.source_id)
                    added += 1
                    continue
                self.poslists.flush()  # keep polygon order
                arrays = self._rings(poly, rec.source_id)
                if reverse:
                    arrays = [a[::-1] for a in arrays]
                if arrays and self.builder.add_polygon(row, arrays, kind):
                    added += 1
        if not added:
            self.skipped.no_geometry += 1
            return
        rec.lod = lod
        self.records.append(rec)

    def _is_3d(self, poslist: Any) -> bool:
        dim = poslist.get("srsDimension")
        if dim is None:  # inherited: look it up once per building
            if self._dim is None:
                self._dim = srs_dimension(poslist)
            return self._dim == 3
        return dim == "3"

    def _polygons(self, elem: Any, seen: set[Any]) -> list[tuple[Any, bool]]:
        """Polygons under ``elem`` with whether they are reversed, following xlink:href.

        A polygon inside ``gml:OrientableSurface orientation="-"`` (directly or through an
        xlink:href of its ``gml:baseSurface``) faces the other way: it is flagged so its
        rings can be reversed.
        """
        out: list[tuple[Any, bool]] = []
        todo: list[tuple[Any, bool]] = [(elem, False)]
        visited: set[Any] = set()  # href targets, kept alive (lxml proxies' ids get reused)
        while todo:
            el, flip = todo.pop()
            for poly in el.iter(_POLYGON_TAGS):
                if poly not in seen:
                    seen.add(poly)
                    reverse = flip ^ _flips(poly, el) if self._has_orientable else flip
                    out.append((poly, reverse))
            if not self._has_links:
                continue
            for ref in _HREFS(el):
                if len(ref):
                    continue
                target = self._lookup(ref.get(XLINK_HREF))
                if target is None:
                    self.unresolved += 1
                elif target not in visited:
                    visited.add(target)
                    todo.append((target, flip ^ _flips(ref, el, inclusive=True)))
        return out

    def _lookup(self, href: str) -> Any:
        if self._ids is None:
            self._ids = {}
            for el in self._root_elem.iter():
                for key in GML_ID:
                    gid = el.get(key)
                    if gid:
                        self._ids[gid] = el
        return self._ids.get(href.rpartition("#")[2])

    def _rings(self, poly: Any, sid: str) -> list[np.ndarray]:
        # GML writes the exterior ring first, then the interiors: document order suffices.
        rings: list[np.ndarray] = []
        for ring in poly.iter(_RING_TAGS):
            coords = ring_coords(ring, self.path, sid)
            if coords is not None:
                rings.append(coords)
        return rings
