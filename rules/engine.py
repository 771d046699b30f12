"""The stateful rules engine of one trial: events in, alarm events out, no clock.

Semantics (rules/README.md has the full account):

- Events come in time order; an observation set may come late (typed after it was measured):
  its alarms are judged when it arrives, while the schedule, its NEWS2 and the baseline count
  it at its measured time.
- One instant, one answer: every event of an instant is applied before the timers due at that
  instant fire. `feed` fires the timers due strictly before the event; `advance_to(t)` fires
  those due up to and including t. So the order of the readings in a frame never matters.
- One alarm per rule. A `limits` rule is one parameter and direction with nested levels; the
  alarm shows the deepest level met. Streamed levels are decided on magnitude x duration (a
  counter, a minimum duration, a maximum delay, repeated entries) and end with hysteresis;
  entered levels are judged on each entry.
- Lifecycle after IEC 60601-1-8: high alarms latch until acknowledged; medium and low resolve
  when the condition ends; unacknowledged alarms escalate once per annunciation. An
  acknowledged alarm is silent until its condition ends or gets worse (a deeper level, a new
  side effect, a worse code or grade), which sounds at once; an eased one is shown at its
  current level (`changed`). Nothing is re-annunciated on a timer alone.
- A missing or flagged value never satisfies nor interrupts a physiological condition (the last
  valid value holds); it feeds the technical rules.
"""

from __future__ import annotations

import math
import statistics
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from rules.events import (
    Acknowledgement,
    AlarmEvent,
    DeviceLink,
    Injection,
    ObservationSet,
    Reading,
    ReadingsNotStored,
    TrialEvent,
    WindowClosed,
    WindowExtension,
)
from rules.news2 import News2Band, News2Result, one_decimal, score_news2, whole_number
from rules.rule_set import (
    NEWS2_BAND_RANK,
    AlarmLevel,
    BaselineDropCondition,
    FlaggedCondition,
    Level,
    LimitsCondition,
    News2Condition,
    NoReadingCondition,
    ObservationOverdueCondition,
    OneOfCondition,
    PowerDropCondition,
    Rule,
    RuleSet,
    SideEffectCondition,
)
from rules.schedule import DueTime, ObservationSchedule
from vocabulary import (
    NON_DISQUALIFYING_FLAGS,
    PRIORITY_RANK,
    STREAMED_PARAMETERS,
    AlarmEventType,
    AlarmKind,
    Parameter,
    Priority,
    QualityFlag,
)

# Parameters kept for the pre-injection baseline (numbers only; codes have no median).
BASELINE_PARAMETERS: tuple[Parameter, ...] = (
    Parameter.SPO2,
    Parameter.PULSE_RATE,
    Parameter.SYSTOLIC,
    Parameter.DIASTOLIC,
    Parameter.RR,
    Parameter.TEMP,
    Parameter.POWER_LEFT_LEG,
    Parameter.POWER_RIGHT_LEG,
    Parameter.POWER_LEFT_ARM,
    Parameter.POWER_RIGHT_ARM,
)
# What devices deliver: their baseline is the median of the readings before the injection.
DEVICE_BASELINE_PARAMETERS = frozenset(
    {Parameter.SPO2, Parameter.PULSE_RATE, Parameter.SYSTOLIC, Parameter.DIASTOLIC}
)
# A frame carrying blood pressure is the cuff's: its pulse is stored, but the streamed pulse
# rules judge the oximeter's (one instant, one judged value per parameter).
_CUFF_PARAMETERS = frozenset({Parameter.SYSTOLIC, Parameter.DIASTOLIC})
_PULSE = Parameter.PULSE_RATE

_Timer = tuple[datetime, Callable[[datetime], None]]
# The condition type of a rule about readings the record could not keep (`ReadingsNotStored`).
NOT_STORED = "not_stored"
_UNKNOWN: Any = object()  # the earliest deadline must be worked out again


class EventOrderError(ValueError):
    """An event older than one already seen: the engine needs a time-ordered stream."""


def _iso(time: datetime) -> str:
    return time.isoformat()


def _num(value: float) -> float | int:
    """Evidence shows 97, not 97.0, when the value is whole."""
    return int(value) if float(value).is_integer() else round(value, 3)


def _seconds(value: float) -> timedelta:
    return timedelta(seconds=value)


@dataclass(frozen=True)
class ActiveAlarm:
    """A snapshot of one active alarm, for the monitor and the pages."""

    rule_id: str
    priority: Priority
    kind: str
    message: str
    raised_at: datetime
    annunciated_at: datetime  # raised or last re-annunciated
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    condition_present: bool
    escalated: bool
    evidence: dict[str, Any]
    level: str = ""  # the level shown (the rule id for a single-level rule)
    current_level: str | None = None  # the level met now; None once the condition ended


@dataclass(frozen=True)
class SetScore:
    """The engine's NEWS2 of one observation set, with the SpO2 and pulse it used."""

    record_id: int | None
    measured_at: datetime
    news2: News2Result
    spo2: float | None
    spo2_from: str | None  # "set" (the nurse's entry) or "device" (a reading of that instant)
    pulse: float | None
    pulse_from: str | None


@dataclass
class _Alarm:
    rule: Rule
    levels: tuple[AlarmLevel, ...]
    level: int  # shown: the deepest met since last seen by a nurse
    current: int | None  # met now; None: the condition has ended
    raised_at: datetime
    annunciated_at: datetime
    evidence: dict[str, Any]
    severity: Any = None
    escalated: bool = False
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = None
    acknowledged_severity: Any = None

    @property
    def priority(self) -> Priority:
        return self.levels[self.level].priority

    @property
    def message(self) -> str:
        return self.levels[self.level].message

    def snapshot(self) -> ActiveAlarm:
        return ActiveAlarm(
            self.rule.id,
            self.priority,
            self.rule.kind.value,
            self.message,
            self.raised_at,
            self.annunciated_at,
            self.acknowledged_at,
            self.acknowledged_by,
            self.current is not None,
            self.escalated,
            dict(self.evidence),
            self.levels[self.level].id,
            self.levels[self.current].id if self.current is not None else None,
        )


class _Entry(NamedTuple):
    time: datetime
    value: Any


@dataclass
class _Link:
    device: str
    state: str
    since: datetime
    reason: str


@dataclass
class _StreamState:
    last_any: datetime | None = None  # last reading, valid or flagged
    valid_at: datetime | None = None  # last valid reading, and its value
    valid_value: float = 0.0
    watched_from: datetime | None = None  # first link event of a device that streams it
    link: _Link | None = None  # that device's latest link state
    # Since when every reading has been unusable, and why, by flagged rule.
    flagged_since: dict[str, datetime] = field(default_factory=dict)
    flagged_why: dict[str, set[str]] = field(default_factory=dict)
    # Its streamed limits, and the band inside all of them (a value there, with no level in an
    # episode, changes nothing).
    watches: tuple[_LimitWatch, ...] = ()
    quiet_low: float = -math.inf
    quiet_high: float = math.inf

    @property
    def silent_since(self) -> datetime | None:
        """Since when silence counts: the last reading, else the device's first link event."""
        return self.last_any if self.last_any is not None else self.watched_from


