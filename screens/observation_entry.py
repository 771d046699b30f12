"""Observations: the nurse's full set at the bedside, NEWS2 shown as it is filled in.

The NEWS2 shown while typing is worked out from what is on the form (rules.score_news2); once
saved, the set's NEWS2 is the monitor's (it may use the oximeter's SpO2 of that instant), shown
from the record. Device values are offered as the median of the last minute's valid readings,
never one second's sample.

A saved set is changed by a correction of that set, with a reason: the record keeps the
original and the correction, both audited. A new set measured within a minute of a set
already recorded is not written: the page offers to correct that set instead, so one set is
never charted twice.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import streamlit as st

from observations.errors import InvalidEntry, RecordError
from observations.free_text import max_chars
from observations.observation_sets import SetAtSameMinute
from observations.readings import RecentMedian
from observations.record import TrialRecord
from observations.store import Actor, may
from observations.trials import OPEN_STATUSES
from observations.views import ObservationSetView, TrialView
from observations.ward_time import format_ward, to_ward, ward_time_to_utc
from rules import score_news2
from rules.news2 import whole_number
from screens.display import DisplaySettings
from screens.markdown_text import md
from screens.news2_chart import SCORE_COLOURS, show_news2_chart
from screens.nurse_view import (
    NEWS2_INPUT_WORDS,
    age_seconds,
    choose_patient_trial,
    due_text,
    format_age,
    missed_text,
    observation_schedule,
    score_text,
    set_scores,
    trial_heading,
)
from screens.shared import INTENDED_USE, MRC_POWER, live_fragment
from vocabulary import (
    LABELS,
    RED_FLAG_SIDE_EFFECTS,
    SIDE_EFFECT_LABELS,
    Consciousness,
    Parameter,
    Poss,
    SideEffect,
)

PREFIX = "obs-"
MISSING = "—"
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
SIDE_EFFECT_KEYS = tuple(f"se-{s.value}" for s in SideEffect)
# Measured time of a new set: taken at the moment of Save, or typed ("earlier").
NOW = "Now (at Save)"
EARLIER = "Earlier"
# Measured time of a correction: the corrected set's own time, or another one typed.
AS_RECORDED = "As recorded"
OTHER_TIME = "A different time"
# Fields and their value on an empty form; set explicitly (not just forgotten), so that the
# browser's boxes are emptied too and never show a value the page no longer holds.
EMPTY: dict[str, Any] = {
    **{name: None for name in (*NUMBERS, "temp", "on_oxygen", "consciousness", "poss", *POWER)},
    "check": "Not done",
    **{name: False for name in SIDE_EFFECT_KEYS},
    "note": "",
    "when": NOW,
    "when-correct": AS_RECORDED,
    "reason": "",
}


@dataclass(frozen=True)
class ObservationForm:
    """The observation form of one trial. Every widget and message of the form is keyed by
    the trial, so what was typed for one patient never appears (or is saved) under another
    after a switch; its callbacks act for the signed-in person on the record given."""

    record: TrialRecord
    actor: Actor
    trial_id: int
    zone: ZoneInfo
    settings: DisplaySettings

    def key(self, name: str) -> str:
        return f"{PREFIX}{self.trial_id}-{name}"

    def problem(self, name: str) -> None:
        message = st.session_state.get(self.key("problems"), {}).get(name)
        if message:
            st.error(message)

    def ward_now(self) -> datetime:
        return to_ward(self.record.store.now(), self.zone)

    def typed_time(self) -> datetime | None:
        state = st.session_state
        day, clock = state.get(self.key("date")), state.get(self.key("time"))
        if day is None or clock is None:
            return None
        fold = None
        if (
            clock_changes(day, clock, self.zone) is not None
            and state.get(self.key("fold")) is not None
        ):
            fold = int(state[self.key("fold")])
        return ward_time_to_utc(datetime.combine(day, clock), self.zone, fold)

    def collect(self) -> dict[str, Any]:
        """What the nurse typed, as the record takes it (None where nothing was entered)."""
        state = st.session_state
        data: dict[str, Any] = {
            name: state.get(self.key(name)) for name in (*NUMBERS, "temp", *POWER)
        }
        oxygen = state.get(self.key("on_oxygen"))
        data["on_oxygen"] = None if oxygen is None else oxygen == "Oxygen"
        consciousness = state.get(self.key("consciousness"))
        data["consciousness"] = consciousness.value if consciousness else None
        poss = state.get(self.key("poss"))
        data["poss"] = poss.value if poss else None
        if state.get(self.key("check")) == "Done":
            data["side_effects"] = [
                s.value for s in SideEffect if state.get(self.key(f"se-{s.value}"))
            ]
        else:
            data["side_effects"] = None
        data["note"] = state.get(self.key("note")) or None
        prefilled: dict[str, float] = state.get(self.key("prefilled"), {})
        data["device_prefilled"] = [
            DEVICE_FIELDS[name].value
            for name, value in prefilled.items()
            if data.get(name) == value
        ]
        return data

    def measured_at(self) -> datetime | None:
        """The set's measured time: at this moment for "now", else as typed (None: not typed)."""
        state = st.session_state
        correcting = state.get(self.key("correcting"))
        if correcting is not None:
            if state.get(self.key("when-correct"), AS_RECORDED) == AS_RECORDED:
                return self.record.observations.get(correcting).measured_at
            return self.typed_time()
        if state.get(self.key("when"), NOW) == NOW:
            return self.record.store.now()  # the moment of Save, not the moment the page was opened
        return self.typed_time()

    def clear_form(self) -> None:
        for name, value in EMPTY.items():
            st.session_state[self.key(name)] = value
        for name in ("prefilled", "correcting", "same-minute", "date", "time", "fold"):
            st.session_state.pop(self.key(name), None)

    def save(self) -> None:
        state = st.session_state
        state[self.key("problems")] = {}
        state.pop(self.key("same-minute"), None)
        state.pop(self.key("saved"), None)
        correcting = state.get(self.key("correcting"))
        try:
            data = self.collect()
            moment = self.measured_at()
            if moment is None:
                raise InvalidEntry.single("measured_at", "Enter the date and time measured.")
            data["measured_at"] = moment
            if correcting is None:
                saved = self.record.observations.record(
                    self.actor, self.trial_id, data, one_per_minute=True
                )
            else:
                saved = self.record.observations.correct(
                    self.actor,
                    correcting,
                    data,
                    state.get(self.key("reason")) or "",
                    one_per_minute=True,
                )
        except SetAtSameMinute as error:
            state[self.key("same-minute")] = error.existing.id
            return
        except InvalidEntry as error:
            state[self.key("problems")] = {
                ("measured_at" if p.field == "time" else p.field): p.message for p in error.problems
            }
            return
        except RecordError as error:
            state[self.key("problems")] = {"entry": error.message}
            return
        self.clear_form()
        state[self.key("saved")] = (saved.id, "corrected" if correcting is not None else "saved")

    def set_time_fields(self, moment: datetime) -> None:
        local = to_ward(moment, self.zone)
        st.session_state[self.key("date")] = local.date()
        st.session_state[self.key("time")] = local.time().replace(second=0, microsecond=0)

    def when_changed(self) -> None:
        # "Earlier" starts from the ward clock at the moment it is chosen, not at page opening.
        if st.session_state.get(self.key("when")) == EARLIER:
            self.set_time_fields(self.record.store.now())

    def when_correct_changed(self) -> None:
        if st.session_state.get(self.key("when-correct")) == OTHER_TIME:
            correcting = st.session_state.get(self.key("correcting"))
            if correcting is not None:
                self.set_time_fields(self.record.observations.get(correcting).measured_at)

    def start_correction(self, set_id: int, load: bool) -> None:
        """Correct set ``set_id``: with ``load``, its recorded values fill the form to be changed;
        without, what is typed becomes the correction (the same-minute offer)."""
        state = st.session_state
        old = self.record.observations.get(set_id)
        if load:
            self.clear_form()
            for name in (*NUMBERS, "temp", *POWER):
                state[self.key(name)] = getattr(old, name)
            state[self.key("on_oxygen")] = (
                None if old.on_oxygen is None else ("Oxygen" if old.on_oxygen else "Air")
            )
            state[self.key("consciousness")] = (
                None if old.consciousness is None else Consciousness(old.consciousness)
            )
            state[self.key("poss")] = None if old.poss is None else Poss(old.poss)
            if old.side_effects is not None:
                state[self.key("check")] = "Done"
                for effect in old.side_effects:
                    state[self.key(f"se-{effect}")] = True
            state[self.key("note")] = old.note or ""
            # Values the device gave stay marked as the device's while they are left unchanged.
            names = {parameter.value: name for name, parameter in DEVICE_FIELDS.items()}
            state[self.key("prefilled")] = {
                names[p]: getattr(old, names[p]) for p in (old.device_prefilled or []) if p in names
            }
        state.pop(self.key("same-minute"), None)
        state.pop(self.key("saved"), None)
        state[self.key("problems")] = {}
        state[self.key("correcting")] = set_id
        state[self.key("when-correct")] = AS_RECORDED
        state[self.key("reason")] = ""

    def cancel_correction(self) -> None:
        self.clear_form()
        st.session_state[self.key("problems")] = {}

    def device_medians(self) -> dict[str, RecentMedian]:
        """The median of the last minute's valid device readings of each field, while the device
        is current (its newest valid reading is not stale); nothing is offered otherwise."""
        now = self.record.store.now()
        medians = self.record.readings.recent_medians(
            self.trial_id, list(DEVICE_FIELDS.values()), now, PREFILL_WINDOW
        )
        return {
            name: median
            for name, parameter in DEVICE_FIELDS.items()
            if (median := medians.get(parameter)) is not None
            and age_seconds(median.last, now) <= self.settings.stale_after_seconds
        }

    def prefill(self) -> None:
        # Read again at the click: the page may have stood for minutes since it was drawn.
        medians = self.device_medians()
        if not medians:
            st.session_state[self.key("problems")] = {
                "entry": "The device values are no longer current: nothing was filled in."
            }
            return
        values = {name: whole_number(median.value) for name, median in medians.items()}
        for name, value in values.items():
            st.session_state[self.key(name)] = value
        st.session_state[self.key("prefilled")] = values

    def saved_confirmation(self) -> None:
        """What was saved, beside the Save button, with the monitor's NEWS2 once it has scored
        the set (the fragment looks again every refresh until then)."""
        saved = st.session_state.get(self.key("saved"))
        if saved is None:
            return
        set_id, verb = saved
        obs = self.record.observations.get(set_id)
        score = self.record.set_scores.for_set(set_id)
        news2 = (
            "NEWS2 is being worked out by the monitor (it shows here once scored)."
            if score is None
            else f"Monitor's {score_text(score)}."
        )
        measured = format_ward(obs.measured_at, self.zone, with_date=False)
        st.success(
            f"Observations {verb}, measured {measured}: {set_summary(obs)}. {news2}",
            icon=":material/check_circle:",
        )


