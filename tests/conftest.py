"""Fixtures shared by every test package."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.databases import (
    migrated_postgres_template,
    migrated_sqlite_template,
    overdose_day_postgres,
    overdose_day_sqlite,
    postgres_database,
)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return migrated_sqlite_template(tmp_path_factory.mktemp("template"))


@pytest.fixture(scope="session")
def postgres_template() -> Iterator[str]:
    yield from migrated_postgres_template()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Each store test runs on SQLite and on PostgreSQL, on a fresh record at the newest
    schema (a copy of one migrated once per test process)."""
    yield from _fresh_copy(request, tmp_path, "template")


def _fresh_copy(request: pytest.FixtureRequest, tmp_path: Path, of: str) -> Iterator[str]:
    """The URL of a fresh copy of the database made once per test process by the session
    fixture ``sqlite_<of>`` or ``postgres_<of>``, on ``request.param``'s backend."""
    if request.param == "sqlite":
        path = tmp_path / "record.sqlite3"
        shutil.copyfile(request.getfixturevalue(f"sqlite_{of}"), path)
        yield f"sqlite:///{path}"
    else:
        yield from postgres_database(request.getfixturevalue(f"postgres_{of}"))


@pytest.fixture(scope="session")
def sqlite_overdose_day(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path) -> Path:
    return overdose_day_sqlite(tmp_path_factory.mktemp("overdose-day"), sqlite_template)


@pytest.fixture(scope="session")
def postgres_overdose_day(
    tmp_path_factory: pytest.TempPathFactory, postgres_template: str
) -> Iterator[str]:
    yield from overdose_day_postgres(postgres_template, tmp_path_factory.mktemp("overdose-day"))


def copy_of_overdose_day(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """For a ``database_url`` fixture of a module whose tests read a recorded overdose demo
    day: the URL of a fresh copy of one recorded once per test process (on ``request.param``'s
    backend), the trial the only one in it."""
    yield from _fresh_copy(request, tmp_path, "overdose_day")


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def overdose_day_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh copy of the recorded overdose demo day, on SQLite and on PostgreSQL."""
    yield from copy_of_overdose_day(request, tmp_path)
