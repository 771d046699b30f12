"""The record's behaviour on SQLite and PostgreSQL alike."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest
from sqlalchemy import func, inspect, select, text
from sqlalchemy.exc import DBAPIError

from observations.alarms import AlarmEventIn
from observations.entries import ReadingIn
from observations.errors import AlreadyRecorded, InvalidEntry, NotPermitted, Refused
from observations.record import TrialRecord
from observations.schema import AuditEntry, ObservationSet
from tests.accounts import reauthenticated, sign_in_as
from tests.observations.conftest import TEST_NHS, FakeClock, Staff, patient_details
from vocabulary import (
    AlarmEventType,
    AlarmKind,
    AssessmentTimePoint,
    DecisionOutcome,
    MuscleGroup,
    Parameter,
    Priority,
    QualityFlag,
    Role,
    Side,
    TrialStatus,
)


def audit_count(record: TrialRecord) -> int:
    with record.store.reading() as session:
        return session.scalar(select(func.count()).select_from(AuditEntry)) or 0


def plan(record: TrialRecord, staff: Staff, **patient: object) -> int:
    registered = record.patients.register(staff.specialist, patient_details(**patient))
    return record.trials.plan(staff.specialist, registered.id, 50).id


def inject(record: TrialRecord, staff: Staff, trial: int, at: datetime, dose: int = 50):
    return record.trials.record_injection(
        staff.doctor,
        trial,
        {"dose_mcg": dose, "given_at": at, "route": "lumbar_puncture", "given_by": "Dr Jones"},
    )


# --------------------------------------------------------------------------- patients


def test_register_and_find_shows_two_identifiers(record: TrialRecord, staff: Staff):
    patient = record.patients.register(staff.specialist, patient_details())
    assert patient.nhs_number == "9434765919"
    assert patient.hospital_number == "H1234567"
    shown = patient.identifiers
    assert "NHS 943 476 5919" in shown and "MRN H1234567" in shown and "SMITH, Alex" in shown
    for query in ("943-476-5919", "h1234567", "smi"):
        assert [p.id for p in record.patients.find(query)] == [patient.id]


def test_test_range_numbers_are_allowed_and_marked(record: TrialRecord, staff: Staff):
    patient = record.patients.register(
        staff.specialist, patient_details(nhs_number=TEST_NHS, hospital_number="T1")
    )
    assert "(test number)" in patient.identifiers


def test_same_nhs_number_twice_is_refused(record: TrialRecord, staff: Staff):
    record.patients.register(staff.specialist, patient_details())
    with pytest.raises(AlreadyRecorded, match="already belongs to SMITH, Alex"):
        record.patients.register(staff.specialist, patient_details(hospital_number="X9"))


def test_patient_correction_keeps_the_old_details_in_the_audit(record: TrialRecord, staff: Staff):
    patient = record.patients.register(staff.specialist, patient_details())
    corrected = record.patients.correct(
        staff.specialist, patient.id, patient_details(given_name="Alexandra"), "spelling"
    )
    assert corrected.given_name == "Alexandra"
    entry = record.audit.entries(action_prefix="patient.correct")[0]
    assert entry.details["before"]["given_name"] == "Alex"
    assert entry.details["after"]["given_name"] == "Alexandra"
    assert entry.details["reason"] == "spelling"


# --------------------------------------------------------------------------- trials


def test_trial_numbers_count_within_the_episode(record: TrialRecord, staff: Staff):
    patient = record.patients.register(staff.specialist, patient_details())
    first = record.trials.plan(staff.specialist, patient.id, 50)
    second = record.trials.plan(staff.specialist, patient.id, 75, follows_trial_id=first.id)
    later = record.trials.plan(staff.specialist, patient.id, 25, new_episode=True)
    assert (first.episode, first.trial_number) == (1, 1)
    assert (second.episode, second.trial_number) == (1, 2)
    assert (later.episode, later.trial_number) == (2, 1)
    assert first.spo2_scale == 1 and first.window_minutes == 240


def test_scale_2_needs_a_recorded_reason(record: TrialRecord, staff: Staff):
    patient = record.patients.register(staff.specialist, patient_details())
    with pytest.raises(InvalidEntry, match="hypercapnic"):
        record.trials.plan(staff.doctor, patient.id, 50, spo2_scale=2)
    trial = record.trials.plan(
        staff.doctor, patient.id, 50, spo2_scale=2, spo2_scale_reason="COPD, target 88-92"
    )
    assert trial.spo2_scale == 2
    audit = record.audit.entries(trial_id=trial.id, action_prefix="trial.plan")[0]
    assert (
        audit.username == staff.doctor.username
        and audit.details["spo2_scale_reason"] == "COPD, target 88-92"
    )


def test_injection_moves_trial_to_monitoring_and_sets_the_window(
    record: TrialRecord, staff: Staff, clock: FakeClock
):
    trial = plan(record, staff)
    given = clock.now - timedelta(minutes=5)
    result = inject(record, staff, trial, given)
    assert result.warnings == []
    view = record.trials.get(trial)
    assert view.status == TrialStatus.MONITORING
    assert view.injection is not None and view.injection.given_at == given
    assert view.window_end == given + timedelta(hours=4)
    record.trials.extend_window(staff.doctor, trial, 60, "peak late")
    assert record.trials.get(trial).window_end == given + timedelta(hours=5)


def test_second_injection_in_one_trial_is_refused(
    record: TrialRecord, staff: Staff, clock: FakeClock
):
    trial = plan(record, staff)
    inject(record, staff, trial, clock.now - timedelta(minutes=30))
    before = audit_count(record)
    with pytest.raises(Refused, match="already has its injection"):
        inject(record, staff, trial, clock.now - timedelta(minutes=5))
    assert audit_count(record) == before


def test_new_trial_injection_within_24_hours_is_refused(
    record: TrialRecord, staff: Staff, clock: FakeClock
):
    first = plan(record, staff)
    inject(record, staff, first, clock.now - timedelta(minutes=1))
    patient_id = record.trials.get(first).patient.id
    second = record.trials.plan(staff.specialist, patient_id, 75, follows_trial_id=first).id
    clock.advance(hours=23, minutes=58)
    # A new day, a new sign-in (a sign-in lasts one shift).
    staff = dataclasses.replace(staff, doctor=sign_in_as(record, "dr.jones", Role.DOCTOR))
    with pytest.raises(Refused, match="at least 24 hours later") as caught:
        inject(record, staff, second, clock.now - timedelta(minutes=1), dose=75)
    assert "not before 21 Nov 2026 08:59 GMT" in caught.value.message
    clock.advance(minutes=2)
    inject(record, staff, second, clock.now, dose=75)
    assert record.trials.get(second).status == TrialStatus.MONITORING


@pytest.mark.parametrize(
    ("utc_time", "warned"),
    [
        # Summer: ward time is BST (UTC+1). 10:59 UTC = 11:59 BST; 11:01 UTC = 12:01 BST.
        (datetime(2026, 7, 1, 10, 59, tzinfo=UTC), False),
        (datetime(2026, 7, 1, 11, 1, tzinfo=UTC), True),
        # Winter: ward time is GMT. 11:59 UTC is before noon.
        (datetime(2026, 11, 20, 11, 59, tzinfo=UTC), False),
        (datetime(2026, 11, 20, 12, 1, tzinfo=UTC), True),
    ],
)
def test_injection_after_noon_ward_time_warns_but_is_recorded(
    record: TrialRecord, staff: Staff, clock: FakeClock, utc_time: datetime, warned: bool
):
    clock.now = utc_time + timedelta(hours=1)
    trial = plan(record, staff)
    result = inject(record, staff, trial, utc_time)
    assert any("after 12:00" in w for w in result.warnings) is warned
    assert record.trials.get(trial).injection is not None


def test_dose_different_from_plan_warns(record: TrialRecord, staff: Staff, clock: FakeClock):
    trial = plan(record, staff)
    result = inject(record, staff, trial, clock.now - timedelta(minutes=1), dose=25)
    assert any("differs from the planned dose" in w for w in result.warnings)


def test_injection_correction_supersedes(record: TrialRecord, staff: Staff, clock: FakeClock):
    trial = plan(record, staff)
    first = inject(record, staff, trial, clock.now - timedelta(minutes=20)).injection
    corrected = record.trials.correct_injection(
        staff.doctor,
        first.id,
        {
            "dose_mcg": 50,
            "given_at": clock.now - timedelta(minutes=25),
            "route": "lumbar_puncture",
            "given_by": "Dr Jones",
        },
        "time read from the wrong clock",
    ).injection
    assert corrected.supersedes_id == first.id
    assert record.trials.get(trial).injection.id == corrected.id
    with pytest.raises(Refused, match="already been corrected"):
        record.trials.correct_injection(
            staff.doctor,
            first.id,
            {
                "dose_mcg": 50,
                "given_at": clock.now - timedelta(minutes=20),
                "route": "catheter",
                "given_by": "Dr Jones",
            },
            "again",
        )


def test_stages_only_move_forward(record: TrialRecord, staff: Staff):
    trial = plan(record, staff)
    with pytest.raises(Refused, match="cannot go from planned to decided"):
        record.trials.set_status(staff.doctor, trial, TrialStatus.DECIDED)
    record.trials.set_status(staff.doctor, trial, TrialStatus.CANCELLED)
    with pytest.raises(Refused):
        record.trials.set_status(staff.doctor, trial, TrialStatus.BASELINE)


# --------------------------------------------------------------------------- permissions


def test_roles_are_enforced_by_the_record(record: TrialRecord, staff: Staff, clock: FakeClock):
    trial = plan(record, staff)
    with pytest.raises(
        NotPermitted, match=r"nurse\.patel@login\.test\.example may not record an injection"
    ):
        record.trials.record_injection(
            staff.nurse,
            trial,
            {"dose_mcg": 50, "given_at": clock.now, "route": "catheter", "given_by": "x"},
        )
    with pytest.raises(NotPermitted):
        record.observations.record(staff.physio, trial, {"measured_at": clock.now, "rr": 14})
    with pytest.raises(NotPermitted):
        record.readings.add(
            staff.nurse, [ReadingIn(trial, Parameter.SPO2, 97, clock.now, clock.now, "sim:x")]
        )
    with pytest.raises(NotPermitted):
        record.observations.record(staff.service, trial, {"measured_at": clock.now, "rr": 14})


# --------------------------------------------------------------------------- readings


def readings_for(trial: int, start: datetime, spo2: list[float | None]) -> list[ReadingIn]:
    out = []
    for i, value in enumerate(spo2):
        flags = frozenset() if value is not None else frozenset({QualityFlag.NO_FINGER})
        at = start + timedelta(seconds=i)
        out.append(ReadingIn(trial, Parameter.SPO2, value, at, at, "sim:steady", flags))
        out.append(ReadingIn(trial, Parameter.PULSE_RATE, 70 + i, at, at, "sim:steady"))
    return out


def test_readings_batch_timeline_and_duplicates(
    record: TrialRecord, staff: Staff, clock: FakeClock
):
    trial = plan(record, staff)
    start = clock.now - timedelta(minutes=10)
    batch = readings_for(trial, start, [97, 96, None, 95])
    assert record.readings.add(staff.service, batch) == 8
    assert record.readings.add(staff.service, batch[:4]) == 0  # devices resend: ignored
    assert record.readings.count(trial) == 8

    frame = record.readings.timeline(trial, [Parameter.SPO2])
    assert list(frame.columns) == [
        "time",
        "parameter",
        "value",
        "unit",
        "flags",
        "source",
        "device",
    ]
    assert len(frame) == 4 and set(frame["parameter"]) == {"spo2"}
    assert frame["time"].dt.tz is not None
    gap = frame.iloc[2]
    assert pd.isna(gap["value"]) and gap["flags"] == "no_finger"  # missing stays missing

    window = record.readings.timeline(
        trial, [Parameter.PULSE_RATE], start + timedelta(seconds=1), start + timedelta(seconds=2)
    )
    assert list(window["value"]) == [71.0, 72.0]
    later = readings_for(trial, start + timedelta(seconds=4), [94])
    assert record.readings.add(staff.service, batch[4:] + later) == 2  # only the new ones count
    assert record.readings.count(trial) == 10
    batches = record.audit.entries(trial_id=trial, action_prefix="readings.add")
    assert [(e.username, e.details) for e in batches] == [
        (staff.service.username, {"received": n})
        for n in (6, 4, 8)  # newest first
    ]


def test_timeline_includes_manual_entries_marked_as_manual(
    record: TrialRecord, staff: Staff, clock: FakeClock
):
    trial = plan(record, staff)
    record.readings.add(staff.service, readings_for(trial, clock.now - timedelta(minutes=5), [97]))
    record.observations.record(
        staff.nurse, trial, {"measured_at": clock.now - timedelta(minutes=2), "spo2": 94, "rr": 14}
    )
    frame = record.readings.timeline(trial, [Parameter.SPO2, Parameter.RR])
    assert list(zip(frame["parameter"], frame["source"], frame["value"], strict=True)) == [
        ("spo2", "device", 97.0),
        ("rr", "manual", 14.0),
        ("spo2", "manual", 94.0),
    ]


def test_latest_values_skip_missing_and_take_the_newest_source(
    record: TrialRecord, staff: Staff, clock: FakeClock
):
    trial = plan(record, staff)
    start = clock.now - timedelta(minutes=5)
    record.readings.add(staff.service, readings_for(trial, start, [97, None]))
    latest = record.readings.latest(trial)
    assert latest[Parameter.SPO2].value == 97 and latest[Parameter.SPO2].at == start
    assert Parameter.RR not in latest  # never measured: absent, not zero
    record.observations.record(
        staff.nurse, trial, {"measured_at": clock.now - timedelta(minutes=1), "spo2": 93}
    )
    assert record.readings.latest(trial)[Parameter.SPO2].source == "manual"


def test_big_table_index_serves_trial_parameter_time(record: TrialRecord):
    indexes = inspect(record.store.engine).get_unique_constraints("vital_readings")
    columns = [c["column_names"] for c in indexes]
    assert ["trial_id", "parameter", "device_time", "source_device"] in columns


# --------------------------------------------------------------------------- observations


def test_observation_correction_supersedes_and_keeps_both(
    record: TrialRecord, staff: Staff, clock: FakeClock
):
    trial = plan(record, staff)
    first = record.observations.record(
        staff.nurse,
        trial,
        {"measured_at": clock.now - timedelta(minutes=3), "rr": 41, "side_effects": ["headache"]},
    )
    second = record.observations.record(
        staff.nurse, trial, {"measured_at": clock.now - timedelta(minutes=2), "rr": 16}
    )
    fixed = record.observations.correct(
        staff.nurse,
        first.id,
        {"measured_at": first.measured_at, "rr": 14, "side_effects": ["headache"]},
        "typed 41 for 14",
    )
    current = record.observations.list(trial)
    assert [s.id for s in current] == [fixed.id, second.id]
    everything = record.observations.list(trial, include_superseded=True)
    assert {s.id for s in everything} == {first.id, second.id, fixed.id}
    assert next(s for s in everything if s.id == first.id).rr == 41  # not overwritten
    assert fixed.supersedes_id == first.id and fixed.side_effects == ["headache"]


def test_full_observation_set_round_trips(record: TrialRecord, staff: Staff, clock: FakeClock):
    trial = plan(record, staff)
    data = {
        "measured_at": clock.now - timedelta(minutes=1),
        "rr": 14,
        "spo2": 96,
        "on_oxygen": False,
        "systolic": 124,
        "diastolic": 78,
        "pulse_rate": 72,
        "consciousness": "A",
        "temp": 36.8,
        "poss": "2",
        "power_left_leg": 4,
        "power_right_leg": 5,
        "power_left_arm": 5,
        "power_right_arm": 5,
        "side_effects": ["drowsiness", "dizziness"],
        "device_prefilled": ["spo2", "pulse_rate"],
        "note": "<script>alert(1)</script> comfortable",
    }
    saved = record.observations.record(staff.nurse, trial, data)
    again = record.observations.list(trial)[0]
    assert again == saved
    assert again.temp == 36.8 and again.consciousness == "A" and again.poss == "2"
    assert again.side_effects == ["dizziness", "drowsiness"]
    assert again.device_prefilled == ["pulse_rate", "spo2"]
    assert again.note == "<script>alert(1)</script> comfortable"  # stored as text, verbatim


# --------------------------------------------------------------------------- assessments


def test_assessment_with_labels_penn_nrs_and_goals(
    record: TrialRecord, staff: Staff, clock: FakeClock
):
    trial = plan(record, staff)
    saved = record.assessments.record(
        staff.physio,
        trial,
        {
            "time_point": AssessmentTimePoint.BASELINE,
            "assessed_at": clock.now - timedelta(minutes=1),
            "ashworth": [
                {"muscle_group": MuscleGroup.HIP_ADDUCTORS, "side": Side.LEFT, "label": "1+"},
                {"muscle_group": MuscleGroup.HIP_ADDUCTORS, "side": Side.RIGHT, "label": "3"},
            ],
            "penn_frequency": 3,
            "penn_severity": 2,
            "penn_recall_period": "past week",
            "pain_nrs": 6,
            "stiffness_nrs": 8,
            "goals": [{"goal": "Transfer bed to chair with one helper", "rating": -1}],
        },
    )
    listed = record.assessments.list(trial)
    assert listed == [saved]
    assert [(a.side, a.label) for a in saved.ashworth] == [("left", "1+"), ("right", "3")]
    assert saved.ashworth_scale == "modified_ashworth"
    with pytest.raises(InvalidEntry, match="recalled"):
        record.assessments.record(
            staff.physio,
            trial,
            {"time_point": "4h", "assessed_at": clock.now, "penn_frequency": 2},
        )


# --------------------------------------------------------------------------- alarms, decision


def alarm_event(trial: int, event: AlarmEventType, at: datetime) -> AlarmEventIn:
    return AlarmEventIn(
        trial_id=trial,
        rule_id="spo2_severe",
        event=event,
        at=at,
        priority=Priority.HIGH,
        kind=AlarmKind.PHYSIOLOGICAL,
        message="SpO2 88 % for 15 s",
        evidence={"spo2": 88},
        rule_set_version="test",
    )


def test_alarm_lifecycle_in_the_record(record: TrialRecord, staff: Staff, clock: FakeClock):
    trial = plan(record, staff)
    with pytest.raises(Refused, match="not being watched"):  # planned: nothing watches it
        record.alarms.record_events(
            staff.service, [alarm_event(trial, AlarmEventType.RAISED, clock.now)]
        )
    inject(record, staff, trial, clock.now - timedelta(minutes=30))
    record.alarms.record_events(
        staff.service, [alarm_event(trial, AlarmEventType.RAISED, clock.now)]
    )
    [active] = record.alarms.active(trial)
    assert active.rule_id == "spo2_severe" and not active.acknowledged
    with pytest.raises(Refused, match="already active"):
        record.alarms.record_events(
            staff.service, [alarm_event(trial, AlarmEventType.RAISED, clock.now)]
        )
    with pytest.raises(InvalidEntry, match="what was done"):
        record.alarms.acknowledge(staff.nurse, active.id, "  ")
    record.alarms.acknowledge(staff.nurse, active.id, "Sat patient up, SpO2 recovered; told Dr J")
    assert record.alarms.active(trial)[0].acknowledged
    record.alarms.record_events(
        staff.service, [alarm_event(trial, AlarmEventType.RESOLVED, clock.now)]
    )
    assert record.alarms.active(trial) == []
    assert [e.event for e in record.alarms.events(trial)] == ["raised", "acknowledged", "resolved"]


def test_decision_needs_an_assessed_trial_and_respects_24_hours(
    record: TrialRecord, staff: Staff, clock: FakeClock
):
    trial = plan(record, staff)
    given = clock.now - timedelta(hours=4, minutes=30)
    inject(record, staff, trial, given)
    with pytest.raises(Refused, match="assessed"):
        record.decisions.record(
            staff.doctor,
            trial,
            DecisionOutcome.RESPONDER,
            "clear response",
            reauthentication=reauthenticated(record, staff.doctor),
        )
    record.trials.set_status(staff.doctor, trial, TrialStatus.ASSESSED)
    with pytest.raises(NotPermitted):
        record.decisions.record(
            staff.specialist,
            trial,
            DecisionOutcome.RESPONDER,
            "x",
            reauthentication=reauthenticated(record, staff.specialist),
        )
    with pytest.raises(InvalidEntry, match="24 h"):
        record.decisions.record(
            staff.doctor,
            trial,
            DecisionOutcome.RETRIAL_HIGHER,
            "no change",
            next_dose_mcg=75,
            next_not_before=given + timedelta(hours=20),
            reauthentication=reauthenticated(record, staff.doctor),
        )
    decision = record.decisions.record(
        staff.doctor,
        trial,
        DecisionOutcome.RETRIAL_HIGHER,
        "no change in MAS",
        next_dose_mcg=75,
        next_not_before=given + timedelta(hours=24),
        reauthentication=reauthenticated(record, staff.doctor),
    )
    assert decision.signed_by == staff.doctor.user_id
    assert record.trials.get(trial).status == TrialStatus.DECIDED


# --------------------------------------------------------------------------- integrity


def test_every_clinical_write_has_its_audit_entry(
    record: TrialRecord, staff: Staff, clock: FakeClock
):
    trial = plan(record, staff)
    before = audit_count(record)
    record.observations.record(staff.nurse, trial, {"measured_at": clock.now, "rr": 12})
    assert audit_count(record) == before + 1
    entry = record.audit.entries(trial_id=trial)[0]
    assert (entry.username, entry.action, entry.entity) == (
        staff.nurse.username,
        "observation.record",
        "observation_set",
    )
    assert entry.at.tzinfo is not None


def test_failed_audit_write_leaves_no_clinical_row(
    record: TrialRecord, staff: Staff, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
):
    trial = plan(record, staff)

    def broken_audit(*args: object, **kwargs: object) -> None:
        raise RuntimeError("disk full while writing the audit entry")

    monkeypatch.setattr(record.store, "audit", broken_audit)
    with pytest.raises(RuntimeError):
        record.observations.record(staff.nurse, trial, {"measured_at": clock.now, "rr": 12})
    monkeypatch.undo()
    assert record.observations.list(trial) == []


@pytest.mark.parametrize("table", ["audit_log", "observation_sets", "vital_readings"])
def test_clinical_rows_cannot_be_updated_or_deleted(
    record: TrialRecord, staff: Staff, clock: FakeClock, table: str
):
    trial = plan(record, staff)
    record.observations.record(staff.nurse, trial, {"measured_at": clock.now, "rr": 12})
    record.readings.add(staff.service, readings_for(trial, clock.now, [97]))
    column = {"audit_log": "action", "observation_sets": "note", "vital_readings": "unit"}[table]
    for statement in (f"UPDATE {table} SET {column} = 'x'", f"DELETE FROM {table}"):
        with pytest.raises(DBAPIError, match="append-only"), record.store.engine.begin() as conn:
            conn.execute(text(statement))
    with record.store.reading() as session:
        assert session.scalar(select(func.count()).select_from(ObservationSet)) == 1


def test_times_come_back_utc_aware(record: TrialRecord, staff: Staff, clock: FakeClock):
    trial = plan(record, staff)
    # A time entered with a BST offset is the same instant in UTC.
    bst = datetime.fromisoformat("2026-07-01T10:30:00+01:00")
    clock.now = datetime(2026, 7, 1, 12, 0, tzinfo=UTC)
    saved = record.observations.record(staff.nurse, trial, {"measured_at": bst, "rr": 12})
    again = record.observations.list(trial)[0]
    assert again.measured_at == datetime(2026, 7, 1, 9, 30, tzinfo=UTC)
    assert again.measured_at.utcoffset() == timedelta(0)
    assert saved.measured_at == again.measured_at


def test_window_does_not_close_while_an_alarm_is_unacknowledged(
    record: TrialRecord, staff: Staff, clock: FakeClock
):
    trial = plan(record, staff)
    inject(record, staff, trial, clock.now - timedelta(hours=4))
    record.alarms.record_events(
        staff.service, [alarm_event(trial, AlarmEventType.RAISED, clock.now)]
    )
    with pytest.raises(Refused, match=r"not acknowledged \(SpO2 88 % for 15 s\)"):
        record.trials.set_status(staff.doctor, trial, TrialStatus.ASSESSED)
    assert record.trials.get(trial).status == TrialStatus.MONITORING
    alarm = record.alarms.active(trial)[0]
    record.alarms.acknowledge(staff.nurse, alarm.id, "Repositioned; SpO2 back to 96 %")
    # Acknowledged and its condition over (the engine resolves it): the window may close.
    record.alarms.record_events(
        staff.service, [alarm_event(trial, AlarmEventType.RESOLVED, clock.now)]
    )
    record.trials.set_status(staff.doctor, trial, TrialStatus.ASSESSED)
    assert record.trials.get(trial).status == TrialStatus.ASSESSED
