# ruff: noqa: F811  (pytest fixtures imported from tests/browser/seed.py)
"""Alarms on every page: priority order, evidence, acknowledgement with a required note."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from streamlit.testing.v1 import AppTest

from observations.alarms import check_reminder
from observations.record import TrialRecord
from observations.services import DeviceStateView
from pages.alarms_panel import (
    REMINDED_KEY,
    alarm_tone,
    every_words,
    evidence_text,
    reminder_choices,
    reminder_defaults,
    reminder_tone,
)
from pages.display import DisplaySettingsError, load_display_settings, parse_display_settings
from pages.nurse_view import device_state_text
from pages.shared import ACTOR_KEY
from tests.browser.seed import (  # noqa: F401  (fixtures)
    People,
    beat,
    data_dir,
    monitoring_trial,
    people,
    raise_alarm,
    record,
)
from vocabulary import Priority

ROOT = Path(__file__).resolve().parents[2]


def page(actor: object, name: str) -> AppTest:
    at = AppTest.from_file(str(ROOT / "pages" / name), default_timeout=60)
    at.session_state[ACTOR_KEY] = actor
    return at


@pytest.mark.parametrize("name", ["ward.py", "trial_monitor.py", "observation_entry.py",
                                  "trial_setup.py"])
def test_every_page_shows_alarms_by_priority(record: TrialRecord, people: People, name: str):
    trial = monitoring_trial(record, people)
    now = record.store.now()
    raise_alarm(record, trial.id, now - timedelta(minutes=3), rule_id="pulse_low",
                message="Bradycardia: pulse 45", priority=Priority.MEDIUM)
    raise_alarm(record, trial.id, now - timedelta(seconds=20))
    beat(record)
    at = page(people.nurse, name).run()
    assert not at.exception
    alarms = [e.value for e in [*at.error, *at.warning] if "raised" in e.value]
    assert "HIGH" in alarms[0] and "Critical desaturation" in alarms[0]
    assert "MEDIUM" in alarms[1] and "Bradycardia" in alarms[1]
    assert "NOT ACKNOWLEDGED" in alarms[0]
    assert "Bed 4B · JONES, Sam · NHS 943 476 5919" in alarms[0]
    assert any("Evidence: value: 84 · threshold: 85" in c.value for c in at.caption)
    assert at.get("audio"), "high-priority tone"
    # The ward and the trial monitor fold evidence and forms under the alarm boxes, so their
    # own content stays on the screen; elsewhere the first high alarm's form is open.
    compact = name in ("ward.py", "trial_monitor.py")
    forms = [e for e in at.expander if e.label.startswith("Acknowledge: ")]
    assert [f.proto.expanded for f in forms] == ([False, False] if compact else [True, False])


def test_acknowledge_needs_a_note_and_keeps_the_alarm(record: TrialRecord, people: People):
    trial = monitoring_trial(record, people)
    raise_alarm(record, trial.id, record.store.now())
    beat(record)
    at = page(people.nurse, "ward.py").run()
    at.button(key="FormSubmitter:acknowledge-1-Acknowledge alarm").click().run()
    assert not at.exception
    assert "Say what was done and who was told before acknowledging." in [
        e.value for e in at.error
    ]
    assert not record.alarms.active()[0].acknowledged
    at.text_area(key="ack-note-1").input("Sat up, O2 2 L, told Dr Who <b>bold</b>")
    at.button(key="FormSubmitter:acknowledge-1-Acknowledge alarm").click().run()
    assert not at.exception
    alarm = record.alarms.active()[0]
    assert alarm.acknowledged  # latched: still listed until it resolves
    shown = [e.value for e in at.error if "raised" in e.value]
    assert "acknowledged" in shown[0] and "NOT ACKNOWLEDGED" not in shown[0]
    assert not at.get("audio"), "tone silenced once acknowledged"
    assert not at.text_area


def test_acknowledge_offers_the_reminder_interval_in_words(record: TrialRecord, people: People):
    trial = monitoring_trial(record, people)
    raise_alarm(record, trial.id, record.store.now())
    beat(record)
    at = page(people.nurse, "ward.py").run()
    remind = at.selectbox(key="ack-remind-1")
    assert remind.label == "Remind me while it is still present"
    assert remind.value == reminder_defaults()[Priority.HIGH]  # preselected for a high alarm
    assert "every 5 minutes" in remind.options and "every hour" in remind.options
    at.text_area(key="ack-note-1").input("Sat up, O2 2 L, told Dr Who")
    remind.set_value(600.0)
    at.button(key="FormSubmitter:acknowledge-1-Acknowledge alarm").click().run()
    assert not at.exception
    [alarm] = record.alarms.active()
    assert alarm.acknowledged and alarm.remind_after_s == 600
    shown = next(e.value for e in at.error if "raised" in e.value)
    assert "reminder every 10 minutes while present" in shown


def test_reminder_choices_are_what_the_record_accepts():
    defaults = reminder_defaults()
    for priority in Priority:
        choices, default = reminder_choices(priority)
        assert default == defaults.get(priority) and default in choices
        for seconds in choices:
            assert check_reminder(seconds) == seconds  # None: the default, or no reminder
    assert reminder_choices(Priority.LOW) == ([None, *reminder_choices(Priority.HIGH)[0]], None)
    assert [every_words(s) for s in (60, 300, 3600, 7200)] == [
        "every minute", "every 5 minutes", "every hour", "every 2 hours"]


def acknowledged_ago(
    record: TrialRecord,
    people: People,
    trial_id: int,
    minutes: float,
    remind_after_s: float | None = None,
    **alarm: Any,
) -> None:
    """An alarm raised and acknowledged `minutes` ago (the record writes its own time)."""
    real = record.store.clock
    then = record.store.now() - timedelta(minutes=minutes)
    record.store.clock = lambda: then
    try:
        raise_alarm(record, trial_id, then - timedelta(seconds=30), **alarm)
        alarm_id = record.alarms.active(trial_id)[0].id
        record.alarms.acknowledge(people.nurse, alarm_id, "O2 on, doctor told", remind_after_s)
    finally:
        record.store.clock = real


def audio(at: AppTest) -> list[tuple[bool, bool]]:
    """(autoplay, loop) of each sound on the page."""
    return [(a.proto.autoplay, a.proto.loop) for a in at.get("audio")]


def test_soft_reminder_when_an_acknowledged_alarm_is_still_present(
    record: TrialRecord, people: People
):
    trial = monitoring_trial(record, people)
    acknowledged_ago(record, people, trial.id, minutes=6)  # high: every 5 minutes by default
    beat(record)
    at = page(people.nurse, "trial_monitor.py").run()
    assert not at.exception
    [notice] = [i.value for i in at.info if "Reminder" in i.value]
    assert "acknowledged, still present · Critical desaturation: SpO2 84 %" in notice
    assert "Bed 4B · JONES, Sam · NHS 943 476 5919" in notice
    assert audio(at) == [(True, False)], "the soft tone, once, not the looping alarm tone"
    # The notice stays a while so it can be read; the tone is the same element, played once.
    at.run()
    assert [i for i in at.info if "Reminder" in i.value] and audio(at) == [(True, False)]
    # Once shown long enough (the next reminder an interval away), notice and tone go.
    reminded = at.session_state[REMINDED_KEY]
    shown = load_display_settings().reminder_shown_seconds
    reminded[trial.id] -= timedelta(seconds=shown + 1)
    at.run()
    assert not [i for i in at.info if "Reminder" in i.value]
    assert not at.get("audio")


def test_no_reminder_before_the_chosen_interval(record: TrialRecord, people: People):
    trial = monitoring_trial(record, people)
    acknowledged_ago(record, people, trial.id, minutes=6, remind_after_s=600.0)
    beat(record)
    at = page(people.nurse, "ward.py").run()
    assert not at.exception
    assert not [i for i in at.info if "Reminder" in i.value]
    assert not at.get("audio")


def test_the_alarm_tone_covers_a_reminder_due_meanwhile(record: TrialRecord, people: People):
    trial = monitoring_trial(record, people)
    acknowledged_ago(record, people, trial.id, minutes=20, rule_id="pulse_low",
                     message="Bradycardia: pulse 45", priority=Priority.MEDIUM)
    raise_alarm(record, trial.id, record.store.now())  # a new high alarm, not acknowledged
    beat(record)
    at = page(people.nurse, "ward.py").run()
    assert not at.exception
    assert any("still present · Bradycardia: pulse 45" in i.value for i in at.info)
    assert audio(at) == [(True, True)], "only the alarm tone: no soft tone over it"


def test_physiotherapist_sees_but_cannot_acknowledge(record: TrialRecord, people: People):
    trial = monitoring_trial(record, people)
    raise_alarm(record, trial.id, record.store.now())
    at = page(people.physio, "ward.py").run()
    assert not at.exception
    assert "Your role cannot acknowledge alarms: call the nurse in charge." in [
        c.value for c in at.caption
    ]
    assert not at.text_area
    assert [e.label.split(":")[0] for e in at.expander] == ["Evidence"]  # evidence, no form


def test_stale_heartbeat_is_loud(record: TrialRecord, people: People):
    record.services.beat("old", "embedded", "ward-pc", 1)
    from observations.schema import ServiceHeartbeat

    with record.store.writing() as session:
        row = session.get(ServiceHeartbeat, "old")
        row.last_beat_at = record.store.now() - timedelta(minutes=2)
    at = page(people.nurse, "ward.py").run()
    assert any("MONITOR NOT RUNNING: last heard from 2 min" in e.value for e in at.error)
    assert not at.get("audio")  # no trial in monitoring: nobody left unwatched, no tone


def test_monitor_not_running_is_a_high_alarm_on_every_trial(record: TrialRecord, people: People):
    first = monitoring_trial(record, people)
    at = page(people.nurse, "ward.py").run()  # no heartbeat at all
    [banner] = [e.value for e in at.error if "MONITOR NOT RUNNING" in e.value]
    assert "HIGH (technical)" in banner and f"Bed {first.bed}" in banner
    assert first.patient.identifiers in banner  # two identifiers, as everywhere
    assert at.get("audio")  # the high-priority tone, as for any high alarm
    assert not at.success  # never "No active alarms" in green while nothing is watching


def test_evidence_and_tone_helpers():
    assert evidence_text(None) == "no evidence recorded"
    assert evidence_text({"limbs": {"left": 3}, "band": "high"}) == "limbs: left 3 · band: high"
    assert alarm_tone()[:4] == b"RIFF" and reminder_tone()[:4] == b"RIFF"


def test_evidence_reads_in_ward_time_and_seconds():
    london = ZoneInfo("Europe/London")
    summer = evidence_text({"band": {"min": 86, "max": 91}, "delay_s": 15,
                            "since": "2026-07-01T09:53:50.110367+00:00"}, london)
    assert summer == "band: min 86, max 91 · delay: 15 s · since: 10:53:50 BST"
    lost = evidence_text({"parameters": {
        "spo2": {"last_reading": "2026-11-21T07:01:28+00:00", "lost_for_s": 60},
        "pulse_rate": {"last_reading": None, "lost_for_s": 60},
    }, "quiet_time_s": 10}, london)
    assert lost == ("parameters: spo2 (last reading 07:01:28 GMT, lost for 60 s); "
                    "pulse rate (lost for 60 s) · quiet time: 10 s")
    assert evidence_text({"note": "2026 plan"}, london) == "note: 2026 plan"  # not a time


def test_device_state_counts_from_the_last_reading():
    now = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)

    def state(name: str, last: datetime | None) -> DeviceStateView:
        return DeviceStateView(source="serial:/dev/ttyUSB0", trial_id=1, state=name,
                               reason="no such port", since=now - timedelta(seconds=1),
                               last_reading_at=last, updated_at=now)

    assert device_state_text(state("connected", now), now, "Oximeter") == "Oximeter: connected"
    assert device_state_text(state("lost", now - timedelta(seconds=200)), now, "Oximeter") == (
        "Oximeter: lost, last reading 3 min 20 s ago (no such port)")
    assert device_state_text(state("connecting", None), now) == (
        "serial:/dev/ttyUSB0: connecting, no reading since the monitor started (no such port)")


def test_display_settings_errors_name_the_line():
    text = (ROOT / "pages" / "display.yaml").read_text().replace(
        "stale_after_seconds: 30", "stale_after_seconds: -5"
    )
    with pytest.raises(DisplaySettingsError, match=r"line 5: stale_after_seconds"):
        parse_display_settings(text, "display.yaml")
