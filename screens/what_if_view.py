"""What if the rules changed? The alarm review page's replay of a candidate rule file.

The recorded, finished trial days of the page's dates are replayed through the rule set in
force and an uploaded candidate (monitor/what_if.py, compared by rules/what_if.py), as
``python -m monitor what-if`` does: the candidate is loaded and refused the same way (the
errors of ``python -m rules check-config``, line by line), only a clinical role may run it
(a bed's alarm times on a day are clinical data about its patient), the read is audited as
``view.what_if`` before anything is shown, and the CSV and one-page PDF are the command's.

Trials are named by id and bed, never by a patient. The rule file is the uploader's text:
its name, version and rule ids are shown as data, never as markup.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from monitor.what_if import WhatIf, csv_report, day_label, finished_trials, pdf_report, what_if
from observations.errors import RecordError
from observations.record import TrialRecord
from observations.store import Actor, may
from observations.ward_time import format_ward, to_ward
from rules.rule_set import ConfigProblem, RuleSet, RuleSetError, load_rule_set, parse_rule_set
from rules.what_if import Change, DayResult, Difference, SideFigures, episodes, rules_of
from screens.charts import PRIORITY_COLOURS
from screens.display import DisplaySettings
from screens.markdown_text import MISSING, html_text, md
from screens.shared import show_problem

RESULT_KEY = "what_if_result"  # the last replay of this session, kept across reruns
UPLOAD_KEY = "what_if_candidate"
DAY_KEY = "what_if_day"
IN_FORCE_LANE = "In force"
CANDIDATE_LANE = "Candidate"
CHART_CONFIG = {"displaylogo": False}
WORSE_COLOUR = "#000000"  # the marker of an alarm the candidate sounds later or not at all


def duration_text(seconds: float | None) -> str:
    """'42 s', '4 min 05 s', '2 h 03 min'; the missing mark when there is no time."""
    if seconds is None:
        return MISSING
    whole = round(seconds)
    sign, whole = ("-" if whole < 0 else ""), abs(whole)
    if whole < 60:
        return f"{sign}{whole} s"
    if whole < 3600:
        return f"{sign}{whole // 60} min {whole % 60:02d} s"
    minutes = round(whole / 60)
    return f"{sign}{minutes // 60} h {minutes % 60:02d} min"


def load_candidate(name: str, data: bytes) -> RuleSet:
    """The uploaded file as the command loads its --rules file (UTF-8 text, then
    `parse_rule_set` under the file's name); a file that does not load raises RuleSetError
    with every problem and its line."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise RuleSetError(
            name,
            [
                ConfigProblem(
                    line, "", f"not UTF-8 text (byte {exc.start + 1} of the file): save it as UTF-8"
                )
            ],
        ) from exc
    return parse_rule_set(text, name)


def trials_in_dates(record: TrialRecord, first_day: date, last_day: date) -> list[int]:
    """The finished trials (window closed after an injection) injected on these ward dates."""
    zone = record.settings.ward_timezone
    return [
        trial.id
        for trial, _ in finished_trials(record, since=first_day)
        if trial.injection is not None
        and to_ward(trial.injection.given_at, zone).date() <= last_day
    ]


@dataclass(frozen=True)
class Replayed:
    """A replay kept in the session: what it was made from, and the report."""

    key: tuple[object, ...]
    report: WhatIf


def replay_for(
    record: TrialRecord,
    actor: Actor,
    in_force: RuleSet,
    candidate: RuleSet,
    digest: str,
    trial_ids: Sequence[int],
) -> WhatIf:
    """The replay of ``trial_ids``, audited as the command audits it; kept for the session's
    reruns (choosing a day) while the file, the trials and the person are the same."""
    key = (
        actor.username,
        getattr(actor, "session_token", None),
        digest,
        in_force.version,
        tuple(trial_ids),
    )
    kept = st.session_state.get(RESULT_KEY)
    if isinstance(kept, Replayed) and kept.key == key:
        return kept.report
    report = what_if(record, actor, in_force, candidate, list(trial_ids), via="page")
    st.session_state[RESULT_KEY] = Replayed(key, report)
    return report


