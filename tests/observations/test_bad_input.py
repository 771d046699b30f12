"""Every bad input of the issue is refused with a clear message and leaves the record unchanged."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from observations.entries import ReadingIn
from observations.errors import InvalidEntry, NotFound, RecordError
from observations.record import TrialRecord
from observations.schema import Base
from tests.observations.conftest import FakeClock, Staff, patient_details
from vocabulary import AssessmentTimePoint, MuscleGroup, Parameter, Side


def snapshot(record: TrialRecord) -> dict[str, int]:
    """Row counts of every table: 'unchanged' means all of them are equal."""
    with record.store.reading() as session:
        return {
            table.name: session.scalar(select(func.count()).select_from(table)) or 0
            for table in Base.metadata.sorted_tables
        }


@pytest.fixture
def trial(record: TrialRecord, staff: Staff) -> int:
    patient = record.patients.register(staff.specialist, patient_details())
    return record.trials.plan(staff.specialist, patient.id, 50).id


def refused(
    record: TrialRecord, action: Callable[[], object], error: type[RecordError], *words: str
) -> str:
    before = snapshot(record)
    with pytest.raises(error) as caught:
        action()
    message = caught.value.message
    for word in words:
        assert word in message, message
    assert "Traceback" not in message and "pydantic" not in message.lower()
    assert snapshot(record) == before, "a refused entry changed the record"
    return message


def obs(clock: FakeClock, **values: object) -> dict[str, object]:
    return {"measured_at": clock.now - timedelta(minutes=1), **values}


def test_spo2_150_is_refused(record: TrialRecord, staff: Staff, trial: int, clock: FakeClock):
    message = refused(
        record,
        lambda: record.observations.record(staff.nurse, trial, obs(clock, spo2=150, rr=16)),
        InvalidEntry,
        "SpO2 150",
        "between 0 and 100",
    )
    assert "%" in message


def test_negative_respiration_rate_is_refused(
    record: TrialRecord, staff: Staff, trial: int, clock: FakeClock
):
    refused(
        record,
        lambda: record.observations.record(staff.nurse, trial, obs(clock, rr=-3)),
        InvalidEntry,
        "Respiration rate -3",
    )


@pytest.mark.parametrize("temp", [3.7, 45.0])
def test_impossible_temperature_is_refused(
    record: TrialRecord, staff: Staff, trial: int, clock: FakeClock, temp: float
):
    message = refused(
        record,
        lambda: record.observations.record(staff.nurse, trial, obs(clock, temp=temp)),
        InvalidEntry,
        "Temperature",
        "°C",
    )
    if temp == 3.7:
        assert "Did you mean 37.0?" in message


def test_all_problems_reported_together(record: TrialRecord, staff: Staff, trial: int, clock):
    with pytest.raises(InvalidEntry) as caught:
        record.observations.record(staff.nurse, trial, obs(clock, spo2=150, rr=-3, temp=45.0))
    assert {p.field for p in caught.value.problems} == {"spo2", "rr", "temp"}


def test_dose_150_is_refused(record: TrialRecord, staff: Staff, trial: int, clock: FakeClock):
    details = {
        "dose_mcg": 150,
        "given_at": clock.now - timedelta(minutes=5),
        "route": "lumbar_puncture",
        "given_by": "Dr Jones",
    }
    refused(
        record,
        lambda: record.trials.record_injection(staff.doctor, trial, details),
        InvalidEntry,
        "150 mcg",
        "between 5 and 100 mcg",
    )


def test_planned_dose_150_is_refused(record: TrialRecord, staff: Staff, trial: int):
    patient_id = record.trials.get(trial).patient.id
    refused(
        record,
        lambda: record.trials.plan(staff.specialist, patient_id, 150),
        InvalidEntry,
        "150 mcg",
    )


def test_nhs_number_with_wrong_check_digit_is_refused(record: TrialRecord, staff: Staff):
    refused(
        record,
        lambda: record.patients.register(
            staff.specialist, patient_details(nhs_number="9434765918")
        ),
        InvalidEntry,
        "943 476 5918",
        "check digit",
    )


def test_injection_in_the_future_is_refused(
    record: TrialRecord, staff: Staff, trial: int, clock: FakeClock
):
    details = {
        "dose_mcg": 50,
        "given_at": clock.now + timedelta(minutes=10),
        "route": "lumbar_puncture",
        "given_by": "Dr Jones",
    }
    refused(
        record,
        lambda: record.trials.record_injection(staff.doctor, trial, details),
        InvalidEntry,
        "in the future",
    )


def test_reading_for_a_trial_that_does_not_exist_is_refused(
    record: TrialRecord, staff: Staff, trial: int, clock: FakeClock
):
    good = ReadingIn(trial, Parameter.SPO2, 97.0, clock.now, clock.now, "sim:steady")
    ghost = ReadingIn(trial + 999, Parameter.SPO2, 96.0, clock.now, clock.now, "sim:steady")
    refused(
        record,
        lambda: record.readings.add(staff.service, [good, ghost]),
        NotFound,
        str(trial + 999),
        "none of this batch was written",
    )


def test_mas_label_5_is_refused(record: TrialRecord, staff: Staff, trial: int, clock: FakeClock):
    data = {
        "time_point": AssessmentTimePoint.BASELINE,
        "assessed_at": clock.now - timedelta(minutes=1),
        "ashworth": [
            {"muscle_group": MuscleGroup.HIP_FLEXORS, "side": Side.LEFT, "label": "2"},
            {"muscle_group": MuscleGroup.KNEE_FLEXORS, "side": Side.RIGHT, "label": "5"},
        ],
    }
    refused(
        record,
        lambda: record.assessments.record(staff.physio, trial, data),
        InvalidEntry,
        "'5' is not a modified ashworth score",
        "right knee flexors",
        "0, 1, 1+, 2, 3, 4",
    )


def test_unit_mix_up_is_refused(record: TrialRecord, staff: Staff, trial: int, clock: FakeClock):
    reading = ReadingIn(trial, Parameter.SYSTOLIC, 16.0, clock.now, clock.now, "ble:x", unit="kPa")
    refused(record, lambda: record.readings.add(staff.service, [reading]), InvalidEntry, "'mmHg'")


def test_whole_number_fields_refuse_decimals(record, staff, trial, clock):
    refused(
        record,
        lambda: record.observations.record(staff.nurse, trial, obs(clock, rr=12.5)),
        InvalidEntry,
        "whole number",
    )


def test_empty_observation_set_is_refused(record, staff, trial, clock):
    refused(
        record,
        lambda: record.observations.record(staff.nurse, trial, obs(clock)),
        InvalidEntry,
        "empty",
    )


@pytest.mark.parametrize(
    ("source", "words"),
    [
        ("sim:steady?speed=fast", "speed='fast' is not a number"),
        ("sim:no-such-scenario", "unknown simulator scenario"),
        ("telepathy:7", "unknown device source kind"),
    ],
)
def test_a_device_source_that_cannot_be_used_is_refused_when_assigned(
    record: TrialRecord, staff: Staff, trial: int, source: str, words: str
):
    refused(
        record,
        lambda: record.trials.assign_device(staff.nurse, trial, source, "Oximeter"),
        InvalidEntry,
        words,
    )


@pytest.mark.parametrize(
    ("source", "words"),
    [
        ("sim:dragons", ("unknown simulator scenario 'dragons'",)),
        ("sim:steady?speed=fast", ("speed",)),
        ("bluetooth:AA:BB", ("unknown device source kind 'bluetooth'",)),
        ("ble:", ("must be ble:ADDRESS",)),
        ("usb-oximeter", ("Choose a device",)),
    ],
)
def test_a_device_source_the_devices_cannot_use_is_refused_in_their_words(
    record: TrialRecord, staff: Staff, trial: int, source: str, words: tuple[str, ...]
):
    # The record is opened as the dashboard and the monitor open it: with the devices' check.
    message = refused(
        record,
        lambda: record.trials.assign_device(staff.nurse, trial, source, "Oximeter"),
        InvalidEntry,
        *words,
    )
    assert "This device cannot be used" in message or "Choose a device" in message


def test_without_the_devices_check_the_record_still_refuses_text_that_is_no_source(
    record: TrialRecord, staff: Staff, trial: int
):
    # A record opened by a program without the devices (the record's own command line) keeps
    # its own check of the shape; what the devices would say is then the monitor's to show.
    bare = TrialRecord(record.store.engine, record.settings, record.store.clock)
    refused(
        bare,
        lambda: bare.trials.assign_device(staff.nurse, trial, "usb-oximeter", "Oximeter"),
        InvalidEntry,
        "Choose a device",
    )
    assigned = bare.trials.assign_device(staff.nurse, trial, "sim:dragons", "Oximeter")
    assert assigned.source == "sim:dragons"
