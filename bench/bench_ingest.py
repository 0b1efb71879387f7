"""End-to-end MQTT ingest throughput: mosquitto_pub → mosquitto → twin ingest → DuckDB.

Lines of simulated TTN v3 uplinks (one JSON message per line, made by the simulator and
cached under ``~/.cache/twin/bench``) are published with ``mosquitto_pub -l -q 1`` by several
processes into a local mosquitto. Two subscribers are measured in the same run, each on a
fresh broker with the same publishers:

* ours: :class:`twin.sensors.ingest.Ingest` — QoS 1, manual acks, every message decoded,
  committed to DuckDB and acknowledged only after the commit; in one process (``single``:
  given a Store, paho, decoding and the Writer share one GIL) and in two (``pipeline``: given
  a path, a :class:`twin.sensors.pipeline.ProcessWriter` decodes and commits in a worker
  process, commit confirmations flow back and the receiver acks);
* raw: a bare paho-mqtt client with QoS 1 that only counts messages (paho acks at once).

The figure is the sustained rate after a warm-up: acknowledged-after-commit uplinks per
second for ours, received messages per second for raw, and their ratio. The publishers offer
a steady load (``--offered``, each mosquitto_pub fed by a pacer process), 10 % above the
15,000/s target by default: a subscriber that keeps up can only measure the offered rate or a
little less (its commits come in batches), so offering exactly the target could not tell
"sustains 15,000/s" from "falls just short". Unpaced, the publishers fill the broker's queue
for whichever subscriber is slower, and mosquitto 2.0 then slows down for everyone; a
subscriber that cannot keep up with the offered rate (the bare paho client here) also loses
some of its rate to its growing queue. On this 2-core machine the publishers and the broker
take a large share of the CPU themselves, so the bench also queues a backlog (``--backlog``)
at the broker for each subscriber's persistent session while it is away, and times the drain:
that is the subscriber's own ceiling. (Keep the backlog near 100,000: mosquitto 2.0.11 drains
a client's queue of a few hundred thousand messages slower and slower, for any subscriber.)
The machine's load average is printed too: on a shared machine both figures move with it,
the ratio much less.

Usage::

    python bench/bench_ingest.py                 # 60 s per subscriber
    python bench/bench_ingest.py --seconds 10    # a quick run
    python bench/bench_ingest.py --modes pipeline --backlog 0

Needs ``mosquitto``. Without ``mosquitto_pub`` (Debian: mosquitto-clients) the lines are
published by Python paho publishers instead (said in the output; they cost more CPU).
"""

from __future__ import annotations

import argparse
import contextlib
import mmap
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import orjson
import paho.mqtt.client as paho
import psutil

from twin.sensors.decode import decode
from twin.sensors.decode.ttn_fast import FIELDS as TTN_UPLINK_FIELDS
from twin.sensors.ingest import RECEIVER_DECODES, Ingest
from twin.sensors.mqtt import connect_properties
from twin.sensors.simulator import Simulator
from twin.sensors.store import Store

CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "twin" / "bench"
TOPIC = "v3/{app}@ttn/devices/bench-publisher-{i}/up"
T0 = datetime(2026, 6, 15, tzinfo=UTC).timestamp()
TARGET = 15_000
#: Offered by default: 10 % above the target.
OFFERED = 16_500


# --- lines --------------------------------------------------------------------------------


def _generate_part(args: tuple[int, int, int, str]) -> str:
    """Write ``count`` uplinks of simulator ``seed`` (its own devices) to ``path``."""
    seed, count, devices, path = args
    sim = Simulator(seed=seed, devices=devices, application_id=f"bench-{seed}")
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        for msg in sim.stream(T0 + seed * 86400 * 365, rate=50.0, count=count, chunk=512):
            f.write(msg.payload)
            f.write(b"\n")
    os.replace(tmp, path)
    return path


