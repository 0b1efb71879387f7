"""CityJSON 2.0 writer.

Block rows become a ``Solid`` (``MultiSolid`` for a MultiPolygon footprint) at LoD ``"1"``:
the footprint extruded, ground facing down, walls outward, roof up, with semantic surfaces.
LoD2 rows keep their stored surfaces at LoD ``"2"`` with their semantics: as a ``Solid``
when they close into one consistently oriented shell, else as a ``MultiSurface``. Building
parts become ``BuildingPart`` objects linked to their ``Building`` by
``parents``/``children``. Vertices are quantised to millimetres (``transform``) and shared.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gc
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import shapely

from twin import __version__
from twin.geodata.city import City
from twin.mesh.lod2 import surface_codes, unique_rows
from twin.mesh.rings import polygon_rings

log = logging.getLogger(__name__)

#: Vertex resolution of the ``transform`` (metres).
SCALE = 0.001
_SEMANTIC_TYPES = ("GroundSurface", "WallSurface", "RoofSurface", "ClosureSurface")


def reference_system(crs: str) -> str | None:
    """Return the OGC URL CityJSON expects for an ``EPSG:N`` CRS, or None.

    Examples
    --------
    >>> reference_system("EPSG:25832")
    'https://www.opengis.net/def/crs/EPSG/0/25832'
    """
    if crs.upper().startswith("EPSG:") and crs[5:].isdigit():
        return f"https://www.opengis.net/def/crs/EPSG/0/{crs[5:]}"
    return None


class _Vertices:
    """Collects absolute coordinates, then quantises and de-duplicates them in one go."""

    def __init__(self, translate: np.ndarray) -> None:
        self.translate = translate
        self.blocks: list[np.ndarray] = []
        self.count = 0

    def add(self, coords: np.ndarray) -> np.ndarray:
        """Register coordinates; return their provisional ids."""
        ids = np.arange(self.count, self.count + len(coords))
        self.blocks.append(coords)
        self.count += len(coords)
        return ids

    def finish(self) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(integer vertices, map provisional id → final id)``."""
        if not self.blocks:
            return np.zeros((0, 3), dtype=np.int64), np.zeros(0, dtype=np.int64)
        xyz = np.concatenate(self.blocks)
        q = np.round((xyz - self.translate) / SCALE).astype(np.int64)
        # Groups come in order of first use: nicer files, deterministic output.
        first, inverse = unique_rows(q)
        return q[first], inverse


def _block_geometries(city: City, rows: np.ndarray, verts: _Vertices) -> dict[str, Any]:
    """Register the prism vertices of block rows; return their rings and vertex ids."""
    b = city.buildings
    ground = b["ground_z"].to_numpy(dtype=float)
    bottom = (ground + b["min_height"].to_numpy(dtype=float))[rows]
    top = (ground + b["height"].to_numpy(dtype=float))[rows]
    rings = polygon_rings(b.geometry.to_numpy()[rows], np.arange(len(rows)))
    n = rings.n_vertices
    vpos = rings.poly_row[rings.poly[rings.vertex_ring()]]
    xyz = np.empty((2 * n, 3))
    xyz[:n, :2] = rings.coords
    xyz[n:, :2] = rings.coords
    xyz[:n, 2] = bottom[vpos]
    xyz[n:, 2] = top[vpos]
    ids = verts.add(xyz)
    return {"rings": rings, "ids": ids, "n": n}


