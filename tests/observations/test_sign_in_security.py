"""Sign-in sessions, single sign-on identities, the signature's fresh password, throttling that
holds under concurrent guesses, and sign-in that never blocks the monitor's writes."""

from __future__ import annotations

import sqlite3
import threading
import time
from datetime import timedelta

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select, text

from observations.entries import ReadingIn
from observations.errors import NotPermitted
from observations.record import TrialRecord
from observations.schema import SignInSession, User
from observations.store import PG_WRITE_LOCK_KEY, Actor, Reauthentication
from observations.users import SignInRefused
from tests.accounts import PASSWORD, local_person, reauthenticated
from tests.observations.conftest import FakeClock, Staff, patient_details
from vocabulary import DecisionOutcome, Parameter, Role, TrialStatus

ISSUER = "https://login.trust.nhs.uk"
MAPPING = {"itb-nurses": Role.NURSE, "itb-admins": Role.ADMIN}


# --------------------------------------------------------------------------- sessions


def test_the_record_keeps_only_a_hash_of_the_sign_in_token(record: TrialRecord):
    local_person(record, None, "boss", "Boss", Role.ADMIN)
    actor = record.users.sign_in("boss", PASSWORD)
    with record.store.reading() as session:
        stored = list(session.scalars(select(SignInSession.token_sha256)))
    assert actor.session_token and actor.session_token not in stored
    assert "token" not in repr(actor)


def test_sign_out_ends_the_sign_in_everywhere_it_is_held(record: TrialRecord):
    admin = local_person(record, None, "boss", "Boss", Role.ADMIN)
    record.users.sign_out(admin)
    assert record.users.actor_for(admin) is None
    with pytest.raises(NotPermitted, match="Sign in again"):
        record.users.change(admin, "boss", active=True)
    record.users.sign_out(admin)  # twice is harmless
    assert [e.action for e in record.audit.entries(action_prefix="auth.sign_out")] == [
        "auth.sign_out"
    ]


def test_a_sign_in_lasts_one_shift(record: TrialRecord, staff: Staff, clock: FakeClock):
    patient = record.patients.register(staff.specialist, patient_details())
    clock.advance(hours=12, minutes=59)
    record.trials.plan(staff.specialist, patient.id, 50)
    clock.advance(minutes=2)  # accounts.session_max_hours: 13
    assert record.users.actor_for(staff.specialist) is None
    with pytest.raises(NotPermitted, match="Sign in again"):
        record.trials.plan(staff.specialist, patient.id, 50)
    # The monitor's service identity is not a person's shift: it goes on.
    assert record.users.actor_for(staff.service) is not None


def test_roles_come_from_the_record_not_from_the_screen(record: TrialRecord):
    admin = local_person(record, None, "boss", "Boss", Role.ADMIN)
    both = local_person(record, admin, "dr.cns", "Both", Role.DOCTOR, Role.NURSE_SPECIALIST)
    current = record.users.actor_for(both)
    assert current is not None and current.roles == {Role.DOCTOR, Role.NURSE_SPECIALIST}
    record.users.change(admin, "dr.cns", roles={Role.NURSE_SPECIALIST})
    assert record.users.actor_for(both) is None  # signed out by the change
    again = record.users.sign_in("dr.cns", PASSWORD)
    assert again.roles == {Role.NURSE_SPECIALIST}


def test_a_service_identity_cannot_be_made_up(record: TrialRecord, staff: Staff, clock: FakeClock):
    patient = record.patients.register(staff.specialist, patient_details())
    trial = record.trials.plan(staff.specialist, patient.id, 50).id
    reading = [ReadingIn(trial, Parameter.SPO2, 97, clock.now, clock.now, "sim:x")]
    service_id = staff.service.user_id
    for forged in (
        Actor(service_id, "monitor-service", frozenset(), is_service=True),
        Actor(
            staff.nurse.user_id,
            "nurse",
            frozenset(),
            is_service=True,
            session_token=staff.nurse.session_token,
        ),
        Actor(
            service_id,
            "monitor-service",
            frozenset(),
            is_service=False,
            session_token=staff.service.session_token,
        ),
    ):
        with pytest.raises(NotPermitted):
            record.readings.add(forged, reading)
    record.readings.add(staff.service, reading)
    assert record.readings.count(trial) == 1


# --------------------------------------------------------------------------- single sign-on


