"""HL7 v2.5 ORU^R01 of a trial's observation sets, built with hl7apy.

One OBR per current observation set (a correction replaces the set it corrects and is sent
with result status C), one OBX per value present. Vital signs carry LOINC codes and UCUM
units; the NEWS2 total (SNOMED CT) is sent only for a complete set. Values without an agreed
code (ACVPU, POSS, oxygen, limb power, side effects) carry local codes (coding system "L").

Free text is escaped with hl7apy's own escaping (the TX data type). Line breaks are turned
into spaces first: a raw carriage return would end the segment, and hl7apy does not escape it.
"""

from __future__ import annotations

from datetime import UTC, datetime

from hl7apy.base_datatypes import TX
from hl7apy.core import Group, Message

from observations.exports.csv_export import format_number
from observations.exports.snapshot import TrialSnapshot, take_snapshot
from observations.record import TrialRecord
from observations.set_scores import NOT_YET_SCORED
from observations.views import ObservationSetView
from vocabulary import (
    LABELS,
    LOINC,
    SIDE_EFFECT_LABELS,
    SNOMED_NEWS2_TOTAL,
    UNITS,
    Parameter,
    SideEffect,
)

SENDING_APPLICATION = "ITBMON"
NHS_AUTHORITY = "NHS"
# The trust's assigning authority for hospital numbers is site configuration.
DEFAULT_MRN_AUTHORITY = "HOSP"
SET_SERVICE = ("ITBOBS", "ITB trial observation set", "L")

# Observation-set values in chart order, with their HL7 data type.
NUMERIC_LOINC = (
    Parameter.RR,
    Parameter.SPO2,
    Parameter.SYSTOLIC,
    Parameter.DIASTOLIC,
    Parameter.PULSE_RATE,
    Parameter.TEMP,
)
LOCAL_CODED = (Parameter.ON_OXYGEN, Parameter.CONSCIOUSNESS, Parameter.POSS)
LOCAL_NUMERIC = (
    Parameter.POWER_LEFT_LEG,
    Parameter.POWER_RIGHT_LEG,
    Parameter.POWER_LEFT_ARM,
    Parameter.POWER_RIGHT_ARM,
)


def hl7_text(value: object) -> str:
    """Free text made safe for one ER7 component (|, ^, &, ~ and \\ escaped by hl7apy)."""
    text = " ".join(str(value).splitlines())
    return str(TX(text).to_er7())


def er7(*components: object) -> str:
    """A field from components, each escaped; trailing empty components dropped."""
    parts = ["" if c is None else hl7_text(c) for c in components]
    while parts and not parts[-1]:
        parts.pop()
    return "^".join(parts)


def hl7_time(moment: datetime) -> str:
    """HL7 DTM in UTC with an explicit offset, so no receiver guesses the zone."""
    return moment.astimezone(UTC).strftime("%Y%m%d%H%M%S+0000")


