"""Trial report and exports: CSV, FHIR R4 Bundle, HL7 v2.5 ORU^R01 and a one-page PDF.

Each format is a pure function of one `TrialSnapshot` (read once from the record), so the
formats cannot disagree about the facts. ``export_trial`` picks the format by name, for the CLI.
"""

from __future__ import annotations

from typing import Literal, get_args

from observations.exports.csv_export import CSV_COLUMNS, snapshot_csv, trial_csv
from observations.exports.fhir_export import snapshot_bundle, trial_fhir_bundle
from observations.exports.hl7_export import snapshot_oru, trial_hl7_oru
from observations.exports.snapshot import TrialSnapshot, take_snapshot
from observations.record import TrialRecord
from observations.store import PERMISSIONS, Actor, may, require
from vocabulary import Role

ExportFormat = Literal["pdf", "csv", "fhir", "hl7"]
EXPORT_FORMATS: tuple[str, ...] = get_args(ExportFormat)
# What the CLI may suggest for --out.
FILE_SUFFIXES: dict[str, str] = {"pdf": ".pdf", "csv": ".csv", "fhir": ".json", "hl7": ".hl7"}


EXPORT_ACTION = "trial.export"
# Who may take a trial's record away as a file: the record's role table says.
EXPORT_ROLES: frozenset[Role] = PERMISSIONS[EXPORT_ACTION]


def may_export(actor: Actor) -> bool:
    return may(actor, EXPORT_ACTION)


def export_for(record: TrialRecord, actor: Actor, trial_id: int, fmt: ExportFormat) -> bytes:
    """The trial in one format for a signed-in person, with an audit entry saying who took
    which trial away in which format (a file leaves the record's protection)."""
    require(actor, EXPORT_ACTION)
    data = export_trial(record, trial_id, fmt)
    with record.store.writing() as session:
        record.store.audit(
            session,
            actor,
            EXPORT_ACTION,
            "trial",
            trial_id,
            trial_id,
            {"format": fmt, "bytes": len(data)},
        )
    return data


def export_trial(record: TrialRecord, trial_id: int, fmt: ExportFormat) -> bytes:
    """The trial in one format, as the bytes of the file to write.

    Raises observations.errors.NotFound for an unknown trial and ValueError for an unknown
    format.
    """
    if fmt == "csv":
        return trial_csv(record, trial_id)
    if fmt == "fhir":
        return trial_fhir_bundle(record, trial_id)
    if fmt == "hl7":
        return trial_hl7_oru(record, trial_id)
    if fmt == "pdf":
        from observations.exports.pdf_report import trial_pdf

        return trial_pdf(record, trial_id)
    raise ValueError(f"Unknown export format {fmt!r}: choose one of {', '.join(EXPORT_FORMATS)}.")


__all__ = [
    "CSV_COLUMNS",
    "EXPORT_ACTION",
    "EXPORT_FORMATS",
    "EXPORT_ROLES",
    "FILE_SUFFIXES",
    "ExportFormat",
    "TrialSnapshot",
    "export_for",
    "export_trial",
    "may_export",
    "snapshot_bundle",
    "snapshot_csv",
    "snapshot_oru",
    "take_snapshot",
    "trial_csv",
    "trial_fhir_bundle",
    "trial_hl7_oru",
]
