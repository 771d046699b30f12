"""The team's 4-hour review: scores before and after, the day's vital signs, alarms, side effects.

Extra time points (assessments other than baseline and 4 hours) appear as further columns in
time order beside the two; comparisons and the hint stay baseline against 4 hours.

Layout only. Every number on scores comes from rules/responder.py (declared MAS mapping, mixed
scales refused, GAS T-score); the configured responder criterion is shown as a HINT naming its
source. The decision is the team's, signed on the Decision page.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pandas as pd
import streamlit as st

from observations.entries import measure_label
from observations.exports import export_for, may_export
from observations.exports.snapshot import (
    evaluation_of,
    peak_window,
    take_snapshot,
)
from observations.record import TrialRecord
from observations.set_scores import SetScoreView
from observations.store import Actor
from observations.views import AssessmentView, ObservationSetView, TrialView
from observations.ward_time import format_ward, to_ward
from rules import DueStatus
from rules.evaluation import TrialDayEvaluation
from rules.responder import (
    AshworthAssessment,
    AshworthScore,
    MixedScalesError,
    ResponderConfig,
    ResponderHint,
    compare_lower_limb,
    gas_t_score,
    load_responder_config,
    lower_limb_mean,
)
from screens.charts import CHART_PARAMETERS, PRIORITY_COLOURS, Marker, News2Point, timeline_figure
from screens.display import DisplaySettings
from screens.markdown_text import md
from screens.nurse_view import score_text, set_scores
from screens.safety_view import show_safety
from screens.shared import (
    INTENDED_USE,
    MISSING,
    choose_trial,
    load_muscle_groups,
    muscle_name,
    shown,
)
from vocabulary import (
    LABELS,
    LOWER_LIMB_MUSCLES,
    RED_FLAG_SIDE_EFFECTS,
    SIDE_EFFECT_LABELS,
    AlarmEventType,
    AshworthScale,
    AssessmentTimePoint,
    MuscleGroup,
    Parameter,
    Side,
    SideEffect,
    TrialStatus,
)

MARKED_EVENTS = (AlarmEventType.RAISED.value, AlarmEventType.ESCALATED.value)


def latest(assessments: list[AssessmentView], point: AssessmentTimePoint) -> AssessmentView | None:
    found = [a for a in assessments if a.time_point == point.value]
    if len(found) > 1:
        st.caption(f"{len(found)} separate {point.value} assessments: the latest is shown.")
    return found[-1] if found else None


# One column per time point: (heading, assessment or None when not recorded).
Columns = list[tuple[str, AssessmentView | None]]


def extra_heading(view: AssessmentView, injected: datetime | None, zone: ZoneInfo) -> str:
    """'Extra 12:10 (+2 h 10 min)': ward time, and time since the injection when known."""
    heading = f"Extra {to_ward(view.assessed_at, zone):%H:%M}"
    if injected is not None:
        minutes = round((view.assessed_at - injected).total_seconds() / 60)
        sign, minutes = ("+" if minutes >= 0 else "-"), abs(minutes)
        heading += f" ({sign}{minutes // 60} h {minutes % 60:02d} min)"
    return heading


def time_point_columns(
    baseline: AssessmentView | None,
    after: AssessmentView | None,
    extras: list[AssessmentView],
    injected: datetime | None,
    zone: ZoneInfo,
) -> Columns:
    """Baseline, the extra time points and 4 hours, in time order (extras beside the two).
    Before the 4-hour scores are taken, their column stands where the peak window opens
    (observations/limits.yaml, trial_day): extras taken inside it come after the column."""
    if after is not None:
        four_at: datetime | None = after.assessed_at
    elif injected is not None:
        four_at = injected + timedelta(hours=peak_window().start_h)
    else:
        four_at = None
    columns: Columns = [("Baseline", baseline)]
    late: Columns = []
    seen: dict[str, int] = {}
    for view in extras:
        heading = extra_heading(view, injected, zone)
        seen[heading] = seen.get(heading, 0) + 1
        if seen[heading] > 1:  # two extra assessments in one minute stay two columns
            heading += f" #{seen[heading]}"
        after_four = four_at is not None and view.assessed_at > four_at
        (late if after_four else columns).append((heading, view))
    return [*columns, ("4 hours", after), *late]


def as_assessment(view: AssessmentView) -> AshworthAssessment:
    return AshworthAssessment(
        AshworthScale(view.ashworth_scale),
        tuple(
            AshworthScore(MuscleGroup(s.muscle_group), Side(s.side), s.label) for s in view.ashworth
        ),
    )


def number(value: float | None, places: int = 2) -> str:
    return MISSING if value is None else f"{value:.{places}f}"


def muscle_reduction(
    muscle: MuscleGroup,
    side: Side,
    before: str,
    after: str,
    scale: AshworthScale,
    config: ResponderConfig,
) -> float | None:
    """One muscle's reduction under the declared mapping, computed by rules/ (lower limb only)."""
    if muscle not in LOWER_LIMB_MUSCLES:
        return None
    comparison = compare_lower_limb(
        AshworthAssessment(scale, (AshworthScore(muscle, side, before),)),
        AshworthAssessment(scale, (AshworthScore(muscle, side, after),)),
        config,
    )
    return comparison.reduction


