import logging

import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from twin.geodata import surfaces as surf
from twin.geodata.citygml_assemble import resolve_heights


def box_rings(x0, y0, x1, y1, z0, z1):
    """The six faces of an axis-aligned box, outward counter-clockwise (as CityGML)."""
    return [
        [(x0, y0, z0), (x0, y1, z0), (x1, y1, z0), (x1, y0, z0)],  # bottom, normal -z
        [(x0, y0, z1), (x1, y0, z1), (x1, y1, z1), (x0, y1, z1)],  # top, +z
        [(x0, y0, z0), (x1, y0, z0), (x1, y0, z1), (x0, y0, z1)],  # south, -y
        [(x1, y1, z0), (x0, y1, z0), (x0, y1, z1), (x1, y1, z1)],  # north, +y
        [(x0, y1, z0), (x0, y0, z0), (x0, y0, z1), (x0, y1, z1)],  # west, -x
        [(x1, y0, z0), (x1, y1, z0), (x1, y1, z1), (x1, y0, z1)],  # east, +x
    ]


def add_box(builder, row, *box, kinds=None):
    for i, ring in enumerate(box_rings(*box)):
        builder.add_polygon(row, [np.array(ring, float)], kinds[i] if kinds else surf.UNKNOWN)


def test_normals_and_areas_of_a_box_far_from_the_origin():
    b = surf.SurfaceBuilder()
    add_box(b, 0, 459_100.0, 5_481_100.0, 459_110.0, 5_481_108.0, 95.0, 101.0)
    batch = b.build(n_rows=1)
    unit, area = surf.normals(batch)
    expected = [(0, 0, -1), (0, 0, 1), (0, -1, 0), (0, 1, 0), (-1, 0, 0), (1, 0, 0)]
    np.testing.assert_allclose(unit, expected, atol=1e-9)
    np.testing.assert_allclose(area, [80, 80, 60, 60, 48, 48], rtol=1e-9)


def test_classify_by_normal_keeps_given_semantics():
    b = surf.SurfaceBuilder()
    add_box(b, 0, 0, 0, 10, 8, 0, 6, kinds=["?", "?", "?", "W", "O", "?"])
    batch = b.build(n_rows=1)
    zmin, zmax = batch.z_range()
    assert "".join(surf.classify(batch, zmin, zmax)) == "GRWWOW"


def test_downward_face_high_up_is_other_not_ground():
    b = surf.SurfaceBuilder()
    add_box(b, 0, 0, 0, 10, 8, 0, 10)
    # The underside of an overhang at 6 m, facing down.
    b.add_polygon(0, [np.array([(10, 0, 6), (10, 8, 6), (14, 8, 6), (14, 0, 6)], float)])
    batch = b.build(n_rows=1)
    zmin, zmax = batch.z_range()
    assert surf.classify(batch, zmin, zmax)[-1] == "O"


def test_rows_are_grouped_even_when_added_out_of_order():
    b = surf.SurfaceBuilder()
    add_box(b, 1, 20, 0, 30, 5, 0, 3)
    add_box(b, 0, 0, 0, 10, 8, 0, 6)
    b.add_polygon(1, [np.array([(20, 0, 3), (30, 0, 3), (25, 5, 5)], float)])
    batch = b.build(n_rows=2)
    assert batch.poly_row.tolist() == [0] * 6 + [1] * 7
    zmin, zmax = batch.z_range()
    assert zmin.tolist() == [0, 0] and zmax.tolist() == [6, 5]


