"""The ward's alarm figures over a range of ward dates, for the people who own the rule file.

For the clinical risk management of the alarm rules (DCB0129/DCB0160): how often the ward was
called, by which rules and beds, how long alarms waited for a nurse, and how much of the
oximeter streams could not be used. Figures only: no patient is named, a trial is its id and
its bed. Read with ``alarm.review``.

What is counted (the same words as rules/alarm_burden.py):

- a *raise* is a new alarm (its ``raised`` event); an *annunciation* is a raise, a
  re-annunciation or an escalation: every time the screen sounded for an alarm. Both are
  counted on the ward date of the event (observations.ward_time), by the trial's bed and by
  rule; an alarm raised before the range counts its later annunciations inside it.
- *time to acknowledge*, per priority at raising, is from an alarm's raise to its first
  acknowledgement (whenever that came), for the alarms raised in the range. The median and the
  90th percentile (nearest rank: the time within which 90 % were acknowledged, always a time
  that was measured) are of the acknowledged ones. An alarm that resolved without ever being
  acknowledged is *never acknowledged*; one still active and unacknowledged is *waiting*.
- *unusable stream time*, per oximeter (a device that sent SpO2) on each trial, from the
  recorded readings of the streamed parameters (SpO2, pulse). The record keeps each device's
  connection state only as it stands now (``device_states`` is updated in place, it has no
  history), so the past is read from the readings themselves: each instant with readings
  stands until the device's next instant, at most ``gap_after_seconds`` (the display's gap,
  just over the devices' quiet time); it is *unusable* when none of its readings is usable as
  the rules judge it (a value, and no flag that makes it doubtful: rules.events.usable), as
  the technical rules sensor_off and signal_unusable do. Time between instants further apart
  than that is *silent* (the device sent nothing). The last instant of a device in the range
  stands for nothing: nothing says how long it lasted. A blood pressure cuff, which sends a
  pulse with each measurement minutes apart, is not a stream and is left out.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from observations.alarms import ANNUNCIATIONS
from observations.errors import InvalidEntry, NotPermitted
from observations.readings import _SOUND_FLAG_TEXTS, _epoch_seconds
from observations.schema import Alarm, AlarmEvent, Trial, VitalReading
from observations.store import Actor, Store, open_session, require
from observations.ward_time import to_ward
from vocabulary import PRIORITY_RANK, STREAMED_PARAMETERS, AlarmEventType, Parameter, Priority

REVIEW_ACTION = "alarm.review"
PERCENTILE = 90


@dataclass(frozen=True)
class DayBurden:
    """One ward date: how often the ward was called."""

    day: date
    raises: int
    annunciations: int
    escalations: int


@dataclass(frozen=True)
class BedBurden:
    """One bed (None: trials with no bed recorded) over the range."""

    bed: str | None
    trials: int  # trials of this bed with an alarm event in the range
    raises: int
    annunciations: int
    escalations: int


@dataclass(frozen=True)
class RuleBurden:
    """One rule of the rule file over the range."""

    rule_id: str
    kind: str  # physiological or technical
    raises: int
    annunciations: int
    escalations: int
    trials: int  # on how many trials it sounded


@dataclass(frozen=True)
class AcknowledgementTimes:
    """Raise to first acknowledgement of the alarms raised in the range at one priority."""

    priority: str
    raised: int
    acknowledged: int
    median_s: float | None  # None when none was acknowledged
    p90_s: float | None
    never_acknowledged: int  # resolved without an acknowledgement
    waiting: int  # still active, not yet acknowledged


@dataclass(frozen=True)
class StreamTime:
    """One oximeter's SpO2 and pulse on one trial, inside the range."""

    source_device: str
    trial_id: int
    bed: str | None
    first: datetime
    last: datetime
    instants: int  # device times with at least one streamed reading
    streamed_s: float  # time the instants stand for (usable or not)
    unusable_s: float  # of which none of the readings was usable
    silent_s: float  # between instants further apart than the gap: nothing came

    @property
    def unusable_fraction(self) -> float | None:
        return self.unusable_s / self.streamed_s if self.streamed_s > 0 else None


@dataclass(frozen=True)
class AlarmReview:
    first_day: date
    last_day: date
    start: datetime  # UTC, the first day's ward midnight
    end: datetime  # UTC, the ward midnight after the last day (excluded)
    raises: int
    annunciations: int
    escalations: int
    days: list[DayBurden]  # every ward date of the range, oldest first
    beds: list[BedBurden]  # most annunciations first
    rules: list[RuleBurden]  # most annunciations first: the rules that call the ward most
    acknowledgement: list[AcknowledgementTimes]  # high, medium, low
    streams: list[StreamTime]  # most unusable time first
    gap_after_seconds: float


def nearest_rank(values: Sequence[float], percent: float) -> float | None:
    """The smallest value with at least ``percent`` % of the values at or below it."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(percent / 100 * len(ordered)))
    return ordered[rank - 1]


def ward_day_bounds(first_day: date, last_day: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """UTC instants of the first day's ward midnight and the midnight after the last day."""
    start = datetime.combine(first_day, time.min, zone).astimezone(UTC)
    end = datetime.combine(last_day + timedelta(days=1), time.min, zone).astimezone(UTC)
    return start, end


