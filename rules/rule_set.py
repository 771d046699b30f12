"""The overdose rule set: data (YAML) validated at load, with line-numbered errors.

Every clinical number of the monitoring window lives in the YAML with its rationale; this module
only knows the *shapes* a rule may take (its condition types) and checks them.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from itertools import pairwise
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from measurement_limits import quiet_time_s
from rules.yaml_lines import LinedYaml, YamlSyntaxError, load_with_lines
from vocabulary import (
    LEG_POWER_PARAMETERS,
    PRIORITY_RANK,
    RED_FLAG_SIDE_EFFECTS,
    STREAMED_PARAMETERS,
    UNACCEPTABLE_POSS,
    AlarmKind,
    Consciousness,
    Parameter,
    Poss,
    Priority,
    QualityFlag,
    SideEffect,
)

DEFAULT_RULES_FILE = "default_rules.yaml"

# Parameters whose values are numbers (the rest are codes or yes/no).
NUMERIC_PARAMETERS: frozenset[Parameter] = frozenset(
    {
        Parameter.SPO2,
        Parameter.PULSE_RATE,
        Parameter.SYSTOLIC,
        Parameter.DIASTOLIC,
        Parameter.MEAN_ARTERIAL,
        Parameter.RR,
        Parameter.TEMP,
    }
)
CATEGORICAL_PARAMETERS: dict[Parameter, type[Consciousness] | type[Poss]] = {
    Parameter.CONSCIOUSNESS: Consciousness,
    Parameter.POSS: Poss,
}
POWER_PARAMETERS: frozenset[Parameter] = frozenset(
    {
        Parameter.POWER_LEFT_LEG,
        Parameter.POWER_RIGHT_LEG,
        Parameter.POWER_LEFT_ARM,
        Parameter.POWER_RIGHT_ARM,
    }
)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Counter(_Strict):
    """Magnitude x duration (after SatSeconds): depth past `reference` x seconds accrues while
    the value is in the level's zone and falls by `decay_per_s` each second outside it."""

    reference: float
    threshold: float = Field(gt=0)
    decay_per_s: float = Field(gt=0)


class Level(_Strict):
    """One nested level of a `limits` rule: the value at or past `limit` meets it."""

    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    limit: float
    priority: Priority
    message: str = Field(min_length=1)
    rationale: str = Field(min_length=1)
    # Streamed parameters only: how the level is decided, and how it ends.
    counter: Counter | None = None
    min_duration_s: float | None = Field(default=None, ge=0)
    max_delay_s: float | None = Field(default=None, ge=0)
    repeat_entries: int | None = Field(default=None, ge=2)
    repeat_within_s: float | None = Field(default=None, gt=0)
    clears_at: float | None = None
    hold_s: float | None = Field(default=None, ge=0)

    @property
    def timed_fields(self) -> list[str]:
        return [
            name
            for name in (
                "counter",
                "min_duration_s",
                "max_delay_s",
                "repeat_entries",
                "repeat_within_s",
                "clears_at",
                "hold_s",
            )
            if getattr(self, name) is not None
        ]


class LimitsCondition(_Strict):
    """Nested limits of one parameter and direction: one alarm, at the worst level met."""

    type: Literal["limits"]
    parameter: Parameter
    direction: Literal["low", "high"]
    levels: list[Level] = Field(min_length=1)

    def meets(self, level: Level, value: float) -> bool:
        return value <= level.limit if self.direction == "low" else value >= level.limit

    def depth(self, reference: float, value: float) -> float:
        """How far past `reference` the value lies (positive inside the zone)."""
        return reference - value if self.direction == "low" else value - reference


class BaselineDropCondition(_Strict):
    """Value at least `by` below the pre-injection baseline (median)."""

    type: Literal["drop_from_baseline"]
    parameter: Parameter
    by: float = Field(gt=0)


