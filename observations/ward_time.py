"""Time on the ward: stored in UTC, shown and entered in the ward's zone (ITBMON_TIMEZONE)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from observations.errors import InvalidEntry


def require_utc(moment: datetime, field: str = "time") -> datetime:
    """A naive time has no meaning across a clock change: refuse it, convert the rest to UTC."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise InvalidEntry.single(field, f"The {field} has no time zone; it cannot be recorded.")
    return moment.astimezone(UTC)


def to_ward(moment: datetime, zone: ZoneInfo) -> datetime:
    return require_utc(moment).astimezone(zone)


def format_ward(moment: datetime | None, zone: ZoneInfo, with_date: bool = True) -> str:
    """'21 Nov 2026 09:15 GMT': the zone name shows which side of a clock change a time is."""
    if moment is None:
        return "—"
    local = to_ward(moment, zone)
    pattern = "%d %b %Y %H:%M %Z" if with_date else "%H:%M:%S %Z"
    return local.strftime(pattern)


def ward_time_to_utc(local: datetime, zone: ZoneInfo, fold: int | None = None) -> datetime:
    """Turn a wall-clock time typed on the ward into UTC.

    Times that do not exist (the hour skipped when clocks go forward) are refused; times that
    happen twice (the hour repeated when clocks go back) need ``fold`` (0 = first, 1 = second)
    rather than a silent guess.
    """
    if local.tzinfo is not None:
        return require_utc(local)
    first = local.replace(tzinfo=zone, fold=0)
    second = local.replace(tzinfo=zone, fold=1)
    if first.utcoffset() != second.utcoffset():
        round_trip = first.astimezone(UTC).astimezone(zone).replace(tzinfo=None)
        if round_trip != local:
            raise InvalidEntry.single(
                "time",
                f"{local:%H:%M} does not exist on {local:%d %b %Y}: the clocks went forward. "
                "Check the time on the ward clock.",
            )
        if fold is None:
            raise InvalidEntry.single(
                "time",
                f"{local:%H:%M} happens twice on {local:%d %b %Y} because the clocks went back: "
                f"say whether it was the first ({first:%Z}) or the second ({second:%Z}).",
            )
        return (second if fold else first).astimezone(UTC)
    return first.astimezone(UTC)


def ward_noon(moment: datetime, zone: ZoneInfo) -> datetime:
    """12:00 ward time on the ward-local day of ``moment``."""
    local = to_ward(moment, zone)
    return local.replace(hour=12, minute=0, second=0, microsecond=0)


def age(moment: datetime, now: datetime) -> timedelta:
    return require_utc(now) - require_utc(moment)
