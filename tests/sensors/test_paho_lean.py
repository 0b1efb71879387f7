"""The lean paho client against a real broker: the same messages as paho's own Client.

:class:`twin.sensors.paho_lean.LeanClient` parses PUBLISH packets itself and reads the
socket in 64 KiB chunks. These tests subscribe a LeanClient and a stock paho Client to the
same broker, publish a mix that exercises every branch (QoS 0 and 1, MQTT 5 properties,
retained messages, empty and 300 KB payloads, UTF-8 topics, thousands of small messages that
share socket reads) and require both to see exactly the same messages.

The scan (complete lean PUBLISHes taken straight out of the read buffer) is also compared with
paho's reader byte for byte: both clients read the same packet streams from a socket pair, cut
at random places (hypothesis), at every single place, into single bytes, with a 4-byte
remaining length and with malformed packets.
"""

from __future__ import annotations

import contextlib
import select
import socket
import threading

import paho.mqtt.client as paho
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from tests.sensors.conftest import wait_until
from twin.sensors.paho_lean import LeanClient, LeanMessage, lean_supported

pytestmark = pytest.mark.timeout(120)


class Recorder:
    """Subscribes one client class and records what arrives (acking after recording)."""

    def __init__(self, cls: type, port: int, protocol: int, name: str, batch: bool = False) -> None:
        self.messages: list[tuple] = []
        self.batches = 0
        self.kinds: list[type] = []
        self.properties: list[object] = []
        self.subscribed = threading.Event()
        kwargs = {"clean_session": True} if protocol == paho.MQTTv311 else {}
        self.client = cls(paho.CallbackAPIVersion.VERSION2, client_id=name, protocol=protocol,
                          manual_ack=True, **kwargs)  # fmt: skip
        self.client.on_message = self._on_message
        if batch:
            self.client.on_messages = self._on_messages
        self.client.on_subscribe = lambda *a: self.subscribed.set()
        self.client.on_connect = lambda c, *a: c.subscribe("lean/#", qos=1)
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        assert self.subscribed.wait(10), f"{name} did not subscribe"

    def _on_message(self, client, userdata, msg) -> None:
        self.messages.append((msg.topic, bytes(msg.payload), msg.qos, msg.retain))
        self.kinds.append(type(msg))
        props = msg.properties
        self.properties.append(props.UserProperty if props is not None and
                               hasattr(props, "UserProperty") else None)  # fmt: skip
        if msg.qos:
            client.ack(msg.mid, msg.qos)

    def _on_messages(self, client, userdata, msgs) -> None:
        self.batches += 1
        for msg in msgs:
            self._on_message(client, userdata, msg)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def _traffic() -> list[tuple[str, bytes, int, Properties | None]]:
    props = Properties(PacketTypes.PUBLISH)
    props.UserProperty = ("source", "test")
    out: list[tuple[str, bytes, int, Properties | None]] = [
        ("lean/empty", b"", 1, None),
        ("lean/big", bytes(range(256)) * 1200, 1, None),  # 300 KB: many socket reads
        ("lean/qos0", b"zero", 0, None),
        ("lean/ümlaut/straße", "Wärme 21,5 °C".encode(), 1, None),
        ("lean/with-properties", b"props", 1, props),
    ]
    # Many small messages back to back: several PUBLISH packets per 64 KiB read, split
    # at arbitrary places.
    out += [(f"lean/small/{i % 7}", b"x" * (i % 300), 1, None) for i in range(3000)]
    out.append(("lean/last", b"done", 1, None))
    return out


