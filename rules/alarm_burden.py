"""Alarm burden of a trial day, measured from the engine's alarm events and the readings.

Pure: the alarm events a `TrialEngine` emitted over a day, the streamed readings it was fed and
the rule file's content in, figures out. What is counted:

- a *raise* is a new alarm (`raised`); an *annunciation* is a raise, a re-annunciation or an
  escalation: every time the screen sounds for an alarm;
- a *reminder* is the screen's soft reminder of acknowledged alarms still active (never an
  annunciation of the engine): one per bed, at the shortest
  `lifecycle.reminder_after_acknowledgement_s` among the bed's acknowledged alarms, counted
  from the latest acknowledgement or reminder (`rules.reminders`);
- a *re-raise* is a raise of a rule within 60 s of that rule's previous resolve (flapping);
  an alarm sounding *again soon* is an annunciation within 60 s of that alarm's previous one
  (a nested level that ended and is met again sounds within the one alarm, so re-raises alone
  do not see a level flapping);
- for each streamed level (a `limits` rule's level on SpO2 or pulse), a *run* is a stretch of
  time the value lies in the level's zone, judged as charted (whole numbers) on the last valid
  value (flagged or missing values neither start nor break a run, silence holds the value);
  *uncovered* time is time in a run, later than its start + the level's `max_delay_s` + 15 s,
  with no alarm of that level's rule active; and for each run longer than `max_delay_s`, the
  *first alarm* is how long after the run's start an alarm of that rule was first active
  (0 if it already was). The same two figures *at the level* ask for the alarm showing that
  level or a deeper one (its events' ``evidence["level"]``), not merely being active.

"An alarm of that rule" is, by default, an alarm with the level's rule id. `match="prefix"`
counts any alarm whose id shares the rule id's first word (``spo2_`` for ``spo2_low``), for
rule sets that spread one parameter over several rules (disjoint bands); the figures at the
level are then not worked out.
"""

from __future__ import annotations

import statistics
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Literal

from rules.events import AlarmEvent, Reading
from rules.news2 import whole_number
from rules.reminders import AcknowledgedAlarm, next_reminder_at
from rules.rule_set import RuleSet
from vocabulary import ANNUNCIATING_EVENTS, STREAMED_PARAMETERS, AlarmEventType, Parameter, Priority

RERAISE_WITHIN_S = 60.0
GRACE_S = 15.0  # beyond a level's maximum delay before time in its zone counts as uncovered
Match = Literal["rule", "prefix"]


@dataclass(frozen=True)
class StreamedLevel:
    """One level of a streamed `limits` rule, as far as coverage is concerned."""

    rule_id: str
    level_id: str
    parameter: Parameter
    direction: Literal["low", "high"]
    limit: float
    max_delay_s: float
    depth: int = 0  # its place among the rule's levels, mildest first

    @property
    def name(self) -> str:
        """``spo2<=93``: how the figures are keyed."""
        return f"{self.parameter.value}{'<=' if self.direction == 'low' else '>='}{self.limit:g}"

    def meets(self, charted: float) -> bool:
        return charted <= self.limit if self.direction == "low" else charted >= self.limit

    def covers(self, rule_id: str, match: Match) -> bool:
        """Whether an alarm of ``rule_id`` is an alarm of this level's rule."""
        if match == "rule":
            return rule_id == self.rule_id
        return rule_id.startswith(self.rule_id.split("_", 1)[0] + "_")


def rule_file_content(rules: RuleSet | Mapping[str, Any]) -> Mapping[str, Any]:
    """A rule set as its file's content (the YAML's shape), whichever way it came."""
    if isinstance(rules, RuleSet):
        return rules.model.model_dump(mode="json")
    return rules


