# ruff: noqa: F811  (pytest fixtures imported from tests/browser/seed.py)
"""The alarm bar on every page: a bed's most urgent unacknowledged alarm first, one
acknowledgement for all of a bed's alarms, what the tone is told to sound, soft reminders, the
monitor's state, and the locked screen."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from streamlit.testing.v1 import AppTest

from observations.alarms import check_reminder
from observations.limits import IDLE_LOCK_ENV, idle_lock_minutes, load_limits
from observations.record import TrialRecord
from observations.services import DeviceStateView
from observations.store import Actor
from observations.views import AlarmView
from screens.alarm_bar import (
    REMINDED_KEY,
    beds_in_alarm,
    condition_only,
    every_words,
    evidence_text,
    markdown_text,
    reminder_choices,
    reminder_defaults,
)
from screens.bed_tiles import natural_bed_key
from screens.display import DisplaySettingsError, load_display_settings, parse_display_settings
from screens.nurse_view import device_state_text
from screens.shared import ACTOR_KEY, IDLE_RUN_KEY, LAST_SEEN_KEY, LOCKED_KEY, PATIENT_ON_SCREEN_KEY
from tests.browser.seed import (  # noqa: F401  (fixtures)
    People,
    beat,
    data_dir,
    monitoring_trial,
    people,
    raise_alarm,
    record,
)
from tests.screens.apps import open_at
from vocabulary import Priority

ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def no_embedded_monitor(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ITBMON_EMBEDDED_MONITOR", "0")  # the test writes the alarms


def app(actor: Actor, page: str | None = None) -> AppTest:
    """The whole app (dashboard.py: the frame and the page) at the address of ``page`` (None:
    the person's first page), signed in as ``actor``; each test says itself whether a monitor
    has reported."""
    return open_at(page, actor, monitor_running=False)


def view(
    id: int,
    trial_id: int,
    priority: str,
    acknowledged: bool = False,
    at_minute: float = 0,
    message: str = "Condition: value",
) -> AlarmView:
    when = T0 + timedelta(minutes=at_minute)
    return AlarmView(
        id=id,
        trial_id=trial_id,
        rule_id=f"rule{id}",
        kind="physiological",
        raised_at=when,
        priority=priority,
        message=message,
        evidence=None,
        acknowledged=acknowledged,
        last_event="acknowledged" if acknowledged else "raised",
        last_event_at=when,
        acknowledged_at=when if acknowledged else None,
    )


def tone(at: AppTest) -> dict[str, Any]:
    """What the page told the browser's tone (its data)."""
    [component] = [
        c for c in at.get("bidi_component") if c.proto.component_name == "itbmon_alarm_tone"
    ]
    return json.loads(component.proto.json)


def bar_labels(at: AppTest) -> list[str]:
    return [e.label for e in at.expander]


# ----- ordering --------------------------------------------------------------------------------
def test_a_beds_unacknowledged_alarm_is_never_hidden_behind_an_older_or_acknowledged_one():
    acknowledged_high = view(1, 7, "high", acknowledged=True, at_minute=0)
    waiting_medium = view(2, 7, "medium", at_minute=1)
    waiting_high_old = view(3, 7, "high", at_minute=2)
    waiting_high_new = view(4, 7, "high", at_minute=5)
    [bed] = beds_in_alarm(
        [acknowledged_high, waiting_medium, waiting_high_old, waiting_high_new], {7: "D3"}
    )
    assert [a.id for a in bed.alarms] == [4, 3, 2, 1]
    assert bed.lead.id == 4 and bed.others == 3 and [a.id for a in bed.waiting] == [4, 3, 2]


def test_beds_by_their_most_urgent_waiting_alarm_then_natural_bed_order():
    alarms = [
        view(1, 10, "high", acknowledged=True),  # D10: only an acknowledged high
        view(2, 3, "medium"),  # D3: a waiting medium
        view(3, 2, "medium"),  # D2: a waiting medium too
        view(4, 9, "high"),  # no bed: a waiting high
        view(5, 11, "low"),  # D11: a waiting low
    ]
    beds = {10: "D10", 3: "D3", 2: "D2", 9: None, 11: "D11"}
    assert [b.bed for b in beds_in_alarm(alarms, beds)] == [None, "D2", "D3", "D11", "D10"]
    # The patient on screen comes first on the pages that show one patient.
    assert next(b.bed for b in beds_in_alarm(alarms, beds, first=10)) == "D10"


def test_natural_bed_order():
    names = ["D10", "D3", None, "d2", "4B", "4A", "12"]
    assert sorted(names, key=natural_bed_key) == ["4A", "4B", "12", "d2", "D3", "D10", None]


def test_locked_screen_words_and_markdown_escaping():
    alarm = view(1, 1, "high", message="Critical desaturation: SpO2 84 %. Since 09:00.")
    assert condition_only(alarm) == "Critical desaturation"
    assert markdown_text("**4B** :red[x] [a](b)") == r"\*\*4B\*\* \:red\[x\] \[a\]\(b\)"


# ----- the bar on every page -------------------------------------------------------------------
PAGES = [
    "screens/ward.py",
    "screens/trial_monitor.py",
    "screens/observation_entry.py",
    "screens/trial_setup.py",
    "screens/review.py",
    "screens/decision.py",
    "screens/trials.py",
    "screens/audit.py",
]


@pytest.mark.parametrize("path", PAGES)
def test_every_page_has_the_bar_and_its_tone(record: TrialRecord, people: People, path: str):
    trial = monitoring_trial(record, people)
    now = record.store.now()
    raise_alarm(
        record,
        trial.id,
        now - timedelta(minutes=3),
        rule_id="pulse_low",
        message="Bradycardia: pulse 45",
        priority=Priority.MEDIUM,
    )
    raise_alarm(record, trial.id, now - timedelta(seconds=20))
    beat(record)
    at = app(people.doctor, Path(path).stem).run()
    assert not at.exception
    if path == "screens/ward.py":  # one line; the beds' alarms open from a button
        [line] = [h.proto.body for h in at.get("html") if "itbmon-line one" in h.proto.body]
        assert "Bed 4B" in line and "Critical desaturation: SpO2 84 %" in line
        assert "+1 other" in line and "NOT ACKNOWLEDGED" in line
    else:
        labels = bar_labels(at)
        assert labels and labels[0].startswith("**HIGH** · **Bed 4B** · Critical desaturation")
        assert "+1 other" in labels[0] and "NOT ACKNOWLEDGED" in labels[0]
    sounding = tone(at)["alarms"]
    assert sorted(a["priority"] for a in sounding) == ["high", "medium"]


def test_ward_bar_is_one_line_with_the_beds_behind_a_button(record: TrialRecord, people: People):
    trial = monitoring_trial(record, people)
    raise_alarm(record, trial.id, record.store.now())
    beat(record)
    at = app(people.nurse, "ward").run()
    assert not at.exception
    lines = [h.proto.body for h in at.get("html") if "itbmon-line one" in h.proto.body]
    assert len(lines) == 1 and "Bed 4B" in lines[0] and "Critical desaturation" in lines[0]
    assert bar_labels(at)[0].startswith("**HIGH** · **Bed 4B**")  # inside the popover


def test_acknowledge_all_of_a_beds_alarms_with_one_required_note(
    record: TrialRecord, people: People
):
    trial = monitoring_trial(record, people)
    now = record.store.now()
    raise_alarm(
        record,
        trial.id,
        now - timedelta(minutes=1),
        rule_id="pulse_low",
        message="Bradycardia: pulse 45",
        priority=Priority.MEDIUM,
    )
    raise_alarm(record, trial.id, now)
    beat(record)
    at = app(people.nurse, "trial_monitor").run()
    submit = "FormSubmitter:ack-bar-1-Acknowledge all of this bed's alarms (2)"
    at.button(key=submit).click().run()
    assert not at.exception
    assert "Say what was done and who was told before acknowledging." in [e.value for e in at.error]
    assert not any(a.acknowledged for a in record.alarms.active())
    remind = at.selectbox(key="ack-bar-1-remind")
    assert remind.value == reminder_defaults()[Priority.HIGH]  # the bed's most urgent: high
    at.selectbox(key="ack-bar-1-phrase").set_value("Sat the patient up; oxygen started")
    at.text_area(key="ack-bar-1-note").input("told Dr Who <b>now</b>")
    at.button(key=submit).click().run()
    assert not at.exception
    alarms = record.alarms.active()
    assert len(alarms) == 2 and all(a.acknowledged for a in alarms)
    notes = {e.note for e in record.alarms.events(trial.id) if e.event == "acknowledged"}
    assert notes == {"Sat the patient up; oxygen started. told Dr Who <b>now</b>"}
    assert "acknowledged" in bar_labels(at)[0] and "NOT ACKNOWLEDGED" not in bar_labels(at)[0]
    assert tone(at)["alarms"] == []  # silent once acknowledged
    assert not [b for b in at.button if b.key and b.key.startswith("FormSubmitter:ack-")]


def test_a_common_action_alone_is_a_note_and_low_alarms_offer_no_reminder(
    record: TrialRecord, people: People
):
    trial = monitoring_trial(record, people)
    raise_alarm(
        record,
        trial.id,
        record.store.now(),
        rule_id="sensor_off",
        message="Sensor off: no SpO2 for 15 s",
        priority=Priority.LOW,
    )
    beat(record)
    at = app(people.nurse, "trial_monitor").run()
    assert tone(at)["alarms"] == []  # low: shown, never sounded
    with pytest.raises(KeyError):
        at.selectbox(key="ack-bar-1-remind")  # low never reminds
    at.selectbox(key="ack-bar-1-phrase").set_value("Probe or cuff re-sited; device checked")
    at.button(key="FormSubmitter:ack-bar-1-Acknowledge this bed's alarm (1)").click().run()
    assert not at.exception
    [alarm] = record.alarms.active()
    assert alarm.acknowledged and alarm.remind_after_s is None


def test_physiotherapist_sees_the_bar_but_cannot_acknowledge(record: TrialRecord, people: People):
    trial = monitoring_trial(record, people)
    raise_alarm(record, trial.id, record.store.now())
    at = app(people.physio).run()
    assert not at.exception
    assert "Your role cannot acknowledge alarms: call the nurse in charge." in [
        c.value for c in at.caption
    ]
    assert not at.text_area


def test_an_administrator_sees_beds_and_conditions_but_no_patient(
    record: TrialRecord, people: People
):
    trial = monitoring_trial(record, people)
    raise_alarm(record, trial.id, record.store.now())
    beat(record)
    at = app(people.admin).run()
    assert not at.exception and at.title[0].value == "Accounts"
    shown = everything(at)
    assert "Bed 4B" in shown and "Critical desaturation" in shown
    for detail in ("JONES", "943 476 5919", "SpO2 84"):
        assert detail not in shown, detail
    assert not at.expander and tone(at)["alarms"] == [{"id": "1", "priority": "high"}]


def test_reminder_choices_are_what_the_record_accepts():
    defaults = reminder_defaults()
    for priority in Priority:
        choices, default = reminder_choices(priority)
        assert default == defaults.get(priority) and default in choices
        for seconds in choices:
            assert check_reminder(seconds) == seconds  # None: the default, or no reminder
    assert [every_words(s) for s in (60, 300, 3600, 7200)] == [
        "every minute",
        "every 5 minutes",
        "every hour",
        "every 2 hours",
    ]


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
        alarm_id = next(a.id for a in record.alarms.active(trial_id) if not a.acknowledged)
        record.alarms.acknowledge(people.nurse, alarm_id, "O2 on, doctor told", remind_after_s)
    finally:
        record.store.clock = real


def reminders(at: AppTest) -> list[str]:
    return [m.value for m in at.markdown if "Reminder: acknowledged, still present" in m.value]


def test_soft_reminder_of_an_acknowledged_alarm_still_present(record: TrialRecord, people: People):
    trial = monitoring_trial(record, people)
    acknowledged_ago(record, people, trial.id, minutes=6)  # high: every 5 minutes by default
    beat(record)
    at = app(people.nurse).run()
    assert not at.exception
    [notice] = reminders(at)
    assert "Bed 4B" in notice and "Critical desaturation" in notice
    token = tone(at)["reminder"]
    assert token and token.startswith(f"{trial.id}@")
    at.run()  # the notice stays a while, with the same token: the tone plays it once
    assert reminders(at) and tone(at)["reminder"] == token
    shown = load_display_settings().reminder_shown_seconds
    at.session_state[REMINDED_KEY][trial.id] -= timedelta(seconds=shown + 1)
    at.run()
    assert not reminders(at) and tone(at)["reminder"] is None


def test_no_reminder_before_the_chosen_interval_nor_for_low(record: TrialRecord, people: People):
    trial = monitoring_trial(record, people)
    acknowledged_ago(record, people, trial.id, minutes=6, remind_after_s=600.0)
    acknowledged_ago(
        record,
        people,
        trial.id,
        minutes=20,
        remind_after_s=120.0,
        rule_id="sensor_off",
        message="Sensor off",
        priority=Priority.LOW,
    )
    beat(record)
    at = app(people.nurse).run()
    assert not at.exception
    assert not reminders(at) and tone(at)["reminder"] is None


def test_monitor_not_running_is_a_high_alarm_on_every_trial(record: TrialRecord, people: People):
    first = monitoring_trial(record, people)
    at = app(people.nurse).run()  # no heartbeat at all
    [banner] = [e.value for e in at.error if "MONITOR NOT RUNNING" in e.value]
    assert "HIGH (technical)" in banner and "Bed 4B" in banner
    assert "JONES" in banner  # two identifiers, as everywhere (signed in)
    assert {"id": "monitor-not-running", "priority": "high"} in tone(at)["alarms"]
    assert not [m for m in at.markdown if "No active alarms" in m.value]
    record.services.beat("old", "embedded", "ward-pc", 1)
    from observations.schema import ServiceHeartbeat

    with record.store.writing() as session:
        session.get(ServiceHeartbeat, "old").last_beat_at = record.store.now() - timedelta(
            minutes=2
        )
    at.run()
    assert any("MONITOR NOT RUNNING: last heard from 2 min" in e.value for e in at.error)
    del first


# ----- idle lock -------------------------------------------------------------------------------
def everything(at: AppTest) -> str:
    return " ".join(
        str(getattr(e, "value", "")) + str(getattr(e, "label", "")) for e in at.main
    ) + " ".join(h.proto.body for h in at.get("html"))


def test_idle_screen_locks_without_patient_details_and_keeps_the_alarms(
    record: TrialRecord, people: People
):
    trial = monitoring_trial(record, people)
    raise_alarm(record, trial.id, record.store.now())
    beat(record)
    at = app(people.nurse)
    at.session_state[LAST_SEEN_KEY] = time.monotonic() - 16 * 60
    at.run()
    assert not at.exception
    assert at.title[0].value == "Screen locked"
    assert at.session_state[ACTOR_KEY] == people.nurse  # locked, never signed out
    shown = everything(at)
    assert "Bed 4B" in shown and "Critical desaturation" in shown
    for detail in ("JONES", "943 476 5919", "H77", "1980", "SpO2 84"):
        assert detail not in shown, detail
    assert not at.expander  # no forms on a locked screen
    assert tone(at)["alarms"] == [{"id": "1", "priority": "high"}]  # still sounding
    # Unlocking is a sign-in; the same nurse carries on where she was.
    at.text_input[0].input("nurse")
    at.text_input[1].input("ward seven tea")
    at.button(key="FormSubmitter:unlock-Sign in to unlock").click().run()
    assert not at.exception
    assert LOCKED_KEY not in at.session_state and at.title[0].value == "Ward overview"


def test_another_person_unlocking_starts_afresh(record: TrialRecord, people: People):
    at = app(people.nurse)
    at.session_state[LAST_SEEN_KEY] = time.monotonic() - 16 * 60
    at.session_state[PATIENT_ON_SCREEN_KEY] = 99
    at.run()
    at.text_input[0].input("doctor")
    at.text_input[1].input("ward seven tea")
    at.button(key="FormSubmitter:unlock-Sign in to unlock").click().run()
    assert not at.exception
    assert at.session_state[ACTOR_KEY].username == "doctor"
    assert PATIENT_ON_SCREEN_KEY not in at.session_state


def test_the_idle_timers_run_is_not_activity(record: TrialRecord, people: People):
    # The idle timer runs the page on screen (opening the app's own address is an action).
    at = app(people.nurse, "ward")
    ten_minutes_ago = time.monotonic() - 10 * 60
    at.session_state[LAST_SEEN_KEY] = ten_minutes_ago
    at.session_state[IDLE_RUN_KEY] = True
    at.run()
    assert at.session_state[LAST_SEEN_KEY] == ten_minutes_ago and LOCKED_KEY not in at.session_state
    at.run()  # any other full run is the person's action
    assert at.session_state[LAST_SEEN_KEY] > ten_minutes_ago


def test_idle_limit_override(monkeypatch: pytest.MonkeyPatch):
    assert idle_lock_minutes() == load_limits().accounts.idle_lock_minutes == 15
    monkeypatch.setenv(IDLE_LOCK_ENV, "0.5")
    assert idle_lock_minutes() == 0.5
    for wrong in ("0", "-1", "soon", "nan"):
        monkeypatch.setenv(IDLE_LOCK_ENV, wrong)
        with pytest.raises(ValueError, match=IDLE_LOCK_ENV):
            idle_lock_minutes()


# ----- words -----------------------------------------------------------------------------------
def test_evidence_helpers():
    assert evidence_text(None) == "no evidence recorded"
    assert evidence_text({"limbs": {"left": 3}, "band": "high"}) == "limbs: left 3 · band: high"
    # What is not known is missing, never "None"; the engine's names read as words.
    assert evidence_text({"due": "x", "last_set": None}) == "due: x · last set: —"
    assert evidence_text(
        {"parameter": "pulse_rate", "level": "critical_desaturation", "value": 84}
    ) == ("parameter: pulse rate · level: critical desaturation · value: 84")


def test_evidence_reads_in_ward_time_and_seconds():
    london = ZoneInfo("Europe/London")
    summer = evidence_text(
        {
            "band": {"min": 86, "max": 91},
            "delay_s": 15,
            "since": "2026-07-01T09:53:50.110367+00:00",
        },
        london,
    )
    assert summer == "band: min 86, max 91 · delay: 15 s · since: 10:53:50 BST"
    lost = evidence_text(
        {
            "parameters": {
                "spo2": {"last_reading": "2026-11-21T07:01:28+00:00", "lost_for_s": 60},
                "pulse_rate": {"last_reading": None, "lost_for_s": 60},
            },
            "quiet_time_s": 10,
        },
        london,
    )
    assert lost == (
        "parameters: spo2 (last reading 07:01:28 GMT, lost for 60 s); "
        "pulse rate (lost for 60 s) · quiet time: 10 s"
    )
    assert evidence_text({"note": "2026 plan"}, london) == "note: 2026 plan"  # not a time


def test_device_state_counts_from_the_last_reading():
    now = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)

    def state(name: str, last: datetime | None) -> DeviceStateView:
        return DeviceStateView(
            source="serial:/dev/ttyUSB0",
            trial_id=1,
            state=name,
            reason="no such port",
            since=now - timedelta(seconds=1),
            last_reading_at=last,
            updated_at=now,
        )

    assert device_state_text(state("connected", now), now, "Oximeter") == "Oximeter: connected"
    assert device_state_text(state("lost", now - timedelta(seconds=200)), now, "Oximeter") == (
        "Oximeter: lost, last reading 3 min 20 s ago (no such port)"
    )


def test_display_settings_errors_name_the_line():
    text = (
        (ROOT / "screens" / "display.yaml")
        .read_text()
        .replace("stale_after_seconds: 30", "stale_after_seconds: -5")
    )
    with pytest.raises(DisplaySettingsError, match=r"line 5: stale_after_seconds"):
        parse_display_settings(text, "display.yaml")
    loud = (
        (ROOT / "screens" / "display.yaml")
        .read_text()
        .replace("audio_pause_seconds: 120", "audio_pause_seconds: 300")
    )
    with pytest.raises(DisplaySettingsError, match=r"audio_pause_seconds"):
        parse_display_settings(loud, "display.yaml")
