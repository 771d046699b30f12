"""A bleak client backend that drives a bumble central on an in-process bumble link.

With it an unmodified ``BleakClient`` (and so the production ``BleDevice``) discovers real GATT
services, writes real CCCDs, receives real notifications and sees real disconnections, with no
radio, BlueZ or D-Bus.
"""

from __future__ import annotations

from typing import Any

from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.client import BaseBleakClient, NotifyCallback
from bleak.backends.device import BLEDevice
from bleak.backends.service import BleakGATTService, BleakGATTServiceCollection
from bleak.uuids import normalize_uuid_str
from bumble.controller import Controller
from bumble.core import UUID
from bumble.device import Connection, Device, Peer
from bumble.gatt import Characteristic
from bumble.hci import Address
from bumble.host import Host
from bumble.link import LocalLink
from bumble.transport.common import AsyncPipeSink

_PROPERTY_NAMES = {
    Characteristic.Properties.READ: "read",
    Characteristic.Properties.WRITE: "write",
    Characteristic.Properties.WRITE_WITHOUT_RESPONSE: "write-without-response",
    Characteristic.Properties.NOTIFY: "notify",
    Characteristic.Properties.INDICATE: "indicate",
}


def bleak_uuid(uuid: UUID) -> str:
    return normalize_uuid_str(uuid.to_hex_str("-"))


def bumble_device(link: LocalLink, address: str, name: str) -> Device:
    controller = Controller(name, link=link, public_address=address)
    device = Device(address=Address(address), host=Host(controller, AsyncPipeSink(controller)))
    device.name = name
    return device


class BumbleClientBase(BaseBleakClient):
    """Subclass with ``central`` (a powered-on bumble Device) and ``peripheral_address`` set."""

    central: Device
    peripheral_address: Address

    def __init__(self, address_or_ble_device: BLEDevice | str, **kwargs: Any) -> None:
        super().__init__(
            address_or_ble_device,
            disconnected_callback=kwargs.pop("disconnected_callback", None),
            timeout=kwargs.pop("timeout", 10.0),
        )
        self._connection: Connection | None = None
        self._peer: Peer | None = None

    @property
    def name(self) -> str:
        return "bumble peripheral"

    @property
    def mtu_size(self) -> int:
        return 23

    async def connect(self, pair: bool, **kwargs: Any) -> None:
        connection = await self.central.connect(self.peripheral_address)
        self._connection = connection
        connection.on(connection.EVENT_DISCONNECTION, self._on_disconnection)
        peer = Peer(connection)
        await peer.discover_services()
        await peer.discover_characteristics()
        self._peer = peer
        collection = BleakGATTServiceCollection()
        for service in peer.services:
            bleak_service = BleakGATTService(service, service.handle, bleak_uuid(service.uuid))
            collection.add_service(bleak_service)
            for characteristic in service.characteristics:
                properties = [
                    n for p, n in _PROPERTY_NAMES.items() if characteristic.properties & p
                ]
                collection.add_characteristic(
                    BleakGATTCharacteristic(
                        characteristic,
                        characteristic.handle,
                        bleak_uuid(characteristic.uuid),
                        properties,
                        lambda: 20,
                        bleak_service,  # type: ignore[arg-type]
                    )
                )
        self.services = collection

    def _on_disconnection(self, _reason: int) -> None:
        self._connection = None
        if self._disconnected_callback is not None:
            self._disconnected_callback()

    async def disconnect(self) -> None:
        if self._connection is not None:
            connection, self._connection = self._connection, None
            connection.remove_listener(connection.EVENT_DISCONNECTION, self._on_disconnection)
            await connection.disconnect()

    async def pair(self, *args: Any, **kwargs: Any) -> None:
        raise NotImplementedError

    async def unpair(self) -> None:
        raise NotImplementedError

    @property
    def is_connected(self) -> bool:
        return self._connection is not None

    async def read_gatt_char(
        self, characteristic: BleakGATTCharacteristic, *, use_cached: bool = False, **kwargs: Any
    ) -> bytearray:
        return bytearray(await characteristic.obj.read_value())

    async def read_gatt_descriptor(self, descriptor: Any, **kwargs: Any) -> bytearray:
        raise NotImplementedError

    async def write_gatt_char(self, characteristic: Any, data: Any, response: bool) -> None:
        await characteristic.obj.write_value(bytes(data), with_response=response)

    async def write_gatt_descriptor(self, descriptor: Any, data: Any) -> None:
        raise NotImplementedError

    async def start_notify(
        self, characteristic: BleakGATTCharacteristic, callback: NotifyCallback, **kwargs: Any
    ) -> None:
        # subscribe() writes the CCCD on the peripheral (notify, or indicate when that is all).
        await characteristic.obj.subscribe(lambda value: callback(bytearray(value)))

    async def stop_notify(self, characteristic: BleakGATTCharacteristic) -> None:
        await characteristic.obj.unsubscribe()
