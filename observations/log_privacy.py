"""Logs never carry patient data, uncaught errors included.

An exception's message can hold what the person typed or what the record holds (a database
error quotes the row it refused: an NHS number, a name). Every log record's exception is
replaced, as the record is made, by one that keeps the exception's type and where it was
raised (the traceback's frames: file, line, function) and drops its message and the chain of
exceptions behind it. Installed once by each process's entry point (dashboard, monitor).
"""

from __future__ import annotations

import logging
from types import TracebackType
from typing import Any


class WithheldError(Exception):
    """Stands in for a logged exception: its type is kept, its message is not."""


def redact(exc_info: tuple[Any, Any, TracebackType | None]) -> tuple[Any, Any, Any]:
    kind, value, traceback = exc_info
    if value is None or isinstance(value, WithheldError):
        return exc_info
    stand_in = WithheldError(
        f"{kind.__module__}.{kind.__qualname__} (message withheld: it may hold patient data)"
    )
    return (WithheldError, stand_in.with_traceback(traceback), traceback)


_installed = False


def install() -> None:
    """Redact the exception of every log record made from now on, by any logger."""
    global _installed
    if _installed:
        return
    previous = logging.getLogRecordFactory()

    def make_record(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        if record.exc_info:
            record.exc_info = redact(record.exc_info)
            record.exc_text = None
        return record

    logging.setLogRecordFactory(make_record)
    _installed = True
