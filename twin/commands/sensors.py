"""Sensor commands: ``twin ingest``, ``twin simulate`` and ``twin readings``.

* ``twin ingest`` subscribes to an MQTT broker and stores every message in a DuckDB file
  until SIGTERM or SIGINT, then commits, acknowledges and exits 0.
* ``twin simulate`` publishes the demo deployment (or a registry) to a broker in TTN v3 or
  ChirpStack v4 wire format.
* ``twin readings`` (in :mod:`twin.commands.readings`) prints what is stored.

The MQTT password is read from ``TWIN_MQTT_PASSWORD`` or ``--password-file``, never from
the command line.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from twin.commands.readings import parse_duration, register_readings
from twin.errors import ConfigError, MQTTError, StoreError

log = logging.getLogger("twin.commands.sensors")

#: Topics ``twin ingest`` subscribes to without ``--topic``: everything of TTN v3 and
#: ChirpStack v4 (uplinks and events).
DEFAULT_TOPICS = ("v3/+/devices/+/#", "application/+/device/+/event/+")
#: How often ``twin ingest --retain`` deletes old data (seconds).
RETENTION_EVERY = 3600.0


class _RefusePassword(argparse.Action):
    """``--password``: refused without repeating the value (it must not be on argv at all)."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: str | None = None) -> None:  # fmt: skip
        parser.error(  # a usage error: exit code 2, before the command starts
            f"{option_string}: the MQTT password is never taken from the command line (other "
            "users see it in the process list); set TWIN_MQTT_PASSWORD or use --password-file"
        )


def _mqtt_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """Return the connection options shared by ``ingest`` and ``simulate``."""
    return {
        "qos": args.qos,
        "protocol": args.mqtt_version,
        "ca_file": args.ca_file,
        "password_file": args.password_file,
    }


