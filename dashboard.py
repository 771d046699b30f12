"""Streamlit entry point: ``streamlit run dashboard.py`` (or ``python3 tasks.py run``).

Opens the record (creating and migrating the embedded database on first start), draws the frame
of every page (the alarm bar with its tone and connection watchdog), asks for sign-in before any
patient data, locks an idle screen, and runs the page the person's roles allow.

One navigation, whatever the state: signing out, locking and unlocking draw their form in place
of the page and never change the page on screen. A page change decided by the server races the
browser's timed refreshes: a refresh the browser asked for on the previous page reaches the
server after the change, runs there, and its reply names the previous page; the browser then
clears the whole app for that page and nothing redraws it (a white page until reloaded, no error
in the console; docs/hazard-log.md H-15). So page changes are made by the browser (the sidebar,
st.page_link), which cancels its refresh timers first; the server changes page only where
nothing refreshes (just after signing in).
"""

from __future__ import annotations

import inspect
import logging
import os
import secrets
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import streamlit as st

from observations import log_privacy
from observations.errors import RecordError
from observations.settings import ConfigurationError
from screens import (
    accounts,
    alarm_review,
    audit,
    decision,
    observation_entry,
    review,
    scores,
    trial_monitor,
    trial_setup,
    trials,
    ward,
)
from screens.alarm_bar import alarm_bar
from screens.alarm_tone import idle_timer
from screens.display import load_display_settings
from screens.lock_screen import lock_screen
from screens.markdown_text import md
from screens.shared import (
    FRAME_KEY,
    FRESH_SIGN_IN_KEY,
    IDLE_RUN_KEY,
    PAGE_ON_SCREEN_KEY,
    PATIENT_ON_SCREEN_KEY,
    check_idle,
    current_actor,
    get_record,
    idle_seconds_left,
    note_trial_viewed,
    screen_locked,
    show_problem,
    sign_in_as,
    sign_out,
)
from screens.sign_in import sign_in_screen
from vocabulary import Role

st.set_page_config(
    page_title="ITB Trial Monitor", page_icon=":material/monitor_heart:", layout="wide"
)
log_privacy.install()  # no patient data in the server's log, uncaught errors included
_LOG = logging.getLogger("itbmon.dashboard")

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
CLINICAL = frozenset({Role.NURSE, Role.NURSE_SPECIALIST, Role.DOCTOR})


@dataclass(frozen=True)
class Screen:
    """One page of the navigation: its drawing function, its name and who sees it."""

    render: Callable[..., None]
    title: str
    icon: str
    roles: frozenset[Role]

    @property
    def url_path(self) -> str:
        """The page's address, its module's name ("ward", "trial_monitor"): the addresses
        people have bookmarked and the ward tiles' links (…/trial_monitor?trial=12)."""
        return self.render.__module__.rsplit(".", 1)[-1]


# Which roles see which page: the only such list. Pages do not check roles again; the record
# enforces every action whatever a page shows (observations.store.may/require).
PAGES: list[Screen] = [
    Screen(ward.render, "Ward overview", ":material/grid_view:", ALL - {Role.ADMIN}),
    Screen(trial_monitor.render, "Trial monitor", ":material/monitor_heart:", ALL - {Role.ADMIN}),
    Screen(observation_entry.render, "Observations", ":material/edit_note:", CLINICAL),
    Screen(trial_setup.render, "Trial set-up", ":material/medication:", CLINICAL),
    Screen(
        scores.render,
        "Spasticity scores",
        ":material/accessibility_new:",
        frozenset({Role.PHYSIOTHERAPIST, Role.NURSE_SPECIALIST}),
    ),
    Screen(
        review.render,
        "4-hour review",
        ":material/fact_check:",
        frozenset({Role.DOCTOR, Role.NURSE_SPECIALIST, Role.PHYSIOTHERAPIST}),
    ),
    Screen(
        decision.render,
        "Decision",
        ":material/gavel:",
        frozenset({Role.DOCTOR, Role.NURSE_SPECIALIST}),
    ),
    Screen(trials.render, "All trials", ":material/list_alt:", ALL - {Role.ADMIN}),
    Screen(accounts.render, "Accounts", ":material/manage_accounts:", frozenset({Role.ADMIN})),
    Screen(
        alarm_review.render,
        "Alarm review",
        ":material/notifications_active:",
        frozenset({Role.DOCTOR, Role.NURSE_SPECIALIST, Role.ADMIN}),
    ),
    Screen(audit.render, "Audit trail", ":material/history:", frozenset({Role.ADMIN, Role.DOCTOR})),
]


def page_callable(screen: Screen, given: dict[str, Any]) -> Callable[[], None]:
    """``screen.render`` called with what it names among ``given`` (record, actor, settings,
    monitor: the trial monitor's page, which the ward's tiles link to)."""
    wanted = list(inspect.signature(screen.render).parameters)

    def run() -> None:
        screen.render(**{name: given[name] for name in wanted})

    return run


SSO_LOGOUT_KEY = "sso_logout_wanted"


