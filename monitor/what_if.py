"""What-if replay: recorded trial days through the rule set in force and a candidate rule file.

For the clinical safety officer who owns the alarm rule file: before a changed file goes live,
each finished trial day in the record is judged again, from the record, by a fresh engine with
the rule set in force and by one with the candidate, and the two are compared
(`rules.what_if`): per rule and in total, raises, annunciations, time in alarm, alarms per
patient-hour and the first alarm after each deterioration; above all every alarm the candidate
would sound later (and by how much) or not at all, and every alarm it adds.

The day is fed as the monitor judged it (`monitor.trial_watch.TrialWatch`): the recorded device
readings as a rebuild feeds them, and the injection, the nurses' sets (where they reached the
engine, when typed), the acknowledgements, the window's extensions and its close, each at its
recorded time (the extensions and the close from their audit entries). Replayed with the rule
set in force, a day gives back exactly the alarm events the record holds (the golden master in
`tests/monitor/test_what_if.py`). What the record does not keep cannot be replayed: device
link changes (connecting, link lost) are not stored, so a replay sees a device's silence from
its last reading only.

Only reads the record. The report names trials by id and bed, never a patient.
"""

from __future__ import annotations

import io
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from monitor.trial_watch import ENTRY, READING, TrialWatch, recorded_readings
from observations.record import TrialRecord
from observations.safe_csv import to_csv
from observations.store import Actor, require
from observations.views import TrialView
from observations.ward_time import format_ward, to_ward
from rules.engine import TrialEngine
from rules.events import AlarmEvent, Reading, TrialEvent, WindowExtension
from rules.rule_set import RuleSet
from rules.what_if import (
    Change,
    Comparison,
    DayResult,
    Difference,
    SideFigures,
    compare_day,
    rules_of,
)
from vocabulary import STREAMED_PARAMETERS, TrialStatus

_LEFT_MONITORING = TrialStatus.MONITORING.value


@dataclass(frozen=True)
class RecordedDay:
    """One finished trial day as the engine is fed it, read once for both rule sets."""

    trial_id: int
    bed: str | None
    spo2_scale: int
    injection_at: datetime
    start: datetime  # the first reading (the devices going on), else the injection
    end: datetime  # the window's close
    # In feeding order: (time, kind, order) as `TrialWatch.rebuilt` sorts them.
    events: tuple[TrialEvent, ...]

    @property
    def streamed(self) -> list[Reading]:
        """The streamed readings (SpO2, pulse), for the burden's deterioration runs."""
        return [
            e for e in self.events if isinstance(e, Reading) and e.parameter in STREAMED_PARAMETERS
        ]


def closed_at(record: TrialRecord, trial_id: int) -> datetime | None:
    """When the trial left monitoring (its window closed, or it was cancelled), from the
    audit entry of that move; None while it is still watched."""
    moves = record.audit.entries(trial_id=trial_id, action_prefix="trial.status", limit=100)
    times = [e.at for e in moves if (e.details or {}).get("from") == _LEFT_MONITORING]
    return min(times) if times else None


def finished_trials(
    record: TrialRecord, trial_ids: Sequence[int] | None = None, since: date | None = None
) -> list[tuple[TrialView, datetime]]:
    """The trials whose window has closed after an injection (with when it closed), oldest
    first: those named, or all; with ``since``, injected on that ward date or later."""
    zone = record.settings.ward_timezone
    trials = [record.trials.get(i) for i in trial_ids] if trial_ids else record.trials.list()
    out: list[tuple[TrialView, datetime]] = []
    for trial in trials:
        if trial.injection is None:
            continue
        if since is not None and to_ward(trial.injection.given_at, zone).date() < since:
            continue
        end = closed_at(record, trial.id)
        if end is not None:
            out.append((trial, end))
    out.sort(key=lambda pair: (pair[0].injection.given_at, pair[0].id))  # type: ignore[union-attr]
    return out


