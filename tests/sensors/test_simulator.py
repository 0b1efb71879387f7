"""The simulator: deterministic, decodable by the real decoders, plausible daily patterns."""

from __future__ import annotations

import base64
import itertools
import json
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from pyproj import Transformer

from twin.errors import ConfigError, DecodeError
from twin.sensors.decode import decode, decode_lpp
from twin.sensors.registry import Registry
from twin.sensors.sim_wire import Uplink, encode_ttn, rfc3339, ulid
from twin.sensors.simulator import BUILT_AREA, DEMO_REGISTRY, Simulator

#: A Monday in summer time, 00:00 in Ludwigshafen.
MONDAY = datetime(2026, 6, 15, tzinfo=ZoneInfo("Europe/Berlin")).timestamp()
BERLIN = ZoneInfo("Europe/Berlin")


def _demo() -> Registry:
    return Registry.load(DEMO_REGISTRY)


def test_demo_deployment_binds_the_landmarks():
    reg = _demo()
    assert 25 <= len(reg) <= 40
    buildings = {d.building for d in reg if d.building}
    for landmark in (
        "demo/rathaus",
        "demo/stadtbibliothek",
        "demo/schule-mitte",
        "demo/schule-nord",
        "demo/schule-sued",
        "demo/schule-west",
        "demo/feuerwache",
        "demo/parkhaus-rathaus",
        "demo/parkhaus-berliner-platz",
        "demo/hallenbad",
    ):
        assert landmark in buildings
    kinds = {d.kind for d in reg}
    assert {"co2", "energy", "parking", "water-level", "bike-counter", "fire-access"} <= kinds
    assert {"weather", "air-quality", "noise"} <= kinds
    for d in reg:
        assert d.device_id.startswith("ls-")
        assert d.dev_eui and len(d.dev_eui) == 16
        assert d.lat is not None and 49.46 < d.lat < 49.50 and 8.41 < d.lon < 8.45
        for name, q in d.quantities.items():
            assert q.unit or name in ("blocked", "status"), (d.device_id, name)
    co2 = [d for d in reg if "co2" in d.quantities]
    assert {d.building for d in co2} >= {
        "demo/schule-mitte",
        "demo/schule-nord",
        "demo/schule-sued",
        "demo/schule-west",
        "demo/stadtbibliothek",
    }
    assert all(d.quantities["co2"].thresholds == (1000.0, 2000.0) for d in co2)


def _pairs(sim: Simulator, count: int, start: float = MONDAY) -> list[tuple[str, bytes]]:
    return [(m.topic, m.payload) for m in sim.stream(start, rate=2.0, count=count)]


@pytest.mark.parametrize("fmt", ["ttn", "chirpstack"])
def test_same_seed_same_bytes_other_seed_other_values(fmt):
    a = _pairs(Simulator(seed=7, fmt=fmt, faults=0.1), 300)
    b = _pairs(Simulator(seed=7, fmt=fmt, faults=0.1), 300)
    c = _pairs(Simulator(seed=8, fmt=fmt, faults=0.1), 300)
    assert a == b
    assert [t for t, _ in a] == [t for t, _ in c]  # same devices in the same order
    assert sum(pa != pc for (_, pa), (_, pc) in zip(a, c, strict=True)) > 290


@pytest.mark.parametrize("fmt", ["ttn", "chirpstack"])
def test_every_message_decodes_with_registry_units(fmt):
    reg = _demo()
    sim = Simulator(reg, seed=3, fmt=fmt)
    seen = set()
    for msg in sim.stream(MONDAY + 10 * 3600, rate=1.0, count=3 * len(sim)):
        m = decode(msg.topic, msg.payload, registry=reg)
        device = reg.lookup(device_id=msg.device_id)
        assert m.format == fmt and m.kind == "uplink"
        assert m.device_id == msg.device_id
        assert m.dev_eui == device.dev_eui
        assert m.f_cnt == msg.f_cnt
        assert abs(m.time.timestamp() - msg.time) < 1.0
        assert m.rssi is not None and -140 < m.rssi < -30 and m.gateways >= 1
        assert m.dedup_id
        got = {r.quantity: r for r in m.readings}
        assert set(got) == set(device.quantities), msg.device_id
        for name, q in device.quantities.items():
            r = got[name]
            assert r.unit == q.unit, (msg.device_id, name)
            if name == "status":
                assert r.text in ("free", "blocked")
            elif q.range is not None:
                lo, hi = q.range
                span = hi - lo
                assert lo - span <= r.value <= hi + span, (msg.device_id, name, r.value)
        seen.add(msg.device_id)
    assert seen == {d.device_id for d in reg}


