"""The frame of every page in a real browser: no blank page, a tone that cannot be lost, the
locked screen, the connection watchdog (Debian's chromium, headless, through Playwright).

Each test serves ``dashboard.py`` over its own data directory with the embedded monitor off: the
test writes alarms into the record as the monitor would, and beats the monitor's heartbeat.
"""

from __future__ import annotations

import json
import statistics
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from observations.record import TrialRecord
from observations.settings import load_settings
from tests.browser.harness import (
    CHROMIUM,
    WAIT_MS,
    Runs,
    artefacts,
    keep_console,
    picture_on_failure,
    serving,
    sign_in,
)
from tests.browser.seed import beat, make_people, monitoring_trial, raise_alarm
from vocabulary import Priority

__all__ = ["artefacts"]  # a fixture, used by name

pytestmark = pytest.mark.browser

SOUND = "--autoplay-policy=no-user-gesture-required"
# Desktop Chrome starts a page's AudioContext suspended until the person clicks the page. The
# headless chromium here does not (its AudioContext runs without a click, flag or not), so the
# test gives the page that policy: the context starts suspended and resume() works only during
# a real click (the browser's user activation).
BLOCKED_UNTIL_CLICK = """
(() => {
  const Real = window.AudioContext;
  window.AudioContext = class extends Real {
    constructor(...options) { super(...options); super.suspend(); }
    resume() {
      return navigator.userActivation.isActive ? super.resume() : Promise.resolve();
    }
  };
})();
"""
LOOPS = 50
SEEN_WITHIN_MS = 10_000  # a known element must show this soon after each step, or the page is blank
AUDIO = "window.itbmonAlarmAudio"


class Heartbeat(threading.Thread):
    """Beats the monitor's heartbeat every 2 s, as a running monitor would."""

    def __init__(self, record: TrialRecord) -> None:
        super().__init__(daemon=True)
        self.record = record
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            beat(self.record)
            self.stop.wait(2.0)


