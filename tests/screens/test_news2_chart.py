"""The RCP NEWS2 chart: one row per parameter, one column per set (newest right), each cell the
value shaded by its score from rules/news2.py, and the total as the monitor stored it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from typing import Any
from zoneinfo import ZoneInfo

from observations.set_scores import SetScoreView
from observations.views import ObservationSetView
from screens.news2_chart import ROWS, SCORE_COLOURS, news2_chart_html

ZONE = ZoneInfo("Europe/London")
START = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)


class Grid(HTMLParser):
    """The chart's table as rows of cells: (text, data-score, background colour)."""

    def __init__(self) -> None:
        super().__init__()
        self.heads: list[str] = []
        self.rows: dict[str, list[tuple[str, str, str]]] = {}
        self._row: str | None = None
        self._cell: dict[str, str] | None = None
        self._text: list[str] = []
        self._in_head = False
        self.scrolls = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {k: v or "" for k, v in attrs}
        if tag == "div" and "overflow-x:auto" in attributes.get("style", ""):
            self.scrolls = True
        if tag == "thead":
            self._in_head = True
        if tag in ("td", "th"):
            self._cell = attributes
            self._text = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "thead":
            self._in_head = False
        if tag in ("td", "th") and self._cell is not None:
            text = " ".join(" ".join(self._text).split())
            if self._in_head:
                self.heads.append(text)
            elif tag == "th":
                self._row = text
                self.rows[text] = []
            else:
                assert self._row is not None
                style = self._cell.get("style", "")
                background = style.split("background:")[-1].split(";")[0]
                self.rows[self._row].append((text, self._cell.get("data-score", ""), background))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._text.append(data)


def obs(set_id: int, minutes: int, **values: Any) -> ObservationSetView:
    fields: dict[str, Any] = {name: None for name in ObservationSetView.model_fields}
    fields.update(
        id=set_id,
        trial_id=1,
        measured_at=START + timedelta(minutes=minutes),
        entered_at=START + timedelta(minutes=minutes),
        entered_by=1,
    )
    fields.update(values)
    return ObservationSetView(**fields)


def stored(
    observation: ObservationSetView, total: int | None, band: str, scale: int = 1, **extra: Any
) -> SetScoreView:
    fields: dict[str, Any] = dict(
        id=observation.id,
        trial_id=1,
        observation_set_id=observation.id,
        measured_at=observation.measured_at,
        total=total,
        band=band,
        scores={},
        missing=(),
        spo2_scale=scale,
        spo2=None,
        spo2_from=None,
        pulse=None,
        pulse_from=None,
        rule_set_version="test",
        judged_at=observation.measured_at,
        recorded_at=observation.measured_at,
    )
    fields.update(extra)
    return SetScoreView(**fields)


def grid(sets: list[ObservationSetView], scores: dict[int, SetScoreView], scale: int = 1) -> Grid:
    parsed = Grid()
    parsed.feed(news2_chart_html(sets, scores, spo2_scale=scale, zone=ZONE))
    return parsed


FULL = dict(
    rr=25,
    spo2=97,
    on_oxygen=False,
    systolic=120,
    diastolic=70,
    pulse_rate=80,
    consciousness="A",
    temp=36.8,
)


def test_rr_25_is_shaded_as_a_3_and_every_row_is_there():
    first = obs(1, 0, **FULL)
    chart = grid([first], {1: stored(first, 3, "low-medium")})
    assert list(chart.rows) == [
        "Respiration rate /min",
        "SpO2 % (scale 1)",
        "Air or oxygen",
        "Systolic BP mmHg",
        "Pulse /min",
        "Consciousness (ACVPU)",
        "Temperature °C",
        "NEWS2 total",
    ]
    assert len(ROWS) == 8
    assert chart.rows["Respiration rate /min"] == [("25 3", "3", SCORE_COLOURS[3])]
    assert chart.rows["SpO2 % (scale 1)"] == [("97 0", "0", SCORE_COLOURS[0])]
    assert chart.rows["Air or oxygen"] == [("Air 0", "0", SCORE_COLOURS[0])]
    assert chart.rows["Systolic BP mmHg"] == [("120/70 0", "0", SCORE_COLOURS[0])]
    assert chart.rows["Consciousness (ACVPU)"] == [("A 0", "0", SCORE_COLOURS[0])]
    assert chart.rows["Temperature °C"] == [("36.8 0", "0", SCORE_COLOURS[0])]
    # The total is the monitor's, coloured by its band (a single 3: low-medium).
    [(text, _, colour)] = chart.rows["NEWS2 total"]
    assert text.startswith("3") and "low-medium" in text and colour == SCORE_COLOURS[1]


