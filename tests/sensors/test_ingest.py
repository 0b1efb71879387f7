"""The MQTT ingest against a real mosquitto broker and a real DuckDB file."""

from __future__ import annotations

import json
import random
import subprocess
from collections import Counter
from datetime import UTC, datetime

import pytest

from tests.conftest import realdata_path
from tests.sensors.conftest import publish_pairs, wait_until
from twin.errors import ConfigError, MQTTError
from twin.sensors.decode import decode
from twin.sensors.ingest import AckToken, Ingest, ack_tokens
from twin.sensors.mqtt import Publisher, parse_url
from twin.sensors.simulator import Simulator
from twin.sensors.store import Store
from twin.sensors.writer import Writer

pytestmark = pytest.mark.mqtt

T0 = datetime(2026, 6, 15, 8, tzinfo=UTC).timestamp()
TOPICS = ["v3/+/devices/+/#", "application/+/device/+/#"]


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "twin.duckdb")
    yield s
    s.close()


def _sql(store: Store, query: str, *params):
    return store.cursor().execute(query, list(params)).fetchall()


def _received(ingest: Ingest, n: int) -> bool:
    """True once the writer has committed ``n`` messages (stored, duplicate, event or dead)."""
    s = ingest.stats()
    return s["received"] >= n and s["queued"] == 0 and ingest.writer.flush(0.5)


def test_real_captures_uplinks_become_readings_the_rest_events(mosquitto, store):
    lines = realdata_path("lorawan/iobroker_captured_messages.jsonl").read_text().splitlines()
    captures = [json.loads(line) for line in lines if line.strip()]
    pairs = []
    for c in captures:
        body = c["message"]
        pairs.append(
            (c["topic"], body.encode() if isinstance(body, str) else json.dumps(body).encode())
        )
    expected = [decode(t, p) for t, p in pairs]  # what the decoder makes of them
    uplinks = [m for m in expected if m.kind == "uplink"]
    events = [m for m in expected if m.kind == "event"]
    assert len(uplinks) == 7 and len(events) == 10

    with Ingest(
        store, url=mosquitto.url, topics=TOPICS, client_id="captures", stats_interval=0
    ) as ingest:
        assert ingest.wait_connected(10)
        publish_pairs(mosquitto.url, pairs)
        wait_until(lambda: _received(ingest, len(pairs)), 20, "all captures committed")
        stats = ingest.stats()
    assert stats["acked"] == len(pairs) and stats["decode_errors"] == 0

    rows = _sql(
        store,
        "SELECT d.device_id, r.time, r.quantity, r.value, r.unit, r.text, r.f_cnt "
        "FROM readings r JOIN devices d USING (device)",
    )
    by_device = {}
    for device_id, t, quantity, value, unit, text, f_cnt in rows:
        by_device.setdefault(device_id, {})[quantity] = (t, value, unit, text, f_cnt)
    assert set(by_device) == {m.device_id for m in uplinks}
    for m in uplinks:
        got = by_device[m.device_id]
        assert set(got) == {r.quantity for r in m.readings}
        for r in m.readings:
            t, value, unit, text, f_cnt = got[r.quantity]
            assert t == m.time and f_cnt == m.f_cnt and unit == r.unit
            assert (value, text) == (r.value, r.text)
    # concrete values from the files
    assert by_device["eui-647fda0000009f7c"]["ambient_temperature"][1:3] == (13.3, "°C")
    assert by_device["Skimmer"]["Soiltemperature"][1:3] == (-0.4, "°C")
    assert by_device["shlm-luxsensor-001"]["BatV"][1:3] == (3.6, "V")
    assert by_device["Skimmer"]["Soiltemperature"][0] == datetime.fromisoformat(
        "2025-02-18T14:49:19.475813+00:00"
    )

    # devices are keyed by DevEUI: a ChirpStack command/down names the device by its EUI only
    stored_events = _sql(
        store,
        "SELECT coalesce(d.dev_eui, d.device_id), e.event_type "
        "FROM events e JOIN devices d USING (device)",
    )
    assert sorted(stored_events) == sorted((m.dev_eui or m.device_id, m.event_type) for m in events)
    event_devices_only = {m.device_id for m in events} - {m.device_id for m in uplinks}
    assert not event_devices_only & set(by_device)  # no readings from any event
    assert _sql(store, "SELECT count(*) FROM raw_messages")[0][0] == len(uplinks)
    assert _sql(store, "SELECT count(*) FROM dead_letters")[0][0] == 0


