"""Alarms and their events: raised by the rules engine (via the monitor), acknowledged by nurses."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from observations.errors import FieldProblem, InvalidEntry, NotFound, Refused
from observations.free_text import clean_text, fit_text
from observations.limits import load_limits
from observations.schema import Alarm, AlarmEvent, Trial
from observations.store import Actor, Store, require
from observations.views import AlarmEventView, AlarmView
from vocabulary import (
    ANNUNCIATING_EVENTS,
    PRIORITY_RANK,
    AlarmEventType,
    AlarmKind,
    Priority,
    TrialStatus,
)

# The events that sound (vocabulary.ANNUNCIATING_EVENTS), as the record stores them.
ANNUNCIATIONS = frozenset(e.value for e in ANNUNCIATING_EVENTS)
# Where an acknowledgement keeps the nurse's choice of soft-reminder interval (seconds).
REMIND_AFTER_KEY = "remind_after_s"
# The stages in which a trial is watched (the monitor watches from the baseline until the
# window closes): only their alarms are shown. A trial leaving them has its leftover alarms
# resolved at once, so no screen shows a finished trial's alarms for ever.
WATCHED_STATUSES = frozenset({TrialStatus.BASELINE.value, TrialStatus.MONITORING.value})
# Why such an alarm ended, in its resolving event's evidence.
RESOLVED_BECAUSE_KEY = "reason"


@dataclass(frozen=True)
class AlarmEventIn:
    """One lifecycle event as the rules engine emitted it."""

    trial_id: int
    rule_id: str
    event: AlarmEventType
    at: datetime
    priority: Priority
    kind: AlarmKind
    message: str
    evidence: dict[str, Any]
    rule_set_version: str


def _open_alarms(session: Session, keys: set[tuple[int, str]]) -> dict[tuple[int, str], Alarm]:
    """The unresolved alarm of each (trial, rule) asked for (at most one each), in 3 queries."""
    trial_ids = {trial for trial, _ in keys}
    rule_ids = {rule for _, rule in keys}
    newest = (
        select(func.max(Alarm.id))
        .where(Alarm.trial_id.in_(trial_ids), Alarm.rule_id.in_(rule_ids))
        .group_by(Alarm.trial_id, Alarm.rule_id)
    )
    alarms = {a.id: a for a in session.scalars(select(Alarm).where(Alarm.id.in_(newest)))}
    if not alarms:
        return {}
    last_event = (
        select(func.max(AlarmEvent.id))
        .where(AlarmEvent.alarm_id.in_(alarms))
        .group_by(AlarmEvent.alarm_id)
    )
    resolved = set(
        session.scalars(
            select(AlarmEvent.alarm_id).where(
                AlarmEvent.id.in_(last_event), AlarmEvent.event == AlarmEventType.RESOLVED.value
            )
        )
    )
    return {
        (a.trial_id, a.rule_id): a
        for a in alarms.values()
        if a.id not in resolved and (a.trial_id, a.rule_id) in keys
    }


def _event_view(row: AlarmEvent, alarm: Alarm) -> AlarmEventView:
    """An event with its alarm's rule and kind, which the event row does not repeat."""
    return AlarmEventView(
        id=row.id,
        alarm_id=row.alarm_id,
        trial_id=row.trial_id,
        rule_id=alarm.rule_id,
        kind=alarm.kind,
        event=row.event,
        at=row.at,
        priority=row.priority,
        message=row.message,
        evidence=row.evidence,
        by_user=row.by_user,
        note=row.note,
    )