# ---------------------------------------------------------------------------- tables


def _rule_order(report: WhatIf) -> dict[str, int]:
    ids = [*report.in_force.rule_ids, *report.candidate.rule_ids]
    return {rule_id: i for i, rule_id in reversed(list(enumerate(ids)))}


def _counts(side: SideFigures, rule_id: str | None) -> tuple[int, int, float]:
    """(raises, annunciations, time in alarm) of one rule, or of all with None."""
    if rule_id is None:
        return side.raises, side.annunciations, side.time_in_alarm_s
    figures = side.rules.get(rule_id)
    if figures is None:
        return 0, 0, 0.0
    return figures.raises, figures.annunciations, figures.time_in_alarm_s


def _per_hour(side: SideFigures, count: int) -> str:
    value = side.per_hour(count)
    return MISSING if value is None else f"{value:.2f}"


def figures_table(report: WhatIf) -> pd.DataFrame:
    """All rules, then each rule: the figures under the rule set in force beside the
    candidate's (per patient-hour: annunciations, as the command's report)."""
    c = report.comparison
    rows = []
    for rule_id in [None, *rules_of(c.in_force, c.candidate, order=_rule_order(report))]:
        a_raises, a_ann, a_time = _counts(c.in_force, rule_id)
        b_raises, b_ann, b_time = _counts(c.candidate, rule_id)
        rows.append(
            {
                "Rule": "all rules" if rule_id is None else rule_id,
                "Raises, in force": a_raises,
                "Raises, candidate": b_raises,
                "Annunciations, in force": a_ann,
                "Annunciations, candidate": b_ann,
                "Per patient-hour, in force": _per_hour(c.in_force, a_ann),
                "Per patient-hour, candidate": _per_hour(c.candidate, b_ann),
                "Time in alarm, in force": duration_text(a_time),
                "Time in alarm, candidate": duration_text(b_time),
            }
        )
    return pd.DataFrame(rows)


def _delay_text(d: Difference) -> str:
    if d.change is Change.NOT_AT_ALL:
        return "never sounds"
    if d.delay_s is None:
        return MISSING
    if d.delay_s == 0:
        return "same time"
    word = "later" if d.delay_s > 0 else "earlier"
    return f"{duration_text(abs(d.delay_s))} {word}"


def _clock(at: datetime | None, zone: ZoneInfo) -> str:
    return format_ward(at, zone, with_date=False) if at is not None else MISSING


def differences_table(
    pairs: Sequence[tuple[DayResult, Difference]], zone: ZoneInfo
) -> pd.DataFrame:
    """One row per alarm that differs: trial and bed (never a patient), ward date and times."""
    return pd.DataFrame(
        [
            {
                "Change": d.change.value.upper(),
                "Trial": day.trial_id,
                "Bed": day.bed if day.bed else MISSING,
                "Ward date": f"{to_ward(d.at, zone):%d %b %Y}",
                "Alarm (rule / level)": f"{d.rule_id} / {d.level_id}",
                "In force sounds it at": _clock(d.in_force_at, zone),
                "Candidate sounds it at": _clock(d.candidate_at, zone),
                "Delay": _delay_text(d),
                "Priority in force": d.in_force_priority.value if d.in_force_priority else MISSING,
                "Priority, candidate": d.candidate_priority.value
                if d.candidate_priority
                else MISSING,
            }
            for day, d in pairs
        ],
        columns=[
            "Change",
            "Trial",
            "Bed",
            "Ward date",
            "Alarm (rule / level)",
            "In force sounds it at",
            "Candidate sounds it at",
            "Delay",
            "Priority in force",
            "Priority, candidate",
        ],
    )


# ---------------------------------------------------------------------------- the day's chart


def _local(at: datetime, zone: ZoneInfo) -> datetime:
    return to_ward(at, zone).replace(tzinfo=None)


