"""Active alarms as the ward and the window close see them, over a day of many alarms."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from observations.alarms import AlarmEventIn
from observations.errors import Refused
from observations.record import TrialRecord
from tests.observations.conftest import FakeClock, Staff, patient_details
from vocabulary import AlarmEventType, AlarmKind, Priority, TrialStatus


def event(trial: int, rule: str, kind: AlarmEventType, at: datetime, priority: Priority):
    return AlarmEventIn(
        trial, rule, kind, at, priority, AlarmKind.PHYSIOLOGICAL, f"{rule} {kind}", {}, "test"
    )


def monitored(record: TrialRecord, staff: Staff, clock: FakeClock, nhs: str, mrn: str) -> int:
    patient = record.patients.register(
        staff.specialist, patient_details(nhs_number=nhs, hospital_number=mrn)
    )
    trial = record.trials.plan(staff.specialist, patient.id, 50).id
    record.trials.record_injection(
        staff.doctor,
        trial,
        {
            "dose_mcg": 50,
            "given_at": clock.now - timedelta(hours=2),
            "route": "catheter",
            "given_by": "Dr Jones",
        },
    )
    return trial


def test_only_unresolved_alarms_are_active_highest_priority_first(
    record: TrialRecord, staff: Staff, clock: FakeClock
):
    first = monitored(record, staff, clock, "9434765919", "H1")
    other = monitored(record, staff, clock, "9990000026", "H2")
    t = clock.now - timedelta(hours=1)
    raised, resolved = AlarmEventType.RAISED, AlarmEventType.RESOLVED
    # Forty resolved flaps of one rule, then it is raised again and stays.
    for i in range(40):
        at = t + timedelta(seconds=2 * i)
        record.alarms.record_events(
            staff.service,
            [
                event(first, "spo2_critical", raised, at, Priority.HIGH),
                event(first, "spo2_critical", resolved, at + timedelta(seconds=1), Priority.HIGH),
            ],
        )
    later = t + timedelta(minutes=5)
    record.alarms.record_events(
        staff.service,
        [
            event(first, "side_effect", raised, later, Priority.LOW),
            event(first, "spo2_critical", raised, later + timedelta(seconds=1), Priority.HIGH),
            event(first, "pulse_low", raised, later + timedelta(seconds=2), Priority.MEDIUM),
            event(other, "sbp_low", raised, later, Priority.MEDIUM),
        ],
    )
    active = record.alarms.active(first)
    assert [a.rule_id for a in active] == ["spo2_critical", "pulse_low", "side_effect"]
    assert active[0].raised_at == later + timedelta(seconds=1)  # the new alarm, not a flap
    assert {a.rule_id for a in record.alarms.active()} == {
        "spo2_critical",
        "pulse_low",
        "side_effect",
        "sbp_low",
    }
    # Acknowledged until re-annunciated; the window closes only when all are acknowledged
    # (and, their conditions still present, when a doctor says why).
    for alarm in active:
        record.alarms.acknowledge(staff.nurse, alarm.id, "Seen; doctor informed")
    record.alarms.record_events(
        staff.service,
        [event(first, "pulse_low", AlarmEventType.REANNUNCIATED, clock.now, Priority.MEDIUM)],
    )
    waiting = [a.rule_id for a in record.alarms.active(first) if not a.acknowledged]
    assert waiting == ["pulse_low"]
    with pytest.raises(Refused, match="pulse_low"):
        record.trials.set_status(staff.doctor, first, TrialStatus.ASSESSED)
    [pulse] = [a for a in record.alarms.active(first) if a.rule_id == "pulse_low"]
    record.alarms.acknowledge(staff.nurse, pulse.id, "Pulse 48 by hand; doctor informed")
    record.trials.set_status(
        staff.doctor, first, TrialStatus.ASSESSED, reason="Transferred to HDU for monitoring"
    )
