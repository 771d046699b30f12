"""Streamlit entry point: ``streamlit run dashboard.py`` (or ``python3 tasks.py run``).

Opens the record (creating and migrating the embedded database on first start), asks for
sign-in before any patient data, and routes to the pages the person's roles allow.
"""

from __future__ import annotations

import os

import streamlit as st

from observations.errors import RecordError
from observations.settings import ConfigurationError
from pages.shared import (
    PAGE_ON_SCREEN_KEY,
    check_idle,
    current_actor,
    get_record,
    sign_in_as,
    sign_out,
)
from vocabulary import Role

st.set_page_config(page_title="ITB Trial Monitor", page_icon="🩺", layout="wide")

try:
    record = get_record()
except ConfigurationError as exc:
    st.error(f"The record cannot be opened: {exc}")
    st.stop()


@st.cache_resource
def embedded_monitor() -> object:
    """One monitor per server process (not per tab); ITBMON_EMBEDDED_MONITOR=0 leaves it to a
    standalone ``python -m monitor``."""
    if os.environ.get("ITBMON_EMBEDDED_MONITOR", "1") == "0":
        return None
    from monitor.embedded import start_embedded

    return start_embedded(record)


embedded_monitor()

ALL = frozenset(Role)
# Which roles see which page; the record enforces every action again whatever a page shows.
CLINICAL = frozenset({Role.NURSE, Role.NURSE_SPECIALIST, Role.DOCTOR})
PAGES: list[tuple[str, str, str, frozenset[Role]]] = [
    ("pages/ward.py", "Ward overview", "🏥", ALL - {Role.ADMIN}),
    ("pages/trial_monitor.py", "Trial monitor", "📈", ALL - {Role.ADMIN}),
    ("pages/observation_entry.py", "Observations", "🩺", CLINICAL),
    ("pages/trial_setup.py", "Trial set-up", "🛠️", CLINICAL),
    (
        "pages/scores.py",
        "Spasticity scores",
        "📝",
        frozenset({Role.PHYSIOTHERAPIST, Role.NURSE_SPECIALIST}),
    ),
    (
        "pages/review.py",
        "4-hour review",
        "⚖️",
        frozenset({Role.DOCTOR, Role.NURSE_SPECIALIST, Role.PHYSIOTHERAPIST}),
    ),
    ("pages/decision.py", "Decision", "✍️", frozenset({Role.DOCTOR, Role.NURSE_SPECIALIST})),
    ("pages/trials.py", "All trials", "📋", ALL - {Role.ADMIN}),
    ("pages/accounts.py", "Accounts", "👥", frozenset({Role.ADMIN})),
    ("pages/audit.py", "Audit trail", "🔎", frozenset({Role.ADMIN, Role.DOCTOR})),
]


def _single_sign_on() -> None:
    """Map a hospital identity (st.login, OIDC) to an account; groups decide the roles."""
    if current_actor() is not None or not getattr(st.user, "is_logged_in", False):
        return
    config = st.secrets.get("itbmon_sso", {})
    claim = config.get("group_claim", "groups")
    mapping = {group: Role(role) for group, role in config.get("group_roles", {}).items()}
    groups = st.user.get(claim) or []
    try:
        actor = record.users.sign_in_external(
            str(st.user.get("email") or st.user.get("sub")),
            str(st.user.get("name") or ""),
            list(groups) if isinstance(groups, list | tuple) else [str(groups)],
            mapping,
        )
    except RecordError as error:
        st.session_state["signed_out_reason"] = error.message
        st.logout()
        return
    sign_in_as(actor)


if st.secrets.load_if_toml_exists():
    _single_sign_on()
check_idle()
actor = current_actor()

if actor is None:
    navigation = st.navigation(
        [st.Page("pages/sign_in.py", title="Sign in", icon="🔐", url_path="sign-in")]
    )
else:
    allowed = [
        st.Page(path, title=title, icon=icon)
        for path, title, icon, roles in PAGES
        if actor.roles & roles
    ]
    with st.sidebar:
        st.write(f"Signed in as **{actor.username}**")
        st.caption(", ".join(sorted(r.value.replace("_", " ") for r in actor.roles)))
        if st.button("Sign out"):
            sign_out("You have signed out.")
            if getattr(st.user, "is_logged_in", False):
                st.logout()
            st.rerun()
    navigation = st.navigation(allowed)
# Timed fragments draw only for the page on screen (see pages.shared.live_fragment).
st.session_state[PAGE_ON_SCREEN_KEY] = navigation.url_path
navigation.run()
