"""Readings on their way to the record: batched, bounded, and kept while the database is away.

Readings wait here already checked and converted for the driver (``Readings.prepare``), so the
thread that writes a batch only runs the database. Alarm decisions never wait for this buffer
(the engine sees every reading first). If the
database is unavailable (SQLite locked, PostgreSQL restarting) readings wait here and are
written when it returns; past the bound the oldest are dropped and counted, so a technical
alarm can say how many.
"""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass, field

from observations.readings import PreparedReading


@dataclass
class ReadingBuffer:
    limit: int = 200_000
    dropped: int = 0
    dropped_by_trial: Counter[int] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        self._queue: deque[PreparedReading] = deque()

    def add(self, readings: list[PreparedReading]) -> None:
        self._queue.extend(readings)
        self._trim()

    def take(self, most: int) -> list[PreparedReading]:
        batch = []
        while self._queue and len(batch) < most:
            batch.append(self._queue.popleft())
        return batch

    def give_back(self, batch: list[PreparedReading]) -> None:
        """A failed write: the batch goes back in front, in order (subject to the bound)."""
        self._queue.extendleft(reversed(batch))
        self._trim()

    def _trim(self) -> None:
        while len(self._queue) > self.limit:
            oldest = self._queue.popleft()
            self.dropped += 1
            self.dropped_by_trial[oldest[0]] += 1  # a prepared reading starts with its trial

    def __len__(self) -> int:
        return len(self._queue)
