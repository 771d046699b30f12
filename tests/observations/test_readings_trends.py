"""The ward's mini trend: the lowest and highest usable value per time bucket, for many trials in
one statement, with gaps where no usable reading came."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import event

from observations.entries import ReadingIn
from observations.record import TrialRecord
from tests.observations.conftest import FakeClock, Staff, patient_details
from vocabulary import Parameter, QualityFlag


def _trial(record: TrialRecord, staff: Staff, nhs: str, mrn: str) -> int:
    patient = record.patients.register(
        staff.specialist, patient_details(nhs_number=nhs, hospital_number=mrn)
    )
    return record.trials.plan(staff.specialist, patient.id, 50).id


def test_buckets_keep_low_and_high_and_leave_gaps(
    record: TrialRecord, staff: Staff, clock: FakeClock
):
    first = _trial(record, staff, "9434765919", "H1")
    second = _trial(record, staff, "9000000009", "H2")
    quiet = _trial(record, staff, "9000000017", "H3")
    start = clock.now - timedelta(minutes=2)

    def at(
        seconds: float, trial: int, parameter: Parameter, value: float | None, *flags: QualityFlag
    ) -> ReadingIn:
        moment = start + timedelta(seconds=seconds)
        return ReadingIn(trial, parameter, value, moment, moment, "ble:oxi", frozenset(flags))

    record.readings.add(
        staff.service,
        [
            at(-1, first, Parameter.SPO2, 70),  # before the window: not counted
            at(0, first, Parameter.SPO2, 97),  # exactly at start: the first bucket
            at(5, first, Parameter.SPO2, 86),
            at(14.9, first, Parameter.SPO2, 95),
            at(15, first, Parameter.SPO2, 96),  # the second bucket begins at 15 s
            at(16, first, Parameter.SPO2, 40, QualityFlag.ARTIFACT),  # doubtful: never drawn
            at(17, first, Parameter.SPO2, 93, QualityFlag.LOW_BATTERY),  # sound value
            at(18, first, Parameter.SPO2, None, QualityFlag.NO_FINGER),
            # 30-59 s: nothing (a gap); 60-74 s: a probe-off spell only (a gap too).
            at(61, first, Parameter.SPO2, None, QualityFlag.NO_FINGER),
            at(75, first, Parameter.SPO2, 98),
            at(119.5, first, Parameter.SPO2, 99),
            at(120, first, Parameter.SPO2, 50),  # at end: outside [start, end)
            at(3, first, Parameter.PULSE_RATE, 72),
            at(4, first, Parameter.PULSE_RATE, 118),
            at(3, first, Parameter.SYSTOLIC, 120),  # not asked for
            at(40, second, Parameter.PULSE_RATE, 64),
        ],
    )
    end = start + timedelta(minutes=2)
    trends = record.readings.trends(
        [first, second, quiet], [Parameter.SPO2, Parameter.PULSE_RATE], start, end, 15
    )
    spo2 = trends[first][Parameter.SPO2]
    assert [(b.start - start).total_seconds() for b in spo2] == [0, 15, 75, 105]
    assert [(b.low, b.high, b.readings) for b in spo2] == [
        (86, 97, 3),
        (93, 96, 2),
        (98, 98, 1),
        (99, 99, 1),
    ]
    assert [(b.low, b.high) for b in trends[first][Parameter.PULSE_RATE]] == [(72, 118)]
    assert Parameter.SYSTOLIC not in trends[first]
    assert [(b.start - start).total_seconds() for b in trends[second][Parameter.PULSE_RATE]] == [30]
    assert trends[second][Parameter.SPO2] == []
    assert trends[quiet] == {Parameter.SPO2: [], Parameter.PULSE_RATE: []}  # nothing: empty


def test_one_statement_for_every_bed(record: TrialRecord, staff: Staff, clock: FakeClock):
    numbers = ["9434765919", "9000000009", "9000000017", "9000000025"]
    trials = [_trial(record, staff, nhs, f"H{i}") for i, nhs in enumerate(numbers)]
    start = clock.now - timedelta(minutes=30)
    record.readings.add(
        staff.service,
        [
            ReadingIn(
                trial,
                parameter,
                90.0 + second % 7,
                start + timedelta(seconds=second),
                start + timedelta(seconds=second),
                "ble:oxi",
            )
            for trial in trials
            for parameter in (Parameter.SPO2, Parameter.PULSE_RATE)
            for second in range(1800)
        ],
    )
    statements: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany) -> None:  # type: ignore[no-untyped-def]
        statements.append(statement)

    engine = record.store.engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        trends = record.readings.trends(
            trials, [Parameter.SPO2, Parameter.PULSE_RATE], start, clock.now, 15
        )
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert len([s for s in statements if s.lstrip().upper().startswith("SELECT")]) == 1
    for trial in trials:
        for parameter in (Parameter.SPO2, Parameter.PULSE_RATE):
            buckets = trends[trial][parameter]
            assert len(buckets) == 120  # 30 min in 15 s buckets, each with 15 readings
            assert all(b.readings == 15 and (b.low, b.high) == (90, 96) for b in buckets)


def test_bad_arguments_are_refused(record: TrialRecord, clock: FakeClock):
    with pytest.raises(ValueError, match="positive"):
        record.readings.trends([1], [Parameter.SPO2], clock.now, clock.now, 0)
    with pytest.raises(ValueError, match="timezone-aware"):
        record.readings.trends([1], [Parameter.SPO2], clock.now.replace(tzinfo=None), clock.now, 15)
    assert record.readings.trends([], [Parameter.SPO2], clock.now, clock.now, 15) == {}
