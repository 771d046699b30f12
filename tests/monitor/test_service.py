"""The monitor end to end: simulator bytes-free events -> record -> rules -> alarm events.

Time is the trial's own: the end-to-end tests run on the event loop's clock, fast-forwarded by
looptime (``LoopClock``), so the accelerated simulator replays hours of a trial day and the
monitor's own waits pass without real waiting; they assert on what a nurse would see in the
record.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator
from datetime import datetime, timedelta

import pytest
from sqlalchemy.exc import OperationalError

from devices.measurement import Measurement
from monitor.reading_buffer import ReadingBuffer
from monitor.service import MonitorService, MonitorSettings
from monitor.trial_watch import TrialWatch
from observations.alarms import AlarmEventIn
from observations.demo import create_demo_trial
from observations.entries import ReadingIn
from observations.readings import PreparedReading
from observations.record import TrialRecord
from observations.views import TrialView
from rules.rule_set import default_rule_set
from tests.monitor.conftest import LoopClock
from tests.monitor.test_judgements import QuietStreams, baseline_trial, inject
from tests.observations.conftest import FakeClock
from vocabulary import AlarmEventType, AlarmKind, Parameter, Priority

FAST = MonitorSettings(
    flush_interval_s=0.2, heartbeat_interval_s=0.2, sync_interval_s=0.2, poll_interval_s=0.2
)


async def run_until(service: MonitorService, done, limit_s: float = 120.0) -> None:  # type: ignore[no-untyped-def]
    """Run the service until ``done()`` holds (checked every 0.2 s), then stop it cleanly."""
    stop = asyncio.Event()
    task = asyncio.create_task(service.run(stop))
    waited = 0.0
    while not done() and waited < limit_s:
        await asyncio.sleep(0.2)
        waited += 0.2
    stop.set()
    await task
    assert done(), f"the monitor did not get there in {limit_s:g} s"  # never pass by timing out


def levels_raised(record: TrialRecord, trial_id: int) -> list[str]:
    return [
        (e.evidence or {}).get("level", e.rule_id)
        for e in record.alarms.events(trial_id)
        if e.event == "raised"
    ]


def rules_raised(record: TrialRecord, trial_id: int) -> list[str]:
    return [
        record.alarms.rule_of(e.alarm_id)
        for e in record.alarms.events(trial_id)
        if e.event == "raised"
    ]


@pytest.mark.looptime
async def test_overdose_day_raises_desaturation_and_stores_readings(
    loop_ward: tuple[TrialRecord, LoopClock],
):
    record, clock = loop_ward
    clock.follow()
    # 3 h after injection, replayed at 600x: the overdose drift of hours 2-3 is in the past.
    trial = create_demo_trial(record, scenario="overdose", injected_minutes_ago=180, speed=1800)
    service = MonitorService(record, settings=FAST, clock=clock)
    await run_until(service, lambda: "spo2_low" in rules_raised(record, trial.id))
    raised = rules_raised(record, trial.id)
    assert "spo2_low" in raised, raised
    assert "device_lost" not in raised  # a busy loop never looks like a silent oximeter
    assert record.readings.count(trial.id) > 1000
    frame = record.readings.timeline(trial.id, [Parameter.SPO2])
    assert frame["time"].is_monotonic_increasing
    assert record.services.latest_heartbeat() is None  # stopped cleanly
    beats = record.services.heartbeats()
    assert beats and beats[0].stopped_at is not None


@pytest.mark.looptime
async def test_steady_day_raises_no_physiological_alarm(loop_ward: tuple[TrialRecord, LoopClock]):
    record, clock = loop_ward
    clock.follow()
    trial = create_demo_trial(record, scenario="steady", injected_minutes_ago=60, speed=1800)
    service = MonitorService(record, settings=FAST, clock=clock)
    latest = trial.injection.given_at + timedelta(minutes=59)
    await run_until(
        service,
        lambda: (
            record.readings.latest(trial.id).get(Parameter.SPO2) is not None
            and record.readings.latest(trial.id)[Parameter.SPO2].at >= latest
        ),
    )
    physiological = [r for r in rules_raised(record, trial.id) if r != "obs_overdue"]
    # No observation sets were entered, so only the overdue-observations reminder may appear.
    assert physiological == []


@pytest.mark.looptime
async def test_restart_rebuilds_without_duplicate_alarms(
    loop_ward: tuple[TrialRecord, LoopClock],
):
    record, clock = loop_ward
    clock.follow()
    trial = create_demo_trial(record, scenario="steady", injected_minutes_ago=40, speed=1800)
    first = MonitorService(record, settings=FAST, clock=clock)
    await run_until(first, lambda: "obs_overdue" in rules_raised(record, trial.id))
    before = rules_raised(record, trial.id)
    active_before = {a.rule_id for a in record.alarms.active(trial.id)}
    assert active_before == {"obs_overdue"}
    second = MonitorService(record, settings=FAST, clock=clock)
    await run_until(second, lambda: second.readings_written > 50)
    assert rules_raised(record, trial.id) == before  # nothing raised twice
    assert {a.rule_id for a in record.alarms.active(trial.id)} == {"obs_overdue"}


@pytest.mark.looptime
async def test_acknowledgement_reaches_the_engine(loop_ward: tuple[TrialRecord, LoopClock]):
    record, clock = loop_ward
    clock.follow()
    trial = create_demo_trial(record, scenario="steady", injected_minutes_ago=40, speed=1800)
    service = MonitorService(record, settings=FAST, clock=clock)
    stop = asyncio.Event()
    task = asyncio.create_task(service.run(stop))
    for _ in range(600):
        if record.alarms.active(trial.id):
            break
        await asyncio.sleep(0.2)
    [alarm] = record.alarms.active(trial.id)
    nurse = record.users.demo_clinician()
    record.alarms.acknowledge(nurse, alarm.id, "Obs being done now; told nurse in charge")
    for _ in range(100):
        engine_alarms = service.watches[trial.id].engine.active_alarms()
        if engine_alarms and engine_alarms[0].acknowledged_at is not None:
            break
        await asyncio.sleep(0.2)
    stop.set()
    await task
    events = [e.event for e in record.alarms.events(trial.id)]
    assert events.count("acknowledged") == 1  # written once, by the nurse, never by the monitor
    assert engine_alarms[0].acknowledged_at is not None


class AwayOnce:
    """The record's writer process, with the database away for its first batch."""

    def __init__(self, record: TrialRecord) -> None:
        self.inner = record.readings.writer_process()
        self.batches = 0

    def write(self, actor, rows: list[PreparedReading]) -> int:  # type: ignore[no-untyped-def]
        self.batches += 1
        if self.batches == 1:
            raise OperationalError("INSERT", {}, Exception("database is locked"))
        return self.inner.write(actor, rows)

    def close(self) -> None:
        self.inner.close()


