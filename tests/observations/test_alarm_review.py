"""The ward's alarm figures (observations/alarm_review.py) on a small hand-made set of events.

The ward's zone is Europe/London and the range is in British Summer Time, so a ward date runs
23:00 to 23:00 UTC: an alarm at 23:00 UTC belongs to the next ward date.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from observations.alarm_review import AlarmReview, AlarmReviews, nearest_rank
from observations.alarms import AlarmEventIn
from observations.entries import ReadingIn
from observations.errors import InvalidEntry, NotPermitted
from observations.record import TrialRecord
from tests.accounts import sign_in_as
from tests.observations.conftest import TEST_NHS, FakeClock, Staff, patient_details
from vocabulary import AlarmEventType, AlarmKind, Parameter, Priority, QualityFlag, Role

FIRST, LAST = date(2026, 7, 1), date(2026, 7, 2)
GAP_S = 12.0


def utc(day: int, hour: int, minute: int = 0, second: float = 0) -> datetime:
    return datetime(2026, 6 if day == 30 else 7, day, hour, minute, tzinfo=UTC) + timedelta(
        seconds=second
    )


class Ward:
    """Two trials in monitoring (bed 4B, and one with no bed) and the record's clock."""

    def __init__(self, record: TrialRecord, staff: Staff, clock: FakeClock) -> None:
        self.record, self.staff, self.clock = record, staff, clock
        clock.now = utc(30, 20)
        self.a = self._trial(patient_details(), "4B")
        self.b = self._trial(patient_details(nhs_number=TEST_NHS, hospital_number="h7654321"), None)

    def _trial(self, details: dict[str, object], bed: str | None) -> int:
        patient = self.record.patients.register(self.staff.specialist, details)
        trial = self.record.trials.plan(self.staff.specialist, patient.id, 50, bed=bed).id
        self.record.trials.record_injection(
            self.staff.doctor,
            trial,
            {
                "dose_mcg": 50,
                "given_at": self.clock.now - timedelta(hours=1),
                "route": "lumbar_puncture",
                "given_by": "Dr Jones",
            },
        )
        return trial

    def event(
        self,
        trial: int,
        rule: str,
        kind: AlarmEventType,
        priority: Priority,
        alarm_kind: AlarmKind = AlarmKind.PHYSIOLOGICAL,
    ) -> None:
        self.record.alarms.record_events(
            self.staff.service,
            [
                AlarmEventIn(
                    trial,
                    rule,
                    kind,
                    self.clock.now,
                    priority,
                    alarm_kind,
                    f"{rule} message",
                    {},
                    "test",
                )
            ],
        )

    def acknowledge(self, trial: int, rule: str, after_s: float) -> None:
        self.clock.advance(seconds=after_s)
        [alarm] = [a for a in self.record.alarms.active(trial) if a.rule_id == rule]
        self.record.alarms.acknowledge(self.staff.nurse, alarm.id, "Seen; doctor told")

    def at(self, moment: datetime) -> Ward:
        self.clock.now = moment
        return self

    def review(self) -> AlarmReview:
        return AlarmReviews(self.record.store).review(self.staff.doctor, FIRST, LAST, GAP_S)


RAISED, ESCALATED, RESOLVED = (
    AlarmEventType.RAISED,
    AlarmEventType.ESCALATED,
    AlarmEventType.RESOLVED,
)
HIGH, MEDIUM, LOW = Priority.HIGH, Priority.MEDIUM, Priority.LOW


