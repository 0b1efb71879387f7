"""Store queries on generated histories, checked against an independent pandas computation.

Hypothesis draws irregular histories (devices that report every few seconds next to devices
silent for weeks, text states, batches written out of order) and query times anywhere in or
around them; ``latest``, ``as_of`` (with and without ``max_age``), ``buckets`` and
``history`` must give what pandas computes from the same rows.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from twin.sensors.model import Message, Reading
from twin.sensors.store import Store

T0 = datetime(2026, 3, 1, tzinfo=UTC)

# Gaps between reports: seconds to weeks, so that the as-of search must widen its window
# many times for some pairs and not at all for others.
GAPS = st.one_of(st.integers(1, 120), st.integers(120, 7200), st.integers(86_400, 30 * 86_400))


@st.composite
def histories(draw):
    """Return (messages, frame): uplinks of 1–6 devices and the rows pandas works on."""
    n_devices = draw(st.integers(1, 6))
    messages, rows = [], []
    for d in range(n_devices):
        device = f"d{d}"
        start = draw(st.integers(0, 3 * 86_400))
        gaps = draw(st.lists(GAPS, min_size=1, max_size=40))
        t = T0 + timedelta(seconds=start)
        for k, gap in enumerate(gaps):
            t = t + timedelta(seconds=gap, microseconds=draw(st.integers(0, 999_999)))
            readings = [Reading("temp", round(10 + d + 0.37 * k, 3), "°C")]
            if draw(st.booleans()):  # not every uplink carries every quantity
                readings.append(Reading("co2", float(400 + 13 * k + d), "ppm"))
            if d == 0:
                readings.append(Reading("state", None, "", "blocked" if k % 3 else "free"))
            messages.append(
                Message(topic=f"v3/a@ttn/devices/{device}/up", format="ttn", kind="uplink",
                        device_id=device, time=t, received_at=t, f_cnt=k, readings=readings)
            )  # fmt: skip
            rows += [(device, t, r.quantity, r.value, r.text) for r in readings]
    frame = pd.DataFrame(rows, columns=["device", "time", "quantity", "value", "text"])
    frame["time"] = pd.to_datetime(frame["time"], utc=True)
    return messages, frame


def write_shuffled(store: Store, messages: list[Message], seed: int) -> None:
    """Write in random batches and a random order (late messages after newer ones)."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(messages))
    i = 0
    while i < len(order):
        size = int(rng.integers(1, 30))
        store.write([messages[j] for j in order[i : i + size]])
        i += size


def last_per_pair(frame: pd.DataFrame) -> pd.DataFrame:
    """The newest row of each (device, quantity), computed by pandas."""
    return frame.sort_values("time").groupby(["device", "quantity"]).tail(1)


def assert_same_values(got: pd.DataFrame, want: pd.DataFrame) -> None:
    """Same pairs, times, numbers and texts."""
    key = ["device", "quantity"]
    got = got.sort_values(key, ignore_index=True)
    want = want.sort_values(key, ignore_index=True)
    assert list(zip(got["device"], got["quantity"], strict=True)) == list(
        zip(want["device"], want["quantity"], strict=True)
    )
    assert list(got["time"]) == list(want["time"])
    np.testing.assert_array_equal(got["value"].to_numpy(float), want["value"].to_numpy(float))
    assert list(got["text"].fillna("")) == list(want["text"].fillna(""))


