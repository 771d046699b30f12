"""Ward overview as a central station: every bed in monitoring at a glance, most urgent first,
its numbers refreshed every second and its 30-minute trend every few seconds.

The beds come from the record through `pages.ward_beds` (every bed at once), the tiles are
drawn by `pages.bed_tiles` (model, HTML, CSS); this page puts them in a grid. A tile opens its
trial monitor: it is a link, so the browser changes page (never the server from inside the timed
refresh: hazard H-15).
"""

from __future__ import annotations

import streamlit as st

from observations.record import TrialRecord
from observations.ward_time import format_ward
from pages.bed_tiles import grid_rows_css, tile_html, ward_css
from pages.display import DisplaySettings, load_display_settings
from pages.markdown_text import md
from pages.nurse_view import OPEN_TRIAL_PARAM
from pages.shared import INTENDED_USE, get_record, live_fragment, require_roles
from pages.ward_beds import trend_window, ward_tiles_model
from vocabulary import Parameter, Role


def monitor_link_label(bed: str | None) -> str:
    """The tile link's name for a screen reader and a test ("Monitor of bed D7"); a link's
    label is Markdown, so the bed is escaped."""
    if bed and bed.strip():
        return f"Monitor of bed {md(bed.strip())}"
    return "Monitor of a patient with no bed"


def show_ward(record: TrialRecord, settings: DisplaySettings) -> None:
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
                    "pages/trial_monitor.py",
                    label=monitor_link_label(tile.bed),
                    query_params={OPEN_TRIAL_PARAM: str(tile.trial_id)},
                )


actor = require_roles(set(Role) - {Role.ADMIN})
record = get_record()
settings = load_display_settings()
st.html(ward_css())
with st.container(key="ward-head"):
    st.title("Ward overview")


@live_fragment(run_every=settings.numbers_refresh_seconds)
def live_tiles() -> None:
    show_ward(record, settings)


live_tiles()
st.caption(INTENDED_USE)
