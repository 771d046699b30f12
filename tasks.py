"""Set-up and everyday commands, needing nothing but python3.

    python3 tasks.py run    # create .venv, install pinned requirements, serve the dashboard
    python3 tasks.py test   # create .venv, install pinned dev requirements, lint, check the
                            # ruff format layout and run tests

Each creates its own virtual environment in .venv and installs only when the pinned
requirements changed since the last install.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import tempfile
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / ("python.exe" if os.name == "nt" else "python")
NO_TESTS_COLLECTED = 5  # pytest's exit status when a run selects no test

# The suite's three selections (pytest arguments), run as `test` describes; the suite's
# benchmark (benchmarks/suite.py) measures each.
PARALLEL = ["-n", "auto", "--dist", "worksteal", "-m", "not browser and not alone"]
BROWSER = ["-m", "browser and not alone"]
ALONE = ["-m", "alone"]


def _requirements_digest(requirements: str) -> str:
    # requirements-dev.txt includes requirements.txt, so both count.
    digest = hashlib.sha256()
    for name in sorted({requirements, "requirements.txt"}):
        digest.update((ROOT / name).read_bytes())
    return digest.hexdigest()[:16]


def ensure_venv(requirements: str) -> None:
    if not PYTHON.exists():
        print(f"Creating the virtual environment in {VENV} ...", flush=True)
        venv.EnvBuilder(with_pip=True, clear=False).create(VENV)
    stamp = VENV / f".installed-{requirements}-{_requirements_digest(requirements)}"
    if stamp.exists():
        return
    print(f"Installing pinned packages from {requirements} ...", flush=True)
    subprocess.run(  # noqa: S603 - our own interpreter and our own requirements file
        [
            str(PYTHON),
            "-m",
            "pip",
            "install",
            "--disable-pip-version-check",
            "-q",
            "-r",
            str(ROOT / requirements),
        ],
        check=True,
    )
    for old in VENV.glob(f".installed-{requirements}-*"):
        old.unlink()
    stamp.touch()


def run(args: list[str]) -> int:
    ensure_venv("requirements.txt")
    command = [str(PYTHON), "-m", "streamlit", "run", str(ROOT / "dashboard.py"), *args]
    return subprocess.call(command, cwd=ROOT)  # noqa: S603


def test(args: list[str]) -> int:
    ensure_venv("requirements-dev.txt")
    lint = subprocess.call([str(PYTHON), "-m", "ruff", "check", "."], cwd=ROOT)  # noqa: S603
    # The layout is ruff's, checked here so a diff never mixes formatting with meaning.
    layout = subprocess.call(  # noqa: S603
        [str(PYTHON), "-m", "ruff", "format", "--check", "."], cwd=ROOT
    )
    pytest = [str(PYTHON), "-m", "pytest"]
    # Three runs. The browser tests (a real Chromium and server, waiting at a person's pace,
    # one at a time) run beside everything else that can share the machine (pytest-xdist, one
    # worker per core); their report follows the other's. Then, by themselves, the tests
    # marked `alone` (one stops and restarts the PostgreSQL server every other store test uses).
    with tempfile.TemporaryFile("w+") as browser_report:
        browser = subprocess.Popen(  # noqa: S603
            [*pytest, *BROWSER, *args],
            cwd=ROOT,
            stdout=browser_report,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            shared = subprocess.call([*pytest, *PARALLEL, *args], cwd=ROOT)  # noqa: S603
            browsers = browser.wait()
        finally:
            if browser.poll() is None:  # interrupted: never leave it running unseen
                # As Ctrl-C would: pytest then stops its servers and browsers.
                if os.name == "nt":
                    browser.terminate()
                else:
                    browser.send_signal(signal.SIGINT)
                browser.wait()
        browser_report.seek(0)
        print(f"\n{'=' * 30} browser tests {'=' * 30}\n{browser_report.read()}", flush=True)
    alone = subprocess.call([*pytest, *ALONE, *args], cwd=ROOT)  # noqa: S603
    tests = _tests_status(shared, browsers, alone)
    return tests or lint or layout


def _tests_status(*runs: int) -> int:
    # pytest's 5 is "no test selected": fine for one run (arguments naming only browser tests,
    # say), a failure when no run selected anything.
    if all(code == NO_TESTS_COLLECTED for code in runs):
        return NO_TESTS_COLLECTED
    return next((code for code in runs if code not in (0, NO_TESTS_COLLECTED)), 0)


COMMANDS = {"run": run, "test": test}


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in COMMANDS:
        print(__doc__, file=sys.stderr)
        return 2
    return COMMANDS[argv[0]](argv[1:])


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
