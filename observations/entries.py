"""What people and devices hand to the record, checked before anything is written.

Every check collects *all* problems with a message a nurse understands, so a form can show
them beside the fields and keep what was typed. Ranges come from limits.yaml.
"""

from __future__ import annotations

import math
from datetime import date, datetime
from typing import Any, NamedTuple

from pydantic import BaseModel, ConfigDict
from pydantic import ValidationError as PydanticError

from observations import nhs_number
from observations.errors import FieldProblem, InvalidEntry
from observations.free_text import clean_text, collect_text, shown
from observations.limits import load_limits
from vocabulary import (
    ASHWORTH_LABELS,
    LABELS,
    PENN_FREQUENCY_LABELS,
    PENN_SEVERITY_LABELS,
    UNITS,
    AshworthScale,
    AssessmentTimePoint,
    Consciousness,
    InjectionRoute,
    MuscleGroup,
    Parameter,
    Poss,
    QualityFlag,
    Side,
    SideEffect,
)

_FIELD_LABELS: dict[str, str] = {
    **{p.value: LABELS[p] for p in Parameter},
    "pulse_rate": "Pulse",
    "dose_mcg": "Dose",
    "given_at": "Time of injection",
    "measured_at": "Time measured",
    "assessed_at": "Time assessed",
    "date_of_birth": "Date of birth",
    "penn_frequency": "Penn spasm frequency",
    "penn_severity": "Penn spasm severity",
    "pain_nrs": "Pain",  # its range is said with any refusal (limits.yaml `entry.nrs`)
    "stiffness_nrs": "Stiffness",
    "route": "Route",
    "time_point": "Time point",
    "ashworth_scale": "Ashworth scale",
    "timing_reason": "Reason for the time",
}

_TYPE_MESSAGES = {
    "int_parsing": "must be a whole number",
    "int_from_float": "must be a whole number",
    "int_type": "must be a whole number",
    "float_parsing": "must be a number",
    "float_type": "must be a number",
    "finite_number": "must be a number",
    "bool_parsing": "must be yes or no",
    "bool_type": "must be yes or no",
    "datetime_parsing": "must be a date and time",
    "datetime_type": "must be a date and time",
    "date_parsing": "must be a date",
    "date_type": "must be a date",
    "enum": "is not one of the choices",
    "missing": "is required",
    "string_type": "must be text",
}


def _label(name: str) -> str:
    return _FIELD_LABELS.get(name, name.replace("_", " ").capitalize())


def _parse(model: type[BaseModel], data: dict[str, Any]) -> Any:
    """Parse with pydantic, turning its errors into InvalidEntry with plain messages."""
    try:
        return model.model_validate(data)
    except PydanticError as exc:
        problems = []
        for error in exc.errors():
            name = str(error["loc"][0]) if error["loc"] else "entry"
            text = _TYPE_MESSAGES.get(error["type"], "is not valid")
            problems.append(FieldProblem(name, f"{_label(name)} {text}."))
        raise InvalidEntry(problems) from None


# The spasticity measures scored on a numbered scale, in the order the reports list them.
SCALED_MEASURES = ("penn_frequency", "penn_severity", "pain_nrs", "stiffness_nrs")


def measure_label(name: str) -> str:
    """A spasticity measure's name with its scale's range ("Pain (0-10)"), as the screens and
    the exports show it: the range from the scale's one owner (vocabulary, limits.yaml)."""
    if name in ("pain_nrs", "stiffness_nrs"):
        scale = load_limits().entry["nrs"]
        return f"{_label(name)} ({scale.min:g}-{scale.max:g})"
    grades = {"penn_frequency": PENN_FREQUENCY_LABELS, "penn_severity": PENN_SEVERITY_LABELS}
    return f"{_label(name)} ({min(grades[name])}-{max(grades[name])})"


def _in_range(key: str, name: str, value: float | None, problems: list[FieldProblem]) -> None:
    if value is None:
        return
    limit = load_limits().entry[key]
    if isinstance(value, float) and not math.isfinite(value):
        problems.append(FieldProblem(name, f"{_label(name)} must be a number."))
        return
    if limit.min <= value <= limit.max:
        return
    unit = f" {limit.unit}" if limit.unit else ""
    shown = f"{value:g}"
    message = (
        f"{_label(name)} {shown}{unit} is not possible: enter a value between "
        f"{limit.min:g} and {limit.max:g}{unit}."
    )
    if key == "temp" and limit.min <= value * 10 <= limit.max:
        message += f" Did you mean {value * 10:.1f}?"
    problems.append(FieldProblem(name, message))


