"""The worker process of the two-process ingest: decode, commit, report the commits.

:class:`twin.sensors.pipeline.ProcessWriter` starts :func:`worker_main` with
``multiprocessing``'s *spawn* method and talks to it over two pipes: shipments of raw
messages in, commit confirmations (sequence numbers), statistics and answers out. The worker
decodes and commits in turns on one thread (a :class:`~twin.sensors.writer.Writer` with
``thread=False`` on its own :class:`~twin.sensors.store.Store`), and dies with its parent.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection
from typing import Any

from twin.sensors.model import Message

log = logging.getLogger(__name__)

#: Item kinds on the pipe.
RAW, DEAD, MESSAGE = 0, 1, 2
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """Ask Linux to SIGKILL this process when its parent dies (no orphan holds the file)."""
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):  # pragma: no cover - not Linux/glibc
        return
    if os.getppid() == 1:  # the parent died before prctl took effect
        os._exit(1)


def worker_main(
    inbox: Connection,
    outbox: Connection,
    path: str,
    fmt: str,
    registry: Any,
    max_rows: int,
    max_delay: float,
) -> None:
    """Run the worker until told to close: decode, store, report the commits.

    Parameters
    ----------
    inbox, outbox : multiprocessing.connection.Connection
        Shipments and commands in; ``ready``/``commit``/``stats``/``flushed``/``retained``/
        ``error``/``closed`` replies out.
    path : str
        The DuckDB file (opened here; it must not be open in the parent).
    fmt : str
        Wire format for :func:`twin.sensors.decode.decode`.
    registry : Registry or None
        Device registry for decoding.
    max_rows, max_delay : int, float
        Batching of the worker's Writer.
    """
    _die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the receiver decides when to stop
    from twin.errors import DecodeError
    from twin.sensors.decode import decode
    from twin.sensors.model import DeadLetter
    from twin.sensors.store import Store
    from twin.sensors.writer import Writer

    send_lock = threading.Lock()

    def send(obj: tuple) -> None:
        with send_lock:
            outbox.send(obj)

    try:
        store = Store(path, threads=1)
    except Exception as err:
        send(("error", f"{type(err).__name__}: {err}"))
        return
    writer = Writer(
        store,
        max_rows=max_rows,
        max_delay=max_delay,
        on_commit=lambda seqs: send(("commit", seqs)),
        thread=False,  # decode and commit take turns: no second thread competing for the GIL
    )
    decode_errors = 0

    def stats() -> dict[str, Any]:
        out = writer.stats()
        out["decode_errors"] = decode_errors
        return out

    send(("ready",))
    # Decoding allocates dozens of containers per message and keeps thousands alive until
    # their batch commits; with CPython's default thresholds the cyclic collector then took
    # about a tenth of the worker's CPU, scanning objects that hold no cycles. Collect rarely,
    # and never scan what start-up created.
    gc.freeze()
    gc.set_threshold(50_000, 50, 100)
    last_stats = time.monotonic()
    try:
        while True:
            due = writer.pump()
            if not inbox.poll(0.5 if due is None else min(due, 0.5)):
                now = time.monotonic()
                if now - last_stats >= 0.5:
                    send(("stats", stats()))
                    last_stats = now
                continue
            msg = inbox.recv()
            kind = msg[0]
            if kind == "batch":
                decode_errors += _decode_into(writer, msg[1], fmt, registry, decode, DecodeError,
                                              DeadLetter)  # fmt: skip
                now = time.monotonic()
                if now - last_stats > 0.5:
                    send(("stats", stats()))
                    last_stats = now
            elif kind == "flush":
                ok = writer.flush(msg[2])
                send(("flushed", msg[1], ok, stats()))
            elif kind == "retain":
                try:
                    deleted = store.retain(timedelta(seconds=msg[2]))
                except Exception as err:  # reported to the caller; the ingest goes on
                    send(("retained", msg[1], False, str(err)))
                else:
                    send(("retained", msg[1], True, deleted))
            elif kind == "close":
                break
    except EOFError:
        log.warning("ingest worker: the receiver went away; committing what arrived")
    finally:
        writer.close()
        final = stats()
        store.close()
        with contextlib.suppress(OSError, ValueError):
            send(("closed", final))


def _decode_into(
    writer: Any,
    items: Iterable[tuple],
    fmt: str,
    registry: Any,
    decode: Callable[..., Any],
    decode_error: type[Exception],
    dead_letter: Callable[..., Any],
) -> int:
    """Decode one shipment into the writer; returns how many became dead letters."""
    errors = 0
    fromts = datetime.fromtimestamp
    out: list[tuple[Any, int]] = []
    for seq, kind, a, payload, received, _ in items:
        if kind == MESSAGE:
            out.append((Message.from_wire(a), seq))
            continue
        if kind == DEAD:
            out.append((a, seq))
            continue
        received_at = fromts(received, UTC)
        try:
            message = decode(a, payload, fmt=fmt, registry=registry, received_at=received_at)
        except decode_error as err:
            errors += 1
            out.append((dead_letter(a, payload, str(err), received_at), seq))
            continue
        except Exception as err:  # a decoder bug must not stop the ingest
            log.exception("ingest worker: decoder failed on %s", a)
            errors += 1
            error = f"internal error: {type(err).__name__}: {err}"
            out.append((dead_letter(a, payload, error, received_at), seq))
            continue
        out.append((message, seq))
    writer.submit_many(out)
    return errors
