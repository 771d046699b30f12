"""Pure protocol decoders: bytes (or text) in, measurements out; no I/O, no clocks."""

from devices.decoders.base import Decoder, DecodeResult, FrameDecoder
from devices.decoders.berrymed import BerryMedDecoder, parse_berrymed_frame
from devices.decoders.blood_pressure import has_beurer_quirk, parse_blood_pressure
from devices.decoders.heart_rate import parse_heart_rate
from devices.decoders.masimo import MasimoDecoder, parse_masimo_line
from devices.decoders.nonin import NoninSerialDecoder, parse_nonin_ble
from devices.decoders.plx import (
    PlxFeatures,
    parse_plx_continuous,
    parse_plx_features,
    parse_plx_spot_check,
)

__all__ = [
    "BerryMedDecoder",
    "DecodeResult",
    "Decoder",
    "FrameDecoder",
    "MasimoDecoder",
    "NoninSerialDecoder",
    "PlxFeatures",
    "has_beurer_quirk",
    "parse_berrymed_frame",
    "parse_blood_pressure",
    "parse_heart_rate",
    "parse_masimo_line",
    "parse_nonin_ble",
    "parse_plx_continuous",
    "parse_plx_features",
    "parse_plx_spot_check",
]
