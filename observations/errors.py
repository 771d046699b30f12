"""Typed errors of the record. Each message is written for the nurse or doctor who caused it."""

from __future__ import annotations

from dataclasses import dataclass


class RecordError(Exception):
    """Base class: something the record refused. Nothing was written."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class FieldProblem:
    field: str
    message: str


class InvalidEntry(RecordError):
    """One or more values cannot be right. ``problems`` says which field and why."""

    def __init__(self, problems: list[FieldProblem]) -> None:
        self.problems = problems
        super().__init__(" ".join(p.message for p in problems))

    @classmethod
    def single(cls, field: str, message: str) -> InvalidEntry:
        return cls([FieldProblem(field, message)])


class NotFound(RecordError):
    """The patient, trial or entry asked for is not in the record."""


class Refused(RecordError):
    """A clinical rule of the trial day forbids this action (second injection, too soon...)."""


class NotPermitted(RecordError):
    """The signed-in person's role does not allow this action."""


class AlreadyRecorded(RecordError):
    """The same thing is already in the record (e.g. the NHS number belongs to another patient)."""
