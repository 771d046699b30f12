"""People for tests, signed in the way the hospital's single sign-on signs them in.

The record issues an ``Actor`` only at a sign-in; a password sign-in costs an argon2 check
(a tenth of a second), so tests that need many people sign them in through single sign-on,
a path the app itself offers, with an issuer of their own.
"""

from __future__ import annotations

from observations.record import TrialRecord
from observations.store import Actor, Reauthentication
from vocabulary import Role

TEST_ISSUER = "https://login.test.example"
GROUPS = {f"itb-{role.value}": role for role in Role}


def sign_in_as(record: TrialRecord, name: str, *roles: Role) -> Actor:
    """A person called ``name`` with ``roles``, signed in (created on first use)."""
    return record.users.sign_in_external(
        TEST_ISSUER,
        name,
        name.title(),
        [f"itb-{r.value}" for r in roles],
        GROUPS,
    )


def reauthenticated(record: TrialRecord, actor: Actor) -> Reauthentication:
    """The signer's identity confirmed afresh just now (what the decision signature needs)."""
    subject = actor.username.split("@", 1)[0]
    return record.users.confirm_external(
        actor, TEST_ISSUER, subject, record.store.now(), "decision"
    )


PASSWORD = "ward seven tea"


def local_person(
    record: TrialRecord, admin: Actor | None, username: str, name: str, *roles: Role
) -> Actor:
    """A local account with PASSWORD, created (by ``admin``; None for the first
    administrator) and signed in: for pages whose tests sign in through the sign-in form."""
    record.users.create(admin, username, name, set(roles), PASSWORD)
    return record.users.sign_in(username, PASSWORD)
