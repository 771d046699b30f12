"""Vectors of the Bluetooth SIG profiles (PLX, Blood Pressure), plus edge cases of our own."""

from __future__ import annotations

import pytest

from devices.decoders import parse_plx_continuous, parse_plx_features
from tests.devices.helpers import decode_error, decode_one
from vocabulary import Parameter as P
from vocabulary import QualityFlag as F

# ------------------------------------------------------------------ 0x2A5F continuous


def test_continuous_sfloat_values() -> None:
    m = decode_one("plx-continuous", "00 E8 F3 84 F3")
    assert m.values == {P.SPO2: 100.0, P.PULSE_RATE: 90.0}
    assert m.missing == () and m.flags == ()


def test_continuous_integer_values() -> None:
    m = decode_one("plx-continuous", "00 64 00 5A 00")
    assert m.values == {P.SPO2: 100, P.PULSE_RATE: 90}


def test_continuous_status_and_pai() -> None:
    m = decode_one("plx-continuous", "1C 5F 00 5A 00 20 00 00 00 00 57 F0")
    assert m.values == {P.SPO2: 95, P.PULSE_RATE: 90, P.PERFUSION_INDEX: pytest.approx(8.7)}
    assert m.status["measurement_status"] == 0x0020
    assert m.status["measurement_status_bits"] == ["measurement_ongoing"]
    assert m.status["device_status"] == 0
    assert m.flags == ()


def test_continuous_all_fields() -> None:
    m = decode_one("plx-continuous", "1F DE F3 CA F3 CA F3 5A F5 D4 F3 B2 F2 20 01 00 00 00 7A E3")
    assert m.values == {P.SPO2: 99.0, P.PULSE_RATE: 97.0, P.PERFUSION_INDEX: 8.90}
    assert (m.status["spo2_fast"], m.status["pulse_rate_fast"]) == (97.0, 137.0)
    assert (m.status["spo2_slow"], m.status["pulse_rate_slow"]) == (98.0, 69.0)
    assert m.status["measurement_status"] == 0x0120
    assert m.status["device_status"] == 0


def test_continuous_fast_and_slow() -> None:
    m = decode_one("plx-continuous", "03 61 00 48 00 60 00 4A 00 62 00 46 00")
    assert m.values == {P.SPO2: 97, P.PULSE_RATE: 72}
    assert (m.status["spo2_fast"], m.status["pulse_rate_fast"]) == (96, 74)
    assert (m.status["spo2_slow"], m.status["pulse_rate_slow"]) == (98, 70)


def test_continuous_early_estimate_low_perfusion() -> None:
    m = decode_one("plx-continuous", "0C 5F 00 3C 00 40 00 20 00 00")
    assert m.values == {P.SPO2: 95, P.PULSE_RATE: 60}
    assert "early_estimated_data" in m.status["measurement_status_bits"]
    assert m.flags == (F.LOW_PERFUSION,)


def test_continuous_no_finger() -> None:
    m = decode_one("plx-continuous", "08 FF 07 FF 07 00 08 00")
    assert m.values == {}
    assert m.missing == (P.SPO2, P.PULSE_RATE)
    assert m.flags == (F.NO_FINGER,)


def test_continuous_invalid_measurement_pai_missing() -> None:
    m = decode_one("plx-continuous", "14 FF 07 FF 07 00 80 FF 07")
    assert m.values == {}
    assert m.missing == (P.SPO2, P.PULSE_RATE, P.PERFUSION_INDEX)
    assert m.flags == (F.INVALID,)


def test_continuous_decimal_spo2() -> None:
    m = decode_one("plx-continuous", "00 D5 F3 48 00")
    assert m.values == {P.SPO2: 98.1, P.PULSE_RATE: 72}


def test_continuous_truncated_is_an_error() -> None:
    decode_error("plx-continuous", "1C 5F 00 5A 00 20 00 00 00 00 57")
    decode_error("plx-continuous", "00 E8 F3 84")
    decode_error("plx-continuous", "")