def lines_files(total: int, parts: int, *, refresh: bool = False) -> list[Path]:
    """``parts`` files holding ``total`` unique uplinks together (generated once, cached)."""
    CACHE.mkdir(parents=True, exist_ok=True)
    per = -(-total // parts)
    paths = [CACHE / f"ttn-uplinks-{i}-{per}.jsonl" for i in range(parts)]
    todo = [(i + 1, per, 400, str(p)) for i, p in enumerate(paths) if refresh or not p.exists()]
    if todo:
        t0 = time.perf_counter()
        print(f"generating {per * len(todo):,} simulated uplinks into {CACHE} ...", flush=True)
        with ProcessPoolExecutor(max_workers=min(len(todo), os.cpu_count() or 1)) as pool:
            list(pool.map(_generate_part, todo))
        print(f"  done in {time.perf_counter() - t0:.0f} s", flush=True)
    return paths


# --- broker and publishers ----------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def broker(workdir: Path):
    """A mosquitto on a free port without queue or in-flight limits."""
    port = _free_port()
    conf = workdir / f"mosquitto-{port}.conf"
    lines = [
        f"listener {port} 127.0.0.1",
        "allow_anonymous true",
        "max_queued_messages 0",
        "max_inflight_messages 0",
        "log_type error",
        f"log_dest file {workdir / f'mosquitto-{port}.log'}",
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        lines.append("user root")
    conf.write_text("\n".join(lines) + "\n")
    proc = subprocess.Popen([shutil.which("mosquitto"), "-c", str(conf)], stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            break
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                raise RuntimeError("mosquitto did not start") from None
            time.sleep(0.05)
    try:
        yield port
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(10)


def publisher_kind() -> str:
    """``mosquitto_pub`` when installed, else ``python`` (this file's paho publisher)."""
    return "mosquitto_pub" if shutil.which("mosquitto_pub") else "python"


def publishers(port: int, files: list[Path], rate: float = 0.0) -> list[subprocess.Popen]:
    """One ``mosquitto_pub -l -q 1`` per file, each on its own topic (or a Python one).

    With ``rate`` > 0 each file is fed through a pacer process at ``rate`` lines per second,
    so that the broker is offered a steady load instead of everything at once (an unpaced
    publisher fills the broker's queue for a slower subscriber, and mosquitto 2.0 then slows
    down for everyone).
    """
    procs = []
    python = publisher_kind() == "python"
    for i, path in enumerate(files):
        topic = TOPIC.format(app="bench", i=i)
        if python:
            cmd = [sys.executable, __file__, "--publish-lines", str(path), "--port", str(port),
                   "--topic", topic, "--pace-rate", str(rate)]  # fmt: skip
            procs.append(subprocess.Popen(cmd, stdout=subprocess.DEVNULL))
            continue
        cmd = [shutil.which("mosquitto_pub"), "-h", "127.0.0.1", "-p", str(port), "-q", "1",
               "-M", "1000", "-l", "-t", topic]  # fmt: skip
        if rate > 0:
            pacer = subprocess.Popen(
                [sys.executable, __file__, "--pace", str(path), "--pace-rate", str(rate)],
                stdout=subprocess.PIPE,
            )
            procs.append(pacer)
            procs.append(subprocess.Popen(cmd, stdin=pacer.stdout, stdout=subprocess.DEVNULL))
            pacer.stdout.close()  # type: ignore[union-attr]  # mosquitto_pub holds it now
            continue
        with path.open("rb") as stdin:
            procs.append(subprocess.Popen(cmd, stdin=stdin, stdout=subprocess.DEVNULL))
    return procs


def pace(path: Path, rate: float) -> None:
    """Write the lines of ``path`` to stdout at ``rate`` lines per second (10 ms slices).

    The line ends are found once with numpy; each slice is then one ``write`` of a byte range,
    so the pacer costs well under a microsecond per line.
    """
    out = sys.stdout.buffer
    with path.open("rb") as f:
        data = memoryview(mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ))
    ends = np.flatnonzero(np.frombuffer(data, np.uint8) == 10) + 1
    total = len(ends)
    t0 = time.monotonic()
    sent = start = 0
    while sent < total:
        due = min(int((time.monotonic() - t0) * rate), total)
        if due > sent:
            end = int(ends[due - 1])
            out.write(data[start:end])
            out.flush()
            sent, start = due, end
        time.sleep(0.01)


def publish_lines(path: Path, port: int, topic: str, rate: float = 0.0) -> None:
    """The fallback publisher: each line of ``path`` as one QoS 1 message (paho, capped)."""
    from twin.sensors.mqtt import Publisher, parse_url

    publisher = Publisher(parse_url(f"mqtt://127.0.0.1:{port}", env={}), max_outstanding=1000)
    t0 = time.monotonic()
    with publisher, path.open("rb") as lines:
        for n, line in enumerate(lines):
            if rate > 0 and n > (time.monotonic() - t0) * rate:
                time.sleep(n / rate - (time.monotonic() - t0))
            publisher.publish(topic, line.rstrip(b"\n"), qos=1)


# --- measurement --------------------------------------------------------------------------


def sustained_rate(
    count: Callable[[], int], procs: list[subprocess.Popen], seconds: float, warmup: float,
    total: int,
) -> tuple[float, float, int, dict[str, float]]:  # fmt: skip
    """Messages per second between the end of the warm-up and ``warmup + seconds``.

    The window ends early when every line is through; returns (rate, window, count at end,
    CPU µs per message of each kind of process over the window).
    """
    t0 = time.monotonic()
    start_t = start_n = None
    cpu0 = cpu_snapshot()
    while True:
        time.sleep(0.25)
        now, n = time.monotonic(), count()
        if start_t is None and now - t0 >= warmup:
            start_t, start_n, cpu0 = now, n, cpu_snapshot()
        done = n >= total
        if start_t is not None and (now - start_t >= seconds or done):
            break
        if done:  # finished within the warm-up: measure from the first message instead
            start_t, start_n = t0, 0
            break
    window = now - start_t
    cpu = cpu_per_message(cpu0, cpu_snapshot(), n - start_n)
    return (n - start_n) / window if window > 0 else 0.0, window, n, cpu


def _target(workdir: Path, name: str, pipeline: bool):
    """A database for the ingest: a path (two processes) or an open Store (one process)."""
    path = workdir / f"{name}-{'pipeline' if pipeline else 'single'}.duckdb"
    return str(path) if pipeline else Store(path)


def _close(target) -> dict:
    """Close the Store (when ours) and return its counts."""
    store = target if isinstance(target, Store) else Store(target)
    counts = store.counts()
    store.close()
    return counts


def run_ours(port: int, files, total, seconds, warmup, workdir, pipeline: bool,
             rate: float = 0.0) -> dict:  # fmt: skip
    target = _target(workdir, "bench", pipeline)
    ingest = Ingest(target, url=f"mqtt://127.0.0.1:{port}", topics=["v3/+/devices/+/up"],
                    client_id="bench-ingest", stats_interval=0)  # fmt: skip
    ingest.start(wait=10)
    procs = publishers(port, files, rate)
    try:
        rate, window, _, cpu = sustained_rate(
            lambda: ingest.counters["acked"], procs, seconds, warmup, total
        )
    finally:
        for p in procs:
            p.kill()
        stats = ingest.stop(flush_timeout=60)
    return {"rate": rate, "window": window, "stats": stats, "counts": _close(target), "cpu": cpu}


def run_raw(port: int, files, total, seconds, warmup, rate: float = 0.0) -> dict:
    received = [0]
    subscribed = threading.Event()
    client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id="bench-raw",
                         protocol=paho.MQTTv5)  # fmt: skip

    def on_message(c, u, msg):
        received[0] += 1

    client.on_message = on_message
    client.on_connect = lambda c, u, f, r, p: c.subscribe("v3/+/devices/+/up", qos=1)
    client.on_subscribe = lambda *a: subscribed.set()
    client.connect("127.0.0.1", port)
    client.loop_start()
    if not subscribed.wait(10):
        raise RuntimeError("raw subscriber did not subscribe")
    procs = publishers(port, files, rate)
    try:
        rate, window, _, cpu = sustained_rate(lambda: received[0], procs, seconds, warmup, total)
    finally:
        for p in procs:
            p.kill()
        client.disconnect()
        client.loop_stop()
    return {"rate": rate, "window": window, "cpu": cpu}


def backlog_files(files: list[Path], count: int, workdir: Path) -> list[Path]:
    """The first ``count`` lines of the cached files, split the same way."""
    per = -(-count // len(files))
    out = []
    for i, path in enumerate(files):
        part = workdir / f"backlog-{i}.jsonl"
        with path.open("rb") as src, part.open("wb") as dst:
            for n, line in enumerate(src):
                if n >= per:
                    break
                dst.write(line)
        out.append(part)
    return out


def fill_backlog(port: int, files: list[Path]) -> float:
    """Publish everything while the subscriber is away; returns the publishing rate."""
    t0 = time.monotonic()
    procs = publishers(port, files)
    for proc in procs:
        proc.wait()
    seconds = time.monotonic() - t0
    return sum(1 for f in files for _ in f.open("rb")) / seconds


def _role(proc: psutil.Process, me: int) -> str:
    """What a process of this benchmark is: receiver, worker, broker, publisher or pacer."""
    if proc.pid == me:
        return "receiver"
    name = proc.name()
    if name.startswith("mosquitto_pub"):
        return "publisher"
    if name.startswith("mosquitto"):
        return "mosquitto"
    cmdline = " ".join(proc.cmdline())
    if "--pace" in cmdline:
        return "pacer"
    if "--publish-lines" in cmdline:
        return "publisher"
    return "worker" if "multiprocessing" in cmdline else name


def cpu_snapshot() -> dict[int, tuple[str, float]]:
    """CPU seconds used so far by this process and its children (broker, worker, publishers)."""
    me = psutil.Process()
    out = {}
    for proc in [me, *me.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):
            t = proc.cpu_times()
            out[proc.pid] = (_role(proc, me.pid), t.user + t.system)
    return out


def cpu_per_message(before: dict, after: dict, count: int) -> dict[str, float]:
    """CPU µs per message of each process kind between two snapshots."""
    use: dict[str, float] = {}
    for pid, (name, t) in after.items():
        if name == "resource_tracker" or name.startswith("python"):
            continue
        use[name] = use.get(name, 0.0) + t - before.get(pid, (name, 0.0))[1]
    return {name: seconds / max(count, 1) * 1e6 for name, seconds in use.items()}


def drain_ours(port: int, files: list[Path], count: int, workdir: Path, pipeline: bool,
               receiver_decodes: float = RECEIVER_DECODES) -> dict:  # fmt: skip
    """Queue ``count`` uplinks for the ingest's persistent session, then time the drain."""
    url = f"mqtt://127.0.0.1:{port}"
    target = _target(workdir, "backlog", pipeline)
    options = {"url": url, "topics": ["v3/+/devices/+/up"], "client_id": "bench-drain",
               "stats_interval": 0, "receiver_decodes": receiver_decodes}  # fmt: skip
    Ingest(target, **options).start(wait=10).stop()  # creates the session and subscription
    publish_rate = fill_backlog(port, files)
    ingest = Ingest(target, **options)
    cpu0 = cpu_snapshot()
    t0 = time.monotonic()
    ingest.start(wait=10)
    while ingest.counters["acked"] < count and time.monotonic() - t0 < 300:
        time.sleep(0.05)
    seconds = time.monotonic() - t0
    cpu = cpu_per_message(cpu0, cpu_snapshot(), count)
    stats = ingest.stop(flush_timeout=60)
    counts = _close(target)
    if counts.get("raw_messages", 0) != count:
        print(f"  WARNING: {counts.get('raw_messages', 0):,} of {count:,} uplinks stored")
    return {"rate": stats["acked"] / seconds, "seconds": seconds, "publish": publish_rate,
            "cpu": cpu}  # fmt: skip


def drain_raw(port: int, files: list[Path], count: int) -> dict:
    """The same for a bare paho client (persistent session, QoS 1, counting only)."""
    received = [0]
    subscribed = threading.Event()

    def client() -> paho.Client:
        c = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id="bench-drain-raw",
                        protocol=paho.MQTTv5)  # fmt: skip
        c.on_message = lambda c, u, m: received.__setitem__(0, received[0] + 1)
        c.on_connect = lambda c, u, f, r, p: c.subscribe("v3/+/devices/+/up", qos=1)
        c.on_subscribe = lambda *a: subscribed.set()
        return c

    props = connect_properties(session_expiry=3600)
    first = client()
    first.connect("127.0.0.1", port, clean_start=False, properties=props)
    first.loop_start()
    if not subscribed.wait(10):
        raise RuntimeError("raw subscriber did not subscribe")
    first.disconnect()
    first.loop_stop()
    publish_rate = fill_backlog(port, files)
    second = client()
    cpu0 = cpu_snapshot()
    t0 = time.monotonic()
    second.connect("127.0.0.1", port, clean_start=False, properties=props)
    second.loop_start()
    while received[0] < count and time.monotonic() - t0 < 300:
        time.sleep(0.05)
    seconds = time.monotonic() - t0
    cpu = cpu_per_message(cpu0, cpu_snapshot(), count)
    second.disconnect()
    second.loop_stop()
    return {"rate": received[0] / seconds, "seconds": seconds, "publish": publish_rate,
            "cpu": cpu}  # fmt: skip


def stage_costs(files: list[Path], n: int = 5000, repeat: int = 3) -> dict[str, float]:
    """CPU microseconds per uplink of decoding and of the DuckDB write, measured alone.

    Each figure is the best of ``repeat`` runs over the same ``n`` uplinks.
    """
    with files[0].open("rb") as f:
        lines = [next(f).rstrip(b"\n") for _ in range(n)]
    devices = [orjson.loads(x)["end_device_ids"]["device_id"] for x in lines]
    topics = [f"v3/b@ttn/devices/{device}/up" for device in devices]

    def best(run: Callable[[], object]) -> float:
        times = []
        for _ in range(repeat):
            t = time.process_time()
            run()
            times.append(time.process_time() - t)
        return min(times) / n * 1e6

    msgs = [decode(topic, line) for topic, line in zip(topics, lines, strict=True)]
    costs = {
        "decode": best(lambda: [decode(t, x) for t, x in zip(topics, lines, strict=True)]),
        "json": best(lambda: [TTN_UPLINK_FIELDS.decode(x) for x in lines]),
        "orjson": best(lambda: [orjson.loads(x) for x in lines]),
        "write_cpu": float("inf"),
        "write_wall": float("inf"),
    }
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(repeat):
            store = Store(Path(tmp) / f"cost-{i}.duckdb")
            t, w = time.process_time(), time.perf_counter()
            store.write(msgs, [])
            costs["write_cpu"] = min(costs["write_cpu"], (time.process_time() - t) / n * 1e6)
            costs["write_wall"] = min(costs["write_wall"], (time.perf_counter() - w) / n * 1e6)
            store.close()
    return costs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="measured window per side")
    parser.add_argument("--warmup", type=float, default=5.0, help="seconds not measured")
    parser.add_argument("--publishers", type=int, default=2, help="mosquitto_pub processes")
    parser.add_argument("--lines", type=int, help="uplinks to publish (default: enough for "
                        f"{TARGET:,}/s over warm-up + window)")  # fmt: skip
    parser.add_argument("--refresh", action="store_true", help="regenerate the cached lines")
    parser.add_argument("--backlog", type=int, default=100_000, help="uplinks queued at the "
                        "broker while the subscriber is away, then drained (0: skip; mosquitto "
                        "2.0 slows down badly beyond ~100,000 queued for one client)")  # fmt: skip
    parser.add_argument("--modes", default="single,pipeline",
                        help="twin ingest modes to measure: single (one process, Store), "
                        "pipeline (decode and write in a second process)")  # fmt: skip
    parser.add_argument("--receiver-decodes", type=float, default=RECEIVER_DECODES,
                        help="pipeline: share of messages the receiving process decodes "
                        f"itself (default {RECEIVER_DECODES})")  # fmt: skip
    parser.add_argument("--offered", type=float, default=OFFERED, help="messages per second "
                        f"the publishers offer together while publishing (default {OFFERED:,}, "
                        f"10 %% above the target; 0: as fast as they can)")  # fmt: skip
    parser.add_argument("--publish-lines", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--pace", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--pace-rate", type=float, default=0.0, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--topic", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.publish_lines:  # the fallback publisher's own process
        publish_lines(args.publish_lines, args.port, args.topic, args.pace_rate)
        return 0
    if args.pace:  # a pacer feeding one mosquitto_pub
        pace(args.pace, args.pace_rate)
        return 0
    if shutil.which("mosquitto") is None:
        print("mosquitto not found (apt-get install mosquitto): MQTT ingest not measured")
        return 0
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    if not set(modes) <= {"single", "pipeline"}:
        parser.error(f"--modes: expected single and/or pipeline, got {args.modes!r}")
    kind = publisher_kind()
    if kind == "python":
        print("mosquitto_pub not found (apt-get install mosquitto-clients): publishing with a "
              "Python paho publisher per file instead; it costs more CPU, so all figures are "
              "lower than with mosquitto_pub")  # fmt: skip
    total = args.lines or int(max(TARGET, args.offered) * 1.1 * (args.seconds + args.warmup))
    files = lines_files(total, args.publishers, refresh=args.refresh)
    total = sum(1 for f in files for _ in f.open("rb"))
    per_publisher = args.offered / len(files) if args.offered > 0 else 0.0
    load0 = os.getloadavg()
    live: dict[str, dict] = {}
    drained: dict[str, dict] = {}
    n = 0
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        with broker(workdir) as port:
            live["raw"] = run_raw(port, files, total, args.seconds, args.warmup, per_publisher)
        for mode in modes:
            with broker(workdir) as port:
                live[mode] = run_ours(port, files, total, args.seconds, args.warmup, workdir,
                                      pipeline=mode == "pipeline", rate=per_publisher)  # fmt: skip
        if args.backlog > 0:
            backlog = backlog_files(files, args.backlog, workdir)
            n = sum(1 for f in backlog for _ in f.open("rb"))
            with broker(workdir) as port:
                drained["raw"] = drain_raw(port, backlog, n)
            for mode in modes:
                with broker(workdir) as port:
                    drained[mode] = drain_ours(port, backlog, n, workdir,
                                               pipeline=mode == "pipeline",
                                               receiver_decodes=args.receiver_decodes)  # fmt: skip
    load1 = os.getloadavg()
    costs = stage_costs(files)
    names = {
        "raw": "raw paho pass-through (QoS 1, no decode/store)",
        "single": "twin ingest, one process",
        "pipeline": "twin ingest, two processes (pipeline)",
    }
    print()
    print(f"MQTT ingest, {total:,} simulated TTN v3 uplinks from {args.publishers} "
          f"{'mosquitto_pub -l -q 1' if kind == 'mosquitto_pub' else 'Python paho publishers'}, "
          f"{os.cpu_count()} cores, load average {load0[0]:.1f} → {load1[0]:.1f}")  # fmt: skip
    print("twin ingest: QoS 1, decoded, committed to DuckDB, acknowledged after the commit")
    raw = live["raw"]["rate"]
    offered = f"{args.offered:,.0f}/s offered" if args.offered > 0 else "unpaced"
    print(f"while publishing ({offered}), sustained over the window:")
    print(f"  {'':56} {'msgs/s':>10} {'window':>8} {'ratio':>6}")
    for key, r in live.items():
        ratio = r["rate"] / raw if raw else float("nan")
        print(f"  {names[key]:56} {r['rate']:>10,.0f} {r['window']:>7.1f}s {ratio:>6.2f}")
    print("  CPU per message over the window (µs):")
    for key, r in live.items():
        parts = ", ".join(f"{name} {us:.0f}" for name, us in sorted(r["cpu"].items()))
        print(f"    {key:10} {parts}; total {sum(r['cpu'].values()):.0f}")
    if drained:
        draw = drained["raw"]["rate"]
        print(f"drain of a backlog of {n:,} queued while away "
              f"(published at {drained['raw']['publish']:,.0f}/s):")  # fmt: skip
        for key, r in drained.items():
            ratio = r["rate"] / draw if draw else float("nan")
            print(f"  {names[key]:56} {r['rate']:>10,.0f} {r['seconds']:>7.1f}s {ratio:>6.2f}")
        print("  CPU per message while draining (µs; the machine has "
              f"{os.cpu_count() * 1e6 / TARGET:.0f} µs per message at {TARGET:,}/s):")  # fmt: skip
        for key, r in drained.items():
            parts = ", ".join(f"{name} {us:.0f}" for name, us in sorted(r["cpu"].items()))
            print(f"    {key:10} {parts}; total {sum(r['cpu'].values()):.0f}")
    best = max((r["rate"] for k, r in live.items() if k != "raw"), default=0.0)
    window = min((r["window"] for r in live.values()), default=0.0)
    print(f"target {TARGET:,}/s end to end sustained for {args.seconds:g} s: "
          f"{'met' if best >= TARGET and window >= args.seconds * 0.99 else 'NOT met'} "
          f"(best {best:,.0f}/s over {window:.0f} s)")  # fmt: skip
    for key in modes:
        s = live[key]["stats"]
        print(f"{key}: {s['messages']:,} received, {s.get('stored', 0):,} stored, "
              f"{s.get('duplicates', 0):,} duplicates, {s['decode_errors']} dead letters, "
              f"{s['acked']:,} acked ({s['stale_acks']:,} dropped after {s['connects']} "
              f"connects), {s.get('batches', 0)} commits; store holds "
              f"{live[key]['counts'].get('raw_messages', 0):,} uplinks")  # fmt: skip
    print(f"per uplink, CPU: decode {costs['decode']:.0f} µs (of which JSON parsing "
          f"{costs['json']:.0f} µs: msgspec, only the fields twin keeps; orjson parses the "
          f"whole body in {costs['orjson']:.0f} µs), DuckDB write {costs['write_cpu']:.0f} µs "
          f"({costs['write_wall']:.0f} µs wall)")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
