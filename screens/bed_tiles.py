"""The ward's bed tiles as a central station draws them: the tile model and its HTML and CSS.

Pure presentation: it takes what the record holds (trials, newest values, active alarms, the
monitor's NEWS2 and due times, device states, the mini trend) and returns plain data and
HTML with every text escaped (screens/markdown_text.py); `screens/ward_beds.py` asks the record,
`screens/ward.py` puts the tiles on the page. Urgency order and colours live here, in one place.

Colours follow IEC 60601-1-8's alarm signal colours (red for high priority, yellow/amber for
medium, cyan for low); an alarm waiting for acknowledgement is drawn filled and, when high or
medium, flashing; an acknowledged one only in its colour, without fill or flashing. A value
older than the display threshold is never drawn as current (ISO 80601-2-61; hazard H-08).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from urllib.parse import quote
from zoneinfo import ZoneInfo

from observations.nhs_number import is_test_number
from observations.readings import TrendBucket
from observations.views import AlarmView, LatestValue, PatientView, TrialView
from observations.ward_time import format_ward
from rules.urgency import alarm_urgency, bed_urgency, most_urgent, sounded_at
from screens.markdown_text import html_text
from vocabulary import STREAMED_PARAMETERS, AlarmKind, Parameter

MISSING = "—"
NEWS2_KEY = "news2"  # the NEWS2 numeric: its alarm has no parameter, its rule is the NEWS2 rule

# ----- presentation, in one place: colours (the urgency order: rules/urgency.py) ------------
# IEC 60601-1-8 signal colours on a dark tile (a central station's contrast).
PRIORITY_COLOURS: dict[str, str] = {"high": "#ff3b30", "medium": "#ffb300", "low": "#22d3ee"}
PRIORITY_WORDS: dict[str, str] = {"high": "HIGH", "medium": "MEDIUM", "low": "LOW"}
TREND_COLOURS: dict[Parameter, str] = {Parameter.SPO2: "#8ab4f8", Parameter.PULSE_RATE: "#7bd88f"}


def natural_bed_key(bed: str | None) -> tuple[int, tuple[tuple[int, int | str], ...]]:
    """D3 before D10, 4A before 4B, and a trial with no bed last."""
    if not bed or not bed.strip():
        return (1, ())
    parts = re.findall(r"\d+|\D+", bed.strip().casefold())
    return (0, tuple((0, int(p)) if p.isdigit() else (1, p) for p in parts))


# ----- the model ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Numeric:
    """One big number of a tile, with what it may be trusted for."""

    key: str  # parameter value, or "news2"
    label: str
    text: str  # the number as shown, MISSING, or "STALE"
    detail: str  # its age: "3 s ago", "was 95, 3 min" (stale), "obs 12 min" (a nurse's set)
    priority: str | None = None  # the active alarm on this parameter, if any
    acknowledged: bool = False
    stale: bool = False
    missing: bool = False


@dataclass(frozen=True)
class Banner:
    priority: str
    acknowledged: bool
    headline: str
    age: str
    others: int


@dataclass(frozen=True)
class Inop:
    """A technical alarm of the monitoring chain: link lost, sensor off, signal unusable."""

    priority: str
    acknowledged: bool
    headline: str
    age: str


@dataclass(frozen=True)
class Window:
    fraction: float
    text: str


@dataclass(frozen=True)
class BedTile:
    trial_id: int
    bed: str | None
    patient: PatientView
    numerics: tuple[Numeric, ...]
    banner: Banner | None
    inop: Inop | None
    devices: str
    due: str
    overdue: bool
    window: Window | None
    trend: dict[Parameter, list[TrendBucket]] = field(default_factory=dict)
    alarms: tuple[AlarmView, ...] = ()

    @property
    def stale(self) -> bool:
        return any(n.stale or (n.missing and n.key in STREAMED_KEYS) for n in self.numerics)

    @property
    def urgency(self) -> tuple[int, int, int, int]:
        """The ward's order of beds (rules/urgency.py)."""
        return bed_urgency(self.alarms, overdue=self.overdue, stale=self.stale)

    @property
    def state(self) -> str:
        """The tile's look: 'high', 'medium', 'low' (+ '-ack' when all are acknowledged),
        'overdue', 'stale' or 'calm'."""
        top = most_urgent(self.alarms)
        if top is not None:
            return top.priority + ("-ack" if top.acknowledged else "")
        if self.overdue:
            return "overdue"
        return "stale" if self.stale else "calm"


