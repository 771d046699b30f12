"""The rule set is data, validated at load with line-numbered errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from rules.rule_set import (
    FlaggedCondition,
    LimitsCondition,
    News2Condition,
    NoReadingCondition,
    RuleSetError,
    SideEffectCondition,
    default_rule_set,
    load_rule_set,
    parse_rule_set,
)
from vocabulary import AlarmKind, Priority, QualityFlag

DEFAULT_IDS = [
    "spo2_low",
    "pulse_low",
    "pulse_severe_high",
    "sbp_low",
    "sbp_drop",
    "rr_low",
    "rr_high",
    "consciousness",
    "sedation",
    "temp_low",
    "side_effect_red",
    "side_effect",
    "leg_weakness",
    "news2",
    "device_lost",
    "sensor_off",
    "signal_unusable",
    "obs_overdue",
    "readings_dropped",
]

# The clinical table of the default rules, level by level (mildest first):
# rule -> [(level, limit, priority, decision, clears at, hold s)]; the decision of a streamed
# level is (counter (reference, threshold, decay/s), min s, max s, repeat (entries, within s)).
# Entered levels have no decision and clear with the next entry (None).
STREAMED = {
    "spo2_low": [
        ("desaturation", 93, "medium", ((94, 60, 1), None, 60, None), 95, 15),
        ("severe_desaturation", 91, "high", ((92, 25, 1), 11, 30, (3, 60)), 93, 15),
        ("critical_desaturation", 85, "high", (None, None, 5, None), 87, 15),
    ],
    "pulse_low": [
        ("bradycardia", 50, "medium", ((51, 60, 3), None, 30, None), 54, 60),
        ("severe_bradycardia", 40, "high", (None, None, 10, None), 44, 60),
    ],
    "pulse_severe_high": [
        ("severe_tachycardia", 131, "high", (None, None, 30, None), 127, 15),
    ],
}
ENTERED = {
    "sbp_low": [("hypotension", 100, "medium"), ("severe_hypotension", 90, "high")],
    "rr_low": [("slow_breathing", 11, "medium"), ("respiratory_depression", 8, "high")],
    "rr_high": [("fast_breathing", 25, "high")],
    "temp_low": [("hypothermia", 35.0, "medium")],
}
DIRECTIONS = {
    "spo2_low": "low",
    "pulse_low": "low",
    "pulse_severe_high": "high",
    "sbp_low": "low",
    "rr_low": "low",
    "rr_high": "high",
    "temp_low": "low",
}
NEWS2_LEVELS = [
    ("news2_red_score", "low-medium", "medium"),
    ("news2_medium", "medium", "medium"),
    ("news2_high", "high", "high"),
]
# Single-level rules: rule -> priority.
SINGLE = {
    "sbp_drop": "medium",
    "consciousness": "high",
    "sedation": "high",
    "side_effect_red": "high",
    "side_effect": "low",
    "leg_weakness": "medium",
}
# Technical rules: rule -> (delay s, priority, escalated priority, escalate after s).
TECHNICAL = {
    "device_lost": (10, "low", "medium", 60),
    "sensor_off": (10, "low", "medium", 60),
    "signal_unusable": (15, "low", "medium", 60),
    "obs_overdue": (300, "medium", None, None),
    "readings_dropped": (0, "medium", None, None),
}

HEAD = """\
version: test-1
lifecycle:
  escalate_unacknowledged_after_s: {high: 120, medium: 600}
  reminder_after_acknowledgement_s: {high: 300, medium: 900}
  rationale: r
baseline: {window_before_injection_min: 15, set_within_before_injection_min: 60, rationale: r}
monitoring_window: {default_min: 240, rationale: r}
schedule:
  due_after_injection_min: [15, 30]
  then_every_min: 60
  news2_next_due_within_min: {high: 15, medium: 60, low-medium: 60}
  rationale: r
rules:
"""  # 13 lines; the first rule starts on line 14

SPO2 = """\
  - id: spo2_low
    kind: physiological
    rationale: r
    condition:
      type: limits
      parameter: spo2
      direction: low
      levels:
        - id: desaturation
          limit: 93
          priority: medium
          message: m
          rationale: r
          counter: {reference: 94, threshold: 60, decay_per_s: 1}
          max_delay_s: 60
          clears_at: 95
          hold_s: 15
        - id: critical_desaturation
          limit: 85
          priority: high
          message: m
          rationale: r
          max_delay_s: 5
          clears_at: 87
          hold_s: 15
