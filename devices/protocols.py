"""The protocols devices/ speaks: names (as used by the CLI and device assignments), how to
reach each one over BLE or serial, and how to make its decoder."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from types import MappingProxyType

from devices.decoders import (
    BerryMedDecoder,
    Decoder,
    FrameDecoder,
    MasimoDecoder,
    NoninSerialDecoder,
    PlxFeatures,
    parse_blood_pressure,
    parse_heart_rate,
    parse_nonin_ble,
    parse_plx_continuous,
    parse_plx_spot_check,
)
from devices.decoders.plx import features_measurement
from devices.errors import UnknownProtocolError
from devices.settings import DEFAULT_PLAUSIBLE_RANGES, PlausibleRange
from vocabulary import Parameter


def sig_uuid(short: int) -> str:
    """Expand a 16-bit Bluetooth SIG UUID with the base UUID."""
    return f"0000{short:04x}-0000-1000-8000-00805f9b34fb"


PLX_SERVICE = sig_uuid(0x1822)
PLX_SPOT_CHECK = sig_uuid(0x2A5E)
PLX_CONTINUOUS = sig_uuid(0x2A5F)
PLX_FEATURES = sig_uuid(0x2A60)
BP_SERVICE = sig_uuid(0x1810)
BP_MEASUREMENT = sig_uuid(0x2A35)
BP_INTERMEDIATE_CUFF = sig_uuid(0x2A36)
HR_SERVICE = sig_uuid(0x180D)
HR_MEASUREMENT = sig_uuid(0x2A37)
BERRYMED_SERVICE = "49535343-fe7d-4ae5-8fa9-9fafd205e455"
BERRYMED_NOTIFY = "49535343-1e4d-4bd9-ba61-23c647249616"
NONIN_SERVICE = "46a970e0-0d5f-11e2-8b5e-0002a5d5c51b"
NONIN_OXIMETRY = "0aad7ea0-0d60-11e2-8e3c-0002a5d5c51b"


OXIMETER_STREAMS: frozenset[Parameter] = frozenset({Parameter.SPO2, Parameter.PULSE_RATE})


@dataclass(frozen=True)
class SerialProfile:
    """Port settings and the commands a serial device needs before (and while) it streams."""

    baudrate: int
    parity: str = "N"  # pyserial's PARITY_NONE / PARITY_ODD letters
    bytesize: int = 8
    stopbits: int = 1
    init: bytes = b""
    keep_alive: bytes = b""
    keep_alive_every_s: float | None = None


@dataclass(frozen=True)
class Protocol:
    name: str
    title: str
    decoder_factory: Callable[..., Decoder]
    ble_service: str | None = None
    # Characteristic UUID -> protocol name of the decoder for its notifications.
    ble_notify: Mapping[str, str] = field(default_factory=dict)
    serial: SerialProfile | None = None
    # What the device sends continuously, so its silence means it is lost (a cuff measures on
    # request and a spot-check oximeter on demand: their silence means nothing).
    streams: frozenset[Parameter] = OXIMETER_STREAMS

    def decoder(
        self,
        *,
        device_name: str | None = None,
        features: PlxFeatures | None = None,
        ranges: Mapping[Parameter, PlausibleRange] = DEFAULT_PLAUSIBLE_RANGES,
    ) -> Decoder:
        return self.decoder_factory(device_name=device_name, features=features, ranges=ranges)


def _frame(
    protocol: str, parse: Callable[..., object], *, uses: tuple[str, ...] = ()
) -> Callable[..., Decoder]:
    def factory(*, device_name=None, features=None, ranges=DEFAULT_PLAUSIBLE_RANGES) -> Decoder:  # type: ignore[no-untyped-def]
        options = {"device_name": device_name, "features": features, "ranges": ranges}
        return FrameDecoder(protocol, partial(parse, **{k: options[k] for k in uses}))  # type: ignore[arg-type]

    return factory


def _stream(make: Callable[..., Decoder]) -> Callable[..., Decoder]:
    def factory(*, device_name=None, features=None, ranges=DEFAULT_PLAUSIBLE_RANGES) -> Decoder:  # type: ignore[no-untyped-def]
        return make(ranges=ranges)

    return factory


_NONIN_FORMAT_7_SELECT = bytes.fromhex("02 70 02 02 07 03")  # device answers 06 ACK / 15 NAK

PROTOCOLS: Mapping[str, Protocol] = MappingProxyType(
    {
        p.name: p
        for p in (
            Protocol(
                "plx-continuous",
                "Pulse Oximeter Service, continuous (0x2A5F)",
                _frame("plx-continuous", parse_plx_continuous, uses=("features", "ranges")),
                PLX_SERVICE,
                MappingProxyType(
                    {PLX_CONTINUOUS: "plx-continuous", PLX_SPOT_CHECK: "plx-spot-check"}
                ),
            ),
            Protocol(
                "plx-spot-check",
                "Pulse Oximeter Service, spot-check (0x2A5E)",
                _frame("plx-spot-check", parse_plx_spot_check, uses=("features", "ranges")),
                PLX_SERVICE,
                MappingProxyType({PLX_SPOT_CHECK: "plx-spot-check"}),
                streams=frozenset(),
            ),
            Protocol(
                "plx-features",
                "Pulse Oximeter Service, features (0x2A60)",
                _frame("plx-features", features_measurement),
                streams=frozenset(),
            ),
            Protocol(
                "bp-measurement",
                "Blood Pressure Service (0x2A35; 0x2A36 as measuring)",
                _frame("bp-measurement", parse_blood_pressure, uses=("device_name", "ranges")),
                BP_SERVICE,
                MappingProxyType(
                    {
                        BP_MEASUREMENT: "bp-measurement",
                        BP_INTERMEDIATE_CUFF: "intermediate-cuff-pressure",
                    }
                ),
                streams=frozenset(),
            ),
            Protocol(
                "intermediate-cuff-pressure",
                "Blood Pressure Service, cuff inflating (0x2A36)",
                _frame(
                    "intermediate-cuff-pressure",
                    partial(parse_blood_pressure, intermediate=True),
                    uses=("device_name", "ranges"),
                ),
                streams=frozenset(),
            ),
            Protocol(
                "heart-rate",
                "Heart Rate Service (0x2A37)",
                _frame("heart-rate", parse_heart_rate, uses=("ranges",)),
                HR_SERVICE,
                MappingProxyType({HR_MEASUREMENT: "heart-rate"}),
                streams=frozenset({Parameter.PULSE_RATE}),
            ),
            Protocol(
                "berrymed",
                "BerryMed BCI 5-byte (BLE) / Contec CMS50 legacy (serial)",
                _stream(BerryMedDecoder),
                BERRYMED_SERVICE,
                MappingProxyType({BERRYMED_NOTIFY: "berrymed"}),
                SerialProfile(19200, parity="O"),
            ),
            Protocol(
                "nonin-ble",
                "Nonin 3150/3230 oximetry characteristic",
                _frame("nonin-ble", parse_nonin_ble, uses=("ranges",)),
                NONIN_SERVICE,
                MappingProxyType({NONIN_OXIMETRY: "nonin-ble"}),
            ),
            Protocol(
                "nonin-2",
                "Nonin serial data format 2",
                _stream(partial(NoninSerialDecoder, 2)),
                serial=SerialProfile(9600),
            ),
            Protocol(
                "nonin-7",
                "Nonin serial data format 7 (16-bit pleth)",
                _stream(partial(NoninSerialDecoder, 7)),
                serial=SerialProfile(9600, init=_NONIN_FORMAT_7_SELECT),
            ),
            Protocol(
                "masimo",
                "Masimo Rad-8 / Radical-7 ASCII serial output",
                _stream(MasimoDecoder),
                serial=SerialProfile(9600),
            ),
        )
    }
)

# Scanning recognises a device by the service it advertises; names cover devices that
# advertise no service UUID (many BerryMed white-label units advertise only "BerryMed").
BLE_SERVICE_PROTOCOLS: Mapping[str, str] = MappingProxyType(
    {
        PLX_SERVICE: "plx-continuous",
        BP_SERVICE: "bp-measurement",
        HR_SERVICE: "heart-rate",
        BERRYMED_SERVICE: "berrymed",
        NONIN_SERVICE: "nonin-ble",
    }
)
BLE_NAME_PROTOCOLS: Mapping[str, str] = MappingProxyType(
    {
        "BERRYMED": "berrymed",
        "BM1000": "berrymed",
        "NONIN": "nonin-ble",
        "3150": "nonin-ble",
        "BM48": "bp-measurement",
        "BM59": "bp-measurement",
        "BM85": "bp-measurement",
        "ELITE900": "bp-measurement",
    }
)


def get_protocol(name: str) -> Protocol:
    try:
        return PROTOCOLS[name]
    except KeyError:
        known = ", ".join(PROTOCOLS)
        raise UnknownProtocolError(f"unknown protocol {name!r}; known protocols: {known}") from None


def make_decoder(
    protocol: str,
    *,
    device_name: str | None = None,
    features: PlxFeatures | None = None,
    ranges: Mapping[Parameter, PlausibleRange] = DEFAULT_PLAUSIBLE_RANGES,
) -> Decoder:
    """A fresh decoder for ``protocol``; ``device_name`` selects vendor quirks (e.g. Beurer)."""
    return get_protocol(protocol).decoder(device_name=device_name, features=features, ranges=ranges)


def recognise_ble(name: str | None, service_uuids: list[str]) -> str | None:
    """The protocol of an advertising device, by service UUID first, then by name."""
    for uuid in service_uuids:
        if (protocol := BLE_SERVICE_PROTOCOLS.get(uuid.lower())) is not None:
            return protocol
    compact = (name or "").upper().replace(" ", "").replace("-", "")
    return next((p for key, p in BLE_NAME_PROTOCOLS.items() if key in compact), None)
