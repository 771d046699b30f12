"""The nurse's screens in a real browser: Debian's chromium, headless, through Playwright.

Starts ``streamlit run dashboard.py`` on a free port with a temporary data directory, signs in,
watches the ward overview refresh while this test writes readings into the same SQLite file
(as the monitor would), sees a desaturation alarm appear, acknowledges it, and saves a
screenshot of each screen (ITBMON_ARTEFACT_DIR, default a temporary directory).
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from observations.record import TrialRecord
from observations.settings import load_settings
from tests.browser.harness import (
    WAIT_MS,
    Runs,
    artefacts,
    keep_console,
    launch,
    picture_on_failure,
    readme_picture,
    serving,
    sign_in,
    whole_page,
)
from tests.browser.seed import add_vitals, beat, make_people, monitoring_trial, raise_alarm
from vocabulary import Parameter

__all__ = ["artefacts"]  # a fixture, used by name

pytestmark = pytest.mark.browser


# Where the first drawn chart is on screen (viewport pixels), or null while none has a size.
CHART_PLACE = """() => {
  const chart = document.querySelector('.js-plotly-plot');
  if (!chart) return null;
  const r = chart.getBoundingClientRect();
  return r.width > 0 && r.height > 0 ? {x: r.x, y: r.y, width: r.width, height: r.height} : null;
}"""


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
    with serving(seeded["data"], tmp_path / "streamlit.log") as url:
        yield url


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


def test_ward_refreshes_live_and_alarm_is_acknowledged(
    seeded: dict, server: str, artefacts: Path
) -> None:
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=WAIT_MS)  # expect() waits 5 s by default; a busy CI box is slower

    record: TrialRecord = seeded["record"]
    trial = seeded["trial"]
    oximeter = Oximeter(record, trial.id)
    oximeter.start()
    try:
        with sync_playwright() as playwright:
            browser = launch(playwright)
            page = keep_console(browser.new_page(viewport={"width": 1600, "height": 2600}))
            page.set_default_timeout(WAIT_MS)
            runs = Runs(page)
            with picture_on_failure(page, artefacts / "FAILED-ward-live.png"):
                page.goto(server)
                page.get_by_label("Username").wait_for()
                with runs.finishing():  # signed in and on the first page
                    sign_in(page, "nurse")
                page.get_by_role("link", name="Ward overview").click()
                expect(page.get_by_role("heading", name="Ward overview")).to_be_visible()
                age = page.locator(".wb .wb-k-spo2 .wb-age")
                expect(age).to_have_text(re.compile(r"^\d+ s ago$"))
                first = page.locator(".wb .wb-k-spo2").inner_text()
                # The numbers refresh by themselves: the value or its age changes within seconds.
                page.wait_for_function(
                    "(first) => document.querySelector('.wb .wb-k-spo2').innerText !== first",
                    arg=first,
                )
                tile = page.locator(".wb")
                expect(tile).to_contain_text("JONES, Sam")
                expect(tile).to_contain_text("NHS 943 476 5919")
                page.screenshot(path=str(artefacts / "1-ward-overview.png"), full_page=True)

                raise_alarm(record, trial.id, record.store.now() - timedelta(seconds=5))
                banner = page.locator(".wb .wb-banner")
                expect(banner).to_contain_text("Critical desaturation")
                expect(banner).to_have_attribute("data-acknowledged", "false")
                page.screenshot(path=str(artefacts / "2-ward-alarm.png"), full_page=True)

                # Acknowledged from the alarm bar of the page (one form per bed).
                page.get_by_role("button", name=re.compile(r"Alarms of 1 bed")).click()
                page.locator("[data-testid=stPopoverBody] details summary").first.click()
                page.get_by_label("What was done, and who was told (required)").fill(
                    "Sat patient up, O2 2 L/min, told Dr Who"
                )
                page.get_by_role("button", name=re.compile(r"Acknowledge this bed's alarm")).click()
                expect(banner).to_have_attribute("data-acknowledged", "true")
                expect(banner).to_contain_text("ACK HIGH")
                assert record.alarms.active()[0].acknowledged
                page.keyboard.press("Escape")  # close the bar's list
                page.screenshot(path=str(artefacts / "3-ward-acknowledged.png"), full_page=True)

                page.get_by_role("link", name="Trial monitor", exact=True).click()
                expect(page.get_by_role("heading", name="Trial monitor")).to_be_visible()
                chart = page.locator(".js-plotly-plot").first
                expect(chart).to_be_visible()
                page.screenshot(path=str(artefacts / "4-trial-monitor.png"), full_page=True)
                # The page's region, not the element: the chart is redrawn on every refresh, and
                # an element replaced while pictured (or between finding it and measuring it) is
                # an error, not a picture. Its place is read in one step of the page's script,
                # once a drawn chart has a size.
                place = page.wait_for_function(CHART_PLACE).json_value()
                page.screenshot(path=str(artefacts / "4b-timeline.png"), clip=place)

                with runs.finishing():  # every widget drawn before the picture
                    page.get_by_role("link", name="Observations").click()
                expect(page.get_by_role("button", name="Save observations")).to_be_visible()
                expect(page.get_by_text("Consciousness (ACVPU)", exact=True)).to_be_visible()
                page.screenshot(path=str(artefacts / "5-observations.png"), full_page=True)

                # Trial set-up is for nurse specialists and doctors.
                page.get_by_role("button", name="Sign out").click()
                expect(page.get_by_label("Username")).to_be_visible()
                with runs.finishing():  # signed in and on the first page
                    sign_in(page, "cns")
                page.get_by_role("link", name="Trial set-up").click()
                expect(page.get_by_role("heading", name="Trial set-up")).to_be_visible()
                # The last section: the page has finished drawing (extend or close the window).
                close = page.get_by_role("button", name="Close the monitoring window")
                expect(close).to_be_visible()
                page.screenshot(path=str(artefacts / "6-trial-setup.png"), full_page=True)
            browser.close()
    finally:
        oximeter.stop.set()
        oximeter.join(timeout=10)


# ---------------------------------------------------------------- a simulated trial day


def _set(
    minutes_after: float,
    rr: int,
    spo2: int,
    systolic: int,
    diastolic: int,
    pulse: int,
    poss: str = "1",
    side_effects: tuple[str, ...] = (),
) -> dict[str, Any]:
    return {
        "rr": rr,
        "spo2": spo2,
        "on_oxygen": False,
        "systolic": systolic,
        "diastolic": diastolic,
        "pulse_rate": pulse,
        "consciousness": "A",
        "temp": 36.7,
        "poss": poss,
        "power_left_leg": 4,
        "power_right_leg": 4,
        "side_effects": list(side_effects),
        "minutes_after": minutes_after,
    }


# What the nurse recorded for the overdose patient: drowsier, slower breathing, lower BP.
OVERDOSE_SETS = [
    _set(14, 15, 97, 126, 78, 74),
    _set(29, 15, 97, 124, 77, 72),
    _set(44, 14, 96, 125, 77, 70),
    _set(59, 14, 96, 121, 75, 70),
    _set(89, 13, 95, 114, 70, 66, "2", ("drowsiness",)),
    _set(119, 11, 92, 106, 64, 60, "2", ("drowsiness", "lower_limb_weakness")),
]
STEADY_SETS = [_set(m, 15, 97, 124, 77, 72) for m in (14, 29, 44)]


def record_sets(record: TrialRecord, nurse: Any, trial: Any, sets: list[dict[str, Any]]) -> None:
    assert trial.injection is not None
    for entry in sets:
        values = {k: v for k, v in entry.items() if k != "minutes_after"}
        measured = trial.injection.given_at + timedelta(minutes=entry["minutes_after"])
        record.observations.record(nurse, trial.id, {"measured_at": measured, **values})


@pytest.fixture
def trial_day(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict]:
    """Three demo trials (NHS test numbers) streamed by the server's own embedded monitor.

    The simulators replay each day up to now at 1800x when the server starts: the overdose
    patient, 130 min after the injection, is by then in the drift to a severe desaturation.
    A third bed's oximeter is assigned to a serial port that is not there: its last values
    are old, and the page must say so.
    """
    from observations.demo import create_demo_trial

    data = tmp_path / "data"
    monkeypatch.setenv("ITBMON_DATA_DIR", str(data))
    monkeypatch.delenv("ITBMON_DATABASE_URL", raising=False)
    record = TrialRecord.open(load_settings())
    people = make_people(record)
    steady = create_demo_trial(
        record, scenario="steady", injected_minutes_ago=50, bed="4A", speed=1800
    )
    record_sets(record, people.nurse, steady, STEADY_SETS)
    silent = create_demo_trial(
        record, scenario="steady", injected_minutes_ago=35, bed="4C", speed=1800
    )
    assignment = record.trials.active_assignments(silent.id)[0]
    record.trials.end_assignment(people.nurse, assignment.id)
    record.trials.assign_device(
        people.nurse, silent.id, "serial:/dev/ttyITB-unplugged", "Oximeter on USB serial"
    )
    before = record.store.now() - timedelta(minutes=3)
    add_vitals(record, silent.id, before, 96, 68, device="serial:/dev/ttyITB-unplugged")
    record_sets(record, people.nurse, silent, STEADY_SETS[:2])
    overdose = create_demo_trial(
        record, scenario="overdose", injected_minutes_ago=130, bed="4B", speed=1800
    )
    record_sets(record, people.nurse, overdose, OVERDOSE_SETS)
    yield {"record": record, "data": data, "overdose": overdose, "steady": steady, "people": people}
    record.close()


def wait_for_alarms(record: TrialRecord, trial_id: int, words: tuple[str, ...]) -> list[Any]:
    """The trial's active alarms once one of each ``words`` is among them and the replay has
    caught up with the present (so no replayed event lands after what the test does next)."""
    active: list[Any] = []
    for _ in range(WAIT_MS // 250):
        active = record.alarms.active(trial_id)
        latest = record.readings.latest(trial_id, [Parameter.SPO2]).get(Parameter.SPO2)
        live = latest is not None and record.store.now() - latest.at < timedelta(seconds=5)
        if live and all(any(w in a.message.lower() for a in active) for w in words):
            return active
        time.sleep(0.25)
    raise AssertionError(f"no alarm with {words} on trial {trial_id}: {active}")


def test_simulated_trial_day_screens(trial_day: dict, tmp_path: Path, artefacts: Path) -> None:
    """The README's screenshots: the ward with an alarm among calm beds, and the live monitor
    of the patient in alarm (device lines, nurse's diamonds, NEWS2, the alarm on the axis)."""
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=WAIT_MS)  # expect() waits 5 s by default; a busy CI box is slower

    record: TrialRecord = trial_day["record"]
    overdose = trial_day["overdose"]
    with (
        serving(trial_day["data"], tmp_path / "streamlit.log") as url,
        sync_playwright() as playwright,
    ):
        browser = launch(playwright)
        page = keep_console(browser.new_page(viewport={"width": 1280, "height": 900}))
        page.set_default_timeout(WAIT_MS)
        runs = Runs(page)
        with picture_on_failure(page, artefacts / "FAILED-trial-day.png"):
            page.goto(url)  # the first page run starts the server's embedded monitor
            sign_in(page, "nurse")
            # The monitor replays the overdose day: the rules raise a severe desaturation (high),
            # slow breathing and the side effects the nurse recorded. She has seen to the last two.
            active = wait_for_alarms(
                record, overdose.id, ("desaturation", "slow breathing", "side effect")
            )
            for alarm in active:
                if any(w in alarm.message.lower() for w in ("slow breathing", "side effect")):
                    record.alarms.acknowledge(
                        trial_day["people"].nurse,
                        alarm.id,
                        "Sat up, encouraged deep breaths; told Dr Who",
                    )
            page.get_by_role("link", name="Ward overview").click()
            expect(page.get_by_role("heading", name="Ward overview")).to_be_visible()
            # The bed in alarm comes first, its desaturation the banner; bed 4C's oximeter is
            # silent: STALE, never its old number as current.
            first = page.locator(".wb").first
            expect(first).to_have_attribute("data-bed", "4B")
            expect(first.locator(".wb-banner")).to_contain_text(
                re.compile(r"desaturation", re.IGNORECASE)
            )
            expect(page.locator('.wb[data-bed="4C"] .wb-k-spo2 .wb-val')).to_have_text("STALE")
            runs.refreshed(1, fragments=2)  # every tile painted (the bar's and the tiles' refresh)
            # The window, not the whole page: the grid keeps room for a full ward below.
            page.screenshot(path=str(artefacts / "7-ward-trial-day.png"))
            readme_picture(artefacts / "7-ward-trial-day.png", "ward.png", artefacts)

            page.get_by_role("link", name=re.compile(r"^Monitor of bed")).first.click()
            expect(page.get_by_role("heading", name="Trial monitor")).to_be_visible()
            expect(page.locator('.st-key-monitor-tile .wb[data-bed="4B"]')).to_be_visible()
            expect(page.locator(".js-plotly-plot").first).to_be_visible()
            # One chart refresh after the replay caught up: the bar, the numbers and the chart.
            runs.refreshed(1, fragments=3)
            whole_page(page, artefacts / "8-trial-monitor-trial-day.png")
            readme_picture(
                artefacts / "8-trial-monitor-trial-day.png", "trial-monitor.png", artefacts
            )
        browser.close()
