"""Heartbeats, device leases (one streamer per device, takeover) and device states."""

from __future__ import annotations

from datetime import timedelta

from observations.record import TrialRecord
from tests.observations.conftest import FakeClock, Staff, patient_details

TTL = timedelta(seconds=15)


def _trial(record: TrialRecord, staff: Staff) -> int:
    patient = record.patients.register(staff.specialist, patient_details())
    return record.trials.plan(staff.specialist, patient.id, 50).id


def test_heartbeat_and_clean_stop(record: TrialRecord, clock: FakeClock):
    assert record.services.latest_heartbeat() is None
    record.services.beat("svc-a", "embedded", "ward-pc", 123)
    clock.advance(seconds=5)
    record.services.beat("svc-a", "embedded", "ward-pc", 123)
    beat = record.services.latest_heartbeat()
    assert beat is not None and beat.last_beat_at == clock.now
    assert beat.started_at == clock.now - timedelta(seconds=5)
    record.services.stopped("svc-a")
    assert record.services.latest_heartbeat() is None


def test_one_holder_per_device_and_takeover_after_expiry(
    record: TrialRecord, staff: Staff, clock: FakeClock
):
    trial = _trial(record, staff)
    assert record.services.acquire("sim:steady", trial, "svc-a", TTL)
    assert not record.services.acquire("sim:steady", trial, "svc-b", TTL)
    clock.advance(seconds=10)
    assert record.services.acquire("sim:steady", trial, "svc-a", TTL)  # renewal
    clock.advance(seconds=14)
    assert not record.services.acquire("sim:steady", trial, "svc-b", TTL)
    clock.advance(seconds=2)  # svc-a stopped renewing: its lease expired
    assert record.services.acquire("sim:steady", trial, "svc-b", TTL)
    assert record.services.lease_holder("sim:steady") == "svc-b"
    assert not record.services.acquire("sim:steady", trial, "svc-a", TTL)


def test_clean_stop_releases_leases(record: TrialRecord, staff: Staff):
    trial = _trial(record, staff)
    record.services.beat("svc-a", "standalone", "gw", 1)
    assert record.services.acquire("ble:AA", trial, "svc-a", TTL)
    record.services.stopped("svc-a")
    assert record.services.lease_holder("ble:AA") is None
    assert record.services.acquire("ble:AA", trial, "svc-b", TTL)


def test_device_state_keeps_last_reading_time(record: TrialRecord, staff: Staff, clock: FakeClock):
    trial = _trial(record, staff)
    seen = clock.now
    record.services.set_device_state("sim:x", trial, "connected", "streaming", seen, seen)
    clock.advance(seconds=40)
    record.services.set_device_state("sim:x", trial, "disconnected", "link lost", clock.now)
    [state] = record.services.device_states(trial)
    assert (state.state, state.reason, state.since) == ("disconnected", "link lost", clock.now)
    assert state.last_reading_at == seen
