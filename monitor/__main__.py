"""Standalone monitor for a bedside gateway: ``python -m monitor [--demo] [--speed N]``.

Streams every device assigned to a trial in monitoring (against the database named by
ITBMON_DATABASE_URL, or the embedded SQLite file), until interrupted.

``python -m monitor demo-trial [--scenario NAME]`` records a complete simulated trial day
(yesterday) in the record and prints its id on the last line of stdout (monitor/demo_day.py):
the simulator's devices, the rules engine and a demo nurse's acknowledgements, for training,
reviews and the alarm benchmark. It asks for no sign-in: it is run by whoever looks after the
server, and its patient is fictional (an NHS test number, named DEMO).

``python -m monitor what-if --rules CANDIDATE.yaml [--trial ID ...] [--since DATE]
[--out report.csv|report.pdf]`` replays finished trial days from the record through the rule
set in force and the candidate rule file and lists every alarm the candidate sounds later or
not at all, and every alarm it adds (monitor/what_if.py). A candidate that does not load is
refused with the errors of ``python -m rules check-config``, line by line (exit status 1).

what-if signs in as a person, as ``python -m observations trials`` does (--user NAME or
ITBMON_USER; the password at a prompt, --password-stdin or ITBMON_PASSWORD; a clinical role),
and the read is audited. It prints trial ids and beds, never a name or a number, but the
times of one bed's alarms on a given day are clinical data about the patient who lay there:
the ward knows who that was. Run unattended, it takes the account from the environment.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import logging
import signal
import sys
import time

from devices.sources import source_problem
from monitor.service import MonitorService
from observations import log_privacy
from observations.demo import DEMO_SCENARIOS, create_demo_trial
from observations.record import TrialRecord
from observations.settings import ConfigurationError
from observations.ward_time import format_ward


async def _run(service: MonitorService) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await service.run(stop)


def _what_if(argv: list[str]) -> int:
    from datetime import date
    from pathlib import Path

    from monitor.what_if import text_report, what_if, write_report
    from observations.command_line import as_person, credential_options, run_on_record
    from observations.store import Actor
    from rules.__main__ import run_check_config
    from rules.rule_set import load_rule_set

    parser = argparse.ArgumentParser(
        prog="python -m monitor what-if",
        description="Replay finished trial days from the record through the rule set in force "
        "and a candidate rule file; list every alarm the candidate sounds later or not at "
        "all, and every alarm it adds. Signs in as a person (a clinical role), as "
        "'python -m observations trials' does: the report names trials by id and bed only, "
        "but a bed's alarm times on a day are clinical data about its patient.",
    )
    parser.add_argument(
        "--rules",
        type=Path,
        required=True,
        metavar="CANDIDATE.yaml",
        help="the candidate rule file (checked as 'python -m rules check-config' checks it)",
    )
    parser.add_argument(
        "--trial",
        type=int,
        action="append",
        metavar="ID",
        help="replay this trial (repeat for more; default: every finished one)",
    )
    parser.add_argument(
        "--since",
        type=date.fromisoformat,
        metavar="YYYY-MM-DD",
        help="only trials injected on this ward date or later",
    )
    parser.add_argument(
        "--out",
        type=Path,
        metavar="report.csv|report.pdf",
        help="also write the report as CSV or a one-page PDF (by suffix)",
    )
    credential_options(parser)
    args = parser.parse_args(argv)
    if args.out is not None and args.out.suffix.lower() not in (".csv", ".pdf"):
        parser.error("--out must end in .csv or .pdf")
    # The candidate first: a file that does not load is refused before anything is read,
    # with check-config's own line-numbered errors (its listing of a good file is not wanted).
    if run_check_config(args.rules, io.StringIO(), sys.stderr) != 0:
        return 1
    candidate = load_rule_set(args.rules)
    in_force = load_rule_set()

    def replay(record: TrialRecord, _args: argparse.Namespace, actor: Actor) -> int:
        report = what_if(record, actor, in_force, candidate, args.trial, args.since)
        print(text_report(report), end="")
        if args.out is not None:
            try:
                size = write_report(report, args.out)
            except OSError as exc:
                print(f"error: cannot write {args.out}: {exc.strerror}", file=sys.stderr)
                return 1
            print(f"Wrote {args.out} ({size} bytes).")
        return 0

    signed_in = as_person("python -m monitor what-if", replay)
    return run_on_record(lambda record: signed_in(record, args))


def _demo_trial(argv: list[str]) -> int:
    from monitor.demo_day import record_demo_day
    from observations.command_line import run_on_record

    parser = argparse.ArgumentParser(
        prog="python -m monitor demo-trial",
        description="Record a complete simulated trial day (yesterday) and print its id.",
    )
    parser.add_argument(
        "--scenario",
        choices=DEMO_SCENARIOS,
        default="overdose",
        help="the simulator's day (default: overdose, so alarms are raised and acknowledged)",
    )
    args = parser.parse_args(argv)

    def record_one(record: TrialRecord) -> int:
        started = time.monotonic()
        summary = record_demo_day(record, scenario=args.scenario)
        trial = summary.trial
        zone = record.settings.ward_timezone
        given = (
            f"{trial.injection.dose_mcg} mcg at {format_ward(trial.injection.given_at, zone)}"
            if trial.injection
            else "no injection"
        )
        # Only the id goes to stdout (scripts read it); the rest is for the person at the
        # terminal.
        print(
            f"Recorded demo trial {trial.id} ({args.scenario}): {trial.patient.identifiers}; "
            f"{given}; {summary.readings} readings, {summary.observation_sets} observation "
            f"sets, {summary.alarm_events} alarm events, {summary.acknowledgements} "
            f"acknowledgements; status {trial.status}, no decision yet "
            f"({time.monotonic() - started:.1f} s).",
            file=sys.stderr,
        )
        print(trial.id)
        return 0

    return run_on_record(record_one, device_sources=source_problem)


def main(argv: list[str]) -> int:
    if argv[:1] == ["what-if"]:
        return _what_if(argv[1:])
    if argv[:1] == ["demo-trial"]:
        return _demo_trial(argv[1:])
    parser = argparse.ArgumentParser(
        prog="python -m monitor",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--demo",
        action="store_true",
        help="create a demo patient and trial streaming from the simulator",
    )
    parser.add_argument("--scenario", choices=DEMO_SCENARIOS, default="overdose")
    parser.add_argument(
        "--speed",
        type=float,
        default=1.0,
        help="accelerate the demo: replay the day so far N times faster",
    )
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    if args.speed <= 0:
        parser.error("--speed must be positive")
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(message)s"
    )
    log_privacy.install()  # no patient data in the log, uncaught errors included
    try:
        record = TrialRecord.open(device_sources=source_problem)
    except ConfigurationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.demo:
        # Accelerated, the demo starts 2.5 h after the injection so the overdose drift of the
        # second and third hours is on screen within minutes.
        minutes = 150 if args.speed > 1 else 2
        trial = create_demo_trial(
            record, scenario=args.scenario, injected_minutes_ago=minutes, speed=args.speed
        )
        print(
            f"Demo trial {trial.id}: {trial.patient.identifiers}; injection "
            f"{format_ward(trial.injection.given_at, record.settings.ward_timezone)}"
            if trial.injection
            else f"Demo trial {trial.id}"
        )
    service = MonitorService(record, kind="standalone")
    print(f"Monitor {service.service_id} running; Ctrl-C to stop.", flush=True)
    asyncio.run(_run(service))
    record.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
