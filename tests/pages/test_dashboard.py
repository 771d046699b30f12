"""The dashboard starts on an empty data directory, creates the record, and lists trials."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from observations.record import TrialRecord
from observations.settings import load_settings
from observations.users import actor_of
from vocabulary import Role

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("ITBMON_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("ITBMON_DATABASE_URL", raising=False)
    from pages.shared import get_record

    get_record.clear()
    return tmp_path / "data"


def test_first_start_creates_the_database(data_dir: Path):
    app = AppTest.from_file(str(ROOT / "dashboard.py")).run(timeout=60)
    assert not app.exception
    assert (data_dir / "itbmon.sqlite3").exists()
    assert [i.value for i in app.info] == ["No trials in the record yet."]


def test_trials_show_two_identifiers(data_dir: Path):
    record = TrialRecord.open(load_settings())
    admin = actor_of(record.users.create(None, "admin", "Admin", {Role.ADMIN}))
    cns = actor_of(record.users.create(admin, "cns", "Nurse Specialist", {Role.NURSE_SPECIALIST}))
    patient = record.patients.register(
        cns,
        {
            "nhs_number": "9434765919",
            "hospital_number": "H77",
            "family_name": "Jones",
            "given_name": "Sam",
            "date_of_birth": "1980-01-01",
        },
    )
    record.trials.plan(cns, patient.id, 50, bed="4B")
    record.close()
    app = AppTest.from_file(str(ROOT / "dashboard.py")).run(timeout=60)
    assert not app.exception
    table = app.dataframe[0].value
    row = table.iloc[0]
    assert row["NHS number"] == "943 476 5919" and row["Hospital number"] == "H77"
    assert row["Patient"] == "JONES, Sam" and row["Injected"] == "not yet"
