"""Administrator: accounts and roles. Every change is a configuration change in the audit trail."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from observations.errors import RecordError
from pages.shared import get_record, require_roles, show_problem
from vocabulary import Role

actor = require_roles({Role.ADMIN})
record = get_record()
ROLE_NAMES = {r: r.value.replace("_", " ") for r in Role}

st.title("Accounts")
users = record.users.all()
st.dataframe(
    pd.DataFrame(
        [
            {
                "Username": u.username,
                "Name": u.display_name,
                "Roles": u.roles.replace(",", ", ").replace("_", " "),
                "Active": "yes" if u.active else "no",
            }
            for u in users
        ]
    ),
    hide_index=True,
    width="stretch",
)

st.subheader("Add an account")
with st.form("add_account", clear_on_submit=False):
    username = st.text_input("Username", help="lower-case, e.g. j.smith")
    name = st.text_input("Full name")
    roles = st.multiselect("Roles", list(Role), format_func=ROLE_NAMES.get)
    password = st.text_input("First password (at least 10 characters)", type="password")
    add = st.form_submit_button("Add account")
if add:
    try:
        user = record.users.create(actor, username, name, set(roles), password or None)
    except RecordError as error:
        show_problem(error)
    else:
        st.success(f"Account '{user.username}' added.")
        st.rerun()

st.subheader("Change an account")
if users:
    chosen = st.selectbox("Account", [u.username for u in users])
    current = next(u for u in users if u.username == chosen)
    with st.form("change_account"):
        new_roles = st.multiselect(
            "Roles",
            list(Role),
            default=[Role(r) for r in current.roles.split(",") if r],
            format_func=ROLE_NAMES.get,
        )
        active = st.checkbox("Active (may sign in)", value=current.active)
        reset = st.text_input("New password (leave empty to keep)", type="password")
        change = st.form_submit_button("Save changes")
    if change:
        try:
            record.users.change(actor, chosen, set(new_roles), active, reset or None)
        except RecordError as error:
            show_problem(error)
        else:
            st.success(f"Account '{chosen}' changed.")
            st.rerun()
