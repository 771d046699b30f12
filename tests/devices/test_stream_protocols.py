"""Test vectors of the serial protocols (BerryMed BCI, Nonin, Masimo ASCII), plus resync cases."""

from __future__ import annotations

import pytest

from devices.errors import DecodeError
from devices.measurement import Measurement
from devices.protocols import make_decoder
from tests.devices.helpers import decode_all, decode_error, decode_one
from vocabulary import Parameter as P
from vocabulary import QualityFlag as F

# ------------------------------------------------------------------ BerryMed BCI


def test_berrymed_basic() -> None:
    m = decode_one("berrymed", "87 32 05 48 62")
    assert m.values == {P.SPO2: 98, P.PULSE_RATE: 72, P.PLETH: 50}
    assert m.status["signal_strength"] == 7 and m.status["bar_graph"] == 5
    assert m.flags == ()


def test_berrymed_second() -> None:
    m = decode_one("berrymed", "88 28 04 4B 61")
    assert m.values == {P.SPO2: 97, P.PULSE_RATE: 75, P.PLETH: 40}
    assert m.status["signal_strength"] == 8 and m.status["bar_graph"] == 4


def test_berrymed_garbage_skipped() -> None:
    m = decode_one("berrymed", "01 02 03 87 32 05 48 62")
    assert m.values == {P.SPO2: 98, P.PULSE_RATE: 72, P.PLETH: 50}


def test_berrymed_no_sync_rejected() -> None:
    decode_error("berrymed", "07 32 05 48 62")


def test_berrymed_bit7_in_byte2_rejected() -> None:
    decode_error("berrymed", "87 B2 05 48 62")


def test_berrymed_pulse_high_bit() -> None:
    m = decode_one("berrymed", "8F 3A 4A 48 62")
    assert m.values[P.PULSE_RATE] == 200 and m.values[P.SPO2] == 98


def test_berrymed_no_signal_no_finger() -> None:
    m = decode_one("berrymed", "90 00 50 7F 7F")
    assert m.values == {}
    assert set(m.missing) == {P.SPO2, P.PULSE_RATE, P.PLETH}
    assert m.flags == (F.NO_FINGER, F.LOW_SIGNAL)


def test_berrymed_probe_unplugged() -> None:
    m = decode_one("berrymed", "A0 00 50 7F 7F")
    assert m.values == {}
    assert m.flags == (F.NO_FINGER, F.SENSOR_DISCONNECTED)


def test_berrymed_frames_straddle_notifications() -> None:
    decoder = make_decoder("berrymed")
    stream = bytes.fromhex("87 32 05 48 62 88 28 04 4B 61 87 32 05 48 62")
    results = []
    for chunk in (stream[:3], stream[3:7], stream[7:8], stream[8:]):
        results.extend(decoder.feed(chunk))
    assert [r.values[P.PULSE_RATE] for r in results] == [72, 75, 72]  # type: ignore[union-attr]
    assert decoder.flush() == []


def test_berrymed_resyncs_after_torn_frame() -> None:
    # A frame cut after two bytes, then two good frames.
    results = decode_all("berrymed", "87 32 88 28 04 4B 61 87 32 05 48 62")
    good = [r for r in results if isinstance(r, Measurement)]
    assert [m.values[P.PULSE_RATE] for m in good] == [75, 72]
    assert len([r for r in results if isinstance(r, DecodeError)]) == 1


def test_berrymed_truncated_tail_reported_at_end() -> None:
    results = decode_all("berrymed", "87 32 05 48 62 88 28")
    assert isinstance(results[0], Measurement) and isinstance(results[1], DecodeError)


# ------------------------------------------------------------------ Nonin BLE


def test_nonin_ble_connected() -> None:
    m = decode_one("nonin-ble", "0A 10 1E 01 2C 00 05 61 00 48")
    assert m.values == {P.SPO2: 97, P.PULSE_RATE: 72, P.PERFUSION_INDEX: 3.00}
    assert m.status["battery_volts"] == 3.0 and m.status["counter"] == 5
    assert m.flags == ()


def test_nonin_ble_searching() -> None:
    m = decode_one("nonin-ble", "0A 08 1E 00 00 00 0A 7F 01 FF")
    assert m.values.get(P.SPO2) is None and m.values.get(P.PULSE_RATE) is None
    assert {P.SPO2, P.PULSE_RATE} <= set(m.missing)
    assert F.SEARCHING in m.flags


def test_nonin_ble_length_must_match() -> None:
    decode_error("nonin-ble", "0B 10 1E 01 2C 00 05 61 00 48")
    decode_error("nonin-ble", "09 10 1E 01 2C 00 05 61 00")


