"""Sign-in: nobody sees patient data before it. First start creates the first administrator.

Drawn by dashboard.py in place of the page asked for (signing out never changes the page on
screen). Nothing on this screen refreshes by itself.
"""

from __future__ import annotations

import streamlit as st

from observations.errors import RecordError
from observations.free_text import max_chars
from observations.limits import load_limits
from observations.record import TrialRecord
from screens.shared import FRESH_SIGN_IN_KEY, INTENDED_USE, show_problem, sign_in_as
from vocabulary import Role

SIGNED_OUT_REASON_KEY = "signed_out_reason"


def sign_in_screen(record: TrialRecord) -> None:
    st.title("ITB Trial Monitor")
    st.caption(INTENDED_USE)
    reason = st.session_state.pop(SIGNED_OUT_REASON_KEY, None)
    if reason:
        st.info(reason)  # the app's own words
    if record.users.first_admin_needed():
        _first_admin(record)
        return
    st.subheader("Sign in")
    with st.form("sign_in"):
        username = st.text_input("Username", max_chars=max_chars("username"))
        password = st.text_input("Password", type="password")
        submitted = st.form_submit_button("Sign in", icon=":material/login:")
    if submitted:
        try:
            actor = record.users.sign_in(username, password)
        except RecordError as error:
            show_problem(error)
        else:
            sign_in_as(actor)
            st.session_state[FRESH_SIGN_IN_KEY] = True
            st.rerun()
    sso = st.secrets.get("auth", {}) if st.secrets.load_if_toml_exists() else {}
    if sso:
        st.divider()
        if st.button("Sign in with the hospital account"):
            st.login()


def _first_admin(record: TrialRecord) -> None:
    st.subheader("Create the first administrator")
    st.write(
        "This is a new installation. Create the administrator account; the administrator then "
        "adds accounts for nurses, physiotherapists, nurse specialists and doctors."
    )
    with st.form("first_admin"):
        username = st.text_input("Username", max_chars=max_chars("username"))
        name = st.text_input("Full name", max_chars=max_chars("name"))
        password = st.text_input(
            f"Password (at least {load_limits().accounts.min_password_length} characters; "
            "three random words work)",
            type="password",
        )
        again = st.text_input("Password again", type="password")
        submitted = st.form_submit_button("Create administrator")
    if submitted:
        if password != again:
            st.error("The two passwords differ.")
        else:
            try:
                user = record.users.create(None, username, name, {Role.ADMIN}, password)
                actor = record.users.sign_in(user.username, password)
            except RecordError as error:
                show_problem(error)
            else:
                sign_in_as(actor)
                st.session_state[FRESH_SIGN_IN_KEY] = True
                st.rerun()
