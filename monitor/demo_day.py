"""A complete simulated trial day, recorded in the past: ``python -m monitor demo-trial``.

Yesterday, ward time: the demo patient's baseline scores and observations, a 50 mcg bolus at
10:00, the simulator's oximeter and cuff at 1 Hz from 09:30, observation sets at the schedule's
due times, the alarms the rules engine raises from all of it (acknowledged by the demo nurse),
the 4-hour scores, and the monitoring window closed at 14:10. No decision: that is the team's.

The day's course is `DemoWalk`, which needs no record: it feeds a rules engine and answers its
alarms as the nurse would, so `python -m benchmarks alarms` replays the very same day. Recording
it writes each piece through the record's public methods by the demo accounts, in time order, on
a clock that walks through the simulated day: each entry, alarm event and audit entry carries
the simulated time it stands for, and nothing is ever later than the real present. While the day
is written, this process holds the simulated device's lease, so a running monitor never streams
it a second time.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import os
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from datetime import date, datetime, time, timedelta
from typing import Any

from devices.measurement import ConnectionChange, DeviceEvent, Measurement
from devices.simulator import Scenario, Simulator
from devices.sources import parse_source, source_problem, streamed_parameters
from monitor.engine_feed import (
    engine_judgements,
    engine_link,
    engine_readings,
    engine_set,
    record_alarm_event,
    record_readings,
)
from observations.demo import register_demo_patient
from observations.entries import ReadingIn
from observations.errors import Refused
from observations.record import TrialRecord
from observations.set_scores import KnownJudgement
from observations.users import DEMO_NURSE_USERNAME, DEMO_USERNAME
from observations.views import TrialView
from observations.ward_time import to_ward, ward_time_to_utc
from rules.engine import TrialEngine
from rules.events import (
    Acknowledgement,
    AlarmEvent,
    Injection,
    ObservationSet,
    Reading,
    TrialEvent,
    WindowClosed,
)
from rules.rule_set import default_rule_set
from vocabulary import (
    ANNUNCIATING_EVENTS,
    LOWER_LIMB_MUSCLES,
    PRIORITY_RANK,
    AlarmEventType,
    AssessmentTimePoint,
    Consciousness,
    InjectionRoute,
    Parameter,
    Poss,
    Priority,
    Side,
    SideEffect,
    TrialStatus,
)

DOSE_MCG = 50
INJECTED_AT = time(10, 0)  # ward time, before noon
# The day around the injection (offsets from it).
REGISTERED = timedelta(minutes=-60)
DEVICE_ON = timedelta(minutes=-30)  # readings from here: the engine's 15-minute baseline
BASELINE_SCORES = timedelta(minutes=-25)
BASELINE_SET = timedelta(minutes=-10)
# The "4 hours" is the rules' monitoring window: the physiotherapist scores at its end, types
# the scores in five minutes later, and the window is closed ten minutes after its end.
_WINDOW = timedelta(minutes=default_rule_set().monitoring_window.default_min)
FOUR_HOUR_SCORES = _WINDOW
FOUR_HOUR_SCORES_ENTERED = _WINDOW + timedelta(minutes=5)
WINDOW_CLOSED = _WINDOW + timedelta(minutes=10)
SET_BEFORE_DUE = timedelta(minutes=1)  # the nurse is a minute early for each due set
READINGS_BATCH = timedelta(seconds=60)  # sim time between reading batches
# How long the nurse takes to acknowledge, by priority: inside the 2-minute escalation of a
# high alarm, so the demo shows prompt care rather than escalations.
ACK_AFTER = {
    Priority.HIGH: timedelta(seconds=45),
    Priority.MEDIUM: timedelta(seconds=90),
    Priority.LOW: timedelta(seconds=120),
}
ACK_NOTES = {
    "spo2": "Roused, deep breaths encouraged, probe checked; doctor informed.",
    "pulse": "Pulse checked by hand, patient assessed; doctor informed.",
    "sbp": "BP rechecked manually, lying flat; doctor informed.",
    "rr": "Stimulated, airway and breathing checked; doctor informed.",
    "sedation": "Stimulated, airway and breathing checked; doctor informed.",
    "consciousness": "Airway checked, help called; doctor at the bedside.",
    "side_effect": "Side effects reviewed with the patient; doctor informed.",
    "leg_weakness": "Leg power rechecked, bed rest kept; doctor informed.",
    "news2": "NEWS2 escalated to the medical team as per protocol.",
}
CLOSE_WITH_CONDITIONS = (
    "Simulated demo day: the patient stays on the ward under hourly observations, the signs "
    "handed over to the medical team."
)
GOALS = (
    "Transfer from bed to chair with one helper",
    "Sit in the wheelchair for two hours without painful spasms",
)


class SimulatedClock:
    """The record's clock during the demo: moves forward through the simulated day only."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def move_to(self, moment: datetime) -> None:
        self.now = max(self.now, moment)


