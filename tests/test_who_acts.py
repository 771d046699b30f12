"""Who may act is issued by the record only: no production code outside observations/users.py
builds an Actor, and the screens never take the monitor's or the demo's identities."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PRODUCTION = ("dashboard.py", "screens", "monitor", "observations", "devices", "rules")
SCREENS = ("dashboard.py", "screens")
SYSTEM_IDENTITIES = {"service_actor", "demo_clinician", "demo_nurse"}


def _files(*names: str) -> list[Path]:
    found: list[Path] = []
    for name in names:
        path = ROOT / name
        found.extend([path] if path.is_file() else sorted(path.rglob("*.py")))
    return found


def _calls(path: Path) -> list[tuple[str, int]]:
    names = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            names.append((name, node.lineno))
    return names


def test_only_the_accounts_module_issues_an_actor():
    builders = [
        f"{path.relative_to(ROOT)}:{line}"
        for path in _files(*PRODUCTION)
        if path.name != "users.py" or path.parent.name != "observations"
        for name, line in _calls(path)
        if name == "Actor"
    ]
    assert builders == []


def test_screens_never_take_the_monitors_or_the_demos_identity():
    taken = [
        f"{path.relative_to(ROOT)}:{line} {name}"
        for path in _files(*SCREENS)
        for name, line in _calls(path)
        if name in SYSTEM_IDENTITIES
    ]
    assert taken == []


def test_the_check_finds_what_it_looks_for(tmp_path: Path):
    sample = tmp_path / "sample.py"
    sample.write_text("a = Actor(1, 'x', set())\nb = record.users.service_actor()\n")
    assert sorted(n for n, _ in _calls(sample)) == ["Actor", "service_actor", "set"]
