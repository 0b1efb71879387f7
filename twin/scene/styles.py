"""Colour styles of sensor quantities: colormap, display range, unit, thresholds, staleness.

A :class:`Style` says how one quantity is drawn on the buildings. :func:`colors` turns an array
of values into RGB bytes through a 256-entry lookup table computed once per colormap (pure
numpy indexing, no per-value Python); :func:`legend` describes the same mapping for the UI.

Store quantity names vary with the decoder (``temperature_3``, ``air.co2``, ``pm2_5``):
:func:`style_key` maps them onto the keys of :data:`DEFAULT_STYLES`.

Examples
--------
>>> import numpy as np
>>> style = DEFAULT_STYLES["co2"]
>>> colors(np.array([400.0, 2000.0, np.nan]), style).shape
(3, 3)
"""

from __future__ import annotations

import functools
import logging
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

log = logging.getLogger(__name__)

#: Colour of buildings without a sensor (light warm grey, reads as "just a building").
NEUTRAL_RGB = (238, 235, 228)
#: Colour of buildings whose latest reading is older than the style's ``max_age``.
STALE_RGB = (128, 128, 128)
#: Colour of buildings with a sensor that has no reading of the shown quantity (yet).
NO_DATA_RGB = (176, 176, 190)

LUT_SIZE = 256


@dataclass(frozen=True)
class Style:
    """How one quantity is coloured.

    Parameters
    ----------
    key : str
        The style key (``"co2"``), also used in scene files (``[styles.co2]``).
    unit : str
        Unit shown in the legend and cards (``"ppm"``).
    range : tuple of float
        Display range ``(lo, hi)``: values outside are clamped to the end colours.
    colormap : str or tuple of str
        A matplotlib colormap name (``"viridis"``, ``"RdYlGn_r"``) or a sequence of
        ``"#rrggbb"`` colours interpolated evenly.
    thresholds : tuple of float
        Values the legend marks (e.g. alarm levels).
    max_age : float
        Seconds after which a reading counts as stale and is drawn grey.
    labels : dict
        Title per language: ``{"de": "CO₂", "en": "CO₂"}``.
    categories : dict
        For on/off quantities: value → label per language, e.g.
        ``{0.0: {"de": "frei", "en": "free"}, 1.0: {...}}``; the legend then lists categories.
    text_values : dict
        Text readings mapped to numbers (``{"blocked": 1.0, "free": 0.0}``).
    quantities : tuple of str
        Store quantity names that use this style besides those :func:`style_key` recognises.
    units : tuple of str
        Units a reading may have to be coloured by this style (empty: any). Keeps, e.g., an
        energy meter in kWh out of a power style in kW.
    decimals : int
        Decimals shown for values of this quantity.
    """

    key: str
    unit: str
    range: tuple[float, float]
    colormap: str | tuple[str, ...] = "viridis"
    thresholds: tuple[float, ...] = ()
    max_age: float = 3600.0
    labels: Mapping[str, str] = field(default_factory=dict)
    categories: Mapping[float, Mapping[str, str]] = field(default_factory=dict)
    text_values: Mapping[str, float] = field(default_factory=dict)
    quantities: tuple[str, ...] = ()
    units: tuple[str, ...] = ()
    decimals: int = 1

    def accepts(self, unit: str | None) -> bool:
        """Whether a reading in ``unit`` may be coloured by this style."""
        return not self.units or not unit or unit in self.units

    def label(self, lang: str = "de") -> str:
        """Return the title in ``lang`` (falling back to German, then the key)."""
        return self.labels.get(lang) or self.labels.get("de") or self.key

    def format(self, value: float | None, lang: str = "de") -> str:
        """Format a value with its unit (or its category label) for display.

        Parameters
        ----------
        value : float or None
            The value; None or NaN gives ``"–"``.
        lang : str
            Language of category labels and the decimal separator (``,`` in German).
        """
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return "–"
        if self.categories:
            nearest = min(self.categories, key=lambda c: abs(c - value))
            return self.categories[nearest].get(lang) or self.categories[nearest].get("de", "")
        text = f"{value:.{self.decimals}f}"
        if lang == "de":
            text = text.replace(".", ",")
        return f"{text} {self.unit}".strip()