STREAMED_KEYS = frozenset(p.value for p in STREAMED_PARAMETERS)


def ward_order(tiles: Iterable[BedTile]) -> list[BedTile]:
    """Most urgent first; among equals, natural bed order (D3 before D10; no bed last)."""
    return sorted(
        tiles,
        key=lambda t: (tuple(-x for x in t.urgency), natural_bed_key(t.bed), t.trial_id),
    )


def short_age(seconds: float) -> str:
    """'8 s', '3 min', '2 h 04': an age that fits under a number on a tile (the tile's title
    and the trial monitor give it to the second)."""
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d}"


def _age(moment: datetime, now: datetime) -> float:
    return (now - moment).total_seconds()


def parameter_of(alarm: AlarmView, news2_rules: frozenset[str]) -> str | None:
    """Which numeric a physiological alarm colours: its evidence's parameter, or NEWS2."""
    if alarm.kind != AlarmKind.PHYSIOLOGICAL.value:
        return None
    if alarm.rule_id in news2_rules:
        return NEWS2_KEY
    parameter = (alarm.evidence or {}).get("parameter")
    return str(parameter) if parameter else None


def alarms_by_numeric(
    alarms: Iterable[AlarmView], news2_rules: frozenset[str]
) -> dict[str, AlarmView]:
    """The most urgent active alarm on each parameter (BP is coloured by its systolic's or
    diastolic's), keyed by the numeric it colours."""
    found: dict[str, AlarmView] = {}
    for alarm in alarms:
        key = parameter_of(alarm, news2_rules)
        if key == Parameter.DIASTOLIC.value:
            key = Parameter.SYSTOLIC.value  # one BP numeric
        if key is None:
            continue
        held = found.get(key)
        if held is None or alarm_urgency(alarm) > alarm_urgency(held):
            found[key] = alarm
    return found


def _how_long(value: LatestValue, now: datetime) -> str:
    """'3 s ago' from a device; 'obs 12 min' when a nurse recorded it in a set."""
    age = short_age(_age(value.at, now))
    return f"obs {age}" if value.source == "manual" else f"{age} ago"


def value_numeric(
    parameter: Parameter,
    label: str,
    latest: dict[Parameter, LatestValue],
    now: datetime,
    stale_after_seconds: float,
    alarm: AlarmView | None,
) -> Numeric:
    """'97' with '3 s ago'; STALE with 'was 95, 3 min'; '—' when never measured."""
    colour = {"priority": alarm.priority, "acknowledged": alarm.acknowledged} if alarm else {}
    value = latest.get(parameter)
    if value is None:
        return Numeric(parameter.value, label, MISSING, "none yet", missing=True, **colour)
    age = _age(value.at, now)
    shown = f"{value.value:.0f}"
    if parameter in STREAMED_PARAMETERS and age > stale_after_seconds:
        return Numeric(
            parameter.value, label, "STALE", f"was {shown}, {short_age(age)}", stale=True, **colour
        )
    return Numeric(parameter.value, label, shown, _how_long(value, now), **colour)


def bp_numeric(
    latest: dict[Parameter, LatestValue], now: datetime, alarm: AlarmView | None
) -> Numeric:
    colour = {"priority": alarm.priority, "acknowledged": alarm.acknowledged} if alarm else {}
    systolic = latest.get(Parameter.SYSTOLIC)
    diastolic = latest.get(Parameter.DIASTOLIC)
    if systolic is None:
        return Numeric(
            Parameter.SYSTOLIC.value, "BP mmHg", MISSING, "none yet", missing=True, **colour
        )
    # A diastolic from another measurement (older, or typed apart) is not paired with it.
    low = (
        f"{diastolic.value:.0f}"
        if diastolic is not None and diastolic.at == systolic.at
        else MISSING
    )
    return Numeric(
        Parameter.SYSTOLIC.value,
        "BP mmHg",
        f"{systolic.value:.0f}/{low}",
        _how_long(systolic, now),
        **colour,
    )