@contextlib.asynccontextmanager
async def synced(service: MonitorService) -> AsyncIterator[MonitorService]:
    """The service with its assignments followed once (its streams started), stopped after."""
    try:
        await service.sync()
        yield service
    finally:
        for running in service.streams.values():
            running.task.cancel()
        await service.close()


def watched_trial(record: TrialRecord, clock: FakeClock, source: str, nhs: str) -> TrialView:
    trial = baseline_trial(record, source, nhs)
    inject(record, trial.id, clock.now)
    return trial


def spo2_readings(trial_id: int, start: datetime, count: int) -> list[ReadingIn]:
    return [
        ReadingIn(trial_id, Parameter.SPO2, 97.0, start + timedelta(seconds=i), start, "sim:t")
        for i in range(count)
    ]


def dropped_events(record: TrialRecord, trial_id: int) -> list[tuple[str, dict | None]]:  # type: ignore[type-arg]
    return [
        (e.event, e.evidence)
        for e in record.alarms.events(trial_id)
        if e.rule_id == "readings_dropped"
    ]


async def test_buffer_keeps_readings_while_database_is_away_and_counts_drops(
    ward: tuple[TrialRecord, FakeClock],
):
    record, clock = ward
    trial = watched_trial(record, clock, "sim:steady?seed=7", "9990000026")
    writer = AwayOnce(record)
    record.readings.writer_process = lambda: writer  # type: ignore[method-assign, assignment, return-value]
    async with synced(
        QuietStreams(record, settings=MonitorSettings(buffer_limit=5), clock=clock)
    ) as service:
        service.buffer.add(record.readings.prepare(spo2_readings(trial.id, clock.now, 8)))
        assert len(service.buffer) == 5 and service.buffer.dropped == 3
        await service.flush()  # database away: kept
        assert len(service.buffer) == 5 and record.readings.count(trial.id) == 0
        await service.flush()  # back: written, oldest dropped ones are gone for good
        assert len(service.buffer) == 0 and record.readings.count(trial.id) == 5
    [dropped] = [a for a in record.alarms.active(trial.id) if a.rule_id == "readings_dropped"]
    assert dropped.evidence == {"dropped": 3} and dropped.kind == "technical"
    # The rule file's wording and priority, with the count.
    [rule] = [r for r in default_rule_set().rules if r.id == "readings_dropped"]
    assert dropped.priority == rule.priority
    assert dropped.message == (rule.message or "").replace("{dropped}", "3")


