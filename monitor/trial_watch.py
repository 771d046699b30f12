"""One trial under watch: its rules engine, fed from the device stream and from the record.

A trial is watched from its baseline stage, before the injection, so the patient's own baseline
comes from real readings. Readings go to the engine as they arrive (an alarm is never delayed by
batching); the injection, nurses' observation sets, acknowledgements, window extensions and the
window's close are picked up from the record.

An observation set counts at the time it was measured, not when it was typed: a set typed at
10:22 that was measured at 10:14 meets a due time, gives its NEWS2 and counts for the baseline at
10:14 (the engine judges its alarms at its own time). A rebuild feeds each set where it reached
the engine live (when it was typed), so a rebuilt engine judges it alike. Anything else that
arrives late is applied at the engine's current time; the record keeps its true time.

The injection counts at the time it was given. It is recorded after it was given, while the
devices stream, so it usually reaches the engine after readings of later instants; an engine
that cannot place it there, or a record changed under the engine (a set or the injection
corrected), has the engine judged again from the record in place (`hold`, `rebuilt`, `resume`):
the watch, its device streams and their readings go on, frames that arrive meanwhile are held
and fed to the new engine, and its alarms are reconciled with the record's.

What the engine judged (each set's NEWS2, the due times, the baseline) is handed to the service
by `judgements` for the record, where pages and exports read it.
"""

from __future__ import annotations

import heapq
import itertools
import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime

from devices.measurement import ConnectionChange, Measurement
from monitor.engine_feed import (
    ENGINE_PARAMETERS,
    engine_frame,
    engine_link,
    engine_readings,
    engine_set,
    record_alarm_event,
    record_schedule,
    record_set_score,
)
from observations.alarms import AlarmEventIn
from observations.record import TrialRecord
from observations.set_scores import KnownJudgement, ScheduleJudgementIn, SetScoreIn
from observations.views import TrialView
from rules import (
    Acknowledgement,
    AlarmEvent,
    DeviceLink,
    DueStatus,
    EventOrderError,
    Injection,
    ObservationSet,
    Reading,
    RuleSet,
    TrialEngine,
    TrialEvent,
    WindowClosed,
    WindowExtension,
)
from rules.engine import NOT_STORED, replace_time
from rules.events import ReadingsNotStored
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
# At one instant of a rebuild: readings, then link changes, then what people entered (live, an
# entry typed after the event reaches the watch after that instant's frame).
READING, LINK, ENTRY = 0, 1, 2
Timed = tuple[datetime, int, int, TrialEvent]  # (when, READING/LINK/ENTRY, order, event)
RESTARTED = "monitor restarted"

Clock = Callable[[], datetime]
_Link = tuple[ConnectionChange, str, frozenset[Parameter]]
# The events of a not-stored alarm that carry the count of readings lost so far.
_TOLD_A_LOSS = (AlarmEventType.RAISED, AlarmEventType.CHANGED)
log = logging.getLogger("itbmon.monitor")


@dataclass
class _Seen:
    """Which record entries the engine has already had."""

    set_ids: set[int] = field(default_factory=set)
    ack_ids: set[int] = field(default_factory=set)
    extension_minutes: int = 0
    closed: bool = False
    injection_id: int | None = None

    def copy(self) -> _Seen:
        return _Seen(
            set(self.set_ids),
            set(self.ack_ids),
            self.extension_minutes,
            self.closed,
            self.injection_id,
        )


@dataclass(frozen=True)
class RecordEntries:
    """Entries people made, for the engine, what the watch has seen once these are queued,
    and why the engine must be judged again from the record instead (a set or the injection
    corrected), if it must."""

    events: list[TrialEvent]
    seen: _Seen
    rebuild_reason: str | None = None


@dataclass(frozen=True)
class Rebuilt:
    """A new engine judged from the record, ready to take the watch's place."""

    engine: TrialEngine
    seen: _Seen
    injection_at: datetime | None
    # Per device: the newest reading the new engine was fed (held frames after it follow).
    horizons: dict[str, datetime]
    reconcile: list[AlarmEventIn]
    # Entries of instants the trial's clock has not reached (an accelerated replay): queued.
    pending: list[TrialEvent] = field(default_factory=list)


