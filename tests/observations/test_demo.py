from __future__ import annotations

from observations.demo import create_demo_trial
from observations.record import TrialRecord
from vocabulary import TrialStatus


def test_demo_trials_are_live_test_patients(record: TrialRecord):
    first = create_demo_trial(record, scenario="steady")
    second = create_demo_trial(record)
    assert first.status == TrialStatus.MONITORING and first.injection is not None
    assert "(test number)" in first.patient.identifiers
    assert first.patient.nhs_number != second.patient.nhs_number
    sources = {a.trial_id: a.source for a in record.trials.active_assignments()}
    assert sources == {
        first.id: f"sim:steady?seed={first.id}",
        second.id: f"sim:overdose?seed={second.id}",
    }
