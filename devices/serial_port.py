"""Serial transport (pyserial): USB/RS-232 oximeters such as Nonin, Masimo, Contec CMS50."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from datetime import datetime
from typing import Any

import serial
from serial.tools import list_ports

from devices.link import LinkLost, Transport
from devices.measurement import utc_now
from devices.protocols import SerialProfile, get_protocol, make_decoder
from devices.settings import DEFAULT_SETTINGS, DeviceSettings

try:  # termios reports a vanished tty as termios.error, which is not an OSError
    from termios import error as _TermiosError
except ImportError:  # pragma: no cover - not POSIX
    _TermiosError = OSError  # type: ignore[assignment,misc]

SerialFactory = Callable[..., serial.SerialBase]


class SerialDevice(Transport):
    """A device on a serial port; survives unplugging (the port may come back at the same path).

    ``path`` is a device path (prefer a stable /dev/serial/by-id/ link) or a pyserial URL.
    """

    def __init__(
        self,
        path: str,
        protocol: str,
        *,
        settings: DeviceSettings = DEFAULT_SETTINGS,
        clock: Callable[[], datetime] = utc_now,
        serial_factory: SerialFactory = serial.serial_for_url,
    ) -> None:
        profile = get_protocol(protocol).serial
        if profile is None:
            raise ValueError(f"protocol {protocol!r} is not a serial protocol")
        super().__init__(f"serial:{path}", protocol, settings=settings, clock=clock)
        self.path = path
        self.profile: SerialProfile = profile
        self._factory = serial_factory

    def _open(self) -> serial.SerialBase:
        p = self.profile
        return self._factory(
            self.path,
            baudrate=p.baudrate,
            parity=p.parity,
            bytesize=p.bytesize,
            stopbits=p.stopbits,
            timeout=self.settings.serial_read_timeout_s,
            write_timeout=self.settings.serial_read_timeout_s * 5,
        )

    @staticmethod
    def _read(port: serial.SerialBase) -> bytes:
        first = port.read(1)  # blocks up to the read timeout
        if not first:
            return b""
        return first + port.read(port.in_waiting)

    async def _session(self) -> None:
        try:
            port = await asyncio.to_thread(self._open)
        except (serial.SerialException, OSError, ValueError, _TermiosError) as error:
            raise LinkLost(f"cannot open serial port {self.path}: {error}") from error
        decoder = make_decoder(self.protocol, ranges=self.settings.plausible_ranges)
        loop = asyncio.get_running_loop()
        try:
            if self.profile.init:
                await asyncio.to_thread(port.write, self.profile.init)
            self._connected(f"serial port {self.path} open at {self.profile.baudrate} baud")
            next_keep_alive = loop.time() + (self.profile.keep_alive_every_s or 0)
            while not self.closing:
                read = asyncio.ensure_future(asyncio.to_thread(self._read, port))
                try:
                    chunk = await asyncio.shield(read)
                except asyncio.CancelledError:
                    # Let the blocking read finish before the port is closed under it.
                    with contextlib.suppress(Exception):
                        await read
                    raise
                if chunk:
                    self._deliver(decoder, chunk)
                if self.profile.keep_alive_every_s and loop.time() >= next_keep_alive:
                    await asyncio.to_thread(port.write, self.profile.keep_alive)
                    next_keep_alive = loop.time() + self.profile.keep_alive_every_s
        except (serial.SerialException, OSError, _TermiosError) as error:
            raise LinkLost(f"serial port {self.path} lost (unplugged?): {error}") from error
        finally:
            with contextlib.suppress(Exception):
                port.close()


def list_serial_ports() -> list[dict[str, Any]]:
    """Serial ports present now, with what the OS knows of them (USB IDs, description)."""
    return [
        {
            "path": port.device,
            "description": port.description,
            "hwid": port.hwid,
            "manufacturer": port.manufacturer,
            "product": port.product,
        }
        for port in sorted(list_ports.comports(), key=lambda p: p.device)
    ]
