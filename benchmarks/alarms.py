"""Alarm burden of simulated trial days: ``python -m benchmarks alarms [options]``.

Replays the demo trial day through ``rules.engine.TrialEngine``, without a database: the walk
of ``monitor.demo_day.DemoWalk``, which is exactly what ``python -m monitor demo-trial
--scenario S`` records (the simulator's oximeter and cuff at 1 Hz from 30 minutes before the
10:00 injection, observation sets a minute before each due time, the demo nurse acknowledging
every annunciation after 45 s (high), 90 s (medium) or 120 s (low), the window closed at
+4 h 10 min), with the simulator seeded by SEED instead of the recorded trial's id. Days:
overdose for seeds 1-10, and steady, artefact, probe-off and link-loss for seeds 1-3.

Each day is measured by ``rules.alarm_burden.alarm_burden`` over the whole monitored span, from
the device going on (injection - 30 min) to the window's close (injection + 4 h 10 min):
4.67 patient-hours, alarms before the injection included. The overdose days are summed up as
min / median / max over the seeds, and checked against the targets. Prints one JSON object and
keeps it in docs/benchmarks/alarms.json.

The levels that coverage is measured against (and the reminder intervals) come from the
engine's rule file unless ``--burden-rules`` names another, so an older rule set (disjoint
bands, no reminders) is measured against the same nested levels; ``--match prefix`` then counts
any ``spo2_*`` alarm as an alarm of ``spo2_low``, and so on.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from collections.abc import Mapping
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml

from devices.measurement import DeviceEvent, Measurement
from devices.simulator import Scenario
from monitor.demo_day import DEVICE_ON, INJECTED_AT, WINDOW_CLOSED, DemoWalk
from observations.ward_time import ward_time_to_utc
from rules.alarm_burden import Match, alarm_burden, reminder_intervals, streamed_levels
from rules.engine import TrialEngine
from rules.events import AlarmEvent, Reading
from rules.rule_set import RuleSet, default_rule_set, load_rule_set
from vocabulary import STREAMED_PARAMETERS

DAY = date(2025, 3, 4)  # any day: the simulator depends on the seed and the times only
WARD_ZONE = ZoneInfo("Europe/London")
OUT = Path("docs/benchmarks/alarms.json")
OTHER_SCENARIOS = (Scenario.STEADY, Scenario.ARTEFACT, Scenario.PROBE_OFF, Scenario.LINK_LOSS)
# The overdose day's figures summed up over the seeds (min / median / max).
SUMMED_UP = (
    "raises",
    "raises_per_hour",
    "annunciations",
    "annunciations_per_hour",
    "reminders",
    "reminders_per_hour",
    "re_raises_within_60s",
    "annunciations_within_60s_of_previous",
    "uncovered_s",
    "uncovered_at_level_s",
    "first_alarm_after_onset_max_s",
    "runs_never_alarmed",
    "alarm_events",
)
LEVEL_SUMMED_UP = (
    "uncovered_s",
    "uncovered_at_level_s",
    "runs_past_delay",
    "runs_past_delay_never_alarmed",
    "runs_past_delay_never_at_level",
)


class _Replay(DemoWalk):
    """The demo walk, keeping the oximeter's streamed readings as the engine had them."""

    def __init__(self, scenario: Scenario, injection_at: datetime) -> None:
        super().__init__(scenario, injection_at)
        self.readings: list[Reading] = []

    def _device_event(self, event: DeviceEvent, at: datetime, readings: list[Reading]) -> None:
        # The cuff's pulse (every 15 minutes) is not the stream a zone is judged on.
        if isinstance(event, Measurement) and event.source == self.source:
            self.readings += [r for r in readings if r.parameter in STREAMED_PARAMETERS]


def replay_day(
    rule_set: RuleSet, scenario: Scenario, seed: int
) -> tuple[list[AlarmEvent], list[Reading], datetime, datetime]:
    """One demo day through a fresh engine: its alarm events, streamed readings and span."""
    injection_at = ward_time_to_utc(datetime.combine(DAY, INJECTED_AT), WARD_ZONE)
    walk = _Replay(scenario, injection_at)
    engine = TrialEngine(rule_set, trial_id=f"bench-{scenario.value}-{seed}")
    walk.walk(engine, seed=seed)
    return walk.alarm_events, walk.readings, injection_at + DEVICE_ON, injection_at + WINDOW_CLOSED


def measure_day(
    rule_set: RuleSet,
    burden_rules: RuleSet | Mapping[str, Any],
    scenario: Scenario,
    seed: int,
    match: Match,
) -> dict[str, Any]:
    events, readings, start, end = replay_day(rule_set, scenario, seed)
    burden = alarm_burden(events, readings, burden_rules, start=start, end=end, match=match)
    figures = {"scenario": scenario.value, "seed": seed, "alarm_events": len(events)}
    figures.update(burden.as_dict())
    figures["re_raises"] = figures["re_raises"][:10]  # the first few, to find them by
    return figures