def test_single_sign_on_identities_never_merge_or_take_over_a_local_account(
    record: TrialRecord,
):
    local_person(record, None, "admin", "Local Admin", Role.ADMIN)
    john_a = record.users.sign_in_external(
        ISSUER, "john@smith.nhs.uk", "John A", ["itb-nurses"], MAPPING
    )
    john_b = record.users.sign_in_external(
        ISSUER, "john.smith@nhs.uk", "John B", ["itb-nurses"], MAPPING
    )
    other_issuer = record.users.sign_in_external(
        "https://login.other.nhs.uk", "john@smith.nhs.uk", "John C", ["itb-nurses"], MAPPING
    )
    assert len({john_a.user_id, john_b.user_id, other_issuer.user_id}) == 3
    # A subject called "admin" is a new account of its own, never the local administrator.
    admin_subject = record.users.sign_in_external(
        ISSUER, "admin", "Mallory", ["itb-nurses"], MAPPING
    )
    local = record.users.get("admin")
    assert admin_subject.user_id != local.id and admin_subject.username != "admin"
    assert local.roles == "admin" and local.display_name == "Local Admin"
    # Single sign-on names carry '@', which no local username can: no later clash either.
    assert all("@" in a.username for a in (john_a, john_b, other_issuer, admin_subject))


def test_a_disabled_single_sign_on_account_is_refused(record: TrialRecord):
    admin = local_person(record, None, "boss", "Boss", Role.ADMIN)
    nurse = record.users.sign_in_external(ISSUER, "n1", "N One", ["itb-nurses"], MAPPING)
    record.users.change(admin, nurse.username, active=False)
    with pytest.raises(SignInRefused, match="disabled"):
        record.users.sign_in_external(ISSUER, "n1", "N One", ["itb-nurses"], MAPPING)


# --------------------------------------------------------------------------- signatures


def _assessed_trial(record: TrialRecord, staff: Staff, clock: FakeClock) -> int:
    patient = record.patients.register(staff.specialist, patient_details())
    trial = record.trials.plan(staff.specialist, patient.id, 50).id
    record.trials.record_injection(
        staff.doctor,
        trial,
        {
            "dose_mcg": 50,
            "given_at": clock.now - timedelta(hours=4, minutes=30),
            "route": "catheter",
            "given_by": "Dr Jones",
        },
    )
    record.trials.set_status(staff.doctor, trial, TrialStatus.ASSESSED)
    return trial


def test_the_signature_needs_a_fresh_password_once(
    record: TrialRecord, staff: Staff, clock: FakeClock
):
    trial = _assessed_trial(record, staff, clock)
    sign = record.decisions.record
    with pytest.raises(NotPermitted, match="password typed again"):
        sign(staff.doctor, trial, DecisionOutcome.RESPONDER, "why", reauthentication=None)
    made_up = Reauthentication(staff.doctor.user_id, "made-up")
    with pytest.raises(NotPermitted, match="password typed again"):
        sign(staff.doctor, trial, DecisionOutcome.RESPONDER, "why", reauthentication=made_up)
    # Another person's proof is not this signer's.
    theirs = reauthenticated(record, staff.specialist)
    with pytest.raises(NotPermitted, match="password typed again"):
        sign(staff.doctor, trial, DecisionOutcome.RESPONDER, "why", reauthentication=theirs)
    stale = reauthenticated(record, staff.doctor)
    clock.advance(seconds=121)  # accounts.reauthentication_seconds: 120
    with pytest.raises(NotPermitted, match="password typed again"):
        sign(staff.doctor, trial, DecisionOutcome.RESPONDER, "why", reauthentication=stale)
    proof = reauthenticated(record, staff.doctor)
    sign(staff.doctor, trial, DecisionOutcome.RESPONDER, "why", reauthentication=proof)
    assert record.trials.get(trial).status == TrialStatus.DECIDED


def test_a_proof_signs_once(record: TrialRecord, staff: Staff, clock: FakeClock):
    first = _assessed_trial(record, staff, clock)
    proof = reauthenticated(record, staff.doctor)
    record.decisions.record(
        staff.doctor, first, DecisionOutcome.RESPONDER, "clear", reauthentication=proof
    )
    other = record.patients.register(
        staff.specialist, patient_details(nhs_number="9990000018", hospital_number="Z2")
    )
    second = record.trials.plan(staff.specialist, other.id, 50).id
    record.trials.record_injection(
        staff.doctor,
        second,
        {
            "dose_mcg": 50,
            "given_at": clock.now - timedelta(hours=4, minutes=30),
            "route": "catheter",
            "given_by": "Dr Jones",
        },
    )
    record.trials.set_status(staff.doctor, second, TrialStatus.ASSESSED)
    with pytest.raises(NotPermitted, match="one signature"):
        record.decisions.record(
            staff.doctor, second, DecisionOutcome.RESPONDER, "clear", reauthentication=proof
        )


