"""One read of everything a trial export needs, so every format shows the same facts.

Built only from TrialRecord's public API.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

import pandas as pd

from observations.limits import dose_limits, load_limits
from observations.record import TrialRecord
from observations.set_scores import ScheduleJudgementView, SetScoreView
from observations.views import (
    AlarmEventView,
    AssessmentView,
    DecisionView,
    ObservationSetView,
    TrialView,
    UserView,
)
from observations.ward_time import format_ward, to_ward
from rules.evaluation import (
    PeakWindow,
    ScoresAt,
    TrialDayEvaluation,
    evaluate_trial_day,
    judge_timing,
    span_text,
)
from rules.responder import (
    AshworthAssessment,
    AshworthScore,
    ResponderConfig,
    load_responder_config,
)
from rules.safety_summary import (
    AlarmEventFact,
    ConditionSummary,
    ReadingFact,
    SafetySummary,
    SetFact,
    summarise_safety,
)
from vocabulary import (
    LABELS,
    UNITS,
    AshworthScale,
    AssessmentTimePoint,
    MuscleGroup,
    Parameter,
    Side,
)

GENERATOR = "ITB Trial Monitor"
MISSING = "—"


@dataclass(frozen=True)
class DeviceReading:
    """One device sample as the timeline returns it; ``value`` None = flagged, no number."""

    time: datetime
    parameter: str
    value: float | None
    unit: str
    flags: str
    device: str


@dataclass(frozen=True)
class TrialSnapshot:
    trial: TrialView
    device_readings: tuple[DeviceReading, ...]
    # Every set, corrected ones included; `current_sets` filters them.
    observation_sets: tuple[ObservationSetView, ...]
    assessments: tuple[AssessmentView, ...]
    alarm_events: tuple[AlarmEventView, ...]
    decision: DecisionView | None
    users: dict[int, UserView]
    zone: ZoneInfo
    generated_at: datetime
    # The monitor's NEWS2 of each set, by set id (a set it has not scored yet is absent), and
    # its last judgement of the due times and baseline: exports never score a set themselves.
    set_scores: dict[int, SetScoreView] = field(default_factory=dict)
    schedule: ScheduleJudgementView | None = None
    # Why an assessment was taken outside the peak window, by assessment id (its audit entry).
    timing_reasons: dict[int, str] = field(default_factory=dict)

    @property
    def current_sets(self) -> tuple[ObservationSetView, ...]:
        replaced = {s.supersedes_id for s in self.observation_sets if s.supersedes_id}
        return tuple(s for s in self.observation_sets if s.id not in replaced)

    def user_name(self, user_id: int | None) -> str:
        if user_id is None:
            return ""
        user = self.users.get(user_id)
        return user.display_name if user else f"user {user_id}"

    def ward(self, moment: datetime) -> str:
        """Ward wall-clock time with the zone name (which side of a clock change)."""
        return to_ward(moment, self.zone).strftime("%Y-%m-%d %H:%M:%S %Z")


def _device_readings(frame: pd.DataFrame) -> tuple[DeviceReading, ...]:
    device = frame[frame["source"] == "device"]
    out = []
    for time, parameter, value, unit, flags, source_device in zip(
        device["time"],
        device["parameter"],
        device["value"],
        device["unit"],
        device["flags"],
        device["device"],
        strict=True,
    ):
        number = None if value is None or math.isnan(value) else float(value)
        out.append(
            DeviceReading(
                time=time.to_pydatetime(),
                parameter=str(parameter),
                value=number,
                unit=str(unit or ""),
                flags=str(flags or ""),
                device=str(source_device or ""),
            )
        )
    return tuple(out)


def take_snapshot(record: TrialRecord, trial_id: int) -> TrialSnapshot:
    """Read the trial once; raises NotFound (observations.errors) for an unknown id."""
    trial = record.trials.get(trial_id)
    # Manual values come from the observation sets themselves (with who and how), so the
    # timeline is asked for device readings only.
    frame = record.readings.timeline(trial_id, include_manual=False)
    return TrialSnapshot(
        trial=trial,
        device_readings=_device_readings(frame),
        observation_sets=tuple(record.observations.list(trial_id, include_superseded=True)),
        assessments=tuple(record.assessments.list(trial_id)),
        alarm_events=tuple(record.alarms.events(trial_id)),
        decision=record.decisions.for_trial(trial_id),
        users={u.id: u for u in record.users.all()},
        zone=record.settings.ward_timezone,
        generated_at=record.store.now(),
        set_scores=record.set_scores.for_trial(trial_id),
        schedule=record.set_scores.schedule(trial_id),
        timing_reasons=record.assessments.timing_reasons(trial_id),
    )


# ----- the one responder evaluation, as Review, Decision and the report show it ---------------


def peak_window() -> PeakWindow:
    day = load_limits().trial_day
    return PeakWindow(day.peak_window_start_hours, day.peak_window_end_hours)


def latest_at(snap: TrialSnapshot, point: AssessmentTimePoint) -> AssessmentView | None:
    """The latest current assessment at a time point (what the hint compares)."""
    found = [a for a in snap.assessments if a.time_point == point.value]
    return found[-1] if found else None


def _scores(snap: TrialSnapshot, view: AssessmentView | None) -> ScoresAt | None:
    if view is None:
        return None
    injection = snap.trial.injection
    return ScoresAt(
        ashworth=AshworthAssessment(
            AshworthScale(view.ashworth_scale),
            tuple(
                AshworthScore(MuscleGroup(s.muscle_group), Side(s.side), s.label)
                for s in view.ashworth
            ),
        ),
        penn_frequency=view.penn_frequency,
        gas_ratings=tuple(g.rating for g in view.goals if g.rating is not None),
        timing=judge_timing(
            view.time_point,
            view.assessed_at,
            injection.given_at if injection else None,
            peak_window(),
            snap.timing_reasons.get(view.id),
        ),
    )


def safety_of(snap: TrialSnapshot) -> SafetySummary:
    events = [
        AlarmEventFact(
            e.alarm_id,
            e.rule_id,
            e.kind,
            e.event,
            e.at,
            e.priority,
            e.message,
            e.evidence,
            snap.user_name(e.by_user) if e.by_user else None,
        )
        for e in snap.alarm_events
    ]
    sets = [
        SetFact(
            o.measured_at,
            o.spo2,
            o.pulse_rate,
            o.systolic,
            o.rr,
            o.poss,
            o.consciousness,
            tuple(o.side_effects or ()),
        )
        for o in snap.current_sets
    ]
    readings = [
        ReadingFact(r.time, r.parameter, r.value, not r.flags and r.value is not None)
        for r in snap.device_readings
    ]
    until = snap.generated_at
    if snap.trial.window_end is not None and snap.trial.status not in (
        "planned",
        "baseline",
        "monitoring",
    ):
        until = min(
            until,
            max(snap.trial.window_end, max((e.at for e in events), default=snap.trial.window_end)),
        )
    return summarise_safety(events, sets, readings, until)


def evaluation_of(snap: TrialSnapshot, config: ResponderConfig | None = None) -> TrialDayEvaluation:
    """The responder evaluation of the trial day: the one Review, Decision and the PDF show."""
    injection = snap.trial.injection
    return evaluate_trial_day(
        config or load_responder_config(),
        dose_limits(),
        safety_of(snap),
        baseline=_scores(snap, latest_at(snap, AssessmentTimePoint.BASELINE)),
        after=_scores(snap, latest_at(snap, AssessmentTimePoint.FOUR_HOURS)),
        dose_mcg=float(injection.dose_mcg) if injection else None,
        injected_at=injection.given_at if injection else None,
    )


def worst_text(condition: ConditionSummary) -> str:
    """The worst value during the condition, with its unit ("SpO2 84 %", "NEWS2 7")."""
    value = condition.worst_value
    if value is None:
        return MISSING
    if condition.rule_id == "news2":
        return f"NEWS2 {value:g}"
    try:
        parameter = Parameter(condition.parameter or "")
    except ValueError:
        return f"{value:g}"
    if parameter is Parameter.POSS:
        return f"POSS {value:g}"
    return f"{LABELS[parameter]} {with_unit(parameter, value)}"


def with_unit(parameter: Parameter, value: float) -> str:
    unit = UNITS[parameter].display
    return f"{value:g}{'' if not unit else unit if unit.startswith('/') else ' ' + unit}"


def acknowledged_text(condition: ConditionSummary) -> str:
    if not condition.sounded:
        return "eased to this level: nothing to acknowledge"
    if not condition.acknowledged:
        return f"none of {condition.sounded}"
    who = ", ".join(condition.acknowledged_by) or "unknown"
    slowest = span_text(condition.slowest_ack) if condition.slowest_ack is not None else MISSING
    seconds = condition.slowest_ack.total_seconds() if condition.slowest_ack else None
    if seconds is not None and seconds < 3600:
        slowest = f"{int(seconds // 60)} min {int(seconds % 60):02d} s"
    return f"{condition.acknowledged} of {condition.sounded} by {who}; slowest {slowest}"


def condition_rows(evaluation: TrialDayEvaluation, zone: ZoneInfo) -> list[dict[str, str]]:
    """The alarms by condition, high priority and red flags first: one row each."""
    return [
        {
            "Condition": c.label,
            "Priority": c.priority,
            "Times": str(c.count),
            "First": format_ward(c.first, zone, with_date=False),
            "Longest": span_text(c.longest)
            + (" (still present at the end)" if c.longest_still_present else ""),
            "Worst": worst_text(c)
            + (f" at {format_ward(c.worst_at, zone, with_date=False)}" if c.worst_at else ""),
            "Acknowledged": acknowledged_text(c),
        }
        for c in evaluation.safety.conditions
    ]


def safety_lines(evaluation: TrialDayEvaluation, zone: ZoneInfo) -> list[str]:
    """The day's safety in short lines: red flags, sedation, the lowest values and when."""
    safety = evaluation.safety
    lines = []
    if safety.red_flags:
        lines.append(
            "Red flags: "
            + "; ".join(
                f"{f.label} from {format_ward(f.first_at, zone, with_date=False)} "
                f"({f.sets} set{'s' if f.sets != 1 else ''})"
                for f in safety.red_flags
            )
        )
    else:
        lines.append(f"Red flags: none recorded in {safety.sets_checked} observation sets.")
    poss, acvpu = safety.worst_poss, safety.worst_acvpu
    lines.append(
        "Sedation: worst POSS "
        + (
            f"{poss.value} (first {format_ward(poss.first_at, zone, with_date=False)})"
            if poss
            else MISSING
        )
        + "; worst ACVPU "
        + (
            f"{acvpu.value} (first {format_ward(acvpu.first_at, zone, with_date=False)})"
            if acvpu
            else MISSING
        )
        + "."
    )
    if safety.lowest:
        lines.append(
            "Lowest: "
            + "; ".join(
                f"{low.label} {with_unit(Parameter(low.parameter), low.value)} at "
                f"{format_ward(low.at, zone, with_date=False)}"
                + (" (observation set)" if low.source != "device" else "")
                for low in safety.lowest
            )
            + "."
        )
    else:
        lines.append("Lowest: no SpO2, pulse or systolic recorded.")
    return lines
