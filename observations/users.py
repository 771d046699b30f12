"""People who use the product, and the monitor service's own identity."""

from __future__ import annotations

from sqlalchemy import select

from observations.errors import AlreadyRecorded, InvalidEntry, NotFound
from observations.schema import User
from observations.store import Actor, Store, require
from observations.views import UserView
from vocabulary import Role

SERVICE_USERNAME = "monitor-service"


def actor_of(user: User | UserView) -> Actor:
    roles = frozenset(Role(r) for r in user.roles.split(",") if r)
    return Actor(user.id, user.username, roles, is_service=user.username == SERVICE_USERNAME)


class Users:
    def __init__(self, store: Store) -> None:
        self._store = store

    def create(
        self,
        actor: Actor | None,
        username: str,
        display_name: str,
        roles: set[Role],
        password_hash: str | None = None,
    ) -> UserView:
        """Create an account. ``actor`` None only while no account exists (the first admin)."""
        username = username.strip().lower()
        if (
            not username
            or len(username) > 64
            or not username.replace(".", "").replace("-", "").replace("_", "").isalnum()
        ):
            raise InvalidEntry.single(
                "username", "A username is letters, digits, '.', '-' or '_' (at most 64)."
            )
        if username == SERVICE_USERNAME:
            raise InvalidEntry.single("username", f"'{SERVICE_USERNAME}' is reserved.")
        if not display_name.strip():
            raise InvalidEntry.single("display_name", "Enter the person's name.")
        if not roles:
            raise InvalidEntry.single("roles", "Choose at least one role.")
        with self._store.writing() as session:
            if actor is None:
                if session.scalar(select(User.id).where(User.username != SERVICE_USERNAME)):
                    raise InvalidEntry.single(
                        "actor", "Only an administrator can add accounts once one exists."
                    )
            else:
                require(actor, "user.manage")
            if session.scalar(select(User.id).where(User.username == username)):
                raise AlreadyRecorded(f"The username '{username}' is already taken.")
            user = User(
                username=username,
                display_name=display_name.strip(),
                roles=",".join(sorted(r.value for r in roles)),
                password_hash=password_hash,
                active=True,
                created_at=self._store.now(),
            )
            session.add(user)
            session.flush()
            who = actor or actor_of(user)
            self._store.audit(
                session,
                who,
                "user.create",
                "user",
                user.id,
                details={"username": username, "roles": user.roles},
            )
            return UserView.model_validate(user)

    def get(self, username: str) -> UserView:
        with self._store.reading() as session:
            user = session.scalar(select(User).where(User.username == username.strip().lower()))
            if user is None:
                raise NotFound(f"There is no account '{username}'.")
            return UserView.model_validate(user)

    def all(self) -> list[UserView]:
        with self._store.reading() as session:
            rows = session.scalars(select(User).order_by(User.username))
            return [UserView.model_validate(u) for u in rows]

    def service_actor(self) -> Actor:
        """The monitor's identity for device readings and alarm events (created once)."""
        with self._store.writing() as session:
            user = session.scalar(select(User).where(User.username == SERVICE_USERNAME))
            if user is None:
                user = User(
                    username=SERVICE_USERNAME,
                    display_name="Monitor service",
                    roles="",
                    password_hash=None,
                    active=True,
                    created_at=self._store.now(),
                )
                session.add(user)
                session.flush()
            return actor_of(user)
