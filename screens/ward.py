"""Ward overview as a central station: every bed in monitoring at a glance, most urgent first,
its numbers refreshed every second and its 30-minute trend every few seconds.

The beds come from the record through `screens.ward_beds` (every bed at once), the tiles are
drawn by `screens.bed_tiles` (model, HTML, CSS); this page puts them in a grid. A tile opens its
trial monitor: it is a link, so the browser changes page (never the server from inside the timed
refresh: hazard H-15).
"""

from __future__ import annotations

import streamlit as st
from streamlit.navigation.page import StreamlitPage

from observations.record import TrialRecord
from observations.ward_time import format_ward
from screens.bed_tiles import grid_rows_css, tile_html, ward_css
from screens.display import DisplaySettings
from screens.markdown_text import md
from screens.nurse_view import OPEN_TRIAL_PARAM
from screens.shared import INTENDED_USE, live_fragment
from screens.ward_beds import trend_window, ward_tiles_model
from vocabulary import Parameter


def monitor_link_label(bed: str | None) -> str:
    """The tile link's name for a screen reader and a test ("Monitor of bed D7"); a link's
    label is Markdown, so the bed is escaped."""
    if bed and bed.strip():
        return f"Monitor of bed {md(bed.strip())}"
    return "Monitor of a patient with no bed"


def show_ward(record: TrialRecord, settings: DisplaySettings, monitor: StreamlitPage) -> None:
    now = record.store.now()
    tiles = ward_tiles_model(record, settings, now)
    if not tiles:
        st.info("No trial is in monitoring. Trials appear here once the injection is recorded.")
        return
    updated = format_ward(now, record.settings.ward_timezone, with_date=False)
    st.caption(f"{len(tiles)} trial(s) in monitoring, most urgent first · updated {updated}")
    start, end = trend_window(now, settings)
    axes = {
        Parameter.SPO2: settings.ward_trend_spo2_axis,
        Parameter.PULSE_RATE: settings.ward_trend_pulse_axis,
    }
    st.html(grid_rows_css(len(tiles)))
    with st.container(key="ward-station"), st.container(key="ward-grid"):
        for tile in tiles:
            with st.container(key=f"ward-bed-{tile.trial_id}"):
                st.html(
                    tile_html(
                        tile,
                        start,
                        end,
                        settings.ward_trend_bucket_seconds,
                        axes,
                        settings.ward_trend_minutes,
                    )
                )
                # The whole tile is this link (drawn over it, transparent: bed_tiles' CSS).
                # The browser changes page, never the server from inside this timed refresh
                # (hazard H-15); the trial monitor opens the trial named in the address.
                st.page_link(
                    monitor,
                    label=monitor_link_label(tile.bed),
                    query_params={OPEN_TRIAL_PARAM: str(tile.trial_id)},
                )


def render(record: TrialRecord, settings: DisplaySettings, monitor: StreamlitPage) -> None:
    """The ward's central station; ``monitor`` is the trial monitor page each tile opens."""
    st.html(ward_css())
    with st.container(key="ward-head"):
        st.title("Ward overview")

    @live_fragment(run_every=settings.numbers_refresh_seconds)
    def live_tiles() -> None:
        show_ward(record, settings, monitor)

    live_tiles()
    st.caption(INTENDED_USE)
