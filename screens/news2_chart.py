"""The NEWS2 observation chart in the layout of the Royal College of Physicians' chart (RCP 2017).

One row per NEWS2 parameter in the RCP order (respiration, SpO2 on the trial's scale, air or
oxygen, systolic BP, pulse, consciousness, temperature) and the NEWS2 total; one column per
recorded set, oldest left and newest right. Each cell shows the charted value and is shaded in
the chart's colour for that parameter's score (3 red, 2 orange, 1 yellow, 0 white); the score is
also written small in the cell, so the chart does not rely on colour alone.

Per-parameter scores come from rules/news2.py's functions (no threshold is written here); the
total is the monitor's stored judgement of the set, never worked out on the page (a set not yet
judged says so). Where the monitor scored SpO2 or pulse from the oximeter because the nurse left
it out, the cell shows that value marked "device", since the total counts it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import streamlit as st

from observations.set_scores import SetScoreView
from observations.views import ObservationSetView
from observations.ward_time import format_ward, to_ward
from rules.news2 import (
    News2Band,
    score_consciousness,
    score_oxygen,
    score_pulse,
    score_rr,
    score_sbp,
    score_spo2,
    score_temp,
    whole_number,
)
from screens.display import load_display_settings
from screens.markdown_text import html_text

MISSING = "—"
# The RCP 2017 chart's shading of a parameter's score (display.yaml, with its rationale).
SCORE_COLOURS: dict[int, str] = load_display_settings().news2_score_colours
# The total row takes the colour of the response its band asks for (RCP 2017 clinical
# response): >= 7 high, 5-6 medium, a single 3 low-medium, otherwise low.
BAND_COLOURS: dict[str, str] = {
    News2Band.HIGH.value: SCORE_COLOURS[3],
    News2Band.MEDIUM.value: SCORE_COLOURS[2],
    News2Band.LOW_MEDIUM.value: SCORE_COLOURS[1],
    News2Band.LOW.value: SCORE_COLOURS[0],
}
UNSCORED_COLOUR = "#eeeeee"
BORDER = "1px solid #9e9e9e"
ROW_HEAD_STYLE = (
    f"position:sticky;left:0;z-index:1;background:#f5f5f5;border:{BORDER};padding:4px 8px;"
    "text-align:left;white-space:nowrap;font-weight:600;min-width:11em"
)
CELL_STYLE = (
    f"border:{BORDER};padding:4px 6px;text-align:center;white-space:nowrap;min-width:4.2em;"
    "color:#111"
)


@dataclass(frozen=True)
class Cell:
    """One cell of the chart: the text shown, its score (None: not scored) and a note."""

    text: str
    score: int | None = None
    note: str = ""
    colour: str | None = None
    title: str = ""

    @property
    def background(self) -> str:
        if self.colour is not None:
            return self.colour
        return SCORE_COLOURS[self.score] if self.score is not None else "#ffffff"


def _scored(value: float | None, scorer: Callable[[float], int]) -> int | None:
    return None if value is None else scorer(value)


def _streamed(
    set_value: int | None, score: SetScoreView | None, which: str
) -> tuple[float | None, str]:
    """The set's SpO2 or pulse, or the oximeter's value the monitor scored in its place."""
    if set_value is not None:
        return set_value, ""
    if score is not None and getattr(score, f"{which}_from") == "device":
        value = getattr(score, which)
        if value is not None:
            return value, "device"
    return None, ""


def _spo2_cell(obs: ObservationSetView, score: SetScoreView | None, scale: int) -> Cell:
    value, note = _streamed(obs.spo2, score, "spo2")
    if value is None:
        return Cell(MISSING)
    # Scale 2 scores high saturations only on oxygen: without air/oxygen it cannot be scored.
    if scale == 2 and obs.on_oxygen is None:
        return Cell(
            f"{whole_number(value)}",
            None,
            note,
            UNSCORED_COLOUR,
            "not scored on scale 2 without air or oxygen",
        )
    return Cell(f"{whole_number(value)}", score_spo2(value, scale, bool(obs.on_oxygen)), note)


def _total_cell(score: SetScoreView | None) -> Cell:
    if score is None:
        return Cell("not yet scored", None, "", UNSCORED_COLOUR, "not yet scored by the monitor")
    if score.total is None:
        return Cell("incomplete", None, "", UNSCORED_COLOUR, "a partial set has no NEWS2 total")
    return Cell(
        str(score.total),
        None,
        score.band,
        BAND_COLOURS.get(score.band, "#ffffff"),
        f"NEWS2 {score.total} ({score.band}), as the monitor scored it",
    )


ROWS: tuple[str, ...] = (
    "Respiration rate /min",
    "SpO2 %",
    "Air or oxygen",
    "Systolic BP mmHg",
    "Pulse /min",
    "Consciousness (ACVPU)",
    "Temperature °C",
    "NEWS2 total",
)


def chart_cells(
    obs: ObservationSetView, score: SetScoreView | None, spo2_scale: int
) -> dict[str, Cell]:
    """The cells of one set's column, by row name."""
    scale = score.spo2_scale if score is not None else spo2_scale
    pulse, pulse_note = _streamed(obs.pulse_rate, score, "pulse")
    bp = MISSING
    if obs.systolic is not None:
        bp = f"{obs.systolic}/{obs.diastolic}" if obs.diastolic is not None else f"{obs.systolic}"
    oxygen = MISSING if obs.on_oxygen is None else "O₂" if obs.on_oxygen else "Air"
    level = obs.consciousness
    return {
        "Respiration rate /min": Cell(
            MISSING if obs.rr is None else str(obs.rr), _scored(obs.rr, score_rr)
        ),
        "SpO2 %": _spo2_cell(obs, score, scale),
        "Air or oxygen": Cell(
            oxygen, None if obs.on_oxygen is None else score_oxygen(obs.on_oxygen)
        ),
        "Systolic BP mmHg": Cell(bp, _scored(obs.systolic, score_sbp)),
        "Pulse /min": Cell(
            MISSING if pulse is None else str(whole_number(pulse)),
            _scored(pulse, score_pulse),
            pulse_note,
        ),
        "Consciousness (ACVPU)": Cell(
            MISSING if level is None else level[:1].upper(),
            None if level is None else score_consciousness(level),
        ),
        "Temperature °C": Cell(
            MISSING if obs.temp is None else f"{obs.temp:.1f}", _scored(obs.temp, score_temp)
        ),
        "NEWS2 total": _total_cell(score),
    }


