"""The DuckDB store on a generated history: answers checked against brute force with pandas."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta

import duckdb
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from twin.errors import ConfigError, StoreError
from twin.sensors.model import DeadLetter, Message, Reading
from twin.sensors.registry import Device, Quantity, Registry
from twin.sensors.store import Store

T0 = datetime(2026, 5, 4, tzinfo=UTC)
STEP = timedelta(minutes=5)


def uplink(device, t, f_cnt, readings, *, dedup_id=None, eui=None, location=None, fmt="ttn"):
    return Message(
        topic=f"v3/app@ttn/devices/{device}/up",
        format=fmt,
        kind="uplink",
        device_id=device,
        dev_eui=eui,
        time=t,
        received_at=t + timedelta(seconds=1),
        f_cnt=f_cnt,
        f_port=1,
        dedup_id=dedup_id,
        rssi=-80.0,
        snr=7.5,
        gateways=1,
        readings=readings,
        location=location,
        data={"frm_payload": "AQI="},
    )


def history_messages(n_devices=12, steps=96, seed=3):
    """Devices report temperature + co2 every 5 min with jitter; device 0 goes silent early,
    device 1 reports every 2 hours only, device 2 sends a text state."""
    rng = np.random.default_rng(seed)
    messages = []
    for d in range(n_devices):
        name = f"dev-{d:02d}"
        every = 24 if d == 1 else 1
        last = 10 if d == 0 else steps
        for k in range(0, last, every):
            t = T0 + k * STEP + timedelta(seconds=int(rng.integers(0, 60)))
            readings = [
                Reading("temperature", round(15 + d + 0.01 * k, 3), "°C"),
                Reading("co2", float(400 + 10 * d + k), "ppm"),
            ]
            if d == 2:
                readings.append(Reading("gate", None, "", "open" if k % 2 else "blocked"))
            messages.append(uplink(name, t, k, readings))
    return messages


def frame(messages) -> pd.DataFrame:
    rows = [
        (m.device_id, m.time, r.quantity, r.value, r.unit, r.text)
        for m in messages
        for r in m.readings
    ]
    df = pd.DataFrame(rows, columns=["device", "time", "quantity", "value", "unit", "text"])
    df["time"] = pd.to_datetime(df["time"], utc=True)
    return df


@pytest.fixture
def filled(tmp_path):
    messages = history_messages()
    store = Store(tmp_path / "twin.duckdb")
    # Written in several batches, in a shuffled order (late messages arrive after newer ones).
    order = np.random.default_rng(1).permutation(len(messages))
    shuffled = [messages[i] for i in order]
    for i in range(0, len(shuffled), 250):
        store.write(shuffled[i : i + 250])
    yield store, frame(messages)
    store.close()


def _key(df):
    return df.sort_values(["device", "quantity"], ignore_index=True)


def test_counts_and_result(tmp_path):
    messages = history_messages()
    with Store(tmp_path / "a.duckdb") as store:
        result = store.write(messages)
        expected_readings = sum(len(m.readings) for m in messages)
        assert (result.stored, result.duplicates, result.readings) == (
            len(messages),
            0,
            expected_readings,
        )
        assert result.devices == {f"dev-{d:02d}" for d in range(12)}
        assert result.quantities == {"temperature", "co2", "gate"}
        counts = store.counts()
        assert counts["readings"] == expected_readings
        assert counts["raw_messages"] == len(messages)
        assert counts["devices"] == 12
        assert counts["latest"] == 12 * 2 + 1


def test_latest_matches_brute_force(filled):
    store, df = filled
    want = df.sort_values("time").groupby(["device", "quantity"]).tail(1)
    got = store.latest()
    assert len(got) == len(want) == 25
    merged = _key(got).merge(_key(want), on=["device", "quantity"], suffixes=("", "_want"))
    assert (merged["time"] == merged["time_want"]).all()
    np.testing.assert_allclose(merged["value"].fillna(-1), merged["value_want"].fillna(-1))
    assert list(merged["text"].fillna("")) == list(merged["text_want"].fillna(""))
    assert set(store.latest("co2")["quantity"]) == {"co2"}


@pytest.mark.parametrize(
    "offset",
    [
        timedelta(minutes=-1),  # before anything
        timedelta(0),
        timedelta(minutes=47),  # device 0 still reporting
        timedelta(hours=3, minutes=2),  # device 0 silent for 2 h, device 1 between reports
        timedelta(hours=5, seconds=30),
        timedelta(hours=9),  # after the end: everything's latest
    ],
)
def test_as_of_matches_brute_force(filled, offset):
    store, df = filled
    t = T0 + offset
    want = df[df["time"] <= t].sort_values("time").groupby(["device", "quantity"]).tail(1)
    got = store.as_of(t)
    assert len(got) == len(want)
    if len(want):
        merged = _key(got).merge(_key(want), on=["device", "quantity"], suffixes=("", "_want"))
        assert len(merged) == len(want)
        assert (merged["time"] == merged["time_want"]).all()
        np.testing.assert_allclose(merged["value"].fillna(-1), merged["value_want"].fillna(-1))


def test_as_of_with_max_age_drops_silent_devices(filled):
    store, df = filled
    t = T0 + timedelta(hours=4)
    got = store.as_of(t, quantity="co2", max_age=timedelta(minutes=30))
    recent = df[
        (df["time"] <= t) & (df["time"] > t - timedelta(minutes=30)) & (df["quantity"] == "co2")
    ]
    assert set(got["device"]) == set(recent["device"])
    assert "dev-00" not in set(got["device"])  # silent since 50 min after T0
    everything = store.as_of(t, quantity="co2")
    assert "dev-00" in set(everything["device"])


def test_history(filled):
    store, df = filled
    got = store.history(
        "dev-03", "temperature", since=T0 + timedelta(hours=1), until=T0 + timedelta(hours=2)
    )
    want = df[(df["device"] == "dev-03") & (df["quantity"] == "temperature")]
    want = want[
        (want["time"] >= T0 + timedelta(hours=1)) & (want["time"] < T0 + timedelta(hours=2))
    ]
    assert list(got["time"]) == sorted(want["time"])
    assert list(got["value"]) == list(want.sort_values("time")["value"])
    assert got["time"].is_monotonic_increasing
    assert store.history("no-such-device").empty
    assert len(store.history("dev-02")) == len(df[df["device"] == "dev-02"])


def test_buckets_match_pandas(filled):
    store, df = filled
    start, end = T0, T0 + timedelta(hours=8)
    got = store.buckets("co2", start, end, timedelta(hours=1))
    sel = df[(df["quantity"] == "co2") & (df["time"] >= start) & (df["time"] < end)].copy()
    sel["bucket"] = sel["time"].dt.floor("1h")
    want = (
        sel.groupby(["bucket", "device"])["value"]
        .agg(["count", "mean", "min", "max"])
        .reset_index()
    )
    assert len(got) == len(want)
    merged = got.merge(want, on=["bucket", "device"])
    assert (merged["n"] == merged["count"]).all()
    np.testing.assert_allclose(merged["mean_x"], merged["mean_y"])
    np.testing.assert_allclose(merged["min_x"], merged["min_y"])
    overall = store.buckets("co2", start, end, "1 hour", by_device=False)
    assert list(overall.columns[:2]) == ["bucket", "n"]
    assert overall["n"].sum() == len(sel)
    one = store.buckets("co2", start, end, "30 minutes", device="dev-05")
    assert set(one["device"]) == {"dev-05"} and one["n"].sum() == (sel["device"] == "dev-05").sum()


def test_times_as_strings_and_pandas(filled):
    store, _ = filled
    t = T0 + timedelta(hours=2)
    a = store.as_of(t)
    assert a.equals(store.as_of(t.isoformat()))
    assert a.equals(store.as_of(pd.Timestamp(t)))
    assert a.equals(store.as_of(t.replace(tzinfo=None)))  # naive = UTC
    with pytest.raises(ConfigError, match="expected an ISO 8601 time"):
        store.as_of("yesterday")


def test_bucket_width_errors(filled):
    store, _ = filled
    with pytest.raises(ConfigError, match="invalid bucket width"):
        store.buckets("co2", T0, T0 + timedelta(hours=1), "fortnightish")
    with pytest.raises(ConfigError, match="must be positive"):
        store.buckets("co2", T0, T0 + timedelta(hours=1), timedelta(0))


def test_time_range_quantities_devices_readings(filled):
    store, df = filled
    assert store.time_range() == (
        df["time"].min().to_pydatetime(),
        df["time"].max().to_pydatetime(),
    )
    q = store.quantities().set_index("quantity")
    assert q.loc["co2", "unit"] == "ppm" and q.loc["co2", "n"] == (df["quantity"] == "co2").sum()
    assert q.loc["gate", "n"] == (df["quantity"] == "gate").sum()
    devices = store.devices()
    assert len(devices) == 12 and not devices["known"].any()
    assert (
        devices.set_index("device").loc["dev-01", "last_seen"]
        == df[df["device"] == "dev-01"]["time"].max()
    )
    recent = store.readings(device="dev-04", limit=5)
    assert len(recent) == 5 and recent["time"].is_monotonic_decreasing
    assert recent["time"].iloc[0] == df[df["device"] == "dev-04"]["time"].max()
    co2 = store.readings(quantity="co2", since=T0 + timedelta(hours=7))
    want = df[(df["quantity"] == "co2") & (df["time"] >= T0 + timedelta(hours=7))]
    assert len(co2) == len(want) and set(co2["quantity"]) == {"co2"}


def test_redelivered_messages_never_duplicate(tmp_path):
    messages = history_messages(n_devices=3, steps=40)  # 52 uplinks
    with Store(tmp_path / "d.duckdb") as store:
        first = store.write(messages[:30])
        # Redelivery: an overlapping batch, plus duplicates inside one batch.
        again = store.write(messages[20:] + messages[25:35])
        assert first.stored == 30
        assert again.stored == len(messages) - 30
        assert again.duplicates == 10 + 10
        assert store.counts()["raw_messages"] == len(messages)
        assert store.counts()["readings"] == sum(len(m.readings) for m in messages)
        # The same uplink from ChirpStack carries the same deduplicationId: dedup by id.
        m1 = uplink("cs", T0, 1, [Reading("x", 1.0)], dedup_id="abc", fmt="chirpstack")
        m2 = uplink("cs", T0, 1, [Reading("x", 1.0)], dedup_id="abc", fmt="chirpstack")
        assert store.write([m1]).stored == 1
        assert store.write([m2]).duplicates == 1
        # latest.n counts each reading once.
        latest = store.cursor().execute("SELECT sum(n) FROM latest").fetchone()[0]
        assert latest == store.counts()["readings"]


def test_events_and_dead_letters(tmp_path):
    event = Message(
        topic="application/a/device/x/event/location",
        format="chirpstack",
        kind="event",
        device_id="tracker",
        time=T0,
        received_at=T0,
        event_type="location",
        location=(49.48, 8.44, None),
        data={"location": {"latitude": 49.48}},
    )
    dead = DeadLetter("v3/x/up", b"\x00\xffnot json", "payload is not JSON", T0)
    with Store(tmp_path / "e.duckdb") as store:
        result = store.write([event, event], [dead])
        assert (result.events, result.duplicates, result.dead, result.stored) == (1, 1, 1, 0)
        events = store.events()
        assert list(events["event_type"]) == ["location"]
        assert json.loads(events["data"][0]) == {"location": {"latitude": 49.48}}
        letters = store.dead_letters()
        assert letters["payload"][0] == b"\x00\xffnot json"
        assert letters["error"][0] == "payload is not JSON"
        dev = store.devices().set_index("device").loc["tracker"]
        # Unknown device, positioned from the message's location.
        assert not dev["known"] and (dev["lat"], dev["lon"]) == (49.48, 8.44)
        assert store.counts()["readings"] == 0


def test_registry_devices_and_unknown_device_take_over(tmp_path):
    with Store(tmp_path / "r.duckdb") as store:
        # Seen first under the network's name, before the registry is loaded.
        store.write(
            [
                uplink(
                    "eui-70b3d57ed0000001",
                    T0,
                    1,
                    [Reading("co2", 500.0, "ppm")],
                    eui="70B3D57ED0000001",
                )
            ]
        )
        registry = Registry(
            [
                Device("ls-co2-1", "70B3D57ED0000001", name="CO2 Schule", kind="co2",
                       building="demo/schule-mitte", lat=49.48, lon=8.43,
                       quantities={"co2": Quantity("ppm", "CO₂", (400, 2000), (1000, 1400))}),
                Device("ls-noise-1", kind="noise"),
            ]
        )  # fmt: skip
        assert store.upsert_devices(registry) == 2
        devices = store.devices().set_index("device")
        assert set(devices.index) == {"ls-co2-1", "ls-noise-1"}
        row = devices.loc["ls-co2-1"]
        assert row["known"] and row["building"] == "demo/schule-mitte"
        assert json.loads(row["quantities"])["co2"]["thresholds"] == [1000, 1400]
        # Its earlier reading now belongs to the registered id.
        assert store.history("ls-co2-1")["value"].tolist() == [500.0]
        # New messages by DevEUI only land on the same device.
        store.write(
            [uplink("whatever", T0 + STEP, 2, [Reading("co2", 510.0)], eui="70B3D57ED0000001")]
        )
        assert store.history("ls-co2-1")["value"].tolist() == [500.0, 510.0]
        assert store.upsert_devices(registry) == 2  # idempotent
        assert len(store.devices()) == 2


def test_retention(filled):
    store, df = filled
    now = T0 + timedelta(hours=8)
    deleted = store.retain(timedelta(hours=4), now=now)
    cutoff = now - timedelta(hours=4)
    assert deleted == (df["time"] < cutoff).sum()
    assert store.counts()["readings"] == (df["time"] >= cutoff).sum()
    assert store.time_range()[0] == df[df["time"] >= cutoff]["time"].min().to_pydatetime()
    # dev-00 went silent before the cutoff: gone from latest too.
    assert "dev-00" not in set(store.latest()["device"])
    q = store.quantities().set_index("quantity")
    assert q.loc["co2", "n"] == ((df["time"] >= cutoff) & (df["quantity"] == "co2")).sum()


def test_retention_horizon_keeps_deleted_messages_from_coming_back(tmp_path):
    """A redelivery of a deleted message is not stored again (its dedup key went with it)."""
    messages = history_messages(n_devices=2, steps=48)
    path = tmp_path / "h.duckdb"
    now = T0 + timedelta(hours=4)
    cutoff = now - timedelta(hours=2)
    old = [m for m in messages if m.time < cutoff]
    new = [m for m in messages if m.time >= cutoff]
    with Store(path) as store:
        store.write(messages)
        store.retain(timedelta(hours=2), now=now)
        again = store.write(old + new)  # the broker redelivers everything
        assert (again.stored, again.expired, again.duplicates) == (0, len(old), len(new))
        assert store.counts()["raw_messages"] == len(new)
        # An older retention run never moves the horizon back.
        store.retain(timedelta(hours=10), now=now)
    with Store(path) as store:  # the horizon survives reopening the file
        assert store.write(old[:5]).expired == 5
        late = uplink("dev-new", now, 1, [Reading("temperature", 20.0, "°C")])
        assert store.write([late]).stored == 1


def test_export_parquet(filled, tmp_path):
    store, df = filled
    path = tmp_path / "out" / "readings.parquet"
    path.parent.mkdir()
    n = store.export_parquet(path, since=T0 + timedelta(hours=1), until=T0 + timedelta(hours=2))
    table = pq.read_table(path)
    sel = df[(df["time"] >= T0 + timedelta(hours=1)) & (df["time"] < T0 + timedelta(hours=2))]
    assert n == table.num_rows == len(sel)
    assert {"device", "time", "quantity", "value", "unit", "text"} <= set(table.column_names)
    got = table.to_pandas()
    assert sorted(got["value"].dropna()) == sorted(sel["value"].dropna())
    assert not (tmp_path / "out" / "readings.parquet.part").exists()


def test_reopen_keeps_data_and_device_keys(tmp_path):
    path = tmp_path / "k.duckdb"
    with Store(path) as store:
        store.write(
            [uplink("a", T0, 1, [Reading("x", 1.0)]), uplink("b", T0, 1, [Reading("x", 2.0)])]
        )
    with Store(path) as store:
        store.write(
            [
                uplink("c", T0, 1, [Reading("x", 3.0)]),
                uplink("a", T0 + STEP, 2, [Reading("x", 4.0)]),
            ]
        )
        assert store.latest().set_index("device")["value"].to_dict() == {
            "a": 4.0,
            "b": 2.0,
            "c": 3.0,
        }
    with Store(path) as writer:
        with pytest.raises(StoreError, match="already open in this process"):
            Store(path, read_only=True)
        assert len(writer.devices()) == 3
    with Store(path, read_only=True) as store:
        assert len(store.devices()) == 3
        with pytest.raises(StoreError, match="read-only"):
            store.write([])


def test_bad_files(tmp_path):
    junk = tmp_path / "junk.duckdb"
    junk.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError, match=r"junk\.duckdb: cannot open the sensor database"):
        Store(junk)
    with pytest.raises(StoreError, match="not found"):
        Store(tmp_path / "missing.duckdb", read_only=True)
    newer = tmp_path / "newer.duckdb"
    Store(newer).close()
    con = duckdb.connect(str(newer))
    con.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    con.close()
    with pytest.raises(StoreError, match="schema version 99 is newer"):
        Store(newer)
    other = tmp_path / "other.duckdb"
    con = duckdb.connect(str(other))
    con.execute("CREATE TABLE something (x INTEGER)")
    con.close()
    with pytest.raises(StoreError, match="not a twin sensor database") as info:
        Store(other, read_only=True)
    assert "\n" not in str(info.value)  # DuckDB's hint and SQL excerpt are cut off


def test_locked_by_another_process(tmp_path):
    path = tmp_path / "locked.duckdb"
    Store(path).close()
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import sys
            from twin.sensors.store import Store
            s = Store({str(path)!r})
            print("ready", flush=True)
            sys.stdin.read()
            s.close()
        """)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "ready"
        with pytest.raises(StoreError, match="held by another process"):
            Store(path, read_only=True)
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)