def clock_changes(day: date, clock: time, zone: ZoneInfo) -> tuple[str, str] | None:
    """The two zone names of a wall-clock time that happens twice (clocks going back)."""
    local = datetime.combine(day, clock)
    first, second = local.replace(tzinfo=zone, fold=0), local.replace(tzinfo=zone, fold=1)
    if first.utcoffset() == second.utcoffset():
        return None
    if first.astimezone(ZoneInfo("UTC")).astimezone(zone).replace(tzinfo=None) != local:
        return None  # a time that does not exist: ward_time_to_utc says so
    return first.strftime("%Z"), second.strftime("%Z")


def score_badge(score: int | None) -> str:
    """A parameter's score shaded as on the NEWS2 chart (display.yaml), its number written."""
    if score is None:
        return MISSING
    colour = SCORE_COLOURS.get(score, SCORE_COLOURS[3])
    return (
        f'<b style="background:{colour};color:#1a1a1a;padding:0 6px;border-radius:3px;'
        f'border:1px solid #9e9e9e">{score}</b>'
    )


def news2_panel(trial: TrialView, data: dict[str, Any]) -> None:
    try:
        result = score_news2(
            rr=data["rr"],
            spo2=data["spo2"],
            on_oxygen=data["on_oxygen"],
            sbp=data["systolic"],
            pulse=data["pulse_rate"],
            consciousness=data["consciousness"],
            temp=data["temp"],
            spo2_scale=trial.spo2_scale,
        )
    except (ValueError, ArithmeticError):
        st.warning("NEWS2 cannot be scored from these values: check them.")
        return
    scores = result.scores
    parts = (
        ("Respiration", "rr_score"),
        (f"SpO2 (scale {trial.spo2_scale})", "spo2_score"),
        ("Air/oxygen", "oxygen_score"),
        ("Systolic", "sbp_score"),
        ("Pulse", "pulse_score"),
        ("Consciousness", "consciousness_score"),
        ("Temperature", "temp_score"),
    )
    # Fixed words and whole numbers only (no typed text): drawn as HTML for the chart's shades.
    st.html(
        '<p class="itbmon-news2-parts">'
        + " · ".join(f"{html.escape(name)} {score_badge(scores[key])}" for name, key in parts)
        + "</p>"
    )
    if result.total is None:
        missing = ", ".join(NEWS2_INPUT_WORDS.get(name, name) for name in result.missing)
        st.info(f"NEWS2 incomplete — missing: {missing}. No total is given.")
        return
    text = f"NEWS2 {result.total} — {result.band.value} (of what is typed, not yet saved)"
    {"high": st.error, "medium": st.warning, "low-medium": st.warning}.get(
        result.band.value, st.success
    )(text)