@dataclass
class _LevelWatch:
    """One level of a streamed limit: its episode, counter and hysteresis."""

    level: Level
    episode_start: datetime | None = None  # first entry of the episode
    counter: float = 0.0
    counted_at: datetime | None = None
    zone_since: datetime | None = None  # in the zone without a break since
    entries: deque[datetime] = field(default_factory=deque)
    met: bool = False
    decided_by: str = ""
    clear_since: datetime | None = None  # met, and at or past clears_at since
    owed: datetime | None = None  # reached while a deeper level was pending
    owed_why: str = ""
    owed_until: datetime | None = None  # waits no longer than this

    def reset(self) -> None:
        self.episode_start = self.counted_at = self.zone_since = self.clear_since = None
        self.owed = None
        self.counter = 0.0
        self.entries.clear()
        self.met = False
        self.decided_by = ""


@dataclass
class _LimitWatch:
    """A streamed `limits` rule: the last valid value (held until the next) and its levels."""

    rule: Rule
    cond: LimitsCondition
    levels: list[_LevelWatch]
    value: float | None = None
    value_time: datetime | None = None
    # No level has an episode or is met: a value outside the mildest zone changes nothing (the
    # hot path at 1 Hz: most readings of most trials).
    idle: bool = True

    def __post_init__(self) -> None:
        self.low = self.cond.direction == "low"  # values at or below the limits alarm
        self.mildest = self.cond.levels[0].limit

    def outside(self, value: float) -> bool:
        """Outside the mildest level's zone, so outside every zone."""
        return value > self.mildest if self.low else value < self.mildest

    def update_idle(self) -> None:
        self.idle = all(
            lw.episode_start is None and not lw.met and lw.owed is None for lw in self.levels
        )


