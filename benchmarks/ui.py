"""Server-side cost of the nurse's screens: `python -m benchmarks ui [--hours H] [--repeat N]`.

Builds a temporary SQLite record holding a trial as the monitor would have written it: H hours
(default 6) of 1 Hz SpO2 and pulse with a probe-off spell, a link loss and a 15-second
desaturation, NIBP every 15 minutes, an observation set at every due time, alarms raised,
acknowledged and resolved. Then it times, over N runs each:

- ``chart``: one refresh of the live monitor's timeline, as the page does it
  (`pages.charts.trial_timeline_figure`: the record query, min/max downsampling, the plotly
  figure) plus its serialisation as Streamlit sends it (`plotly.io.to_json`), whose length is
  the chart payload;
- ``trial_monitor_page``: a whole run of pages/trial_monitor.py under Streamlit's AppTest
  (tiles, alarm panel, schedule, chart; AppTest's own overhead included);
- ``ward_page``: a whole run of pages/ward.py with ``--beds`` trials (default 16), each with
  the same H hours of readings, and the number of SQL statements one refresh sends.

Targets (issue 6): chart refresh <= 300 ms and payload <= 300 KB. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import random
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
TARGET_MS = 300.0
TARGET_BYTES = 300 * 1024
# Serial sources that no process streams here: the readings are written by the benchmark.
OXIMETER = "serial:/dev/bench-oximeter-{bed}"
CUFF = "serial:/dev/bench-nibp-{bed}"
BATCH = 5000  # readings per write: the record's batch writer, minus the waiting


def _percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)

    def rank(q: float) -> float:  # nearest-rank percentile: a real measured run, never a blend
        return ordered[max(0, math.ceil(q * len(ordered)) - 1)]

    return {
        "runs": len(ordered),
        "p50_ms": round(rank(0.50) * 1000, 1),
        "p95_ms": round(rank(0.95) * 1000, 1),
        "min_ms": round(ordered[0] * 1000, 1),
        "max_ms": round(ordered[-1] * 1000, 1),
    }


def _timed(action: Callable[[], Any], repeat: int) -> list[float]:
    action()  # warm: imports, caches and the page's compiled script, as on a running server
    samples = []
    for _ in range(repeat):
        began = time.perf_counter()
        action()
        samples.append(time.perf_counter() - began)
    return samples


def _seed_trial(record: Any, people: dict[str, Any], bed: str, nhs: str, hours: float,
                seed: int) -> int:
    """One trial of ``hours`` up to now, written through the record API as the monitor does."""
    from observations.alarms import AlarmEventIn
    from observations.entries import ReadingIn
    from vocabulary import AlarmEventType, AlarmKind, Parameter, Priority, QualityFlag

    rng = random.Random(seed)
    now = record.store.now()
    start = now - timedelta(hours=hours)
    injected = start + timedelta(minutes=30)
    cns, doctor, nurse = people["cns"], people["doctor"], people["nurse"]
    oximeter, cuff = OXIMETER.format(bed=bed), CUFF.format(bed=bed)
    service = record.users.service_actor()
    patient = record.patients.register(cns, {
        "nhs_number": nhs, "hospital_number": f"BENCH{seed:03d}", "family_name": "Bench",
        "given_name": f"Patient {seed}", "date_of_birth": "1970-01-01",
    })
    trial = record.trials.plan(cns, patient.id, 50, bed=bed).id
    record.trials.assign_device(nurse, trial, oximeter, "Bench oximeter")
    record.trials.record_injection(doctor, trial, {
        "dose_mcg": 50, "given_at": injected, "route": "lumbar_puncture", "given_by": "Dr Bench",
    })
    if hours > 4:
        record.trials.extend_window(cns, trial, math.ceil((hours - 4) * 60), "peak effect late")

    dip = injected + timedelta(hours=min(3.0, hours * 0.6))  # a 15 s desaturation
    probe_off = injected + timedelta(hours=min(1.0, hours * 0.3))  # 60 s flagged, no value
    link_lost = injected + timedelta(hours=min(2.0, hours * 0.45))  # 30 s of nothing
    readings: list[Any] = []
    for second in range(int(hours * 3600)):
        at = start + timedelta(seconds=second)
        if link_lost <= at < link_lost + timedelta(seconds=30):
            continue
        if probe_off <= at < probe_off + timedelta(seconds=60):
            flags = frozenset({QualityFlag.NO_FINGER})
            readings.append(ReadingIn(trial, Parameter.SPO2, None, at, at, oximeter, flags))
            readings.append(ReadingIn(trial, Parameter.PULSE_RATE, None, at, at, oximeter, flags))
            continue
        spo2 = 84.0 if dip <= at < dip + timedelta(seconds=15) else float(rng.choice(
            (95, 96, 96, 97, 97, 98)))
        pulse = float(70 + rng.randint(-4, 4))
        readings.append(ReadingIn(trial, Parameter.SPO2, spo2, at, at, oximeter))
        readings.append(ReadingIn(trial, Parameter.PULSE_RATE, pulse, at, at, oximeter))
        if second % 900 == 60:  # NIBP every 15 min
            readings.append(ReadingIn(trial, Parameter.SYSTOLIC, float(125 - second // 1800),
                                      at, at, cuff))
            readings.append(ReadingIn(trial, Parameter.DIASTOLIC, 78.0, at, at, cuff))
        if len(readings) >= BATCH:
            record.readings.add(service, readings)
            readings = []
    record.readings.add(service, readings)

    dues = [-20, 15, 30, 45, 60, 90, 120, 150, 180, 210, 240]
    dues += list(range(300, int(hours * 60), 60))
    for minutes in dues:
        at = injected + timedelta(minutes=minutes - 1)
        if at >= now:
            break
        drowsy = dip <= at < dip + timedelta(minutes=40)
        record.observations.record(nurse, trial, {
            "measured_at": at, "rr": 12 if drowsy else 15, "spo2": 95, "on_oxygen": False,
            "systolic": 122, "diastolic": 76, "pulse_rate": 71, "consciousness": "A",
            "temp": 36.8, "poss": "2" if drowsy else "1",
            "side_effects": ["drowsiness"] if drowsy else [],
        })

    def event(kind: AlarmEventType, rule: str, at: datetime, priority: Priority,
              message: str) -> AlarmEventIn:
        return AlarmEventIn(trial, rule, kind, at, priority, AlarmKind.PHYSIOLOGICAL, message,
                            {"value": 84}, "bench")

    raised = dip + timedelta(seconds=5)
    record.alarms.record_events(service, [event(
        AlarmEventType.RAISED, "spo2_low", raised, Priority.HIGH,
        "Critical desaturation: SpO2 84 %")])
    alarm_id = record.alarms.active(trial)[0].id
    record.alarms.acknowledge(nurse, alarm_id, "repositioned the probe, patient roused")
    record.alarms.record_events(service, [event(
        AlarmEventType.RESOLVED, "spo2_low", dip + timedelta(seconds=20), Priority.HIGH,
        "SpO2 back to 96 %")])
    record.alarms.record_events(service, [event(
        AlarmEventType.RAISED, "spo2_low", now - timedelta(seconds=40), Priority.MEDIUM,
        "Desaturation: SpO2 93 %")])
    record.services.set_device_state(oximeter, trial, "connected", "", start, now)
    return trial


def _nhs_numbers() -> Iterator[str]:
    from observations.nhs_number import nhs_test_numbers

    return (number for number, _ in nhs_test_numbers())


@contextmanager
def _counted_statements(engine: Any) -> Iterator[list[str]]:
    from sqlalchemy import event

    seen: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany) -> None:  # type: ignore[no-untyped-def]
        if statement.lstrip().upper().startswith("SELECT"):
            seen.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", count)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks ui", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hours", type=float, default=6.0, help="length of each trial so far")
    parser.add_argument("--beds", type=int, default=16, help="trials on the ward page")
    parser.add_argument("--repeat", type=int, default=20, help="timed runs of the chart")
    parser.add_argument("--page-repeat", type=int, default=30, help="timed runs of each page")
    args = parser.parse_args(argv)

    folder = tempfile.TemporaryDirectory(prefix="itbmon-bench-ui-")
    # Before anything opens the record: the pages' get_record() reads these.
    os.environ["ITBMON_DATA_DIR"] = folder.name
    os.environ.pop("ITBMON_DATABASE_URL", None)
    sys.path.insert(0, str(ROOT))
    import plotly
    import plotly.io
    import streamlit
    from streamlit.logger import set_log_level
    from streamlit.testing.v1 import AppTest

    set_log_level("error")  # cached helpers used outside a page warn of a missing context

    from observations.record import TrialRecord
    from observations.settings import load_settings
    from observations.users import actor_of
    from pages.charts import trial_timeline_figure
    from pages.display import load_display_settings
    from pages.shared import ACTOR_KEY, get_record
    from vocabulary import Role

    get_record.clear()
    record = TrialRecord.open(load_settings())
    admin = actor_of(record.users.create(None, "admin", "Admin", {Role.ADMIN}, "bench pass 1"))
    people = {
        role: actor_of(record.users.create(admin, role, role.title(), {r}, "bench pass 1"))
        for role, r in (("cns", Role.NURSE_SPECIALIST), ("doctor", Role.DOCTOR),
                        ("nurse", Role.NURSE))
    }
    numbers = _nhs_numbers()
    seeding = time.perf_counter()
    trial_id = _seed_trial(record, people, "1A", next(numbers), args.hours, seed=1)
    seed_s = time.perf_counter() - seeding
    record.services.beat("bench-monitor", "embedded", platform.node(), os.getpid())
    settings = load_display_settings()
    trial = record.trials.get(trial_id)

    def chart_once() -> str:
        figure = trial_timeline_figure(record, trial, settings, None, record.store.now())
        return plotly.io.to_json(figure, validate=False)

    build: list[float] = []
    serialise: list[float] = []
    payload = chart_once()
    for _ in range(args.repeat):
        began = time.perf_counter()
        figure = trial_timeline_figure(record, trial, settings, None, record.store.now())
        built = time.perf_counter()
        payload = plotly.io.to_json(figure, validate=False)
        build.append(built - began)
        serialise.append(time.perf_counter() - built)
    chart = [b + s for b, s in zip(build, serialise, strict=True)]
    points = sum(len(t.x) for t in figure.data if t.x is not None)

    def page_run(name: str) -> Callable[[], Any]:
        def run() -> Any:
            at = AppTest.from_file(str(ROOT / "pages" / name), default_timeout=120)
            at.session_state[ACTOR_KEY] = people["nurse"]
            at.run()
            if at.exception:
                raise RuntimeError(f"{name}: {at.exception[0].message}")
            return at
        return run

    def empty_run() -> None:  # AppTest's own fixed cost: a page that writes one line
        AppTest.from_string("import streamlit as st\nst.write('ready')\n").run()

    apptest_overhead = _timed(empty_run, args.page_repeat)
    monitor_page = _timed(page_run("trial_monitor.py"), args.page_repeat)
    with _counted_statements(get_record().store.engine) as monitor_statements:
        page_run("trial_monitor.py")()

    for bed in range(2, args.beds + 1):
        _seed_trial(record, people, f"{bed}A", next(numbers), args.hours, seed=bed)
    record.services.beat("bench-monitor", "embedded", platform.node(), os.getpid())
    ward_page = _timed(page_run("ward.py"), args.page_repeat)
    shared = get_record()  # the pages' record (one per server process)
    with _counted_statements(shared.store.engine) as statements:
        page_run("ward.py")()

    rows = record.readings.count(trial_id)
    figures = {
        "benchmark": "ui",
        "command": " ".join(["python -m benchmarks ui", *argv]),
        "python": platform.python_version(),
        "machine": platform.machine(),
        "platform": platform.platform(terse=True),
        "cpu_count": os.cpu_count(),
        "sqlite": sqlite3.sqlite_version,
        "streamlit": streamlit.__version__,
        "plotly": plotly.__version__,
        "record": {
            "database": "SQLite (embedded, WAL)",
            "trial_hours": args.hours,
            "readings_per_trial": rows,
            "observation_sets_per_trial": len(record.observations.list(trial_id)),
            "alarm_events_per_trial": len(record.alarms.events(trial_id)),
            "seed_seconds_first_trial": round(seed_s, 1),
        },
        "chart": {
            "what": "trial_timeline_figure (query, min/max downsampling, figure) + to_json",
            "points_per_trace_setting": settings.chart_points_per_trace,
            "points_sent": points,
            "payload_bytes": len(payload.encode("utf-8")),
            "payload_target_bytes": TARGET_BYTES,
            "build": _percentiles(build),
            "serialise": _percentiles(serialise),
            "total": _percentiles(chart),
            "target_ms": TARGET_MS,
            "meets_targets": (_percentiles(chart)["p95_ms"] <= TARGET_MS
                              and len(payload.encode("utf-8")) <= TARGET_BYTES),
        },
        "apptest_overhead": {
            "what": "AppTest running a one-line page: included in both page figures below",
            **_percentiles(apptest_overhead),
        },
        "trial_monitor_page": {
            "what": "whole pages/trial_monitor.py run under AppTest (its overhead included)",
            "select_statements_per_run": len(monitor_statements),
            **_percentiles(monitor_page),
        },
        "ward_page": {
            "what": f"whole pages/ward.py run under AppTest, {args.beds} beds",
            "beds": args.beds,
            "select_statements_per_run": len(statements),
            **_percentiles(ward_page),
        },
    }
    record.close()
    get_record().close()
    get_record.clear()
    folder.cleanup()
    json.dump(figures, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
