"""The monitor from the baseline stage on, late sets at their measured time, and what it stores
of its judgement (each set's NEWS2, the due times, the baseline).

Time is the test's: the record and the monitor share a clock the test moves, and device frames
are handed to the watch as the service's streams hand them, one a second.
"""

from __future__ import annotations

import asyncio
import statistics
from collections.abc import AsyncIterator
from datetime import datetime, timedelta

from devices.measurement import Measurement, build_measurement
from monitor.engine_feed import record_readings
from monitor.service import MonitorService
from monitor.trial_watch import TrialWatch
from observations.record import TrialRecord
from observations.views import TrialView
from rules import DueStatus
from rules.rule_set import default_rule_set
from tests.observations.conftest import FakeClock
from vocabulary import InjectionRoute, Parameter, TrialStatus

OXIMETER = "sim:steady?seed=7"
SET = {
    "rr": 10,
    "spo2": 97,
    "on_oxygen": False,
    "systolic": 120,
    "diastolic": 80,
    "pulse_rate": 72,
    "consciousness": "A",
    "temp": 36.8,
}


class QuietStreams(MonitorService):
    """The real service whose device streams deliver nothing: the test hands it the frames."""

    def device_events(self, source, assignment, watch) -> AsyncIterator:  # type: ignore[no-untyped-def, override]
        async def nothing() -> AsyncIterator[Measurement]:
            await asyncio.Event().wait()
            yield  # type: ignore[misc]  # pragma: no cover

        return nothing()


def baseline_trial(
    record: TrialRecord, source: str = OXIMETER, nhs: str = "9990000026"
) -> TrialView:
    clinician = record.users.demo_clinician()
    patient = record.patients.register(
        clinician,
        {
            "nhs_number": nhs,
            "hospital_number": f"T{nhs[-5:]}",
            "family_name": "Baseline",
            "given_name": "Test",
            "date_of_birth": "1970-01-01",
        },
    )
    trial = record.trials.plan(clinician, patient.id, 50, bed="B1")
    record.trials.set_status(clinician, trial.id, TrialStatus.BASELINE)
    record.trials.assign_device(clinician, trial.id, source, "Bedside oximeter")
    return record.trials.get(trial.id)


def inject(record: TrialRecord, trial_id: int, given_at: datetime) -> None:
    record.trials.record_injection(
        record.users.demo_clinician(),
        trial_id,
        {
            "dose_mcg": 50,
            "given_at": given_at,
            "route": InjectionRoute.LUMBAR_PUNCTURE,
            "given_by": "Dr Test",
        },
    )


def spo2_at(second: int) -> float:
    return 95.0 + second % 4


def pulse_at(second: int) -> float:
    return 70.0 + second % 3


def stream(
    service: MonitorService | None,
    watch: TrialWatch,
    clock: FakeClock,
    start: datetime,
    seconds: range,
) -> list:  # type: ignore[type-arg]
    """One oximeter frame a second, as the service's stream task handles it; returns the
    record rows of those the service was not there to keep."""
    rows = []
    for second in seconds:
        at = start + timedelta(seconds=second)
        clock.now = at
        frame = build_measurement(
            "sim", {Parameter.SPO2: spo2_at(second), Parameter.PULSE_RATE: pulse_at(second)}
        ).stamped(receive_time=at, device_time=at, source=OXIMETER)
        events = watch.on_measurement(frame)
        if service is not None:
            service.commit(events)
            service.keep(watch.trial_id, frame)
        else:
            rows += record_readings(watch.trial_id, frame)
    return rows


async def rebuild_if_asked(service: MonitorService, watch: TrialWatch) -> None:
    """What the service's timer loop does: the due entries, then a rebuild if one is asked."""
    service.commit(watch.tick())
    if watch.rebuild_reason is not None:
        await service.judge_again(watch)


# --------------------------------------------------------------------------- the baseline stage


