"""Plain data passed between the sensor stages: decoders → writer/store → queries.

These classes are the contract between the decoders (:mod:`twin.sensors.decode`), the MQTT
ingest and simulator, and the DuckDB store. They hold no logic beyond small conveniences.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, NamedTuple

#: Wire formats a message can be in.
Format = Literal["ttn", "chirpstack", "chirpstack3", "generic"]
#: Whether a message carries sensor values (``uplink``) or is an event (join, ack, log, ...).
Kind = Literal["uplink", "event"]


class Reading(NamedTuple):
    """One measured quantity of one uplink (an immutable named tuple: cheap to create).

    Parameters
    ----------
    quantity : str
        Flattened name, dotted for nested values (``"temperature_3"``, ``"air.co2"``).
    value : float or None
        The numeric value; None when the value is not numeric (see ``text``).
    unit : str
        Unit symbol (``"°C"``, ``"%"``, ``"ppm"``), empty when unknown.
    text : str or None
        The value as text when it is not a number (``"blocked"``), else None.
    """

    quantity: str
    value: float | None
    unit: str = ""
    text: str | None = None


@dataclass(slots=True)
class Message:
    """One decoded MQTT message: an uplink with readings, or an event.

    Parameters
    ----------
    topic : str
        The MQTT topic it arrived on.
    format : {"ttn", "chirpstack", "chirpstack3", "generic"}
        The detected wire format.
    kind : {"uplink", "event"}
        ``uplink`` carries readings; everything else (join, ack, txack, status, log,
        downlink queued/sent/failed, location, codec errors) is an ``event``.
    device_id : str
        The network server's device id (TTN ``device_id``, ChirpStack ``deviceName``); the
        DevEUI when no name is known.
    dev_eui : str or None
        The DevEUI as 16 upper-case hex digits.
    application_id : str or None
        Application id on the network server.
    time : datetime
        When the uplink was received by the network (UTC, timezone-aware).
    received_at : datetime
        When twin received the MQTT message (UTC, timezone-aware).
    f_cnt, f_port : int or None
        Frame counter and port of an uplink.
    dedup_id : str or None
        The network server's deduplication id (ChirpStack ``deduplicationId``; TTN
        ``correlation_ids`` entry ``as:up:...``), used as a uniqueness key when present.
    rssi, snr : float or None
        Best RSSI (dBm) and SNR (dB) over all gateways that heard the uplink.
    gateways : int
        Number of gateways that heard it.
    readings : list of Reading
        The decoded values (empty for events).
    event_type : str or None
        For events: ``join``, ``ack``, ``nack``, ``txack``, ``status``, ``log``,
        ``down/queued``, ``down/sent``, ``down/failed``, ``location``, ``integration``, ...
    location : tuple of float or None
        ``(lat, lon, alt)`` reported by the network (gateway-solved or device GPS).
    data : dict
        Extra data of an event (log text, battery level, ...); kept as JSON.
    """

    topic: str
    format: Format
    kind: Kind
    device_id: str
    time: datetime
    received_at: datetime
    dev_eui: str | None = None
    application_id: str | None = None
    f_cnt: int | None = None
    f_port: int | None = None
    dedup_id: str | None = None
    rssi: float | None = None
    snr: float | None = None
    gateways: int = 0
    readings: list[Reading] = field(default_factory=list)
    event_type: str | None = None
    location: tuple[float, float, float | None] | None = None
    data: dict[str, Any] = field(default_factory=dict)

    def to_wire(self) -> tuple[Any, ...]:
        """Return the message as a tuple of its fields in order, readings as plain tuples.

        Pickles several times faster than the object itself (named tuples and dataclasses
        pickle through Python-level hooks): the two-process ingest ships messages decoded by
        its receiver this way. :meth:`from_wire` restores it.
        """
        return (
            self.topic, self.format, self.kind, self.device_id, self.time,
            self.received_at, self.dev_eui, self.application_id, self.f_cnt,
            self.f_port, self.dedup_id, self.rssi, self.snr, self.gateways,
            [tuple(r) for r in self.readings], self.event_type, self.location, self.data,
        )  # fmt: skip

    @classmethod
    def from_wire(cls, w: tuple[Any, ...]) -> Message:
        """Rebuild a message from :meth:`to_wire`'s tuple."""
        return cls(*w[:14], [Reading._make(r) for r in w[14]], *w[15:])


@dataclass(frozen=True)
class DeadLetter:
    """A message that could not be decoded, kept with the reason.

    Parameters
    ----------
    topic : str
        The MQTT topic.
    payload : bytes
        The payload exactly as received (may be up to the broker's maximum size).
    error : str
        Why it was rejected, in one line.
    received_at : datetime
        When twin received it (UTC).
    """

    topic: str
    payload: bytes
    error: str
    received_at: datetime
