"""On PostgreSQL the app is a runtime role that cannot rewrite history (docs/postgresql.md).

The PostgreSQL tests set the roles up by running docs/postgresql.md's own block, migrate and
grant with the documented command, and then try, as the runtime role, every way to change or
remove what was recorded: each must be refused for want of privilege (SQLSTATE 42501), while a
trial day goes on as usual. They need ITBMON_TEST_POSTGRES_URL as a superuser (roles are
created); .ci/run gives one and sets ITBMON_REQUIRE_POSTGRES=1, which turns a missing server
into a failure. The rest (grants computed from the schema, settings, SQLite) runs everywhere.
"""

from __future__ import annotations

import io
import logging
import re
import secrets
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from alembic import command
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

from observations import runtime_role
from observations.audit_chain import verify_command
from observations.database import (
    _scripts,
    alembic_config,
    create_record_engine,
    head_revision,
    migrate_command,
    open_engine,
    schema_revision,
)
from observations.record import TrialRecord
from observations.schema import APPEND_ONLY_TABLES, Base
from observations.settings import ConfigurationError, Settings, load_settings
from observations.users import SignInRefused
from tests.accounts import PASSWORD, local_person, sign_in_as
from tests.databases import POSTGRES_URL, require_postgres
from tests.observations.conftest import patient_details
from vocabulary import Role

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "postgresql.md"
DOC_MARK = "<!-- tests/observations/test_runtime_role.py runs the next block"
LONDON = ZoneInfo("Europe/London")
INSUFFICIENT_PRIVILEGE = "42501"


# --------------------------------------------------------------------------- PostgreSQL set-up


@dataclass(frozen=True)
class TwoRoles:
    """A fresh database set up as docs/postgresql.md says, with its two roles."""

    database: str
    owner: str
    app: str
    owner_url: str
    app_url: str
    admin_url: str  # the test server's superuser, on this database

    def settings(self, *, migration: bool = False, as_owner: bool = False) -> Settings:
        return Settings(
            data_dir=Path("/nonexistent-unused"),
            database_url=self.owner_url if as_owner else self.app_url,
            ward_timezone=LONDON,
            migration_database_url=self.owner_url if migration else None,
        )

    def engine(self, url: str) -> Engine:
        return create_engine(url, isolation_level="AUTOCOMMIT", poolclass=NullPool)


def documented_setup() -> str:
    """The SQL block docs/postgresql.md tells a database administrator to run."""
    after = DOC.read_text(encoding="utf-8").split(DOC_MARK, 1)[1]
    return after.split("```sql\n", 1)[1].split("```", 1)[0]


def run_documented_setup(names: dict[str, str], passwords: dict[str, str]) -> None:
    """Run the block as psql would, as the superuser: statements end with ';', `\\password R`
    sets R's password, `\\connect DB` moves to DB. The documented names are replaced by this
    test's own (roles are shared by the whole server)."""
    block = documented_setup()
    for documented, name in names.items():
        block = re.sub(rf"\b{documented}\b", name, block)
    admin = make_url(POSTGRES_URL)
    database = admin.database
    pending: list[str] = []
    executed = 0

    def run(sql: str) -> None:
        nonlocal executed
        engine = create_engine(
            admin.set(database=database), isolation_level="AUTOCOMMIT", poolclass=NullPool
        )
        with engine.connect() as conn:
            conn.exec_driver_sql(sql)
        engine.dispose()
        executed += 1

    for line in block.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("--"):
            continue
        if stripped.startswith("\\password "):
            role = stripped.split()[1]
            run(f"ALTER ROLE \"{role}\" PASSWORD '{passwords[role]}'")
        elif stripped.startswith(("\\connect ", "\\c ")):
            database = stripped.split()[1]
        else:
            pending.append(stripped)
            if stripped.endswith(";"):
                run(" ".join(pending))
                pending.clear()
    assert not pending, f"an unterminated statement in docs/postgresql.md: {pending}"
    assert executed >= 8, "docs/postgresql.md's set-up block was not found whole"


