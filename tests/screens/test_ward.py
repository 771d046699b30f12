# ruff: noqa: F811  (pytest fixtures imported from tests/browser/seed.py)
"""Ward overview as a central station: the tile model (screens/bed_tiles.py) and the page
(AppTest on screens/ward.py)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from observations.alarms import AlarmEventIn
from observations.readings import TrendBucket
from observations.record import TrialRecord
from observations.store import Actor
from observations.views import AlarmView, LatestValue
from rules.urgency import most_urgent
from screens.bed_tiles import (
    MISSING,
    BedTile,
    alarms_by_numeric,
    banner_of,
    bp_numeric,
    inop_of,
    natural_bed_key,
    news2_numeric,
    sparkline,
    tile_html,
    value_numeric,
    ward_order,
)
from screens.shared import ACTOR_KEY
from tests.browser.seed import (  # noqa: F401  (fixtures)
    People,
    add_vitals,
    beat,
    data_dir,
    monitoring_trial,
    people,
    record,
)
from tests.judgements import judge_as_the_monitor
from tests.screens.apps import open_at
from vocabulary import AlarmEventType, AlarmKind, Parameter, Priority

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


# ----- the tile model ---------------------------------------------------------------------------
def view(
    alarm_id: int,
    priority: str,
    *,
    acknowledged: bool = False,
    raised_s: float = 60,
    last_event: str | None = None,
    last_s: float | None = None,
    rule: str = "spo2_low",
    kind: str = "physiological",
    message: str = "Critical desaturation: SpO2 84 %",
    evidence: dict[str, Any] | None = None,
) -> AlarmView:
    raised = NOW - timedelta(seconds=raised_s)
    return AlarmView(
        id=alarm_id,
        trial_id=1,
        rule_id=rule,
        kind=kind,
        raised_at=raised,
        priority=priority,
        message=message,
        evidence=evidence if evidence is not None else {"parameter": "spo2"},
        acknowledged=acknowledged,
        last_event=last_event or ("acknowledged" if acknowledged else "raised"),
        last_event_at=NOW - timedelta(seconds=last_s if last_s is not None else raised_s),
    )


def latest(
    parameter: Parameter, value: float, seconds_ago: float, source: str = "device"
) -> LatestValue:
    return LatestValue(
        parameter=parameter.value,
        value=value,
        at=NOW - timedelta(seconds=seconds_ago),
        source=source,
        flags="",
    )


def test_beds_in_natural_order_with_no_bed_last():
    beds = ["D10", None, "D3", "4B", "D1", "4A", "", "d2", "10A", "9Z"]
    assert sorted(beds, key=natural_bed_key) == [
        "4A",
        "4B",
        "9Z",
        "10A",
        "D1",
        "d2",
        "D3",
        "D10",
        None,
        "",
    ]


def test_banner_is_the_most_urgent_unacknowledged_alarm():
    # The older high alarm, acknowledged, must not hide the newer one still waiting.
    severe = view(
        1, "high", acknowledged=True, raised_s=600, message="Severe desaturation: SpO2 86 %"
    )
    critical = view(2, "high", raised_s=50, message="Critical desaturation: SpO2 84 %")
    medium = view(3, "medium", raised_s=20, rule="rr_low", evidence={"parameter": "rr"})
    low = view(4, "low", raised_s=5, rule="sensor_off", kind="technical", evidence={})
    banner = banner_of([severe, critical, medium, low], NOW)
    assert banner is not None
    assert (banner.headline, banner.acknowledged, banner.others) == (
        "Critical desaturation: SpO2 84 %",
        False,
        3,
    )
    # A medium waiting for acknowledgement outranks a high already acknowledged.
    assert most_urgent([severe, medium]) == medium
    # Among equals, the most recent raise or escalation first.
    older = view(5, "high", raised_s=300)
    escalated = view(6, "high", raised_s=900, last_event="escalated", last_s=10)
    assert most_urgent([older, escalated]) == escalated
    # Every alarm acknowledged: the most urgent acknowledged one, marked as such.
    only_seen = banner_of([severe, view(7, "medium", acknowledged=True)], NOW)
    assert only_seen is not None and only_seen.acknowledged
    assert only_seen.headline == "Severe desaturation: SpO2 86 %"
    assert banner_of([], NOW) is None


def test_numbers_are_coloured_by_the_alarm_on_their_parameter():
    spo2 = view(1, "high", evidence={"parameter": "spo2", "value": 86})
    bp_seen = view(
        2,
        "medium",
        acknowledged=True,
        rule="sbp_low",
        evidence={"parameter": "systolic", "value": 90},
    )
    news2 = view(3, "medium", rule="news2", evidence={"total": 5, "band": "medium"})
    lost = view(
        4,
        "low",
        rule="device_lost",
        kind="technical",
        evidence={"parameters": {"spo2": {"lost_for_s": 20}}},
    )
    coloured = alarms_by_numeric([spo2, bp_seen, news2, lost], frozenset({"news2"}))
    assert set(coloured) == {"spo2", "systolic", "news2"}  # a technical alarm colours none
    values = {
        Parameter.SPO2: latest(Parameter.SPO2, 86, 2),
        Parameter.SYSTOLIC: latest(Parameter.SYSTOLIC, 90, 120),
        Parameter.DIASTOLIC: latest(Parameter.DIASTOLIC, 59, 120),
        Parameter.PULSE_RATE: latest(Parameter.PULSE_RATE, 104, 2),
    }
    shown = value_numeric(Parameter.SPO2, "SpO2 %", values, NOW, 30, coloured.get("spo2"))
    assert (shown.text, shown.priority, shown.acknowledged) == ("86", "high", False)
    bp = bp_numeric(values, NOW, coloured.get("systolic"))
    assert (bp.text, bp.priority, bp.acknowledged) == ("90/59", "medium", True)
    pulse = value_numeric(Parameter.PULSE_RATE, "Pulse /min", values, NOW, 30, None)
    assert pulse.priority is None  # no alarm: plain
    html = tile_html(_tile([shown, bp, pulse]), NOW - timedelta(minutes=30), NOW, 15, AXES, 30)
    assert 'class="wb-num wb-k-spo2 wb-p-high wb-unack"' in html
    assert 'class="wb-num wb-k-systolic wb-p-medium wb-ack"' in html
    assert 'class="wb-num wb-k-pulse_rate"' in html
    # Two alarms on one parameter: the one waiting for acknowledgement colours it.
    waiting = view(5, "medium", evidence={"parameter": "spo2"})
    seen = view(6, "high", acknowledged=True, evidence={"parameter": "spo2"})
    assert alarms_by_numeric([seen, waiting], frozenset())["spo2"] == waiting


def test_stale_and_missing_values_are_never_shown_as_current():
    values = {
        Parameter.SPO2: latest(Parameter.SPO2, 95, 190),
        Parameter.PULSE_RATE: latest(Parameter.PULSE_RATE, 70, 29),
        Parameter.RR: latest(Parameter.RR, 14, 600, source="manual"),
        Parameter.SYSTOLIC: latest(Parameter.SYSTOLIC, 120, 1800),
    }
    stale = value_numeric(Parameter.SPO2, "SpO2 %", values, NOW, 30, None)
    assert (stale.text, stale.detail, stale.stale) == ("STALE", "was 95, 3 min", True)
    fresh = value_numeric(Parameter.PULSE_RATE, "Pulse /min", values, NOW, 30, None)
    assert (fresh.text, fresh.detail, fresh.stale) == ("70", "29 s ago", False)
    # A nurse's value is not streamed: it keeps its age, never STALE.
    rr = value_numeric(Parameter.RR, "RR /min", values, NOW, 30, None)
    assert (rr.text, rr.detail) == ("14", "obs 10 min")
    missing = value_numeric(Parameter.RR, "RR /min", {}, NOW, 30, None)
    assert (missing.text, missing.missing) == (MISSING, True)
    # A systolic without its diastolic: the diastolic is missing, never invented.
    assert bp_numeric(values, NOW, None).text == f"120/{MISSING}"
    assert bp_numeric({}, NOW, None).text == MISSING
    assert news2_numeric(None, None, False, NOW, None).text == MISSING
    assert news2_numeric(None, None, True, NOW, None).detail == "not yet scored"
    scored = news2_numeric(5, NOW - timedelta(minutes=7), False, NOW, None)
    assert (scored.text, scored.detail) == ("5", "obs 7 min")
    tile = _tile([stale, fresh, rr, missing])
    assert tile.stale and tile.state == "stale"
    html = tile_html(tile, NOW - timedelta(minutes=30), NOW, 15, AXES, 30)
    assert "None" not in html and ">STALE<" in html and f">{MISSING}<" in html


def test_inop_line_is_the_device_technical_alarm_not_the_observation_round():
    lost = view(
        1,
        "low",
        rule="device_lost",
        kind="technical",
        raised_s=40,
        message="Monitor link lost: no readings from the oximeter. Check the device.",
    )
    overdue = view(
        2,
        "medium",
        rule="obs_overdue",
        kind="technical",
        message="Observation set overdue. Record a full set of observations.",
    )
    inop = inop_of([overdue, lost], NOW, frozenset({"obs_overdue"}))
    assert inop is not None and (inop.headline, inop.age) == ("Monitor link lost", "40 s")
    assert inop_of([overdue], NOW, frozenset({"obs_overdue"})) is None


def test_urgency_order_then_natural_bed_order():
    calm = [_tile([], bed=b, trial_id=i) for i, b in enumerate(["D10", "D3", None, "D1"])]
    high_seen = _tile([], bed="D9", trial_id=10, alarms=(view(1, "high", acknowledged=True),))
    low_waiting = _tile([], bed="D8", trial_id=11, alarms=(view(2, "low"),))
    overdue = _tile([], bed="D7", trial_id=12, overdue=True)
    ordered = ward_order([*calm, high_seen, overdue, low_waiting])
    assert [t.bed for t in ordered] == ["D8", "D9", "D7", "D1", "D3", "D10", None]


def test_sparkline_leaves_gaps_where_no_reading_came():
    start = NOW - timedelta(minutes=30)
    run = [TrendBucket(start + timedelta(seconds=15 * i), 95, 97, 15) for i in range(4)]
    later = [TrendBucket(start + timedelta(seconds=15 * i), 86, 90, 15) for i in (20, 21)]
    lone = [TrendBucket(start + timedelta(seconds=15 * 40), 99, 99, 1)]
    svg = _svg(sparkline(run + later + lone, start, NOW, 15, (80, 100), "#8ab4f8"))
    assert svg.count("<polygon") == 2 and svg.count("<line") == 1  # three runs, not joined
    assert "fill='#8ab4f8'" in svg
    assert "<polygon" not in _svg(sparkline([], start, NOW, 15, (80, 100), "#fff"))


def test_user_text_is_escaped():
    tile = _tile([], bed="<b>D1</b>", family="O'Neil<script>")
    html = tile_html(tile, NOW - timedelta(minutes=30), NOW, 15, AXES, 30)
    assert "<script>" not in html and "<b>D1</b>" not in html
    assert "&lt;b&gt;D1&lt;/b&gt;" in html and "O&#x27;NEIL&lt;SCRIPT&gt;" in html


AXES = {Parameter.SPO2: (80.0, 100.0), Parameter.PULSE_RATE: (40.0, 140.0)}


def _svg(image: str) -> str:
    """The SVG text of a sparkline image (a data address)."""
    from urllib.parse import unquote

    return unquote(image.split("data:image/svg+xml,")[1].rstrip('">'))


def _tile(
    numerics: list[Any],
    *,
    bed: str | None = "D1",
    trial_id: int = 1,
    alarms: tuple[AlarmView, ...] = (),
    overdue: bool = False,
    family: str = "Jones",
) -> BedTile:
    from observations.views import PatientView

    patient = PatientView(
        id=1,
        nhs_number="9434765919",
        hospital_number="H77",
        family_name=family,
        given_name="Sam",
        date_of_birth=datetime(1980, 1, 1).date(),
    )
    return BedTile(
        trial_id=trial_id,
        bed=bed,
        patient=patient,
        numerics=tuple(numerics),
        banner=banner_of(list(alarms), NOW),
        inop=None,
        devices="Oximeter: connected",
        due="Obs due",
        overdue=overdue,
        window=None,
        alarms=alarms,
    )


# ----- the page ---------------------------------------------------------------------------------
def page(actor: Actor) -> AppTest:
    """The ward overview as the app runs it, at its address through dashboard.py, whose
    navigation the tiles' links name."""
    return open_at("ward", actor)


