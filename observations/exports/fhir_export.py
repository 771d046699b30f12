"""FHIR R4 Bundle (type collection) of a trial's Observations, built and validated with
``fhir.resources``' R4B models (``fhir.resources.R4B``; the package's top level is R5).
R4B is wire-compatible with R4 for Patient, Observation and Bundle.

Only values that exist become Observations: a flagged device sample without a number, or a
field the nurse left empty, produces nothing. Device readings carry a ``device`` reference and
the method "device"; manual entries carry the nurse as performer and the method "manual".
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta
from typing import Any

from fhir.resources.R4B.bundle import Bundle

from observations.exports.csv_export import iso_utc
from observations.exports.snapshot import GENERATOR, DeviceReading, TrialSnapshot, take_snapshot
from observations.record import TrialRecord
from observations.set_scores import NOT_YET_SCORED
from observations.views import AssessmentView, ObservationSetView
from vocabulary import (
    LABELS,
    LOINC,
    LOINC_ALSO,
    LOINC_BP_PANEL,
    SNOMED_NEWS2_TOTAL,
    UNITS,
    AshworthScale,
    Parameter,
)

LOINC_SYSTEM = "http://loinc.org"
SNOMED_SYSTEM = "http://snomed.info/sct"
UCUM_SYSTEM = "http://unitsofmeasure.org"
CATEGORY_SYSTEM = "http://terminology.hl7.org/CodeSystem/observation-category"
IDENTIFIER_TYPE_SYSTEM = "http://terminology.hl7.org/CodeSystem/v2-0203"
NHS_NUMBER_SYSTEM = "https://fhir.nhs.uk/Id/nhs-number"
# The trust's own namespace for hospital numbers is site configuration; this local URN says
# plainly that it is not a national system. Pass the trust's URI as ``mrn_system``.
DEFAULT_MRN_SYSTEM = "urn:itbmon:hospital-number"
# The vital-signs profile's fixed method words are free text here: no code system agreed.
METHOD_DEVICE = "Device reading"
METHOD_MANUAL = "Manual entry"
METHOD_PREFILLED = "Manual entry, prefilled from a device reading"
METHOD_NEWS2 = "Calculated (RCP NEWS2, 2017) by the ITB Trial Monitor rules engine"
DATA_ABSENT_SYSTEM = "http://terminology.hl7.org/CodeSystem/data-absent-reason"
# One device sample per parameter per minute keeps a 4-hour day at a few hundred
# Observations instead of tens of thousands; the sample is a real reading, never an average.
DEFAULT_DEVICE_EVERY = timedelta(minutes=1)

ASSESSMENT_WORDS = {"baseline": "Baseline assessment", "4h": "4-hour assessment"}
SCALE_WORDS = {
    AshworthScale.MODIFIED: "Modified Ashworth Scale",
    AshworthScale.ORIGINAL: "Ashworth Scale (original, 0-4)",
    AshworthScale.ORIGINAL_1_TO_5: "Ashworth Scale (1-5 variant)",
}
_NAMESPACE = uuid.UUID("2b8f4c1e-5a57-4a0e-9d0b-6f1f3b7e2a10")


def _urn(*parts: object) -> str:
    """Stable per trial and item: exporting twice gives the same fullUrls."""
    return f"urn:uuid:{uuid.uuid5(_NAMESPACE, '/'.join(str(p) for p in parts))}"


def _category(code: str, display: str) -> list[dict[str, Any]]:
    return [{"coding": [{"system": CATEGORY_SYSTEM, "code": code, "display": display}]}]


def _loinc(parameter: Parameter) -> dict[str, Any]:
    codes = (LOINC[parameter], *LOINC_ALSO.get(parameter, ()))
    codings = [{"system": LOINC_SYSTEM, "code": code} for code in codes]
    return {"coding": codings, "text": LABELS[parameter]}


def _quantity(parameter: Parameter, value: float) -> dict[str, Any]:
    unit = UNITS[parameter]
    return {"value": value, "unit": unit.display, "system": UCUM_SYSTEM, "code": unit.ucum}


def _number(value: float) -> int | float:
    return int(value) if float(value).is_integer() else float(value)


class _Builder:
    def __init__(self, snap: TrialSnapshot, device_every: timedelta | None) -> None:
        self.snap = snap
        self.device_every = device_every
        self.trial_id = snap.trial.id
        self.patient_url = _urn("patient", snap.trial.patient.id)
        self.entries: list[dict[str, Any]] = []

    def add(self, url: str, resource: dict[str, Any]) -> None:
        self.entries.append({"fullUrl": url, "resource": resource})

    def observation(
        self, url: str, code: dict[str, Any], at: datetime, **fields: Any
    ) -> dict[str, Any]:
        resource = {
            "resourceType": "Observation",
            "status": "final",
            "category": _category("vital-signs", "Vital Signs"),
            "code": code,
            "subject": {"reference": self.patient_url},
            "effectiveDateTime": iso_utc(at),
            **fields,
        }
        self.add(url, resource)
        return resource

    # ------------------------------------------------------------------ device readings

    def _sampled(self, readings: Iterable[DeviceReading]) -> Iterator[DeviceReading]:
        """The first reading with a value in each interval, per parameter and device."""
        seen: set[tuple[str, str, int]] = set()
        step = self.device_every.total_seconds() if self.device_every else None
        for reading in readings:
            if reading.value is None:
                continue
            if step is None:
                yield reading
                continue
            key = (reading.parameter, reading.device, int(reading.time.timestamp() // step))
            if key not in seen:
                seen.add(key)
                yield reading

    def _device_fields(self, reading: DeviceReading) -> dict[str, Any]:
        fields: dict[str, Any] = {
            "device": {"display": reading.device},
            "method": {"text": METHOD_DEVICE},
        }
        if reading.flags:
            fields["note"] = [{"text": f"Device quality flags: {reading.flags}"}]
        return fields

    def device_readings(self) -> None:
        readings = self.snap.device_readings
        bp_parts = {Parameter.SYSTOLIC.value, Parameter.DIASTOLIC.value}
        singles = [r for r in readings if r.parameter in LOINC and r.parameter not in bp_parts]
        for reading in self._sampled(singles):
            parameter = Parameter(reading.parameter)
            self.observation(
                _urn(
                    "trial",
                    self.trial_id,
                    "device",
                    reading.parameter,
                    reading.device,
                    reading.time.isoformat(),
                ),
                _loinc(parameter),
                reading.time,
                valueQuantity=_quantity(parameter, _number(reading.value or 0)),
                **self._device_fields(reading),
            )
        # Systolic and diastolic of one cuff measurement share a device time: one panel.
        diastolic = {
            (r.device, r.time): r
            for r in readings
            if r.parameter == Parameter.DIASTOLIC.value and r.value is not None
        }
        systolic = [r for r in readings if r.parameter == Parameter.SYSTOLIC.value]
        for reading in self._sampled(systolic):
            partner = diastolic.get((reading.device, reading.time))
            values = {Parameter.SYSTOLIC: reading.value}
            if partner is not None:
                values[Parameter.DIASTOLIC] = partner.value
            self.blood_pressure(
                _urn(
                    "trial", self.trial_id, "device", "bp", reading.device, reading.time.isoformat()
                ),
                reading.time,
                values,
                self._device_fields(reading),
            )

    def blood_pressure(
        self,
        url: str,
        at: datetime,
        values: dict[Parameter, float | None],
        fields: dict[str, Any],
    ) -> None:
        components = [
            {"code": _loinc(p), "valueQuantity": _quantity(p, _number(v))}
            for p, v in values.items()
            if v is not None
        ]
        self.observation(
            url,
            {
                "coding": [{"system": LOINC_SYSTEM, "code": LOINC_BP_PANEL}],
                "text": "Blood pressure",
            },
            at,
            component=components,
            **fields,
        )

    # ------------------------------------------------------------------ observation sets

    def observation_sets(self) -> None:
        for obs in self.snap.current_sets:
            self.observation_set(obs)

    def observation_set(self, obs: ObservationSetView) -> None:
        prefilled = set(obs.device_prefilled or ())
        nurse = self.snap.user_name(obs.entered_by)
        status = "amended" if obs.supersedes_id else "final"
        urls: list[str] = []

        def fields(*parameters: Parameter) -> dict[str, Any]:
            from_device = any(p.value in prefilled for p in parameters)
            return {
                "status": status,
                "performer": [{"display": nurse}],
                "method": {"text": METHOD_PREFILLED if from_device else METHOD_MANUAL},
            }

        for parameter in (Parameter.RR, Parameter.SPO2, Parameter.PULSE_RATE, Parameter.TEMP):
            value = getattr(obs, parameter.value)
            if value is None:
                continue
            url = _urn("trial", self.trial_id, "set", obs.id, parameter.value)
            self.observation(
                url,
                _loinc(parameter),
                obs.measured_at,
                valueQuantity=_quantity(parameter, _number(value)),
                **fields(parameter),
            )
            urls.append(url)
        if obs.systolic is not None or obs.diastolic is not None:
            url = _urn("trial", self.trial_id, "set", obs.id, "bp")
            self.blood_pressure(
                url,
                obs.measured_at,
                {Parameter.SYSTOLIC: obs.systolic, Parameter.DIASTOLIC: obs.diastolic},
                fields(Parameter.SYSTOLIC, Parameter.DIASTOLIC),
            )
            urls.append(url)
        self.news2(obs, urls, fields())

    def news2(
        self, obs: ObservationSetView, derived_from: list[str], fields: dict[str, Any]
    ) -> None:
        """The monitor's NEWS2 of the set, as stored: a total only for a complete set (a
        partial set has no total); a set the monitor has not scored yet is sent as such,
        with no value, never with a number worked out here."""
        url = _urn("trial", self.trial_id, "set", obs.id, "news2")
        code = {
            "coding": [{"system": SNOMED_SYSTEM, "code": SNOMED_NEWS2_TOTAL}],
            "text": "NEWS2 total score",
        }
        score = self.snap.set_scores.get(obs.id)
        if score is None:
            self.observation(
                url,
                code,
                obs.measured_at,
                category=_category("survey", "Survey"),
                **{**fields, "status": "registered", "method": {"text": METHOD_NEWS2}},
                dataAbsentReason={
                    "coding": [{"system": DATA_ABSENT_SYSTEM, "code": "temp-unknown"}],
                    "text": NOT_YET_SCORED,
                },
                derivedFrom=[{"reference": u} for u in derived_from],
            )
            return
        if score.total is None:
            return
        notes = [
            f"Band: {score.band}; SpO2 scale {score.spo2_scale}; rule set {score.rule_set_version}"
        ]
        for label, unit, value, source in (
            ("SpO2", " %", score.spo2, score.spo2_from),
            ("Pulse", "/min", score.pulse, score.pulse_from),
        ):
            if source == "device" and value is not None:
                notes.append(
                    f"{label} {_number(value)}{unit} from the device reading of the set's time"
                )
        self.observation(
            url,
            code,
            obs.measured_at,
            category=_category("survey", "Survey"),
            valueInteger=score.total,
            derivedFrom=[{"reference": u} for u in derived_from],
            note=[{"text": text} for text in notes],
            **{**fields, "method": {"text": METHOD_NEWS2}},
        )

    # ------------------------------------------------------------------ spasticity scores

    def assessments(self) -> None:
        for assessment in self.snap.assessments:
            self.ashworth(assessment)

    def ashworth(self, assessment: AssessmentView) -> None:
        scale = AshworthScale(assessment.ashworth_scale)
        when = ASSESSMENT_WORDS.get(assessment.time_point, "Assessment")
        for score in assessment.ashworth:
            muscle = score.muscle_group.replace("_", " ")
            self.observation(
                _urn(
                    "trial",
                    self.trial_id,
                    "assessment",
                    assessment.id,
                    score.muscle_group,
                    score.side,
                ),
                # No LOINC or SNOMED code for an Ashworth score is agreed for this exchange:
                # text only, rather than an invented code.
                {"text": f"{SCALE_WORDS[scale]} score"},
                assessment.assessed_at,
                status="amended" if assessment.supersedes_id else "final",
                category=_category("exam", "Exam"),
                valueString=score.label,
                bodySite={"text": f"{score.side.capitalize()} {muscle}"},
                method={"text": SCALE_WORDS[scale]},
                performer=[{"display": self.snap.user_name(assessment.assessed_by)}],
                note=[{"text": when}],
            )

    # ------------------------------------------------------------------ patient

    def patient(self, mrn_system: str) -> None:
        patient = self.snap.trial.patient
        self.add(
            self.patient_url,
            {
                "resourceType": "Patient",
                "identifier": [
                    {"system": NHS_NUMBER_SYSTEM, "value": patient.nhs_number},
                    {
                        "type": {"coding": [{"system": IDENTIFIER_TYPE_SYSTEM, "code": "MR"}]},
                        "system": mrn_system,
                        "value": patient.hospital_number,
                    },
                ],
                "name": [{"family": patient.family_name, "given": [patient.given_name]}],
                "birthDate": patient.date_of_birth.isoformat(),
            },
        )


def snapshot_bundle(
    snap: TrialSnapshot,
    mrn_system: str = DEFAULT_MRN_SYSTEM,
    device_every: timedelta | None = DEFAULT_DEVICE_EVERY,
) -> Bundle:
    builder = _Builder(snap, device_every)
    builder.patient(mrn_system)
    builder.observation_sets()
    builder.device_readings()
    builder.assessments()
    # Validation happens here: a resource fhir.resources rejects raises before anything is written.
    return Bundle.model_validate(
        {
            "resourceType": "Bundle",
            "type": "collection",
            "identifier": {
                "system": f"urn:itbmon:{GENERATOR.replace(' ', '-').lower()}:export",
                "value": f"trial-{snap.trial.id}-{iso_utc(snap.generated_at)}",
            },
            "timestamp": iso_utc(snap.generated_at),
            "entry": builder.entries,
        }
    )


def trial_fhir_bundle(
    record: TrialRecord,
    trial_id: int,
    *,
    mrn_system: str = DEFAULT_MRN_SYSTEM,
    device_every: timedelta | None = DEFAULT_DEVICE_EVERY,
) -> bytes:
    """The trial as a FHIR R4 collection Bundle, JSON bytes (UTF-8).

    ``device_every``: keep the first device reading per parameter in each interval (None keeps
    every reading). Observation sets and scores are always complete.
    """
    bundle = snapshot_bundle(take_snapshot(record, trial_id), mrn_system, device_every)
    return bundle.model_dump_json(exclude_none=True).encode("utf-8")
