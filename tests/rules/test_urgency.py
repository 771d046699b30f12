"""The ward's one urgency order (rules/urgency.py): the lead alarm of a bed, the order of beds."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from rules.urgency import (
    alarm_urgency,
    bed_urgency,
    most_urgent,
    most_urgent_first,
    priority_rank,
    sounded_at,
)

T0 = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Alarm:
    name: str
    priority: str
    acknowledged: bool = False
    raised_at: datetime = T0
    last_event: str = "raised"
    last_event_at: datetime = T0


def test_priorities_rank_high_medium_low_and_an_unknown_word_lowest():
    assert [priority_rank(p) for p in ("high", "medium", "low", "severe")] == [3, 2, 1, 0]


def test_an_alarm_sounds_at_its_last_call_not_at_its_acknowledgement():
    escalated = Alarm("e", "high", last_event="escalated", last_event_at=T0 + timedelta(minutes=3))
    acknowledged = Alarm(
        "a",
        "high",
        acknowledged=True,
        last_event="acknowledged",
        last_event_at=T0 + timedelta(minutes=2),
    )
    assert sounded_at(escalated) == T0 + timedelta(minutes=3)
    assert sounded_at(acknowledged) == T0


def test_a_waiting_alarm_leads_an_acknowledged_one_of_higher_priority():
    """A bed's acknowledged high alarm must not hide its waiting medium one (hazard log H-24)."""
    high_seen = Alarm("high seen", "high", acknowledged=True)
    medium_waiting = Alarm("medium waiting", "medium")
    assert most_urgent([high_seen, medium_waiting]) == medium_waiting
    assert alarm_urgency(medium_waiting) > alarm_urgency(high_seen)


def test_among_waiting_alarms_priority_then_the_latest_call_leads():
    older_high = Alarm("older high", "high")
    newer_high = Alarm(
        "newer high", "high", last_event="reannunciated", last_event_at=T0 + timedelta(minutes=1)
    )
    newest_low = Alarm("newest low", "low", raised_at=T0 + timedelta(minutes=5))
    ordered = most_urgent_first([newest_low, older_high, newer_high])
    assert [a.name for a in ordered] == ["newer high", "older high", "newest low"]
    assert most_urgent([]) is None


def test_a_beds_urgency_waiting_priority_then_any_then_overdue_then_stale():
    waiting_medium = bed_urgency([Alarm("m", "medium")], overdue=False, stale=False)
    seen_high = bed_urgency([Alarm("h", "high", acknowledged=True)], overdue=True, stale=True)
    overdue = bed_urgency([], overdue=True, stale=False)
    stale = bed_urgency([], overdue=False, stale=True)
    calm = bed_urgency([], overdue=False, stale=False)
    assert waiting_medium > seen_high > overdue > stale > calm
    assert calm == (0, 0, 0, 0)
