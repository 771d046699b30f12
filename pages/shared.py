"""What every page needs: the record of this server process, the signed-in person, notices.

Pages hold layout and widgets only; the record enforces roles again on every action.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import streamlit as st
import yaml

from observations.errors import InvalidEntry, RecordError
from observations.limits import load_limits
from observations.record import TrialRecord
from observations.store import Actor
from observations.views import TrialView
from vocabulary import MuscleGroup, Role

INTENDED_USE = (
    "ITB Trial Monitor is an aid to ward observation during an intrathecal baclofen trial. "
    "It does not replace the nurse at the bedside or the bedside monitors' own alarms: "
    "keep those switched on."
)
ACTOR_KEY = "signed_in_actor"
PAGE_ON_SCREEN_KEY = "page_on_screen"
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


# ----- helpers for the scores, review and decision pages (issue 7) ----------------------------
MISSING = "—"  # a value not recorded is shown as missing, never as 0
SCORES_CONFIG = Path(__file__).with_name("scores.yaml")


def shown(value: object) -> str:
    """A recorded value as text, or the missing mark."""
    return MISSING if value is None else str(value)


def trial_option_label(trial: TrialView) -> str:
    """A trial as offered in a chooser: always with two patient identifiers."""
    dose = trial.injection.dose_mcg if trial.injection else trial.planned_dose_mcg
    return (
        f"Trial {trial.id} · {trial.patient.identifiers} · episode {trial.episode} "
        f"trial {trial.trial_number} · {dose} mcg · {trial.status}"
    )


def choose_trial(trials: list[TrialView], key: str) -> TrialView | None:
    """Pick a trial (two identifiers in every option) and show the chosen patient as plain text."""
    if not trials:
        return None
    by_id = {t.id: t for t in trials}  # ids as options: a selection survives a status change
    chosen_id = st.selectbox(
        "Trial", list(by_id), format_func=lambda i: trial_option_label(by_id[i]), key=key,
        index=None, placeholder="Choose the patient's trial",
    )
    chosen = by_id.get(chosen_id) if chosen_id is not None else None
    if chosen is not None:
        with st.container(border=True):
            st.text(f"Patient: {chosen.patient.identifiers}")  # text, never markup
    return chosen


def load_muscle_groups(path: Path = SCORES_CONFIG) -> tuple[MuscleGroup, ...]:
    """The configured Ashworth grid rows (pages/scores.yaml); refuses unknown names."""
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    names = data.get("muscle_groups") if isinstance(data, dict) else None
    if not isinstance(names, list) or not names:
        raise ValueError(f"{path.name}: 'muscle_groups' must be a non-empty list")
    known = {m.value for m in MuscleGroup}
    unknown = [str(n) for n in names if n not in known]
    if unknown:
        raise ValueError(f"{path.name}: unknown muscle group(s) {', '.join(unknown)}; "
                         f"use {', '.join(sorted(known))}")
    if len(set(names)) != len(names):
        raise ValueError(f"{path.name}: a muscle group is listed twice")
    return tuple(MuscleGroup(n) for n in names)


def muscle_name(muscle: str) -> str:
    return muscle.replace("_", " ").capitalize()


def role_may(actor: Actor, action: str) -> bool:
    """Whether the record's role table lets ``actor`` do ``action`` (to show or hide a button)."""
    from observations.store import PERMISSIONS

    return bool(actor.roles & PERMISSIONS.get(action, frozenset()))


def live_fragment(run_every: float) -> Callable[[Callable[[], None]], Callable[[], None]]:
    """``st.fragment(run_every=...)`` that draws only while its page is the one on screen.

    Streamlit may still run a timed fragment of the page just left (after a page switch or a
    sign-out); drawing then writes into a layout the browser no longer has, its page goes
    blank ("Bad delta path index") and stays blank. Drawing nothing then is harmless: the new
    page draws its own. ``dashboard.py`` names the page on screen before each page run.
    """
    page = st.session_state.get(PAGE_ON_SCREEN_KEY)

    def decorate(draw: Callable[[], None]) -> Callable[[], None]:
        @st.fragment(run_every=run_every)
        @functools.wraps(draw)
        def guarded() -> None:
            if st.session_state.get(PAGE_ON_SCREEN_KEY) != page or current_actor() is None:
                return
            draw()

        return guarded

    return decorate
