"""Where the record lives and which clock the ward reads, from ``ITBMON_`` environment variables."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DEFAULT_TIMEZONE = "Europe/London"


class ConfigurationError(RuntimeError):
    """A setting is wrong; the message says which and how to fix it."""


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    database_url: str
    ward_timezone: ZoneInfo

    @property
    def is_embedded(self) -> bool:
        return self.database_url.startswith("sqlite")


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
    zone_name = env.get("ITBMON_TIMEZONE", DEFAULT_TIMEZONE)
    try:
        zone = ZoneInfo(zone_name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigurationError(
            f"ITBMON_TIMEZONE={zone_name!r} is not a known time zone (e.g. Europe/London)"
        ) from exc
    return Settings(data_dir=data_dir, database_url=url, ward_timezone=zone)
