# ruff: noqa: F811  (pytest fixtures imported from tests/browser/seed.py)
"""Observation entry: NEWS2 as it is filled, device prefill, refusal keeping what was typed."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from streamlit.testing.v1 import AppTest

from observations.record import TrialRecord
from pages.shared import ACTOR_KEY
from tests.browser.seed import (  # noqa: F401  (fixtures)
    People,
    add_vitals,
    beat,
    data_dir,
    monitoring_trial,
    people,
    record,
)
from tests.judgements import judge_as_the_monitor
from vocabulary import Consciousness, QualityFlag

ROOT = Path(__file__).resolve().parents[2]


def page(actor: object) -> AppTest:
    at = AppTest.from_file(str(ROOT / "pages" / "observation_entry.py"), default_timeout=60)
    at.session_state[ACTOR_KEY] = actor
    return at


def k(trial: object, name: str) -> str:
    """The form's widget key: every field belongs to one trial."""
    return f"obs-{trial.id}-{name}"  # type: ignore[attr-defined]


def fill_complete(at: AppTest, trial: object) -> None:
    at.number_input(key=k(trial, "rr")).set_value(16)
    at.number_input(key=k(trial, "spo2")).set_value(97)
    at.radio(key=k(trial, "on_oxygen")).set_value("Air")
    at.number_input(key=k(trial, "temp")).set_value(36.8)
    at.number_input(key=k(trial, "systolic")).set_value(124)
    at.number_input(key=k(trial, "diastolic")).set_value(80)
    at.number_input(key=k(trial, "pulse_rate")).set_value(72)
    at.selectbox(key=k(trial, "consciousness")).set_value(Consciousness.ALERT)


def save(at: AppTest) -> AppTest:
    return next(b for b in at.button if b.label == "Save observations").click().run()


def test_news2_shown_as_filled_then_saved(record: TrialRecord, people: People):
    trial = monitoring_trial(record, people, minutes_ago=5)
    at = page(people.nurse).run()
    assert not at.exception
    assert any("NEWS2 incomplete" in i.value for i in at.info)
    at.number_input(key=k(trial, "rr")).set_value(7).run()
    assert any(":red[**3**]" in m.value for m in at.markdown)
    # What is still missing, in the form's words rather than the scorer's names.
    assert any(i.value.startswith("NEWS2 incomplete — missing: SpO2, air or oxygen, systolic BP")
               for i in at.info), [i.value for i in at.info]
    fill_complete(at, trial)
    at.number_input(key=k(trial, "rr")).set_value(16)
    at.run()
    assert any(s.value == "NEWS2 0 — low" for s in at.success)
    at.radio(key=k(trial, "check")).set_value("Done").run()
    at.checkbox(key=k(trial, "se-headache")).check()
    save(at)
    assert not at.exception
    assert any("saved" in s.value for s in at.success)
    sets = record.observations.list(trial.id)
    assert len(sets) == 1 and sets[0].rr == 16 and sets[0].side_effects == ["headache"]
    assert sets[0].device_prefilled is None
    # The form is empty again for the next set.
    assert at.number_input(key=k(trial, "rr")).value is None


def test_impossible_value_refused_and_kept(record: TrialRecord, people: People):
    trial = monitoring_trial(record, people, minutes_ago=5)
    at = page(people.nurse).run()
    fill_complete(at, trial)
    at.number_input(key=k(trial, "temp")).set_value(3.7)
    at.number_input(key=k(trial, "spo2")).set_value(150)
    save(at)
    assert not at.exception
    errors = [e.value for e in at.error]
    assert any("Temperature 3.7 °C is not possible" in e and "Did you mean 37.0?" in e
               for e in errors)
    assert any("SpO2 150 % is not possible" in e for e in errors)
    assert at.number_input(key=k(trial, "temp")).value == 3.7  # kept as typed
    assert at.number_input(key=k(trial, "rr")).value == 16
    assert record.observations.list(trial.id) == []


PREFILL = "Fill in the device values (median of the last minute: "