def test_prism_test_and_footprint_of_a_stepped_solid():
    b = surf.SurfaceBuilder()
    add_box(b, 0, 0, 0, 10, 8, 0, 6)  # a prism
    add_box(b, 1, 0, 20, 4, 24, 0, 3)  # two boxes of different heights in one row
    add_box(b, 1, 4, 20, 8, 24, 0, 5)
    batch = b.build(n_rows=3)  # row 2 has no polygon
    zmin, zmax = batch.z_range()
    assert surf.prism_rows(batch, zmin, zmax).tolist() == [True, False, False]
    assert np.isnan(zmin[2])
    types = surf.classify(batch, zmin, zmax)
    shapes = surf.footprints(batch, types)
    assert shapes[0].area == pytest.approx(80)
    assert shapes[1].area == pytest.approx(32)  # touching boxes merge into one outline
    assert shapes[1].geom_type == "Polygon"
    assert shapes[2] is None


def test_footprint_falls_back_to_upward_faces_without_a_floor():
    b = surf.SurfaceBuilder()
    rings = box_rings(0, 0, 10, 8, 0, 6)[1:]  # no bottom face (as in Delft's LoD1 solids)
    for ring in rings:
        b.add_polygon(0, [np.array(ring, float)])
    batch = b.build(n_rows=1)
    zmin, zmax = batch.z_range()
    types = surf.classify(batch, zmin, zmax)
    assert "G" not in "".join(types)
    assert surf.footprints(batch, types)[0].area == pytest.approx(80)


def test_footprint_of_a_triangulated_ground_uses_union():
    b = surf.SurfaceBuilder()
    # An L-shaped ground as 4 triangles, plus an overlapping (non-coverage) extra triangle.
    tris = [
        [(0, 0, 0), (0, 10, 0), (5, 10, 0)],
        [(0, 0, 0), (5, 10, 0), (5, 0, 0)],
        [(5, 0, 0), (5, 5, 0), (10, 5, 0)],
        [(5, 0, 0), (10, 5, 0), (10, 0, 0)],
    ]
    for t in tris:
        b.add_polygon(0, [np.array(t, float)], "G")
    for t in [*tris[:2], [(0, 0, 0), (0, 10, 0), (5, 0, 0)]]:
        b.add_polygon(1, [np.array(t, float)], "G")
    batch = b.build(n_rows=2)
    shapes = surf.footprints(batch, batch.poly_type)
    assert shapes[0].area == pytest.approx(75)
    assert shapes[0].is_valid
    assert shapes[1].area == pytest.approx(50)  # the overlap is not counted twice


def test_pack_writes_multipolygon_z_with_absolute_coordinates():
    b = surf.SurfaceBuilder()
    add_box(b, 0, 459_100.0, 5_481_100.0, 459_110.0, 5_481_108.0, 95.0, 101.0)
    # A polygon with a hole (an inner courtyard in a roof) in row 1.
    outer = np.array([(0, 0, 5), (10, 0, 5), (10, 10, 5), (0, 10, 5)], float)
    hole = np.array([(4, 4, 5), (4, 6, 5), (6, 6, 5), (6, 4, 5)], float)
    b.add_polygon(1, [outer, hole], "R")
    batch = b.build(n_rows=3)
    zmin, zmax = batch.z_range()
    types = surf.classify(batch, zmin, zmax)
    wkb, codes = surf.pack(batch, types, np.array([True, True, False]))
    assert codes == ["GRWWWW", "R", None]
    assert wkb[2] is None
    first = shapely.from_wkb(wkb[0])
    assert first.geom_type == "MultiPolygon" and first.has_z
    assert len(first.geoms) == 6
    coords = shapely.get_coordinates(first, include_z=True)
    assert coords[:, 0].min() == 459_100.0 and coords[:, 2].max() == 101.0
    second = shapely.from_wkb(wkb[1])
    assert len(second.geoms[0].interiors) == 1
    assert second.area == pytest.approx(96)


