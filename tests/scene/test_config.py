"""Scene files: parsing, defaults, path resolution, and one SceneError per kind of bad key."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from twin.errors import SceneError
from twin.scene.config import SceneConfig, load_scene, parse_scene
from twin.scene.styles import DEFAULT_STYLES

ROOT = Path(__file__).resolve().parents[2]

MINIMAL = """
[city]
demo = { buildings = 300, seed = 4 }
"""


def write(tmp_path: Path, text: str, name: str = "x.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_minimal_scene_has_defaults(tmp_path):
    cfg = load_scene(write(tmp_path, MINIMAL))
    assert cfg.city.demo == {"buildings": 300, "seed": 4}
    assert cfg.database is None and cfg.feeds == [] and cfg.simulator is None
    assert cfg.language == "de"
    assert cfg.styles == DEFAULT_STYLES
    assert cfg.max_distance == 50.0


def test_full_scene_resolves_paths_and_merges_styles(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "city.parquet").write_bytes(b"")
    (tmp_path / "devices.toml").write_text("")
    (tmp_path / "pw").write_text("secret\n")
    text = """
title = { de = "Titel", en = "Title" }
language = "en"
default_quantity = "co2"
registry = "devices.toml"

[city]
path = "data/city.parquet"

[database]
path = "db/twin.duckdb"

[[feeds]]
url = "mqtt://127.0.0.1:1883"
topics = ["application/+/device/+/event/up"]
format = "chirpstack"
qos = 1
username = "twin"
password_file = "pw"

[simulator]
seed = 3
speedup = 60
history_hours = 2

[styles.co2]
range = [350, 1800]
thresholds = [1000]
max_age = 600
label = { en = "Carbon dioxide" }

[styles.radon]
range = [0, 300]
unit = "Bq/m³"
colormap = ["#ffffff", "#ff0000"]
quantities = ["rn222"]

[[bookmarks]]
name = "a"
position = [1, 2, 3]
focal_point = [4, 5, 6]
crs = "local"
caption = { de = "A", en = "A" }

[[bookmarks]]
name = "b"
position = [459000, 5481000, 300]
focal_point = [459100, 5481100, 0]
quantity = "radon"

[tour]
order = ["b", "a"]
seconds_per_stop = 5