async def test_the_devices_are_watched_from_the_baseline_and_the_injection_keeps_the_watch(
    ward: tuple[TrialRecord, FakeClock],
):
    record, clock = ward
    start = clock.now
    trial = baseline_trial(record)
    replay = baseline_trial(record, "sim:steady?seed=8&speed=60", nhs="9990000034")
    service = QuietStreams(record, clock=clock)
    try:
        await service.sync()
        # Watched and streamed before the injection; an accelerated replay waits for it.
        assert set(service.streams) == {OXIMETER}
        watch = service.watches[trial.id]
        stream(service, watch, clock, start, range(20 * 60))
        given_at = start + timedelta(minutes=18)
        inject(record, trial.id, given_at)  # recorded two minutes after it was given
        await service.sync()
        assert service.watches[trial.id] is watch  # the same watch goes on
        await service.poll()
        await rebuild_if_asked(service, watch)
        assert service.watches[trial.id] is watch and not watch.held
        assert watch.engine.window_end() == given_at + timedelta(minutes=240)
        stream(service, watch, clock, start, range(20 * 60, 21 * 60))
        await service.judge()
    finally:
        for running in service.streams.values():
            running.task.cancel()
    # The baseline is the median of the readings of the 15 minutes before the injection.
    window = range(3 * 60, 18 * 60)
    assert watch.engine.baseline()[Parameter.SPO2] == statistics.median(map(spo2_at, window))
    assert watch.engine.baseline()[Parameter.PULSE_RATE] == statistics.median(map(pulse_at, window))
    # Every reading of the baseline stage is in the record, and a monitor started now
    # judges the trial as the running one does.
    assert record.readings.count(trial.id) == 2 * 20 * 60 + 2 * 60 - len(service.buffer)
    await service.flush()
    fresh = TrialWatch(record, default_rule_set(), record.trials.get(trial.id), clock)
    fresh.rebuild(clock.now)
    assert fresh.engine.baseline() == watch.engine.baseline()
    assert fresh.engine.observation_due_times() == watch.engine.observation_due_times()
    stored = record.set_scores.schedule(trial.id)
    assert stored is not None and stored.injection_at == given_at
    assert stored.baseline == {p.value: v for p, v in watch.engine.baseline().items()}
    assert stored.next_due == given_at + timedelta(minutes=15)
    # The accelerated simulator is streamed once its injection is recorded.
    inject(record, replay.id, clock.now - timedelta(minutes=1))
    assert OXIMETER in await asyncio.to_thread(service.claim)
    assert "sim:steady?seed=8&speed=60" in await asyncio.to_thread(service.claim)


def test_frames_held_while_the_engine_is_judged_again_reach_the_new_engine(
    ward: tuple[TrialRecord, FakeClock],
):
    record, clock = ward
    start = clock.now
    trial = baseline_trial(record)
    watch = TrialWatch(record, default_rule_set(), trial, clock)
    watch.rebuild(start)
    rows = stream(None, watch, clock, start, range(600))
    record.readings.add(record.users.service_actor(), rows)
    inject(record, trial.id, start + timedelta(minutes=9))
    watch.queue(watch.new_record_entries())
    assert watch.tick() == [] and watch.rebuild_reason is not None
    watch.hold()
    assert stream(None, watch, clock, start, range(600, 605))  # held, not judged
    assert watch.engine.now == start + timedelta(seconds=599)
    rebuilt = watch.rebuilt(start + timedelta(seconds=599), watch.rebuild_reason)
    watch.resume(rebuilt)
    assert watch.engine is rebuilt.engine and watch.rebuild_reason is None
    assert watch.engine.now == start + timedelta(seconds=604)  # the held frames were fed
    assert watch.late_readings == 0
    assert watch.engine.window_end() == start + timedelta(minutes=9 + 240)


# --------------------------------------------------------------------------- late sets


