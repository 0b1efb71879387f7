"""Mesh: the whole City as one :class:`pyvista.PolyData` (vectorised), and exporters."""