def reduction_text(reduction: float | None) -> str:
    if reduction is None:
        return MISSING
    if reduction > 0:
        return f"{reduction:.1f} less tone"
    if reduction < 0:
        return f"{-reduction:.1f} more tone"
    return "no change"


def labels_of(view: AssessmentView | None) -> dict[tuple[str, str], str]:
    return {(s.muscle_group, s.side): s.label for s in view.ashworth} if view else {}


def ashworth_section(columns: Columns, config: ResponderConfig, settings: DisplaySettings) -> None:
    st.subheader("Ashworth per muscle")
    views = dict(columns)
    baseline, after = views["Baseline"], views["4 hours"]
    if all(view is None for _, view in columns):
        st.info("No Ashworth scores recorded yet.")
        return
    scales = {a.ashworth_scale for a in (baseline, after) if a is not None}
    mixed = len(scales) > 1
    scale = AshworthScale(next(iter(scales))) if scales else AshworthScale.MODIFIED
    labels = {heading: labels_of(view) for heading, view in columns}
    before_labels, after_labels = labels["Baseline"], labels["4 hours"]
    configured = [m.value for m in load_muscle_groups()]
    recorded = {m for found in labels.values() for m, _ in found}
    rows, reductions = [], []
    for muscle in configured + sorted(recorded - set(configured)):
        for side in Side:
            before = before_labels.get((muscle, side.value))
            later = after_labels.get((muscle, side.value))
            reduction = None
            if before is not None and later is not None and not mixed:
                reduction = muscle_reduction(
                    MuscleGroup(muscle), side, before, later, scale, config
                )
            reductions.append(reduction)
            row = {"Muscle group": muscle_name(muscle), "Side": side.value}
            for heading, _ in columns:
                row[heading] = shown(labels[heading].get((muscle, side.value)))
            rows.append({**row, "Reduction": reduction_text(reduction)})
    frame = pd.DataFrame(rows)

    less = f"background-color: {settings.tone_reduced_colour}"
    more = f"background-color: {settings.tone_increased_colour}"

    def colour(_: pd.Series) -> list[str]:
        return [
            less if r is not None and r > 0 else more if r is not None and r < 0 else ""
            for r in reductions
        ]

    st.dataframe(
        frame.style.apply(colour, subset=["Reduction"], axis=0),
        hide_index=True,
        width="stretch",
        key="ashworth_review",
    )
    st.caption(
        "Green: less tone at 4 hours; red: more. Reduction under the declared mapping, "
        "lower-limb muscles only (rules/responder.py)."
    )
    extra_scales = {
        view.ashworth_scale
        for heading, view in columns
        if view is not None and heading not in ("Baseline", "4 hours")
    }
    if len(columns) > 2:
        st.caption(
            "Extra time points are shown as scored; the reduction, the mean and the hint "
            "compare baseline and 4 hours only."
        )
    if extra_scales - scales and scales:
        st.warning(
            "An extra time point was scored on another Ashworth scale: its labels are "
            "shown as charted and never compared."
        )
    if mixed:
        st.error(
            "Baseline and 4-hour scores are on different Ashworth scales: scales are never "
            "mixed, so nothing is compared. Re-score on one scale."
        )


def mean_section(
    baseline: AssessmentView | None, after: AssessmentView | None, config: ResponderConfig
) -> None:
    st.subheader("Lower-limb mean")
    if any(
        a is not None and a.ashworth_scale == AshworthScale.MODIFIED.value
        for a in (baseline, after)
    ):
        mapping = ", ".join(f"{label} = {value:g}" for label, value in config.mas_mapping.items())
        st.caption(f"Declared MAS mapping ({config.version}, rules/responder.yaml): {mapping}")
    if baseline is None or after is None:
        for name, view in (("Baseline", baseline), ("4 hours", after)):
            if view is not None:
                st.write(f"{name}: {number(lower_limb_mean(as_assessment(view), config))}")
        st.info("Both the baseline and the 4-hour scores are needed for a comparison.")
        return
    try:
        comparison = compare_lower_limb(as_assessment(baseline), as_assessment(after), config)
    except MixedScalesError as error:
        st.error(str(error))
        return
    first, second, third = st.columns(3)
    first.metric("Baseline mean", number(comparison.baseline_mean))
    second.metric("4-hour mean", number(comparison.after_mean))
    third.metric("Reduction", number(comparison.reduction))
    st.caption(f"Over the {len(comparison.compared)} lower-limb muscle(s) scored at both times.")
    if comparison.left_out:
        st.caption(
            "Left out: "
            + "; ".join(
                f"{side.value} {muscle_name(muscle.value).lower()} ({why})"
                for muscle, side, why in comparison.left_out
            )
        )