@pytest.fixture
def two_roles() -> Iterator[TwoRoles]:
    require_postgres()
    suffix = uuid.uuid4().hex[:10]
    owner, app, database = f"itbmon_owner_{suffix}", f"itbmon_app_{suffix}", f"itbmon_{suffix}"
    passwords = {owner: secrets.token_hex(16), app: secrets.token_hex(16)}
    admin = make_url(POSTGRES_URL)
    server = create_engine(admin, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        run_documented_setup(
            {"itbmon_owner": owner, "itbmon_app": app, "itbmon": database}, passwords
        )
        yield TwoRoles(
            database=database,
            owner=owner,
            app=app,
            owner_url=admin.set(
                username=owner, password=passwords[owner], database=database
            ).render_as_string(hide_password=False),
            app_url=admin.set(
                username=app, password=passwords[app], database=database
            ).render_as_string(hide_password=False),
            admin_url=admin.set(database=database).render_as_string(hide_password=False),
        )
    finally:
        with server.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
            conn.exec_driver_sql(f'DROP ROLE IF EXISTS "{app}"')
            conn.exec_driver_sql(f'DROP ROLE IF EXISTS "{owner}"')
        server.dispose()


def migrate_as_documented(roles: TwoRoles) -> str:
    out, err = io.StringIO(), io.StringIO()
    status = migrate_command(roles.settings(migration=True), out, err)
    assert status == 0, err.getvalue()
    return out.getvalue()


def trial_day(record: TrialRecord) -> int:
    """What the app and the monitor do on a trial day, each kind of write at least once."""
    admin = local_person(record, None, "admin.a", "Ada Admin", Role.ADMIN)
    with pytest.raises(SignInRefused):  # counted in the sign-in throttle
        record.users.sign_in("admin.a", "not the password at all")
    record.users.sign_out(record.users.sign_in("admin.a", PASSWORD))
    record.users.sign_out(admin)
    specialist = sign_in_as(record, "cns.a", Role.NURSE_SPECIALIST)
    doctor = sign_in_as(record, "dr.a", Role.DOCTOR)
    nurse = sign_in_as(record, "nurse.a", Role.NURSE)
    patient = record.patients.register(specialist, patient_details())
    trial = record.trials.plan(specialist, patient.id, 50)
    now = record.store.now()
    record.trials.record_injection(
        doctor,
        trial.id,
        {
            "dose_mcg": 50,
            "given_at": now - timedelta(minutes=5),
            "route": "lumbar_puncture",
            "given_by": "Dr A",
        },
    )
    record.observations.record(
        nurse, trial.id, {"measured_at": now, "rr": 14, "spo2": 97, "pulse_rate": 72}
    )
    # The monitor: heartbeat, a device lease taken and released (the one DELETE), a clean stop.
    record.services.beat("monitor-a", "standalone", "ward-pc", 4242)
    assert record.services.acquire("sim:steady", trial.id, "monitor-a", timedelta(seconds=30))
    record.services.release("sim:steady", "monitor-a")
    assert record.services.lease_holder("sim:steady") is None
    record.services.stopped("monitor-a")
    return trial.id


# --------------------------------------------------------------------------- PostgreSQL tests


@pytest.mark.postgres
def test_documented_roles_upgrade_and_the_app_runs_its_day_as_the_runtime_role(
    two_roles: TwoRoles,
):
    # An empty database: the app's role may not create the schema, and says what to run.
    with pytest.raises(ConfigurationError) as empty:
        TrialRecord.open(two_roles.settings())
    assert "an empty database" in str(empty.value)
    assert "python -m observations migrate" in str(empty.value)
    assert "ITBMON_MIGRATION_DATABASE_URL" in str(empty.value)

    # The previous version, installed as documented (its grants by hand, with --apply).
    head = head_revision()
    previous = _scripts().get_revision(head).down_revision
    assert isinstance(previous, str)
    owner_engine = create_record_engine(two_roles.owner_url)
    config = alembic_config(owner_engine)
    with owner_engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, previous)
    owner_engine.dispose()
    with pytest.MonkeyPatch.context() as env:
        env.setenv("ITBMON_DATABASE_URL", two_roles.app_url)
        env.setenv("ITBMON_MIGRATION_DATABASE_URL", two_roles.owner_url)
        out = io.StringIO()
        assert runtime_role.main([two_roles.app, "--apply"], out, io.StringIO()) == 0
    assert f"Granted {two_roles.app}" in out.getvalue()

    # This version started before the upgrade step: refused, nothing written, command named.
    with pytest.raises(ConfigurationError) as behind:
        TrialRecord.open(two_roles.settings())
    assert f"at {previous}" in str(behind.value) and f"needs {head}" in str(behind.value)
    assert "python -m observations migrate" in str(behind.value)
    check = create_engine(two_roles.admin_url, poolclass=NullPool)
    with check.connect() as conn:
        assert schema_revision(conn) == previous

    # The upgrade step migrates as the owner and grants the app's role the new tables too.
    said = migrate_as_documented(two_roles)
    assert f"Migrated the record from {previous} to {head}" in said
    assert f"Granted the app's role {two_roles.app}" in said
    assert "The record is at the newest schema" in migrate_as_documented(two_roles)

    record = TrialRecord.open(two_roles.settings())
    try:
        trial = trial_day(record)
        assert record.trials.get(trial).injection is not None
        assert len(record.observations.list(trial)) == 1
        verified = io.StringIO()
        assert verify_command(record, None, verified) == 0, verified.getvalue()
        with record.store.engine.connect() as conn:
            assert runtime_role.missing_privileges(conn) == []
            assert runtime_role.history_privileges(conn) == []
    finally:
        record.close()
    with check.connect() as conn:
        owners = set(
            conn.execute(
                text("SELECT tableowner FROM pg_tables WHERE schemaname = 'public'")
            ).scalars()
        )
    check.dispose()
    assert owners == {two_roles.owner}