def test_radio_payload_holds_the_decoded_values():
    """frm_payload is Cayenne LPP with the same numbers as decoded_payload."""
    sim = Simulator(seed=5)
    for msg in sim.stream(MONDAY, rate=1.0, count=len(sim)):
        body = json.loads(msg.payload)
        up = body["uplink_message"]
        lpp = decode_lpp(base64.b64decode(up["frm_payload"]))
        numbers = sorted(round(v[0], 2) for v in lpp.values() if isinstance(v[0], (int, float)))
        decoded = up["decoded_payload"]
        expected = []
        for name, value in decoded.items():
            if name == "status":
                continue
            scale = {"water_level": 0.01, "power": 1000.0}.get(name, 1.0)
            expected.append(round(value * scale, 2))
        assert numbers == sorted(expected), (msg.device_id, lpp, decoded)


def test_ttn_omits_zero_fields_and_formats_times_like_the_stack():
    up = Uplink("d", "70B3D57ED0000001", "app", 1_700_000_000.5, 0, 10, b"", {}, ())
    _topic, payload = encode_ttn(up)
    body = json.loads(payload)["uplink_message"]
    assert "f_cnt" not in body and "frm_payload" not in body and "decoded_payload" not in body
    assert rfc3339(1_700_000_000.25) == "2023-11-14T22:13:20.250000000Z"
    assert len(ulid(1_700_000_000.0, 12345)) == 26


def _by_device(sim: Simulator, start: float, days: float, step_min: float, reg: Registry):
    series: dict[str, list[tuple[float, dict]]] = defaultdict(list)
    end = start + days * 86400
    for msg in sim.history(start, end, timedelta(minutes=step_min)):
        m = decode(msg.topic, msg.payload, registry=reg)
        values = {r.quantity: (r.value if r.value is not None else r.text) for r in m.readings}
        series[m.device_id].append((msg.time, values))
    return series


def _local(t: float) -> datetime:
    return datetime.fromtimestamp(t, BERLIN)


@pytest.fixture(scope="module")
def week():
    """A week of the whole deployment at 20-minute steps, decoded (about 15,000 messages)."""
    reg = _demo()
    return _by_device(Simulator(reg, seed=11), MONDAY, 7, 20, reg)


@pytest.mark.slow
def test_co2_in_schools_rises_in_school_hours_not_at_night(week):
    busy = {
        "ls-co2-schule-mitte": (9, 12),
        "ls-co2-schule-nord": (10, 15),
        "ls-co2-stadtbibliothek": (15, 18),
    }
    for device, (h0, h1) in busy.items():
        day, night = [], []
        for t, v in week[device]:
            lt = _local(t)
            if lt.weekday() in (1, 2, 3) and h0 <= lt.hour < h1:
                day.append(v["co2"])
            elif 1 <= lt.hour < 5:
                night.append(v["co2"])
        assert np.mean(day) > np.mean(night) + 400, device
        assert min(night) >= 400 and np.mean(night) < 520
    # weekend: the Grundschule stays empty
    weekend = [v["co2"] for t, v in week["ls-co2-schule-mitte"] if _local(t).weekday() == 6]
    assert max(weekend) < 550


