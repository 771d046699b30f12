"""The PostgreSQL runtime role: what the app and the monitor may do to the record, and no more.

The schema belongs to a migration role (docs/postgresql.md). The app and the monitor connect as
a runtime role that reads, adds rows, and changes rows only in the tables that are not history:
never UPDATE or DELETE on an append-only table (the triggers refuse it too, but an owner could
drop them), never TRUNCATE, TRIGGER or REFERENCES, and as it owns nothing it can never ALTER,
DROP or DISABLE TRIGGER (PostgreSQL leaves those to the owner). The privileges are computed from
the SQLAlchemy metadata, so a table added by a migration is covered when the grants are run again
(``python -m observations migrate`` does that for the app's role).

    python -m observations.runtime_role ROLE           # print the SQL, for review or psql
    python -m observations.runtime_role ROLE --apply   # check ROLE and run it (migration role)
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Collection, Sequence
from typing import TextIO

from sqlalchemy import Connection, MetaData, text
from sqlalchemy.engine import make_url

from observations.schema import APPEND_ONLY_TABLES, Base

# Tables the app deletes rows from (`session.delete` in observations/): a monitor that stops
# releases its device leases. Every other mutable table is only inserted into and updated.
DELETES_ROWS: frozenset[str] = frozenset({"device_leases"})

# Alembic's own table: the app reads it at start to know whether the schema is current.
VERSION_TABLE = "alembic_version"

READ_ADD = ("SELECT", "INSERT")
READ_ADD_CHANGE = ("SELECT", "INSERT", "UPDATE")
READ_ADD_CHANGE_REMOVE = ("SELECT", "INSERT", "UPDATE", "DELETE")


def table_privileges(metadata: MetaData = Base.metadata) -> dict[str, tuple[str, ...]]:
    """Each table of the record and what the runtime role may do to it."""
    privileges: dict[str, tuple[str, ...]] = {VERSION_TABLE: ("SELECT",)}
    for table in metadata.sorted_tables:
        if table.name in APPEND_ONLY_TABLES:
            privileges[table.name] = READ_ADD
        elif table.name in DELETES_ROWS:
            privileges[table.name] = READ_ADD_CHANGE_REMOVE
        else:
            privileges[table.name] = READ_ADD_CHANGE
    return privileges


def quote_ident(name: str) -> str:
    """A PostgreSQL identifier, quoted exactly as given (role names are case-sensitive)."""
    if not name or "\x00" in name:
        raise ValueError(f"not an identifier: {name!r}")
    return '"' + name.replace('"', '""') + '"'


def grant_sql(
    role: str,
    database: str,
    schema: str = "public",
    metadata: MetaData = Base.metadata,
    existing: Collection[str] | None = None,
) -> list[str]:
    """The statements that give ``role`` exactly the runtime privileges, run as the migration
    role in one transaction. Everything it held on the record is revoked first, so running them
    again after a migration also takes away what a table no longer needs. ``existing``: the
    tables the database has (one not migrated to the newest schema lacks some); None, all."""
    who = quote_ident(role)
    where = quote_ident(schema)
    statements = [
        f"REVOKE ALL ON ALL TABLES IN SCHEMA {where} FROM {who}",
        f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA {where} FROM {who}",
        f"GRANT CONNECT ON DATABASE {quote_ident(database)} TO {who}",
        f"GRANT USAGE ON SCHEMA {where} TO {who}",
    ]
    for table, privileges in table_privileges(metadata).items():
        if existing is not None and table not in existing:
            continue
        statements.append(f"GRANT {', '.join(privileges)} ON {where}.{quote_ident(table)} TO {who}")
    statements += [
        # nextval for the id columns; USAGE does not allow setval (that needs UPDATE).
        f"GRANT USAGE ON ALL SEQUENCES IN SCHEMA {where} TO {who}",
        # A table a later migration creates can be read and added to before the grants are run
        # again; changing its rows waits for them.
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA {where} GRANT SELECT, INSERT ON TABLES TO {who}",
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA {where} GRANT USAGE ON SEQUENCES TO {who}",
    ]
    return statements


def role_problems(connection: Connection, role: str) -> list[str]:
    """Why ``role`` must not be the runtime role (empty when it may be): a role that could
    rewrite the record's history whatever it is granted."""
    row = connection.execute(
        text("SELECT rolsuper, rolcreaterole, rolbypassrls FROM pg_roles WHERE rolname = :role"),
        {"role": role},
    ).one_or_none()
    if row is None:
        return [f"there is no role {role!r} (CREATE ROLE ... LOGIN, see docs/postgresql.md)"]
    problems = []
    if row.rolsuper:
        problems.append(f"{role} is a superuser")
    if row.rolcreaterole:
        problems.append(f"{role} has CREATEROLE (it could make itself a member of the owner)")
    if row.rolbypassrls:
        problems.append(f"{role} has BYPASSRLS")
    owners = connection.execute(
        text(
            "SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = current_schema() "
            "AND pg_has_role(:role, tableowner, 'MEMBER')"
        ),
        {"role": role},
    ).scalars()
    problems += [
        f"{role} owns the record's tables"
        if owner == role
        else f"{role} is a member of {owner}, which owns the record's tables"
        for owner in owners
    ]
    if connection.execute(
        text("SELECT has_schema_privilege(:role, current_schema(), 'CREATE')"), {"role": role}
    ).scalar():
        problems.append(
            f"{role} may create objects in the schema (as a superuser: REVOKE CREATE ON SCHEMA "
            "public FROM PUBLIC)"
        )
    return problems