@pytest.mark.parametrize("protocol", [paho.MQTTv5, paho.MQTTv311], ids=["mqtt5", "mqtt311"])
def test_lean_client_receives_what_paho_receives(mosquitto, protocol):
    assert lean_supported()
    lean = Recorder(LeanClient, mosquitto.port, protocol, f"lean-{protocol}")
    stock = Recorder(paho.Client, mosquitto.port, protocol, f"stock-{protocol}")
    batch = Recorder(LeanClient, mosquitto.port, protocol, f"batch-{protocol}", batch=True)
    pub = paho.Client(paho.CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5)
    pub.connect("127.0.0.1", mosquitto.port)
    pub.loop_start()
    traffic = _traffic()
    try:
        infos = [pub.publish(t, p, qos=q, properties=pr) for t, p, q, pr in traffic]
        for info in infos:
            info.wait_for_publish(30)
        for rec in (lean, stock, batch):
            wait_until(lambda r=rec: len(r.messages) >= len(traffic), 60, "all messages")
    finally:
        pub.disconnect()
        pub.loop_stop()
        lean.close()
        stock.close()
        batch.close()
    expected = [(t, p, q, False) for t, p, q, _ in traffic]
    assert stock.messages == expected
    assert lean.messages == expected
    assert batch.messages == expected
    # on_messages took them (messages of one socket read in one call), paho's path the rest
    assert 0 < batch.batches < len(traffic) and batch.client.scanned_messages > 0
    # The lean path took the messages without properties; the one with properties went
    # through paho's own path and kept them.
    n_props = 1 if protocol == paho.MQTTv5 else 0
    assert lean.client.lean_messages == len(traffic) - n_props
    if protocol == paho.MQTTv5:
        i = [t for t, *_ in traffic].index("lean/with-properties")
        assert lean.kinds[i] is paho.MQTTMessage
        assert lean.properties[i] == stock.properties[i] == [("source", "test")]
        assert lean.kinds.count(LeanMessage) == len(traffic) - 1


def test_lean_client_retained_and_after_reconnect(make_mosquitto):
    """Retained flags survive the lean path; the read buffer starts empty on a new socket."""
    broker = make_mosquitto(persistence=True)
    pub = paho.Client(paho.CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5)
    pub.connect("127.0.0.1", broker.port)
    pub.loop_start()
    pub.publish("lean/retained", b"kept", qos=1, retain=True).wait_for_publish(10)
    pub.disconnect()
    pub.loop_stop()
    lean = Recorder(LeanClient, broker.port, paho.MQTTv5, "lean-retained")
    try:
        wait_until(lambda: lean.messages, 10, "the retained message")
        assert lean.messages[0] == ("lean/retained", b"kept", 1, True)
        assert lean.kinds[0] is LeanMessage
        broker.restart()
        lean.subscribed.clear()
        assert lean.subscribed.wait(30), "did not resubscribe after the broker restart"
        pub = paho.Client(paho.CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5)
        pub.connect("127.0.0.1", broker.port)
        pub.loop_start()
        pub.publish("lean/after", b"again", qos=1).wait_for_publish(10)
        pub.disconnect()
        pub.loop_stop()
        wait_until(lambda: ("lean/after", b"again", 1, False) in lean.messages, 20, "after")
    finally:
        lean.close()


# --- the scan against paho's reader, on byte streams cut anywhere --------------------------------
#
# Both clients read from a real socket pair (no broker): the test writes a stream of MQTT
# packets into it in pieces and calls loop_read as paho's network loop would (when the socket is
# readable). paho's own Client is the reference for what must come out.


def _varint(n: int, width: int = 0) -> bytes:
    """MQTT remaining length; ``width`` pads it non-minimally (paho accepts that) to 1-4 bytes."""
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte)
        if not n:
            break
    while len(out) < width:
        out.append(0)
    for i in range(len(out) - 1):
        out[i] |= 0x80
    return bytes(out)


def _publish(v5: bool, topic: bytes, payload: bytes, qos: int, mid: int, dup: bool,
             retain: bool, props: bytes | None = None, width: int = 0) -> bytes:  # fmt: skip
    body = len(topic).to_bytes(2, "big") + topic
    if qos:
        body += mid.to_bytes(2, "big")
    if v5:
        props = props or b""
        body += _varint(len(props)) + props
    body += payload
    header = 0x30 | (qos << 1) | (0x08 if dup else 0) | (0x01 if retain else 0)
    return bytes([header]) + _varint(len(body), width) + body


