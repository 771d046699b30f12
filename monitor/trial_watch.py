"""One trial under watch: its rules engine, fed from the device stream and from the record.

Readings go to the engine as they arrive (an alarm is never delayed by batching); nurses'
entries, acknowledgements, window extensions and the window's close are picked up from the
record. The engine needs events in time order, so anything that arrives late (an observation
set typed five minutes after it was measured) is applied at the engine's current time; the
record keeps its true time.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime

from devices.measurement import ConnectionChange, Measurement
from observations.alarms import AlarmEventIn
from observations.engine_feed import (
    ENGINE_PARAMETERS,
    engine_frame,
    engine_link,
    engine_readings,
    engine_set,
    record_alarm_event,
)
from observations.record import TrialRecord
from observations.views import TrialView
from rules import (
    Acknowledgement,
    AlarmEvent,
    Injection,
    Reading,
    RuleSet,
    TrialEngine,
    TrialEvent,
    WindowClosed,
    WindowExtension,
)
from rules.engine import replace_time
from vocabulary import (
    STREAMED_PARAMETERS,
    AlarmEventType,
    AlarmKind,
    Parameter,
    Priority,
    TrialStatus,
)

# Live, a frame's values reach the engine in parameter order; a rebuild keeps that order within
# each instant, so that a timer falling at that instant fires alike in both (the engine fires
# it after the instant's first event).
_PARAMETER_ORDER = {p: i for i, p in enumerate(Parameter)}

Clock = Callable[[], datetime]


@dataclass
class _Seen:
    """Which record entries the engine has already had."""

    set_ids: set[int] = field(default_factory=set)
    ack_ids: set[int] = field(default_factory=set)
    extension_minutes: int = 0
    closed: bool = False

    def copy(self) -> _Seen:
        return _Seen(set(self.set_ids), set(self.ack_ids), self.extension_minutes, self.closed)


@dataclass(frozen=True)
class RecordEntries:
    """Entries people made, for the engine, the monitor's own alarms they ended, and what the
    watch has seen once these are queued."""

    events: list[TrialEvent]
    monitor_resolutions: list[str]
    seen: _Seen


class TrialWatch:
    def __init__(self, record: TrialRecord, rule_set: RuleSet, trial: TrialView, clock: Clock):
        self.record = record
        self.trial_id = trial.id
        self.clock = clock
        self.engine = TrialEngine(rule_set, trial_id=str(trial.id), spo2_scale=trial.spo2_scale)
        self.rule_set_version = rule_set.version
        self._seen = _Seen()
        self._pending: list[tuple[datetime, int, TrialEvent]] = []
        self._order = itertools.count()
        self.injection_at = trial.injection.given_at if trial.injection else None
        self.monitor_resolutions: list[str] = []
        self.late_readings = 0  # streamed values kept from the engine as out of order
        # For a simulated device: how far its stream has got. Timers never run ahead of it, so
        # a busy event loop cannot look like a silent oximeter in an accelerated replay.
        self.stream_cursor: datetime | None = None

    # ------------------------------------------------------------------ rebuilding

    def rebuild(self, now: datetime) -> list[AlarmEventIn]:
        """Replay the record into a fresh engine, then reconcile its alarms with the record's.

        Returns the events needed so that the record and the engine agree (nothing is raised
        twice): alarms the engine still holds but the record lacks, and record alarms that are
        no longer active.
        """
        events: list[TrialEvent] = []
        trial = self.record.trials.get(self.trial_id)
        if trial.injection is not None:
            events.append(Injection(trial.injection.given_at, trial.injection.dose_mcg))
        readings: list[Reading] = []
        frame = self.record.readings.timeline(
            self.trial_id, list(ENGINE_PARAMETERS), end=now, include_manual=False
        )
        for row in frame.itertuples(index=False):
            flags = frozenset(f for f in str(row.flags).split(";") if f)
            value = None if row.value != row.value else float(row.value)  # NaN is missing
            at = row.time.to_pydatetime()  # type: ignore[attr-defined]
            readings.append(Reading(at, Parameter(row.parameter), value, flags))
        # As a live frame hands them over: values before gaps, each in parameter order.
        readings.sort(key=lambda r: (r.time, r.value is None, _PARAMETER_ORDER[r.parameter]))
        events.extend(readings)
        events.extend(self._record_entries(trial, replaying=True))
        events.sort(key=lambda e: e.time)
        self.engine.replay(events, until=max(now, events[-1].time) if events else now)
        return self._reconcile(self.engine.now or now)

    def _reconcile(self, at: datetime) -> list[AlarmEventIn]:
        out: list[AlarmEventIn] = []
        recorded = {a.rule_id: a for a in self.record.alarms.active(self.trial_id)}
        engine = {a.rule_id: a for a in self.engine.active_alarms()}
        for rule_id, alarm in recorded.items():
            if rule_id not in engine and rule_id in self._rule_ids():
                out.append(
                    self._event_in(
                        rule_id,
                        AlarmEventType.RESOLVED,
                        at,
                        alarm.priority,
                        alarm.kind,
                        "condition no longer present after restart",
                        {"reason": "monitor restarted"},
                    )
                )
        for rule_id, alarm in engine.items():
            if rule_id not in recorded:
                out.append(
                    self._event_in(
                        rule_id,
                        AlarmEventType.RAISED,
                        at,
                        alarm.priority,
                        alarm.kind,
                        alarm.message,
                        dict(alarm.evidence),
                    )
                )
        return out

    # ------------------------------------------------------------------ live

    def on_measurement(self, measurement: Measurement) -> list[AlarmEventIn]:
        """Feed a device's values to the engine as they arrive.

        A streamed value (SpO2, pulse) older than what the engine has already judged is a
        resend or arrived out of order: it is stored, but the engine does not see it, since
        replaying it as "now" could end a real desaturation's delay. A blood-pressure reading
        is judged on its own, so a late one is judged at once, at the engine's time.
        """
        engine = self.engine
        frame = engine_frame(measurement)
        if frame is None:
            return []
        if engine.now is None or frame.time >= engine.now:  # in order: nearly every frame
            out = engine.feed_frame(frame.time, frame.values, frame.missing, frame.flags)
            return self._to_record(out) if out else []
        out: list[AlarmEvent] = []
        for reading in engine_readings(measurement):
            now = engine.now
            if now is not None and reading.time < now and reading.parameter in STREAMED_PARAMETERS:
                self.late_readings += 1
                continue
            out += engine.feed(self._not_before_now(reading))
        return self._to_record(out) if out else []

    def on_link(
        self, change: ConnectionChange, source: str, parameters: frozenset[Parameter]
    ) -> list[AlarmEventIn]:
        """A device's link changed: the technical rules watch its silence and name its state."""
        link = engine_link(change, source, parameters)
        return self._to_record(self.engine.feed(self._not_before_now(link)))

    def new_record_entries(self) -> RecordEntries:
        """What people entered since the last look (sets, acks, extensions, close).

        Only reads the record and this watch's note of what it has seen, so the service runs
        it off its event loop; `queue` then hands the result to the engine, on the loop.
        """
        trial = self.record.trials.get(self.trial_id)
        # On a copy of what was seen: if a read fails half-way, nothing is marked seen, and
        # the same entries are found at the next look.
        seen = self._seen.copy()
        resolutions: list[str] = []
        events = list(self._record_entries(trial, False, seen, resolutions))
        return RecordEntries(events, resolutions, seen)

    def queue(self, entries: RecordEntries) -> None:
        self._seen = entries.seen
        for event in entries.events:
            heapq.heappush(self._pending, (event.time, next(self._order), event))
        self.monitor_resolutions.extend(entries.monitor_resolutions)

    def tick(self) -> list[AlarmEventIn]:
        """Apply queued entries that are due and fire every timer due now."""
        now = self.clock()
        if self.stream_cursor is not None:
            now = min(now, self.stream_cursor)
        out: list[AlarmEvent] = []
        while self._pending and self._pending[0][0] <= now:
            _, _, event = heapq.heappop(self._pending)
            out += self.engine.feed(self._not_before_now(event))
        if self.engine.now is None or now > self.engine.now:
            out += self.engine.advance_to(now)
        return self._to_record(out)

    def next_wake(self) -> datetime | None:
        """When to `tick` next: at the engine's next deadline or, while readings stream in,
        perhaps a little before it (the engine then works out the deadline exactly)."""
        times = [t for t in (self.engine.wake_time(),) if t is not None]
        if self._pending:
            times.append(self._pending[0][0])
        return min(times) if times else None

    # ------------------------------------------------------------------ helpers

    def _record_entries(
        self,
        trial: TrialView,
        replaying: bool,
        seen: _Seen | None = None,
        resolutions: list[str] | None = None,
    ) -> Iterable[TrialEvent]:
        seen = seen if seen is not None else self._seen
        for obs in self.record.observations.list(self.trial_id):
            if obs.id in seen.set_ids:
                continue
            seen.set_ids.add(obs.id)
            # A late entry counts when it reaches the monitor, not before what was already fed.
            yield engine_set(obs)
        for event in self.record.alarms.events(self.trial_id):
            if event.event != AlarmEventType.ACKNOWLEDGED or event.id in seen.ack_ids:
                continue
            seen.ack_ids.add(event.id)
            rule = event.rule_id
            if rule not in self._rule_ids():
                # The monitor's own technical alarm (readings dropped): acknowledged, it ends.
                if resolutions is not None:
                    resolutions.append(rule)
                continue
            yield Acknowledgement(
                event.at, rule, by=str(event.by_user or ""), note=event.note or ""
            )
        if trial.extension_minutes > seen.extension_minutes:
            added = trial.extension_minutes - seen.extension_minutes
            seen.extension_minutes = trial.extension_minutes
            yield WindowExtension(self.clock() if not replaying else trial.created_at, added)
        if not seen.closed and trial.status not in (
            TrialStatus.MONITORING,
            TrialStatus.BASELINE,
            TrialStatus.PLANNED,
        ):
            seen.closed = True
            yield WindowClosed(self.clock())

    def _not_before_now(self, event: TrialEvent) -> TrialEvent:
        if self.engine.now is not None and event.time < self.engine.now:
            return replace_time(event, self.engine.now)
        return event

    def _rule_ids(self) -> set[str]:
        return {rule.id for rule in self.engine.rule_set.rules}

    def _to_record(self, events: list[AlarmEvent]) -> list[AlarmEventIn]:
        # Acknowledgements come from the record already: never write them a second time.
        return [
            record_alarm_event(self.trial_id, e)
            for e in events
            if e.event != AlarmEventType.ACKNOWLEDGED
        ]

    def _event_in(self, rule_id, event, at, priority, kind, message, evidence):  # type: ignore[no-untyped-def]
        return AlarmEventIn(
            trial_id=self.trial_id,
            rule_id=rule_id,
            event=AlarmEventType(event),
            at=at,
            priority=Priority(priority),
            kind=AlarmKind(kind),
            message=message,
            evidence=evidence,
            rule_set_version=self.rule_set_version,
        )