class TrialEngine:
    """Rules engine for one trial. Pure: time comes with the events."""

    def __init__(self, rule_set: RuleSet, *, trial_id: str = "", spo2_scale: int = 1) -> None:
        if spo2_scale not in (1, 2):
            raise ValueError(f"SpO2 scale must be 1 or 2, not {spo2_scale!r}")
        self.rule_set = rule_set
        self.trial_id = trial_id
        self.spo2_scale = spo2_scale
        self.now: datetime | None = None
        self.injection: Injection | None = None
        self._window_extra = timedelta()
        self._closed_at: datetime | None = None
        self._alarms: dict[str, _Alarm] = {}
        # No timer falls due before `_earliest` (None: there is no timer), or _UNKNOWN: work it
        # out again. A streamed reading, the hot path (1 Hz per parameter and trial), only
        # moves the device's silence later or brings a level's decision or clearing in
        # (`_lower`), so after it the value stays a safe lower bound, exact at the next scan.
        self._earliest: datetime | None = _UNKNOWN
        self._exact = False  # `_earliest` is the next deadline itself, not only a bound
        self._out: list[AlarmEvent] = []
        self._scores: list[SetScore] = []
        self._stream: dict[Parameter, _StreamState] = {p: _StreamState() for p in Parameter}
        self._latest: dict[Parameter, _Entry] = {}  # latest entry of each entered parameter
        self._last_set_time: datetime | None = None
        # Before the injection: device values (baseline window) and sets (set window).
        self._device_values: dict[Parameter, deque[tuple[datetime, float]]] = {}
        self._pre_sets: list[tuple[datetime, dict[Parameter, float]]] = []
        self._baseline: dict[Parameter, float] = {}
        self._schedule = ObservationSchedule(rule_set.schedule)
        self._news2: News2Result | None = None
        self._news2_time: datetime | None = None
        self._unscored_set: ObservationSet | None = None  # waiting for same-time SpO2/pulse
        self._escalate_after = {
            p: _seconds(s) for p, s in rule_set.lifecycle.escalate_unacknowledged_after_s.items()
        }
        baseline = rule_set.baseline
        self._baseline_window = timedelta(minutes=baseline.window_before_injection_min)
        self._baseline_set_window = timedelta(minutes=baseline.set_within_before_injection_min)
        # Rules grouped by what wakes them, so each event only looks at its own rules.
        self._levels = {rule.id: rule.levels for rule in rule_set.rules}
        self._watches: dict[Parameter, list[_LimitWatch]] = {}
        self._watch_of: dict[str, _LimitWatch] = {}
        self._entry_rules: dict[Parameter, list[Rule]] = {}
        self._side_effect_rules: list[Rule] = []
        self._news2_rules: list[Rule] = []
        self._no_reading_rules: list[Rule] = []
        self._flagged_rules: list[Rule] = []
        self._overdue_rules: list[Rule] = []
        self._technical_ids: set[str] = set()  # device_lost, sensor_off, signal_unusable
        # Readings the record could not keep (condition type `not_stored`): present from the
        # loss until someone acknowledges the alarm, i.e. has seen the gap.
        self._not_stored_rules: list[Rule] = []
        for rule in rule_set.rules:
            cond = rule.condition
            if isinstance(cond, LimitsCondition) and rule.streamed:
                watch = _LimitWatch(rule, cond, [_LevelWatch(level) for level in cond.levels])
                self._watches.setdefault(cond.parameter, []).append(watch)
                self._watch_of[rule.id] = watch
            elif isinstance(cond, LimitsCondition | BaselineDropCondition | OneOfCondition):
                self._entry_rules.setdefault(cond.parameter, []).append(rule)
            elif isinstance(cond, PowerDropCondition):
                for parameter in cond.parameters:
                    self._entry_rules.setdefault(parameter, []).append(rule)
            elif isinstance(cond, SideEffectCondition):
                self._side_effect_rules.append(rule)
            elif isinstance(cond, News2Condition):
                self._news2_rules.append(rule)
            elif isinstance(cond, NoReadingCondition):
                self._no_reading_rules.append(rule)
                self._technical_ids.add(rule.id)
            elif isinstance(cond, FlaggedCondition):
                self._flagged_rules.append(rule)
                self._technical_ids.add(rule.id)
            elif isinstance(cond, ObservationOverdueCondition):
                self._overdue_rules.append(rule)
            elif cond.type == NOT_STORED:
                self._not_stored_rules.append(rule)
        self._streamed = {p: self._stream[p] for p in STREAMED_PARAMETERS}
        for parameter, watches in self._watches.items():
            state = self._stream[parameter]
            state.watches = tuple(watches)
            lows = [w.mildest for w in watches if w.low]
            highs = [w.mildest for w in watches if not w.low]
            state.quiet_low = max(lows, default=-math.inf)
            state.quiet_high = min(highs, default=math.inf)

    # ===== public API ======================================================================
    def feed(self, event: TrialEvent) -> list[AlarmEvent]:
        """Apply one event (time-ordered; a set may be late); returns the alarm events it and
        the timers due before it caused."""
        if isinstance(event, Reading):
            self._begin(event.time)
            self._on_reading(event.time, event.parameter, event.value, event.flags)
            return self._end()
        if isinstance(event, ObservationSet) and self.now is not None and event.time < self.now:
            return self._late_set(event)
        t = event.time  # aware: every event checks that itself
        self._begin(t)
        self._earliest = _UNKNOWN  # the event may change anything the timers depend on
        if isinstance(event, ObservationSet):
            self._on_set(event, t)
        elif isinstance(event, Injection):
            self._on_injection(event)
        elif isinstance(event, Acknowledgement):
            self._on_acknowledgement(event)
        elif isinstance(event, WindowExtension):
            self._window_extra += timedelta(minutes=event.minutes)
        elif isinstance(event, DeviceLink):
            self._on_device_link(event)
        elif isinstance(event, ReadingsNotStored):
            self._on_not_stored(event, t)
        elif isinstance(event, WindowClosed):
            self._closed_at = t
            self._schedule.close(t)
            # Monitoring ends: nothing stays active on a finished trial's screens (the record
            # refused the close while any alarm waited for a nurse; a condition still present
            # was recorded as the doctor's reason).
            for alarm in list(self._alarms.values()):
                present = alarm.current is not None
                self._resolve(
                    alarm, t, {"reason": "monitoring window closed", "condition_present": present}
                )
        else:
            raise TypeError(f"not a trial event: {event!r}")
        return self._end()

    def feed_frame(
        self,
        time: datetime,
        values: Mapping[Parameter, float],
        missing: Iterable[Parameter] = (),
        flags: frozenset[QualityFlag] = frozenset(),
    ) -> list[AlarmEvent]:
        """A device frame: as a `Reading` for each value, then one without a value for each
        missing parameter, without making them (the monitor's hot path). A frame carrying blood
        pressure is the cuff's: its pulse is not the streamed pulse."""
        if time.utcoffset() is None:
            raise ValueError(f"time {time.isoformat()} has no UTC offset; use aware times")
        if not values and not missing:
            return []  # no reading at all: time does not move
        cuff = not _CUFF_PARAMETERS.isdisjoint(values)
        self._begin(time)
        on_reading = self._on_reading
        for parameter, value in values.items():
            if not (cuff and parameter is _PULSE):
                on_reading(time, parameter, value, flags)
        for parameter in missing:
            if not (cuff and parameter is _PULSE):
                on_reading(time, parameter, None, flags)
        out, self._out = self._out, []
        return out

    def advance_to(self, time: datetime) -> list[AlarmEvent]:
        """Fire every timer due up to and including `time` (call it at `next_deadline()`)."""
        self._check_order(time)
        self._out = []
        self._run_timers(time, inclusive=True)
        if self.now is None or time > self.now:
            self._new_instant(time)
        self.now = time
        return self._end()

    def next_deadline(self) -> datetime | None:
        """When the next timer falls due, so the caller knows when to wake (None: nothing)."""
        if self._earliest is _UNKNOWN or not self._exact:
            self._earliest = min((deadline for deadline, _ in self._timers()), default=None)
            self._exact = True
        return self._earliest

    def wake_time(self) -> datetime | None:
        """When to call `advance_to` next: never after the next deadline, perhaps before it.

        Cheaper than `next_deadline` while readings stream in (no scan of the timers); waking
        early costs one scan in `advance_to`, which then knows the deadline exactly.
        """
        return self.next_deadline() if self._earliest is _UNKNOWN else self._earliest

    def take_set_scores(self) -> list[SetScore]:
        """The NEWS2 of each set judged since the last call (a set scored again at its instant,
        once a same-time device reading came, appears again: the latest wins)."""
        scores, self._scores = self._scores, []
        return scores

    def active_alarms(self) -> list[ActiveAlarm]:
        return [alarm.snapshot() for alarm in self._alarms.values()]

    def next_observation_due(self) -> datetime | None:
        return self._schedule.next_due

    def missed_observation_due_times(self) -> list[datetime]:
        return self._schedule.missed_due_times(self.now) if self.now is not None else []

    def observation_due_times(self) -> list[DueTime]:
        return self._schedule.due_times(self.now) if self.now is not None else []

    def baseline(self) -> dict[Parameter, float]:
        """The patient's own values before the injection (empty before it or without values)."""
        return dict(self._baseline)

    def latest_news2(self) -> tuple[datetime, News2Result] | None:
        if self._news2 is None or self._news2_time is None:
            return None
        return self._news2_time, self._news2

    def window_end(self) -> datetime | None:
        """Planned end of the monitoring window (injection + default + extensions)."""
        if self.injection is None:
            return None
        default = timedelta(minutes=self.rule_set.monitoring_window.default_min)
        return self.injection.time + default + self._window_extra

    @property
    def window_closed_at(self) -> datetime | None:
        return self._closed_at

    def may_close_window(self) -> bool:
        """Not while an alarm waits for acknowledgement, nor while a physiological condition
        is still present (a doctor may still close it, giving the reason, in the record)."""
        return all(
            alarm.acknowledged_at is not None
            and (alarm.current is None or alarm.rule.kind is not AlarmKind.PHYSIOLOGICAL)
            for alarm in self._alarms.values()
        )

    def replay(self, events: Iterable[TrialEvent], until: datetime | None = None) -> int:
        """Rebuild state from the record (after a restart): feed every event, discard the
        alarm events (they are already in the record); returns how many were discarded."""
        discarded = 0
        for event in events:
            discarded += len(self.feed(event))
        if until is not None:
            discarded += len(self.advance_to(until))
        self._scores = []
        return discarded

    # ===== instants ========================================================================
    def _check_order(self, time: datetime) -> None:
        if time.tzinfo is None or time.utcoffset() is None:
            raise ValueError("times must be timezone-aware")
        if self.now is not None and time < self.now:
            raise EventOrderError(
                f"event at {_iso(time)} is older than {_iso(self.now)}; feed events in time order"
            )

    def _begin(self, t: datetime) -> None:
        """Before an event at t: its order checked, every timer due before t fired."""
        if self.now is not None and t < self.now:
            self._check_order(t)  # raises
        self._out = []
        known = self._earliest
        if known is _UNKNOWN or (known is not None and known < t):
            self._run_timers(t, inclusive=False)
        if self._unscored_set is not None and (self.now is None or t > self.now):
            self._new_instant(t)
        self.now = t

    def _new_instant(self, t: datetime) -> None:
        if self._unscored_set is not None and self._unscored_set.time < t:
            self._unscored_set = None

    def _end(self) -> list[AlarmEvent]:
        out, self._out = self._out, []
        return out

    # ===== readings ========================================================================
    def _on_reading(
        self, t: datetime, parameter: Parameter, value: float | None, flags: frozenset[Any]
    ) -> None:
        self._exact = False  # silence moves later: `_earliest` stays a bound, no longer exact
        valid = value is not None and (not flags or flags <= NON_DISQUALIFYING_FLAGS)  # usable()
        state = self._streamed.get(parameter)  # one lookup: enum hashing is not free
        if state is None:
            # A device entry of a non-streamed parameter (an automatic blood pressure).
            if valid:
                assert value is not None
                if self.injection is None and parameter in DEVICE_BASELINE_PARAMETERS:
                    self._remember_device_value(parameter, t, float(value))
                self._on_entry_values(t, {parameter: value}, side_effects=None)
            return
        if state.last_any is None and state.watched_from is None:
            self._earliest = _UNKNOWN  # the device's silence is watched from now on
        state.last_any = t
        if valid:
            assert value is not None
            value = float(value)
            state.valid_at, state.valid_value = t, value  # for a set of this same instant
            if self.injection is None:
                self._remember_device_value(parameter, t, value)
            if state.flagged_since:
                state.flagged_since.clear()
                state.flagged_why.clear()
            # Integers, as charted and as NEWS2 scores (nearly every device value is whole).
            charted = value if value.is_integer() else float(whole_number(value))
            watches = state.watches
            if state.quiet_low < charted < state.quiet_high:
                for watch in watches:
                    if not watch.idle:
                        break
                else:
                    watches = ()  # inside every limit, no level with an episode: most readings
            for watch in watches:
                self._watch_value(watch, t, charted)
            if self._unscored_set is not None and self._unscored_set.time == t:
                self._score_set(self._unscored_set, t, judge=True)
        else:
            self._flagged_reading(parameter, state, t, value, flags)
        if self._alarms and not self._technical_ids.isdisjoint(self._alarms):
            # A technical alarm this reading may end is judged once the instant is complete
            # (at t, as a timer), so the order of a frame's readings never matters.
            self._lower(t)

    def _flagged_reading(
        self,
        parameter: Parameter,
        state: _StreamState,
        t: datetime,
        value: float | None,
        flags: frozenset[Any],
    ) -> None:
        """An unusable reading counts for the first flagged rule it matches; it breaks the
        others' watch (each watches an unbroken run of its own kind of reading)."""
        for rule in self._flagged_rules:
            cond = rule.condition
            assert isinstance(cond, FlaggedCondition)
            if parameter not in cond.parameters:
                continue
            why = {str(f) for f in flags if f in cond.flags}
            if not why and cond.no_value and value is None and not flags:
                why = {"no value"}
            if why:
                if rule.id not in state.flagged_since:
                    state.flagged_since[rule.id] = t
                    self._earliest = _UNKNOWN  # a delay starts
                state.flagged_why.setdefault(rule.id, set()).update(why)
                for other in list(state.flagged_since):
                    if other != rule.id:
                        del state.flagged_since[other]
                        state.flagged_why.pop(other, None)
                break

    def _watch_value(self, watch: _LimitWatch, t: datetime, value: float) -> None:
        """A streamed value (as charted) for one limit: counters run up to t on the value held
        until now, then every level sees the new value."""
        if watch.idle and watch.outside(value):
            watch.value, watch.value_time = value, t
            return
        low = watch.low
        held = watch.value
        # Only a deeper value than the one held brings a running counter's decision in.
        deeper = held is None or (value < held if low else value > held)
        changed = False
        idle = True
        for lw in watch.levels:
            if lw.episode_start is not None:
                self._integrate(watch, lw, t)
            level = lw.level
            limit = level.limit
            if value <= limit if low else value >= limit:  # in this level's zone
                if lw.zone_since is None:
                    changed = True
                    lw.zone_since = t
                    if level.repeat_entries is not None and level.repeat_within_s is not None:
                        lw.entries.append(t)
                        while lw.entries and t - lw.entries[0] > _seconds(level.repeat_within_s):
                            lw.entries.popleft()
                    if lw.episode_start is None:
                        lw.episode_start, lw.counter, lw.counted_at = t, 0.0, t
                elif deeper and level.counter is not None and not lw.met:
                    changed = True
                if lw.clear_since is not None:
                    lw.clear_since = None
            else:
                if lw.zone_since is not None:
                    lw.zone_since = None
                    changed = True
                    if level.counter is None and not lw.met:
                        lw.episode_start = None  # a plain delay: the episode is the stay
                        lw.owed = None
                if lw.met:
                    clears = level.clears_at
                    assert clears is not None
                    if value >= clears if low else value <= clears:
                        if lw.clear_since is None:
                            lw.clear_since = t
                            changed = True
                    elif lw.clear_since is not None:
                        lw.clear_since = None
            if idle and (lw.episode_start is not None or lw.met or lw.owed is not None):
                idle = False
        watch.value, watch.value_time = value, t
        watch.idle = idle
        if changed:
            deadline = min((d for d, _ in self._watch_timers(watch)), default=None)
            if deadline is not None:
                self._lower(deadline)

    @staticmethod
    def _integrate(watch: _LimitWatch, lw: _LevelWatch, t: datetime) -> None:
        """Run a level's counter up to t on the value held since it was last counted."""
        counter = lw.level.counter
        if counter is None or lw.episode_start is None or lw.met or lw.counted_at is None:
            return
        dt = (t - lw.counted_at).total_seconds()
        if dt <= 0:
            return
        held = watch.value
        if held is not None and watch.cond.meets(lw.level, held):
            lw.counter += watch.cond.depth(counter.reference, held) * dt
        else:
            lw.counter = max(0.0, lw.counter - counter.decay_per_s * dt)
            if lw.counter == 0.0 and lw.zone_since is None:
                lw.episode_start = None  # the episode is over (entries keep their own window)
                lw.owed = None
        lw.counted_at = t

    # ===== streamed levels: decisions and clearing ========================================
    def _decision_time(self, watch: _LimitWatch, index: int) -> tuple[datetime, str] | None:
        """When this level will be decided if the value holds, and by what."""
        lw = watch.levels[index]
        if lw.met or lw.zone_since is None or lw.episode_start is None:
            return None
        level = lw.level
        candidates: list[tuple[datetime, str]] = []
        if level.repeat_entries is not None and len(lw.entries) >= level.repeat_entries:
            candidates.append(
                (
                    lw.entries[-1],
                    f"entry {len(lw.entries)} into the zone within "
                    f"{_num(level.repeat_within_s or 0)} s",
                )
            )
        if level.max_delay_s is not None:
            at = max(lw.episode_start + _seconds(level.max_delay_s), lw.zone_since)
            candidates.append(
                (at, f"in the zone {_num(level.max_delay_s)} s after the episode began")
            )
        counter = level.counter
        if counter is not None and lw.counted_at is not None and watch.value is not None:
            depth = watch.cond.depth(counter.reference, watch.value)
            if lw.counter >= counter.threshold:
                at = lw.counted_at
            elif depth > 0:
                at = lw.counted_at + _seconds((counter.threshold - lw.counter) / depth)
            else:
                at = None
            if at is not None:
                if level.min_duration_s is not None:
                    at = max(at, lw.zone_since + _seconds(level.min_duration_s))
                candidates.append((at, f"counter reached {_num(counter.threshold)}"))
        if not candidates:
            return None
        return min(candidates, key=lambda c: c[0])

    @staticmethod
    def _wait_until(watch: _LimitWatch, index: int) -> datetime | None:
        """While the value lies in a deeper level still pending, a shallower level's decision
        waits, at most until that level's maximum delay: one alarm at the right priority, not
        medium and then high. None: nothing to wait for."""
        until: datetime | None = None
        for deeper in watch.levels[index + 1 :]:
            if deeper.met or deeper.zone_since is None or deeper.episode_start is None:
                continue
            bound = deeper.zone_since
            if deeper.level.max_delay_s is not None:
                bound = max(bound, deeper.episode_start + _seconds(deeper.level.max_delay_s))
            until = bound if until is None else max(until, bound)
        return until

    def _watch_timers(self, watch: _LimitWatch) -> Iterator[_Timer]:
        deeper_at: datetime | None = None  # the soonest decision of a deeper level
        for index in range(len(watch.levels) - 1, -1, -1):
            lw = watch.levels[index]
            if lw.met:
                if lw.clear_since is not None:
                    yield (
                        lw.clear_since + _seconds(lw.level.hold_s or 0),
                        lambda t, lw=lw: self._clear_level(watch, lw, t),
                    )
                continue
            wait = self._wait_until(watch, index)
            if lw.owed is not None:
                # Reached while waiting: decided, in its zone, once the wait ends or has lasted
                # the deeper level's maximum delay (a value dipping deep over and over cannot
                # keep restarting the wait).
                if lw.zone_since is None or lw.owed_until is None:
                    continue
                now = self.now or lw.owed
                at = (
                    max(now, lw.zone_since)
                    if wait is None
                    else max(min(wait, lw.owed_until), lw.zone_since)
                )
                why = lw.owed_why
            else:
                decision = self._decision_time(watch, index)
                if decision is None:
                    continue
                at, why = decision
                if wait is not None and wait > at:
                    if deeper_at is None or at < deeper_at:
                        yield (at, lambda t, i=index, why=why: self._owe(watch, i, t, why))
                    continue
            if deeper_at is not None and deeper_at <= at:
                continue  # a deeper level is decided first (or with it) and meets this one
            deeper_at = at
            yield (at, lambda t, i=index, why=why: self._decide(watch, i, t, why))

    def _owe(self, watch: _LimitWatch, index: int, t: datetime, why: str) -> None:
        """The level was reached while a deeper one is pending: it waits, at most that level's
        maximum delay, for as long as its episode lasts."""
        lw = watch.levels[index]
        delays = [
            deeper.level.max_delay_s or 0.0
            for deeper in watch.levels[index + 1 :]
            if not deeper.met and deeper.zone_since is not None
        ]
        lw.owed, lw.owed_why = t, why
        lw.owed_until = t + _seconds(max(delays, default=0.0))
        self._earliest = _UNKNOWN

    def _decide(self, watch: _LimitWatch, index: int, t: datetime, why: str) -> None:
        """The level is met, and so (nested) is every shallower one."""
        for i, lw in enumerate(watch.levels[: index + 1]):
            self._integrate(watch, lw, t)
            if not lw.met:
                lw.met = True
                lw.decided_by = why if i == index else "a deeper level was met"
                lw.clear_since = None
                lw.owed = None
        watch.idle = False
        self._sync_watch(watch, t)

    def _clear_level(self, watch: _LimitWatch, lw: _LevelWatch, t: datetime) -> None:
        """Every level whose hold has run out by t ends together: one event, not one a level."""
        for other in watch.levels:
            if (
                other.met
                and other.clear_since is not None
                and other.clear_since + _seconds(other.level.hold_s or 0) <= t
            ):
                other.reset()
        watch.update_idle()
        self._sync_watch(watch, t)

    def _sync_watch(self, watch: _LimitWatch, t: datetime) -> None:
        met = [i for i, lw in enumerate(watch.levels) if lw.met]
        if not met:
            self._condition(
                watch.rule,
                None,
                t,
                {
                    "parameter": watch.cond.parameter.value,
                    "reason": "condition cleared",
                    "value": _num(watch.value) if watch.value is not None else None,
                    "time": _iso(t),
                },
            )
            return
        self._condition(watch.rule, max(met), t, self._watch_evidence(watch, max(met), t))

    def _watch_evidence(self, watch: _LimitWatch, index: int, t: datetime) -> dict[str, Any]:
        lw = watch.levels[index]
        level = lw.level
        evidence: dict[str, Any] = {
            "parameter": watch.cond.parameter.value,
            "level": level.id,
            "limit": _num(level.limit),
            "direction": watch.cond.direction,
            "decided_by": lw.decided_by,
            "levels_met": [w.level.id for w in watch.levels if w.met],
            "time": _iso(t),
        }
        if lw.episode_start is not None:
            evidence["since"] = _iso(lw.episode_start)
        if level.counter is not None:
            evidence["counter"] = _num(round(lw.counter, 1))
        if watch.value is not None and watch.value_time is not None:
            evidence["value"] = _num(watch.value)
            evidence["value_time"] = _iso(watch.value_time)
        return evidence

    # ===== entries ==========================================================================
    def _late_set(self, obs: ObservationSet) -> list[AlarmEvent]:
        """A set typed after it was measured: judged now, counted at its measured time."""
        now = self.now
        assert now is not None
        self._out = []
        self._earliest = _UNKNOWN
        self._on_set(obs, now)
        return self._end()

    def _on_set(self, obs: ObservationSet, t: datetime) -> None:
        """A nurse's set measured at obs.time, judged at t (later when typed late)."""
        measured = obs.time
        values = obs.present()
        values.pop(Parameter.ON_OXYGEN, None)
        if self.injection is None or measured < self.injection.time:
            self._remember_set(measured, values)
        newest = self._last_set_time is None or measured >= self._last_set_time
        if newest:
            self._last_set_time = measured
            for parameter in (Parameter.SPO2, Parameter.PULSE_RATE):
                # A nurse's SpO2/pulse feeds NEWS2 and the baseline; the streamed rules judge
                # the oximeter stream only.
                value = values.pop(parameter, None)
                if value is not None:
                    self._latest[parameter] = _Entry(measured, float(value))
            self._on_entry_values(t, values, side_effects=obs.side_effects, measured=measured)
        if self._schedule.started:
            self._schedule.record_set(measured)
        for rule in self._overdue_rules:
            alarm = self._alarms.get(rule.id)
            due = self._schedule.next_due
            # Ended once the overdue due time is met (an older set typed late may meet another).
            if alarm is not None and (due is None or _iso(due) != alarm.evidence.get("due")):
                self._condition(
                    rule, None, t, {"reason": "observation set recorded", "time": _iso(measured)}
                )
        self._score_set(obs, t, judge=newest)

    def _on_entry_values(
        self,
        t: datetime,
        values: dict[Parameter, Any],
        side_effects: frozenset[Any] | None,
        measured: datetime | None = None,
    ) -> None:
        at = measured or t
        judged: list[Rule] = []
        for parameter, value in values.items():
            self._latest[parameter] = _Entry(at, value)
            for rule in self._entry_rules.get(parameter, ()):
                if rule not in judged:
                    judged.append(rule)
        for rule in judged:
            self._judge_entry(rule, t, at, values)
        if side_effects is not None:
            for rule in self._side_effect_rules:
                cond = rule.condition
                assert isinstance(cond, SideEffectCondition)
                found = sorted(str(item) for item in side_effects if item in cond.items)
                self._condition(
                    rule,
                    0 if found else None,
                    t,
                    {"items": found, "time": _iso(at)},
                    severity=frozenset(found),
                )

    def _judge_entry(
        self, rule: Rule, t: datetime, at: datetime, values: dict[Parameter, Any]
    ) -> None:
        cond = rule.condition
        if isinstance(cond, LimitsCondition):
            value = float(values[cond.parameter])
            # As charted, and as NEWS2 scores it: temperature to one decimal, the rest whole.
            if cond.parameter is Parameter.TEMP:
                value = float(one_decimal(value))
            else:
                value = float(whole_number(value))
            met = [i for i, level in enumerate(cond.levels) if cond.meets(level, value)]
            level = max(met) if met else None
            evidence: dict[str, Any] = {
                "parameter": cond.parameter.value,
                "value": _num(value),
                "time": _iso(at),
            }
            if level is not None:
                evidence["level"] = cond.levels[level].id
                evidence["limit"] = _num(cond.levels[level].limit)
            self._condition(rule, level, t, evidence)
        elif isinstance(cond, BaselineDropCondition):
            baseline = self._baseline.get(cond.parameter)
            if self.injection is None or at < self.injection.time or baseline is None:
                return  # no baseline: cannot judge a fall (shown as missing on the page)
            value = float(values[cond.parameter])
            drop = baseline - value
            self._condition(
                rule,
                0 if drop >= cond.by else None,
                t,
                {
                    "parameter": cond.parameter.value,
                    "value": _num(value),
                    "time": _iso(at),
                    "baseline": _num(baseline),
                    "drop": _num(drop),
                    "threshold": _num(cond.by),
                },
            )
        elif isinstance(cond, OneOfCondition):
            value = str(values[cond.parameter])
            order = cond.order or cond.values
            severity = order.index(value) if value in order else 0
            self._condition(
                rule,
                0 if value in cond.values else None,
                t,
                {
                    "parameter": cond.parameter.value,
                    "value": value,
                    "time": _iso(at),
                },
                severity=severity,
            )
        elif isinstance(cond, PowerDropCondition):
            if self.injection is None or at < self.injection.time:
                return
            limbs: dict[str, Any] = {}
            worst = 0.0
            judged = False
            for parameter in cond.parameters:
                latest = self._latest.get(parameter)
                baseline = self._baseline.get(parameter)
                if latest is None or baseline is None or latest.time < self.injection.time:
                    continue
                judged = True
                drop = baseline - float(latest.value)
                worst = max(worst, drop)
                limbs[parameter.value] = {
                    "value": _num(float(latest.value)),
                    "baseline": _num(baseline),
                    "time": _iso(latest.time),
                }
            if judged:
                self._condition(
                    rule,
                    0 if worst >= cond.grades else None,
                    t,
                    {
                        "limbs": limbs,
                        "grades_below_baseline": _num(worst),
                        "threshold": cond.grades,
                        "time": _iso(at),
                    },
                    severity=worst,
                )

    def _same_time_value(self, parameter: Parameter, time: datetime) -> float | None:
        """A device's valid reading of this very instant (the set's), if one came."""
        state = self._stream[parameter]
        return state.valid_value if state.valid_at == time == self.now else None

    def _score_set(self, obs: ObservationSet, t: datetime, *, judge: bool) -> None:
        spo2, spo2_from = obs.spo2, "set" if obs.spo2 is not None else None
        pulse, pulse_from = obs.pulse_rate, "set" if obs.pulse_rate is not None else None
        same_time = self._same_time_value
        if spo2 is None and (device := same_time(Parameter.SPO2, obs.time)) is not None:
            spo2, spo2_from = device, "device"
        if pulse is None and (device := same_time(Parameter.PULSE_RATE, obs.time)) is not None:
            pulse, pulse_from = device, "device"
        result = score_news2(
            rr=obs.rr,
            spo2=spo2,
            on_oxygen=obs.on_oxygen,
            sbp=obs.systolic,
            pulse=pulse,
            consciousness=obs.consciousness,
            temp=obs.temp,
            spo2_scale=self.spo2_scale,
        )
        self._scores.append(
            SetScore(obs.record_id, obs.time, result, spo2, spo2_from, pulse, pulse_from)
        )
        if result.band is News2Band.INCOMPLETE:
            # Device readings of this same instant may still arrive (any input order).
            waiting = judge and obs.time == self.now and set(result.missing) <= {"spo2", "pulse"}
            self._unscored_set = obs if waiting else None
            return
        self._unscored_set = None
        self._earliest = _UNKNOWN  # the schedule follows the NEWS2 band
        if self._schedule.started:
            self._schedule.news2_scored(obs.time, result.band.value)
        if not judge:
            return  # an older set typed late: its score is kept, the newest set is judged
        self._news2, self._news2_time = result, obs.time
        evidence = {
            "time": _iso(obs.time),
            "total": result.total,
            "band": result.band.value,
            "scores": result.scores,
            "spo2_scale": self.spo2_scale,
        }
        rank = NEWS2_BAND_RANK.get(result.band.value, 0)
        for rule in self._news2_rules:
            cond = rule.condition
            assert isinstance(cond, News2Condition)
            met = [i for i, level in enumerate(cond.levels) if NEWS2_BAND_RANK[level.band] <= rank]
            level = max(met) if met else None
            if level is not None:
                evidence = {**evidence, "level": cond.levels[level].id}
            self._condition(rule, level, t, evidence)

    # ===== baseline ========================================================================
    def _remember_device_value(self, parameter: Parameter, t: datetime, value: float) -> None:
        buffer = self._device_values.setdefault(parameter, deque())
        buffer.append((t, value))
        while buffer and buffer[0][0] < t - self._baseline_window:
            buffer.popleft()

    def _remember_set(self, measured: datetime, values: dict[Parameter, Any]) -> None:
        numbers = {p: float(v) for p, v in values.items() if p in BASELINE_PARAMETERS}
        self._pre_sets.append((measured, numbers))
        self._pre_sets.sort(key=lambda item: item[0])
        if self.injection is not None:
            self._baseline = self._work_out_baseline()  # a late set from before the injection

    def _work_out_baseline(self) -> dict[Parameter, float]:
        """Device parameters: the median of the readings in the window before the injection;
        the rest (and device parameters without readings): the latest set within the set
        window before the injection that records them."""
        assert self.injection is not None
        injected = self.injection.time
        baseline: dict[Parameter, float] = {}
        start = injected - self._baseline_window
        for parameter, values in self._device_values.items():
            window = [v for time, v in values if start <= time < injected]
            if window:
                baseline[parameter] = float(statistics.median(window))
        from_devices = set(baseline)
        earliest = injected - self._baseline_set_window
        for measured, numbers in self._pre_sets:  # oldest first: the latest set wins
            if earliest <= measured < injected:
                for parameter, value in numbers.items():
                    if parameter not in from_devices:
                        baseline[parameter] = value
        return baseline

    def _on_injection(self, injection: Injection) -> None:
        if self.injection is not None:
            raise ValueError("one injection per trial: a new dose is a new trial")
        self.injection = injection
        self._baseline = self._work_out_baseline()
        self._schedule.start(injection.time)

    # ===== other events =====================================================================
    def _on_device_link(self, link: DeviceLink) -> None:
        for parameter in link.parameters & STREAMED_PARAMETERS:
            state = self._stream[parameter]
            if state.watched_from is None:
                state.watched_from = link.time
            state.link = _Link(link.device, link.state.value, link.time, link.reason)

    def _on_acknowledgement(self, ack: Acknowledgement) -> None:
        alarm = self._alarms.get(ack.rule_id)
        if alarm is None or alarm.acknowledged_at is not None:
            return  # nothing to acknowledge (already resolved or already acknowledged)
        t = ack.time
        alarm.acknowledged_at = t
        alarm.acknowledged_by = ack.by
        alarm.acknowledged_severity = alarm.severity
        if alarm.rule.condition.type == NOT_STORED:
            alarm.current = None  # the loss was the condition: seen, it is over
        self._emit(
            alarm,
            AlarmEventType.ACKNOWLEDGED,
            t,
            {
                "by": ack.by,
                "note": ack.note,
                "condition_present": alarm.current is not None,
            },
        )
        if alarm.current is None:
            self._resolve(alarm, t, {"reason": "acknowledged and condition cleared"})
        elif alarm.current < alarm.level:
            alarm.level = alarm.current
            watch = self._watch_of.get(alarm.rule.id)
            if watch is not None:  # the value now, not the one when the deeper level ended
                alarm.evidence = self._watch_evidence(watch, alarm.current, t)
            self._emit(
                alarm,
                AlarmEventType.CHANGED,
                t,
                {
                    **alarm.evidence,
                    "reason": "seen by a nurse: shown at its current level",
                },
            )

    # ===== technical rules =================================================================
    def _on_not_stored(self, event: ReadingsNotStored, t: datetime) -> None:
        """Readings lost by the record: raised with how many; more lost while it is active
        updates the count, silently (it has not been seen yet, and it sounds already)."""
        for rule in self._not_stored_rules:
            alarm = self._alarms.get(rule.id)
            if alarm is None:
                self._condition(rule, 0, t, {"dropped": event.dropped})
                continue
            alarm.evidence = {"dropped": int(alarm.evidence.get("dropped", 0)) + event.dropped}
            self._emit(
                alarm,
                AlarmEventType.CHANGED,
                t,
                {**alarm.evidence, "reason": "more readings could not be stored"},
            )

    def _lost_parameters(self, rule: Rule, t: datetime) -> list[Parameter]:
        cond = rule.condition
        assert isinstance(cond, NoReadingCondition)
        quiet = _seconds(rule.delay_s)
        lost = []
        for parameter in cond.parameters:
            since = self._stream[parameter].silent_since
            # Watched from its first reading or its device's first link event: a parameter no
            # device was ever assigned to deliver is not "lost".
            if since is not None and t - since >= quiet:
                lost.append(parameter)
        return lost

    def _lost_evidence(self, rule: Rule, t: datetime) -> dict[str, Any]:
        parameters = {}
        for parameter in self._lost_parameters(rule, t):
            state = self._stream[parameter]
            since = state.silent_since
            assert since is not None
            lost: dict[str, Any] = {
                "last_reading": _iso(state.last_any) if state.last_any is not None else None,
                "lost_for_s": _num((t - since).total_seconds()),
            }
            if state.link is not None:
                lost["device"] = state.link.device
                lost["link"] = state.link.state
                lost["link_since"] = _iso(state.link.since)
                if state.link.reason:
                    lost["link_reason"] = state.link.reason
            parameters[parameter.value] = lost
        return {"parameters": parameters, "quiet_time_s": _num(rule.delay_s)}

    def _flagged_parameters(self, rule: Rule) -> list[Parameter]:
        cond = rule.condition
        assert isinstance(cond, FlaggedCondition)
        return [p for p in cond.parameters if rule.id in self._stream[p].flagged_since]

    def _flagged_evidence(self, rule: Rule, t: datetime) -> dict[str, Any]:
        parameters = {}
        for parameter in self._flagged_parameters(rule):
            state = self._stream[parameter]
            since = state.flagged_since[rule.id]
            parameters[parameter.value] = {
                "flagged_since": _iso(since),
                "for_s": _num((t - since).total_seconds()),
                "why": sorted(state.flagged_why.get(rule.id, ())),
            }
        return {"parameters": parameters, "delay_s": _num(rule.delay_s)}

    # ===== timers ==========================================================================
    def _timers(self) -> Iterator[_Timer]:
        """Every pending timer as (deadline, action). Each action changes the state so that its
        timer disappears, which is what lets `_run_timers` make progress."""
        for watches in self._watches.values():
            for watch in watches:
                yield from self._watch_timers(watch)
        for rule in self._no_reading_rules:
            yield from self._no_reading_timers(rule)
        for rule in self._flagged_rules:
            yield from self._flagged_timers(rule)
        for rule in self._overdue_rules:
            due = self._schedule.next_due
            alarm = self._alarms.get(rule.id)
            if due is not None and (alarm is None or alarm.current is None):
                yield (
                    due + _seconds(rule.delay_s),
                    lambda t, rule=rule, due=due: self._raise_overdue(rule, t, due),
                )
        for alarm in self._alarms.values():
            after = self._escalate_after.get(alarm.priority)
            if (
                alarm.acknowledged_at is None
                and after is not None
                and not alarm.escalated
                and alarm.rule.escalate_unacknowledged
            ):
                yield (
                    alarm.annunciated_at + after,
                    lambda t, alarm=alarm: self._escalate(alarm, t),
                )

    def _no_reading_timers(self, rule: Rule) -> Iterator[_Timer]:
        cond = rule.condition
        assert isinstance(cond, NoReadingCondition)
        alarm = self._alarms.get(rule.id)
        shown = alarm.current if alarm is not None else None
        if shown is not None and self.now is not None and not self._lost_parameters(rule, self.now):
            yield (
                self.now,
                lambda t: self._condition(
                    rule, None, t, {"reason": "readings returned", "time": _iso(t)}
                ),
            )
            return
        seen = [s for p in cond.parameters if (s := self._stream[p].silent_since) is not None]
        if not seen or self._closed_at is not None:
            return
        since = min(seen)
        if shown is None:
            yield (
                since + _seconds(rule.delay_s),
                lambda t: self._condition(rule, 0, t, self._lost_evidence(rule, t)),
            )
        elif cond.escalate_after_s is not None and shown == 0:
            yield (
                since + _seconds(cond.escalate_after_s),
                lambda t: self._condition(rule, 1, t, self._lost_evidence(rule, t)),
            )

    def _flagged_timers(self, rule: Rule) -> Iterator[_Timer]:
        cond = rule.condition
        assert isinstance(cond, FlaggedCondition)
        starts = [self._stream[p].flagged_since[rule.id] for p in self._flagged_parameters(rule)]
        alarm = self._alarms.get(rule.id)
        shown = alarm.current if alarm is not None else None
        if not starts:
            if shown is not None and self.now is not None:
                yield (
                    self.now,
                    lambda t: self._condition(
                        rule, None, t, {"reason": "usable readings returned", "time": _iso(t)}
                    ),
                )
            return
        since = min(starts)
        if shown is None:
            yield (
                since + _seconds(rule.delay_s),
                lambda t: self._condition(rule, 0, t, self._flagged_evidence(rule, t)),
            )
        elif cond.escalate_after_s is not None and shown == 0:
            yield (
                since + _seconds(cond.escalate_after_s),
                lambda t: self._condition(rule, 1, t, self._flagged_evidence(rule, t)),
            )

    def _run_timers(self, until: datetime, *, inclusive: bool) -> None:
        while True:
            known = self._earliest
            if known is not _UNKNOWN and (
                known is None or known > until or (known == until and not inclusive)
            ):
                return  # nothing can fall due by `until`
            timers = list(self._timers())
            deadline = min((d for d, _ in timers), default=None)
            self._earliest, self._exact = deadline, True
            if deadline is None or deadline > until or (deadline == until and not inclusive):
                return
            self._earliest = _UNKNOWN
            self.now = max(self.now, deadline) if self.now is not None else deadline
            for due, action in timers:
                if due == deadline:
                    action(deadline)

    def _lower(self, deadline: datetime) -> None:
        """A timer was added or brought in: keep `_earliest` a lower bound."""
        if self._earliest is not _UNKNOWN and (self._earliest is None or deadline < self._earliest):
            self._earliest = deadline
        self._exact = False

    def _raise_overdue(self, rule: Rule, t: datetime, due: datetime) -> None:
        last = self._schedule.last_set
        self._condition(
            rule,
            0,
            t,
            {
                "due": _iso(due),
                "grace_s": _num(rule.delay_s),
                "last_set": _iso(last) if last is not None else None,
            },
        )

    # ===== lifecycle =======================================================================
    def _condition(
        self,
        rule: Rule,
        level: int | None,
        t: datetime,
        evidence: dict[str, Any],
        severity: Any = None,
    ) -> None:
        """The rule's condition at t: met at `level` (index into its levels), or not (None)."""
        alarm = self._alarms.get(rule.id)
        if alarm is None:
            if level is None:
                return
            self._earliest = _UNKNOWN  # an alarm changes: its timers, and the watches on it
            alarm = _Alarm(
                rule, self._levels[rule.id], level, level, t, t, dict(evidence), severity
            )
            self._alarms[rule.id] = alarm
            self._emit(alarm, AlarmEventType.RAISED, t, evidence)
            return
        self._earliest = _UNKNOWN
        if level is None:
            alarm.current = None
            if alarm.priority is Priority.HIGH and alarm.acknowledged_at is None:
                return  # latched: stays until acknowledged
            self._resolve(alarm, t, {"reason": "condition cleared", **evidence})
            return
        alarm.current = level
        alarm.evidence = dict(evidence)
        acknowledged = alarm.acknowledged_at is not None
        if level > alarm.level:
            before = alarm.priority
            alarm.level = level
            worse = PRIORITY_RANK[alarm.priority] > PRIORITY_RANK[before]
            self._annunciate(
                alarm,
                t,
                AlarmEventType.ESCALATED if worse else AlarmEventType.REANNUNCIATED,
                "a worse level was met",
            )
        elif level < alarm.level and acknowledged:
            alarm.level = level
            self._emit(
                alarm, AlarmEventType.CHANGED, t, {**evidence, "reason": "eased to a lower level"}
            )
        elif acknowledged and self._worse(severity, alarm.acknowledged_severity):
            self._annunciate(alarm, t, AlarmEventType.REANNUNCIATED, "worse than when acknowledged")
        alarm.severity = severity

    @staticmethod
    def _worse(new: Any, acknowledged: Any) -> bool:
        if new is None or acknowledged is None:
            return False
        if isinstance(new, frozenset):
            return not new <= acknowledged
        return bool(new > acknowledged)

    def _resolve(self, alarm: _Alarm, t: datetime, evidence: dict[str, Any]) -> None:
        del self._alarms[alarm.rule.id]
        self._emit(alarm, AlarmEventType.RESOLVED, t, evidence)

    def _escalate(self, alarm: _Alarm, t: datetime) -> None:
        alarm.escalated = True
        self._emit(
            alarm,
            AlarmEventType.ESCALATED,
            t,
            {
                **alarm.evidence,
                "unacknowledged_for_s": _num((t - alarm.annunciated_at).total_seconds()),
                "annunciated_at": _iso(alarm.annunciated_at),
            },
        )

    def _annunciate(self, alarm: _Alarm, t: datetime, kind: AlarmEventType, reason: str) -> None:
        """Sound again: the alarm must be seen again (its acknowledgement no longer holds)."""
        acknowledged_at = alarm.acknowledged_at
        alarm.acknowledged_at = None
        alarm.acknowledged_by = None
        alarm.acknowledged_severity = None
        alarm.annunciated_at = t
        alarm.escalated = False
        self._emit(
            alarm,
            kind,
            t,
            {
                **alarm.evidence,
                "reason": reason,
                "acknowledged_at": _iso(acknowledged_at) if acknowledged_at else None,
            },
        )

    def _emit(
        self, alarm: _Alarm, kind: AlarmEventType, t: datetime, evidence: dict[str, Any]
    ) -> None:
        self._earliest = _UNKNOWN
        message = alarm.message
        if alarm.rule.condition.type == NOT_STORED:
            # The rule file's wording, with how many readings were lost so far.
            message = message.replace("{dropped}", str(alarm.evidence.get("dropped", "")))
        self._out.append(
            AlarmEvent(
                time=t,
                event=kind,
                rule_id=alarm.rule.id,
                priority=alarm.priority,
                kind=alarm.rule.kind,
                message=message,
                evidence=dict(evidence),
                rule_set_version=self.rule_set.version,
            )
        )


def replace_time(event: TrialEvent, time: datetime) -> TrialEvent:
    """Copy of an event at another time (handy for simulations and tests)."""
    return replace(event, time=time)
