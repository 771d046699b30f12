"""Manual observation sets: the nurse's full set at the bedside, and corrections to it."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from observations.entries import check_observation_set, not_in_future
from observations.errors import InvalidEntry, NotFound, Refused
from observations.readings import current_sets_query
from observations.schema import ObservationSet
from observations.store import Actor, Store, require
from observations.trials import load_trial, require_open
from observations.views import ObservationSetView


class ObservationSets:
    def __init__(self, store: Store) -> None:
        self._store = store

    def record(self, actor: Actor, trial_id: int, data: dict[str, Any]) -> ObservationSetView:
        require(actor, "observation.record")
        entry = check_observation_set(data)
        now = self._store.now()
        not_in_future("measured_at", entry.measured_at, now)
        with self._store.writing() as session:
            trial = load_trial(session, trial_id)
            require_open(trial, "add observations")
            row = self._row(entry, trial_id, actor, now)
            session.add(row)
            session.flush()
            self._store.audit(
                session, actor, "observation.record", "observation_set", row.id, trial_id
            )
            return ObservationSetView.model_validate(row)

    def correct(
        self, actor: Actor, set_id: int, data: dict[str, Any], reason: str
    ) -> ObservationSetView:
        """A new set that supersedes the old one; both stay in the record and the audit trail."""
        require(actor, "observation.record")
        if not reason.strip():
            raise InvalidEntry.single("reason", "Say why the observations are corrected.")
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
            row = self._row(entry, old.trial_id, actor, now)
            row.supersedes_id = old.id
            row.correction_reason = reason.strip()
            session.add(row)
            session.flush()
            self._store.audit(
                session,
                actor,
                "observation.correct",
                "observation_set",
                row.id,
                old.trial_id,
                {"supersedes": old.id, "reason": reason.strip()},
            )
            return ObservationSetView.model_validate(row)

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