@pytest.fixture
def ward(record: TrialRecord, staff: Staff, clock: FakeClock) -> Ward:
    w = Ward(record, staff, clock)
    a, b = w.a, w.b
    # Raised before the range (30 Jun 23:30 BST): its escalation inside the range counts as an
    # annunciation of 1 July, its raise and acknowledgement do not.
    w.at(utc(30, 22, 30)).event(a, "rr_low", RAISED, MEDIUM)
    w.at(utc(30, 23, 30)).event(a, "rr_low", ESCALATED, HIGH)
    w.acknowledge(a, "rr_low", 5)
    w.event(a, "rr_low", RESOLVED, HIGH)
    # High alarms acknowledged after 10, 20, 30, 40 and 200 s.
    w.at(utc(1, 10)).event(a, "spo2_low", RAISED, HIGH)
    w.acknowledge(a, "spo2_low", 10)
    w.clock.advance(seconds=50)
    w.event(a, "spo2_low", AlarmEventType.REANNUNCIATED, HIGH)  # worse again: sounds again
    w.acknowledge(a, "spo2_low", 10)  # a second acknowledgement: not a second wait
    w.event(a, "spo2_low", RESOLVED, HIGH)
    w.at(utc(1, 12)).event(b, "spo2_low", RAISED, HIGH)
    w.acknowledge(b, "spo2_low", 20)
    w.event(b, "spo2_low", RESOLVED, HIGH)
    # One second before the ward's midnight (23:59:59 BST), then the midnight itself.
    w.at(utc(1, 22, 59, 59)).event(b, "pulse_low", RAISED, HIGH)
    w.acknowledge(b, "pulse_low", 30)
    w.event(b, "pulse_low", RESOLVED, HIGH)
    w.at(utc(1, 23)).event(a, "bp_low", RAISED, HIGH)
    w.acknowledge(a, "bp_low", 40)
    w.event(a, "bp_low", RESOLVED, HIGH)
    w.at(utc(2, 9)).event(b, "news2", RAISED, HIGH)
    w.acknowledge(b, "news2", 200)
    w.event(b, "news2", RESOLVED, HIGH)
    # Medium: one escalated before its acknowledgement (100 s after the raise), one that
    # resolved without ever being acknowledged.
    w.at(utc(2, 10)).event(a, "pulse_low", RAISED, MEDIUM)
    w.clock.advance(seconds=60)
    w.event(a, "pulse_low", ESCALATED, HIGH)
    w.acknowledge(a, "pulse_low", 40)
    w.event(a, "pulse_low", RESOLVED, HIGH)
    w.at(utc(2, 10, 30)).event(b, "bp_low", RAISED, MEDIUM)
    w.clock.advance(seconds=30)
    w.event(b, "bp_low", RESOLVED, MEDIUM)
    # Low, technical, still waiting.
    w.at(utc(2, 11)).event(b, "device_lost", RAISED, LOW, AlarmKind.TECHNICAL)
    # 3 July 00:00 BST: after the range.
    w.at(utc(2, 23)).event(a, "spo2_low", RAISED, HIGH)
    return w


def test_burden_per_ward_date_split_at_the_wards_midnight(ward: Ward):
    review = ward.review()
    assert review.start == utc(30, 23) and review.end == utc(2, 23)
    assert [(d.day, d.raises, d.annunciations, d.escalations) for d in review.days] == [
        (date(2026, 7, 1), 3, 5, 1),
        (date(2026, 7, 2), 5, 6, 1),
    ]
    assert (review.raises, review.annunciations, review.escalations) == (8, 11, 2)


def test_burden_per_bed_and_per_rule_most_annunciations_first(ward: Ward):
    review = ward.review()
    assert [(b.bed, b.trials, b.raises, b.annunciations, b.escalations) for b in review.beds] == [
        ("4B", 1, 3, 6, 2),
        (None, 1, 5, 5, 0),
    ]
    assert [
        (r.rule_id, r.kind, r.raises, r.annunciations, r.escalations, r.trials)
        for r in review.rules
    ] == [
        ("pulse_low", "physiological", 2, 3, 1, 2),
        ("spo2_low", "physiological", 2, 3, 0, 2),
        ("bp_low", "physiological", 2, 2, 0, 2),
        ("device_lost", "technical", 1, 1, 0, 1),
        ("news2", "physiological", 1, 1, 0, 1),
        ("rr_low", "physiological", 0, 1, 1, 1),
    ]


def test_time_to_acknowledge_per_priority_at_raising(ward: Ward):
    times = {t.priority: t for t in ward.review().acknowledgement}
    assert list(times) == ["high", "medium", "low"]
    high, medium, low = times["high"], times["medium"], times["low"]
    # Nearest rank: 90 % of five is the fifth (interpolation would say 136 s).
    assert (high.raised, high.acknowledged, high.median_s, high.p90_s) == (5, 5, 30.0, 200.0)
    assert (high.never_acknowledged, high.waiting) == (0, 0)
    assert (medium.raised, medium.acknowledged, medium.median_s, medium.p90_s) == (
        2,
        1,
        100.0,
        100.0,
    )
    assert (medium.never_acknowledged, medium.waiting) == (1, 0)
    assert (low.raised, low.acknowledged, low.median_s, low.p90_s) == (1, 0, None, None)
    assert (low.never_acknowledged, low.waiting) == (0, 1)


def test_a_range_without_alarms_has_every_day_at_zero(ward: Ward):
    review = AlarmReviews(ward.record.store).review(
        ward.staff.doctor, date(2026, 6, 1), date(2026, 6, 3), GAP_S
    )
    assert [(d.raises, d.annunciations) for d in review.days] == [(0, 0)] * 3
    assert review.beds == [] and review.rules == [] and review.streams == []
    assert all(t.raised == 0 and t.median_s is None for t in review.acknowledgement)


