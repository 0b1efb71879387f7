"""The in-process simulation: simulated uplinks through the real decoders into a Writer.

Started by :meth:`twin.sensors.simulator.Simulator.run_in_process`; no broker is involved,
but every message takes the same path as one from MQTT: encoded in the network server's
wire format, decoded by :func:`twin.sensors.decode.decode`, submitted to the Writer (or
kept as a dead letter when malformed).
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from twin.errors import DecodeError
from twin.sensors.model import DeadLetter

if TYPE_CHECKING:
    from twin.sensors.simulator import SimMessage, Simulator

log = logging.getLogger("twin.sensors.simulator")


class SimulationRun(threading.Thread):
    """A running in-process simulation, started by ``Simulator.run_in_process``.

    Attributes
    ----------
    backfilled : threading.Event
        Set once the history is submitted and flushed (or the run ended).
    stats : dict
        ``uplinks`` and ``dead`` submitted so far, ``history`` of them from the backfill.
    error : BaseException or None
        What stopped the thread, if it failed.
    """

    def __init__(
        self,
        sim: Simulator,
        writer: Any,
        *,
        speedup: float,
        history: timedelta | None,
        step: timedelta,
        interval: float | None,
        duration: float | None,
        now: datetime,
    ) -> None:
        super().__init__(name="twin-simulator", daemon=True)
        self.sim = sim
        self.writer = writer
        self.speedup = speedup
        self.history = history
        self.step = step
        self.interval = interval
        self.duration = duration
        self.now = now
        self.backfilled = threading.Event()
        self.stats = {"uplinks": 0, "dead": 0, "history": 0}
        self.error: BaseException | None = None
        self._stop_event = threading.Event()

    def stop(self, timeout: float = 10.0) -> None:
        """Ask the run to stop and wait up to ``timeout`` seconds for it."""
        self._stop_event.set()
        if self.is_alive() and threading.current_thread() is not self:
            self.join(timeout)

    @property
    def stopped(self) -> bool:
        """Whether :meth:`stop` was called."""
        return self._stop_event.is_set()

    def _feed(self, msg: SimMessage) -> None:
        from twin.sensors.decode import decode

        received = datetime.fromtimestamp(msg.time + 0.3, UTC)
        try:
            message = decode(
                msg.topic, msg.payload, registry=self.sim.registry, received_at=received
            )
        except DecodeError as err:
            self.writer.submit_dead(DeadLetter(msg.topic, msg.payload, str(err), received))
            self.stats["dead"] += 1
            return
        self.writer.submit(message)
        self.stats["uplinks"] += 1

    def run(self) -> None:
        """Backfill, then send live until stopped (the thread's body)."""
        try:
            self._backfill()
            self._live()
        except BaseException as err:
            self.error = err
            log.exception("simulator run failed")
            raise
        finally:
            self.backfilled.set()

    def _backfill(self) -> None:
        end = self.now.timestamp()
        if self.history and self.history.total_seconds() > 0:
            t0 = time.monotonic()
            start = end - self.history.total_seconds()
            for msg in self.sim.history(start, end, self.step):
                if self.stopped:
                    return
                self._feed(msg)
                self.stats["history"] += 1
            flush = getattr(self.writer, "flush", None)
            if flush is not None:
                flush(60.0)
            log.info(
                "simulator: backfilled %d messages over %s in %.1f s",
                self.stats["history"],
                self.history,
                time.monotonic() - t0,
            )
        self.backfilled.set()

    def _live(self) -> None:
        if self.interval is None:
            return
        start = self.now.timestamp()
        mono0 = time.monotonic()
        rate = len(self.sim) / self.interval
        # the first live uplink of each device comes one step after its last backfilled one
        for msg in self.sim.stream(start, rate=rate, chunk=1):
            wall_due = mono0 + (msg.time - start) / self.speedup
            if self.duration is not None and wall_due - mono0 > self.duration:
                return
            if self._stop_event.wait(max(0.0, wall_due - time.monotonic())):
                return
            self._feed(msg)
