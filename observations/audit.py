"""Reading the audit trail (it is written inside each clinical transaction, see store.py)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select

from observations.schema import AuditEntry
from observations.store import Store
from observations.views import AuditView


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
                query = query.where(AuditEntry.trial_id == trial_id)
            if username:
                query = query.where(AuditEntry.username == username)
            if action_prefix:
                query = query.where(AuditEntry.action.startswith(action_prefix))
            if start is not None:
                query = query.where(AuditEntry.at >= start)
            if end is not None:
                query = query.where(AuditEntry.at <= end)
            return [AuditView.model_validate(e) for e in session.scalars(query)]

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
