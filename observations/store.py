"""Transactions, the people who act, what they may do, and the audit entry of every write.

Every clinical write goes through ``Store.writing``: one transaction that also holds its audit
entry, so either both are in the record or neither is.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Engine, inspect, select, text
from sqlalchemy.exc import DataError, IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from observations.audit_chain import GENESIS, chain
from observations.errors import AlreadyRecorded, InvalidEntry, NotPermitted
from observations.limits import load_limits
from observations.schema import AuditEntry, SignInSession, User
from vocabulary import Role

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Actor:
    """Who is acting: a signed-in person, or the monitor service writing device data.

    Issued only by the record (observations/users.py: a sign-in, or the monitor's service
    identity) with the token of its sign-in session. The roles here are what the screen may
    offer; what the person may do is decided by the record at each write, from the account and
    the session as they stand then. An Actor built by hand has no open session and is refused.
    """

    user_id: int
    username: str
    roles: frozenset[Role]
    is_service: bool = False
    session_token: str = field(default="", repr=False, compare=False)


def token_digest(token: str) -> str:
    """Only this is stored: someone reading the database cannot act as a signed-in person."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


# Every write transaction on PostgreSQL first takes this lock, as SQLite's BEGIN IMMEDIATE
# takes the database's write lock: writes are serialised, so the audit trail's hash chain has
# one order, and check-then-insert rules (the first administrator, sign-in throttling, one
# injection per trial) cannot race. The key is arbitrary but fixed (the app's own).
PG_WRITE_LOCK_KEY = 0x17B7_0001


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
    "audit.read": frozenset({Role.ADMIN, Role.DOCTOR}),
    # The ward's alarm figures (no patient identifiers): who owns and reviews the rule file.
    "alarm.review": frozenset({Role.DOCTOR, Role.NURSE_SPECIALIST, Role.ADMIN}),
    # Replaying recorded trial days through a candidate rule file: a bed's alarm times on a
    # given day are clinical data, for the clinical roles (the lead nurse owns the rule file).
    "alarm.what_if": frozenset(
        {Role.NURSE, Role.PHYSIOTHERAPIST, Role.NURSE_SPECIALIST, Role.DOCTOR}
    ),
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
    "audit.read": "read the audit trail",
    "alarm.review": "review the ward's alarms",
    "alarm.what_if": "replay recorded trial days through a rule file",
    "readings.add": "write device readings",
    "alarm.record": "write alarm events",
}


def may(actor: Actor, action: str) -> bool:
    """Whether the role table lets ``actor`` do ``action``: what `require` enforces, asked
    beforehand (a screen shows or hides a button by it)."""
    if actor.is_service:
        return action in SERVICE_ACTIONS
    return bool(actor.roles & PERMISSIONS.get(action, frozenset()))


def require(actor: Actor, action: str) -> None:
    if may(actor, action):
        return
    allowed = ", ".join(sorted(r.value.replace("_", " ") for r in PERMISSIONS.get(action, ())))
    who = f" ({allowed})" if allowed else ""
    raise NotPermitted(
        f"{actor.username} may not {ACTION_WORDS.get(action, action)}: "
        f"that needs another role{who}."
    )


def open_session(session: Session, actor: Actor) -> SignInSession | None:
    """The actor's sign-in session if it is open, belongs to that account and is not too old."""
    if not actor.session_token:
        return None
    row = session.scalar(
        select(SignInSession).where(SignInSession.token_sha256 == token_digest(actor.session_token))
    )
    if row is None or row.ended_at is not None or row.user_id != actor.user_id:
        return None
    if (row.kind == "service") != actor.is_service:
        return None
    if row.kind == "person" and _too_old(row.started_at, session.info["now"]):
        return None
    return row


@dataclass(frozen=True)
class Reauthentication:
    """Proof that the signer typed their password again a moment ago (Users.confirm_password):
    good for one signature within accounts.reauthentication_seconds."""

    user_id: int
    token: str = field(repr=False)


