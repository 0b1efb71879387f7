"""SQL of the sensor store: the write-path statements and the read queries.

Every function takes a DuckDB cursor and binds user values as parameters; no SQL is built
from user text. Results are pandas DataFrames with ``device`` as the device id string and
times as timezone-aware UTC.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from twin.errors import ConfigError, StoreError

UPSERT_LATEST = """
    INSERT INTO latest
    SELECT device, quantity, max(time), arg_max_null(value, time), arg_max_null(unit, time),
           arg_max_null(text, time), min(time), count(*)
    FROM _new_readings
    GROUP BY device, quantity
    ON CONFLICT (device, quantity) DO UPDATE SET
        value = CASE WHEN excluded.time >= latest.time THEN excluded.value ELSE latest.value END,
        unit = CASE WHEN excluded.time >= latest.time THEN excluded.unit ELSE latest.unit END,
        text = CASE WHEN excluded.time >= latest.time THEN excluded.text ELSE latest.text END,
        time = greatest(latest.time, excluded.time),
        first_time = least(latest.first_time, excluded.first_time),
        n = latest.n + excluded.n
"""

UPDATE_SEEN = """
    UPDATE devices SET
        first_seen = least(coalesce(devices.first_seen, s.first), s.first),
        last_seen = CASE WHEN s.last IS NULL THEN devices.last_seen
                         ELSE greatest(coalesce(devices.last_seen, s.last), s.last) END,
        lat = CASE WHEN NOT devices.known AND s.lat IS NOT NULL THEN s.lat ELSE devices.lat END,
        lon = CASE WHEN NOT devices.known AND s.lon IS NOT NULL THEN s.lon ELSE devices.lon END,
        format = s.format,
        application_id = coalesce(s.app, devices.application_id)
    FROM _seen s
    WHERE devices.device = s.device
