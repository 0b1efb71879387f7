"""Export a City to 3D file formats: glTF 2.0, VTK, PLY, OBJ and CityJSON 2.0.

Mesh formats (``.glb``, ``.gltf``, ``.vtp``, ``.ply``, ``.obj``) hold the mesh of
:func:`twin.mesh.build_mesh` in local coordinates (absolute minus the City's origin). The
origin and CRS travel with the file where the format has room for them: ``asset.extras`` in
glTF, field data in ``.vtp``; PLY and OBJ carry only geometry (PLY also a colour per
triangle by surface type). ``.city.json`` holds absolute coordinates and the CRS.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from twin.errors import ExportError
from twin.geodata.city import City
from twin.mesh.build import build_mesh
from twin.mesh.cityjson_writer import write_cityjson
from twin.mesh.gltf import SURFACE_COLOURS, build_gltf, write_glb, write_gltf

log = logging.getLogger(__name__)

#: Accepted file endings, longest first (``.city.json`` before anything shorter).
FORMATS: dict[str, str] = {
    ".city.json": "CityJSON 2.0",
    ".glb": "binary glTF 2.0",
    ".gltf": "glTF 2.0 (JSON + .bin)",
    ".vtp": "VTK XML PolyData",
    ".ply": "PLY (triangles, colour by surface type)",
    ".obj": "Wavefront OBJ",
}


def export_format(path: str | Path) -> str:
    """Return the format key (a file ending of :data:`FORMATS`) for ``path``.

    Parameters
    ----------
    path : str or pathlib.Path
        The target file name.

    Returns
    -------
    str
        One of the keys of :data:`FORMATS`.

    Raises
    ------
    ExportError
        If the ending is none of them.

    Examples
    --------
    >>> export_format("out/Ludwigshafen.City.JSON")
    '.city.json'
    """
    name = Path(path).name.lower()
    for suffix in FORMATS:
        if name.endswith(suffix):
            return suffix
    choices = ", ".join(FORMATS)
    raise ExportError(f"{path}: unknown export format; the file name must end in one of {choices}")


def export_city(city: City, path: str | Path, *, lod2: bool = True) -> Path:
    """Write a City to a file whose format follows from its name.

    Parameters
    ----------
    city : City
        The buildings.
    path : str or pathlib.Path
        Target file ending in ``.glb``, ``.gltf``, ``.vtp``, ``.ply``, ``.obj`` or
        ``.city.json``. Missing parent folders are created. ``.gltf`` also writes
        ``<stem>.bin`` beside it.
    lod2 : bool
        Use stored LoD2 surfaces where present; False writes every row as a block.

    Returns
    -------
    pathlib.Path
        The file written.

    Raises
    ------
    ExportError
        If the format is unknown or the file cannot be written.

    Examples
    --------
    >>> from twin.geodata.demo import generate_city
    >>> export_city(generate_city(buildings=50), "demo.glb")  # doctest: +SKIP
    PosixPath('demo.glb')
    """
    path = Path(path)
    fmt = export_format(path)
    _check_writable(path)
    started = time.perf_counter()
    writer = _WRITERS[fmt]
    try:
        writer(city, path, lod2)
    except ExportError:
        raise
    except OSError as err:
        raise ExportError(f"{path}: cannot write the {FORMATS[fmt]} file ({err})") from err
    log.info(
        "exported %d rows to %s (%s) in %.2f s",
        len(city.buildings),
        path,
        FORMATS[fmt],
        time.perf_counter() - started,
    )
    return path


def _check_writable(path: Path) -> None:
    """Create the parent folder and make sure the file can be opened for writing."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.is_dir():
            raise IsADirectoryError(f"{path} is a directory")
        existed = path.exists()
        with open(path, "ab"):
            pass
        if not existed:
            os.unlink(path)
    except OSError as err:
        reason = err.strerror or str(err)
        raise ExportError(f"{path}: cannot write here ({reason})") from err


def _extras(city: City, origin: tuple[float, ...]) -> dict:
    return {
        "crs": city.crs,
        "origin": [float(v) for v in origin],
        "up_axis": "Y (glTF); twin's local frame is Z-up: gltf (x, y, z) = local (x, z, -y)",
        "units": "metre",
        "label": city.label,
        "synthetic": city.synthetic,
        "attribution": list(city.attribution),
        "sources": [str(s) for s in city.sources],
    }


def _write_gltf(city: City, path: Path, lod2: bool) -> None:
    mesh = build_mesh(city, lod2=lod2)
    origin = tuple(float(v) for v in mesh.field_data["origin"])
    triangles = mesh.regular_faces if mesh.n_cells else np.zeros((0, 3), dtype=np.int64)
    gltf, binary = build_gltf(
        np.asarray(mesh.points),
        triangles,
        np.asarray(mesh.cell_data["surface"]),
        np.asarray(mesh.cell_data["building"]),
        extras=_extras(city, origin),
    )
    if path.name.lower().endswith(".glb"):
        write_glb(path, gltf, binary)
    else:
        write_gltf(path, gltf, binary)


def _write_pyvista(city: City, path: Path, lod2: bool) -> None:
    mesh = build_mesh(city, lod2=lod2)
    if not mesh.n_cells and path.suffix.lower() != ".vtp":
        raise ExportError(
            f"{path}: the city has no buildings to write and VTK's {path.suffix} writer "
            "refuses an empty mesh; use .vtp, .glb or .city.json"
        )
    texture = None
    if path.suffix.lower() == ".ply":
        palette = np.array(
            [[round(255 * c) for c in SURFACE_COLOURS[k][:3]] for k in range(4)], dtype=np.uint8
        )
        texture = palette[np.asarray(mesh.cell_data["surface"])]
    # Write beside the target under a lower-case suffix (VTK's PLY writer fails on ".PLY"),
    # then move into place: a failed write never leaves a half-written target behind.
    tmp = path.with_name(f".{path.stem}.partial{path.suffix.lower()}")
    try:
        mesh.save(tmp, texture=texture)
        os.replace(tmp, path)
    except (OSError, ValueError) as err:
        tmp.unlink(missing_ok=True)
        raise ExportError(f"{path}: the VTK writer failed ({err})") from err


def _write_cityjson(city: City, path: Path, lod2: bool) -> None:
    write_cityjson(city, path, lod2=lod2)


_WRITERS: dict[str, Callable[[City, Path, bool], None]] = {
    ".city.json": _write_cityjson,
    ".glb": _write_gltf,
    ".gltf": _write_gltf,
    ".vtp": _write_pyvista,
    ".ply": _write_pyvista,
    ".obj": _write_pyvista,
}
