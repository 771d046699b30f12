"""The monitor's judgement in the record: each set's NEWS2, the due times and the baseline.

Written only by the monitor service, append-only like every clinical row, the newest row of a
set (or of a trial's schedule) is the one shown.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from observations.errors import InvalidEntry, NotFound, NotPermitted
from observations.record import TrialRecord
from observations.schema import ScheduleJudgement, SetScore
from observations.set_scores import KnownJudgement, ScheduleJudgementIn, SetScoreIn
from rules import DueStatus, DueTime
from tests.observations.conftest import FakeClock, Staff, patient_details

SCORES = {
    "rr_score": 0,
    "spo2_score": 1,
    "oxygen_score": 0,
    "sbp_score": 0,
    "pulse_score": 0,
    "consciousness_score": 0,
    "temp_score": 0,
}


def trial_with_set(record: TrialRecord, staff: Staff, clock: FakeClock) -> tuple[int, int]:
    patient = record.patients.register(staff.specialist, patient_details())
    trial = record.trials.plan(staff.specialist, patient.id, 50).id
    record.trials.record_injection(
        staff.doctor,
        trial,
        {
            "dose_mcg": 50,
            "given_at": clock.now - timedelta(minutes=20),
            "route": "lumbar_puncture",
            "given_by": "Dr Jones",
        },
    )
    obs = record.observations.record(
        staff.nurse,
        trial,
        {
            "measured_at": clock.now - timedelta(minutes=6),
            "rr": 14,
            "on_oxygen": False,
            "systolic": 120,
            "diastolic": 80,
            "pulse_rate": 70,
            "consciousness": "A",
            "temp": 36.8,
        },
    )
    return trial, obs.id


def score(trial: int, set_id: int, clock: FakeClock, **changes: object) -> SetScoreIn:
    judged = SetScoreIn(
        trial_id=trial,
        observation_set_id=set_id,
        measured_at=clock.now - timedelta(minutes=6),
        total=1,
        band="low",
        scores=dict(SCORES),
        missing=(),
        spo2_scale=1,
        spo2=95.0,
        spo2_from="device",
        pulse=70.0,
        pulse_from="set",
        rule_set_version="itbmon-default-3",
        judged_at=clock.now - timedelta(minutes=5),
    )
    return replace(judged, **changes)  # type: ignore[arg-type]


def schedule(
    trial: int, clock: FakeClock, status: DueStatus = DueStatus.DUE
) -> ScheduleJudgementIn:
    injected = clock.now - timedelta(minutes=20)
    return ScheduleJudgementIn(
        trial_id=trial,
        judged_at=clock.now,
        rule_set_version="itbmon-default-3",
        injection_at=injected,
        next_due=injected + timedelta(minutes=30),
        due_times=(
            DueTime(
                injected + timedelta(minutes=15),
                DueStatus.MET,
                clock.now - timedelta(minutes=6),
                "schedule",
            ),
            DueTime(injected + timedelta(minutes=30), status, None, "schedule"),
        ),
        baseline={"spo2": 97.0, "systolic": 128.5},
    )


def test_the_newest_judgement_of_a_set_is_the_one_shown(
    record: TrialRecord, staff: Staff, clock: FakeClock
):
    trial, set_id = trial_with_set(record, staff, clock)
    assert record.set_scores.for_trial(trial) == {}  # not yet scored: nothing, never a guess
    assert record.set_scores.record(staff.service, [score(trial, set_id, clock)]) == 1
    [stored] = record.set_scores.for_trial(trial).values()
    assert (stored.total, stored.band, stored.spo2, stored.spo2_from) == (1, "low", 95, "device")
    assert stored.news2.scores == SCORES and stored.news2.complete
    assert stored.measured_at == clock.now - timedelta(minutes=6)
    assert stored.measured_at.utcoffset() == timedelta(0)
    again = score(trial, set_id, clock, total=3, band="low-medium", spo2=91.0)
    record.set_scores.record(staff.service, [again])
    assert record.set_scores.for_set(set_id).total == 3  # type: ignore[union-attr]
    assert record.set_scores.for_trial(trial)[set_id].band == "low-medium"
    assert [s.total for s in record.set_scores.history(set_id)] == [1, 3]  # both kept


def test_a_partial_set_has_no_total_and_names_what_is_missing(
    record: TrialRecord, staff: Staff, clock: FakeClock
):
    trial, set_id = trial_with_set(record, staff, clock)
    partial = score(
        trial,
        set_id,
        clock,
        total=None,
        band="incomplete",
        missing=("spo2",),
        spo2=None,
        spo2_from=None,
        scores={**SCORES, "spo2_score": None},
    )
    record.set_scores.record(staff.service, [partial])
    stored = record.set_scores.for_set(set_id)
    assert stored is not None and stored.total is None and stored.missing == ("spo2",)
    with pytest.raises(InvalidEntry):  # a total without a band to match is refused whole
        record.set_scores.record(staff.service, [score(trial, set_id, clock, band="incomplete")])
    with pytest.raises(InvalidEntry):
        record.set_scores.record(staff.service, [score(trial, set_id, clock, spo2_from="guess")])


def test_the_schedule_s_newest_judgement_counts_and_passed_due_times_read_as_missed(
    record: TrialRecord, staff: Staff, clock: FakeClock
):
    trial, _ = trial_with_set(record, staff, clock)
    assert record.set_scores.schedule(trial) is None
    record.set_scores.record(staff.service, schedules=[schedule(trial, clock)])
    stored = record.set_scores.schedule(trial)
    assert stored is not None
    assert stored.baseline == {"spo2": 97.0, "systolic": 128.5}
    assert [d.status for d in stored.due_times] == [DueStatus.MET, DueStatus.DUE]
    assert stored.due_times[0].met_at == clock.now - timedelta(minutes=6)
    # The monitor judged the +30 min set due; once its time has passed unmet it is missed,
    # even if no newer judgement came (the monitor stopped).
    later = clock.now + timedelta(minutes=11)
    assert stored.missed_due_times(clock.now) == []
    assert stored.missed_due_times(later) == [clock.now + timedelta(minutes=10)]
    record.set_scores.record(
        staff.service, schedules=[schedule(trial, clock, status=DueStatus.MISSED)]
    )
    newest = record.set_scores.schedule(trial)
    assert newest is not None and newest.id > stored.id
    assert newest.due_times[1].status == DueStatus.MISSED


def test_only_the_monitor_service_records_its_judgement(
    record: TrialRecord, staff: Staff, clock: FakeClock
):
    trial, set_id = trial_with_set(record, staff, clock)
    with pytest.raises(NotPermitted, match="only the monitor service"):
        record.set_scores.record(staff.doctor, [score(trial, set_id, clock)])
    assert record.set_scores.for_trial(trial) == {}


def test_a_judgement_of_an_unknown_set_writes_nothing_at_all(
    record: TrialRecord, staff: Staff, clock: FakeClock
):
    trial, set_id = trial_with_set(record, staff, clock)
    patient = record.patients.register(
        staff.specialist, patient_details(nhs_number="9990000026", hospital_number="H2")
    )
    other = record.trials.plan(staff.specialist, patient.id, 50).id
    with pytest.raises(NotFound, match=f"Trial {other} has no observation set"):
        record.set_scores.record(
            staff.service,
            [score(trial, set_id, clock), score(other, set_id, clock)],
            [schedule(trial, clock)],
        )
    assert record.set_scores.for_trial(trial) == {}
    assert record.set_scores.schedule(trial) is None


def test_one_audit_entry_per_trial_in_the_judgement_s_transaction(
    record: TrialRecord, staff: Staff, clock: FakeClock
):
    trial, set_id = trial_with_set(record, staff, clock)
    record.set_scores.record(staff.service, [score(trial, set_id, clock)], [schedule(trial, clock)])
    [entry] = record.audit.entries(trial_id=trial, action_prefix="judgement.")
    assert (entry.username, entry.action) == ("monitor-service", "judgement.record")
    assert entry.details == {"observation_sets": [set_id], "schedule": 1}


@pytest.mark.parametrize("table", ["set_scores", "schedule_judgements"])
def test_judgements_cannot_be_updated_or_deleted(
    record: TrialRecord, staff: Staff, clock: FakeClock, table: str
):
    trial, set_id = trial_with_set(record, staff, clock)
    record.set_scores.record(staff.service, [score(trial, set_id, clock)], [schedule(trial, clock)])
    column = {"set_scores": "band", "schedule_judgements": "rule_set_version"}[table]
    for statement in (f"UPDATE {table} SET {column} = 'x'", f"DELETE FROM {table}"):
        with pytest.raises(DBAPIError, match="append-only"), record.store.engine.begin() as conn:
            conn.execute(text(statement))
    with record.store.reading() as session:
        model = {"set_scores": SetScore, "schedule_judgements": ScheduleJudgement}[table]
        assert session.scalar(select(func.count()).select_from(model)) == 1


def test_the_same_judgement_is_written_once(record: TrialRecord, staff: Staff, clock: FakeClock):
    trial, set_id = trial_with_set(record, staff, clock)
    first = score(trial, set_id, clock)
    record.set_scores.record(staff.service, [first], [schedule(trial, clock)])
    known = record.set_scores.known(trial)
    # Judged again a second later (a restart, the next round): nothing new to write...
    later = replace(first, judged_at=clock.now)
    assert known.unwritten([later], replace(schedule(trial, clock), judged_at=clock.now)) == (
        [],
        None,
    )
    # ...until the judgement itself changes.
    changed = replace(first, total=2)
    moved = schedule(trial, clock, status=DueStatus.MISSED)
    assert known.unwritten([changed], moved) == ([changed], moved)
    assert known.unwritten([changed], moved) == ([], None)
    # Before the injection there is nothing to say: no empty schedule is written.
    empty = ScheduleJudgementIn(trial, clock.now, "v", None, None, ())
    assert KnownJudgement().unwritten([], empty) == ([], None)
