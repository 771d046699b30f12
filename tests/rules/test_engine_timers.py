"""The engine's kept timer bound and its frame feed never change what it emits.

After a streamed reading the engine does not scan its timers; it keeps a lower bound of the
next deadline (`TrialEngine.trust_bound`). Any trial day, fed to an engine that keeps the bound
and to one that scans every timer after every event, must give the same alarm events at the
same times, and the bound must never lie after the true next deadline (a late bound would be a
late alarm).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rules.engine import _UNKNOWN, TrialEngine
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
# time or a delay, sometimes long silences.
gaps = st.sampled_from([0, 0, 0.5, 1, 1, 1, 1, 2, 5, 9, 10, 11, 15, 30, 60, 120, 200, 700])
flags = st.sampled_from(
    [frozenset(), frozenset(), frozenset(), frozenset({QualityFlag.NO_FINGER}),
     frozenset({QualityFlag.SENSOR_DISCONNECTED}), frozenset({QualityFlag.SEARCHING}),
     frozenset({QualityFlag.LOW_BATTERY})]
)
frame = st.tuples(
    st.just("frame"),
    st.one_of(st.none(), st.integers(70, 100)),
    st.one_of(st.none(), st.integers(25, 150)),
    flags,
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
                [None, frozenset(), frozenset({SideEffect.DIZZINESS}),
                 frozenset({SideEffect.DIFFICULTY_BREATHING})]
            ),
        ),
    ),
    st.tuples(st.just("injection")),
    st.tuples(st.just("ack"), st.sampled_from(RULE_IDS)),
    st.tuples(st.just("extend")),
    st.tuples(st.just("close")),
    st.tuples(st.just("advance")),
)
steps = st.lists(
    st.tuples(gaps, st.one_of(frame, frame, frame, frame, entry)), min_size=1, max_size=300
)


def events_of(step: tuple, at: datetime, injected: bool) -> list[TrialEvent]:
    kind = step[0]
    if kind == "frame":
        # As a frame hands them over: values first, then the parameters without one.
        readings = [Reading(at, p, v, step[3]) for p, v in frame_values(step).items()]
        return readings + [Reading(at, p, None, step[3]) for p in frame_missing(step)]
    if kind == "bp":
        return [Reading(at, Parameter.SYSTOLIC, step[1])]
    if kind == "link":
        return [DeviceLink(at, "oximeter", step[1], OXIMETER, "test")]
    if kind == "set":
        return [ObservationSet(at, **step[1])]
    if kind == "injection":
        return [] if injected else [Injection(at, 50)]
    if kind == "ack":
        return [Acknowledgement(at, step[1], by="nurse")]
    if kind == "extend":
        return [WindowExtension(at, 30)]
    if kind == "close":
        return [WindowClosed(at)]
    return []  # "advance": only time moves


def frame_values(step: tuple) -> dict[Parameter, float]:
    pairs = ((Parameter.SPO2, step[1]), (Parameter.PULSE_RATE, step[2]))
    return {p: float(v) for p, v in pairs if v is not None}


def frame_missing(step: tuple) -> list[Parameter]:
    return [p for p, v in ((Parameter.SPO2, step[1]), (Parameter.PULSE_RATE, step[2])) if v is None]


def run(
    day: list[tuple], trust_bound: bool, frames: bool = False
) -> list[tuple[datetime, str, str, str]]:
    engine = TrialEngine(RULES, trial_id="t")
    engine.trust_bound = trust_bound
    out: list[AlarmEvent] = []
    t = T0
    for gap, step in day:
        t += timedelta(seconds=gap)
        if step[0] == "advance":
            out += engine.advance_to(t)
        if frames and step[0] == "frame":
            out += engine.feed_frame(t, frame_values(step), frame_missing(step), step[3])
            continue
        for event in events_of(step, t, engine.injection is not None):
            out += engine.feed(event)
        if trust_bound:
            # Looked at without the scan `next_deadline` would make (which would hide a bad
            # bound by making it exact).
            bound = engine._earliest
            deadline = min((d for d, _ in engine._timers()), default=None)
            if bound is not _UNKNOWN:
                assert deadline is None or (bound is not None and bound <= deadline), (
                    f"bound {bound} after the next deadline {deadline}"
                )
    out += engine.advance_to(t + timedelta(hours=2))
    return [(e.time, e.event.value, e.rule_id, e.priority.value) for e in out]


@settings(max_examples=300, deadline=None)
@given(steps)
def test_kept_bound_emits_what_a_full_scan_emits(day: list[tuple]) -> None:
    assert run(day, trust_bound=True) == run(day, trust_bound=False)


@settings(max_examples=200, deadline=None)
@given(steps)
def test_a_frame_fed_whole_is_its_readings_fed_one_by_one(day: list[tuple]) -> None:
    assert run(day, trust_bound=True, frames=True) == run(day, trust_bound=False)


def test_a_frame_with_a_naive_time_is_refused() -> None:
    with pytest.raises(ValueError, match="UTC offset"):
        TrialEngine(RULES).feed_frame(datetime(2025, 3, 1, 9, 0), {Parameter.SPO2: 97.0})


def test_first_reading_starts_the_silence_watch_without_a_scan() -> None:
    """The defect this bound once had: the first reading added a silence timer unseen."""
    engine = TrialEngine(RULES)
    assert engine.next_deadline() is None
    engine.feed(Reading(T0, Parameter.SPO2, 97))
    lost = engine.advance_to(T0 + timedelta(seconds=10))
    assert [(e.rule_id, e.event.value) for e in lost] == [("device_lost", "raised")]
