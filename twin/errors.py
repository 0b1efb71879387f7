"""Errors raised by twin.

Every error a user can cause by their input is a :class:`TwinError`. The CLI turns it into one
line on stderr and exit code 2, without a traceback. Subclasses also inherit the matching
built-in exception so that callers can catch what they already know (``ValueError``,
``OSError``, ...).
"""

from __future__ import annotations


class TwinError(Exception):
    """Base class of all errors a user can cause by their input or configuration."""


class GeodataError(TwinError, ValueError):
    """A geodata file cannot be read: wrong format, broken content, unknown CRS.

    The message names the file, the place in it (line, byte offset, feature id) and what
    was expected there.
    """


class CityFileError(TwinError, ValueError):
    """A City table file is missing, not GeoParquet, or not written by twin."""


class ExportError(TwinError, ValueError):
    """A City cannot be exported to the requested file (unknown format, unwritable path)."""


class SensorError(TwinError, ValueError):
    """A sensor message, payload or device registry is invalid."""


class DecodeError(SensorError):
    """An MQTT message or LoRaWAN payload cannot be decoded; kept as a dead letter."""


class RegistryError(SensorError):
    """A device registry file is invalid."""


class StoreError(TwinError, OSError):
    """The sensor database cannot be opened or written (locked, unwritable, wrong schema)."""


class MQTTError(TwinError, ConnectionError):
    """The MQTT broker cannot be reached or refused the connection."""


class SceneError(TwinError, ValueError):
    """A scene file is invalid; the message names the key."""


class ConfigError(TwinError, ValueError):
    """A command-line option or setting is invalid."""