def test_password_confirmation_is_throttled(record: TrialRecord, clock: FakeClock):
    admin = local_person(record, None, "boss", "Boss", Role.ADMIN)
    doctor = local_person(record, admin, "dr.b", "Dr B", Role.DOCTOR)
    for _ in range(3):
        with pytest.raises(SignInRefused, match="nothing was signed"):
            record.users.confirm_password(doctor, "guess guess guess", "decision")
    # Thirty guesses in a row: all but the first three are refused unchecked.
    refusals = []
    for _ in range(30):
        with pytest.raises(SignInRefused) as refused:
            record.users.confirm_password(doctor, "guess guess guess", "decision")
        refusals.append(refused.value.message)
    assert all("Too many wrong passwords" in m for m in refusals)
    with pytest.raises(SignInRefused, match="Too many wrong passwords"):
        record.users.confirm_password(doctor, PASSWORD, "decision")
    clock.advance(seconds=2)
    assert record.users.confirm_password(doctor, PASSWORD, "decision").user_id == doctor.user_id


def test_a_stranger_keeps_a_clinician_waiting_a_minute_at_most_and_an_admin_clears_it(
    record: TrialRecord, clock: FakeClock
):
    admin = local_person(record, None, "boss", "Boss", Role.ADMIN)
    local_person(record, admin, "dr.b", "Dr B", Role.DOCTOR)
    for _ in range(40):  # a stranger, guessing as fast as the throttle lets them
        with pytest.raises(SignInRefused):
            record.users.sign_in("dr.b", "guess guess guess")
        clock.advance(seconds=1)
    with pytest.raises(SignInRefused, match=r"Try again in \d+ seconds") as refused:
        record.users.sign_in("dr.b", PASSWORD)
    wait = int(refused.value.message.split("Try again in ")[1].split(" ")[0])
    assert wait <= 60
    assert record.users.failed_attempts("dr.b") > 3
    record.users.unlock(admin, "dr.b")
    assert record.users.failed_attempts("dr.b") == 0
    assert record.users.sign_in("dr.b", PASSWORD).username == "dr.b"
    assert record.audit.entries(action_prefix="user.unlock")


# --------------------------------------------------------------------------- races


