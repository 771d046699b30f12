"""Every page, as each role sees it, in a real browser: no "None", "nan" or machine date where a
person reads.

A recorded overdose demo day (decided, with scores, sets, alarms) and a trial in monitoring with
a live alarm give every page something to show; each role opens each page it may, and with a
trial chosen where the page asks for one. The page's visible text is checked for words that
mean the code leaked a missing value ("None", "nan") and for dates not in the ward's one
format (2026-12-04, 2026/12/04).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from monitor.demo_day import record_demo_day
from observations.record import TrialRecord
from observations.settings import load_settings
from tests.browser.harness import WAIT_MS, Runs, artefacts, launch, serving, sign_in
from tests.browser.seed import beat, make_people, monitoring_trial, raise_alarm

__all__ = ["artefacts"]  # a fixture, used by name

pytestmark = pytest.mark.browser

LEAKS = {
    "a missing value shown as None": re.compile(r"\bNone\b"),
    "a missing number shown as nan": re.compile(r"\b(nan|NaN)\b"),
    "a date in ISO order (the ward writes 04 Dec 2026 or 04/12/2026)": re.compile(
        r"\b\d{4}[-/]\d{2}[-/]\d{2}\b"
    ),
}


@pytest.fixture(scope="module")
def ward(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """One ward, one server and one chromium for every role (each role signs in in a browser
    context of its own: nothing of another role's session is seen)."""
    from playwright.sync_api import sync_playwright

    folder = tmp_path_factory.mktemp("words")
    data = folder / "data"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ITBMON_DATA_DIR", str(data))
        patch.delenv("ITBMON_DATABASE_URL", raising=False)
        record = TrialRecord.open(load_settings())
        try:
            people = make_people(record)
            demo = record_demo_day(record, scenario="overdose")
            live = monitoring_trial(record, people, device=None, minutes_ago=20)
            raise_alarm(record, live.id, record.store.now())
            beat(record)
            with serving(data, folder / "streamlit.log") as url, sync_playwright() as p:
                browser = launch(p)
                yield {"url": url, "browser": browser, "demo": demo.trial, "live": live}
                browser.close()
        finally:
            record.close()


def leaks_in(text: str) -> list[str]:
    found = []
    for what, pattern in LEAKS.items():
        for match in pattern.finditer(text):
            around = text[max(0, match.start() - 60) : match.end() + 60].replace("\n", " ")
            found.append(f"{what}: …{around}…")
    return found


def page_text(page: Any) -> str:
    return page.inner_text("[data-testid=stMain]")


def choose_a_trial(page: Any, runs: Runs) -> bool:
    """Pick a trial in the page's chooser, if it has one left empty."""
    empty = page.locator("[data-testid=stSelectbox] input[placeholder^='Choose the patient']")
    if empty.count() == 0:
        return False
    empty.first.click()
    options = page.get_by_role("option")
    options.first.wait_for(timeout=5_000)
    with runs.finishing():
        options.last.click()  # the oldest: the recorded demo day, with everything on it
    return True


@pytest.mark.parametrize("username", ["nurse", "cns", "doctor", "physio", "admin"])
def test_no_page_shows_none_nan_or_a_machine_date(
    ward: dict[str, Any], artefacts: Path, username: str
) -> None:
    problems: list[str] = []
    context = ward["browser"].new_context(viewport={"width": 1920, "height": 1080})
    page = context.new_page()
    runs = Runs(page)
    page.goto(ward["url"])
    page.get_by_label("Username").wait_for(timeout=WAIT_MS)
    with runs.finishing():  # signed in and on the first page: a link clicked sooner is lost
        sign_in(page, username)
    links = page.get_by_test_id("stSidebarNavLink")
    links.first.wait_for(timeout=WAIT_MS)
    # The page's name is the link's last line (an icon may come first).
    names = [links.nth(i).inner_text().strip().splitlines()[-1] for i in range(links.count())]
    assert names, "no page is offered"
    for index, name in enumerate(names):
        # Each page's whole run, live parts included (they draw in it first), then its text.
        with runs.finishing():
            page.get_by_test_id("stSidebarNavLink").nth(index).click()
        texts = [page_text(page)]
        if choose_a_trial(page, runs):
            texts.append(page_text(page))
        slug = re.sub(r"\W+", "-", name).strip("-").lower()
        page.screenshot(path=str(artefacts / f"words-{username}-{slug}.png"))
        for text in texts:
            problems += [f"{username} · {name}: {leak}" for leak in leaks_in(text)]
    context.close()
    assert not problems, "\n".join(dict.fromkeys(problems))
