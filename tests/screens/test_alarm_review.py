"""The alarm review page: the ward's alarm figures for doctors, nurse specialists and the
administrator, with no patient identifier on it; refused to other roles."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from observations.record import TrialRecord
from observations.settings import load_settings
from observations.ward_time import format_ward, to_ward
from tests.accounts import sign_in_as
from tests.browser.seed import People, add_vitals, monitoring_trial, raise_alarm
from tests.candidates import CRITICAL_DELAY, candidate_text
from tests.screens.apps import on_page, open_at, turned_away
from vocabulary import Priority, QualityFlag, Role

# The patient's identifiers: none may appear anywhere on the page.
NHS, MRN, FAMILY, GIVEN = "9434765919", "H7Q7", "Quixote", "Sam"
IDENTIFIERS = (NHS, "943 476 5919", MRN, FAMILY, FAMILY.upper(), "01 Jan 1980", "1980-01-01")
BED = "<b>4B</b>"  # typed by a person: data, never markup, in the charts too


def _write_world(data: Path) -> dict[str, Any]:
    """The ward of these tests, written into the embedded record under ``data``: a person per
    role, a monitored trial with a probe-off spell, an acknowledged high alarm and a waiting
    medium one. Keys: instant (the record's clock while it was written), people, trial."""
    # The world is written at one instant of the record's clock (however long writing it
    # takes): the acknowledgement 5 min after its alarm is 5 min 00 s.
    instant = datetime.now(UTC)
    record = TrialRecord.open(load_settings({"ITBMON_DATA_DIR": str(data)}), clock=lambda: instant)
    people = People(
        *(
            sign_in_as(record, name, role)
            for name, role in (
                ("admin", Role.ADMIN),
                ("nurse", Role.NURSE),
                ("cns", Role.NURSE_SPECIALIST),
                ("doctor", Role.DOCTOR),
                ("physio", Role.PHYSIOTHERAPIST),
            )
        )
    )
    trial = monitoring_trial(
        record,
        people,
        nhs=NHS,
        mrn=MRN,
        family=FAMILY,
        bed=BED,
        minutes_ago=30,
        device="ble:AA:BB:CC:DD:EE:01",
    )
    now = record.store.now()
    for second in range(0, 60):
        off = 20 <= second < 30
        add_vitals(
            record,
            trial.id,
            now - timedelta(minutes=10, seconds=-second),
            None if off else 97.0,
            None if off else 70.0,
            device="ble:AA:BB:CC:DD:EE:01",
            flags=frozenset({QualityFlag.NO_FINGER}) if off else frozenset(),
        )
    raise_alarm(record, trial.id, now - timedelta(minutes=5))
    [alarm] = record.alarms.active(trial.id)
    record.alarms.acknowledge(people.nurse, alarm.id, "Sat up; doctor told")
    raise_alarm(
        record,
        trial.id,
        now - timedelta(minutes=2),
        rule_id="pulse_low",
        message=f"Pulse 44 ({FAMILY})",
        priority=Priority.MEDIUM,
    )
    record.close()
    return {"instant": instant, "people": people, "trial": trial}


@pytest.fixture(scope="session")
def ward_written(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """The ward written once per test process; each test works on a copy."""
    data = tmp_path_factory.mktemp("alarm-review") / "data"
    return data, _write_world(data)


@pytest.fixture(scope="session")
def demo_written(ward_written: tuple[Path, dict[str, Any]]) -> tuple[Path, dict[str, Any]]:
    """The ward, and yesterday's overdose demo day recorded and finished, once per process."""
    from monitor.demo_day import record_demo_day

    data, world = ward_written
    demo = data.parent.parent / "alarm-review-demo" / "data"
    shutil.copytree(data, demo)
    record = TrialRecord.open(
        load_settings({"ITBMON_DATA_DIR": str(demo)}), clock=lambda: world["instant"]
    )
    try:
        summary = record_demo_day(record, scenario="overdose")
    finally:
        record.close()
    patient = summary.trial.patient
    return demo, {
        **world,
        "demo_trial": summary.trial,
        "demo_identifiers": (
            patient.name,
            patient.nhs_number,
            patient.hospital_number,
            f"{patient.nhs_number[:3]} {patient.nhs_number[3:6]} {patient.nhs_number[6:]}",
        ),
    }


def _open_copy(
    written: tuple[Path, dict[str, Any]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[dict[str, Any]]:
    """A copy of a written ward as the screens' record (``ITBMON_DATA_DIR``), opened on the
    clock it was written at."""
    from screens.shared import get_record

    source, world = written
    data = tmp_path / "data"
    shutil.copytree(source, data)
    monkeypatch.setenv("ITBMON_DATA_DIR", str(data))
    monkeypatch.delenv("ITBMON_DATABASE_URL", raising=False)
    get_record.clear()
    record = TrialRecord.open(load_settings(), clock=lambda: world["instant"])
    yield {**world, "record": record}
    record.close()


@pytest.fixture
def world(
    ward_written: tuple[Path, dict[str, Any]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[dict[str, Any]]:
    yield from _open_copy(ward_written, tmp_path, monkeypatch)


def open_page(record: TrialRecord, actor: Any) -> AppTest:
    at = open_at("alarm_review", actor)
    at.run()
    assert not at.exception
    if at.date_input:
        # From yesterday: the fixture's alarms are minutes old, also just after midnight.
        today = to_ward(record.store.now(), record.settings.ward_timezone).date()
        at.date_input(key="alarm_review_dates").set_value((today - timedelta(days=1), today))
        at.run()
        assert not at.exception
    return at


def charts(at: AppTest) -> list[dict[str, Any]]:
    return [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]


def everything_shown(at: AppTest) -> str:
    """All the text of the page (not the frame's alarm bar, the same on every page): its words,
    its tables' cells, its charts' figures."""
    words = [
        e.value
        for kind in ("title", "markdown", "caption", "subheader", "info", "error", "warning")
        for e in on_page(at, kind)
    ]
    words += [f"{m.label} {m.value}" for m in on_page(at, "metric")]
    words += [frame.value.to_csv() for frame in on_page(at, "dataframe")]
    words += [json.dumps(spec) for spec in charts(at)]
    return "\n".join(str(w) for w in words)


def table(at: AppTest, column: str) -> Any:
    [found] = [d.value for d in at.dataframe if column in d.value.columns]
    return found


@pytest.mark.parametrize("who", ["doctor", "cns", "admin"])
def test_the_figures_and_no_patient_identifier(world: dict[str, Any], who: str):
    at = open_page(world["record"], getattr(world["people"], who))
    assert [t.value for t in at.title] == ["Alarm review"]
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Raises"] == "2" and metrics["Annunciations"] == "2"
    assert metrics["Waiting now"] == "1" and metrics["Never acknowledged"] == "0"
    times = table(at, "Priority at raising").set_index("Priority at raising")
    assert times.loc["high", "Median"] == "5 min 00 s" == times.loc["high", "90th percentile"]
    assert times.loc["medium", "Median"] == "—" and times.loc["medium", "Waiting now"] == 1
    rules = table(at, "Rule")
    assert sorted(rules["Rule"]) == ["pulse_low", "spo2_low"]
    streams = table(at, "Device")
    assert list(streams["Device"]) == ["ble:AA:BB:CC:DD:EE:01"]
    assert list(streams["Bed"]) == [BED] and list(streams["Unusable"]) == ["10 s"]
    shown = everything_shown(at)
    # What is gathered holds the tables and the charts, so the check below can fail.
    assert "ble:AA:BB:CC:DD:EE:01" in shown and "&lt;b&gt;4B&lt;/b&gt;" in shown
    for identifier in IDENTIFIERS:
        assert identifier not in shown, identifier
    assert GIVEN not in shown.replace("Same", "")
    # The bed in the charts is text: escaped for Plotly, which reads a few tags.
    [beds] = [c for c in charts(at) if c["layout"]["title"]["text"] == "Per bed"]
    assert beds["data"][0]["x"] == ["&lt;b&gt;4B&lt;/b&gt;"]


@pytest.mark.parametrize("who", ["nurse", "physio"])
def test_other_roles_are_refused(world: dict[str, Any], who: str):
    at = open_page(world["record"], getattr(world["people"], who))
    assert turned_away(at)
    assert not at.dataframe and not at.metric and not at.get("plotly_chart")


def test_an_empty_range_shows_zeros_and_missing_marks(world: dict[str, Any]):
    record = world["record"]
    at = open_page(record, world["people"].doctor)
    today = to_ward(record.store.now(), record.settings.ward_timezone).date()
    at.date_input(key="alarm_review_dates").set_value(
        (today - timedelta(days=30), today - timedelta(days=29))
    )
    at.run()
    assert not at.exception
    assert {m.label: m.value for m in at.metric}["Raises"] == "0"
    times = table(at, "Priority at raising")
    assert set(times["Median"]) == {"—"} and set(times["90th percentile"]) == {"—"}
    captions = " ".join(c.value for c in at.caption)
    assert "no alarm sounded" in captions.lower()
    assert "No SpO2 or pulse reading was recorded" in captions


# ---------------------------------------------------------------------------- what if


@pytest.fixture
def demo(
    demo_written: tuple[Path, dict[str, Any]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[dict[str, Any]]:
    """The fixture's ward, and yesterday's overdose demo day recorded and finished."""
    yield from _open_copy(demo_written, tmp_path, monkeypatch)


def upload(at: AppTest, name: str, data: bytes) -> AppTest:
    at.file_uploader(key="what_if_candidate").set_value((name, data, "application/x-yaml"))
    at.run()
    assert not at.exception, at.exception
    return at


def test_a_lengthened_delay_lists_the_alarms_sounded_later_with_their_delay(
    demo: dict[str, Any],
):
    from monitor.what_if import what_if
    from rules.rule_set import default_rule_set, parse_rule_set
    from rules.what_if import Change
    from screens.what_if_view import duration_text

    record, trial = demo["record"], demo["demo_trial"]
    at = upload(
        open_page(record, demo["people"].doctor),
        "candidate.yaml",
        candidate_text(CRITICAL_DELAY).encode("utf-8"),
    )
    # What the command's replay finds, the page must list: every alarm sounded later.
    expected = what_if(
        record,
        demo["people"].doctor,
        default_rule_set(),
        parse_rule_set(candidate_text(CRITICAL_DELAY), "candidate.yaml"),
    )
    worse_expected = expected.comparison.differences(Change.NOT_AT_ALL, Change.LATER)
    later = [d for _, d in worse_expected if d.change is Change.LATER]
    assert later
    [worse] = [
        d.value
        for d in at.dataframe
        if "Delay" in d.value.columns and set(d.value["Change"]) <= {"LATER", "NOT AT ALL"}
    ]
    assert list(worse["Change"]) == [d.change.value.upper() for _, d in worse_expected]
    assert list(worse["Trial"]) == [trial.id] * len(worse_expected)
    assert set(worse["Bed"]) == {trial.bed}
    assert set(worse["Alarm (rule / level)"]) == {"spo2_low / critical_desaturation"}
    # Each later alarm with its delay, in seconds of the ward's clock.
    rows = worse[worse["Change"] == "LATER"]
    delays = [d.delay_s for d in later]
    assert all(delay is not None and delay >= 1 for delay in delays)
    assert list(rows["Delay"]) == [f"{duration_text(delay)} later" for delay in delays]
    zone = record.settings.ward_timezone
    assert list(rows["In force sounds it at"]) == [
        format_ward(d.in_force_at, zone, with_date=False) for d in later
    ]
    assert list(rows["Candidate sounds it at"]) == [
        format_ward(d.candidate_at, zone, with_date=False) for d in later
    ]
    assert set(worse[worse["Change"] == "NOT AT ALL"]["Delay"]) <= {"never sounds"}
    errors = " ".join(e.value for e in at.error)
    assert f"{len(worse_expected)} alarm" in errors and "later or not at all" in errors
    # Nothing added, and the figures side by side name both versions.
    assert any("adds no alarm" in c.value for c in at.caption)
    figures = table(at, "Raises, candidate")
    assert figures.iloc[0]["Rule"] == "all rules"
    assert "spo2_low" in set(figures["Rule"])
    # One day on the timeline: two lanes, the candidate's late alarms marked.
    [timeline] = [c for c in charts(at) if "candidate-1" in c["layout"]["title"]["text"]]
    lanes = {y for trace in timeline["data"] for y in trace["y"][0]}
    assert lanes == {"In force", "Candidate"}
    assert any(trace.get("name", "").startswith("in force sounds") for trace in timeline["data"])
    # The command's CSV and PDF, offered for download.
    assert {b.proto.label for b in at.get("download_button")} == {
        "Every figure and difference (CSV)",
        "Report (PDF, one page)",
    }
    # Audited as the command audits it, once for the replay (not again on a rerun).
    at.selectbox(key="what_if_day").set_value(trial.id)
    at.run()
    [view] = [
        e for e in record.audit.entries(action_prefix="view.what_if") if e.details["via"] == "page"
    ]  # the test's own replay above is the "cli" one
    assert view.username == demo["people"].doctor.username
    assert view.details["trials"] == [trial.id]
    assert view.details["candidate"] == "candidate-1" and view.details["via"] == "page"
    shown = everything_shown(at) + "\n".join(str(d.value.to_csv()) for d in at.dataframe)
    assert "critical_desaturation" in shown and str(trial.id) in shown
    for identifier in (*IDENTIFIERS, *demo["demo_identifiers"]):
        assert identifier not in shown, identifier


def test_a_broken_candidate_shows_check_configs_line_numbered_errors(
    demo: dict[str, Any],
    tmp_path: Path,
):
    import io

    from rules.__main__ import run_check_config
    from screens.markdown_text import md

    text = candidate_text(("limit: 131", "limit: fast"))
    broken = tmp_path / "broken.yaml"
    broken.write_text(text, encoding="utf-8")
    errors = io.StringIO()
    assert run_check_config(broken, io.StringIO(), errors) == 1
    expected = errors.getvalue().strip().replace(str(broken), "broken.yaml").splitlines()
    assert expected and all("broken.yaml: line " in line for line in expected)
    at = upload(open_page(demo["record"], demo["people"].cns), "broken.yaml", text.encode("utf-8"))
    [error] = [e.value for e in at.error]
    for line in expected:
        assert md(line) in error
    assert "line ?" not in error
    # Nothing replayed, nothing audited, nothing offered.
    assert not at.get("download_button") and not on_page(at, "selectbox")
    assert not demo["record"].audit.entries(action_prefix="view.what_if")


def test_a_file_that_is_not_utf8_or_too_big_is_refused(demo: dict[str, Any]):
    at = upload(
        open_page(demo["record"], demo["people"].doctor),
        "latin1.yaml",
        b"version: x\ndescription: caf\xe9\n",
    )
    [error] = [e.value for e in at.error]
    assert "line 2" in error and "UTF" in error
    at = upload(at, "big.yaml", b"#" * (257 * 1024))
    [error] = [e.value for e in at.error]
    assert "at most 256 kB" in error


def test_the_administrator_sees_the_burden_but_not_the_replay(demo: dict[str, Any]):
    at = open_page(demo["record"], demo["people"].admin)
    assert {m.label for m in at.metric} >= {"Raises", "Annunciations"}
    assert not at.file_uploader
    assert any("needs a clinical role" in i.value for i in at.info)
