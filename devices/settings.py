"""Device-layer numbers, each with its rationale, in one reviewable place.

The clinical safety officer reviews these with docs/hazard-log.md; code reads them from here
and never repeats them. Tests pass their own ``DeviceSettings`` (e.g. a quiet time of a
fraction of a second) instead of patching constants.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from measurement_limits import PlausibleRange, plausible_ranges, quiet_time_s
from vocabulary import Parameter

# Plausible ranges and the quiet time are measurement_limits.yaml (beside vocabulary.py), the one
# table the record's entry checks and the rules' "device link lost" alarm read as well.
DEFAULT_PLAUSIBLE_RANGES: Mapping[Parameter, PlausibleRange] = plausible_ranges()

# A streaming device silent for the quiet time is stale (and its `device_lost` alarm is raised by
# the rules after the same time). Cuffs and spot-check devices send a reading only when a
# measurement is taken (every N minutes), so silence is their normal state: no watchdog (None).
DEFAULT_QUIET_TIME_S = quiet_time_s()
DEFAULT_QUIET_TIMES_S: Mapping[str, float | None] = MappingProxyType(
    {
        "plx-continuous": DEFAULT_QUIET_TIME_S,
        "plx-spot-check": None,
        "plx-features": None,
        "bp-measurement": None,
        "intermediate-cuff-pressure": None,
        "heart-rate": DEFAULT_QUIET_TIME_S,
        "berrymed": DEFAULT_QUIET_TIME_S,
        "nonin-ble": DEFAULT_QUIET_TIME_S,
        "nonin-2": DEFAULT_QUIET_TIME_S,
        "nonin-7": DEFAULT_QUIET_TIME_S,
        "masimo": DEFAULT_QUIET_TIME_S,
    }
)


@dataclass(frozen=True)
class DeviceSettings:
    """Timing and plausibility used by transports and decoders."""

    plausible_ranges: Mapping[Parameter, PlausibleRange] = field(
        default_factory=lambda: DEFAULT_PLAUSIBLE_RANGES
    )
    quiet_times_s: Mapping[str, float | None] = field(default_factory=lambda: DEFAULT_QUIET_TIMES_S)
    # Reconnect back-off: first retry soon (a brief dropout is the common case), doubling up to
    # 30 s so a device that left the ward does not flood the adapter; retries never stop while
    # the device stays assigned.
    reconnect_initial_s: float = 1.0
    reconnect_max_s: float = 30.0
    reconnect_factor: float = 2.0
    # A link silent for this many quiet times is treated as lost: close it and reconnect
    # (a BLE link can stay "connected" while the peripheral has hung; a USB adapter can wedge).
    stale_reconnect_factor: float = 2.0
    # How long one serial read blocks; bounds how late a close or unplug is noticed.
    serial_read_timeout_s: float = 0.2
    # BLE scan length for `python -m devices scan` and for finding an assigned device.
    scan_time_s: float = 8.0

    def quiet_time_for(self, protocol: str) -> float | None:
        return self.quiet_times_s.get(protocol, DEFAULT_QUIET_TIME_S)

    def backoff_delays(self) -> BackoffIterator:
        return BackoffIterator(
            self.reconnect_initial_s, self.reconnect_max_s, self.reconnect_factor
        )


class BackoffIterator:
    """Endless delays: initial, initial*factor, ... capped at maximum."""

    def __init__(self, initial: float, maximum: float, factor: float) -> None:
        self._next = initial
        self._maximum = maximum
        self._factor = factor

    def __iter__(self) -> BackoffIterator:
        return self

    def __next__(self) -> float:
        delay = self._next
        self._next = min(self._maximum, self._next * self._factor)
        return delay


DEFAULT_SETTINGS = DeviceSettings()
