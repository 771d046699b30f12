# ruff: noqa: F811  (pytest fixtures imported from tests/browser/seed.py)
"""Accounts page: after adding, the form is empty and a confirmation names the account and its
roles; the same after a change; a refusal keeps what was typed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from streamlit.testing.v1 import AppTest

from observations.record import TrialRecord
from screens.markdown_text import md
from tests.browser.seed import People, data_dir, people, record  # noqa: F401  (fixtures)
from tests.screens.apps import open_at
from vocabulary import Role

ROOT = Path(__file__).resolve().parents[2]


def page(actor: object) -> AppTest:
    at = open_at("accounts", actor)
    return at.run()


LABELS = {
    "add-username": "Username",
    "add-name": "Full name",
    "add-roles": "Roles",
    "add-password": "First password",
    "change-password": "New password (leave empty to keep)",
}


def field(at: AppTest, name: str) -> Any:
    """The add form's widget (its key changes after each account added: new, empty widgets)."""
    kind = at.multiselect if name == "add-roles" else at.text_input
    return next(w for w in kind if w.label == LABELS[name])


def add(at: AppTest, username: str, name: str, roles: list[Role], password: str) -> AppTest:
    field(at, "add-username").input(username)
    field(at, "add-name").input(name)
    field(at, "add-roles").set_value(roles)
    field(at, "add-password").input(password)
    return next(b for b in at.button if b.label == "Add account").click().run()


def successes(at: AppTest) -> list[str]:
    return [s.value for s in at.success]


def test_added_account_is_confirmed_and_the_form_emptied(record: TrialRecord, people: People):
    at = page(people.admin)
    assert not at.exception
    add(at, "j.smith", "Jo Smith", [Role.NURSE, Role.PHYSIOTHERAPIST], "a long pass phrase")
    assert not at.exception
    [done] = successes(at)
    assert done.startswith(f"Account '{md('j.smith')}' (Jo Smith) added at ")
    assert done.endswith("with roles: nurse, physiotherapist.")
    # Nothing of this account is left for the next one.
    assert field(at, "add-username").value == ""
    assert field(at, "add-name").value == ""
    assert field(at, "add-roles").value == []
    assert field(at, "add-password").value == ""
    # The confirmation survives the page's next rerun (any click elsewhere).
    at.run()
    assert successes(at) == [done]
    # The second account gets only the roles chosen for it.
    add(at, "k.lee", "Kim Lee", [Role.DOCTOR], "another pass phrase")
    assert record.users.get("k.lee").roles == Role.DOCTOR.value
    assert record.users.get("j.smith").roles.split(",") == ["nurse", "physiotherapist"]
    [done] = successes(at)
    assert f"'{md('k.lee')}'" in done and done.endswith("with roles: doctor.")
    table = at.dataframe[0].value
    assert "k.lee" in set(table["Username"]) and "None" not in table.to_string()


def test_a_refused_account_keeps_what_was_typed(record: TrialRecord, people: People):
    at = page(people.admin)
    add(at, "nurse", "Someone Else", [Role.NURSE], "a long pass phrase")  # name taken
    assert any("already taken" in e.value for e in at.error)
    assert not successes(at)
    assert field(at, "add-username").value == "nurse"
    assert field(at, "add-roles").value == [Role.NURSE]
    field(at, "add-username").input("n.other")
    next(b for b in at.button if b.label == "Add account").click().run()
    assert not at.error and successes(at)[0].startswith(f"Account '{md('n.other')}'")


def test_a_change_is_confirmed_with_the_roles(record: TrialRecord, people: People):
    at = page(people.admin)
    at.selectbox(key="change-account").set_value("physio").run()
    roles = at.multiselect(key="change-roles-physio")
    assert roles.value == [Role.PHYSIOTHERAPIST]
    roles.set_value([Role.PHYSIOTHERAPIST, Role.NURSE_SPECIALIST])
    field(at, "change-password").input("a brand new phrase")
    next(b for b in at.button if b.label == "Save changes").click().run()
    assert not at.exception
    [done] = successes(at)
    assert done.startswith(f"Account '{md('physio')}' changed at ")
    assert "roles: nurse specialist, physiotherapist; active; new password set." in done
    assert field(at, "change-password").value == ""
    assert set(record.users.get("physio").roles.split(",")) == {
        "physiotherapist",
        "nurse_specialist",
    }
    at.run()
    assert successes(at) == [done]
    # A refusal is shown beside the button instead, and says why.
    at.selectbox(key="change-account").set_value("admin").run()
    at.checkbox(key="change-active-admin").uncheck()
    next(b for b in at.button if b.label == "Save changes").click().run()
    assert any("cannot disable your own account" in e.value for e in at.error)
    assert not successes(at)