def active_views(session: Session, trial_id: int | None = None) -> list[AlarmView]:
    """Alarms not yet resolved (of one trial, or all), each with its events: two queries.

    The ward asks for this every second, and a long trial day holds hundreds of resolved
    alarms: only the unresolved ones are loaded, never one query per alarm.
    """
    last = select(AlarmEvent.alarm_id, func.max(AlarmEvent.id).label("last_id")).group_by(
        AlarmEvent.alarm_id
    )
    if trial_id is not None:
        last = last.where(AlarmEvent.trial_id == trial_id)
    newest = last.subquery()
    unresolved = (
        select(newest.c.alarm_id)
        .join(AlarmEvent, AlarmEvent.id == newest.c.last_id)
        .where(AlarmEvent.event != AlarmEventType.RESOLVED.value)
    )
    rows = session.execute(
        select(Alarm, AlarmEvent)
        .join(AlarmEvent, AlarmEvent.alarm_id == Alarm.id)
        .where(Alarm.id.in_(unresolved))
        .order_by(Alarm.id, AlarmEvent.id)
    )
    grouped: dict[int, tuple[Alarm, list[AlarmEvent]]] = {}
    for alarm, event in rows:
        grouped.setdefault(alarm.id, (alarm, []))[1].append(event)
    views = [Alarms._view(alarm, events) for alarm, events in grouped.values()]
    views.sort(key=lambda v: (-PRIORITY_RANK[Priority(v.priority)], v.raised_at))
    return views


def conditions_present(session: Session, trial_id: int) -> list[AlarmView]:
    """The trial's physiological alarms not yet resolved: conditions still present.

    The engine resolves an acknowledged alarm once its condition ends, so an active one means
    the patient still meets it (or, unacknowledged, that a nurse has not yet seen it).
    Technical alarms (a lost device, an overdue set) say nothing about the patient.
    """
    return [
        view
        for view in active_views(session, trial_id)
        if view.kind == AlarmKind.PHYSIOLOGICAL.value
    ]


def resolve_leftovers(
    session: Session, store: Store, actor: Actor, trial_id: int, because: str
) -> int:
    """Resolve every active alarm of a trial whose watch is over, saying why; audited.

    The rules engine resolves alarms as their conditions end, but a trial can leave
    monitoring with acknowledged conditions still present (a doctor closing the window, a
    cancelled trial) or with no monitor running: nothing would ever end those alarms.
    Returns how many were resolved.
    """
    now = store.now()
    leftovers = active_views(session, trial_id)
    for view in leftovers:
        evidence = {RESOLVED_BECAUSE_KEY: because}
        row = AlarmEvent(
            alarm_id=view.id,
            trial_id=trial_id,
            event=AlarmEventType.RESOLVED.value,
            at=now,
            priority=view.priority,
            message=view.message,
            evidence=evidence,
            by_user=actor.user_id or None,
            recorded_at=now,
        )
        session.add(row)
        store.audit(
            session,
            actor,
            "alarm.resolved",
            "alarm",
            view.id,
            trial_id,
            {"rule": view.rule_id, "priority": view.priority, "because": because},
        )
    return len(leftovers)


def check_note(note: str) -> str:
    """An acknowledgement's note, trimmed: required, no longer than any other note."""
    return clean_text(
        "note",
        note,
        "note",
        required=True,
        missing="Say what was done and who was told before acknowledging.",
    )


def _event_text(events: Sequence[AlarmEventIn]) -> list[AlarmEventIn]:
    """The engine's words as the record can keep them. A rule id or rule set version is an
    identifier (the open alarm is found by it): one too long for its column, or holding a
    control character, refuses the batch before anything is written. A message is kept
    whatever it holds (free_text.fit_text): an alarm is never lost over its wording."""
    kept = []
    for item in events:
        clean_text(
            "rule_id",
            item.rule_id,
            "code",
            required=True,
            label="The alarm's rule id",
            as_given=True,
        )
        clean_text(
            "rule_set_version",
            item.rule_set_version,
            "code",
            required=True,
            label="The rule set version",
            as_given=True,
        )
        message = fit_text(item.message, "note")
        kept.append(item if message == item.message else replace(item, message=message))
    return kept