def test_each_band_has_its_rcp_colour():
    sets = [
        obs(
            1,
            0,
            rr=22,
            spo2=93,
            on_oxygen=True,
            systolic=105,
            pulse_rate=45,
            temp=38.5,
            consciousness="V",
        ),
        obs(2, 15, rr=10, spo2=95, systolic=95, pulse_rate=120, temp=39.5),
    ]
    chart = grid(sets, {})
    assert [c[1:] for c in chart.rows["Respiration rate /min"]] == [
        ("2", SCORE_COLOURS[2]),
        ("1", SCORE_COLOURS[1]),
    ]
    assert [c[1] for c in chart.rows["SpO2 % (scale 1)"]] == ["2", "1"]
    assert chart.rows["Air or oxygen"][0][:2] == ("O₂ 2", "2")
    assert [c[1] for c in chart.rows["Systolic BP mmHg"]] == ["1", "2"]
    assert [c[1] for c in chart.rows["Pulse /min"]] == ["1", "2"]
    assert chart.rows["Consciousness (ACVPU)"][0][:2] == ("V 3", "3")
    assert [c[1] for c in chart.rows["Temperature °C"]] == ["1", "2"]


def test_missing_values_are_a_dash_never_none_nor_a_score():
    partial = obs(1, 0, rr=16)
    html = news2_chart_html([partial], {}, spo2_scale=1, zone=ZONE)
    chart = grid([partial], {})
    assert "None" not in html
    for row in ROWS[1:-1]:
        name = "SpO2 % (scale 1)" if row == "SpO2 %" else row
        assert chart.rows[name] == [("—", "", SCORE_COLOURS[0])], name
    # Not judged yet: said so, no number worked out here.
    assert chart.rows["NEWS2 total"][0][0] == "not yet scored"
    incomplete = grid([partial], {1: stored(partial, None, "incomplete", missing=("spo2",))})
    assert incomplete.rows["NEWS2 total"][0][0] == "incomplete"


def test_sets_run_oldest_left_newest_right_in_ward_time():
    later, earlier = obs(2, 30, rr=12), obs(1, 0, rr=30)
    chart = grid([later, earlier], {})
    assert [c[0] for c in chart.rows["Respiration rate /min"]] == ["30 3", "12 0"]
    # November: the ward's clock is GMT; the day is shown once, above its first set.
    assert chart.heads[1] == "21 Nov 2026 10:00 GMT"
    assert chart.heads[2] == "10:30 GMT"


def test_scale_2_and_a_value_the_monitor_took_from_the_device():
    on_oxygen = obs(1, 0, rr=18, on_oxygen=True, pulse_rate=None)
    score = stored(
        on_oxygen,
        5,
        "medium",
        scale=2,
        spo2=97.0,
        spo2_from="device",
        pulse=132.0,
        pulse_from="device",
    )
    chart = grid([on_oxygen], {1: score}, scale=2)
    # 97 % on oxygen scores 3 on scale 2 (risk of hypercapnia); it came from the oximeter.
    assert chart.rows["SpO2 % (scale 2)"] == [("97 3 device", "3", SCORE_COLOURS[3])]
    assert chart.rows["Pulse /min"] == [("132 3 device", "3", SCORE_COLOURS[3])]
    # Scale 2 without air/oxygen cannot be scored: the value shows, unshaded by a score.
    unknown = obs(2, 10, spo2=95)
    assert grid([unknown], {}, scale=2).rows["SpO2 % (scale 2)"][0][:2] == ("95", "")


def test_many_sets_scroll_sideways_and_corrections_are_marked():
    sets = [obs(i, 15 * i, rr=16) for i in range(1, 30)]
    sets.append(obs(40, 15 * 31, rr=20, supersedes_id=3))
    chart = grid(sets, {})
    assert chart.scrolls
    assert len(chart.rows["Respiration rate /min"]) == 30
    assert chart.heads[-1].endswith("corrected")
