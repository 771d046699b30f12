"""Responder hints (rules/responder.yaml): MAS mapping, lower-limb means, criteria, GAS, dose."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from rules.responder import (
    AshworthAssessment,
    AshworthScore,
    DoseLimits,
    MixedScalesError,
    ashworth_value,
    compare_lower_limb,
    gas_t_score,
    load_responder_config,
    lower_limb_mean,
    next_dose_suggestion,
    responder_hint,
)
from rules.rule_set import RuleSetError
from vocabulary import AshworthScale, MuscleGroup, Side

CONFIG = load_responder_config()
LIMITS = DoseLimits(max_mcg=100, min_interval_h=24)  # the record's limits.yaml values
MAS = AshworthScale.MODIFIED
L, R = Side.LEFT, Side.RIGHT
HIP_F, HIP_A, KNEE_F, KNEE_E, ANKLE = (
    MuscleGroup.HIP_FLEXORS,
    MuscleGroup.HIP_ADDUCTORS,
    MuscleGroup.KNEE_FLEXORS,
    MuscleGroup.KNEE_EXTENSORS,
    MuscleGroup.ANKLE_PLANTARFLEXORS,
)


def assess(scale: AshworthScale, *scores: tuple[MuscleGroup, Side, str]) -> AshworthAssessment:
    return AshworthAssessment(scale, tuple(AshworthScore(m, s, label) for m, s, label in scores))


@pytest.mark.parametrize(
    ("label", "value"), [("0", 0), ("1", 1), ("1+", 1.5), ("2", 2), ("3", 3), ("4", 4)]
)
def test_default_mas_mapping(label: str, value: float) -> None:
    assert ashworth_value(label, MAS, CONFIG) == value


def test_original_scales_use_their_own_numbers_and_refuse_1_plus() -> None:
    assert ashworth_value("3", AshworthScale.ORIGINAL, CONFIG) == 3
    assert ashworth_value("5", AshworthScale.ORIGINAL_1_TO_5, CONFIG) == 5
    with pytest.raises(ValueError, match="label"):
        assess(AshworthScale.ORIGINAL, (HIP_F, L, "1+"))


def test_lower_limb_mean_ignores_arms() -> None:
    a = assess(MAS, (HIP_F, L, "1+"), (KNEE_E, R, "3"), (MuscleGroup.ELBOW_FLEXORS, L, "4"))
    assert lower_limb_mean(a, CONFIG) == (1.5 + 3) / 2
    assert lower_limb_mean(assess(MAS), CONFIG) is None


def test_mean_reduction_compares_only_muscles_scored_twice() -> None:
    before = assess(MAS, (HIP_F, L, "3"), (HIP_F, R, "3"), (ANKLE, L, "4"), (KNEE_F, R, "2"))
    after = assess(MAS, (HIP_F, L, "1+"), (HIP_F, R, "2"), (ANKLE, L, "2"), (HIP_A, L, "1"))
    comparison = compare_lower_limb(before, after, CONFIG)
    assert set(comparison.compared) == {(HIP_F, L), (HIP_F, R), (ANKLE, L)}
    assert comparison.baseline_mean == pytest.approx((3 + 3 + 4) / 3)
    assert comparison.after_mean == pytest.approx((1.5 + 2 + 2) / 3)
    assert comparison.reduction == pytest.approx(4.5 / 3)
    assert set(comparison.left_out) == {
        (HIP_A, L, "not scored at baseline"),
        (KNEE_F, R, "not scored later"),
    }


def test_mixing_scales_is_refused() -> None:
    with pytest.raises(MixedScalesError, match="never mixed"):
        compare_lower_limb(
            assess(MAS, (HIP_F, L, "2")), assess(AshworthScale.ORIGINAL, (HIP_F, L, "1")), CONFIG
        )


def test_default_criterion_hint_met_and_not_met() -> None:
    before = assess(MAS, (HIP_F, L, "3"), (KNEE_E, L, "2"))
    met = responder_hint(
        CONFIG, baseline=before, after=assess(MAS, (HIP_F, L, "2"), (KNEE_E, L, "1"))
    )
    assert (met.criterion, met.met, met.kind) == ("mean_lower_limb_reduction", True, "hint")
    assert "Gilmartin 2000" in met.source
    not_met = responder_hint(
        CONFIG, baseline=before, after=assess(MAS, (HIP_F, L, "2"), (KNEE_E, L, "1+"))
    )
    assert not_met.met is False  # reduction 0.75
    assert not_met.figures["ashworth_reduction"] == pytest.approx(0.75)


def test_hint_names_the_muscles_left_out() -> None:
    hint = responder_hint(
        CONFIG,
        baseline=assess(MAS, (HIP_F, L, "3"), (ANKLE, R, "3")),
        after=assess(MAS, (HIP_F, L, "1")),
    )
    assert hint.met is True
    assert hint.left_out == ("right ankle_plantarflexors (not scored later)",)


def test_no_common_muscle_cannot_be_evaluated() -> None:
    hint = responder_hint(
        CONFIG, baseline=assess(MAS, (HIP_F, L, "3")), after=assess(MAS, (HIP_F, R, "1"))
    )
    assert hint.met is None


def test_two_point_criterion_by_ashworth_or_penn() -> None:
    before = assess(MAS, (HIP_F, L, "3"))
    small = assess(MAS, (HIP_F, L, "2"))
    by_penn = responder_hint(
        CONFIG,
        criterion="two_point_reduction",
        baseline=before,
        after=small,
        penn_baseline=3,
        penn_after=1,
    )
    assert by_penn.met is True
    assert "Meythaler" in by_penn.source
    neither = responder_hint(
        CONFIG,
        criterion="two_point_reduction",
        baseline=before,
        after=small,
        penn_baseline=3,
        penn_after=2,
    )
    assert neither.met is False
    by_ashworth = responder_hint(
        CONFIG, criterion="two_point_reduction", baseline=before, after=assess(MAS, (HIP_F, L, "1"))
    )
    assert by_ashworth.met is True


def test_goal_based_hint() -> None:
    hint = responder_hint(CONFIG, criterion="goal_based", goal_achievable=True, gas_ratings=[0, 1])
    assert hint.met is True
    assert hint.figures["gas_t_score"] == pytest.approx(50 + 10 / math.sqrt(0.7 * 2 + 1.2))
    assert responder_hint(CONFIG, criterion="goal_based").met is None


@pytest.mark.parametrize(
    ("ratings", "expected"),
    [
        ([0], 50.0),
        ([0, 0, 0], 50.0),
        ([1], 60.0),  # 50 + 10 / sqrt(0.7 + 0.3)
        ([-2], 30.0),
        ([2, 2], 50 + 40 / math.sqrt(1.4 + 1.2)),
        ([1, -1, 2], 50 + 20 / math.sqrt(2.1 + 2.7)),
    ],
)
def test_gas_t_score(ratings: list[int], expected: float) -> None:
    assert gas_t_score(ratings) == pytest.approx(expected)


def test_gas_refuses_out_of_range_and_empty() -> None:
    with pytest.raises(ValueError):
        gas_t_score([3])
    with pytest.raises(ValueError):
        gas_t_score([])


def test_next_dose_suggestion() -> None:
    injected = datetime(2025, 3, 1, 10, 30, tzinfo=UTC)
    step = next_dose_suggestion(50, injected, CONFIG, LIMITS)
    assert (step.dose_mcg, step.not_before, step.kind) == (
        75,
        injected + timedelta(hours=24),
        "hint",
    )
    assert next_dose_suggestion(75, injected, CONFIG, LIMITS).dose_mcg == 100
    capped = next_dose_suggestion(90, injected, CONFIG, LIMITS)
    assert capped.dose_mcg == 100
    assert "capped" in capped.explanation
    at_max = next_dose_suggestion(100, injected, CONFIG, LIMITS)
    assert at_max.dose_mcg is None
    assert "unsuitable" in at_max.explanation


def test_responder_config_errors_name_the_line(tmp_path: Path) -> None:
    text = (Path(__file__).resolve().parents[2] / "rules" / "responder.yaml").read_text()
    bad = tmp_path / "responder.yaml"
    lines = text.splitlines()
    index = next(i for i, line in enumerate(lines) if "step_mcg" in line)
    lines[index] = "  step_mcg: -25"
    bad.write_text("\n".join(lines) + "\n")
    with pytest.raises(RuleSetError) as caught:
        load_responder_config(bad)
    assert caught.value.problems[0].line == index + 1
    mapping = text.replace('"1+": 1.5', '"1+": 0.5')
    bad.write_text(mapping)
    with pytest.raises(RuleSetError, match="increase"):
        load_responder_config(bad)