def measures_section(columns: Columns) -> None:
    st.subheader("Spasms, pain, stiffness and power")
    measures = [
        (measure_label("penn_frequency"), "penn_frequency"),
        (measure_label("penn_severity"), "penn_severity"),
        ("Penn recall period", "penn_recall_period"),
        (measure_label("pain_nrs"), "pain_nrs"),
        (measure_label("stiffness_nrs"), "stiffness_nrs"),
        ("Power, left leg (MRC)", "power_left_leg"),
        ("Power, right leg (MRC)", "power_right_leg"),
        ("Power, left arm (MRC)", "power_left_arm"),
        ("Power, right arm (MRC)", "power_right_arm"),
    ]
    rows = [
        {
            "Measure": label,
            **{heading: shown(getattr(view, name) if view else None) for heading, view in columns},
        }
        for label, name in measures
    ]
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch", key="measures_review")


def rated(view: AssessmentView | None) -> list[int]:
    return [g.rating for g in view.goals if g.rating is not None] if view else []


def goals_section(columns: Columns) -> None:
    st.subheader("Goals (Goal Attainment Scaling)")
    goals = list(dict.fromkeys([g.goal for _, v in columns if v for g in v.goals]))
    if not goals:
        st.info("No goals recorded.")
        return

    def rating(view: AssessmentView | None, goal: str) -> str:
        found = [g.rating for g in view.goals if g.goal == goal] if view else []
        value = found[0] if found else None
        return MISSING if value is None else f"{value:+d}" if value else "0"

    rows = [
        {"Goal": goal, **{heading: rating(view, goal) for heading, view in columns}}
        for goal in goals
    ]
    scores = {}
    for heading, view in columns:
        ratings = rated(view)
        scores[heading] = (
            f"{gas_t_score(ratings):.1f} ({len(ratings)} of {len(view.goals)} goals rated)"
            if ratings and view
            else MISSING
        )
    rows.append({"Goal": "GAS T-score", **scores})
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch", key="goals_review")


def hint_text(hint: ResponderHint) -> str:
    state = {True: "criterion met", False: "criterion not met", None: "cannot be evaluated"}[
        hint.met
    ]
    return (
        f"{hint.kind.upper()}, not a decision — {hint.label}: {state}. {hint.explanation} "
        f"Source: {hint.source}."
    )


def timing_section(evaluation: TrialDayEvaluation, zone: ZoneInfo) -> None:
    """When each compared set of scores was taken, relative to the injection."""
    for name, timing in (
        ("Baseline", evaluation.baseline_timing),
        ("4 hours (peak)", evaluation.four_hour_timing),
    ):
        if timing is None:
            continue
        # The label carries the reason typed by the person who scored late: Markdown-escaped.
        line = md(f"{name} scores: {format_ward(timing.assessed_at, zone)} — {timing.label}")
        if timing.problem:
            st.warning(line, icon=":material/schedule:")
        else:
            st.caption(line)


def hint_section(evaluation: TrialDayEvaluation) -> None:
    st.subheader("Responder criterion (hint)")
    if evaluation.hint is None:
        st.error(f"The configured criterion cannot be evaluated: {evaluation.hint_problem}")
        return
    st.info(md(evaluation.hint_text))  # its caveats quote the reasons typed for late scores
    if evaluation.hint.left_out:
        st.caption("Not compared: " + "; ".join(evaluation.hint.left_out))
    st.caption(
        "The software never decides: the team weighs this hint with the day's safety, "
        "and a doctor signs the decision on the Decision page."
    )
    if evaluation.other_hints:
        with st.expander("Other criteria in use elsewhere (for reference)"):
            for hint in evaluation.other_hints:
                st.text(hint_text(hint))


