"""`python -m monitor demo-trial`: a whole simulated day in the record, ready for review.

Runs the command line against a fresh record (SQLite, and PostgreSQL when a server is given)
and checks the day from the record's side: its times, its content, its authors, and that the
alarms in the record are exactly what the rules engine makes of the recorded readings, sets and
acknowledgements. Recording the day takes seconds, so one test per backend checks it all.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from devices.simulator import Scenario
from monitor import demo_day
from monitor.__main__ import main as monitor_command
from monitor.demo_day import DEVICE_ON, DOSE_MCG, WINDOW_CLOSED, DemoWalk
from monitor.engine_feed import engine_set
from observations.__main__ import main as record_command
from observations.record import TrialRecord
from observations.settings import load_settings
from observations.views import TrialView
from observations.ward_time import to_ward
from rules.engine import TrialEngine
from rules.events import Acknowledgement, Injection, Reading, TrialEvent, WindowClosed
from rules.rule_set import default_rule_set
from rules.schedule import ObservationSchedule
from vocabulary import (
    AlarmEventType,
    AssessmentTimePoint,
    Parameter,
    QualityFlag,
    Role,
    TrialStatus,
)


def test_demo_trial_records_a_finished_day_that_exports(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
):
    monkeypatch.setenv("ITBMON_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("ITBMON_DATABASE_URL", database_url)
    monkeypatch.delenv("ITBMON_TIMEZONE", raising=False)
    assert monitor_command(["demo-trial"]) == 0
    out = capsys.readouterr()
    # Only the id on stdout, so a script can capture it; the summary goes to stderr.
    trial_id = int(out.out.strip())
    assert out.out == f"{trial_id}\n"
    assert f"Recorded demo trial {trial_id}" in out.err
    record = TrialRecord.open(load_settings())
    try:
        trial = record.trials.get(trial_id)
        check_trial(record, trial)
        check_readings(record, trial)
        check_observation_sets(record, trial)
        check_alarms_are_the_engines(record, trial)
        check_the_walk_is_the_recorded_day(record, trial)
        check_the_engines_judgement_is_stored(record, trial)
        check_authors(record, trial)
        # Exporting shows patient data: the command signs in as a doctor.
        record.users.create(None, "root", "Root", {Role.ADMIN}, "first admin phrase")
        admin = record.users.sign_in("root", "first admin phrase")
        record.users.create(admin, "dr.jones", "Dr Jones", {Role.DOCTOR}, "ward seven tea")
        record.users.sign_out(admin)
    finally:
        record.close()
    monkeypatch.setenv("ITBMON_USER", "dr.jones")
    monkeypatch.setenv("ITBMON_PASSWORD", "ward seven tea")
    for fmt, suffix in (("pdf", "pdf"), ("csv", "csv"), ("fhir", "json"), ("hl7", "hl7")):
        path = tmp_path / f"trial.{suffix}"
        args = ["export", "--trial", str(trial_id), "--format", fmt, "--out", str(path)]
        assert record_command(args) == 0, fmt
        data = path.read_bytes()
        assert data, fmt
        if fmt == "pdf":
            assert data.startswith(b"%PDF-")
        elif fmt == "csv":
            assert b"alarm_event" in data and b"acknowledged" in data
        elif fmt == "fhir":
            assert json.loads(data)["resourceType"] == "Bundle"
        else:
            assert data.startswith(b"MSH|") and b"ORU^R01" in data


def check_trial(record: TrialRecord, trial: TrialView) -> None:
    now = record.store.now()
    zone = record.settings.ward_timezone
    assert trial.status == TrialStatus.ASSESSED.value
    assert "(test number)" in trial.patient.identifiers
    injection = trial.injection
    assert injection is not None and injection.dose_mcg == DOSE_MCG
    given = to_ward(injection.given_at, zone)
    assert given.hour < 12  # before noon, ward time
    assert to_ward(now, zone).date() - given.date() == timedelta(days=1)  # yesterday
    assert injection.given_at + WINDOW_CLOSED <= now  # the whole window is over
    assert record.decisions.for_trial(trial.id) is None  # the team decides, not the demo
    points = [a.time_point for a in record.assessments.list(trial.id)]
    assert points == [AssessmentTimePoint.BASELINE.value, AssessmentTimePoint.FOUR_HOURS.value]
    baseline, four = record.assessments.list(trial.id)
    assert baseline.assessed_at < injection.given_at
    assert four.assessed_at == injection.given_at + timedelta(hours=4)
    assert len(baseline.ashworth) == len(four.ashworth) == 10  # five muscle groups, both sides
    assert baseline.penn_frequency is not None and baseline.goals
    assert record.trials.active_assignments(trial.id) == []  # the device was taken off
    assert record.services.lease_holder(f"sim:overdose?seed={trial.id}") is None  # released


def check_the_engines_judgement_is_stored(record: TrialRecord, trial: TrialView) -> None:
    """Pages show the demo day as they show a monitored one: every set scored by the engine,
    the due times and the baseline stored, nothing left "not yet scored"."""
    assert trial.injection is not None
    sets = record.observations.list(trial.id)
    scores = record.set_scores.for_trial(trial.id)
    assert set(scores) == {s.id for s in sets}
    assert all(score.total is not None for score in scores.values())  # SpO2/pulse prefilled
    schedule = record.set_scores.schedule(trial.id)
    assert schedule is not None and schedule.injection_at == trial.injection.given_at
    assert set(schedule.baseline) >= {"spo2", "pulse_rate", "systolic", "power_left_leg"}
    assert schedule.next_due is None  # the window is closed: nothing more is due


def check_readings(record: TrialRecord, trial: TrialView) -> None:
    assert trial.injection is not None
    given = trial.injection.given_at
    spo2 = record.readings.timeline(trial.id, [Parameter.SPO2], include_manual=False)
    times = list(spo2["time"].dt.to_pydatetime())
    # 1 Hz from 30 minutes before the injection until the window closed, not a second later.
    assert times[0] == given + DEVICE_ON
    assert times[-1] == given + WINDOW_CLOSED
    assert len(times) == (WINDOW_CLOSED - DEVICE_ON).total_seconds() + 1
    assert spo2["value"].min() < 90  # the overdose really shows
    everything = record.readings.timeline(trial.id, include_manual=False)
    assert record.readings.count(trial.id) == len(everything) > 30_000
    assert set(everything["parameter"]) >= {"spo2", "pulse_rate", "systolic", "diastolic"}


def check_observation_sets(record: TrialRecord, trial: TrialView) -> None:
    assert trial.injection is not None
    given = trial.injection.given_at
    sets = record.observations.list(trial.id)
    assert sets[0].measured_at < given  # the baseline set
    assert all(s.side_effects is not None for s in sets)  # the side-effect check is done
    assert any(s.side_effects for s in sets)
    assert all(s.measured_at <= given + WINDOW_CLOSED for s in sets)
    # Every scheduled due time in the window is met on time, by the schedule's own rules.
    schedule = ObservationSchedule(default_rule_set().schedule)
    schedule.start(given)
    for obs in sets:
        schedule.record_set(obs.measured_at)
    due = [d for d in schedule.due_times(given + WINDOW_CLOSED) if d.source == "schedule"]
    assert [d.time - given for d in due][:10] == [
        timedelta(minutes=m) for m in (15, 30, 45, 60, 90, 120, 150, 180, 210, 240)
    ]
    assert {d.status.value for d in due if d.time <= given + WINDOW_CLOSED} == {"met"}


def check_alarms_are_the_engines(record: TrialRecord, trial: TrialView) -> None:
    assert trial.injection is not None
    events = record.alarms.events(trial.id)
    acks = [e for e in events if e.event == AlarmEventType.ACKNOWLEDGED.value]
    assert any(e.event == AlarmEventType.RAISED.value for e in events) and acks
    assert all(a.note for a in acks)
    assert "obs_overdue" not in {e.rule_id for e in events}  # the nurse kept to the schedule
    # The window could close: nothing waits for acknowledgement.
    assert all(a.acknowledged for a in record.alarms.active(trial.id))
    # A fresh engine fed the recorded day raises exactly the recorded alarm events. Within one
    # second the order is the devices' (oximeter, then its cuff; each frame's values in
    # vocabulary order, SpO2 before pulse: the engine fires a delay timer due at an instant
    # after the first reading of that instant), then the people's entries, each after the
    # timers due by then.
    order = {parameter: i for i, parameter in enumerate(Parameter)}
    entries: list[tuple[object, int, str, int, TrialEvent]] = []
    frame = record.readings.timeline(
        trial.id,
        [Parameter.SPO2, Parameter.PULSE_RATE, Parameter.SYSTOLIC, Parameter.DIASTOLIC],
        include_manual=False,
    )
    for row in frame.itertuples(index=False):
        value = None if row.value != row.value else float(row.value)  # NaN: flagged, no value
        flags = frozenset(QualityFlag(f) for f in str(row.flags).split(";") if f)
        reading = Reading(row.time.to_pydatetime(), Parameter(row.parameter), value, flags)
        entries.append((row.time, 0, str(row.device), order[reading.parameter], reading))
    given = trial.injection.given_at
    people: list[TrialEvent] = [Injection(given, trial.injection.dose_mcg)]
    people += [engine_set(s) for s in record.observations.list(trial.id)]
    people += [Acknowledgement(a.at, a.rule_id) for a in acks]
    people.append(WindowClosed(given + WINDOW_CLOSED))
    entries += [(event.time, 1, "", 0, event) for event in people]
    entries.sort(key=lambda e: e[:4])
    engine = TrialEngine(default_rule_set(), trial_id=str(trial.id))
    raised = []
    for _, kind, _, _, event in entries:
        if kind == 1:
            raised += engine.advance_to(event.time)
        raised += engine.feed(event)
    expected = [
        (e.rule_id, e.event.value, e.time, e.priority.value)
        for e in raised
        if e.event != AlarmEventType.ACKNOWLEDGED
    ]
    recorded = [
        (e.rule_id, e.event, e.at, e.priority)
        for e in events
        if e.event != AlarmEventType.ACKNOWLEDGED.value
    ]
    assert sorted(recorded) == sorted(expected)
    assert all(given + DEVICE_ON <= e.at <= given + WINDOW_CLOSED for e in events)


def check_the_walk_is_the_recorded_day(record: TrialRecord, trial: TrialView) -> None:
    """The walk without a record (what the alarm benchmark replays) is the recorded day: the
    same alarm events, acknowledgements included, at the same times."""
    assert trial.injection is not None
    walk = DemoWalk(Scenario.OVERDOSE, trial.injection.given_at)
    engine = TrialEngine(default_rule_set(), trial_id=str(trial.id), spo2_scale=trial.spo2_scale)
    walk.walk(engine, seed=trial.id)
    walked = [(e.rule_id, e.event.value, e.time, e.priority.value) for e in walk.alarm_events]
    recorded = [(e.rule_id, e.event, e.at, e.priority) for e in record.alarms.events(trial.id)]
    assert sorted(recorded) == sorted(walked)


def check_authors(record: TrialRecord, trial: TrialView) -> None:
    """Everything has its audit entry by the right account, no later than the real present."""
    clinician = record.users.get("demo.clinician")
    nurse = record.users.get("demo.nurse")
    entries = record.audit.entries(trial_id=trial.id, limit=100_000)
    by_action: dict[str, set[str]] = {}
    for entry in entries:
        by_action.setdefault(entry.action, set()).add(entry.username)
        assert entry.at <= record.store.now()
    assert by_action["injection.record"] == {clinician.username}
    assert by_action["assessment.record"] == {clinician.username}
    assert by_action["observation.record"] == {nurse.username}
    assert by_action["alarm.acknowledge"] == {nurse.username}
    assert by_action["readings.add"] == by_action["alarm.raised"] == {"monitor-service"}
    assert by_action["trial.status"] == {clinician.username}
    acks = [e for e in record.alarms.events(trial.id) if e.event == "acknowledged"]
    assert {a.by_user for a in acks} == {nurse.id}


def test_a_day_that_fails_half_way_is_cancelled_and_frees_its_device(
    record: TrialRecord, monkeypatch: pytest.MonkeyPatch
):
    def fail(self: object, at: object) -> None:
        raise RuntimeError("the database went away")

    monkeypatch.setattr(demo_day._DemoDay, "_injection", fail)
    with pytest.raises(RuntimeError, match="went away"):
        demo_day.record_demo_day(record)
    [trial] = record.trials.list()
    assert trial.status == TrialStatus.CANCELLED.value  # never left looking like a live trial
    assert trial.injection is None and record.readings.count(trial.id) > 0
    assert record.trials.active_assignments() == []
    assert record.services.lease_holder(f"sim:overdose?seed={trial.id}") is None
