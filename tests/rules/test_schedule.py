"""Observation schedule: +15, +30, +45, +60, +90 ... +240 min, then hourly; one set meets one
due time; NEWS2 brings the next set forward; `obs_overdue` 5 minutes after an unmet due time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from rules.engine import TrialEngine
from rules.events import Acknowledgement, Injection, ObservationSet
from rules.rule_set import default_rule_set
from rules.schedule import DueStatus, ObservationSchedule
from vocabulary import Consciousness

INJ = datetime(2025, 3, 1, 10, 0, tzinfo=UTC)
RULES = default_rule_set()


def m(minutes: float) -> datetime:
    return INJ + timedelta(minutes=minutes)


def started() -> ObservationSchedule:
    schedule = ObservationSchedule(RULES.schedule)
    schedule.start(INJ)
    return schedule


def test_due_times_count_from_the_injection() -> None:
    schedule = started()
    seen = []
    for due in (15, 30, 45, 60, 90, 120, 150, 180, 210, 240, 300, 360):
        assert schedule.next_due == m(due)
        seen.append(due)
        schedule.record_set(m(due - 1))
    assert seen[-3:] == [240, 300, 360]


def test_set_in_window_meets_that_due_time() -> None:
    schedule = started()
    assert schedule.record_set(m(1)) == m(15)  # (injection, 15]
    assert schedule.next_due == m(30)
    assert schedule.record_set(m(16)) == m(30)  # (15, 30]
    assert schedule.next_due == m(45)


def test_set_exactly_at_a_due_time_counts_for_that_one_only() -> None:
    schedule = started()
    assert schedule.record_set(m(15)) == m(15)
    assert schedule.next_due == m(30)
    assert schedule.record_set(m(15.5)) == m(30)
    assert schedule.next_due == m(45)


def test_second_set_in_one_window_meets_nothing() -> None:
    schedule = started()
    assert schedule.record_set(m(10)) == m(15)
    assert schedule.record_set(m(12)) is None
    assert schedule.next_due == m(30)
    statuses = {d.time: (d.status, d.met_at) for d in schedule.due_times(m(13))}
    assert statuses == {m(15): (DueStatus.MET, m(10)), m(30): (DueStatus.DUE, None)}


def test_late_set_meets_the_overdue_one_instead_of_its_own_window() -> None:
    schedule = started()
    assert schedule.record_set(m(22)) == m(15)  # late for 15; 30 still wants its own set
    assert schedule.next_due == m(30)
    statuses = {d.time: (d.status, d.met_at) for d in schedule.due_times(m(23))}
    assert statuses == {m(15): (DueStatus.LATE, m(22)), m(30): (DueStatus.DUE, None)}
    assert schedule.record_set(m(29)) == m(30)
    assert schedule.next_due == m(45)
    assert schedule.missed_due_times(m(50)) == [m(45)]


def test_late_set_exactly_at_the_next_due_time_meets_the_overdue_one() -> None:
    schedule = started()
    assert schedule.record_set(m(30)) == m(15)
    assert schedule.next_due == m(45)  # the next due time after the set
    statuses = {d.time: (d.status, d.met_at) for d in schedule.due_times(m(31))}
    assert statuses == {
        m(15): (DueStatus.LATE, m(30)),
        m(30): (DueStatus.MISSED, None),
        m(45): (DueStatus.DUE, None),
    }
    assert schedule.missed_due_times(m(31)) == [m(30)]


def test_long_gap_meets_the_latest_and_leaves_the_rest_missed() -> None:
    schedule = started()
    assert schedule.record_set(m(50)) == m(45)
    assert schedule.missed_due_times(m(50)) == [m(15), m(30)]
    assert schedule.next_due == m(60)
    assert schedule.record_set(m(55)) == m(60)
    assert schedule.next_due == m(90)


def test_every_passed_due_time_is_missed_not_only_the_first() -> None:
    schedule = started()
    assert schedule.missed_due_times(m(35)) == [m(15), m(30)]
    statuses = {d.time: d.status for d in schedule.due_times(m(35))}
    assert statuses == {m(15): DueStatus.MISSED, m(30): DueStatus.MISSED, m(45): DueStatus.DUE}
    assert schedule.next_due == m(15)  # overdue since the first missed one


def test_late_set_after_two_missed_meets_the_most_recent_only() -> None:
    schedule = started()
    assert schedule.missed_due_times(m(35)) == [m(15), m(30)]
    assert schedule.record_set(m(40)) == m(30)
    assert schedule.missed_due_times(m(41)) == [m(15)]
    statuses = {d.time: d.status for d in schedule.due_times(m(41))}
    assert statuses[m(30)] is DueStatus.LATE and statuses[m(45)] is DueStatus.DUE
    assert schedule.next_due == m(45)


def test_a_set_typed_late_meets_the_due_time_of_its_measured_time() -> None:
    schedule = started()
    assert schedule.record_set(m(40)) == m(30)  # late for 30; 15 passed unmet
    assert schedule.missed_due_times(m(41)) == [m(15)]
    # A set measured at 14, typed after the one measured at 40: it met 15 on time, and the
    # due times are worked out again as if the sets had come in measured order.
    assert schedule.record_set(m(14)) == m(15)
    statuses = {d.time: (d.status, d.met_at) for d in schedule.due_times(m(41))}
    assert statuses == {
        m(15): (DueStatus.MET, m(14)),
        m(30): (DueStatus.LATE, m(40)),
        m(45): (DueStatus.DUE, None),
    }
    assert schedule.missed_due_times(m(41)) == []
    assert schedule.next_due == m(45)
    assert schedule.last_set == m(40)


def test_a_set_typed_late_can_take_the_due_time_another_set_met() -> None:
    schedule = started()
    assert schedule.record_set(m(20)) == m(15)  # late for 15
    assert schedule.record_set(m(10)) == m(15)  # measured before: it met 15 on time
    statuses = {d.time: (d.status, d.met_at) for d in schedule.due_times(m(21))}
    # ... and the set of 20 is now a set in the window of 30.
    assert statuses == {
        m(15): (DueStatus.MET, m(10)),
        m(30): (DueStatus.MET, m(20)),
        m(45): (DueStatus.DUE, None),
    }
    assert schedule.next_due == m(45)


# A set: its measured time (minutes from the injection, some before it, some on due times)
# and the NEWS2 band it scored, if complete.
recorded_sets = st.lists(
    st.tuples(
        st.one_of(
            st.sampled_from([-5, 0, 15, 30, 45, 60, 85, 90, 240, 300]),
            st.integers(-10, 800).map(lambda n: n / 2),
        ),
        st.sampled_from([None, "low", "low-medium", "medium", "high"]),
    ),
    max_size=25,
    unique_by=lambda s: s[0],  # two sets measured at one instant have no measured order
)


def _record(schedule: ObservationSchedule, sets: list[tuple[float, str | None]]) -> None:
    for minutes, band in sets:
        schedule.record_set(m(minutes))
        if band is not None:
            schedule.news2_scored(m(minutes), band)


def _state(schedule: ObservationSchedule, now: datetime) -> tuple[object, ...]:
    return (
        schedule.due_times(now),
        schedule.missed_due_times(now),
        schedule.next_due,
        schedule.last_set,
    )


@settings(max_examples=300, deadline=None)
@given(recorded_sets, st.randoms(use_true_random=False), st.one_of(st.none(), st.integers(1, 400)))
def test_sets_recorded_out_of_measured_order_give_what_measured_order_gives(
    sets: list[tuple[float, str | None]], random: object, closed_at: int | None
) -> None:
    in_order = started()
    _record(in_order, sorted(sets, key=lambda s: s[0]))
    shuffled = list(sets)
    random.shuffle(shuffled)  # type: ignore[attr-defined]
    out_of_order = started()
    _record(out_of_order, shuffled)
    now = m(420)
    if closed_at is not None:
        for schedule in (in_order, out_of_order):
            schedule.close(m(closed_at))
    assert _state(out_of_order, now) == _state(in_order, now)


def test_a_score_at_the_injection_instant_counts_the_same_whenever_it_is_typed() -> None:
    """A set measured at the injection instant meets no due time, but its NEWS2 counts: high
    asks for a set within 15 minutes, which the schedule's own +15 already asks for."""
    in_order = started()
    assert in_order.record_set(m(0)) is None
    assert in_order.news2_scored(m(0), "high") is None  # +15 is due already
    assert in_order.record_set(m(20)) == m(15)
    typed_late = started()
    assert typed_late.record_set(m(20)) == m(15)
    assert typed_late.record_set(m(0)) is None
    typed_late.news2_scored(m(0), "high")
    assert [(d.time, d.status, d.met_at, d.source) for d in typed_late.due_times(m(21))] == [
        (m(15), DueStatus.LATE, m(20), "schedule"),
        (m(30), DueStatus.DUE, None, "schedule"),
    ]
    assert _state(typed_late, m(60)) == _state(in_order, m(60))


