"""The two-process ingest (ProcessWriter): a real mosquitto, a real worker process, real DuckDB."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.sensors.conftest import publish_pairs, wait_until
from twin.errors import StoreError
from twin.sensors.ingest import Ingest
from twin.sensors.pipeline import ProcessWriter
from twin.sensors.simulator import Simulator
from twin.sensors.store import Store

pytestmark = pytest.mark.mqtt

ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 6, 15, 8, tzinfo=UTC).timestamp()
TOPIC = "v3/+/devices/+/up"


def _each_once(db: Path, msgs) -> tuple[int, int]:
    """Assert every message is stored exactly once; return (uplinks, dead letters)."""
    store = Store(db)
    try:
        cur = store.cursor()
        rows = cur.execute(
            "SELECT d.device_id, r.f_cnt, count(*) FROM raw_messages r "
            "JOIN devices d USING (device) GROUP BY ALL"
        ).fetchall()
        dead = cur.execute("SELECT count(*) FROM dead_letters").fetchone()[0]
    finally:
        store.close()
    assert sorted((d, f) for d, f, _ in rows) == sorted((m.device_id, m.f_cnt) for m in msgs)
    assert max(n for _, _, n in rows) == 1
    return len(rows), dead


@pytest.mark.parametrize("share", [0.0, 0.5, 1.0], ids=["worker", "shared", "receiver"])
def test_pipeline_decodes_stores_and_acks_everything(mosquitto, tmp_path, share):
    """Wherever a message is decoded (worker, receiver or both), each is stored once."""
    sim = Simulator(seed=31)
    msgs = list(sim.stream(T0, rate=10.0, count=3000, chunk=256))
    bad = [(f"v3/app@ttn/devices/bad-{i}/up", b'{"end_device_ids": ') for i in range(40)]
    pairs = [(m.topic, m.payload) for m in msgs]
    for i, item in enumerate(bad):  # interleaved with the good ones
        pairs.insert(i * 70, item)
    db = tmp_path / "pipe.duckdb"
    ingest = Ingest(str(db), url=mosquitto.url, topics=[TOPIC], client_id="pipe-1",
                    stats_interval=0, receiver_decodes=share)  # fmt: skip
    assert isinstance(ingest.writer, ProcessWriter) and ingest.writer.alive
    with ingest:
        assert ingest.wait_connected(10)
        publish_pairs(mosquitto.url, pairs)
        wait_until(lambda: ingest.counters["acked"] >= len(pairs), 60, "every message acked")
    stats = ingest.stats()  # final: the worker reported its counters when it closed
    assert stats["messages"] == len(pairs) and stats["acked"] == len(pairs)
    assert stats["decode_errors"] == len(bad)  # counted by the worker
    assert not ingest.writer.alive  # stop() closed the worker and its store
    stored, dead = _each_once(db, msgs)
    assert (stored, dead) == (len(msgs), len(bad))


def test_pipeline_refuses_a_database_held_elsewhere(tmp_path):
    db = tmp_path / "held.duckdb"
    store = Store(db)  # this process writes the file: the worker cannot open it
    try:
        with pytest.raises(StoreError, match=r"held\.duckdb: the ingest worker did not start"):
            ProcessWriter(db, start_timeout=60)
    finally:
        store.close()


def test_no_ack_when_the_worker_dies(mosquitto, tmp_path):
    sim = Simulator(seed=32)
    first = list(sim.stream(T0, rate=10.0, count=500, chunk=256))
    later = list(sim.stream(T0 + 3600, rate=10.0, count=300, chunk=256))
    db = tmp_path / "dies.duckdb"
    ingest = Ingest(str(db), url=mosquitto.url, topics=[TOPIC], client_id="pipe-dies",
                    stats_interval=0)  # fmt: skip
    try:
        ingest.start(wait=10)
        publish_pairs(mosquitto.url, [(m.topic, m.payload) for m in first])
        wait_until(lambda: ingest.counters["acked"] >= len(first), 60, "the first part acked")
        os.kill(ingest.writer._proc.pid, signal.SIGKILL)
        wait_until(lambda: not ingest.writer.alive, 10, "the worker to be gone")
        publish_pairs(mosquitto.url, [(m.topic, m.payload) for m in later])
        wait_until(
            lambda: ingest.counters["messages"] >= len(first) + len(later), 30, "all received"
        )
        assert ingest.counters["acked"] == len(first)  # nothing acked without a commit
        assert ingest.counters["not_submitted"] == len(later)
    finally:
        ingest.stop(flush_timeout=1)
    # the same session again: the broker redelivers what was never acknowledged
    with Ingest(str(db), url=mosquitto.url, topics=[TOPIC], client_id="pipe-dies",
                stats_interval=0) as again:  # fmt: skip
        wait_until(lambda: again.counters["acked"] >= len(later), 60, "the redelivery acked")
    assert _each_once(db, first + later) == (len(first) + len(later), 0)


_RECEIVER = """
import logging, sys, threading
from twin.sensors.ingest import Ingest
logging.basicConfig(level=logging.INFO)
if __name__ == "__main__":
    url, db = sys.argv[1], sys.argv[2]
    ingest = Ingest(db, url=url, topics=["v3/+/devices/+/up"], client_id="pipe-crash",
                    stats_interval=0.1)
    ingest.start(wait=10)
    print("worker pid", ingest.writer._proc.pid, file=sys.stderr, flush=True)
    threading.Event().wait()
