"""Mesh: the whole City as one :class:`pyvista.PolyData` (vectorised), and exporters."""

from twin.mesh.build import build_mesh
from twin.mesh.export import export_city

__all__ = ["build_mesh", "export_city"]