def recorded_day(
    record: TrialRecord, rule_set: RuleSet, trial: TrialView, end: datetime
) -> RecordedDay:
    """The day's readings and entries up to ``end`` in the order a rebuild feeds them.

    The entries come from `TrialWatch.recorded_entries` (the injection, sets where they reached the
    engine, acknowledgements of ``rule_set``'s rules), its close at ``end``; the window's
    extensions at their recorded times (a rebuild needs only their sum)."""
    assert trial.injection is not None
    watch = TrialWatch(record, rule_set, trial, clock=lambda: end)
    timed, _ = recorded_readings(record, trial.id, end)
    for position, event in watch.recorded_entries(trial):
        if isinstance(event, WindowExtension):
            continue  # at its recorded time, below
        timed.append((position, ENTRY, 0, event))
    for entry in record.audit.entries(
        trial_id=trial.id, action_prefix="trial.extend_window", limit=1000
    ):
        minutes = (entry.details or {}).get("minutes")
        if minutes and entry.at <= end:
            timed.append((entry.at, ENTRY, 0, WindowExtension(entry.at, float(minutes))))
    timed.sort(key=lambda item: item[:3])  # stable: entries keep the record's order
    first_reading = next((t for t, kind, _, _ in timed if kind == READING), None)
    return RecordedDay(
        trial_id=trial.id,
        bed=trial.bed,
        spo2_scale=trial.spo2_scale,
        injection_at=trial.injection.given_at,
        start=min(first_reading, trial.injection.given_at)
        if first_reading
        else trial.injection.given_at,
        end=end,
        events=tuple(e for _, _, _, e in timed),
    )


def replay(day: RecordedDay, rule_set: RuleSet) -> list[AlarmEvent]:
    """Every alarm event a fresh engine with ``rule_set`` emits over the day, in order
    (acknowledgements included), its timers run to the close."""
    engine = TrialEngine(rule_set, trial_id=str(day.trial_id), spo2_scale=day.spo2_scale)
    out: list[AlarmEvent] = []
    for event in day.events:
        out += engine.feed(event)
    if engine.now is None or engine.now < day.end:
        out += engine.advance_to(day.end)
    return out


def compare_recorded_day(day: RecordedDay, in_force: RuleSet, candidate: RuleSet) -> DayResult:
    """One recorded day through both rule sets, compared."""
    return compare_day(
        trial_id=day.trial_id,
        bed=day.bed,
        start=day.start,
        end=day.end,
        readings=day.streamed,
        in_force=in_force,
        in_force_events=replay(day, in_force),
        candidate=candidate,
        candidate_events=replay(day, candidate),
    )


@dataclass
class WhatIf:
    """The replay's result and what it needs to be shown."""

    in_force: RuleSet
    candidate: RuleSet
    comparison: Comparison
    injections: dict[int, datetime]
    zone: ZoneInfo


def what_if(
    record: TrialRecord,
    actor: Actor,
    in_force: RuleSet,
    candidate: RuleSet,
    trial_ids: Sequence[int] | None = None,
    since: date | None = None,
    via: str = "cli",
) -> WhatIf:
    """Replay each finished day (`finished_trials`) through both rule sets, for ``actor``
    (the record's permission ``alarm.what_if``), audited as ``view.what_if`` before the
    result is handed over: a read the trail cannot hold is not shown."""
    require(actor, "alarm.what_if")
    comparison = Comparison(SideFigures(in_force.version), SideFigures(candidate.version))
    injections: dict[int, datetime] = {}
    for trial, end in finished_trials(record, trial_ids, since):
        # Acknowledgements of the rules in force: a rule the candidate lacks has none to take.
        day = recorded_day(record, in_force, trial, end)
        injections[trial.id] = day.injection_at
        comparison.add(compare_recorded_day(day, in_force, candidate))
    record.audit.note_view(
        actor,
        "what_if",
        details={
            "trials": [day.trial_id for day in comparison.days],
            "in_force": in_force.version,
            "candidate": candidate.version,
            "via": via,
        },
    )
    return WhatIf(in_force, candidate, comparison, injections, record.settings.ward_timezone)


# ---------------------------------------------------------------------------- showing it


def _seconds(value: float | None) -> str:
    if value is None:
        return "never"
    return f"{value:.0f} s" if value < 600 else f"{value / 60:.1f} min"


def _first_alarms(values: Iterable[float | None]) -> str:
    """Runs past a level's delay: how many, the median and longest time to the first alarm,
    and how many were never alarmed (every value is in the CSV)."""
    values = list(values)
    alarmed = sorted(v for v in values if v is not None)
    if not values:
        return "—"
    never = len(values) - len(alarmed)
    if not alarmed:
        return f"{len(values)} runs, never alarmed"
    median = statistics.median(alarmed)
    return f"{len(values)} runs: median {_seconds(median)}, max {_seconds(alarmed[-1])}" + (
        f", NEVER {never}" if never else ""
    )


def _per_hour(side: SideFigures, count: float) -> str:
    value = side.per_hour(count)
    return "—" if value is None else f"{value:.2f}"