def safety_section(evaluation: TrialDayEvaluation, zone: ZoneInfo) -> None:
    """First on the page: what was seen that weighs against a higher dose, and the next step."""
    st.subheader("Safety on the trial day")
    step = evaluation.next_step
    when = f" Not before {format_ward(step.not_before, zone)}." if step.not_before else ""
    # The step's text quotes the reasons typed for late scores: Markdown-escaped.
    text = md(f"Suggested next step ({step.label}, not a decision): {step.text}{when}")
    if evaluation.signs:
        st.error(text, icon=":material/warning:")
    else:
        st.info(text)
    show_safety(evaluation, zone, "conditions_review", "Every event is listed below.")


def export_section(record: TrialRecord, actor: Actor, trial: TrialView) -> None:
    """The report and the CSV, made when clicked; the record audits each export."""
    if not may_export(actor):
        return
    stem = f"itb-trial-{trial.id}"
    pdf, csv = st.columns(2)
    pdf.download_button(
        "Report (PDF, one page)",
        data=lambda: export_for(record, actor, trial.id, "pdf"),
        file_name=f"{stem}.pdf",
        mime="application/pdf",
        icon=":material/picture_as_pdf:",
        key=f"export_pdf_{trial.id}",
        on_click="ignore",
    )
    csv.download_button(
        "Every value and event (CSV)",
        data=lambda: export_for(record, actor, trial.id, "csv"),
        file_name=f"{stem}.csv",
        mime="text/csv",
        icon=":material/table_view:",
        key=f"export_csv_{trial.id}",
        on_click="ignore",
    )


def local(moment: datetime, zone: ZoneInfo) -> datetime:
    return to_ward(moment, zone).replace(tzinfo=None)


def day_section(
    record: TrialRecord,
    trial: TrialView,
    assessments: list[AssessmentView],
    settings: DisplaySettings,
) -> None:
    zone = record.settings.ward_timezone
    st.subheader("The day: vital signs, alarms and side effects")
    frame = record.readings.timeline(trial.id, CHART_PARAMETERS)
    sets = record.observations.list(trial.id)
    events = record.alarms.events(trial.id)
    injected = trial.injection.given_at if trial.injection else None
    moments = [
        *(s.measured_at for s in sets),
        *(e.at for e in events),
        *(a.assessed_at for a in assessments),
    ]
    if not frame.empty:
        moments += [frame["time"].min().to_pydatetime(), frame["time"].max().to_pydatetime()]
    if injected is not None:
        moments.append(injected - timedelta(minutes=30))
    start = min(moments, default=trial.created_at)
    end = max([*moments, trial.window_end or start, start]) + timedelta(minutes=5)
    if not frame.empty:
        frame["time"] = frame["time"].dt.tz_convert(zone).dt.tz_localize(None)
    news2, side_effects = [], []
    scores = set_scores(trial, record)  # the monitor's NEWS2 of each set: the one alarms used
    for obs in sets:
        score = scores.get(obs.id)
        if score is not None and score.total is not None:
            news2.append(News2Point(local(obs.measured_at, zone), score.total))
        for item in obs.side_effects or []:
            side_effects.append(
                Marker(
                    local(obs.measured_at, zone),
                    SIDE_EFFECT_LABELS.get(SideEffect(item), item),
                    "#d62728",
                )
            )
    alarms = [
        Marker(
            local(e.at, zone),
            f"{e.priority.upper()}: {e.message}",
            PRIORITY_COLOURS.get(e.priority, "#888"),
        )
        for e in events
        if e.event in MARKED_EVENTS
    ]
    figure = timeline_figure(
        frame,
        injection_at=local(injected, zone) if injected else None,
        window_end=local(trial.window_end, zone) if trial.window_end else None,
        start=local(start, zone),
        end=local(end, zone),
        news2=news2,
        alarms=alarms,
        side_effects=side_effects,
        points_per_trace=settings.chart_points_per_trace,
        gap_seconds=settings.gap_after_seconds,
    )
    for view in assessments:  # the scores beside the vital signs
        figure.add_vline(x=local(view.assessed_at, zone), line={"color": "#555", "dash": "dot"})
        figure.add_annotation(
            x=local(view.assessed_at, zone),
            y=0.0,
            yref="paper",
            text=f"{view.time_point} scores",
            showarrow=False,
            xanchor="left",
            yanchor="bottom",
        )
    st.plotly_chart(figure, key="review_timeline", config={"displaylogo": False})
    if frame.empty:
        st.caption("No vital signs recorded for this trial.")
    observations_section(record, trial, sets, scores)

    st.markdown("**Alarms**")
    if events:
        st.dataframe(
            pd.DataFrame(
                [
                    {
                        "Time": format_ward(e.at, zone),
                        "Event": e.what,
                        "Priority": e.priority,
                        "Alarm": e.message,
                        "Note": shown(e.note),
                    }
                    for e in events
                ]
            ),
            hide_index=True,
            width="stretch",
            key="alarms_review",
        )
    else:
        st.caption("No alarms during this trial.")
    st.markdown("**Side effects**")
    effects = [
        {
            "Time": format_ward(obs.measured_at, zone),
            "Side effect": SIDE_EFFECT_LABELS.get(SideEffect(item), item),
            "Red flag": "yes" if SideEffect(item) in RED_FLAG_SIDE_EFFECTS else "no",
            "Note": shown(obs.note),
        }
        for obs in sets
        for item in (obs.side_effects or [])
    ]
    if effects:
        st.dataframe(
            pd.DataFrame(effects), hide_index=True, width="stretch", key="side_effects_review"
        )
    else:
        st.caption("No side effects recorded.")


