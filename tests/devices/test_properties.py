"""Property tests: any bytes, split anywhere, never raise and never yield an implausible value."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from devices.errors import DecodeError
from devices.measurement import Measurement
from devices.protocols import PROTOCOLS, make_decoder
from devices.settings import DEFAULT_PLAUSIBLE_RANGES
from tests.devices.test_stream_protocols import NONIN_HR65, RAD8_LOW

protocols = st.sampled_from(sorted(PROTOCOLS))


def _check(results: list) -> None:
    for result in results:
        assert isinstance(result, Measurement | DecodeError)
        if isinstance(result, Measurement):
            for parameter, value in result.values.items():
                assert isinstance(value, int | float) and math.isfinite(value)
                limits = DEFAULT_PLAUSIBLE_RANGES.get(parameter)
                assert limits is None or limits.contains(value), (parameter, value)
                assert parameter not in result.missing
            result.as_json()  # always serialisable


def _feed_all(protocol: str, chunks: list[bytes]) -> list:
    decoder = make_decoder(protocol)
    results: list = []
    for chunk in chunks:
        results.extend(decoder.feed(chunk))
    results.extend(decoder.flush())
    return results


@settings(max_examples=400, deadline=None)
@given(protocols, st.lists(st.binary(max_size=40), max_size=8))
def test_random_bytes(protocol: str, chunks: list[bytes]) -> None:
    _check(_feed_all(protocol, chunks))


@settings(max_examples=300, deadline=None)
@given(protocols, st.lists(st.text(max_size=60), max_size=5))
def test_random_text(protocol: str, chunks: list[str]) -> None:
    decoder = make_decoder(protocol)
    results: list = []
    for chunk in chunks:
        results.extend(decoder.feed(chunk))
    _check(results + decoder.flush())


VALID = {
    "plx-continuous": "1F DE F3 CA F3 CA F3 5A F5 D4 F3 B2 F2 20 01 00 00 00 7A E3",
    "plx-spot-check": "0F AC F3 BE F5 E8 07 0B 1D 17 08 39 20 40 22 00 00 66 E3",
    "bp-measurement": "1E 8A 00 58 00 78 00 00 00 04 11 14 29 3B 3C 00 01 27 00",
    "heart-rate": "1F 01 01 32 01 01 00 02 01 FF FF",
    "berrymed": "87 32 05 48 62 88 28 04 4B 61",
    "nonin-ble": "0A 10 1E 01 2C 00 05 61 00 48",
    "nonin-2": NONIN_HR65,
}


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(sorted(VALID)), st.data())
def test_truncated_frames(protocol: str, data: st.DataObject) -> None:
    frame = bytes.fromhex(VALID[protocol])
    cut = data.draw(st.integers(0, len(frame) - 1))
    results = _feed_all(protocol, [frame[:cut]])
    _check(results)
    # RR intervals are a variable-length tail: cutting between two of them leaves a valid frame.
    rr_boundary = protocol == "heart-rate" and cut >= 7 and (cut - 5) % 2 == 0
    if protocol not in ("berrymed", "nonin-2") and not rr_boundary:
        # A single-frame characteristic cut short is an error, never a partial reading.
        assert results and all(isinstance(r, DecodeError) for r in results)


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from(["berrymed", "nonin-2", "masimo"]),
    st.binary(max_size=30),
    st.lists(st.integers(1, 40), min_size=1, max_size=20),
)
def test_stream_resyncs_after_garbage_and_any_split(
    protocol: str, garbage: bytes, splits: list[int]
) -> None:
    good = (
        (RAD8_LOW + "\r\n").encode() * 2
        if protocol == "masimo"
        else bytes.fromhex(VALID[protocol]) * 2
    )
    if protocol == "masimo":
        garbage = garbage.replace(b"\r", b"").replace(b"\n", b"") + b"\r\n"
    stream = garbage + good
    chunks, i = [], 0
    for size in splits * 20:
        if i >= len(stream):
            break
        chunks.append(stream[i : i + size])
        i += size
    chunks.append(stream[i:])
    results = _feed_all(protocol, chunks)
    _check(results)
    measurements = [r for r in results if isinstance(r, Measurement)]
    # The last copy of the valid stream always decodes, whatever came before it.
    assert len(measurements) >= (2 if protocol == "berrymed" else 1)
    assert measurements[-1].values == _feed_all(protocol, [good])[-1].values
