"""In-place building colours: group mapping, partial and full updates, VTK array shared."""

from __future__ import annotations

import numpy as np
import pyvista as pv

from twin.scene.painter import COLOR_ARRAY, BuildingPainter, building_groups
from twin.scene.styles import NEUTRAL_RGB


def mesh_with_buildings(cell_rows: list[int]) -> pv.PolyData:
    n = len(cell_rows)
    pts = np.zeros((n * 3, 3), dtype=np.float32)
    pts[:, 0] = np.arange(n * 3)
    pts[1::3, 1] = 1.0
    faces = np.column_stack([np.full(n, 3), np.arange(n * 3).reshape(n, 3)]).ravel()
    mesh = pv.PolyData(pts, faces=faces)
    mesh.cell_data["building"] = np.array(cell_rows, dtype=np.int32)
    return mesh


def test_groups_join_parts():
    group, first = building_groups(["a", "b", "a", "c", "b"])
    assert group.tolist() == [0, 1, 0, 2, 1]
    assert first.tolist() == [0, 1, 3]


def test_paint_writes_into_the_shared_vtk_array():
    # rows 0 and 2 are parts of one building; cells are not sorted by row
    mesh = mesh_with_buildings([0, 1, 2, 2, 1, 0, 3])
    group, _ = building_groups(["a", "b", "a", "c"])
    painter = BuildingPainter(mesh, group)
    vtk_array = mesh.GetCellData().GetArray(COLOR_ARRAY)
    colors = np.asarray(mesh.cell_data[COLOR_ARRAY])
    assert colors.shape == (7, 4) and colors.dtype == np.uint8
    assert (colors[:, :3] == NEUTRAL_RGB).all() and (colors[:, 3] == 255).all()
    before = vtk_array.GetMTime()
    assert painter.paint(np.array([0]), np.array([[255, 0, 0]], dtype=np.uint8))
    assert vtk_array.GetMTime() > before  # marked modified
    now = np.asarray(mesh.cell_data[COLOR_ARRAY])
    red = (now[:, :3] == [255, 0, 0]).all(axis=1)
    assert red.tolist() == [True, False, True, True, False, True, False]
    assert mesh.GetCellData().GetArray(COLOR_ARRAY) is vtk_array  # same array, no new upload
    # painting the same again changes nothing
    assert not painter.paint(np.array([0]), np.array([[255, 0, 0]], dtype=np.uint8))
    # a new paint resets others to neutral
    assert painter.paint(np.array([2]), np.array([[0, 0, 255]], dtype=np.uint8))
    now = np.asarray(mesh.cell_data[COLOR_ARRAY])
    assert (now[[0, 2, 3, 5], :3] == NEUTRAL_RGB).all()
    assert now[6, :3].tolist() == [0, 0, 255]


def test_full_and_partial_updates_agree():
    rng = np.random.default_rng(3)
    n_rows, n_cells = 5000, 60_000
    mesh = mesh_with_buildings(rng.integers(0, n_rows, n_cells).tolist())
    group = np.arange(n_rows)
    painter = BuildingPainter(mesh, group)
    for k in (3, 50, 4000):  # partial (few) and full (many) paths
        groups = rng.choice(n_rows, k, replace=False)
        rgb = rng.integers(0, 255, (k, 3)).astype(np.uint8)
        painter.paint(groups, rgb)
        expected = np.tile(np.array(NEUTRAL_RGB, np.uint8), (n_rows, 1))
        expected[groups] = rgb
        cells = np.asarray(mesh.cell_data[COLOR_ARRAY])
        assert np.array_equal(cells[:, :3], expected[np.asarray(mesh.cell_data["building"])])


def test_cells_of_lists_exactly_the_cells_of_groups():
    mesh = mesh_with_buildings([2, 0, 1, 2, 2, 0])
    painter = BuildingPainter(mesh, np.arange(3))
    assert sorted(painter.cells_of(np.array([2])).tolist()) == [0, 3, 4]
    assert sorted(painter.cells_of(np.array([0, 1])).tolist()) == [1, 2, 5]
    assert painter.cells_of(np.array([], dtype=int)).tolist() == []
