# ruff: noqa: F811  (pytest fixtures imported from tests/browser/seed.py)
"""Ward overview and the alarm panel it carries (AppTest on the page file)."""

from __future__ import annotations

from datetime import timedelta
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
    raise_alarm,
    record,
)
from tests.judgements import judge_as_the_monitor

ROOT = Path(__file__).resolve().parents[2]


def page(actor: object, name: str = "ward.py") -> AppTest:
    at = AppTest.from_file(str(ROOT / "pages" / name), default_timeout=60)
    at.session_state[ACTOR_KEY] = actor
    return at


def texts(at: AppTest) -> str:
    parts = [str(e.value) for kind in ("markdown", "error", "warning", "info", "success",
                                        "caption", "text") for e in getattr(at, kind)]
    parts += [str(m.value) for m in at.get("progress")]
    return "\n".join(parts)


def test_empty_ward_says_so_and_monitor_not_running(record: TrialRecord, people: People):
    at = page(people.nurse).run()
    assert not at.exception
    assert at.title[0].value == "Ward overview"
    assert "No trial is in monitoring" in texts(at)
    assert any("MONITOR NOT RUNNING" in e.value for e in at.error)


def test_tile_shows_values_identifiers_and_stale(record: TrialRecord, people: People):
    fresh = monitoring_trial(record, people)
    quiet = monitoring_trial(record, people, nhs="9000000009", mrn="H88", family="Quiet",
                             bed="5A", device="sim:steady?seed=2")
    now = record.store.now()
    add_vitals(record, fresh.id, now - timedelta(seconds=2), 97, 72)
    add_vitals(record, quiet.id, now - timedelta(seconds=95), 95, 64, device="sim:steady?seed=2")
    for trial in (fresh, quiet):
        judge_as_the_monitor(record, trial.id)  # the due times are the monitor's
    beat(record)
    at = page(people.nurse).run()
    assert not at.exception
    shown = texts(at)
    assert not any("MONITOR NOT RUNNING" in e.value for e in at.error)
    # Two identifiers per patient, names as text.
    assert "JONES, Sam · NHS 943 476 5919 · MRN H77" in shown
    assert "QUIET, Sam · NHS 900 000 0009" in shown
    assert "97 (2 s ago)" in shown or "97 (3 s ago)" in shown
    # The silent oximeter is STALE with its age, never shown as current.
    assert "STALE**] (was 95, 1 min 3" in shown
    assert "NEWS2 — (no complete set yet)" in shown
    assert "Observations OVERDUE since" in shown  # +15 min set not recorded


def test_most_urgent_first_and_alarm_in_tile(record: TrialRecord, people: People):
    calm = monitoring_trial(record, people, bed="1A")
    urgent = monitoring_trial(record, people, nhs="9000000009", mrn="H88", family="Urgent",
                              bed="9Z", device="sim:steady?seed=2")
    now = record.store.now()
    add_vitals(record, calm.id, now, 98, 70)
    raise_alarm(record, urgent.id, now - timedelta(seconds=30))
    beat(record)
    at = page(people.nurse).run()
    assert not at.exception
    beds = [m.value for m in at.markdown if str(m.value).startswith("#### Bed")]
    assert beds == ["#### Bed 9Z", "#### Bed 1A"]
    assert any("HIGH: Critical desaturation" in e.value for e in at.error)


def test_sixteen_beds(record: TrialRecord, people: People):
    numbers = ["9434765919", "9000000009", "9000000017", "9000000025", "9000000033",
               "9000000041", "9000000068", "9000000076", "9000000084", "9000000092",
               "9000000106", "9000000114", "9000000122", "9000000130", "9000000149",
               "9000000157"]
    now = record.store.now()
    for index, nhs in enumerate(numbers):
        device = f"sim:steady?seed={index}"
        trial = monitoring_trial(record, people, nhs=nhs, mrn=f"M{index}", bed=f"B{index:02d}",
                                 device=device)
        add_vitals(record, trial.id, now, 96, 70, device=device)
    at = page(people.nurse).run()
    assert not at.exception
    beds = [m.value for m in at.markdown if str(m.value).startswith("#### Bed")]
    assert len(beds) == 16
    assert "16 trial(s) in monitoring" in texts(at)


def test_admin_is_turned_away(record: TrialRecord, people: People):
    at = page(people.admin).run()
    assert [e.value for e in at.error] == ["Your role does not give access to this page."]
