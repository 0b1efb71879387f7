"""The DuckDB schema of the sensor store (documented in ``docs/sensors.md``).

Design points:

- ``readings`` is keyed by an integer ``device`` (see ``devices``), not by the text device
  id: DuckDB's min/max pruning keeps only an 8-byte prefix of text, and DevEUIs share long
  prefixes. Rows arrive in time order, so zone maps on ``time`` prune time-window queries;
  an ART index on ``device`` turns one device's history into an index scan.
- ``latest`` holds the newest value per (device, quantity), plus the first time and the count;
  the writer upserts it in the same transaction as the readings. It answers "latest per
  device" without touching ``readings`` and bounds the as-of search.
- ``raw_messages`` holds one row per stored uplink (payload bytes, signal, dedup key ``uid``);
  ``events`` every non-uplink; ``dead_letters`` what could not be decoded.
- Times are ``TIMESTAMPTZ`` (UTC); every connection sets ``TimeZone = 'UTC'``.
"""

from __future__ import annotations

#: Bump when the schema changes; :func:`migrate` upgrades older files.
SCHEMA_VERSION = 1

TABLES = {
    "meta": """
        CREATE TABLE IF NOT EXISTS meta (
            key VARCHAR PRIMARY KEY,
            value VARCHAR
        )""",
    "devices": """
        CREATE TABLE IF NOT EXISTS devices (
            device INTEGER PRIMARY KEY,     -- integer key used by every other table
            device_id VARCHAR NOT NULL,     -- network/registry device id
            dev_eui VARCHAR,                -- 16 upper-case hex digits
            name VARCHAR,
            kind VARCHAR,
            building VARCHAR,               -- City row id, e.g. 'demo/rathaus'
            lat DOUBLE,
            lon DOUBLE,
            known BOOLEAN NOT NULL,         -- listed in the registry
            format VARCHAR,                 -- wire format it was last seen in
            application_id VARCHAR,
            first_seen TIMESTAMPTZ,
            last_seen TIMESTAMPTZ,
            quantities VARCHAR              -- JSON {name: {unit, label, range, thresholds}}
        )""",
    "readings": """
        CREATE TABLE IF NOT EXISTS readings (
            device INTEGER NOT NULL,
            time TIMESTAMPTZ NOT NULL,      -- network reception time
            quantity VARCHAR NOT NULL,
            value DOUBLE,                   -- NULL for text values
            unit VARCHAR,
            text VARCHAR,
            f_cnt BIGINT,
            rssi REAL,
            snr REAL,
            received_at TIMESTAMPTZ,        -- when twin received the message
            format VARCHAR,
            uid BIGINT                      -- the uplink (raw_messages.uid)
        )""",
    # Per-device history: an ART index on the integer key lets DuckDB fetch one device's rows
    # (an index scan) instead of decompressing every row group of a time-ordered table.
    "readings_device": "CREATE INDEX IF NOT EXISTS readings_device ON readings (device)",
    "latest": """
        CREATE TABLE IF NOT EXISTS latest (
            device INTEGER NOT NULL,
            quantity VARCHAR NOT NULL,
            time TIMESTAMPTZ NOT NULL,
            value DOUBLE,
            unit VARCHAR,
            text VARCHAR,
            first_time TIMESTAMPTZ NOT NULL,
            n BIGINT NOT NULL,
            PRIMARY KEY (device, quantity)
        )""",
    "raw_messages": """
        CREATE TABLE IF NOT EXISTS raw_messages (
            uid BIGINT NOT NULL,            -- hash of dedup id, or device + f_cnt + time
            device INTEGER NOT NULL,
            time TIMESTAMPTZ NOT NULL,
            received_at TIMESTAMPTZ,
            format VARCHAR,
            topic VARCHAR,
            f_cnt BIGINT,
            f_port INTEGER,
            dedup_id VARCHAR,
            rssi REAL,
            snr REAL,
            gateways SMALLINT,
            n_readings INTEGER,
            payload BLOB,                   -- frm_payload bytes
            data VARCHAR                    -- JSON: codec, payload_error, topic_device_id ...
        )""",
    "events": """
        CREATE TABLE IF NOT EXISTS events (
            uid BIGINT NOT NULL,
            device INTEGER NOT NULL,
            time TIMESTAMPTZ NOT NULL,
            received_at TIMESTAMPTZ,
            format VARCHAR,
            event_type VARCHAR,
            topic VARCHAR,
            f_cnt BIGINT,
            lat DOUBLE,
            lon DOUBLE,
            data VARCHAR                    -- JSON body of the event
        )""",
    "dead_letters": """
        CREATE TABLE IF NOT EXISTS dead_letters (
            received_at TIMESTAMPTZ NOT NULL,
            topic VARCHAR,
            payload BLOB,
            error VARCHAR
        )""",
}


def migrate(con, *, path: str) -> None:
    """Create missing tables and upgrade an older schema in place.

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
        A writable connection.
    path : str
        The database file (for messages).

    Raises
    ------
    twin.errors.StoreError
        When the file was written by a newer twin.
    """
    from twin.errors import StoreError

    con.execute("BEGIN")
    try:
        for ddl in TABLES.values():
            con.execute(ddl)
        rows = con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchall()
        row = rows[0] if rows else None
        if row is None:
            con.execute("INSERT INTO meta VALUES ('schema_version', ?)", [str(SCHEMA_VERSION)])
        elif int(row[0]) > SCHEMA_VERSION:
            raise StoreError(
                f"{path}: sensor database schema version {row[0]} is newer than this twin "
                f"understands ({SCHEMA_VERSION}); upgrade twin"
            )
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
