"""Accounts: who may sign in, with which roles; sign-in with throttling; sign-in sessions.

Passwords are stored only as argon2id hashes, checked outside any write transaction (the
check takes a tenth of a second; the monitor's writes must never wait behind it). There is no
default password anywhere: the first start asks for the first administrator.

An ``Actor`` is issued here only: by a sign-in (password, or the hospital's single sign-on),
or as the monitor's service identity. It carries the token of its sign-in session, which the
record checks at every write (observations/store.py ``still_may_act``).
"""

from __future__ import annotations

import re
import secrets
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from observations.errors import AlreadyRecorded, InvalidEntry, NotFound, NotPermitted
from observations.free_text import clean_text, fit_text, max_chars
from observations.limits import load_limits
from observations.passwords import check_new_password
from observations.schema import ExternalIdentity, SignInSession, SignInThrottle, User
from observations.store import (
    Actor,
    Reauthentication,
    Store,
    open_session,
    require,
    token_digest,
)
from observations.views import UserView
from vocabulary import Role

SERVICE_USERNAME = "monitor-service"
# Created only by the demo (python -m monitor --demo, the dashboard's demo button); it has no
# password, so nobody can sign in as it.
DEMO_USERNAME = "demo.clinician"
DEMO_NURSE_USERNAME = "demo.nurse"
_SYSTEM_USERNAMES = (SERVICE_USERNAME, DEMO_USERNAME, DEMO_NURSE_USERNAME)
_USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
_hashing = load_limits().accounts.password_hash
_hasher = PasswordHasher(
    time_cost=_hashing.time_cost, memory_cost=_hashing.memory_kib, parallelism=_hashing.parallelism
)
# Verified against when the username is unknown, so a wrong name takes as long as a wrong password.
_DUMMY_HASH = _hasher.hash("no such account")


def _roles_of(user: User) -> frozenset[Role]:
    return frozenset(Role(r) for r in user.roles.split(",") if r)


class SignInRefused(NotPermitted):
    """Wrong name or password, a disabled account, or too many attempts: say which, not more."""


def _roles_text(roles: set[Role] | frozenset[Role]) -> str:
    if not roles:
        raise InvalidEntry.single("roles", "Choose at least one role.")
    return ",".join(sorted(Role(r).value for r in roles))


def _issue(session: Session, user: User, kind: str, now: datetime) -> Actor:
    """Open a sign-in session for ``user`` and hand out the only copy of its token."""
    token = secrets.token_urlsafe(32)
    session.add(
        SignInSession(
            token_sha256=token_digest(token),
            user_id=user.id,
            kind=kind,
            started_at=now,
        )
    )
    session.flush()
    return Actor(
        user.id, user.username, _roles_of(user), is_service=kind == "service", session_token=token
    )


def _end_sessions(session: Session, user_id: int, reason: str, now: datetime) -> None:
    session.execute(
        update(SignInSession)
        .where(
            SignInSession.user_id == user_id,
            SignInSession.ended_at.is_(None),
            SignInSession.kind != "service",
        )
        .values(ended_at=now, end_reason=reason)
    )


def _identity(issuer: str, subject: str) -> tuple[str, str]:
    """The identity provider's issuer and subject exactly as given (no case folding, no
    trimming inside: two subjects differing only there are two people)."""
    try:
        return (
            clean_text("issuer", issuer.strip(), "sso", required=True, as_given=True),
            clean_text("subject", subject.strip(), "sso", required=True, as_given=True),
        )
    except InvalidEntry:
        raise SignInRefused("The hospital sign-in gave no usable identity: ask IT.") from None


def _hash(password: str) -> str:
    return _hasher.hash(password)


