"""Server-side cost of the nurse's screens: `python -m benchmarks ui [--hours H] [--repeat N]`.

Builds a temporary SQLite record holding a trial as the monitor would have written it: H hours
(default 6) of 1 Hz SpO2 and pulse with a probe-off spell, a link loss and a 15-second
desaturation, NIBP every 15 minutes, an observation set at every due time, alarms raised,
acknowledged and resolved. Then it times, over N runs each:

- ``chart``: one refresh of the live monitor's timeline, as the page does it
  (`screens.charts.trial_timeline_figure`: the record query, min/max downsampling, the plotly
  figure) plus its serialisation as Streamlit sends it (`plotly.io.to_json`), whose length is
  the chart payload;
- ``trial_monitor_page``: a whole run of dashboard.py at the trial monitor under Streamlit's
  AppTest (tiles, alarm panel, schedule, chart; AppTest's own overhead included);
- ``ward_page``: a whole run of dashboard.py at the ward with ``--beds`` trials (default 16),
  each with the same H hours of readings, and the number of SQL statements one run sends;
- ``ward_refresh``: what the ward's one-second refresh does on the server for those beds
  (`screens.ward_beds.ward_tiles_model`: every query, the tile model, and each tile's HTML),
  with the 30-minute trends cached as between two chart refreshes, and with the trend query
  (once every chart_refresh_seconds); the SELECT statements of each;
- ``reading_to_screen``: a reading written into the record (as the monitor writes it) until
  the ward page in headless chromium shows it on its bed's tile: ``--browser-samples`` runs
  (default 40) against ``streamlit run dashboard.py`` on this record.

Targets: chart refresh <= 300 ms and payload <= 300 KB; ward refresh p95 <= 300 ms; reading
to screen p95 <= 1.5 s. Prints one JSON object and keeps it in docs/benchmarks/ui.json.
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
OUT = Path("docs/benchmarks/ui.json")
TARGET_MS = 300.0
WARD_REFRESH_TARGET_MS = 300.0
READING_TO_SCREEN_TARGET_MS = 1500.0
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
        "p99_ms": round(rank(0.99) * 1000, 1),
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


def _seed_trial(
    record: Any, people: dict[str, Any], bed: str, nhs: str, hours: float, seed: int
) -> int:
    """One trial of ``hours`` up to now, written through the record API as the monitor does."""
    from observations.alarms import AlarmEventIn
    from observations.entries import ReadingIn
    from observations.limits import default_window_minutes
    from rules.rule_set import default_rule_set
    from rules.simulation import due_after_injection_min
    from vocabulary import AlarmEventType, AlarmKind, Parameter, Priority, QualityFlag

    rng = random.Random(seed)
    now = record.store.now()
    start = now - timedelta(hours=hours)
    injected = start + timedelta(minutes=30)
    cns, doctor, nurse = people["cns"], people["doctor"], people["nurse"]
    oximeter, cuff = OXIMETER.format(bed=bed), CUFF.format(bed=bed)
    service = record.users.service_actor()
    patient = record.patients.register(
        cns,
        {
            "nhs_number": nhs,
            "hospital_number": f"BENCH{seed:03d}",
            "family_name": "Bench",
            "given_name": f"Patient {seed}",
            "date_of_birth": "1970-01-01",
        },
    )
    trial = record.trials.plan(cns, patient.id, 50, bed=bed).id
    record.trials.assign_device(nurse, trial, oximeter, "Bench oximeter")
    record.trials.record_injection(
        doctor,
        trial,
        {
            "dose_mcg": 50,
            "given_at": injected,
            "route": "lumbar_puncture",
            "given_by": "Dr Bench",
        },
    )
    window_min = default_window_minutes()  # the rules' monitoring window, as the record runs it
    if hours * 60 > window_min:
        late = math.ceil(hours * 60 - window_min)
        record.trials.extend_window(cns, trial, late, "peak effect late")

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
        spo2 = (
            84.0
            if dip <= at < dip + timedelta(seconds=15)
            else float(rng.choice((95, 96, 96, 97, 97, 98)))
        )
        pulse = float(70 + rng.randint(-4, 4))
        readings.append(ReadingIn(trial, Parameter.SPO2, spo2, at, at, oximeter))
        readings.append(ReadingIn(trial, Parameter.PULSE_RATE, pulse, at, at, oximeter))
        if second % 900 == 60:  # NIBP every 15 min
            readings.append(
                ReadingIn(trial, Parameter.SYSTOLIC, float(125 - second // 1800), at, at, cuff)
            )
            readings.append(ReadingIn(trial, Parameter.DIASTOLIC, 78.0, at, at, cuff))
        if len(readings) >= BATCH:
            record.readings.add(service, readings)
            readings = []
    record.readings.add(service, readings)

    # A baseline set 20 minutes before the injection, then one at each of the rules' due times.
    dues = [-20.0, *due_after_injection_min(default_rule_set(), hours * 60)]
    for minutes in dues:
        at = injected + timedelta(minutes=minutes - 1)
        if at >= now:
            break
        drowsy = dip <= at < dip + timedelta(minutes=40)
        record.observations.record(
            nurse,
            trial,
            {
                "measured_at": at,
                "rr": 12 if drowsy else 15,
                "spo2": 95,
                "on_oxygen": False,
                "systolic": 122,
                "diastolic": 76,
                "pulse_rate": 71,
                "consciousness": "A",
                "temp": 36.8,
                "poss": "2" if drowsy else "1",
                "side_effects": ["drowsiness"] if drowsy else [],
            },
        )

    def event(
        kind: AlarmEventType, rule: str, at: datetime, priority: Priority, message: str
    ) -> AlarmEventIn:
        return AlarmEventIn(
            trial,
            rule,
            kind,
            at,
            priority,
            AlarmKind.PHYSIOLOGICAL,
            message,
            {"value": 84},
            "bench",
        )

    raised = dip + timedelta(seconds=5)
    record.alarms.record_events(
        service,
        [
            event(
                AlarmEventType.RAISED,
                "spo2_low",
                raised,
                Priority.HIGH,
                "Critical desaturation: SpO2 84 %",
            )
        ],
    )
    alarm_id = record.alarms.active(trial)[0].id
    record.alarms.acknowledge(nurse, alarm_id, "repositioned the probe, patient roused")
    record.alarms.record_events(
        service,
        [
            event(
                AlarmEventType.RESOLVED,
                "spo2_low",
                dip + timedelta(seconds=20),
                Priority.HIGH,
                "SpO2 back to 96 %",
            )
        ],
    )
    record.alarms.record_events(
        service,
        [
            event(
                AlarmEventType.RAISED,
                "spo2_low",
                now - timedelta(seconds=40),
                Priority.MEDIUM,
                "Desaturation: SpO2 93 %",
            )
        ],
    )
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


def _ward_refresh(record: Any, repeat: int) -> dict[str, Any]:
    """The ward's one-second refresh on the server, as `screens/ward.py` runs it in its timed
    fragment: the queries, the tile model and each tile's HTML (Streamlit's own sending of
    the elements is in ``ward_page``)."""
    from screens.bed_tiles import tile_html
    from screens.display import load_display_settings
    from screens.ward_beds import FULL_TREND_EVERY_SECONDS, trend_window, ward_tiles_model
    from screens.ward_beds import ward_trend_store as trends
    from vocabulary import Parameter

    settings = load_display_settings()
    axes = {
        Parameter.SPO2: settings.ward_trend_spo2_axis,
        Parameter.PULSE_RATE: settings.ward_trend_pulse_axis,
    }

    def refresh() -> int:
        now = record.store.now()
        tiles = ward_tiles_model(record, settings, now)
        start, end = trend_window(now, settings)
        return sum(
            len(
                tile_html(
                    t,
                    start,
                    end,
                    settings.ward_trend_bucket_seconds,
                    axes,
                    settings.ward_trend_minutes,
                )
            )
            for t in tiles
        )

    def with_newest_buckets() -> int:  # as every chart_refresh_seconds
        trends().forget(tail_only=True)
        return refresh()

    def with_whole_trend() -> int:  # as every FULL_TREND_EVERY_SECONDS
        trends().forget()
        return refresh()

    runs = {
        "trend_held": refresh,
        "with_newest_buckets": with_newest_buckets,
        "with_whole_trend": with_whole_trend,
    }
    timings = {name: _timed(run, repeat) for name, run in runs.items()}
    statements = {}
    for name, run in runs.items():
        with _counted_statements(record.store.engine) as seen:
            html_bytes = run()
        statements[name] = len(seen)
    # One refresh a second; one in chart_refresh_seconds asks for the newest buckets, one a
    # minute for the whole window: the refreshes of one minute, worst of each kind.
    per_minute = round(60 / settings.numbers_refresh_seconds)
    tails = round(60 / settings.chart_refresh_seconds) - 1
    fulls = max(1, round(60 / FULL_TREND_EVERY_SECONDS))
    minute = (
        sorted(timings["with_whole_trend"])[-fulls:]
        + sorted(timings["with_newest_buckets"])[-tails:]
    )
    held = timings["trend_held"]  # as measured, in turn, as often as the minute needs
    minute += [held[i % len(held)] for i in range(per_minute - len(minute))]
    mixed = _percentiles(minute)
    return {
        "what": "screens.ward_beds.ward_tiles_model + every tile's HTML (the timed fragment's "
        "work on the server, without Streamlit's sending of the elements)",
        "html_bytes": html_bytes,
        **{
            name: {"select_statements": statements[name], **_percentiles(timings[name])}
            for name in runs
        },
        "one_minute_of_refreshes": {
            "what": f"{per_minute} refreshes: the {fulls} slowest with the whole trend, the "
            f"{tails} slowest with its newest buckets, the others with it held "
            "(measured runs taken in turn)",
            **mixed,
        },
        "target_ms": WARD_REFRESH_TARGET_MS,
        "meets_target": mixed["p95_ms"] <= WARD_REFRESH_TARGET_MS,
    }


def _reading_to_screen(
    record: Any, folder: Path, beds: list[tuple[int, str]], samples: int, password: str
) -> dict[str, Any]:
    """From a reading's commit to the record until the ward tile in headless chromium shows
    it: the monitor's writer, the page's one-second refresh, the websocket and the browser."""
    import threading

    from observations.entries import ReadingIn
    from tests.browser.harness import launch, serving
    from vocabulary import Parameter

    service = record.users.service_actor()
    probed: set[int] = set()
    stop = threading.Event()

    def oximeters() -> None:  # every other bed's oximeter, once a second, and the heartbeat
        while not stop.is_set():
            now = record.store.now()
            rows = []
            for trial_id, bed in beds:
                if trial_id in probed:
                    continue
                device = OXIMETER.format(bed=bed)
                rows.append(ReadingIn(trial_id, Parameter.SPO2, 96.0, now, now, device))
                rows.append(ReadingIn(trial_id, Parameter.PULSE_RATE, 70.0, now, now, device))
            record.readings.add(service, rows)
            record.services.beat("bench-monitor", "embedded", platform.node(), os.getpid())
            stop.wait(1.0)

    from playwright.sync_api import sync_playwright

    os.environ["ITBMON_EMBEDDED_MONITOR"] = "0"  # the benchmark writes every reading
    writer = threading.Thread(target=oximeters, daemon=True)
    writer.start()
    latencies: list[float] = []
    rng = random.Random(7)
    try:
        with serving(folder, folder / "streamlit.log") as url, sync_playwright() as playwright:
            browser = launch(playwright)
            page = browser.new_page(viewport={"width": 1920, "height": 1080})
            page.set_default_timeout(60_000)
            page.goto(url)
            page.get_by_label("Username").fill("nurse")
            page.get_by_label("Password", exact=True).fill(password)
            page.get_by_role("button", name="Sign in").click()
            page.get_by_role("link", name="Ward overview").click()
            page.wait_for_function(f"() => document.querySelectorAll('.wb').length === {len(beds)}")
            page.wait_for_timeout(3000)
            for sample in range(samples):
                trial_id, bed = beds[sample % len(beds)]
                value = 81 + sample % 9  # never what the bed shows (96): distinctive
                probed.add(trial_id)
                time.sleep(1.2)  # the bed's last regular reading is on the tile
                page.evaluate(
                    """([bed, value]) => {
                    window.itbmonSeen = null;
                    const shown = () => {
                      const el = document.querySelector(
                        `.wb[data-bed="${bed}"] .wb-k-spo2 .wb-val`);
                      if (el && el.textContent === value) { window.itbmonSeen = Date.now(); }
                      return window.itbmonSeen !== null;
                    };
                    if (!shown()) {
                      const watch = new MutationObserver(() => {
                        if (shown()) { watch.disconnect(); } });
                      watch.observe(document.body,
                                    {subtree: true, childList: true, characterData: true});
                    }
                }""",
                    [bed, str(value)],
                )
                time.sleep(rng.random())  # any phase of the page's one-second refresh
                now = record.store.now()
                device = OXIMETER.format(bed=bed)
                record.readings.add(
                    service, [ReadingIn(trial_id, Parameter.SPO2, float(value), now, now, device)]
                )
                written = time.time()
                page.wait_for_function("() => window.itbmonSeen !== null", timeout=30_000)
                seen = page.evaluate("() => window.itbmonSeen") / 1000
                latencies.append(seen - written)
                probed.discard(trial_id)
            browser.close()
    finally:
        stop.set()
        writer.join(timeout=10)
    figures = _percentiles(latencies)
    return {
        "what": "reading committed to the record -> its value on the bed's tile in headless "
        "chromium (Debian's, 1920x1080), 16 beds streaming at 1 Hz",
        **figures,
        "target_ms": READING_TO_SCREEN_TARGET_MS,
        "meets_target": figures["p95_ms"] <= READING_TO_SCREEN_TARGET_MS,
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks ui",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--hours", type=float, default=6.0, help="length of each trial so far")
    parser.add_argument("--beds", type=int, default=16, help="trials on the ward page")
    parser.add_argument("--repeat", type=int, default=20, help="timed runs of the chart")
    parser.add_argument("--page-repeat", type=int, default=30, help="timed runs of each page")
    parser.add_argument(
        "--browser-samples",
        type=int,
        default=40,
        help="readings timed to the screen in chromium (0: none)",
    )
    parser.add_argument(
        "--out", default=str(OUT), help="where the figures are kept ('' for nowhere)"
    )
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
    from screens.charts import trial_timeline_figure
    from screens.display import load_display_settings
    from screens.shared import ACTOR_KEY, get_record
    from vocabulary import Role

    get_record.clear()
    record = TrialRecord.open(load_settings())
    password = "bench ward seven"  # noqa: S105 - a throwaway benchmark database
    record.users.create(None, "admin", "Admin", {Role.ADMIN}, password)
    admin = record.users.sign_in("admin", password)
    people = {}
    for role, r in (("cns", Role.NURSE_SPECIALIST), ("doctor", Role.DOCTOR), ("nurse", Role.NURSE)):
        record.users.create(admin, role, role.title(), {r}, password)
        people[role] = record.users.sign_in(role, password)
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
            # The app as a browser opens it: dashboard.py at the page's address (a page module
            # alone only defines its render function).
            at = AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=120)
            at.session_state[ACTOR_KEY] = people["nurse"]
            at.switch_page(f"screens/{name}")
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
    ward_refresh = _ward_refresh(shared, args.page_repeat)
    reading_to_screen = None
    if args.browser_samples:
        beds = [(t.id, t.bed) for t in record.trials.list() if t.bed]
        reading_to_screen = _reading_to_screen(
            record, Path(folder.name), beds, args.browser_samples, "bench pass 1"
        )

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
            "meets_targets": (
                _percentiles(chart)["p95_ms"] <= TARGET_MS
                and len(payload.encode("utf-8")) <= TARGET_BYTES
            ),
        },
        "apptest_overhead": {
            "what": "AppTest running a one-line page: included in both page figures below",
            **_percentiles(apptest_overhead),
        },
        "trial_monitor_page": {
            "what": "dashboard.py at the trial monitor, one whole run under AppTest "
            "(its overhead included)",
            "select_statements_per_run": len(monitor_statements),
            **_percentiles(monitor_page),
        },
        "ward_page": {
            "what": f"dashboard.py at the ward, one whole run under AppTest, {args.beds} beds",
            "beds": args.beds,
            "select_statements_per_run": len(statements),
            **_percentiles(ward_page),
        },
        "ward_refresh": {"beds": args.beds, **ward_refresh},
        "reading_to_screen": reading_to_screen,
    }
    record.close()
    get_record().close()
    get_record.clear()
    folder.cleanup()
    text = json.dumps(figures, indent=2) + "\n"
    sys.stdout.write(text)
    if args.out:
        out = ROOT / args.out
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
