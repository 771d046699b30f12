"""The scores page: Ashworth grid, Penn, NRS, power and goals, checked by the record."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from tests.screens.apps import open_at, turned_away, ward_with_patient
from vocabulary import LOWER_LIMB_MUSCLES, MAS_LABELS, InjectionRoute, TrialStatus

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "ward seven tea"


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    people = ward_with_patient(tmp_path, monkeypatch)
    record, doctor, physio, nurse = (people[k] for k in ("record", "doctor", "physio", "nurse"))
    patient = people["patient"]
    trial = record.trials.plan(doctor, patient.id, 50, bed="4B")
    yield {"record": record, "physio": physio, "nurse": nurse, "doctor": doctor, "trial": trial}
    record.close()


def open_page(actor: Any) -> AppTest:
    at = open_at("scores", actor)
    return at.run()


def choose(at: AppTest, trial_id: int, point: str = "baseline") -> AppTest:
    at.selectbox(key="scores_trial").select(trial_id).run()
    at.radio(key=f"scores_point_{trial_id}").set_value(point).run()
    return at


def edits(rows: dict[int, dict[str, Any]], added: list[dict[str, Any]] | None = None) -> dict:
    return {"edited_rows": rows, "added_rows": added or [], "deleted_rows": []}


def errors(at: AppTest) -> list[str]:
    return [e.value for e in at.error]


def record_baseline(world: dict[str, Any]) -> None:
    world["record"].assessments.record(
        world["physio"],
        world["trial"].id,
        {
            "time_point": "baseline",
            "assessed_at": world["record"].store.now() - timedelta(hours=5),
            "ashworth": [
                {"muscle_group": "hip_flexors", "side": "left", "label": "3"},
                {"muscle_group": "hip_flexors", "side": "right", "label": "1+"},
            ],
            "penn_frequency": 3,
            "penn_severity": 2,
            "penn_recall_period": "last 24 hours",
            "pain_nrs": 6,
            "stiffness_nrs": 8,
            "power_left_leg": 4,
            "goals": [{"goal": "Stand to transfer", "rating": -1}],
        },
    )


def test_a_nurse_cannot_open_the_scores_page(world):
    at = open_page(world["nurse"])
    assert turned_away(at)
    assert not at.data_editor and not at.selectbox


def test_every_choice_names_the_patient_twice(world):
    at = open_page(world["physio"])
    option = at.selectbox(key="scores_trial").options[0]
    assert "NHS 943 476 5919" in option and "MRN H77" in option and "JONES, Sam" in option


def test_grid_offers_only_the_labels_of_the_chosen_scale(world):
    at = choose(open_page(world["physio"]), world["trial"].id)
    grid = at.data_editor[0]
    assert list(grid.value["muscle"]) == [m.value for m in LOWER_LIMB_MUSCLES]
    columns = json.loads(grid.proto.columns)
    for side in ("Left", "Right"):
        assert columns[side]["type_config"] == {"type": "selectbox", "options": list(MAS_LABELS)}
    # "5" is not offered on MAS; it is offered only on the 1-5 variant of the original scale.
    at.selectbox(key=f"scores_scale_{world['trial'].id}_baseline_new").select(
        "original_ashworth_1_5"
    ).run()
    columns = json.loads(at.data_editor[0].proto.columns)
    assert columns["Left"]["type_config"]["options"] == ["1", "2", "3", "4", "5"]


def test_baseline_saved_as_labels_with_the_scale(world):
    trial = world["trial"]
    at = choose(open_page(world["physio"]), trial.id)
    context = f"{trial.id}_baseline_new"
    at.session_state[f"ashworth_{context}"] = edits(
        {0: {"Left": "1+", "Right": "2"}, 4: {"Right": "4"}}
    )
    at.session_state[f"goals_{context}"] = edits(
        {}, [{"Goal": "Walk to the bathroom", "Rating": "-1"}]
    )
    at.selectbox(key=f"penn_frequency_{context}").select(2)
    at.selectbox(key=f"penn_severity_{context}").select(1)
    at.text_input(key=f"penn_recall_{context}").input("last week")
    at.number_input(key=f"pain_nrs_{context}").set_value(6)
    at.selectbox(key=f"power_left_leg_{context}").select(4)
    at.button[0].click().run()
    assert not at.exception
    assert errors(at) == []
    assert [s.value for s in at.success] == ["Baseline (before the injection) scores saved."]
    [saved] = world["record"].assessments.list(trial.id)
    assert saved.time_point == "baseline" and saved.ashworth_scale == "modified_ashworth"
    assert [(s.muscle_group, s.side, s.label) for s in saved.ashworth] == [
        ("hip_flexors", "left", "1+"),
        ("hip_flexors", "right", "2"),
        ("ankle_plantarflexors", "right", "4"),
    ]
    assert (saved.penn_frequency, saved.penn_severity, saved.penn_recall_period) == (
        2,
        1,
        "last week",
    )
    assert (saved.pain_nrs, saved.stiffness_nrs, saved.power_left_leg) == (6, None, 4)
    assert [(g.goal, g.rating) for g in saved.goals] == [("Walk to the bathroom", -1)]


def test_impossible_label_refused_with_the_records_message_and_kept(world):
    trial = world["trial"]
    at = choose(open_page(world["physio"]), trial.id)
    key = f"ashworth_{trial.id}_baseline_new"
    at.session_state[key] = edits({0: {"Left": "5"}})
    at.number_input(key=f"pain_nrs_{trial.id}_baseline_new").set_value(3)
    at.button[0].click().run()
    assert (
        "'5' is not a modified ashworth score (left hip flexors): use 0, 1, 1+, 2, 3, 4."
        in errors(at)
    )
    assert world["record"].assessments.list(trial.id) == []
    # What was typed stays on the form.
    assert at.session_state[key]["edited_rows"] in ({0: {"Left": "5"}}, {"0": {"Left": "5"}})
    assert at.number_input(key=f"pain_nrs_{trial.id}_baseline_new").value == 3


def test_penn_severity_without_spasms_refused_beside_the_field(world):
    trial = world["trial"]
    at = choose(open_page(world["physio"]), trial.id)
    context = f"{trial.id}_baseline_new"
    at.selectbox(key=f"penn_frequency_{context}").select(0)
    at.selectbox(key=f"penn_severity_{context}").select(2)
    at.text_input(key=f"penn_recall_{context}").input("last 24 hours")
    at.button[0].click().run()
    found = errors(at)
    assert found[0].startswith("Not saved: 1 problem")
    assert found[1:] == ["Severity is only scored when there are spasms."]
    assert world["record"].assessments.list(trial.id) == []
    assert at.selectbox(key=f"penn_severity_{context}").value == 2


def test_pain_out_of_range_gets_the_records_message(world):
    trial = world["trial"]
    at = choose(open_page(world["physio"]), trial.id)
    at.number_input(key=f"pain_nrs_{trial.id}_baseline_new").set_value(11)
    at.button[0].click().run()
    assert "Pain 11 is not possible: enter a value between 0 and 10." in errors(at)
    assert at.number_input(key=f"pain_nrs_{trial.id}_baseline_new").value == 11
    assert world["record"].assessments.list(trial.id) == []


def test_four_hour_form_shows_the_baseline_beside_each_field(world):
    record_baseline(world)
    trial = world["trial"]
    at = choose(open_page(world["physio"]), trial.id, "4h")
    grid = at.data_editor[0].value.set_index("muscle")
    assert grid.loc["hip_flexors", "Baseline left"] == "3"
    assert grid.loc["hip_flexors", "Baseline right"] == "1+"
    assert grid.loc["knee_flexors", "Baseline left"] == "—"  # never 0
    assert grid.loc["hip_flexors", "Left"] is None  # the 4-hour value is still to be scored
    texts = [t.value for t in at.text]
    for expected in (
        "Baseline: 3 — spasms more than once an hour",
        "Baseline: 2 — moderate",
        "Baseline: last 24 hours",
        "Baseline: 6",
        "Baseline: 8",
        "Baseline: 4 — against gravity and resistance",
        "Baseline: —",
    ):
        assert expected in texts
    goals = at.data_editor[1].value
    assert list(goals["Goal"]) == ["Stand to transfer"]
    assert list(goals["Baseline rating"]) == ["-1"]


def test_four_hour_scores_saved_against_the_baseline_goal(world):
    record_baseline(world)
    trial = world["trial"]
    at = choose(open_page(world["physio"]), trial.id, "4h")
    context = f"{trial.id}_4h_new"
    at.session_state[f"ashworth_{context}"] = edits({0: {"Left": "1", "Right": "0"}})
    at.session_state[f"goals_{context}"] = edits({0: {"Rating": "+1"}})
    at.button[0].click().run()
    assert errors(at) == []
    four = [a for a in world["record"].assessments.list(trial.id) if a.time_point == "4h"]
    assert [(g.goal, g.rating) for g in four[0].goals] == [("Stand to transfer", 1)]
    assert [s.label for s in four[0].ashworth] == ["1", "0"]


def test_correction_needs_a_reason_and_supersedes(world):
    record_baseline(world)
    trial = world["trial"]
    [first] = world["record"].assessments.list(trial.id)
    at = choose(open_page(world["physio"]), trial.id)
    context = f"{trial.id}_baseline_{first.id}"
    assert at.button[0].label == "Correct scores"
    assert at.number_input(key=f"pain_nrs_{context}").value == 6  # the recorded value, pre-filled
    at.number_input(key=f"pain_nrs_{context}").set_value(5)
    at.button[0].click().run()
    assert "Say why the scores are corrected." in errors(at)
    assert world["record"].assessments.list(trial.id)[0].id == first.id
    at.text_input(key=f"reason_{context}").input("pain misheard")
    at.button[0].click().run()
    assert errors(at) == []
    [now] = world["record"].assessments.list(trial.id)
    assert (now.supersedes_id, now.correction_reason, now.pain_nrs) == (
        first.id,
        "pain misheard",
        5,
    )
    assert now.ashworth == first.ashworth  # untouched fields carried over


def test_decided_trials_are_not_offered(world):
    record = world["record"]
    trial = world["trial"]
    doctor = world["doctor"]
    record.trials.set_status(doctor, trial.id, TrialStatus.BASELINE)
    record.trials.record_injection(
        doctor,
        trial.id,
        {
            "dose_mcg": 50,
            "given_at": record.store.now() - timedelta(hours=5),
            "route": InjectionRoute.LUMBAR_PUNCTURE,
            "given_by": "Dr Who",
        },
    )
    record.trials.set_status(doctor, trial.id, TrialStatus.ASSESSED)
    assert len(open_page(world["physio"]).selectbox(key="scores_trial").options) == 1
    proof = record.users.confirm_password(doctor, PASSWORD, "decision")
    record.decisions.record(
        doctor, trial.id, "responder_offer_pump", "clear response", reauthentication=proof
    )
    at = open_page(world["physio"])
    assert not at.selectbox and not at.data_editor
    assert "Only trials not yet decided or cancelled are listed" in at.info[0].value


def test_dates_in_the_ward_format_and_empty_cells_never_none(world):
    trial = world["trial"]
    record_baseline(world)
    at = choose(open_page(world["physio"]), trial.id, "4h")
    assert not at.exception
    context = f"{trial.id}_4h_new"
    assert at.date_input(key=f"day_{context}").proto.format == "DD/MM/YYYY"
    ashworth, goals = at.data_editor
    # Empty cells (not scored) are drawn as the missing mark, not as the word "None".
    assert ashworth.proto.placeholder == "—" and goals.proto.placeholder == "—"
    grid = ashworth.value
    assert grid["Baseline left"].iloc[0] == "3" and grid["Baseline left"].iloc[1] == "—"
    assert "None" not in grid.drop(columns=["Left", "Right"]).to_string()
    assert any(c.value.startswith("—: not scored") for c in at.caption)
    texts = [
        str(e.value)
        for kind in ("markdown", "caption", "info", "warning", "text")
        for e in getattr(at, kind)
    ]
    assert not [t for t in texts if "None" in t]


def test_four_hour_scores_off_the_peak_need_the_reason_asked_for_beside_the_field(world):
    """Scores typed as the 4-hour (peak) ones 35 minutes after the injection are refused with
    the reason asked for next to its box; with a reason they are kept, the reason with them."""
    record, trial = world["record"], world["trial"]
    record.trials.record_injection(
        world["doctor"],
        trial.id,
        {
            "dose_mcg": 50,
            "given_at": record.store.now() - timedelta(minutes=35),
            "route": InjectionRoute.LUMBAR_PUNCTURE,
            "given_by": "Dr Jones",
        },
    )
    at = choose(open_page(world["physio"]), trial.id, "4h")
    context = f"{trial.id}_4h_new"
    at.session_state[f"ashworth_{context}"] = edits({0: {"Left": "1", "Right": "0"}})
    at.button[0].click().run()
    assert any("outside the peak window" in e for e in errors(at))
    assert not [a for a in record.assessments.list(trial.id) if a.time_point == "4h"]
    box = at.text_input(key=f"timing_reason_{context}")
    assert "outside the peak window (3.5 to 6.5 hours" in box.label
    box.input("Patient going to theatre at 12:00; scored early by agreement with Dr Jones")
    at.button[0].click().run()
    assert errors(at) == []
    [four] = [a for a in record.assessments.list(trial.id) if a.time_point == "4h"]
    assert record.assessments.timing_reasons(trial.id)[four.id].startswith("Patient going")
