"""Command line for the record: ``python -m observations COMMAND``.

migrate       create or upgrade the schema and grant the app's role (SQLite: also on every
              start; PostgreSQL: as ITBMON_MIGRATION_DATABASE_URL, docs/postgresql.md)
trials        list trials: id, patient identifiers, date, dose, status (signed in)
export        one trial as pdf, csv, fhir or hl7 (signed in)
users add     add an account (passwords at a prompt, or --password-stdin and
              --admin-password-stdin / ITBMON_ADMIN_PASSWORD without a terminal)
audit verify  check the audit trail's hash chain [--anchor FILE: and that the entry
              the last run saw is still there]; exit status 1 if it is broken
backup PATH   copy the SQLite record while the app runs (PostgreSQL: pg_dump)

trials and export show patient data, so they sign in as a person: --user NAME (or
ITBMON_USER) and the password at a prompt, or with --password-stdin (one line), or in
ITBMON_PASSWORD; the sign-in is throttled and audited like the app's, and so is the read.
Listing trials needs a clinical role (administrators see no patient data); export needs a
role allowed to export (doctor, nurse specialist, physiotherapist). A refusal prints why on
stderr, nothing on stdout, and exits with status 2.

migrate, audit verify and backup ask for no sign-in: they are run by whoever
looks after the server, who can read the database's files anyway; audit verify prints entry
ids and hashes only (backup: observations/backup.py). A simulated trial day for training is
recorded by ``python -m monitor demo-trial``: it runs the simulator and the rules, which the
record does not know.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from observations.command_line import (
    ADMIN_ENV,
    NoPassword,
    as_person,
    credential_options,
    prompt_for,
    run_on_record,
    stdin_line,
)
from observations.errors import NotPermitted
from observations.limits import load_limits
from observations.nhs_number import format_nhs
from observations.record import TrialRecord
from observations.settings import ConfigurationError, load_settings
from observations.store import Actor
from observations.ward_time import format_ward
from vocabulary import CLINICAL_ROLES, Role


def _trials(record: TrialRecord, _args: argparse.Namespace, actor: Actor) -> int:
    if not actor.roles & CLINICAL_ROLES:  # administrators see no patient data, as in the app
        raise NotPermitted(
            f"{actor.username} may not list trials: patient data is for the clinical roles "
            "(nurse, physiotherapist, nurse specialist, doctor), not for administrators."
        )
    zone = record.settings.ward_timezone
    lines = ["id\tnhs_number\thospital_number\tname\tdate\tdose_mcg\tstatus"]
    for trial in record.trials.list():
        when = trial.injection.given_at if trial.injection else trial.created_at
        dose = trial.injection.dose_mcg if trial.injection else trial.planned_dose_mcg
        patient = trial.patient
        lines.append(
            f"{trial.id}\t{format_nhs(patient.nhs_number)}\t{patient.hospital_number}\t"
            f"{patient.name}\t{format_ward(when, zone)}\t{dose}\t{trial.status}"
        )
    # Audited before anything is shown: a read the trail cannot hold is not shown.
    record.audit.note_view(actor, "trials", details={"trials": len(lines) - 1, "via": "cli"})
    print("\n".join(lines))
    return 0


def _export(record: TrialRecord, args: argparse.Namespace, actor: Actor) -> int:
    from observations.exports import export_for

    # Checks the role and writes the same audit entry (trial.export: who, which trial, which
    # format) as the app's export button, before the file is written.
    data = export_for(record, actor, args.trial, args.format)
    out = Path(args.out)
    partial = out.with_name(out.name + ".partial")
    # The file leaves the record's protection: readable by its owner only until they share it.
    try:
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        partial.replace(out)  # never leave a half-written export behind
    except OSError as exc:
        partial.unlink(missing_ok=True)
        print(f"error: cannot write {out}: {exc.strerror}", file=sys.stderr)
        return 1
    print(f"Wrote {args.format} export of trial {args.trial} to {out} ({len(data)} bytes).")
    return 0


def _users(record: TrialRecord, args: argparse.Namespace) -> int:
    """``users add``. Passwords come from a prompt at a terminal, or from stdin (one line each:
    the administrator's first, then the new account's) or, for the administrator, from
    ITBMON_ADMIN_PASSWORD, so that a script can add accounts without a terminal. The
    administrator signs in as on the app's sign-in page (throttled, audited)."""
    from observations.passwords import check_new_password

    roles = {Role(r) for r in args.role}
    first = record.users.first_admin_needed()
    if first and args.admin_password_stdin:
        print(
            "error: no account exists yet, so no administrator confirms the first one: "
            "leave out --admin-password-stdin",
            file=sys.stderr,
        )
        return 2
    if not first and not args.admin:
        print("error: accounts exist; name an administrator with --admin", file=sys.stderr)
        return 2
    try:
        admin_password = None
        if not first:
            if args.admin_password_stdin:
                admin_password = stdin_line(
                    f"the password of {args.admin}", "--admin-password-stdin"
                )
            elif os.environ.get(ADMIN_ENV):
                admin_password = os.environ[ADMIN_ENV]
            else:
                admin_password = prompt_for(
                    f"Password of {args.admin}: ",
                    f"The password of the administrator {args.admin}",
                    f"--admin-password-stdin or {ADMIN_ENV}",
                )
        if args.password_stdin:
            password = stdin_line("the new account's password", "--password-stdin")
        else:
            new = "The new account's password"
            minimum = load_limits().accounts.min_password_length
            password = prompt_for(
                f"Password (at least {minimum} characters; three random words): ",
                new,
                "--password-stdin",
            )
            if prompt_for("Password again: ", new, "--password-stdin") != password:
                print("error: the two passwords differ", file=sys.stderr)
                return 1
    except NoPassword as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    # A password the record would refuse is refused before the administrator signs in.
    check_new_password(args.username, password)
    if first:
        user = record.users.create(None, args.username, args.name, roles, password)
    else:
        assert admin_password is not None
        admin = record.users.sign_in(args.admin, admin_password)
        try:
            user = record.users.create(admin, args.username, args.name, roles, password)
        finally:
            record.users.sign_out(admin, "command finished")
    print(f"Account '{user.username}' created with roles {user.roles}.")
    return 0


