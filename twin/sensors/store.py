"""The DuckDB sensor store: one file holding devices, readings, events and dead letters.

DuckDB allows one writing process per file, and while it holds the file no other process may
even read it. The process that writes (``twin ingest``, or the UI process running the ingest
or the simulator itself) opens a :class:`Store`; its threads read through
:meth:`Store.cursor`, one DuckDB connection per thread. See ``docs/sensors.md``.

The write path (:meth:`Store.write`) takes a batch of decoded messages and dead letters and
commits them in one transaction: duplicates (same dedup id, or same device + frame counter +
time) are dropped, readings, raw uplinks and events are inserted as Arrow tables, ``latest``
is upserted and unknown devices are added with ``known = false``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import weakref
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pyarrow as pa

from twin.errors import StoreError
from twin.sensors import store_queries as q
from twin.sensors.model import DeadLetter, Message
from twin.sensors.registry import Registry, normalize_dev_eui
from twin.sensors.store_schema import migrate
from twin.sensors.store_write import DeviceKeys, WriteResult, message_uid, write_batch

__all__ = ["Store", "WriteResult", "message_uid"]

log = logging.getLogger(__name__)


class Store:
    """A sensor database in a DuckDB file.

    Parameters
    ----------
    path : str or Path
        The database file; created with the schema when missing (unless ``read_only``).
        ``":memory:"`` for a database in memory.
    read_only : bool
        Open without writing; fails when another process holds the file.
    threads : int, optional
        DuckDB worker threads of this database (default: one per core). The ingest's worker
        process uses 1: its batches are too small to gain from parallel inserts, and on a
        busy machine the extra threads only compete with the receiver and the broker.

    Raises
    ------
    StoreError
        When the file is locked by another process, is not a DuckDB database, or was written
        by a newer twin.

    Examples
    --------
    >>> store = Store(":memory:")
    >>> store.time_range() is None
    True
    >>> store.close()
    """

    def __init__(
        self, path: str | Path, *, read_only: bool = False, threads: int | None = None
    ) -> None:
        self.path = str(path)
        self.read_only = read_only
        if read_only and self.path != ":memory:" and not Path(self.path).exists():
            raise StoreError(f"{self.path}: sensor database not found")
        try:
            config = {"threads": int(threads)} if threads else {}
            self._con = duckdb.connect(self.path, read_only=read_only, config=config)
        except duckdb.Error as err:
            raise StoreError(_open_error(self.path, err)) from err
        self._local = threading.local()
        # Weak: a cursor goes away with its thread (threading.local), not only at close().
        self._cursors: weakref.WeakSet[duckdb.DuckDBPyConnection] = weakref.WeakSet()
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._closed = False
        _setup(self._con)
        if not read_only:
            # DuckDB (2.x) merges small row groups at every checkpoint ("vacuum"); with a
            # steady stream of appends that rewrote ever more of raw_messages and readings,
            # and a checkpoint cost up to 30 µs per stored uplink after 500,000 of them.
            # Appended row groups stay as written (one per checkpoint, 30,000+ rows);
            # row groups that retention empties are still dropped.
            with contextlib.suppress(duckdb.CatalogException):  # a DuckDB without the setting
                self._con.execute("SET max_vacuum_tasks = 0")
            try:
                migrate(self._con, path=self.path)
            except duckdb.Error as err:
                self._con.close()
                raise StoreError(
                    f"{self.path}: cannot create the schema: {_first_line(err)}"
                ) from err
        self._keys = DeviceKeys()
        self._horizon: datetime | None = None
        try:
            self._horizon = q.retained_before(self.cursor())
            self._keys.load(self.cursor())
        except duckdb.Error as err:
            self.close()
            raise StoreError(
                f"{self.path}: not a twin sensor database (no devices table): {_first_line(err)}"
            ) from err

    # --- connections --------------------------------------------------------------------

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """Return this thread's connection to the database.

        DuckDB connections must not be shared between threads; each thread gets its own
        cursor (created on first use, closed by :meth:`close`). Readers see every committed
        write, also while the writer thread writes.

        Returns
        -------
        duckdb.DuckDBPyConnection
        """
        if self._closed:
            raise StoreError(f"{self.path}: the store is closed")
        cur = getattr(self._local, "cursor", None)
        if cur is None:
            cur = self._con.cursor()
            _setup(cur)
            self._local.cursor = cur
            with self._lock:
                self._cursors.add(cur)
        return cur

    def close(self) -> None:
        """Close all connections; further calls fail with :class:`StoreError`."""
        if self._closed:
            return
        self._closed = True
        with self._lock:
            for cur in list(self._cursors):
                with contextlib.suppress(duckdb.Error):
                    cur.close()
            self._cursors.clear()
        self._con.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        mode = "read-only" if self.read_only else "read-write"
        return f"Store({self.path!r}, {mode})"

    # --- devices ------------------------------------------------------------------------

    def upsert_devices(self, registry: Registry | Iterable[Any]) -> int:
        """Insert or update the registry's devices (``known = true``).

        A registered device whose DevEUI was seen before under another id (an unknown device
        named by the network server) takes over that device's key and history.

        Parameters
        ----------
        registry : Registry

        Returns
        -------
        int
            Number of devices written.
        """
        self._check_writable()
        self._keys.load(self.cursor())  # current keys, also those another Store object added
        rows = []
        for dev in registry:
            eui = normalize_dev_eui(dev.dev_eui) if dev.dev_eui else None
            key = self._keys.key_for(dev.device_id, eui)
            quantities = {
                name: {
                    "unit": qd.unit,
                    "label": qd.label,
                    "range": list(qd.range) if qd.range else None,
                    "thresholds": list(qd.thresholds),
                }
                for name, qd in dev.quantities.items()
            }
            rows.append((key, dev, eui, json.dumps(quantities, ensure_ascii=False)))
        cur = self.cursor()
        with self._write_lock:
            cols: dict[str, list] = {c: [] for c in _DEVICE_COLUMNS}
            for key, dev, eui, quantities in rows:
                new = key is None
                key = self._keys.add(dev.device_id, eui, key)
                values = (
                    key, dev.device_id, eui, dev.name, dev.kind, dev.building,
                    dev.lat, dev.lon, quantities, new,
                )  # fmt: skip
                for col, value in zip(_DEVICE_COLUMNS, values, strict=True):
                    cols[col].append(value)
            table = pa.table(cols, schema=_DEVICE_SCHEMA)
            cur.execute("BEGIN")
            try:
                cur.register("_registry", table)
                cur.execute(
                    "UPDATE devices SET device_id = r.device_id, dev_eui = r.dev_eui, "
                    "name = r.name, kind = r.kind, building = r.building, lat = r.lat, "
                    "lon = r.lon, quantities = r.quantities, known = true "
                    "FROM _registry r WHERE devices.device = r.device AND NOT r.new"
                )
                cur.execute(
                    "INSERT INTO devices (device, device_id, dev_eui, name, kind, building, "
                    "lat, lon, quantities, known) SELECT device, device_id, dev_eui, name, kind, "
                    "building, lat, lon, quantities, true FROM _registry WHERE new"
                )
                cur.execute("COMMIT")
            except BaseException as err:
                with contextlib.suppress(duckdb.Error):
                    cur.execute("ROLLBACK")
                self._keys.load(cur)
                if isinstance(err, duckdb.Error):
                    raise StoreError(
                        f"{self.path}: cannot write devices: {_first_line(err)}"
                    ) from err
                raise
            finally:
                cur.unregister("_registry")
        return len(rows)

    # --- writing ------------------------------------------------------------------------

    def _check_writable(self) -> None:
        if self.read_only:
            raise StoreError(f"{self.path}: opened read-only")

    def write(self, messages: Sequence[Message], dead: Sequence[DeadLetter] = ()) -> WriteResult:
        """Store a batch of decoded messages and dead letters in one transaction.

        Parameters
        ----------
        messages : sequence of Message
            Uplinks (readings + raw message) and events.
        dead : sequence of DeadLetter

        Returns
        -------
        WriteResult

        Raises
        ------
        StoreError
            When the database cannot be written, or a message holds values that cannot be
            stored; nothing of the batch is stored then.
        """
        self._check_writable()
        with self._write_lock:
            cur = self.cursor()
            try:
                cur.execute("BEGIN")
                result = write_batch(cur, messages, dead, self._keys, self._horizon)
                cur.execute("COMMIT")
            except BaseException as err:
                with contextlib.suppress(duckdb.Error):
                    cur.execute("ROLLBACK")
                self._keys.load(cur)
                if isinstance(
                    err, (duckdb.Error, pa.ArrowException, ValueError, TypeError, OverflowError)
                ):
                    raise StoreError(
                        f"{self.path}: cannot write sensor data: {_first_line(err)}"
                    ) from err
                raise
        return result

    def latest(self, quantity: str | None = None) -> pd.DataFrame:
        """Return the newest value per device and quantity.

        Parameters
        ----------
        quantity : str, optional
            Only this quantity.

        Returns
        -------
        pandas.DataFrame
            Columns ``device, quantity, time, value, unit, text`` (``device`` is the device
            id), ordered by device and quantity.
        """
        return q.latest(self.cursor(), quantity)

    def as_of(
        self, t: datetime, quantity: str | None = None, max_age: timedelta | None = None
    ) -> pd.DataFrame:
        """Return the value each device had at time ``t``: its last reading at or before ``t``.

        Parameters
        ----------
        t : datetime
            The time (naive times are UTC).
        quantity : str, optional
            Only this quantity.
        max_age : timedelta, optional
            Only readings newer than ``t - max_age`` count (a sensor that went silent).

        Returns
        -------
        pandas.DataFrame
            Columns ``device, quantity, time, value, unit, text``.
        """
        return q.as_of(self.cursor(), t, quantity, max_age)

    def history(
        self,
        device: str,
        quantity: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> pd.DataFrame:
        """Return the readings of one device in time order.

        Parameters
        ----------
        device : str
            Device id (or DevEUI).
        quantity : str, optional
        since, until : datetime, optional
            Half-open interval ``[since, until)``.

        Returns
        -------
        pandas.DataFrame
            Columns ``time, quantity, value, unit, text, f_cnt, rssi, snr``; empty for an
            unknown device.
        """
        return q.history(self.cursor(), device, quantity, since, until)

    def buckets(
        self,
        quantity: str,
        start: datetime,
        end: datetime,
        every: timedelta | str,
        device: str | None = None,
        *,
        by_device: bool = True,
    ) -> pd.DataFrame:
        """Aggregate a quantity into time buckets (``time_bucket``).

        Parameters
        ----------
        quantity : str
        start, end : datetime
            Half-open interval of reading times.
        every : timedelta or str
            Bucket width (``timedelta(minutes=15)`` or ``"15 minutes"``).
        device : str, optional
            Only this device.
        by_device : bool
            One row per bucket and device (default), or per bucket over all devices.

        Returns
        -------
        pandas.DataFrame
            Columns ``bucket, [device,] n, mean, min, max, last``.
        """
        return q.buckets(self.cursor(), quantity, start, end, every, device, by_device)

    def time_range(self) -> tuple[datetime, datetime] | None:
        """Return ``(first, last)`` reading time, or None when there are no readings."""
        return q.time_range(self.cursor())

    def devices(self) -> pd.DataFrame:
        """Return all devices (registered and unknown) with position and last-seen time."""
        return q.devices(self.cursor())

    def quantities(self) -> pd.DataFrame:
        """Return the quantities present: ``quantity, unit, n`` (n = number of readings)."""
        return q.quantities(self.cursor())

    def readings(
        self,
        device: str | None = None,
        since: datetime | None = None,
        limit: int | None = None,
        quantity: str | None = None,
    ) -> pd.DataFrame:
        """Return readings, newest first.

        Parameters
        ----------
        device : str, optional
            Device id or DevEUI.
        since : datetime, optional
        limit : int, optional
        quantity : str, optional

        Returns
        -------
        pandas.DataFrame
            Columns ``device, time, quantity, value, unit, text, f_cnt, rssi, snr,
            received_at, format``.
        """
        return q.readings(self.cursor(), device, since, limit, quantity)

    def events(self, device: str | None = None, limit: int | None = None) -> pd.DataFrame:
        """Return events (join, ack, status, log, ...), newest first."""
        return q.events(self.cursor(), device, limit)

    def dead_letters(self, limit: int | None = None) -> pd.DataFrame:
        """Return dead letters (topic, payload, error, received_at), newest first."""
        return q.dead_letters(self.cursor(), limit)

    def export_parquet(
        self,
        path: str | Path,
        since: datetime | None = None,
        until: datetime | None = None,
        *,
        device: str | None = None,
        quantity: str | None = None,
    ) -> int:
        """Write readings (with device ids) to a Parquet file, oldest first.

        Parameters
        ----------
        path : str or Path
            The file; written to ``path.part`` and renamed when complete.
        since, until : datetime, optional
            Half-open interval of reading times.
        device : str, optional
            Only this device (id or DevEUI).
        quantity : str, optional
            Only this quantity.

        Returns
        -------
        int
            Number of rows written.

        Raises
        ------
        StoreError
            When the file cannot be written.
        """
        return q.export_parquet(self.cursor(), Path(path), since, until, device, quantity)

    def retain(self, older_than: timedelta, *, now: datetime | None = None) -> int:
        """Delete readings, raw messages, events and dead letters older than a duration.

        Parameters
        ----------
        older_than : timedelta
            Keep what is newer than ``now - older_than``.
        now : datetime, optional
            Reference time; the current time by default.

        Returns
        -------
        int
            Number of readings deleted.

        Notes
        -----
        The cutoff is remembered in the ``meta`` table: messages older than it that arrive
        later (redeliveries of deleted messages, whose dedup keys went with them) are not
        stored again; :meth:`write` counts them as ``expired``.
        """
        self._check_writable()
        with self._write_lock:
            try:
                deleted = q.retain(self.cursor(), older_than, now)
                self._horizon = q.retained_before(self.cursor())
                return deleted
            except duckdb.Error as err:
                raise StoreError(
                    f"{self.path}: cannot delete old sensor data: {_first_line(err)}"
                ) from err

    def counts(self) -> dict[str, int]:
        """Return the number of rows of each table."""
        return q.counts(self.cursor())


# --- helpers ----------------------------------------------------------------------------


def _first_line(err: BaseException) -> str:
    """DuckDB's message without its hints and SQL excerpt (our errors are one line)."""
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def _open_error(path: str, err: Exception) -> str:
    text = _first_line(err)
    if "lock" in text.lower():
        return (
            f"{path}: the sensor database is held by another process ({text}); DuckDB allows "
            "one writing process: stop it, or read through that process"
        )
    if "different configuration" in text:
        return (
            f"{path}: the sensor database is already open in this process with another mode "
            f"({text}); read through that Store's cursor()"
        )
    return f"{path}: cannot open the sensor database: {text}"


_DEVICE_SCHEMA = pa.schema(
    [
        ("device", pa.int32()), ("device_id", pa.string()), ("dev_eui", pa.string()),
        ("name", pa.string()), ("kind", pa.string()), ("building", pa.string()),
        ("lat", pa.float64()), ("lon", pa.float64()), ("quantities", pa.string()),
        ("new", pa.bool_()),
    ]
)  # fmt: skip
_DEVICE_COLUMNS = tuple(_DEVICE_SCHEMA.names)


def _setup(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("SET TimeZone = 'UTC'")
    # Use the device index for histories of up to 20,000 rows (default 2,048 or 0.1 %).
    con.execute("SET index_scan_max_count = 20000")
