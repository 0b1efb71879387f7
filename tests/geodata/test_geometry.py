"""The polygonal-part helper shared by the OSM, GIS and CityGML/CityJSON importers."""

from __future__ import annotations

import numpy as np
import shapely

from twin.geodata.geometry import polygonal, polygonal_array

BOX = shapely.box(0, 0, 2, 2)
LINE = shapely.LineString([(0, 0), (5, 5)])


def test_polygons_pass_and_other_parts_are_dropped():
    assert polygonal(BOX) is BOX
    assert polygonal(shapely.GeometryCollection([BOX, LINE])).equals(BOX)
    two = polygonal(shapely.GeometryCollection([BOX, shapely.box(5, 5, 6, 6), LINE]))
    assert two.geom_type == "MultiPolygon" and two.area == 5.0
    flat = shapely.Polygon([(0, 0), (1, 0), (2, 0)])  # no area
    assert polygonal(shapely.GeometryCollection([flat, BOX])).equals(BOX)
    assert polygonal(LINE) is None and polygonal(None) is None
    assert polygonal(shapely.Polygon()) is None


def test_make_valid_of_a_bow_tie_keeps_both_halves():
    tie = shapely.Polygon([(0, 0), (2, 2), (2, 0), (0, 2)])
    fixed = polygonal(shapely.make_valid(tie))
    assert fixed.is_valid and fixed.area == 2.0


def test_array_version_keeps_length_and_order():
    out = polygonal_array(np.array([BOX, None, LINE, shapely.GeometryCollection([BOX])]))
    assert len(out) == 4
    assert out[0] is BOX and out[1] is None and out[2] is None and out[3].equals(BOX)
