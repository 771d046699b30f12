"""CSV of a trial: every device reading, every observation-set value, scores and alarm events.

Long format (one value per row), so a reading, a manual entry and an alarm event share one
layout. A missing value is an empty cell, never 0; every text cell goes through
``safe_csv`` so a spreadsheet cannot run it as a formula. Each current set's NEWS2 is the
monitor's, as stored (record type ``news2``); a set it has not scored yet says so.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from observations.entries import measure_label
from observations.exports.snapshot import TrialSnapshot, take_snapshot
from observations.record import TrialRecord
from observations.safe_csv import to_csv
from observations.set_scores import NOT_YET_SCORED
from observations.views import AssessmentView, ObservationSetView
from vocabulary import (
    LABELS,
    SIDE_EFFECT_LABELS,
    UNITS,
    Parameter,
    SideEffect,
)

CSV_COLUMNS: tuple[str, ...] = (
    "trial_id",
    "nhs_number",
    "hospital_number",
    "record_type",
    "record_id",
    "time_utc",
    "time_ward",
    "parameter",
    "label",
    "value",
    "unit",
    "ucum",
    "source",
    "device",
    "flags",
    "priority",
    "entered_by",
    "status",
    "detail",
)

# Observation-set fields in chart order; all of them are Parameters in vocabulary.
SET_FIELDS: tuple[Parameter, ...] = (
    Parameter.RR,
    Parameter.SPO2,
    Parameter.ON_OXYGEN,
    Parameter.SYSTOLIC,
    Parameter.DIASTOLIC,
    Parameter.PULSE_RATE,
    Parameter.CONSCIOUSNESS,
    Parameter.TEMP,
    Parameter.POSS,
    Parameter.POWER_LEFT_LEG,
    Parameter.POWER_RIGHT_LEG,
    Parameter.POWER_LEFT_ARM,
    Parameter.POWER_RIGHT_ARM,
)


def iso_utc(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def format_number(value: float | int) -> str:
    """97.0 -> '97', 36.8 -> '36.8': no float noise and no exponent."""
    if isinstance(value, bool):
        raise TypeError("a yes/no value is not a number")
    as_float = float(value)
    if as_float.is_integer():
        return str(int(as_float))
    return repr(as_float)


def format_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float):
        return format_number(value)
    return str(value)


def _set_status(obs: ObservationSetView, replaced: set[int]) -> str:
    if obs.id in replaced:
        return "superseded"
    return "correction" if obs.supersedes_id else "current"


class _Rows:
    def __init__(self, snap: TrialSnapshot) -> None:
        self.snap = snap
        patient = snap.trial.patient
        self.ids = [snap.trial.id, patient.nhs_number, patient.hospital_number]

    def row(self, record_type: str, moment: datetime, **cells: Any) -> tuple[datetime, list[Any]]:
        values = {
            "record_type": record_type,
            "time_utc": iso_utc(moment),
            "time_ward": self.snap.ward(moment),
            **cells,
        }
        return moment, [*self.ids, *(values.get(name) for name in CSV_COLUMNS[3:])]

    def readings(self) -> Iterator[tuple[datetime, list[Any]]]:
        for reading in self.snap.device_readings:
            parameter = Parameter(reading.parameter)
            yield self.row(
                "reading",
                reading.time,
                parameter=parameter.value,
                label=LABELS[parameter],
                value=format_value(reading.value),
                unit=UNITS[parameter].display,
                ucum=UNITS[parameter].ucum,
                source="device",
                device=reading.device,
                flags=reading.flags,
            )

    def observations(self) -> Iterator[tuple[datetime, list[Any]]]:
        replaced = {s.supersedes_id for s in self.snap.observation_sets if s.supersedes_id}
        for obs in self.snap.observation_sets:
            common = {
                "record_id": obs.id,
                "entered_by": self.snap.user_name(obs.entered_by),
                "status": _set_status(obs, replaced),
                "detail": obs.correction_reason,
            }
            prefilled = set(obs.device_prefilled or ())
            for parameter in SET_FIELDS:
                value = getattr(obs, parameter.value)
                if value is None:
                    continue  # not measured: no row, rather than a row that looks like a value
                unit = UNITS[parameter]
                yield self.row(
                    "observation",
                    obs.measured_at,
                    parameter=parameter.value,
                    label=LABELS[parameter],
                    value=format_value(value),
                    unit=unit.display,
                    ucum=unit.ucum if unit.display else "",
                    source=(
                        "manual, prefilled from device"
                        if parameter.value in prefilled
                        else "manual"
                    ),
                    **common,
                )
            if obs.side_effects is not None:
                # An empty list means "checked, none": worth a row, unlike "not checked".
                effects = obs.side_effects or ["none"]
                for effect in effects:
                    label = "None" if effect == "none" else SIDE_EFFECT_LABELS[SideEffect(effect)]
                    yield self.row(
                        "observation",
                        obs.measured_at,
                        parameter="side_effect",
                        label=label,
                        value=effect,
                        source="manual",
                        **common,
                    )
            if obs.note:
                yield self.row(
                    "observation",
                    obs.measured_at,
                    parameter="note",
                    label="Note",
                    value=obs.note,
                    source="manual",
                    **common,
                )

    def news2(self) -> Iterator[tuple[datetime, list[Any]]]:
        """The monitor's NEWS2 of each current set: total and band, or why there is none."""
        for obs in self.snap.current_sets:
            score = self.snap.set_scores.get(obs.id)
            common = {
                "record_id": obs.id,
                "parameter": "news2_total",
                "label": "NEWS2 total (scored by the monitor)",
                "source": "monitor",
            }
            if score is None:
                yield self.row("news2", obs.measured_at, status=NOT_YET_SCORED, **common)
                continue
            details = [f"rule set {score.rule_set_version}", f"SpO2 scale {score.spo2_scale}"]
            if score.missing:
                details.insert(0, "missing: " + ", ".join(score.missing))
            details += [
                f"{label} {format_number(value)} from the device"
                for label, value, source in (
                    ("SpO2", score.spo2, score.spo2_from),
                    ("pulse", score.pulse, score.pulse_from),
                )
                if source == "device" and value is not None
            ]
            yield self.row(
                "news2",
                obs.measured_at,
                value=format_value(score.total),
                status=score.band,
                detail="; ".join(details),
                **common,
            )

    def assessments(self) -> Iterator[tuple[datetime, list[Any]]]:
        for assessment in self.snap.assessments:
            for parameter, label, value in assessment_values(assessment):
                yield self.row(
                    "assessment",
                    assessment.assessed_at,
                    record_id=assessment.id,
                    parameter=parameter,
                    label=label,
                    value=format_value(value),
                    source="manual",
                    entered_by=self.snap.user_name(assessment.assessed_by),
                    status=assessment.time_point,
                    detail=assessment.correction_reason,
                )

    def alarm_events(self) -> Iterator[tuple[datetime, list[Any]]]:
        for event in self.snap.alarm_events:
            yield self.row(
                "alarm_event",
                event.at,
                record_id=event.alarm_id,
                parameter=event.rule_id,
                label=event.message,
                value=event.event,
                source=event.kind,
                priority=event.priority,
                entered_by=self.snap.user_name(event.by_user),
                detail=event.note,
            )


