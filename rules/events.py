"""What the engine consumes (trial events) and what it emits (alarm events).

All are frozen dataclasses with timezone-aware times; time comes with the event, never from a
clock. The engine requires them in time order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from vocabulary import (
    NON_DISQUALIFYING_FLAGS,
    AlarmEventType,
    AlarmKind,
    ConnectionState,
    Consciousness,
    Parameter,
    Poss,
    Priority,
    QualityFlag,
    SideEffect,
)


def _require_aware(time: datetime) -> None:
    if time.tzinfo is None or time.utcoffset() is None:
        raise ValueError(f"time {time.isoformat()} has no UTC offset; use timezone-aware times")


def usable(value: float | None, flags: frozenset[QualityFlag]) -> bool:
    """A device value a physiological rule may use: present, and no flag makes it doubtful."""
    return value is not None and (not flags or flags <= NON_DISQUALIFYING_FLAGS)


@dataclass(frozen=True)
class Reading:
    """One value from a device (or a single device entry such as an automatic blood pressure).

    `value` is None when the device sent only flags (e.g. `no_finger`).
    """

    time: datetime
    parameter: Parameter
    value: float | None
    flags: frozenset[QualityFlag] = field(default=frozenset())

    def __post_init__(self) -> None:
        _require_aware(self.time)

    @property
    def valid(self) -> bool:
        """Usable for a physiological rule: a value and no flag that makes it doubtful."""
        return usable(self.value, self.flags)


@dataclass(frozen=True)
class ObservationSet:
    """A nurse's entry at one time; any field may be missing (None).

    `side_effects` None means the side-effect check was not recorded in this set; an empty
    frozenset means it was done and nothing was found.
    """

    time: datetime
    rr: float | None = None
    spo2: float | None = None
    on_oxygen: bool | None = None
    systolic: float | None = None
    diastolic: float | None = None
    pulse_rate: float | None = None
    consciousness: Consciousness | None = None
    temp: float | None = None
    poss: Poss | None = None
    power_left_leg: int | None = None
    power_right_leg: int | None = None
    power_left_arm: int | None = None
    power_right_arm: int | None = None
    side_effects: frozenset[SideEffect] | None = None
    # The record's id of this set, so the engine's judgement of it can be stored against it.
    record_id: int | None = None

    def __post_init__(self) -> None:
        _require_aware(self.time)

    def value(self, parameter: Parameter) -> Any:
        return getattr(self, parameter.value, None)

    def present(self) -> dict[Parameter, Any]:
        """The parameters this set actually records."""
        out: dict[Parameter, Any] = {}
        for parameter in Parameter:
            value = getattr(self, parameter.value, None)
            if value is not None:
                out[parameter] = value
        return out


@dataclass(frozen=True)
class Injection:
    time: datetime
    dose_mcg: float

    def __post_init__(self) -> None:
        _require_aware(self.time)


@dataclass(frozen=True)
class Acknowledgement:
    time: datetime
    rule_id: str
    by: str = ""
    note: str = ""

    def __post_init__(self) -> None:
        _require_aware(self.time)


@dataclass(frozen=True)
class WindowExtension:
    time: datetime
    minutes: float

    def __post_init__(self) -> None:
        _require_aware(self.time)


@dataclass(frozen=True)
class WindowClosed:
    """A clinician closed the monitoring window: no more due times, no more alarms raised."""

    time: datetime
    by: str = ""

    def __post_init__(self) -> None:
        _require_aware(self.time)


@dataclass(frozen=True)
class DeviceLink:
    """A device's link changed state (connecting, connected, stale, disconnected).

    `parameters` are what the device streams (from its protocol). The first link event of a
    device starts the silence watch for those parameters, so an assigned oximeter that never
    delivers a reading is reported lost too; the state travels into the evidence so the nurse
    reads "disconnected" or "connected but silent".
    """

    time: datetime
    device: str
    state: ConnectionState
    parameters: frozenset[Parameter]
    reason: str = ""

    def __post_init__(self) -> None:
        _require_aware(self.time)


@dataclass(frozen=True)
class ReadingsNotStored:
    """The record could not take ``dropped`` more of the trial's device readings (they waited
    for the database past the monitor's bound and were dropped): the chart has a gap there.

    Alarms never depended on them (the engine saw every reading as it arrived); the loss is a
    technical condition that stays until someone has seen it, i.e. acknowledged its alarm.
    """

    time: datetime
    dropped: int

    def __post_init__(self) -> None:
        _require_aware(self.time)
        if self.dropped <= 0:
            raise ValueError(f"dropped readings must be counted from 1, not {self.dropped}")


TrialEvent = (
    Reading
    | ObservationSet
    | Injection
    | Acknowledgement
    | WindowExtension
    | WindowClosed
    | DeviceLink
    | ReadingsNotStored
)


@dataclass(frozen=True)
class AlarmEvent:
    time: datetime
    event: AlarmEventType
    rule_id: str
    priority: Priority
    kind: AlarmKind
    message: str
    evidence: dict[str, Any]
    rule_set_version: str

    def as_json_dict(self) -> dict[str, Any]:
        """The `python -m rules replay` line format, exactly those keys; the rule-set version
        travels inside the evidence so the line keeps the contract's shape."""
        return {
            "time": self.time.isoformat(),
            "event": self.event.value,
            "rule": self.rule_id,
            "priority": self.priority.value,
            "kind": self.kind.value,
            "message": self.message,
            "evidence": {**self.evidence, "rule_set_version": self.rule_set_version},
        }
