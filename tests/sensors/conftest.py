"""Fixtures of the sensor tests: a real mosquitto broker on a free port.

The ``mosquitto`` fixture starts Debian's ``mosquitto`` binary (``require_tool``: skipped
where it is missing, a failure on CI) with a config file written under ``tmp_path``. Options
come from indirect parametrisation::

    @pytest.mark.parametrize("mosquitto", [{"persistence": True}], indirect=True)
    def test_restart(mosquitto):
        mosquitto.restart()

or build more brokers with the ``make_mosquitto`` factory.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import require_tool


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class MosquittoBroker:
    """A mosquitto process on 127.0.0.1 with its own config, log and persistence folder.

    Parameters
    ----------
    workdir : Path
        Folder for the config, the log and the persistence database.
    persistence : bool
        Keep sessions, subscriptions and queued messages in ``mosquitto.db`` across a
        graceful stop (SIGTERM) and restart.
    max_inflight : int
        ``max_inflight_messages``: QoS 1 messages in flight to an MQTT 3.1.1 client (MQTT 5
        clients set their own Receive Maximum). 0 means no limit.
    max_queued : int
        ``max_queued_messages`` per client beyond those in flight (0: no limit). The broker
        default of 1000 silently drops messages for a busy or offline subscriber.
    extra : str
        More lines for the config file.
    """

    def __init__(
        self,
        workdir: Path,
        *,
        persistence: bool = False,
        max_inflight: int = 0,
        max_queued: int = 0,
        extra: str = "",
    ) -> None:
        self.binary = require_tool("mosquitto")
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.persistence = persistence
        self.config = self.workdir / "mosquitto.conf"
        self.log_path = self.workdir / "mosquitto.log"
        lines = [
            f"listener {self.port} 127.0.0.1",
            "allow_anonymous true",
            f"max_inflight_messages {max_inflight}",
            f"max_queued_messages {max_queued}",
            "log_type error",
            "log_type warning",
            "log_type notice",
            "log_type information",
            "connection_messages true",
            "log_timestamp true",
            f"log_dest file {self.log_path}",
        ]
        if os.geteuid() == 0:
            # Started as root, mosquitto drops to the user "mosquitto", which cannot write
            # under tmp_path.
            lines.append("user root")
        if persistence:
            lines += [
                "persistence true",
                f"persistence_location {self.workdir}/",
                "persistence_file mosquitto.db",
                "autosave_interval 3600",
            ]
        self.config.write_text("\n".join(lines) + "\n" + extra)
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """``mqtt://127.0.0.1:<port>``."""
        return f"mqtt://127.0.0.1:{self.port}"

    @property
    def address(self) -> tuple[str, int]:
        """``("127.0.0.1", port)``."""
        return ("127.0.0.1", self.port)

    @property
    def running(self) -> bool:
        """Whether the broker process is alive."""
        return self.proc is not None and self.proc.poll() is None

    def log(self) -> str:
        """The broker's log so far (for assertion messages)."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def start(self, timeout: float = 10.0) -> MosquittoBroker:
        """Start the broker and wait until it accepts TCP connections."""
        if self.running:
            return self
        self.proc = subprocess.Popen(
            [self.binary, "-c", str(self.config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode(errors="replace") if self.proc.stderr else ""
                raise RuntimeError(
                    f"mosquitto exited with {self.proc.returncode}: {err}{self.log()}"
                )
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), 0.2),
            ):
                return self
            time.sleep(0.02)
        self.kill()
        raise RuntimeError(f"mosquitto did not listen on port {self.port} within {timeout} s")

    def stop(self, timeout: float = 10.0) -> None:
        """Stop gracefully (SIGTERM): with persistence, the broker saves its state first."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stderr:
            self.proc.stderr.close()
        self.proc = None

    def kill(self) -> None:
        """Kill the broker (SIGKILL): nothing is saved."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.stop()

    def restart(self) -> MosquittoBroker:
        """Stop gracefully and start again on the same port."""
        self.stop()
        return self.start()


@pytest.fixture
def make_mosquitto(tmp_path: Path) -> Iterator[Callable[..., MosquittoBroker]]:
    """A factory of started brokers; all are stopped at the end of the test."""
    brokers: list[MosquittoBroker] = []

    def make(**options: object) -> MosquittoBroker:
        broker = MosquittoBroker(tmp_path / f"mosquitto-{len(brokers)}", **options)  # type: ignore[arg-type]
        brokers.append(broker)
        return broker.start()

    yield make
    for broker in brokers:
        broker.kill()


@pytest.fixture
def mosquitto(request: pytest.FixtureRequest, make_mosquitto) -> MosquittoBroker:
    """A started mosquitto broker; options by indirect parametrisation (see the module doc)."""
    options = getattr(request, "param", None) or {}
    return make_mosquitto(**options)


def wait_until(predicate: Callable[[], object], timeout: float, what: str, every: float = 0.05):
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(every)


def publish_pairs(url: str, pairs, *, qos: int = 1, **options) -> int:
    """Publish ``(topic, payload)`` pairs through a capped Publisher and wait for all acks."""
    from twin.sensors.mqtt import Publisher, parse_url

    count = 0
    with Publisher(parse_url(url, env={}), **options) as publisher:
        for topic, payload in pairs:
            publisher.publish(topic, payload, qos=qos)
            count += 1
        assert publisher.flush(60), f"{publisher.outstanding} messages not acknowledged"
    return count