def _cats(**pairs: tuple[str, str]) -> dict[float, dict[str, str]]:
    return {float(k[1:]): {"de": de, "en": en} for k, (de, en) in pairs.items()}


def _style(key: str, unit: str, lo: float, hi: float, cmap: str | tuple[str, ...], **kw) -> Style:
    return Style(key=key, unit=unit, range=(lo, hi), colormap=cmap, **kw)


#: Built-in styles; scene files override any field under ``[styles.<key>]``.
DEFAULT_STYLES: dict[str, Style] = {
    s.key: s
    for s in (
        _style(
            "temperature", "°C", -10.0, 35.0, "RdYlBu_r",
            thresholds=(26.0,), max_age=3600.0,
            labels={"de": "Temperatur", "en": "Temperature"},
        ),
        _style(
            "humidity", "%", 20.0, 90.0, "YlGnBu",
            thresholds=(30.0, 70.0), max_age=3600.0, decimals=0,
            labels={"de": "Luftfeuchte", "en": "Humidity"},
        ),
        _style(
            "co2", "ppm", 400.0, 2000.0, "RdYlGn_r",
            # Umweltbundesamt: < 1000 ppm harmless, 1000-2000 conspicuous, > 2000 unacceptable.
            thresholds=(1000.0, 2000.0), max_age=1800.0, decimals=0,
            labels={"de": "CO₂", "en": "CO₂"},
        ),
        _style(
            "noise", "dB(A)", 35.0, 85.0, "magma",
            thresholds=(55.0, 65.0), max_age=1800.0, decimals=0,
            labels={"de": "Lärm", "en": "Noise"},
        ),
        _style(
            "pm25", "µg/m³", 0.0, 50.0, "YlOrRd",
            # WHO 2021 24-hour guideline 15, EU annual limit 25.
            thresholds=(15.0, 25.0), max_age=3600.0,
            labels={"de": "Feinstaub PM2,5", "en": "Particulates PM2.5"},
        ),
        _style(
            "no2", "µg/m³", 0.0, 100.0, "YlOrBr",
            # WHO 2021 24-hour guideline 25, EU annual limit 40.
            thresholds=(25.0, 40.0), max_age=3600.0,
            labels={"de": "Stickstoffdioxid NO₂", "en": "Nitrogen dioxide NO₂"},
        ),
        _style(
            "parking_occupancy", "%", 0.0, 100.0, "RdYlGn_r",
            thresholds=(90.0,), max_age=900.0, decimals=0,
            labels={"de": "Parkhaus-Belegung", "en": "Car park occupancy"},
        ),
        _style(
            "water_level", "cm", 100.0, 1000.0, "Blues",
            # Illustrative high-water marks I/II; set the real ones of your gauge in the scene.
            thresholds=(730.0, 850.0), max_age=3600.0, decimals=0,
            labels={"de": "Rhein-Pegel", "en": "Rhine water level"},
        ),
        _style(
            "energy", "kW", 0.0, 300.0, "plasma",
            max_age=3600.0, units=("kW",),
            labels={"de": "Energieverbrauch", "en": "Energy use"},
        ),
        _style(
            "bike_count", "1/h", 0.0, 600.0, "viridis",
            max_age=3600.0, decimals=0, units=("1/h", "/h", "bikes/h", "Räder/h"),
            labels={"de": "Radverkehr", "en": "Bicycle count"},
        ),
        _style(
            "access_road", "", 0.0, 1.0, ("#2e7d32", "#c62828"),
            thresholds=(0.5,), max_age=900.0, decimals=0,
            labels={"de": "Feuerwehrzufahrt", "en": "Fire access road"},
            categories=_cats(c0=("frei", "free"), c1=("blockiert", "blocked")),
            text_values={
                "free": 0.0, "frei": 0.0, "clear": 0.0, "open": 0.0, "false": 0.0, "ok": 0.0,
                "blocked": 1.0, "blockiert": 1.0, "true": 1.0, "closed": 1.0,
            },
        ),
    )
}  # fmt: skip