"""  # lines 14-38: the rule 14, condition 17, parameter 19, levels 22 and 31

RR = """\
  - id: rr_low
    kind: physiological
    rationale: r
    condition:
      type: limits
      parameter: rr
      direction: low
      levels:
        - id: slow_breathing
          limit: 11
          priority: medium
          message: m
          rationale: r
        - id: respiratory_depression
          limit: 8
          priority: high
          message: m
          rationale: r
"""  # after HEAD alone, lines 14-31: the rule 14, levels 22 and 27

PULSE_HIGH = """\
  - id: pulse_high
    kind: physiological
    rationale: r
    condition:
      type: limits
      parameter: pulse_rate
      direction: high
      levels:
        - id: tachycardia
          limit: 120
          priority: medium
          message: m
          rationale: r
          max_delay_s: 30
          clears_at: 115
          hold_s: 15
"""  # after HEAD alone, lines 14-29: the level 22, its limit 23, clears_at 28

NEWS2 = """\
  - id: news2
    kind: physiological
    rationale: r
    condition:
      type: news2
      levels:
        - {id: news2_red_score, band: low-medium, priority: medium, message: m, rationale: r}
        - {id: news2_high, band: high, priority: high, message: m, rationale: r}
"""  # after HEAD alone, lines 14-21: condition 17, levels 19

LOST = """\
  - id: device_lost
    condition:
      type: no_reading
      parameters: [spo2, pulse_rate]
      escalate_to: medium
      escalate_after_s: 60
    priority: low
    kind: technical
    escalate_unacknowledged: false
    message: m
    rationale: r
"""  # after HEAD alone, lines 14-24: condition 15, escalate_to 18

SEDATION = """\
  - id: sedation
    condition: {type: one_of, parameter: poss, values: ["3", "4"], order: [S, "1", "2", "3", "4"]}
    priority: high
    kind: physiological
    message: m
    rationale: r
