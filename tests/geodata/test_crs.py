import re

import numpy as np
import pyproj
import pytest

from twin.errors import GeodataError
from twin.geodata.crs import parse_crs, parse_target_crs, reproject_xy, target_crs, utm_crs


@pytest.mark.parametrize(
    ("text", "epsg"),
    [
        ("EPSG:25832", 25832),
        ("epsg:25832", 25832),
        ("urn:ogc:def:crs:EPSG::25832", 25832),
        ("urn:ogc:def:crs:EPSG:6.12:25832", 25832),
        ("urn:ogc:def:crs,crs:EPSG::25833,crs:EPSG::5783", 25833),
        ("urn:ogc:def:crs,crs:EPSG:6.12:25833,crs:EPSG:6.12:5783", 25833),
        ("EPSG:25833+5783", 25833),
        ("http://www.opengis.net/def/crs/EPSG/0/25832", 25832),
        ("https://www.opengis.net/def/crs/EPSG/6.12/3068", 3068),
        ("https://www.opengis.net/def/crs/EPSG/0/7415", 28992),  # compound RD New + NAP
        (
            "http://www.opengis.net/def/crs-compound?1=http://www.opengis.net/def/crs/EPSG/0/"
            "25832&2=http://www.opengis.net/def/crs/EPSG/0/7837",
            25832,
        ),
        ("urn:adv:crs:ETRS89_UTM32*DE_DHHN2016_NH", 25832),
        ("urn:adv:crs:ETRS89_UTM33*DE_DHHN92_NH", 25833),
    ],
)
def test_parse_crs_spellings(text, epsg):
    assert parse_crs(text).to_epsg() == epsg


def test_unknown_crs_names_source_and_expectation():
    with pytest.raises(
        GeodataError, match=r"city\.gml line 3: unknown CRS 'EPSG:999999'.*expected"
    ):
        parse_crs("EPSG:999999", source="city.gml line 3")
    with pytest.raises(GeodataError, match="unknown CRS"):
        parse_crs("not a crs at all")


def test_utm_zone_of_ludwigshafen_is_etrs89_zone_32():
    assert utm_crs(8.44, 49.48).to_epsg() == 25832
    assert utm_crs(-74.0, 40.7).to_epsg() == 32618  # New York: WGS 84 / UTM 18N


def test_target_crs_keeps_projected_and_projects_geographic():
    assert target_crs(pyproj.CRS(25833), (0, 0, 1, 1)).to_epsg() == 25833
    assert target_crs(pyproj.CRS(4326), (8.4, 49.4, 8.5, 49.5)).to_epsg() == 25832
    assert (
        target_crs(pyproj.CRS(4326), (8.4, 49.4, 8.5, 49.5), override="EPSG:3857").to_epsg() == 3857
    )


def test_reproject_xy_matches_known_point():
    x, y = reproject_xy(
        np.array([8.438093]), np.array([49.483427]), pyproj.CRS(4326), pyproj.CRS(25832)
    )
    assert x[0] == pytest.approx(459300, abs=0.5)
    assert y[0] == pytest.approx(5481350, abs=0.5)


@pytest.mark.parametrize(
    ("text", "what"),
    [
        ("EPSG:4326", "WGS 84 (geographic, degree)"),
        ("EPSG:2263", "(projected, US survey foot)"),  # New York State Plane, feet
    ],
)
def test_target_crs_must_be_metric(text, what):
    needs = rf"--crs {text}: a City needs a projected CRS in metres"
    with pytest.raises(GeodataError, match=needs):
        target_crs(pyproj.CRS(4326), (8.4, 49.4, 8.5, 49.5), override=text)
    with pytest.raises(GeodataError, match=re.escape(what)):
        parse_target_crs(text)
    assert parse_target_crs("urn:ogc:def:crs:EPSG::25832").to_epsg() == 25832


def test_source_crs_in_feet_is_stored_in_utm():
    # Data in New York State Plane (feet) is stored in its UTM zone, in metres.
    x, y = 984_000.0, 210_000.0  # Manhattan, in US survey feet
    assert target_crs(pyproj.CRS(2263), (x, y, x + 100, y + 100)).to_epsg() == 32618
