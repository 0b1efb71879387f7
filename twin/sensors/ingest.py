"""MQTT ingest: subscribe, decode, store; acknowledge each message only after its commit.

:class:`Ingest` subscribes to a broker with paho-mqtt 2.x (MQTT 5 or 3.1.1), decodes every
message with :func:`twin.sensors.decode.decode` and hands it to a
:class:`~twin.sensors.writer.Writer`. Malformed messages become dead letters; nothing a
sender publishes can stop the ingest.

Delivery guarantees:

* QoS 1 with ``manual_ack=True``: a message's PUBACK is sent only after the Writer has
  committed the transaction holding it (the Writer's ``on_commit`` calls :func:`ack_tokens`).
  If the process dies before that, the broker delivers the message again; the store drops
  the duplicate by its dedup id (or device + frame counter + time).
* A persistent session (``clean_start=False`` with a session expiry for MQTT 5,
  ``clean_session=False`` for 3.1.1) and a stable client id make the broker queue messages
  while the ingest is down. The broker's own limits apply (mosquitto's
  ``max_queued_messages`` is 1000 per client by default).
* Acknowledgements of messages received before a reconnect are dropped: the broker resends
  those messages on the new connection (with the same packet ids), and acking an old id
  there could acknowledge a different, uncommitted message.
* MQTT 5 Receive Maximum (65,535 by default) bounds the messages in flight to us; with MQTT
  3.1.1 the broker's ``max_inflight_messages`` (mosquitto: 20) does, which limits
  throughput to about that many messages per commit: raise it on the broker.
* The Things Stack's MQTT server only offers QoS 0: it grants QoS 0 whatever we ask, so
  messages sent while the ingest is disconnected are lost there. The ingest logs a warning
  when the broker grants less than the requested QoS.

Acks are sent from the Writer's thread through paho's thread-safe outgoing queue (the same
path ``publish()`` takes from other threads while ``loop_start()`` runs the network loop), under
a lock that also guards the connection generation. The PUBACKs of one committed batch go out
as one buffer, in arrival order (MQTT requires QoS 1 acks in the order of the PUBLISHes).

Throughput: given a database path (what ``twin ingest`` does), the ingest uses two processes:
this one only receives (paho with :class:`~twin.sensors.paho_lean.LeanClient`'s lean receive
path) and a :class:`~twin.sensors.pipeline.ProcessWriter` worker decodes and commits; on the
2-core development machine that sustains more than 15,000 uplinks/s with the broker and the
publishers on the same cores. Given a Store or a Writer (the UI, which also reads the file),
everything runs in this process and one core bounds it (about 10,000/s there).
``bench/bench_ingest.py`` measures both against a bare paho client.
"""

from __future__ import annotations

import hashlib
import logging
import os
import socket
import struct
import threading
import time
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.subscribeoptions import SubscribeOptions

from twin.errors import ConfigError, DecodeError, MQTTError
from twin.sensors.decode import decode
from twin.sensors.model import DeadLetter
from twin.sensors.mqtt import (
    MAX_RECEIVE_MAXIMUM,
    connect_async,
    make_client,
    parse_protocol,
    parse_url,
    shared_topic,
    validate_topic_filter,
)
from twin.sensors.paho_lean import LeanMessage
from twin.sensors.registry import Registry

log = logging.getLogger(__name__)

#: Session expiry of the persistent MQTT 5 session: one week.
DEFAULT_SESSION_EXPIRY = 7 * 24 * 3600
#: PUBACK fixed header and packet layout (MQTT 3.1.1 and 5: reason "success" may be omitted).
_PUBACK_BYTE = 0x40
_PUBACK = struct.Struct("!BBH")
#: CONNACK refusals that retrying will not cure (credentials, permissions, client id).
FATAL_REFUSALS = frozenset(
    {
        "Unsupported protocol version",
        "Client identifier not valid",
        "Bad user name or password",
        "Not authorized",
        "Banned",
        "Bad authentication method",
    }
)
#: Formats the ingest accepts.
FORMATS = ("auto", "ttn", "chirpstack", "chirpstack3", "generic")


#: Default share of messages the receiver decodes in the two-process ingest.
RECEIVER_DECODES = 0.0


class AckToken:
    """What the Writer hands back in ``on_commit`` for one QoS 1 message."""

    __slots__ = ("generation", "ingest", "mid", "qos")

    def __init__(self, ingest: Ingest, mid: int, qos: int, generation: int) -> None:
        self.ingest = ingest
        self.mid = mid
        self.qos = qos
        self.generation = generation

    def __repr__(self) -> str:
        return f"AckToken(mid={self.mid}, qos={self.qos}, generation={self.generation})"