def news2_numeric(
    total: int | None,
    measured_at: datetime | None,
    newest_unscored: bool,
    now: datetime,
    alarm: AlarmView | None,
) -> Numeric:
    """The monitor's NEWS2 of the newest complete set; never a score of the page's own. A
    newer set the monitor has not scored yet is said to be so."""
    colour = {"priority": alarm.priority, "acknowledged": alarm.acknowledged} if alarm else {}
    if total is None or measured_at is None:
        detail = "not yet scored" if newest_unscored else "no complete set"
        return Numeric(NEWS2_KEY, "NEWS2", MISSING, detail, missing=True, **colour)
    detail = f"obs {short_age(_age(measured_at, now))}"
    if newest_unscored:
        detail = "newest not yet scored"
    return Numeric(NEWS2_KEY, "NEWS2", str(total), detail, **colour)


def banner_of(alarms: Sequence[AlarmView], now: datetime) -> Banner | None:
    top = most_urgent(alarms)
    if top is None:
        return None
    return Banner(
        top.priority,
        top.acknowledged,
        top.headline,
        short_age(_age(sounded_at(top), now)),
        len(alarms) - 1,
    )


def inop_of(alarms: Sequence[AlarmView], now: datetime, round_rules: frozenset[str]) -> Inop | None:
    """The most urgent technical alarm of the monitoring chain (link lost, sensor off, signal
    unusable, readings dropped). ``round_rules``: technical rules about the nurse's round (an
    observation set overdue), which are not a device's state."""
    technical = [
        a for a in alarms if a.kind == AlarmKind.TECHNICAL.value and a.rule_id not in round_rules
    ]
    top = most_urgent(technical)
    if top is None:
        return None
    # The condition's name ("Sensor off"); its advice is in the alarm bar and the tile's title.
    return Inop(
        top.priority,
        top.acknowledged,
        top.headline.partition(":")[0],
        short_age(_age(top.raised_at, now)),
    )


def window_of(trial: TrialView, now: datetime) -> Window | None:
    if trial.injection is None or trial.window_end is None:
        return None
    elapsed = _age(trial.injection.given_at, now)
    length = _age(trial.injection.given_at, trial.window_end)
    fraction = min(1.0, max(0.0, elapsed / length)) if length > 0 else 1.0
    return Window(
        fraction, f"{trial.injection.dose_mcg} mcg · {short_age(elapsed)}/{short_age(length)}"
    )


def due_line(
    scheduled: bool, judged: bool, next_due: datetime | None, now: datetime, zone: ZoneInfo
) -> tuple[str, bool]:
    """'Obs due 10:45:00 GMT (in 4 min)' or 'OBS OVERDUE 5 min · due 10:30:00 GMT';
    the due times are the monitor's. Returns (text, overdue)."""
    if not scheduled:
        return "Obs: no schedule", False
    if not judged:
        return "Obs due: not yet worked out by the monitor", False
    if next_due is None:
        return "Obs: none due", False
    when = format_ward(next_due, zone, with_date=False)
    if next_due < now:
        return f"OBS OVERDUE {short_age(_age(next_due, now))} · due {when}", True
    return f"Obs due {when} (in {short_age(_age(now, next_due))})", False


# ----- HTML -----------------------------------------------------------------------------------
# Every text from the record escaped by the one HTML helper (screens/markdown_text.py).
_e = html_text


_SAFE = " ,.=:/-()'"  # left as they are in the image's address: all an SVG of numbers needs
_THIN = "vector-effect='non-scaling-stroke'"  # a line as thin however wide the tile


