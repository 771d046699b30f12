"""A simulated pulse oximeter and blood-pressure cuff: a first-class device.

Deterministic for a given seed, scenario and start time. It yields the same ``Measurement`` and
``ConnectionChange`` objects the real transports yield; every time in them (device and receive)
is on the simulated clock, so an accelerated run produces a coherent simulated trial day.

Scenarios (times count from ``start``; the overdose drift counts from ``injection_at``):

- ``steady``: a normal day well inside normal ranges, nothing should alarm.
- ``overdose``: SpO2, pulse and blood pressure drift down through the 2nd and 3rd hours after
  injection and stay low, so the overdose rules of rules/default_rules.yaml genuinely fire.
- ``artefact``: steady, with short motion dips (< 15 s) flagged ``artifact``.
- ``probe-off``: steady, with spells of ``no_finger`` readings whose values are missing.
- ``link-loss``: steady, with spells of silence longer than the quiet time, then reconnection.
"""

from __future__ import annotations

import asyncio
import math
import random
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from devices.measurement import ConnectionChange, DeviceEvent, Measurement, build_measurement
from devices.settings import DEFAULT_QUIET_TIME_S, DEFAULT_SETTINGS, DeviceSettings
from vocabulary import ConnectionState, Parameter, QualityFlag

OXIMETER_PROTOCOL = "sim-oximeter"
CUFF_PROTOCOL = "sim-nibp"


class Scenario(StrEnum):
    STEADY = "steady"
    OVERDOSE = "overdose"
    ARTEFACT = "artefact"
    PROBE_OFF = "probe-off"
    LINK_LOSS = "link-loss"


@dataclass(frozen=True)
class SimulatorTiming:
    """Shape of the simulated day; defaults chosen so each episode shows within minutes."""

    reading_interval_s: int = 1  # continuous oximeters notify every 1-4 s
    nibp_every_min: float = 15.0  # the simulated cuff's own cycle, as a nurse sets it on a cuff
    nibp_first_after_s: int = 30
    nibp_inflation_s: int = 35  # cuff inflating ("measuring") before the result
    episode_first_after_s: int = 120  # first artefact / probe-off / link-loss episode
    episode_every_s: int = 600
    probe_off_s: int = 60
    link_loss_s: int = 30  # longer than the default 10 s quiet time
    artefact_max_s: int = 12  # motion dips stay under the 15 s SpO2 alarm delay
    overdose_onset_h: float = 1.0  # drift runs through the 2nd and 3rd hours
    overdose_trough_h: float = 3.0


@dataclass(frozen=True)
class _Vitals:
    spo2: float
    pulse: float
    systolic: float
    diastolic: float
    perfusion_index: float


def _smoothstep(x: float) -> float:
    x = min(1.0, max(0.0, x))
    return x * x * (3 - 2 * x)