"""

#: Bounds of the first as-of window: twice the median reporting interval of the pairs
#: searched, clamped to this range; it then doubles until every pair is found.
AS_OF_MIN_WINDOW = timedelta(minutes=1)
AS_OF_MAX_WINDOW = timedelta(days=1)


def _ts(t: datetime | None) -> datetime | None:
    """Make a time timezone-aware UTC (naive times are UTC)."""
    if t is None:
        return None
    if isinstance(t, pd.Timestamp):
        t = t.to_pydatetime()
    elif isinstance(t, str):
        try:
            t = datetime.fromisoformat(t)
        except ValueError as err:
            raise ConfigError(f"expected an ISO 8601 time, got {t!r}") from err
    if not isinstance(t, datetime):
        raise ConfigError(f"expected a datetime, got {t!r}")
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


def _df(cur: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> pd.DataFrame:
    # Arrow → pandas is several times faster than DuckDB's own .df() here.
    return cur.sql(sql, params=params or None).to_arrow_table().to_pandas()


def _arrow(cur: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> pa.Table:
    return cur.sql(sql, params=params or None).to_arrow_table()


def _device_key(cur: duckdb.DuckDBPyConnection, device: str) -> int | None:
    rows = cur.execute(
        "SELECT device FROM devices WHERE device_id = ? OR dev_eui = upper(?) LIMIT 1",
        [device, device],
    ).fetchall()
    return rows[0][0] if rows else None


def _key_or_none(cur: duckdb.DuckDBPyConnection, device: str | None) -> int | None:
    """Return the integer key of a device filter (-1, matching nothing, for an unknown one)."""
    if device is None:
        return None
    key = _device_key(cur, device)
    return -1 if key is None else key


def _limit(limit: int | None, params: list) -> str:
    """Return the ``LIMIT ?`` clause (appending its parameter), or ""."""
    if limit is None:
        return ""
    if int(limit) < 0:
        raise ConfigError(f"limit must be ≥ 0, got {limit}")
    params.append(int(limit))
    return " LIMIT ?"


def _where(clauses: list[tuple[str, object]]) -> tuple[str, list]:
    parts = [sql for sql, value in clauses if value is not None]
    params = [value for _, value in clauses if value is not None]
    return (" WHERE " + " AND ".join(parts) if parts else ""), params


def latest(cur: duckdb.DuckDBPyConnection, quantity: str | None) -> pd.DataFrame:
    """Return the newest value per device and quantity, from the ``latest`` table."""
    where, params = _where([("l.quantity = ?", quantity)])
    return _df(
        cur,
        "SELECT d.device_id AS device, l.quantity, l.time, l.value, l.unit, l.text "
        f"FROM latest l JOIN devices d USING (device){where} "
        "ORDER BY device, l.quantity",
        params,
    )


def as_of(
    cur: duckdb.DuckDBPyConnection,
    t: datetime,
    quantity: str | None,
    max_age: timedelta | None,
) -> pd.DataFrame:
    """Return the last value at or before ``t`` per device and quantity.

    Pairs whose newest reading is not after ``t`` are answered from ``latest``. For the others
    the readings are searched backwards from ``t`` in windows that double in width, starting
    at twice the median reporting interval of those pairs (known from ``latest``: span / count)
    so that the first window usually finds every one; zone maps on ``time`` skip everything
    outside the window. The search stops when every pair is found, when the window passes the
    oldest pair's first reading, or at ``max_age``.
    """
    t = _ts(t)
    oldest = t - max_age if max_age is not None else None
    where, params = _where(
        [("quantity = ?", quantity), ("first_time <= ?", t), ("time > ?", oldest)]
    )
    # Pairs with nothing after t: their latest value is the answer. The rest are pending.
    pairs = _arrow(
        cur,
        "SELECT device, quantity, time, value, unit, text, time > ? AS after, "
        "(epoch(time) - epoch(first_time)) / greatest(n - 1, 1) AS every "
        f"FROM latest{where}",
        [t, *params],
    )
    after = pairs["after"]
    found = [pairs.filter(pc.invert(after)).drop_columns(["after", "every"])]
    pending = pairs.filter(after)
    width = AS_OF_MIN_WINDOW
    if pending.num_rows:
        every = float(np.median(pending["every"].to_numpy()))
        width = min(max(timedelta(seconds=2 * every), AS_OF_MIN_WINDOW), AS_OF_MAX_WINDOW)
    if max_age is not None:
        width = min(width, max_age)
    pending = pending.select(["device", "quantity"])
    hi = t
    while pending.num_rows:
        lo = t - width
        if oldest is not None and lo < oldest:
            lo = oldest
        cur.register("_pending", pending)
        try:
            part = _arrow(
                cur,
                "SELECT r.device, r.quantity, max(r.time) AS time, "
                "arg_max_null(r.value, r.time) AS value, arg_max_null(r.unit, r.time) AS unit, "
                "arg_max_null(r.text, r.time) AS text "
                "FROM readings r SEMI JOIN _pending p "
                "ON r.device = p.device AND r.quantity = p.quantity "
                "WHERE r.time > ? AND r.time <= ? GROUP BY r.device, r.quantity",
                [lo, hi],
            )
            found.append(part)
            if part.num_rows == pending.num_rows or (oldest is not None and lo <= oldest):
                break
            cur.register("_part", part)
            # Still missing, and with readings older than this window.
            pending = _arrow(
                cur,
                "SELECT p.device, p.quantity FROM _pending p "
                "JOIN latest l ON l.device = p.device AND l.quantity = p.quantity "
                "ANTI JOIN _part x ON p.device = x.device AND p.quantity = x.quantity "
                "WHERE l.first_time <= ?",
                [lo],
            )
        finally:
            cur.unregister("_pending")
            cur.unregister("_part")
        hi = lo
        width *= 2
    result = pa.concat_tables(found, promote_options="permissive")
    names = pc.take(_device_names(cur), result["device"])
    result = result.set_column(0, "device", names)
    result = result.sort_by([("device", "ascending"), ("quantity", "ascending")])
    return result.to_pandas()


def _device_names(cur: duckdb.DuckDBPyConnection) -> pa.Array:
    """Device ids as an Arrow array indexed by the integer device key (for a vectorised take)."""
    devs = _arrow(cur, "SELECT device, device_id FROM devices")
    keys = devs["device"].to_numpy()
    lookup = np.full(int(keys.max()) + 1 if len(keys) else 1, None, dtype=object)
    lookup[keys] = devs["device_id"].to_numpy(zero_copy_only=False)
    return pa.array(lookup, type=pa.string())


def history(
    cur: duckdb.DuckDBPyConnection,
    device: str,
    quantity: str | None,
    since: datetime | None,
    until: datetime | None,
) -> pd.DataFrame:
    """Return the readings of one device in time order."""
    key = _device_key(cur, device)
    where, params = _where(
        [
            ("device = ?", key if key is not None else -1),
            ("quantity = ?", quantity),
            ("time >= ?", _ts(since)),
            ("time < ?", _ts(until)),
        ]
    )
    return _df(
        cur,
        "SELECT time, quantity, value, unit, text, f_cnt, rssi, snr "
        f"FROM readings{where} ORDER BY time, quantity",
        params,
    )


def _interval(every: timedelta | str) -> timedelta | str:
    if isinstance(every, timedelta):
        if every <= timedelta(0):
            raise ConfigError(f"bucket width must be positive, got {every}")
        return every
    if isinstance(every, str) and every.strip():
        return every
    raise ConfigError(f"bucket width must be a timedelta or e.g. '15 minutes', got {every!r}")


def buckets(
    cur: duckdb.DuckDBPyConnection,
    quantity: str,
    start: datetime,
    end: datetime,
    every: timedelta | str,
    device: str | None,
    by_device: bool,
) -> pd.DataFrame:
    """Aggregate one quantity per time bucket (and device)."""
    key = _key_or_none(cur, device)
    where, params = _where(
        [
            ("r.quantity = ?", quantity),
            ("r.time >= ?", _ts(start)),
            ("r.time < ?", _ts(end)),
            ("r.device = ?", key),
            ("r.value IS NOT NULL AND ?", True),
        ]
    )
    dev_col = "d.device_id AS device, " if by_device else ""
    join = " JOIN devices d ON d.device = r.device" if by_device else ""
    order = "bucket, device" if by_device else "bucket"
    try:
        return _df(
            cur,
            f"SELECT time_bucket(?::INTERVAL, r.time) AS bucket, {dev_col}"
            "count(*) AS n, avg(r.value) AS mean, min(r.value) AS min, max(r.value) AS max, "
            "arg_max(r.value, r.time) AS last "
            f"FROM readings r{join}{where} GROUP BY ALL ORDER BY {order}",
            [_interval(every), *params],
        )
    except duckdb.ConversionException as err:
        raise ConfigError(f"invalid bucket width {every!r}: {err}") from err


def time_range(cur: duckdb.DuckDBPyConnection) -> tuple[datetime, datetime] | None:
    """Return the first and last reading time (from ``latest``)."""
    row = cur.execute("SELECT min(first_time), max(time) FROM latest").fetchall()[0]
    if row is None or row[0] is None:
        return None
    return row[0].astimezone(UTC), row[1].astimezone(UTC)


def devices(cur: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Return all devices."""
    return _df(
        cur,
        "SELECT device_id AS device, dev_eui, name, kind, building, lat, lon, known, format, "
        "application_id, first_seen, last_seen, quantities FROM devices ORDER BY device_id",
    )