def _aware(name: str, moment: datetime | None, problems: list[FieldProblem]) -> None:
    if moment is not None and (moment.tzinfo is None or moment.utcoffset() is None):
        problems.append(FieldProblem(name, f"{_label(name)} has no time zone."))


def _note(text: str | None, problems: list[FieldProblem], name: str = "note") -> str | None:
    """A note or reason: optional, no longer than limits.yaml text.note (free_text)."""
    return collect_text(problems, name, text, "note", required=False)


def not_in_future(name: str, moment: datetime, now: datetime) -> None:
    if moment > now:
        raise InvalidEntry.single(
            name, f"{_label(name)} is in the future. Enter the time it actually happened."
        )


def check_dose(dose: int, name: str = "dose_mcg") -> None:
    limits = load_limits().trial_day
    if not limits.dose_min_mcg <= dose <= limits.dose_max_mcg:
        raise InvalidEntry.single(
            name,
            f"A dose of {dose} mcg is outside the trial range: the dose must be between "
            f"{limits.dose_min_mcg} and {limits.dose_max_mcg} mcg.",
        )


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


# ----------------------------------------------------------------------------- patient


class PatientDetails(_Entry):
    nhs_number: str
    hospital_number: str
    family_name: str
    given_name: str
    date_of_birth: date


def check_patient(data: dict[str, Any], today: date) -> PatientDetails:
    details: PatientDetails = _parse(PatientDetails, data)
    problems: list[FieldProblem] = []
    digits = details.nhs_number
    typed = collect_text(problems, "nhs_number", details.nhs_number, "identifier", required=False)
    if typed is not None and any(c.isdigit() and not c.isascii() for c in typed):
        # "²" or "٣" pass str.isdigit() but are not an NHS number's digits (0-9).
        problems.append(
            FieldProblem(
                "nhs_number",
                "An NHS number is 10 digits (0-9), spaces or dashes allowed. Check the wristband.",
            )
        )
    elif not problems:
        try:
            digits = nhs_number.validate(typed or "")
        except nhs_number.InvalidNhsNumber as exc:
            problems.append(FieldProblem("nhs_number", str(exc)))
    # Upper case first: it can lengthen a text ("ß" is "SS"), and the column holds 20.
    hospital = collect_text(
        problems,
        "hospital_number",
        details.hospital_number.upper(),
        "identifier",
        required=True,
        missing="Enter the hospital number (MRN).",
    )
    names = {
        name: collect_text(
            problems,
            name,
            getattr(details, name),
            "name",
            required=True,
            missing=f"Enter the patient's {name.replace('_', ' ')}.",
        )
        for name in ("family_name", "given_name")
    }
    if details.date_of_birth > today:
        problems.append(FieldProblem("date_of_birth", "Date of birth is in the future."))
    elif details.date_of_birth.year < today.year - 120:
        problems.append(FieldProblem("date_of_birth", "Date of birth is over 120 years ago."))
    if problems:
        raise InvalidEntry(problems)
    return details.model_copy(update={"nhs_number": digits, "hospital_number": hospital, **names})


# ----------------------------------------------------------------------------- injection


class InjectionEntry(_Entry):
    dose_mcg: int
    given_at: datetime
    route: InjectionRoute
    given_by: str


def check_injection(data: dict[str, Any]) -> InjectionEntry:
    entry: InjectionEntry = _parse(InjectionEntry, data)
    problems: list[FieldProblem] = []
    _aware("given_at", entry.given_at, problems)
    given_by = collect_text(
        problems,
        "given_by",
        entry.given_by,
        "name",
        required=True,
        missing="Enter who gave the injection.",
    )
    if problems:
        raise InvalidEntry(problems)
    check_dose(entry.dose_mcg)
    return entry.model_copy(update={"given_by": given_by})


# ----------------------------------------------------------------------------- observation set


class ObservationSetEntry(_Entry):
    measured_at: datetime
    rr: int | None = None
    spo2: int | None = None
    on_oxygen: bool | None = None
    systolic: int | None = None
    diastolic: int | None = None
    pulse_rate: int | None = None
    consciousness: Consciousness | None = None
    temp: float | None = None
    poss: Poss | None = None
    power_left_leg: int | None = None
    power_right_leg: int | None = None
    power_left_arm: int | None = None
    power_right_arm: int | None = None
    side_effects: list[SideEffect] | None = None
    device_prefilled: list[Parameter] = []
    note: str | None = None

    def values(self) -> dict[str, Any]:
        """The measured values only (no times, notes or provenance)."""
        skip = {"measured_at", "device_prefilled", "note", "side_effects"}
        return {k: v for k, v in self.model_dump().items() if k not in skip}

    def values_present(self) -> bool:
        return any(v is not None for v in self.values().values())