@dataclass(frozen=True)
class Bedside:
    """What the nurse finds at the bedside besides the monitor's numbers."""

    rr: int
    temp: float
    poss: Poss
    legs: tuple[int, int]
    side_effects: tuple[SideEffect, ...]


def bedside_signs(scenario: Scenario, hours_after_injection: float) -> Bedside:
    """The manual signs of the day; an overdose deepens with the simulator's 1-3 h drift."""
    normal = Bedside(16, 36.8, Poss.AWAKE, (4, 4), ())
    if scenario is not Scenario.OVERDOSE or hours_after_injection < 1.0:
        return normal
    depth = min(1.0, (hours_after_injection - 1.0) / 2.0)
    drowsy = (SideEffect.DROWSINESS,)
    weak = (*drowsy, SideEffect.LOWER_LIMB_WEAKNESS)
    if depth < 0.25:
        return Bedside(15, 36.7, Poss.SLIGHTLY_DROWSY, (4, 4), drowsy)
    if depth < 0.6:
        return Bedside(12, 36.6, Poss.SLIGHTLY_DROWSY, (3, 3), weak)
    if depth < 0.9:
        return Bedside(11, 36.5, Poss.FREQUENTLY_DROWSY, (3, 2), (*weak, SideEffect.DIZZINESS))
    return Bedside(
        10,
        36.4,
        Poss.FREQUENTLY_DROWSY,
        (2, 2),
        (*weak, SideEffect.DIZZINESS, SideEffect.SLURRED_SPEECH),
    )


def _ashworth(labels: dict[str, tuple[str, str]]) -> list[dict[str, str]]:
    return [
        {"muscle_group": muscle.value, "side": side.value, "label": labels[muscle.value][i]}
        for muscle in LOWER_LIMB_MUSCLES
        for i, side in enumerate(Side)
    ]


def baseline_scores(at: datetime) -> dict[str, Any]:
    return {
        "time_point": AssessmentTimePoint.BASELINE.value,
        "assessed_at": at,
        "ashworth": _ashworth(
            {
                "hip_flexors": ("3", "2"),
                "hip_adductors": ("3", "3"),
                "knee_flexors": ("2", "1+"),
                "knee_extensors": ("2", "2"),
                "ankle_plantarflexors": ("3", "2"),
            }
        ),
        "penn_frequency": 3,
        "penn_severity": 2,
        "penn_recall_period": "the last 24 hours",
        "pain_nrs": 6,
        "stiffness_nrs": 7,
        "power_left_leg": 4,
        "power_right_leg": 4,
        "power_left_arm": 5,
        "power_right_arm": 5,
        "goals": [{"goal": goal, "rating": -1} for goal in GOALS],
        "note": "Baseline with the patient and the physiotherapist (simulated demo day).",
    }


