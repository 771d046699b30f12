"""The command line shows patient data only to a signed-in person with a clinical role, audits
what it showed, and backs the record up while the app writes. Each command runs as a real
subprocess with no controlling terminal, as a script or a scheduler would run it."""

from __future__ import annotations

import os
import re
import sqlite3
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from observations.backup import backup_sqlite
from observations.exports import CSV_COLUMNS
from observations.record import TrialRecord
from observations.settings import load_settings
from observations.store import utc_now
from observations.users import SignInRefused
from vocabulary import Role

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "ward seven tea"
ADMIN_PASSWORD = "first admin phrase"
DATABASE = "itbmon.sqlite3"


def run(
    data: Path,
    *args: str,
    stdin: str | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 120,
    module: str = "observations",
) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("ITBMON_")}
    environment.update({"ITBMON_DATA_DIR": str(data), **(env or {})})
    options: dict[str, Any] = {"stdin": subprocess.DEVNULL} if stdin is None else {"input": stdin}
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=timeout,
        start_new_session=True,  # no controlling terminal: getpass cannot use /dev/tty
        **options,
    )


def open_record(data: Path) -> TrialRecord:
    return TrialRecord.open(load_settings({"ITBMON_DATA_DIR": str(data)}))


def audit_actions(data: Path, username: str) -> list[str]:
    record = open_record(data)
    try:
        return [e.action for e in reversed(record.audit.entries(username=username))]
    finally:
        record.close()


