"""A sensor database that is down at start-up: a stand-in store and a capped retry.

A twin whose DuckDB file is held by another process (a running ``twin ingest``), or whose
folder cannot be created yet (a network share not mounted), still shows its city: the data side
starts with a :class:`LateStore` whose every query fails with
:class:`~twin.errors.StoreError` (the UI's banner says the database is unavailable), and a
:class:`Retry` thread opens the real store as soon as it can, with a backoff capped at a few
seconds. The first failure is logged at WARNING, later ones at DEBUG, the success at INFO.

What is an outage and what a user error: :func:`is_outage` says yes for I/O failures (a lock,
a missing or unwritable folder, a full disk) and no for a file that is not a twin database.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from twin.errors import StoreError

log = logging.getLogger(__name__)

#: Seconds before the first retry; each failure doubles the wait up to :data:`MAX_DELAY`.
FIRST_DELAY = 0.5
#: Longest wait between two attempts: a freed database is picked up within this.
MAX_DELAY = 5.0
#: Parts of DuckDB I/O error messages that waiting will not fix (a file that is not a
#: database, or one written by an incompatible DuckDB).
PERMANENT = ("not a valid duckdb database", "storage version", "corrupt", "serialization")


def is_outage(err: BaseException) -> bool:
    """Whether opening the database failed for a reason that may pass by itself.

    Parameters
    ----------
    err : BaseException
        The error raised while creating the database folder or opening the store.

    Returns
    -------
    bool
        True for operating-system and DuckDB I/O errors (locked by another process, folder
        missing or unwritable, disk full); False for anything else, such as a file that is
        not a DuckDB database (:data:`PERMANENT`) or not a twin database, which waiting
        will not fix.
    """
    if isinstance(err, StoreError):
        cause = err.__cause__
        if cause is None:
            return False
        if isinstance(cause, OSError):
            return True
        try:
            import duckdb
        except ImportError:  # pragma: no cover - duckdb is a dependency
            return False
        if not isinstance(cause, duckdb.IOException):
            return False
        text = str(cause).lower()
        return not any(marker in text for marker in PERMANENT)
    return isinstance(err, OSError)


class LateStore:
    """Stands in for a :class:`~twin.sensors.store.Store` until the real one opens.

    Attribute access is forwarded to the real store once :meth:`attach` gave it; before
    that, every attribute but ``path``, ``reason`` and ``is_open`` raises
    :class:`~twin.errors.StoreError`, which the twin's callers already treat as "database
    unavailable".

    Parameters
    ----------
    path : str or pathlib.Path
        The database file.
    reason : str
        Why it could not be opened (shown in the error message).
    """

    def __init__(self, path: str | Path, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        self._store: Any = None

    @property
    def is_open(self) -> bool:
        """Whether the real store is attached."""
        return self._store is not None

    def attach(self, store: Any) -> None:
        """Forward from now on to ``store`` (an open :class:`~twin.sensors.store.Store`)."""
        self._store = store

    def close(self) -> None:
        """Close the real store if it was attached."""
        if self._store is not None:
            self._store.close()

    def __getattr__(self, name: str) -> Any:
        store = self.__dict__.get("_store")
        if store is None:
            raise StoreError(
                f"{self.__dict__.get('path')}: sensor database unavailable "
                f"({self.__dict__.get('reason')}); retrying"
            )
        return getattr(store, name)


class Retry(threading.Thread):
    """Call ``attempt`` until it succeeds, waiting longer after each failure (capped).

    Parameters
    ----------
    attempt : callable
        Called without arguments; returning normally is success. An exception for which
        ``is_outage`` is true means "try again"; any other exception ends the retries and
        is logged as an error.
    what : str
        What is retried, for the log ("the sensor database /data/twin.duckdb").
    first_delay, max_delay : float
        Seconds before the first retry, and the cap of the doubling waits.
    """

    def __init__(
        self,
        attempt: Callable[[], Any],
        *,
        what: str,
        first_delay: float = FIRST_DELAY,
        max_delay: float = MAX_DELAY,
    ) -> None:
        super().__init__(name="twin-store-retry", daemon=True)
        self.attempt = attempt
        self.what = what
        self.first_delay = first_delay
        self.max_delay = max_delay
        self.attempts = 0
        self.succeeded = threading.Event()
        self.error: BaseException | None = None
        self._stop_event = threading.Event()

    def run(self) -> None:
        """Retry until success, a non-outage error, or :meth:`stop`."""
        delay = self.first_delay
        while not self._stop_event.wait(delay):
            self.attempts += 1
            try:
                self.attempt()
            except Exception as err:
                if not is_outage(err):
                    self.error = err
                    log.error("giving up on %s: %s", self.what, err)
                    return
                log.debug("%s still unavailable (attempt %d): %s", self.what, self.attempts, err)
                delay = min(self.max_delay, delay * 2.0)
                continue
            log.info("%s is available again (after %d attempts)", self.what, self.attempts)
            self.succeeded.set()
            return

    def stop(self, timeout: float | None = 10.0) -> None:
        """Stop retrying and wait for a running attempt to end."""
        self._stop_event.set()
        if self.is_alive() and threading.current_thread() is not self:
            self.join(timeout)