def four_hour_scores(at: datetime, signs: Bedside) -> dict[str, Any]:
    weak = signs.legs[0] < 4 or signs.legs[1] < 4
    return {
        "time_point": AssessmentTimePoint.FOUR_HOURS.value,
        "assessed_at": at,
        "ashworth": _ashworth(
            {
                "hip_flexors": ("1", "1"),
                "hip_adductors": ("1+", "1"),
                "knee_flexors": ("1", "0"),
                "knee_extensors": ("1", "1"),
                "ankle_plantarflexors": ("1+", "1"),
            }
        ),
        "penn_frequency": 1,
        "penn_severity": 1,
        "penn_recall_period": "since the injection",
        "pain_nrs": 3,
        "stiffness_nrs": 2,
        "power_left_leg": signs.legs[0],
        "power_right_leg": signs.legs[1],
        "power_left_arm": 5,
        "power_right_arm": 5,
        # Tone is down, but legs this weak could not bear a transfer today.
        "goals": [{"goal": GOALS[0], "rating": -1 if weak else 1}, {"goal": GOALS[1], "rating": 1}],
        "note": "Repeated at peak with the patient (simulated demo day).",
    }


def _ack_note(rule_id: str) -> str:
    for prefix, note in ACK_NOTES.items():
        if rule_id.startswith(prefix):
            return note
    return "Seen at the bedside; doctor informed."


@dataclass(order=True)
class _Action:
    at: datetime
    order: int
    run: Callable[[datetime], None] = field(compare=False)


@dataclass
class _Shown:
    """One active alarm as the record shows it to the nurse."""

    raised_at: datetime
    priority: Priority
    acknowledged: bool = False


def demo_source(scenario: Scenario, seed: int) -> str:
    """The simulated device of a demo day (the seed is the trial's id when it is recorded)."""
    return f"sim:{scenario.value}?seed={seed}"


def observation_entry(
    at: datetime, signs: Bedside, latest: Mapping[Parameter, float]
) -> dict[str, Any]:
    """The nurse's set as typed into the form: the bedside signs, and SpO2, pulse and the
    cuff's last pressure taken from the devices (``latest``), as the form prefills them."""
    device = (Parameter.SPO2, Parameter.PULSE_RATE, Parameter.SYSTOLIC, Parameter.DIASTOLIC)
    prefilled = [p for p in device if p in latest]
    return {
        "measured_at": at,
        "rr": signs.rr,
        "on_oxygen": False,
        "consciousness": Consciousness.ALERT,
        "temp": signs.temp,
        "poss": signs.poss,
        "power_left_leg": signs.legs[0],
        "power_right_leg": signs.legs[1],
        "power_left_arm": 5,
        "power_right_arm": 5,
        "side_effects": list(signs.side_effects),
        "device_prefilled": prefilled,
        **{p.value: round(latest[p]) for p in prefilled},
    }


_SET_FIELDS = frozenset(f.name for f in fields(ObservationSet)) - {"time", "side_effects"}


def engine_entry_set(entry: Mapping[str, Any]) -> ObservationSet:
    """A set entry as the engine judges it: what ``engine_set`` makes of it once recorded."""
    return ObservationSet(
        time=entry["measured_at"],
        side_effects=frozenset(entry["side_effects"]),
        **{k: v for k, v in entry.items() if k in _SET_FIELDS},
    )


