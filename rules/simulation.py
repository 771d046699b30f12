"""A deterministic simulated trial day (normal patient), for tests, demos and the benchmark.

Pure: the caller gives the start time and the seed.
"""

from __future__ import annotations

import csv
import io
import random
from datetime import UTC, datetime, timedelta

from rules.events import (
    Acknowledgement,
    Injection,
    ObservationSet,
    Reading,
    TrialEvent,
    WindowClosed,
    WindowExtension,
)
from rules.rule_set import RuleSet, default_rule_set
from rules.schedule import ObservationSchedule
from vocabulary import Consciousness, Parameter, Poss


def due_after_injection_min(rules: RuleSet, until_min: float) -> tuple[float, ...]:
    """The schedule's due times (minutes after the injection) up to `until_min`, as the
    rules' observation schedule generates them: the simulation never writes its own."""
    injection = datetime(2000, 1, 1, tzinfo=UTC)  # any instant: only the offsets are kept
    schedule = ObservationSchedule(rules.schedule)
    schedule.start(injection)
    end = injection + timedelta(minutes=until_min)
    return tuple(
        (due.time - injection).total_seconds() / 60
        for due in schedule.due_times(end)
        if due.time <= end
    )


def normal_day(
    start: datetime,
    *,
    seed: int = 0,
    baseline_min: float = 20,
    after_injection_min: float | None = None,
    sets_at_min: tuple[float, ...] | None = None,
    set_early_min: float = 2,
    dose_mcg: float = 50,
    rules: RuleSet | None = None,
) -> list[TrialEvent]:
    """A patient who tolerates the dose: 1 Hz SpO2 and pulse in the normal range, a baseline
    set 10 minutes before the injection, and a full set `set_early_min` before every due time.
    Sets take SpO2 and pulse from the stream reading at the same second. By default the day
    runs a minute past the rules' monitoring window and a set meets each of the rules' due
    times in it."""
    rules = rules or default_rule_set()
    if after_injection_min is None:
        after_injection_min = rules.monitoring_window.default_min + 1
    if sets_at_min is None:
        sets_at_min = due_after_injection_min(rules, after_injection_min)
    rng = random.Random(seed)  # noqa: S311 -- simulated vitals, not security
    injection = start + timedelta(minutes=baseline_min)
    end = injection + timedelta(minutes=after_injection_min)
    set_times = {injection - timedelta(minutes=10)} | {
        injection + timedelta(minutes=m - set_early_min) for m in sets_at_min
    }
    events: list[TrialEvent] = []
    seconds = int((end - start).total_seconds())
    for second in range(seconds + 1):
        time = start + timedelta(seconds=second)
        events.append(Reading(time, Parameter.SPO2, float(rng.randint(95, 99))))
        events.append(Reading(time, Parameter.PULSE_RATE, float(rng.randint(60, 85))))
        if time == injection:
            events.append(Injection(time, dose_mcg))
        if time in set_times:
            events.append(
                ObservationSet(
                    time,
                    rr=float(rng.randint(13, 18)),
                    on_oxygen=False,
                    systolic=float(rng.randint(118, 132)),
                    diastolic=float(rng.randint(70, 82)),
                    consciousness=Consciousness.ALERT,
                    temp=round(rng.uniform(36.5, 37.2), 1),
                    poss=rng.choice([Poss.AWAKE, Poss.ASLEEP]),
                    power_left_leg=4,
                    power_right_leg=4,
                    power_left_arm=5,
                    power_right_arm=5,
                    side_effects=frozenset(),
                )
            )
    return events


def to_timeline_csv(events: list[TrialEvent]) -> str:
    """The `python -m rules replay` format (time, parameter, value, flags)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["time", "parameter", "value", "flags"])
    for event in events:
        time = event.time.isoformat()
        if isinstance(event, Reading):
            value = "" if event.value is None else f"{event.value:g}"
            writer.writerow(
                [time, event.parameter.value, value, ";".join(sorted(f.value for f in event.flags))]
            )
        elif isinstance(event, Injection):
            writer.writerow([time, "injection", f"{event.dose_mcg:g}", ""])
        elif isinstance(event, Acknowledgement):
            writer.writerow([time, "acknowledge", event.rule_id, ""])
        elif isinstance(event, WindowExtension):
            writer.writerow([time, "extend_window", f"{event.minutes:g}", ""])
        elif isinstance(event, ObservationSet):
            for parameter, value in event.present().items():
                if parameter is Parameter.ON_OXYGEN:
                    text = "1" if value else "0"
                elif isinstance(value, float):
                    text = f"{value:g}"
                else:
                    text = str(value)
                writer.writerow([time, parameter.value, text, ""])
            if event.side_effects is not None:
                items = sorted(event.side_effects) or ["none"]
                for item in items:
                    writer.writerow([time, "side_effect", str(item), ""])
        elif isinstance(event, WindowClosed):
            continue  # not part of the replay format
    return out.getvalue()