def test_closed_store(tmp_path):
    store = Store(tmp_path / "c.duckdb")
    store.close()
    with pytest.raises(StoreError, match="closed"):
        store.latest()


POOL = history_messages(n_devices=4, steps=12)


@settings(max_examples=15, deadline=None)
@given(
    picks=st.lists(st.integers(0, len(POOL) - 1), min_size=1, max_size=60),
    cuts=st.lists(st.integers(1, 20), min_size=1, max_size=8),
)
def test_any_redelivery_pattern_stores_each_message_once(picks, cuts):
    """Messages delivered any number of times, in any order and batching, are stored once."""
    with Store(":memory:") as store:
        i = 0
        for size in [*cuts, len(picks)]:
            if i >= len(picks):
                break
            store.write([POOL[k] for k in picks[i : i + size]])
            i += size
        unique = {POOL[k].f_cnt * 100 + int(POOL[k].device_id[-2:]) for k in picks}
        assert store.counts()["raw_messages"] == len(unique)
        expected = sum(len(POOL[k].readings) for k in set(picks))
        assert store.counts()["readings"] == expected
        # latest holds the newest delivered value of each pair.
        want = frame([POOL[k] for k in set(picks)])
        want = want.sort_values("time").groupby(["device", "quantity"]).tail(1)
        got = store.latest()
        assert len(got) == len(want)
        merged = _key(got).merge(_key(want), on=["device", "quantity"])
        assert (merged["time_x"] == merged["time_y"]).all()


