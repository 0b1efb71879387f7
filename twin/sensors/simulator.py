"""The demo deployment, simulated: LoRaWAN uplinks in real TTN v3 / ChirpStack v4 wire format.

:class:`Simulator` plays the devices of a registry (``sensors/devices.toml`` by default) with
the daily patterns of :mod:`twin.sensors.sim_patterns`, encodes each uplink as The Things
Stack or ChirpStack would publish it (:mod:`twin.sensors.sim_wire`) and either

* publishes them to an MQTT broker (:meth:`Simulator.publish_mqtt`, ``twin simulate``), with
  the QoS 1 messages in flight capped, or
* feeds them in-process through the real decoders into a :class:`~twin.sensors.writer.Writer`
  (:meth:`Simulator.run_in_process`, used by ``twin demo`` and the tests), after
  backfilling a history (the last 24 h at 5-minute steps by default) so that charts and
  the time slider have data at start-up.

Everything random comes from generators seeded with ``seed`` (one per device, one for
faults): the same seed, start time and rate give byte-identical messages.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from twin.errors import ConfigError
from twin.sensors.registry import Device, Registry
from twin.sensors.sim_devices import (
    BUILT_AREA,
    GATEWAYS,
    GENERATED_KINDS,
    DeviceSim,
    generated_devices,
)
from twin.sensors.sim_patterns import PATTERNS
from twin.sensors.sim_run import SimulationRun
from twin.sensors.sim_wire import (
    Uplink,
    corrupt,
    encode_chirpstack,
    encode_join,
    encode_lpp,
    encode_ttn,
)

__all__ = [
    "BUILT_AREA",
    "DEMO_REGISTRY",
    "GATEWAYS",
    "GENERATED_KINDS",
    "SimMessage",
    "SimulationRun",
    "Simulator",
]

log = logging.getLogger(__name__)

#: The demo deployment shipped with twin.
DEMO_REGISTRY = Path(__file__).resolve().parents[2] / "sensors" / "devices.toml"
#: Application ids: TTN names, ChirpStack UUIDs.
TTN_APPLICATION = "ludwigshafen-twin"
CHIRPSTACK_APPLICATION = "3f6e1c2a-5b7d-4e09-9a1c-6d2b8f4e7a10"
FORMATS = ("ttn", "chirpstack")


@dataclass(frozen=True)
class SimMessage:
    """One simulated MQTT message.

    Parameters
    ----------
    topic : str
        The MQTT topic.
    payload : bytes
        The JSON body (malformed when ``fault`` is set).
    time : float
        When the gateways heard it (UTC epoch seconds).
    device_id : str
        The sending device.
    f_cnt : int
        Its frame counter.
    fault : str or None
        The kind of corruption (see :data:`twin.sensors.sim_wire.FAULT_KINDS`), or None.
    event : str or None
        ``"join"`` for a (re)join event instead of an uplink.
    """

    topic: str
    payload: bytes
    time: float
    device_id: str
    f_cnt: int
    fault: str | None = None
    event: str | None = None


class Simulator:
    """Simulated LoRaWAN devices of a registry, in TTN v3 or ChirpStack v4 wire format.

    Parameters
    ----------
    registry : Registry or path, optional
        The deployment; ``sensors/devices.toml`` by default. Devices whose ``kind`` has no
        pattern in :data:`twin.sensors.sim_patterns.PATTERNS` are left out (logged).
    seed : int
        Seed of all random generators.
    fmt : {"ttn", "chirpstack"}
        Wire format of the messages.
    faults : float
        Share (0–1) of messages replaced by malformed ones (truncated JSON, garbage, wrong
        types, missing ids, bad times) to exercise dead-letter handling.
    rate : float, optional
        Messages per second over all devices for :meth:`publish_mqtt` and :meth:`stream`;
        by default every device sends once per ``interval``.
    devices : int, optional
        Number of devices: fewer than the registry takes the first ones; more adds
        generated weather, air-quality and noise sensors spread over the built area of the
        demo city (see :attr:`registry` for the extended registry).
    interval : float
        Seconds between two uplinks of one device when ``rate`` is not given.
    application_id : str, optional
        Network-server application id (a name for TTN, a UUID for ChirpStack).
    tenant : str
        The Things Stack tenant (``ttn`` on The Things Network).
    joins : float
        Share (0–1) of uplinks preceded by a rejoin of their device (a reset, a battery
        change): a join event two seconds earlier, and the frame counter starts again at 1.
        Joins come on top of ``count``/``rate``.

    Examples
    --------
    >>> sim = Simulator(seed=1, devices=3)
    >>> msgs = list(sim.stream(start=1_750_000_000, rate=1.0, count=3))
    >>> [m.topic.rsplit("/", 2)[1] for m in msgs]  # doctest: +SKIP
    ['ls-co2-schule-mitte', 'ls-co2-schule-nord', 'ls-co2-schule-sued']
    """

    def __init__(
        self,
        registry: Registry | str | Path | None = None,
        *,
        seed: int = 0,
        fmt: str = "ttn",
        faults: float = 0.0,
        rate: float | None = None,
        devices: int | None = None,
        interval: float = 300.0,
        application_id: str | None = None,
        tenant: str = "ttn",
        joins: float = 0.0,
    ) -> None:
        if fmt not in FORMATS:
            raise ConfigError(f"unknown simulator format {fmt!r}; expected one of {FORMATS}")
        if not 0.0 <= faults <= 1.0:
            raise ConfigError(f"faults must be a share between 0 and 1, not {faults}")
        if not 0.0 <= joins <= 1.0:
            raise ConfigError(f"joins must be a share between 0 and 1, not {joins}")
        if rate is not None and not rate > 0:
            raise ConfigError(f"rate must be a positive number of messages per second: {rate}")
        if not interval > 0:
            raise ConfigError(f"interval must be positive, not {interval}")
        if devices is not None and devices < 1:
            raise ConfigError(f"devices must be at least 1, not {devices}")
        if not isinstance(registry, Registry):
            registry = Registry.load(registry or DEMO_REGISTRY)
        playable = []
        for device in registry:
            if device.kind in PATTERNS:
                playable.append(device)
            else:
                log.info("simulator: no pattern for %s (kind %r)", device.device_id, device.kind)
        if not playable:
            raise ConfigError(
                f"{registry.source}: no device has a simulated kind ({', '.join(PATTERNS)})"
            )
        if devices is not None and devices > len(playable):
            playable += generated_devices(registry, devices - len(playable), seed)
        elif devices is not None:
            playable = playable[:devices]
        self.registry = Registry(playable, registry.routes, source=f"{registry.source} (simulated)")
        self.seed = seed
        self.fmt = fmt
        self.faults = float(faults)
        self.interval = float(interval)
        self.rate = float(rate) if rate is not None else len(playable) / self.interval
        self.tenant = tenant
        self.application_id = application_id or (
            TTN_APPLICATION if fmt == "ttn" else CHIRPSTACK_APPLICATION
        )
        self._sims = [
            DeviceSim(device, PATTERNS[device.kind], seed, i) for i, device in enumerate(playable)
        ]
        self._fault_rng = np.random.default_rng([seed, 999_999_999])
        self.joins = float(joins)
        self._join_rng = np.random.default_rng([seed, 888_888_888])
        self._run: SimulationRun | None = None

    def __len__(self) -> int:
        return len(self._sims)

    @property
    def devices(self) -> list[Device]:
        """The simulated devices, in the order they send."""
        return [s.device for s in self._sims]

    # --- message generation -----------------------------------------------------------

    def _messages(self, index: int, t: float, values: dict[str, Any]) -> list[SimMessage]:
        """Return the uplink of device ``index`` at ``t``, after a join when it rejoins."""
        sim = self._sims[index]
        join = self.joins > 0 and self._join_rng.random() < self.joins
        if join:
            sim.f_cnt = 0  # a new session counts frames from the start
        sim.f_cnt += 1
        frame, decoded = encode_lpp(values)
        up = Uplink(
            device_id=sim.device.device_id,
            dev_eui=sim.dev_eui,
            application_id=self.application_id,
            time=t,
            f_cnt=sim.f_cnt,
            f_port=10,
            payload=frame,
            decoded=decoded,
            rx=sim.radio(),
            lat=sim.lat,
            lon=sim.lon,
            token=int.from_bytes(sim.rng.bytes(16), "big"),
            spreading_factor=sim.spreading_factor,
        )
        out = []
        if join:
            joined = dataclasses.replace(up, time=t - 2.0)
            topic, payload = encode_join(joined, self.fmt, tenant=self.tenant)
            out.append(SimMessage(topic, payload, t - 2.0, sim.device.device_id, 0, None, "join"))
        if self.fmt == "ttn":
            topic, payload = encode_ttn(up, tenant=self.tenant)
        else:
            topic, payload = encode_chirpstack(up)
        fault = None
        if self.faults > 0 and self._fault_rng.random() < self.faults:
            fault, payload = corrupt(payload, self.fmt, self._fault_rng)
        out.append(SimMessage(topic, payload, t, sim.device.device_id, sim.f_cnt, fault))
        return out

    def stream(
        self,
        start: float | datetime,
        *,
        rate: float | None = None,
        count: int | None = None,
        chunk: int = 64,
    ) -> Iterator[SimMessage]:
        """Messages round-robin over the devices, message ``i`` at ``start + i / rate``.

        Parameters
        ----------
        start : float or datetime
            Time of the first message (UTC epoch seconds or an aware datetime).
        rate : float, optional
            Messages per second; :attr:`rate` by default.
        count : int, optional
            Number of messages; endless when None.
        chunk : int
            Rounds sampled at once (values are vectorised per device).

        Yields
        ------
        SimMessage
        """
        t0 = start.timestamp() if isinstance(start, datetime) else float(start)
        rate = float(rate or self.rate)
        n = len(self._sims)
        first_round = 0
        emitted = 0
        while count is None or emitted < count:
            rounds = chunk if count is None else min(chunk, math.ceil((count - emitted) / n))
            samples = []
            for d, sim in enumerate(self._sims):
                idx = (first_round + np.arange(rounds)) * n + d
                if count is not None:
                    idx = idx[idx < count]
                samples.append(sim.sample(t0 + idx / rate) if len(idx) else [])
            for r in range(rounds):
                for d in range(n):
                    i = (first_round + r) * n + d
                    if count is not None and i >= count:
                        return
                    yield from self._messages(d, t0 + i / rate, samples[d][r])
                    emitted += 1
            first_round += rounds

    def history(
        self, start: float | datetime, end: float | datetime, step: timedelta | float
    ) -> Iterator[SimMessage]:
        """Every device once per ``step`` (staggered within the step) from ``start`` to ``end``.

        Parameters
        ----------
        start, end : float or datetime
            The period (UTC epoch seconds or aware datetimes); ``end`` excluded.
        step : timedelta or float
            Interval of each device (seconds).

        Yields
        ------
        SimMessage
        """
        t0 = start.timestamp() if isinstance(start, datetime) else float(start)
        t1 = end.timestamp() if isinstance(end, datetime) else float(end)
        step_s = step.total_seconds() if isinstance(step, timedelta) else float(step)
        rounds = max(0, math.ceil((t1 - t0) / step_s))
        yield from self.stream(t0, rate=len(self._sims) / step_s, count=rounds * len(self._sims))

    # --- MQTT -------------------------------------------------------------------------

    def publish_mqtt(
        self,
        url: str,
        *,
        duration: float | None = None,
        count: int | None = None,
        qos: int = 1,
        client_id: str | None = None,
        protocol: int | str = 5,
        ca_file: str | Path | None = None,
        password_file: str | Path | None = None,
        max_outstanding: int = 10_000,
        stop_event: threading.Event | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> dict[str, float]:
        """Publish the stream to a broker in real time at :attr:`rate` messages per second.

        Message timestamps follow the schedule (message ``i`` at ``start + i / rate``); when
        the broker is slower the publisher falls behind rather than dropping messages. At
        most ``max_outstanding`` QoS 1 messages wait for their PUBACK (paho's 16-bit message
        ids must never wrap).

        Parameters
        ----------
        url : str
            Broker URL (see :func:`twin.sensors.mqtt.parse_url`).
        duration : float, optional
            Stop after this many seconds.
        count : int, optional
            Stop after this many messages.
        qos : {0, 1}
            MQTT QoS.
        client_id : str, optional
            Client id; a random one by default.
        protocol : 5 or "3.1.1"
            MQTT version.
        ca_file, password_file : path, optional
            TLS CA bundle; password file (else ``TWIN_MQTT_PASSWORD``).
        max_outstanding : int
            Cap of unacknowledged messages.
        stop_event : threading.Event, optional
            Set it to stop early (e.g. from a signal handler).
        progress : callable, optional
            Called with the number of messages published so far, about once a second.

        Returns
        -------
        dict
            ``published``, ``faults``, ``seconds``, ``rate`` (achieved messages/s).

        Raises
        ------
        MQTTError
            When the broker cannot be reached.
        """
        from twin.sensors.mqtt import Publisher, parse_protocol, parse_url

        if qos not in (0, 1):
            raise ConfigError(f"qos must be 0 or 1, not {qos}")
        settings = parse_url(url, ca_file=ca_file, password_file=password_file)
        stop_event = stop_event or threading.Event()
        publisher = Publisher(
            settings,
            client_id=client_id or "",
            protocol=parse_protocol(protocol),
            max_outstanding=max_outstanding,
        )
        published = faults = 0
        publisher.connect()
        wall0 = time.time()
        mono0 = time.monotonic()
        next_progress = mono0 + 1.0
        try:
            for msg in self.stream(wall0, count=count, chunk=8):
                due = mono0 + (msg.time - wall0)
                if duration is not None and due - mono0 >= duration:
                    break
                delay = due - time.monotonic()
                if delay > 0.002 and stop_event.wait(delay):
                    break
                if stop_event.is_set():
                    break
                publisher.publish(msg.topic, msg.payload, qos=qos)
                published += 1
                faults += msg.fault is not None
                if progress is not None and time.monotonic() >= next_progress:
                    progress(published)
                    next_progress += 1.0
        finally:
            publisher.close(timeout=30.0)
        seconds = time.monotonic() - mono0
        log.info("published %d messages (%d malformed) in %.1f s", published, faults, seconds)
        return {
            "published": published,
            "faults": faults,
            "seconds": seconds,
            "rate": published / seconds if seconds > 0 else 0.0,
        }

    # --- in-process -------------------------------------------------------------------

    def run_in_process(
        self,
        writer: Any,
        *,
        speedup: float = 1.0,
        history: timedelta | None = timedelta(hours=24),
        step: timedelta = timedelta(minutes=5),
        interval: float | None = 60.0,
        duration: float | None = None,
        now: datetime | None = None,
        background: bool = True,
    ) -> SimulationRun:
        """Feed simulated uplinks through the real decoders into a Writer, without a broker.

        First backfills ``history`` (every device once per ``step``), flushes the writer
        and sets :attr:`SimulationRun.backfilled`; then sends live: every device once per
        ``interval`` simulated seconds, the simulated clock running ``speedup`` times as
        fast as the wall clock from ``now`` (so with ``speedup > 1`` readings run ahead of
        the wall clock).

        Parameters
        ----------
        writer : twin.sensors.writer.Writer
            Receives ``submit(message)`` and ``submit_dead(dead_letter)``.
        speedup : float
            Simulated seconds per wall-clock second.
        history : timedelta or None
            Period to backfill before ``now``; None or zero for none.
        step : timedelta
            Interval of each device in the backfill.
        interval : float or None
            Simulated seconds between live uplinks of one device; None stops after the
            backfill.
        duration : float, optional
            Wall-clock seconds of live sending; endless (until :meth:`stop`) when None.
        now : datetime, optional
            Start of the live phase (end of the backfill); the current time by default.
        background : bool
            Run in a daemon thread (returns at once) or in the calling thread.

        Returns
        -------
        SimulationRun
            Handle with ``stop()``, ``join()``, ``backfilled`` and ``stats``.
        """
        if not speedup > 0:
            raise ConfigError(f"speedup must be positive, not {speedup}")
        self.stop()
        run = SimulationRun(
            self,
            writer,
            speedup=speedup,
            history=history,
            step=step,
            interval=interval,
            duration=duration,
            now=now or datetime.now(UTC),
        )
        self._run = run
        if background:
            run.start()
        else:
            run.run()
        return run

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the in-process run, if any, and wait for its thread."""
        run, self._run = self._run, None
        if run is not None:
            run.stop(timeout)
