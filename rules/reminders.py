"""The soft reminder of acknowledged alarms still present: when it is due, per bed.

Acknowledging means "seen and acted on": the alarm stays on screen but silent until its
condition ends or worsens (the engine's business). The screen reminds the nurse, one reminder
per bed, that acknowledged conditions are still there. Its interval is the shortest among the
bed's acknowledged alarms: the nurse's choice when acknowledging, else the rule set's default
for the alarm's priority (`lifecycle.reminder_after_acknowledgement_s`). It counts from the
bed's latest acknowledgement or its last reminder, whichever is later, and never from an
annunciation: a reminder is not an alarm, and alarms do not postpone it.

Pure: the caller passes the acknowledged alarms, the defaults and the times.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from vocabulary import Priority


@dataclass(frozen=True)
class AcknowledgedAlarm:
    """An alarm still active on the bed, acknowledged at `acknowledged_at`."""

    acknowledged_at: datetime
    priority: Priority
    # The interval the nurse chose when acknowledging; None: the default for the priority.
    remind_after_s: float | None = None


def reminder_interval(
    alarm: AcknowledgedAlarm, defaults: Mapping[Priority, float]
) -> timedelta | None:
    """How often this alarm asks to be remembered; None when it never does (no choice was made
    and its priority has no default, as for low-priority advisories)."""
    seconds = alarm.remind_after_s
    if seconds is None:
        seconds = defaults.get(Priority(alarm.priority))
    if seconds is None:
        return None
    if not seconds > 0:  # also refuses NaN: a reminder every instant would be an alarm tone
        raise ValueError(f"a reminder interval must be positive, not {seconds}")
    return timedelta(seconds=seconds)


def next_reminder_at(
    alarms: Iterable[AcknowledgedAlarm],
    defaults: Mapping[Priority, float],
    last_reminder_at: datetime | None = None,
) -> datetime | None:
    """When the bed's next soft reminder is due (possibly already past), or None when none of
    its acknowledged alarms asks for one."""
    alarms = list(alarms)
    intervals = [i for i in (reminder_interval(a, defaults) for a in alarms) if i is not None]
    if not intervals:
        return None
    start = max(a.acknowledged_at for a in alarms)
    if last_reminder_at is not None and last_reminder_at > start:
        start = last_reminder_at
    return start + min(intervals)


def reminder_due(
    alarms: Iterable[AcknowledgedAlarm],
    defaults: Mapping[Priority, float],
    now: datetime,
    last_reminder_at: datetime | None = None,
) -> bool:
    """Whether the bed's soft reminder should sound now."""
    due = next_reminder_at(alarms, defaults, last_reminder_at)
    return due is not None and due <= now