def set_summary(obs: ObservationSetView) -> str:
    """A recorded set's values in a line (numbers and choices only, never the note's text)."""
    parts = []
    if obs.rr is not None:
        parts.append(f"RR {obs.rr}")
    if obs.spo2 is not None:
        parts.append(f"SpO2 {obs.spo2} %")
    if obs.on_oxygen is not None:
        parts.append("on oxygen" if obs.on_oxygen else "on air")
    if obs.systolic is not None:
        parts.append(f"BP {obs.systolic}/{obs.diastolic if obs.diastolic is not None else MISSING}")
    if obs.pulse_rate is not None:
        parts.append(f"pulse {obs.pulse_rate}")
    if obs.consciousness is not None:
        parts.append(f"ACVPU {obs.consciousness}")
    if obs.temp is not None:
        parts.append(f"temp {obs.temp:.1f} °C")
    if obs.poss is not None:
        parts.append(f"POSS {obs.poss}")
    powers = [
        f"{LABELS[Parameter(name)]} {getattr(obs, name)}"
        for name in POWER
        if getattr(obs, name) is not None
    ]
    parts.extend(powers)
    if obs.side_effects is not None:
        effects = [SIDE_EFFECT_LABELS[SideEffect(s)] for s in obs.side_effects]
        parts.append("side effects: " + (", ".join(effects) if effects else "none"))
    if obs.note:
        parts.append("a note")
    return " · ".join(parts) if parts else "no values"


