"""Small hand-built Cities for the mesh and export tests (absolute EPSG:25832 coordinates)."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import shapely

from twin.geodata.city import City

E0, N0 = 459_000.0, 5_481_000.0

#: Expected volume of each row of :func:`block_city`.
BLOCK_VOLUMES = {
    "box": 20 * 10 * 10.0,  # plain prism
    "courtyard": (20 * 20 - 10 * 10) * 5.0,  # square with a square hole
    "twins": 2 * (10 * 10) * (3.0 - 1.0),  # MultiPolygon, min_height 1
    "ell": 300 * 4.0,  # concave L shape
    "hill": 8 * 6 * 6.0,  # on ground_z = 100
}


def block_city() -> City:
    """Five block buildings: box, courtyard (hole), MultiPolygon, L shape, one on a hill."""
    courtyard = shapely.Polygon(
        [(30, 0), (50, 0), (50, 20), (30, 20)], [[(35, 5), (35, 15), (45, 15), (45, 5)]]
    )
    twins = shapely.MultiPolygon([shapely.box(60, 0, 70, 10), shapely.box(80, 0, 90, 10)])
    # Clockwise on purpose: the builder must orient it.
    ell = shapely.Polygon([(0, 30), (0, 50), (10, 50), (10, 40), (20, 40), (20, 30)])
    geoms = [shapely.box(0, 0, 20, 10), courtyard, twins, ell, shapely.box(40, 30, 48, 36)]
    geoms = [shapely.affinity.translate(g, E0, N0) for g in geoms]
    return City(
        gpd.GeoDataFrame(
            {
                "id": list(BLOCK_VOLUMES),
                "height": [10.0, 5.0, 3.0, 4.0, 6.0],
                "min_height": [0.0, 0.0, 1.0, 0.0, 0.0],
                "ground_z": [0.0, 0.0, 0.0, 0.0, 100.0],
                "name": ["Box", "Courtyard", None, None, None],
            },
            geometry=geoms,
            crs="EPSG:25832",
        )
    )


#: Volume of :func:`house_surfaces`: 10 × 8 × 3 block plus a 2 m gable roof.
HOUSE_VOLUME = 10 * 8 * 3 + 0.5 * 8 * 2 * 10


def house_surfaces(x0: float = E0, y0: float = N0, z0: float = 95.0) -> tuple[bytes, str]:
    """A gabled LoD2 house as (WKB MultiPolygon Z, surface types), surfaces facing outward."""
    rings = [
        ("G", [(0, 0, 0), (0, 8, 0), (10, 8, 0), (10, 0, 0)]),
        ("W", [(0, 0, 0), (10, 0, 0), (10, 0, 3), (0, 0, 3)]),
        ("W", [(10, 8, 0), (0, 8, 0), (0, 8, 3), (10, 8, 3)]),
        ("W", [(0, 8, 0), (0, 0, 0), (0, 0, 3), (0, 4, 5), (0, 8, 3)]),
        ("W", [(10, 0, 0), (10, 8, 0), (10, 8, 3), (10, 4, 5), (10, 0, 3)]),
        ("R", [(0, 0, 3), (10, 0, 3), (10, 4, 5), (0, 4, 5)]),
        ("R", [(10, 8, 3), (0, 8, 3), (0, 4, 5), (10, 4, 5)]),
    ]
    polys = [shapely.Polygon([(x + x0, y + y0, z + z0) for x, y, z in ring]) for _, ring in rings]
    return shapely.to_wkb(shapely.MultiPolygon(polys)), "".join(t for t, _ in rings)


def lod2_city() -> City:
    """Two LoD2 houses and one block building."""
    wkb1, types = house_surfaces()
    wkb2, _ = house_surfaces(E0 + 30, N0, 96.0)
    geoms = [
        shapely.box(E0, N0, E0 + 10, N0 + 8),
        shapely.box(E0 + 30, N0, E0 + 40, N0 + 8),
        shapely.box(E0 + 60, N0, E0 + 70, N0 + 10),
    ]
    return City(
        gpd.GeoDataFrame(
            {
                "id": ["house1", "house2", "block"],
                "height": [5.0, 5.0, 7.0],
                "ground_z": [95.0, 96.0, 95.0],
                "lod": [2, 2, 1],
                "roof_shape": ["gabled", "gabled", "flat"],
                "surfaces": [wkb1, wkb2, None],
                "surface_types": [types, types, None],
            },
            geometry=geoms,
            crs="EPSG:25832",
        )
    )


def random_city(n: int, seed: int = 0) -> City:
    """``n`` random rectangles and L shapes on a 10 km square (for size tests)."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 10_000, n) + E0
    y = rng.uniform(0, 10_000, n) + N0
    w = rng.uniform(6, 20, n)
    d = rng.uniform(6, 15, n)
    geoms = shapely.box(x, y, x + w, y + d)
    ell = rng.random(n) < 0.3
    cut = shapely.box(x + w / 2, y + d / 2, x + w, y + d)
    geoms[ell] = shapely.difference(geoms[ell], cut[ell])
    return City(
        gpd.GeoDataFrame(
            {"id": [f"r{i}" for i in range(n)], "height": rng.uniform(4, 30, n)},
            geometry=geoms,
            crs="EPSG:25832",
        )
    )


def signed_volumes(mesh, n_rows: int) -> np.ndarray:
    """Volume enclosed by each building's triangles (divergence theorem), per row."""
    tri = mesh.regular_faces
    row = mesh.cell_data["building"]
    p = np.asarray(mesh.points, dtype=np.float64)
    # Tetrahedra from a point of the same building keep the sums small and exact.
    ref = np.zeros((n_rows, 3))
    ref[row] = p[tri[:, 0]]
    a, b, c = (p[tri[:, k]] - ref[row] for k in range(3))
    v = np.einsum("ij,ij->i", a, np.cross(b, c)) / 6.0
    return np.bincount(row, weights=v, minlength=n_rows)
