"""One responder evaluation of a trial day, shown alike by Review, Decision and the report.

Pure: the configured criterion as a hint with its source and numbers, when the scores were taken
relative to the injection, the day's safety summary, and a suggested next step that never
proposes a higher dose after signs of overdose. The team decides; this only lays it out.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Literal

from rules.responder import (
    HINT,
    AshworthAssessment,
    DoseLimits,
    MixedScalesError,
    ResponderConfig,
    ResponderHint,
    next_dose_suggestion,
    responder_hint,
)
from rules.safety_summary import SafetySummary
from vocabulary import UNACCEPTABLE_POSS, Consciousness, Poss

# ----- when the scores were taken ---------------------------------------------------------------


@dataclass(frozen=True)
class PeakWindow:
    """Hours after the injection within which the "4 hours (peak)" scores count as the peak
    (observations/limits.yaml, trial_day)."""

    start_h: float
    end_h: float


def span_text(delta: timedelta) -> str:
    """'0 h 35 min', '-0 h 10 min' (before), rounded to the minute."""
    minutes = round(delta.total_seconds() / 60)
    sign = "-" if minutes < 0 else ""
    minutes = abs(minutes)
    return f"{sign}{minutes // 60} h {minutes % 60:02d} min"


def hours_text(hours: float) -> str:
    return span_text(timedelta(hours=hours))


@dataclass(frozen=True)
class AssessmentTiming:
    time_point: str  # "baseline", "4h", "other"
    assessed_at: datetime
    after_injection: timedelta | None  # None: no injection recorded
    in_window: bool | None  # 4 h: inside the peak window; baseline: before the injection
    reason: str | None  # recorded when the scores were taken outside the window

    @property
    def label(self) -> str:
        """What Review, Decision and the report print beside the scores."""
        if self.after_injection is None:
            return "timing not known: no injection recorded"
        since = span_text(self.after_injection)
        if self.time_point == "baseline":
            if self.in_window:
                return f"{span_text(-self.after_injection)} before the injection"
            return f"not a pre-injection baseline: taken {since} after the injection" + (
                f" — reason: {self.reason}" if self.reason else ""
            )
        if self.time_point != "4h" or self.in_window:
            return f"{since} after the injection"
        reason = f"reason: {self.reason}" if self.reason else "no reason recorded"
        return f"outside the peak window: {since} after injection — {reason}"

    @property
    def problem(self) -> bool:
        return self.in_window is False


def judge_timing(
    time_point: str,
    assessed_at: datetime,
    injected_at: datetime | None,
    window: PeakWindow,
    reason: str | None = None,
) -> AssessmentTiming:
    """Baseline: before (or at) the injection. 4 h: within the peak window after it."""
    if injected_at is None:
        return AssessmentTiming(time_point, assessed_at, None, None, reason)
    after = assessed_at - injected_at
    if time_point == "baseline":
        inside: bool | None = after <= timedelta(0)
    elif time_point == "4h":
        inside = timedelta(hours=window.start_h) <= after <= timedelta(hours=window.end_h)
    else:
        inside = None
    return AssessmentTiming(time_point, assessed_at, after, inside, reason)


# ----- overdose signs and the next step --------------------------------------------------------


def overdose_signs(safety: SafetySummary, config: ResponderConfig) -> tuple[str, ...]:
    """What was seen that counts as a sign of overdose, in words (empty: none seen)."""
    signs: list[str] = []
    for condition in safety.high_conditions:
        if condition.red_flag and safety.red_flags:
            continue  # named below, effect by effect
        times = "once" if condition.count == 1 else f"{condition.count} times"
        signs.append(f"{condition.label.split(':')[0]} ({times})")
    for flag in safety.red_flags:
        signs.append(f"red-flag side effect: {flag.label}")
    if safety.worst_poss is not None and Poss(safety.worst_poss.value) in UNACCEPTABLE_POSS:
        signs.append(f"sedation POSS {safety.worst_poss.value}")
    if safety.worst_acvpu is not None and safety.worst_acvpu.value != Consciousness.ALERT.value:
        signs.append(f"ACVPU {safety.worst_acvpu.value} (not Alert)")
    return tuple(signs)


NextStepKind = Literal[
    "no_higher_dose",
    "consider_responder",
    "repeat_higher",
    "unsuitable_at_max",
    "cannot_evaluate",
    "no_injection",
]


@dataclass(frozen=True)
class NextStep:
    kind: NextStepKind
    text: str
    dose_mcg: float | None  # a dose is suggested only for a repeat at a higher dose
    not_before: datetime | None
    signs: tuple[str, ...]
    source: str
    label: str = HINT

    @property
    def higher_dose(self) -> bool:
        return self.kind == "repeat_higher"


TEAM_DECIDES = "The team decides."


def next_step(
    met: bool | None,
    signs: tuple[str, ...],
    dose_mcg: float | None,
    injected_at: datetime | None,
    config: ResponderConfig,
    limits: DoseLimits,
    caveats: tuple[str, ...] = (),
) -> NextStep:
    """The suggested next step. Never a higher dose after signs of overdose, and no step read
    from scores not taken at the peak (or against a baseline taken after the injection)."""
    if dose_mcg is None or injected_at is None:
        return NextStep(
            "no_injection",
            "No injection is recorded: no next step is suggested.",
            None,
            None,
            signs,
            config.next_dose.source,
        )
    if signs:
        seen = "; ".join(signs)
        response = {True: "The criterion was met, but signs", False: "Signs", None: "Signs"}[met]
        return NextStep(
            "no_higher_dose",
            f"{response} of overdose were seen at {dose_mcg:g} mcg: {seen}. No higher dose is "
            f"suggested. {TEAM_DECIDES}",
            None,
            None,
            signs,
            config.overdose_signs.rationale,
        )
    if caveats and met is not None:
        return NextStep(
            "cannot_evaluate",
            "The criterion was evaluated on scores not taken as "
            f"planned ({'; '.join(caveats)}): no next step is suggested from them. "
            f"{TEAM_DECIDES}",
            None,
            None,
            signs,
            config.next_dose.source,
        )
    if met is None:
        return NextStep(
            "cannot_evaluate",
            f"The criterion cannot be evaluated yet: no next step is suggested. {TEAM_DECIDES}",
            None,
            None,
            signs,
            config.next_dose.source,
        )
    if met:
        return NextStep(
            "consider_responder",
            f"The criterion was met at {dose_mcg:g} mcg with "
            "no sign of overdose recorded: the team may consider the patient a "
            f"responder. {TEAM_DECIDES}",
            None,
            None,
            signs,
            config.next_dose.source,
        )
    dose = next_dose_suggestion(dose_mcg, injected_at, config, limits)
    if dose.dose_mcg is None:
        return NextStep(
            "unsuitable_at_max",
            f"{dose.explanation} {TEAM_DECIDES}",
            None,
            None,
            signs,
            dose.source,
        )
    return NextStep(
        "repeat_higher",
        f"Criterion not met and no sign of overdose recorded. {dose.explanation} {TEAM_DECIDES}",
        dose.dose_mcg,
        dose.not_before,
        signs,
        dose.source,
    )


# ----- the one evaluation -----------------------------------------------------------------------


@dataclass(frozen=True)
class ScoresAt:
    """One time point's scores as the criterion needs them."""

    ashworth: AshworthAssessment
    penn_frequency: int | None
    gas_ratings: tuple[int, ...]
    timing: AssessmentTiming


