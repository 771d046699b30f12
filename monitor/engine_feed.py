"""What passes between devices, the rules engine and the record, converted in one place.

A device ``Measurement`` becomes record rows (``ReadingIn``) and engine ``Reading``s; a recorded
observation set becomes the engine's ``ObservationSet``; an engine ``AlarmEvent`` becomes the
record's ``AlarmEventIn``; what the engine judged of the sets, the due times and the baseline
becomes the record's ``SetScoreIn`` and ``ScheduleJudgementIn``. Pure functions: no session, no
clock.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, NamedTuple

from devices.measurement import ConnectionChange, Measurement
from observations.alarms import AlarmEventIn
from observations.entries import ReadingIn
from observations.set_scores import ScheduleJudgementIn, SetScoreIn
from observations.views import ObservationSetView
from rules.events import AlarmEvent, DeviceLink, ObservationSet, Reading
from vocabulary import Consciousness, Parameter, Poss, QualityFlag, SideEffect

if TYPE_CHECKING:
    from rules.engine import SetScore, TrialEngine

# Stored from devices; the pleth waveform is drawn by the device itself and not kept.
STORED_PARAMETERS = frozenset(
    {
        Parameter.SPO2,
        Parameter.PULSE_RATE,
        Parameter.SYSTOLIC,
        Parameter.DIASTOLIC,
        Parameter.MEAN_ARTERIAL,
        Parameter.PERFUSION_INDEX,
    }
)
# What the engine judges from a device; the rest (pleth, PI, MAP) is stored or shown only.
ENGINE_PARAMETERS = frozenset(
    {Parameter.SPO2, Parameter.PULSE_RATE, Parameter.SYSTOLIC, Parameter.DIASTOLIC}
)
_NO_FLAGS: frozenset[QualityFlag] = frozenset()
# A blood-pressure frame's pulse is the cuff's: one instant, one judged pulse, the streamed one.
CUFF_JUDGED = ENGINE_PARAMETERS - {Parameter.PULSE_RATE}


def record_readings(trial_id: int, measurement: Measurement) -> list[ReadingIn]:
    """One record row per parameter the frame carried, missing values kept as missing.

    A cuff still inflating, or a frame without a time, is stored as nothing.
    """
    if measurement.measuring or measurement.device_time is None:
        return []
    at = measurement.device_time
    flags = frozenset(measurement.flags)
    source = measurement.source or measurement.protocol
    received = measurement.receive_time or at
    status = measurement.status or None
    if status is not None and type(status) is not dict:
        status = dict(status)  # stored as JSON: a plain dict
    rows = [
        ReadingIn(trial_id, p, float(v), at, received, source, flags, status)
        for p, v in measurement.values.items()
        if p in STORED_PARAMETERS
    ]
    if measurement.missing:
        rows += [
            ReadingIn(trial_id, p, None, at, received, source, flags, status)
            for p in measurement.missing
            if p in STORED_PARAMETERS
        ]
    return rows


class EngineFrame(NamedTuple):
    """One frame as `TrialEngine.feed_frame` takes it: the judged parameters only."""

    time: datetime
    values: dict[Parameter, float]
    missing: tuple[Parameter, ...]
    flags: frozenset[QualityFlag]


def engine_frame(measurement: Measurement) -> EngineFrame | None:
    """The engine's view of one frame: the judged parameters, flagged gaps kept as gaps; None
    when there is nothing to judge (a cuff inflating, no time)."""
    if measurement.measuring or measurement.device_time is None:
        return None
    values = measurement.values
    judged = ENGINE_PARAMETERS
    if Parameter.SYSTOLIC in values or Parameter.DIASTOLIC in values:
        judged = CUFF_JUDGED  # the cuff's pulse is stored; the oximeter's is judged
    missing = measurement.missing
    flags = measurement.flags
    return EngineFrame(
        measurement.device_time,
        {p: float(v) for p, v in values.items() if p in judged},
        tuple(p for p in missing if p in judged) if missing else (),
        frozenset(flags) if flags else _NO_FLAGS,
    )


def engine_readings(measurement: Measurement) -> list[Reading]:
    """The same frame as one `Reading` per value, then one per gap (flagged gaps kept)."""
    frame = engine_frame(measurement)
    if frame is None:
        return []
    readings = [Reading(frame.time, p, v, frame.flags) for p, v in frame.values.items()]
    return readings + [Reading(frame.time, p, None, frame.flags) for p in frame.missing]


def engine_link(
    change: ConnectionChange, device: str, parameters: frozenset[Parameter]
) -> DeviceLink:
    """A link change of the assigned device (``device``) that streams ``parameters``."""
    return DeviceLink(change.at, device, change.state, parameters, change.reason)


def engine_set(view: ObservationSetView) -> ObservationSet:
    """A recorded set as the engine judges it, at the time it was measured; its record id
    comes back with the engine's score of it."""
    return ObservationSet(
        time=view.measured_at,
        record_id=view.id,
        rr=view.rr,
        spo2=view.spo2,
        on_oxygen=view.on_oxygen,
        systolic=view.systolic,
        diastolic=view.diastolic,
        pulse_rate=view.pulse_rate,
        consciousness=Consciousness(view.consciousness) if view.consciousness else None,
        temp=view.temp,
        poss=Poss(view.poss) if view.poss else None,
        power_left_leg=view.power_left_leg,
        power_right_leg=view.power_right_leg,
        power_left_arm=view.power_left_arm,
        power_right_arm=view.power_right_arm,
        side_effects=(
            frozenset(SideEffect(s) for s in view.side_effects)
            if view.side_effects is not None
            else None
        ),
    )


