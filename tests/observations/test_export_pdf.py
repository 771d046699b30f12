"""The one-page trial report: a real PDF, one A4 page, with the facts a team signs off."""

from __future__ import annotations

import io
from datetime import timedelta

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
        "SpO2 93 % for 60 s",
        "Sat up, deep breaths",  # alarm and its acknowledgement
        "Drowsiness from 10:15 GMT",  # side effect
        "Left hip adductors 3 1",
        "Right hip adductors 1+ 1",  # MAS baseline vs 4 h
    ):
        assert fact in text, fact
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
    assert "23 more alarms: see the CSV export." in text
