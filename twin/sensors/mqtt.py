"""MQTT connection settings and paho-mqtt clients for the ingest and the simulator.

A broker is named by a URL (``mqtt://host:1883``, ``mqtts://user@host:8883``,
``ws://host:8080/mqtt``, ``wss://…``). The password never comes from the URL or the command
line: it is read from the environment variable ``TWIN_MQTT_PASSWORD`` or from a file.

paho-mqtt 2.x is used with ``CallbackAPIVersion.VERSION2``; MQTT 5 and 3.1.1 are supported.
A persistent session (``clean_start=False`` plus a session expiry for MQTT 5,
``clean_session=False`` for 3.1.1) with a stable client id keeps the broker queueing QoS 1
messages while a subscriber is away.

Note that The Things Stack's MQTT server only offers QoS 0: messages published while the
ingest is disconnected are lost there, whatever the client asks for.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import paho.mqtt.client as paho
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from twin.errors import ConfigError, MQTTError
from twin.sensors.paho_lean import LeanClient, lean_supported

log = logging.getLogger(__name__)

#: Environment variable holding the broker password.
PASSWORD_ENV = "TWIN_MQTT_PASSWORD"
#: URL schemes: scheme -> (transport, TLS, default port).
SCHEMES: dict[str, tuple[str, bool, int]] = {
    "mqtt": ("tcp", False, 1883),
    "tcp": ("tcp", False, 1883),
    "mqtts": ("tcp", True, 8883),
    "ssl": ("tcp", True, 8883),
    "ws": ("websockets", False, 80),
    "wss": ("websockets", True, 443),
}
#: Accepted spellings of the protocol versions.
PROTOCOLS: dict[str, int] = {
    "5": paho.MQTTv5,
    "5.0": paho.MQTTv5,
    "v5": paho.MQTTv5,
    "3.1.1": paho.MQTTv311,
    "311": paho.MQTTv311,
    "v311": paho.MQTTv311,
}
#: Largest value of the MQTT 5 Receive Maximum (QoS 1 messages in flight to us).
MAX_RECEIVE_MAXIMUM = 65535


class _QuietShutdown(logging.Filter):
    """Drop paho 2.2's ERROR "Client is not connected" logged by every clean disconnect."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Client is not connected")


_paho_log = logging.getLogger(f"{__name__}.paho")
_paho_log.addFilter(_QuietShutdown())


@dataclass(frozen=True)
class MqttSettings:
    """Where and how to connect to a broker.

    Parameters
    ----------
    host : str
        Broker host name or address.
    port : int
        TCP port.
    tls : bool
        Whether to use TLS (``mqtts``/``wss``).
    transport : {"tcp", "websockets"}
        The paho transport.
    username : str or None
        User name from the URL.
    password : str or None
        From ``TWIN_MQTT_PASSWORD`` or a password file; never shown in ``repr``.
    ca_file : Path or None
        CA certificate bundle for TLS; the system's CAs when None.
    ws_path : str
        HTTP path for websockets (``/mqtt`` by default).
    """

    host: str
    port: int
    tls: bool = False
    transport: str = "tcp"
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    ca_file: Path | None = None
    ws_path: str = "/mqtt"

    @property
    def url(self) -> str:
        """The URL without the password (for logs)."""
        scheme = {("tcp", False): "mqtt", ("tcp", True): "mqtts"}.get(
            (self.transport, self.tls), "wss" if self.tls else "ws"
        )
        user = f"{self.username}@" if self.username else ""
        path = self.ws_path if self.transport == "websockets" else ""
        return f"{scheme}://{user}{self.host}:{self.port}{path}"


def parse_protocol(value: str | int) -> int:
    """Return paho's protocol constant for ``"5"`` or ``"3.1.1"``.

    Parameters
    ----------
    value : str or int
        ``5``, ``"5"``, ``"3.1.1"``, ``"311"`` or one of paho's constants.

    Returns
    -------
    int
        ``paho.MQTTv5`` or ``paho.MQTTv311``.

    Raises
    ------
    ConfigError
        For any other version.
    """
    if value in (paho.MQTTv5, paho.MQTTv311):
        return int(value)
    try:
        return PROTOCOLS[str(value).strip().lower()]
    except KeyError:
        raise ConfigError(f"unknown MQTT protocol version {value!r}: expected 5 or 3.1.1") from None


def read_password(
    password_file: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
) -> str | None:
    """Read the broker password from a file, else from ``TWIN_MQTT_PASSWORD``.

    Parameters
    ----------
    password_file : path, optional
        A file whose first line is the password (a trailing newline is dropped).
    env : mapping, optional
        The environment; ``os.environ`` by default.

    Returns
    -------
    str or None
        The password, or None when neither is set.

    Raises
    ------
    ConfigError
        When the file cannot be read.
    """
    if password_file is not None:
        path = Path(password_file)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as err:
            raise ConfigError(f"cannot read the MQTT password file {path}: {err}") from err
        return text.splitlines()[0] if text else ""
    env = os.environ if env is None else env
    return env.get(PASSWORD_ENV) or None


