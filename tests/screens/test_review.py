"""The review page: scores side by side, the lower-limb mean, the hint, the day's timeline."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from observations.alarms import AlarmEventIn
from observations.entries import ReadingIn
from screens.markdown_text import md
from tests.judgements import judge_as_the_monitor
from tests.screens.apps import on_page, open_at, turned_away, ward_with_patient
from vocabulary import (
    AlarmEventType,
    AlarmKind,
    InjectionRoute,
    Parameter,
    Priority,
    TrialStatus,
)

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "ward seven tea"


def scores(point: str, at: Any, labels: dict[tuple[str, str], str], **more: Any) -> dict:
    return {
        "time_point": point,
        "assessed_at": at,
        "ashworth": [{"muscle_group": m, "side": s, "label": v} for (m, s), v in labels.items()],
        **more,
    }


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    people = ward_with_patient(tmp_path, monkeypatch)
    record, doctor, physio, nurse = (people[k] for k in ("record", "doctor", "physio", "nurse"))
    patient = people["patient"]
    trial = record.trials.plan(doctor, patient.id, 50)
    now = record.store.now()
    given = now - timedelta(hours=5)
    record.assessments.record(
        physio,
        trial.id,
        scores(
            "baseline",
            given - timedelta(minutes=30),
            {
                ("hip_flexors", "left"): "3",
                ("hip_flexors", "right"): "2",
                ("knee_flexors", "left"): "1+",
            },
            penn_frequency=3,
            penn_severity=2,
            penn_recall_period="last 24 hours",
            pain_nrs=6,
            goals=[{"goal": "Stand to transfer", "rating": -1}],
        ),
    )
    record.trials.set_status(doctor, trial.id, TrialStatus.BASELINE)
    record.trials.record_injection(
        doctor,
        trial.id,
        {
            "dose_mcg": 50,
            "given_at": given,
            "route": InjectionRoute.LUMBAR_PUNCTURE,
            "given_by": "Dr Doctor",
        },
    )
    record.assessments.record(
        physio,
        trial.id,
        scores(
            "4h",
            given + timedelta(hours=4),
            {
                ("hip_flexors", "left"): "1",
                ("hip_flexors", "right"): "1+",
                ("knee_flexors", "left"): "2",
                ("ankle_plantarflexors", "left"): "0",
            },
            penn_frequency=1,
            penn_severity=1,
            penn_recall_period="since the injection",
            pain_nrs=3,
            goals=[{"goal": "Stand to transfer", "rating": 1}],
        ),
    )
    service = record.users.service_actor()
    record.readings.add(
        service,
        [
            ReadingIn(
                trial.id,
                Parameter.SPO2,
                value,
                given + timedelta(minutes=m),
                given + timedelta(minutes=m),
                "sim:steady",
            )
            for m, value in ((10, 97.0), (20, 95.0), (30, 90.0))
        ],
    )
    record.alarms.record_events(
        service,
        [
            AlarmEventIn(
                trial.id,
                "severe_desaturation",
                AlarmEventType.RAISED,
                given + timedelta(minutes=30),
                Priority.HIGH,
                AlarmKind.PHYSIOLOGICAL,
                "SpO2 90 % for 15 s",
                {"spo2": 90},
                "test",
            )
        ],
    )
    record.observations.record(
        doctor,
        trial.id,
        {
            "measured_at": given + timedelta(minutes=45),
            "rr": 14,
            "side_effects": ["drowsiness", "slurred_speech"],
        },
    )
    yield {
        "record": record,
        "doctor": doctor,
        "physio": physio,
        "nurse": nurse,
        "trial": record.trials.get(trial.id),
    }
    record.close()


def open_review(actor: Any, trial_id: int | None) -> AppTest:
    at = open_at("review", actor)
    at.run()
    if trial_id is not None:
        at.selectbox(key="review_trial").select(trial_id).run()
    assert not at.exception
    return at


TABLES = {
    "ashworth_review": "Muscle group",
    "measures_review": "Measure",
    "goals_review": "Goal",
    "alarms_review": "Alarm",
    "side_effects_review": "Side effect",
}


def table(at: AppTest, name: str) -> Any:
    """The one table with the column that names it."""
    [found] = [d for d in at.dataframe if TABLES[name] in d.value.columns]
    return found


def test_a_nurse_cannot_open_the_review(world):
    at = open_review(world["nurse"], None)
    assert turned_away(at)
    assert not at.dataframe


def test_scores_side_by_side_per_muscle_with_the_change_coloured(world):
    at = open_review(world["physio"], world["trial"].id)
    frame = table(at, "ashworth_review").value
    rows = {(r["Muscle group"], r["Side"]): r for r in frame.to_dict("records")}
    assert (
        rows[("Hip flexors", "left")]["Baseline"],
        rows[("Hip flexors", "left")]["4 hours"],
        rows[("Hip flexors", "left")]["Reduction"],
    ) == ("3", "1", "2.0 less tone")
    assert rows[("Hip flexors", "right")]["Reduction"] == "0.5 less tone"  # 2 -> 1+ (1.5)
    assert rows[("Knee flexors", "left")]["Reduction"] == "0.5 more tone"  # 1+ -> 2
    assert rows[("Ankle plantarflexors", "left")]["Baseline"] == "—"
    assert rows[("Ankle plantarflexors", "left")]["Reduction"] == "—"
    assert rows[("Knee extensors", "right")]["4 hours"] == "—"  # never 0
    # Reduction is column 4; row 0 is left hip flexors, row 4 left knee flexors.
    css = table(at, "ashworth_review").proto.arrow_data.styler.styles
    colour = {}
    for rule in css.splitlines():
        cells, style = rule.split("{")
        for cell in cells.split(","):
            colour[cell.strip().rsplit("_", 2)[-2]] = style.strip(" }").split(": ")[1]
    assert colour == {"row0": "#d4edda", "row1": "#d4edda", "row4": "#f8d7da"}


def test_lower_limb_mean_under_the_declared_mapping(world):
    at = open_review(world["physio"], world["trial"].id)
    metrics = {m.label: m.value for m in at.metric}
    # (3 + 2 + 1.5) / 3 -> (1 + 1.5 + 2) / 3 over the three muscles scored at both times.
    assert metrics == {"Baseline mean": "2.17", "4-hour mean": "1.50", "Reduction": "0.67"}
    captions = " ".join(c.value for c in at.caption)
    assert "1+ = 1.5" in captions and "responder-default-1" in captions
    assert "left ankle plantarflexors (not scored at baseline)" in captions


def test_hint_names_its_source_and_is_not_the_decision(world):
    at = open_review(world["doctor"], world["trial"].id)
    [hint] = [i.value for i in at.info if "HINT" in i.value]
    assert hint.startswith(
        md(
            "HINT, not a decision — Mean lower-limb Ashworth reduction >= 1 "
            "point: criterion not met."
        )
    )
    assert hint.endswith(md("Source: Gilmartin 2000; US label studies (cerebral origin)."))
    assert not on_page(at, "button")  # nothing to sign or decide here
    record = world["record"]
    assert record.decisions.for_trial(world["trial"].id) is None
    assert record.trials.get(world["trial"].id).status == TrialStatus.MONITORING.value
    others = " ".join(t.value for t in at.text)
    assert "Source: Meythaler; US payers (spinal origin)." in others  # Penn 3 -> 1 = 2 points


def test_penn_pain_and_goal_t_score(world):
    at = open_review(world["physio"], world["trial"].id)
    measures = {
        r["Measure"]: (r["Baseline"], r["4 hours"])
        for r in table(at, "measures_review").value.to_dict("records")
    }
    assert measures["Penn spasm frequency (0-4)"] == ("3", "1")
    assert measures["Pain (0-10)"] == ("6", "3")
    assert measures["Stiffness (0-10)"] == ("—", "—")
    goals = table(at, "goals_review").value.to_dict("records")
    assert goals[0] == {"Goal": "Stand to transfer", "Baseline": "-1", "4 hours": "+1"}
    # T = 50 + 10 * x / sqrt(0.7 + 0.3) for one goal.
    assert goals[1] == {
        "Goal": "GAS T-score",
        "Baseline": "40.0 (1 of 1 goals rated)",
        "4 hours": "60.0 (1 of 1 goals rated)",
    }


def test_timeline_marks_every_alarm_and_side_effect_beside_the_scores(world):
    at = open_review(world["doctor"], world["trial"].id)
    [chart] = at.get("plotly_chart")
    spec = json.loads(chart.proto.spec)
    names = {trace.get("name") for trace in spec["data"]}
    assert {"Alarm", "Side effect"} <= names
    alarm = next(t for t in spec["data"] if t.get("name") == "Alarm")
    assert alarm["text"] == ["HIGH: SpO2 90 % for 15 s"]
    effects = next(t for t in spec["data"] if t.get("name") == "Side effect")
    assert effects["text"] == ["Drowsiness", "Slurred speech"]
    notes = [a["text"] for a in spec["layout"]["annotations"]]
    assert "baseline scores" in notes and "4h scores" in notes
    alarms = table(at, "alarms_review").value
    assert list(alarms["Alarm"]) == ["SpO2 90 % for 15 s"]
    effects_table = table(at, "side_effects_review").value
    assert list(effects_table["Red flag"]) == ["no", "yes"]


def test_mixed_scales_are_never_compared(world):
    record, trial = world["record"], world["trial"]
    [_, four] = record.assessments.list(trial.id)
    record.assessments.correct(
        world["physio"],
        four.id,
        scores(
            "4h",
            four.assessed_at,
            {("hip_flexors", "left"): "1"},
            ashworth_scale="original_ashworth",
        ),
        "scored on the wrong form",
    )
    at = open_review(world["physio"], trial.id)
    errors = [e.value for e in at.error]
    assert any("scales are never mixed" in e for e in errors)
    assert not at.metric
    rows = table(at, "ashworth_review").value
    assert set(rows["Reduction"]) == {"—"}


def test_extra_time_points_are_columns_beside_baseline_and_4_hours(world):
    from observations.ward_time import to_ward

    record, trial = world["record"], world["trial"]
    given = trial.injection.given_at
    zone = record.settings.ward_timezone
    early, late = given + timedelta(hours=2), given + timedelta(hours=4, minutes=30)
    for at, label, penn, goal in ((late, "2", 2, 0), (early, "1+", 2, 1)):
        record.assessments.record(
            world["physio"],
            trial.id,
            scores(
                "other",
                at,
                {("hip_flexors", "left"): label, ("hip_adductors", "right"): "3"},
                penn_frequency=penn,
                penn_recall_period="since the injection",
                goals=[{"goal": "Stand to transfer", "rating": goal}],
            ),
        )
    early_col = f"Extra {to_ward(early, zone):%H:%M} (+2 h 00 min)"
    late_col = f"Extra {to_ward(late, zone):%H:%M} (+4 h 30 min)"
    at = open_review(world["physio"], trial.id)
    assert not at.exception
    ashworth = table(at, "ashworth_review").value
    # In time order: baseline, the extra at 2 h, 4 hours, the extra at 4 h 30.
    assert list(ashworth.columns) == [
        "Muscle group",
        "Side",
        "Baseline",
        early_col,
        "4 hours",
        late_col,
        "Reduction",
    ]
    rows = {(r["Muscle group"], r["Side"]): r for r in ashworth.to_dict("records")}
    left_hip = rows[("Hip flexors", "left")]
    assert (left_hip["Baseline"], left_hip[early_col], left_hip["4 hours"], left_hip[late_col]) == (
        "3",
        "1+",
        "1",
        "2",
    )
    assert left_hip["Reduction"] == "2.0 less tone"  # still baseline against 4 hours
    # A muscle scored only at the extra time points gets its row, missing elsewhere.
    right_adductors = rows[("Hip adductors", "right")]
    assert (
        right_adductors["Baseline"],
        right_adductors[early_col],
        right_adductors["4 hours"],
    ) == ("—", "3", "—")
    measures = {r["Measure"]: r for r in table(at, "measures_review").value.to_dict("records")}
    penn = measures["Penn spasm frequency (0-4)"]
    assert (penn["Baseline"], penn[early_col], penn["4 hours"], penn[late_col]) == (
        "3",
        "2",
        "1",
        "2",
    )
    assert measures["Pain (0-10)"][late_col] == "—"
    goals = table(at, "goals_review").value.to_dict("records")
    assert goals[0][early_col] == "+1" and goals[0][late_col] == "0"
    assert goals[1][early_col] == "60.0 (1 of 1 goals rated)"
    # The mean and the hint are unchanged by extra time points.
    assert {m.label: m.value for m in at.metric}["Reduction"] == "0.67"
    assert any("compare baseline and 4 hours only" in c.value for c in at.caption)


def test_each_set_s_news2_and_the_due_times_are_the_monitor_s(world):
    record, trial = world["record"], world["trial"]
    at = open_review(world["doctor"], trial.id)
    [sets] = [d for d in at.dataframe if "NEWS2" in d.value.columns]
    # Nothing is scored by the page: until the monitor has, it says so.
    assert list(sets.value["NEWS2"]) == ["NEWS2 — (not yet scored by the monitor)"]
    assert any("not yet worked out by the monitor" in c.value for c in at.caption)
    judge_as_the_monitor(record, trial.id)
    at = open_review(world["doctor"], trial.id)
    [sets] = [d for d in at.dataframe if "NEWS2" in d.value.columns]
    assert list(sets.value["NEWS2"]) == [
        "NEWS2 incomplete (missing: SpO2, air or oxygen, systolic BP, pulse, "
        "consciousness (ACVPU), temperature)"
    ]
    captions = [c.value for c in at.caption]
    assert any(
        c.startswith("Due times (as the monitor judged them at") and "missed" in c for c in captions
    ), captions
    assert "Pre-injection baseline: none (no readings or set before the injection)." in captions
