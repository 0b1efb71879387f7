"""Scene files: what the twin loads and how it looks, as TOML.

A scene file names the City (a file, or the generated demo), the sensor database, the device
registry, the data feeds (MQTT, or the in-process simulator of the demo), the colour styles,
camera bookmarks and the kiosk tour. See ``docs/scenes.md`` for every key. Relative paths
resolve against the scene file's folder. Passwords never live in a scene file: a feed names
a ``password_file`` (or the ``TWIN_MQTT_PASSWORD`` environment variable is used).

Every problem raises :class:`~twin.errors.SceneError` with one line naming the file and the
key, e.g. ``scenes/x.toml: styles.co2.range: expected two numbers [lo, hi], got [400]``.

Examples
--------
>>> cfg = SceneConfig.demo(buildings=500)
>>> cfg.city.demo
{'buildings': 500, 'seed': 0}
"""

from __future__ import annotations

import dataclasses
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from twin.errors import SceneError
from twin.scene.camera import Bookmark
from twin.scene.i18n import LANGUAGES
from twin.scene.styles import DEFAULT_STYLES, Style, lookup_table
from twin.scene.toml_check import Checker, join_key, show

#: Repository root (scene paths of the built-in demo resolve against it).
ROOT = Path(__file__).resolve().parents[2]
#: The demo deployment's device registry.
DEMO_REGISTRY = ROOT / "sensors" / "devices.toml"
FEED_FORMATS = ("auto", "ttn", "chirpstack", "generic")


@dataclass
class CitySource:
    """Where the City comes from: a file (``path``) or the generator (``demo``)."""

    path: Path | None = None
    demo: dict[str, int] | None = None
    crs: str | None = None


@dataclass
class FeedConfig:
    """An MQTT feed to ingest (see :class:`twin.sensors.ingest.Ingest`)."""

    url: str
    topics: list[str]
    format: str = "auto"
    qos: int = 1
    username: str | None = None
    password_file: Path | None = None
    ca_file: Path | None = None
    client_id: str | None = None


@dataclass
class SimulatorConfig:
    """The in-process simulator of the demo deployment."""

    seed: int = 0
    speedup: float = 1.0
    history_hours: float = 24.0
    format: str = "ttn"


@dataclass
class TourConfig:
    """The kiosk tour: stop order (bookmark names), seconds per stop, idle resume."""

    order: list[str] = field(default_factory=list)
    seconds_per_stop: float = 12.0
    idle_resume: float = 60.0