def tiles(at: AppTest) -> list[str]:
    return [e.proto.body for e in at.get("html") if 'class="wb ' in e.proto.body]


def bed_of(tile: str) -> str:
    match = re.search(r'data-bed="([^"]*)"', tile)
    assert match is not None
    return match.group(1)


def numeric(tile: str, key: str) -> tuple[str, str, str]:
    """(classes, value, detail) of one numeric of a tile."""
    match = re.search(
        rf'<div class="(wb-num wb-k-{key}[^"]*)"[^>]*>.*?data-value="([^"]*)".*?'
        r'<div class="wb-age">(.*?)</div>',
        tile,
    )
    assert match is not None, key
    return match.group(1), match.group(2), re.sub(r"<[^>]+>", "", match.group(3))


def alarm(
    record: TrialRecord,
    trial_id: int,
    rule: str,
    priority: Priority,
    message: str,
    at: datetime,
    evidence: dict[str, Any],
) -> int:
    record.alarms.record_events(
        record.users.service_actor(),
        [
            AlarmEventIn(
                trial_id=trial_id,
                rule_id=rule,
                event=AlarmEventType.RAISED,
                at=at,
                priority=priority,
                kind=AlarmKind.PHYSIOLOGICAL,
                message=message,
                evidence=evidence,
                rule_set_version="test",
            )
        ],
    )
    return next(a.id for a in record.alarms.active(trial_id) if a.rule_id == rule)


