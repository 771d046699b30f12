# ruff: noqa: F811  (pytest fixtures imported from tests/browser/seed.py)
"""Trial set-up: find/register, plan with scale 2 reason, devices, injection, window."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from observations.alarms import AlarmEventIn
from observations.errors import Refused
from observations.record import TrialRecord
from screens.markdown_text import md
from tests.browser.seed import (  # noqa: F401  (fixtures)
    People,
    data_dir,
    monitoring_trial,
    people,
    raise_alarm,
    record,
)
from tests.screens.apps import open_at
from vocabulary import AlarmEventType, AlarmKind, Priority, TrialStatus

ROOT = Path(__file__).resolve().parents[2]


def page(actor: object) -> AppTest:
    at = open_at("trial_setup", actor)
    return at


def button(at: AppTest, label: str):  # type: ignore[no-untyped-def]
    return next(b for b in at.button if b.label == label)


def test_register_plan_scale_two_needs_reason(record: TrialRecord, people: People):
    at = page(people.cns).run()
    assert not at.exception
    form = [t for t in at.text_input]
    labels = {t.label: t for t in form}
    labels["NHS number"].input("943 476 5919")
    labels["Hospital number (MRN)"].input("h12")
    labels["Family name"].input("<b>Evans</b>")
    labels["Given name"].input("Ann")
    at.date_input[0].set_value("1970-02-03")
    button(at, "Register patient").click().run()
    assert not at.exception
    assert any(md("Registered <B>EVANS</B>, Ann · NHS 943 476 5919") in s.value for s in at.success)
    radio = next(r for r in at.radio if r.label == "NEWS2 SpO2 scale")
    radio.set_value(2)
    button(at, "Plan trial").click().run()
    assert any("SpO2 scale 2 is only for confirmed hypercapnic" in e.value for e in at.error)
    next(t for t in at.text_area if t.label.startswith("Reason for scale 2")).input(
        "COPD, target 88-92 % per Dr Who"
    )
    button(at, "Plan trial").click().run()
    assert not at.exception
    trial = record.trials.list()[0]
    assert trial.spo2_scale == 2 and trial.spo2_scale_reason.startswith("COPD")


def test_find_patient_shows_two_identifiers(record: TrialRecord, people: People):
    monitoring_trial(record, people)
    at = page(people.nurse).run()
    at.text_input[0].input("jon").run()
    assert any("JONES, Sam · NHS 943 476 5919 · MRN H77" in t.value for t in at.text)


def test_doctor_records_injection_after_noon_with_warning(record: TrialRecord, people: People):
    patient = record.patients.register(
        people.cns,
        {
            "nhs_number": "9434765919",
            "hospital_number": "H1",
            "family_name": "Late",
            "given_name": "Lu",
            "date_of_birth": "1980-01-01",
        },
    )
    record.trials.plan(people.cns, patient.id, 50, bed="2")
    at = page(people.doctor).run()
    button(at, "Start baseline observations").click().run()
    assert not at.exception
    assert record.trials.list()[0].status == TrialStatus.BASELINE.value
    local = (record.store.now() - timedelta(minutes=5)).astimezone(record.settings.ward_timezone)
    at.time_input[0].set_value(local.time().replace(second=0, microsecond=0))
    at.date_input[-1].set_value(local.date())
    button(at, "Record injection").click().run()
    assert not at.exception
    assert record.trials.list()[0].status == TrialStatus.MONITORING.value
    if local.hour >= 12:
        assert any("after 12:00" in w.value for w in at.warning)


def test_assign_simulator_and_close_window_refused_with_alarm(record: TrialRecord, people: People):
    trial = monitoring_trial(record, people, device=None)
    raise_alarm(record, trial.id, record.store.now())
    at = page(people.cns).run()
    button(at, "Assign device").click().run()
    assert not at.exception
    assert record.trials.active_assignments(trial.id)[0].source.startswith("sim:steady")
    # The condition is present and not yet acknowledged: the page says why, the record refuses.
    assert any(md("Critical desaturation: SpO2 84 %") in w.value for w in at.warning)
    assert button(at, "Close the monitoring window").disabled
    with pytest.raises(Refused, match="not acknowledged"):
        record.trials.set_status(people.cns, trial.id, TrialStatus.ASSESSED)
    record.alarms.acknowledge(people.nurse, record.alarms.active()[0].id, "Seen, O2 on")
    at.run()
    # Acknowledged but still present: a nurse specialist reads why and cannot close it.
    [why] = [w.value for w in at.warning if "stays open" in w.value]
    assert "- " + md("Critical desaturation: SpO2 84 %") in why and "a doctor may close it" in why
    assert button(at, "Close the monitoring window").disabled
    assert not [t for t in at.text_area if t.label.startswith("Why close")]
    # Once the condition has ended (the engine resolves the alarm), the window closes.
    record.alarms.record_events(
        record.users.service_actor(),
        [
            AlarmEventIn(
                trial.id,
                "spo2_low",
                AlarmEventType.RESOLVED,
                record.store.now(),
                Priority.HIGH,
                AlarmKind.PHYSIOLOGICAL,
                "Critical desaturation: SpO2 84 %",
                {},
                "test",
            )
        ],
    )
    at.run()
    assert not [w for w in at.warning if "stays open" in w.value]
    button(at, "Close the monitoring window").click().run()
    assert not at.exception
    assert record.trials.get(trial.id).status == TrialStatus.ASSESSED.value


def test_a_doctor_closes_the_window_with_a_condition_present_by_saying_why(
    record: TrialRecord, people: People
):
    trial = monitoring_trial(record, people, device=None)
    raise_alarm(record, trial.id, record.store.now())
    record.alarms.acknowledge(people.nurse, record.alarms.active()[0].id, "Seen, O2 on")
    at = page(people.doctor).run()
    assert any(
        w.value.startswith("Still present (closing the window now needs your reason)")
        and "\n- " + md("Critical desaturation: SpO2 84 %") in w.value
        for w in at.warning
    )
    button(at, "Close the monitoring window").click().run()
    assert any("Record why the window closes" in e.value for e in at.error)
    assert record.trials.get(trial.id).status == TrialStatus.MONITORING.value
    reason = next(t for t in at.text_area if t.label.startswith("Why close the window"))
    reason.input("Her usual SpO2 is 84 % on air (COPD); handed over to the ward team")
    button(at, "Close the monitoring window").click().run()
    assert not at.exception
    assert any("Monitoring window closed." in s.value for s in at.success)
    assert record.trials.get(trial.id).status == TrialStatus.ASSESSED.value
    [closed] = record.audit.entries(action_prefix="trial.status", limit=1)
    assert closed.username == people.doctor.username
    assert closed.details["reason"].startswith("Her usual SpO2 is 84 %")


def test_extend_window_and_demo(record: TrialRecord, people: People):
    trial = monitoring_trial(record, people)
    at = page(people.cns).run()
    next(t for t in at.text_input if t.label == "Why").input("Peak effect later")
    button(at, "Extend window").click().run()
    assert not at.exception
    assert record.trials.get(trial.id).extension_minutes == 60
    assert not [b for b in at.button if b.label == "Start a demo trial"]  # not a doctor
    at = page(people.doctor).run()
    button(at, "Start a demo trial").click().run()
    assert not at.exception
    assert any("Demo trial started" in s.value for s in at.success)
    assert len(record.trials.list(statuses={TrialStatus.MONITORING})) == 2
    injected = record.audit.entries(action_prefix="injection")[0]
    assert injected.username == people.doctor.username  # the person who asked, by name


def test_a_nurse_is_not_offered_a_demo_trial(record: TrialRecord, people: People):
    at = page(people.nurse).run()
    assert not at.exception
    assert not [b for b in at.button if b.label == "Start a demo trial"]
    assert any("A doctor starts demo trials" in c.value for c in at.caption)