def sparkline(
    buckets: Sequence[TrendBucket],
    start: datetime,
    end: datetime,
    bucket_seconds: float,
    axis: tuple[float, float],
    colour: str,
) -> str:
    """An SVG image of the lowest-to-highest band of each bucket, joined only between
    neighbouring buckets: a bucket with no usable reading is a gap, never bridged."""
    width, height = 240, 40
    span = max(1.0, (end - start).total_seconds())
    low_axis, high_axis = axis

    def x(moment: datetime) -> float:
        return round(min(1.0, max(0.0, (moment - start).total_seconds() / span)) * width)

    def y(value: float) -> float:
        clipped = min(high_axis, max(low_axis, value))
        return round(height - 2 - (clipped - low_axis) / (high_axis - low_axis) * (height - 4))

    step = timedelta(seconds=bucket_seconds)
    runs: list[list[TrendBucket]] = []
    for bucket in buckets:
        if runs and bucket.start - runs[-1][-1].start <= step:
            runs[-1].append(bucket)
        else:
            runs.append([bucket])
    shapes = []
    for run in runs:
        # The band's upper edge forward, its lower edge back: a closed outline, filled.
        top = [(x(b.start + step / 2), y(b.high)) for b in run]
        bottom = [(x(b.start + step / 2), y(b.low)) for b in reversed(run)]
        if len(run) == 1:  # a lone bucket: a short upright stroke
            (px, hy), (_, ly) = top[0], bottom[0]
            shapes.append(f"<line x1='{px}' y1='{hy}' x2='{px}' y2='{ly + 0.5}' {_THIN}/>")
            continue
        points = " ".join(f"{px},{py}" for px, py in top + bottom)
        shapes.append(f"<polygon points='{points}' {_THIN}/>")
    svg = (
        f"<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 {width} {height}' "
        f"preserveAspectRatio='none'><g fill='{colour}' fill-opacity='0.55' stroke='{colour}' "
        f"stroke-width='1.3' stroke-linejoin='round'>"
        f"{''.join(shapes)}</g></svg>"
    )
    # An image, not inline SVG: the page's HTML sanitiser keeps data-URI images but drops svg.
    # As text, not base64 (a third smaller: every tile is sent every second).
    return f'<img class="wb-spark" alt="" src="data:image/svg+xml,{quote(svg, safe=_SAFE)}">'


def _numeric_html(numeric: Numeric) -> str:
    classes = ["wb-num", f"wb-k-{numeric.key}"]
    if numeric.priority:
        classes.append(f"wb-p-{numeric.priority}")
        classes.append("wb-ack" if numeric.acknowledged else "wb-unack")
    if numeric.stale:
        classes.append("wb-stale")
    if numeric.missing:
        classes.append("wb-missing")
    # On a narrow tile the unit ("/min") and the "obs" of a nurse's value are left out first.
    name, _, unit = numeric.label.partition(" ")
    label = _e(name) + (f'<span class="wb-unit"> {_e(unit)}</span>' if unit else "")
    detail = _e(numeric.detail)
    if numeric.detail.startswith("obs "):
        detail = f'<span class="wb-unit">obs </span>{_e(numeric.detail[4:])}'
    return (
        f'<div class="{" ".join(classes)}">'
        f'<div class="wb-lab">{label}</div>'
        f'<div class="wb-val" data-value="{_e(numeric.text)}">{_e(numeric.text)}</div>'
        f'<div class="wb-age">{detail}</div></div>'
    )


def _banner_html(banner: Banner | None) -> str:
    if banner is None:
        return '<div class="wb-banner wb-none">No active alarm</div>'
    word = PRIORITY_WORDS.get(banner.priority, banner.priority.upper())
    state = "wb-ack" if banner.acknowledged else "wb-unack"
    mark = "ACK " if banner.acknowledged else ""
    more = f'<span class="wb-more">+{banner.others} more</span>' if banner.others else ""
    return (
        f'<div class="wb-banner wb-p-{_e(banner.priority)} {state}" '
        f'data-acknowledged="{str(banner.acknowledged).lower()}">'
        f'<span class="wb-prio">{mark}{_e(word)}</span>'
        f'<span class="wb-head-text">{_condition_html(banner.headline)}</span>'
        f'<span class="wb-when">{_e(banner.age)}</span>{more}</div>'
    )


def _condition_html(headline: str) -> str:
    """'Severe desaturation: SpO2 91 % or below': the condition's name in bold, its limit after
    it (cut first when the tile is narrow)."""
    name, colon, rest = headline.partition(":")
    if not colon:
        return f"<b>{_e(headline)}</b>"
    return f'<b>{_e(name)}</b><span class="wb-limit">:{_e(rest)}</span>'


def _device_html(tile: BedTile) -> str:
    """The device line: a technical alarm as INOP, else each device's state; the monitoring
    window's progress on its right."""
    window = ""
    if tile.window is not None:
        window = (
            f'<span class="wb-win">'
            f'<span class="wb-bar"><i style="width:{tile.window.fraction * 100:.0f}%"></i>'
            f"</span>{_e(tile.window.text)}</span>"
        )
    if tile.inop is not None:
        inop = tile.inop
        state = "wb-ack" if inop.acknowledged else "wb-unack"
        line = (
            f'<span class="wb-dev wb-inop wb-p-{_e(inop.priority)} {state}">'
            f'<span class="wb-inop-tag">INOP</span>'
            f"{_e(inop.headline)} · {_e(inop.age)}</span>"
        )
    else:
        line = f'<span class="wb-dev">{_e(tile.devices)}</span>'
    return f'<div class="wb-row">{line}{window}</div>'


