"""Store fixtures: every store test runs on SQLite and, when a server is given, on PostgreSQL.

``.ci/run`` starts a real PostgreSQL server and sets ITBMON_TEST_POSTGRES_URL (an admin URL);
each test gets a fresh database created from it and dropped afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from devices.sources import source_problem
from observations.database import create_record_engine, migrate
from observations.record import TrialRecord
from observations.settings import Settings
from observations.store import Actor
from tests.accounts import sign_in_as
from vocabulary import Role

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


@pytest.fixture
def record(database_url: str, clock: FakeClock, tmp_path: Path) -> Iterator[TrialRecord]:
    engine = create_record_engine(database_url)
    migrate(engine)
    settings = Settings(data_dir=tmp_path, database_url=database_url, ward_timezone=LONDON)
    # As the dashboard and the monitor open it: with the devices' check of a source text.
    trial_record = TrialRecord(engine, settings, clock, device_sources=source_problem)
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
    def person(name: str, role: Role) -> Actor:
        return sign_in_as(record, name, role)

    return Staff(
        admin=person("admin", Role.ADMIN),
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
