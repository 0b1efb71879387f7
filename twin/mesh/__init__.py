"""Mesh: the whole City as one :class:`pyvista.PolyData` (vectorised), and exporters."""

from twin.mesh.build import build_mesh

__all__ = ["build_mesh"]