def ack_tokens(tokens: Iterable[Any]) -> None:
    """Acknowledge committed messages: the ``on_commit`` callback of a Writer fed by ingests.

    Parameters
    ----------
    tokens : iterable
        Tokens of one committed batch; :class:`AckToken` objects are acknowledged on their
        ingest's connection, anything else (None, the simulator's tokens) is ignored.
    """
    by_ingest: dict[Ingest, list[AckToken]] = {}
    for token in tokens:
        if isinstance(token, AckToken):
            by_ingest.setdefault(token.ingest, []).append(token)
    for ingest, batch in by_ingest.items():
        ingest._ack_many(batch)


def default_client_id(url: str, topics: Sequence[str], extra: str = "") -> str:
    """Return a client id stable across restarts on this host: ``twin-ingest-<host>-<hash>``.

    Parameters
    ----------
    url : str
        The broker URL.
    topics : sequence of str
        The topic filters.
    extra : str
        More text that identifies the deployment (e.g. the database path).

    Returns
    -------
    str
        At most 64 characters.
    """
    host = "".join(c for c in socket.gethostname() if c.isalnum() or c in "-_")[:24]
    digest = hashlib.sha1("\n".join([url, *topics, extra]).encode()).hexdigest()[:10]
    return f"twin-ingest-{host}-{digest}"