def use_reauthentication(
    session: Session, actor: Actor, proof: Reauthentication | None, purpose: str
) -> None:
    """Spend the proof that ``actor`` typed their password again a moment ago (Users.
    confirm_password): one signature per proof, within accounts.reauthentication_seconds."""
    now = session.info["now"]
    row = (
        session.scalar(
            select(SignInSession).where(SignInSession.token_sha256 == token_digest(proof.token))
        )
        if proof is not None and proof.token
        else None
    )
    max_age = timedelta(seconds=load_limits().accounts.reauthentication_seconds)
    if (
        row is None
        or row.kind != "reauth"
        or row.user_id != actor.user_id
        or row.ended_at is not None
        or row.started_at + max_age < now
    ):
        raise NotPermitted(
            "Signing needs your password typed again just before (it is good for one "
            "signature, for two minutes): nothing was signed."
        )
    row.ended_at, row.end_reason = now, f"used: {purpose}"[:60]


def still_may_act(session: Session, actor: Actor) -> None:
    """The account and its sign-in as they stand now, inside the action's own transaction:
    a session signed out or ended (account disabled, roles changed), an account disabled or
    stripped of a role, or an Actor made up by a caller, stops acting at once. Every clinical
    write audits through here, so none escapes it. Checked once per transaction and sign-in
    (one query: the monitor writes every half second)."""
    checked: set[str] = session.info.setdefault("signed_in", set())
    if actor.session_token and actor.session_token in checked:
        return
    allowed = False
    row = None
    if actor.session_token:
        row = session.execute(
            select(
                SignInSession.user_id,
                SignInSession.kind,
                SignInSession.started_at,
                SignInSession.ended_at,
                User.roles,
                User.active,
            )
            .join(User, User.id == SignInSession.user_id)
            .where(SignInSession.token_sha256 == token_digest(actor.session_token))
        ).one_or_none()
    if (
        row is not None
        and row.ended_at is None
        and row.user_id == actor.user_id
        and (row.kind == "service") == actor.is_service
        and (row.kind != "person" or not _too_old(row.started_at, session.info["now"]))
    ):
        states = [(row.roles, row.active)]
        user = next(
            (
                o
                for o in session.identity_map.values()
                if isinstance(o, User) and o.id == actor.user_id
            ),
            None,
        )
        if user is not None:
            # Changed in this very transaction (an administrator changing their own roles, a
            # single sign-on updating the groups' roles): judged as it stood when the action
            # began, or as the action leaves it.
            state = inspect(user)
            states = [
                (
                    (state.attrs.roles.history.deleted or [user.roles])[0],
                    (state.attrs.active.history.deleted or [user.active])[0],
                ),
                (user.roles, user.active),
            ]
        for roles, active in states:
            held = frozenset(Role(r) for r in roles.split(",") if r)
            allowed = allowed or (bool(active) and actor.roles <= held)
    if not allowed:
        raise NotPermitted(
            f"The sign-in of {actor.username} has ended (signed out, the account disabled or "
            "its roles changed) or was never made: nothing was recorded. Sign in again."
        )
    checked.add(actor.session_token)


def _too_old(started_at: datetime, now: datetime) -> bool:
    started = started_at if started_at.tzinfo else started_at.replace(tzinfo=UTC)
    return started + timedelta(hours=load_limits().accounts.session_max_hours) <= now