def _prism_shells(rings: Any, ids: np.ndarray, n: int) -> dict[int, list[tuple[list, list]]]:
    """Build the boundary lists of each prism: ``{row position: [(shell, values), ...]}``."""
    if rings.n_polygons == 0:
        return {}
    ids = np.asarray(ids)
    bottom_ids, top_ids = ids[:n], ids[n:]
    nxt = rings.next_vertex()
    # Wall quads (b_i, b_j, t_j, t_i) for every ring edge i -> j, built in numpy; an edge
    # that vanished at millimetre precision (b_i == b_j) is left out.
    quads = np.column_stack([bottom_ids, bottom_ids[nxt], top_ids[nxt], top_ids])
    keep_edge = (bottom_ids != bottom_ids[nxt]).tolist()
    quad_list = quads.tolist()
    bottom = bottom_ids.tolist()
    top = top_ids.tolist()
    out: dict[int, list[tuple[list, list]]] = {}
    ring_start = rings.start.tolist()
    ring_len = rings.length.tolist()
    # Rings of a polygon are contiguous: walk polygon by polygon.
    first_ring = np.flatnonzero(np.r_[True, rings.poly[1:] != rings.poly[:-1]]).tolist()
    ring_end = [*first_ring[1:], len(ring_start)]
    poly_row = rings.poly_row.tolist()
    merged = not all(keep_edge)
    for p, (r0, r1) in enumerate(zip(first_ring, ring_end, strict=True)):
        roof, ground, walls = [], [], []
        for r in range(r0, r1):
            s, length = ring_start[r], ring_len[r]
            if merged and not all(keep_edge[s : s + length]):
                # Vertices merged at millimetre precision: drop the repeats.
                kept = [i for i in range(s, s + length) if keep_edge[i]]
                if len(kept) < 3:
                    if r == r0:
                        break  # the exterior vanished: no prism
                    continue
                roof.append([top[i] for i in kept])
                ground.append([bottom[kept[0]], *(bottom[i] for i in kept[:0:-1])])
            else:
                roof.append(top[s : s + length])
                # Reversed ring: the ground faces down (outward).
                ground.append([bottom[s], *bottom[s + length - 1 : s : -1]])
            walls += [[quad_list[i]] for i in range(s, s + length) if keep_edge[i]]
        if not roof:
            continue
        shell = [ground, *walls, roof]
        values = [0, *([1] * len(walls)), 2]
        out.setdefault(poly_row[p], []).append((shell, values))
    return out


def _lod2_geometries(city: City, rows: np.ndarray, verts: _Vertices) -> dict[int, Any]:
    """Register the vertices of LoD2 rows; return per row position its surfaces."""
    b = city.buildings
    geoms = shapely.from_wkb(list(b["surfaces"].to_numpy()[rows]))
    polys, owner = shapely.get_parts(geoms, return_index=True)
    counts = np.bincount(owner, minlength=len(rows))
    types = [str(t or "") for t in b["surface_types"].to_numpy()[rows]]
    codes = surface_codes(types, counts, [str(i) for i in b["id"].to_numpy()[rows]])
    rings = polygon_rings(polys, np.arange(len(polys)), include_z=True, orient=False)
    ids = verts.add(rings.coords)
    return {"rings": rings, "ids": ids, "owner": owner, "codes": codes}


def _lod2_surfaces(data: dict[str, Any]) -> dict[int, tuple[list, list]]:
    """Build the surface boundaries and semantic values of LoD2 rows, per row position.

    Vertices merged at millimetre precision are removed from their rings; a ring left with
    fewer than three vertices is dropped (with its holes when it is an exterior).
    """
    rings = data["rings"]
    ids = data["ids"].tolist()
    out: dict[int, tuple[list, list]] = {}
    starts = rings.start.tolist()
    lengths = rings.length.tolist()
    polys = rings.poly.tolist()
    exterior = rings.exterior.tolist()
    src = rings.poly_row
    owner = data["owner"]
    codes = data["codes"]
    current: list[list[int]] | None = None
    for r, p in enumerate(polys):
        ring = ids[starts[r] : starts[r] + lengths[r]]
        ring = [v for k, v in enumerate(ring) if v != ring[k - 1]] or ring[:1]
        if exterior[r]:
            current = None
            if len(ring) < 3:
                continue
            current = [ring]
            pos = int(owner[src[p]])
            boundaries, values = out.setdefault(pos, ([], []))
            boundaries.append(current)
            values.append(int(codes[src[p]]))
        elif current is not None and len(ring) >= 3:
            current.append(ring)
    return out


