from __future__ import annotations

from devices.decoders import DecodeResult
from devices.errors import DecodeError
from devices.measurement import Measurement
from devices.protocols import make_decoder


def decode_all(
    protocol: str, *chunks: str | bytes, device_name: str | None = None
) -> list[DecodeResult]:
    """Feed hex (or text for masimo) chunks to a fresh decoder, then flush."""
    decoder = make_decoder(protocol, device_name=device_name)
    results: list[DecodeResult] = []
    for chunk in chunks:
        data = chunk if isinstance(chunk, bytes) or protocol == "masimo" else bytes.fromhex(chunk)
        results.extend(decoder.feed(data))
    results.extend(decoder.flush())
    return results


def decode_one(protocol: str, *chunks: str | bytes, device_name: str | None = None) -> Measurement:
    results = decode_all(protocol, *chunks, device_name=device_name)
    assert len(results) == 1, results
    assert isinstance(results[0], Measurement), results[0]
    return results[0]


def decode_error(protocol: str, *chunks: str | bytes) -> DecodeError:
    results = decode_all(protocol, *chunks)
    errors = [r for r in results if isinstance(r, DecodeError)]
    assert errors and not [r for r in results if isinstance(r, Measurement)], results
    return errors[0]