def test_concurrent_wrong_passwords_are_counted_one_by_one(record: TrialRecord):
    local_person(record, None, "boss", "Boss", Role.ADMIN)
    results: list[str] = []

    def guess() -> None:
        try:
            record.users.sign_in("boss", "guess guess guess")
        except SignInRefused as refused:
            results.append(refused.message)

    threads = [threading.Thread(target=guess) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    checked = [m for m in results if "do not match" in m]
    assert len(results) == 12 and len(checked) == 3  # free_attempts, then throttled


def test_two_first_administrators_at_once_make_one(record: TrialRecord):
    outcomes: list[str] = []

    def create(name: str) -> None:
        try:
            record.users.create(None, name, name.title(), {Role.ADMIN}, PASSWORD)
            outcomes.append("created")
        except NotPermitted:
            outcomes.append("refused")

    threads = [threading.Thread(target=create, args=(f"admin{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["created", "refused", "refused", "refused"]
    with record.store.reading() as session:
        assert len(session.scalars(select(User.id)).all()) == 1


WRITES = 20  # the monitor's writes: one each time the storm has had a junk guess refused


def test_a_sign_in_storm_never_stops_the_monitor_writing(
    record: TrialRecord, staff: Staff, clock: FakeClock
):
    """Junk sign-ins from three threads while the monitor writes a reading twice a second (on
    the test's clock), each write made while the other threads hash: the password hash is
    checked outside any write transaction, so every write goes in."""
    local_person(record, staff.admin, "dr.b", "Dr B", Role.DOCTOR)
    patient = record.patients.register(staff.specialist, patient_details())
    trial = record.trials.plan(staff.specialist, patient.id, 50).id
    stop = threading.Event()
    refused = threading.Semaphore(0)  # released once per junk guess refused
    refusals = [0, 0, 0]

    def storm(thread: int) -> None:
        n = 0
        while not stop.is_set():
            n += 1
            try:  # a new name each time: no throttle spares the hashing
                record.users.sign_in(f"junk{thread}.{n}", "junk junk junk")
            except SignInRefused:
                refusals[thread] += 1
                refused.release()

    threads = [threading.Thread(target=storm, args=(i,)) for i in range(len(refusals))]
    for thread in threads:
        thread.start()
    written, failed, slowest = 0, 0, 0.0
    try:
        for _ in range(WRITES):
            assert refused.acquire(timeout=60), "the storm stopped"
            clock.advance(seconds=0.5)
            began = time.monotonic()  # a measurement of the write, never a wait
            try:
                record.readings.add(
                    staff.service,
                    [ReadingIn(trial, Parameter.SPO2, 97, clock.now, clock.now, "sim:x")],
                )
                record.services.beat("storm-test", "standalone", "ward-pc", 1)
                written += 1
            except Exception:
                failed += 1
            slowest = max(slowest, time.monotonic() - began)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert all(refusals), refusals  # each of the three threads stormed
    # Three threads of hashing on a two-core machine slow everything down; what must hold is
    # that no write fails and none waits anywhere near the database's lock timeout (10 s).
    # (That no write lock is held while a hash is checked is tested directly below.)
    assert failed == 0 and written == WRITES, (written, failed)
    assert record.readings.count(trial) == WRITES
    assert slowest < 5.0, f"a monitor write waited {slowest:.2f} s"


def test_no_write_lock_is_held_while_a_password_is_checked(
    record: TrialRecord, staff: Staff, monkeypatch: pytest.MonkeyPatch
):
    """At the moment argon2 checks a password, another writer can take the write lock at
    once (SQLite: BEGIN IMMEDIATE without waiting; PostgreSQL: the writers' advisory lock)."""
    local_person(record, staff.admin, "dr.b", "Dr B", Role.DOCTOR)
    url = record.store.engine.url
    free: list[bool] = []
    original = PasswordHasher.verify

    def lock_is_free() -> bool:
        if url.get_backend_name() == "sqlite":
            connection = sqlite3.connect(url.database, timeout=0, isolation_level=None)
            try:
                connection.execute("BEGIN IMMEDIATE")
                connection.execute("ROLLBACK")
                return True
            except sqlite3.OperationalError:
                return False
            finally:
                connection.close()
        with record.store.engine.connect() as connection:
            return bool(
                connection.execute(
                    text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": PG_WRITE_LOCK_KEY}
                ).scalar()
            )

    def verify(self: PasswordHasher, hash: str, password: str) -> bool:
        free.append(lock_is_free())
        return original(self, hash, password)

    monkeypatch.setattr(PasswordHasher, "verify", verify)
    record.users.sign_in("dr.b", PASSWORD)
    with pytest.raises(SignInRefused):
        record.users.sign_in("dr.b", "guess guess guess")
    with pytest.raises(SignInRefused):
        record.users.sign_in("nobody.here", "guess guess guess")
    doctor = record.users.sign_in("dr.b", PASSWORD)
    record.users.confirm_password(doctor, PASSWORD, "decision")
    assert free == [True] * 5


# --------------------------------------------------------------------------- reading


def test_the_admins_audit_view_withholds_clinical_details(record: TrialRecord, staff: Staff):
    patient = record.patients.register(staff.specialist, patient_details())
    record.patients.correct(
        staff.specialist, patient.id, patient_details(family_name="Smyth"), "spelling"
    )
    seen_by_admin = record.audit.entries_for(staff.admin)
    correction = next(e for e in seen_by_admin if e.action == "patient.correct")
    text = repr([e.details for e in seen_by_admin])
    for identifier in ("9434765919", "943 476 5919", "Smith", "Smyth", "Alex", "1971"):
        assert identifier not in text
    assert correction.details == {"withheld": "clinical details are not shown to administrators"}
    # Account entries keep their details; a doctor sees everything.
    assert any(
        e.details and "username" in e.details for e in seen_by_admin if e.action == "user.create"
    )
    doctors = record.audit.entries_for(staff.doctor)
    assert "Smyth" in repr(next(e for e in doctors if e.action == "patient.correct").details)
    with pytest.raises(NotPermitted, match="read the audit trail"):
        record.audit.entries_for(staff.nurse)


def test_opening_a_trial_is_audited(record: TrialRecord, staff: Staff):
    patient = record.patients.register(staff.specialist, patient_details())
    trial = record.trials.plan(staff.specialist, patient.id, 50).id
    record.audit.note_view(staff.nurse, "trial", trial)
    entry = record.audit.entries(action_prefix="view.")[0]
    assert (entry.action, entry.trial_id, entry.username) == (
        "view.trial",
        trial,
        staff.nurse.username,
    )
    forged = Actor(staff.nurse.user_id, "nurse", staff.nurse.roles)
    with pytest.raises(NotPermitted):
        record.audit.note_view(forged, "trial", trial)
