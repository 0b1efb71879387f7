"""A paho-mqtt client with a lean receive path for high-rate subscribers (the ingest).

paho-mqtt spends most of a subscriber's CPU on work a QoS 1 ingest does not need: for every
PUBLISH it reads the fixed header with three or four one-byte ``recv`` calls, builds an
MQTT 5 :class:`~paho.mqtt.properties.Properties` object even when the packet carries no
properties, and creates an :class:`~paho.mqtt.client.MQTTMessageInfo` with its own
``threading.Condition`` for each incoming message. Measured here (draining 50,000 queued TTN
uplinks, MQTT 5, manual acks) that is about 50 µs of CPU per message, more than decoding it.

:class:`LeanClient` is a :class:`paho.mqtt.client.Client` that changes two things and nothing
else of paho's protocol handling (connect, subscribe, keep-alive, reconnect, acks, TLS and
websockets stay paho's):

* **buffered reads**: ``_sock_recv`` takes up to 64 KiB from the socket at once and serves
  paho's small reads from that buffer; ``loop_read`` keeps handling packets until the buffer
  is empty, so no buffered packet waits for a ``select`` that would not fire;
* **lean PUBLISH**: a QoS 0/1 PUBLISH without MQTT 5 properties is parsed with plain byte
  indexing into a :class:`LeanMessage` (same attributes as paho's ``MQTTMessage``) and given to
  ``on_message`` — only with ``manual_ack=True`` (the caller acknowledges) and without
  per-topic callbacks. Anything else (QoS 2, properties present, malformed packets,
  ``message_callback_add``) takes paho's own path unchanged.

It relies on paho's internal ``_handle_publish``, ``_sock_recv``, ``_in_packet`` and
``_in_callback_mutex``, checked against paho-mqtt 2.1/2.2 (pyproject pins ``<2.3``);
:func:`lean_supported` says whether the running paho has them, and the tests compare the
lean path with paho's on the same packets.
"""

from __future__ import annotations

import functools
import logging
import time
from typing import Any

import paho.mqtt.client as paho

log = logging.getLogger(__name__)

#: Bytes taken from the socket per ``recv``.
READ_SIZE = 65536
_REQUIRED = ("_handle_publish", "_sock_recv", "_in_packet", "_in_callback_mutex", "_sock_close")


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

    def __init__(self, mid: int, topic: bytes, payload: bytes, qos: int, header: int) -> None:
        self.mid = mid
        self._topic = topic
        self.payload = payload
        self.qos = qos
        self.dup = bool(header & 0x08)
        self.retain = bool(header & 0x01)
        self.properties = None
        self.info = None
        self.state = 0
        self.timestamp = time.monotonic()

    @property
    def topic(self) -> str:
        """The topic as text."""
        return self._topic.decode("utf-8")

    def __repr__(self) -> str:
        return f"LeanMessage(mid={self.mid}, topic={self._topic!r}, {len(self.payload)} bytes)"


class LeanClient(paho.Client):
    """paho's Client with buffered socket reads and a lean QoS 0/1 PUBLISH path.

    Takes the same arguments as :class:`paho.mqtt.client.Client`. See the module doc for
    what differs; ``lean_messages`` counts the messages that took the lean path.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._rbuf = b""
        self._rpos = 0
        self._lean_ok = True
        self.lean_messages = 0

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
        return len(self._rbuf) - self._rpos

    def loop_read(self, max_packets: int = 1) -> paho.MQTTErrorCode:
        """Handle incoming packets until neither the socket buffer nor ours holds one."""
        rc = super().loop_read(max_packets)
        while rc == paho.MQTT_ERR_SUCCESS and self._sock is not None and self._buffered() > 0:
            rc = super().loop_read(max_packets)
        return rc

    def _sock_close(self) -> None:
        self._rbuf = b""
        self._rpos = 0
        super()._sock_close()

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
        with self._in_callback_mutex:
            try:
                on_message(self, self._userdata, message)
            except Exception as err:
                self._easy_log(paho.MQTT_LOG_ERR, "Caught exception in on_message: %s", err)
                if not self.suppress_exceptions:
                    raise
        return paho.MQTT_ERR_SUCCESS


__all__ = ["READ_SIZE", "LeanClient", "LeanMessage", "lean_supported"]
