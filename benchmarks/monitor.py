"""Monitor service throughput and alarm latency: ``python -m benchmarks monitor [options]``.

Two measurements, both on the embedded default (SQLite in WAL mode, ``synchronous=FULL``) in a
temporary directory, printed as one JSON object:

1. Ingest. BerryMed BCI byte frames for many trials (injected before the first frame) are
   decoded by the real decoder, fed to each trial's rules engine (``TrialWatch``, as the
   service runs it), checked and converted for the driver frame by frame
   (``record.readings.prepare``) and written in the service's batches by one writer thread
   that holds its own connection, as the service's (``Readings.writer``: sign-in check,
   duplicate check, one audit entry a batch), in the interpreter's default thread switching.
   ``bare_insert_rows_per_s`` writes the very rows the driver took with a bare
   ``executemany`` on a plain sqlite3 connection with the same durability settings;
   ``ingest_ratio`` divides the two. Several runs; the median is reported, all ratios listed.
2. Alarm latency. The real ``MonitorService`` runs N trials whose devices deliver a reading per
   second on the wall clock (byte frames decoded as above). Each trial's pulse dips for 3 s out
   of every 6 s, so ``pulse_low`` (bradycardia decided 2 s into the dip and cleared without a
   hold, through a validated copy of the rule file) is raised and resolved every cycle.
   Latency = wall time when the alarm event's transaction committed minus the time of the
   reading that completed the condition, i.e. the moment that reading was due from the
   device: any lateness of delivery under load counts.
   ``max_trials_at_1hz`` is the largest level tried whose p99 stays under 1 s.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import platform
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml

from devices.measurement import DeviceEvent, Measurement
from devices.protocols import PROTOCOLS
from devices.sources import Source
from monitor.engine_feed import record_readings
from monitor.service import MonitorService, MonitorSettings
from monitor.trial_watch import TrialWatch
from observations.alarms import AlarmEventIn
from observations.database import create_record_engine, migrate
from observations.nhs_number import nhs_test_numbers
from observations.record import TrialRecord
from observations.settings import Settings
from observations.views import DeviceAssignmentView
from rules import RuleSet
from rules.rule_set import default_rule_set, parse_rule_set
from vocabulary import InjectionRoute, TrialStatus

LOW_PULSE, NORMAL_PULSE = 45, 72  # 45/min is bradycardia (<= 50, above 40); 72 is normal
CYCLE_S, LOW_S = 6, 3
LATENCY_RULE = "pulse_low"


# --------------------------------------------------------------------------- set-up


def open_record(directory: Path) -> TrialRecord:
    url = f"sqlite:///{directory / 'record.sqlite3'}"
    engine = create_record_engine(url)
    migrate(engine)
    return TrialRecord(engine, Settings(directory, url, ZoneInfo("Europe/London")))


def create_trials(record: TrialRecord, count: int, injected_at: datetime) -> list[int]:
    clinician = record.users.demo_clinician()
    ids = []
    for index, (nhs, _) in zip(range(count), nhs_test_numbers(), strict=False):
        patient = record.patients.register(
            clinician,
            {
                "nhs_number": nhs,
                "hospital_number": f"BENCH{index:05d}",
                "family_name": "Bench",
                "given_name": f"Patient {index}",
                "date_of_birth": "1970-01-01",
            },
        )
        trial = record.trials.plan(clinician, patient.id, 50, bed=f"B{index}")
        record.trials.set_status(clinician, trial.id, TrialStatus.BASELINE)
        record.trials.assign_device(
            clinician, trial.id, f"sim:steady?seed={index}", f"Benchmark device {index}"
        )
        record.trials.record_injection(
            clinician,
            trial.id,
            {
                "dose_mcg": 50,
                "given_at": injected_at,
                "route": InjectionRoute.LUMBAR_PUNCTURE,
                "given_by": "Benchmark",
            },
        )
        ids.append(trial.id)
    return ids


def frame(pulse: int, spo2: int = 97) -> bytes:
    """One BerryMed BCI serial packet: signal 7, pleth 50, bar 5."""
    return bytes([0x87, 0x32, 0x05 | ((pulse >> 7) << 6), pulse & 0x7F, spo2])


def decode(decoder: Any, data: bytes) -> list[Measurement]:
    return [r for r in decoder.feed(data) if isinstance(r, Measurement)]


def pulse_at(second: int) -> int:
    return LOW_PULSE if second % CYCLE_S < LOW_S else NORMAL_PULSE


def latency_rules(delay_s: float) -> RuleSet:
    """The default rules with bradycardia decided `delay_s` into each dip and cleared by the
    first normal reading (no hold), so it is raised and resolved every cycle."""
    data = yaml.safe_load(Path(default_rule_set().source).read_text(encoding="utf-8"))
    for rule in data["rules"]:
        if rule["id"] == LATENCY_RULE:
            level = rule["condition"]["levels"][0]
            level["max_delay_s"] = delay_s
            level["hold_s"] = 0
    return parse_rule_set(yaml.safe_dump(data), f"benchmark copy ({LATENCY_RULE} {delay_s} s)")


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


# --------------------------------------------------------------------------- 1. ingest


def ingest_setup(directory: Path, trials: int, seconds: int) -> tuple[Any, ...]:
    """A record with trials injected in the past, their watches and decoders, and the byte
    frames of `seconds` of 1 Hz readings (prepared in advance: the device's work, not ours)."""
    record = open_record(directory)
    start = datetime.now(UTC) - timedelta(seconds=seconds + 60)
    trial_ids = create_trials(record, trials, start - timedelta(minutes=5))
    rules = default_rule_set()
    watches = [TrialWatch(record, rules, record.trials.get(t), lambda: start) for t in trial_ids]
    for watch in watches:
        watch.rebuild(start)  # as the service starts a trial's watch: the injection is known
    decoders = [PROTOCOLS["berrymed"].decoder() for _ in trial_ids]
    frames = [frame(pulse_at(s)) for s in range(seconds)]
    return record, start, trial_ids, watches, decoders, frames


def ingest(trials: int, seconds: int, batch_size: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        record, start, trial_ids, watches, decoders, frames = ingest_setup(
            directory, trials, seconds
        )
        actor = record.users.service_actor()
        sources = [f"sim:steady?seed={index}" for index in range(trials)]
        stored: list[Any] = []
        pending: list[Any] = []
        alarm_events = 0
        # As in the service: decoding, the engines and each frame's checked rows on one
        # thread, batches committed by another that holds its own connection (the service's
        # flush hands them to its writer thread while the loop goes on).
        readings_writer = record.readings.writer_process()
        readings_writer.start()  # as the service starts it, before any reading arrives
        with ThreadPoolExecutor(max_workers=1) as writer:
            commits = []
            began = time.perf_counter()
            for second in range(seconds):
                at = start + timedelta(seconds=second)
                for index, trial_id in enumerate(trial_ids):
                    for measurement in decode(decoders[index], frames[second]):
                        stamped = measurement.stamped(
                            receive_time=at, device_time=at, source=sources[index]
                        )
                        alarm_events += len(watches[index].on_measurement(stamped))
                        pending += record.readings.prepare(record_readings(trial_id, stamped))
                if len(pending) >= batch_size:
                    commits.append(writer.submit(readings_writer.write, actor, pending))
                    stored.extend(pending)
                    pending = []
            if pending:
                commits.append(writer.submit(readings_writer.write, actor, pending))
                stored.extend(pending)
            written = sum(commit.result() for commit in commits)
            ingest_s = time.perf_counter() - began
            writer.submit(readings_writer.close).result()
        record.close()
        assert written == len(stored), "every reading must be written once"

        bare_s = bare_insert(directory / "bare", stored, batch_size)
    ingest_rate = len(stored) / ingest_s
    bare_rate = len(stored) / bare_s
    return {
        "trials": trials,
        "seconds_each": seconds,
        "rows": len(stored),
        "batch_size": batch_size,
        "alarm_events": alarm_events,
        "ingest_s": round(ingest_s, 3),
        "bare_insert_s": round(bare_s, 3),
        "ingest_readings_per_s": round(ingest_rate),
        "bare_insert_rows_per_s": round(bare_rate),
        "ingest_ratio": round(ingest_rate / bare_rate, 3),
    }


def stages(trials: int, seconds: int, batch_size: int) -> dict[str, float]:
    """Where an ingested row's time goes: each stage run alone over the same frames (us)."""
    gc.collect()  # the ingest runs' garbage is not this measurement's
    with tempfile.TemporaryDirectory() as tmp:
        record, start, trial_ids, watches, decoders, frames = ingest_setup(
            Path(tmp), trials, seconds
        )
        actor = record.users.service_actor()
        readings_writer = record.readings.writer_process()
        readings_writer.start()  # as the service starts it, before any reading arrives
        clock = time.perf_counter()
        decoded = []
        for second in range(seconds):
            at = start + timedelta(seconds=second)
            for index, trial_id in enumerate(trial_ids):
                for measurement in decode(decoders[index], frames[second]):
                    stamped = measurement.stamped(receive_time=at, device_time=at, source="s")
                    decoded.append((index, trial_id, stamped))
        decode_s, clock = time.perf_counter() - clock, time.perf_counter()
        for index, _, stamped in decoded:
            watches[index].on_measurement(stamped)
        engine_s, clock = time.perf_counter() - clock, time.perf_counter()
        prepare = record.readings.prepare
        rows = [
            row for _, trial, stamped in decoded for row in prepare(record_readings(trial, stamped))
        ]
        rows_s, clock = time.perf_counter() - clock, time.perf_counter()
        for offset in range(0, len(rows), batch_size):
            readings_writer.write(actor, rows[offset : offset + batch_size])
        store_s = time.perf_counter() - clock
        readings_writer.close()
        record.close()
    per_row = 1e6 / len(rows)
    return {
        "decode": round(decode_s * per_row, 1),
        "rules_engine": round(engine_s * per_row, 1),
        "to_checked_rows": round(rows_s * per_row, 1),
        "store": round(store_s * per_row, 1),
    }


def bare_insert(path: Path, rows: list[tuple[Any, ...]], batch_size: int) -> float:
    """The same rows, exactly as the driver took them, through a bare executemany into the
    same schema with the same durability.

    A freshly migrated database (same table, indexes and triggers); foreign keys are left off,
    as sqlite3 does by default, since this database holds no trials.
    """
    path.mkdir()
    open_record(path).close()
    bare = sqlite3.connect(path / "record.sqlite3", isolation_level=None)
    bare.execute("PRAGMA journal_mode=WAL")
    bare.execute("PRAGMA synchronous=FULL")
    began = time.perf_counter()
    for offset in range(0, len(rows), batch_size):
        bare.execute("BEGIN IMMEDIATE")
        bare.executemany(
            "INSERT INTO vital_readings (trial_id, parameter, value, unit, device_time,"
            " received_at, flags, raw_status, source_device) VALUES (?,?,?,?,?,?,?,?,?)",
            rows[offset : offset + batch_size],
        )
        bare.execute("COMMIT")
    elapsed = time.perf_counter() - began
    bare.close()
    return elapsed


# --------------------------------------------------------------------------- 2. latency


class BenchmarkService(MonitorService):
    """The real service; only the devices are replaced by 1 Hz byte streams on the wall clock."""

    epoch: float = 0.0
    started: asyncio.Event | None = None

    def device_events(
        self, source: Source, assignment: DeviceAssignmentView, watch: TrialWatch
    ) -> AsyncIterator[DeviceEvent]:
        return self._one_hertz(assignment)

    async def _one_hertz(self, assignment: DeviceAssignmentView) -> AsyncIterator[DeviceEvent]:
        decoder = PROTOCOLS["berrymed"].decoder()
        assert self.started is not None
        await self.started.wait()  # every device starts once every trial is being watched
        # Devices are not in step: each trial's readings fall at its own fraction of a second.
        phase = (assignment.trial_id * 0.618034) % 1.0
        second = 0
        while True:
            due = self.epoch + second + phase
            await asyncio.sleep(max(0.0, due - time.time()))
            at = datetime.fromtimestamp(due, UTC)
            for measurement in decode(decoder, frame(pulse_at(second))):
                yield measurement.stamped(receive_time=at, device_time=at, source=None)
            second += 1


def latency(trials: int, measure_s: float, warmup_s: float, delay_s: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        record = open_record(Path(tmp))
        create_trials(record, trials, datetime.now(UTC) - timedelta(minutes=1))
        latencies: list[float] = []
        window = {"from": 0.0, "to": float("inf")}
        write = record.alarms.record_events

        def timed_write(actor: Any, events: list[AlarmEventIn]) -> list[int]:
            ids = write(actor, events)
            committed = time.time()
            for event in events:
                due = event.at.timestamp()
                if event.rule_id == LATENCY_RULE and window["from"] <= due < window["to"]:
                    latencies.append(committed - due)
            return ids

        record.alarms.record_events = timed_write  # type: ignore[method-assign]
        service = BenchmarkService(record, rule_set=latency_rules(delay_s))

        async def run() -> tuple[float, float]:
            stop = asyncio.Event()
            service.started = asyncio.Event()
            task = asyncio.create_task(service.run(stop))
            while len(service.streams) < trials:  # start-up (rebuilding each trial) first
                await asyncio.sleep(0.1)
            # Readings start on a whole second a little ahead.
            service.epoch = float(int(time.time()) + 2)
            window["from"] = service.epoch + warmup_s
            window["to"] = window["from"] + measure_s
            service.started.set()
            loop_lag: list[float] = []
            cpu_from = None
            while time.time() < window["to"]:
                before = time.perf_counter()
                await asyncio.sleep(0.05)
                if time.time() >= window["from"]:  # start-up and warm-up are not measured
                    cpu_from = cpu_from if cpu_from is not None else time.process_time()
                    loop_lag.append(time.perf_counter() - before - 0.05)
            cpu_share = (time.process_time() - (cpu_from or 0.0)) / measure_s
            await asyncio.sleep(2)  # events of the window's last readings reach the record
            stop.set()
            await task
            return max(loop_lag), cpu_share

        worst_loop_lag, cpu_share = asyncio.run(run())
        readings = sum(
            record.readings.count(t)
            for t in record.trials.ids_with_status({TrialStatus.MONITORING})
        )
        record.close()
    if not latencies:
        return {"trials": trials, "alarm_events": 0, "error": "no alarm event committed"}
    return {
        "trials": trials,
        "alarm_events": len(latencies),
        "p50_ms": round(statistics.median(latencies) * 1000, 1),
        "p99_ms": round(percentile(latencies, 0.99) * 1000, 1),
        "max_ms": round(max(latencies) * 1000, 1),
        "readings_stored": readings,
        "event_loop_worst_lag_ms": round(worst_loop_lag * 1000, 1),
        "cpu_share_of_one_core": round(cpu_share, 2),  # all threads of the process
    }


# --------------------------------------------------------------------------- main


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks monitor",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--ingest-trials", type=int, default=50)
    parser.add_argument(
        "--ingest-seconds",
        type=int,
        default=1800,
        help="seconds of 1 Hz readings per trial for the ingest figure",
    )
    parser.add_argument(
        "--ingest-runs",
        type=int,
        default=3,
        help="ingest runs; the median one is reported, every ratio is listed",
    )
    parser.add_argument(
        "--latency-levels", default="1,16,100", help="trial counts whose alarm latency is reported"
    )
    parser.add_argument(
        "--capacity-levels",
        default="250,500,1000,1500,2000",
        help="larger trial counts tried, in order, for max_trials_at_1hz",
    )
    parser.add_argument("--measure-s", type=float, default=24.0)
    parser.add_argument("--warmup-s", type=float, default=6.0)
    parser.add_argument(
        "--delay-s",
        type=float,
        default=2.0,
        help=f"{LATENCY_RULE} delay in the benchmark's copy of the rules",
    )
    args = parser.parse_args(argv)
    batch_size = MonitorSettings().batch_size

    figures: dict[str, Any] = {
        "benchmark": "monitor",
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "sqlite": sqlite3.sqlite_version,
    }
    runs = []
    for run in range(args.ingest_runs):
        print(f"ingest, run {run + 1} of {args.ingest_runs} ...", file=sys.stderr)
        runs.append(ingest(args.ingest_trials, args.ingest_seconds, batch_size))
    runs.sort(key=lambda r: r["ingest_ratio"])
    figures.update(runs[len(runs) // 2])  # the median run: disk and CPU vary run to run
    figures["ingest_ratio_runs"] = [r["ingest_ratio"] for r in runs]
    figures["ingest_us_per_row_by_stage"] = stages(20, 300, batch_size)
    figures["bare_insert_us_per_row"] = round(1e6 / figures["bare_insert_rows_per_s"], 1)

    levels: dict[str, Any] = {}
    for trials in [int(n) for n in args.latency_levels.split(",")]:
        print(f"latency, {trials} trials ...", file=sys.stderr)
        levels[str(trials)] = latency(trials, args.measure_s, args.warmup_s, args.delay_s)
    figures["alarm_latency_ms"] = {
        n: {"p50": level.get("p50_ms"), "p99": level.get("p99_ms")} for n, level in levels.items()
    }
    sustained = [int(n) for n, level in levels.items() if level.get("p99_ms", 1e9) < 1000]
    for trials in [int(n) for n in args.capacity_levels.split(",") if n]:
        print(f"capacity, {trials} trials ...", file=sys.stderr)
        level = latency(trials, args.measure_s, args.warmup_s, args.delay_s)
        levels[str(trials)] = level
        if level.get("p99_ms", 1e9) >= 1000:
            break
        sustained.append(trials)
    figures["max_trials_at_1hz"] = max(sustained, default=0)
    figures["levels"] = levels
    json.dump(figures, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
