"""Masimo Rad-8 / Radical-7 serial ASCII output: one ``KEY=VALUE`` line per second.

Lines differ by model and firmware, so fields are found by key, never by position; unknown
keys are kept raw and never cause a failure.
"""

from __future__ import annotations

import re
from typing import Any

from devices.decoders.base import DecodeResult, Ranges, bit_names
from devices.errors import DecodeError
from devices.measurement import Measurement, build_measurement
from devices.settings import DEFAULT_PLAUSIBLE_RANGES
from vocabulary import Parameter, QualityFlag

VALUE_KEYS = {"SPO2": Parameter.SPO2, "BPM": Parameter.PULSE_RATE, "PI": Parameter.PERFUSION_INDEX}
KNOWN_KEYS = frozenset(
    {
        *VALUE_KEYS,
        "SN",
        "EXC",
        "EXC1",
        "ALARM",
        "DESAT",
        "PIDELTA",
        "SPCO",
        "SPMET",
        "SPHB",
        "PVI",
        "PR",
        "SPOC",
        "ALMLIM",
        "ALM",
    }
)
EXCEPTION_BITS = {
    0: "no_sensor",
    1: "defective_sensor",
    2: "low_perfusion",
    3: "pulse_search",
    4: "interference",
    5: "sensor_off_patient",
    6: "ambient_light",
    7: "unrecognized_sensor",
    10: "low_signal_iq",
    11: "set_mode",
}
EXCEPTION_FLAGS = {
    0: QualityFlag.SENSOR_DISCONNECTED,
    1: QualityFlag.INVALID,
    2: QualityFlag.LOW_PERFUSION,
    3: QualityFlag.SEARCHING,
    4: QualityFlag.ARTIFACT,
    5: QualityFlag.NO_FINGER,
    6: QualityFlag.QUESTIONABLE,
    7: QualityFlag.INVALID,
    10: QualityFlag.LOW_SIGNAL,
}
_DATE = re.compile(r"^\d{1,2}/\d{1,2}/\d{2,4}$")
_TIME = re.compile(r"^\d{1,2}:\d{2}(:\d{2})?$")
_LINE_START = re.compile(r"^\s*(\d{1,2}/\d{1,2}/\d{2,4}\s|(" + "|".join(KNOWN_KEYS) + r")=)")
_MISSING = re.compile(r"^[+-]?[-.]*-[-.]*$")  # dashes, maybe with a dot or a sign: ---, --.-, +--


def _number(key: str, text: str) -> float | int | None:
    value = text.strip().rstrip("%")
    if value == "" or _MISSING.match(value):
        return None
    try:
        return float(value) if "." in value else int(value, 10)
    except ValueError:
        raise DecodeError(f"masimo: {key} value {text!r} is not a number") from None


def parse_masimo_line(line: str, ranges: Ranges = DEFAULT_PLAUSIBLE_RANGES) -> Measurement:
    tokens = line.split()
    fields: dict[str, str] = {}
    status: dict[str, Any] = {}
    for token in tokens:
        key, sep, value = token.partition("=")
        if sep:
            fields[key.upper()] = value
        elif _DATE.match(token):
            status["date"] = token
        elif _TIME.match(token):
            status["time"] = token
    if not any(key in fields for key in ("SPO2", "BPM")):
        raise DecodeError(
            f"masimo: not a data line (no SPO2= or BPM= field): {line.strip()[:80]!r}"
        )
    readings: dict[Parameter, float | None] = {
        parameter: _number(key, fields[key])
        for key, parameter in VALUE_KEYS.items()
        if key in fields
    }
    flags: set[QualityFlag] = set()
    if "EXC" in fields:
        try:
            exc = int(fields["EXC"], 16)
        except ValueError:
            raise DecodeError(f"masimo: EXC value {fields['EXC']!r} is not hexadecimal") from None
        status["exceptions"] = exc
        status["exception_bits"] = bit_names(exc, EXCEPTION_BITS)
        flags.update(f for bit, f in EXCEPTION_FLAGS.items() if exc & (1 << bit))
    if "ALARM" in fields:
        status["alarm"] = fields["ALARM"]  # proprietary bits: kept raw
    status["fields"] = fields
    return build_measurement("masimo", readings, flags, status, ranges=ranges)


class MasimoDecoder:
    """Line-buffered; a torn first line (joined mid-line) is dropped unless it looks whole."""

    protocol = "masimo"

    def __init__(self, ranges: Ranges = DEFAULT_PLAUSIBLE_RANGES) -> None:
        self._ranges = ranges
        self._buffer = ""
        self._at_line_start = False

    def feed(self, chunk: bytes | str) -> list[DecodeResult]:
        text = chunk if isinstance(chunk, str) else bytes(chunk).decode("ascii", errors="replace")
        self._buffer += text
        results: list[DecodeResult] = []
        while True:
            match = re.search(r"[\r\n]", self._buffer)
            if match is None:
                break
            line = self._buffer[: match.start()]
            self._buffer = self._buffer[match.end() :]
            first, self._at_line_start = not self._at_line_start, True
            if first and not _LINE_START.match(line):
                continue  # the tail of a line we joined halfway through
            results.extend(self._line(line))
        return results

    def _line(self, line: str) -> list[DecodeResult]:
        if not line.strip():
            return []
        try:
            return [parse_masimo_line(line, self._ranges)]
        except DecodeError as error:
            return [error]

    def flush(self) -> list[DecodeResult]:
        line, self._buffer = self._buffer, ""
        first = not self._at_line_start
        self._at_line_start = False
        if first and line.strip() and not _LINE_START.match(line):
            return [DecodeError(f"masimo: incomplete line at the end of the stream: {line[:80]!r}")]
        return self._line(line)
