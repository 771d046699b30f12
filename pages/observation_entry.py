"""Observations: the nurse's full set at the bedside, NEWS2 shown as it is filled in.

The NEWS2 shown while typing is worked out from what is on the form (rules.score_news2); once
saved, the set's NEWS2 is the monitor's (it may use the oximeter's SpO2 of that instant), shown
from the record. Device values are offered as the median of the last minute's valid readings,
never one second's sample.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import streamlit as st

from observations.errors import InvalidEntry, RecordError
from observations.readings import RecentMedian
from observations.views import TrialView
from observations.ward_time import format_ward, ward_time_to_utc
from pages.alarms_panel import alarm_panel
from pages.display import load_display_settings
from pages.nurse_view import (
    NEWS2_INPUT_WORDS,
    age_seconds,
    allowed,
    choose_patient_trial,
    due_text,
    format_age,
    missed_text,
    observation_schedule,
    score_text,
    set_scores,
    trial_heading,
)
from pages.shared import INTENDED_USE, get_record, require_roles
from rules import score_news2
from rules.news2 import whole_number
from vocabulary import (
    LABELS,
    RED_FLAG_SIDE_EFFECTS,
    SIDE_EFFECT_LABELS,
    Consciousness,
    Parameter,
    Poss,
    Role,
    SideEffect,
    TrialStatus,
)

PREFIX = "obs-"
SAVED_KEY = "obs-saved"
# The trial whose form is on screen. Every widget and note of the form is keyed by it, so what
# was typed for one patient never appears (or is saved) under another after a switch.
form_trial = 0
NUMBERS = ("rr", "spo2", "systolic", "diastolic", "pulse_rate")
DEVICE_FIELDS = {
    "spo2": Parameter.SPO2,
    "pulse_rate": Parameter.PULSE_RATE,
    "systolic": Parameter.SYSTOLIC,
    "diastolic": Parameter.DIASTOLIC,
}
POWER = ("power_left_leg", "power_right_leg", "power_left_arm", "power_right_arm")
# Device values are offered as the median of this window's valid readings: one second's sample
# of SpO2 or pulse swings with movement and breathing, and a set is meant to be a steady value.
PREFILL_WINDOW = timedelta(minutes=1)
PREFILL_WORDS = "median of the last minute"
ACVPU_WORDS = {
    Consciousness.ALERT: "A — Alert",
    Consciousness.CONFUSION: "C — new Confusion",
    Consciousness.VOICE: "V — responds to Voice",
    Consciousness.PAIN: "P — responds to Pain",
    Consciousness.UNRESPONSIVE: "U — Unresponsive",
}
POSS_WORDS = {
    Poss.ASLEEP: "S — asleep, easy to rouse",
    Poss.AWAKE: "1 — awake and alert",
    Poss.SLIGHTLY_DROWSY: "2 — slightly drowsy, easily roused",
    Poss.FREQUENTLY_DROWSY: "3 — frequently drowsy, drifts off (unacceptable)",
    Poss.SOMNOLENT: "4 — somnolent, minimal or no response (stop, call for help)",
}
MRC_WORDS = {0: "0 none", 1: "1 flicker", 2: "2 gravity eliminated", 3: "3 against gravity",
             4: "4 against resistance", 5: "5 normal"}
ALL_FIELDS = (*NUMBERS, "temp", "on_oxygen", "consciousness", "poss", *POWER, "check",
              "note", "date", "time", *(f"se-{s.value}" for s in SideEffect))


def key(name: str) -> str:
    return f"{PREFIX}{form_trial}-{name}"


def problem(name: str) -> None:
    message = st.session_state.get(key("problems"), {}).get(name)
    if message:
        st.error(message)


def collect(zone: Any, with_time: bool = True) -> dict[str, Any]:
    """What the nurse typed, as the record takes it (None where nothing was entered)."""
    state = st.session_state
    data: dict[str, Any] = {name: state.get(key(name)) for name in (*NUMBERS, "temp", *POWER)}
    oxygen = state.get(key("on_oxygen"))
    data["on_oxygen"] = None if oxygen is None else oxygen == "Oxygen"
    consciousness = state.get(key("consciousness"))
    data["consciousness"] = consciousness.value if consciousness else None
    poss = state.get(key("poss"))
    data["poss"] = poss.value if poss else None
    if state.get(key("check")) == "Done":
        data["side_effects"] = [s.value for s in SideEffect if state.get(key(f"se-{s.value}"))]
    else:
        data["side_effects"] = None
    data["note"] = state.get(key("note")) or None
    prefilled: dict[str, float] = state.get(key("prefilled"), {})
    data["device_prefilled"] = [
        DEVICE_FIELDS[name].value for name, value in prefilled.items() if data.get(name) == value
    ]
    day, clock = state.get(key("date")), state.get(key("time"))
    if with_time and day is not None and clock is not None:
        data["measured_at"] = ward_time_to_utc(datetime.combine(day, clock), zone)
    return data


def save(trial_id: int, zone: Any) -> None:
    st.session_state[key("problems")] = {}
    try:
        data = collect(zone)
        saved = record.observations.record(actor, trial_id, data)
    except InvalidEntry as error:
        st.session_state[key("problems")] = {
            ("measured_at" if p.field == "time" else p.field): p.message for p in error.problems
        }
        return
    except RecordError as error:
        st.session_state[key("problems")] = {"entry": error.message}
        return
    for name in ALL_FIELDS:
        st.session_state.pop(key(name), None)
    st.session_state.pop(key("prefilled"), None)
    st.session_state[SAVED_KEY] = (
        f"Observations at {format_ward(saved.measured_at, zone, with_date=False)} saved."
    )


def device_medians(trial_id: int) -> dict[str, RecentMedian]:
    """The median of the last minute's valid device readings of each field, while the device
    is current (its newest valid reading is not stale); nothing is offered otherwise."""
    now = record.store.now()
    medians = record.readings.recent_medians(
        trial_id, list(DEVICE_FIELDS.values()), now, PREFILL_WINDOW
    )
    return {
        name: median
        for name, parameter in DEVICE_FIELDS.items()
        if (median := medians.get(parameter)) is not None
        and age_seconds(median.last, now) <= settings.stale_after_seconds
    }


def prefill(trial_id: int) -> None:
    # Read again at the click: the page may have stood for minutes since it was drawn.
    medians = device_medians(trial_id)
    if not medians:
        st.session_state[key("problems")] = {
            "entry": "The device values are no longer current: nothing was filled in."
        }
        return
    values = {name: whole_number(median.value) for name, median in medians.items()}
    for name, value in values.items():
        st.session_state[key(name)] = value
    st.session_state[key("prefilled")] = values


def score_colour(score: int | None) -> str:
    if score is None:
        return "—"
    colour = "green" if score == 0 else "orange" if score < 3 else "red"
    return f":{colour}[**{score}**]"


def news2_panel(trial: TrialView, data: dict[str, Any]) -> None:
    try:
        result = score_news2(
            rr=data["rr"], spo2=data["spo2"], on_oxygen=data["on_oxygen"],
            sbp=data["systolic"], pulse=data["pulse_rate"],
            consciousness=data["consciousness"], temp=data["temp"],
            spo2_scale=trial.spo2_scale,
        )
    except (ValueError, ArithmeticError):
        st.warning("NEWS2 cannot be scored from these values: check them.")
        return
    scores = result.scores
    st.markdown(
        f"Respiration {score_colour(scores['rr_score'])} · SpO2 (scale {trial.spo2_scale}) "
        f"{score_colour(scores['spo2_score'])} · Air/oxygen "
        f"{score_colour(scores['oxygen_score'])} · Systolic {score_colour(scores['sbp_score'])}"
        f" · Pulse {score_colour(scores['pulse_score'])} · Consciousness "
        f"{score_colour(scores['consciousness_score'])} · Temperature "
        f"{score_colour(scores['temp_score'])}"
    )
    if result.total is None:
        missing = ", ".join(NEWS2_INPUT_WORDS.get(name, name) for name in result.missing)
        st.info(f"NEWS2 incomplete — missing: {missing}. No total is given.")
        return
    text = f"NEWS2 {result.total} — {result.band.value}"
    {"high": st.error, "medium": st.warning, "low-medium": st.warning}.get(
        result.band.value, st.success
    )(text)


actor = require_roles({Role.NURSE, Role.NURSE_SPECIALIST, Role.DOCTOR})
record = get_record()
settings = load_display_settings()
zone = record.settings.ward_timezone
st.title("Observations")
open_statuses = {TrialStatus.PLANNED, TrialStatus.BASELINE, TrialStatus.MONITORING,
                 TrialStatus.ASSESSED}
trials = record.trials.list(statuses=open_statuses)
if not trials:
    alarm_panel(record, actor)
    st.info("No open trial: plan one on Trial set-up first.")
    st.stop()
by_id = {t.id: t for t in trials}
trial_id = choose_patient_trial(trials, "obs-trial-choice")
form_trial = trial_id
trial = by_id[trial_id]
st.subheader(trial_heading(trial))
st.caption(INTENDED_USE)
alarm_panel(record, actor)

now = record.store.now()
schedule = observation_schedule(trial, record=record)
due = due_text(schedule, now, zone)
overdue = schedule is not None and schedule.next_due is not None and schedule.next_due < now
st.markdown(f":red[**{due}**]" if overdue else f"**{due}**")
missed = missed_text(schedule, now, zone)
if missed:
    st.caption(missed)
recorded_sets = record.observations.list(trial.id)
if recorded_sets:
    newest = max(recorded_sets, key=lambda s: (s.measured_at, s.id))
    st.caption(
        f"Last set, measured {format_ward(newest.measured_at, zone, with_date=False)}: "
        f"{score_text(set_scores(trial, record).get(newest.id))}"
    )

saved_message = st.session_state.pop(SAVED_KEY, None)
if saved_message:
    st.success(saved_message)
if not allowed(actor, "observation.record"):
    st.stop()

medians = device_medians(trial.id)
if medians:
    st.button(
        f"Fill in the device values ({PREFILL_WORDS}: " + ", ".join(
            f"{LABELS[DEVICE_FIELDS[n]]} {whole_number(m.value)}" for n, m in medians.items()
        ) + ")",
        on_click=prefill, args=(trial.id,),
    )
    st.caption(
        "Each is the median of the device's valid readings over the last minute ("
        + ", ".join(f"{LABELS[DEVICE_FIELDS[n]]}: {m.readings}" for n, m in medians.items())
        + " readings), not one second's sample. Check them against the patient."
    )
else:
    st.caption("No current device values to fill in (no valid reading in the last minute, or "
               f"none in the last {settings.stale_after_seconds:g} s).")
prefilled: dict[str, float] = st.session_state.get(key("prefilled"), {})

local_now = now.astimezone(zone)
st.session_state.setdefault(key("date"), local_now.date())
st.session_state.setdefault(key("time"), local_now.time().replace(second=0, microsecond=0))
when = st.columns(2)
when[0].date_input("Date measured (ward)", key=key("date"), format="DD/MM/YYYY")
when[1].time_input("Time measured (ward clock)", key=key("time"), step=60)
problem("measured_at")


def number(label: str, name: str, decimals: bool = False) -> None:
    mark = f" · from device ({PREFILL_WORDS})" if name in prefilled and \
        st.session_state.get(key(name)) == prefilled[name] else ""
    if decimals:
        st.number_input(label + mark, value=None, step=0.1, format="%.1f", key=key(name))
    else:
        st.number_input(label + mark, value=None, step=1, key=key(name))
    problem(name)


row = st.columns(4)
with row[0]:
    number("Respiration rate /min", "rr")
with row[1]:
    number("SpO2 %", "spo2")
with row[2]:
    st.radio("Air or oxygen", ["Air", "Oxygen"], index=None, key=key("on_oxygen"),
             horizontal=True)
    problem("on_oxygen")
with row[3]:
    number("Temperature °C", "temp", decimals=True)
row = st.columns(4)
with row[0]:
    number("Systolic BP mmHg", "systolic")
with row[1]:
    number("Diastolic BP mmHg", "diastolic")
with row[2]:
    number("Pulse /min", "pulse_rate")
with row[3]:
    st.selectbox("Consciousness (ACVPU)", list(Consciousness), index=None,
                 format_func=lambda c: ACVPU_WORDS[c], key=key("consciousness"))
    problem("consciousness")

news2_panel(trial, collect(zone, with_time=False))

row = st.columns(5)
with row[0]:
    st.selectbox("Sedation (POSS)", list(Poss), index=None, format_func=lambda p: POSS_WORDS[p],
                 key=key("poss"))
    problem("poss")
for column, name in zip(row[1:], POWER, strict=True):
    with column:
        st.selectbox(LABELS[Parameter(name)], list(MRC_WORDS), index=None,
                     format_func=lambda g: MRC_WORDS[g], key=key(name))
        problem(name)

st.radio("Side-effect check", ["Not done", "Done"], index=0, key=key("check"),
         horizontal=True)
if st.session_state.get(key("check")) == "Done":
    st.caption("Tick every sign present now; red flags (upward spread, breathing) are marked.")
    columns = st.columns(4)
    for index, effect in enumerate(SideEffect):
        flag = " 🚩" if effect in RED_FLAG_SIDE_EFFECTS else ""
        label = SIDE_EFFECT_LABELS[effect] + flag
        columns[index % 4].checkbox(label, key=key(f"se-{effect.value}"))
st.text_area("Note", key=key("note"), max_chars=4000)
problem("note")
problem("entry")
st.button("Save observations", type="primary", on_click=save, args=(trial.id, zone))
problems = st.session_state.get(key("problems"), {})
if problems:
    st.error("Not saved: " + " ".join(problems.values()) + " What you typed is kept.")
if trial.injection is not None:
    elapsed = age_seconds(trial.injection.given_at, now)
    st.caption(f"Injection {format_age(elapsed)} ago.")