"""  # after HEAD alone, lines 14-19


def problems(text: str) -> list[tuple[int | None, str]]:
    with pytest.raises(RuleSetError) as caught:
        parse_rule_set(text, "bad.yaml")
    found = [(p.line, p.message) for p in caught.value.problems]
    # Every problem names its line, in the file's order, and the message says so too.
    assert all(line is not None for line, _ in found), found
    assert [line for line, _ in found] == sorted(line or 0 for line, _ in found)
    for problem in caught.value.problems:
        assert f"bad.yaml: line {problem.line}:" in str(caught.value)
    return found


# --- the default rule set ------------------------------------------------------------------------
def test_default_rule_set_ids_in_order() -> None:
    assert default_rule_set().rule_ids == DEFAULT_IDS


def test_default_limits_match_the_clinical_table() -> None:
    rules = default_rule_set()
    for rule_id, expected in STREAMED.items():
        rule = rules.rule(rule_id)
        cond = rule.condition
        assert isinstance(cond, LimitsCondition), rule_id
        assert rule.streamed, rule_id
        assert cond.direction == DIRECTIONS[rule_id]
        got = []
        for level in cond.levels:
            counter = level.counter
            got.append(
                (
                    level.id,
                    level.limit,
                    level.priority.value,
                    (
                        (counter.reference, counter.threshold, counter.decay_per_s)
                        if counter is not None
                        else None,
                        level.min_duration_s,
                        level.max_delay_s,
                        (level.repeat_entries, level.repeat_within_s)
                        if level.repeat_entries is not None
                        else None,
                    ),
                    level.clears_at,
                    level.hold_s,
                )
            )
            assert level.message.strip() and level.rationale.strip(), level.id
        assert got == expected, rule_id
    for rule_id, expected in ENTERED.items():
        rule = rules.rule(rule_id)
        cond = rule.condition
        assert isinstance(cond, LimitsCondition), rule_id
        assert not rule.streamed, rule_id
        assert cond.direction == DIRECTIONS[rule_id]
        assert [(lv.id, lv.limit, lv.priority.value) for lv in cond.levels] == expected
        assert all(lv.timed_fields == [] for lv in cond.levels), rule_id


def test_default_news2_rule_is_one_alarm_with_three_levels() -> None:
    rule = default_rule_set().rule("news2")
    cond = rule.condition
    assert isinstance(cond, News2Condition)
    assert [(lv.id, lv.band, lv.priority.value) for lv in cond.levels] == NEWS2_LEVELS
    assert [(lv.id, lv.priority.value) for lv in rule.levels] == [
        (level_id, priority) for level_id, _, priority in NEWS2_LEVELS
    ]


def test_default_levelled_rules_give_priority_and_message_on_their_levels_only() -> None:
    rules = default_rule_set()
    for rule in rules.rules:
        assert rule.rationale.strip(), rule.id
        assert rule.delay_s >= 0, rule.id
        if rule.id in STREAMED or rule.id in ENTERED or rule.id == "news2":
            assert (rule.priority, rule.message, rule.delay_s) == (None, None, 0), rule.id
            assert all(level.message.strip() for level in rule.levels), rule.id
            assert rule.kind is AlarmKind.PHYSIOLOGICAL
        else:
            assert rule.priority is not None and rule.message, rule.id
    for rule_id, priority in SINGLE.items():
        rule = rules.rule(rule_id)
        assert (rule.delay_s, rule.kind) == (0, AlarmKind.PHYSIOLOGICAL), rule_id
        assert [(lv.id, lv.priority.value) for lv in rule.levels] == [(rule_id, priority)]


def test_default_technical_rules_and_their_escalation() -> None:
    rules = default_rule_set()
    technical = {r.id for r in rules.rules if r.kind is AlarmKind.TECHNICAL}
    assert technical == set(TECHNICAL)
    for rule_id, (delay, priority, escalate_to, after) in TECHNICAL.items():
        rule = rules.rule(rule_id)
        assert (rule.delay_s, rule.priority) == (delay, Priority(priority)), rule_id
        assert rule.message and rule.message.strip(), rule_id
        cond = rule.condition
        assert getattr(cond, "escalate_to", None) == (
            Priority(escalate_to) if escalate_to else None
        ), rule_id
        assert getattr(cond, "escalate_after_s", None) == after, rule_id
        expected_levels = [(rule_id, priority)]
        if escalate_to is not None:
            expected_levels.append((f"{rule_id}_{escalate_to}", escalate_to))
            # Its own escalation instead of the lifecycle's unacknowledged one.
            assert rule.escalate_unacknowledged is False, rule_id
        assert [(lv.id, lv.priority.value) for lv in rule.levels] == expected_levels
    assert isinstance(rules.rule("device_lost").condition, NoReadingCondition)
    sensor_off = rules.rule("sensor_off").condition
    unusable = rules.rule("signal_unusable").condition
    assert isinstance(sensor_off, FlaggedCondition) and isinstance(unusable, FlaggedCondition)
    assert set(sensor_off.flags) == {QualityFlag.NO_FINGER, QualityFlag.SENSOR_DISCONNECTED}
    assert not sensor_off.no_value
    assert unusable.no_value
    assert set(unusable.flags) == {
        QualityFlag.SEARCHING,
        QualityFlag.LOW_PERFUSION,
        QualityFlag.ARTIFACT,
        QualityFlag.QUESTIONABLE,
        QualityFlag.INVALID,
        QualityFlag.LOW_SIGNAL,
        QualityFlag.IMPLAUSIBLE,
    }
    assert set(unusable.flags).isdisjoint(sensor_off.flags)


def test_default_lifecycle_baseline_and_schedule_numbers() -> None:
    rules = default_rule_set()
    assert rules.lifecycle.escalate_unacknowledged_after_s == {
        Priority.HIGH: 120,
        Priority.MEDIUM: 600,
    }
    assert rules.lifecycle.reminder_after_acknowledgement_s == {
        Priority.HIGH: 300,
        Priority.MEDIUM: 900,
    }
    assert not hasattr(rules.lifecycle, "reannunciate_after_s")
    assert rules.schedule.due_after_injection_min == [15, 30, 45, 60, 90, 120, 150, 180, 210, 240]
    assert rules.schedule.then_every_min == 60
    assert rules.schedule.news2_next_due_within_min == {"high": 15, "medium": 60, "low-medium": 60}
    assert rules.baseline.window_before_injection_min == 15
    assert rules.baseline.set_within_before_injection_min == 60
    assert rules.monitoring_window.default_min == 240


# --- a minimal file ------------------------------------------------------------------------------
def test_minimal_file_loads() -> None:
    rules = parse_rule_set(HEAD + SPO2 + RR + NEWS2 + LOST + SEDATION)
    assert rules.rule_ids == ["spo2_low", "rr_low", "news2", "device_lost", "sedation"]
    assert [lv.id for lv in rules.rule("spo2_low").levels] == [
        "desaturation",
        "critical_desaturation",
    ]
    assert rules.rule("spo2_low").streamed and not rules.rule("rr_low").streamed
    assert [(lv.id, lv.priority) for lv in rules.rule("device_lost").levels] == [
        ("device_lost", Priority.LOW),
        ("device_lost_medium", Priority.MEDIUM),
    ]


def test_a_high_limit_and_its_levels_load() -> None:
    rules = parse_rule_set(HEAD + PULSE_HIGH)
    cond = rules.rule("pulse_high").condition
    assert isinstance(cond, LimitsCondition) and cond.direction == "high"


# --- nested levels -------------------------------------------------------------------------------
def test_levels_are_nested_mildest_first() -> None:
    text = HEAD + SPO2.replace("limit: 85", "limit: 93").replace("clears_at: 87", "clears_at: 95")
    assert problems(text) == [
        (
            32,
            "level 'critical_desaturation' must lie beyond 'desaturation' "
            "(below 93): levels are nested, mildest first",
        )
    ]
    # Deepest first is refused too (and the reversed levels name their own lines).
    reversed_levels = HEAD + SPO2.replace("limit: 93", "limit: 80").replace(
        "clears_at: 95", "clears_at: 82"
    )
    assert problems(reversed_levels) == [
        (
            32,
            "level 'critical_desaturation' must lie beyond 'desaturation' (below 80): levels "
            "are nested, mildest first",
        )
    ]


def test_levels_of_a_high_limit_are_nested_upwards() -> None:
    deeper = """\
        - id: severe_tachycardia
          limit: 110
          priority: high
          message: m
          rationale: r
          max_delay_s: 10
          clears_at: 105
          hold_s: 15
