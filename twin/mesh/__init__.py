"""Mesh: the whole City as one :class:`pyvista.PolyData` (vectorised), and exporters.

Public API
----------
:func:`build_mesh`
    All buildings as one triangle mesh in local coordinates, with cell arrays ``building``
    (row of ``City.buildings``), ``surface`` (0 ground, 1 wall, 2 roof, 3 other) and flat
    ``Normals``; field data ``origin`` and ``crs``.
:func:`export_city`
    Write a City as ``.glb``/``.gltf`` (glTF 2.0), ``.vtp``, ``.ply``, ``.obj`` or
    ``.city.json`` (CityJSON 2.0).

Modules: :mod:`~twin.mesh.rings` (polygons as flat ring arrays), :mod:`~twin.mesh.triangulate`
(fan + earcut), :mod:`~twin.mesh.extrude` (block buildings), :mod:`~twin.mesh.lod2` (LoD2
surfaces), :mod:`~twin.mesh.build`, :mod:`~twin.mesh.export`, :mod:`~twin.mesh.gltf`,
:mod:`~twin.mesh.cityjson_writer`.
"""

from twin.mesh.build import build_mesh
from twin.mesh.export import export_city

__all__ = ["build_mesh", "export_city"]
