"""The ward overview as a central station, in a real browser (Debian's chromium, headless).

A 16-bed day (beds D1..D16): alarms of every priority, one bed with an acknowledged high alarm
and a newer unacknowledged critical desaturation, a silent oximeter, an overdue observation
set. The test writes readings and heartbeats into the record as the monitor would (the
server's embedded monitor is off, so nothing else changes what it shows), then looks at the
page at 1920x1080 and 1366x768.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from observations.alarms import AlarmEventIn
from observations.entries import ReadingIn
from observations.record import TrialRecord
from observations.settings import load_settings
from observations.views import TrialView
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
)
from tests.browser.seed import People, beat, make_people, monitoring_trial
from tests.judgements import judge_as_the_monitor
from vocabulary import AlarmEventType, AlarmKind, Parameter, Priority, QualityFlag

__all__ = ["artefacts"]  # a fixture, used by name

pytestmark = pytest.mark.browser

NHS_NUMBERS = [
    "9434765919",
    "9000000009",
    "9000000017",
    "9000000025",
    "9000000033",
    "9000000041",
    "9000000068",
    "9000000076",
    "9000000084",
    "9000000092",
    "9000000106",
    "9000000114",
    "9000000122",
    "9000000130",
    "9000000149",
    "9000000157",
]
FAMILIES = [
    "Jones",
    "Okafor",
    "Patel",
    "Nowak",
    "Evans",
    "Murphy",
    "Khan",
    "Williams",
    "Taylor",
    "Brown",
    "Singh",
    "Davies",
    "Wilson",
    "Roberts",
    "Hughes",
    "Lewis",
]
# Created out of order, as beds fill on a real ward: the page sorts them, not the record.
CREATION_ORDER = [10, 3, 1, 16, 2, 7, 12, 5, 9, 14, 4, 11, 6, 13, 8, 15]
# SpO2, pulse of each bed's oximeter now (the others of the bed's story are below).
VITALS = {
    1: (97, 72),
    2: (96, 80),
    3: (93, 88),
    4: (98, 64),
    5: (86, 104),
    6: (97, 70),
    7: (84, 38),
    8: (95, 76),
    9: (96, 82),
    10: (97, 68),
    11: (95, 74),
    12: (99, 61),
    13: (96, 90),
    14: (95, 70),
    15: (97, 77),
    16: (95, 95),
}
SILENT_BED = 14  # its oximeter stopped 3 minutes ago
OVERDUE_BED = 2  # injected 25 min ago; the +15 min set was never recorded
EXPECTED_ORDER = [
    # unacknowledged high: D5 (severe desaturation), D7 (critical desaturation)
    "D5",
    "D7",
    # unacknowledged medium: D3 (desaturation), D16 (NEWS2 5)
    "D3",
    "D16",
    # unacknowledged low: D9 (sensor off)
    "D9",
    # acknowledged only: D11 (medium, slow breathing)
    "D11",
    # overdue, then stale
    "D2",
    "D14",
    # calm, in natural bed order
    "D1",
    "D4",
    "D6",
    "D8",
    "D10",
    "D12",
    "D13",
    "D15",
]


def source(bed: int) -> str:
    return f"serial:/dev/ttyITB-D{bed}"  # a port nobody streams: this test writes its readings


def cuff(bed: int) -> str:
    return f"serial:/dev/ttyITB-NIBP-D{bed}"


@dataclass
class StationDay:
    record: TrialRecord
    people: People
    data: Path
    trials: dict[int, TrialView]  # by bed number


def alarm(
    record: TrialRecord,
    trial_id: int,
    rule: str,
    priority: Priority,
    message: str,
    at: datetime,
    evidence: dict[str, Any],
    kind: AlarmKind = AlarmKind.PHYSIOLOGICAL,
) -> int:
    """An alarm as the monitor raises it (its evidence names the parameter it is about)."""
    record.alarms.record_events(
        record.users.service_actor(),
        [
            AlarmEventIn(
                trial_id=trial_id,
                rule_id=rule,
                event=AlarmEventType.RAISED,
                at=at,
                priority=priority,
                kind=kind,
                message=message,
                evidence=evidence,
                rule_set_version="test",
            )
        ],
    )
    return next(a.id for a in record.alarms.active(trial_id) if a.rule_id == rule)


def _oximeter(
    trial_id: int,
    bed: int,
    at: datetime,
    spo2: float | None,
    pulse: float | None,
    flags: frozenset[QualityFlag] = frozenset(),
) -> list[ReadingIn]:
    return [
        ReadingIn(trial_id, Parameter.SPO2, spo2, at, at, source(bed), flags),
        ReadingIn(trial_id, Parameter.PULSE_RATE, pulse, at, at, source(bed), flags),
    ]


def seed_station_day(record: TrialRecord, people: People) -> dict[int, TrialView]:
    """Sixteen beds, each with a story; every value written as the monitor writes it."""
    now = record.store.now()
    service = record.users.service_actor()
    trials: dict[int, TrialView] = {}
    for bed in CREATION_ORDER:
        trial = monitoring_trial(
            record,
            people,
            nhs=NHS_NUMBERS[bed - 1],
            mrn=f"D{bed:02d}X",
            family=FAMILIES[bed - 1],
            bed=f"D{bed}",
            device=None,
            minutes_ago=25 if bed == OVERDUE_BED else 10,
        )
        record.trials.assign_device(people.nurse, trial.id, source(bed), "Oximeter")
        trials[bed] = trial
    # Thirty minutes of oximetry for the mini trends: steady, but D5 drifting down over the last
    # eight minutes, D9's probe off for a minute, D14 silent for the last three.
    readings: list[ReadingIn] = []
    for bed, trial in trials.items():
        spo2_now, pulse_now = VITALS[bed]
        last = 180 if bed == SILENT_BED else 2
        for ago in range(1800, last - 1, -1):
            at = now - timedelta(seconds=ago)
            spo2, pulse = 97.0 + ago % 3 - 1, 72.0 + ago % 5 - 2
            if ago < 480:  # the last eight minutes approach each bed's present values
                weight = 1 - ago / 480
                spo2 = round(spo2 + (spo2_now - spo2) * weight)
                pulse = round(pulse + (pulse_now - pulse) * weight)
            if bed == 9 and 900 <= ago < 960:
                readings += _oximeter(
                    trial.id, bed, at, None, None, frozenset({QualityFlag.NO_FINGER})
                )
                continue
            readings += _oximeter(trial.id, bed, at, spo2, pulse)
        systolic, diastolic = (90, 59) if bed == 5 else (118 + bed, 74 + bed % 5)
        at = now - timedelta(minutes=2)  # the cuff's last measurement, after every set
        readings += [
            ReadingIn(trial.id, Parameter.SYSTOLIC, float(systolic), at, at, cuff(bed)),
            ReadingIn(trial.id, Parameter.DIASTOLIC, float(diastolic), at, at, cuff(bed)),
        ]
        if len(readings) > 20000:
            record.readings.add(service, readings)
            readings = []
    record.readings.add(service, readings)
    for bed, trial in trials.items():
        state = "disconnected" if bed == SILENT_BED else "connected"
        reason = "no data for 10 s" if bed == SILENT_BED else ""
        last = now - timedelta(seconds=180 if bed == SILENT_BED else 2)
        record.services.set_device_state(
            source(bed), trial.id, state, reason, now - timedelta(minutes=30), last
        )

    # Observation sets (NEWS2 is the monitor's judgement of them, below).
    def obs(
        bed: int,
        minutes_ago: float,
        rr: int,
        spo2: int,
        systolic: int,
        pulse: int,
        temp: float = 36.8,
        consciousness: str = "A",
    ) -> None:
        record.observations.record(
            people.nurse,
            trials[bed].id,
            {
                "measured_at": now - timedelta(minutes=minutes_ago),
                "rr": rr,
                "spo2": spo2,
                "on_oxygen": False,
                "systolic": systolic,
                "diastolic": 70,
                "pulse_rate": pulse,
                "consciousness": consciousness,
                "temp": temp,
                "poss": "1",
                "side_effects": [],
            },
        )

    obs(1, 6, 15, 97, 124, 72)
    obs(5, 3, 14, 87, 92, 102)
    obs(7, 4, 10, 88, 110, 40)
    obs(11, 5, 9, 95, 120, 74)
    obs(16, 2, 21, 95, 105, 95)  # NEWS2 5: RR 21 (2), SpO2 95 (1), pulse 95 (1), SBP 105 (1)
    for bed in (3, 4, 6, 8, 10, 12, 13, 15):
        obs(bed, 7, 16, VITALS[bed][0], 120, VITALS[bed][1])
    for trial in trials.values():
        judge_as_the_monitor(record, trial.id)

    # Alarms as the monitor raised them.
    t = trials
    alarm(
        record,
        t[5].id,
        "spo2_low",
        Priority.HIGH,
        "Severe desaturation: SpO2 91 % or below. Assess breathing and sedation.",
        now - timedelta(minutes=2),
        {"parameter": "spo2", "level": "severe_desaturation", "value": 86},
    )
    hypotension = alarm(
        record,
        t[5].id,
        "sbp_low",
        Priority.MEDIUM,
        "Hypotension: systolic 90 mmHg or below.",
        now - timedelta(minutes=4),
        {"parameter": "systolic", "level": "hypotension", "value": 90},
    )
    record.alarms.acknowledge(people.nurse, hypotension, "Lay flat, fluids as prescribed")
    # D7: the older high alarm acknowledged, a newer critical desaturation waiting.
    bradycardia = alarm(
        record,
        t[7].id,
        "pulse_low",
        Priority.HIGH,
        "Severe bradycardia: pulse 40 /min or below. Call the doctor.",
        now - timedelta(minutes=6),
        {"parameter": "pulse_rate", "level": "severe_bradycardia", "value": 38},
    )
    record.alarms.acknowledge(people.nurse, bradycardia, "Doctor at the bedside")
    alarm(
        record,
        t[7].id,
        "spo2_low",
        Priority.HIGH,
        "Critical desaturation: SpO2 85 % or below. Check airway and breathing now.",
        now - timedelta(seconds=50),
        {"parameter": "spo2", "level": "critical_desaturation", "value": 84},
    )
    alarm(
        record,
        t[3].id,
        "spo2_low",
        Priority.MEDIUM,
        "Desaturation: SpO2 93 % or below. Check the probe and the patient's breathing.",
        now - timedelta(minutes=1),
        {"parameter": "spo2", "level": "desaturation", "value": 93},
    )
    alarm(
        record,
        t[16].id,
        "news2",
        Priority.MEDIUM,
        "NEWS2 5-6: urgent review by a clinician competent in acute illness.",
        now - timedelta(minutes=2),
        {"total": 5, "band": "medium", "level": "news2_medium"},
    )
    alarm(
        record,
        t[9].id,
        "sensor_off",
        Priority.LOW,
        "Sensor off: the oximeter reports no finger or a disconnected probe. Refit the probe.",
        now - timedelta(seconds=30),
        {"parameters": {"spo2": {"why": ["no_finger"]}}, "delay_s": 10},
        kind=AlarmKind.TECHNICAL,
    )
    slow = alarm(
        record,
        t[11].id,
        "rr_low",
        Priority.MEDIUM,
        "Slow breathing: RR 10 /min or below. Assess sedation.",
        now - timedelta(minutes=5),
        {"parameter": "rr", "level": "slow_breathing", "value": 9},
    )
    record.alarms.acknowledge(people.nurse, slow, "Roused, breathing 12 /min, told Dr Who")
    beat(record)
    return trials


class Oximeters(threading.Thread):
    """Every live bed's oximeter, one reading a second, and the monitor's heartbeat."""

    def __init__(self, day: StationDay) -> None:
        super().__init__(daemon=True)
        self.day = day
        self.stop = threading.Event()

    def run(self) -> None:
        record, service = self.day.record, self.day.record.users.service_actor()
        while not self.stop.is_set():
            now = record.store.now()
            readings: list[ReadingIn] = []
            for bed, trial in self.day.trials.items():
                if bed == SILENT_BED:
                    continue
                spo2, pulse = VITALS[bed]
                if bed == 9:  # the probe is off the finger: flagged readings without a value
                    readings += _oximeter(
                        trial.id, bed, now, None, None, frozenset({QualityFlag.NO_FINGER})
                    )
                    continue
                readings += _oximeter(trial.id, bed, now, float(spo2), float(pulse))
            record.readings.add(service, readings)
            beat(record)
            self.stop.wait(1.0)


@pytest.fixture
def station_day(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[StationDay]:
    data = tmp_path / "data"
    monkeypatch.setenv("ITBMON_DATA_DIR", str(data))
    monkeypatch.delenv("ITBMON_DATABASE_URL", raising=False)
    # Nothing but this test writes readings and alarms: the server's own monitor is off.
    monkeypatch.setenv("ITBMON_EMBEDDED_MONITOR", "0")
    record = TrialRecord.open(load_settings())
    people = make_people(record)
    trials = seed_station_day(record, people)
    day = StationDay(record, people, data, trials)
    oximeters = Oximeters(day)
    oximeters.start()
    yield day
    oximeters.stop.set()
    oximeters.join(timeout=10)
    record.close()


def tile_boxes(page: Any) -> list[dict[str, Any]]:
    """Each tile's bed, box and what it shows, in page order."""
    return page.evaluate("""() => [...document.querySelectorAll('.wb')].map(t => {
        const box = t.closest('[class*="st-key-ward-bed-"]').getBoundingClientRect();
        const num = k => t.querySelector('.wb-k-' + k);
        return {
          bed: t.dataset.bed,
          x: box.x, y: box.y, width: box.width, height: box.height,
          banner: t.querySelector('.wb-banner').innerText,
          bannerAcknowledged: t.querySelector('.wb-banner').dataset.acknowledged || null,
          spo2: num('spo2').querySelector('.wb-val').innerText,
          spo2Detail: num('spo2').querySelector('.wb-age').innerText,
          spo2Background: getComputedStyle(num('spo2')).backgroundColor,
          spo2Colour: getComputedStyle(num('spo2').querySelector('.wb-val')).color,
          spo2Size: parseFloat(getComputedStyle(num('spo2').querySelector('.wb-val')).fontSize),
          bp: num('systolic').querySelector('.wb-val').innerText,
          bpColour: getComputedStyle(num('systolic').querySelector('.wb-val')).color,
          device: t.querySelector('.wb-dev').innerText,
          due: t.querySelector('.wb-due').innerText,
          text: t.innerText,
        };
    })""")