"""  # lines 30-37
    assert problems(HEAD + PULSE_HIGH + deeper) == [
        (
            31,
            "level 'severe_tachycardia' must lie beyond 'tachycardia' (above 120): levels are "
            "nested, mildest first",
        )
    ]


def test_a_deeper_level_cannot_have_a_lower_priority() -> None:
    text = HEAD + SPO2.replace("priority: high", "priority: low")
    assert problems(text) == [
        (
            33,
            "level 'critical_desaturation' is deeper than 'desaturation' "
            "and cannot have a lower priority",
        )
    ]


def test_clears_at_must_lie_outside_the_limit() -> None:
    at_the_limit = HEAD + SPO2.replace("clears_at: 95", "clears_at: 93")
    assert problems(at_the_limit) == [
        (29, "clears_at 93 must lie outside the limit 93 (hysteresis)")
    ]
    inside = HEAD + SPO2.replace("clears_at: 87", "clears_at: 84")
    assert problems(inside) == [(37, "clears_at 84 must lie outside the limit 85 (hysteresis)")]
    high = HEAD + PULSE_HIGH.replace("clears_at: 115", "clears_at: 121")
    assert problems(high) == [(28, "clears_at 121 must lie outside the limit 120 (hysteresis)")]


def test_counter_reference_must_lie_outside_the_limit() -> None:
    text = HEAD + SPO2.replace("reference: 94", "reference: 93")
    assert problems(text) == [
        (27, "reference 93 must lie outside the limit 93, so every value in the zone counts")
    ]
    assert parse_rule_set(HEAD + SPO2.replace("reference: 94", "reference: 96"))


@pytest.mark.parametrize("name", ["max_delay_s", "clears_at", "hold_s"])
def test_a_streamed_level_needs_a_maximum_delay_and_its_clearing(name: str) -> None:
    # Taken off the deepest level (its lines 36-38); the error names the level's line (31).
    line = {
        "max_delay_s": "          max_delay_s: 5\n",
        "clears_at": "          clears_at: 87\n",
        "hold_s": "          hold_s: 15\n",
    }[name]
    head, deepest = SPO2.split("        - id: critical_desaturation\n")
    text = HEAD + head + "        - id: critical_desaturation\n" + deepest.replace(line, "")
    assert problems(text) == [
        (31, f"level 'critical_desaturation' of a streamed parameter needs {name}")
    ]


def test_timing_fields_are_refused_on_an_entered_parameter() -> None:
    timed = RR.replace(
        "          rationale: r\n        - id: respiratory_depression",
        "          rationale: r\n          max_delay_s: 30\n"
        "          clears_at: 13\n        - id: respiratory_depression",
    )
    streamed = "(pulse_rate, spo2)"
    assert problems(HEAD + timed) == [
        (
            27,
            f"rr is judged on each entry: max_delay_s only applies to streamed parameters "
            f"{streamed}",
        ),
        (
            28,
            f"rr is judged on each entry: clears_at only applies to streamed parameters {streamed}",
        ),
    ]
    counted = RR.replace(
        "limit: 8\n", "limit: 8\n          counter: {reference: 9, threshold: 5, decay_per_s: 1}\n"
    )
    assert problems(HEAD + counted) == [
        (29, f"rr is judged on each entry: counter only applies to streamed parameters {streamed}")
    ]


def test_repeat_entries_and_minimum_duration_are_checked() -> None:
    lone = HEAD + SPO2.replace("max_delay_s: 60", "max_delay_s: 60\n          repeat_entries: 3")
    assert problems(lone) == [(22, "repeat_entries and repeat_within_s go together")]
    too_long = HEAD + SPO2.replace(
        "max_delay_s: 60", "max_delay_s: 60\n          min_duration_s: 61"
    )
    assert problems(too_long) == [(29, "min_duration_s cannot exceed max_delay_s")]
    no_counter = HEAD + SPO2.replace(
        "max_delay_s: 5\n", "max_delay_s: 5\n          min_duration_s: 2\n"
    )
    assert problems(no_counter) == [(37, "min_duration_s only bounds a counter's decision")]
    ok = SPO2.replace(
        "max_delay_s: 60",
        "max_delay_s: 60\n          min_duration_s: 11\n"
        "          repeat_entries: 3\n"
        "          repeat_within_s: 60",
    )
    assert parse_rule_set(HEAD + ok).rule_ids == ["spo2_low"]


def test_one_limits_rule_per_parameter_and_direction() -> None:
    second = (
        SPO2.replace("id: spo2_low", "id: spo2_deep")
        .replace("id: desaturation", "id: deep_1")
        .replace("id: critical_desaturation", "id: deep_2")
    )
    assert problems(HEAD + SPO2 + second) == [
        (
            42,
            "spo2 low already has its alarm in rule 'spo2_low': one alarm per parameter and "
            "direction; add a level there",
        )
    ]
    # The other direction is another alarm.
    high = (
        PULSE_HIGH.replace("parameter: pulse_rate", "parameter: spo2")
        .replace("limit: 120", "limit: 100")
        .replace("clears_at: 115", "clears_at: 99")
    )
    assert parse_rule_set(HEAD + SPO2 + high).rule_ids == ["spo2_low", "pulse_high"]


def test_level_ids_share_one_namespace_with_rule_ids() -> None:
    clash = RR.replace("id: slow_breathing", "id: desaturation")
    assert problems(HEAD + SPO2 + clash) == [
        (47, "duplicate id 'desaturation' (first at rules[0].levels[0])")
    ]
    assert problems(HEAD + SPO2 + SPO2) == [
        (39, "duplicate id 'spo2_low' (first at rules[0])"),
        (
            42,
            "spo2 low already has its alarm in rule 'spo2_low': one alarm per parameter and "
            "direction; add a level there",
        ),
        (47, "duplicate id 'desaturation' (first at rules[0].levels[0])"),
        (56, "duplicate id 'critical_desaturation' (first at rules[0].levels[1])"),
    ]


def test_priority_and_message_go_on_the_levels_of_a_levelled_rule() -> None:
    text = HEAD + RR.replace(
        "    rationale: r\n    condition",
        "    priority: high\n    message: m\n    rationale: r\n    condition",
        1,
    )
    assert problems(text) == [
        (16, "a limits rule gives its priority on each level"),
        (17, "a limits rule gives its message on each level"),
    ]
    news2 = HEAD + NEWS2.replace("    rationale: r\n", "    priority: high\n    rationale: r\n", 1)
    assert problems(news2) == [(16, "a news2 rule gives its priority on each level")]
    level_without = HEAD + RR.replace("          message: m\n", "", 1)
    assert problems(level_without) == [(22, "missing 'message'")]


def test_a_single_level_rule_needs_its_priority_and_message() -> None:
    assert problems(HEAD + SEDATION.replace("    priority: high\n", "")) == [
        (14, "missing 'priority'")
    ]
    assert problems(HEAD + LOST.replace("    message: m\n", "")) == [(14, "missing 'message'")]


def test_a_limits_rule_takes_no_delay() -> None:
    text = HEAD + SPO2.replace("    rationale: r\n", "    delay_s: 5\n    rationale: r\n", 1)
    assert problems(text) == [
        (16, "a limits rule takes no delay_s; its timing goes on each level (max_delay_s)")
    ]
    entry = HEAD + SEDATION.replace("    priority: high\n", "    delay_s: 5\n    priority: high\n")
    assert problems(entry) == [
        (16, "a one_of rule takes no delay_s; its timing goes nowhere: judged on each entry")
    ]


def test_old_band_rules_get_a_helpful_message() -> None:
    hint = "bands were replaced by nested levels (type: limits, or news2, with levels)"
    assert problems(HEAD + SPO2.replace("type: limits", "type: range")) == [
        (17, f"unknown condition type 'range'; {hint}")
    ]
    assert problems(HEAD + NEWS2.replace("type: news2", "type: news2_band")) == [
        (17, f"unknown condition type 'news2_band'; {hint}")
    ]
    old_lifecycle = HEAD.replace(
        "reminder_after_acknowledgement_s: {high: 300, medium: 900}", "reannunciate_after_s: 120"
    )
    assert problems(old_lifecycle + SPO2) == [
        (2, "missing 'reminder_after_acknowledgement_s'"),
        (4, "unknown key 'reannunciate_after_s' (misspelt?)"),
    ]
    old_baseline = HEAD.replace(" set_within_before_injection_min: 60,", "")
    assert problems(old_baseline + SPO2) == [(6, "missing 'set_within_before_injection_min'")]


def test_news2_levels_go_from_the_mildest_band_and_rise_in_priority() -> None:
    swapped = HEAD + NEWS2.replace("band: low-medium", "band: x").replace(
        "band: high", "band: low-medium"
    ).replace("band: x", "band: high")
    assert problems(swapped) == [
        (19, "NEWS2 levels go from the mildest band to the worst, each band once")
    ]
    lower = HEAD + NEWS2.replace("band: high, priority: high", "band: high, priority: low")
    assert problems(lower) == [(19, "a worse NEWS2 band cannot have a lower priority")]


def test_technical_escalation_is_checked() -> None:
    assert problems(HEAD + LOST.replace("escalate_to: medium", "escalate_to: low")) == [
        (18, "escalate_to low is not above the rule's priority")
    ]
    assert problems(HEAD + LOST.replace("      escalate_after_s: 60\n", "")) == [
        (15, "escalate_to and escalate_after_s go together")
    ]
    assert problems(
        HEAD + LOST.replace("parameters: [spo2, pulse_rate]", "parameters: [spo2, rr]")
    ) == [(17, "'rr' is not streamed; only pulse_rate, spo2 can be lost or flagged")]


@pytest.mark.parametrize(
    ("old", "new", "line", "message"),
    [
        ("parameter: spo2", "parameter: spo3", 19, "unknown parameter 'spo3'"),
        ("priority: high", "priority: urgent", 33, "unknown priority 'urgent'"),
        ("direction: low", "direction: down", 20, "direction: 'down' is not allowed"),
        ("max_delay_s: 5\n", "max_delay_s: -5\n", 36, "max_delay_s: Input should be greater"),
        ("max_delay_s: 5\n", "max_delay: 5\n", 36, "unknown key 'max_delay' (misspelt?)"),
        (
            "kind: physiological",
            "kind: technical",
            15,
            "a limits condition is physiological, not technical",
        ),
        ("id: desaturation", "id: Desaturation", 22, "id: String should match pattern"),
    ],
)
def test_every_error_names_its_line(old: str, new: str, line: int, message: str) -> None:
    found = problems(HEAD + SPO2.replace(old, new, 1))
    assert [got for got, _ in found] == [line]
    assert found[0][1].startswith(message), found


def test_many_problems_are_all_listed_each_with_its_line() -> None:
    text = (
        HEAD
        + SPO2.replace("clears_at: 95", "clears_at: 93").replace("priority: high", "priority: low")
        + RR.replace("id: rr_low", "id: spo2_low")
    )
    assert [line for line, _ in problems(text)] == [29, 33, 39]


def test_yaml_syntax_error_names_its_line() -> None:
    text = HEAD + SPO2 + "  - id: [unclosed\n"
    with pytest.raises(RuleSetError) as caught:
        parse_rule_set(text, "bad.yaml")
    assert caught.value.problems[0].line in (39, 40)
    assert "not valid YAML" in str(caught.value)


def test_load_from_file_and_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(HEAD + SPO2.replace("kind: physiological", "kind: technical"))
    with pytest.raises(RuleSetError) as caught:
        load_rule_set(path)
    assert [p.line for p in caught.value.problems] == [15]
    assert f"{path}: line 15:" in str(caught.value)
    with pytest.raises(RuleSetError, match="cannot read"):
        load_rule_set(tmp_path / "absent.yaml")


def test_a_rule_file_that_is_not_text_is_refused_with_its_line(tmp_path):
    from rules.rule_set import RuleSetError, load_rule_set

    path = tmp_path / "candidate.yaml"
    path.write_bytes(b"version: x\n\xff\xfe not text\n")
    with pytest.raises(RuleSetError) as refused:
        load_rule_set(path)
    assert "line 2" in str(refused.value) and "not UTF-8" in str(refused.value)


def test_device_lost_waits_the_devices_quiet_time() -> None:
    """The quiet time is measurement_limits.yaml's: a no_reading rule without a delay of its
    own reads it (the shipped file gives none); a test's file may shorten it, as it shortens
    its devices' quiet time."""
    from measurement_limits import load_measurement_limits

    quiet = load_measurement_limits().quiet_time_s
    [lost] = [r for r in parse_rule_set(HEAD + LOST).rules if r.id == "device_lost"]
    assert lost.delay_s == quiet
    own = HEAD + LOST.replace("    priority: low\n", "    delay_s: 1\n    priority: low\n")
    [fast] = [r for r in parse_rule_set(own).rules if r.id == "device_lost"]
    assert fast.delay_s == 1
    assert problems(own.replace("delay_s: 1", "delay_s: -1")) == [
        (20, "negative delay -1 s: a delay is how long a condition must hold")
    ]