def parse_url(
    url: str,
    *,
    ca_file: str | os.PathLike[str] | None = None,
    password_file: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
) -> MqttSettings:
    """Parse a broker URL into :class:`MqttSettings`.

    Parameters
    ----------
    url : str
        ``mqtt://[user@]host[:port]``, ``mqtts://…`` (TLS, port 8883), ``ws://…/path`` or
        ``wss://…``. A password in the URL is refused: it would show in the process list.
    ca_file : path, optional
        CA bundle for TLS; implies nothing for plain ``mqtt://``.
    password_file : path, optional
        File holding the password; else ``TWIN_MQTT_PASSWORD`` is used.
    env : mapping, optional
        The environment; ``os.environ`` by default.

    Returns
    -------
    MqttSettings
        The connection settings.

    Raises
    ------
    ConfigError
        For an unknown scheme, a missing host, a bad port, a password in the URL or an
        unreadable CA or password file.

    Examples
    --------
    >>> parse_url("mqtts://twin@broker.example.org", env={}).port
    8883
    """
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as err:
        raise ConfigError(f"invalid MQTT URL {url!r}: {err}") from err
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        raise ConfigError(
            f"invalid MQTT URL {url!r}: unknown scheme {parts.scheme!r}, "
            f"expected one of {', '.join(sorted(SCHEMES))}"
        )
    if not parts.hostname:
        raise ConfigError(f"invalid MQTT URL {url!r}: no host name (mqtt://host:1883)")
    if parts.password is not None:
        raise ConfigError(
            f"refusing the password in the MQTT URL {parts.scheme}://{parts.username}:***@…: "
            f"put it into {PASSWORD_ENV} or a password file instead"
        )
    transport, tls, default_port = SCHEMES[scheme]
    if ca_file is not None:
        ca_path = Path(ca_file)
        if not ca_path.is_file():
            raise ConfigError(f"CA file {ca_path} does not exist")
    else:
        ca_path = None
    return MqttSettings(
        host=parts.hostname,
        port=port or default_port,
        tls=tls,
        transport=transport,
        username=unquote(parts.username) if parts.username else None,
        password=read_password(password_file, env),
        ca_file=ca_path,
        ws_path=parts.path or "/mqtt",
    )


def shared_topic(topic_filter: str, group: str | None) -> str:
    """Return the MQTT 5 shared subscription ``$share/<group>/<filter>`` (or the filter).

    Parameters
    ----------
    topic_filter : str
        A topic filter such as ``v3/+/devices/+/up``.
    group : str or None
        The share group name; no sharing when None or empty.

    Returns
    -------
    str
        The filter to subscribe to.

    Raises
    ------
    ConfigError
        When the group name contains ``/``, ``+`` or ``#``.
    """
    if not group:
        return topic_filter
    if any(c in group for c in "/+#"):
        raise ConfigError(f"invalid shared subscription group {group!r}: no '/', '+' or '#'")
    return f"$share/{group}/{topic_filter}"


def validate_topic_filter(topic_filter: str) -> str:
    """Check an MQTT topic filter (wildcards ``+`` and ``#`` only as whole levels).

    Parameters
    ----------
    topic_filter : str
        The filter.

    Returns
    -------
    str
        The filter, unchanged.

    Raises
    ------
    ConfigError
        When the filter is empty or uses a wildcard inside a level or ``#`` before the end.
    """
    if not topic_filter:
        raise ConfigError("empty MQTT topic filter")
    levels = topic_filter.split("/")
    for i, level in enumerate(levels):
        if ("+" in level and level != "+") or ("#" in level and level != "#"):
            raise ConfigError(
                f"invalid MQTT topic filter {topic_filter!r}: a wildcard must fill a whole "
                f"level (level {i + 1} is {level!r})"
            )
        if level == "#" and i != len(levels) - 1:
            raise ConfigError(f"invalid MQTT topic filter {topic_filter!r}: '#' must be last")
    return topic_filter


