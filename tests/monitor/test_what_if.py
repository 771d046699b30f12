"""What-if replay of recorded days (monitor/what_if.py, `python -m monitor what-if`).

The golden master: a recorded overdose demo day replayed with the rule set in force gives back
exactly the alarm events the record holds. Then candidates changed in one number each: a
lowered limit adds alarms, a lengthened delay sounds alarms later, each listed with its time.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest

from monitor.__main__ import main
from monitor.what_if import finished_trials, recorded_day, replay, what_if
from observations.record import TrialRecord
from observations.store import Actor
from rules.events import Reading
from rules.rule_set import RuleSet, default_rule_set, parse_rule_set
from rules.what_if import Change
from tests.accounts import PASSWORD, local_person, sign_in_as
from tests.candidates import CANDIDATE_VERSION, CRITICAL_DELAY, candidate_text
from tests.conftest import copy_of_overdose_day
from vocabulary import AlarmEventType, Parameter, Role

TACHYCARDIA_AT_75 = (("limit: 131", "limit: 75"), ("clears_at: 127", "clears_at: 72"))


def candidate(*changes: tuple[str, str]) -> RuleSet:
    return parse_rule_set(candidate_text(*changes), "candidate.yaml")


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A copy of the overdose demo day (``python -m monitor demo-trial``), recorded once."""
    yield from copy_of_overdose_day(request, tmp_path)


def _recorded(record: TrialRecord) -> int:
    """The recorded day's trial: the only one in the record."""
    [trial] = record.trials.list()
    return trial.id


def test_replay_with_the_rule_set_in_force_gives_back_the_recorded_alarm_events(
    record: TrialRecord,
):
    trial_id = _recorded(record)
    rules = default_rule_set()
    [(trial, end)] = finished_trials(record)
    assert trial.id == trial_id
    replayed = [
        e
        for e in replay(recorded_day(record, rules, trial, end), rules)
        if e.event != AlarmEventType.ACKNOWLEDGED
    ]
    recorded = [
        e for e in record.alarms.events(trial_id) if e.event != AlarmEventType.ACKNOWLEDGED.value
    ]
    assert len(recorded) > 40  # an overdose day: raises, escalations, the close

    def key(rule: str, event: str, at: object, priority: str, message: str) -> tuple:
        return (rule, event, at, priority, message)

    assert sorted(
        key(e.rule_id, e.event.value, e.time, e.priority.value, e.message) for e in replayed
    ) == sorted(key(e.rule_id, e.event, e.at, e.priority, e.message) for e in recorded)

    # Each alarm's events in the same order, with the same evidence, but the close's: the
    # record resolves what is left when the window closes (saying why), before the engine does.
    def per_rule(events: list[tuple[str, str, object, dict]]) -> dict[str, list[tuple]]:
        out: dict[str, list[tuple]] = defaultdict(list)
        for rule, event, at, evidence in events:
            if at != end:
                out[rule].append((event, at, evidence))
        return out

    assert per_rule([(e.rule_id, e.event.value, e.time, e.evidence) for e in replayed]) == (
        per_rule([(e.rule_id, e.event, e.at, e.evidence) for e in recorded])
    )
    # Nothing differs from itself.
    report = what_if(record, reviewer(record), rules, rules)
    assert report.comparison.safe
    assert {d.change for day in report.comparison.days for d in day.differences} == {Change.SAME}


def reviewer(record: TrialRecord) -> Actor:
    """The lead nurse who owns the rule file, signed in."""
    return sign_in_as(record, "lead.nurse", Role.NURSE)


def _latest(readings: list[Reading], parameter: Parameter, at: object) -> float:
    values = [
        r.value
        for r in readings
        if r.parameter is parameter and r.valid and r.time <= at and r.value is not None
    ]
    return values[-1]


def test_a_candidate_that_lowers_a_limit_shows_the_alarms_it_adds(record: TrialRecord):
    _recorded(record)
    rules = default_rule_set()
    report = what_if(record, reviewer(record), rules, candidate(*TACHYCARDIA_AT_75))
    comparison = report.comparison
    assert comparison.safe  # a lower tachycardia limit delays nothing
    added = comparison.differences(Change.ADDED)
    assert added
    [(trial, end)] = finished_trials(record)
    readings = recorded_day(record, rules, trial, end).streamed
    day = comparison.days[0]
    for _, difference in added:
        assert (difference.rule_id, difference.level_id) == (
            "pulse_severe_high",
            "severe_tachycardia",
        )
        assert difference.in_force_at is None and difference.candidate_at is not None
        # It sounds where the pulse is at the new limit, and the candidate did sound it.
        assert _latest(readings, Parameter.PULSE_RATE, difference.candidate_at) >= 75
        assert any(
            e.rule_id == "pulse_severe_high"
            and e.time == difference.candidate_at
            and e.event == AlarmEventType.RAISED
            for e in day.candidate_events
        )
    assert not any(e.rule_id == "pulse_severe_high" for e in day.in_force_events)
    assert comparison.candidate.rules["pulse_severe_high"].raises == len(added)
    assert comparison.in_force.rules.get("pulse_severe_high") is None or (
        comparison.in_force.rules["pulse_severe_high"].raises == 0
    )
    assert comparison.candidate.raises == comparison.in_force.raises + len(added)


