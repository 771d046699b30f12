"""Helpers of the nurse's screens: ward overview, trial monitor, observation entry, set-up.

Layout only: NEWS2 and the observation schedule come from rules/, values from the record.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import streamlit as st

from observations.services import DeviceStateView
from observations.store import PERMISSIONS, Actor
from observations.views import ObservationSetView, TrialView
from observations.ward_time import format_ward
from rules import News2Result, RuleSet, load_rule_set, score_news2
from rules.schedule import ObservationSchedule
from vocabulary import ConnectionState, TrialStatus

SELECTED_TRIAL_KEY = "selected_trial_id"
MISSING = "—"


@st.cache_resource
def get_rule_set() -> RuleSet:
    """The rule set the monitor runs (its schedule gives the observation due times)."""
    return load_rule_set()


def format_age(seconds: float) -> str:
    """'8 s', '3 min 05 s', '2 h 04 min': how long ago, in words a nurse reads at a glance."""
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, secs = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def age_seconds(moment: datetime, now: datetime) -> float:
    return (now - moment).total_seconds()


def trial_heading(trial: TrialView) -> str:
    """Bed and the patient's two identifiers: wherever a patient is shown or chosen."""
    bed = f"Bed {trial.bed}" if trial.bed else "No bed"
    return f"{bed} · {trial.patient.identifiers}"


def trial_label(trial: TrialView) -> str:
    dose = trial.injection.dose_mcg if trial.injection else trial.planned_dose_mcg
    return f"{trial_heading(trial)} · {dose} mcg · {trial.status}"


def news2_of_set(obs: ObservationSetView, spo2_scale: int) -> News2Result:
    """NEWS2 of one recorded set, scored by rules/ (a partial set is 'incomplete')."""
    return score_news2(
        rr=obs.rr,
        spo2=obs.spo2,
        on_oxygen=obs.on_oxygen,
        sbp=obs.systolic,
        pulse=obs.pulse_rate,
        consciousness=obs.consciousness,
        temp=obs.temp,
        spo2_scale=spo2_scale,
    )


def last_complete_news2(
    trial: TrialView, sets: list[ObservationSetView]
) -> tuple[ObservationSetView, News2Result] | None:
    for obs in sorted(sets, key=lambda s: s.measured_at, reverse=True):
        result = news2_of_set(obs, trial.spo2_scale)
        if result.complete:
            return obs, result
    return None


def observation_schedule(
    trial: TrialView, sets: list[ObservationSetView]
) -> ObservationSchedule | None:
    """The rules' schedule fed with the injection and the recorded sets (and their NEWS2).

    None before the injection. After the window is closed the schedule is not shown.
    """
    if trial.injection is None or trial.status != TrialStatus.MONITORING.value:
        return None
    schedule = ObservationSchedule(get_rule_set().schedule)
    schedule.start(trial.injection.given_at)
    for obs in sorted(sets, key=lambda s: s.measured_at):
        schedule.record_set(obs.measured_at)
        result = news2_of_set(obs, trial.spo2_scale)
        if result.complete:
            schedule.news2_scored(obs.measured_at, result.band.value)
    return schedule


def due_text(schedule: ObservationSchedule | None, now: datetime, zone: ZoneInfo) -> str:
    """'Next observations due 10:45 (in 4 min 10 s)' or 'OVERDUE since 10:30 (5 min 02 s)'."""
    if schedule is None or schedule.next_due is None:
        return "Next observations: no schedule (no injection, or the window is closed)"
    due = schedule.next_due
    when = format_ward(due, zone, with_date=False)
    if due < now:
        return f"Observations OVERDUE since {when} ({format_age(age_seconds(due, now))})"
    return f"Next observations due {when} (in {format_age(age_seconds(now, due))})"


def missed_text(schedule: ObservationSchedule | None, now: datetime, zone: ZoneInfo) -> str:
    if schedule is None:
        return ""
    missed = schedule.missed_due_times(now)
    if not missed:
        return "No missed observation sets."
    times = ", ".join(format_ward(t, zone, with_date=False) for t in missed)
    return f"Missed observation sets ({len(missed)}): {times}"




def device_state_text(state: DeviceStateView, now: datetime, label: str | None = None) -> str:
    """'Simulator (overdose): connected' or '…: lost, last reading 40 s ago (no data)'.

    The age counts from the device's last reading: the state's own start moves with every
    reconnection attempt and would read "lost 0 s ago". Never a guess: with no reading since
    the monitor started, it says so.
    """
    name = label or state.source
    if state.state == ConnectionState.CONNECTED.value:
        return f"{name}: connected"
    word = "connecting" if state.state == ConnectionState.CONNECTING.value else "lost"
    reason = f" ({state.reason})" if state.reason else ""
    if state.last_reading_at is None:
        return f"{name}: {word}, no reading since the monitor started{reason}"
    age = format_age(age_seconds(state.last_reading_at, now))
    return f"{name}: {word}, last reading {age} ago{reason}"


def allowed(actor: Actor, action: str) -> bool:
    """Whether the record's role table lets ``actor`` do ``action`` (to show or hide a button)."""
    return bool(actor.roles & PERMISSIONS.get(action, frozenset()))


def choose_patient_trial(trials: list[TrialView], widget_key: str) -> int:
    """The trial a nurse's page shows: the one last chosen on any nurse page, else the first.

    The chooser keeps its own key (set from the shared choice only when it has none), never a
    computed index: an index that changes with the choice makes a new widget each time, and a
    second change of patient in a row was lost.
    """
    by_id = {t.id: t for t in trials}
    if st.session_state.get(widget_key) not in by_id:
        remembered = st.session_state.get(SELECTED_TRIAL_KEY)
        st.session_state[widget_key] = remembered if remembered in by_id else next(iter(by_id))
    trial_id: int = st.selectbox(
        "Patient's trial", list(by_id), key=widget_key, format_func=lambda i: trial_label(by_id[i])
    )
    st.session_state[SELECTED_TRIAL_KEY] = trial_id
    return trial_id
