"""The observation form in a real browser: after Save the boxes the nurse sees are empty (not
only the server's copy of them), the confirmation is beside the Save button, the monitor's
NEWS2 arrives in it, and the RCP chart is drawn below; screenshots at 1366x768 and 1920x1080."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from observations.record import TrialRecord
from observations.settings import load_settings
from tests.browser.harness import (
    WAIT_MS,
    Runs,
    artefacts,
    keep_console,
    launch,
    painted,
    picture_on_failure,
    serving,
    sign_in,
    whole_page,
)
from tests.browser.seed import beat, make_people, monitoring_trial

__all__ = ["artefacts"]  # a fixture, used by name

pytestmark = pytest.mark.browser

EARLIER_SETS = (  # minutes ago, rr, spo2, systolic, diastolic, pulse, consciousness, temp
    (100, 16, 97, 128, 80, 76, "A", 36.8),
    (85, 14, 96, 122, 78, 70, "A", 36.9),
    (70, 12, 95, 112, 70, 62, "A", 36.7),
    (55, 11, 94, 104, 66, 55, "A", 36.4),
    (40, 9, 93, 98, 60, 49, "C", 36.1),
    (25, 8, 91, 89, 55, 44, "V", 35.4),
)


@pytest.fixture
def seeded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict]:
    data = tmp_path / "data"
    monkeypatch.setenv("ITBMON_DATA_DIR", str(data))
    monkeypatch.delenv("ITBMON_DATABASE_URL", raising=False)
    record = TrialRecord.open(load_settings())
    people = make_people(record)
    trial = monitoring_trial(record, people, device=None, minutes_ago=110)
    now = record.store.now()
    for minutes, rr, spo2, sbp, dbp, pulse, acvpu, temp in EARLIER_SETS:
        record.observations.record(
            people.nurse,
            trial.id,
            {
                "measured_at": now - timedelta(minutes=minutes),
                "rr": rr,
                "spo2": spo2,
                "on_oxygen": minutes <= 40,
                "systolic": sbp,
                "diastolic": dbp,
                "pulse_rate": pulse,
                "consciousness": acvpu,
                "temp": temp,
            },
        )
    beat(record)
    yield {"record": record, "trial": trial, "data": data}
    record.close()


def test_saved_form_is_empty_on_screen_and_the_chart_is_drawn(
    seeded: dict, tmp_path: Path, artefacts: Path
):
    from playwright.sync_api import expect, sync_playwright

    record: TrialRecord = seeded["record"]
    with serving(seeded["data"], tmp_path / "streamlit.log") as url, sync_playwright() as pw:
        browser = launch(pw)
        page = keep_console(browser.new_page(viewport={"width": 1366, "height": 768}))
        page.set_default_timeout(WAIT_MS)
        runs = Runs(page)
        with picture_on_failure(page, artefacts / "FAILED-observation-form.png"):
            page.goto(url)  # the first page run starts the embedded monitor, which scores sets
            page.get_by_label("Username").wait_for()
            with runs.finishing():  # signed in and on the first page: a link clicked sooner is lost
                sign_in(page, "nurse")
            page.get_by_role("link", name="Observations").click()
            save = page.get_by_role("button", name="Save observations")
            expect(save).to_be_visible()
            boxes = {
                "Respiration rate /min": "18",
                "SpO2 %": "96",
                "Temperature °C": "36.9",
                "Systolic BP mmHg": "118",
                "Diastolic BP mmHg": "72",
                "Pulse /min": "74",
            }
            for label, value in boxes.items():
                box = page.get_by_label(label, exact=True)
                box.fill(value)
                box.press("Tab")
            page.get_by_label("Note").fill("Comfortable, legs feel heavy")
            page.get_by_label("Note").press("Tab")
            page.get_by_text("Air", exact=True).click()
            page.get_by_label("Consciousness (ACVPU)").click()
            with runs.finishing():  # the page holds every value typed before Save
                page.get_by_role("option", name="A — Alert").click()
            expect(page.get_by_text("NEWS2 0 — low (of what is typed")).to_be_visible()
            save.click()
            done = page.get_by_text("Observations saved, measured")
            expect(done).to_be_visible()
            # The boxes on screen are empty: the browser shows what the page holds.
            for label in boxes:
                expect(page.get_by_label(label, exact=True)).to_have_value("")
            expect(page.get_by_label("Note")).to_have_value("")
            expect(page.get_by_label("Consciousness (ACVPU)")).to_have_value("")
            expect(page.get_by_text("NEWS2 incomplete — missing")).to_be_visible()
            # The monitor scores the set; the confirmation shows its score by itself.
            expect(page.get_by_text("Monitor's NEWS2 0 (low)")).to_be_visible()
            [saved] = [s for s in record.observations.list(seeded["trial"].id) if s.rr == 18]
            assert saved.pulse_rate == 74
            chart = page.locator(".news2-chart")
            expect(chart).to_be_visible()
            expect(
                chart.locator('td[data-row="Respiration rate /min"][data-score="3"]')
            ).to_have_count(1)
            assert "None" not in page.inner_text("[data-testid=stMain]")
            painted(page)
            page.screenshot(path=str(artefacts / "observations-1366x768-saved.png"))
            chart.scroll_into_view_if_needed()
            page.screenshot(path=str(artefacts / "observations-1366x768-chart.png"))
            whole_page(page, artefacts / "observations-1366x768-whole.png")
            # A second Save of the same minute: the offer to correct, beside the button.
            page.get_by_label("Respiration rate /min", exact=True).fill("19")
            with runs.finishing():
                page.get_by_label("Respiration rate /min", exact=True).press("Tab")
            save.click()
            expect(
                page.get_by_text("a set measured within the same minute is already recorded")
            ).to_be_visible()
            page.get_by_role("button", name="Save observations").scroll_into_view_if_needed()
            page.screenshot(path=str(artefacts / "observations-1366x768-same-minute.png"))
            page.set_viewport_size({"width": 1920, "height": 1080})
            painted(page)
            whole_page(page, artefacts / "observations-1920x1080-whole.png")
        browser.close()
