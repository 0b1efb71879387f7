"""Coordinate reference systems: parsing the spellings found in files, choosing the metric
target CRS of a City, and reprojecting coordinate arrays.

Everything in a City lands in one metric projected CRS: the source's own when it is
projected, otherwise the UTM zone of the data (ETRS89 / UTM in Europe, so EPSG:25832 for
Ludwigshafen; WGS 84 / UTM elsewhere). A ``--crs`` option overrides the choice.
"""

from __future__ import annotations

import functools
import re

import numpy as np
import pyproj

from twin.errors import GeodataError

# AdV (German surveying authorities) CRS names used in official CityGML, e.g.
# "urn:adv:crs:ETRS89_UTM32*DE_DHHN2016_NH".
_ADV = re.compile(r"urn:adv:crs:ETRS89_UTM(\d{2})", re.IGNORECASE)
_ADV_GK = re.compile(r"urn:adv:crs:DE_DHDN_3GK(\d)", re.IGNORECASE)
# EPSG codes with optional version: "EPSG::25832", "EPSG:6.12:25833", ".../EPSG/6.12/3068".
_EPSG_CODES = re.compile(r"EPSG(?:/[\d.]+/|:[\d.]*:|:)(\d+)", re.IGNORECASE)


@functools.lru_cache(maxsize=64)
def parse_crs(text: str, *, source: str = "") -> pyproj.CRS:
    """Parse a CRS as written in a geodata file and return its horizontal part.

    Understands ``EPSG:25832``, ``urn:ogc:def:crs:EPSG::25832``, OGC URLs
    (``http://www.opengis.net/def/crs/EPSG/0/25832``), compound forms
    (``urn:ogc:def:crs,crs:EPSG::25833,crs:EPSG::5783``, ``EPSG:25833+5783``,
    ``.../EPSG/0/7415``), AdV names (``urn:adv:crs:ETRS89_UTM32*DE_DHHN2016_NH``) and
    anything else :func:`pyproj.CRS.from_user_input` accepts.

    Parameters
    ----------
    text : str
        The CRS as written in the file.
    source : str, optional
        The file (and place) it came from, for the error message.

    Returns
    -------
    pyproj.CRS
        The horizontal CRS (the first component of a compound CRS).

    Raises
    ------
    GeodataError
        If the CRS is unknown.

    Examples
    --------
    >>> parse_crs("urn:ogc:def:crs,crs:EPSG::25833,crs:EPSG::5783").to_epsg()
    25833
    """
    where = f"{source}: " if source else ""
    text = text.strip()
    crs: pyproj.CRS | None = None
    if m := _ADV.match(text):
        crs = pyproj.CRS.from_epsg(25800 + int(m.group(1)))
    elif m := _ADV_GK.match(text):
        crs = pyproj.CRS.from_epsg(31464 + int(m.group(1)) - 3)
    else:
        codes = _EPSG_CODES.findall(text)
        try:
            if codes:
                crs = pyproj.CRS.from_epsg(int(codes[0]))
            else:
                crs = pyproj.CRS.from_user_input(text)
        except pyproj.exceptions.CRSError as err:
            raise GeodataError(
                f"{where}unknown CRS {text!r}: expected an EPSG code such as 'EPSG:25832' "
                f"or 'urn:ogc:def:crs:EPSG::25832' ({err})"
            ) from err
    return horizontal(crs)


def horizontal(crs: pyproj.CRS) -> pyproj.CRS:
    """Return the horizontal component of a (possibly compound) CRS.

    Parameters
    ----------
    crs : pyproj.CRS
        Any CRS.

    Returns
    -------
    pyproj.CRS
        ``crs`` itself, or the first sub-CRS of a compound CRS.
    """
    if crs.is_compound and crs.sub_crs_list:
        return crs.sub_crs_list[0]
    return crs


def utm_crs(lon: float, lat: float) -> pyproj.CRS:
    """Return the UTM CRS of a point: ETRS89 / UTM in Europe, WGS 84 / UTM elsewhere.

    Computed arithmetically (with the Norway and Svalbard exceptions), so it costs
    nothing; a database query per import took about 0.1 s.

    Parameters
    ----------
    lon, lat : float
        Longitude and latitude in degrees.

    Returns
    -------
    pyproj.CRS
        e.g. EPSG:25832 for Ludwigshafen (8.44 E, 49.48 N).

    Examples
    --------
    >>> utm_crs(8.44, 49.48).to_epsg()
    25832
    """
    return pyproj.CRS.from_epsg(utm_epsg(lon, lat))


