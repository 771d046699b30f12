"""AppTest through the app's front door: a fixture the page tests that need it import."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture(autouse=True)
def every_run_through_the_frame(monkeypatch: pytest.MonkeyPatch) -> None:
    """Run dashboard.py on every AppTest run, as the server does once st.navigation has run.

    With a pages/ directory beside dashboard.py, Streamlit runs a page file named by the URL
    directly (without dashboard.py) until st.navigation has been called once in the process;
    AppTest forgets that before every run, so its second run would test the page alone."""
    from streamlit.runtime.pages_manager import PagesManager

    original = PagesManager.__init__

    def init(self: PagesManager, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        PagesManager.uses_pages_directory = False

    monkeypatch.setattr(PagesManager, "__init__", init)
