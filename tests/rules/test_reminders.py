"""The soft reminder of acknowledged alarms still present: one per bed, at the shortest interval,
counted from the latest acknowledgement or the last reminder."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rules.reminders import (
    AcknowledgedAlarm,
    next_reminder_at,
    reminder_due,
    reminder_interval,
)
from vocabulary import Priority

T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
# Explicit defaults, so these tests say what they assume of the rule file.
DEFAULTS = {Priority.HIGH: 300.0, Priority.MEDIUM: 900.0}


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def acked(seconds: float, priority: Priority, remind_after_s: float | None = None):
    return AcknowledgedAlarm(at(seconds), priority, remind_after_s)


def test_nothing_acknowledged_reminds_of_nothing():
    assert next_reminder_at([], DEFAULTS) is None
    assert not reminder_due([], DEFAULTS, at(10_000))


def test_default_by_priority_counted_from_the_acknowledgement():
    high = [acked(0, Priority.HIGH)]
    assert next_reminder_at(high, DEFAULTS) == at(300)
    assert not reminder_due(high, DEFAULTS, at(299))
    assert reminder_due(high, DEFAULTS, at(300))
    assert next_reminder_at([acked(0, Priority.MEDIUM)], DEFAULTS) == at(900)


def test_the_nurses_choice_wins_over_the_default_either_way():
    assert next_reminder_at([acked(0, Priority.HIGH, 900)], DEFAULTS) == at(900)
    assert next_reminder_at([acked(0, Priority.MEDIUM, 120)], DEFAULTS) == at(120)


def test_a_low_alarm_reminds_only_when_the_nurse_asked():
    assert next_reminder_at([acked(0, Priority.LOW)], DEFAULTS) is None
    assert next_reminder_at([acked(0, Priority.LOW, 600)], DEFAULTS) == at(600)
    assert reminder_interval(acked(0, Priority.LOW), DEFAULTS) is None


def test_one_reminder_per_bed_at_the_shortest_interval_from_the_latest_acknowledgement():
    bed = [acked(0, Priority.MEDIUM), acked(200, Priority.HIGH), acked(250, Priority.LOW)]
    # The shortest interval (high: 300 s) from the latest acknowledgement (the low one, 250 s).
    assert next_reminder_at(bed, DEFAULTS) == at(550)


def test_counted_from_the_last_reminder_when_it_came_after_the_acknowledgements():
    bed = [acked(0, Priority.HIGH)]
    assert next_reminder_at(bed, DEFAULTS, last_reminder_at=at(300)) == at(600)
    assert not reminder_due(bed, DEFAULTS, at(599), last_reminder_at=at(300))
    # A reminder given before a later acknowledgement does not bring the next one forward.
    assert next_reminder_at([acked(400, Priority.HIGH)], DEFAULTS, at(300)) == at(700)


@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan")])
def test_an_interval_that_is_not_positive_is_a_mistake(bad: float):
    with pytest.raises(ValueError, match="positive"):
        next_reminder_at([acked(0, Priority.HIGH, bad)], DEFAULTS)
    with pytest.raises(ValueError, match="positive"):
        next_reminder_at([acked(0, Priority.HIGH)], {Priority.HIGH: bad})


alarms = st.lists(
    st.builds(
        acked,
        st.integers(0, 3600),
        st.sampled_from(list(Priority)),
        st.one_of(st.none(), st.integers(60, 3600).map(float)),
    ),
    min_size=1,
    max_size=5,
)


@settings(max_examples=80, deadline=None)
@given(bed=alarms, tick=st.integers(1, 30))
def test_a_screen_that_records_each_reminder_reminds_at_the_interval_and_no_more(
    bed: list[AcknowledgedAlarm], tick: int
):
    """A screen asking every `tick` seconds for three hours: the first reminder comes one
    interval after the latest acknowledgement, each next one an interval after the last, never
    sooner, and no later than one tick after it is due."""
    intervals = [i for i in (reminder_interval(a, DEFAULTS) for a in bed) if i is not None]
    latest = max(a.acknowledged_at for a in bed)
    now, last, reminders = latest, None, []
    while now <= latest + timedelta(hours=3):
        if reminder_due(bed, DEFAULTS, now, last):
            reminders.append(now)
            last = now
        now += timedelta(seconds=tick)
    if not intervals:
        assert reminders == []
        return
    shortest = min(intervals)
    assert reminders, "a bed with an interval is reminded within three hours"
    for before, this in zip([latest, *reminders], reminders, strict=False):
        assert shortest <= this - before < shortest + timedelta(seconds=tick)
