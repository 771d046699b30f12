"""The readings write path: multi-row statements, the conversions it does by hand, JSON text."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.dialects import sqlite

from observations.database import json_text
from observations.entries import ReadingIn
from observations.errors import InvalidEntry
from observations.readings import sqlite_time_text
from observations.record import TrialRecord
from observations.schema import VitalReading
from tests.observations.conftest import FakeClock, Staff
from tests.observations.test_record import plan, readings_for
from vocabulary import Parameter

SQLALCHEMY_TIME = VitalReading.__table__.c.device_time.type._cached_bind_processor(sqlite.dialect())
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