async def test_readings_dropped_ends_when_acknowledged_and_survives_a_restart(
    ward: tuple[TrialRecord, FakeClock],
):
    """The dropped-readings alarm is the engine's, as every alarm: a rebuilt engine (a restart)
    still holds it with its count, and a nurse's acknowledgement ends it."""
    record, clock = ward
    trial = watched_trial(record, clock, "sim:steady?seed=7", "9990000026")
    async with synced(
        QuietStreams(record, settings=MonitorSettings(buffer_limit=2), clock=clock)
    ) as service:
        service.buffer.add(record.readings.prepare(spo2_readings(trial.id, clock.now, 3)))
        await service.flush()
        clock.now += timedelta(seconds=5)
        service.buffer.add(
            record.readings.prepare(spo2_readings(trial.id, clock.now + timedelta(seconds=10), 4))
        )
        await service.flush()
        assert dropped_events(record, trial.id) == [
            ("raised", {"dropped": 1}),
            ("changed", {"dropped": 3, "reason": "more readings could not be stored"}),
        ]
        restarted = TrialWatch(record, default_rule_set(), record.trials.get(trial.id), clock)
        assert restarted.rebuild(clock.now) == []  # nothing resolved, nothing raised twice
        [held] = [a for a in restarted.engine.active_alarms() if a.rule_id == "readings_dropped"]
        assert held.evidence == {"dropped": 3}

        [alarm] = [a for a in record.alarms.active(trial.id) if a.rule_id == "readings_dropped"]
        clock.now += timedelta(seconds=5)
        record.alarms.acknowledge(record.users.demo_nurse(), alarm.id, "Gap seen on the chart.")
        await service.poll()
        clock.now += timedelta(seconds=1)
        service.commit(service.watches[trial.id].tick())
        assert await service.write_alarms()
    assert "readings_dropped" not in {a.rule_id for a in record.alarms.active(trial.id)}
    assert [event for event, _ in dropped_events(record, trial.id)] == [
        "raised",
        "changed",
        "acknowledged",
        "resolved",
    ]


def test_a_reading_the_record_refuses_is_reported_and_the_stream_goes_on(
    record: TrialRecord, caplog
):  # type: ignore[no-untyped-def]
    trial = create_demo_trial(record, scenario="steady")
    service = MonitorService(record)
    naive = datetime(2026, 3, 1, 9, 0)  # a device clock without a zone: cannot be placed
    bad = Measurement("berrymed", {Parameter.SPO2: 97.0}, device_time=naive, receive_time=naive)
    good_time = record.store.now()
    good = bad._replace(device_time=good_time, receive_time=good_time)
    service.keep(trial.id, bad)
    service.keep(trial.id, good)
    assert len(service.buffer) == 1  # the sound frame is kept, the bad one refused
    assert service.frames_refused == 1
    assert "refused by the record" in caplog.text and "no time zone" in caplog.text


