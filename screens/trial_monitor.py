"""Trial monitor: one patient at a glance (the ward's bed tile: numbers coloured by their
alarms, STALE with its age, the most urgent waiting alarm), this patient's alarms with the form
that acknowledges them, then the whole-trial timeline and the RCP NEWS2 chart.

At 1366x768 the tile and this patient's alarms are on the first screen; other beds' alarms are
in the alarm bar above every page, one line per bed.
"""

from __future__ import annotations

import streamlit as st

from observations.record import TrialRecord
from observations.store import Actor
from observations.views import TrialView
from observations.ward_time import format_ward
from screens.alarm_bar import bed_alarms
from screens.bed_tiles import tile_html, ward_css
from screens.charts import trial_timeline_figure
from screens.display import DisplaySettings
from screens.markdown_text import md
from screens.news2_chart import show_news2_chart
from screens.nurse_view import (
    MISSING,
    age_seconds,
    choose_patient_trial,
    format_age,
    missed_text,
    observation_schedule,
    set_scores,
)
from screens.shared import INTENDED_USE, live_fragment
from screens.ward_beds import trend_window, ward_tiles_model
from vocabulary import Parameter, TrialStatus

VIEWS = {"Whole trial": None, "Last 60 min": 60, "Last 15 min": 15}
ALARMS_SEEN_KEY = "monitor-alarms-seen"
# A denser heading: the patient's tile and alarms must fit the first screen of a laptop.
MONITOR_CSS = """<style>
[data-testid="stMainBlockContainer"]:has(.st-key-monitor-head) { padding-top: 3.5rem; }
.st-key-monitor-head h1 { font-size: 1.6rem; padding: 0; line-height: 1.2; }
.st-key-monitor-tile .wb-open { display: none; }
.st-key-monitor-tile .wb { height: auto; min-height: 190px; }
.st-key-monitor-tile .wb-nums { min-height: 70px; }
.st-key-monitor-tile .wb-val { font-size: clamp(28px, 4.2cqw, 52px); }
</style>"""


def patient_at_a_glance(record: TrialRecord, trial: TrialView, settings: DisplaySettings) -> None:
    """This patient as the ward's central station draws a bed (the same tile, the same colours:
    every number coloured by its alarm, STALE with its age, the bed's most urgent waiting alarm
    on top), with what a tile has no room for beneath: temperature, device flags, missed sets."""
    now = record.store.now()
    zone = record.settings.ward_timezone
    [tile] = ward_tiles_model(record, settings, now, trials=[trial])
    start, end = trend_window(now, settings)
    axes = {
        Parameter.SPO2: settings.ward_trend_spo2_axis,
        Parameter.PULSE_RATE: settings.ward_trend_pulse_axis,
    }
    with st.container(key="monitor-tile"):
        st.html(
            tile_html(
                tile,
                start,
                end,
                settings.ward_trend_bucket_seconds,
                axes,
                settings.ward_trend_minutes,
            )
        )
    latest = record.readings.latest(trial.id, [Parameter.TEMP, Parameter.SPO2])
    more = []
    temp = latest.get(Parameter.TEMP)
    more.append(
        "Temp °C "
        + (
            MISSING + " (not measured)"
            if temp is None
            else f"{temp.value:.1f} (entered {format_age(age_seconds(temp.at, now))} ago)"
        )
    )
    spo2 = latest.get(Parameter.SPO2)
    if spo2 is not None and spo2.flags:
        more.append(f"oximeter flags: {md(spo2.flags)}")
    missed = missed_text(observation_schedule(trial, record), now, zone)
    if missed:
        more.append(missed)
    more.append(f"updated {format_ward(now, zone, with_date=False)}")
    st.caption(" · ".join(more))
    # A new, escalated or acknowledged alarm of this patient: redraw the page, so that the
    # alarms and their form below (drawn by the page run, not this refresh) are current.
    seen = tuple((a.id, a.acknowledged, a.priority) for a in tile.alarms)
    if st.session_state.get(ALARMS_SEEN_KEY) not in (None, seen):
        st.session_state[ALARMS_SEEN_KEY] = seen
        st.rerun(scope="app")
    st.session_state[ALARMS_SEEN_KEY] = seen


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


def render(record: TrialRecord, actor: Actor, settings: DisplaySettings) -> None:
    """One patient's monitor: the trial named in the address (a ward tile's link) or chosen."""
    st.html(ward_css())  # the bed tile's look, as on the ward overview
    st.html(MONITOR_CSS)
    trials = [
        t
        for t in record.trials.list()
        if t.status != TrialStatus.CANCELLED.value and t.status != TrialStatus.PLANNED.value
    ]
    with st.container(key="monitor-head"):
        st.title("Trial monitor", anchor=False)
    if not trials:
        st.info("No trial has started yet. Plan one and record its injection on Trial set-up.")
        return
    trial_id = choose_patient_trial(trials, "monitor-trial-choice")
    trial = record.trials.get(trial_id)
    zone = record.settings.ward_timezone
    if trial.injection is not None:
        st.caption(
            f"{trial.injection.dose_mcg} mcg given {format_ward(trial.injection.given_at, zone)} "
            f"by {md(trial.injection.given_by)} · "
            f"window until {format_ward(trial.window_end, zone)} · "
            f"NEWS2 SpO2 scale {trial.spo2_scale} · stage: {trial.status}"
        )
    else:
        st.caption(f"No injection yet · stage: {trial.status}")

    @live_fragment(run_every=settings.numbers_refresh_seconds)
    def live_patient() -> None:
        patient_at_a_glance(record, record.trials.get(trial_id), settings)

    # First screen, top to bottom: this patient's numbers and waiting alarm (the tile), then this
    # patient's alarms in full with the one form that acknowledges them; the trend below.
    live_patient()
    bed_alarms(record, actor, trial_id)
    view = st.radio("Timeline", list(VIEWS), horizontal=True)

    @live_fragment(run_every=settings.chart_refresh_seconds)
    def live_chart() -> None:
        timeline(record, record.trials.get(trial_id), settings, VIEWS[view])

    live_chart()
    with st.expander("NEWS2 chart (RCP layout)", icon=":material/table_chart:"):
        show_news2_chart(
            record.observations.list(trial.id),
            set_scores(trial, record),
            spo2_scale=trial.spo2_scale,
            zone=zone,
        )
    st.caption(INTENDED_USE)