class Simulator:
    """Simulated bedside devices for one patient.

    ``events()`` is an async iterator paced by ``speed`` (simulated seconds per real second;
    ``math.inf`` means no waiting). ``timeline()`` yields the same events without any waiting.
    ``duration`` bounds the run; ``None`` runs until the consumer stops iterating.
    """

    def __init__(
        self,
        scenario: Scenario | str = Scenario.STEADY,
        *,
        seed: int = 0,
        speed: float = 1.0,
        start: datetime | None = None,
        injection_at: datetime | None = None,
        duration: timedelta | None = None,
        timing: SimulatorTiming | None = None,
        settings: DeviceSettings = DEFAULT_SETTINGS,
        source: str | None = None,
    ) -> None:
        self.scenario = Scenario(scenario)
        if not speed > 0:
            raise ValueError("speed must be positive (use math.inf for no waiting)")
        self.seed = seed
        self.speed = speed
        self.start = (start or datetime.now(UTC)).astimezone(UTC)
        if self.start.tzinfo is None:
            raise ValueError("start must be timezone-aware")
        self.injection_at = (injection_at or self.start).astimezone(UTC)
        self.duration = duration
        self.timing = timing or SimulatorTiming()
        self.settings = settings
        self.oximeter_source = source or f"sim:{self.scenario}"
        self.cuff_source = f"{self.oximeter_source}/nibp"
        # The simulated oximeter streams, so it has a quiet time even where a test's settings
        # switched the watchdog off: then the table's own.
        quiet = settings.quiet_time_for("plx-continuous")
        self.quiet_time_s = quiet if quiet is not None else DEFAULT_QUIET_TIME_S

    # ------------------------------------------------------------------ pacing

    async def events(self) -> AsyncIterator[DeviceEvent]:
        loop = asyncio.get_running_loop()
        real_start = loop.time()
        for event in self.timeline():
            if math.isfinite(self.speed):
                offset = (_event_time(event) - self.start).total_seconds() / self.speed
                delay = real_start + offset - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
            yield event

    def __aiter__(self) -> AsyncIterator[DeviceEvent]:
        return self.events()

    # ------------------------------------------------------------------ the simulated day

    def timeline(self) -> Iterator[DeviceEvent]:
        rng = random.Random(self.seed)  # noqa: S311 - simulation, not security
        timing = self.timing
        noise = {"spo2": 0.0, "pulse": 0.0, "bp": 0.0, "pi": 0.0}
        episodes = _Episodes(self.scenario, timing, self.seed)
        yield from self._state(
            self.oximeter_source,
            0,
            ConnectionState.CONNECTING,
            "connecting to the simulated oximeter",
        )
        yield from self._state(
            self.oximeter_source, 0, ConnectionState.CONNECTED, "simulated oximeter streaming"
        )
        yield from self._state(
            self.cuff_source, 0, ConnectionState.CONNECTED, "simulated blood-pressure cuff ready"
        )
        link_down = False
        last_reading_s = 0
        nibp_every_s = max(1, round(timing.nibp_every_min * 60))
        second = 0
        while self.duration is None or second <= self.duration.total_seconds():
            # AR(1) noise: readings wander like real ones instead of jumping every second.
            noise["spo2"] = 0.85 * noise["spo2"] + rng.gauss(0, 0.35)
            noise["pulse"] = 0.9 * noise["pulse"] + rng.gauss(0, 0.8)
            noise["bp"] = 0.98 * noise["bp"] + rng.gauss(0, 0.5)
            noise["pi"] = 0.95 * noise["pi"] + rng.gauss(0, 0.05)
            vitals = self._vitals(second, noise)

            silent = episodes.silent(second)
            if silent and not link_down:
                link_down = True
            if link_down:
                since = second - last_reading_s
                if since == math.ceil(self.quiet_time_s):
                    yield from self._state(
                        self.oximeter_source,
                        second,
                        ConnectionState.STALE,
                        f"no reading from the oximeter for {self.quiet_time_s:g} s",
                    )
                if since == math.ceil(self.quiet_time_s) + 5:
                    yield from self._state(
                        self.oximeter_source,
                        second,
                        ConnectionState.DISCONNECTED,
                        "link lost: simulated oximeter out of range",
                    )
                    yield from self._state(
                        self.oximeter_source,
                        second,
                        ConnectionState.CONNECTING,
                        "waiting to reconnect to the simulated oximeter",
                    )
                if not silent:
                    link_down = False
                    yield from self._state(
                        self.oximeter_source,
                        second,
                        ConnectionState.CONNECTED,
                        "simulated oximeter back",
                    )
            if not silent and second % timing.reading_interval_s == 0:
                yield self._oximeter_reading(second, vitals, episodes, rng)
                last_reading_s = second

            into_cycle = (second - timing.nibp_first_after_s) % nibp_every_s
            if second >= timing.nibp_first_after_s - timing.nibp_inflation_s:
                if into_cycle == nibp_every_s - timing.nibp_inflation_s:
                    yield self._cuff_inflating(second, vitals)
                if into_cycle == 0 and second >= timing.nibp_first_after_s:
                    yield self._nibp_reading(second, vitals, rng)
            second += 1

    # ------------------------------------------------------------------ pieces

    def _at(self, second: int) -> datetime:
        return self.start + timedelta(seconds=second)

    def _state(
        self, source: str, second: int, state: ConnectionState, reason: str
    ) -> Iterator[ConnectionChange]:
        yield ConnectionChange(state, reason, self._at(second), source)

    def _vitals(self, second: int, noise: dict[str, float]) -> _Vitals:
        minutes = second / 60
        # Slow physiological swing (breathing, posture) so a normal day is not a flat line.
        swing = math.sin(2 * math.pi * minutes / 17)
        spo2, pulse = 97.3 + 0.4 * swing, 72 + 5 * swing
        systolic, diastolic, pi = 128 + 4 * swing, 78 + 2 * swing, 2.5
        if self.scenario is Scenario.OVERDOSE:
            hours = (self._at(second) - self.injection_at).total_seconds() / 3600
            onset, trough = self.timing.overdose_onset_h, self.timing.overdose_trough_h
            depth = _smoothstep((hours - onset) / (trough - onset))
            # At the trough: SpO2 ~86 % (severe desaturation), pulse ~46 (bradycardia),
            # systolic ~88 mmHg (severe hypotension).
            spo2 -= 11.5 * depth
            pulse -= 26 * depth
            systolic -= 40 * depth
            diastolic -= 22 * depth
            pi -= 1.2 * depth
        spo2 = min(100.0, spo2 + noise["spo2"])
        if self.scenario is not Scenario.OVERDOSE:
            spo2 = max(95.4, spo2)  # keep a normal day clear of every SpO2 rule
        return _Vitals(
            spo2=spo2,
            pulse=min(88.0, max(56.0, pulse + noise["pulse"]))
            if self.scenario is not Scenario.OVERDOSE
            else pulse + noise["pulse"],
            systolic=systolic + 1.5 * noise["bp"],
            diastolic=diastolic + noise["bp"],
            perfusion_index=max(0.3, pi + noise["pi"]),
        )

    def _oximeter_reading(
        self, second: int, vitals: _Vitals, episodes: _Episodes, rng: random.Random
    ) -> Measurement:
        flags: set[QualityFlag] = set()
        readings: dict[Parameter, float | None] = {
            Parameter.SPO2: round(vitals.spo2),
            Parameter.PULSE_RATE: round(vitals.pulse),
            Parameter.PERFUSION_INDEX: round(vitals.perfusion_index, 1),
        }
        status: dict[str, object] = {"scenario": str(self.scenario), "seed": self.seed}
        if episodes.probe_off(second):
            flags.add(QualityFlag.NO_FINGER)
            readings = dict.fromkeys(readings)
        elif (depth := episodes.artefact_depth(second)) is not None:
            # Motion: SpO2 falls (never to the 85 % critical line) and pulse jumps about.
            flags.add(QualityFlag.ARTIFACT)
            readings[Parameter.SPO2] = max(86, round(vitals.spo2 - depth))
            readings[Parameter.PULSE_RATE] = round(vitals.pulse + rng.uniform(-15, 25))
            readings[Parameter.PERFUSION_INDEX] = round(vitals.perfusion_index * 0.4, 1)
        measurement = build_measurement(
            OXIMETER_PROTOCOL, readings, flags, status, ranges=self.settings.plausible_ranges
        )
        at = self._at(second)
        return measurement.stamped(receive_time=at, device_time=at, source=self.oximeter_source)

    def _cuff_inflating(self, second: int, vitals: _Vitals) -> Measurement:
        at = self._at(second)
        measurement = build_measurement(
            CUFF_PROTOCOL,
            {},
            (),
            {"measuring": True, "cuff_pressure_mmhg": round(vitals.systolic + 30)},
            measuring=True,
        )
        return measurement.stamped(receive_time=at, device_time=at, source=self.cuff_source)

    def _nibp_reading(self, second: int, vitals: _Vitals, rng: random.Random) -> Measurement:
        systolic = round(vitals.systolic + rng.gauss(0, 2))
        diastolic = round(vitals.diastolic + rng.gauss(0, 1.5))
        if self.scenario is not Scenario.OVERDOSE:
            systolic = min(150, max(115, systolic))
            diastolic = min(92, max(62, diastolic))
        mean = round(diastolic + (systolic - diastolic) / 3)
        measurement = build_measurement(
            CUFF_PROTOCOL,
            {
                Parameter.SYSTOLIC: systolic,
                Parameter.DIASTOLIC: diastolic,
                Parameter.MEAN_ARTERIAL: mean,
                Parameter.PULSE_RATE: round(vitals.pulse),
            },
            (),
            {"scenario": str(self.scenario), "seed": self.seed},
            ranges=self.settings.plausible_ranges,
        )
        at = self._at(second)
        return measurement.stamped(receive_time=at, device_time=at, source=self.cuff_source)