@dataclass(frozen=True)
class TrialDayEvaluation:
    hint: ResponderHint | None  # None when it cannot be computed (hint_problem says why)
    hint_problem: str | None
    other_hints: tuple[ResponderHint, ...]
    baseline_timing: AssessmentTiming | None
    four_hour_timing: AssessmentTiming | None
    safety: SafetySummary
    signs: tuple[str, ...]
    next_step: NextStep

    @property
    def caveats(self) -> tuple[str, ...]:
        """Why the hint may not mean what it says (scores not at the peak, baseline late)."""
        notes = []
        for name, timing in (
            ("Baseline scores", self.baseline_timing),
            ("4-hour scores", self.four_hour_timing),
        ):
            if timing is not None and (timing.problem or timing.after_injection is None):
                notes.append(f"{name}: {timing.label}")
        return tuple(notes)

    @property
    def state(self) -> str:
        if self.hint is None or self.hint.met is None:
            return "cannot be evaluated"
        return "criterion met" if self.hint.met else "criterion not met"

    @property
    def hint_text(self) -> str:
        """The hint in one line, as every page and the report print it."""
        if self.hint is None:
            return f"{HINT.upper()}, not a decision — cannot be evaluated: {self.hint_problem}"
        caveat = (" Caution — " + "; ".join(self.caveats) + ".") if self.caveats else ""
        return (
            f"{self.hint.kind.upper()}, not a decision — {self.hint.label}: {self.state}. "
            f"{self.hint.explanation}{caveat} Source: {self.hint.source}."
        )


def evaluate_trial_day(
    config: ResponderConfig,
    limits: DoseLimits,
    safety: SafetySummary,
    *,
    baseline: ScoresAt | None,
    after: ScoresAt | None,
    dose_mcg: float | None,
    injected_at: datetime | None,
) -> TrialDayEvaluation:
    """The configured criterion, the other criteria for reference, the day's safety and the
    next step, from one set of inputs so no page can tell a different story."""

    def hint_for(criterion: str | None) -> ResponderHint:
        return responder_hint(
            config,
            criterion=criterion,  # type: ignore[arg-type]
            baseline=baseline.ashworth if baseline else None,
            after=after.ashworth if after else None,
            penn_baseline=baseline.penn_frequency if baseline else None,
            penn_after=after.penn_frequency if after else None,
            gas_ratings=(after.gas_ratings or None) if after else None,
        )

    hint: ResponderHint | None
    problem: str | None = None
    try:
        hint = hint_for(None)
        others = tuple(hint_for(c) for c in config.criteria if c != config.default_criterion)
    except MixedScalesError as error:
        hint, others, problem = None, (), str(error)
    signs = overdose_signs(safety, config)
    evaluation = TrialDayEvaluation(
        hint=hint,
        hint_problem=problem,
        other_hints=others,
        baseline_timing=baseline.timing if baseline else None,
        four_hour_timing=after.timing if after else None,
        safety=safety,
        signs=signs,
        next_step=NextStep("cannot_evaluate", "", None, None, signs, ""),
    )
    step = next_step(
        hint.met if hint else None, signs, dose_mcg, injected_at, config, limits, evaluation.caveats
    )
    return replace(evaluation, next_step=step)