def check_reminder(remind_after_s: float | None) -> float | None:
    """The soft-reminder interval a nurse chose, checked against the record's limits."""
    if remind_after_s is None:
        return None
    day = load_limits().trial_day
    low, high = day.reminder_min_minutes * 60, day.reminder_max_minutes * 60
    if (
        isinstance(remind_after_s, bool)
        or not isinstance(remind_after_s, int | float)
        or not low <= remind_after_s <= high  # NaN fails this too
    ):
        raise InvalidEntry.single(
            "remind_after_s",
            f"Choose a reminder between {_minutes(low)} and {_minutes(high)} while the "
            "condition is still present.",
        )
    return float(remind_after_s)


def _minutes(seconds: float) -> str:
    minutes = seconds / 60
    return f"{minutes:g} minute" + ("" if minutes == 1 else "s")


class Alarms:
    def __init__(self, store: Store) -> None:
        self._store = store

    def record_events(self, actor: Actor, events: Sequence[AlarmEventIn]) -> list[int]:
        """Commit the engine's events at once, in one transaction; returns the event ids.

        A handful of statements per batch whatever its size (the monitor group-commits a burst
        of alarms from many trials): trials and open alarms are looked up once, rows are
        flushed together. Any refused event refuses the whole batch; nothing is written.
        """
        require(actor, "alarm.record")
        if not events:
            return []
        events = _event_text(events)
        trial_ids = {item.trial_id for item in events}
        with self._store.writing() as session:
            status: dict[int, str] = {
                trial_id: stage
                for trial_id, stage in session.execute(
                    select(Trial.id, Trial.status).where(Trial.id.in_(trial_ids))
                )
            }
            for item in events:
                if item.trial_id not in status:
                    raise NotFound(f"There is no trial with id {item.trial_id}.")
            open_now = _open_alarms(session, {(e.trial_id, e.rule_id) for e in events})
            for item in events:
                if item.event == AlarmEventType.RAISED and status[item.trial_id] not in (
                    WATCHED_STATUSES
                ):
                    raise Refused(
                        f"Trial {item.trial_id} is {status[item.trial_id]}: it is not being "
                        f"watched, so no alarm ({item.rule_id}) is raised on it."
                    )
            # A trial that has left monitoring had its alarms resolved with it: what the engine
            # says of them afterwards (their resolving, as its watch ends) is already done.
            events = [
                e
                for e in events
                if status[e.trial_id] in WATCHED_STATUSES or (e.trial_id, e.rule_id) in open_now
            ]
            if not events:
                return []
            recorded_at = self._store.now()
            targets: list[Alarm] = []
            for item in events:
                key = (item.trial_id, item.rule_id)
                alarm = open_now.get(key)
                if item.event == AlarmEventType.RAISED:
                    if alarm is not None:
                        raise Refused(
                            f"Alarm {item.rule_id} is already active on trial {item.trial_id}."
                        )
                    alarm = Alarm(
                        trial_id=item.trial_id,
                        rule_id=item.rule_id,
                        kind=item.kind.value,
                        raised_at=item.at,
                        rule_set_version=item.rule_set_version,
                    )
                    session.add(alarm)
                    open_now[key] = alarm
                elif alarm is None:
                    raise NotFound(
                        f"No active {item.rule_id} alarm on trial {item.trial_id} to "
                        f"mark {item.event.value}."
                    )
                if item.event == AlarmEventType.RESOLVED:
                    del open_now[key]
                targets.append(alarm)
            session.flush()  # ids of the alarms raised in this batch, in one round
            written: list[tuple[AlarmEvent, Alarm, AlarmEventIn]] = []
            for item, alarm in zip(events, targets, strict=True):
                row = AlarmEvent(
                    alarm_id=alarm.id,
                    trial_id=item.trial_id,
                    event=item.event.value,
                    at=item.at,
                    priority=item.priority.value,
                    message=item.message,
                    evidence=item.evidence,
                    recorded_at=recorded_at,
                )
                session.add(row)
                written.append((row, alarm, item))
            session.flush()  # ids for the audit trail, in one round for the whole batch
            for _row, alarm, item in written:
                self._store.audit(
                    session,
                    actor,
                    f"alarm.{item.event.value}",
                    "alarm",
                    alarm.id,
                    item.trial_id,
                    {"rule": item.rule_id, "priority": item.priority.value},
                )
            return [row.id for row, _, _ in written]

    def acknowledge(
        self, actor: Actor, alarm_id: int, note: str, remind_after_s: float | None = None
    ) -> AlarmEventView:
        """A nurse acknowledges: what was done and who was told is required.

        ``remind_after_s``: how often the screen softly reminds her while the condition is
        still present; None leaves the default for the alarm's priority (rule set). Every
        problem is reported at once, and nothing is written.
        """
        require(actor, "alarm.acknowledge")
        note, remind_after_s = self._checked(note, remind_after_s)
        with self._store.writing() as session:
            alarm = session.get(Alarm, alarm_id)
            if alarm is None:
                raise NotFound(f"There is no alarm with id {alarm_id}.")
            row = self._acknowledgement(session, actor, alarm, note, remind_after_s)
            if row is None:
                raise Refused("This alarm has already resolved; nothing to acknowledge.")
            return _event_view(row, alarm)

    def acknowledge_bed(
        self, actor: Actor, trial_id: int, note: str, remind_after_s: float | None = None
    ) -> list[AlarmEventView]:
        """Acknowledge every active alarm of one trial that waits for it, with one note: the
        nurse at the bedside has seen the patient, not one alarm. One transaction; refused
        when none waits. Each alarm gets its own event and audit entry."""
        require(actor, "alarm.acknowledge")
        note, remind_after_s = self._checked(note, remind_after_s)
        with self._store.writing() as session:
            if session.get(Trial, trial_id) is None:
                raise NotFound(f"There is no trial with id {trial_id}.")
            waiting = [v.id for v in active_views(session, trial_id) if not v.acknowledged]
            written: list[AlarmEventView] = []
            for alarm_id in waiting:
                alarm = session.get(Alarm, alarm_id)
                assert alarm is not None  # just read in this transaction
                row = self._acknowledgement(session, actor, alarm, note, remind_after_s)
                if row is not None:
                    written.append(_event_view(row, alarm))
            if not written:
                raise Refused("No alarm of this bed waits for acknowledgement.")
            return written

    @staticmethod
    def _checked(note: str, remind_after_s: float | None) -> tuple[str, float | None]:
        """The note and reminder as the record keeps them; every problem reported at once."""
        problems: list[FieldProblem] = []
        try:
            note = check_note(note)
        except InvalidEntry as bad:
            problems += bad.problems
        try:
            remind_after_s = check_reminder(remind_after_s)
        except InvalidEntry as bad:
            problems += bad.problems
        if problems:
            raise InvalidEntry(problems)
        return note, remind_after_s

    def _acknowledgement(
        self,
        session: Session,
        actor: Actor,
        alarm: Alarm,
        note: str,
        remind_after_s: float | None,
    ) -> AlarmEvent | None:
        """Write one acknowledgement of ``alarm`` (None if it has already resolved)."""
        # The alarm as it stands: its latest event other than an acknowledgement (an
        # earlier acknowledgement's reminder choice is not carried into this one).
        stands = session.scalar(
            select(AlarmEvent)
            .where(
                AlarmEvent.alarm_id == alarm.id,
                AlarmEvent.event != AlarmEventType.ACKNOWLEDGED.value,
            )
            .order_by(AlarmEvent.id.desc())
        )
        if stands is None or stands.event == AlarmEventType.RESOLVED.value:
            return None
        evidence = dict(stands.evidence or {})
        if remind_after_s is not None:
            evidence[REMIND_AFTER_KEY] = remind_after_s
        row = AlarmEvent(
            alarm_id=alarm.id,
            trial_id=alarm.trial_id,
            event=AlarmEventType.ACKNOWLEDGED.value,
            at=self._store.now(),
            priority=stands.priority,
            message=stands.message,
            evidence=evidence,
            by_user=actor.user_id,
            note=note,
            recorded_at=self._store.now(),
        )
        session.add(row)
        session.flush()
        self._store.audit(
            session,
            actor,
            "alarm.acknowledge",
            "alarm",
            alarm.id,
            alarm.trial_id,
            {"rule": alarm.rule_id, "note": note, REMIND_AFTER_KEY: remind_after_s},
        )
        return row

    def resolve_finished(self, actor: Actor) -> int:
        """Resolve the alarms left active on trials no longer watched (records written before
        the record resolved them at the window's close, or by a monitor stopped mid-day).
        The monitor calls this as it starts; audited; returns how many were resolved."""
        require(actor, "alarm.record")
        with self._store.writing() as session:
            finished = session.execute(
                select(Trial.id, Trial.status)
                .where(Trial.id.in_(select(Alarm.trial_id).distinct()))
                .where(Trial.status.not_in(WATCHED_STATUSES))
            ).all()
            return sum(
                resolve_leftovers(
                    session,
                    self._store,
                    actor,
                    trial_id,
                    f"the trial is {status}: its monitoring window had closed",
                )
                for trial_id, status in finished
            )

    def active(self, trial_id: int | None = None) -> list[AlarmView]:
        """Alarms not yet resolved, highest priority first, then oldest first."""
        with self._store.reading() as session:
            return active_views(session, trial_id)

    def conditions_present(self, trial_id: int) -> list[AlarmView]:
        """Physiological alarms of the trial not yet resolved (what keeps its window open)."""
        with self._store.reading() as session:
            return conditions_present(session, trial_id)

    def rule_of(self, alarm_id: int) -> str:
        with self._store.reading() as session:
            alarm = session.get(Alarm, alarm_id)
            if alarm is None:
                raise NotFound(f"There is no alarm with id {alarm_id}.")
            return alarm.rule_id

    def events(self, trial_id: int) -> list[AlarmEventView]:
        with self._store.reading() as session:
            rows = session.execute(
                select(AlarmEvent, Alarm)
                .join(Alarm, Alarm.id == AlarmEvent.alarm_id)
                .where(AlarmEvent.trial_id == trial_id)
                .order_by(AlarmEvent.at, AlarmEvent.id)
            )
            return [_event_view(event, alarm) for event, alarm in rows]

    @staticmethod
    def _view(alarm: Alarm, events: Sequence[AlarmEvent]) -> AlarmView:
        last = events[-1]
        # Acknowledged only if no annunciation (raise, re-annunciation, escalation) came after
        # the last acknowledgement. An eased level ("changed") is shown silently and keeps it.
        holding: AlarmEvent | None = None
        for event in events:
            if event.event == AlarmEventType.ACKNOWLEDGED.value:
                holding = event
            elif event.event in ANNUNCIATIONS:
                holding = None
        # What the alarm says now: its latest event other than an acknowledgement.
        stating = [e for e in events if e.event != AlarmEventType.ACKNOWLEDGED.value]
        latest = stating[-1] if stating else last
        remind = (holding.evidence or {}).get(REMIND_AFTER_KEY) if holding is not None else None
        return AlarmView(
            id=alarm.id,
            trial_id=alarm.trial_id,
            rule_id=alarm.rule_id,
            kind=alarm.kind,
            raised_at=alarm.raised_at,
            priority=latest.priority,
            message=latest.message,
            evidence=latest.evidence,
            acknowledged=holding is not None,
            last_event=last.event,
            last_event_at=last.at,
            acknowledged_at=holding.at if holding is not None else None,
            remind_after_s=remind,
        )
