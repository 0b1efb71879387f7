"""Decode and store MQTT messages in a second process: the ingest over two cores.

One Python process cannot use more than one core for Python code. In the single-process
ingest, paho's network loop, decoding and the Writer share one GIL, so their costs add up.
:class:`ProcessWriter` splits them:

* the **receiver** (the process that runs :class:`~twin.sensors.ingest.Ingest` and paho) only
  takes each message off the wire and appends ``(topic, payload, received time)`` to a buffer,
  shipped to the worker every few milliseconds as one pickled list;
* the **worker** process (:mod:`twin.sensors.pipeline_worker`) decodes the messages
  (:func:`twin.sensors.decode.decode`) and hands them to a
  :class:`~twin.sensors.writer.Writer` on its own :class:`~twin.sensors.store.Store`; after
  each commit it sends the sequence numbers of the committed messages back;
* the receiver's reader thread turns those into the messages' tokens and calls
  ``on_commit(tokens)``: the MQTT acks still go out only after the commit.

Exactly-once and ack-after-commit hold as in one process: a message is acknowledged only after
the worker committed it, and a crash of either process loses only unacknowledged messages,
which the broker delivers again (the store drops what it already holds). The worker dies with
the receiver (Linux ``PR_SET_PDEATHSIG``; elsewhere on the closed pipe), so a restarted
ingest can open the database again.

The DuckDB file belongs to the worker: the receiver must not have it open (DuckDB allows one
writing process). A UI that reads the database while ingesting uses the in-process Writer
instead (see docs/sensors.md).

The worker is started with ``multiprocessing``'s *spawn* method (paho's threads may already
run, so no fork): a script that creates an ingest on a path must guard its entry point with
``if __name__ == "__main__":``. Starting the worker takes about a second (imports, opening
the file).

Example::

    ingest = Ingest("twin.duckdb", url="mqtt://127.0.0.1:1883", topics=["v3/+/devices/+/up"])
    with ingest:  # decodes and commits in a second process; acks after each commit
        ...
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import threading
import time
from collections.abc import Callable, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

from twin.errors import StoreError
from twin.sensors.pipeline_worker import DEAD, MESSAGE, RAW, worker_main

log = logging.getLogger(__name__)


class ProcessWriter:
    """A Writer-like sink that decodes and commits in a child process.

    :class:`~twin.sensors.ingest.Ingest` uses it when given a database path instead of a
    Store; it then hands over raw messages (:meth:`submit_raw`) without decoding them.

    Parameters
    ----------
    path : str or Path
        The DuckDB file; created when missing. Must not be open in this process.
    fmt : str
        Wire format for :func:`twin.sensors.decode.decode` (``auto`` detects it).
    registry : Registry, optional
        Device registry for decoding (it is pickled to the worker).
    max_rows, max_delay : int, float
        Batching of the worker's :class:`~twin.sensors.writer.Writer`.
    on_commit : callable, optional
        ``on_commit(tokens)`` with the tokens of each committed batch (in this process, on
        the reader thread).
    ship_every : float
        Seconds between two shipments of buffered messages to the worker.
    ship_max : int
        Ship at once when this many messages are buffered.
    max_pending : int
        Messages handed over but not yet committed before :meth:`submit_raw` blocks.
    start_timeout : float
        Seconds to wait for the worker to open the database.

    Raises
    ------
    StoreError
        When the worker cannot open the database (the worker's message is included).
    """

    def __init__(
        self,
        path: str | Path,
        *,
        fmt: str = "auto",
        registry: Any = None,
        max_rows: int = 5000,
        max_delay: float = 0.25,
        on_commit: Callable[[list[Any]], None] | None = None,
        ship_every: float = 0.005,
        ship_max: int = 2000,
        max_pending: int = 200_000,
        start_timeout: float = 60.0,
    ) -> None:
        self.path = str(path)
        self.on_commit = on_commit
        self.ship_every = float(ship_every)
        self.ship_max = int(ship_max)
        self.max_pending = int(max_pending)
        ctx = multiprocessing.get_context("spawn")
        child_in, self._to_worker = ctx.Pipe(duplex=False)  # (receiving end, sending end)
        self._from_worker, child_out = ctx.Pipe(duplex=False)
        self._proc = ctx.Process(
            target=worker_main,
            args=(child_in, child_out, self.path, fmt, registry, max_rows, max_delay),
            name="twin-ingest-worker",
            daemon=True,
        )
        self._proc.start()
        child_in.close()
        child_out.close()
        self._cond = threading.Condition()
        self._send_lock = threading.Lock()
        self._buffer: list[tuple] = []
        self._tokens: dict[int, Any] = {}
        self._seq = 0
        self._committed_seq = 0  # messages acknowledged by the worker, in submission order
        self._flush_id = 0
        self._flushed: dict[int, bool] = {}
        self._retained: dict[int, tuple[bool, Any]] = {}
        self._stats: dict[str, Any] = {}
        self._closing = False
        self._dead: str | None = None
        self._ready = threading.Event()
        self._reader = threading.Thread(target=self._read, name="twin-pipeline-reader", daemon=True)
        self._reader.start()
        if not self._ready.wait(start_timeout) or self._dead:
            why = self._dead or f"no answer within {start_timeout:g} s"
            self._stop_process()
            raise StoreError(f"{self.path}: the ingest worker did not start: {why}")
        self._shipper = threading.Thread(
            target=self._ship_loop, name="twin-pipeline-ship", daemon=True
        )
        self._shipper.start()

    # --- producer side (paho's network thread) ------------------------------------------------

    def submit_raw(self, topic: str, payload: bytes, received: float, token: Any = None) -> None:
        """Hand over a message to decode and store; ``token`` comes back through ``on_commit``.

        Parameters
        ----------
        topic : str
            The MQTT topic.
        payload : bytes
            The body as received.
        received : float
            When it arrived, in seconds since the epoch.
        token : any
            Returned to ``on_commit`` once the message is committed.

        Raises
        ------
        StoreError
            When the writer is closed or the worker died.
        """
        self._put((RAW, topic, payload, received, None), token)

    def submit_raw_many(
        self, items: Sequence[tuple[str, bytes, Any]], received: float | None = None
    ) -> None:
        """Hand over several messages at once: one lock round and one clock read for all.

        The receiver's batch path (:class:`~twin.sensors.ingest.Ingest` on a
        :class:`~twin.sensors.paho_lean.LeanClient`) gives the messages of one socket read
        here. Each message's ``token`` comes back through ``on_commit`` as with
        :meth:`submit_raw`, in this order.

        Parameters
        ----------
        items : sequence of (topic, payload, token)
            The messages in arrival order.
        received : float, optional
            When they arrived, in seconds since the epoch (now when None).

        Raises
        ------
        StoreError
            When the writer is closed or the worker died; then none of them was taken.

        Notes
        -----
        Back-pressure as for :meth:`submit_raw`: this blocks while ``max_pending`` messages
        wait for their commit, then takes the whole batch, so the bound can be exceeded by
        one batch (a few hundred messages).
        """
        if not items:
            return
        if received is None:
            received = time.time()
        with self._cond:
            self._wait_room()
            seq = self._seq
            tokens = self._tokens
            buffer = self._buffer
            for topic, payload, token in items:
                seq += 1
                tokens[seq] = token
                buffer.append((seq, RAW, topic, payload, received, None))
            self._seq = seq
            ship = len(buffer) >= self.ship_max
        if ship:
            self._ship()

    def submit(self, message: Any, token: Any = None) -> None:
        """Hand over an already decoded :class:`~twin.sensors.model.Message`.

        It travels as :meth:`~twin.sensors.model.Message.to_wire`'s tuple (cheap to pickle).
        """
        self._put((MESSAGE, message.to_wire(), None, None, None), token)

    def submit_dead(self, dead: Any, token: Any = None) -> None:
        """Hand over a :class:`~twin.sensors.model.DeadLetter`."""
        self._put((DEAD, dead, None, None, None), token)

    def _put(self, item: tuple, token: Any) -> None:
        with self._cond:
            self._wait_room()
            self._seq += 1
            self._tokens[self._seq] = token
            self._buffer.append((self._seq, *item))
            ship = len(self._buffer) >= self.ship_max
        if ship:
            self._ship()

    def _wait_room(self) -> None:
        """Block while ``max_pending`` messages await their commit (hold ``_cond``)."""
        while len(self._tokens) >= self.max_pending and not self._closing and not self._dead:
            self._cond.wait(0.1)
        if self._dead:
            raise StoreError(f"{self.path}: the ingest worker died: {self._dead}")
        if self._closing:
            raise StoreError(f"{self.path}: the writer is closed")

    def _ship(self) -> None:
        with self._send_lock:
            with self._cond:
                batch, self._buffer = self._buffer, []
            if batch:
                self._send(("batch", batch))

    def _send(self, obj: tuple) -> None:
        try:
            self._to_worker.send(obj)
        except (OSError, ValueError) as err:
            self._died(f"cannot send to the worker: {err}")

    def _ship_loop(self) -> None:
        while True:
            with self._cond:
                if self._closing or self._dead:
                    return
                self._cond.wait(self.ship_every)
            self._ship()

    # --- worker replies (reader thread) --------------------------------------------------------

    def _read(self) -> None:
        while True:
            try:
                msg = self._from_worker.recv()
            except (EOFError, OSError) as err:
                code = self._proc.exitcode
                self._died(f"exited (code {code})" if code is not None else str(err) or "EOF")
                return
            kind = msg[0]
            if kind == "commit":
                self._committed(msg[1])
            elif kind == "stats":
                with self._cond:
                    self._stats = msg[1]
            elif kind == "ready":
                self._ready.set()
            elif kind == "flushed":
                with self._cond:
                    self._stats = msg[3]
                    self._flushed[msg[1]] = msg[2]
                    self._cond.notify_all()
            elif kind == "retained":
                with self._cond:
                    self._retained[msg[1]] = (msg[2], msg[3])
                    self._cond.notify_all()
            elif kind == "error":
                self._died(msg[1])
                return
            elif kind == "closed":
                with self._cond:
                    self._stats = msg[1]
                    self._cond.notify_all()
                return

    def _committed(self, seqs: list[int]) -> None:
        with self._cond:
            tokens = [self._tokens.pop(s) for s in seqs]
            self._cond.notify_all()
        tokens = [t for t in tokens if t is not None]
        if self.on_commit is not None and tokens:
            try:
                self.on_commit(tokens)
            except Exception:
                log.exception("on_commit callback failed")

    def _died(self, why: str) -> None:
        with self._cond:
            if self._dead is None and not (self._closing and "exited (code 0)" in why):
                self._dead = why
                if not self._closing:
                    log.error("ingest worker for %s: %s", self.path, why)
            self._ready.set()
            self._cond.notify_all()

    # --- control ------------------------------------------------------------------------------

    def flush(self, timeout: float | None = None) -> bool:
        """Commit everything handed over so far (and acknowledge it); False on timeout.

        Parameters
        ----------
        timeout : float, optional
            Seconds to wait at most.

        Returns
        -------
        bool
            True when the worker committed everything submitted before the call.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            if self._dead:
                return False
            self._flush_id += 1
            fid = self._flush_id
        self._ship()
        with self._send_lock:
            self._send(("flush", fid, timeout))
        with self._cond:
            while fid not in self._flushed:
                if self._dead:
                    return False
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._cond.wait(0.5 if remaining is None else min(remaining, 0.5))
            return self._flushed.pop(fid)

    def retain(self, older_than: timedelta, timeout: float | None = 600.0) -> int:
        """Delete old data in the worker's store (see :meth:`Store.retain`).

        Parameters
        ----------
        older_than : timedelta
            Keep what is newer than now minus this.
        timeout : float, optional
            Seconds to wait for the worker's answer.

        Returns
        -------
        int
            Readings deleted.

        Raises
        ------
        StoreError
            When the worker cannot delete (its message is included), died, or did not answer.
        """
        with self._cond:
            if self._dead:
                raise StoreError(f"{self.path}: the ingest worker died: {self._dead}")
            self._flush_id += 1
            rid = self._flush_id
        with self._send_lock:
            self._send(("retain", rid, older_than.total_seconds()))
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while rid not in self._retained:
                if self._dead:
                    raise StoreError(f"{self.path}: the ingest worker died: {self._dead}")
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    raise StoreError(f"{self.path}: retention did not finish in {timeout:g} s")
                self._cond.wait(0.5 if remaining is None else min(remaining, 0.5))
            ok, value = self._retained.pop(rid)
        if not ok:
            raise StoreError(str(value))
        return int(value)

    def close(self, timeout: float | None = 30.0) -> None:
        """Flush, stop the worker (it closes its store) and refuse further messages."""
        if self._proc.exitcode is None and not self._dead:
            self.flush(timeout)
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        with self._send_lock:
            if not self._dead:
                self._send(("close",))
        self._reader.join(timeout)
        self._stop_process(timeout)

    def _stop_process(self, timeout: float | None = 30.0) -> None:
        self._proc.join(timeout)
        if self._proc.is_alive():
            log.warning("ingest worker for %s did not stop; killing it", self.path)
            self._proc.kill()
            self._proc.join(5)
        for conn in (self._to_worker, self._from_worker):
            with contextlib.suppress(OSError):
                conn.close()

    def stats(self) -> dict[str, Any]:
        """Return the worker Writer's counters (see :meth:`~twin.sensors.writer.Writer.stats`).

        ``received`` counts messages handed over here; ``queued`` those not yet committed;
        ``decode_errors`` the dead letters the worker made of undecodable messages.
        """
        with self._cond:
            out = dict(self._stats)
            out["received"] = self._seq
            out["queued"] = len(self._tokens)
            out["worker_alive"] = self._proc.is_alive()
        return out

    @property
    def alive(self) -> bool:
        """Whether the worker process runs."""
        return self._proc.is_alive() and not self._dead

    def __enter__(self) -> ProcessWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
