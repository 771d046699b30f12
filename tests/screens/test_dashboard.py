"""The dashboard as a person meets it: first start, sign-in, role-filtered pages, idle sign-out."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from observations.record import TrialRecord
from observations.settings import load_settings
from screens.shared import ACTOR_KEY, LAST_SEEN_KEY, LOCKED_KEY
from tests.accounts import local_person
from tests.screens.apps import open_at, turned_away
from vocabulary import Role

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "ward seven tea"


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("ITBMON_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("ITBMON_EMBEDDED_MONITOR", "0")  # tests/monitor covers the service
    monkeypatch.delenv("ITBMON_DATABASE_URL", raising=False)
    from screens.shared import get_record

    get_record.clear()
    return tmp_path / "data"


@pytest.fixture
def people(data_dir: Path) -> dict[str, object]:
    record = TrialRecord.open(load_settings())
    admin = local_person(record, None, "admin", "Admin", Role.ADMIN)
    cns = local_person(record, admin, "cns", "Nurse Spec", Role.NURSE_SPECIALIST)
    nurse = local_person(record, admin, "nurse", "Nurse", Role.NURSE)
    patient = record.patients.register(
        cns,
        {
            "nhs_number": "9434765919",
            "hospital_number": "H77",
            "family_name": "<script>alert('x')</script>",
            "given_name": "Sam",
            "date_of_birth": "1980-01-01",
        },
    )
    record.trials.plan(cns, patient.id, 50, bed="4B")
    record.close()
    return {"admin": admin, "nurse": nurse, "cns": cns}


def app() -> AppTest:
    return AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=60)


def test_first_start_creates_the_database_and_asks_for_an_admin(data_dir: Path):
    at = app().run()
    assert not at.exception
    assert (data_dir / "itbmon.sqlite3").exists()
    assert "Create the first administrator" in [s.value for s in at.subheader]
    at.text_input[0].input("boss")
    at.text_input[1].input("Boss Person")
    at.text_input[2].input(PASSWORD)
    at.text_input[3].input(PASSWORD)
    at.button[0].click().run()
    assert not at.exception
    assert at.title[0].value == "Accounts"
    assert at.session_state[ACTOR_KEY].username == "boss"


def test_no_patient_data_before_sign_in(people: dict):
    at = app().run()
    assert not at.exception
    assert [s.value for s in at.subheader] == ["Sign in"]
    assert not at.dataframe
    everything = " ".join(str(e.value) for e in at.markdown) + str(at.main)
    assert "9434765919" not in everything and "943 476 5919" not in everything


def test_wrong_password_then_sign_in_shows_trials(people: dict):
    at = app().run()
    at.text_input[0].input("nurse")
    at.text_input[1].input("not the password")
    at.button[0].click().run()
    assert [e.value for e in at.error] == ["That username and password do not match."]
    at.text_input[1].input(PASSWORD)
    at.button[0].click().run()
    assert not at.exception
    assert [s.value for s in at.subheader] != ["Sign in"]
    at = open_at("trials", people["nurse"]).run()
    row = at.dataframe[0].value.iloc[0]
    assert row["NHS number"] == "943 476 5919" and row["Hospital number"] == "H77"
    # Markup in a name is data, shown as text in the table, never run.
    assert row["Patient"] == "<SCRIPT>ALERT('X')</SCRIPT>, Sam"


@pytest.mark.parametrize("page", ["accounts", "audit"])
def test_nurse_navigation_has_no_admin_pages(people: dict, page: str):
    # Not in the nurse's menu; reached by its address, the page is not run at all.
    at = open_at(page, people["nurse"]).run()
    assert not at.exception
    assert turned_away(at)
    assert not at.dataframe
    links = [e.proto.label for e in at.get("page_link")]
    assert "Ward overview" in links and "Accounts" not in links


PAGE_MODULES = sorted(
    path.stem
    for path in (ROOT / "screens").glob("*.py")
    if "\ndef render(" in path.read_text(encoding="utf-8")
)


@pytest.mark.parametrize("module", PAGE_MODULES)
def test_a_page_module_run_by_itself_draws_nothing(people: dict, module: str):
    """A page is its render function, called by dashboard.py with the record and the signed-in
    person: loading its module (even run as a script) draws nothing and reads no record."""
    at = AppTest.from_file(str(ROOT / "screens" / f"{module}.py"), default_timeout=60).run()
    assert not at.exception
    assert not at.main.children and not at.sidebar.children


def test_admin_sees_accounts_but_not_patients(people: dict):
    at = app()
    at.session_state[ACTOR_KEY] = people["admin"]
    at.run()
    assert at.title[0].value == "Accounts"
    at = open_at("trials", people["admin"]).run()
    assert turned_away(at) and not at.dataframe


def test_audit_page_filters_and_exports(people: dict):
    at = open_at("audit", people["admin"]).run()
    assert not at.exception
    at.text_input[2].input("patient.").run()
    table = at.dataframe[0].value
    assert list(table["action"]) == ["patient.register"]
    assert at.get("download_button")


def test_idle_session_is_locked_not_signed_out(people: dict):
    at = app()
    at.session_state[ACTOR_KEY] = people["nurse"]
    at.session_state[LAST_SEEN_KEY] = time.monotonic() - 16 * 60
    at.run()
    assert at.title[0].value == "Screen locked"
    assert at.session_state[LOCKED_KEY] and at.session_state[ACTOR_KEY] == people["nurse"]
    assert not at.dataframe and "943 476 5919" not in str(at.main)


def test_signing_out_keeps_the_page_and_the_next_person_signs_in_there(people: dict):
    at = open_at("trials", people["nurse"]).run()
    at.sidebar.button[0].click().run()  # Sign out
    assert [s.value for s in at.subheader] == ["Sign in"]
    assert [i.value for i in at.info] == ["You have signed out."]
    assert not at.dataframe
    at.text_input[0].input("nurse")
    at.text_input[1].input(PASSWORD)
    at.button[0].click().run()
    assert at.title[0].value == "Trials" and at.dataframe  # the same page, signed in again


def test_a_page_address_opened_before_sign_in_asks_for_it_then_opens_the_page(people: dict):
    """A ward screen reconnecting to a restarted server at a page's address: the sign-in, no
    patient data, then the page of that address (no pages/ directory beside dashboard.py, so
    Streamlit never runs a page's module alone, without the sign-in)."""
    at = open_at("trials").run()
    assert [s.value for s in at.subheader] == ["Sign in"]
    assert not at.dataframe and "943 476 5919" not in str(at.main)
    at.text_input[0].input("nurse")
    at.text_input[1].input(PASSWORD)
    at.button[0].click().run()
    assert at.title[0].value == "Trials" and at.dataframe
    assert not (ROOT / "pages").exists()


def test_a_disabled_account_is_signed_out_at_its_next_run(people: dict):
    """The screen holds only its sign-in: the administrator disabling the nurse ends it, and
    the nurse's next run (a click, a refresh) is the sign-in screen, with the reason."""
    at = open_at("trials", people["nurse"]).run()
    assert at.dataframe
    record = TrialRecord.open(load_settings())
    record.users.change(people["admin"], "nurse", active=False)
    record.close()
    at.run()
    assert [s.value for s in at.subheader] == ["Sign in"]
    assert "Your sign-in has ended" in at.info[0].value
    assert not at.dataframe and "943 476 5919" not in str(at.main)


def test_a_made_up_actor_in_the_session_is_not_signed_in(people: dict):
    from observations.store import Actor

    at = app()
    nurse = people["nurse"]
    at.session_state[ACTOR_KEY] = Actor(nurse.user_id, "nurse", frozenset({Role.DOCTOR}))
    at.run()
    assert [s.value for s in at.subheader] == ["Sign in"]
    assert not at.dataframe


def test_the_admins_audit_page_withholds_clinical_details(people: dict):
    at = open_at("audit", people["admin"]).run()
    table = at.dataframe[0].value
    registered = table[table["action"] == "patient.register"]
    assert len(registered) == 1
    assert "9434765919" not in table.to_csv() and "SCRIPT" not in table.to_csv().upper()
    assert any("clinical details are withheld" in c.value for c in at.caption)