class Store:
    """The engine, the ward's clock and zone, and the transaction helpers."""

    def __init__(self, engine: Engine, zone: ZoneInfo, clock: Clock = utc_now) -> None:
        self.engine = engine
        self.zone = zone
        self.clock = clock
        self._read = sessionmaker(engine, expire_on_commit=False)
        # Writers begin with BEGIN IMMEDIATE on SQLite: the write lock at once, not at the
        # first write (which could fail half-way through a transaction that read first).
        self._write_engine = engine.execution_options(sqlite_begin="IMMEDIATE")
        self._write = sessionmaker(self._write_engine, expire_on_commit=False)

    def connect_for_writing(self) -> Connection:
        """A connection for a writer that holds one across its transactions (`writing`),
        beginning them as the pool's writers do (BEGIN IMMEDIATE on SQLite)."""
        return self._write_engine.connect()

    def now(self) -> datetime:
        return self.clock().astimezone(UTC)

    @contextmanager
    def reading(self) -> Iterator[Session]:
        with self._read() as session:
            session.info["now"] = self.now()  # the ward's clock, for sign-in checks
            yield session

    @contextmanager
    def writing(self, connection: Connection | None = None) -> Iterator[Session]:
        """One transaction: committed when the block ends, rolled back whole on any error.

        A value the database cannot store, or a clash with a row written a moment before,
        comes back as the record's own refusal, never as a raw database error. ``connection``:
        one the caller holds across many transactions (opened by `connect_for_writing`), else
        one from the pool."""
        session_of = (
            self._write
            if connection is None
            else partial(Session, bind=connection, expire_on_commit=False)
        )
        try:
            with session_of() as session, session.begin():
                session.info["now"] = self.now()
                if self.engine.dialect.name == "postgresql":
                    session.execute(
                        text("SELECT pg_advisory_xact_lock(:key)"), {"key": PG_WRITE_LOCK_KEY}
                    )
                yield session
        except DataError:
            raise InvalidEntry.single(
                "value",
                "A value is too long or holds characters the record cannot store: nothing was "
                "written. Shorten it or retype it.",
            ) from None
        except IntegrityError:
            raise AlreadyRecorded(
                "This clashes with something recorded a moment ago (perhaps by someone else): "
                "nothing was written. Look at the record again and retry if still needed."
            ) from None

    def _append_audit(self, session: Session, entries: list[dict[str, Any]]) -> None:
        """Insert audit entries at the end of the hash chain, in this order. The head is
        read once per transaction (writers are serialised, see ``writing``)."""
        head = session.info.get("audit_head")
        if head is None:
            with session.no_autoflush:
                head = (
                    session.scalar(
                        select(AuditEntry.row_hash).order_by(AuditEntry.id.desc()).limit(1)
                    )
                    or GENESIS
                )
        chained, session.info["audit_head"] = chain(head, entries)
        # Core insert of the table: the ORM's bulk path costs more than the row itself here.
        session.execute(AuditEntry.__table__.insert(), chained)

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
        self._append_audit(
            session,
            [
                {
                    "at": self.now(),
                    "user_id": actor.user_id,
                    "username": actor.username,
                    "action": action,
                    "entity": entity,
                    "entity_id": entity_id,
                    "trial_id": trial_id,
                    "details": details,
                }
            ],
        )

    def audit_unsigned(
        self,
        session: Session,
        username: str,
        action: str,
        user_id: int | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        """What happens before anyone is signed in: a failed or throttled sign-in (under the
        name typed), the first administrator's creation. Carries no roles, permits nothing."""
        if not (action.startswith("auth.") or action == "user.create"):
            raise ValueError(f"{action} needs a signed-in actor")
        self._append_audit(
            session,
            [
                {
                    "at": self.now(),
                    "user_id": user_id,
                    "username": username[:64],
                    "action": action,
                    "entity": "user",
                    "entity_id": user_id,
                    "trial_id": None,
                    "details": details,
                }
            ],
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
        still_may_act(session, actor)
        at = self.now()
        self._append_audit(
            session,
            [
                {
                    "at": at,
                    "user_id": actor.user_id,
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

    def audit_batch(
        self,
        session: Session,
        actor: Actor,
        action: str,
        entity: str,
        count_by_trial: dict[int, int],
    ) -> None:
        """One audit entry for a batch write of many rows across trials: who wrote how many
        (``received``) for which trials. A batch of one trial names it as the entry's trial;
        a batch of several lists each trial's count under ``by_trial`` (one entry a batch, not
        one a trial: the monitor writes every trial's readings twice a second)."""
        if not count_by_trial:
            return
        still_may_act(session, actor)
        details: dict[str, Any] = {"received": sum(count_by_trial.values())}
        trial_id = None
        if len(count_by_trial) == 1:
            [trial_id] = count_by_trial
        else:
            details["by_trial"] = {str(t): n for t, n in sorted(count_by_trial.items())}
        self.audit(session, actor, action, entity, None, trial_id, details)
