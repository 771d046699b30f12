"""Spasticity assessments (baseline, 4 hours, others): Ashworth per muscle, Penn, NRS, goals."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from observations.entries import (
    POWER_FIELDS,
    AssessmentEntry,
    check_assessment,
    check_assessment_timing,
    not_in_future,
)
from observations.errors import NotFound, Refused
from observations.free_text import clean_text
from observations.schema import AshworthScore, Assessment, AuditEntry, GoalRating
from observations.store import Actor, Store, require
from observations.trials import current_injection, load_trial, require_open
from observations.views import AshworthView, AssessmentView, GoalView

# Audit actions that write an assessment; their details carry any timing reason.
WRITE_ACTIONS = ("assessment.record", "assessment.correct")


class Assessments:
    def __init__(self, store: Store) -> None:
        self._store = store

    def record(self, actor: Actor, trial_id: int, data: dict[str, Any]) -> AssessmentView:
        require(actor, "assessment.record")
        entry = check_assessment(data)
        not_in_future("assessed_at", entry.assessed_at, self._store.now())
        with self._store.writing() as session:
            trial = load_trial(session, trial_id)
            require_open(trial, "add scores")
            timing = self._timing(session, trial_id, entry)
            row = self._write(session, entry, trial_id, actor, None, None)
            self._store.audit(
                session,
                actor,
                "assessment.record",
                "assessment",
                row.id,
                trial_id,
                {"time_point": entry.time_point.value, **timing},
            )
            return self._view(session, row)

    def correct(
        self, actor: Actor, assessment_id: int, data: dict[str, Any], reason: str
    ) -> AssessmentView:
        require(actor, "assessment.record")
        reason = clean_text(
            "reason", reason, "note", required=True, missing="Say why the scores are corrected."
        )
        entry = check_assessment(data)
        not_in_future("assessed_at", entry.assessed_at, self._store.now())
        with self._store.writing() as session:
            old = session.get(Assessment, assessment_id)
            if old is None:
                raise NotFound(f"There is no assessment with id {assessment_id}.")
            if session.scalar(select(Assessment.id).where(Assessment.supersedes_id == old.id)):
                raise Refused("Those scores have already been corrected: correct the newer ones.")
            timing = self._timing(session, old.trial_id, entry)
            row = self._write(session, entry, old.trial_id, actor, old.id, reason)
            self._store.audit(
                session,
                actor,
                "assessment.correct",
                "assessment",
                row.id,
                old.trial_id,
                {
                    "supersedes": old.id,
                    "reason": reason,
                    "time_point": entry.time_point.value,
                    **timing,
                },
            )
            return self._view(session, row)

    def list(self, trial_id: int) -> list[AssessmentView]:
        """Current assessments (corrections applied), oldest first."""
        with self._store.reading() as session:
            superseded = select(Assessment.supersedes_id).where(
                Assessment.supersedes_id.is_not(None)
            )
            rows = session.scalars(
                select(Assessment)
                .where(Assessment.trial_id == trial_id, Assessment.id.not_in(superseded))
                .order_by(Assessment.assessed_at, Assessment.id)
            )
            return [self._view(session, r) for r in rows]

    def timing_reasons(self, trial_id: int) -> dict[int, str]:
        """Why each assessment of the trial was taken outside the peak window, by assessment
        id: the reason recorded with it, kept in its audit entry (same transaction)."""
        with self._store.reading() as session:
            entries = session.scalars(
                select(AuditEntry).where(
                    AuditEntry.trial_id == trial_id,
                    AuditEntry.entity == "assessment",
                    AuditEntry.action.in_(WRITE_ACTIONS),
                )
            )
            return {
                e.entity_id: str(e.details["timing_reason"])
                for e in entries
                if e.entity_id is not None and e.details and e.details.get("timing_reason")
            }

    @staticmethod
    def _timing(session: Session, trial_id: int, entry: AssessmentEntry) -> dict[str, Any]:
        """Check the time against the injection; what the audit entry keeps about it."""
        injection = current_injection(session, trial_id)
        hours, outside = check_assessment_timing(
            entry, injection.given_at if injection is not None else None
        )
        details: dict[str, Any] = {}
        if hours is not None:
            details["hours_after_injection"] = round(hours, 3)
        if entry.timing_reason:
            details["timing_reason"] = entry.timing_reason
            details["outside_peak_window"] = outside
        return details

    def _write(
        self,
        session: Session,
        entry: AssessmentEntry,
        trial_id: int,
        actor: Actor,
        supersedes: int | None,
        reason: str | None,
    ) -> Assessment:
        row = Assessment(
            trial_id=trial_id,
            time_point=entry.time_point.value,
            assessed_at=entry.assessed_at,
            assessed_by=actor.user_id,
            entered_at=self._store.now(),
            ashworth_scale=entry.ashworth_scale.value,
            penn_frequency=entry.penn_frequency,
            penn_severity=entry.penn_severity,
            penn_recall_period=entry.penn_recall_period,
            pain_nrs=entry.pain_nrs,
            stiffness_nrs=entry.stiffness_nrs,
            note=entry.note,
            supersedes_id=supersedes,
            correction_reason=reason,
            **{name: getattr(entry, name) for name in POWER_FIELDS},
        )
        session.add(row)
        session.flush()
        for score in entry.ashworth:
            session.add(
                AshworthScore(
                    assessment_id=row.id,
                    muscle_group=score.muscle_group.value,
                    side=score.side.value,
                    label=score.label,
                )
            )
        for goal in entry.goals:
            session.add(GoalRating(assessment_id=row.id, goal=goal.goal, rating=goal.rating))
        session.flush()
        return row

    @staticmethod
    def _view(session: Session, row: Assessment) -> AssessmentView:
        scores = session.scalars(
            select(AshworthScore)
            .where(AshworthScore.assessment_id == row.id)
            .order_by(AshworthScore.id)
        )
        goals = session.scalars(
            select(GoalRating).where(GoalRating.assessment_id == row.id).order_by(GoalRating.id)
        )
        return AssessmentView(
            id=row.id,
            trial_id=row.trial_id,
            time_point=row.time_point,
            assessed_at=row.assessed_at,
            assessed_by=row.assessed_by,
            ashworth_scale=row.ashworth_scale,
            ashworth=[AshworthView.model_validate(s) for s in scores],
            penn_frequency=row.penn_frequency,
            penn_severity=row.penn_severity,
            penn_recall_period=row.penn_recall_period,
            pain_nrs=row.pain_nrs,
            stiffness_nrs=row.stiffness_nrs,
            power_left_leg=row.power_left_leg,
            power_right_leg=row.power_right_leg,
            power_left_arm=row.power_left_arm,
            power_right_arm=row.power_right_arm,
            goals=[GoalView.model_validate(g) for g in goals],
            note=row.note,
            supersedes_id=row.supersedes_id,
            correction_reason=row.correction_reason,
        )
