"""Standalone monitor for a bedside gateway: ``python -m monitor [--demo] [--speed N]``.

Streams every device assigned to a trial in monitoring (against the database named by
ITBMON_DATABASE_URL, or the embedded SQLite file), until interrupted.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys

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


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m monitor", description=__doc__)
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
        record = TrialRecord.open()
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