def make_client(
    settings: MqttSettings,
    *,
    client_id: str = "",
    protocol: int = paho.MQTTv5,
    clean_start: bool = True,
    manual_ack: bool = False,
    reconnect_delay: tuple[float, float] = (0.5, 30.0),
    lean: bool = False,
) -> paho.Client:
    """Create a paho-mqtt client configured for ``settings`` (not yet connected).

    Parameters
    ----------
    settings : MqttSettings
        Broker address, TLS, credentials.
    client_id : str
        The client id; a persistent session needs a stable, non-empty one.
    protocol : int
        ``paho.MQTTv5`` or ``paho.MQTTv311``.
    clean_start : bool
        For MQTT 3.1.1 this is ``clean_session``; for MQTT 5 it is passed at connect time.
    manual_ack : bool
        Acknowledge QoS 1 messages only when ``client.ack(mid, qos)`` is called.
    reconnect_delay : (float, float)
        Minimum and maximum delay of the exponential reconnect backoff, in seconds.
    lean : bool
        Use :class:`~twin.sensors.paho_lean.LeanClient` (buffered reads, lean PUBLISH path)
        for a high-rate subscriber; paho's own Client otherwise.

    Returns
    -------
    paho.mqtt.client.Client
        The client.

    Raises
    ------
    ConfigError
        When a persistent session is asked for without a client id, or TLS cannot be set up.
    """
    if not clean_start and not client_id:
        raise ConfigError("a persistent MQTT session needs a stable client id (--client-id)")
    cls = LeanClient if lean and lean_supported() else paho.Client
    client = cls(
        paho.CallbackAPIVersion.VERSION2,
        client_id=client_id,
        clean_session=None if protocol == paho.MQTTv5 else clean_start,
        protocol=protocol,  # type: ignore[arg-type]
        transport=settings.transport,  # type: ignore[arg-type]
        reconnect_on_failure=True,
        manual_ack=manual_ack,
    )
    client.enable_logger(_paho_log)
    if settings.transport == "websockets":
        client.ws_set_options(path=settings.ws_path)
    if settings.tls:
        try:
            client.tls_set(ca_certs=str(settings.ca_file) if settings.ca_file else None)
        except (OSError, ValueError) as err:
            raise ConfigError(f"cannot set up TLS for {settings.url}: {err}") from err
    if settings.username is not None or settings.password is not None:
        client.username_pw_set(settings.username or "", settings.password)
    lo, hi = reconnect_delay
    client.reconnect_delay_set(min_delay=lo, max_delay=hi)  # type: ignore[arg-type]
    return client


def connect_properties(
    *, session_expiry: int | None = None, receive_maximum: int | None = None
) -> Properties:
    """MQTT 5 CONNECT properties: session expiry (s) and Receive Maximum."""
    props = Properties(PacketTypes.CONNECT)
    if session_expiry is not None:
        props.SessionExpiryInterval = int(session_expiry)
    if receive_maximum is not None:
        props.ReceiveMaximum = max(1, min(int(receive_maximum), MAX_RECEIVE_MAXIMUM))
    return props


def connect_async(
    client: paho.Client,
    settings: MqttSettings,
    *,
    protocol: int,
    clean_start: bool = True,
    session_expiry: int | None = None,
    receive_maximum: int | None = None,
    keepalive: int = 30,
) -> None:
    """Start connecting in the background (call ``client.loop_start()`` afterwards).

    Parameters
    ----------
    client : paho.mqtt.client.Client
        A client from :func:`make_client`.
    settings : MqttSettings
        The broker.
    protocol : int
        The protocol the client was made with.
    clean_start : bool
        MQTT 5 Clean Start (3.1.1 took it at client creation).
    session_expiry : int, optional
        MQTT 5 Session Expiry Interval in seconds (0: the session ends with the connection).
    receive_maximum : int, optional
        MQTT 5 Receive Maximum: QoS 1 messages the broker may have in flight to us.
    keepalive : int
        Keep-alive interval in seconds.

    Raises
    ------
    MQTTError
        When the host name cannot be used.
    """
    kwargs: dict[str, Any] = {"keepalive": keepalive}
    if protocol == paho.MQTTv5:
        kwargs["clean_start"] = clean_start
        kwargs["properties"] = connect_properties(
            session_expiry=session_expiry, receive_maximum=receive_maximum
        )
    try:
        client.connect_async(settings.host, settings.port, **kwargs)
    except (OSError, ValueError) as err:
        raise MQTTError(f"cannot connect to {settings.url}: {err}") from err


