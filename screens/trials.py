"""Trials in the record, with two patient identifiers each."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from observations.record import TrialRecord
from observations.ward_time import format_ward
from screens.shared import INTENDED_USE


def render(record: TrialRecord) -> None:
    zone = record.settings.ward_timezone

    st.title("Trials")
    st.caption(INTENDED_USE)
    trials = record.trials.list()
    if not trials:
        st.info("No trials in the record yet.")
    else:
        rows = [
            {
                "Trial": t.id,
                "Bed": t.bed or "—",
                "Patient": t.patient.name,
                "NHS number": t.patient.nhs_display,
                "Hospital number": t.patient.hospital_number,
                "Episode / trial": f"{t.episode} / {t.trial_number}",
                "Dose (mcg)": t.injection.dose_mcg if t.injection else t.planned_dose_mcg,
                "Injected": format_ward(t.injection.given_at, zone) if t.injection else "not yet",
                "Stage": t.status,
            }
            for t in trials
        ]
        st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