def _bad_payloads(rng: random.Random, good: bytes, fmt: str) -> list[tuple[str, bytes]]:
    """Malformed variants of one good uplink (kind, payload); each must be rejected."""
    out = [
        ("truncated", good[: rng.randrange(1, len(good) - 1)]),
        ("garbage", bytes(rng.randrange(256) for _ in range(rng.randrange(1, 300)))),
        ("empty", b""),
        ("not-an-object", rng.choice([b"[]", b"42", b"null", b'"up"', b"true"])),
        ("unknown-format", json.dumps({"hello": rng.random(), "temp": 21}).encode()),
        ("nan", b'{"end_device_ids": {"device_id": "x"}, "uplink_message": {"f_cnt": NaN}}'),
    ]
    if rng.random() < 0.05:
        out.append(("huge", b'{"x": "' + b"a" * (1 << 20) + b'"}'))  # 1 MiB
    body = json.loads(good)
    if fmt == "ttn":
        wrong = [
            ("uplink_message", "f_cnt=7"),
            ("end_device_ids", ["d"]),
        ]
        key, value = rng.choice(wrong)
        out.append(("wrong-type", json.dumps({**body, key: value}).encode()))
        up = dict(body["uplink_message"])
        up["f_cnt"] = rng.choice(["seven", 10**30, -5, 2.5e40])
        out.append(("bad-f_cnt", json.dumps({**body, "uplink_message": up}).encode()))
        up = dict(body["uplink_message"])
        up.pop("decoded_payload")
        up["frm_payload"] = "%%% not base64 %%%"
        out.append(("bad-base64", json.dumps({**body, "uplink_message": up}).encode()))
    else:
        out.append(("wrong-type", json.dumps({**body, "deviceInfo": 5}).encode()))
        out.append(("bad-f_cnt", json.dumps({**body, "fCnt": rng.choice(["x", 10**30])}).encode()))
        out.append(("bad-time", json.dumps({**body, "time": "next tuesday"}).encode()))
    return out


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["ttn", "chirpstack"])
def test_bad_input_goes_to_dead_letters_and_good_input_is_stored(mosquitto, store, fmt):
    rng = random.Random(20261126)
    sim = Simulator(seed=9, fmt=fmt)
    good = list(sim.stream(T0, rate=5.0, count=1200))
    pairs, bad = [], Counter()
    for i, msg in enumerate(good):
        pairs.append((msg.topic, msg.payload))
        for kind, payload in _bad_payloads(rng, msg.payload, fmt) if i % 3 == 0 else []:
            on_device_topic = rng.random() < 0.7 and kind != "unknown-format"
            topic = msg.topic if on_device_topic else f"junk/{kind}/{i}"
            pairs.append((topic, payload))
            bad[(topic, payload)] += 1
    assert bad.total() > 3000
    with Ingest(
        store, url=mosquitto.url, topics=[*TOPICS, "junk/#"], client_id="bad", stats_interval=0
    ) as ingest:
        assert ingest.wait_connected(10)
        publish_pairs(mosquitto.url, pairs)
        wait_until(lambda: _received(ingest, len(pairs)), 60, "all messages committed")
        stats = ingest.stats()
        assert ingest.connected  # survived
    assert stats["messages"] == len(pairs) and stats["acked"] == len(pairs)
    dead = _sql(store, "SELECT topic, payload, error FROM dead_letters")
    assert Counter((t, bytes(p)) for t, p, _ in dead) == bad
    assert all(err and "\n" not in err for _, _, err in dead)
    # every good uplink stored once, with all its readings
    stored = _sql(
        store,
        "SELECT d.device_id, r.f_cnt, count(*) FROM raw_messages r JOIN devices d USING (device) "
        "GROUP BY ALL",
    )
    assert sorted((d, f) for d, f, _ in stored) == sorted((m.device_id, m.f_cnt) for m in good)
    assert all(n == 1 for _, _, n in stored)
    n_readings = sum(len(decode(m.topic, m.payload).readings) for m in good)
    assert _sql(store, "SELECT count(*) FROM readings")[0][0] == n_readings


