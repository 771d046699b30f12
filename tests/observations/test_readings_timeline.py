"""The timeline's fast path (times parsed per column, lean columns for charts) gives the same
values and exact times on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, timedelta

import pandas as pd

from observations.entries import ReadingIn
from observations.record import TrialRecord
from tests.observations.conftest import FakeClock, Staff, patient_details
from vocabulary import Parameter, QualityFlag


def test_lean_timeline_has_exact_times_and_the_same_values(
    record: TrialRecord, staff: Staff, clock: FakeClock
):
    patient = record.patients.register(staff.specialist, patient_details())
    trial = record.trials.plan(staff.specialist, patient.id, 50).id
    # Microseconds and a whole second: both must come back exactly, in UTC.
    first = clock.now.replace(microsecond=123456) - timedelta(minutes=3)
    times = [
        first,
        first + timedelta(seconds=1),
        first.replace(microsecond=0) + timedelta(seconds=2),
    ]
    off = frozenset({QualityFlag.NO_FINGER})
    record.readings.add(
        staff.service,
        [
            ReadingIn(trial, Parameter.SPO2, 97, times[0], times[0], "sim:a"),
            ReadingIn(trial, Parameter.SPO2, None, times[1], times[1], "sim:a", off),
            ReadingIn(trial, Parameter.SPO2, 95, times[2], times[2], "sim:a"),
            ReadingIn(trial, Parameter.PULSE_RATE, 71, times[0], times[0], "sim:a"),
        ],
    )
    record.observations.record(
        staff.nurse,
        trial,
        {
            "measured_at": clock.now - timedelta(minutes=1),
            "spo2": 94,
            "rr": 14,
        },
    )

    full = record.readings.timeline(trial, [Parameter.SPO2, Parameter.PULSE_RATE])
    lean = record.readings.timeline(trial, [Parameter.SPO2, Parameter.PULSE_RATE], detail=False)

    assert list(lean.columns) == ["time", "parameter", "value", "source"]
    pd.testing.assert_frame_equal(lean, full[list(lean.columns)])
    spo2 = full[(full["parameter"] == "spo2") & (full["source"] == "device")]
    assert [t.to_pydatetime() for t in spo2["time"]] == times
    assert all(t.tzinfo is not None and t.utcoffset() == timedelta(0) for t in spo2["time"])
    assert spo2["value"].isna().tolist() == [False, True, False]
    assert spo2["flags"].tolist() == ["", "no_finger", ""]
    manual = full[full["source"] == "manual"]
    assert manual[["parameter", "value"]].values.tolist() == [["spo2", 94.0]]
    assert manual["time"].iloc[0].to_pydatetime() == (clock.now - timedelta(minutes=1)).astimezone(
        UTC
    )


def test_empty_timeline_keeps_its_columns_and_types(record: TrialRecord, staff: Staff):
    patient = record.patients.register(staff.specialist, patient_details())
    trial = record.trials.plan(staff.specialist, patient.id, 50).id
    for detail in (True, False):
        frame = record.readings.timeline(trial, [Parameter.SPO2], detail=detail)
        assert frame.empty
        assert str(frame["time"].dtype).startswith("datetime64") and frame["time"].dt.tz
        assert frame["value"].dtype == "float64"