# Store quantity name (lower case, after the channel suffix is dropped) → style key.
_ALIASES = {
    "temp": "temperature",
    "air_temperature": "temperature",
    "temperature": "temperature",
    "rh": "humidity",
    "relative_humidity": "humidity",
    "humidity": "humidity",
    "co2": "co2",
    "carbon_dioxide": "co2",
    "noise": "noise",
    "sound_level": "noise",
    "laeq": "noise",
    "pm25": "pm25",
    "pm2_5": "pm25",
    "pm2.5": "pm25",
    "no2": "no2",
    "parking_occupancy": "parking_occupancy",
    "occupancy": "parking_occupancy",
    "water_level": "water_level",
    "level": "water_level",
    "gauge": "water_level",
    "energy": "energy",
    "power": "energy",
    "bike_count": "bike_count",
    "bikes": "bike_count",
    "bike_rate": "bike_count",
    "bicycles": "bike_count",
    "access_road": "access_road",
    "access": "access_road",
    "blocked": "access_road",
}
_CHANNEL = re.compile(r"_\d+$")


def style_key(quantity: str, styles: Mapping[str, Style] | None = None) -> str | None:
    """Map a store quantity name onto a style key.

    Tries, in order: an exact key, a style's explicit ``quantities``, the full name, the
    last dotted part and the name without a Cayenne channel suffix (``temperature_3``)
    against a table of common aliases.

    Parameters
    ----------
    quantity : str
        Name as stored (``"temperature_3"``, ``"air.co2"``, ``"pm2_5"``).
    styles : mapping, optional
        The styles in use (default :data:`DEFAULT_STYLES`).

    Returns
    -------
    str or None
        The style key, or None when no style fits.

    Examples
    --------
    >>> style_key("temperature_3"), style_key("air.co2"), style_key("rssi")
    ('temperature', 'co2', None)
    """
    styles = DEFAULT_STYLES if styles is None else styles
    if quantity in styles:
        return quantity
    for key, style in styles.items():
        if quantity in style.quantities:
            return key
    name = quantity.lower()
    for candidate in (name, name.rsplit(".", 1)[-1]):
        for variant in (candidate, _CHANNEL.sub("", candidate), candidate.replace("-", "_")):
            key = _ALIASES.get(variant, variant if variant in styles else None)
            if key is not None and key in styles:
                return key
    return None


@functools.lru_cache(maxsize=64)
def lookup_table(colormap: str | tuple[str, ...], n: int = LUT_SIZE) -> np.ndarray:
    """Return the ``(n, 3)`` uint8 lookup table of a colormap (cached).

    Parameters
    ----------
    colormap : str or tuple of str
        A matplotlib colormap name or a tuple of ``"#rrggbb"`` colours.
    n : int
        Number of entries.

    Returns
    -------
    numpy.ndarray
        Read-only uint8 array of shape ``(n, 3)``.

    Raises
    ------
    ValueError
        For an unknown colormap name or a bad colour.
    """
    import matplotlib
    from matplotlib.colors import LinearSegmentedColormap

    if isinstance(colormap, str):
        try:
            cmap = matplotlib.colormaps[colormap]
        except KeyError as err:
            raise ValueError(
                f"unknown colormap {colormap!r} (e.g. 'viridis', 'RdYlGn_r', 'Blues')"
            ) from err
    else:
        cmap = LinearSegmentedColormap.from_list("twin", list(colormap))
    rgba = cmap(np.linspace(0.0, 1.0, n))
    lut = np.round(rgba[:, :3] * 255).astype(np.uint8)
    lut.setflags(write=False)
    return lut


