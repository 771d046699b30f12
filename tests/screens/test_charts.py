"""The live monitor's timeline figure: what a 6-hour view keeps, where it breaks the line,
how device and manual values differ, and which stretch of time it shows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import plotly.io

from observations.views import InjectionView, PatientView, TrialView
from screens.charts import PANELS, Marker, News2Point, timeline_figure, timeline_span

START = datetime(2026, 3, 1, 8, 0)  # ward wall-clock time, as the page hands it to plotly
INJECTED = START + timedelta(minutes=30)


def six_hours() -> pd.DataFrame:
    """1 Hz SpO2 for 6 h: a 15 s dip to 84 at 3 h, 60 s probe off (no value), 30 s silence."""
    seconds = np.arange(6 * 3600)
    values = np.where(seconds % 7 == 0, 96.0, 97.0)
    values[3 * 3600 : 3 * 3600 + 15] = 84.0
    values[3600 : 3600 + 60] = np.nan
    keep = ~((seconds >= 2 * 3600) & (seconds < 2 * 3600 + 30))  # link lost: nothing at all
    times = pd.to_datetime(START) + pd.to_timedelta(seconds[keep], unit="s")
    device = pd.DataFrame(
        {"time": times, "parameter": "spo2", "value": values[keep], "source": "device"}
    )
    manual = pd.DataFrame(
        {
            "time": [START + timedelta(minutes=m) for m in (45, 60)],
            "parameter": "spo2",
            "value": [95.0, 94.0],
            "source": "manual",
        }
    )
    return pd.concat([device, manual], ignore_index=True)


def figure(frame: pd.DataFrame, **changes: object):  # type: ignore[no-untyped-def]
    arguments: dict[str, object] = {
        "injection_at": INJECTED,
        "window_end": INJECTED + timedelta(hours=4),
        "start": START,
        "end": START + timedelta(hours=6),
        "news2": [News2Point(INJECTED + timedelta(minutes=15), 1)],
        "alarms": [Marker(START + timedelta(hours=3, seconds=5), "HIGH: SpO2 84 %", "#d62728")],
        "side_effects": [],
        "points_per_trace": 1200,
        "gap_seconds": 12,
    }
    arguments.update(changes)
    return timeline_figure(frame, **arguments)  # type: ignore[arg-type]


def trace(fig, name: str):  # type: ignore[no-untyped-def]
    return next(t for t in fig.data if t.name == name)


def test_six_hours_keep_the_dip_and_break_the_line_only_where_data_stopped():
    fig = figure(six_hours())
    spo2 = trace(fig, "SpO2 (device)")
    y = np.asarray(spo2.y, dtype=float)
    assert len(y) <= 1200 + 10  # downsampled from 21 570 readings
    assert np.nanmin(y) == 84.0  # a 15 s desaturation survives the 6-hour view
    # Exactly two breaks: the probe-off spell and the link loss. Minima and maxima kept from
    # neighbouring buckets lie more than 12 s apart, but that is not a gap in the data.
    missing = np.flatnonzero(np.isnan(y))
    breaks = [i for i in missing if i - 1 not in missing]  # a run of missing points is one
    assert len(breaks) == 2
    times = pd.to_datetime(np.asarray(spo2.x))
    probe_off = pd.Timestamp(START + timedelta(hours=1))
    assert probe_off <= times[breaks[0]] < probe_off + pd.Timedelta(seconds=60)
    assert abs(times[breaks[1]] - pd.Timestamp(START + timedelta(hours=2, seconds=30))) < (
        pd.Timedelta(seconds=1)
    )


def test_payload_of_a_six_hour_view_stays_small():
    spec = plotly.io.to_json(figure(six_hours()), validate=False)
    assert len(spec.encode()) < 300 * 1024


def test_nurse_entries_are_their_own_trace_with_their_own_mark():
    fig = figure(six_hours())
    device = trace(fig, "SpO2 (device)")
    manual = trace(fig, "SpO2 (entered by a nurse)")
    assert device.mode == "lines" and manual.mode == "markers"
    assert manual.marker.symbol == "diamond"
    assert list(manual.y) == [95.0, 94.0]
    assert "(entered)" in manual.hovertemplate and "(device)" in device.hovertemplate


def test_empty_panels_say_so_and_ranges_widen_for_low_values():
    frame = six_hours()
    frame.loc[frame["value"] == 84.0, "value"] = 72.0
    fig = figure(frame)
    notes = [a.text for a in fig.layout.annotations]
    assert notes.count("no values recorded") == 3  # pulse, BP, RR
    assert fig.layout.yaxis.range[0] == 70  # the usual 80-101 % widened to show 72 %
    assert fig.layout.yaxis2.range == (40, 130)
    assert all(
        fig.layout[f"xaxis{'' if i == 1 else i}"].range[0] == START
        for i in range(1, len(PANELS) + 1)
    )
    # Plotly draws no axis for a panel without a trace: each empty panel keeps one.
    on_axes = {(t.xaxis or "x", t.yaxis or "y") for t in fig.data}
    assert on_axes >= {("x", "y"), ("x2", "y2"), ("x3", "y3"), ("x4", "y4"), ("x5", "y5")}


def test_injection_window_and_alarm_span_every_panel():
    fig = figure(six_hours())
    shapes = fig.layout.shapes
    window = [s for s in shapes if s.type == "rect"]
    lines = [s for s in shapes if s.type == "line"]
    assert len(window) == 1 and window[0].x1 == INJECTED + timedelta(hours=4)
    assert {(s.yref, s.y0, s.y1) for s in shapes} == {("paper", 0, 1)}
    assert [s.x0 for s in lines] == [INJECTED, START + timedelta(hours=3, seconds=5)]


def _trial(status: str, injected: datetime | None) -> TrialView:
    patient = PatientView(
        id=1,
        nhs_number="9434765919",
        hospital_number="H1",
        family_name="Jones",
        given_name="Sam",
        date_of_birth=datetime(1980, 1, 1).date(),
    )
    injection = (
        None
        if injected is None
        else InjectionView(
            id=1,
            trial_id=1,
            dose_mcg=50,
            given_at=injected,
            route="lumbar_puncture",
            given_by="Dr",
            recorded_at=injected,
            recorded_by=1,
            supersedes_id=None,
            correction_reason=None,
        )
    )
    return TrialView(
        id=1,
        patient=patient,
        episode=1,
        trial_number=1,
        planned_dose_mcg=50,
        spo2_scale=1,
        spo2_scale_reason=None,
        status=status,
        bed="4B",
        window_minutes=240,
        extension_minutes=0,
        injection=injection,
        follows_trial_id=None,
        created_at=datetime(2026, 3, 1, 7, tzinfo=UTC),
    )


def test_span_early_in_the_trial_is_not_a_sliver_of_the_window():
    injected = datetime(2026, 3, 1, 10, tzinfo=UTC)
    trial = _trial("monitoring", injected)
    minute = timedelta(minutes=1)
    # 10 minutes in: 30 min of baseline, 10 of trial, 30 ahead; not the 4-hour window.
    assert timeline_span(trial, injected + 10 * minute, None) == (
        injected - 30 * minute,
        injected + 40 * minute,
    )
    # Nearing the window's end, the axis stops at it; past it, 10 minutes ahead of now.
    assert timeline_span(trial, injected + 220 * minute, None)[1] == injected + 240 * minute
    assert timeline_span(trial, injected + 300 * minute, None)[1] == injected + 310 * minute
    # A closed trial shows its window; the short views follow now.
    assert timeline_span(_trial("assessed", injected), injected + 24 * 60 * minute, None) == (
        injected - 30 * minute,
        injected + 240 * minute,
    )
    now = injected + 90 * minute
    assert timeline_span(trial, now, 15) == (now - 15 * minute, now + minute)