QUERY = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.slow  # ~25 generated histories, 5–10 s
@QUERY
@given(data=histories(), where=st.floats(-0.05, 1.05), seed=st.integers(0, 99))
def test_latest_and_as_of_match_pandas(data, where, seed):
    messages, frame = data
    with Store(":memory:") as store:
        write_shuffled(store, messages, seed)
        assert_same_values(store.latest(), last_per_pair(frame))
        lo, hi = frame["time"].min(), frame["time"].max()
        t = (lo + (hi - lo) * where).to_pydatetime()
        assert_same_values(store.as_of(t), last_per_pair(frame[frame["time"] <= t]))
        # exactly at a reading's time: that reading counts
        exact = frame["time"].iloc[len(frame) // 2].to_pydatetime()
        assert_same_values(store.as_of(exact), last_per_pair(frame[frame["time"] <= exact]))
        co2 = frame[frame["quantity"] == "co2"]
        assert_same_values(store.as_of(t, "co2"), last_per_pair(co2[co2["time"] <= t]))


@pytest.mark.slow  # ~25 generated histories, 5–10 s
@QUERY
@given(
    data=histories(),
    where=st.floats(0.0, 1.05),
    max_age=st.sampled_from([timedelta(minutes=5), timedelta(hours=3), timedelta(days=10)]),
)
def test_as_of_with_max_age_matches_pandas(data, where, max_age):
    messages, frame = data
    with Store(":memory:") as store:
        write_shuffled(store, messages, 0)
        lo, hi = frame["time"].min(), frame["time"].max()
        t = (lo + (hi - lo) * where).to_pydatetime()
        window = frame[(frame["time"] <= t) & (frame["time"] > t - max_age)]
        assert_same_values(store.as_of(t, max_age=max_age), last_per_pair(window))


@pytest.mark.slow  # ~25 generated histories, 5–10 s
@QUERY
@given(
    data=histories(),
    every=st.sampled_from(["15 minutes", "1 hour", "1 day", "7 days"]),
    span=st.tuples(st.floats(0, 0.5), st.floats(0.5, 1.01)),
)
def test_buckets_match_pandas(data, every, span):
    messages, frame = data
    width = pd.Timedelta(every)
    with Store(":memory:") as store:
        write_shuffled(store, messages, 1)
        lo, hi = frame["time"].min(), frame["time"].max()
        start = (lo + (hi - lo) * span[0]).to_pydatetime()
        end = (lo + (hi - lo) * span[1]).to_pydatetime()
        sel = frame[
            (frame["quantity"] == "temp") & (frame["time"] >= start) & (frame["time"] < end)
        ].sort_values("time")
        # DuckDB's time_bucket aligns buckets of days/hours/minutes to 2000-01-03 (a Monday)
        origin = pd.Timestamp("2000-01-03", tz="UTC")
        sel = sel.assign(bucket=origin + ((sel["time"] - origin) // width) * width)
        for by_device, keys in ((True, ["bucket", "device"]), (False, ["bucket"])):
            want = sel.groupby(keys)["value"].agg(["count", "mean", "min", "max", "last"])
            want = want.reset_index()
            got = store.buckets("temp", start, end, every, by_device=by_device)
            assert list(got.columns) == [*keys, "n", "mean", "min", "max", "last"]
            assert len(got) == len(want)
            assert list(got["bucket"]) == list(want["bucket"])
            if by_device:
                assert list(got["device"]) == list(want["device"])
            assert list(got["n"]) == list(want["count"])
            for col in ("mean", "min", "max", "last"):
                np.testing.assert_allclose(got[col], want[col], rtol=1e-12)


@pytest.mark.slow  # ~25 generated histories, 5–10 s
@QUERY
@given(data=histories(), cut=st.floats(0, 1))
def test_history_and_readings_match_pandas(data, cut):
    messages, frame = data
    with Store(":memory:") as store:
        write_shuffled(store, messages, 2)
        lo, hi = frame["time"].min(), frame["time"].max()
        since = (lo + (hi - lo) * cut).to_pydatetime()
        for device in sorted(set(frame["device"])):
            want = frame[(frame["device"] == device) & (frame["time"] >= since)]
            got = store.history(device, since=since)
            assert list(got["time"]) == sorted(want["time"])
            assert len(got) == len(want)
            newest = store.readings(device=device, quantity="temp", limit=3)
            mine = frame[frame["device"] == device]
            want_temp = mine[mine["quantity"] == "temp"]
            assert list(newest["time"]) == sorted(want_temp["time"], reverse=True)[:3]


@pytest.mark.parametrize("gap_days", [1, 45])
def test_as_of_far_behind_a_long_silence(gap_days):
    """A device silent for weeks between two readings: as-of in the gap finds the older one."""
    t1, t2 = T0, T0 + timedelta(days=gap_days)
    busy = [
        Message(topic="v3/a@ttn/devices/busy/up", format="ttn", kind="uplink",
                device_id="busy", time=T0 + timedelta(seconds=30 * k), received_at=T0,
                f_cnt=k, readings=[Reading("temp", float(k))])
        for k in range(gap_days * 2880 // 10)
    ]  # fmt: skip
    quiet = [
        Message(topic="v3/a@ttn/devices/quiet/up", format="ttn", kind="uplink",
                device_id="quiet", time=t, received_at=t, f_cnt=k,
                readings=[Reading("temp", float(100 + k))])
        for k, t in enumerate((t1, t2))
    ]  # fmt: skip
    with Store(":memory:") as store:
        store.write(busy + quiet)
        got = store.as_of(t2 - timedelta(seconds=1), "temp").set_index("device")
        assert got.loc["quiet", "value"] == 100.0 and got.loc["quiet", "time"] == t1
        assert store.as_of(t2, "temp").set_index("device").loc["quiet", "value"] == 101.0