def normalise(values: np.ndarray, style: Style) -> np.ndarray:
    """Map values to ``[0, 1]`` over the style's range (clamped; NaN stays NaN)."""
    lo, hi = style.range
    span = hi - lo if hi != lo else 1.0
    return np.clip((np.asarray(values, dtype=np.float64) - lo) / span, 0.0, 1.0)


@functools.lru_cache(maxsize=64)
def packed_lut(colormap: str | tuple[str, ...]) -> np.ndarray:
    """Return the colormap as packed RGBA ``uint32`` (alpha 255), plus no-data and stale.

    Entry ``i < LUT_SIZE`` is the colormap, :data:`NO_DATA_INDEX` the no-data colour and
    :data:`STALE_INDEX` the stale grey. The bytes of each entry are R, G, B, A in memory,
    so ``codes.view(np.uint8).reshape(-1, 4)`` gives RGBA rows on any platform.
    """
    rgba = np.full((LUT_SIZE + 2, 4), 255, dtype=np.uint8)
    rgba[:LUT_SIZE, :3] = lookup_table(colormap)
    rgba[NO_DATA_INDEX, :3] = NO_DATA_RGB
    rgba[STALE_INDEX, :3] = STALE_RGB
    packed = rgba.view(np.uint32).reshape(-1).copy()
    packed.setflags(write=False)
    return packed


NO_DATA_INDEX = LUT_SIZE
STALE_INDEX = LUT_SIZE + 1


def color_codes(
    values: np.ndarray | Sequence[float], style: Style, stale_mask: np.ndarray | None = None
) -> np.ndarray:
    """Colour values by a style as packed RGBA ``uint32`` (see :func:`packed_lut`).

    The fast path of :func:`colors`: a few float operations and one gather from a
    258-entry table, no per-value Python.

    Parameters
    ----------
    values : array_like of float
        One value per object; NaN means no data.
    style : Style
        The style.
    stale_mask : array_like of bool, optional
        True where the value is too old.

    Returns
    -------
    numpy.ndarray
        ``uint32`` array of shape ``(n,)``.
    """
    v = np.asarray(values, dtype=np.float64)
    lo, hi = style.range
    scale = (LUT_SIZE - 1) / (hi - lo if hi != lo else 1.0)
    t = (v - lo) * scale
    t += 0.5
    np.clip(t, 0.0, LUT_SIZE - 0.5, out=t)
    nan = np.isnan(t)
    if nan.any():
        t[nan] = NO_DATA_INDEX
    if stale_mask is not None:
        stale = np.asarray(stale_mask, dtype=bool)
        if stale.any():
            t[stale] = STALE_INDEX
    return packed_lut(style.colormap)[t.astype(np.intp)]


def colors(
    values: np.ndarray | Sequence[float],
    style: Style,
    stale_mask: np.ndarray | None = None,
) -> np.ndarray:
    """Colour values by a style, vectorised.

    Parameters
    ----------
    values : array_like of float
        One value per object; NaN means no data (:data:`NO_DATA_RGB`).
    style : Style
        The style to use.
    stale_mask : array_like of bool, optional
        True where the value is too old: drawn :data:`STALE_RGB`.

    Returns
    -------
    numpy.ndarray
        uint8 array of shape ``(n, 3)``.

    Examples
    --------
    >>> colors([400.0], DEFAULT_STYLES["co2"]).tolist()
    [[0, 104, 55]]
    """
    codes = color_codes(values, style, stale_mask)
    return codes.view(np.uint8).reshape(-1, 4)[:, :3].copy()


def hex_color(rgb: Sequence[int]) -> str:
    """Return ``"#rrggbb"`` for an RGB triple of 0–255 integers."""
    return "#{:02x}{:02x}{:02x}".format(*(int(c) for c in rgb[:3]))