@dataclass
class SceneConfig:
    """A parsed scene file.

    Attributes
    ----------
    path : pathlib.Path or None
        The scene file (None for :meth:`demo`).
    title : dict
        Title per language.
    language : str
        Default UI language (``"de"``).
    city : CitySource
        The City to show.
    database : pathlib.Path or None
        The DuckDB file; None means a fresh temporary file (the demo).
    registry : pathlib.Path or None
        The device registry (TOML or CSV).
    simulator : SimulatorConfig or None
        Run the in-process simulator (demo) when set.
    feeds : list of FeedConfig
        MQTT feeds to ingest.
    styles : dict of str to Style
        All styles: the defaults with the scene's overrides applied.
    style_fields : dict of str to set of str
        Which fields of which style the scene file set (those win over the registry's
        display ranges and thresholds).
    default_quantity : str
        The quantity shown at start.
    bookmarks : list of Bookmark
        Camera bookmarks.
    tour : TourConfig
        The kiosk tour.
    max_distance : float
        Metres within which an unbound sensor is attached to the nearest building.
    """

    path: Path | None = None
    title: dict[str, str] = field(default_factory=dict)
    language: str = "de"
    city: CitySource = field(default_factory=CitySource)
    database: Path | None = None
    registry: Path | None = None
    simulator: SimulatorConfig | None = None
    feeds: list[FeedConfig] = field(default_factory=list)
    styles: dict[str, Style] = field(default_factory=lambda: dict(DEFAULT_STYLES))
    style_fields: dict[str, set[str]] = field(default_factory=dict)
    default_quantity: str = "temperature"
    bookmarks: list[Bookmark] = field(default_factory=list)
    tour: TourConfig = field(default_factory=TourConfig)
    max_distance: float = 50.0

    def tour_bookmarks(self) -> list[Bookmark]:
        """Return the bookmarks of the tour in order (all bookmarks when no order is given)."""
        if not self.tour.order:
            return list(self.bookmarks)
        by_name = {b.name: b for b in self.bookmarks}
        return [by_name[n] for n in self.tour.order]

    def title_in(self, lang: str = "de") -> str:
        """Return the title in ``lang`` (falls back to German, then the UI default)."""
        from twin.scene.i18n import t

        return self.title.get(lang) or self.title.get("de") or t("app.title", lang)

    @classmethod
    def demo(cls, *, buildings: int = 20000, seed: int = 0, speedup: float = 1.0) -> SceneConfig:
        """Return the built-in demo scene: generated city, demo registry, in-process simulator.

        Parameters
        ----------
        buildings : int
            Number of generated buildings.
        seed : int
            Seed of the city generator and the simulator.
        speedup : float
            Simulated seconds per real second.

        Returns
        -------
        SceneConfig
            The same scene as ``scenes/demo.toml``.
        """
        return cls(
            path=None,
            title={
                "de": "Digitaler Zwilling Ludwigshafen – Demo",
                "en": "Ludwigshafen digital twin – demo",
            },
            city=CitySource(demo={"buildings": int(buildings), "seed": int(seed)}),
            registry=DEMO_REGISTRY,
            simulator=SimulatorConfig(seed=seed, speedup=speedup),
            default_quantity="co2",
            bookmarks=list(DEMO_BOOKMARKS),
            tour=TourConfig(order=[b.name for b in DEMO_BOOKMARKS], seconds_per_stop=12.0),
        )


def _landmark(name: str, e: float, n: float, z: float, de: str, en: str, q: str) -> Bookmark:
    # Oblique view from the south-west, ~450 m away.
    return Bookmark(
        name=name,
        position=(e - 260.0, n - 340.0, z + 300.0),
        focal_point=(float(e), float(n), float(z)),
        caption={"de": de, "en": en},
        quantity=q,
    )


#: Bookmarks of the demo (landmarks of docs/demo-geography.md, City CRS EPSG:25832).
DEMO_BOOKMARKS: tuple[Bookmark, ...] = (
    Bookmark(
        name="overview",
        position=(457600.0, 5477600.0, 2600.0),
        focal_point=(458700.0, 5481100.0, 0.0),
        caption={"de": "Ludwigshafen am Rhein im Überblick", "en": "Ludwigshafen am Rhine"},
    ),
    _landmark("rathaus", 459300, 5481350, 30, "Rathaus: Energieverbrauch",
              "Town hall: energy use", "energy"),
    _landmark("schule-mitte", 458700, 5481300, 5, "Grundschule Mitte: Luftqualität (CO₂)",
              "Primary school Mitte: air quality (CO₂)", "co2"),
    _landmark("stadtbibliothek", 459050, 5481000, 5, "Stadtbibliothek: CO₂ im Lesesaal",
              "City library: CO₂ in the reading room", "co2"),
    _landmark("parkhaeuser", 459120, 5481000, 5, "Parkhäuser: freie Plätze",
              "Car parks: free spaces", "parking_occupancy"),
    _landmark("pegel", 459820, 5480800, 0, "Rhein-Pegel", "Rhine water level", "water_level"),
    _landmark("feuerwache", 458400, 5481600, 5, "Feuerwache: Zufahrt frei?",
              "Fire station: access road clear?", "access_road"),
)  # fmt: skip


# --------------------------------------------------------------------------- parsing

_TOP = (
    "title", "language", "default_quantity", "city", "database", "registry", "simulator",
    "feeds", "styles", "bookmarks", "tour", "binding",
)  # fmt: skip


