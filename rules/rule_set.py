"""The overdose rule set: data (YAML) validated at load, with line-numbered errors.

Every clinical number of the monitoring window lives in the YAML with its rationale; this module
only knows the *shapes* a rule may take (its condition types) and checks them.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from importlib import resources
from itertools import pairwise
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from rules.yaml_lines import LinedYaml, YamlSyntaxError, load_with_lines
from vocabulary import (
    LEG_POWER_PARAMETERS,
    STREAMED_PARAMETERS,
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


class RangeCondition(_Strict):
    """Value within [min, max] (inclusive). Streamed parameters need it to hold for the delay;
    entered ones are judged on each entry."""

    type: Literal["range"]
    parameter: Parameter
    min: float | None = None
    max: float | None = None
    # Which way is worse, for "acknowledging never hides a worse condition".
    worse: Literal["lower", "higher"] | None = None

    def contains(self, value: float) -> bool:
        return (self.min is None or value >= self.min) and (self.max is None or value <= self.max)

    @property
    def worse_direction(self) -> str:
        if self.worse is not None:
            return self.worse
        return "lower" if self.min is None else "higher"


class BaselineDropCondition(_Strict):
    """Value at least `by` below the pre-injection baseline (median)."""

    type: Literal["drop_from_baseline"]
    parameter: Parameter
    by: float = Field(gt=0)


class OneOfCondition(_Strict):
    type: Literal["one_of"]
    parameter: Parameter
    values: list[str] = Field(min_length=1)
    # Order of the codes from best to worst, to tell a worse entry from a repeat.
    order: list[str] | None = None


class SideEffectCondition(_Strict):
    type: Literal["side_effect"]
    items: list[SideEffect] = Field(min_length=1)


class PowerDropCondition(_Strict):
    """Any listed limb's MRC power at least `grades` below that limb's baseline."""

    type: Literal["power_drop"]
    parameters: list[Parameter] = Field(min_length=1)
    grades: int = Field(ge=1)


class News2BandCondition(_Strict):
    type: Literal["news2_band"]
    band: Literal["high", "medium", "low-medium"]


class NoReadingCondition(_Strict):
    """No reading at all (valid or flagged) of a streamed parameter for the delay (quiet time)."""

    type: Literal["no_reading"]
    parameters: list[Parameter] = Field(min_length=1)
    escalate_to: Priority | None = None
    escalate_when_lost_for_s: float | None = None


class FlaggedCondition(_Strict):
    """Readings keep arriving but carry one of `flags` (no valid reading) for the delay."""

    type: Literal["flagged"]
    parameters: list[Parameter] = Field(min_length=1)
    flags: list[QualityFlag] = Field(min_length=1)


class ObservationOverdueCondition(_Strict):
    """A due observation set not recorded `delay_s` after its due time."""

    type: Literal["observation_overdue"]


Condition = Annotated[
    RangeCondition
    | BaselineDropCondition
    | OneOfCondition
    | SideEffectCondition
    | PowerDropCondition
    | News2BandCondition
    | NoReadingCondition
    | FlaggedCondition
    | ObservationOverdueCondition,
    Field(discriminator="type"),
]

TECHNICAL_CONDITIONS = (NoReadingCondition, FlaggedCondition, ObservationOverdueCondition)


class Rule(_Strict):
    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    condition: Condition
    delay_s: float = 0
    priority: Priority
    kind: AlarmKind
    message: str = Field(min_length=1)
    rationale: str = Field(min_length=1)
    # False where the rule has its own escalation (device_lost becomes medium instead).
    escalate_unacknowledged: bool = True

    @property
    def streamed(self) -> bool:
        """Judged continuously over time (with a delay) rather than on each entry."""
        c = self.condition
        return isinstance(c, RangeCondition) and c.parameter in STREAMED_PARAMETERS


class Lifecycle(_Strict):
    escalate_unacknowledged_after_s: dict[Priority, float]
    reannunciate_after_s: float = Field(gt=0)
    rationale: str = Field(min_length=1)


class Baseline(_Strict):
    window_before_injection_min: float = Field(gt=0)
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
            "range", "drop_from_baseline", "one_of", "side_effect", "power_drop",
            "news2_band", "no_reading", "flagged", "observation_overdue",
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
        message = f"unknown condition type {error['input'].get('type')!r}" if isinstance(
            error["input"], dict) else error["msg"]
    elif kind == "literal_error":
        message = f"{field}: {error['input']!r} is not allowed; {error['msg']}"
    else:
        message = f"{field}: {error['msg']}"
    return ConfigProblem(lined.line_of(location), _where(location, lined.data), message)


def _semantic_problems(model: RuleSetModel, lined: LinedYaml) -> list[ConfigProblem]:
    """Checks pydantic cannot express per field: they need the whole rule or the whole set."""
    problems: list[ConfigProblem] = []

    def add(location: tuple[Any, ...], message: str) -> None:
        problems.append(ConfigProblem(lined.line_of(location), _where(location, lined.data),
                                      message))

    seen: dict[str, int] = {}
    ranges: dict[Parameter, list[tuple[int, RangeCondition]]] = defaultdict(list)
    for index, rule in enumerate(model.rules):
        at = ("rules", index)
        cond = rule.condition
        if rule.id in seen:
            add((*at, "id"), f"duplicate rule id {rule.id!r} (first at rules[{seen[rule.id]}])")
        seen.setdefault(rule.id, index)
        if rule.delay_s < 0:
            add((*at, "delay_s"),
                f"negative delay {rule.delay_s:g} s: a delay is how long a condition must hold")
        technical = isinstance(cond, TECHNICAL_CONDITIONS)
        expected_kind = AlarmKind.TECHNICAL if technical else AlarmKind.PHYSIOLOGICAL
        if rule.kind is not expected_kind:
            add((*at, "kind"), f"a {cond.type} condition is {expected_kind.value}, "
                               f"not {rule.kind.value}")
        timed = rule.streamed or technical
        if not timed and rule.delay_s > 0:
            add((*at, "delay_s"), f"{cond.type} on {getattr(cond, 'parameter', 'entries')} is "
                                  "judged on each entry: a delay only applies to streamed "
                                  f"parameters ({', '.join(sorted(STREAMED_PARAMETERS))})")
        if (isinstance(cond, RangeCondition | BaselineDropCondition)
                and cond.parameter not in NUMERIC_PARAMETERS):
            add((*at, "condition", "parameter"),
                f"parameter {cond.parameter.value!r} is not a number; use one_of")
        if isinstance(cond, RangeCondition):
            if cond.min is None and cond.max is None:
                add((*at, "condition"), "a range needs min, max or both")
            elif cond.min is not None and cond.max is not None:
                if cond.min > cond.max:
                    add((*at, "condition"), f"min {cond.min:g} is above max {cond.max:g}")
                if cond.worse is None:
                    add((*at, "condition"), "a band with both min and max must say which way "
                                            "is worse (worse: lower | higher)")
            ranges[cond.parameter].append((index, cond))
        if isinstance(cond, OneOfCondition):
            codes = CATEGORICAL_PARAMETERS.get(cond.parameter)
            if codes is None:
                add((*at, "condition", "parameter"),
                    f"one_of needs a coded parameter ({', '.join(CATEGORICAL_PARAMETERS)})")
            else:
                allowed = {c.value for c in codes}
                for i, value in enumerate(cond.values):
                    if value not in allowed:
                        add((*at, "condition", "values", i),
                            f"unknown {cond.parameter.value} code {value!r}; expected one of "
                            f"{', '.join(sorted(allowed))}")
                for i, value in enumerate(cond.order or []):
                    if value not in allowed:
                        add((*at, "condition", "order", i),
                            f"unknown {cond.parameter.value} code {value!r}")
        if isinstance(cond, PowerDropCondition):
            for i, parameter in enumerate(cond.parameters):
                if parameter not in POWER_PARAMETERS:
                    add((*at, "condition", "parameters", i),
                        f"{parameter.value!r} is not a limb power (MRC) parameter")
        if isinstance(cond, NoReadingCondition | FlaggedCondition):
            for i, parameter in enumerate(cond.parameters):
                if parameter not in STREAMED_PARAMETERS:
                    add((*at, "condition", "parameters", i),
                        f"{parameter.value!r} is not streamed; only "
                        f"{', '.join(sorted(STREAMED_PARAMETERS))} can be lost or flagged")
        if isinstance(cond, NoReadingCondition) and (cond.escalate_to is None) != (
            cond.escalate_when_lost_for_s is None
        ):
            add((*at, "condition"), "escalate_to and escalate_when_lost_for_s go together")

    # Bands of one parameter never overlap: one value, one alarm.
    for parameter, bands in ranges.items():
        for a_pos, (a_index, a) in enumerate(bands):
            for b_index, b in bands[a_pos + 1:]:
                low_a = a.min if a.min is not None else float("-inf")
                high_a = a.max if a.max is not None else float("inf")
                low_b = b.min if b.min is not None else float("-inf")
                high_b = b.max if b.max is not None else float("inf")
                if low_a <= high_b and low_b <= high_a:
                    add(("rules", b_index, "condition"),
                        f"band of {parameter.value} overlaps rule "
                        f"{model.rules[a_index].id!r} (rules[{a_index}]); bands of one "
                        "parameter must not overlap")

    for priority in (Priority.HIGH, Priority.MEDIUM):
        if priority not in model.lifecycle.escalate_unacknowledged_after_s:
            add(("lifecycle", "escalate_unacknowledged_after_s"),
                f"missing the escalation time for {priority.value} alarms")
    for priority, seconds in model.lifecycle.escalate_unacknowledged_after_s.items():
        if seconds <= 0:
            add(("lifecycle", "escalate_unacknowledged_after_s", priority.value),
                f"escalation time for {priority.value} must be positive")
    return problems


def parse_rule_set(text: str, source: str = "<rules>") -> RuleSet:
    """Validate rule-set YAML text; raises RuleSetError listing every problem with its line."""
    try:
        lined = load_with_lines(text)
    except YamlSyntaxError as exc:
        raise RuleSetError(source, [ConfigProblem(exc.line, "", exc.message)]) from exc
    if not isinstance(lined.data, dict):
        raise RuleSetError(source, [ConfigProblem(1, "", "expected a mapping with version, "
                                                         "lifecycle, ..., rules")])
    try:
        model = RuleSetModel.model_validate(lined.data)
    except ValidationError as exc:
        problems = [pydantic_problem(e, lined) for e in exc.errors()]
        problems.sort(key=lambda p: (p.line or 0))
        raise RuleSetError(source, problems) from exc
    problems = _semantic_problems(model, lined)
    if problems:
        problems.sort(key=lambda p: (p.line or 0))
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
    return parse_rule_set(text, str(path))


def default_rule_set() -> RuleSet:
    return load_rule_set(None)


__all__ = [
    "LEG_POWER_PARAMETERS",
    "BaselineDropCondition",
    "ConfigProblem",
    "FlaggedCondition",
    "News2BandCondition",
    "NoReadingCondition",
    "ObservationOverdueCondition",
    "OneOfCondition",
    "PowerDropCondition",
    "RangeCondition",
    "Rule",
    "RuleSet",
    "RuleSetError",
    "SideEffectCondition",
    "default_rule_set",
    "load_rule_set",
    "parse_rule_set",
]
