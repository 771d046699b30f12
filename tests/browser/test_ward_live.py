"""The nurse's screens in a real browser: Debian's chromium, headless, through Playwright.

Starts ``streamlit run dashboard.py`` on a free port with a temporary data directory, signs in,
watches the ward overview refresh while this test writes readings into the same SQLite file
(as the monitor would), sees a desaturation alarm appear, acknowledges it, and saves a
screenshot of each screen (ITBMON_ARTEFACT_DIR, default a temporary directory).
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from observations.record import TrialRecord
from observations.settings import load_settings
from tests.browser.seed import add_vitals, beat, make_people, monitoring_trial, raise_alarm

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
WAIT_MS = 60_000  # generous: waiting for something to appear, never a speed limit

pytestmark = pytest.mark.browser


def _require_browser() -> None:
    if CHROMIUM.exists():
        return
    reason = f"{CHROMIUM} is missing (apt-get install chromium)"
    if os.environ.get("ITBMON_REQUIRE_BROWSER") == "1":
        pytest.fail(f"ITBMON_REQUIRE_BROWSER=1 but {reason}")
    pytest.skip(reason)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def seeded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict]:
    data = tmp_path / "data"
    monkeypatch.setenv("ITBMON_DATA_DIR", str(data))
    monkeypatch.delenv("ITBMON_DATABASE_URL", raising=False)
    record = TrialRecord.open(load_settings())
    people = make_people(record)
    trial = monitoring_trial(record, people, device=None, minutes_ago=10)
    beat(record)
    yield {"record": record, "trial": trial, "data": data, "people": people}
    record.close()


@pytest.fixture
def server(seeded: dict, tmp_path: Path) -> Iterator[str]:
    _require_browser()
    port = _free_port()
    env = {**os.environ, "ITBMON_DATA_DIR": str(seeded["data"])}
    log = (tmp_path / "streamlit.log").open("w")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            "dashboard.py",
            "--server.port",
            str(port),
            "--server.address",
            "127.0.0.1",
            "--server.headless",
            "true",
            "--browser.gatherUsageStats",
            "false",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        for _ in range(600):
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if process.poll() is not None:
                    raise RuntimeError((tmp_path / "streamlit.log").read_text()) from None
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


class Oximeter(threading.Thread):
    """Writes one SpO2/pulse pair a second and a monitor heartbeat, like the monitor would."""

    def __init__(self, record: TrialRecord, trial_id: int) -> None:
        super().__init__(daemon=True)
        self.record, self.trial_id = record, trial_id
        self.stop = threading.Event()

    def run(self) -> None:
        tick = 0
        while not self.stop.is_set():
            now = self.record.store.now()
            add_vitals(
                self.record,
                self.trial_id,
                now,
                94 + tick % 5,
                70 + tick % 7,
                device="test-oximeter",
            )
            beat(self.record)
            tick += 1
            self.stop.wait(1.0)


def sign_in(page: Any, username: str) -> None:
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password", exact=True).fill("ward seven tea")
    page.get_by_role("button", name="Sign in").click()


@pytest.fixture
def artefacts(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("ITBMON_ARTEFACT_DIR", tmp_path / "screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def test_ward_refreshes_live_and_alarm_is_acknowledged(
    seeded: dict, server: str, artefacts: Path
) -> None:
    from playwright.sync_api import expect, sync_playwright

    record: TrialRecord = seeded["record"]
    trial = seeded["trial"]
    oximeter = Oximeter(record, trial.id)
    oximeter.start()
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=str(CHROMIUM),
                args=[
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-background-networking",
                ],
            )
            page = browser.new_page(viewport={"width": 1600, "height": 2600})
            page.set_default_timeout(WAIT_MS)
            page.goto(server)
            sign_in(page, "nurse")
            page.get_by_role("link", name="Ward overview").click()
            expect(page.get_by_role("heading", name="Ward overview")).to_be_visible()
            tile = page.get_by_text(re.compile(r"SpO2 %.*ago"))
            expect(tile).to_be_visible()
            first = tile.inner_text()
            # The numbers refresh by themselves: the age or the value changes within seconds.
            page.wait_for_function(
                "(first) => [...document.querySelectorAll('p')].some(p => "
                "p.innerText.startsWith('SpO2 %') && p.innerText !== first)",
                arg=first,
            )
            expect(
                page.get_by_text("JONES, Sam · NHS 943 476 5919 · MRN H77").first
            ).to_be_visible()
            page.screenshot(path=str(artefacts / "1-ward-overview.png"), full_page=True)

            raise_alarm(record, trial.id, record.store.now() - timedelta(seconds=5))
            expect(page.get_by_text("Critical desaturation: SpO2 84 %").first).to_be_visible()
            expect(page.get_by_text("NOT ACKNOWLEDGED").first).to_be_visible()
            page.screenshot(path=str(artefacts / "2-ward-alarm.png"), full_page=True)

            page.get_by_label("What was done, and who was told (required)").fill(
                "Sat patient up, O2 2 L/min, told Dr Who"
            )
            page.get_by_role("button", name="Acknowledge alarm").click()
            expect(page.get_by_text("NOT ACKNOWLEDGED")).to_have_count(0)
            assert record.alarms.active()[0].acknowledged
            page.screenshot(path=str(artefacts / "3-ward-acknowledged.png"), full_page=True)

            page.get_by_role("link", name="Trial monitor").click()
            expect(page.get_by_role("heading", name="Trial monitor")).to_be_visible()
            chart = page.locator(".js-plotly-plot").first
            expect(chart).to_be_visible()
            page.screenshot(path=str(artefacts / "4-trial-monitor.png"), full_page=True)
            chart.screenshot(path=str(artefacts / "4b-timeline.png"))

            page.get_by_role("link", name="Observations").click()
            expect(page.get_by_role("button", name="Save observations")).to_be_visible()
            expect(page.get_by_text("Consciousness (ACVPU)")).to_be_visible()
            page.wait_for_timeout(1500)  # let the last widgets paint before the picture
            page.screenshot(path=str(artefacts / "5-observations.png"), full_page=True)

            # Trial set-up is for nurse specialists and doctors.
            page.get_by_role("button", name="Sign out").click()
            sign_in(page, "cns")
            page.get_by_role("link", name="Trial set-up").click()
            expect(page.get_by_role("heading", name="Trial set-up")).to_be_visible()
            page.screenshot(path=str(artefacts / "6-trial-setup.png"), full_page=True)
            browser.close()
    finally:
        oximeter.stop.set()
        oximeter.join(timeout=10)