class AlarmReviews:
    def __init__(self, store: Store) -> None:
        self._store = store

    def review(
        self, actor: Actor, first_day: date, last_day: date, gap_after_seconds: float
    ) -> AlarmReview:
        """The figures of the ward dates ``first_day`` to ``last_day`` (both included)."""
        require(actor, REVIEW_ACTION)
        if last_day < first_day:
            raise InvalidEntry.single(
                "last_day", "The last day comes before the first: choose the range again."
            )
        if not gap_after_seconds > 0:
            raise ValueError("gap_after_seconds must be positive")
        zone = self._store.zone
        start, end = ward_day_bounds(first_day, last_day, zone)
        with self._store.reading() as session:
            # The sign-in as it stands now: a screen signed out elsewhere reads nothing.
            if open_session(session, actor) is None:
                raise NotPermitted(f"The sign-in of {actor.username} has ended: sign in again.")
            beds = dict(session.execute(select(Trial.id, Trial.bed)).all())
            events = session.execute(
                select(
                    AlarmEvent.trial_id,
                    AlarmEvent.event,
                    AlarmEvent.at,
                    Alarm.rule_id,
                    Alarm.kind,
                )
                .join(Alarm, Alarm.id == AlarmEvent.alarm_id)
                .where(
                    AlarmEvent.at >= start,
                    AlarmEvent.at < end,
                    AlarmEvent.event.in_(ANNUNCIATIONS),
                )
            ).all()
            lives = _lives(session, start, end)
            streams = _streams(session, list(beds), start, end, gap_after_seconds)

        days = {
            first_day + timedelta(days=n): Counter[str]()
            for n in range((last_day - first_day).days + 1)
        }
        by_bed: dict[str | None, Counter[str]] = defaultdict(Counter)
        bed_trials: dict[str | None, set[int]] = defaultdict(set)
        by_rule: dict[str, Counter[str]] = defaultdict(Counter)
        rule_kind: dict[str, str] = {}
        rule_trials: dict[str, set[int]] = defaultdict(set)
        for trial_id, event, at, rule_id, kind in events:
            for counts in (
                days[to_ward(at, zone).date()],
                by_bed[beds[trial_id]],
                by_rule[rule_id],
            ):
                counts[event] += 1
            bed_trials[beds[trial_id]].add(trial_id)
            rule_kind[rule_id] = kind
            rule_trials[rule_id].add(trial_id)

        def sounded(counts: Counter[str]) -> int:
            return sum(counts[e] for e in ANNUNCIATIONS)

        raised, escalated = AlarmEventType.RAISED.value, AlarmEventType.ESCALATED.value
        return AlarmReview(
            first_day=first_day,
            last_day=last_day,
            start=start,
            end=end,
            raises=sum(c[raised] for c in days.values()),
            annunciations=sum(sounded(c) for c in days.values()),
            escalations=sum(c[escalated] for c in days.values()),
            days=[DayBurden(day, c[raised], sounded(c), c[escalated]) for day, c in days.items()],
            beds=sorted(
                (
                    BedBurden(bed, len(bed_trials[bed]), c[raised], sounded(c), c[escalated])
                    for bed, c in by_bed.items()
                ),
                key=lambda b: (-b.annunciations, -b.raises, b.bed is None, b.bed or ""),
            ),
            rules=sorted(
                (
                    RuleBurden(
                        rule,
                        rule_kind[rule],
                        c[raised],
                        sounded(c),
                        c[escalated],
                        len(rule_trials[rule]),
                    )
                    for rule, c in by_rule.items()
                ),
                key=lambda r: (-r.annunciations, -r.raises, r.rule_id),
            ),
            acknowledgement=_acknowledgement_times(lives),
            streams=[
                StreamTime(source, trial_id, beds.get(trial_id), *rest)
                for source, trial_id, *rest in streams
            ],
            gap_after_seconds=gap_after_seconds,
        )


@dataclass
class _Life:
    """What the acknowledgement figures need of one alarm raised in the range."""

    priority: str
    raised_at: datetime
    acknowledged_at: datetime | None = None
    resolved: bool = False


def _lives(session: Session, start: datetime, end: datetime) -> list[_Life]:
    """The alarms raised in [start, end): their priority at raising, first acknowledgement and
    whether they have resolved, whenever those came."""
    raised_here = select(Alarm.id).where(Alarm.raised_at >= start, Alarm.raised_at < end)
    rows = session.execute(
        select(AlarmEvent.alarm_id, AlarmEvent.event, AlarmEvent.at, AlarmEvent.priority)
        .where(
            AlarmEvent.alarm_id.in_(raised_here),
            AlarmEvent.event.in_(
                (
                    AlarmEventType.RAISED.value,
                    AlarmEventType.ACKNOWLEDGED.value,
                    AlarmEventType.RESOLVED.value,
                )
            ),
        )
        .order_by(AlarmEvent.alarm_id, AlarmEvent.id)
    )
    lives: dict[int, _Life] = {}
    for alarm_id, event, at, priority in rows:
        if event == AlarmEventType.RAISED.value:
            lives[alarm_id] = _Life(priority, at)
            continue
        life = lives.get(alarm_id)
        if life is None:  # an alarm is written with its raise: nothing comes before it
            continue
        if event == AlarmEventType.ACKNOWLEDGED.value and life.acknowledged_at is None:
            life.acknowledged_at = at
        elif event == AlarmEventType.RESOLVED.value:
            life.resolved = True
    return list(lives.values())