@pytest.mark.slow
def test_other_daily_patterns(week):
    def mean(device, quantity, cond):
        return np.mean([v[quantity] for t, v in week[device] if cond(_local(t))])

    def workday(h0, h1):
        return lambda lt: lt.weekday() < 5 and h0 <= lt.hour < h1

    night = workday(1, 4)
    assert mean("ls-park-rathaus-center", "occupancy", workday(12, 16)) > 60
    assert mean("ls-park-rathaus-center", "occupancy", night) < 20
    assert mean("ls-rad-rheinbruecke", "bike_rate", workday(7, 9)) > 5 * mean(
        "ls-rad-rheinbruecke", "bike_rate", night
    )
    assert (
        mean("ls-laerm-hochstrasse", "laeq", workday(7, 9))
        > mean("ls-laerm-hochstrasse", "laeq", night) + 10
    )
    assert mean("ls-luft-heinigstrasse", "no2", workday(7, 9)) > 2 * mean(
        "ls-luft-heinigstrasse", "no2", night
    )
    assert mean("ls-energy-rathaus", "power", workday(9, 12)) > 2 * mean(
        "ls-energy-rathaus", "power", night
    )
    meter = [v["energy"] for _, v in week["ls-energy-rathaus"]]
    assert all(b >= a for a, b in itertools.pairwise(meter))
    # a week of Rhine: slow, plausible
    level = np.array([v["water_level"] for _, v in week["ls-pegel-rhein"]])
    assert level.min() > 150 and level.max() < 800
    assert np.abs(np.diff(level)).max() < 15  # cm per 20 minutes
    # the bike counter's daily total restarts at local midnight and counts up in between
    totals = [(_local(t).date(), v["bikes_today"]) for t, v in week["ls-rad-rheinbruecke"]]
    for (d1, a), (d2, b) in itertools.pairwise(totals):
        assert b >= a if d1 == d2 else b < a or a == 0
    # fire access: text and number agree, blockages happen but are rare
    fire = week["ls-feuerwehr-ausfahrt"]
    assert all((v["status"] == "blocked") == (v["blocked"] == 1) for _, v in fire)
    share = np.mean([v["blocked"] for _, v in fire])
    assert 0 < share < 0.3


@pytest.mark.parametrize("fmt", ["ttn", "chirpstack"])
def test_fault_share_is_honoured_and_faults_are_dead_letters(fmt):
    sim = Simulator(seed=1, faults=0.2, fmt=fmt)
    msgs = list(sim.stream(MONDAY, rate=10.0, count=4000))
    faulty = [m for m in msgs if m.fault]
    assert abs(len(faulty) / len(msgs) - 0.2) < 0.03
    assert len({m.fault for m in faulty}) >= 5
    for m in msgs:
        if m.fault:
            with pytest.raises(DecodeError):
                decode(m.topic, m.payload, registry=sim.registry)
        else:
            decode(m.topic, m.payload, registry=sim.registry)


@pytest.mark.parametrize("fmt", ["ttn", "chirpstack"])
def test_rejoins_are_join_events_and_restart_the_frame_counter(fmt, tmp_path):
    from twin.sensors.store import Store

    sim = Simulator(seed=3, joins=0.05, fmt=fmt)
    msgs = list(sim.stream(MONDAY, rate=10.0, count=2000))
    joins = [m for m in msgs if m.event == "join"]
    ups = [m for m in msgs if m.event is None]
    assert len(ups) == 2000 and 60 <= len(joins) <= 140
    decoded = [decode(m.topic, m.payload, registry=sim.registry) for m in msgs]
    for m, d in zip(msgs, decoded, strict=True):
        if m.event == "join":
            assert (d.kind, d.event_type, d.device_id) == ("event", "join", m.device_id)
            assert not d.readings
        else:
            assert d.kind == "uplink" and d.f_cnt == m.f_cnt
    # The uplink right after a join starts the session again at frame 1.
    for i, m in enumerate(msgs[:-1]):
        if m.event == "join":
            nxt = msgs[i + 1]
            assert nxt.device_id == m.device_id and nxt.f_cnt == 1 and nxt.time - m.time == 2.0
    # Stored: the joins are events, never readings; a restarted counter is not a duplicate.
    with Store(tmp_path / "j.duckdb") as store:
        result = store.write(decoded)
        assert (result.stored, result.events, result.duplicates) == (2000, len(joins), 0)
        kinds = store.cursor().execute("SELECT DISTINCT event_type FROM events").fetchall()
        assert kinds == [("join",)]


