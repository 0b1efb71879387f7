"""The Twin's handle on its running data side: writer, simulator, feeds, health and lifecycle.

:class:`DataSideMixin` is mixed into :class:`~twin.scene.twin.Twin`; it expects the attributes
``store``, ``_services`` (a :class:`~twin.scene.services.Services` or None) and ``_new_data``
(a :class:`threading.Event` the writer's listener sets).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import pandas as pd

from twin.errors import SceneError
from twin.scene.services import Services
from twin.scene.values import to_utc

log = logging.getLogger(__name__)


class DataSideMixin:
    """Status, history backfill, writer listeners and closing of a Twin's data side."""

    store: Any
    config: Any
    _services: Services | None
    _new_data: threading.Event

    @property
    def ingests(self) -> list[Any]:
        """The running MQTT ingests (:class:`twin.sensors.ingest.Ingest`)."""
        return [] if self._services is None else list(self._services.ingests)

    @property
    def writer(self) -> Any:
        """The running :class:`~twin.sensors.writer.Writer`, or None."""
        return None if self._services is None else self._services.writer

    @property
    def history_ready(self) -> bool:
        """Whether the simulator's history backfill is done (True without a simulator).

        While it is False the time slider covers only part of the past; the UI says so.
        See :meth:`twin.scene.services.Services.history_ready`.
        """
        return True if self._services is None else self._services.history_ready

    def start_feeds(self, *, simulator: bool = True, ingests: bool = True) -> bool:
        """Start the simulator and MQTT ingests of a twin made with ``start_feeds=False``.

        Parameters
        ----------
        simulator, ingests : bool
            Which parts to start (each starts once): the app connects the ingests as soon
            as it serves and starts the demo simulator's backfill after the first frame.

        Returns
        -------
        bool
            Whether they were started by this call (False when already running).

        Raises
        ------
        SceneError
            For a twin without services.
        """
        if self._services is None:
            raise SceneError("this twin has no data side to start (opened without services)")
        return self._services.start_feeds(self.config, simulator=simulator, ingests=ingests)

    def add_listener(self, callback: Callable[..., None]) -> None:
        """Call ``callback(batch_info)`` after each batch the writer commits.

        Also for a writer that starts later, when a database down at start-up opens.

        Raises
        ------
        SceneError
            For a twin without services.
        """
        if self._services is None:
            raise SceneError("this twin has no writer (opened without services)")
        self._services.add_listener(callback)

    @property
    def database_open(self) -> bool:
        """Whether the sensor database is open (False while it is down and retried)."""
        return True if self._services is None else self._services.database_open

    def status(self) -> dict[str, Any]:
        """Return the health of the data side, for a banner in the UI.

        Returns
        -------
        dict
            ``database``, ``feeds``, ``simulator``, ``writer`` and ``history_ready``; see
            :meth:`twin.scene.services.Services.status`.
        """
        if self._services is None:
            return Services(store=self.store).status()
        return self._services.status()

    def wait_ready(self, timeout: float = 60.0) -> bool:
        """Wait until the simulator's history backfill is stored (no-op without simulator).

        Parameters
        ----------
        timeout : float
            Seconds to wait at most.

        Returns
        -------
        bool
            True when the history is in the store (or there is nothing to wait for).
        """
        sim = None if self._services is None else self._services.simulator
        event = getattr(sim, "backfilled", None)
        if event is not None and not event.wait(timeout):
            return False
        writer = self.writer
        if writer is not None and hasattr(writer, "flush"):
            writer.flush(timeout)
        return True

    @property
    def has_new_data(self) -> bool:
        """Whether the writer committed readings since the last ``refresh``."""
        return self._new_data.is_set()

    def time_range(self) -> tuple[pd.Timestamp, pd.Timestamp] | None:
        """Return the first and last reading time in the store (UTC), or None when empty."""
        r = self.store.time_range()
        if r is None or r[0] is None:
            return None
        return to_utc(r[0]), to_utc(r[1])

    def close(self) -> None:
        """Stop the simulator and ingests, flush and stop the writer, close the store."""
        if self._services is not None:
            self._services.close()
            self._services = None

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