def load_scene(path: str | Path, *, check_files: bool = True) -> SceneConfig:
    """Read and validate a scene file.

    Parameters
    ----------
    path : str or pathlib.Path
        A TOML scene file.
    check_files : bool
        Require the files it names (city, registry, password and CA files) to exist.

    Returns
    -------
    SceneConfig
        The scene, with paths resolved against the file's folder and styles merged over
        :data:`~twin.scene.styles.DEFAULT_STYLES`.

    Raises
    ------
    SceneError
        If the file is missing, not TOML, or a key is unknown or has a wrong value; the
        message names the file and the key.
    """
    path = Path(path)
    if not path.is_file():
        raise SceneError(f"{path}: no such scene file (expected a .toml file, see docs/scenes.md)")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as err:
        raise SceneError(f"{path}: not valid TOML ({err})") from err
    except (OSError, UnicodeDecodeError) as err:
        raise SceneError(f"{path}: cannot read the scene file ({err})") from err
    return parse_scene(data, path, check_files=check_files)


def parse_scene(data: Mapping[str, Any], path: Path, *, check_files: bool = True) -> SceneConfig:
    """Validate the parsed TOML ``data`` of the scene file ``path`` (see :func:`load_scene`)."""
    c = Checker(path, check_files=check_files)
    c.known(data, "", _TOP)
    cfg = SceneConfig(path=path)
    cfg.title = c.labels(data, "", "title") or {}
    cfg.language = c.string(data, "", "language", "de")
    if cfg.language not in LANGUAGES:
        raise c.error("language", f"expected one of {', '.join(LANGUAGES)}, got {cfg.language!r}")
    cfg.city = _city(c, data.get("city"))
    if "database" in data:
        db = data["database"]
        if isinstance(db, str):
            db = {"path": db}
        db = c.table(db, "database")
        c.known(db, "database", ("path",))
        cfg.database = c.file(db, "database", "path", must_exist=False)
    cfg.registry = c.file(data, "", "registry", must_exist=True)
    if "simulator" in data:
        cfg.simulator = _simulator(c, data["simulator"])
    feeds = data.get("feeds", [])
    if not isinstance(feeds, list):
        raise c.error("feeds", "expected an array of tables [[feeds]]")
    cfg.feeds = [_feed(c, f, f"feeds[{i}]") for i, f in enumerate(feeds)]
    cfg.styles = _styles(c, data.get("styles", {}))
    cfg.style_fields = {k: set(v) for k, v in data.get("styles", {}).items()}
    cfg.default_quantity = c.string(data, "", "default_quantity", "temperature")
    if cfg.default_quantity not in cfg.styles:
        raise c.error(
            "default_quantity",
            f"unknown quantity {cfg.default_quantity!r} (valid: {', '.join(cfg.styles)})",
        )
    marks = data.get("bookmarks", [])
    if not isinstance(marks, list):
        raise c.error("bookmarks", "expected an array of tables [[bookmarks]]")
    cfg.bookmarks = [_bookmark(c, b, f"bookmarks[{i}]", cfg.styles) for i, b in enumerate(marks)]
    names = [b.name for b in cfg.bookmarks]
    for i, name in enumerate(names):
        if name in names[:i]:
            raise c.error(f"bookmarks[{i}].name", f"duplicate bookmark name {name!r}")
    cfg.tour = _tour(c, data.get("tour", {}), names)
    binding = c.table(data.get("binding", {}), "binding")
    c.known(binding, "binding", ("max_distance",))
    cfg.max_distance = float(c.number(binding, "binding", "max_distance", 50.0, positive=True))
    return cfg


def _city(c: Checker, raw: Any) -> CitySource:
    if raw is None:
        raise c.error("city", "missing: give city.path = 'file' or city.demo = {buildings, seed}")
    city = c.table(raw, "city")
    c.known(city, "city", ("path", "demo", "crs"))
    if ("path" in city) == ("demo" in city):
        raise c.error("city", "give exactly one of city.path and city.demo")
    src = CitySource(crs=c.string(city, "city", "crs"))
    if "path" in city:
        src.path = c.file(city, "city", "path", must_exist=True)
        return src
    demo = c.table(city["demo"], "city.demo")
    c.known(demo, "city.demo", ("buildings", "seed"))
    n = c.number(demo, "city.demo", "buildings", 20000, positive=True, integer=True)
    seed = c.number(demo, "city.demo", "seed", 0, integer=True)
    src.demo = {"buildings": int(n), "seed": int(seed)}
    return src