def streamed_levels(rules: RuleSet | Mapping[str, Any]) -> tuple[StreamedLevel, ...]:
    """Every level of the `limits` rules on streamed parameters that has a maximum delay."""
    out: list[StreamedLevel] = []
    for rule in rule_file_content(rules).get("rules", ()):
        cond = rule.get("condition") or {}
        if cond.get("type") != "limits" or cond.get("parameter") not in STREAMED_PARAMETERS:
            continue
        for depth, level in enumerate(cond.get("levels", ())):
            if level.get("max_delay_s") is None:
                continue  # no delay to measure coverage against
            out.append(
                StreamedLevel(
                    rule_id=rule["id"],
                    level_id=level["id"],
                    parameter=Parameter(cond["parameter"]),
                    direction=cond["direction"],
                    limit=float(level["limit"]),
                    max_delay_s=float(level["max_delay_s"]),
                    depth=depth,
                )
            )
    return tuple(out)


def level_depths(rules: RuleSet | Mapping[str, Any]) -> dict[str, dict[str, int]]:
    """Rule id -> each level id's place among the rule's levels, mildest first."""
    return {
        rule["id"]: {level["id"]: i for i, level in enumerate(rule["condition"]["levels"])}
        for rule in rule_file_content(rules).get("rules", ())
        if (rule.get("condition") or {}).get("type") == "limits"
    }


def reminder_intervals(rules: RuleSet | Mapping[str, Any]) -> dict[Priority, float]:
    """`lifecycle.reminder_after_acknowledgement_s` by priority; a KeyError when the rule set
    has none (a rule file older than soft reminders)."""
    lifecycle = rule_file_content(rules)["lifecycle"]
    return {Priority(p): float(s) for p, s in lifecycle["reminder_after_acknowledgement_s"].items()}


# ---------------------------------------------------------------------------- pieces


def count_reminders(
    events: Sequence[AlarmEvent],
    intervals: Mapping[Priority, float],
    end: datetime,
) -> list[datetime]:
    """When the bed's soft reminder sounds, up to ``end``, as the screen decides it
    (`rules.reminders`) at the default ``intervals`` (the demo nurse chooses none). Events of
    one instant count before a reminder due then."""
    acknowledged: dict[str, AcknowledgedAlarm] = {}
    last: datetime | None = None
    out: list[datetime] = []

    def sound_until(limit: datetime) -> None:
        nonlocal last
        while True:
            due = next_reminder_at(acknowledged.values(), intervals, last)
            if due is None or due >= limit:
                return
            out.append(due)
            last = due

    for event in events:
        if event.time > end:
            break
        sound_until(event.time)
        rule = event.rule_id
        if event.event == AlarmEventType.ACKNOWLEDGED:
            acknowledged[rule] = AcknowledgedAlarm(event.time, event.priority)
        elif event.event == AlarmEventType.RESOLVED or event.event in ANNUNCIATING_EVENTS:
            acknowledged.pop(rule, None)  # gone, or sounding: to be seen again
        elif rule in acknowledged:  # eased, still acknowledged: reminds at its new priority
            acknowledged[rule] = replace(acknowledged[rule], priority=event.priority)
    sound_until(end + timedelta(microseconds=1))  # a reminder due at the end still sounds
    return out


def re_raises(
    events: Sequence[AlarmEvent],
    within_s: float = RERAISE_WITHIN_S,
    *,
    key: Callable[[str], str | None] | None = None,
) -> list[tuple[str, datetime, float]]:
    """Raises within ``within_s`` of the previous resolve of the same rule (or, with ``key``
    mapping a rule id to a group, of the same group); as (rule id, time, seconds after)."""
    group = key or (lambda rule_id: rule_id)
    resolved: dict[str, datetime] = {}
    out: list[tuple[str, datetime, float]] = []
    for event in events:
        g = group(event.rule_id)
        if g is None:
            continue
        if event.event == AlarmEventType.RESOLVED:
            resolved[g] = event.time
        elif event.event == AlarmEventType.RAISED and g in resolved:
            gap = (event.time - resolved[g]).total_seconds()
            if gap <= within_s:
                out.append((event.rule_id, event.time, gap))
    return out


def again_soon(
    events: Sequence[AlarmEvent], within_s: float = RERAISE_WITHIN_S
) -> list[tuple[str, datetime, float]]:
    """Annunciations within ``within_s`` of the previous annunciation of the same alarm (its
    raise included); as (rule id, time, seconds after)."""
    last: dict[str, datetime] = {}
    out: list[tuple[str, datetime, float]] = []
    for event in events:
        if event.event == AlarmEventType.RESOLVED:
            last.pop(event.rule_id, None)
        elif event.event in ANNUNCIATING_EVENTS:
            before = last.get(event.rule_id)
            if before is not None and (event.time - before).total_seconds() <= within_s:
                out.append((event.rule_id, event.time, (event.time - before).total_seconds()))
            last[event.rule_id] = event.time
    return out


