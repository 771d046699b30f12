"""Streamlit entry point: ``streamlit run dashboard.py`` (or ``python3 tasks.py run``).

Opens the record (creating and migrating the embedded database on first start) and routes to
the pages with st.navigation.
"""

from __future__ import annotations

import streamlit as st

from observations.settings import ConfigurationError
from pages.shared import get_record

st.set_page_config(page_title="ITB Trial Monitor", page_icon="🩺", layout="wide")

try:
    get_record()
except ConfigurationError as exc:
    st.error(f"The record cannot be opened: {exc}")
    st.stop()

navigation = st.navigation([st.Page("pages/trials.py", title="Trials", icon="📋", default=True)])
navigation.run()