def parameter_label(name: str) -> str:
    try:
        return LABELS[Parameter(name)]
    except (ValueError, KeyError):
        return name


def observations_section(
    record: TrialRecord,
    trial: TrialView,
    sets: list[ObservationSetView],
    scores: dict[int, SetScoreView],
) -> None:
    """Each set's NEWS2, the due times met, late and missed, and the patient's baseline, all
    as the monitor judged them (never worked out again here)."""
    zone = record.settings.ward_timezone
    st.markdown("**Observation sets (NEWS2 as scored by the monitor)**")
    if sets:
        st.dataframe(
            pd.DataFrame(
                [
                    {
                        "Measured": format_ward(obs.measured_at, zone),
                        "NEWS2": score_text(scores.get(obs.id)),
                    }
                    for obs in sets
                ]
            ),
            hide_index=True,
            width="stretch",
            key="sets_review",
        )
    else:
        st.caption("No observation sets recorded.")
    schedule = record.set_scores.schedule(trial.id)
    if schedule is None:
        if trial.injection is not None:
            st.caption("Due times and baseline: not yet worked out by the monitor.")
        return
    now = record.store.now()
    due_times = schedule.due_times_at(now)
    counts = {status: sum(1 for d in due_times if d.status == status) for status in DueStatus}
    missed = [
        format_ward(d.time, zone, with_date=False)
        for d in due_times
        if d.status == DueStatus.MISSED
    ]
    st.caption(
        f"Due times (as the monitor judged them at "
        f"{format_ward(schedule.judged_at, zone, with_date=False)}): "
        f"{counts[DueStatus.MET]} met on time, {counts[DueStatus.LATE]} late, "
        f"{counts[DueStatus.MISSED]} missed" + (f" ({', '.join(missed)})" if missed else "")
    )
    if schedule.baseline:
        st.caption(
            "Pre-injection baseline: "
            + ", ".join(
                f"{parameter_label(name)} {value:g}" for name, value in schedule.baseline.items()
            )
        )
    else:
        st.caption("Pre-injection baseline: none (no readings or set before the injection).")


def render(record: TrialRecord, actor: Actor, settings: DisplaySettings) -> None:
    """Scores side by side, the hint, the day's safety and its timeline, for one trial."""
    zone = record.settings.ward_timezone
    config = load_responder_config()

    st.title("4-hour review")
    st.caption(INTENDED_USE)
    trials = [t for t in record.trials.list() if t.status != TrialStatus.CANCELLED.value]
    trial = choose_trial(trials, "review_trial")
    if trial is None:
        st.info("Choose the trial to review.")
        return
    if trial.injection is not None:
        st.write(
            f"{trial.injection.dose_mcg} mcg given "
            f"{format_ward(trial.injection.given_at, zone)} · stage: {trial.status}"
        )

    assessments = record.assessments.list(trial.id)
    baseline = latest(assessments, AssessmentTimePoint.BASELINE)
    after = latest(assessments, AssessmentTimePoint.FOUR_HOURS)
    extras = [a for a in assessments if a.time_point == AssessmentTimePoint.OTHER.value]
    columns = time_point_columns(
        baseline, after, extras, trial.injection.given_at if trial.injection else None, zone
    )
    if after is None:
        st.warning("The 4-hour scores are not recorded yet (Scores page).")

    evaluation = evaluation_of(take_snapshot(record, trial.id), config)
    export_section(record, actor, trial)
    safety_section(evaluation, zone)
    timing_section(evaluation, zone)

    scores, day = st.columns([1, 1])
    with scores:
        ashworth_section(columns, config, settings)
        mean_section(baseline, after, config)
        measures_section(columns)
        goals_section(columns)
        hint_section(evaluation)
    with day:
        day_section(record, trial, assessments, settings)