def record_alarm_event(trial_id: int, event: AlarmEvent) -> AlarmEventIn:
    return AlarmEventIn(
        trial_id=trial_id,
        rule_id=event.rule_id,
        event=event.event,
        at=event.time,
        priority=event.priority,
        kind=event.kind,
        message=event.message,
        evidence=dict(event.evidence),
        rule_set_version=event.rule_set_version,
    )


def record_set_score(
    trial_id: int, score: SetScore, judged_at: datetime, rule_set_version: str
) -> SetScoreIn | None:
    """The engine's NEWS2 of a recorded set, as the record keeps it (None for a set that did
    not come from the record: there is no row to attach it to)."""
    if score.record_id is None:
        return None
    news2 = score.news2
    return SetScoreIn(
        trial_id=trial_id,
        observation_set_id=score.record_id,
        measured_at=score.measured_at,
        total=news2.total,
        band=news2.band.value,
        scores=dict(news2.scores),
        missing=tuple(news2.missing),
        spo2_scale=news2.spo2_scale,
        spo2=score.spo2,
        spo2_from=score.spo2_from,
        pulse=score.pulse,
        pulse_from=score.pulse_from,
        rule_set_version=rule_set_version,
        judged_at=judged_at,
    )


def record_schedule(
    trial_id: int, engine: TrialEngine, judged_at: datetime, injection_at: datetime | None
) -> ScheduleJudgementIn:
    """The engine's due times (statuses as of its own time) and baseline, for the record."""
    return ScheduleJudgementIn(
        trial_id=trial_id,
        judged_at=judged_at,
        rule_set_version=engine.rule_set.version,
        injection_at=injection_at,
        next_due=engine.next_observation_due(),
        due_times=tuple(engine.observation_due_times()),
        baseline={Parameter(p).value: float(v) for p, v in engine.baseline().items()},
    )


def engine_judgements(
    trial_id: int, engine: TrialEngine, judged_at: datetime, injection_at: datetime | None
) -> tuple[list[SetScoreIn], ScheduleJudgementIn]:
    """Everything the engine judged since it was last asked, for ``record.set_scores.record``:
    the scores of the sets fed since (the newest of each set), and its due times and baseline.
    Takes the engine's set scores: each one is handed out once."""
    latest: dict[int, SetScoreIn] = {}
    version = engine.rule_set.version
    for score in engine.take_set_scores():
        judged = record_set_score(trial_id, score, judged_at, version)
        if judged is not None:
            latest[judged.observation_set_id] = judged  # scored again at once: the latest wins
    return list(latest.values()), record_schedule(trial_id, engine, judged_at, injection_at)
