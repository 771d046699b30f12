"""Whole-service scenarios: device bytes over a serial pseudo-terminal to a committed alarm row,
an unplugged oximeter, a database outage with no reading lost, and two services sharing one
database without ever streaming the same device.

They run on the event loop's clock fast-forwarded by looptime (``LoopClock``): waits take no
real time, except while a thread works (a serial port's blocking read, the record), when the
loop's time moves at the real pace. The outage test stops a real server and keeps real time.

Each runs on SQLite and PostgreSQL (see conftest). Rule delays are shortened through the rule
file (a validated copy of the default with smaller numbers) so that scenarios take seconds.
"""

from __future__ import annotations

import asyncio
import os
import shlex
import subprocess
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
import yaml

from monitor.service import MonitorService, MonitorSettings
from observations.record import TrialRecord
from observations.views import TrialView
from rules import RuleSet
from rules.rule_set import default_rule_set, parse_rule_set
from tests.databases import PG_CTL
from tests.monitor.conftest import LoopClock, open_record
from vocabulary import InjectionRoute, Parameter, TrialStatus

FAST = MonitorSettings(
    flush_interval_s=0.2, heartbeat_interval_s=0.2, sync_interval_s=0.2, poll_interval_s=0.2
)
# BerryMed BCI frames (BerryMed BCI serial protocol): pulse 72, SpO2 98 / SpO2 84 (0x54).
FRAME_NORMAL = bytes.fromhex("87 32 05 48 62")
FRAME_DESATURATED = bytes.fromhex("87 32 05 48 54")


def rules_with_delays(**delays: float) -> RuleSet:
    """The default rule set with some delays changed, validated like a site's file: by rule id
    a rule's delay, by level id a level's maximum delay."""
    data = yaml.safe_load(Path(default_rule_set().source).read_text(encoding="utf-8"))
    for rule in data["rules"]:
        if rule["id"] in delays:
            rule["delay_s"] = delays.pop(rule["id"])
        for level in rule["condition"].get("levels", []):
            if level["id"] in delays:
                level["max_delay_s"] = delays.pop(level["id"])
    assert not delays, f"no such rules or levels: {delays}"
    return parse_rule_set(yaml.safe_dump(data), "test rules")


def trial_with_device(record: TrialRecord, source: str, nhs: str = "9990000026") -> TrialView:
    clinician = record.users.demo_clinician()
    patient = record.patients.register(
        clinician,
        {
            "nhs_number": nhs,
            "hospital_number": f"T{nhs[-5:]}",
            "family_name": "Scenario",
            "given_name": "Test",
            "date_of_birth": "1970-01-01",
        },
    )
    trial = record.trials.plan(clinician, patient.id, 50, bed="B1")
    record.trials.set_status(clinician, trial.id, TrialStatus.BASELINE)
    record.trials.assign_device(clinician, trial.id, source, "Bedside oximeter")
    record.trials.record_injection(
        clinician,
        trial.id,
        {
            "dose_mcg": 50,
            "given_at": record.store.now() - timedelta(minutes=1),
            "route": InjectionRoute.LUMBAR_PUNCTURE,
            "given_by": "Dr Test",
        },
    )
    return record.trials.get(trial.id)


