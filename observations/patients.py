"""Registering and finding patients. Two identifiers always travel together."""

from __future__ import annotations

from typing import Any

from sqlalchemy import or_, select

from observations import nhs_number
from observations.entries import check_patient
from observations.errors import AlreadyRecorded, InvalidEntry, NotFound
from observations.free_text import clean_text, max_chars
from observations.schema import Patient
from observations.store import Actor, Store, require
from observations.views import PatientView

# The kinds of text a patient search looks in (family name, hospital number).
_SEARCHED = ("name", "identifier")


class Patients:
    def __init__(self, store: Store) -> None:
        self._store = store

    def register(self, actor: Actor, details: dict[str, Any]) -> PatientView:
        require(actor, "patient.register")
        entry = check_patient(details, self._today())
        with self._store.writing() as session:
            self._refuse_duplicates(session, entry.nhs_number, entry.hospital_number)
            patient = Patient(
                **entry.model_dump(), created_at=self._store.now(), created_by=actor.user_id
            )
            session.add(patient)
            session.flush()
            self._store.audit(session, actor, "patient.register", "patient", patient.id)
            return PatientView.model_validate(patient)

    def correct(
        self, actor: Actor, patient_id: int, details: dict[str, Any], reason: str
    ) -> PatientView:
        """Correct demographics. The previous values are kept whole in the audit trail."""
        require(actor, "patient.correct")
        reason = clean_text(
            "reason",
            reason,
            "note",
            required=True,
            missing="Say why the details are being corrected.",
        )
        entry = check_patient(details, self._today())
        with self._store.writing() as session:
            patient = session.get(Patient, patient_id, with_for_update=True)
            if patient is None:
                raise NotFound(f"There is no patient with id {patient_id}.")
            self._refuse_duplicates(
                session, entry.nhs_number, entry.hospital_number, except_id=patient_id
            )
            before = PatientView.model_validate(patient).model_dump(mode="json")
            for key, value in entry.model_dump().items():
                setattr(patient, key, value)
            session.flush()
            after = PatientView.model_validate(patient).model_dump(mode="json")
            self._store.audit(
                session,
                actor,
                "patient.correct",
                "patient",
                patient_id,
                details={"reason": reason, "before": before, "after": after},
            )
            return PatientView.model_validate(patient)

    def get(self, patient_id: int) -> PatientView:
        with self._store.reading() as session:
            patient = session.get(Patient, patient_id)
            if patient is None:
                raise NotFound(f"There is no patient with id {patient_id}.")
            return PatientView.model_validate(patient)

    def find(self, text: str, limit: int = 20) -> list[PatientView]:
        """By NHS number (any spacing), hospital number, or the start of the family name.

        A search the record could not keep as a name (longer than any name or number, or
        holding a control character such as NUL) matches no one: it never reaches the database.
        """
        if isinstance(text, str) and len(text.strip()) > max(map(max_chars, _SEARCHED)):
            return []
        try:
            text = clean_text("text", text, "name", required=False) or ""
        except InvalidEntry:
            return []
        if not text:
            return []
        digits = nhs_number.normalise(text)
        # The family name's start, taken literally: "%" or "_" typed are not wildcards.
        start = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        with self._store.reading() as session:
            query = (
                select(Patient)
                .where(
                    or_(
                        Patient.nhs_number == digits,
                        Patient.hospital_number == text.upper(),
                        Patient.family_name.ilike(f"{start}%", escape="\\"),
                    )
                )
                .order_by(Patient.family_name, Patient.given_name)
                .limit(limit)
            )
            return [PatientView.model_validate(p) for p in session.scalars(query)]

    def _refuse_duplicates(
        self, session: Any, nhs: str, mrn: str, except_id: int | None = None
    ) -> None:
        for column, value, words in (
            (Patient.nhs_number, nhs, f"NHS number {nhs_number.format_nhs(nhs)}"),
            (Patient.hospital_number, mrn, f"hospital number {mrn}"),
        ):
            query = select(Patient).where(column == value)
            if except_id is not None:
                query = query.where(Patient.id != except_id)
            other = session.scalar(query)
            if other is not None:
                raise AlreadyRecorded(
                    f"The {words} already belongs to {PatientView.model_validate(other).name} "
                    "in the record: check the wristband, or open that patient instead."
                )

    def _today(self):  # type: ignore[no-untyped-def]
        return self._store.now().astimezone(self._store.zone).date()
