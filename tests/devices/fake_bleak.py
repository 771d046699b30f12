"""A fake bleak backend: a scripted peripheral behind an unmodified BleakClient/BleakScanner."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, ClassVar

from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.client import BaseBleakClient, NotifyCallback
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData, BaseBleakScanner
from bleak.backends.service import BleakGATTService, BleakGATTServiceCollection
from bleak.exc import BleakError


class FakePeripheral:
    """What the fake radio reaches: services, readable values, notifications, link drops."""

    def __init__(
        self,
        address: str,
        name: str,
        services: dict[str, list[str]],
        values: dict[str, bytes] | None = None,
        refuse_connections: int = 0,
    ) -> None:
        self.address = address
        self.name = name
        self.services = services
        self.values = values or {}
        self.refuse_connections = refuse_connections
        self.connects = 0
        self.disconnects = 0
        self.reads: list[str] = []
        self.client: FakeClientBase | None = None
        self.callbacks: dict[str, NotifyCallback] = {}

    @property
    def connected(self) -> bool:
        return self.client is not None and self.client.connected

    def notify(self, uuid: str, data: bytes) -> None:
        self.callbacks[uuid](bytearray(data))

    def drop_link(self) -> None:
        """Out of range: the OS reports an unsolicited disconnect."""
        client = self.client
        assert client is not None and client.connected
        client.connected = False
        self.callbacks.clear()
        assert client.on_disconnect is not None
        client.on_disconnect()

    def ble_device(self) -> BLEDevice:
        return BLEDevice(self.address, self.name, details=None)

    def client_backend(self) -> type[BaseBleakClient]:
        return type("FakeClient", (FakeClientBase,), {"peripheral": self})

    def scanner_backend(self) -> type[BaseBleakScanner]:
        return type("FakeScanner", (FakeScannerBase,), {"peripherals": [self]})


class FakeClientBase(BaseBleakClient):
    peripheral: FakePeripheral

    def __init__(self, address_or_ble_device: BLEDevice | str, **kwargs: Any) -> None:
        # What bleak asks its backend to call on an unsolicited disconnect, kept as given.
        self.on_disconnect = kwargs.pop("disconnected_callback", None)
        super().__init__(
            address_or_ble_device,
            disconnected_callback=self.on_disconnect,
            timeout=kwargs.pop("timeout", 10.0),
        )
        self.connected = False

    @property
    def name(self) -> str:
        return self.peripheral.name

    @property
    def mtu_size(self) -> int:
        return 23

    async def connect(self, pair: bool, **kwargs: Any) -> None:
        p = self.peripheral
        if p.refuse_connections > 0:
            p.refuse_connections -= 1
            raise BleakError("peripheral refused the connection (simulated)")
        handle = 1
        collection = BleakGATTServiceCollection()
        for service_uuid, characteristics in p.services.items():
            service = BleakGATTService(None, handle, service_uuid)
            collection.add_service(service)
            for uuid in characteristics:
                handle += 1
                characteristic = BleakGATTCharacteristic(
                    None, handle, uuid, ["read", "notify", "indicate"], lambda: 20, service
                )
                collection.add_characteristic(characteristic)
            handle += 1
        self.services = collection
        self.connected = True
        p.client = self
        p.connects += 1

    async def disconnect(self) -> None:
        if self.connected:
            self.peripheral.disconnects += 1
        self.connected = False

    async def pair(self, *args: Any, **kwargs: Any) -> None:
        return None

    async def unpair(self) -> None:
        return None

    @property
    def is_connected(self) -> bool:
        return self.connected

    async def read_gatt_char(
        self, characteristic: BleakGATTCharacteristic, *, use_cached: bool = False, **kwargs: Any
    ) -> bytearray:
        self.peripheral.reads.append(characteristic.uuid)
        return bytearray(self.peripheral.values[characteristic.uuid])

    async def read_gatt_descriptor(
        self, descriptor: Any, *, use_cached: bool = False, **kwargs: Any
    ) -> bytearray:
        return bytearray()

    async def write_gatt_char(self, characteristic: Any, data: Any, response: bool) -> None:
        return None

    async def write_gatt_descriptor(self, descriptor: Any, data: Any) -> None:
        return None

    async def start_notify(
        self, characteristic: BleakGATTCharacteristic, callback: NotifyCallback, **kwargs: Any
    ) -> None:
        self.peripheral.callbacks[characteristic.uuid] = callback

    async def stop_notify(self, characteristic: BleakGATTCharacteristic) -> None:
        self.peripheral.callbacks.pop(characteristic.uuid, None)


class FakeScannerBase(BaseBleakScanner):
    peripherals: list[FakePeripheral]
    extra: ClassVar[list[tuple[str, str | None, list[str]]]] = []

    def __init__(
        self,
        detection_callback: Callable | None = None,
        service_uuids: list[str] | None = None,
        *args: Any,
        **kwargs: Any,
    ) -> None:
        super().__init__(detection_callback, service_uuids)

    async def start(self) -> None:
        self.seen_devices = {}
        self._radio = asyncio.create_task(self._advertise())

    async def _advertise(self) -> None:
        """Peripherals advertise over and over, as on a real radio."""
        entries = [(p.address, p.name, list(p.services)) for p in self.peripherals] + self.extra
        while True:
            for address, name, uuids in entries:
                advertisement = AdvertisementData(name, {}, {}, uuids, None, -60, ())
                device = self.create_or_update_device(address, address, name, None, advertisement)
                self.call_detection_callbacks(device, advertisement)
            await asyncio.sleep(0.001)

    async def stop(self) -> None:
        self._radio.cancel()
