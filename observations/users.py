"""Accounts: who may sign in, with which roles; sign-in with throttling; the service identity.

Passwords are stored only as argon2id hashes. There is no default password anywhere: the first
start asks for the first administrator.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from observations.errors import AlreadyRecorded, InvalidEntry, NotFound, NotPermitted
from observations.limits import load_limits
from observations.schema import AuditEntry, User
from observations.store import Actor, Store, require
from observations.views import UserView
from vocabulary import Role

SERVICE_USERNAME = "monitor-service"
# Created only by the demo (python -m monitor --demo, the dashboard's demo button); it has no
# password, so nobody can sign in as it.
DEMO_USERNAME = "demo.clinician"
DEMO_NURSE_USERNAME = "demo.nurse"
_SYSTEM_USERNAMES = (SERVICE_USERNAME, DEMO_USERNAME, DEMO_NURSE_USERNAME)
_USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
_hasher = PasswordHasher()
# Verified against when the username is unknown, so a wrong name takes as long as a wrong password.
_DUMMY_HASH = _hasher.hash("no such account")


def actor_of(user: User | UserView) -> Actor:
    roles = frozenset(Role(r) for r in user.roles.split(",") if r)
    return Actor(user.id, user.username, roles, is_service=user.username == SERVICE_USERNAME)


class SignInRefused(NotPermitted):
    """Wrong name or password, a disabled account, or too many attempts: say which, not more."""


def _check_password(password: str) -> None:
    minimum = load_limits().accounts.min_password_length
    if len(password) < minimum:
        raise InvalidEntry.single(
            "password", f"A password needs at least {minimum} characters (a short phrase works)."
        )
    if len(password) > 1024:
        raise InvalidEntry.single("password", "That password is too long.")


def _roles_text(roles: set[Role] | frozenset[Role]) -> str:
    if not roles:
        raise InvalidEntry.single("roles", "Choose at least one role.")
    return ",".join(sorted(Role(r).value for r in roles))


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
        password: str | None = None,
    ) -> UserView:
        """Create an account. ``actor`` is None only for the very first (admin) account.

        ``password`` None makes an account that can only sign in through single sign-on.
        """
        username = username.strip().lower()
        if not _USERNAME.match(username):
            raise InvalidEntry.single(
                "username", "A username is lower-case letters, digits, '.', '-' or '_' (max 64)."
            )
        if username == SERVICE_USERNAME:
            raise InvalidEntry.single("username", f"'{SERVICE_USERNAME}' is reserved.")
        if not display_name.strip() or len(display_name) > 120:
            raise InvalidEntry.single("display_name", "Enter the person's name (max 120).")
        roles_text = _roles_text(roles)
        if password is not None:
            _check_password(password)
        with self._store.writing() as session:
            if actor is None:
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
                display_name=display_name.strip(),
                roles=roles_text,
                password_hash=_hasher.hash(password) if password is not None else None,
                active=True,
                created_at=self._store.now(),
            )
            session.add(user)
            session.flush()
            self._store.audit(
                session,
                actor or actor_of(user),
                "user.create",
                "user",
                user.id,
                details={"username": username, "roles": roles_text},
            )
            return UserView.model_validate(user)

    def change(
        self,
        actor: Actor,
        username: str,
        roles: set[Role] | None = None,
        active: bool | None = None,
        password: str | None = None,
    ) -> UserView:
        """Change roles, enable/disable, or reset a password (a configuration change, audited)."""
        require(actor, "user.manage")
        if password is not None:
            _check_password(password)
        with self._store.writing() as session:
            user = self._load(session, username)
            before = {"roles": user.roles, "active": user.active}
            if roles is not None:
                user.roles = _roles_text(roles)
            if active is not None:
                if not active and user.id == actor.user_id:
                    raise InvalidEntry.single("active", "You cannot disable your own account.")
                user.active = active
            if password is not None:
                user.password_hash = _hasher.hash(password)
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
            return UserView.model_validate(user)

    def change_own_password(self, actor: Actor, current: str, new: str) -> None:
        _check_password(new)
        with self._store.writing() as session:
            user = session.get(User, actor.user_id)
            if user is None or not self._verify(user, current):
                raise SignInRefused("The current password is not right.")
            user.password_hash = _hasher.hash(new)
            self._store.audit(session, actor, "user.password", "user", user.id)

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

    def service_actor(self) -> Actor:
        """The monitor's identity for device readings and alarm events (created once)."""
        return self._system_actor(SERVICE_USERNAME, "Monitor service", "", "monitor")

    def demo_clinician(self) -> Actor:
        """The clinician who sets up demo trials (doctor and nurse specialist, no password)."""
        roles = _roles_text({Role.DOCTOR, Role.NURSE_SPECIALIST})
        return self._system_actor(DEMO_USERNAME, "Demo clinician", roles, "demo")

    def demo_nurse(self) -> Actor:
        """The ward nurse of recorded demo days (observations, acknowledgements; no password)."""
        return self._system_actor(DEMO_NURSE_USERNAME, "Demo nurse", Role.NURSE.value, "demo")

    def _system_actor(self, username: str, display_name: str, roles: str, source: str) -> Actor:
        with self._store.writing() as session:
            user = session.scalar(select(User).where(User.username == username))
            if user is None:
                user = self._add_passwordless(session, username, display_name, roles, source)
            return actor_of(user)

    # ------------------------------------------------------------------ signing in

    def sign_in(self, username: str, password: str) -> Actor:
        """Check a password; every attempt is audited, repeated failures are slowed down."""
        name = username.strip().lower()[:64]
        refusal: str | None = None
        nobody = Actor(0, name, frozenset())  # user_id 0 is written as no user
        # The audit entry of a refusal must be committed, so refusals are raised after the block.
        with self._store.writing() as session:
            wait = self._throttle(session, name)
            user = session.scalar(select(User).where(User.username == name))
            if wait is not None:
                self._store.audit(
                    session,
                    nobody,
                    "auth.sign_in_throttled",
                    "user",
                    None,
                    details={"wait_seconds": round(wait.total_seconds())},
                )
                refusal = (
                    f"Too many failed sign-ins for '{name}'. Try again in "
                    f"{max(1, round(wait.total_seconds()))} seconds, or ask an administrator."
                )
            elif (
                not self._verify(user, password)
                or user is None
                or user.username == SERVICE_USERNAME
            ):
                self._store.audit(session, nobody, "auth.sign_in_failed", "user", None)
                refusal = "That username and password do not match."
            elif not user.active:
                self._store.audit(session, nobody, "auth.sign_in_failed", "user", user.id)
                refusal = "This account is disabled: ask an administrator."
            else:
                if _hasher.check_needs_rehash(user.password_hash or ""):
                    user.password_hash = _hasher.hash(password)
                self._store.audit(session, actor_of(user), "auth.sign_in", "user", user.id)
                return actor_of(user)
        raise SignInRefused(refusal)

    def confirm_password(self, actor: Actor, password: str, purpose: str) -> None:
        """Ask again for the password before a signature (e.g. the responder decision)."""
        with self._store.writing() as session:
            user = session.get(User, actor.user_id)
            if user is not None and user.active and self._verify(user, password):
                return
            self._store.audit(
                session,
                actor,
                "auth.confirm_failed",
                "user",
                actor.user_id,
                details={"purpose": purpose},
            )
        raise SignInRefused("The password is not right: nothing was signed.")

    def sign_in_external(
        self, subject: str, display_name: str, groups: list[str], group_roles: dict[str, Role]
    ) -> Actor:
        """Hospital single sign-on: identity-provider groups decide the roles at each sign-in."""
        roles = {group_roles[g] for g in groups if g in group_roles}
        name = re.sub(r"[^a-z0-9._-]", ".", subject.strip().lower())[:64].strip(".")
        if not roles:
            raise SignInRefused(
                "Your hospital account is not in any group that gives access to this system."
            )
        with self._store.writing() as session:
            user = session.scalar(select(User).where(User.username == name))
            roles_text = _roles_text(roles)
            if user is None:
                user = self._add_passwordless(
                    session, name, display_name.strip() or name, roles_text, "sso"
                )
            elif not user.active:
                raise SignInRefused("This account is disabled: ask an administrator.")
            elif user.roles != roles_text:
                before = user.roles
                user.roles = roles_text
                self._store.audit(
                    session,
                    actor_of(user),
                    "user.change",
                    "user",
                    user.id,
                    details={
                        "before": {"roles": before},
                        "after": {"roles": roles_text},
                        "source": "sso",
                    },
                )
            self._store.audit(
                session,
                actor_of(user),
                "auth.sign_in",
                "user",
                user.id,
                details={"source": "sso"},
            )
            return actor_of(user)

    # ------------------------------------------------------------------ helpers

    def _throttle(self, session: Session, username: str) -> timedelta | None:
        """How long this name must wait, from its recent failures in the audit trail."""
        limits = load_limits().accounts
        since = self._store.now() - timedelta(minutes=limits.failure_window_minutes)
        last_success = session.scalar(
            select(func.max(AuditEntry.at)).where(
                AuditEntry.username == username, AuditEntry.action == "auth.sign_in"
            )
        )
        start = max(since, last_success) if last_success else since
        failures = session.execute(
            select(func.count(), func.max(AuditEntry.at)).where(
                AuditEntry.username == username,
                AuditEntry.action == "auth.sign_in_failed",
                AuditEntry.at > start,
            )
        ).one()
        count, last = int(failures[0] or 0), failures[1]
        if count < limits.free_attempts or last is None:
            return None
        delay = min(
            limits.first_delay_seconds * 2 ** (count - limits.free_attempts),
            limits.max_delay_seconds,
        )
        allowed_at: datetime = last + timedelta(seconds=delay)
        wait = allowed_at - self._store.now()
        return wait if wait > timedelta(0) else None

    def _add_passwordless(
        self, session: Session, username: str, display_name: str, roles: str, source: str
    ) -> User:
        """An account nobody can sign in to with a password (service, demo, single sign-on)."""
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
        self._store.audit(
            session,
            actor_of(user),
            "user.create",
            "user",
            user.id,
            details={"username": username, "roles": roles, "source": source},
        )
        return user

    @staticmethod
    def _verify(user: User | None, password: str) -> bool:
        stored = user.password_hash if user is not None else None
        try:
            if not stored:
                _hasher.verify(_DUMMY_HASH, password)
                return False
            return _hasher.verify(stored, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    @staticmethod
    def _load(session: Session, username: str) -> User:
        user = session.scalar(select(User).where(User.username == username.strip().lower()))
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