def closed_shells(boundaries: dict[int, tuple[list, list]]) -> set[int]:
    """Return the keys whose surfaces form one closed, consistently oriented shell.

    Every directed ring edge ``a → b`` must occur once and its reverse ``b → a`` exactly
    once too (each edge shared by two surfaces that run opposite ways along it).

    Parameters
    ----------
    boundaries : dict
        ``{key: (surfaces, values)}`` as built by :func:`_lod2_surfaces`; a surface is a
        list of rings, a ring a list of vertex ids.

    Returns
    -------
    set of int
    """
    keys: list[int] = []
    heads: list[int] = []
    tails: list[int] = []
    for key, (surfaces, _) in boundaries.items():
        for surface in surfaces:
            for ring in surface:
                heads += ring
                tails += [*ring[1:], ring[0]]
                keys += [key] * len(ring)
    if not keys:
        return set()
    k = np.asarray(keys, dtype=np.int64)
    a = np.asarray(heads, dtype=np.int64)
    b = np.asarray(tails, dtype=np.int64)
    fwd = np.column_stack([k, a, b])
    rev = np.column_stack([k, b, a])
    both = np.concatenate([fwd, rev])
    _, inverse, counts = np.unique(both, axis=0, return_inverse=True, return_counts=True)
    inverse = inverse.ravel()
    n = len(fwd)
    # A directed edge must appear exactly once among the forward edges and once among the
    # reversed ones: its key is then counted twice in total, and so is its reverse's.
    fwd_once = np.bincount(inverse[:n], minlength=len(counts))[inverse[:n]] == 1
    paired = counts[inverse[:n]] == 2
    ok = fwd_once & paired
    bad = set(np.unique(k[~ok]).tolist())
    return {key for key in boundaries if key not in bad}


