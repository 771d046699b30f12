"""Trial exports (CSV, FHIR R4, HL7 v2 ORU^R01, PDF) read back with the parsers of each format."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.observation import Observation
from fhir.resources.R4B.patient import Patient
from hl7apy.parser import parse_message

from observations.alarms import AlarmEventIn
from observations.entries import ReadingIn
from observations.errors import NotFound
from observations.exports import (
    CSV_COLUMNS,
    export_trial,
    trial_csv,
    trial_fhir_bundle,
    trial_hl7_oru,
)
from observations.record import TrialRecord
from observations.set_scores import SetScoreIn
from tests.accounts import reauthenticated
from tests.judgements import judge_as_the_monitor
from tests.observations.conftest import FakeClock, Staff, patient_details
from vocabulary import (
    AlarmEventType,
    AlarmKind,
    DecisionOutcome,
    Parameter,
    Priority,
    QualityFlag,
    TrialStatus,
)

INJECTED = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)  # 10:00 GMT on the ward
NASTY_NOTE = '=HYPERLINK("x") a|b^c&d~e\\f\nsecond line'


@dataclass(frozen=True)
class TrialDay:
    trial_id: int
    complete_set_id: int
    partial_set_id: int
    corrected_set_id: int
    superseded_set_id: int


def _mas(labels: dict[tuple[str, str], str]) -> list[dict[str, str]]:
    return [{"muscle_group": m, "side": s, "label": label} for (m, s), label in labels.items()]


def record_trial_day(
    record: TrialRecord,
    staff: Staff,
    clock: FakeClock,
    decide: bool = False,
    judged: bool = True,
    while_monitored: Callable[[int], object] | None = None,
) -> TrialDay:
    """A small but complete trial day: scores, injection, readings, sets, alarm, 4 h scores;
    and, ``judged``, what the monitor judged of it. ``while_monitored(trial_id)`` adds more
    before the window closes (alarms are raised only on a trial being watched)."""
    clock.now = INJECTED + timedelta(minutes=46)  # the nurse acknowledges the alarm "now"
    patient = record.patients.register(
        staff.specialist, patient_details(family_name="O'Brien", given_name="Siân")
    )
    trial = record.trials.plan(staff.specialist, patient.id, 50).id
    record.assessments.record(
        staff.physio,
        trial,
        {
            "time_point": "baseline",
            "assessed_at": INJECTED - timedelta(minutes=40),
            "ashworth": _mas(
                {
                    ("hip_adductors", "left"): "3",
                    ("hip_adductors", "right"): "1+",
                    ("knee_flexors", "left"): "2",
                }
            ),
            "penn_frequency": 3,
            "penn_severity": 2,
            "penn_recall_period": "past week",
            "pain_nrs": 6,
            "goals": [{"goal": "Transfer bed to chair with one helper", "rating": -1}],
        },
    )
    record.observations.record(
        staff.nurse,
        trial,
        {
            "measured_at": INJECTED - timedelta(minutes=20),
            "rr": 16,
            "spo2": 97,
            "on_oxygen": False,
            "systolic": 128,
            "diastolic": 80,
            "pulse_rate": 74,
            "consciousness": "A",
            "temp": 36.7,
            "poss": "1",
            "side_effects": [],
        },
    )
    record.trials.record_injection(
        staff.doctor,
        trial,
        {"dose_mcg": 50, "given_at": INJECTED, "route": "lumbar_puncture", "given_by": "Dr Jones"},
    )
    readings = []
    for i in range(0, 4 * 60 * 2 + 1):  # every 30 s for 4 hours
        at = INJECTED + timedelta(seconds=30 * i)
        probe_off = 100 <= i < 104
        spo2 = None if probe_off else 96 - (3 if 80 <= i < 100 else 0)
        flags = frozenset({QualityFlag.NO_FINGER}) if probe_off else frozenset()
        readings.append(ReadingIn(trial, Parameter.SPO2, spo2, at, at, "ble:oxi-1", flags))
        pulse = None if probe_off else 70 + (i % 7)
        readings.append(ReadingIn(trial, Parameter.PULSE_RATE, pulse, at, at, "ble:oxi-1", flags))
    for minutes in range(0, 241, 30):
        at = INJECTED + timedelta(minutes=minutes)
        readings.append(ReadingIn(trial, Parameter.SYSTOLIC, 125 - minutes / 10, at, at, "ser:bp"))
        readings.append(ReadingIn(trial, Parameter.DIASTOLIC, 78, at, at, "ser:bp"))
    record.readings.add(staff.service, readings)
    complete = record.observations.record(
        staff.nurse,
        trial,
        {
            "measured_at": INJECTED + timedelta(minutes=15),
            "rr": 14,
            "spo2": 95,
            "on_oxygen": False,
            "systolic": 118,
            "diastolic": 76,
            "pulse_rate": 66,
            "consciousness": "A",
            "temp": 36.6,
            "poss": "2",
            "power_left_leg": 4,
            "power_right_leg": 4,
            "side_effects": ["drowsiness"],
            "device_prefilled": ["spo2", "pulse_rate"],
            "note": NASTY_NOTE,
        },
    )
    partial = record.observations.record(
        staff.nurse,
        trial,
        {"measured_at": INJECTED + timedelta(minutes=30), "rr": 12, "spo2": 94},
    )
    wrong = record.observations.record(
        staff.nurse, trial, {"measured_at": INJECTED + timedelta(minutes=45), "rr": 41}
    )
    fixed = record.observations.correct(
        staff.nurse,
        wrong.id,
        {"measured_at": INJECTED + timedelta(minutes=45), "rr": 11},
        "typed 41 for 11",
    )

    def alarm(event: AlarmEventType, at: datetime) -> AlarmEventIn:
        return AlarmEventIn(
            trial_id=trial,
            rule_id="spo2_desaturation",
            event=event,
            at=at,
            priority=Priority.MEDIUM,
            kind=AlarmKind.PHYSIOLOGICAL,
            message="SpO2 93 % for 60 s",
            evidence={"spo2": 93},
            rule_set_version="test",
        )

    record.alarms.record_events(
        staff.service, [alarm(AlarmEventType.RAISED, INJECTED + timedelta(minutes=41))]
    )
    alarm_id = record.alarms.active(trial)[0].id
    record.alarms.acknowledge(staff.nurse, alarm_id, "Sat up, deep breaths; told Dr Jones")
    record.alarms.record_events(
        staff.service, [alarm(AlarmEventType.RESOLVED, INJECTED + timedelta(minutes=50))]
    )
    clock.now = INJECTED + timedelta(hours=4, minutes=30)
    record.assessments.record(
        staff.physio,
        trial,
        {
            "time_point": "4h",
            "assessed_at": INJECTED + timedelta(hours=4),
            "ashworth": _mas(
                {
                    ("hip_adductors", "left"): "1",
                    ("hip_adductors", "right"): "1",
                    ("knee_flexors", "left"): "1+",
                }
            ),
            "penn_frequency": 1,
            "penn_severity": 1,
            "penn_recall_period": "since injection",
            "pain_nrs": 3,
            "goals": [{"goal": "Transfer bed to chair with one helper", "rating": 1}],
        },
    )
    if while_monitored is not None:
        while_monitored(trial)
    record.trials.set_status(staff.specialist, trial, TrialStatus.ASSESSED)
    if decide:
        record.decisions.record(
            staff.doctor,
            trial,
            DecisionOutcome.RESPONDER,
            "MAS down by 1.2; goal achieved",
            reauthentication=reauthenticated(record, staff.doctor),
        )
    if judged:
        judge_as_the_monitor(record, trial)
    return TrialDay(trial, complete.id, partial.id, fixed.id, wrong.id)


@pytest.fixture
def day(record: TrialRecord, staff: Staff, clock: FakeClock) -> TrialDay:
    return record_trial_day(record, staff, clock)


# --------------------------------------------------------------------------- CSV


def read_csv(data: bytes) -> list[dict[str, str]]:
    assert data.startswith(b"\xef\xbb\xbf")  # BOM: Excel reads UTF-8 correctly
    return list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"), newline="")))


def test_csv_has_every_reading_set_value_score_and_alarm_event(record: TrialRecord, day: TrialDay):
    rows = read_csv(trial_csv(record, day.trial_id))
    assert list(rows[0]) == list(CSV_COLUMNS)
    kinds = [r["record_type"] for r in rows]
    assert kinds.count("reading") == record.readings.count(day.trial_id) == 2 * 481 + 2 * 9
    assert kinds.count("alarm_event") == 3
    assert {r["nhs_number"] for r in rows} == {"9434765919"}
    times = [datetime.fromisoformat(r["time_utc"]) for r in rows]
    assert times == sorted(times)
    first = rows[0]
    assert first["time_utc"] == "2026-11-20T09:20:00Z" and first["time_ward"].endswith("GMT")
    spo2 = [r for r in rows if r["record_type"] == "observation" and r["parameter"] == "spo2"]
    assert [r["value"] for r in spo2] == ["97", "95", "94"]
    assert [r["record_id"] for r in spo2[1:]] == [str(day.complete_set_id), str(day.partial_set_id)]
    prefilled = next(r for r in spo2 if r["record_id"] == str(day.complete_set_id))
    assert prefilled["source"] == "manual, prefilled from device"
    assert prefilled["entered_by"] == "Nurse.Patel"
    temp = next(r for r in rows if r["parameter"] == "temp")
    assert (temp["value"], temp["unit"], temp["ucum"]) == ("36.7", "°C", "Cel")
    events = [(r["value"], r["priority"]) for r in rows if r["record_type"] == "alarm_event"]
    assert events == [("raised", "medium"), ("acknowledged", "medium"), ("resolved", "medium")]
    ack = next(r for r in rows if r["value"] == "acknowledged")
    assert ack["parameter"] == "spo2_desaturation" and "told Dr Jones" in ack["detail"]
    news2 = {r["record_id"]: (r["value"], r["status"]) for r in rows if r["record_type"] == "news2"}
    assert news2[str(day.complete_set_id)] == ("1", "low")  # SpO2 95 scores 1 on scale 1
    assert str(day.superseded_set_id) not in news2  # only sets as they stand are scored


def test_csv_leaves_missing_values_empty_never_zero(record: TrialRecord, day: TrialDay):
    rows = read_csv(trial_csv(record, day.trial_id))
    gaps = [r for r in rows if r["record_type"] == "reading" and r["flags"] == "no_finger"]
    assert len(gaps) == 8 and all(r["value"] == "" for r in gaps)
    partial = [
        r["parameter"]
        for r in rows
        if r["record_id"] == str(day.partial_set_id) and r["record_type"] == "observation"
    ]
    assert partial == ["rr", "spo2"]  # nothing invented for what was not measured
    [news2] = [
        r for r in rows if r["record_id"] == str(day.partial_set_id) and r["record_type"] == "news2"
    ]
    assert (news2["value"], news2["status"]) == ("", "incomplete")  # a partial set has no total
    assert news2["detail"].startswith("missing: on_oxygen, sbp, pulse, consciousness, temp")
    assert not any(r["value"].lower() in {"nan", "null"} for r in rows)
    assert not any(r["value"] == "0" for r in rows if r["record_type"] == "reading")


def test_csv_neutralises_formulas_and_keeps_corrections_visible(record: TrialRecord, day: TrialDay):
    rows = read_csv(trial_csv(record, day.trial_id))
    note = next(r for r in rows if r["parameter"] == "note" and r["record_type"] == "observation")
    assert note["value"] == "'" + NASTY_NOTE
    rr = {r["record_id"]: (r["value"], r["status"]) for r in rows if r["parameter"] == "rr"}
    assert rr[str(day.superseded_set_id)] == ("41", "superseded")
    assert rr[str(day.corrected_set_id)] == ("11", "correction")
    effects = [r["value"] for r in rows if r["parameter"] == "side_effect"]
    assert effects == ["none", "drowsiness"]  # baseline checked (none), then drowsy
    mas = [
        (r["status"], r["value"])
        for r in rows
        if r["parameter"] == "modified_ashworth.hip_adductors.left"
    ]
    assert mas == [("baseline", "3"), ("4h", "1")]
    goal = next(r for r in rows if r["parameter"] == "goal.1" and r["status"] == "baseline")
    assert goal["value"] == "-1"  # a negative rating is a number, not a neutralised formula


def test_unknown_trial_is_not_found(record: TrialRecord, staff: Staff):
    with pytest.raises(NotFound):
        trial_csv(record, 999)


# --------------------------------------------------------------------------- FHIR R4


def read_bundle(data: bytes) -> Bundle:
    bundle = Bundle.model_validate_json(data)  # fhir.resources validates on parse
    assert bundle.type == "collection"
    return bundle


def observations_of(bundle: Bundle) -> list[Observation]:
    return [e.resource for e in bundle.entry if isinstance(e.resource, Observation)]


def codes(obs: Observation) -> list[str]:
    return [c.code for c in obs.code.coding or []]


def test_fhir_bundle_parses_back_with_patient_identifiers(record: TrialRecord, day: TrialDay):
    bundle = read_bundle(trial_fhir_bundle(record, day.trial_id))
    [patient] = [e for e in bundle.entry if isinstance(e.resource, Patient)]
    systems = {i.system: i.value for i in patient.resource.identifier}
    assert systems["https://fhir.nhs.uk/Id/nhs-number"] == "9434765919"
    assert systems["urn:itbmon:hospital-number"] == "H1234567"
    assert patient.resource.name[0].family == "O'Brien"
    for obs in observations_of(bundle):
        assert obs.subject.reference == patient.fullUrl
    urls = [e.fullUrl for e in bundle.entry]
    assert len(urls) == len(set(urls))


def test_fhir_vital_signs_carry_loinc_ucum_and_their_source(record: TrialRecord, day: TrialDay):
    observations = observations_of(read_bundle(trial_fhir_bundle(record, day.trial_id)))
    vital = [o for o in observations if o.category[0].coding[0].code == "vital-signs"]
    for obs in vital:
        assert obs.code.coding[0].system == "http://loinc.org"
        quantities = (
            [obs.valueQuantity] if obs.valueQuantity else [c.valueQuantity for c in obs.component]
        )
        assert quantities and all(q.system == "http://unitsofmeasure.org" for q in quantities)
    spo2 = [o for o in vital if codes(o) == ["59408-5", "2708-6"]]
    manual = [o for o in spo2 if o.device is None]
    assert [o.valueQuantity.value for o in manual] == [97, 95, 94]
    assert [o.method.text for o in manual][1] == "Manual entry, prefilled from a device reading"
    assert all(o.performer[0].display == "Nurse.Patel" for o in manual)
    device = [o for o in spo2 if o.device is not None]
    # One sample a minute for 4 h (241 minutes), minus the 2 minutes the probe was off.
    assert len(device) == 239 and {o.device.display for o in device} == {"ble:oxi-1"}
    assert {o.method.text for o in device} == {"Device reading"}
    temp = next(o for o in vital if codes(o) == ["8310-5"])
    assert (float(temp.valueQuantity.value), temp.valueQuantity.code) == (36.7, "Cel")
    panels = [o for o in vital if codes(o) == ["85354-9"]]
    manual_bp = [o for o in panels if o.device is None]
    assert [
        [(c.code.coding[0].code, c.valueQuantity.value, c.valueQuantity.code) for c in o.component]
        for o in manual_bp
    ] == [
        [("8480-6", 128, "mm[Hg]"), ("8462-4", 80, "mm[Hg]")],
        [("8480-6", 118, "mm[Hg]"), ("8462-4", 76, "mm[Hg]")],
    ]
    assert len([o for o in panels if o.device is not None]) == 9


def test_fhir_has_every_device_reading_when_asked_and_never_a_missing_one(
    record: TrialRecord, day: TrialDay
):
    bundle = read_bundle(trial_fhir_bundle(record, day.trial_id, device_every=None))
    device = [o for o in observations_of(bundle) if o.device is not None]
    spo2 = [o for o in device if codes(o)[0] == "59408-5"]
    assert len(spo2) == 481 - 4  # every sample with a value; probe-off samples produce nothing
    assert 93 in {o.valueQuantity.value for o in spo2}


def test_fhir_news2_only_for_complete_sets_and_points_at_its_inputs(
    record: TrialRecord, day: TrialDay
):
    bundle = read_bundle(trial_fhir_bundle(record, day.trial_id))
    news2 = [o for o in observations_of(bundle) if codes(o) == ["1104051000000101"]]
    # Baseline and 15-min sets are complete; the 30-min and corrected 45-min sets are not.
    assert [(o.effectiveDateTime.isoformat(), o.valueInteger) for o in news2] == [
        ("2026-11-20T09:40:00+00:00", 0),
        ("2026-11-20T10:15:00+00:00", 1),  # SpO2 95 scores 1 on scale 1
    ]
    assert news2[0].code.coding[0].system == "http://snomed.info/sct"
    urls = {e.fullUrl for e in bundle.entry}
    assert len(news2[1].derivedFrom) == 5 and all(r.reference in urls for r in news2[1].derivedFrom)
    corrected = [o for o in observations_of(bundle) if o.status == "amended"]
    assert [o.valueQuantity.value for o in corrected] == [11]  # the 41 it replaced is not sent
    assert 41 not in {o.valueQuantity.value for o in observations_of(bundle) if o.valueQuantity}


def test_fhir_ashworth_per_muscle_with_label_and_side(record: TrialRecord, day: TrialDay):
    bundle = read_bundle(trial_fhir_bundle(record, day.trial_id))
    mas = [
        (o.note[0].text, o.bodySite.text, o.valueString)
        for o in observations_of(bundle)
        if o.code.text == "Modified Ashworth Scale score"
    ]
    assert mas == [
        ("Baseline assessment", "Left hip adductors", "3"),
        ("Baseline assessment", "Right hip adductors", "1+"),
        ("Baseline assessment", "Left knee flexors", "2"),
        ("4-hour assessment", "Left hip adductors", "1"),
        ("4-hour assessment", "Right hip adductors", "1"),
        ("4-hour assessment", "Left knee flexors", "1+"),
    ]
    assert json.loads(trial_fhir_bundle(record, day.trial_id))["resourceType"] == "Bundle"


# --------------------------------------------------------------------------- HL7 v2


def read_oru(data: bytes):
    text = data.decode("utf-8")
    assert "\n" not in text  # segments end with CR only; a note's line break did not leak
    return parse_message(text, find_groups=True)


def test_hl7_oru_parses_back_with_both_identifiers(record: TrialRecord, day: TrialDay):
    message = read_oru(trial_hl7_oru(record, day.trial_id, facility="RXX01", mrn_authority="RXX"))
    assert message.msh.msh_9.to_er7() == "ORU^R01^ORU_R01"
    assert message.msh.msh_12.to_er7() == "2.5"
    assert message.msh.msh_4.to_er7() == "RXX01"
    pid = message.ORU_R01_PATIENT_RESULT.ORU_R01_PATIENT.PID
    assert [(r.cx_1.to_er7(), r.cx_4.to_er7(), r.cx_5.to_er7()) for r in pid.pid_3] == [
        ("9434765919", "NHS", "NH"),
        ("H1234567", "RXX", "MR"),
    ]
    assert pid.pid_5.to_er7() == "O'Brien^Siân" and pid.pid_7.to_er7() == "19710302"


def test_hl7_one_obr_per_current_set_and_one_obx_per_value(record: TrialRecord, day: TrialDay):
    message = read_oru(trial_hl7_oru(record, day.trial_id))
    orders = message.ORU_R01_PATIENT_RESULT.ORU_R01_ORDER_OBSERVATION
    assert [o.OBR.obr_3.ei_1.to_er7() for o in orders] == [
        f"ITB{day.trial_id}-SET{n}"
        for n in (1, day.complete_set_id, day.partial_set_id, day.corrected_set_id)
    ]
    assert [o.OBR.obr_25.to_er7() for o in orders] == ["F", "F", "F", "C"]

    def values(order) -> dict[str, tuple[str, str, str]]:
        return {
            g.OBX.obx_3.ce_1.to_er7(): (
                g.OBX.obx_2.to_er7(),
                g.OBX.obx_5.to_er7(),
                g.OBX.obx_6.ce_1.to_er7(),
            )
            for g in order.ORU_R01_OBSERVATION
        }

    fifteen = values(orders[1])
    assert fifteen["59408-5"] == ("NM", "95", "%")
    assert fifteen["8480-6"] == ("NM", "118", "mm[Hg]")
    assert fifteen["8462-4"] == ("NM", "76", "mm[Hg]")
    assert fifteen["8867-4"] == ("NM", "66", "/min")
    assert fifteen["9279-1"] == ("NM", "14", "/min")
    assert fifteen["8310-5"] == ("NM", "36.6", "Cel")
    assert fifteen["1104051000000101"] == ("NM", "1", "")
    assert fifteen["SIDE_EFFECT"] == ("CE", "drowsiness^Drowsiness^L", "")
    assert [g.OBX.obx_1.to_er7() for g in orders[1].ORU_R01_OBSERVATION] == [
        str(n) for n in range(1, len(fifteen) + 1)
    ]
    assert set(values(orders[2])) == {"9279-1", "59408-5"}  # partial set: no NEWS2, nothing else
    assert values(orders[3]) == {"9279-1": ("NM", "11", "/min")}
    assert orders[3].ORU_R01_OBSERVATION.OBX.obx_11.to_er7() == "C"


def test_hl7_escapes_free_text(record: TrialRecord, day: TrialDay):
    message = read_oru(trial_hl7_oru(record, day.trial_id))
    order = message.ORU_R01_PATIENT_RESULT.ORU_R01_ORDER_OBSERVATION[1]
    assert order.NTE.nte_3.to_er7() == (
        '=HYPERLINK("x") a\\F\\b\\S\\c\\T\\d\\R\\e\\E\\f second line'
    )
    # The delimiters in the note did not create fields, components or repetitions.
    assert len(order.NTE.children) == 3


# --------------------------------------------------------------------------- the monitor's NEWS2


def test_exports_show_the_monitor_s_news2_and_never_score_a_set_themselves(
    record: TrialRecord, staff: Staff, clock: FakeClock
):
    day = record_trial_day(record, staff, clock, judged=False)
    # The monitor scored the 15-minute set with the oximeter's pulse of that instant (the set
    # has its own; a stored judgement is shown as it is, whatever the set seems to say).
    record.set_scores.record(
        staff.service,
        [
            SetScoreIn(
                trial_id=day.trial_id,
                observation_set_id=day.complete_set_id,
                measured_at=INJECTED + timedelta(minutes=15),
                total=3,
                band="low-medium",
                scores={
                    "rr_score": 0,
                    "spo2_score": 1,
                    "oxygen_score": 0,
                    "sbp_score": 0,
                    "pulse_score": 0,
                    "consciousness_score": 0,
                    "temp_score": 0,
                },
                missing=(),
                spo2_scale=1,
                spo2=95.0,
                spo2_from="set",
                pulse=48.0,
                pulse_from="device",
                rule_set_version="test-rules",
                judged_at=INJECTED + timedelta(minutes=16),
            )
        ],
    )
    rows = read_csv(trial_csv(record, day.trial_id))
    news2 = {r["record_id"]: r for r in rows if r["record_type"] == "news2"}
    scored = news2[str(day.complete_set_id)]
    assert (scored["value"], scored["status"], scored["source"]) == ("3", "low-medium", "monitor")
    assert "pulse 48 from the device" in scored["detail"] and "test-rules" in scored["detail"]
    waiting = news2[str(day.partial_set_id)]
    assert (waiting["value"], waiting["status"]) == ("", "not yet scored by the monitor")

    bundle = read_bundle(trial_fhir_bundle(record, day.trial_id))
    totals = [o for o in observations_of(bundle) if codes(o) == ["1104051000000101"]]
    assert [o.valueInteger for o in totals if o.valueInteger is not None] == [3]
    [from_device] = [o for o in totals if o.valueInteger == 3]
    assert any("Pulse 48/min from the device" in n.text for n in from_device.note)
    unscored = [o for o in totals if o.valueInteger is None]
    assert len(unscored) == 3  # baseline, 30-min and corrected 45-min sets: none scored yet
    assert all(
        o.status == "registered"
        and o.dataAbsentReason.coding[0].code == "temp-unknown"
        and o.dataAbsentReason.text == "not yet scored by the monitor"
        for o in unscored
    )

    message = read_oru(trial_hl7_oru(record, day.trial_id))
    orders = message.ORU_R01_PATIENT_RESULT.ORU_R01_ORDER_OBSERVATION
    totals_sent = {
        o.OBR.obr_3.ei_1.to_er7(): [
            g.OBX.obx_5.to_er7()
            for g in o.ORU_R01_OBSERVATION
            if g.OBX.obx_3.ce_1.to_er7() == "1104051000000101"
        ]
        for o in orders
    }
    assert totals_sent[f"ITB{day.trial_id}-SET{day.complete_set_id}"] == ["3"]
    assert totals_sent[f"ITB{day.trial_id}-SET1"] == []  # complete, but not scored yet: no total
    notes = [n.nte_3.to_er7() for n in orders[0].children if n.name == "NTE"]
    assert notes == ["NEWS2 not yet scored by the monitor."]


# --------------------------------------------------------------------------- dispatch


@pytest.mark.parametrize("fmt", ["csv", "fhir", "hl7"])
def test_export_trial_dispatches_by_format(record: TrialRecord, day: TrialDay, fmt: str):
    chosen = {"csv": trial_csv, "fhir": trial_fhir_bundle, "hl7": trial_hl7_oru}[fmt]
    exported = export_trial(record, day.trial_id, fmt)  # type: ignore[arg-type]
    again = chosen(record, day.trial_id)
    if fmt == "hl7":  # the same facts; only the message time/control id could differ
        assert exported.split(b"\r")[1:] == again.split(b"\r")[1:]
    else:
        assert exported == again


def test_export_trial_refuses_an_unknown_format(record: TrialRecord, day: TrialDay):
    with pytest.raises(ValueError, match="choose one of pdf, csv, fhir, hl7"):
        export_trial(record, day.trial_id, "xml")  # type: ignore[arg-type]