def _suback(v5: bool, mid: int) -> bytes:
    body = mid.to_bytes(2, "big") + (b"\x00" if v5 else b"") + b"\x01"
    return b"\x90" + _varint(len(body)) + body


PINGRESP = b"\xd0\x00"
#: A remaining length of five bytes: paho reports a protocol error and drops the connection.
MALFORMED = b"\x30\xff\xff\xff\xff\x01"


class Fed:
    """A client reading from one end of a socket pair; the test writes into the other."""

    def __init__(self, client: paho.Client, mode: str = "each") -> None:
        self.client = client
        self.messages: list[tuple] = []
        self.batches = 0
        self.rc = paho.MQTT_ERR_SUCCESS
        self.sent = bytearray()  # what the client wrote back (PUBRECs for QoS 2)
        client.on_message = lambda c, u, m: self.messages.append(_fields(m))
        if mode == "batch":
            client.on_messages = self._on_messages
        self._ours, self._theirs = socket.socketpair()
        self._ours.setblocking(False)
        self._theirs.setblocking(False)
        client._sock = self._ours

    def _on_messages(self, client, userdata, batch) -> None:
        assert batch and all(type(m) is LeanMessage for m in batch)
        self.batches += 1
        self.messages.extend(_fields(m) for m in batch)

    def feed(self, data: bytes) -> None:
        for at in range(0, len(data), 32768):  # stay below the socket buffer
            if self.rc != paho.MQTT_ERR_SUCCESS:
                return
            self._theirs.sendall(data[at : at + 32768])
            self._run()

    def _run(self) -> None:
        for _ in range(10_000):
            sock = self.client._sock
            if sock is None or not select.select([sock], [], [], 0)[0]:
                break
            self.rc = self.client.loop_read()
            if self.rc != paho.MQTT_ERR_SUCCESS:
                break
        else:
            pytest.fail("loop_read made no progress")
        if isinstance(self.client, LeanClient):
            assert self.client._buffered() == 0 or self.rc  # nothing left waiting for select
        with contextlib.suppress(BlockingIOError, ConnectionResetError):  # reset: paho closed
            self.sent += self._theirs.recv(1 << 20)

    def close(self) -> None:
        self._theirs.close()
        self._ours.close()


def _fields(m) -> tuple:
    return (m.mid, bytes(m._topic), bytes(m.payload), m.qos, bool(m.dup), bool(m.retain))


def _run_all(protocol: int, chunks: list[bytes]) -> tuple[Fed, Fed, Fed]:
    """Feed the same chunks to paho's Client and to a LeanClient per callback mode."""
    fed = []
    for cls, mode in ((paho.Client, "each"), (LeanClient, "each"), (LeanClient, "batch")):
        client = cls(paho.CallbackAPIVersion.VERSION2, protocol=protocol, manual_ack=True)
        f = Fed(client, mode)
        try:
            for chunk in chunks:
                f.feed(chunk)
        finally:
            f.close()
        fed.append(f)
    return fed[0], fed[1], fed[2]


def _assert_same(protocol: int, chunks: list[bytes]) -> tuple[Fed, Fed, Fed]:
    stock, each, batch = _run_all(protocol, chunks)
    for lean in (each, batch):
        assert lean.messages == stock.messages
        assert lean.rc == stock.rc
        assert lean.sent == stock.sent
    return stock, each, batch


_payloads = st.one_of(
    st.binary(max_size=40),
    # remaining lengths of 2 and 3 bytes without hypothesis generating the bytes one by one
    st.builds(lambda n, b: bytes([b]) * n, st.integers(100, 20_000), st.integers(0, 255)),
)
_topics = st.binary(min_size=1, max_size=24)  # not always UTF-8: paho hands raw bytes on too


