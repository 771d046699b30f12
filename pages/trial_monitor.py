"""Live trial monitor: big current values (stale shown as stale), the whole-trial timeline."""

from __future__ import annotations

import streamlit as st

from observations.record import TrialRecord
from observations.views import TrialView
from observations.ward_time import format_ward
from pages.alarms_panel import alarm_panel
from pages.charts import trial_timeline_figure
from pages.display import DisplaySettings, load_display_settings
from pages.nurse_view import (
    MISSING,
    age_seconds,
    choose_patient_trial,
    device_state_text,
    due_text,
    format_age,
    last_complete_news2,
    missed_text,
    observation_schedule,
    trial_heading,
)
from pages.shared import INTENDED_USE, get_record, live_fragment, require_roles
from vocabulary import STREAMED_PARAMETERS, UNITS, Parameter, Role, TrialStatus

# Six tiles, so each label fits at 1280 px wide; blood pressure is one tile, as on a monitor.
TILES: tuple[tuple[str, Parameter], ...] = (
    ("SpO2 %", Parameter.SPO2),
    ("Pulse /min", Parameter.PULSE_RATE),
    ("BP mmHg", Parameter.SYSTOLIC),
    ("RR /min", Parameter.RR),
    ("Temp °C", Parameter.TEMP),
)
VIEWS = {"Whole trial": None, "Last 60 min": 60, "Last 15 min": 15}


def _number(parameter: Parameter, value: float) -> str:
    return f"{value:.1f}" if parameter == Parameter.TEMP else f"{value:.0f}"


def current_values(record: TrialRecord, trial: TrialView, settings: DisplaySettings) -> None:
    now = record.store.now()
    zone = record.settings.ward_timezone
    latest = record.readings.latest(trial.id, [*(p for _, p in TILES), Parameter.DIASTOLIC])
    # Blood pressure ("102/64") needs a wider tile than one number.
    columns = st.columns([1.5 if p == Parameter.SYSTOLIC else 1 for _, p in TILES] + [1])
    for column, (label, parameter) in zip(columns, TILES, strict=False):
        value = latest.get(parameter)
        with column:
            if value is None:
                st.metric(label, MISSING, border=True)
                st.caption("not measured")
                continue
            age = age_seconds(value.at, now)
            number = _number(parameter, value.value)
            if parameter == Parameter.SYSTOLIC:
                diastolic = latest.get(Parameter.DIASTOLIC)
                low = MISSING if diastolic is None else _number(Parameter.DIASTOLIC,
                                                                diastolic.value)
                number = f"{number}/{low}"
            where = "entered by a nurse" if value.source == "manual" else "device"
            if parameter in STREAMED_PARAMETERS and age > settings.stale_after_seconds:
                st.metric(label, "STALE", border=True)
                st.caption(
                    f":red[**No value for {format_age(age)}**] (last {number} "
                    f"{UNITS[parameter].display} at "
                    f"{format_ward(value.at, zone, with_date=False)}, {where})"
                )
            else:
                st.metric(label, number, border=True)
                flags = f" · flags: {value.flags}" if value.flags else ""
                st.caption(f"{format_age(age)} ago · {where}{flags}")
    sets = record.observations.list(trial.id)
    scored = last_complete_news2(trial, sets)
    with columns[-1]:
        if scored is None:
            st.metric("NEWS2", MISSING, border=True)
            st.caption("no complete set yet")
        else:
            obs, result = scored
            st.metric("NEWS2", str(result.total), border=True)
            st.caption(
                f"{result.band.value} · set at {format_ward(obs.measured_at, zone, False)}"
            )
    schedule = observation_schedule(trial, sets)
    overdue = schedule is not None and schedule.next_due is not None and schedule.next_due < now
    text = due_text(schedule, now, zone)
    st.markdown(f":red[**{text}**]" if overdue else f"**{text}**")
    missed = missed_text(schedule, now, zone)
    if missed:
        st.caption(missed)
    labels = {a.source: a.label for a in record.trials.active_assignments(trial.id)}
    states = record.services.device_states(trial.id)
    if states:
        st.caption(" · ".join(device_state_text(s, now, labels.get(s.source)) for s in states))
    elif labels:
        st.caption("Devices assigned, no state reported yet: " + ", ".join(labels.values()))
    else:
        st.caption("No device assigned to this trial.")


def timeline(
    record: TrialRecord, trial: TrialView, settings: DisplaySettings, minutes: int | None
) -> None:
    now = record.store.now()
    figure = trial_timeline_figure(record, trial, settings, minutes, now)
    st.plotly_chart(figure, key="timeline", config={"displaylogo": False})
    st.caption(
        "Lines: device readings (gaps where no valid reading arrived). Diamonds: values entered "
        f"by a nurse. Dashed lines and triangles: alarms. Chart updated "
        f"{format_ward(now, record.settings.ward_timezone, with_date=False)}."
    )


actor = require_roles(set(Role) - {Role.ADMIN})
record = get_record()
settings = load_display_settings()
st.title("Trial monitor")
trials = [
    t
    for t in record.trials.list()
    if t.status != TrialStatus.CANCELLED.value and t.status != TrialStatus.PLANNED.value
]
if not trials:
    alarm_panel(record, actor)
    st.info("No trial has started yet. Plan one and record its injection on Trial set-up.")
    st.stop()
by_id = {t.id: t for t in trials}
trial_id = choose_patient_trial(trials, "monitor-trial-choice")
trial = record.trials.get(trial_id)
st.subheader(trial_heading(trial))
zone = record.settings.ward_timezone
if trial.injection is not None:
    st.write(
        f"{trial.injection.dose_mcg} mcg given {format_ward(trial.injection.given_at, zone)} "
        f"by {trial.injection.given_by} · window until {format_ward(trial.window_end, zone)} · "
        f"NEWS2 SpO2 scale {trial.spo2_scale} · stage: {trial.status}"
    )
else:
    st.write(f"No injection yet · stage: {trial.status}")
st.caption(INTENDED_USE)


@live_fragment(run_every=settings.numbers_refresh_seconds)
def live_numbers() -> None:
    current_values(record, record.trials.get(trial_id), settings)


# The patient's numbers first, where the eye lands; every trial's alarms straight after
# (before the chart), so several alarms never push the numbers off the screen.
live_numbers()
alarm_panel(record, actor, compact=True)
view = st.radio("Timeline", list(VIEWS), horizontal=True)


@live_fragment(run_every=settings.chart_refresh_seconds)
def live_chart() -> None:
    timeline(record, record.trials.get(trial_id), settings, VIEWS[view])


live_chart()
