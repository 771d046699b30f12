"""Free text the record keeps: one check for every field a person or a device fills with text.

A text is trimmed and put in Unicode NFC (so "é" typed two ways is one name), then refused,
naming the field, when it is longer than its kind allows or holds a character that cannot be
stored or that changes how it reads: NUL and other control characters (newline and tab only in
multi-line kinds), invisible text-direction controls (U+202A-U+202E, U+2066-U+2069: "Trojan
Source", CVE-2021-42574), lone surrogates (not text at all). The kinds and their lengths are in
observations/limits.yaml (``text``), each no longer than the columns that store it (STORED_IN),
so the database never refuses what the record accepted.

Text a program writes is refused the same way when it is an identifier (a device address, a
rule id: `clean_text` with ``as_given``), but an alarm's message or a device's reason is kept
whatever it holds (`fit_text`): an alarm is never lost over a character.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Literal, overload

from observations.errors import FieldProblem, InvalidEntry
from observations.limits import TextKind, load_limits
from observations.schema import Base

# The columns that keep each kind of text ("table.column"). A kind's max_chars must fit all.
STORED_IN: dict[str, tuple[str, ...]] = {
    "name": (
        "patients.family_name",
        "patients.given_name",
        "injections.given_by",
        "users.display_name",
    ),
    "username": ("users.username", "audit_log.username", "sign_in_throttle.username"),
    "identifier": ("patients.hospital_number",),
    "bed": ("trials.bed",),
    "label": ("device_assignments.label", "assessments.penn_recall_period"),
    "goal": ("goal_ratings.goal",),
    "note": (
        "observation_sets.note",
        "observation_sets.correction_reason",
        "assessments.note",
        "assessments.correction_reason",
        "injections.correction_reason",
        "trials.spo2_scale_reason",
        "window_extensions.reason",
        "alarm_events.message",
        "alarm_events.note",
        "decisions.rationale",
        "decisions.correction_reason",
        "device_states.reason",
    ),
    "device": (
        "device_assignments.source",
        "vital_readings.source_device",
        "device_leases.source",
        "device_states.source",
    ),
    "code": (
        "device_assignments.protocol",
        "alarms.rule_id",
        "alarms.rule_set_version",
        "set_scores.rule_set_version",
        "schedule_judgements.rule_set_version",
    ),
    "word": ("service_heartbeats.kind", "device_states.state"),
    "sso": ("external_identities.issuer", "external_identities.subject"),
    "service": (
        "service_heartbeats.service_id",
        "service_heartbeats.host",
        "device_leases.service_id",
    ),
}

# How the record names a field to the person who typed it.
FIELD_LABELS: dict[str, str] = {
    "nhs_number": "NHS number",
    "hospital_number": "Hospital number",
    "family_name": "Family name",
    "given_name": "Given name",
    "bed": "Bed",
    "spo2_scale_reason": "The reason for SpO2 scale 2",
    "given_by": "The name of the doctor who gave it",
    "reason": "The reason",
    "note": "The note",
    "timing_reason": "The reason for the time",
    "penn_recall_period": "The recall period",
    "rationale": "The rationale",
    "source": "The device",
    "label": "The device name",
    "protocol": "The device protocol",
    "source_device": "The reading's device",
    "display_name": "The full name",
    "username": "The username",
    "issuer": "The sign-on issuer",
    "subject": "The sign-on subject",
    "text": "The search",
}

# C0 and C1 control characters and DEL, the text-direction controls, and lone surrogates; on
# one line, the Unicode line and paragraph separators too.
_CONTROLS = "\x00-\x1f\x7f-\x9f"
_DIRECTION = "\u202a-\u202e\u2066-\u2069"
_SURROGATES = "\ud800-\udfff"
_LINE_BREAKS = "\n\r\t\u2028\u2029"
_BAD_ONE_LINE = re.compile(f"[{_CONTROLS}\u2028\u2029{_DIRECTION}{_SURROGATES}]")
_BAD_MULTILINE = re.compile(f"[\x00-\x08\x0b-\x1f\x7f-\x9f{_DIRECTION}{_SURROGATES}]")
_CONTROL_NAMES = {0x00: "NUL", 0x08: "backspace", 0x1B: "escape", 0x7F: "delete"}


def column_length(name: str) -> int | None:
    """How many characters the column "table.column" holds (None: unbounded text)."""
    table, column = name.split(".")
    tables = Base.metadata.tables
    if table not in tables or column not in tables[table].c:
        raise ValueError(f"free_text.STORED_IN names {name}, which the schema does not have")
    return getattr(tables[table].c[column].type, "length", None)


def check_kinds_fit(kinds: dict[str, TextKind]) -> None:
    """Every kind the record uses is configured, and fits every column that stores it."""
    for kind, columns in STORED_IN.items():
        if kind not in kinds:
            raise ValueError(f"observations/limits.yaml: text.{kind} is missing")
        limit = kinds[kind].max_chars
        for name in columns:
            length = column_length(name)
            if length is not None and limit > length:
                raise ValueError(
                    f"observations/limits.yaml: text.{kind}.max_chars {limit} is more than the "
                    f"{length} characters the column {name} holds"
                )


def _kinds() -> dict[str, TextKind]:
    """The text kinds of limits.yaml (checked against their columns as the limits load)."""
    return load_limits().text


def max_chars(kind: str) -> int:
    """The longest text of this kind (for a form's max_chars)."""
    return _kinds()[kind].max_chars


def label_of(field: str) -> str:
    base = field.split(".")[0]
    return FIELD_LABELS.get(base, base.replace("_", " ").capitalize())


def shown(value: object, fallback: str, longest: int = 20) -> str:
    """A value quoted in a message, or ``fallback`` ("that unit") when it is long or holds
    characters that should not be repeated on a screen (a 10 MB text is not echoed back)."""
    if isinstance(value, str) and len(value) <= longest and value.isprintable():
        return f"'{value}'"
    return fallback


def _character(char: str) -> str:
    point = ord(char)
    code = f"U+{point:04X}"
    if 0xD800 <= point <= 0xDFFF:
        return f"a character that is not valid text ({code})"
    if char in _LINE_BREAKS:
        return "a line break or tab"
    if 0x202A <= point <= 0x202E or 0x2066 <= point <= 0x2069:
        return f"an invisible text-direction control ({code})"
    name = _CONTROL_NAMES.get(point)
    return f"a control character ({code}{', ' + name if name else ''})"


@overload
def clean_text(
    field: str,
    value: object,
    kind: str,
    *,
    required: Literal[True],
    missing: str | None = None,
    label: str | None = None,
    as_given: bool = False,
) -> str: ...


@overload
def clean_text(
    field: str,
    value: object,
    kind: str,
    *,
    required: bool,
    missing: str | None = None,
    label: str | None = None,
    as_given: bool = False,
) -> str | None: ...


def clean_text(
    field: str,
    value: object,
    kind: str,
    *,
    required: bool,
    missing: str | None = None,
    label: str | None = None,
    as_given: bool = False,
) -> str | None:
    """The text as the record keeps it, or None when empty and not ``required``.

    ``field`` is the name a page shows the problem beside; ``label`` how the message names it
    (FIELD_LABELS by default); ``missing`` the message when a required text is empty.
    ``as_given``: an identifier a program made (a device address, a rule id), checked exactly
    as given, neither trimmed nor normalised, since other rows must match it. Raises
    InvalidEntry naming the field; nothing in it echoes the text itself.
    """
    spec = _kinds()[kind]
    name = label or label_of(field)
    if value is None:
        text = ""
    elif as_given and isinstance(value, str):
        text = value
    elif isinstance(value, str):
        text = unicodedata.normalize("NFC", value.strip())
        if spec.multiline:  # a line break as some browsers and clipboards send it
            text = text.replace("\r\n", "\n").replace("\r", "\n")
    else:
        raise InvalidEntry.single(field, f"{name} must be text.")
    if not text:
        if required:
            raise InvalidEntry.single(field, missing or f"{name} is required.")
        return None
    if len(text) > spec.max_chars:
        size = f"(it has {len(text):,})." if as_given else f"(you typed {len(text):,}): shorten it."
        raise InvalidEntry.single(
            field, f"{name} is longer than {spec.max_chars:,} characters {size}"
        )
    bad = (_BAD_MULTILINE if spec.multiline else _BAD_ONE_LINE).search(text)
    if bad is not None:
        found = _character(bad.group())
        if found == "a line break or tab":
            raise InvalidEntry.single(
                field, f"{name} must be on one line: it contains a line break or tab."
            )
        advice = "." if as_given else ": type the text again rather than pasting it."
        raise InvalidEntry.single(
            field,
            f"{name} contains {found} at character {bad.start() + 1}, which the record cannot "
            f"keep{advice}",
        )
    return text


def fit_text(value: object, kind: str) -> str:
    """Prose a program writes that must be kept even when odd (an alarm's message, why a device
    disconnected): never refused, since losing an alarm over one character would be worse.
    Each character the record cannot keep becomes U+FFFD, and a text longer than its kind is
    cut, ending in "…"."""
    if value is None:
        return ""
    spec = _kinds()[kind]
    bad = _BAD_MULTILINE if spec.multiline else _BAD_ONE_LINE
    text = bad.sub("\ufffd", value if isinstance(value, str) else str(value))
    if len(text) > spec.max_chars:
        text = text[: spec.max_chars - 1] + "…"
    return text


def collect_text(
    problems: list[FieldProblem],
    field: str,
    value: object,
    kind: str,
    *,
    required: bool,
    missing: str | None = None,
    label: str | None = None,
) -> str | None:
    """`clean_text` for a form checked whole: a problem is added to ``problems`` (and None
    returned) so every field's problem is reported at once."""
    try:
        return clean_text(field, value, kind, required=required, missing=missing, label=label)
    except InvalidEntry as refused:
        problems.extend(refused.problems)
        return None
