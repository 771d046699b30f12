"""Responder-criterion helpers for the 4-hour review (Ashworth, Penn, goal attainment).

Everything here returns a *hint* labelled with its source for the team to weigh; nothing here
decides. Numbers (MAS mapping, thresholds, dose steps) live in `rules/responder.yaml`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from importlib import resources
from itertools import pairwise
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from rules.rule_set import ConfigProblem, RuleSetError, pydantic_problem
from rules.yaml_lines import YamlSyntaxError, load_with_lines
from vocabulary import (
    ASHWORTH_LABELS,
    LOWER_LIMB_MUSCLES,
    MAS_LABELS,
    AshworthScale,
    DecisionOutcome,
    MuscleGroup,
    Side,
)

CriterionId = Literal["mean_lower_limb_reduction", "two_point_reduction", "goal_based"]
HINT = "hint"  # every result says what it is: a hint for the team, not a decision


# ----- configuration --------------------------------------------------------------------------
class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CriterionConfig(_Strict):
    label: str = Field(min_length=1)
    source: str = Field(min_length=1)
    threshold: float | None = Field(default=None, gt=0)


class NextDoseConfig(_Strict):
    step_mcg: float = Field(gt=0)
    source: str = Field(min_length=1)


@dataclass(frozen=True)
class DoseLimits:
    """The trial dose ceiling and the least interval between injections: the record's limits
    (observations/limits.yaml), passed in so the suggestion and the record never disagree."""

    max_mcg: float
    min_interval_h: float


class OverdoseSignsConfig(_Strict):
    """After any of these signs on the day no higher dose is suggested. Which POSS grades are
    unacceptable is the vocabulary's (UNACCEPTABLE_POSS), shared with the sedation alarm."""

    rationale: str = Field(min_length=1)


class ResponderConfig(_Strict):
    version: str = Field(min_length=1)
    mas_mapping: dict[str, float]
    mas_mapping_rationale: str = Field(min_length=1)
    default_criterion: CriterionId
    criteria: dict[CriterionId, CriterionConfig]
    next_dose: NextDoseConfig
    overdose_signs: OverdoseSignsConfig


def load_responder_config(path: str | Path | None = None) -> ResponderConfig:
    """Load and validate responder settings (default: the file shipped in the package)."""
    if path is None:
        source = "rules/responder.yaml"
        text = resources.files("rules").joinpath("responder.yaml").read_text(encoding="utf-8")
    else:
        source = str(path)
        text = Path(path).read_text(encoding="utf-8")
    try:
        lined = load_with_lines(text)
    except YamlSyntaxError as exc:
        raise RuleSetError(source, [ConfigProblem(exc.line, "", exc.message)]) from exc
    try:
        config = ResponderConfig.model_validate(lined.data)
    except ValidationError as exc:
        raise RuleSetError(source, [pydantic_problem(e, lined) for e in exc.errors()]) from exc
    labels = set(config.mas_mapping)
    if labels != set(MAS_LABELS):
        raise RuleSetError(
            source,
            [
                ConfigProblem(
                    lined.line_of(("mas_mapping",)),
                    "mas_mapping",
                    f"must map exactly the MAS labels {', '.join(MAS_LABELS)}",
                )
            ],
        )
    values = [config.mas_mapping[label] for label in MAS_LABELS]
    if any(b <= a for a, b in pairwise(values)):
        raise RuleSetError(
            source,
            [
                ConfigProblem(
                    lined.line_of(("mas_mapping",)),
                    "mas_mapping",
                    "values must increase with the labels 0 < 1 < 1+ < 2 < 3 < 4",
                )
            ],
        )
    for criterion in ("mean_lower_limb_reduction", "two_point_reduction"):
        found = config.criteria.get(criterion)  # type: ignore[call-overload]
        if found is not None and found.threshold is None:
            raise RuleSetError(
                source,
                [
                    ConfigProblem(
                        lined.line_of(("criteria", criterion)),
                        f"criteria.{criterion}",
                        "needs a threshold",
                    )
                ],
            )
    if config.default_criterion not in config.criteria:
        raise RuleSetError(
            source,
            [
                ConfigProblem(
                    lined.line_of(("default_criterion",)),
                    "default_criterion",
                    f"{config.default_criterion!r} is not among the criteria",
                )
            ],
        )
    return config


# ----- Ashworth -------------------------------------------------------------------------------
class MixedScalesError(ValueError):
    """MAS and the original Ashworth scales are never averaged or compared together."""


@dataclass(frozen=True)
class AshworthScore:
    muscle: MuscleGroup
    side: Side
    label: str  # stored as charted: "1+" stays "1+"


@dataclass(frozen=True)
class AshworthAssessment:
    """One time point (baseline, 4 h, ...) on one declared scale."""

    scale: AshworthScale
    scores: tuple[AshworthScore, ...]

    def __post_init__(self) -> None:
        allowed = ASHWORTH_LABELS[self.scale]
        seen: set[tuple[MuscleGroup, Side]] = set()
        for score in self.scores:
            if score.label not in allowed:
                raise ValueError(
                    f"{score.label!r} is not a {self.scale.value} label ({', '.join(allowed)})"
                )
            key = (score.muscle, score.side)
            if key in seen:
                raise ValueError(f"{score.side.value} {score.muscle.value} scored twice")
            seen.add(key)