def _add_mqtt_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--mqtt",
        required=True,
        metavar="URL",
        help="broker URL: mqtt://host:1883, mqtts://user@host:8883, ws://, wss://",
    )
    p.add_argument("--ca-file", type=Path, help="CA certificate bundle for TLS")
    p.add_argument(
        "--password-file",
        type=Path,
        help="file holding the broker password (else $TWIN_MQTT_PASSWORD; never on argv)",
    )
    # Refused on purpose: argparse would otherwise take ``--password X`` as an abbreviation of
    # --password-file and echo X in its error (and argv is visible in the process list).
    p.add_argument("--password", nargs="?", action=_RefusePassword, help=argparse.SUPPRESS)
    p.add_argument(
        "--mqtt-version", default="5", choices=("5", "3.1.1"), help="MQTT protocol version"
    )
    p.add_argument("--client-id", help="MQTT client id (stable for a persistent session)")
    p.add_argument("--qos", type=int, default=1, choices=(0, 1), help="MQTT QoS (default 1)")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``ingest``, ``simulate`` and ``readings`` to the ``twin`` command."""
    p = subparsers.add_parser(
        "ingest",
        help="store MQTT sensor messages in a DuckDB file until stopped",
        description="Subscribe to an MQTT broker (TTN v3, ChirpStack v4, generic JSON) and "
        "store readings, events and dead letters in a DuckDB file. Each QoS 1 message is "
        "acknowledged only after it is committed. Runs until SIGTERM or Ctrl-C, then "
        "commits and exits 0. Note: The Things Stack's MQTT server only offers QoS 0.",
    )
    _add_mqtt_options(p)
    p.add_argument(
        "--topic",
        action="append",
        dest="topics",
        metavar="FILTER",
        help=f"topic filter, repeatable (default: {' and '.join(DEFAULT_TOPICS)})",
    )
    p.add_argument("--db", required=True, type=Path, help="DuckDB file (created if missing)")
    p.add_argument("--registry", type=Path, help="device registry (TOML or CSV)")
    p.add_argument(
        "--format",
        default="auto",
        choices=("auto", "ttn", "chirpstack", "chirpstack3", "generic"),
        help="wire format (default: detect per message)",
    )
    p.add_argument(
        "--shared-group", metavar="NAME", help="MQTT 5 shared subscription $share/NAME/…"
    )
    p.add_argument(
        "--clean-start", action="store_true", help="no persistent session (messages sent "
        "while twin is down are lost)",
    )  # fmt: skip
    p.add_argument(
        "--session-expiry",
        type=int,
        default=7 * 24 * 3600,
        metavar="S",
        help="MQTT 5 session expiry in seconds (default one week)",
    )
    p.add_argument(
        "--retain",
        metavar="DURATION",
        help="delete readings, raw messages, events and dead letters older than this "
        "(e.g. 90d), at start and every hour (default: keep everything)",
    )
    p.add_argument(
        "--stats-interval",
        type=float,
        default=30.0,
        metavar="S",
        help="log the counters every S seconds (0: never)",
    )
    p.set_defaults(func=cmd_ingest, accepts_extra=False)

    p = subparsers.add_parser(
        "simulate",
        help="publish simulated sensor uplinks (TTN v3 / ChirpStack v4) to a broker",
        description="Play the demo deployment (sensors/devices.toml) with daily patterns "
        "and noise and publish the uplinks in the wire format of The Things Stack v3 or "
        "ChirpStack v4.",
    )
    _add_mqtt_options(p)
    p.add_argument("--registry", type=Path, help="devices to play (default: the demo)")
    p.add_argument(
        "--devices", type=int, metavar="N", help="number of devices; more than the registry "
        "adds generated street sensors spread over the city",
    )  # fmt: skip
    p.add_argument(
        "--rate", type=float, default=5.0, metavar="R", help="messages per second (default 5)"
    )
    p.add_argument("--duration", type=float, metavar="S", help="stop after S seconds")
    p.add_argument("--count", type=int, metavar="N", help="stop after N messages")
    p.add_argument("--format", default="ttn", choices=("ttn", "chirpstack"), help="wire format")
    p.add_argument(
        "--faults",
        type=float,
        default=0.0,
        metavar="F",
        help="share of malformed messages, 0–1 (default 0)",
    )
    p.add_argument(
        "--joins",
        type=float,
        default=0.0,
        metavar="F",
        help="share of uplinks preceded by a rejoin of their device (join event, frame "
        "counter restarts), 0–1 (default 0)",
    )
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.set_defaults(func=cmd_simulate, accepts_extra=False)

    register_readings(subparsers)


# --- twin ingest -------------------------------------------------------------------------


def _stop_on_signals() -> tuple[threading.Event, Callable[[], None]]:
    """Return an event set by SIGTERM/SIGINT and a function restoring the old handlers."""
    stop = threading.Event()
    old = {}

    def handler(signum: int, frame: Any) -> None:
        log.info("received %s: stopping", signal.Signals(signum).name)
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        old[sig] = signal.signal(sig, handler)

    def restore() -> None:
        for sig, h in old.items():
            signal.signal(sig, h)

    return stop, restore


def _retention(text: str | None) -> timedelta | None:
    if text is None:
        return None
    duration = parse_duration(text)
    if duration is None or duration <= timedelta(0):
        raise ConfigError(f"--retain {text!r}: expected a positive duration such as 90d or 12w")
    return duration


def _retain(retain: Callable[[timedelta], int], older_than: timedelta) -> None:
    """Delete old data; a failure is logged and retried at the next round, not fatal."""
    from twin.errors import StoreError

    try:
        deleted = retain(older_than)
    except StoreError as err:
        log.error("retention failed (retried in %.0f s): %s", RETENTION_EVERY, err)
        return
    log.info("retention: deleted %d readings older than %s", deleted, older_than)


def _open_store(path: Path, wait: float = 15.0) -> Any:
    """Open the store, waiting a little while another process still holds the file.

    An ingest that was killed leaves its worker process for a moment (it dies with its
    parent, but not in the same instant); a restart right away would otherwise fail.
    """
    from twin.errors import StoreError
    from twin.sensors.store import Store

    deadline = time.monotonic() + wait
    while True:
        try:
            return Store(path)
        except StoreError as err:
            if "held by another process" not in str(err) or time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def cmd_ingest(args: argparse.Namespace) -> int:
    """Run ``twin ingest``.

    The command prepares the database in this process (schema, registry devices, a first
    retention), closes it, and then runs the two-process ingest: paho receives and
    acknowledges here, a worker process decodes and commits
    (:class:`~twin.sensors.pipeline.ProcessWriter`); hourly retention runs in the worker.
    """
    from twin.sensors.ingest import Ingest, default_client_id
    from twin.sensors.mqtt import parse_url
    from twin.sensors.registry import Registry

    if not getattr(args, "quiet", False) and getattr(args, "verbose", 0) == 0:
        # a long-running service reports its connection and counters even without -v
        for name in ("twin.sensors.ingest", log.name):
            logging.getLogger(name).setLevel(logging.INFO)
    retain = _retention(args.retain)
    # The URL, password and CA files are checked before the database file is created.
    parse_url(args.mqtt, ca_file=args.ca_file, password_file=args.password_file)
    registry = Registry.load(args.registry) if args.registry else None
    topics = args.topics or list(DEFAULT_TOPICS)
    db = Path(args.db)
    stop, restore = _stop_on_signals()
    try:
        store = _open_store(db)  # creates the schema; errors are one line, exit 2
        try:
            if registry is not None:
                store.upsert_devices(registry)
            if retain is not None:
                _retain(store.retain, retain)
        finally:
            store.close()
        client_id = args.client_id or default_client_id(args.mqtt, topics, str(db.resolve()))
        ingest = Ingest(
            db,
            url=args.mqtt,
            topics=topics,
            fmt=args.format,
            registry=registry,
            client_id=client_id,
            clean_start=args.clean_start,
            session_expiry=args.session_expiry,
            shared_group=args.shared_group,
            stats_interval=args.stats_interval,
            **_mqtt_kwargs(args),
        )
        next_retention = time.monotonic() + RETENTION_EVERY
        ingest.start()
        try:
            while not stop.wait(0.5):
                if retain is not None and time.monotonic() >= next_retention:
                    next_retention = time.monotonic() + RETENTION_EVERY
                    _retain(ingest.writer.retain, retain)
                if ingest.fatal and not ingest.connected:
                    # bad credentials, not authorised, banned: retrying will not help
                    raise MQTTError(
                        f"{ingest.settings.url} refused the connection: {ingest.refused}"
                    )
                if not ingest.writer.alive:
                    raise StoreError(f"{db}: the ingest worker stopped; see the log above")
        finally:
            stats = ingest.stop()
    finally:
        restore()
    log.info(
        "ingest stopped: %d messages, %s stored, %s duplicates, %s dead letters",
        stats["messages"],
        stats.get("stored", "?"),
        stats.get("duplicates", "?"),
        stats.get("rejected", stats["decode_errors"]),
    )
    return 0


# --- twin simulate -----------------------------------------------------------------------


def cmd_simulate(args: argparse.Namespace) -> int:
    """Run ``twin simulate``."""
    from twin.sensors.simulator import Simulator

    if args.rate is not None and not args.rate > 0:
        raise ConfigError(f"--rate must be positive, not {args.rate}")
    if args.duration is not None and not args.duration > 0:
        raise ConfigError(f"--duration must be a positive number of seconds, not {args.duration}")
    if args.count is not None and args.count < 1:
        raise ConfigError(f"--count must be at least 1, not {args.count}")
    sim = Simulator(
        args.registry,
        seed=args.seed,
        fmt=args.format,
        faults=args.faults,
        rate=args.rate,
        devices=args.devices,
        joins=args.joins,
    )
    log.info(
        "simulating %d devices at %g messages/s in %s format to %s",
        len(sim),
        sim.rate,
        args.format,
        args.mqtt,
    )
    stop, restore = _stop_on_signals()
    try:
        result = sim.publish_mqtt(
            args.mqtt,
            duration=args.duration,
            count=args.count,
            client_id=args.client_id,
            stop_event=stop,
            progress=lambda n: log.debug("published %d", n),
            **_mqtt_kwargs(args),
        )
    finally:
        restore()
    print(
        f"published {result['published']} messages ({result['faults']} malformed) "
        f"in {result['seconds']:.1f} s ({result['rate']:.1f}/s)",
        file=sys.stderr,
    )
    return 0
