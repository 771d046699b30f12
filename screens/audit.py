"""The audit trail: who did what, when (UTC and ward time), with filters and CSV export."""

from __future__ import annotations

import json
from datetime import UTC, datetime, time, timedelta

import streamlit as st

from observations.record import TrialRecord
from observations.safe_csv import to_csv
from observations.store import Actor
from observations.ward_time import format_ward
from vocabulary import CLINICAL_ROLES


def render(record: TrialRecord, actor: Actor) -> None:
    zone = record.settings.ward_timezone

    st.title("Audit trail")
    st.caption(
        "Append-only: entries cannot be changed or deleted, by this screen or anyone else; each is "
        "chained to the one before by its hash (`python -m observations audit verify`)."
    )
    if not actor.roles & CLINICAL_ROLES:
        st.caption("Administrators see who did what and when; clinical details are withheld.")
    left, middle, right = st.columns(3)
    trial_text = left.text_input("Trial id", placeholder="all trials")
    username = middle.text_input("Username", placeholder="everyone")
    action = right.text_input("Action starts with", placeholder="e.g. auth. or observation.")
    today = record.store.now().astimezone(zone).date()
    picked = st.date_input(
        "From / to (ward dates)", value=(today - timedelta(days=7), today), max_value=today
    )
    if not isinstance(picked, tuple) or len(picked) != 2:
        st.info("Choose the last day of the period.")
        return
    start_day, end_day = picked

    trial_id = int(trial_text) if trial_text.strip().isdigit() else None
    if trial_text.strip() and trial_id is None:
        st.warning("The trial id is a number; showing all trials.")
    start = datetime.combine(start_day, time.min, zone).astimezone(UTC)
    end = datetime.combine(end_day, time.max, zone).astimezone(UTC)
    entries = record.audit.entries_for(
        actor,
        trial_id=trial_id,
        username=username.strip().lower() or None,
        action_prefix=action.strip() or None,
        start=start,
        end=end,
        limit=5000,
    )
    header = [
        "id",
        "at_utc",
        "at_ward_time",
        "username",
        "action",
        "entity",
        "entity_id",
        "trial_id",
        "details",
    ]
    rows = [
        [
            e.id,
            e.at.isoformat(),
            format_ward(e.at, zone),
            e.username,
            e.action,
            e.entity,
            e.entity_id,
            e.trial_id,
            json.dumps(e.details, ensure_ascii=False) if e.details else "",
        ]
        for e in entries
    ]
    st.write(f"{len(entries)} entries (newest first; at most 5000 shown).")
    st.dataframe(
        [dict(zip(header, row, strict=True)) for row in rows], hide_index=True, width="stretch"
    )
    st.download_button(
        "Download CSV",
        to_csv(header, rows).encode("utf-8"),
        file_name="itbmon-audit.csv",
        mime="text/csv",
    )