class TrialWatch:
    def __init__(self, record: TrialRecord, rule_set: RuleSet, trial: TrialView, clock: Clock):
        self.record = record
        self.trial_id = trial.id
        self.clock = clock
        self.rule_set = rule_set
        self.engine = TrialEngine(rule_set, trial_id=str(trial.id), spo2_scale=trial.spo2_scale)
        self.rule_set_version = rule_set.version
        self._seen = _Seen()
        self._pending: list[tuple[datetime, int, TrialEvent]] = []
        self._order = itertools.count()
        self.injection_at = trial.injection.given_at if trial.injection else None
        self.late_readings = 0  # streamed values kept from the engine as out of order
        # For a simulated device: how far its stream has got. Timers never run ahead of it, so
        # a busy event loop cannot look like a silent oximeter in an accelerated replay.
        self.stream_cursor: datetime | None = None
        # What the record already holds of this trial's judgement (see `judgements`).
        self._known = KnownJudgement()
        # The due times can only change with a set, the injection, the window's close, a new
        # engine, or the engine's time passing the next due time: until one of those, they
        # are not worked out again (the service asks for every trial every second).
        self._schedule_mark: tuple[object, ...] | None = None
        self._schedule_until: datetime | None = None
        self._engines = 0  # how many engines this watch has had (a rebuild is a new one)
        # Each device's first and latest link change as fed: a rebuilt engine gets them again
        # (they are not in the record), so it watches the device's silence as this one did.
        self._links: dict[str, tuple[DeviceLink, DeviceLink]] = {}
        # Why the engine must be judged again from the record (None: it need not).
        self.rebuild_reason: str | None = None
        # While it is: the frames, link changes and losses that arrive, in order, for the new
        # engine.
        self._held: list[Measurement | _Link | ReadingsNotStored] | None = None

    # ------------------------------------------------------------------ rebuilding

    def rebuild(self, now: datetime) -> list[AlarmEventIn]:
        """Replay the record into a fresh engine, then reconcile its alarms with the record's.

        Returns the events needed so that the record and the engine agree (nothing is raised
        twice): alarms the engine still holds but the record lacks, and record alarms that are
        no longer active.
        """
        # So that a rebuilt engine that judges alike writes nothing again.
        self._known = self.record.set_scores.known(self.trial_id)
        rebuilt = self.rebuilt(now, RESTARTED, settle=True)
        self._take(rebuilt)
        return rebuilt.reconcile

    def rebuilt(self, now: datetime, reason: str, settle: bool = False) -> Rebuilt:
        """A new engine fed the record up to ``now`` (only reads: the service runs it off its
        loop while the watch holds its frames).

        Each set is fed where it reached the engine live, when it was typed (at its measured
        time if that is later), so a late set is judged as it was. ``settle``: run the timers
        up to ``now`` (a restart); otherwise the held frames carry the engine on from its last
        reading.
        """
        trial = self.record.trials.get(self.trial_id)
        engine = TrialEngine(self.rule_set, trial_id=str(trial.id), spo2_scale=trial.spo2_scale)
        seen = _Seen()
        timed: list[Timed] = []
        readings, horizons = recorded_readings(self.record, self.trial_id, now)
        timed.extend(readings)
        for first, latest in self._links.values():
            timed.append((first.time, LINK, 0, first))
            if latest is not first:
                timed.append((latest.time, LINK, 0, latest))
        pending: list[TrialEvent] = []
        for position, event in self._entries(trial, True, seen):
            if position > now:
                pending.append(event)  # fed when the trial's clock gets there, as live
            else:
                timed.append((position, ENTRY, 0, event))
        # Stable within equal keys: entries keep the record's order.
        timed.sort(key=lambda item: item[:3])
        for _, _, _, event in timed:
            engine.feed(event)  # alarm events are in the record already; set scores are kept
        if settle:
            engine.advance_to(max(now, engine.now) if engine.now is not None else now)
        at = engine.now or now
        return Rebuilt(
            engine=engine,
            seen=seen,
            injection_at=trial.injection.given_at if trial.injection else None,
            horizons=horizons,
            reconcile=self._reconcile(engine, at, reason),
            pending=pending,
        )

    def _take(self, rebuilt: Rebuilt) -> None:
        self.engine = rebuilt.engine
        self._engines += 1
        self._seen = rebuilt.seen
        self.injection_at = rebuilt.injection_at
        self._pending.clear()  # read again by the rebuild, and fed there
        for event in rebuilt.pending:
            heapq.heappush(self._pending, (event.time, next(self._order), event))
        self.rebuild_reason = None

    def _reconcile(self, engine: TrialEngine, at: datetime, reason: str) -> list[AlarmEventIn]:
        out: list[AlarmEventIn] = []
        recorded = {a.rule_id: a for a in self.record.alarms.active(self.trial_id)}
        active = {a.rule_id: a for a in engine.active_alarms()}
        gone = (
            "condition no longer present after restart"
            if reason == RESTARTED
            else "condition no longer present when the trial was judged again from the record"
        )
        for rule_id, alarm in recorded.items():
            if rule_id not in active and rule_id in self._rule_ids():
                out.append(
                    self._event_in(
                        rule_id,
                        AlarmEventType.RESOLVED,
                        at,
                        alarm.priority,
                        alarm.kind,
                        gone,
                        {"reason": reason},
                    )
                )
        for rule_id, alarm in active.items():
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

    @property
    def held(self) -> bool:
        return self._held is not None

    def hold(self) -> None:
        """From now until `resume`, frames and link changes wait for the new engine."""
        if self._held is None:
            self._held = []

    def resume(self, rebuilt: Rebuilt | None) -> list[AlarmEventIn]:
        """Take the new engine (None: keep this one, the rebuild failed and will be tried
        again), then feed it what was held. Returns the alarm events to write: the
        reconciliation with the record's alarms, then what the held frames raised."""
        held, self._held = self._held or [], None
        out: list[AlarmEventIn] = []
        horizons: dict[str, datetime] = {}
        if rebuilt is not None:
            self._take(rebuilt)
            out += rebuilt.reconcile
            horizons = rebuilt.horizons
        for item in held:
            if isinstance(item, Measurement):
                horizon = horizons.get(item.source or item.protocol)
                if (
                    horizon is not None
                    and item.device_time is not None
                    and item.device_time <= horizon
                ):
                    continue  # in the record already, and fed by the rebuild
                out += self.on_measurement(item)
            elif isinstance(item, ReadingsNotStored):
                out += self._to_record(self.engine.feed(self._not_before_now(item)))
            else:
                out += self.on_link(*item)
        return out

    # ------------------------------------------------------------------ live

    def on_measurement(self, measurement: Measurement) -> list[AlarmEventIn]:
        """Feed a device's values to the engine as they arrive.

        A streamed value (SpO2, pulse) older than what the engine has already judged is a
        resend or arrived out of order: it is stored, but the engine does not see it, since
        replaying it as "now" could end a real desaturation's delay. A blood-pressure reading
        is judged on its own, so a late one is judged at once, at the engine's time.
        """
        if self._held is not None:
            self._held.append(measurement)
            return []
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
        if self._held is not None:
            self._held.append((change, source, parameters))
            return []
        link = self._not_before_now(engine_link(change, source, parameters))
        assert isinstance(link, DeviceLink)
        first = self._links[source][0] if source in self._links else link
        self._links[source] = (first, link)
        return self._to_record(self.engine.feed(link))

    def on_not_stored(self, dropped: int) -> list[AlarmEventIn]:
        """The record could not take ``dropped`` more of this trial's readings: the engine's
        technical rule about it says so (raised, or its count brought up to date)."""
        loss = ReadingsNotStored(self.clock(), dropped)
        if self._held is not None:
            self._held.append(loss)
            return []
        return self._to_record(self.engine.feed(self._not_before_now(loss)))

    def new_record_entries(self) -> RecordEntries:
        """What people entered since the last look (injection, sets, acks, extensions, close).

        Only reads the record and this watch's note of what it has seen, so the service runs
        it off its event loop; `queue` then hands the result to the engine, on the loop.
        """
        trial = self.record.trials.get(self.trial_id)
        # On a copy of what was seen: if a read fails half-way, nothing is marked seen, and
        # the same entries are found at the next look.
        seen = self._seen.copy()
        reasons: list[str] = []
        events = [e for _, e in self._entries(trial, False, seen, reasons)]
        return RecordEntries(events, seen, reasons[0] if reasons else None)

    def queue(self, entries: RecordEntries) -> None:
        self._seen = entries.seen
        for event in entries.events:
            if isinstance(event, Injection):
                self.injection_at = event.time
            heapq.heappush(self._pending, (event.time, next(self._order), event))
        if entries.rebuild_reason is not None:
            self.rebuild_reason = entries.rebuild_reason

    def tick(self) -> list[AlarmEventIn]:
        """Apply queued entries that are due and fire every timer due now."""
        if self._held is not None:
            return []  # the engine is being replaced: its timers are the new one's business
        now = self.clock()
        if self.stream_cursor is not None:
            now = min(now, self.stream_cursor)
        out: list[AlarmEvent] = []
        while self._pending and self._pending[0][0] <= now:
            _, _, event = heapq.heappop(self._pending)
            out += self._feed_entry(event)
        if self.engine.now is None or now > self.engine.now:
            out += self.engine.advance_to(now)
        return self._to_record(out)

    def next_wake(self) -> datetime | None:
        """When to `tick` next: at the engine's next deadline or, while readings stream in,
        perhaps a little before it (the engine then works out the deadline exactly)."""
        if self._held is not None:
            return None
        times = [t for t in (self.engine.wake_time(),) if t is not None]
        if self._pending:
            times.append(self._pending[0][0])
        return min(times) if times else None

    def finish(self) -> list[AlarmEventIn]:
        """The trial left monitoring (its window closed, or it was cancelled) before the watch
        saw it: the engine ends its alarms now, once, so none stays active on a finished
        trial's screens."""
        if self._seen.closed or self._held is not None:
            return []
        self._seen.closed = True
        now = self.clock()
        if self.engine.now is not None and now < self.engine.now:
            now = self.engine.now
        return self._to_record(self.engine.feed(WindowClosed(now)))

    def judgements(self) -> tuple[list[SetScoreIn], ScheduleJudgementIn | None]:
        """What the engine judged that the record does not hold yet: the NEWS2 of each set
        scored since the last call (the latest of each), and the due times and baseline when
        they changed. Runs on the loop (it reads the engine), once a second, never per reading.
        """
        engine = self.engine
        judged_at = engine.now or self.clock()
        latest: dict[int, SetScoreIn] = {}
        for score in engine.take_set_scores():
            judged = record_set_score(self.trial_id, score, judged_at, self.rule_set_version)
            if judged is not None:
                latest[judged.observation_set_id] = judged  # scored again at once: latest wins
        mark = (
            self._engines,
            engine.window_end(),
            engine.window_closed_at,
            engine.next_observation_due(),
        )
        until = self._schedule_until
        if (
            not latest
            and mark == self._schedule_mark
            and (until is None or engine.now is None or engine.now <= until)
        ):
            return self._known.unwritten(latest.values(), None)
        schedule = record_schedule(self.trial_id, engine, judged_at, self.injection_at)
        self._schedule_mark = mark
        self._schedule_until = min(
            (d.time for d in schedule.due_times if d.status == DueStatus.DUE), default=None
        )
        return self._known.unwritten(latest.values(), schedule)

    # ------------------------------------------------------------------ helpers

    def recorded_entries(self, trial: TrialView) -> Iterator[tuple[datetime, TrialEvent]]:
        """Everything people entered for the trial (injection, sets, acknowledgements of these
        rules, the window's extensions and close), where a rebuild feeds each."""
        return self._entries(trial, True, _Seen())

    def _entries(
        self,
        trial: TrialView,
        replaying: bool,
        seen: _Seen,
        reasons: list[str] | None = None,
    ) -> Iterator[tuple[datetime, TrialEvent]]:
        """The record's entries the engine has not had, each with where it stands among the
        readings: when it reached (or, live, reaches) the engine. Replaying, also the readings
        the record could not keep, as its alarms counted them (nowhere else in the record)."""
        injection = trial.injection
        if injection is not None and seen.injection_id is None:
            seen.injection_id = injection.id
            yield injection.given_at, Injection(injection.given_at, injection.dose_mcg)
        elif injection is not None and seen.injection_id != injection.id and reasons is not None:
            reasons.append("the injection was corrected")
        for obs in self.record.observations.list(self.trial_id):
            if obs.id in seen.set_ids:
                continue
            seen.set_ids.add(obs.id)
            if obs.supersedes_id in seen.set_ids and reasons is not None:
                # The engine counted the set this one corrects: only a rebuild un-counts it.
                reasons.append("an observation set was corrected")
                continue
            # Counted at the time it was measured, however late it is typed.
            yield max(obs.measured_at, obs.entered_at), engine_set(obs)
        rules = self._rule_ids()
        not_stored = {r.id for r in self.engine.rule_set.rules if r.condition.type == NOT_STORED}
        counted: dict[int, int] = {}  # per not-stored alarm, the loss its events told so far
        for event in self.record.alarms.events(self.trial_id):
            rule = event.rule_id
            if replaying and rule in not_stored and event.event in _TOLD_A_LOSS:
                told = int((event.evidence or {}).get("dropped", 0))
                more = told - counted.get(event.alarm_id, 0)
                counted[event.alarm_id] = told
                if more > 0:
                    yield event.at, ReadingsNotStored(event.at, more)
                continue
            if event.event != AlarmEventType.ACKNOWLEDGED or event.id in seen.ack_ids:
                continue
            seen.ack_ids.add(event.id)
            if rule not in rules:
                continue  # a rule the rule file no longer has: nothing of it to end
            yield (
                event.at,
                Acknowledgement(event.at, rule, by=str(event.by_user or ""), note=event.note or ""),
            )
        if trial.extension_minutes > seen.extension_minutes:
            added = trial.extension_minutes - seen.extension_minutes
            seen.extension_minutes = trial.extension_minutes
            at = self.clock() if not replaying else trial.created_at
            yield at, WindowExtension(at, added)
        if not seen.closed and trial.status not in (
            TrialStatus.MONITORING,
            TrialStatus.BASELINE,
            TrialStatus.PLANNED,
        ):
            seen.closed = True
            at = self.clock()
            yield at, WindowClosed(at)

    def _feed_entry(self, event: TrialEvent) -> list[AlarmEvent]:
        """An entry at its own time where it counts there (a set at its measured time, the
        injection at the time it was given); anything else no earlier than the engine's time."""
        if isinstance(event, Injection):
            try:
                return self.engine.feed(event)
            except EventOrderError:
                # Readings of later instants came first: the engine is judged again from the
                # record, with the injection in its place (the service does it, off its loop).
                self.rebuild_reason = "the injection was recorded after it was given"
                return []
        if isinstance(event, ObservationSet):
            return self.engine.feed(event)
        return self.engine.feed(self._not_before_now(event))

    def _not_before_now(self, event: TrialEvent) -> TrialEvent:
        if self.engine.now is not None and event.time < self.engine.now:
            return replace_time(event, self.engine.now)
        return event

    def _rule_ids(self) -> set[str]:
        return {rule.id for rule in self.engine.rule_set.rules}

    def _to_record(self, events: Iterable[AlarmEvent]) -> list[AlarmEventIn]:
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


