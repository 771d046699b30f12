"""End to end through a real (in-process) BLE stack: a bumble peripheral serving 0x1822."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

from bleak.backends.device import BLEDevice
from bumble.gatt import Characteristic, Service
from bumble.link import LocalLink

from devices.ble import BleDevice
from devices.measurement import ConnectionChange, DeviceEvent, Measurement
from devices.settings import DeviceSettings
from tests.devices.bumble_bleak import BumbleClientBase, bumble_device
from vocabulary import ConnectionState as S
from vocabulary import Parameter as P
from vocabulary import QualityFlag as F

CENTRAL = "F0:F0:F0:F0:F0:F0"
PERIPHERAL = "F1:F1:F1:F1:F1:F1"
SETTINGS = DeviceSettings(
    quiet_times_s={"plx-continuous": None},  # this test is about GATT and link loss, not silence
    reconnect_initial_s=0.01,
    reconnect_max_s=0.05,
)


async def until(
    events: AsyncIterator[DeviceEvent], match: Callable[[DeviceEvent], bool]
) -> DeviceEvent:
    async for event in events:
        if match(event):
            return event
    raise AssertionError("event stream ended")


def state(wanted: S) -> Callable[[DeviceEvent], bool]:
    return lambda e: isinstance(e, ConnectionChange) and e.state is wanted


def reading(e: DeviceEvent) -> bool:
    return isinstance(e, Measurement)


async def test_pulse_oximeter_service_end_to_end() -> None:
    link = LocalLink()
    central = bumble_device(link, CENTRAL, "gateway")
    peripheral = bumble_device(link, PERIPHERAL, "Bumble Oximeter")
    readable = Characteristic.READABLE
    continuous = Characteristic("2A5F", Characteristic.Properties.NOTIFY, readable, b"")
    spot_check = Characteristic("2A5E", Characteristic.Properties.INDICATE, readable, b"")
    # Features: device and sensor status supported, of which only "no finger" (bit 11).
    features = Characteristic(
        "2A60", Characteristic.Properties.READ, readable, bytes.fromhex("02 00 00 08 00")
    )
    peripheral.add_service(Service("1822", [spot_check, continuous, features]))
    await central.power_on()
    await peripheral.power_on()
    await peripheral.start_advertising(advertising_interval_min=1.0, auto_restart=True)

    backend = type(
        "BumbleClient",
        (BumbleClientBase,),
        {"central": central, "peripheral_address": peripheral.random_address},
    )
    device = BleDevice(
        PERIPHERAL,
        None,
        settings=SETTINGS,
        client_backend=backend,
        ble_device=BLEDevice(PERIPHERAL, "Bumble Oximeter", None),
    )
    events = device.events()
    try:
        connected = await until(events, state(S.CONNECTED))
        assert "plx-continuous" in connected.reason  # type: ignore[union-attr]  # recognised by service
        assert device.features is not None and device.features.device_status_support == 0x000800

        await peripheral.notify_subscribers(continuous, bytes.fromhex("00 D5 F3 48 00"))
        m = await until(events, reading)
        assert m.values == {P.SPO2: 98.1, P.PULSE_RATE: 72}  # type: ignore[union-attr]
        assert m.source == f"ble:{PERIPHERAL}"  # type: ignore[union-attr]

        # no finger (supported) + low perfusion (not supported by this device: ignored)
        await peripheral.notify_subscribers(continuous, bytes.fromhex("08 FF 07 FF 07 20 08 00"))
        off = await until(events, reading)
        assert off.flags == (F.NO_FINGER,) and off.values == {}  # type: ignore[union-attr]

        await peripheral.indicate_subscribers(spot_check, bytes.fromhex("00 61 00 48 00"))
        spot = await until(events, reading)
        assert spot.protocol == "plx-spot-check" and spot.values[P.SPO2] == 97  # type: ignore[union-attr]

        # The peripheral drops the link (walked out of range): detected, then reconnected.
        for connection in list(peripheral.connections.values()):
            await connection.disconnect()
        lost = await until(events, state(S.DISCONNECTED))
        assert "link lost" in lost.reason  # type: ignore[union-attr]
        await until(events, state(S.CONNECTED))
        await peripheral.notify_subscribers(continuous, bytes.fromhex("00 61 00 48 00"))
        again = await until(events, reading)
        assert again.values == {P.SPO2: 97, P.PULSE_RATE: 72}  # type: ignore[union-attr]
    finally:
        await events.aclose()  # type: ignore[attr-defined]
