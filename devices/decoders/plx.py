"""Pulse Oximeter Service 0x1822: 0x2A5E spot-check, 0x2A5F continuous, 0x2A60 features."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from devices.decoders.base import (
    Ranges,
    aux_sfloat,
    bit_names,
    read_sfloat,
    require_length,
)
from devices.measurement import Measurement, build_measurement
from devices.settings import DEFAULT_PLAUSIBLE_RANGES
from vocabulary import Parameter, QualityFlag

MEASUREMENT_STATUS_BITS = {
    5: "measurement_ongoing",
    6: "early_estimated_data",
    7: "validated_data",
    8: "fully_qualified_data",
    9: "data_from_storage",
    10: "demonstration_data",
    11: "testing_data",
    12: "calibration_ongoing",
    13: "measurement_unavailable",
    14: "questionable_measurement",
    15: "invalid_measurement",
}
DEVICE_STATUS_BITS = {
    0: "extended_display_update_ongoing",
    1: "equipment_malfunction",
    2: "signal_processing_irregularity",
    3: "inadequate_signal",
    4: "poor_signal",
    5: "low_perfusion",
    6: "erratic_signal",
    7: "non_pulsatile_signal",
    8: "questionable_pulse",
    9: "signal_analysis_ongoing",
    10: "sensor_interference",
    11: "sensor_unconnected_to_user",
    12: "unknown_sensor",
    13: "sensor_displaced",
    14: "sensor_malfunctioning",
    15: "sensor_disconnected",
}
# Vendor bit -> canonical flag. Bits with no quality meaning (ongoing, early estimate) stay raw.
MEASUREMENT_STATUS_FLAGS = {
    13: QualityFlag.INVALID,
    14: QualityFlag.QUESTIONABLE,
    15: QualityFlag.INVALID,
}
DEVICE_STATUS_FLAGS = {
    1: QualityFlag.INVALID,
    2: QualityFlag.QUESTIONABLE,
    3: QualityFlag.LOW_SIGNAL,
    4: QualityFlag.LOW_SIGNAL,
    5: QualityFlag.LOW_PERFUSION,
    6: QualityFlag.ARTIFACT,
    7: QualityFlag.QUESTIONABLE,
    8: QualityFlag.QUESTIONABLE,
    9: QualityFlag.SEARCHING,
    10: QualityFlag.ARTIFACT,
    11: QualityFlag.NO_FINGER,
    12: QualityFlag.INVALID,
    13: QualityFlag.QUESTIONABLE,
    14: QualityFlag.INVALID,
    15: QualityFlag.SENSOR_DISCONNECTED,
}
SUPPORTED_FEATURE_BITS = {
    0: "measurement_status",
    1: "device_and_sensor_status",
    2: "spot_check_storage",
    3: "spot_check_timestamp",
    4: "spo2pr_fast",
    5: "spo2pr_slow",
    6: "pulse_amplitude_index",
    7: "multiple_bonds",
}


@dataclass(frozen=True)
class PlxFeatures:
    """What a pulse oximeter says it supports; a status bit it does not support means nothing."""

    supported: int
    measurement_status_support: int | None
    device_status_support: int | None

    def measurement_mask(self) -> int:
        return self.measurement_status_support or 0

    def device_mask(self) -> int:
        return self.device_status_support or 0


def parse_plx_features(data: bytes) -> PlxFeatures:
    require_length(data, 2, "PLX Features")
    supported = int.from_bytes(data[0:2], "little")
    offset = 2
    measurement_support = device_support = None
    if supported & 0x01:
        require_length(data, offset + 2, "PLX Features (measurement status support)")
        measurement_support = int.from_bytes(data[offset : offset + 2], "little")
        offset += 2
    if supported & 0x02:
        require_length(data, offset + 3, "PLX Features (device and sensor status support)")
        device_support = int.from_bytes(data[offset : offset + 3], "little")
        offset += 3
    return PlxFeatures(supported, measurement_support, device_support)


def features_measurement(data: bytes) -> Measurement:
    """The `decode plx-features` view: no values, everything in the status."""
    features = parse_plx_features(data)
    status: dict[str, Any] = {
        "supported_features": features.supported,
        "supported": bit_names(features.supported, SUPPORTED_FEATURE_BITS),
    }
    if features.measurement_status_support is not None:
        status["measurement_status_support"] = features.measurement_status_support
    if features.device_status_support is not None:
        status["device_status_support"] = features.device_status_support
    return build_measurement("plx-features", {}, status=status)


def _status_fields(
    data: bytes,
    offset: int,
    has_measurement: bool,
    has_device: bool,
    features: PlxFeatures | None,
    flags: set[QualityFlag],
    status: dict[str, Any],
) -> int:
    """Read the optional status fields, add their canonical flags; returns the new offset."""
    if has_measurement:
        raw = int.from_bytes(data[offset : offset + 2], "little")
        offset += 2
        status["measurement_status"] = raw
        status["measurement_status_bits"] = bit_names(raw, MEASUREMENT_STATUS_BITS)
        trusted = raw if features is None else raw & features.measurement_mask()
        flags.update(f for bit, f in MEASUREMENT_STATUS_FLAGS.items() if trusted & (1 << bit))
    if has_device:
        raw = int.from_bytes(data[offset : offset + 3], "little")
        offset += 3
        status["device_status"] = raw
        status["device_status_bits"] = bit_names(raw, DEVICE_STATUS_BITS)
        trusted = raw if features is None else raw & features.device_mask()
        flags.update(f for bit, f in DEVICE_STATUS_FLAGS.items() if trusted & (1 << bit))
    return offset


def parse_plx_continuous(
    data: bytes, features: PlxFeatures | None = None, ranges: Ranges = DEFAULT_PLAUSIBLE_RANGES
) -> Measurement:
    """0x2A5F. ``features`` (read from 0x2A60) masks status bits; ``None`` trusts every bit."""
    require_length(data, 1, "PLX Continuous")
    flag_byte = data[0]
    needed = 5 + 4 * bool(flag_byte & 0x01) + 4 * bool(flag_byte & 0x02)
    needed += 2 * bool(flag_byte & 0x04) + 3 * bool(flag_byte & 0x08) + 2 * bool(flag_byte & 0x10)
    require_length(data, needed, "PLX Continuous")
    flags: set[QualityFlag] = set()
    status: dict[str, Any] = {"flags": flag_byte}
    readings: dict[Parameter, float | None] = {
        Parameter.SPO2: read_sfloat(data, 1, flags),
        Parameter.PULSE_RATE: read_sfloat(data, 3, flags),
    }
    offset = 5
    for bit, name in ((0x01, "fast"), (0x02, "slow")):
        if flag_byte & bit:
            status[f"spo2_{name}"] = aux_sfloat(data, offset)
            status[f"pulse_rate_{name}"] = aux_sfloat(data, offset + 2)
            offset += 4
    offset = _status_fields(
        data, offset, bool(flag_byte & 0x04), bool(flag_byte & 0x08), features, flags, status
    )
    if flag_byte & 0x10:
        readings[Parameter.PERFUSION_INDEX] = read_sfloat(data, offset, flags)
    return build_measurement("plx-continuous", readings, flags, status, ranges=ranges)


def _timestamp(data: bytes, offset: int) -> str | None:
    """The device clock as ISO text (its time zone is unknown), or None when year/month is 0."""
    year = int.from_bytes(data[offset : offset + 2], "little")
    month, day, hour, minute, second = data[offset + 2 : offset + 7]
    try:
        return datetime(year, month, day, hour, minute, second).isoformat()  # noqa: DTZ001
    except ValueError:
        return None


def timestamp_fields(data: bytes, offset: int) -> dict[str, Any]:
    """Raw and readable forms of a 7-byte Bluetooth date-time (naive device clock)."""
    year = int.from_bytes(data[offset : offset + 2], "little")
    month, day, hour, minute, second = data[offset + 2 : offset + 7]
    fields: dict[str, Any] = {
        "timestamp_fields": [year, month, day, hour, minute, second],
        "timestamp": _timestamp(data, offset),
    }
    if year == 0:
        fields["timestamp_year_unknown"] = True
    return fields


def parse_plx_spot_check(
    data: bytes, features: PlxFeatures | None = None, ranges: Ranges = DEFAULT_PLAUSIBLE_RANGES
) -> Measurement:
    """0x2A5E (its flag bits differ from 0x2A5F: bit0 is the timestamp here)."""
    require_length(data, 1, "PLX Spot-check")
    flag_byte = data[0]
    needed = 5 + 7 * bool(flag_byte & 0x01) + 2 * bool(flag_byte & 0x02)
    needed += 3 * bool(flag_byte & 0x04) + 2 * bool(flag_byte & 0x08)
    require_length(data, needed, "PLX Spot-check")
    flags: set[QualityFlag] = set()
    status: dict[str, Any] = {"flags": flag_byte}
    readings: dict[Parameter, float | None] = {
        Parameter.SPO2: read_sfloat(data, 1, flags),
        Parameter.PULSE_RATE: read_sfloat(data, 3, flags),
    }
    offset = 5
    if flag_byte & 0x01:
        status.update(timestamp_fields(data, offset))
        offset += 7
    if flag_byte & 0x10:
        status["device_clock_not_set"] = True
    offset = _status_fields(
        data, offset, bool(flag_byte & 0x02), bool(flag_byte & 0x04), features, flags, status
    )
    if flag_byte & 0x08:
        readings[Parameter.PERFUSION_INDEX] = read_sfloat(data, offset, flags)
    return build_measurement("plx-spot-check", readings, flags, status, ranges=ranges)
