"""The floors of the house (docs/architecture.md): every import goes down, never back up.

Read from the source (every ``import``, including those inside functions), so a lazy import
cannot hide an arrow pointing the wrong way.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
OURS = (
    "vocabulary",
    "measurement_limits",
    "devices",
    "rules",
    "observations",
    "monitor",
    "screens",
    "dashboard",
)

# What each floor may import of ours and of the libraries that are one floor's business.
MAY_IMPORT: dict[str, frozenset[str]] = {
    "vocabulary": frozenset(),
    # The plausible ranges and the quiet time: read by devices, rules and the record alike.
    "measurement_limits": frozenset({"vocabulary"}),
    "devices": frozenset({"vocabulary", "measurement_limits"}),
    "rules": frozenset({"vocabulary", "measurement_limits"}),
    "observations": frozenset(
        {"vocabulary", "measurement_limits", "rules", "sqlalchemy", "alembic"}
    ),
    "monitor": frozenset({"vocabulary", "measurement_limits", "devices", "rules", "observations"}),
    "screens": frozenset(
        {"vocabulary", "measurement_limits", "rules", "observations", "streamlit", "plotly"}
    ),
    "dashboard": frozenset(
        {"vocabulary", "measurement_limits", "observations", "screens", "monitor", "streamlit"}
    ),
}
# Named exceptions, each with its reason: a module of a floor above that a floor may use.
ALSO_MAY_IMPORT: dict[str, dict[str, str]] = {
    "screens": {
        # Trial set-up lists serial ports, scans for Bluetooth devices and checks a typed
        # source with the devices' own words before the record is asked to assign it.
        "devices.serial_port": "device discovery on Trial set-up",
        "devices.ble": "device discovery on Trial set-up",
        "devices.sources": "the devices' check of a source text",
        # The alarm review's what-if section runs the replay the command runs.
        "monitor.what_if": "the what-if replay on the Alarm review page",
    },
    "monitor": {
        # The monitor keeps streaming while the record cannot be written: it must know the
        # record's "database unavailable" error to hold readings back and retry.
        "sqlalchemy.exc": "the record's 'unavailable' error, to retry",
    },
}
GUARDED = frozenset(OURS) | {"streamlit", "plotly", "sqlalchemy", "alembic"}


def _floor(path: Path) -> str:
    return path.relative_to(ROOT).parts[0].removesuffix(".py")


def _imports(path: Path) -> list[tuple[int, str]]:
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
    return found


def _production_files() -> list[Path]:
    files = [ROOT / "vocabulary.py", ROOT / "measurement_limits.py", ROOT / "dashboard.py"]
    for floor in ("devices", "rules", "observations", "monitor", "screens"):
        files += sorted((ROOT / floor).rglob("*.py"))
    return files


def wrong_arrows() -> list[str]:
    wrong = []
    for path in _production_files():
        floor = _floor(path)
        allowed = MAY_IMPORT[floor] | {floor}
        named = ALSO_MAY_IMPORT.get(floor, {})
        for line, module in _imports(path):
            top = module.split(".")[0]
            if top not in GUARDED or top in allowed:
                continue
            if any(module == m or module.startswith(m + ".") for m in named):
                continue
            wrong.append(f"{path.relative_to(ROOT)}:{line}: {floor} imports {module}")
    return wrong


def test_every_import_goes_down_the_floors():
    assert wrong_arrows() == []


def test_the_check_sees_an_arrow_pointing_up(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    # The check itself: a record module importing the devices is caught, even inside a function.
    fake_root = tmp_path / "tree"
    for floor in ("devices", "rules", "observations", "monitor", "screens"):
        (fake_root / floor).mkdir(parents=True)
    (fake_root / "vocabulary.py").write_text("")
    (fake_root / "measurement_limits.py").write_text("import vocabulary\n")
    (fake_root / "dashboard.py").write_text("import streamlit\n")
    (fake_root / "observations" / "trials.py").write_text(
        "def check(text):\n    from devices.sources import parse_source\n    return parse_source\n"
    )
    monkeypatch.setattr(sys.modules[__name__], "ROOT", fake_root)
    assert wrong_arrows() == [
        "observations/trials.py:2: observations imports devices.sources",
    ]


@pytest.mark.parametrize(
    ("module", "never"),
    [
        ("observations.record", ("devices", "monitor", "screens", "streamlit")),
        ("rules.engine", ("devices", "observations", "monitor", "screens", "sqlalchemy")),
        ("devices.sources", ("rules", "observations", "monitor", "screens", "sqlalchemy")),
        ("monitor.service", ("screens", "streamlit")),
    ],
)
def test_importing_a_floor_loads_nothing_above_it(module: str, never: tuple[str, ...]):
    # What Python actually loads, in a fresh interpreter: imports made by imported libraries
    # or by package __init__ files count too.
    code = (
        f"import sys, {module}\n"
        f"print(sorted({{m.split('.')[0] for m in sys.modules}} & {set(never)!r}))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]", result.stdout
