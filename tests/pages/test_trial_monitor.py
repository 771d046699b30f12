# ruff: noqa: F811  (pytest fixtures imported from tests/browser/seed.py)
"""Live trial monitor: current-value tiles (stale as stale), timeline, downsampling."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
from streamlit.testing.v1 import AppTest

from observations.record import TrialRecord
from pages.charts import downsample_min_max, with_gaps
from pages.shared import ACTOR_KEY
from tests.browser.seed import (  # noqa: F401  (fixtures)
    People,
    add_vitals,
    beat,
    data_dir,
    monitoring_trial,
    people,
    raise_alarm,
    record,
)
from tests.judgements import judge_as_the_monitor

ROOT = Path(__file__).resolve().parents[2]


def page(actor: object) -> AppTest:
    at = AppTest.from_file(str(ROOT / "pages" / "trial_monitor.py"), default_timeout=60)
    at.session_state[ACTOR_KEY] = actor
    return at


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def test_current_values_and_stale(record: TrialRecord, people: People):
    trial = monitoring_trial(record, people)
    now = record.store.now()
    for seconds in range(120, 40, -1):
        add_vitals(record, trial.id, now - timedelta(seconds=seconds), 96, 70)
    record.observations.record(people.nurse, trial.id, {
        "measured_at": now - timedelta(minutes=1), "rr": 14, "spo2": 96, "on_oxygen": False,
        "systolic": 122, "diastolic": 78, "pulse_rate": 71, "consciousness": "A",
        "temp": 36.8, "side_effects": ["headache"],
    })
    raise_alarm(record, trial.id, now - timedelta(seconds=10))
    judge_as_the_monitor(record, trial.id)  # the set's NEWS2 is the monitor's
    beat(record)
    at = page(people.nurse).run()
    assert not at.exception
    values = metrics(at)
    # The oximeter fell silent 41 s ago: stale, never shown as current.
    assert values["SpO2 %"] == "STALE" and values["Pulse /min"] == "STALE"
    assert any("No value for 41 s" in c.value or "No value for 42 s" in c.value
               for c in at.caption)
    assert values["BP mmHg"] == "122/78" and values["Temp °C"] == "36.8"
    assert values["NEWS2"] == "0"
    assert at.get("plotly_chart")
    assert "JONES, Sam · NHS 943 476 5919" in at.subheader[0].value


def test_missing_values_are_dashes(record: TrialRecord, people: People):
    monitoring_trial(record, people, device=None)
    at = page(people.nurse).run()
    assert not at.exception
    values = metrics(at)
    assert values["SpO2 %"] == "—" and values["NEWS2"] == "—"
    assert any("No device assigned" in c.value for c in at.caption)


def test_no_trial_yet(record: TrialRecord, people: People):
    at = page(people.nurse).run()
    assert not at.exception
    assert "No trial has started yet" in at.info[0].value


def test_downsampling_keeps_a_short_desaturation():
    start = datetime(2026, 3, 1, 8, tzinfo=UTC)
    times = pd.date_range(start, periods=6 * 3600, freq="s")
    values = np.full(len(times), 97.0)
    values[10_000:10_015] = 84.0  # 15 s desaturation
    values[15_000:15_030] = np.nan  # probe off
    frame = pd.DataFrame({"time": times, "value": values})
    small = downsample_min_max(frame, 600)
    assert len(small) <= 1300
    assert small["value"].min() == 84.0
    assert small["value"].isna().any()
    assert small["time"].is_monotonic_increasing


def test_gaps_stay_gaps():
    start = datetime(2026, 3, 1, 8, tzinfo=UTC)
    times = [start + timedelta(seconds=s) for s in (0, 1, 2, 60, 61)]
    frame = pd.DataFrame({"time": pd.to_datetime(times), "value": [95.0] * 5})
    gapped = with_gaps(frame, 12)
    assert gapped["value"].isna().sum() == 1
    assert len(gapped) == 6
