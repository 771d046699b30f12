"""The embedded record's files are its service account's only: the data directory 0700, the
SQLite database and its -wal and -shm files 0600, whatever the umask; a directory or file left
open to others (copied in, restored from a backup) is tightened at start, with a log line that
names the path and modes only."""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from observations.record import TrialRecord
from observations.settings import ConfigurationError, load_settings
from tests.accounts import sign_in_as
from tests.observations.conftest import patient_details
from vocabulary import Role


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def open_umask() -> Iterator[None]:
    """A umask that lets group and others read new files (Debian's default): what the record
    does must not depend on the umask being strict."""
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


def write_a_patient(data: Path) -> None:
    record = TrialRecord.open(load_settings({"ITBMON_DATA_DIR": str(data)}))
    try:
        specialist = sign_in_as(record, "cns.a", Role.NURSE_SPECIALIST)
        record.patients.register(specialist, patient_details(family_name="Zyxwarden"))
    finally:
        record.close()


@pytest.mark.usefixtures("open_umask")
def test_a_new_data_directory_and_its_database_files_are_private(tmp_path: Path):
    data = tmp_path / "data"
    record = TrialRecord.open(load_settings({"ITBMON_DATA_DIR": str(data)}))
    try:
        specialist = sign_in_as(record, "cns.a", Role.NURSE_SPECIALIST)
        record.patients.register(specialist, patient_details())
        # While the record is open SQLite keeps its write-ahead log and shared memory beside it.
        files = {p.name: mode(p) for p in data.iterdir()}
    finally:
        record.close()
    assert mode(data) == 0o700
    assert {"itbmon.sqlite3", "itbmon.sqlite3-wal", "itbmon.sqlite3-shm"} <= set(files)
    assert files == dict.fromkeys(files, 0o600)
    assert all(mode(p) == 0o600 for p in data.iterdir())


@pytest.mark.usefixtures("open_umask")
def test_a_loose_directory_and_files_are_tightened_at_start_and_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    os.chmod(data, 0o775)
    write_a_patient(data)
    # As after a careless copy: the directory and the files readable by everyone.
    os.chmod(data, 0o775)
    database = data / "itbmon.sqlite3"
    sidecars = [data / "itbmon.sqlite3-wal", data / "itbmon.sqlite3-shm"]
    for path in sidecars:
        path.touch()
    for path in (database, *sidecars):
        os.chmod(path, 0o644)
    with caplog.at_level(logging.WARNING, logger="itbmon.record"):
        record = TrialRecord.open(load_settings({"ITBMON_DATA_DIR": str(data)}))
    try:
        assert record.patients.find("Zyxwarden")  # the record is whole
    finally:
        record.close()
    assert mode(data) == 0o700
    assert all(mode(p) == 0o600 for p in data.iterdir())
    tightened = [r.getMessage() for r in caplog.records if r.name == "itbmon.record"]
    assert f"Tightened {data} from mode 0775 to 0700" in "\n".join(tightened)
    for path in (database, *sidecars):
        assert any(f"Tightened {path} from mode 0644 to 0600" in m for m in tightened), path
    assert "Zyxwarden" not in caplog.text and "Smith" not in caplog.text

    # Once tight, a start says nothing.
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="itbmon.record"):
        TrialRecord.open(load_settings({"ITBMON_DATA_DIR": str(data)})).close()
    assert not [r for r in caplog.records if r.name == "itbmon.record"]


def test_a_directory_that_cannot_be_tightened_stops_the_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    data = tmp_path / "data"
    data.mkdir()
    os.chmod(data, 0o755)

    def refused(path: object, _mode: int) -> None:  # as when another account owns it
        raise PermissionError(1, "Operation not permitted", str(path))

    monkeypatch.setattr("observations.database.os.chmod", refused)
    with pytest.raises(ConfigurationError) as stopped:
        TrialRecord.open(load_settings({"ITBMON_DATA_DIR": str(data)}))
    assert f"`chmod 700 {data}`" in str(stopped.value)
    assert not (data / "itbmon.sqlite3").exists()  # nothing was written


@pytest.mark.usefixtures("open_umask")
def test_a_sqlite_url_outside_the_data_directory_is_private_too(tmp_path: Path):
    database = tmp_path / "elsewhere" / "ward.sqlite3"
    settings = load_settings(
        {"ITBMON_DATA_DIR": str(tmp_path / "data"), "ITBMON_DATABASE_URL": f"sqlite:///{database}"}
    )
    TrialRecord.open(settings).close()
    assert mode(database.parent) == 0o700
    assert mode(database) == 0o600
    assert mode(tmp_path / "data") == 0o700
