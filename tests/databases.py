"""Throwaway databases for tests that run on both backends.

``.ci/run`` starts a real PostgreSQL server and sets ITBMON_TEST_POSTGRES_URL (an admin URL);
each test gets a fresh database created from it and dropped afterwards. Without a server the
PostgreSQL cases skip with that reason, unless ITBMON_REQUIRE_POSTGRES=1 (CI) makes it a failure.

Most tests want a record at the newest schema: migrating one costs ~0.3 s on PostgreSQL, so it
is done once per test process into a template (a database, or a SQLite file) that each test
copies (``CREATE DATABASE ... TEMPLATE``; a file copy). The copy is the migrated schema exactly:
the app's own start-up check (``migrate`` at head) still runs on it.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

POSTGRES_URL = os.environ.get("ITBMON_TEST_POSTGRES_URL", "")
POSTGRES_REQUIRED = os.environ.get("ITBMON_REQUIRE_POSTGRES") == "1"
# pg_ctl of the test server (printed by .ci/start-postgres), for restart-under-load tests.
PG_CTL = os.environ.get("ITBMON_PG_CTL", "")


def require_postgres() -> str:
    """The test server's admin URL; skips locally without one, and fails instead when CI says
    a server is required (ITBMON_REQUIRE_POSTGRES=1), so CI can never skip these tests."""
    if not POSTGRES_URL:
        if POSTGRES_REQUIRED:
            pytest.fail("ITBMON_REQUIRE_POSTGRES=1 but ITBMON_TEST_POSTGRES_URL is not set")
        pytest.skip("no PostgreSQL server given (ITBMON_TEST_POSTGRES_URL); .ci/run starts one")
    return POSTGRES_URL


def _admin() -> Engine:
    # No pooled connection: one kept across a server restart (the outage test) would be dead.
    return create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT", poolclass=NullPool)


def _url_of(name: str) -> str:
    return make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)


@contextmanager
def _postgres_named(prefix: str, template: str | None = None) -> Iterator[str]:
    """The name of a fresh PostgreSQL database (empty, or a copy of ``template``), dropped at
    the end."""
    require_postgres()
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = _admin()
    copy = f' TEMPLATE "{template}"' if template else ""
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"{copy}'))
    try:
        yield name
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def postgres_database(template: str | None = None) -> Iterator[str]:
    """The URL of a fresh PostgreSQL database, dropped when the test ends: empty, or a copy of
    ``template``."""
    with _postgres_named("itbmon_test", template) as name:
        yield _url_of(name)


def migrated_postgres_template() -> Iterator[str]:
    """The name of a PostgreSQL database at the newest schema, for `postgres_database` to copy;
    dropped when the test process ends."""
    from observations.database import create_record_engine, migrate

    with _postgres_named("itbmon_template") as name:
        engine = create_record_engine(_url_of(name))
        migrate(engine)
        engine.dispose()  # a template may have no other connection while it is copied
        yield name


def migrated_sqlite_template(directory: Path) -> Path:
    """A SQLite record file at the newest schema, for tests to copy."""
    from observations.database import create_record_engine, migrate

    path = directory / "template.sqlite3"
    engine = create_record_engine(f"sqlite:///{path}")
    migrate(engine)
    engine.dispose()
    return path


def _record_overdose_day(url: str, data_dir: Path) -> None:
    """The overdose demo day (``python -m monitor demo-trial``) recorded into ``url``."""
    from zoneinfo import ZoneInfo

    from devices.sources import source_problem
    from monitor.demo_day import record_demo_day
    from observations.database import create_record_engine
    from observations.record import TrialRecord
    from observations.settings import Settings

    settings = Settings(data_dir, url, ZoneInfo("Europe/London"))
    record = TrialRecord(create_record_engine(url), settings, device_sources=source_problem)
    try:
        record_demo_day(record, scenario="overdose")
    finally:
        record.close()


def overdose_day_sqlite(directory: Path, template: Path) -> Path:
    """A SQLite record holding one recorded overdose demo day, for tests to copy: recording
    one takes seconds, and the tests that replay or export it only read it."""
    path = directory / "overdose-day.sqlite3"
    shutil.copyfile(template, path)
    _record_overdose_day(f"sqlite:///{path}", directory)
    return path


def overdose_day_postgres(template: str, directory: Path) -> Iterator[str]:
    """As `overdose_day_sqlite`, a PostgreSQL database (its name), dropped at the end."""
    with _postgres_named("itbmon_overdose", template) as name:
        _record_overdose_day(_url_of(name), directory)
        yield name
