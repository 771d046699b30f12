"""What every decoder, transport and the simulator hands out: measurements and state changes."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, NamedTuple

from devices.settings import DEFAULT_PLAUSIBLE_RANGES, PlausibleRange
from vocabulary import ConnectionState, Parameter, QualityFlag

_PARAMETER_ORDER = {p: i for i, p in enumerate(Parameter)}
_FLAG_ORDER = {f: i for i, f in enumerate(QualityFlag)}


_NOTHING: Mapping[Any, Any] = MappingProxyType({})  # an empty mapping nobody can fill


def utc_now() -> datetime:
    return datetime.now(UTC)


class Measurement(NamedTuple):
    """One decoded reading of one device (immutable; a named tuple, the cheapest to make, as a
    busy ward makes hundreds a second).

    ``values`` holds only present, plausible numbers; a parameter the frame carried without a
    usable value is listed in ``missing`` instead (never a number such as 127 % or 511 /min).
    ``status`` keeps the device's raw status and auxiliary fields, so nothing it said is lost.
    Decoders leave the times and ``source`` empty; transports and the simulator always set them:
    ``device_time`` is when the device measured (the simulated clock for the simulator; the
    receive time for devices whose own clock is naive local time or unset), ``receive_time`` when
    this computer got it. ``measuring`` marks a cuff inflating (0x2A36): show "measuring…",
    store nothing.
    """

    protocol: str
    values: Mapping[Parameter, float] = _NOTHING
    missing: tuple[Parameter, ...] = ()
    flags: tuple[QualityFlag, ...] = ()
    status: Mapping[str, Any] = _NOTHING
    device_time: datetime | None = None
    receive_time: datetime | None = None
    source: str | None = None
    measuring: bool = False

    def stamped(
        self, *, receive_time: datetime, device_time: datetime | None = None, source: str | None
    ) -> Measurement:
        return Measurement(
            self.protocol,
            self.values,
            self.missing,
            self.flags,
            self.status,
            device_time or self.device_time or receive_time,
            receive_time,
            source,
            self.measuring,
        )

    def as_json(self) -> dict[str, Any]:
        """The `decode` command's JSON object (outside tools read it): exactly these five keys."""
        return {
            "protocol": self.protocol,
            "values": {str(p): v for p, v in self.values.items()},
            "missing": [str(p) for p in self.missing],
            "flags": [str(f) for f in self.flags],
            "status": dict(self.status),
        }


@dataclass(frozen=True, slots=True)
class ConnectionChange:
    """The link to a device moved to ``state``; ``reason`` is a sentence a nurse can read."""

    state: ConnectionState
    reason: str
    at: datetime
    source: str

    def as_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "state": str(self.state),
            "reason": self.reason,
            "at": self.at.isoformat(),
        }


DeviceEvent = Measurement | ConnectionChange


def build_measurement(
    protocol: str,
    readings: Mapping[Parameter, float | None],
    flags: Iterable[QualityFlag] = (),
    status: Mapping[str, Any] | None = None,
    *,
    ranges: Mapping[Parameter, PlausibleRange] = DEFAULT_PLAUSIBLE_RANGES,
    measuring: bool = False,
) -> Measurement:
    """Sort decoded readings into present values and missing ones, applying plausibility.

    ``None`` in ``readings`` is the device's own "no value" marker; a non-finite or out-of-range
    number is a fault the device did not admit to, so it is dropped and flagged ``implausible``.
    """
    values: dict[Parameter, float] = {}
    missing: list[Parameter] = []
    flag_set = set(flags)
    # Walked in parameter order, so values and missing come out in that order.
    for parameter in sorted(readings, key=_PARAMETER_ORDER.__getitem__):
        value = readings[parameter]
        if value is None:
            missing.append(parameter)
            continue
        limits = ranges.get(parameter)
        if not math.isfinite(value) or (
            limits is not None and not limits.low <= value <= limits.high
        ):
            missing.append(parameter)
            flag_set.add(QualityFlag.IMPLAUSIBLE)
            continue
        values[parameter] = value
    return Measurement(
        protocol,
        values,
        tuple(missing),
        tuple(sorted(flag_set, key=_FLAG_ORDER.__getitem__)) if flag_set else (),
        dict(status) if status else {},
        None,
        None,
        None,
        measuring,
    )
