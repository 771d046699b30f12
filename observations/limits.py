"""Loads limits.yaml: the ranges and trial-day rules the record enforces on every write."""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from measurement_limits import load_measurement_limits
from rules.responder import DoseLimits
from rules.rule_set import load_rule_set
from vocabulary import LABELS, MRC_POWER_LABELS, UNITS

LIMITS_FILE = Path(__file__).with_name("limits.yaml")
# The entry key of the four limbs' MRC power (observations/entries.py).
POWER_ENTRY = "power"
# Overrides accounts.idle_lock_minutes (browser tests lock the screen after seconds, not 15 min).
IDLE_LOCK_ENV = "ITBMON_IDLE_LOCK_MINUTES"


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
    # Not written under trial_day: filled from text.note.max_chars (one place), kept here for
    # the pages and checks that read it as the longest note.
    max_note_chars: int
    peak_window_start_hours: float = Field(ge=0)
    peak_window_end_hours: float = Field(gt=0)
    peak_window_rationale: str
    reminder_min_minutes: float = Field(gt=0)
    reminder_max_minutes: float = Field(gt=0)
    reminder_choices_minutes: list[float] = Field(min_length=1)
    reminder_rationale: str

    @model_validator(mode="after")
    def _reminder_choices_allowed(self) -> TrialDayLimits:
        low, high = self.reminder_min_minutes, self.reminder_max_minutes
        if low > high:
            raise ValueError(f"reminder_min_minutes {low:g} is above reminder_max_minutes {high:g}")
        outside = [c for c in self.reminder_choices_minutes if not low <= c <= high]
        if outside:
            raise ValueError(f"reminder choices {outside} lie outside {low:g}-{high:g} minutes")
        return self

    @model_validator(mode="after")
    def _peak_window_ordered(self) -> TrialDayLimits:
        if self.peak_window_start_hours >= self.peak_window_end_hours:
            raise ValueError(
                f"peak_window_start_hours {self.peak_window_start_hours:g} is not before "
                f"peak_window_end_hours {self.peak_window_end_hours:g}"
            )
        return self


class PasswordHashing(BaseModel):
    """Argon2id parameters; the floor is OWASP's minimum for argon2id."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    time_cost: int = Field(ge=2)
    memory_kib: int = Field(ge=19456)
    parallelism: int = Field(ge=1)


class AccountLimits(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    min_password_length: int
    password_rationale: str
    password_hash: PasswordHashing
    password_hash_rationale: str
    free_attempts: int
    first_delay_seconds: float
    max_delay_seconds: float
    failure_window_minutes: float
    throttle_rationale: str
    session_max_hours: float = Field(gt=0)
    session_rationale: str
    reauthentication_seconds: float = Field(gt=0)
    reauthentication_rationale: str
    idle_lock_minutes: float = Field(gt=0)
    idle_rationale: str


class TextKind(BaseModel):
    """The longest text of one kind of field, and whether it may run over several lines."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_chars: int = Field(gt=0)
    multiline: bool
    rationale: str


class Limits(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    entry: dict[str, EntryRange]
    trial_day: TrialDayLimits
    text: dict[str, TextKind]
    accounts: AccountLimits

    @model_validator(mode="before")
    @classmethod
    def _entry_ranges_written_once(cls, data: Any) -> Any:
        """The measured values' ranges are measurement_limits.yaml and MRC power runs over
        vocabulary.MRC_POWER_LABELS: read from there into ``entry``, and refused here."""
        if not isinstance(data, dict):
            return data
        entry = data.get("entry")
        if not isinstance(entry, dict):
            return data
        shared = load_measurement_limits()
        owned = {p.value for p in shared.ranges} | {POWER_ENTRY}
        copies = sorted(owned & set(entry))
        if copies:
            raise ValueError(
                f"entry.{', entry.'.join(copies)} is not set here: measured values' ranges are "
                "measurement_limits.yaml and MRC power is vocabulary.MRC_POWER_LABELS"
            )
        read: dict[str, Any] = {
            p.value: {
                "label": LABELS[p],
                "unit": UNITS[p].display,
                "min": r.low,
                "max": r.high,
                "rationale": shared.rationales[p],
            }
            for p, r in shared.ranges.items()
        }
        read[POWER_ENTRY] = {
            "label": "MRC power",
            "unit": "",
            "min": min(MRC_POWER_LABELS),
            "max": max(MRC_POWER_LABELS),
            "rationale": "The MRC grades (vocabulary.MRC_POWER_LABELS).",
        }
        return {**data, "entry": {**entry, **read}}

    @model_validator(mode="before")
    @classmethod
    def _note_limit_written_once(cls, data: Any) -> Any:
        """The longest note is text.note.max_chars; trial_day.max_note_chars is read from it."""
        if not isinstance(data, dict):
            return data
        day, text = data.get("trial_day"), data.get("text")
        if isinstance(day, dict) and "max_note_chars" in day:
            raise ValueError(
                "trial_day.max_note_chars is not set here: the note limit is text.note.max_chars"
            )
        note = text.get("note") if isinstance(text, dict) else None
        if not isinstance(note, dict) or "max_chars" not in note:
            raise ValueError("text.note.max_chars is required: the longest note or reason")
        if isinstance(day, dict):
            data = {**data, "trial_day": {**day, "max_note_chars": note["max_chars"]}}
        return data

    @model_validator(mode="after")
    def _text_fits_its_columns(self) -> Limits:
        """A text limit larger than a column that stores it would let the database refuse
        what the record accepted: refused here, when the limits are loaded (at start)."""
        from observations.free_text import check_kinds_fit  # it reads these limits in turn

        check_kinds_fit(self.text)
        return self


@cache
def default_window_minutes() -> int:
    """The monitoring window the rules engine runs (rules/default_rules.yaml): the record shows
    and extends that same window, so the number is written once, with the rules."""
    return round(load_rule_set().monitoring_window.default_min)


def dose_limits() -> DoseLimits:
    """The follow-up suggestion's ceiling and interval: this record's trial-day limits."""
    day = load_limits().trial_day
    return DoseLimits(max_mcg=day.dose_max_mcg, min_interval_h=day.min_hours_between_injections)


@cache  # read and validated once per process; the record calls it on every entry check
def load_limits(path: Path = LIMITS_FILE) -> Limits:
    with path.open(encoding="utf-8") as handle:
        return Limits.model_validate(yaml.safe_load(handle))


def idle_lock_minutes() -> float:
    """Minutes without the person's own action before the screen locks: limits.yaml, or
    ITBMON_IDLE_LOCK_MINUTES when set (a positive number; anything else is refused loudly)."""
    text = os.environ.get(IDLE_LOCK_ENV, "").strip()
    if not text:
        return load_limits().accounts.idle_lock_minutes
    try:
        minutes = float(text)
    except ValueError:
        minutes = float("nan")
    if not minutes > 0:
        raise ValueError(f"{IDLE_LOCK_ENV}={text!r}: give a positive number of minutes")
    return minutes
