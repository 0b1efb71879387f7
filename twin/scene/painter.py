"""Per-building colours written into the mesh's cell colour array, in place.

The mesh has one cell array ``building`` (row of the City table per triangle). Building parts
share their building's colour, so rows are first mapped to *groups* (one per distinct value
of the City's ``building`` column). :class:`BuildingPainter` keeps

* ``group_rgba``: a preallocated ``(n_groups, 4)`` uint8 array, one colour per building, and
* the mesh's ``colors`` cell array: ``(n_cells, 4)`` uint8 RGBA, shared with VTK (no copy),

and updates the latter from the former with one gather (``np.take`` over the RGBA bytes viewed
as uint32) or, when only a few buildings changed, only over those buildings' cells (a CSR index
of cells per group built once). Then it marks the VTK array modified: the renderer uploads the
new colours, the geometry is never touched.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import pandas as pd

from twin.scene.styles import NEUTRAL_RGB

log = logging.getLogger(__name__)

#: Name of the RGBA cell array the painter owns.
COLOR_ARRAY = "colors"


def building_groups(building_ids: Sequence[object] | pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Map City rows to building groups (parts of one building share a group).

    Parameters
    ----------
    building_ids : sequence
        The City's ``building`` column.

    Returns
    -------
    group_of_row : numpy.ndarray
        int64 group number per row.
    first_row : numpy.ndarray
        The first row of each group.
    """
    codes, _ = pd.factorize(pd.Series(building_ids), sort=False)
    first_row = np.unique(codes, return_index=True)[1]
    return codes.astype(np.int64), first_row.astype(np.int64)


class BuildingPainter:
    """Colour a mesh by building, in place.

    Parameters
    ----------
    mesh : pyvista.PolyData
        A mesh with the cell array ``building`` (City row per cell).
    group_of_row : numpy.ndarray
        Group number of each City row (see :func:`building_groups`).
    neutral : tuple of int
        RGB of buildings without a value.
    index_array : str
        The cell array holding each cell's row (``building``; ``device`` for sensor glyphs).

    Attributes
    ----------
    group_rgba : numpy.ndarray
        ``(n_groups, 4)`` uint8, the colour of each building; edit it and call
        :meth:`apply`, or use :meth:`paint`.
    """

    def __init__(
        self,
        mesh: object,
        group_of_row: np.ndarray,
        *,
        neutral: Sequence[int] = NEUTRAL_RGB,
        index_array: str = "building",
    ) -> None:
        self.mesh = mesh
        self.neutral = np.array([*neutral[:3], 255], dtype=np.uint8)
        n_groups = int(group_of_row.max()) + 1 if len(group_of_row) else 0
        self.group_rgba = np.empty((n_groups, 4), dtype=np.uint8)
        self.group_rgba[:] = self.neutral
        self.index_array = index_array
        self._group_of_row = group_of_row
        self._group_u32 = self.group_rgba.view(np.uint32).reshape(-1)
        self.targets: list[_Target] = []
        main = self.attach(mesh)
        self.cell_group = main.cell_group
        self.cell_rgba = main.cell_u32.view(np.uint8).reshape(-1, 4)

    def attach(self, mesh: object) -> _Target:
        """Also colour ``mesh`` (e.g. a tile of the City mesh with its own ``building`` array).

        Parameters
        ----------
        mesh : pyvista.PolyData
            A mesh with the painter's index cell array.

        Returns
        -------
        _Target
            The new target, already painted with the current colours.
        """
        cell_row = np.asarray(mesh.cell_data[self.index_array])  # type: ignore[attr-defined]
        target = _Target(mesh, self._group_of_row[cell_row].astype(np.intp), self.n_groups)
        self.targets.append(target)
        target.apply(self._group_u32, None)
        return target

    def detach(self, mesh: object) -> None:
        """Stop colouring ``mesh`` (a tile no longer drawn)."""
        self.targets = [t for t in self.targets if t.mesh is not mesh]

    @property
    def n_groups(self) -> int:
        """Number of buildings (groups)."""
        return len(self.group_rgba)

    def cells_of(self, groups: np.ndarray) -> np.ndarray:
        """Return the cell ids of the given groups in the first mesh (vectorised)."""
        return self.targets[0].cells_of(groups)

    def apply(self, groups: np.ndarray | None = None) -> None:
        """Copy group colours to the cells (all, or only those of ``groups``) and mark modified.

        Parameters
        ----------
        groups : numpy.ndarray, optional
            Groups whose colour changed; None updates every cell.
        """
        if groups is not None and len(groups) * 8 > self.n_groups:
            groups = None
        for target in self.targets:
            target.apply(self._group_u32, groups)

    def paint(self, groups: np.ndarray, rgb: np.ndarray) -> bool:
        """Set the colours of some buildings and reset all others to neutral.

        Parameters
        ----------
        groups : numpy.ndarray
            Group numbers with a colour.
        rgb : numpy.ndarray
            ``(len(groups), 3)`` uint8 colours.

        Returns
        -------
        bool
            Whether any building's colour changed.
        """
        rgba = np.full((len(groups), 4), 255, dtype=np.uint8)
        rgba[:, :3] = rgb
        return self.paint_codes(groups, rgba.view(np.uint32).reshape(-1))

    def paint_codes(self, groups: np.ndarray, codes: np.ndarray) -> bool:
        """Like :meth:`paint` with packed RGBA colours (:func:`~twin.scene.styles.color_codes`).

        Only buildings whose colour differs are written, and only their cells when few.

        Returns
        -------
        bool
            Whether any building's colour changed.
        """
        new = np.full(self.n_groups, self.neutral.view(np.uint32)[0], dtype=np.uint32)
        if len(groups):
            new[groups] = codes
        changed = np.flatnonzero(new != self._group_u32)
        if not len(changed):
            return False
        if len(changed) * 8 > self.n_groups:
            self._group_u32[:] = new
        else:
            self._group_u32[changed] = new[changed]
        self.apply(changed)
        return True

    def fill(self, rgb: np.ndarray) -> None:
        """Set every building's colour from a ``(n_groups, 3)`` array (benchmarks, overlays)."""
        self.group_rgba[:, :3] = rgb
        self.apply()


