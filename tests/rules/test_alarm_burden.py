"""Alarm burden figures on hand-made days whose answers are worked out by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from importlib import resources
from typing import Any

import pytest
import yaml

from rules.alarm_burden import (
    StreamedLevel,
    again_soon,
    alarm_burden,
    count_reminders,
    level_coverage,
    re_raises,
    reminder_intervals,
    streamed_levels,
    zone_runs,
)
from rules.events import AlarmEvent, Reading
from rules.rule_set import default_rule_set
from vocabulary import AlarmEventType, AlarmKind, Parameter, Priority, QualityFlag

T0 = datetime(2025, 3, 1, 10, 0, tzinfo=UTC)
SPO2 = Parameter.SPO2
E = AlarmEventType
REMINDERS = {Priority.HIGH: 300.0, Priority.MEDIUM: 900.0}
# A level of a minute's delay, 93 % or below, of the rule `spo2_low`.
DESAT = StreamedLevel("spo2_low", "desaturation", SPO2, "low", 93, 60)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def alarm(
    seconds: float,
    event: AlarmEventType,
    rule: str = "spo2_low",
    priority: str = "high",
    level: str | None = None,
) -> AlarmEvent:
    evidence = {} if level is None else {"parameter": "spo2", "level": level}
    return AlarmEvent(
        at(seconds),
        event,
        rule,
        Priority(priority),
        AlarmKind.PHYSIOLOGICAL,
        "",
        evidence,
        "test",
    )


def spo2(seconds: float, value: float | None, *flags: QualityFlag) -> Reading:
    return Reading(at(seconds), SPO2, value, frozenset(flags))


def rule_file(**lifecycle: Any) -> dict[str, Any]:
    """The content of a rule file with one nested SpO2 rule (two levels) and one other rule."""
    return {
        "lifecycle": {"reminder_after_acknowledgement_s": {"high": 300, "medium": 900}},
        "rules": [
            {
                "id": "spo2_low",
                "condition": {
                    "type": "limits",
                    "parameter": "spo2",
                    "direction": "low",
                    "levels": [
                        {"id": "desaturation", "limit": 93, "max_delay_s": 60},
                        {"id": "severe_desaturation", "limit": 91, "max_delay_s": 30},
                    ],
                },
            },
            {
                "id": "sbp_low",
                "condition": {
                    "type": "limits",
                    "parameter": "systolic",
                    "direction": "low",
                    "levels": [{"id": "hypotension", "limit": 100}],
                },
            },
            {"id": "sedation", "condition": {"type": "one_of", "parameter": "poss"}},
        ],
    }


# ----------------------------------------------------------------------------- re-raises


def test_a_raise_30_s_after_its_resolve_is_one_re_raise():
    events = [alarm(0, E.RAISED), alarm(100, E.RESOLVED), alarm(130, E.RAISED)]
    assert re_raises(events) == [("spo2_low", at(130), 30.0)]


def test_a_raise_61_s_after_or_of_another_rule_is_no_re_raise():
    events = [
        alarm(0, E.RAISED),
        alarm(100, E.RESOLVED),
        alarm(120, E.RAISED, "pulse_low"),  # another rule
        alarm(161, E.RAISED),  # 61 s after
    ]
    assert re_raises(events) == []


def test_a_re_raise_counts_from_the_latest_resolve():
    events = [
        alarm(0, E.RAISED),
        alarm(10, E.RESOLVED),
        alarm(200, E.RAISED),
        alarm(300, E.RESOLVED),
        alarm(360, E.RAISED),  # 60 s after the second resolve: within
    ]
    assert [gap for _, _, gap in re_raises(events)] == [60.0]


def test_an_alarm_sounding_again_within_60_s_is_counted_but_not_after_its_resolve():
    events = [
        alarm(0, E.RAISED),
        alarm(30, E.ESCALATED),  # 30 s after the raise
        alarm(75, E.ACKNOWLEDGED),
        alarm(80, E.CHANGED),  # silent
        alarm(200, E.REANNUNCIATED),  # 170 s after the escalation
        alarm(300, E.RESOLVED),
        alarm(320, E.RAISED),  # a re-raise, not the same alarm sounding again
    ]
    assert again_soon(events) == [("spo2_low", at(30), 30.0)]


# ----------------------------------------------------------------------------- reminders


def test_an_acknowledged_high_alarm_reminds_every_five_minutes_while_active():
    events = [alarm(0, E.RAISED), alarm(45, E.ACKNOWLEDGED), alarm(1000, E.RESOLVED)]
    assert count_reminders(events, REMINDERS, at(2000)) == [at(345), at(645), at(945)]


def test_an_unacknowledged_alarm_never_reminds_and_a_low_one_has_no_interval():
    events = [
        alarm(0, E.RAISED),
        alarm(0, E.RAISED, "side_effect", "low"),
        alarm(60, E.ACKNOWLEDGED, "side_effect", "low"),
    ]
    assert count_reminders(events, REMINDERS, at(3600)) == []


def test_one_reminder_per_bed_at_the_shortest_interval_restarted_by_acknowledgement():
    events = [
        alarm(0, E.RAISED, "pulse_low", "medium"),
        alarm(90, E.ACKNOWLEDGED, "pulse_low", "medium"),
        alarm(500, E.RAISED),
        alarm(545, E.ACKNOWLEDGED),  # the high one: 5 minutes now, from here
        alarm(1000, E.RESOLVED),  # only the medium one is left: 15 minutes
    ]
    assert count_reminders(events, REMINDERS, at(2000)) == [at(845), at(1745)]


def test_an_annunciation_silences_the_reminder_until_acknowledged_again():
    events = [
        alarm(0, E.RAISED),
        alarm(45, E.ACKNOWLEDGED),
        alarm(200, E.REANNUNCIATED),  # a worse level: it must be seen again
        alarm(600, E.ACKNOWLEDGED),
    ]
    assert count_reminders(events, REMINDERS, at(1000)) == [at(900)]


def test_an_acknowledged_alarm_eased_to_medium_reminds_at_the_medium_interval():
    events = [
        alarm(0, E.RAISED),
        alarm(45, E.ACKNOWLEDGED),
        alarm(100, E.CHANGED, priority="medium"),
    ]
    assert count_reminders(events, REMINDERS, at(1000)) == [at(945)]


def test_a_reminder_due_as_its_alarm_resolves_does_not_sound_but_one_at_the_end_does():
    resolved = [alarm(0, E.RAISED), alarm(45, E.ACKNOWLEDGED), alarm(345, E.RESOLVED)]
    assert count_reminders(resolved, REMINDERS, at(1000)) == []
    active = [alarm(0, E.RAISED), alarm(45, E.ACKNOWLEDGED)]
    assert count_reminders(active, REMINDERS, at(345)) == [at(345)]


# ----------------------------------------------------------------------------- runs in a zone


def test_runs_hold_the_last_valid_value_and_ignore_flagged_ones():
    readings = [
        spo2(0, 96),
        spo2(10, 80, QualityFlag.ARTIFACT),  # flagged: does not start a run
        spo2(20, 90),
        spo2(30, 99, QualityFlag.ARTIFACT),  # flagged: does not break it
        spo2(35, None, QualityFlag.NO_FINGER),
        # silence from 35 to 100: the value held is still 90
        spo2(100, 96),
        spo2(200, 92),
    ]
    assert zone_runs(readings, DESAT, at(0), at(300)) == [(at(20), at(100)), (at(200), at(300))]


def test_a_value_is_judged_as_charted():
    readings = [spo2(0, 93.5), spo2(10, 93.4), spo2(20, 93.5)]  # charted 94, 93, 94
    assert zone_runs(readings, DESAT, at(0), at(30)) == [(at(10), at(20))]


def test_runs_reaching_into_the_span_keep_their_start_and_are_cut_at_its_end():
    readings = [spo2(0, 90), spo2(10, 96), spo2(20, 90), spo2(100, 96), spo2(200, 90)]
    assert zone_runs(readings, DESAT, at(40), at(60)) == [(at(20), at(60))]


# ----------------------------------------------------------------------------- coverage


def _coverage(events: list[AlarmEvent], run_s: float = 100, **kw: Any) -> Any:
    readings = [spo2(0, 96), spo2(10, 90), spo2(10 + run_s, 96)]
    return level_coverage(DESAT, readings, events, at(0), at(1000), **kw)


def test_a_100_s_run_alarmed_from_second_70_is_covered():
    # Delay 60 s: time counts as uncovered from 60 + 15 s into the run.
    coverage = _coverage([alarm(80, E.RAISED)])
    assert coverage.runs == coverage.runs_past_delay == 1
    assert coverage.uncovered_s == 0
    assert coverage.first_alarm_s == [70.0]


def test_an_alarm_from_second_80_of_the_run_leaves_5_s_uncovered():
    coverage = _coverage([alarm(90, E.RAISED)])
    assert coverage.uncovered_s == 5
    assert coverage.first_alarm_s == [80.0]


def test_a_run_never_alarmed_is_uncovered_from_delay_plus_15_s_to_its_end():
    coverage = _coverage([], run_s=200)
    assert coverage.uncovered_s == coverage.uncovered_total_s == 125
    assert coverage.first_alarm_s == [] and coverage.missed_runs == 1


def test_an_alarm_already_active_covers_from_the_start_and_a_resolve_uncovers():
    events = [alarm(0, E.RAISED), alarm(150, E.RESOLVED)]
    coverage = _coverage(events, run_s=200)  # run 10-210; checked from 85
    assert coverage.first_alarm_s == [0.0]
    assert coverage.uncovered_s == 60  # 150-210


def test_a_run_no_longer_than_the_delay_needs_no_alarm():
    coverage = _coverage([], run_s=60)
    assert coverage.runs == 1 and coverage.runs_past_delay == 0
    assert coverage.uncovered_s == 0 and coverage.missed_runs == 0


def test_only_alarms_of_the_level_rule_cover_it_unless_matched_by_prefix():
    other = [alarm(10, E.RAISED, "spo2_severe")]
    assert _coverage(other, run_s=200).uncovered_s == 125
    assert _coverage(other, run_s=200, match="prefix").uncovered_s == 0
    assert _coverage([alarm(10, E.RAISED, "sbp_low")], match="prefix").missed_runs == 1


SEVERE = StreamedLevel("spo2_low", "severe_desaturation", SPO2, "low", 91, 30, depth=1)
DEPTHS = {"desaturation": 0, "severe_desaturation": 1}


def test_at_its_level_a_run_asks_for_the_alarm_showing_that_level_or_deeper():
    readings = [spo2(0, 96), spo2(10, 90), spo2(210, 96)]  # run 10-210, checked from 55 s
    events = [
        alarm(20, E.RAISED, priority="medium", level="desaturation"),
        alarm(70, E.ESCALATED, level="severe_desaturation"),
        alarm(115, E.ACKNOWLEDGED),
        alarm(150, E.CHANGED, priority="medium", level="desaturation"),  # eased, seen
        alarm(180, E.REANNUNCIATED, level="severe_desaturation"),
    ]
    coverage = level_coverage(SEVERE, readings, events, at(0), at(300), depths=DEPTHS)
    assert coverage.uncovered_s == 0 and coverage.first_alarm_s == [10.0]
    at_level = coverage.at_level
    assert at_level is not None
    assert at_level.uncovered_s == 15 + 30  # 55-70 and 150-180
    assert at_level.first_alarm_s == [60.0]
    deepest = level_coverage(DESAT, readings, events, at(0), at(300), depths=DEPTHS).at_level
    assert deepest is not None and deepest.uncovered_s == 0  # a deeper level covers it


def test_at_level_figures_need_the_rule_match():
    readings = [spo2(0, 90), spo2(100, 96)]
    coverage = level_coverage(SEVERE, readings, [], at(0), at(300), match="prefix", depths=DEPTHS)
    assert coverage.at_level is None


# ----------------------------------------------------------------------------- the day


def test_levels_and_reminders_come_from_the_rule_file():
    levels = streamed_levels(rule_file())
    assert [(lv.name, lv.rule_id, lv.level_id, lv.max_delay_s) for lv in levels] == [
        ("spo2<=93", "spo2_low", "desaturation", 60),
        ("spo2<=91", "spo2_low", "severe_desaturation", 30),
    ]  # blood pressure is entered, not streamed
    assert reminder_intervals(rule_file()) == REMINDERS


def test_a_day_counts_what_sounds_within_its_span_per_patient_hour():
    events = [
        alarm(-60, E.RAISED),  # before the span: not counted, but it covers
        alarm(-50, E.ACKNOWLEDGED),
        alarm(600, E.RESOLVED),
        alarm(630, E.RAISED),  # a re-raise
        alarm(750, E.ESCALATED),
        alarm(800, E.ACKNOWLEDGED),
        alarm(900, E.CHANGED),  # eased: silent
        alarm(1000, E.REANNUNCIATED),
        alarm(1100, E.RAISED, "sedation", "high"),
        alarm(7300, E.RAISED, "sedation", "high"),  # after the span
    ]
    readings = [spo2(-100, 90), spo2(1200, 96)]
    burden = alarm_burden(events, readings, rule_file(), start=at(0), end=at(7200))
    figures = burden.as_dict()
    assert figures["patient_hours"] == 2
    assert figures["raises"] == 2 and figures["raises_per_hour"] == 1
    assert figures["annunciations"] == 4 and figures["annunciations_per_hour"] == 2
    assert figures["annunciations_by_rule"] == {"sedation": 1, "spo2_low": 3}
    assert figures["re_raises_within_60s"] == 1
    assert figures["annunciations_within_60s_of_previous"] == 0  # 630, 750, 1000 s
    # Acknowledged at -50 s: reminders at 250 and 550 s; none from the resolve at 600 s, nor
    # after the acknowledgement at 800 s (re-annunciated before 1100 s).
    assert figures["reminders"] == 2
    # The run from -100 to 1200 s: both levels are checked from the span's start (past their
    # delay + 15 s already) and uncovered from the resolve at 600 s to the raise at 630 s.
    assert figures["levels"]["spo2<=93"]["uncovered_s"] == 30
    assert figures["levels"]["spo2<=91"]["uncovered_s"] == 30
    assert figures["uncovered_s"] == 30
    # Without a level in their evidence the events never show one: all of it uncovered.
    assert figures["uncovered_at_level_s"] == 1200


def test_the_default_rule_set_gives_what_its_file_says():
    text = resources.files("rules").joinpath("default_rules.yaml").read_text(encoding="utf-8")
    content = yaml.safe_load(text)
    assert streamed_levels(default_rule_set()) == streamed_levels(content)


@pytest.mark.parametrize("match", ["rule", "prefix"])
def test_an_empty_day_has_no_burden(match: str):
    burden = alarm_burden([], [], rule_file(), start=at(0), end=at(3600), match=match)
    figures = burden.as_dict()
    assert figures["raises"] == figures["annunciations"] == figures["reminders"] == 0
    assert figures["uncovered_s"] == 0
