"""What the CityGML and CityJSON readers share while reading: the record of one building
row, the semantic surface names, the roof-type code lists, the LoD choice, the objects they
keep as context and the counts of what they skipped.

CityJSON is an encoding of the CityGML data model, so both readers produce the same
:class:`BuildingRecord` per Building / BuildingPart and feed their polygons to one
:class:`~twin.geodata.surface_arrays.SurfaceBuilder`;
:func:`twin.geodata.citygml_assemble.assemble_city` then turns them into a City.

Rows: one row per Building and per BuildingPart with geometry; a Building drawn only by its
parts has no row of its own (its parts carry ``building`` = its id and inherit its name,
address and type, :meth:`BuildingRecord.inherit`). Ids are ``"<format>/<source id>"``, so the
same model read from CityGML and CityJSON differs only in the prefix.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from pathlib import Path

from twin.errors import ConfigError, GeodataError
from twin.geodata.city import HEIGHT_SOURCES
from twin.geodata.surface_arrays import SurfaceBuilder

log = logging.getLogger(__name__)

#: Semantic surface types (CityGML element names, CityJSON ``type`` values) → surface codes.
#: Openings (LoD3) fill holes of walls.
SEMANTIC: dict[str, str] = {
    "GroundSurface": "G",
    "WallSurface": "W",
    "RoofSurface": "R",
    "ClosureSurface": "O",
    "OuterFloorSurface": "O",
    "OuterCeilingSurface": "O",
    "Window": "W",
    "Door": "W",
}

#: roofType codes → OSM ``roof:shape`` values. Two code lists are in use: the SIG3D list of
#: CityGML 2.0 (1000-1130, also used by citygml4j) and the AdV list of German official
#: LoD2 data (1000, 2100-5000). They overlap only in 1000 (flat).
ROOF_TYPES: dict[str, str] = {
    "1000": "flat",
    "1010": "skillion",
    "1020": "skillion",  # dual pent
    "1030": "gabled",
    "1040": "hipped",
    "1050": "half-hipped",
    "1060": "mansard",
    "1070": "pyramidal",  # pavilion
    "1080": "cone",
    "1090": "dome",  # cupola
    "1100": "sawtooth",
    "1110": "round",  # arch
    "1120": "pyramidal",
    "1130": "mixed",
    "2100": "skillion",  # Pultdach
    "2200": "skillion",  # versetztes Pultdach
    "3100": "gabled",  # Satteldach
    "3200": "hipped",  # Walmdach
    "3300": "half-hipped",  # Krüppelwalmdach
    "3400": "mansard",  # Mansardendach
    "3500": "pyramidal",  # Zeltdach
    "3600": "cone",  # Kegeldach
    "3700": "dome",  # Kuppeldach
    "3800": "sawtooth",  # Sheddach
    "3900": "round",  # Bogendach
    "4000": "tower",  # Turmdach
    "5000": "mixed",  # Mischform
}


def roof_shape(value: object) -> str | None:
    """Map a roofType code (``"1030"``, ``3100``) to an OSM roof shape; keep other text.

    Examples
    --------
    >>> roof_shape("1030"), roof_shape("3200"), roof_shape("Zeltdach"), roof_shape(None)
    ('gabled', 'hipped', 'Zeltdach', None)
    """
    if value is None:
        return None
    text = str(value).strip()
    if text.endswith(".0"):
        text = text[:-2]
    return ROOF_TYPES.get(text, text or None)


@dataclass
class BuildingRecord:
    """Attributes of one building or building-part row, as read from the file."""

    source_id: str
    parent: str | None = None  # source id of the parent (parts only)
    lod: int = 0  # LoD of the geometry taken (1..4); 0 = none
    name: str | None = None
    building_type: str | None = None
    roof_shape: str | None = None
    address: str | None = None
    levels: float = math.nan
    measured_height: float = math.nan
    crs: str | None = None  # CRS text of this feature, if it names its own
    height_source: str | None = None  # as written by twin's own CityJSON export

    def inherit(self, parent: BuildingRecord) -> None:
        """Take name, type, address and CRS from the parent building where this has none.

        Parameters
        ----------
        parent : BuildingRecord
            The record of the building this part belongs to.
        """
        for attr in ("name", "building_type", "address", "crs"):
            if getattr(self, attr) is None:
                setattr(self, attr, getattr(parent, attr))


def check_lod(lod: object) -> float | None:
    """Validate the ``lod`` option: None, 1-4, or a CityJSON-style ``"2.2"``.

    Returns
    -------
    float or None
        The requested LoD as a number.

    Raises
    ------
    ConfigError
        For anything else.
    """
    if lod is None:
        return None
    try:
        value = float(lod)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        value = math.nan
    if not 1 <= value < 5:
        raise ConfigError(f"lod={lod!r}: expected 1, 2, 3 or 4 (or '2.2' style for CityJSON)")
    return value


def choose_lod(available: list[str], wanted: float | None, *, exact: bool) -> str | None:
    """Pick one of the LoDs a feature has.

    Parameters
    ----------
    available : list of str
        The feature's LoDs (``"1"``, ``"2"``, ``"2.2"``).
    wanted : float or None
        None: the highest. A number: the highest whose integer part matches, or with
        ``exact`` the one equal to it.
    exact : bool
        Whether the request had a decimal part (``"2.2"``).

    Returns
    -------
    str or None
        The chosen LoD, None when nothing matches.
    """
    nums = []
    for a in available:
        try:
            nums.append((float(a), a))
        except ValueError:
            continue
    if wanted is not None:
        if exact:
            nums = [n for n in nums if abs(n[0] - wanted) < 1e-9]
        else:
            nums = [n for n in nums if math.floor(n[0]) == math.floor(wanted)]
    nums = [n for n in nums if n[0] >= 1]
    return max(nums)[1] if nums else None


def height_source_attribute(value: object) -> str | None:
    """Return ``value`` when it is one of the City's height sources, else None."""
    return value if isinstance(value, str) and value in HEIGHT_SOURCES else None


