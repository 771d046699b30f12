"""The audit trail's hash chain: every change made behind the app's back is found, and the
verification names the first entry that does not hold, printing no patient data."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from sqlalchemy import select, text

from observations.audit_chain import GENESIS, chain, verify_command
from observations.record import TrialRecord
from observations.schema import AuditEntry
from tests.observations.conftest import FakeClock, Staff, patient_details


@pytest.fixture
def day(record: TrialRecord, staff: Staff, clock: FakeClock) -> TrialRecord:
    """A record with a patient, a trial, an observation: a score of audit entries."""
    patient = record.patients.register(staff.specialist, patient_details())
    trial = record.trials.plan(staff.specialist, patient.id, 50, bed="B4").id
    record.observations.record(staff.nurse, trial, {"measured_at": clock.now, "rr": 14})
    record.observations.record(staff.nurse, trial, {"measured_at": clock.now, "spo2": 96})
    return record


def verify(record: TrialRecord, anchor: Path | None = None) -> tuple[int, str]:
    out = io.StringIO()
    code = verify_command(record, anchor, out)
    return code, out.getvalue()


def behind_the_apps_back(record: TrialRecord, *statements: str) -> None:
    """What someone with the database's own login could do: lift the append-only trigger,
    change rows, put it back."""
    with record.store.engine.begin() as connection:
        sqlite = connection.dialect.name == "sqlite"
        if sqlite:
            connection.execute(text("DROP TRIGGER audit_log_no_update"))
            connection.execute(text("DROP TRIGGER audit_log_no_delete"))
        else:
            connection.execute(text("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only"))
        for statement in statements:
            connection.execute(text(statement))
        if not sqlite:
            connection.execute(text("ALTER TABLE audit_log ENABLE TRIGGER audit_log_append_only"))


def ids(record: TrialRecord) -> list[int]:
    return [e.id for e in reversed(record.audit.entries(limit=100000))]


def test_an_untouched_trail_holds_and_the_report_names_no_patient(day: TrialRecord):
    code, report = verify(day)
    assert code == 0 and f"{len(ids(day))} entries" in report
    for identifier in ("943 476 5919", "9434765919", "Smith", "Alex", "1971"):
        assert identifier not in report


def test_a_changed_entry_is_named(day: TrialRecord):
    target = ids(day)[-2]
    behind_the_apps_back(day, f"UPDATE audit_log SET username = 'someone.else' WHERE id = {target}")
    code, report = verify(day)
    assert code == 1 and f"BROKEN at entry {target}" in report and "changed" in report


def test_changed_details_are_found_too(day: TrialRecord):
    target = next(e.id for e in day.audit.entries() if e.details)
    behind_the_apps_back(day, f"UPDATE audit_log SET details = NULL WHERE id = {target}")
    code, report = verify(day)
    assert code == 1 and f"entry {target}" in report


def test_a_removed_entry_breaks_the_chain_at_the_next(day: TrialRecord):
    every = ids(day)
    behind_the_apps_back(day, f"DELETE FROM audit_log WHERE id = {every[3]}")
    code, report = verify(day)
    assert code == 1 and f"BROKEN at entry {every[4]}" in report and "removed" in report


def test_reordered_entries_are_found(day: TrialRecord):
    first, second = ids(day)[2:4]
    columns = (
        "at, user_id, username, action, entity, entity_id, trial_id, details, prev_hash, row_hash"
    )
    behind_the_apps_back(
        day,
        f"CREATE TEMPORARY TABLE swap AS SELECT id, {columns} FROM audit_log "
        f"WHERE id IN ({first}, {second})",
        *[
            f"UPDATE audit_log SET ({columns}) = (SELECT {columns} FROM swap WHERE id = {other}) "
            f"WHERE id = {this}"
            for this, other in ((first, second), (second, first))
        ],
    )
    code, report = verify(day)
    assert code == 1 and f"BROKEN at entry {first}" in report


def test_a_trail_rewritten_with_fresh_hashes_is_caught_by_the_anchor(
    day: TrialRecord, tmp_path: Path
):
    """Someone who changes an entry and recomputes every hash after it leaves a chain that
    holds; the anchor kept by last night's run does not."""
    anchor = tmp_path / "audit-anchor.json"
    assert verify(day, anchor)[0] == 0
    assert (anchor.stat().st_mode & 0o777) == 0o600
    fields = ("at", "user_id", "username", "action", "entity", "entity_id", "trial_id", "details")
    with day.store.reading() as session:
        rows = [
            dict(r)
            for r in session.execute(
                select(AuditEntry.id, *(getattr(AuditEntry, f) for f in fields)).order_by(
                    AuditEntry.id
                )
            ).mappings()
        ]
    rows[1]["username"] = "someone.else"
    rechained, _ = chain(GENESIS, [{k: r[k] for k in fields} for r in rows])
    behind_the_apps_back(
        day,
        *[
            f"UPDATE audit_log SET username = '{new['username']}', "
            f"prev_hash = '{new['prev_hash']}', row_hash = '{new['row_hash']}' "
            f"WHERE id = {row['id']}"
            for row, new in zip(rows, rechained, strict=True)
        ],
    )
    assert verify(day)[0] == 0  # the chain itself holds again...
    code, report = verify(day, anchor)  # ...the anchor does not
    assert code == 1 and "last verified" in report


def test_a_trail_cut_short_is_caught_by_the_anchor(day: TrialRecord, tmp_path: Path):
    anchor = tmp_path / "audit-anchor.json"
    assert verify(day, anchor)[0] == 0
    newest = ids(day)[-1]
    behind_the_apps_back(day, f"DELETE FROM audit_log WHERE id = {newest}")
    assert verify(day)[0] == 0  # the chain alone cannot see a cut at its end...
    code, report = verify(day, anchor)
    assert code == 1 and "cut short" in report  # ...the anchor can


def test_the_anchor_moves_on_with_the_trail(
    day: TrialRecord, staff: Staff, clock: FakeClock, tmp_path: Path
):
    anchor = tmp_path / "audit-anchor.json"
    assert verify(day, anchor)[0] == 0
    trial = day.trials.list()[0].id
    day.observations.record(staff.nurse, trial, {"measured_at": clock.now, "rr": 16})
    assert verify(day, anchor)[0] == 0
    assert json.loads(anchor.read_text())["id"] == ids(day)[-1]