def tile_html(
    tile: BedTile,
    trend_start: datetime,
    trend_end: datetime,
    bucket_seconds: float,
    axes: dict[Parameter, tuple[float, float]],
    trend_minutes: float,
) -> str:
    """One bed's tile; every text from the record (names, bed, messages) escaped."""
    bed = tile.bed.strip() if tile.bed and tile.bed.strip() else "No bed"
    patient = tile.patient
    test = " (test number)" if is_test_number(patient.nhs_number) else ""
    lanes = []
    for parameter, label in ((Parameter.SPO2, "SpO2"), (Parameter.PULSE_RATE, "Pulse")):
        svg = sparkline(
            tile.trend.get(parameter, []),
            trend_start,
            trend_end,
            bucket_seconds,
            axes[parameter],
            TREND_COLOURS[parameter],
        )
        lanes.append(f'<div class="wb-lane"><span class="wb-lab">{label}</span>{svg}</div>')
    due_class = "wb-due wb-overdue" if tile.overdue else "wb-due"
    return (
        f'<div class="wb wb-s-{_e(tile.state)}" data-bed="{_e(bed)}" '
        f'data-trial="{tile.trial_id}">'
        f'<div class="wb-top"><span class="wb-bed">{_e(bed)}</span>'
        f'<span class="wb-who"><span class="wb-name">{_e(patient.name)}</span>'
        f'<span class="wb-nhs">NHS {_e(patient.nhs_display)}{_e(test)}</span></span>'
        f'<span class="wb-open" aria-hidden="true">Open ›</span></div>'
        f"{_banner_html(tile.banner)}"
        f'<div class="wb-nums">{"".join(_numeric_html(n) for n in tile.numerics)}</div>'
        f'<div class="wb-trend" data-minutes="{trend_minutes:g}">'
        f"{''.join(lanes)}</div>"
        f"{_device_html(tile)}"
        f'<div class="wb-row"><span class="{due_class}">{_e(tile.due)}</span></div>'
        f"</div>"
    )


# The grid takes the height left under the page's title, the alarm bar of every page and the
# count line (whatever their height), in four rows: 16 beds fit one screen. A row is never
# lower than a tile stays readable; then the page scrolls, the most urgent beds first.
TILE_GAP_PX = 8
TILE_MIN_HEIGHT_PX = 184
TILE_MIN_HEIGHT_SHORT_SCREEN_PX = 150  # windows under 820 lines (1366x768): a denser tile
TILE_MAX_HEIGHT_PX = 260  # a tall window gives a few beds bigger tiles, not towers
SHORT_SCREEN_PX = 820
# Main area widths (CSS px) under which the grid has three, then two, columns.
THREE_COLUMNS_BELOW_PX = 1180
TWO_COLUMNS_BELOW_PX = 800


