"""Where the record lives and which clock the ward reads, from ``ITBMON_`` environment variables."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

DEFAULT_TIMEZONE = "Europe/London"

# The migration role's URL: read by `python -m observations migrate` only (docs/postgresql.md).
MIGRATION_URL_ENV = "ITBMON_MIGRATION_DATABASE_URL"


class ConfigurationError(RuntimeError):
    """A setting is wrong; the message says which and how to fix it."""


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    database_url: str
    ward_timezone: ZoneInfo
    # PostgreSQL: the role that owns the schema, for migrations; None when the app's own role
    # migrates (SQLite, or a single-role server).
    migration_database_url: str | None = None

    @property
    def is_embedded(self) -> bool:
        return self.database_url.startswith("sqlite")

    def __repr__(self) -> str:
        # Settings end up in logs and tracebacks: never with a password in them.
        migration = _shown(self.migration_database_url) if self.migration_database_url else None
        return (
            f"Settings(data_dir={self.data_dir!r}, database_url={_shown(self.database_url)!r}, "
            f"ward_timezone={self.ward_timezone.key!r}, migration_database_url={migration!r})"
        )


def _shown(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparseable URL>"


def _place(url: str) -> tuple[str | None, int | None, str | None]:
    """The server and database a URL reaches, whoever connects."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ConfigurationError(f"{_shown(url)} is not a database URL") from exc
    return parsed.host, parsed.port, parsed.database


def load_settings(environ: dict[str, str] | None = None) -> Settings:
    env = os.environ if environ is None else environ
    data_dir = Path(env.get("ITBMON_DATA_DIR", "./data")).expanduser()
    url = env.get("ITBMON_DATABASE_URL", "").strip()
    if not url:
        url = f"sqlite:///{(data_dir / 'itbmon.sqlite3').resolve()}"
    elif not (url.startswith("sqlite") or url.startswith("postgresql")):
        raise ConfigurationError(
            "ITBMON_DATABASE_URL must be a sqlite:/// or postgresql+psycopg:// URL"
        )
    migration_url = env.get(MIGRATION_URL_ENV, "").strip() or None
    if migration_url is not None and not (
        migration_url.startswith("postgresql") and url.startswith("postgresql")
    ):
        raise ConfigurationError(
            f"{MIGRATION_URL_ENV} is for a PostgreSQL record only (the migration role's "
            "postgresql+psycopg:// URL, with ITBMON_DATABASE_URL the app's role on the same "
            "database); leave it unset for SQLite"
        )
    if migration_url is not None and _place(migration_url) != _place(url):
        raise ConfigurationError(
            f"{MIGRATION_URL_ENV} and ITBMON_DATABASE_URL name different databases "
            f"({_shown(migration_url)} and {_shown(url)}): both must be the one record, "
            "reached as two roles"
        )
    zone_name = env.get("ITBMON_TIMEZONE", DEFAULT_TIMEZONE)
    try:
        zone = ZoneInfo(zone_name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigurationError(
            f"ITBMON_TIMEZONE={zone_name!r} is not a known time zone (e.g. Europe/London)"
        ) from exc
    return Settings(
        data_dir=data_dir,
        database_url=url,
        ward_timezone=zone,
        migration_database_url=migration_url,
    )