"""


def _last_acked(log: Path) -> int:
    found = re.findall(r"ingest: received \d+, .*, acked (\d+)", log.read_text(errors="replace"))
    return int(found[-1]) if found else 0


@pytest.mark.slow
@pytest.mark.parametrize("mosquitto", [{}], indirect=True)
def test_receiver_killed_mid_stream_worker_follows_nothing_lost(mosquitto, tmp_path):
    n = 6000
    sim = Simulator(seed=33)
    msgs = list(sim.stream(T0, rate=10.0, count=n, chunk=256))
    db = tmp_path / "crash.duckdb"
    script = tmp_path / "receiver.py"
    script.write_text(textwrap.dedent(_RECEIVER))
    log = tmp_path / "receiver.log"
    with log.open("w") as err:
        proc = subprocess.Popen([sys.executable, str(script), mosquitto.url, str(db)], cwd=ROOT,
                                stdout=subprocess.DEVNULL, stderr=err)  # fmt: skip
    try:
        found = wait_until(
            lambda: re.search(r"worker pid (\d+)", log.read_text()) or proc.poll() is not None,
            60,
            "the receiver to start its worker",
        )
        assert proc.poll() is None, log.read_text()
        worker = int(found.group(1))
        from twin.sensors.mqtt import Publisher, parse_url

        publisher = Publisher(parse_url(mosquitto.url, env={}), client_id="crash-pub").connect()
        try:
            for i, m in enumerate(msgs):
                publisher.publish(m.topic, m.payload, qos=1)
                if i == n // 3:
                    wait_until(lambda: _last_acked(log) >= n // 5, 60, "commits mid-stream")
                    proc.kill()  # SIGKILL the receiver: the worker must follow
                    assert proc.wait(10) == -9
            assert publisher.flush(60)
        finally:
            publisher.close(timeout=5)
    finally:
        if proc.poll() is None:
            proc.kill()

    def gone() -> bool:
        try:
            os.kill(worker, 0)
        except ProcessLookupError:
            return True
        return False

    wait_until(gone, 10, "the worker to die with its receiver")
    store = Store(db)  # opens: no orphan holds the file
    before = store.cursor().execute("SELECT count(*) FROM raw_messages").fetchone()[0]
    store.close()
    assert 0 < before < n
    with Ingest(str(db), url=mosquitto.url, topics=[TOPIC], client_id="pipe-crash",
                stats_interval=0) as again:  # fmt: skip
        wait_until(
            lambda: again.writer.stats().get("stored", 0) >= n - before,
            60,
            f"the other {n - before} uplinks stored after the restart",
        )
    assert _each_once(db, msgs) == (n, 0)


def test_retention_runs_in_the_worker(tmp_path):
    """`twin ingest --retain` deletes through the worker, which owns the file."""
    from datetime import timedelta

    from twin.sensors.decode import decode

    db = tmp_path / "retain.duckdb"
    now = datetime.now(UTC).timestamp()
    sim = Simulator(seed=5)
    old = list(sim.stream(now - 40 * 86400, rate=1.0, count=50))  # 40 days ago
    new = list(sim.stream(now - 3600, rate=1.0, count=30))  # the last hour
    with ProcessWriter(db, start_timeout=60) as writer:
        for m in old + new:
            writer.submit(decode(m.topic, m.payload), None)
        assert writer.flush(30)
        deleted = writer.retain(timedelta(days=30))
        assert deleted == sum(len(decode(m.topic, m.payload).readings) for m in old) > 0
    store = Store(db)
    try:
        n = store.cursor().execute("SELECT count(*) FROM raw_messages").fetchone()[0]
    finally:
        store.close()
    assert n == len(new)


class _Counting:
    """Counts the calls of the receiver's batch hand-over (and passes them on unchanged)."""

    def __init__(self, submit) -> None:
        self.submit = submit
        self.calls = 0
        self.items = 0

    def __call__(self, items, received=None) -> None:
        self.calls += 1
        self.items += len(items)
        self.submit(items, received)


