"""What every page needs: the one record of this server process, and the intended-use notice."""

from __future__ import annotations

import streamlit as st

from observations.record import TrialRecord

INTENDED_USE = (
    "ITB Trial Monitor is an aid to ward observation during an intrathecal baclofen trial. "
    "It does not replace the nurse at the bedside or the bedside monitors' own alarms: "
    "keep those switched on."
)


@st.cache_resource
def get_record() -> TrialRecord:
    """One record (engine and connection pool) per server process, shared by every tab."""
    return TrialRecord.open()