Interval = tuple[datetime, datetime]


def active_intervals(events: Sequence[AlarmEvent], end: datetime) -> dict[str, list[Interval]]:
    """From raise to resolve (or ``end``), per rule id, in time order."""
    opened: dict[str, datetime] = {}
    out: dict[str, list[Interval]] = defaultdict(list)
    for event in events:
        if event.event == AlarmEventType.RAISED and event.rule_id not in opened:
            opened[event.rule_id] = event.time
        elif event.event == AlarmEventType.RESOLVED and event.rule_id in opened:
            out[event.rule_id].append((opened.pop(event.rule_id), event.time))
    for rule_id, since in opened.items():
        out[rule_id].append((since, max(since, end)))
    return out


def shown_intervals(
    events: Sequence[AlarmEvent],
    rule_id: str,
    depths: Mapping[str, int],
    min_depth: int,
    end: datetime,
) -> list[Interval]:
    """When the rule's alarm showed a level of ``min_depth`` or deeper (``depths``: level id ->
    depth), by the level in its events' evidence; an acknowledgement changes nothing."""
    out: list[Interval] = []
    since: datetime | None = None
    for event in events:
        if event.rule_id != rule_id or event.event == AlarmEventType.ACKNOWLEDGED:
            continue
        if event.event == AlarmEventType.RESOLVED:
            shown = False
        else:
            level = event.evidence.get("level")
            if level not in depths:
                continue
            shown = depths[level] >= min_depth
        if shown and since is None:
            since = event.time
        elif not shown and since is not None:
            out.append((since, event.time))
            since = None
    if since is not None:
        out.append((since, max(since, end)))
    return out


def _union(intervals: Iterable[Interval]) -> list[Interval]:
    merged: list[Interval] = []
    for a, b in sorted(intervals):
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    return merged


def zone_runs(
    readings: Iterable[Reading], level: StreamedLevel, start: datetime, end: datetime
) -> list[Interval]:
    """The stretches the held valid value lies in the level's zone that reach into
    [start, end]: from their true start (the delay counts from there), cut at ``end``."""
    runs: list[Interval] = []
    since: datetime | None = None
    for reading in readings:
        if reading.parameter is not level.parameter or not reading.valid:
            continue
        assert reading.value is not None
        inside = level.meets(whole_number(reading.value))
        if inside and since is None:
            since = reading.time
        elif not inside and since is not None:
            runs.append((since, reading.time))
            since = None
    if since is not None:
        runs.append((since, end))
    return [(a, min(b, end)) for a, b in runs if b > start and a < end]


def _covered_s(window: Interval, covered: list[Interval]) -> float:
    a, b = window
    total = 0.0
    for c, d in covered:
        lo, hi = max(a, c), min(b, d)
        if hi > lo:
            total += (hi - lo).total_seconds()
    return total


def _first_active(run: Interval, covered: list[Interval]) -> float | None:
    """Seconds from the run's start to the first moment an alarm is active within it."""
    a, b = run
    starts = [c for c, _ in covered]
    i = bisect_right(starts, a) - 1
    if i >= 0 and covered[i][1] > a:
        return 0.0
    for c, _ in covered[i + 1 :]:
        if c >= b:
            break
        return (c - a).total_seconds()
    return None