@pytest.mark.parametrize("mosquitto", [{"persistence": True}], indirect=True)
def test_batch_path_acks_each_message_once_across_a_broker_restart(mosquitto, tmp_path):
    """Messages received but not committed before a reconnect: stored once, acked once.

    The worker holds the first delivery uncommitted (``max_delay`` 20 s) while the broker
    restarts; it redelivers them on the new connection. The acks of the first delivery
    belong to the old connection and are dropped, those of the second go out after the
    commit, and a later session gets nothing again.
    """
    n = 2000
    sim = Simulator(seed=34)
    msgs = list(sim.stream(T0, rate=10.0, count=n, chunk=256))
    late = list(sim.stream(T0 + 7200, rate=10.0, count=1, chunk=256))
    db = tmp_path / "batch.duckdb"
    ingest = Ingest(str(db), url=mosquitto.url, topics=[TOPIC], client_id="pipe-batch",
                    stats_interval=0, max_delay=20.0, max_rows=10**6,
                    reconnect_delay=(0.1, 1.0))  # fmt: skip
    counting = ingest._submit_raw_many = _Counting(ingest._submit_raw_many)
    try:
        ingest.start(wait=10)
        publish_pairs(mosquitto.url, [(m.topic, m.payload) for m in msgs])
        wait_until(lambda: ingest.counters["messages"] >= n, 30, "the first delivery")
        assert ingest.counters["acked"] == 0, "committed before the restart: test premise"
        mosquitto.stop()  # graceful: keeps the session and its unacknowledged messages
        mosquitto.start()
        wait_until(lambda: ingest.counters["messages"] >= 2 * n, 60, "the redelivery")
        assert ingest.writer.flush(60)
        wait_until(lambda: ingest.counters["acked"] >= n, 30, "the redelivery acked")
        stats = ingest.stop()
    finally:
        ingest.stop(flush_timeout=0)
    assert stats["connects"] == 2
    assert (stats["messages"], stats["acked"], stats["stale_acks"]) == (2 * n, n, n)
    assert counting.items == 2 * n  # every message went through the batch hand-over ...
    assert counting.calls < n  # ... many per call
    assert ingest.client.scanned_messages > n
    assert _each_once(db, msgs) == (n, 0)
    # The broker holds nothing unacknowledged: a new session gets only what is new.
    with Ingest(str(db), url=mosquitto.url, topics=[TOPIC], client_id="pipe-batch",
                stats_interval=0) as again:  # fmt: skip
        assert again.wait_connected(10)
        publish_pairs(mosquitto.url, [(m.topic, m.payload) for m in late])
        wait_until(lambda: again.counters["acked"] >= 1, 30, "the new message acked")
        assert again.counters["messages"] == 1  # QoS 1 order: a resend would come first
    assert _each_once(db, msgs + late) == (n + 1, 0)


