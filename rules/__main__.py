"""`python -m rules`: news2 FILE.csv | replay TIMELINE.csv [--rules FILE] | check-config FILE.

Exit status: 0 done, 1 bad input (each problem printed to stderr with its line), 2 usage.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from measurement_limits import PlausibleRange, plausible_ranges
from rules.news2 import SCORE_NAMES, score_news2
from rules.replay import TimelineError, replay_timeline
from rules.rule_set import LimitsCondition, Rule, RuleSet, RuleSetError, load_rule_set
from vocabulary import AlarmKind, Consciousness, Parameter

NEWS2_INPUT_COLUMNS = (
    "rr",
    "spo2",
    "spo2_scale",
    "on_oxygen",
    "sbp",
    "pulse",
    "consciousness",
    "temp",
)
NEWS2_OUTPUT_COLUMNS = (*SCORE_NAMES, "total", "band")
# The CSV's columns as the vocabulary names them; their plausible ranges (outside: a typing
# error, not a patient) are measurement_limits.yaml, the ranges the record's entries use.
_PARAMETERS = {
    "rr": Parameter.RR,
    "spo2": Parameter.SPO2,
    "sbp": Parameter.SYSTOLIC,
    "pulse": Parameter.PULSE_RATE,
    "temp": Parameter.TEMP,
}


def _limits(name: str) -> PlausibleRange:
    return plausible_ranges()[_PARAMETERS[name]]


class InputError(ValueError):
    def __init__(self, line: int, message: str) -> None:
        super().__init__(f"line {line}: {message}")


def _integer(text: str, name: str, line: int) -> int | None:
    if text == "":
        return None
    try:
        number = float(text)
    except ValueError:
        raise InputError(line, f"{name}: {text!r} is not a number") from None
    if not number.is_integer():
        raise InputError(line, f"{name}: {text!r} must be a whole number")
    limits = _limits(name)
    if not limits.contains(number):
        raise InputError(line, f"{name}: {text} is outside {limits.low:g}-{limits.high:g}")
    return int(number)


def _news2_row(row: dict[str, str], line: int) -> dict[str, str]:
    cell = {name: (row.get(name) or "").strip() for name in NEWS2_INPUT_COLUMNS}
    scale_text = cell["spo2_scale"] or "1"  # scale 1 unless a clinician chose scale 2
    if scale_text not in ("1", "2"):
        raise InputError(line, f"spo2_scale must be 1 or 2, not {cell['spo2_scale']!r}")
    oxygen_text = cell["on_oxygen"]
    if oxygen_text not in ("", "0", "1"):
        raise InputError(line, f"on_oxygen must be 0 (air) or 1 (oxygen), not {oxygen_text!r}")
    consciousness = cell["consciousness"]
    if consciousness and consciousness not in {c.value for c in Consciousness}:
        raise InputError(line, f"consciousness must be A, C, V, P or U, not {consciousness!r}")
    temp: float | None = None
    if cell["temp"]:
        try:
            temp = float(cell["temp"])
        except ValueError:
            raise InputError(line, f"temp: {cell['temp']!r} is not a number") from None
        limits = _limits("temp")
        if not limits.contains(temp):
            raise InputError(
                line, f"temp: {cell['temp']} is outside {limits.low:g}-{limits.high:g} °C"
            )
    result = score_news2(
        rr=_integer(cell["rr"], "rr", line),
        spo2=_integer(cell["spo2"], "spo2", line),
        on_oxygen=None if oxygen_text == "" else oxygen_text == "1",
        sbp=_integer(cell["sbp"], "sbp", line),
        pulse=_integer(cell["pulse"], "pulse", line),
        consciousness=consciousness or None,
        temp=temp,
        spo2_scale=int(scale_text),
    )
    out = {name: "" if score is None else str(score) for name, score in result.scores.items()}
    out["total"] = "" if result.total is None else str(result.total)
    out["band"] = result.band.value
    if result.missing:
        out["_missing"] = ", ".join(result.missing)
    return out


def run_news2(path: Path, stdout: TextIO, stderr: TextIO) -> int:
    try:
        handle = path.open(newline="", encoding="utf-8-sig")
    except OSError as exc:
        print(f"{path}: cannot read: {exc}", file=stderr)
        return 1
    with handle:
        reader = csv.DictReader(handle)
        header = [name.strip() for name in (reader.fieldnames or [])]
        missing = [name for name in NEWS2_INPUT_COLUMNS if name not in header]
        if missing:
            print(f"{path}: line 1: missing column(s) {', '.join(missing)}", file=stderr)
            return 1
        reader.fieldnames = header
        rows: list[tuple[dict[str, str], dict[str, str]]] = []
        errors: list[str] = []
        for row in reader:
            line = reader.line_num
            if None in row:
                errors.append(f"{path}: line {line}: more fields than the header")
                continue
            try:
                rows.append((row, _news2_row(row, line)))
            except InputError as exc:
                errors.append(f"{path}: {exc}")
    if errors:  # nothing half-written: all rows are good or none is printed
        for error in errors:
            print(error, file=stderr)
        return 1
    writer = csv.writer(stdout, lineterminator="\n")
    writer.writerow([*header, *NEWS2_OUTPUT_COLUMNS])
    for row, scores in rows:
        writer.writerow(
            [row.get(name) or "" for name in header]
            + [scores[name] for name in NEWS2_OUTPUT_COLUMNS]
        )
    return 0


def run_replay(
    path: Path, rules_path: Path | None, spo2_scale: int, stdout: TextIO, stderr: TextIO
) -> int:
    try:
        rule_set = load_rule_set(rules_path)
    except RuleSetError as exc:
        print(str(exc), file=stderr)
        return 1
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            events, zone = replay_timeline(handle, rule_set, spo2_scale=spo2_scale)
    except OSError as exc:
        print(f"{path}: cannot read: {exc}", file=stderr)
        return 1
    except TimelineError as exc:
        print(f"{path}: {exc}", file=stderr)
        return 1
    for event in events:
        line = event.as_json_dict()
        if zone is not None:
            line["time"] = event.time.astimezone(zone).isoformat()
        stdout.write(json.dumps(line, ensure_ascii=False) + "\n")
    return 0


def _decision(rule: Rule, index: int) -> str:
    """How one level of a rule is decided and how it ends, in the words of the rule file."""
    cond = rule.condition
    if isinstance(cond, LimitsCondition) and rule.streamed:
        level = cond.levels[index]
        past = "below" if cond.direction == "low" else "above"
        parts: list[str] = []
        if level.counter is not None:
            counter = level.counter
            parts.append(
                f"counter {counter.threshold:g} {past} {counter.reference:g} "
                f"(decay {counter.decay_per_s:g}/s)"
            )
        if level.min_duration_s is not None:
            parts.append(f"not before {level.min_duration_s:g} s")
        if level.max_delay_s is not None:
            parts.append(f"max {level.max_delay_s:g} s")
        if level.repeat_entries is not None and level.repeat_within_s is not None:
            parts.append(f"or {level.repeat_entries} entries within {level.repeat_within_s:g} s")
        if level.clears_at is not None:
            at = ">=" if cond.direction == "low" else "<="
            parts.append(f"clears at {at} {level.clears_at:g} held {level.hold_s or 0:g} s")
        return ", ".join(parts)
    if rule.kind is AlarmKind.TECHNICAL:
        if index == 0:
            return f"delay {rule.delay_s:g} s"
        return f"after {getattr(cond, 'escalate_after_s', 0):g} s"
    return "each entry"


def run_check_config(path: Path, stdout: TextIO, stderr: TextIO) -> int:
    """Validate a rule file; list every level of every rule, one per line:
    `rule_id/level_id<TAB>priority<TAB>kind<TAB>decision`."""
    try:
        rule_set: RuleSet = load_rule_set(path)
    except RuleSetError as exc:
        print(str(exc), file=stderr)
        return 1
    levels = sum(len(rule.levels) for rule in rule_set.rules)
    print(
        f"{path}: OK, rule set {rule_set.version!r}, {len(rule_set.rules)} rules, {levels} levels",
        file=stdout,
    )
    for rule in rule_set.rules:
        for index, level in enumerate(rule.levels):
            print(
                f"{rule.id}/{level.id}\t{level.priority.value}\t{rule.kind.value}\t"
                f"{_decision(rule, index)}",
                file=stdout,
            )
    return 0


def main(
    argv: Sequence[str] | None = None, stdout: TextIO | None = None, stderr: TextIO | None = None
) -> int:
    stdout = stdout or sys.stdout
    stderr = stderr or sys.stderr
    parser = argparse.ArgumentParser(prog="python -m rules", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    news2 = commands.add_parser("news2", help="score NEWS2 for each row of a CSV")
    news2.add_argument("file", type=Path)
    replay = commands.add_parser("replay", help="replay a trial timeline, print alarm events")
    replay.add_argument("file", type=Path)
    replay.add_argument("--rules", type=Path, default=None, help="rule file (default: shipped)")
    replay.add_argument("--spo2-scale", type=int, choices=(1, 2), default=1)
    check = commands.add_parser("check-config", help="validate a rule file")
    check.add_argument("file", type=Path)
    args = parser.parse_args(list(argv) if argv is not None else None)
    if args.command == "news2":
        return run_news2(args.file, stdout, stderr)
    if args.command == "replay":
        return run_replay(args.file, args.rules, args.spo2_scale, stdout, stderr)
    return run_check_config(args.file, stdout, stderr)


if __name__ == "__main__":
    raise SystemExit(main())
