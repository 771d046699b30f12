"""Display settings of the nurse's screens (display.yaml): staleness, refresh, chart density.

Validated at start-up; a wrong value stops the page with the file and line of the problem.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from rules.yaml_lines import YamlSyntaxError, load_with_lines

DISPLAY_FILE = Path(__file__).with_name("display.yaml")


class DisplaySettingsError(ValueError):
    """display.yaml is wrong; the message names the line."""


class DisplaySettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    stale_after_seconds: float = Field(gt=0, le=300)
    stale_rationale: str = Field(min_length=1)
    monitor_silent_after_seconds: float = Field(gt=0, le=600)
    monitor_rationale: str = Field(min_length=1)
    connection_lost_after_seconds: float = Field(gt=0, le=600)
    connection_rationale: str = Field(min_length=1)
    reminder_shown_seconds: float = Field(gt=0, le=600)
    reminder_rationale: str = Field(min_length=1)
    numbers_refresh_seconds: float = Field(gt=0, le=10)
    chart_refresh_seconds: float = Field(gt=0, le=60)
    refresh_rationale: str = Field(min_length=1)
    chart_points_per_trace: int = Field(ge=100, le=20000)
    gap_after_seconds: float = Field(gt=0, le=3600)
    chart_rationale: str = Field(min_length=1)
    ward_trend_minutes: float = Field(gt=0, le=240)
    ward_trend_bucket_seconds: float = Field(gt=0, le=600)
    ward_trend_spo2_axis: tuple[float, float]
    ward_trend_pulse_axis: tuple[float, float]
    ward_trend_rationale: str = Field(min_length=1)
    # The frame of every page (screens/alarm_bar.py, screens/alarm_tone.py).
    audio_pause_seconds: float = Field(gt=0, le=120)
    high_burst_every_seconds: float = Field(ge=2.5, le=15)
    medium_burst_every_seconds: float = Field(ge=2.5, le=30)
    tone_fundamental_hz: float = Field(ge=150, le=1000)
    reminder_tone_hz: float = Field(ge=150, le=1000)
    tone_rationale: str = Field(min_length=1)
    alarm_bar_box_px: int = Field(ge=60, le=600)
    alarm_bar_rationale: str = Field(min_length=1)
    # The alarm review page's what-if section (screens/what_if_view.py).
    what_if_upload_kb: int = Field(ge=16, le=1024)
    what_if_timeline_row_px: int = Field(ge=12, le=80)
    what_if_timeline_min_px: int = Field(ge=120, le=1200)
    what_if_rationale: str = Field(min_length=1)
    # Colours of scores (screens/news2_chart.py, screens/observation_entry.py, screens/review.py).
    news2_score_colours: dict[int, str]
    tone_reduced_colour: str = Field(pattern=r"^#[0-9a-fA-F]{6}$")
    tone_increased_colour: str = Field(pattern=r"^#[0-9a-fA-F]{6}$")
    score_colours_rationale: str = Field(min_length=1)

    @field_validator("news2_score_colours")
    @classmethod
    def _every_parameter_score(cls, colours: dict[int, str]) -> dict[int, str]:
        if sorted(colours) != [0, 1, 2, 3]:
            raise ValueError("give a colour for each parameter score 0, 1, 2 and 3")
        for colour in colours.values():
            if not re.fullmatch(r"#[0-9a-fA-F]{6}", colour):
                raise ValueError(f"{colour!r} is not a colour like #f08080")
        return colours


def parse_display_settings(text: str, source: str) -> DisplaySettings:
    try:
        lined = load_with_lines(text)
    except YamlSyntaxError as exc:
        raise DisplaySettingsError(f"{source}, line {exc.line}: {exc.message}") from exc
    try:
        return DisplaySettings.model_validate(lined.data)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            line = lined.line_of(tuple(error["loc"]))
            where = ".".join(str(p) for p in error["loc"]) or "file"
            problems.append(f"{source}, line {line}: {where}: {error['msg']}")
        raise DisplaySettingsError("\n".join(problems)) from None


@lru_cache(maxsize=1)
def load_display_settings(path: Path = DISPLAY_FILE) -> DisplaySettings:
    return parse_display_settings(path.read_text(encoding="utf-8"), str(path.name))
