"""Sensor commands: ``twin ingest``, ``twin simulate`` and ``twin readings``.

* ``twin ingest`` subscribes to an MQTT broker and stores every message in a DuckDB file
  until SIGTERM or SIGINT, then commits, acknowledges and exits 0.
* ``twin simulate`` publishes the demo deployment (or a registry) to a broker in TTN v3 or
  ChirpStack v4 wire format.
* ``twin readings`` prints stored readings as a table or as JSON lines.

The MQTT password is read from ``TWIN_MQTT_PASSWORD`` or ``--password-file``, never from
the command line.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import re
import signal
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from twin.errors import ConfigError, MQTTError

log = logging.getLogger("twin.commands.sensors")

#: Topics ``twin ingest`` subscribes to without ``--topic``: everything of TTN v3 and
#: ChirpStack v4 (uplinks and events).
DEFAULT_TOPICS = ("v3/+/devices/+/#", "application/+/device/+/event/+")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|sec|m|min|h|d|w)?\s*$", re.IGNORECASE)
#: How often ``twin ingest --retain`` deletes old data (seconds).
RETENTION_EVERY = 3600.0
_UNITS = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> timedelta | None:
    """Parse a duration such as ``90s``, ``15m``, ``1h``, ``2d``, ``4w`` (bare numbers: seconds).

    Parameters
    ----------
    text : str

    Returns
    -------
    timedelta or None
        None when the text is not a duration.
    """
    m = _DURATION.match(text)
    if not m:
        return None
    return timedelta(seconds=float(m.group(1)) * _UNITS[(m.group(2) or "s").lower()])


def parse_since(text: str, *, now: datetime | None = None) -> datetime:
    """Parse ``--since``: a duration back from now (``90s``, ``15m``, ``1h``, ``2d``) or ISO 8601.

    Parameters
    ----------
    text : str
        The option value.
    now : datetime, optional
        Reference time for durations; the current time by default.

    Returns
    -------
    datetime
        A timezone-aware UTC time (naive ISO times are taken as UTC).

    Raises
    ------
    ConfigError
        When the text is neither.
    """
    duration = parse_duration(text)
    if duration is not None:
        return (now or datetime.now(UTC)) - duration
    try:
        t = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(
            f"--since {text!r}: expected a duration such as 15m, 1h, 2d or an ISO 8601 time "
            "such as 2026-11-26T08:00:00Z"
        ) from None
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


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
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.set_defaults(func=cmd_simulate, accepts_extra=False)

    p = subparsers.add_parser(
        "readings",
        help="print stored sensor readings",
        description="Print readings of a DuckDB file written by `twin ingest` or `twin demo`, "
        "newest first, as a table or as JSON lines.",
    )
    p.add_argument("--db", required=True, type=Path, help="DuckDB file")
    p.add_argument("--device", help="only this device id")
    p.add_argument("--quantity", help="only this quantity")
    p.add_argument("--since", help="only newer readings: a duration (15m, 1h, 2d) or ISO time")
    p.add_argument("--limit", type=int, default=50, help="at most N rows (default 50; 0: all)")
    p.add_argument("--json", action="store_true", help="JSON lines instead of a table")
    p.add_argument(
        "--parquet",
        type=Path,
        metavar="FILE",
        help="write the selected readings (all of them, oldest first; --limit does not apply) "
        "to a Parquet file instead of printing them",
    )
    p.set_defaults(func=cmd_readings, accepts_extra=False)


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


def cmd_ingest(args: argparse.Namespace) -> int:
    """Run ``twin ingest``."""
    from twin.sensors.ingest import Ingest, default_client_id
    from twin.sensors.registry import Registry
    from twin.sensors.store import Store

    if not getattr(args, "quiet", False) and getattr(args, "verbose", 0) == 0:
        # a long-running service reports its connection and counters even without -v
        for name in ("twin.sensors.ingest", log.name):
            logging.getLogger(name).setLevel(logging.INFO)
    retain = _retention(args.retain)
    registry = Registry.load(args.registry) if args.registry else None
    topics = args.topics or list(DEFAULT_TOPICS)
    stop, restore = _stop_on_signals()
    try:
        store = Store(args.db)
        try:
            if registry is not None:
                store.upsert_devices(registry)
            client_id = args.client_id or default_client_id(
                args.mqtt, topics, str(Path(args.db).resolve())
            )
            ingest = Ingest(
                store,
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
            next_retention = time.monotonic()
            ingest.start()
            try:
                while not stop.wait(0.5):
                    if retain is not None and time.monotonic() >= next_retention:
                        deleted = store.retain(retain)
                        log.info("retention: deleted %d readings older than %s", deleted, retain)
                        next_retention = time.monotonic() + RETENTION_EVERY
                    if ingest.fatal and not ingest.connected:
                        # bad credentials, not authorised, banned: retrying will not help
                        raise MQTTError(
                            f"{ingest.settings.url} refused the connection: {ingest.refused}"
                        )
            finally:
                stats = ingest.stop()
        finally:
            store.close()
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


# --- twin readings -----------------------------------------------------------------------


def _value_text(row: dict[str, Any]) -> str:
    value = row.get("value")
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return str(row.get("text") or "")
    unit = row.get("unit") or ""
    # 10 significant digits: a meter reading of 2,210,021.5 kWh stays exact
    number = f"{value:.10g}" if isinstance(value, float) else str(value)
    return f"{number} {unit}".rstrip()


def _iso(t: Any) -> str | None:
    if t is None or (isinstance(t, float) and math.isnan(t)):
        return None
    try:
        return t.isoformat()
    except AttributeError:
        return str(t)


def _plain(v: Any) -> Any:
    if v is None:
        return None
    if hasattr(v, "isoformat"):
        return v.isoformat()
    if isinstance(v, float) and math.isnan(v):
        return None
    if hasattr(v, "item"):
        v = v.item()
        if isinstance(v, float) and math.isnan(v):
            return None
    return v


def _check_device(store: Any, db: Path, device: str) -> None:
    """Refuse a device id (or DevEUI) the database has never seen: a typo, not "no data"."""
    devices = store.devices()
    if device in set(devices["device"]) or device.upper() in set(devices["dev_eui"].dropna()):
        return
    names = sorted(devices["device"])
    shown = ", ".join(names[:8]) + (f", … ({len(names)} in all)" if len(names) > 8 else "")
    raise ConfigError(f"{db}: no device {device!r}; expected a device id or DevEUI: {shown}")


def cmd_readings(args: argparse.Namespace) -> int:
    """Run ``twin readings``."""
    from twin.sensors.store import Store

    if not Path(args.db).exists():
        raise ConfigError(f"{args.db}: no such sensor database")
    if args.limit < 0:
        raise ConfigError(f"--limit must be ≥ 0, not {args.limit}")
    since = parse_since(args.since) if args.since else None
    with Store(args.db, read_only=True) as store:
        if args.device is not None:
            _check_device(store, args.db, args.device)
        if args.parquet is not None:
            n = store.export_parquet(
                args.parquet, since=since, device=args.device, quantity=args.quantity
            )
            print(f"wrote {n} readings to {args.parquet}", file=sys.stderr)
            return 0
        df = store.readings(
            device=args.device, since=since, limit=args.limit or None, quantity=args.quantity
        )
    rows = df.to_dict("records")
    out = sys.stdout
    if args.json:
        for row in rows:
            out.write(json.dumps({k: _plain(v) for k, v in row.items()}, ensure_ascii=False))
            out.write("\n")
        return 0
    if not rows:
        print("no readings", file=sys.stderr)
        return 0
    table = [
        (
            _iso(row.get("time")) or "",
            str(row.get("device", "")),
            str(row.get("quantity", "")),
            _value_text(row),
            "" if _plain(row.get("f_cnt")) is None else str(_plain(row.get("f_cnt"))),
        )
        for row in rows
    ]
    header = ("time", "device", "quantity", "value", "f_cnt")
    widths = [max(len(h), *(len(r[i]) for r in table)) for i, h in enumerate(header)]
    out.write("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip() + "\n")
    for r in table:
        cells = [
            c.ljust(w) if i != 3 else c.rjust(w)
            for i, (c, w) in enumerate(zip(r, widths, strict=True))
        ]
        out.write("  ".join(cells).rstrip() + "\n")
    return 0