def _single_sign_on() -> None:
    """Map a hospital identity (st.login, OIDC) to an account: the issuer and subject claims
    name it (an e-mail address can change hands or look like another); groups decide roles."""
    if current_actor() is not None or not getattr(st.user, "is_logged_in", False):
        return
    config = st.secrets.get("itbmon_sso", {})
    claim = config.get("group_claim", "groups")
    mapping = {group: Role(role) for group, role in config.get("group_roles", {}).items()}
    groups = st.user.get(claim) or []
    try:
        actor = record.users.sign_in_external(
            str(st.user.get("iss") or config.get("issuer") or ""),
            str(st.user.get("sub") or ""),
            str(st.user.get("name") or st.user.get("email") or ""),
            list(groups) if isinstance(groups, list | tuple) else [str(groups)],
            mapping,
        )
    except RecordError as error:
        st.session_state["signed_out_reason"] = error.message
        st.logout()
        return
    sign_in_as(actor)


def _explicit_sign_out() -> None:
    """The Sign out button (a callback: the next run is already the signed-out one)."""
    sign_out("You have signed out.")
    st.session_state[SSO_LOGOUT_KEY] = True


def _idle_timer_ran() -> None:
    st.session_state[IDLE_RUN_KEY] = True


if st.session_state.pop(SSO_LOGOUT_KEY, False) and getattr(st.user, "is_logged_in", False):
    st.logout()
if st.secrets.load_if_toml_exists():
    _single_sign_on()
# The idle timer's run is not the person's action; every other full run is (a refresh runs
# its fragment only, never this script).
check_idle(activity=not st.session_state.pop(IDLE_RUN_KEY, False))
actor = current_actor()
locked = screen_locked()
working = actor is not None and not locked
first_allowed = next(
    (i for i, p in enumerate(PAGES) if actor is not None and actor.roles & p.roles), 0
)
given: dict[str, Any] = {"record": record, "actor": actor, "settings": load_display_settings()}
pages = [
    st.Page(
        page_callable(screen, given),
        title=screen.title,
        icon=screen.icon,
        url_path=screen.url_path,
        visibility="visible"
        if working and actor is not None and actor.roles & screen.roles
        else "hidden",
    )
    for screen in PAGES
]
given["monitor"] = next(
    page for page, screen in zip(pages, PAGES, strict=True) if screen.render is trial_monitor.render
)


def _app_address() -> None:
    """The app's own address draws nothing itself: the frame opens the person's first page.
    Every page keeps its own address (…/ward): Streamlit gives the default page the bare root
    instead of its name, so no real page is the default and a bookmarked …/ward opens."""


home = st.Page(
    _app_address, title="ITB Trial Monitor", url_path="home", default=True, visibility="hidden"
)
navigation = st.navigation([home, *pages], position="sidebar" if working else "hidden")
at_home = navigation.url_path == home.url_path
on_screen = first_allowed if at_home else pages.index(navigation)
allowed = working and actor is not None and bool(actor.roles & PAGES[on_screen].roles)
if working and actor is not None:
    with st.sidebar:
        st.write(f"Signed in as **{md(actor.username)}**")
        st.caption(", ".join(sorted(r.value.replace("_", " ") for r in actor.roles)))
        st.button("Sign out", icon=":material/logout:", on_click=_explicit_sign_out)
# The bar reads which page is on screen and whether to show patient details.
st.session_state[PAGE_ON_SCREEN_KEY] = PAGES[on_screen].url_path  # "ward", ...
st.session_state[FRAME_KEY] = True
# Each screen's run ends by itself, not with st.stop(): Streamlit forgets the timed refreshes a
# run did not draw only when the run ends normally. A refresh of the screen just left, still
# queued, then finds nothing to run; otherwise it runs and writes its block where the new screen
# has something else, and the browser drops the whole page (H-15). The two reruns below happen
# where that cannot bite: after a sign-in (nothing refreshes on the sign-in screen) and after
# an unlock (the locked screen's only refresh is the bar, at the same place on every screen).
if actor is None:
    # No timed refresh on this screen (no alarm bar before sign-in): after signing in, the
    # server may then open the person's first page without racing a refresh.
    sign_in_screen(record)
else:
    if at_home and not locked:
        st.switch_page(pages[first_allowed])  # before the bar: nothing refreshes yet
    alarm_bar(record)
    if locked:
        lock_screen(record, actor)
    elif not allowed and st.session_state.pop(FRESH_SIGN_IN_KEY, False):
        st.switch_page(pages[first_allowed])  # just signed in: nothing refreshes yet
    elif not allowed:
        st.title("Choose a page", anchor=False)
        st.caption(f"{PAGES[on_screen].title} is not among the pages of your role.")
        for page, screen in zip(pages, PAGES, strict=True):
            if actor.roles & screen.roles:
                st.page_link(page)  # the browser changes page (never the server: H-15)
    else:
        st.session_state.pop(FRESH_SIGN_IN_KEY, None)
        idle_timer(idle_seconds_left(), _idle_timer_ran)
        try:
            navigation.run()
        except RecordError as error:  # a refusal the page did not expect: the record's words
            show_problem(error)
        except Exception as error:  # the last line before the person: never a raw error
            incident = secrets.token_hex(4)
            where = "; ".join(
                f"{Path(f.filename).name}:{f.lineno} {f.name}"
                for f in traceback.extract_tb(error.__traceback__)[-4:]
            )
            # Type and place only: the message may quote patient data (log_privacy).
            _LOG.error(
                "page %s failed, incident %s: %s at %s",
                navigation.title,
                incident,
                type(error).__name__,
                where,
            )
            st.error(
                "Something went wrong on this screen. What you saw confirmed as saved is "
                f"saved; anything else was not. Try again, or tell IT: incident {incident}."
            )
        # Opening a patient's record is audited once per session and trial.
        note_trial_viewed(st.session_state.get(PATIENT_ON_SCREEN_KEY))