def test_a_late_set_counts_at_its_measured_time_live_and_after_a_rebuild_alike(
    ward: tuple[TrialRecord, FakeClock],
):
    record, clock = ward
    injected = clock.now
    trial = baseline_trial(record)
    inject(record, trial.id, injected)
    rules = default_rule_set()
    live = TrialWatch(record, rules, record.trials.get(trial.id), clock)
    live.rebuild(injected)
    nurse = record.users.demo_nurse()
    rows = stream(None, live, clock, injected, range(22 * 60 + 1))
    # Measured at 10:14 (injection + 14 min), typed at 10:22.
    late = record.observations.record(
        nurse, trial.id, {**SET, "measured_at": injected + timedelta(minutes=14)}
    )
    live.queue(live.new_record_entries())
    live.tick()
    rows += stream(None, live, clock, injected, range(22 * 60 + 1, 35 * 60))
    # Measured and typed at 10:29, on time.
    on_time = record.observations.record(
        nurse, trial.id, {**SET, "rr": 14, "measured_at": injected + timedelta(minutes=29)}
    )
    live.queue(live.new_record_entries())
    live.tick()
    rows += stream(None, live, clock, injected, range(35 * 60, 40 * 60))
    live.tick()
    record.readings.add(record.users.service_actor(), rows)
    rebuilt = TrialWatch(record, rules, record.trials.get(trial.id), clock)
    rebuilt.rebuild(clock.now)

    due = live.engine.observation_due_times()
    assert due == rebuilt.engine.observation_due_times()
    # Each set meets one due time, at the time it was measured.
    assert [(d.time - injected, d.status, d.met_at) for d in due[:2]] == [
        (timedelta(minutes=15), DueStatus.MET, injected + timedelta(minutes=14)),
        (timedelta(minutes=30), DueStatus.MET, injected + timedelta(minutes=29)),
    ]
    assert live.engine.latest_news2() == rebuilt.engine.latest_news2()
    assert live.engine.baseline() == rebuilt.engine.baseline()
    live_scores, live_schedule = live.judgements()
    rebuilt_scores, rebuilt_schedule = rebuilt.judgements()
    assert sorted(s.key() for s in live_scores) == sorted(s.key() for s in rebuilt_scores)
    assert live_schedule is not None and rebuilt_schedule is not None
    assert live_schedule.key() == rebuilt_schedule.key()
    scored = {s.observation_set_id: s for s in live_scores}
    assert scored[late.id].measured_at == injected + timedelta(minutes=14)
    assert (scored[late.id].total, scored[late.id].band) == (1, "low")  # RR 10 scores 1
    assert (scored[on_time.id].total, scored[on_time.id].spo2_from) == (0, "set")

    # Its alarm was judged when it arrived: slow breathing raised at 10:22, live and rebuilt.
    def raised(watch: TrialWatch) -> list[tuple[str, datetime]]:
        return sorted((a.rule_id, a.raised_at) for a in watch.engine.active_alarms())

    assert raised(live) == raised(rebuilt)


# --------------------------------------------------------------------------- what is stored


async def test_the_monitor_stores_its_judgement_once_and_judges_a_correction_again(
    ward: tuple[TrialRecord, FakeClock],
):
    record, clock = ward
    injected = clock.now
    trial = baseline_trial(record)
    inject(record, trial.id, injected)
    service = QuietStreams(record, clock=clock)
    nurse = record.users.demo_nurse()
    try:
        await service.sync()
        watch = service.watches[trial.id]
        stream(service, watch, clock, injected, range(16 * 60))
        first = record.observations.record(
            nurse, trial.id, {**SET, "measured_at": injected + timedelta(minutes=14)}
        )
        await service.poll()
        await rebuild_if_asked(service, watch)
        await service.judge()
        [score] = record.set_scores.for_trial(trial.id).values()
        assert (score.observation_set_id, score.total, score.band) == (first.id, 1, "low")
        assert (score.spo2, score.spo2_from, score.pulse, score.pulse_from) == (
            97,
            "set",
            72,
            "set",
        )
        assert score.rule_set_version == default_rule_set().version
        schedule = record.set_scores.schedule(trial.id)
        assert schedule is not None and schedule.due_times[0].met_at == first.measured_at
        audited = len(record.audit.entries(trial_id=trial.id, action_prefix="judgement."))
        await service.judge()  # nothing changed: nothing written
        restarted = QuietStreams(record, clock=clock)
        await restarted.sync()  # a restart judges alike: nothing written again
        await restarted.judge()
        for running in restarted.streams.values():
            running.task.cancel()
        assert len(record.set_scores.history(first.id)) == 1
        assert len(record.audit.entries(trial_id=trial.id, action_prefix="judgement.")) == audited

        # The nurse corrects the time: measured at 10:29, not 10:14.
        stream(service, watch, clock, injected, range(16 * 60, 31 * 60))
        fixed = record.observations.correct(
            nurse,
            first.id,
            {**SET, "measured_at": injected + timedelta(minutes=29)},
            "wrong time typed",
        )
        await service.poll()
        await rebuild_if_asked(service, watch)
        assert service.watches[trial.id] is watch and not watch.held
        await service.judge()
    finally:
        for running in service.streams.values():
            running.task.cancel()
    assert record.set_scores.for_trial(trial.id)[fixed.id].measured_at == fixed.measured_at
    schedule = record.set_scores.schedule(trial.id)
    assert schedule is not None
    # The set it corrects no longer counts: the 15-minute set was met late, by the set at
    # 10:29 (one set meets one due time: the overdue one), so the 30-minute one was missed.
    assert [(d.status, d.met_at) for d in schedule.due_times_at(clock.now)[:2]] == [
        (DueStatus.LATE, injected + timedelta(minutes=29)),
        (DueStatus.MISSED, None),
    ]