@pytest.fixture
def ward(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    data = tmp_path / "data"
    monkeypatch.setenv("ITBMON_DATA_DIR", str(data))
    monkeypatch.setenv("ITBMON_EMBEDDED_MONITOR", "0")  # the test is the monitor
    monkeypatch.delenv("ITBMON_DATABASE_URL", raising=False)
    monkeypatch.delenv("ITBMON_IDLE_LOCK_MINUTES", raising=False)
    record = TrialRecord.open(load_settings())
    people = make_people(record)
    jones = monitoring_trial(record, people, device=None, minutes_ago=10)
    smith = monitoring_trial(
        record,
        people,
        device=None,
        minutes_ago=25,
        nhs="9434765870",
        mrn="H78",
        family="Smith",
        bed="4C",
    )
    heartbeat = Heartbeat(record)
    heartbeat.start()
    yield {"record": record, "data": data, "jones": jones, "smith": smith, "tmp": tmp_path}
    heartbeat.stop.set()
    heartbeat.join(timeout=10)
    record.close()


def browser(playwright: Any, sound: bool = True) -> Any:
    args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
    return playwright.chromium.launch(
        executable_path=str(CHROMIUM), args=[*args, SOUND] if sound else args
    )


def audio(page: Any) -> dict[str, Any]:
    """The tone's state machine as the page holds it (its public fields)."""
    return page.evaluate(
        f"() => {{ const a = {AUDIO}; if (!a) return null; return {{sounding: a.sounding, "
        "level: a.level, paused_until: a.paused_until, bursts_started: a.bursts_started, "
        "audio_state: a.audio_state, alarm_ids: a.alarm_ids, now: Date.now()}; }"
    )


def wait_audio(page: Any, condition: str) -> dict[str, Any]:
    """Wait until ``condition`` (JavaScript over ``a``, the machine) holds; its state then."""
    page.wait_for_function(
        f"() => {{ const a = {AUDIO}; return !!a && ({condition}); }}", timeout=20_000
    )
    return audio(page)


class Wire:
    """The websocket's messages, decoded, so a blank page leaves its cause behind."""

    def __init__(self, page: Any) -> None:
        self.lines: list[str] = []
        page.on("websocket", self._watch)

    def _watch(self, socket: Any) -> None:
        socket.on("framereceived", lambda payload: self.lines.append(self._forward(payload)))
        socket.on("framesent", lambda payload: self.lines.append(self._back(payload)))

    @staticmethod
    def _forward(payload: Any) -> str:
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        if not isinstance(payload, bytes):
            return "in: text"
        message = ForwardMsg.FromString(payload)
        kind = message.WhichOneof("type")
        run = message.metadata.run
        line = (
            f"{time.time():.3f} in: {kind} run={run.script_run_id[:8]} "
            f"fragments={[f[:8] for f in run.fragment_ids]}"
        )
        if kind == "new_session":
            line += f" page={message.new_session.page_script_hash[:8]}"
        if kind == "navigation":
            line += f" page={message.navigation.page_script_hash[:8]}"
        if kind == "delta":
            line += f" path={list(message.metadata.delta_path)}"
        return line

    @staticmethod
    def _back(payload: Any) -> str:
        from streamlit.proto.BackMsg_pb2 import BackMsg

        if not isinstance(payload, bytes):
            return "out: text"
        message = BackMsg.FromString(payload)
        rerun = message.rerun_script
        return (
            f"{time.time():.3f} out: {message.WhichOneof('type')} "
            f"page={rerun.page_script_hash[:8]} fragment={rerun.fragment_id[:8]}"
        )


def blank(page: Any, where: str, artefacts: Path, wire: Wire) -> AssertionError:
    """Keep the picture, the console and the websocket's last messages of a blank page."""
    page.screenshot(path=str(artefacts / f"BLANK-frame-{where}.png"))
    (artefacts / f"BLANK-frame-{where}.txt").write_text(
        "\n".join([*page.console_lines, "--- websocket", *wire.lines[-300:]]) + "\n"
    )
    return AssertionError(f"blank page at {where}: see BLANK-frame-{where}.*")


def seen(
    page: Any, locator: Any, where: str, artefacts: Path, wire: Wire, timings: list[float]
) -> None:
    """The known element is visible soon; otherwise the page is blank: keep what shows why,
    and fail (never reload)."""
    start = time.monotonic()
    try:
        locator.first.wait_for(state="visible", timeout=SEEN_WITHIN_MS)
    except Exception:
        raise blank(page, where, artefacts, wire) from None
    timings.append(time.monotonic() - start)


def test_no_blank_page_over_50_sign_outs_and_50_page_switches(
    ward: dict[str, Any], artefacts: Path
) -> None:
    from playwright.sync_api import sync_playwright

    record: TrialRecord = ward["record"]
    raise_alarm(record, ward["jones"].id, record.store.now())  # the bar and the tiles are busy
    timings: dict[str, list[float]] = {"sign-in": [], "page switch": [], "sign-out": []}
    with (
        serving(ward["data"], ward["tmp"] / "streamlit.log") as url,
        sync_playwright() as playwright,
    ):
        chromium = browser(playwright, sound=False)
        page = keep_console(chromium.new_page(viewport={"width": 1366, "height": 768}))
        page.set_default_timeout(WAIT_MS)
        wire = Wire(page)
        page.goto(url)
        pages = ("Ward overview", "Trial monitor")
        for loop in range(LOOPS):
            # Waits that move each step across the bar's and the tiles' one-second refresh,
            # where a refresh asked for just before the step used to blank the page.
            pause = (loop * 137) % 700
            # Signing in and out never changes the page on screen: the next person is back
            # where the last one signed out. Each loop then switches to the other page.
            page.set_default_timeout(SEEN_WITHIN_MS)
            try:
                sign_in(page, "nurse")
            except Exception:
                raise blank(page, f"sign-in-form-{loop}", artefacts, wire) from None
            seen(
                page,
                page.get_by_role("button", name="Sign out"),
                f"sign-in-{loop}",
                artefacts,
                wire,
                timings["sign-in"],
            )
            target = pages[loop % 2]
            page.wait_for_timeout(pause)
            page.get_by_role("link", name=target).click()
            seen(
                page,
                page.get_by_role("heading", name=target),
                f"switch-{loop}",
                artefacts,
                wire,
                timings["page switch"],
            )
            page.wait_for_timeout(700 - pause)
            page.get_by_role("button", name="Sign out").click()
            seen(
                page,
                page.get_by_label("Username"),
                f"sign-out-{loop}",
                artefacts,
                wire,
                timings["sign-out"],
            )
        chromium.close()
    figures = {
        step: {
            "count": len(t),
            "median_s": round(statistics.median(t), 3),
            "max_s": round(max(t), 3),
        }
        for step, t in timings.items()
    }
    (artefacts / "frame-loop-timings.json").write_text(json.dumps(figures, indent=1) + "\n")
    assert figures["sign-out"]["count"] == figures["page switch"]["count"] == LOOPS, figures


def test_a_new_high_alarm_during_the_audio_pause_sounds_at_once(
    ward: dict[str, Any], artefacts: Path
) -> None:
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=WAIT_MS)
    record: TrialRecord = ward["record"]
    jones, smith = ward["jones"], ward["smith"]
    now = record.store.now()
    raise_alarm(record, jones.id, now - timedelta(seconds=40))
    raise_alarm(
        record,
        jones.id,
        now - timedelta(minutes=3),
        rule_id="pulse_low",
        message="Bradycardia: pulse 45",
        priority=Priority.MEDIUM,
    )
    raise_alarm(
        record,
        smith.id,
        now - timedelta(seconds=90),
        rule_id="sensor_off",
        message="Sensor off: no SpO2 for 15 s",
        priority=Priority.LOW,
    )
    with (
        serving(ward["data"], ward["tmp"] / "streamlit.log") as url,
        sync_playwright() as playwright,
    ):
        chromium = browser(playwright)
        page = keep_console(chromium.new_page(viewport={"width": 1920, "height": 1080}))
        page.set_default_timeout(WAIT_MS)
        runs = Runs(page)
        with picture_on_failure(page, artefacts / "FAILED-frame-pause.png"):
            page.goto(url)
            sign_in(page, "nurse")
            expect(page.get_by_role("heading", name="Ward overview")).to_be_visible()
            state = wait_audio(page, "a.sounding && a.level === 'high' && a.bursts_started > 0")
            assert state["audio_state"] == "running"
            _frame_pictures(page, runs, artefacts)
            page.get_by_role("link", name="Ward overview").click()
            expect(page.get_by_role("heading", name="Ward overview")).to_be_visible()

            page.get_by_role("button", name="Pause audio 2 min").click()
            paused = wait_audio(page, "!a.sounding && a.paused_until > Date.now()")
            assert 110_000 < paused["paused_until"] - paused["now"] <= 120_000
            expect(page.get_by_text("Audio paused: sounds again in 1:")).to_be_visible()
            # Two refreshes of the bar and of the tiles with the same alarms keep it paused.
            runs.refreshed(2, fragments=2)
            still = audio(page)
            assert not still["sounding"] and still["bursts_started"] == paused["bursts_started"]

            raise_alarm(
                record,
                smith.id,
                record.store.now(),
                rule_id="pulse_low",
                message="Severe bradycardia: pulse 38",
                priority=Priority.HIGH,
            )
            again = wait_audio(page, f"a.sounding && a.bursts_started > {paused['bursts_started']}")
            assert again["paused_until"] == 0 and again["level"] == "high"
            expect(page.get_by_text("Audio paused")).to_be_hidden()
            page.screenshot(path=str(artefacts / "frame-pause-ended-by-new-alarm.png"))
        chromium.close()