def check_file(path: Path, expected: str) -> None:
    """Fail clearly when ``path`` is missing or empty.

    Parameters
    ----------
    path : pathlib.Path
        The file to read.
    expected : str
        What it should hold, for the message (``"a CityGML document"``).

    Raises
    ------
    GeodataError
        If it is not a file or has 0 bytes.
    """
    if not path.is_file():
        raise GeodataError(f"{path}: no such file (expected {expected})")
    if path.stat().st_size == 0:
        raise GeodataError(f"{path}: the file is empty (expected {expected})")


@dataclass
class ContextObjects:
    """Polygons of non-building objects (roads, water, ...), kept as context layers.

    Row ``i`` of :attr:`builder` belongs to object ``i`` of :attr:`layers`/:attr:`names`;
    :func:`twin.geodata.citygml_assemble.context_layers` turns them into 2D outlines.
    """

    builder: SurfaceBuilder = field(default_factory=SurfaceBuilder)
    layers: list[str] = field(default_factory=list)
    names: list[str | None] = field(default_factory=list)

    @property
    def next_row(self) -> int:
        """Row index of the next object."""
        return len(self.layers)

    def add(self, kind: str, name: str | None) -> None:
        """Record the object whose polygons were just added with row :attr:`next_row`."""
        self.layers.append(kind.lower())
        self.names.append(name)


@dataclass
class Skipped:
    """What a reader passed over: non-building objects by type, buildings without geometry."""

    objects: dict[str, int] = field(default_factory=dict)
    no_geometry: int = 0

    def object(self, kind: str) -> None:
        """Count one non-building object of type ``kind``."""
        self.objects[kind] = self.objects.get(kind, 0) + 1

    def log(self, path: Path, wanted: float | None) -> None:
        """Log the counts: non-building objects at INFO, buildings without geometry as WARNING."""
        if self.objects:
            listing = ", ".join(f"{n} {k}" for k, n in sorted(self.objects.items()))
            log.info("%s: skipped non-building objects: %s", path, listing)
        if self.no_geometry:
            log.warning(
                "%s: skipped %d buildings/parts without usable geometry at LoD %s",
                path,
                self.no_geometry,
                f"{wanted:g}" if wanted is not None else "1-4",
            )
