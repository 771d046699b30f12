"""Typed errors of the device layer: each says what was wrong in words an engineer can act on."""

from __future__ import annotations


class DeviceError(Exception):
    """Base of every error raised by devices/."""


class DecodeError(DeviceError):
    """Bytes (or text) that do not form a valid frame; nothing was decoded from them.

    Decoders keep their state, so decoding can go on with the next chunk after one of these.
    """


class UnknownProtocolError(DeviceError, KeyError):
    """A protocol name that devices/ does not know."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else "unknown protocol"


class SourceError(DeviceError, ValueError):
    """A device source description (ble:…, serial:…, sim:…) that cannot be understood."""


class BluetoothUnavailableError(DeviceError):
    """No Bluetooth adapter, or no BlueZ/D-Bus, on this machine."""
