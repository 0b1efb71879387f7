"""State tests of the app without a server: the trame state reacts as the page expects."""

from __future__ import annotations

import time

import numpy as np
import pytest
from vtkmodules.vtkRenderingCore import vtkCoordinate

from twin.app.app import TIME_STEPS
from twin.scene.i18n import t


def _display(app, point) -> tuple[float, float]:
    coord = vtkCoordinate()
    coord.SetCoordinateSystemToWorld()
    coord.SetValue(*point)
    x, y = coord.GetComputedDoubleDisplayValue(app.plotter.renderer)
    return x, y


def _colors(app) -> np.ndarray:
    return np.asarray(app.twin.mesh.cell_data["colors"]).copy()


def test_initial_state_has_legend_labels_and_synthetic_flag(app):
    s = app.state
    assert s.lang == "de"
    assert s.labels["app.synthetic"] == "Synthetische Demo-Stadt (generiert, keine echten Daten)"
    assert s.synthetic is True
    assert s.legend["title"].startswith(app.twin.style.label("de"))
    assert s.legend["gradient"].startswith("linear-gradient")
    assert {i["value"] for i in s.quantity_items} >= {"co2", "temperature"}


def test_quantity_change_updates_legend_and_colours(app):
    s = app.state
    s.quantity = "co2"
    s.flush()
    assert "ppm" in s.legend["title"]
    assert s.legend["thresholds"], "CO2 has thresholds the legend must mark"
    co2_colors = _colors(app)
    s.quantity = "temperature"
    s.flush()
    assert app.twin.quantity == "temperature"
    assert "°C" in s.legend["title"]
    # other sensors, other buildings coloured: the mesh's colours changed in place
    assert not np.array_equal(co2_colors, _colors(app))


def test_language_switch_changes_labels_and_legend(app):
    s = app.state
    s.quantity = "temperature"
    s.flush()
    s.lang = "en"
    s.flush()
    assert s.labels["app.live"] == t("app.live", "en")
    assert s.labels["app.synthetic"] == "Synthetic demo city (generated, not real data)"
    assert s.title == app.twin.config.title_in("en")
    assert s.legend["title"].startswith("Temperature")
    s.simple = True
    s.flush()
    assert s.labels["card.building"] == t("card.building", "en", simple=True) == "House"
    s.lang, s.simple = "de", False
    s.flush()
    assert s.labels["card.building"] == "Gebäude"


def test_pick_on_rendered_building_opens_its_card(app):
    twin = app.twin
    row = int(np.flatnonzero(twin.city.buildings["id"].to_numpy() == "demo/rathaus")[0])
    top = np.asarray(twin.building_position(row))
    mesh = twin.mesh
    roof = np.flatnonzero(
        (np.asarray(mesh.cell_data["building"]) == row)
        & (np.asarray(mesh.cell_data["surface"]) == 2)
    )
    corners = mesh.extract_cells(roof).points
    # towards the roof corner farthest from the sensor glyph on the roof's centre
    target = corners[np.argmax(np.hypot(*(corners[:, :2] - top[:2]).T))]
    inner = top + 0.7 * (target - top)
    app.plotter.camera_position = [
        (inner[0] - 100.0, inner[1] - 140.0, inner[2] + 300.0),
        tuple(inner),
        (0.0, 0.0, 1.0),
    ]
    app.plotter.render_window.Render()
    x, y = _display(app, inner)
    hit = app.select_at(x, y)
    assert hit.kind == "building"
    assert app.state.card["id"] == "demo/rathaus"
    assert app.state.card["kind"] == "building"
    labels = [f["label"] for f in app.state.card["fields"]]
    assert t("card.height", "de") in labels and t("card.height_source", "de") in labels
    # a click on the sky closes the card
    app.select_at(2, app.plotter.window_size[1] - 2)
    assert app.state.card is None


def test_click_after_drag_is_ignored(app):
    app.state.card = None
    w, h = app.plotter.window_size
    app.on_click({"position": {"x": w / 2, "y": h / 2}, "size": [w, h], "moved": 40})
    assert app.state.card is None


def test_device_card_and_table_selection(app):
    device = str(app.twin.devices["device"].iloc[0])
    app.select_sensor(device)
    assert app.state.selected_device == device
    assert app.state.card["kind"] == "device"
    assert app.state.card["id"] == device
    labels = [f["label"] for f in app.state.card["fields"]]
    assert t("device.last_seen", "de") in labels


