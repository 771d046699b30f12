# ruff: noqa: F811  (pytest fixtures imported from tests/browser/seed.py)
"""Alarms on every page: priority order, evidence, acknowledgement with a required note."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from streamlit.testing.v1 import AppTest

from observations.record import TrialRecord
from observations.services import DeviceStateView
from pages.alarms_panel import alarm_tone, evidence_text
from pages.display import DisplaySettingsError, parse_display_settings
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
    raise_alarm(record, trial.id, now - timedelta(minutes=3), rule_id="bradycardia",
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
    assert alarm_tone()[:4] == b"RIFF"


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
