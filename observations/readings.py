"""Device readings in batches, and the timeline that joins them with manual observations."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import pandas as pd
from sqlalchemy import Insert, func, select
from sqlalchemy.dialects import postgresql, sqlite

from observations.entries import ReadingIn, check_reading
from observations.errors import NotFound
from observations.schema import ObservationSet, Trial, VitalReading
from observations.store import Actor, Store, require
from observations.views import LatestValue
from vocabulary import UNITS, Parameter

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


def current_sets_query(trial_id: int) -> Any:
    """Observation sets as they stand: those not superseded by a correction."""
    superseded = select(ObservationSet.supersedes_id).where(
        ObservationSet.supersedes_id.is_not(None)
    )
    return select(ObservationSet).where(
        ObservationSet.trial_id == trial_id, ObservationSet.id.not_in(superseded)
    )


class Readings:
    def __init__(self, store: Store) -> None:
        self._store = store
        dialect = store.engine.dialect.name
        self._insert = postgresql.insert if dialect == "postgresql" else sqlite.insert

    def add(self, actor: Actor, readings: Sequence[ReadingIn]) -> int:
        """Write a batch in one transaction; returns how many were new.

        The whole batch is checked first, so one bad reading writes nothing. Exact repeats
        (same trial, parameter, device time and device) are ignored: devices resend.
        """
        require(actor, "readings.add")
        if not readings:
            return 0
        rows = []
        for reading in readings:
            unit = check_reading(reading)
            rows.append(
                {
                    "trial_id": reading.trial_id,
                    "parameter": Parameter(reading.parameter).value,
                    "value": reading.value,
                    "unit": unit,
                    "device_time": reading.device_time,
                    "received_at": reading.received_at,
                    "flags": ";".join(sorted(f.value for f in reading.flags)),
                    "raw_status": reading.raw_status,
                    "source_device": reading.source_device,
                }
            )
        trial_ids = {r["trial_id"] for r in rows}
        with self._store.writing() as session:
            known = set(session.scalars(select(Trial.id).where(Trial.id.in_(trial_ids))))
            missing = sorted(trial_ids - known)
            if missing:
                raise NotFound(
                    f"Readings arrived for trial {', '.join(map(str, missing))}, which is not in "
                    "the record: none of this batch was written."
                )
            # RETURNING counts the rows really inserted (repeats are skipped) on both backends.
            statement: Insert = (
                self._insert(VitalReading)
                .on_conflict_do_nothing(
                    index_elements=["trial_id", "parameter", "device_time", "source_device"]
                )
                .returning(VitalReading.id)
            )
            written = len(session.connection().execute(statement, rows).all())
            per_trial = Counter(r["trial_id"] for r in rows)
            for trial_id, count in per_trial.items():
                self._store.audit(
                    session,
                    actor,
                    "readings.add",
                    "vital_readings",
                    None,
                    trial_id,
                    {"received": count},
                )
            return int(written)

    def timeline(
        self,
        trial_id: int,
        parameters: Iterable[Parameter] | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        include_manual: bool = True,
    ) -> pd.DataFrame:
        """Every value of the trial in time order: device readings and manual entries.

        ``source`` says which ('device' or 'manual'); a flagged reading without a value stays
        in the frame with ``value`` NaN, so gaps and probe-off periods are visible.
        """
        wanted = [Parameter(p) for p in parameters] if parameters is not None else list(Parameter)
        names = [p.value for p in wanted]
        with self._store.reading() as session:
            if session.get(Trial, trial_id) is None:
                raise NotFound(f"There is no trial with id {trial_id}.")
            query = select(
                VitalReading.device_time,
                VitalReading.parameter,
                VitalReading.value,
                VitalReading.unit,
                VitalReading.flags,
                VitalReading.source_device,
            ).where(VitalReading.trial_id == trial_id, VitalReading.parameter.in_(names))
            if start is not None:
                query = query.where(VitalReading.device_time >= start)
            if end is not None:
                query = query.where(VitalReading.device_time <= end)
            records: list[tuple[Any, ...]] = [
                (t, p, v, u, f, "device", d) for t, p, v, u, f, d in session.execute(query)
            ]
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
                                (
                                    obs.measured_at,
                                    parameter.value,
                                    float(value),
                                    UNITS[parameter].display,
                                    "",
                                    "manual",
                                    None,
                                )
                            )
        frame = pd.DataFrame.from_records(records, columns=TIMELINE_COLUMNS)
        frame["time"] = pd.to_datetime(frame["time"], utc=True)
        frame["value"] = pd.to_numeric(frame["value"], errors="coerce").astype("float64")
        return frame.sort_values(["time", "parameter"], kind="stable").reset_index(drop=True)

    def latest(
        self, trial_id: int, parameters: Iterable[Parameter] | None = None
    ) -> dict[Parameter, LatestValue]:
        """The newest usable value of each parameter (device or manual) with its time.

        A parameter never measured is absent: the caller shows it as missing, never as 0.
        """
        wanted = [Parameter(p) for p in parameters] if parameters is not None else list(Parameter)
        latest: dict[Parameter, LatestValue] = {}
        with self._store.reading() as session:
            if session.get(Trial, trial_id) is None:
                raise NotFound(f"There is no trial with id {trial_id}.")
            for parameter in wanted:
                row = session.execute(
                    select(VitalReading.device_time, VitalReading.value, VitalReading.flags)
                    .where(
                        VitalReading.trial_id == trial_id,
                        VitalReading.parameter == parameter.value,
                        VitalReading.value.is_not(None),
                    )
                    .order_by(VitalReading.device_time.desc())
                    .limit(1)
                ).first()
                if row is not None:
                    latest[parameter] = LatestValue(
                        parameter=parameter.value,
                        value=row.value,
                        at=row.device_time,
                        source="device",
                        flags=row.flags,
                    )
            manual = session.scalars(
                current_sets_query(trial_id).order_by(ObservationSet.measured_at.desc())
            ).all()
            for parameter in wanted:
                column = MANUAL_NUMERIC.get(parameter)
                if column is None:
                    continue
                for obs in manual:
                    value = getattr(obs, column)
                    if value is None:
                        continue
                    known = latest.get(parameter)
                    if known is None or obs.measured_at > known.at:
                        latest[parameter] = LatestValue(
                            parameter=parameter.value,
                            value=float(value),
                            at=obs.measured_at,
                            source="manual",
                            flags="",
                        )
                    break
        return latest

    def last_time(self, trial_id: int, source_device: str) -> datetime | None:
        """Device time of the newest reading from one device (where a restart resumes)."""
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