[binding]
max_distance = 20
"""
    cfg = load_scene(write(tmp_path, text))
    assert cfg.title == {"de": "Titel", "en": "Title"} and cfg.language == "en"
    assert cfg.city.path == tmp_path / "data" / "city.parquet"
    assert cfg.database == tmp_path / "db" / "twin.duckdb"
    assert cfg.registry == tmp_path / "devices.toml"
    feed = cfg.feeds[0]
    assert (feed.format, feed.qos, feed.password_file) == ("chirpstack", 1, tmp_path / "pw")
    assert cfg.simulator.speedup == 60 and cfg.simulator.history_hours == 2
    co2 = cfg.styles["co2"]
    assert co2.range == (350.0, 1800.0) and co2.thresholds == (1000.0,) and co2.max_age == 600
    assert co2.labels == {"de": "CO₂", "en": "Carbon dioxide"}  # merged over the default
    assert co2.colormap == DEFAULT_STYLES["co2"].colormap  # untouched fields kept
    assert cfg.styles["radon"].unit == "Bq/m³" and cfg.styles["radon"].quantities == ("rn222",)
    assert [b.name for b in cfg.tour_bookmarks()] == ["b", "a"]
    assert cfg.bookmarks[0].crs == "local" and cfg.bookmarks[1].crs == "city"
    local = cfg.bookmarks[1].to_local((459000.0, 5481000.0, 0.0))
    assert local.position == (0.0, 0.0, 300.0) and local.focal_point == (100.0, 100.0, 0.0)
    assert cfg.max_distance == 20


@pytest.mark.parametrize(
    ("text", "key", "expected"),
    [
        ("[city]\ndemo = {}\n[styles.co2]\nrange = [400]", "styles.co2.range", "two numbers"),
        ("[city]\ndemo = {}\n[styles.co2]\nrange = [9, 1]", "styles.co2.range", "lo < hi"),
        ('[city]\ndemo = {}\n[styles.co2]\nrange = ["a", 2]', "styles.co2.range", "two numbers"),
        ('[city]\ndemo = {}\n[styles.co2]\ncolormap = "nope"', "styles.co2.colormap", "nope"),
        ("[city]\ndemo = {}\n[styles.co2]\nmax_age = -5", "styles.co2.max_age", "positive"),
        ("[city]\ndemo = {}\n[styles.co2]\ncolour = 1", "styles.co2.colour", "unknown key"),
        ("[city]\ndemo = {}\n[styles.radon]\nrange = [0, 1]", "styles.radon", "unit"),
        ("[city]\ndemo = {}\n[styles.co2]\nthresholds = 5", "styles.co2.thresholds", "list"),
        ('[city]\ndemo = {}\n[styles.co2]\nlabel = { fr = "x" }', "styles.co2.label.fr", "unknown"),
        ("[city]\ndemo = {}\nfoo = 1", "city.foo", "unknown key"),
        ("bar = 1\n[city]\ndemo = {}", "bar", "unknown key"),
        ("title = 3", "title", "table"),
        ("", "city", "missing"),
        ('[city]\npath = "a.parquet"\ndemo = {}', "city", "exactly one"),
        ('[city]\npath = "missing.parquet"', "city.path", "does not exist"),
        ("[city]\ndemo = { buildings = 0 }", "city.demo.buildings", "positive"),
        ('[city]\ndemo = { buildings = "many" }', "city.demo.buildings", "integer"),
        ("[city]\ndemo = { buildings = 1.5 }", "city.demo.buildings", "integer"),
        ('language = "fr"\n[city]\ndemo = {}', "language", "de, en"),
        ('default_quantity = "radon"\n[city]\ndemo = {}', "default_quantity", "radon"),
        ('registry = "nope.toml"\n[city]\ndemo = {}', "registry", "does not exist"),
        ("database = 5\n[city]\ndemo = {}", "database", "table"),
        ("[city]\ndemo = {}\n[simulator]\nspeedup = 0", "simulator.speedup", "positive"),
        ('[city]\ndemo = {}\n[simulator]\nformat = "x"', "simulator.format", "ttn"),
        ('[city]\ndemo = {}\n[simulator]\nenabled = "yes"', "simulator.enabled", "true"),
        ('[city]\ndemo = {}\n[[feeds]]\ntopics = ["a"]', "feeds[0].url", "missing"),
        ('[city]\ndemo = {}\n[[feeds]]\nurl = "http://x"\ntopics = ["a"]', "feeds[0].url", "mqtt"),
        ('[city]\ndemo = {}\n[[feeds]]\nurl = "mqtt://x"', "feeds[0].topics", "missing"),
        ('[city]\ndemo = {}\n[[feeds]]\nurl = "mqtt://x"\ntopics = [1]', "feeds[0].topics", "list"),
        (
            '[city]\ndemo = {}\n[[feeds]]\nurl = "mqtt://x"\ntopics = ["a"]\nqos = 2',
            "feeds[0].qos",
            "0 or 1",
        ),
        (
            '[city]\ndemo = {}\n[[feeds]]\nurl = "mqtt://x"\ntopics = ["a"]\nformat = "lpp"',
            "feeds[0].format",
            "chirpstack",
        ),
        (
            '[city]\ndemo = {}\n[[feeds]]\nurl = "mqtt://x"\ntopics = ["a"]\npassword = "pw"',
            "feeds[0].password",
            "never put a password",
        ),
        (
            '[city]\ndemo = {}\n[[feeds]]\nurl = "mqtt://u:pw@x"\ntopics = ["a"]',
            "feeds[0].url",
            "never put a password",
        ),
        ("feeds = 3\n[city]\ndemo = {}", "feeds", "array"),
        (
            '[city]\ndemo = {}\n[[bookmarks]]\nname = "a"\nposition = [1, 2]\n'
            "focal_point = [0, 0, 0]",
            "bookmarks[0].position",
            "three numbers",
        ),
        (
            '[city]\ndemo = {}\n[[bookmarks]]\nname = "a"\nposition = [1, 2, 3]',
            "bookmarks[0].focal_point",
            "missing",
        ),
        (
            "[city]\ndemo = {}\n[[bookmarks]]\nposition = [1, 2, 3]\nfocal_point = [0, 0, 0]",
            "bookmarks[0].name",
            "missing",
        ),
        (
            '[city]\ndemo = {}\n[[bookmarks]]\nname = "a"\nposition = [1, 2, 3]\n'
            'focal_point = [0, 0, 0]\ncrs = "wgs84"',
            "bookmarks[0].crs",
            "local",
        ),
        (
            '[city]\ndemo = {}\n[[bookmarks]]\nname = "a"\nposition = [1, 2, 3]\n'
            'focal_point = [0, 0, 0]\n[[bookmarks]]\nname = "a"\nposition = [1, 2, 3]\n'
            "focal_point = [0, 0, 0]",
            "bookmarks[1].name",
            "duplicate",
        ),
        ('[city]\ndemo = {}\n[tour]\norder = ["nowhere"]', "tour.order[0]", "no bookmark"),
        ("[city]\ndemo = {}\n[tour]\nseconds_per_stop = 0", "tour.seconds_per_stop", "positive"),
        ("[city]\ndemo = {}\n[binding]\nmax_distance = -1", "binding.max_distance", "positive"),
    ],
)
def test_invalid_key_raises_scene_error_naming_it(tmp_path, text, key, expected):
    path = write(tmp_path, text)
    with pytest.raises(SceneError) as info:
        load_scene(path)
    message = str(info.value)
    assert message.startswith(f"{path}: {key}: "), message
    assert expected in message
    assert "\n" not in message


def test_not_toml_and_missing_file(tmp_path):
    with pytest.raises(SceneError, match=r"x\.toml: not valid TOML .*line 1"):
        load_scene(write(tmp_path, "[city\n"))
    with pytest.raises(SceneError, match="no such scene file"):
        load_scene(tmp_path / "absent.toml")


def test_scene_error_is_a_value_error(tmp_path):
    with pytest.raises(ValueError):
        load_scene(write(tmp_path, "nonsense = 1"))


def test_shipped_demo_scene_matches_the_builtin_demo():
    cfg = load_scene(ROOT / "scenes" / "demo.toml", check_files=False)
    demo = SceneConfig.demo()
    assert cfg.city.demo == demo.city.demo
    assert cfg.bookmarks == demo.bookmarks
    assert cfg.tour.order == demo.tour.order
    assert cfg.default_quantity == demo.default_quantity
    assert cfg.registry.resolve() == demo.registry.resolve()
    assert cfg.simulator == demo.simulator
    assert cfg.title == demo.title


def test_shipped_planner_template_parses():
    cfg = load_scene(ROOT / "scenes" / "ludwigshafen.toml", check_files=False)
    assert cfg.city.path.name == "ludwigshafen.parquet"
    assert cfg.feeds and cfg.feeds[0].format == "ttn" and cfg.feeds[0].qos == 0
    assert cfg.simulator is None
    assert [b.name for b in cfg.tour_bookmarks()] == ["overview", "rathaus"]


# Any value at any key either parses or raises SceneError naming the file: never another
# exception type (which the CLI would show as a traceback).
_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-10, 10**6)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)
_keys = st.sampled_from(
    [
        ("styles", "co2", "range"), ("styles", "co2", "colormap"), ("styles", "co2", "label"),
        ("styles", "x", "unit"), ("styles", "co2", "thresholds"), ("styles", "co2", "max_age"),
        ("bookmarks", 0, "position"), ("bookmarks", 0, "name"), ("bookmarks", 0, "caption"),
        ("tour", "order"), ("tour", "seconds_per_stop"), ("feeds", 0, "url"), ("feeds", 0, "qos"),
        ("feeds", 0, "topics"), ("simulator", "speedup"), ("city", "demo"), ("title",),
        ("language",), ("binding", "max_distance"), ("database",), ("default_quantity",),
    ]
)  # fmt: skip


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(path=_keys, value=_values)
def test_fuzzed_values_raise_only_scene_errors(path, value):
    data: dict = {"city": {"demo": {}}}
    if path[0] == "bookmarks":
        data["bookmarks"] = [{"name": "a", "position": [0, 0, 1], "focal_point": [0, 0, 0]}]
    if path[0] == "feeds":
        data["feeds"] = [{"url": "mqtt://x", "topics": ["t"]}]
    node = data
    for key in path[:-1]:
        if isinstance(key, int):
            node = node[key]
        else:
            node = node.setdefault(key, {})
    node[path[-1]] = value
    try:
        parse_scene(data, Path("fuzz.toml"), check_files=False)
    except SceneError as err:
        assert str(err).startswith("fuzz.toml: ") and "\n" not in str(err)