def refusals(roles: TwoRoles) -> list[str]:
    """Every way to change, remove or hide what was recorded, or to become the owner."""
    statements = []
    for table in APPEND_ONLY_TABLES:
        statements += [
            f"UPDATE {table} SET id = id",
            f"DELETE FROM {table}",
            f"TRUNCATE {table}",
        ]
    return [
        *statements,
        "TRUNCATE audit_log CASCADE",
        "ALTER TABLE audit_log DISABLE TRIGGER ALL",
        "ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only",
        "DROP TRIGGER audit_log_append_only ON audit_log",
        "DROP TABLE audit_log CASCADE",
        "ALTER TABLE audit_log ADD COLUMN remark text",
        "ALTER TABLE observation_sets ADD COLUMN remark text",
        "ALTER TABLE audit_log RENAME TO audit_log_old",
        f'ALTER TABLE audit_log OWNER TO "{roles.app}"',
        "CREATE TRIGGER audit_log_quiet BEFORE INSERT ON audit_log "
        "FOR EACH ROW EXECUTE FUNCTION itbmon_refuse_change()",
        # The triggers' function replaced by one that lets every change through.
        "CREATE OR REPLACE FUNCTION itbmon_refuse_change() RETURNS trigger AS "
        "$$ BEGIN RETURN NEW; END $$ LANGUAGE plpgsql",
        "SELECT setval(pg_get_serial_sequence('audit_log', 'id'), 1)",
        "CREATE TABLE public.audit_log_shadow (id integer)",
        "CREATE TABLE audit_log_shadow (id integer)",
        "CREATE SCHEMA shadow",
        "DROP SCHEMA public CASCADE",
        f'SET ROLE "{roles.owner}"',
        f'GRANT "{roles.owner}" TO "{roles.app}"',
        f'ALTER ROLE "{roles.app}" SUPERUSER',
        "ALTER DATABASE " + f'"{roles.database}" OWNER TO "{roles.app}"',
    ]


@pytest.mark.postgres
def test_the_runtime_role_cannot_rewrite_history(two_roles: TwoRoles):
    migrate_as_documented(two_roles)
    record = TrialRecord.open(two_roles.settings())
    try:
        trial_day(record)
    finally:
        record.close()
    admin = two_roles.engine(two_roles.admin_url)

    def state() -> tuple[object, ...]:
        with admin.connect() as conn:
            counts = tuple(
                conn.execute(text(f"SELECT count(*) FROM {t}")).scalar() for t in APPEND_ONLY_TABLES
            )
            triggers = sorted(
                conn.execute(
                    text(
                        "SELECT tgname, tgenabled FROM pg_trigger "
                        "WHERE tgrelid = 'audit_log'::regclass AND NOT tgisinternal"
                    )
                ).all()
            )
            columns = conn.execute(
                text(
                    "SELECT count(*) FROM information_schema.columns WHERE table_schema = 'public'"
                )
            ).scalar()
            function = conn.execute(
                text("SELECT prosrc FROM pg_proc WHERE proname = 'itbmon_refuse_change'")
            ).scalar()
        return counts, triggers, columns, function

    before = state()
    counts, triggers, _, _ = before
    assert counts[APPEND_ONLY_TABLES.index("audit_log")] > 0  # there is history to protect
    assert ("audit_log_append_only", "O") in triggers and ("audit_log_no_truncate", "O") in triggers

    app = two_roles.engine(two_roles.app_url)
    allowed = []
    with app.connect() as conn:
        for statement in refusals(two_roles):
            try:
                conn.exec_driver_sql(statement)
            except DBAPIError as exc:
                sqlstate = getattr(exc.orig, "sqlstate", None)
                if sqlstate != INSUFFICIENT_PRIVILEGE:
                    allowed.append(f"{statement}: refused with {sqlstate}, not for privilege")
            else:
                allowed.append(statement)
        # What the app does need still works on the same connection.
        assert conn.execute(text("SELECT count(*) FROM audit_log")).scalar() > 0
    app.dispose()
    assert allowed == []
    assert state() == before
    admin.dispose()


