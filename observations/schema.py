"""The record's tables (SQLAlchemy 2). Changes go through Alembic migrations in migrations/.

Clinical rows are never updated or deleted (database triggers refuse it, see the first
migration): a correction is a new row whose ``supersedes_id`` points at the row it replaces.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

# Stable constraint names, so migrations can refer to them on SQLite and PostgreSQL alike.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC in, timezone-aware UTC out, on every backend.

    SQLite has no time zone type and would hand back naive datetimes; a naive time is refused
    on the way in because it cannot be placed on either side of a clock change.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("naive datetime refused: the record stores UTC-aware times only")
        utc = value.astimezone(UTC)
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


# SQLite needs INTEGER PRIMARY KEY for its rowid alias; PostgreSQL gets a 64-bit key.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UtcDateTime, dict[str, Any]: JSON}


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(120))
    # Comma-separated vocabulary.Role values; a person may hold several roles.
    roles: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str | None] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime]


class SignInSession(Base):
    """One sign-in: what a screen (or the monitor process) holds instead of trusted roles.

    Only a hash of the token is kept, so the record itself cannot be used to act as anyone.
    Ended when the person signs out, the account is disabled or its roles change, or it is
    older than accounts.session_max_hours; every write checks it inside its own transaction.
    """

    __tablename__ = "sign_in_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    kind: Mapped[str] = mapped_column(String(10))  # person, service, system
    started_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]
    end_reason: Mapped[str | None] = mapped_column(String(60))


class ExternalIdentity(Base):
    """A hospital single sign-on identity: the issuer and its subject, exactly as given, name
    one account; never a local account (those have no row here)."""

    __tablename__ = "external_identities"
    __table_args__ = (
        UniqueConstraint("issuer", "subject", name="uq_external_identities_issuer_subject"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    issuer: Mapped[str] = mapped_column(String(255))
    subject: Mapped[str] = mapped_column(String(255))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), unique=True)
    created_at: Mapped[datetime]


class SignInThrottle(Base):
    """Failed password checks per username since its last success (sign-in and the password
    asked again before a signature). Counted before the slow password check, in a short
    write transaction of its own, so concurrent guesses cannot all slip under the limit."""

    __tablename__ = "sign_in_throttle"

    username: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer)
    last_failure_at: Mapped[datetime | None]
    updated_at: Mapped[datetime]


class Patient(Base):
    __tablename__ = "patients"

    id: Mapped[int] = mapped_column(primary_key=True)
    nhs_number: Mapped[str] = mapped_column(String(10), unique=True)
    hospital_number: Mapped[str] = mapped_column(String(20), unique=True)
    family_name: Mapped[str] = mapped_column(String(100))
    given_name: Mapped[str] = mapped_column(String(100))
    date_of_birth: Mapped[date] = mapped_column(Date)
    created_at: Mapped[datetime]
    created_by: Mapped[int] = mapped_column(ForeignKey("users.id"))


class Trial(Base):
    __tablename__ = "trials"
    __table_args__ = (UniqueConstraint("patient_id", "episode", "trial_number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    # The admission episode, and the trial's number within it (1st dose, 2nd dose...).
    episode: Mapped[int] = mapped_column(Integer)
    trial_number: Mapped[int] = mapped_column(Integer)
    planned_dose_mcg: Mapped[int] = mapped_column(Integer)
    spo2_scale: Mapped[int] = mapped_column(Integer, default=1)
    # Scale 2 is a clinician's decision: who and why are recorded with it.
    spo2_scale_decided_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    spo2_scale_reason: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20))
    window_minutes: Mapped[int] = mapped_column(Integer)
    bed: Mapped[str | None] = mapped_column(String(20))
    follows_trial_id: Mapped[int | None] = mapped_column(ForeignKey("trials.id"))
    created_at: Mapped[datetime]
    created_by: Mapped[int] = mapped_column(ForeignKey("users.id"))


class WindowExtension(Base):
    __tablename__ = "window_extensions"

    id: Mapped[int] = mapped_column(primary_key=True)
    trial_id: Mapped[int] = mapped_column(ForeignKey("trials.id"), index=True)
    minutes: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(Text)
    extended_at: Mapped[datetime]
    extended_by: Mapped[int] = mapped_column(ForeignKey("users.id"))


class Injection(Base):
    __tablename__ = "injections"

    id: Mapped[int] = mapped_column(primary_key=True)
    trial_id: Mapped[int] = mapped_column(ForeignKey("trials.id"), index=True)
    dose_mcg: Mapped[int] = mapped_column(Integer)
    given_at: Mapped[datetime]
    route: Mapped[str] = mapped_column(String(20))
    given_by: Mapped[str] = mapped_column(String(120))
    recorded_at: Mapped[datetime]
    recorded_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    supersedes_id: Mapped[int | None] = mapped_column(ForeignKey("injections.id"), unique=True)
    correction_reason: Mapped[str | None] = mapped_column(Text)


class DeviceAssignment(Base):
    __tablename__ = "device_assignments"

    id: Mapped[int] = mapped_column(primary_key=True)
    trial_id: Mapped[int] = mapped_column(ForeignKey("trials.id"), index=True)
    # How the monitor reaches it: "ble:AA:BB:..:FF", "serial:/dev/ttyUSB0", "sim:steady".
    source: Mapped[str] = mapped_column(String(200))
    protocol: Mapped[str | None] = mapped_column(String(40))
    label: Mapped[str] = mapped_column(String(120))
    assigned_from: Mapped[datetime]
    assigned_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    # An assignment ends by a new row that supersedes it with the end time (append-only).
    assigned_until: Mapped[datetime | None]
    supersedes_id: Mapped[int | None] = mapped_column(
        ForeignKey("device_assignments.id"), unique=True
    )


class VitalReading(Base):
    """The big table: one row per parameter per device sample."""

    __tablename__ = "vital_readings"
    __table_args__ = (
        # Serves "one trial, some parameters, a time range" and rejects exact duplicates.
        UniqueConstraint(
            "trial_id", "parameter", "device_time", "source_device", name="uq_vital_readings_sample"
        ),
        Index("ix_vital_readings_trial_received", "trial_id", "received_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    trial_id: Mapped[int] = mapped_column(ForeignKey("trials.id"))
    parameter: Mapped[str] = mapped_column(String(32))
    # NULL when the device sent no usable value (missing marker, implausible, no finger).
    value: Mapped[float | None] = mapped_column(Float)
    unit: Mapped[str] = mapped_column(String(16))
    device_time: Mapped[datetime]
    received_at: Mapped[datetime]
    # Canonical quality flags, ';'-joined ('' when clean); raw vendor status kept alongside.
    flags: Mapped[str] = mapped_column(String(200), default="")
    raw_status: Mapped[dict[str, Any] | None]
    source_device: Mapped[str] = mapped_column(String(200))


class ObservationSet(Base):
    __tablename__ = "observation_sets"

    id: Mapped[int] = mapped_column(primary_key=True)
    trial_id: Mapped[int] = mapped_column(ForeignKey("trials.id"), index=True)
    measured_at: Mapped[datetime]
    entered_at: Mapped[datetime]
    entered_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    rr: Mapped[int | None] = mapped_column(Integer)
    spo2: Mapped[int | None] = mapped_column(Integer)
    on_oxygen: Mapped[bool | None] = mapped_column(Boolean)
    systolic: Mapped[int | None] = mapped_column(Integer)
    diastolic: Mapped[int | None] = mapped_column(Integer)
    pulse_rate: Mapped[int | None] = mapped_column(Integer)
    consciousness: Mapped[str | None] = mapped_column(String(1))
    temp: Mapped[float | None] = mapped_column(Float)
    poss: Mapped[str | None] = mapped_column(String(1))
    power_left_leg: Mapped[int | None] = mapped_column(Integer)
    power_right_leg: Mapped[int | None] = mapped_column(Integer)
    power_left_arm: Mapped[int | None] = mapped_column(Integer)
    power_right_arm: Mapped[int | None] = mapped_column(Integer)
    # The side-effect checklist: names (vocabulary.SideEffect) present; None = not checked.
    side_effects: Mapped[list[str] | None] = mapped_column(JSON)
    # Which values were prefilled from the device rather than measured by hand.
    device_prefilled: Mapped[list[str] | None] = mapped_column(JSON)
    note: Mapped[str | None] = mapped_column(Text)
    supersedes_id: Mapped[int | None] = mapped_column(
        ForeignKey("observation_sets.id"), unique=True
    )
    correction_reason: Mapped[str | None] = mapped_column(Text)


class Assessment(Base):
    """Spasticity measures at a time point (baseline, 4 h, other)."""

    __tablename__ = "assessments"

    id: Mapped[int] = mapped_column(primary_key=True)
    trial_id: Mapped[int] = mapped_column(ForeignKey("trials.id"), index=True)
    time_point: Mapped[str] = mapped_column(String(20))
    assessed_at: Mapped[datetime]
    assessed_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    entered_at: Mapped[datetime]
    ashworth_scale: Mapped[str] = mapped_column(String(30))
    penn_frequency: Mapped[int | None] = mapped_column(Integer)
    penn_severity: Mapped[int | None] = mapped_column(Integer)
    penn_recall_period: Mapped[str | None] = mapped_column(String(60))
    pain_nrs: Mapped[int | None] = mapped_column(Integer)
    stiffness_nrs: Mapped[int | None] = mapped_column(Integer)
    power_left_leg: Mapped[int | None] = mapped_column(Integer)
    power_right_leg: Mapped[int | None] = mapped_column(Integer)
    power_left_arm: Mapped[int | None] = mapped_column(Integer)
    power_right_arm: Mapped[int | None] = mapped_column(Integer)
    note: Mapped[str | None] = mapped_column(Text)
    supersedes_id: Mapped[int | None] = mapped_column(ForeignKey("assessments.id"), unique=True)
    correction_reason: Mapped[str | None] = mapped_column(Text)


class AshworthScore(Base):
    __tablename__ = "ashworth_scores"
    __table_args__ = (UniqueConstraint("assessment_id", "muscle_group", "side"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    assessment_id: Mapped[int] = mapped_column(ForeignKey("assessments.id"), index=True)
    muscle_group: Mapped[str] = mapped_column(String(40))
    side: Mapped[str] = mapped_column(String(5))
    # The label as scored ("1+"), never a number: averages use a declared mapping in rules/.
    label: Mapped[str] = mapped_column(String(3))


class GoalRating(Base):
    __tablename__ = "goal_ratings"

    id: Mapped[int] = mapped_column(primary_key=True)
    assessment_id: Mapped[int] = mapped_column(ForeignKey("assessments.id"), index=True)
    goal: Mapped[str] = mapped_column(Text)
    # Goal Attainment Scaling, -2 ... +2 against the expected level agreed beforehand.
    rating: Mapped[int | None] = mapped_column(Integer)


class Alarm(Base):
    """One alarm of one rule on one trial; its life is the list of its events."""

    __tablename__ = "alarms"

    id: Mapped[int] = mapped_column(primary_key=True)
    trial_id: Mapped[int] = mapped_column(ForeignKey("trials.id"), index=True)
    rule_id: Mapped[str] = mapped_column(String(40))
    kind: Mapped[str] = mapped_column(String(20))
    raised_at: Mapped[datetime]
    rule_set_version: Mapped[str] = mapped_column(String(40))


class AlarmEvent(Base):
    __tablename__ = "alarm_events"
    __table_args__ = (Index("ix_alarm_events_trial_at", "trial_id", "at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    alarm_id: Mapped[int] = mapped_column(ForeignKey("alarms.id"), index=True)
    trial_id: Mapped[int] = mapped_column(ForeignKey("trials.id"))
    event: Mapped[str] = mapped_column(String(20))
    at: Mapped[datetime]
    priority: Mapped[str] = mapped_column(String(10))
    message: Mapped[str] = mapped_column(Text)
    evidence: Mapped[dict[str, Any] | None]
    # For acknowledgements: who, and what was done / who was told.
    by_user: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    note: Mapped[str | None] = mapped_column(Text)
    recorded_at: Mapped[datetime]


class Decision(Base):
    __tablename__ = "decisions"

    id: Mapped[int] = mapped_column(primary_key=True)
    trial_id: Mapped[int] = mapped_column(ForeignKey("trials.id"), index=True)
    outcome: Mapped[str] = mapped_column(String(40))
    rationale: Mapped[str] = mapped_column(Text)
    signed_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    signed_at: Mapped[datetime]
    next_dose_mcg: Mapped[int | None] = mapped_column(Integer)
    next_not_before: Mapped[datetime | None]
    supersedes_id: Mapped[int | None] = mapped_column(ForeignKey("decisions.id"), unique=True)
    correction_reason: Mapped[str | None] = mapped_column(Text)


class SetScore(Base):
    """The monitor's NEWS2 of one observation set, as its rules engine scored it.

    Pages and exports show this row and never score a recorded set themselves, so the number
    on the screen is the one the alarms were decided on. A set can be scored again (a device
    reading of the same instant arrives, a newer rule set): a new row, the newest one counts.
    """

    __tablename__ = "set_scores"
    __table_args__ = (Index("ix_set_scores_trial_set", "trial_id", "observation_set_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    trial_id: Mapped[int] = mapped_column(ForeignKey("trials.id"))
    observation_set_id: Mapped[int] = mapped_column(ForeignKey("observation_sets.id"), index=True)
    # When the set was measured, as the engine counted it (not when it was typed).
    measured_at: Mapped[datetime]
    # NULL for a partial set: it has no total, and `missing` names what it lacks.
    total: Mapped[int | None] = mapped_column(Integer)
    band: Mapped[str] = mapped_column(String(12))
    scores: Mapped[dict[str, Any]]
    missing: Mapped[list[str]] = mapped_column(JSON)
    spo2_scale: Mapped[int] = mapped_column(Integer)
    # The SpO2 and pulse the score used, and where each came from ("set" or "device"): a nurse
    # may leave them to the oximeter reading of the same instant.
    spo2: Mapped[float | None] = mapped_column(Float)
    spo2_from: Mapped[str | None] = mapped_column(String(10))
    pulse: Mapped[float | None] = mapped_column(Float)
    pulse_from: Mapped[str | None] = mapped_column(String(10))
    rule_set_version: Mapped[str] = mapped_column(String(40))
    judged_at: Mapped[datetime]  # the monitor's time when it scored the set
    recorded_at: Mapped[datetime]


class ScheduleJudgement(Base):
    """The trial's observation due times and pre-injection baseline as the monitor judged them.

    One row each time they change (a set meets a due time, a due time passes, NEWS2 brings the
    next one forward, the injection sets the baseline); the newest row is the current one.
    """

    __tablename__ = "schedule_judgements"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    trial_id: Mapped[int] = mapped_column(ForeignKey("trials.id"), index=True)
    # The statuses (met, late, missed, due) are as of this instant.
    judged_at: Mapped[datetime]
    recorded_at: Mapped[datetime]
    rule_set_version: Mapped[str] = mapped_column(String(40))
    injection_at: Mapped[datetime | None]  # the injection the due times count from
    next_due: Mapped[datetime | None]
    # [{"time", "status", "met_at", "source"}], times as ISO 8601 UTC text.
    due_times: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    # {parameter: value}: the patient's own baseline; empty before the injection.
    baseline: Mapped[dict[str, Any]]


class AuditEntry(Base):
    """Append-only: triggers refuse UPDATE and DELETE on this table."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_at", "at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    at: Mapped[datetime]
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    username: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(60))
    entity: Mapped[str] = mapped_column(String(40))
    entity_id: Mapped[int | None] = mapped_column(BigId)
    trial_id: Mapped[int | None] = mapped_column(Integer, index=True)
    details: Mapped[dict[str, Any] | None]
    # Tamper evidence: SHA-256 of this entry's content and the previous entry's hash
    # (observations/audit_chain.py); a changed, removed or reordered entry breaks the chain.
    prev_hash: Mapped[str] = mapped_column(String(64))
    row_hash: Mapped[str] = mapped_column(String(64))