def test_two_store_objects_on_one_file_agree_on_device_keys(tmp_path):
    path = tmp_path / "two.duckdb"
    with Store(path) as a, Store(path) as b:  # DuckDB shares one instance within a process
        a.write([uplink("x", T0, 1, [Reading("q", 1.0)])])
        b.write([uplink("y", T0, 1, [Reading("q", 2.0)])])
        a.write([uplink("y", T0 + STEP, 2, [Reading("q", 3.0)])])
        b.write([uplink("x", T0 + STEP, 2, [Reading("q", 4.0)])])
        devices = a.devices()
        assert sorted(devices["device"]) == ["x", "y"]
        assert a.latest().set_index("device")["value"].to_dict() == {"x": 4.0, "y": 3.0}


@given(
    st.lists(
        st.datetimes(
            min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(UTC)
        )
        | st.datetimes(timezones=st.timezones()),
        max_size=20,
    )
)
def test_fast_timestamp_columns_are_exact(times):
    """``ts_array`` (float seconds, rounded) equals Arrow's own conversion to the µs."""
    import pyarrow as pa

    from twin.sensors.store_write import _TS, ts_array

    try:
        expected = pa.array(times, _TS)
    except (OverflowError, pa.ArrowInvalid):  # beyond Arrow's range in UTC: not a time we store
        return
    assert ts_array(times).equals(expected)


