"""The trial timeline: plotly figure and the min/max-preserving downsampling it draws from.

Display only: values come from the record's timeline, NEWS2 as the monitor scored each set.
``trial_timeline_figure`` is everything the live monitor does on the server for one chart
refresh, so the page and ``python -m benchmarks ui`` measure the same code.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from observations.record import TrialRecord
from observations.views import TrialView
from screens.display import DisplaySettings
from screens.markdown_text import html_text
from screens.nurse_view import set_scores
from vocabulary import (
    LABELS,
    SIDE_EFFECT_LABELS,
    UNITS,
    AlarmEventType,
    Parameter,
    SideEffect,
    TrialStatus,
)

# One row per panel: (title, parameters drawn in it).
PANELS: tuple[tuple[str, tuple[Parameter, ...]], ...] = (
    ("SpO2 %", (Parameter.SPO2,)),
    ("Pulse /min", (Parameter.PULSE_RATE,)),
    ("Blood pressure mmHg", (Parameter.SYSTOLIC, Parameter.DIASTOLIC)),
    ("Respiration /min", (Parameter.RR,)),
    ("NEWS2", ()),
)
CHART_PARAMETERS: tuple[Parameter, ...] = tuple(p for _, ps in PANELS for p in ps)
# Each panel's display range, widened when a value falls outside: wide enough that ordinary
# beat-to-beat noise looks flat and a real fall stands out. Display only, not thresholds.
PANEL_RANGES: tuple[tuple[float, float], ...] = (
    (80, 101),  # SpO2 %
    (40, 130),  # pulse /min
    (40, 180),  # BP mmHg
    (0, 30),  # respiration /min
    (-0.5, 20),  # NEWS2
)
COLOURS: dict[Parameter, str] = {
    Parameter.SPO2: "#1f77b4",
    Parameter.PULSE_RATE: "#2ca02c",
    Parameter.SYSTOLIC: "#9467bd",
    Parameter.DIASTOLIC: "#8c564b",
    Parameter.RR: "#17becf",
}
PRIORITY_COLOURS = {"high": "#d62728", "medium": "#ff7f0e", "low": "#bcbd22"}


def downsample_min_max(frame: pd.DataFrame, buckets: int) -> pd.DataFrame:
    """At most ~2 points per time bucket: the lowest and the highest value, in time order.

    A short dip (a 15 s desaturation in a 6 h view) survives because the bucket minimum is
    kept. A bucket holding a missing value (a flagged reading, probe off) also keeps one
    missing row, so the gap is still drawn as a gap. ``frame`` has columns time and value.
    """
    if len(frame) <= 2 * buckets or buckets < 1:
        return frame
    times = frame["time"].astype("int64").to_numpy()
    edges = np.linspace(times.min(), times.max(), buckets + 1)
    bucket = np.clip(np.searchsorted(edges, times, side="right") - 1, 0, buckets - 1)
    work = frame.assign(_bucket=bucket, _row=np.arange(len(frame)))
    keep: list[int] = []
    valued = work[work["value"].notna()]
    if not valued.empty:
        grouped = valued.groupby("_bucket")["value"]
        keep.extend(valued.loc[grouped.idxmin(), "_row"].tolist())
        keep.extend(valued.loc[grouped.idxmax(), "_row"].tolist())
    missing = work[work["value"].isna()]
    if not missing.empty:
        keep.extend(missing.groupby("_bucket")["_row"].first().tolist())
    rows = sorted(set(keep))
    return frame.iloc[rows].reset_index(drop=True)


def with_gaps(frame: pd.DataFrame, gap_seconds: float) -> pd.DataFrame:
    """Insert a missing point wherever readings are further apart than ``gap_seconds``."""
    if len(frame) < 2:
        return frame
    step = frame["time"].diff().dt.total_seconds()
    breaks = frame.loc[step > gap_seconds, "time"]
    if breaks.empty:
        return frame
    holes = pd.DataFrame({"time": breaks - pd.Timedelta(milliseconds=1), "value": np.nan})
    return (
        pd.concat([frame[["time", "value"]], holes], ignore_index=True)
        .sort_values("time", kind="stable")
        .reset_index(drop=True)
    )


@dataclass(frozen=True)
class Marker:
    """Something that happened at a time: an alarm raised, a side effect recorded."""

    at: datetime
    label: str
    colour: str


@dataclass(frozen=True)
class News2Point:
    at: datetime
    total: int


@lru_cache(maxsize=1)
def _panel_layout() -> dict[str, Any]:
    """The five panels' axes and titles, built once: make_subplots is a third of a refresh."""
    layout: dict[str, Any] = make_subplots(
        rows=len(PANELS),
        cols=1,
        shared_xaxes=True,
        vertical_spacing=0.05,  # room for each panel's title between panels
        subplot_titles=[title for title, _ in PANELS],
        row_heights=[0.26, 0.2, 0.2, 0.17, 0.17],
    ).to_dict()["layout"]
    layout.pop("template", None)  # plotly adds its default again; validating a copy is slow
    for title in layout["annotations"]:  # at the left, clear of the lines they name
        title.update(x=0, xanchor="left", font={"size": 13, "color": "#333"})
    for row in range(1, len(PANELS) + 1):  # ward clock times; the date is in the page heading
        layout[f"xaxis{'' if row == 1 else row}"].update(tickformat="%H:%M", hoverformat="%H:%M:%S")
    return layout


