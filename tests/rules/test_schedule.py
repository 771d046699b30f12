"""Observation schedule (issue 4): +15, +30, +45, +60, +90 ... +240 min, then hourly;
NEWS2 brings the next set forward; `obs_overdue` 5 minutes after an unmet due time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

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
    assert schedule.record_set(m(1)) == [m(15)]  # (injection, 15]
    assert schedule.next_due == m(30)
    assert schedule.record_set(m(16)) == [m(30)]  # (15, 30]


def test_set_exactly_at_a_due_time_counts_for_that_one_only() -> None:
    schedule = started()
    assert schedule.record_set(m(15)) == [m(15)]
    assert schedule.next_due == m(30)
    assert schedule.record_set(m(15.5)) == [m(30)]


def test_second_set_in_one_window_meets_nothing() -> None:
    schedule = started()
    assert schedule.record_set(m(10)) == [m(15)]
    assert schedule.record_set(m(12)) == []
    assert schedule.next_due == m(30)


def test_late_set_meets_the_overdue_one_and_its_own_window() -> None:
    schedule = started()
    assert schedule.record_set(m(22)) == [m(15), m(30)]  # late for 15; in (15, 30]
    assert schedule.next_due == m(45)
    statuses = {d.time: d.status for d in schedule.due_times(m(23))}
    assert statuses[m(15)] is DueStatus.LATE
    assert statuses[m(30)] is DueStatus.MET
    assert statuses[m(45)] is DueStatus.DUE


def test_late_set_exactly_at_the_next_due_time() -> None:
    schedule = started()
    assert schedule.record_set(m(30)) == [m(15), m(30)]
    assert schedule.next_due == m(45)


def test_long_gap_meets_the_latest_and_leaves_the_rest_missed() -> None:
    schedule = started()
    assert schedule.record_set(m(50)) == [m(45), m(60)]
    assert schedule.missed_due_times(m(50)) == [m(15), m(30)]
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
    assert schedule.record_set(m(40)) == [m(30), m(45)]
    assert schedule.missed_due_times(m(41)) == [m(15)]
    statuses = {d.time: d.status for d in schedule.due_times(m(41))}
    assert statuses[m(30)] is DueStatus.LATE and statuses[m(45)] is DueStatus.MET
    assert schedule.next_due == m(60)


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
    return ObservationSet(m(minutes), rr=16.0, spo2=97.0, on_oxygen=False, systolic=120.0,
                          pulse_rate=70.0, consciousness=Consciousness.ALERT, temp=37.0)


def test_obs_overdue_raised_five_minutes_after_due_and_resolved_by_next_set() -> None:
    engine = TrialEngine(RULES)
    engine.feed(Injection(INJ, 50))
    assert engine.next_observation_due() == m(15)
    assert engine.next_deadline() == m(20)
    assert engine.advance_to(m(20) - timedelta(seconds=1)) == []
    raised = engine.advance_to(m(20))
    assert [(e.time, e.event.value, e.rule_id, e.priority.value) for e in raised] == [
        (m(20), "raised", "obs_overdue", "medium")]
    assert raised[0].evidence["due"] == m(15).isoformat()
    assert engine.missed_observation_due_times() == [m(15)]
    resolved = engine.feed(_set(22))
    assert [(e.time, e.event.value, e.rule_id) for e in resolved] == [
        (m(22), "resolved", "obs_overdue")]
    assert engine.next_observation_due() == m(45)  # the late set also met 30
    assert engine.missed_observation_due_times() == []


def test_engine_lists_every_missed_due_time() -> None:
    engine = TrialEngine(RULES)
    engine.feed(Injection(INJ, 50))
    engine.advance_to(m(50))
    assert engine.missed_observation_due_times() == [m(15), m(30), m(45)]
    engine.feed(_set(52))  # late for 45, in the window of 60
    assert engine.missed_observation_due_times() == [m(15), m(30)]
    assert engine.next_observation_due() == m(90)


def test_obs_overdue_escalates_after_ten_minutes_unacknowledged() -> None:
    engine = TrialEngine(RULES)
    engine.feed(Injection(INJ, 50))
    events = engine.advance_to(m(30))
    assert [(e.time, e.event.value) for e in events] == [(m(20), "raised"),
                                                         (m(30), "escalated")]


def test_acknowledged_overdue_is_reannunciated_while_still_overdue() -> None:
    engine = TrialEngine(RULES)
    engine.feed(Injection(INJ, 50))
    engine.advance_to(m(20))
    engine.feed(Acknowledgement(m(21), "obs_overdue", by="nurse"))
    events = engine.advance_to(m(23))
    assert [(e.time, e.event.value) for e in events] == [(m(23), "reannunciated")]


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
    engine.feed(ObservationSet(m(65), rr=24.0, spo2=94.0, on_oxygen=True, systolic=105.0,
                               pulse_rate=95.0, consciousness=Consciousness.ALERT, temp=38.5))
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
