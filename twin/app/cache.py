"""On-disk cache of the generated demo City and its mesh, so ``twin demo`` starts fast.

Generating 20,000 buildings and triangulating them takes seconds; reading a GeoParquet file
and the mesh's arrays takes a fraction of that. The mesh is kept as uncompressed NumPy arrays
(``.npz``): 20,000 buildings (240,000 triangles) load in about 30 ms, against about 100 ms for
a compressed VTK XML file (measured here). The cache key holds the generator's arguments and
a hash of the code that produces them (the demo generator and the mesh builder), so a change
to either rebuilds the cache instead of showing a stale city. Files are written to a temporary
name and renamed, so an interrupted start never leaves a broken entry.
"""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path

import numpy as np
import pyvista as pv

from twin.geodata.city import City

log = logging.getLogger(__name__)

#: Modules whose source decides what the cached City and mesh look like.
_CODE = (
    "twin.geodata.demo",
    "twin.geodata.demo_buildings",
    "twin.geodata.demo_layout",
    "twin.geodata.city",
    "twin.mesh.build",
    "twin.mesh.extrude",
    "twin.mesh.triangulate",
)


def cache_dir() -> Path:
    """Return the cache folder.

    ``$TWIN_CACHE_DIR``, else ``$XDG_CACHE_HOME/twin``, else ``~/.cache/twin``.
    """
    if os.environ.get("TWIN_CACHE_DIR"):
        return Path(os.environ["TWIN_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "twin"


def code_hash() -> str:
    """Return a short hash of the source of the demo generator and the mesh builder."""
    import importlib.util

    h = hashlib.sha256()
    for name in _CODE:
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.origin and Path(spec.origin).is_file():
            h.update(Path(spec.origin).read_bytes())
    return h.hexdigest()[:12]


def demo_city(
    *, buildings: int, seed: int, folder: Path | None = None, use_cache: bool = True
) -> tuple[City, pv.PolyData]:
    """Return the demo City and its mesh, from the cache when possible.

    Parameters
    ----------
    buildings : int
        Number of generated buildings.
    seed : int
        Generator seed.
    folder : pathlib.Path, optional
        Cache folder (default :func:`cache_dir`).
    use_cache : bool
        False always generates (and does not write the cache).

    Returns
    -------
    tuple
        ``(city, mesh)``.
    """
    folder = cache_dir() if folder is None else Path(folder)
    stem = f"demo-{int(buildings)}-{int(seed)}-{code_hash()}"
    city_path, mesh_path = folder / f"{stem}.parquet", folder / f"{stem}.mesh.npz"
    if use_cache and city_path.is_file() and mesh_path.is_file():
        try:
            city, mesh = City.load(city_path), load_mesh(mesh_path)
            log.info("demo city from the cache %s", city_path)
            return city, mesh
        except Exception as err:  # a damaged entry is rebuilt, not fatal
            log.warning("ignoring the damaged cache entry %s: %s", city_path, err)
    from twin.geodata.demo import generate_city  # only on a miss: ~35 ms of imports
    from twin.mesh import build_mesh

    log.info("generating the demo city (%d buildings, seed %d)", buildings, seed)
    city = generate_city(buildings=int(buildings), seed=int(seed))
    mesh = build_mesh(city)
    if use_cache:
        try:
            folder.mkdir(parents=True, exist_ok=True)
            tmp_city = city_path.with_suffix(f".{os.getpid()}.tmp.parquet")
            tmp_mesh = mesh_path.with_suffix(f".{os.getpid()}.tmp.npz")
            city.save(tmp_city)
            save_mesh(mesh, tmp_mesh)
            os.replace(tmp_city, city_path)
            os.replace(tmp_mesh, mesh_path)
        except OSError as err:  # a read-only home still runs the demo
            log.warning("cannot write the demo cache in %s: %s", folder, err)
    return city, mesh


def save_mesh(mesh: pv.PolyData, path: Path) -> None:
    """Write a triangle mesh and its cell and field arrays as an uncompressed ``.npz``.

    Parameters
    ----------
    mesh : pyvista.PolyData
        Points, polygon faces, cell arrays (``building``, ``surface``, ``Normals``) and field
        arrays (``origin``, ``crs``); point arrays are not kept (the City mesh has none).
    path : pathlib.Path
        The file (written as given; NumPy adds no suffix to an open file).
    """
    arrays: dict[str, np.ndarray] = {"points": np.asarray(mesh.points), "faces": mesh.faces}
    arrays |= {f"cell:{k}": np.asarray(mesh.cell_data[k]) for k in mesh.cell_data}
    arrays |= {f"field:{k}": np.asarray(mesh.field_data[k]) for k in mesh.field_data}
    active = [mesh.cell_data.active_scalars_name or "", mesh.cell_data.active_normals_name or ""]
    arrays["active"] = np.array(active)
    with open(path, "wb") as f:
        np.savez(f, **arrays)


def load_mesh(path: Path) -> pv.PolyData:
    """Read a mesh written by :func:`save_mesh`.

    Parameters
    ----------
    path : pathlib.Path
        The ``.npz`` file.

    Returns
    -------
    pyvista.PolyData
        The mesh with its cell and field arrays and active scalars and normals.
    """
    with np.load(path, allow_pickle=False) as z:
        mesh = pv.PolyData(z["points"], faces=z["faces"])
        for key in z.files:
            kind, _, name = key.partition(":")
            if kind == "cell":
                mesh.cell_data[name] = z[key]
            elif kind == "field":
                mesh.field_data[name] = z[key]
        scalars, normals = (str(a) for a in z["active"])
    if scalars:
        mesh.cell_data.active_scalars_name = scalars
    if normals:
        mesh.cell_data.active_normals_name = normals
    return mesh
