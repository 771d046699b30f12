"""Loads limits.yaml: the ranges and trial-day rules the record enforces on every write."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, model_validator

LIMITS_FILE = Path(__file__).with_name("limits.yaml")


class EntryRange(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    label: str
    unit: str
    min: float
    max: float
    rationale: str

    @model_validator(mode="after")
    def _ordered(self) -> EntryRange:
        if self.min > self.max:
            raise ValueError(f"{self.label}: min {self.min} is above max {self.max}")
        return self


class TrialDayLimits(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    dose_min_mcg: int
    dose_max_mcg: int
    dose_rationale: str
    min_hours_between_injections: float
    interval_rationale: str
    injection_deadline: str
    deadline_rationale: str
    default_window_minutes: int
    window_rationale: str
    max_note_chars: int


class AccountLimits(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    min_password_length: int
    password_rationale: str
    free_attempts: int
    first_delay_seconds: float
    max_delay_seconds: float
    failure_window_minutes: float
    throttle_rationale: str
    idle_sign_out_minutes: float
    idle_rationale: str


class Limits(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    entry: dict[str, EntryRange]
    trial_day: TrialDayLimits
    accounts: AccountLimits


@cache
def load_limits(path: Path = LIMITS_FILE) -> Limits:
    with path.open(encoding="utf-8") as handle:
        return Limits.model_validate(yaml.safe_load(handle))