def test_nothing_is_missed_after_the_window_is_closed() -> None:
    schedule = started()
    schedule.close(m(20))
    assert schedule.missed_due_times(m(300)) == [m(15)]
    assert schedule.next_due == m(15)


def test_news2_high_brings_the_next_set_within_15_minutes() -> None:
    schedule = started()
    for due in (15, 30, 45, 60):
        schedule.record_set(m(due))
    schedule.record_set(m(70))  # meets 90
    assert schedule.news2_scored(m(70), "high") == m(85)
    assert schedule.next_due == m(85)


def test_news2_medium_within_the_hour_only_matters_when_sooner() -> None:
    schedule = started()
    schedule.record_set(m(10))
    assert schedule.news2_scored(m(10), "medium") is None  # 30 comes first
    for due in range(15, 241, 15):
        schedule.record_set(m(due))
    schedule.record_set(m(250))  # meets 300
    assert schedule.next_due == m(360)
    assert schedule.news2_scored(m(250), "low-medium") == m(310)
    assert schedule.next_due == m(310)
    assert schedule.news2_scored(m(250), "low") is None


def _set(minutes: float) -> ObservationSet:
    return ObservationSet(
        m(minutes),
        rr=16.0,
        spo2=97.0,
        on_oxygen=False,
        systolic=120.0,
        pulse_rate=70.0,
        consciousness=Consciousness.ALERT,
        temp=37.0,
    )


