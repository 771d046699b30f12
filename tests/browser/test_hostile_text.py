"""Hostile text in a real browser (Debian's chromium, headless): shown as typed, never live.

First, every construct of Streamlit's Markdown (tests/screens/test_hostile_text.py CONSTRUCTS)
through the one helper into every kind of element that renders Markdown or HTML, each looked at
in the page: no link, image, LaTeX, icon, emoji, heading, list, table or formatting made of it,
and its text on the screen character for character. Then the app: a patient named
``[Evil](http://evil.example) <img src=x onerror=alert(1)> ![i](http://evil.example/i.png)``,
a hostile bed, "given by", device label and alarm evidence, on a trial in monitoring with an
alarm; the ward, the trial monitor, observations, scores and review each opened: no link to
evil, no image from evil, no dialog (an ``onerror`` that ran).
"""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from observations.alarms import AlarmEventIn
from observations.record import TrialRecord
from observations.settings import load_settings
from observations.views import TrialView
from tests.browser.harness import (
    ROOT,
    WAIT_MS,
    Runs,
    artefacts,
    keep_console,
    launch,
    painted,
    picture_on_failure,
    serving,
    sign_in,
    streamlit_server,
    whole_page,
)
from tests.browser.seed import DEVICE, People, add_vitals, beat, make_people
from tests.screens.test_hostile_text import CONSTRUCTS
from vocabulary import AlarmEventType, AlarmKind, InjectionRoute, Priority, TrialStatus

__all__ = ["artefacts"]  # a fixture, used by name

pytestmark = pytest.mark.browser

# ----- every element kind, every construct ----------------------------------------------------
ELEMENTS_APP = """
import json, sys
from pathlib import Path
import streamlit as st
from screens.markdown_text import html_text, md

constructs = json.loads(Path(sys.argv[1]).read_text())
kind = st.query_params.get("kind", "markdown")
for name, text in constructs.items():
    with st.container(key=f"k-{name.replace(' ', '-')}"):
        if kind == "markdown":
            st.markdown(md(text))
        elif kind == "write":
            st.write(md(text))
        elif kind == "caption":
            st.caption(md(text))
        elif kind == "alert":
            st.error(md(text))
        elif kind == "subheader":
            st.subheader(md(text), anchor=False)
        elif kind == "expander":
            with st.expander(md(text)):
                st.text("inside")
        elif kind == "popover":
            with st.popover(md(text)):
                st.text("inside")
        elif kind == "tabs":
            st.tabs([md(text), "other"])
        elif kind == "button":
            st.button(md(text), key=name)
        elif kind == "checkbox":
            st.checkbox(md(text), key=name)
        elif kind == "radio":
            st.radio("choose", [md(text)], key=name)
        elif kind == "metric":
            st.metric(md(text), 1)
        elif kind == "unsafe":
            st.markdown(md(text), unsafe_allow_html=True)
        elif kind == "html":
            st.html(f"<div>{html_text(text)}</div>")
        elif kind == "plotly":
            import plotly.graph_objects as go
            st.plotly_chart(go.Figure({
                "data": [{"type": "scatter", "x": [1], "y": [1], "mode": "markers+text",
                          "text": [html_text(text)]}],
                "layout": {"annotations": [{"x": 1, "y": 2, "text": html_text(text),
                                            "showarrow": False}]}}), key=name)
# Drawn last, and live on purpose: once its LaTeX is typeset, KaTeX (loaded after the first
# draw) has typeset anything of the constructs' that it would.
with st.container(key="k-control"):
    st.markdown("$x^2$")
"""
KINDS = [
    "markdown",
    "write",
    "caption",
    "alert",
    "subheader",
    "expander",
    "popover",
    "tabs",
    "button",
    "checkbox",
    "radio",
    "metric",
    "unsafe",
    "html",
    "plotly",
]