class Users:
    def __init__(self, store: Store) -> None:
        self._store = store

    # ------------------------------------------------------------------ accounts

    def first_admin_needed(self) -> bool:
        with self._store.reading() as session:
            return not session.scalar(
                select(User.id).where(User.username.not_in(_SYSTEM_USERNAMES))
            )

    def create(
        self,
        actor: Actor | None,
        username: str,
        display_name: str,
        roles: set[Role],
        password: str,
    ) -> UserView:
        """Create a local account with a password. ``actor`` is None only for the very first
        (administrator) account. Single sign-on accounts are made by their first sign-in."""
        username = clean_text(
            "username", username, "username", required=True, missing="Enter a username."
        ).lower()
        if not _USERNAME.match(username):
            raise InvalidEntry.single(
                "username", "A username is lower-case letters, digits, '.', '-' or '_' (max 64)."
            )
        if username in _SYSTEM_USERNAMES:
            raise InvalidEntry.single("username", f"'{username}' is reserved.")
        display_name = clean_text(
            "display_name",
            display_name,
            "name",
            required=True,
            missing="Enter the person's name.",
        )
        roles_text = _roles_text(roles)
        check_new_password(username, password)
        password_hash = _hash(password)  # slow: before the transaction, never inside it
        with self._store.writing() as session:
            if actor is None:
                # Writers are serialised (Store.writing), so two "first administrators"
                # created at once cannot both find the record empty.
                if session.scalar(select(User.id).where(User.username.not_in(_SYSTEM_USERNAMES))):
                    raise NotPermitted("Only an administrator can add accounts once one exists.")
                if Role.ADMIN not in roles:
                    raise InvalidEntry.single("roles", "The first account must be an admin.")
            else:
                require(actor, "user.manage")
            if session.scalar(select(User.id).where(User.username == username)):
                raise AlreadyRecorded(f"The username '{username}' is already taken.")
            user = User(
                username=username,
                display_name=display_name,
                roles=roles_text,
                password_hash=password_hash,
                active=True,
                created_at=self._store.now(),
            )
            session.add(user)
            session.flush()
            details = {"username": username, "roles": roles_text}
            if actor is None:
                self._store.audit_unsigned(
                    session, username, "user.create", user.id, {**details, "first": True}
                )
            else:
                self._store.audit(session, actor, "user.create", "user", user.id, details=details)
            return UserView.model_validate(user)

    def change(
        self,
        actor: Actor,
        username: str,
        roles: set[Role] | None = None,
        active: bool | None = None,
        password: str | None = None,
    ) -> UserView:
        """Change roles, enable/disable, or reset a password (a configuration change, audited).
        A change of roles or a disabling ends the account's sign-ins at once: its screens ask
        for a new sign-in, and anything they try meanwhile is refused."""
        require(actor, "user.manage")
        password_hash = None
        if password is not None:
            check_new_password(username.strip().lower(), password)
            password_hash = _hash(password)
        with self._store.writing() as session:
            user = self._load(session, username)
            before = {"roles": user.roles, "active": user.active}
            if roles is not None:
                user.roles = _roles_text(roles)
            if active is not None:
                if not active and user.id == actor.user_id:
                    raise InvalidEntry.single("active", "You cannot disable your own account.")
                user.active = active
            if password_hash is not None:
                if user.username in _SYSTEM_USERNAMES:
                    raise InvalidEntry.single("password", "This account never signs in.")
                user.password_hash = password_hash
            if Role.ADMIN.value not in user.roles.split(",") or not user.active:
                self._keep_an_admin(session, user.id)
            self._store.audit(
                session,
                actor,
                "user.change",
                "user",
                user.id,
                details={
                    "username": user.username,
                    "before": before,
                    "after": {"roles": user.roles, "active": user.active},
                    "password_reset": password is not None,
                },
            )
            after = {"roles": user.roles, "active": user.active}
            if after != before or password_hash is not None:
                reason = "account disabled" if not user.active else "account changed"
                _end_sessions(session, user.id, reason, self._store.now())
            return UserView.model_validate(user)

    def change_own_password(self, actor: Actor, current: str, new: str) -> None:
        check_new_password(actor.username, new)
        self._check_password_of(actor.username, current, "auth.password_check_failed")
        new_hash = _hash(new)
        with self._store.writing() as session:
            user = session.get(User, actor.user_id)
            if user is None:
                raise NotFound("Your account is not in the record.")
            user.password_hash = new_hash
            self._store.audit(session, actor, "user.password", "user", user.id)

    def unlock(self, actor: Actor, username: str) -> None:
        """An administrator clears an account's count of failed passwords (after a stranger's
        guesses, or a person who forgot): the next sign-in is not slowed."""
        require(actor, "user.manage")
        with self._store.writing() as session:
            user = self._load(session, username)
            row = session.get(SignInThrottle, user.username)
            failures = row.failures if row is not None else 0
            if row is not None:
                row.failures, row.last_failure_at = 0, None
                row.updated_at = self._store.now()
            self._store.audit(
                session,
                actor,
                "user.unlock",
                "user",
                user.id,
                details={"username": user.username, "failures_cleared": failures},
            )

    def get(self, username: str) -> UserView:
        with self._store.reading() as session:
            return UserView.model_validate(self._load(session, username))

    def by_id(self, user_id: int) -> UserView:
        with self._store.reading() as session:
            user = session.get(User, user_id)
            if user is None:
                raise NotFound(f"There is no account with id {user_id}.")
            return UserView.model_validate(user)

    def all(self) -> list[UserView]:
        with self._store.reading() as session:
            rows = session.scalars(
                select(User).where(User.username != SERVICE_USERNAME).order_by(User.username)
            )
            return [UserView.model_validate(u) for u in rows]

    def signs_with_password(self, actor: Actor) -> bool:
        """Whether this person confirms a signature with a password (a local account) or with
        a fresh hospital sign-in (single sign-on)."""
        with self._store.reading() as session:
            user = session.get(User, actor.user_id)
            return user is not None and user.password_hash is not None

    def failed_attempts(self, username: str) -> int:
        """Failed passwords counted against the account now (0 after a success or an unlock)."""
        with self._store.reading() as session:
            row = session.get(SignInThrottle, username.strip().lower())
            return row.failures if row is not None else 0

    # ------------------------------------------------------------------ system identities

    def service_actor(self) -> Actor:
        """The monitor process's identity for device readings and alarm events. Called by the
        monitor service only (a test keeps pages from calling it); each call opens a service
        session of its own."""
        return self._system_actor(SERVICE_USERNAME, "Monitor service", "", "monitor", "service")

    def demo_clinician(self) -> Actor:
        """The clinician who sets up demo trials (doctor and nurse specialist, no password)."""
        roles = _roles_text({Role.DOCTOR, Role.NURSE_SPECIALIST})
        return self._system_actor(DEMO_USERNAME, "Demo clinician", roles, "demo", "system")

    def demo_nurse(self) -> Actor:
        """The ward nurse of recorded demo days (observations, acknowledgements; no password)."""
        return self._system_actor(
            DEMO_NURSE_USERNAME, "Demo nurse", Role.NURSE.value, "demo", "system"
        )

    def _system_actor(
        self, username: str, display_name: str, roles: str, source: str, kind: str
    ) -> Actor:
        with self._store.writing() as session:
            user = session.scalar(select(User).where(User.username == username))
            created = user is None
            if user is None:
                user = User(
                    username=username,
                    display_name=display_name,
                    roles=roles,
                    password_hash=None,
                    active=True,
                    created_at=self._store.now(),
                )
                session.add(user)
                session.flush()
            actor = _issue(session, user, kind, self._store.now())
            if created:
                self._store.audit(
                    session,
                    actor,
                    "user.create",
                    "user",
                    user.id,
                    details={"username": username, "roles": roles, "source": source},
                )
            return actor

    # ------------------------------------------------------------------ signing in and out

    def sign_in(self, username: str, password: str) -> Actor:
        """Check a password; every attempt is audited, repeated failures are slowed down.

        Three short transactions around the slow hash check: the attempt is counted first (so
        concurrent guesses are throttled as if they came one by one), the hash is checked
        outside any transaction, and a success clears the count and opens a session."""
        try:
            name = clean_text("username", username, "username", required=True).lower()
        except InvalidEntry:  # NUL, too long...: no such account, and nothing of it stored
            raise SignInRefused("That username and password do not match.") from None
        user_id = self._check_password_of(name, password, "auth.sign_in_failed")
        rehash = None
        with self._store.reading() as session:
            user = session.get(User, user_id)
            if user is not None and _hasher.check_needs_rehash(user.password_hash or ""):
                rehash = _hash(password)
        with self._store.writing() as session:
            user = session.get(User, user_id)
            if user is None or not user.active or user.username in _SYSTEM_USERNAMES:
                self._store.audit_unsigned(session, name, "auth.sign_in_failed", user_id)
                refusal = "This account is disabled: ask an administrator."
            else:
                if rehash is not None:
                    user.password_hash = rehash
                actor = _issue(session, user, "person", self._store.now())
                self._store.audit(session, actor, "auth.sign_in", "user", user.id)
                return actor
        raise SignInRefused(refusal)

    def confirm_password(self, actor: Actor, password: str, purpose: str) -> Reauthentication:
        """Ask again for the password before a signature (e.g. the responder decision). The
        proof returned is good for that one signature, for accounts.reauthentication_seconds;
        wrong passwords count towards the same throttle as sign-in."""
        with self._store.reading() as session:
            if open_session(session, actor) is None:
                raise SignInRefused("Your sign-in has ended: sign in again; nothing was signed.")
        self._check_password_of(
            actor.username,
            password,
            "auth.confirm_failed",
            refusal="The password is not right: nothing was signed.",
            purpose=purpose,
        )
        with self._store.writing() as session:
            user = session.get(User, actor.user_id)
            if user is None:
                raise SignInRefused("Your account is not in the record: nothing was signed.")
            proof = _issue(session, user, "reauth", self._store.now())
            self._store.audit(
                session, actor, "auth.confirm", "user", user.id, details={"purpose": purpose}
            )
            return Reauthentication(user.id, proof.session_token)

    def confirm_external(
        self, actor: Actor, issuer: str, subject: str, authenticated_at: datetime, purpose: str
    ) -> Reauthentication:
        """The single sign-on counterpart of ``confirm_password``: the identity provider says
        this person authenticated at ``authenticated_at`` (its auth_time claim, after a login
        forced afresh); good for one signature when that was within
        accounts.reauthentication_seconds and the identity is the actor's own."""
        max_age = timedelta(seconds=load_limits().accounts.reauthentication_seconds)
        issuer, subject = _identity(issuer, subject)
        with self._store.writing() as session:
            identity = session.scalar(
                select(ExternalIdentity).where(
                    ExternalIdentity.issuer == issuer, ExternalIdentity.subject == subject
                )
            )
            now = self._store.now()
            if (
                identity is None
                or identity.user_id != actor.user_id
                or not now - max_age <= authenticated_at <= now + timedelta(seconds=5)
            ):
                self._store.audit(
                    session,
                    actor,
                    "auth.confirm_failed",
                    "user",
                    actor.user_id,
                    details={"purpose": purpose, "source": "sso"},
                )
                refused = True
            else:
                refused = False
                user = session.get_one(User, actor.user_id)
                proof = _issue(session, user, "reauth", now)
                self._store.audit(
                    session,
                    actor,
                    "auth.confirm",
                    "user",
                    user.id,
                    details={"purpose": purpose, "source": "sso"},
                )
        if refused:
            raise SignInRefused(
                "The hospital sign-in was not made afresh just now: sign in again with your "
                "hospital account, then sign; nothing was signed."
            )
        return Reauthentication(actor.user_id, proof.session_token)

    def sign_in_external(
        self,
        issuer: str,
        subject: str,
        display_name: str,
        groups: list[str],
        group_roles: dict[str, Role],
    ) -> Actor:
        """Hospital single sign-on: the identity is the issuer and its subject, exactly as the
        identity provider gives them (never a local account, never another person's whose
        name looks alike); the identity provider's groups decide the roles at each sign-in."""
        issuer, subject = _identity(issuer, subject)
        roles = {group_roles[g] for g in groups if g in group_roles}
        if not roles:
            raise SignInRefused(
                "Your hospital account is not in any group that gives access to this system."
            )
        roles_text = _roles_text(roles)
        now = self._store.now()
        with self._store.writing() as session:
            identity = session.scalar(
                select(ExternalIdentity).where(
                    ExternalIdentity.issuer == issuer, ExternalIdentity.subject == subject
                )
            )
            if identity is None:
                user = User(
                    username=self._external_username(session, issuer, subject),
                    display_name=fit_text(display_name.strip(), "name")
                    or subject[: max_chars("name")],
                    roles=roles_text,
                    password_hash=None,
                    active=True,
                    created_at=now,
                )
                session.add(user)
                session.flush()
                session.add(
                    ExternalIdentity(
                        issuer=issuer, subject=subject, user_id=user.id, created_at=now
                    )
                )
                actor = _issue(session, user, "person", now)
                self._store.audit(
                    session,
                    actor,
                    "user.create",
                    "user",
                    user.id,
                    details={"username": user.username, "roles": roles_text, "source": "sso"},
                )
            else:
                user = session.get_one(User, identity.user_id)
                if not user.active:
                    raise SignInRefused("This account is disabled: ask an administrator.")
                if user.roles != roles_text:
                    before = user.roles
                    user.roles = roles_text
                    _end_sessions(session, user.id, "roles changed (single sign-on)", now)
                    actor = _issue(session, user, "person", now)
                    self._store.audit(
                        session,
                        actor,
                        "user.change",
                        "user",
                        user.id,
                        details={
                            "before": {"roles": before},
                            "after": {"roles": roles_text},
                            "source": "sso",
                        },
                    )
                else:
                    actor = _issue(session, user, "person", now)
            self._store.audit(
                session, actor, "auth.sign_in", "user", user.id, details={"source": "sso"}
            )
            return actor

    def sign_out(self, actor: Actor, reason: str = "signed out") -> None:
        """End the sign-in (the screen forgets its token too). Nothing happens if it has
        ended already."""
        with self._store.writing() as session:
            row = open_session(session, actor)
            if row is None:
                return
            self._store.audit(
                session,
                actor,
                "auth.sign_out",
                "user",
                actor.user_id,
                details={"reason": reason[:60]},
            )
            row.ended_at, row.end_reason = self._store.now(), reason[:60]

    def actor_for(self, actor: Actor) -> Actor | None:
        """The person behind a screen's sign-in as the record stands now: their current roles,
        or None when the sign-in has ended (signed out, disabled, roles changed, too old)."""
        with self._store.reading() as session:
            if open_session(session, actor) is None:
                return None
            user = session.get(User, actor.user_id)
            if user is None or not user.active:
                return None
            return Actor(
                user.id,
                user.username,
                _roles_of(user),
                actor.is_service,
                session_token=actor.session_token,
            )

    # ------------------------------------------------------------------ helpers

    def _check_password_of(
        self,
        username: str,
        password: str,
        failed_action: str,
        *,
        refusal: str = "That username and password do not match.",
        purpose: str | None = None,
    ) -> int:
        """The throttled password check: count the attempt as failed first, in a short write
        transaction (so guesses made at the same moment are counted one after another), check
        the hash outside any transaction, then clear the count on success. Returns the
        account's id; raises SignInRefused otherwise (audited)."""
        limits = load_limits().accounts
        details = {"purpose": purpose} if purpose else None
        with self._store.writing() as session:
            now = self._store.now()
            row = session.get(SignInThrottle, username)
            if row is None:
                row = SignInThrottle(username=username, failures=0, updated_at=now)
                session.add(row)
            window = timedelta(minutes=limits.failure_window_minutes)
            if row.last_failure_at is not None and now - row.last_failure_at > window:
                row.failures = 0
            wait = self._wait(row.failures, row.last_failure_at, now)
            user = session.scalar(select(User).where(User.username == username))
            if wait is not None:
                self._store.audit_unsigned(
                    session,
                    username,
                    "auth.sign_in_throttled",
                    user.id if user else None,
                    {"wait_seconds": round(wait.total_seconds()), **(details or {})},
                )
                throttled = (
                    f"Too many wrong passwords for '{username}'. Try again in "
                    f"{_seconds(wait)}, or ask an administrator."
                )
            else:
                throttled = None
                row.failures += 1
                row.last_failure_at = row.updated_at = now
                stored = user.password_hash if user is not None else None
                user_id = user.id if user is not None else None
        if throttled is not None:
            raise SignInRefused(throttled)
        matches = self._verify(stored, password)  # also for unknown names: equal timing
        if user_id is None or not matches:
            with self._store.writing() as session:
                self._store.audit_unsigned(session, username, failed_action, user_id, details)
            raise SignInRefused(refusal)
        with self._store.writing() as session:
            row = session.get(SignInThrottle, username)
            if row is not None:
                row.failures, row.last_failure_at = 0, None
                row.updated_at = self._store.now()
        return user_id

    @staticmethod
    def _wait(failures: int, last: datetime | None, now: datetime) -> timedelta | None:
        limits = load_limits().accounts
        if failures < limits.free_attempts or last is None:
            return None
        delay = min(
            limits.first_delay_seconds * 2 ** (failures - limits.free_attempts),
            limits.max_delay_seconds,
        )
        wait = last + timedelta(seconds=delay) - now
        return wait if wait > timedelta(0) else None

    @staticmethod
    def _external_username(session: Session, issuer: str, subject: str) -> str:
        """A readable, unique name for a single sign-on account: the subject and the issuer's
        host, with '@' (which no local username has), numbered if taken."""
        host = urlsplit(issuer).hostname or issuer
        base = re.sub(r"[^a-z0-9._@-]", ".", f"{subject.lower()}@{host.lower()}")
        if "@" not in base[:58]:
            base = base[:50] + "@sso"
        base = base[:58]
        name, n = base, 1
        while session.scalar(select(User.id).where(User.username == name)):
            n += 1
            name = f"{base}~{n}"
        return name

    @staticmethod
    def _verify(stored: str | None, password: str) -> bool:
        try:
            if not stored:
                _hasher.verify(_DUMMY_HASH, password)
                return False
            return _hasher.verify(stored, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    @staticmethod
    def _load(session: Session, username: str) -> User:
        try:
            name = clean_text("username", username, "username", required=True).lower()
        except InvalidEntry:
            raise NotFound("There is no such account.") from None
        user = session.scalar(select(User).where(User.username == name))
        if user is None or user.username == SERVICE_USERNAME:
            raise NotFound(f"There is no account '{username}'.")
        return user

    @staticmethod
    def _keep_an_admin(session: Session, changing_id: int) -> None:
        others = session.scalars(
            select(User).where(User.id != changing_id, User.active.is_(True))
        ).all()
        if not any(Role.ADMIN.value in u.roles.split(",") for u in others):
            raise InvalidEntry.single("roles", "At least one active administrator must remain.")


def _seconds(wait: timedelta) -> str:
    n = max(1, round(wait.total_seconds()))
    return f"{n} second" if n == 1 else f"{n} seconds"
