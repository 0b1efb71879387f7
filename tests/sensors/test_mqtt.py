"""MQTT settings (URL, password, topics) and the capped publisher against a real mosquitto."""

from __future__ import annotations

import threading
import time

import paho.mqtt.client as paho
import pytest

from twin.errors import ConfigError, MQTTError
from twin.sensors.mqtt import (
    PASSWORD_ENV,
    Publisher,
    make_client,
    parse_protocol,
    parse_url,
    read_password,
    shared_topic,
    validate_topic_filter,
)


@pytest.mark.parametrize(
    ("url", "host", "port", "tls", "transport"),
    [
        ("mqtt://broker.example.org", "broker.example.org", 1883, False, "tcp"),
        ("mqtt://10.0.0.5:1884", "10.0.0.5", 1884, False, "tcp"),
        ("mqtts://eu1.cloud.thethings.network", "eu1.cloud.thethings.network", 8883, True, "tcp"),
        ("mqtts://host:9883", "host", 9883, True, "tcp"),
        ("ws://host:8080/mqtt", "host", 8080, False, "websockets"),
        ("wss://host/ws", "host", 443, True, "websockets"),
        ("MQTT://[::1]:1883", "::1", 1883, False, "tcp"),
    ],
)
def test_parse_url_schemes_and_ports(url, host, port, tls, transport):
    s = parse_url(url, env={})
    assert (s.host, s.port, s.tls, s.transport) == (host, port, tls, transport)
    assert s.password is None


def test_parse_url_user_and_password_from_environment():
    s = parse_url(
        "mqtts://ludwigshafen-twin%40ttn@eu1.cloud.thethings.network",
        env={PASSWORD_ENV: "NNSXS.secret"},
    )
    assert s.username == "ludwigshafen-twin@ttn"
    assert s.password == "NNSXS.secret"
    # the password never shows up in repr or in the URL used for logs
    assert "secret" not in repr(s)
    assert "secret" not in s.url
    assert s.url == "mqtts://ludwigshafen-twin@ttn@eu1.cloud.thethings.network:8883"


def test_password_file_wins_over_environment(tmp_path):
    f = tmp_path / "pw"
    f.write_text("from-file\n")
    assert read_password(f, env={PASSWORD_ENV: "from-env"}) == "from-file"
    assert read_password(None, env={PASSWORD_ENV: "from-env"}) == "from-env"
    assert read_password(None, env={}) is None
    assert parse_url("mqtt://u@h", password_file=f, env={}).password == "from-file"


def test_password_in_url_is_refused_without_echoing_it():
    with pytest.raises(ConfigError, match="TWIN_MQTT_PASSWORD") as info:
        parse_url("mqtt://user:hunter2@host", env={})
    assert "hunter2" not in str(info.value)


@pytest.mark.parametrize(
    ("url", "match"),
    [
        ("http://host", "unknown scheme 'http'"),
        ("mqtt://", "no host"),
        ("mqtt://host:99999", "invalid MQTT URL"),
        ("host:1883", "unknown scheme"),
    ],
)
def test_bad_urls(url, match):
    with pytest.raises(ConfigError, match=match):
        parse_url(url, env={})


def test_missing_files_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match=r"CA file .*does not exist"):
        parse_url("mqtts://h", ca_file=tmp_path / "nope.pem", env={})
    with pytest.raises(ConfigError, match="cannot read the MQTT password file"):
        parse_url("mqtts://u@h", password_file=tmp_path / "nope", env={})


def test_protocols_topics_and_shared_subscriptions():
    assert parse_protocol("5") == paho.MQTTv5
    assert parse_protocol("3.1.1") == paho.MQTTv311
    assert parse_protocol(paho.MQTTv311) == paho.MQTTv311
    with pytest.raises(ConfigError, match=r"expected 5 or 3\.1\.1"):
        parse_protocol("4")
    assert shared_topic("v3/+/devices/+/up", "twin") == "$share/twin/v3/+/devices/+/up"
    assert shared_topic("a/b", None) == "a/b"
    with pytest.raises(ConfigError, match="group"):
        shared_topic("a/b", "tw/in")
    assert validate_topic_filter("application/+/device/+/event/#")
    for bad in ("a/b#", "a/+x/c", "a/#/c", ""):
        with pytest.raises(ConfigError):
            validate_topic_filter(bad)


def test_persistent_session_needs_a_client_id():
    with pytest.raises(ConfigError, match="client id"):
        make_client(parse_url("mqtt://h", env={}), client_id="", clean_start=False)


def test_publisher_fails_fast_when_no_broker_listens():
    from tests.sensors.conftest import free_port

    settings = parse_url(f"mqtt://127.0.0.1:{free_port()}", env={})
    t0 = time.monotonic()
    with pytest.raises(MQTTError, match="cannot connect"):
        Publisher(settings, connect_timeout=1.0).connect()
    assert time.monotonic() - t0 < 5


@pytest.mark.mqtt
def test_publisher_caps_messages_in_flight_and_delivers_all(mosquitto):
    """5,000 QoS 1 messages with at most 200 unacknowledged: all arrive exactly once."""
    settings = parse_url(mosquitto.url, env={})
    received: list[bytes] = []
    subscribed = threading.Event()
    done = threading.Event()
    total = 5000

    sub = paho.Client(paho.CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5)
    sub.on_connect = lambda c, u, f, r, p: c.subscribe("cap/#", qos=1)
    sub.on_subscribe = lambda c, u, mid, codes, p: subscribed.set()

    def on_message(c, u, msg):
        received.append(msg.payload)
        if len(received) >= total:
            done.set()

    sub.on_message = on_message
    sub.connect(mosquitto.address[0], mosquitto.port)
    sub.loop_start()
    try:
        assert subscribed.wait(10)
        peak = 0
        publisher = Publisher(settings, max_outstanding=200).connect()
        for i in range(total):
            publisher.publish(f"cap/{i % 7}", str(i).encode(), qos=1)
            peak = max(peak, publisher.outstanding)
        assert publisher.flush(30)
        publisher.close()
        assert peak <= 200
        assert done.wait(30), f"received {len(received)} of {total}"
    finally:
        sub.disconnect()
        sub.loop_stop()
    assert sorted(int(p) for p in received) == list(range(total))
