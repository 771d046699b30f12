"""Candidate rule files for the what-if tests: the shipped rule file with small changes, as a
version of its own."""

from __future__ import annotations

from pathlib import Path

from rules.rule_set import default_rule_set

RULES = Path(__file__).resolve().parents[1] / "rules" / "default_rules.yaml"
CANDIDATE_VERSION = "candidate-1"
# The critical desaturation's plain delay lengthened from 5 s to 20 s.
CRITICAL_DELAY = (
    "          max_delay_s: 5\n          clears_at: 87",
    "          max_delay_s: 20\n          clears_at: 87",
)


def candidate_text(*changes: tuple[str, str]) -> str:
    """The shipped rule file with each (old, new) replaced once, as version "candidate-1"."""
    text = RULES.read_text(encoding="utf-8")
    in_force = f'version: "{default_rule_set().version}"'
    assert text.count(in_force) == 1, in_force
    text = text.replace(in_force, f'version: "{CANDIDATE_VERSION}"')
    for old, new in changes:
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    return text