# What a container shows that would be made of the text: links and images anywhere, LaTeX, the
# Material icons and the Streamlit logo the text names, emoji, the arrows and dashes, and any
# block or formatting the helper's text never asks for.
LIVE_JS = r"""
(box) => {
  const q = s => box.querySelectorAll(s).length;
  const found = [];
  if (q('a[href]')) found.push('link');
  const all = s => [...box.querySelectorAll(s)];
  if (all('img').some(i => !(i.getAttribute('src') || '').startsWith('data:'))) found.push('image');
  if (q('.katex, math')) found.push('LaTeX');
  if (q('h1,h2,h4,h5,h6,blockquote,ul,ol,li,table,pre,code,strong,em,del,hr,sup'))
    found.push('block or formatting');
  if (all('[data-testid=stIconMaterial]').some(i => /warning|skull/.test(i.textContent)))
    found.push('icon');
  if (q('img[alt="Streamlit logo"]')) found.push('logo');
  if (q('[style*="color"], [class*="stMarkdownColored"], .stMarkdownShimmer')) found.push('colour');
  const text = box.innerText;
  if (/[\u{1F300}-\u{1FAFF}\u{2600}-\u{27BF}]/u.test(text)) found.push('emoji');
  if (/[→←↔—≥≤≈]/.test(text)) found.push('arrow or dash');
  return {found, text};
}
"""

# Plotly draws text in SVG: its own tags (<a href>, <b>, <i>, <sup>) would be links and styled
# pieces of text.
PLOTLY_JS = r"""
(box) => {
  const found = [];
  if (box.querySelectorAll('svg a').length) found.push('link');
  const pieces = [...box.querySelectorAll('svg text tspan, svg text')];
  if (pieces.some(t => /bold|italic/.test(t.getAttribute('style') || '')
      || t.getAttribute('font-weight') === 'bold')) found.push('formatting');
  const text = [...box.querySelectorAll('svg text')].map(t => t.textContent).join(' ');
  return {found, text};
}
"""


def shown(text: str) -> str:
    """Text as the eye reads it: word joiners gone, every run of white space one space."""
    return " ".join(text.replace("\u2060", "").split())


@contextmanager
def serving_script(script: Path, argument: Path, log_path: Path) -> Iterator[str]:
    """``streamlit run SCRIPT ARGUMENT``, importing the app's modules."""
    with streamlit_server(
        [str(script), "--", str(argument)], {**os.environ, "PYTHONPATH": str(ROOT)}, log_path
    ) as url:
        yield url


def test_every_element_shows_every_construct_as_typed(tmp_path: Path, artefacts: Path) -> None:
    from playwright.sync_api import sync_playwright

    script = tmp_path / "elements.py"
    script.write_text(ELEMENTS_APP)
    constructs = tmp_path / "constructs.json"
    constructs.write_text(json.dumps(CONSTRUCTS))
    problems: list[str] = []
    with (
        serving_script(script, constructs, tmp_path / "streamlit.log") as url,
        sync_playwright() as p,
    ):
        browser = launch(p)
        page = keep_console(browser.new_page(viewport={"width": 1366, "height": 768}))
        dialogs: list[str] = []
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        for kind in KINDS:
            page.goto(f"{url}/?kind={kind}")
            last = page.locator(f".st-key-k-{list(CONSTRUCTS)[-1].replace(' ', '-')}")
            last.wait_for(timeout=WAIT_MS)
            if kind == "plotly":
                page.locator(".js-plotly-plot").last.wait_for(timeout=WAIT_MS)
            page.locator(".st-key-k-control .katex").wait_for(timeout=WAIT_MS)
            painted(page)
            whole_page(page, artefacts / f"hostile-elements-{kind}.png")
            for name, text in CONSTRUCTS.items():
                box = page.locator(f".st-key-k-{name.replace(' ', '-')}")
                result = box.evaluate(PLOTLY_JS if kind == "plotly" else LIVE_JS)
                expected = shown(text)
                if result["found"]:
                    problems.append(f"{kind} / {name}: {result['found']}")
                if expected not in shown(result["text"]):
                    problems.append(
                        f"{kind} / {name}: shows {shown(result['text'])!r}, typed {expected!r}"
                    )
        browser.close()
    assert not dialogs, dialogs
    assert not problems, "\n".join(problems)