def test_sensor_table_follows_the_camera(app):
    app.reset_camera()
    app.tick(app._flight.t0 + 10.0)  # finish the flight
    everything = len(app.state.sensors)
    assert everything > 0
    # look at empty sky far away: no sensor in view
    app.plotter.camera_position = [(0, 0, 90000.0), (0, 0, 100000.0), (0, 1, 0)]
    app._update_table()
    assert app.state.sensors == []


def test_time_slider_shows_the_past_and_live_snaps_back(app):
    s = app.state
    s.quantity = "co2"
    s.flush()
    bounds = app.twin.time_range()
    if bounds is None:
        pytest.fail("the demo store has no history (the simulator backfills 24 h)")
    live_colors = _colors(app)
    s.time_pos = 0
    s.flush()
    assert s.live is False
    assert app.twin.time is not None
    assert s.time_label != t("app.live", "de")
    past_colors = _colors(app)
    assert not np.array_equal(live_colors, past_colors)
    app.go_live()
    s.flush()
    assert s.live is True and app.twin.time is None and s.time_pos == TIME_STEPS


def test_play_advances_time(app):
    s = app.state
    s.time_pos = 0
    s.flush()
    app.toggle_play()
    assert s.playing is True
    app.tick(1000.0)
    s.flush()
    assert 0 < s.time_pos < TIME_STEPS
    app.toggle_play()
    assert s.playing is False
    app.go_live()
    s.flush()


def test_search_flies_to_a_landmark(app):
    s = app.state
    s.search_text = "Rathaus"
    app.search()
    assert s.search_results, "the demo city has a Rathaus"
    before = app.plotter.camera.focal_point
    app.goto_result(0)
    app.tick(app._flight.t0 + 10.0)
    assert app.plotter.camera.focal_point != before
    assert app.state.card is not None


def test_database_error_shows_a_banner_and_recovers(app, monkeypatch):
    def broken():
        raise OSError("database is locked")

    monkeypatch.setattr(app.twin, "refresh", broken)
    app.refresh(force=True)
    assert app.state.banner == t("error.database", "de")
    monkeypatch.undo()
    app.refresh(force=True)
    assert app.state.banner == ""


def test_lost_feed_shows_a_banner_until_it_is_back(app, monkeypatch):
    feeds = [{"url": "mqtt://broker", "connected": False, "refused": None}]
    monkeypatch.setattr(app.twin, "status", lambda: {"database": True, "feeds": feeds})
    app._update_panels()
    assert app.state.banner == t("error.feed", "de")
    feeds[0]["connected"] = True
    app._update_panels()
    assert app.state.banner == ""


def test_kiosk_tour_advances_without_input(demo_twin):
    from twin.app.app import TwinApp

    kiosk = TwinApp(demo_twin, kiosk=True, tour_seconds=5, idle_resume=60)
    kiosk.start_state()
    try:
        kiosk.tick(100.0)
        first = kiosk.state.caption
        assert first
        kiosk.tick(106.0)
        second = kiosk.state.caption
        assert second and second != first
        assert kiosk.state.tour_stops == 2
        kiosk.user_input()  # pauses the tour ...
        kiosk.tour.user_input(107.0)
        kiosk.tick(120.0)
        assert kiosk.state.caption == second
        kiosk.tick(170.0)  # ... and it resumes after 60 s without input
        assert kiosk.state.caption != second
    finally:
        kiosk.plotter.close()


def test_new_reading_recolours_its_building_within_a_second(app):
    from datetime import UTC, datetime

    from twin.scene.styles import colors
    from twin.sensors.model import Message, Reading

    s = app.state
    s.quantity = "co2"
    s.flush()
    twin = app.twin
    device = "ls-co2-rathaus-ratssaal"
    row = int(twin.binding.loc[twin.binding["device"] == device, "row"].iloc[0])
    cells = np.flatnonzero(np.asarray(twin.mesh.cell_data["building"]) == row)
    expected = colors(np.array([1990.0]), twin.style)[0]
    now = datetime.now(UTC)
    message = Message(
        topic=f"v3/demo@ttn/devices/{device}/up",
        format="ttn",
        kind="uplink",
        device_id=device,
        time=now,
        received_at=now,
        readings=[Reading("co2", 1990.0, "ppm")],
    )
    app.tick()  # settle: panels run on their own 3 s cadence, not inside the measurement
    committed: list[float] = []
    twin.add_listener(lambda *_: committed.append(time.monotonic()))
    started = time.monotonic()
    twin.writer.submit(message)
    shown = None
    while time.monotonic() < started + 5.0:
        app.tick()
        rgb = np.asarray(twin.mesh.cell_data["colors"])[cells[0], :3]
        if np.array_equal(rgb, expected[:3]):
            shown = time.monotonic()
            break
        time.sleep(0.01)  # poll with a deadline, not a sleep as synchronisation
    assert shown is not None, "the reading never coloured its building"
    assert np.array_equal(
        np.asarray(twin.mesh.cell_data["colors"])[cells, :3], np.tile(expected[:3], (len(cells), 1))
    )
    # from the store commit (the reading has arrived) to the building's new colour: the
    # app's part of the chain; the end-to-end MQTT -> browser time is test_browser_mqtt's
    after_commit = shown - committed[0]
    assert after_commit < 1.0, (
        f"shown {after_commit:.2f} s after the commit ({shown - started:.2f} s after submit)"
    )


