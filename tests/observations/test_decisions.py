"""The decision and its follow-up trial: one signature, one transaction, the trial-day rules."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

import observations.decisions
from observations.errors import InvalidEntry, Refused
from observations.record import TrialRecord
from observations.schema import AuditEntry, Decision, Trial
from observations.store import Actor
from observations.views import SignedDecision
from tests.accounts import reauthenticated
from tests.observations.conftest import FakeClock, Staff, patient_details
from vocabulary import DecisionOutcome, TrialStatus


def sign(record: TrialRecord, actor: Actor, *args: object, **kwargs: object) -> SignedDecision:
    """A signature, the signer's identity confirmed afresh just before."""
    proof = reauthenticated(record, actor)
    return record.decisions.sign(actor, *args, reauthentication=proof, **kwargs)  # type: ignore[arg-type]


def assessed_trial(record: TrialRecord, staff: Staff, clock: FakeClock, dose: int = 50) -> int:
    patient = record.patients.register(staff.specialist, patient_details())
    trial = record.trials.plan(staff.specialist, patient.id, dose, bed="B4").id
    record.trials.record_injection(
        staff.doctor,
        trial,
        {
            "dose_mcg": dose,
            "given_at": clock.now - timedelta(hours=4, minutes=30),
            "route": "lumbar_puncture",
            "given_by": "Dr Jones",
        },
    )
    record.trials.set_status(staff.doctor, trial, TrialStatus.ASSESSED)
    return trial


def written(record: TrialRecord) -> tuple[int, int, list[str]]:
    """Decisions, trials and the clinical audit actions in the record, to compare before and
    after (the signer's identity confirmation is written whatever the signature's fate)."""
    with record.store.reading() as session:
        decisions = len(session.scalars(select(Decision.id)).all())
        trials = len(session.scalars(select(Trial.id)).all())
        actions = list(
            session.scalars(
                select(AuditEntry.action)
                .where(AuditEntry.action != "auth.confirm")
                .order_by(AuditEntry.id)
            )
        )
    return decisions, trials, actions


def test_re_trial_plans_the_follow_up_at_plus_25_not_before_24_h_in_one_step(
    record: TrialRecord, staff: Staff, clock: FakeClock
):
    trial = assessed_trial(record, staff, clock)
    given = record.trials.get(trial).injection.given_at
    _, _, before = written(record)
    signed = sign(
        record, staff.doctor, trial, DecisionOutcome.RETRIAL_HIGHER, "MAS unchanged; goal not met"
    )
    decision, follow_up = signed.decision, signed.follow_up
    assert (decision.next_dose_mcg, decision.next_not_before) == (75, given + timedelta(hours=24))
    assert follow_up is not None
    assert (follow_up.planned_dose_mcg, follow_up.status) == (75, TrialStatus.PLANNED.value)
    assert (follow_up.follows_trial_id, follow_up.bed) == (trial, "B4")
    assert (follow_up.episode, follow_up.trial_number) == (1, 2)
    assert record.trials.get(trial).status == TrialStatus.DECIDED.value
    _, _, after = written(record)
    assert after[len(before) :] == ["trial.status", "trial.plan", "decision.sign"]
    with record.store.reading() as session:
        audit = session.scalar(select(AuditEntry).where(AuditEntry.action == "decision.sign"))
        moved = session.scalars(
            select(AuditEntry)
            .where(AuditEntry.action == "trial.status")
            .order_by(AuditEntry.id.desc())
        ).first()
    assert audit is not None and audit.details["follow_up_trial_id"] == follow_up.id
    # The trial's stage moves as every stage move does: checked and audited.
    assert moved is not None and moved.details == {"from": "assessed", "to": "decided"}


def test_inconclusive_repeats_the_same_dose_and_no_other(
    record: TrialRecord, staff: Staff, clock: FakeClock
):
    trial = assessed_trial(record, staff, clock, dose=25)
    with pytest.raises(InvalidEntry, match="means 25 mcg again"):
        sign(
            record,
            staff.doctor,
            trial,
            DecisionOutcome.INCONCLUSIVE,
            "patient asleep",
            next_dose_mcg=50,
        )
    signed = sign(
        record, staff.doctor, trial, DecisionOutcome.INCONCLUSIVE, "patient asleep at 4 h"
    )
    assert signed.follow_up is not None and signed.follow_up.planned_dose_mcg == 25


