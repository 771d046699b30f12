"""The app as a browser opens it, for the page tests: dashboard.py at a page's address."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from observations.record import TrialRecord
from observations.store import Actor
from screens.alarm_bar import ALARM_BAR_KEY
from screens.shared import ACTOR_KEY, get_record

ROOT = Path(__file__).resolve().parents[2]


def open_at(
    page: str | None, actor: Actor | None = None, *, monitor_running: bool = True
) -> AppTest:
    """dashboard.py opened at the address of ``page`` ("ward", "review"; None: the app's own
    address, which opens the person's first page), signed in as ``actor`` when one is given;
    not yet run. A page's address is its module's name
    (dashboard.Screen.url_path): before its first run AppTest names the page to open by that
    file, as a browser names it by the address.

    ``monitor_running``: a monitor service has just reported, as on a working ward, so the
    frame's alarm bar does not show the technical alarm of a missing monitor."""
    if monitor_running:
        get_record().services.beat("test-monitor", "embedded", "ward-pc", os.getpid())
    at = AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=60)
    if actor is not None:
        at.session_state[ACTOR_KEY] = actor
    return at if page is None else at.switch_page(f"screens/{page}.py")


def ward_with_patient(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """A fresh embedded record, the one the screens open (``ITBMON_DATA_DIR`` under
    ``tmp_path``), with one local account per role (password "ward seven tea") and one
    registered patient: keys record, admin, doctor, cns, nurse, physio, patient. The caller
    closes the record."""
    from observations.settings import load_settings
    from screens.shared import get_record
    from tests.accounts import local_person
    from vocabulary import Role

    monkeypatch.setenv("ITBMON_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("ITBMON_DATABASE_URL", raising=False)
    get_record.clear()
    record = TrialRecord.open(load_settings())
    admin = local_person(record, None, "admin", "Admin", Role.ADMIN)
    doctor = local_person(record, admin, "doc", "Dr Doctor", Role.DOCTOR)
    people = {
        "record": record,
        "admin": admin,
        "doctor": doctor,
        "cns": local_person(record, admin, "cns", "Nurse Spec", Role.NURSE_SPECIALIST),
        "nurse": local_person(record, admin, "nurse", "Nurse", Role.NURSE),
        "physio": local_person(record, admin, "physio", "Physio", Role.PHYSIOTHERAPIST),
    }
    people["patient"] = record.patients.register(
        doctor,
        {
            "nhs_number": "9434765919",
            "hospital_number": "H77",
            "family_name": "Jones",
            "given_name": "Sam",
            "date_of_birth": "1980-01-01",
        },
    )
    return people


def turned_away(at: AppTest) -> bool:
    """The frame's answer to a page not among the person's: its name said, the person's pages
    offered as links, nothing of the page drawn (dashboard.PAGES decides who sees which)."""
    return (
        [t.value for t in at.title] == ["Choose a page"]
        and any("is not among the pages of your role" in c.value for c in at.caption)
        and bool(at.get("page_link"))
    )


def on_page(at: AppTest, kind: str) -> list[Any]:
    """The elements of ``kind`` ("button", "selectbox", "error") the page drew, not the
    frame's: neither its alarm bar (every page has it) nor the sidebar."""
    try:
        bar = {id(node) for node in at.main.get_by_key(ALARM_BAR_KEY)}
    except KeyError:  # no bar: nobody is signed in
        bar = set()
    return [element for element in at.main.get(kind) if id(element) not in bar]


class WardClock:
    """The ward's clock for a test: the wall clock moved on by the test (never waited for)."""

    def __init__(self) -> None:
        self.ahead = timedelta(0)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.ahead

    def advance(self, seconds: float) -> None:
        self.ahead += timedelta(seconds=seconds)


@pytest.fixture
def ward_clock(monkeypatch: pytest.MonkeyPatch) -> WardClock:
    """Every record opened in the test (the test's and the app's) reads this clock: the clock
    TrialRecord.open takes. Ask for it before the record fixture."""
    clock = WardClock()
    opened = TrialRecord.open.__func__  # type: ignore[attr-defined]

    def open_on_the_ward_clock(cls: type[TrialRecord], *args: Any, **kwargs: Any) -> TrialRecord:
        kwargs.setdefault("clock", clock)
        return opened(cls, *args, **kwargs)

    monkeypatch.setattr(TrialRecord, "open", classmethod(open_on_the_ward_clock))
    get_record.clear()
    return clock