def test_nonin_ble_low_battery_weak_signal() -> None:
    m = decode_one("nonin-ble", "0A 32 1E 01 2C 00 05 61 00 48")
    assert m.flags == (F.LOW_SIGNAL, F.LOW_BATTERY)


# ------------------------------------------------------------------ Nonin serial format 2

NONIN_HR65 = """
01 83 40 00 C4 01 82 41 41 05 01 82 42 5F 24 01 82 43 30 F6 01 82 44 00 C7 01 82 45 00 C8
01 82 46 00 C9 01 82 47 00 CA 01 82 48 5F 2A 01 82 49 5F 2B 01 82 4A 5F 2C 01 82 4B 00 CE
01 82 4C 00 CF 01 82 4D 00 D0 01 82 4E 41 12 01 82 4F 5F 31 01 82 50 5F 32 01 82 51 00 D4
01 82 52 00 D5 01 82 53 00 D6 01 82 54 41 18 01 82 55 00 D8 01 82 56 41 1A 01 82 57 00 DA
01 82 58 00 DB
"""
NONIN_HR130 = """
01 83 40 01 C5 01 82 41 02 C6 01 82 42 58 1D 01 82 43 30 F6 01 82 44 00 C7 01 82 45 00 C8
01 82 46 00 C9 01 82 47 00 CA 01 82 48 58 23 01 82 49 58 24 01 82 4A 58 25 01 82 4B 00 CE
01 82 4C 00 CF 01 82 4D 01 D1 01 82 4E 02 D3 01 82 4F 58 2A 01 82 50 58 2B 01 82 51 00 D4
01 82 52 00 D5 01 82 53 01 D7 01 82 54 02 D9 01 82 55 01 D9 01 82 56 02 DB 01 82 57 00 DA
01 82 58 00 DB
"""
NONIN_DISCONNECTED = """
01 C1 40 03 05 01 C0 41 7F 81 01 C0 42 7F 82 01 C0 43 30 34 01 C0 44 00 05 01 C0 45 00 06
01 C0 46 00 07 01 C0 47 00 08 01 C0 48 7F 88 01 C0 49 7F 89 01 C0 4A 7F 8A 01 C0 4B 00 0C
01 C0 4C 00 0D 01 C0 4D 03 11 01 C0 4E 7F 8E 01 C0 4F 7F 8F 01 C0 50 7F 90 01 C0 51 00 12
01 C0 52 00 13 01 C0 53 03 17 01 C0 54 7F 94 01 C0 55 03 19 01 C0 56 7F 96 01 C0 57 00 18
01 C0 58 00 19
"""


def test_nonin2_hr65() -> None:
    m = decode_one("nonin-2", NONIN_HR65)
    assert m.values == {P.SPO2: 95, P.PULSE_RATE: 65}
    assert m.status["perfusion"] == "green" and m.status["firmware_revision"] == 0x30
    assert m.flags == ()
    assert len(m.status["pleth"]) == 25


def test_nonin2_hr130() -> None:
    m = decode_one("nonin-2", NONIN_HR130)
    assert m.values == {P.SPO2: 88, P.PULSE_RATE: 130}
    assert m.status["extended_pulse_rate"] == 130


def test_nonin2_sensor_disconnected() -> None:
    m = decode_one("nonin-2", NONIN_DISCONNECTED)
    assert m.values == {}
    assert m.missing == (P.SPO2, P.PULSE_RATE)
    assert m.flags == (F.SENSOR_DISCONNECTED,)


def test_nonin2_stream_in_small_reads_with_garbage_start() -> None:
    data = bytes.fromhex("82 4D 00 D0 01 82" + NONIN_HR65 + NONIN_HR130 + NONIN_DISCONNECTED)
    decoder = make_decoder("nonin-2")
    results = []
    for i in range(0, len(data), 7):
        results.extend(decoder.feed(data[i : i + 7]))
    assert [r.values.get(P.PULSE_RATE) for r in results] == [65, 130, None]  # type: ignore[union-attr]


def test_nonin2_bad_checksum_reported_and_packet_dropped() -> None:
    corrupt = bytearray(bytes.fromhex(NONIN_HR65))
    corrupt[4 * 5 + 4] ^= 0xFF  # frame 4's checksum
    results = decode_all("nonin-2", bytes(corrupt) + bytes.fromhex(NONIN_HR130))
    assert [type(r).__name__ for r in results] == ["DecodeError", "Measurement"]
    assert results[1].values[P.PULSE_RATE] == 130  # type: ignore[union-attr]