def quantities(cur: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Return the quantities with their most common unit and number of readings."""
    return _df(
        cur,
        "SELECT quantity, arg_max(unit, n) AS unit, sum(n)::BIGINT AS n "
        "FROM latest GROUP BY quantity ORDER BY quantity",
    )


def readings(
    cur: duckdb.DuckDBPyConnection,
    device: str | None,
    since: datetime | None,
    limit: int | None,
    quantity: str | None = None,
) -> pd.DataFrame:
    """Return readings, newest first."""
    where, params = _where(
        [
            ("r.device = ?", _key_or_none(cur, device)),
            ("r.time >= ?", _ts(since)),
            ("r.quantity = ?", quantity),
        ]
    )
    limit_sql = _limit(limit, params)
    return _df(
        cur,
        "SELECT d.device_id AS device, r.time, r.quantity, r.value, r.unit, r.text, r.f_cnt, "
        "r.rssi, r.snr, r.received_at, r.format FROM readings r JOIN devices d USING (device)"
        f"{where} ORDER BY r.time DESC, r.quantity{limit_sql}",
        params,
    )


def events(cur: duckdb.DuckDBPyConnection, device: str | None, limit: int | None) -> pd.DataFrame:
    """Return events, newest first."""
    where, params = _where([("e.device = ?", _key_or_none(cur, device))])
    limit_sql = _limit(limit, params)
    return _df(
        cur,
        "SELECT d.device_id AS device, e.time, e.event_type, e.format, e.topic, e.f_cnt, "
        "e.lat, e.lon, e.data, e.received_at FROM events e JOIN devices d USING (device)"
        f"{where} ORDER BY e.time DESC{limit_sql}",
        params,
    )


def dead_letters(cur: duckdb.DuckDBPyConnection, limit: int | None) -> pd.DataFrame:
    """Return dead letters, newest first."""
    params: list = []
    limit_sql = _limit(limit, params)
    return _df(
        cur,
        "SELECT received_at, topic, payload, error FROM dead_letters "
        f"ORDER BY received_at DESC{limit_sql}",
        params,
    )


def export_parquet(
    cur: duckdb.DuckDBPyConnection,
    path: Path,
    since: datetime | None,
    until: datetime | None,
    device: str | None = None,
    quantity: str | None = None,
) -> int:
    """Stream readings with device ids into a Parquet file (written atomically)."""
    import pyarrow.parquet as pq

    where, params = _where(
        [
            ("r.time >= ?", _ts(since)),
            ("r.time < ?", _ts(until)),
            ("r.device = ?", _key_or_none(cur, device)),
            ("r.quantity = ?", quantity),
        ]
    )
    reader = cur.sql(
        "SELECT d.device_id AS device, d.dev_eui, r.time, r.quantity, r.value, r.unit, r.text, "
        "r.f_cnt, r.rssi, r.snr, r.received_at, r.format "
        f"FROM readings r JOIN devices d USING (device){where} ORDER BY r.time, device",
        params=params or None,
    ).to_arrow_reader(100_000)
    tmp = path.with_name(path.name + ".part")
    rows = 0
    try:
        with pq.ParquetWriter(tmp, reader.schema, compression="zstd") as writer:
            for batch in reader:
                writer.write_batch(batch)
                rows += batch.num_rows
        os.replace(tmp, path)
    except (OSError, pa.ArrowException) as err:
        tmp.unlink(missing_ok=True)
        raise StoreError(f"{path}: cannot write Parquet: {err}") from err
    return rows


def retain(cur: duckdb.DuckDBPyConnection, older_than: timedelta, now: datetime | None) -> int:
    """Delete everything older than ``now - older_than``; fix up ``latest``."""
    if not isinstance(older_than, timedelta) or older_than < timedelta(0):
        raise ConfigError(f"retention must be a positive timedelta, got {older_than!r}")
    cutoff = _ts(now or datetime.now(UTC)) - older_than
    cur.execute("BEGIN")
    try:
        deleted = cur.execute("DELETE FROM readings WHERE time < ?", [cutoff]).fetchall()[0][0]
        cur.execute("DELETE FROM raw_messages WHERE time < ?", [cutoff])
        cur.execute("DELETE FROM events WHERE time < ?", [cutoff])
        cur.execute("DELETE FROM dead_letters WHERE received_at < ?", [cutoff])
        cur.execute("DELETE FROM latest WHERE time < ?", [cutoff])
        # Remember the horizon: a message older than it that arrives later (a redelivery of
        # something deleted, a device replaying its log) is not stored again.
        cur.execute(
            "INSERT INTO meta VALUES ('retained_before', ?) ON CONFLICT (key) DO UPDATE "
            "SET value = greatest(meta.value, excluded.value)",
            [cutoff.astimezone(UTC).isoformat(timespec="microseconds")],
        )
        cur.execute(
            "UPDATE latest SET first_time = s.first_time, n = s.n FROM ("
            "  SELECT device, quantity, min(time) AS first_time, count(*) AS n FROM readings"
            "  GROUP BY device, quantity) s "
            "WHERE latest.device = s.device AND latest.quantity = s.quantity "
            "AND latest.first_time < ?",
            [cutoff],
        )
        cur.execute("COMMIT")
    except BaseException:
        cur.execute("ROLLBACK")
        raise
    return int(deleted)


def retained_before(cur: duckdb.DuckDBPyConnection) -> datetime | None:
    """Return the newest retention cutoff applied to this database (None: never retained)."""
    rows = cur.execute("SELECT value FROM meta WHERE key = 'retained_before'").fetchall()
    return datetime.fromisoformat(rows[0][0]) if rows else None


def counts(cur: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Return the row counts of the tables."""
    out = {}
    for table in ("devices", "readings", "latest", "raw_messages", "events", "dead_letters"):
        out[table] = cur.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]
    return out