def test_more_devices_than_the_registry_are_spread_over_the_city():
    sim = Simulator(seed=2, devices=90)
    assert len(sim) == 90
    reg = sim.registry
    ids = [d.device_id for d in reg]
    euis = [d.dev_eui for d in reg]
    assert len(set(ids)) == 90 and len(set(euis)) == 90
    generated = [d for d in reg if d.extra.get("generated")]
    assert len(generated) == 90 - len(_demo())
    to_utm = Transformer.from_crs(4326, 25832, always_xy=True)
    e, n = to_utm.transform([d.lon for d in generated], [d.lat for d in generated])
    e0, n0, e1, n1 = BUILT_AREA
    assert (np.array(e) >= e0 - 1).all() and (np.array(e) <= e1 + 1).all()
    assert (np.array(n) >= n0 - 1).all() and (np.array(n) <= n1 + 1).all()
    # generated devices decode, with units from the registry's quantity definitions
    for msg in sim.stream(MONDAY, rate=10.0, count=90):
        m = decode(msg.topic, msg.payload, registry=reg)
        assert m.device_id == msg.device_id and m.readings
        assert all(r.unit for r in m.readings if r.quantity not in ("status", "blocked"))
    assert len(Simulator(seed=2, devices=5)) == 5


def test_bad_options_are_config_errors():
    with pytest.raises(ConfigError, match="format"):
        Simulator(fmt="lora")
    with pytest.raises(ConfigError, match="faults"):
        Simulator(faults=1.5)
    with pytest.raises(ConfigError, match="joins"):
        Simulator(joins=-0.1)
    with pytest.raises(ConfigError, match="rate"):
        Simulator(rate=0)


def test_history_covers_the_period_once_per_step():
    sim = Simulator(seed=4)
    start = datetime(2026, 11, 1, tzinfo=UTC)
    msgs = list(sim.history(start, start + timedelta(hours=2), timedelta(minutes=10)))
    assert len(msgs) == 12 * len(sim)
    per_device = defaultdict(list)
    for m in msgs:
        per_device[m.device_id].append(m.time)
    for times in per_device.values():
        assert np.allclose(np.diff(times), 600)
        assert start.timestamp() <= times[0] < start.timestamp() + 600


@pytest.mark.slow
def test_in_process_backfills_history_then_sends_live(tmp_path):
    """encode → decode → Writer, without a broker: 6 h of history, then live uplinks."""
    from tests.sensors.conftest import wait_until
    from twin.sensors.store import Store
    from twin.sensors.writer import Writer

    now = datetime.now(UTC).replace(microsecond=0)
    store = Store(tmp_path / "demo.duckdb")
    sim = Simulator(seed=6, faults=0.02)
    store.upsert_devices(sim.registry)
    writer = Writer(store)
    commits = []
    writer.add_listener(commits.append)
    run = sim.run_in_process(
        writer, history=timedelta(hours=6), step=timedelta(minutes=5), interval=60.0,
        speedup=600.0, now=now,
    )  # fmt: skip
    try:
        assert run.backfilled.wait(60) and run.error is None
        history = run.stats["history"]
        assert history == 72 * len(sim)
        tmin, tmax = store.time_range()
        assert tmin <= now - timedelta(hours=5, minutes=59) and tmax <= now + timedelta(seconds=5)
        latest = store.latest()
        assert set(latest["device"]) == {d.device_id for d in sim.registry}
        # live: one minute of simulated time per 0.1 s of wall clock
        wait_until(lambda: run.stats["uplinks"] + run.stats["dead"] > history + 2 * len(sim),
                   30, "live uplinks")  # fmt: skip
        assert writer.flush(10)
        assert store.time_range()[1] > now + timedelta(seconds=60)
    finally:
        sim.stop()
        writer.close()
    assert not run.is_alive()
    sent = run.stats["uplinks"] + run.stats["dead"]
    assert writer.stats()["received"] == sent  # nothing submitted after stop
    assert sum(c.stored for c in commits) == run.stats["uplinks"]
    dead = store.cursor().execute("SELECT count(*) FROM dead_letters").fetchone()[0]
    assert dead == run.stats["dead"] and 0 < dead < 0.05 * sent
    store.close()
