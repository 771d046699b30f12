"""The monitor's scenarios run on the embedded default (SQLite) and on PostgreSQL (a ward), on
the wall clock: the accelerated simulator catches up with it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from observations.database import create_record_engine, migrate
from observations.record import TrialRecord
from observations.settings import Settings
from tests.observations.conftest import FakeClock


def open_record(url: str, data_dir: Path, busy_timeout_s: float = 10.0) -> TrialRecord:
    engine = create_record_engine(url, busy_timeout_s=busy_timeout_s)
    migrate(engine)
    return TrialRecord(engine, Settings(data_dir, url, ZoneInfo("Europe/London")))


@pytest.fixture
def record(database_url: str, tmp_path: Path) -> Iterator[TrialRecord]:
    trial_record = open_record(database_url, tmp_path)
    yield trial_record
    trial_record.close()


@pytest.fixture
def ward(database_url: str, tmp_path: Path) -> Iterator[tuple[TrialRecord, FakeClock]]:
    """A record on the test's clock (three hours ago, moved by the test), for the monitor to
    share: the ward's time is the test's, never the wall clock's."""
    engine = create_record_engine(database_url)
    migrate(engine)
    clock = FakeClock(datetime.now(UTC).replace(microsecond=0) - timedelta(hours=3))
    record = TrialRecord(engine, Settings(tmp_path, database_url, ZoneInfo("Europe/London")), clock)
    yield record, clock
    record.close()
