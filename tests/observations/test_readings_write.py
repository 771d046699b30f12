"""The readings write path: multi-row statements, the conversions it does by hand, JSON text."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.dialects import sqlite
from sqlalchemy.exc import OperationalError

from observations.audit_chain import verify_chain
from observations.database import create_record_engine, json_text, migrate
from observations.entries import ReadingIn
from observations.errors import InvalidEntry, NotFound
from observations.readings import sqlite_time_text
from observations.record import TrialRecord
from observations.schema import VitalReading
from observations.settings import Settings
from tests.accounts import sign_in_as
from tests.observations.conftest import LONDON, FakeClock, Staff, patient_details
from tests.observations.test_readings_batch import plan_trials
from tests.observations.test_record import plan, readings_for
from vocabulary import Parameter, Role

_SQLITE = sqlite.dialect()
SQLALCHEMY_TIME = VitalReading.__table__.c.device_time.type.dialect_impl(_SQLITE).bind_processor(
    _SQLITE
)
zones = st.integers(-14 * 60, 14 * 60).map(lambda minutes: timezone(timedelta(minutes=minutes)))


@given(
    st.datetimes(min_value=datetime(1900, 1, 2), max_value=datetime(9998, 12, 30), timezones=zones)
)
def test_sqlite_time_text_is_sqlalchemys_text(moment: datetime) -> None:
    assert sqlite_time_text(moment) == SQLALCHEMY_TIME(moment)


def test_sqlite_time_text_keeps_six_decimals_so_text_order_is_time_order() -> None:
    whole = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
    assert sqlite_time_text(whole) == "2026-03-01 09:00:00.000000"
    later = whole + timedelta(microseconds=1)
    assert sqlite_time_text(whole) < sqlite_time_text(later)


@given(
    st.recursive(
        st.none()
        | st.booleans()
        | st.integers(-(10**9), 10**9)
        | st.text()
        | st.floats(allow_nan=False, allow_infinity=False),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
        max_leaves=12,
    )
)
def test_json_text_reads_back_as_json_dumps_would(value: object) -> None:
    assert json.loads(json_text(value)) == json.loads(json.dumps(value))


def test_json_text_writes_number_keys_as_strings_like_json_dumps() -> None:
    assert json.loads(json_text({7: {"received": 3}})) == {"7": {"received": 3}}


def test_json_text_hands_what_orjson_cannot_write_to_json_dumps() -> None:
    huge = 2**70
    assert json.loads(json_text({"count": huge})) == {"count": huge}


def test_a_batch_larger_than_one_statement_is_written_whole_and_repeats_skipped(
    record: TrialRecord, staff: Staff, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    import observations.readings as readings_module

    monkeypatch.setattr(readings_module, "MAX_ROWS_PER_STATEMENT", 7)  # many statements
    trial = plan(record, staff)
    start = clock.now - timedelta(minutes=30)
    batch = readings_for(trial, start, [97.0] * 25)  # 50 rows: 8 statements
    assert record.readings.add(staff.service, batch) == 50
    # A resent stretch plus new rows, with a repeat inside the batch itself.
    more = readings_for(trial, start + timedelta(seconds=20), [96.0] * 10)
    assert record.readings.add(staff.service, more + more[:3]) == 10
    assert record.readings.count(trial) == 60
    frame = record.readings.timeline(trial, [Parameter.SPO2], include_manual=False)
    assert len(frame) == 30 and frame["time"].is_monotonic_increasing


def test_one_bad_reading_writes_nothing_of_its_batch(
    record: TrialRecord, staff: Staff, clock: FakeClock
) -> None:
    trial = plan(record, staff)
    naive = datetime(2026, 3, 1, 9, 0)
    good = readings_for(trial, clock.now - timedelta(minutes=1), [97.0])
    bad = ReadingIn(trial, Parameter.SPO2, 97.0, naive, clock.now, "sim:steady")
    with pytest.raises(InvalidEntry, match="no time zone"):
        record.readings.add(staff.service, [*good, bad])
    with pytest.raises(InvalidEntry, match="Device time is missing"):
        record.readings.prepare(
            [
                ReadingIn(
                    trial,
                    Parameter.SPO2,
                    97.0,
                    None,
                    clock.now,  # type: ignore[arg-type]
                    "sim:steady",
                )
            ]
        )
    with pytest.raises(InvalidEntry, match="not a number"):
        record.readings.prepare(
            [
                ReadingIn(
                    trial, Parameter.PULSE_RATE, float("nan"), clock.now, clock.now, "sim:steady"
                )
            ]
        )
    assert record.readings.count(trial) == 0


def test_raw_status_and_flags_read_back_as_written(
    record: TrialRecord, staff: Staff, clock: FakeClock
) -> None:
    trial = plan(record, staff)
    at = clock.now - timedelta(minutes=1)
    status = {"signal_strength": 7, "no_finger": False, "raw": "87 32 05 48 61", "pi": None}
    rows = [
        ReadingIn(trial, Parameter.SPO2, 97.0, at, at, "ble:AA", raw_status=status),
        ReadingIn(trial, Parameter.PULSE_RATE, 72.0, at, at, "ble:AA", raw_status=status),
    ]
    record.readings.add(staff.service, rows)
    stored = record.readings.timeline(trial, include_manual=False)
    assert sorted(stored["value"]) == [72.0, 97.0]
    assert list(stored["device"]) == ["ble:AA", "ble:AA"]
    with record.store.reading() as session:
        kept = session.scalars(
            select(VitalReading.raw_status).where(VitalReading.trial_id == trial)
        ).all()
    assert kept == [status, status]


@pytest.mark.parametrize("where", ["thread", "process"])
def test_a_writer_writes_each_batch_whole_under_one_audit_entry(
    record: TrialRecord, staff: Staff, clock: FakeClock, where: str
) -> None:
    """The monitor's writers (one holding its connection in this process, one in a process of
    its own): a transaction a batch, repeats skipped, a refused batch writes nothing, and one
    chained audit entry a batch says who wrote how many readings for which trials, at the
    record's own clock."""
    first, second = plan_trials(record, staff, 2)
    start = clock.now - timedelta(minutes=5)
    rows = record.readings.prepare(
        readings_for(first, start, [97.0] * 3) + readings_for(second, start, [96.0] * 2)
    )
    writer = record.readings.writer() if where == "thread" else record.readings.writer_process()
    try:
        assert writer.write(staff.service, rows) == 10
        clock.advance(seconds=1)
        assert writer.write(staff.service, rows[:4]) == 0  # repeats: devices resend
        with pytest.raises(NotFound, match="not in the record"):
            writer.write(
                staff.service, rows + record.readings.prepare(readings_for(9999, start, [97.0]))
            )
    finally:
        writer.close()
    assert record.readings.count(first) == 6 and record.readings.count(second) == 4
    resent, batch = record.audit.entries(action_prefix="readings.add")
    assert (batch.username, batch.trial_id, batch.at) == (
        staff.service.username,
        None,
        clock.now - timedelta(seconds=1),
    )
    assert batch.details == {"received": 10, "by_trial": {str(first): 6, str(second): 4}}
    assert (resent.trial_id, resent.details, resent.at) == (first, {"received": 4}, clock.now)
    # A trial's own trail lists every batch that carried its readings, shared ones too.
    trail = record.audit.entries(trial_id=first, action_prefix="readings.")
    assert [e.id for e in trail] == [resent.id, batch.id]
    assert [e.id for e in record.audit.entries(trial_id=second, action_prefix="readings.")] == [
        batch.id
    ]
    assert record.audit.entries(trial_id=9999) == []
    with record.store.reading() as session:
        assert verify_chain(session).intact


def test_the_writer_process_says_when_the_database_is_away_and_writes_once_it_is_back(
    tmp_path: Path, clock: FakeClock
) -> None:
    url = f"sqlite:///{tmp_path / 'record.sqlite3'}"
    engine = create_record_engine(url, busy_timeout_s=0.05)  # the writer waits as long
    migrate(engine)
    record = TrialRecord(engine, Settings(tmp_path, url, LONDON), clock)
    specialist = sign_in_as(record, "cns.a", Role.NURSE_SPECIALIST)
    patient = record.patients.register(specialist, patient_details())
    trial = record.trials.plan(specialist, patient.id, 50).id
    service = record.users.service_actor()
    rows = record.readings.prepare(readings_for(trial, clock.now, [97.0, 98.0]))
    writer = record.readings.writer_process()
    holder = sqlite3.connect(tmp_path / "record.sqlite3", isolation_level=None)
    try:
        writer.start()
        holder.execute("BEGIN IMMEDIATE")  # another writer holds the lock
        with pytest.raises(OperationalError, match="locked"):
            writer.write(service, rows)
        holder.execute("ROLLBACK")
        assert writer.write(service, rows) == 4
    finally:
        holder.close()
        writer.close()
        record.close()
    assert record.readings.count(trial) == 4