def _acknowledgement_times(lives: Sequence[_Life]) -> list[AcknowledgementTimes]:
    out = []
    for priority in sorted(Priority, key=lambda p: -PRIORITY_RANK[p]):
        mine = [life for life in lives if life.priority == priority.value]
        waits = [
            (life.acknowledged_at - life.raised_at).total_seconds()
            for life in mine
            if life.acknowledged_at is not None
        ]
        unacknowledged = [life for life in mine if life.acknowledged_at is None]
        out.append(
            AcknowledgementTimes(
                priority=priority.value,
                raised=len(mine),
                acknowledged=len(waits),
                median_s=float(statistics.median(waits)) if waits else None,
                p90_s=nearest_rank(waits, PERCENTILE),
                never_acknowledged=sum(1 for life in unacknowledged if life.resolved),
                waiting=sum(1 for life in unacknowledged if not life.resolved),
            )
        )
    return out


def _streams(
    session: Session,
    trial_ids: list[int],
    start: datetime,
    end: datetime,
    gap_after_seconds: float,
) -> list[tuple[str, int, datetime, datetime, int, float, float, float]]:
    """Per device and trial: first and last instant, instants, streamed, unusable and silent
    seconds (see the module's description). Worked out by the database: a week of a busy ward
    is millions of readings, and only a row per device comes back."""
    if not trial_ids:
        return []
    dialect = session.get_bind().dialect.name
    # The same test as the trends' and the rules' (rules.events.usable): a value, and only
    # flags that leave it usable.
    sound = VitalReading.value.is_not(None) & func.coalesce(VitalReading.flags, "").in_(
        _SOUND_FLAG_TEXTS
    )
    instants = (
        select(
            VitalReading.trial_id,
            VitalReading.source_device,
            _epoch_seconds(dialect).label("t"),
            func.max(case((sound, 1), else_=0)).label("usable"),
            func.max(case((VitalReading.parameter == Parameter.SPO2.value, 1), else_=0)).label(
                "spo2"
            ),
        )
        # Every trial listed, so the unique index (trial, parameter, time, device) serves it.
        .where(
            VitalReading.trial_id.in_(trial_ids),
            VitalReading.parameter.in_(sorted(p.value for p in STREAMED_PARAMETERS)),
            VitalReading.device_time >= start,
            VitalReading.device_time < end,
        )
        .group_by(VitalReading.trial_id, VitalReading.source_device, VitalReading.device_time)
        .subquery()
    )
    following = func.lead(instants.c.t).over(
        partition_by=(instants.c.trial_id, instants.c.source_device), order_by=instants.c.t
    )
    spans = select(
        instants.c.trial_id,
        instants.c.source_device,
        instants.c.t,
        instants.c.usable,
        instants.c.spo2,
        (following - instants.c.t).label("step"),
    ).subquery()
    cap = float(gap_after_seconds)
    held = case((spans.c.step > cap, cap), else_=spans.c.step)  # NULL for the last instant
    rows = session.execute(
        select(
            spans.c.source_device,
            spans.c.trial_id,
            func.min(spans.c.t),
            func.max(spans.c.t),
            func.count(),
            func.coalesce(func.sum(held), 0.0),
            func.coalesce(func.sum(case((spans.c.usable == 0, held), else_=0.0)), 0.0),
            func.coalesce(func.sum(case((spans.c.step > cap, spans.c.step - cap), else_=0.0)), 0.0),
        )
        .group_by(spans.c.trial_id, spans.c.source_device)
        # Oximeters only: a blood pressure cuff reports a pulse with each measurement, minutes
        # apart, and is not a stream that goes silent between them.
        .having(func.max(spans.c.spo2) == 1)
    ).all()
    out = [
        (
            source,
            trial_id,
            datetime.fromtimestamp(round(float(first), 3), UTC),
            datetime.fromtimestamp(round(float(last), 3), UTC),
            int(count),
            # Milliseconds: SQLite's julianday is exact to tens of microseconds only.
            round(float(streamed), 3),
            round(float(unusable), 3),
            round(float(silent), 3),
        )
        for source, trial_id, first, last, count, streamed, unusable, silent in rows
    ]
    out.sort(key=lambda row: (-row[6], -row[7], row[1], row[0]))
    return out


__all__ = [
    "AcknowledgementTimes",
    "AlarmReview",
    "AlarmReviews",
    "BedBurden",
    "DayBurden",
    "RuleBurden",
    "StreamTime",
    "nearest_rank",
    "ward_day_bounds",
]
