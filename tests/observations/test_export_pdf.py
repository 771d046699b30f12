"""The one-page trial report: a real PDF, one A4 page, with the facts a team signs off."""

from __future__ import annotations

import io
from datetime import timedelta
from pathlib import Path

import pytest
from pypdf import PdfReader

from observations.alarms import AlarmEventIn
from observations.exports import export_trial
from observations.exports.pdf_report import NO_DECISION, trial_pdf
from observations.record import TrialRecord
from tests.observations.conftest import FakeClock, Staff
from tests.observations.test_exports import record_trial_day
from vocabulary import AlarmEventType, AlarmKind, Priority


def pdf_text(data: bytes) -> tuple[int, str, tuple[float, float]]:
    assert data.startswith(b"%PDF-")
    reader = PdfReader(io.BytesIO(data))
    page = reader.pages[0]
    size = (float(page.mediabox.width), float(page.mediabox.height))
    return len(reader.pages), " ".join(page.extract_text().split()), size


@pytest.mark.parametrize("decide", [False, True])
def test_report_is_one_a4_page_with_identifiers_scores_and_decision(
    record: TrialRecord, staff: Staff, clock: FakeClock, decide: bool
):
    day = record_trial_day(record, staff, clock, decide=decide)
    pages, text, size = pdf_text(trial_pdf(record, day.trial_id))
    assert pages == 1
    assert size == pytest.approx((595.28, 841.89), abs=0.5)  # A4 in points
    for fact in (
        "O'BRIEN, Siân",
        "943 476 5919",
        "H1234567",
        "02 Mar 1971",  # identifiers
        "50 mcg lumbar puncture at 20 Nov 2026 10:00 GMT",  # dose and injection in ward time
        "SpO2 93 % for 60 s",  # the alarm's condition, acknowledged by whom and how fast
        "1 of 1 by",
        "Drowsiness from 10:15:00 GMT",  # side effect, in the ward's one format
        "Left hip adductors 3 1",
        "Right hip adductors 1+ 1",  # MAS baseline vs 4 h
    ):
        assert fact in text, fact
    # The report leads with the day's safety, then the hint as on screen, then the chart.
    assert text.index("Safety on the trial day") < text.index("Responder criterion (hint")
    assert text.index("Responder criterion (hint") < text.index("Vital signs")
    if decide:
        assert "Responder — offer pump" in text and "Signed by Dr.Jones" in text
        assert NO_DECISION not in text
    else:
        assert NO_DECISION in text


def test_report_stays_one_page_however_much_was_recorded(
    record: TrialRecord, staff: Staff, clock: FakeClock
):
    def thirty_alarms(trial_id: int) -> None:
        """Thirty more alarms with long messages, raised and ended within the window: they
        must be cut, never spill to a second page."""
        start = clock.now - timedelta(minutes=20)
        for event, after in ((AlarmEventType.RAISED, 0), (AlarmEventType.RESOLVED, 60)):
            record.alarms.record_events(
                staff.service,
                [
                    AlarmEventIn(
                        trial_id,
                        f"rule_{i}",
                        event,
                        start + timedelta(seconds=i + after),
                        Priority.HIGH,
                        AlarmKind.PHYSIOLOGICAL,
                        "x" * 400,
                        {},
                        "test",
                    )
                    for i in range(30)
                ],
            )

    day = record_trial_day(record, staff, clock, while_monitored=thirty_alarms)
    data = export_trial(record, day.trial_id, "pdf")
    pages, text, _ = pdf_text(data)
    assert pages == 1
    # Thirty high-priority conditions and the day's own: the least important are cut, and
    # the page says how many and where they are.
    assert "15 more conditions of lower rank not shown here: see the CSV export." in text


def test_overdose_demo_day_leads_with_critical_desaturation_and_red_flags(
    overdose_day_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    from observations.settings import load_settings

    monkeypatch.setenv("ITBMON_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("ITBMON_DATABASE_URL", overdose_day_url)
    record = TrialRecord.open(load_settings())
    try:
        [trial] = record.trials.list()  # the day of `python -m monitor demo-trial`, recorded once
        pages, text, _ = pdf_text(trial_pdf(record, trial.id))
    finally:
        record.close()
    assert pages == 1
    safety = text[text.index("Safety on the trial day") : text.index("Responder criterion")]
    assert "No higher dose is suggested. The team decides." in safety
    assert "Repeat trial" not in text
    assert "red-flag side effect: Slurred speech" in safety
    assert "Red flags: Slurred speech from" in safety
    # The table: red flags first, then the critical desaturation, before any medium one.
    table = safety[safety.index("Alarm condition") :]
    assert table.index("Red-flag side effect") < table.index("Critical desaturation")
    assert table.index("Critical desaturation") < table.index("Severe desaturation")
    assert table.index("Severe desaturation") < table.index("Desaturation: SpO2 93 %")
