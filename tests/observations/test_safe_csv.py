from __future__ import annotations

import csv
import io

import pytest

from observations.safe_csv import neutralise, to_csv


@pytest.mark.parametrize("cell", ["=1+1", "+cmd", "-2+3", "@SUM(A1)", "\t=x", '=HYPERLINK("x")'])
def test_formula_starts_are_neutralised(cell: str):
    assert neutralise(cell) == "'" + cell


@pytest.mark.parametrize("value", ["plain note", 97.0, -3, None, "a=b", "-1", "-2.5", "+2"])
def test_other_values_pass_unchanged(value: object):
    assert neutralise(value) == value


def test_csv_round_trip_keeps_text_and_missing_as_empty():
    text = to_csv(["note", "spo2"], [["=cmd|' /C calc'!A0", 97], ["ok", None]])
    rows = list(csv.reader(io.StringIO(text)))
    assert rows == [["note", "spo2"], ["'=cmd|' /C calc'!A0", "97"], ["ok", ""]]
