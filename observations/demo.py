"""A demo trial streaming from the simulator, so a new user sees a live trial at once.

Demo patients carry NHS test numbers (999 000 0000-999 999 9999) and are marked as such
wherever they are shown.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from observations.nhs_number import nhs_test_numbers
from observations.record import TrialRecord
from observations.schema import Patient
from observations.store import Actor
from observations.views import PatientView, TrialView
from vocabulary import InjectionRoute, TrialStatus

DEMO_SCENARIOS = ("steady", "overdose", "artefact", "probe-off", "link-loss")


def _next_test_number(record: TrialRecord) -> tuple[str, int]:
    with record.store.reading() as session:
        used = set(session.scalars(select(Patient.nhs_number)))
    for number, serial in nhs_test_numbers():
        if number not in used:
            return number, serial
    raise RuntimeError("no NHS test number left for a demo patient")


def register_demo_patient(record: TrialRecord, actor: Actor) -> tuple[PatientView, int]:
    """A new patient with the next free NHS test number; returns it and its serial."""
    nhs, serial = _next_test_number(record)
    patient = record.patients.register(
        actor,
        {
            "nhs_number": nhs,
            "hospital_number": f"DEMO{serial:05d}",
            "family_name": "Demo",
            "given_name": f"Patient {serial}",
            "date_of_birth": "1975-06-15",
        },
    )
    return patient, serial


def create_demo_trial(
    record: TrialRecord,
    actor: Actor | None = None,
    scenario: str = "overdose",
    injected_minutes_ago: int = 2,
    bed: str | None = None,
    speed: float = 1.0,
) -> TrialView:
    """Register a demo patient, plan a 50 mcg trial, assign the simulator, record the injection."""
    if scenario not in DEMO_SCENARIOS:
        raise ValueError(f"unknown demo scenario {scenario!r}; choose from {DEMO_SCENARIOS}")
    actor = actor or record.users.demo_clinician()
    patient, serial = register_demo_patient(record, actor)
    trial = record.trials.plan(actor, patient.id, 50, bed=bed or f"D{serial}")
    record.trials.set_status(actor, trial.id, TrialStatus.BASELINE)
    # An accelerated simulator replays the day up to now at `speed`, then runs in real time.
    options = f"seed={trial.id}" + (f"&speed={speed:g}" if speed != 1 else "")
    record.trials.assign_device(
        actor, trial.id, f"sim:{scenario}?{options}", f"Simulator ({scenario})"
    )
    record.trials.record_injection(
        actor,
        trial.id,
        {
            "dose_mcg": 50,
            "given_at": record.store.now() - timedelta(minutes=injected_minutes_ago),
            "route": InjectionRoute.LUMBAR_PUNCTURE,
            "given_by": "Demo clinician",
        },
    )
    return record.trials.get(trial.id)