class _Message:
    def __init__(self, snap: TrialSnapshot) -> None:
        self.snap = snap
        self.message = Message("ORU_R01", version="2.5")
        self.result = self.message.add_group("ORU_R01_PATIENT_RESULT")

    def header(
        self, facility: str, receiving_application: str, receiving_facility: str, control_id: str
    ) -> None:
        msh = self.message.msh
        msh.msh_3 = er7(SENDING_APPLICATION)
        msh.msh_4 = er7(facility)
        msh.msh_5 = er7(receiving_application)
        msh.msh_6 = er7(receiving_facility)
        msh.msh_7 = hl7_time(self.snap.generated_at)
        msh.msh_9 = "ORU^R01^ORU_R01"
        msh.msh_10 = er7(control_id)
        msh.msh_11 = "P"
        msh.msh_12 = "2.5"
        msh.msh_18 = "UNICODE UTF-8"

    def patient(self, mrn_authority: str) -> None:
        patient = self.snap.trial.patient
        pid = self.result.add_group("ORU_R01_PATIENT").add_segment("PID")
        pid.pid_1 = "1"
        # Two identifiers, each with its assigning authority and type (NH, MR).
        nhs = pid.add_field("pid_3")
        nhs.value = er7(patient.nhs_number, None, None, NHS_AUTHORITY, "NH")
        mrn = pid.add_field("pid_3")
        mrn.value = er7(patient.hospital_number, None, None, mrn_authority, "MR")
        pid.pid_5 = er7(patient.family_name, patient.given_name)
        pid.pid_7 = patient.date_of_birth.strftime("%Y%m%d")

    def observation_set(self, index: int, obs: ObservationSetView) -> None:
        group = self.result.add_group("ORU_R01_ORDER_OBSERVATION")
        status = "C" if obs.supersedes_id else "F"
        obr = group.add_segment("OBR")
        obr.obr_1 = str(index)
        obr.obr_3 = er7(f"ITB{self.snap.trial.id}-SET{obs.id}", SENDING_APPLICATION)
        obr.obr_4 = er7(*SET_SERVICE)
        obr.obr_7 = hl7_time(obs.measured_at)
        obr.obr_22 = hl7_time(obs.entered_at)
        obr.obr_25 = status
        notes = [obs.note] if obs.note else []
        if obs.correction_reason:
            notes.append(f"Correction: {obs.correction_reason}")
        score = self.snap.set_scores.get(obs.id)
        if score is None:
            notes.append(f"NEWS2 {NOT_YET_SCORED}.")
        else:
            notes += [
                f"NEWS2 used {label} {format_number(value)} from the device reading of the "
                "set's time."
                for label, value, source in (
                    ("SpO2", score.spo2, score.spo2_from),
                    ("pulse", score.pulse, score.pulse_from),
                )
                if source == "device" and value is not None
            ]
        for number, note in enumerate(notes, start=1):
            nte = group.add_segment("NTE")
            nte.nte_1 = str(number)
            nte.nte_2 = "L"
            nte.nte_3 = hl7_text(note)
        values = _Values(self.snap, obs, status)
        for parameter in NUMERIC_LOINC:
            value = getattr(obs, parameter.value)
            if value is not None:
                values.add(
                    "NM",
                    er7(LOINC[parameter], LABELS[parameter], "LN"),
                    format_number(value),
                    er7(UNITS[parameter].ucum, UNITS[parameter].display, "UCUM"),
                    parameter,
                )
        if score is not None and score.total is not None:  # a partial set has no total
            values.add(
                "NM",
                er7(SNOMED_NEWS2_TOTAL, "NEWS2 total score", "SCT"),
                str(score.total),
                None,
                None,
                method=("CALC", "Calculated", "L"),
            )
        for parameter in LOCAL_CODED:
            value = getattr(obs, parameter.value)
            if value is not None:
                shown = ("Y" if value else "N") if isinstance(value, bool) else str(value)
                values.add(
                    "ST",
                    er7(parameter.value.upper(), LABELS[parameter], "L"),
                    hl7_text(shown),
                    None,
                    parameter,
                )
        for parameter in LOCAL_NUMERIC:
            value = getattr(obs, parameter.value)
            if value is not None:
                values.add(
                    "NM",
                    er7(parameter.value.upper(), LABELS[parameter], "L"),
                    format_number(value),
                    None,
                    parameter,
                )
        if obs.side_effects is not None:
            code = er7("SIDE_EFFECT", "Side effect", "L")
            for effect in obs.side_effects or ["none"]:
                label = "None" if effect == "none" else SIDE_EFFECT_LABELS[SideEffect(effect)]
                values.add("CE", code, er7(effect, label, "L"), None, None)
        for obx_group in values.groups:
            group.add(obx_group)

    def to_er7(self) -> str:
        return str(self.message.to_er7())


class _Values:
    """The OBX segments of one observation set, numbered from 1."""

    def __init__(self, snap: TrialSnapshot, obs: ObservationSetView, status: str) -> None:
        self.snap = snap
        self.obs = obs
        self.status = status
        self.groups: list[Group] = []
        self.prefilled = set(obs.device_prefilled or ())

    def add(
        self,
        value_type: str,
        code: str,
        value: str,
        unit: str | None,
        parameter: Parameter | None,
        method: tuple[str, str, str] | None = None,
    ) -> None:
        group = Group("ORU_R01_OBSERVATION", version="2.5")
        obx = group.add_segment("OBX")
        obx.obx_1 = str(len(self.groups) + 1)
        obx.obx_2 = value_type
        obx.obx_3 = code
        obx.obx_5 = value
        if unit:
            obx.obx_6 = unit
        obx.obx_11 = self.status
        obx.obx_14 = hl7_time(self.obs.measured_at)
        obx.obx_16 = er7(None, self.snap.user_name(self.obs.entered_by))
        if method is None:
            from_device = parameter is not None and parameter.value in self.prefilled
            method = (
                ("DEVPREFILL", "Manual entry, prefilled from device", "L")
                if from_device
                else ("MANUAL", "Manual entry", "L")
            )
        obx.obx_17 = er7(*method)
        self.groups.append(group)


def snapshot_oru(
    snap: TrialSnapshot,
    *,
    facility: str = "",
    receiving_application: str = "",
    receiving_facility: str = "",
    mrn_authority: str = DEFAULT_MRN_AUTHORITY,
    control_id: str | None = None,
) -> str:
    message = _Message(snap)
    control = control_id or f"ITB{snap.trial.id}-{hl7_time(snap.generated_at)[:14]}"
    message.header(facility, receiving_application, receiving_facility, control)
    message.patient(mrn_authority)
    for index, obs in enumerate(snap.current_sets, start=1):
        message.observation_set(index, obs)
    return message.to_er7()


def trial_hl7_oru(
    record: TrialRecord,
    trial_id: int,
    *,
    facility: str = "",
    receiving_application: str = "",
    receiving_facility: str = "",
    mrn_authority: str = DEFAULT_MRN_AUTHORITY,
    control_id: str | None = None,
) -> bytes:
    """ORU^R01 (HL7 v2.5) of the trial's current observation sets: ER7, segments ended by CR,
    UTF-8 bytes (MSH-18 says so)."""
    snap = take_snapshot(record, trial_id)
    return snapshot_oru(
        snap,
        facility=facility,
        receiving_application=receiving_application,
        receiving_facility=receiving_facility,
        mrn_authority=mrn_authority,
        control_id=control_id,
    ).encode("utf-8")
