"""A structural glTF 2.0 validator for the tests: what viewers rely on, checked by hand."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np

_COMPONENTS = {
    5120: np.int8,
    5121: np.uint8,
    5122: np.int16,
    5123: np.uint16,
    5125: np.uint32,
    5126: np.float32,
}
_TYPES = {"SCALAR": 1, "VEC2": 2, "VEC3": 3, "VEC4": 4, "MAT4": 16}


def read_glb(path: Path) -> tuple[dict, bytes]:
    """Parse a GLB container, checking its header and chunk layout."""
    data = path.read_bytes()
    magic, version, length = struct.unpack_from("<III", data, 0)
    assert magic == 0x46546C67, "GLB magic"
    assert version == 2
    assert length == len(data), "header length equals file size"
    json_len, json_type = struct.unpack_from("<II", data, 12)
    assert json_type == 0x4E4F534A
    assert json_len % 4 == 0, "JSON chunk padded to 4 bytes"
    doc = json.loads(data[20 : 20 + json_len].decode("utf-8"))
    binary = b""
    at = 20 + json_len
    if at < len(data):
        bin_len, bin_type = struct.unpack_from("<II", data, at)
        assert bin_type == 0x004E4942
        assert bin_len % 4 == 0, "BIN chunk padded to 4 bytes"
        assert at + 8 + bin_len == len(data)
        binary = data[at + 8 : at + 8 + bin_len]
    return doc, binary


def read_gltf(path: Path) -> tuple[dict, bytes]:
    """Read a .gltf file and its external buffer."""
    doc = json.loads(path.read_text(encoding="utf-8"))
    binary = b""
    if doc.get("buffers"):
        uri = doc["buffers"][0]["uri"]
        assert not uri.startswith("data:")
        binary = (path.parent / uri).read_bytes()
    return doc, binary


def accessor_data(doc: dict, binary: bytes, index: int) -> np.ndarray:
    acc = doc["accessors"][index]
    view = doc["bufferViews"][acc["bufferView"]]
    dtype = np.dtype(_COMPONENTS[acc["componentType"]])
    width = _TYPES[acc["type"]]
    start = view.get("byteOffset", 0) + acc.get("byteOffset", 0)
    size = acc["count"] * width * dtype.itemsize
    assert acc.get("byteOffset", 0) + size <= view["byteLength"], "accessor fits its view"
    arr = np.frombuffer(binary, dtype=dtype, count=acc["count"] * width, offset=start)
    return arr.reshape(acc["count"], width)


def validate(doc: dict, binary: bytes) -> dict[str, np.ndarray]:
    """Check a glTF document against the rules viewers rely on; return decoded accessors.

    Returns ``{"POSITION": (n, 3), "indices": (m, 3) all primitives, ...}``.
    """
    assert doc["asset"]["version"] == "2.0"
    assert 0 <= doc.get("scene", 0) < len(doc["scenes"])
    for scene in doc["scenes"]:
        for node in scene["nodes"]:
            assert 0 <= node < len(doc["nodes"])
    if not doc.get("meshes"):
        return {}
    (buffer,) = doc["buffers"]
    assert buffer["byteLength"] <= len(binary) <= buffer["byteLength"] + 3
    for view in doc["bufferViews"]:
        assert view["buffer"] == 0
        assert view.get("byteOffset", 0) % 4 == 0, "views aligned to 4 bytes"
        assert view.get("byteOffset", 0) + view["byteLength"] <= buffer["byteLength"]
        assert view["target"] in (34962, 34963)
    for acc in doc["accessors"]:
        assert acc["type"] in _TYPES and acc["componentType"] in _COMPONENTS
    out: dict[str, np.ndarray] = {}
    tris = []
    for mesh in doc["meshes"]:
        for prim in mesh["primitives"]:
            assert prim.get("mode", 4) == 4
            assert 0 <= prim["material"] < len(doc["materials"])
            pos_i = prim["attributes"]["POSITION"]
            pos_acc = doc["accessors"][pos_i]
            assert pos_acc["type"] == "VEC3" and pos_acc["componentType"] == 5126
            pos = accessor_data(doc, binary, pos_i)
            # min and max are required for POSITION and must be exact.
            np.testing.assert_array_equal(pos.min(axis=0), np.float32(pos_acc["min"]))
            np.testing.assert_array_equal(pos.max(axis=0), np.float32(pos_acc["max"]))
            for name, index in prim["attributes"].items():
                acc = doc["accessors"][index]
                assert acc["count"] == pos_acc["count"], f"{name} count equals POSITION's"
                assert name in ("POSITION", "NORMAL", "COLOR_0") or name.startswith("_")
                assert acc["componentType"] != 5125, "UNSIGNED_INT only for indices"
                out[name] = accessor_data(doc, binary, index)
            idx_acc = doc["accessors"][prim["indices"]]
            assert idx_acc["type"] == "SCALAR" and idx_acc["componentType"] == 5125
            assert idx_acc["count"] % 3 == 0
            idx = accessor_data(doc, binary, prim["indices"]).ravel()
            assert idx.max() < pos_acc["count"]
            if "min" in idx_acc:
                assert [int(idx.min())] == idx_acc["min"] and [int(idx.max())] == idx_acc["max"]
            tris.append(idx.reshape(-1, 3))
    out["indices"] = np.concatenate(tris)
    return out
