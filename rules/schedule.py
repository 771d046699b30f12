"""Observation schedule after the injection.

Due times count from the injection, as the rule file's `schedule` lists them
(rules/default_rules.yaml), then every `then_every_min` until the window is closed; the NEWS2
minimum frequency (RCP 2017) brings the next one forward. Meeting a due time:

- a set in (previous due time, due time] meets that due time; a set exactly at a due time
  counts for that due time only (it is not in the next one's window);
- a late set meets the overdue one instead: a set after an unmet due time meets the latest due
  time before it. Older unmet due times stay missed. One set meets one due time.

Sets count at the time they were measured, whatever order they are typed in: a set typed late,
measured before sets already recorded, makes the schedule work its due times out again from
every set in measured order, so the answer never depends on when a set was typed.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from rules.rule_set import Schedule


class DueStatus(StrEnum):
    MET = "met"  # recorded on time
    LATE = "late"  # recorded after its due time
    MISSED = "missed"  # passed unmet
    DUE = "due"  # in the future, not yet met


@dataclass(frozen=True)
class DueTime:
    time: datetime
    status: DueStatus
    met_at: datetime | None
    source: str  # "schedule" or "news2"


@dataclass
class _Due:
    time: datetime
    source: str
    met_at: datetime | None = None


class ObservationSchedule:
    """Pure bookkeeping of due times; the engine turns it into `obs_overdue`."""

    def __init__(self, config: Schedule) -> None:
        self._config = config
        self._start: datetime | None = None
        self._closed_at: datetime | None = None
        self._due: list[_Due] = []
        self._times: list[datetime] = []  # mirror of _due times, for bisect
        self._generated_offsets = 0  # scheduled offsets generated so far
        self._last_set: datetime | None = None
        self._next: datetime | None = None
        # Sets and NEWS2 scores as (measured time, band or None for a set), in measured order.
        self._history: list[tuple[datetime, str | None]] = []

    # --- setup -----------------------------------------------------------------------------
    def start(self, injection_time: datetime) -> None:
        if self._start is not None:
            raise ValueError("the schedule has already started (one injection per trial)")
        self._start = injection_time
        self._refresh_next()

    def close(self, time: datetime) -> None:
        """The window is closed: nothing is due after `time`."""
        self._ensure_after(time)
        self._closed_at = time
        while self._due and self._due[-1].time > time:
            self._due.pop()
            self._times.pop()
        self._refresh_next()

    @property
    def started(self) -> bool:
        return self._start is not None

    # --- generation ----------------------------------------------------------------------
    def _scheduled_offset(self, n: int) -> timedelta:
        offsets = self._config.due_after_injection_min
        if n < len(offsets):
            return timedelta(minutes=offsets[n])
        extra = n - len(offsets) + 1
        return timedelta(minutes=offsets[-1] + extra * self._config.then_every_min)

    def _ensure_after(self, time: datetime) -> None:
        """Generate scheduled due times until one lies strictly after `time`."""
        while not (self._generated_offsets and self._last_scheduled() > time):
            if not self._generate_one():
                return

    def _generate_one(self) -> bool:
        """Add the next scheduled due time; False once the window is closed."""
        if self._start is None or self._closed_at is not None:
            return False
        due = self._start + self._scheduled_offset(self._generated_offsets)
        self._generated_offsets += 1
        self._insert(due, "schedule")
        return True

    def _last_scheduled(self) -> datetime:
        assert self._start is not None
        return self._start + self._scheduled_offset(self._generated_offsets - 1)

    def _insert(self, time: datetime, source: str) -> None:
        index = bisect.bisect_left(self._times, time)
        if index < len(self._times) and self._times[index] == time:
            return  # already due then
        self._times.insert(index, time)
        self._due.insert(index, _Due(time, source))

    def _refresh_next(self) -> None:
        """Next due = the earliest unmet due time after the last set (it may be overdue)."""
        self._next = None
        if self._start is None:
            return
        after = self._last_set if self._last_set is not None else self._start
        self._ensure_after(after)
        while True:
            index = bisect.bisect_right(self._times, after)
            for due in self._due[index:]:
                if due.met_at is None:
                    self._next = due.time
                    return
            if not self._generate_one():
                return

    # --- recording -------------------------------------------------------------------------
    def record_set(self, time: datetime) -> datetime | None:
        """A set measured at `time`; returns the due time it meets, if any."""
        if self._start is None or time <= self._start:
            return None
        if self._out_of_order(time, None):
            return self._met_by(time)
        return self._record_set(time)

    def _record_set(self, time: datetime) -> datetime | None:
        self._ensure_after(time)
        index = bisect.bisect_left(self._times, time)  # first due time >= time
        met: _Due | None = None
        if index > 0 and self._due[index - 1].met_at is None:
            met = self._due[index - 1]  # a late set meets the overdue one
        elif index < len(self._due) and self._due[index].met_at is None:
            met = self._due[index]  # else the due time whose window it is in
        if met is not None:
            met.met_at = time
        self._last_set = time if self._last_set is None else max(self._last_set, time)
        self._refresh_next()
        return met.time if met is not None else None

    def _out_of_order(self, time: datetime, band: str | None) -> bool:
        """Keep the history; True when it arrived out of measured order and the due times were
        worked out again from all of it."""
        entry = (time, band)
        late = bool(self._history) and self._key(entry) < self._key(self._history[-1])
        bisect.insort(self._history, entry, key=self._key)
        if late:
            self._recompute()
        return late

    @staticmethod
    def _key(entry: tuple[datetime, str | None]) -> tuple[datetime, int]:
        return entry[0], 0 if entry[1] is None else 1  # a set before its own score

    def _recompute(self) -> None:
        closed = self._closed_at
        self._closed_at = None
        self._due, self._times, self._generated_offsets = [], [], 0
        self._last_set = self._next = None
        self._refresh_next()  # as before the first set: a score may come first
        for time, band in self._history:
            if band is None:
                self._record_set(time)
            else:
                self._news2_scored(time, band)
        if closed is not None:
            self.close(closed)
        else:
            self._refresh_next()

    def _met_by(self, time: datetime) -> datetime | None:
        return next((d.time for d in self._due if d.met_at == time), None)

    def news2_scored(self, time: datetime, band: str) -> datetime | None:
        """After a scored set, NEWS2 may require the next set sooner; returns the added due time."""
        if self._start is None or time < self._start:
            return None
        if self._out_of_order(time, band):
            return None
        return self._news2_scored(time, band)

    def _news2_scored(self, time: datetime, band: str) -> datetime | None:
        within = self._config.news2_next_due_within_min.get(band)  # type: ignore[call-overload]
        if within is None or self._start is None or time < self._start:
            return None
        candidate = time + timedelta(minutes=within)
        if self._closed_at is not None and candidate > self._closed_at:
            return None
        if self._next is not None and candidate >= self._next:
            return None
        self._insert(candidate, "news2")
        self._refresh_next()
        return candidate

    # --- queries ---------------------------------------------------------------------------
    @property
    def next_due(self) -> datetime | None:
        return self._next

    @property
    def last_set(self) -> datetime | None:
        return self._last_set

    def due_times(self, now: datetime) -> list[DueTime]:
        """Every due time up to the first one after `now`, with its status as of `now`."""
        # Due times are generated lazily (by sets and the next-due lookup); without this, a
        # run of passed due times with no set in between would not exist yet.
        self._ensure_after(now)
        out: list[DueTime] = []
        for due in self._due:
            if due.met_at is not None:
                status = DueStatus.MET if due.met_at <= due.time else DueStatus.LATE
            elif due.time < now:
                status = DueStatus.MISSED
            else:
                status = DueStatus.DUE
            out.append(DueTime(due.time, status, due.met_at, due.source))
        return out

    def missed_due_times(self, now: datetime) -> list[datetime]:
        """Every due time that passed unmet, oldest first (10:15 and 10:30 both passed without
        a set: both are missed); a late set later meets the most recent of them."""
        self._ensure_after(now)  # see due_times: passed due times must exist to be listed
        return [d.time for d in self._due if d.met_at is None and d.time < now]
