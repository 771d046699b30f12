"""Compatibility for pages that still call ``alarm_panel``: the alarms now live in the alarm bar
that dashboard.py draws at the top of every page (pages/alarm_bar.py), with its tone
(pages/alarm_tone.py).

``alarm_panel(record, actor, ...)`` draws nothing when the frame has drawn the bar (every page of
the running app); run alone (a page file opened directly, as page tests do), it draws the bar
itself, so a page is never without its alarms. Pages should drop the call; the trial monitor
shows its patient's alarms with ``pages.alarm_bar.bed_alarms(record, actor, trial_id)``.
"""

from __future__ import annotations

import streamlit as st

from observations.record import TrialRecord
from observations.store import Actor
from pages.alarm_bar import (
    PRIORITY_ICONS,
    PRIORITY_WORDS,
    alarm_bar,
    every_words,
    evidence_text,
    monitor_problem,
    reminder_choices,
    reminder_defaults,
)
from pages.shared import FRAME_KEY

__all__ = [
    "PRIORITY_ICONS",
    "PRIORITY_WORDS",
    "alarm_panel",
    "every_words",
    "evidence_text",
    "monitor_problem",
    "reminder_choices",
    "reminder_defaults",
]


def alarm_panel(
    record: TrialRecord, actor: Actor, trial_id: int | None = None, compact: bool = False
) -> None:
    """The page's alarms: the frame's bar already shows them (nothing drawn here), unless the
    page runs without the frame. ``trial_id`` and ``compact`` are kept for old callers; the bar
    is the same on every page."""
    del actor, trial_id, compact
    if st.session_state.get(FRAME_KEY):
        return
    alarm_bar(record)