class Ingest:
    """Subscribe to MQTT topics and store every message through a Writer.

    Parameters
    ----------
    store_or_writer : Store, Writer, str or Path
        A DuckDB file path (the ingest then decodes and stores in a second process, a
        :class:`~twin.sensors.pipeline.ProcessWriter`, and uses two cores; the file must not
        be open in this process), a :class:`~twin.sensors.store.Store` (the ingest then runs
        its own Writer in this process and closes it in :meth:`stop`) or a running
        :class:`~twin.sensors.writer.Writer` shared with
        other producers; such a Writer must call :func:`ack_tokens` from its ``on_commit``
        (the ingest installs it when the Writer has no ``on_commit`` yet).
    url : str
        Broker URL, ``mqtt://host:1883`` or ``mqtts://user@host:8883`` (password from
        ``TWIN_MQTT_PASSWORD`` or ``password_file``).
    topics : sequence of str
        Topic filters, e.g. ``v3/+/devices/+/up`` or ``application/+/device/+/event/+``.
    fmt : {"auto", "ttn", "chirpstack", "chirpstack3", "generic"}
        Wire format; ``auto`` detects it per message.
    registry : Registry, optional
        Device registry for names, units and generic routes.
    qos : {0, 1}
        Requested QoS. With 0 nothing is acknowledged and nothing redelivered.
    client_id : str, optional
        Stable client id; derived from host, URL and topics when None.
    clean_start : bool
        False (default) keeps a persistent session on the broker.
    session_expiry : int
        MQTT 5 session expiry in seconds (ignored for 3.1.1, whose sessions do not expire).
    protocol : 5 or "3.1.1"
        MQTT version.
    shared_group : str, optional
        Subscribe as ``$share/<group>/<filter>`` so several ingests split the feed.
    ca_file, password_file : path, optional
        TLS CA bundle and password file.
    receive_maximum : int
        MQTT 5 Receive Maximum: unacknowledged messages the broker may send us.
    reconnect_delay : (float, float)
        Minimum and maximum reconnect backoff in seconds.
    stats_interval : float
        Seconds between two INFO log lines with the counters (0: never).
    receiver_decodes : float
        With a path (two processes): the share of messages this process decodes itself
        before handing them over (as :meth:`~twin.sensors.model.Message.to_wire` tuples); the
        worker decodes the rest. Meant to balance the two processes when the worker is the
        bottleneck; on the 2-core development machine a share of 0.4 gave no reliable gain
        (decoding in the receiver cost two to three times its cost alone), hence 0.
    max_rows, max_delay : int, float
        Batching of the ingest's own Writer (when given a Store or a path). A commit costs
        about 35 ms CPU whatever its size, so big batches (20,000 readings, some 6,000
        uplinks) halve the CPU per uplink at high rates; ``max_delay`` bounds the latency.
    """

    def __init__(
        self,
        store_or_writer: Any,
        *,
        url: str,
        topics: Sequence[str],
        fmt: str = "auto",
        registry: Registry | None = None,
        qos: int = 1,
        client_id: str | None = None,
        clean_start: bool = False,
        session_expiry: int = DEFAULT_SESSION_EXPIRY,
        protocol: int | str = 5,
        shared_group: str | None = None,
        ca_file: str | Path | None = None,
        password_file: str | Path | None = None,
        receive_maximum: int = MAX_RECEIVE_MAXIMUM,
        reconnect_delay: tuple[float, float] = (0.5, 30.0),
        stats_interval: float = 30.0,
        max_rows: int = 20_000,
        max_delay: float = 0.25,
        receiver_decodes: float = RECEIVER_DECODES,
    ) -> None:
        if fmt not in FORMATS:
            raise ConfigError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
        if qos not in (0, 1):
            raise ConfigError(f"qos must be 0 or 1, not {qos!r}")
        if not topics:
            raise ConfigError("give at least one MQTT topic filter to subscribe to")
        if not 0.0 <= receiver_decodes <= 1.0:
            raise ConfigError(f"receiver_decodes must be a share 0–1, not {receiver_decodes!r}")
        if fmt == "generic" and (registry is None or not registry.routes):
            raise ConfigError("the generic format needs a registry with [[generic]] routes")
        self.settings = parse_url(url, ca_file=ca_file, password_file=password_file)
        self.protocol = parse_protocol(protocol)
        self.filters = [shared_topic(validate_topic_filter(t), shared_group) for t in topics]
        if shared_group and self.protocol != paho.MQTTv5:
            log.warning("shared subscriptions are an MQTT 5 feature; the broker may refuse them")
        self.fmt = fmt
        self.registry = registry
        self.qos = qos
        self.clean_start = clean_start
        self.session_expiry = int(session_expiry)
        self.receive_maximum = int(receive_maximum)
        self.client_id = client_id or default_client_id(self.settings.url, self.filters)
        self.stats_interval = float(stats_interval)
        self.writer, self._owns_writer = self._writer_for(store_or_writer, max_rows, max_delay)
        #: The pipeline's hand-over of undecoded messages (None: decode here).
        self._submit_raw = getattr(self.writer, "submit_raw", None)
        self.receiver_decodes = float(receiver_decodes)
        self._share = 0.0
        self.client = make_client(
            self.settings,
            client_id=self.client_id,
            protocol=self.protocol,
            clean_start=clean_start,
            manual_ack=True,
            lean=True,
            reconnect_delay=reconnect_delay,
        )
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_connect_fail = self._on_connect_fail
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message
        #: The pipeline's batch hand-over (None: one message at a time).
        self._submit_raw_many = getattr(self.writer, "submit_raw_many", None)
        if self._submit_raw_many is not None and hasattr(self.client, "on_messages"):
            self.client.on_messages = self._on_messages
        self._lock = threading.Lock()
        self._generation = 0
        self._connected = threading.Event()
        self._subscribed = threading.Event()
        self._accepting = False
        self._stopping = threading.Event()
        self._stats_thread: threading.Thread | None = None
        self.refused: str | None = None
        self.fatal = False
        self.counters = {
            "messages": 0,
            "decode_errors": 0,
            "acked": 0,
            "stale_acks": 0,
            "connects": 0,
            "connect_failures": 0,
            "disconnects": 0,
            "not_submitted": 0,
        }
        self._started = False

    # --- setup --------------------------------------------------------------------------

    def _writer_for(
        self, store_or_writer: Any, max_rows: int, max_delay: float
    ) -> tuple[Any, bool]:
        if isinstance(store_or_writer, (str, os.PathLike)):
            from twin.sensors.pipeline import ProcessWriter

            return ProcessWriter(
                store_or_writer,
                fmt=self.fmt,
                registry=self.registry,
                max_rows=max_rows,
                max_delay=max_delay,
                on_commit=ack_tokens,
            ), True
        if hasattr(store_or_writer, "submit") and hasattr(store_or_writer, "submit_dead"):
            writer = store_or_writer
            current = getattr(writer, "on_commit", None)
            if current is None and hasattr(writer, "on_commit"):
                writer.on_commit = ack_tokens
            elif current is not ack_tokens:
                log.warning(
                    "the Writer's on_commit is %r, not twin.sensors.ingest.ack_tokens: make sure "
                    "it calls ack_tokens(tokens), or the broker stops sending after %d messages",
                    current,
                    MAX_RECEIVE_MAXIMUM,
                )
            return writer, False
        from twin.sensors.writer import Writer

        return Writer(
            store_or_writer, max_rows=max_rows, max_delay=max_delay, on_commit=ack_tokens
        ), True

    def start(self, *, wait: float | None = None) -> Ingest:
        """Connect (in the background, retrying with backoff) and start the network loop.

        Parameters
        ----------
        wait : float, optional
            Seconds to wait for the first successful connection.

        Returns
        -------
        Ingest
            ``self``.

        Raises
        ------
        MQTTError
            When ``wait`` is given and the broker refused us or did not answer in time.
        """
        if self._started:
            return self
        self._started = True
        self._accepting = True
        connect_async(
            self.client,
            self.settings,
            protocol=self.protocol,
            clean_start=self.clean_start,
            session_expiry=None if self.clean_start else self.session_expiry,
            receive_maximum=self.receive_maximum,
        )
        log.info(
            "ingest: connecting to %s as %r, topics %s, QoS %d, MQTT %s",
            self.settings.url,
            self.client_id,
            ", ".join(self.filters),
            self.qos,
            "5" if self.protocol == paho.MQTTv5 else "3.1.1",
        )
        self.client.loop_start()
        if self.stats_interval > 0:
            self._stats_thread = threading.Thread(
                target=self._log_stats_loop, name="twin-ingest-stats", daemon=True
            )
            self._stats_thread.start()
        if wait is not None and not self.wait_connected(wait):
            self.stop(flush_timeout=0)
            why = self.refused or "no answer"
            raise MQTTError(
                f"cannot connect to MQTT broker {self.settings.url} within {wait:g} s: {why}"
            )
        return self

    def wait_connected(self, timeout: float | None = None) -> bool:
        """Wait until connected and subscribed; False on timeout or when the broker refused us.

        The subscription is confirmed (SUBACK) before this returns, so a message published
        afterwards reaches the ingest.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while not (self._connected.is_set() and self._subscribed.is_set()):
            if self.refused is not None:
                return False
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return False
            self._subscribed.wait(0.1 if remaining is None else min(remaining, 0.1))
        return True

    @property
    def connected(self) -> bool:
        """Whether the client is connected right now."""
        return self._connected.is_set()

    # --- paho callbacks (network thread) --------------------------------------------------

    def _on_connect(self, client, userdata, flags, reason, properties) -> None:
        if reason.is_failure:
            self.refused = str(reason)
            self.fatal = self.refused in FATAL_REFUSALS
            log.error("ingest: %s refused the connection: %s", self.settings.url, reason)
            return
        self.refused = None
        self.fatal = False
        with self._lock:
            self._generation += 1
        self.counters["connects"] += 1
        log.info(
            "ingest: connected to %s (session present: %s)",
            self.settings.url,
            bool(flags.session_present),
        )
        if flags.session_present:  # the broker kept our subscriptions and sends at once
            self._subscribed.set()
        if self.protocol == paho.MQTTv5:
            subs = [(t, SubscribeOptions(qos=self.qos)) for t in self.filters]
        else:
            subs = [(t, self.qos) for t in self.filters]
        result, _mid = client.subscribe(subs)
        if result != paho.MQTT_ERR_SUCCESS:
            log.error("ingest: subscribe failed: %s", paho.error_string(result))
        self._connected.set()

    def _on_connect_fail(self, client, userdata) -> None:
        self.counters["connect_failures"] += 1
        log.warning(
            "ingest: cannot reach %s (attempt %d); retrying with backoff",
            self.settings.url,
            self.counters["connect_failures"],
        )

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties) -> None:
        granted = ", ".join(
            f"{topic} (QoS {code.value})" if not code.is_failure else f"{topic} (refused)"
            for topic, code in zip(self.filters, reason_codes, strict=False)
        )
        log.info("ingest: subscribed to %s", granted)
        self._subscribed.set()
        for topic, code in zip(self.filters, reason_codes, strict=False):
            if code.is_failure:
                log.error("ingest: the broker refused the subscription %r: %s", topic, code)
            elif code.value < self.qos:
                log.warning(
                    "ingest: the broker granted QoS %d for %r (asked %d): messages sent while "
                    "twin is disconnected are lost (The Things Stack only offers QoS 0)",
                    code.value,
                    topic,
                    self.qos,
                )

    def _on_disconnect(self, client, userdata, flags, reason, properties) -> None:
        self._connected.clear()
        self._subscribed.clear()
        self.counters["disconnects"] += 1
        if self._stopping.is_set():
            log.debug("ingest: disconnected")
        else:
            log.warning("ingest: lost the connection to %s: %s", self.settings.url, reason)

    def _on_message(self, client, userdata, msg: paho.MQTTMessage) -> None:
        if not self._accepting:
            return  # not acknowledged: the broker delivers it again next session
        self.counters["messages"] += 1
        token = AckToken(self, msg.mid, msg.qos, self._generation) if msg.qos > 0 else None
        payload = bytes(msg.payload)
        try:
            topic = msg.topic
        except UnicodeDecodeError:
            topic = msg._topic.decode("utf-8", "replace")
            self._dead(topic, payload, "topic is not valid UTF-8", datetime.now(UTC), token)
            return
        if self._submit_raw is not None:  # the pipeline: the worker decodes, we help
            self._share += self.receiver_decodes
            if self._share < 1.0:
                self._hand_over_raw(topic, payload, token)
                return
            self._share -= 1.0
        self._decode_here(topic, payload, token)

    def _on_messages(self, client, userdata, msgs: list[LeanMessage]) -> None:
        """Hand the lean messages of one socket read to the pipeline at once (batch path).

        Does what :meth:`_on_message` does for each message, with one
        :meth:`~twin.sensors.pipeline.ProcessWriter.submit_raw_many` call (one lock round, one
        clock read) for the raw ones. A message that does not go over raw (a dead letter for
        a topic that is not UTF-8, or one of the ``receiver_decodes`` share) first sends the
        raw ones before it, so the worker sees, and the broker gets acks in, arrival order.
        """
        if not self._accepting:
            return  # not acknowledged: the broker delivers them again next session
        self.counters["messages"] += len(msgs)
        generation = self._generation
        step = self.receiver_decodes
        items: list[tuple[str, bytes, AckToken | None]] = []
        for msg in msgs:
            token = AckToken(self, msg.mid, msg.qos, generation) if msg.qos > 0 else None
            try:
                topic = msg._topic.decode("utf-8")
            except UnicodeDecodeError:
                items = self._hand_over_raw_many(items)
                topic = msg._topic.decode("utf-8", "replace")
                self._dead(topic, msg.payload, "topic is not valid UTF-8", datetime.now(UTC),
                           token)  # fmt: skip
                continue
            if step:
                self._share += step
                if self._share >= 1.0:
                    self._share -= 1.0
                    items = self._hand_over_raw_many(items)
                    self._decode_here(topic, msg.payload, token)
                    continue
            items.append((topic, msg.payload, token))
        if items:
            self._hand_over_raw_many(items)

    def _decode_here(self, topic: str, payload: bytes, token: Any) -> None:
        """Decode in this process and hand over the message (or its dead letter)."""
        received = datetime.now(UTC)
        try:
            message = decode(
                topic, payload, fmt=self.fmt, registry=self.registry, received_at=received
            )
        except DecodeError as err:
            self._dead(topic, payload, str(err), received, token)
            return
        except Exception as err:  # a decoder bug must not stop the ingest
            log.exception("ingest: decoder failed on %s", topic)
            self._dead(
                topic, payload, f"internal error: {type(err).__name__}: {err}", received, token
            )
            return
        self._hand_over(self.writer.submit, message, token)

    def _dead(self, topic: str, payload: bytes, error: str, received: datetime, token: Any) -> None:
        self.counters["decode_errors"] += 1
        self._hand_over(self.writer.submit_dead, DeadLetter(topic, payload, error, received), token)

    def _hand_over(self, submit: Any, item: Any, token: Any) -> None:
        """Give an item to the Writer; never let its failure kill paho's network thread."""
        try:
            submit(item, token)
        except Exception as err:  # e.g. the Writer was closed while stopping
            self.counters["not_submitted"] += 1
            log.warning("ingest: not stored (the broker will deliver it again): %s", err)

    def _hand_over_raw(self, topic: str, payload: bytes, token: Any) -> None:
        try:
            self._submit_raw(topic, payload, time.time(), token)
        except Exception as err:  # the worker died or the pipeline is closed
            self.counters["not_submitted"] += 1
            log.warning("ingest: not stored (the broker will deliver it again): %s", err)

    def _hand_over_raw_many(self, items: list[tuple[str, bytes, Any]]) -> list:
        """Give a batch of raw messages to the pipeline; returns a new empty list."""
        if items:
            try:
                self._submit_raw_many(items, time.time())
            except Exception as err:  # the worker died or the pipeline is closed
                self.counters["not_submitted"] += len(items)
                log.warning(
                    "ingest: %d not stored (the broker will deliver them again): %s",
                    len(items),
                    err,
                )
        return []

    # --- acknowledgements (Writer thread) ---------------------------------------------------

    def _ack(self, token: AckToken) -> None:
        self._ack_many([token])

    def _ack_many(self, tokens: list[AckToken]) -> None:
        """Send the PUBACKs of committed messages, in the order they arrived.

        All PUBACKs of a batch go to paho's outgoing queue as one buffer (one wake-up of the
        network thread, one ``send``) instead of one queue entry and syscall per message;
        this uses paho's internal ``_packet_queue`` when it exists and ``Client.ack``
        otherwise. Tokens of an earlier connection are dropped (see the module doc).
        """
        with self._lock:
            if not self._connected.is_set():
                self.counters["stale_acks"] += len(tokens)
                return
            mids = [t.mid for t in tokens if t.generation == self._generation and t.qos == 1]
            self.counters["stale_acks"] += len(tokens) - len(mids)
            if not mids:
                return
            queue = getattr(self.client, "_packet_queue", None)
            if queue is not None and len(mids) > 1:
                data = b"".join([_PUBACK.pack(_PUBACK_BYTE, 2, mid) for mid in mids])
                rc = queue(_PUBACK_BYTE, data, 0, 1)
                ok = len(mids) if rc == paho.MQTT_ERR_SUCCESS else 0
            else:
                ok = sum(self.client.ack(mid, 1) == paho.MQTT_ERR_SUCCESS for mid in mids)
        self.counters["acked"] += ok
        self.counters["stale_acks"] += len(mids) - ok

    # --- stats and shutdown ---------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        """Counters of the ingest and its Writer.

        Returns
        -------
        dict
            ``messages`` (MQTT messages received), ``decode_errors``, ``acked``,
            ``stale_acks`` (acks dropped after a reconnect), ``connects``,
            ``connect_failures``, ``disconnects``, ``not_submitted`` (refused by a closed
            Writer, left to the broker to deliver again), ``connected``, plus the Writer's
            ``received``, ``stored``, ``duplicates``, ``rejected``, ``events``,
            ``lag_seconds``.
        """
        stats: dict[str, Any] = {}
        writer_stats = getattr(self.writer, "stats", None)
        if callable(writer_stats):
            stats.update(writer_stats())
        decode_errors = stats.get("decode_errors", 0)  # a pipeline worker's dead letters
        stats.update(self.counters)
        stats["decode_errors"] += decode_errors
        stats["connected"] = self.connected
        return stats

    def _log_stats_loop(self) -> None:
        while not self._stopping.wait(self.stats_interval):
            self.log_stats()

    def log_stats(self) -> None:
        """Log the counters at INFO level."""
        s = self.stats()
        log.info(
            "ingest: received %d, stored %s, duplicates %s, rejected %s, events %s, acked %d, "
            "lag %.2f s%s",
            s["messages"],
            s.get("stored", "?"),
            s.get("duplicates", "?"),
            s.get("rejected", s["decode_errors"]),
            s.get("events", "?"),
            s["acked"],
            float(s.get("lag_seconds", 0.0) or 0.0),
            "" if s["connected"] else " (disconnected)",
        )

    def stop(self, *, flush_timeout: float = 30.0) -> dict[str, Any]:
        """Stop taking messages, commit and acknowledge what arrived, disconnect.

        Messages that arrive while stopping are not acknowledged; the broker delivers them
        again to the next session.

        Parameters
        ----------
        flush_timeout : float
            Seconds to wait for the Writer to commit what it holds.

        Returns
        -------
        dict
            The final :meth:`stats`.
        """
        if not self._started:
            if self._owns_writer:
                self.writer.close()
            return self.stats()
        self._started = False
        self._accepting = False
        self._stopping.set()
        try:
            if flush_timeout > 0:
                flushed = self.writer.flush(flush_timeout)
                if flushed is False:
                    log.warning(
                        "ingest: the writer did not commit everything within %g s", flush_timeout
                    )
        finally:
            with self._lock:
                self.client.disconnect()
                self._connected.clear()
            self.client.loop_stop()
            if self._owns_writer:
                self.writer.close()
            if self._stats_thread is not None:
                self._stats_thread.join(5)
        self.log_stats()
        return self.stats()

    def __enter__(self) -> Ingest:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
