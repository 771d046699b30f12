"""Ward overview: one tile per trial in monitoring, most urgent first, refreshed every second."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import streamlit as st

from observations.record import TrialRecord
from observations.views import AlarmView, LatestValue, TrialView
from observations.ward_time import format_ward
from pages.alarms_panel import PRIORITY_ICONS, PRIORITY_WORDS, alarm_panel
from pages.display import DisplaySettings, load_display_settings
from pages.nurse_view import (
    MISSING,
    SELECTED_TRIAL_KEY,
    age_seconds,
    device_state_text,
    due_text,
    format_age,
    last_complete_news2,
    observation_schedule,
    score_text,
    set_scores,
)
from pages.shared import INTENDED_USE, get_record, live_fragment, require_roles
from vocabulary import PRIORITY_RANK, STREAMED_PARAMETERS, Parameter, Priority, Role, TrialStatus

TILE_COLUMNS = 4


@dataclass(frozen=True)
class Tile:
    trial: TrialView
    latest: dict[Parameter, LatestValue]
    alarms: list[AlarmView]
    devices: list[str]
    news2: str
    due: str
    overdue: bool
    stale: bool

    @property
    def urgency(self) -> tuple[int, int, int, int]:
        """Unacknowledged alarms first, then any alarm, overdue sets, stale values."""
        waiting = max(
            (PRIORITY_RANK[Priority(a.priority)] for a in self.alarms if not a.acknowledged),
            default=0,
        )
        any_alarm = max((PRIORITY_RANK[Priority(a.priority)] for a in self.alarms), default=0)
        return (waiting, any_alarm, int(self.overdue), int(self.stale))


OPEN_MONITOR_KEY = "ward-open-trial-monitor"  # a tile asked for its trial monitor


def value_text(
    parameter: Parameter,
    latest: dict[Parameter, LatestValue],
    now: datetime,
    settings: DisplaySettings,
) -> tuple[str, bool]:
    """'97 % · 3 s' or 'STALE 96 % · 45 s ago'; missing is '—'. Returns (text, stale)."""
    value = latest.get(parameter)
    if value is None:
        return MISSING, False
    age = age_seconds(value.at, now)
    shown = f"{value.value:.0f}"
    if parameter in STREAMED_PARAMETERS and age > settings.stale_after_seconds:
        return f":red[**STALE**] (was {shown}, {format_age(age)} ago)", True
    return f"{shown} ({_how_long(value, now)})", False


def _how_long(value: LatestValue, now: datetime) -> str:
    """'3 s ago' from a device; 'entered 12 min 05 s ago' when a nurse typed it."""
    age = format_age(age_seconds(value.at, now))
    return f"entered {age} ago" if value.source == "manual" else f"{age} ago"


def bp_text(latest: dict[Parameter, LatestValue], now: datetime) -> str:
    systolic = latest.get(Parameter.SYSTOLIC)
    diastolic = latest.get(Parameter.DIASTOLIC)
    if systolic is None:
        return MISSING
    low = f"{diastolic.value:.0f}" if diastolic is not None else MISSING
    return f"{systolic.value:.0f}/{low} ({_how_long(systolic, now)})"


TILE_PARAMETERS = (Parameter.SPO2, Parameter.PULSE_RATE, Parameter.SYSTOLIC,
                   Parameter.DIASTOLIC, Parameter.RR)


def build_tile(
    record: TrialRecord,
    trial: TrialView,
    latest: dict[Parameter, LatestValue],
    alarms: list[AlarmView],
    device_lines: list[str],
    now: datetime,
    settings: DisplaySettings,
) -> Tile:
    zone = record.settings.ward_timezone
    sets = record.observations.list(trial.id)
    scores = set_scores(trial, record)
    scored = last_complete_news2(trial, sets, record, scores)
    if scored is None:
        news2 = f"NEWS2 {MISSING} (no complete set yet)"
    else:
        obs, result = scored
        news2 = (
            f"NEWS2 **{result.total}** ({result.band.value}) at "
            f"{format_ward(obs.measured_at, zone, with_date=False)}"
        )
    newest = max(sets, key=lambda s: s.measured_at, default=None)
    if newest is not None and newest.id not in scores:
        # Never a number of our own: a set the monitor has not judged yet is said to be so.
        news2 += (f" · set of {format_ward(newest.measured_at, zone, with_date=False)}: "
                  f"{score_text(None)}")
    schedule = observation_schedule(trial, sets)
    due = due_text(schedule, now, zone)
    overdue = schedule is not None and schedule.next_due is not None and schedule.next_due < now
    stale = any(
        p not in latest or age_seconds(latest[p].at, now) > settings.stale_after_seconds
        for p in (Parameter.SPO2, Parameter.PULSE_RATE)
    )
    return Tile(trial, latest, alarms, device_lines, news2, due, overdue, stale)


def show_tile(tile: Tile, now: datetime, settings: DisplaySettings) -> None:
    trial = tile.trial
    with st.container(border=True):
        st.markdown(f"#### {'Bed ' + trial.bed if trial.bed else 'No bed'}")
        st.text(trial.patient.identifiers)  # user-entered names: text, never markup
        if tile.alarms:
            top = tile.alarms[0]
            waiting = "NOT ACKNOWLEDGED" if not top.acknowledged else "acknowledged"
            # The condition only ("Severe desaturation: SpO2 86-91 %"): the advice that follows
            # is in the alarm list above, and a narrow tile would wrap it over ten lines.
            headline = top.message.split(". ")[0]
            text = (
                f"{PRIORITY_ICONS.get(top.priority, '')} {PRIORITY_WORDS.get(top.priority, '')}: "
                f"{headline} ({waiting}, {format_age(age_seconds(top.raised_at, now))})"
            )
            if len(tile.alarms) > 1:
                text += f" · and {len(tile.alarms) - 1} more"
            {"high": st.error, "medium": st.warning}.get(top.priority, st.info)(text)
        else:
            st.caption("No active alarm.")
        if trial.injection is not None and trial.window_end is not None:
            elapsed = age_seconds(trial.injection.given_at, now)
            window = age_seconds(trial.injection.given_at, trial.window_end)
            st.progress(
                min(1.0, max(0.0, elapsed / window)) if window > 0 else 1.0,
                text=f"{trial.injection.dose_mcg} mcg · injected {format_age(elapsed)} ago · "
                f"window {format_age(window)}",
            )
        spo2, _ = value_text(Parameter.SPO2, tile.latest, now, settings)
        pulse, _ = value_text(Parameter.PULSE_RATE, tile.latest, now, settings)
        rr, _ = value_text(Parameter.RR, tile.latest, now, settings)
        st.markdown(
            f"**SpO2 %** {spo2}  \n**Pulse /min** {pulse}  \n"
            f"**BP mmHg** {bp_text(tile.latest, now)}  \n**RR /min** {rr}"
        )
        st.markdown(tile.news2)
        st.markdown(f":red[**{tile.due}**]" if tile.overdue else tile.due)
        st.caption(" · ".join(tile.devices) if tile.devices else "No device state reported")
        if st.button("Open trial monitor", key=f"open-{trial.id}"):
            st.session_state[SELECTED_TRIAL_KEY] = trial.id
            # The page is switched by a whole-page run, not from inside this timed refresh
            # (hazard H-15: a switch from inside it left some browsers with a blank page).
            st.session_state[OPEN_MONITOR_KEY] = True
            st.rerun(scope="app")


def ward_tiles(record: TrialRecord, settings: DisplaySettings) -> None:
    now = record.store.now()
    trials = record.trials.list(statuses={TrialStatus.MONITORING})
    if not trials:
        st.info("No trial is in monitoring. Trials appear here once the injection is recorded.")
        return
    alarms = record.alarms.active()
    states = record.services.device_states()
    labels = {a.source: a.label for a in record.trials.active_assignments()}
    # One query for every bed's newest values, not one per bed, each second.
    latest = record.readings.latest_for_trials([t.id for t in trials], TILE_PARAMETERS)
    tiles = []
    for trial in trials:
        lines = [
            device_state_text(s, now, labels.get(s.source))
            for s in states
            if s.trial_id == trial.id
        ]
        mine = [a for a in alarms if a.trial_id == trial.id]
        tiles.append(build_tile(record, trial, latest[trial.id], mine, lines, now, settings))
    tiles.sort(key=lambda t: (tuple(-x for x in t.urgency), t.trial.bed or "", t.trial.id))
    updated = format_ward(now, record.settings.ward_timezone, with_date=False)
    st.caption(f"{len(tiles)} trial(s) in monitoring · updated {updated}")
    # A few beds get wider tiles (less wrapping); a full ward, four to a row.
    per_row = 3 if len(tiles) <= 3 else TILE_COLUMNS
    for start in range(0, len(tiles), per_row):
        columns = st.columns(per_row)
        for column, tile in zip(columns, tiles[start : start + per_row], strict=False):
            with column:
                show_tile(tile, now, settings)


actor = require_roles(set(Role) - {Role.ADMIN})
if st.session_state.pop(OPEN_MONITOR_KEY, False):
    st.switch_page("pages/trial_monitor.py")
record = get_record()
settings = load_display_settings()
st.title("Ward overview")
st.caption(INTENDED_USE)
alarm_panel(record, actor, compact=True)


@live_fragment(run_every=settings.numbers_refresh_seconds)
def live_tiles() -> None:
    ward_tiles(record, settings)


live_tiles()