def _axes(row: int) -> tuple[str, str]:
    """Plotly's axis names of panel ``row`` (1-based): ('x', 'y'), ('x2', 'y2'), ..."""
    suffix = "" if row == 1 else str(row)
    return f"x{suffix}", f"y{suffix}"


def _y_range(row: int, values: list[pd.Series]) -> list[float]:
    """The panel's display range, widened (never narrowed) to show every value."""
    low, high = PANEL_RANGES[row - 1]
    for series in values:
        if series.notna().any():
            if series.min() < low:
                low = float(series.min()) - 2
            if series.max() > high:
                high = float(series.max()) + 2
    return [low, high]


def timeline_figure(
    timeline: pd.DataFrame,
    *,
    injection_at: datetime | None,
    window_end: datetime | None,
    start: datetime,
    end: datetime,
    news2: Sequence[News2Point],
    alarms: Sequence[Marker],
    side_effects: Sequence[Marker],
    points_per_trace: int,
    gap_seconds: float,
) -> go.Figure:
    """SpO2, pulse, BP, RR and NEWS2 on one shared time axis (ward time).

    Built as plain data and validated once by go.Figure: adding traces, shapes and notes one
    by one through plotly's helpers cost several times the whole database query.
    """
    layout = copy.deepcopy(_panel_layout())
    buckets = max(1, points_per_trace // 2)
    traces: list[dict[str, Any]] = []
    shapes: list[dict[str, Any]] = []
    notes: list[dict[str, Any]] = []
    by_parameter = {name: rows for name, rows in timeline.groupby("parameter", sort=False)}
    for row, (title, parameters) in enumerate(PANELS, start=1):
        xaxis, yaxis = _axes(row)
        on_panel = {"xaxis": xaxis, "yaxis": yaxis}
        shown: list[pd.Series] = []
        # An empty trace across the axis: plotly draws no axis (ticks, grid, the bottom time
        # labels, the "no values" note) for a panel without a trace.
        traces.append(
            {
                "type": "scatter",
                **on_panel,
                "x": [start, end],
                "y": [None, None],
                "mode": "lines",
                "showlegend": False,
                "hoverinfo": "skip",
            }
        )
        present = any(p.value in by_parameter for p in parameters)
        if not present and not (title == "NEWS2" and news2):
            notes.append(
                {
                    "text": "no values recorded",
                    "showarrow": False,
                    "xref": f"{xaxis} domain",
                    "yref": f"{yaxis} domain",
                    "x": 0.5,
                    "y": 0.5,
                    "font": {"color": "#888"},
                }
            )
        for parameter in parameters:
            data = by_parameter.get(parameter.value)
            if data is None:
                continue
            label = LABELS[parameter]
            unit = UNITS[parameter].display
            device = data.loc[data["source"] == "device", ["time", "value"]]
            if not device.empty:
                is_bp = parameter in (Parameter.SYSTOLIC, Parameter.DIASTOLIC)
                if not is_bp:  # NIBP is drawn as points: there is no line to break
                    # Gaps are found at full resolution, before downsampling: the kept
                    # minima and maxima lie further apart than the gap time.
                    device = with_gaps(device, gap_seconds)
                device = downsample_min_max(device, buckets)
                shown.append(device["value"])
                traces.append(
                    {
                        "type": "scattergl",
                        **on_panel,
                        "x": device["time"].to_numpy(),
                        "y": device["value"].to_numpy(),
                        "mode": "markers" if is_bp else "lines",
                        "name": f"{label} (device)",
                        "line": {"color": COLOURS[parameter], "width": 1.5},
                        "marker": {"color": COLOURS[parameter], "size": 7},
                        "connectgaps": False,
                        "hovertemplate": f"%{{y:.0f}} {unit} (device)<extra>{label}</extra>",
                    }
                )
            manual = data.loc[data["source"] == "manual"]
            if not manual.empty:
                shown.append(manual["value"])
                traces.append(
                    {
                        "type": "scatter",
                        **on_panel,
                        "x": manual["time"].to_numpy(),
                        "y": manual["value"].to_numpy(),
                        "mode": "markers",
                        "name": f"{label} (entered by a nurse)",
                        "marker": {
                            "symbol": "diamond",
                            "size": 11,
                            "color": "white",
                            "line": {"color": COLOURS[parameter], "width": 2},
                        },
                        "hovertemplate": f"%{{y:.0f}} {unit} (entered)<extra>{label}</extra>",
                    }
                )
        if title == "NEWS2" and news2:
            traces.append(
                {
                    "type": "scatter",
                    **on_panel,
                    "x": [p.at for p in news2],
                    "y": [p.total for p in news2],
                    "mode": "markers+lines+text",
                    "text": [str(p.total) for p in news2],
                    "textposition": "top center",
                    "name": "NEWS2 (complete sets)",
                    "line": {"color": "#444", "dash": "dot"},
                    "marker": {"symbol": "square", "size": 9, "color": "#444"},
                }
            )
        layout[f"yaxis{'' if row == 1 else row}"]["range"] = _y_range(row, shown)
        # Every panel keeps its time axis even when empty.
        layout[f"xaxis{'' if row == 1 else row}"]["range"] = [start, end]
    # x on the first panel's axis (all panels share it), y across the whole plotting area.
    span = {"xref": "x", "yref": "paper", "y0": 0, "y1": 1}
    if injection_at is not None:
        shapes.append(
            {
                **span,
                "type": "rect",
                "x0": injection_at,
                "x1": window_end or end,
                "fillcolor": "#e8f1fb",
                "opacity": 0.6,
                "layer": "below",
                "line": {"width": 0},
            }
        )
        shapes.append(
            {
                **span,
                "type": "line",
                "x0": injection_at,
                "x1": injection_at,
                "line": {"color": "black", "width": 2},
            }
        )
        notes.append(
            {
                "x": injection_at,
                "y": 1.0,
                "xref": "x",
                "yref": "paper",
                "text": "Injection",
                "showarrow": False,
                "xanchor": "left",
                "yanchor": "bottom",
                "font": {"size": 12},
            }
        )
    for marker in alarms:
        shapes.append(
            {
                **span,
                "type": "line",
                "x0": marker.at,
                "x1": marker.at,
                "line": {"color": marker.colour, "width": 1, "dash": "dash"},
            }
        )
    traces += _marker_traces(alarms, "Alarm", "triangle-down", row=1)
    traces += _marker_traces(side_effects, "Side effect", "x", row=len(PANELS))
    layout.update(
        height=720,
        margin={"l": 40, "r": 10, "t": 40, "b": 30},
        legend={"orientation": "h", "y": -0.04},
        hovermode="x unified",
        uirevision="timeline",  # keep the nurse's zoom when the chart refreshes
        shapes=shapes,
        annotations=[*layout.get("annotations", []), *notes],
    )
    return go.Figure({"data": traces, "layout": layout})


def _marker_traces(
    markers: Sequence[Marker], name: str, symbol: str, row: int
) -> list[dict[str, Any]]:
    if not markers:
        return []
    xaxis, yaxis = _axes(row)
    # Alarms at the top of the SpO2 panel, side effects at the foot of the NEWS2 panel.
    level = PANEL_RANGES[row - 1][1] - 0.5 if row == 1 else 0.5
    return [
        {
            "type": "scatter",
            "xaxis": xaxis,
            "yaxis": yaxis,
            "x": [m.at for m in markers],
            "y": [level] * len(markers),
            "mode": "markers",
            "name": name,
            "text": [html_text(m.label) for m in markers],
            "hovertemplate": "%{text}<extra></extra>",
            "marker": {"symbol": symbol, "size": 12, "color": [m.colour for m in markers]},
        }
    ]


def _local(moment: datetime, zone: ZoneInfo) -> datetime:
    """Plotly draws wall-clock digits: give it ward time without the zone."""
    return moment.astimezone(zone).replace(tzinfo=None)


def timeline_span(
    trial: TrialView, now: datetime, minutes: int | None
) -> tuple[datetime, datetime]:
    """The time axis: the last ``minutes``, or the whole trial so far.

    The whole trial starts 30 minutes before the injection (baseline). While monitoring it
    ends up to 30 minutes ahead of now, reaching the window's end as it nears (and 10
    minutes ahead after it): the first minutes after an injection must not be a sliver at
    the left of a 4-hour axis. A closed trial ends at its window's end.
    """
    if minutes is not None:
        return now - timedelta(minutes=minutes), now + timedelta(minutes=1)
    injected = trial.injection.given_at if trial.injection else None
    start = injected - timedelta(minutes=30) if injected else trial.created_at
    window_end = trial.window_end
    if trial.status != TrialStatus.MONITORING.value:
        return start, window_end or now
    ahead = now + timedelta(minutes=30)
    if window_end is None:
        return start, ahead
    return start, max(now + timedelta(minutes=10), min(window_end, ahead))


def trial_timeline_figure(
    record: TrialRecord,
    trial: TrialView,
    settings: DisplaySettings,
    minutes: int | None,
    now: datetime,
) -> go.Figure:
    """The live monitor's timeline from the record: the whole trial, or the last ``minutes``.

    All the server-side work of one chart refresh but sending it (python -m benchmarks ui).
    """
    zone = record.settings.ward_timezone
    injected = trial.injection.given_at if trial.injection else None
    start, end = timeline_span(trial, now, minutes)
    frame = record.readings.timeline(trial.id, CHART_PARAMETERS, start=start, detail=False)
    if not frame.empty:
        if trial.status != TrialStatus.MONITORING.value and minutes is None:
            end = max(end, frame["time"].max().to_pydatetime())  # a closed trial: all of it
        frame["time"] = frame["time"].dt.tz_convert(zone).dt.tz_localize(None)
    news2 = []
    side_effects = []
    scores = set_scores(trial, record)  # the monitor's NEWS2 of every set, in one query
    for obs in record.observations.list(trial.id):
        if obs.measured_at < start:
            continue
        score = scores.get(obs.id)
        if score is not None and score.total is not None:
            news2.append(News2Point(_local(obs.measured_at, zone), score.total))
        for item in obs.side_effects or []:
            side_effects.append(
                Marker(
                    _local(obs.measured_at, zone),
                    SIDE_EFFECT_LABELS.get(SideEffect(item), item),
                    PRIORITY_COLOURS["high"],
                )
            )
    alarms = [
        Marker(
            _local(e.at, zone),
            f"{e.priority.upper()}: {e.message}",
            PRIORITY_COLOURS.get(e.priority, "#888"),
        )
        for e in record.alarms.events(trial.id)
        if e.event in (AlarmEventType.RAISED.value, AlarmEventType.ESCALATED.value)
        and e.at >= start
    ]
    return timeline_figure(
        frame,
        injection_at=_local(injected, zone) if injected else None,
        window_end=_local(trial.window_end, zone) if trial.window_end else None,
        start=_local(start, zone),
        end=_local(end, zone),
        news2=news2,
        alarms=alarms,
        side_effects=side_effects,
        points_per_trace=settings.chart_points_per_trace,
        gap_seconds=settings.gap_after_seconds,
    )
