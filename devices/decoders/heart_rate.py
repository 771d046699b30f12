"""Heart Rate Measurement 0x2A37 (chest straps and some oximeters)."""

from __future__ import annotations

from typing import Any

from devices.decoders.base import Ranges, require_length
from devices.errors import DecodeError
from devices.measurement import Measurement, build_measurement
from devices.settings import DEFAULT_PLAUSIBLE_RANGES
from vocabulary import Parameter, QualityFlag


def parse_heart_rate(data: bytes, ranges: Ranges = DEFAULT_PLAUSIBLE_RANGES) -> Measurement:
    require_length(data, 2, "Heart Rate Measurement")
    flag_byte = data[0]
    wide = bool(flag_byte & 0x01)
    needed = 1 + (2 if wide else 1) + 2 * bool(flag_byte & 0x08)
    require_length(data, needed, "Heart Rate Measurement")
    offset = 1
    if wide:
        rate = int.from_bytes(data[1:3], "little")
        offset = 3
    else:
        rate = data[1]
        offset = 2
    status: dict[str, Any] = {"flags": flag_byte}
    flags: set[QualityFlag] = set()
    if flag_byte & 0x04:
        contact = bool(flag_byte & 0x02)
        status["sensor_contact"] = contact
        if not contact:
            flags.add(QualityFlag.NO_FINGER)  # strap or sensor off the skin
    if flag_byte & 0x08:
        status["energy_expended_kj"] = int.from_bytes(data[offset : offset + 2], "little")
        offset += 2
    if flag_byte & 0x10:
        rest = data[offset:]
        if not rest or len(rest) % 2:
            raise DecodeError(
                f"Heart Rate Measurement: RR-interval flag set but {len(rest)} bytes follow "
                "(needs a non-zero even number)"
            )
        status["rr_intervals_1024"] = [
            int.from_bytes(rest[i : i + 2], "little") for i in range(0, len(rest), 2)
        ]
    return build_measurement(
        "heart-rate", {Parameter.PULSE_RATE: rate}, flags, status, ranges=ranges
    )