POWER_FIELDS = ("power_left_leg", "power_right_leg", "power_left_arm", "power_right_arm")


def check_observation_set(data: dict[str, Any]) -> ObservationSetEntry:
    entry: ObservationSetEntry = _parse(ObservationSetEntry, data)
    problems: list[FieldProblem] = []
    _aware("measured_at", entry.measured_at, problems)
    for name in ("rr", "spo2", "systolic", "diastolic", "pulse_rate", "temp"):
        _in_range(name, name, getattr(entry, name), problems)
    for name in POWER_FIELDS:
        _in_range("power", name, getattr(entry, name), problems)
    if entry.temp is not None and math.isfinite(entry.temp) and round(entry.temp, 1) != entry.temp:
        problems.append(FieldProblem("temp", "Temperature is recorded to one decimal place."))
    if (entry.systolic is None) != (entry.diastolic is None):
        problems.append(
            FieldProblem(
                "diastolic", "Enter both systolic and diastolic blood pressure, or neither."
            )
        )
    elif (
        entry.systolic is not None
        and entry.diastolic is not None
        and (entry.diastolic >= entry.systolic)
    ):
        problems.append(
            FieldProblem(
                "diastolic",
                f"Diastolic {entry.diastolic} mmHg is not below systolic {entry.systolic} mmHg:"
                " check the two numbers.",
            )
        )
    note = _note(entry.note, problems)
    if not entry.values_present() and not entry.side_effects and note is None:
        problems.append(FieldProblem("entry", "The observation set is empty."))
    if problems:
        raise InvalidEntry(problems)
    return entry.model_copy(update={"note": note})


# ----------------------------------------------------------------------------- assessment


class AshworthEntry(_Entry):
    muscle_group: MuscleGroup
    side: Side
    label: str


class GoalEntry(_Entry):
    goal: str
    rating: int | None = None


class AssessmentEntry(_Entry):
    time_point: AssessmentTimePoint
    assessed_at: datetime
    ashworth_scale: AshworthScale = AshworthScale.MODIFIED
    ashworth: list[AshworthEntry] = []
    penn_frequency: int | None = None
    penn_severity: int | None = None
    penn_recall_period: str | None = None
    pain_nrs: int | None = None
    stiffness_nrs: int | None = None
    power_left_leg: int | None = None
    power_right_leg: int | None = None
    power_left_arm: int | None = None
    power_right_arm: int | None = None
    goals: list[GoalEntry] = []
    note: str | None = None
    # Why "4 hours (peak)" scores were taken outside the peak window (limits.yaml, trial_day).
    timing_reason: str | None = None


def check_assessment(data: dict[str, Any]) -> AssessmentEntry:
    entry: AssessmentEntry = _parse(AssessmentEntry, data)
    problems: list[FieldProblem] = []
    _aware("assessed_at", entry.assessed_at, problems)
    allowed = ASHWORTH_LABELS[entry.ashworth_scale]
    seen: set[tuple[MuscleGroup, Side]] = set()
    for score in entry.ashworth:
        where = f"{score.side.value} {score.muscle_group.value.replace('_', ' ')}"
        if score.label not in allowed:
            problems.append(
                FieldProblem(
                    f"ashworth.{score.muscle_group.value}.{score.side.value}",
                    f"{shown(score.label, 'That score')} is not a "
                    f"{entry.ashworth_scale.value.replace('_', ' ')} score ({where}): "
                    f"use {', '.join(allowed)}.",
                )
            )
        key = (score.muscle_group, score.side)
        if key in seen:
            problems.append(
                FieldProblem(
                    f"ashworth.{score.muscle_group.value}.{score.side.value}",
                    f"The {where} is scored twice.",
                )
            )
        seen.add(key)
    if entry.penn_frequency is not None and entry.penn_frequency not in PENN_FREQUENCY_LABELS:
        low, high = min(PENN_FREQUENCY_LABELS), max(PENN_FREQUENCY_LABELS)
        problems.append(
            FieldProblem("penn_frequency", f"Penn spasm frequency runs from {low} to {high}.")
        )
    if entry.penn_severity is not None:
        if entry.penn_severity not in PENN_SEVERITY_LABELS:
            low, high = min(PENN_SEVERITY_LABELS), max(PENN_SEVERITY_LABELS)
            problems.append(
                FieldProblem("penn_severity", f"Penn spasm severity runs from {low} to {high}.")
            )
        elif entry.penn_frequency == 0:
            problems.append(
                FieldProblem("penn_severity", "Severity is only scored when there are spasms.")
            )
    recall = collect_text(
        problems, "penn_recall_period", entry.penn_recall_period, "label", required=False
    )
    if entry.penn_frequency is not None and not entry.penn_recall_period:
        problems.append(
            FieldProblem("penn_recall_period", "Say over what period spasms were recalled.")
        )
    _in_range("nrs", "pain_nrs", entry.pain_nrs, problems)
    _in_range("nrs", "stiffness_nrs", entry.stiffness_nrs, problems)
    for name in POWER_FIELDS:
        _in_range("power", name, getattr(entry, name), problems)
    goals = []
    for index, goal in enumerate(entry.goals):
        text = collect_text(
            problems,
            f"goals.{index}",
            goal.goal,
            "goal",
            required=True,
            missing="A goal needs a description.",
            label=f"Goal {index + 1}",
        )
        goals.append(goal.model_copy(update={"goal": text}))
        if goal.rating is not None and not -2 <= goal.rating <= 2:
            problems.append(
                FieldProblem(f"goals.{index}", "Goal attainment is rated from -2 to +2.")
            )
    note = _note(entry.note, problems)
    timing_reason = _note(entry.timing_reason, problems, "timing_reason")
    if problems:
        raise InvalidEntry(problems)
    return entry.model_copy(
        update={
            "note": note,
            "timing_reason": timing_reason,
            "penn_recall_period": recall,
            "goals": goals,
        }
    )