def test_degenerate_polygons_are_dropped_and_counted():
    b = surf.SurfaceBuilder()
    assert not b.add_polygon(0, [np.array([(0, 0, 0), (1, 1, 1)], float)])
    b.add_polygon(0, [np.array([(0, 0, 0), (1, 1, 1), (0, 0, 0)], float)])  # 2 distinct
    square = np.array([(0, 0, 0), (1, 0, 0), (1, 1, 0), (0, 1, 0)], float)
    sliver_hole = np.array([(0.2, 0.2, 0), (0.4, 0.4, 0), (0.2, 0.2, 0)], float)
    assert b.add_polygon(0, [square, sliver_hole])
    batch = b.build(n_rows=1)
    assert b.dropped == 2
    assert batch.n_polygons == 1
    assert batch.ring_offsets.tolist() == [0, 5]  # the square closed, the sliver hole gone


def test_add_block_closes_open_rings_and_keeps_closed_ones():
    b = surf.SurfaceBuilder()
    tri_open = [(0, 0, 0), (4, 0, 0), (4, 3, 0)]
    square_closed = [(0, 0, 1), (2, 0, 1), (2, 2, 1), (0, 2, 1), (0, 0, 1)]
    xyz = np.array(tri_open + square_closed, float)
    b.add_block([3, 1], ["G", "R"], [1, 1], np.array([3, 5]), xyz)
    batch = b.build(n_rows=4)
    assert batch.poly_row.tolist() == [1, 3]  # grouped by row
    assert batch.ring_offsets.tolist() == [0, 5, 9]
    np.testing.assert_array_equal(batch.xyz[8], (0, 0, 0))
    _, area = surf.normals(batch)
    np.testing.assert_allclose(area, [4, 6])


def test_indexed_rings_with_vertex_blocks():
    b = surf.SurfaceBuilder()
    base0 = b.add_vertices(np.array([(0, 0, 0), (4, 0, 0), (4, 3, 0)], float))
    base1 = b.add_vertices(np.array([(9, 9, 9), (0, 0, 1), (2, 0, 1), (2, 2, 1)], float))
    assert b.add_indexed(0, [[0, 1, 2]], "G", base0)
    assert b.add_indexed(1, [[1, 2, 3]], "R", base1)
    with pytest.raises(IndexError):
        b.add_indexed(1, [[1, 2, 4]], "R", base1)
    batch = b.build(n_rows=2)
    assert batch.ring_offsets.tolist() == [0, 4, 8]  # rings closed
    np.testing.assert_array_equal(batch.xyz[4], (0, 0, 1))
    _, area = surf.normals(batch)
    np.testing.assert_allclose(area, [6, 2])


def test_resolve_heights_tolerance_and_log(caplog):
    geometry = np.array([9.0, 9.0, 30.0, 30.0, np.nan, 5.0])
    measured = np.array([9.9, 10.1, 32.9, 0.0, 7.0, np.nan])
    with caplog.at_level(logging.INFO):
        height, source = resolve_heights(geometry, measured, label="x.gml")
    assert height.tolist() == [9.9, 9.0, 32.9, 30.0, 7.0, 5.0]
    expected = ["measured", "geometry", "measured", "geometry", "measured", "geometry"]
    assert source.tolist() == expected
    assert "x.gml: 2 of 5 measuredHeight values disagree" in caplog.text


@settings(max_examples=40, deadline=None)
@given(
    x0=st.floats(-1e6, 1e6),
    y0=st.floats(0, 6e6),
    w=st.floats(1, 200),
    d=st.floats(1, 200),
    z0=st.floats(-50, 500),
    h=st.floats(0.5, 300),
)
def test_box_footprint_height_and_prism_property(x0, y0, w, d, z0, h):
    b = surf.SurfaceBuilder()
    add_box(b, 0, x0, y0, x0 + w, y0 + d, z0, z0 + h)
    batch = b.build(n_rows=1)
    zmin, zmax = batch.z_range()
    assert zmax[0] - zmin[0] == pytest.approx(h)
    assert surf.prism_rows(batch, zmin, zmax)[0]
    types = surf.classify(batch, zmin, zmax)
    assert sorted(types) == ["G", "R", "W", "W", "W", "W"]
    assert surf.footprints(batch, types)[0].area == pytest.approx(w * d, rel=1e-6)