def ashworth_value(label: str, scale: AshworthScale, config: ResponderConfig) -> float:
    """Number used for averages: the declared MAS mapping, or the label itself otherwise."""
    if label not in ASHWORTH_LABELS[scale]:
        raise ValueError(f"{label!r} is not a {scale.value} label")
    if scale is AshworthScale.MODIFIED:
        return config.mas_mapping[label]
    return float(label)


def _lower_limb(assessment: AshworthAssessment) -> dict[tuple[MuscleGroup, Side], str]:
    return {
        (s.muscle, s.side): s.label for s in assessment.scores if s.muscle in LOWER_LIMB_MUSCLES
    }


def lower_limb_mean(assessment: AshworthAssessment, config: ResponderConfig) -> float | None:
    """Mean over the lower-limb muscles scored at this time point (None if none were)."""
    values = [
        ashworth_value(label, assessment.scale, config)
        for label in _lower_limb(assessment).values()
    ]
    return sum(values) / len(values) if values else None


@dataclass(frozen=True)
class AshworthComparison:
    scale: AshworthScale
    compared: tuple[tuple[MuscleGroup, Side], ...]
    left_out: tuple[tuple[MuscleGroup, Side, str], ...]  # (muscle, side, why)
    baseline_mean: float | None  # over the compared muscles only
    after_mean: float | None
    reduction: float | None  # baseline mean - after mean; positive = less spastic


def compare_lower_limb(
    baseline: AshworthAssessment, after: AshworthAssessment, config: ResponderConfig
) -> AshworthComparison:
    """Only muscles scored at both time points are compared; the rest are named as left out."""
    if baseline.scale is not after.scale:
        raise MixedScalesError(
            f"baseline is {baseline.scale.value} but the later assessment is "
            f"{after.scale.value}: scales are never mixed; re-score on one scale"
        )
    before, later = _lower_limb(baseline), _lower_limb(after)
    order = [(m, s) for m in LOWER_LIMB_MUSCLES for s in Side]
    compared = tuple(k for k in order if k in before and k in later)
    left_out = tuple(
        (m, s, "not scored at baseline" if (m, s) not in before else "not scored later")
        for (m, s) in order
        if ((m, s) in before) != ((m, s) in later)
    )
    if not compared:
        return AshworthComparison(baseline.scale, (), left_out, None, None, None)
    b = sum(ashworth_value(before[k], baseline.scale, config) for k in compared) / len(compared)
    a = sum(ashworth_value(later[k], after.scale, config) for k in compared) / len(compared)
    return AshworthComparison(baseline.scale, compared, left_out, b, a, b - a)


# ----- Goal Attainment Scaling ----------------------------------------------------------------
def gas_t_score(ratings: Sequence[int]) -> float:
    """Unweighted GAS T-score, Turner-Stokes 2009: T = 50 + 10·Σx / sqrt(0.7·n + 0.3·n²)."""
    if not ratings:
        raise ValueError("at least one goal rating is needed")
    for rating in ratings:
        if rating not in (-2, -1, 0, 1, 2):
            raise ValueError(f"a goal rating is -2 to +2, not {rating!r}")
    n = len(ratings)
    return 50 + 10 * sum(ratings) / math.sqrt(0.7 * n + 0.3 * n * n)


# ----- hints ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class ResponderHint:
    """A criterion evaluated for the team; `met` None means it cannot be evaluated."""

    criterion: str
    label: str
    source: str
    met: bool | None
    explanation: str
    figures: dict[str, float | None] = field(default_factory=dict)
    left_out: tuple[str, ...] = ()
    kind: str = HINT


def _left_out_text(comparison: AshworthComparison) -> tuple[str, ...]:
    return tuple(
        f"{side.value} {muscle.value} ({why})" for muscle, side, why in comparison.left_out
    )