def recorded_readings(
    record: TrialRecord, trial_id: int, end: datetime
) -> tuple[list[Timed], dict[str, datetime]]:
    """The trial's streamed readings up to ``end`` as a rebuild feeds them, and each device's
    latest reading time. As `engine_frame` hands a live frame over: a blood-pressure frame's
    pulse (the cuff's) is not judged, the oximeter's is; within an instant, values come in
    parameter order and flagged gaps (no value) after them. Column by column: a day is tens of
    thousands of rows."""
    frame = record.readings.timeline(
        trial_id, list(ENGINE_PARAMETERS), end=end, include_manual=False
    )
    times = list(frame["time"].dt.to_pydatetime())
    parameters = frame["parameter"].tolist()
    values = frame["value"].tolist()
    flag_texts = frame["flags"].tolist()
    devices = [str(d) for d in frame["device"].tolist()]
    pressure = (Parameter.SYSTOLIC.value, Parameter.DIASTOLIC.value)
    cuff = {(t, d) for t, p, d in zip(times, parameters, devices, strict=True) if p in pressure}
    pulse = Parameter.PULSE_RATE.value
    gap = len(_PARAMETER_ORDER)
    flag_sets: dict[str, frozenset[str]] = {}
    timed: list[Timed] = []
    horizons: dict[str, datetime] = {}
    for at, name, value, text, device in zip(
        times, parameters, values, flag_texts, devices, strict=True
    ):
        if name == pulse and (at, device) in cuff:
            continue
        text = str(text)
        flags = flag_sets.get(text)
        if flags is None:
            flags = flag_sets[text] = frozenset(f for f in text.split(";") if f)
        parameter = Parameter(name)
        missing = value != value  # NaN
        order = (gap if missing else 0) + _PARAMETER_ORDER[parameter]
        reading = Reading(at, parameter, None if missing else float(value), flags)
        timed.append((at, READING, order, reading))
        if device not in horizons or at > horizons[device]:
            horizons[device] = at
    return timed, horizons