class DemoWalk:
    """The demo day's course, without a record: what happens when, fed to a rules engine.

    The simulator's device events, the baseline scores and set, the injection, the sets at the
    schedule's due times, the demo nurse's acknowledgements and the window's close, each at its
    moment and in time order; the engine's alarm events come back in (the nurse answers them).
    `walk` is the whole day. The recorded demo day is this walk with the ``_write_*`` and other
    hooks writing to the record (here they do nothing), so a benchmark replaying the walk sees
    exactly the day the record holds.
    """

    def __init__(
        self,
        scenario: Scenario,
        injection_at: datetime,
        *,
        nurse: str = DEMO_NURSE_USERNAME,
        clinician: str = DEMO_USERNAME,
    ) -> None:
        self.scenario = scenario
        self.injection_at = injection_at
        self.nurse = nurse
        self.clinician = clinician
        self.engine: TrialEngine | None = None
        self.seed = 0
        self.source = ""
        self.actions: list[_Action] = []
        self.order = itertools.count()
        self.latest: dict[Parameter, float] = {}  # newest device value, for the nurse's set
        self.alarm_events: list[AlarmEvent] = []  # everything the engine said, in order
        # What the record shows the nurse, kept from the engine's events by the record's own
        # rules (observations.alarms), so the nurse answers exactly what the screen asks.
        self._shown: dict[str, _Shown] = {}

    # ------------------------------------------------------------------ the day

    def walk(self, engine: TrialEngine, *, seed: int, source: str | None = None) -> None:
        """The whole day, from the device going on to the window's close, through ``engine``."""
        self.engine = engine
        self.seed = seed
        self.source = source or demo_source(self.scenario, seed)
        self._schedule(self.injection_at + BASELINE_SCORES, self._baseline_scores)
        self._schedule(self.injection_at + BASELINE_SET, self._observation_set)
        self._schedule(self.injection_at, self._injection)
        self._schedule(self.injection_at + FOUR_HOUR_SCORES_ENTERED, self._four_hour_scores)
        close = self.injection_at + WINDOW_CLOSED
        self._schedule(close, self._close_window)
        self._stream(self.injection_at + DEVICE_ON, close)
        self._run_actions(until=close, inclusive=True)

    def _stream(self, start: datetime, end: datetime) -> None:
        streams = streamed_parameters(parse_source(self.source))
        simulator = Simulator(
            self.scenario,
            seed=self.seed,
            start=start,
            injection_at=self.injection_at,
            duration=end - start,
            source=self.source,
        )
        for event in simulator.timeline():
            at = event.device_time if isinstance(event, Measurement) else event.at
            assert at is not None  # the simulator stamps every event
            self._run_actions(until=at, inclusive=False)
            self._moved_to(at)
            readings: list[Reading] = []
            if isinstance(event, Measurement):
                readings = engine_readings(event)
                for reading in readings:
                    if reading.value is not None and reading.valid:
                        self.latest[reading.parameter] = reading.value
                    self._feed(reading)
            elif isinstance(event, ConnectionChange):
                self._feed(engine_link(event, self.source, streams))
            self._device_event(event, at, readings)
        self._stream_ended()

    # ------------------------------------------------------------------ actions

    def _schedule(self, at: datetime, run: Callable[[datetime], None]) -> None:
        heapq.heappush(self.actions, _Action(at, next(self.order), run))

    def _run_actions(self, until: datetime, inclusive: bool) -> None:
        while self.actions and (
            self.actions[0].at < until or (inclusive and self.actions[0].at == until)
        ):
            action = heapq.heappop(self.actions)
            self._moved_to(action.at)
            # Timers due by now first, so the record knows what the nurse would see.
            assert self.engine is not None
            self._answer(self.engine.advance_to(action.at))
            action.run(action.at)

    def _baseline_scores(self, at: datetime) -> None:
        self._write_baseline_scores(at)

    def _four_hour_scores(self, at: datetime) -> None:
        assessed = self.injection_at + FOUR_HOUR_SCORES
        signs = bedside_signs(self.scenario, FOUR_HOUR_SCORES.total_seconds() / 3600)
        self._write_four_hour_scores(assessed, signs)

    def _injection(self, at: datetime) -> None:
        self._write_injection(at)
        self._feed(Injection(at, DOSE_MCG))
        self._plan_next_set(at)

    def _observation_set(self, at: datetime) -> None:
        signs = bedside_signs(self.scenario, (at - self.injection_at).total_seconds() / 3600)
        entry = observation_entry(at, signs, self.latest)
        recorded = self._write_set(entry)
        self._feed(recorded if recorded is not None else engine_entry_set(entry))
        if at >= self.injection_at:
            self._plan_next_set(at)

    def _plan_next_set(self, after: datetime) -> None:
        assert self.engine is not None
        due = self.engine.next_observation_due()
        if due is None:
            return
        at = max(after + timedelta(seconds=1), due - SET_BEFORE_DUE)
        if at < self.injection_at + WINDOW_CLOSED:
            self._schedule(at, self._observation_set)

    def _acknowledge(self, rule_id: str, at: datetime) -> None:
        """The nurse acknowledges the rule's alarm if it still waits for her."""
        shown = self._shown.get(rule_id)
        if shown is None or shown.acknowledged:
            return
        note = _ack_note(rule_id)
        self._write_acknowledgement(rule_id, note)
        shown.acknowledged = True
        self._feed(Acknowledgement(at, rule_id, by=self.nurse, note=note))

    def _close_window(self, at: datetime) -> None:
        self._window_closing(at)
        # In the screen's order: highest priority first, then oldest.
        screen = sorted(
            self._shown.items(), key=lambda kv: (-PRIORITY_RANK[kv[1].priority], kv[1].raised_at)
        )
        for rule_id, shown in screen:
            if not shown.acknowledged:
                self._acknowledge(rule_id, at)
        self._window_closed(at)
        self._feed(WindowClosed(at, by=self.clinician))

    # ------------------------------------------------------------------ engine and alarms

    def _feed(self, event: TrialEvent) -> None:
        assert self.engine is not None
        self._answer(self.engine.feed(event))

    def _answer(self, events: list[AlarmEvent]) -> None:
        if not events:
            return
        self.alarm_events.extend(events)
        self._write_alarm_events(events)
        for event in events:
            if event.event == AlarmEventType.ACKNOWLEDGED:
                continue  # the nurse's own act, already shown
            self._show(event)
            if event.event in ANNUNCIATING_EVENTS:
                self._schedule(
                    event.time + ACK_AFTER[event.priority],
                    lambda at, rule=event.rule_id: self._acknowledge(rule, at),
                )

    def _show(self, event: AlarmEvent) -> None:
        if event.event == AlarmEventType.RESOLVED:
            self._shown.pop(event.rule_id, None)
            return
        shown = self._shown.get(event.rule_id)
        if shown is None:
            shown = self._shown[event.rule_id] = _Shown(event.time, event.priority)
        shown.priority = event.priority
        if event.event in ANNUNCIATING_EVENTS:
            shown.acknowledged = False

    # ------------------------------------------------------------------ hooks (the record's)

    def _moved_to(self, at: datetime) -> None:
        """The walk reached ``at`` (it only moves forward)."""

    def _device_event(self, event: DeviceEvent, at: datetime, readings: list[Reading]) -> None:
        """A device event the engine has had (``readings``: what it made of a measurement)."""

    def _stream_ended(self) -> None:
        """The simulator's last event has been fed."""

    def _write_alarm_events(self, events: list[AlarmEvent]) -> None:
        """The engine's alarm events, as it emitted them (acknowledgements included)."""

    def _write_baseline_scores(self, at: datetime) -> None: ...

    def _write_four_hour_scores(self, assessed_at: datetime, signs: Bedside) -> None: ...

    def _write_injection(self, at: datetime) -> None: ...

    def _write_set(self, entry: dict[str, Any]) -> ObservationSet | None:
        """The set as recorded, for the engine; None: the engine judges the entry as typed."""
        return None

    def _write_acknowledgement(self, rule_id: str, note: str) -> None: ...

    def _window_closing(self, at: datetime) -> None: ...

    def _window_closed(self, at: datetime) -> None: ...


