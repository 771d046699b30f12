"""Alarm review: the ward's alarm figures over a range of ward dates, for the people who own the
alarm rules (clinical risk management, DCB0129/DCB0160), and what a changed rule file would
have done on the recorded trial days of those dates (screens/what_if_view.py).

Figures only: no patient is named here, a trial is its id and its bed. Layout only; every
figure and its definition come from observations/alarm_review.py.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from observations.alarm_review import AlarmReview
from observations.errors import RecordError
from observations.record import TrialRecord
from observations.store import Actor
from observations.ward_time import format_ward, to_ward
from screens.display import DisplaySettings
from screens.markdown_text import html_text
from screens.shared import MISSING, show_problem
from screens.what_if_view import duration_text, what_if_section

RAISES_COLOUR = "#1f77b4"
ANNUNCIATIONS_COLOUR = "#ff7f0e"
UNUSABLE_COLOUR = "#d62728"
SILENT_COLOUR = "#7f7f7f"
CHART_CONFIG = {"displaylogo": False}
ROW_PX = 35  # a dataframe row: the rules table is drawn whole, the rule file has a few dozen


def percent_text(fraction: float | None) -> str:
    return MISSING if fraction is None else f"{100 * fraction:.1f} %"


def period_text(first: datetime, last: datetime, zone: ZoneInfo) -> str:
    """'03 Dec 2026 09:30 GMT to 14:10:00 GMT', the date said once when it is the same."""
    same_day = to_ward(first, zone).date() == to_ward(last, zone).date()
    return f"{format_ward(first, zone)} to {format_ward(last, zone, with_date=not same_day)}"


def bed_text(bed: str | None) -> str:
    return MISSING if bed is None else bed


def _bars(
    x: list[str],
    series: list[tuple[str, list[float], str]],
    title: str,
    *,
    horizontal: bool = False,
    unit: str = "",
) -> go.Figure:
    """Grouped bars, one colour per series; labels are data, escaped for Plotly."""
    labels = [html_text(label) for label in x]
    figure = go.Figure()
    category, amount = ("y", "x") if horizontal else ("x", "y")
    for name, values, colour in series:
        figure.add_trace(
            go.Bar(
                x=values if horizontal else labels,
                y=labels if horizontal else values,
                name=name,
                marker_color=colour,
                orientation="h" if horizontal else "v",
                hovertemplate=f"%{{{category}}}: %{{{amount}}}{unit}<extra>{name}</extra>",
            )
        )
    figure.update_layout(
        title={"text": title, "font": {"size": 15}},
        barmode="group",
        height=max(300, 26 * len(x) + 120) if horizontal else 320,
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
        legend={"orientation": "h", "y": 1.02, "x": 1, "xanchor": "right", "yanchor": "bottom"},
    )
    if horizontal:
        figure.update_yaxes(autorange="reversed", type="category", automargin=True)
    else:
        figure.update_xaxes(type="category", automargin=True)
    return figure


def burden_charts(review: AlarmReview) -> None:
    days = [f"{d.day:%a %d %b}" for d in review.days]
    st.plotly_chart(
        _bars(
            days,
            [
                ("Raises", [d.raises for d in review.days], RAISES_COLOUR),
                ("Annunciations", [d.annunciations for d in review.days], ANNUNCIATIONS_COLOUR),
            ],
            "Alarm burden per ward date",
        ),
        key="alarm_review_days",
        config=CHART_CONFIG,
    )
    left, right = st.columns(2)
    with left:
        if review.beds:
            beds = [bed_text(b.bed) for b in review.beds]
            st.plotly_chart(
                _bars(
                    beds,
                    [
                        ("Raises", [b.raises for b in review.beds], RAISES_COLOUR),
                        (
                            "Annunciations",
                            [b.annunciations for b in review.beds],
                            ANNUNCIATIONS_COLOUR,
                        ),
                    ],
                    "Per bed",
                ),
                key="alarm_review_beds",
                config=CHART_CONFIG,
            )
        else:
            st.caption("Per bed: no alarm sounded in these dates.")
    with right:
        if review.rules:
            rules = [r.rule_id for r in review.rules]
            st.plotly_chart(
                _bars(
                    rules,
                    [
                        ("Raises", [r.raises for r in review.rules], RAISES_COLOUR),
                        (
                            "Annunciations",
                            [r.annunciations for r in review.rules],
                            ANNUNCIATIONS_COLOUR,
                        ),
                    ],
                    "Per rule",
                    horizontal=True,
                ),
                key="alarm_review_rules",
                config=CHART_CONFIG,
            )
        else:
            st.caption("Per rule: no alarm sounded in these dates.")


def rules_table(review: AlarmReview) -> None:
    st.subheader("Rules that annunciate most", anchor=False)
    if not review.rules:
        st.caption("No alarm sounded in these dates.")
        return
    st.dataframe(
        pd.DataFrame(
            [
                {
                    "Rule": r.rule_id,
                    "Kind": r.kind,
                    "Annunciations": r.annunciations,
                    "Raises": r.raises,
                    "Escalations": r.escalations,
                    "Trials": r.trials,
                    "Share of annunciations": percent_text(
                        r.annunciations / review.annunciations if review.annunciations else None
                    ),
                }
                for r in review.rules
            ]
        ),
        hide_index=True,
        width="stretch",
        height=ROW_PX * (len(review.rules) + 1) + 3,
        key="alarm_review_rule_table",
    )


def acknowledgement_table(review: AlarmReview) -> None:
    st.subheader("Time to acknowledge", anchor=False)
    st.dataframe(
        pd.DataFrame(
            [
                {
                    "Priority at raising": t.priority,
                    "Raised": t.raised,
                    "Acknowledged": t.acknowledged,
                    "Median": duration_text(t.median_s),
                    "90th percentile": duration_text(t.p90_s),
                    "Never acknowledged": t.never_acknowledged,
                    "Waiting now": t.waiting,
                }
                for t in review.acknowledgement
            ]
        ),
        hide_index=True,
        width="stretch",
        key="alarm_review_ack_table",
    )
    st.caption(
        "From the raise to the first acknowledgement, of the alarms raised in these dates. "
        "90th percentile: 90 % of the acknowledged alarms were acknowledged within this time "
        "(nearest rank). Never acknowledged: resolved with no acknowledgement (medium and low "
        "alarms end with their condition; a trial's window closing resolves what is left)."
    )


def stream_section(review: AlarmReview, zone: ZoneInfo) -> None:
    st.subheader("Unusable oximeter stream per device", anchor=False)
    if not review.streams:
        st.caption("No SpO2 or pulse reading was recorded in these dates.")
        return
    per_device: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
    for s in review.streams:
        per_device[s.source_device][0] += s.unusable_s / 60
        per_device[s.source_device][1] += s.silent_s / 60
    devices = list(per_device)
    if any(unusable or silent for unusable, silent in per_device.values()):
        st.plotly_chart(
            _bars(
                devices,
                [
                    ("Unusable", [round(per_device[d][0], 1) for d in devices], UNUSABLE_COLOUR),
                    ("Silent", [round(per_device[d][1], 1) for d in devices], SILENT_COLOUR),
                ],
                "Minutes per device",
                horizontal=True,
                unit=" min",
            ),
            key="alarm_review_streams",
            config=CHART_CONFIG,
        )
    else:  # an empty chart would only draw an axis from -1 to 1
        st.caption("No device had unusable or silent time in these dates.")
    st.dataframe(
        pd.DataFrame(
            [
                {
                    "Device": s.source_device,
                    "Trial": s.trial_id,
                    "Bed": bed_text(s.bed),
                    "Readings": period_text(s.first, s.last, zone),
                    "Streamed": duration_text(s.streamed_s),
                    "Unusable": duration_text(s.unusable_s),
                    "Unusable share": percent_text(s.unusable_fraction),
                    "Silent": duration_text(s.silent_s),
                }
                for s in review.streams
            ]
        ),
        hide_index=True,
        width="stretch",
        key="alarm_review_stream_table",
    )
    gap = review.gap_after_seconds
    st.caption(
        "From the recorded SpO2 and pulse readings (the record keeps no history of device "
        "states). Each instant stands until the device's next one, at most "
        f"{gap:g} s; it is unusable when none of its values can be trusted (no value, probe "
        f"off, artefact, low perfusion...). Silent: time between readings more than {gap:g} s "
        "apart."
    )


def render(record: TrialRecord, actor: Actor, settings: DisplaySettings) -> None:
    zone = record.settings.ward_timezone

    st.title("Alarm review")
    st.caption(
        "How often the ward was called, by which rules and beds, and how fast alarms were "
        "acknowledged: for reviewing the alarm rules with the hazard log. Figures only: they "
        "name no patient (a trial is its id and its bed). A raise is a new alarm; "
        "an annunciation is every time it sounded (raised, re-annunciated, escalated)."
    )
    today = to_ward(record.store.now(), zone).date()
    picked = st.date_input(
        "Ward dates, from / to",
        value=(today.replace(day=1), today),  # the month so far
        max_value=today,
        format="DD/MM/YYYY",
        key="alarm_review_dates",
    )
    if not isinstance(picked, tuple) or len(picked) != 2:
        st.info("Choose the last day of the period.")
        return
    first_day: date = picked[0]
    last_day: date = picked[1]
    try:
        # A busy ward's day is hundreds of thousands of readings: a second or two per day of range.
        with st.spinner("Counting the alarms and the oximeters' readings..."):
            review = record.alarm_review.review(
                actor, first_day, last_day, settings.gap_after_seconds
            )
    except RecordError as error:
        show_problem(error)
        return

    st.caption(
        f"{format_ward(review.start, zone)} to {format_ward(review.end, zone)} "
        f"({len(review.days)} ward date{'s' if len(review.days) != 1 else ''})."
    )
    waiting = sum(t.waiting for t in review.acknowledgement)
    never = sum(t.never_acknowledged for t in review.acknowledgement)
    for column, (label, value) in zip(
        st.columns(5),
        (
            ("Raises", review.raises),
            ("Annunciations", review.annunciations),
            ("Escalations", review.escalations),
            ("Never acknowledged", never),
            ("Waiting now", waiting),
        ),
        strict=True,
    ):
        column.metric(label, value)
    burden_charts(review)
    acknowledgement_table(review)
    rules_table(review)
    stream_section(review, zone)
    what_if_section(record, actor, first_day, last_day, settings)
