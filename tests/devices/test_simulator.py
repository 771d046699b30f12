"""The simulator: deterministic, on its own clock, and each scenario does what it promises."""

from __future__ import annotations

import itertools
import math
from datetime import UTC, datetime, timedelta

import pytest

from devices.measurement import ConnectionChange, Measurement
from devices.simulator import CUFF_PROTOCOL, OXIMETER_PROTOCOL, Simulator
from vocabulary import ConnectionState
from vocabulary import Parameter as P
from vocabulary import QualityFlag as F

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def day(scenario: str, hours: float = 4, seed: int = 7) -> list:
    simulator = Simulator(
        scenario, seed=seed, speed=math.inf, start=START, duration=timedelta(hours=hours)
    )
    return list(simulator.timeline())


def oximeter(events: list) -> list[Measurement]:
    return [e for e in events if isinstance(e, Measurement) and e.protocol == OXIMETER_PROTOCOL]


def cuff(events: list) -> list[Measurement]:
    return [
        e
        for e in events
        if isinstance(e, Measurement) and e.protocol == CUFF_PROTOCOL and not e.measuring
    ]


def longest_run(readings: list[Measurement], condition) -> int:  # type: ignore[no-untyped-def]
    best = run = 0
    for m in readings:
        run = run + 1 if condition(m) else 0
        best = max(best, run)
    return best


def test_same_seed_same_day_different_seed_different_day() -> None:
    assert day("overdose", 0.5, seed=3) == day("overdose", 0.5, seed=3)
    assert day("overdose", 0.5, seed=3) != day("overdose", 0.5, seed=4)


def test_times_are_on_the_simulated_clock() -> None:
    events = day("steady", 0.1)
    readings = oximeter(events)
    assert readings[0].device_time == START
    assert readings[10].device_time == START + timedelta(seconds=10)
    assert all(m.receive_time == m.device_time for m in readings)
    assert all(m.device_time.tzinfo is not None for m in readings)  # type: ignore[union-attr]


def test_steady_day_stays_inside_normal_ranges() -> None:
    events = day("steady")
    readings = oximeter(events)
    assert len(readings) == 4 * 3600 + 1
    assert all(m.flags == () and not m.missing for m in readings)
    assert min(m.values[P.SPO2] for m in readings) >= 95
    assert all(55 <= m.values[P.PULSE_RATE] <= 90 for m in readings)
    pressures = cuff(events)
    assert len(pressures) == 16  # every 15 min over 4 h
    assert all(111 <= m.values[P.SYSTOLIC] <= 160 for m in pressures)
    states = [e.state for e in events if isinstance(e, ConnectionChange)]
    assert ConnectionState.STALE not in states and ConnectionState.DISCONNECTED not in states


def test_overdose_drifts_down_through_hours_two_and_three() -> None:
    events = day("overdose")
    readings = oximeter(events)
    first_hour = [m for m in readings if m.device_time < START + timedelta(hours=1)]  # type: ignore[operator]
    fourth_hour = [m for m in readings if m.device_time >= START + timedelta(hours=3)]  # type: ignore[operator]
    assert min(m.values[P.SPO2] for m in first_hour) >= 95
    # rules/default_rules.yaml would genuinely fire: SpO2 <= 91 held for 15 s, pulse 41-50 for 30 s,
    # systolic <= 100 on a reading.
    assert longest_run(fourth_hour, lambda m: m.values[P.SPO2] <= 91) >= 15
    assert longest_run(fourth_hour, lambda m: m.values[P.PULSE_RATE] <= 50) >= 30
    late_pressures = [m for m in cuff(events) if m.device_time >= START + timedelta(hours=3)]  # type: ignore[operator]
    assert late_pressures and all(m.values[P.SYSTOLIC] <= 100 for m in late_pressures)
    early_pressures = [m for m in cuff(events) if m.device_time < START + timedelta(hours=1)]  # type: ignore[operator]
    assert all(m.values[P.SYSTOLIC] > 110 for m in early_pressures)


def test_overdose_counts_from_the_injection() -> None:
    simulator = Simulator(
        "overdose",
        seed=1,
        speed=math.inf,
        start=START,
        injection_at=START + timedelta(hours=2),
        duration=timedelta(hours=2),
    )
    readings = oximeter(list(simulator.timeline()))
    assert min(m.values[P.SPO2] for m in readings) >= 94  # only 0-2 h after injection yet


def test_artefact_dips_are_short_and_flagged() -> None:
    readings = oximeter(day("artefact", 1))
    flagged = [m for m in readings if F.ARTIFACT in m.flags]
    assert flagged
    assert longest_run(readings, lambda m: F.ARTIFACT in m.flags) < 15
    assert min(m.values[P.SPO2] for m in flagged) < 95
    unflagged = [m for m in readings if not m.flags]
    assert min(m.values[P.SPO2] for m in unflagged) >= 95


def test_probe_off_gives_flagged_readings_without_values() -> None:
    readings = oximeter(day("probe-off", 1))
    off = [m for m in readings if F.NO_FINGER in m.flags]
    assert len(off) >= 60
    assert all(m.values == {} and P.SPO2 in m.missing and P.PULSE_RATE in m.missing for m in off)


def test_link_loss_goes_silent_longer_than_quiet_time_then_returns() -> None:
    events = day("link-loss", 0.5)
    readings = oximeter(events)
    gaps = [
        (b.device_time - a.device_time).total_seconds()  # type: ignore[operator]
        for a, b in itertools.pairwise(readings)
    ]
    assert max(gaps) > 10
    changes = [e for e in events if isinstance(e, ConnectionChange) and e.source == "sim:link-loss"]
    states = [c.state for c in changes]
    assert states[:2] == [ConnectionState.CONNECTING, ConnectionState.CONNECTED]
    assert states[2:6] == [
        ConnectionState.STALE,
        ConnectionState.DISCONNECTED,
        ConnectionState.CONNECTING,
        ConnectionState.CONNECTED,
    ]
    stale = changes[2]
    last_before = max(m.device_time for m in readings if m.device_time < stale.at)  # type: ignore[operator]
    assert (stale.at - last_before).total_seconds() == pytest.approx(10)
    assert all(c.reason for c in changes)


def test_nibp_every_n_minutes_with_measuring_first() -> None:
    from devices.simulator import SimulatorTiming

    simulator = Simulator(
        "steady",
        speed=math.inf,
        start=START,
        duration=timedelta(minutes=30),
        timing=SimulatorTiming(nibp_every_min=5),
    )
    events = list(simulator.timeline())
    results = cuff(events)
    assert [(m.device_time - START).total_seconds() for m in results] == [  # type: ignore[operator]
        30 + 300 * i for i in range(6)
    ]
    inflating = [e for e in events if isinstance(e, Measurement) and e.measuring]
    assert len(inflating) == 6 and all(m.values == {} for m in inflating)


async def test_async_iteration_accelerated() -> None:
    simulator = Simulator("steady", seed=2, speed=1e6, start=START, duration=timedelta(seconds=120))
    events = [event async for event in simulator.events()]
    assert events == list(
        Simulator(
            "steady", seed=2, speed=math.inf, start=START, duration=timedelta(seconds=120)
        ).timeline()
    )


def test_rejects_naive_start_and_bad_speed() -> None:
    with pytest.raises(ValueError):
        Simulator("steady", speed=0)
    with pytest.raises(ValueError):
        Simulator("no-such-scenario")
