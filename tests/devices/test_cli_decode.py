"""The `python -m devices decode` contract (README), to the letter."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from devices.__main__ import main

ROOT = Path(__file__).resolve().parents[2]


def run(*argv: str) -> tuple[int, list[dict], str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out=out, err=err)
    return code, [json.loads(line) for line in out.getvalue().splitlines()], err.getvalue()


def test_decoded_line_has_exactly_the_contract_keys() -> None:
    code, lines, _ = run("decode", "plx-continuous", "00 D5 F3 48 00")
    assert code == 0
    assert lines == [
        {
            "protocol": "plx-continuous",
            "values": {"spo2": 98.1, "pulse_rate": 72},
            "missing": [],
            "flags": [],
            "status": {"flags": 0},
        }
    ]


def test_hex_with_or_without_spaces_and_several_chunks() -> None:
    code, lines, _ = run("decode", "berrymed", "8732", "05 48 62 88", "28044B61")
    assert code == 0
    assert [line["values"]["pulse_rate"] for line in lines] == [72, 75]


def test_missing_values_never_appear_as_numbers() -> None:
    code, lines, _ = run("decode", "nonin-ble", "0A 08 1E 00 00 00 0A 7F 01 FF")
    assert code == 0
    assert "spo2" not in lines[0]["values"] and "pulse_rate" not in lines[0]["values"]
    assert {"spo2", "pulse_rate"} <= set(lines[0]["missing"])
    assert "searching" in lines[0]["flags"]


def test_malformed_frame_prints_error_and_exits_1() -> None:
    code, lines, _ = run("decode", "bp-measurement", "03 02 03 04 05 06 07", "00 7C 00 56 00 61 00")
    assert code == 1
    assert set(lines[0]) == {"protocol", "error"} and lines[0]["protocol"] == "bp-measurement"
    assert lines[1]["values"] == {"systolic": 124, "diastolic": 86, "mean_arterial": 97}


def test_device_name_selects_quirk() -> None:
    chunk = "14 7C 00 56 00 61 00 00 48 01 00 01"
    code, lines, _ = run("decode", "bp-measurement", chunk, "--device-name", "BM85")
    assert code == 0 and lines[0]["values"]["pulse_rate"] == 72
    code, lines, _ = run("decode", "bp-measurement", "--device-name", "BM85", chunk)
    assert code == 0 and lines[0]["values"]["pulse_rate"] == 72


def test_masimo_text_chunk() -> None:
    line = "11/21/26 09:15:03 SN=0000012345 SPO2=---% BPM=--- PI=--.-- ALARM=0000 EXC=000020"
    code, lines, _ = run("decode", "masimo", line)
    assert code == 0
    assert lines[0]["values"] == {} and lines[0]["flags"] == ["no_finger"]
    assert lines[0]["missing"] == ["spo2", "pulse_rate", "perfusion_index"]


def test_heart_rate_reports_pulse_rate() -> None:
    assert run("decode", "heart-rate", "00 55")[1][0]["values"] == {"pulse_rate": 85}


def test_intermediate_cuff_pressure_via_bp_protocol_family() -> None:
    code, lines, _ = run("decode", "intermediate-cuff-pressure", "00 78 00 FF 07 FF 07")
    assert code == 0 and lines[0]["values"] == {} and lines[0]["status"]["measuring"] is True


@pytest.mark.parametrize(
    "argv",
    [
        ("decode",),
        ("decode", "plx-continuous"),
        ("decode", "no-such-protocol", "00"),
        ("decode", "plx-continuous", "0G"),
        ("decode", "plx-continuous", "123"),
        ("decode", "plx-continuous", "00", "--bogus"),
        (),
        ("frobnicate",),
        ("stream", "nowhere:1"),
        ("stream", "sim:no-such-scenario"),
        ("stream", "sim:steady?speed=fast"),
        ("stream", "serial:/dev/ttyUSB0"),
    ],
)
def test_usage_errors_exit_2_without_traceback(argv: tuple[str, ...]) -> None:
    code, lines, err = run(*argv)
    assert code == 2
    assert lines == []
    assert "Traceback" not in err and err.strip()


def test_real_process_contract() -> None:
    ok = subprocess.run(
        [sys.executable, "-m", "devices", "decode", "berrymed", "01 02 03 87 32 05 48 62"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["values"] == {"spo2": 98, "pulse_rate": 72, "pleth": 50}
    bad = subprocess.run(
        [sys.executable, "-m", "devices", "decode", "berrymed", "07 32 05 48 62"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert bad.returncode == 1 and "Traceback" not in bad.stderr
    assert set(json.loads(bad.stdout)) == {"protocol", "error"}
    usage = subprocess.run(
        [sys.executable, "-m", "devices", "decode"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert usage.returncode == 2 and "Traceback" not in usage.stderr