# Groups of codes a `one_of` rule may name instead of listing them, owned by the vocabulary.
CODE_GROUPS: dict[str, tuple[str, ...]] = {
    "unacceptable_poss": tuple(p.value for p in Poss if p in UNACCEPTABLE_POSS),
}


class OneOfCondition(_Strict):
    type: Literal["one_of"]
    parameter: Parameter
    # A list of codes, or the name of a group (CODE_GROUPS).
    values: list[str] = Field(min_length=1)
    # Order of the codes from best to worst, to tell a worse entry from a repeat.
    order: list[str] | None = None

    @field_validator("values", mode="before")
    @classmethod
    def _group(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        if value not in CODE_GROUPS:
            raise ValueError(
                f"unknown group {value!r}: {' or '.join(CODE_GROUPS)}, or a list of codes"
            )
        return list(CODE_GROUPS[value])


# Groups of side effects a rule may name instead of listing them: which effects are red flags
# is the vocabulary's (RED_FLAG_SIDE_EFFECTS, from the patient leaflets), read by the safety
# summary and the report as well, so the alarm and the report never disagree.
SIDE_EFFECT_GROUPS: dict[str, tuple[SideEffect, ...]] = {
    "red_flags": tuple(s for s in SideEffect if s in RED_FLAG_SIDE_EFFECTS),
    "not_red_flags": tuple(s for s in SideEffect if s not in RED_FLAG_SIDE_EFFECTS),
}


class SideEffectCondition(_Strict):
    type: Literal["side_effect"]
    # A list of side effects, or the name of a group (SIDE_EFFECT_GROUPS).
    items: list[SideEffect] = Field(min_length=1)

    @field_validator("items", mode="before")
    @classmethod
    def _group(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        if value not in SIDE_EFFECT_GROUPS:
            raise ValueError(
                f"unknown group {value!r}: {' or '.join(SIDE_EFFECT_GROUPS)}, or a list of "
                "side effects"
            )
        return list(SIDE_EFFECT_GROUPS[value])


class PowerDropCondition(_Strict):
    """Any listed limb's MRC power at least `grades` below that limb's baseline."""

    type: Literal["power_drop"]
    parameters: list[Parameter] = Field(min_length=1)
    grades: int = Field(ge=1)


News2BandName = Literal["low-medium", "medium", "high"]
NEWS2_BAND_RANK: dict[str, int] = {"low": 0, "low-medium": 1, "medium": 2, "high": 3}


class News2Level(_Strict):
    """A NEWS2 response band; a set meets every level at or below its own band."""

    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    band: News2BandName
    priority: Priority
    message: str = Field(min_length=1)
    rationale: str = Field(min_length=1)


class News2Condition(_Strict):
    type: Literal["news2"]
    levels: list[News2Level] = Field(min_length=1)


class NoReadingCondition(_Strict):
    """No reading at all (valid or flagged) of a streamed parameter for the delay (quiet time);
    `escalate_to` once it has lasted `escalate_after_s`."""

    type: Literal["no_reading"]
    parameters: list[Parameter] = Field(min_length=1)
    escalate_to: Priority | None = None
    escalate_after_s: float | None = Field(default=None, gt=0)


class FlaggedCondition(_Strict):
    """Readings keep arriving but none usable, each carrying one of `flags` (or, with
    `no_value`, carrying no value at all), for the delay; `escalate_to` after
    `escalate_after_s`."""

    type: Literal["flagged"]
    parameters: list[Parameter] = Field(min_length=1)
    flags: list[QualityFlag] = Field(min_length=1)
    no_value: bool = False
    escalate_to: Priority | None = None
    escalate_after_s: float | None = Field(default=None, gt=0)


class ObservationOverdueCondition(_Strict):
    """A due observation set not recorded `delay_s` after its due time."""

    type: Literal["observation_overdue"]


class NotStoredCondition(_Strict):
    """Device readings the record could not keep (they waited for the database past the
    monitor's bound and were dropped): present from the loss until the alarm is acknowledged.
    The message may say how many with ``{dropped}``."""

    type: Literal["not_stored"]


Condition = Annotated[
    LimitsCondition
    | BaselineDropCondition
    | OneOfCondition
    | SideEffectCondition
    | PowerDropCondition
    | News2Condition
    | NoReadingCondition
    | FlaggedCondition
    | ObservationOverdueCondition
    | NotStoredCondition,
    Field(discriminator="type"),
]

TECHNICAL_CONDITIONS = (
    NoReadingCondition,
    FlaggedCondition,
    ObservationOverdueCondition,
    NotStoredCondition,
)


LEVELLED_CONDITIONS = (LimitsCondition, News2Condition)


@dataclass(frozen=True)
class AlarmLevel:
    """What an alarm shows at one of its levels (a single-level rule has one)."""

    id: str
    priority: Priority
    message: str


class Rule(_Strict):
    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    condition: Condition
    delay_s: float = 0
    # Levelled rules (limits, news2) carry priority and message on each level instead.
    priority: Priority | None = None
    kind: AlarmKind
    message: str | None = Field(default=None, min_length=1)
    rationale: str = Field(min_length=1)
    # False where the rule has its own escalation (device_lost becomes medium instead).
    escalate_unacknowledged: bool = True

    @property
    def streamed(self) -> bool:
        """Judged continuously over time rather than on each entry."""
        c = self.condition
        return isinstance(c, LimitsCondition) and c.parameter in STREAMED_PARAMETERS

    @property
    def levels(self) -> tuple[AlarmLevel, ...]:
        """The alarm's levels, mildest first; the alarm shows the deepest one met."""
        cond = self.condition
        if isinstance(cond, LEVELLED_CONDITIONS):
            return tuple(AlarmLevel(lv.id, lv.priority, lv.message) for lv in cond.levels)
        priority = self.priority or Priority.LOW  # refused at load when missing
        levels = [AlarmLevel(self.id, priority, self.message or "")]
        escalate_to = getattr(cond, "escalate_to", None)
        if escalate_to is not None:
            levels.append(
                AlarmLevel(f"{self.id}_{escalate_to.value}", escalate_to, self.message or "")
            )
        return tuple(levels)


class Lifecycle(_Strict):
    escalate_unacknowledged_after_s: dict[Priority, float]
    # The screen's soft reminder of acknowledged alarms still present, by priority (defaults
    # the nurse may change when acknowledging); never an annunciation of the engine.
    reminder_after_acknowledgement_s: dict[Priority, float]
    rationale: str = Field(min_length=1)


class Baseline(_Strict):
    window_before_injection_min: float = Field(gt=0)
    set_within_before_injection_min: float = Field(gt=0)
    rationale: str = Field(min_length=1)


class MonitoringWindow(_Strict):
    default_min: float = Field(gt=0)
    rationale: str = Field(min_length=1)


class Schedule(_Strict):
    due_after_injection_min: list[float] = Field(min_length=1)
    then_every_min: float = Field(gt=0)
    news2_next_due_within_min: dict[Literal["high", "medium", "low-medium"], float]
    rationale: str = Field(min_length=1)

    @model_validator(mode="after")
    def _increasing(self) -> Schedule:
        offsets = self.due_after_injection_min
        if offsets[0] <= 0 or any(b <= a for a, b in pairwise(offsets)):
            raise ValueError("due times must be positive and strictly increasing")
        return self


class RuleSetModel(_Strict):
    version: str = Field(min_length=1)
    description: str = ""
    lifecycle: Lifecycle
    baseline: Baseline
    monitoring_window: MonitoringWindow
    schedule: Schedule
    rules: list[Rule] = Field(min_length=1)


@dataclass(frozen=True)
class ConfigProblem:
    line: int | None
    where: str
    message: str

    def __str__(self) -> str:
        line = f"line {self.line}" if self.line is not None else "line ?"
        where = f" {self.where}:" if self.where else ""
        return f"{line}:{where} {self.message}"


class RuleSetError(ValueError):
    """A rule file that must not be used; every problem names its line."""

    def __init__(self, source: str, problems: list[ConfigProblem]) -> None:
        self.source = source
        self.problems = problems
        super().__init__("\n".join(f"{source}: {p}" for p in problems))


@dataclass(frozen=True)
class RuleSet:
    """A validated rule set. `rules` keep file order."""

    model: RuleSetModel
    source: str

    @property
    def version(self) -> str:
        return self.model.version

    @property
    def rules(self) -> list[Rule]:
        return self.model.rules

    @property
    def lifecycle(self) -> Lifecycle:
        return self.model.lifecycle

    @property
    def schedule(self) -> Schedule:
        return self.model.schedule

    @property
    def baseline(self) -> Baseline:
        return self.model.baseline

    @property
    def monitoring_window(self) -> MonitoringWindow:
        return self.model.monitoring_window

    def rule(self, rule_id: str) -> Rule:
        for rule in self.rules:
            if rule.id == rule_id:
                return rule
        raise KeyError(rule_id)

    @property
    def rule_ids(self) -> list[str]:
        return [rule.id for rule in self.rules]


def _where(location: tuple[Any, ...], data: Any) -> str:
    parts: list[str] = []
    node = data
    for part in location:
        if isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
            rule_id = node.get("id") if isinstance(node, dict) else None
            parts.append(f"[{part}]" + (f" ({rule_id})" if rule_id else ""))
        elif isinstance(node, dict) and part in node:
            node = node[part]
            parts.append(f".{part}" if parts else str(part))
        elif isinstance(part, str) and part in {
            "limits",
            "drop_from_baseline",
            "one_of",
            "side_effect",
            "power_drop",
            "news2",
            "no_reading",
            "flagged",
            "observation_overdue",
        }:
            continue  # pydantic's union tag, not a key in the file
        else:
            parts.append(f".{part}" if parts else str(part))
    return "".join(parts)


def pydantic_problem(error: Any, lined: LinedYaml) -> ConfigProblem:
    location = tuple(error["loc"])
    field = next((p for p in reversed(location) if isinstance(p, str)), "value")
    kind = error["type"]
    if kind == "enum":
        expected = error.get("ctx", {}).get("expected", "")
        message = f"unknown {field} {error['input']!r}; expected one of {expected}"
    elif kind == "extra_forbidden":
        message = f"unknown key {field!r} (misspelt?)"
    elif kind == "missing":
        message = f"missing {field!r}"
    elif kind == "union_tag_invalid":
        tag = error["input"].get("type") if isinstance(error["input"], dict) else None
        message = f"unknown condition type {tag!r}" if tag is not None else error["msg"]
        if tag in ("range", "news2_band"):
            message += (
                "; bands were replaced by nested levels (type: limits, or news2, with levels)"
            )
    elif kind == "literal_error":
        message = f"{field}: {error['input']!r} is not allowed; {error['msg']}"
    elif kind == "value_error" and "error" in error.get("ctx", {}):
        message = f"{field}: {error['ctx']['error']}"  # our own words, without pydantic's prefix
    else:
        message = f"{field}: {error['msg']}"
    return ConfigProblem(lined.line_of(location), _where(location, lined.data), message)


def _level_problems(
    rule_id: str, index: int, cond: LimitsCondition, seen: dict[str, str], lined: LinedYaml
) -> list[ConfigProblem]:
    """Nested levels: mildest first, each deeper and no less urgent; streamed levels say how
    they are decided (always with a maximum delay, so a sustained violation always alarms) and
    how they clear (past the limit, held)."""
    problems: list[ConfigProblem] = []
    streamed = cond.parameter in STREAMED_PARAMETERS
    low = cond.direction == "low"

    def add(location: tuple[Any, ...], message: str) -> None:
        problems.append(
            ConfigProblem(lined.line_of(location), _where(location, lined.data), message)
        )

    for i, level in enumerate(cond.levels):
        at: tuple[Any, ...] = ("rules", index, "condition", "levels", i)
        if level.id in seen:
            add((*at, "id"), f"duplicate id {level.id!r} (first at {seen[level.id]})")
        seen.setdefault(level.id, f"rules[{index}].levels[{i}]")
        if i > 0:
            before = cond.levels[i - 1]
            deeper = level.limit < before.limit if low else level.limit > before.limit
            if not deeper:
                add(
                    (*at, "limit"),
                    f"level {level.id!r} must lie beyond {before.id!r} "
                    f"({'below' if low else 'above'} {before.limit:g}): "
                    "levels are nested, mildest first",
                )
            if PRIORITY_RANK[level.priority] < PRIORITY_RANK[before.priority]:
                add(
                    (*at, "priority"),
                    f"level {level.id!r} is deeper than {before.id!r} and "
                    "cannot have a lower priority",
                )
        if not streamed:
            for name in level.timed_fields:
                add(
                    (*at, name),
                    f"{cond.parameter.value} is judged on each entry: {name} only "
                    f"applies to streamed parameters "
                    f"({', '.join(sorted(STREAMED_PARAMETERS))})",
                )
            continue
        for name in ("max_delay_s", "clears_at", "hold_s"):
            if getattr(level, name) is None:
                add(at, f"level {level.id!r} of a streamed parameter needs {name}")
        if level.clears_at is not None and (
            level.clears_at <= level.limit if low else level.clears_at >= level.limit
        ):
            add(
                (*at, "clears_at"),
                f"clears_at {level.clears_at:g} must lie outside the limit "
                f"{level.limit:g} (hysteresis)",
            )
        if level.counter is not None and cond.depth(level.counter.reference, level.limit) <= 0:
            add(
                (*at, "counter", "reference"),
                f"reference {level.counter.reference:g} must lie outside the limit "
                f"{level.limit:g}, so every value in the zone counts",
            )
        if (level.repeat_entries is None) != (level.repeat_within_s is None):
            add(at, "repeat_entries and repeat_within_s go together")
        if (
            level.min_duration_s is not None
            and level.max_delay_s is not None
            and level.min_duration_s > level.max_delay_s
        ):
            add((*at, "min_duration_s"), "min_duration_s cannot exceed max_delay_s")
        if level.min_duration_s is not None and level.counter is None:
            add((*at, "min_duration_s"), "min_duration_s only bounds a counter's decision")
    return problems


def _semantic_problems(model: RuleSetModel, lined: LinedYaml) -> list[ConfigProblem]:
    """Checks pydantic cannot express per field: they need the whole rule or the whole set."""
    problems: list[ConfigProblem] = []

    def add(location: tuple[Any, ...], message: str) -> None:
        problems.append(
            ConfigProblem(lined.line_of(location), _where(location, lined.data), message)
        )

    seen: dict[str, str] = {}
    alarms: dict[tuple[Parameter, str], str] = {}
    for index, rule in enumerate(model.rules):
        at = ("rules", index)
        cond = rule.condition
        if rule.id in seen:
            add((*at, "id"), f"duplicate id {rule.id!r} (first at {seen[rule.id]})")
        seen.setdefault(rule.id, f"rules[{index}]")
        if rule.delay_s < 0:
            add(
                (*at, "delay_s"),
                f"negative delay {rule.delay_s:g} s: a delay is how long a condition must hold",
            )
        technical = isinstance(cond, TECHNICAL_CONDITIONS)
        expected_kind = AlarmKind.TECHNICAL if technical else AlarmKind.PHYSIOLOGICAL
        if rule.kind is not expected_kind:
            add(
                (*at, "kind"),
                f"a {cond.type} condition is {expected_kind.value}, not {rule.kind.value}",
            )
        levelled = isinstance(cond, LEVELLED_CONDITIONS)
        for name in ("priority", "message"):
            given = getattr(rule, name) is not None
            if levelled and given:
                add((*at, name), f"a {cond.type} rule gives its {name} on each level")
            elif not levelled and not given:
                add(at, f"missing {name!r}")
        if not technical and rule.delay_s > 0:
            where = "on each level (max_delay_s)" if levelled else "nowhere: judged on each entry"
            add((*at, "delay_s"), f"a {cond.type} rule takes no delay_s; its timing goes {where}")
        if (
            isinstance(cond, LimitsCondition | BaselineDropCondition)
            and cond.parameter not in NUMERIC_PARAMETERS
        ):
            add(
                (*at, "condition", "parameter"),
                f"parameter {cond.parameter.value!r} is not a number; use one_of",
            )
        if isinstance(cond, LimitsCondition):
            key = (cond.parameter, cond.direction)
            if key in alarms:
                add(
                    (*at, "condition"),
                    f"{cond.parameter.value} {cond.direction} already has "
                    f"its alarm in rule {alarms[key]!r}: one alarm per "
                    "parameter and direction; add a level there",
                )
            alarms.setdefault(key, rule.id)
            problems.extend(_level_problems(rule.id, index, cond, seen, lined))
        if isinstance(cond, News2Condition):
            ranks = [NEWS2_BAND_RANK[level.band] for level in cond.levels]
            if any(b <= a for a, b in pairwise(ranks)):
                add(
                    (*at, "condition", "levels"),
                    "NEWS2 levels go from the mildest band to the worst, each band once",
                )
            for i, level in enumerate(cond.levels):
                where = (*at, "condition", "levels", i)
                if level.id in seen:
                    add((*where, "id"), f"duplicate id {level.id!r} (first at {seen[level.id]})")
                seen.setdefault(level.id, f"rules[{index}].levels[{i}]")
            priorities = [PRIORITY_RANK[level.priority] for level in cond.levels]
            if any(b < a for a, b in pairwise(priorities)):
                add((*at, "condition", "levels"), "a worse NEWS2 band cannot have a lower priority")
        if isinstance(cond, OneOfCondition):
            codes = CATEGORICAL_PARAMETERS.get(cond.parameter)
            if codes is None:
                add(
                    (*at, "condition", "parameter"),
                    f"one_of needs a coded parameter ({', '.join(CATEGORICAL_PARAMETERS)})",
                )
            else:
                allowed = {c.value for c in codes}
                for i, value in enumerate(cond.values):
                    if value not in allowed:
                        add(
                            (*at, "condition", "values", i),
                            f"unknown {cond.parameter.value} code {value!r}; expected one of "
                            f"{', '.join(sorted(allowed))}",
                        )
                for i, value in enumerate(cond.order or []):
                    if value not in allowed:
                        add(
                            (*at, "condition", "order", i),
                            f"unknown {cond.parameter.value} code {value!r}",
                        )
        if isinstance(cond, PowerDropCondition):
            for i, parameter in enumerate(cond.parameters):
                if parameter not in POWER_PARAMETERS:
                    add(
                        (*at, "condition", "parameters", i),
                        f"{parameter.value!r} is not a limb power (MRC) parameter",
                    )
        if isinstance(cond, NoReadingCondition | FlaggedCondition):
            for i, parameter in enumerate(cond.parameters):
                if parameter not in STREAMED_PARAMETERS:
                    add(
                        (*at, "condition", "parameters", i),
                        f"{parameter.value!r} is not streamed; only "
                        f"{', '.join(sorted(STREAMED_PARAMETERS))} can be lost or flagged",
                    )
            if (cond.escalate_to is None) != (cond.escalate_after_s is None):
                add((*at, "condition"), "escalate_to and escalate_after_s go together")
            elif (
                cond.escalate_to is not None
                and rule.priority is not None
                and (PRIORITY_RANK[cond.escalate_to] <= PRIORITY_RANK[rule.priority])
            ):
                add(
                    (*at, "condition", "escalate_to"),
                    f"escalate_to {cond.escalate_to.value} is not above the rule's priority",
                )

    for priority in (Priority.HIGH, Priority.MEDIUM):
        if priority not in model.lifecycle.escalate_unacknowledged_after_s:
            add(
                ("lifecycle", "escalate_unacknowledged_after_s"),
                f"missing the escalation time for {priority.value} alarms",
            )
    for priority, seconds in model.lifecycle.escalate_unacknowledged_after_s.items():
        if seconds <= 0:
            add(
                ("lifecycle", "escalate_unacknowledged_after_s", priority.value),
                f"escalation time for {priority.value} must be positive",
            )
    return problems


def _quiet_time_read(data: dict[str, Any]) -> None:
    """A `no_reading` rule waits the devices' quiet time (measurement_limits.yaml), the time
    after which the devices themselves call the link stale, unless the file gives its own
    delay_s (a test running its devices with a shorter quiet time); the shipped rule file gives
    none (tests/test_written_once.py)."""
    rules = data.get("rules")
    for rule in rules if isinstance(rules, list) else []:
        condition = rule.get("condition") if isinstance(rule, dict) else None
        if isinstance(condition, dict) and condition.get("type") == "no_reading":
            rule.setdefault("delay_s", quiet_time_s())


def parse_rule_set(text: str, source: str = "<rules>") -> RuleSet:
    """Validate rule-set YAML text; raises RuleSetError listing every problem with its line."""
    try:
        lined = load_with_lines(text)
    except YamlSyntaxError as exc:
        raise RuleSetError(source, [ConfigProblem(exc.line, "", exc.message)]) from exc
    if not isinstance(lined.data, dict):
        raise RuleSetError(
            source, [ConfigProblem(1, "", "expected a mapping with version, lifecycle, ..., rules")]
        )
    _quiet_time_read(lined.data)
    try:
        model = RuleSetModel.model_validate(lined.data)
    except ValidationError as exc:
        problems = [pydantic_problem(e, lined) for e in exc.errors()]
        problems.sort(key=lambda p: p.line or 0)
        raise RuleSetError(source, problems) from exc
    problems = _semantic_problems(model, lined)
    if problems:
        problems.sort(key=lambda p: p.line or 0)
        raise RuleSetError(source, problems)
    return RuleSet(model, source)


def load_rule_set(path: str | Path | None = None) -> RuleSet:
    """Load a rule file, or the default rule set shipped in the package."""
    if path is None:
        text = resources.files("rules").joinpath(DEFAULT_RULES_FILE).read_text(encoding="utf-8")
        return parse_rule_set(text, f"rules/{DEFAULT_RULES_FILE}")
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise RuleSetError(str(path), [ConfigProblem(None, "", f"cannot read: {exc}")]) from exc
    except UnicodeDecodeError as exc:  # a word-processor file, a spreadsheet, a picture
        line = path.read_bytes()[: exc.start].count(b"\n") + 1
        raise RuleSetError(
            str(path), [ConfigProblem(line, "", "is not UTF-8 text: save the rule file as text")]
        ) from exc
    return parse_rule_set(text, str(path))


def default_rule_set() -> RuleSet:
    return load_rule_set(None)


__all__ = [
    "LEG_POWER_PARAMETERS",
    "AlarmLevel",
    "BaselineDropCondition",
    "ConfigProblem",
    "Counter",
    "FlaggedCondition",
    "Level",
    "LimitsCondition",
    "News2Condition",
    "News2Level",
    "NoReadingCondition",
    "ObservationOverdueCondition",
    "OneOfCondition",
    "PowerDropCondition",
    "Rule",
    "RuleSet",
    "RuleSetError",
    "SideEffectCondition",
    "default_rule_set",
    "load_rule_set",
    "parse_rule_set",
]
