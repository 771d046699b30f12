"""The ward's one urgency order: which of a bed's alarms leads and which bed comes first.

An alarm waiting for acknowledgement comes before an acknowledged one, then the higher
priority (IEC 60601-1-8: high, medium, low), then the alarm that called for attention most
recently (its last raise, escalation or re-annunciation). A bed's urgency is its waiting
alarms' highest priority, then any alarm's, then an overdue observation set, then a stale
value. Pure: the alarm bar, the ward's tiles and the trial monitor all order by it.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Protocol, TypeVar

from vocabulary import ANNUNCIATING_EVENTS, PRIORITY_RANK, Priority


class AlarmState(Protocol):
    """What the order needs of an alarm as it stands now."""

    @property
    def priority(self) -> str: ...
    @property
    def acknowledged(self) -> bool: ...
    @property
    def raised_at(self) -> datetime: ...
    @property
    def last_event(self) -> str: ...
    @property
    def last_event_at(self) -> datetime: ...


A = TypeVar("A", bound=AlarmState)


def priority_rank(priority: str) -> int:
    """High 3, medium 2, low 1; an unknown word ranks lowest rather than failing the ward."""
    try:
        return PRIORITY_RANK[Priority(priority)]
    except ValueError:
        return 0


def sounded_at(alarm: AlarmState) -> datetime:
    """When the alarm last called for attention."""
    return alarm.last_event_at if alarm.last_event in ANNUNCIATING_EVENTS else alarm.raised_at


def alarm_urgency(alarm: AlarmState) -> tuple[int, int, float]:
    """Larger is more urgent: waiting before acknowledged, priority, then the latest call."""
    return (
        0 if alarm.acknowledged else 1,
        priority_rank(alarm.priority),
        sounded_at(alarm).timestamp(),
    )


def most_urgent(alarms: Iterable[A]) -> A | None:
    """The most urgent WAITING alarm (highest priority, then the latest call); if every alarm
    is acknowledged, the most urgent acknowledged one; None without alarms."""
    return max(alarms, key=alarm_urgency, default=None)


def most_urgent_first(alarms: Iterable[A]) -> list[A]:
    """A bed's alarms, the one that leads first."""
    return sorted(alarms, key=alarm_urgency, reverse=True)


def bed_urgency(
    alarms: Iterable[AlarmState], *, overdue: bool, stale: bool
) -> tuple[int, int, int, int]:
    """Larger is more urgent: the waiting alarms' highest priority, then any alarm's, then an
    overdue observation set, then a stale value."""
    alarms = list(alarms)
    waiting = max((priority_rank(a.priority) for a in alarms if not a.acknowledged), default=0)
    anything = max((priority_rank(a.priority) for a in alarms), default=0)
    return (waiting, anything, int(overdue), int(stale))