def test_continuous_infinity_is_implausible() -> None:
    m = decode_one("plx-continuous", "00 FE 07 48 00")
    assert m.values == {P.PULSE_RATE: 72}
    assert m.missing == (P.SPO2,)
    assert m.flags == (F.IMPLAUSIBLE,)


def test_continuous_reserved_sfloat_is_invalid_and_missing() -> None:
    m = decode_one("plx-continuous", "00 01 08 48 00")
    assert P.SPO2 in m.missing and F.INVALID in m.flags


def test_continuous_spo2_over_100_is_implausible() -> None:
    m = decode_one("plx-continuous", "00 65 00 48 00")  # 101 %
    assert m.values == {P.PULSE_RATE: 72}
    assert m.missing == (P.SPO2,)
    assert m.flags == (F.IMPLAUSIBLE,)


def test_status_bits_masked_by_features() -> None:
    frame = bytes.fromhex("08 5F 00 48 00 00 08 00")  # device status: no finger
    no_support = parse_plx_features(bytes.fromhex("00 00"))
    assert parse_plx_continuous(frame, no_support).flags == ()
    supported = parse_plx_features(bytes.fromhex("02 00 00 08 00"))
    assert parse_plx_continuous(frame, supported).flags == (F.NO_FINGER,)
    assert parse_plx_continuous(frame).flags == (F.NO_FINGER,)  # unknown features: trust bits


# ------------------------------------------------------------------ 0x2A5E spot-check


def test_spot_check_full() -> None:
    m = decode_one("plx-spot-check", "0F AC F3 BE F5 E8 07 0B 1D 17 08 39 20 40 22 00 00 66 E3")
    assert m.values == {P.SPO2: 94.0, P.PULSE_RATE: 147.0, P.PERFUSION_INDEX: 8.70}
    assert m.status["timestamp"] == "2024-11-29T23:08:57"
    assert m.status["measurement_status"] == 0x4020
    assert m.status["device_status"] == 0x000022
    assert F.QUESTIONABLE in m.flags and F.LOW_PERFUSION in m.flags


def test_spot_check_measurement_unavailable() -> None:
    m = decode_one("plx-spot-check", "02 FF 07 FF 07 00 20")
    assert m.missing == (P.SPO2, P.PULSE_RATE) and m.values == {}
    assert "measurement_unavailable" in m.status["measurement_status_bits"]
    assert m.flags == (F.INVALID,)


def test_spot_check_sensor_disconnected() -> None:
    m = decode_one("plx-spot-check", "04 FF 07 FF 07 00 80 00")
    assert m.missing == (P.SPO2, P.PULSE_RATE)
    assert m.flags == (F.SENSOR_DISCONNECTED,)


def test_spot_check_clock_not_set() -> None:
    m = decode_one("plx-spot-check", "11 61 00 48 00 E9 07 01 02 03 04 05")
    assert m.values == {P.SPO2: 97, P.PULSE_RATE: 72}
    assert m.status["timestamp"] == "2025-01-02T03:04:05"
    assert m.status["device_clock_not_set"] is True


def test_spot_check_flag_bits_differ_from_continuous() -> None:
    # bit0 means "timestamp" here: 5 bytes is too short for it.
    decode_error("plx-spot-check", "01 61 00 48 00")
    assert decode_one("plx-continuous", "01 61 00 48 00 60 00 4A 00").values[P.SPO2] == 97


# ------------------------------------------------------------------ 0x2A60 features


def test_features_full() -> None:
    features = parse_plx_features(bytes.fromhex("A3 00 40 10 80 01 00"))
    assert features.supported == 0x00A3
    assert features.measurement_status_support == 0x1040
    assert features.device_status_support == 0x000180
    m = decode_one("plx-features", "A3 00 40 10 80 01 00")
    assert m.status["supported_features"] == 0x00A3
    assert m.values == {} and m.missing == ()


def test_features_nothing_optional() -> None:
    features = parse_plx_features(bytes.fromhex("00 00"))
    assert (features.supported, features.measurement_status_support) == (0, None)