def test_obs_overdue_raised_five_minutes_after_due_and_resolved_by_next_set() -> None:
    engine = TrialEngine(RULES)
    engine.feed(Injection(INJ, 50))
    assert engine.next_observation_due() == m(15)
    assert engine.next_deadline() == m(20)
    assert engine.advance_to(m(20) - timedelta(seconds=1)) == []
    raised = engine.advance_to(m(20))
    assert [(e.time, e.event.value, e.rule_id, e.priority.value) for e in raised] == [
        (m(20), "raised", "obs_overdue", "medium")
    ]
    assert raised[0].evidence["due"] == m(15).isoformat()
    assert engine.missed_observation_due_times() == [m(15)]
    resolved = engine.feed(_set(22))
    assert [(e.time, e.event.value, e.rule_id) for e in resolved] == [
        (m(22), "resolved", "obs_overdue")
    ]
    assert engine.next_observation_due() == m(30)  # the late set met 15 only
    assert engine.missed_observation_due_times() == []
    assert engine.next_deadline() == m(35)
    assert engine.advance_to(m(35) - timedelta(seconds=1)) == []
    again = engine.advance_to(m(35))
    assert [(e.time, e.event.value, e.rule_id) for e in again] == [(m(35), "raised", "obs_overdue")]
    assert again[0].evidence["due"] == m(30).isoformat()