def _attributes(b: pd.DataFrame) -> list[dict[str, Any]]:
    """CityJSON attributes of every row (names as read by twin's and others' importers)."""
    height = b["height"].to_numpy(dtype=float)
    min_height = b["min_height"].to_numpy(dtype=float)
    levels = b["levels"].to_numpy(dtype=float)
    text = {
        key: b[col].to_numpy()
        for key, col in (
            ("name", "name"),
            ("function", "building_type"),
            ("roofType", "roof_shape"),
            ("address", "address"),
        )
    }
    source = b["height_source"].to_numpy()
    out = []
    for k in range(len(b)):
        attrs: dict[str, Any] = {}
        # measuredHeight is from the ground: only meaningful for volumes standing on it.
        if min_height[k] == 0 and np.isfinite(height[k]):
            attrs["measuredHeight"] = round(float(height[k]), 3)
        if np.isfinite(levels[k]):
            attrs["storeysAboveGround"] = int(levels[k])
        for key, values in text.items():
            if values[k] is not None:
                attrs[key] = str(values[k])
        if source[k] is not None:
            attrs["heightSource"] = str(source[k])
        out.append(attrs)
    return out


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while millions of small lists are built.

    None of them form cycles, but each allocation burst triggers collections that walk all
    live objects: building the boundaries of 100,000 buildings is about five times faster
    without.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def city_to_cityjson(city: City, *, lod2: bool = True) -> dict[str, Any]:
    """Convert a City to a CityJSON 2.0 document.

    Parameters
    ----------
    city : City
        The buildings.
    lod2 : bool
        Write stored LoD2 surfaces where present; False writes every row as a LoD1 block.

    Returns
    -------
    dict
        The document, ready for :func:`json.dump`.
    """
    b = city.buildings
    translate = np.asarray(city.origin or (0.0, 0.0, 0.0), dtype=float)
    verts = _Vertices(translate)
    has_surfaces = b["surfaces"].notna().to_numpy() if lod2 else np.zeros(len(b), dtype=bool)
    height = b["height"].to_numpy(dtype=float)
    solid = np.isfinite(height) & (height > b["min_height"].to_numpy(dtype=float))
    block_rows = np.flatnonzero(~has_surfaces & solid)
    lod2_rows = np.flatnonzero(has_surfaces)
    block = _block_geometries(city, block_rows, verts)
    lod2_data = _lod2_geometries(city, lod2_rows, verts) if len(lod2_rows) else None
    ints, new_id = verts.finish()

    objects: dict[str, dict[str, Any]] = {}
    semantics = [{"type": t} for t in _SEMANTIC_TYPES]
    prisms = _prism_shells(block["rings"], new_id[block["ids"]], block["n"])
    geometry: dict[int, dict[str, Any]] = {}
    for pos, shells in prisms.items():
        if len(shells) == 1:
            geom = {
                "type": "Solid",
                "lod": "1",
                "boundaries": [shells[0][0]],
                "semantics": {"surfaces": semantics[:3], "values": [shells[0][1]]},
            }
        else:
            geom = {
                "type": "MultiSolid",
                "lod": "1",
                "boundaries": [[s] for s, _ in shells],
                "semantics": {"surfaces": semantics[:3], "values": [[v] for _, v in shells]},
            }
        geometry[int(block_rows[pos])] = geom
    if lod2_data is not None:
        lod2_data["ids"] = new_id[lod2_data["ids"]]
        surfaces = _lod2_surfaces(lod2_data)
        closed = closed_shells(surfaces)
        for pos, (boundaries, values) in surfaces.items():
            used = sorted(set(values))  # list only the semantic surfaces in use
            index = {code: k for k, code in enumerate(used)}
            sem = [index[v] for v in values]
            # A closed shell is written as the Solid it is; anything else as MultiSurface.
            is_solid = pos in closed
            geometry[int(lod2_rows[pos])] = {
                "type": "Solid" if is_solid else "MultiSurface",
                "lod": "2",
                "boundaries": [boundaries] if is_solid else boundaries,
                "semantics": {
                    "surfaces": [semantics[c] for c in used],
                    "values": [sem] if is_solid else sem,
                },
            }

    ids = b["id"].astype(str).to_numpy()
    parents = b["building"].astype(str).to_numpy()
    is_part = b["is_part"].to_numpy()
    attributes = _attributes(b)
    for k in range(len(b)):
        obj: dict[str, Any] = {
            "type": "BuildingPart" if is_part[k] else "Building",
            "attributes": attributes[k],
        }
        if k in geometry:
            obj["geometry"] = [geometry[k]]
        objects[ids[k]] = obj
    # Parts point to their building; a building known only through its parts gets an
    # object of its own without geometry.
    for k in np.flatnonzero(is_part):
        parent = parents[k]
        if parent == ids[k]:
            continue
        if parent not in objects:
            objects[parent] = {"type": "Building"}
        objects[parent].setdefault("children", []).append(ids[k])
        objects[ids[k]]["parents"] = [parent]

    metadata: dict[str, Any] = {
        "title": _title(city),
        "referenceDate": dt.date.today().isoformat(),
    }
    ref = reference_system(city.crs)
    if ref:
        metadata["referenceSystem"] = ref
    elif city.crs:
        log.warning("CRS %s has no EPSG code: CityJSON metadata.referenceSystem left out", city.crs)
    if len(ints):
        real = ints * SCALE + translate
        metadata["geographicalExtent"] = [
            *(round(float(v), 3) for v in real.min(axis=0)),
            *(round(float(v), 3) for v in real.max(axis=0)),
        ]
    return {
        "type": "CityJSON",
        "version": "2.0",
        "transform": {"scale": [SCALE] * 3, "translate": [float(v) for v in translate]},
        "metadata": metadata,
        "CityObjects": objects,
        "vertices": ints.tolist(),
    }


def _title(city: City) -> str:
    title = city.label or "twin city model"
    if city.attribution:
        title += " — " + "; ".join(city.attribution)
    return f"{title} (exported by twin {__version__})"


def write_cityjson(city: City, path: Path, *, lod2: bool = True) -> None:
    """Write a City as a CityJSON 2.0 file.

    Parameters
    ----------
    city : City
        The buildings.
    path : pathlib.Path
        Target ``.city.json`` file.
    lod2 : bool
        Write stored LoD2 surfaces where present.
    """
    with _gc_paused():
        doc = city_to_cityjson(city, lod2=lod2)
        # json.dumps uses the C encoder; json.dump to a file would run the Python one.
        text = json.dumps(doc, separators=(",", ":"), ensure_ascii=False)
    del doc
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(text)
