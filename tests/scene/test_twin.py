"""The Twin on a small generated city with a real DuckDB store and Writer under tmp_path."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from twin.errors import SceneError
from twin.geodata.demo import generate_city
from twin.scene.config import SceneConfig
from twin.scene.painter import COLOR_ARRAY
from twin.scene.services import Services
from twin.scene.styles import NEUTRAL_RGB, NO_DATA_RGB, STALE_RGB, colors
from twin.scene.twin import Twin
from twin.sensors.model import Message, Reading
from twin.sensors.registry import Registry
from twin.sensors.store import Store
from twin.sensors.writer import Writer

ROOT = Path(__file__).resolve().parents[2]
REGISTRY = ROOT / "sensors" / "devices.toml"


@pytest.fixture(scope="module")
def city():
    return generate_city(buildings=500, seed=0)


@pytest.fixture
def twin(city, tmp_path):
    registry = Registry.load(REGISTRY)
    store = Store(tmp_path / "twin.duckdb")
    store.upsert_devices(registry)
    services = Services(store=store, writer=Writer(store), registry=registry)
    tw = Twin(
        city, store, config=SceneConfig.demo(buildings=500), registry=registry, services=services
    )
    yield tw
    tw.close()


_fcnt = iter(range(1, 1_000_000))


def send(tw: Twin, device: str, values: dict[str, float | str], t: datetime | None = None) -> None:
    """Write one uplink through the real Writer (units as the decoder takes them from the
    registry) and wait until it is committed."""
    t = t or datetime.now(UTC)
    spec = tw.registry.lookup(device_id=device).quantities
    readings = []
    for q, v in values.items():
        unit = spec[q].unit if q in spec else ""
        if isinstance(v, str):
            readings.append(Reading(q, None, unit, v))
        else:
            readings.append(Reading(q, float(v), unit))
    msg = Message(
        topic=f"v3/test@ttn/devices/{device}/up",
        format="ttn",
        kind="uplink",
        device_id=device,
        time=t,
        received_at=t,
        f_cnt=next(_fcnt),
        rssi=-97.0,
        snr=4.5,
        readings=readings,
    )
    tw.writer.submit(msg)
    assert tw.writer.flush(10.0)


def row_of(tw: Twin, building_id: str) -> int:
    return int(np.flatnonzero(tw.city.buildings["id"].to_numpy() == building_id)[0])


def cell_colors(tw: Twin, row: int) -> np.ndarray:
    cells = np.flatnonzero(np.asarray(tw.mesh.cell_data["building"]) == row)
    assert len(cells)
    rgba = np.asarray(tw.mesh.cell_data[COLOR_ARRAY])[cells]
    assert (rgba == rgba[0]).all()  # one colour per building
    return rgba[0, :3]


def test_devices_are_bound_to_the_landmarks(twin):
    b = twin.binding.set_index("device")
    assert b.loc["ls-co2-schule-mitte", "row"] == row_of(twin, "demo/schule-mitte")
    assert b.loc["ls-co2-schule-mitte", "how"] == "explicit"
    assert b.loc["ls-park-rathaus-center", "row"] == row_of(twin, "demo/parkhaus-rathaus")
    assert twin.glyphs.n_cells and len(np.unique(twin.glyphs.cell_data["device"])) == len(b)


def test_set_quantity_colours_the_bound_buildings_in_place(twin):
    school, library = row_of(twin, "demo/schule-mitte"), row_of(twin, "demo/stadtbibliothek")
    array_before = twin.mesh.GetCellData().GetArray(COLOR_ARRAY)
    send(twin, "ls-co2-schule-mitte", {"co2": 1800.0, "temperature": 27.5})
    send(twin, "ls-co2-stadtbibliothek", {"co2": 450.0, "temperature": 19.0})
    twin.set_quantity("co2")
    assert twin.refresh()
    assert cell_colors(twin, school).tolist() == colors([1800.0], twin.styles["co2"])[0].tolist()
    assert cell_colors(twin, library).tolist() == colors([450.0], twin.styles["co2"])[0].tolist()
    # a CO2 device without a reading: no-data colour; a building without sensors: neutral
    assert cell_colors(twin, row_of(twin, "demo/schule-nord")).tolist() == list(NO_DATA_RGB)
    neutral = row_of(twin, "demo/hallenbad")  # energy only
    assert cell_colors(twin, neutral).tolist() == list(NEUTRAL_RGB)
    assert not twin.refresh()  # nothing new: nothing changes
    twin.set_quantity("temperature")
    assert twin.refresh()
    temp = twin.styles["temperature"]
    assert cell_colors(twin, school).tolist() == colors([27.5], temp)[0].tolist()
    assert twin.mesh.GetCellData().GetArray(COLOR_ARRAY) is array_before  # same VTK array
    leg = twin.legend("en")
    assert leg["title"] == "Temperature" and leg["unit"] == "°C"


def test_store_quantity_names_and_units_pick_the_style(twin):
    send(twin, "ls-energy-rathaus", {"power": 150.0, "energy": 123456.0})  # kW and a kWh meter
    send(twin, "ls-energy-hallenbad", {"power": 20.0})
    twin.set_quantity("energy")
    twin.refresh()
    rathaus = row_of(twin, "demo/rathaus")
    assert cell_colors(twin, rathaus).tolist() == colors([150.0], twin.styles["energy"])[0].tolist()
    with pytest.raises(SceneError, match="unknown quantity 'radon'"):
        twin.set_quantity("radon")
    twin.set_quantity("laeq")  # a store name maps to its style
    assert twin.quantity == "noise"


def test_text_values_and_stale_readings(twin):
    feuerwache = row_of(twin, "demo/feuerwache")
    send(twin, "ls-feuerwehr-ausfahrt", {"blocked": 1.0, "status": "blocked"})
    twin.set_quantity("access_road")
    twin.refresh()
    blocked = colors([1.0], twin.styles["access_road"])[0].tolist()
    assert cell_colors(twin, feuerwache).tolist() == blocked
    old = datetime.now(UTC) - timedelta(hours=3)  # CO2 max_age is 30 min
    send(twin, "ls-co2-schule-west", {"co2": 900.0}, t=old)
    twin.set_quantity("co2")
    twin.refresh()
    assert cell_colors(twin, row_of(twin, "demo/schule-west")).tolist() == list(STALE_RGB)


def test_a_reading_written_through_the_writer_shows_up_in_refresh(twin):
    school = row_of(twin, "demo/schule-mitte")
    twin.set_quantity("co2")
    send(twin, "ls-co2-schule-mitte", {"co2": 500.0})
    twin.refresh()
    committed = threading.Event()
    twin.add_listener(lambda info: committed.set())
    assert not twin.has_new_data
    t = datetime.now(UTC) + timedelta(seconds=1)
    twin.writer.submit(
        Message(
            topic="t", format="ttn", kind="uplink", device_id="ls-co2-schule-mitte", time=t,
            received_at=t, f_cnt=next(_fcnt), readings=[Reading("co2", 1950.0, "ppm")],
        )
    )  # fmt: skip
    assert committed.wait(10.0)  # the writer's listener fires after the commit
    assert twin.has_new_data
    assert twin.refresh()
    assert not twin.has_new_data
    assert cell_colors(twin, school).tolist() == colors([1950.0], twin.styles["co2"])[0].tolist()
    glyph = int(np.flatnonzero(twin.devices["device"] == "ls-co2-schule-mitte")[0])
    cells = np.flatnonzero(np.asarray(twin.glyphs.cell_data["device"]) == glyph)
    glyph_rgb = np.asarray(twin.glyphs.cell_data[COLOR_ARRAY])[cells[0], :3]
    assert glyph_rgb.tolist() == colors([1950.0], twin.styles["co2"])[0].tolist()


def test_devices_missing_from_the_registry_are_found_in_the_store(twin):
    import pyproj

    to_wgs84 = pyproj.Transformer.from_crs("EPSG:25832", "EPSG:4326", always_xy=True)
    lon, lat = to_wgs84.transform(458600.0, 5482300.0)  # inside the Gymnasium Nord
    t = datetime.now(UTC)
    glyphs = twin.glyphs
    n_cells = glyphs.n_cells
    twin.writer.submit(
        Message(
            topic="t", format="ttn", kind="uplink", device_id="new-co2-sensor", time=t,
            received_at=t, f_cnt=1, location=(lat, lon, None),
            readings=[Reading("co2", 1500.0, "ppm")],
        )
    )  # fmt: skip
    assert twin.writer.flush(10.0)
    twin.set_quantity("co2")
    twin.refresh()
    bound = twin.binding.set_index("device").loc["new-co2-sensor"]
    assert bound["how"] == "inside" and bound["row"] == row_of(twin, "demo/schule-nord")
    assert (
        cell_colors(twin, int(bound["row"])).tolist()
        == colors([1500.0], twin.styles["co2"])[0].tolist()
    )
    assert twin.glyphs is glyphs and glyphs.n_cells > n_cells  # same object, one more sphere
    assert twin.search("new-co2")[0]["device"] == "new-co2-sensor"


def test_set_time_shows_the_city_as_of_then(twin):
    school = row_of(twin, "demo/schule-mitte")
    t1 = datetime.now(UTC) - timedelta(hours=2)
    t2 = datetime.now(UTC) - timedelta(minutes=1)
    send(twin, "ls-co2-schule-mitte", {"co2": 420.0}, t=t1)
    send(twin, "ls-co2-schule-mitte", {"co2": 1900.0}, t=t2)
    twin.set_quantity("co2")
    twin.set_time(t1 + timedelta(minutes=5))
    twin.refresh()
    assert cell_colors(twin, school).tolist() == colors([420.0], twin.styles["co2"])[0].tolist()
    twin.set_time(t1 - timedelta(minutes=5))  # before any reading: no data
    twin.refresh()
    assert cell_colors(twin, school).tolist() == list(NO_DATA_RGB)
    twin.set_time(None)
    twin.refresh()
    assert cell_colors(twin, school).tolist() == colors([1900.0], twin.styles["co2"])[0].tolist()
    lo, hi = twin.time_range()
    assert abs((lo - t1).total_seconds()) < 1 and abs((hi - t2).total_seconds()) < 1


def test_building_card(twin):
    t0 = datetime.now(UTC) - timedelta(hours=3)
    for i in range(4):
        send(twin, "ls-co2-schule-mitte", {"co2": 500.0 + 100 * i}, t=t0 + timedelta(hours=i))
    row = row_of(twin, "demo/schule-mitte")
    card = twin.building_card(row, "de")
    assert card["id"] == "demo/schule-mitte" and card["name"] == "Grundschule Mitte"
    assert card["height_source"] in ("levels", "default", "measured", "geometry")
    assert card["height_source_text"] and card["height"] > 0
    devices = {s["device"]: s for s in card["sensors"]}
    assert set(devices) >= {"ls-co2-schule-mitte", "ls-energy-schule-mitte"}
    co2 = next(r for r in devices["ls-co2-schule-mitte"]["readings"] if r["key"] == "co2")
    assert co2["value"] == 800.0 and co2["display"] == "800 ppm" and co2["unit"] == "ppm"
    series = next(s for s in card["history"] if s["quantity"] == "co2")
    assert series["values"] == [500.0, 600.0, 700.0, 800.0]
    assert len(series["times"]) == 4 and series["times"][0].endswith("Z")
    assert card["synthetic"] is True
    en = twin.building_card(row, "en")
    assert en["height_source_text"] != card["height_source_text"]
    with pytest.raises(SceneError):
        twin.building_card(10**7)


def test_device_card_and_sensor_table(twin):
    send(twin, "ls-pegel-rhein", {"water_level": 412.0, "water_temperature": 9.5})
    card = twin.device_card("ls-pegel-rhein", "en")
    assert card["name"] == "Rheinpegel Ludwigshafen"
    assert card["rssi"] == -97.0 and card["snr"] == 4.5
    level = next(r for r in card["readings"] if r["key"] == "water_level")
    assert level["value"] == 412.0 and level["display"] == "412 cm"
    assert card["last_seen"] is not None
    with pytest.raises(SceneError):
        twin.device_card("nope")
    twin.set_quantity("water_level")
    table = twin.sensors_table("en")
    assert len(table) == len(twin.devices)
    assert table[0]["device"] == "ls-pegel-rhein" and table[0]["value"] == 412.0
    only = twin.sensors_table("en", devices=["ls-pegel-rhein"])
    assert [r["device"] for r in only] == ["ls-pegel-rhein"]


def test_cards_survive_an_unavailable_database(twin):
    from twin.errors import StoreError

    twin.close()  # stops the writer and closes the store
    assert twin.status()["database"] is False
    card = twin.building_card(row_of(twin, "demo/schule-mitte"))
    assert card["id"] == "demo/schule-mitte"
    assert card["sensors"] and all(s["readings"] == [] for s in card["sensors"])
    assert card["history"] == []
    assert twin.device_card("ls-pegel-rhein")["readings"] == []
    with pytest.raises(StoreError):
        twin.refresh()


def test_ui_data_is_strict_json(twin):
    import json

    send(twin, "ls-co2-schule-mitte", {"co2": 700.0, "temperature": 21.0, "humidity": 40.0})
    send(twin, "ls-pegel-rhein", {"water_level": 400.0})
    twin.set_quantity("co2")
    twin.refresh()
    data = {
        "card": twin.building_card(row_of(twin, "demo/schule-mitte"), "de"),
        "unbound": twin.device_card("ls-pegel-rhein", "en"),
        "table": twin.sensors_table("de"),
        "legend": twin.legend("de"),
        "search": twin.search("schule"),
        "quantities": twin.quantities("en"),
        "status": twin.status(),
    }
    json.dumps(data, allow_nan=False)  # no NaN, no numpy scalars, no timestamps


def test_search_finds_landmarks_streets_and_devices(twin):
    hits = twin.search("rathaus")
    assert hits[0]["kind"] == "building" and hits[0]["row"] == row_of(twin, "demo/rathaus")
    assert len(hits[0]["position"]) == 3
    assert all(type(v) is float for v in hits[0]["position"])  # JSON-ready
    street = twin.search("Schulstr")
    assert street and street[0]["kind"] == "street" and street[0]["label"] == "Schulstraße"
    dev = twin.search("rheinpegel")
    assert dev[0]["kind"] == "device" and dev[0]["device"] == "ls-pegel-rhein"
    assert twin.search("") == [] and twin.search("zzzz-nothing") == []
    assert twin.search("'; DROP TABLE readings; --") == []  # plain text, never SQL


def test_pick_helpers(twin):
    row = row_of(twin, "demo/rathaus")
    x, y, z = twin.building_position(row)
    assert twin.pick(x, y, z) == row
    assert twin.pick(1e6, 1e6) is None
    cell = int(np.flatnonzero(np.asarray(twin.mesh.cell_data["building"]) == row)[0])
    assert twin.row_at_cell(cell) == row
    assert twin.device_at_cell(0) == twin.devices["device"].iat[0]


def test_plotter_renders_buildings_with_few_actors(twin):
    send(twin, "ls-co2-rathaus-ratssaal", {"co2": 1990.0})
    twin.set_quantity("co2")
    twin.refresh()
    pl = twin.plotter(off_screen=True, window_size=(640, 400))
    try:
        names = set(pl.actors)
        assert "buildings" in names and "sensors" in names
        assert {"context-ground", "context-river", "context-street"} <= names
        assert len(names) <= 8  # never one actor per building
        assert pl.actors["buildings"].mapper.dataset is twin.mesh  # colours reach the actor
        pl.camera_position = twin.bookmarks[1].camera_position()  # the Rathaus
        pl.render()
        with_buildings = pl.screenshot(return_img=True)
        pl.actors["buildings"].visibility = False
        pl.render()
        without = pl.screenshot(return_img=True)
    finally:
        pl.close()
    differs = np.abs(with_buildings.astype(int) - without.astype(int)).sum(axis=2) > 30
    assert differs.mean() > 0.02, f"only {differs.mean():.1%} of pixels show buildings"
    red = colors([1990.0], twin.styles["co2"])[0].astype(
        int
    )  # the Rathaus in its CO2 colour, shaded
    close = (np.abs(with_buildings[..., :3].astype(int) - red) < 60).all(axis=2)
    assert close.sum() > 100


def test_show_checks_the_bookmark_name(twin):
    with pytest.raises(SceneError, match="unknown bookmark 'nowhere'"):
        twin.show(camera="nowhere", off_screen=True)
    twin.show(camera="rathaus", off_screen=True, window_size=(160, 100))  # renders, no error


def test_tour_over_the_scene_bookmarks_in_local_coordinates(twin):
    tour = twin.tour(clock=lambda: 0.0)
    first = tour.tick(0.0)
    assert first.name == "overview" and first.crs == "local"
    expected = np.subtract(SceneConfig.demo().bookmarks[0].focal_point, twin.city.origin)
    assert np.allclose(first.focal_point, expected)
    assert tour.tick(12.0).name == "rathaus"


def test_tiles_split_the_mesh_and_follow_colour_updates(twin):
    tiles = twin.tiles(9)
    assert 2 <= len(tiles) <= 9
    assert sum(t.n_cells for t in tiles) == twin.mesh.n_cells
    ids = np.concatenate([np.asarray(t.cell_data["cell_id"]) for t in tiles])
    assert np.array_equal(np.sort(ids), np.arange(twin.mesh.n_cells))
    send(twin, "ls-co2-schule-mitte", {"co2": 1700.0})
    twin.set_quantity("co2")
    twin.refresh()
    school = row_of(twin, "demo/schule-mitte")
    want = colors([1700.0], twin.styles["co2"])[0].tolist()
    seen = 0
    for t in tiles:
        rows = np.asarray(t.cell_data["building"])
        rgba = np.asarray(t.cell_data[COLOR_ARRAY])
        assert np.array_equal(
            rgba, np.asarray(twin.mesh.cell_data[COLOR_ARRAY])[t.cell_data["cell_id"]]
        )
        seen += int((rows == school).sum())
        assert (rgba[rows == school, :3] == want).all()
    assert seen > 0
    pl = twin.plotter(off_screen=True, window_size=(320, 200), tiles=9)
    try:
        assert sum(name.startswith("buildings-") for name in pl.actors) == len(tiles)
    finally:
        pl.close()
    assert len(twin.tiles(4)) <= 4
    assert len(twin.painter.targets) == 1 + len(twin.tiles(4))  # the old tiling is dropped


def test_close_stops_the_writer(city, tmp_path):
    registry = Registry.load(REGISTRY)
    store = Store(tmp_path / "db.duckdb")
    writer = Writer(store)
    tw = Twin(city, store, registry=registry, services=Services(store=store, writer=writer))
    tw.close()
    assert tw.writer is None
    tw.close()  # idempotent


def test_from_config_runs_the_demo_with_history(city):
    cfg = SceneConfig.demo(buildings=500)
    cfg.simulator.history_hours = 1
    with Twin.from_config(cfg, city=city) as tw:
        assert tw.wait_ready(120)
        status = tw.status()
        assert status["database"] and status["simulator"]["running"] and status["feeds"] == []
        assert status["writer"]["stored"] > 0
        lo, hi = tw.time_range()
        assert (hi - lo) >= timedelta(minutes=50)
        tw.set_quantity("co2")
        tw.refresh()
        assert {q["key"] for q in tw.quantities()} >= {"co2", "temperature", "water_level"}
        school = row_of(tw, "demo/schule-mitte")
        assert cell_colors(tw, school).tolist() not in (list(NEUTRAL_RGB), list(NO_DATA_RGB))
        db = tw.store.path
    assert not Path(db).exists()  # the demo's temporary database is removed
