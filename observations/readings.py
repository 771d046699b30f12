"""Device readings in batches, and the timeline that joins them with manual observations."""

from __future__ import annotations

import contextlib
import math
import os
import pickle
import sqlite3
import statistics
import subprocess
import sys
import weakref
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from itertools import chain
from typing import TYPE_CHECKING, Any, NamedTuple

from sqlalchemy import Float, Integer, String, cast, func, select, type_coerce, union_all
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session
from sqlalchemy.types import TypeEngine

from observations.entries import DEVICE_UNITS, ReadingIn, check_reading
from observations.errors import NotFound, RecordError
from observations.free_text import clean_text
from observations.schema import ObservationSet, Trial, VitalReading
from observations.store import Actor, Store, require
from observations.views import LatestValue
from rules.events import usable
from vocabulary import NON_DISQUALIFYING_FLAGS, UNITS, Parameter, QualityFlag

if TYPE_CHECKING:  # imported where a timeline is made: the writer process never needs it
    import pandas as pd

INSERT_COLUMNS = (
    "trial_id",
    "parameter",
    "value",
    "unit",
    "device_time",
    "received_at",
    "flags",
    "raw_status",
    "source_device",
)
# Repeats of a reading (same trial, parameter, device time and device) are skipped.
UNIQUE_READING = ("trial_id", "parameter", "device_time", "source_device")
POSTGRES_MAX_PARAMETERS = 65535  # bind parameters in one statement (protocol limit)
MAX_ROWS_PER_STATEMENT = 4000
_PARAMETER_TEXT = {p: p.value for p in Parameter}  # a plain str finds its member too
TIMELINE_COLUMNS = ["time", "parameter", "value", "unit", "flags", "source", "device"]
# Observation-set columns that are numbers a chart can plot, by parameter.
MANUAL_NUMERIC: dict[Parameter, str] = {
    Parameter.RR: "rr",
    Parameter.SPO2: "spo2",
    Parameter.SYSTOLIC: "systolic",
    Parameter.DIASTOLIC: "diastolic",
    Parameter.PULSE_RATE: "pulse_rate",
    Parameter.TEMP: "temp",
    Parameter.POWER_LEFT_LEG: "power_left_leg",
    Parameter.POWER_RIGHT_LEG: "power_right_leg",
    Parameter.POWER_LEFT_ARM: "power_left_arm",
    Parameter.POWER_RIGHT_ARM: "power_right_arm",
}


# Per-(trial, parameter) "newest value" lookups joined into one UNION ALL statement, at most
# this many at a time: SQLite refuses compound statements of more than 500 terms.
LATEST_TERMS_PER_STATEMENT = 400
# Device names already found fit to store (free_text): a few per bed, checked once each.
KNOWN_SOURCES_KEPT = 4096


def current_sets_query(trial_id: int) -> Any:
    """Observation sets as they stand: those not superseded by a correction."""
    return current_sets_of_trials([trial_id])


def current_sets_of_trials(trial_ids: Sequence[int]) -> Any:
    """Observation sets of several trials as they stand (not superseded by a correction)."""
    superseded = select(ObservationSet.supersedes_id).where(
        ObservationSet.supersedes_id.is_not(None)
    )
    if len(trial_ids) == 1:
        mine = ObservationSet.trial_id == trial_ids[0]
    else:
        mine = ObservationSet.trial_id.in_(trial_ids)
    return select(ObservationSet).where(mine, ObservationSet.id.not_in(superseded))


_NO_OFFSET = timedelta(0)
_UNSET: Any = object()


def sqlite_time_text(moment: datetime) -> str:
    """An aware time as SQLAlchemy's UtcDateTime stores it in SQLite: UTC, no zone, always six
    decimals ("2026-03-01 09:00:00.000000"), so that text order is time order. Checked
    against SQLAlchemy's own conversion in the tests; about 1.5 us against its 2.6 us."""
    if moment.utcoffset() != _NO_OFFSET:
        moment = moment.astimezone(UTC)
    return moment.isoformat(" ", "microseconds")[:26]  # without its "+00:00"