def _simulator(c: Checker, raw: Any) -> SimulatorConfig | None:
    if raw is False:
        return None
    if raw is True:
        return SimulatorConfig()
    sim = c.table(raw, "simulator")
    c.known(sim, "simulator", ("enabled", "seed", "speedup", "history_hours", "format"))
    enabled = sim.get("enabled", True)
    if not isinstance(enabled, bool):
        raise c.error("simulator.enabled", f"expected true or false, got {show(enabled)}")
    fmt = c.string(sim, "simulator", "format", "ttn")
    if fmt not in ("ttn", "chirpstack"):
        raise c.error("simulator.format", f"expected 'ttn' or 'chirpstack', got {fmt!r}")
    hours = c.number(sim, "simulator", "history_hours", 24.0)
    if hours < 0:
        raise c.error("simulator.history_hours", f"expected a number ≥ 0, got {hours}")
    cfg = SimulatorConfig(
        seed=int(c.number(sim, "simulator", "seed", 0, integer=True)),
        speedup=float(c.number(sim, "simulator", "speedup", 1.0, positive=True)),
        history_hours=float(hours),
        format=fmt,
    )
    return cfg if enabled else None


def _feed(c: Checker, raw: Any, key: str) -> FeedConfig:
    feed = c.table(raw, key)
    if "password" in feed:
        raise c.error(f"{key}.password", "never put a password in a scene file; use password_file")
    c.known(
        feed,
        key,
        ("url", "topics", "format", "qos", "username", "password_file", "ca_file", "client_id"),
    )
    url = c.string(feed, key, "url")
    if url is None:
        raise c.error(f"{key}.url", "missing (e.g. 'mqtts://eu1.cloud.thethings.network:8883')")
    if not url.startswith(("mqtt://", "mqtts://", "ws://", "wss://")):
        raise c.error(f"{key}.url", f"expected an mqtt:// or mqtts:// URL, got {url!r}")
    if urlsplit(url).password:
        raise c.error(f"{key}.url", "never put a password in a scene file; use password_file")
    topics = c.strings(feed, key, "topics")
    if not topics:
        raise c.error(f"{key}.topics", "missing: give at least one topic filter")
    fmt = c.string(feed, key, "format", "auto")
    if fmt not in FEED_FORMATS:
        raise c.error(f"{key}.format", f"expected one of {', '.join(FEED_FORMATS)}, got {fmt!r}")
    qos = c.number(feed, key, "qos", 1, integer=True)
    if qos not in (0, 1):
        raise c.error(f"{key}.qos", f"expected 0 or 1, got {qos}")
    return FeedConfig(
        url=url,
        topics=topics,
        format=fmt,
        qos=int(qos),
        username=c.string(feed, key, "username"),
        password_file=c.file(feed, key, "password_file", must_exist=True),
        ca_file=c.file(feed, key, "ca_file", must_exist=True),
        client_id=c.string(feed, key, "client_id"),
    )


_STYLE_KEYS = (
    "colormap", "range", "unit", "thresholds", "max_age", "label", "quantities", "decimals",
)  # fmt: skip


