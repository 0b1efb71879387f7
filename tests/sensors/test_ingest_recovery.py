"""Nothing lost, nothing stored twice: broker restarts and a killed ingest process."""

from __future__ import annotations

import re
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.sensors.conftest import wait_until
from twin.sensors.ingest import Ingest
from twin.sensors.mqtt import Publisher, parse_url
from twin.sensors.simulator import SimMessage, Simulator
from twin.sensors.store import Store

pytestmark = [pytest.mark.mqtt, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 6, 15, 8, tzinfo=UTC).timestamp()
TOPIC = "v3/+/devices/+/up"


def _stored(store: Store) -> list[tuple[str, int, int]]:
    """(device, f_cnt, copies) of every stored uplink."""
    return (
        store.cursor()
        .execute(
            "SELECT d.device_id, r.f_cnt, count(*) FROM raw_messages r "
            "JOIN devices d USING (device) GROUP BY ALL"
        )
        .fetchall()
    )


def _count(store: Store) -> int:
    return store.cursor().execute("SELECT count(*) FROM raw_messages").fetchone()[0]


def _assert_each_once(store: Store, msgs: list[SimMessage], readings_per_msg: dict) -> None:
    stored = _stored(store)
    assert sorted((d, f) for d, f, _ in stored) == sorted((m.device_id, m.f_cnt) for m in msgs)
    assert max(n for _, _, n in stored) == 1
    n_readings = store.cursor().execute("SELECT count(*) FROM readings").fetchone()[0]
    assert n_readings == sum(readings_per_msg[m.device_id] for m in msgs)
    dupes = store.cursor().execute(
        "SELECT count(*) FROM (SELECT device, f_cnt, quantity FROM readings "
        "GROUP BY ALL HAVING count(*) > 1)"
    )
    assert dupes.fetchone()[0] == 0


class _PacedPublisher(threading.Thread):
    """Publishes messages at a steady pace from a thread; ``progress`` counts them."""

    def __init__(self, publisher: Publisher, msgs: list[SimMessage], rate: float) -> None:
        super().__init__(daemon=True)
        self.publisher = publisher
        self.msgs = msgs
        self.rate = rate
        self.progress = 0
        self.milestones: dict[int, threading.Event] = {}
        self.error: BaseException | None = None

    def at(self, n: int) -> threading.Event:
        return self.milestones.setdefault(n, threading.Event())

    def run(self) -> None:
        try:
            t0 = time.monotonic()
            for i, m in enumerate(self.msgs):
                ahead = t0 + i / self.rate - time.monotonic()
                if ahead > 0.005:
                    time.sleep(ahead)  # pacing the sender, not synchronising the test
                self.publisher.publish(m.topic, m.payload, qos=1)
                self.progress = i + 1
                if self.progress in self.milestones:
                    self.milestones[self.progress].set()
        except BaseException as err:
            self.error = err
            raise


@pytest.mark.parametrize("mosquitto", [{"persistence": True}], indirect=True)
def test_broker_restart_while_publishing_20000(mosquitto, tmp_path):
    n = 20_000
    sim = Simulator(seed=21)
    msgs = list(sim.stream(T0, rate=10.0, count=n, chunk=256))
    per_msg = {d.device_id: len(d.quantities) for d in sim.registry}
    store = Store(tmp_path / "restart.duckdb")
    ingest = Ingest(
        store,
        url=mosquitto.url,
        topics=[TOPIC],
        client_id="restart-ingest",
        reconnect_delay=(0.1, 1.0),
        stats_interval=0,
    )
    publisher = Publisher(
        parse_url(mosquitto.url, env={}),
        client_id="restart-publisher",
        clean_start=False,
        reconnect_delay=(0.1, 1.0),
    )
    try:
        ingest.start(wait=10)
        publisher.connect()
        sender = _PacedPublisher(publisher, msgs, rate=4000.0)
        third = sender.at(n // 3)
        sender.start()
        assert third.wait(60), "publisher stalled before the restart"
        mosquitto.stop()  # graceful: saves sessions, subscriptions and queued messages
        assert not mosquitto.running
        mosquitto.start()
        sender.join(120)
        assert not sender.is_alive() and sender.error is None
        assert publisher.flush(60), f"{publisher.outstanding} publishes never acknowledged"
        wait_until(lambda: _count(store) >= n, 60, f"{n} uplinks stored")
        assert ingest.writer.flush(10)
        stats = ingest.stop()
    finally:
        publisher.close(timeout=5)
        ingest.stop(flush_timeout=0)
    assert publisher.connects >= 2 and stats["connects"] >= 2  # both saw the restart
    _assert_each_once(store, msgs, per_msg)
    store.close()


def _last_received(log: Path) -> int:
    found = re.findall(r"ingest: received (\d+)", log.read_text(errors="replace"))
    return int(found[-1]) if found else 0


@pytest.mark.parametrize("mosquitto", [{}], indirect=True)
def test_ingest_process_killed_mid_stream(mosquitto, tmp_path):
    n = 8000
    sim = Simulator(seed=22)
    msgs = list(sim.stream(T0, rate=10.0, count=n, chunk=256))
    per_msg = {d.device_id: len(d.quantities) for d in sim.registry}
    db = tmp_path / "crash.duckdb"
    log = tmp_path / "ingest.log"
    cmd = [
        sys.executable, "-m", "twin", "-v", "ingest", "--mqtt", mosquitto.url, "--topic", TOPIC,
        "--db", str(db), "--client-id", "crash-ingest", "--stats-interval", "0.1",
    ]  # fmt: skip
    with log.open("w") as err:
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=err)
    publisher = Publisher(parse_url(mosquitto.url, env={}), client_id="crash-publisher")
    try:
        wait_until(
            lambda: "ingest: subscribed" in log.read_text() or proc.poll() is not None,
            60,
            "the ingest to subscribe",
        )
        assert proc.poll() is None, log.read_text()
        publisher.connect()
        sender = _PacedPublisher(publisher, msgs, rate=1000.0)
        sender.start()
        wait_until(lambda: _last_received(log) >= n // 5, 60, "the ingest to be mid-stream")
        proc.kill()  # SIGKILL: no flush, no acks for the batch in the writer
        assert proc.wait(10) == -9
        killed_at = sender.progress
        sender.join(120)
        assert sender.error is None and publisher.flush(60)
    finally:
        if proc.poll() is None:
            proc.kill()
        publisher.close(timeout=5)
    assert killed_at < n, "the publisher had finished before the kill"
    # restart with the same client id: the broker resends what was not acknowledged
    store = Store(db)
    before = _count(store)
    assert 0 < before < n
    ingest = Ingest(store, url=mosquitto.url, topics=[TOPIC], client_id="crash-ingest",
                    stats_interval=0)  # fmt: skip
    try:
        ingest.start(wait=10)
        wait_until(lambda: _count(store) >= n, 60, f"{n} uplinks stored after the restart")
        assert ingest.writer.flush(10)
    finally:
        stats = ingest.stop()
    assert stats["messages"] >= n - before  # the rest, plus any redelivered duplicates
    _assert_each_once(store, msgs, per_msg)
    store.close()
