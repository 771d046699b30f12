"""Administrator: accounts and roles. Every change is a configuration change in the audit trail.

After an account is added the form is emptied (nothing of one person's account is carried into
the next), and a confirmation naming the account and its roles stays beside the form until the
next action: it is kept in the session, so the page's own rerun does not wipe it.
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd
import streamlit as st

from observations.errors import RecordError
from observations.free_text import max_chars
from observations.limits import load_limits
from observations.record import TrialRecord
from observations.store import Actor
from observations.ward_time import format_ward
from screens.markdown_text import md
from screens.shared import show_problem
from vocabulary import Role

ROLE_NAMES = {r: r.value.replace("_", " ") for r in Role}
ADD_FIELDS = ("add-username", "add-name", "add-roles", "add-password")
# Each added account moves the add form to new widgets: a browser keeps what was typed in a
# password box even when the page empties its value, new widgets start empty everywhere.
ADD_ROUND_KEY = "accounts-add-round"
ADDED_KEY = "accounts-added"  # the confirmation (or refusal) of the last "Add account"
CHANGED_KEY = "accounts-changed"  # the same for "Save changes"
CHANGE_ROUND_KEY = "accounts-change-round"


def change_password_key(username: str) -> str:
    return f"change-password-{username}-{st.session_state.get(CHANGE_ROUND_KEY, 0)}"


def roles_text(roles: Iterable[Role | str]) -> str:
    names = [ROLE_NAMES[Role(r)] for r in roles if r]
    return ", ".join(names) if names else "no role"


def add_key(name: str) -> str:
    return f"{name}-{st.session_state.get(ADD_ROUND_KEY, 0)}"


def add_account(record: TrialRecord, actor: Actor) -> None:
    state = st.session_state
    try:
        user = record.users.create(
            actor,
            state.get(add_key("add-username"), ""),
            state.get(add_key("add-name"), ""),
            set(state.get(add_key("add-roles"), [])),
            state.get(add_key("add-password")) or "",
        )
    except RecordError as error:
        state[ADDED_KEY] = ("error", error)  # what was typed stays, to be put right
        return
    for name in ADD_FIELDS:
        state.pop(add_key(name), None)
    state[ADD_ROUND_KEY] = state.get(ADD_ROUND_KEY, 0) + 1
    state.pop(CHANGED_KEY, None)  # only the last action is confirmed
    when = format_ward(record.store.now(), record.settings.ward_timezone)
    state[ADDED_KEY] = (
        "done",
        f"Account '{md(user.username)}' ({md(user.display_name)}) added at {when} with roles: "
        f"{roles_text(user.roles.split(','))}.",
    )


def change_account(record: TrialRecord, actor: Actor, username: str) -> None:
    state = st.session_state
    roles = set(state.get(f"change-roles-{username}", []))
    active = bool(state.get(f"change-active-{username}", True))
    password = state.get(change_password_key(username)) or None
    try:
        user = record.users.change(actor, username, roles, active, password)
    except RecordError as error:
        state[CHANGED_KEY] = ("error", error)
        return
    state[CHANGE_ROUND_KEY] = state.get(CHANGE_ROUND_KEY, 0) + 1  # an empty password box
    state.pop(ADDED_KEY, None)
    now = format_ward(record.store.now(), record.settings.ward_timezone)
    parts = [
        f"roles: {roles_text(user.roles.split(','))}",
        "active" if user.active else "disabled (may not sign in)",
    ]
    if password:
        parts.append("new password set")
    state[CHANGED_KEY] = ("done", f"Account '{md(username)}' changed at {now}: {'; '.join(parts)}.")


def unlock_account(record: TrialRecord, actor: Actor, username: str) -> None:
    try:
        record.users.unlock(actor, username)
    except RecordError as error:
        st.session_state[CHANGED_KEY] = ("error", error)
        return
    st.session_state[CHANGED_KEY] = (
        "done",
        f"Wrong-password count of '{md(username)}' cleared: the next sign-in is not slowed.",
    )


def outcome(flash_key: str) -> None:
    """The last add or change, beside its button: a confirmation, or why it was refused."""
    flash = st.session_state.get(flash_key)
    if flash is None:
        return
    kind, payload = flash
    if kind == "done":
        st.success(payload, icon=":material/check_circle:")
    else:
        show_problem(payload)


def render(record: TrialRecord, actor: Actor) -> None:
    """The accounts page (the navigation shows it to administrators only)."""
    st.title("Accounts")
    users = record.users.all()
    st.dataframe(
        pd.DataFrame(
            [
                {
                    "Username": u.username,
                    "Name": u.display_name,
                    "Roles": roles_text(u.roles.split(",")),
                    "Active": "yes" if u.active else "no",
                }
                for u in users
            ],
            columns=["Username", "Name", "Roles", "Active"],
        ),
        hide_index=True,
        width="stretch",
        placeholder="—",
    )

    st.subheader("Add an account")
    # Keyed widgets rather than a form: after an account is added they are new and empty; after a
    # refusal they keep what was typed so the administrator can put right what was wrong.
    st.text_input(
        "Username",
        key=add_key("add-username"),
        help="lower-case, e.g. j.smith",
        max_chars=max_chars("username"),
    )
    st.text_input("Full name", key=add_key("add-name"), max_chars=max_chars("name"))
    st.multiselect("Roles", list(Role), format_func=ROLE_NAMES.get, key=add_key("add-roles"))
    st.text_input(
        "First password",
        type="password",
        key=add_key("add-password"),
        help=f"At least {load_limits().accounts.min_password_length} characters (three random "
        "words work); not the username, not a common password.",
    )
    button, message = st.columns([1, 3])
    button.button(
        "Add account", on_click=add_account, args=(record, actor), icon=":material/person_add:"
    )
    with message:
        outcome(ADDED_KEY)

    st.subheader("Change an account")
    if users:
        chosen = st.selectbox("Account", [u.username for u in users], key="change-account")
        current = next(u for u in users if u.username == chosen)
        # Keys carry the account, so one account's settings are never shown under another.
        roles_key = f"change-roles-{chosen}"
        if roles_key not in st.session_state:
            st.session_state[roles_key] = [Role(r) for r in current.roles.split(",") if r]
        st.multiselect("Roles", list(Role), format_func=ROLE_NAMES.get, key=roles_key)
        st.checkbox("Active (may sign in)", value=current.active, key=f"change-active-{chosen}")
        st.text_input(
            "New password (leave empty to keep)", type="password", key=change_password_key(chosen)
        )
        failures = record.users.failed_attempts(chosen)
        if failures:
            st.warning(
                f"{failures} wrong password(s) counted against this account since its last "
                "sign-in: further attempts are slowed (at most a minute each).",
                icon=":material/lock_clock:",
            )
            st.button(
                "Clear the wrong-password count",
                on_click=unlock_account,
                args=(record, actor, chosen),
                icon=":material/lock_open:",
            )
        button, message = st.columns([1, 3])
        button.button(
            "Save changes",
            on_click=change_account,
            args=(record, actor, chosen),
            icon=":material/save:",
        )
        with message:
            outcome(CHANGED_KEY)
