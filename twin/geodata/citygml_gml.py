"""GML and xAL helpers of the CityGML reader: element names, coordinates, addresses.

Namespace-independent where possible (elements are matched by local name), so the same
functions serve CityGML 1.0 (GML 3.1.1, xAL 2.0), 2.0 and 3.0 (GML 3.2, xAL 3).
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from twin.errors import GeodataError

#: GML namespaces of CityGML 1.0/2.0 (GML 3.1.1) and 3.0 (GML 3.2).
GML = ("http://www.opengis.net/gml", "http://www.opengis.net/gml/3.2")
GML_ID = tuple(f"{{{ns}}}id" for ns in GML)
XLINK_HREF = "{http://www.w3.org/1999/xlink}href"
POSLIST_TAGS = frozenset(f"{{{ns}}}posList" for ns in GML)


def local(tag: Any) -> str:
    """Return the local name of an element tag (``{ns}Polygon`` → ``Polygon``)."""
    return tag.rpartition("}")[2] if isinstance(tag, str) else ""


def namespace(tag: str) -> str:
    """Return the namespace of an element tag (empty when it has none)."""
    return tag[1:].partition("}")[0] if tag.startswith("{") else ""


def free(elem: Any) -> None:
    """Clear ``elem`` and drop the already processed siblings of it and its ancestors."""
    elem.clear(keep_tail=True)
    node = elem
    while (parent := node.getparent()) is not None:
        while node.getprevious() is not None:
            del parent[0]
        node = parent


def gml_id(elem: Any) -> str | None:
    """Return the ``gml:id`` of an element (GML 3.1 or 3.2), or None."""
    for key in GML_ID:
        gid = elem.get(key)
        if gid:
            return gid
    return None


def to_float(text: str) -> float:
    """Return ``text`` as a float, NaN when it is not a number."""
    try:
        return float(text)
    except (TypeError, ValueError):
        return math.nan


def srs_dimension(elem: Any) -> int:
    """Return the ``srsDimension`` of ``elem`` or its nearest ancestor (default 3)."""
    node = elem
    while node is not None:
        dim = node.get("srsDimension")
        if dim:
            return int(dim)
        node = node.getparent()
    return 3


def ring_coords(ring: Any, path: Path, sid: str) -> np.ndarray | None:
    """Coordinates of a gml:LinearRing (posList, pos or coordinates) as ``(k, 3)``."""
    if len(ring) == 1 and ring[0].tag in POSLIST_TAGS:  # the common case, fast
        child = ring[0]
        dim_text = child.get("srsDimension")
        dim = int(dim_text) if dim_text else srs_dimension(ring)
        values = numbers(child.text or "", path, sid, child)
        if dim == 3 and len(values) % 3 == 0:
            return values.reshape(-1, 3)
        return shape(values, dim, ring, path, sid)
    values = None
    dim = 3
    pos = []
    for child in ring:
        name = local(child.tag)
        text = child.text or ""
        if name == "posList":
            dim = srs_dimension(child)
            values = numbers(text, path, sid, child)
        elif name == "pos":
            p = numbers(text, path, sid, child)
            pos.append(p if len(p) == 3 else np.append(p[:2], 0.0))
        elif name == "coordinates":
            cs = child.get("cs", ",")
            ts = child.get("ts", " ")
            tuples = [t.split(cs) for t in text.strip().split(ts) if t]
            try:
                pts = [[float(v) for v in t] + [0.0] * (3 - len(t)) for t in tuples]
            except ValueError as err:
                raise GeodataError(
                    f"{path}: line {child.sourceline}: building {sid}: gml:coordinates "
                    f"holds a non-number; expected 'x{cs}y{cs}z{ts}...' ({err})"
                ) from err
            values = np.asarray(pts, dtype=float).ravel()
            dim = 3
    if pos:
        values = np.vstack(pos).ravel()
        dim = 3
    if values is None:
        return None
    return shape(values, dim, ring, path, sid)


def shape(values: np.ndarray, dim: int, ring: Any, path: Path, sid: str) -> np.ndarray:
    """Reshape a flat coordinate list to ``(k, 3)`` (z = 0 for 2D data)."""
    if dim not in (2, 3) or len(values) % dim:
        raise GeodataError(
            f"{path}: line {ring.sourceline}: building {sid}: {len(values)} numbers in a "
            f"ring, expected a multiple of srsDimension={dim}"
        )
    pts = values.reshape(-1, dim)
    if dim == 2:
        pts = np.column_stack([pts, np.zeros(len(pts))])
    return pts


def numbers(text: str, path: Path, sid: str, elem: Any) -> np.ndarray:
    """Parse space-separated numbers; a non-number is a :class:`GeodataError`."""
    parts = text.split()
    try:
        return np.array(parts, dtype=np.float64)
    except ValueError as err:
        raise GeodataError(
            f"{path}: line {elem.sourceline}: building {sid}: <{local(elem.tag)}> holds "
            f"a non-number; expected space-separated coordinates ({err})"
        ) from err


def height_3(elem: Any) -> float:
    """Return the building height of a CityGML 3.0 ``con:height`` property.

    ``con:height`` holds ``con:Height`` objects with ``highReference``/``lowReference``;
    the one from ``highestRoofEdge`` (or ``highestPoint``) to ``lowestGroundPoint`` is the
    building height (others measure eaves or storeys). Returns NaN when there is none.
    """
    best, fallback = math.nan, math.nan
    for node in elem.iter():
        if local(node.tag) != "Height":
            continue
        fields = {local(c.tag): (c.text or "").strip() for c in node if isinstance(c.tag, str)}
        value = to_float(fields.get("value", ""))
        high, low = fields.get("highReference", ""), fields.get("lowReference", "")
        if high in ("highestRoofEdge", "highestPoint") and low in ("", "lowestGroundPoint"):
            best = value if math.isnan(best) else best
        elif math.isnan(fallback) and not high:
            fallback = value
    return best if not math.isnan(best) else fallback


def address(elem: Any) -> str | None:
    """Format an xAL 2.0 (CityGML 1/2) or xAL 3 (CityGML 3.0) address as one line."""
    street = number = postcode = city = None
    for node in elem.iter():
        if not isinstance(node.tag, str):
            continue
        name = local(node.tag)
        text = (node.text or "").strip()
        if not text:
            continue
        parent = local(node.getparent().tag) if node.getparent() is not None else ""
        if name == "ThoroughfareName" or (name == "NameElement" and parent == "Thoroughfare"):
            street = street or text
        elif name in ("ThoroughfareNumber", "BuildingNumber") or (
            name == "Number" and parent == "Thoroughfare"
        ):
            number = number or text
        elif name == "PostalCodeNumber" or (name == "Identifier" and parent == "PostCode"):
            postcode = postcode or text
        elif name == "LocalityName" or (name == "NameElement" and parent == "Locality"):
            city = city or text
    line1 = " ".join(p for p in (street, number) if p)
    line2 = " ".join(p for p in (postcode, city) if p)
    text = ", ".join(p for p in (line1, line2) if p)
    return text or None


class PosListBatch:
    """Collect the ``gml:posList`` texts of many 3D polygons; parse them in bulk.

    Parsing ring by ring costs a Python call and a NumPy array per ring. Here the texts of a
    chunk (a few MB) are joined with a ``nan`` separator and parsed by one C call
    (:func:`numpy.fromstring`); the separators give the ring lengths. The result goes to the
    :class:`~twin.geodata.surface_arrays.SurfaceBuilder` with one :meth:`add_block` call.

    Parameters
    ----------
    path : pathlib.Path
        The file, for error messages.
    builder : SurfaceBuilder
        Receives the polygons.
    chunk_chars : int
        Flush after this many characters of coordinates.
    """

    def __init__(self, path: Path, builder: Any, chunk_chars: int = 4_000_000) -> None:
        self.path = path
        self.builder = builder
        self.chunk_chars = chunk_chars
        self._reset()

    def _reset(self) -> None:
        self.rows: list[int] = []
        self.kinds: list[str] = []
        self.rings_per_poly: list[int] = []
        self.texts: list[str] = []
        self.lines: list[int] = []
        self.sids: list[str] = []
        self.chars = 0

    def add(self, row: int, kind: str, poslists: list[Any], sid: str) -> None:
        """Queue one polygon given by the posList elements of its rings (exterior first)."""
        for pl in poslists:
            text = pl.text or ""
            self.texts.append(text)
            self.lines.append(pl.sourceline)
            self.sids.append(sid)
            self.chars += len(text)
        self.rows.append(row)
        self.kinds.append(kind)
        self.rings_per_poly.append(len(poslists))
        if self.chars > self.chunk_chars:
            self.flush()

    def flush(self) -> None:
        """Parse the queued texts and hand the polygons to the builder."""
        if not self.texts:
            return
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                values = np.fromstring(" nan ".join(self.texts), sep=" ")
        except (ValueError, DeprecationWarning):
            values = None
        sep = np.isnan(values) if values is not None else None
        if values is None or int(sep.sum()) != len(self.texts) - 1:
            self._raise_bad_text()
        cuts = np.flatnonzero(sep)
        counts = np.diff(np.concatenate([[-1], cuts, [len(values)]])) - 1
        bad = np.flatnonzero(counts % 3)
        if len(bad):
            i = int(bad[0])
            raise GeodataError(
                f"{self.path}: line {self.lines[i]}: building {self.sids[i]}: {counts[i]} "
                "numbers in a posList, expected a multiple of srsDimension=3"
            )
        xyz = values[~sep].reshape(-1, 3)
        self.builder.add_block(self.rows, self.kinds, self.rings_per_poly, counts // 3, xyz)
        self._reset()

    def _raise_bad_text(self) -> None:
        for text, line, sid in zip(self.texts, self.lines, self.sids, strict=True):
            try:
                values = np.array(text.split(), dtype=np.float64)
            except ValueError as err:
                raise GeodataError(
                    f"{self.path}: line {line}: building {sid}: <posList> holds a "
                    f"non-number; expected space-separated coordinates ({err})"
                ) from err
            if not np.isfinite(values).all():
                raise GeodataError(
                    f"{self.path}: line {line}: building {sid}: <posList> holds NaN or "
                    "infinity; expected finite coordinates"
                )
        raise GeodataError(f"{self.path}: unreadable coordinates")  # pragma: no cover
