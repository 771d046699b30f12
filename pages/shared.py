"""What every page needs: the record of this server process, the signed-in person, notices.

Pages hold layout and widgets only; the record enforces roles again on every action.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

import streamlit as st

from observations.errors import InvalidEntry, RecordError
from observations.limits import load_limits
from observations.record import TrialRecord
from observations.store import Actor
from vocabulary import Role

INTENDED_USE = (
    "ITB Trial Monitor is an aid to ward observation during an intrathecal baclofen trial. "
    "It does not replace the nurse at the bedside or the bedside monitors' own alarms: "
    "keep those switched on."
)
ACTOR_KEY = "signed_in_actor"
LAST_SEEN_KEY = "last_seen_monotonic"


@st.cache_resource
def get_record() -> TrialRecord:
    """One record (engine and connection pool) per server process, shared by every tab."""
    return TrialRecord.open()


def current_actor() -> Actor | None:
    return st.session_state.get(ACTOR_KEY)


def sign_in_as(actor: Actor) -> None:
    st.session_state[ACTOR_KEY] = actor
    st.session_state[LAST_SEEN_KEY] = time.monotonic()


def sign_out(reason: str | None = None) -> None:
    for key in list(st.session_state.keys()):
        del st.session_state[key]
    if reason:
        st.session_state["signed_out_reason"] = reason


def check_idle() -> None:
    """Sign out a session idle longer than the configured time (shared ward PCs)."""
    minutes = load_limits().accounts.idle_sign_out_minutes
    last = st.session_state.get(LAST_SEEN_KEY)
    now = time.monotonic()
    if current_actor() is not None and last is not None and now - last > minutes * 60:
        sign_out(f"Signed out after {minutes:g} minutes without activity.")
        return
    st.session_state[LAST_SEEN_KEY] = now


def require_roles(roles: Iterable[Role]) -> Actor:
    """Stop the page unless the signed-in person holds one of ``roles`` (defence in depth)."""
    actor = current_actor()
    allowed = frozenset(roles)
    if actor is None:
        st.error("Please sign in.")
        st.stop()
    if not actor.roles & allowed:
        st.error("Your role does not give access to this page.")
        st.stop()
    return actor


def show_problem(error: RecordError) -> None:
    """A refused action in the words of the record; field problems listed one per line."""
    if isinstance(error, InvalidEntry) and len(error.problems) > 1:
        st.error("\n".join(f"- {p.message}" for p in error.problems))
    else:
        st.error(error.message)