def set_label(obs: ObservationSetView, zone: ZoneInfo) -> str:
    return f"{format_ward(obs.measured_at, zone)} — {set_summary(obs)}"


def render(record: TrialRecord, actor: Actor, settings: DisplaySettings) -> None:
    """One open trial's observation form, its NEWS2 as typed and its chart."""
    zone = record.settings.ward_timezone
    st.title("Observations")
    trials = record.trials.list(statuses=OPEN_STATUSES)
    if not trials:
        st.info("No open trial: plan one on Trial set-up first.")
        return
    by_id = {t.id: t for t in trials}
    trial_id = choose_patient_trial(trials, "obs-trial-choice")
    form = ObservationForm(record, actor, trial_id, zone, settings)
    trial = by_id[trial_id]
    st.subheader(md(trial_heading(trial)), anchor=False)
    st.caption(INTENDED_USE)

    now = record.store.now()
    schedule = observation_schedule(trial, record)
    due = due_text(schedule, now, zone)
    overdue = schedule is not None and schedule.next_due is not None and schedule.next_due < now
    st.markdown(f":red[**{due}**]" if overdue else f"**{due}**")
    missed = missed_text(schedule, now, zone)
    if missed:
        st.caption(missed)
    recorded_sets = record.observations.list(trial.id)

    def last_set() -> None:
        """The newest set and the monitor's NEWS2 of it, looked at again each refresh: the monitor
        scores a set a moment after it is saved."""
        sets = record.observations.list(trial.id)
        if sets:
            newest = max(sets, key=lambda s: (s.measured_at, s.id))
            st.caption(
                f"Last set, measured {format_ward(newest.measured_at, zone, with_date=False)}: "
                f"{score_text(record.set_scores.for_set(newest.id))}"
            )

    def news2_chart() -> None:
        show_news2_chart(
            record.observations.list(trial.id),
            set_scores(trial, record),
            spo2_scale=trial.spo2_scale,
            zone=zone,
        )

    live_fragment(run_every=settings.numbers_refresh_seconds)(last_set)()
    may_record = may(actor, "observation.record")

    if may_record:
        correcting_id: int | None = st.session_state.get(form.key("correcting"))
        correcting = None
        if correcting_id is not None:
            correcting = next((s for s in recorded_sets if s.id == correcting_id), None)
            if correcting is None:  # corrected meanwhile (another tab): nothing to correct here
                st.session_state.pop(form.key("correcting"), None)
                st.warning(
                    "The set you were correcting has been corrected since: start again from "
                    "the set as it stands now."
                )
        if correcting is not None:
            st.info(
                f"Correcting the set measured {format_ward(correcting.measured_at, zone)}: change "
                "what was wrong and say why. The original stays in the record and the audit trail.",
                icon=":material/edit_note:",
            )
        elif recorded_sets:
            with st.expander("Correct a saved set", icon=":material/edit_note:"):
                newest_first = sorted(
                    recorded_sets, key=lambda s: (s.measured_at, s.id), reverse=True
                )
                chosen = st.selectbox(
                    "Saved set",
                    [s.id for s in newest_first],
                    key=form.key("correct-choice"),
                    format_func=lambda i: set_label(
                        next(s for s in newest_first if s.id == i), zone
                    ),
                )
                st.button(
                    "Correct the chosen set",
                    key=form.key("correct-chosen"),
                    on_click=form.start_correction,
                    args=(chosen, True),
                    icon=":material/edit:",
                )

        medians = form.device_medians()
        if medians:
            st.button(
                f"Fill in the device values ({PREFILL_WORDS}: "
                + ", ".join(
                    f"{LABELS[DEVICE_FIELDS[n]]} {whole_number(m.value)}"
                    for n, m in medians.items()
                )
                + ")",
                on_click=form.prefill,
            )
            st.caption(
                "Each is the median of the device's valid readings over the last minute ("
                + ", ".join(f"{LABELS[DEVICE_FIELDS[n]]}: {m.readings}" for n, m in medians.items())
                + " readings), not one second's sample. Check them against the patient."
            )
        else:
            st.caption(
                "No current device values to fill in (no valid reading in the last minute, "
                f"or none in the last {settings.stale_after_seconds:g} s)."
            )
        prefilled: dict[str, float] = st.session_state.get(form.key("prefilled"), {})

        def number(label: str, name: str, decimals: bool = False) -> None:
            mark = (
                f" · from device ({PREFILL_WORDS})"
                if name in prefilled and st.session_state.get(form.key(name)) == prefilled[name]
                else ""
            )
            if decimals:
                st.number_input(
                    label + mark, value=None, step=0.1, format="%.1f", key=form.key(name)
                )
            else:
                st.number_input(label + mark, value=None, step=1, key=form.key(name))
            form.problem(name)

        row = st.columns(4)
        with row[0]:
            number("Respiration rate /min", "rr")
        with row[1]:
            number("SpO2 %", "spo2")
        with row[2]:
            st.radio(
                "Air or oxygen",
                ["Air", "Oxygen"],
                index=None,
                key=form.key("on_oxygen"),
                horizontal=True,
            )
            form.problem("on_oxygen")
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
            st.selectbox(
                "Consciousness (ACVPU)",
                list(Consciousness),
                index=None,
                format_func=lambda c: ACVPU_WORDS[c],
                key=form.key("consciousness"),
            )
            form.problem("consciousness")

        news2_panel(trial, form.collect())

        row = st.columns(5)
        with row[0]:
            st.selectbox(
                "Sedation (POSS)",
                list(Poss),
                index=None,
                format_func=lambda p: POSS_WORDS[p],
                key=form.key("poss"),
            )
            form.problem("poss")
        for column, name in zip(row[1:], POWER, strict=True):
            with column:
                st.selectbox(
                    LABELS[Parameter(name)],
                    list(MRC_POWER),
                    index=None,
                    format_func=lambda g: MRC_POWER[g],
                    key=form.key(name),
                )
                form.problem(name)

        st.radio("Side-effect check", ["Not done", "Done"], key=form.key("check"), horizontal=True)
        if st.session_state.get(form.key("check")) == "Done":
            st.caption(
                "Tick every sign present now; red flags (upward spread, breathing) are marked."
            )
            columns = st.columns(4)
            for index, effect in enumerate(SideEffect):
                flag = " :material/flag:" if effect in RED_FLAG_SIDE_EFFECTS else ""
                label = SIDE_EFFECT_LABELS[effect] + flag
                columns[index % 4].checkbox(label, key=form.key(f"se-{effect.value}"))
        st.text_area("Note", key=form.key("note"), max_chars=max_chars("note"))
        form.problem("note")

        # When the set was measured: for a new set "now" is read at the moment of Save.
        if correcting is not None:
            recorded_at = format_ward(correcting.measured_at, zone, with_date=True)
            when = st.radio(
                "Time measured",
                [AS_RECORDED, OTHER_TIME],
                key=form.key("when-correct"),
                horizontal=True,
                on_change=form.when_correct_changed,
                format_func=lambda w: f"{w} ({recorded_at})" if w == AS_RECORDED else w,
            )
            typed = when == OTHER_TIME
        else:
            when = st.radio(
                "Time measured",
                [NOW, EARLIER],
                key=form.key("when"),
                horizontal=True,
                on_change=form.when_changed,
            )
            typed = when == EARLIER
        if typed:
            if form.key("date") not in st.session_state:
                form.set_time_fields(now)
            fields = st.columns([1, 1, 2])
            fields[0].date_input(
                "Date measured (ward)",
                key=form.key("date"),
                format="DD/MM/YYYY",
                max_value=to_ward(now, zone).date(),
            )
            fields[1].time_input("Time measured (ward clock)", key=form.key("time"), step=60)
            names = clock_changes(
                st.session_state[form.key("date")], st.session_state[form.key("time")], zone
            )
            if names is not None:
                with fields[2]:
                    st.radio(
                        "This time happens twice (the clocks went back): which one?",
                        [0, 1],
                        index=None,
                        key=form.key("fold"),
                        horizontal=True,
                        format_func=lambda f: (
                            f"first ({names[0]})" if f == 0 else f"second ({names[1]})"
                        ),
                    )
        form.problem("measured_at")

        if correcting is not None:
            st.text_input(
                "Reason for the correction (required)",
                key=form.key("reason"),
                max_chars=max_chars("note"),
                placeholder="e.g. pulse typed as 17, counted 71",
            )
            form.problem("reason")
        form.problem("entry")

        save_column, message_column = st.columns([1, 3])
        with save_column:
            st.button(
                "Save correction" if correcting is not None else "Save observations",
                type="primary",
                on_click=form.save,
                icon=":material/save:",
                key=form.key("save"),
            )
            if correcting is not None:
                st.button(
                    "Cancel correction", key=form.key("cancel"), on_click=form.cancel_correction
                )
        with message_column:
            same_minute_id = st.session_state.get(form.key("same-minute"))
            same_minute = next((s for s in recorded_sets if s.id == same_minute_id), None)
            problems = st.session_state.get(form.key("problems"), {})
            if same_minute is not None:
                st.warning(
                    "Not saved: a set measured within the same minute is already recorded "
                    f"({format_ward(same_minute.measured_at, zone, with_date=False)}: "
                    f"{set_summary(same_minute)}). Two sets at one time would be charted twice. "
                    "Correct that set with what you typed, or change the time measured. "
                    "What you typed is kept.",
                    icon=":material/content_copy:",
                )
                st.button(
                    "Correct that set with what is typed",
                    key=form.key("correct-same"),
                    on_click=form.start_correction,
                    args=(same_minute.id, False),
                    icon=":material/edit:",
                )
            elif problems:
                st.error("Not saved: " + " ".join(problems.values()) + " What you typed is kept.")
            live_fragment(run_every=settings.numbers_refresh_seconds)(form.saved_confirmation)()
            saved = st.session_state.get(form.key("saved"))
            if saved is not None and correcting is None:
                st.button(
                    "Correct this set",
                    key=form.key("correct-saved"),
                    on_click=form.start_correction,
                    args=(saved[0], True),
                    icon=":material/edit:",
                )

    if trial.injection is not None:
        elapsed = age_seconds(trial.injection.given_at, now)
        st.caption(f"Injection {format_age(elapsed)} ago.")

    with st.expander("NEWS2 chart (RCP layout)", expanded=True, icon=":material/table_chart:"):
        live_fragment(run_every=settings.chart_refresh_seconds)(news2_chart)()
