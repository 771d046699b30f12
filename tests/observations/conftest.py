"""Store fixtures: every store test runs on SQLite and, when a server is given, on PostgreSQL.

``.ci/run`` starts a real PostgreSQL server and sets ITBMON_TEST_POSTGRES_URL (an admin URL);
each test gets a fresh database created from it and dropped afterwards.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from observations.database import create_record_engine, migrate
from observations.record import TrialRecord
from observations.settings import Settings
from observations.store import Actor
from observations.users import actor_of
from vocabulary import Role

POSTGRES_URL = os.environ.get("ITBMON_TEST_POSTGRES_URL", "")
POSTGRES_REQUIRED = os.environ.get("ITBMON_REQUIRE_POSTGRES") == "1"
LONDON = ZoneInfo("Europe/London")


@dataclass
class FakeClock:
    """The ward's clock under the test's control (UTC)."""

    now: datetime = field(default_factory=lambda: datetime(2026, 11, 20, 9, 0, tzinfo=UTC))

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += timedelta(**kwargs)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def _postgres_database() -> Iterator[str]:
    if not POSTGRES_URL:
        if POSTGRES_REQUIRED:
            pytest.fail("ITBMON_REQUIRE_POSTGRES=1 but ITBMON_TEST_POSTGRES_URL is not set")
        pytest.skip("no PostgreSQL server given (ITBMON_TEST_POSTGRES_URL); .ci/run starts one")
    name = f"itbmon_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'record.sqlite3'}"
    else:
        yield from _postgres_database()


@pytest.fixture
def record(database_url: str, clock: FakeClock, tmp_path: Path) -> Iterator[TrialRecord]:
    engine = create_record_engine(database_url)
    migrate(engine)
    settings = Settings(data_dir=tmp_path, database_url=database_url, ward_timezone=LONDON)
    trial_record = TrialRecord(engine, settings, clock)
    yield trial_record
    trial_record.close()


@dataclass(frozen=True)
class Staff:
    admin: Actor
    doctor: Actor
    nurse: Actor
    specialist: Actor
    physio: Actor
    service: Actor


@pytest.fixture
def staff(record: TrialRecord) -> Staff:
    admin = actor_of(record.users.create(None, "admin", "Ada Admin", {Role.ADMIN}))

    def person(name: str, role: Role) -> Actor:
        return actor_of(record.users.create(admin, name, name.title(), {role}))

    return Staff(
        admin=admin,
        doctor=person("dr.jones", Role.DOCTOR),
        nurse=person("nurse.patel", Role.NURSE),
        specialist=person("cns.okafor", Role.NURSE_SPECIALIST),
        physio=person("physio.kim", Role.PHYSIOTHERAPIST),
        service=record.users.service_actor(),
    )


# 943 476 5919 is the NHS's published example of a valid number; 999 series are test numbers.
VALID_NHS = "943 476 5919"
TEST_NHS = "9990000026"


def patient_details(**changes: object) -> dict[str, object]:
    details: dict[str, object] = {
        "nhs_number": VALID_NHS,
        "hospital_number": "h1234567",
        "family_name": "Smith",
        "given_name": "Alex",
        "date_of_birth": "1971-03-02",
    }
    details.update(changes)
    return details
