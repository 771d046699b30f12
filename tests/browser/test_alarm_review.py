"""The alarm review page's "What if the rules changed?" in a real browser: a doctor uploads a
candidate rule file that lengthens the critical desaturation's delay, through the page's own
file input, and sees the alarms it would sound later, with their delay, on the recorded
overdose demo day; no patient is named. Screenshots at 1920x1080 and 1366x768."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from monitor.demo_day import record_demo_day
from observations.record import TrialRecord
from observations.settings import load_settings
from observations.ward_time import to_ward
from tests.browser.harness import (
    WAIT_MS,
    Runs,
    artefacts,
    keep_console,
    launch,
    picture_on_failure,
    serving,
    sign_in,
    whole_page,
)
from tests.browser.seed import beat, make_people
from tests.candidates import CRITICAL_DELAY, candidate_text

__all__ = ["artefacts"]  # a fixture, used by name

pytestmark = pytest.mark.browser


@pytest.fixture
def ward(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    data = tmp_path / "data"
    monkeypatch.setenv("ITBMON_DATA_DIR", str(data))
    monkeypatch.delenv("ITBMON_DATABASE_URL", raising=False)
    record = TrialRecord.open(load_settings())
    make_people(record)
    demo = record_demo_day(record, scenario="overdose")
    beat(record)
    yield {"record": record, "data": data, "demo": demo.trial}
    record.close()


def candidate_file(folder: Path) -> Path:
    path = folder / "candidate.yaml"
    path.write_text(candidate_text(CRITICAL_DELAY), encoding="utf-8")
    return path


def open_alarm_review(page: Any, runs: Runs, url: str, record: TrialRecord) -> None:
    page.goto(url)
    page.get_by_label("Username").wait_for(timeout=WAIT_MS)
    with runs.finishing():  # signed in and on the first page: a link clicked sooner is lost
        sign_in(page, "doctor")
    link = page.get_by_test_id("stSidebarNavLink").filter(has_text="Alarm review")
    link.first.wait_for(timeout=WAIT_MS)
    link.first.click()
    page.get_by_role("heading", name="Alarm review").wait_for(timeout=WAIT_MS)
    # From the demo day (yesterday) to today, whatever the month.
    today = to_ward(record.store.now(), record.settings.ward_timezone).date()
    for end, day in (("start", today - timedelta(days=1)), ("end", today)):
        # The date field's day, month and year are spin buttons that move on as typed.
        page.get_by_role("spinbutton", name=f"day, Ward dates, from / to {end} date").click()
        page.keyboard.type(f"{day:%d%m%Y}")
    page.keyboard.press("Escape")
    page.get_by_role("heading", name="Alarm review").click()  # leaving the field sends it
    page.get_by_text(f"{today - timedelta(days=1):%d %b %Y} 00:00").first.wait_for(timeout=WAIT_MS)


def test_a_doctor_uploads_a_candidate_and_sees_what_it_sounds_later(
    ward: dict[str, Any], tmp_path: Path, artefacts: Path
) -> None:
    from playwright.sync_api import sync_playwright

    trial = ward["demo"]
    patient = trial.patient
    candidate = candidate_file(tmp_path)
    with serving(ward["data"], tmp_path / "streamlit.log") as url, sync_playwright() as p:
        browser = launch(p)
        for width, height in ((1920, 1080), (1366, 768)):
            page = keep_console(browser.new_page(viewport={"width": width, "height": height}))
            runs = Runs(page)
            with picture_on_failure(page, artefacts / f"what-if-FAILED-{width}.png"):
                open_alarm_review(page, runs, url, ward["record"])
                with runs.finishing():  # the charts and tables of the candidate drawn
                    page.locator("[data-testid=stFileUploaderDropzoneInput]").set_input_files(
                        str(candidate)
                    )
                heading = page.get_by_text("Sounded later or not at all")
                heading.wait_for(timeout=WAIT_MS)
                page.locator("[data-testid=stPlotlyChart]").last.wait_for(timeout=WAIT_MS)
                page.get_by_text("Report (PDF, one page)").wait_for(timeout=WAIT_MS)
                text = page.inner_text("[data-testid=stMain]")
                assert "would sound later or not at all under the candidate" in text
                assert "candidate-1" in text
                # The delay itself is in the LATER table's cells (a canvas grid): read by the
                # page tests; here the timeline's title and the day chooser name trial and bed.
                assert f"trial {trial.id} (bed {trial.bed})" in text
                for identifier in (
                    patient.name,
                    patient.nhs_number,
                    patient.nhs_display,
                    patient.hospital_number,
                    patient.family_name,
                ):
                    assert identifier not in text, identifier
                section = page.get_by_role("heading", name="What if the rules changed?")
                section.scroll_into_view_if_needed()
                page.screenshot(path=str(artefacts / f"what-if-{width}.png"))
                heading.scroll_into_view_if_needed()
                page.screenshot(path=str(artefacts / f"what-if-later-{width}.png"))
                page.locator("[data-testid=stPlotlyChart]").last.scroll_into_view_if_needed()
                page.screenshot(path=str(artefacts / f"what-if-timeline-{width}.png"))
                whole_page(page, artefacts / f"what-if-whole-{width}.png")
            page.close()
        browser.close()