def test_a_due_time_passing_unmet_is_a_new_judgement_and_nothing_else_is(
    ward: tuple[TrialRecord, FakeClock],
):
    record, clock = ward
    injected = clock.now
    trial = baseline_trial(record)
    inject(record, trial.id, injected)
    watch = TrialWatch(record, default_rule_set(), record.trials.get(trial.id), clock)
    watch.rebuild(injected)
    stream(None, watch, clock, injected, range(10 * 60))
    scores, first = watch.judgements()
    assert scores == [] and first is not None
    assert [(d.time - injected, d.status) for d in first.due_times] == [
        (timedelta(minutes=15), DueStatus.DUE)
    ]
    stream(None, watch, clock, injected, range(10 * 60, 15 * 60 + 1))
    assert watch.judgements() == ([], None)  # readings alone change nothing judged
    stream(None, watch, clock, injected, range(15 * 60 + 1, 16 * 60))
    _, passed = watch.judgements()
    assert passed is not None
    assert [(d.time - injected, d.status) for d in passed.due_times] == [
        (timedelta(minutes=15), DueStatus.MISSED),
        (timedelta(minutes=30), DueStatus.DUE),
    ]


async def test_a_trial_without_a_device_is_watched_and_its_sets_scored(
    ward: tuple[TrialRecord, FakeClock],
):
    record, clock = ward
    injected = clock.now
    clinician = record.users.demo_clinician()
    patient = record.patients.register(
        clinician,
        {
            "nhs_number": "9990000042",
            "hospital_number": "T00042",
            "family_name": "Nodevice",
            "given_name": "Test",
            "date_of_birth": "1970-01-01",
        },
    )
    trial = record.trials.plan(clinician, patient.id, 50).id
    inject(record, trial, injected)
    service = QuietStreams(record, clock=clock)
    try:
        await service.sync()
        assert set(service.streams) == {f"no-device:trial/{trial}"}
        watch = service.watches[trial]
        clock.now = injected + timedelta(minutes=16)
        obs = record.observations.record(
            record.users.demo_nurse(),
            trial,
            {**SET, "measured_at": injected + timedelta(minutes=14)},
        )
        await service.poll()
        await rebuild_if_asked(service, watch)
        await service.judge()
        # A device assigned later streams into the same watch.
        record.trials.assign_device(clinician, trial, OXIMETER, "Bedside oximeter")
        await service.sync()
        assert set(service.streams) == {OXIMETER} and service.watches[trial] is watch
    finally:
        for running in service.streams.values():
            running.task.cancel()
    assert record.set_scores.for_trial(trial)[obs.id].total == 1
    schedule = record.set_scores.schedule(trial)
    assert schedule is not None and schedule.due_times[0].met_at == obs.measured_at


