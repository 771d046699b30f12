"""Throwaway databases for tests that run on both backends.

``.ci/run`` starts a real PostgreSQL server and sets ITBMON_TEST_POSTGRES_URL (an admin URL);
each test gets a fresh database created from it and dropped afterwards. Without a server the
PostgreSQL cases skip with that reason, unless ITBMON_REQUIRE_POSTGRES=1 (CI) makes it a failure.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text
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


def postgres_database() -> Iterator[str]:
    """The URL of a fresh, empty PostgreSQL database, dropped when the test ends."""
    require_postgres()
    name = f"itbmon_test_{uuid.uuid4().hex[:12]}"
    # No pooled connection: one kept across a server restart (the outage test) would be dead.
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
