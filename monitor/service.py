"""The monitor service: devices -> record -> rules -> alarms, for every trial in monitoring.

One asyncio loop runs: a stream task per assigned device (readings to the engine at once, to
the record in batches at most ``flush_interval_s`` apart), a timer loop that wakes the engines
when their timers fall due, a poller that picks up nurses' entries and acknowledgements from the
audit trail, a sync loop that follows assignments (with leases, so each device is streamed by
exactly one process), and a heartbeat so the dashboard can tell "monitor not running".
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy.exc import OperationalError

from devices.errors import SourceError
from devices.measurement import ConnectionChange, DeviceEvent, Measurement
from devices.simulator import Simulator, SimulatorTiming
from devices.sources import (
    Source,
    open_source,
    parse_source,
    sim_options,
    streamed_parameters,
)
from monitor.reading_buffer import ReadingBuffer
from monitor.trial_watch import Clock, TrialWatch
from observations.alarms import AlarmEventIn
from observations.engine_feed import record_readings
from observations.errors import RecordError
from observations.record import TrialRecord
from observations.views import DeviceAssignmentView
from rules import RuleSet, load_rule_set
from vocabulary import AlarmEventType, AlarmKind, ConnectionState, Priority, TrialStatus

log = logging.getLogger("itbmon.monitor")

READINGS_DROPPED = "readings_dropped"
# Audit actions that change what an engine must know.
WATCHED_ACTIONS = (
    "observation.record",
    "observation.correct",
    "alarm.acknowledge",
    "trial.extend_window",
    "trial.status",
)


def wall_clock() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class MonitorSettings:
    flush_interval_s: float = 0.5  # readings reach the record at most 1 s after arrival
    heartbeat_interval_s: float = 2.0
    lease_ttl_s: float = 15.0  # a dead process's devices are taken over after this
    sync_interval_s: float = 2.0
    poll_interval_s: float = 1.0
    max_timer_sleep_s: float = 0.25
    # Timers may fire up to this late (alarms raised by a reading are never delayed by it).
    timer_resolution_s: float = 0.02
    batch_size: int = 5000
    buffer_limit: int = 200_000
    # Accelerated simulators start this long before the injection (baseline readings).
    demo_baseline: timedelta = timedelta(minutes=15)
    # How long a thread may keep Python's GIL while another waits (CPython's default is 5 ms).
    # The record writers come back from the database into a busy event loop; at 5 ms a turn
    # an ingest run spent more time waiting than writing (python -m benchmarks monitor).
    gil_switch_interval_s: float = 0.001


def share_the_gil(settings: MonitorSettings) -> None:
    """Shorten the interpreter's switch interval for this process (never lengthen it).

    Embedded, that process is the Streamlit server's too: its page threads then take turns at
    the same 1 ms, which costs a little switching and answers a busy server's clicks sooner.
    """
    if settings.gil_switch_interval_s < sys.getswitchinterval():
        sys.setswitchinterval(settings.gil_switch_interval_s)


@dataclass
class _Stream:
    assignment: DeviceAssignmentView
    task: asyncio.Task[None]


@dataclass
class MonitorService:
    record: TrialRecord
    kind: str = "standalone"
    settings: MonitorSettings = field(default_factory=MonitorSettings)
    rule_set: RuleSet = field(default_factory=load_rule_set)
    clock: Clock = wall_clock

    def __post_init__(self) -> None:
        self.service_id = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.actor = self.record.users.service_actor()
        self.watches: dict[int, TrialWatch] = {}
        self.streams: dict[str, _Stream] = {}
        self.buffer = ReadingBuffer(self.settings.buffer_limit)
        self._pending_alarms: list[AlarmEventIn] = []
        self._alarms_waiting = asyncio.Event()
        self._alarm_lock = asyncio.Lock()
        self._drop_alarm_raised: set[int] = set()
        self._reported_drops = 0
        self._reported_by_trial: dict[int, int] = {}  # drops each trial's alarm has told
        self._last_audit_id = 0
        self.readings_written = 0
        self.frames_refused = 0  # frames the record refused to store (each one logged)
        self._unusable: set[int] = set()  # assignments whose source cannot be opened as written

    # ------------------------------------------------------------------ lifecycle

    async def run(self, stop: asyncio.Event) -> None:
        share_the_gil(self.settings)
        self._last_audit_id = self.record.audit.last_id()
        await self._beat()
        await self.sync()
        loops = [
            asyncio.create_task(self._alarm_writer()),
            asyncio.create_task(self._every(self.settings.heartbeat_interval_s, self._beat)),
            asyncio.create_task(self._every(self.settings.sync_interval_s, self.sync)),
            asyncio.create_task(self._every(self.settings.flush_interval_s, self.flush)),
            asyncio.create_task(self._every(self.settings.poll_interval_s, self.poll)),
            asyncio.create_task(self._timers()),
        ]
        try:
            await stop.wait()
        finally:
            # Cancelled (a crash, as far as other processes can tell) or stopped: every loop
            # ends; only a clean stop goes on to write what is left and release the leases.
            tasks = loops + [s.task for s in self.streams.values()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        await self.flush()
        with contextlib.suppress(OperationalError):
            await asyncio.to_thread(self.record.services.stopped, self.service_id)

    async def _every(self, seconds: float, action) -> None:  # type: ignore[no-untyped-def]
        while True:
            await asyncio.sleep(seconds)
            try:
                await action()
            except OperationalError as exc:
                log.warning("database unavailable (%s); retrying", type(exc).__name__)
            except Exception:  # one failed round must not stop the heartbeat or the sync
                log.exception("monitor loop %s failed; it goes on", action.__name__)

    async def _beat(self) -> None:
        # Every write runs off the loop: a locked database must never stall device streams.
        await asyncio.to_thread(
            self.record.services.beat, self.service_id, self.kind, socket.gethostname(), os.getpid()
        )

    async def _show_device_state(
        self, source: str, trial_id: int, state: str, reason: str, at: datetime
    ) -> None:
        """The device's state for the screens; a database outage must not stop the stream."""
        try:
            await asyncio.to_thread(
                self.record.services.set_device_state, source, trial_id, state, reason, at
            )
        except OperationalError:
            log.warning("device state of %s not shown: database unavailable", source)

    # ------------------------------------------------------------------ assignments

    def _claim(self) -> dict[str, DeviceAssignmentView]:
        """The devices assigned to trials in monitoring whose lease this process holds."""
        monitoring = self.record.trials.ids_with_status({TrialStatus.MONITORING})
        assignments = {
            a.source: a
            for a in self.record.trials.active_assignments()
            if a.trial_id in monitoring
        }
        held = self.record.services.acquire_many(
            [(a.source, a.trial_id) for a in assignments.values()],
            self.service_id,
            timedelta(seconds=self.settings.lease_ttl_s),
        )
        return {source: assignments[source] for source in held}

    def _start_watch(self, assignment: DeviceAssignmentView) -> tuple[TrialWatch, list]:
        """A new trial's watch, rebuilt from the record (off the loop: it is not shared yet)."""
        trial = self.record.trials.get(assignment.trial_id)
        clock = self._clock_for(assignment, trial.injection)
        watch = TrialWatch(self.record, self.rule_set, trial, clock)
        return watch, watch.rebuild(clock())

    async def sync(self) -> None:
        """Follow the record: start streams for new assignments, stop ended ones."""
        wanted = await asyncio.to_thread(self._claim)
        for source in list(self.streams):
            if source not in wanted:
                self.streams.pop(source).task.cancel()
                await asyncio.to_thread(self.record.services.release, source, self.service_id)
        for source, assignment in wanted.items():
            if source in self.streams and not self.streams[source].task.done():
                continue
            if assignment.id in self._unusable:
                continue  # a stream that stopped on any other error is started again
            watch = self.watches.get(assignment.trial_id)
            if watch is None:
                try:
                    watch, reconciled = await asyncio.to_thread(self._start_watch, assignment)
                except Exception:  # one trial's trouble must not keep the others unwatched
                    log.exception(
                        "trial %s: its watch could not start; retrying", assignment.trial_id
                    )
                    continue
                self._commit(reconciled)
                self.watches[assignment.trial_id] = watch
            task = asyncio.create_task(self._stream(assignment, watch))
            self.streams[source] = _Stream(assignment, task)
        streamed_trials = {a.trial_id for a in wanted.values()}
        for trial_id in list(self.watches):
            if trial_id not in streamed_trials:
                self.watches.pop(trial_id)

    def _clock_for(self, assignment: DeviceAssignmentView, injection) -> Clock:  # type: ignore[no-untyped-def]
        """Wall time; for an accelerated simulator, a clock that catches up with wall time.

        An accelerated demo replays the trial day from before the injection at ``speed`` times
        real time until it reaches the present, then runs in real time: no reading is ever
        stamped in the future.
        """
        try:
            source = parse_source(assignment.source)
            speed = sim_options(source).speed if source.kind == "sim" else 1.0
        except SourceError:
            return self.clock  # the stream reports the source as unusable; the rules still run
        if speed <= 1 or injection is None:
            return self.clock
        start_sim = injection.given_at - self.settings.demo_baseline
        # After a restart, resume where the record ends rather than replaying the day again.
        resumed = self.record.readings.last_time(assignment.trial_id, assignment.source)
        if resumed is not None:
            start_sim = max(start_sim, resumed + timedelta(seconds=1))
        start_real = self.clock()

        def catching_up() -> datetime:
            now = self.clock()
            return min(now, start_sim + (now - start_real) * speed)

        catching_up.start = start_sim  # type: ignore[attr-defined]
        return catching_up

    # ------------------------------------------------------------------ streaming

    async def _stream(self, assignment: DeviceAssignmentView, watch: TrialWatch) -> None:
        source = parse_source(assignment.source)
        streams = streamed_parameters(source)
        trial_id = assignment.trial_id
        try:
            async for event in self.device_events(source, assignment, watch):
                if isinstance(event, Measurement):
                    # A simulated device lives on the trial's clock: it is received when measured.
                    received = self.clock() if source.kind != "sim" else None
                    measurement = event.stamped(
                        receive_time=received or event.device_time or self.clock(),
                        device_time=event.device_time,
                        source=assignment.source,  # as assigned, so screens can match it
                    )
                    # The rules see the frame first; storing it must never hold it back.
                    self._commit(watch.on_measurement(measurement))
                    self._keep(trial_id, measurement)
                elif isinstance(event, ConnectionChange):
                    self._commit(watch.on_link(event, assignment.source, streams))
                    await self._show_device_state(
                        assignment.source, trial_id, event.state.value, event.reason, event.at
                    )
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a device must never take the service down
            if isinstance(exc, SourceError):
                # The assignment itself is unusable: retrying cannot help until it is redone.
                self._unusable.add(assignment.id)
                reason = f"cannot be used as assigned ({exc}); assign it again on Trial set-up"
            else:
                reason = f"the monitor could not read this device ({type(exc).__name__}); retrying"
            log.error(
                "device stream %s for trial %s stopped: %s", assignment.label, trial_id, reason
            )
            change = ConnectionChange(
                ConnectionState.DISCONNECTED, reason, watch.clock(), assignment.source
            )
            self._commit(watch.on_link(change, assignment.source, streams))
            await self._show_device_state(
                assignment.source, trial_id, change.state.value, change.reason, change.at
            )

    def device_events(
        self, source: Source, assignment: DeviceAssignmentView, watch: TrialWatch
    ) -> AsyncIterator[DeviceEvent]:
        """The device's measurements and link changes (the benchmark substitutes its own)."""
        if source.kind == "sim":
            return self._simulate(source, assignment, watch)
        return open_source(source).events()

    async def _simulate(self, source, assignment, watch):  # type: ignore[no-untyped-def]
        """The simulator's timeline, paced by the trial's clock."""
        start = getattr(watch.clock, "start", None) or self.clock()
        options = sim_options(source)
        simulator = Simulator(
            source.target,
            seed=options.seed,
            start=start,
            injection_at=watch.injection_at or start,
            timing=SimulatorTiming(nibp_every_min=options.nibp_every_min),
            source=assignment.source,
        )
        for event in simulator.timeline():
            at = event.device_time if isinstance(event, Measurement) else event.at
            while at is not None and watch.clock() < at:
                wait = (at - watch.clock()).total_seconds()
                # Wake at least once a second, so silence in the scenario still moves time on.
                await asyncio.sleep(min(max(wait, 0.01), 1.0 / max(1.0, options.speed)))
                watch.stream_cursor = min(watch.clock(), at)
            watch.stream_cursor = at
            yield event


    # ------------------------------------------------------------------ timers and entries

    async def _timers(self) -> None:
        """Wake each engine when one of its timers falls due, and only that engine.

        Readings fire most timers themselves (the engine runs every timer due before a reading
        first); this loop covers the rest: silence, delays ending between readings, overdue
        sets, escalation. It sleeps at least ``timer_resolution_s``, so a hundred trials whose
        timers fall at different instants cost a few dozen wake-ups a second, not hundreds.
        """
        while True:
            soonest = self.settings.max_timer_sleep_s
            for watch in list(self.watches.values()):
                wake = watch.next_wake()
                if wake is not None and wake <= watch.clock():
                    self._commit(watch.tick())
                    wake = watch.next_wake()
                for rule in watch.monitor_resolutions:
                    self._drop_alarm_raised.discard(watch.trial_id)
                    self._commit(
                        [self._dropped_event(watch.trial_id, AlarmEventType.RESOLVED, rule)]
                    )
                watch.monitor_resolutions.clear()
                if wake is not None:
                    soonest = min(soonest, (wake - watch.clock()).total_seconds())
            await asyncio.sleep(max(soonest, self.settings.timer_resolution_s))

    async def poll(self) -> None:
        """What people entered (sets, acknowledgements, extensions, the window's close), read
        off the loop and handed to the engines on it."""
        changes = await asyncio.to_thread(
            self.record.audit.changes_since, self._last_audit_id, WATCHED_ACTIONS
        )
        if not changes:
            return
        for trial_id in {c.trial_id for c in changes if c.trial_id is not None}:
            watch = self.watches.get(trial_id)
            if watch is not None:
                watch.queue(await asyncio.to_thread(watch.new_record_entries))
        # Only once every trial was read: a failed read is tried again at the next poll.
        self._last_audit_id = changes[-1].id

    # ------------------------------------------------------------------ writing

    async def flush(self) -> None:
        """Write buffered readings; on a database error keep them and try again later."""
        while len(self.buffer):
            batch = self.buffer.take(self.settings.batch_size)
            try:
                self.readings_written += await asyncio.to_thread(
                    self.record.readings.add_prepared, self.actor, batch
                )
            except OperationalError:
                self.buffer.give_back(batch)
                break
        await self._report_drops()
        await self._write_alarms()

    def _keep(self, trial_id: int, measurement: Measurement) -> None:
        """A frame's values into the buffer, checked and converted for the driver here, on the
        loop: the writing thread then spends its time in the database, not holding the GIL."""
        try:
            self.buffer.add(self.record.readings.prepare(record_readings(trial_id, measurement)))
        except RecordError as refused:  # a decoder fault: say so, and keep the stream going
            self.frames_refused += 1
            log.error("trial %s: a reading was refused by the record: %s", trial_id, refused)
        except Exception:  # e.g. a raw status JSON cannot hold: the stream must go on
            self.frames_refused += 1
            log.exception("trial %s: a reading could not be prepared for the record", trial_id)

    def _commit(self, events: list[AlarmEventIn]) -> None:
        """Alarm events go to the record at once, by the alarm writer, never after a batch."""
        if events:
            self._pending_alarms.extend(events)
            self._alarms_waiting.set()

    async def _alarm_writer(self) -> None:
        while True:
            await self._alarms_waiting.wait()
            self._alarms_waiting.clear()
            try:
                written = await self._write_alarms()
            except Exception:  # the writer must outlive any one failure
                log.exception("alarm writer failed; retrying")
                written = False
            if not written:
                await asyncio.sleep(self.settings.flush_interval_s)  # database away: retry
                self._alarms_waiting.set()

    async def _write_alarms(self) -> bool:
        """Write every waiting alarm event in order; kept for retry if the database is away.

        Events raised while a write is under way go in the next one (a group commit), so a
        burst of alarms costs a few transactions, not one each.
        """
        async with self._alarm_lock:
            while self._pending_alarms:
                batch, self._pending_alarms = self._pending_alarms, []
                try:
                    await asyncio.to_thread(self.record.alarms.record_events, self.actor, batch)
                except OperationalError:
                    self._pending_alarms[:0] = batch
                    log.warning("alarm events waiting for the database (%d)", len(batch))
                    return False
                except RecordError:
                    # One event the record refuses (its alarm already ended by someone else)
                    # must not hold back the others: write them one by one.
                    await self._write_one_by_one(batch)
        return True

    async def _write_one_by_one(self, batch: list[AlarmEventIn]) -> None:
        for position, item in enumerate(batch):
            try:
                await asyncio.to_thread(self.record.alarms.record_events, self.actor, [item])
            except OperationalError:
                self._pending_alarms[:0] = batch[position:]
                return
            except RecordError as exc:
                log.error("alarm event %s %s of trial %s refused: %s",
                          item.rule_id, item.event.value, item.trial_id, exc.message)

    async def _report_drops(self) -> None:
        """A technical alarm per trial whose readings were dropped, saying how many.

        Whether one is already active is read off the loop (the database may be the reason
        readings were dropped), for every trial first: while it cannot be read, nothing is
        reported and the report waits for the next flush.
        """
        dropped = self.buffer.dropped
        if dropped == self._reported_drops:
            return
        # Only trials that lost readings since the last report: the others' alarms say it already.
        counts = {
            trial_id: count
            for trial_id, count in self.buffer.dropped_by_trial.items()
            if count != self._reported_by_trial.get(trial_id)
        }
        raised: dict[int, bool] = {}
        for trial_id in counts:
            if trial_id in self._drop_alarm_raised:
                raised[trial_id] = True
                continue
            try:
                active = await asyncio.to_thread(self.record.alarms.active, trial_id)
            except OperationalError:
                return
            raised[trial_id] = READINGS_DROPPED in {a.rule_id for a in active}
        for trial_id, count in counts.items():
            event = AlarmEventType.ESCALATED if raised[trial_id] else AlarmEventType.RAISED
            self._drop_alarm_raised.add(trial_id)
            self._commit([self._dropped_event(trial_id, event, READINGS_DROPPED, count)])
            self._reported_by_trial[trial_id] = count
        # As counted before the reads: drops during them are reported at the next flush.
        self._reported_drops = dropped

    def _dropped_event(
        self, trial_id: int, event: AlarmEventType, rule: str, count: int = 0
    ) -> AlarmEventIn:
        return AlarmEventIn(
            trial_id=trial_id,
            rule_id=rule,
            event=event,
            at=self.clock(),
            priority=Priority.MEDIUM,
            kind=AlarmKind.TECHNICAL,
            message=(
                f"{count} device readings could not be stored (database "
                "unavailable) and were dropped. Alarms kept working; check the chart for gaps."
            ),
            evidence={"dropped": count},
            rule_set_version=self.rule_set.version,
        )
