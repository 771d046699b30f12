"""Opening the record: SQLite in the data directory by default, PostgreSQL by URL.

SQLite (embedded): the schema is created and migrated (Alembic) on first start and after an
upgrade, so the two set-up commands in the README are all a ward needs; the data directory is
its service account's only (0700, files 0600).

PostgreSQL: the schema belongs to a migration role and the app connects as a runtime role that
may not change it (docs/postgresql.md). The app migrates only when the schema is behind and its
own role owns it; otherwise it stops and names the command that migrates:
``python -m observations migrate`` with ITBMON_MIGRATION_DATABASE_URL (``migrate_command``).
"""

from __future__ import annotations

import json
import logging
import os
import stat
import sys
from functools import cache
from pathlib import Path
from typing import Any, TextIO

import orjson
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, event, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from observations import runtime_role
from observations.settings import MIGRATION_URL_ENV, ConfigurationError, Settings, load_settings

MIGRATIONS = Path(__file__).with_name("migrations")

log = logging.getLogger("itbmon.record")

MIGRATE_HINT = (
    f"run `python -m observations migrate` with {MIGRATION_URL_ENV} set to the migration "
    "role's URL and ITBMON_DATABASE_URL to the app's (docs/postgresql.md)"
)

# The record's files are for its service account only (NHS DSPT: patient data at rest).
PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600
# What SQLite writes beside the database file; it gives them the database file's mode.
SQLITE_SIDECARS = ("-wal", "-shm", "-journal")
# SQLSTATE 42501: PostgreSQL's "insufficient privilege" (also "must be owner of ...").
INSUFFICIENT_PRIVILEGE = "42501"


def _configure_sqlite(engine: Engine, busy_timeout_s: float) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event issue BEGIN itself (see below) instead of pysqlite.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        # WAL lets the dashboard read while the monitor writes; FULL syncs every commit so a
        # power cut loses no committed observation.
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        # A writer waits this long for another's lock before the database counts as away.
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_s * 1000)}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # Writers take the write lock at BEGIN (IMMEDIATE), so a check-then-insert (the 24 h
        # rule, one injection per trial) cannot race another writer; readers stay DEFERRED.
        mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")


def create_record_engine(url: str, *, busy_timeout_s: float = 10.0) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:" and not parsed.query.get("uri"):
            secure_sqlite_file(Path(parsed.database))
        engine = create_engine(
            url, connect_args={"check_same_thread": False}, json_serializer=json_text
        )
        _configure_sqlite(engine, busy_timeout_s)
        return engine
    return create_engine(url, pool_pre_ping=True, json_serializer=json_text)


def json_text(value: Any) -> str:
    """JSON columns written by orjson: a device's raw status goes with every reading, and
    json.dumps took a quarter of the time to store one. Keys that are not strings are written
    as strings, as json.dumps does; a NaN, which is not JSON, is written as null. What orjson
    cannot write (a numpy number, an integer beyond 64 bits) goes to json.dumps as before."""
    try:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:
        return json.dumps(value)


# --------------------------------------------------------------------------- files at rest


