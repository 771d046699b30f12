"""Whole simulated trial days: a normal day raises nothing; an overdose raises its alarms."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from rules.__main__ import main
from rules.engine import TrialEngine
from rules.events import ObservationSet, Reading, TrialEvent
from rules.rule_set import default_rule_set
from rules.simulation import normal_day, to_timeline_csv
from vocabulary import Consciousness, Parameter, Poss

START = datetime(2025, 3, 1, 8, 30, tzinfo=UTC)
RULES = default_rule_set()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_normal_day_raises_nothing(seed: int) -> None:
    events = normal_day(START, seed=seed)
    engine = TrialEngine(RULES, trial_id="normal")
    out = [alarm for event in events for alarm in engine.feed(event)]
    out += engine.advance_to(events[-1].time)
    assert out == []
    assert engine.missed_observation_due_times() == []
    latest = engine.latest_news2()
    assert latest is not None
    assert latest[1].total == 0


def test_normal_day_replay_cli_prints_nothing(tmp_path: Path) -> None:
    path = tmp_path / "day.csv"
    path.write_text(to_timeline_csv(normal_day(START, seed=3)))
    out, err = io.StringIO(), io.StringIO()
    assert main(["replay", str(path)], stdout=out, stderr=err) == 0, err.getvalue()
    assert out.getvalue() == ""


def test_missing_a_set_raises_exactly_obs_overdue_at_the_right_second() -> None:
    sets = (15, 30, 45, 90, 120)  # the +60 set is forgotten
    events = normal_day(START, seed=4, sets_at_min=sets, after_injection_min=100)
    engine = TrialEngine(RULES)
    out = [alarm for event in events for alarm in engine.feed(event)]
    out += engine.advance_to(events[-1].time)
    injection = START + timedelta(minutes=20)
    assert [(a.time, a.event.value, a.rule_id) for a in out] == [
        (injection + timedelta(minutes=65), "raised", "obs_overdue"),
        (injection + timedelta(minutes=75), "escalated", "obs_overdue"),
        (injection + timedelta(minutes=88), "resolved", "obs_overdue"),  # the +90 set, late for 60
    ]


def _overdose(events: list[TrialEvent], injection: datetime) -> list[TrialEvent]:
    """From +60 min: SpO2 89-90 %, RR 7, POSS 3, V on ACVPU (respiratory depression)."""
    onset = injection + timedelta(minutes=60)
    changed: list[TrialEvent] = []
    for event in events:
        if event.time < onset:
            changed.append(event)
        elif isinstance(event, Reading) and event.parameter is Parameter.SPO2:
            changed.append(Reading(event.time, Parameter.SPO2, 89.0 + event.time.second % 2))
        elif isinstance(event, ObservationSet):
            changed.append(ObservationSet(
                event.time, rr=7.0, on_oxygen=False, systolic=event.systolic,
                consciousness=Consciousness.VOICE, temp=event.temp, poss=Poss.FREQUENTLY_DROWSY,
                side_effects=frozenset(),
            ))
        else:
            changed.append(event)
    return changed


def test_respiratory_depression_raises_its_alarms_at_the_right_second() -> None:
    injection = START + timedelta(minutes=20)
    events = _overdose(normal_day(START, seed=5, after_injection_min=100), injection)
    engine = TrialEngine(RULES)
    out = [alarm for event in events for alarm in engine.feed(event)]
    raised = [(a.time, a.rule_id) for a in out if a.event.value == "raised"]
    onset = injection + timedelta(minutes=60)
    first_set = injection + timedelta(minutes=88)  # the +90 set, taken 2 min early
    # SpO2 is 89-90 from the onset: severe band held for 15 s.
    assert raised[0] == (onset + timedelta(seconds=15), "spo2_severe")
    assert sorted(r for t, r in raised if t == first_set) == [
        "consciousness", "news2_high", "rr_severe_low", "sedation"]
    assert len(raised) == 5


def test_replay_output_is_valid_json_with_every_key(tmp_path: Path) -> None:
    injection = START + timedelta(minutes=20)
    events = _overdose(normal_day(START, seed=6, after_injection_min=70), injection)
    path = tmp_path / "overdose.csv"
    path.write_text(to_timeline_csv(events))
    out, err = io.StringIO(), io.StringIO()
    assert main(["replay", str(path)], stdout=out, stderr=err) == 0, err.getvalue()
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert lines
    assert [x["time"] for x in lines] == sorted(x["time"] for x in lines)
    for line in lines:
        assert list(line) == ["time", "event", "rule", "priority", "kind", "message", "evidence"]