def _cell_html(cell: Cell, row: str) -> str:
    mark = ""
    if cell.score is not None:
        mark = (
            '<span style="font-size:0.7em;color:#333;vertical-align:super;margin-left:2px">'
            f"{cell.score}</span>"
        )
    note = ""
    if cell.note:
        note = f'<div style="font-size:0.7em;color:#333">{html_text(cell.note)}</div>'
    size = "font-size:0.8em;" if cell.text in ("not yet scored", "incomplete") else ""
    weight = "font-weight:700;" if row == "NEWS2 total" else ""
    title = cell.title or (f"score {cell.score}" if cell.score is not None else "")
    return (
        f'<td data-row="{html_text(row)}" data-score="'
        f'{"" if cell.score is None else cell.score}" title="{html_text(title)}" '
        f'style="{CELL_STYLE};background:{cell.background};{size}{weight}">'
        f"{html_text(cell.text)}{mark}{note}</td>"
    )


def _header_html(sets: Sequence[ObservationSetView], zone: ZoneInfo) -> str:
    heads = []
    last_day = None
    for obs in sets:
        local = to_ward(obs.measured_at, zone)
        day = local.strftime("%d %b %Y")
        shown_day = day if day != last_day else ""
        last_day = day
        corrected = (
            '<div style="font-size:0.7em;color:#555">corrected</div>'
            if obs.supersedes_id is not None
            else ""
        )
        heads.append(
            f'<th title="measured {html_text(format_ward(obs.measured_at, zone))}" '
            f'style="border:{BORDER};padding:4px 6px;background:#f5f5f5;white-space:nowrap;'
            f'font-weight:600">'
            f'<div style="font-size:0.7em;color:#555">{html_text(shown_day) or "&nbsp;"}</div>'
            f"{html_text(local.strftime('%H:%M'))}"
            f'<div style="font-size:0.7em;color:#555">{html_text(local.strftime("%Z"))}</div>'
            f"{corrected}</th>"
        )
    return "".join(heads)


def legend_html() -> str:
    swatches = "".join(
        f'<span style="display:inline-block;border:{BORDER};background:{SCORE_COLOURS[s]};'
        f'padding:0 8px;margin:0 4px 0 8px">{s}</span>'
        for s in (3, 2, 1, 0)
    )
    return (
        '<div style="font-size:0.85em;color:#333;margin-top:6px">'
        f"Score of each parameter (RCP NEWS2 chart colours):{swatches}"
        f" · {MISSING} not recorded · <i>device</i>: the oximeter's value the monitor scored "
        "because the set left it out · the total is the monitor's NEWS2 of the set</div>"
    )


def news2_chart_html(
    sets: Sequence[ObservationSetView],
    scores: Mapping[int, SetScoreView],
    *,
    spo2_scale: int,
    zone: ZoneInfo,
) -> str:
    """The chart as one escaped HTML table (in a box that scrolls sideways when the sets do
    not fit), for ``st.html``. ``sets`` are the trial's current sets, ``scores`` the monitor's
    stored NEWS2 of each by set id."""
    ordered = sorted(sets, key=lambda s: (s.measured_at, s.id))
    columns = [chart_cells(obs, scores.get(obs.id), spo2_scale) for obs in ordered]
    scales = {
        s.spo2_scale for s in scores.values() if s.observation_set_id in {o.id for o in ordered}
    } or {spo2_scale}
    scale_text = "/".join(str(s) for s in sorted(scales))
    rows = []
    for row in ROWS:
        label = f"SpO2 % (scale {scale_text})" if row == "SpO2 %" else row
        top = "border-top:3px solid #555;" if row == "NEWS2 total" else ""
        cells = "".join(_cell_html(column[row], row) for column in columns)
        rows.append(
            f'<tr><th scope="row" style="{ROW_HEAD_STYLE};{top}">{html_text(label)}</th>'
            f"{cells}</tr>"
        )
    corner = f'<th style="{ROW_HEAD_STYLE}">Measured (ward time)</th>'
    return (
        '<div class="news2-chart" style="overflow-x:auto;max-width:100%;'
        'padding-bottom:4px">'
        '<table style="border-collapse:collapse;font-size:0.9rem;line-height:1.25">'
        f"<thead><tr>{corner}{_header_html(ordered, zone)}</tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table></div>{legend_html()}"
    )


def show_news2_chart(
    sets: Sequence[ObservationSetView],
    scores: Mapping[int, SetScoreView],
    *,
    spo2_scale: int,
    zone: ZoneInfo,
) -> None:
    """Draw the chart (for the Observations and trial monitor pages)."""
    if not sets:
        st.caption("No observation sets recorded yet: the chart starts with the first one.")
        return
    st.html(news2_chart_html(sets, scores, spo2_scale=spo2_scale, zone=zone))
