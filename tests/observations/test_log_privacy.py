"""Logs never carry patient data: a logged exception keeps its type and place, not its message
(a database error quotes the row it refused)."""

from __future__ import annotations

import io
import logging

import pytest

from observations import log_privacy

NHS = "943 476 5919"


@pytest.fixture
def log() -> tuple[logging.Logger, io.StringIO]:
    log_privacy.install()
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logger = logging.getLogger("itbmon.test.privacy")
    logger.addHandler(handler)
    logger.propagate = False
    yield logger, stream
    logger.removeHandler(handler)


def _fail() -> None:
    try:
        raise KeyError(f"no patient {NHS} Alex Smith")
    except KeyError as cause:
        raise ValueError(f"could not store {NHS}") from cause


def test_a_logged_exception_keeps_type_and_place_not_message(log):
    logger, stream = log
    try:
        _fail()
    except ValueError:
        logger.exception("page failed")
    text = stream.getvalue()
    assert NHS not in text and "Alex" not in text
    assert "builtins.ValueError" in text and "_fail" in text and "page failed" in text


def test_exc_info_given_as_an_exception_is_redacted_too(log):
    logger, stream = log
    try:
        _fail()
    except ValueError as error:
        logger.error("Uncaught app execution", exc_info=error)  # as Streamlit logs
    assert NHS not in stream.getvalue()


def test_installing_twice_redacts_once(log):
    log_privacy.install()
    logger, stream = log
    try:
        _fail()
    except ValueError:
        logger.exception("x")
    assert stream.getvalue().count("message withheld") == 1
