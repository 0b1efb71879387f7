"""The write path of the sensor store: one batch of messages → one transaction's rows.

Dedup (within the batch, then against the stored uids of the batch's time span), device keys
for unknown devices, Arrow tables for ``raw_messages``, ``events``, ``readings`` and
``dead_letters``, and the ``latest`` upsert. Used by :meth:`twin.sensors.store.Store.write`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import duckdb
import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from twin.sensors.model import DeadLetter, Message
from twin.sensors.store_queries import UPDATE_SEEN, UPSERT_LATEST

_TS = pa.timestamp("us", tz="UTC")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
#: Below 2**52 µs from the epoch (until the year 2112) a float of seconds rounds back to the
#: exact microsecond: both roundings (to seconds, times 1e6) err by less than 0.25 µs each.
_EXACT_US = 2.0**52


def ts_array(times: Sequence[datetime]) -> pa.Array:
    """Arrow UTC timestamps (µs) of timezone-aware datetimes, exact.

    Five times faster than ``pa.array(times, type)``, which asks every datetime for its
    offset; falls back to it for naive datetimes and for times beyond the year 2112.
    """
    try:
        seconds = np.fromiter([(t - _EPOCH).total_seconds() for t in times], np.float64, len(times))
    except TypeError:  # a naive datetime (or None): let Arrow decide
        return pa.array(times, _TS)
    micros = np.rint(seconds * 1e6)
    if len(micros) and not np.abs(micros).max() < _EXACT_US:
        return pa.array(times, _TS)
    return pa.array(micros.astype(np.int64)).cast(_TS)


@dataclass(frozen=True)
class WriteResult:
    """What one :meth:`Store.write` committed.

    Parameters
    ----------
    stored : int
        Uplink messages stored.
    duplicates : int
        Messages (uplinks and events) dropped because they were already stored.
    expired : int
        Messages dropped because they are older than the store's retention horizon.
    events : int
        Events stored.
    dead : int
        Dead letters stored.
    readings : int
        Reading rows inserted.
    devices : frozenset of str
        Device ids that got new readings or events.
    quantities : frozenset of str
        Quantities that got new readings.
    tmin, tmax : datetime or None
        Time span of the new readings.
    """

    stored: int = 0
    duplicates: int = 0
    expired: int = 0
    events: int = 0
    dead: int = 0
    readings: int = 0
    devices: frozenset[str] = field(default_factory=frozenset)
    quantities: frozenset[str] = field(default_factory=frozenset)
    tmin: datetime | None = None
    tmax: datetime | None = None


def message_uid(message: Message) -> int:
    """Return the dedup key of a message as a signed 64-bit integer.

    The network's dedup id when there is one (ChirpStack ``deduplicationId``, TTN
    ``as:up:…``), else device id + frame counter + time (+ event type for events).
    """
    if message.dedup_id:
        key = f"{message.kind}|{message.event_type}|{message.dedup_id}"
    else:
        key = (
            f"{message.kind}|{message.event_type}|{message.device_id}|{message.f_cnt}|"
            f"{message.time.isoformat()}"
        )
    digest = hashlib.blake2b(key.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


class DeviceKeys:
    """The integer key of each device id and DevEUI, cached in the writing process."""

    def __init__(self) -> None:
        self.by_id: dict[str, int] = {}
        self.by_eui: dict[str, int] = {}
        self.names: dict[int, str] = {}
        self.next_key = 1

    def load(self, cur: duckdb.DuckDBPyConnection) -> None:
        """(Re)load the keys from the ``devices`` table."""
        self.by_id.clear()
        self.by_eui.clear()
        self.names.clear()
        rows = cur.execute("SELECT device, device_id, dev_eui FROM devices").fetchall()
        for key, device_id, dev_eui in rows:
            self.by_id[device_id] = key
            self.names[key] = device_id
            if dev_eui:
                self.by_eui[dev_eui] = key
        self.next_key = max((r[0] for r in rows), default=0) + 1

    def key_for(self, device_id: str, dev_eui: str | None) -> int | None:
        """Return the key of a device id, else of its DevEUI, else None."""
        key = self.by_id.get(device_id)
        if key is None and dev_eui:
            key = self.by_eui.get(dev_eui)
        return key

    def add(self, device_id: str, dev_eui: str | None, key: int | None = None) -> int:
        """Assign a key (a new one unless given) to a device id and DevEUI."""
        if key is None:
            key = self.next_key
            self.next_key += 1
        old = self.names.get(key)
        if old is not None and old != device_id:
            self.by_id.pop(old, None)
        self.by_id[device_id] = key
        self.names[key] = device_id
        if dev_eui:
            self.by_eui[dev_eui] = key
        return key


def write_batch(
    cur: duckdb.DuckDBPyConnection,
    messages: Sequence[Message],
    dead: Sequence[DeadLetter],
    keys: DeviceKeys,
    horizon: datetime | None = None,
) -> WriteResult:
    """Write one batch inside the caller's transaction; see :meth:`Store.write`.

    Messages older than ``horizon`` (the last retention cutoff) are dropped, not stored.
    """
    # 1. Dedup inside the batch, then against the database (same time window).
    seen: set[int] = set()
    candidates: list[tuple[int, Message]] = []
    duplicates = 0
    for m in messages:
        uid = message_uid(m)
        if uid in seen:
            duplicates += 1
            continue
        seen.add(uid)
        candidates.append((uid, m))
    expired = 0
    if horizon is not None and candidates:
        kept = [(uid, m) for uid, m in candidates if m.time >= horizon]
        expired, candidates = len(candidates) - len(kept), kept
    if candidates:
        existing = _existing_uids(cur, candidates)
        if existing:
            duplicates += sum(1 for uid, _ in candidates if uid in existing)
            candidates = [(uid, m) for uid, m in candidates if uid not in existing]
    # 2. Devices: keys for new ones, last_seen for all.
    batch_keys = _ensure_devices(cur, [m for _, m in candidates], keys)
    # 3. Rows: one list per column, built with comprehensions (the hot path at high rates).
    events = [(uid, m) for uid, m in candidates if m.kind == "event"]
    ups = [(uid, m) for uid, m in candidates if m.kind != "event"] if events else candidates
    n_up, n_ev = len(ups), len(events)
    names = keys.names
    devices: set[str] = {names[batch_keys[m.device_id]] for _, m in candidates}
    quantities: set[str] = set()
    ev_cols: dict[str, list] = {}
    if n_ev:
        locs = [m.location for _, m in events]
        ev_cols = {
            "uid": [uid for uid, _ in events],
            "device": [batch_keys[m.device_id] for _, m in events],
            "time": ts_array([m.time for _, m in events]),
            "received_at": ts_array([m.received_at for _, m in events]),
            "format": [m.format for _, m in events],
            "event_type": [m.event_type for _, m in events],
            "topic": [m.topic for _, m in events],
            "f_cnt": [m.f_cnt for _, m in events],
            "lat": [loc[0] if loc else None for loc in locs],
            "lon": [loc[1] if loc else None for loc in locs],
            "data": [_json(m.data) for _, m in events],
        }
    up_cols: dict[str, list] = {}
    counts: list[int] = []
    if n_up:
        msgs = [m for _, m in ups]
        payloads = [m.data.get("frm_payload") for m in msgs]
        up_cols = {
            "uid": [uid for uid, _ in ups],
            "device": [batch_keys[m.device_id] for m in msgs],
            "time": ts_array([m.time for m in msgs]),
            "received_at": ts_array([m.received_at for m in msgs]),
            "format": [m.format for m in msgs],
            "topic": [m.topic for m in msgs],
            "f_cnt": [m.f_cnt for m in msgs],
            "f_port": [m.f_port for m in msgs],
            "dedup_id": [m.dedup_id for m in msgs],
            "rssi": [m.rssi for m in msgs],
            "snr": [m.snr for m in msgs],
            "gateways": [min(m.gateways, 32767) for m in msgs],
            "n_readings": (counts := [len(m.readings) for m in msgs]),
            "payload": [_b64(p) if p else None for p in payloads],
            "data": [_data_json(m.data) if m.data else None for m in msgs],
        }
    readings = [r for _, m in ups for r in m.readings]
    r_quantity = [r.quantity for r in readings]
    r_value = [r.value for r in readings]
    r_unit = [r.unit for r in readings]
    r_text = [r.text for r in readings]
    n_readings = len(r_quantity)
    if n_ev:
        _insert(cur, "events", pa.table(ev_cols, schema=_EVENT_SCHEMA))
    tmin = tmax = None
    if n_up:
        raw = pa.table(up_cols, schema=_RAW_SCHEMA)
        _insert(cur, "raw_messages", raw)
    if n_readings:
        # Message-level columns repeated once per reading, in Arrow, not in Python.
        rows = np.repeat(np.arange(n_up), counts)
        base = raw.select(_PER_MESSAGE).take(pa.array(rows))
        table = pa.table(
            {
                "device": base["device"],
                "time": base["time"],
                "quantity": pa.array(r_quantity, pa.string()),
                "value": pa.array(r_value, pa.float64()),
                "unit": pa.array(r_unit, pa.string()),
                "text": pa.array(r_text, pa.string()),
                "f_cnt": base["f_cnt"],
                "rssi": base["rssi"],
                "snr": base["snr"],
                "received_at": base["received_at"],
                "format": base["format"],
                "uid": base["uid"],
            },
            schema=_READING_SCHEMA,
        )
        _insert(cur, "readings", table)
        cur.register("_new_readings", table)
        try:
            cur.execute(UPSERT_LATEST)
        finally:
            cur.unregister("_new_readings")
        span = pc.min_max(table["time"]).as_py()
        tmin, tmax = span["min"], span["max"]
        quantities.update(r_quantity)
    if dead:
        table = pa.table(
            {
                "received_at": ts_array([d.received_at for d in dead]),
                "topic": [d.topic for d in dead],
                "payload": [bytes(d.payload) for d in dead],
                "error": [d.error for d in dead],
            },
            schema=_DEAD_SCHEMA,
        )
        _insert(cur, "dead_letters", table)
    return WriteResult(
        stored=n_up,
        duplicates=duplicates,
        expired=expired,
        events=n_ev,
        dead=len(dead),
        readings=n_readings,
        devices=frozenset(devices),
        quantities=frozenset(quantities),
        tmin=tmin,
        tmax=tmax,
    )


def _ensure_devices(
    cur: duckdb.DuckDBPyConnection, messages: list[Message], device_keys: DeviceKeys
) -> dict[str, int]:
    keys: dict[str, int] = {}
    seen: dict[int, list[Any]] = {}  # key → [first, last, location, format, app]
    new: dict[int, Message] = {}
    pairs = {(m.device_id, m.dev_eui) for m in messages}
    if any(device_keys.key_for(device_id, eui) is None for device_id, eui in pairs):
        # A device we have not seen: refresh the cache inside this transaction, in case another
        # Store object on the same file (in this process) added it or took the next key.
        device_keys.load(cur)
    for m in messages:
        key = keys.get(m.device_id)
        if key is None:
            key = device_keys.key_for(m.device_id, m.dev_eui)
            if key is None:
                key = device_keys.add(m.device_id, m.dev_eui)
                new[key] = m
            keys[m.device_id] = key
        heard = m.time if m.kind == "uplink" else None  # last_seen: uplinks only
        info = seen.get(key)
        if info is None:
            seen[key] = [m.time, heard, m.location, m.format, m.application_id]
        else:
            info[0] = min(info[0], m.time)
            if heard is not None:
                info[1] = heard if info[1] is None else max(info[1], heard)
            info[2] = m.location or info[2]
    if new:
        locs = [seen[key][2] for key in new]
        table = pa.table(
            {
                "device": pa.array(list(new), pa.int32()),
                "device_id": pa.array([m.device_id for m in new.values()], pa.string()),
                "dev_eui": pa.array([m.dev_eui for m in new.values()], pa.string()),
                "name": pa.array([m.device_id for m in new.values()], pa.string()),
                "lat": pa.array([loc[0] if loc else None for loc in locs], pa.float64()),
                "lon": pa.array([loc[1] if loc else None for loc in locs], pa.float64()),
                "known": pa.array([False] * len(new), pa.bool_()),
            }
        )
        _insert(cur, "devices", table)
    if seen:
        table = pa.table(
            {
                "device": pa.array(list(seen), pa.int32()),
                "first": pa.array([v[0] for v in seen.values()], _TS),
                "last": pa.array([v[1] for v in seen.values()], _TS),
                "lat": pa.array([v[2][0] if v[2] else None for v in seen.values()], pa.float64()),
                "lon": pa.array([v[2][1] if v[2] else None for v in seen.values()], pa.float64()),
                "format": pa.array([v[3] for v in seen.values()], pa.string()),
                "app": pa.array([v[4] for v in seen.values()], pa.string()),
            }
        )
        cur.register("_seen", table)
        try:
            cur.execute(UPDATE_SEEN)
        finally:
            cur.unregister("_seen")
    return keys


# --- queries (delegated to store_queries) -------------------------------------------


_RAW_SCHEMA = pa.schema(
    [
        ("uid", pa.int64()), ("device", pa.int32()), ("time", _TS), ("received_at", _TS),
        ("format", pa.string()), ("topic", pa.string()), ("f_cnt", pa.int64()),
        ("f_port", pa.int32()), ("dedup_id", pa.string()), ("rssi", pa.float32()),
        ("snr", pa.float32()), ("gateways", pa.int16()), ("n_readings", pa.int32()),
        ("payload", pa.binary()), ("data", pa.string()),
    ]
)  # fmt: skip
_EVENT_SCHEMA = pa.schema(
    [
        ("uid", pa.int64()), ("device", pa.int32()), ("time", _TS), ("received_at", _TS),
        ("format", pa.string()), ("event_type", pa.string()), ("topic", pa.string()),
        ("f_cnt", pa.int64()), ("lat", pa.float64()), ("lon", pa.float64()),
        ("data", pa.string()),
    ]
)  # fmt: skip
_READING_SCHEMA = pa.schema(
    [
        ("device", pa.int32()), ("time", _TS), ("quantity", pa.string()),
        ("value", pa.float64()), ("unit", pa.string()), ("text", pa.string()),
        ("f_cnt", pa.int64()), ("rssi", pa.float32()), ("snr", pa.float32()),
        ("received_at", _TS), ("format", pa.string()), ("uid", pa.int64()),
    ]
)  # fmt: skip
_DEAD_SCHEMA = pa.schema(
    [("received_at", _TS), ("topic", pa.string()), ("payload", pa.binary()), ("error", pa.string())]
)
_RAW_COLUMNS = tuple(_RAW_SCHEMA.names)
_PER_MESSAGE = ["device", "time", "f_cnt", "rssi", "snr", "received_at", "format", "uid"]
_EVENT_COLUMNS = tuple(_EVENT_SCHEMA.names)


def _insert(cur: duckdb.DuckDBPyConnection, name: str, table: pa.Table) -> None:
    view = f"_batch_{name}"
    cur.register(view, table)
    try:
        cols = ", ".join(table.schema.names)
        cur.execute(f"INSERT INTO {name} ({cols}) SELECT {cols} FROM {view}")
    finally:
        cur.unregister(view)


def _existing_uids(
    cur: duckdb.DuckDBPyConnection, candidates: list[tuple[int, Message]]
) -> set[int]:
    """Uids of the batch already stored; searched only in the batch's time span."""
    ups = [(uid, m.time) for uid, m in candidates if m.kind == "uplink"]
    evs = [(uid, m.time) for uid, m in candidates if m.kind == "event"]
    found: set[int] = set()
    for table, items in (("raw_messages", ups), ("events", evs)):
        if not items:
            continue
        uids = pa.table({"uid": pa.array([u for u, _ in items], pa.int64())})
        times = [t for _, t in items]
        cur.register("_cand", uids)
        try:
            rows = cur.execute(
                f"SELECT uid FROM {table} WHERE time >= ? AND time <= ? "
                "AND uid IN (SELECT uid FROM _cand)",
                [min(times), max(times)],
            ).fetchall()
        finally:
            cur.unregister("_cand")
        found.update(r[0] for r in rows)
    return found


def _json(data: dict[str, Any]) -> str | None:
    """Serialise a message's extra data (orjson; the json module for what orjson refuses)."""
    if not data:
        return None
    try:
        return orjson.dumps(data, default=str).decode()
    except (TypeError, orjson.JSONEncodeError):  # e.g. integers beyond 64 bits, non-str keys
        return json.dumps(data, ensure_ascii=False, default=str)


def _data_json(data: dict[str, Any]) -> str | None:
    """:func:`_json` of an uplink's data without ``frm_payload`` (stored as bytes)."""
    if "frm_payload" in data:
        if len(data) == 1:  # the usual uplink: nothing but the payload
            return None
        data = {k: v for k, v in data.items() if k != "frm_payload"}
    return _json(data)


def _b64(text: str | None) -> bytes | None:
    if not text:
        return None
    try:
        return base64.b64decode(text)
    except (binascii.Error, ValueError):
        return text.encode()