def test_engine_lists_every_missed_due_time() -> None:
    engine = TrialEngine(RULES)
    engine.feed(Injection(INJ, 50))
    engine.advance_to(m(50))
    assert engine.missed_observation_due_times() == [m(15), m(30), m(45)]
    engine.feed(_set(52))  # late for 45, instead of the window of 60
    assert engine.missed_observation_due_times() == [m(15), m(30)]
    assert engine.next_observation_due() == m(60)
    statuses = {d.time: d.status for d in engine.observation_due_times()}
    assert statuses == {
        m(15): DueStatus.MISSED,
        m(30): DueStatus.MISSED,
        m(45): DueStatus.LATE,
        m(60): DueStatus.DUE,
    }


def test_obs_overdue_escalates_after_ten_minutes_unacknowledged() -> None:
    engine = TrialEngine(RULES)
    engine.feed(Injection(INJ, 50))
    events = engine.advance_to(m(30))
    assert [(e.time, e.event.value) for e in events] == [(m(20), "raised"), (m(30), "escalated")]


def test_acknowledged_overdue_stays_silent_until_a_set_is_recorded() -> None:
    engine = TrialEngine(RULES)
    engine.feed(Injection(INJ, 50))
    engine.advance_to(m(20))
    acknowledged = engine.feed(Acknowledgement(m(21), "obs_overdue", by="nurse"))
    assert [(e.time, e.event.value) for e in acknowledged] == [(m(21), "acknowledged")]
    # No re-annunciation on a timer, no escalation once seen, nothing as more due times pass.
    assert engine.advance_to(m(100)) == []
    [alarm] = engine.active_alarms()
    assert (alarm.rule_id, alarm.acknowledged_at, alarm.condition_present) == (
        "obs_overdue",
        m(21),
        True,
    )
    assert engine.missed_observation_due_times() == [m(15), m(30), m(45), m(60), m(90)]
    resolved = engine.feed(_set(101))  # late for 90
    assert [(e.time, e.event.value, e.rule_id) for e in resolved] == [
        (m(101), "resolved", "obs_overdue")
    ]
    assert engine.next_observation_due() == m(120)


def test_sets_on_time_raise_no_overdue() -> None:
    engine = TrialEngine(RULES)
    engine.feed(Injection(INJ, 50))
    out = []
    for due in (15, 30, 45, 60, 90, 120, 150, 180, 210, 240, 300):
        out += engine.feed(_set(due - 1))
    out += engine.advance_to(m(304))
    assert out == []
    assert engine.advance_to(m(365))[0].rule_id == "obs_overdue"  # 360 unmet


def test_news2_high_set_makes_next_due_sooner_in_the_engine() -> None:
    engine = TrialEngine(RULES)
    engine.feed(Injection(INJ, 50))
    for due in (15, 30, 45, 60):
        engine.feed(_set(due))
    engine.feed(
        ObservationSet(
            m(65),
            rr=24.0,
            spo2=94.0,
            on_oxygen=True,
            systolic=105.0,
            pulse_rate=95.0,
            consciousness=Consciousness.ALERT,
            temp=38.5,
        )
    )
    assert engine.next_observation_due() == m(80)


def test_no_schedule_before_the_injection() -> None:
    engine = TrialEngine(RULES)
    engine.feed(_set(-30))
    assert engine.next_observation_due() is None
    assert engine.advance_to(m(-1)) == []


def test_window_extension_moves_the_planned_end() -> None:
    from rules.events import WindowExtension

    engine = TrialEngine(RULES)
    assert engine.window_end() is None
    engine.feed(Injection(INJ, 50))
    assert engine.window_end() == m(240)
    engine.feed(WindowExtension(m(200), 60))
    assert engine.window_end() == m(300)
