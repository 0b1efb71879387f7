"""A background thread that batches decoded messages into store transactions.

The MQTT ingest and the simulator call :meth:`Writer.submit` for every message (with a
token, e.g. the MQTT message id); the writer commits a batch when it holds ``max_rows``
readings or its oldest message has waited ``max_delay`` seconds, then calls
``on_commit(tokens)`` with the tokens of exactly the messages of that batch, so that the
ingest acknowledges them only once they are safely stored, and tells its listeners (the UI)
what arrived.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from twin.errors import StoreError
from twin.sensors.model import DeadLetter, Message
from twin.sensors.store import Store, WriteResult

log = logging.getLogger(__name__)

#: How often a failed batch is retried before it is given up (its tokens are never acked).
RETRIES = 3


@dataclass(frozen=True)
class BatchInfo:
    """What one committed batch brought; passed to the listeners.

    Parameters
    ----------
    stored, duplicates, events, dead, readings : int
        As in :class:`~twin.sensors.store.WriteResult`.
    devices : frozenset of str
        Device ids with new data.
    quantities : frozenset of str
        Quantities with new readings.
    tmin, tmax : datetime or None
        Time span of the new readings.
    seconds : float
        How long the transaction took.
    lag_seconds : float
        How long the oldest message of the batch waited from submit to commit.
    """

    stored: int
    duplicates: int
    events: int
    dead: int
    readings: int
    devices: frozenset[str] = field(default_factory=frozenset)
    quantities: frozenset[str] = field(default_factory=frozenset)
    tmin: datetime | None = None
    tmax: datetime | None = None
    seconds: float = 0.0
    lag_seconds: float = 0.0


class Writer:
    """Batch messages into :meth:`Store.write` transactions on a background thread.

    Parameters
    ----------
    store : Store
        An open, writable store (the writer does not close it).
    max_rows : int
        Commit when the pending messages hold this many readings (events and dead letters
        count as one row each).
    max_delay : float
        Commit at the latest this many seconds after the oldest pending message arrived.
    on_commit : callable, optional
        ``on_commit(tokens)`` after each committed transaction, with the tokens (not None)
        of exactly the messages and dead letters of that batch, in submit order.
    max_queue : int
        ``submit`` blocks while this many messages wait (back-pressure).
    thread : bool
        Commit on a background thread (default). With False the writer has no thread: the
        caller's thread commits inside :meth:`submit_many` when a batch is full and in
        :meth:`pump` when the oldest message is due. The pipeline's worker process uses
        this: its decoding and the batch building then do not compete for one GIL.

    Examples
    --------
    >>> store = Store(":memory:")
    >>> acked = []
    >>> with Writer(store, on_commit=acked.extend) as writer:
    ...     writer.submit_dead(DeadLetter("t", b"x", "bad", datetime.now().astimezone()), token=1)
    ...     writer.flush(5.0)
    True
    >>> acked, writer.stats()["rejected"]
    ([1], 1)
    """

    def __init__(
        self,
        store: Store,
        *,
        max_rows: int = 5000,
        max_delay: float = 0.25,
        on_commit: Callable[[list[Any]], None] | None = None,
        max_queue: int = 200_000,
        thread: bool = True,
    ) -> None:
        if max_rows < 1 or max_delay < 0:
            raise ValueError("max_rows must be ≥ 1 and max_delay ≥ 0")
        self.store = store
        self.max_rows = max_rows
        self.max_delay = max_delay
        self.on_commit = on_commit
        self.max_queue = max_queue
        self._listeners: list[Callable[[BatchInfo], None]] = []
        self._pending: deque[tuple[Message | DeadLetter, Any, float]] = deque()
        self._pending_rows = 0
        self._cond = threading.Condition()
        self._submitted = 0
        self._processed = 0
        self._flush_target = 0
        self._closing = False
        self._stats = {
            "received": 0,
            "stored": 0,
            "duplicates": 0,
            "expired": 0,
            "rejected": 0,
            "events": 0,
            "readings": 0,
            "batches": 0,
            "errors": 0,
            "lost": 0,
            "lag_seconds": 0.0,
        }
        self._thread: threading.Thread | None = None
        if thread:
            self._thread = threading.Thread(target=self._run, name="twin-writer", daemon=True)
            self._thread.start()

    # --- producer side ------------------------------------------------------------------

    def submit(self, message: Message, token: Any = None) -> None:
        """Queue a decoded message; ``token`` comes back through ``on_commit``.

        Raises
        ------
        StoreError
            When the writer is closed.
        """
        self.submit_many([(message, token)])

    def submit_dead(self, dead: DeadLetter, token: Any = None) -> None:
        """Queue a dead letter; ``token`` comes back through ``on_commit``."""
        self.submit_many([(dead, token)])

    def submit_many(self, items: list[tuple[Message | DeadLetter, Any]]) -> None:
        """Queue many messages and dead letters, as ``(item, token)`` pairs, in one go.

        The same as calling :meth:`submit` / :meth:`submit_dead` for each, with one lock
        acquisition (the pipeline's worker hands over thousands per shipment).

        Raises
        ------
        StoreError
            When the writer is closed.
        """
        if not items:
            return
        now = time.monotonic()
        rows = sum(max(1, len(i.readings)) if isinstance(i, Message) else 1 for i, _ in items)
        with self._cond:
            while len(self._pending) >= self.max_queue and not self._closing:
                self._cond.wait(0.1)
            if self._closing:
                raise StoreError(f"{self.store.path}: the writer is closed")
            was_empty = not self._pending
            self._pending.extend([(item, token, now) for item, token in items])
            self._pending_rows += rows
            self._submitted += len(items)
            self._stats["received"] += len(items)
            if self._pending_rows >= self.max_rows or was_empty:
                self._cond.notify_all()
        if self._thread is None:
            self.pump()

    def pump(self) -> float | None:
        """Commit every batch that is due, on the calling thread (``thread=False``).

        Returns
        -------
        float or None
            Seconds until the oldest pending message is due, or None when none is pending
            (always None for a writer with its own thread, which commits by itself).
        """
        if self._thread is not None:
            return None
        self._commit_due()
        with self._cond:
            if not self._pending:
                return None
            return max(0.0, self._pending[0][2] + self.max_delay - time.monotonic())

    def add_listener(self, callback: Callable[[BatchInfo], None]) -> None:
        """Call ``callback(batch_info)`` (on the writer thread) after each commit."""
        self._listeners.append(callback)

    def remove_listener(self, callback: Callable[[BatchInfo], None]) -> None:
        """Stop calling a listener."""
        self._listeners.remove(callback)

    def flush(self, timeout: float | None = None) -> bool:
        """Commit everything submitted so far, and wait for it.

        Parameters
        ----------
        timeout : float, optional
            Seconds to wait at most.

        Returns
        -------
        bool
            True when everything submitted before the call has been processed.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            target = self._submitted
            self._flush_target = max(self._flush_target, target)
            self._cond.notify_all()
        if self._thread is None:  # everything up to the flush target is due now
            self._commit_due()
            return self._processed >= target
        with self._cond:
            while self._processed < target:
                if not self._thread.is_alive():
                    return False
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._cond.wait(remaining if remaining is not None else 0.5)
            return True

    def close(self, timeout: float | None = 30.0) -> None:
        """Flush, stop the thread and refuse further messages (the store stays open)."""
        self.flush(timeout)
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)

    def __enter__(self) -> Writer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def stats(self) -> dict[str, Any]:
        """Return the counters.

        Returns
        -------
        dict
            ``received`` (messages and dead letters submitted), ``stored`` (uplinks),
            ``duplicates``, ``rejected`` (dead letters), ``events``, ``readings``,
            ``batches``, ``errors`` (failed transactions, retried), ``lost`` (messages of
            batches given up), ``queued`` (waiting now), ``lag_seconds`` (submit → commit
            of the oldest message of the last batch).
        """
        with self._cond:
            out = dict(self._stats)
            out["queued"] = len(self._pending)
        return out

    # --- writer thread ------------------------------------------------------------------

    def _take(self, block: bool = True) -> list[tuple[Message | DeadLetter, Any, float]] | None:
        with self._cond:
            while True:
                if self._pending:
                    due = self._pending[0][2] + self.max_delay
                    now = time.monotonic()
                    if (
                        self._pending_rows >= self.max_rows
                        or now >= due
                        or self._flush_target > self._processed
                        or self._closing
                    ):
                        break
                    if not block:
                        return None
                    self._cond.wait(due - now)
                elif self._closing or not block:
                    return None
                else:
                    self._cond.wait()
            batch = []
            rows = 0
            while self._pending and rows < self.max_rows:
                item = self._pending.popleft()
                n = max(1, len(item[0].readings)) if isinstance(item[0], Message) else 1
                rows += n
                batch.append(item)
            self._pending_rows -= rows
            self._cond.notify_all()  # producers waiting on max_queue
            return batch

    def _commit_due(self) -> None:
        """Commit, on the calling thread, every batch that is due (``thread=False``)."""
        while (batch := self._take(block=False)) is not None:
            self._process(batch)

    def _run(self) -> None:
        while True:
            batch = self._take()
            if batch is None:
                return
            self._process(batch)

    def _process(self, batch: list[tuple[Message | DeadLetter, Any, float]]) -> None:
        """Commit one batch, call back, count it."""
        result, seconds = self._commit(batch)
        lag = time.monotonic() - batch[0][2]
        if result is not None:  # before counting it processed: flush() implies acked
            self._after_commit(batch, result, seconds, lag)
        with self._cond:
            self._processed += len(batch)
            s = self._stats
            if result is None:
                s["lost"] += len(batch)
            else:
                s["stored"] += result.stored
                s["duplicates"] += result.duplicates
                s["expired"] += result.expired
                s["rejected"] += result.dead
                s["events"] += result.events
                s["readings"] += result.readings
                s["batches"] += 1
                s["lag_seconds"] = lag
            self._cond.notify_all()

    def _commit(
        self, batch: list[tuple[Message | DeadLetter, Any, float]]
    ) -> tuple[WriteResult | None, float]:
        messages = [item for item, _, _ in batch if isinstance(item, Message)]
        dead = [item for item, _, _ in batch if isinstance(item, DeadLetter)]
        error: Exception | None = None
        for attempt in range(1, RETRIES + 1):
            t0 = time.perf_counter()
            try:
                return self.store.write(messages, dead), time.perf_counter() - t0
            except Exception as err:  # keep the thread alive whatever happens
                error = err
                with self._cond:
                    self._stats["errors"] += 1
                if attempt < RETRIES:
                    log.warning("writing a batch failed (attempt %d): %s", attempt, err)
                    time.sleep(0.2 * attempt)
        if len(batch) > 1:
            return self._commit_one_by_one(messages, dead)
        log.error(
            "giving up a batch of %d messages after %d attempts: %s; they are not acknowledged",
            len(batch),
            RETRIES,
            error,
        )
        return None, 0.0

    def _commit_one_by_one(
        self, messages: list[Message], dead: list[DeadLetter]
    ) -> tuple[WriteResult | None, float]:
        """Isolate what breaks a batch: store the rest, turn the culprits into dead letters.

        Returns None (nothing acknowledged) when not even that can be stored: then the
        database itself is failing, not a message.
        """
        t0 = time.perf_counter()
        results: list[WriteResult] = []
        culprits: list[DeadLetter] = list(dead)
        for m in messages:
            try:
                results.append(self.store.write([m]))
            except Exception as err:
                log.error("message on %s cannot be stored: %s", m.topic, err)
                culprits.append(
                    DeadLetter(
                        m.topic,
                        b"",
                        f"decoded message could not be stored: {err}"[:1000],
                        m.received_at,
                    )
                )
        try:
            if culprits:
                results.append(self.store.write([], culprits))
        except Exception as err:
            log.error("giving up %d messages: %s; they are not acknowledged", len(culprits), err)
            return None, 0.0
        total = WriteResult(
            stored=sum(r.stored for r in results),
            duplicates=sum(r.duplicates for r in results),
            events=sum(r.events for r in results),
            dead=sum(r.dead for r in results),
            readings=sum(r.readings for r in results),
            devices=frozenset().union(*(r.devices for r in results)),
            quantities=frozenset().union(*(r.quantities for r in results)),
            tmin=min((r.tmin for r in results if r.tmin), default=None),
            tmax=max((r.tmax for r in results if r.tmax), default=None),
        )
        return total, time.perf_counter() - t0

    def _after_commit(
        self,
        batch: list[tuple[Message | DeadLetter, Any, float]],
        result: WriteResult,
        seconds: float,
        lag: float,
    ) -> None:
        if self.on_commit is not None:
            tokens = [token for _, token, _ in batch if token is not None]
            try:
                self.on_commit(tokens)
            except Exception:
                log.exception("on_commit callback failed")
        info = BatchInfo(
            stored=result.stored,
            duplicates=result.duplicates,
            events=result.events,
            dead=result.dead,
            readings=result.readings,
            devices=result.devices,
            quantities=result.quantities,
            tmin=result.tmin,
            tmax=result.tmax,
            seconds=seconds,
            lag_seconds=lag,
        )
        for listener in list(self._listeners):
            try:
                listener(info)
            except Exception:
                log.exception("writer listener failed")
