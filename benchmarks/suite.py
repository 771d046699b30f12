"""What the test suite costs: `python -m benchmarks suite [--arrangement] [pytest args]`.

Runs the suite's three selections (`tasks.py`: the parallel run, the browser tests, the tests
that must run alone) one after another and reports each one's wall time and the CPU time of
pytest and every process it waited for (workers, commands, Streamlit servers, Chromium, the
readings writer), from the operating system's accounting of finished children. PostgreSQL's
server is not a child: its work for the store tests is not counted, so the CPU figures are a
floor. With ``--arrangement`` it also runs the selections as ``tasks.py test`` does (the
browser tests beside the parallel run, then the ``alone`` tests) and reports that wall time.

The figure that matters is ``cpu_floor_s``: the suite's CPU time divided by the machine's
cores, under which no arrangement of the same tests can finish. Run it with the environment
CI gives (``ITBMON_TEST_POSTGRES_URL`` set, chromium installed) on an otherwise idle machine.
Prints one JSON object and keeps it in docs/benchmarks/suite.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import tasks  # the owner of the selections, beside benchmarks/ in the project's root

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "benchmarks" / "suite.json"


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _pytest(selection: list[str], extra: list[str]) -> list[str]:
    return [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *selection, *extra]


def measure(name: str, selection: list[str], extra: list[str]) -> dict[str, Any]:
    """One selection by itself: its wall and CPU time, and pytest's last line."""
    cpu_before, started = _children_cpu_s(), time.perf_counter()
    done = subprocess.run(  # noqa: S603 - our interpreter, our own tests
        _pytest(selection, extra), cwd=ROOT, capture_output=True, text=True, check=False
    )
    wall = time.perf_counter() - started
    cpu = _children_cpu_s() - cpu_before
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    return {
        "run": name,
        "exit_status": done.returncode,
        "summary": lines[-1].strip("= ") if lines else "",
        "wall_s": round(wall, 1),
        "cpu_s": round(cpu, 1),
        "cores_busy": round(cpu / wall, 2) if wall else None,
    }


def arrangement(extra: list[str]) -> dict[str, Any]:
    """The selections as `tasks.py test` runs them: browser tests beside the parallel run."""
    started = time.perf_counter()
    browser = subprocess.Popen(  # noqa: S603
        _pytest(tasks.BROWSER, extra), cwd=ROOT, stdout=subprocess.DEVNULL
    )
    parallel = subprocess.run(  # noqa: S603
        _pytest(tasks.PARALLEL, extra), cwd=ROOT, stdout=subprocess.DEVNULL, check=False
    )
    browsers = browser.wait()
    alone = subprocess.run(  # noqa: S603
        _pytest(tasks.ALONE, extra), cwd=ROOT, stdout=subprocess.DEVNULL, check=False
    )
    return {
        "exit_statuses": [parallel.returncode, browsers, alone.returncode],
        "wall_s": round(time.perf_counter() - started, 1),
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks suite")
    parser.add_argument(
        "--arrangement", action="store_true", help="also time tasks.py test's arrangement"
    )
    parser.add_argument("--out", type=Path, default=OUT)
    options, extra = parser.parse_known_args(argv)
    cores = os.cpu_count() or 1
    runs = [
        measure(name, selection, extra)
        for name, selection in (
            ("parallel", tasks.PARALLEL),
            ("browser", tasks.BROWSER),
            ("alone", tasks.ALONE),
        )
    ]
    cpu = sum(run["cpu_s"] for run in runs)
    figures: dict[str, Any] = {
        "benchmark": "suite",
        "machine": {"cores": cores, "python": platform.python_version()},
        "postgresql": bool(os.environ.get("ITBMON_TEST_POSTGRES_URL")),
        "runs": runs,
        "cpu_s": round(cpu, 1),
        "one_after_another_wall_s": round(sum(run["wall_s"] for run in runs), 1),
        "cpu_floor_s": round(cpu / cores, 1),
    }
    if options.arrangement:
        figures["arrangement"] = arrangement(extra)
        figures["arrangement"]["over_floor"] = round(
            figures["arrangement"]["wall_s"] / figures["cpu_floor_s"], 2
        )
    text = json.dumps(figures, indent=2)
    print(text)
    options.out.write_text(text + "\n", encoding="utf-8")
    return 0
