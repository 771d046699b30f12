"""Seeding a record for the page and browser tests: people, a trial in monitoring, readings,
alarm events and monitor heartbeats, written through the record API as the monitor would."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from observations.alarms import AlarmEventIn
from observations.entries import ReadingIn
from observations.record import TrialRecord
from observations.settings import load_settings
from observations.store import Actor
from observations.views import TrialView
from tests.accounts import local_person
from vocabulary import (
    AlarmEventType,
    AlarmKind,
    InjectionRoute,
    Parameter,
    Priority,
    QualityFlag,
    Role,
    TrialStatus,
)

DEVICE = "sim:overdose?seed=1"


@dataclass
class People:
    admin: Actor
    nurse: Actor
    cns: Actor
    doctor: Actor
    physio: Actor


def make_people(record: TrialRecord) -> People:
    admin = local_person(record, None, "admin", "Admin", Role.ADMIN)
    return People(
        admin=admin,
        nurse=local_person(record, admin, "nurse", "Nurse Ng", Role.NURSE),
        cns=local_person(record, admin, "cns", "Nurse Spec", Role.NURSE_SPECIALIST),
        doctor=local_person(record, admin, "doctor", "Dr Who", Role.DOCTOR),
        physio=local_person(record, admin, "physio", "Physio P", Role.PHYSIOTHERAPIST),
    )


def monitoring_trial(
    record: TrialRecord,
    people: People,
    *,
    nhs: str = "9434765919",
    mrn: str = "H77",
    family: str = "Jones",
    bed: str = "4B",
    minutes_ago: float = 20,
    device: str | None = DEVICE,
) -> TrialView:
    patient = record.patients.register(
        people.cns,
        {
            "nhs_number": nhs,
            "hospital_number": mrn,
            "family_name": family,
            "given_name": "Sam",
            "date_of_birth": "1980-01-01",
        },
    )
    trial = record.trials.plan(people.cns, patient.id, 50, bed=bed)
    record.trials.set_status(people.cns, trial.id, TrialStatus.BASELINE)
    if device:
        record.trials.assign_device(people.nurse, trial.id, device, "Simulator (overdose)")
    record.trials.record_injection(
        people.doctor,
        trial.id,
        {
            "dose_mcg": 50,
            "given_at": record.store.now() - timedelta(minutes=minutes_ago),
            "route": InjectionRoute.LUMBAR_PUNCTURE,
            "given_by": "Dr Who",
        },
    )
    return record.trials.get(trial.id)


def add_vitals(
    record: TrialRecord,
    trial_id: int,
    at: datetime,
    spo2: float | None,
    pulse: float | None,
    device: str = DEVICE,
    flags: frozenset[QualityFlag] = frozenset(),
) -> None:
    service = record.users.service_actor()
    record.readings.add(
        service,
        [
            ReadingIn(trial_id, Parameter.SPO2, spo2, at, at, device, flags),
            ReadingIn(trial_id, Parameter.PULSE_RATE, pulse, at, at, device, flags),
        ],
    )


def raise_alarm(
    record: TrialRecord,
    trial_id: int,
    at: datetime,
    # A rule of the running rule set: the monitor ends an acknowledged alarm of a rule it does
    # not know (its own readings-dropped alarm), which would race the test's checks.
    rule_id: str = "spo2_low",
    message: str = "Critical desaturation: SpO2 84 %",
    priority: Priority = Priority.HIGH,
) -> None:
    record.alarms.record_events(
        record.users.service_actor(),
        [
            AlarmEventIn(
                trial_id=trial_id,
                rule_id=rule_id,
                event=AlarmEventType.RAISED,
                at=at,
                priority=priority,
                kind=AlarmKind.PHYSIOLOGICAL,
                message=message,
                evidence={"value": 84, "threshold": 85, "held_s": 5},
                rule_set_version="test",
            )
        ],
    )


def beat(record: TrialRecord) -> None:
    record.services.beat("test-monitor", "embedded", "ward-pc", os.getpid())


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("ITBMON_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("ITBMON_DATABASE_URL", raising=False)
    from screens.shared import get_record

    get_record.clear()
    return tmp_path / "data"


@pytest.fixture
def record(data_dir: Path):  # type: ignore[no-untyped-def]
    opened = TrialRecord.open(load_settings())
    yield opened
    opened.close()


@pytest.fixture
def people(record: TrialRecord) -> People:
    return make_people(record)
