"""measurement_limits.yaml: the one table of plausible ranges and the quiet time, refused at
start when wrong, every problem naming its line."""

from __future__ import annotations

from pathlib import Path

import pytest

from measurement_limits import (
    RANGED_PARAMETERS,
    TABLE_FILE,
    MeasurementLimitsError,
    load_measurement_limits,
    parse_measurement_limits,
)
from vocabulary import Parameter

GOOD = TABLE_FILE.read_text(encoding="utf-8")


def problems(text: str) -> list[tuple[int | None, str]]:
    with pytest.raises(MeasurementLimitsError) as caught:
        parse_measurement_limits(text, "bad.yaml")
    found = [(p.line, p.message) for p in caught.value.problems]
    for line, _ in found:
        assert f"bad.yaml: line {line}:" in str(caught.value)
    return found


def line_of(text: str, fragment: str) -> int:
    return text[: text.index(fragment)].count("\n") + 1


def test_the_shipped_table_loads_with_a_reason_for_every_number() -> None:
    table = load_measurement_limits()
    assert set(table.ranges) == RANGED_PARAMETERS
    assert all(len(table.rationales[p]) > 40 for p in table.ranges)
    assert table.quiet_time_s > 0 and table.quiet_time_rationale
    # Measured parameters with a unit; pleth and the graded observations have no range.
    assert Parameter.TEMP in RANGED_PARAMETERS and Parameter.RR in RANGED_PARAMETERS
    assert Parameter.PLETH not in RANGED_PARAMETERS
    assert Parameter.POWER_LEFT_LEG not in RANGED_PARAMETERS


def test_the_readers_disagreement_is_resolved_in_the_table() -> None:
    """RR 0-80 and temperature 25-43 °C for every reader (the command line had 0-100, 20-45)."""
    ranges = load_measurement_limits().ranges
    assert (ranges[Parameter.RR].low, ranges[Parameter.RR].high) == (0, 80)
    assert (ranges[Parameter.TEMP].low, ranges[Parameter.TEMP].high) == (25.0, 43.0)
    assert not ranges[Parameter.TEMP].contains(45.0)  # a slip of 3 to 4 for 35.0
    assert ranges[Parameter.TEMP].contains(43.0) and ranges[Parameter.RR].contains(0)


def test_an_inverted_range_names_its_line() -> None:
    text = GOOD.replace("    min: 25.0\n    max: 43.0", "    min: 43.0\n    max: 25.0")
    assert problems(text) == [
        (line_of(text, "    min: 43.0"), "ranges.temp: min 43 is not below max 25")
    ]


def test_a_range_written_twice_is_refused() -> None:
    """YAML would silently keep the second: the one table would hold two numbers."""
    text = GOOD.replace("  temp:\n", "  rr:\n    min: 0\n    max: 100\n    rationale: r\n  temp:\n")
    first, second = line_of(text, "  rr:\n"), line_of(text, "  rr:\n    min: 0\n    max: 100")
    assert problems(text) == [(second, f"ranges: rr written twice (line {first})")]


def test_unknown_missing_and_wrong_entries_each_name_their_line() -> None:
    text = (
        GOOD.replace(
            "  pulse_rate:\n", "  pleth:\n    min: 0\n    max: 1\n    rationale: r\n  pulse_rate:\n"
        )
        .replace("    max: 80\n", "    max: eighty\n")
        .replace("quiet_time_s: 10\n", "quiet_time_s: 0\nquiet: 10\n")
    )
    assert problems(text) == [
        (
            line_of(text, "  pleth:"),
            "ranges: 'pleth' is not a measured parameter (diastolic, mean_arterial, "
            "perfusion_index, pulse_rate, rr, spo2, systolic, temp)",
        ),
        (line_of(text, "eighty"), "ranges.rr.max must be a number"),
        (line_of(text, "quiet_time_s: 0"), "quiet_time_s 0 must be positive"),
        (
            line_of(text, "quiet: 10"),
            "the table: unknown key 'quiet' (ranges, quiet_time_s, quiet_time_rationale)",
        ),
    ]


def test_a_parameter_without_a_range_is_refused() -> None:
    start = GOOD.index("  spo2:\n")
    end = GOOD.index("  pulse_rate:\n")
    text = GOOD[:start] + GOOD[end:]
    assert problems(text) == [(line_of(text, "\nranges:\n") + 1, "ranges: no range for spo2")]


def test_a_range_without_its_reason_is_refused() -> None:
    start = GOOD.index("    rationale:", GOOD.index("  spo2:\n"))
    end = GOOD.index("  pulse_rate:\n")
    text = GOOD[:start] + GOOD[end:]
    assert problems(text) == [(line_of(text, "  spo2:"), "ranges.spo2: missing rationale")]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", [(1, "the table is empty")]),
        (
            "ranges: [\n",
            [(2, "not valid YAML: expected the node content, but found '<stream end>'")],
        ),
        ("- a list\n", [(1, "the table must be a mapping")]),
    ],
)
def test_not_a_table(text: str, expected: list[tuple[int, str]]) -> None:
    found = problems(text)
    assert found[: len(expected)] == expected


def test_an_unreadable_table_is_refused(tmp_path: Path) -> None:
    with pytest.raises(MeasurementLimitsError, match="cannot read"):
        load_measurement_limits.__wrapped__(tmp_path / "missing.yaml")


@pytest.mark.parametrize("key", ["temp", "rr", "power"])
def test_the_record_refuses_its_own_copy_of_a_range(key: str) -> None:
    """observations/limits.yaml reads the ranges (and the MRC grades); writing one there again
    stops the record from starting."""
    import yaml
    from pydantic import ValidationError

    from observations.limits import LIMITS_FILE, Limits

    data = yaml.safe_load(LIMITS_FILE.read_text(encoding="utf-8"))
    data["entry"][key] = {"label": "x", "unit": "", "min": 0, "max": 1, "rationale": "a copy"}
    with pytest.raises(ValidationError, match=f"entry.{key} is not set here"):
        Limits.model_validate(data)