def ward_css() -> str:
    """The central station's look, scoped to the ward's own classes and keyed containers."""
    colours = PRIORITY_COLOURS
    base = f"""
[data-testid="stMainBlockContainer"]:has(.st-key-ward-station) {{
  padding: 4rem 1rem 0.5rem 1rem; max-width: none;
}}
/* From the page's root block down to the grid, each level gives the rest of the window's
   height to the part that holds the beds. */
[data-testid="stMainBlockContainer"]:has(.st-key-ward-station) > [data-testid="stVerticalBlock"] {{
  min-height: calc(100vh - 4.5rem);
}}
[data-testid="stVerticalBlock"]:has(.st-key-ward-station)
  > [data-testid="stLayoutWrapper"]:has(.st-key-ward-station),
[data-testid="stLayoutWrapper"]:has(.st-key-ward-station)
  > [data-testid="stVerticalBlock"]:has(.st-key-ward-station),
.st-key-ward-station > [data-testid="stLayoutWrapper"] {{
  flex: 1 1 auto; display: flex; flex-direction: column; min-height: 0;
}}
.st-key-ward-station {{ container-type: inline-size; }}
.st-key-ward-head h1 {{ font-size: 1.6rem; padding: 0; line-height: 1.2; }}
.st-key-ward-grid {{
  flex: 1 1 auto; display: grid !important; grid-template-columns: repeat(4, minmax(0, 1fr));
  grid-template-rows: repeat(4, minmax({TILE_MIN_HEIGHT_PX}px, 1fr));
  grid-auto-rows: {TILE_MIN_HEIGHT_PX}px; gap: {TILE_GAP_PX}px !important;
  max-height: {4 * TILE_MAX_HEIGHT_PX + 3 * TILE_GAP_PX}px;
}}
@media (max-height: {SHORT_SCREEN_PX}px) {{
  .st-key-ward-grid {{
    grid-template-rows: repeat(4, minmax({TILE_MIN_HEIGHT_SHORT_SCREEN_PX}px, 1fr));
    grid-auto-rows: {TILE_MIN_HEIGHT_SHORT_SCREEN_PX}px;
  }}
  .st-key-ward-head h1 {{ font-size: 1.3rem; }}
  .wb {{ padding: 3px 6px; gap: 1px; }}
  .wb .wb-bed {{ font-size: clamp(18px, 7cqw, 26px); }}
  .wb .wb-name {{ font-size: 12px; }}
  .wb .wb-nhs, .wb .wb-row {{ font-size: 11px; }}
  .wb .wb-banner {{ font-size: 12px; min-height: 17px; }}
  .wb .wb-val {{ font-size: clamp(18px, 7.6cqw, 30px); }}
  .wb .wb-k-systolic .wb-val {{ font-size: clamp(16px, 6.4cqw, 26px); }}
  .wb .wb-lane, .wb .wb-spark {{ height: 11px; }}
  .wb .wb-row {{ min-height: 13px; }}
}}
@container (max-width: {THREE_COLUMNS_BELOW_PX}px) {{
  .st-key-ward-grid {{ grid-template-columns: repeat(3, minmax(0, 1fr)); }}
}}
@container (max-width: {TWO_COLUMNS_BELOW_PX}px) {{
  .st-key-ward-grid {{ grid-template-columns: repeat(2, minmax(0, 1fr)); }}
}}
.st-key-ward-grid > [data-testid="stLayoutWrapper"] {{
  min-width: 0; min-height: 0; height: 100%; align-self: stretch;
}}
[class*="st-key-ward-bed-"] {{
  position: relative; gap: 0 !important; min-width: 0; min-height: 0; flex: 1 1 auto;
  height: 100%;
}}
[class*="st-key-ward-bed-"] > div {{ width: 100%; }}
[class*="st-key-ward-bed-"] [data-testid="stElementContainer"]:has(.stPageLink) {{
  position: absolute; inset: 0; z-index: 2; width: 100%; height: 100%;
}}
[class*="st-key-ward-bed-"] .stPageLink, [class*="st-key-ward-bed-"] .stPageLink *,
[class*="st-key-ward-bed-"] .stPageLink a {{ width: 100%; height: 100%; min-height: 0;
  max-width: none; }}
[class*="st-key-ward-bed-"] .stPageLink a {{
  background: transparent; border: 0; border-radius: 8px; color: transparent;
  padding: 0; box-shadow: none; cursor: pointer;
}}
[class*="st-key-ward-bed-"] .stPageLink a p {{ color: transparent; font-size: 1px; }}
[class*="st-key-ward-bed-"] .stPageLink a:hover {{ background: rgba(255,255,255,0.07); }}
[class*="st-key-ward-bed-"] .stPageLink a:focus-visible {{
  outline: 3px solid #ffffff; outline-offset: -3px;
}}
[class*="st-key-ward-bed-"] [data-testid="stElementContainer"]:has(.wb),
[class*="st-key-ward-bed-"] .stHtml, [class*="st-key-ward-bed-"] .stHtml > div {{
  height: 100%;
}}
.wb {{
  container-type: inline-size; box-sizing: border-box; height: 100%; overflow: hidden;
  display: flex; flex-direction: column; gap: 2px; padding: 4px 7px;
  background: #11161c; color: #e9eef3; border: 2px solid #2d3640; border-radius: 8px;
  font-family: "Source Sans Pro", "Source Sans 3", system-ui, sans-serif; line-height: 1.15;
  font-variant-numeric: tabular-nums;
}}
.wb-top {{ display: flex; align-items: center; gap: 8px; }}
.wb-bed {{ font-size: clamp(20px, 8cqw, 32px); font-weight: 800; letter-spacing: -0.5px;
  line-height: 1; }}
.wb-who {{ display: flex; flex-direction: column; min-width: 0; flex: 1; }}
.wb-name, .wb-nhs {{ white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }}
.wb-name {{ font-size: 13px; font-weight: 600; }}
.wb-nhs {{ font-size: 12px; color: #a9b6c3; }}
.wb-open {{ font-size: 12px; color: #c9d1d9; border: 1px solid #4a5866; border-radius: 4px;
  padding: 1px 6px; white-space: nowrap; }}
/* A narrow tile keeps the identifiers whole (a test number's mark too): the whole tile opens
   the trial monitor, the "Open" hint goes. */
@container (max-width: 330px) {{ .wb-open {{ display: none; }} }}
@container (max-width: 360px) {{ .wb-num .wb-unit {{ display: none; }} }}
.wb-banner {{ display: flex; gap: 6px; align-items: baseline; padding: 1px 6px;
  border-radius: 4px; font-size: 13px; min-height: 19px; white-space: nowrap;
  overflow: hidden; }}
.wb-banner .wb-prio {{ font-weight: 800; }}
.wb-banner .wb-head-text {{ overflow: hidden; text-overflow: ellipsis; flex: 1; min-width: 0; }}
.wb-banner .wb-head-text b {{ font-weight: 700; }}
.wb-banner .wb-when, .wb-banner .wb-more {{ font-weight: 600; font-size: 12px; }}
.wb-banner.wb-none {{ color: #8796a5; background: #171e25; }}
.wb-nums {{ display: grid; grid-template-columns: 1fr 1fr 1.5fr 0.9fr 0.9fr; gap: 3px;
  flex: 1; min-height: 0; }}
.wb-num {{ display: flex; flex-direction: column; justify-content: center; min-width: 0;
  border-radius: 4px; padding: 0 3px; overflow: hidden; }}
.wb-lab {{ font-size: 11px; color: #a9b6c3; white-space: nowrap; overflow: hidden; }}
.wb-val {{ font-size: clamp(20px, 8.4cqw, 40px); font-weight: 800; line-height: 1.05;
  white-space: nowrap; letter-spacing: -0.5px; }}
.wb-k-systolic .wb-val {{ font-size: clamp(18px, 7cqw, 34px); }}
.wb-age {{ font-size: 10.5px; color: #a9b6c3; white-space: nowrap; overflow: hidden;
  text-overflow: ellipsis; }}
.wb-num.wb-stale {{ background: repeating-linear-gradient(135deg, #1d242c 0 6px,
  #2a333d 6px 12px); }}
.wb-num.wb-stale .wb-val {{ color: #e9eef3; font-size: clamp(13px, 4.2cqw, 20px);
  letter-spacing: 0.5px; }}
.wb-num.wb-stale .wb-age {{ color: #e9eef3; white-space: normal; line-height: 1.05; }}
.wb-num.wb-missing .wb-val {{ color: #7f8c99; }}
.wb-trend {{ display: flex; flex-direction: column; gap: 1px; }}
.wb-lane {{ display: flex; align-items: center; gap: 4px; height: 17px; }}
.wb-lane .wb-lab {{ width: 32px; font-size: 10px; }}
.wb-spark {{ flex: 1; min-width: 0; height: 17px; background: #0a0e12; border-radius: 2px; }}
.wb-row {{ display: flex; justify-content: space-between; align-items: center; gap: 8px;
  font-size: 12px; white-space: nowrap; min-height: 15px; }}
.wb-dev {{ color: #a9b6c3; overflow: hidden; text-overflow: ellipsis; min-width: 0; }}
.wb-inop-tag {{ font-weight: 800; margin-right: 5px; padding: 0 4px; border-radius: 3px; }}
.wb-due {{ overflow: hidden; text-overflow: ellipsis; color: #c9d1d9; }}
.wb-due.wb-overdue {{ color: #ffffff; background: {colours["high"]}; font-weight: 800;
  padding: 0 5px; border-radius: 3px; }}
.wb-win {{ display: flex; align-items: center; gap: 5px; color: #a9b6c3; flex: none; }}
.wb-bar {{ display: inline-block; width: 40px; height: 6px; background: #2d3640;
  border-radius: 3px; overflow: hidden; }}
.wb-bar i {{ display: block; height: 100%; background: #8ab4f8; }}
/* The tile's state: unacknowledged alarms loud, acknowledged quieter, stale hatched grey. */
.wb-s-high {{ border: 4px solid {colours["high"]}; background: #3a0f0f; }}
.wb-s-medium {{ border: 4px solid {colours["medium"]}; background: #33270a; }}
.wb-s-low {{ border: 3px solid {colours["low"]}; background: #0b2b31; }}
.wb-s-high-ack {{ border: 2px dashed {colours["high"]}; }}
.wb-s-medium-ack {{ border: 2px dashed {colours["medium"]}; }}
.wb-s-low-ack {{ border: 2px dashed {colours["low"]}; }}
.wb-s-overdue {{ border: 2px solid #e9eef3; }}
.wb-s-stale {{ border: 2px dashed #8b96a1; background: #181c21; }}
"""
    return f"<style>{base}{_priority_css()}</style>"


