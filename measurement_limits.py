"""The one table of what makes a measurement believable: measurement_limits.yaml.

Plausible ranges (read by the device decoders, the record's manual entries and the rules'
command line) and the quiet time after which a streaming device is lost (read by the device
transports and by the rules' ``no_reading`` alarm). It sits beside vocabulary.py, at the floor
every layer may import: it imports nothing of ours but the vocabulary, and only PyYAML besides
the standard library. A bad table is refused at start, every problem naming its line.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml

from vocabulary import DEVICE_UNITS, NO_UNIT, UNITS, Parameter

TABLE_FILE = Path(__file__).with_name("measurement_limits.yaml")

# Every parameter measured in a unit needs a range; pleth (device units) and the coded or graded
# observations (no unit) are limited by their codes instead.
RANGED_PARAMETERS: frozenset[Parameter] = frozenset(
    p for p in Parameter if UNITS[p] not in (NO_UNIT, DEVICE_UNITS)
)
_RANGE_KEYS = ("min", "max", "rationale")
_TOP_KEYS = ("ranges", "quiet_time_s", "quiet_time_rationale")


@dataclass(frozen=True)
class PlausibleRange:
    """Inclusive physiological limits; outside them a value is a decoding or typing error."""

    low: float
    high: float

    def contains(self, value: float) -> bool:
        return self.low <= value <= self.high


@dataclass(frozen=True)
class MeasurementLimits:
    ranges: Mapping[Parameter, PlausibleRange]
    rationales: Mapping[Parameter, str]
    quiet_time_s: float
    quiet_time_rationale: str


@dataclass(frozen=True)
class TableProblem:
    line: int | None
    message: str

    def __str__(self) -> str:
        return f"line {self.line if self.line is not None else '?'}: {self.message}"


class MeasurementLimitsError(ValueError):
    """A table that must not be used; every problem names its line."""

    def __init__(self, source: str, problems: list[TableProblem]) -> None:
        self.source = source
        self.problems = problems
        super().__init__("\n".join(f"{source}: {p}" for p in problems))


def _line(node: yaml.Node) -> int:
    return node.start_mark.line + 1


def _mapping(
    node: yaml.Node, where: str, problems: list[TableProblem]
) -> dict[str, tuple[yaml.Node, yaml.Node]]:
    """A mapping node's entries by key, refusing a key written twice (YAML would keep the last
    silently: a number written twice in the one table meant to hold it once)."""
    if not isinstance(node, yaml.MappingNode):
        problems.append(TableProblem(_line(node), f"{where} must be a mapping"))
        return {}
    entries: dict[str, tuple[yaml.Node, yaml.Node]] = {}
    for key, value in node.value:
        name = str(key.value)
        if name in entries:
            first = _line(entries[name][0])
            problems.append(
                TableProblem(_line(key), f"{where}: {name} written twice (line {first})")
            )
            continue
        entries[name] = (key, value)
    return entries


def _number(node: yaml.Node, where: str, problems: list[TableProblem]) -> float | None:
    value: Any = None
    if isinstance(node, yaml.ScalarNode):
        loader = yaml.SafeLoader("")  # PyYAML's own reading of 10, 10.0, 1e1
        try:
            value = loader.construct_object(node)
        finally:
            loader.dispose()
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        problems.append(TableProblem(_line(node), f"{where} must be a number"))
        return None
    return float(value)


def _text(node: yaml.Node, where: str, problems: list[TableProblem]) -> str:
    if not isinstance(node, yaml.ScalarNode) or not str(node.value).strip():
        problems.append(TableProblem(_line(node), f"{where} must be a sentence saying why"))
        return ""
    return str(node.value).strip()


def _unknown(
    entries: Mapping[str, tuple[yaml.Node, yaml.Node]],
    allowed: tuple[str, ...],
    where: str,
    problems: list[TableProblem],
) -> None:
    for name, (key, _) in entries.items():
        if name not in allowed:
            expected = ", ".join(allowed)
            problems.append(TableProblem(_line(key), f"{where}: unknown key {name!r} ({expected})"))


def _ranges(
    heading: yaml.Node, node: yaml.Node, problems: list[TableProblem]
) -> tuple[dict[Parameter, PlausibleRange], dict[Parameter, str]]:
    ranges: dict[Parameter, PlausibleRange] = {}
    rationales: dict[Parameter, str] = {}
    for name, (key, value) in _mapping(node, "ranges", problems).items():
        if name not in {p.value for p in RANGED_PARAMETERS}:
            known = ", ".join(sorted(p.value for p in RANGED_PARAMETERS))
            problems.append(
                TableProblem(_line(key), f"ranges: {name!r} is not a measured parameter ({known})")
            )
            continue
        where = f"ranges.{name}"
        fields = _mapping(value, where, problems)
        _unknown(fields, _RANGE_KEYS, where, problems)
        missing = [k for k in _RANGE_KEYS if k not in fields]
        if missing:
            problems.append(TableProblem(_line(key), f"{where}: missing {', '.join(missing)}"))
            continue
        low = _number(fields["min"][1], f"{where}.min", problems)
        high = _number(fields["max"][1], f"{where}.max", problems)
        why = _text(fields["rationale"][1], f"{where}.rationale", problems)
        if low is None or high is None:
            continue
        if low >= high:
            problems.append(
                TableProblem(
                    _line(fields["min"][1]), f"{where}: min {low:g} is not below max {high:g}"
                )
            )
            continue
        ranges[Parameter(name)] = PlausibleRange(low, high)
        rationales[Parameter(name)] = why
    for parameter in sorted(RANGED_PARAMETERS - set(ranges)):
        if not any(p.message.startswith(f"ranges.{parameter.value}") for p in problems):
            problems.append(TableProblem(_line(heading), f"ranges: no range for {parameter.value}"))
    return ranges, rationales


def parse_measurement_limits(text: str, source: str = "<measurement limits>") -> MeasurementLimits:
    """Validate the table's YAML text; raises MeasurementLimitsError naming every problem's line."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        raise MeasurementLimitsError(
            source, [TableProblem(line, f"not valid YAML: {exc.problem or exc}")]
        ) from exc
    if root is None:
        raise MeasurementLimitsError(source, [TableProblem(1, "the table is empty")])
    problems: list[TableProblem] = []
    top = _mapping(root, "the table", problems)
    _unknown(top, _TOP_KEYS, "the table", problems)
    for name in _TOP_KEYS:
        if name not in top:
            problems.append(TableProblem(_line(root), f"missing {name}"))
    ranges: dict[Parameter, PlausibleRange] = {}
    rationales: dict[Parameter, str] = {}
    if "ranges" in top:
        ranges, rationales = _ranges(*top["ranges"], problems)
    quiet: float | None = None
    if "quiet_time_s" in top:
        quiet = _number(top["quiet_time_s"][1], "quiet_time_s", problems)
        if quiet is not None and quiet <= 0:
            line = _line(top["quiet_time_s"][1])
            problems.append(TableProblem(line, f"quiet_time_s {quiet:g} must be positive"))
    why = ""
    if "quiet_time_rationale" in top:
        why = _text(top["quiet_time_rationale"][1], "quiet_time_rationale", problems)
    if problems or quiet is None:
        problems.sort(key=lambda p: p.line or 0)
        raise MeasurementLimitsError(source, problems)
    return MeasurementLimits(
        ranges=MappingProxyType(ranges),
        rationales=MappingProxyType(rationales),
        quiet_time_s=quiet,
        quiet_time_rationale=why,
    )


@cache  # read and checked once per process
def load_measurement_limits(path: Path = TABLE_FILE) -> MeasurementLimits:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise MeasurementLimitsError(
            str(path), [TableProblem(None, f"cannot read: {exc}")]
        ) from exc
    return parse_measurement_limits(text, path.name)


def plausible_ranges() -> Mapping[Parameter, PlausibleRange]:
    return load_measurement_limits().ranges


def quiet_time_s() -> float:
    return load_measurement_limits().quiet_time_s
