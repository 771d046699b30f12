"""Bluetooth LE transport (bleak + bleak-retry-connector) and scanning.

Any bleak backend works: production uses the platform's (BlueZ on Linux); tests pass a fake
``BaseBleakClient``/``BaseBleakScanner`` subclass, or one driving an in-process bumble link.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bleak import BleakClient, BleakScanner
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.client import BaseBleakClient
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import BaseBleakScanner
from bleak.exc import BleakError
from bleak_retry_connector import BleakConnectionError, BleakNotFoundError, establish_connection

from devices.decoders import Decoder, PlxFeatures, parse_plx_features
from devices.errors import BluetoothUnavailableError, DecodeError
from devices.link import LinkLost, Transport
from devices.measurement import utc_now
from devices.protocols import (
    BLE_SERVICE_PROTOCOLS,
    PLX_FEATURES,
    PLX_SERVICE,
    get_protocol,
    make_decoder,
    recognise_ble,
)
from devices.settings import DEFAULT_SETTINGS, DeviceSettings

# bleak-retry-connector retries internally; our own loop adds the long-term back-off.
CONNECT_ATTEMPTS = 3

_NO_BLUETOOTH_ADVICE = (
    "no usable Bluetooth: check that the machine has an adapter (`bluetoothctl list`), that "
    "BlueZ >= 5.55 is running (`systemctl status bluetooth`) and that this user may use it "
    "(group `bluetooth`)"
)


@dataclass(frozen=True)
class FoundDevice:
    """An advertising device this software can read."""

    address: str
    name: str | None
    protocol: str
    rssi: int | None
    service_uuids: list[str] = field(default_factory=list)


def _unavailable(error: BaseException) -> BluetoothUnavailableError:
    return BluetoothUnavailableError(f"{_NO_BLUETOOTH_ADVICE} ({type(error).__name__}: {error})")


async def scan(
    timeout: float | None = None,
    *,
    settings: DeviceSettings = DEFAULT_SETTINGS,
    scanner_backend: type[BaseBleakScanner] | None = None,
) -> list[FoundDevice]:
    """Recognised devices in range, strongest first; raises BluetoothUnavailableError."""
    kwargs: dict[str, Any] = {} if scanner_backend is None else {"backend": scanner_backend}
    try:
        seen = await BleakScanner.discover(
            timeout=settings.scan_time_s if timeout is None else timeout, return_adv=True, **kwargs
        )
    except (BleakError, OSError, ImportError) as error:  # no adapter, no BlueZ, no D-Bus
        raise _unavailable(error) from error
    found = []
    for device, advertisement in seen.values():
        name = advertisement.local_name or device.name
        protocol = recognise_ble(name, list(advertisement.service_uuids))
        if protocol is not None:
            found.append(
                FoundDevice(
                    device.address,
                    name,
                    protocol,
                    advertisement.rssi,
                    list(advertisement.service_uuids),
                )
            )
    return sorted(found, key=lambda d: -(d.rssi if d.rssi is not None else -999))


class BleDevice(Transport):
    """One assigned BLE device, kept connected for as long as it is assigned.

    ``protocol`` may be None: it is then recognised from the services the device offers.
    ``ble_device`` skips scanning (useful when the caller already scanned).
    """

    def __init__(
        self,
        address: str,
        protocol: str | None = None,
        *,
        settings: DeviceSettings = DEFAULT_SETTINGS,
        clock: Callable[[], datetime] = utc_now,
        ble_device: BLEDevice | None = None,
        client_backend: type[BaseBleakClient] | None = None,
        scanner_backend: type[BaseBleakScanner] | None = None,
    ) -> None:
        if protocol is not None:
            get_protocol(protocol)  # fail early on a typo
        super().__init__(f"ble:{address}", protocol or "auto", settings=settings, clock=clock)
        self.address = address
        self.requested_protocol = protocol
        self._ble_device = ble_device
        self._client_backend = client_backend
        self._scanner_backend = scanner_backend
        self.features: PlxFeatures | None = None

    async def _find(self) -> BLEDevice:
        if self._ble_device is not None:
            return self._ble_device
        kwargs: dict[str, Any] = {}
        if self._scanner_backend is not None:
            kwargs["backend"] = self._scanner_backend
        try:
            device = await BleakScanner.find_device_by_address(
                self.address, timeout=self.settings.scan_time_s, **kwargs
            )
        except (BleakError, OSError, ImportError) as error:
            raise LinkLost(str(_unavailable(error))) from error
        if device is None:
            raise LinkLost(
                f"{self.address} not found: is it switched on, in range, and not connected to "
                "another phone or computer?"
            )
        return device

    def _client_class(self) -> Any:
        if self._client_backend is None:
            return BleakClient
        return functools.partial(BleakClient, backend=self._client_backend)

    async def _session(self) -> None:
        device = await self._find()
        loop = asyncio.get_running_loop()
        lost = asyncio.Event()

        def on_disconnect(_client: BleakClient) -> None:
            loop.call_soon_threadsafe(lost.set)

        try:
            client: BleakClient = await establish_connection(
                self._client_class(),
                device,
                device.name or self.address,
                disconnected_callback=on_disconnect,
                max_attempts=CONNECT_ATTEMPTS,
            )
        except (BleakNotFoundError, BleakConnectionError, BleakError, TimeoutError) as error:
            raise LinkLost(f"could not connect to {self.address}: {error}") from error
        try:
            await self._subscribe(client, device.name)
            self._connected(
                f"connected to {device.name or 'device'} ({self.address}), {self.protocol}"
            )
            await lost.wait()
            raise LinkLost("Bluetooth link lost (out of range, switched off or battery flat)")
        except BleakError as error:
            raise LinkLost(f"Bluetooth error from {self.address}: {error}") from error
        finally:
            if client.is_connected:
                with contextlib.suppress(Exception):
                    await client.disconnect()

    def _recognise(self, client: BleakClient) -> str:
        if self.requested_protocol is not None:
            return self.requested_protocol
        offered = {service.uuid.lower() for service in client.services}
        for uuid, protocol in BLE_SERVICE_PROTOCOLS.items():
            if uuid in offered:
                return protocol
        raise LinkLost(f"{self.address} offers no supported service")

    async def _subscribe(self, client: BleakClient, name: str | None) -> None:
        protocol = get_protocol(self._recognise(client))
        self.protocol = protocol.name
        self.quiet_time_s = self.settings.quiet_time_for(protocol.name)
        services = client.services
        self.features = None
        if services.get_service(PLX_SERVICE) and services.get_characteristic(PLX_FEATURES):
            # A status bit is only meaningful if the features say it is supported.
            raw = await client.read_gatt_char(PLX_FEATURES)
            try:
                self.features = parse_plx_features(bytes(raw))
            except DecodeError as error:
                raise LinkLost(f"PLX Features unreadable: {error}") from error
        subscribed = 0
        for uuid, decoder_protocol in protocol.ble_notify.items():
            if services.get_characteristic(uuid) is None:
                continue
            decoder = make_decoder(
                decoder_protocol,
                device_name=name,
                features=self.features,
                ranges=self.settings.plausible_ranges,
            )
            await client.start_notify(uuid, self._on_notify(decoder))
            subscribed += 1
        if not subscribed:
            raise LinkLost(f"{self.address} has no {protocol.title} characteristic to subscribe to")

    def _on_notify(self, decoder: Decoder) -> Callable[[BleakGATTCharacteristic, bytearray], None]:
        def deliver(_characteristic: BleakGATTCharacteristic, data: bytearray) -> None:
            self._deliver(decoder, bytes(data))

        return deliver
