"""Trials: planning, the injection, the monitoring window, stages and device assignments."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from observations.alarms import (
    WATCHED_STATUSES,
    active_views,
    conditions_present,
    resolve_leftovers,
)
from observations.entries import check_dose, check_injection, not_in_future
from observations.errors import FieldProblem, InvalidEntry, NotFound, NotPermitted, Refused
from observations.free_text import clean_text, collect_text, max_chars
from observations.limits import default_window_minutes, load_limits
from observations.schema import DeviceAssignment, Injection, Patient, Trial, WindowExtension
from observations.store import Actor, Store, may, require
from observations.views import (
    DeviceAssignmentView,
    InjectionResult,
    InjectionView,
    PatientView,
    TrialView,
)
from observations.ward_time import format_ward, ward_noon
from vocabulary import TrialStatus

# Stages move forward only; any stage before a decision may be cancelled.
NEXT_STATUS: dict[TrialStatus, frozenset[TrialStatus]] = {
    TrialStatus.PLANNED: frozenset({TrialStatus.BASELINE, TrialStatus.CANCELLED}),
    TrialStatus.BASELINE: frozenset({TrialStatus.MONITORING, TrialStatus.CANCELLED}),
    TrialStatus.MONITORING: frozenset({TrialStatus.ASSESSED, TrialStatus.CANCELLED}),
    TrialStatus.ASSESSED: frozenset({TrialStatus.DECIDED, TrialStatus.CANCELLED}),
    TrialStatus.DECIDED: frozenset(),
    TrialStatus.CANCELLED: frozenset(),
}
# Stages in which clinical entries (observations, scores) may still be added.
OPEN_STATUSES = frozenset(
    {TrialStatus.PLANNED, TrialStatus.BASELINE, TrialStatus.MONITORING, TrialStatus.ASSESSED}
)


def move_trial(
    session: Session,
    store: Store,
    actor: Actor,
    trial: Trial,
    status: TrialStatus,
    reason: str | None = None,
) -> None:
    """The one way a trial changes stage: checked against `NEXT_STATUS`, audited.

    ``reason``: why a doctor closes the monitoring window while a condition is still present
    (checked by `check_close_reason`); written to the audit entry.
    """
    current = TrialStatus(trial.status)
    if status not in NEXT_STATUS[current]:
        raise Refused(f"A trial cannot go from {current.value} to {status.value}.")
    details: dict[str, Any] = {"from": current.value, "to": status.value}
    if current == TrialStatus.MONITORING and status == TrialStatus.ASSESSED:
        details.update(_window_may_close(session, actor, trial, reason))
    if reason:  # a reason given is kept, whether or not the move needed one
        details["reason"] = reason
    trial.status = status.value
    store.audit(session, actor, "trial.status", "trial", trial.id, trial.id, details)
    if current.value in WATCHED_STATUSES and status.value not in WATCHED_STATUSES:
        resolve_leftovers(
            session,
            store,
            actor,
            trial.id,
            f"the trial moved from {current.value} to {status.value}: its watch is over",
        )


def _window_may_close(
    session: Session, actor: Actor, trial: Trial, reason: str | None
) -> dict[str, Any]:
    """Refuse to close the window while an alarm waits for acknowledgement, or while a
    physiological condition is still present unless a doctor says why. Returns what the audit
    entry keeps of an override."""
    waiting = [a.headline for a in active_views(session, trial.id) if not a.acknowledged]
    if waiting:
        raise Refused(
            "The monitoring window cannot close while alarms are not acknowledged ("
            f"{'; '.join(waiting)}). Acknowledge them first."
        )
    present = conditions_present(session, trial.id)
    if not present:
        return {}
    listed = "; ".join(a.headline for a in present)
    if not may(actor, "trial.close_with_conditions"):
        raise NotPermitted(
            f"The monitoring window cannot close while these are still present: {listed}. "
            f"{actor.username} may not close it sooner: a doctor may, recording why. "
            "Otherwise it can be closed once they end."
        )
    if not reason:
        raise InvalidEntry.single(
            "reason",
            f"Still present: {listed}. Record why the window closes while they are, or wait "
            "until they end.",
        )
    return {"conditions_present": [{"rule": a.rule_id, "condition": a.headline} for a in present]}


def check_close_reason(reason: str | None) -> str | None:
    """A doctor's reason for closing the window while a condition is still present: trimmed,
    no longer than any other note; None when none was given."""
    return clean_text("reason", reason, "note", required=False)


def _shortened(text: str, limit: int) -> str:
    """A name shown in place of a label not given: the text, cut to ``limit`` with "…"."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def current_injection(session: Session, trial_id: int) -> Injection | None:
    """The injection as it stands: the newest row not superseded by a correction."""
    superseded = select(Injection.supersedes_id).where(Injection.supersedes_id.is_not(None))
    return session.scalar(
        select(Injection)
        .where(Injection.trial_id == trial_id, Injection.id.not_in(superseded))
        .order_by(Injection.id.desc())
    )


