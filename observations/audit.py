"""Reading the audit trail (it is written inside each clinical transaction, see store.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, or_, select

from observations.free_text import clean_text
from observations.schema import AuditEntry
from observations.store import Actor, Store, require
from observations.views import AuditView
from vocabulary import CLINICAL_ROLES

# Entries about accounts and sign-ins carry no patient data; every other entry may (names,
# NHS numbers in a correction, notes), so its details are withheld from administrators.
_ACCOUNT_ACTIONS = ("auth.", "user.")
WITHHELD = {"withheld": "clinical details are not shown to administrators"}


class AuditTrail:
    def __init__(self, store: Store) -> None:
        self._store = store

    def entries(
        self,
        trial_id: int | None = None,
        username: str | None = None,
        action_prefix: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        limit: int = 1000,
    ) -> list[AuditView]:
        with self._store.reading() as session:
            query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
            if trial_id is not None:
                # A batch written for several trials at once (the monitor's readings) names
                # each of them, with its count, under `by_trial` (Store.audit_batch).
                in_batch = AuditEntry.details["by_trial"][str(trial_id)].as_string()
                query = query.where(
                    or_(
                        AuditEntry.trial_id == trial_id,
                        and_(AuditEntry.trial_id.is_(None), in_batch.is_not(None)),
                    )
                )
            if username:
                query = query.where(AuditEntry.username == username)
            if action_prefix:
                query = query.where(AuditEntry.action.startswith(action_prefix))
            if start is not None:
                query = query.where(AuditEntry.at >= start)
            if end is not None:
                query = query.where(AuditEntry.at <= end)
            return [AuditView.model_validate(e) for e in session.scalars(query)]

    def entries_for(self, actor: Actor, **filters: Any) -> list[AuditView]:
        """The trail as ``actor`` may read it (audit.read): an administrator, who must see no
        patient data, gets clinical entries without their details."""
        require(actor, "audit.read")
        entries = self.entries(**filters)
        if actor.roles & CLINICAL_ROLES:
            return entries
        return [
            e
            if e.action.startswith(_ACCOUNT_ACTIONS) or not e.details
            else e.model_copy(update={"details": WITHHELD})
            for e in entries
        ]

    def note_view(
        self,
        actor: Actor,
        what: str,
        trial_id: int | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        """Audit a read of patient data (a trial opened on a screen, a list or an export taken
        from the command line) as ``view.<what>``."""
        what = clean_text("what", what, "code", required=True, as_given=True)
        with self._store.writing() as session:
            self._store.audit(
                session,
                actor,
                f"view.{what}",
                "trial" if trial_id else "record",
                trial_id,
                trial_id=trial_id,
                details=details,
            )

    def changes_since(self, last_id: int, actions: tuple[str, ...]) -> list[AuditView]:
        """Entries newer than ``last_id`` with one of ``actions``, oldest first (for pollers)."""
        with self._store.reading() as session:
            query = (
                select(AuditEntry)
                .where(AuditEntry.id > last_id, AuditEntry.action.in_(actions))
                .order_by(AuditEntry.id)
            )
            return [AuditView.model_validate(e) for e in session.scalars(query)]

    def last_id(self) -> int:
        with self._store.reading() as session:
            return int(session.scalar(select(func.max(AuditEntry.id))) or 0)
