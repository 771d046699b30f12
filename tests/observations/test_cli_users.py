"""`python -m observations users add` without a terminal: passwords from stdin (administrator's
first, then the new account's) or ITBMON_ADMIN_PASSWORD; with neither, a clear message naming
the option and exit status 2, never a traceback. Run as a real subprocess with no controlling
terminal, stdin closed, empty or piped."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from observations.record import TrialRecord
from observations.settings import load_settings

ROOT = Path(__file__).resolve().parents[2]
ADMIN_PASSWORD = "first admin phrase"


def close_stdin() -> None:
    os.close(0)


def run(
    data: Path,
    *args: str,
    stdin: str | None = None,
    closed: bool = False,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("ITBMON_")}
    environment.update({"ITBMON_DATA_DIR": str(data), **(env or {})})
    options: dict[str, Any] = {}
    if closed:
        options["preexec_fn"] = close_stdin  # no stdin at all, as under some schedulers
    elif stdin is None:
        options["stdin"] = subprocess.DEVNULL
    else:
        options["input"] = stdin
    return subprocess.run(
        [sys.executable, "-m", "observations", "users", "add", *args],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        start_new_session=True,  # no controlling terminal: getpass cannot fall back to /dev/tty
        **options,
    )


def roles_of(data: Path, username: str) -> str:
    record = TrialRecord.open(load_settings({"ITBMON_DATA_DIR": str(data)}))
    try:
        return record.users.get(username).roles
    finally:
        record.close()


@pytest.fixture
def data(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def with_admin(data: Path) -> Path:
    done = run(
        data,
        "root",
        "--name",
        "Root",
        "--role",
        "admin",
        "--password-stdin",
        stdin=ADMIN_PASSWORD + "\n",
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "Account 'root' created with roles admin."
    return data


def refused_without_traceback(done: subprocess.CompletedProcess[str], option: str) -> None:
    assert done.returncode == 2, (done.returncode, done.stderr)
    assert "Traceback" not in done.stderr and "EOFError" not in done.stderr
    assert done.stderr.startswith("error: ") and option in done.stderr, done.stderr


@pytest.mark.parametrize("closed", [False, True], ids=["stdin-empty", "stdin-closed"])
def test_first_account_without_a_terminal_names_the_option(data: Path, closed: bool):
    done = run(data, "root", "--name", "Root", "--role", "admin", closed=closed)
    refused_without_traceback(done, "--password-stdin")
    assert "no terminal" in done.stderr


def test_password_stdin_with_nothing_on_stdin_is_refused(data: Path):
    done = run(data, "root", "--name", "Root", "--role", "admin", "--password-stdin")
    refused_without_traceback(done, "--password-stdin")


def test_two_lines_on_stdin_administrator_first(with_admin: Path):
    done = run(
        with_admin,
        "j.smith",
        "--name",
        "Jo Smith",
        "--role",
        "nurse",
        "--admin",
        "root",
        "--admin-password-stdin",
        "--password-stdin",
        stdin=f"{ADMIN_PASSWORD}\nnurse pass phrase\n",
    )
    assert done.returncode == 0, done.stderr
    assert "Account 'j.smith' created with roles nurse." in done.stdout
    assert roles_of(with_admin, "j.smith") == "nurse"


def test_administrator_password_from_the_environment(with_admin: Path):
    done = run(
        with_admin,
        "k.lee",
        "--name",
        "Kim Lee",
        "--role",
        "doctor",
        "--admin",
        "root",
        "--password-stdin",
        stdin="doctor pass phrase\n",
        env={"ITBMON_ADMIN_PASSWORD": ADMIN_PASSWORD},
    )
    assert done.returncode == 0, done.stderr
    assert roles_of(with_admin, "k.lee") == "doctor"


@pytest.mark.parametrize("closed", [False, True], ids=["stdin-empty", "stdin-closed"])
def test_administrator_password_needed_without_a_terminal(with_admin: Path, closed: bool):
    done = run(
        with_admin,
        "k.lee",
        "--name",
        "Kim Lee",
        "--role",
        "doctor",
        "--admin",
        "root",
        closed=closed,
    )
    refused_without_traceback(done, "--admin-password-stdin or ITBMON_ADMIN_PASSWORD")


def test_new_password_missing_after_the_administrator_s_line(with_admin: Path):
    done = run(
        with_admin,
        "k.lee",
        "--name",
        "Kim Lee",
        "--role",
        "doctor",
        "--admin",
        "root",
        "--admin-password-stdin",
        "--password-stdin",
        stdin=ADMIN_PASSWORD + "\n",
    )
    refused_without_traceback(done, "--password-stdin")


def test_wrong_administrator_password_adds_nothing(with_admin: Path):
    done = run(
        with_admin,
        "k.lee",
        "--name",
        "Kim Lee",
        "--role",
        "doctor",
        "--admin",
        "root",
        "--admin-password-stdin",
        "--password-stdin",
        stdin="not the phrase\ndoctor pass phrase\n",
    )
    # Signed in as on the app's sign-in page: a refusal, status 2, throttled and audited.
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr == "error: That username and password do not match.\n"
    record = TrialRecord.open(load_settings({"ITBMON_DATA_DIR": str(with_admin)}))
    try:
        assert [u.username for u in record.users.all()] == ["root"]
    finally:
        record.close()


def test_admin_password_stdin_refused_for_the_first_account(data: Path):
    done = run(
        data,
        "root",
        "--name",
        "Root",
        "--role",
        "admin",
        "--admin-password-stdin",
        "--password-stdin",
        stdin="x\nfirst admin phrase\n",
    )
    refused_without_traceback(done, "--admin-password-stdin")


def test_a_common_new_password_is_refused_before_the_administrator_signs_in(with_admin: Path):
    done = run(
        with_admin,
        "k.lee",
        "--name",
        "Kim Lee",
        "--role",
        "doctor",
        "--admin",
        "root",
        "--admin-password-stdin",
        "--password-stdin",
        stdin=f"{ADMIN_PASSWORD}\nPassword123!\n",
    )
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "list of common passwords" in done.stderr
    record = TrialRecord.open(load_settings({"ITBMON_DATA_DIR": str(with_admin)}))
    try:
        assert [u.username for u in record.users.all()] == ["root"]
        assert not record.audit.entries(username="root", action_prefix="auth.")
    finally:
        record.close()


def test_the_administrator_s_sign_in_ends_with_the_command(with_admin: Path):
    done = run(
        with_admin,
        "k.lee",
        "--name",
        "Kim Lee",
        "--role",
        "doctor",
        "--admin",
        "root",
        "--password-stdin",
        stdin="doctor pass phrase\n",
        env={"ITBMON_ADMIN_PASSWORD": ADMIN_PASSWORD},
    )
    assert done.returncode == 0, done.stderr
    record = TrialRecord.open(load_settings({"ITBMON_DATA_DIR": str(with_admin)}))
    try:
        actions = [e.action for e in reversed(record.audit.entries(username="root"))]
    finally:
        record.close()
    assert actions[-3:] == ["auth.sign_in", "user.create", "auth.sign_out"]