def _frame_pictures(page: Any, runs: Runs, artefacts: Path) -> None:
    """The bar on the ward overview (closed and opened) and on the trial monitor, at the two
    screen sizes of the ward's PCs; the bar's height on the ward is measured."""
    from playwright.sync_api import expect

    for width, height in ((1920, 1080), (1366, 768)):
        page.set_viewport_size({"width": width, "height": height})
        with runs.finishing():  # the bar and the tiles, drawn at this size
            page.get_by_role("link", name="Ward overview").click()
        expect(page.get_by_role("heading", name="Ward overview")).to_be_visible()
        bar = page.locator(".st-key-itbmon-alarm-bar").bounding_box()
        assert bar is not None and bar["height"] <= 90, f"ward bar {bar} at {width}"
        page.screenshot(path=str(artefacts / f"frame-ward-{width}.png"))
        page.get_by_role("button", name="Alarms of 2 beds").click()
        expect(page.get_by_text("Critical desaturation: SpO2 84 %").first).to_be_visible()
        page.screenshot(path=str(artefacts / f"frame-ward-open-{width}.png"))
        page.keyboard.press("Escape")
        with runs.finishing():  # the bar, the numbers and the chart
            page.get_by_role("link", name="Trial monitor", exact=True).click()
        expect(page.get_by_role("heading", name="Trial monitor")).to_be_visible()
        page.screenshot(path=str(artefacts / f"frame-trial-monitor-{width}.png"))


