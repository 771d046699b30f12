"""The monitor's judgement kept in the record: the NEWS2 of each observation set, the trial's
observation due times and the patient's pre-injection baseline.

The monitor's rules engine is the one judge. It scores a set as it counts it (at the time it
was measured, with the oximeter's SpO2 or pulse of that instant where the nurse left them out),
and works out the due times and the baseline; the monitor writes what it judged here, and pages
and exports show these rows. Nothing else scores a recorded set, so the NEWS2 on a screen or in
an export is the one the alarms were decided on. A set the monitor has not judged yet has no
row: it is shown as "not yet scored by the monitor", never with a number worked out elsewhere.

Rows are never changed: a new judgement (a same-instant device reading, a newer rule set, a due
time that passed) is a new row, and the newest one counts.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select

from observations.errors import InvalidEntry, NotFound, NotPermitted
from observations.free_text import clean_text, shown
from observations.schema import ObservationSet, ScheduleJudgement, SetScore, Trial
from observations.store import Actor, Store
from rules.news2 import News2Band, News2Result
from rules.schedule import DueStatus, DueTime

NOT_YET_SCORED = "not yet scored by the monitor"
VALUE_SOURCES = frozenset({"set", "device"})
_BANDS = frozenset(band.value for band in News2Band)


@dataclass(frozen=True)
class SetScoreIn:
    """The monitor's NEWS2 of one recorded observation set."""

    trial_id: int
    observation_set_id: int
    measured_at: datetime
    total: int | None
    band: str
    scores: dict[str, int | None]
    missing: tuple[str, ...]
    spo2_scale: int
    spo2: float | None
    spo2_from: str | None
    pulse: float | None
    pulse_from: str | None
    rule_set_version: str
    judged_at: datetime

    def key(self) -> tuple[Any, ...]:
        """What was judged, without when: the same judgement again is not written twice."""
        return _score_key(self)


@dataclass(frozen=True)
class SetScoreView(SetScoreIn):
    """A stored judgement of one set (the newest one of that set, where several exist)."""

    id: int
    recorded_at: datetime

    @property
    def complete(self) -> bool:
        return self.total is not None

    @property
    def news2(self) -> News2Result:
        return News2Result(
            dict(self.scores), self.total, News2Band(self.band), self.missing, self.spo2_scale
        )


def _score_key(score: SetScoreIn | SetScoreView) -> tuple[Any, ...]:
    return (
        score.trial_id,
        score.observation_set_id,
        score.measured_at,
        score.total,
        score.band,
        tuple(sorted(score.scores.items())),
        tuple(score.missing),
        score.spo2_scale,
        score.spo2,
        score.spo2_from,
        score.pulse,
        score.pulse_from,
        score.rule_set_version,
    )


@dataclass(frozen=True)
class ScheduleJudgementIn:
    """The trial's due times (statuses as of ``judged_at``) and baseline, as the monitor
    has them."""

    trial_id: int
    judged_at: datetime
    rule_set_version: str
    injection_at: datetime | None
    next_due: datetime | None
    due_times: tuple[DueTime, ...]
    baseline: dict[str, float] = field(default_factory=dict)  # parameter name -> value

    @property
    def empty(self) -> bool:
        """Nothing judged yet (before the injection there are no due times and no baseline)."""
        return not self.due_times and not self.baseline and self.next_due is None

    def key(self) -> tuple[Any, ...]:
        return _schedule_key(self)


@dataclass(frozen=True)
class ScheduleJudgementView:
    id: int
    trial_id: int
    judged_at: datetime
    recorded_at: datetime
    rule_set_version: str
    injection_at: datetime | None
    next_due: datetime | None
    due_times: tuple[DueTime, ...]
    baseline: dict[str, float]

    def key(self) -> tuple[Any, ...]:
        return _schedule_key(self)

    def due_times_at(self, now: datetime) -> list[DueTime]:
        """The due times with their status at ``now``: one still due when judged whose time has
        passed since is missed (the schedule's own rule: passed unmet), and says so even while
        the monitor is away."""
        return [
            DueTime(d.time, DueStatus.MISSED, None, d.source)
            if d.status == DueStatus.DUE and d.time < now
            else d
            for d in self.due_times
        ]

    def missed_due_times(self, now: datetime) -> list[datetime]:
        return [d.time for d in self.due_times_at(now) if d.status == DueStatus.MISSED]


def _schedule_key(judgement: ScheduleJudgementIn | ScheduleJudgementView) -> tuple[Any, ...]:
    return (
        judgement.trial_id,
        judgement.rule_set_version,
        judgement.injection_at,
        judgement.next_due,
        tuple((d.time, DueStatus(d.status), d.met_at, d.source) for d in judgement.due_times),
        tuple(sorted(judgement.baseline.items())),
    )


