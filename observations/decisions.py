"""The team's responder decision, signed by a doctor, and the follow-up trial it calls for."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select

from observations.entries import check_dose
from observations.errors import InvalidEntry, Refused
from observations.free_text import clean_text
from observations.limits import dose_limits, load_limits
from observations.schema import Decision
from observations.store import Actor, Reauthentication, Store, require, use_reauthentication
from observations.trials import (
    add_trial,
    check_plan,
    current_injection,
    load_trial,
    move_trial,
    trial_view,
)
from observations.views import DecisionView, SignedDecision
from rules.responder import FOLLOW_UP_OUTCOMES, follow_up_suggestion, load_responder_config
from vocabulary import DECISION_OUTCOME_LABELS, DecisionOutcome, TrialStatus


class Decisions:
    def __init__(self, store: Store) -> None:
        self._store = store

    def record(
        self,
        actor: Actor,
        trial_id: int,
        outcome: DecisionOutcome,
        rationale: str,
        next_dose_mcg: int | None = None,
        next_not_before: datetime | None = None,
        *,
        reauthentication: Reauthentication | None,
    ) -> DecisionView:
        """Sign the decision only; the follow-up trial, if any, is planned later by hand."""
        return self.sign(
            actor,
            trial_id,
            outcome,
            rationale,
            reauthentication=reauthentication,
            next_dose_mcg=next_dose_mcg,
            next_not_before=next_not_before,
            plan_follow_up=False,
        ).decision

    def sign(
        self,
        actor: Actor,
        trial_id: int,
        outcome: DecisionOutcome,
        rationale: str,
        *,
        reauthentication: Reauthentication | None,
        next_dose_mcg: int | None = None,
        next_not_before: datetime | None = None,
        plan_follow_up: bool = True,
    ) -> SignedDecision:
        """Sign the decision and, for a re-trial, plan the follow-up trial: one transaction.

        For an outcome that repeats the trial the next dose defaults to the rules' suggestion
        (+25 mcg, or the same dose when inconclusive) and the earliest time to the minimum
        interval after this injection; a dose above the ceiling, a "higher" dose that is not
        higher, a different dose for "same dose", or a time inside the interval is refused.
        Both audit entries are written with the rows; any refusal or failure writes nothing.
        ``reauthentication``: the signer's password typed again just before
        (Users.confirm_password), spent by this signature (21 CFR 11.200).
        """
        require(actor, "decision.sign")
        outcome = DecisionOutcome(outcome)
        rationale = clean_text(
            "rationale",
            rationale,
            "note",
            required=True,
            missing="Write the team's rationale for the decision.",
        )
        follows = outcome in FOLLOW_UP_OUTCOMES
        if not follows and (next_dose_mcg is not None or next_not_before is not None):
            raise InvalidEntry.single(
                "next_dose_mcg",
                f"'{DECISION_OUTCOME_LABELS[outcome]}' plans no further trial: leave the next "
                "dose and time empty.",
            )
        if next_dose_mcg is not None:
            check_dose(next_dose_mcg, "next_dose_mcg")
        if plan_follow_up and follows:
            require(actor, "trial.plan")
        limits = load_limits().trial_day
        gap = timedelta(hours=limits.min_hours_between_injections)
        with self._store.writing() as session:
            use_reauthentication(session, actor, reauthentication, "decision.sign")
            trial = load_trial(session, trial_id, lock=True)
            if trial.status != TrialStatus.ASSESSED.value:
                raise Refused(
                    f"This trial is {trial.status}: a decision is signed once the monitoring "
                    "window is closed and the trial is assessed."
                )
            if session.scalar(select(Decision.id).where(Decision.trial_id == trial_id)):
                raise Refused("This trial already has a signed decision.")
            injection = current_injection(session, trial_id)
            if follows:
                if injection is None:
                    raise Refused(
                        "No injection is recorded for this trial, so no next trial can follow "
                        "from it. Choose another outcome or correct the record."
                    )
                next_dose_mcg = self._next_dose(
                    outcome, injection.dose_mcg, injection.given_at, next_dose_mcg
                )
                earliest = injection.given_at + gap
                if next_not_before is None:
                    next_not_before = earliest
                elif next_not_before < earliest:
                    raise InvalidEntry.single(
                        "next_not_before",
                        "The next trial cannot be sooner than "
                        f"{limits.min_hours_between_injections:g} h after this injection.",
                    )
            row = Decision(
                trial_id=trial_id,
                outcome=outcome.value,
                rationale=rationale,
                signed_by=actor.user_id,
                signed_at=self._store.now(),
                next_dose_mcg=next_dose_mcg,
                next_not_before=next_not_before,
            )
            session.add(row)
            session.flush()
            move_trial(session, self._store, actor, trial, TrialStatus.DECIDED)
            follow_up = None
            if plan_follow_up and follows:
                assert next_dose_mcg is not None
                reason = check_plan(next_dose_mcg, trial.spo2_scale, trial.spo2_scale_reason)
                follow_up = add_trial(
                    session,
                    self._store,
                    actor,
                    trial.patient_id,
                    next_dose_mcg,
                    spo2_scale=trial.spo2_scale,
                    spo2_scale_reason=reason,
                    bed=trial.bed,
                    follows_trial_id=trial.id,
                )
            self._store.audit(
                session,
                actor,
                "decision.sign",
                "decision",
                row.id,
                trial_id,
                {
                    "outcome": outcome.value,
                    "next_dose_mcg": next_dose_mcg,
                    "next_not_before": next_not_before.isoformat() if next_not_before else None,
                    "follow_up_trial_id": follow_up.id if follow_up else None,
                },
            )
            return SignedDecision(
                decision=DecisionView.model_validate(row),
                follow_up=trial_view(session, follow_up) if follow_up else None,
            )

    @staticmethod
    def _next_dose(
        outcome: DecisionOutcome, given_mcg: int, given_at: datetime, chosen: int | None
    ) -> int:
        """The follow-up dose: the rules' suggestion unless the team chose one that fits."""
        suggestion = follow_up_suggestion(
            outcome, given_mcg, given_at, load_responder_config(), dose_limits()
        )
        assert suggestion is not None  # outcome is a follow-up outcome
        if suggestion.dose_mcg is None:
            raise Refused(f"{suggestion.explanation} Choose another outcome.")
        dose = chosen if chosen is not None else round(suggestion.dose_mcg)
        check_dose(dose, "next_dose_mcg")
        if outcome is DecisionOutcome.RETRIAL_HIGHER and dose <= given_mcg:
            raise InvalidEntry.single(
                "next_dose_mcg",
                f"A re-trial at a higher dose must be above the {given_mcg} mcg given: "
                f"the suggestion is {suggestion.dose_mcg:g} mcg.",
            )
        if outcome is DecisionOutcome.INCONCLUSIVE and dose != given_mcg:
            raise InvalidEntry.single(
                "next_dose_mcg",
                f"'Repeat at the same dose' means {given_mcg} mcg again; for another dose choose "
                "a different outcome.",
            )
        return dose

    def for_trial(self, trial_id: int) -> DecisionView | None:
        with self._store.reading() as session:
            row = session.scalar(
                select(Decision).where(Decision.trial_id == trial_id).order_by(Decision.id.desc())
            )
            return DecisionView.model_validate(row) if row else None