@dataclass
class DemoDaySummary:
    trial: TrialView
    readings: int
    observation_sets: int
    alarm_events: int
    acknowledgements: int


class _DemoDay(DemoWalk):
    """The demo walk written to the record, each piece when its moment comes."""

    def __init__(self, live: TrialRecord, scenario: Scenario, injection_at: datetime) -> None:
        self.live = live
        self.clock = SimulatedClock(injection_at + REGISTERED)
        self.day = TrialRecord(live.store.engine, live.settings, self.clock, source_problem)
        self.clinician_actor = live.users.demo_clinician()
        self.nurse_actor = live.users.demo_nurse()
        self.service = live.users.service_actor()
        super().__init__(
            scenario,
            injection_at,
            nurse=self.nurse_actor.username,
            clinician=self.clinician_actor.username,
        )
        self.trial_id = 0
        self.batch: list[ReadingIn] = []
        self.batch_started: datetime | None = None
        self.counts = {"readings": 0, "sets": 0, "alarm_events": 0, "acks": 0}
        self.known = KnownJudgement()  # what of the engine's judgement the record holds

    def run(self) -> TrialView:
        self.clock.move_to(self.injection_at + REGISTERED)
        clinician, nurse = self.clinician_actor, self.nurse_actor
        patient, serial = register_demo_patient(self.day, clinician)
        trial = self.day.trials.plan(clinician, patient.id, DOSE_MCG, bed=f"D{serial}")
        self.trial_id = trial.id
        engine = TrialEngine(
            default_rule_set(), trial_id=str(trial.id), spo2_scale=trial.spo2_scale
        )
        source = self.source = demo_source(self.scenario, trial.id)
        service_id = f"demo-trial-{socket.gethostname()[:40]}-{os.getpid()}"
        start = self.injection_at + DEVICE_ON
        self.clock.move_to(start)
        self.day.trials.set_status(clinician, trial.id, TrialStatus.BASELINE)
        assignment = self.day.trials.assign_device(
            nurse, trial.id, source, f"Simulator ({self.scenario.value})", assigned_from=start
        )
        # The lease lives on the real clock: a monitor running now must leave this device alone.
        if not self.live.services.acquire(source, trial.id, service_id, timedelta(hours=1)):
            raise Refused(f"Another process already streams {source}.")
        try:
            self.walk(engine, seed=trial.id, source=source)
            self._store_judgement(self.clock.now)  # the due times as the window closed
            self.day.trials.end_assignment(nurse, assignment.id)
        except BaseException:
            # A half-written day must not look like a live trial: cancel it and take the
            # device off. If even that fails, the lease is kept and only expires in an hour.
            with contextlib.suppress(Exception):
                self.day.trials.set_status(clinician, trial.id, TrialStatus.CANCELLED)
                self.day.trials.end_assignment(nurse, assignment.id)
                self.live.services.release(source, service_id)
            raise
        self.live.services.release(source, service_id)
        return self.day.trials.get(trial.id)

    def _flush(self) -> None:
        if self.batch:
            self.counts["readings"] += self.day.readings.add(self.service, self.batch)
        self.batch = []
        self.batch_started = None
        self._store_judgement(self.clock.now)

    def _store_judgement(self, at: datetime) -> None:
        """What the engine judged (each set's NEWS2, the due times, the baseline), as the
        monitor stores it: written once, when it changes."""
        if self.engine is None:
            return
        scores, schedule = self.known.unwritten(
            *engine_judgements(self.trial_id, self.engine, at, self._injected_at)
        )
        if scores or schedule:
            self.day.set_scores.record(self.service, scores, [schedule] if schedule else [])

    # ------------------------------------------------------------------ hooks

    def _moved_to(self, at: datetime) -> None:
        self.clock.move_to(at)

    def _device_event(self, event: DeviceEvent, at: datetime, readings: list[Reading]) -> None:
        if isinstance(event, Measurement):
            rows = record_readings(self.trial_id, event)
            if rows and self.batch_started is None:
                self.batch_started = event.device_time
            self.batch.extend(rows)
        if self.batch_started is not None and at - self.batch_started >= READINGS_BATCH:
            self._flush()

    def _stream_ended(self) -> None:
        self._flush()

    def _write_alarm_events(self, events: list[AlarmEvent]) -> None:
        # Acknowledgements are in the record already (written by the nurse): never twice.
        new = [e for e in events if e.event != AlarmEventType.ACKNOWLEDGED]
        if not new:
            return
        self.day.alarms.record_events(
            self.service, [record_alarm_event(self.trial_id, e) for e in new]
        )
        self.counts["alarm_events"] += len(new)

    def _write_baseline_scores(self, at: datetime) -> None:
        self.day.assessments.record(self.clinician_actor, self.trial_id, baseline_scores(at))

    def _write_four_hour_scores(self, assessed_at: datetime, signs: Bedside) -> None:
        self.day.assessments.record(
            self.clinician_actor, self.trial_id, four_hour_scores(assessed_at, signs)
        )

    def _write_injection(self, at: datetime) -> None:
        self.day.trials.record_injection(
            self.clinician_actor,
            self.trial_id,
            {
                "dose_mcg": DOSE_MCG,
                "given_at": at,
                "route": InjectionRoute.LUMBAR_PUNCTURE,
                "given_by": "Demo clinician",
            },
        )

    @property
    def _injected_at(self) -> datetime | None:
        return self.engine.injection.time if self.engine and self.engine.injection else None

    def _write_set(self, entry: dict[str, Any]) -> ObservationSet:
        view = self.day.observations.record(self.nurse_actor, self.trial_id, entry)
        self.counts["sets"] += 1
        return engine_set(view)  # with the record's id, for the engine's score of it

    def _write_acknowledgement(self, rule_id: str, note: str) -> None:
        waiting = [
            a
            for a in self.day.alarms.active(self.trial_id)
            if a.rule_id == rule_id and not a.acknowledged
        ]
        if not waiting:
            # The walk keeps the screen by the record's rules: they cannot disagree.
            raise RuntimeError(f"no {rule_id} alarm waits for acknowledgement in the record")
        self.day.alarms.acknowledge(self.nurse_actor, waiting[0].id, note)
        self.counts["acks"] += 1

    def _window_closing(self, at: datetime) -> None:
        self._flush()

    def _window_closed(self, at: datetime) -> None:
        # On an overdose day the signs are still there at the close: the doctor says why.
        present = self.day.alarms.conditions_present(self.trial_id)
        self.day.trials.set_status(
            self.clinician_actor,
            self.trial_id,
            TrialStatus.ASSESSED,
            reason=CLOSE_WITH_CONDITIONS if present else None,
        )


