"""The monitor end to end: simulator bytes-free events -> record -> rules -> alarm events.

Time is the trial's own (the accelerated simulator catches up with the wall clock), so these
tests replay hours of a trial day in seconds and assert on what a nurse would see in the record.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import pytest
from sqlalchemy.exc import OperationalError

from devices.measurement import Measurement
from monitor.reading_buffer import ReadingBuffer
from monitor.service import MonitorService, MonitorSettings
from observations.demo import create_demo_trial
from observations.entries import ReadingIn
from observations.record import TrialRecord
from vocabulary import AlarmEventType, Parameter

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


async def test_overdose_day_raises_desaturation_and_stores_readings(record: TrialRecord):
    # 3 h after injection, replayed at 600x: the overdose drift of hours 2-3 is in the past.
    trial = create_demo_trial(record, scenario="overdose", injected_minutes_ago=180, speed=1800)
    service = MonitorService(record, settings=FAST)
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


async def test_steady_day_raises_no_physiological_alarm(record: TrialRecord):
    trial = create_demo_trial(record, scenario="steady", injected_minutes_ago=60, speed=1800)
    service = MonitorService(record, settings=FAST)
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


async def test_restart_rebuilds_without_duplicate_alarms(record: TrialRecord):
    trial = create_demo_trial(record, scenario="steady", injected_minutes_ago=40, speed=1800)
    first = MonitorService(record, settings=FAST)
    await run_until(first, lambda: "obs_overdue" in rules_raised(record, trial.id))
    before = rules_raised(record, trial.id)
    active_before = {a.rule_id for a in record.alarms.active(trial.id)}
    assert active_before == {"obs_overdue"}
    second = MonitorService(record, settings=FAST)
    await run_until(second, lambda: second.readings_written > 50)
    assert rules_raised(record, trial.id) == before  # nothing raised twice
    assert {a.rule_id for a in record.alarms.active(trial.id)} == {"obs_overdue"}


async def test_acknowledgement_reaches_the_engine(record: TrialRecord):
    trial = create_demo_trial(record, scenario="steady", injected_minutes_ago=40, speed=1800)
    service = MonitorService(record, settings=FAST)
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


def test_buffer_keeps_readings_while_database_is_away_and_counts_drops(record: TrialRecord):
    trial = create_demo_trial(record, scenario="steady")
    service = MonitorService(record, settings=MonitorSettings(buffer_limit=5))
    now = record.store.now()
    readings = [
        ReadingIn(trial.id, Parameter.SPO2, 97.0, now + timedelta(seconds=i), now, "sim:t")
        for i in range(8)
    ]
    service.buffer.add(record.readings.prepare(readings))
    assert len(service.buffer) == 5 and service.buffer.dropped == 3

    calls = {"n": 0}
    real_add = record.readings.add_prepared

    def flaky_add(actor, batch):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == 1:
            raise OperationalError("INSERT", {}, Exception("database is locked"))
        return real_add(actor, batch)

    record.readings.add_prepared = flaky_add  # type: ignore[method-assign]
    asyncio.run(service.flush())  # database away: kept
    assert len(service.buffer) == 5 and record.readings.count(trial.id) == 0
    asyncio.run(service.flush())  # back: written, oldest dropped ones are gone for good
    assert len(service.buffer) == 0 and record.readings.count(trial.id) == 5
    [dropped] = [a for a in record.alarms.active(trial.id) if a.rule_id == "readings_dropped"]
    assert dropped.evidence == {"dropped": 3} and dropped.kind == "technical"


def test_a_reading_the_record_refuses_is_reported_and_the_stream_goes_on(
    record: TrialRecord, caplog
):  # type: ignore[no-untyped-def]
    trial = create_demo_trial(record, scenario="steady")
    service = MonitorService(record)
    naive = datetime(2026, 3, 1, 9, 0)  # a device clock without a zone: cannot be placed
    bad = Measurement("berrymed", {Parameter.SPO2: 97.0}, device_time=naive, receive_time=naive)
    good_time = record.store.now()
    good = bad._replace(device_time=good_time, receive_time=good_time)
    service._keep(trial.id, bad)
    service._keep(trial.id, good)
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
    stale = service._dropped_event(trial.id, AlarmEventType.RESOLVED, "spo2_low")  # none active
    fresh = service._dropped_event(trial.id, AlarmEventType.RAISED, "readings_dropped", 4)
    service._commit([stale, fresh])
    assert asyncio.run(service._write_alarms())
    assert [a.rule_id for a in record.alarms.active(trial.id)] == ["readings_dropped"]
    assert service._pending_alarms == []


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


def test_the_service_shortens_the_gil_switch_interval_and_never_lengthens_it():
    import sys

    from monitor.service import share_the_gil

    before = sys.getswitchinterval()
    try:
        sys.setswitchinterval(0.005)
        share_the_gil(MonitorSettings())
        assert sys.getswitchinterval() == pytest.approx(0.001)
        sys.setswitchinterval(0.0002)
        share_the_gil(MonitorSettings())
        assert sys.getswitchinterval() == pytest.approx(0.0002)
    finally:
        sys.setswitchinterval(before)


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


def test_a_dropped_readings_report_names_only_trials_that_lost_more(record: TrialRecord):
    first = create_demo_trial(record, scenario="steady")
    second = create_demo_trial(record, scenario="steady")
    service = MonitorService(record, settings=MonitorSettings(buffer_limit=2))
    now = record.store.now()

    def three_readings(trial_id: int) -> None:
        rows = [
            ReadingIn(trial_id, Parameter.SPO2, 97.0, now + timedelta(seconds=i), now, "sim:t")
            for i in range(3)
        ]
        service.buffer.add(record.readings.prepare(rows))

    three_readings(first.id)  # one of them dropped
    asyncio.run(service._report_drops())
    assert [(e.trial_id, e.event) for e in service._pending_alarms] == [
        (first.id, AlarmEventType.RAISED)
    ]
    service._pending_alarms.clear()
    service.buffer.take(10)  # written
    three_readings(second.id)  # the second trial loses one; the first lost nothing more
    asyncio.run(service._report_drops())
    assert [(e.trial_id, e.event, e.evidence) for e in service._pending_alarms] == [
        (second.id, AlarmEventType.RAISED, {"dropped": 1})
    ]


async def test_the_timer_loop_stops_when_cancelled_as_a_frame_wakes_it(record: TrialRecord):
    """Stopping the monitor cancels its timer loop; a frame's wake-up landing at the same
    moment must not swallow that cancellation (on Python 3.11 ``asyncio.wait_for`` could, and
    the monitor's stop then never returned)."""
    service = MonitorService(record, settings=FAST)
    for _ in range(20):
        task = asyncio.create_task(service._timers())
        await asyncio.sleep(0.05)  # waiting for its next round, or a frame
        service._timers_wake.set()  # a frame arrives...
        task.cancel()  # ...as the service is told to stop
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(asyncio.shield(task), 2.0)
        assert task.cancelled()
