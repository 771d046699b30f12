"""Spasticity scores at baseline, 4 hours and extra time points (physiotherapist, nurse specialist).

Layout and widgets only: the record checks every value and says what is wrong (the message is
shown beside its field and what was typed stays); rules/ does any arithmetic. Ashworth labels
are stored as charted ("1+" stays "1+") together with the scale used.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import pandas as pd
import streamlit as st

from observations.errors import InvalidEntry, RecordError
from observations.free_text import max_chars
from observations.limits import load_limits
from observations.record import TrialRecord
from observations.store import Actor
from observations.trials import OPEN_STATUSES
from observations.views import AssessmentView, TrialView
from observations.ward_time import format_ward, to_ward, ward_time_to_utc
from screens.shared import (
    INTENDED_USE,
    MISSING,
    MRC_POWER,
    choose_trial,
    load_muscle_groups,
    muscle_name,
    show_problem,
    shown,
)
from vocabulary import (
    ASHWORTH_LABELS,
    LABELS,
    PENN_FREQUENCY_LABELS,
    PENN_SEVERITY_LABELS,
    AshworthScale,
    AssessmentTimePoint,
    Parameter,
    Side,
)

FLASH_KEY = "scores_saved_message"
TIME_POINT_NAMES = {
    AssessmentTimePoint.BASELINE: "Baseline (before the injection)",
    AssessmentTimePoint.FOUR_HOURS: "4 hours (peak)",
    AssessmentTimePoint.OTHER: "Extra time point",
}
SCALE_NAMES = {
    AshworthScale.MODIFIED: "Modified Ashworth (0, 1, 1+, 2, 3, 4)",
    AshworthScale.ORIGINAL: "Original Ashworth (0-4)",
    AshworthScale.ORIGINAL_1_TO_5: "Original Ashworth, 1-5 variant",
}
MAS_HELP = (
    "0 no increase in tone · 1 catch and release or minimal resistance at end of range · "
    "1+ catch then minimal resistance through less than half the range · 2 more marked "
    "increase through most of the range · 3 considerable increase, passive movement "
    "difficult · 4 rigid. Leave empty if not scored."
)
PENN_FREQUENCY = {grade: f"{grade} — {words}" for grade, words in PENN_FREQUENCY_LABELS.items()}
PENN_SEVERITY = {grade: f"{grade} — {words}" for grade, words in PENN_SEVERITY_LABELS.items()}
POWER_FIELDS = (
    Parameter.POWER_LEFT_LEG,
    Parameter.POWER_RIGHT_LEG,
    Parameter.POWER_LEFT_ARM,
    Parameter.POWER_RIGHT_ARM,
)
GAS_LABELS = ("-2", "-1", "0", "+1", "+2")
SIDE_COLUMNS = {Side.LEFT: "Left", Side.RIGHT: "Right"}


def latest(assessments: list[AssessmentView], point: AssessmentTimePoint) -> AssessmentView | None:
    found = [a for a in assessments if a.time_point == point.value]
    return found[-1] if found else None


def cell(value: Any) -> str | None:
    """A grid cell as typed: empty cells (None, NaN, blank) are 'not scored'."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    text = str(value).strip()
    return text or None


def gas_label(rating: int | None) -> str | None:
    return None if rating is None else f"{rating:+d}" if rating else "0"


def ashworth_frame(
    muscles: list[str], current: AssessmentView | None, baseline: AssessmentView | None
) -> pd.DataFrame:
    """One row per muscle group: the labels already recorded, and the baseline beside them."""

    def labels(view: AssessmentView | None) -> dict[tuple[str, str], str]:
        return {(s.muscle_group, s.side): s.label for s in view.ashworth} if view else {}

    now, before = labels(current), labels(baseline)
    rows = []
    for muscle in muscles:
        row: dict[str, Any] = {"muscle": muscle, "Muscle group": muscle_name(muscle)}
        for side, column in SIDE_COLUMNS.items():
            row[f"Baseline {column.lower()}"] = before.get((muscle, side.value), MISSING)
            row[column] = now.get((muscle, side.value))
        rows.append(row)
    return pd.DataFrame(rows).astype(object)


