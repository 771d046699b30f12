"""`python -m rules news2 | replay | check-config`: the CSV and JSON-line contract."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

from rules.__main__ import main

ROOT = Path(__file__).resolve().parents[2]
OUTPUT_COLUMNS = [
    "rr",
    "spo2",
    "spo2_scale",
    "on_oxygen",
    "sbp",
    "pulse",
    "consciousness",
    "temp",
    "rr_score",
    "spo2_score",
    "oxygen_score",
    "sbp_score",
    "pulse_score",
    "consciousness_score",
    "temp_score",
    "total",
    "band",
]


def run(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(argv, stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# --- news2 --------------------------------------------------------------------------------------
def test_news2_csv(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "obs.csv",
        (
            "rr,spo2,spo2_scale,on_oxygen,sbp,pulse,consciousness,temp\n"
            "16,97,1,0,120,70,A,37.0\n"
            "8,91,1,1,90,40,V,35.0\n"
            "18,97,2,1,120,70,A,37.0\n"
            "16,97,1,0,220,70,A,37.0\n"
            ",97,1,0,120,70,A,\n"
        ),
    )
    code, out, err = run(["news2", str(path)])
    assert code == 0, err
    rows = list(csv.DictReader(io.StringIO(out)))
    assert list(rows[0].keys()) == OUTPUT_COLUMNS
    assert rows[0]["total"] == "0"
    assert rows[0]["band"] == "low"
    # 3 + 3 + 2 + 3 + 3 + 3 + 3
    assert [rows[1][c] for c in OUTPUT_COLUMNS[8:]] == [
        "3",
        "3",
        "2",
        "3",
        "3",
        "3",
        "3",
        "20",
        "high",
    ]
    # scale 2, 97 % on oxygen: 3, plus 2 for oxygen
    assert (rows[2]["spo2_score"], rows[2]["oxygen_score"], rows[2]["total"], rows[2]["band"]) == (
        "3",
        "2",
        "5",
        "medium",
    )
    assert (rows[3]["sbp_score"], rows[3]["total"], rows[3]["band"]) == ("3", "3", "low-medium")
    assert (rows[4]["rr_score"], rows[4]["temp_score"], rows[4]["total"], rows[4]["band"]) == (
        "",
        "",
        "",
        "incomplete",
    )
    assert rows[4]["spo2"] == "97"  # input columns echoed


def test_news2_malformed_row_reported_with_line_number(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "obs.csv",
        (
            "rr,spo2,spo2_scale,on_oxygen,sbp,pulse,consciousness,temp\n"
            "16,97,1,0,120,70,A,37.0\n"
            "16,97,1,0,120,70,X,37.0\n"
            "16,ninety,1,0,120,70,A,37.0\n"
        ),
    )
    code, out, err = run(["news2", str(path)])
    assert code == 1
    assert out == ""  # nothing half-written
    assert "line 3: consciousness" in err
    assert "line 4: spo2" in err


def test_news2_missing_column(tmp_path: Path) -> None:
    path = write(tmp_path, "obs.csv", "rr,spo2\n16,97\n")
    code, _, err = run(["news2", str(path)])
    assert code == 1
    assert "missing column" in err


def test_news2_refuses_a_fractional_integer_input(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "obs.csv",
        ("rr,spo2,spo2_scale,on_oxygen,sbp,pulse,consciousness,temp\n16.5,97,1,0,120,70,A,37.0\n"),
    )
    code, _, err = run(["news2", str(path)])
    assert code == 1
    assert "line 2: rr" in err


def test_news2_ranges_are_the_records(tmp_path: Path) -> None:
    """The command refuses what the record refuses (measurement_limits.yaml): a rate of 90 and
    a temperature of 44.0 °C, which its own table once let through, are typing errors here too;
    the edges of each range are accepted."""
    from measurement_limits import plausible_ranges
    from vocabulary import Parameter

    ranges = plausible_ranges()
    rr, temp, sbp = ranges[Parameter.RR], ranges[Parameter.TEMP], ranges[Parameter.SYSTOLIC]
    header = "rr,spo2,spo2_scale,on_oxygen,sbp,pulse,consciousness,temp\n"
    edges = write(
        tmp_path,
        "edges.csv",
        header + f"{rr.high:g},97,1,0,120,70,A,{temp.low:.1f}\n{rr.low:g},97,1,0,120,70,A,"
        f"{temp.high:.1f}\n",
    )
    code, _, err = run(["news2", str(edges)])
    assert code == 0, err
    path = write(
        tmp_path,
        "obs.csv",
        header + "90,97,1,0,120,70,A,37.0\n16,97,1,0,120,70,A,44.0\n16,97,1,0,350,70,A,37.0\n",
    )
    code, out, err = run(["news2", str(path)])
    assert code == 1 and out == ""
    assert f"line 2: rr: 90 is outside {rr.low:g}-{rr.high:g}" in err
    assert f"line 3: temp: 44.0 is outside {temp.low:g}-{temp.high:g} °C" in err
    assert f"line 4: sbp: 350 is outside {sbp.low:g}-{sbp.high:g}" in err


# --- replay -------------------------------------------------------------------------------------
TIMELINE = """\
time,parameter,value,flags
2025-03-01T09:00:00+00:00,spo2,97,
2025-03-01T09:00:01+00:00,spo2,84,
2025-03-01T09:00:02+00:00,spo2,84,
2025-03-01T09:00:03+00:00,spo2,84,
2025-03-01T09:00:04+00:00,spo2,84,
2025-03-01T09:00:05+00:00,spo2,84,
2025-03-01T09:00:06+00:00,spo2,84,
2025-03-01T09:00:07+00:00,spo2,97,
2025-03-01T09:00:08+00:00,spo2,97,
2025-03-01T09:00:09+00:00,acknowledge,spo2_low,
2025-03-01T09:00:09+00:00,spo2,97,
2025-03-01T09:00:15+00:00,spo2,97,
2025-03-01T09:00:20+00:00,spo2,97,
2025-03-01T09:00:25+00:00,spo2,97,
"""
LINE_KEYS = ["time", "event", "rule", "priority", "kind", "message", "evidence"]


def test_replay_prints_json_lines_in_time_order(tmp_path: Path) -> None:
    code, out, err = run(["replay", str(write(tmp_path, "t.csv", TIMELINE))])
    assert code == 0, err
    lines = [json.loads(line) for line in out.splitlines()]
    # 84 % from :01: the critical level's 5 s delay is decided at :06, and the alarm is raised
    # at its deepest level (every shallower one is met with it). Back at 97 % from :07, every
    # level has held its clearing value 15 s at :22: the acknowledged alarm resolves then.
    assert [(x["time"], x["event"], x["rule"], x["priority"]) for x in lines] == [
        ("2025-03-01T09:00:06+00:00", "raised", "spo2_low", "high"),
        ("2025-03-01T09:00:09+00:00", "acknowledged", "spo2_low", "high"),
        ("2025-03-01T09:00:22+00:00", "resolved", "spo2_low", "high"),
    ]
    for line in lines:
        assert list(line) == LINE_KEYS
        assert line["kind"] == "physiological"
        assert line["evidence"]["rule_set_version"] == "itbmon-default-3"
    raised = lines[0]
    assert raised["message"].startswith("Critical desaturation: SpO2 85 % or below.")
    assert raised["evidence"]["level"] == "critical_desaturation"
    assert raised["evidence"]["levels_met"] == [
        "desaturation",
        "severe_desaturation",
        "critical_desaturation",
    ]
    assert raised["evidence"]["value"] == 84
    assert raised["evidence"]["since"] == "2025-03-01T09:00:01+00:00"
    assert lines[1]["evidence"]["by"] == "replay"
    assert lines[1]["evidence"]["condition_present"] is True


def test_replay_fires_the_timers_of_an_instant_after_its_rows(tmp_path: Path) -> None:
    # The timeline ends at :06, the instant the critical level is decided: the replay runs
    # the timers up to and including the last row's time.
    text = "".join(TIMELINE.splitlines(keepends=True)[:8])
    code, out, err = run(["replay", str(write(tmp_path, "t.csv", text))])
    assert code == 0, err
    assert [(json.loads(x)["time"], json.loads(x)["event"]) for x in out.splitlines()] == [
        ("2025-03-01T09:00:06+00:00", "raised")
    ]


def test_replay_keeps_the_input_offset(tmp_path: Path) -> None:
    code, utc, _ = run(["replay", str(write(tmp_path, "t.csv", TIMELINE))])
    assert code == 0
    code, out, _ = run(
        ["replay", str(write(tmp_path, "t.csv", TIMELINE.replace("+00:00", "+01:00")))]
    )
    assert code == 0
    times = [json.loads(x)["time"] for x in out.splitlines()]
    assert times[0] == "2025-03-01T09:00:06+01:00"
    assert times == [json.loads(x)["time"].replace("+00:00", "+01:00") for x in utc.splitlines()]


def test_replay_runs_timers_to_the_last_row(tmp_path: Path) -> None:
    text = (
        "time,parameter,value\n2025-03-01T09:00:00+00:00,spo2,97\n2025-03-01T09:00:30+00:00,rr,16\n"
    )
    code, out, _ = run(["replay", str(write(tmp_path, "t.csv", text))])
    assert code == 0
    assert [json.loads(x)["rule"] for x in out.splitlines()] == ["device_lost"]
    assert json.loads(out.splitlines()[0])["time"] == "2025-03-01T09:00:10+00:00"


def test_replay_flags_only_rows_and_observation_sets(tmp_path: Path) -> None:
    rows = ["time,parameter,value,flags"]
    rows += [f"2025-03-01T09:00:{s:02d}+00:00,spo2,,no_finger" for s in range(12)]
    # One observation set at 09:01 with a stream reading at the same time, rows in any order.
    rows += [
        "2025-03-01T09:01:00+00:00,rr,16,",
        "2025-03-01T09:01:00+00:00,on_oxygen,0,",
        "2025-03-01T09:01:00+00:00,systolic,220,",
        "2025-03-01T09:01:00+00:00,pulse_rate,70,",
        "2025-03-01T09:01:00+00:00,consciousness,A,",
        "2025-03-01T09:01:00+00:00,temp,37.0,",
        "2025-03-01T09:01:00+00:00,spo2,97,",
        "2025-03-01T09:01:00+00:00,side_effect,headache,",
        "2025-03-01T09:01:00+00:00,side_effect,seizure,",
    ]
    code, out, err = run(["replay", str(write(tmp_path, "t.csv", "\n".join(rows) + "\n"))])
    assert code == 0, err
    events = [(x["time"][11:19], x["event"], x["rule"]) for x in map(json.loads, out.splitlines())]
    assert events == [
        ("09:00:10", "raised", "sensor_off"),
        ("09:00:21", "raised", "device_lost"),  # readings stopped at :11
        # Every event of 09:01:00 first (the set's alarms), then that instant's timers: the
        # valid SpO2 ended the flagged run and the silence, so sensor_off's escalation, due at
        # the same instant, never fires; the technical alarms end instead.
        ("09:01:00", "raised", "side_effect_red"),
        ("09:01:00", "raised", "side_effect"),
        ("09:01:00", "raised", "news2"),
        ("09:01:00", "resolved", "device_lost"),
        ("09:01:00", "resolved", "sensor_off"),
    ]
    lines = [json.loads(x) for x in out.splitlines()]
    assert [x["priority"] for x in lines] == ["low", "low", "high", "low", "medium", "low", "low"]
    # Systolic 220 scores 3 alone; the set's SpO2 and pulse are the oximeter's of that instant.
    assert lines[4]["evidence"]["level"] == "news2_red_score"
    assert (lines[4]["evidence"]["total"], lines[4]["evidence"]["band"]) == (3, "low-medium")
    assert lines[2]["evidence"]["items"] == ["seizure"]
    assert lines[3]["evidence"]["items"] == ["headache"]


def test_replay_sensor_off_becomes_medium_after_a_minute(tmp_path: Path) -> None:
    rows = ["time,parameter,value,flags"]
    rows += [
        f"2025-03-01T09:{s // 60:02d}:{s % 60:02d}+00:00,spo2,,sensor_disconnected"
        for s in range(0, 66, 2)
    ]
    code, out, err = run(["replay", str(write(tmp_path, "t.csv", "\n".join(rows) + "\n"))])
    assert code == 0, err
    events = [
        (x["time"][11:19], x["event"], x["rule"], x["priority"])
        for x in map(json.loads, out.splitlines())
    ]
    assert events == [
        ("09:00:10", "raised", "sensor_off", "low"),
        ("09:01:00", "escalated", "sensor_off", "medium"),
    ]


def test_replay_malformed_row_reported_with_line_number(tmp_path: Path) -> None:
    text = TIMELINE.replace("2025-03-01T09:00:03+00:00,spo2,84,", "2025-03-01T09:00:03,spo2,84,")
    code, out, err = run(["replay", str(write(tmp_path, "t.csv", text))])
    assert code == 1
    assert out == ""
    assert "line 5:" in err
    assert "UTC offset" in err
    for bad, where in [
        ("spo3,84", "unknown parameter"),
        ("poss,7", "poss"),
        ("acknowledge,nonsense", "unknown rule id"),
        ("side_effect,hiccups", "unknown side effect"),
    ]:
        text = TIMELINE.replace("spo2,84,\n2025-03-01T09:00:04", f"{bad},\n2025-03-01T09:00:04", 1)
        code, _, err = run(["replay", str(write(tmp_path, "t.csv", text))])
        assert code == 1
        assert f"line 5: {where}" in err or ("line 5:" in err and where in err), err


def test_replay_empty_value_without_flags(tmp_path: Path) -> None:
    text = "time,parameter,value,flags\n2025-03-01T09:00:00+00:00,spo2,,\n"
    code, _, err = run(["replay", str(write(tmp_path, "t.csv", text))])
    assert code == 1
    assert "line 2:" in err


def test_replay_with_other_rules(tmp_path: Path) -> None:
    rules = (ROOT / "rules" / "default_rules.yaml").read_text()
    assert rules.count("max_delay_s: 5\n") == 1  # the critical desaturation level
    stricter = rules.replace("max_delay_s: 5\n", "max_delay_s: 2\n")
    rules_path = write(tmp_path, "rules.yaml", stricter.replace("itbmon-default-3", "site-2"))
    code, out, _ = run(
        ["replay", str(write(tmp_path, "t.csv", TIMELINE)), "--rules", str(rules_path)]
    )
    assert code == 0
    first = json.loads(out.splitlines()[0])
    assert (
        first["time"],
        first["rule"],
        first["evidence"]["level"],
        first["evidence"]["rule_set_version"],
    ) == ("2025-03-01T09:00:03+00:00", "spo2_low", "critical_desaturation", "site-2")


# --- check-config -------------------------------------------------------------------------------
def test_check_config_default_lists_every_level_of_every_rule() -> None:
    code, out, _ = run(["check-config", str(ROOT / "rules" / "default_rules.yaml")])
    assert code == 0
    lines = out.splitlines()
    assert lines[0].endswith(": OK, rule set 'itbmon-default-3', 19 rules, 29 levels")
    rows = [line.split("\t") for line in lines[1:]]
    assert all(len(row) == 4 for row in rows)
    assert len(rows) == 29
    assert rows[:6] == [
        [
            "spo2_low/desaturation",
            "medium",
            "physiological",
            "counter 60 below 94 (decay 1/s), max 60 s, clears at >= 95 held 15 s",
        ],
        [
            "spo2_low/severe_desaturation",
            "high",
            "physiological",
            "counter 25 below 92 (decay 1/s), not before 11 s, max 30 s, "
            "or 3 entries within 60 s, clears at >= 93 held 15 s",
        ],
        [
            "spo2_low/critical_desaturation",
            "high",
            "physiological",
            "max 5 s, clears at >= 87 held 15 s",
        ],
        [
            "pulse_low/bradycardia",
            "medium",
            "physiological",
            "counter 60 below 51 (decay 3/s), max 30 s, clears at >= 54 held 60 s",
        ],
        [
            "pulse_low/severe_bradycardia",
            "high",
            "physiological",
            "max 10 s, clears at >= 44 held 60 s",
        ],
        [
            "pulse_severe_high/severe_tachycardia",
            "high",
            "physiological",
            "max 30 s, clears at <= 127 held 15 s",
        ],
    ]
    by_level = {row[0]: row[1:] for row in rows}
    assert by_level["sbp_low/severe_hypotension"] == ["high", "physiological", "each entry"]
    assert by_level["rr_low/slow_breathing"] == ["medium", "physiological", "each entry"]
    assert by_level["sedation/sedation"] == ["high", "physiological", "each entry"]
    assert [row[0] for row in rows if row[0].startswith("news2/")] == [
        "news2/news2_red_score",
        "news2/news2_medium",
        "news2/news2_high",
    ]
    assert by_level["news2/news2_high"] == ["high", "physiological", "each entry"]
    assert rows[-8:] == [
        ["device_lost/device_lost", "low", "technical", "delay 10 s"],
        ["device_lost/device_lost_medium", "medium", "technical", "after 60 s"],
        ["sensor_off/sensor_off", "low", "technical", "delay 10 s"],
        ["sensor_off/sensor_off_medium", "medium", "technical", "after 60 s"],
        ["signal_unusable/signal_unusable", "low", "technical", "delay 15 s"],
        ["signal_unusable/signal_unusable_medium", "medium", "technical", "after 60 s"],
        ["obs_overdue/obs_overdue", "medium", "technical", "delay 300 s"],
        ["readings_dropped/readings_dropped", "medium", "technical", "delay 0 s"],
    ]


def test_check_config_bad_file_names_the_line(tmp_path: Path) -> None:
    rules = (ROOT / "rules" / "default_rules.yaml").read_text().splitlines()
    index = next(i for i, line in enumerate(rules) if "priority: medium" in line)
    assert rules[index].strip() == "priority: medium"  # the first level's, under spo2_low
    rules[index] = rules[index].replace("medium", "urgent")
    path = write(tmp_path, "bad.yaml", "\n".join(rules) + "\n")
    code, out, err = run(["check-config", str(path)])
    assert code == 1
    assert out == ""
    assert f"line {index + 1}:" in err
    assert "unknown priority 'urgent'" in err


def test_module_entry_point_runs() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "rules", "check-config", str(ROOT / "rules" / "default_rules.yaml")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "obs_overdue/obs_overdue\tmedium\ttechnical\tdelay 300 s" in result.stdout
    usage = subprocess.run(
        [sys.executable, "-m", "rules"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert usage.returncode == 2