class _Target:
    """One mesh coloured by a painter: its cell → group index and its shared RGBA array."""

    def __init__(self, mesh: object, cell_group: np.ndarray, n_groups: int) -> None:
        self.mesh = mesh
        self.cell_group = cell_group
        rgba = np.empty((len(cell_group), 4), dtype=np.uint8)
        mesh.cell_data[COLOR_ARRAY] = rgba  # type: ignore[attr-defined]
        # pyvista wraps our memory without copying; keep a plain view of VTK's buffer.
        view = np.asarray(mesh.cell_data[COLOR_ARRAY])  # type: ignore[attr-defined]
        if not np.shares_memory(view, rgba):  # pragma: no cover - pyvista changed
            log.debug("pyvista copied the colour array; writing into its copy")
        self.cell_u32 = view.view(np.uint32).reshape(-1)
        self.vtk_array = mesh.GetCellData().GetArray(COLOR_ARRAY)  # type: ignore[attr-defined]
        # CSR index: cells of group g are order[starts[g]:starts[g + 1]].
        self.order = np.argsort(cell_group, kind="stable").astype(np.intp)
        counts = np.bincount(cell_group, minlength=n_groups) if len(cell_group) else []
        self.starts = np.concatenate([[0], np.cumsum(counts)]).astype(np.intp)

    def cells_of(self, groups: np.ndarray) -> np.ndarray:
        groups = np.asarray(groups, dtype=np.intp)
        lo, hi = self.starts[groups], self.starts[groups + 1]
        lengths = hi - lo
        total = int(lengths.sum())
        if total == 0:
            return np.empty(0, dtype=np.intp)
        # position within the concatenation → index into order
        offsets = np.repeat(lo - np.concatenate([[0], np.cumsum(lengths)[:-1]]), lengths)
        return self.order[np.arange(total, dtype=np.intp) + offsets]

    def apply(self, group_u32: np.ndarray, groups: np.ndarray | None) -> None:
        if groups is None:
            np.take(group_u32, self.cell_group, out=self.cell_u32)
        elif len(groups):
            cells = self.cells_of(groups)
            if not len(cells):
                return
            self.cell_u32[cells] = group_u32[self.cell_group[cells]]
        else:
            return
        self.vtk_array.Modified()
        self.mesh.Modified()  # type: ignore[attr-defined]