def test_batch_path_dead_letters_a_topic_that_is_not_utf8(mosquitto, tmp_path):
    """mosquitto refuses such topics, other brokers may not: the batch path keeps the order."""
    from twin.sensors.paho_lean import LeanMessage

    good = list(Simulator(seed=36).stream(T0, rate=10.0, count=4, chunk=256))
    db = tmp_path / "utf8.duckdb"
    ingest = Ingest(str(db), url=mosquitto.url, topics=[TOPIC], client_id="pipe-utf8",
                    stats_interval=0)  # fmt: skip
    counting = ingest._submit_raw_many = _Counting(ingest._submit_raw_many)
    bad_topic = b"v3/app@ttn/devices/\xff\xfe/up"
    batch = [LeanMessage(0, m.topic.encode(), m.payload, 0, 0x30) for m in good[:2]]
    batch.append(LeanMessage(0, bad_topic, b'{"x": 1}', 0, 0x30))
    batch += [LeanMessage(0, m.topic.encode(), m.payload, 0, 0x30) for m in good[2:]]
    with ingest:
        assert ingest.wait_connected(10)
        # what the LeanClient's scan does with one socket read (QoS 0: nothing to ack)
        ingest._on_messages(ingest.client, None, batch)
        assert ingest.writer.flush(30)
        stats = ingest.stats()
    assert (stats["messages"], stats["decode_errors"]) == (5, 1)
    assert (counting.calls, counting.items) == (2, 4)  # the two before it, the two after
    assert _each_once(db, good) == (4, 1)
    store = Store(db)
    try:
        (topic, error), = store.cursor().execute(
            "SELECT topic, error FROM dead_letters").fetchall()  # fmt: skip
    finally:
        store.close()
    assert topic == bad_topic.decode("utf-8", "replace") and "not valid UTF-8" in error


def test_submit_raw_many_blocks_at_max_pending_until_a_commit(tmp_path):
    """Back-pressure on the batch path: the network thread waits for the worker's commits."""
    import threading
    import time

    msgs = list(Simulator(seed=37).stream(T0, rate=10.0, count=30, chunk=256))
    items = [(m.topic, m.payload, i) for i, m in enumerate(msgs)]
    committed: list[int] = []
    writer = ProcessWriter(tmp_path / "pending.duckdb", max_delay=600.0, max_rows=10**6,
                           max_pending=10, on_commit=committed.extend)  # fmt: skip
    done = threading.Event()

    def network_thread() -> None:
        for at in range(0, 30, 6):  # five socket reads of six messages
            writer.submit_raw_many(items[at : at + 6], time.time())
        done.set()

    try:
        thread = threading.Thread(target=network_thread, daemon=True)
        thread.start()
        # 12 pending (two batches: the bound is checked before each), nothing committed
        wait_until(lambda: writer.stats()["received"] == 12, 30, "two batches handed over")
        assert not done.wait(1.0)  # blocked on the third batch: the worker holds 12
        assert writer.stats()["queued"] == 12 and not committed
        assert writer.flush(30)  # a commit frees room for two more batches
        wait_until(lambda: writer.stats()["received"] == 24, 30, "two more batches")
        assert not done.wait(0.5) and writer.stats()["queued"] == 12
        assert committed == list(range(12))
        assert writer.flush(30)
        assert done.wait(30)
        assert writer.flush(30)
        thread.join(5)
    finally:
        writer.close()
    assert committed == list(range(30))  # every token once, in order