def test_prefill_is_the_median_of_the_last_minute_and_says_so(
    record: TrialRecord, people: People
):
    trial = monitoring_trial(record, people, minutes_ago=5)
    now = record.store.now()
    add_vitals(record, trial.id, now - timedelta(seconds=75), 70, 140)  # over a minute ago
    for seconds, spo2, pulse in ((50, 96, 80), (30, 94, 84), (10, 95, 82), (3, 99, 130)):
        add_vitals(record, trial.id, now - timedelta(seconds=seconds), spo2, pulse)
    # A motion artefact is never part of it, however recent.
    add_vitals(record, trial.id, now - timedelta(seconds=1), 60, 40,
               flags=frozenset({QualityFlag.ARTIFACT}))
    at = page(people.nurse).run()
    assert not at.exception
    [button] = [b for b in at.button if b.label.startswith(PREFILL)]
    assert button.label == PREFILL + "SpO2 96, Pulse 83)"
    assert any("the median of the device's valid readings over the last minute" in c.value
               and "SpO2: 4" in c.value for c in at.caption), [c.value for c in at.caption]
    button.click().run()
    # 94, 95, 96, 99 -> 95.5, charted half up as 96; 80, 82, 84, 130 -> 83.
    assert at.number_input(key=k(trial, "spo2")).value == 96
    assert at.number_input(key=k(trial, "pulse_rate")).value == 83
    assert at.number_input(key=k(trial, "spo2")).label.endswith(
        "· from device (median of the last minute)"
    )


def test_prefill_from_device_is_marked(record: TrialRecord, people: People):
    trial = monitoring_trial(record, people, minutes_ago=5)
    add_vitals(record, trial.id, record.store.now() - timedelta(seconds=3), 95, 88)
    at = page(people.nurse).run()
    button = next(b for b in at.button if b.label.startswith(PREFILL))
    button.click().run()
    assert at.number_input(key=k(trial, "spo2")).value == 95
    assert at.number_input(key=k(trial, "spo2")).label.endswith(
        "· from device (median of the last minute)"
    )
    at.number_input(key=k(trial, "pulse_rate")).set_value(90)  # the nurse counted it herself
    at.number_input(key=k(trial, "rr")).set_value(18)
    save(at)
    assert not at.exception
    saved = record.observations.list(trial.id)[0]
    assert saved.device_prefilled == ["spo2"]


def test_what_was_typed_stays_with_its_patient(record: TrialRecord, people: People):
    first = monitoring_trial(record, people, minutes_ago=5)
    second = monitoring_trial(record, people, nhs="9000000009", mrn="H88", family="Other",
                              bed="5A", device="sim:steady?seed=2")
    at = page(people.nurse).run()
    shown = at.selectbox[0].value
    typed_for = first if shown == first.id else second
    other = second if typed_for is first else first
    at.number_input(key=k(typed_for, "rr")).set_value(22).run()
    at.selectbox[0].set_value(other.id).run()  # the nurse turns to the other patient
    assert not at.exception
    assert at.number_input(key=k(other, "rr")).value is None  # nothing carried over
    assert other.patient.family_name.upper() in at.subheader[0].value
    at.selectbox[0].set_value(typed_for.id).run()  # and back: the chooser follows each change
    assert typed_for.patient.family_name.upper() in at.subheader[0].value


def test_prefill_refuses_values_gone_stale_since_the_page_was_drawn(
    record: TrialRecord, people: People
):
    trial = monitoring_trial(record, people, minutes_ago=5)
    drawn_from = record.store.now() - timedelta(seconds=27)
    add_vitals(record, trial.id, drawn_from, 95, 88)
    at = page(people.nurse).run()
    button = next(b for b in at.button if b.label.startswith(PREFILL))
    # By the click the oximeter's last values have passed the 30 s stale limit.
    time.sleep(max(0.0, 31 - (datetime.now(UTC) - drawn_from).total_seconds()))
    button.click().run()
    assert at.number_input(key=k(trial, "spo2")).value is None
    assert any("no longer current" in e.value for e in at.error)


def test_due_and_missed_sets_are_the_monitor_s(record: TrialRecord, people: People):
    trial = monitoring_trial(record, people, minutes_ago=50)
    at = page(people.nurse).run()
    assert not at.exception
    # No monitor has judged this trial: the page says so rather than working it out itself.
    assert any("not yet worked out by the monitor" in m.value for m in at.markdown)
    judge_as_the_monitor(record, trial.id)
    at = page(people.nurse).run()
    assert not at.exception
    assert any("Observations OVERDUE since" in m.value for m in at.markdown)
    captions = [c.value for c in at.caption]
    # Injected 50 min ago, no set since: +15, +30 and +45 min all passed unmet.
    assert any(c.startswith("Missed observation sets (3)") for c in captions), captions


def test_physiotherapist_cannot_enter(record: TrialRecord, people: People):
    monitoring_trial(record, people)
    at = page(people.physio).run()
    assert [e.value for e in at.error] == ["Your role does not give access to this page."]