def utm_epsg(lon: float, lat: float) -> int:
    """Return the EPSG code of the UTM zone of a point (see :func:`utm_crs`)."""
    zone = min(int((lon + 180.0) // 6.0) + 1, 60)
    if 56.0 <= lat < 64.0 and 3.0 <= lon < 12.0:
        zone = 32  # south-west Norway
    elif 72.0 <= lat < 84.0 and 0.0 <= lon < 42.0:  # Svalbard
        zone = 31 if lon < 9.0 else 33 if lon < 21.0 else 35 if lon < 33.0 else 37
    # ETRS89 / UTM zones 28-38 (EPSG:25828-25838) cover Europe.
    if 28 <= zone <= 38 and 34.0 <= lat <= 84.0 and -16.0 <= lon <= 45.0:
        return 25800 + zone
    return (32600 if lat >= 0 else 32700) + zone


def is_metric(crs: pyproj.CRS) -> bool:
    """Return whether ``crs`` is projected with its horizontal axes in metres.

    Examples
    --------
    >>> import pyproj
    >>> is_metric(pyproj.CRS(25832)), is_metric(pyproj.CRS(4326)), is_metric(pyproj.CRS(2263))
    (True, False, False)
    """
    crs = horizontal(crs)
    axes = crs.axis_info[:2]
    return bool(crs.is_projected and axes and all(a.unit_name in ("metre", "meter") for a in axes))


def parse_target_crs(text: str) -> pyproj.CRS:
    """Parse the user's ``--crs``: it must be a projected CRS in metres.

    Raises
    ------
    GeodataError
        If the text names no CRS, or a geographic one (degrees) or one in feet.
    """
    crs = parse_crs(text, source="--crs")
    if not is_metric(crs):
        unit = crs.axis_info[0].unit_name if crs.axis_info else "unknown units"
        kind = "geographic" if crs.is_geographic else "projected"
        raise GeodataError(
            f"--crs {text}: a City needs a projected CRS in metres, such as 'EPSG:25832', "
            f"not {crs.name} ({kind}, {unit})"
        )
    return crs


def target_crs(
    source: pyproj.CRS, bounds: tuple[float, float, float, float], override: str | None = None
) -> pyproj.CRS:
    """Choose the metric CRS a City is stored in.

    Parameters
    ----------
    source : pyproj.CRS
        CRS of the source data.
    bounds : tuple of float
        ``(minx, miny, maxx, maxy)`` of the data in ``source``.
    override : str, optional
        A CRS given by the user (``--crs``); wins when set.

    Returns
    -------
    pyproj.CRS
        ``override`` if given; ``source`` (horizontal part) if projected in metres; else the
        UTM zone of the centre of ``bounds``.

    Raises
    ------
    GeodataError
        If ``override`` is not a projected CRS in metres (:func:`parse_target_crs`).
    """
    if override:
        return parse_target_crs(override)
    source = horizontal(source)
    if is_metric(source):
        return source
    minx, miny, maxx, maxy = bounds
    if source.is_geographic:
        lon, lat = (minx + maxx) / 2, (miny + maxy) / 2
    else:
        lon, lat = transformer(source, pyproj.CRS.from_epsg(4326)).transform(
            (minx + maxx) / 2, (miny + maxy) / 2
        )
    return utm_crs(float(lon), float(lat))


@functools.lru_cache(maxsize=32)
def transformer(src: pyproj.CRS, dst: pyproj.CRS) -> pyproj.Transformer:
    """Return a cached, always-xy transformer from ``src`` to ``dst``."""
    return pyproj.Transformer.from_crs(src, dst, always_xy=True)


def reproject_xy(
    x: np.ndarray, y: np.ndarray, src: pyproj.CRS, dst: pyproj.CRS
) -> tuple[np.ndarray, np.ndarray]:
    """Reproject coordinate arrays (vectorised; heights are left as they are).

    Parameters
    ----------
    x, y : numpy.ndarray
        Coordinates in ``src`` (longitude/latitude order for geographic CRSs).
    src, dst : pyproj.CRS
        Source and target CRS.

    Returns
    -------
    tuple of numpy.ndarray
        ``(x, y)`` in ``dst``; the inputs themselves when the CRSs are equal.
    """
    if src == dst:
        return np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    tx, ty = transformer(src, dst).transform(np.asarray(x, float), np.asarray(y, float))
    return np.asarray(tx), np.asarray(ty)
