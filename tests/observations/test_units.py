"""Pure units of the record: NHS numbers, ward time, settings."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from observations import nhs_number
from observations.errors import InvalidEntry
from observations.settings import ConfigurationError, load_settings
from observations.ward_time import format_ward, ward_time_to_utc

LONDON = ZoneInfo("Europe/London")


@pytest.mark.parametrize("text", ["943 476 5919", "9434765919", "943-476-5919", "999 000 0026"])
def test_valid_nhs_numbers(text: str):
    assert nhs_number.validate(text) == text.replace(" ", "").replace("-", "")


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("943 476 5918", "check digit"),
        ("943476591", "exactly 10 digits"),
        ("94347659190", "exactly 10 digits"),
        ("94347659A9", "exactly 10 digits"),
        # Digits of other scripts and superscripts are digits to Python, not on a wristband.
        ("٩٤٣٤٧٦٥٩١٩", "exactly 10 digits"),
        ("943476591\u00b9", "exactly 10 digits"),
        ("", "Enter the NHS number"),
        # First nine digits whose check digit would be 10: no valid number starts so.
        ("0000000060", "check digit"),
    ],
)
def test_invalid_nhs_numbers(text: str, words: str):
    with pytest.raises(nhs_number.InvalidNhsNumber, match=words):
        nhs_number.validate(text)


def test_check_digit_ten_means_no_valid_number():
    assert nhs_number.check_digit("000000006") is None


def test_test_range():
    assert nhs_number.is_test_number("9990000026")
    assert not nhs_number.is_test_number("9434765919")


def test_ward_time_shows_the_zone_across_the_clock_change():
    # 25 Oct 2026: clocks go back at 02:00 BST (01:00 UTC).
    before = datetime(2026, 10, 25, 0, 30, tzinfo=UTC)
    after = datetime(2026, 10, 25, 1, 30, tzinfo=UTC)
    assert format_ward(before, LONDON) == "25 Oct 2026 01:30 BST"
    assert format_ward(after, LONDON) == "25 Oct 2026 01:30 GMT"
    assert format_ward(None, LONDON) == "—"


def test_ambiguous_ward_time_needs_a_choice():
    local = datetime(2026, 10, 25, 1, 30)
    with pytest.raises(InvalidEntry, match="happens twice"):
        ward_time_to_utc(local, LONDON)
    assert ward_time_to_utc(local, LONDON, fold=0) == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)
    assert ward_time_to_utc(local, LONDON, fold=1) == datetime(2026, 10, 25, 1, 30, tzinfo=UTC)


def test_skipped_ward_time_is_refused():
    # 29 Mar 2026: clocks go forward at 01:00 GMT; 01:30 never happens.
    with pytest.raises(InvalidEntry, match="does not exist"):
        ward_time_to_utc(datetime(2026, 3, 29, 1, 30), LONDON)


def test_ordinary_ward_time_converts():
    assert ward_time_to_utc(datetime(2026, 7, 1, 11, 0), LONDON) == datetime(
        2026, 7, 1, 10, 0, tzinfo=UTC
    )


def test_settings_defaults_and_overrides(tmp_path):
    settings = load_settings({"ITBMON_DATA_DIR": str(tmp_path)})
    assert settings.database_url == f"sqlite:///{tmp_path.resolve() / 'itbmon.sqlite3'}"
    assert settings.ward_timezone == LONDON and settings.is_embedded
    pg = load_settings({"ITBMON_DATABASE_URL": "postgresql+psycopg://u:p@h/db"})
    assert not pg.is_embedded


def test_settings_errors_are_readable():
    with pytest.raises(ConfigurationError, match="not a known time zone"):
        load_settings({"ITBMON_TIMEZONE": "Mars/Olympus"})
    with pytest.raises(ConfigurationError, match="ITBMON_DATABASE_URL"):
        load_settings({"ITBMON_DATABASE_URL": "mysql://x"})
