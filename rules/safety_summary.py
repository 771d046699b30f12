"""The day's safety in one summary: what the team must see before it weighs a response.

Pure: it reads facts handed in (alarm events, observation sets, device readings) and returns
numbers with their times. Alarms are grouped by condition (an alarm rule at one of its levels,
e.g. "Critical desaturation: SpO2 85 % or below"), never listed first-come, so the worst stays
on top however many milder events the day held.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from vocabulary import (
    LABELS,
    RED_FLAG_SIDE_EFFECTS,
    SIDE_EFFECT_LABELS,
    Consciousness,
    Parameter,
    Poss,
    SideEffect,
)

PRIORITY_ORDER = ("low", "medium", "high")
# Events that put an alarm into a level (a new episode when the level differs from the last).
ENTERING = frozenset({"raised", "escalated", "reannunciated", "changed"})
CLEARED = "condition cleared"  # the engine's reason when a condition really ended
# Parameters whose lowest value is summarised (overdose lowers them).
LOWEST_OF = (Parameter.SPO2, Parameter.PULSE_RATE, Parameter.SYSTOLIC)
ACVPU_ORDER = tuple(Consciousness)  # A < C < V < P < U
POSS_ORDER = (Poss.ASLEEP, Poss.AWAKE, Poss.SLIGHTLY_DROWSY, Poss.FREQUENTLY_DROWSY, Poss.SOMNOLENT)


# ----- facts handed in ------------------------------------------------------------------------
@dataclass(frozen=True)
class AlarmEventFact:
    alarm_id: int
    rule_id: str
    kind: str  # physiological / technical
    event: str
    at: datetime
    priority: str
    message: str
    evidence: Mapping[str, Any] | None = None
    by: str | None = None  # who acknowledged (a name), for acknowledgements


@dataclass(frozen=True)
class SetFact:
    """One current (not superseded) observation set."""

    measured_at: datetime
    spo2: float | None = None
    pulse_rate: float | None = None
    systolic: float | None = None
    rr: float | None = None
    poss: str | None = None
    consciousness: str | None = None
    side_effects: tuple[str, ...] = ()


@dataclass(frozen=True)
class ReadingFact:
    """A device reading; ``usable`` False when it carried quality flags (motion, low
    perfusion...) or no number: such a value is never reported as the day's lowest."""

    time: datetime
    parameter: str
    value: float | None
    usable: bool = True


# ----- results --------------------------------------------------------------------------------
@dataclass(frozen=True)
class ConditionSummary:
    rule_id: str
    level: str
    label: str  # the level's headline, e.g. "Critical desaturation: SpO2 85 % or below"
    priority: str
    parameter: str | None  # what the alarm's evidence names (spo2, systolic, poss...)
    count: int  # times the alarm entered this level
    first: datetime
    longest: timedelta
    longest_still_present: bool  # the longest episode had not cleared when the record ends
    worst_value: float | None
    worst_at: datetime | None
    sounded: int  # episodes that sounded (entered by easing to this level: silent)
    acknowledged: int  # of those, acknowledged while at this level
    acknowledged_by: tuple[str, ...]
    slowest_ack: timedelta | None
    red_flag: bool
    depth: int


@dataclass(frozen=True)
class LowestValue:
    parameter: str
    label: str
    value: float
    at: datetime
    source: str  # "device" or "observation set"


@dataclass(frozen=True)
class Seen:
    """A graded finding (POSS, ACVPU) at its worst, and when it was first seen so."""

    value: str
    first_at: datetime


@dataclass(frozen=True)
class RedFlag:
    effect: str
    label: str
    first_at: datetime
    sets: int


@dataclass(frozen=True)
class SafetySummary:
    conditions: tuple[ConditionSummary, ...]  # high priority and red flags first
    technical_alarms: int
    red_flags: tuple[RedFlag, ...]
    worst_poss: Seen | None
    worst_acvpu: Seen | None
    lowest: tuple[LowestValue, ...]
    sets_checked: int
    window: tuple[datetime, datetime] | None  # first and last fact considered

    @property
    def high_conditions(self) -> tuple[ConditionSummary, ...]:
        return tuple(c for c in self.conditions if c.priority == "high")


# ----- alarms grouped by condition -------------------------------------------------------------
def headline(message: str) -> str:
    return message.split(". ")[0].rstrip(".")