def goals_frame(current: AssessmentView | None, baseline: AssessmentView | None) -> pd.DataFrame:
    """Goals already rated here; or, at a later time point, the goals agreed at baseline."""
    before = {g.goal: g.rating for g in baseline.goals} if baseline else {}
    if current is not None:
        goals = [(g.goal, g.rating) for g in current.goals]
    else:
        goals = [(goal, None) for goal in before]
    rows = [
        {
            "Goal": goal,
            "Baseline rating": shown(gas_label(before.get(goal))),
            "Rating": gas_label(rating),
        }
        for goal, rating in goals
    ]
    return pd.DataFrame(rows, columns=["Goal", "Baseline rating", "Rating"]).astype(object)


def beside_baseline(render: Callable[[], Any], baseline_text: str | None) -> Any:
    """The field, and at a later time point the baseline value beside it (plain text)."""
    if baseline_text is None:
        return render()
    field, before = st.columns([3, 2])
    with field:
        value = render()
    with before:
        st.text(f"Baseline: {baseline_text}")
    return value


def choice_index(options: list[Any], value: Any) -> int | None:
    return options.index(value) if value in options else None


def slot_of(field: str) -> str:
    """Which place on the form a record problem belongs beside."""
    head = field.split(".")[0]
    if head in ("ashworth", "ashworth_scale"):
        return "ashworth"
    if head in ("assessed_at", "time"):
        return "assessed_at"
    return head