@st.composite
def _streams(draw, v5: bool) -> tuple[bytes, int, bool]:
    """Packets as a broker sends them; returns (stream, lean PUBLISHes, malformed inside)."""
    out = bytearray()
    lean = 0
    mid = draw(st.integers(1, 60_000))
    for _ in range(draw(st.integers(1, 14))):
        kind = draw(st.sampled_from(["publish"] * 6 + ["props", "qos2", "ping", "suback"]))
        mid += 1
        topic, payload = draw(_topics), draw(_payloads)
        qos, dup, retain = draw(st.integers(0, 1)), draw(st.booleans()), draw(st.booleans())
        width = draw(st.integers(0, 4))  # a 1-4 byte remaining length
        if kind == "publish" or (kind == "props" and not v5):
            out += _publish(v5, topic, payload, qos, mid, dup, retain, width=width)
            lean += 1
        elif kind == "props":  # a Message Expiry Interval: paho's own path
            out += _publish(v5, topic, payload, qos, mid, dup, retain, b"\x02\x00\x00\x0e\x10")
        elif kind == "qos2":  # paho's path: PUBREC back, the message on PUBREL
            out += _publish(v5, topic, payload, 2, mid, dup, retain, width=width)
            out += b"\x62\x02" + mid.to_bytes(2, "big")
        elif kind == "ping":
            out += PINGRESP
        else:
            out += _suback(v5, mid)
    malformed = draw(st.integers(0, 2)) == 0
    if malformed:
        out += draw(_broken(v5)) + _publish(v5, b"t/after", b"never", 1, 7, False, False)
    return bytes(out), lean, malformed


@st.composite
def _broken(draw, v5: bool) -> bytes:
    """A packet paho rejects as malformed (protocol error, connection dropped)."""
    kind = draw(st.sampled_from(["length", "short"] + ([] if v5 else ["empty topic"])))
    if kind == "length":
        return MALFORMED
    if kind == "empty topic":  # MQTT 3.1.1 has no topic aliases
        return _publish(v5, b"", b"p", draw(st.integers(0, 1)), 9, False, False)
    # the remaining length ends inside the topic, the packet id or the property length
    qos, topic = draw(st.integers(0, 1)), draw(_topics)
    body = _publish(v5, topic, b"", qos, 9, False, False)[2:]  # the whole body is the header
    return _short(qos, body, draw(st.integers(0, len(body) - 1)))


def _short(qos: int, body: bytes, size: int) -> bytes:
    """A PUBLISH whose remaining length keeps only ``size`` bytes of ``body``."""
    return bytes([0x30 | qos << 1, size]) + body[:size]


@pytest.mark.parametrize("protocol", [paho.MQTTv5, paho.MQTTv311], ids=["mqtt5", "mqtt311"])
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow,
          HealthCheck.data_too_large])  # fmt: skip
@given(data=st.data())
def test_scan_matches_paho_on_streams_cut_anywhere(protocol, data):
    v5 = protocol == paho.MQTTv5
    stream, lean, malformed = data.draw(_streams(v5))
    cuts = sorted(data.draw(st.sets(st.integers(1, len(stream) - 1), max_size=12))) if len(
        stream) > 1 else []  # fmt: skip
    chunks = [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True)]
    stock, each, batch = _assert_same(protocol, chunks)
    assert (stock.rc == paho.MQTT_ERR_PROTOCOL) == malformed
    assert each.client.lean_messages == batch.client.lean_messages == lean
    if not cuts and len(stream) <= 32768:  # one read: the scan takes every lean PUBLISH
        assert each.client.scanned_messages == batch.client.scanned_messages == lean


def _fixed_stream(v5: bool) -> bytes:
    parts = [
        _publish(v5, b"a/1", b"one", 1, 1, False, False),
        _publish(v5, b"a/2", b"", 0, 0, False, True),
        PINGRESP,
        _publish(v5, b"a/3", b"x" * 200, 1, 3, True, False, width=2),  # 2-byte length
        _suback(v5, 9),
        _publish(v5, b"a/\xff", b"not utf-8", 1, 4, False, False, width=4),
        _publish(v5, b"a/5", b"q2", 2, 5, False, False),
        b"\x62\x02\x00\x05",
        _publish(v5, b"a/6", b"y" * 130, 1, 6, False, False),
    ]
    if v5:
        parts.append(_publish(v5, b"a/7", b"props", 1, 7, False, False, b"\x02\x00\x00\x00\x05"))
    parts.append(_publish(v5, b"a/8", b"last", 1, 8, False, False))
    return b"".join(parts)


