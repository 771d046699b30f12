"""The ward's beds from the record: every bed in monitoring as a tile model, most urgent first.

A handful of statements for the whole ward each second; the 30-minute trend of every bed in
one statement, kept for chart_refresh_seconds. Layout is in `screens.bed_tiles` (tiles) and
`screens/ward.py` (the page).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import streamlit as st

from observations.readings import TrendBucket
from observations.record import TrialRecord
from observations.set_scores import SetScoreView
from observations.views import AlarmView, LatestValue, ObservationSetView, TrialView
from rules.rule_set import News2Condition, ObservationOverdueCondition
from screens.bed_tiles import (
    BedTile,
    Numeric,
    alarms_by_numeric,
    banner_of,
    bp_numeric,
    due_line,
    inop_of,
    news2_numeric,
    value_numeric,
    ward_order,
    window_of,
)
from screens.display import DisplaySettings
from screens.nurse_view import device_state_text, get_rule_set, last_complete_news2
from vocabulary import Parameter, TrialStatus

TILE_PARAMETERS = (
    Parameter.SPO2,
    Parameter.PULSE_RATE,
    Parameter.SYSTOLIC,
    Parameter.DIASTOLIC,
    Parameter.RR,
)
TREND_PARAMETERS = (Parameter.SPO2, Parameter.PULSE_RATE)


def rule_groups() -> tuple[frozenset[str], frozenset[str]]:
    """The running rule set's NEWS2 rules (they colour the NEWS2 numeric) and its rules about
    the observation round (technical, but not a device's INOP)."""
    rules = get_rule_set().rules
    news2 = frozenset(r.id for r in rules if isinstance(r.condition, News2Condition))
    rounds = frozenset(r.id for r in rules if isinstance(r.condition, ObservationOverdueCondition))
    return news2, rounds


def trend_window(now: datetime, settings: DisplaySettings) -> tuple[datetime, datetime]:
    """The trend's span: the last ``ward_trend_minutes``, its start on a bucket edge, so that
    every refresh inside one bucket asks the same question (and the cache answers it)."""
    bucket = settings.ward_trend_bucket_seconds
    span = timedelta(minutes=settings.ward_trend_minutes)
    earliest = (now - span).timestamp()
    start = datetime.fromtimestamp(earliest - earliest % bucket, UTC)
    return start, start + span + timedelta(seconds=bucket)


# The whole 30 minutes are asked for again this often (late readings, a database that was
# away, reach the older buckets then); in between, only the buckets since the last question.
FULL_TREND_EVERY_SECONDS = 60.0


@dataclass
class _Trend:
    """What this server holds of one ward's trend: buckets by trial, parameter and start."""

    full_at: float  # monotonic time of the last question for the whole window
    tail_at: float  # ... and of the last question for its newest buckets
    tail_from: datetime  # the first bucket that may still change
    buckets: dict[int, dict[Parameter, dict[datetime, TrendBucket]]]


class WardTrends:
    """Every bed's trend, one statement at a time, shared by every screen of this server.

    A trend does not change in a second: the page asks at most every chart_refresh_seconds,
    and then only for the buckets not yet complete (a few rows a bed); the whole window once a
    minute. Thread-safe: every browser session of the server refreshes through it.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._held: dict[tuple[str, tuple[int, ...], float], _Trend] = {}

    def get(
        self,
        record: TrialRecord,
        trial_ids: tuple[int, ...],
        start: datetime,
        end: datetime,
        settings: DisplaySettings,
        now: float | None = None,
    ) -> dict[int, dict[Parameter, list[TrendBucket]]]:
        bucket = settings.ward_trend_bucket_seconds
        key = (str(record.store.engine.url), trial_ids, bucket)
        clock = time.monotonic() if now is None else now
        step = timedelta(seconds=bucket)
        with self._lock:
            held = self._held.get(key)
            if held is None or clock - held.full_at >= FULL_TREND_EVERY_SECONDS:
                found = record.readings.trends(trial_ids, TREND_PARAMETERS, start, end, bucket)
                held = _Trend(
                    clock,
                    clock,
                    end - 2 * step,
                    {
                        t: {p: {b.start: b for b in found[t][p]} for p in TREND_PARAMETERS}
                        for t in trial_ids
                    },
                )
                self._held = {key: held} | {
                    k: v for k, v in self._held.items() if k[0] != key[0]
                }  # one ward per database
            elif clock - held.tail_at >= settings.chart_refresh_seconds:
                since = max(held.tail_from, start)
                found = record.readings.trends(trial_ids, TREND_PARAMETERS, since, end, bucket)
                for trial_id in trial_ids:
                    for parameter in TREND_PARAMETERS:
                        kept = held.buckets[trial_id][parameter]
                        for moment in [m for m in kept if m >= since]:
                            del kept[moment]
                        kept.update((b.start, b) for b in found[trial_id][parameter])
                held.tail_at, held.tail_from = clock, end - 2 * step
            return {
                trial_id: {
                    parameter: [b for moment, b in sorted(kept.items()) if start <= moment < end]
                    for parameter, kept in held.buckets[trial_id].items()
                }
                for trial_id in trial_ids
            }

    def forget(self, *, tail_only: bool = False) -> None:
        """Ask again at the next refresh: the newest buckets only, or the whole window."""
        with self._lock:
            if not tail_only:
                self._held.clear()
            for held in self._held.values():
                held.tail_at = float("-inf")


@st.cache_resource
def ward_trend_store() -> WardTrends:
    """One per server process."""
    return WardTrends()


def ward_trends(
    record: TrialRecord,
    trial_ids: tuple[int, ...],
    start: datetime,
    end: datetime,
    settings: DisplaySettings,
) -> dict[int, dict[Parameter, list[TrendBucket]]]:
    """Every bed's trend (see `WardTrends`): at most chart_refresh_seconds old."""
    return ward_trend_store().get(record, trial_ids, start, end, settings)


def trials_in_monitoring(record: TrialRecord, settings: DisplaySettings) -> list[TrialView]:
    """The trials in monitoring: which ones, asked every refresh (one light query); their
    details (patient, bed, injection, window), which change rarely and cost the record three
    statements a trial, kept for chart_refresh_seconds or until the set of trials changes."""
    ids = tuple(sorted(record.trials.ids_with_status({TrialStatus.MONITORING})))
    if not ids:
        return []
    period = int(datetime.now(UTC).timestamp() // settings.chart_refresh_seconds)
    return _trial_views(record, str(record.store.engine.url), ids, period)


@st.cache_data(show_spinner=False, max_entries=16)
def _trial_views(
    _record: TrialRecord, database: str, ids: tuple[int, ...], period: int
) -> list[TrialView]:
    del database, period  # the cache key only
    return [t for t in _record.trials.list({TrialStatus.MONITORING}) if t.id in ids]


def ward_tiles_model(
    record: TrialRecord,
    settings: DisplaySettings,
    now: datetime,
    trials: list[TrialView] | None = None,
) -> list[BedTile]:
    """Every bed in monitoring as a tile, most urgent first.

    A handful of statements for the whole ward (which trials, active alarms, device states and
    assignments, newest values, the monitor's scores; the trial details and the trend when
    their cache runs out), plus per bed its current observation sets and the monitor's
    schedule judgement (the record has no ward-wide query for those two yet).
    """
    zone = record.settings.ward_timezone
    trials = trials_in_monitoring(record, settings) if trials is None else trials
    if not trials:
        return []
    ids = [t.id for t in trials]
    alarms = record.alarms.active()
    states = record.services.device_states()
    labels = {a.source: a.label for a in record.trials.active_assignments()}
    latest = record.readings.latest_for_trials(ids, TILE_PARAMETERS)
    scores = record.set_scores.for_trials(ids)
    start, end = trend_window(now, settings)
    trends = ward_trends(record, tuple(ids), start, end, settings)
    news2_rules, round_rules = rule_groups()
    tiles = []
    for trial in trials:
        mine = [a for a in alarms if a.trial_id == trial.id]
        sets = record.observations.list(trial.id)
        judgement = record.set_scores.schedule(trial.id) if trial.injection is not None else None
        due, overdue = due_line(
            trial.injection is not None,
            judgement is not None,
            judgement.next_due if judgement else None,
            now,
            zone,
        )
        devices = [
            device_state_text(s, now, labels.get(s.source))
            for s in states
            if s.trial_id == trial.id
        ]
        tiles.append(
            BedTile(
                trial_id=trial.id,
                bed=trial.bed,
                patient=trial.patient,
                numerics=numerics(
                    trial,
                    latest[trial.id],
                    mine,
                    sets,
                    scores.get(trial.id, {}),
                    news2_rules,
                    now,
                    settings,
                    record,
                ),
                banner=banner_of(mine, now),
                inop=inop_of(mine, now, round_rules),
                devices=" · ".join(devices) if devices else "No device state reported",
                due=due,
                overdue=overdue,
                window=window_of(trial, now),
                trend=trends.get(trial.id, {}),
                alarms=tuple(mine),
            )
        )
    return ward_order(tiles)


def numerics(
    trial: TrialView,
    latest: dict[Parameter, LatestValue],
    alarms: list[AlarmView],
    sets: list[ObservationSetView],  # the trial's current observation sets
    scores: dict[int, SetScoreView],  # the monitor's judgement of each set, by set id
    news2_rules: frozenset[str],
    now: datetime,
    settings: DisplaySettings,
    record: TrialRecord,
) -> tuple[Numeric, ...]:
    """SpO2, pulse, BP, RR and NEWS2, each with its age and its alarm's colour."""
    coloured = alarms_by_numeric(alarms, news2_rules)
    stale_after = settings.stale_after_seconds
    scored = last_complete_news2(sets, scores)
    newest = max(sets, key=lambda s: s.measured_at, default=None)
    unscored = newest is not None and newest.id not in scores
    total, measured = (scored[1].total, scored[0].measured_at) if scored else (None, None)
    return (
        value_numeric(
            Parameter.SPO2, "SpO2 %", latest, now, stale_after, coloured.get(Parameter.SPO2.value)
        ),
        value_numeric(
            Parameter.PULSE_RATE,
            "Pulse /min",
            latest,
            now,
            stale_after,
            coloured.get(Parameter.PULSE_RATE.value),
        ),
        bp_numeric(latest, now, coloured.get(Parameter.SYSTOLIC.value)),
        value_numeric(
            Parameter.RR, "RR /min", latest, now, stale_after, coloured.get(Parameter.RR.value)
        ),
        news2_numeric(total, measured, unscored, now, coloured.get("news2")),
    )
