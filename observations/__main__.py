"""Command line for the record: ``python -m observations COMMAND``.

migrate   create or upgrade the database (also done on every start)
trials    list trials: id, patient identifiers, date, dose, status
"""

from __future__ import annotations

import argparse
import sys

from observations.errors import RecordError
from observations.nhs_number import format_nhs
from observations.record import TrialRecord
from observations.settings import ConfigurationError
from observations.ward_time import format_ward


def _trials(record: TrialRecord, _args: argparse.Namespace) -> int:
    zone = record.settings.ward_timezone
    print("id\tnhs_number\thospital_number\tname\tdate\tdose_mcg\tstatus")
    for trial in record.trials.list():
        when = trial.injection.given_at if trial.injection else trial.created_at
        dose = trial.injection.dose_mcg if trial.injection else trial.planned_dose_mcg
        patient = trial.patient
        print(
            f"{trial.id}\t{format_nhs(patient.nhs_number)}\t{patient.hospital_number}\t"
            f"{patient.name}\t{format_ward(when, zone)}\t{dose}\t{trial.status}"
        )
    return 0


def _migrate(record: TrialRecord, _args: argparse.Namespace) -> int:
    print(f"The record is at the newest schema ({record.store.engine.url.get_backend_name()}).")
    return 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m observations",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("migrate", help="create or upgrade the database")
    commands.add_parser("trials", help="list trials")
    args = parser.parse_args(argv)
    try:
        record = TrialRecord.open()
    except ConfigurationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        handler = {"migrate": _migrate, "trials": _trials}[args.command]
        return handler(record, args)
    except RecordError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
    finally:
        record.close()


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