def _time(report: WhatIf, at: datetime | None) -> str:
    return format_ward(at, report.zone, with_date=False) if at is not None else "—"


def day_label(report: WhatIf, day: DayResult) -> str:
    bed = f"bed {day.bed}" if day.bed else "no bed"
    injected = format_ward(report.injections.get(day.trial_id), report.zone)
    return f"trial {day.trial_id} ({bed}), injection {injected}"


def difference_line(report: WhatIf, day: DayResult, d: Difference) -> str:
    where = f"trial {day.trial_id}" + (f" bed {day.bed}" if day.bed else "")
    alarm = f"{d.rule_id}/{d.level_id}"
    if d.change is Change.NOT_AT_ALL:
        return (
            f"NOT AT ALL  {where}  {alarm} ({d.in_force_priority}) in force at "
            f"{_time(report, d.in_force_at)}: the candidate does not sound it"
        )
    if d.change is Change.ADDED:
        return (
            f"ADDED       {where}  {alarm} ({d.candidate_priority}) at "
            f"{_time(report, d.candidate_at)}"
        )
    delay = d.delay_s or 0.0
    sign = "+" if delay >= 0 else "-"
    return (
        f"{d.change.value.upper():<11} {where}  {alarm} in force at "
        f"{_time(report, d.in_force_at)} ({d.in_force_priority}), candidate at "
        f"{_time(report, d.candidate_at)} ({d.candidate_priority}), "
        f"{sign}{_seconds(abs(delay))}"
    )


def _rule_order(report: WhatIf) -> dict[str, int]:
    ids = [*report.in_force.rule_ids, *report.candidate.rule_ids]
    return {rule_id: i for i, rule_id in reversed(list(enumerate(ids)))}


def figure_rows(report: WhatIf) -> list[tuple[str, SideFigures, SideFigures]]:
    """('all' then each rule, in force, candidate), for the text, the CSV and the page."""
    c = report.comparison
    return [("all", c.in_force, c.candidate)] + [
        (rule_id, c.in_force, c.candidate)
        for rule_id in rules_of(c.in_force, c.candidate, order=_rule_order(report))
    ]


def _side_values(side: SideFigures, rule_id: str) -> tuple[int, int, float, tuple]:
    if rule_id == "all":
        return side.raises, side.annunciations, side.time_in_alarm_s, side.first_alarm_s
    figures = side.rules.get(rule_id)
    if figures is None:
        return 0, 0, 0.0, ()
    return (figures.raises, figures.annunciations, figures.time_in_alarm_s, figures.first_alarm_s)


def text_report(report: WhatIf) -> str:
    """What the command prints: the versions, the days, the differences, the figures."""
    c = report.comparison
    lines = [
        f"Rule set in force: {report.in_force.version}",
        f"Candidate:         {report.candidate.version}",
        f"Days replayed: {len(c.days)} ({c.in_force.patient_hours:.2f} patient-hours)",
    ]
    lines += [f"  {day_label(report, day)}" for day in c.days]
    if not c.days:
        lines.append("  none: no trial in the record has had its monitoring window closed")
    worse = c.differences(Change.NOT_AT_ALL, Change.LATER)
    added = c.differences(Change.ADDED)
    earlier = c.differences(Change.EARLIER)
    lines.append("")
    lines.append(
        f"Alarms the candidate sounds LATER or NOT AT ALL: {len(worse)}"
        + ("" if worse else " (none)")
    )
    lines += [f"  {difference_line(report, day, d)}" for day, d in worse]
    lines.append(f"Alarms the candidate ADDS: {len(added)}" + ("" if added else " (none)"))
    lines += [f"  {difference_line(report, day, d)}" for day, d in added]
    lines.append(
        f"Alarms the candidate sounds EARLIER: {len(earlier)}" + ("" if earlier else " (none)")
    )
    lines += [f"  {difference_line(report, day, d)}" for day, d in earlier]
    lines.append("")
    lines.append(
        "rule\traises (in force -> candidate)\tannunciations\tper patient-hour"
        "\ttime in alarm\tfirst alarm after each deterioration"
    )
    for rule_id, a, b in figure_rows(report):
        ra, aa, ta, fa = _side_values(a, rule_id)
        rb, ab, tb, fb = _side_values(b, rule_id)
        lines.append(
            f"{rule_id}\t{ra} -> {rb}\t{aa} -> {ab}\t{_per_hour(a, aa)} -> {_per_hour(b, ab)}"
            f"\t{_seconds(ta)} -> {_seconds(tb)}\t{_first_alarms(fa)} -> {_first_alarms(fb)}"
        )
    return "\n".join(lines) + "\n"


