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
    return AlarmEventIn(trial, rule, kind, at, priority, alarm_kind, message, {"spo2": 89}, "test")


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
    record.alarms.record_events(staff.service, [event(trial, AlarmEventType.ESCALATED, clock.now)])
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
        f"desaturation: SpO2 91 % or below. {staff.specialist.username} may not close it "
        "sooner: a doctor may"
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
    assert closed.username == staff.doctor.username
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
    with pytest.raises(Refused, match=r"not acknowledged \(Severe desaturation"):
        record.trials.set_status(staff.doctor, trial, TrialStatus.ASSESSED, reason="why not")
    assert record.trials.get(trial).status == TrialStatus.MONITORING


def test_an_acknowledged_technical_alarm_does_not_keep_the_window_open(
    record: TrialRecord, staff: Staff, clock: FakeClock
):
    trial = monitored(record, staff, clock)
    lost = raised(
        record,
        staff,
        clock,
        trial,
        rule="device_lost",
        priority=Priority.MEDIUM,
        message=LOST,
        alarm_kind=AlarmKind.TECHNICAL,
    )
    assert record.alarms.conditions_present(trial) == []
    with pytest.raises(Refused, match="Monitor link lost"):
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


# --------------------------------------------------------------------- a bed at once


def test_one_note_acknowledges_every_alarm_of_the_bed_that_waits(
    record: TrialRecord, staff: Staff, clock: FakeClock
):
    trial = monitored(record, staff, clock)
    raised(record, staff, clock, trial)
    raised(
        record,
        staff,
        clock,
        trial,
        rule="device_lost",
        priority=Priority.MEDIUM,
        message=LOST,
        alarm_kind=AlarmKind.TECHNICAL,
    )
    already = raised(
        record,
        staff,
        clock,
        trial,
        rule="rr_low",
        priority=Priority.MEDIUM,
        message="Slow breathing: 11/min or less.",
    )
    record.alarms.acknowledge(staff.nurse, already, "RR counted 11")
    clock.advance(seconds=30)
    written = record.alarms.acknowledge_bed(
        staff.nurse, trial, "  At the bed: sat up, probe re-sited  "
    )
    assert sorted(e.rule_id for e in written) == ["device_lost", "spo2_low"]  # not rr_low again
    assert all(e.note == "At the bed: sat up, probe re-sited" for e in written)
    assert all(a.acknowledged for a in record.alarms.active(trial))
    audits = record.audit.entries(action_prefix="alarm.acknowledge")
    assert len(audits) == 3  # rr_low's own, then one per alarm of the bed
    with pytest.raises(Refused, match="No alarm of this bed waits"):
        record.alarms.acknowledge_bed(staff.nurse, trial, "again")


def test_acknowledging_a_bed_needs_a_note_and_a_nurse(
    record: TrialRecord, staff: Staff, clock: FakeClock
):
    trial = monitored(record, staff, clock)
    raised(record, staff, clock, trial)
    with pytest.raises(InvalidEntry, match="what was done"):
        record.alarms.acknowledge_bed(staff.nurse, trial, "   ")
    with pytest.raises(NotPermitted):
        record.alarms.acknowledge_bed(staff.physio, trial, "seen")
    assert not record.alarms.active(trial)[0].acknowledged


# --------------------------------------------------------------------- finished trials


def test_a_trial_leaving_monitoring_takes_its_alarms_with_it(
    record: TrialRecord, staff: Staff, clock: FakeClock
):
    """A doctor closes the window with a condition present: the alarm is resolved with the
    close (audited, saying why), not left on every nurse's screen for ever, and what the
    engine says of it afterwards changes nothing."""
    trial = monitored(record, staff, clock)
    alarm = raised(record, staff, clock, trial)
    record.alarms.acknowledge(staff.nurse, alarm, "O2 2 L, Dr Jones at the bed")
    record.trials.set_status(
        staff.doctor, trial, TrialStatus.ASSESSED, reason="SpO2 91 is her usual; reviewed"
    )
    assert record.alarms.active() == []
    [resolved] = [e for e in record.alarms.events(trial) if e.event == "resolved"]
    assert resolved.evidence == {
        "reason": "the trial moved from monitoring to assessed: its watch is over"
    }
    assert resolved.by_user == staff.doctor.user_id
    [audit] = record.audit.entries(action_prefix="alarm.resolved")
    assert audit.username == staff.doctor.username and audit.details["rule"] == "spo2_low"
    # The engine, as its watch ends, resolves it too: already done, nothing written.
    record.alarms.record_events(staff.service, [event(trial, AlarmEventType.RESOLVED, clock.now)])
    assert [e.event for e in record.alarms.events(trial)].count("resolved") == 1
    # And nothing new is raised on a trial nobody watches.
    with pytest.raises(Refused, match="is assessed: it is not being watched"):
        record.alarms.record_events(staff.service, [event(trial, AlarmEventType.RAISED, clock.now)])


def test_a_cancelled_trial_takes_its_alarms_with_it(
    record: TrialRecord, staff: Staff, clock: FakeClock
):
    trial = monitored(record, staff, clock)
    raised(record, staff, clock, trial)  # even unacknowledged: the trial is no more
    record.trials.set_status(staff.doctor, trial, TrialStatus.CANCELLED)
    assert record.alarms.active() == []


def test_alarms_left_on_finished_trials_by_an_older_record_are_resolved_once(
    record: TrialRecord, staff: Staff, clock: FakeClock
):
    """A record written before the close resolved alarms keeps them active for ever: the
    monitor resolves them as it starts, once, audited; alarms of watched trials stay."""
    finished = monitored(record, staff, clock)
    alarm = raised(record, staff, clock, finished)
    record.alarms.acknowledge(staff.nurse, alarm, "seen")
    other = record.patients.register(
        staff.specialist, patient_details(nhs_number="9990000018", hospital_number="Z2")
    )
    watched = record.trials.plan(staff.specialist, other.id, 50).id
    record.trials.set_status(staff.specialist, watched, TrialStatus.BASELINE)
    raised(
        record,
        staff,
        clock,
        watched,
        rule="device_lost",
        priority=Priority.MEDIUM,
        message=LOST,
        alarm_kind=AlarmKind.TECHNICAL,
    )
    # As an older record left it: the trial assessed, its alarm still active.
    with record.store.writing() as session:
        from observations.schema import Trial

        session.get(Trial, finished).status = TrialStatus.ASSESSED.value
    assert len(record.alarms.active()) == 2
    assert record.alarms.resolve_finished(staff.service) == 1
    assert [a.trial_id for a in record.alarms.active()] == [watched]
    assert record.alarms.resolve_finished(staff.service) == 0
    [audit] = record.audit.entries(action_prefix="alarm.resolved")
    assert audit.details["because"] == "the trial is assessed: its monitoring window had closed"
