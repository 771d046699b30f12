"""What every page needs: the record of this server process, the signed-in person, notices.

Pages hold layout and widgets only; the record enforces roles again on every action.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from pathlib import Path

import streamlit as st
import yaml

from devices.sources import source_problem
from observations.errors import InvalidEntry, RecordError
from observations.limits import idle_lock_minutes
from observations.record import TrialRecord
from observations.store import Actor
from observations.views import TrialView
from vocabulary import MRC_POWER_LABELS, MuscleGroup

INTENDED_USE = (
    "ITB Trial Monitor is an aid to ward observation during an intrathecal baclofen trial. "
    "It does not replace the nurse at the bedside or the bedside monitors' own alarms: "
    "keep those switched on."
)
ACTOR_KEY = "signed_in_actor"
PAGE_ON_SCREEN_KEY = "page_on_screen"
LAST_SEEN_KEY = "last_seen_monotonic"
# The trial whose patient is on screen (the trial monitor's, the observation form's choice):
# the alarm bar puts that bed first. The same key as the nurse pages' shared patient choice.
PATIENT_ON_SCREEN_KEY = "selected_trial_id"
LOCKED_KEY = "screen_locked"
# Set by the idle timer's callback: the run it asks for is not the person's own action.
IDLE_RUN_KEY = "idle_timer_run"
# Set by dashboard.py each run: the frame (alarm bar, tone, watchdog) is drawn for every page.
FRAME_KEY = "frame_draws_alarm_bar"
# Set by the sign-in form: the next run may open the person's first page (see dashboard.py).
FRESH_SIGN_IN_KEY = "fresh_sign_in"


@st.cache_resource
def get_record() -> TrialRecord:
    """One record (engine and connection pool) per server process, shared by every tab."""
    # With the devices' own check of a source text typed or chosen on Trial set-up.
    return TrialRecord.open(device_sources=source_problem)


# The trials whose opening this session has audited (once per session and trial).
VIEWED_KEY = "trials_viewed"
SIGN_IN_ENDED = (
    "Your sign-in has ended: signed out elsewhere, your account was changed or disabled, or it "
    "lasted a whole shift. Sign in again."
)


def current_actor() -> Actor | None:
    """The signed-in person as the record stands now. The screen keeps only its sign-in (the
    token inside the Actor); roles come from the record on every run, and a sign-in the
    record has ended (account disabled, roles changed, signed out) signs this screen out."""
    held: Actor | None = st.session_state.get(ACTOR_KEY)
    if held is None:
        return None
    actor = get_record().users.actor_for(held)
    if actor is None:
        sign_out(SIGN_IN_ENDED, end_in_record=False)
    return actor


def sign_in_as(actor: Actor) -> None:
    st.session_state[ACTOR_KEY] = actor
    st.session_state[LAST_SEEN_KEY] = time.monotonic()


def sign_out(reason: str | None = None, *, end_in_record: bool = True) -> None:
    """Forget everything of this screen's session; end its sign-in in the record too."""
    held: Actor | None = st.session_state.get(ACTOR_KEY)
    if held is not None and end_in_record:
        get_record().users.sign_out(held, reason or "signed out")
    for key in list(st.session_state.keys()):
        del st.session_state[key]
    if reason:
        st.session_state["signed_out_reason"] = reason


def note_trial_viewed(trial_id: int | None) -> None:
    """Audit that the signed-in person opened this trial's record: once per session and trial
    (a screen refreshing every second is one viewing, not thousands)."""
    actor = st.session_state.get(ACTOR_KEY)
    if trial_id is None or actor is None:
        return
    seen: set[int] = st.session_state.setdefault(VIEWED_KEY, set())
    if trial_id in seen:
        return
    try:
        get_record().audit.note_view(actor, "trial", trial_id)
    except RecordError:
        return  # the sign-in ended meanwhile: the next run signs the screen out
    seen.add(trial_id)


def note_activity() -> None:
    """The person did something (a click, a form): the idle lock counts from now. Full app runs
    count by themselves (dashboard.py); an action inside a fragment calls this."""
    st.session_state[LAST_SEEN_KEY] = time.monotonic()


def _idle_passed() -> bool:
    return st.session_state.get(LAST_SEEN_KEY) is not None and idle_seconds_left() <= 0


def screen_locked() -> bool:
    """Locked, or idle past the limit: live panels stop showing patient details at the limit
    even if the full run that locks the screen has not come yet (a sleeping browser tab)."""
    return current_actor() is not None and (
        bool(st.session_state.get(LOCKED_KEY)) or _idle_passed()
    )


