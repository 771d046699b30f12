"""BerryMed "BCI" 5-byte protocol: BerryMed BLE oximeters and Contec CMS50 legacy serial.

Byte 1 has bit 7 set (sync), bytes 2-5 have it clear; about 100 packets/s, several per BLE
notification and straddling notifications, so this is a byte-stream parser.
"""

from __future__ import annotations

from devices.decoders.base import DecodeResult, Ranges, as_bytes
from devices.decoders.stream import UnframedBytes
from devices.measurement import Measurement, build_measurement
from devices.settings import DEFAULT_PLAUSIBLE_RANGES
from vocabulary import Parameter, QualityFlag

FRAME_LENGTH = 5
SPO2_MISSING = 127
PULSE_MISSING = 255


def parse_berrymed_frame(frame: bytes, ranges: Ranges = DEFAULT_PLAUSIBLE_RANGES) -> Measurement:
    """One already-synchronised 5-byte frame."""
    b1, b2, b3, b4, b5 = frame[:FRAME_LENGTH]
    flags: set[QualityFlag] = set()
    if b1 & 0x10:
        flags.add(QualityFlag.LOW_SIGNAL)
    if b1 & 0x20:
        flags.add(QualityFlag.SENSOR_DISCONNECTED)
    if b3 & 0x10:
        flags.add(QualityFlag.NO_FINGER)
    if b3 & 0x20:
        flags.add(QualityFlag.SEARCHING)
    pleth = b2 & 0x7F
    pulse = ((b3 & 0x40) << 1) | (b4 & 0x7F)
    spo2 = b5 & 0x7F
    readings: dict[Parameter, float | None] = {
        Parameter.SPO2: None if spo2 == SPO2_MISSING else spo2,
        Parameter.PULSE_RATE: None if pulse == PULSE_MISSING else pulse,
        Parameter.PLETH: None if pleth == 0 else pleth,
    }
    status = {
        "signal_strength": b1 & 0x0F,
        "no_signal": bool(b1 & 0x10),
        "probe_unplugged": bool(b1 & 0x20),
        "pulse_beep": bool(b1 & 0x40),
        "bar_graph": b3 & 0x0F,
        "no_finger": bool(b3 & 0x10),
        "searching": bool(b3 & 0x20),
        "raw": frame[:FRAME_LENGTH].hex(" ").upper(),
    }
    return build_measurement("berrymed", readings, flags, status, ranges=ranges)


class BerryMedDecoder:
    protocol = "berrymed"

    def __init__(self, ranges: Ranges = DEFAULT_PLAUSIBLE_RANGES) -> None:
        self._ranges = ranges
        self._buffer = bytearray()
        self._unframed = UnframedBytes()

    def feed(self, chunk: bytes | str) -> list[DecodeResult]:
        self._buffer += as_bytes(chunk)
        results: list[DecodeResult] = []
        buffer = self._buffer
        while buffer:
            if not buffer[0] & 0x80:
                sync = next((i for i, byte in enumerate(buffer) if byte & 0x80), None)
                if sync is None:
                    self._unframed.skip(len(buffer))
                    buffer.clear()
                    break
                self._unframed.skip(sync)
                del buffer[:sync]
            if len(buffer) < FRAME_LENGTH:
                break
            if (buffer[1] | buffer[2] | buffer[3] | buffer[4]) & 0x80:
                # A sync byte inside the frame: this frame was cut short; resync on that byte.
                torn = next(i for i in range(1, FRAME_LENGTH) if buffer[i] & 0x80)
                results.append(
                    self._unframed.error(
                        f"berrymed: frame {bytes(buffer[:FRAME_LENGTH]).hex(' ').upper()} "
                        f"rejected: byte {torn + 1} has bit 7 set (torn frame)"
                    )
                )
                self._unframed.skip(torn)
                del buffer[:torn]
                continue
            results.append(parse_berrymed_frame(bytes(buffer[:FRAME_LENGTH]), self._ranges))
            self._unframed.frame_found()
            del buffer[:FRAME_LENGTH]
        return results

    def flush(self) -> list[DecodeResult]:
        pending = len(self._buffer)
        self._buffer.clear()
        return list(self._unframed.at_end(pending, self.protocol))