def demo_day_injection(record: TrialRecord, day: date | None = None) -> datetime:
    """10:00 ward time on ``day`` (default: yesterday in the ward), refused unless finished."""
    zone = record.settings.ward_timezone
    today = to_ward(record.store.now(), zone).date()
    day = day or today - timedelta(days=1)
    injection = ward_time_to_utc(datetime.combine(day, INJECTED_AT), zone)
    if injection + WINDOW_CLOSED > record.store.now():
        raise Refused(
            f"A recorded demo day must be over by now: {day:%d %b %Y} is not. Choose an earlier "
            "day."
        )
    return injection


def record_demo_day(
    record: TrialRecord,
    scenario: Scenario | str = Scenario.OVERDOSE,
    day: date | None = None,
) -> DemoDaySummary:
    """Record a finished demo trial day (see the module's description); returns its summary."""
    demo = _DemoDay(record, Scenario(scenario), demo_day_injection(record, day))
    trial = demo.run()
    return DemoDaySummary(
        trial=trial,
        readings=demo.counts["readings"],
        observation_sets=demo.counts["sets"],
        alarm_events=demo.counts["alarm_events"],
        acknowledgements=demo.counts["acks"],
    )


__all__ = [
    "DemoDaySummary",
    "DemoWalk",
    "bedside_signs",
    "demo_day_injection",
    "demo_source",
    "engine_entry_set",
    "observation_entry",
    "record_demo_day",
]
