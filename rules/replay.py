"""Turn a timeline CSV (`python -m rules replay`) into trial events, and replay it.

Rows at one time that include manual parameters form one observation set; `spo2` and
`pulse_rate` rows are stream readings. Within one instant the order of rows does not matter:
readings go first, then the injection, the observation set, window changes, acknowledgements.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import Any

from rules.engine import TrialEngine
from rules.events import (
    Acknowledgement,
    AlarmEvent,
    Injection,
    ObservationSet,
    Reading,
    TrialEvent,
    WindowExtension,
)
from rules.rule_set import RuleSet
from vocabulary import (
    MRC_POWER_LABELS,
    NON_DISQUALIFYING_FLAGS,
    STREAMED_PARAMETERS,
    Consciousness,
    Parameter,
    Poss,
    QualityFlag,
    SideEffect,
)

TIMELINE_COLUMNS = ("time", "parameter", "value", "flags")
MANUAL_NUMERIC = {
    "systolic": Parameter.SYSTOLIC,
    "diastolic": Parameter.DIASTOLIC,
    "rr": Parameter.RR,
    "temp": Parameter.TEMP,
}
POWER = {
    "power_left_leg": Parameter.POWER_LEFT_LEG,
    "power_right_leg": Parameter.POWER_RIGHT_LEG,
    "power_left_arm": Parameter.POWER_LEFT_ARM,
    "power_right_arm": Parameter.POWER_RIGHT_ARM,
}
MANUAL_PARAMETERS = {*MANUAL_NUMERIC, *POWER, "consciousness", "poss", "on_oxygen", "side_effect"}
STREAM = {"spo2": Parameter.SPO2, "pulse_rate": Parameter.PULSE_RATE}
OTHER = {"injection", "acknowledge", "extend_window"}
ALL_PARAMETERS = sorted({*MANUAL_PARAMETERS, *STREAM, *OTHER})
# A side-effect check that found nothing (so a later set can clear a side-effect alarm).
NO_SIDE_EFFECT = "none"


class TimelineError(ValueError):
    def __init__(self, line: int, message: str) -> None:
        super().__init__(f"line {line}: {message}")
        self.line = line
        self.message = message


@dataclass
class _Instant:
    time: datetime
    readings: list[Reading] = field(default_factory=list)
    injection: Injection | None = None
    set_values: dict[str, Any] = field(default_factory=dict)
    set_lines: dict[str, int] = field(default_factory=dict)
    side_effects: set[SideEffect] | None = None
    extensions: list[WindowExtension] = field(default_factory=list)
    acknowledgements: list[Acknowledgement] = field(default_factory=list)

    def events(self) -> list[TrialEvent]:
        out: list[TrialEvent] = list(self.readings)
        if self.injection is not None:
            out.append(self.injection)
        if self.set_values or self.side_effects is not None:
            side = frozenset(self.side_effects) if self.side_effects is not None else None
            out.append(ObservationSet(self.time, side_effects=side, **self.set_values))
        out.extend(self.extensions)
        out.extend(self.acknowledgements)
        return out


def _number(text: str, line: int, what: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise TimelineError(line, f"{what}: {text!r} is not a number") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise TimelineError(line, f"{what}: {text!r} is not a number")
    return value


def _time(text: str, line: int) -> datetime:
    try:
        time = datetime.fromisoformat(text.strip())
    except ValueError:
        raise TimelineError(line, f"time {text!r} is not ISO 8601") from None
    if time.tzinfo is None or time.utcoffset() is None:
        raise TimelineError(line, f"time {text!r} has no UTC offset (e.g. +00:00)")
    return time


def _flags(text: str, line: int) -> frozenset[QualityFlag]:
    flags = set()
    for part in text.split(";"):
        part = part.strip()
        if not part:
            continue
        try:
            flags.add(QualityFlag(part))
        except ValueError:
            known = ", ".join(f.value for f in QualityFlag)
            raise TimelineError(line, f"unknown flag {part!r}; known: {known}") from None
    return frozenset(flags)


def parse_timeline(
    rows: Iterable[str], known_rules: Iterable[str] | None = None
) -> tuple[list[TrialEvent], datetime | None, tzinfo | None]:
    """Parse the timeline CSV text lines; returns (events in time order, last time, zone of
    the first row). Raises TimelineError naming the line (line 1 is the header)."""
    reader = csv.reader(rows)
    try:
        header = next(reader)
    except StopIteration:
        raise TimelineError(
            1, "empty file: expected the header time,parameter,value,flags"
        ) from None
    names = [h.strip() for h in header]
    for required in ("time", "parameter", "value"):
        if required not in names:
            raise TimelineError(
                1, f"missing column {required!r} (columns: time, parameter, value, flags)"
            )
    col = {name: names.index(name) for name in TIMELINE_COLUMNS if name in names}
    rules = set(known_rules) if known_rules is not None else None
    instants: dict[datetime, _Instant] = {}
    zone: tzinfo | None = None
    last: datetime | None = None
    for row in reader:
        line = reader.line_num
        if not row or all(not cell.strip() for cell in row):
            continue
        if len(row) > len(names):
            raise TimelineError(line, f"{len(row)} fields but the header has {len(names)}")
        cells = [cell.strip() for cell in row] + [""] * (len(names) - len(row))
        time = _time(cells[col["time"]], line)
        parameter = cells[col["parameter"]]
        value = cells[col["value"]]
        flags = _flags(cells[col["flags"]], line) if "flags" in col else frozenset()
        if zone is None:
            zone = time.tzinfo
        last = time if last is None or time > last else last
        instant = instants.setdefault(time, _Instant(time))
        _add_row(instant, line, parameter, value, flags, rules)
    events: list[TrialEvent] = []
    for time in sorted(instants):
        events.extend(instants[time].events())
    return events, last, zone


def _add_row(
    instant: _Instant,
    line: int,
    parameter: str,
    value: str,
    flags: frozenset[QualityFlag],
    rules: set[str] | None,
) -> None:
    time = instant.time
    if parameter not in ALL_PARAMETERS:
        raise TimelineError(
            line, f"unknown parameter {parameter!r}; known: {', '.join(ALL_PARAMETERS)}"
        )
    if value == "" and not flags:
        raise TimelineError(line, f"{parameter}: empty value (give a value, or flags)")
    if parameter in STREAM:
        number = _number(value, line, parameter) if value else None
        instant.readings.append(Reading(time, STREAM[parameter], number, flags))
        return
    if parameter == "injection":
        dose = _number(value, line, "injection dose (mcg)")
        if dose <= 0:
            raise TimelineError(line, f"injection dose must be positive, not {value}")
        if instant.injection is not None:
            raise TimelineError(line, "two injections at the same time")
        instant.injection = Injection(time, dose)
        return
    if parameter == "acknowledge":
        if rules is not None and value not in rules:
            raise TimelineError(line, f"acknowledge: unknown rule id {value!r}")
        instant.acknowledgements.append(Acknowledgement(time, value, by="replay"))
        return
    if parameter == "extend_window":
        minutes = _number(value, line, "extend_window (minutes)")
        if minutes <= 0:
            raise TimelineError(line, f"extend_window must be positive minutes, not {value}")
        instant.extensions.append(WindowExtension(time, minutes))
        return
    # Manual parameters: one observation set per instant.
    if flags - NON_DISQUALIFYING_FLAGS:
        # A doubtful manual value never satisfies a rule; the set goes on without it.
        if parameter == "side_effect":
            raise TimelineError(line, "side_effect rows take no flags")
        return
    if parameter == "side_effect":
        if instant.side_effects is None:
            instant.side_effects = set()
        if value == NO_SIDE_EFFECT:
            return
        try:
            instant.side_effects.add(SideEffect(value))
        except ValueError:
            known = ", ".join(s.value for s in SideEffect)
            raise TimelineError(
                line, f"unknown side effect {value!r}; known: {known}, or {NO_SIDE_EFFECT}"
            ) from None
        return
    if parameter in instant.set_values:
        raise TimelineError(
            line,
            f"{parameter} given twice at {time.isoformat()} (first at "
            f"line {instant.set_lines[parameter]})",
        )
    instant.set_lines[parameter] = line
    instant.set_values[parameter] = _manual_value(parameter, value, line)


def _manual_value(parameter: str, value: str, line: int) -> Any:
    if parameter in MANUAL_NUMERIC:
        number = _number(value, line, parameter)
        if number < 0:
            raise TimelineError(line, f"{parameter} cannot be negative ({value})")
        return number
    if parameter in POWER:
        if value not in {str(grade) for grade in MRC_POWER_LABELS}:
            low, high = min(MRC_POWER_LABELS), max(MRC_POWER_LABELS)
            raise TimelineError(line, f"{parameter}: MRC power is {low}-{high}, not {value!r}")
        return int(value)
    if parameter == "consciousness":
        try:
            return Consciousness(value)
        except ValueError:
            raise TimelineError(
                line, f"consciousness (ACVPU) is A, C, V, P or U, not {value!r}"
            ) from None
    if parameter == "poss":
        try:
            return Poss(value)
        except ValueError:
            raise TimelineError(line, f"poss is S, 1, 2, 3 or 4, not {value!r}") from None
    if parameter == "on_oxygen":
        if value not in {"0", "1"}:
            raise TimelineError(line, f"on_oxygen is 0 (air) or 1 (oxygen), not {value!r}")
        return value == "1"
    raise AssertionError(parameter)  # pragma: no cover


def replay_timeline(
    rows: Iterable[str], rule_set: RuleSet, *, spo2_scale: int = 1
) -> tuple[list[AlarmEvent], tzinfo | None]:
    """Parse and run a whole timeline; evaluation runs to the time of the last row."""
    events, last, zone = parse_timeline(rows, rule_set.rule_ids)
    engine = TrialEngine(rule_set, trial_id="replay", spo2_scale=spo2_scale)
    out: list[AlarmEvent] = []
    for event in events:
        out.extend(engine.feed(event))
    if last is not None:
        out.extend(engine.advance_to(last))
    return out, zone


__all__ = ["STREAMED_PARAMETERS", "TimelineError", "parse_timeline", "replay_timeline"]
