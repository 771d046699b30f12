"""Transactions, the people who act, what they may do, and the audit entry of every write.

Every clinical write goes through ``Store.writing``: one transaction that also holds its audit
entry, so either both are in the record or neither is.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, insert, inspect
from sqlalchemy.orm import Session, sessionmaker

from observations.errors import NotPermitted
from observations.schema import AuditEntry, User
from vocabulary import Role

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Actor:
    """Who is acting: a signed-in person, or the monitor service writing device data."""

    user_id: int
    username: str
    roles: frozenset[Role]
    is_service: bool = False


# Which roles may do what. Pages filter by the same table, but the record enforces it again so
# a page that forgets cannot bypass it.
PERMISSIONS: dict[str, frozenset[Role]] = {
    "patient.register": frozenset({Role.NURSE_SPECIALIST, Role.DOCTOR}),
    "patient.correct": frozenset({Role.NURSE_SPECIALIST, Role.DOCTOR}),
    "trial.plan": frozenset({Role.NURSE_SPECIALIST, Role.DOCTOR}),
    "trial.status": frozenset({Role.NURSE_SPECIALIST, Role.DOCTOR}),
    # Closing the monitoring window while a physiological condition is still present, with
    # the reason recorded: a medical decision.
    "trial.close_with_conditions": frozenset({Role.DOCTOR}),
    "trial.extend_window": frozenset({Role.NURSE_SPECIALIST, Role.DOCTOR}),
    "device.assign": frozenset({Role.NURSE_SPECIALIST, Role.DOCTOR, Role.NURSE}),
    "injection.record": frozenset({Role.DOCTOR}),
    "observation.record": frozenset({Role.NURSE, Role.NURSE_SPECIALIST, Role.DOCTOR}),
    "assessment.record": frozenset({Role.PHYSIOTHERAPIST, Role.NURSE_SPECIALIST}),
    "alarm.acknowledge": frozenset({Role.NURSE, Role.NURSE_SPECIALIST, Role.DOCTOR}),
    "decision.sign": frozenset({Role.DOCTOR}),
    # Taking a trial's record away as a file (report, CSV): the team who review it.
    "trial.export": frozenset({Role.DOCTOR, Role.NURSE_SPECIALIST, Role.PHYSIOTHERAPIST}),
    "user.manage": frozenset({Role.ADMIN}),
}
# What the monitor service (no person) may write.
SERVICE_ACTIONS = frozenset({"readings.add", "alarm.record"})

ACTION_WORDS = {
    "patient.register": "register a patient",
    "patient.correct": "correct a patient's details",
    "trial.plan": "plan a trial",
    "trial.status": "change a trial's stage",
    "trial.close_with_conditions": "close the monitoring window while a condition is present",
    "trial.extend_window": "extend the monitoring window",
    "device.assign": "assign a device",
    "injection.record": "record an injection",
    "observation.record": "record observations",
    "assessment.record": "record spasticity scores",
    "alarm.acknowledge": "acknowledge an alarm",
    "decision.sign": "sign the decision",
    "trial.export": "export a trial report",
    "user.manage": "manage accounts",
    "readings.add": "write device readings",
    "alarm.record": "write alarm events",
}


def require(actor: Actor, action: str) -> None:
    if actor.is_service:
        if action in SERVICE_ACTIONS:
            return
    elif actor.roles & PERMISSIONS.get(action, frozenset()):
        return
    allowed = ", ".join(sorted(r.value.replace("_", " ") for r in PERMISSIONS.get(action, ())))
    who = f" ({allowed})" if allowed else ""
    raise NotPermitted(
        f"{actor.username} may not {ACTION_WORDS.get(action, action)}: "
        f"that needs another role{who}."
    )


def still_may_act(session: Session, actor: Actor) -> None:
    """The account as it stands now, inside the action's own transaction: an account disabled,
    or stripped of a role it signed in with, stops acting at once (a screen signed in before
    the change holds an Actor that still says otherwise). Every clinical write audits through
    here, so none escapes it. The monitor service and a failed sign-in (no person) are not
    accounts a person holds."""
    if actor.is_service or not actor.user_id:
        return
    user = session.get(User, actor.user_id)
    allowed = False
    if user is not None:
        # Judged by the account as it stood when this action began, or as this very action
        # leaves it (an administrator changing their own roles, a single sign-on updating the
        # groups' roles): a row this transaction did not touch is the same both ways.
        state = inspect(user)
        for roles, active in (
            ((state.attrs.roles.history.deleted or [user.roles])[0],
             (state.attrs.active.history.deleted or [user.active])[0]),
            (user.roles, user.active),
        ):
            held = frozenset(Role(r) for r in roles.split(",") if r)
            allowed = allowed or (bool(active) and actor.roles <= held)
    if not allowed:
        raise NotPermitted(
            f"The account {actor.username} has been disabled or its roles have changed since "
            "it signed in: nothing was recorded. Sign in again."
        )


class Store:
    """The engine, the ward's clock and zone, and the transaction helpers."""

    def __init__(self, engine: Engine, zone: ZoneInfo, clock: Clock = utc_now) -> None:
        self.engine = engine
        self.zone = zone
        self.clock = clock
        self._read = sessionmaker(engine, expire_on_commit=False)
        self._write = sessionmaker(
            engine.execution_options(sqlite_begin="IMMEDIATE"), expire_on_commit=False
        )

    def now(self) -> datetime:
        return self.clock().astimezone(UTC)

    @contextmanager
    def reading(self) -> Iterator[Session]:
        with self._read() as session:
            yield session

    @contextmanager
    def writing(self) -> Iterator[Session]:
        """One transaction: committed when the block ends, rolled back whole on any error."""
        with self._write() as session, session.begin():
            yield session

    def audit(
        self,
        session: Session,
        actor: Actor,
        action: str,
        entity: str,
        entity_id: int | None,
        trial_id: int | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        still_may_act(session, actor)
        session.add(
            AuditEntry(
                at=self.now(),
                user_id=actor.user_id or None,  # 0: nobody known (failed sign-in)
                username=actor.username,
                action=action,
                entity=entity,
                entity_id=entity_id,
                trial_id=trial_id,
                details=details,
            )
        )

    def audit_per_trial(
        self,
        session: Session,
        actor: Actor,
        action: str,
        entity: str,
        details_by_trial: dict[int, dict[str, Any]],
    ) -> None:
        """One audit entry per trial for a batch write, inserted in one statement (the monitor
        writes readings of every trial in monitoring twice a second)."""
        if not details_by_trial:
            return
        at = self.now()
        session.execute(
            insert(AuditEntry),
            [
                {
                    "at": at,
                    "user_id": actor.user_id or None,
                    "username": actor.username,
                    "action": action,
                    "entity": entity,
                    "entity_id": None,
                    "trial_id": trial_id,
                    "details": details,
                }
                for trial_id, details in details_by_trial.items()
            ],
        )