def _styles(c: Checker, raw: Any) -> dict[str, Style]:
    styles = dict(DEFAULT_STYLES)
    table = c.table(raw, "styles")
    for name, spec in table.items():
        key = join_key("styles", name)
        spec = c.table(spec, key)
        c.known(spec, key, _STYLE_KEYS)
        base = styles.get(name)
        changes: dict[str, Any] = {}
        if "colormap" in spec:
            cmap = spec["colormap"]
            if isinstance(cmap, list):
                if len(cmap) < 2 or not all(isinstance(x, str) for x in cmap):
                    raise c.error(f"{key}.colormap", "expected a name or at least two colours")
                cmap = tuple(cmap)
            try:
                lookup_table(cmap)
            except (ValueError, TypeError) as err:
                raise c.error(f"{key}.colormap", str(err)) from err
            changes["colormap"] = cmap
        if "range" in spec:
            lo, hi = c.numbers(spec["range"], f"{key}.range", 2, "two numbers [lo, hi]")
            if not lo < hi:
                raise c.error(f"{key}.range", f"expected lo < hi, got [{lo:g}, {hi:g}]")
            changes["range"] = (lo, hi)
        if "unit" in spec:
            u = spec["unit"]
            if not isinstance(u, str):
                raise c.error(f"{key}.unit", f"expected a string, got {show(u)}")
            changes["unit"] = u
        if "thresholds" in spec:
            changes["thresholds"] = c.numbers(
                spec["thresholds"], f"{key}.thresholds", None, "a list of numbers"
            )
        if "max_age" in spec:
            changes["max_age"] = float(c.number(spec, key, "max_age", positive=True))
        if "decimals" in spec:
            changes["decimals"] = int(c.number(spec, key, "decimals", integer=True))
        if "label" in spec:
            changes["labels"] = {**(base.labels if base else {}), **c.labels(spec, key, "label")}
        if "quantities" in spec:
            changes["quantities"] = tuple(c.strings(spec, key, "quantities") or ())
        if base is None:
            missing = [k for k in ("range", "unit") if k not in changes]
            if missing:
                needs = " and ".join(missing)
                raise c.error(key, f"a new style needs {needs} (built-in: {', '.join(styles)})")
            styles[name] = Style(key=name, **changes)
        else:
            styles[name] = dataclasses.replace(base, **changes)
    return styles


def _bookmark(c: Checker, raw: Any, key: str, styles: Mapping[str, Style]) -> Bookmark:
    b = c.table(raw, key)
    c.known(b, key, ("name", "caption", "position", "focal_point", "view_up", "crs", "quantity"))
    name = c.string(b, key, "name")
    if name is None:
        raise c.error(f"{key}.name", "missing")
    for need in ("position", "focal_point"):
        if need not in b:
            raise c.error(f"{key}.{need}", "missing: expected three numbers [x, y, z]")
    crs = c.string(b, key, "crs", "city")
    if crs not in ("city", "local"):
        raise c.error(f"{key}.crs", f"expected 'city' or 'local', got {crs!r}")
    quantity = c.string(b, key, "quantity")
    if quantity is not None and quantity not in styles:
        valid = ", ".join(styles)
        raise c.error(f"{key}.quantity", f"unknown quantity {quantity!r} (valid: {valid})")
    return Bookmark(
        name=name,
        position=c.numbers(b["position"], f"{key}.position", 3, "three numbers [x, y, z]"),
        focal_point=c.numbers(b["focal_point"], f"{key}.focal_point", 3, "three numbers [x, y, z]"),
        view_up=c.numbers(b.get("view_up", [0, 0, 1]), f"{key}.view_up", 3, "three numbers"),
        caption=c.labels(b, key, "caption") or {},
        crs=crs,
        quantity=quantity,
    )  # type: ignore[arg-type]


def _tour(c: Checker, raw: Any, names: list[str]) -> TourConfig:
    tour = c.table(raw, "tour")
    c.known(tour, "tour", ("order", "seconds_per_stop", "idle_resume"))
    order = c.strings(tour, "tour", "order") or []
    for i, name in enumerate(order):
        if name not in names:
            valid = ", ".join(names) or "none defined"
            raise c.error(f"tour.order[{i}]", f"no bookmark named {name!r} (bookmarks: {valid})")
    return TourConfig(
        order=order,
        seconds_per_stop=float(c.number(tour, "tour", "seconds_per_stop", 12.0, positive=True)),
        idle_resume=float(c.number(tour, "tour", "idle_resume", 60.0, positive=True)),
    )
