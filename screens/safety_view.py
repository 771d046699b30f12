"""The day's safety as Review and Decision show it: one drawing of the one evaluation, so the
two pages cannot tell different stories."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pandas as pd
import streamlit as st

from observations.exports.snapshot import condition_rows, safety_lines
from rules.evaluation import TrialDayEvaluation


def show_safety(
    evaluation: TrialDayEvaluation, zone: ZoneInfo, key: str, events_where: str
) -> None:
    """Red flags, sedation and the lowest values, then the alarms by condition, worst first.
    ``events_where``: where the reader finds every alarm event."""
    for line in safety_lines(evaluation, zone):
        st.text(line)
    rows = condition_rows(evaluation, zone)
    if not rows:
        st.caption("No physiological alarm was raised during this trial.")
        return
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch", key=key)
    st.caption(
        "Alarms by condition, high priority and red flags first; times entered = how "
        f"often the alarm reached that level. {events_where}"
    )