# ----- the app, with a hostile patient on a trial in monitoring -------------------------------
NAME = "[Evil](http://evil.example) <img src=x onerror=alert(1)> ![i](http://evil.example/i.png)"
FAMILY = "<img src=x onerror=alert(2)> [Evil](http://evil.example/f)"
BED = "![b](//evil)"  # twelve characters at most
GIVEN_BY = "[Dr Evil](http://evil.example/d) <img src=x onerror=alert(3)> :material/skull:"
DEVICE_LABEL = "![dev](http://evil.example/d.png) <b>dev</b>"
EVIDENCE = "<img src=x onerror=alert(4)> [ev](http://evil.example/e) $e$"
SCORES_NOTE = "<img src=x onerror=alert(5)> [late](http://evil.example/t)"
# Evil in a link's address or an image's source, wherever the browser put it.
EVIL_JS = """
() => ({
  links: [...document.querySelectorAll('a[href]')].map(a => a.href).filter(h => /evil/i.test(h)),
  images: [...document.querySelectorAll('img')].map(i => i.getAttribute('src') || '')
    .filter(s => /evil/i.test(s) || s === 'x'),
  svgLinks: [...document.querySelectorAll('svg a')].map(a => a.getAttribute('href')
    || a.getAttribute('xlink:href') || '').filter(h => /evil/i.test(h)),
})
"""


def hostile_trial(record: TrialRecord, people: People) -> TrialView:
    """The trial in monitoring of the hostile patient, with a waiting high alarm."""
    patient = record.patients.register(
        people.cns,
        {
            "nhs_number": "9434765919",
            "hospital_number": "<b>EV1</b>",
            "family_name": FAMILY,
            "given_name": NAME,
            "date_of_birth": "1980-01-01",
        },
    )
    trial = record.trials.plan(people.cns, patient.id, 50, bed=BED)
    record.trials.set_status(people.cns, trial.id, TrialStatus.BASELINE)
    record.trials.assign_device(people.nurse, trial.id, DEVICE, DEVICE_LABEL)
    now = record.store.now()
    given = now - timedelta(minutes=20)
    record.assessments.record(
        people.physio,
        trial.id,
        {
            "time_point": "baseline",
            "assessed_at": given - timedelta(minutes=30),
            "ashworth": [{"muscle_group": "hip_flexors", "side": "left", "label": "3"}],
            "note": SCORES_NOTE,
            "goals": [{"goal": SCORES_NOTE, "rating": -1}],
        },
    )
    record.trials.record_injection(
        people.doctor,
        trial.id,
        {
            "dose_mcg": 50,
            "given_at": given,
            "route": InjectionRoute.LUMBAR_PUNCTURE,
            "given_by": GIVEN_BY,
        },
    )
    record.assessments.record(
        people.physio,
        trial.id,
        {
            "time_point": "4h",
            "assessed_at": given + timedelta(minutes=10),
            "ashworth": [{"muscle_group": "hip_flexors", "side": "left", "label": "1"}],
            "goals": [{"goal": SCORES_NOTE, "rating": 1}],
            "timing_reason": SCORES_NOTE,
        },
    )
    for seconds in range(120, 0, -2):
        add_vitals(record, trial.id, now - timedelta(seconds=seconds), 84, 60)
    record.services.set_device_state(DEVICE, trial.id, "connected", "", given, now)
    record.alarms.record_events(
        record.users.service_actor(),
        [
            AlarmEventIn(
                trial.id,
                "spo2_low",
                AlarmEventType.RAISED,
                now - timedelta(seconds=30),
                Priority.HIGH,
                AlarmKind.PHYSIOLOGICAL,
                "Critical desaturation: SpO2 85 % or below",
                {"parameter": "spo2", "value": 84, "source": EVIDENCE},
                "test",
            )
        ],
    )
    beat(record)
    return record.trials.get(trial.id)


