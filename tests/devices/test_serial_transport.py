"""Serial transport over pseudo-terminals: stream, stale, unplug, replug at the same path."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from devices.measurement import ConnectionChange, DeviceEvent, Measurement
from devices.serial_port import SerialDevice, list_serial_ports
from devices.settings import DeviceSettings
from vocabulary import ConnectionState as S
from vocabulary import Parameter as P

FAST = DeviceSettings(
    quiet_times_s={"berrymed": 0.4, "nonin-7": None, "masimo": 0.4},
    reconnect_initial_s=0.05,
    reconnect_max_s=0.1,
    serial_read_timeout_s=0.02,
    stale_reconnect_factor=1000,  # this test unplugs explicitly; silence alone must not reopen
)
FRAME_72 = bytes.fromhex("87 32 05 48 62")
FRAME_75 = bytes.fromhex("88 28 04 4B 61")


class Pty:
    """A pseudo-terminal reached through a stable symlink, like /dev/serial/by-id."""

    def __init__(self, link: Path) -> None:
        self.link = link
        self.master, self.slave = os.openpty()
        if link.is_symlink():
            link.unlink()
        link.symlink_to(os.ttyname(self.slave))

    def write(self, data: bytes) -> None:
        os.write(self.master, data)

    def unplug(self) -> None:
        os.close(self.master)
        os.close(self.slave)
        self.link.unlink()


async def until(
    events: AsyncIterator[DeviceEvent], match: Callable[[DeviceEvent], bool], seen: list
) -> DeviceEvent:
    async for event in events:
        seen.append(event)
        if match(event):
            return event
    raise AssertionError("event stream ended")


def state(wanted: S) -> Callable[[DeviceEvent], bool]:
    return lambda e: isinstance(e, ConnectionChange) and e.state is wanted


def reading(e: DeviceEvent) -> bool:
    return isinstance(e, Measurement)


async def test_stream_stale_unplug_and_replug(tmp_path: Path) -> None:
    link = tmp_path / "oximeter"
    pty = Pty(link)
    device = SerialDevice(str(link), "berrymed", settings=FAST)
    events = device.events()
    seen: list[DeviceEvent] = []
    try:
        await until(events, state(S.CONNECTED), seen)
        pty.write(FRAME_72 + FRAME_75[:2])  # a frame straddling two reads
        first = await until(events, reading, seen)
        assert first.values == {P.SPO2: 98, P.PULSE_RATE: 72, P.PLETH: 50}  # type: ignore[union-attr]
        assert first.source == f"serial:{link}"  # type: ignore[union-attr]
        assert first.receive_time is not None and first.device_time is not None  # type: ignore[union-attr]
        pty.write(FRAME_75[2:])
        second = await until(events, reading, seen)
        assert second.values[P.PULSE_RATE] == 75  # type: ignore[union-attr]

        stale = await until(events, state(S.STALE), seen)  # nothing written: quiet time passes
        assert "no reading" in stale.reason  # type: ignore[union-attr]
        pty.write(FRAME_72)
        resumed = await until(events, state(S.CONNECTED), seen)
        assert "resumed" in resumed.reason  # type: ignore[union-attr]

        pty.unplug()
        lost = await until(events, state(S.DISCONNECTED), seen)
        assert "lost" in lost.reason or "cannot open" in lost.reason  # type: ignore[union-attr]
        # Retries fail while the port is away; each failure is a visible state change.
        await until(events, state(S.CONNECTING), seen)
        await until(events, state(S.DISCONNECTED), seen)

        pty = Pty(link)  # plugged back in: same path
        await until(events, state(S.CONNECTED), seen)
        pty.write(FRAME_75)
        back = await until(events, reading, seen)
        assert back.values[P.PULSE_RATE] == 75  # type: ignore[union-attr]
    finally:
        await events.aclose()  # type: ignore[attr-defined]
        pty.unplug()
    assert device.closing


async def test_port_absent_at_start_then_appears(tmp_path: Path) -> None:
    link = tmp_path / "masimo"
    device = SerialDevice(str(link), "masimo", settings=FAST)
    events = device.events()
    seen: list[DeviceEvent] = []
    try:
        failed = await until(events, state(S.DISCONNECTED), seen)
        assert "cannot open serial port" in failed.reason  # type: ignore[union-attr]
        pty = Pty(link)
        await until(events, state(S.CONNECTED), seen)
        pty.write(b"11/21/26 09:15:02 SN=1 SPO2=097% BPM=072 PI=01.20 ALARM=0000 EXC=000000\r\n")
        m = await until(events, reading, seen)
        assert m.values == {P.SPO2: 97, P.PULSE_RATE: 72, P.PERFUSION_INDEX: 1.2}  # type: ignore[union-attr]
    finally:
        await events.aclose()  # type: ignore[attr-defined]
        pty.unplug()


async def test_init_command_sent_on_open(tmp_path: Path) -> None:
    link = tmp_path / "nonin"
    pty = Pty(link)
    device = SerialDevice(str(link), "nonin-7", settings=FAST)
    events = device.events()
    try:
        await until(events, state(S.CONNECTED), [])
        received = b""
        while len(received) < 6:
            received += os.read(pty.master, 64)
        assert received == bytes.fromhex("02 70 02 02 07 03")
    finally:
        await events.aclose()  # type: ignore[attr-defined]
        pty.unplug()


async def test_silence_beyond_the_loss_limit_reopens_the_port(tmp_path: Path) -> None:
    # Masimo is 8N1: Linux ptys refuse a second open with the odd parity BerryMed uses.
    link = tmp_path / "masimo"
    pty = Pty(link)
    settings = DeviceSettings(
        quiet_times_s={"masimo": 0.2},
        reconnect_initial_s=0.05,
        serial_read_timeout_s=0.02,
        stale_reconnect_factor=2,
    )
    events = SerialDevice(str(link), "masimo", settings=settings).events()
    seen: list[DeviceEvent] = []
    try:
        await until(events, state(S.CONNECTED), seen)
        await until(events, state(S.STALE), seen)
        lost = await until(events, state(S.DISCONNECTED), seen)
        assert "no reading" in lost.reason  # type: ignore[union-attr]
        await until(events, state(S.CONNECTED), seen)
    finally:
        await events.aclose()  # type: ignore[attr-defined]
        pty.unplug()


def test_serial_only_protocols() -> None:
    import pytest

    with pytest.raises(ValueError, match="not a serial protocol"):
        SerialDevice("/dev/null", "plx-continuous")
    assert isinstance(list_serial_ports(), list)
