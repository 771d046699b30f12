"""Acknowledging with a reminder interval, an alarm eased after acknowledgement, and closing the
monitoring window while a condition is still present."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

import pytest

from observations.alarms import AlarmEventIn
from observations.errors import InvalidEntry, NotPermitted, Refused
from observations.limits import load_limits
from observations.record import TrialRecord
from tests.observations.conftest import FakeClock, Staff, patient_details
from vocabulary import AlarmEventType, AlarmKind, Priority, TrialStatus

SEVERE = "Severe desaturation: SpO2 91 % or below. Assess breathing and sedation."
MILD = "Desaturation: SpO2 93 % or below. Check the probe and the patient's breathing."
LOST = "Monitor link lost: no readings from the oximeter. Check the device and connection."


def event(
    trial: int,
    kind: AlarmEventType,
    at: datetime,
    *,
    rule: str = "spo2_low",
    priority: Priority = Priority.HIGH,
    message: str = SEVERE,
    alarm_kind: AlarmKind = AlarmKind.PHYSIOLOGICAL,
) -> AlarmEventIn:
    return AlarmEventIn(
        trial, rule, kind, at, priority, alarm_kind, message, {"spo2": 89}, "test"
    )


def monitored(record: TrialRecord, staff: Staff, clock: FakeClock) -> int:
    patient = record.patients.register(staff.specialist, patient_details())
    trial = record.trials.plan(staff.specialist, patient.id, 50).id
    record.trials.record_injection(
        staff.doctor,
        trial,
        {
            "dose_mcg": 50,
            "given_at": clock.now - timedelta(hours=4),
            "route": "lumbar_puncture",
            "given_by": "Dr Jones",
        },
    )
    return trial


def raised(record: TrialRecord, staff: Staff, clock: FakeClock, trial: int, **kw) -> int:
    record.alarms.record_events(
        staff.service, [event(trial, AlarmEventType.RAISED, clock.now, **kw)]
    )
    rule = kw.get("rule", "spo2_low")
    return next(a.id for a in record.alarms.active(trial) if a.rule_id == rule)


# --------------------------------------------------------------------- acknowledging


def test_the_chosen_reminder_is_kept_with_the_acknowledgement(
    record: TrialRecord, staff: Staff, clock: FakeClock
):
    trial = monitored(record, staff, clock)
    alarm = raised(record, staff, clock, trial)
    [waiting] = record.alarms.active(trial)
    assert waiting.acknowledged_at is None and waiting.remind_after_s is None
    clock.advance(seconds=40)
    ack = record.alarms.acknowledge(staff.nurse, alarm, "Sat up, O2 2 L; Dr Jones told", 600)
    assert ack.evidence == {"spo2": 89, "remind_after_s": 600.0}
    [view] = record.alarms.active(trial)
    assert view.acknowledged and view.acknowledged_at == clock.now
    assert view.remind_after_s == 600
    assert view.evidence == {"spo2": 89}  # what the alarm says, not the acknowledgement
    [audit] = record.audit.entries(action_prefix="alarm.acknowledge")
    assert audit.details["remind_after_s"] == 600


def test_no_choice_leaves_the_default_and_does_not_inherit_an_earlier_one(
    record: TrialRecord, staff: Staff, clock: FakeClock
):
    trial = monitored(record, staff, clock)
    alarm = raised(record, staff, clock, trial)
    record.alarms.acknowledge(staff.nurse, alarm, "Seen", 120)
    clock.advance(minutes=3)
    again = record.alarms.acknowledge(staff.nurse, alarm, "Seen again, doctor here")
    assert "remind_after_s" not in (again.evidence or {})
    [view] = record.alarms.active(trial)
    assert view.acknowledged_at == clock.now and view.remind_after_s is None


@pytest.mark.parametrize("bad", [0, -60, 59, 3601, math.nan, math.inf, True, "300"])
def test_a_reminder_outside_the_limits_is_refused_and_nothing_written(
    record: TrialRecord, staff: Staff, clock: FakeClock, bad: object
):
    trial = monitored(record, staff, clock)
    alarm = raised(record, staff, clock, trial)
    with pytest.raises(InvalidEntry) as refused:
        record.alarms.acknowledge(staff.nurse, alarm, "Seen", bad)  # type: ignore[arg-type]
    [problem] = refused.value.problems
    assert problem.field == "remind_after_s"
    assert problem.message.startswith("Choose a reminder between ")
    assert problem.message.endswith(" minutes while the condition is still present.")
    assert not record.alarms.active(trial)[0].acknowledged
    assert not record.audit.entries(action_prefix="alarm.acknowledge")


def test_every_problem_of_an_acknowledgement_at_once(
    record: TrialRecord, staff: Staff, clock: FakeClock
):
    trial = monitored(record, staff, clock)
    alarm = raised(record, staff, clock, trial)
    with pytest.raises(InvalidEntry) as refused:
        record.alarms.acknowledge(staff.nurse, alarm, "  ", 0)
    assert [p.field for p in refused.value.problems] == ["note", "remind_after_s"]


def test_an_eased_alarm_stays_acknowledged_and_silent(
    record: TrialRecord, staff: Staff, clock: FakeClock
):
    trial = monitored(record, staff, clock)
    alarm = raised(record, staff, clock, trial)
    record.alarms.acknowledge(staff.nurse, alarm, "O2 on; Dr Jones told", 300)
    acknowledged_at = clock.now
    clock.advance(minutes=2)
    record.alarms.record_events(
        staff.service,
        [event(trial, AlarmEventType.CHANGED, clock.now, priority=Priority.MEDIUM, message=MILD)],
    )
    [view] = record.alarms.active(trial)
    # Shown at its current level, still acknowledged: nothing for a nurse to acknowledge again.
    assert view.priority == Priority.MEDIUM and view.message == MILD
    assert view.acknowledged and view.acknowledged_at == acknowledged_at
    assert view.remind_after_s == 300 and view.last_event == AlarmEventType.CHANGED
    words = [e.what for e in record.alarms.events(trial)]
    assert words == ["raised", "acknowledged", "eased to a lower level"]
    # Worse again: an escalation sounds and needs a new acknowledgement.
    clock.advance(minutes=1)
    record.alarms.record_events(
        staff.service, [event(trial, AlarmEventType.ESCALATED, clock.now)]
    )
    [view] = record.alarms.active(trial)
    assert not view.acknowledged and view.acknowledged_at is None
    assert view.remind_after_s is None and view.priority == Priority.HIGH


# --------------------------------------------------------------------- closing the window


def test_a_condition_still_present_keeps_the_window_open_for_all_but_a_doctor(
    record: TrialRecord, staff: Staff, clock: FakeClock
):
    trial = monitored(record, staff, clock)
    alarm = raised(record, staff, clock, trial)
    record.alarms.acknowledge(staff.nurse, alarm, "O2 on; Dr Jones told")
    before = len(record.audit.entries())
    with pytest.raises(NotPermitted) as refused:
        record.trials.set_status(staff.specialist, trial, TrialStatus.ASSESSED, reason="done")
    assert refused.value.message.startswith(
        "The monitoring window cannot close while these are still present: Severe "
        "desaturation: SpO2 91 % or below. cns.okafor may not close it sooner: a doctor may"
    )
    for reason in (None, "", "   "):
        with pytest.raises(InvalidEntry) as missing:
            record.trials.set_status(staff.doctor, trial, TrialStatus.ASSESSED, reason=reason)
        [problem] = missing.value.problems
        assert problem.field == "reason"
        assert "Still present: Severe desaturation: SpO2 91 % or below" in problem.message
    too_long = "x" * (load_limits().trial_day.max_note_chars + 1)
    with pytest.raises(InvalidEntry, match="longer than"):
        record.trials.set_status(staff.doctor, trial, TrialStatus.ASSESSED, reason=too_long)
    assert record.trials.get(trial).status == TrialStatus.MONITORING
    assert len(record.audit.entries()) == before  # nothing written by a refusal
    record.trials.set_status(
        staff.doctor, trial, TrialStatus.ASSESSED, reason="  SpO2 92 % on air is her usual  "
    )
    assert record.trials.get(trial).status == TrialStatus.ASSESSED
    [closed] = record.audit.entries(action_prefix="trial.status", limit=1)
    assert closed.username == "dr.jones"
    assert closed.details == {
        "from": "monitoring",
        "to": "assessed",
        "reason": "SpO2 92 % on air is her usual",
        "conditions_present": [
            {"rule": "spo2_low", "condition": "Severe desaturation: SpO2 91 % or below"}
        ],
    }


def test_unacknowledged_alarms_refuse_even_a_doctor_with_a_reason(
    record: TrialRecord, staff: Staff, clock: FakeClock
):
    trial = monitored(record, staff, clock)
    raised(record, staff, clock, trial)
    with pytest.raises(Refused, match=r"not acknowledged \(spo2_low\)"):
        record.trials.set_status(staff.doctor, trial, TrialStatus.ASSESSED, reason="why not")
    assert record.trials.get(trial).status == TrialStatus.MONITORING


def test_an_acknowledged_technical_alarm_does_not_keep_the_window_open(
    record: TrialRecord, staff: Staff, clock: FakeClock
):
    trial = monitored(record, staff, clock)
    lost = raised(
        record, staff, clock, trial, rule="device_lost", priority=Priority.MEDIUM, message=LOST,
        alarm_kind=AlarmKind.TECHNICAL,
    )
    assert record.alarms.conditions_present(trial) == []
    with pytest.raises(Refused, match="device_lost"):
        record.trials.set_status(staff.specialist, trial, TrialStatus.ASSESSED)
    record.alarms.acknowledge(staff.nurse, lost, "Oximeter battery flat; spare on")
    record.trials.set_status(staff.specialist, trial, TrialStatus.ASSESSED)
    assert record.trials.get(trial).status == TrialStatus.ASSESSED


def test_a_condition_that_ended_no_longer_keeps_the_window_open(
    record: TrialRecord, staff: Staff, clock: FakeClock
):
    trial = monitored(record, staff, clock)
    alarm = raised(record, staff, clock, trial)
    record.alarms.acknowledge(staff.nurse, alarm, "O2 on")
    assert [a.id for a in record.alarms.conditions_present(trial)] == [alarm]
    clock.advance(minutes=5)
    record.alarms.record_events(staff.service, [event(trial, AlarmEventType.RESOLVED, clock.now)])
    assert record.alarms.conditions_present(trial) == []
    record.trials.set_status(staff.specialist, trial, TrialStatus.ASSESSED)
    [closed] = record.audit.entries(action_prefix="trial.status", limit=1)
    assert closed.details == {"from": "monitoring", "to": "assessed"}
