"""What-if replay speed: ``python -m benchmarks what-if [--days N]``.

Records one overdose demo day on a fresh SQLite record in a temporary directory, its window
closed 5 h 30 after the injection so that its devices stream for 6 hours at 1 Hz (the demo day
closes at 4 h 10), then times `monitor.what_if.what_if`, from the record to the comparison,
through the rule set in force and a candidate (the shipped rule file with the critical
desaturation delay lengthened from 5 to 20 s): that day once (target 2 s), then N days (default
30; target 30 s). Recording 30 days would take minutes, so the N days are the one recorded day
read from the record and replayed N times; the output says so. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from unittest import mock
from zoneinfo import ZoneInfo

from monitor import demo_day
from monitor.what_if import what_if
from observations.database import create_record_engine, migrate
from observations.record import TrialRecord
from observations.settings import Settings
from rules.rule_set import default_rule_set, parse_rule_set
from vocabulary import Role

DAY_HOURS = 6.0
ONE_DAY_TARGET_S = 2.0
DAYS_TARGET_S = 30.0  # for 30 days
RULES = Path(__file__).resolve().parents[1] / "rules" / "default_rules.yaml"


def _candidate():  # type: ignore[no-untyped-def]
    text = RULES.read_text(encoding="utf-8").replace(
        "          max_delay_s: 5\n          clears_at: 87",
        "          max_delay_s: 20\n          clears_at: 87",
    )
    in_force = f'"{default_rule_set().version}"'  # the candidate is a version of its own
    return parse_rule_set(
        text.replace(in_force, '"benchmark-candidate"'), "benchmark-candidate.yaml"
    )


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks what-if", description=__doc__)
    parser.add_argument("--days", type=int, default=30)
    args = parser.parse_args(argv)
    in_force, candidate = default_rule_set(), _candidate()
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'record.sqlite3'}"
        engine = create_record_engine(url)
        migrate(engine)
        record = TrialRecord(engine, Settings(Path(tmp), url, ZoneInfo("Europe/London")))
        # Devices on 30 min before the injection, window closed 5 h 30 after it: 6 hours.
        closed = timedelta(hours=DAY_HOURS) + demo_day.DEVICE_ON
        began = time.perf_counter()
        with mock.patch.object(demo_day, "WINDOW_CLOSED", closed):
            trial = demo_day.record_demo_day(record, "overdose").trial
        recording_s = time.perf_counter() - began
        # The safety officer running it: any clinical role (single sign-on, no password hash).
        reviewer = record.users.sign_in_external(
            "https://login.bench.example",
            "safety.officer",
            "Safety Officer",
            ["nurses"],
            {"nurses": Role.NURSE},
        )
        readings = record.readings.count(trial.id)
        what_if(record, reviewer, in_force, candidate, [trial.id])  # warm: imports, caches
        began = time.perf_counter()
        one = what_if(record, reviewer, in_force, candidate, [trial.id])
        one_s = time.perf_counter() - began
        began = time.perf_counter()
        many = what_if(record, reviewer, in_force, candidate, [trial.id] * args.days)
        many_s = time.perf_counter() - began
        record.close()
    day = one.comparison.days[0]
    target = DAYS_TARGET_S * args.days / 30
    print(
        json.dumps(
            {
                "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
                "rule_sets": [in_force.version, candidate.version],
                "day": {
                    "hours": round((day.end - day.start).total_seconds() / 3600, 2),
                    "readings_in_record": readings,
                    "recording_s": round(recording_s, 2),
                    "alarm_differences": len(
                        [
                            d
                            for d in day.differences
                            if d.change.value not in ("same", "already shown")
                        ]
                    ),
                },
                "one_day": {
                    "seconds": round(one_s, 3),
                    "target_s": ONE_DAY_TARGET_S,
                    "ratio_to_target": round(one_s / ONE_DAY_TARGET_S, 3),
                },
                f"{args.days}_days": {
                    "seconds": round(many_s, 3),
                    "target_s": target,
                    "ratio_to_target": round(many_s / target, 3),
                    "days_replayed": len(many.comparison.days),
                    "note": f"one recorded day read from the record and replayed {args.days} times "
                    f"(recording {args.days} days would take about "
                    f"{recording_s * args.days:.0f} s)",
                },
            },
            indent=2,
        )
    )
    return 0
