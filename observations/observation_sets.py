"""Manual observation sets: the nurse's full set at the bedside, and corrections to it."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from observations.entries import check_observation_set, not_in_future
from observations.errors import AlreadyRecorded, NotFound, Refused
from observations.free_text import clean_text
from observations.readings import current_sets_query
from observations.schema import ObservationSet
from observations.store import Actor, Store, require
from observations.trials import load_trial, require_open
from observations.views import ObservationSetView

# Two sets of one trial measured less than this apart are one set entered twice (a second
# Save of the same observations): the second is refused in favour of a correction.
SAME_SET_WITHIN = timedelta(minutes=1)


class SetAtSameMinute(AlreadyRecorded):
    """A set of the trial is already recorded within a minute of this one: the nurse is
    probably saving the same observations twice, and should correct that set instead."""

    def __init__(self, existing: ObservationSetView) -> None:
        super().__init__(
            "A set measured within the same minute is already recorded: correct that set "
            "(with a reason) rather than adding a second set at one time."
        )
        self.existing = existing


def _same_minute(
    session: Session, trial_id: int, measured_at: datetime, other_than: int | None = None
) -> ObservationSetView | None:
    """The trial's current set measured less than a minute from ``measured_at`` (the nearest).
    Not a calendar minute: a double Save at 10:15:59 and 10:16:01 is still one set."""
    query = current_sets_query(trial_id).where(
        ObservationSet.measured_at > measured_at - SAME_SET_WITHIN,
        ObservationSet.measured_at < measured_at + SAME_SET_WITHIN,
    )
    if other_than is not None:
        query = query.where(ObservationSet.id != other_than)
    rows = list(session.scalars(query))
    if not rows:
        return None
    nearest = min(rows, key=lambda r: (abs(r.measured_at - measured_at), -r.id))
    return ObservationSetView.model_validate(nearest)


class ObservationSets:
    def __init__(self, store: Store) -> None:
        self._store = store

    def record(
        self,
        actor: Actor,
        trial_id: int,
        data: dict[str, Any],
        *,
        one_per_minute: bool = False,
    ) -> ObservationSetView:
        """Add a set. With ``one_per_minute`` (the observation form), a set measured within a
        minute of a current set of the trial is refused with ``SetAtSameMinute`` naming it;
        checked inside the write, so two tabs saving at once cannot both add one."""
        require(actor, "observation.record")
        entry = check_observation_set(data)
        now = self._store.now()
        not_in_future("measured_at", entry.measured_at, now)
        with self._store.writing() as session:
            trial = load_trial(session, trial_id)
            require_open(trial, "add observations")
            if one_per_minute:
                existing = _same_minute(session, trial_id, entry.measured_at)
                if existing is not None:
                    raise SetAtSameMinute(existing)
            row = self._row(entry, trial_id, actor, now)
            session.add(row)
            session.flush()
            self._store.audit(
                session, actor, "observation.record", "observation_set", row.id, trial_id
            )
            return ObservationSetView.model_validate(row)

    def correct(
        self,
        actor: Actor,
        set_id: int,
        data: dict[str, Any],
        reason: str,
        *,
        one_per_minute: bool = False,
    ) -> ObservationSetView:
        """A new set that supersedes the old one; both stay in the record and the audit trail.
        With ``one_per_minute``, a correction moved within a minute of another current set is
        refused (``SetAtSameMinute``)."""
        require(actor, "observation.record")
        reason = clean_text(
            "reason",
            reason,
            "note",
            required=True,
            missing="Say why the observations are corrected.",
        )
        entry = check_observation_set(data)
        now = self._store.now()
        not_in_future("measured_at", entry.measured_at, now)
        with self._store.writing() as session:
            old = session.get(ObservationSet, set_id)
            if old is None:
                raise NotFound(f"There is no observation set with id {set_id}.")
            if session.scalar(
                select(ObservationSet.id).where(ObservationSet.supersedes_id == set_id)
            ):
                raise Refused(
                    "That observation set has already been corrected: correct the newer one."
                )
            if one_per_minute:
                existing = _same_minute(session, old.trial_id, entry.measured_at, old.id)
                if existing is not None:
                    raise SetAtSameMinute(existing)
            row = self._row(entry, old.trial_id, actor, now)
            row.supersedes_id = old.id
            row.correction_reason = reason
            session.add(row)
            session.flush()
            self._store.audit(
                session,
                actor,
                "observation.correct",
                "observation_set",
                row.id,
                old.trial_id,
                {"supersedes": old.id, "reason": reason},
            )
            return ObservationSetView.model_validate(row)

    def get(self, set_id: int) -> ObservationSetView:
        with self._store.reading() as session:
            row = session.get(ObservationSet, set_id)
            if row is None:
                raise NotFound(f"There is no observation set with id {set_id}.")
            return ObservationSetView.model_validate(row)

    def at_same_minute(self, trial_id: int, measured_at: datetime) -> ObservationSetView | None:
        """The trial's current set measured within a minute of ``measured_at``, if any."""
        with self._store.reading() as session:
            return _same_minute(session, trial_id, measured_at)

    def list(self, trial_id: int, include_superseded: bool = False) -> list[ObservationSetView]:
        with self._store.reading() as session:
            if include_superseded:
                query = select(ObservationSet).where(ObservationSet.trial_id == trial_id)
            else:
                query = current_sets_query(trial_id)
            rows = session.scalars(query.order_by(ObservationSet.measured_at, ObservationSet.id))
            return [ObservationSetView.model_validate(r) for r in rows]

    @staticmethod
    def _row(entry: Any, trial_id: int, actor: Actor, now: Any) -> ObservationSet:
        values = entry.values()
        return ObservationSet(
            trial_id=trial_id,
            measured_at=entry.measured_at,
            entered_at=now,
            entered_by=actor.user_id,
            side_effects=(
                sorted(s.value for s in entry.side_effects)
                if entry.side_effects is not None
                else None
            ),
            device_prefilled=sorted(p.value for p in entry.device_prefilled) or None,
            note=entry.note,
            **{k: (v.value if hasattr(v, "value") else v) for k, v in values.items()},
        )