class _Episodes:
    """When the scenario's episodes happen; each cycle's dips come from the seed alone."""

    def __init__(self, scenario: Scenario, timing: SimulatorTiming, seed: int) -> None:
        self._scenario = scenario
        self._timing = timing
        self._seed = seed
        self._dips: tuple[int, list[tuple[int, int, float]]] | None = None

    def _cycle(self, second: int) -> tuple[int, int] | None:
        first, every = self._timing.episode_first_after_s, self._timing.episode_every_s
        if second < first:
            return None
        return (second - first) // every, (second - first) % every

    def silent(self, second: int) -> bool:
        cycle = self._cycle(second)
        return (
            self._scenario is Scenario.LINK_LOSS
            and cycle is not None
            and cycle[1] < self._timing.link_loss_s
        )

    def probe_off(self, second: int) -> bool:
        cycle = self._cycle(second)
        return (
            self._scenario is Scenario.PROBE_OFF
            and cycle is not None
            and cycle[1] < self._timing.probe_off_s
        )

    def artefact_depth(self, second: int) -> float | None:
        """How far SpO2 dips at ``second`` in an artefact episode, else None.

        Each cycle holds two dips of 5-12 s starting at random times in its first five minutes.
        """
        if self._scenario is not Scenario.ARTEFACT:
            return None
        cycle = self._cycle(second)
        if cycle is None:
            return None
        index, into = cycle
        if self._dips is None or self._dips[0] != index:
            rng = random.Random(f"{self._seed}:artefact:{index}")  # noqa: S311
            starts = sorted(rng.sample(range(0, 300, 20), 2))
            self._dips = (
                index,
                [
                    (s, rng.randint(5, self._timing.artefact_max_s), rng.uniform(4, 9))
                    for s in starts
                ],
            )
        for start, length, depth in self._dips[1]:
            if start <= into < start + length:
                return depth
        return None


def _event_time(event: DeviceEvent) -> datetime:
    if isinstance(event, ConnectionChange):
        return event.at
    assert event.device_time is not None
    return event.device_time