def test_dose_ceiling_and_a_higher_dose_that_is_not_higher(
    record: TrialRecord, staff: Staff, clock: FakeClock
):
    trial = assessed_trial(record, staff, clock, dose=100)
    # No dose above 100 mcg exists: the team is told to choose another outcome.
    with pytest.raises(Refused, match="maximum trial dose"):
        sign(record, staff.doctor, trial, DecisionOutcome.RETRIAL_HIGHER, "no change")
    with pytest.raises(InvalidEntry, match="between 5 and 100 mcg"):
        sign(
            record,
            staff.doctor,
            trial,
            DecisionOutcome.RETRIAL_HIGHER,
            "no change",
            next_dose_mcg=125,
        )
    assert written(record)[:2] == (0, 1)
    other = record.patients.register(
        staff.specialist, patient_details(nhs_number="9990000026", hospital_number="H2")
    )
    second = record.trials.plan(staff.specialist, other.id, 90).id
    record.trials.record_injection(
        staff.doctor,
        second,
        {
            "dose_mcg": 90,
            "given_at": clock.now - timedelta(hours=5),
            "route": "catheter",
            "given_by": "Dr Jones",
        },
    )
    record.trials.set_status(staff.doctor, second, TrialStatus.ASSESSED)
    with pytest.raises(InvalidEntry, match="above the 90 mcg given"):
        sign(
            record,
            staff.doctor,
            second,
            DecisionOutcome.RETRIAL_HIGHER,
            "no change",
            next_dose_mcg=90,
        )
    # +25 from 90 would be 115: the suggestion stops at the ceiling.
    signed = sign(record, staff.doctor, second, DecisionOutcome.RETRIAL_HIGHER, "none")
    assert signed.follow_up is not None and signed.follow_up.planned_dose_mcg == 100


def test_next_trial_not_before_24_h_after_this_injection(
    record: TrialRecord, staff: Staff, clock: FakeClock
):
    trial = assessed_trial(record, staff, clock)
    given = record.trials.get(trial).injection.given_at
    before = written(record)
    with pytest.raises(InvalidEntry, match="sooner than 24 h"):
        sign(
            record,
            staff.doctor,
            trial,
            DecisionOutcome.RETRIAL_HIGHER,
            "no change",
            next_not_before=given + timedelta(hours=23, minutes=59),
        )
    assert written(record) == before
    later = given + timedelta(days=3)
    signed = sign(
        record,
        staff.doctor,
        trial,
        DecisionOutcome.RETRIAL_HIGHER,
        "no change",
        next_not_before=later,
    )
    assert signed.decision.next_not_before == later
    # The follow-up's injection itself is held to 24 h by the record, whatever was planned.
    assert signed.follow_up is not None
    with pytest.raises(Refused, match="at least 24 hours later"):
        record.trials.record_injection(
            staff.doctor,
            signed.follow_up.id,
            {
                "dose_mcg": 75,
                "given_at": clock.now,
                "route": "lumbar_puncture",
                "given_by": "Dr Jones",
            },
        )


def test_a_failure_planning_the_follow_up_leaves_nothing_written(
    record: TrialRecord, staff: Staff, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
):
    trial = assessed_trial(record, staff, clock)
    before = written(record)
    real_add_trial = observations.decisions.add_trial

    def add_then_fail(*args: object, **kwargs: object) -> Trial:
        real_add_trial(*args, **kwargs)  # rows and audit entry flushed in the transaction...
        raise RuntimeError("database lost mid-transaction")  # ...then the second part fails

    monkeypatch.setattr(observations.decisions, "add_trial", add_then_fail)
    with pytest.raises(RuntimeError, match="database lost"):
        sign(record, staff.doctor, trial, DecisionOutcome.RETRIAL_HIGHER, "no change")
    assert written(record) == before
    assert record.decisions.for_trial(trial) is None
    assert record.trials.get(trial).status == TrialStatus.ASSESSED.value
    monkeypatch.undo()
    signed = sign(record, staff.doctor, trial, DecisionOutcome.RETRIAL_HIGHER, "again")
    assert signed.follow_up is not None


def test_outcomes_without_a_next_trial_plan_none(
    record: TrialRecord, staff: Staff, clock: FakeClock
):
    trial = assessed_trial(record, staff, clock)
    with pytest.raises(InvalidEntry, match="plans no further trial"):
        sign(
            record,
            staff.doctor,
            trial,
            DecisionOutcome.RESPONDER,
            "clear response",
            next_dose_mcg=75,
        )
    signed = sign(record, staff.doctor, trial, DecisionOutcome.RESPONDER, "clear")
    assert signed.follow_up is None
    assert (signed.decision.next_dose_mcg, signed.decision.next_not_before) == (None, None)
    assert written(record)[:2] == (1, 1)


def test_deciding_without_planning_keeps_the_suggested_next_trial_on_the_decision(
    record: TrialRecord, staff: Staff, clock: FakeClock
):
    trial = assessed_trial(record, staff, clock)
    signed = sign(
        record,
        staff.doctor,
        trial,
        DecisionOutcome.RETRIAL_HIGHER,
        "plan later",
        plan_follow_up=False,
    )
    assert signed.follow_up is None and signed.decision.next_dose_mcg == 75
    assert written(record)[:2] == (1, 1)