@pytest.mark.parametrize("protocol", [paho.MQTTv5, paho.MQTTv311], ids=["mqtt5", "mqtt311"])
def test_scan_matches_paho_for_every_single_cut(protocol):
    """Exhaustive: the stream cut once at every byte, and cut into single bytes."""
    v5 = protocol == paho.MQTTv5
    stream = _fixed_stream(v5)
    stock, each, batch = _assert_same(protocol, [stream])
    # QoS 2 arrives on its PUBREL; the PUBLISH with properties (MQTT 5 only) on paho's path
    assert [m[0] for m in stock.messages] == ([1, 0, 3, 4, 5, 6, 7, 8] if v5 else
                                              [1, 0, 3, 4, 5, 6, 8])  # fmt: skip
    # in one read the scan takes 1 and 0, stops at the PINGRESP (paho's), takes 3, stops at
    # the SUBACK, takes 4, stops at QoS 2 and its PUBREL, takes 6, (properties,) takes 8
    assert each.client.scanned_messages == batch.client.scanned_messages == 6
    assert batch.batches == (5 if v5 else 4)  # 3.1.1: 6 and 8 in one read, one call
    for cut in range(1, len(stream)):
        _assert_same(protocol, [stream[:cut], stream[cut:]])
    _assert_same(protocol, [stream[i : i + 1] for i in range(len(stream))])


@pytest.mark.parametrize("protocol", [paho.MQTTv5, paho.MQTTv311], ids=["mqtt5", "mqtt311"])
def test_scan_hands_every_truncated_publish_to_paho(protocol):
    """A remaining length that ends inside topic, packet id or property length, last in a read."""
    v5 = protocol == paho.MQTTv5
    good = _publish(v5, b"ok", b"fine", 1, 1, False, False)
    for qos in (0, 1):
        body = _publish(v5, b"t/x", b"", qos, 9, False, False)[2:]
        for size in range(len(body)):
            stock, _, batch = _assert_same(protocol, [good + _short(qos, body, size)])
            assert stock.rc == paho.MQTT_ERR_PROTOCOL
            assert [m[0] for m in batch.messages] == [1]


def test_scan_takes_a_four_byte_remaining_length():
    """A 2.1 MB PUBLISH (minimal 4-byte length) arrives intact, in order with its neighbours."""
    big = bytes(range(256)) * 8200  # 2,099,200 bytes: over 2**21
    stream = b"".join([
        _publish(True, b"big/before", b"b", 1, 1, False, False),
        _publish(True, b"big/one", big, 1, 2, False, False),
        _publish(True, b"big/after", b"a", 0, 0, False, False),
    ])  # fmt: skip
    assert stream[len(_publish(True, b"big/before", b"b", 1, 1, False, False)) + 4] < 0x80
    _, _, batch = _assert_same(paho.MQTTv5, [stream])
    assert [m[2] for m in batch.messages] == [b"b", big, b"a"]


def test_a_raising_callback_loses_no_following_message():
    """As with paho: the packet whose callback raised is consumed, the ones after it are not."""
    stream = b"".join(_publish(True, f"r/{i}".encode(), b"p", 1, i, False, False)
                      for i in range(1, 6))  # fmt: skip
    client = LeanClient(paho.CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5, manual_ack=True)
    fed = Fed(client)
    seen: list[int] = []

    def on_message(c, u, m) -> None:
        seen.append(m.mid)
        if m.mid == 2:
            raise RuntimeError("callback bug")

    client.on_message = on_message
    try:
        fed._theirs.sendall(stream)
        with pytest.raises(RuntimeError, match="callback bug"):
            client.loop_read()
        assert seen == [1, 2]
        assert client.loop_read() == paho.MQTT_ERR_SUCCESS  # the rest is still buffered
        assert seen == [1, 2, 3, 4, 5]
    finally:
        fed.close()
