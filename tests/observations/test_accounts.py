"""Accounts, sign-in throttling, and every forbidden action per role, enforced by the record."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest

from observations.alarms import AlarmEventIn
from observations.entries import ReadingIn
from observations.errors import InvalidEntry, NotPermitted
from observations.exports import export_for
from observations.record import TrialRecord
from observations.store import PERMISSIONS, Actor
from observations.users import SignInRefused
from tests.accounts import local_person
from tests.observations.conftest import FakeClock, patient_details
from vocabulary import (
    AlarmEventType,
    AlarmKind,
    DecisionOutcome,
    Parameter,
    Priority,
    Role,
    TrialStatus,
)

PASSWORD = "ward seven tea"


def test_first_account_must_be_an_admin_and_only_once(record: TrialRecord):
    assert record.users.first_admin_needed()
    with pytest.raises(InvalidEntry, match="must be an admin"):
        record.users.create(None, "nurse", "Nurse", {Role.NURSE}, PASSWORD)
    admin = record.users.create(None, "boss", "Boss", {Role.ADMIN}, PASSWORD)
    assert not record.users.first_admin_needed()
    with pytest.raises(NotPermitted, match="Only an administrator"):
        record.users.create(None, "other", "Other", {Role.ADMIN}, PASSWORD)
    assert admin.roles == "admin"


def test_short_password_refused_and_hash_never_plain(record: TrialRecord):
    with pytest.raises(InvalidEntry, match="at least 12 characters"):
        record.users.create(None, "boss", "Boss", {Role.ADMIN}, "short")
    record.users.create(None, "boss", "Boss", {Role.ADMIN}, PASSWORD)
    from sqlalchemy import select

    from observations.schema import User

    with record.store.reading() as session:
        stored = session.scalar(select(User.password_hash).where(User.username == "boss"))
    assert stored.startswith("$argon2id$") and PASSWORD not in stored


def test_sign_in_success_and_failure_are_audited(record: TrialRecord):
    record.users.create(None, "boss", "Boss", {Role.ADMIN}, PASSWORD)
    actor = record.users.sign_in(" Boss ", PASSWORD)
    assert actor.username == "boss" and Role.ADMIN in actor.roles
    with pytest.raises(SignInRefused, match="do not match"):
        record.users.sign_in("boss", "wrong password!")
    with pytest.raises(SignInRefused, match="do not match"):
        record.users.sign_in("nobody", PASSWORD)
    actions = [e.action for e in record.audit.entries(action_prefix="auth.")]
    assert actions == ["auth.sign_in_failed", "auth.sign_in_failed", "auth.sign_in"]


def test_repeated_failures_are_slowed_down(record: TrialRecord, clock: FakeClock):
    record.users.create(None, "boss", "Boss", {Role.ADMIN}, PASSWORD)
    for _ in range(3):  # three free attempts (limits.yaml: free_attempts)
        with pytest.raises(SignInRefused, match="do not match"):
            record.users.sign_in("boss", "wrong password!")
    # The fourth comes too soon: refused even with the right password, and audited.
    with pytest.raises(SignInRefused, match="Too many wrong passwords"):
        record.users.sign_in("boss", PASSWORD)
    clock.advance(seconds=2)  # first_delay_seconds: the wait has passed
    assert record.users.sign_in("boss", PASSWORD).username == "boss"
    assert record.audit.entries(action_prefix="auth.sign_in_throttled")


def test_waits_double_with_each_failure(record: TrialRecord, clock: FakeClock):
    record.users.create(None, "boss", "Boss", {Role.ADMIN}, PASSWORD)
    for _ in range(3):
        with pytest.raises(SignInRefused, match="do not match"):
            record.users.sign_in("boss", "wrong password!")
    for expected in (2, 4, 8, 16, 32, 60, 60):  # doubling, up to max_delay_seconds
        with pytest.raises(SignInRefused, match=f"Try again in {expected} seconds"):
            record.users.sign_in("boss", "wrong password!")
        clock.advance(seconds=expected)
        with pytest.raises(SignInRefused, match="do not match"):
            record.users.sign_in("boss", "wrong password!")


def test_a_disabled_or_downgraded_account_stops_acting_at_once(
    record: TrialRecord, clock: FakeClock
):
    """A screen signed in before the change holds an Actor that still says nurse or doctor:
    the record reads the account as it stands inside each action and refuses, writing
    nothing. An Actor made up with roles the account does not hold is refused the same way."""
    admin = local_person(record, None, "boss", "Boss", Role.ADMIN)
    nurse = local_person(record, admin, "nurse.a", "Nurse A", Role.NURSE)
    doctor = local_person(record, admin, "dr.b", "Dr B", Role.DOCTOR)
    patient = record.patients.register(doctor, patient_details())
    trial = record.trials.plan(doctor, patient.id, 50).id
    record.users.change(admin, "nurse.a", active=False)
    with pytest.raises(NotPermitted, match="account disabled or its roles changed"):
        record.observations.record(nurse, trial, {"measured_at": clock.now, "rr": 14})
    assert record.observations.list(trial) == []
    record.users.change(admin, "dr.b", roles={Role.PHYSIOTHERAPIST})
    with pytest.raises(NotPermitted, match="Sign in again"):
        record.trials.record_injection(
            doctor,
            trial,
            {"dose_mcg": 50, "given_at": clock.now, "route": "catheter", "given_by": "Dr B"},
        )
    assert record.trials.get(trial).injection is None
    assert record.users.actor_for(nurse) is None and record.users.actor_for(doctor) is None
    # The nurse enabled again: the old screen's sign-in stays ended; a made-up Actor, with or
    # without roles the account holds, has no sign-in at all.
    record.users.change(admin, "nurse.a", active=True)
    with pytest.raises(NotPermitted, match="Sign in again"):
        record.observations.record(nurse, trial, {"measured_at": clock.now, "rr": 14})
    for forged in (
        Actor(nurse.user_id, "nurse.a", frozenset({Role.DOCTOR})),
        Actor(nurse.user_id, "nurse.a", frozenset({Role.NURSE})),
        Actor(nurse.user_id, "nurse.a", frozenset({Role.NURSE}), session_token="guess"),
    ):
        with pytest.raises(NotPermitted):
            record.trials.set_status(forged, trial, TrialStatus.CANCELLED)
        with pytest.raises(NotPermitted):
            record.observations.record(forged, trial, {"measured_at": clock.now, "rr": 14})
    assert record.observations.list(trial) == []
    # Signed in again, the account acts with what it holds now.
    again = record.users.sign_in("dr.b", PASSWORD)
    with pytest.raises(NotPermitted, match="record an injection"):
        record.trials.record_injection(
            again,
            trial,
            {"dose_mcg": 50, "given_at": clock.now, "route": "catheter", "given_by": "Dr B"},
        )


def test_disabled_account_cannot_sign_in(record: TrialRecord):
    admin = local_person(record, None, "boss", "Boss", Role.ADMIN)
    record.users.create(admin, "nurse.a", "Nurse A", {Role.NURSE}, PASSWORD)
    record.users.change(admin, "nurse.a", active=False)
    with pytest.raises(SignInRefused, match="disabled"):
        record.users.sign_in("nurse.a", PASSWORD)
    with pytest.raises(InvalidEntry, match="own account"):
        record.users.change(admin, "boss", active=False)
    change = record.audit.entries(action_prefix="user.change")[0]
    assert change.details["before"]["active"] is True and change.details["after"]["active"] is False


def test_last_admin_cannot_be_removed(record: TrialRecord):
    admin = local_person(record, None, "boss", "Boss", Role.ADMIN)
    with pytest.raises(InvalidEntry, match="administrator must remain"):
        record.users.change(admin, "boss", roles={Role.DOCTOR})


def test_password_confirmation_for_signatures(record: TrialRecord):
    admin = local_person(record, None, "boss", "Boss", Role.ADMIN)
    record.users.confirm_password(admin, PASSWORD, "decision")
    with pytest.raises(SignInRefused, match="nothing was signed"):
        record.users.confirm_password(admin, "not it at all", "decision")
    assert record.audit.entries(action_prefix="auth.confirm_failed")


def test_single_sign_on_maps_groups_to_roles(record: TrialRecord):
    mapping = {"itb-nurses": Role.NURSE, "itb-doctors": Role.DOCTOR}
    issuer = "https://login.trust.nhs.uk"
    actor = record.users.sign_in_external(issuer, "a-lee-1", "A Lee", ["itb-nurses"], mapping)
    assert actor.roles == frozenset({Role.NURSE})
    again = record.users.sign_in_external(
        issuer, "a-lee-1", "A Lee", ["itb-nurses", "itb-doctors"], mapping
    )
    assert again.roles == frozenset({Role.NURSE, Role.DOCTOR})
    assert again.user_id == actor.user_id
    # The roles changed: the screen signed in with the old ones is signed out.
    assert record.users.actor_for(actor) is None
    with pytest.raises(SignInRefused, match="not in any group"):
        record.users.sign_in_external(issuer, "x", "X", ["finance"], mapping)


# --------------------------------------------------------------------------- role matrix


def _world(record: TrialRecord, clock: FakeClock) -> dict[str, object]:
    from tests.accounts import sign_in_as

    people = {role: sign_in_as(record, role.value.replace("_", "."), role) for role in Role}
    cns = people[Role.NURSE_SPECIALIST]
    patient = record.patients.register(cns, patient_details())
    trial = record.trials.plan(cns, patient.id, 50).id
    service = record.users.service_actor()
    # A second trial in monitoring whose acknowledged alarm's condition is still present.
    other = record.patients.register(
        cns, patient_details(nhs_number="9990000018", hospital_number="Z2")
    )
    monitored = record.trials.plan(cns, other.id, 50).id
    record.trials.record_injection(
        people[Role.DOCTOR],
        monitored,
        {"dose_mcg": 50, "given_at": clock.now, "route": "catheter", "given_by": "x"},
    )
    record.alarms.record_events(
        service,
        [
            AlarmEventIn(
                monitored,
                "rr_low",
                AlarmEventType.RAISED,
                clock.now,
                Priority.MEDIUM,
                AlarmKind.PHYSIOLOGICAL,
                "Slow breathing: 11/min or less. Check sedation.",
                {"rr": 10},
                "test",
            )
        ],
    )
    present = record.alarms.active(monitored)[0].id
    record.alarms.acknowledge(people[Role.NURSE], present, "RR 10 counted; doctor told")
    # A third trial in monitoring, whose alarm waits for acknowledgement (the role matrix's).
    third = record.patients.register(
        cns, patient_details(nhs_number="9990000034", hospital_number="Z3")
    )
    waiting = record.trials.plan(cns, third.id, 50).id
    record.trials.record_injection(
        people[Role.DOCTOR],
        waiting,
        {"dose_mcg": 50, "given_at": clock.now, "route": "catheter", "given_by": "x"},
    )
    record.alarms.record_events(
        service,
        [
            AlarmEventIn(
                waiting,
                "spo2_low",
                AlarmEventType.RAISED,
                clock.now,
                Priority.MEDIUM,
                AlarmKind.PHYSIOLOGICAL,
                "Desaturation: SpO2 93 % or below",
                {"spo2": 92},
                "test",
            )
        ],
    )
    alarm = record.alarms.active(waiting)[0].id
    return {
        "people": people,
        "patient": patient.id,
        "trial": trial,
        "alarm": alarm,
        "monitored": monitored,
    }


def _actions(record: TrialRecord, world: dict, clock: FakeClock) -> dict[str, Callable]:
    from monitor import what_if as replay
    from rules.rule_set import default_rule_set

    trial, patient, alarm = world["trial"], world["patient"], world["alarm"]
    now = clock.now
    rules = default_rule_set()

    def what_if(actor: Actor) -> object:
        return replay.what_if(record, actor, rules, rules, [trial])

    return {
        "patient.register": lambda a: record.patients.register(
            a, patient_details(nhs_number="9990000026", hospital_number="Z1")
        ),
        "patient.correct": lambda a: record.patients.correct(
            a, patient, patient_details(), "check"
        ),
        "trial.plan": lambda a: record.trials.plan(a, patient, 50),
        "trial.status": lambda a: record.trials.set_status(a, trial, "cancelled"),
        "trial.close_with_conditions": lambda a: record.trials.set_status(
            a, world["monitored"], TrialStatus.ASSESSED, reason="handed over to the ward"
        ),
        "trial.extend_window": lambda a: record.trials.extend_window(a, trial, 30, "late peak"),
        "device.assign": lambda a: record.trials.assign_device(a, trial, "sim:steady", "Sim"),
        "injection.record": lambda a: record.trials.record_injection(
            a, trial, {"dose_mcg": 50, "given_at": now, "route": "catheter", "given_by": "x"}
        ),
        "observation.record": lambda a: record.observations.record(
            a, trial, {"measured_at": now, "rr": 14}
        ),
        "assessment.record": lambda a: record.assessments.record(
            a, trial, {"time_point": "baseline", "assessed_at": now}
        ),
        "alarm.acknowledge": lambda a: record.alarms.acknowledge(a, alarm, "seen"),
        "decision.sign": lambda a: record.decisions.record(
            a, trial, DecisionOutcome.INCONCLUSIVE, "why", reauthentication=None
        ),
        "trial.export": lambda a: export_for(record, a, trial, "csv"),
        "user.manage": lambda a: record.users.create(a, "new.one", "New", {Role.NURSE}, PASSWORD),
        "audit.read": lambda a: record.audit.entries_for(a),
        "alarm.review": lambda a: record.alarm_review.review(a, now.date(), now.date(), 12.0),
        "alarm.what_if": lambda a: what_if(a),
        "readings.add": lambda a: record.readings.add(
            a, [ReadingIn(trial, Parameter.SPO2, 97, now, now, "sim:x")]
        ),
        "alarm.record": lambda a: record.alarms.record_events(a, []),
    }


def test_every_forbidden_action_is_refused_for_every_role(record: TrialRecord, clock: FakeClock):
    world = _world(record, clock)
    actions = _actions(record, world, clock)
    assert set(actions) == set(PERMISSIONS) | {"readings.add", "alarm.record"}
    refusals = 0
    for role, actor in world["people"].items():
        for action, attempt in actions.items():
            if role in PERMISSIONS.get(action, frozenset()):
                continue
            before = len(record.audit.entries(limit=100000))
            with pytest.raises(NotPermitted, match="may not"):
                attempt(actor)
            assert len(record.audit.entries(limit=100000)) == before, (role, action)
            refusals += 1
    service = record.users.service_actor()
    for action in PERMISSIONS:
        with pytest.raises(NotPermitted):
            actions[action](service)
    # 5 roles x 14 actions, less the permitted pairs of the PERMISSIONS table.
    permitted = sum(len(roles) for roles in PERMISSIONS.values())
    assert refusals == len(Role) * len(actions) - permitted


def test_roles_combine(record: TrialRecord, clock: FakeClock):
    admin = local_person(record, None, "boss", "Boss", Role.ADMIN)
    both = local_person(record, admin, "dr.cns", "Both", Role.DOCTOR, Role.NURSE_SPECIALIST)
    assert isinstance(both, Actor) and both.roles == {Role.DOCTOR, Role.NURSE_SPECIALIST}
    patient = record.patients.register(both, patient_details())
    trial = record.trials.plan(both, patient.id, 50)
    result = record.trials.record_injection(
        both,
        trial.id,
        {
            "dose_mcg": 50,
            "given_at": clock.now - timedelta(minutes=1),
            "route": "catheter",
            "given_by": "Dr Both",
        },
    )
    assert result.injection.dose_mcg == 50
