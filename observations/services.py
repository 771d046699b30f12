"""Monitor processes in the record: heartbeats, device leases, and device connection states.

Several processes may point at one database (a dashboard's embedded monitor and bedside
gateways). Each device is streamed by exactly one of them: the holder of its lease, renewed with
every heartbeat; a lease whose holder stopped beating expires and another process takes it over.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict
from sqlalchemy import Insert, select
from sqlalchemy.dialects import postgresql, sqlite

from observations.free_text import clean_text, fit_text
from observations.schema import DeviceLease, DeviceState, ServiceHeartbeat
from observations.store import Store


class HeartbeatView(BaseModel):
    model_config = ConfigDict(from_attributes=True, frozen=True)

    service_id: str
    kind: str
    host: str
    pid: int
    started_at: datetime
    last_beat_at: datetime
    stopped_at: datetime | None


class DeviceStateView(BaseModel):
    model_config = ConfigDict(from_attributes=True, frozen=True)

    source: str
    trial_id: int
    state: str
    reason: str
    since: datetime
    last_reading_at: datetime | None
    updated_at: datetime


def _fits(field: str, value: str, kind: str) -> None:
    """A name a monitor process gives, as the record can keep it (exactly as given: leases and
    states are found again by it); InvalidEntry names what does not fit."""
    clean_text(field, value, kind, required=True, label=_LABELS[field], as_given=True)


_LABELS = {
    "service_id": "The monitor's service id",
    "kind": "The monitor's kind",
    "host": "The monitor's host name",
    "source": "The device",
    "state": "The device state",
}


class Services:
    def __init__(self, store: Store) -> None:
        self._store = store
        dialect = store.engine.dialect.name
        self._insert = postgresql.insert if dialect == "postgresql" else sqlite.insert

    # ------------------------------------------------------------------ heartbeats

    def beat(self, service_id: str, kind: str, host: str, pid: int) -> None:
        _fits("service_id", service_id, "service")
        _fits("kind", kind, "word")
        _fits("host", host, "service")
        now = self._store.now()
        statement: Insert = self._insert(ServiceHeartbeat).values(
            service_id=service_id,
            kind=kind,
            host=host,
            pid=pid,
            started_at=now,
            last_beat_at=now,
            stopped_at=None,
        )
        statement = statement.on_conflict_do_update(
            index_elements=["service_id"],
            set_={"last_beat_at": now, "stopped_at": None},
        )
        with self._store.writing() as session:
            session.execute(statement)

    def stopped(self, service_id: str) -> None:
        """A clean stop: release its leases at once rather than waiting for them to expire."""
        _fits("service_id", service_id, "service")
        now = self._store.now()
        with self._store.writing() as session:
            row = session.get(ServiceHeartbeat, service_id)
            if row is not None:
                row.stopped_at = now
            for lease in session.scalars(
                select(DeviceLease).where(DeviceLease.service_id == service_id)
            ):
                session.delete(lease)

    def latest_heartbeat(self) -> HeartbeatView | None:
        """The most recent beat of any running monitor (None if none ever ran)."""
        with self._store.reading() as session:
            row = session.scalar(
                select(ServiceHeartbeat)
                .where(ServiceHeartbeat.stopped_at.is_(None))
                .order_by(ServiceHeartbeat.last_beat_at.desc())
            )
            return HeartbeatView.model_validate(row) if row else None

    def heartbeats(self) -> list[HeartbeatView]:
        with self._store.reading() as session:
            rows = session.scalars(
                select(ServiceHeartbeat).order_by(ServiceHeartbeat.last_beat_at.desc())
            )
            return [HeartbeatView.model_validate(r) for r in rows]

    # ------------------------------------------------------------------ leases

    def acquire(self, source: str, trial_id: int, service_id: str, ttl: timedelta) -> bool:
        """Take or renew the lease of a device; False if another live process holds it."""
        return source in self.acquire_many([(source, trial_id)], service_id, ttl)

    def acquire_many(
        self, claims: Sequence[tuple[str, int]], service_id: str, ttl: timedelta
    ) -> set[str]:
        """Take or renew several leases in one transaction; returns the sources now held.

        One transaction per round, not one per device: a gateway with hundreds of devices
        must not hold the write lock hundreds of times every few seconds.
        """
        if not claims:
            return set()
        _fits("service_id", service_id, "service")
        for source, _ in claims:
            _fits("source", source, "device")
        now = self._store.now()
        table = DeviceLease.__table__
        held: set[str] = set()
        with self._store.writing() as session:
            for source, trial_id in claims:
                statement: Insert = self._insert(DeviceLease).values(
                    source=source, service_id=service_id, trial_id=trial_id, expires_at=now + ttl
                )
                statement = statement.on_conflict_do_update(
                    index_elements=["source"],
                    set_={"service_id": service_id, "trial_id": trial_id, "expires_at": now + ttl},
                    # Only an expired lease, or our own, may be taken: the database decides.
                    where=(table.c.expires_at < now) | (table.c.service_id == service_id),
                ).returning(table.c.service_id)
                if session.execute(statement).scalar() == service_id:
                    held.add(source)
        return held

    def release(self, source: str, service_id: str) -> None:
        _fits("source", source, "device")
        _fits("service_id", service_id, "service")
        with self._store.writing() as session:
            lease = session.get(DeviceLease, source)
            if lease is not None and lease.service_id == service_id:
                session.delete(lease)

    def lease_holder(self, source: str) -> str | None:
        _fits("source", source, "device")
        with self._store.reading() as session:
            lease = session.get(DeviceLease, source)
            if lease is None or lease.expires_at < self._store.now():
                return None
            return lease.service_id

    # ------------------------------------------------------------------ device states

    def set_device_state(
        self,
        source: str,
        trial_id: int,
        state: str,
        reason: str,
        since: datetime,
        last_reading_at: datetime | None = None,
    ) -> None:
        _fits("source", source, "device")
        _fits("state", state, "word")
        reason = fit_text(reason, "note")  # the monitor's words about a device: always kept
        now = self._store.now()
        values = {
            "state": state,
            "reason": reason,
            "since": since,
            "updated_at": now,
            "last_reading_at": last_reading_at,
        }
        statement: Insert = self._insert(DeviceState).values(
            source=source, trial_id=trial_id, **values
        )
        if last_reading_at is None:
            values.pop("last_reading_at")  # keep the last known reading time
        statement = statement.on_conflict_do_update(
            index_elements=["source", "trial_id"], set_=values
        )
        with self._store.writing() as session:
            session.execute(statement)

    def device_states(self, trial_id: int | None = None) -> list[DeviceStateView]:
        with self._store.reading() as session:
            query = select(DeviceState).order_by(DeviceState.trial_id, DeviceState.source)
            if trial_id is not None:
                query = query.where(DeviceState.trial_id == trial_id)
            return [DeviceStateView.model_validate(r) for r in session.scalars(query)]
