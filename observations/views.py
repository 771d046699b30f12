"""What the record hands back: frozen, detached values, never live database rows."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict

from observations.nhs_number import format_nhs, is_test_number


class _View(BaseModel):
    model_config = ConfigDict(from_attributes=True, frozen=True)


class UserView(_View):
    id: int
    username: str
    display_name: str
    roles: str
    active: bool


class PatientView(_View):
    id: int
    nhs_number: str
    hospital_number: str
    family_name: str
    given_name: str
    date_of_birth: date

    @property
    def name(self) -> str:
        return f"{self.family_name.upper()}, {self.given_name}"

    @property
    def nhs_display(self) -> str:
        return format_nhs(self.nhs_number)

    @property
    def identifiers(self) -> str:
        """Two identifiers, wherever a patient is chosen or shown (wrong-patient hazard)."""
        test = " (test number)" if is_test_number(self.nhs_number) else ""
        return (
            f"{self.name} · NHS {self.nhs_display}{test} · MRN {self.hospital_number} · "
            f"born {self.date_of_birth:%d %b %Y}"
        )


class InjectionView(_View):
    id: int
    trial_id: int
    dose_mcg: int
    given_at: datetime
    route: str
    given_by: str
    recorded_at: datetime
    recorded_by: int
    supersedes_id: int | None
    correction_reason: str | None


class TrialView(_View):
    id: int
    patient: PatientView
    episode: int
    trial_number: int
    planned_dose_mcg: int
    spo2_scale: int
    spo2_scale_reason: str | None
    status: str
    bed: str | None
    window_minutes: int
    extension_minutes: int
    injection: InjectionView | None
    follows_trial_id: int | None
    created_at: datetime

    @property
    def window_end(self) -> datetime | None:
        if self.injection is None:
            return None
        return self.injection.given_at + timedelta(
            minutes=self.window_minutes + self.extension_minutes
        )


class InjectionResult(_View):
    injection: InjectionView
    warnings: list[str]


class DeviceAssignmentView(_View):
    id: int
    trial_id: int
    source: str
    protocol: str | None
    label: str
    assigned_from: datetime
    assigned_until: datetime | None


class ObservationSetView(_View):
    id: int
    trial_id: int
    measured_at: datetime
    entered_at: datetime
    entered_by: int
    rr: int | None
    spo2: int | None
    on_oxygen: bool | None
    systolic: int | None
    diastolic: int | None
    pulse_rate: int | None
    consciousness: str | None
    temp: float | None
    poss: str | None
    power_left_leg: int | None
    power_right_leg: int | None
    power_left_arm: int | None
    power_right_arm: int | None
    side_effects: list[str] | None
    device_prefilled: list[str] | None
    note: str | None
    supersedes_id: int | None
    correction_reason: str | None


class AshworthView(_View):
    muscle_group: str
    side: str
    label: str


class GoalView(_View):
    goal: str
    rating: int | None


class AssessmentView(_View):
    id: int
    trial_id: int
    time_point: str
    assessed_at: datetime
    assessed_by: int
    ashworth_scale: str
    ashworth: list[AshworthView]
    penn_frequency: int | None
    penn_severity: int | None
    penn_recall_period: str | None
    pain_nrs: int | None
    stiffness_nrs: int | None
    power_left_leg: int | None
    power_right_leg: int | None
    power_left_arm: int | None
    power_right_arm: int | None
    goals: list[GoalView]
    note: str | None
    supersedes_id: int | None
    correction_reason: str | None


class AlarmEventView(_View):
    id: int
    alarm_id: int
    trial_id: int
    rule_id: str  # from the alarm the event belongs to
    kind: str
    event: str
    at: datetime
    priority: str
    message: str
    evidence: dict[str, Any] | None
    by_user: int | None
    note: str | None

    @property
    def what(self) -> str:
        """The event in the ward's words (the record keeps the codes)."""
        return EVENT_WORDS.get(self.event, self.event)


# An acknowledged alarm whose condition eased is shown at its lower level, silently: it reads
# as that, never as a new alarm (its priority and message say which level).
EVENT_WORDS: dict[str, str] = {
    "raised": "raised",
    "escalated": "escalated",
    "acknowledged": "acknowledged",
    "reannunciated": "sounded again",
    "changed": "eased to a lower level",
    "resolved": "resolved",
}


class AlarmView(_View):
    """An alarm as it stands now, from its events."""

    id: int
    trial_id: int
    rule_id: str
    kind: str
    raised_at: datetime
    priority: str
    message: str
    evidence: dict[str, Any] | None
    acknowledged: bool
    last_event: str
    last_event_at: datetime
    # The acknowledgement that holds now (None while the alarm waits for one) and the soft
    # reminder interval chosen with it (None: the default for the alarm's priority).
    acknowledged_at: datetime | None = None
    remind_after_s: float | None = None

    @property
    def headline(self) -> str:
        """The condition in a few words: the message's first sentence."""
        return self.message.split(". ")[0].rstrip(".")


class DecisionView(_View):
    id: int
    trial_id: int
    outcome: str
    rationale: str
    signed_by: int
    signed_at: datetime
    next_dose_mcg: int | None
    next_not_before: datetime | None
    supersedes_id: int | None


class SignedDecision(_View):
    """A signed decision and the follow-up trial planned with it, if any."""

    decision: DecisionView
    follow_up: TrialView | None


class LatestValue(_View):
    parameter: str
    value: float
    at: datetime
    source: str  # "device" or "manual"
    flags: str


class AuditView(_View):
    id: int
    at: datetime
    username: str
    action: str
    entity: str
    entity_id: int | None
    trial_id: int | None
    details: dict[str, Any] | None