def _priority_css() -> str:
    """Banners, numerics and INOP lines in their priority's colour: an alarm waiting for
    acknowledgement filled, and flashing when high (about 2 Hz) or medium (about 0.6 Hz);
    an acknowledged one in its colour only (IEC 60601-1-8)."""
    parts = []
    for priority, colour in PRIORITY_COLOURS.items():
        parts.append(f"""
.wb-banner.wb-p-{priority}.wb-unack, .wb-num.wb-p-{priority}.wb-unack,
.wb-inop.wb-p-{priority}.wb-unack .wb-inop-tag {{ background: {colour}; color: #000000; }}
.wb-num.wb-p-{priority}.wb-unack .wb-lab, .wb-num.wb-p-{priority}.wb-unack .wb-age,
.wb-num.wb-p-{priority}.wb-unack .wb-val {{ color: #000000; }}
.wb-banner.wb-p-{priority}.wb-ack {{ color: {colour}; background: transparent;
  box-shadow: inset 0 0 0 1px {colour}; }}
.wb-num.wb-p-{priority}.wb-ack .wb-val {{ color: {colour}; }}
.wb-num.wb-p-{priority}.wb-ack {{ box-shadow: inset 0 -3px 0 {colour}; }}
.wb-inop.wb-p-{priority} {{ color: {colour}; }}
.wb-inop.wb-p-{priority}.wb-ack .wb-inop-tag {{ box-shadow: inset 0 0 0 1px {colour}; }}
""")
    parts.append("""
@keyframes wb-flash { 0%, 60% { filter: none; } 61%, 100% { filter: brightness(0.65); } }
.wb-banner.wb-p-high.wb-unack { animation: wb-flash 0.5s steps(1) infinite; }
.wb-banner.wb-p-medium.wb-unack { animation: wb-flash 1.6s steps(1) infinite; }
@media (prefers-reduced-motion: reduce) { .wb-banner { animation: none !important; } }
""")
    return "".join(parts)


