"""An offscreen render of a built mesh shows buildings (real VTK, no display)."""

from __future__ import annotations

import numpy as np
import pyvista as pv

from tests.mesh.cities import block_city, lod2_city
from twin.mesh import build_mesh


def test_offscreen_render_shows_buildings():
    mesh = build_mesh(block_city()) + build_mesh(lod2_city(), origin=block_city().origin)
    plotter = pv.Plotter(off_screen=True, window_size=(320, 240))
    plotter.set_background("white")
    plotter.add_mesh(
        mesh,
        scalars="surface",
        cmap=["grey", "tan", "firebrick", "blue"],
        clim=[0, 3],
        show_scalar_bar=False,
    )
    plotter.view_isometric()
    image = plotter.screenshot(return_img=True)
    plotter.close()
    assert image.shape[:2] == (240, 320)
    building = np.any(image[:, :, :3] < 245, axis=2)
    assert building.mean() > 0.02, "buildings cover part of the picture (~4 % here)"
    # Roofs (red) and walls (tan) are both visible: the cell arrays drive the colours.
    r, g, b = (image[building][:, k].astype(int) for k in range(3))
    roofish = (r > 100) & (g < 60) & (b < 60)
    assert roofish.sum() > 50
    assert (~roofish).sum() > 50