def test_reading_buffer_gives_back_in_order():
    buffer = ReadingBuffer(limit=10)
    buffer.add([(n,) for n in range(4)])
    batch = buffer.take(3)
    buffer.give_back(batch)
    assert buffer.take(10) == [(0,), (1,), (2,), (3,)]


def test_a_refused_alarm_event_does_not_hold_back_the_others(record: TrialRecord):
    trial = create_demo_trial(record, scenario="steady")
    service = MonitorService(record)

    def event(rule: str, kind: AlarmEventType) -> AlarmEventIn:
        return AlarmEventIn(
            trial_id=trial.id,
            rule_id=rule,
            event=kind,
            at=record.store.now(),
            priority=Priority.MEDIUM,
            kind=AlarmKind.TECHNICAL,
            message="Observation set overdue.",
            evidence={},
            rule_set_version=service.rule_set.version,
        )

    stale = event("spo2_low", AlarmEventType.RESOLVED)  # none active: refused
    fresh = event("obs_overdue", AlarmEventType.RAISED)
    service.commit([stale, fresh])
    assert asyncio.run(service.write_alarms())
    assert [a.rule_id for a in record.alarms.active(trial.id)] == ["obs_overdue"]
    assert service.alarms_waiting == 0


def test_out_of_order_oximeter_value_does_not_restart_a_desaturation(record: TrialRecord):
    from datetime import UTC, datetime

    from devices.measurement import build_measurement
    from monitor.trial_watch import TrialWatch
    from tests.monitor.test_scenarios import rules_with_delays

    trial = create_demo_trial(record, scenario="steady")
    start = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
    watch = TrialWatch(record, rules_with_delays(critical_desaturation=5), trial, lambda: start)

    def oximeter(second: int, spo2: float) -> list[tuple[str, str, datetime]]:
        at = start + timedelta(seconds=second)
        sample = build_measurement("sim", {Parameter.SPO2: spo2, Parameter.PULSE_RATE: 70})
        events = watch.on_measurement(sample.stamped(receive_time=at, device_time=at, source="s"))
        return [
            (e.rule_id, e.evidence["level"], e.at)
            for e in events
            if e.event == AlarmEventType.RAISED
        ]

    raised = [r for s in range(20, 23) for r in oximeter(s, 80)]
    raised += oximeter(5, 97)  # a resend from before the dip arrives late
    raised += [r for s in range(23, 27) for r in oximeter(s, 80)]
    # 5 s after the dip began (decided at 25 s, raised with the next reading), not restarted.
    assert raised == [("spo2_low", "critical_desaturation", start + timedelta(seconds=25))]
    assert watch.late_readings == 2  # its SpO2 and pulse were kept from the engine


def test_rebuild_feeds_each_instant_in_the_live_order(record: TrialRecord):
    """A dip that clears exactly as its delay ends raises nothing live (SpO2 comes first in a
    frame); the rebuilt engine must agree, not raise a latched alarm that never was."""
    from devices.measurement import build_measurement
    from monitor.engine_feed import record_readings
    from monitor.trial_watch import TrialWatch
    from rules import Injection
    from tests.monitor.test_scenarios import rules_with_delays

    trial = create_demo_trial(record, scenario="steady")
    assert trial.injection is not None
    start = trial.injection.given_at + timedelta(seconds=30)
    rules = rules_with_delays(critical_desaturation=2)
    live = TrialWatch(record, rules, trial, lambda: start)
    live.engine.feed(Injection(trial.injection.given_at, trial.injection.dose_mcg))
    rows = []
    for second, spo2 in enumerate([80, 80, 97, 97]):
        at = start + timedelta(seconds=second)
        sample = build_measurement("sim", {Parameter.SPO2: spo2, Parameter.PULSE_RATE: 70})
        sample = sample.stamped(receive_time=at, device_time=at, source="sim:steady")
        assert live.on_measurement(sample) == []
        rows += record_readings(trial.id, sample)
    record.readings.add(record.users.service_actor(), rows)
    rebuilt = TrialWatch(record, rules, trial, lambda: start)
    assert rebuilt.rebuild(start + timedelta(seconds=4)) == []
    assert rebuilt.engine.active_alarms() == live.engine.active_alarms() == []


