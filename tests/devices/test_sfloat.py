from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from devices.sfloat import Special, decode_sfloat, encode_sfloat, sfloat_from


@pytest.mark.parametrize(
    ("wire", "expected"),
    [
        ("72 00", 114),
        ("F6 F4", 127.0),
        ("E8 F3", 100.0),
        ("7A E3", 8.90),
        ("D5 F3", 98.1),
        ("C5 F3", 96.5),
    ],
)
def test_devices_md_vectors(wire: str, expected: float) -> None:
    assert sfloat_from(bytes.fromhex(wire), 0) == expected


@pytest.mark.parametrize(
    ("wire", "special"),
    [
        ("FF 07", Special.NAN),
        ("00 08", Special.NRES),
        ("FE 07", Special.POSITIVE_INFINITY),
        ("02 08", Special.NEGATIVE_INFINITY),
        ("01 08", Special.RESERVED),
    ],
)
def test_special_values_are_not_numbers(wire: str, special: Special) -> None:
    assert sfloat_from(bytes.fromhex(wire), 0) is special


def test_no_exponent_bias() -> None:
    # 0x8??? with a 4-bit two's-complement exponent of -8, not +0 as a bias-8 decoder would read.
    assert decode_sfloat(0x8001) == pytest.approx(1e-8)
    assert decode_sfloat(0x1001) == 10


def test_negative_mantissa() -> None:
    assert decode_sfloat(0x0FFF) == -1
    assert decode_sfloat(0xF800) == -204.8


def test_big_endian_read() -> None:
    assert sfloat_from(bytes.fromhex("00 48"), 0, big_endian=True) == 72


@given(st.integers(-2045, 2045), st.integers(-8, 7))
def test_encode_decode_round_trip(mantissa: int, exponent: int) -> None:
    raw = encode_sfloat(mantissa * 10.0**exponent, exponent=exponent)
    value = decode_sfloat(raw)
    if raw in (0x07FF, 0x0800, 0x07FE, 0x0802, 0x0801):
        assert isinstance(value, Special)
    else:
        assert value == pytest.approx(mantissa * 10.0**exponent)


def test_encode_missing_is_nan() -> None:
    assert encode_sfloat(None) == 0x07FF