@pytest.mark.postgres
def test_a_start_without_the_grants_is_refused_and_the_owner_as_app_is_warned(
    two_roles: TwoRoles, caplog: pytest.LogCaptureFixture
):
    migrate_as_documented(two_roles)
    owner = two_roles.engine(two_roles.owner_url)
    with owner.connect() as conn:
        conn.exec_driver_sql(f'REVOKE UPDATE ON users FROM "{two_roles.app}"')
    owner.dispose()
    with pytest.raises(ConfigurationError) as lacking:
        TrialRecord.open(two_roles.settings())
    assert "lacks UPDATE on users" in str(lacking.value)
    assert "python -m observations migrate" in str(lacking.value)
    migrate_as_documented(two_roles)  # grants again
    TrialRecord.open(two_roles.settings()).close()

    # One role for both still works (as before), with a warning at every start.
    with caplog.at_level(logging.WARNING, logger="itbmon.record"):
        TrialRecord.open(two_roles.settings(as_owner=True)).close()
    assert f"as {two_roles.owner}, which owns the record's schema" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="itbmon.record"):
        TrialRecord.open(two_roles.settings()).close()
    # The runtime role: nothing to warn about.
    assert not [r for r in caplog.records if r.name == "itbmon.record"]
    with caplog.at_level(logging.WARNING, logger="itbmon.record"):
        TrialRecord.open(two_roles.settings(migration=True)).close()
    assert "ITBMON_MIGRATION_DATABASE_URL is set for this process" in caplog.text

    # Neither the owner nor a superuser is accepted as the runtime role; nothing is granted.
    superuser = make_url(POSTGRES_URL).username
    assert superuser is not None
    for role, why in ((two_roles.owner, "owns the record's tables"), (superuser, "superuser")):
        err = io.StringIO()
        with pytest.MonkeyPatch.context() as env:
            env.setenv("ITBMON_DATABASE_URL", two_roles.app_url)
            env.setenv("ITBMON_MIGRATION_DATABASE_URL", two_roles.owner_url)
            assert runtime_role.main([role, "--apply"], io.StringIO(), err) == 1
        assert why in err.getvalue() and "Nothing was granted" in err.getvalue()


@pytest.mark.postgres
def test_migrate_needs_the_owner(two_roles: TwoRoles):
    wrong = Settings(Path("/unused"), two_roles.app_url, LONDON, two_roles.app_url)
    err = io.StringIO()
    assert migrate_command(wrong, io.StringIO(), err) == 2
    assert f"the role {two_roles.app} does not own the record's schema" in err.getvalue()


# --------------------------------------------------------------------------- everywhere