CSV_COLUMNS = (
    "section",
    "rule_set",
    "trial",
    "bed",
    "injection",
    "rule",
    "level",
    "change",
    "in_force_at",
    "candidate_at",
    "delay_s",
    "in_force_priority",
    "candidate_priority",
    "raises",
    "raises_per_patient_hour",
    "annunciations",
    "annunciations_per_patient_hour",
    "time_in_alarm_s",
    "patient_hours",
    "first_alarm_after_deterioration_s",
)


def csv_report(report: WhatIf) -> str:
    """Every figure and every difference, one row each (times in ward time)."""
    c = report.comparison
    rows: list[dict[str, object]] = []
    for role, rule_set in (("in force", report.in_force), ("candidate", report.candidate)):
        rows.append(
            {
                "section": f"rule set {role}",
                "rule_set": rule_set.version,
                "patient_hours": round(c.in_force.patient_hours, 3),
            }
        )
    for day in c.days:
        rows.append(
            {
                "section": "day replayed",
                "trial": day.trial_id,
                "bed": day.bed or "—",
                "injection": format_ward(report.injections.get(day.trial_id), report.zone),
                "patient_hours": round(day.in_force.patient_hours, 3),
            }
        )
    for day, d in c.differences():
        if d.change in (Change.SAME, Change.ALREADY_SHOWN):
            continue
        rows.append(
            {
                "section": "difference",
                "trial": day.trial_id,
                "bed": day.bed or "—",
                "injection": format_ward(report.injections.get(day.trial_id), report.zone),
                "rule": d.rule_id,
                "level": d.level_id,
                "change": d.change.value,
                "in_force_at": _time(report, d.in_force_at),
                "candidate_at": _time(report, d.candidate_at),
                "delay_s": "—" if d.delay_s is None else round(d.delay_s, 1),
                "in_force_priority": d.in_force_priority or "—",
                "candidate_priority": d.candidate_priority or "—",
            }
        )
    for rule_id, a, b in figure_rows(report):
        for side in (a, b):
            raises, annunciations, in_alarm, first = _side_values(side, rule_id)
            rows.append(
                {
                    "section": "figures",
                    "rule_set": side.version,
                    "rule": rule_id,
                    "raises": raises,
                    "raises_per_patient_hour": side.per_hour(raises) or 0,
                    "annunciations": annunciations,
                    "annunciations_per_patient_hour": side.per_hour(annunciations) or 0,
                    "time_in_alarm_s": round(in_alarm, 1),
                    "patient_hours": round(side.patient_hours, 3),
                    "first_alarm_after_deterioration_s": ";".join(
                        "never" if v is None else f"{v:g}" for v in first
                    )
                    or "—",
                }
            )
    return to_csv(CSV_COLUMNS, [[row.get(col, "") for col in CSV_COLUMNS] for row in rows])


PDF_DIFFERENCES = 28  # rows of differences that fit the page beside the figures