def _audit(record: TrialRecord, args: argparse.Namespace) -> int:
    from observations.audit_chain import verify_command

    anchor = Path(args.anchor).expanduser() if args.anchor else None
    return verify_command(record, anchor, sys.stdout)


def _backup(args: argparse.Namespace) -> int:
    """Without opening the record: a backup must not migrate or otherwise touch it."""
    from observations.backup import BackupFailed, BackupRefused, backup_sqlite, source_path

    try:
        settings = load_settings()
        result = backup_sqlite(source_path(settings), Path(args.path), force=args.force)
    except (ConfigurationError, BackupRefused) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except BackupFailed as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if result.newest_audit_id is None:
        newest = "no audit entries"
    else:
        newest = f"newest audit entry {result.newest_audit_id}"
        if result.newest_audit_at is not None:
            newest += f" ({format_ward(result.newest_audit_at, settings.ward_timezone)})"
    print(
        f"Backed up the record to {result.path}: {result.size_bytes:,} bytes, integrity check "
        f"ok, {newest}, readable by its owner only ({result.seconds:.1f} s)."
    )
    return 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m observations",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser(
        "migrate",
        help="create or upgrade the schema and grant the app's role (PostgreSQL: as "
        "ITBMON_MIGRATION_DATABASE_URL, docs/postgresql.md)",
    )
    trials = commands.add_parser("trials", help="list trials (signed in)")
    credential_options(trials)
    export = commands.add_parser("export", help="export one trial (signed in)")
    export.add_argument("--trial", type=int, required=True)
    export.add_argument("--format", choices=("pdf", "csv", "fhir", "hl7"), required=True)
    export.add_argument("--out", required=True)
    credential_options(export)
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
    audit = commands.add_parser("audit", help="check the audit trail")
    audit_commands = audit.add_subparsers(dest="audit_command", required=True)
    verify = audit_commands.add_parser(
        "verify", help="check the audit trail's hash chain (exit status 1 if broken)"
    )
    verify.add_argument(
        "--anchor",
        metavar="FILE",
        help="also check that the newest entry the last run saw is still there, then "
        "write the newest entry now to FILE (keep it away from the database)",
    )
    backup = commands.add_parser(
        "backup", help="copy the SQLite record while the app runs (PostgreSQL: pg_dump)"
    )
    backup.add_argument("path", help="the backup file to write (mode 0600)")
    backup.add_argument("--force", action="store_true", help="replace PATH if it exists")
    args = parser.parse_args(argv)
    if args.command == "backup":
        return _backup(args)
    if args.command == "migrate":  # before opening the record: the app's role may not migrate
        from observations.database import migrate_command

        return migrate_command()
    handler = {
        "trials": as_person("python -m observations trials", _trials),
        "export": as_person("python -m observations export", _export),
        "users": _users,
        "audit": _audit,
    }[args.command]
    return run_on_record(lambda record: handler(record, args))


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
