"""Picking helpers of the :class:`~twin.scene.twin.Twin`: from renderer hits to City rows.

A cell picker on the building actor reports a cell id (its ``building`` array gives the
row); a picker on the sensor glyphs reports a glyph cell (its ``device`` array gives the
device). A picked surface point (local coordinates) maps to the footprint containing it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import shapely


class PickingMixin:
    """Methods mixed into :class:`~twin.scene.twin.Twin` (which provides the attributes)."""

    mesh: Any
    glyphs: Any
    devices: Any
    city: Any
    origin: np.ndarray
    group_of_row: np.ndarray
    group_top: np.ndarray
    _tree: shapely.STRtree | None

    def row_at_cell(self, cell_id: int) -> int:
        """Return the City row of a building-mesh cell (e.g. from a cell picker)."""
        return int(self.mesh.cell_data["building"][int(cell_id)])

    def device_at_cell(self, cell_id: int) -> str:
        """Return the device id of a sensor-glyph cell."""
        return str(self.devices["device"].iat[int(self.glyphs.cell_data["device"][int(cell_id)])])

    def pick(self, x: float, y: float, z: float = 0.0, *, tolerance: float = 2.0) -> int | None:
        """Return the City row at a local point (a picked surface point), or None.

        Parameters
        ----------
        x, y, z : float
            Local coordinates (as the renderer reports them); ``z`` is not needed.
        tolerance : float
            Metres around the footprint still counted as a hit (points on walls).
        """
        del z
        if self._tree is None:
            self._tree = shapely.STRtree(self.city.buildings.geometry.to_numpy())
        p = shapely.points(x + self.origin[0], y + self.origin[1])
        hits = self._tree.query(p, predicate="within")
        if len(hits):
            return int(hits[0])
        near = self._tree.query_nearest(p, max_distance=tolerance)
        return int(near[0]) if len(near) else None

    def rows_of(self, row: int) -> np.ndarray:
        """Return all City rows of the building that ``row`` belongs to (its parts)."""
        return np.flatnonzero(self.group_of_row == self.group_of_row[int(row)])

    def building_position(self, row: int) -> tuple[float, float, float]:
        """Return a local point on top of the building of ``row`` (for the camera)."""
        rows = self.rows_of(row)
        geom = shapely.union_all(self.city.buildings.geometry.to_numpy()[rows])
        p = shapely.point_on_surface(geom)
        top = float(self.group_top[self.group_of_row[int(row)]])
        return (float(p.x - self.origin[0]), float(p.y - self.origin[1]), top)