def test_features_missing_support_field_is_malformed() -> None:
    decode_error("plx-features", "01 00")
    decode_error("plx-features", "03 00 40 10 80 01")


# ------------------------------------------------------------------ 0x2A35 blood pressure


def test_bp_full_mmhg() -> None:
    m = decode_one("bp-measurement", "1E 8A 00 58 00 78 00 00 00 04 11 14 29 3B 3C 00 01 27 00")
    assert m.values == {P.SYSTOLIC: 138, P.DIASTOLIC: 88, P.MEAN_ARTERIAL: 120, P.PULSE_RATE: 60}
    assert m.status["timestamp_year_unknown"] is True
    assert m.status["timestamp_fields"] == [0, 4, 17, 20, 41, 59]
    assert m.status["user_id"] == 1
    assert m.status["measurement_status"] == 0x0027
    assert m.status["measurement_status_bits"] == [
        "body_movement",
        "cuff_too_loose",
        "irregular_pulse",
        "improper_measurement_position",
    ]
    assert m.flags == (F.ARTIFACT, F.QUESTIONABLE)


def test_bp_kpa_converted_to_mmhg() -> None:
    m = decode_one("bp-measurement", "15 BD F0 0B 00 9F F0 3C 00 12 00")
    assert m.values == {
        P.SYSTOLIC: 141.8,
        P.DIASTOLIC: 82.5,
        P.MEAN_ARTERIAL: 119.3,
        P.PULSE_RATE: 60,
    }
    assert m.status["unit"] == "kPa"
    assert m.status["pulse_rate_range"] == "below_lower_limit"
    assert F.QUESTIONABLE in m.flags  # loose cuff


def test_bp_flagged_mmhg_without_optional_fields() -> None:
    m = decode_one("bp-measurement", "00 BD F0 0B 00 9F F0")
    # 18.9 / 11.0 / 15.9 "mmHg": below plausibility, so missing and flagged, never stored.
    assert m.values == {}
    assert m.missing == (P.SYSTOLIC, P.DIASTOLIC, P.MEAN_ARTERIAL)
    assert m.flags == (F.IMPLAUSIBLE,)


@pytest.mark.parametrize("frame", ["01 02 03 04 05 06", "03 02 03 04 05 06 07"])
def test_bp_short_frames_are_invalid(frame: str) -> None:
    assert "require" in str(decode_error("bp-measurement", frame))


def test_bp_with_timestamp() -> None:
    m = decode_one("bp-measurement", "16 7C 00 56 00 61 00 E8 07 06 0F 11 11 1B 33 00 00 00")
    assert m.values == {P.SYSTOLIC: 124, P.DIASTOLIC: 86, P.MEAN_ARTERIAL: 97, P.PULSE_RATE: 51}
    assert m.status["timestamp"] == "2024-06-15T17:17:27"
    assert m.status["measurement_status"] == 0
    assert m.flags == ()


def test_bp_pulse_above_range() -> None:
    m = decode_one("bp-measurement", "16 7C 00 56 00 61 00 E8 07 06 0F 11 11 1B 33 00 08 00")
    assert m.status["pulse_rate_range"] == "above_upper_limit"
    assert m.values[P.PULSE_RATE] == 51


def test_bp_failed_measurement_all_missing() -> None:
    m = decode_one("bp-measurement", "01 FF 07 FF 07 FF 07")
    assert m.values == {}
    assert m.missing == (P.SYSTOLIC, P.DIASTOLIC, P.MEAN_ARTERIAL)
    assert m.flags == ()


def test_bp_reserved_flag_bits_are_ignored() -> None:
    m = decode_one("bp-measurement", "E0 7C 00 56 00 61 00")
    assert m.values == {P.SYSTOLIC: 124, P.DIASTOLIC: 86, P.MEAN_ARTERIAL: 97}


def test_intermediate_cuff_pressure_is_measuring_not_a_reading() -> None:
    m = decode_one("intermediate-cuff-pressure", "00 78 00 FF 07 FF 07")
    assert m.measuring is True
    assert m.values == {} and m.missing == ()
    assert m.status["measuring"] is True and m.status["cuff_pressure_mmhg"] == 120


