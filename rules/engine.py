"""The stateful rules engine of one trial: events in, alarm events out, no clock.

Timing semantics (issue 4; shared/clinical.md §4):

- Events must be fed in time order. Timers (condition delays, silence, overdue sets,
  escalation, re-annunciation) fire at the exact time they fall due: `feed` first fires every
  timer due strictly before the event, applies the event, then fires timers due at its time;
  `advance_to(t)` fires every timer due up to and including t. So when an event and a timer
  share an instant, the event counts first (a reading arriving exactly as the quiet time ends
  means the device is not lost; a dip ending exactly as its delay elapses does not alarm).
- A missing or flagged value never satisfies nor interrupts a physiological condition: it
  only feeds the technical rules.
- Alarm lifecycle after IEC 60601-1-8: one active alarm per rule; high alarms latch until
  acknowledged and cleared; medium and low resolve when the condition clears; unacknowledged
  alarms escalate once per annunciation; an acknowledged alarm still present after the silence
  is re-annunciated; a worse entry of an acknowledged alarm re-annunciates it at once.
"""

from __future__ import annotations

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
    TrialEvent,
    WindowClosed,
    WindowExtension,
    usable,
)
from rules.news2 import News2Band, News2Result, one_decimal, score_news2, whole_number
from rules.rule_set import (
    BaselineDropCondition,
    FlaggedCondition,
    News2BandCondition,
    NoReadingCondition,
    ObservationOverdueCondition,
    OneOfCondition,
    PowerDropCondition,
    RangeCondition,
    Rule,
    RuleSet,
    SideEffectCondition,
)
from rules.schedule import DueTime, ObservationSchedule
from vocabulary import (
    STREAMED_PARAMETERS,
    AlarmEventType,
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


_Timer = tuple[datetime, Callable[[datetime], None]]
_UNKNOWN: Any = object()  # the earliest deadline must be worked out again


class EventOrderError(ValueError):
    """An event older than one already seen: the engine needs a time-ordered stream."""


def _iso(time: datetime) -> str:
    return time.isoformat()


def _num(value: float) -> float | int:
    """Evidence shows 97, not 97.0, when the value is whole."""
    return int(value) if float(value).is_integer() else value


def _band(cond: RangeCondition) -> dict[str, float | int | None]:
    return {"min": None if cond.min is None else _num(cond.min),
            "max": None if cond.max is None else _num(cond.max)}


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


@dataclass
class _Alarm:
    rule: Rule
    priority: Priority
    raised_at: datetime
    annunciated_at: datetime
    evidence: dict[str, Any]
    severity: Any = None
    condition: bool = True
    escalated: bool = False
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = None
    acknowledged_severity: Any = None

    def snapshot(self) -> ActiveAlarm:
        return ActiveAlarm(
            self.rule.id,
            self.priority,
            self.rule.kind.value,
            self.rule.message,
            self.raised_at,
            self.annunciated_at,
            self.acknowledged_at,
            self.acknowledged_by,
            self.condition,
            self.escalated,
            dict(self.evidence),
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
    last_valid: _Entry | None = None
    off_since: datetime | None = None  # first sensor-off flag since the last valid reading
    watched_from: datetime | None = None  # first link event of a device that streams it
    link: _Link | None = None  # that device's latest link state

    @property
    def silent_since(self) -> datetime | None:
        """Since when silence counts: the last reading, else the device's first link event."""
        return self.last_any if self.last_any is not None else self.watched_from


@dataclass
class _Pending:
    since: datetime
    fired: bool = False


@dataclass
class _Buffers:
    """Pre-injection values for the baseline, trimmed to the baseline window."""

    values: dict[Parameter, deque[tuple[datetime, float]]] = field(default_factory=dict)


class TrialEngine:
    """Rules engine for one trial. Pure: time comes with the events."""

    # False: scan every timer after every event (the plain algorithm, which the tests compare
    # the kept lower bound of `_earliest` against).
    trust_bound = True

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
        # out again. A streamed reading, the hot path at 1 Hz per parameter and per trial, only
        # moves timers later (the device's silence) or adds a condition delay (`_lower`), so
        # after it the value stays a safe lower bound, exact again at the next scan. That spares
        # scanning every timer after every reading.
        self._earliest: datetime | None = _UNKNOWN
        self._exact = False  # `_earliest` is the next deadline itself, not only a bound
        self._out: list[AlarmEvent] = []
        self._stream: dict[Parameter, _StreamState] = {p: _StreamState() for p in Parameter}
        self._pending: dict[str, _Pending] = {}
        self._latest: dict[Parameter, _Entry] = {}  # latest valid value of every parameter
        self._buffers = _Buffers()
        self._baseline: dict[Parameter, float] = {}
        self._schedule = ObservationSchedule(rule_set.schedule)
        self._news2: News2Result | None = None
        self._news2_time: datetime | None = None
        self._unscored_set: ObservationSet | None = None  # waiting for same-time SpO2/pulse
        self._same_time_readings: dict[Parameter, float] = {}
        lifecycle = rule_set.lifecycle
        self._escalate_after = {
            p: timedelta(seconds=s) for p, s in lifecycle.escalate_unacknowledged_after_s.items()
        }
        self._reannunciate_after = timedelta(seconds=lifecycle.reannunciate_after_s)
        self._baseline_window = timedelta(minutes=rule_set.baseline.window_before_injection_min)
        # Rules grouped by what wakes them, so each event only looks at its own rules.
        # Streamed range rules by parameter, as (rule id, min, max, rule): looked at for every
        # reading, so unpacked once here.
        self._bands: dict[Parameter, list[tuple[str, float | None, float | None, Rule]]] = {}
        self._entry_rules: dict[Parameter, list[Rule]] = {}
        self._side_effect_rules: list[Rule] = []
        self._news2_rules: list[Rule] = []
        self._no_reading_rules: list[Rule] = []
        self._flagged_rules: list[Rule] = []
        self._overdue_rules: list[Rule] = []
        for rule in rule_set.rules:
            cond = rule.condition
            if isinstance(cond, RangeCondition) and rule.streamed:
                band = (rule.id, cond.min, cond.max, rule)
                self._bands.setdefault(cond.parameter, []).append(band)
            elif isinstance(cond, RangeCondition | BaselineDropCondition | OneOfCondition):
                self._entry_rules.setdefault(cond.parameter, []).append(rule)
            elif isinstance(cond, PowerDropCondition):
                for parameter in cond.parameters:
                    self._entry_rules.setdefault(parameter, []).append(rule)
            elif isinstance(cond, SideEffectCondition):
                self._side_effect_rules.append(rule)
            elif isinstance(cond, News2BandCondition):
                self._news2_rules.append(rule)
            elif isinstance(cond, NoReadingCondition):
                self._no_reading_rules.append(rule)
            elif isinstance(cond, FlaggedCondition):
                self._flagged_rules.append(rule)
            elif isinstance(cond, ObservationOverdueCondition):
                self._overdue_rules.append(rule)

    # ===== public API ======================================================================
    def feed(self, event: TrialEvent) -> list[AlarmEvent]:
        """Apply one event (time-ordered); returns the alarm events it and any timers caused."""
        if isinstance(event, Reading):
            return self._feed_reading(event.time, event.parameter, event.value, event.flags)
        t = event.time  # aware: every event checks that itself
        self._begin(t)
        self._earliest = _UNKNOWN  # the event may change anything the timers depend on
        if isinstance(event, ObservationSet):
            self._on_set(event)
        elif isinstance(event, Injection):
            self._on_injection(event)
        elif isinstance(event, Acknowledgement):
            self._on_acknowledgement(event)
        elif isinstance(event, WindowExtension):
            self._window_extra += timedelta(minutes=event.minutes)
        elif isinstance(event, DeviceLink):
            self._on_device_link(event)
        elif isinstance(event, WindowClosed):
            self._closed_at = t
            self._schedule.close(t)
            for rule in self._overdue_rules:
                self._condition(rule, False, t, {"reason": "monitoring window closed"})
        else:
            raise TypeError(f"not a trial event: {event!r}")
        return self._end(t)

    def feed_frame(
        self,
        time: datetime,
        values: Mapping[Parameter, float],
        missing: Iterable[Parameter] = (),
        flags: frozenset[QualityFlag] = frozenset(),
    ) -> list[AlarmEvent]:
        """A device frame: exactly as feeding a `Reading` for each value in turn, then one
        without a value for each missing parameter, but without making them (the monitor's
        hot path: every frame of every trial)."""
        if time.utcoffset() is None:
            raise ValueError(f"time {time.isoformat()} has no UTC offset; use aware times")
        if not values and not missing:
            return []  # no reading at all: time does not move
        self._begin(time)
        for parameter, value in values.items():
            self._apply_reading(time, parameter, value, flags)
        for parameter in missing:
            self._apply_reading(time, parameter, None, flags)
        return self._end(time)

    def _feed_reading(
        self, t: datetime, parameter: Parameter, value: float | None, flags: frozenset[Any]
    ) -> list[AlarmEvent]:
        self._begin(t)
        self._apply_reading(t, parameter, value, flags)
        return self._end(t)

    def _apply_reading(
        self, t: datetime, parameter: Parameter, value: float | None, flags: frozenset[Any]
    ) -> None:
        """A reading at the engine's instant t, then the timers due at t (as `_end` does)."""
        if self.trust_bound:
            self._exact = False  # see `_earliest`: the bound stays safe
        else:
            self._earliest = _UNKNOWN
        self._on_reading(t, parameter, value, flags)
        known = self._earliest
        if known is _UNKNOWN or (known is not None and known <= t):
            self._run_timers(t, inclusive=True)

    def _begin(self, t: datetime) -> None:
        """Before an event at t: its order checked, every timer due before t fired."""
        if self.now is not None and t < self.now:
            self._check_order(t)  # raises
        self._out = []
        known = self._earliest
        if known is _UNKNOWN or (known is not None and known < t):
            self._run_timers(t, inclusive=False)
        if self.now is None or t > self.now:
            self._same_time_readings = {}
            if self._unscored_set is not None and self._unscored_set.time < t:
                self._unscored_set = None
        self.now = t

    def _end(self, t: datetime) -> list[AlarmEvent]:
        """After an event at t: timers due at t fired; what was emitted."""
        known = self._earliest
        if known is _UNKNOWN or (known is not None and known <= t):
            self._run_timers(t, inclusive=True)
        out, self._out = self._out, []
        return out

    def advance_to(self, time: datetime) -> list[AlarmEvent]:
        """Fire every timer due up to and including `time` (call it at `next_deadline()`)."""
        self._check_order(time)
        self._out = []
        self._run_timers(time, inclusive=True)
        if self.now is None or time > self.now:
            self._same_time_readings = {}
            # A lost device's escalation is worked out at `now`; time only moves it later.
            self._exact = False
            if not self.trust_bound:
                self._earliest = _UNKNOWN
        self.now = time
        out, self._out = self._out, []
        return out

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

    def active_alarms(self) -> list[ActiveAlarm]:
        return [alarm.snapshot() for alarm in self._alarms.values()]

    def next_observation_due(self) -> datetime | None:
        return self._schedule.next_due

    def missed_observation_due_times(self) -> list[datetime]:
        return self._schedule.missed_due_times(self.now) if self.now is not None else []

    def observation_due_times(self) -> list[DueTime]:
        return self._schedule.due_times(self.now) if self.now is not None else []

    def baseline(self) -> dict[Parameter, float]:
        """Pre-injection medians (empty before the injection or without values)."""
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
        """The window never closes while an alarm is unacknowledged."""
        return all(alarm.acknowledged_at is not None for alarm in self._alarms.values())

    def replay(self, events: Iterable[TrialEvent], until: datetime | None = None) -> int:
        """Rebuild state from the record (after a restart): feed every event, discard the
        alarm events (they are already in the record); returns how many were discarded."""
        discarded = 0
        for event in events:
            discarded += len(self.feed(event))
        if until is not None:
            discarded += len(self.advance_to(until))
        return discarded

    # ===== event handlers ==================================================================
    def _check_order(self, time: datetime) -> None:
        if time.tzinfo is None or time.utcoffset() is None:
            raise ValueError("times must be timezone-aware")
        if self.now is not None and time < self.now:
            raise EventOrderError(
                f"event at {_iso(time)} is older than {_iso(self.now)}; feed events in time order"
            )

    def _on_reading(
        self, t: datetime, parameter: Parameter, value: float | None, flags: frozenset[Any]
    ) -> None:
        valid = usable(value, flags)
        if parameter not in STREAMED_PARAMETERS:
            # A device entry of a non-streamed parameter (e.g. automatic blood pressure).
            if valid:
                self._on_entry_values(t, {parameter: value}, side_effects=None)
            return
        state = self._stream[parameter]
        if state.last_any is None and state.watched_from is None:
            self._earliest = _UNKNOWN  # the device's silence is watched from now on
        state.last_any = t
        if valid:
            assert value is not None
            value = float(value)
            charted = float(whole_number(value))  # integers on the chart; no gap between bands
            state.last_valid = self._latest[parameter] = _Entry(t, value)
            state.off_since = None
            self._same_time_readings[parameter] = value
            if self.injection is None:
                self._remember_for_baseline(parameter, t, value)
            for rule_id, low, high, rule in self._bands.get(parameter, ()):
                if (low is None or charted >= low) and (high is None or charted <= high):
                    self._condition_holds(rule, t)
                elif rule_id in self._pending or rule_id in self._alarms:
                    self._condition_ended(rule_id, rule, t, charted)
            if self._unscored_set is not None and self._unscored_set.time == t:
                self._score_set(self._unscored_set)
        elif flags & self._sensor_off_flags(parameter) and state.off_since is None:
            state.off_since = t
            self._earliest = _UNKNOWN  # a sensor-off delay starts
        if not self._alarms:
            return  # nothing a reading could end
        # Any reading (even flagged) ends silence; a valid one ends sensor-off.
        for rule in self._no_reading_rules:
            if rule.id in self._alarms and not self._lost_parameters(rule, t):
                self._condition(rule, False, t, {"reason": "readings returned",
                                                 "parameter": parameter.value, "time": _iso(t)})
        for rule in self._flagged_rules:
            if rule.id in self._alarms and not self._flagged_parameters(rule):
                self._condition(rule, False, t, {"reason": "valid reading",
                                                 "parameter": parameter.value, "time": _iso(t)})

    def _on_device_link(self, link: DeviceLink) -> None:
        for parameter in link.parameters & STREAMED_PARAMETERS:
            state = self._stream[parameter]
            if state.watched_from is None:
                state.watched_from = link.time
            state.link = _Link(link.device, link.state.value, link.time, link.reason)

    def _sensor_off_flags(self, parameter: Parameter) -> frozenset[Any]:
        flags: set[Any] = set()
        for rule in self._flagged_rules:
            cond = rule.condition
            assert isinstance(cond, FlaggedCondition)
            if parameter in cond.parameters:
                flags.update(cond.flags)
        return frozenset(flags)

    def _on_set(self, obs: ObservationSet) -> None:
        t = obs.time
        values = obs.present()
        values.pop(Parameter.ON_OXYGEN, None)
        for parameter in (Parameter.SPO2, Parameter.PULSE_RATE):
            # A nurse's SpO2/pulse feeds NEWS2 and the baseline; the delayed streamed rules
            # judge the oximeter stream only.
            value = values.pop(parameter, None)
            if value is not None:
                self._remember_for_baseline(parameter, t, float(value))
                self._latest[parameter] = _Entry(t, float(value))
        self._on_entry_values(t, values, side_effects=obs.side_effects)
        if self._schedule.started:
            self._schedule.record_set(t)
        for rule in self._overdue_rules:
            if rule.id in self._alarms:
                self._condition(rule, False, t, {"reason": "observation set recorded",
                                                 "time": _iso(t)})
        self._score_set(obs)

    def _on_entry_values(
        self, t: datetime, values: dict[Parameter, Any], side_effects: frozenset[Any] | None
    ) -> None:
        judged: list[Rule] = []
        for parameter, value in values.items():
            self._latest[parameter] = _Entry(t, value)
            if parameter in BASELINE_PARAMETERS:
                self._remember_for_baseline(parameter, t, float(value))
            for rule in self._entry_rules.get(parameter, ()):
                if rule not in judged:
                    judged.append(rule)
        for rule in judged:
            self._judge_entry(rule, t, values)
        if side_effects is not None:
            for rule in self._side_effect_rules:
                cond = rule.condition
                assert isinstance(cond, SideEffectCondition)
                found = sorted(str(item) for item in side_effects if item in cond.items)
                self._condition(rule, bool(found), t, {"items": found, "time": _iso(t)},
                                severity=frozenset(found))

    def _on_injection(self, injection: Injection) -> None:
        if self.injection is not None:
            raise ValueError("one injection per trial: a new dose is a new trial")
        self.injection = injection
        start = injection.time - self._baseline_window
        for parameter, values in self._buffers.values.items():
            window = [v for time, v in values if start <= time < injection.time]
            if window:
                self._baseline[parameter] = float(statistics.median(window))
        self._buffers.values.clear()
        self._schedule.start(injection.time)

    def _on_acknowledgement(self, ack: Acknowledgement) -> None:
        alarm = self._alarms.get(ack.rule_id)
        if alarm is None or alarm.acknowledged_at is not None:
            return  # nothing to acknowledge (already resolved or already acknowledged)
        t = ack.time
        alarm.acknowledged_at = t
        alarm.acknowledged_by = ack.by
        alarm.acknowledged_severity = alarm.severity
        self._emit(alarm, AlarmEventType.ACKNOWLEDGED, t, {
            "by": ack.by, "note": ack.note, "condition_present": alarm.condition,
        })
        if not alarm.condition:
            self._resolve(alarm, t, {"reason": "acknowledged and condition cleared"})

    # ===== judging =========================================================================
    def _remember_for_baseline(self, parameter: Parameter, t: datetime, value: float) -> None:
        if self.injection is not None or parameter not in BASELINE_PARAMETERS:
            return
        buffer = self._buffers.values.setdefault(parameter, deque())
        buffer.append((t, value))
        while buffer and buffer[0][0] < t - self._baseline_window:
            buffer.popleft()

    def _condition_holds(self, rule: Rule, t: datetime) -> None:
        """A streamed value (as charted) is in the rule's band: its delay runs, or goes on."""
        pending = self._pending.get(rule.id)
        if pending is None:
            self._pending[rule.id] = pending = _Pending(t)
            self._lower(t + timedelta(seconds=rule.delay_s))
        alarm = self._alarms.get(rule.id)
        if alarm is not None and pending.fired:
            alarm.condition = True
            alarm.evidence = self._streamed_evidence(rule, pending.since)
            self._earliest = _UNKNOWN
        elif rule.delay_s == 0:
            self._fire_pending(rule, t)

    def _condition_ended(self, rule_id: str, rule: Rule, t: datetime, value: float) -> None:
        """A streamed value (as charted) is outside the rule's band."""
        self._pending.pop(rule_id, None)
        if rule_id in self._alarms:
            cond = rule.condition
            assert isinstance(cond, RangeCondition)
            self._condition(rule, False, t, {
                "parameter": cond.parameter.value, "value": _num(value), "time": _iso(t),
            })

    def _streamed_evidence(self, rule: Rule, since: datetime) -> dict[str, Any]:
        cond = rule.condition
        assert isinstance(cond, RangeCondition)
        last = self._stream[cond.parameter].last_valid
        evidence: dict[str, Any] = {
            "parameter": cond.parameter.value,
            "band": _band(cond),
            "since": _iso(since),
            "delay_s": _num(rule.delay_s),
        }
        if last is not None:
            evidence["value"] = _num(last.value)
            evidence["time"] = _iso(last.time)
        return evidence

    def _fire_pending(self, rule: Rule, t: datetime) -> None:
        pending = self._pending[rule.id]
        pending.fired = True
        self._condition(rule, True, t, self._streamed_evidence(rule, pending.since))

    def _judge_entry(self, rule: Rule, t: datetime, values: dict[Parameter, Any]) -> None:
        cond = rule.condition
        if isinstance(cond, RangeCondition):
            value = float(values[cond.parameter])
            # As charted, and as NEWS2 scores it: temperature to one decimal, the rest whole.
            if cond.parameter is Parameter.TEMP:
                value = float(one_decimal(value))
            else:
                value = float(whole_number(value))
            severity = -value if cond.worse_direction == "lower" else value
            self._condition(rule, cond.contains(value), t, {
                "parameter": cond.parameter.value, "value": _num(value), "time": _iso(t),
                "band": _band(cond),
            }, severity=severity)
        elif isinstance(cond, BaselineDropCondition):
            baseline = self._baseline.get(cond.parameter)
            if self.injection is None or t < self.injection.time or baseline is None:
                return  # no baseline: cannot judge a fall (shown as missing on the page)
            value = float(values[cond.parameter])
            drop = baseline - value
            self._condition(rule, drop >= cond.by, t, {
                "parameter": cond.parameter.value, "value": _num(value), "time": _iso(t),
                "baseline": _num(baseline), "drop": _num(drop), "threshold": _num(cond.by),
            }, severity=drop)
        elif isinstance(cond, OneOfCondition):
            value = str(values[cond.parameter])
            order = cond.order or cond.values
            severity = order.index(value) if value in order else 0
            self._condition(rule, value in cond.values, t, {
                "parameter": cond.parameter.value, "value": value, "time": _iso(t),
            }, severity=severity)
        elif isinstance(cond, PowerDropCondition):
            if self.injection is None or t < self.injection.time:
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
                limbs[parameter.value] = {"value": _num(float(latest.value)),
                                          "baseline": _num(baseline), "time": _iso(latest.time)}
            if judged:
                self._condition(rule, worst >= cond.grades, t, {
                    "limbs": limbs, "grades_below_baseline": _num(worst),
                    "threshold": cond.grades, "time": _iso(t),
                }, severity=worst)

    def _score_set(self, obs: ObservationSet) -> None:
        t = obs.time
        spo2 = obs.spo2 if obs.spo2 is not None else self._same_time_readings.get(Parameter.SPO2)
        pulse = obs.pulse_rate
        if pulse is None:
            pulse = self._same_time_readings.get(Parameter.PULSE_RATE)
        result = score_news2(
            rr=obs.rr, spo2=spo2, on_oxygen=obs.on_oxygen, sbp=obs.systolic, pulse=pulse,
            consciousness=obs.consciousness, temp=obs.temp, spo2_scale=self.spo2_scale,
        )
        if result.band is News2Band.INCOMPLETE:
            # Stream readings at this same instant may still arrive (any input order).
            self._unscored_set = obs if set(result.missing) <= {"spo2", "pulse"} else None
            return
        self._unscored_set = None
        self._earliest = _UNKNOWN  # the schedule follows the NEWS2 band
        self._news2, self._news2_time = result, t
        if self._schedule.started:
            self._schedule.news2_scored(t, result.band.value)
        evidence = {"time": _iso(t), "total": result.total, "band": result.band.value,
                    "scores": result.scores, "spo2_scale": self.spo2_scale}
        for rule in self._news2_rules:
            cond = rule.condition
            assert isinstance(cond, News2BandCondition)
            self._condition(rule, result.band.value == cond.band, t, evidence,
                            severity=result.total)

    # ===== technical rules =================================================================
    def _lost_parameters(self, rule: Rule, t: datetime) -> list[Parameter]:
        cond = rule.condition
        assert isinstance(cond, NoReadingCondition)
        quiet = timedelta(seconds=rule.delay_s)
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
        return [p for p in cond.parameters if self._stream[p].off_since is not None]

    # ===== timers ==========================================================================
    def _timers(self) -> Iterator[_Timer]:
        """Every pending timer as (deadline, action). Each action changes the state so that its
        timer disappears, which is what lets `_run_timers` make progress."""
        for bands in self._bands.values():
            for _, _, _, rule in bands:
                pending = self._pending.get(rule.id)
                if pending is not None and not pending.fired:
                    yield (pending.since + timedelta(seconds=rule.delay_s),
                           lambda t, rule=rule: self._fire_pending(rule, t))
        for rule in self._no_reading_rules:
            yield from self._no_reading_timers(rule)
        for rule in self._flagged_rules:
            alarm = self._alarms.get(rule.id)
            if alarm is not None and alarm.condition:
                continue
            starts = [self._stream[p].off_since for p in self._flagged_parameters(rule)]
            if starts:
                since = min(s for s in starts if s is not None)
                yield (since + timedelta(seconds=rule.delay_s),
                       lambda t, rule=rule: self._raise_flagged(rule, t))
        for rule in self._overdue_rules:
            due = self._schedule.next_due
            alarm = self._alarms.get(rule.id)
            if due is not None and (alarm is None or not alarm.condition):
                yield (due + timedelta(seconds=rule.delay_s),
                       lambda t, rule=rule, due=due: self._raise_overdue(rule, t, due))
        for alarm in self._alarms.values():
            if alarm.acknowledged_at is None:
                after = self._escalate_after.get(alarm.priority)
                if after is not None and not alarm.escalated and alarm.rule.escalate_unacknowledged:
                    yield (alarm.annunciated_at + after,
                           lambda t, alarm=alarm: self._escalate(alarm, t))
            else:
                yield (alarm.acknowledged_at + self._reannunciate_after,
                       lambda t, alarm=alarm: self._reannunciate(alarm, t, "still present"))

    def _no_reading_timers(self, rule: Rule) -> Iterator[_Timer]:
        cond = rule.condition
        assert isinstance(cond, NoReadingCondition)
        lasts = [self._stream[p].silent_since for p in cond.parameters]
        seen = [last for last in lasts if last is not None]
        if not seen or self._closed_at is not None:
            return
        alarm = self._alarms.get(rule.id)
        if alarm is None or not alarm.condition:
            yield (min(seen) + timedelta(seconds=rule.delay_s),
                   lambda t: self._condition(rule, True, t, self._lost_evidence(rule, t)))
        elif (
            cond.escalate_to is not None
            and cond.escalate_when_lost_for_s is not None
            and alarm.priority is not cond.escalate_to
        ):
            lost_at = [self._stream[p].silent_since
                       for p in self._lost_parameters(rule, self.now or min(seen))]
            oldest = min((x for x in lost_at if x is not None), default=min(seen))
            yield (oldest + timedelta(seconds=cond.escalate_when_lost_for_s),
                   lambda t: self._escalate_to(alarm, cond.escalate_to, t))  # type: ignore[arg-type]

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
        """A timer was added: keep `_earliest` a lower bound."""
        if self._earliest is not _UNKNOWN and (self._earliest is None or deadline < self._earliest):
            self._earliest = deadline
        self._exact = False

    def _raise_flagged(self, rule: Rule, t: datetime) -> None:
        parameters = {p.value: {"flagged_since": _iso(self._stream[p].off_since)}  # type: ignore[arg-type]
                      for p in self._flagged_parameters(rule)}
        self._condition(rule, True, t, {"parameters": parameters, "delay_s": _num(rule.delay_s)})

    def _raise_overdue(self, rule: Rule, t: datetime, due: datetime) -> None:
        last = self._schedule.last_set
        self._condition(rule, True, t, {
            "due": _iso(due), "grace_s": _num(rule.delay_s),
            "last_set": _iso(last) if last is not None else None,
        })

    # ===== lifecycle =======================================================================
    def _condition(
        self, rule: Rule, present: bool, t: datetime, evidence: dict[str, Any],
        severity: Any = None,
    ) -> None:
        alarm = self._alarms.get(rule.id)
        if alarm is None and not present:
            return
        self._earliest = _UNKNOWN  # an alarm changes: its timers, and the watches that skip it
        if present:
            if alarm is None:
                alarm = _Alarm(rule, rule.priority, t, t, dict(evidence), severity)
                self._alarms[rule.id] = alarm
                self._emit(alarm, AlarmEventType.RAISED, t, evidence)
                return
            alarm.condition = True
            alarm.evidence = dict(evidence)
            alarm.severity = severity
            if alarm.acknowledged_at is not None and self._worse(
                severity, alarm.acknowledged_severity
            ):
                self._reannunciate(alarm, t, "worse than when acknowledged")
            return
        alarm.condition = False
        if alarm.priority is Priority.HIGH and alarm.acknowledged_at is None:
            return  # latched: stays until acknowledged
        self._resolve(alarm, t, {"reason": "condition cleared", **evidence})

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
        self._emit(alarm, AlarmEventType.ESCALATED, t, {
            **alarm.evidence,
            "unacknowledged_for_s": _num((t - alarm.annunciated_at).total_seconds()),
            "annunciated_at": _iso(alarm.annunciated_at),
        })

    def _escalate_to(self, alarm: _Alarm, priority: Priority, t: datetime) -> None:
        """A worse condition (device lost for longer): new priority, and it must be seen again."""
        alarm.priority = priority
        alarm.escalated = True
        alarm.acknowledged_at = None
        alarm.acknowledged_by = None
        alarm.annunciated_at = t
        alarm.evidence = self._lost_evidence(alarm.rule, t)
        self._emit(alarm, AlarmEventType.ESCALATED, t, alarm.evidence)

    def _reannunciate(self, alarm: _Alarm, t: datetime, reason: str) -> None:
        acknowledged_at = alarm.acknowledged_at
        alarm.acknowledged_at = None
        alarm.acknowledged_by = None
        alarm.acknowledged_severity = None
        alarm.annunciated_at = t
        alarm.escalated = False
        self._emit(alarm, AlarmEventType.REANNUNCIATED, t, {
            **alarm.evidence,
            "reason": reason,
            "acknowledged_at": _iso(acknowledged_at) if acknowledged_at else None,
        })

    def _emit(self, alarm: _Alarm, kind: AlarmEventType, t: datetime,
              evidence: dict[str, Any]) -> None:
        self._earliest = _UNKNOWN
        self._out.append(AlarmEvent(
            time=t,
            event=kind,
            rule_id=alarm.rule.id,
            priority=alarm.priority,
            kind=alarm.rule.kind,
            message=alarm.rule.message,
            evidence=dict(evidence),
            rule_set_version=self.rule_set.version,
        ))


def replace_time(event: TrialEvent, time: datetime) -> TrialEvent:
    """Copy of an event at another time (handy for simulations and tests)."""
    return replace(event, time=time)
