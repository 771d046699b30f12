"""The monitor service: devices -> record -> rules -> alarms, for every trial from its baseline
stage (before the injection) until its monitoring window is closed.

One asyncio loop runs: a stream task per assigned device (readings to the engine at once, to
the record in batches at most ``flush_interval_s`` apart, by a writer process that holds its
own connection), a timer loop that wakes the engines when their timers fall due, a poller that
picks up the injection, nurses' entries and acknowledgements from the audit trail, a judgement
writer that stores what the engines judged (each set's NEWS2, the due times, the baseline) when
it changes, a sync loop that follows assignments (with leases, so each device is streamed by
exactly one process), and a heartbeat so the dashboard can tell "monitor not running".
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
import os
import socket
import uuid
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
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
from monitor.engine_feed import record_readings
from monitor.reading_buffer import ReadingBuffer
from monitor.trial_watch import Clock, TrialWatch
from observations.alarms import AlarmEventIn
from observations.errors import RecordError
from observations.readings import PreparedReading, ReadingsWriter, ReadingsWriterProcess
from observations.record import TrialRecord
from observations.set_scores import ScheduleJudgementIn, SetScoreIn
from observations.views import DeviceAssignmentView
from rules import RuleSet, load_rule_set
from vocabulary import ConnectionState, TrialStatus

log = logging.getLogger("itbmon.monitor")

# Audit actions that change what an engine must know.
WATCHED_ACTIONS = (
    "injection.record",
    "injection.correct",
    "observation.record",
    "observation.correct",
    "alarm.acknowledge",
    "trial.extend_window",
    "trial.status",
)


def wall_clock() -> datetime:
    return datetime.now(UTC)


# A trial in its baseline stage or in monitoring with no device assigned is watched all the
# same: the engine judges the nurses' sets (their NEWS2 and alarms), the due times and the
# overdue alarm. It is held under a lease of this name, so that one process watches it.
NO_DEVICE = "no-device:trial/"


def _without_device(trial_id: int, now: datetime) -> DeviceAssignmentView:
    return DeviceAssignmentView(
        id=0,
        trial_id=trial_id,
        source=f"{NO_DEVICE}{trial_id}",
        protocol=None,
        label="no device assigned",
        assigned_from=now,
        assigned_until=None,
    )


def _replays_from_the_injection(assignment: DeviceAssignmentView) -> bool:
    """An accelerated simulator replays the trial day from before the injection: it can only
    start once the injection is recorded (a demo), not in the baseline stage."""
    try:
        source = parse_source(assignment.source)
        return source.kind == "sim" and sim_options(source).speed > 1
    except SourceError:
        return False  # its stream says why it cannot be used


@dataclass(frozen=True)
class MonitorSettings:
    flush_interval_s: float = 0.5  # readings reach the record at most 1 s after arrival
    heartbeat_interval_s: float = 2.0
    lease_ttl_s: float = 15.0  # a dead process's devices are taken over after this
    sync_interval_s: float = 2.0
    poll_interval_s: float = 1.0
    # How often what the engines judged (NEWS2 of each set, due times, baseline) is looked at
    # and, where it changed, written: a nurse sees a new set's score within about this long.
    judgement_interval_s: float = 1.0
    max_timer_sleep_s: float = 0.25
    # Timers may fire up to this late (alarms raised by a reading are never delayed by it).
    timer_resolution_s: float = 0.02
    batch_size: int = 5000
    buffer_limit: int = 200_000
    # Accelerated simulators start this long before the injection (baseline readings).
    demo_baseline: timedelta = timedelta(minutes=15)


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
        # At most 64 characters (the record's limit for a service id), whatever the host name.
        self.service_id = f"{socket.gethostname()[:40]}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.actor = self.record.users.service_actor()
        self.watches: dict[int, TrialWatch] = {}
        self.streams: dict[str, _Stream] = {}
        self.buffer = ReadingBuffer(self.settings.buffer_limit)
        self._pending_alarms: list[AlarmEventIn] = []
        self._pending_scores: list[SetScoreIn] = []
        self._pending_schedules: list[ScheduleJudgementIn] = []
        self._judgement_lock = asyncio.Lock()
        self._flush_lock = asyncio.Lock()
        # Trials whose entries must be read again at the next poll (read while their engine
        # was being judged again from the record), and those being judged again now.
        self._recheck: set[int] = set()
        self._rebuilding: dict[int, asyncio.Task[None]] = {}
        self._rebuild_not_before: dict[int, float] = {}
        self._alarms_waiting = asyncio.Event()
        # The timer loop sleeps until its soonest engine deadline; a frame that brings a
        # deadline in (a delay starting, a level's decision nearer) wakes it at once.
        self._timers_wake = asyncio.Event()
        self._timers_due: datetime | None = None
        self._wake_heap: list[tuple[datetime, int, int]] = []  # (wall time, order, trial id)
        self._planned_wake: dict[int, datetime] = {}  # each trial's earliest entry in the heap
        self._wake_order = itertools.count()
        self._alarm_lock = asyncio.Lock()
        self._reported_by_trial: dict[int, int] = {}  # drops each trial's engine was told of
        # Readings go to the record through a writer process (`_write_readings`), handed over
        # by one thread of this process.
        self._writer_thread: ThreadPoolExecutor | None = None
        self._writer: ReadingsWriterProcess | ReadingsWriter | None = None
        self._last_audit_id = 0
        self.readings_written = 0
        self.frames_refused = 0  # frames the record refused to store (each one logged)
        self._unusable: set[int] = set()  # assignments whose source cannot be opened as written

    # ------------------------------------------------------------------ lifecycle

    async def run(self, stop: asyncio.Event) -> None:
        self._last_audit_id = self.record.audit.last_id()
        # Alarms left active on trials whose window has closed (a record from before the
        # record resolved them at the close, or written by a monitor stopped mid-day).
        with contextlib.suppress(OperationalError):
            resolved = await asyncio.to_thread(self.record.alarms.resolve_finished, self.actor)
            if resolved:
                log.info("resolved %d alarm(s) left on finished trials", resolved)
        await self._beat()
        await self.sync()
        loops = [
            # The writer process starts while the loops run; the first batch waits for it.
            asyncio.create_task(self._start_writer()),
            asyncio.create_task(self._alarm_writer()),
            asyncio.create_task(self._every(self.settings.heartbeat_interval_s, self._beat)),
            asyncio.create_task(self._every(self.settings.sync_interval_s, self.sync)),
            asyncio.create_task(self._every(self.settings.flush_interval_s, self.flush)),
            asyncio.create_task(self._every(self.settings.poll_interval_s, self.poll)),
            asyncio.create_task(self._every(self.settings.judgement_interval_s, self.judge)),
            asyncio.create_task(self.timer_loop()),
        ]
        try:
            await stop.wait()
        finally:
            # Cancelled (a crash, as far as other processes can tell) or stopped: every loop
            # ends; only a clean stop goes on to write what is left and release the leases.
            tasks = [
                *loops,
                *(s.task for s in self.streams.values()),
                *self._rebuilding.values(),
            ]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        await self.flush()
        await self.close()
        with contextlib.suppress(OperationalError):
            await self.judge()
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

    def claim(self) -> dict[str, DeviceAssignmentView]:
        """The devices assigned to trials in their baseline stage or in monitoring whose lease
        this process holds.

        From the baseline stage: the pre-injection baseline is the median of the patient's own
        readings before the injection, so they must be watched and recorded before it. The
        trial keeps its watch when the injection moves it on to monitoring.
        """
        monitoring = self.record.trials.ids_with_status({TrialStatus.MONITORING})
        baseline = self.record.trials.ids_with_status({TrialStatus.BASELINE})
        active = self.record.trials.active_assignments()
        assignments = {
            a.source: a
            for a in active
            if a.trial_id in monitoring
            or (a.trial_id in baseline and not _replays_from_the_injection(a))
        }
        with_device = {a.trial_id for a in active}
        for trial_id in sorted((monitoring | baseline) - with_device):
            unassigned = _without_device(trial_id, self.clock())
            assignments[unassigned.source] = unassigned
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
        """Follow the record: start streams for new assignments, stop ended ones (a trial
        without a device has a watch and no stream)."""
        wanted = await asyncio.to_thread(self.claim)
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
                self.commit(reconciled)
                self.watches[assignment.trial_id] = watch
            if source.startswith(NO_DEVICE):
                task = asyncio.create_task(self._nothing_to_stream())
            else:
                task = asyncio.create_task(self._stream(assignment, watch))
            self.streams[source] = _Stream(assignment, task)
        streamed_trials = {a.trial_id for a in wanted.values()}
        for trial_id in list(self.watches):
            if trial_id not in streamed_trials:
                # What it judged last (the window's close) still goes to the record.
                watch = self.watches.pop(trial_id)
                self.commit(watch.finish())
                self._keep_judgements(watch)

    def _clock_for(self, assignment: DeviceAssignmentView, injection) -> Clock:  # type: ignore[no-untyped-def]
        """Wall time; for an accelerated simulator, a clock that catches up with wall time.

        An accelerated demo replays the trial day from before the injection at ``speed`` times
        real time until it reaches the present, then runs in real time: no reading is ever
        stamped in the future.
        """
        if assignment.source.startswith(NO_DEVICE):
            return self.clock
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

    async def _nothing_to_stream(self) -> None:
        """A trial without a device: its watch lives on people's entries and its timers."""
        await asyncio.Event().wait()

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
                    self.commit(watch.on_measurement(measurement))
                    self._wake_timers_for(watch)
                    self.keep(trial_id, measurement)
                elif isinstance(event, ConnectionChange):
                    self.commit(watch.on_link(event, assignment.source, streams))
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
            self.commit(watch.on_link(change, assignment.source, streams))
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

    async def timer_loop(self) -> None:
        """Wake each engine when one of its timers falls due, and only that engine.

        A timer of a reading's own instant fires once the instant is complete, here: so does a
        level's decision falling due as a reading arrives. Each watch's next wake-up is kept in
        a heap (on the wall clock), so a round touches only the engines that are due; every
        ``max_timer_sleep_s`` a sweep looks at every watch (what the record's poll left for it,
        and any wake-up the heap might have missed). Rounds are at least
        ``timer_resolution_s`` apart, so a busy ward's deadlines are served together.
        """
        next_sweep = self.clock()
        while True:
            round_started = self.clock()
            if round_started >= next_sweep:
                due = list(self.watches.values())
                next_sweep = round_started + timedelta(seconds=self.settings.max_timer_sleep_s)
            else:
                due = self._due_watches(round_started)
            for watch in due:
                wake = watch.next_wake()
                if wake is not None and wake <= watch.clock():
                    self.commit(watch.tick())
                if watch.rebuild_reason is not None:
                    self._start_rebuild(watch)
                self._plan_wake(watch)
            now = self.clock()
            soonest = next_sweep
            if self._wake_heap:
                soonest = min(soonest, self._wake_heap[0][0])
            # Just after the deadline (waking a hair early would cost a whole round), and no
            # sooner than the rate allows.
            start_by = round_started + timedelta(seconds=self.settings.timer_resolution_s)
            target = max(soonest + timedelta(milliseconds=1), start_by)
            pause = max(0.0, (target - now).total_seconds())
            self._timers_due = target
            self._timers_wake.clear()
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow the service's
            # cancellation when the wake-up lands at the same moment, and this loop then runs
            # on after the monitor was told to stop (its stop never returned).
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(pause):
                    await self._timers_wake.wait()
            # Woken early by a frame: still at most one round per `timer_resolution_s`.
            wait = (start_by - self.clock()).total_seconds()
            if wait > 0:
                await asyncio.sleep(wait)

    def _plan_wake(self, watch: TrialWatch) -> bool:
        """Put the watch's next wake-up (on the wall clock) in the heap unless an earlier one
        is there already; True when it was added."""
        wake = watch.next_wake()
        if wake is None:
            return False
        # On the watch's own clock (an accelerated demo runs ahead of the wall).
        at = self.clock() + (wake - watch.clock())
        planned = self._planned_wake.get(watch.trial_id)
        if planned is not None and planned <= at:
            return False
        self._planned_wake[watch.trial_id] = at
        heapq.heappush(self._wake_heap, (at, next(self._wake_order), watch.trial_id))
        return True

    def _due_watches(self, now: datetime) -> list[TrialWatch]:
        due: dict[int, TrialWatch] = {}
        heap = self._wake_heap
        while heap and heap[0][0] <= now:
            at, _, trial_id = heapq.heappop(heap)
            if self._planned_wake.get(trial_id) == at:
                del self._planned_wake[trial_id]
            watch = self.watches.get(trial_id)
            if watch is not None:
                due[trial_id] = watch
        return list(due.values())

    def _wake_timers_for(self, watch: TrialWatch) -> None:
        """After a frame: if it brought the watch's next deadline in, plan it, and wake the
        timer loop when that falls before its planned wake-up."""
        if self._plan_wake(watch):
            due = self._timers_due
            if due is not None and self._planned_wake[watch.trial_id] < due:
                self._timers_wake.set()

    async def poll(self) -> None:
        """What people entered (the injection, sets, acknowledgements, extensions, the window's
        close), read off the loop and handed to the engines on it."""
        changes = await asyncio.to_thread(
            self.record.audit.changes_since, self._last_audit_id, WATCHED_ACTIONS
        )
        if not changes and not self._recheck:
            return
        trials = {c.trial_id for c in changes if c.trial_id is not None} | self._recheck
        recheck: set[int] = set()
        for trial_id in trials:
            watch = self.watches.get(trial_id)
            if watch is None:
                continue
            if watch.held:
                recheck.add(trial_id)  # its new engine reads the record: look again after
                continue
            watch.queue(await asyncio.to_thread(watch.new_record_entries))
        # Only once every trial was read: a failed read is tried again at the next poll.
        self._recheck = recheck
        if changes:
            self._last_audit_id = changes[-1].id

    async def judge_again(self, watch: TrialWatch) -> None:
        """Have the trial's engine judged again from the record now, and wait until it is
        (as the timer loop does in the background when a watch asks for it)."""
        self._start_rebuild(watch)
        task = self._rebuilding.get(watch.trial_id)
        if task is not None:
            await task

    def _start_rebuild(self, watch: TrialWatch) -> None:
        """Have the trial's engine judged again from the record, in the background."""
        trial_id = watch.trial_id
        loop = asyncio.get_running_loop()
        if trial_id in self._rebuilding or loop.time() < self._rebuild_not_before.get(trial_id, 0):
            return
        self._rebuilding[trial_id] = asyncio.create_task(self._rebuild_in_place(watch))

    async def _rebuild_in_place(self, watch: TrialWatch) -> None:
        """The trial's engine judged again from the record, while its streams go on.

        Its frames are held (stored as usual, not judged) from the start; every alarm event it
        emitted and every reading is written first, so the record holds all the old engine
        knew; the new engine is built off the loop, takes the old one's place, is reconciled
        with the record's alarms and fed the held frames. If the database is away the old
        engine carries on with the held frames, and the rebuild is tried again a little later.
        """
        reason = watch.rebuild_reason or "the record changed"
        watch.hold()
        rebuilt = None
        try:
            if await self.write_alarms():
                await self.flush()
                if not len(self.buffer):  # every reading the old engine saw is in the record
                    rebuilt = await asyncio.to_thread(watch.rebuilt, watch.clock(), reason)
        except OperationalError:
            log.warning("trial %s: database unavailable; judging it again later", watch.trial_id)
        except Exception:
            log.exception("trial %s: could not be judged again from the record", watch.trial_id)
        finally:
            self.commit(watch.resume(rebuilt))
            self._rebuilding.pop(watch.trial_id, None)
        if rebuilt is None:
            retry = asyncio.get_running_loop().time() + 4 * self.settings.flush_interval_s
            self._rebuild_not_before[watch.trial_id] = retry
        else:
            log.info("trial %s judged again from the record: %s", watch.trial_id, reason)
            self._rebuild_not_before.pop(watch.trial_id, None)
            self._recheck.add(watch.trial_id)

    # ------------------------------------------------------------------ judgements

    async def judge(self) -> None:
        """Store what the engines judged since the last look, where it changed: each new set's
        NEWS2 (with the SpO2 and pulse it used), the due times and the baseline. Read on the
        loop (the engines live there), written off it; kept for the next round if the database
        is away."""
        for watch in list(self.watches.values()):
            if not watch.held:  # its engine is being replaced: the new one's turn comes next
                self._keep_judgements(watch)
        await self._write_judgements()

    def _keep_judgements(self, watch: TrialWatch) -> None:
        scores, schedule = watch.judgements()
        self._pending_scores.extend(scores)
        if schedule is not None:
            self._pending_schedules.append(schedule)

    async def _write_judgements(self) -> None:
        async with self._judgement_lock:
            if not self._pending_scores and not self._pending_schedules:
                return
            scores, self._pending_scores = self._pending_scores, []
            schedules, self._pending_schedules = self._pending_schedules, []
            try:
                await asyncio.to_thread(
                    self.record.set_scores.record, self.actor, scores, schedules
                )
            except OperationalError:
                # In front of anything judged meanwhile: the newest judgement stays the last.
                self._pending_scores[:0] = scores
                self._pending_schedules[:0] = schedules
                raise
            except RecordError:
                # One refused judgement (a set or trial no longer there) must not hold back
                # the others: write them one by one.
                await self._write_judgements_one_by_one(scores, schedules)

    async def _write_judgements_one_by_one(
        self, scores: list[SetScoreIn], schedules: list[ScheduleJudgementIn]
    ) -> None:
        items: list[tuple[list[SetScoreIn], list[ScheduleJudgementIn]]] = [
            *(([score], []) for score in scores),
            *(([], [schedule]) for schedule in schedules),
        ]
        for position, (one_score, one_schedule) in enumerate(items):
            try:
                await asyncio.to_thread(
                    self.record.set_scores.record, self.actor, one_score, one_schedule
                )
            except OperationalError:
                for score_left, schedule_left in reversed(items[position:]):
                    self._pending_scores[:0] = score_left
                    self._pending_schedules[:0] = schedule_left
                return
            except RecordError as exc:
                trial_id = one_score[0].trial_id if one_score else one_schedule[0].trial_id
                log.error(
                    "trial %s: a judgement was refused by the record: %s", trial_id, exc.message
                )

    # ------------------------------------------------------------------ writing

    async def flush(self) -> None:
        """Write buffered readings; on a database error keep them and try again later.

        One flush at a time: when one returns with the buffer empty, every reading taken
        before it is committed (a rebuild from the record relies on it)."""
        async with self._flush_lock:
            while len(self.buffer):
                if not await self._write_batch(self.buffer.take(self.settings.batch_size)):
                    break
        self._report_drops()
        await self.write_alarms()

    async def _write_batch(self, batch: list[PreparedReading]) -> bool:
        """One batch written and counted (True), or given back to the buffer (False: the
        database is away). Stopped (cancelled) meanwhile, the batch in hand is finished first:
        the writer cannot be stopped half-way, and a batch must end either counted or given
        back, never written uncounted nor lost."""
        write = asyncio.ensure_future(self._write_readings(batch))
        stopped = False
        while True:
            try:
                written = await asyncio.shield(write)
                break
            except asyncio.CancelledError:
                if write.cancelled():
                    self.buffer.give_back(batch)
                    raise
                stopped = True  # finish the batch in hand, then stop
            except OperationalError:
                self.buffer.give_back(batch)
                if stopped:
                    raise asyncio.CancelledError from None
                return False
        self.readings_written += written
        if stopped:
            raise asyncio.CancelledError
        return True

    def _writer_thread_now(self) -> ThreadPoolExecutor:
        if self._writer_thread is None:
            self._writer_thread = ThreadPoolExecutor(1, thread_name_prefix="itbmon-readings")
        return self._writer_thread

    def _writer_now(self) -> ReadingsWriterProcess | ReadingsWriter:
        """The writer, made on the writer thread (making it asks the database a question)."""
        if self._writer is None:
            self._writer = self.record.readings.writer_process()
        return self._writer

    def _start_writer_now(self) -> None:
        writer = self._writer_now()
        if isinstance(writer, ReadingsWriterProcess):
            writer.start()

    def _write_now(self, batch: list[PreparedReading]) -> int:
        return self._writer_now().write(self.actor, batch)

    async def _start_writer(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(self._writer_thread_now(), self._start_writer_now)
        except Exception:  # readings wait in the buffer; the first batch tries again
            log.exception("the readings writer could not start; retrying with the first batch")

    async def _write_readings(self, batch: list[PreparedReading]) -> int:
        """One batch through the writer process, which holds its own connection and writes
        under its own interpreter's GIL: the loop's decoding and judging never wait for it, nor
        it for them. This process only pickles the rows, in one thread kept for the purpose."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._writer_thread_now(), self._write_now, batch)

    async def close(self) -> None:
        """Let go of the writer process and its thread (`run` does it as it stops; a caller
        that only used `flush` does it itself). Readings still buffered stay buffered."""
        thread, writer = self._writer_thread, self._writer
        self._writer_thread = self._writer = None
        if thread is not None and writer is not None:
            with contextlib.suppress(OperationalError):
                await asyncio.get_running_loop().run_in_executor(thread, writer.close)
            thread.shutdown(wait=False)

    def keep(self, trial_id: int, measurement: Measurement) -> None:
        """A frame's values into the buffer, checked and converted for the driver here, on the
        loop: a bad frame is refused alone, and the writer process only writes."""
        try:
            self.buffer.add(self.record.readings.prepare(record_readings(trial_id, measurement)))
        except RecordError as refused:  # a decoder fault: say so, and keep the stream going
            self.frames_refused += 1
            log.error("trial %s: a reading was refused by the record: %s", trial_id, refused)
        except Exception:  # e.g. a raw status JSON cannot hold: the stream must go on
            self.frames_refused += 1
            log.exception("trial %s: a reading could not be prepared for the record", trial_id)

    def commit(self, events: list[AlarmEventIn]) -> None:
        """Alarm events go to the record at once, by the alarm writer, never after a batch."""
        if events:
            self._pending_alarms.extend(events)
            self._alarms_waiting.set()

    @property
    def alarms_waiting(self) -> int:
        """Alarm events not yet in the record (the database away, or a write under way)."""
        return len(self._pending_alarms)

    @property
    def unusable_assignments(self) -> frozenset[int]:
        """Assignments whose source cannot be opened as written (not retried until redone)."""
        return frozenset(self._unusable)

    def wake_timers(self) -> None:
        """Wake the timer loop now (a frame brought a deadline in)."""
        self._timers_wake.set()

    async def _alarm_writer(self) -> None:
        while True:
            await self._alarms_waiting.wait()
            self._alarms_waiting.clear()
            try:
                written = await self.write_alarms()
            except Exception:  # the writer must outlive any one failure
                log.exception("alarm writer failed; retrying")
                written = False
            if not written:
                await asyncio.sleep(self.settings.flush_interval_s)  # database away: retry
                self._alarms_waiting.set()

    async def write_alarms(self) -> bool:
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
                log.error(
                    "alarm event %s %s of trial %s refused: %s",
                    item.rule_id,
                    item.event.value,
                    item.trial_id,
                    exc.message,
                )

    def _report_drops(self) -> None:
        """Readings dropped from the buffer (the database away past its bound): each trial that
        lost more since the last report has its engine told how many, and the engine's
        technical rule (`not_stored`, wording and priority in the rule file) raises the alarm
        or brings its count up to date; a nurse's acknowledgement ends it, as any alarm's."""
        for trial_id, count in self.buffer.dropped_by_trial.items():
            told = self._reported_by_trial.get(trial_id, 0)
            if count <= told:
                continue
            self._reported_by_trial[trial_id] = count
            log.warning("trial %s: %d device reading(s) dropped unstored", trial_id, count - told)
            watch = self.watches.get(trial_id)
            if watch is not None:  # a trial no longer watched has no alarm to raise
                self.commit(watch.on_not_stored(count - told))