def grid_rows_css(beds: int) -> str:
    """The grid never lower than its rows at their least height (as many rows as the beds
    need at four, three or two columns), so that nothing below the grid is drawn over."""

    def least(columns: int, row: int) -> str:
        rows = max(1, -(-beds // columns))
        return f"min-height: {rows * row + (rows - 1) * TILE_GAP_PX}px;"

    tall, short = TILE_MIN_HEIGHT_PX, TILE_MIN_HEIGHT_SHORT_SCREEN_PX
    return f"""<style>
.st-key-ward-grid {{ {least(4, tall)} }}
@container (max-width: {THREE_COLUMNS_BELOW_PX}px) {{ .st-key-ward-grid {{ {least(3, tall)} }} }}
@container (max-width: {TWO_COLUMNS_BELOW_PX}px) {{ .st-key-ward-grid {{ {least(2, tall)} }} }}
@media (max-height: {SHORT_SCREEN_PX}px) {{
  .st-key-ward-grid {{ {least(4, short)} }}
  @container (max-width: {THREE_COLUMNS_BELOW_PX}px) {{
    .st-key-ward-grid {{ {least(3, short)} }} }}
  @container (max-width: {TWO_COLUMNS_BELOW_PX}px) {{
    .st-key-ward-grid {{ {least(2, short)} }} }}
}}
</style>"""
