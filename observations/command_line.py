"""What the record's command lines share: a person signing in at a terminal or from a script,
and one way of turning the record's refusals into messages and exit statuses.

Used by ``python -m observations`` and ``python -m monitor what-if``. Exit statuses: 2 for a
refusal (no credentials, a refused sign-in, a role that may not do this, a record that cannot
be opened), 1 for anything else the record refused; the reason on stderr, nothing on stdout.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from collections.abc import Callable

from observations.errors import NotPermitted, RecordError
from observations.record import TrialRecord
from observations.settings import ConfigurationError
from observations.store import Actor
from observations.trials import DeviceSourceCheck

ADMIN_ENV = "ITBMON_ADMIN_PASSWORD"  # the administrator's password, for scripts
USER_ENV = "ITBMON_USER"  # who signs in for trials and export
PASSWORD_ENV = "ITBMON_PASSWORD"  # noqa: S105 (a variable's name) their password, for scripts


class NoPassword(Exception):
    """A credential is needed and there is no way to ask for it; the message says what to do."""


def _terminal() -> bool:
    """Whether a person can be asked at a prompt (stdin is a terminal, not a pipe or closed)."""
    try:
        return sys.stdin is not None and sys.stdin.isatty()
    except (ValueError, OSError):  # closed
        return False


def stdin_line(what: str, option: str) -> str:
    """One line of stdin (without its line ending); refuses an empty or absent line."""
    line = sys.stdin.readline() if sys.stdin is not None else ""
    password = line.rstrip("\r\n")
    if not password:
        raise NoPassword(f"{option} was given but stdin holds no line for {what}.")
    return password


def prompt_for(prompt: str, what: str, option: str) -> str:
    if not _terminal():
        raise NoPassword(
            f"{what} is needed and there is no terminal to ask for it: give it with {option}."
        )
    try:
        return getpass.getpass(prompt)
    except EOFError:  # Ctrl-D at the prompt
        raise NoPassword(f"No password was typed; or give it with {option}.") from None


def sign_in_person(record: TrialRecord, args: argparse.Namespace, shows: str) -> Actor:
    """The person running a command that shows patient data, signed in as in the app (the
    record throttles and audits the attempt). Raises NoPassword or SignInRefused."""
    name = (args.user or os.environ.get(USER_ENV, "")).strip()
    if not name:
        raise NoPassword(f"{shows} shows patient data: sign in with --user NAME (or {USER_ENV}).")
    if args.password_stdin:
        password = stdin_line(f"the password of {name}", "--password-stdin")
    elif os.environ.get(PASSWORD_ENV):
        password = os.environ[PASSWORD_ENV]
    else:
        password = prompt_for(
            f"Password of {name}: ",
            f"The password of {name}",
            f"--password-stdin or {PASSWORD_ENV}",
        )
    return record.users.sign_in(name, password)


def as_person(
    shows: str, work: Callable[[TrialRecord, argparse.Namespace, Actor], int]
) -> Callable[[TrialRecord, argparse.Namespace], int]:
    """A command run by a signed-in person, whose sign-in ends with the command."""

    def run(record: TrialRecord, args: argparse.Namespace) -> int:
        try:
            actor = sign_in_person(record, args, shows)
        except NoPassword as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        try:
            return work(record, args, actor)
        finally:
            record.users.sign_out(actor, "command finished")

    return run


def credential_options(command: argparse.ArgumentParser) -> None:
    command.add_argument("--user", help=f"the account that signs in (default: ${USER_ENV})")
    command.add_argument(
        "--password-stdin",
        action="store_true",
        help=f"read the password from the first line of stdin (or set {PASSWORD_ENV}); "
        "without either, it is asked at the terminal",
    )


def run_on_record(
    work: Callable[[TrialRecord], int], device_sources: DeviceSourceCheck | None = None
) -> int:
    """``work`` on the record named by the environment (with the devices' source check when
    the command has them), closed afterwards; the record's refusals said on stderr and turned
    into the exit status."""
    try:
        record = TrialRecord.open(device_sources=device_sources)
    except ConfigurationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        return work(record)
    except NotPermitted as exc:  # a refused sign-in, or a role that may not do this
        print(f"error: {exc.message}", file=sys.stderr)
        return 2
    except RecordError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
    finally:
        record.close()
