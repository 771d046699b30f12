"""Fixtures of the page tests."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def no_embedded_monitor(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every page runs inside dashboard.py; the tests write what a monitor would (tests/monitor
    covers the monitor service)."""
    monkeypatch.setenv("ITBMON_EMBEDDED_MONITOR", "0")
