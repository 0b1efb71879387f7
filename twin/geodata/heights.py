r"""Building heights from tags: lengths with units, storeys, defaults by building type.

OpenStreetMap (and many GIS exports) give heights as text: ``"7.5 m"``, ``"14m"``, ``"7,5"``,
``"30'"``, ``"30 ft"``, ``"12'6\""``. :func:`parse_length` turns such text into metres.
:func:`derive_heights` applies the usual precedence to whole tag columns at once:

1. ``height`` / ``building:height`` (any unit) → ``height_source = "measured"``;
2. ``building:levels`` (+ ``roof:levels``, or + ``roof:height``) × :data:`LEVEL_HEIGHT`
   → ``"levels"``;
3. a default by building type (:func:`default_height`) → ``"default"``.

``min_height`` comes from ``min_height``, else ``building:min_level`` × :data:`LEVEL_HEIGHT`,
else 0.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)

#: Height of one storey in metres, used for ``building:levels`` and ``building:min_level``.
LEVEL_HEIGHT = 3.0

#: Height in metres of a building whose type is unknown or not in :data:`DEFAULT_HEIGHTS`.
DEFAULT_HEIGHT = 7.0

#: Typical height in metres by value of ``building`` / ``building:part``.
DEFAULT_HEIGHTS: dict[str, float] = {
    # homes
    "house": 7.0,
    "detached": 7.0,
    "semidetached_house": 7.0,
    "terrace": 8.0,
    "bungalow": 4.0,
    "farm": 7.0,
    "residential": 10.0,
    "apartments": 12.0,
    "dormitory": 12.0,
    "hotel": 15.0,
    "static_caravan": 3.0,
    "houseboat": 3.0,
    "cabin": 3.0,
    "hut": 3.0,
    # small outbuildings
    "garage": 3.0,
    "garages": 3.0,
    "carport": 2.5,
    "shed": 3.0,
    "roof": 4.0,
    "kiosk": 3.0,
    "toilets": 3.0,
    "container": 2.6,
    "service": 3.0,
    "transformer_tower": 8.0,
    "greenhouse": 3.0,
    "allotment_house": 3.0,
    "bunker": 4.0,
    # work
    "commercial": 10.0,
    "retail": 6.0,
    "supermarket": 6.0,
    "office": 14.0,
    "industrial": 10.0,
    "warehouse": 10.0,
    "manufacture": 10.0,
    "hangar": 12.0,
    "barn": 7.0,
    "farm_auxiliary": 5.0,
    "stable": 5.0,
    "cowshed": 5.0,
    "parking": 9.0,
    # public
    "public": 10.0,
    "civic": 10.0,
    "government": 12.0,
    "school": 10.0,
    "kindergarten": 5.0,
    "college": 12.0,
    "university": 12.0,
    "hospital": 15.0,
    "fire_station": 8.0,
    "train_station": 10.0,
    "transportation": 8.0,
    "sports_hall": 10.0,
    "sports_centre": 10.0,
    "stadium": 20.0,
    "grandstand": 8.0,
    "museum": 12.0,
    # worship and landmarks
    "church": 20.0,
    "cathedral": 35.0,
    "chapel": 8.0,
    "mosque": 15.0,
    "synagogue": 15.0,
    "temple": 10.0,
    "religious": 12.0,
    "tower": 20.0,
    "water_tower": 20.0,
    "castle": 15.0,
}

# Conversion factors of the units accepted after a number (lower case, without dots).
_UNITS: dict[str, float] = {
    "": 1.0,
    "m": 1.0,
    "meter": 1.0,
    "meters": 1.0,
    "metre": 1.0,
    "metres": 1.0,
    "cm": 0.01,
    "km": 1000.0,
    "ft": 0.3048,
    "feet": 0.3048,
    "foot": 0.3048,
    "'": 0.3048,
    "in": 0.0254,
    "inch": 0.0254,
    "inches": 0.0254,
    '"': 0.0254,
}
_NUMBER = r"(\d+(?:[.,]\d*)?|[.,]\d+)"
_SIMPLE = re.compile(rf"^\s*{_NUMBER}\s*([a-z'\"]*)\.?\s*$", re.IGNORECASE)
# 12'6", 12' 6, 12 ft 6 in, 12ft6in
_FEET_INCHES = re.compile(
    rf"^\s*{_NUMBER}\s*(?:'|ft|feet|foot)\s*{_NUMBER}\s*(?:\"|''|in|inch|inches)?\s*$",
    re.IGNORECASE,
)


def _number(text: str) -> float:
    # A single comma is a decimal separator ("7,5"); a thousands comma never occurs in heights.
    return float(text.replace(",", "."))


def parse_length(text: Any) -> float | None:
    r"""Parse a length as written in OSM or GIS attributes and return metres.

    Parameters
    ----------
    text : str or float or None
        ``"7.5 m"``, ``"14m"``, ``"7,5"`` (decimal comma), ``"30'"``, ``"30 ft"``,
        ``"12'6\""`` (feet and inches), ``"350 cm"``, or a plain number.

    Returns
    -------
    float or None
        The length in metres; None for missing, negative, non-finite or unreadable values
        (``"tall"``, ``"10;12"``, ``"-3"``).

    Examples
    --------
    >>> parse_length("7.5 m")
    7.5
    >>> parse_length("7,5")
    7.5
    >>> round(parse_length("12'6\""), 3)
    3.81
    >>> parse_length("about ten") is None
    True
    """
    if text is None:
        return None
    if isinstance(text, bool):
        return None
    if isinstance(text, int | float | np.integer | np.floating):
        value = float(text)
        return value if math.isfinite(value) and value >= 0 else None
    if not isinstance(text, str):
        return None
    if m := _SIMPLE.match(text):
        factor = _UNITS.get(m.group(2).lower())
        if factor is None:
            return None
        value = _number(m.group(1)) * factor
    elif m := _FEET_INCHES.match(text):
        value = _number(m.group(1)) * 0.3048 + _number(m.group(2)) * 0.0254
    else:
        return None
    return value if math.isfinite(value) else None


def parse_number(text: Any) -> float | None:
    """Parse a plain non-negative number such as a count of storeys (``"3"``, ``"2.5"``).

    Parameters
    ----------
    text : str or float or None
        The value.

    Returns
    -------
    float or None
        The number, or None for missing or unreadable values (``"3;4"``, ``"-1"``).
    """
    if text is None or isinstance(text, bool):
        return None
    if isinstance(text, int | float | np.integer | np.floating):
        value = float(text)
    elif isinstance(text, str):
        try:
            value = _number(text.strip())
        except ValueError:
            return None
    else:
        return None
    return value if math.isfinite(value) and value >= 0 else None


def default_height(building_type: str | None) -> float:
    """Return a typical height in metres for a value of ``building`` / ``building:part``.

    Parameters
    ----------
    building_type : str or None
        e.g. ``"house"``, ``"apartments"``, ``"garage"``; None or ``"yes"`` for unknown.

    Returns
    -------
    float
        The height from :data:`DEFAULT_HEIGHTS`, or :data:`DEFAULT_HEIGHT` for unknown types.

    Examples
    --------
    >>> default_height("garage")
    3.0
    >>> default_height("yes")
    7.0
    """
    if not building_type:
        return DEFAULT_HEIGHT
    return DEFAULT_HEIGHTS.get(str(building_type).strip().lower(), DEFAULT_HEIGHT)


def _map_unique(
    values: Iterable[Any], func: Any, n: int, unreadable: dict[str, int] | None = None
) -> np.ndarray:
    """Apply ``func`` to each distinct value once; return float64 with NaN for None.

    Values that are present but give None are counted in ``unreadable`` (text → rows).
    """
    if isinstance(values, pd.Series):
        array = values.to_numpy(dtype=object)
    else:
        array = np.asarray(list(values), dtype=object)
    if len(array) != n:
        raise ValueError(f"tag column has {len(array)} values, expected {n}")
    codes, uniques = pd.factorize(array, use_na_sentinel=True)
    parsed = [func(u) for u in uniques]
    table = np.array([np.nan if v is None else v for v in parsed], dtype="float64")
    out = np.full(n, np.nan)
    present = codes >= 0
    out[present] = table[codes[present]]
    if unreadable is not None and any(v is None for v in parsed):
        counts = np.bincount(codes[present], minlength=len(uniques))
        for u, v, count in zip(uniques, parsed, counts, strict=True):
            if v is None and str(u).strip():
                unreadable[str(u)] = unreadable.get(str(u), 0) + int(count)
    return out


def derive_heights(tags: Mapping[str, Any] | pd.DataFrame, n: int | None = None) -> pd.DataFrame:
    """Derive height columns from tag columns, each distinct text parsed only once.

    Parameters
    ----------
    tags : pandas.DataFrame or mapping of str to sequence
        Tag columns; any may be missing: ``height``, ``building:height``,
        ``building:levels``, ``roof:levels``, ``roof:height``, ``min_height``,
        ``building:min_level``, ``building_type`` (value of ``building`` or
        ``building:part``).
    n : int, optional
        Number of rows; needed only when ``tags`` is a mapping with no columns.

    Returns
    -------
    pandas.DataFrame
        Columns ``height`` (top above ground, m), ``min_height`` (bottom, m),
        ``height_source`` (``measured``, ``levels`` or ``default``) and ``levels``
        (``building:levels`` as float, NaN if unknown). ``height`` always exceeds
        ``min_height``: a default height stands on ``min_height``; a measured or
        storey-derived top at or below the bottom is raised to bottom +
        :data:`LEVEL_HEIGHT` (counted in a WARNING).

    Examples
    --------
    >>> derive_heights({"height": ["7.5 m", None, None], "building:levels": [None, "4", None],
    ...                 "building_type": ["house", "apartments", "garage"]})["height"].tolist()
    [7.5, 12.0, 3.0]
    """
    if n is None:
        n = len(tags) if isinstance(tags, pd.DataFrame) else len(next(iter(tags.values()), []))

    unreadable: dict[str, dict[str, int]] = {}

    def col(name: str, func: Any) -> np.ndarray:
        if name in tags:
            return _map_unique(tags[name], func, n, unreadable.setdefault(name, {}))
        return np.full(n, np.nan)

    measured = col("height", parse_length)
    measured = np.where(np.isnan(measured), col("building:height", parse_length), measured)
    measured[measured <= 0] = np.nan
    levels = col("building:levels", parse_number)
    roof_levels = col("roof:levels", parse_number)
    roof_height = col("roof:height", parse_length)
    from_levels = levels * LEVEL_HEIGHT
    roof = np.where(
        np.isnan(roof_levels),
        np.nan_to_num(roof_height),
        roof_levels * LEVEL_HEIGHT,
    )
    from_levels = from_levels + roof
    from_levels[from_levels <= 0] = np.nan

    if "building_type" in tags:
        kinds = tags["building_type"]
        defaults = _map_unique(kinds, default_height, n)
        defaults[np.isnan(defaults)] = DEFAULT_HEIGHT
    else:
        defaults = np.full(n, DEFAULT_HEIGHT)

    has_measured = ~np.isnan(measured)
    has_levels = ~has_measured & ~np.isnan(from_levels)
    source = np.where(has_measured, "measured", np.where(has_levels, "levels", "default"))

    min_height = col("min_height", parse_length)
    min_level = col("building:min_level", parse_number)
    min_height = np.where(np.isnan(min_height), min_level * LEVEL_HEIGHT, min_height)
    min_height = np.nan_to_num(min_height, nan=0.0)
    # A default is the size of the volume, so it starts at the bottom of a raised part.
    height = np.where(
        has_measured, measured, np.where(has_levels, from_levels, min_height + defaults)
    )

    for name, texts in unreadable.items():
        if texts:
            shown = ", ".join(repr(t) for t in sorted(texts, key=lambda t: -texts[t])[:5])
            log.info("ignored %d unreadable %s value(s), e.g. %s", sum(texts.values()), name, shown)
    bad = height <= min_height
    if bad.any():
        log.warning(
            "%d building(s) have a top at or below their min_height; raised to min_height + %.1f m",
            int(bad.sum()),
            LEVEL_HEIGHT,
        )
        height = np.where(bad, min_height + LEVEL_HEIGHT, height)
    return pd.DataFrame(
        {
            "height": height.astype("float64"),
            "min_height": min_height.astype("float64"),
            "height_source": source.astype(object),
            "levels": levels,
        }
    )