def test_qos0_and_mqtt311_and_a_shared_writer(mosquitto, store):
    """Two ingests (QoS 0 over MQTT 3.1.1, QoS 1 over MQTT 5) feed one Writer."""
    writer = Writer(store)
    sim_a = Simulator(seed=1, devices=5)
    sim_b = Simulator(seed=2, fmt="chirpstack", devices=5)
    a = Ingest(writer, url=mosquitto.url, topics=["v3/#"], qos=0, protocol="3.1.1",
               client_id="a", stats_interval=0)  # fmt: skip
    assert writer.on_commit is ack_tokens  # installed by the first ingest
    b = Ingest(writer, url=mosquitto.url, topics=["application/#"], client_id="b", stats_interval=0)
    try:
        a.start(wait=10)
        b.start(wait=10)
        pa = [(m.topic, m.payload) for m in sim_a.stream(T0, rate=1, count=200)]
        pb = [(m.topic, m.payload) for m in sim_b.stream(T0, rate=1, count=200)]
        publish_pairs(mosquitto.url, pa, qos=0)
        publish_pairs(mosquitto.url, pb, qos=1)
        wait_until(
            lambda: a.counters["messages"] == 200 and b.counters["messages"] == 200, 20, "all"
        )
        assert writer.flush(10)
        wait_until(lambda: b.counters["acked"] == 200, 10, "acks of the QoS 1 ingest")
    finally:
        a.stop()
        b.stop()
        writer.close()
    assert a.counters["acked"] == 0  # nothing to acknowledge at QoS 0
    assert _sql(store, "SELECT count(*) FROM raw_messages")[0][0] == 400


@pytest.mark.parametrize("mosquitto", [{}], indirect=True)
def test_shared_subscription_splits_the_feed(mosquitto, store):
    writer = Writer(store, on_commit=ack_tokens)
    ingests = [
        Ingest(
            writer,
            url=mosquitto.url,
            topics=["v3/+/devices/+/up"],
            shared_group="twin",
            client_id=f"share-{i}",
            stats_interval=0,
        )
        for i in range(2)
    ]
    assert ingests[0].filters == ["$share/twin/v3/+/devices/+/up"]
    try:
        for ingest in ingests:
            ingest.start(wait=10)
        sim = Simulator(seed=3)
        pairs = [(m.topic, m.payload) for m in sim.stream(T0, rate=1, count=1000)]
        publish_pairs(mosquitto.url, pairs)
        wait_until(lambda: sum(i.counters["messages"] for i in ingests) >= 1000, 20, "all")
        assert writer.flush(10)
    finally:
        for ingest in ingests:
            ingest.stop()
        writer.close()
    counts = [i.counters["messages"] for i in ingests]
    assert sum(counts) == 1000 and min(counts) > 100  # each got a share, none twice
    assert _sql(store, "SELECT count(*) FROM raw_messages")[0][0] == 1000


def test_acks_of_an_earlier_connection_are_dropped(mosquitto, store):
    ingest = Ingest(store, url=mosquitto.url, topics=["x/#"], client_id="gen", stats_interval=0)
    try:
        ingest.start(wait=10)
        current = ingest._generation
        ingest._ack(AckToken(ingest, 1, 1, current - 1))
        assert ingest.counters["stale_acks"] == 1 and ingest.counters["acked"] == 0
    finally:
        ingest.stop()