@pytest.mark.slow
def test_kiosk_ticks_do_not_grow_memory(demo_twin):
    """Hours of kiosk ticks (tour, panels, refresh) keep the Python heap flat."""
    import gc
    import tracemalloc

    from twin.app.app import PANEL_SECONDS, TwinApp

    kiosk = TwinApp(demo_twin, kiosk=True, tour_seconds=6, idle_resume=60)
    kiosk.start_state()
    try:
        now = 1000.0

        def run(ticks: int) -> None:
            nonlocal now
            for _ in range(ticks):
                now += PANEL_SECONDS  # every tick also updates the panels
                kiosk.tick(now)
                kiosk.state.flush()

        run(40)  # warm caches (search index, style tables, trame state keys)
        gc.collect()
        tracemalloc.start()
        first, _ = tracemalloc.get_traced_memory()
        run(120)  # 6 simulated minutes: 60 tour stops, 120 panel updates
        gc.collect()
        last, _ = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert kiosk.tour.stops > 60
        assert last - first < 512 * 1024, f"heap grew by {(last - first) / 1024:.0f} KiB"
    finally:
        kiosk.plotter.close()


def test_click_on_a_sensor_glyph_opens_the_device_card(app):
    twin = app.twin
    i = int(np.flatnonzero(twin.devices["device"].to_numpy() == "ls-co2-rathaus-ratssaal")[0])
    glyph = np.asarray(twin.device_positions()[i])
    app.plotter.camera_position = [
        (glyph[0] - 60.0, glyph[1] - 80.0, glyph[2] + 120.0),
        tuple(glyph),
        (0.0, 0.0, 1.0),
    ]
    app.plotter.render_window.Render()
    hit = app.select_at(*_display(app, glyph))
    assert hit.kind == "sensor"
    assert app.state.card["kind"] == "device"
    assert app.state.card["id"] == "ls-co2-rathaus-ratssaal"
    labels = [f["label"] for f in app.state.card["fields"]]
    assert t("device.last_seen", "de") in labels
    if twin.device_card("ls-co2-rathaus-ratssaal")["rssi"] is not None:
        assert t("device.rssi", "de") in labels  # radio data, when the store has it
    assert app.state.selected_device == "ls-co2-rathaus-ratssaal"


def test_kiosk_caption_values_belong_to_the_new_stop(demo_twin):
    from twin.app import panels
    from twin.app.app import TwinApp

    kiosk = TwinApp(demo_twin, kiosk=True, tour_seconds=5, idle_resume=60)
    kiosk.start_state()
    try:
        captions = []
        for k in range(len(kiosk.tour.tour.bookmarks)):
            now = 100.0 + 6.0 * k
            kiosk._last_panel = now  # no panel update in this tick: the stop change must do it
            kiosk.tick(now)
            stop = kiosk.tour.current
            expected = panels.values_near(demo_twin, stop.focal_point, kiosk.state.lang)
            # the sensors named, not their values: the live simulator may publish in between
            shown = tuple(v.rsplit(": ", 1)[0] for v in kiosk.state.caption_values)
            near = tuple(v.rsplit(": ", 1)[0] for v in expected)
            assert shown == near, kiosk.state.caption
            captions.append((kiosk.state.caption, near))
        # the stops show different values: a stale list from the previous stop would fail above
        assert len({values for _, values in captions}) > 1
    finally:
        kiosk.plotter.close()