def apply_grants(connection: Connection, role: str) -> list[str]:
    """Check ``role`` and grant it the runtime privileges on the connection's database, inside
    the caller's transaction. Returns the problems instead of granting when there are any."""
    problems = role_problems(connection, role)
    if problems:
        return problems
    database, schema = connection.execute(text("SELECT current_database(), current_schema()")).one()
    existing = set(
        connection.execute(
            text("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")
        ).scalars()
    )
    for statement in grant_sql(role, database, schema, existing=existing):
        connection.exec_driver_sql(statement)
    return []


def _check_query(
    connection: Connection, wanted: dict[str, Sequence[str]], present: bool
) -> list[str]:
    """The (table, privilege) pairs of ``wanted`` the connected role holds (present=True) or
    lacks (False), in one round trip; tables not in the database are left out."""
    tables = [t for t, privileges in wanted.items() for _ in privileges]
    privileges = [p for ps in wanted.values() for p in ps]
    rows = connection.execute(
        text(
            "SELECT t, p FROM unnest(CAST(:tables AS text[]), CAST(:privileges AS text[])) "
            "AS wanted(t, p) WHERE to_regclass(quote_ident(current_schema()) || '.' || "
            "quote_ident(t)) IS NOT NULL AND has_table_privilege(current_user, "
            "quote_ident(current_schema()) || '.' || quote_ident(t), p) = :present"
        ),
        {"tables": tables, "privileges": privileges, "present": present},
    )
    return [f"{p} on {t}" for t, p in rows]


def missing_privileges(connection: Connection) -> list[str]:
    """What the connected role needs on the record and lacks ("UPDATE on users", ...)."""
    return _check_query(connection, table_privileges(), present=False)


def history_privileges(connection: Connection) -> list[str]:
    """What the connected role holds that could rewrite history: UPDATE, DELETE or TRUNCATE
    on an append-only table, TRIGGER on any (an owner or superuser holds them all)."""
    wanted: dict[str, list[str]] = {}
    for table, privileges in table_privileges().items():
        extra = ["TRIGGER"] if table != VERSION_TABLE else []
        if privileges == READ_ADD:
            extra = ["UPDATE", "DELETE", "TRUNCATE", *extra]
        wanted[table] = extra
    return _check_query(connection, wanted, present=True)


def main(argv: list[str], out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    from observations.database import create_record_engine
    from observations.settings import ConfigurationError, load_settings

    parser = argparse.ArgumentParser(
        prog="python -m observations.runtime_role",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("role", help="the role the app and the monitor connect as")
    parser.add_argument(
        "--apply",
        action="store_true",
        help="check the role and grant, connected as ITBMON_MIGRATION_DATABASE_URL (or "
        "ITBMON_DATABASE_URL when that is unset); without it, print the SQL",
    )
    parser.add_argument("--database", help="the database name in the printed SQL")
    parser.add_argument("--schema", default="public", help="the schema in the printed SQL")
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
    except ConfigurationError as exc:
        print(f"error: {exc}", file=err)
        return 2
    url = settings.migration_database_url or settings.database_url
    if not args.apply:
        database = args.database or (None if settings.is_embedded else make_url(url).database)
        if not database:
            print("error: name the database with --database (or set ITBMON_DATABASE_URL)", file=err)
            return 2
        print("BEGIN;", file=out)
        for statement in grant_sql(args.role, database, args.schema):
            print(f"{statement};", file=out)
        print("COMMIT;", file=out)
        return 0
    if settings.is_embedded:
        print("error: SQLite has no roles; this is for a PostgreSQL record", file=err)
        return 2
    engine = create_record_engine(url)
    try:
        with engine.begin() as connection:
            problems = apply_grants(connection, args.role)
    finally:
        engine.dispose()
    if problems:
        for problem in problems:
            print(f"error: {problem}", file=err)
        print(f"Nothing was granted to {args.role}.", file=err)
        return 1
    count = len(table_privileges())
    print(f"Granted {args.role} the runtime privileges on {count} tables.", file=out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