def test_a_candidate_that_lengthens_a_delay_lists_the_alarms_it_sounds_later(
    record: TrialRecord,
):
    trial_id = _recorded(record)
    report = what_if(record, reviewer(record), default_rule_set(), candidate(CRITICAL_DELAY))
    comparison = report.comparison
    assert not comparison.safe
    later = comparison.differences(Change.LATER)
    assert later
    assert not comparison.differences(Change.ADDED)
    # The critical level as the record sounded it (raised or deepened to it).
    critical = {
        e.at
        for e in record.alarms.events(trial_id)
        if e.rule_id == "spo2_low"
        and e.event in ("raised", "reannunciated", "escalated")
        and e.evidence.get("level") == "critical_desaturation"
    }
    worse = comparison.differences(Change.LATER, Change.NOT_AT_ALL)
    assert {d.in_force_at for _, d in worse} <= critical
    for _, d in worse:
        assert (d.rule_id, d.level_id) == ("spo2_low", "critical_desaturation")
    for _, d in later:
        assert d.candidate_at is not None and d.in_force_at is not None
        assert d.delay_s == (d.candidate_at - d.in_force_at).total_seconds() >= 1
    # The page and the CSV say so, with the delay.
    text = _text(report)
    first = later[0][1]
    assert f"+{first.delay_s:.0f} s" in text or "min" in text
    assert "LATER" in text


def _text(report: object) -> str:
    from monitor.what_if import text_report

    return text_report(report)  # type: ignore[arg-type]


def test_command_line_refuses_a_broken_candidate_and_reports_without_patient_data(
    record: TrialRecord,
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
):
    trial_id = _recorded(record)
    trial = record.trials.get(trial_id)
    admin = local_person(record, None, "root", "Root", Role.ADMIN)
    local_person(record, admin, "cso", "Clinical Safety Officer", Role.DOCTOR)
    local_person(record, admin, "it.admin", "IT Admin", Role.ADMIN)
    monkeypatch.setenv("ITBMON_DATA_DIR", str(record.settings.data_dir))
    monkeypatch.setenv("ITBMON_DATABASE_URL", database_url)
    monkeypatch.delenv("ITBMON_TIMEZONE", raising=False)
    monkeypatch.setenv("ITBMON_USER", "cso")
    monkeypatch.setenv("ITBMON_PASSWORD", PASSWORD)

    broken = tmp_path / "broken.yaml"
    broken.write_text(candidate_text(("limit: 131", "limit: fast")), encoding="utf-8")
    from rules.__main__ import main as rules_main

    assert rules_main(["check-config", str(broken)]) == 1
    expected = capsys.readouterr().err
    assert "line " in expected
    assert main(["what-if", "--rules", str(broken)]) == 1
    out = capsys.readouterr()
    assert out.err == expected and out.out == ""

    good = tmp_path / "candidate.yaml"
    good.write_text(candidate_text(CRITICAL_DELAY), encoding="utf-8")
    csv_path, pdf_path = tmp_path / "report.csv", tmp_path / "report.pdf"
    assert main(["what-if", "--rules", str(good), "--out", str(csv_path)]) == 0
    printed = capsys.readouterr().out
    assert (
        main(["what-if", "--rules", str(good), "--trial", str(trial_id), "--out", str(pdf_path)])
        == 0
    )
    capsys.readouterr()
    csv_text = csv_path.read_text(encoding="utf-8")
    for shown in (printed, csv_text):
        assert default_rule_set().version in shown and CANDIDATE_VERSION in shown
        assert f"trial {trial_id}" in shown or f",{trial_id}," in shown
        assert "critical_desaturation" in shown and "later" in shown.lower()
        patient = trial.patient
        for identifier in (patient.name, patient.nhs_number, patient.hospital_number):
            assert identifier and identifier not in shown
    assert "LATER" in printed and f"bed {trial.bed}" in printed
    pdf = pdf_path.read_bytes()
    assert pdf.startswith(b"%PDF-")
    assert len(re.findall(rb"/Type\s*/Page(?!s)", pdf)) == 1  # one page
    assert (csv_path.stat().st_mode & 0o777) == 0o600
    views = record.audit.entries(action_prefix="view.what_if")
    assert [v.username for v in views] == ["cso", "cso"]

    # An administrator sees no clinical data.
    monkeypatch.setenv("ITBMON_USER", "it.admin")
    assert main(["what-if", "--rules", str(good)]) == 2
    out = capsys.readouterr()
    assert out.out == "" and "may not replay recorded trial days" in out.err
