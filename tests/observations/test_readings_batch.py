"""Newest values of many trials in one go (the ward overview), on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

import pytest
from sqlalchemy import event

from observations.entries import ReadingIn
from observations.errors import NotFound
from observations.nhs_number import check_digit
from observations.record import TrialRecord
from tests.observations.conftest import FakeClock, Staff, patient_details
from vocabulary import Parameter, QualityFlag

WARD = [Parameter.SPO2, Parameter.PULSE_RATE, Parameter.SYSTOLIC, Parameter.DIASTOLIC, Parameter.RR]


def plan_trials(record: TrialRecord, staff: Staff, count: int) -> list[int]:
    trials = []
    for serial in range(1, 200):
        if len(trials) == count:
            break
        nine = f"999{serial:06d}"
        digit = check_digit(nine)
        if digit is None:
            continue
        patient = record.patients.register(
            staff.specialist,
            patient_details(nhs_number=nine + str(digit), hospital_number=f"B{serial}"),
        )
        trials.append(record.trials.plan(staff.specialist, patient.id, 50).id)
    return trials


def stream(
    record: TrialRecord,
    staff: Staff,
    trial: int,
    start: datetime,
    spo2: list,
    device: str = "sim:steady",
) -> None:
    """1 Hz SpO2 (None = probe off, flagged) and pulse 70 + i."""
    batch = []
    for i, value in enumerate(spo2):
        at = start + timedelta(seconds=i)
        flags = frozenset() if value is not None else frozenset({QualityFlag.NO_FINGER})
        batch.append(ReadingIn(trial, Parameter.SPO2, value, at, at, device, flags))
        batch.append(ReadingIn(trial, Parameter.PULSE_RATE, 70 + i, at, at, device))
    record.readings.add(staff.service, batch)


@contextmanager
def counted_statements(record: TrialRecord) -> Iterator[list[str]]:
    """The queries sent to the database while inside the block."""
    seen: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany) -> None:
        if statement.lstrip().upper().startswith("SELECT"):  # not BEGIN and the like
            seen.append(statement)

    event.listen(record.store.engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(record.store.engine, "before_cursor_execute", count)


def test_batch_gives_what_latest_gives_per_trial(
    record: TrialRecord, staff: Staff, clock: FakeClock
):
    busy, probe_off, manual_newer, silent = plan_trials(record, staff, 4)
    start = clock.now - timedelta(minutes=5)
    stream(record, staff, busy, start, [97, 96, 95])
    stream(record, staff, probe_off, start, [94, None, None])  # the last valued SpO2 is 94
    stream(record, staff, manual_newer, start, [98])
    record.observations.record(
        staff.nurse,
        manual_newer,
        {
            "measured_at": clock.now - timedelta(minutes=1),
            "spo2": 93,
            "rr": 14,
            "systolic": 118,
            "diastolic": 76,
        },
    )
    # An older manual SpO2 never beats a newer device one.
    record.observations.record(
        staff.nurse,
        busy,
        {
            "measured_at": start - timedelta(minutes=1),
            "spo2": 91,
            "rr": 12,
        },
    )

    batch = record.readings.latest_for_trials([busy, probe_off, manual_newer, silent], WARD)

    assert list(batch) == [busy, probe_off, manual_newer, silent]
    for trial in (busy, probe_off, manual_newer, silent):
        assert batch[trial] == record.readings.latest(trial, WARD)
    assert batch[busy][Parameter.SPO2].value == 95
    assert batch[busy][Parameter.SPO2].at == start + timedelta(seconds=2)
    assert batch[busy][Parameter.SPO2].source == "device"
    assert batch[busy][Parameter.RR].source == "manual" and batch[busy][Parameter.RR].value == 12
    assert batch[probe_off][Parameter.SPO2].value == 94  # probe off: no value, not a 0
    assert batch[probe_off][Parameter.PULSE_RATE].value == 72
    assert batch[manual_newer][Parameter.SPO2].source == "manual"
    assert batch[manual_newer][Parameter.SPO2].value == 93
    assert batch[manual_newer][Parameter.SYSTOLIC].value == 118
    assert batch[silent] == {}  # never measured: absent, never zero


def test_corrected_set_is_not_the_latest(record: TrialRecord, staff: Staff, clock: FakeClock):
    (trial,) = plan_trials(record, staff, 1)
    first = record.observations.record(
        staff.nurse,
        trial,
        {
            "measured_at": clock.now - timedelta(minutes=2),
            "rr": 8,
        },
    )
    record.observations.correct(
        staff.nurse,
        first.id,
        {
            "measured_at": clock.now - timedelta(minutes=2),
            "rr": 18,
        },
        "counted over 30 s, not a full minute",
    )
    latest = record.readings.latest_for_trials([trial], [Parameter.RR])[trial]
    assert latest[Parameter.RR].value == 18


def test_two_devices_at_the_same_instant_give_one_answer(
    record: TrialRecord, staff: Staff, clock: FakeClock
):
    (trial,) = plan_trials(record, staff, 1)
    start = clock.now - timedelta(seconds=30)
    stream(record, staff, trial, start, [96], device="sim:a")
    stream(record, staff, trial, start, [99], device="sim:b")
    answers = {
        record.readings.latest_for_trials([trial], [Parameter.SPO2])[trial][Parameter.SPO2].value
        for _ in range(3)
    }
    assert answers == {99}  # ties go to the later device name, every time


def test_statement_count_does_not_grow_with_the_ward(
    record: TrialRecord, staff: Staff, clock: FakeClock
):
    trials = plan_trials(record, staff, 16)
    for trial in trials:
        stream(record, staff, trial, clock.now - timedelta(seconds=10), [97, 96])
    with counted_statements(record) as two:
        record.readings.latest_for_trials(trials[:2], WARD)
    with counted_statements(record) as sixteen:
        result = record.readings.latest_for_trials(trials, WARD)
    assert len(sixteen) == len(two) <= 3
    assert all(result[t][Parameter.SPO2].value == 96 for t in trials)


def test_more_lookups_than_one_statement_holds(record: TrialRecord, staff: Staff, clock: FakeClock):
    # Every parameter for 40 trials is more (trial, parameter) pairs than one UNION ALL holds.
    trials = plan_trials(record, staff, 40)
    assert len(trials) * len(Parameter) > 400
    stream(record, staff, trials[-1], clock.now - timedelta(seconds=5), [95])
    result = record.readings.latest_for_trials(trials)
    assert result[trials[-1]][Parameter.SPO2].value == 95
    assert all(result[t] == {} for t in trials[:-1])


def test_unknown_trial_is_named_and_empty_asks_nothing(record: TrialRecord, staff: Staff):
    (trial,) = plan_trials(record, staff, 1)
    with pytest.raises(NotFound, match="There is no trial with id 9999"):
        record.readings.latest_for_trials([trial, 9999], WARD)
    with counted_statements(record) as seen:
        assert record.readings.latest_for_trials([], WARD) == {}
    assert seen == []