async def wait_for(condition: Callable[[], bool], limit_s: float = 60.0) -> None:
    """Until ``condition()`` holds, by the loop's time (fast-forwarded under looptime)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit_s
    while not condition():
        if loop.time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.1)


def alarm_rows(record: TrialRecord, trial_id: int) -> list[tuple[str, str]]:
    return [(record.alarms.rule_of(e.alarm_id), e.event) for e in record.alarms.events(trial_id)]


def levels_raised(record: TrialRecord, trial_id: int) -> list[str]:
    """The level each alarm was raised at (a levelled rule's deepest level met)."""
    return [
        (e.evidence or {}).get("level", e.rule_id)
        for e in record.alarms.events(trial_id)
        if e.event == "raised"
    ]


class Oximeter:
    """A BerryMed oximeter on a pseudo-terminal, sending a frame every 0.1 s."""

    def __init__(self, link: Path) -> None:
        self.master, self.slave = os.openpty()
        link.symlink_to(os.ttyname(self.slave))
        self.frame = FRAME_NORMAL
        self.sent = 0

    async def run(self) -> None:
        while True:
            os.write(self.master, self.frame)
            self.sent += 1
            await asyncio.sleep(0.1)

    def close(self) -> None:
        os.close(self.master)
        os.close(self.slave)


@pytest.mark.looptime
async def test_serial_bytes_reach_a_committed_alarm_row(
    loop_ward: tuple[TrialRecord, LoopClock], tmp_path: Path
):
    record, clock = loop_ward
    clock.follow()
    link = tmp_path / "oximeter"
    oximeter = Oximeter(link)
    trial = trial_with_device(record, f"serial:{link}:berrymed")
    service = MonitorService(
        record, settings=FAST, clock=clock, rule_set=rules_with_delays(critical_desaturation=2)
    )
    stop = asyncio.Event()
    running = asyncio.create_task(service.run(stop))
    sending = asyncio.create_task(oximeter.run())
    try:
        await wait_for(lambda: record.readings.count(trial.id) >= 10)
        latest = record.readings.latest(trial.id)
        assert latest[Parameter.SPO2].value == 98 and latest[Parameter.PULSE_RATE].value == 72
        oximeter.frame = FRAME_DESATURATED
        desaturated_at = record.store.now()
        await wait_for(lambda: "critical_desaturation" in levels_raised(record, trial.id))
    finally:
        stop.set()
        await running
        sending.cancel()
        oximeter.close()
    [alarm] = [a for a in record.alarms.active(trial.id) if a.rule_id == "spo2_low"]
    assert alarm.priority == "high" and alarm.kind == "physiological"
    assert alarm.raised_at - desaturated_at >= timedelta(seconds=2)  # the rule's delay held
    frame = record.readings.timeline(trial.id, [Parameter.SPO2])
    assert 84.0 in set(frame["value"])  # the bytes that raised it are in the record too
    assert (frame["device"] == f"serial:{link}:berrymed").all()


@pytest.mark.looptime
async def test_unplugged_oximeter_is_reported_lost_with_its_link_state(
    loop_ward: tuple[TrialRecord, LoopClock], tmp_path: Path
):
    record, clock = loop_ward
    clock.follow()
    missing = tmp_path / "no-such-port"
    trial = trial_with_device(record, f"serial:{missing}:berrymed")
    service = MonitorService(
        record, settings=FAST, clock=clock, rule_set=rules_with_delays(device_lost=1)
    )
    stop = asyncio.Event()
    running = asyncio.create_task(service.run(stop))
    try:
        await wait_for(lambda: ("device_lost", "raised") in alarm_rows(record, trial.id))
    finally:
        stop.set()
        await running
    [lost] = [a for a in record.alarms.active(trial.id) if a.rule_id == "device_lost"]
    spo2 = lost.evidence["parameters"]["spo2"]
    assert spo2["last_reading"] is None  # never delivered: still reported, not ignored
    assert spo2["device"] == f"serial:{missing}:berrymed"
    assert spo2["link"] in {"connecting", "disconnected"}
    [state] = record.services.device_states(trial.id)
    assert state.state in {"connecting", "disconnected"}


def hold_database(url: str) -> Callable[[], None]:
    """Make the database unavailable to writers for a while; returns how to give it back."""
    if url.startswith("sqlite"):
        import sqlite3

        blocker = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
        blocker.execute("BEGIN EXCLUSIVE")  # writers wait their busy timeout, then fail
        return lambda: (blocker.execute("COMMIT"), blocker.close())  # type: ignore[func-returns-value]
    if not PG_CTL:
        pytest.fail("ITBMON_PG_CTL is needed to stop the PostgreSQL test server")
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}  # the server keeps pipes
    subprocess.run([*shlex.split(PG_CTL), "-m", "fast", "-w", "stop"], check=True, **quiet)
    return lambda: subprocess.run([*shlex.split(PG_CTL), "-w", "start"], check=True, **quiet)


