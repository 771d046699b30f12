"""Nonin oximeters: the BLE oximetry characteristic, and serial data formats 2 and 7.

Serial formats send 5-byte frames at 75/s; 25 frames make a packet (3 packets/s) whose "float"
bytes carry, by frame index, HR, SpO2 and the rest. One measurement is decoded per packet.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from devices.decoders.base import (
    DecodeResult,
    Ranges,
    as_bytes,
    bit_names,
    require_length,
)
from devices.decoders.stream import UnframedBytes
from devices.errors import DecodeError
from devices.measurement import Measurement, build_measurement
from devices.settings import DEFAULT_PLAUSIBLE_RANGES
from vocabulary import Parameter, QualityFlag

SPO2_MISSING = 127
PULSE_MISSING = 511
FRAMES_PER_PACKET = 25

# ---------------------------------------------------------------- BLE oximetry characteristic

BLE_STATUS_BITS = {
    1: "weak_signal",
    2: "smartpoint",
    3: "searching",
    4: "sensor_connected",
    5: "low_battery",
    6: "encrypted",
}


def parse_nonin_ble(data: bytes, ranges: Ranges = DEFAULT_PLAUSIBLE_RANGES) -> Measurement:
    """Nonin 3150/3230 oximetry notification (big-endian; byte 0 is its own length)."""
    require_length(data, 10, "Nonin oximetry")
    if data[0] != len(data) or data[0] < 10:
        raise DecodeError(
            f"Nonin oximetry: length byte says {data[0]} but the notification is {len(data)} bytes"
        )
    status_byte = data[1]
    flags: set[QualityFlag] = set()
    if status_byte & 0x02:
        flags.add(QualityFlag.LOW_SIGNAL)
    if status_byte & 0x08:
        flags.add(QualityFlag.SEARCHING)
    if not status_byte & 0x10:
        # The device reports "sensor connected" as a bit; its absence is an unplugged sensor.
        flags.add(QualityFlag.SENSOR_DISCONNECTED)
    if status_byte & 0x20:
        flags.add(QualityFlag.LOW_BATTERY)
    spo2 = data[7]
    pulse = int.from_bytes(data[8:10], "big")
    readings: dict[Parameter, float | None] = {
        Parameter.SPO2: None if spo2 == SPO2_MISSING else spo2,
        Parameter.PULSE_RATE: None if pulse == PULSE_MISSING else pulse,
        Parameter.PERFUSION_INDEX: int.from_bytes(data[3:5], "big") / 100,
    }
    status = {
        "status": status_byte,
        "status_bits": bit_names(status_byte, BLE_STATUS_BITS),
        "battery_volts": data[2] / 10,
        "counter": int.from_bytes(data[5:7], "big"),
    }
    return build_measurement("nonin-ble", readings, flags, status, ranges=ranges)


# ---------------------------------------------------------------- serial formats 2 and 7

SERIAL_STATUS_BITS = {
    0: "sync",
    3: "sensor_alarm",
    4: "out_of_track",
    5: "artifact",
    6: "sensor_disconnected",
}
PERFUSION = {0: None, 1: "green", 2: "red", 3: "yellow"}


@dataclass(frozen=True)
class NoninFrame:
    status: int
    pleth: int
    value: int  # the "float" byte, meaning set by the frame's index in its packet


def _hr(msb: int, lsb: int) -> int:
    return ((msb & 0x03) << 7) | (lsb & 0x7F)


def _or_none(value: int, missing: int) -> int | None:
    return None if value == missing else value


def parse_nonin_packet(
    frames: list[NoninFrame], protocol: str, ranges: Ranges = DEFAULT_PLAUSIBLE_RANGES
) -> Measurement:
    """Decode one complete 25-frame packet."""
    f = [frame.value for frame in frames]
    union = 0
    for frame in frames:
        union |= frame.status
    flags: set[QualityFlag] = set()
    if union & 0x40:
        flags.add(QualityFlag.SENSOR_DISCONNECTED)
    if union & 0x20:
        flags.add(QualityFlag.ARTIFACT)
    if union & 0x10:
        flags.add(QualityFlag.SEARCHING)
    if union & 0x08:
        flags.add(QualityFlag.INVALID)  # sensor alarm: the device calls its data unusable
    perfusion = PERFUSION[(frames[-1].status >> 1) & 0x03]
    if perfusion in ("red", "yellow"):
        flags.add(QualityFlag.LOW_PERFUSION)
    status: dict[str, Any] = {
        "status_union": union,
        "status_bits": bit_names(union & 0x7F, SERIAL_STATUS_BITS),
        "perfusion": perfusion,
        "firmware_revision": f[3],
        "spo2_display": _or_none(f[8] & 0x7F, SPO2_MISSING),
        "spo2_fast": _or_none(f[9] & 0x7F, SPO2_MISSING),
        "spo2_beat_to_beat": _or_none(f[10] & 0x7F, SPO2_MISSING),
        "extended_pulse_rate": _or_none(_hr(f[13], f[14]), PULSE_MISSING),
        "extended_spo2": _or_none(f[15] & 0x7F, SPO2_MISSING),
        "extended_spo2_display": _or_none(f[16] & 0x7F, SPO2_MISSING),
        "pulse_rate_display": _or_none(_hr(f[19], f[20]), PULSE_MISSING),
        "extended_pulse_rate_display": _or_none(_hr(f[21], f[22]), PULSE_MISSING),
        "pleth": [frame.pleth for frame in frames],
    }
    if protocol == "nonin-7":
        status["timer"] = (f[5] << 8) | f[6]
        stat2 = f[7]
        status["status2"] = stat2
        status["smartpoint"] = bool(stat2 & 0x20)
        if stat2 & 0x01:
            flags.add(QualityFlag.LOW_BATTERY)
    readings: dict[Parameter, float | None] = {
        Parameter.SPO2: _or_none(f[2] & 0x7F, SPO2_MISSING),
        Parameter.PULSE_RATE: _or_none(_hr(f[0], f[1]), PULSE_MISSING),
    }
    return build_measurement(protocol, readings, flags, status, ranges=ranges)


class NoninSerialDecoder:
    """Nonin serial format 2 (``01 STATUS PLETH FLOAT CHK``) or 7 (``STATUS PLETH16 FLOAT CHK``).

    Sync needs the start byte (format 2), a status byte with bit 7 set and a valid checksum.
    A sync frame arriving before 25 frames means frames were lost: that packet is reported, not
    decoded.
    """

    def __init__(self, data_format: int = 2, ranges: Ranges = DEFAULT_PLAUSIBLE_RANGES) -> None:
        if data_format not in (2, 7):
            raise ValueError("Nonin serial data format must be 2 or 7")
        self.protocol = f"nonin-{data_format}"
        self._format = data_format
        self._ranges = ranges
        self._buffer = bytearray()
        self._packet: list[NoninFrame] = []
        self._packet_broken = False
        self._in_sync = False
        self._unframed = UnframedBytes()

    def _frame_at(self, buffer: bytearray) -> NoninFrame | None:
        """The frame at the start of ``buffer`` if it is valid, else None."""
        head = buffer[:5]
        if (sum(head[:4]) & 0xFF) != head[4]:
            return None
        if self._format == 2:
            if head[0] != 0x01 or not head[1] & 0x80:
                return None
            return NoninFrame(head[1], head[2], head[3])
        if not head[0] & 0x80:
            return None
        return NoninFrame(head[0], (head[1] << 8) | head[2], head[3])

    def feed(self, chunk: bytes | str) -> list[DecodeResult]:
        self._buffer += as_bytes(chunk)
        results: list[DecodeResult] = []
        buffer = self._buffer
        while len(buffer) >= 5:
            frame = self._frame_at(buffer)
            if frame is None:
                if self._in_sync:
                    # The next frame was expected right here: it is corrupt or bytes were lost.
                    results.append(
                        self._unframed.error(
                            f"{self.protocol}: bad frame {bytes(buffer[:5]).hex(' ').upper()} "
                            "(checksum or start byte wrong); resynchronising"
                        )
                    )
                    self._in_sync = False
                    self._packet_broken = bool(self._packet)
                self._unframed.skip(1)
                del buffer[:1]
                continue
            del buffer[:5]
            self._in_sync = True
            results.extend(self._add_frame(frame))
        return results

    def _add_frame(self, frame: NoninFrame) -> list[DecodeResult]:
        results: list[DecodeResult] = []
        if frame.status & 0x01:
            if self._packet and not self._packet_broken:
                results.append(
                    self._unframed.error(
                        f"{self.protocol}: packet cut short after {len(self._packet)} of "
                        f"{FRAMES_PER_PACKET} frames (frames lost)"
                    )
                )
            self._packet = [frame]
            self._packet_broken = False
            return results
        if not self._packet:
            self._unframed.skip(5)  # joined mid-packet: wait for the next sync frame
            return results
        self._packet.append(frame)
        if len(self._packet) == FRAMES_PER_PACKET:
            packet, self._packet = self._packet, []
            if self._packet_broken:
                self._packet_broken = False
                return results
            results.append(parse_nonin_packet(packet, self.protocol, self._ranges))
            self._unframed.frame_found()
        return results

    def flush(self) -> list[DecodeResult]:
        pending = len(self._buffer) + 5 * len(self._packet)
        if self._packet_broken:
            self._unframed.reported = True
        self._buffer.clear()
        self._packet = []
        self._packet_broken = False
        self._in_sync = False
        return list(self._unframed.at_end(pending, self.protocol, "a complete 25-frame packet"))
