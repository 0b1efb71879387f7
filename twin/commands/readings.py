"""``twin readings``: what a sensor database holds, as a table, JSON lines or Parquet.

Three views of a DuckDB file written by ``twin ingest`` or ``twin demo``:

* the readings, newest first (``--device``, ``--quantity``, ``--since``, ``--limit``), or
  all selected readings into a Parquet file (``--parquet``);
* ``--latest``: the newest value of every device and quantity;
* ``--dead-letters``: the messages that could not be decoded, with the reason.

The database must not be held by a running ``twin ingest`` (DuckDB allows one writing
process, and no reader beside it): that is a one-line error with exit code 2.
"""

from __future__ import annotations

import argparse
import base64
import json
import math
import re
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from twin.errors import ConfigError

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|sec|m|min|h|d|w)?\s*$", re.IGNORECASE)
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


def register_readings(subparsers: argparse._SubParsersAction) -> None:
    """Add ``twin readings`` to the ``twin`` command."""
    p = subparsers.add_parser(
        "readings",
        help="print stored sensor readings",
        description="Print readings of a DuckDB file written by `twin ingest` or `twin demo`, "
        "newest first, as a table or as JSON lines; or the latest value per device, or the "
        "dead letters.",
    )
    p.add_argument("--db", required=True, type=Path, help="DuckDB file")
    p.add_argument("--device", help="only this device (id or DevEUI)")
    p.add_argument("--quantity", help="only this quantity")
    p.add_argument("--since", help="only newer rows: a duration (15m, 1h, 2d) or ISO time")
    p.add_argument("--limit", type=int, default=50, help="at most N rows (default 50; 0: all)")
    p.add_argument("--json", action="store_true", help="JSON lines instead of a table")
    view = p.add_mutually_exclusive_group()
    view.add_argument(
        "--latest", action="store_true", help="the newest value of each device and quantity"
    )
    view.add_argument(
        "--dead-letters",
        action="store_true",
        help="messages that could not be decoded, with the reason (newest first)",
    )
    view.add_argument(
        "--parquet",
        type=Path,
        metavar="FILE",
        help="write the selected readings (all of them, oldest first; --limit does not apply) "
        "to a Parquet file instead of printing them",
    )
    p.set_defaults(func=cmd_readings, accepts_extra=False)


def _value_text(row: dict[str, Any]) -> str:
    value = _plain(row.get("value"))
    if value is None:
        return str(row.get("text") or "")
    unit = row.get("unit") or ""
    # 10 significant digits: a meter reading of 2,210,021.5 kWh stays exact
    number = f"{value:.10g}" if isinstance(value, float) else str(value)
    return f"{number} {unit}".rstrip()


def _plain(v: Any) -> Any:
    """Return a JSON-ready value: times as ISO 8601, NaN/NaT as None, bytes as base64."""
    if v is None:
        return None
    if isinstance(v, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(v)).decode("ascii")
    if hasattr(v, "item") and not hasattr(v, "isoformat"):
        v = v.item()
    if isinstance(v, float) and math.isnan(v):
        return None
    if hasattr(v, "isoformat"):
        return None if str(v) == "NaT" else v.isoformat()
    return v


def _device_id(store: Any, db: Path, device: str) -> str:
    """Return the device id of an id or DevEUI; a device never seen is an error, not "no data"."""
    devices = store.devices()
    if device in set(devices["device"]):
        return device
    by_eui = devices.dropna(subset=["dev_eui"]).set_index("dev_eui")["device"]
    key = device.replace("-", "").replace(":", "").upper()
    if key in by_eui.index:
        return str(by_eui[key])
    names = sorted(devices["device"])
    shown = ", ".join(names[:8]) + (f", … ({len(names)} in all)" if len(names) > 8 else "")
    raise ConfigError(f"{db}: no device {device!r}; expected a device id or DevEUI: {shown}")


def _print_table(header: tuple[str, ...], table: list[tuple[str, ...]], right: int) -> None:
    """Print aligned columns; column ``right`` (the values) is right-aligned."""
    out = sys.stdout
    widths = [max(len(h), *(len(r[i]) for r in table)) for i, h in enumerate(header)]
    out.write("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip() + "\n")
    for r in table:
        cells = [
            c.rjust(w) if i == right else c.ljust(w)
            for i, (c, w) in enumerate(zip(r, widths, strict=True))
        ]
        out.write("  ".join(cells).rstrip() + "\n")


def _select(store: Any, args: argparse.Namespace, device: str | None, since: datetime | None):
    """Return the rows of the chosen view as a DataFrame, and how to print them as a table."""
    limit = args.limit or None
    if args.latest:
        df = store.latest(args.quantity)
        if device is not None:
            df = df[df["device"] == device]
        if since is not None:
            df = df[df["time"] >= since]
        return df.head(limit), ("time", "device", "quantity", "value"), False
    if args.dead_letters:
        df = store.dead_letters()
        if since is not None:
            df = df[df["received_at"] >= since]
        return df.head(limit), ("received_at", "error"), None
    df = store.readings(device=device, since=since, limit=limit, quantity=args.quantity)
    return df, ("time", "device", "quantity", "value", "f_cnt"), True


def cmd_readings(args: argparse.Namespace) -> int:
    """Run ``twin readings``."""
    from twin.sensors.store import Store

    if not Path(args.db).exists():
        raise ConfigError(f"{args.db}: no such sensor database")
    if args.limit < 0:
        raise ConfigError(f"--limit must be ≥ 0, not {args.limit}")
    if args.dead_letters and (args.device or args.quantity):
        raise ConfigError("--dead-letters: --device and --quantity do not apply (not decoded)")
    since = parse_since(args.since) if args.since else None
    with Store(args.db, read_only=True) as store:
        device = _device_id(store, args.db, args.device) if args.device is not None else None
        if args.parquet is not None:
            n = store.export_parquet(
                args.parquet, since=since, device=device, quantity=args.quantity
            )
            print(f"wrote {n} readings to {args.parquet}", file=sys.stderr)
            return 0
        df, header, with_f_cnt = _select(store, args, device, since)
    rows = df.to_dict("records")
    if args.json:
        for row in rows:
            sys.stdout.write(json.dumps({k: _plain(v) for k, v in row.items()}, ensure_ascii=False))
            sys.stdout.write("\n")
        return 0
    if not rows:
        print("no dead letters" if args.dead_letters else "no readings", file=sys.stderr)
        return 0
    if with_f_cnt is None:  # dead letters: when and why (the error names the topic)
        table = [(_plain(r["received_at"]) or "", str(r["error"])) for r in rows]
        _print_table(header, table, right=-1)
        return 0
    table = [
        (
            _plain(row.get("time")) or "",
            str(row.get("device", "")),
            str(row.get("quantity", "")),
            _value_text(row),
            *(("" if _plain(row.get("f_cnt")) is None else str(_plain(row.get("f_cnt"))),)
              if with_f_cnt else ()),
        )
        for row in rows
    ]  # fmt: skip
    _print_table(header, table, right=3)
    return 0
