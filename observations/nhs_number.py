"""NHS number: ten digits, the last a Modulus 11 check digit (NHS Data Dictionary)."""

from __future__ import annotations

import re
from collections.abc import Iterator

_WEIGHTS = (10, 9, 8, 7, 6, 5, 4, 3, 2)
# 999 000 0000 - 999 999 9999 are issued for testing and never belong to a real person.
TEST_RANGE = range(9_990_000_000, 10_000_000_000)


class InvalidNhsNumber(ValueError):
    pass


def normalise(text: str) -> str:
    """Digits only: accepts the usual '943 476 5919' and '943-476-5919' spellings."""
    return re.sub(r"[\s-]", "", text or "")


def check_digit(first_nine: str) -> int | None:
    """The Modulus 11 check digit, or None when no valid number can end these nine digits."""
    total = sum(int(d) * w for d, w in zip(first_nine, _WEIGHTS, strict=True))
    digit = 11 - total % 11
    if digit == 11:
        return 0
    if digit == 10:
        return None
    return digit


def validate(text: str) -> str:
    """Return the ten digits, or raise InvalidNhsNumber with a message a nurse understands."""
    digits = normalise(text)
    if not digits:
        raise InvalidNhsNumber("Enter the NHS number (10 digits).")
    # ASCII digits only: isdigit() alone takes Arabic-Indic or superscript digits too.
    if not (digits.isascii() and digits.isdigit()) or len(digits) != 10:
        raise InvalidNhsNumber(
            f"An NHS number has exactly 10 digits; '{text.strip()}' does not. Check the wristband."
        )
    expected = check_digit(digits[:9])
    if expected is None or expected != int(digits[9]):
        raise InvalidNhsNumber(
            f"NHS number {format_nhs(digits)} fails its check digit: a digit is probably mistyped. "
            "Check it against the wristband."
        )
    return digits


def is_test_number(digits: str) -> bool:
    return int(digits) in TEST_RANGE


def format_nhs(digits: str) -> str:
    """The 3-3-4 spacing printed on wristbands and letters."""
    return f"{digits[:3]} {digits[3:6]} {digits[6:]}" if len(digits) == 10 else digits


def nhs_test_numbers() -> Iterator[tuple[str, int]]:
    """Valid NHS test numbers (999 series) in order, each with its serial: for demo patients
    and benchmarks, which must never take a real person's number."""
    for serial in range(1, 1_000_000):
        nine = f"999{serial:06d}"
        digit = check_digit(nine)
        if digit is not None:
            yield nine + str(digit), serial
