"""NEWS2 against the RCP 2017 NEWS2 chart (numbers copied from the table)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rules.news2 import (
    News2Band,
    band_for,
    score_consciousness,
    score_news2,
    score_oxygen,
    score_pulse,
    score_rr,
    score_sbp,
    score_spo2,
    score_temp,
    whole_number,
)

# (value, expected score) at every band edge, both sides.
RR_EDGES = [(0, 3), (8, 3), (9, 1), (11, 1), (12, 0), (20, 0), (21, 2), (24, 2), (25, 3), (60, 3)]
SPO2_SCALE_1 = [(70, 3), (91, 3), (92, 2), (93, 2), (94, 1), (95, 1), (96, 0), (100, 0)]
SBP_EDGES = [
    (60, 3),
    (90, 3),
    (91, 2),
    (100, 2),
    (101, 1),
    (110, 1),
    (111, 0),
    (219, 0),
    (220, 3),
    (260, 3),
]
PULSE_EDGES = [
    (30, 3),
    (40, 3),
    (41, 1),
    (50, 1),
    (51, 0),
    (90, 0),
    (91, 1),
    (110, 1),
    (111, 2),
    (130, 2),
    (131, 3),
    (180, 3),
]
TEMP_EDGES = [
    (34.0, 3),
    (35.0, 3),
    (35.1, 1),
    (36.0, 1),
    (36.1, 0),
    (38.0, 0),
    (38.1, 1),
    (39.0, 1),
    (39.1, 2),
    (41.0, 2),
]
# Scale 2: (spo2, on_oxygen, score) from the table row "SpO2 scale 2".
SPO2_SCALE_2 = [
    (80, False, 3),
    (83, False, 3),
    (83, True, 3),
    (84, False, 2),
    (85, True, 2),
    (86, False, 1),
    (87, True, 1),
    (88, False, 0),
    (92, False, 0),
    (88, True, 0),
    (92, True, 0),
    (93, False, 0),
    (97, False, 0),
    (100, False, 0),  # >= 93 on air scores 0
    (93, True, 1),
    (94, True, 1),
    (95, True, 2),
    (96, True, 2),
    (97, True, 3),
    (100, True, 3),
]


@pytest.mark.parametrize(("rr", "expected"), RR_EDGES)
def test_rr_band_edges(rr: int, expected: int) -> None:
    assert score_rr(rr) == expected


@pytest.mark.parametrize(("spo2", "expected"), SPO2_SCALE_1)
@pytest.mark.parametrize("on_oxygen", [False, True])
def test_spo2_scale_1_edges_ignore_oxygen(spo2: int, expected: int, on_oxygen: bool) -> None:
    assert score_spo2(spo2, 1, on_oxygen) == expected


@pytest.mark.parametrize(("spo2", "on_oxygen", "expected"), SPO2_SCALE_2)
def test_spo2_scale_2_edges(spo2: int, on_oxygen: bool, expected: int) -> None:
    assert score_spo2(spo2, 2, on_oxygen) == expected


@pytest.mark.parametrize(("sbp", "expected"), SBP_EDGES)
def test_sbp_band_edges(sbp: int, expected: int) -> None:
    assert score_sbp(sbp) == expected


@pytest.mark.parametrize(("pulse", "expected"), PULSE_EDGES)
def test_pulse_band_edges(pulse: int, expected: int) -> None:
    assert score_pulse(pulse) == expected


@pytest.mark.parametrize(("temp", "expected"), TEMP_EDGES)
def test_temp_band_edges(temp: float, expected: int) -> None:
    assert score_temp(temp) == expected


def test_temperature_is_charted_to_one_decimal() -> None:
    assert score_temp(36.04) == 1  # charted 36.0
    assert score_temp(36.05) == 0  # charted 36.1
    assert score_temp(35.04) == 3  # charted 35.0


@pytest.mark.parametrize(("level", "expected"), [("A", 0), ("C", 3), ("V", 3), ("P", 3), ("U", 3)])
def test_consciousness(level: str, expected: int) -> None:
    assert score_consciousness(level) == expected


def test_oxygen_adds_two_on_either_scale() -> None:
    assert score_oxygen(True) == 2
    assert score_oxygen(False) == 0
    normal = dict(rr=16, sbp=120, pulse=70, consciousness="A", temp=37.0)
    on_scale_1 = score_news2(spo2=97, on_oxygen=True, spo2_scale=1, **normal)
    assert on_scale_1.scores["spo2_score"] == 0
    assert on_scale_1.scores["oxygen_score"] == 2
    assert on_scale_1.total == 2
    on_scale_2 = score_news2(spo2=97, on_oxygen=True, spo2_scale=2, **normal)
    assert on_scale_2.scores["spo2_score"] == 3
    assert on_scale_2.total == 5
    assert on_scale_2.band is News2Band.MEDIUM


@pytest.mark.parametrize(
    ("total", "red", "band"),
    [
        (0, False, "low"),
        (4, False, "low"),
        (3, True, "low-medium"),
        (4, True, "low-medium"),
        (5, False, "medium"),
        (6, False, "medium"),
        (5, True, "medium"),
        (6, True, "medium"),
        (7, False, "high"),
        (7, True, "high"),
        (20, True, "high"),
    ],
)
def test_band_precedence(total: int, red: bool, band: str) -> None:
    assert band_for(total, red).value == band


def test_all_normal_scores_zero_low() -> None:
    result = score_news2(
        rr=16, spo2=97, on_oxygen=False, sbp=120, pulse=70, consciousness="A", temp=37.0
    )
    assert result.total == 0
    assert result.band is News2Band.LOW
    assert result.missing == ()


def test_single_three_is_low_medium_and_aggregate_wins() -> None:
    red = score_news2(
        rr=16, spo2=97, on_oxygen=False, sbp=220, pulse=70, consciousness="A", temp=37.0
    )
    assert (red.total, red.band) == (3, News2Band.LOW_MEDIUM)
    seven = score_news2(
        rr=24, spo2=94, on_oxygen=True, sbp=105, pulse=95, consciousness="A", temp=38.5
    )
    # 2 + 1 + 2 + 1 + 1 + 0 + 1
    assert (seven.total, seven.band) == (8, News2Band.HIGH)


def test_partial_set_has_no_total_and_names_missing() -> None:
    result = score_news2(
        rr=None, spo2=97, on_oxygen=False, sbp=120, pulse=70, consciousness="A", temp=None
    )
    assert result.total is None
    assert result.band is News2Band.INCOMPLETE
    assert result.missing == ("rr", "temp")
    assert result.scores["rr_score"] is None
    assert result.scores["spo2_score"] == 0  # present parameters are still scored


def test_missing_oxygen_is_missing_not_air() -> None:
    result = score_news2(
        rr=16, spo2=97, on_oxygen=None, sbp=120, pulse=70, consciousness="A", temp=37.0
    )
    assert result.band is News2Band.INCOMPLETE
    assert result.missing == ("on_oxygen",)


def test_bad_scale_refused() -> None:
    with pytest.raises(ValueError, match="scale"):
        score_spo2(95, 3)


@settings(deadline=None)  # no wall-clock limit in a test
@given(st.integers(min_value=50, max_value=100), st.booleans())
def test_scale_2_spo2_score_by_table(spo2: int, on_oxygen: bool) -> None:
    if spo2 <= 83:
        expected = 3
    elif spo2 <= 85:
        expected = 2
    elif spo2 <= 87:
        expected = 1
    elif spo2 <= 92 or not on_oxygen:
        expected = 0
    elif spo2 <= 94:
        expected = 1
    elif spo2 <= 96:
        expected = 2
    else:
        expected = 3
    assert score_spo2(spo2, 2, on_oxygen) == expected


@settings(deadline=None)
@given(
    rr=st.integers(0, 60),
    spo2=st.integers(60, 100),
    on_oxygen=st.booleans(),
    sbp=st.integers(50, 260),
    pulse=st.integers(20, 200),
    consciousness=st.sampled_from("ACVPU"),
    temp=st.integers(330, 420),
    scale=st.sampled_from([1, 2]),
)
def test_total_is_sum_and_band_follows_precedence(
    rr: int,
    spo2: int,
    on_oxygen: bool,
    sbp: int,
    pulse: int,
    consciousness: str,
    temp: int,
    scale: int,
) -> None:
    result = score_news2(
        rr=rr,
        spo2=spo2,
        on_oxygen=on_oxygen,
        sbp=sbp,
        pulse=pulse,
        consciousness=consciousness,
        temp=temp / 10,
        spo2_scale=scale,
    )
    assert result.total == sum(v for v in result.scores.values() if v is not None)
    assert result.scores["oxygen_score"] == (2 if on_oxygen else 0)
    has_three = 3 in result.scores.values()
    if result.total >= 7:
        assert result.band is News2Band.HIGH
    elif result.total >= 5:
        assert result.band is News2Band.MEDIUM
    elif has_three:
        assert result.band is News2Band.LOW_MEDIUM
    else:
        assert result.band is News2Band.LOW


@pytest.mark.parametrize(
    ("value", "charted"), [(91.5, 92), (91.49, 91), (90.5, 91), (92.0, 92), (92, 92), (0.5, 1)]
)
def test_whole_number_rounds_half_up(value: float, charted: int) -> None:
    assert whole_number(value) == charted


@given(st.one_of(st.integers(0, 400), st.floats(0, 400, allow_nan=False)))
def test_whole_number_as_charted_by_decimal_rounding(value: float) -> None:
    from decimal import ROUND_HALF_UP, Decimal

    assert whole_number(value) == int(Decimal(str(value)).quantize(1, rounding=ROUND_HALF_UP))