# --------------------------------------------------------------------------- the cuff's pulse


def test_the_cuff_pulse_beside_the_oximeter_is_not_judged_live_or_rebuilt(
    ward: tuple[TrialRecord, FakeClock],
):
    """Two pulses: the oximeter's 72 each second and a cuff's 35 (a wrong cuff count) between
    them. The streamed rules judge the oximeter's, live and after a rebuild alike."""
    record, clock = ward
    start = clock.now
    trial = baseline_trial(record)
    inject(record, trial.id, start)
    watch = TrialWatch(record, default_rule_set(), record.trials.get(trial.id), clock)
    watch.rebuild(start)
    rows, raised = [], []
    for second in range(1, 120):
        at = start + timedelta(seconds=second)
        clock.now = at
        frames = [
            build_measurement("sim", {Parameter.SPO2: 97.0, Parameter.PULSE_RATE: 72.0}).stamped(
                receive_time=at, device_time=at, source=OXIMETER
            )
        ]
        if second % 2 == 0:  # a cuff far more often than any ward's, so a mistake would show
            cuff_at = at + timedelta(milliseconds=500)  # the cuff keeps its own clock
            frames.append(
                build_measurement(
                    "sim-nibp",
                    {
                        Parameter.SYSTOLIC: 125.0,
                        Parameter.DIASTOLIC: 80.0,
                        Parameter.PULSE_RATE: 35.0,
                    },
                ).stamped(receive_time=cuff_at, device_time=cuff_at, source=f"{OXIMETER}/nibp")
            )
        for frame in frames:
            raised += watch.on_measurement(frame)
            rows += record_readings(watch.trial_id, frame)
    record.readings.add(record.users.service_actor(), rows)
    assert raised == [] and watch.engine.active_alarms() == []
    assert any(r.parameter is Parameter.PULSE_RATE and r.value == 35.0 for r in rows)  # kept
    fresh = TrialWatch(record, default_rule_set(), record.trials.get(trial.id), clock)
    assert fresh.rebuild(clock.now) == []
    assert fresh.engine.active_alarms() == []


# --------------------------------------------------------------------------- the window closes


async def test_alarms_of_a_trial_whose_window_closed_end_with_it(
    ward: tuple[TrialRecord, FakeClock],
):
    """A doctor closes the window while bradycardia is still present (saying why): the monitor
    stops watching the trial and ends its alarms, so none stays on a finished trial's screens."""
    record, clock = ward
    start = clock.now
    trial = baseline_trial(record)
    inject(record, trial.id, start)
    service = QuietStreams(record, clock=clock)
    try:
        await service.sync()
        watch = service.watches[trial.id]
        for second in range(1, 40):
            at = start + timedelta(seconds=second)
            clock.now = at
            frame = build_measurement(
                "sim", {Parameter.SPO2: 97.0, Parameter.PULSE_RATE: 46.0}
            ).stamped(receive_time=at, device_time=at, source=OXIMETER)
            service.commit(watch.on_measurement(frame))
        service.commit(watch.tick())
        assert await service.write_alarms()
        [alarm] = record.alarms.active(trial.id)
        assert alarm.rule_id == "pulse_low"
        record.alarms.acknowledge(record.users.demo_nurse(), alarm.id, "Pulse checked by hand.")
        record.trials.set_status(
            record.users.demo_clinician(),
            trial.id,
            TrialStatus.ASSESSED,
            reason="Pulse 46 is this patient's usual; reviewed at the bed.",
        )
        await service.sync()  # the trial is no longer watched
        assert trial.id not in service.watches
        assert await service.write_alarms()
    finally:
        for running in service.streams.values():
            running.task.cancel()
    assert record.alarms.active(trial.id) == []
    # The record resolved it with the window's close; the engine's own resolving afterwards
    # (as the watch ended) is not written twice.
    [resolved] = [e for e in record.alarms.events(trial.id) if e.event == "resolved"]
    assert resolved.evidence["reason"].startswith("the trial moved from monitoring to assessed")
    assert resolved.by_user == record.users.demo_clinician().user_id
