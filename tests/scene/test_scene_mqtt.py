"""A planner's scene end to end: City file + MQTT feed (real mosquitto) → Twin colours."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest

from tests.sensors.conftest import MosquittoBroker
from twin.geodata.demo import generate_city
from twin.scene.config import load_scene
from twin.scene.painter import COLOR_ARRAY
from twin.scene.styles import color_codes
from twin.scene.twin import Twin
from twin.sensors.registry import Registry
from twin.sensors.simulator import Simulator

ROOT = Path(__file__).resolve().parents[2]
REGISTRY = ROOT / "sensors" / "devices.toml"


@pytest.mark.mqtt
@pytest.mark.slow
def test_scene_with_city_file_and_mqtt_feed(tmp_path):
    broker = MosquittoBroker(tmp_path / "broker").start()
    try:
        city_file = generate_city(buildings=400, seed=2).save(tmp_path / "city.parquet")
        (tmp_path / "pw").write_text("unused\n")
        scene = tmp_path / "scene.toml"
        scene.write_text(
            f"""
default_quantity = "co2"
registry = "{REGISTRY}"

[city]
path = "city.parquet"

[database]
path = "data/twin.duckdb"

[[feeds]]
url = "mqtt://127.0.0.1:{broker.port}"
topics = ["v3/+/devices/+/up"]
format = "ttn"
qos = 1
client_id = "twin-scene-test"
password_file = "pw"
""",
            encoding="utf-8",
        )
        cfg = load_scene(scene)
        assert cfg.city.path == city_file
        with Twin.from_config(cfg) as twin:
            (ingest,) = twin.ingests
            assert ingest.wait_connected(10.0)
            assert twin.status()["feeds"][0]["connected"]
            assert twin.status()["database"]
            assert (tmp_path / "data" / "twin.duckdb").exists()
            got = threading.Event()
            twin.add_listener(lambda info: got.set() if info.readings else None)
            sim = Simulator(Registry.load(REGISTRY), seed=3, rate=500.0)
            sent = sim.publish_mqtt(broker.url, count=2 * len(sim.devices), qos=1)
            assert sent["published"] == 2 * len(sim.devices)
            assert got.wait(15.0), "no reading arrived through the feed"
            deadline = time.monotonic() + 15.0
            while twin.store.latest("co2").empty or len(twin.store.latest("co2")) < 6:
                assert time.monotonic() < deadline, "CO2 readings missing"
                time.sleep(0.05)
            assert twin.refresh()
            latest = twin.store.latest("co2").set_index("device")
            row = int(np.flatnonzero(twin.city.buildings["id"] == "demo/schule-mitte")[0])
            cells = np.flatnonzero(np.asarray(twin.mesh.cell_data["building"]) == row)
            code = np.asarray(twin.mesh.cell_data[COLOR_ARRAY])[cells[0]].view(np.uint32)[0]
            value = latest.loc["ls-co2-schule-mitte", "value"]
            assert code == color_codes([value], twin.styles["co2"])[0]
        assert not ingest.connected  # close() stopped the feed
    finally:
        broker.stop()
