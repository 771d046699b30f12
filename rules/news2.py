"""NEWS2 (Royal College of Physicians, 2017), exactly per the RCP 2017 chart.

The table is a published national standard, not a site default, so it is written here once as
data (upper bounds, inclusive) rather than in the site-configurable rules YAML.
A partial set has no total: it is `incomplete` and names what is missing; a missing parameter
is never scored as 0.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum

from vocabulary import Consciousness


class News2Band(StrEnum):
    LOW = "low"
    LOW_MEDIUM = "low-medium"
    MEDIUM = "medium"
    HIGH = "high"
    INCOMPLETE = "incomplete"


# Names of the seven scored inputs, in the order of the RCP chart; used in `missing`.
NEWS2_INPUTS: tuple[str, ...] = (
    "rr",
    "spo2",
    "on_oxygen",
    "sbp",
    "pulse",
    "consciousness",
    "temp",
)
SCORE_NAMES: tuple[str, ...] = (
    "rr_score",
    "spo2_score",
    "oxygen_score",
    "sbp_score",
    "pulse_score",
    "consciousness_score",
    "temp_score",
)

# (inclusive upper bound, score); the last bound is None = no upper limit.
_RR = ((8, 3), (11, 1), (20, 0), (24, 2), (None, 3))
_SPO2_SCALE_1 = ((91, 3), (93, 2), (95, 1), (None, 0))
_SPO2_SCALE_2_LOW = ((83, 3), (85, 2), (87, 1), (92, 0))  # <= 92: same on air or oxygen
_SPO2_SCALE_2_ON_OXYGEN_HIGH = ((94, 1), (96, 2), (None, 3))  # >= 93 on oxygen
_SBP = ((90, 3), (100, 2), (110, 1), (219, 0), (None, 3))
_PULSE = ((40, 3), (50, 1), (90, 0), (110, 1), (130, 2), (None, 3))
_TEMP = (
    (Decimal("35.0"), 3),
    (Decimal("36.0"), 1),
    (Decimal("38.0"), 0),
    (Decimal("39.0"), 1),
    (None, 2),
)
OXYGEN_SCORE = 2
AGGREGATE_HIGH = 7
AGGREGATE_MEDIUM = 5
RED_SCORE = 3


def _lookup(value: int | Decimal, table: tuple[tuple[int | Decimal | None, int], ...]) -> int:
    for upper, score in table:
        if upper is None or value <= upper:
            return score
    raise AssertionError("table has no open upper bound")  # pragma: no cover


def whole_number(value: float) -> int:
    """RR, SpO2, SBP and pulse are integers on the chart; round half up, never truncate."""
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer()):
        return int(value)  # already whole (nearly every device value): no decimal arithmetic
    return int(Decimal(str(value)).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def one_decimal(value: float) -> Decimal:
    """Temperature is charted to one decimal place (36.05 is charted as 36.1)."""
    return Decimal(str(value)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


def score_rr(rr: float) -> int:
    return _lookup(whole_number(rr), _RR)


def score_spo2(spo2: float, scale: int = 1, on_oxygen: bool = False) -> int:
    """SpO2 score alone (the +2 for oxygen is `score_oxygen`)."""
    value = whole_number(spo2)
    if scale == 1:
        return _lookup(value, _SPO2_SCALE_1)
    if scale != 2:
        raise ValueError(f"SpO2 scale must be 1 or 2, not {scale!r}")
    if value <= 92:
        return _lookup(value, _SPO2_SCALE_2_LOW)
    # >= 93: 0 on air; on oxygen, high saturations score (risk of hypercapnia).
    return _lookup(value, _SPO2_SCALE_2_ON_OXYGEN_HIGH) if on_oxygen else 0


def score_oxygen(on_oxygen: bool) -> int:
    return OXYGEN_SCORE if on_oxygen else 0


def score_sbp(sbp: float) -> int:
    return _lookup(whole_number(sbp), _SBP)


def score_pulse(pulse: float) -> int:
    return _lookup(whole_number(pulse), _PULSE)


def score_consciousness(level: Consciousness | str) -> int:
    return 0 if Consciousness(level) is Consciousness.ALERT else 3


def score_temp(temp: float) -> int:
    return _lookup(one_decimal(temp), _TEMP)


@dataclass(frozen=True)
class News2Result:
    """Per-parameter scores (None where the input is missing), total, band."""

    scores: dict[str, int | None]
    total: int | None
    band: News2Band
    missing: tuple[str, ...] = field(default=())
    spo2_scale: int = 1

    @property
    def complete(self) -> bool:
        return self.total is not None

    @property
    def has_red_score(self) -> bool:
        """A 3 in any single parameter (the oxygen +2 can never be one)."""
        return any(score == RED_SCORE for score in self.scores.values())

    def as_dict(self) -> dict[str, object]:
        return {
            **self.scores,
            "total": self.total,
            "band": self.band.value,
            "missing": list(self.missing),
            "spo2_scale": self.spo2_scale,
        }


def band_for(total: int, has_red_score: bool) -> News2Band:
    """Precedence: >= 7 high; else 5-6 medium; else any single 3 low-medium; else low."""
    if total >= AGGREGATE_HIGH:
        return News2Band.HIGH
    if total >= AGGREGATE_MEDIUM:
        return News2Band.MEDIUM
    if has_red_score:
        return News2Band.LOW_MEDIUM
    return News2Band.LOW


def score_news2(
    *,
    rr: float | None,
    spo2: float | None,
    on_oxygen: bool | None,
    sbp: float | None,
    pulse: float | None,
    consciousness: Consciousness | str | None,
    temp: float | None,
    spo2_scale: int = 1,
) -> News2Result:
    """Score one observation set. Missing inputs (None) give band `incomplete` and no total."""
    if spo2_scale not in (1, 2):
        raise ValueError(f"SpO2 scale must be 1 or 2, not {spo2_scale!r}")
    inputs: dict[str, object] = {
        "rr": rr,
        "spo2": spo2,
        "on_oxygen": on_oxygen,
        "sbp": sbp,
        "pulse": pulse,
        "consciousness": consciousness,
        "temp": temp,
    }
    missing = tuple(name for name in NEWS2_INPUTS if inputs[name] is None)
    scores: dict[str, int | None] = {
        "rr_score": None if rr is None else score_rr(rr),
        # Scale 2 needs to know about oxygen; without it the SpO2 score is unknown too.
        "spo2_score": (
            None
            if spo2 is None or (spo2_scale == 2 and on_oxygen is None)
            else score_spo2(spo2, spo2_scale, bool(on_oxygen))
        ),
        "oxygen_score": None if on_oxygen is None else score_oxygen(on_oxygen),
        "sbp_score": None if sbp is None else score_sbp(sbp),
        "pulse_score": None if pulse is None else score_pulse(pulse),
        "consciousness_score": None
        if consciousness is None
        else score_consciousness(consciousness),
        "temp_score": None if temp is None else score_temp(temp),
    }
    if missing:
        return News2Result(scores, None, News2Band.INCOMPLETE, missing, spo2_scale)
    total = sum(score for score in scores.values() if score is not None)
    red = any(score == RED_SCORE for score in scores.values())
    return News2Result(scores, total, band_for(total, red), (), spo2_scale)