def load_trial(session: Session, trial_id: int, lock: bool = False) -> Trial:
    trial = session.get(Trial, trial_id, with_for_update=lock)
    if trial is None:
        raise NotFound(f"There is no trial with id {trial_id}.")
    return trial


def require_open(trial: Trial, doing: str) -> None:
    if TrialStatus(trial.status) not in OPEN_STATUSES:
        raise Refused(f"This trial is {trial.status}: you cannot {doing} any more.")


def check_plan(planned_dose_mcg: int, spo2_scale: int, spo2_scale_reason: str | None) -> str | None:
    """Check a planned trial before any transaction; returns the SpO2 scale reason, trimmed."""
    check_dose(planned_dose_mcg, "planned_dose_mcg")
    if spo2_scale not in (1, 2):
        raise InvalidEntry.single("spo2_scale", "The NEWS2 SpO2 scale is 1 or 2.")
    reason = (spo2_scale_reason or "").strip() or None
    if spo2_scale == 2 and reason is None:
        raise InvalidEntry.single(
            "spo2_scale_reason",
            "SpO2 scale 2 is only for confirmed hypercapnic respiratory failure with a "
            "prescribed target of 88-92 %: record the clinician's reason.",
        )
    return reason


def add_trial(
    session: Session,
    store: Store,
    actor: Actor,
    patient_id: int,
    planned_dose_mcg: int,
    *,
    spo2_scale: int = 1,
    spo2_scale_reason: str | None = None,
    bed: str | None = None,
    new_episode: bool = False,
    follows_trial_id: int | None = None,
) -> Trial:
    """Plan a trial inside the caller's transaction, with its audit entry.

    The values must have passed `check_plan`; a decision plans its follow-up trial through this
    so that both are written together or not at all.
    """
    patient = session.get(Patient, patient_id, with_for_update=True)
    if patient is None:
        raise NotFound(f"There is no patient with id {patient_id}.")
    last = session.scalar(
        select(Trial)
        .where(Trial.patient_id == patient_id)
        .order_by(Trial.episode.desc(), Trial.trial_number.desc())
    )
    if last is None:
        episode, number = 1, 1
    elif new_episode:
        episode, number = last.episode + 1, 1
    else:
        episode, number = last.episode, last.trial_number + 1
    if follows_trial_id is not None:
        earlier = load_trial(session, follows_trial_id)
        if earlier.patient_id != patient_id:
            raise Refused("The earlier trial belongs to another patient.")
    trial = Trial(
        patient_id=patient_id,
        episode=episode,
        trial_number=number,
        planned_dose_mcg=planned_dose_mcg,
        spo2_scale=spo2_scale,
        spo2_scale_decided_by=actor.user_id if spo2_scale == 2 else None,
        spo2_scale_reason=spo2_scale_reason,
        status=TrialStatus.PLANNED.value,
        window_minutes=default_window_minutes(),
        bed=(bed or "").strip() or None,
        follows_trial_id=follows_trial_id,
        created_at=store.now(),
        created_by=actor.user_id,
    )
    session.add(trial)
    session.flush()
    store.audit(
        session,
        actor,
        "trial.plan",
        "trial",
        trial.id,
        trial.id,
        {
            "planned_dose_mcg": planned_dose_mcg,
            "spo2_scale": spo2_scale,
            "spo2_scale_reason": spo2_scale_reason,
            "episode": episode,
            "trial_number": number,
            "follows_trial_id": follows_trial_id,
        },
    )
    return trial


def trial_view(session: Session, trial: Trial) -> TrialView:
    patient = session.get(Patient, trial.patient_id)
    injection = current_injection(session, trial.id)
    extension = session.scalar(
        select(func.coalesce(func.sum(WindowExtension.minutes), 0)).where(
            WindowExtension.trial_id == trial.id
        )
    )
    return TrialView(
        id=trial.id,
        patient=PatientView.model_validate(patient),
        episode=trial.episode,
        trial_number=trial.trial_number,
        planned_dose_mcg=trial.planned_dose_mcg,
        spo2_scale=trial.spo2_scale,
        spo2_scale_reason=trial.spo2_scale_reason,
        status=trial.status,
        bed=trial.bed,
        window_minutes=trial.window_minutes,
        extension_minutes=int(extension or 0),
        injection=InjectionView.model_validate(injection) if injection else None,
        follows_trial_id=trial.follows_trial_id,
        created_at=trial.created_at,
    )