@pytest.fixture
def hostile_ward(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    data = tmp_path / "data"
    monkeypatch.setenv("ITBMON_DATA_DIR", str(data))
    monkeypatch.delenv("ITBMON_DATABASE_URL", raising=False)
    monkeypatch.setenv("ITBMON_EMBEDDED_MONITOR", "0")  # nothing but this test writes
    record = TrialRecord.open(load_settings())
    trial = hostile_trial(record, make_people(record))
    beating = threading.Event()

    def heart() -> None:  # the monitor's heartbeat: the pages show no "monitor not running"
        while not beating.wait(2.0):
            beat(record)

    thread = threading.Thread(target=heart, daemon=True)
    thread.start()
    yield {"record": record, "data": data, "trial": trial}
    beating.set()
    thread.join(timeout=10)
    record.close()


def open_page(page: Any, runs: Runs, name: str) -> None:
    with runs.finishing():
        page.get_by_test_id("stSidebarNavLink").filter(has_text=name).first.click()
    chooser = page.locator("[data-testid=stSelectbox] input[placeholder^='Choose the patient']")
    if chooser.count():
        for attempt in range(3):  # a refresh of the alarm bar above may close the list
            chooser.first.click()
            try:
                with runs.finishing():
                    page.get_by_role("option").first.click(timeout=5_000)
                break
            except Exception:
                if attempt == 2:
                    raise
    for header in page.locator("[data-testid=stExpander] summary").all():
        if header.get_attribute("aria-expanded") != "true":
            header.click()  # the bar's bed: its alarms and evidence
    painted(page)


def test_a_hostile_patient_shows_as_typed_on_every_page(
    hostile_ward: dict[str, Any], tmp_path: Path, artefacts: Path
) -> None:
    from playwright.sync_api import sync_playwright

    found: dict[str, dict[str, list[str]]] = {}
    with serving(hostile_ward["data"], tmp_path / "streamlit.log") as url, sync_playwright() as p:
        browser = launch(p)
        dialogs: list[str] = []
        for size, tag in (
            ({"width": 1920, "height": 1080}, "1920"),
            ({"width": 1366, "height": 768}, "1366"),
        ):
            page = keep_console(browser.new_page(viewport=size))
            runs = Runs(page)
            page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
            page.goto(url)
            page.get_by_label("Username").wait_for(timeout=WAIT_MS)
            with runs.finishing():  # the ward, whole
                sign_in(page, "cns")
            tile = page.locator(".wb-name").first
            with picture_on_failure(page, artefacts / f"hostile-ward-{tag}-FAILED.png"):
                tile.wait_for(timeout=WAIT_MS)
                # The name reads as typed on the tile, and the bed beside it.
                assert NAME in tile.inner_text()
                assert page.locator(".wb-bed").first.inner_text() == BED
            page.screenshot(path=str(artefacts / f"hostile-ward-{tag}.png"))
            found[f"ward {tag}"] = page.evaluate(EVIL_JS)
            if tag == "1366":
                page.close()
                continue
            for name in ("Trial monitor", "Observations", "Spasticity scores", "4-hour review"):
                slug = re.sub(r"\W+", "-", name).strip("-").lower()
                with picture_on_failure(page, artefacts / f"hostile-{slug}-FAILED.png"):
                    open_page(page, runs, name)
                whole_page(page, artefacts / f"hostile-{slug}.png")
                found[name] = page.evaluate(EVIL_JS)
                assert "evil" in page.inner_text("[data-testid=stMain]").lower(), name
            page.close()
        browser.close()
    problems = {where: {k: v for k, v in evil.items() if v} for where, evil in found.items()}
    assert not any(problems.values()), problems
    assert not dialogs, dialogs
