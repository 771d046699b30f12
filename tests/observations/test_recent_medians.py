"""What the observation form may take from a device: the median of the last minute's valid
readings, never one second's sample."""

from __future__ import annotations

from datetime import timedelta

import pytest

from observations.entries import ReadingIn
from observations.errors import NotFound
from observations.record import TrialRecord
from tests.observations.conftest import FakeClock, Staff, patient_details
from vocabulary import Parameter, QualityFlag


def test_median_of_the_valid_readings_of_the_last_minute(
    record: TrialRecord, staff: Staff, clock: FakeClock
):
    patient = record.patients.register(staff.specialist, patient_details())
    trial = record.trials.plan(staff.specialist, patient.id, 50).id
    now = clock.now

    def reading(
        seconds: float,
        parameter: Parameter,
        value: float | None,
        *flags: QualityFlag,
        device: str = "ble:oxi",
    ) -> ReadingIn:
        at = now - timedelta(seconds=seconds)
        return ReadingIn(trial, parameter, value, at, at, device, frozenset(flags))

    record.readings.add(
        staff.service,
        [
            reading(61, Parameter.SPO2, 80),  # older than a minute: not counted
            reading(
                60, Parameter.SPO2, 81
            ),  # exactly a minute ago: the window is (now - 1 min, now]
            reading(40, Parameter.SPO2, 97),
            reading(30, Parameter.SPO2, 95),
            reading(20, Parameter.SPO2, 96),
            reading(10, Parameter.SPO2, 60, QualityFlag.ARTIFACT),  # doubtful: never counted
            reading(9, Parameter.SPO2, 94, QualityFlag.LOW_BATTERY),  # the value is still sound
            reading(5, Parameter.SPO2, None, QualityFlag.NO_FINGER),
            reading(20, Parameter.PULSE_RATE, 72),
            reading(10, Parameter.PULSE_RATE, 77, device="ser:cuff"),  # every device of the trial
            reading(-5, Parameter.PULSE_RATE, 150),  # after now (a skewed clock): not counted
        ],
    )
    medians = record.readings.recent_medians(
        trial, [Parameter.SPO2, Parameter.PULSE_RATE, Parameter.SYSTOLIC], now
    )
    spo2 = medians[Parameter.SPO2]
    assert (spo2.value, spo2.readings) == (95.5, 4)  # 94, 95, 96, 97
    assert (spo2.first, spo2.last) == (now - timedelta(seconds=40), now - timedelta(seconds=9))
    assert medians[Parameter.PULSE_RATE].value == 74.5
    assert Parameter.SYSTOLIC not in medians  # nothing measured: absent, never 0
    window = record.readings.recent_medians(
        trial, [Parameter.SPO2], now, window=timedelta(seconds=25)
    )
    assert window[Parameter.SPO2].value == 95  # 96 and 94


def test_recent_medians_of_an_unknown_trial(record: TrialRecord, clock: FakeClock):
    with pytest.raises(NotFound):
        record.readings.recent_medians(999, [Parameter.SPO2], clock.now)
