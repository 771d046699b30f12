"""BLE lifecycle through a fake bleak backend; BleDevice and BleakClient are unchanged."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest

from devices.ble import BleDevice, scan
from devices.errors import BluetoothUnavailableError
from devices.measurement import ConnectionChange, DeviceEvent, Measurement
from devices.protocols import (
    BERRYMED_NOTIFY,
    BERRYMED_SERVICE,
    BP_INTERMEDIATE_CUFF,
    BP_MEASUREMENT,
    BP_SERVICE,
    PLX_CONTINUOUS,
    PLX_FEATURES,
    PLX_SERVICE,
    PLX_SPOT_CHECK,
)
from devices.settings import DeviceSettings
from tests.devices.fake_bleak import FakePeripheral, FakeScannerBase
from vocabulary import ConnectionState as S
from vocabulary import Parameter as P
from vocabulary import QualityFlag as F

FAST = DeviceSettings(
    quiet_times_s={"plx-continuous": 0.3, "berrymed": 0.3, "bp-measurement": None},
    reconnect_initial_s=0.01,
    reconnect_max_s=0.05,
    stale_reconnect_factor=1000,
    scan_time_s=0.01,
)
ADDRESS = "C0:FF:EE:00:00:01"


def oximeter(features: str = "02 00 00 08 00", **kwargs) -> FakePeripheral:  # type: ignore[no-untyped-def]
    return FakePeripheral(
        ADDRESS,
        "Nonin 3230",
        {PLX_SERVICE: [PLX_SPOT_CHECK, PLX_CONTINUOUS, PLX_FEATURES]},
        {PLX_FEATURES: bytes.fromhex(features)},
        **kwargs,
    )


async def until(
    events: AsyncIterator[DeviceEvent],
    match: Callable[[DeviceEvent], bool],
    seen: list | None = None,
) -> DeviceEvent:
    async for event in events:
        if seen is not None:
            seen.append(event)
        if match(event):
            return event
    raise AssertionError("event stream ended")


def state(wanted: S) -> Callable[[DeviceEvent], bool]:
    return lambda e: isinstance(e, ConnectionChange) and e.state is wanted


def reading(e: DeviceEvent) -> bool:
    return isinstance(e, Measurement)


def device_for(peripheral: FakePeripheral, protocol: str | None = None, **kwargs) -> BleDevice:  # type: ignore[no-untyped-def]
    return BleDevice(
        peripheral.address,
        protocol,
        settings=kwargs.pop("settings", FAST),
        client_backend=peripheral.client_backend(),
        scanner_backend=peripheral.scanner_backend(),
        **kwargs,
    )


async def test_connect_read_features_notify_disconnect_reconnect() -> None:
    peripheral = oximeter()
    device = device_for(peripheral)
    events = device.events()
    seen: list[DeviceEvent] = []
    try:
        assert (await until(events, lambda e: True, seen)).state is S.CONNECTING  # type: ignore[union-attr]
        connected = await until(events, state(S.CONNECTED), seen)
        assert "plx-continuous" in connected.reason  # type: ignore[union-attr]
        assert peripheral.reads == [PLX_FEATURES]  # features read before trusting status bits
        assert device.features is not None and device.features.device_status_support == 0x000800

        # no-finger bit (supported) and low-perfusion bit (not supported: ignored)
        peripheral.notify(PLX_CONTINUOUS, bytes.fromhex("08 FF 07 FF 07 20 08 00"))
        m = await until(events, reading)
        assert m.flags == (F.NO_FINGER,) and m.missing == (P.SPO2, P.PULSE_RATE)  # type: ignore[union-attr]
        assert m.source == f"ble:{ADDRESS}" and m.receive_time is not None  # type: ignore[union-attr]

        peripheral.notify(PLX_SPOT_CHECK, bytes.fromhex("00 61 00 48 00"))
        spot = await until(events, reading)
        assert spot.protocol == "plx-spot-check" and spot.values[P.SPO2] == 97  # type: ignore[union-attr]

        peripheral.drop_link()
        lost = await until(events, state(S.DISCONNECTED), seen)
        assert "link lost" in lost.reason  # type: ignore[union-attr]
        await until(events, state(S.CONNECTING), seen)
        await until(events, state(S.CONNECTED), seen)
        assert peripheral.connects == 2
        peripheral.notify(PLX_CONTINUOUS, bytes.fromhex("00 61 00 48 00"))
        again = await until(events, reading)
        assert again.values == {P.SPO2: 97, P.PULSE_RATE: 72}  # type: ignore[union-attr]
    finally:
        await events.aclose()  # type: ignore[attr-defined]
    assert not peripheral.connected  # released when no longer assigned


async def test_silent_link_goes_stale_then_reconnects() -> None:
    peripheral = oximeter()
    settings = DeviceSettings(
        quiet_times_s={"plx-continuous": 0.2},
        reconnect_initial_s=0.01,
        stale_reconnect_factor=2,
        scan_time_s=0.01,
    )
    events = device_for(peripheral, "plx-continuous", settings=settings).events()
    seen: list[DeviceEvent] = []
    try:
        await until(events, state(S.CONNECTED), seen)
        stale = await until(events, state(S.STALE), seen)
        assert "no reading for 0.2 s" in stale.reason  # type: ignore[union-attr]
        peripheral.notify(PLX_CONTINUOUS, bytes.fromhex("00 61 00 48 00"))
        await until(events, state(S.CONNECTED), seen)  # readings resumed
        await until(events, state(S.STALE), seen)
        lost = await until(events, state(S.DISCONNECTED), seen)
        assert "reconnecting" in lost.reason  # type: ignore[union-attr]
        assert peripheral.disconnects == 1  # we dropped the hung link ourselves
        await until(events, state(S.CONNECTED), seen)
        assert peripheral.connects == 2
    finally:
        await events.aclose()  # type: ignore[attr-defined]
    states = [e.state for e in seen if isinstance(e, ConnectionChange)]
    assert states == [
        S.CONNECTING,
        S.CONNECTED,
        S.STALE,
        S.CONNECTED,
        S.STALE,
        S.DISCONNECTED,
        S.CONNECTING,
        S.CONNECTED,
    ]


async def test_refused_connections_back_off_and_retry() -> None:
    peripheral = oximeter(refuse_connections=4)  # more than one establish_connection round
    events = device_for(peripheral).events()
    seen: list[DeviceEvent] = []
    try:
        failed = await until(events, state(S.DISCONNECTED), seen)
        assert "could not connect" in failed.reason and "retrying in" in failed.reason  # type: ignore[union-attr]
        await until(events, state(S.CONNECTED), seen)
    finally:
        await events.aclose()  # type: ignore[attr-defined]


async def test_device_not_found() -> None:
    peripheral = oximeter()
    scanner = type("EmptyScanner", (FakeScannerBase,), {"peripherals": []})
    device = BleDevice(
        ADDRESS, settings=FAST, client_backend=peripheral.client_backend(), scanner_backend=scanner
    )
    events = device.events()
    try:
        failed = await until(events, state(S.DISCONNECTED))
        assert "not found" in failed.reason  # type: ignore[union-attr]
    finally:
        await events.aclose()  # type: ignore[attr-defined]


async def test_berrymed_stream_straddles_notifications() -> None:
    peripheral = FakePeripheral(ADDRESS, "BerryMed", {BERRYMED_SERVICE: [BERRYMED_NOTIFY]})
    events = device_for(peripheral).events()
    try:
        await until(events, state(S.CONNECTED))
        peripheral.notify(BERRYMED_NOTIFY, bytes.fromhex("87 32 05"))
        peripheral.notify(BERRYMED_NOTIFY, bytes.fromhex("48 62 88 28 04 4B 61"))
        first = await until(events, reading)
        second = await until(events, reading)
        assert [first.values[P.PULSE_RATE], second.values[P.PULSE_RATE]] == [72, 75]  # type: ignore[union-attr]
    finally:
        await events.aclose()  # type: ignore[attr-defined]


async def test_beurer_quirk_by_advertised_name_and_cuff_measuring() -> None:
    peripheral = FakePeripheral(
        ADDRESS, "BM85", {BP_SERVICE: [BP_MEASUREMENT, BP_INTERMEDIATE_CUFF]}
    )
    events = device_for(peripheral).events()
    try:
        await until(events, state(S.CONNECTED))
        peripheral.notify(BP_INTERMEDIATE_CUFF, bytes.fromhex("00 78 00 FF 07 FF 07"))
        measuring = await until(events, reading)
        assert measuring.measuring and measuring.values == {}  # type: ignore[union-attr]
        peripheral.notify(BP_MEASUREMENT, bytes.fromhex("14 7C 00 56 00 61 00 00 48 01 00 01"))
        bp = await until(events, reading)
        assert bp.values == {  # type: ignore[union-attr]
            P.SYSTOLIC: 124,
            P.DIASTOLIC: 86,
            P.MEAN_ARTERIAL: 97,
            P.PULSE_RATE: 72,
        }
    finally:
        await events.aclose()  # type: ignore[attr-defined]


async def test_scan_recognises_by_service_and_name() -> None:
    scanner = type(
        "Scanner",
        (FakeScannerBase,),
        {
            "peripherals": [oximeter()],
            "extra": [
                ("AA:00:00:00:00:02", "BerryMed", []),
                ("AA:00:00:00:00:03", "Headphones", ["0000110b-0000-1000-8000-00805f9b34fb"]),
            ],
        },
    )
    found = await scan(0.01, scanner_backend=scanner)
    assert {(d.address, d.protocol) for d in found} == {
        (ADDRESS, "plx-continuous"),
        ("AA:00:00:00:00:02", "berrymed"),
    }


async def test_scan_without_bluez_is_a_clear_error() -> None:
    class NoBlueZ(FakeScannerBase):
        peripherals = []  # noqa: RUF012

        async def start(self) -> None:
            raise FileNotFoundError(2, "No such file or directory")

    with pytest.raises(BluetoothUnavailableError, match="BlueZ"):
        await scan(0.01, scanner_backend=NoBlueZ)


def test_unknown_protocol_rejected_early() -> None:
    with pytest.raises(KeyError):
        BleDevice(ADDRESS, "no-such-protocol")
