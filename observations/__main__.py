"""Command line for the record: ``python -m observations COMMAND``.

migrate     create or upgrade the database (also done on every start)
trials      list trials: id, patient identifiers, date, dose, status
export      one trial as pdf, csv, fhir or hl7
demo-trial  record a complete simulated trial day (yesterday) and print its id
users add   add an account (passwords at a prompt, or --password-stdin and
            --admin-password-stdin / ITBMON_ADMIN_PASSWORD without a terminal)
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
import time
from pathlib import Path

from observations.errors import RecordError
from observations.nhs_number import format_nhs
from observations.record import TrialRecord
from observations.settings import ConfigurationError
from observations.ward_time import format_ward
from vocabulary import Role


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


def _export(record: TrialRecord, args: argparse.Namespace) -> int:
    from observations.exports import export_trial

    data = export_trial(record, args.trial, args.format)
    out = Path(args.out)
    partial = out.with_name(out.name + ".partial")
    partial.write_bytes(data)
    partial.replace(out)  # never leave a half-written export behind
    print(f"Wrote {args.format} export of trial {args.trial} to {out} ({len(data)} bytes).")
    return 0


def _demo_trial(record: TrialRecord, args: argparse.Namespace) -> int:
    from observations.demo_day import record_demo_day

    started = time.monotonic()
    summary = record_demo_day(record, scenario=args.scenario)
    trial = summary.trial
    zone = record.settings.ward_timezone
    assert trial.injection is not None
    # Only the id goes to stdout (scripts read it); the rest is for the person at the terminal.
    print(
        f"Recorded demo trial {trial.id} ({args.scenario}): {trial.patient.identifiers}; "
        f"{trial.injection.dose_mcg} mcg at {format_ward(trial.injection.given_at, zone)}; "
        f"{summary.readings} readings, {summary.observation_sets} observation sets, "
        f"{summary.alarm_events} alarm events, {summary.acknowledgements} acknowledgements; "
        f"status {trial.status}, no decision yet ({time.monotonic() - started:.1f} s).",
        file=sys.stderr,
    )
    print(trial.id)
    return 0


ADMIN_ENV = "ITBMON_ADMIN_PASSWORD"  # the administrator's password, for scripts


class NoPassword(Exception):
    """A password is needed and there is no way to ask for it; the message says what to do."""


def _terminal() -> bool:
    """Whether a person can be asked at a prompt (stdin is a terminal, not a pipe or closed)."""
    try:
        return sys.stdin is not None and sys.stdin.isatty()
    except (ValueError, OSError):  # closed
        return False


def _stdin_line(what: str, option: str) -> str:
    """One line of stdin (without its line ending); refuses an empty or absent line."""
    line = sys.stdin.readline() if sys.stdin is not None else ""
    password = line.rstrip("\r\n")
    if not password:
        raise NoPassword(f"{option} was given but stdin holds no line for {what}.")
    return password


def _prompt(prompt: str, what: str, option: str) -> str:
    if not _terminal():
        raise NoPassword(
            f"{what} is needed and there is no terminal to ask for it: give it with {option}."
        )
    try:
        return getpass.getpass(prompt)
    except EOFError:  # Ctrl-D at the prompt
        raise NoPassword(f"No password was typed; or give it with {option}.") from None


def _users(record: TrialRecord, args: argparse.Namespace) -> int:
    """``users add``. Passwords come from a prompt at a terminal, or from stdin (one line each:
    the administrator's first, then the new account's) or, for the administrator, from
    ITBMON_ADMIN_PASSWORD, so that a script can add accounts without a terminal."""
    from observations.users import actor_of

    roles = {Role(r) for r in args.role}
    first = record.users.first_admin_needed()
    if first and args.admin_password_stdin:
        print(
            "error: no account exists yet, so no administrator confirms the first one: "
            "leave out --admin-password-stdin",
            file=sys.stderr,
        )
        return 2
    admin = None
    if not first:
        admin = record.users.get(args.admin) if args.admin else None
        if admin is None:
            print("error: accounts exist; name an administrator with --admin", file=sys.stderr)
            return 2
    try:
        admin_password = None
        if admin is not None:
            if args.admin_password_stdin:
                admin_password = _stdin_line(
                    f"the password of {admin.username}", "--admin-password-stdin"
                )
            elif os.environ.get(ADMIN_ENV):
                admin_password = os.environ[ADMIN_ENV]
            else:
                admin_password = _prompt(
                    f"Password of {admin.username}: ",
                    f"The password of the administrator {admin.username}",
                    f"--admin-password-stdin or {ADMIN_ENV}",
                )
        if args.password_stdin:
            password = _stdin_line("the new account's password", "--password-stdin")
        else:
            new = "The new account's password"
            password = _prompt("Password (at least 10 characters): ", new, "--password-stdin")
            if _prompt("Password again: ", new, "--password-stdin") != password:
                print("error: the two passwords differ", file=sys.stderr)
                return 1
    except NoPassword as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    actor = None
    if admin is not None:
        actor = actor_of(admin)
        assert admin_password is not None
        record.users.confirm_password(actor, admin_password, "users add")
    user = record.users.create(actor, args.username, args.name, roles, password)
    print(f"Account '{user.username}' created with roles {user.roles}.")
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
    export = commands.add_parser("export", help="export one trial")
    export.add_argument("--trial", type=int, required=True)
    export.add_argument("--format", choices=("pdf", "csv", "fhir", "hl7"), required=True)
    export.add_argument("--out", required=True)
    demo = commands.add_parser(
        "demo-trial", help="record a complete simulated trial day and print its id"
    )
    demo.add_argument(
        "--scenario",
        choices=("overdose", "steady", "artefact", "probe-off", "link-loss"),
        default="overdose",
        help="the simulator's day (default: overdose, so alarms are raised and acknowledged)",
    )
    users = commands.add_parser("users", help="manage accounts")
    users_commands = users.add_subparsers(dest="users_command", required=True)
    add = users_commands.add_parser("add", help="add an account")
    add.add_argument("username")
    add.add_argument("--name", required=True)
    add.add_argument("--role", action="append", required=True, choices=[r.value for r in Role])
    add.add_argument("--admin", help="the administrator adding the account (not for the first)")
    add.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the new account's password from stdin (one line; after the "
        "administrator's when --admin-password-stdin is given too)",
    )
    add.add_argument(
        "--admin-password-stdin",
        action="store_true",
        help="read the administrator's password from the first line of stdin "
        f"(or set {ADMIN_ENV}); without either, it is asked at the terminal",
    )
    args = parser.parse_args(argv)
    try:
        record = TrialRecord.open()
    except ConfigurationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        handler = {
            "migrate": _migrate,
            "trials": _trials,
            "export": _export,
            "demo-trial": _demo_trial,
            "users": _users,
        }[args.command]
        return handler(record, args)
    except RecordError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
    finally:
        record.close()


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
