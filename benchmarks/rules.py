"""Rules engine throughput: `python -m benchmarks rules [--minutes N] [--trials N] [--repeat N]`.

Feeds a simulated normal trial day (1 Hz SpO2 and pulse, a set at every due time) through
`rules.engine.TrialEngine`: once for one trial, then interleaved in time order across N
concurrent trials (one engine each, as the monitor service runs them). Prints JSON figures:
events per second, and the headroom over the real-time load (a trial streams 2 readings/s).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from datetime import UTC, datetime

from rules.engine import TrialEngine
from rules.rule_set import default_rule_set
from rules.simulation import normal_day

START = datetime(2025, 3, 1, 8, 30, tzinfo=UTC)
READINGS_PER_SECOND_PER_TRIAL = 2  # SpO2 + pulse at 1 Hz


def _single(events: list, repeat: int) -> tuple[float, int]:
    rules = default_rule_set()
    best = float("inf")
    alarms = 0
    for _ in range(repeat):
        engine = TrialEngine(rules, trial_id="bench")
        began = time.perf_counter()
        for event in events:
            alarms += len(engine.feed(event))
        alarms += len(engine.advance_to(events[-1].time))
        best = min(best, time.perf_counter() - began)
    return best, alarms


def _concurrent(events: list, trials: int, repeat: int) -> tuple[float, int]:
    rules = default_rule_set()
    best = float("inf")
    alarms = 0
    for _ in range(repeat):
        engines = [TrialEngine(rules, trial_id=f"bench-{i}") for i in range(trials)]
        began = time.perf_counter()
        # Interleaved in time order: every trial sees each instant before any sees the next.
        for event in events:
            for engine in engines:
                alarms += len(engine.feed(event))
        best = min(best, time.perf_counter() - began)
    return best, alarms


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks rules", description=__doc__)
    parser.add_argument(
        "--minutes",
        type=float,
        default=241,
        help="simulated minutes after the injection (single trial)",
    )
    parser.add_argument(
        "--concurrent-minutes",
        type=float,
        default=60,
        help="simulated minutes after the injection per concurrent trial",
    )
    parser.add_argument("--trials", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3, help="best of N runs")
    args = parser.parse_args(argv)

    day = normal_day(START, seed=0, after_injection_min=args.minutes)
    single_s, single_alarms = _single(day, args.repeat)
    single_rate = len(day) / single_s

    short = normal_day(START, seed=0, after_injection_min=args.concurrent_minutes)
    concurrent_s, concurrent_alarms = _concurrent(short, args.trials, max(1, args.repeat - 2))
    concurrent_events = len(short) * args.trials
    concurrent_rate = concurrent_events / concurrent_s
    live_load = args.trials * READINGS_PER_SECOND_PER_TRIAL

    figures = {
        "benchmark": "rules",
        "python": platform.python_version(),
        "machine": platform.machine(),
        "single_trial": {
            "events": len(day),
            "simulated_minutes": args.minutes + 20,
            "seconds": round(single_s, 4),
            "events_per_s": round(single_rate),
            "alarm_events": single_alarms,
            # How many times faster than real time one trial is evaluated.
            "faster_than_real_time": round(single_rate / READINGS_PER_SECOND_PER_TRIAL),
        },
        "concurrent_trials": {
            "trials": args.trials,
            "events": concurrent_events,
            "simulated_minutes_each": args.concurrent_minutes + 20,
            "seconds": round(concurrent_s, 4),
            "events_per_s": round(concurrent_rate),
            "alarm_events": concurrent_alarms,
            "live_load_events_per_s": live_load,
            # Headroom over the live load of that many trials streaming at 1 Hz.
            "headroom_over_live_load": round(concurrent_rate / live_load, 1),
            "ratio_to_single_trial_rate": round(concurrent_rate / single_rate, 3),
        },
    }
    json.dump(figures, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