# Beurer: pulse and status big-endian, a user-id byte after the pulse though flag bit3 is clear.
BEURER = "14 7C 00 56 00 61 00 00 48 01 00 01"


def test_beurer_quirk_selected_by_name() -> None:
    m = decode_one("bp-measurement", BEURER, device_name="BM85")
    assert m.values == {P.SYSTOLIC: 124, P.DIASTOLIC: 86, P.MEAN_ARTERIAL: 97, P.PULSE_RATE: 72}
    assert m.status["user_id"] == 1
    assert m.status["measurement_status"] == 0x0001
    assert m.flags == (F.ARTIFACT,)


@pytest.mark.parametrize("name", ["BM48", "Beurer BM59", "bm85", "ELITE900", "Beurer ELITE 900"])
def test_beurer_names(name: str) -> None:
    assert decode_one("bp-measurement", BEURER, device_name=name).values[P.PULSE_RATE] == 72


def test_beurer_frame_without_quirk_never_yields_a_nonsense_pulse() -> None:
    results = decode_one("bp-measurement", BEURER[:-3] + " 00", device_name="Other cuff")
    # Read little-endian, 00 48 is 0x4800 = 0 x 10^4: implausible, so missing and flagged.
    assert P.PULSE_RATE not in results.values
    assert P.PULSE_RATE in results.missing and F.IMPLAUSIBLE in results.flags
    assert results.values[P.SYSTOLIC] == 124


def test_beurer_pulse_60_read_as_spec_is_caught() -> None:
    m = decode_one("bp-measurement", "04 7C 00 56 00 61 00 00 3C")
    assert P.PULSE_RATE in m.missing and F.IMPLAUSIBLE in m.flags


# ------------------------------------------------------------------ 0x2A37 heart rate


def test_hr_simple() -> None:
    m = decode_one("heart-rate", "00 55")
    assert m.values == {P.PULSE_RATE: 85} and m.flags == ()


def test_hr_contact_not_detected() -> None:
    m = decode_one("heart-rate", "04 FF")
    assert m.values == {P.PULSE_RATE: 255}
    assert m.status["sensor_contact"] is False
    assert m.flags == (F.NO_FINGER,)


def test_hr_energy_and_rr() -> None:
    m = decode_one("heart-rate", "1E 55 32 00 21 00")
    assert m.values == {P.PULSE_RATE: 85}
    assert m.status["sensor_contact"] is True
    assert m.status["energy_expended_kj"] == 50
    assert m.status["rr_intervals_1024"] == [33]
    assert m.flags == ()


def test_hr_u16_with_several_rr() -> None:
    m = decode_one("heart-rate", "1F 01 01 32 01 01 00 02 01 FF FF")
    assert m.values == {P.PULSE_RATE: 257}
    assert m.status["energy_expended_kj"] == 306
    assert m.status["rr_intervals_1024"] == [1, 258, 65535]


def test_hr_rr_flag_without_data_is_invalid() -> None:
    assert "RR" in str(decode_error("heart-rate", "17 01 01"))


def test_hr_u16() -> None:
    assert decode_one("heart-rate", "01 C8 00").values == {P.PULSE_RATE: 200}


def test_hr_rr_seconds() -> None:
    m = decode_one("heart-rate", "10 5A 00 08 00 10")
    assert m.values == {P.PULSE_RATE: 90}
    assert [rr / 1024 for rr in m.status["rr_intervals_1024"]] == [2.0, 4.0]


def test_hr_implausible() -> None:
    m = decode_one("heart-rate", "01 2C 01")  # 300: still plausible
    assert m.values == {P.PULSE_RATE: 300}
    m = decode_one("heart-rate", "01 2D 01")  # 301
    assert m.missing == (P.PULSE_RATE,) and m.flags == (F.IMPLAUSIBLE,)
    m = decode_one("heart-rate", "00 00")
    assert m.missing == (P.PULSE_RATE,) and m.flags == (F.IMPLAUSIBLE,)
