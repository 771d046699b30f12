"""What all decoders share: the streaming interface, frame wrappers, value helpers."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Protocol

from devices.errors import DecodeError
from devices.measurement import Measurement
from devices.settings import PlausibleRange
from devices.sfloat import Special, sfloat_from
from vocabulary import Parameter, QualityFlag

DecodeResult = Measurement | DecodeError
Ranges = Mapping[Parameter, PlausibleRange]


class Decoder(Protocol):
    """A pure, stateful decoder of one device stream.

    ``feed`` takes the next chunk exactly as received (one BLE notification, one serial read)
    and returns, in order, each decoded measurement and each malformed frame as a
    ``DecodeError`` value: a bad frame never stops the frames after it. ``feed`` raises nothing.
    ``flush`` ends the stream and reports bytes that never formed a frame.
    """

    protocol: str

    def feed(self, chunk: bytes | str) -> list[DecodeResult]: ...

    def flush(self) -> list[DecodeResult]: ...


def as_bytes(chunk: bytes | bytearray | str) -> bytes:
    if isinstance(chunk, str):
        return chunk.encode("latin-1", errors="replace")
    return bytes(chunk)


class FrameDecoder:
    """Decoder for characteristics where each notification or read is exactly one frame."""

    def __init__(self, protocol: str, parse: Callable[[bytes], Measurement]) -> None:
        self.protocol = protocol
        self._parse = parse

    def feed(self, chunk: bytes | str) -> list[DecodeResult]:
        try:
            return [self._parse(as_bytes(chunk))]
        except DecodeError as error:
            return [error]

    def flush(self) -> list[DecodeResult]:
        return []


def read_sfloat(
    data: bytes, offset: int, flags: set[QualityFlag], *, big_endian: bool = False
) -> float | None:
    """A reading from an SFLOAT field: ``None`` for NaN/NRes, ±inf left for plausibility to catch.

    The reserved code is not a number the device may send, so it also marks the reading invalid.
    """
    value = sfloat_from(data, offset, big_endian=big_endian)
    if value is Special.NAN or value is Special.NRES:
        return None
    if value is Special.RESERVED:
        flags.add(QualityFlag.INVALID)
        return None
    if value is Special.POSITIVE_INFINITY:
        return float("inf")
    if value is Special.NEGATIVE_INFINITY:
        return float("-inf")
    return float(value) if isinstance(value, float) else value  # type: ignore[return-value]


def aux_sfloat(data: bytes, offset: int, *, big_endian: bool = False) -> float | None:
    """An auxiliary SFLOAT kept in the raw status: a finite number or None (JSON has no NaN)."""
    value = sfloat_from(data, offset, big_endian=big_endian)
    return None if isinstance(value, Special) else value


def bit_names(value: int, names: Mapping[int, str]) -> list[str]:
    """Names of the set bits of ``value``, in bit order (for the readable raw status)."""
    return [name for bit, name in sorted(names.items()) if value & (1 << bit)]


def require_length(data: bytes, needed: int, what: str) -> None:
    if len(data) < needed:
        raise DecodeError(f"{what}: frame is {len(data)} bytes, its flags require {needed}")
