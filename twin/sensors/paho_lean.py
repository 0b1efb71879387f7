"""A paho-mqtt client with a lean receive path for high-rate subscribers (the ingest).

paho-mqtt spends most of a subscriber's CPU on work a QoS 1 ingest does not need: for every
PUBLISH it reads the fixed header with three or four one-byte ``recv`` calls, builds an
MQTT 5 :class:`~paho.mqtt.properties.Properties` object even when the packet carries no
properties, and creates an :class:`~paho.mqtt.client.MQTTMessageInfo` with its own
``threading.Condition`` for each incoming message. Measured here (draining 50,000 queued TTN
uplinks, MQTT 5, manual acks) that is about 50 µs of CPU per message, more than decoding it.

:class:`LeanClient` is a :class:`paho.mqtt.client.Client` that changes three things and
nothing else of paho's protocol handling (connect, subscribe, keep-alive, reconnect, acks, TLS
and websockets stay paho's):

* **buffered reads**: ``_sock_recv`` takes up to 64 KiB from the socket at once and serves
  paho's small reads from that buffer; ``loop_read`` keeps handling packets until the buffer
  is empty, so no buffered packet waits for a ``select`` that would not fire;
* **scan**: when paho holds no partial packet, ``loop_read`` takes every *complete* QoS 0/1
  PUBLISH without MQTT 5 properties straight out of the read buffer in one tight loop (fixed
  header and remaining length decoded inline, no per-packet state dict, one clock read and
  one ``_msgtime_mutex`` round per buffer) and stops at the first packet that is incomplete
  or anything else; paho's own ``_packet_read`` then reads that one from the same buffer;
* **lean PUBLISH**: a QoS 0/1 PUBLISH without MQTT 5 properties that paho's reader assembled
  (one split across socket reads) is parsed with plain byte indexing too.

Both lean paths make a :class:`LeanMessage` (same attributes as paho's ``MQTTMessage``) and
apply only with ``manual_ack=True`` (the caller acknowledges), an ``on_message`` callback and
no per-topic callbacks. Anything else (QoS 2, properties present, malformed packets,
``message_callback_add``) takes paho's own path unchanged. An owner that wants the messages
of one read buffer in one call sets :attr:`LeanClient.on_messages`.

It relies on paho's internal ``_handle_publish``, ``_sock_recv``, ``_in_packet``,
``_in_callback_mutex``, ``_msgtime_mutex``, ``_last_bytes_received`` and ``_loop_rc_handle``,
checked against paho-mqtt 2.1/2.2 (pyproject pins ``<2.3``); :func:`lean_supported` says
whether the running paho has them, and the tests compare the lean path with paho's on the
same packets, cut at random places.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as paho

log = logging.getLogger(__name__)

#: Bytes taken from the socket per ``recv``.
READ_SIZE = 65536
_REQUIRED = ("_handle_publish", "_sock_recv", "_in_packet", "_in_callback_mutex", "_sock_close",
             "_msgtime_mutex", "_last_bytes_received", "_loop_rc_handle")  # fmt: skip
_SUCCESS = paho.MQTT_ERR_SUCCESS
_CONN_LOST = paho.MQTT_ERR_CONN_LOST

#: ``on_messages(client, userdata, messages)``: the lean messages of one read buffer.
BatchCallback = Callable[[paho.Client, Any, list["LeanMessage"]], None]


@functools.cache
def lean_supported() -> bool:
    """Whether the installed paho-mqtt has the internals :class:`LeanClient` overrides."""
    probe = paho.Client(paho.CallbackAPIVersion.VERSION2)
    return all(hasattr(probe, name) for name in _REQUIRED)


class LeanMessage:
    """An incoming message, attribute-compatible with :class:`paho.mqtt.client.MQTTMessage`.

    ``topic`` decodes the topic bytes (raising ``UnicodeDecodeError`` like paho), ``_topic``
    holds the raw bytes, ``payload`` the body as ``bytes``.
    """

    __slots__ = ("_topic", "dup", "info", "mid", "payload", "properties", "qos", "retain",
                 "state", "timestamp")  # fmt: skip

    def __init__(
        self,
        mid: int,
        topic: bytes,
        payload: bytes,
        qos: int,
        header: int,
        timestamp: float | None = None,
    ) -> None:
        self.mid = mid
        self._topic = topic
        self.payload = payload
        self.qos = qos
        self.dup = bool(header & 0x08)
        self.retain = bool(header & 0x01)
        self.properties = None
        self.info = None
        self.state = 0
        self.timestamp = time.monotonic() if timestamp is None else timestamp

    @property
    def topic(self) -> str:
        """The topic as text."""
        return self._topic.decode("utf-8")

    def __repr__(self) -> str:
        return f"LeanMessage(mid={self.mid}, topic={self._topic!r}, {len(self.payload)} bytes)"


class LeanClient(paho.Client):
    """paho's Client with buffered socket reads and a lean QoS 0/1 PUBLISH path.

    Takes the same arguments as :class:`paho.mqtt.client.Client`. See the module doc for
    what differs.

    Attributes
    ----------
    on_messages : callable or None
        ``on_messages(client, userdata, messages)``: when set (and ``on_message`` is set, which
        enables the lean path), the messages the scan takes from one read buffer arrive in one
        call as a list of :class:`LeanMessage`, in order. A lean message paho's reader
        assembled (split across reads) arrives as a list of one; messages on paho's path
        (QoS 2, properties) still go to ``on_message``.
    lean_messages : int
        Messages that took a lean path (the scan or the lean ``_handle_publish``).
    scanned_messages : int
        Of those, the messages the scan took straight out of the read buffer.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._rbuf = b""
        self._rpos = 0
        self._lean_ok = True
        self.on_messages: BatchCallback | None = None
        self.lean_messages = 0
        self.scanned_messages = 0

    # --- buffered reads ------------------------------------------------------------------

    def _sock_recv(self, bufsize: int) -> bytes:
        pos = self._rpos
        buf = self._rbuf
        if pos >= len(buf):
            buf = super()._sock_recv(READ_SIZE)  # BlockingIOError when nothing is there
            if not buf:
                return buf  # connection closed
            self._rbuf = buf
            pos = 0
        end = pos + bufsize
        self._rpos = end
        if pos == 0 and end >= len(buf):
            return buf
        return buf[pos:end]

    def _buffered(self) -> int:
        return max(len(self._rbuf) - self._rpos, 0)  # _rpos may point past a short read

    def _fill(self) -> paho.MQTTErrorCode | None:
        """Read the socket into the empty buffer; None on success, else ``loop_read``'s rc.

        Errors are handled as paho's ``_packet_read`` handles them on a packet's first byte.
        """
        try:
            data = paho.Client._sock_recv(self, READ_SIZE)
        except BlockingIOError:
            return _SUCCESS
        except TimeoutError as err:
            self._easy_log(paho.MQTT_LOG_ERR, "timeout on socket: %s", err)
            return self._loop_rc_handle(_CONN_LOST)
        except OSError as err:
            self._easy_log(paho.MQTT_LOG_ERR, "failed to receive on socket: %s", err)
            return self._loop_rc_handle(_CONN_LOST)
        if not data:
            return self._loop_rc_handle(_CONN_LOST)
        self._rbuf = data
        self._rpos = 0
        return None

    def loop_read(self, max_packets: int = 1) -> paho.MQTTErrorCode:
        """Handle incoming packets until neither the socket buffer nor ours holds one.

        Complete lean PUBLISH packets at the head of the buffer are scanned in one go; paho's
        ``_packet_read`` handles the first packet that is not (or not yet complete), then the
        scan goes on after it.
        """
        if self._sock is None:
            return paho.MQTT_ERR_NO_CONN
        while True:
            if (
                self._in_packet["command"] == 0
                and self._manual_ack
                and self._lean_ok
                and self.on_message is not None
            ):
                if self._rpos >= len(self._rbuf):
                    rc = self._fill()
                    if rc is not None:
                        return rc
                if self._scan() and (self._sock is None or self._rpos >= len(self._rbuf)):
                    return _SUCCESS if self._sock is not None else paho.MQTT_ERR_NO_CONN
            rc = super().loop_read(max_packets)
            if rc != _SUCCESS or self._sock is None or self._rpos >= len(self._rbuf):
                return rc

    def _sock_close(self) -> None:
        self._rbuf = b""
        self._rpos = 0
        super()._sock_close()

    # --- the scan ------------------------------------------------------------------------------

    def _scan(self) -> int:
        """Take the complete lean PUBLISH packets at the head of the buffer; return how many.

        Stops at the first packet that is incomplete, not a QoS 0/1 PUBLISH, carries MQTT 5
        properties or does not parse (a remaining length over four bytes, a topic or packet id
        past the packet's end, an empty 3.1.1 topic): paho's reader takes that one and reports
        what is wrong with it.
        """
        buf = self._rbuf
        end = len(buf)
        pos = self._rpos
        v5 = self._protocol == paho.MQTTv5
        out: list[tuple[int, bytes, bytes, int, int, int]] = []
        append = out.append
        while pos + 2 <= end:
            header = buf[pos]
            if (header & 0xF0) != 0x30 or (header & 0x06) > 0x02:  # not a PUBLISH of QoS 0 or 1
                break
            byte = buf[pos + 1]
            if byte < 0x80:
                length = byte
                p = pos + 2
            else:  # remaining length over 2-4 bytes (paho accepts non-minimal encodings)
                length = byte & 0x7F
                p = pos + 2
                shift = 7
                while True:
                    if p >= end or p - pos > 4:  # incomplete, or a fifth byte: malformed
                        length = -1
                        break
                    byte = buf[p]
                    p += 1
                    length |= (byte & 0x7F) << shift
                    if byte < 0x80:
                        break
                    shift += 7
                if length < 0:
                    break
            stop = p + length
            if stop > end or length < 2:
                break
            t = p + 2 + ((buf[p] << 8) | buf[p + 1])
            if header & 0x02:
                if t + 2 > stop:
                    break
                mid = (buf[t] << 8) | buf[t + 1]
                body = t + 2
                qos = 1
            else:
                mid = 0
                body = t
                qos = 0
            if v5:
                if body >= stop or buf[body]:  # properties present, or no room for them
                    break
                body += 1
            elif t == p + 2 or body > stop:  # 3.1.1: empty topic, or it overruns the packet
                break
            append((mid, buf[p + 2 : t], buf[body:stop], qos, header, stop))
            pos = stop
        if not out:
            return 0
        now = time.monotonic()
        with self._msgtime_mutex:
            self._last_bytes_received = now
        n = len(out)
        self.lean_messages += n
        self.scanned_messages += n
        on_messages = self.on_messages
        if on_messages is not None:
            self._rpos = pos
            batch = [LeanMessage(m, t, b, q, h, now) for m, t, b, q, h, _ in out]
            self._call(on_messages, batch, "on_messages")
            return n
        on_message = self.on_message
        for mid, topic, body, qos, header, stop in out:
            self._rpos = stop  # a callback that raises leaves the packets after its own
            self._call(on_message, LeanMessage(mid, topic, body, qos, header, now), "on_message")
            if self._rbuf is not buf:  # the callback closed the socket: the rest is gone
                break
        return n

    def _call(self, callback: Callable[..., None], arg: Any, name: str) -> None:
        """Call a message callback as paho does: under its lock, logging what it raises."""
        with self._in_callback_mutex:
            try:
                callback(self, self._userdata, arg)
            except Exception as err:
                self._easy_log(paho.MQTT_LOG_ERR, "Caught exception in %s: %s", name, err)
                if not self.suppress_exceptions:
                    raise

    # --- lean PUBLISH ----------------------------------------------------------------------

    def message_callback_add(self, sub: str, callback: Any) -> None:
        """As paho's; per-topic callbacks switch the lean PUBLISH path off."""
        self._lean_ok = False
        super().message_callback_add(sub, callback)

    def _handle_publish(self) -> paho.MQTTErrorCode:
        header = self._in_packet["command"]
        qos = (header & 0x06) >> 1
        on_message = self.on_message
        if qos == 2 or not self._manual_ack or not self._lean_ok or on_message is None:
            return super()._handle_publish()
        packet = self._in_packet["packet"]
        size = len(packet)
        if size < 2:
            return super()._handle_publish()  # malformed: paho says so
        pos = 2 + ((packet[0] << 8) | packet[1])
        topic = bytes(packet[2:pos])
        if qos:
            if size < pos + 2:
                return super()._handle_publish()
            mid = (packet[pos] << 8) | packet[pos + 1]
            pos += 2
        else:
            mid = 0
        if self._protocol == paho.MQTTv5:
            if size <= pos or packet[pos] != 0:
                return super()._handle_publish()  # properties present (or malformed)
            pos += 1
        elif not topic or size < pos:
            return super()._handle_publish()
        message = LeanMessage(mid, topic, bytes(memoryview(packet)[pos:]), qos, header)
        self.lean_messages += 1
        if self.on_messages is not None:
            self._call(self.on_messages, [message], "on_messages")
        else:
            self._call(on_message, message, "on_message")
        return paho.MQTT_ERR_SUCCESS


__all__ = ["READ_SIZE", "BatchCallback", "LeanClient", "LeanMessage", "lean_supported"]