def idle_seconds_left() -> float:
    """Seconds until the screen locks if nobody acts (the limit when never counted)."""
    limit = idle_lock_minutes() * 60
    last = st.session_state.get(LAST_SEEN_KEY)
    return limit if last is None else limit - (time.monotonic() - last)


def check_idle(activity: bool = True) -> None:
    """Lock the screen of a session idle longer than the configured time (shared ward PCs).

    Never signs out: a locked screen keeps the alarms live and sounding. ``activity`` says
    whether this run is the person's own action (the idle timer's run is not; nor is any
    refresh, which runs a fragment, not the app).
    """
    if current_actor() is None or st.session_state.get(LOCKED_KEY):
        return
    if _idle_passed():
        st.session_state[LOCKED_KEY] = True
        return
    if activity:
        note_activity()


def unlock(actor: Actor) -> None:
    """Unlocking is a new sign-in: the same person carries on where they were; another person
    starts a fresh session (nothing of the previous person's half-typed forms)."""
    before = current_actor()
    if before is None or before.user_id != actor.user_id:
        if before is not None:
            get_record().users.sign_out(before, "another person unlocked the screen")
        sign_out(end_in_record=False)
    elif before.session_token != actor.session_token:
        get_record().users.sign_out(before, "unlocked with a new sign-in")
    st.session_state.pop(LOCKED_KEY, None)
    sign_in_as(actor)


def show_problem(error: RecordError) -> None:
    """A refused action in the words of the record; field problems listed one per line."""
    if isinstance(error, InvalidEntry) and len(error.problems) > 1:
        st.error("\n".join(f"- {p.message}" for p in error.problems))
    else:
        st.error(error.message)


# ----- helpers for the scores, review and decision pages ----------------------------------------
MISSING = "—"  # a value not recorded is shown as missing, never as 0
SCORES_CONFIG = Path(__file__).with_name("scores.yaml")
# The MRC (Medical Research Council) muscle power grades, as the scores and observation forms
# offer them.
MRC_POWER = {grade: f"{grade} — {words}" for grade, words in MRC_POWER_LABELS.items()}


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
        "Trial",
        list(by_id),
        format_func=lambda i: trial_option_label(by_id[i]),
        key=key,
        index=None,
        placeholder="Choose the patient's trial",
    )
    chosen = by_id.get(chosen_id) if chosen_id is not None else None
    if chosen is not None:
        note_trial_viewed(chosen.id)
        with st.container(border=True):
            st.text(f"Patient: {chosen.patient.identifiers}")  # text, never markup
    return chosen


def load_muscle_groups(path: Path = SCORES_CONFIG) -> tuple[MuscleGroup, ...]:
    """The configured Ashworth grid rows (screens/scores.yaml); refuses unknown names."""
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    names = data.get("muscle_groups") if isinstance(data, dict) else None
    if not isinstance(names, list) or not names:
        raise ValueError(f"{path.name}: 'muscle_groups' must be a non-empty list")
    known = {m.value for m in MuscleGroup}
    unknown = [str(n) for n in names if n not in known]
    if unknown:
        raise ValueError(
            f"{path.name}: unknown muscle group(s) {', '.join(unknown)}; "
            f"use {', '.join(sorted(known))}"
        )
    if len(set(names)) != len(names):
        raise ValueError(f"{path.name}: a muscle group is listed twice")
    return tuple(MuscleGroup(n) for n in names)


def muscle_name(muscle: str) -> str:
    return muscle.replace("_", " ").capitalize()


def live_fragment(run_every: float) -> Callable[[Callable[[], None]], Callable[[], None]]:
    """``st.fragment(run_every=...)`` that draws only while its page is the one on screen.

    A refresh the browser asked for just before a sign-out, a lock or a page change can still
    reach the server after it: its page is then no longer drawn, and drawing would write into a
    layout the browser no longer has. Drawing nothing then is harmless: the new screen draws
    its own. ``dashboard.py`` names the page on screen before each page run. (Why a page change
    made by the server blanked the screen, and why none is made now: dashboard.py.)
    """
    page = st.session_state.get(PAGE_ON_SCREEN_KEY)

    def decorate(draw: Callable[[], None]) -> Callable[[], None]:
        @st.fragment(run_every=run_every)
        @functools.wraps(draw)
        def guarded() -> None:
            if (
                st.session_state.get(PAGE_ON_SCREEN_KEY) != page
                or current_actor() is None
                or screen_locked()
            ):
                return
            draw()

        return guarded

    return decorate
