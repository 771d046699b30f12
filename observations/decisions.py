"""The team's responder decision, signed by a doctor."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select

from observations.entries import check_dose
from observations.errors import InvalidEntry, Refused
from observations.limits import load_limits
from observations.schema import Decision
from observations.store import Actor, Store, require
from observations.trials import current_injection, load_trial
from observations.views import DecisionView
from vocabulary import DecisionOutcome, TrialStatus


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
    ) -> DecisionView:
        require(actor, "decision.sign")
        outcome = DecisionOutcome(outcome)
        rationale = rationale.strip()
        if not rationale:
            raise InvalidEntry.single("rationale", "Write the team's rationale for the decision.")
        if next_dose_mcg is not None:
            check_dose(next_dose_mcg, "next_dose_mcg")
        limits = load_limits().trial_day
        with self._store.writing() as session:
            trial = load_trial(session, trial_id, lock=True)
            if trial.status != TrialStatus.ASSESSED.value:
                raise Refused(
                    f"This trial is {trial.status}: a decision is signed once the monitoring "
                    "window is closed and the trial is assessed."
                )
            injection = current_injection(session, trial_id)
            if next_not_before is not None and injection is not None:
                earliest = injection.given_at + timedelta(hours=limits.min_hours_between_injections)
                if next_not_before < earliest:
                    raise InvalidEntry.single(
                        "next_not_before",
                        "The next trial cannot be sooner than "
                        f"{limits.min_hours_between_injections:g} h after this injection.",
                    )
            if session.scalar(select(Decision.id).where(Decision.trial_id == trial_id)):
                raise Refused("This trial already has a signed decision.")
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
            trial.status = TrialStatus.DECIDED.value
            self._store.audit(
                session,
                actor,
                "decision.sign",
                "decision",
                row.id,
                trial_id,
                {"outcome": outcome.value, "next_dose_mcg": next_dose_mcg},
            )
            return DecisionView.model_validate(row)

    def for_trial(self, trial_id: int) -> DecisionView | None:
        with self._store.reading() as session:
            row = session.scalar(
                select(Decision).where(Decision.trial_id == trial_id).order_by(Decision.id.desc())
            )
            return DecisionView.model_validate(row) if row else None