def test_nonin2_early_sync_means_frames_lost() -> None:
    short = bytes.fromhex(NONIN_HR65)[: 10 * 5]
    results = decode_all("nonin-2", short + bytes.fromhex(NONIN_HR130))
    assert isinstance(results[0], DecodeError) and "lost" in str(results[0])
    assert results[1].values[P.PULSE_RATE] == 130  # type: ignore[union-attr]


def test_nonin2_incomplete_packet_at_end() -> None:
    decode_error("nonin-2", bytes.fromhex(NONIN_HR65)[:60])


def _format7(frames: list[tuple[int, int, int]]) -> bytes:
    out = bytearray()
    for status, pleth, value in frames:
        head = bytes([status, pleth >> 8, pleth & 0xFF, value])
        out += head + bytes([sum(head) & 0xFF])
    return bytes(out)


def test_nonin7_packet() -> None:
    floats = [0] * 25
    floats[0], floats[1], floats[2], floats[3] = 0x00, 0x48, 97, 0x30
    floats[7] = 0x21  # SmartPoint + low battery
    frames = [(0x83 if i == 0 else 0x82, 1000 + i, v) for i, v in enumerate(floats)]
    m = decode_one("nonin-7", _format7(frames))
    assert m.values == {P.SPO2: 97, P.PULSE_RATE: 72}
    assert m.status["pleth"][0] == 1000 and m.status["smartpoint"] is True
    assert m.flags == (F.LOW_BATTERY,)


def test_nonin7_artifact_and_red_perfusion() -> None:
    floats = [0] * 25
    floats[1], floats[2] = 60, 93
    frames = [((0x81 if i == 0 else 0x80) | 0x20 | 0x04, 500, v) for i, v in enumerate(floats)]
    m = decode_one("nonin-7", _format7(frames))
    assert m.status["perfusion"] == "red"
    assert m.flags == (F.LOW_PERFUSION, F.ARTIFACT)


# ------------------------------------------------------------------ Masimo

RAD8_OK = (
    "11/21/26 09:15:02 SN=0000012345 SPO2=097% BPM=072 PI=01.20 DESAT=-- PIDELTA=+-- "
    "ALARM=0000 EXC=000000"
)
RAD8_OFF = (
    "11/21/26 09:15:03 SN=0000012345 SPO2=---% BPM=--- PI=--.-- DESAT=-- PIDELTA=+-- "
    "ALARM=0000 EXC=000020"
)
RAD8_LOW = (
    "11/21/26 09:15:04 SN=0000012345 SPO2=089% BPM=048 PI=00.31 SPCO=--% SPMET=--.-% DESAT=-- "
    "PIDELTA=+-- PVI=--- ALARM=0012 EXC=000404"
)


def test_masimo_normal() -> None:
    m = decode_one("masimo", RAD8_OK)
    assert m.values == {P.SPO2: 97, P.PULSE_RATE: 72, P.PERFUSION_INDEX: 1.20}
    assert m.flags == () and m.status["exceptions"] == 0


def test_masimo_sensor_off_patient() -> None:
    m = decode_one("masimo", RAD8_OFF)
    assert m.values == {}
    assert m.missing == (P.SPO2, P.PULSE_RATE, P.PERFUSION_INDEX)
    assert m.flags == (F.NO_FINGER,)


def test_masimo_low_perfusion_low_signal_iq() -> None:
    m = decode_one("masimo", RAD8_LOW)
    assert m.values == {P.SPO2: 89, P.PULSE_RATE: 48, P.PERFUSION_INDEX: 0.31}
    assert m.flags == (F.LOW_PERFUSION, F.LOW_SIGNAL)
    assert m.status["alarm"] == "0012"


def test_masimo_stream_with_torn_first_line() -> None:
    stream = (RAD8_OK[30:] + "\r\n" + RAD8_OK + "\r\n" + RAD8_LOW + "\r\n").encode()
    decoder = make_decoder("masimo")
    results = []
    for i in range(0, len(stream), 11):
        results.extend(decoder.feed(stream[i : i + 11]))
    assert [r.values[P.PULSE_RATE] for r in results] == [72, 48]  # type: ignore[union-attr]


def test_masimo_unknown_fields_ignored_order_free() -> None:
    m = decode_one("masimo", "SPHB=12.3 EXC1=000000 BPM=061 NEWKEY=xyz SPO2=099 PI=2.1")
    assert m.values == {P.SPO2: 99, P.PULSE_RATE: 61, P.PERFUSION_INDEX: 2.1}


@pytest.mark.parametrize(
    "line",
    ["hello world", "11/21/26 09:15:02 SPO2=9x7% BPM=072", "SPO2=097% EXC=zz"],
)
def test_masimo_malformed_lines(line: str) -> None:
    decode_error("masimo", line)