def _aware(moment: datetime | None) -> bool:
    return moment is not None and moment.utcoffset() is not None


def _source_fits(source: str) -> None:
    """A reading's device as the record can keep it (length, no control characters)."""
    clean_text("source_device", source, "device", required=True, as_given=True)


def _as_is(value: Any) -> Any:
    return value


def _bind_processor(column_type: TypeEngine[Any], dialect: Dialect) -> Callable[[Any], Any]:
    """What SQLAlchemy itself would do to a value of this column type before the driver."""
    return column_type.dialect_impl(dialect).bind_processor(dialect) or _as_is


def _rows_per_statement(connection: Connection) -> int:
    """As many rows as one statement may bind (SQLite's limit is set when it is built)."""
    raw = connection.connection.driver_connection
    limit = (
        raw.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
        if isinstance(raw, sqlite3.Connection)
        else POSTGRES_MAX_PARAMETERS
    )
    return max(1, min(limit // len(INSERT_COLUMNS), MAX_ROWS_PER_STATEMENT))


@lru_cache(maxsize=64)
def _insert_statement(mark: str, rows: int) -> str:
    """One INSERT of ``rows`` readings with the driver's placeholder ``mark``.

    One statement rather than executemany: one round trip to the driver for thousands of
    rows, where executemany makes one a row. When the monitor's batches were written by a
    thread beside its busy event loop, each of those round trips waited for the GIL: 5.6 ms a
    row, against 0.014 ms a row as statements of 1,000 rows (measured while choosing this).
    """
    group = "(" + ", ".join([mark] * len(INSERT_COLUMNS)) + ")"
    return (
        f"INSERT INTO {VitalReading.__tablename__} ({', '.join(INSERT_COLUMNS)}) VALUES "  # noqa: S608 (constant names; values are bound)
        + ", ".join([group] * rows)
        + f" ON CONFLICT ({', '.join(UNIQUE_READING)}) DO NOTHING"
    )


class RecentMedian(NamedTuple):
    """The median of one parameter's valid device readings over a recent window: what a nurse
    may take into an observation set, rather than one second's sample of a noisy signal."""

    parameter: Parameter
    value: float
    readings: int  # how many valid readings it is the median of
    first: datetime  # device time of the oldest and the newest of them
    last: datetime


class TrendBucket(NamedTuple):
    """The lowest and highest usable value of one parameter in one time bucket of a trend."""

    start: datetime  # the bucket covers [start, start + its length)
    low: float
    high: float
    readings: int


PreparedReading = tuple[Any, ...]
"""A checked reading as the database driver takes it: values in ``INSERT_COLUMNS`` order (the
trial id first), converted by the columns' own SQLAlchemy bind processors."""


class Readings:
    def __init__(self, store: Store) -> None:
        self._store = store
        dialect = store.engine.dialect
        self._mark = "?" if dialect.paramstyle == "qmark" else "%s"
        table = VitalReading.__table__
        # The columns' own conversions for this database, asked once (TypeEngine's public
        # dialect_impl and bind_processor): the rows then go to the driver as they are.
        self._time_of = _bind_processor(table.c.device_time.type, dialect)
        if dialect.name == "sqlite":
            self._time_of = sqlite_time_text  # the same text, quicker (see there)
        self._status_of = _bind_processor(table.c.raw_status.type, dialect)
        self._flag_text: dict[frozenset[QualityFlag], str] = {}
        self._sources: set[str] = set()

    def prepare(self, readings: Sequence[ReadingIn]) -> list[PreparedReading]:
        """Check readings and convert them for the driver, without touching the database.

        Raises ``InvalidEntry`` for the first bad one. The monitor prepares each frame as it
        arrives, so a bad reading is refused with its own frame, and its writer only hands the
        rows to the driver.
        """
        time_of, status_of, flag_text = self._time_of, self._status_of, self._flag_text
        sources = self._sources
        # The rows of a frame come together and share their objects: each time and status is
        # checked and converted once, and a sound row passes on a few comparisons (every device
        # value of every trial comes here); `check_reading` says what is wrong with any other.
        device_time = received_at = status = flags = _UNSET
        device_text = received_text = status_text = flags_text = None
        rows = []
        for reading in readings:
            if reading.device_time is not device_time:
                device_time = reading.device_time
                device_text = time_of(device_time) if _aware(device_time) else None
            if reading.received_at is not received_at:
                received_at = reading.received_at
                if received_at is device_time:
                    received_text = device_text
                else:
                    received_text = time_of(received_at) if _aware(received_at) else None
            unit = DEVICE_UNITS.get(reading.parameter)
            value = reading.value
            if (
                unit is None
                or device_text is None
                or received_text is None
                or (reading.unit is not None and reading.unit != unit)
                or (value is not None and not math.isfinite(value))
            ):
                unit = check_reading(reading)  # raises, naming the fault
            if reading.source_device not in sources:
                _source_fits(reading.source_device)  # raises, naming the fault
                if len(sources) >= KNOWN_SOURCES_KEPT:
                    sources.clear()
                sources.add(reading.source_device)
            if reading.raw_status is not status:
                status = reading.raw_status
                status_text = None if status is None else status_of(status)
            if reading.flags is not flags:
                flags = reading.flags
                flags_text = flag_text.get(flags)
                if flags_text is None:
                    flags_text = flag_text[flags] = ";".join(sorted(f.value for f in flags))
            rows.append(
                (
                    reading.trial_id,
                    _PARAMETER_TEXT[reading.parameter],
                    value,
                    unit,
                    device_text,
                    received_text,
                    flags_text,
                    status_text,
                    reading.source_device,
                )
            )
        return rows

    def add(self, actor: Actor, readings: Sequence[ReadingIn]) -> int:
        """Write a batch in one transaction; returns how many were new.

        The whole batch is checked first, so one bad reading writes nothing. Exact repeats
        (same trial, parameter, device time and device) are ignored: devices resend.
        """
        require(actor, "readings.add")
        return self.add_prepared(actor, self.prepare(readings))

    def add_prepared(self, actor: Actor, rows: Sequence[PreparedReading]) -> int:
        """Write readings already checked by `prepare`, in one transaction; returns how many
        were new (exact repeats are ignored). A writer that writes batch after batch holds its
        own connection instead (`writer`)."""
        require(actor, "readings.add")
        if not rows:
            return 0
        with self._store.writing() as session:
            return self._write(session, actor, rows)

    def writer(self) -> ReadingsWriter:
        """A writer of prepared batches that owns one connection (for one thread at a time)."""
        return ReadingsWriter(self)

    def writer_process(self) -> ReadingsWriter | ReadingsWriterProcess:
        """A writer of prepared batches in a process of its own (for one thread at a time);
        an in-memory SQLite database, which no other process can open, gets `writer`."""
        url = self._store.engine.url
        if url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:"):
            return self.writer()
        return ReadingsWriterProcess(self._store)

    def _write(self, session: Session, actor: Actor, rows: Sequence[PreparedReading]) -> int:
        """The batch into the open write transaction: its trials checked, its rows as multi-row
        INSERT statements (`_insert_statement`), one audit entry for the whole batch."""
        per_trial = Counter(row[0] for row in rows)
        known = set(session.scalars(select(Trial.id).where(Trial.id.in_(per_trial))))
        missing = sorted(set(per_trial) - known)
        if missing:
            raise NotFound(
                f"Readings arrived for trial {', '.join(map(str, missing))}, which is not in "
                "the record: none of this batch was written."
            )
        connection = session.connection()
        per_statement = _rows_per_statement(connection)
        written = 0
        for offset in range(0, len(rows), per_statement):
            chunk = rows[offset : offset + per_statement]
            params = tuple(chain.from_iterable(chunk))  # a tuple: one execution
            sql = _insert_statement(self._mark, len(chunk))
            # The driver's rowcount counts the rows really inserted (repeats are skipped).
            written += connection.exec_driver_sql(sql, params).rowcount
        self._store.audit_batch(session, actor, "readings.add", "vital_readings", dict(per_trial))
        return int(written)

    def timeline(
        self,
        trial_id: int,
        parameters: Iterable[Parameter] | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        include_manual: bool = True,
        detail: bool = True,
    ) -> pd.DataFrame:
        """Every value of the trial in time order: device readings and manual entries.

        ``source`` says which ('device' or 'manual'); a flagged reading without a value stays
        in the frame with ``value`` NaN, so gaps and probe-off periods are visible. With
        ``detail=False`` only time, parameter, value and source are fetched (a chart needs no
        more, and a 6-hour trial is 43 000 rows: half the time of a live chart refresh).
        """
        import pandas as pd

        wanted = [Parameter(p) for p in parameters] if parameters is not None else list(Parameter)
        names = [p.value for p in wanted]
        columns = TIMELINE_COLUMNS if detail else ["time", "parameter", "value", "source"]
        device_columns = [c for c in columns if c != "source"]
        selected = {
            # The driver's value as is (text on SQLite), parsed below for the whole column at
            # once: per-row conversion was most of a 6-hour chart refresh.
            "time": type_coerce(VitalReading.device_time, String),
            "parameter": VitalReading.parameter,
            "value": VitalReading.value,
            "unit": VitalReading.unit,
            "flags": VitalReading.flags,
            "device": VitalReading.source_device,
        }
        with self._store.reading() as session:
            if session.get(Trial, trial_id) is None:
                raise NotFound(f"There is no trial with id {trial_id}.")
            query = select(*(selected[c] for c in device_columns)).where(
                VitalReading.trial_id == trial_id, VitalReading.parameter.in_(names)
            )
            if start is not None:
                query = query.where(VitalReading.device_time >= start)
            if end is not None:
                query = query.where(VitalReading.device_time <= end)
            # Plain tuples: pandas probing SQLAlchemy rows for attributes costs more than the
            # query itself.
            device = pd.DataFrame(
                [tuple(row) for row in session.execute(query)], columns=device_columns
            )
            records: list[dict[str, Any]] = []
            if include_manual:
                sets = current_sets_query(trial_id)
                if start is not None:
                    sets = sets.where(ObservationSet.measured_at >= start)
                if end is not None:
                    sets = sets.where(ObservationSet.measured_at <= end)
                for obs in session.scalars(sets):
                    for parameter in wanted:
                        column = MANUAL_NUMERIC.get(parameter)
                        value = getattr(obs, column) if column else None
                        if value is not None:
                            records.append(
                                {
                                    "time": obs.measured_at,
                                    "parameter": parameter.value,
                                    "value": float(value),
                                    "unit": UNITS[parameter].display,
                                    "flags": "",
                                    "source": "manual",
                                    "device": None,
                                }
                            )
        # Naive text from SQLite is UTC (the record stores UTC); PostgreSQL gives aware times.
        device["time"] = pd.to_datetime(device["time"], utc=True, format="ISO8601")
        device["value"] = pd.to_numeric(device["value"], errors="coerce").astype("float64")
        device["source"] = "device"
        frame = device[columns]
        if records:
            manual = pd.DataFrame.from_records(records, columns=columns)
            manual["time"] = pd.to_datetime(manual["time"], utc=True)
            frame = pd.concat([frame, manual], ignore_index=True)
        return frame.sort_values(["time", "parameter"], kind="stable").reset_index(drop=True)

    def latest(
        self, trial_id: int, parameters: Iterable[Parameter] | None = None
    ) -> dict[Parameter, LatestValue]:
        """The newest usable value of each parameter (device or manual) with its time.

        A parameter never measured is absent: the caller shows it as missing, never as 0.
        """
        return self.latest_for_trials([trial_id], parameters)[trial_id]

    def latest_for_trials(
        self, trial_ids: Iterable[int], parameters: Iterable[Parameter] | None = None
    ) -> dict[int, dict[Parameter, LatestValue]]:
        """`latest` for many trials at once (the ward overview refreshes every bed each second).

        Three statements whatever the number of trials (up to 80 trials of 5 parameters):
        the trials exist; the newest valued device reading per (trial, parameter), each an
        index-ordered LIMIT 1 joined by UNION ALL, so a 6-hour record is not scanned; the
        current observation sets. A manual entry wins only when strictly newer.
        """
        ids = list(dict.fromkeys(trial_ids))
        wanted = [Parameter(p) for p in parameters] if parameters is not None else list(Parameter)
        latest: dict[int, dict[Parameter, LatestValue]] = {trial_id: {} for trial_id in ids}
        if not ids:
            return latest
        with self._store.reading() as session:
            known = set(session.scalars(select(Trial.id).where(Trial.id.in_(ids))))
            missing = [trial_id for trial_id in ids if trial_id not in known]
            if missing:
                raise NotFound(f"There is no trial with id {', '.join(str(i) for i in missing)}.")
            pairs = [(trial_id, p) for trial_id in ids for p in wanted]
            for first in range(0, len(pairs), LATEST_TERMS_PER_STATEMENT):
                chunk = pairs[first : first + LATEST_TERMS_PER_STATEMENT]
                for row in session.execute(_newest_readings(chunk)):
                    parameter = Parameter(row.parameter)
                    latest[row.trial_id][parameter] = LatestValue(
                        parameter=parameter.value,
                        value=row.value,
                        at=row.device_time,
                        source="device",
                        flags=row.flags,
                    )
            columns = [(p, MANUAL_NUMERIC[p]) for p in wanted if p in MANUAL_NUMERIC]
            if not columns:
                return latest
            manual = session.scalars(
                current_sets_of_trials(ids).order_by(
                    ObservationSet.measured_at.desc(), ObservationSet.id.desc()
                )
            ).all()
            for obs in manual:  # newest first: the first value seen per parameter is the newest
                values = latest[obs.trial_id]
                for parameter, column in columns:
                    value = getattr(obs, column)
                    if value is None:
                        continue
                    known_value = values.get(parameter)
                    if known_value is None or (
                        known_value.source == "device" and obs.measured_at > known_value.at
                    ):
                        values[parameter] = LatestValue(
                            parameter=parameter.value,
                            value=float(value),
                            at=obs.measured_at,
                            source="manual",
                            flags="",
                        )
        return latest

    def recent_medians(
        self,
        trial_id: int,
        parameters: Iterable[Parameter],
        now: datetime,
        window: timedelta = timedelta(minutes=1),
    ) -> dict[Parameter, RecentMedian]:
        """The median of each parameter's valid device readings in (now - window, now].

        Valid as the rules judge it: a value, and no flag that makes it doubtful (a probe-off or
        artefact sample never counts). A parameter without a valid reading in the window is
        absent: the caller offers nothing for it.
        """
        names = [Parameter(p).value for p in parameters]
        with self._store.reading() as session:
            if session.get(Trial, trial_id) is None:
                raise NotFound(f"There is no trial with id {trial_id}.")
            rows = session.execute(
                select(
                    VitalReading.parameter,
                    VitalReading.value,
                    VitalReading.flags,
                    VitalReading.device_time,
                ).where(
                    VitalReading.trial_id == trial_id,
                    VitalReading.parameter.in_(names),
                    VitalReading.device_time > now - window,
                    VitalReading.device_time <= now,
                    VitalReading.value.is_not(None),
                )
            ).all()
        valid: dict[Parameter, list[tuple[datetime, float]]] = {}
        for name, value, flags, at in rows:
            marks = frozenset(QualityFlag(f) for f in (flags or "").split(";") if f)
            if usable(value, marks):
                valid.setdefault(Parameter(name), []).append((at, float(value)))
        return {
            parameter: RecentMedian(
                parameter,
                float(statistics.median(v for _, v in samples)),
                len(samples),
                min(at for at, _ in samples),
                max(at for at, _ in samples),
            )
            for parameter, samples in valid.items()
        }

    def trends(
        self,
        trial_ids: Iterable[int],
        parameters: Iterable[Parameter],
        start: datetime,
        end: datetime,
        bucket_seconds: float,
    ) -> dict[int, dict[Parameter, list[TrendBucket]]]:
        """A short trend of many trials in one statement: per trial, parameter and time bucket
        of ``bucket_seconds`` from ``start``, the lowest and highest usable device value in
        [start, end).

        Usable as the rules judge it (a value, no flag that makes it doubtful), so an artefact
        spike or a probe-off spell is a gap, not a point. Buckets without a usable reading are
        absent: the caller draws a gap there, never a line across. The grouping is done by the
        database, so a ward of 16 beds x 30 minutes at 1 Hz sends back a few thousand rows, not
        tens of thousands. A trial without readings maps to empty lists; an unknown trial id is
        simply absent from the readings (the ward asks only for trials it has just listed).
        """
        if bucket_seconds <= 0:
            raise ValueError("bucket_seconds must be positive")
        if not (_aware(start) and _aware(end)):
            raise ValueError("start and end must be timezone-aware")
        ids = list(dict.fromkeys(trial_ids))
        wanted = [Parameter(p) for p in parameters]
        out: dict[int, dict[Parameter, list[TrendBucket]]] = {
            trial_id: {p: [] for p in wanted} for trial_id in ids
        }
        if not ids or not wanted or end <= start:
            return out
        start = start.astimezone(UTC)
        dialect = self._store.engine.dialect.name
        # A millisecond against rounding (SQLite's julianday is exact to about 50 us): a reading
        # on a bucket's first instant belongs to that bucket, never the one before.
        into = (_epoch_seconds(dialect) - (start.timestamp() - 1e-3)) / float(bucket_seconds)
        # SQLite's CAST truncates (the same as floor here: every reading is after start);
        # PostgreSQL's rounds, so it floors first.
        bucket = cast(into if dialect == "sqlite" else func.floor(into), Integer).label("bucket")
        query = (
            select(
                VitalReading.trial_id,
                VitalReading.parameter,
                bucket,
                func.min(VitalReading.value),
                func.max(VitalReading.value),
                func.count(),
            )
            .where(
                VitalReading.trial_id.in_(ids),
                VitalReading.parameter.in_([p.value for p in wanted]),
                VitalReading.device_time >= start,
                VitalReading.device_time < end,
                VitalReading.value.is_not(None),
                func.coalesce(VitalReading.flags, "").in_(_SOUND_FLAG_TEXTS),
            )
            .group_by(VitalReading.trial_id, VitalReading.parameter, bucket)
            .order_by(VitalReading.trial_id, VitalReading.parameter, bucket)
        )
        step = timedelta(seconds=bucket_seconds)
        with self._store.reading() as session:
            rows = session.execute(query).all()
        for trial_id, name, index, low, high, count in rows:
            buckets = out[trial_id][Parameter(name)]
            index = max(0, int(index))  # a reading at start itself, a rounding below zero
            at = start + index * step
            if buckets and buckets[-1].start == at:  # the same bucket, met twice by rounding
                last = buckets[-1]
                buckets[-1] = TrendBucket(
                    at,
                    min(last.low, float(low)),
                    max(last.high, float(high)),
                    last.readings + count,
                )
            else:
                buckets.append(TrendBucket(at, float(low), float(high), int(count)))
        return out

    def last_time(self, trial_id: int, source_device: str) -> datetime | None:
        """Device time of the newest reading from one device (where a restart resumes)."""
        _source_fits(source_device)
        with self._store.reading() as session:
            return session.scalar(
                select(func.max(VitalReading.device_time)).where(
                    VitalReading.trial_id == trial_id,
                    VitalReading.source_device == source_device,
                )
            )

    def count(self, trial_id: int) -> int:
        with self._store.reading() as session:
            return int(
                session.scalar(
                    select(func.count())
                    .select_from(VitalReading)
                    .where(VitalReading.trial_id == trial_id)
                )
                or 0
            )


class ReadingsWriter:
    """Writes prepared batches of readings, each in one transaction, on one connection that it
    holds from its first batch until `close` (the monitor's busiest write: every device sample
    of every trial, twice a second).

    For one thread at a time (the monitor gives it a thread of its own). Holding the connection
    saves the pool's check-out and reset around every batch; each batch is still a
    `Store.writing` transaction (the database's write lock, the record's refusals), checks the
    service's sign-in and writes one chained audit entry.
    """

    def __init__(self, readings: Readings) -> None:
        self._readings = readings
        self._store = readings._store
        self._connection: Connection | None = None

    def write(self, actor: Actor, rows: Sequence[PreparedReading]) -> int:
        """As `Readings.add_prepared`: one transaction; returns how many rows were new."""
        require(actor, "readings.add")
        if not rows:
            return 0
        if self._connection is None:
            self._connection = self._store.connect_for_writing()
        try:
            with self._store.writing(self._connection) as session:
                return self._readings._write(session, actor, rows)
        except BaseException:
            # Whatever state a failure left the connection in (a COMMIT refused while the
            # database was locked keeps SQLite's transaction open), the next batch must not
            # inherit it: the pool rolls it back as it takes it back; a fresh one follows.
            self.close()
            raise

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


class ReadingsWriterProcess:
    """Writes prepared batches in a process of its own, which holds its own connection
    (`ReadingsWriter` there): each batch is handed over through a pipe, and written under
    another interpreter's GIL. The monitor's event loop (decoding, the rules engines) and,
    embedded, the pages' threads never wait for the writer to get back from the database, nor
    it for them; the monitor pays only for pickling the rows (about 0.5 us a row).

    A fresh interpreter (``python -c``), not multiprocessing: embedded, Streamlit puts the page
    script in ``sys.modules["__main__"]``, and a multiprocessing child would run the dashboard
    again. The database's address (with its password) travels through the pipe, not the
    command line.

    Same contract as `ReadingsWriter.write`: one transaction a batch, how many rows were new;
    the record's refusals and a database away (``OperationalError``) are raised here. For one
    thread at a time. The process starts with `start` or the first batch, and ends with
    `close`, with this object, or with the process that started it (its pipe closes).
    """

    def __init__(self, store: Store) -> None:
        self._store = store
        engine = store.engine
        self._url = engine.url.render_as_string(hide_password=False)
        self._busy_timeout_s: float | None = None
        if engine.dialect.name == "sqlite":  # the child waits for the lock as this one does
            with engine.connect() as connection:
                waited = connection.exec_driver_sql("PRAGMA busy_timeout").scalar()
            self._busy_timeout_s = int(waited or 0) / 1000
            database = engine.url.database
            if database and not os.path.isabs(database):  # the child may start elsewhere
                self._url = engine.url.set(database=os.path.abspath(database)).render_as_string(
                    hide_password=False
                )
        self._child: subprocess.Popen[bytes] | None = None
        self._stop: weakref.finalize | None = None

    def start(self) -> None:
        """Start the process now, if it is not running (else the first batch starts it)."""
        if self._child is not None and self._child.poll() is None:
            return
        self.close()
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        path = os.environ.get("PYTHONPATH")
        child = subprocess.Popen(
            [sys.executable, "-c", "from observations.readings import serve; serve()"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": os.pathsep.join([root, path] if path else [root])},
        )
        self._child = child
        self._stop = weakref.finalize(self, _stop_child, child)
        self._ask((self._url, self._busy_timeout_s))  # ready once its engine is made

    def write(self, actor: Actor, rows: Sequence[PreparedReading]) -> int:
        require(actor, "readings.add")
        if not rows:
            return 0
        self.start()
        return int(self._ask((self._store.now(), actor, rows)))

    def _ask(self, message: object) -> Any:
        child = self._child
        assert child is not None and child.stdin is not None and child.stdout is not None
        try:
            pickle.dump(message, child.stdin, protocol=pickle.HIGHEST_PROTOCOL)
            child.stdin.flush()
            done, answer = pickle.load(child.stdout)  # noqa: S301 (our own child)
        except (EOFError, OSError, pickle.UnpicklingError) as lost:
            self.close()  # started again with the next batch
            raise OperationalError("readings writer", None, lost) from None
        if done:
            return answer
        raise answer

    def close(self) -> None:
        if self._stop is not None:
            self._stop()
        self._stop = self._child = None


def _stop_child(child: subprocess.Popen[bytes]) -> None:
    """Its pipe closed, the child ends after the batch in hand (killed if it does not)."""
    with contextlib.suppress(OSError):
        if child.stdin is not None:
            child.stdin.close()
    try:
        child.wait(10)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()
    if child.stdout is not None:
        child.stdout.close()


def serve() -> None:
    """The writer process (`ReadingsWriterProcess`): batches in on stdin, answers out on
    stdout, as pickles; ``(True, new rows)`` or ``(False, the refusal)``. Ends with its stdin."""
    from zoneinfo import ZoneInfo

    from observations.database import create_record_engine

    inbox, outbox = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # nothing else may write into the answers

    def answer(done: bool, value: object) -> None:
        pickle.dump((done, value), outbox, protocol=pickle.HIGHEST_PROTOCOL)
        outbox.flush()

    try:
        url, busy_timeout_s = pickle.load(inbox)  # noqa: S301 (from the process that started it)
    except EOFError:
        return
    options = {} if busy_timeout_s is None else {"busy_timeout_s": busy_timeout_s}
    engine = create_record_engine(url, **options)
    now = [datetime.now(UTC)]
    # The parent's clock, as it sends each batch: the audit entry and sign-in check use it.
    store = Store(engine, ZoneInfo("UTC"), clock=lambda: now[0])
    writer = ReadingsWriter(Readings(store))
    answer(True, None)
    try:
        while True:
            try:
                now[0], actor, rows = pickle.load(inbox)  # noqa: S301 (as above)
            except EOFError:
                return
            try:
                answer(True, writer.write(actor, rows))
            except Exception as refused:  # each one is the parent's to raise
                answer(False, _portable(refused))
    finally:
        writer.close()
        engine.dispose()


def _portable(error: Exception) -> Exception:
    """The error as it can cross the pipe: itself if it survives pickling, else its words."""
    try:
        copy = pickle.loads(pickle.dumps(error))  # noqa: S301 (our own bytes)
        if type(copy) is type(error) and str(copy) == str(error):
            return error
    except Exception:  # noqa: S110 (an error that cannot be copied is described instead)
        pass
    if isinstance(error, OperationalError):
        return OperationalError(error.statement, None, Exception(str(error.orig)))
    message = getattr(error, "message", None) or str(error)
    return RecordError(message) if isinstance(error, RecordError) else RuntimeError(message)


# Flag texts of a sound reading as the record stores them (sorted, ';'-joined; '' when clean):
# every combination of the flags that leave a value usable (`rules.events.usable`).
_SOUND_FLAGS = sorted(f.value for f in NON_DISQUALIFYING_FLAGS)
_SOUND_FLAG_TEXTS = sorted(
    {
        ";".join(flag for bit, flag in enumerate(_SOUND_FLAGS) if mask >> bit & 1)
        for mask in range(2 ** len(_SOUND_FLAGS))
    }
)


def _epoch_seconds(dialect: str) -> Any:
    """A reading's device time as seconds since 1970 (UTC), in the database's own terms."""
    if dialect == "sqlite":  # stored as UTC text; julianday counts days from 4714 BC
        # (half the time of strftime('%s') and the text's fraction, measured on 16 beds)
        return (func.julianday(VitalReading.device_time) - 2440587.5) * 86400.0
    return cast(func.extract("epoch", VitalReading.device_time), Float)


def _newest_readings(pairs: Sequence[tuple[int, Parameter]]) -> Any:
    """One statement: the newest reading with a value for each (trial, parameter) pair."""
    terms = [
        select(
            VitalReading.trial_id,
            VitalReading.parameter,
            VitalReading.device_time,
            VitalReading.value,
            VitalReading.flags,
        )
        .where(
            VitalReading.trial_id == trial_id,
            VitalReading.parameter == parameter.value,
            VitalReading.value.is_not(None),
        )
        # The unique index's order (time, then device): index-only, and deterministic on ties.
        .order_by(VitalReading.device_time.desc(), VitalReading.source_device.desc())
        .limit(1)
        .subquery()
        for trial_id, parameter in pairs
    ]
    # Each LIMIT 1 sits in its own subquery: SQLite allows no ORDER BY/LIMIT on a union's arms.
    selects = [select(term) for term in terms]
    return selects[0] if len(selects) == 1 else union_all(*selects)
