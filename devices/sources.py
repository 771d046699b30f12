"""Device sources as written on the command line and in device assignments.

``ble:ADDRESS[:PROTOCOL]``, ``serial:PATH[:PROTOCOL]``, ``sim:SCENARIO[?speed=N&seed=N&nibp=MIN]``.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Protocol as TypingProtocol
from urllib.parse import parse_qs

from devices.errors import SourceError
from devices.measurement import DeviceEvent
from devices.protocols import OXIMETER_STREAMS, PROTOCOLS
from devices.settings import DEFAULT_SETTINGS, DeviceSettings
from devices.simulator import Scenario, Simulator, SimulatorTiming
from vocabulary import Parameter


class DeviceStream(TypingProtocol):
    """What the monitor consumes: every transport and the simulator satisfy it."""

    def events(self) -> AsyncIterator[DeviceEvent]: ...


@dataclass(frozen=True)
class Source:
    kind: str  # "ble", "serial" or "sim"
    target: str  # address, path or scenario
    protocol: str | None = None
    options: dict[str, str] = field(default_factory=dict)


def _split_protocol(rest: str) -> tuple[str, str | None]:
    head, sep, tail = rest.rpartition(":")
    if sep and tail in PROTOCOLS:
        return head, tail
    return rest, None


def parse_source(text: str) -> Source:
    kind, sep, rest = text.partition(":")
    if not sep or not rest:
        raise SourceError(
            f"device source {text!r} must be ble:ADDRESS[:PROTOCOL], serial:PATH[:PROTOCOL] "
            "or sim:SCENARIO[?speed=N]"
        )
    if kind == "sim":
        scenario, _, query = rest.partition("?")
        if scenario not in {s.value for s in Scenario}:
            known = ", ".join(s.value for s in Scenario)
            raise SourceError(f"unknown simulator scenario {scenario!r}; known: {known}")
        options = {k: v[-1] for k, v in parse_qs(query, keep_blank_values=True).items()}
        unknown = set(options) - {"speed", "seed", "nibp"}
        if unknown:
            raise SourceError(f"unknown simulator option(s): {', '.join(sorted(unknown))}")
        source = Source("sim", scenario, None, options)
        sim_options(source)  # a bad number is refused when the source is written, not later
        return source
    if kind in ("ble", "serial"):
        target, protocol = _split_protocol(rest)
        if not target:
            raise SourceError(
                f"device source {text!r} has no {'address' if kind == 'ble' else 'path'}"
            )
        return Source(kind, target, protocol)
    raise SourceError(f"unknown device source kind {kind!r}: use ble:, serial: or sim:")


def source_problem(text: str) -> str | None:
    """Why this source text cannot be used, in words for the person who typed it; None if it
    can. The record asks this before it assigns a device (it does not import devices)."""
    try:
        parse_source(text)
    except SourceError as bad:
        return str(bad)
    return None


def streamed_parameters(source: Source) -> frozenset[Parameter]:
    """What this source is expected to send continuously (its silence means it is lost).

    The simulator is an oximeter with a cuff; a device whose protocol is left to detection is
    taken for an oximeter, the device this product is watched by, so its silence is never
    ignored.
    """
    if source.kind == "sim" or source.protocol is None:
        return OXIMETER_STREAMS
    return PROTOCOLS[source.protocol].streams


@dataclass(frozen=True)
class SimOptions:
    """A simulator source's options, checked: ``speed`` times real time, the random ``seed``,
    a cuff reading every ``nibp_every_min`` minutes."""

    speed: float = 1.0
    seed: int = 0
    nibp_every_min: float = SimulatorTiming().nibp_every_min


def sim_options(source: Source) -> SimOptions:
    options = source.options
    seed = options.get("seed", "0")
    if not (seed.isascii() and seed.isdecimal()):
        raise SourceError(f"simulator option seed={seed!r} is not a whole number")
    return SimOptions(
        speed=_number(options, "speed", 1.0),
        seed=int(seed),
        nibp_every_min=_number(options, "nibp", SimOptions.nibp_every_min),
    )


def _number(options: dict[str, str], key: str, default: float) -> float:
    try:
        value = float(options.get(key, default))
    except ValueError:
        raise SourceError(f"simulator option {key}={options[key]!r} is not a number") from None
    if not math.isfinite(value) or not value > 0:
        raise SourceError(f"simulator option {key} must be a positive number")
    return value


def open_source(source: Source, *, settings: DeviceSettings = DEFAULT_SETTINGS) -> DeviceStream:
    """The device stream for a parsed source (BLE and serial imports happen only when used)."""
    if source.kind == "sim":
        options = sim_options(source)
        return Simulator(
            source.target,
            speed=options.speed,
            seed=options.seed,
            timing=SimulatorTiming(nibp_every_min=options.nibp_every_min),
            settings=settings,
        )
    if source.kind == "serial":
        from devices.serial_port import SerialDevice

        if source.protocol is None:
            serial_protocols = [p.name for p in PROTOCOLS.values() if p.serial is not None]
            raise SourceError(
                "a serial source needs its protocol, e.g. serial:/dev/ttyUSB0:nonin-2 "
                f"(serial protocols: {', '.join(serial_protocols)})"
            )
        return SerialDevice(source.target, source.protocol, settings=settings)
    from devices.ble import BleDevice

    return BleDevice(source.target, source.protocol, settings=settings)