@dataclass
class LevelCoverage:
    level: StreamedLevel
    runs: int = 0
    runs_past_delay: int = 0  # runs longer than the level's maximum delay
    uncovered_s: float = 0.0  # the most of any one run
    uncovered_total_s: float = 0.0
    first_alarm_s: list[float] = field(default_factory=list)  # per run past delay, alarmed
    missed_runs: int = 0  # runs past delay with no alarm of the rule active during them
    # The same, asking for the alarm to show this level or a deeper one (None: not worked out).
    at_level: LevelCoverage | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "rule": self.level.rule_id,
            "level": self.level.level_id,
            "max_delay_s": _num(self.level.max_delay_s),
            "runs": self.runs,
            "runs_past_delay": self.runs_past_delay,
            "uncovered_s": _num(self.uncovered_s),
            "uncovered_total_s": _num(self.uncovered_total_s),
            "first_alarm_after_onset_s": summary(self.first_alarm_s),
            "runs_past_delay_never_alarmed": self.missed_runs,
            **(
                {}
                if self.at_level is None
                else {
                    "uncovered_at_level_s": _num(self.at_level.uncovered_s),
                    "first_alarm_at_level_after_onset_s": summary(self.at_level.first_alarm_s),
                    "runs_past_delay_never_at_level": self.at_level.missed_runs,
                }
            ),
        }


def level_coverage(
    level: StreamedLevel,
    readings: Iterable[Reading],
    events: Sequence[AlarmEvent],
    start: datetime,
    end: datetime,
    *,
    match: Match = "rule",
    grace_s: float = GRACE_S,
    depths: Mapping[str, int] | None = None,
) -> LevelCoverage:
    """Runs of ``level``'s zone against the alarms of its rule; with ``depths`` (the rule's
    level ids -> depth) and ``match="rule"``, also against the alarm showing this level or a
    deeper one (``at_level``)."""
    runs = zone_runs(readings, level, start, end)
    intervals = active_intervals(events, end)
    covered = _union(
        i for rule_id, spans in intervals.items() if level.covers(rule_id, match) for i in spans
    )
    out = _cover(LevelCoverage(level), runs, covered, start, grace_s)
    if depths is not None and match == "rule":
        shown = shown_intervals(events, level.rule_id, depths, level.depth, end)
        out.at_level = _cover(LevelCoverage(level), runs, shown, start, grace_s)
    return out


def _cover(
    out: LevelCoverage,
    runs: list[Interval],
    covered: list[Interval],
    start: datetime,
    grace_s: float,
) -> LevelCoverage:
    level = out.level
    for run in runs:
        out.runs += 1
        a, b = run
        checked_from = max(start, a + timedelta(seconds=level.max_delay_s + grace_s))
        if b > checked_from:
            window = (checked_from, b)
            uncovered = (b - checked_from).total_seconds() - _covered_s(window, covered)
            out.uncovered_s = max(out.uncovered_s, uncovered)
            out.uncovered_total_s += uncovered
        if (b - a).total_seconds() > level.max_delay_s:
            out.runs_past_delay += 1
            first = _first_active(run, covered)
            if first is None:
                out.missed_runs += 1
            else:
                out.first_alarm_s.append(first)
    return out


def summary(values: Sequence[float]) -> dict[str, Any]:
    """n, min, median, max (None when empty)."""
    if not values:
        return {"n": 0, "min": None, "median": None, "max": None}
    return {
        "n": len(values),
        "min": _num(min(values)),
        "median": _num(statistics.median(values)),
        "max": _num(max(values)),
    }


def _num(value: float) -> float | int:
    value = round(float(value), 3)
    return int(value) if value.is_integer() else value


# ---------------------------------------------------------------------------- the day