def _tighten(path: Path, keep: int) -> None:
    """Clear the group and other bits of an existing file or directory, saying so in the log
    (the path and modes only). chmod rather than the umask: the umask is the whole process's
    and would not reach what exists already."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        return
    tightened = mode & keep
    if tightened == mode:
        return
    try:
        os.chmod(path, tightened)
    except OSError as exc:
        raise ConfigurationError(
            f"{path} is open to other accounts (mode {mode:04o}) and this process cannot "
            f"tighten it ({exc.strerror}): `chmod {tightened:o} {path}` as its owner"
        ) from exc
    log.warning(
        "Tightened %s from mode %04o to %04o: the record's files are for its service account only",
        path,
        mode,
        tightened,
    )


def secure_data_dir(path: Path) -> None:
    """The data directory: created 0700, or an existing one tightened to its owner only."""
    if not path.exists():
        path.mkdir(mode=PRIVATE_DIR, parents=True)
        os.chmod(path, PRIVATE_DIR)  # mkdir's mode passes through the umask
        return
    _tighten(path, PRIVATE_DIR)


def secure_sqlite_file(database: Path) -> None:
    """Create the SQLite file 0600 before SQLite opens it (SQLite gives its -wal and -shm files
    the database file's mode), and tighten an existing file and its companions."""
    if not database.parent.exists():
        database.parent.mkdir(mode=PRIVATE_DIR, parents=True)
        os.chmod(database.parent, PRIVATE_DIR)
    try:
        fd = os.open(database, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE)
    except FileExistsError:
        pass
    else:
        try:
            os.fchmod(fd, PRIVATE_FILE)  # whatever the umask
        finally:
            os.close(fd)
    for path in (database, *(database.with_name(database.name + s) for s in SQLITE_SIDECARS)):
        _tighten(path, PRIVATE_FILE)


# --------------------------------------------------------------------------- migrations


def alembic_config(engine: Engine | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if engine is not None:
        config.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False))
    return config


@cache
def _scripts() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config())


def head_revision() -> str:
    """The newest migration this version of the app has."""
    head = _scripts().get_current_head()
    assert head is not None, "the migrations have more than one head"
    return head


def schema_revision(connection: Connection) -> str | None:
    """The migration the database is at (None: an empty database)."""
    return MigrationContext.configure(connection).get_current_revision()


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest migration (creates it on an empty database)."""
    config = alembic_config(engine)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def is_migrated(engine: Engine) -> bool:
    return inspect(engine).has_table("alembic_version")


def _revision_or_refuse(connection: Connection) -> str | None:
    """The schema's revision; ConfigurationError when this app cannot upgrade it (a newer
    version migrated it) or its role may not read it."""
    try:
        revision = schema_revision(connection)
    except DBAPIError as exc:
        if getattr(exc.orig, "sqlstate", None) != INSUFFICIENT_PRIVILEGE:
            raise
        user = connection.execute(text("SELECT current_user")).scalar()
        raise ConfigurationError(
            f"The database role {user} may not read the record's schema version: it has not "
            f"been granted the runtime privileges; {MIGRATE_HINT}"
        ) from exc
    if revision is not None and revision not in {s.revision for s in _scripts().walk_revisions()}:
        raise ConfigurationError(
            f"The record's schema is at revision {revision}, which this version of the app does "
            "not know: a newer version has migrated it. Run that version."
        )
    return revision


def _may_migrate(connection: Connection) -> bool:
    """Whether the connected PostgreSQL role acts as the owner of the schema (of Alembic's
    table; of the database when it is still empty) or is a superuser."""
    return bool(
        connection.execute(
            text(
                "SELECT pg_has_role(current_user, COALESCE("
                "(SELECT tableowner FROM pg_tables WHERE schemaname = current_schema() "
                "AND tablename = 'alembic_version'), "
                "(SELECT pg_get_userbyid(datdba) FROM pg_database "
                "WHERE datname = current_database())), 'USAGE')"
            )
        ).scalar()
    )


def _open_postgres(engine: Engine) -> None:
    """Check (and, for the owner, bring up to date) the schema and the role's privileges."""
    head = head_revision()
    with engine.connect() as connection:
        revision = _revision_or_refuse(connection)
        user = connection.execute(text("SELECT current_user")).scalar()
        owner = _may_migrate(connection)
    if revision != head:
        if not owner:
            raise ConfigurationError(
                f"The record's schema is at {revision or 'nothing (an empty database)'} and this "
                f"version of the app needs {head}. The app's database role {user} may not "
                f"change the schema, as it should not: {MIGRATE_HINT}."
            )
        migrate(engine)
        log.info("Migrated the record from %s to %s", revision or "an empty database", head)
    with engine.connect() as connection:
        missing = runtime_role.missing_privileges(connection)
        rewrite = runtime_role.history_privileges(connection) if not missing else []
    if missing:
        raise ConfigurationError(
            f"The app's database role {user} lacks {', '.join(missing)}; {MIGRATE_HINT} "
            f"(or `python -m observations.runtime_role {user} --apply` as the migration role)."
        )
    if owner or rewrite:
        log.warning(
            "The app connects to PostgreSQL as %s, which %s: connect it as a runtime role that "
            "cannot (docs/postgresql.md)",
            user,
            "owns the record's schema and could disable its append-only triggers"
            if owner
            else f"holds {', '.join(rewrite)}",
        )


