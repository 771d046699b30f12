"""IEEE 11073-20601 SFLOAT: the 16-bit medical float of the Bluetooth health profiles.

Bits 0-11 are a 12-bit two's-complement mantissa, bits 12-15 a 4-bit two's-complement base-10
exponent with no bias (one published package applies a bias of 8 and is wrong by 10^8).
"""

from __future__ import annotations

import math
from enum import Enum

NAN = 0x07FF
NRES = 0x0800
POSITIVE_INFINITY = 0x07FE
NEGATIVE_INFINITY = 0x0802
RESERVED = 0x0801


class Special(Enum):
    """Reserved SFLOAT codes; none of them is a measured number."""

    NAN = "nan"
    NRES = "nres"
    POSITIVE_INFINITY = "+inf"
    NEGATIVE_INFINITY = "-inf"
    RESERVED = "reserved"


_SPECIALS = {
    NAN: Special.NAN,
    NRES: Special.NRES,
    POSITIVE_INFINITY: Special.POSITIVE_INFINITY,
    NEGATIVE_INFINITY: Special.NEGATIVE_INFINITY,
    RESERVED: Special.RESERVED,
}


def decode_sfloat(raw: int) -> float | int | Special:
    """The value of a raw 16-bit SFLOAT, or the special code it carries.

    Integral values with a non-negative exponent come back as ``int`` so 138 mmHg stays 138;
    others are divided (not multiplied by 0.1) to avoid binary noise such as 8.900000000000002.
    """
    if not 0 <= raw <= 0xFFFF:
        raise ValueError(f"SFLOAT must be 16 bits, got {raw!r}")
    if raw in _SPECIALS:
        return _SPECIALS[raw]
    mantissa = raw & 0x0FFF
    if mantissa >= 0x0800:
        mantissa -= 0x1000
    exponent = raw >> 12
    if exponent >= 0x8:
        exponent -= 0x10
    if exponent >= 0:
        return mantissa * 10**exponent
    return mantissa / 10**-exponent


def sfloat_from(
    data: bytes | bytearray, offset: int, *, big_endian: bool = False
) -> float | int | Special:
    """Decode the SFLOAT at ``offset`` (little-endian on the wire, as the profiles specify)."""
    return decode_sfloat(
        int.from_bytes(data[offset : offset + 2], "big" if big_endian else "little")
    )


def encode_sfloat(value: float | None, *, exponent: int = 0) -> int:
    """Raw SFLOAT for ``value`` at the given exponent; ``None`` or NaN encodes as NaN.

    Used by the simulator's BLE peripheral and by tests to build frames.
    """
    if value is None or math.isnan(value):
        return NAN
    mantissa = round(value / 10**exponent)
    if not -2045 <= mantissa <= 2045 or not -8 <= exponent <= 7:
        raise ValueError(f"{value} does not fit an SFLOAT at exponent {exponent}")
    return ((exponent & 0xF) << 12) | (mantissa & 0x0FFF)