# Tables whose rows are never changed or removed once written (enforced by triggers).
APPEND_ONLY_TABLES: tuple[str, ...] = (
    "audit_log",
    "injections",
    "window_extensions",
    "device_assignments",
    "vital_readings",
    "observation_sets",
    "assessments",
    "ashworth_scores",
    "goal_ratings",
    "alarms",
    "alarm_events",
    "decisions",
    "set_scores",
    "schedule_judgements",
)


# --------------------------------------------------------------------------- running services
# Operational state of monitor processes, not clinical record: rows are updated in place.


class ServiceHeartbeat(Base):
    """One row per monitor process; the dashboard reads it to tell 'monitor not running'."""

    __tablename__ = "service_heartbeats"

    service_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))  # "embedded" or "standalone"
    host: Mapped[str] = mapped_column(String(120))
    pid: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime]
    last_beat_at: Mapped[datetime]
    stopped_at: Mapped[datetime | None]


class DeviceLease(Base):
    """Which process streams a device: exactly one, taken over when its holder stops beating."""

    __tablename__ = "device_leases"

    source: Mapped[str] = mapped_column(String(200), primary_key=True)
    service_id: Mapped[str] = mapped_column(String(64))
    trial_id: Mapped[int] = mapped_column(ForeignKey("trials.id"))
    expires_at: Mapped[datetime]


class DeviceState(Base):
    """The latest connection state of each assigned device (disconnected ... stale)."""

    __tablename__ = "device_states"

    source: Mapped[str] = mapped_column(String(200), primary_key=True)
    trial_id: Mapped[int] = mapped_column(ForeignKey("trials.id"), primary_key=True)
    state: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str] = mapped_column(Text)
    since: Mapped[datetime]
    last_reading_at: Mapped[datetime | None]
    updated_at: Mapped[datetime]
