"""Observation sets: one current set per trial and measured minute when the form asks for it,
checked inside the write; a correction keeps the original and is audited."""

from __future__ import annotations

from datetime import timedelta

import pytest

from observations.errors import InvalidEntry, NotFound, Refused
from observations.observation_sets import SetAtSameMinute
from observations.record import TrialRecord
from tests.observations.conftest import FakeClock, Staff
from tests.observations.test_record import plan


def test_same_minute_refused_with_the_set_to_correct(
    record: TrialRecord, staff: Staff, clock: FakeClock
):
    trial = plan(record, staff)
    minute = clock.now.replace(second=0) - timedelta(minutes=5)
    first = record.observations.record(
        staff.nurse, trial, {"measured_at": minute + timedelta(seconds=10), "rr": 16}
    )
    with pytest.raises(SetAtSameMinute) as refused:
        record.observations.record(
            staff.nurse,
            trial,
            {"measured_at": minute + timedelta(seconds=50), "rr": 18},
            one_per_minute=True,
        )
    assert refused.value.existing.id == first.id
    assert "correct that set" in refused.value.message
    assert [s.id for s in record.observations.list(trial)] == [first.id]
    # Within a minute either side, across a minute boundary too (a double Save at :59 and :01).
    assert record.observations.at_same_minute(trial, minute + timedelta(seconds=69)) == first
    assert record.observations.at_same_minute(trial, minute - timedelta(seconds=49)) == first
    assert record.observations.at_same_minute(trial, minute + timedelta(seconds=70)) is None
    # A minute later is another set; without the flag (a device or a demo day) nothing changes.
    record.observations.record(
        staff.nurse,
        trial,
        {"measured_at": minute + timedelta(seconds=70), "rr": 18},
        one_per_minute=True,
    )
    record.observations.record(
        staff.nurse, trial, {"measured_at": minute + timedelta(seconds=30), "rr": 18}
    )
    assert len(record.observations.list(trial)) == 3


def test_the_check_is_per_trial_and_ignores_superseded_sets(
    record: TrialRecord, staff: Staff, clock: FakeClock
):
    trial = plan(record, staff)
    other = plan(record, staff, nhs_number="9000000009", hospital_number="H2")
    at = clock.now - timedelta(minutes=2)
    first = record.observations.record(staff.nurse, trial, {"measured_at": at, "rr": 16})
    record.observations.record(
        staff.nurse, other, {"measured_at": at, "rr": 16}, one_per_minute=True
    )
    # A correction at the same time replaces the set: it is not a second set of that minute.
    fixed = record.observations.correct(
        staff.nurse,
        first.id,
        {"measured_at": at, "rr": 61},
        "typed 16 for 61",
        one_per_minute=True,
    )
    assert record.observations.at_same_minute(trial, at) == fixed
    with pytest.raises(Refused, match="already been corrected"):
        record.observations.correct(staff.nurse, first.id, {"measured_at": at, "rr": 60}, "x")
    # But a correction moved onto the minute of another current set is refused.
    later = record.observations.record(
        staff.nurse, trial, {"measured_at": at + timedelta(minutes=1), "rr": 20}
    )
    with pytest.raises(SetAtSameMinute) as refused:
        record.observations.correct(
            staff.nurse,
            later.id,
            {"measured_at": at, "rr": 20},
            "wrong time",
            one_per_minute=True,
        )
    assert refused.value.existing.id == fixed.id


def test_correction_needs_a_reason_and_is_audited(
    record: TrialRecord, staff: Staff, clock: FakeClock
):
    trial = plan(record, staff)
    first = record.observations.record(
        staff.nurse, trial, {"measured_at": clock.now - timedelta(minutes=1), "pulse_rate": 37}
    )
    with pytest.raises(InvalidEntry) as refused:
        record.observations.correct(
            staff.nurse, first.id, {"measured_at": first.measured_at, "pulse_rate": 73}, "  "
        )
    assert refused.value.problems[0].field == "reason"
    fixed = record.observations.correct(
        staff.nurse,
        first.id,
        {"measured_at": first.measured_at, "pulse_rate": 73},
        "pulse typed as 37, counted 73",
    )
    assert record.observations.get(first.id).pulse_rate == 37  # the original is kept
    assert record.observations.get(fixed.id).correction_reason == "pulse typed as 37, counted 73"
    [entry] = record.audit.entries(trial_id=trial, action_prefix="observation.correct")
    assert entry.details == {"supersedes": first.id, "reason": "pulse typed as 37, counted 73"}
    assert entry.entity_id == fixed.id
    with pytest.raises(NotFound):
        record.observations.get(fixed.id + 100)
