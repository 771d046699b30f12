"""Blood Pressure Service 0x1810: 0x2A35 measurement and 0x2A36 intermediate cuff pressure."""

from __future__ import annotations

from typing import Any

from devices.decoders.base import (
    Ranges,
    aux_sfloat,
    bit_names,
    read_sfloat,
    require_length,
)
from devices.decoders.plx import timestamp_fields
from devices.measurement import Measurement, build_measurement
from devices.settings import DEFAULT_PLAUSIBLE_RANGES
from vocabulary import Parameter, QualityFlag

KPA_TO_MMHG = 7.50062  # 1 kPa = 7.50062 mmHg (Blood Pressure Profile, SI conversion)

STATUS_BITS = {
    0: "body_movement",
    1: "cuff_too_loose",
    2: "irregular_pulse",
    5: "improper_measurement_position",
}
# Irregular pulse and the pulse-range bits describe the patient, not the reading: kept raw only.
STATUS_FLAGS = {
    0: QualityFlag.ARTIFACT,
    1: QualityFlag.QUESTIONABLE,
    5: QualityFlag.QUESTIONABLE,
}
PULSE_RANGE = {0: "in_range", 1: "above_upper_limit", 2: "below_lower_limit", 3: "reserved"}

# Advertised-name fragments of cuffs that send pulse and status big-endian and always follow the
# pulse with a user-id byte (seen on those models' Blood Pressure Measurement packets).
BEURER_BIG_ENDIAN_MODELS = ("BM48", "BM59", "BM85", "ELITE900")


def has_beurer_quirk(device_name: str | None) -> bool:
    if not device_name:
        return False
    compact = device_name.upper().replace(" ", "").replace("-", "")
    return any(model in compact for model in BEURER_BIG_ENDIAN_MODELS)


def _to_mmhg(value: float | None, kpa: bool) -> float | None:
    if value is None or not kpa:
        return value
    return round(value * KPA_TO_MMHG, 1)


def parse_blood_pressure(
    data: bytes,
    *,
    intermediate: bool = False,
    device_name: str | None = None,
    ranges: Ranges = DEFAULT_PLAUSIBLE_RANGES,
) -> Measurement:
    """Decode 0x2A35 (or 0x2A36 when ``intermediate``); never a partial reading."""
    what = "Intermediate Cuff Pressure" if intermediate else "Blood Pressure Measurement"
    protocol = "intermediate-cuff-pressure" if intermediate else "bp-measurement"
    quirk = has_beurer_quirk(device_name)
    require_length(data, 7, what)
    flag_byte = data[0]
    kpa = bool(flag_byte & 0x01)
    has_user = bool(flag_byte & 0x08) or (quirk and bool(flag_byte & 0x04))
    # Bits 5-7 are reserved but set by real devices: they add no fields, so they are ignored.
    needed = 7 + 7 * bool(flag_byte & 0x02) + 2 * bool(flag_byte & 0x04)
    needed += 1 * has_user + 2 * bool(flag_byte & 0x10)
    require_length(data, needed, what)

    flags: set[QualityFlag] = set()
    status: dict[str, Any] = {"flags": flag_byte, "unit": "kPa" if kpa else "mmHg"}
    if quirk:
        status["vendor_quirk"] = "beurer_big_endian"
    systolic = _to_mmhg(read_sfloat(data, 1, flags), kpa)
    diastolic = _to_mmhg(read_sfloat(data, 3, flags), kpa)
    mean = _to_mmhg(read_sfloat(data, 5, flags), kpa)
    offset = 7
    if flag_byte & 0x02:
        status.update(timestamp_fields(data, offset))
        offset += 7
    pulse: float | None = None
    if flag_byte & 0x04:
        pulse = read_sfloat(data, offset, flags, big_endian=quirk)
        offset += 2
    if has_user:
        user = data[offset]
        status["user_id"] = None if user == 0xFF else user
        offset += 1
    if flag_byte & 0x10:
        raw = int.from_bytes(data[offset : offset + 2], "big" if quirk else "little")
        status["measurement_status"] = raw
        status["measurement_status_bits"] = bit_names(raw, STATUS_BITS)
        status["pulse_rate_range"] = PULSE_RANGE[(raw >> 3) & 0x03]
        flags.update(f for bit, f in STATUS_FLAGS.items() if raw & (1 << bit))

    if intermediate:
        # The systolic slot is the current cuff pressure: a progress indicator, not a reading.
        cuff = systolic if systolic is not None else aux_sfloat(data, 1)
        status["measuring"] = True
        status["cuff_pressure_mmhg"] = cuff if cuff is None or abs(cuff) != float("inf") else None
        return build_measurement(protocol, {}, flags, status, ranges=ranges, measuring=True)

    readings: dict[Parameter, float | None] = {
        Parameter.SYSTOLIC: systolic,
        Parameter.DIASTOLIC: diastolic,
        Parameter.MEAN_ARTERIAL: mean,
    }
    if flag_byte & 0x04:
        readings[Parameter.PULSE_RATE] = pulse
    return build_measurement(protocol, readings, flags, status, ranges=ranges)