def pdf_report(report: WhatIf) -> bytes:
    """One A4 page: both versions, the days, the differences (the safety question first; a
    longer list is cut and says how many more are in the CSV), the figures."""
    from xml.sax.saxutils import escape

    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.lib.units import mm
    from reportlab.platypus import (
        KeepInFrame,
        Paragraph,
        SimpleDocTemplate,
        Spacer,
        Table,
        TableStyle,
    )

    c = report.comparison
    styles = getSampleStyleSheet()
    small = styles["BodyText"].clone("small", fontSize=7.5, leading=9)
    story: list = [
        Paragraph("What-if replay of the alarm rules", styles["Title"]),
        Paragraph(
            escape(
                f"Rule set in force: {report.in_force.version}. Candidate: "
                f"{report.candidate.version}."
            ),
            styles["BodyText"],
        ),
        Paragraph(
            escape(
                f"Days replayed: {len(c.days)} ({c.in_force.patient_hours:.2f} "
                "patient-hours): " + ("; ".join(day_label(report, d) for d in c.days) or "none")
            ),
            small,
        ),
        Spacer(1, 3 * mm),
    ]
    worse = c.differences(Change.NOT_AT_ALL, Change.LATER)
    added = c.differences(Change.ADDED)
    earlier = c.differences(Change.EARLIER)
    verdict = (
        f"{len(worse)} alarm(s) LATER or NOT AT ALL under the candidate"
        if worse
        else "No alarm is later or missing under the candidate"
    )
    story.append(
        Paragraph(
            f"<b>{escape(verdict)}</b>; {len(added)} added; {len(earlier)} earlier.",
            styles["BodyText"],
        )
    )
    header = ["change", "trial / bed", "alarm (rule/level)", "in force", "candidate", "delay"]
    data = [header]
    listed = (worse + added + earlier)[:PDF_DIFFERENCES]
    for day, d in listed:
        delay = "—" if d.delay_s is None else f"{d.delay_s:+.0f} s"
        data.append(
            [
                d.change.value.upper(),
                f"{day.trial_id} / {day.bed or '—'}",
                Paragraph(escape(f"{d.rule_id}/{d.level_id}"), small),
                _time(report, d.in_force_at),
                _time(report, d.candidate_at),
                delay,
            ]
        )
    more = len(worse) + len(added) + len(earlier) - len(listed)
    if len(data) > 1:
        table = Table(
            data, repeatRows=1, colWidths=[22 * mm, 22 * mm, 58 * mm, 28 * mm, 28 * mm, 18 * mm]
        )
        style = [
            ("FONTSIZE", (0, 0), (-1, -1), 7.5),
            ("GRID", (0, 0), (-1, -1), 0.25, colors.grey),
            ("BACKGROUND", (0, 0), (-1, 0), colors.lightgrey),
        ]
        for i, (_, d) in enumerate(listed, start=1):
            if d.change in (Change.NOT_AT_ALL, Change.LATER):
                style.append(("TEXTCOLOR", (0, i), (0, i), colors.red))
        table.setStyle(TableStyle(style))
        story.append(table)
    if more > 0:
        story.append(Paragraph(f"…and {more} more, all in the CSV report.", small))
    story.append(Spacer(1, 3 * mm))
    figures = [
        [
            "rule",
            "raises",
            "annunciations",
            "per patient-hour",
            "time in alarm",
            "first alarm after deterioration",
        ]
    ]
    for rule_id, a, b in figure_rows(report):
        ra, aa, ta, fa = _side_values(a, rule_id)
        rb, ab, tb, fb = _side_values(b, rule_id)
        figures.append(
            [
                rule_id,
                f"{ra} → {rb}",
                f"{aa} → {ab}",
                f"{_per_hour(a, aa)} → {_per_hour(b, ab)}",
                f"{_seconds(ta)} → {_seconds(tb)}",
                Paragraph(escape(f"{_first_alarms(fa)} → {_first_alarms(fb)}"), small),
            ]
        )
    table = Table(
        figures, repeatRows=1, colWidths=[30 * mm, 18 * mm, 24 * mm, 26 * mm, 30 * mm, 48 * mm]
    )
    table.setStyle(
        TableStyle(
            [
                ("FONTSIZE", (0, 0), (-1, -1), 7.5),
                ("GRID", (0, 0), (-1, -1), 0.25, colors.grey),
                ("BACKGROUND", (0, 0), (-1, 0), colors.lightgrey),
            ]
        )
    )
    story.append(Paragraph("Figures: in force → candidate", styles["Heading4"]))
    story.append(table)
    story.append(
        Paragraph(
            "Acknowledgements are the record's, by rule, at their recorded times: an alarm the "
            "record never had is not acknowledged in the replay. Device link changes are not "
            "recorded and are not replayed.",
            small,
        )
    )
    buffer = io.BytesIO()
    margin = 12 * mm
    doc = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=margin,
        rightMargin=margin,
        topMargin=margin,
        bottomMargin=margin,
        title="What-if replay of the alarm rules",
    )
    # Shrunk to fit: always exactly one page.
    doc.build([KeepInFrame(A4[0] - 2 * margin, A4[1] - 2 * margin, story, mode="shrink")])
    return buffer.getvalue()


def write_report(report: WhatIf, out: Path) -> int:
    """The CSV or PDF at ``out`` (by its suffix), owner-readable only; returns its size."""
    import os

    data = (
        pdf_report(report) if out.suffix.lower() == ".pdf" else csv_report(report).encode("utf-8")
    )
    partial = out.with_name(out.name + ".partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        partial.replace(out)  # never a half-written report
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return len(data)


__all__ = [
    "RecordedDay",
    "WhatIf",
    "closed_at",
    "compare_recorded_day",
    "csv_report",
    "finished_trials",
    "pdf_report",
    "recorded_day",
    "replay",
    "text_report",
    "what_if",
    "write_report",
]