@dataclass
class AlarmBurden:
    start: datetime
    end: datetime
    raises: dict[str, int]  # by rule id
    annunciations: dict[str, int]
    reminders: list[datetime]
    re_raises: list[tuple[str, datetime, float]]
    re_raises_by_parameter: list[tuple[str, datetime, float]] | None
    again_soon: list[tuple[str, datetime, float]]
    coverage: list[LevelCoverage]

    @property
    def patient_hours(self) -> float:
        return (self.end - self.start).total_seconds() / 3600

    def per_hour(self, count: int) -> float:
        return round(count / self.patient_hours, 3) if self.patient_hours > 0 else 0.0

    @property
    def uncovered_s(self) -> float:
        return max((c.uncovered_s for c in self.coverage), default=0.0)

    @property
    def uncovered_at_level_s(self) -> float | None:
        at_level = [c.at_level.uncovered_s for c in self.coverage if c.at_level is not None]
        return max(at_level) if at_level else None

    def as_dict(self) -> dict[str, Any]:
        raises = sum(self.raises.values())
        annunciations = sum(self.annunciations.values())
        out: dict[str, Any] = {
            "patient_hours": round(self.patient_hours, 3),
            "raises": raises,
            "raises_per_hour": self.per_hour(raises),
            "annunciations": annunciations,
            "annunciations_per_hour": self.per_hour(annunciations),
            "reminders": len(self.reminders),
            "reminders_per_hour": self.per_hour(len(self.reminders)),
            "re_raises_within_60s": len(self.re_raises),
            "annunciations_within_60s_of_previous": len(self.again_soon),
            "uncovered_s": _num(self.uncovered_s),
            "uncovered_at_level_s": (
                None if self.uncovered_at_level_s is None else _num(self.uncovered_at_level_s)
            ),
            "first_alarm_after_onset_max_s": _num(
                max((max(c.first_alarm_s) for c in self.coverage if c.first_alarm_s), default=0)
            ),
            "runs_never_alarmed": sum(c.missed_runs for c in self.coverage),
            "raises_by_rule": dict(sorted(self.raises.items())),
            "annunciations_by_rule": dict(sorted(self.annunciations.items())),
            "re_raises": [
                {"rule": r, "at": t.isoformat(), "after_resolve_s": _num(gap)}
                for r, t, gap in self.re_raises
            ],
            "levels": {c.level.name: c.as_dict() for c in self.coverage},
        }
        if self.re_raises_by_parameter is not None:
            out["re_raises_within_60s_same_parameter"] = len(self.re_raises_by_parameter)
        return out


def alarm_burden(
    events: Sequence[AlarmEvent],
    readings: Sequence[Reading],
    rule_set: RuleSet | Mapping[str, Any],
    *,
    start: datetime,
    end: datetime,
    match: Match = "rule",
    reminder_after_s: Mapping[Priority, float] | None = None,
    levels: Sequence[StreamedLevel] | None = None,
) -> AlarmBurden:
    """The day's burden between ``start`` and ``end`` (the patient-hours counted).

    ``events``: the engine's alarm events in the order emitted (acknowledgements included);
    ``readings``: the streamed readings fed to it, in time order. Levels and reminder intervals
    come from ``rule_set`` (a `RuleSet` or a rule file's content) unless given.
    """
    # Alarms raised before ``start`` still cover it; only what sounds inside it is counted.
    counted = [e for e in events if start <= e.time <= end]
    raises: dict[str, int] = defaultdict(int)
    annunciations: dict[str, int] = defaultdict(int)
    for event in counted:
        if event.event == AlarmEventType.RAISED:
            raises[event.rule_id] += 1
        if event.event in ANNUNCIATING_EVENTS:
            annunciations[event.rule_id] += 1
    if levels is None:
        levels = streamed_levels(rule_set)
    depths = level_depths(rule_set)
    if reminder_after_s is None:
        reminder_after_s = reminder_intervals(rule_set)
    by_parameter = None
    if match == "prefix":
        prefixes = {lv.rule_id.split("_", 1)[0] + "_" for lv in levels}

        def prefix_of(rule_id: str) -> str | None:
            return next((p for p in prefixes if rule_id.startswith(p)), None)

        by_parameter = re_raises(counted, key=prefix_of)
    return AlarmBurden(
        start=start,
        end=end,
        raises=dict(raises),
        annunciations=dict(annunciations),
        reminders=[t for t in count_reminders(events, reminder_after_s, end) if t >= start],
        re_raises=re_raises(counted),
        re_raises_by_parameter=by_parameter,
        again_soon=again_soon(counted),
        coverage=[
            level_coverage(
                level, readings, events, start, end, match=match, depths=depths.get(level.rule_id)
            )
            for level in levels
        ],
    )


__all__ = [
    "AlarmBurden",
    "LevelCoverage",
    "StreamedLevel",
    "active_intervals",
    "again_soon",
    "alarm_burden",
    "count_reminders",
    "level_coverage",
    "level_depths",
    "re_raises",
    "reminder_intervals",
    "rule_file_content",
    "shown_intervals",
    "streamed_levels",
    "summary",
    "zone_runs",
]