def assessment_values(assessment: AssessmentView) -> Iterator[tuple[str, str, Any]]:
    """(parameter, label, value) of every score present in one assessment."""
    scale = assessment.ashworth_scale
    scale_words = scale.replace("_", " ").capitalize()
    for score in assessment.ashworth:
        muscle = score.muscle_group.replace("_", " ")
        yield (
            f"{scale}.{score.muscle_group}.{score.side}",
            f"{scale_words}, {score.side} {muscle}",
            score.label,
        )
    simple = (
        ("penn_frequency", measure_label("penn_frequency"), assessment.penn_frequency),
        ("penn_severity", measure_label("penn_severity"), assessment.penn_severity),
        ("penn_recall_period", "Penn recall period", assessment.penn_recall_period),
        ("pain_nrs", measure_label("pain_nrs"), assessment.pain_nrs),
        ("stiffness_nrs", measure_label("stiffness_nrs"), assessment.stiffness_nrs),
        *(
            (p.value, LABELS[p], getattr(assessment, p.value))
            for p in (
                Parameter.POWER_LEFT_LEG,
                Parameter.POWER_RIGHT_LEG,
                Parameter.POWER_LEFT_ARM,
                Parameter.POWER_RIGHT_ARM,
            )
        ),
    )
    for parameter, label, value in simple:
        if value is not None:
            yield parameter, label, value
    for index, goal in enumerate(assessment.goals, start=1):
        # The goal text is the label; its attainment rating (-2..+2) the value, if rated.
        yield f"goal.{index}", goal.goal, goal.rating
    if assessment.note:
        yield "note", "Note", assessment.note


def snapshot_csv(snap: TrialSnapshot) -> bytes:
    rows = _Rows(snap)
    timed = [
        *rows.readings(),
        *rows.observations(),
        *rows.news2(),
        *rows.assessments(),
        *rows.alarm_events(),
    ]
    # Time order across record types; stable, so a set's values keep their chart order.
    timed.sort(key=lambda pair: pair[0])
    # UTF-8 with a byte-order mark: Excel otherwise garbles '°C' and accented names.
    return to_csv(CSV_COLUMNS, [row for _, row in timed]).encode("utf-8-sig")


def trial_csv(record: TrialRecord, trial_id: int) -> bytes:
    """All readings, observation-set values (corrections kept and marked), the monitor's NEWS2
    of each current set, spasticity scores and alarm events of one trial, as CSV bytes (UTF-8
    with BOM, CRLF line ends)."""
    return snapshot_csv(take_snapshot(record, trial_id))