def test_refused_connection_and_bad_options(mosquitto, store, tmp_path):
    with pytest.raises(ConfigError, match="format"):
        Ingest(store, url=mosquitto.url, topics=["a"], fmt="lorawan")
    with pytest.raises(ConfigError, match="topic"):
        Ingest(store, url=mosquitto.url, topics=[])
    with pytest.raises(ConfigError, match="qos"):
        Ingest(store, url=mosquitto.url, topics=["a"], qos=2)
    with pytest.raises(ConfigError, match="wildcard"):
        Ingest(store, url=mosquitto.url, topics=["a/b+"])
    # a broker that refuses anonymous clients: a clear MQTTError, not a hang
    from tests.sensors.conftest import MosquittoBroker

    locked = MosquittoBroker(tmp_path / "locked")
    locked.config.write_text(
        locked.config.read_text().replace("allow_anonymous true", "allow_anonymous false")
    )
    locked.start()
    try:
        ingest = Ingest(store, url=locked.url, topics=["a/#"], client_id="x", stats_interval=0)
        with pytest.raises(MQTTError, match="cannot connect"):
            ingest.start(wait=5)
        assert ingest.refused
    finally:
        locked.kill()


def _tls_files(tmp_path):
    """A throw-away CA and a server certificate for 127.0.0.1, made with openssl."""
    from tests.conftest import require_tool

    openssl = require_tool("openssl")

    def run(*args):
        subprocess.run([openssl, *args], cwd=tmp_path, check=True, capture_output=True)

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt",
        "-days", "1", "-subj", "/CN=twin test CA")  # fmt: skip
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr",
        "-subj", "/CN=localhost")  # fmt: skip
    (tmp_path / "ext.cnf").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    run("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
        "-CAcreateserial", "-out", "server.crt", "-days", "1", "-extfile", "ext.cnf")  # fmt: skip
    return tmp_path / "ca.crt", tmp_path / "server.crt", tmp_path / "server.key"


def test_tls_and_password_from_the_environment(make_mosquitto, store, tmp_path, monkeypatch):
    from tests.conftest import require_tool

    ca, cert, key = _tls_files(tmp_path)
    passwd = tmp_path / "passwd"
    subprocess.run([require_tool("mosquitto_passwd"), "-b", "-c", str(passwd), "twin", "s3cret"],
                   check=True, capture_output=True)  # fmt: skip
    broker = make_mosquitto(
        extra=f"cafile {ca}\ncertfile {cert}\nkeyfile {key}\npassword_file {passwd}\n"
    )
    broker.config.write_text(
        broker.config.read_text().replace("allow_anonymous true", "allow_anonymous false")
    )
    broker.restart()
    url = f"mqtts://twin@127.0.0.1:{broker.port}"
    monkeypatch.setenv("TWIN_MQTT_PASSWORD", "s3cret")
    sim = Simulator(seed=12, devices=4)
    pairs = [(m.topic, m.payload) for m in sim.stream(T0, rate=1.0, count=40)]
    with Ingest(
        store, url=url, ca_file=ca, topics=TOPICS, client_id="tls", stats_interval=0
    ) as ing:
        assert ing.wait_connected(10), ing.refused
        assert ing.settings.tls and ing.settings.password == "s3cret"
        with Publisher(parse_url(url, ca_file=ca)) as publisher:
            for topic, payload in pairs:
                publisher.publish(topic, payload)
        wait_until(lambda: _received(ing, 40), 20, "40 messages over TLS")
    assert _sql(store, "SELECT count(*) FROM raw_messages")[0][0] == 40
    # the wrong password is refused with a clear error
    monkeypatch.setenv("TWIN_MQTT_PASSWORD", "wrong")
    wrong = Ingest(store, url=url, ca_file=ca, topics=TOPICS, client_id="tls2", stats_interval=0)
    with pytest.raises(MQTTError, match="cannot connect"):
        wrong.start(wait=5)
    assert "Not authorized" in (wrong.refused or "") or "Bad user" in (wrong.refused or "")