def timeline_figure(report: WhatIf, day: DayResult, settings: DisplaySettings) -> go.Figure:
    """The day's alarms under both rule sets on one time axis: two lanes (in force above the
    candidate), one row per rule in each, a bar per level shown (deeper levels drawn over the
    shallower and thinner, in their priority's colour); a mark where the candidate is later
    or silent."""
    zone = report.zone
    order = _rule_order(report)
    lanes = (
        (IN_FORCE_LANE, report.in_force, day.in_force_events),
        (CANDIDATE_LANE, report.candidate, day.candidate_events),
    )
    shown = [
        (lane, episode)
        for lane, rule_set, events in lanes
        for episode in episodes(events, rule_set, day.end)
    ]
    rule_ids = sorted(
        {e.rule_id for _, e in shown} | {d.rule_id for d in day.differences},
        key=lambda r: (order.get(r, len(order)), r),
    )
    figure = go.Figure()
    # Rows in order, both lanes even where a rule never sounded in one: an invisible point each.
    figure.add_trace(
        go.Scatter(
            x=[_local(day.start, zone)] * 2 * len(rule_ids),
            y=[
                [lane for lane, _, _ in lanes for _ in rule_ids],
                [html_text(r) for _ in lanes for r in rule_ids],
            ],
            mode="markers",
            marker={"opacity": 0},
            hoverinfo="skip",
            showlegend=False,
        )
    )
    depth = {
        (rule.id, level.id): i
        for _, rule_set, _ in lanes
        for rule in rule_set.rules
        for i, level in enumerate(rule.levels)
    }
    for priority in ("low", "medium", "high"):  # the highest drawn last, on top
        # A deeper level is drawn thinner over the milder one it lies in, so a level the
        # candidate reaches later shows even where both levels share a colour.
        bars = sorted(
            ((lane, e) for lane, e in shown if e.priority.value == priority),
            key=lambda pair: depth.get((pair[1].rule_id, pair[1].level_id), 0),
        )
        if not bars:
            continue
        figure.add_trace(
            go.Bar(
                orientation="h",
                width=[0.8 * 0.6 ** depth.get((e.rule_id, e.level_id), 0) for _, e in bars],
                marker_line={"color": "#ffffff", "width": 0.5},
                base=[_local(e.start, zone) for _, e in bars],
                x=[max((e.end - e.start).total_seconds(), 1.0) * 1000 for _, e in bars],
                y=[[lane for lane, _ in bars], [html_text(e.rule_id) for _, e in bars]],
                name=f"{priority} priority",
                marker={"color": PRIORITY_COLOURS.get(priority, "#888888")},
                customdata=[
                    [
                        html_text(e.level_id),
                        format_ward(e.start, zone, with_date=False),
                        format_ward(e.end, zone, with_date=False),
                    ]
                    for _, e in bars
                ],
                hovertemplate="%{y}: %{customdata[0]}<br>%{customdata[1]} to %{customdata[2]}"
                f"<extra>{priority}</extra>",
            )
        )
    worse = [d for d in day.differences if d.change in (Change.LATER, Change.NOT_AT_ALL)]
    if worse:
        figure.add_trace(
            go.Scatter(
                x=[_local(d.at, zone) for d in worse],
                y=[[CANDIDATE_LANE] * len(worse), [html_text(d.rule_id) for d in worse]],
                mode="markers",
                marker={
                    "symbol": "x-thin-open",
                    "size": 14,
                    "line": {"width": 3},
                    "color": WORSE_COLOUR,
                },
                name="in force sounds, candidate later or never",
                customdata=[[html_text(d.level_id), html_text(_delay_text(d))] for d in worse],
                hovertemplate="%{y}: %{customdata[0]} at %{x|%H:%M:%S}, candidate: "
                "%{customdata[1]}<extra></extra>",
            )
        )
    injected = report.injections.get(day.trial_id)
    if injected is not None:
        figure.add_vline(x=_local(injected, zone), line={"color": "#555555", "dash": "dot"})
        figure.add_annotation(
            x=_local(injected, zone),
            y=1,
            yref="paper",
            text="injection",
            showarrow=False,
            yanchor="bottom",
            font={"size": 11},
        )
    rows = 2 * max(len(rule_ids), 1)
    figure.update_layout(
        title={
            "text": html_text(
                f"{day_label(report, day)}: in force "
                f"{report.in_force.version}, candidate "
                f"{report.candidate.version}"
            ),
            "font": {"size": 14},
        },
        barmode="overlay",
        height=max(settings.what_if_timeline_min_px, settings.what_if_timeline_row_px * rows + 140),
        margin={"l": 10, "r": 10, "t": 60, "b": 10},
        legend={"orientation": "h", "y": -0.08, "x": 0, "yanchor": "top"},
        bargap=0.3,
    )
    figure.update_xaxes(
        type="date",
        range=[_local(day.start, zone), _local(day.end, zone) + timedelta(minutes=1)],
        tickformat="%H:%M",
        title=None,
    )
    figure.update_yaxes(type="multicategory", autorange="reversed", automargin=True)
    return figure