# ----- page -------------------------------------------------------------------------------------
def render(record: TrialRecord, actor: Actor) -> None:
    """The scores form of one open trial at one time point, the baseline beside it."""
    zone = record.settings.ward_timezone
    muscles_configured = [m.value for m in load_muscle_groups()]

    st.title("Spasticity scores")
    st.caption(INTENDED_USE)
    saved = st.session_state.pop(FLASH_KEY, None)
    if saved:
        st.success(saved)

    trial: TrialView | None = choose_trial(
        record.trials.list(statuses=OPEN_STATUSES), "scores_trial"
    )
    if trial is None:
        st.info("Choose the trial to score. Only trials not yet decided or cancelled are listed.")
        return

    point = st.radio(
        "Time point",
        list(AssessmentTimePoint),
        format_func=TIME_POINT_NAMES.get,
        horizontal=True,
        key=f"scores_point_{trial.id}",
    )
    assessments = record.assessments.list(trial.id)
    baseline = latest(assessments, AssessmentTimePoint.BASELINE)
    later = point is not AssessmentTimePoint.BASELINE

    current: AssessmentView | None
    if point is AssessmentTimePoint.OTHER:
        extras = {a.id: a for a in assessments if a.time_point == point.value}
        pick = st.selectbox(
            "Extra assessment",
            [None, *extras],
            format_func=lambda i: (
                "New extra assessment"
                if i is None
                else f"Scored {format_ward(extras[i].assessed_at, zone)}"
            ),
            key=f"scores_extra_{trial.id}",
        )
        current = extras.get(pick) if pick is not None else None
    else:
        current = latest(assessments, point)

    if current is not None:
        st.info(
            f"{TIME_POINT_NAMES[AssessmentTimePoint(current.time_point)]} scores were recorded for "
            f"{format_ward(current.assessed_at, zone)}. Saving again corrects them: the earlier "
            "entry stays in the audit trail and a reason is required."
        )
    if later and baseline is None:
        st.warning("No baseline scores are recorded for this trial: nothing to compare against.")

    # Widget keys carry trial, time point and entry, so nothing typed for one patient or one time
    # point is ever carried into another.
    context = f"{trial.id}_{point.value}_{current.id if current else 'new'}"
    shown_baseline = baseline if later else None

    scale_default = current or shown_baseline
    scales = list(AshworthScale)
    scale = st.selectbox(
        "Ashworth scale used",
        scales,
        format_func=SCALE_NAMES.get,
        index=scales.index(AshworthScale(scale_default.ashworth_scale)) if scale_default else 0,
        key=f"scores_scale_{context}",
    )
    if shown_baseline is not None and shown_baseline.ashworth_scale != scale.value:
        st.warning(
            f"The baseline was scored on the "
            f"{SCALE_NAMES[AshworthScale(shown_baseline.ashworth_scale)]} scale. Scales are never "
            "mixed: the review will not compare them."
        )

    recorded_muscles = {s.muscle_group for a in (current, shown_baseline) if a for s in a.ashworth}
    muscles = muscles_configured + sorted(recorded_muscles - set(muscles_configured))
    slots: dict[str, Any] = {}

    with st.form(f"scores_form_{context}"):
        slots["top"] = st.empty()
        when = to_ward(current.assessed_at if current else record.store.now(), zone)
        day, clock = st.columns(2)
        assessed_day = day.date_input(
            "Date assessed (ward)", value=when.date(), format="DD/MM/YYYY", key=f"day_{context}"
        )
        assessed_time = clock.time_input(
            "Time assessed (ward time)",
            value=when.time().replace(second=0, microsecond=0),
            step=60,
            key=f"time_{context}",
        )
        slots["assessed_at"] = st.empty()
        timing_reason = ""
        if point is AssessmentTimePoint.FOUR_HOURS:
            day_limits = load_limits().trial_day
            timing_reason = st.text_input(
                f"Only if taken outside the peak window ({day_limits.peak_window_start_hours:g} to "
                f"{day_limits.peak_window_end_hours:g} hours after the injection): why then",
                key=f"timing_reason_{context}",
                max_chars=max_chars("note"),
            )
            slots["timing_reason"] = st.empty()

        st.subheader("Ashworth per muscle group")
        options = list(ASHWORTH_LABELS[scale])
        side_config = {
            column: st.column_config.SelectboxColumn(column, options=options, help=MAS_HELP)
            for column in SIDE_COLUMNS.values()
        }
        order = (
            ["Muscle group", "Baseline left", "Left", "Baseline right", "Right"]
            if shown_baseline is not None
            else ["Muscle group", "Left", "Right"]
        )
        grid = st.data_editor(
            ashworth_frame(muscles, current, shown_baseline),
            key=f"ashworth_{context}",
            column_config={
                **side_config,
                "Baseline left": st.column_config.TextColumn("Baseline left"),
                "Baseline right": st.column_config.TextColumn("Baseline right"),
            },
            column_order=order,
            disabled=["Muscle group", "Baseline left", "Baseline right"],
            hide_index=True,
            num_rows="fixed",
            width="stretch",
            placeholder=MISSING,  # an empty cell is not scored, never "None"
        )
        st.caption(
            f"{MISSING}: not scored. Choose a grade in a cell; leave it empty if not scored."
        )
        slots["ashworth"] = st.empty()

        st.subheader("Spasms (Penn)")

        def baseline_of(attribute: str, names: dict[int, str] | None = None) -> str | None:
            if shown_baseline is None:
                return None if not later else MISSING
            value = getattr(shown_baseline, attribute)
            return (
                MISSING if value is None else names.get(value, str(value)) if names else str(value)
            )

        penn_options = list(PENN_FREQUENCY)
        penn_frequency = beside_baseline(
            lambda: st.selectbox(
                "Penn spasm frequency",
                penn_options,
                format_func=PENN_FREQUENCY.get,
                index=choice_index(penn_options, current.penn_frequency if current else None),
                placeholder=f"{MISSING} not scored",
                key=f"penn_frequency_{context}",
            ),
            baseline_of("penn_frequency", PENN_FREQUENCY),
        )
        slots["penn_frequency"] = st.empty()
        severity_options = list(PENN_SEVERITY)
        penn_severity = beside_baseline(
            lambda: st.selectbox(
                "Penn spasm severity (only when there are spasms)",
                severity_options,
                format_func=PENN_SEVERITY.get,
                index=choice_index(severity_options, current.penn_severity if current else None),
                placeholder=f"{MISSING} not scored",
                key=f"penn_severity_{context}",
            ),
            baseline_of("penn_severity", PENN_SEVERITY),
        )
        slots["penn_severity"] = st.empty()
        recall = beside_baseline(
            lambda: st.text_input(
                "Recall period for spasms",
                value=(current.penn_recall_period or "") if current else "",
                placeholder="e.g. the last 24 hours",
                key=f"penn_recall_{context}",
                max_chars=max_chars("label"),
            ),
            baseline_of("penn_recall_period"),
        )
        slots["penn_recall_period"] = st.empty()

        nrs_scale = load_limits().entry["nrs"]
        span = f"({nrs_scale.min:g}-{nrs_scale.max:g})"
        st.subheader(f"Pain and stiffness {span}")
        nrs: dict[str, int | None] = {}
        for name, label in (("pain_nrs", f"Pain {span}"), ("stiffness_nrs", f"Stiffness {span}")):
            nrs[name] = beside_baseline(
                lambda name=name, label=label: st.number_input(
                    label,
                    value=getattr(current, name) if current else None,
                    step=1,
                    placeholder=f"{MISSING} not scored",
                    key=f"{name}_{context}",
                ),
                baseline_of(name),
            )
            slots[name] = st.empty()

        st.subheader("Muscle power (MRC)")
        power_options = list(MRC_POWER)
        power: dict[str, int | None] = {}
        for parameter in POWER_FIELDS:
            name = parameter.value
            power[name] = beside_baseline(
                lambda name=name, parameter=parameter: st.selectbox(
                    LABELS[parameter],
                    power_options,
                    format_func=MRC_POWER.get,
                    index=choice_index(power_options, getattr(current, name) if current else None),
                    placeholder=f"{MISSING} not scored",
                    key=f"{name}_{context}",
                ),
                baseline_of(name, MRC_POWER),
            )
            slots[name] = st.empty()

        st.subheader("Goals (Goal Attainment Scaling, -2 to +2)")
        goals = st.data_editor(
            goals_frame(current, shown_baseline),
            key=f"goals_{context}",
            column_config={
                "Goal": st.column_config.TextColumn("Goal", max_chars=max_chars("goal")),
                "Baseline rating": st.column_config.TextColumn("Baseline rating"),
                "Rating": st.column_config.SelectboxColumn(
                    "Rating",
                    options=list(GAS_LABELS),
                    help="Against the expected level agreed beforehand: 0 as expected, "
                    "+1/+2 better, -1/-2 worse.",
                ),
            },
            column_order=["Goal", "Baseline rating", "Rating"] if later else ["Goal", "Rating"],
            disabled=["Baseline rating"],
            hide_index=True,
            num_rows="dynamic",
            width="stretch",
            placeholder=MISSING,
        )
        slots["goals"] = st.empty()

        note = st.text_area(
            "Notes",
            value=(current.note or "") if current else "",
            key=f"note_{context}",
            max_chars=max_chars("note"),
        )
        slots["note"] = st.empty()
        reason = ""
        if current is not None:
            reason = st.text_input(
                "Reason for the correction", key=f"reason_{context}", max_chars=max_chars("note")
            )
            slots["reason"] = st.empty()
        submitted = st.form_submit_button("Correct scores" if current else "Save scores")

    if submitted:
        ashworth = [
            {"muscle_group": row["muscle"], "side": side.value, "label": label}
            for row in grid.to_dict("records")
            for side, column in SIDE_COLUMNS.items()
            if (label := cell(row.get(column))) is not None
        ]
        goal_rows = [
            {"goal": cell(row.get("Goal")) or "", "rating": cell(row.get("Rating"))}
            for row in goals.to_dict("records")
            if cell(row.get("Goal")) is not None or cell(row.get("Rating")) is not None
        ]
        try:
            moment: datetime = ward_time_to_utc(datetime.combine(assessed_day, assessed_time), zone)
            data: dict[str, Any] = {
                "time_point": point.value,
                "assessed_at": moment,
                "ashworth_scale": scale.value,
                "ashworth": ashworth,
                "penn_frequency": penn_frequency,
                "penn_severity": penn_severity,
                "penn_recall_period": recall.strip() or None,
                **nrs,
                **power,
                "goals": goal_rows,
                "note": note or None,
                "timing_reason": timing_reason.strip() or None,
            }
            if current is None:
                record.assessments.record(actor, trial.id, data)
            else:
                record.assessments.correct(actor, current.id, data, reason)
        except InvalidEntry as error:
            by_slot: dict[str, list[str]] = {}
            for problem in error.problems:
                where = slot_of(problem.field)
                by_slot.setdefault(where if where in slots else "top", []).append(problem.message)
            count = len(error.problems)
            by_slot.setdefault("top", []).insert(
                0,
                f"Not saved: {count} problem{'s' if count > 1 else ''}, shown beside the fields. "
                "What you entered is kept.",
            )
            for where, messages in by_slot.items():
                with slots[where].container():
                    for message in messages:
                        st.error(message)
        except RecordError as error:
            with slots["top"].container():
                show_problem(error)
        else:
            done = "corrected" if current else "saved"
            st.session_state[FLASH_KEY] = f"{TIME_POINT_NAMES[point]} scores {done}."
            st.rerun()
