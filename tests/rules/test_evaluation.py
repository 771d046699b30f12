"""The one responder evaluation: the next step respects the day's safety, timing is labelled."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from rules.evaluation import (
    PeakWindow,
    ScoresAt,
    evaluate_trial_day,
    judge_timing,
)
from rules.responder import AshworthAssessment, AshworthScore, DoseLimits, load_responder_config
from rules.safety_summary import AlarmEventFact, SetFact, summarise_safety
from vocabulary import AshworthScale, MuscleGroup, Side

CONFIG = load_responder_config()
LIMITS = DoseLimits(max_mcg=100, min_interval_h=24)
WINDOW = PeakWindow(3.5, 6.5)
GIVEN = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


def scores(label: str, point: str, at: datetime) -> ScoresAt:
    ashworth = AshworthAssessment(
        AshworthScale.MODIFIED,
        tuple(AshworthScore(MuscleGroup.HIP_FLEXORS, side, label) for side in Side),
    )
    return ScoresAt(ashworth, None, (), judge_timing(point, at, GIVEN, WINDOW))


def critical_desaturation() -> list[AlarmEventFact]:
    at = GIVEN + timedelta(hours=2)
    evidence = {
        "parameter": "spo2",
        "level": "critical_desaturation",
        "direction": "low",
        "value": 84,
        "levels_met": ["desaturation", "severe_desaturation", "critical_desaturation"],
    }
    return [
        AlarmEventFact(
            1,
            "spo2_low",
            "physiological",
            "raised",
            at,
            "high",
            "Critical desaturation: SpO2 85 % or below. Call for help.",
            evidence,
        ),
        AlarmEventFact(
            1,
            "spo2_low",
            "physiological",
            "acknowledged",
            at + timedelta(seconds=40),
            "high",
            "Critical desaturation: SpO2 85 % or below. Call for help.",
            evidence,
            by="Nurse Ann",
        ),
    ]


SIGNS = {
    "none": ([], []),
    "high alarm": (critical_desaturation(), []),
    "red flag": ([], [SetFact(GIVEN + timedelta(hours=1), side_effects=("slurred_speech",))]),
    "POSS 3": ([], [SetFact(GIVEN + timedelta(hours=1), poss="3")]),
    "ACVPU V": ([], [SetFact(GIVEN + timedelta(hours=1), consciousness="V")]),
}


def evaluate(after_label: str, signs: str, dose: float):
    events, sets = SIGNS[signs]
    safety = summarise_safety(events, sets, [], GIVEN + timedelta(hours=4))
    return evaluate_trial_day(
        CONFIG,
        LIMITS,
        safety,
        baseline=scores("3", "baseline", GIVEN - timedelta(minutes=30)),
        after=scores(after_label, "4h", GIVEN + timedelta(hours=4)),
        dose_mcg=dose,
        injected_at=GIVEN,
    )


@pytest.mark.parametrize("signs", ["high alarm", "red flag", "POSS 3", "ACVPU V"])
@pytest.mark.parametrize("responded", [True, False])
@pytest.mark.parametrize("dose", [50, 100])
def test_never_a_higher_dose_after_overdose_signs(signs: str, responded: bool, dose: float):
    evaluation = evaluate("1" if responded else "3", signs, dose)
    assert evaluation.hint is not None and evaluation.hint.met is responded
    step = evaluation.next_step
    assert step.kind == "no_higher_dose" and step.dose_mcg is None and not step.higher_dose
    assert "No higher dose is suggested. The team decides." in step.text
    assert evaluation.signs and all(sign in step.text for sign in evaluation.signs)
    assert "Repeat trial" not in step.text


@pytest.mark.parametrize(
    ("responded", "dose", "kind", "suggested"),
    [
        (True, 50, "consider_responder", None),
        (True, 100, "consider_responder", None),
        (False, 50, "repeat_higher", 75),
        (False, 100, "unsuitable_at_max", None),
    ],
)
def test_a_safe_day_follows_the_criterion(
    responded: bool, dose: float, kind: str, suggested: float | None
):
    evaluation = evaluate("1" if responded else "3", "none", dose)
    assert evaluation.signs == ()
    step = evaluation.next_step
    assert (step.kind, step.dose_mcg) == (kind, suggested)
    assert step.text.endswith("The team decides.")
    if suggested:
        assert step.not_before == GIVEN + timedelta(hours=24)


def test_overdose_signs_are_named_with_counts():
    evaluation = evaluate("1", "high alarm", 50)
    assert evaluation.signs == ("Critical desaturation (once)",)
    [condition] = evaluation.safety.conditions
    assert (
        condition.count,
        condition.worst_value,
        condition.acknowledged_by,
        condition.slowest_ack,
    ) == (1, 84, ("Nurse Ann",), timedelta(seconds=40))
    assert condition.longest_still_present  # never resolved in the record


def test_peak_scores_outside_the_window_are_labelled_and_suggest_nothing():
    early = GIVEN + timedelta(minutes=35)
    timing = judge_timing("4h", early, GIVEN, WINDOW, "patient leaving early")
    assert timing.label == (
        "outside the peak window: 0 h 35 min after injection — reason: patient leaving early"
    )
    safety = summarise_safety([], [], [], GIVEN + timedelta(hours=4))
    evaluation = evaluate_trial_day(
        CONFIG,
        LIMITS,
        safety,
        baseline=scores("3", "baseline", GIVEN - timedelta(minutes=30)),
        after=ScoresAt(scores("3", "4h", early).ashworth, None, (), timing),
        dose_mcg=50,
        injected_at=GIVEN,
    )
    assert "Caution — 4-hour scores: outside the peak window" in evaluation.hint_text
    assert evaluation.next_step.kind == "cannot_evaluate"
    assert evaluation.next_step.dose_mcg is None


def test_timing_of_baseline_and_window_edges():
    assert judge_timing("baseline", GIVEN - timedelta(minutes=25), GIVEN, WINDOW).label == (
        "0 h 25 min before the injection"
    )
    late = judge_timing("baseline", GIVEN + timedelta(minutes=10), GIVEN, WINDOW)
    assert late.problem and late.label == (
        "not a pre-injection baseline: taken 0 h 10 min after the injection"
    )
    for hours, inside in ((3.5, True), (6.5, True), (3.49, False), (6.51, False)):
        assert judge_timing("4h", GIVEN + timedelta(hours=hours), GIVEN, WINDOW).in_window is inside
    assert judge_timing("4h", GIVEN, None, WINDOW).label == (
        "timing not known: no injection recorded"
    )