def _level(event: AlarmEventFact) -> str:
    level = (event.evidence or {}).get("level")
    return str(level) if level else event.rule_id


def _direction(event: AlarmEventFact) -> str | None:
    evidence = event.evidence or {}
    if evidence.get("direction") in ("low", "high"):
        return str(evidence["direction"])
    if event.rule_id.endswith(("_low", "_drop")):
        return "low"
    if event.rule_id.endswith("_high"):
        return "high"
    return None


@dataclass
class _Episode:
    key: tuple[str, str]
    start: datetime
    end: datetime | None = None
    still_present: bool = False
    sounded: bool = True  # False when entered by easing ("changed"): nothing to acknowledge
    ack: timedelta | None = None
    ack_by: str | None = None


@dataclass
class _Condition:
    rule_id: str
    level: str
    label: str
    priority: str
    parameter: str | None
    direction: str | None
    episodes: list[_Episode]
    values: list[tuple[float, datetime]]  # values the alarm's own evidence carried
    depth: int = 0  # how deep the level lies in its nested rule (levels met)


def _walk(
    events: Sequence[AlarmEventFact], until: datetime, conditions: dict[tuple[str, str], _Condition]
) -> None:
    """One alarm's events, in time order, cut into episodes at each of its levels."""
    current: _Episode | None = None
    for event in events:
        key = (event.rule_id, _level(event))
        if event.event in ENTERING:
            if current is None or current.key != key or event.event == "raised":
                if current is not None and current.end is None:
                    current.end = event.at
                current = _Episode(key, event.at, sounded=event.event != "changed")
                found = conditions.get(key)
                evidence = event.evidence or {}
                if found is None:
                    found = conditions[key] = _Condition(
                        event.rule_id,
                        key[1],
                        headline(event.message),
                        event.priority,
                        str(evidence["parameter"]) if evidence.get("parameter") else None,
                        _direction(event),
                        [],
                        [],
                    )
                found.episodes.append(current)
                if PRIORITY_ORDER.index(event.priority) > PRIORITY_ORDER.index(found.priority):
                    found.priority = event.priority
            evidence = event.evidence or {}
            found = conditions[key]
            found.depth = max(found.depth, len(evidence.get("levels_met") or ()))
            number = _number(evidence.get("value", evidence.get("total")))
            if number is not None:
                conditions[key].values.append((number, event.at))
        elif event.event == "acknowledged" and current is not None and current.ack is None:
            current.ack = event.at - current.start
            current.ack_by = event.by
        elif event.event == "resolved" and current is not None and current.end is None:
            current.end = event.at
            current.still_present = (event.evidence or {}).get("reason") != CLEARED
            current = None
    if current is not None and current.end is None:
        current.end = max(until, current.start)
        current.still_present = True


def _number(value: object) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def _worst(
    condition: _Condition,
    readings: Mapping[str, list[tuple[datetime, float]]],
    sets: Sequence[SetFact],
) -> tuple[float | None, datetime | None]:
    """The worst value during the condition's episodes: the lowest for a low limit, the
    highest for a high one; the alarm's own values otherwise (NEWS2 total, POSS)."""
    candidates = list(condition.values)
    parameter = condition.parameter
    if parameter is not None:
        spans = [(e.start, e.end or e.start) for e in condition.episodes]

        def inside(moment: datetime) -> bool:
            return any(start <= moment <= end for start, end in spans)

        candidates += [(v, t) for t, v in readings.get(parameter, []) if inside(t)]
        candidates += [
            (float(getattr(s, parameter)), s.measured_at)
            for s in sets
            if parameter in SetFact.__dataclass_fields__
            and _number(getattr(s, parameter)) is not None
            and inside(s.measured_at)
        ]
    if not candidates:
        return None, None
    if condition.direction == "low":
        value, at = min(candidates, key=lambda c: (c[0], c[1]))
    else:
        value, at = max(candidates, key=lambda c: (c[0], -c[1].timestamp()))
    return value, at


