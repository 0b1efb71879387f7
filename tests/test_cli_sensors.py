"""``twin ingest``, ``twin simulate`` and ``twin readings`` as a user runs them."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.sensors.conftest import MosquittoBroker, publish_pairs, wait_until
from twin.cli import main
from twin.commands.readings import parse_since
from twin.errors import ConfigError
from twin.sensors.decode import decode
from twin.sensors.ingest import Ingest
from twin.sensors.simulator import Simulator
from twin.sensors.store import Store
from twin.sensors.writer import Writer

ROOT = Path(__file__).resolve().parents[1]
T0 = datetime(2026, 6, 15, 8, tzinfo=UTC).timestamp()


@pytest.fixture
def broker(tmp_path):
    b = MosquittoBroker(tmp_path / "broker").start()
    yield b
    b.kill()


def _twin(*args: str, log: Path) -> subprocess.Popen:
    with log.open("w") as err:
        return subprocess.Popen(
            [sys.executable, "-m", "twin", *args], cwd=ROOT, stdout=subprocess.PIPE, stderr=err
        )


def _received(log: Path) -> int:
    found = re.findall(r"ingest: received (\d+)", log.read_text(errors="replace"))
    return int(found[-1]) if found else 0


@pytest.mark.mqtt
@pytest.mark.slow
def test_ingest_sigterm_commits_acknowledges_and_exits_0(broker, tmp_path):
    db = tmp_path / "twin.duckdb"
    log = tmp_path / "ingest.log"
    sim = Simulator(seed=31)
    msgs = list(sim.stream(T0, rate=10.0, count=3000))
    args = ["ingest", "--mqtt", broker.url, "--topic", "v3/+/devices/+/up", "--db", str(db),
            "--client-id", "sigterm", "--stats-interval", "0.05"]  # fmt: skip
    proc = _twin(*args, log=log)
    try:
        wait_until(lambda: "subscribed" in log.read_text() or proc.poll() is not None, 60, "sub")
        assert proc.poll() is None, log.read_text()
        publish_pairs(broker.url, [(m.topic, m.payload) for m in msgs])
        wait_until(lambda: _received(log) >= len(msgs), 60, "the ingest to receive everything")
        proc.send_signal(signal.SIGTERM)  # the last batch may still wait in the writer
        assert proc.wait(30) == 0, log.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
    assert "Traceback" not in log.read_text()
    store = Store(db)
    try:
        assert store.cursor().execute("SELECT count(*) FROM raw_messages").fetchone()[0] == 3000
        # everything was acknowledged: the same session gets only what is published now
        ingest = Ingest(store, url=broker.url, topics=["v3/+/devices/+/up"], client_id="sigterm",
                        stats_interval=0)  # fmt: skip
        ingest.start(wait=10)
        marker = next(Simulator(seed=99, devices=1).stream(T0 + 86400, rate=1.0, count=1))
        publish_pairs(broker.url, [(marker.topic, marker.payload)])
        wait_until(lambda: ingest.counters["messages"] >= 1, 20, "the marker")
        stats = ingest.stop()
        assert stats["messages"] == 1
    finally:
        store.close()


@pytest.mark.mqtt
def test_simulate_publishes_the_demo_with_faults(broker, tmp_path):
    store = Store(tmp_path / "sim.duckdb")
    ingest = Ingest(store, url=broker.url, topics=["application/#"], client_id="sim-check",
                    stats_interval=0)  # fmt: skip
    try:
        ingest.start(wait=10)
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "twin",
                "simulate",
                "--mqtt",
                broker.url,
                "--count",
                "400",
                "--rate",
                "2000",
                "--format",
                "chirpstack",
                "--faults",
                "0.1",
                "--seed",
                "5",
                "--devices",
                "40",
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert proc.returncode == 0, proc.stderr
        m = re.search(r"published (\d+) messages \((\d+) malformed\)", proc.stderr)
        assert m, proc.stderr
        published, faults = int(m.group(1)), int(m.group(2))
        assert published == 400 and 15 <= faults <= 70
        wait_until(lambda: ingest.counters["messages"] >= 400, 30, "all simulated messages")
        assert ingest.writer.flush(10)
        stats = ingest.stop()
    finally:
        ingest.stop(flush_timeout=0)
    assert stats["rejected"] == faults and stats["stored"] == 400 - faults
    devices = store.cursor().execute("SELECT count(*) FROM devices").fetchone()[0]
    assert devices == 40  # 29 of the demo plus 11 generated, all seen
    store.close()


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory):
    """Three hours of the demo deployment written by the in-process simulator."""
    db = tmp_path_factory.mktemp("readings") / "demo.duckdb"
    with Store(db) as store:
        sim = Simulator(seed=1)
        store.upsert_devices(sim.registry)
        with Writer(store) as writer:
            run = sim.run_in_process(writer, history=timedelta(hours=3), interval=None)
            assert run.backfilled.wait(60)
            run.join(30)
            assert run.error is None
    return db


def test_readings_as_json_lines(demo_db, capsys):
    code = main(["readings", "--db", str(demo_db), "--device", "ls-co2-schule-nord",
                 "--quantity", "co2", "--limit", "5", "--json"])  # fmt: skip
    assert code == 0
    lines = capsys.readouterr().out.splitlines()
    rows = [json.loads(line) for line in lines]
    assert len(rows) == 5
    assert {r["device"] for r in rows} == {"ls-co2-schule-nord"}
    assert {r["quantity"] for r in rows} == {"co2"} and {r["unit"] for r in rows} == {"ppm"}
    times = [datetime.fromisoformat(r["time"]) for r in rows]
    assert times == sorted(times, reverse=True)  # newest first
    assert all(400 <= r["value"] <= 2500 for r in rows)


def test_readings_table_since_and_all_devices(demo_db, capsys):
    assert main(["readings", "--db", str(demo_db), "--since", "1h", "--limit", "0"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["time", "device", "quantity", "value", "f_cnt"]
    body = out[1:]
    assert len(body) > 29 * 2  # every device sent in the last hour, several quantities
    cutoff = datetime.now(UTC) - timedelta(hours=1, minutes=1)
    assert all(datetime.fromisoformat(line.split()[0]) >= cutoff for line in body)
    assert any(" ppm " in f" {line} " for line in body)
    assert any(line.split()[3] in ("free", "blocked") for line in body if "status" in line)


def test_readings_on_a_database_held_by_an_ingest(demo_db, tmp_path, capsys):
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from twin.sensors.store import Store; s = Store(sys.argv[1]); "
            "print('ready', flush=True); sys.stdin.read()",
            str(demo_db),
        ],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "ready"
        assert main(["readings", "--db", str(demo_db)]) == 2
        err = capsys.readouterr().err.strip()
        assert "\n" not in err and "held by another process" in err
        assert "Traceback" not in err
    finally:
        holder.stdin.close()
        holder.wait(10)


def test_readings_bad_options(tmp_path, capsys):
    assert main(["readings", "--db", str(tmp_path / "missing.duckdb")]) == 2
    assert "no such sensor database" in capsys.readouterr().err
    with pytest.raises(ConfigError, match="duration"):
        parse_since("yesterday")
    now = datetime(2026, 1, 1, 12, tzinfo=UTC)
    assert parse_since("90m", now=now) == now - timedelta(minutes=90)
    assert parse_since("2d", now=now) == now - timedelta(days=2)
    assert parse_since("2026-01-01T08:00:00Z") == datetime(2026, 1, 1, 8, tzinfo=UTC)
    assert parse_since("2026-01-01T08:00:00") == datetime(2026, 1, 1, 8, tzinfo=UTC)


def test_ingest_refuses_a_password_on_the_command_line(tmp_path, capsys):
    code = main(["ingest", "--mqtt", "mqtt://twin:secret@127.0.0.1:1", "--db",
                 str(tmp_path / "x.duckdb")])  # fmt: skip
    assert code == 2
    err = capsys.readouterr().err
    assert "TWIN_MQTT_PASSWORD" in err and "secret" not in err


@pytest.mark.mqtt
def test_ingest_exits_2_when_the_broker_refuses_the_credentials(tmp_path, capsys):
    locked = MosquittoBroker(tmp_path / "locked")
    locked.config.write_text(
        locked.config.read_text().replace("allow_anonymous true", "allow_anonymous false")
    )
    locked.start()
    try:
        code = main(["ingest", "--mqtt", f"mqtt://nobody@127.0.0.1:{locked.port}",
                     "--db", str(tmp_path / "x.duckdb"), "--client-id", "refused"])  # fmt: skip
    finally:
        locked.kill()
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("twin: error:") and "Not authorized" in err[-1]


def test_readings_quantity_filter_over_all_devices(demo_db, capsys):
    """--quantity without --device: every row is that quantity, and nothing of it is missing."""
    assert main(["readings", "--db", str(demo_db), "--quantity", "water_level", "--limit", "0",
                 "--json"]) == 0  # fmt: skip
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    with Store(demo_db, read_only=True) as store:
        want = (
            store.cursor()
            .execute("SELECT count(*) FROM readings WHERE quantity = 'water_level'")
            .fetchone()[0]
        )
    assert want > 0 and len(rows) == want
    assert {r["quantity"] for r in rows} == {"water_level"} and {r["unit"] for r in rows} == {"cm"}
    # the table: the same filter, the unit after the number
    assert main(["readings", "--db", str(demo_db), "--quantity", "co2", "--limit", "20"]) == 0
    body = capsys.readouterr().out.splitlines()[1:]
    assert len(body) == 20 and all(line.split()[2] == "co2" for line in body)
    assert all(line.split()[4] == "ppm" for line in body)


def test_readings_of_an_unknown_device_is_an_error_naming_the_choices(demo_db, capsys):
    assert main(["readings", "--db", str(demo_db), "--device", "ls-co2-schule-mitt"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "no device 'ls-co2-schule-mitt'" in err and str(demo_db) in err
    assert "ls-co2-schule-mitte" in err or "in all" in err
    # a DevEUI in any case is a device too
    with Store(demo_db, read_only=True) as store:
        eui = store.devices().set_index("device").loc["ls-pegel-rhein", "dev_eui"]
    assert main(["readings", "--db", str(demo_db), "--device", eui.lower(), "--json",
                 "--limit", "3"]) == 0  # fmt: skip
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(rows) == 3 and {r["device"] for r in rows} == {"ls-pegel-rhein"}


def test_readings_table_keeps_meter_readings_exact(tmp_path, capsys):
    from twin.sensors.model import Message, Reading

    db = tmp_path / "meter.duckdb"
    t = datetime(2026, 6, 15, 8, tzinfo=UTC)
    with Store(db) as store:
        store.write([Message(topic="v3/a@ttn/devices/m/up", format="ttn", kind="uplink",
                             device_id="m", time=t, received_at=t, f_cnt=1,
                             readings=[Reading("energy", 2210021.5, "kWh"),
                                       Reading("state", None, "", "blocked")])])  # fmt: skip
    assert main(["readings", "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert "2210021.5 kWh" in out and "blocked" in out


def test_readings_export_to_parquet(demo_db, tmp_path, capsys):
    import pyarrow.parquet as pq

    out = tmp_path / "co2.parquet"
    args = ["--quantity", "co2", "--device", "ls-co2-stadtbibliothek", "--since", "2h"]
    assert main(["readings", "--db", str(demo_db), *args, "--parquet", str(out)]) == 0
    m = re.search(r"wrote (\d+) readings", capsys.readouterr().err)
    table = pq.read_table(out).to_pandas()
    assert m and int(m.group(1)) == len(table) > 0
    assert set(table["device"]) == {"ls-co2-stadtbibliothek"} and set(table["quantity"]) == {"co2"}
    assert table["time"].is_monotonic_increasing
    assert table["time"].min() >= datetime.now(UTC) - timedelta(hours=2, minutes=1)
    with Store(demo_db, read_only=True) as store:
        want = store.history("ls-co2-stadtbibliothek", "co2", since=table["time"].min())
    assert list(table["value"]) == list(want["value"])
    # an unwritable target: one line, exit 2
    assert main(["readings", "--db", str(demo_db), "--parquet", str(tmp_path / "no/x.pq")]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "cannot write Parquet" in err


@pytest.mark.parametrize("flag", [["--password", "hunter2"], ["--password=hunter2"]])
def test_a_password_flag_is_refused_without_repeating_it(tmp_path, capsys, flag):
    for command in (["ingest", "--db", str(tmp_path / "x.duckdb")], ["simulate"]):
        with pytest.raises(SystemExit) as exit_:  # an argparse usage error
            main([*command, "--mqtt", "mqtt://twin@127.0.0.1:1", *flag])
        err = capsys.readouterr().err
        assert exit_.value.code == 2 and "hunter2" not in err
        assert "TWIN_MQTT_PASSWORD" in err and "--password-file" in err
    assert not (tmp_path / "x.duckdb").exists()


def test_ingest_bad_retention_is_refused_before_anything_starts(tmp_path, capsys):
    code = main(["ingest", "--mqtt", "mqtt://127.0.0.1:1", "--db", str(tmp_path / "x.duckdb"),
                 "--retain", "forever"])  # fmt: skip
    assert (
        code == 2 and "--retain 'forever': expected a positive duration" in capsys.readouterr().err
    )
    assert not (tmp_path / "x.duckdb").exists()


@pytest.mark.mqtt
def test_ingest_retain_deletes_old_data_and_keeps_new(broker, tmp_path):
    """`twin ingest --retain 30d` deletes what is older than 30 days when it starts."""
    db = tmp_path / "old.duckdb"
    sim = Simulator(seed=4, devices=5)
    now = datetime.now(UTC)
    old = list(sim.stream((now - timedelta(days=40)).timestamp(), rate=1.0, count=50))
    new = list(sim.stream((now - timedelta(days=2)).timestamp(), rate=1.0, count=50))
    messages = [decode(m.topic, m.payload, registry=sim.registry) for m in [*old, *new]]
    with Store(db) as store:
        store.write(messages)
    log = tmp_path / "ingest.log"
    proc = _twin("ingest", "--mqtt", broker.url, "--db", str(db), "--retain", "30d",
                 "--stats-interval", "0", log=log)  # fmt: skip
    try:
        wait_until(lambda: "retention: deleted" in log.read_text() or proc.poll() is not None,
                   60, "the first retention run")  # fmt: skip
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0, log.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
    with Store(db, read_only=True) as store:
        counts = store.counts()
        first, _ = store.time_range()
    assert counts["raw_messages"] == 50 and first >= now - timedelta(days=30)
    deleted = int(re.search(r"retention: deleted (\d+)", log.read_text()).group(1))
    assert deleted == sum(len(m.readings) for m in messages[:50])
    assert counts["readings"] == sum(len(m.readings) for m in messages[50:])


@pytest.mark.parametrize(
    ("option", "message"),
    [
        (["--duration", "-1"], "--duration must be a positive number of seconds"),
        (["--count", "0"], "--count must be at least 1"),
        (["--rate", "0"], "--rate must be positive"),
        (["--faults", "1.5"], "faults must be a share between 0 and 1"),
        (["--devices", "0"], "devices must be at least 1"),
    ],
)
def test_simulate_refuses_options_that_would_publish_nothing(option, message, capsys):
    assert main(["simulate", "--mqtt", "mqtt://127.0.0.1:1", *option]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and message in err


def test_readings_latest_matches_the_newest_reading_of_each_pair(demo_db, capsys):
    assert main(["readings", "--db", str(demo_db), "--latest", "--limit", "0", "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    with Store(demo_db, read_only=True) as store:
        want = (
            store.cursor()
            .execute(
                "SELECT d.device_id, r.quantity, max(r.time) FROM readings r JOIN devices d "
                "USING (device) GROUP BY ALL"
            )
            .fetchall()
        )
    newest = {(d, q): t for d, q, t in want}
    assert len(rows) == len(newest) > 29
    assert all(datetime.fromisoformat(r["time"]) == newest[r["device"], r["quantity"]]
               for r in rows)  # fmt: skip
    assert main(["readings", "--db", str(demo_db), "--latest", "--device", "ls-pegel-rhein"]) == 0
    body = capsys.readouterr().out.splitlines()[1:]
    assert {line.split()[1] for line in body} == {"ls-pegel-rhein"}
    assert {line.split()[2] for line in body} == {q for d, q in newest if d == "ls-pegel-rhein"}


def test_readings_dead_letters_show_when_and_why(tmp_path, capsys):
    from twin.sensors.model import DeadLetter

    db = tmp_path / "dead.duckdb"
    t = datetime(2026, 6, 15, 8, tzinfo=UTC)
    with Store(db) as store:
        store.write([], [DeadLetter("v3/a@ttn/devices/x/up", b"\x00{", "x/up: not JSON", t),
                         DeadLetter("v3/a@ttn/devices/y/up", b"", "y/up: empty payload",
                                    t + timedelta(seconds=1))])  # fmt: skip
    assert main(["readings", "--db", str(db), "--dead-letters"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["received_at", "error"]
    assert [line.split(None, 1)[1] for line in out[1:]] == ["y/up: empty payload", "x/up: not JSON"]
    assert main(["readings", "--db", str(db), "--dead-letters", "--json", "--limit", "1"]) == 0
    (row,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert row["topic"] == "v3/a@ttn/devices/y/up" and row["payload"] == ""
    assert main(["readings", "--db", str(db), "--dead-letters", "--json", "--since",
                 "2026-06-15T08:00:00Z"]) == 0  # fmt: skip
    payloads = [json.loads(line)["payload"] for line in capsys.readouterr().out.splitlines()]
    assert "AHs=" in payloads  # bytes as base64 in JSON
    assert main(["readings", "--db", str(db), "--dead-letters", "--device", "x"]) == 2


@pytest.mark.parametrize(
    ("option", "message"),
    [
        (["--password-file", "{tmp}/missing"], "cannot read the MQTT password file"),
        (["--ca-file", "{tmp}/missing.pem"], "missing.pem"),
        (["--registry", "{tmp}/missing.toml"], "registry file not found"),
    ],
)
def test_ingest_checks_its_files_before_creating_the_database(tmp_path, capsys, option, message):
    args = [o.format(tmp=tmp_path) for o in option]
    db = tmp_path / "never.duckdb"
    assert main(["ingest", "--mqtt", "mqtts://u@127.0.0.1:1", "--db", str(db), *args]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and message in err
    assert not db.exists()