class Publisher:
    """A QoS 0/1 publisher that caps the messages in flight.

    More than 65,535 outstanding QoS 1 publishes from one client wrap paho's 16-bit message
    ids and silently lose messages, so :meth:`publish` waits while ``max_outstanding``
    messages are unacknowledged. Messages published while the broker is away stay queued in
    paho and are re-sent after reconnecting (a persistent session keeps the broker's side).

    Parameters
    ----------
    settings : MqttSettings
        The broker.
    client_id : str
        Client id; empty for a random one (then ``clean_start`` must be True).
    protocol : int
        ``paho.MQTTv5`` or ``paho.MQTTv311``.
    clean_start : bool
        False for a persistent session.
    session_expiry : int
        MQTT 5 session expiry in seconds when ``clean_start`` is False.
    max_outstanding : int
        Unacknowledged QoS 1 messages allowed before :meth:`publish` blocks (≤ 60,000).
    max_inflight : int
        paho's own window of messages on the wire.
    connect_timeout : float
        Seconds :meth:`connect` waits for the first CONNACK.
    """

    def __init__(
        self,
        settings: MqttSettings,
        *,
        client_id: str = "",
        protocol: int = paho.MQTTv5,
        clean_start: bool = True,
        session_expiry: int = 3600,
        max_outstanding: int = 10_000,
        max_inflight: int = 100,
        connect_timeout: float = 10.0,
        reconnect_delay: tuple[float, float] = (0.2, 5.0),
    ) -> None:
        if not 1 <= max_outstanding <= 60_000:
            raise ConfigError(f"max_outstanding must be within 1..60000, not {max_outstanding}")
        self.settings = settings
        self.protocol = protocol
        self.clean_start = clean_start
        self.session_expiry = session_expiry
        self.max_outstanding = max_outstanding
        self.connect_timeout = connect_timeout
        self.client = make_client(
            settings,
            client_id=client_id,
            protocol=protocol,
            clean_start=clean_start,
            reconnect_delay=reconnect_delay,
        )
        self.client.max_inflight_messages_set(max_inflight)
        self.client.on_connect = self._on_connect
        self.client.on_publish = self._on_publish
        self.client.on_disconnect = self._on_disconnect
        self._cond = threading.Condition()
        self._connected = threading.Event()
        self._connect_error: str | None = None
        self.sent = 0
        self.acked = 0
        self.connects = 0

    # paho callbacks (network thread)
    def _on_connect(self, client, userdata, flags, reason, properties) -> None:
        if reason.is_failure:
            self._connect_error = str(reason)
            log.warning("publisher: %s refused the connection: %s", self.settings.url, reason)
            return
        self.connects += 1
        self._connected.set()
        log.debug("publisher connected to %s (session present: %s)", self.settings.url, flags)

    def _on_disconnect(self, client, userdata, flags, reason, properties) -> None:
        self._connected.clear()
        log.info("publisher disconnected from %s: %s", self.settings.url, reason)

    def _on_publish(self, client, userdata, mid, reason, properties) -> None:
        with self._cond:
            self.acked += 1
            self._cond.notify_all()

    @property
    def outstanding(self) -> int:
        """Messages published but not yet confirmed (PUBACK for QoS 1, written for QoS 0)."""
        return self.sent - self.acked

    def connect(self) -> Publisher:
        """Connect and start the network thread; wait for the first CONNACK.

        Raises
        ------
        MQTTError
            When the broker does not accept the connection within ``connect_timeout``.
        """
        connect_async(
            self.client,
            self.settings,
            protocol=self.protocol,
            clean_start=self.clean_start,
            session_expiry=None if self.clean_start else self.session_expiry,
        )
        self.client.loop_start()
        if not self._connected.wait(self.connect_timeout):
            self.client.loop_stop()
            why = self._connect_error or "no answer"
            raise MQTTError(
                f"cannot connect to MQTT broker {self.settings.url} within "
                f"{self.connect_timeout:g} s: {why}"
            )
        return self

    def publish(self, topic: str, payload: bytes, qos: int = 1) -> None:
        """Queue one message; blocks while ``max_outstanding`` messages are unconfirmed.

        paho confirms a QoS 1 message when the broker's PUBACK arrives and a QoS 0 message
        once it is written to the socket; both count as outstanding until then.
        """
        with self._cond:
            while self.sent - self.acked >= self.max_outstanding:
                self._cond.wait(1.0)
            self.sent += 1
        info = self.client.publish(topic, payload, qos=qos)
        if info.rc not in (paho.MQTT_ERR_SUCCESS, paho.MQTT_ERR_NO_CONN):
            raise MQTTError(f"cannot publish to {topic!r}: {paho.error_string(info.rc)}")

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every message is confirmed; False on timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while self.sent > self.acked:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._cond.wait(1.0 if remaining is None else min(remaining, 1.0))
        return True

    def close(self, timeout: float | None = 30.0) -> None:
        """Flush (up to ``timeout``), disconnect and stop the network thread."""
        try:
            if not self.flush(timeout):
                log.warning("publisher: %d messages unacknowledged at close", self.outstanding)
        finally:
            self.client.disconnect()
            self.client.loop_stop()

    def __enter__(self) -> Publisher:
        return self.connect()

    def __exit__(self, *exc: object) -> None:
        self.close()