async def test_the_monitor_leaves_the_interpreter_s_thread_switching_alone(
    ward: tuple[TrialRecord, FakeClock],
):
    """Embedded, the monitor shares its process with the Streamlit server: its speed must not
    come from changing how the whole process shares the GIL."""
    record, clock = ward
    trial = watched_trial(record, clock, "sim:steady?seed=7", "9990000026")
    before = sys.getswitchinterval()
    service = QuietStreams(record, clock=clock)
    stop = asyncio.Event()
    stop.set()  # starts, then stops at once: its start-up and clean stop only
    await service.run(stop)
    assert trial.id in service.watches
    assert sys.getswitchinterval() == before


def test_a_failed_look_at_people_s_entries_loses_none_of_them(record: TrialRecord):
    from monitor.trial_watch import TrialWatch
    from rules import ObservationSet
    from rules.rule_set import default_rule_set

    trial = create_demo_trial(record, scenario="steady")
    watch = TrialWatch(record, default_rule_set(), trial, record.store.now)
    watch.rebuild(record.store.now())  # the injection is the engine's already
    nurse = record.users.demo_clinician()
    record.observations.record(nurse, trial.id, {"measured_at": record.store.now(), "rr": 14})
    real_events = record.alarms.events

    def database_away(trial_id):  # type: ignore[no-untyped-def]
        raise OperationalError("SELECT", {}, Exception("database is locked"))

    record.alarms.events = database_away  # type: ignore[method-assign]
    with pytest.raises(OperationalError):
        watch.new_record_entries()  # the sets were read, the acknowledgements were not
    record.alarms.events = real_events  # type: ignore[method-assign]
    entries = watch.new_record_entries()
    assert [type(e) for e in entries.events] == [ObservationSet]  # still there to be fed
    watch.queue(entries)
    assert watch.new_record_entries().events == []  # and fed once


async def test_a_dropped_readings_report_names_only_trials_that_lost_more(
    ward: tuple[TrialRecord, FakeClock],
):
    record, clock = ward
    first = watched_trial(record, clock, "sim:steady?seed=7", "9990000026")
    second = watched_trial(record, clock, "sim:steady?seed=9", "9990000034")
    async with synced(
        QuietStreams(record, settings=MonitorSettings(buffer_limit=2), clock=clock)
    ) as service:
        # The first trial loses one reading.
        service.buffer.add(record.readings.prepare(spo2_readings(first.id, clock.now, 3)))
        await service.flush()
        assert dropped_events(record, first.id) == [("raised", {"dropped": 1})]
        # The second loses one; the first lost nothing more: nothing more is said of it.
        clock.now += timedelta(seconds=1)
        service.buffer.add(record.readings.prepare(spo2_readings(second.id, clock.now, 3)))
        await service.flush()
    assert dropped_events(record, second.id) == [("raised", {"dropped": 1})]
    assert dropped_events(record, first.id) == [("raised", {"dropped": 1})]


@pytest.mark.looptime
async def test_the_timer_loop_stops_when_cancelled_as_a_frame_wakes_it(
    loop_ward: tuple[TrialRecord, LoopClock],
):
    """Stopping the monitor cancels its timer loop; a frame's wake-up landing at the same
    moment must not swallow that cancellation (on Python 3.11 ``asyncio.wait_for`` could, and
    the monitor's stop then never returned)."""
    record, clock = loop_ward
    clock.follow()
    service = MonitorService(record, settings=FAST, clock=clock)
    for _ in range(20):
        task = asyncio.create_task(service.timer_loop())
        await asyncio.sleep(0.05)  # waiting for its next round, or a frame
        service.wake_timers()  # a frame arrives...
        task.cancel()  # ...as the service is told to stop
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(asyncio.shield(task), 2.0)
        assert task.cancelled()
