"""The rule set is data, validated at load with line-numbered errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from rules.rule_set import RuleSetError, default_rule_set, load_rule_set, parse_rule_set
from vocabulary import AlarmKind, Priority

DEFAULT_IDS = [
    "spo2_critical", "spo2_severe", "spo2_low", "pulse_severe_low", "pulse_low",
    "pulse_severe_high", "sbp_severe", "sbp_low", "sbp_drop", "rr_severe_low", "rr_low",
    "rr_high", "consciousness", "sedation", "temp_low", "side_effect_red", "side_effect",
    "leg_weakness", "news2_high", "news2_medium", "news2_red_score", "device_lost",
    "sensor_off", "obs_overdue",
]

# shared/clinical.md §4 table: rule -> (delay s, priority)
EXPECTED = {
    "spo2_critical": (5, "high"), "spo2_severe": (15, "high"), "spo2_low": (60, "medium"),
    "pulse_severe_low": (10, "high"), "pulse_low": (30, "medium"),
    "pulse_severe_high": (30, "high"), "sbp_severe": (0, "high"), "sbp_low": (0, "medium"),
    "sbp_drop": (0, "medium"), "rr_severe_low": (0, "high"), "rr_low": (0, "medium"),
    "rr_high": (0, "high"), "consciousness": (0, "high"), "sedation": (0, "high"),
    "temp_low": (0, "medium"), "side_effect_red": (0, "high"), "side_effect": (0, "low"),
    "leg_weakness": (0, "medium"), "news2_high": (0, "high"), "news2_medium": (0, "medium"),
    "news2_red_score": (0, "medium"), "device_lost": (10, "low"), "sensor_off": (10, "low"),
    "obs_overdue": (300, "medium"),
}

HEAD = """\
version: test-1
lifecycle:
  escalate_unacknowledged_after_s: {high: 120, medium: 600}
  reannunciate_after_s: 120
  rationale: r
baseline: {window_before_injection_min: 15, rationale: r}
monitoring_window: {default_min: 240, rationale: r}
schedule:
  due_after_injection_min: [15, 30]
  then_every_min: 60
  news2_next_due_within_min: {high: 15, medium: 60, low-medium: 60}
  rationale: r
rules:
"""  # 13 lines; the first rule starts on line 14

GOOD_RULE = """\
  - id: spo2_critical
    condition: {type: range, parameter: spo2, max: 85}
    delay_s: 5
    priority: high
    kind: physiological
    message: m
    rationale: r
"""  # lines 14-20


def test_default_rule_set_ids_in_order() -> None:
    assert default_rule_set().rule_ids == DEFAULT_IDS


def test_default_rules_match_clinical_table() -> None:
    rules = default_rule_set()
    for rule in rules.rules:
        delay, priority = EXPECTED[rule.id]
        assert (rule.delay_s, rule.priority) == (delay, Priority(priority)), rule.id
        assert rule.rationale.strip(), rule.id
        assert rule.message.strip(), rule.id
    technical = {r.id for r in rules.rules if r.kind is AlarmKind.TECHNICAL}
    assert technical == {"device_lost", "sensor_off", "obs_overdue"}


def test_default_lifecycle_and_schedule_numbers() -> None:
    rules = default_rule_set()
    assert rules.lifecycle.escalate_unacknowledged_after_s == {Priority.HIGH: 120,
                                                                Priority.MEDIUM: 600}
    assert rules.lifecycle.reannunciate_after_s == 120
    assert rules.schedule.due_after_injection_min == [15, 30, 45, 60, 90, 120, 150, 180, 210,
                                                      240]
    assert rules.schedule.then_every_min == 60
    assert rules.baseline.window_before_injection_min == 15
    assert rules.monitoring_window.default_min == 240


def test_minimal_file_loads() -> None:
    assert parse_rule_set(HEAD + GOOD_RULE).rule_ids == ["spo2_critical"]


def test_unknown_parameter_names_its_line() -> None:
    text = HEAD + GOOD_RULE.replace("parameter: spo2", "parameter: spo3")
    with pytest.raises(RuleSetError) as caught:
        parse_rule_set(text, "bad.yaml")
    assert [p.line for p in caught.value.problems] == [15]
    assert "unknown parameter 'spo3'" in str(caught.value)
    assert "bad.yaml: line 15" in str(caught.value)


def test_unknown_priority_names_its_line() -> None:
    text = HEAD + GOOD_RULE.replace("priority: high", "priority: urgent")
    with pytest.raises(RuleSetError, match=r"line 17: .*unknown priority 'urgent'"):
        parse_rule_set(text, "bad.yaml")


def test_negative_delay_names_its_line() -> None:
    text = HEAD + GOOD_RULE.replace("delay_s: 5", "delay_s: -5")
    with pytest.raises(RuleSetError, match=r"line 16: .*negative delay -5"):
        parse_rule_set(text, "bad.yaml")


def test_overlapping_bands_of_one_parameter() -> None:
    second = """\
  - id: spo2_severe
    condition: {type: range, parameter: spo2, min: 85, max: 91, worse: lower}
    delay_s: 15
    priority: high
    kind: physiological
    message: m
    rationale: r
"""  # lines 21-27; 85 is also in spo2_critical
    with pytest.raises(RuleSetError) as caught:
        parse_rule_set(HEAD + GOOD_RULE + second, "bad.yaml")
    assert [p.line for p in caught.value.problems] == [22]
    assert "overlaps rule 'spo2_critical'" in str(caught.value)


def test_adjacent_bands_do_not_overlap() -> None:
    second = GOOD_RULE.replace("spo2_critical", "spo2_severe").replace(
        "max: 85}", "min: 86, max: 91, worse: lower}")
    assert len(parse_rule_set(HEAD + GOOD_RULE + second).rules) == 2


def test_duplicate_id_and_misspelt_key() -> None:
    with pytest.raises(RuleSetError, match=r"line 21: .*duplicate rule id 'spo2_critical'"):
        parse_rule_set(HEAD + GOOD_RULE + GOOD_RULE, "bad.yaml")
    misspelt = HEAD + GOOD_RULE.replace("delay_s: 5", "delay: 5")
    with pytest.raises(RuleSetError, match=r"line 16: .*unknown key 'delay'"):
        parse_rule_set(misspelt, "bad.yaml")


def test_delay_on_an_entry_rule_is_refused() -> None:
    text = HEAD + GOOD_RULE.replace("parameter: spo2", "parameter: rr")
    with pytest.raises(RuleSetError, match=r"line 16: .*judged on each entry"):
        parse_rule_set(text, "bad.yaml")


def test_yaml_syntax_error_names_its_line() -> None:
    text = HEAD + GOOD_RULE + "  - id: [unclosed\n"
    with pytest.raises(RuleSetError) as caught:
        parse_rule_set(text, "bad.yaml")
    assert caught.value.problems[0].line in (21, 22)
    assert "not valid YAML" in str(caught.value)


def test_load_from_file_and_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(HEAD + GOOD_RULE.replace("kind: physiological", "kind: technical"))
    with pytest.raises(RuleSetError) as caught:
        load_rule_set(path)
    assert caught.value.problems[0].line == 18
    assert str(path) in str(caught.value)
    with pytest.raises(RuleSetError, match="cannot read"):
        load_rule_set(tmp_path / "absent.yaml")