# ---------------------------------------------------------------------------- the section


def _upload_problem(name: str, size: int, limit_kb: int) -> str | None:
    if size > limit_kb * 1024:
        return (
            f"{name} is {size / 1024:.0f} kB: a rule file may be at most {limit_kb} kB "
            "here. Is it the rule file?"
        )
    if size == 0:
        return f"{name} is empty."
    return None


def what_if_section(
    record: TrialRecord,
    actor: Actor,
    first_day: date,
    last_day: date,
    settings: DisplaySettings,
) -> None:
    st.subheader("What if the rules changed?", anchor=False)
    if not may(actor, "alarm.what_if"):  # a bed's alarm times are clinical data
        st.info(
            "Replaying recorded trial days needs a clinical role: the alarm times of a bed "
            "on a day are clinical data about its patient. A doctor or nurse specialist can "
            "run it here, or with `python -m monitor what-if`.",
            icon=":material/lock:",
        )
        return
    st.caption(
        "Upload a changed copy of the alarm rule file: the finished trial days of these dates "
        "are replayed from the record through the rules in force and through it, and compared. "
        "Above all: every alarm it would sound later, or not at all. The same replay as "
        "`python -m monitor what-if`; trials are named by id and bed."
    )
    limit_kb = settings.what_if_upload_kb
    upload = st.file_uploader(
        f"Candidate rule file (YAML, at most {limit_kb} kB)",
        type=["yaml", "yml"],
        key=UPLOAD_KEY,
        max_upload_size=max(1, -(-limit_kb // 1024)),
    )
    if upload is None:
        return
    data = upload.getvalue()
    problem = _upload_problem(upload.name, len(data), limit_kb)
    if problem is not None:
        st.error(md(problem))
        return
    try:
        candidate = load_candidate(upload.name, data)
    except RuleSetError as exc:
        # check-config's own lines: the file's name, the line, the place, the problem.
        st.error(md(f"This rule file cannot be used:\n{exc}"), icon=":material/error:")
        return
    in_force = load_rule_set()
    trial_ids = trials_in_dates(record, first_day, last_day)
    if not trial_ids:
        st.info(
            "No trial day in these dates has had its monitoring window closed: there is "
            "nothing to replay. Choose other dates."
        )
        return
    try:
        with st.spinner(
            f"Replaying {len(trial_ids)} trial day"
            f"{'s' if len(trial_ids) != 1 else ''} through both rule sets..."
        ):
            report = replay_for(
                record, actor, in_force, candidate, hashlib.sha256(data).hexdigest(), trial_ids
            )
    except RecordError as error:
        show_problem(error)
        return
    show_report(report, settings)


def show_report(report: WhatIf, settings: DisplaySettings) -> None:
    c = report.comparison
    zone = report.zone
    st.markdown(
        md(
            f"In force: {report.in_force.version}. Candidate: "
            f"{report.candidate.version}. Days replayed: {len(c.days)} "
            f"({c.in_force.patient_hours:.1f} patient-hours)."
        )
    )
    worse = c.differences(Change.NOT_AT_ALL, Change.LATER)
    added = c.differences(Change.ADDED)
    earlier = c.differences(Change.EARLIER)
    st.markdown("**Sounded later or not at all**")
    if worse:
        st.error(
            f"{len(worse)} alarm{'s' if len(worse) != 1 else ''} sounded by the rules "
            "in force would sound later or not at all under the candidate.",
            icon=":material/warning:",
        )
        st.dataframe(
            differences_table(worse, zone), hide_index=True, width="stretch", key="what_if_worse"
        )
    else:
        st.success(
            "No alarm would sound later or be missing under the candidate.",
            icon=":material/check_circle:",
        )
    st.markdown("**Added by the candidate**")
    if added:
        st.dataframe(
            differences_table(added, zone), hide_index=True, width="stretch", key="what_if_added"
        )
    else:
        st.caption("The candidate adds no alarm.")
    if earlier:
        with st.expander(f"Sounded earlier by the candidate ({len(earlier)})"):
            st.dataframe(
                differences_table(earlier, zone),
                hide_index=True,
                width="stretch",
                key="what_if_earlier",
            )
    st.markdown("**Figures: in force beside the candidate**")
    for column, (label, a, b) in zip(
        st.columns(4),
        (
            ("Raises", c.in_force.raises, c.candidate.raises),
            ("Annunciations", c.in_force.annunciations, c.candidate.annunciations),
            (
                "Annunciations per patient-hour",
                _per_hour(c.in_force, c.in_force.annunciations),
                _per_hour(c.candidate, c.candidate.annunciations),
            ),
            (
                "Time in alarm",
                duration_text(c.in_force.time_in_alarm_s),
                duration_text(c.candidate.time_in_alarm_s),
            ),
        ),
        strict=True,
    ):
        column.metric(label, f"{a} → {b}")
    table = figures_table(report)
    st.dataframe(
        table,
        hide_index=True,
        width="stretch",
        key="what_if_figures",
        height=35 * (len(table) + 1) + 3,
    )
    st.caption(
        "A raise is a new alarm; an annunciation every time it sounded. Acknowledgements are "
        "the record's, by rule, at their recorded times: an alarm the record never had is not "
        "acknowledged in the replay, so its escalations count as if nobody answered. Device "
        "link changes are not recorded and are not replayed."
    )
    days = {day.trial_id: day for day in c.days}
    chosen = st.selectbox(
        "Trial day on the timeline",
        list(days),
        format_func=lambda trial_id: day_label(report, days[trial_id]),
        key=DAY_KEY,
    )
    if chosen is not None and chosen in days:
        st.plotly_chart(
            timeline_figure(report, days[chosen], settings),
            key="what_if_timeline",
            config=CHART_CONFIG,
        )
    stem = f"what-if-{report.candidate.version}"
    stem = "".join(ch if ch.isalnum() or ch in "-_." else "-" for ch in stem)[:80]
    csv_column, pdf_column = st.columns(2)
    csv_column.download_button(
        "Every figure and difference (CSV)",
        data=lambda: csv_report(report).encode("utf-8"),
        file_name=f"{stem}.csv",
        mime="text/csv",
        icon=":material/table_view:",
        key="what_if_csv",
        on_click="ignore",
    )
    pdf_column.download_button(
        "Report (PDF, one page)",
        data=lambda: pdf_report(report),
        file_name=f"{stem}.pdf",
        mime="application/pdf",
        icon=":material/picture_as_pdf:",
        key="what_if_pdf",
        on_click="ignore",
    )


__all__ = [
    "differences_table",
    "duration_text",
    "figures_table",
    "load_candidate",
    "replay_for",
    "show_report",
    "timeline_figure",
    "trials_in_dates",
    "what_if_section",
]