def test_threads_setting(tmp_path):
    """The ingest worker opens its Store with one DuckDB thread."""
    store = Store(tmp_path / "t.duckdb", threads=1)
    try:
        assert store.cursor().execute("SELECT current_setting('threads')").fetchone() == (1,)
    finally:
        store.close()


def test_checkpoints_leave_earlier_row_groups_as_written(tmp_path):
    """No vacuum: a checkpoint after an append does not merge (rewrite) earlier row groups.

    DuckDB's vacuum merged the small row groups that every checkpoint leaves behind; under a
    steady stream of appends it rewrote ever more of the tables (500,000 uplinks: up to 30 µs
    of checkpoint per stored uplink). Retention still drops the row groups it empties.
    """
    messages = sorted(history_messages(n_devices=4, steps=96), key=lambda m: m.time)
    store = Store(tmp_path / "twin.duckdb")
    cur = store.cursor()
    for i in range(0, len(messages), 20):
        store.write(messages[i : i + 20])
        cur.execute("CHECKPOINT")
    groups = cur.execute(
        "SELECT count(DISTINCT row_group_id) FROM pragma_storage_info('raw_messages')"
    ).fetchone()[0]
    assert groups == -(-len(messages) // 20)  # one per checkpoint, none merged
    deleted = store.retain(timedelta(hours=4), now=T0 + timedelta(hours=8))
    cur.execute("CHECKPOINT")
    left = cur.execute(
        "SELECT count(DISTINCT row_group_id) FROM pragma_storage_info('raw_messages')"
    ).fetchone()[0]
    assert deleted > 0 and left <= groups // 2 + 1  # the emptied ones are gone
    assert store.counts()["raw_messages"] == len(
        [m for m in messages if m.time >= T0 + timedelta(hours=4)]
    )
    store.close()