def _condition_summary(
    condition: _Condition, worst: tuple[float | None, datetime | None]
) -> ConditionSummary:
    episodes = condition.episodes
    longest = max(episodes, key=lambda e: ((e.end or e.start) - e.start, e.still_present))
    sounded = [e for e in episodes if e.sounded]
    acked = [e for e in sounded if e.ack is not None]
    names = tuple(dict.fromkeys(e.ack_by for e in acked if e.ack_by))
    return ConditionSummary(
        rule_id=condition.rule_id,
        level=condition.level,
        label=condition.label,
        priority=condition.priority,
        parameter=condition.parameter,
        count=len(episodes),
        first=episodes[0].start,
        longest=(longest.end or longest.start) - longest.start,
        longest_still_present=longest.still_present,
        worst_value=worst[0],
        worst_at=worst[1],
        sounded=len(sounded),
        acknowledged=len(acked),
        acknowledged_by=names,
        slowest_ack=max((e.ack for e in acked if e.ack is not None), default=None),
        red_flag=condition.rule_id == "side_effect_red",
        depth=condition.depth,
    )


def _sort_key(condition: ConditionSummary) -> tuple[int, int, int, datetime]:
    """High priority first; among equals red flags, then the deeper level of a nested rule
    (critical before severe desaturation), then the earlier."""
    return (
        -PRIORITY_ORDER.index(condition.priority),
        0 if condition.red_flag else 1,
        -condition.depth,
        condition.first,
    )


# ----- the summary ----------------------------------------------------------------------------
def summarise_safety(
    events: Iterable[AlarmEventFact],
    sets: Sequence[SetFact],
    readings: Iterable[ReadingFact],
    until: datetime,
) -> SafetySummary:
    """The day's safety: alarms by condition, red flags, sedation and the lowest values.

    ``until`` closes an alarm episode still open (the record's present or the window's end).
    """
    physiological: dict[int, list[AlarmEventFact]] = {}
    technical: set[int] = set()
    moments: list[datetime] = []
    for event in sorted(events, key=lambda e: e.at):
        moments.append(event.at)
        if event.kind == "physiological":
            physiological.setdefault(event.alarm_id, []).append(event)
        elif event.event == "raised":
            technical.add(event.alarm_id)
    by_parameter: dict[str, list[tuple[datetime, float]]] = {}
    for reading in readings:
        if reading.usable and reading.value is not None:
            by_parameter.setdefault(reading.parameter, []).append((reading.time, reading.value))
            moments.append(reading.time)
    moments += [s.measured_at for s in sets]

    grouped: dict[tuple[str, str], _Condition] = {}
    for alarm_events in physiological.values():
        _walk(alarm_events, until, grouped)
    conditions = sorted(
        (_condition_summary(c, _worst(c, by_parameter, sets)) for c in grouped.values()),
        key=_sort_key,
    )

    red: dict[str, list[datetime]] = {}
    worst_poss: Seen | None = None
    worst_acvpu: Seen | None = None
    for obs in sorted(sets, key=lambda s: s.measured_at):
        for effect in obs.side_effects:
            try:
                side = SideEffect(effect)
            except ValueError:
                continue
            if side in RED_FLAG_SIDE_EFFECTS:
                red.setdefault(effect, []).append(obs.measured_at)
        worst_poss = _graded(worst_poss, obs.poss, [p.value for p in POSS_ORDER], obs)
        worst_acvpu = _graded(worst_acvpu, obs.consciousness, [c.value for c in ACVPU_ORDER], obs)
    red_flags = tuple(
        RedFlag(effect, SIDE_EFFECT_LABELS[SideEffect(effect)], times[0], len(times))
        for effect, times in sorted(red.items(), key=lambda kv: kv[1][0])
    )

    lowest: list[LowestValue] = []
    for parameter in LOWEST_OF:
        options = [(v, t, "device") for t, v in by_parameter.get(parameter.value, [])]
        options += [
            (float(getattr(s, parameter.value)), s.measured_at, "observation set")
            for s in sets
            if getattr(s, parameter.value) is not None
        ]
        if options:
            value, at, source = min(options, key=lambda o: (o[0], o[1]))
            lowest.append(LowestValue(parameter.value, LABELS[parameter], value, at, source))
    return SafetySummary(
        conditions=tuple(conditions),
        technical_alarms=len(technical),
        red_flags=red_flags,
        worst_poss=worst_poss,
        worst_acvpu=worst_acvpu,
        lowest=tuple(lowest),
        sets_checked=len(sets),
        window=(min(moments), max(moments)) if moments else None,
    )


def _graded(worst: Seen | None, value: str | None, order: list[str], obs: SetFact) -> Seen | None:
    if value is None or value not in order:
        return worst
    if worst is None or order.index(value) > order.index(worst.value):
        return Seen(value, obs.measured_at)
    return worst