def test_empty_ward_says_so(record: TrialRecord, people: People):
    beat(record)
    at = page(people.nurse).run()
    assert not at.exception
    assert at.title[0].value == "Ward overview"
    assert any("No trial is in monitoring" in i.value for i in at.info)
    assert tiles(at) == []


def test_ward_page_orders_colours_and_ages_every_bed(record: TrialRecord, people: People):
    numbers = [
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
    now = record.store.now()
    trials = {}
    for index, nhs in enumerate(numbers):
        bed = [10, 3, 1, 16, 2, 7, 12, 5, 9, 14, 4, 11, 6, 13, 8, 15][index]
        trial = monitoring_trial(
            record,
            people,
            nhs=nhs,
            mrn=f"M{index}",
            bed=f"D{bed}",
            family=f"Family{bed}",
            device=None,
            minutes_ago=10,
        )
        trials[bed] = trial
        spo2 = 86 if bed == 5 else 96
        age = 95 if bed == 14 else 2  # D14's oximeter went quiet
        add_vitals(
            record,
            trial.id,
            now - timedelta(seconds=age),
            spo2,
            70,
            device=f"serial:/dev/ttyITB-D{bed}",
        )
        judge_as_the_monitor(record, trial.id)
    alarm(
        record,
        trials[5].id,
        "spo2_low",
        Priority.HIGH,
        "Severe desaturation: SpO2 86 %",
        now - timedelta(minutes=2),
        {"parameter": "spo2", "value": 86},
    )
    seen = alarm(
        record,
        trials[7].id,
        "pulse_low",
        Priority.HIGH,
        "Severe bradycardia: pulse 38 /min",
        now - timedelta(minutes=6),
        {"parameter": "pulse_rate", "value": 38},
    )
    record.alarms.acknowledge(people.nurse, seen, "Doctor at the bedside")
    alarm(
        record,
        trials[7].id,
        "spo2_low",
        Priority.HIGH,
        "Critical desaturation: SpO2 84 %",
        now - timedelta(seconds=50),
        {"parameter": "spo2", "value": 84},
    )
    beat(record)
    at = page(people.nurse).run()
    assert not at.exception
    shown = tiles(at)
    order = [bed_of(t) for t in shown]
    # Unacknowledged high, then stale, then calm; each group in natural bed order.
    assert order == [
        "D5",
        "D7",
        "D14",
        "D1",
        "D2",
        "D3",
        "D4",
        "D6",
        "D8",
        "D9",
        "D10",
        "D11",
        "D12",
        "D13",
        "D15",
        "D16",
    ]
    by_bed = dict(zip(order, shown, strict=True))
    d7 = by_bed["D7"]
    assert re.search(r'wb-banner wb-p-high wb-unack" data-acknowledged="false"', d7)
    assert "<b>Critical desaturation</b>" in d7 and "+1 more" in d7
    classes, value, detail = numeric(by_bed["D5"], "spo2")
    assert (classes, value) == ("wb-num wb-k-spo2 wb-p-high wb-unack", "86")
    assert re.fullmatch(r"\d s ago", detail)  # written 2 s before the page ran
    assert numeric(by_bed["D7"], "pulse_rate")[0] == "wb-num wb-k-pulse_rate wb-p-high wb-ack"
    assert numeric(by_bed["D14"], "spo2") == ("wb-num wb-k-spo2 wb-stale", "STALE", "was 96, 1 min")
    assert numeric(by_bed["D1"], "rr") == ("wb-num wb-k-rr wb-missing", MISSING, "none yet")
    assert "FAMILY7, Sam" in d7 and "NHS 900 000 0041" in d7  # two identifiers
    links = [e.proto.label for e in at.get("page_link")]
    assert len([label for label in links if label.startswith("Monitor of bed D")]) == 16
    assert any("16 trial(s) in monitoring" in c.value for c in at.caption)


def test_a_tile_opens_its_trial_monitor(
    record: TrialRecord, people: People, monkeypatch: pytest.MonkeyPatch
):
    """A tile is a link to the trial monitor naming its trial: the browser changes page (never
    the server from inside the timed refresh: hazard H-15), and the trial monitor opens the
    trial the address names, once."""
    d10 = monitoring_trial(record, people, bed="D10", device=None)
    d3 = monitoring_trial(
        record, people, nhs="9000000009", mrn="H88", family="Second", bed="D3", device=None
    )
    beat(record)
    at = AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=60)
    at.session_state[ACTOR_KEY] = people.nurse
    at.run()  # the ward overview is the first page of a nurse
    assert not at.exception
    # D3 comes first (natural order), each tile with its link.
    links = [e.proto for e in at.get("page_link")]
    assert [link.label for link in links] == ["Monitor of bed D3", "Monitor of bed D10"]
    assert [link.query_string for link in links] == [f"trial={d3.id}", f"trial={d10.id}"]
    assert not [b for b in at.button if "onitor" in b.label]  # no server-side switch
    # Opened with ?trial=D10's id: the trial monitor shows D10, then forgets the address.
    monitor = open_at("trial_monitor", people.nurse)
    monitor.query_params["trial"] = str(d10.id)
    monitor.run()
    assert not monitor.exception
    assert monitor.selectbox(key="monitor-trial-choice").value == d10.id
    assert "trial" not in monitor.query_params