# On PostgreSQL it stops and restarts the server every other store test uses: run by itself.
@pytest.mark.alone
async def test_database_outage_loses_no_reading_and_alarms_go_on(database_url: str, tmp_path: Path):
    # Writers give up on a lock after 0.2 s (10 s in the product), so the outage bites here.
    record = open_record(database_url, tmp_path, busy_timeout_s=0.2)
    link = tmp_path / "oximeter"
    oximeter = Oximeter(link)
    trial = trial_with_device(record, f"serial:{link}:berrymed")
    service = MonitorService(
        record, settings=FAST, rule_set=rules_with_delays(critical_desaturation=1)
    )
    received: list[object] = []
    buffer_add = service.buffer.add
    service.buffer.add = lambda rows: (received.extend(rows), buffer_add(rows))  # type: ignore[method-assign]
    stop = asyncio.Event()
    running = asyncio.create_task(service.run(stop))
    sending = asyncio.create_task(oximeter.run())
    try:
        await wait_for(lambda: record.readings.count(trial.id) >= 10)
        give_back = hold_database(database_url)
        outage_began = time.monotonic()
        engine_saw = len(service.buffer)
        oximeter.frame = FRAME_DESATURATED
        # While the database is away the engine still decides: the alarm waits, not the rule.
        await wait_for(
            lambda: (
                service.alarms_waiting > 0
                or "spo2_low"
                in {a.rule_id for a in service.watches[trial.id].engine.active_alarms()}
            )
        )
        await asyncio.sleep(max(0.0, 3 - (time.monotonic() - outage_began)))
        assert len(service.buffer) > engine_saw  # readings waited in the buffer
        give_back()
        await wait_for(lambda: len(service.buffer) == 0 and service.alarms_waiting == 0)
        await wait_for(lambda: ("spo2_low", "raised") in alarm_rows(record, trial.id))
    finally:
        stop.set()
        await running
        sending.cancel()
        oximeter.close()
    assert service.buffer.dropped == 0
    # Every reading the service received is in the record: none lost in the outage.
    assert record.readings.count(trial.id) == len(received) == service.readings_written
    record.close()


@pytest.mark.looptime
async def test_two_services_never_stream_the_same_device(
    loop_ward: tuple[TrialRecord, LoopClock], tmp_path: Path
):
    record, clock = loop_ward
    clock.follow()
    for n, nhs in enumerate(("9990000026", "9990000034", "9990000042")):
        trial_with_device(record, f"sim:steady?seed={n}", nhs=nhs)
    sources = {a.source for a in record.trials.active_assignments()}
    assert len(sources) == 3
    url = record.store.engine.url.render_as_string(hide_password=False)
    other = open_record(url, tmp_path, clock=clock)
    quick = MonitorSettings(
        flush_interval_s=0.2,
        heartbeat_interval_s=0.2,
        sync_interval_s=0.2,
        poll_interval_s=0.2,
        lease_ttl_s=2.0,
    )
    services = [
        MonitorService(record, settings=quick, clock=clock),
        MonitorService(other, settings=quick, clock=clock),
    ]
    stops = [asyncio.Event(), asyncio.Event()]
    running = [asyncio.create_task(s.run(stop)) for s, stop in zip(services, stops, strict=True)]
    overlaps: list[set[str]] = []
    try:
        for _ in range(20):  # 4 s: some twenty sync rounds of each
            overlaps.append(set(services[0].streams) & set(services[1].streams))
            await asyncio.sleep(0.2)
        assert set(services[0].streams) | set(services[1].streams) == sources
        # Whichever claimed devices first (a race, as on a ward) dies without releasing
        # anything (a crash): once its leases expire, the other takes its devices over.
        dead = 0 if services[0].streams else 1
        survivor = services[1 - dead]
        taken_over = set(services[dead].streams)
        for stream in services[dead].streams.values():
            stream.task.cancel()
        running[dead].cancel()
        await asyncio.gather(running[dead], return_exceptions=True)
        await wait_for(lambda: set(survivor.streams) == sources, limit_s=15)
    finally:
        for stop in stops:
            stop.set()
        await asyncio.gather(*running, return_exceptions=True)
        other.close()
    assert overlaps and all(not both for both in overlaps), overlaps
    assert taken_over  # the takeover was tested, not assumed


@pytest.mark.looptime
async def test_unusable_assignment_is_reported_not_retried(
    loop_ward: tuple[TrialRecord, LoopClock],
):
    record, clock = loop_ward
    clock.follow()
    trial = trial_with_device(record, "serial:/dev/ttyITB-no-protocol")  # protocol left out
    service = MonitorService(
        record, settings=FAST, clock=clock, rule_set=rules_with_delays(device_lost=1)
    )
    stop = asyncio.Event()
    running = asyncio.create_task(service.run(stop))
    try:
        await wait_for(lambda: ("device_lost", "raised") in alarm_rows(record, trial.id))
        await asyncio.sleep(1.0)  # several sync rounds
    finally:
        stop.set()
        await running
    [state] = record.services.device_states(trial.id)
    assert state.state == "disconnected"
    assert "needs its protocol" in state.reason and "assign it again" in state.reason
    [assignment] = record.trials.active_assignments(trial.id)
    assert assignment.id in service.unusable_assignments  # not reopened every round
