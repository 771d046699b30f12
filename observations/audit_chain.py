"""Tamper evidence for the audit trail: each entry carries a SHA-256 hash of its own content
chained to the previous entry's hash, so an entry changed, removed or put out of order behind
the app's back breaks the chain at that entry (21 CFR 11.10(e), ICH E6(R3): an audit trail
that cannot obscure earlier entries).

A chain alone cannot show that its newest entries were cut off, or that someone rewrote an
entry and recomputed every hash after it. ``audit verify --anchor FILE`` keeps the newest entry
it has verified (id, hash, count) in a file kept away from the database; the next run proves
that entry is still there, unchanged, with as many entries before it.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

import orjson
from sqlalchemy import select
from sqlalchemy.orm import Session

GENESIS = "0" * 64  # the "previous hash" of the first entry


def _json_value(value: Any) -> Any:
    """Details as the JSON column gives them back (string keys, NaN as null), so the hash
    computed at writing is the hash computed when reading."""
    from observations.database import json_text

    return orjson.loads(json_text(value))


def _time(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def entry_hash(prev_hash: str, entry: dict[str, Any]) -> str:
    """The hash of one audit entry: its content (not its id) and the previous entry's hash,
    over canonical JSON (keys sorted, no spaces, UTF-8; orjson: the monitor writes an entry
    per trial twice a second)."""
    content = {
        "prev": prev_hash,
        "at": _time(entry["at"]),
        "user_id": entry["user_id"],
        "username": entry["username"],
        "action": entry["action"],
        "entity": entry["entity"],
        "entity_id": entry["entity_id"],
        "trial_id": entry["trial_id"],
        "details": _json_value(entry["details"]),
    }
    return hashlib.sha256(orjson.dumps(content, option=orjson.OPT_SORT_KEYS)).hexdigest()


def chain(prev_hash: str, entries: Iterable[dict[str, Any]]) -> tuple[list[dict[str, Any]], str]:
    """The entries with ``prev_hash`` and ``row_hash`` set, in order; and the new head."""
    chained = []
    for entry in entries:
        row_hash = entry_hash(prev_hash, entry)
        chained.append({**entry, "prev_hash": prev_hash, "row_hash": row_hash})
        prev_hash = row_hash
    return chained, prev_hash


@dataclass(frozen=True)
class ChainReport:
    entries: int
    head_id: int | None
    head_hash: str
    broken_at: int | None = None  # the id of the first entry that does not hold
    problem: str = ""

    @property
    def intact(self) -> bool:
        return self.broken_at is None


def _rows(session: Session) -> Iterator[Any]:
    from observations.schema import AuditEntry

    columns = (
        AuditEntry.id,
        AuditEntry.at,
        AuditEntry.user_id,
        AuditEntry.username,
        AuditEntry.action,
        AuditEntry.entity,
        AuditEntry.entity_id,
        AuditEntry.trial_id,
        AuditEntry.details,
        AuditEntry.prev_hash,
        AuditEntry.row_hash,
    )
    result = session.execute(
        select(*columns).order_by(AuditEntry.id).execution_options(yield_per=5000)
    )
    yield from result


def verify_chain(session: Session, anchor: dict[str, Any] | None = None) -> ChainReport:
    """Walk the whole trail in id order. ``anchor``: the newest entry a previous run verified."""
    prev, count, head_id = GENESIS, 0, None
    anchor_seen = anchor is None
    for row in _rows(session):
        entry = row._asdict()
        if entry["row_hash"] != entry_hash(entry["prev_hash"] or "", entry):
            return ChainReport(count, head_id, prev, row.id, "changed after it was written")
        if entry["prev_hash"] != prev:
            return ChainReport(
                count,
                head_id,
                prev,
                row.id,
                "does not follow the entry before it: an entry before it was removed, "
                "or entries were reordered",
            )
        count += 1
        prev, head_id = entry["row_hash"], row.id
        if anchor is not None and row.id == anchor["id"]:
            if row.row_hash != anchor["row_hash"] or count != anchor["count"]:
                return ChainReport(
                    count,
                    head_id,
                    prev,
                    row.id,
                    "differs from the last verified trail (the entries up to it were "
                    "rewritten, or some removed)",
                )
            anchor_seen = True
    if not anchor_seen and anchor is not None:
        return ChainReport(
            count,
            head_id,
            prev,
            int(anchor["id"]),
            "was verified before and is now missing: the trail was cut short",
        )
    return ChainReport(count, head_id, prev)


def read_anchor(path: Path) -> dict[str, Any] | None:
    if not path.exists():
        return None
    data = json.loads(path.read_text(encoding="utf-8"))
    return {"id": int(data["id"]), "row_hash": str(data["row_hash"]), "count": int(data["count"])}


def write_anchor(path: Path, report: ChainReport) -> None:
    """Atomically, readable by its owner only."""
    partial = path.with_name(path.name + ".partial")
    text = json.dumps(
        {
            "id": report.head_id,
            "row_hash": report.head_hash,
            "count": report.entries,
            "verified_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
    )
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text + "\n")
    partial.replace(path)


def verify_command(record: Any, anchor: Path | None, out: TextIO) -> int:
    """``python -m observations audit verify [--anchor FILE]``: 0 when the trail holds, 1 when
    it does not. Prints entry ids and hashes only, never what an entry says (patient data)."""
    known = read_anchor(anchor) if anchor is not None else None
    with record.store.reading() as session:
        report = verify_chain(session, known)
    if not report.intact:
        print(
            f"AUDIT TRAIL BROKEN at entry {report.broken_at}: it {report.problem}. "
            f"{report.entries} entries before it hold.",
            file=out,
        )
        return 1
    print(
        f"Audit trail intact: {report.entries} entries, newest {report.head_id}, "
        f"hash {report.head_hash}.",
        file=out,
    )
    if anchor is not None and report.head_id is not None:
        write_anchor(anchor, report)
        print(
            f"Anchor written to {anchor}: the next run checks this entry is still there.", file=out
        )
    return 0