def test_ward_trend_asks_for_the_newest_buckets_then_the_whole_window(
    record: TrialRecord, people: People
):
    from screens.display import load_display_settings
    from screens.ward_beds import FULL_TREND_EVERY_SECONDS, WardTrends, trend_window

    settings = load_display_settings()
    trial = monitoring_trial(record, people, bed="D1", device=None)
    now = record.store.now()
    for seconds in range(600, 0, -1):
        add_vitals(record, trial.id, now - timedelta(seconds=seconds), 96, 70, device="ser:o")
    start, end = trend_window(now, settings)
    trends = WardTrends()
    ids = (trial.id,)

    def lowest(clock: float) -> float:
        return min(
            b.low
            for b in trends.get(record, ids, start, end, settings, clock)[trial.id][Parameter.SPO2]
        )

    assert lowest(0.0) == 96
    # A dip now, and a late reading of five minutes ago (a database that was away).
    add_vitals(record, trial.id, now, 88, 70, device="ser:o")
    add_vitals(record, trial.id, now - timedelta(seconds=299.5), 80, 70, device="ser:o")
    assert lowest(1.0) == 96  # held: asked again only after chart_refresh_seconds
    assert lowest(settings.chart_refresh_seconds) == 88  # the newest buckets
    assert lowest(FULL_TREND_EVERY_SECONDS) == 80  # the whole window, once a minute
    with_gap = trends.get(record, ids, start, end, settings, FULL_TREND_EVERY_SECONDS)
    starts = [b.start for b in with_gap[trial.id][Parameter.SPO2]]
    assert starts == sorted(starts) and len(starts) == len(set(starts))


def test_admin_is_turned_away(record: TrialRecord, people: People):
    monitoring_trial(record, people, bed="D7", device=None)
    at = open_at("ward", people.admin).run()  # the ward's address, typed by an administrator
    assert not at.exception
    assert at.title[0].value == "Choose a page"
    assert (not tiles(at) and not at.get("page_link")) or all(
        "Monitor of" not in link.proto.label for link in at.get("page_link")
    )
