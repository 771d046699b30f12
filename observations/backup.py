"""A copy of the embedded SQLite record while the app runs: ``python -m observations backup PATH``.

SQLite's online backup API copies the database page by page from one read snapshot, so the copy
is the record as it stood at one instant (never half of a transaction) and the monitor goes on
writing meanwhile: in WAL mode (observations/database.py) a reader never blocks a writer. The
copy is written to PATH.partial, readable by its owner only (it holds every patient's data),
checked with ``PRAGMA integrity_check`` and only then renamed to PATH, so PATH is always either
absent or a whole, checked backup.

No sign-in is asked for: whoever runs this can already read the data directory's files, which
hold the same data, so an account would protect nothing; access to a backup is the file
system's (mode 0600 and where it is kept). A PostgreSQL record is backed up with pg_dump
(README, "Backup and restore").
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.engine import make_url

from observations.settings import Settings

# Pages copied per step (4 MB at SQLite's default 4 KiB page), with a short pause between
# steps so that the copy does not take the disk from the monitor's synchronous commits.
PAGES_PER_STEP = 1024
PAUSE_BETWEEN_STEPS_S = 0.005


class BackupRefused(Exception):
    """Nothing was written; the message says why and what to do instead."""


class BackupFailed(Exception):
    """The copy was made but did not pass its check; it was removed."""


@dataclass(frozen=True)
class BackupResult:
    path: Path
    size_bytes: int
    newest_audit_id: int | None
    newest_audit_at: datetime | None
    seconds: float


def source_path(settings: Settings) -> Path:
    """The SQLite file of the record, or BackupRefused for PostgreSQL or a missing file."""
    if not settings.is_embedded:
        raise BackupRefused(
            "The record is on PostgreSQL (ITBMON_DATABASE_URL): back it up with pg_dump "
            "(README, 'Backup and restore'); this command copies the embedded SQLite record only."
        )
    database = make_url(settings.database_url).database
    if not database or database == ":memory:":
        raise BackupRefused("The record is held in memory: there is no file to back up.")
    path = Path(database)
    if not path.is_file():
        raise BackupRefused(f"There is no record at {path} to back up (check ITBMON_DATA_DIR).")
    return path


def backup_sqlite(
    source: Path,
    destination: Path,
    *,
    force: bool = False,
    pages_per_step: int = PAGES_PER_STEP,
    pause_s: float = PAUSE_BETWEEN_STEPS_S,
) -> BackupResult:
    """Copy the record at ``source`` to ``destination`` (see the module's docstring)."""
    started = time.monotonic()
    destination = destination.expanduser()
    if destination.resolve() == source.resolve():
        raise BackupRefused("The backup cannot be written over the record itself.")
    if destination.is_dir():
        raise BackupRefused(f"{destination} is a directory: give the backup file's name.")
    if destination.exists() and not force:
        raise BackupRefused(
            f"{destination} already exists: choose another name, or add --force to replace it."
        )
    if not destination.parent.is_dir():
        raise BackupRefused(f"The directory {destination.parent} does not exist.")
    partial = destination.with_name(destination.name + ".partial")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
    if force:
        flags &= ~os.O_EXCL  # replaces what a backup killed half-way left behind
    try:
        fd = os.open(partial, flags, 0o600)
    except FileExistsError:
        raise BackupRefused(
            f"{partial} exists: another backup to {destination} is running, or one was stopped "
            "half-way. Remove that file if no backup is running, or add --force."
        ) from None
    try:
        os.ftruncate(fd, 0)
        os.fchmod(fd, 0o600)  # whatever the umask; SQLite gives its journal the same mode
    finally:
        os.close(fd)
    try:
        _copy(source, partial, pages_per_step, pause_s)
        newest_id, newest_at = _check(partial)
        _sync(partial)
        partial.replace(destination)
        _sync(destination.parent)
    except BaseException:
        for leftover in (partial, partial.with_name(partial.name + "-journal")):
            leftover.unlink(missing_ok=True)
        raise
    return BackupResult(
        path=destination,
        size_bytes=destination.stat().st_size,
        newest_audit_id=newest_id,
        newest_audit_at=newest_at,
        seconds=time.monotonic() - started,
    )


def _copy(source: Path, target: Path, pages_per_step: int, pause_s: float) -> None:
    # Read-only: the backup can never change the record.
    reader = sqlite3.connect(f"{source.resolve().as_uri()}?mode=ro", uri=True, isolation_level=None)
    writer = sqlite3.connect(target)
    try:
        reader.execute("PRAGMA busy_timeout=10000")
        # One read transaction held across all the steps: every step copies from the same
        # snapshot, so a commit by the monitor between two steps neither restarts the copy
        # (which, under writes twice a second, could then never finish) nor mixes two states.
        reader.execute("BEGIN")
        reader.execute("SELECT count(*) FROM sqlite_master").fetchone()

        def pause(_status: int, _remaining: int, _total: int) -> None:
            if pause_s > 0:
                time.sleep(pause_s)

        reader.backup(writer, pages=pages_per_step, progress=pause)
        reader.execute("COMMIT")
        # The copy is one self-contained file: no -wal or -shm beside it to forget.
        writer.execute("PRAGMA journal_mode=DELETE").fetchone()
    finally:
        writer.close()
        reader.close()


def _check(path: Path) -> tuple[int | None, datetime | None]:
    """PRAGMA integrity_check on the copy, and its newest audit entry (id, time)."""
    with contextlib.closing(sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)) as db:
        problems = [row[0] for row in db.execute("PRAGMA integrity_check")]
        if problems != ["ok"]:
            raise BackupFailed(
                "The copy failed its integrity check and was removed: "
                + "; ".join(str(p) for p in problems[:5])
            )
        has_audit = db.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'audit_log'"
        ).fetchone()
        if not has_audit:
            return None, None
        row = db.execute("SELECT id, at FROM audit_log ORDER BY id DESC LIMIT 1").fetchone()
    if row is None:
        return None, None
    return int(row[0]), _utc(row[1])


def _utc(stored: object) -> datetime | None:
    """The audit time as SQLAlchemy stores it in SQLite (ISO text, UTC)."""
    if not isinstance(stored, str):
        return None
    try:
        moment = datetime.fromisoformat(stored)
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _sync(path: Path) -> None:
    """Flush to disk, so a power cut just after the rename cannot leave an empty backup."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
