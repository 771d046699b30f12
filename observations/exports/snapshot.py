"""One read of everything a trial export needs, so every format shows the same facts.

Built only from TrialRecord's public API.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

import pandas as pd

from observations.record import TrialRecord
from observations.set_scores import ScheduleJudgementView, SetScoreView
from observations.views import (
    AlarmEventView,
    AssessmentView,
    DecisionView,
    ObservationSetView,
    TrialView,
    UserView,
)
from observations.ward_time import to_ward

GENERATOR = "ITB Trial Monitor"


@dataclass(frozen=True)
class DeviceReading:
    """One device sample as the timeline returns it; ``value`` None = flagged, no number."""

    time: datetime
    parameter: str
    value: float | None
    unit: str
    flags: str
    device: str


@dataclass(frozen=True)
class TrialSnapshot:
    trial: TrialView
    device_readings: tuple[DeviceReading, ...]
    # Every set, corrected ones included; `current_sets` filters them.
    observation_sets: tuple[ObservationSetView, ...]
    assessments: tuple[AssessmentView, ...]
    alarm_events: tuple[AlarmEventView, ...]
    decision: DecisionView | None
    users: dict[int, UserView]
    zone: ZoneInfo
    generated_at: datetime
    # The monitor's NEWS2 of each set, by set id (a set it has not scored yet is absent), and
    # its last judgement of the due times and baseline: exports never score a set themselves.
    set_scores: dict[int, SetScoreView] = field(default_factory=dict)
    schedule: ScheduleJudgementView | None = None

    @property
    def current_sets(self) -> tuple[ObservationSetView, ...]:
        replaced = {s.supersedes_id for s in self.observation_sets if s.supersedes_id}
        return tuple(s for s in self.observation_sets if s.id not in replaced)

    def user_name(self, user_id: int | None) -> str:
        if user_id is None:
            return ""
        user = self.users.get(user_id)
        return user.display_name if user else f"user {user_id}"

    def ward(self, moment: datetime) -> str:
        """Ward wall-clock time with the zone name (which side of a clock change)."""
        return to_ward(moment, self.zone).strftime("%Y-%m-%d %H:%M:%S %Z")


def _device_readings(frame: pd.DataFrame) -> tuple[DeviceReading, ...]:
    device = frame[frame["source"] == "device"]
    out = []
    for time, parameter, value, unit, flags, source_device in zip(
        device["time"],
        device["parameter"],
        device["value"],
        device["unit"],
        device["flags"],
        device["device"],
        strict=True,
    ):
        number = None if value is None or math.isnan(value) else float(value)
        out.append(
            DeviceReading(
                time=time.to_pydatetime(),
                parameter=str(parameter),
                value=number,
                unit=str(unit or ""),
                flags=str(flags or ""),
                device=str(source_device or ""),
            )
        )
    return tuple(out)


def take_snapshot(record: TrialRecord, trial_id: int) -> TrialSnapshot:
    """Read the trial once; raises NotFound (observations.errors) for an unknown id."""
    trial = record.trials.get(trial_id)
    # Manual values come from the observation sets themselves (with who and how), so the
    # timeline is asked for device readings only.
    frame = record.readings.timeline(trial_id, include_manual=False)
    return TrialSnapshot(
        trial=trial,
        device_readings=_device_readings(frame),
        observation_sets=tuple(record.observations.list(trial_id, include_superseded=True)),
        assessments=tuple(record.assessments.list(trial_id)),
        alarm_events=tuple(record.alarms.events(trial_id)),
        decision=record.decisions.for_trial(trial_id),
        users={u.id: u for u in record.users.all()},
        zone=record.settings.ward_timezone,
        generated_at=record.store.now(),
        set_scores=record.set_scores.for_trial(trial_id),
        schedule=record.set_scores.schedule(trial_id),
    )
