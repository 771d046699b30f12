"""The decision page: outcome, rationale, signature with the password, follow-up trial."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from screens.markdown_text import md
from tests.screens.apps import open_at, turned_away, ward_with_patient
from vocabulary import (
    AlarmEventType,
    AlarmKind,
    DecisionOutcome,
    InjectionRoute,
    Priority,
    TrialStatus,
)

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "ward seven tea"


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    people = ward_with_patient(tmp_path, monkeypatch)
    yield people
    people["record"].close()


def injected(world: dict[str, Any], dose: int = 50, status: TrialStatus = TrialStatus.ASSESSED):
    record, doctor = world["record"], world["doctor"]
    trial = record.trials.plan(doctor, world["patient"].id, dose)
    record.trials.set_status(doctor, trial.id, TrialStatus.BASELINE)
    record.trials.record_injection(
        doctor,
        trial.id,
        {
            "dose_mcg": dose,
            "given_at": record.store.now() - timedelta(hours=5),
            "route": InjectionRoute.LUMBAR_PUNCTURE,
            "given_by": "Dr Doctor",
        },
    )
    if status is TrialStatus.ASSESSED:
        record.trials.set_status(doctor, trial.id, TrialStatus.ASSESSED)
    return record.trials.get(trial.id)


def scored(world: dict[str, Any], trial: Any, before: str, after: str) -> None:
    """Baseline before the injection and 4-hour scores at the peak, hip flexors both sides."""
    record, given = world["record"], trial.injection.given_at
    for point, at, label in (
        ("baseline", given - timedelta(minutes=30), before),
        ("4h", given + timedelta(hours=4), after),
    ):
        record.assessments.record(
            world["cns"],
            trial.id,
            {
                "time_point": point,
                "assessed_at": at,
                "ashworth": [
                    {"muscle_group": "hip_flexors", "side": side, "label": label}
                    for side in ("left", "right")
                ],
            },
        )


def overdose_signs(world: dict[str, Any], trial: Any) -> None:
    """A critical desaturation (high priority) and slurred speech with POSS 3."""
    from observations.alarms import AlarmEventIn

    record, given = world["record"], trial.injection.given_at
    record.alarms.record_events(
        record.users.service_actor(),
        [
            AlarmEventIn(
                trial.id,
                "spo2_low",
                AlarmEventType.RAISED,
                given + timedelta(hours=2),
                Priority.HIGH,
                AlarmKind.PHYSIOLOGICAL,
                "Critical desaturation: SpO2 85 % or below. Call for help.",
                {
                    "parameter": "spo2",
                    "level": "critical_desaturation",
                    "direction": "low",
                    "value": 84,
                },
                "test",
            )
        ],
    )
    record.observations.record(
        world["doctor"],
        trial.id,
        {
            "measured_at": given + timedelta(hours=2, minutes=5),
            "poss": "3",
            "side_effects": ["slurred_speech"],
        },
    )


def open_on(actor: Any, trial_id: int | None = None) -> AppTest:
    at = open_at("decision", actor)
    at.run()
    if trial_id is not None:
        at.selectbox(key="decision_trial").select(trial_id).run()
    return at


def fill(at: AppTest, trial_id: int, outcome: DecisionOutcome, password: str) -> AppTest:
    at.radio(key=f"outcome_{trial_id}").set_value(outcome).run()
    at.text_area(key=f"rationale_{trial_id}").input("Ashworth unchanged; goal not met")
    at.text_input(key=f"sign_password_{trial_id}").input(password)
    return at.button(key=f"sign_{trial_id}").click().run()


@pytest.mark.parametrize("role", ["nurse", "physio"])
def test_roles_without_a_say_cannot_open_the_decision_page(world, role):
    injected(world)
    at = open_on(world[role])
    assert turned_away(at)
    assert not at.selectbox and not at.radio


def test_wrong_password_signs_nothing(world):
    trial = injected(world)
    at = fill(
        open_on(world["doctor"], trial.id), trial.id, DecisionOutcome.RESPONDER, "not my password"
    )
    assert [e.value for e in at.error] == ["The password is not right: nothing was signed."]
    record = world["record"]
    assert record.decisions.for_trial(trial.id) is None
    assert record.trials.get(trial.id).status == TrialStatus.ASSESSED.value
    assert len(record.trials.list(patient_id=world["patient"].id)) == 1
    # What was chosen is kept for the next attempt.
    assert at.radio(key=f"outcome_{trial.id}").value is DecisionOutcome.RESPONDER


def test_non_responder_plans_the_follow_up_at_plus_25_not_before_24_h(world):
    trial = injected(world, dose=50)
    scored(world, trial, "2", "2")  # no change: criterion not met, and a safe day
    at = open_on(world["doctor"], trial.id)
    hint = at.info[0].value
    assert hint.startswith(
        md(
            "Suggestion (hint, not a decision): Criterion not met and no sign "
            "of overdose recorded. Repeat trial at 75 mcg"
        )
    )
    assert md("Source: NHNN leaflet") in hint
    at = fill(at, trial.id, DecisionOutcome.RETRIAL_HIGHER, PASSWORD)
    assert not at.exception and not at.error
    record = world["record"]
    decision = record.decisions.for_trial(trial.id)
    assert decision is not None and decision.outcome == DecisionOutcome.RETRIAL_HIGHER.value
    assert decision.signed_by == world["doctor"].user_id
    assert decision.next_dose_mcg == 75
    given = trial.injection.given_at
    # The earliest time the rules allow, to the minute: 24 h after this injection.
    earliest = given + timedelta(hours=24)
    assert earliest <= decision.next_not_before < earliest + timedelta(minutes=1)
    [follow] = [
        t
        for t in record.trials.list(patient_id=world["patient"].id)
        if t.follows_trial_id == trial.id
    ]
    assert (follow.planned_dose_mcg, follow.status) == (75, TrialStatus.PLANNED.value)
    assert record.trials.get(trial.id).status == TrialStatus.DECIDED.value
    assert at.success[0].value == (
        "Decision signed: Non-responder — re-trial at a higher dose. "
        f"Follow-up trial {follow.id} planned at 75 mcg."
    )


def test_a_next_trial_sooner_than_24_h_is_refused_by_the_record(world):
    trial = injected(world)
    at = open_on(world["doctor"], trial.id)
    at.radio(key=f"outcome_{trial.id}").set_value(DecisionOutcome.RETRIAL_HIGHER).run()
    keys = f"{trial.id}_{DecisionOutcome.RETRIAL_HIGHER.value}"
    early = at.date_input(key=f"not_before_day_{keys}").value - timedelta(days=1)
    at.date_input(key=f"not_before_day_{keys}").set_value(early)
    at = fill(at, trial.id, DecisionOutcome.RETRIAL_HIGHER, PASSWORD)
    assert [e.value for e in at.error] == [
        "The next trial cannot be sooner than 24 h after this injection."
    ]
    assert world["record"].decisions.for_trial(trial.id) is None
    assert len(world["record"].trials.list(patient_id=world["patient"].id)) == 1


def test_no_higher_dose_after_100_mcg(world):
    trial = injected(world, dose=100)
    at = open_on(world["doctor"], trial.id)
    at.radio(key=f"outcome_{trial.id}").set_value(DecisionOutcome.RETRIAL_HIGHER).run()
    assert any("maximum trial dose" in e.value for e in at.error)
    assert at.button(key=f"sign_{trial.id}").disabled


def test_responder_plans_no_follow_up(world):
    trial = injected(world)
    at = fill(open_on(world["doctor"], trial.id), trial.id, DecisionOutcome.RESPONDER, PASSWORD)
    assert not at.error
    assert not at.number_input  # no next dose asked for a responder
    decision = world["record"].decisions.for_trial(trial.id)
    assert decision.next_dose_mcg is None and decision.next_not_before is None
    assert len(world["record"].trials.list(patient_id=world["patient"].id)) == 1
    # The decided trial now shows who signed it.
    assert any("Signed by Dr Doctor (doc)" in t.value for t in at.text)


def test_trial_in_monitoring_says_the_window_must_be_closed_first(world):
    trial = injected(world, status=TrialStatus.MONITORING)
    at = open_on(world["doctor"], trial.id)
    assert "the monitoring window must be closed first" in at.warning[0].value
    assert not at.radio  # no signing form yet
    at.button(key=f"mark_assessed_{trial.id}").click().run()
    assert world["record"].trials.get(trial.id).status == TrialStatus.ASSESSED.value
    assert at.radio(key=f"outcome_{trial.id}")


def test_nurse_specialist_sees_the_suggestion_but_cannot_sign(world):
    trial = injected(world)
    at = open_on(world["cns"], trial.id)
    assert "Only a doctor signs the decision." in [i.value for i in at.info]
    assert not at.radio and not at.text_input


def test_window_not_closed_from_here_while_an_alarm_is_unacknowledged(world):
    from observations.alarms import AlarmEventIn
    from vocabulary import AlarmEventType, AlarmKind, Priority

    trial = injected(world, status=TrialStatus.MONITORING)
    record = world["record"]
    record.alarms.record_events(
        record.users.service_actor(),
        [
            AlarmEventIn(
                trial.id,
                "sedation",
                AlarmEventType.RAISED,
                record.store.now(),
                Priority.HIGH,
                AlarmKind.PHYSIOLOGICAL,
                "POSS 3",
                {"poss": "3"},
                "test",
            )
        ],
    )
    at = open_on(world["doctor"], trial.id)
    assert "1 alarm(s) not acknowledged" in at.error[0].value
    assert at.button(key=f"mark_assessed_{trial.id}").disabled


def test_inconclusive_plans_the_same_dose_in_the_same_signature(world):
    trial = injected(world, dose=25)
    at = open_on(world["doctor"], trial.id)
    at.radio(key=f"outcome_{trial.id}").set_value(DecisionOutcome.INCONCLUSIVE).run()
    keys = f"{trial.id}_{DecisionOutcome.INCONCLUSIVE.value}"
    assert at.number_input(key=f"next_dose_{keys}").value == 25
    at = fill(at, trial.id, DecisionOutcome.INCONCLUSIVE, PASSWORD)
    assert not at.error
    record = world["record"]
    [follow] = [
        t
        for t in record.trials.list(patient_id=world["patient"].id)
        if t.follows_trial_id == trial.id
    ]
    assert follow.planned_dose_mcg == 25
    assert record.decisions.for_trial(trial.id).next_dose_mcg == 25


def test_a_refused_follow_up_signs_nothing(world):
    trial = injected(world, dose=50)
    at = open_on(world["doctor"], trial.id)
    at.radio(key=f"outcome_{trial.id}").set_value(DecisionOutcome.RETRIAL_HIGHER).run()
    keys = f"{trial.id}_{DecisionOutcome.RETRIAL_HIGHER.value}"
    at.number_input(key=f"next_dose_{keys}").set_value(50)  # not a higher dose
    at = fill(at, trial.id, DecisionOutcome.RETRIAL_HIGHER, PASSWORD)
    assert [e.value for e in at.error] == [
        "A re-trial at a higher dose must be above the 50 mcg given: the suggestion is 75 mcg."
    ]
    record = world["record"]
    assert record.decisions.for_trial(trial.id) is None
    assert record.trials.get(trial.id).status == TrialStatus.ASSESSED.value
    assert len(record.trials.list(patient_id=world["patient"].id)) == 1


def test_unticking_plan_now_signs_the_decision_without_a_follow_up(world):
    trial = injected(world)
    at = open_on(world["doctor"], trial.id)
    at.radio(key=f"outcome_{trial.id}").set_value(DecisionOutcome.RETRIAL_HIGHER).run()
    at.checkbox(key=f"plan_now_{trial.id}_{DecisionOutcome.RETRIAL_HIGHER.value}").uncheck()
    at = fill(at, trial.id, DecisionOutcome.RETRIAL_HIGHER, PASSWORD)
    assert not at.error
    record = world["record"]
    assert record.decisions.for_trial(trial.id).next_dose_mcg == 75
    assert len(record.trials.list(patient_id=world["patient"].id)) == 1
    assert at.success[0].value == "Decision signed: Non-responder — re-trial at a higher dose."


def test_no_scores_no_step_suggested(world):
    trial = injected(world, dose=50)
    at = open_on(world["doctor"], trial.id)
    [step] = [i.value for i in at.info if i.value.startswith("Suggestion")]
    assert md("cannot be evaluated yet: no next step is suggested") in step
    assert "Repeat trial" not in step


def test_overdose_day_never_suggests_a_higher_dose_and_leads_with_the_signs(world):
    trial = injected(world, dose=50, status=TrialStatus.MONITORING)
    scored(world, trial, "2", "2")  # not met: before, this suggested "Repeat trial at 75 mcg"
    overdose_signs(world, trial)
    record = world["record"]
    [alarm] = record.alarms.active(trial.id)
    record.alarms.acknowledge(world["doctor"], alarm.id, "Airway opened, called for help")
    record.trials.set_status(
        world["doctor"],
        trial.id,
        TrialStatus.ASSESSED,
        reason="Recovered on oxygen; watched on the high-care bay",
    )
    at = open_on(world["doctor"], trial.id)
    assert not at.exception
    [step] = [e.value for e in at.error if e.value.startswith("Suggestion")]
    assert md("Signs of overdose were seen at 50 mcg: Critical desaturation (once)") in step
    assert md("red-flag side effect: Slurred speech") in step and md("sedation POSS 3") in step
    assert md("No higher dose is suggested. The team decides.") in step
    assert "75" not in step
    [conditions] = [d.value for d in at.dataframe if "Condition" in d.value.columns]
    assert conditions.iloc[0]["Condition"] == "Critical desaturation: SpO2 85 % or below"
    assert conditions.iloc[0]["Worst"].startswith("SpO2 84 %")
    # Choosing a re-trial at a higher dose anyway: nothing is pre-filled, it is said why.
    at.radio(key=f"outcome_{trial.id}").set_value(DecisionOutcome.RETRIAL_HIGHER).run()
    keys = f"{trial.id}_{DecisionOutcome.RETRIAL_HIGHER.value}"
    assert at.number_input(key=f"next_dose_{keys}").value is None
    assert any("no higher dose is suggested" in w.value for w in at.warning)
