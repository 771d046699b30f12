# ruff: noqa: F811  (pytest fixtures imported from tests/browser/seed.py)
"""Trial monitor: the patient's tile (stale as stale, coloured by alarms), their alarms, the
timeline, downsampling."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
from streamlit.testing.v1 import AppTest

from observations.alarms import AlarmEventIn
from observations.record import TrialRecord
from screens.charts import downsample_min_max, with_gaps
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
from tests.screens.apps import open_at
from vocabulary import AlarmEventType, AlarmKind, Priority

ROOT = Path(__file__).resolve().parents[2]


def page(actor: object) -> AppTest:
    at = open_at("trial_monitor", actor)
    return at


def tile(at: AppTest) -> str:
    """The patient's tile (the ward's bed tile, as HTML)."""
    return next(h.proto.body for h in at.get("html") if 'class="wb ' in h.proto.body)


def numerics(at: AppTest) -> dict[str, tuple[str, str]]:
    """Each numeric of the tile: key -> (value shown, its classes)."""
    found = re.findall(
        r'<div class="(wb-num wb-k-(\w+)[^"]*)"><div class="wb-lab">.*?'
        r'data-value="([^"]*)"',
        tile(at),
    )
    return {key: (value, classes) for classes, key, value in found}


def test_current_values_and_stale(record: TrialRecord, people: People):
    trial = monitoring_trial(record, people)
    now = record.store.now()
    for seconds in range(120, 40, -1):
        add_vitals(record, trial.id, now - timedelta(seconds=seconds), 96, 70)
    record.observations.record(
        people.nurse,
        trial.id,
        {
            "measured_at": now - timedelta(minutes=1),
            "rr": 14,
            "spo2": 96,
            "on_oxygen": False,
            "systolic": 122,
            "diastolic": 78,
            "pulse_rate": 71,
            "consciousness": "A",
            "temp": 36.8,
            "side_effects": ["headache"],
        },
    )
    record.alarms.record_events(
        record.users.service_actor(),
        [
            AlarmEventIn(
                trial.id,
                "spo2_low",
                AlarmEventType.RAISED,
                now - timedelta(seconds=10),
                Priority.HIGH,
                AlarmKind.PHYSIOLOGICAL,
                "Critical desaturation: SpO2 85 % or below",
                {"parameter": "spo2", "level": "critical_desaturation", "value": 84},
                "test",
            )
        ],
    )
    judge_as_the_monitor(record, trial.id)  # the set's NEWS2 is the monitor's
    beat(record)
    at = page(people.nurse).run()
    assert not at.exception
    values = numerics(at)
    # The oximeter fell silent 41 s ago: stale, never shown as current.
    assert values["spo2"][0] == "STALE" and values["pulse_rate"][0] == "STALE"
    assert "was 96, 4" in tile(at)  # "was 96, 41 s" (or 42 s)
    assert values["systolic"][0] == "122/78" and values["rr"][0] == "14"
    assert values["news2"][0] == "0"
    # The SpO2 numeric carries its waiting high alarm's colour; the tile's banner names it.
    assert "wb-p-high wb-unack" in values["spo2"][1]
    assert "wb-s-high" in tile(at) and "Critical desaturation" in tile(at)
    assert any("Temp °C 36.8" in c.value for c in at.caption)
    assert at.get("plotly_chart")
    assert "JONES, Sam" in tile(at) and "NHS 943 476 5919" in tile(at)
    # This patient's alarm in full beneath, with the form that acknowledges it.
    assert any(b.label.startswith("Acknowledge") for b in at.button)


def test_missing_values_are_dashes(record: TrialRecord, people: People):
    monitoring_trial(record, people, device=None)
    at = page(people.nurse).run()
    assert not at.exception
    values = numerics(at)
    assert values["spo2"][0] == "—" and values["news2"][0] == "—"
    assert "None" not in tile(at)


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