def test_local_colour_patch_carries_exactly_the_changed_cells(app):
    """LocalView's patches, applied to what the browser had, give the mesh's new colours."""
    from twin.app import local_view

    view = local_view.LocalView(app.plotter)
    s = app.state
    s.quantity = "co2"
    s.flush()
    view._remember()  # what a browser has after a full update
    before = {k: v.copy() for k, v in view._sent.items()}
    assert view.colour_patch() == []  # nothing changed: nothing to send
    # one building takes a new colour, as a reading would paint it
    mesh = app.twin.mesh
    colors = np.asarray(mesh.cell_data["colors"])
    row = int(np.flatnonzero(app.twin.city.buildings["id"].to_numpy() == "demo/rathaus")[0])
    cells = np.flatnonzero(np.asarray(mesh.cell_data["building"]) == row)
    colors[cells] = (200, 10, 10, 255)
    patches = view.colour_patch()
    assert len(patches) == 1
    patch = patches[0]
    sent = np.frombuffer(patch["cells"], dtype="<i4")
    np.testing.assert_array_equal(np.sort(sent), cells)
    browser = before[patch["id"]].copy()
    browser[sent] = np.frombuffer(patch["rgba"], dtype=np.uint8).reshape(-1, 4)
    np.testing.assert_array_equal(browser, colors)
    assert len(patch["rgba"]) + len(patch["cells"]) == 8 * len(cells)  # 8 bytes per cell
    # a quantity switch recolours only the buildings with sensors: still a small patch
    s.quantity = "temperature"
    s.flush()
    switched = {p["id"]: p for p in view.colour_patch()}
    assert 0 < len(switched[patch["id"]]["cells"]) < 0.25 * 4 * len(colors)
    # when most cells change (a new colour map for every building), the whole array goes
    colors[:, 0] ^= 0xFF
    whole = {p["id"]: p for p in view.colour_patch()}
    assert whole[patch["id"]]["cells"] is None
    np.testing.assert_array_equal(
        np.frombuffer(whole[patch["id"]]["rgba"], dtype=np.uint8).reshape(-1, 4), colors
    )
    colors[:, 0] ^= 0xFF
    s.quantity = "co2"
    s.flush()
    app.refresh(force=True)


def test_local_pick_maps_a_glyph_point_to_its_sensor(app):
    from twin.app import picking
    from twin.scene.render import GLYPH_RADIUS

    twin = app.twin
    ids = picking.object_ids(app.plotter)
    sensor_id = next(k for k, v in ids.items() if v == "sensor")
    building_id = next(k for k, v in ids.items() if v == "building")
    i = int(np.flatnonzero(twin.devices["device"].to_numpy() == "ls-co2-rathaus-ratssaal")[0])
    centre = np.asarray(twin.device_positions()[i])
    on_glyph = centre + np.array([0.0, 0.0, GLYPH_RADIUS])  # the top of the sphere
    hit = picking.pick_local(twin, {"remoteId": sensor_id, "worldPosition": list(on_glyph)}, ids)
    assert hit.kind == "sensor" and hit.device == "ls-co2-rathaus-ratssaal"
    row = int(np.flatnonzero(twin.city.buildings["id"].to_numpy() == "demo/rathaus")[0])
    roof = twin.building_position(row)
    hit = picking.pick_local(twin, {"remoteId": building_id, "worldPosition": list(roof)}, ids)
    assert hit.kind == "building" and hit.row == row
    assert picking.pick_local(twin, None, ids).kind == "none"
    ground = {"remoteId": "not-a-building", "worldPosition": list(roof)}
    assert picking.pick_local(twin, ground, ids).kind == "other"  # a context layer
    app.close_card()
    assert picking.select_local(app, {"remoteId": sensor_id, "worldPosition": list(on_glyph)})
    assert app.state.card["id"] == "ls-co2-rathaus-ratssaal"
    dragged = picking.select_local(app, {"remoteId": building_id, "worldPosition": list(roof)}, 40)
    assert dragged.kind == "none" and app.state.card["id"] == "ls-co2-rathaus-ratssaal"


def test_browser_camera_drives_the_sensor_table(app):
    from twin.app import local_view

    view = local_view.LocalView(app.plotter, on_camera=app.on_camera)
    app.reset_camera()
    app.tick(app._flight.t0 + 10.0)
    everything = len(app.state.sensors)
    assert everything > 0
    # the browser looks at empty sky: the table empties, and no camera goes back to it
    view.sync_camera(
        {"position": [0, 0, 90000.0], "focalPoint": [0, 0, 100000.0], "viewUp": [0, 1, 0]},
        [800, 600],
    )
    assert app.state.sensors == []
    assert tuple(app.plotter.window_size) == (800, 600)
    assert view._pose() == view._browser_camera  # push_camera would send nothing