def printed_grants(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    monkeypatch.delenv("ITBMON_DATABASE_URL", raising=False)
    monkeypatch.delenv("ITBMON_MIGRATION_DATABASE_URL", raising=False)
    out = io.StringIO()
    assert runtime_role.main(["itbmon_app", "--database", "itbmon"], out, io.StringIO()) == 0
    return out.getvalue().splitlines()


def test_grants_cover_every_table_and_never_allow_a_rewrite(monkeypatch: pytest.MonkeyPatch):
    lines = printed_grants(monkeypatch)
    assert lines[0] == "BEGIN;" and lines[-1] == "COMMIT;"
    # Everything held before is taken away first, so a re-run also narrows.
    assert lines[1].startswith('REVOKE ALL ON ALL TABLES IN SCHEMA "public" FROM "itbmon_app"')
    grants = {}
    for line in lines:
        found = re.fullmatch(r'GRANT (.+) ON "public"\."(\w+)" TO "itbmon_app";', line)
        if found:
            grants[found[2]] = found[1].split(", ")
    assert set(grants) == {*Base.metadata.tables, "alembic_version"}
    for table in APPEND_ONLY_TABLES:
        assert grants[table] == ["SELECT", "INSERT"], table
    for table, privileges in grants.items():
        assert "DELETE" not in privileges or table in runtime_role.DELETES_ROWS, table
    assert grants["alembic_version"] == ["SELECT"]
    assert grants["device_leases"] == ["SELECT", "INSERT", "UPDATE", "DELETE"]
    text_all = "\n".join(lines)
    for never in ("TRUNCATE", "TRIGGER", "REFERENCES", "ALL PRIVILEGES", "WITH GRANT OPTION"):
        assert never not in text_all
    assert 'GRANT USAGE ON ALL SEQUENCES IN SCHEMA "public" TO "itbmon_app";' in lines
    assert (
        'ALTER DEFAULT PRIVILEGES IN SCHEMA "public" GRANT SELECT, INSERT ON TABLES TO '
        '"itbmon_app";'
    ) in lines
    assert not set(runtime_role.DELETES_ROWS) & set(APPEND_ONLY_TABLES)
    assert set(runtime_role.DELETES_ROWS) <= set(Base.metadata.tables)
    assert set(APPEND_ONLY_TABLES) <= set(Base.metadata.tables)


def test_every_delete_in_the_record_is_of_a_table_the_runtime_role_may_delete_from():
    """A tripwire: a new delete in observations/ must come with its table in DELETES_ROWS
    (or the runtime role is refused at that moment on the ward)."""
    deleting = sorted(
        path.relative_to(ROOT).as_posix()
        for path in (ROOT / "observations").rglob("*.py")
        if "migrations" not in path.parts
        and re.search(r"\bdelete\(", path.read_text(encoding="utf-8"))
    )
    assert deleting == ["observations/services.py"], (
        "a module deletes rows: add its table to observations.runtime_role.DELETES_ROWS and "
        "this list"
    )
    source = (ROOT / "observations" / "services.py").read_text(encoding="utf-8")
    assert re.findall(r"session\.delete\((\w+)\)", source) == ["lease", "lease"]
    assert {"device_leases"} == runtime_role.DELETES_ROWS


def test_role_names_are_quoted_so_they_cannot_inject_sql():
    statements = runtime_role.grant_sql('app"; DROP TABLE audit_log; --', "itbmon")
    assert all('"app""; DROP TABLE audit_log; --"' in s for s in statements if "TO" in s)
    with pytest.raises(ValueError, match="not an identifier"):
        runtime_role.quote_ident("")


def test_migration_url_settings():
    app = "postgresql+psycopg://itbmon_app:secret-app@db.ward/itbmon"
    owner = "postgresql+psycopg://itbmon_owner:secret-owner@db.ward/itbmon"
    settings = load_settings({"ITBMON_DATABASE_URL": app, "ITBMON_MIGRATION_DATABASE_URL": owner})
    assert settings.migration_database_url == owner
    assert "secret" not in repr(settings) and "itbmon_owner" in repr(settings)
    assert load_settings({"ITBMON_DATABASE_URL": app}).migration_database_url is None
    with pytest.raises(ConfigurationError, match="different databases"):
        load_settings(
            {"ITBMON_DATABASE_URL": app, "ITBMON_MIGRATION_DATABASE_URL": owner + "_other"}
        )
    with pytest.raises(ConfigurationError, match="PostgreSQL record only"):
        load_settings({"ITBMON_MIGRATION_DATABASE_URL": owner})


def test_sqlite_migrates_itself_only_when_behind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    settings = load_settings({"ITBMON_DATA_DIR": str(tmp_path / "data")})
    head = head_revision()
    previous = _scripts().get_revision(head).down_revision
    assert isinstance(previous, str)
    engine = create_record_engine(settings.database_url)
    config = alembic_config(engine)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, previous)
    engine.dispose()

    open_engine(settings).dispose()  # behind: migrated
    engine = create_record_engine(settings.database_url)
    with engine.connect() as conn:
        assert schema_revision(conn) == head
    engine.dispose()

    def no_migration(_engine: Engine) -> None:
        raise AssertionError("migrated a schema that is at head")

    monkeypatch.setattr("observations.database.migrate", no_migration)
    open_engine(settings).dispose()  # at head: not migrated again

    # A record migrated by a newer version is refused, not "upgraded".
    engine = create_record_engine(settings.database_url)
    with engine.begin() as conn:
        conn.exec_driver_sql("UPDATE alembic_version SET version_num = '9999'")
    engine.dispose()
    with pytest.raises(ConfigurationError, match="a newer version has migrated it"):
        open_engine(settings)
