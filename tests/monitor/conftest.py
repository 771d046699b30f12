"""The monitor's scenarios run on the embedded default (SQLite) and on PostgreSQL (a ward), on a
clock the test controls: a ``FakeClock`` moved by hand, or a ``LoopClock`` made of the event
loop's time, which looptime fast-forwards whenever the monitor only waits."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from observations.database import create_record_engine, migrate
from observations.record import TrialRecord
from observations.settings import Settings
from observations.store import Clock, utc_now
from tests.observations.conftest import FakeClock


def open_record(
    url: str, data_dir: Path, busy_timeout_s: float = 10.0, clock: Clock = utc_now
) -> TrialRecord:
    engine = create_record_engine(url, busy_timeout_s=busy_timeout_s)
    migrate(engine)
    return TrialRecord(engine, Settings(data_dir, url, ZoneInfo("Europe/London")), clock)


@pytest.fixture
def record(database_url: str, tmp_path: Path) -> Iterator[TrialRecord]:
    trial_record = open_record(database_url, tmp_path)
    yield trial_record
    trial_record.close()


class LoopClock:
    """The ward's clock made of the test's event-loop time.

    Under ``pytest.mark.looptime`` the loop's waits (the monitor's sleeps, flushes, timers, a
    simulator paced by the trial's clock) take no real time, while work done in threads (the
    record's reads, the writer process) moves it at the real pace. The record, the service and
    the simulator all read this one clock, so an hour of a trial day passes in about the
    time the monitor needs to process it. Until ``follow`` it stands at its start.
    """

    def __init__(self, start: datetime) -> None:
        self.start = start
        self._loop: asyncio.AbstractEventLoop | None = None
        self._zero = 0.0

    def follow(self) -> None:
        """From now on, move with the running loop's (fast-forwarded) time."""
        loop = asyncio.get_running_loop()
        self._zero = loop.time()
        self._loop = loop

    def __call__(self) -> datetime:
        # Read from the record's threads too: the loop's time is a plain number.
        if self._loop is None:
            return self.start
        return self.start + timedelta(seconds=self._loop.time() - self._zero)


@pytest.fixture
def loop_ward(database_url: str, tmp_path: Path) -> Iterator[tuple[TrialRecord, LoopClock]]:
    """A record on a ``LoopClock`` starting at the wall clock's present, for a monitor on the
    same clock: tests marked ``looptime`` call ``clock.follow()`` first."""
    clock = LoopClock(datetime.now(UTC).replace(microsecond=0))
    record = open_record(database_url, tmp_path, clock=clock)
    yield record, clock
    record.close()


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
