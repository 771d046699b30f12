"""The one-page trial report (A4 PDF, reportlab only: no browser, no kaleido).

It leads with what matters: the day's safety (signs of overdose, the suggested next step, the
alarms grouped by condition, high priority and red flags first), then the responder evaluation
exactly as the Review page shows it (rules/evaluation.py). Everything sits in one
shrink-to-fit frame, so the report is always exactly one page; each alarm event is in the CSV.
Times are ward times with the zone name (observations.ward_time.format_ward).
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from datetime import datetime, timedelta
from xml.sax.saxutils import escape

from reportlab.graphics.charts.lineplots import LinePlot
from reportlab.graphics.shapes import Drawing, Line, Polygon, String
from reportlab.graphics.widgets.markers import makeMarker
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.platypus import (
    KeepInFrame,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)
from reportlab.platypus.flowables import Flowable

from observations.entries import SCALED_MEASURES, measure_label
from observations.exports.snapshot import (
    GENERATOR,
    TrialSnapshot,
    condition_rows,
    evaluation_of,
    safety_lines,
    take_snapshot,
)
from observations.nhs_number import format_nhs, is_test_number
from observations.record import TrialRecord
from observations.ward_time import format_ward, to_ward
from vocabulary import (
    DECISION_OUTCOME_LABELS,
    LABELS,
    RED_FLAG_SIDE_EFFECTS,
    SIDE_EFFECT_LABELS,
    STREAMED_PARAMETERS,
    DecisionOutcome,
    Parameter,
    SideEffect,
)

PAGE = A4
MARGIN = 12 * mm
# Alarm conditions on the page (sorted high priority and red flags first, so a cut drops the
# least important); the rest are named as cut, and every event is in the CSV.
MAX_CONDITIONS = 16
MAX_SIDE_EFFECTS = 13  # every sign the leaflet lists
MAX_TEXT = 300
NO_DECISION = "No decision recorded yet"
INTENDED_USE = (
    "An aid to ward observation: not a replacement for the nurse at the bedside or a certified "
    "alarm system."
)
# Chart series: parameter, colour; SpO2 gets its own panel (its scale would flatten the rest).
SERIES: tuple[tuple[Parameter, colors.Color], ...] = (
    (Parameter.SPO2, colors.HexColor("#1f77b4")),
    (Parameter.PULSE_RATE, colors.HexColor("#d62728")),
    (Parameter.SYSTOLIC, colors.HexColor("#2ca02c")),
    (Parameter.RR, colors.HexColor("#9467bd")),
)
# One device point a minute is plenty at this width; a longer silence breaks the line.
CHART_STEP = timedelta(minutes=1)
GAP = timedelta(minutes=3)

_styles = getSampleStyleSheet()
BODY = ParagraphStyle("body", parent=_styles["Normal"], fontSize=8, leading=10)
SMALL = ParagraphStyle("small", parent=BODY, fontSize=7, leading=8.5, textColor=colors.grey)
HEAD = ParagraphStyle(
    "head", parent=_styles["Heading3"], fontSize=10, leading=12, spaceBefore=4, spaceAfter=2
)
TITLE = ParagraphStyle(
    "title", parent=_styles["Title"], fontSize=14, leading=17, spaceAfter=2, alignment=0
)
CELL = ParagraphStyle("cell", parent=BODY, fontSize=7.5, leading=9)
GRID = TableStyle(
    [
        ("FONT", (0, 0), (-1, -1), "Helvetica", 7.5),
        ("FONT", (0, 0), (-1, 0), "Helvetica-Bold", 7.5),
        ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8eef4")),
        ("GRID", (0, 0), (-1, -1), 0.3, colors.HexColor("#9aa5b1")),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("TOPPADDING", (0, 0), (-1, -1), 1.5),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 1.5),
    ]
)


def _text(value: object, limit: int = MAX_TEXT) -> str:
    """Text for a Paragraph: cut to ``limit`` and XML-escaped (reportlab parses markup)."""
    text = " ".join(str(value).split())
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return escape(text)


def _p(value: object, style: ParagraphStyle = CELL, limit: int = MAX_TEXT) -> Paragraph:
    return Paragraph(_text(value, limit), style)


class _Report:
    def __init__(self, snap: TrialSnapshot) -> None:
        self.snap = snap
        self.width = PAGE[0] - 2 * MARGIN
        self.evaluation = evaluation_of(snap)

    def ward(self, moment: datetime | None, with_date: bool = True) -> str:
        return format_ward(moment, self.snap.zone, with_date=with_date)

    # ------------------------------------------------------------------ sections

    def header(self) -> list[Flowable]:
        trial = self.snap.trial
        patient = trial.patient
        test = " (test number)" if is_test_number(patient.nhs_number) else ""
        rows = [
            ["Name", "NHS number", "Hospital number (MRN)", "Date of birth"],
            [
                _p(patient.name),
                _p(format_nhs(patient.nhs_number) + test),
                _p(patient.hospital_number),
                _p(f"{patient.date_of_birth:%d %b %Y}"),
            ],
        ]
        identity = Table(rows, colWidths=[self.width * f for f in (0.34, 0.24, 0.22, 0.20)])
        identity.setStyle(GRID)
        injection = trial.injection
        if injection is None:
            given = "No injection recorded"
        else:
            given = (
                f"{injection.dose_mcg} mcg {injection.route.replace('_', ' ')} at "
                f"{self.ward(injection.given_at)} by {injection.given_by}"
            )
        facts = [
            f"<b>Injection:</b> {_text(given)} (planned {trial.planned_dose_mcg} mcg)",
            f"<b>Trial:</b> {trial.id} (episode {trial.episode}, trial {trial.trial_number}) · "
            f"<b>Status:</b> {_text(trial.status)} · <b>Bed:</b> {_text(trial.bed or '—')} · "
            f"<b>Window ends:</b> {self.ward(trial.window_end)} · "
            f"<b>SpO2 scale:</b> {trial.spo2_scale}",
        ]
        return [
            Paragraph("Intrathecal baclofen trial report", TITLE),
            identity,
            Spacer(1, 2),
            *(Paragraph(f, BODY) for f in facts),
        ]

    def chart(self) -> list[Flowable]:
        return [Paragraph("Vital signs", HEAD), _Timeline(self.snap, self.width, 62 * mm)]

    def safety(self) -> list[Flowable]:
        """First on the page: the signs of overdose, the suggested next step, then the alarms
        by condition (high priority and red flags first), as Review and Decision show them."""
        evaluation = self.evaluation
        flow: list[Flowable] = [Paragraph("Safety on the trial day", HEAD)]
        step = evaluation.next_step
        colour = "#b00020" if evaluation.signs else "#1b5e20"
        flow.append(
            Paragraph(
                f"<font color='{colour}'><b>Suggested next step ({_text(step.label)}, not a "
                f"decision):</b></font> {_text(step.text, 900)}",
                BODY,
            )
        )
        flow += [
            Paragraph(_text(line, 600), BODY) for line in safety_lines(evaluation, self.snap.zone)
        ]
        rows = condition_rows(evaluation, self.snap.zone)
        if not rows:
            return [*flow, Paragraph("No physiological alarm was raised.", BODY)]
        columns = ("Condition", "Priority", "Times", "First", "Longest", "Worst", "Acknowledged")
        table_rows: list[list[object]] = [
            [
                "Alarm condition",
                "Priority",
                "Times entered",
                "First",
                "Longest",
                "Worst",
                "Acknowledged",
            ]
        ]
        for row in rows[:MAX_CONDITIONS]:
            table_rows.append([_p(row[c], limit=140) for c in columns])
        table = Table(
            table_rows,
            colWidths=[self.width * f for f in (0.25, 0.075, 0.055, 0.1, 0.12, 0.18, 0.22)],
            repeatRows=1,
        )
        style = TableStyle(GRID.getCommands())
        shown = evaluation.safety.conditions[:MAX_CONDITIONS]
        for index, condition in enumerate(shown, start=1):
            if condition.priority == "high":
                style.add("BACKGROUND", (0, index), (1, index), colors.HexColor("#fde2e4"))
        table.setStyle(style)
        technical = evaluation.safety.technical_alarms
        cut = len(rows) - MAX_CONDITIONS
        more = (
            f"{cut} more condition{'s' if cut > 1 else ''} of lower rank not shown here: "
            "see the CSV export. "
            if cut > 0
            else ""
        )
        note = (
            f"{more}Times entered: how often the alarm reached that level. Technical "
            f"alarms: {technical}. Every event, with its note: CSV export."
        )
        return [*flow, table, Paragraph(note, SMALL)]

    def responder(self) -> list[Flowable]:
        evaluation = self.evaluation
        lines = [_text(evaluation.hint_text, 900)]
        for name, timing in (
            ("Baseline scores", evaluation.baseline_timing),
            ("4-hour scores", evaluation.four_hour_timing),
        ):
            if timing is not None:
                lines.append(f"{name}: {self.ward(timing.assessed_at)}, {_text(timing.label, 400)}")
        return [
            Paragraph("Responder criterion (hint, as on the Review page)", HEAD),
            *(Paragraph(line, BODY) for line in lines),
        ]

    def side_effects(self) -> list[Flowable]:
        first_seen: dict[str, datetime] = {}
        checked = 0
        for obs in self.snap.current_sets:
            if obs.side_effects is None:
                continue
            checked += 1
            for effect in obs.side_effects:
                first_seen.setdefault(effect, obs.measured_at)
        flow: list[Flowable] = [Paragraph("Side effects", HEAD)]
        if not first_seen:
            words = f"None recorded in {checked} checks." if checked else "Never checked."
            return [*flow, Paragraph(words, BODY)]
        items = []
        order = sorted(
            first_seen.items(),
            key=lambda kv: (SideEffect(kv[0]) not in RED_FLAG_SIDE_EFFECTS, kv[1]),
        )
        for effect, at in order[:MAX_SIDE_EFFECTS]:
            side = SideEffect(effect)
            label = _text(SIDE_EFFECT_LABELS[side])
            if side in RED_FLAG_SIDE_EFFECTS:
                label = f"<font color='#b00020'><b>{label} (red flag)</b></font>"
            items.append(f"{label} from {self.ward(at, with_date=False)}")
        more = len(first_seen) - MAX_SIDE_EFFECTS
        tail = f"; {more} more in the CSV" if more > 0 else ""
        return [*flow, Paragraph("; ".join(items) + tail + f" ({checked} checks).", BODY)]

    def scores(self, width: float) -> list[Flowable]:
        baseline = next((a for a in self.snap.assessments if a.time_point == "baseline"), None)
        four = next((a for a in reversed(self.snap.assessments) if a.time_point == "4h"), None)
        flow: list[Flowable] = [Paragraph("Spasticity scores: baseline and 4 hours", HEAD)]
        if baseline is None and four is None:
            return [*flow, Paragraph("No scores recorded yet.", BODY)]

        def labels(assessment: object) -> dict[tuple[str, str], str]:
            if assessment is None:
                return {}
            return {(s.muscle_group, s.side): s.label for s in assessment.ashworth}  # type: ignore[attr-defined]

        before, after = labels(baseline), labels(four)
        muscles = list(dict.fromkeys([*before, *after]))
        scale = (baseline or four).ashworth_scale.replace("_", " ")  # type: ignore[union-attr]
        rows: list[list[object]] = [[f"Muscle ({scale})", "Baseline", "4 h"]]
        for muscle, side in muscles:
            rows.append(
                [
                    f"{side.capitalize()} {muscle.replace('_', ' ')}",
                    before.get((muscle, side), "—"),
                    after.get((muscle, side), "—"),
                ]
            )
        for label, field in (
            *((measure_label(name), name) for name in SCALED_MEASURES),
            (LABELS[Parameter.POWER_LEFT_LEG], "power_left_leg"),
            (LABELS[Parameter.POWER_RIGHT_LEG], "power_right_leg"),
        ):
            values = [getattr(a, field) if a else None for a in (baseline, four)]
            if any(v is not None for v in values):
                rows.append([label, *("—" if v is None else str(v) for v in values)])
        goals: dict[str, list[str]] = {}
        for column, assessment in enumerate((baseline, four)):
            for goal in assessment.goals if assessment else []:
                ratings = goals.setdefault(goal.goal, ["—", "—"])
                ratings[column] = "—" if goal.rating is None else f"{goal.rating:+d}"
        for goal_text, ratings in goals.items():
            rows.append([_p(f"Goal: {goal_text}", limit=90), *ratings])
        table = Table(rows, colWidths=[width * f for f in (0.6, 0.2, 0.2)], hAlign="LEFT")
        table.setStyle(GRID)
        when = " · ".join(
            f"{name}: {self.ward(a.assessed_at)} by {self.snap.user_name(a.assessed_by)}"
            for name, a in (("Baseline", baseline), ("4 h", four))
            if a is not None
        )
        return [*flow, table, Paragraph(_text(when), SMALL)]

    def decision(self) -> list[Flowable]:
        flow: list[Flowable] = [Paragraph("Decision", HEAD)]
        decision = self.snap.decision
        if decision is None:
            return [*flow, Paragraph(f"<b>{NO_DECISION}</b>", BODY)]
        outcome = DECISION_OUTCOME_LABELS.get(DecisionOutcome(decision.outcome), decision.outcome)
        lines = [
            f"<b>{_text(outcome)}</b>. Rationale: {_text(decision.rationale)}",
            f"Signed by <b>{_text(self.snap.user_name(decision.signed_by))}</b> at "
            f"{self.ward(decision.signed_at)}",
        ]
        if decision.next_dose_mcg is not None:
            lines.append(
                f"Next trial: {decision.next_dose_mcg} mcg, not before "
                f"{self.ward(decision.next_not_before)}"
            )
        return [*flow, *(Paragraph(line, BODY) for line in lines)]

    def footer(self) -> list[Flowable]:
        return [
            Spacer(1, 4),
            Paragraph(
                f"Generated by {GENERATOR} at {self.ward(self.snap.generated_at)}. "
                f"{INTENDED_USE} Full data: CSV, FHIR and HL7 exports.",
                SMALL,
            ),
        ]

    def story(self) -> list[Flowable]:
        # Alarms and side effects beside each other would crowd; scores and decision share
        # a row so the page stays readable at 7.5 pt.
        left_width = self.width * 0.55
        left = [*self.scores(left_width - 8)]
        right = [*self.decision(), *self.side_effects()]
        pair = Table([[left, right]], colWidths=[left_width, self.width - left_width])
        pair.setStyle(
            TableStyle(
                [
                    ("VALIGN", (0, 0), (-1, -1), "TOP"),
                    ("LEFTPADDING", (0, 0), (-1, -1), 0),
                    ("RIGHTPADDING", (0, 0), (0, 0), 8),
                    ("LEFTPADDING", (1, 0), (1, 0), 4),
                ]
            )
        )
        return [
            *self.header(),
            *self.safety(),
            *self.responder(),
            *self.chart(),
            pair,
            *self.footer(),
        ]


class _Timeline(Flowable):
    """SpO2 panel above, pulse / systolic / RR panel below; x = ward clock time.

    Device readings are lines (broken where the probe was off or the link was silent);
    manual entries are dots; the injection is a dashed line; alarms are red triangles.
    """

    def __init__(self, snap: TrialSnapshot, width: float, height: float) -> None:
        super().__init__()
        self.snap = snap
        self.width = width
        self.height = height

    def wrap(self, available_width: float, available_height: float) -> tuple[float, float]:
        return self.width, self.height

    def draw(self) -> None:
        drawing = self.drawing()
        drawing.drawOn(self.canv, 0, 0)

    def _series(
        self, parameter: Parameter
    ) -> tuple[list[list[tuple[datetime, float]]], list[tuple[datetime, float]]]:
        segments: list[list[tuple[datetime, float]]] = []
        last: datetime | None = None
        last_bucket: int | None = None
        step = CHART_STEP.total_seconds()
        for reading in self.snap.device_readings:
            if reading.parameter != parameter.value or reading.value is None:
                continue
            bucket = int(reading.time.timestamp() // step)
            if bucket == last_bucket:
                continue
            # A streamed trace breaks where it fell silent; a cuff's readings are joined.
            streamed = parameter in STREAMED_PARAMETERS
            if last is None or (streamed and reading.time - last > GAP):
                segments.append([])
            segments[-1].append((reading.time, reading.value))
            last, last_bucket = reading.time, bucket
        manual = [
            (obs.measured_at, float(getattr(obs, parameter.value)))
            for obs in self.snap.current_sets
            if getattr(obs, parameter.value) is not None
        ]
        return segments, manual

    def _times(self) -> tuple[datetime, datetime] | None:
        moments = [r.time for r in self.snap.device_readings if r.value is not None]
        moments += [o.measured_at for o in self.snap.current_sets]
        injection = self.snap.trial.injection
        if injection is not None:
            moments.append(injection.given_at)
        if not moments:
            return None
        start, end = min(moments), max(moments)
        return start, max(end, start + timedelta(minutes=30))

    def drawing(self) -> Drawing:
        drawing = Drawing(self.width, self.height)
        span = self._times()
        if span is None:
            drawing.add(
                String(
                    4,
                    self.height / 2,
                    "No vital signs recorded yet.",
                    fontName="Helvetica",
                    fontSize=9,
                )
            )
            return drawing
        start, end = span
        left, legend_h, gap = 30, 10, 16
        plot_h = (self.height - legend_h - gap - 14) / 2
        panels = (
            ((Parameter.SPO2,), (80, 100, 5), self.height - legend_h - plot_h - 2),
            ((Parameter.PULSE_RATE, Parameter.SYSTOLIC, Parameter.RR), (0, 200, 40), 14),
        )
        x_max = (end - start).total_seconds() / 60
        for parameters, (y_min, y_max, y_step), y in panels:
            drawing.add(
                self._panel(
                    parameters,
                    start,
                    x_max,
                    (y_min, y_max, y_step),
                    left,
                    y,
                    self.width - left - 6,
                    plot_h,
                    axis=y == 14,
                )
            )
        self._legend(drawing, left)
        return drawing

    def _panel(
        self,
        parameters: Sequence[Parameter],
        start: datetime,
        x_max: float,
        y_range: tuple[int, int, int],
        x: float,
        y: float,
        width: float,
        height: float,
        axis: bool,
    ) -> Drawing:
        def minutes(moment: datetime) -> float:
            return (moment - start).total_seconds() / 60

        plot = LinePlot()
        plot.x, plot.y, plot.width, plot.height = x, y, width, height
        data: list[list[tuple[float, float]]] = []
        styles: list[tuple[colors.Color, bool]] = []
        colour_of = dict(SERIES)
        y_min, y_max, y_step = y_range
        for parameter in parameters:
            segments, manual = self._series(parameter)
            for segment in segments:
                data.append([(minutes(t), v) for t, v in segment])
                # A lone point draws no line: mark it so it is not lost.
                styles.append((colour_of[parameter], len(segment) == 1))
            if manual:
                data.append([(minutes(t), v) for t, v in manual])
                styles.append((colour_of[parameter], True))
        # The axis widens to every value (in whole steps): a value is drawn where it was,
        # never pinned to the edge as if an SpO2 of 70 % had been 80 %.
        values = [v for series in data for _, v in series]
        if values:
            y_min = min(y_min, math.floor(min(values) / y_step) * y_step)
            y_max = max(y_max, math.ceil(max(values) / y_step) * y_step)
        if not data:  # LinePlot needs a series; an invisible one keeps the axes
            data.append([(0, y_min)])
            styles.append((colors.white, True))
        plot.data = data
        for index, (colour, dots) in enumerate(styles):
            line = plot.lines[index]
            line.strokeColor = colour
            line.strokeWidth = 0.8
            if dots:
                line.strokeColor = None  # dots only: manual entries are not a continuous trace
                line.symbol = makeMarker(
                    "FilledCircle", size=3.2, fillColor=colour, strokeColor=colour
                )
        plot.xValueAxis.valueMin = 0
        plot.xValueAxis.valueMax = x_max
        plot.xValueAxis.valueSteps = self._ticks(start, x_max)
        plot.xValueAxis.labelTextFormat = (
            (lambda v: to_ward(start + timedelta(minutes=v), self.snap.zone).strftime("%H:%M"))
            if axis
            else (lambda v: "")
        )
        plot.xValueAxis.labels.fontSize = 6.5
        plot.yValueAxis.valueMin, plot.yValueAxis.valueMax = y_min, y_max
        plot.yValueAxis.valueStep = y_step
        plot.yValueAxis.labels.fontSize = 6.5
        plot.yValueAxis.gridStrokeColor = colors.HexColor("#e3e3e3")
        plot.yValueAxis.visibleGrid = True
        group = Drawing(self.width, self.height)
        group.add(plot)
        injection = self.snap.trial.injection
        if injection is not None:
            at = x + width * minutes(injection.given_at) / x_max
            group.add(
                Line(
                    at,
                    y,
                    at,
                    y + height,
                    strokeColor=colors.black,
                    strokeDashArray=[2, 2],
                    strokeWidth=0.6,
                )
            )
            if not axis:
                group.add(
                    String(at + 2, y + height - 7, "injection", fontName="Helvetica", fontSize=6)
                )
        for event in self.snap.alarm_events:
            if event.event != "raised":
                continue
            at = x + width * minutes(event.at) / x_max
            group.add(
                Polygon(
                    [at - 2.5, y, at + 2.5, y, at, y + 5],
                    fillColor=colors.HexColor("#b00020"),
                    strokeColor=None,
                )
            )
        return group

    def _ticks(self, start: datetime, x_max: float) -> list[float]:
        """A tick on each whole half hour (hour, for long spans) of ward time."""
        step = 30 if x_max <= 6 * 60 else 60
        local = to_ward(start, self.snap.zone)
        past = (local.minute % step) + local.second / 60 + local.microsecond / 60e6
        ticks, value = [], (step - past) % step
        while value <= x_max:
            ticks.append(value)
            value += step
        return ticks

    def _legend(self, drawing: Drawing, left: float) -> None:
        x = left
        top = self.height - 8
        for parameter, colour in SERIES:
            drawing.add(Line(x, top + 3, x + 10, top + 3, strokeColor=colour, strokeWidth=1.5))
            label = LABELS[parameter]
            drawing.add(String(x + 13, top, label, fontName="Helvetica", fontSize=7))
            x += 22 + len(label) * 3.8
        notes = "line = device, dot = manual entry, red mark = alarm raised, dashed = injection"
        drawing.add(
            String(x + 6, top, notes, fontName="Helvetica", fontSize=6.5, fillColor=colors.grey)
        )


def snapshot_pdf(snap: TrialSnapshot) -> bytes:
    buffer = io.BytesIO()
    patient = snap.trial.patient
    doc = SimpleDocTemplate(
        buffer,
        pagesize=PAGE,
        leftMargin=MARGIN,
        rightMargin=MARGIN,
        topMargin=MARGIN,
        bottomMargin=MARGIN,
        title=f"ITB trial report, trial {snap.trial.id}",
        author=GENERATOR,
        subject=f"{patient.name}, NHS {format_nhs(patient.nhs_number)}",
    )
    # Shrink-to-fit in one frame: however much was recorded, the report stays one page.
    frame = KeepInFrame(doc.width, doc.height, _Report(snap).story(), mode="shrink")
    doc.build([frame])
    return buffer.getvalue()


def trial_pdf(record: TrialRecord, trial_id: int) -> bytes:
    """The one-page A4 trial report as PDF bytes."""
    return snapshot_pdf(take_snapshot(record, trial_id))