def _spread(values: list[Any]) -> dict[str, Any] | None:
    """min / median / max; None where the figure was not worked out (at-level figures of a
    rule set whose alarms name no level)."""
    values = [v for v in values if v is not None]
    if not values:
        return None
    return {"min": min(values), "median": statistics.median(values), "max": max(values)}


def sum_up(days: list[dict[str, Any]]) -> dict[str, Any]:
    """min / median / max of each figure over the days (one scenario, several seeds)."""
    out: dict[str, Any] = {key: _spread([d[key] for d in days]) for key in SUMMED_UP}
    out["levels"] = {}
    for name in days[0]["levels"]:
        levels = [d["levels"][name] for d in days]
        figures = {key: _spread([lv.get(key) for lv in levels]) for key in LEVEL_SUMMED_UP}
        for key in ("first_alarm_after_onset_s", "first_alarm_at_level_after_onset_s"):
            if key in levels[0]:
                figures[f"{key[:-2]}_max_s"] = _spread([lv[key]["max"] for lv in levels])
        out["levels"][name] = figures
    return out


def targets(overdose: list[dict[str, Any]], others: list[dict[str, Any]]) -> dict[str, Any]:
    def check(value: float, limit: float, target: str) -> dict[str, Any]:
        return {"value": value, "target": target, "met": value <= limit}

    quiet = [d["raises"] for d in others if d["scenario"] in ("steady", "artefact")]
    return {
        "overdose_raises_per_hour": check(
            max(d["raises_per_hour"] for d in overdose), 6, "<= 6 on every overdose day"
        ),
        "overdose_annunciations_per_hour": check(
            max(d["annunciations_per_hour"] for d in overdose), 12, "<= 12 on every overdose day"
        ),
        "overdose_re_raises_within_60s": check(
            sum(d["re_raises_within_60s"] for d in overdose), 0, "0 over the overdose days"
        ),
        "overdose_uncovered_s": check(
            max(d["uncovered_s"] for d in overdose),
            0,
            "0 s in a zone beyond the level's delay + 15 s without its alarm",
        ),
        "steady_artefact_raises_per_day": check(
            max(quiet, default=0), 1, "<= 1 on every steady and artefact day"
        ),
    }


def burden_rules_from(path: str | None, rule_set: RuleSet) -> RuleSet | Mapping[str, Any]:
    """What the burden is measured against: a rule file's content, or the engine's rules."""
    if path is None:
        return rule_set
    return yaml.safe_load(Path(path).read_text(encoding="utf-8"))


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks alarms",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--rules", help="the engine's rule file (default: the shipped one)")
    parser.add_argument(
        "--burden-rules",
        metavar="FILE",
        help="take the levels and reminder intervals measured against from "
        "this rule file (default: the engine's)",
    )
    parser.add_argument(
        "--match",
        choices=("rule", "prefix"),
        default="rule",
        help="an alarm of a level's rule: the same rule id, or any rule id "
        "with the same first word (spo2_, pulse_)",
    )
    parser.add_argument("--overdose-seeds", type=int, default=10, help="seeds 1..N")
    parser.add_argument(
        "--other-seeds",
        type=int,
        default=3,
        help="seeds 1..N of the steady, artefact, probe-off and link-loss days",
    )
    parser.add_argument(
        "--out", default=str(OUT), help=f"also write the JSON here ('-': nowhere; default {OUT})"
    )
    args = parser.parse_args(argv)

    began = time.perf_counter()
    rule_set = load_rule_set(args.rules) if args.rules else default_rule_set()
    burden_rules = burden_rules_from(args.burden_rules, rule_set)
    levels = streamed_levels(burden_rules)
    overdose = []
    for seed in range(1, args.overdose_seeds + 1):
        print(f"overdose day, seed {seed} ...", file=sys.stderr)
        overdose.append(measure_day(rule_set, burden_rules, Scenario.OVERDOSE, seed, args.match))
    others = []
    for scenario in OTHER_SCENARIOS:
        for seed in range(1, args.other_seeds + 1):
            print(f"{scenario.value} day, seed {seed} ...", file=sys.stderr)
            others.append(measure_day(rule_set, burden_rules, scenario, seed, args.match))

    figures: dict[str, Any] = {
        "benchmark": "alarms",
        "python": platform.python_version(),
        "rule_set": rule_set.version,
        "rule_file": rule_set.source,
        "measured_against": args.burden_rules or rule_set.source,
        "match": args.match,
        "levels": [
            {
                "name": lv.name,
                "rule": lv.rule_id,
                "level": lv.level_id,
                "max_delay_s": lv.max_delay_s,
            }
            for lv in levels
        ],
        "reminder_after_acknowledgement_s": {
            p.value: s for p, s in reminder_intervals(burden_rules).items()
        },
        "span": "device on (injection - 30 min) to window closed (injection + 4 h 10 min)",
        "targets": targets(overdose, others),
        "overdose": sum_up(overdose),
        "days": overdose + others,
        "seconds": round(time.perf_counter() - began, 1),
    }
    text = json.dumps(figures, indent=2) + "\n"
    sys.stdout.write(text)
    if args.out != "-":
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