def test_side_effect_rules_name_the_vocabularys_groups() -> None:
    """Which side effects are red flags is vocabulary.RED_FLAG_SIDE_EFFECTS: the shipped rules
    name the group, so the alarm and the report's red flags cannot disagree."""
    from vocabulary import RED_FLAG_SIDE_EFFECTS, SideEffect

    by_id = {r.id: r.condition for r in default_rule_set().rules}
    red, other = by_id["side_effect_red"], by_id["side_effect"]
    assert isinstance(red, SideEffectCondition) and isinstance(other, SideEffectCondition)
    assert set(red.items) == RED_FLAG_SIDE_EFFECTS
    assert set(other.items) == set(SideEffect) - RED_FLAG_SIDE_EFFECTS
    rule = """\
  - id: effects
    condition: {type: side_effect, items: red_flag}
    priority: high
    kind: physiological
    message: m
    rationale: r
"""
    assert problems(HEAD + rule) == [
        (
            15,
            "items: unknown group 'red_flag': red_flags or not_red_flags, or a list of side "
            "effects",
        )
    ]


def test_the_sedation_alarm_names_the_vocabularys_unacceptable_poss() -> None:
    """Which POSS grades are unacceptable is vocabulary.UNACCEPTABLE_POSS, read by the sedation
    alarm and by the day's overdose signs alike."""
    from rules.rule_set import OneOfCondition
    from vocabulary import UNACCEPTABLE_POSS

    [sedation] = [r.condition for r in default_rule_set().rules if r.id == "sedation"]
    assert isinstance(sedation, OneOfCondition)
    assert set(sedation.values) == {p.value for p in UNACCEPTABLE_POSS}
    rule = """\
  - id: drowsy
    condition: {type: one_of, parameter: poss, values: drowsy}
    priority: high
    kind: physiological
    message: m
    rationale: r
"""
    assert problems(HEAD + rule) == [
        (15, "values: unknown group 'drowsy': unacceptable_poss, or a list of codes")
    ]
