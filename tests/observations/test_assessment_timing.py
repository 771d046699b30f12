"""Scores are taken when they mean something: baseline before the injection, the peak at 4 h."""

from __future__ import annotations

from datetime import timedelta

import pytest

from observations.errors import InvalidEntry
from observations.exports.snapshot import evaluation_of, take_snapshot
from observations.record import TrialRecord
from tests.observations.conftest import FakeClock, Staff
from tests.observations.test_record import inject, plan
from vocabulary import TrialStatus


def scores(point: str, at, **more) -> dict:
    return {
        "time_point": point,
        "assessed_at": at,
        "ashworth": [{"muscle_group": "hip_flexors", "side": "left", "label": "2"}],
        **more,
    }


def test_peak_scores_35_minutes_after_the_injection_need_a_reason(
    record: TrialRecord, staff: Staff, clock: FakeClock
):
    trial = plan(record, staff)
    given = clock.now - timedelta(hours=1)
    record.assessments.record(staff.physio, trial, scores("baseline", given - timedelta(hours=1)))
    record.trials.set_status(staff.doctor, trial, TrialStatus.BASELINE)
    inject(record, staff, trial, given)
    early = given + timedelta(minutes=35)
    with pytest.raises(
        InvalidEntry, match="0 h 35 min after the injection, outside the peak window"
    ) as refused:
        record.assessments.record(staff.physio, trial, scores("4h", early))
    assert refused.value.problems[0].field == "timing_reason"
    assert len(record.assessments.list(trial)) == 1  # nothing written
    saved = record.assessments.record(
        staff.physio,
        trial,
        scores("4h", early, timing_reason="Patient transferred to theatre at 11:00"),
    )
    assert record.assessments.timing_reasons(trial) == {
        saved.id: "Patient transferred to theatre at 11:00"
    }
    [audit] = [
        e
        for e in record.audit.entries(trial_id=trial)
        if e.action == "assessment.record" and e.entity_id == saved.id
    ]
    assert audit.details["timing_reason"] == "Patient transferred to theatre at 11:00"
    assert audit.details["outside_peak_window"] is True
    evaluation = evaluation_of(take_snapshot(record, trial))
    assert evaluation.four_hour_timing.label == (
        "outside the peak window: 0 h 35 min after injection — reason: Patient transferred "
        "to theatre at 11:00"
    )
    assert evaluation.next_step.kind == "cannot_evaluate"


def test_baseline_after_the_injection_is_refused_and_a_late_injection_is_labelled(
    record: TrialRecord, staff: Staff, clock: FakeClock
):
    trial = plan(record, staff)
    given = clock.now - timedelta(hours=2)
    # Scores first, the injection typed later with an earlier time: the record cannot refuse
    # what was already written, so the evaluation says the baseline was not pre-injection.
    record.assessments.record(
        staff.physio, trial, scores("baseline", given + timedelta(minutes=10))
    )
    record.trials.set_status(staff.doctor, trial, TrialStatus.BASELINE)
    inject(record, staff, trial, given)
    evaluation = evaluation_of(take_snapshot(record, trial))
    assert evaluation.baseline_timing.label == (
        "not a pre-injection baseline: taken 0 h 10 min after the injection"
    )
    with pytest.raises(InvalidEntry, match="Baseline scores must be taken before the injection"):
        record.assessments.record(
            staff.physio, trial, scores("baseline", given + timedelta(minutes=5))
        )
