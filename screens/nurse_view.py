"""Helpers of the nurse's screens: ward overview, trial monitor, observation entry, set-up.

Layout only. A recorded set's NEWS2, the due times and the baseline are the monitor's judgement,
read from the record (`record.set_scores`): a page never scores a recorded set itself, so what
it shows is what the alarms were decided on. Values come from the record.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

import streamlit as st

from observations.record import TrialRecord
from observations.services import DeviceStateView
from observations.set_scores import NOT_YET_SCORED, ScheduleJudgementView, SetScoreView
from observations.views import ObservationSetView, TrialView
from observations.ward_time import format_ward
from rules import News2Result, RuleSet, load_rule_set
from vocabulary import ConnectionState, TrialStatus

SELECTED_TRIAL_KEY = "selected_trial_id"
MISSING = "—"
# rules/news2's input names in the words of the observation form ("sbp" is "systolic BP").
NEWS2_INPUT_WORDS = {
    "rr": "respiration rate",
    "spo2": "SpO2",
    "on_oxygen": "air or oxygen",
    "sbp": "systolic BP",
    "pulse": "pulse",
    "consciousness": "consciousness (ACVPU)",
    "temp": "temperature",
}


@st.cache_resource
def get_rule_set() -> RuleSet:
    """The rule set the monitor runs."""
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


def set_scores(trial: TrialView, record: TrialRecord) -> dict[int, SetScoreView]:
    """The monitor's NEWS2 of each of the trial's recorded sets, by set id. A set the monitor
    has not scored yet is absent: show it as not yet scored, never score it here."""
    return record.set_scores.for_trial(trial.id)


def score_text(score: SetScoreView | None) -> str:
    """One set's NEWS2 as the monitor scored it, in a nurse's words."""
    if score is None:
        return f"NEWS2 {MISSING} ({NOT_YET_SCORED})"
    if score.total is None:
        missing = ", ".join(NEWS2_INPUT_WORDS.get(name, name) for name in score.missing)
        return f"NEWS2 incomplete (missing: {missing})"
    used = [
        f"{label} {score_value:.0f} from the device"
        for label, score_value, source in (
            ("SpO2", score.spo2, score.spo2_from),
            ("pulse", score.pulse, score.pulse_from),
        )
        if source == "device" and score_value is not None
    ]
    device = f"; {', '.join(used)}" if used else ""
    return f"NEWS2 {score.total} ({score.band}{device})"


def last_complete_news2(
    sets: list[ObservationSetView], scores: dict[int, SetScoreView]
) -> tuple[ObservationSetView, News2Result] | None:
    """The newest set (by the time it was measured) with a complete NEWS2 from the monitor
    (``scores``: `set_scores`)."""
    for obs in sorted(sets, key=lambda s: s.measured_at, reverse=True):
        score = scores.get(obs.id)
        if score is not None and score.complete:
            return obs, score.news2
    return None


@dataclass(frozen=True)
class MonitorSchedule:
    """The observation schedule as the monitor last judged it, from the record: its due times
    (met, late, missed, due) and the next one. ``judgement`` is None until the monitor has
    judged this trial."""

    judgement: ScheduleJudgementView | None

    @property
    def judged(self) -> bool:
        return self.judgement is not None

    @property
    def next_due(self) -> datetime | None:
        return None if self.judgement is None else self.judgement.next_due

    def missed_due_times(self, now: datetime) -> list[datetime]:
        return [] if self.judgement is None else self.judgement.missed_due_times(now)


def observation_schedule(trial: TrialView, record: TrialRecord) -> MonitorSchedule | None:
    """The due times the monitor works out (the same engine that raises the overdue alarm).

    None before the injection and once the window is closed (no schedule is shown then).
    """
    if trial.injection is None or trial.status != TrialStatus.MONITORING.value:
        return None
    return MonitorSchedule(record.set_scores.schedule(trial.id))


def due_text(schedule: MonitorSchedule | None, now: datetime, zone: ZoneInfo) -> str:
    """'Next observations due 10:45 (in 4 min 10 s)' or 'OVERDUE since 10:30 (5 min 02 s)'."""
    if schedule is None:
        return "Next observations: no schedule (no injection, or the window is closed)"
    if not schedule.judged:
        return "Next observations: not yet worked out by the monitor (is it running?)"
    due = schedule.next_due
    if due is None:
        return "Next observations: none due (as the monitor judged it)"
    when = format_ward(due, zone, with_date=False)
    if due < now:
        return f"Observations OVERDUE since {when} ({format_age(age_seconds(due, now))})"
    return f"Next observations due {when} (in {format_age(age_seconds(now, due))})"


def missed_text(schedule: MonitorSchedule | None, now: datetime, zone: ZoneInfo) -> str:
    if schedule is None or not schedule.judged:
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


# The address parameter naming the trial a page opens with (a ward tile's link).
OPEN_TRIAL_PARAM = "trial"


def choose_patient_trial(trials: list[TrialView], widget_key: str) -> int:
    """The trial a nurse's page shows: the one last chosen on any nurse page, else the first.

    The chooser keeps its own key (set from the shared choice only when it has none), never a
    computed index: an index that changes with the choice makes a new widget each time, and a
    second change of patient in a row was lost.
    """
    by_id = {t.id: t for t in trials}
    asked = st.query_params.get(OPEN_TRIAL_PARAM)
    if asked is not None:
        # Opened from a ward tile (a link naming the trial): that trial, once; the chooser
        # rules after that.
        del st.query_params[OPEN_TRIAL_PARAM]
        if asked.isdigit() and int(asked) in by_id:
            st.session_state[widget_key] = int(asked)
    if st.session_state.get(widget_key) not in by_id:
        remembered = st.session_state.get(SELECTED_TRIAL_KEY)
        st.session_state[widget_key] = remembered if remembered in by_id else next(iter(by_id))
    trial_id: int = st.selectbox(
        "Patient's trial", list(by_id), key=widget_key, format_func=lambda i: trial_label(by_id[i])
    )
    st.session_state[SELECTED_TRIAL_KEY] = trial_id
    return trial_id