@pytest.fixture(scope="module")
def ward(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A record with one simulated trial day and one account per role."""
    data = tmp_path_factory.mktemp("ward") / "data"
    demo = run(data, "demo-trial", "--scenario", "steady", module="monitor")
    assert demo.returncode == 0, demo.stderr
    record = open_record(data)
    try:
        record.users.create(None, "root", "Root", {Role.ADMIN}, ADMIN_PASSWORD)
        admin = record.users.sign_in("root", ADMIN_PASSWORD)
        for name, role in (
            ("dr.jones", Role.DOCTOR),
            ("nurse.patel", Role.NURSE),
            ("nurse.guess", Role.NURSE),  # for the throttling test only
        ):
            record.users.create(admin, name, name.title(), {role}, PASSWORD)
        record.users.sign_out(admin)
    finally:
        record.close()
    return data


def refused(done: subprocess.CompletedProcess[str], *words: str) -> None:
    """Exit status 2, a message on stderr, and not one byte of patient data on stdout."""
    assert done.returncode == 2, (done.returncode, done.stdout, done.stderr)
    assert done.stdout == ""
    assert "Traceback" not in done.stderr
    assert "error: " in done.stderr
    for word in words:
        assert word in done.stderr, done.stderr


# ---------------------------------------------------------------- trials


def test_trials_without_a_credential_are_refused(ward: Path):
    refused(run(ward, "trials"), "shows patient data", "--user NAME", "ITBMON_USER")


def test_trials_with_a_name_but_no_password_and_no_terminal_are_refused(ward: Path):
    refused(run(ward, "trials", "--user", "dr.jones"), "--password-stdin or ITBMON_PASSWORD")


def test_trials_with_a_wrong_password_are_refused_and_the_attempt_audited(ward: Path):
    done = run(
        ward, "trials", "--user", "nurse.patel", "--password-stdin", stdin="ward eight tea\n"
    )
    refused(done, "That username and password do not match.")
    actions = audit_actions(ward, "nurse.patel")
    assert actions[-1] == "auth.sign_in_failed"
    assert "view.trials" not in actions


def test_trials_are_listed_for_a_clinician_and_the_view_audited(ward: Path):
    before = audit_actions(ward, "dr.jones")
    done = run(ward, "trials", "--user", "dr.jones", "--password-stdin", stdin=PASSWORD + "\n")
    assert done.returncode == 0, done.stderr
    header, *rows = done.stdout.splitlines()
    assert header.split("\t")[:3] == ["id", "nhs_number", "hospital_number"]
    assert len(rows) == 1 and "DEMO00001" in rows[0]
    new = audit_actions(ward, "dr.jones")[len(before) :]
    # Signed in, the read written down before anything was shown, and signed out again.
    assert new == ["auth.sign_in", "view.trials", "auth.sign_out"]


def test_trials_with_the_credential_in_the_environment(ward: Path):
    done = run(ward, "trials", env={"ITBMON_USER": "nurse.patel", "ITBMON_PASSWORD": PASSWORD})
    assert done.returncode == 0, done.stderr
    assert "DEMO00001" in done.stdout
    assert audit_actions(ward, "nurse.patel")[-2:] == ["view.trials", "auth.sign_out"]


def test_an_administrator_sees_no_patient_data(ward: Path):
    done = run(ward, "trials", "--user", "root", "--password-stdin", stdin=ADMIN_PASSWORD + "\n")
    refused(done, "root may not list trials", "not for administrators")
    assert "view.trials" not in audit_actions(ward, "root")


class SkippingClock:
    """The real clock, plus the waits the throttle asked for, skipped instead of slept."""

    def __init__(self) -> None:
        self.skipped = timedelta()

    def __call__(self) -> datetime:
        return utc_now() + self.skipped


def count_failures(data: Path, username: str, failures: int) -> None:
    """``failures`` wrong passwords counted against ``username``, each wait the throttle names
    between them skipped on the record's clock: the record sees a person who waited it out
    (the command run next reads the real clock, so its throttle holds for longer still)."""
    clock = SkippingClock()
    record = TrialRecord.open(load_settings({"ITBMON_DATA_DIR": str(data)}), clock)
    try:
        counted = 0
        while counted < failures:
            try:
                record.users.sign_in(username, "not the phrase")
            except SignInRefused as exc:
                wait = re.search(r"Try again in (\d+) seconds?", exc.message)
                if wait is not None:
                    clock.skipped += timedelta(seconds=int(wait.group(1)))
                    continue
                counted += 1
    finally:
        record.close()


def test_repeated_wrong_passwords_are_throttled_even_before_the_right_one(ward: Path):
    # Three free attempts, then 2 s, 4 s, 8 s, 16 s (limits.yaml accounts): six failures leave
    # the command sixteen seconds in which even the right password is refused.
    count_failures(ward, "nurse.guess", 6)
    done = run(ward, "trials", "--user", "nurse.guess", "--password-stdin", stdin=PASSWORD + "\n")
    refused(done, "Too many wrong passwords")
    assert "view.trials" not in audit_actions(ward, "nurse.guess")


# ---------------------------------------------------------------- export


def export(ward: Path, out: Path, user: str, password: str) -> subprocess.CompletedProcess[str]:
    return run(
        ward,
        "export",
        "--trial",
        "1",
        "--format",
        "csv",
        "--out",
        str(out),
        "--user",
        user,
        "--password-stdin",
        stdin=password + "\n",
    )


def test_export_with_a_wrong_password_writes_nothing(ward: Path, tmp_path: Path):
    out = tmp_path / "trial.csv"
    refused(export(ward, out, "dr.jones", "ward six tea"), "do not match")
    assert not out.exists() and not list(tmp_path.iterdir())


def test_export_without_a_credential_writes_nothing(ward: Path, tmp_path: Path):
    out = tmp_path / "trial.csv"
    refused(
        run(ward, "export", "--trial", "1", "--format", "csv", "--out", str(out)), "--user NAME"
    )
    assert not out.exists()


def test_export_needs_a_role_that_may_export(ward: Path, tmp_path: Path):
    out = tmp_path / "trial.csv"
    refused(export(ward, out, "nurse.patel", PASSWORD), "may not export a trial report")
    assert not out.exists()
    assert "trial.export" not in audit_actions(ward, "nurse.patel")


def test_export_by_a_doctor_is_written_for_them_alone_and_audited(ward: Path, tmp_path: Path):
    out = tmp_path / "trial.csv"
    done = export(ward, out, "dr.jones", PASSWORD)
    assert done.returncode == 0, done.stderr
    header, first = out.read_text(encoding="utf-8-sig").splitlines()[:2]
    assert header.split(",") == list(CSV_COLUMNS)
    assert first.startswith("1,9990000018,DEMO00001,")
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    record = open_record(ward)
    try:
        entries = record.audit.entries(username="dr.jones", limit=3)
    finally:
        record.close()
    assert [e.action for e in reversed(entries)] == [
        "auth.sign_in",
        "trial.export",
        "auth.sign_out",
    ]
    export_entry = entries[1]
    assert export_entry.trial_id == 1
    assert export_entry.details == {"format": "csv", "bytes": out.stat().st_size}


# ---------------------------------------------------------------- audit verify


def test_audit_verify_runs_unattended_and_writes_its_anchor(ward: Path, tmp_path: Path):
    anchor = tmp_path / "anchor.json"
    done = run(ward, "audit", "verify", "--anchor", str(anchor))
    assert done.returncode == 0, done.stderr
    assert "intact" in done.stdout
    assert stat.S_IMODE(anchor.stat().st_mode) == 0o600
    again = run(ward, "audit", "verify", "--anchor", str(anchor))
    assert again.returncode == 0, again.stderr


# ---------------------------------------------------------------- backup


def table_counts(database: Path) -> dict[str, int]:
    with sqlite3.connect(f"{database.as_uri()}?mode=ro", uri=True) as db:
        tables = [
            row[0]
            for row in db.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
            )
        ]
        return {t: db.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables}


def newest_audit_id(database: Path) -> int:
    with sqlite3.connect(f"{database.as_uri()}?mode=ro", uri=True) as db:
        return int(db.execute("SELECT max(id) FROM audit_log").fetchone()[0])


def test_backup_is_a_whole_checked_copy_for_its_owner_only(ward: Path, tmp_path: Path):
    target = tmp_path / "backup.sqlite3"
    done = run(ward, "backup", str(target))
    assert done.returncode == 0, done.stderr
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert not list(tmp_path.glob("*.partial*"))
    counts = table_counts(target)
    assert counts == table_counts(ward / DATABASE)
    assert counts["trials"] == 1 and counts["vital_readings"] > 1000
    newest = newest_audit_id(target)
    assert f"newest audit entry {newest} " in done.stdout
    assert f"{target.stat().st_size:,} bytes" in done.stdout
    with sqlite3.connect(target) as db:
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert db.execute("PRAGMA journal_mode").fetchone() == ("delete",)
    # The copy is a record the app opens, with its audit trail whole.
    restored = tmp_path / "restored"
    restored.mkdir()
    (restored / DATABASE).write_bytes(target.read_bytes())
    verified = run(restored, "audit", "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr


def test_backup_never_replaces_a_file_unless_told(ward: Path, tmp_path: Path):
    target = tmp_path / "backup.sqlite3"
    target.write_bytes(b"yesterday's backup")
    refused(run(ward, "backup", str(target)), "already exists", "--force")
    assert target.read_bytes() == b"yesterday's backup"
    done = run(ward, "backup", str(target), "--force")
    assert done.returncode == 0, done.stderr
    assert table_counts(target)["trials"] == 1


def test_backup_of_postgresql_points_to_pg_dump(tmp_path: Path):
    # Refused before any connection: the URL names a server nobody runs.
    done = run(
        tmp_path,
        "backup",
        str(tmp_path / "b.sqlite3"),
        env={"ITBMON_DATABASE_URL": "postgresql+psycopg://itbmon@127.0.0.1:9/itbmon"},
    )
    refused(done, "pg_dump")
    assert not (tmp_path / "b.sqlite3").exists()


WRITER = """
import sys
from pathlib import Path
from observations.record import TrialRecord
record = TrialRecord.open()
service = record.users.service_actor()
stop, written = Path(sys.argv[1]), 0
while not stop.exists() and written < 200_000:  # at most: the test may die before its stop
    with record.store.writing() as session:
        record.store.audit(session, service, "readings.add", "reading", None,
                           details={"written": written})
    written += 1
    if written == 1:
        print("writing", flush=True)
record.close()
print(written, flush=True)
"""


@pytest.fixture
def writer(ward: Path, tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], Path]]:
    """Another process committing audit entries as fast as it can, like the monitor."""
    stop = tmp_path / "stop"
    environment = {k: v for k, v in os.environ.items() if not k.startswith("ITBMON_")}
    process = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(stop)],
        cwd=ROOT,
        text=True,
        env={**environment, "ITBMON_DATA_DIR": str(ward)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "writing", process.stderr
        yield process, stop
    finally:
        stop.touch()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_backup_while_another_process_writes(
    ward: Path, tmp_path: Path, writer: tuple[subprocess.Popen[str], Path]
):
    process, stop = writer
    source, target = ward / DATABASE, tmp_path / "backup.sqlite3"
    first = newest_audit_id(source)
    started = time.monotonic()
    # Small steps with pauses, so the copy spans hundreds of the writer's commits.
    result = backup_sqlite(source, target, pages_per_step=8, pause_s=0.002)
    took = time.monotonic() - started
    during = newest_audit_id(source)
    stop.touch()
    out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    assert int(out.split()[-1]) > 0
    # The writer went on while the copy was made: it was never held up for the whole copy.
    assert during > first, (first, during, took)
    assert result.newest_audit_id is not None and first <= result.newest_audit_id <= during
    assert result.newest_audit_id == newest_audit_id(target)
    # One snapshot: every audit entry in the copy is the record's, none missing in between.
    with (
        sqlite3.connect(f"{target.as_uri()}?mode=ro", uri=True) as copy,
        sqlite3.connect(f"{source.as_uri()}?mode=ro", uri=True) as live,
    ):
        query = "SELECT id, action, details, row_hash FROM audit_log WHERE id <= ? ORDER BY id"
        rows = copy.execute(query, (result.newest_audit_id,)).fetchall()
        assert rows == live.execute(query, (result.newest_audit_id,)).fetchall()
        assert copy.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
