"""Words every layer shares: parameters, units, codes, flags, priorities, statuses.

No dependencies beyond the standard library, so devices/, rules/, observations/, monitor/ and
screens/ can all import it without pulling each other in. Clinical *numbers* (thresholds, delays,
schedules) do not live here: they live in the rules configuration with their rationale, and the
plausible ranges and the quiet time in measurement_limits.yaml beside this file.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Parameter(StrEnum):
    """Canonical names of everything measured or observed on a trial day."""

    # Streamed by devices (after decoding).
    SPO2 = "spo2"
    PULSE_RATE = "pulse_rate"
    SYSTOLIC = "systolic"
    DIASTOLIC = "diastolic"
    MEAN_ARTERIAL = "mean_arterial"
    PERFUSION_INDEX = "perfusion_index"
    PLETH = "pleth"
    # Entered by nurses (observation sets); some can also come from devices (blood pressure).
    RR = "rr"
    TEMP = "temp"
    ON_OXYGEN = "on_oxygen"
    CONSCIOUSNESS = "consciousness"
    POSS = "poss"
    POWER_LEFT_LEG = "power_left_leg"
    POWER_RIGHT_LEG = "power_right_leg"
    POWER_LEFT_ARM = "power_left_arm"
    POWER_RIGHT_ARM = "power_right_arm"


# The two parameters a continuous oximeter streams; the rest arrive as entries.
STREAMED_PARAMETERS: frozenset[Parameter] = frozenset({Parameter.SPO2, Parameter.PULSE_RATE})

LEG_POWER_PARAMETERS: tuple[Parameter, ...] = (Parameter.POWER_LEFT_LEG, Parameter.POWER_RIGHT_LEG)
ARM_POWER_PARAMETERS: tuple[Parameter, ...] = (Parameter.POWER_LEFT_ARM, Parameter.POWER_RIGHT_ARM)


@dataclass(frozen=True)
class Unit:
    """A unit as shown to nurses and as coded for exchange (UCUM)."""

    display: str
    ucum: str


PERCENT = Unit("%", "%")
PER_MINUTE = Unit("/min", "/min")
MMHG = Unit("mmHg", "mm[Hg]")
CELSIUS = Unit("°C", "Cel")
DEVICE_UNITS = Unit("", "1")
NO_UNIT = Unit("", "1")

UNITS: dict[Parameter, Unit] = {
    Parameter.SPO2: PERCENT,
    Parameter.PULSE_RATE: PER_MINUTE,
    Parameter.SYSTOLIC: MMHG,
    Parameter.DIASTOLIC: MMHG,
    Parameter.MEAN_ARTERIAL: MMHG,
    Parameter.PERFUSION_INDEX: PERCENT,
    Parameter.PLETH: DEVICE_UNITS,
    Parameter.RR: PER_MINUTE,
    Parameter.TEMP: CELSIUS,
    Parameter.ON_OXYGEN: NO_UNIT,
    Parameter.CONSCIOUSNESS: NO_UNIT,
    Parameter.POSS: NO_UNIT,
    Parameter.POWER_LEFT_LEG: NO_UNIT,
    Parameter.POWER_RIGHT_LEG: NO_UNIT,
    Parameter.POWER_LEFT_ARM: NO_UNIT,
    Parameter.POWER_RIGHT_ARM: NO_UNIT,
}

# Words nurses read on screen.
LABELS: dict[Parameter, str] = {
    Parameter.SPO2: "SpO2",
    Parameter.PULSE_RATE: "Pulse",
    Parameter.SYSTOLIC: "Systolic BP",
    Parameter.DIASTOLIC: "Diastolic BP",
    Parameter.MEAN_ARTERIAL: "Mean arterial pressure",
    Parameter.PERFUSION_INDEX: "Perfusion index",
    Parameter.PLETH: "Pleth",
    Parameter.RR: "Respiration rate",
    Parameter.TEMP: "Temperature",
    Parameter.ON_OXYGEN: "Supplemental oxygen",
    Parameter.CONSCIOUSNESS: "Consciousness (ACVPU)",
    Parameter.POSS: "Sedation (POSS)",
    Parameter.POWER_LEFT_LEG: "Power, left leg (MRC)",
    Parameter.POWER_RIGHT_LEG: "Power, right leg (MRC)",
    Parameter.POWER_LEFT_ARM: "Power, left arm (MRC)",
    Parameter.POWER_RIGHT_ARM: "Power, right arm (MRC)",
}

# LOINC codes for exchange (LOINC, loinc.org).
LOINC: dict[Parameter, str] = {
    Parameter.SPO2: "59408-5",
    Parameter.PULSE_RATE: "8867-4",
    Parameter.SYSTOLIC: "8480-6",
    Parameter.DIASTOLIC: "8462-4",
    Parameter.MEAN_ARTERIAL: "8478-0",
    Parameter.RR: "9279-1",
    Parameter.TEMP: "8310-5",
}
# Further LOINC codes that also name a parameter (LOINC; FHIR R4 vital-signs profile): SpO2 is
# also coded 2708-6.
LOINC_ALSO: dict[Parameter, tuple[str, ...]] = {Parameter.SPO2: ("2708-6",)}
LOINC_BP_PANEL = "85354-9"
SNOMED_NEWS2_TOTAL = "1104051000000101"


class QualityFlag(StrEnum):
    """Canonical reading-quality flags; devices map their vendor bits onto these."""

    NO_FINGER = "no_finger"
    SENSOR_DISCONNECTED = "sensor_disconnected"
    SEARCHING = "searching"
    LOW_PERFUSION = "low_perfusion"
    ARTIFACT = "artifact"
    QUESTIONABLE = "questionable"
    INVALID = "invalid"
    LOW_SIGNAL = "low_signal"
    LOW_BATTERY = "low_battery"
    IMPLAUSIBLE = "implausible"


# Flags meaning "no reading because of the patient or the sensor" (feeds `sensor_off`),
# as opposed to doubtful quality; link loss is a connection state, not a flag.
SENSOR_OFF_FLAGS: frozenset[QualityFlag] = frozenset(
    {QualityFlag.NO_FINGER, QualityFlag.SENSOR_DISCONNECTED}
)
# A battery warning says nothing about the value itself, so it does not make a reading doubtful.
NON_DISQUALIFYING_FLAGS: frozenset[QualityFlag] = frozenset({QualityFlag.LOW_BATTERY})


class Priority(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


PRIORITY_RANK: dict[Priority, int] = {Priority.LOW: 1, Priority.MEDIUM: 2, Priority.HIGH: 3}


class AlarmKind(StrEnum):
    PHYSIOLOGICAL = "physiological"
    TECHNICAL = "technical"


class AlarmEventType(StrEnum):
    RAISED = "raised"
    ESCALATED = "escalated"
    ACKNOWLEDGED = "acknowledged"
    REANNUNCIATED = "reannunciated"
    # An acknowledged alarm whose condition eased to a lower level: shown at its current level,
    # silently (a nurse has seen it; only a worse level sounds again).
    CHANGED = "changed"
    RESOLVED = "resolved"


# The events that sound: each asks for a (new) acknowledgement. "changed" (an acknowledged
# alarm eased to a lower level) and "resolved" are silent.
ANNUNCIATING_EVENTS: frozenset[AlarmEventType] = frozenset(
    {AlarmEventType.RAISED, AlarmEventType.REANNUNCIATED, AlarmEventType.ESCALATED}
)


class ConnectionState(StrEnum):
    DISCONNECTED = "disconnected"
    CONNECTING = "connecting"
    CONNECTED = "connected"
    STALE = "stale"


class TrialStatus(StrEnum):
    PLANNED = "planned"
    BASELINE = "baseline"
    MONITORING = "monitoring"
    ASSESSED = "assessed"
    DECIDED = "decided"
    CANCELLED = "cancelled"


class InjectionRoute(StrEnum):
    LUMBAR_PUNCTURE = "lumbar_puncture"
    CATHETER = "catheter"


class Consciousness(StrEnum):
    """ACVPU: Alert, new Confusion, Voice, Pain, Unresponsive."""

    ALERT = "A"
    CONFUSION = "C"
    VOICE = "V"
    PAIN = "P"
    UNRESPONSIVE = "U"


class Poss(StrEnum):
    """Pasero Opioid-induced Sedation Scale, best to worst; which grades are unacceptable is
    UNACCEPTABLE_POSS."""

    ASLEEP = "S"
    AWAKE = "1"
    SLIGHTLY_DROWSY = "2"
    FREQUENTLY_DROWSY = "3"
    SOMNOLENT = "4"


# Unacceptable sedation on the Pasero scale (Pasero 2009): stop the sedating drug, stimulate,
# call for help. The bedside alarm (rules/default_rules.yaml `sedation`) and the day's overdose
# signs (rules/evaluation.py) both read it.
UNACCEPTABLE_POSS: frozenset[Poss] = frozenset({Poss.FREQUENTLY_DROWSY, Poss.SOMNOLENT})


class SideEffect(StrEnum):
    """The leaflet's signs of too much baclofen (the ITB trial's patient information)."""

    DROWSINESS = "drowsiness"
    LOWER_LIMB_WEAKNESS = "lower_limb_weakness"
    DIZZINESS = "dizziness"
    TRUNK_WEAKNESS = "trunk_weakness"
    NAUSEA_VOMITING = "nausea_vomiting"
    LOW_BLOOD_PRESSURE = "low_blood_pressure"
    CONSTIPATION_DIARRHOEA = "constipation_diarrhoea"
    SLURRED_SPEECH = "slurred_speech"
    ARM_WEAKNESS = "arm_weakness"
    DIFFICULTY_PASSING_URINE = "difficulty_passing_urine"
    HEADACHE = "headache"
    NUMBNESS_TINGLING = "numbness_tingling"
    BLURRED_DOUBLE_VISION = "blurred_double_vision"
    LETHARGY = "lethargy"
    DIFFICULTY_BREATHING = "difficulty_breathing"
    SEIZURE = "seizure"


# Upward spread of the drug or failing breathing: red flags.
RED_FLAG_SIDE_EFFECTS: frozenset[SideEffect] = frozenset(
    {
        SideEffect.SLURRED_SPEECH,
        SideEffect.ARM_WEAKNESS,
        SideEffect.DIFFICULTY_BREATHING,
        SideEffect.SEIZURE,
    }
)

SIDE_EFFECT_LABELS: dict[SideEffect, str] = {
    SideEffect.DROWSINESS: "Drowsiness",
    SideEffect.LOWER_LIMB_WEAKNESS: "Weakness of the legs",
    SideEffect.DIZZINESS: "Dizziness / light-headedness",
    SideEffect.TRUNK_WEAKNESS: "Weakness of the trunk",
    SideEffect.NAUSEA_VOMITING: "Nausea / vomiting",
    SideEffect.LOW_BLOOD_PRESSURE: "Low blood pressure (symptoms)",
    SideEffect.CONSTIPATION_DIARRHOEA: "Constipation or diarrhoea",
    SideEffect.SLURRED_SPEECH: "Slurred speech",
    SideEffect.ARM_WEAKNESS: "New weakness in the arms",
    SideEffect.DIFFICULTY_PASSING_URINE: "Difficulty passing urine",
    SideEffect.HEADACHE: "Headache",
    SideEffect.NUMBNESS_TINGLING: "Numbness, itching or tingling",
    SideEffect.BLURRED_DOUBLE_VISION: "Blurred or double vision",
    SideEffect.LETHARGY: "Lethargy",
    SideEffect.DIFFICULTY_BREATHING: "Difficulty breathing",
    SideEffect.SEIZURE: "Seizure",
}


# The Medical Research Council grades of muscle power (Aids to the Examination of the Peripheral
# Nervous System, MRC 1976), in the words the forms offer: the scale's codes and its limits
# (0-5, the record's entry range), shown as "3 — against gravity".
# Penn Spasm Frequency Scale (Penn et al., N Engl J Med 1989) and its severity grades: the
# scores' words and their range, for the record's checks and the screens alike.
PENN_FREQUENCY_LABELS: dict[int, str] = {
    0: "no spasms",
    1: "mild spasms induced by stimulation",
    2: "infrequent full spasms, less than once an hour",
    3: "spasms more than once an hour",
    4: "spasms more than ten times an hour",
}
PENN_SEVERITY_LABELS: dict[int, str] = {1: "mild", 2: "moderate", 3: "severe"}

MRC_POWER_LABELS: dict[int, str] = {
    0: "no contraction",
    1: "flicker",
    2: "movement with gravity eliminated",
    3: "against gravity",
    4: "against gravity and resistance",
    5: "normal",
}


class AshworthScale(StrEnum):
    """Which Ashworth variant was used; never mixed in one average."""

    MODIFIED = "modified_ashworth"  # labels 0, 1, 1+, 2, 3, 4
    ORIGINAL = "original_ashworth"  # 0-4
    ORIGINAL_1_TO_5 = "original_ashworth_1_5"  # 1-5 variant


MAS_LABELS: tuple[str, ...] = ("0", "1", "1+", "2", "3", "4")
ASHWORTH_LABELS: dict[AshworthScale, tuple[str, ...]] = {
    AshworthScale.MODIFIED: MAS_LABELS,
    AshworthScale.ORIGINAL: ("0", "1", "2", "3", "4"),
    AshworthScale.ORIGINAL_1_TO_5: ("1", "2", "3", "4", "5"),
}


class MuscleGroup(StrEnum):
    HIP_FLEXORS = "hip_flexors"
    HIP_ADDUCTORS = "hip_adductors"
    KNEE_FLEXORS = "knee_flexors"
    KNEE_EXTENSORS = "knee_extensors"
    ANKLE_PLANTARFLEXORS = "ankle_plantarflexors"
    ELBOW_FLEXORS = "elbow_flexors"
    ELBOW_EXTENSORS = "elbow_extensors"
    WRIST_FINGER_FLEXORS = "wrist_finger_flexors"


LOWER_LIMB_MUSCLES: tuple[MuscleGroup, ...] = (
    MuscleGroup.HIP_FLEXORS,
    MuscleGroup.HIP_ADDUCTORS,
    MuscleGroup.KNEE_FLEXORS,
    MuscleGroup.KNEE_EXTENSORS,
    MuscleGroup.ANKLE_PLANTARFLEXORS,
)


class Side(StrEnum):
    LEFT = "left"
    RIGHT = "right"


class AssessmentTimePoint(StrEnum):
    BASELINE = "baseline"
    FOUR_HOURS = "4h"
    OTHER = "other"


class DecisionOutcome(StrEnum):
    RESPONDER = "responder_offer_pump"
    RETRIAL_HIGHER = "non_responder_retrial_higher_dose"
    UNSUITABLE = "non_responder_at_100_unsuitable"
    INCONCLUSIVE = "inconclusive_repeat_same_dose"
    ADVERSE = "stopped_for_adverse_effects"


# The outcomes as the team reads them, on screen and in the report (the team's wording).
DECISION_OUTCOME_LABELS: dict[DecisionOutcome, str] = {
    DecisionOutcome.RESPONDER: "Responder — offer pump",
    DecisionOutcome.RETRIAL_HIGHER: "Non-responder — re-trial at a higher dose",
    DecisionOutcome.UNSUITABLE: "Non-responder at 100 mcg — unsuitable",
    DecisionOutcome.INCONCLUSIVE: "Inconclusive — repeat at the same dose",
    DecisionOutcome.ADVERSE: "Stopped for adverse effects",
}


class Role(StrEnum):
    NURSE = "nurse"
    PHYSIOTHERAPIST = "physiotherapist"
    NURSE_SPECIALIST = "nurse_specialist"
    DOCTOR = "doctor"
    ADMIN = "admin"


# The roles that care for patients and may see their data; an administrator manages accounts
# and sees none.
CLINICAL_ROLES = frozenset({Role.NURSE, Role.PHYSIOTHERAPIST, Role.NURSE_SPECIALIST, Role.DOCTOR})
