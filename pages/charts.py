"""The trial timeline: plotly figure and the min/max-preserving downsampling it draws from.

Display only: values come from the record's timeline, NEWS2 from rules/ (via nurse_view).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from vocabulary import LABELS, UNITS, Parameter

# One row per panel: (title, parameters drawn in it).
PANELS: tuple[tuple[str, tuple[Parameter, ...]], ...] = (
    ("SpO2 %", (Parameter.SPO2,)),
    ("Pulse /min", (Parameter.PULSE_RATE,)),
    ("Blood pressure mmHg", (Parameter.SYSTOLIC, Parameter.DIASTOLIC)),
    ("Respiration /min", (Parameter.RR,)),
    ("NEWS2", ()),
)
CHART_PARAMETERS: tuple[Parameter, ...] = tuple(p for _, ps in PANELS for p in ps)
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
    """SpO2, pulse, BP, RR and NEWS2 on one shared time axis (ward time)."""
    figure = make_subplots(
        rows=len(PANELS),
        cols=1,
        shared_xaxes=True,
        vertical_spacing=0.03,
        subplot_titles=[title for title, _ in PANELS],
        row_heights=[0.26, 0.2, 0.2, 0.17, 0.17],
    )
    buckets = max(1, points_per_trace // 2)
    for row, (title, parameters) in enumerate(PANELS, start=1):
        # An empty scaffold so every panel has a time axis (and the window shading).
        figure.add_trace(
            go.Scatter(x=[start, end], y=[None, None], mode="lines", showlegend=False,
                       hoverinfo="skip"),
            row=row,
            col=1,
        )
        present = timeline["parameter"].isin([p.value for p in parameters]).any()
        if not present and not (title == "NEWS2" and news2):
            figure.add_annotation(text="no values recorded", showarrow=False, row=row, col=1,
                                  xref="x domain", yref="y domain", x=0.5, y=0.5,
                                  font={"color": "#888"})
        for parameter in parameters:
            data = timeline[timeline["parameter"] == parameter.value]
            label = LABELS[parameter]
            unit = UNITS[parameter].display
            device = data[data["source"] == "device"][["time", "value"]]
            if not device.empty:
                device = with_gaps(downsample_min_max(device, buckets), gap_seconds)
                is_bp = parameter in (Parameter.SYSTOLIC, Parameter.DIASTOLIC)
                figure.add_trace(
                    go.Scattergl(
                        x=device["time"],
                        y=device["value"],
                        mode="markers" if is_bp else "lines",
                        name=f"{label} (device)",
                        line={"color": COLOURS[parameter], "width": 1.5},
                        marker={"color": COLOURS[parameter], "size": 7},
                        connectgaps=False,
                        hovertemplate=f"%{{y:.0f}} {unit} (device)<extra>{label}</extra>",
                    ),
                    row=row,
                    col=1,
                )
            manual = data[data["source"] == "manual"]
            if not manual.empty:
                figure.add_trace(
                    go.Scatter(
                        x=manual["time"],
                        y=manual["value"],
                        mode="markers",
                        name=f"{label} (entered by a nurse)",
                        marker={
                            "symbol": "diamond",
                            "size": 11,
                            "color": "white",
                            "line": {"color": COLOURS[parameter], "width": 2},
                        },
                        hovertemplate=f"%{{y:.0f}} {unit} (entered)<extra>{label}</extra>",
                    ),
                    row=row,
                    col=1,
                )
    if news2:
        figure.add_trace(
            go.Scatter(
                x=[p.at for p in news2],
                y=[p.total for p in news2],
                mode="markers+lines+text",
                text=[str(p.total) for p in news2],
                textposition="top center",
                name="NEWS2 (complete sets)",
                line={"color": "#444", "dash": "dot"},
                marker={"symbol": "square", "size": 9, "color": "#444"},
            ),
            row=len(PANELS),
            col=1,
        )
    figure.update_yaxes(range=[-0.5, 20], row=len(PANELS), col=1)
    if injection_at is not None:
        shade_end = window_end or end
        figure.add_vrect(
            x0=injection_at,
            x1=shade_end,
            fillcolor="#e8f1fb",
            opacity=0.6,
            layer="below",
            line_width=0,
            row="all",
            col=1,
            exclude_empty_subplots=False,
        )
        figure.add_vline(x=injection_at, line={"color": "black", "width": 2}, row="all", col=1,
                         exclude_empty_subplots=False)
        figure.add_annotation(
            x=injection_at, y=1.0, yref="paper", text="Injection", showarrow=False,
            xanchor="left", yanchor="bottom", font={"size": 12},
        )
    for marker in alarms:
        figure.add_vline(x=marker.at, line={"color": marker.colour, "width": 1, "dash": "dash"},
                         row="all", col=1, exclude_empty_subplots=False)
    _marker_trace(figure, alarms, "Alarm", "triangle-down", row=1)
    _marker_trace(figure, side_effects, "Side effect", "x", row=len(PANELS))
    figure.update_xaxes(range=[start, end])
    figure.update_layout(
        height=780,
        margin={"l": 40, "r": 10, "t": 40, "b": 30},
        legend={"orientation": "h", "y": -0.04},
        hovermode="x unified",
        uirevision="timeline",  # keep the nurse's zoom when the chart refreshes
    )
    return figure


def _marker_trace(
    figure: go.Figure, markers: Sequence[Marker], name: str, symbol: str, row: int
) -> None:
    if not markers:
        return
    figure.add_trace(
        go.Scatter(
            x=[m.at for m in markers],
            y=[0.5] * len(markers) if row == len(PANELS) else [100.5] * len(markers),
            mode="markers",
            name=name,
            text=[m.label for m in markers],
            hovertemplate="%{text}<extra></extra>",
            marker={"symbol": symbol, "size": 12, "color": [m.colour for m in markers]},
        ),
        row=row,
        col=1,
    )
