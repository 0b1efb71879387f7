"""The lean paho client against a real broker: the same messages as paho's own Client.

:class:`twin.sensors.paho_lean.LeanClient` parses PUBLISH packets itself and reads the
socket in 64 KiB chunks. These tests subscribe a LeanClient and a stock paho Client to the
same broker, publish a mix that exercises every branch (QoS 0 and 1, MQTT 5 properties,
retained messages, empty and 300 KB payloads, UTF-8 topics, thousands of small messages that
share socket reads) and require both to see exactly the same messages.
"""

from __future__ import annotations

import threading

import paho.mqtt.client as paho
import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from tests.sensors.conftest import wait_until
from twin.sensors.paho_lean import LeanClient, LeanMessage, lean_supported

pytestmark = pytest.mark.timeout(120)


class Recorder:
    """Subscribes one client class and records what arrives (acking after recording)."""

    def __init__(self, cls: type, port: int, protocol: int, name: str) -> None:
        self.messages: list[tuple] = []
        self.kinds: list[type] = []
        self.properties: list[object] = []
        self.subscribed = threading.Event()
        kwargs = {"clean_session": True} if protocol == paho.MQTTv311 else {}
        self.client = cls(paho.CallbackAPIVersion.VERSION2, client_id=name, protocol=protocol,
                          manual_ack=True, **kwargs)  # fmt: skip
        self.client.on_message = self._on_message
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
    pub = paho.Client(paho.CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5)
    pub.connect("127.0.0.1", mosquitto.port)
    pub.loop_start()
    traffic = _traffic()
    try:
        infos = [pub.publish(t, p, qos=q, properties=pr) for t, p, q, pr in traffic]
        for info in infos:
            info.wait_for_publish(30)
        for rec in (lean, stock):
            wait_until(lambda r=rec: len(r.messages) >= len(traffic), 60, "all messages")
    finally:
        pub.disconnect()
        pub.loop_stop()
        lean.close()
        stock.close()
    expected = [(t, p, q, False) for t, p, q, _ in traffic]
    assert stock.messages == expected
    assert lean.messages == expected
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
