"""Engine: each default rule's trigger and non-trigger, delays, silence, lifecycle timing.

Expected numbers come from the rule file's clinical table (rules/default_rules.yaml and
docs/hazard-log.md), not from running the engine.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rules.engine import EventOrderError, TrialEngine
from rules.events import (
    Acknowledgement,
    AlarmEvent,
    DeviceLink,
    Injection,
    ObservationSet,
    Reading,
    ReadingsNotStored,
    TrialEvent,
    WindowClosed,
)
from rules.rule_set import default_rule_set
from vocabulary import (
    ConnectionState,
    Consciousness,
    Parameter,
    Poss,
    Priority,
    QualityFlag,
    SideEffect,
)

T0 = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
RULES = default_rule_set()
SPO2 = Parameter.SPO2
PULSE = Parameter.PULSE_RATE


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


class Run:
    """An engine plus every alarm event it emitted."""

    def __init__(self, spo2_scale: int = 1) -> None:
        self.engine = TrialEngine(RULES, trial_id="t1", spo2_scale=spo2_scale)
        self.events: list[AlarmEvent] = []

    def feed(self, *events: TrialEvent) -> list[AlarmEvent]:
        out: list[AlarmEvent] = []
        for event in events:
            out.extend(self.engine.feed(event))
        self.events.extend(out)
        return out

    def feed_all(self, events: Iterable[TrialEvent]) -> list[AlarmEvent]:
        return self.feed(*events)

    def advance(self, seconds: float) -> list[AlarmEvent]:
        out = self.engine.advance_to(at(seconds))
        self.events.extend(out)
        return out

    def summary(self) -> list[tuple[float, str, str, str]]:
        return [
            ((e.time - T0).total_seconds(), e.event.value, e.rule_id, e.priority.value)
            for e in self.events
        ]

    def of(self, rule: str) -> list[AlarmEvent]:
        return [e for e in self.events if e.rule_id == rule]

    def advance_rule(self, seconds: float, rule: str) -> list[tuple[datetime, str]]:
        return [(e.time, e.event.value) for e in self.advance(seconds) if e.rule_id == rule]


def stream(
    parameter: Parameter,
    values: Iterable[float | None],
    start: float = 0,
    flags: frozenset[QualityFlag] = frozenset(),
) -> list[Reading]:
    return [Reading(at(start + i), parameter, v, flags) for i, v in enumerate(values)]


def obs(seconds: float, **values: object) -> ObservationSet:
    return ObservationSet(at(seconds), **values)  # type: ignore[arg-type]


NORMAL_SET = dict(
    rr=16.0,
    spo2=97.0,
    on_oxygen=False,
    systolic=120.0,
    pulse_rate=70.0,
    consciousness=Consciousness.ALERT,
    temp=37.0,
)


# --- streamed SpO2 and pulse: nested levels, magnitude x duration ---------------------------------
# Expected times worked out by hand from the rule file: a steady value v from second 0 fills a
# level's counter at depth-past-reference per second; the decision is the earliest of counter
# (not before min_duration_s), max_delay_s and the third entry; a shallower level waits while the
# value lies in a deeper pending level (at most that level's max delay).
@pytest.mark.parametrize(
    ("parameter", "value", "when", "rule", "level", "priority"),
    [
        (SPO2, 93, 60, "spo2_low", "desaturation", "medium"),  # 1 %/s below 94: 60 s
        (SPO2, 92, 30, "spo2_low", "desaturation", "medium"),  # 2 %/s: 30 s
        (SPO2, 91, 25, "spo2_low", "severe_desaturation", "high"),  # 1 %/s below 92: 25 s
        (SPO2, 88, 11, "spo2_low", "severe_desaturation", "high"),  # 6.25 s, but not before 11
        (SPO2, 86, 11, "spo2_low", "severe_desaturation", "high"),
        (SPO2, 85, 5, "spo2_low", "critical_desaturation", "high"),  # plain 5 s
        (SPO2, 70, 5, "spo2_low", "critical_desaturation", "high"),
        (PULSE, 50, 30, "pulse_low", "bradycardia", "medium"),  # counter 60 s, max 30 s
        (PULSE, 46, 12, "pulse_low", "bradycardia", "medium"),  # 5/min below 51: 12 s
        (PULSE, 41, 6, "pulse_low", "bradycardia", "medium"),
        (PULSE, 40, 10, "pulse_low", "severe_bradycardia", "high"),  # bradycardia waits
        (PULSE, 131, 30, "pulse_severe_high", "severe_tachycardia", "high"),
    ],
)
def test_steady_value_raises_one_alarm_at_its_deepest_level(
    parameter: Parameter, value: float, when: int, rule: str, level: str, priority: str
) -> None:
    run = Run()
    run.feed_all(stream(parameter, [value] * 200))
    assert run.summary()[0] == (when, "raised", rule, priority)
    assert run.events[0].evidence["level"] == level
    assert [e.rule_id for e in run.events if e.event.value == "raised"] == [rule]


@pytest.mark.parametrize(
    ("parameter", "value"), [(SPO2, 94), (SPO2, 100), (PULSE, 51), (PULSE, 90), (PULSE, 130)]
)
def test_streamed_values_outside_every_level_raise_nothing(
    parameter: Parameter, value: float
) -> None:
    run = Run()
    run.feed_all(stream(parameter, [value] * 900))
    assert run.events == []


def test_timer_fires_on_time_without_a_later_event() -> None:
    run = Run()
    run.feed(Reading(at(0), SPO2, 84))
    assert run.engine.next_deadline() == at(5)
    assert run.advance(4.999) == []
    raised = run.advance(5)
    assert [(e.time, e.rule_id) for e in raised] == [(at(5), "spo2_low")]
    assert raised[0].evidence["value"] == 84
    assert raised[0].evidence["level"] == "critical_desaturation"
    assert raised[0].evidence["levels_met"] == [
        "desaturation",
        "severe_desaturation",
        "critical_desaturation",
    ]
    assert raised[0].rule_set_version == RULES.version


def test_artefact_dips_shorter_than_every_decision_raise_nothing() -> None:
    run = Run()
    run.feed_all(stream(SPO2, [97, 84, 84, 84, 84, 97, 97]))  # critical zone for 4 s (1..5)
    run.feed_all(stream(SPO2, [97] * 30 + [80] * 4 + [97] * 60, start=7))  # a deep 4 s dip
    assert run.events == []


def test_value_leaving_the_zone_at_the_deadline_does_not_alarm() -> None:
    # 84 from 0; normal again at 5, the very instant the delay ends: the reading counts first.
    run = Run()
    run.feed_all(stream(SPO2, [84, 84, 84, 84, 84, 97, 97]))
    run.advance(10)
    assert run.events == []


def test_swinging_across_91_92_is_alarmed_not_missed() -> None:
    # The first engine's disjoint bands never alarmed this: each value restarted the other's
    # delay. Now 91 is entered at 0, 2 and 4 s: the third entry within 60 s decides severe.
    run = Run()
    run.feed_all(stream(SPO2, [91, 92] * 60))
    assert run.summary()[0] == (4, "raised", "spo2_low", "high")
    assert run.events[0].evidence["level"] == "severe_desaturation"


def test_a_value_dipping_deep_over_and_over_is_not_left_waiting() -> None:
    # 97 and 84 by turns: critical (a plain 5 s) is never held, and each entry makes it pending
    # again. Severe is reached at its third entry (5 s) and waits for critical at most 5 s:
    # decided at the next entry after 10 s, at 11.
    run = Run()
    run.feed_all(stream(SPO2, [97, 84] * 60))
    assert run.summary()[0] == (11, "raised", "spo2_low", "high")
    assert run.events[0].evidence["level"] == "severe_desaturation"
    run = Run()
    run.feed_all(stream(PULSE, [72, 35] * 60))
    [raised] = [e for e in run.events if e.event.value == "raised"]
    assert (raised.rule_id, raised.evidence["level"]) == ("pulse_low", "bradycardia")
    assert raised.time <= at(10 + 10)  # counter full by ~9.5 s, then at most 10 s of waiting


def test_a_single_eight_second_dip_to_86_raises_nothing() -> None:
    # Desaturation's counter is full in 7.5 s, but severe is pending (not before 11 s): the
    # shallower level waits, and the dip is over before either is decided.
    run = Run()
    run.feed_all(stream(SPO2, [97] * 5 + [86] * 8 + [97] * 100))
    assert run.events == []


def test_88_with_a_one_second_dip_to_85_every_ten_seconds() -> None:
    run = Run()
    run.feed_all(stream(SPO2, ([88] * 9 + [85]) * 30))
    # Severe: 4 %/s below 92 fills 25 in 6.25 s, decided at its 11 s minimum; the 1 s dips
    # never hold critical's 5 s.
    assert run.summary() == [
        (11, "raised", "spo2_low", "high"),
        (131, "escalated", "spo2_low", "high"),
    ]
    assert run.events[0].evidence["level"] == "severe_desaturation"


def test_worse_value_escalates_the_alarm_and_never_clears_it() -> None:
    run = Run()
    run.feed_all(stream(SPO2, [93] * 70))  # desaturation at 60
    run.feed_all(stream(SPO2, [88] * 30, start=70))  # severe: 11 s in the zone, at 81
    run.feed_all(stream(SPO2, [84] * 10, start=100))  # critical: 5 s, at 105
    assert run.summary() == [
        (60, "raised", "spo2_low", "medium"),
        (81, "escalated", "spo2_low", "high"),
        (105, "reannunciated", "spo2_low", "high"),
    ]
    assert [e.evidence["level"] for e in run.events] == [
        "desaturation",
        "severe_desaturation",
        "critical_desaturation",
    ]


def test_shallower_level_waits_for_a_deeper_pending_one() -> None:
    # 89 %: desaturation's counter (5 %/s below 94) is full at 12 s, but the value lies in the
    # severe zone, pending until 11 s (its minimum): one high alarm, no medium before it.
    run = Run()
    run.feed_all(stream(SPO2, [89] * 40))
    assert run.summary() == [(11, "raised", "spo2_low", "high")]


def test_counter_decays_outside_and_brief_returns_do_not_reset_the_maximum_delay() -> None:
    # 93 for 40 s (counter 40 of 60), 97 for 10 s (decays to 30), back at 93: the episode goes
    # on, and 60 s after its first entry the value is in the zone: decided at 60.
    run = Run()
    run.feed_all(stream(SPO2, [93] * 40 + [97] * 10 + [93] * 30))
    assert run.summary() == [(60, "raised", "spo2_low", "medium")]
    assert run.events[0].evidence["since"] == at(0).isoformat()


def test_episode_ends_when_the_counter_is_back_at_zero() -> None:
    # 93 for 20 s (counter 20), 97 for 25 s (back at 0 after 20): a new episode at 45.
    run = Run()
    run.feed_all(stream(SPO2, [93] * 20 + [97] * 25 + [93] * 70))
    assert run.summary() == [(105, "raised", "spo2_low", "medium")]


def test_flagged_or_missing_values_neither_satisfy_nor_interrupt() -> None:
    run = Run()
    run.feed_all(stream(SPO2, [80] * 12, flags=frozenset({QualityFlag.ARTIFACT})))
    assert run.events == []
    run = Run()
    run.feed(Reading(at(0), SPO2, 84))
    run.feed_all(stream(SPO2, [None, None, 99], start=1, flags=frozenset({QualityFlag.ARTIFACT})))
    run.feed(Reading(at(4), SPO2, 84))
    run.advance(6)
    assert run.summary() == [(5, "raised", "spo2_low", "high")]


def test_low_battery_flag_does_not_make_a_reading_doubtful() -> None:
    run = Run()
    run.feed_all(stream(SPO2, [84] * 7, flags=frozenset({QualityFlag.LOW_BATTERY})))
    assert run.summary() == [(5, "raised", "spo2_low", "high")]


def test_the_cuff_pulse_is_not_the_streamed_pulse() -> None:
    # One instant, two pulses: the cuff's (in a frame with blood pressure) is stored, the
    # oximeter's is judged.
    run = Run()
    for i in range(60):
        run.engine.feed_frame(at(i), {SPO2: 97, PULSE: 72})
        run.events += run.engine.feed_frame(
            at(i), {Parameter.SYSTOLIC: 120, Parameter.DIASTOLIC: 70, PULSE: 35}
        )
    run.advance(60)
    assert run.events == []


# --- hysteresis ---------------------------------------------------------------------------------
def test_level_clears_only_after_the_hold_past_its_clearing_value() -> None:
    run = Run()
    run.feed_all(stream(SPO2, [92] * 40))  # raised at 30
    run.feed_all(stream(SPO2, [94] * 100, start=40))  # out of the zone, short of 95: stays
    run.feed_all(stream(SPO2, [96, 94] + [95] * 30, start=140))  # held from 142
    assert run.summary() == [
        (30, "raised", "spo2_low", "medium"),
        (157, "resolved", "spo2_low", "medium"),
    ]


def test_single_good_reading_does_not_clear_a_medium_alarm() -> None:
    run = Run()
    run.feed_all(stream(PULSE, [46] * 20 + [60] + [46] * 20))
    assert run.summary() == [(12, "raised", "pulse_low", "medium")]


def test_alarm_raised_again_after_it_cleared() -> None:
    run = Run()
    run.feed_all(stream(SPO2, [92] * 40 + [96] * 80 + [92] * 40))
    assert run.summary() == [
        (30, "raised", "spo2_low", "medium"),
        (55, "resolved", "spo2_low", "medium"),
        (150, "raised", "spo2_low", "medium"),
    ]


# --- lifecycle ----------------------------------------------------------------------------------
def test_high_alarm_latches_until_acknowledged() -> None:
    run = Run()
    run.feed_all(stream(SPO2, [84] * 6 + [97] * 30))  # every level held clear from 6 to 21
    assert run.summary() == [(5, "raised", "spo2_low", "high")]
    assert run.engine.active_alarms()[0].condition_present is False
    run.feed(Acknowledgement(at(40), "spo2_low", by="nurse A", note="repositioned"))
    assert run.summary()[1:] == [
        (40, "acknowledged", "spo2_low", "high"),
        (40, "resolved", "spo2_low", "high"),
    ]
    assert run.events[1].evidence["by"] == "nurse A"
    assert run.engine.active_alarms() == []


def test_priority_does_not_drop_until_seen_then_shows_the_current_level() -> None:
    run = Run()
    run.feed_all(stream(SPO2, [84] * 6 + [92] * 30))  # critical clears at 21; severe stays
    assert [e.event.value for e in run.events] == ["raised"]
    [alarm] = run.engine.active_alarms()
    assert (alarm.level, alarm.current_level) == ("critical_desaturation", "severe_desaturation")
    run.feed(Acknowledgement(at(36), "spo2_low", by="n"))
    assert run.summary()[1:] == [
        (36, "acknowledged", "spo2_low", "high"),
        (36, "changed", "spo2_low", "high"),
    ]
    assert run.events[-1].evidence["level"] == "severe_desaturation"
    run.feed_all(stream(SPO2, [94] * 20, start=36))  # severe clears at 36 + 15
    assert run.summary()[-1] == (51, "changed", "spo2_low", "medium")
    assert run.events[-1].evidence["level"] == "desaturation"
    run.feed_all(stream(SPO2, [97] * 20, start=56))
    assert run.summary()[-1] == (71, "resolved", "spo2_low", "medium")


def test_acknowledged_alarm_is_silent_while_present_and_sounds_when_worse() -> None:
    run = Run()
    run.feed_all(stream(SPO2, [88] * 20))  # severe at 11
    run.feed(Acknowledgement(at(20), "spo2_low", by="n"))
    run.feed_all(stream(SPO2, [88] * 3600, start=20))  # an hour, still 88: no sound at all
    assert [e.event.value for e in run.events] == ["raised", "acknowledged"]
    run.feed_all(stream(SPO2, [84] * 10, start=3620))  # critical: 5 s, sounds at once
    assert run.summary()[-1] == (3625, "reannunciated", "spo2_low", "high")
    assert run.events[-1].evidence["acknowledged_at"] == at(20).isoformat()


def test_unacknowledged_high_escalates_after_two_minutes_to_the_second() -> None:
    run = Run()
    run.feed_all(stream(SPO2, [84] * 7))
    assert run.advance_rule(124.9, "spo2_low") == []
    assert run.advance_rule(125, "spo2_low") == [(at(125), "escalated")]
    assert run.of("spo2_low")[-1].priority is Priority.HIGH
    run.advance(3600)
    assert [e.event.value for e in run.of("spo2_low")] == ["raised", "escalated"]


def test_unacknowledged_medium_escalates_after_ten_minutes() -> None:
    run = Run()
    run.feed_all(stream(SPO2, [93] * 62))  # raised at 60
    assert run.advance_rule(659, "spo2_low") == []
    assert run.advance_rule(660, "spo2_low") == [(at(660), "escalated")]


def test_medium_resolves_when_cleared_without_acknowledgement() -> None:
    run = Run()
    run.feed_all(stream(SPO2, [93] * 61 + [96] * 20))
    assert run.summary() == [
        (60, "raised", "spo2_low", "medium"),
        (76, "resolved", "spo2_low", "medium"),
    ]


def test_entry_condition_sounds_again_only_for_a_higher_level() -> None:
    run = Run()
    run.feed(obs(0, rr=11.0))
    run.feed(Acknowledgement(at(10), "rr_low"))
    run.feed(obs(30, rr=11.0))  # the same again: silent
    run.feed(obs(60, rr=9.0))  # lower, same level: silent
    run.advance(3600)  # never on a timer
    assert [e.event.value for e in run.events] == ["raised", "acknowledged"]
    run.feed(obs(3700, rr=8.0))  # respiratory depression: at once, at its priority
    assert run.summary()[-1] == (3700, "escalated", "rr_low", "high")
    assert run.events[-1].evidence["level"] == "respiratory_depression"


def test_acknowledging_does_not_hide_a_new_side_effect() -> None:
    run = Run()
    run.feed(obs(0, side_effects=frozenset({SideEffect.NAUSEA_VOMITING})))
    run.feed(Acknowledgement(at(5), "side_effect"))
    run.feed(obs(30, side_effects=frozenset({SideEffect.NAUSEA_VOMITING})))
    assert len(run.events) == 2
    run.feed(obs(60, side_effects=frozenset({SideEffect.NAUSEA_VOMITING, SideEffect.HEADACHE})))
    assert run.summary()[-1] == (60, "reannunciated", "side_effect", "low")


def test_worse_code_sounds_again() -> None:
    run = Run()
    run.feed(obs(0, poss=Poss.FREQUENTLY_DROWSY))
    run.feed(Acknowledgement(at(5), "sedation"))
    run.feed(obs(900, poss=Poss.FREQUENTLY_DROWSY))
    assert len(run.events) == 2
    run.feed(obs(1800, poss=Poss.SOMNOLENT))
    assert run.summary()[-1] == (1800, "reannunciated", "sedation", "high")


def test_acknowledging_nothing_emits_nothing() -> None:
    run = Run()
    assert run.feed(Acknowledgement(at(0), "spo2_low")) == []


def test_events_must_be_time_ordered() -> None:
    run = Run()
    run.feed(Reading(at(10), SPO2, 97))
    with pytest.raises(EventOrderError):
        run.feed(Reading(at(9), SPO2, 97))
    with pytest.raises(ValueError, match="timezone"):
        run.engine.advance_to(datetime(2025, 3, 1, 9, 0))


def test_window_may_not_close_while_a_condition_is_present() -> None:
    run = Run()
    run.feed_all(stream(SPO2, [88] * 20))
    assert not run.engine.may_close_window()  # unacknowledged
    run.feed(Acknowledgement(at(20), "spo2_low"))
    assert not run.engine.may_close_window()  # seen, but still present
    run.feed_all(stream(SPO2, [97] * 40, start=20))
    assert run.engine.active_alarms() == []
    assert run.engine.may_close_window()


# --- technical: silence and sensor off ----------------------------------------------------------
def test_silence_raises_device_lost_then_medium_then_resolves() -> None:
    run = Run()
    both = stream(SPO2, [97] * 6) + stream(PULSE, [70] * 6)  # last readings at 5
    run.feed_all(sorted(both, key=lambda r: r.time))
    assert run.engine.next_deadline() == at(15)
    run.advance(200)
    assert run.summary() == [
        (15, "raised", "device_lost", "low"),
        (65, "escalated", "device_lost", "medium"),
    ]
    run.feed(Reading(at(201), SPO2, 97))
    assert run.summary()[-1] == (65, "escalated", "device_lost", "medium")  # pulse still lost
    run.feed(Reading(at(202), PULSE, 70))
    run.advance(202)  # judged once the instant is complete
    assert run.summary()[-1] == (202, "resolved", "device_lost", "medium")


def test_gap_of_exactly_the_quiet_time_is_not_lost() -> None:
    run = Run()
    run.feed(Reading(at(0), SPO2, 97))
    run.feed(Reading(at(10), SPO2, 97))
    run.feed(Reading(at(19), SPO2, 97))
    run.advance(28)
    assert run.events == []


def test_device_never_attached_is_not_lost() -> None:
    run = Run()
    run.feed(obs(0, **NORMAL_SET))
    run.advance(3600)
    assert [e.rule_id for e in run.events] == []


OXIMETER = frozenset({SPO2, PULSE})


def test_assigned_oximeter_that_never_delivers_is_lost() -> None:
    run = Run()
    run.feed(DeviceLink(at(0), "serial:/dev/ox", ConnectionState.CONNECTING, OXIMETER))
    run.feed(
        DeviceLink(
            at(2), "serial:/dev/ox", ConnectionState.DISCONNECTED, OXIMETER, "port not found"
        )
    )
    run.advance(9.9)
    assert run.events == []  # the quiet time counts from the first link event
    run.advance(70)
    assert run.summary() == [
        (10, "raised", "device_lost", "low"),
        (60, "escalated", "device_lost", "medium"),
    ]
    evidence = run.events[0].evidence["parameters"]["spo2"]
    assert evidence == {
        "last_reading": None,
        "lost_for_s": 10,
        "device": "serial:/dev/ox",
        "link": "disconnected",
        "link_since": at(2).isoformat(),
        "link_reason": "port not found",
    }
    run.feed(Reading(at(71), SPO2, 97), Reading(at(71), PULSE, 70))
    run.advance(71)
    assert run.summary()[-1] == (71, "resolved", "device_lost", "medium")


def test_link_state_names_a_silent_but_connected_device() -> None:
    run = Run()
    run.feed(DeviceLink(at(0), "ble:AA", ConnectionState.CONNECTED, OXIMETER))
    run.feed_all(sorted(stream(SPO2, [97] * 5) + stream(PULSE, [70] * 5), key=lambda r: r.time))
    run.advance(20)
    [raised] = run.events
    assert raised.time == at(14)  # silence counts from the last reading once readings came
    assert raised.evidence["parameters"]["pulse_rate"]["link"] == "connected"
    assert raised.evidence["parameters"]["pulse_rate"]["last_reading"] == at(4).isoformat()


def test_cuff_link_does_not_watch_the_oximeter() -> None:
    run = Run()
    cuff = frozenset({Parameter.SYSTOLIC, Parameter.DIASTOLIC})
    run.feed(DeviceLink(at(0), "ble:BP", ConnectionState.CONNECTED, cuff))
    run.advance(600)
    assert run.events == []


def test_probe_off_is_sensor_off_not_lost() -> None:
    run = Run()
    run.feed_all(stream(SPO2, [97] * 5))
    off = frozenset({QualityFlag.NO_FINGER})
    run.feed_all(stream(SPO2, [None] * 120, start=5, flags=off))
    assert run.summary() == [
        (15, "raised", "sensor_off", "low"),
        (65, "escalated", "sensor_off", "medium"),
    ]
    run.feed(Reading(at(126), SPO2, 97))
    run.advance(126)
    assert run.summary()[-1] == (126, "resolved", "sensor_off", "medium")


def test_probe_refitted_and_searching_ends_sensor_off_and_watches_the_signal() -> None:
    run = Run()
    run.feed_all(stream(SPO2, [None] * 20, flags=frozenset({QualityFlag.NO_FINGER})))
    searching = frozenset({QualityFlag.SEARCHING})
    run.feed_all(stream(SPO2, [None] * 20, start=20, flags=searching))
    run.advance(40)
    assert run.summary() == [
        (10, "raised", "sensor_off", "low"),
        (20, "resolved", "sensor_off", "low"),
        (35, "raised", "signal_unusable", "low"),
    ]
    assert run.events[-1].evidence["parameters"]["spo2"]["why"] == ["searching"]


def test_readings_arriving_but_none_usable_raise_a_technical_alarm_that_says_why() -> None:
    run = Run()
    run.feed_all(stream(SPO2, [97] * 5))
    poor = frozenset({QualityFlag.LOW_PERFUSION})
    run.feed_all(stream(SPO2, [88] * 70, start=5, flags=poor))
    assert run.summary() == [
        (20, "raised", "signal_unusable", "low"),
        (65, "escalated", "signal_unusable", "medium"),
    ]
    assert run.events[0].evidence["parameters"]["spo2"]["why"] == ["low_perfusion"]
    assert run.events[0].kind.value == "technical"
    run.feed(Reading(at(80), SPO2, 97))
    run.advance(80)
    assert run.summary()[-1] == (80, "resolved", "signal_unusable", "medium")


def test_a_stream_of_empty_readings_is_unusable_too() -> None:
    run = Run()
    run.feed_all(stream(SPO2, [None] * 20))
    assert run.summary() == [(15, "raised", "signal_unusable", "low")]
    assert run.events[0].evidence["parameters"]["spo2"]["why"] == ["no value"]


def test_motion_dips_shorter_than_the_unusable_delay_raise_nothing() -> None:
    run = Run()
    artefact = frozenset({QualityFlag.ARTIFACT})
    for start in range(0, 600, 60):
        run.feed_all(stream(SPO2, [97] * 48, start=start))
        run.feed_all(stream(SPO2, [86] * 12, start=start + 48, flags=artefact))
    assert run.events == []


def test_sensor_disconnected_flag_counts_as_sensor_off() -> None:
    run = Run()
    flags = frozenset({QualityFlag.SENSOR_DISCONNECTED})
    run.feed_all(stream(PULSE, [None] * 12, flags=flags))
    assert run.summary() == [(10, "raised", "sensor_off", "low")]


def test_link_lost_while_probe_off_is_both() -> None:
    run = Run()
    run.feed_all(stream(SPO2, [None] * 3, flags=frozenset({QualityFlag.NO_FINGER})))
    run.advance(30)
    assert run.summary() == [
        (10, "raised", "sensor_off", "low"),
        (12, "raised", "device_lost", "low"),
    ]


# --- entries ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("values", "rule", "priority"),
    [
        ({"systolic": 90.0}, "sbp_low", "high"),
        ({"systolic": 60.0}, "sbp_low", "high"),
        ({"systolic": 91.0}, "sbp_low", "medium"),
        ({"systolic": 100.0}, "sbp_low", "medium"),
        ({"rr": 8.0}, "rr_low", "high"),
        ({"rr": 9.0}, "rr_low", "medium"),
        ({"rr": 11.0}, "rr_low", "medium"),
        ({"rr": 25.0}, "rr_high", "high"),
        ({"consciousness": Consciousness.CONFUSION}, "consciousness", "high"),
        ({"consciousness": Consciousness.VOICE}, "consciousness", "high"),
        ({"consciousness": Consciousness.UNRESPONSIVE}, "consciousness", "high"),
        ({"poss": Poss.FREQUENTLY_DROWSY}, "sedation", "high"),
        ({"poss": Poss.SOMNOLENT}, "sedation", "high"),
        ({"temp": 35.0}, "temp_low", "medium"),
        ({"temp": 35.04}, "temp_low", "medium"),  # charted 35.0, as NEWS2 scores it
        ({"side_effects": frozenset({SideEffect.SLURRED_SPEECH})}, "side_effect_red", "high"),
        ({"side_effects": frozenset({SideEffect.ARM_WEAKNESS})}, "side_effect_red", "high"),
        ({"side_effects": frozenset({SideEffect.DIFFICULTY_BREATHING})}, "side_effect_red", "high"),
        ({"side_effects": frozenset({SideEffect.SEIZURE})}, "side_effect_red", "high"),
        ({"side_effects": frozenset({SideEffect.DROWSINESS})}, "side_effect", "low"),
        ({"side_effects": frozenset({SideEffect.LETHARGY})}, "side_effect", "low"),
    ],
)
def test_entry_rule_raised_on_the_entry(
    values: dict[str, object], rule: str, priority: str
) -> None:
    run = Run()
    run.feed(obs(100, **values))
    assert run.summary() == [(100, "raised", rule, priority)]


@pytest.mark.parametrize(
    "values",
    [
        {"systolic": 101.0},
        {"systolic": 219.0},
        {"rr": 12.0},
        {"rr": 24.0},
        {"consciousness": Consciousness.ALERT},
        {"poss": Poss.SLIGHTLY_DROWSY},
        {"poss": Poss.ASLEEP},
        {"temp": 35.1},
        {"temp": 35.05},
        {"side_effects": frozenset()},
    ],
)
def test_entry_values_outside_every_rule_raise_nothing(values: dict[str, object]) -> None:
    run = Run()
    run.feed(obs(100, **values))
    assert run.events == []


def test_red_and_other_side_effects_together() -> None:
    run = Run()
    run.feed(obs(0, side_effects=frozenset({SideEffect.SEIZURE, SideEffect.HEADACHE})))
    assert sorted(e.rule_id for e in run.events) == ["side_effect", "side_effect_red"]


def test_entry_rule_clears_only_on_a_later_entry_of_its_parameter() -> None:
    run = Run()
    run.feed(obs(0, rr=10.0))
    run.feed(obs(60, systolic=120.0))  # says nothing about breathing
    assert [e.event.value for e in run.events] == ["raised"]
    run.feed(obs(120, rr=14.0))
    assert run.summary()[-1] == (120, "resolved", "rr_low", "medium")


def test_side_effect_check_not_recorded_does_not_clear() -> None:
    run = Run()
    run.feed(obs(0, side_effects=frozenset({SideEffect.HEADACHE})))
    run.feed(obs(60, rr=16.0))
    assert len(run.events) == 1
    run.feed(obs(120, side_effects=frozenset()))
    assert run.summary()[-1] == (120, "resolved", "side_effect", "low")


def _with_injection(run: Run, baseline_sets: list[ObservationSet]) -> None:
    run.feed_all(baseline_sets)
    run.feed(Injection(at(0), 50))


def test_sbp_drop_compares_with_pre_injection_median() -> None:
    run = Run()
    # Baseline window is the 15 min before the injection: 140 at -20 min is outside it.
    _with_injection(
        run,
        [
            obs(-1200, systolic=140.0),
            obs(-600, systolic=128.0),
            obs(-300, systolic=132.0),
            obs(-120, systolic=130.0),
        ],
    )
    assert run.engine.baseline()[Parameter.SYSTOLIC] == 130
    run.feed(obs(600, systolic=111.0))  # 19 below
    assert run.events == []
    run.feed(obs(900, systolic=110.0))  # 20 below
    assert run.summary() == [(900, "raised", "sbp_drop", "medium")]
    assert run.events[0].evidence["baseline"] == 130


def test_sbp_drop_needs_a_baseline() -> None:
    run = Run()
    run.feed(Injection(at(0), 50))
    run.feed(obs(600, systolic=105.0))
    assert run.events == []


def test_leg_weakness_two_grades_below_that_legs_baseline() -> None:
    run = Run()
    _with_injection(run, [obs(-300, power_left_leg=5, power_right_leg=4)])
    run.feed(obs(900, power_left_leg=4, power_right_leg=3))  # one grade each
    assert run.events == []
    run.feed(obs(1800, power_left_leg=5, power_right_leg=2))  # right: two below its own 4
    assert run.summary() == [(1800, "raised", "leg_weakness", "medium")]
    run.feed(obs(2700, power_right_leg=3))
    assert run.summary()[-1] == (2700, "resolved", "leg_weakness", "medium")


# --- NEWS2 in the engine ------------------------------------------------------------------------
def test_news2_medium_raised_on_a_complete_set() -> None:
    run = Run()
    # 2 + 1 + 0 + 1 + 1 + 0 + 0 = 5, no single 3
    run.feed(
        obs(
            0,
            rr=22.0,
            spo2=94.0,
            on_oxygen=False,
            systolic=105.0,
            pulse_rate=95.0,
            consciousness=Consciousness.ALERT,
            temp=37.0,
        )
    )
    assert run.summary() == [(0, "raised", "news2", "medium")]
    assert run.events[0].evidence["total"] == 5
    assert run.events[0].evidence["level"] == "news2_medium"


def test_news2_high_excludes_medium_and_red_score() -> None:
    run = Run()
    # 2 + 1 + 2 + 1 + 1 + 0 + 1 = 8
    run.feed(
        obs(
            0,
            rr=24.0,
            spo2=94.0,
            on_oxygen=True,
            systolic=105.0,
            pulse_rate=95.0,
            consciousness=Consciousness.ALERT,
            temp=38.5,
        )
    )
    assert run.summary() == [(0, "raised", "news2", "high")]
    assert run.events[0].evidence["level"] == "news2_high"
    assert run.events[0].message.startswith("NEWS2 7 or more")


def test_news2_single_three_is_red_score() -> None:
    run = Run()
    run.feed(obs(0, **{**NORMAL_SET, "systolic": 220.0}))
    assert run.summary() == [(0, "raised", "news2", "medium")]
    assert run.events[0].evidence["level"] == "news2_red_score"
    # A worse band escalates the one NEWS2 alarm; a normal complete set ends it.
    run.feed(
        obs(
            900,
            rr=24.0,
            spo2=94.0,
            on_oxygen=True,
            systolic=105.0,
            pulse_rate=95.0,
            consciousness=Consciousness.ALERT,
            temp=38.5,
        )
    )
    assert run.summary()[-1] == (900, "escalated", "news2", "high")
    run.feed(Acknowledgement(at(950), "news2"))
    run.feed(obs(1800, **NORMAL_SET))
    assert run.summary()[-1] == (1800, "resolved", "news2", "high")


def test_news2_normal_and_incomplete_sets_raise_nothing() -> None:
    run = Run()
    run.feed(obs(0, **NORMAL_SET))
    run.feed(obs(60, **{**NORMAL_SET, "systolic": 220.0, "temp": None}))  # incomplete
    assert run.events == []


@pytest.mark.parametrize("reading_first", [True, False])
def test_news2_takes_spo2_and_pulse_from_same_time_stream(reading_first: bool) -> None:
    run = Run()
    values = {**NORMAL_SET, "spo2": None, "pulse_rate": None, "systolic": 220.0}
    readings = [Reading(at(0), SPO2, 97), Reading(at(0), PULSE, 70)]
    events: list[TrialEvent] = [*readings, obs(0, **values)]
    if not reading_first:
        events = [obs(0, **values), *readings]
    run.feed_all(events)
    assert [e.rule_id for e in run.events] == ["news2"]
    [score] = [s for s in run.engine.take_set_scores() if s.news2.total is not None]
    assert (score.spo2, score.spo2_from, score.pulse, score.pulse_from) == (
        97,
        "device",
        70,
        "device",
    )


def test_news2_stream_reading_at_another_time_is_not_used() -> None:
    run = Run()
    run.feed(Reading(at(0), SPO2, 97))
    run.feed(Reading(at(0), PULSE, 70))
    run.feed(obs(1, **{**NORMAL_SET, "spo2": None, "pulse_rate": None, "systolic": 220.0}))
    assert run.events == []


def test_news2_scale_2_on_oxygen() -> None:
    run = Run(spo2_scale=2)
    # scale 2: 97 on oxygen scores 3, oxygen 2: total 5 -> medium
    run.feed(obs(0, **{**NORMAL_SET, "on_oxygen": True}))
    assert run.summary() == [(0, "raised", "news2", "medium")]


# --- rebuild after a restart --------------------------------------------------------------------
def test_replaying_the_record_rebuilds_the_same_state() -> None:
    history: list[TrialEvent] = [
        *stream(SPO2, [97] * 5),
        *stream(SPO2, [88] * 20, start=5),
        Acknowledgement(at(25), "spo2_low", by="n"),
    ]
    uninterrupted = Run()
    uninterrupted.feed_all(history)
    rebuilt = TrialEngine(RULES, trial_id="t1")
    assert rebuilt.replay(history, until=at(26)) == len(uninterrupted.events) + len(
        uninterrupted.advance(26)
    )
    tail = [Reading(at(27 + i), SPO2, 84 if i > 100 else 88) for i in range(300)]
    expected = [e for ev in tail for e in uninterrupted.engine.feed(ev)]
    got = [e for ev in tail for e in rebuilt.feed(ev)]
    assert got == expected
    assert [(e.event.value, e.evidence["level"]) for e in got] == [
        ("reannunciated", "critical_desaturation"),
        ("escalated", "critical_desaturation"),
    ]


def test_window_close_stops_the_schedule_and_device_watch() -> None:
    run = Run()
    run.feed(Reading(at(0), SPO2, 97))
    run.feed(Injection(at(1), 50))
    run.feed(WindowClosed(at(2)))
    run.advance(7200)
    assert run.events == []
    assert run.engine.next_observation_due() is None


@settings(deadline=None, max_examples=60)
@given(st.integers(min_value=50, max_value=100))
def test_any_steady_spo2_raises_once_at_its_deepest_level(spo2: int) -> None:
    # <= 85 critical (5 s); <= 91 severe (counter 25 below 92, not before 11 s); <= 93
    # desaturation (counter 60 below 94, at most 60 s); the deepest decides alone.
    if spo2 <= 85:
        expected = [(5, "raised", "spo2_low", "high")]
    elif spo2 <= 91:
        expected = [(max(11, 25 / (92 - spo2)), "raised", "spo2_low", "high")]
    elif spo2 <= 93:
        expected = [(60 / (94 - spo2), "raised", "spo2_low", "medium")]
    else:
        expected = []
    run = Run()
    run.feed_all(stream(SPO2, [spo2] * 62))
    assert run.summary() == [(pytest.approx(t, abs=1e-6), *rest) for t, *rest in expected]


@settings(deadline=None, max_examples=60)
@given(st.integers(min_value=20, max_value=200))
def test_any_steady_pulse_raises_once_at_its_deepest_level(pulse: int) -> None:
    # <= 40 severe (10 s); <= 50 counter 60 below 51 or 30 s; >= 131 severe high (30 s).
    if pulse <= 40:
        expected = [(10, "raised", "pulse_low", "high")]
    elif pulse <= 50:
        expected = [(min(30, 60 / (51 - pulse)), "raised", "pulse_low", "medium")]
    elif pulse >= 131:
        expected = [(30, "raised", "pulse_severe_high", "high")]
    else:
        expected = []
    run = Run()
    run.feed_all(stream(PULSE, [pulse] * 32))
    assert run.summary() == [(pytest.approx(t, abs=1e-6), *rest) for t, *rest in expected]


def test_readings_not_stored_is_an_alarm_of_the_rule_file_until_someone_has_seen_it():
    """The monitor's loss of readings (the record away past its buffer) goes through the same
    lifecycle as every rule's alarm: raised with the count, kept up to date, ended by the
    acknowledgement (the gap was seen), raised anew by a later loss."""
    [rule] = [r for r in RULES.rules if r.condition.type == "not_stored"]
    run = Run()
    [raised] = run.feed(ReadingsNotStored(at(0), 3))
    assert (raised.event.value, raised.rule_id, raised.kind.value) == (
        "raised",
        rule.id,
        "technical",
    )
    assert raised.priority == rule.priority and raised.evidence == {"dropped": 3}
    assert raised.message.startswith("3 device readings could not be stored")
    [more] = run.feed(ReadingsNotStored(at(5), 4))
    assert (more.event.value, more.evidence["dropped"]) == ("changed", 7)
    assert more.message.startswith("7 device readings")
    assert run.advance(3600) == []  # not escalated, never ended by time alone
    assert [a.rule_id for a in run.engine.active_alarms()] == [rule.id]
    seen = run.feed(Acknowledgement(at(3601), rule.id, by="nurse"))
    assert [e.event.value for e in seen] == ["acknowledged", "resolved"]
    assert run.engine.active_alarms() == []
    [again] = run.feed(ReadingsNotStored(at(3700), 2))
    assert (again.event.value, again.evidence) == ("raised", {"dropped": 2})


def test_a_loss_of_readings_counts_from_one():
    with pytest.raises(ValueError, match="counted from 1"):
        ReadingsNotStored(at(0), 0)