class KnownJudgement:
    """What the record holds of one trial's judgement, so that the same judgement is written
    once: a rebuilt engine, or one asked again a second later, judges mostly alike."""

    def __init__(
        self,
        scores: Iterable[SetScoreView] = (),
        schedule: ScheduleJudgementView | None = None,
    ) -> None:
        self._scores = {score.observation_set_id: score.key() for score in scores}
        self._schedule = None if schedule is None else schedule.key()

    def unwritten(
        self, scores: Iterable[SetScoreIn], schedule: ScheduleJudgementIn | None
    ) -> tuple[list[SetScoreIn], ScheduleJudgementIn | None]:
        """Of these judgements, those the record does not hold yet; from now on they count as
        held (the caller writes them, and keeps them until they are written)."""
        new = [s for s in scores if self._scores.get(s.observation_set_id) != s.key()]
        for score in new:
            self._scores[score.observation_set_id] = score.key()
        if schedule is None:
            return new, None
        key = schedule.key()
        if key == self._schedule or (self._schedule is None and schedule.empty):
            return new, None  # unchanged, or nothing to say yet (before the injection)
        self._schedule = key
        return new, schedule


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def _time(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


def _due_json(due: DueTime) -> dict[str, Any]:
    return {
        "time": _iso(due.time),
        "status": DueStatus(due.status).value,
        "met_at": _iso(due.met_at),
        "source": due.source,
    }


def _due_from_json(item: dict[str, Any]) -> DueTime:
    time = _time(item["time"])
    assert time is not None
    return DueTime(time, DueStatus(item["status"]), _time(item.get("met_at")), item["source"])


def _score_view(row: SetScore) -> SetScoreView:
    return SetScoreView(
        id=row.id,
        trial_id=row.trial_id,
        observation_set_id=row.observation_set_id,
        measured_at=row.measured_at,
        total=row.total,
        band=row.band,
        scores=dict(row.scores),
        missing=tuple(row.missing),
        spo2_scale=row.spo2_scale,
        spo2=row.spo2,
        spo2_from=row.spo2_from,
        pulse=row.pulse,
        pulse_from=row.pulse_from,
        rule_set_version=row.rule_set_version,
        judged_at=row.judged_at,
        recorded_at=row.recorded_at,
    )


def _schedule_view(row: ScheduleJudgement) -> ScheduleJudgementView:
    return ScheduleJudgementView(
        id=row.id,
        trial_id=row.trial_id,
        judged_at=row.judged_at,
        recorded_at=row.recorded_at,
        rule_set_version=row.rule_set_version,
        injection_at=row.injection_at,
        next_due=row.next_due,
        due_times=tuple(_due_from_json(item) for item in row.due_times),
        baseline={str(k): float(v) for k, v in row.baseline.items()},
    )


def _check(scores: Sequence[SetScoreIn], schedules: Sequence[ScheduleJudgementIn]) -> None:
    """A judgement the record could not show honestly, or could not keep (a rule set version
    too long for its column, a control character), is refused whole (nothing written)."""
    for judgement in (*scores, *schedules):
        clean_text(
            "rule_set_version",
            judgement.rule_set_version,
            "code",
            required=True,
            label="The rule set version",
            as_given=True,
        )
    for score in scores:
        if score.band not in _BANDS:
            raise InvalidEntry.single(
                "band", f"{shown(score.band, 'That band')} is not a NEWS2 band."
            )
        if (score.total is None) != (score.band == News2Band.INCOMPLETE.value):
            raise InvalidEntry.single(
                "total", "A complete set has a NEWS2 total and a partial set has none."
            )
        for name, source in (("spo2_from", score.spo2_from), ("pulse_from", score.pulse_from)):
            if source is not None and source not in VALUE_SOURCES:
                raise InvalidEntry.single(
                    name, f"{shown(source, 'That source')} is not 'set' or 'device'."
                )


class SetScores:
    """``record.set_scores``: written by the monitor service, read by pages and exports."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def record(
        self,
        actor: Actor,
        scores: Sequence[SetScoreIn] = (),
        schedules: Sequence[ScheduleJudgementIn] = (),
    ) -> int:
        """Write the monitor's new judgements of any number of trials in one transaction, with
        one audit entry per trial; returns how many rows were written."""
        if not actor.is_service:
            # The monitor's rules engine is the only judge; a person's NEWS2 is on the form.
            raise NotPermitted(
                f"{actor.username} may not record the monitor's judgement: only the monitor "
                "service scores recorded observation sets."
            )
        if not scores and not schedules:
            return 0
        _check(scores, schedules)
        trial_ids = {s.trial_id for s in scores} | {s.trial_id for s in schedules}
        set_ids = {s.observation_set_id for s in scores}
        now = self._store.now()
        with self._store.writing() as session:
            known = set(session.scalars(select(Trial.id).where(Trial.id.in_(trial_ids))))
            missing = sorted(trial_ids - known)
            if missing:
                raise NotFound(f"There is no trial with id {', '.join(map(str, missing))}.")
            owner: dict[int, int] = {}
            if set_ids:
                owner = {
                    set_id: trial_id
                    for set_id, trial_id in session.execute(
                        select(ObservationSet.id, ObservationSet.trial_id).where(
                            ObservationSet.id.in_(set_ids)
                        )
                    )
                }
            for score in scores:
                if owner.get(score.observation_set_id) != score.trial_id:
                    raise NotFound(
                        f"Trial {score.trial_id} has no observation set with id "
                        f"{score.observation_set_id}."
                    )
            session.add_all(
                SetScore(
                    trial_id=s.trial_id,
                    observation_set_id=s.observation_set_id,
                    measured_at=s.measured_at,
                    total=s.total,
                    band=s.band,
                    scores=dict(s.scores),
                    missing=list(s.missing),
                    spo2_scale=s.spo2_scale,
                    spo2=s.spo2,
                    spo2_from=s.spo2_from,
                    pulse=s.pulse,
                    pulse_from=s.pulse_from,
                    rule_set_version=s.rule_set_version,
                    judged_at=s.judged_at,
                    recorded_at=now,
                )
                for s in scores
            )
            session.add_all(
                ScheduleJudgement(
                    trial_id=j.trial_id,
                    judged_at=j.judged_at,
                    recorded_at=now,
                    rule_set_version=j.rule_set_version,
                    injection_at=j.injection_at,
                    next_due=j.next_due,
                    due_times=[_due_json(d) for d in j.due_times],
                    baseline={str(k): float(v) for k, v in j.baseline.items()},
                )
                for j in schedules
            )
            details: dict[int, dict[str, Any]] = {}
            for score in scores:
                entry = details.setdefault(score.trial_id, {})
                entry.setdefault("observation_sets", []).append(score.observation_set_id)
            for judgement in schedules:
                entry = details.setdefault(judgement.trial_id, {})
                entry["schedule"] = entry.get("schedule", 0) + 1
            self._store.audit_per_trial(session, actor, "judgement.record", "judgement", details)
        return len(scores) + len(schedules)

    def for_trial(self, trial_id: int) -> dict[int, SetScoreView]:
        """The newest judgement of each of the trial's sets, by observation-set id."""
        return self.for_trials([trial_id]).get(trial_id, {})

    def for_trials(self, trial_ids: Iterable[int]) -> dict[int, dict[int, SetScoreView]]:
        ids = list(dict.fromkeys(trial_ids))
        out: dict[int, dict[int, SetScoreView]] = {trial_id: {} for trial_id in ids}
        if not ids:
            return out
        with self._store.reading() as session:
            rows = session.scalars(
                select(SetScore).where(SetScore.trial_id.in_(ids)).order_by(SetScore.id)
            )
            for row in rows:  # oldest first: a newer judgement of a set replaces an older one
                out[row.trial_id][row.observation_set_id] = _score_view(row)
        return out

    def for_set(self, observation_set_id: int) -> SetScoreView | None:
        with self._store.reading() as session:
            row = session.scalar(
                select(SetScore)
                .where(SetScore.observation_set_id == observation_set_id)
                .order_by(SetScore.id.desc())
                .limit(1)
            )
            return None if row is None else _score_view(row)

    def history(self, observation_set_id: int) -> list[SetScoreView]:
        """Every judgement of one set, oldest first (how the score came to be)."""
        with self._store.reading() as session:
            rows = session.scalars(
                select(SetScore)
                .where(SetScore.observation_set_id == observation_set_id)
                .order_by(SetScore.id)
            )
            return [_score_view(row) for row in rows]

    def known(self, trial_id: int) -> KnownJudgement:
        """What the record holds of the trial's judgement (for a writer that skips repeats)."""
        return KnownJudgement(self.for_trial(trial_id).values(), self.schedule(trial_id))

    def schedule(self, trial_id: int) -> ScheduleJudgementView | None:
        """The trial's due times and baseline as the monitor last judged them (None: never)."""
        with self._store.reading() as session:
            row = session.scalar(
                select(ScheduleJudgement)
                .where(ScheduleJudgement.trial_id == trial_id)
                .order_by(ScheduleJudgement.id.desc())
                .limit(1)
            )
            return None if row is None else _schedule_view(row)