# Why a device's source text cannot be used (words for the person who typed it), or None if
# it can. The record knows nothing of devices: whoever opens it with the devices at hand (the
# dashboard, the monitor) gives it the devices' own check. Without one, the record takes any
# "kind:address" text, and a source the devices cannot use is shown unusable by the monitor.
DeviceSourceCheck = Callable[[str], str | None]


class Trials:
    def __init__(self, store: Store, device_sources: DeviceSourceCheck | None = None) -> None:
        self._store = store
        self._limits = load_limits().trial_day
        self._device_sources = device_sources

    # ------------------------------------------------------------------ reading

    def get(self, trial_id: int) -> TrialView:
        with self._store.reading() as session:
            return self._view(session, load_trial(session, trial_id))

    def list(
        self, statuses: set[TrialStatus] | None = None, patient_id: int | None = None
    ) -> list[TrialView]:
        with self._store.reading() as session:
            query = select(Trial).order_by(Trial.created_at.desc(), Trial.id.desc())
            if statuses:
                query = query.where(Trial.status.in_([s.value for s in statuses]))
            if patient_id is not None:
                query = query.where(Trial.patient_id == patient_id)
            return [self._view(session, t) for t in session.scalars(query)]

    def ids_with_status(self, statuses: set[TrialStatus]) -> set[int]:
        """Just the ids (one light query): the monitor asks every few seconds for many trials."""
        with self._store.reading() as session:
            return set(
                session.scalars(
                    select(Trial.id).where(Trial.status.in_([s.value for s in statuses]))
                )
            )

    def _view(self, session: Session, trial: Trial) -> TrialView:
        return trial_view(session, trial)

    # ------------------------------------------------------------------ planning

    def plan(
        self,
        actor: Actor,
        patient_id: int,
        planned_dose_mcg: int,
        spo2_scale: int = 1,
        spo2_scale_reason: str | None = None,
        bed: str | None = None,
        new_episode: bool = False,
        follows_trial_id: int | None = None,
    ) -> TrialView:
        require(actor, "trial.plan")
        problems: list[FieldProblem] = []
        bed = collect_text(problems, "bed", bed, "bed", required=False)
        spo2_scale_reason = collect_text(
            problems, "spo2_scale_reason", spo2_scale_reason, "note", required=False
        )
        if problems:
            raise InvalidEntry(problems)
        reason = check_plan(planned_dose_mcg, spo2_scale, spo2_scale_reason)
        with self._store.writing() as session:
            trial = add_trial(
                session,
                self._store,
                actor,
                patient_id,
                planned_dose_mcg,
                spo2_scale=spo2_scale,
                spo2_scale_reason=reason,
                bed=bed,
                new_episode=new_episode,
                follows_trial_id=follows_trial_id,
            )
            return self._view(session, trial)

    def set_status(
        self, actor: Actor, trial_id: int, status: TrialStatus, reason: str | None = None
    ) -> TrialView:
        """Move the trial to its next stage. Closing the monitoring window (to assessed) is
        refused while an alarm is unacknowledged or a physiological condition is still
        present; a doctor may close it despite the latter by giving ``reason`` (audited)."""
        require(actor, "trial.status")
        reason = check_close_reason(reason)
        with self._store.writing() as session:
            trial = load_trial(session, trial_id, lock=True)
            move_trial(session, self._store, actor, trial, status, reason)
            return self._view(session, trial)

    def extend_window(self, actor: Actor, trial_id: int, minutes: int, reason: str) -> TrialView:
        require(actor, "trial.extend_window")
        if not 1 <= minutes <= 720:
            raise InvalidEntry.single("minutes", "Extend the window by 1 to 720 minutes.")
        reason = clean_text(
            "reason", reason, "note", required=True, missing="Say why the window is extended."
        )
        with self._store.writing() as session:
            trial = load_trial(session, trial_id, lock=True)
            if trial.status != TrialStatus.MONITORING.value:
                raise Refused("Only a trial in monitoring has a window to extend.")
            extension = WindowExtension(
                trial_id=trial_id,
                minutes=minutes,
                reason=reason,
                extended_at=self._store.now(),
                extended_by=actor.user_id,
            )
            session.add(extension)
            session.flush()
            self._store.audit(
                session,
                actor,
                "trial.extend_window",
                "window_extension",
                extension.id,
                trial_id,
                {"minutes": minutes, "reason": reason},
            )
            return self._view(session, trial)

    # ------------------------------------------------------------------ injection

    def record_injection(
        self, actor: Actor, trial_id: int, details: dict[str, Any]
    ) -> InjectionResult:
        """Record the bolus; the trial moves to monitoring. Returns warnings to show."""
        require(actor, "injection.record")
        entry = check_injection(details)
        now = self._store.now()
        not_in_future("given_at", entry.given_at, now)
        with self._store.writing() as session:
            trial = load_trial(session, trial_id, lock=True)
            if trial.status not in (TrialStatus.PLANNED.value, TrialStatus.BASELINE.value):
                if current_injection(session, trial_id) is not None:
                    raise Refused(
                        "This trial already has its injection. A trial is one injection: to "
                        "give another dose, record the decision and plan a new trial."
                    )
                raise Refused(f"This trial is {trial.status}: an injection cannot be recorded.")
            # Lock the patient row: two trials of one patient cannot race the 24 h check.
            session.get(Patient, trial.patient_id, with_for_update=True)
            self._refuse_too_soon(session, trial, entry.given_at)
            injection = Injection(
                trial_id=trial_id,
                dose_mcg=entry.dose_mcg,
                given_at=entry.given_at,
                route=entry.route.value,
                given_by=entry.given_by,
                recorded_at=now,
                recorded_by=actor.user_id,
            )
            session.add(injection)
            session.flush()
            if trial.status == TrialStatus.PLANNED.value:
                move_trial(session, self._store, actor, trial, TrialStatus.BASELINE)
            move_trial(session, self._store, actor, trial, TrialStatus.MONITORING)
            warnings = self._warnings(trial, entry.dose_mcg, entry.given_at)
            self._store.audit(
                session,
                actor,
                "injection.record",
                "injection",
                injection.id,
                trial_id,
                {
                    "dose_mcg": entry.dose_mcg,
                    "given_at": entry.given_at.isoformat(),
                    "route": entry.route.value,
                    "given_by": entry.given_by,
                    "warnings": warnings,
                },
            )
            return InjectionResult(
                injection=InjectionView.model_validate(injection), warnings=warnings
            )

    def correct_injection(
        self, actor: Actor, injection_id: int, details: dict[str, Any], reason: str
    ) -> InjectionResult:
        """A corrected time, dose or route: a new row superseding the old one."""
        require(actor, "injection.record")
        reason = clean_text(
            "reason",
            reason,
            "note",
            required=True,
            missing="Say why the injection record is corrected.",
        )
        entry = check_injection(details)
        now = self._store.now()
        not_in_future("given_at", entry.given_at, now)
        with self._store.writing() as session:
            old = session.get(Injection, injection_id)
            if old is None:
                raise NotFound(f"There is no injection with id {injection_id}.")
            current = current_injection(session, old.trial_id)
            if current is None or current.id != old.id:
                raise Refused("That injection record has already been corrected.")
            trial = load_trial(session, old.trial_id, lock=True)
            session.get(Patient, trial.patient_id, with_for_update=True)
            self._refuse_too_soon(session, trial, entry.given_at)
            new = Injection(
                trial_id=old.trial_id,
                dose_mcg=entry.dose_mcg,
                given_at=entry.given_at,
                route=entry.route.value,
                given_by=entry.given_by,
                recorded_at=now,
                recorded_by=actor.user_id,
                supersedes_id=old.id,
                correction_reason=reason,
            )
            session.add(new)
            session.flush()
            self._store.audit(
                session,
                actor,
                "injection.correct",
                "injection",
                new.id,
                old.trial_id,
                {
                    "supersedes": old.id,
                    "reason": reason,
                    "before": {"dose_mcg": old.dose_mcg, "given_at": old.given_at.isoformat()},
                    "after": {"dose_mcg": new.dose_mcg, "given_at": new.given_at.isoformat()},
                },
            )
            return InjectionResult(
                injection=InjectionView.model_validate(new),
                warnings=self._warnings(trial, entry.dose_mcg, entry.given_at),
            )

    def _refuse_too_soon(self, session: Session, trial: Trial, given_at: datetime) -> None:
        gap = timedelta(hours=self._limits.min_hours_between_injections)
        others = session.scalars(
            select(Trial.id).where(Trial.patient_id == trial.patient_id, Trial.id != trial.id)
        ).all()
        for other_id in others:
            other = current_injection(session, other_id)
            if other is not None and abs(other.given_at - given_at) < gap:
                zone = self._store.zone
                earliest = format_ward(other.given_at + gap, zone)
                raise Refused(
                    f"This patient had {other.dose_mcg} mcg at {format_ward(other.given_at, zone)}"
                    f". A new trial injection must be at least "
                    f"{self._limits.min_hours_between_injections:g} hours later: not before "
                    f"{earliest}."
                )

    def _warnings(self, trial: Trial, dose: int, given_at: datetime) -> list[str]:
        warnings = []
        zone = self._store.zone
        hour, minute = (int(x) for x in self._limits.injection_deadline.split(":"))
        deadline = ward_noon(given_at, zone).replace(hour=hour, minute=minute)
        if given_at > deadline:
            warnings.append(
                f"Given at {format_ward(given_at, zone, with_date=False)}, after "
                f"{self._limits.injection_deadline}: the 4-hour peak will fall late in the day. "
                "Make sure staff are available for the whole window."
            )
        if dose != trial.planned_dose_mcg:
            warnings.append(
                f"The dose given ({dose} mcg) differs from the planned dose "
                f"({trial.planned_dose_mcg} mcg)."
            )
        return warnings

    # ------------------------------------------------------------------ devices

    def assign_device(
        self,
        actor: Actor,
        trial_id: int,
        source: str,
        label: str,
        protocol: str | None = None,
        assigned_from: datetime | None = None,
    ) -> DeviceAssignmentView:
        require(actor, "device.assign")
        choose = "Choose a device (Bluetooth, serial port or simulator)."
        problems: list[FieldProblem] = []
        source = collect_text(problems, "source", source, "device", required=True, missing=choose)
        label = collect_text(problems, "label", label, "label", required=False)
        protocol = collect_text(problems, "protocol", protocol, "code", required=False)
        if problems:
            raise InvalidEntry(problems)
        assert source is not None  # required
        if ":" not in source:
            raise InvalidEntry.single("source", choose)
        problem = self._device_sources(source) if self._device_sources else None
        if problem:
            raise InvalidEntry.single("source", f"This device cannot be used: {problem}.")
        with self._store.writing() as session:
            trial = load_trial(session, trial_id, lock=True)
            require_open(trial, "assign a device")
            taken = [a for a in self._active(session) if a.source == source]
            if taken:
                raise Refused(
                    f"{label or source} is already streaming for trial {taken[0].trial_id}: "
                    "end that assignment first."
                )
            row = DeviceAssignment(
                trial_id=trial_id,
                source=source,
                protocol=protocol,
                label=label or _shortened(source, max_chars("label")),
                assigned_from=assigned_from or self._store.now(),
                assigned_by=actor.user_id,
                assigned_until=None,
            )
            session.add(row)
            session.flush()
            self._store.audit(
                session,
                actor,
                "device.assign",
                "device_assignment",
                row.id,
                trial_id,
                {"source": source, "protocol": protocol},
            )
            return DeviceAssignmentView.model_validate(row)

    def end_assignment(self, actor: Actor, assignment_id: int) -> DeviceAssignmentView:
        require(actor, "device.assign")
        with self._store.writing() as session:
            old = session.get(DeviceAssignment, assignment_id)
            if old is None or old.id not in {a.id for a in self._active(session)}:
                raise Refused("That device assignment has already ended.")
            new = DeviceAssignment(
                trial_id=old.trial_id,
                source=old.source,
                protocol=old.protocol,
                label=old.label,
                assigned_from=old.assigned_from,
                assigned_by=actor.user_id,
                assigned_until=self._store.now(),
                supersedes_id=old.id,
            )
            session.add(new)
            session.flush()
            self._store.audit(
                session,
                actor,
                "device.unassign",
                "device_assignment",
                new.id,
                old.trial_id,
                {"source": old.source},
            )
            return DeviceAssignmentView.model_validate(new)

    def active_assignments(self, trial_id: int | None = None) -> list[DeviceAssignmentView]:
        with self._store.reading() as session:
            rows = self._active(session)
            return [
                DeviceAssignmentView.model_validate(r)
                for r in rows
                if trial_id is None or r.trial_id == trial_id
            ]

    @staticmethod
    def _active(session: Session) -> list[DeviceAssignment]:
        superseded = select(DeviceAssignment.supersedes_id).where(
            DeviceAssignment.supersedes_id.is_not(None)
        )
        return list(
            session.scalars(
                select(DeviceAssignment).where(
                    DeviceAssignment.assigned_until.is_(None),
                    DeviceAssignment.id.not_in(superseded),
                )
            )
        )