def wait_for_station(page: Any, runs: Runs) -> None:
    page.wait_for_function(
        "() => document.querySelectorAll('.wb').length === 16 && [...document.querySelectorAll("
        "'.wb[data-bed=\"D1\"] .wb-k-spo2 .wb-age')].some(e => /^\\d+ s ago$/.test(e.innerText))",
        timeout=WAIT_MS,
    )
    runs.refreshed(1, fragments=2)  # every tile and trend painted (the tiles' and the bar's)


def test_sixteen_beds_at_a_glance(station_day: StationDay, tmp_path: Path, artefacts: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=WAIT_MS)
    with (
        serving(station_day.data, tmp_path / "streamlit.log") as url,
        sync_playwright() as playwright,
    ):
        browser = launch(playwright)
        page = keep_console(browser.new_page(viewport={"width": 1920, "height": 1080}))
        page.set_default_timeout(WAIT_MS)
        runs = Runs(page)
        with picture_on_failure(page, artefacts / "FAILED-ward-station.png"):
            page.goto(url)
            sign_in(page, "nurse")
            page.get_by_role("link", name="Ward overview").click()
            expect(page.get_by_role("heading", name="Ward overview")).to_be_visible()
            wait_for_station(page, runs)
            page.screenshot(path=str(artefacts / "ward-1920.png"))
            readme_picture(artefacts / "ward-1920.png", "ward-1920.png", artefacts)
            tiles = tile_boxes(page)
            by_bed = {t["bed"]: t for t in tiles}

            # Most urgent first, then natural bed order: D3 before D10.
            assert [t["bed"] for t in tiles] == EXPECTED_ORDER
            calm = [t["bed"] for t in tiles[8:]]
            assert calm.index("D4") < calm.index("D10")
            # Every bed on one screen at 1920x1080, no scrolling.
            for tile in tiles:
                assert tile["y"] >= 0 and tile["y"] + tile["height"] <= 1080, tile["bed"]
                assert tile["x"] >= 0 and tile["x"] + tile["width"] <= 1920, tile["bed"]
            # The bed's most urgent UNACKNOWLEDGED alarm is its banner, never the older
            # acknowledged one; the count of the others follows.
            d7 = by_bed["D7"]
            assert "Critical desaturation" in d7["banner"]
            assert d7["bannerAcknowledged"] == "false"
            assert "+1 more" in d7["banner"]
            assert "Severe bradycardia" not in d7["banner"]
            # SpO2 86 coloured by its unacknowledged high alarm (IEC 60601-1-8 red, filled);
            # BP 90/59 by its acknowledged medium alarm (amber text, no fill).
            d5 = by_bed["D5"]
            assert d5["spo2"] == "86"
            assert d5["spo2Background"] == "rgb(255, 59, 48)"
            assert d5["bp"] == "90/59"
            assert d5["bpColour"] == "rgb(255, 179, 0)"
            # A calm bed's numbers are plain.
            assert by_bed["D1"]["spo2Background"] == "rgba(0, 0, 0, 0)"
            assert by_bed["D1"]["spo2Colour"] == "rgb(233, 238, 243)"
            # The silent oximeter is STALE, its old value only as "was".
            d14 = by_bed["D14"]
            assert d14["spo2"] == "STALE"
            assert d14["spo2Detail"] == "was 95, 3 min"
            # The probe off the finger is the INOP line; the overdue set is said so.
            assert by_bed["D9"]["device"].startswith("INOP")
            assert "Sensor off" in by_bed["D9"]["device"]
            assert by_bed["D2"]["due"].startswith("OBS OVERDUE 10 min · due ")
            # Two identifiers per patient, plain text.
            assert "KHAN, Sam" in d7["text"] and "NHS 900 000 0068" in d7["text"]

            # 1366x768: the most urgent beds first, every tile still readable.
            page.set_viewport_size({"width": 1366, "height": 768})
            runs.refreshed(1, fragments=2)  # laid out and drawn again at this size
            page.screenshot(path=str(artefacts / "ward-1366.png"))
            readme_picture(artefacts / "ward-1366.png", "ward-1366.png", artefacts)
            small = tile_boxes(page)
            assert [t["bed"] for t in small] == EXPECTED_ORDER
            for tile in small:
                assert tile["width"] >= 280, tile  # five numerics side by side stay legible
                # Numbers at least 20 px; the STALE word, which replaces one, at least 13 px.
                assert tile["spo2Size"] >= (13 if tile["spo2"] == "STALE" else 20), tile
            visible = [t["bed"] for t in small if t["y"] + t["height"] <= 768]
            # At least the first two rows (the most urgent beds) are fully on screen.
            assert visible == EXPECTED_ORDER[: len(visible)]
            assert len(visible) >= 6, visible
            (artefacts / "ward-1366-visible.txt").write_text(" ".join(visible) + "\n")

            # A tile is a link to its trial monitor (the browser changes page: H-15).
            page.set_viewport_size({"width": 1920, "height": 1080})
            page.locator(f".st-key-ward-bed-{station_day.trials[7].id} a").click()
            expect(page.get_by_role("heading", name="Trial monitor")).to_be_visible()
            expect(page.locator('.st-key-monitor-tile .wb[data-bed="D7"]')).to_be_visible()
        browser.close()
