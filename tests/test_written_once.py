"""Every clinical number and rule of the trial is written once, where its owner layer reads it.

Each check loads its owner table and reads the rest of the production code (every ``*.py`` and
``*.yaml`` outside tests/ and the owner) for a copy of it. The checks read the syntax (Python's
own parser, YAML nodes), not raw text, so a number that merely happens to be equal elsewhere
(a chart's height, a batch size) does not count: what counts is the *shape* of a copy, such as a
second table of ranges, a due-time list, a literal ``max_chars=``. Every detector is also shown a
copy of its own kind and must find it, so that none can pass by finding nothing.

Owners:
- plausible ranges and the quiet time: measurement_limits.yaml (measurement_limits.py);
- due times of the observation schedule: rules/default_rules.yaml (``schedule``);
- text limits: observations/limits.yaml (``text``);
- the open stages of a trial: observations.trials.OPEN_STATUSES;
- which roles see which screen: dashboard.PAGES; what a role may do:
  observations.store.PERMISSIONS, asked through observations.store.may;
- the MRC power grades and their words: vocabulary.MRC_POWER_LABELS;
- which side effects are red flags: vocabulary.RED_FLAG_SIDE_EFFECTS (the rules name the group);
- the 4-hour peak: the peak window (observations/limits.yaml trial_day, rules.evaluation).

What is not read, and why (the exemptions, each once):
- tests/: tests write numbers on purpose (a copy to find, a boundary to try);
- docs/ and prose: a page says "10 s" to a reader; only code and configuration are read;
- the owner of each table (listed above), and measurement_limits.py, the table's loader;
- two consecutive due times (15, 30): too common a pair of minutes to be the schedule; three
  in a row are (DUE_RUN);
- the note limit as a bare number outside the screens: observations/readings.py sends 4000 rows
  per statement, a batch size (the screens' literal ``max_chars=`` is checked everywhere);
- roles handed to the record as data in a call (the roles a new account is given,
  ``record.users.create(..., {Role.ADMIN}, ...)``): they say nothing about who sees what.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest
import yaml

from measurement_limits import RANGED_PARAMETERS, TABLE_FILE, load_measurement_limits
from observations.limits import LIMITS_FILE, load_limits
from observations.trials import OPEN_STATUSES
from rules.rule_set import NoReadingCondition, default_rule_set
from vocabulary import MRC_POWER_LABELS, RED_FLAG_SIDE_EFFECTS, Parameter, TrialStatus

ROOT = Path(__file__).resolve().parents[1]
RULES_FILE = ROOT / "rules" / "default_rules.yaml"
# The screens' floor (named pages/ before it became screens/).
SCREENS = next((ROOT / d for d in ("screens", "pages") if (ROOT / d).is_dir()), ROOT / "screens")
PRODUCTION_DIRS = ("devices", "rules", "observations", "monitor", SCREENS.name, "benchmarks")


@dataclass(frozen=True)
class Source:
    path: Path
    text: str

    @property
    def name(self) -> str:
        return self.path.relative_to(ROOT).as_posix()

    def tree(self) -> ast.Module:
        return _parsed(self.path, self.text)


@cache
def _parsed(path: Path, text: str) -> ast.Module:
    return ast.parse(text, filename=str(path))


def _production(suffix: str) -> list[Source]:
    files = sorted(ROOT.glob(f"*{suffix}"))
    for directory in PRODUCTION_DIRS:
        files += sorted((ROOT / directory).rglob(f"*{suffix}"))
    return [Source(f, f.read_text(encoding="utf-8")) for f in files]


def python_sources(*, besides: tuple[Path, ...] = ()) -> list[Source]:
    return [s for s in _production(".py") if s.path not in besides]


def yaml_sources(*, besides: tuple[Path, ...] = ()) -> list[Source]:
    return [s for s in _production(".yaml") if s.path not in besides]


def _number(node: ast.AST) -> float | None:
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        inner = _number(node.operand)
        return None if inner is None else -inner
    if (
        isinstance(node, ast.Constant)
        and isinstance(node.value, int | float)
        and not isinstance(node.value, bool)
    ):
        return float(node.value)
    return None


def _numbers(nodes: list[ast.expr]) -> list[float] | None:
    """The values of a literal list of numbers, or None if any item is not a literal number."""
    values = [_number(n) for n in nodes]
    return None if any(v is None for v in values) else [v for v in values if v is not None]


def _attribute_of(node: ast.AST, owner: str) -> str | None:
    """'MONITORING' for ``TrialStatus.MONITORING`` when owner is 'TrialStatus'."""
    if (
        isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id == owner
    ):
        return node.attr
    return None


def _collection_items(node: ast.AST) -> list[ast.expr] | None:
    """Items of a set/list/tuple literal, or of frozenset({...}) / set([...]) / tuple((...))."""
    if isinstance(node, ast.Set | ast.List | ast.Tuple):
        return list(node.elts)
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id in {"frozenset", "set", "tuple", "list"}
        and len(node.args) == 1
        and isinstance(node.args[0], ast.Set | ast.List | ast.Tuple)
    ):
        return list(node.args[0].elts)
    return None


def _yaml_nodes(text: str) -> Iterator[tuple[yaml.Node | None, yaml.Node]]:
    """Every (key, value) node of a YAML document; key is None for list items and the root."""
    root = yaml.compose(text, Loader=yaml.SafeLoader)
    if root is None:
        return
    todo: list[tuple[yaml.Node | None, yaml.Node]] = [(None, root)]
    while todo:
        key, node = todo.pop()
        yield key, node
        if isinstance(node, yaml.MappingNode):
            todo += list(node.value)
        elif isinstance(node, yaml.SequenceNode):
            todo += [(None, item) for item in node.value]


def _yaml_number(node: yaml.Node) -> float | None:
    if not isinstance(node, yaml.ScalarNode) or node.tag not in (
        "tag:yaml.org,2002:int",
        "tag:yaml.org,2002:float",
    ):
        return None
    return float(yaml.safe_load(node.value))


# ----- plausible ranges ---------------------------------------------------------------------

# Names a table of ranges may key a parameter by: the vocabulary's and the NEWS2 CSV's columns.
RANGE_KEY_NAMES = {p.value for p in RANGED_PARAMETERS} | {"sbp", "dbp", "pulse", "hr", "map"}


def _names_ranged_parameter(key: ast.AST | None) -> bool:
    if isinstance(key, ast.Constant) and isinstance(key.value, str):
        return key.value in RANGE_KEY_NAMES
    name = _attribute_of(key, "Parameter") if key is not None else None
    return name is not None and Parameter[name] in RANGED_PARAMETERS


def _pair(node: ast.AST) -> tuple[float, float] | None:
    """(low, high) written as a 2-tuple/list or as a call with two literal numbers."""
    items = _collection_items(node)
    if items is None and isinstance(node, ast.Call) and not node.keywords:
        items = list(node.args)
    values = _numbers(items) if items is not None and len(items) == 2 else None
    return (values[0], values[1]) if values is not None else None


def range_copies_py(source: Source) -> list[str]:
    """A second table of plausible ranges: a PlausibleRange built from literal numbers, a dict
    keyed by parameters holding (low, high) pairs, or a chained comparison against a range
    of the table (``25 <= temp <= 43``)."""
    ranges = {(r.low, r.high) for r in load_measurement_limits().ranges.values()}
    found = []
    for node in ast.walk(source.tree()):
        if isinstance(node, ast.Call) and (
            (isinstance(node.func, ast.Name) and node.func.id == "PlausibleRange")
            or (isinstance(node.func, ast.Attribute) and node.func.attr == "PlausibleRange")
        ):
            if any(_number(arg) is not None for arg in node.args):
                found.append(f"{source.name}:{node.lineno}: PlausibleRange from literal numbers")
        elif isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values, strict=True):
                if _names_ranged_parameter(key) and _pair(value) is not None:
                    found.append(
                        f"{source.name}:{value.lineno}: a range table entry {_pair(value)}"
                    )
        elif isinstance(node, ast.Compare) and len(node.comparators) == 2:
            low, high = _number(node.left), _number(node.comparators[1])
            if low is not None and (low, high) in ranges:
                found.append(f"{source.name}:{node.lineno}: compared with range {low:g}-{high:g}")
    return found


def range_copies_yaml(source: Source) -> list[str]:
    """A YAML mapping giving a ranged parameter a min and a max."""
    found = []
    for key, node in _yaml_nodes(source.text):
        if (
            key is None
            or key.value not in RANGE_KEY_NAMES
            or not isinstance(node, yaml.MappingNode)
        ):
            continue
        fields = {k.value for k, _ in node.value}
        if {"min", "max"} <= fields or {"low", "high"} <= fields:
            found.append(f"{source.name}:{key.start_mark.line + 1}: a range for {key.value}")
    return found


def test_plausible_ranges_are_written_once() -> None:
    found = [c for s in python_sources() for c in range_copies_py(s)]
    found += [c for s in yaml_sources(besides=(TABLE_FILE,)) for c in range_copies_yaml(s)]
    assert found == [], "plausible ranges belong to measurement_limits.yaml only"


def test_range_detectors_find_a_copy() -> None:
    # The rules' command line had its own table, and it disagreed with the record's.
    old_cli = Source(ROOT / "copy.py", '_LIMITS = {"rr": (0, 100), "temp": (20.0, 45.0)}\n')
    assert len(range_copies_py(old_cli)) == 2
    devices = Source(ROOT / "copy.py", "R = {Parameter.SPO2: PlausibleRange(0, 100)}\n")
    assert len(range_copies_py(devices)) == 2  # the call, and the dict entry it fills
    check = Source(ROOT / "copy.py", "ok = 25.0 <= temp <= 43.0\n")
    assert len(range_copies_py(check)) == 1
    record = Source(ROOT / "copy.yaml", "entry:\n  temp:\n    min: 25.0\n    max: 43.0\n")
    assert range_copies_yaml(record) == ["copy.yaml:2: a range for temp"]


def test_every_reader_asks_the_one_table() -> None:
    from devices.settings import DEFAULT_PLAUSIBLE_RANGES
    from rules.__main__ import _limits

    table = load_measurement_limits().ranges
    assert DEFAULT_PLAUSIBLE_RANGES is table
    entry = load_limits().entry
    for parameter, limits in table.items():
        assert (entry[parameter.value].min, entry[parameter.value].max) == (
            limits.low,
            limits.high,
        )
    assert (entry["power"].min, entry["power"].max) == (
        min(MRC_POWER_LABELS),
        max(MRC_POWER_LABELS),
    )
    for column, parameter in {"rr": Parameter.RR, "temp": Parameter.TEMP}.items():
        assert _limits(column) == table[parameter]


# ----- the quiet time -----------------------------------------------------------------------


def _quiet_named(target: ast.AST) -> str | None:
    if isinstance(target, ast.Name) and "quiet" in target.id.lower():
        return target.id
    if isinstance(target, ast.Attribute) and "quiet" in target.attr.lower():
        return target.attr
    if isinstance(target, ast.Constant) and isinstance(target.value, str):
        return target.value if "quiet" in target.value.lower() else None
    return None


def _literal_numbers(node: ast.AST) -> list[float]:
    """The non-zero literal numbers of an expression, leaving out indexes (``pair[1]``)."""
    indexes = {
        id(n) for s in ast.walk(node) if isinstance(s, ast.Subscript) for n in ast.walk(s.slice)
    }
    return [
        v
        for n in ast.walk(node)
        if id(n) not in indexes and (v := _number(n)) is not None and v != 0
    ]


def quiet_time_copies_py(source: Source) -> list[str]:
    """A quiet time written as a number: assigned, passed, defaulted or keyed by a name that
    says "quiet"."""
    found: list[str] = []

    def check(name: str | None, value: ast.AST | None, line: int) -> None:
        if name is not None and value is not None and _literal_numbers(value):
            found.append(f"{source.name}:{line}: {name} = {_literal_numbers(value)[0]:g}")

    for node in ast.walk(source.tree()):
        if isinstance(node, ast.Assign):
            for target in node.targets:
                check(_quiet_named(target), node.value, node.lineno)
        elif isinstance(node, ast.AnnAssign | ast.AugAssign):
            check(_quiet_named(node.target), node.value, node.lineno)
        elif isinstance(node, ast.keyword) and node.arg is not None:
            check(node.arg if "quiet" in node.arg.lower() else None, node.value, node.value.lineno)
        elif isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values, strict=True):
                check(_quiet_named(key) if key is not None else None, value, value.lineno)
        elif isinstance(node, ast.arguments):
            positional = node.posonlyargs + node.args
            with_default = positional[len(positional) - len(node.defaults) :]
            defaults = list(zip(with_default, node.defaults, strict=True))
            defaults += [
                (a, d) for a, d in zip(node.kwonlyargs, node.kw_defaults, strict=True) if d
            ]
            for arg, default in defaults:
                check(arg.arg if "quiet" in arg.arg.lower() else None, default, default.lineno)
    return found


def quiet_time_copies_yaml(source: Source) -> list[str]:
    """A quiet time in another YAML file, or a no_reading rule waiting its own delay."""
    found = []
    for key, node in _yaml_nodes(source.text):
        if key is not None and "quiet" in str(key.value).lower() and _yaml_number(node):
            found.append(f"{source.name}:{key.start_mark.line + 1}: {key.value}")
        if isinstance(node, yaml.MappingNode):
            fields = {k.value: v for k, v in node.value}
            condition = fields.get("condition")
            kinds = (
                {k.value: v.value for k, v in condition.value if isinstance(v, yaml.ScalarNode)}
                if isinstance(condition, yaml.MappingNode)
                else {}
            )
            if kinds.get("type") == "no_reading" and "delay_s" in fields:
                line = fields["delay_s"].start_mark.line + 1
                found.append(f"{source.name}:{line}: a no_reading rule's own delay_s")
    return found


def test_quiet_time_is_written_once() -> None:
    owner = TABLE_FILE.with_suffix(".py")  # the table's loader
    found = [c for s in python_sources(besides=(owner,)) for c in quiet_time_copies_py(s)]
    found += [c for s in yaml_sources(besides=(TABLE_FILE,)) for c in quiet_time_copies_yaml(s)]
    assert found == [], "the quiet time belongs to measurement_limits.yaml only"


def test_quiet_time_detectors_find_a_copy() -> None:
    simulator = "self.quiet_time_s = quiet if quiet is not None else 10.0\n"
    assert len(quiet_time_copies_py(Source(ROOT / "copy.py", simulator))) == 1
    settings = "DEFAULT_QUIET_TIME_S = 10.0\nT = {'masimo': 1}\ndef f(quiet_s=10): ...\n"
    assert len(quiet_time_copies_py(Source(ROOT / "copy.py", settings))) == 2
    rule = "rules:\n  - id: lost\n    condition: {type: no_reading}\n    delay_s: 10\n"
    assert quiet_time_copies_yaml(Source(ROOT / "copy.yaml", rule)) == [
        "copy.yaml:4: a no_reading rule's own delay_s"
    ]


def test_devices_and_rules_wait_the_same_quiet_time() -> None:
    from devices.settings import DEFAULT_SETTINGS

    quiet = load_measurement_limits().quiet_time_s
    assert DEFAULT_SETTINGS.quiet_time_for("plx-continuous") == quiet
    lost = [r for r in default_rule_set().rules if isinstance(r.condition, NoReadingCondition)]
    assert lost and all(r.delay_s == quiet for r in lost)


# ----- due times of the observation schedule ------------------------------------------------


def _due_times() -> list[float]:
    return [float(m) for m in default_rule_set().schedule.due_after_injection_min]


def _longest_run(values: list[float], dues: list[float]) -> int:
    """The longest stretch of `values` that is a stretch of consecutive due times."""
    best = 0
    for start in range(len(values)):
        if values[start] not in dues:
            continue
        at, length = dues.index(values[start]), 0
        while (
            start + length < len(values)
            and at + length < len(dues)
            and values[start + length] == dues[at + length]
        ):
            length += 1
        best = max(best, length)
    return best


# Three due times in a row (15, 30, 45) is a copy of the schedule; two (15, 30) are too common
# a pair of minutes to mean it.
DUE_RUN = 3


def due_time_copies_py(source: Source) -> list[str]:
    found = []
    dues = _due_times()
    for node in ast.walk(source.tree()):
        items = node.elts if isinstance(node, ast.List | ast.Tuple | ast.Set) else None
        values = _numbers(list(items)) if items else None
        if values and _longest_run(values, dues) >= DUE_RUN:
            found.append(f"{source.name}:{node.lineno}: due times {values}")
    return found


def due_time_copies_yaml(source: Source) -> list[str]:
    found = []
    dues = _due_times()
    for _, node in _yaml_nodes(source.text):
        if isinstance(node, yaml.SequenceNode):
            values = [_yaml_number(item) for item in node.value]
            numbers = [v for v in values if v is not None]
            if len(numbers) == len(values) and _longest_run(numbers, dues) >= DUE_RUN:
                found.append(f"{source.name}:{node.start_mark.line + 1}: due times {numbers}")
    return found


def test_due_times_are_written_once() -> None:
    found = [c for s in python_sources() for c in due_time_copies_py(s)]
    found += [c for s in yaml_sources(besides=(RULES_FILE,)) for c in due_time_copies_yaml(s)]
    assert found == [], "due times belong to rules/default_rules.yaml (schedule) only"


def test_due_time_detectors_find_a_copy() -> None:
    simulation = "DEFAULT_DUE_MIN = (15, 30, 45, 60, 90, 120, 150, 180, 210, 240)\n"
    assert len(due_time_copies_py(Source(ROOT / "copy.py", simulation))) == 1
    benchmark = "dues = [-20, 15, 30, 45, 60]\nchoices = [2, 5, 10, 15, 30, 60]\n"
    assert len(due_time_copies_py(Source(ROOT / "copy.py", benchmark))) == 1
    text = "sets: [90, 120, 150]\nreminders: [2, 5, 10, 15, 30, 60]\n"
    assert len(due_time_copies_yaml(Source(ROOT / "copy.yaml", text))) == 1


def test_the_simulated_day_meets_the_rules_due_times() -> None:
    from rules.simulation import due_after_injection_min

    window = default_rule_set().monitoring_window.default_min
    assert list(due_after_injection_min(default_rule_set(), window)) == _due_times()


# ----- text limits --------------------------------------------------------------------------


def text_limit_copies(source: Source, on_screens: bool) -> list[str]:
    """A literal ``max_chars=`` (Streamlit's field length) anywhere, and on the screens any
    literal equal to the note limit (the 4000 of a note or reason)."""
    note = load_limits().text["note"].max_chars
    found = []
    for node in ast.walk(source.tree()):
        if (
            isinstance(node, ast.keyword)
            and node.arg == "max_chars"
            and _literal_numbers(node.value)
        ):
            found.append(f"{source.name}:{node.value.lineno}: max_chars={ast.unparse(node.value)}")
        elif on_screens and _number(node) == note:
            line = getattr(node, "lineno", 0)
            found.append(f"{source.name}:{line}: {note} (the note limit)")
    return found


def _on_screens(source: Source) -> bool:
    return source.path.is_relative_to(SCREENS) or source.path == ROOT / "dashboard.py"


def test_text_limits_are_written_once() -> None:
    found = [c for s in python_sources() for c in text_limit_copies(s, _on_screens(s))]
    assert found == [], "text limits belong to observations/limits.yaml (text) only"


def test_text_limit_detector_finds_a_copy() -> None:
    page = 'st.text_area("Note", max_chars=4000)\nst.text_input("Bed", max_chars=12)\n'
    assert len(text_limit_copies(Source(SCREENS / "copy.py", page), on_screens=True)) == 3
    assert len(text_limit_copies(Source(ROOT / "copy.py", "ROWS = 4000\n"), False)) == 0


# ----- the open stages of a trial -----------------------------------------------------------


def open_stage_copies(source: Source) -> list[str]:
    """Another set naming the open stages (TrialStatus members or their values)."""
    names = {s.name for s in OPEN_STATUSES}
    values = {s.value for s in OPEN_STATUSES}
    found = []
    for node in ast.walk(source.tree()):
        items = _collection_items(node)
        if not items or isinstance(node, ast.Call):  # the literal inside the call is walked too
            continue
        members = {_attribute_of(i, "TrialStatus") for i in items}
        strings = {i.value for i in items if isinstance(i, ast.Constant)}
        if members == names or strings == values:
            found.append(f"{source.name}:{node.lineno}: the open stages again")
    return found


def test_open_stages_are_written_once() -> None:
    owner = ROOT / "observations" / "trials.py"
    found = [c for s in python_sources(besides=(owner,)) for c in open_stage_copies(s)]
    assert found == [], "the open stages are observations.trials.OPEN_STATUSES only"


def test_open_stage_detector_finds_a_copy() -> None:
    members = ", ".join(f"TrialStatus.{s.name}" for s in OPEN_STATUSES)
    words = ", ".join(repr(s.value) for s in OPEN_STATUSES)
    text = f"LIVE = frozenset({{{members}}})\nwords = ({words})\n"
    assert len(open_stage_copies(Source(ROOT / "copy.py", text))) == 2
    assert TrialStatus.DECIDED not in OPEN_STATUSES  # the set is a real subset of the stages


# ----- roles: which screen, and what a role may do -----------------------------------------


def page_role_copies(source: Source) -> list[str]:
    """On a screen, a set of roles (who may see or do something) instead of dashboard.PAGES or
    observations.store.may. Not counted: roles handed to the record as data in a call (the
    roles a new account is given), which say nothing about who sees what."""
    found = []
    handed = {
        id(arg)
        for call in ast.walk(source.tree())
        if isinstance(call, ast.Call) and _collection_items(call) is None
        for arg in (*call.args, *(k.value for k in call.keywords))
    }
    for node in ast.walk(source.tree()):
        items = _collection_items(node)
        if items and not isinstance(node, ast.Call) and id(node) not in handed:
            if any(_attribute_of(i, "Role") for i in items):
                found.append(f"{source.name}:{node.lineno}: a set of roles")
        elif isinstance(node, ast.Compare) and any(
            _attribute_of(side, "Role") for side in (node.left, *node.comparators)
        ):
            others = (node.left, *node.comparators)
            if any(isinstance(side, ast.Attribute) and side.attr == "roles" for side in others):
                found.append(f"{source.name}:{node.lineno}: a role compared with actor.roles")
    return found


def test_screens_hold_no_roles() -> None:
    screens = [s for s in python_sources() if s.path.is_relative_to(SCREENS)]
    assert screens, f"no screens found under {SCREENS}"
    found = [c for s in screens for c in page_role_copies(s)]
    assert found == [], "page access is dashboard.PAGES; actions are observations.store.may"


def test_page_role_detector_finds_a_copy() -> None:
    text = (
        "SIGNERS = frozenset({Role.DOCTOR})\n"
        "ok = Role.DOCTOR in actor.roles\n"
        "clinical = actor.roles - {Role.ADMIN}\n"
        "record.users.create(None, name, full, {Role.ADMIN}, password)\n"  # data, not access
    )
    assert len(page_role_copies(Source(SCREENS / "copy.py", text))) == 3


def permission_checks(source: Source) -> list[str]:
    """A function (or module) comparing someone's roles with PERMISSIONS itself."""
    found = []
    scopes: list[ast.AST] = [source.tree()]
    scopes += [n for n in ast.walk(source.tree()) if isinstance(n, ast.FunctionDef)]
    for scope in scopes:
        if isinstance(scope, ast.FunctionDef):
            body = scope.body
        else:  # the module's own statements; its functions are scopes of their own
            assert isinstance(scope, ast.Module)
            body = [s for s in scope.body if not isinstance(s, ast.FunctionDef | ast.ClassDef)]
        nodes = [n for statement in body for n in ast.walk(statement)]
        if any(isinstance(n, ast.Attribute) and n.attr == "roles" for n in nodes) and any(
            isinstance(n, ast.Name) and n.id == "PERMISSIONS" for n in nodes
        ):
            where = scope.name if isinstance(scope, ast.FunctionDef) else "module"
            line = getattr(scope, "lineno", 1)
            found.append(f"{source.name}:{line}: {where} compares roles with PERMISSIONS")
    return found


def test_permissions_are_asked_through_may() -> None:
    store = next(s for s in python_sources() if s.path == ROOT / "observations" / "store.py")
    assert [c.split(": ")[1] for c in permission_checks(store)] == [
        "may compares roles with PERMISSIONS"
    ]
    found = [c for s in python_sources(besides=(store.path,)) for c in permission_checks(s)]
    assert found == [], "roles are compared with PERMISSIONS in observations.store.may only"


# ----- MRC power grades ---------------------------------------------------------------------


def _mrc_words() -> set[str]:
    """The grade words distinctive enough to be a copy of the scale, not everyday speech."""
    return {MRC_POWER_LABELS[1].split()[0], "gravity eliminated", "against gravity"}


def mrc_label_copies(source: Source) -> list[str]:
    found = []
    words = _mrc_words()
    for node in ast.walk(source.tree()):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            text = node.value.lower()
            if any(w in text for w in words):
                found.append(f"{source.name}:{node.lineno}: {node.value!r}")
    return found


def test_mrc_power_labels_are_written_once() -> None:
    found = [
        c for s in python_sources(besides=(ROOT / "vocabulary.py",)) for c in mrc_label_copies(s)
    ]
    assert found == [], "the MRC grades' words are vocabulary.MRC_POWER_LABELS only"


def test_mrc_detector_finds_a_copy() -> None:
    text = 'MRC = {1: "1 — flicker", 2: "2 gravity eliminated", 3: "3 — against gravity"}\n'
    assert len(mrc_label_copies(Source(SCREENS / "copy.py", text))) == 3


# ----- red-flag side effects ----------------------------------------------------------------


def red_flag_copies_py(source: Source) -> list[str]:
    """Another collection naming every red-flag side effect (members or their values)."""
    names = {s.name for s in RED_FLAG_SIDE_EFFECTS}
    values = {s.value for s in RED_FLAG_SIDE_EFFECTS}
    found = []
    for node in ast.walk(source.tree()):
        items = _collection_items(node)
        if not items or isinstance(node, ast.Call):
            continue
        members = {_attribute_of(i, "SideEffect") for i in items}
        strings = {i.value for i in items if isinstance(i, ast.Constant)}
        if names <= members or values <= strings:
            found.append(f"{source.name}:{node.lineno}: the red flags again")
    return found


def red_flag_copies_yaml(source: Source) -> list[str]:
    values = {s.value for s in RED_FLAG_SIDE_EFFECTS}
    found = []
    for _, node in _yaml_nodes(source.text):
        if isinstance(node, yaml.SequenceNode):
            items = {i.value for i in node.value if isinstance(i, yaml.ScalarNode)}
            if values <= items:
                found.append(f"{source.name}:{node.start_mark.line + 1}: the red flags again")
    return found


def test_red_flag_side_effects_are_written_once() -> None:
    vocabulary = ROOT / "vocabulary.py"
    found = [c for s in python_sources(besides=(vocabulary,)) for c in red_flag_copies_py(s)]
    found += [c for s in yaml_sources() for c in red_flag_copies_yaml(s)]
    assert found == [], "the red flags are vocabulary.RED_FLAG_SIDE_EFFECTS only"


def test_red_flag_detectors_find_a_copy() -> None:
    listed = ", ".join(sorted(s.value for s in RED_FLAG_SIDE_EFFECTS))
    rule = f"rules:\n  - condition:\n      items: [{listed}]\n"
    assert red_flag_copies_yaml(Source(ROOT / "copy.yaml", rule)) == [
        "copy.yaml:3: the red flags again"
    ]
    members = ", ".join(f"SideEffect.{s.name}" for s in RED_FLAG_SIDE_EFFECTS)
    assert len(red_flag_copies_py(Source(ROOT / "copy.py", f"RED = {{{members}}}\n"))) == 1


# ----- the 4-hour peak ----------------------------------------------------------------------


def four_hour_copies(source: Source) -> list[str]:
    """``timedelta(hours=4)`` on a screen: the peak is the peak window, not four hours."""
    found = []
    for node in ast.walk(source.tree()):
        if isinstance(node, ast.Call) and (
            (isinstance(node.func, ast.Name) and node.func.id == "timedelta")
            or (isinstance(node.func, ast.Attribute) and node.func.attr == "timedelta")
        ):
            for keyword in node.keywords:
                if keyword.arg == "hours" and _number(keyword.value) == 4:
                    found.append(f"{source.name}:{node.lineno}: timedelta(hours=4)")
    return found


def test_screens_take_the_peak_from_the_peak_window() -> None:
    found = [c for s in python_sources() if _on_screens(s) for c in four_hour_copies(s)]
    assert found == [], "the 4-hour peak is the peak window (observations/limits.yaml trial_day)"


def test_four_hour_detector_finds_a_copy() -> None:
    text = "peak = given + timedelta(hours=4)\nlater = datetime.timedelta(hours=4.0)\n"
    assert len(four_hour_copies(Source(SCREENS / "copy.py", text))) == 2


# ----- the owners themselves ----------------------------------------------------------------


@pytest.mark.parametrize(
    "owner", [TABLE_FILE, LIMITS_FILE, RULES_FILE], ids=lambda p: p.relative_to(ROOT).as_posix()
)
def test_owner_tables_write_no_key_twice(owner: Path) -> None:
    """YAML keeps the last of two equal keys silently: a number written twice in its own table."""
    twice = []
    for _, node in _yaml_nodes(owner.read_text(encoding="utf-8")):
        if isinstance(node, yaml.MappingNode):
            keys = [k.value for k, _ in node.value]
            twice += [k for k in set(keys) if keys.count(k) > 1]
    assert twice == []


def test_detectors_read_every_floor() -> None:
    """The checks above are only as good as the files they read."""

    def names(sources: list[Source]) -> set[str]:
        return {s.name.split("/")[0] for s in sources}

    assert {"devices", "rules", "observations", "monitor", SCREENS.name} <= names(python_sources())
    assert {"vocabulary.py", "dashboard.py", "measurement_limits.py"} <= names(python_sources())
    assert {"rules", "observations", "measurement_limits.yaml"} <= names(yaml_sources())