def legend(style: Style, lang: str = "de", *, n_stops: int = 5) -> dict:
    """Describe a style for the UI's legend.

    Parameters
    ----------
    style : Style
        The style.
    lang : str
        ``"de"`` or ``"en"``.
    n_stops : int
        Number of evenly spaced stops of a continuous style.

    Returns
    -------
    dict
        ``key``, ``title``, ``unit``, ``range`` ``[lo, hi]``, ``stops`` (list of
        ``(value, "#rrggbb")``), ``labels`` (formatted value of each stop),
        ``css_gradient`` (a CSS ``linear-gradient`` from low to high, left to right),
        ``thresholds`` (list of ``{"value", "label", "position"}`` with position in
        ``[0, 1]`` along the gradient), ``categorical``, ``stale_label``, ``stale_color``,
        ``no_data_label``, ``no_data_color``.
    """
    from twin.scene.i18n import t

    lut = lookup_table(style.colormap)
    lo, hi = style.range
    if style.categories:
        values = sorted(style.categories)
    else:
        values = list(np.linspace(lo, hi, n_stops))
    stops = [(float(v), hex_color(colors([v], style)[0])) for v in values]
    grad_n = 2 if style.categories else 11
    grad = ", ".join(
        f"{hex_color(lut[round(f * (len(lut) - 1))])} {f * 100:.0f}%"
        for f in np.linspace(0.0, 1.0, grad_n)
    )
    span = hi - lo if hi != lo else 1.0
    return {
        "key": style.key,
        "title": style.label(lang),
        "unit": style.unit,
        "range": [float(lo), float(hi)],
        "stops": stops,
        "labels": [style.format(v, lang) for v, _ in stops],
        "css_gradient": f"linear-gradient(to right, {grad})",
        "thresholds": [
            {
                "value": float(v),
                "label": style.format(v, lang),
                "position": float(min(max((v - lo) / span, 0.0), 1.0)),
            }
            for v in style.thresholds
        ],
        "categorical": bool(style.categories),
        "stale_label": t("legend.stale", lang),
        "stale_color": hex_color(STALE_RGB),
        "no_data_label": t("legend.no_data", lang),
        "no_data_color": hex_color(NO_DATA_RGB),
        "neutral_label": t("legend.no_sensor", lang),
        "neutral_color": hex_color(NEUTRAL_RGB),
    }


def text_to_value(text: str | None, style: Style) -> float:
    """Map a text reading (``"blocked"``) to its number for ``style``; NaN when unknown."""
    if text is None:
        return float("nan")
    return float(style.text_values.get(str(text).strip().lower(), float("nan")))


def with_registry(
    styles: Mapping[str, Style],
    registry: Iterable[object] | None,
    fixed: Mapping[str, set[str]] | None = None,
) -> dict[str, Style]:
    """Take display ranges and thresholds from a device registry where the scene set none.

    Order of precedence: the scene file's ``[styles.<key>]`` fields, then the registry's
    quantity specs (``range``, ``thresholds`` of the first device measuring a quantity that
    maps to the style, with a unit the style accepts), then :data:`DEFAULT_STYLES`.

    Parameters
    ----------
    styles : mapping
        The scene's styles.
    registry : iterable of twin.sensors.registry.Device, optional
        The devices with their ``quantities`` (``unit``, ``range``, ``thresholds``).
    fixed : mapping, optional
        Style key → fields the scene file set (left alone).

    Returns
    -------
    dict
        A new style table.
    """
    out = dict(styles)
    fixed = fixed or {}
    done: set[str] = set()
    for device in registry or ():
        for name, spec in getattr(device, "quantities", {}).items():
            key = style_key(name, out)
            if key is None or key in done or not out[key].accepts(getattr(spec, "unit", None)):
                continue
            done.add(key)
            changes: dict = {}
            rng = getattr(spec, "range", None)
            if rng and "range" not in fixed.get(key, ()) and float(rng[0]) < float(rng[1]):
                changes["range"] = (float(rng[0]), float(rng[1]))
            thresholds = tuple(float(v) for v in getattr(spec, "thresholds", ()) or ())
            if thresholds and "thresholds" not in fixed.get(key, ()):
                changes["thresholds"] = thresholds
            if changes:
                out[key] = replace(out[key], **changes)
    return out
