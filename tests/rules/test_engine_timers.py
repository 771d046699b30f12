"""The engine's wake time and its frame feed, on random trial days.

After a streamed reading the engine does not scan its timers: `wake_time()` is a kept bound
of the next deadline, which must never lie after the true next deadline (a late wake would be a
late alarm). A device frame fed whole (`feed_frame`) must give exactly what its readings fed one
by one give, in any order: every event of an instant is applied before the timers due at that
instant fire, so the order of the readings within an instant never matters.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rules.engine import TrialEngine
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
)
from rules.rule_set import default_rule_set
from vocabulary import ConnectionState, Consciousness, Parameter, Poss, QualityFlag, SideEffect

T0 = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
RULES = default_rule_set()
RULE_IDS = sorted(rule.id for rule in RULES.rules)
OXIMETER = frozenset({Parameter.SPO2, Parameter.PULSE_RATE})

# Gaps between events: mostly a second, sometimes the same instant, sometimes exactly a quiet
# time, a delay, a hold or an escalation time, sometimes long silences.
gaps = st.sampled_from([0, 0, 0.5, 1, 1, 1, 1, 2, 5, 9, 10, 11, 15, 30, 60, 120, 200, 700])
flags = st.sampled_from(
    [
        frozenset(),
        frozenset(),
        frozenset(),
        frozenset({QualityFlag.NO_FINGER}),
        frozenset({QualityFlag.SENSOR_DISCONNECTED}),
        frozenset({QualityFlag.SEARCHING}),
        frozenset({QualityFlag.LOW_PERFUSION, QualityFlag.ARTIFACT}),
        frozenset({QualityFlag.LOW_BATTERY}),
    ]
)
# An oximeter frame: SpO2 and pulse (None: the frame has no value for it), its flags, and
# whether its readings are handed over in reverse.
frame = st.tuples(
    st.just("frame"),
    st.one_of(st.none(), st.integers(70, 100), st.sampled_from([84, 85, 91, 92, 93, 94, 95])),
    st.one_of(st.none(), st.integers(25, 150), st.sampled_from([40, 44, 50, 54, 127, 131])),
    flags,
    st.booleans(),
)
entry = st.one_of(
    st.tuples(st.just("bp"), st.integers(70, 160)),
    st.tuples(st.just("link"), st.sampled_from(list(ConnectionState))),
    st.tuples(
        st.just("set"),
        st.builds(
            dict,
            rr=st.sampled_from([None, 6, 10, 16, 26]),
            spo2=st.sampled_from([None, 90, 97]),
            on_oxygen=st.sampled_from([None, False, True]),
            systolic=st.sampled_from([None, 85, 95, 120]),
            pulse_rate=st.sampled_from([None, 45, 72, 135]),
            consciousness=st.sampled_from([None, Consciousness.ALERT, Consciousness.VOICE]),
            temp=st.sampled_from([None, 34.5, 36.8]),
            poss=st.sampled_from([None, Poss.ASLEEP, Poss.FREQUENTLY_DROWSY]),
            power_left_leg=st.sampled_from([None, 5, 3, 2]),
            side_effects=st.sampled_from(
                [
                    None,
                    frozenset(),
                    frozenset({SideEffect.DIZZINESS}),
                    frozenset({SideEffect.DIFFICULTY_BREATHING}),
                ]
            ),
        ),
    ),
    st.tuples(st.just("late_set"), st.integers(1, 600)),
    st.tuples(st.just("injection")),
    st.tuples(st.just("ack"), st.sampled_from(RULE_IDS)),
    st.tuples(st.just("extend")),
    st.tuples(st.just("close")),
    st.tuples(st.just("advance")),
)
steps = st.lists(
    st.tuples(gaps, st.one_of(frame, frame, frame, frame, entry)), min_size=1, max_size=300
)

Summary = list[tuple[datetime, str, str, str, str, dict]]


def frame_values(step: tuple) -> dict[Parameter, float]:
    pairs = ((Parameter.SPO2, step[1]), (Parameter.PULSE_RATE, step[2]))
    return {p: float(v) for p, v in pairs if v is not None}


def frame_missing(step: tuple) -> list[Parameter]:
    return [p for p, v in ((Parameter.SPO2, step[1]), (Parameter.PULSE_RATE, step[2])) if v is None]


def frame_readings(step: tuple, at: datetime, permuted: bool) -> list[Reading]:
    # As a frame hands them over: values first, then the parameters without one.
    readings = [Reading(at, p, v, step[3]) for p, v in frame_values(step).items()]
    readings += [Reading(at, p, None, step[3]) for p in frame_missing(step)]
    return readings[::-1] if permuted and step[4] else readings


def events_of(step: tuple, at: datetime, injected: bool) -> list[TrialEvent]:
    kind = step[0]
    if kind == "bp":
        return [Reading(at, Parameter.SYSTOLIC, step[1])]
    if kind == "link":
        return [DeviceLink(at, "oximeter", step[1], OXIMETER, "test")]
    if kind == "set":
        return [ObservationSet(at, **step[1])]
    if kind == "late_set":
        # Measured earlier, typed now: the schedule counts it at its measured time.
        measured = max(T0, at - timedelta(seconds=step[1]))
        return [
            ObservationSet(
                measured,
                rr=16.0,
                spo2=97.0,
                on_oxygen=False,
                systolic=120.0,
                pulse_rate=70.0,
                consciousness=Consciousness.ALERT,
                temp=37.0,
            )
        ]
    if kind == "injection":
        return [] if injected else [Injection(at, 50)]
    if kind == "ack":
        return [Acknowledgement(at, step[1], by="nurse")]
    if kind == "extend":
        return [WindowExtension(at, 30)]
    if kind == "close":
        return [WindowClosed(at)]
    return []  # "advance": only time moves


def check_wake_time(engine: TrialEngine, twin: TrialEngine) -> None:
    """The wake time is never after the true next deadline (and is None only without one).

    The deadline is asked of a twin fed the same events: working it out (a scan of the
    timers) makes an engine's kept bound exact, and the engine under test keeps its own.
    """
    wake = engine.wake_time()
    deadline = twin.next_deadline()
    assert deadline is None or (wake is not None and wake <= deadline), (
        f"wake time {wake} after the next deadline {deadline}"
    )


def run(day: list[tuple], *, how: str = "readings", check: bool = False) -> Summary:
    """Feed a day: frames as readings one by one ("readings"), in the frame's reverse order
    where it says so ("permuted"), or whole ("frames"); `check` looks at the wake time after
    every event."""
    engine = TrialEngine(RULES, trial_id="t")
    twin = TrialEngine(RULES, trial_id="t") if check else None

    def fed(method: Callable[..., list[AlarmEvent]], *args: Any) -> list[AlarmEvent]:
        emitted = method(engine, *args)
        if twin is not None:
            # Asking for the deadline changes nothing the twin emits.
            assert method(twin, *args) == emitted
            check_wake_time(engine, twin)
        return emitted

    out: list[AlarmEvent] = []
    t = T0
    for gap, step in day:
        t += timedelta(seconds=gap)
        if step[0] == "advance":
            out += fed(TrialEngine.advance_to, t)
        elif step[0] == "frame" and how == "frames":
            out += fed(TrialEngine.feed_frame, t, frame_values(step), frame_missing(step), step[3])
        else:
            if step[0] == "frame":
                events = frame_readings(step, t, permuted=how == "permuted")
            else:
                events = events_of(step, t, engine.injection is not None)
            for event in events:
                out += fed(TrialEngine.feed, event)
    out += engine.advance_to(t + timedelta(hours=2))
    return [
        (e.time, e.event.value, e.rule_id, e.priority.value, e.message, e.evidence) for e in out
    ]


@settings(max_examples=300, deadline=None)
@given(steps)
def test_wake_time_is_never_after_the_next_deadline(day: list[tuple]) -> None:
    checked = run(day, check=True)
    # Looking at the wake time (which may scan the timers) changes nothing the engine emits.
    assert checked == run(day)


@settings(max_examples=200, deadline=None)
@given(steps)
def test_a_frame_fed_whole_is_its_readings_fed_one_by_one(day: list[tuple]) -> None:
    assert run(day, how="frames", check=True) == run(day)


@settings(max_examples=200, deadline=None)
@given(steps)
def test_the_order_of_the_readings_of_an_instant_never_matters(day: list[tuple]) -> None:
    assert run(day, how="permuted") == run(day)


def test_usable_pulse_and_valueless_spo2_in_one_frame_give_one_answer_in_either_order() -> None:
    """SpO2 70 with no pulse value from 09:00:00: the link is lost from :10 (no reading since)
    and no usable pulse arrives (`signal_unusable`, 15 s, from :15). At :30 one frame brings a
    usable pulse and an SpO2 without a value: once the instant is complete the link is back,
    while the oximeter still has a parameter with no usable reading, so `signal_unusable` goes
    on (no resolve-and-raise churn), whichever reading of the frame came first."""

    def day(order: list[Parameter]) -> list[tuple[str, str, str]]:
        engine = TrialEngine(RULES)
        out = engine.feed(Reading(T0, Parameter.SPO2, 70.0))
        out += engine.feed(Reading(T0, Parameter.PULSE_RATE, None))
        values = {Parameter.PULSE_RATE: 25.0, Parameter.SPO2: None}
        for parameter in order:
            out += engine.feed(Reading(T0 + timedelta(seconds=30), parameter, values[parameter]))
        out += engine.advance_to(T0 + timedelta(seconds=60))
        return [(e.time.strftime("%H:%M:%S"), e.event.value, e.rule_id) for e in out]

    expected = [
        ("09:00:05", "raised", "spo2_low"),
        ("09:00:10", "raised", "device_lost"),
        ("09:00:15", "raised", "signal_unusable"),
        ("09:00:30", "resolved", "device_lost"),
        ("09:00:40", "raised", "pulse_low"),
        ("09:00:40", "raised", "device_lost"),
    ]
    assert day([Parameter.PULSE_RATE, Parameter.SPO2]) == expected
    assert day([Parameter.SPO2, Parameter.PULSE_RATE]) == expected


def test_a_frame_with_a_naive_time_is_refused() -> None:
    with pytest.raises(ValueError, match="UTC offset"):
        TrialEngine(RULES).feed_frame(datetime(2025, 3, 1, 9, 0), {Parameter.SPO2: 97.0})


def test_first_reading_starts_the_silence_watch() -> None:
    """The defect a kept bound once had: the first reading added a silence timer unseen."""
    engine = TrialEngine(RULES)
    assert engine.wake_time() is None
    assert engine.feed(Reading(T0, Parameter.SPO2, 97)) == []
    assert engine.wake_time() == T0 + timedelta(seconds=10)
    assert engine.advance_to(T0 + timedelta(seconds=9)) == []
    lost = engine.advance_to(T0 + timedelta(seconds=10))
    assert [(e.time, e.rule_id, e.event.value, e.priority.value) for e in lost] == [
        (T0 + timedelta(seconds=10), "device_lost", "raised", "low")
    ]


def test_a_timer_due_at_an_instant_fires_after_the_events_of_that_instant() -> None:
    """The 10 s silence of SpO2 ends at 09:00:10, and a reading comes at 09:00:10: the reading
    is applied first, so the link is not lost, in a frame or reading by reading."""
    at = T0 + timedelta(seconds=10)
    for whole in (False, True):
        engine = TrialEngine(RULES)
        engine.feed(Reading(T0, Parameter.SPO2, 97))
        if whole:
            assert engine.feed_frame(at, {Parameter.SPO2: 97.0, Parameter.PULSE_RATE: 70.0}) == []
        else:
            assert engine.feed(Reading(at, Parameter.PULSE_RATE, 70)) == []
            assert engine.feed(Reading(at, Parameter.SPO2, 97)) == []
        assert engine.advance_to(at) == []
        assert engine.wake_time() == at + timedelta(seconds=10)


def test_wake_time_stays_a_bound_while_readings_bring_a_decision_in() -> None:
    """A deeper value brings the counter's decision in without a scan: the wake time follows."""
    engine, twin = TrialEngine(RULES), TrialEngine(RULES)
    for second, value in enumerate([97, 93, 93, 93, 80]):
        reading = Reading(T0 + timedelta(seconds=second), Parameter.SPO2, value)
        assert engine.feed(reading) == twin.feed(reading)
        if second:
            check_wake_time(engine, twin)
    # 80 % from 09:00:04: the critical level's 5 s delay decides at 09:00:09.
    wake = engine.wake_time()
    assert wake is not None and wake <= T0 + timedelta(seconds=9)
    raised = engine.advance_to(T0 + timedelta(seconds=9))
    assert [(e.time, e.event.value, e.evidence["level"]) for e in raised] == [
        (T0 + timedelta(seconds=9), "raised", "critical_desaturation")
    ]