def check_assessment_timing(
    entry: AssessmentEntry, given_at: datetime | None
) -> tuple[float | None, bool]:
    """Baseline scores before the injection; "4 hours (peak)" scores inside the peak window
    after it, or a recorded reason. Returns (hours after the injection, outside the window)."""
    if given_at is None:
        return None, False
    limits = load_limits().trial_day
    hours = (entry.assessed_at - given_at).total_seconds() / 3600
    since = _span(hours)
    if entry.time_point is AssessmentTimePoint.BASELINE and hours > 0:
        raise InvalidEntry.single(
            "assessed_at",
            f"Baseline scores must be taken before the injection: this time is {since} after "
            "it. Record them as another time point, or check the time.",
        )
    outside = entry.time_point is AssessmentTimePoint.FOUR_HOURS and not (
        limits.peak_window_start_hours <= hours <= limits.peak_window_end_hours
    )
    if outside and not entry.timing_reason:
        raise InvalidEntry.single(
            "timing_reason",
            f"These 4-hour (peak) scores are {since} after the injection, outside the peak "
            f"window ({_span(limits.peak_window_start_hours)} to "
            f"{_span(limits.peak_window_end_hours)} after it). Check the time, record them as "
            "another time point, or say why they were taken then.",
        )
    return hours, outside


def _span(hours: float) -> str:
    minutes = round(hours * 60)
    sign, minutes = ("-" if minutes < 0 else ""), abs(minutes)
    return f"{sign}{minutes // 60} h {minutes % 60:02d} min"


# ----------------------------------------------------------------------------- readings


# The unit a device reading of each parameter must be in.
DEVICE_UNITS = {parameter: UNITS[parameter].display for parameter in UNITS}


class ReadingIn(NamedTuple):
    """One device sample of one parameter, as the monitor hands it to the record.

    A named tuple: the monitor makes one for every value of every frame, at a third of the
    cost of a frozen dataclass.
    """

    trial_id: int
    parameter: Parameter
    value: float | None
    device_time: datetime
    received_at: datetime
    source_device: str
    flags: frozenset[QualityFlag] = frozenset()
    raw_status: dict[str, Any] | None = None
    unit: str | None = None  # defaults to the parameter's canonical unit


def check_reading(reading: ReadingIn) -> str:
    """Validate one reading; return its unit. Refuses unit mix-ups rather than converting."""
    try:
        parameter = Parameter(reading.parameter)
    except ValueError:
        raise InvalidEntry.single(
            "parameter",
            f"{shown(reading.parameter, 'That parameter')} is not a parameter the record knows.",
        ) from None
    unit = UNITS[parameter].display
    if reading.unit is not None and reading.unit != unit:
        raise InvalidEntry.single(
            "unit",
            f"{LABELS[parameter]} must be recorded in '{unit}', "
            f"not {shown(reading.unit, 'that unit')}.",
        )
    clean_text("source_device", reading.source_device, "device", required=True, as_given=True)
    problems: list[FieldProblem] = []
    for name in ("device_time", "received_at"):
        if getattr(reading, name) is None:
            problems.append(FieldProblem(name, f"{_label(name)} is missing."))
    _aware("device_time", reading.device_time, problems)
    _aware("received_at", reading.received_at, problems)
    if reading.value is not None and not math.isfinite(reading.value):
        problems.append(FieldProblem("value", f"{LABELS[parameter]} is not a number."))
    if problems:
        raise InvalidEntry(problems)
    return unit
