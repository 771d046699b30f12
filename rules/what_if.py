"""What a candidate rule file would have done on a recorded day, beside the rule set in force.

Pure: the alarm events two engines emitted over the same replayed day (the readings, sets, the
injection, acknowledgements and window changes of the record), the streamed readings and the
two rule sets in; per rule set the burden (`rules.alarm_burden`) and the list of differences
out. No record, no clock: `monitor.what_if` replays the record and calls this.

An *alarm* here is one level of one rule sounding: a raise, or a deeper level met (the alarm
escalated or re-annunciated to it). For each rule and level, an *episode* is a stretch of time
the alarm shows that level or a deeper one (the shown level is the one in each event's
evidence, else the level whose message the event carries). The two rule sets are compared
episode by episode, per rule id and level id:

- *later*: the candidate's first episode that overlaps the one in force starts after it (the
  delay is the difference); *earlier*: it starts before it, and after the previous episode in
  force ended (otherwise the candidate was *already showing* the level: no difference);
- *not at all*: no episode of the candidate overlaps it. A candidate alarm that starts only
  after the one in force has ended counts as not at all for that one (the patient's episode
  went unalarmed while it lasted) and as added for itself;
- *added*: a candidate episode that overlaps none in force.

A renamed rule or level is a different alarm: it shows as not at all under its old name and
added under its new one. Acknowledgements are the record's, applied by rule id at their
recorded times; an alarm the record never had is never acknowledged in the replay, so the
candidate's figures count its escalations as they would sound if nobody answered.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from rules.alarm_burden import AlarmBurden, active_intervals, alarm_burden
from rules.events import AlarmEvent, Reading
from rules.rule_set import RuleSet
from vocabulary import AlarmEventType, Priority

Interval = tuple[datetime, datetime]
LevelKey = tuple[str, str]  # (rule id, level id)


class Change(StrEnum):
    LATER = "later"
    NOT_AT_ALL = "not at all"
    ADDED = "added"
    EARLIER = "earlier"
    SAME = "same"
    ALREADY_SHOWN = "already shown"


# The safety question first, then what adds to the burden, then the rest.
CHANGE_ORDER = {
    Change.NOT_AT_ALL: 0,
    Change.LATER: 1,
    Change.ADDED: 2,
    Change.EARLIER: 3,
    Change.ALREADY_SHOWN: 4,
    Change.SAME: 5,
}


@dataclass(frozen=True)
class Episode:
    """One stretch of an alarm showing a level (or a deeper one), with the priority it sounded
    at when that level was first shown."""

    rule_id: str
    level_id: str
    start: datetime
    end: datetime
    priority: Priority

    def overlaps(self, other: Episode) -> bool:
        return self.start <= other.end and other.start <= self.end


@dataclass(frozen=True)
class Difference:
    """One alarm (a rule's level sounding) compared between the rule set in force and the
    candidate. Times are UTC; ``delay_s`` is candidate minus in force (positive: later)."""

    change: Change
    rule_id: str
    level_id: str
    in_force_at: datetime | None
    candidate_at: datetime | None
    in_force_priority: Priority | None
    candidate_priority: Priority | None

    @property
    def delay_s(self) -> float | None:
        if self.in_force_at is None or self.candidate_at is None:
            return None
        return (self.candidate_at - self.in_force_at).total_seconds()

    @property
    def at(self) -> datetime:
        """When it matters on the ward: the alarm in force, else the candidate's."""
        at = self.in_force_at or self.candidate_at
        assert at is not None
        return at


def _levels(rule_set: RuleSet) -> dict[str, list[str]]:
    return {rule.id: [level.id for level in rule.levels] for rule in rule_set.rules}


def _messages(rule_set: RuleSet) -> dict[str, dict[str, str]]:
    return {rule.id: {level.message: level.id for level in rule.levels} for rule in rule_set.rules}


def episodes(events: Sequence[AlarmEvent], rule_set: RuleSet, end: datetime) -> list[Episode]:
    """Every episode of every rule's level (see the module's description), in time order.

    An acknowledgement changes nothing; an alarm eased to a milder level ("changed") ends its
    deeper levels' episodes; a resolve ends them all; an episode still open runs to ``end``.
    """
    levels = _levels(rule_set)
    messages = _messages(rule_set)
    shown: dict[str, int] = {}  # rule id -> depth shown now
    opened: dict[LevelKey, tuple[datetime, Priority]] = {}
    out: list[Episode] = []

    def close(rule_id: str, from_depth: int, at: datetime) -> None:
        for depth, level_id in enumerate(levels[rule_id]):
            key = (rule_id, level_id)
            if depth >= from_depth and key in opened:
                start, priority = opened.pop(key)
                out.append(Episode(rule_id, level_id, start, at, priority))

    for event in events:
        rule_id = event.rule_id
        if rule_id not in levels or event.event == AlarmEventType.ACKNOWLEDGED:
            continue
        if event.event == AlarmEventType.RESOLVED:
            close(rule_id, 0, event.time)
            shown.pop(rule_id, None)
            continue
        named = event.evidence.get("level") if event.evidence else None
        if named not in levels[rule_id]:
            named = messages[rule_id].get(event.message)
        # No level named (an escalation on time keeps its level): the one shown, or the
        # mildest for a raise.
        depth = shown.get(rule_id, 0) if named is None else levels[rule_id].index(named)
        if event.event == AlarmEventType.CHANGED and depth < shown.get(rule_id, 0):
            close(rule_id, depth + 1, event.time)
        shown[rule_id] = depth
        for d in range(depth + 1):
            key = (rule_id, levels[rule_id][d])
            if key not in opened:
                opened[key] = (event.time, event.priority)
    for (rule_id, level_id), (start, priority) in opened.items():
        out.append(Episode(rule_id, level_id, start, max(start, end), priority))
    out.sort(key=lambda e: (e.start, e.rule_id, levels[e.rule_id].index(e.level_id)))
    return out


def compare_alarms(in_force: Sequence[Episode], candidate: Sequence[Episode]) -> list[Difference]:
    """Each alarm in force against the candidate's, and the candidate's alarms that are new;
    the safety question first (not at all, later), then added, earlier and the same, each in
    time order."""
    by_key: dict[LevelKey, list[Episode]] = defaultdict(list)
    for episode in candidate:
        by_key[(episode.rule_id, episode.level_id)].append(episode)
    matched: set[int] = set()
    out: list[Difference] = []
    previous_end: dict[LevelKey, datetime] = {}
    for episode in in_force:
        key = (episode.rule_id, episode.level_id)
        overlapping = [c for c in by_key.get(key, ()) if c.overlaps(episode)]
        matched.update(id(c) for c in overlapping)
        before = previous_end.get(key)
        previous_end[key] = max(episode.end, before) if before is not None else episode.end
        if not overlapping:
            out.append(
                Difference(Change.NOT_AT_ALL, *key, episode.start, None, episode.priority, None)
            )
            continue
        first = min(overlapping, key=lambda c: c.start)
        if first.start > episode.start:
            change = Change.LATER
        elif first.start == episode.start:
            change = Change.SAME
        elif before is not None and first.start <= before:
            # Showing since an alarm the one in force had ended: not this one's counterpart.
            change = Change.ALREADY_SHOWN
        else:
            change = Change.EARLIER
        out.append(
            Difference(change, *key, episode.start, first.start, episode.priority, first.priority)
        )
    for episode in candidate:
        if id(episode) not in matched:
            out.append(
                Difference(
                    Change.ADDED,
                    episode.rule_id,
                    episode.level_id,
                    None,
                    episode.start,
                    None,
                    episode.priority,
                )
            )
    out.sort(key=lambda d: (CHANGE_ORDER[d.change], d.at, d.rule_id, d.level_id))
    return out


@dataclass(frozen=True)
class RuleFigures:
    """One rule's figures on the replayed days, under one rule set."""

    rule_id: str
    raises: int = 0
    annunciations: int = 0
    time_in_alarm_s: float = 0.0
    # Per deterioration run longer than a level's maximum delay under this rule set
    # (`rules.alarm_burden`): how long after the run's start the alarm first showed that level
    # or a deeper one; None: never.
    first_alarm_s: tuple[float | None, ...] = ()


@dataclass
class SideFigures:
    """One rule set's figures over the replayed days."""

    version: str
    patient_hours: float = 0.0
    rules: dict[str, RuleFigures] = field(default_factory=dict)

    @property
    def raises(self) -> int:
        return sum(r.raises for r in self.rules.values())

    @property
    def annunciations(self) -> int:
        return sum(r.annunciations for r in self.rules.values())

    @property
    def time_in_alarm_s(self) -> float:
        return sum(r.time_in_alarm_s for r in self.rules.values())

    @property
    def first_alarm_s(self) -> tuple[float | None, ...]:
        return tuple(s for r in self.rules.values() for s in r.first_alarm_s)

    def per_hour(self, count: float) -> float | None:
        """Per patient-hour (None when no time was replayed)."""
        return round(count / self.patient_hours, 3) if self.patient_hours > 0 else None

    def add_day(self, burden: AlarmBurden, events: Sequence[AlarmEvent]) -> None:
        """Add one replayed day: its burden and the alarm events it came from."""
        self.patient_hours += burden.patient_hours
        time_in_alarm: dict[str, float] = defaultdict(float)
        for rule_id, spans in active_intervals(
            [e for e in events if e.time <= burden.end], burden.end
        ).items():
            for a, b in spans:
                a, b = max(a, burden.start), min(b, burden.end)
                if b > a:
                    time_in_alarm[rule_id] += (b - a).total_seconds()
        first: dict[str, list[float | None]] = defaultdict(list)
        for coverage in burden.coverage:
            # At the level where it is worked out (the alarm showing that level or a deeper
            # one), else the rule's alarm active; runs alarmed, then runs never alarmed.
            measured = coverage.at_level or coverage
            first[coverage.level.rule_id] += [
                *measured.first_alarm_s,
                *([None] * measured.missed_runs),
            ]
        ids = set(burden.raises) | set(burden.annunciations) | set(time_in_alarm) | set(first)
        for rule_id in ids:
            before = self.rules.get(rule_id, RuleFigures(rule_id))
            self.rules[rule_id] = RuleFigures(
                rule_id,
                before.raises + burden.raises.get(rule_id, 0),
                before.annunciations + burden.annunciations.get(rule_id, 0),
                before.time_in_alarm_s + time_in_alarm.get(rule_id, 0.0),
                before.first_alarm_s + tuple(first.get(rule_id, ())),
            )


@dataclass(frozen=True)
class DayResult:
    """One replayed day: both rule sets' events and burden, and the differences."""

    trial_id: int
    bed: str | None
    start: datetime
    end: datetime
    in_force: AlarmBurden
    candidate: AlarmBurden
    in_force_events: tuple[AlarmEvent, ...]
    candidate_events: tuple[AlarmEvent, ...]
    differences: tuple[Difference, ...]


def compare_day(
    *,
    trial_id: int,
    bed: str | None,
    start: datetime,
    end: datetime,
    readings: Sequence[Reading],
    in_force: RuleSet,
    in_force_events: Sequence[AlarmEvent],
    candidate: RuleSet,
    candidate_events: Sequence[AlarmEvent],
) -> DayResult:
    """Both rule sets' burden over [start, end] and the alarms that differ."""
    differences = compare_alarms(
        episodes(in_force_events, in_force, end), episodes(candidate_events, candidate, end)
    )
    return DayResult(
        trial_id=trial_id,
        bed=bed,
        start=start,
        end=end,
        in_force=alarm_burden(in_force_events, readings, in_force, start=start, end=end),
        candidate=alarm_burden(candidate_events, readings, candidate, start=start, end=end),
        in_force_events=tuple(in_force_events),
        candidate_events=tuple(candidate_events),
        differences=tuple(differences),
    )


@dataclass
class Comparison:
    """Every replayed day, and both rule sets' figures over all of them."""

    in_force: SideFigures
    candidate: SideFigures
    days: list[DayResult] = field(default_factory=list)

    def add(self, day: DayResult) -> None:
        self.days.append(day)
        self.in_force.add_day(day.in_force, day.in_force_events)
        self.candidate.add_day(day.candidate, day.candidate_events)

    def differences(self, *changes: Change) -> list[tuple[DayResult, Difference]]:
        """The differences of every day (only ``changes`` when given), safety question first."""
        out = [
            (day, d)
            for day in self.days
            for d in day.differences
            if not changes or d.change in changes
        ]
        out.sort(key=lambda pair: (CHANGE_ORDER[pair[1].change], pair[1].at, pair[0].trial_id))
        return out

    @property
    def safe(self) -> bool:
        """No alarm in force would sound later or not at all under the candidate."""
        return not self.differences(Change.LATER, Change.NOT_AT_ALL)


def rules_of(*sides: SideFigures, order: Mapping[str, int] | None = None) -> list[str]:
    """The rule ids of either side, in ``order`` (a rule file's), then by name."""
    ids = {rule_id for side in sides for rule_id in side.rules}
    rank = order or {}
    return sorted(ids, key=lambda r: (rank.get(r, len(rank)), r))


__all__ = [
    "Change",
    "Comparison",
    "DayResult",
    "Difference",
    "Episode",
    "RuleFigures",
    "SideFigures",
    "compare_alarms",
    "compare_day",
    "episodes",
    "rules_of",
]