def responder_hint(
    config: ResponderConfig,
    *,
    criterion: CriterionId | None = None,
    baseline: AshworthAssessment | None = None,
    after: AshworthAssessment | None = None,
    penn_baseline: int | None = None,
    penn_after: int | None = None,
    goal_achievable: bool | None = None,
    gas_ratings: Iterable[int] | None = None,
) -> ResponderHint:
    """Evaluate one criterion (default: the configured one) as a labelled hint."""
    chosen: CriterionId = criterion or config.default_criterion
    settings = config.criteria.get(chosen)  # type: ignore[call-overload]
    if settings is None:
        raise ValueError(f"criterion {chosen!r} is not configured")
    comparison = None
    if baseline is not None and after is not None:
        comparison = compare_lower_limb(baseline, after, config)
    left_out = _left_out_text(comparison) if comparison is not None else ()

    def hint(met: bool | None, text: str, figures: dict[str, float | None]) -> ResponderHint:
        return ResponderHint(chosen, settings.label, settings.source, met, text, figures, left_out)

    if chosen == "goal_based":
        figures: dict[str, float | None] = {}
        ratings = list(gas_ratings or [])
        if ratings:
            figures["gas_t_score"] = gas_t_score(ratings)
        if goal_achievable is None:
            return hint(
                None, "The team has not recorded whether the goal can be achieved.", figures
            )
        return hint(
            goal_achievable,
            "The team recorded that the goal "
            + ("can" if goal_achievable else "cannot")
            + " be achieved.",
            figures,
        )

    threshold = settings.threshold
    assert threshold is not None
    reduction = comparison.reduction if comparison is not None else None
    figures = {
        "baseline_mean": comparison.baseline_mean if comparison else None,
        "after_mean": comparison.after_mean if comparison else None,
        "ashworth_reduction": reduction,
        "threshold": threshold,
    }
    if chosen == "mean_lower_limb_reduction":
        if reduction is None:
            return hint(None, "No lower-limb muscle was scored at both time points.", figures)
        met = reduction >= threshold
        return hint(
            met,
            f"Mean lower-limb reduction {reduction:.2f} "
            f"{'>=' if met else '<'} {threshold:g} over {len(comparison.compared)} "
            "muscle(s) scored at both time points.",
            figures,
        )
    # two_point_reduction: Ashworth (lower-limb mean) or Penn frequency.
    penn = None if penn_baseline is None or penn_after is None else penn_baseline - penn_after
    figures["penn_reduction"] = penn
    if reduction is None and penn is None:
        return hint(
            None, "Neither Ashworth at both time points nor Penn before and after.", figures
        )
    met = (reduction is not None and reduction >= threshold) or (
        penn is not None and penn >= threshold
    )
    parts = []
    if reduction is not None:
        parts.append(f"Ashworth lower-limb mean reduction {reduction:.2f}")
    if penn is not None:
        parts.append(f"Penn reduction {penn}")
    return hint(met, f"{'; '.join(parts)}; threshold {threshold:g}.", figures)


# ----- next dose ------------------------------------------------------------------------------
@dataclass(frozen=True)
class DoseSuggestion:
    """A suggestion for a repeat trial; `dose_mcg` None means no higher dose is possible."""

    dose_mcg: float | None
    not_before: datetime | None
    explanation: str
    source: str
    kind: str = HINT


def next_dose_suggestion(
    dose_mcg: float, injection_time: datetime, config: ResponderConfig, limits: DoseLimits
) -> DoseSuggestion:
    """After a non-response: +step, no sooner than the interval, never above the maximum."""
    rules = config.next_dose
    if injection_time.tzinfo is None:
        raise ValueError("injection time must be timezone-aware")
    if dose_mcg <= 0:
        raise ValueError("dose must be positive")
    if dose_mcg >= limits.max_mcg:
        return DoseSuggestion(
            None,
            None,
            f"No response at {dose_mcg:g} mcg, the maximum trial "
            "dose: intrathecal baclofen may be unsuitable.",
            rules.source,
        )
    dose = min(dose_mcg + rules.step_mcg, limits.max_mcg)
    capped = " (capped at the maximum)" if dose < dose_mcg + rules.step_mcg else ""
    not_before = injection_time + timedelta(hours=limits.min_interval_h)
    return DoseSuggestion(
        dose,
        not_before,
        f"Repeat trial at {dose:g} mcg{capped}, no sooner than {limits.min_interval_h:g} h "
        "after this injection.",
        rules.source,
    )


# Outcomes after which the trial is repeated; the others plan no further trial.
FOLLOW_UP_OUTCOMES: frozenset[DecisionOutcome] = frozenset(
    {DecisionOutcome.RETRIAL_HIGHER, DecisionOutcome.INCONCLUSIVE}
)


def follow_up_suggestion(
    outcome: DecisionOutcome | str,
    dose_mcg: float,
    injection_time: datetime,
    config: ResponderConfig,
    limits: DoseLimits,
) -> DoseSuggestion | None:
    """The next trial an outcome calls for; None when the outcome plans no further trial.

    Re-trial at a higher dose: +step up to the maximum (`next_dose_suggestion`). Inconclusive:
    the same dose again. Either way no sooner than the interval after this injection.
    """
    outcome = DecisionOutcome(outcome)
    if outcome is DecisionOutcome.RETRIAL_HIGHER:
        return next_dose_suggestion(dose_mcg, injection_time, config, limits)
    if outcome is not DecisionOutcome.INCONCLUSIVE:
        return None
    rules = config.next_dose
    if injection_time.tzinfo is None:
        raise ValueError("injection time must be timezone-aware")
    if dose_mcg <= 0:
        raise ValueError("dose must be positive")
    return DoseSuggestion(
        dose_mcg,
        injection_time + timedelta(hours=limits.min_interval_h),
        f"Repeat trial at the same dose, {dose_mcg:g} mcg, no sooner than "
        f"{limits.min_interval_h:g} h after this injection.",
        rules.source,
    )