def test_nearest_rank():
    assert nearest_rank([], 90) is None
    assert nearest_rank([7.0], 90) == 7.0
    values = [float(v) for v in range(1, 21)]  # 1..20: 90 % of 20 is the 18th
    assert nearest_rank(values, 90) == 18.0
    assert nearest_rank(list(reversed(values)), 50) == 10.0


def reading(
    trial: int,
    parameter: Parameter,
    value: float | None,
    at: datetime,
    *flags: QualityFlag,
    device: str = "ble:AA:BB:CC:DD:EE:01",
) -> ReadingIn:
    return ReadingIn(trial, parameter, value, at, at, device, frozenset(flags))


def test_unusable_and_silent_stream_time_per_device_and_trial(ward: Ward):
    base = utc(1, 10)
    spo2, pulse = Parameter.SPO2, Parameter.PULSE_RATE
    off, artefact = QualityFlag.NO_FINGER, QualityFlag.ARTIFACT
    battery = QualityFlag.LOW_BATTERY
    a, b = ward.a, ward.b
    rows = []
    for second, (s, p, s_flags, p_flags) in {
        0: (97.0, 70.0, (), ()),
        1: (97.0, 70.0, (), ()),
        2: (None, None, (off,), (off,)),  # probe off: unusable
        3: (None, None, (off,), (off,)),
        4: (96.0, 71.0, (artefact,), (artefact,)),  # values, but none to trust
        5: (97.0, 70.0, (battery,), (battery,)),  # a low battery leaves values usable
        25: (97.0, 70.0, (), ()),  # 20 s after the last: 12 s held, 8 s silent
        26: (95.0, 70.0, (artefact,), ()),  # one usable value: usable
        27: (97.0, 70.0, (), ()),  # the last: stands for nothing
    }.items():
        at = base + timedelta(seconds=second)
        rows += [reading(a, spo2, s, at, *s_flags), reading(a, pulse, p, at, *p_flags)]
    # Not streamed (a cuff's reading) and before the range: neither counts.
    rows.append(reading(a, Parameter.SYSTOLIC, 120.0, base + timedelta(seconds=15)))
    rows.append(reading(a, spo2, 97.0, utc(30, 22, 59, 59)))
    # A cuff's pulse, measured with each blood pressure minutes apart: not an oximeter stream.
    rows += [
        reading(a, pulse, 64.0, base + timedelta(minutes=m), device="ble:CU:FF") for m in (0, 5)
    ]
    # The same device name on another trial at the same time is that trial's stream.
    rows += [reading(b, spo2, None, base + timedelta(seconds=s), off) for s in (0.5, 1.5, 2.5)]
    ward.record.readings.add(ward.staff.service, rows)

    streams = {(s.source_device, s.trial_id): s for s in ward.review().streams}
    device = "ble:AA:BB:CC:DD:EE:01"
    mine, other = streams[(device, a)], streams[(device, b)]
    assert len(streams) == 2
    assert (mine.bed, mine.instants, mine.first, mine.last) == (
        "4B",
        9,
        base,
        base + timedelta(seconds=27),
    )
    assert mine.streamed_s == pytest.approx(19.0, abs=0.01)
    assert mine.unusable_s == pytest.approx(3.0, abs=0.01)
    assert mine.silent_s == pytest.approx(8.0, abs=0.01)
    assert mine.unusable_fraction == pytest.approx(3 / 19, abs=1e-3)
    assert (other.bed, other.instants) == (None, 3)
    assert other.unusable_s == pytest.approx(2.0, abs=0.01) == other.streamed_s
    # Most unusable time first.
    assert [s.trial_id for s in ward.review().streams] == [a, b]


def test_reading_the_figures_needs_alarm_review(ward: Ward):
    reviews = AlarmReviews(ward.record.store)
    for actor in (ward.staff.doctor, ward.staff.specialist, ward.staff.admin):
        assert reviews.review(actor, FIRST, LAST, GAP_S).raises == 8
    for actor in (ward.staff.nurse, ward.staff.physio, ward.staff.service):
        with pytest.raises(NotPermitted, match="review the ward's alarms"):
            reviews.review(actor, FIRST, LAST, GAP_S)


def test_a_sign_in_that_has_ended_reads_nothing(ward: Ward):
    doctor = sign_in_as(ward.record, "dr.lee", Role.DOCTOR)
    ward.record.users.sign_out(doctor)
    with pytest.raises(NotPermitted, match="has ended"):
        AlarmReviews(ward.record.store).review(doctor, FIRST, LAST, GAP_S)


def test_a_range_that_ends_before_it_starts_is_refused(ward: Ward):
    with pytest.raises(InvalidEntry):
        AlarmReviews(ward.record.store).review(ward.staff.doctor, LAST, FIRST, GAP_S)
