"""Every free-text field of the record: bounded by limits.yaml (text), refused in words that name
the field, nothing written, on SQLite and PostgreSQL alike (no database error ever escapes)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import timedelta
from itertools import count
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError
from sqlalchemy import String, func, select, text

from observations.alarms import AlarmEventIn
from observations.entries import ReadingIn
from observations.errors import InvalidEntry
from observations.free_text import (
    STORED_IN,
    check_kinds_fit,
    clean_text,
    column_length,
    max_chars,
)
from observations.limits import LIMITS_FILE, Limits, load_limits
from observations.record import TrialRecord
from observations.schema import Base
from observations.set_scores import ScheduleJudgementIn, SetScoreIn
from tests.observations.conftest import FakeClock, Staff, patient_details
from vocabulary import (
    AlarmEventType,
    AlarmKind,
    AssessmentTimePoint,
    Parameter,
    Priority,
    TrialStatus,
)

TEN_MB = "x" * (10 * 1024 * 1024)
# Characters no stored text may hold, each refused by name.
UNSTORABLE = {"NUL": "\x00", "escape": "\x1b", "right-to-left override": "\u202e"}


def snapshot(record: TrialRecord) -> dict[str, int]:
    """Row counts of every table: 'nothing written' means all of them are equal."""
    with record.store.reading() as session:
        return {
            table.name: session.scalar(select(func.count()).select_from(table)) or 0
            for table in Base.metadata.sorted_tables
        }


@dataclass
class Day:
    """A ward day with something of everything a text can be written to."""

    record: TrialRecord
    staff: Staff
    clock: FakeClock
    patient: int  # with a planned trial and no injection
    planned: int
    monitored: int  # another patient's trial, injected, with an alarm, a set and scores
    injection: int
    alarm: int
    set_id: int
    assessment: int
    serial: count

    def unique(self, stem: str, length: int) -> str:
        """``stem`` made unique and padded with "x" to ``length`` characters."""
        base = f"{stem}{next(self.serial)}-"
        return base + "x" * (length - len(base))


@pytest.fixture
def day(record: TrialRecord, staff: Staff, clock: FakeClock) -> Day:
    first = record.patients.register(staff.specialist, patient_details())
    planned = record.trials.plan(staff.specialist, first.id, 50).id
    second = record.patients.register(
        staff.specialist, patient_details(nhs_number="9990000018", hospital_number="Z2")
    )
    monitored = record.trials.plan(staff.specialist, second.id, 50).id
    injected = record.trials.record_injection(
        staff.doctor,
        monitored,
        {
            "dose_mcg": 50,
            "given_at": clock.now - timedelta(hours=4),
            "route": "lumbar_puncture",
            "given_by": "Dr Jones",
        },
    )
    record.alarms.record_events(staff.service, [alarm_event(monitored, clock, "spo2_low")])
    [alarm] = record.alarms.active(monitored)
    observed = record.observations.record(
        staff.nurse, monitored, {"measured_at": clock.now - timedelta(minutes=30), "rr": 16}
    )
    scored = record.assessments.record(staff.physio, monitored, assessment(clock))
    return Day(
        record,
        staff,
        clock,
        first.id,
        planned,
        monitored,
        injected.injection.id,
        alarm.id,
        observed.id,
        scored.id,
        count(1),
    )


def alarm_event(trial: int, clock: FakeClock, rule: str, **changes: str) -> AlarmEventIn:
    event = AlarmEventIn(
        trial,
        rule,
        AlarmEventType.RAISED,
        clock.now,
        Priority.HIGH,
        AlarmKind.PHYSIOLOGICAL,
        "Severe desaturation: SpO2 91 % or below.",
        {"spo2": 89},
        "itbmon-default-3",
    )
    return replace(event, **changes)


def assessment(clock: FakeClock, **changes: object) -> dict[str, object]:
    return {
        "time_point": AssessmentTimePoint.OTHER.value,
        "assessed_at": clock.now - timedelta(minutes=10),
        "pain_nrs": 4,
        **changes,
    }


def injection(clock: FakeClock, given_by: str) -> dict[str, object]:
    return {
        "dose_mcg": 50,
        "given_at": clock.now - timedelta(hours=4),
        "route": "lumbar_puncture",
        "given_by": given_by,
    }


def score(day: Day, version: str) -> SetScoreIn:
    return SetScoreIn(
        trial_id=day.monitored,
        observation_set_id=day.set_id,
        measured_at=day.clock.now - timedelta(minutes=30),
        total=None,
        band="incomplete",
        scores={"rr": 0},
        missing=("spo2",),
        spo2_scale=1,
        spo2=None,
        spo2_from=None,
        pulse=None,
        pulse_from=None,
        rule_set_version=version,
        judged_at=day.clock.now,
    )


@dataclass(frozen=True)
class Field:
    """One free-text argument of one record write."""

    name: str  # the field the refusal names
    kind: str  # its kind in limits.yaml (text)
    column: str | None  # where an accepted text is kept ("table.column"); None: the audit entry
    write: Callable[[Day, str], object]
    # A valid text of a given length for this field (a device must look like one, say).
    valid: Callable[[Day, int], str] = lambda day, n: day.unique("t", n)
    example: str = "Side room 4"


def _source(day: Day, length: int) -> str:
    return day.unique("serial:/dev/tty", length)


FIELDS: list[Field] = [
    Field(
        "family_name",
        "name",
        "patients.family_name",
        lambda d, v: d.record.patients.register(
            d.staff.specialist,
            patient_details(nhs_number="9990000026", hospital_number="Z9", family_name=v),
        ),
    ),
    Field(
        "given_name",
        "name",
        "patients.given_name",
        lambda d, v: d.record.patients.register(
            d.staff.specialist,
            patient_details(nhs_number="9990000026", hospital_number="Z9", given_name=v),
        ),
    ),
    Field(
        "hospital_number",
        "identifier",
        "patients.hospital_number",
        lambda d, v: d.record.patients.register(
            d.staff.specialist, patient_details(nhs_number="9990000026", hospital_number=v)
        ),
        valid=lambda d, n: d.unique("H", n).upper(),
        example="H1234567",
    ),
    Field(
        "reason",
        "note",
        None,
        lambda d, v: d.record.patients.correct(
            d.staff.specialist, d.patient, patient_details(given_name="Alexandra"), v
        ),
    ),
    Field(
        "bed",
        "bed",
        "trials.bed",
        lambda d, v: d.record.trials.plan(d.staff.specialist, d.patient, 50, bed=v),
        example="D7",
    ),
    Field(
        "spo2_scale_reason",
        "note",
        "trials.spo2_scale_reason",
        lambda d, v: d.record.trials.plan(
            d.staff.doctor, d.patient, 50, spo2_scale=2, spo2_scale_reason=v
        ),
    ),
    Field(
        "reason",
        "note",
        None,
        lambda d, v: d.record.trials.set_status(
            d.staff.specialist, d.planned, TrialStatus.CANCELLED, v
        ),
    ),
    Field(
        "reason",
        "note",
        "window_extensions.reason",
        lambda d, v: d.record.trials.extend_window(d.staff.doctor, d.monitored, 30, v),
    ),
    Field(
        "given_by",
        "name",
        "injections.given_by",
        lambda d, v: d.record.trials.record_injection(
            d.staff.doctor, d.planned, injection(d.clock, v)
        ),
        example="Dr Jones",
    ),
    Field(
        "given_by",
        "name",
        "injections.given_by",
        lambda d, v: d.record.trials.correct_injection(
            d.staff.doctor, d.injection, injection(d.clock, v), "Name misspelt"
        ),
        example="Dr Jones",
    ),
    Field(
        "reason",
        "note",
        "injections.correction_reason",
        lambda d, v: d.record.trials.correct_injection(
            d.staff.doctor, d.injection, injection(d.clock, "Dr Jones"), v
        ),
    ),
    Field(
        "source",
        "device",
        "device_assignments.source",
        lambda d, v: d.record.trials.assign_device(d.staff.nurse, d.planned, v, "Oximeter"),
        valid=_source,
        example="serial:/dev/ttyUSB0",
    ),
    Field(
        "label",
        "label",
        "device_assignments.label",
        lambda d, v: d.record.trials.assign_device(d.staff.nurse, d.planned, _source(d, 30), v),
    ),
    Field(
        "protocol",
        "code",
        "device_assignments.protocol",
        lambda d, v: d.record.trials.assign_device(
            d.staff.nurse, d.planned, _source(d, 30), "Oximeter", v
        ),
        example="nonin",
    ),
    Field(
        "note",
        "note",
        "observation_sets.note",
        lambda d, v: d.record.observations.record(
            d.staff.nurse,
            d.monitored,
            {"measured_at": d.clock.now - timedelta(minutes=5), "rr": 14, "note": v},
        ),
    ),
    Field(
        "reason",
        "note",
        "observation_sets.correction_reason",
        lambda d, v: d.record.observations.correct(
            d.staff.nurse,
            d.set_id,
            {"measured_at": d.clock.now - timedelta(minutes=30), "rr": 15},
            v,
        ),
    ),
    Field(
        "note",
        "note",
        "assessments.note",
        lambda d, v: d.record.assessments.record(
            d.staff.physio, d.monitored, assessment(d.clock, note=v)
        ),
    ),
    Field(
        "timing_reason",
        "note",
        None,
        lambda d, v: d.record.assessments.record(
            d.staff.physio, d.monitored, assessment(d.clock, timing_reason=v)
        ),
    ),
    Field(
        "penn_recall_period",
        "label",
        "assessments.penn_recall_period",
        lambda d, v: d.record.assessments.record(
            d.staff.physio,
            d.monitored,
            assessment(d.clock, penn_frequency=1, penn_severity=1, penn_recall_period=v),
        ),
        example="past week",
    ),
    Field(
        "goals.0",
        "goal",
        "goal_ratings.goal",
        lambda d, v: d.record.assessments.record(
            d.staff.physio, d.monitored, assessment(d.clock, goals=[{"goal": v}])
        ),
        example="Walk to the bathroom with one stick",
    ),
    Field(
        "reason",
        "note",
        "assessments.correction_reason",
        lambda d, v: d.record.assessments.correct(
            d.staff.physio, d.assessment, assessment(d.clock, pain_nrs=3), v
        ),
    ),
    Field(
        "note",
        "note",
        "alarm_events.note",
        lambda d, v: d.record.alarms.acknowledge(d.staff.nurse, d.alarm, v),
    ),
    Field(
        "note",
        "note",
        "alarm_events.note",
        lambda d, v: d.record.alarms.acknowledge_bed(d.staff.nurse, d.monitored, v),
    ),
    Field(
        "rule_id",
        "code",
        "alarms.rule_id",
        lambda d, v: d.record.alarms.record_events(
            d.staff.service, [alarm_event(d.monitored, d.clock, v)]
        ),
        example="sbp_low",
    ),
    Field(
        "rule_set_version",
        "code",
        "alarms.rule_set_version",
        lambda d, v: d.record.alarms.record_events(
            d.staff.service, [alarm_event(d.monitored, d.clock, "rr_low", rule_set_version=v)]
        ),
        example="itbmon-default-3",
    ),
    Field(
        "source_device",
        "device",
        "vital_readings.source_device",
        lambda d, v: d.record.readings.add(
            d.staff.service,
            [ReadingIn(d.monitored, Parameter.SPO2, 97.0, d.clock.now, d.clock.now, v)],
        ),
        valid=_source,
        example="serial:/dev/ttyUSB0",
    ),
    Field(
        "rule_set_version",
        "code",
        "set_scores.rule_set_version",
        lambda d, v: d.record.set_scores.record(d.staff.service, [score(d, v)]),
        example="itbmon-default-3",
    ),
    Field(
        "rule_set_version",
        "code",
        "schedule_judgements.rule_set_version",
        lambda d, v: d.record.set_scores.record(
            d.staff.service,
            (),
            [ScheduleJudgementIn(d.monitored, d.clock.now, v, None, d.clock.now, ())],
        ),
        example="itbmon-default-3",
    ),
    Field(
        "service_id",
        "service",
        "service_heartbeats.service_id",
        lambda d, v: d.record.services.beat(v, "embedded", "ward-pc", 1),
        example="ward-pc-123-abc",
    ),
    Field(
        "kind",
        "word",
        "service_heartbeats.kind",
        lambda d, v: d.record.services.beat("svc", v, "ward-pc", 1),
        example="embedded",
    ),
    Field(
        "host",
        "service",
        "service_heartbeats.host",
        lambda d, v: d.record.services.beat("svc", "embedded", v, 1),
        example="ward-pc",
    ),
    Field(
        "source",
        "device",
        "device_leases.source",
        lambda d, v: d.record.services.acquire(v, d.monitored, "svc", timedelta(seconds=30)),
        valid=_source,
        example="serial:/dev/ttyUSB0",
    ),
    Field(
        "service_id",
        "service",
        "device_leases.service_id",
        lambda d, v: d.record.services.acquire("sim:steady", d.monitored, v, timedelta(seconds=30)),
        example="ward-pc-123-abc",
    ),
    Field(
        "source",
        "device",
        "device_states.source",
        lambda d, v: d.record.services.set_device_state(
            v, d.monitored, "connected", "streaming", d.clock.now
        ),
        valid=_source,
        example="serial:/dev/ttyUSB0",
    ),
    Field(
        "state",
        "word",
        "device_states.state",
        lambda d, v: d.record.services.set_device_state(
            "sim:steady", d.monitored, v, "streaming", d.clock.now
        ),
        example="connected",
    ),
]

# Prose a program writes that the record keeps whatever it holds: an alarm is never lost over
# a character (unstorable characters become U+FFFD, a text too long is cut with "…").
KEPT_WHATEVER: list[Field] = [
    Field(
        "message",
        "note",
        "alarm_events.message",
        lambda d, v: d.record.alarms.record_events(
            d.staff.service, [alarm_event(d.monitored, d.clock, f"rule{next(d.serial)}", message=v)]
        ),
    ),
    Field(
        "reason",
        "note",
        "device_states.reason",
        lambda d, v: d.record.services.set_device_state(
            f"sim:steady?seed={next(d.serial)}", d.monitored, "disconnected", v, d.clock.now
        ),
    ),
]


def _field_id(field: Field) -> str:
    return f"{field.column or 'audit'}:{field.name}"


def refused(day: Day, field: Field, value: str) -> str:
    """Write ``value`` to ``field``: it must be refused naming the field, nothing written."""
    before = snapshot(day.record)
    with pytest.raises(InvalidEntry) as caught:  # not a DataError, nor anything else
        field.write(day, value)
    assert [p.field for p in caught.value.problems] == [field.name], caught.value.problems
    message = caught.value.message
    assert len(message) < 300, "the message must not repeat what was typed"
    assert snapshot(day.record) == before, "a refused text changed the record"
    return message


@pytest.mark.parametrize("field", FIELDS, ids=_field_id)
def test_every_text_field_refuses_what_it_cannot_keep_and_keeps_its_longest(day: Day, field: Field):
    limit = max_chars(field.kind)
    message = refused(day, field, TEN_MB)
    assert f"longer than {limit:,} characters (" in message
    assert f" {len(TEN_MB):,})" in message
    message = refused(day, field, field.valid(day, limit + 1))
    assert f"longer than {limit:,} characters (" in message and f" {limit + 1:,})" in message
    middle = len(field.example) // 2
    for name, char in UNSTORABLE.items():
        message = refused(day, field, field.example[:middle] + char + field.example[middle:])
        assert f"U+{ord(char):04X}" in message, name
        assert (
            "control character" if name != "right-to-left override" else "text-direction control"
        ) in message
    # Exactly the limit is accepted, and the database keeps it whole.
    longest = field.valid(day, limit)
    assert len(longest) == limit
    field.write(day, longest)
    if field.column is not None:
        table, column = field.column.split(".")
        with day.record.store.reading() as session:
            kept = session.execute(text(f"SELECT {column} FROM {table}")).scalars().all()
        assert longest in kept


@pytest.mark.parametrize("field", KEPT_WHATEVER, ids=_field_id)
def test_an_alarm_message_or_device_reason_is_kept_whatever_it_holds(day: Day, field: Field):
    limit = max_chars(field.kind)
    assert field.column is not None
    table, column = field.column.split(".")

    def kept_after(value: str) -> set[str]:
        """Write ``value``; what the column holds afterwards."""
        before = snapshot(day.record)
        field.write(day, value)
        assert snapshot(day.record) != before, "the text was not kept"
        with day.record.store.reading() as session:
            return set(session.execute(text(f"SELECT {column} FROM {table}")).scalars())

    assert "x" * (limit - 1) + "…" in kept_after(TEN_MB)
    for char in UNSTORABLE.values():
        assert "Link lost\ufffd retrying" in kept_after(f"Link lost{char} retrying")
    longest = field.valid(day, limit)
    assert longest in kept_after(longest)


def test_a_bed_too_long_is_refused_in_words_beside_the_field(day: Day):
    before = snapshot(day.record)
    with pytest.raises(InvalidEntry) as caught:
        day.record.trials.plan(day.staff.specialist, day.patient, 50, bed="B" * 30)
    [problem] = caught.value.problems
    assert problem.field == "bed"
    assert problem.message == "Bed is longer than 12 characters (you typed 30): shorten it."
    assert snapshot(day.record) == before


def test_every_problem_of_a_form_is_reported_at_once(day: Day):
    with pytest.raises(InvalidEntry) as caught:
        day.record.patients.register(
            day.staff.specialist,
            patient_details(
                nhs_number="9990000026",
                hospital_number="H\x00",
                family_name="x" * 101,
                given_name="Al\u202eex",
            ),
        )
    assert {p.field for p in caught.value.problems} == {
        "hospital_number",
        "family_name",
        "given_name",
    }


def test_one_line_fields_refuse_line_breaks_and_notes_keep_them(day: Day):
    for bed in ("D\n7", "D\t7", "D\r7", "D\u20287"):
        with pytest.raises(InvalidEntry, match="Bed must be on one line"):
            day.record.trials.plan(day.staff.specialist, day.patient, 50, bed=bed)
    kept = day.record.observations.record(
        day.staff.nurse,
        day.monitored,
        {
            "measured_at": day.clock.now - timedelta(minutes=5),
            "rr": 14,
            "note": "  Sat up.\r\nO2 2 L\tvia nasal specs.\rDr Jones told.  ",
        },
    )
    assert kept.note == "Sat up.\nO2 2 L\tvia nasal specs.\nDr Jones told."


def test_text_is_kept_trimmed_and_in_one_unicode_form(day: Day):
    decomposed = "Zoe\u0301 "  # "Zoé" typed with a combining accent
    patient = day.record.patients.register(
        day.staff.specialist,
        patient_details(nhs_number="9990000026", hospital_number="z9", given_name=decomposed),
    )
    assert patient.given_name == "Zo\u00e9"
    trial = day.record.trials.plan(day.staff.specialist, day.patient, 50, bed="  D7 ")
    assert trial.bed == "D7"


def test_names_in_any_script_are_kept(day: Day):
    """Right-to-left and other scripts are text like any other: only invisible controls go."""
    hebrew, arabic = "\u05db\u05d4\u05df", "\u0627\u0644\u0639\u0644\u064a"
    for family in (hebrew, arabic, "Nguy\u1ec5n", "O'Brien-Smith"):
        day.record.patients.correct(
            day.staff.specialist, day.patient, patient_details(family_name=family), "Spelling"
        )
        assert day.record.patients.get(day.patient).family_name == family


def test_a_text_that_is_not_text_is_refused(day: Day):
    with pytest.raises(InvalidEntry, match="Bed must be text"):
        day.record.trials.plan(day.staff.specialist, day.patient, 50, bed=12)  # type: ignore[arg-type]
    with pytest.raises(InvalidEntry, match="not valid text"):
        day.record.trials.extend_window(day.staff.doctor, day.monitored, 30, "late \ud800")


def test_an_nhs_number_in_other_digits_is_refused_not_a_crash(day: Day):
    for typed in ("\u0669\u0669\u0669" + "0000026", "999000002\u00b2"):
        with pytest.raises(InvalidEntry) as caught:
            day.record.patients.register(
                day.staff.specialist, patient_details(nhs_number=typed, hospital_number="Z9")
            )
        assert [p.field for p in caught.value.problems] == ["nhs_number"]
    for typed in (TEN_MB, "999\x000000026", "999\u202e0000026"):
        message = refused_patient(day, typed)
        assert len(message) < 300


def refused_patient(day: Day, nhs: str) -> str:
    before = snapshot(day.record)
    with pytest.raises(InvalidEntry) as caught:
        day.record.patients.register(
            day.staff.specialist, patient_details(nhs_number=nhs, hospital_number="Z9")
        )
    assert [p.field for p in caught.value.problems] == ["nhs_number"]
    assert snapshot(day.record) == before
    return caught.value.message


def test_a_refused_score_label_is_not_repeated_back(day: Day):
    with pytest.raises(InvalidEntry) as caught:
        day.record.assessments.record(
            day.staff.physio,
            day.monitored,
            assessment(
                day.clock,
                ashworth=[{"muscle_group": "hip_flexors", "side": "left", "label": TEN_MB}],
            ),
        )
    assert caught.value.message.startswith("That score is not a modified ashworth score")


def test_a_search_the_record_cannot_hold_finds_no_one(day: Day):
    assert day.record.patients.find("Smi")
    for search in ("Smi\x00", "\u202eSmi", TEN_MB, "%", "_mith"):
        assert day.record.patients.find(search) == []


def test_a_device_name_not_given_is_the_device_cut_to_a_label(day: Day):
    source = _source(day, max_chars("device"))
    assigned = day.record.trials.assign_device(day.staff.nurse, day.planned, source, "  ")
    assert len(assigned.label) == max_chars("label")
    assert source.startswith(assigned.label[:-1]) and assigned.label.endswith("…")


# ------------------------------------------------------------------------------ the limits


def test_every_kind_fits_every_column_that_keeps_it():
    kinds = load_limits().text
    for kind, columns in STORED_IN.items():
        for name in columns:
            length = column_length(name)
            assert length is None or kinds[kind].max_chars <= length, (kind, name)


# String columns no person or device writes free text to: filled from the vocabulary, checked
# against a list, or made by the record itself (hashes, fixed action names).
NOT_FREE_TEXT = {
    "users.roles",
    "users.password_hash",
    "patients.nhs_number",
    "trials.status",
    "injections.route",
    "vital_readings.parameter",
    "vital_readings.unit",
    "vital_readings.flags",
    "observation_sets.consciousness",
    "observation_sets.poss",
    "assessments.time_point",
    "assessments.ashworth_scale",
    "ashworth_scores.muscle_group",
    "ashworth_scores.side",
    "ashworth_scores.label",
    "alarms.kind",
    "alarm_events.event",
    "alarm_events.priority",
    "decisions.outcome",
    "set_scores.band",
    "set_scores.spo2_from",
    "set_scores.pulse_from",
    "audit_log.action",
    "audit_log.entity",
    "audit_log.prev_hash",
    "audit_log.row_hash",
    "sign_in_sessions.token_sha256",
    "sign_in_sessions.kind",
    "sign_in_sessions.end_reason",
}


def test_every_bounded_text_column_is_either_free_text_with_a_kind_or_coded():
    """A new String(n) column must be given a kind (free_text.STORED_IN) or be listed here as
    coded: otherwise nothing stops a long text reaching it and PostgreSQL refusing it."""
    stored = {name for columns in STORED_IN.values() for name in columns}
    bounded = {
        f"{table.name}.{column.name}"
        for table in Base.metadata.sorted_tables
        for column in table.columns
        if isinstance(column.type, String) and column.type.length is not None
    }
    assert bounded - stored - NOT_FREE_TEXT == set()
    assert (stored | NOT_FREE_TEXT) - bounded - {
        name for name in stored if column_length(name) is None
    } == set()


def test_a_limit_larger_than_its_column_stops_the_limits_loading():
    kinds = dict(load_limits().text)
    kinds["bed"] = kinds["bed"].model_copy(update={"max_chars": 30})
    with pytest.raises(ValueError, match=r"text.bed.max_chars 30 .* trials.bed holds"):
        check_kinds_fit(kinds)
    data = yaml.safe_load(LIMITS_FILE.read_text(encoding="utf-8"))
    data["text"]["bed"]["max_chars"] = 30
    with pytest.raises(ValidationError, match=r"trials\.bed"):
        Limits.model_validate(data)


def test_the_note_limit_is_written_once_and_read_where_it_was(tmp_path: Path):
    limits = load_limits()
    assert limits.trial_day.max_note_chars == limits.text["note"].max_chars == max_chars("note")
    data = yaml.safe_load(LIMITS_FILE.read_text(encoding="utf-8"))
    data["trial_day"]["max_note_chars"] = 100
    with pytest.raises(ValidationError, match=r"text\.note\.max_chars"):
        Limits.model_validate(data)
    data = yaml.safe_load(LIMITS_FILE.read_text(encoding="utf-8"))
    data["text"]["note"]["max_chars"] = 500
    assert Limits.model_validate(data).trial_day.max_note_chars == 500


def test_clean_text_checks_what_a_program_gives_exactly_as_given():
    assert clean_text("rule_id", " spo2_low", "code", required=True, as_given=True) == " spo2_low"
    with pytest.raises(InvalidEntry, match="is longer than 40"):
        clean_text("rule_id", "r" * 40 + " ", "code", required=True, as_given=True)