def open_engine(settings: Settings | None = None) -> Engine:
    settings = settings or load_settings()
    if settings.is_embedded:
        secure_data_dir(settings.data_dir)
    engine = create_record_engine(settings.database_url)
    try:
        if settings.is_embedded:
            with engine.connect() as connection:
                behind = _revision_or_refuse(connection) != head_revision()
            if behind:
                migrate(engine)
        else:
            _open_postgres(engine)
            if settings.migration_database_url:
                log.warning(
                    "%s is set for this process: the migration role's password belongs in the "
                    "upgrade step's environment only (docs/postgresql.md)",
                    MIGRATION_URL_ENV,
                )
    except BaseException:
        engine.dispose()
        raise
    return engine


def migrate_command(
    settings: Settings | None = None, out: TextIO = sys.stdout, err: TextIO = sys.stderr
) -> int:
    """``python -m observations migrate``: bring the schema to this version's newest migration,
    as the migration role (ITBMON_MIGRATION_DATABASE_URL, else ITBMON_DATABASE_URL), then grant
    the app's role (the user of ITBMON_DATABASE_URL, when it is another role) the runtime
    privileges on every table, new ones included. Returns the exit status."""
    try:
        settings = settings or load_settings()
        if settings.is_embedded:
            open_engine(settings).dispose()
            print(f"The record is at the newest schema ({head_revision()}, SQLite).", file=out)
            return 0
        return _migrate_postgres(settings, out, err)
    except ConfigurationError as exc:
        print(f"error: {exc}", file=err)
        return 2


def _migrate_postgres(settings: Settings, out: TextIO, err: TextIO) -> int:
    url = settings.migration_database_url or settings.database_url
    migrator = make_url(url).username
    app_role = make_url(settings.database_url).username
    engine = create_record_engine(url)
    try:
        head = head_revision()
        with engine.connect() as connection:
            revision = _revision_or_refuse(connection)
            may_migrate = _may_migrate(connection)
        if not may_migrate:
            print(
                f"error: the role {migrator} does not own the record's schema, so it may not "
                f"migrate it: set {MIGRATION_URL_ENV} to the URL of the role that does "
                "(docs/postgresql.md)",
                file=err,
            )
            return 2
        if revision == head:
            print(f"The record is at the newest schema ({head}, PostgreSQL).", file=out)
        else:
            migrate(engine)
            print(
                f"Migrated the record from {revision or 'an empty database'} to {head} "
                f"(PostgreSQL, as {migrator}).",
                file=out,
            )
        if settings.migration_database_url is None or app_role in (None, migrator):
            print(
                f"The app connects as {migrator}, the schema's owner, which could disable the "
                "append-only triggers: give it a runtime role (docs/postgresql.md).",
                file=err,
            )
            return 0
        assert app_role is not None
        with engine.begin() as connection:
            problems = runtime_role.apply_grants(connection, app_role)
        if problems:
            for problem in problems:
                print(f"error: {problem}", file=err)
            print(f"The app's role {app_role} was granted nothing.", file=err)
            return 1
        count = len(runtime_role.table_privileges())
        print(f"Granted the app's role {app_role} its privileges on {count} tables.", file=out)
        return 0
    finally:
        engine.dispose()
