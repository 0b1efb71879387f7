"""glTF 2.0 writer (``.glb`` binary or ``.gltf`` JSON + ``.bin``) for the city mesh.

One mesh with one primitive per surface type (ground, wall, roof, other), each with its own
material colour; all primitives share one POSITION accessor. Coordinates are converted from
twin's Z-up local frame to glTF's Y-up (``x, z, -y``). No normals are written: glTF viewers
must then compute flat normals, which is what a block city wants. The custom vertex
attribute ``_BUILDING`` (float) holds each vertex's row in ``City.buildings``. CRS, origin and
attribution go into ``asset.extras``.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import numpy as np

from twin import __version__
from twin.geodata.city import SURFACE_NAMES

#: Material colour (linear RGBA) of each surface code.
SURFACE_COLOURS: dict[int, tuple[float, float, float, float]] = {
    0: (0.35, 0.35, 0.35, 1.0),  # ground
    1: (0.80, 0.76, 0.68, 1.0),  # wall
    2: (0.55, 0.22, 0.16, 1.0),  # roof
    3: (0.60, 0.60, 0.65, 1.0),  # other
}

_FLOAT = 5126
_UINT = 5125
_ARRAY_BUFFER = 34962
_ELEMENT_ARRAY_BUFFER = 34963
_TRIANGLES = 4
_GLB_MAGIC = 0x46546C67  # "glTF"
_CHUNK_JSON = 0x4E4F534A  # "JSON"
_CHUNK_BIN = 0x004E4942  # "BIN\0"


def z_up_to_y_up(points: np.ndarray) -> np.ndarray:
    """Convert Z-up coordinates ``(x, y, z)`` to glTF's Y-up ``(x, z, -y)``.

    Parameters
    ----------
    points : numpy.ndarray
        ``(n, 3)`` coordinates.

    Returns
    -------
    numpy.ndarray
        ``(n, 3)`` float32.
    """
    p = np.asarray(points)
    out = np.empty((len(p), 3), dtype=np.float32)
    out[:, 0] = p[:, 0]
    out[:, 1] = p[:, 2]
    out[:, 2] = -p[:, 1]
    return out


def _pad(data: bytes, fill: bytes = b"\0") -> bytes:
    """Pad to a multiple of 4 bytes."""
    return data + fill * (-len(data) % 4)


def build_gltf(
    points: np.ndarray,
    triangles: np.ndarray,
    surface: np.ndarray,
    building: np.ndarray,
    *,
    extras: dict[str, Any],
) -> tuple[dict[str, Any], bytes]:
    """Assemble the glTF JSON and its binary buffer.

    Parameters
    ----------
    points : numpy.ndarray
        ``(n, 3)`` local Z-up coordinates.
    triangles : numpy.ndarray
        ``(m, 3)`` point indices, counter-clockwise seen from outside.
    surface : numpy.ndarray
        ``(m,)`` surface code of each triangle.
    building : numpy.ndarray
        ``(m,)`` building row of each triangle (stored per vertex as ``_BUILDING``).
    extras : dict
        Written as ``asset.extras`` (CRS, origin, attribution ...).

    Returns
    -------
    gltf : dict
        The JSON document; its single buffer has no ``uri`` (GLB) yet.
    binary : bytes
        The buffer, 4-byte aligned.
    """
    pos = z_up_to_y_up(points)
    vertex_building = np.zeros(len(pos), dtype=np.float32)
    vertex_building[triangles.ravel()] = np.repeat(building, 3).astype(np.float32)

    chunks: list[bytes] = []
    views: list[dict[str, Any]] = []
    accessors: list[dict[str, Any]] = []
    offset = 0

    def add_view(data: bytes, target: int) -> int:
        nonlocal offset
        views.append({"buffer": 0, "byteOffset": offset, "byteLength": len(data), "target": target})
        padded = _pad(data)
        chunks.append(padded)
        offset += len(padded)
        return len(views) - 1

    attributes: dict[str, int] = {}
    if len(pos):
        view = add_view(pos.tobytes(), _ARRAY_BUFFER)
        accessors.append(
            {
                "bufferView": view,
                "componentType": _FLOAT,
                "count": len(pos),
                "type": "VEC3",
                "min": [float(v) for v in pos.min(axis=0)],
                "max": [float(v) for v in pos.max(axis=0)],
            }
        )
        attributes["POSITION"] = len(accessors) - 1
        view = add_view(vertex_building.tobytes(), _ARRAY_BUFFER)
        accessors.append(
            {
                "bufferView": view,
                "componentType": _FLOAT,
                "count": len(pos),
                "type": "SCALAR",
                "min": [float(vertex_building.min())],
                "max": [float(vertex_building.max())],
            }
        )
        attributes["_BUILDING"] = len(accessors) - 1

    materials: list[dict[str, Any]] = []
    primitives: list[dict[str, Any]] = []
    for code, name in enumerate(SURFACE_NAMES):
        sel = triangles[surface == code]
        if not len(sel):
            continue
        idx = np.ascontiguousarray(sel, dtype=np.uint32).ravel()
        view = add_view(idx.tobytes(), _ELEMENT_ARRAY_BUFFER)
        accessors.append(
            {
                "bufferView": view,
                "componentType": _UINT,
                "count": len(idx),
                "type": "SCALAR",
                "min": [int(idx.min())],
                "max": [int(idx.max())],
            }
        )
        materials.append(
            {
                "name": name,
                "pbrMetallicRoughness": {
                    "baseColorFactor": list(SURFACE_COLOURS[code]),
                    "metallicFactor": 0.0,
                    "roughnessFactor": 0.9,
                },
            }
        )
        primitives.append(
            {
                "attributes": dict(attributes),
                "indices": len(accessors) - 1,
                "material": len(materials) - 1,
                "mode": _TRIANGLES,
                "extras": {"surface": name},
            }
        )

    binary = b"".join(chunks)
    gltf: dict[str, Any] = {
        "asset": {"version": "2.0", "generator": f"twin {__version__}", "extras": extras},
        "scene": 0,
        "scenes": [{"name": "city", "nodes": [0]}],
        "nodes": [{"name": "city"}],
    }
    if primitives:
        gltf["nodes"][0]["mesh"] = 0
        gltf["meshes"] = [{"name": "buildings", "primitives": primitives}]
        gltf["materials"] = materials
        gltf["accessors"] = accessors
        gltf["bufferViews"] = views
        gltf["buffers"] = [{"byteLength": len(binary)}]
    return gltf, binary


def write_glb(path: Path, gltf: dict[str, Any], binary: bytes) -> None:
    """Write a binary glTF (GLB) container: 12-byte header, JSON chunk, BIN chunk.

    Parameters
    ----------
    path : pathlib.Path
        Target ``.glb`` file.
    gltf : dict
        The JSON document (its buffer 0 must have no ``uri``).
    binary : bytes
        Content of buffer 0.
    """
    body = _pad(json.dumps(gltf, separators=(",", ":")).encode("utf-8"), b" ")
    chunks = struct.pack("<II", len(body), _CHUNK_JSON) + body
    if binary:
        data = _pad(binary)
        chunks += struct.pack("<II", len(data), _CHUNK_BIN) + data
    header = struct.pack("<III", _GLB_MAGIC, 2, 12 + len(chunks))
    with open(path, "wb") as fh:
        fh.write(header)
        fh.write(chunks)


def write_gltf(path: Path, gltf: dict[str, Any], binary: bytes) -> Path:
    """Write a ``.gltf`` JSON file and its buffer beside it as ``<stem>.bin``.

    Parameters
    ----------
    path : pathlib.Path
        Target ``.gltf`` file.
    gltf : dict
        The JSON document.
    binary : bytes
        Content of buffer 0.

    Returns
    -------
    pathlib.Path
        The ``.bin`` file written (even when empty, nothing references it then).
    """
    bin_path = path.with_suffix(".bin")
    if gltf.get("buffers"):
        gltf["buffers"][0]["uri"] = bin_path.name
        bin_path.write_bytes(binary)
    path.write_text(json.dumps(gltf, indent=1), encoding="utf-8")
    return bin_path
