"""The batching Writer thread: commits by count and by time, acks exactly what it committed."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest

from tests.sensors.test_store import uplink
from twin.errors import StoreError
from twin.sensors.model import DeadLetter, Message, Reading
from twin.sensors.store import Store
from twin.sensors.writer import BatchInfo, Writer

T0 = datetime(2026, 5, 4, tzinfo=UTC)


def msg(i: int, device: str = "d1", n: int = 1):
    return uplink(
        device, T0 + timedelta(seconds=i), i, [Reading(f"q{k}", float(i)) for k in range(n)]
    )


class Recorder:
    """on_commit target: remembers each batch of tokens and signals waiters."""

    def __init__(self) -> None:
        self.batches: list[list] = []
        self.cond = threading.Condition()

    def __call__(self, tokens) -> None:
        with self.cond:
            self.batches.append(list(tokens))
            self.cond.notify_all()

    def wait_for(self, n_batches: int, timeout: float = 10.0) -> bool:
        with self.cond:
            return self.cond.wait_for(lambda: len(self.batches) >= n_batches, timeout)


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "w.duckdb")
    yield s
    s.close()


def test_commits_by_count_without_flush(store):
    rec = Recorder()
    writer = Writer(store, max_rows=10, max_delay=3600, on_commit=rec)
    try:
        for i in range(25):
            writer.submit(msg(i), token=i)
        assert rec.wait_for(2)
        # Two full batches committed by count; the last 5 wait for the (1 h) delay.
        assert rec.batches == [list(range(10)), list(range(10, 20))]
        assert store.counts()["readings"] == 20
        assert writer.stats()["queued"] == 5
        assert writer.flush(10)
        assert rec.batches[-1] == list(range(20, 25))
        assert store.counts()["readings"] == 25
    finally:
        writer.close()


def test_rows_not_messages_are_counted(store):
    rec = Recorder()
    with Writer(store, max_rows=10, max_delay=3600, on_commit=rec) as writer:
        for i in range(4):
            writer.submit(msg(i, n=5), token=i)  # 5 readings each
        assert rec.wait_for(2)
        assert rec.batches[:2] == [[0, 1], [2, 3]]


def test_commits_by_time(store):
    rec = Recorder()
    with Writer(store, max_rows=10_000, max_delay=0.3, on_commit=rec) as writer:
        t0 = time.monotonic()
        for i in range(3):
            writer.submit(msg(i), token=f"t{i}")
        assert rec.wait_for(1, timeout=10)
        waited = time.monotonic() - t0
        assert rec.batches == [["t0", "t1", "t2"]]
        assert 0.25 <= waited < 5
        assert writer.stats()["batches"] == 1


def test_on_commit_gets_exactly_the_batch_tokens_including_duplicates_and_dead(store):
    rec = Recorder()
    store.write([msg(1)])  # already stored: its redelivery is a duplicate
    dead = DeadLetter("v3/x/up", b"{", "payload is not JSON", T0)
    with Writer(store, max_rows=1000, max_delay=3600, on_commit=rec) as writer:
        writer.submit(msg(1), token="dup")
        writer.submit_dead(dead, token="dead")
        writer.submit(msg(2), token=None)  # no token: not reported
        writer.submit(msg(3), token="new")
        assert writer.flush(10)
        assert rec.batches == [["dup", "dead", "new"]]
        stats = writer.stats()
        assert (stats["received"], stats["stored"], stats["duplicates"], stats["rejected"]) == (
            4,
            2,
            1,
            1,
        )
        assert stats["lag_seconds"] >= 0
    assert store.counts()["dead_letters"] == 1


def test_flush_means_committed_and_acked(store):
    rec = Recorder()
    with Writer(store, max_rows=50, max_delay=3600, on_commit=rec) as writer:
        for i in range(120):
            writer.submit(msg(i), token=i)
        assert writer.flush(10)
        # flush returned: every token was already handed to on_commit.
        assert sorted(t for b in rec.batches for t in b) == list(range(120))
        assert store.counts()["readings"] == 120
        assert writer.flush(1)  # nothing pending: immediate


def test_listener_learns_what_arrived(store):
    infos: list[BatchInfo] = []
    with Writer(store, max_delay=3600) as writer:
        writer.add_listener(infos.append)
        writer.submit(msg(1, device="a"))
        writer.submit(msg(2, device="b", n=2))
        assert writer.flush(10)
    assert len(infos) == 1
    info = infos[0]
    assert (info.stored, info.readings, info.devices) == (2, 3, {"a", "b"})
    assert info.quantities == {"q0", "q1"}
    assert info.tmin == T0 + timedelta(seconds=1) and info.tmax == T0 + timedelta(seconds=2)


def test_reader_cursor_sees_committed_data_while_writer_writes(store):
    total = 3000
    seen: list[int] = []
    done = threading.Event()
    errors: list[BaseException] = []

    def reader():
        try:
            cur = store.cursor()  # this thread's own connection
            assert cur is store.cursor()
            while not done.is_set():
                seen.append(cur.execute("SELECT count(*) FROM readings").fetchall()[0][0])
                store.latest()
        except BaseException as err:  # pragma: no cover - reported below
            errors.append(err)

    thread = threading.Thread(target=reader)
    with Writer(store, max_rows=100, max_delay=0.01) as writer:
        thread.start()
        for i in range(total):
            writer.submit(msg(i, device=f"d{i % 20}"))
        assert writer.flush(30)
        deadline = time.monotonic() + 10
        while (not seen or seen[-1] < total) and time.monotonic() < deadline:
            time.sleep(0.01)  # poll with a deadline for the reader's last count
        done.set()
        thread.join(10)
    assert not errors
    assert seen[-1] == total
    assert seen == sorted(seen)  # counts only grow: no torn reads
    assert any(0 < n < total for n in seen)  # it read while the writer was writing


def test_closed_writer_refuses(store):
    writer = Writer(store)
    writer.close()
    with pytest.raises(StoreError, match="writer is closed"):
        writer.submit(msg(1))


def test_failed_batches_are_not_acked_and_the_thread_survives(tmp_path):
    store = Store(tmp_path / "f.duckdb")
    rec = Recorder()
    writer = Writer(store, max_delay=0.01, on_commit=rec)
    store.close()  # every write now fails with StoreError
    writer.submit(msg(1), token="never")
    assert writer.flush(10)
    stats = writer.stats()
    assert stats["lost"] == 1 and stats["errors"] == 3 and stats["stored"] == 0
    assert rec.batches == []
    writer.close()


def test_a_message_that_cannot_be_stored_does_not_take_its_batch_down(store):
    rec = Recorder()
    poison = uplink("bad", T0, 2**70, [Reading("x", 1.0)])  # f_cnt beyond BIGINT
    with Writer(store, max_delay=3600, on_commit=rec) as writer:
        writer.submit(msg(1), token="a")
        writer.submit(poison, token="poison")
        writer.submit(msg(2), token="b")
        assert writer.flush(30)
        stats = writer.stats()
    # The good ones are stored, the poison one is a dead letter, and all are acknowledged.
    assert rec.batches == [["a", "poison", "b"]]
    assert (stats["stored"], stats["rejected"], stats["lost"]) == (2, 1, 0)
    assert store.counts()["readings"] == 2
    letters = store.dead_letters()
    assert letters["topic"].tolist() == ["v3/app@ttn/devices/bad/up"]
    assert "could not be stored" in letters["error"][0]


def test_cursors_of_finished_threads_are_released(store):
    import gc

    def read():
        store.latest()

    threads = [threading.Thread(target=read) for _ in range(20)]
    for th in threads:
        th.start()
        th.join()
    gc.collect()
    assert len(store._cursors) <= 2  # this thread's and at most one not yet collected


@pytest.mark.parametrize("module", ["twin.sensors.store", "twin.sensors.writer"])
def test_docstring_examples_run(module):
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(module))
    assert result.attempted > 0 and result.failed == 0


def test_message_wire_form_round_trips_exactly():
    """The pipeline ships receiver-decoded messages as ``to_wire`` tuples: nothing may change
    (a redelivery decoded on the other side must get the same dedup key)."""
    import pickle

    from twin.sensors.decode import decode
    from twin.sensors.simulator import Simulator
    from twin.sensors.store_write import message_uid

    for fmt in ("ttn", "chirpstack"):
        sim = Simulator(seed=8, fmt=fmt, joins=0.2)
        for m in sim.stream(datetime(2026, 6, 15, tzinfo=UTC), rate=5.0, count=300):
            message = decode(m.topic, m.payload, registry=sim.registry)
            back = Message.from_wire(pickle.loads(pickle.dumps(message.to_wire())))
            assert back == message
            assert message_uid(back) == message_uid(message)
            assert all(type(r) is Reading for r in back.readings)


def test_threadless_writer_commits_on_the_callers_thread(store):
    """``thread=False`` (the pipeline's worker): full batches commit inside submit_many, due
    ones in pump(), the rest in flush(); tokens and counters as with the thread."""
    rec = Recorder()
    writer = Writer(store, max_rows=10, max_delay=0.2, on_commit=rec, thread=False)
    assert writer._thread is None
    writer.submit_many([(msg(i), i) for i in range(25)])
    # Committed before submit_many returned, on this thread: two full batches of 10 rows.
    assert rec.batches == [list(range(10)), list(range(10, 20))]
    assert store.counts()["readings"] == 20
    due = writer.pump()
    assert due is not None and 0 < due <= 0.2  # the last 5 wait for their delay
    assert rec.batches[-1] == list(range(10, 20))
    deadline = time.monotonic() + 10
    while writer.pump() is not None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert rec.batches[-1] == list(range(20, 25))
    assert writer.pump() is None  # nothing pending
    writer.submit_dead(DeadLetter("t", b"x", "bad", T0), token="dead")
    assert writer.flush(10)
    assert rec.batches[-1] == ["dead"]
    stats = writer.stats()
    assert (stats["stored"], stats["rejected"], stats["batches"], stats["queued"]) == (25, 1, 4, 0)
    writer.close()
    with pytest.raises(StoreError):
        writer.submit(msg(99))


def test_pump_of_a_threaded_writer_is_a_no_op(store):
    with Writer(store, max_rows=10, max_delay=3600) as writer:
        writer.submit(msg(1))
        assert writer.pump() is None
        assert writer.flush(10)
    assert store.counts()["readings"] == 1
