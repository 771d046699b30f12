"""The monitor's scenarios run on the embedded default (SQLite); tests/observations runs the
record's API on PostgreSQL too."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from observations.database import create_record_engine, migrate
from observations.record import TrialRecord
from observations.settings import Settings


@pytest.fixture
def record(tmp_path: Path) -> Iterator[TrialRecord]:
    url = f"sqlite:///{tmp_path / 'record.sqlite3'}"
    engine = create_record_engine(url)
    migrate(engine)
    trial_record = TrialRecord(engine, Settings(tmp_path, url, ZoneInfo("Europe/London")))
    yield trial_record
    trial_record.close()