def test_without_autoplay_the_screen_says_sound_off_and_enables_it_on_click(
    ward: dict[str, Any], artefacts: Path
) -> None:
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=WAIT_MS)
    record: TrialRecord = ward["record"]
    raise_alarm(record, ward["jones"].id, record.store.now())
    with (
        serving(ward["data"], ward["tmp"] / "streamlit.log") as url,
        sync_playwright() as playwright,
    ):
        chromium = browser(playwright, sound=False)
        page = keep_console(chromium.new_page(viewport={"width": 1366, "height": 768}))
        page.add_init_script(BLOCKED_UNTIL_CLICK)
        with picture_on_failure(page, artefacts / "FAILED-frame-sound-off.png"):
            page.goto(url)
            sign_in(page, "nurse")  # the page's AudioContext starts after this: blocked
            enable = page.get_by_role("button", name="Sound off \u2014 click to enable")
            expect(enable).to_be_visible()
            state = wait_audio(page, "a.level === 'high'")
            assert state["audio_state"] == "suspended" and state["bursts_started"] == 0
            page.screenshot(path=str(artefacts / "frame-sound-off.png"))
            enable.click()
            wait_audio(page, "a.audio_state === 'running' && a.bursts_started > 0")
            expect(enable).to_be_hidden()
        chromium.close()


def test_idle_screen_locks_hides_the_patient_and_shows_and_sounds_a_new_alarm(
    ward: dict[str, Any], artefacts: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=WAIT_MS)
    monkeypatch.setenv("ITBMON_IDLE_LOCK_MINUTES", "0.1")  # 6 s
    record: TrialRecord = ward["record"]
    with (
        serving(ward["data"], ward["tmp"] / "streamlit.log") as url,
        sync_playwright() as playwright,
    ):
        chromium = browser(playwright)
        page = keep_console(chromium.new_page(viewport={"width": 1366, "height": 768}))
        runs = Runs(page)
        with picture_on_failure(page, artefacts / "FAILED-frame-lock.png"):
            page.goto(url)
            sign_in(page, "nurse")
            expect(page.get_by_role("heading", name="Ward overview")).to_be_visible()
            expect(page.get_by_text("JONES, Sam").first).to_be_visible()
            # Nobody touches the screen: it locks by itself, although it refreshes every second.
            expect(page.get_by_role("heading", name="Screen locked")).to_be_visible()
            content = page.content()
            for detail in ("JONES", "SMITH", "943 476 5919", "9434765919", "H77", "1980"):
                assert detail not in content, f"{detail} on the locked screen"
            expect(page.get_by_text("Bed 4B").first).to_be_visible()  # beds stay on screen

            raise_alarm(record, ward["jones"].id, record.store.now())
            expect(page.get_by_text("Critical desaturation", exact=True).first).to_be_visible()
            wait_audio(page, "a.sounding && a.level === 'high' && a.bursts_started > 0")
            runs.refreshed(3)  # several refreshes with the alarm: still locked
            expect(page.get_by_role("heading", name="Screen locked")).to_be_visible()
            content = page.content()
            for detail in ("JONES", "943 476 5919", "SpO2 84"):
                assert detail not in content, f"{detail} on the locked screen"
            page.screenshot(path=str(artefacts / "frame-lock-screen-alarm.png"))
            # An alarm never signed anyone out: the same nurse unlocks and carries on.
            expect(page.get_by_text("Locked session: nurse")).to_be_visible()
            sign_in(page, "nurse")
            expect(page.get_by_role("heading", name="Ward overview")).to_be_visible()
            expect(page.get_by_text("JONES, Sam").first).to_be_visible()
        chromium.close()


def test_watchdog_banner_when_the_server_stops(ward: dict[str, Any], artefacts: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=WAIT_MS)
    with sync_playwright() as playwright, ExitStack() as server:
        url = server.enter_context(serving(ward["data"], ward["tmp"] / "streamlit.log"))
        chromium = browser(playwright, sound=False)
        page = keep_console(chromium.new_page(viewport={"width": 1366, "height": 768}))
        runs = Runs(page)
        with picture_on_failure(page, artefacts / "FAILED-frame-watchdog.png"):
            page.goto(url)
            sign_in(page, "nurse")
            expect(page.get_by_role("heading", name="Ward overview")).to_be_visible()
            banner = page.get_by_text("CONNECTION TO THE SERVER LOST")
            runs.refreshed(3, fragments=2)  # the bar and the tiles refresh three times each
            expect(banner).to_have_count(0)  # while the server refreshes: no banner
            server.close()  # the server stops
            expect(banner).to_be_visible(timeout=30_000)
            page.screenshot(path=str(artefacts / "frame-watchdog.png"))
        chromium.close()
