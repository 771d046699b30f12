"""The alarm review page: the ward's alarm figures for doctors, nurse specialists and the
administrator, with no patient identifier on it; refused to other roles."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from observations.record import TrialRecord
from observations.settings import load_settings
from observations.ward_time import to_ward
from pages.shared import ACTOR_KEY
from tests.accounts import sign_in_as
from tests.browser.seed import People, add_vitals, monitoring_trial, raise_alarm
from vocabulary import Priority, QualityFlag, Role

ROOT = Path(__file__).resolve().parents[2]
PAGE = str(ROOT / "pages" / "alarm_review.py")
# The patient's identifiers: none may appear anywhere on the page.
NHS, MRN, FAMILY, GIVEN = "9434765919", "H7Q7", "Quixote", "Sam"
IDENTIFIERS = (NHS, "943 476 5919", MRN, FAMILY, FAMILY.upper(), "01 Jan 1980", "1980-01-01")
BED = "<b>4B</b>"  # typed by a person: data, never markup, in the charts too


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    monkeypatch.setenv("ITBMON_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("ITBMON_DATABASE_URL", raising=False)
    from pages.shared import get_record

    get_record.clear()
    record = TrialRecord.open(load_settings())
    people = People(*(sign_in_as(record, name, role) for name, role in (
        ("admin", Role.ADMIN), ("nurse", Role.NURSE), ("cns", Role.NURSE_SPECIALIST),
        ("doctor", Role.DOCTOR), ("physio", Role.PHYSIOTHERAPIST))))
    trial = monitoring_trial(record, people, nhs=NHS, mrn=MRN, family=FAMILY, bed=BED,
                             minutes_ago=30, device="ble:AA:BB:CC:DD:EE:01")
    now = record.store.now()
    for second in range(0, 60):
        off = 20 <= second < 30
        add_vitals(record, trial.id, now - timedelta(minutes=10, seconds=-second),
                   None if off else 97.0, None if off else 70.0,
                   device="ble:AA:BB:CC:DD:EE:01",
                   flags=frozenset({QualityFlag.NO_FINGER}) if off else frozenset())
    raise_alarm(record, trial.id, now - timedelta(minutes=5))
    [alarm] = record.alarms.active(trial.id)
    record.alarms.acknowledge(people.nurse, alarm.id, "Sat up; doctor told")
    raise_alarm(record, trial.id, now - timedelta(minutes=2), rule_id="pulse_low",
                message=f"Pulse 44 ({FAMILY})", priority=Priority.MEDIUM)
    yield {"record": record, "people": people, "trial": trial}
    record.close()


def open_page(record: TrialRecord, actor: Any) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.session_state[ACTOR_KEY] = actor
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
    """All the text of the page: its words, its tables' cells, its charts' figures."""
    words = [e.value for kind in ("title", "markdown", "caption", "subheader", "info", "error",
                                  "warning") for e in at.get(kind)]
    words += [f"{m.label} {m.value}" for m in at.metric]
    words += [frame.value.to_csv() for frame in at.dataframe]
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
    assert [e.value for e in at.error] == ["Your role does not give access to this page."]
    assert not at.dataframe and not at.metric and not at.get("plotly_chart")


def test_an_empty_range_shows_zeros_and_missing_marks(world: dict[str, Any]):
    record = world["record"]
    at = open_page(record, world["people"].doctor)
    today = to_ward(record.store.now(), record.settings.ward_timezone).date()
    at.date_input(key="alarm_review_dates").set_value(
        (today - timedelta(days=30), today - timedelta(days=29)))
    at.run()
    assert not at.exception
    assert {m.label: m.value for m in at.metric}["Raises"] == "0"
    times = table(at, "Priority at raising")
    assert set(times["Median"]) == {"—"} and set(times["90th percentile"]) == {"—"}
    captions = " ".join(c.value for c in at.caption)
    assert "no alarm sounded" in captions.lower()
    assert "No SpO2 or pulse reading was recorded" in captions

