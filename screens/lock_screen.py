"""The locked screen of an idle session: drawn by dashboard.py in place of the page.

Patient details and controls are not drawn at all (not merely hidden): the alarm bar above
shows beds, conditions and alarm state, live and sounding. Unlocking is a sign-in, by the same
person (who carries on where they were) or another (who starts afresh).
"""

from __future__ import annotations

import streamlit as st

from observations.errors import RecordError
from observations.limits import idle_lock_minutes
from observations.record import TrialRecord
from observations.store import Actor
from screens.shared import show_problem, unlock


def lock_screen(record: TrialRecord, actor: Actor) -> None:
    st.title("Screen locked", anchor=False)
    st.caption(
        f"Locked after {idle_lock_minutes():g} minutes without activity. Alarms above stay live "
        "and sound; patient details need a sign-in."
    )
    st.text(f"Locked session: {actor.username}")  # the account, never a patient's detail
    with st.form("unlock"):
        username = st.text_input("Username")
        password = st.text_input("Password", type="password")
        submitted = st.form_submit_button(
            "Sign in to unlock", icon=":material/lock_open:", type="primary"
        )
    if submitted:
        try:
            person = record.users.sign_in(username, password)
        except RecordError as error:
            show_problem(error)
        else:
            unlock(person)
            st.rerun()
