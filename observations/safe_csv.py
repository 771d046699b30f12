"""CSV that a spreadsheet cannot turn into a formula (CSV/formula injection)."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence
from typing import Any

# A cell starting with one of these is run as a formula by Excel, LibreOffice and Sheets.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# A signed plain number ("-1", "+2.5") is data, not a formula: it must reach the sheet as itself.
PLAIN_NUMBER = re.compile(r"[-+]?\d+(\.\d+)?")


def neutralise(value: Any) -> Any:
    """Prefix text that would start a formula with an apostrophe; numbers pass unchanged.

    Negative numbers stay numbers, whether passed as numbers or already formatted as text.
    """
    if (
        isinstance(value, str)
        and value.startswith(FORMULA_STARTS)
        and not PLAIN_NUMBER.fullmatch(value)
    ):
        return "'" + value
    return value


def to_csv(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([neutralise(h) for h in header])
    for row in rows:
        writer.writerow(["" if v is None else neutralise(v) for v in row])
    return buffer.getvalue()
