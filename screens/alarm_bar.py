"""The alarm bar that heads every page: one line per bed in alarm, its tone, the monitor's state.

dashboard.py draws it once for every page (signed in, and on the locked screen) in one timed
fragment that never moves, so it is live whatever page is on screen and no
page's own refresh carries it. Each bed's line leads with its most urgent UNACKNOWLEDGED alarm
(priority, then the latest annunciation): an older or acknowledged alarm never hides it. A
bed's line opens to its alarms with their evidence and one form that acknowledges all of them.

On the ward overview the bar is one line (the beds' alarms open from a button), so the bed grid
stays put; elsewhere the patient on screen comes first and the beds' lines scroll inside a box
of bounded height. On a locked screen the bar shows beds and conditions only: no names, no
numbers of the patient, no forms.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import streamlit as st

from observations.errors import RecordError
from observations.free_text import max_chars
from observations.limits import load_limits
from observations.record import TrialRecord
from observations.store import Actor, may
from observations.views import AlarmView, TrialView
from observations.ward_time import format_ward
from rules.reminders import AcknowledgedAlarm, reminder_due, reminder_interval
from rules.urgency import alarm_urgency, most_urgent_first
from screens.alarm_tone import alarm_tone
from screens.bed_tiles import MISSING, natural_bed_key
from screens.display import DisplaySettings, load_display_settings
from screens.markdown_text import html_text, md
from screens.nurse_view import age_seconds, format_age, get_rule_set, trial_heading
from screens.shared import (
    PAGE_ON_SCREEN_KEY,
    PATIENT_ON_SCREEN_KEY,
    current_actor,
    note_activity,
    screen_locked,
    show_problem,
)
from vocabulary import CLINICAL_ROLES, Priority, TrialStatus

PRIORITY_WORDS = {"high": "HIGH", "medium": "MEDIUM", "low": "LOW"}
PRIORITY_ICONS = {
    "high": ":material/emergency_home:",
    "medium": ":material/warning:",
    "low": ":material/info:",
}
WARD_PAGE = "ward"  # url path of screens/ward.py: the bar is one line there
# When this screen last gave each bed (trial id) its soft reminder: the reminder is the
# screen's business, so each screen keeps its own.
REMINDED_KEY = "alarm_bar_reminded"
# Common first actions, offered to start the acknowledgement note (the note stays required).
QUICK_PHRASES = (
    "Attended the bedside and assessed the patient",
    "Sat the patient up; oxygen started",
    "Repeated the observations",
    "Probe or cuff re-sited; device checked",
    "Device reconnected",
    "Doctor informed",
    "Nurse in charge informed",
)
NO_PHRASE = "(none: write below)"
# The bar's container on every page (its CSS class: st-key-itbmon-alarm-bar).
ALARM_BAR_KEY = "itbmon-alarm-bar"
# IEC 60601-1-8 colours (screens/assets/alarm_bar.css); only escaped text goes into the HTML.
BAR_CSS = (Path(__file__).with_name("assets") / "alarm_bar.css").read_text(encoding="utf-8")


# ----- ordering: the ward's one urgency order (rules/urgency.py) -------------------------------
def _most_urgent_first(alarm: AlarmView) -> tuple[float, ...]:
    return tuple(-x for x in alarm_urgency(alarm))


@dataclass(frozen=True)
class BedAlarms:
    """One bed's active alarms, most urgent first."""

    trial_id: int
    bed: str | None
    alarms: tuple[AlarmView, ...]

    @property
    def lead(self) -> AlarmView:
        return self.alarms[0]

    @property
    def waiting(self) -> list[AlarmView]:
        return [a for a in self.alarms if not a.acknowledged]

    @property
    def others(self) -> int:
        return len(self.alarms) - 1


def beds_in_alarm(
    alarms: Iterable[AlarmView],
    beds: Mapping[int, str | None],
    first: int | None = None,
) -> list[BedAlarms]:
    """The beds with active alarms, each led by its most urgent unacknowledged alarm; beds by
    that lead's urgency, then natural bed order. ``first`` (the patient on screen) leads."""
    grouped: dict[int, list[AlarmView]] = {}
    for alarm in alarms:
        grouped.setdefault(alarm.trial_id, []).append(alarm)
    result = [
        BedAlarms(trial_id, beds.get(trial_id), tuple(most_urgent_first(mine)))
        for trial_id, mine in grouped.items()
    ]
    result.sort(
        key=lambda b: (
            b.trial_id != first,
            _most_urgent_first(b.lead),
            natural_bed_key(b.bed),
            b.trial_id,
        )
    )
    return result


def bed_name(bed: str | None, trial_id: int) -> str:
    return f"Bed {bed}" if bed else f"No bed (trial {trial_id})"


def condition_only(alarm: AlarmView) -> str:
    """The condition without the patient's values, for a locked screen: "Critical
    desaturation", not "Critical desaturation: SpO2 84 %"."""
    return alarm.headline.split(":")[0].strip()


# ----- words -----------------------------------------------------------------------------------
def monitor_problem(record: TrialRecord, settings: DisplaySettings, now: datetime) -> str | None:
    """Why the values on screen are not being updated, or None if the monitor is beating."""
    beat = record.services.latest_heartbeat()
    if beat is None:
        return (
            "MONITOR NOT RUNNING: no monitor service has reported. Values on this page are "
            "not being updated and no alarms are being raised. Watch the patient and the "
            "bedside monitor; call the ward's IT contact."
        )
    silent = age_seconds(beat.last_beat_at, now)
    if silent > settings.monitor_silent_after_seconds:
        return (
            f"MONITOR NOT RUNNING: last heard from {format_age(silent)} ago "
            f"({md(beat.host)}). Values on this page are old and no alarms are being raised. "
            "Watch the patient and the bedside monitor."
        )
    return None


def evidence_text(evidence: dict[str, Any] | None, zone: ZoneInfo | None = None) -> str:
    """The rule's evidence as one line a nurse can read: names in words, times in ward time
    ("since: 06:53:50 GMT"), durations in seconds ("delay: 15 s"), nested values inline."""
    if not evidence:
        return "no evidence recorded"
    text = " · ".join(_evidence_part(key, value, zone, ": ") for key, value in evidence.items())
    return text if len(text) <= 400 else text[:399] + "…"


_ISO_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")
_IDENTIFIER = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)+$")


def _evidence_part(key: str, value: Any, zone: ZoneInfo | None, between: str) -> str:
    name = key.replace("_", " ")
    unit = ""
    if name.endswith(" s") and not isinstance(value, dict | list):  # the engine's "_s": seconds
        name, unit = name[:-2], " s"
    return f"{name}{between}{_evidence_value(value, zone)}{unit}"


def _evidence_value(value: Any, zone: ZoneInfo | None) -> str:
    if isinstance(value, dict):
        # Per parameter: "spo2 (last reading 07:01:28 GMT, lost for 60 s); pulse rate (...)".
        nested = any(isinstance(v, dict) for v in value.values())
        return ("; " if nested else ", ").join(
            f"{k.replace('_', ' ')} ({_evidence_value(v, zone)})"
            if isinstance(v, dict)
            else _evidence_part(k, v, zone, " ")
            for k, v in value.items()
            if v is not None
        )
    if isinstance(value, list):
        return ", ".join(_evidence_value(v, zone) for v in value)
    if value is None:
        return MISSING  # not known (e.g. no set yet): missing, never "None"
    if isinstance(value, str) and _IDENTIFIER.match(value):
        return value.replace("_", " ")  # the engine's names ("critical_desaturation") in words
    if zone is not None and isinstance(value, str) and _ISO_TIME.match(value):
        try:
            return format_ward(datetime.fromisoformat(value), zone, with_date=False)
        except ValueError:
            return value
    return str(value)


def reminder_defaults() -> Mapping[Priority, float]:
    """The soft reminder's interval by priority when the nurse chose none (the rule set's)."""
    return get_rule_set().model.lifecycle.reminder_after_acknowledgement_s


def every_words(seconds: float) -> str:
    """'every 5 minutes', 'every hour': a reminder interval as the nurse reads it."""
    minutes = seconds / 60
    if minutes >= 60 and minutes % 60 == 0:
        hours = minutes / 60
        return "every hour" if hours == 1 else f"every {hours:g} hours"
    return "every minute" if minutes == 1 else f"every {minutes:g} minutes"


def reminder_choices(priority: Priority) -> tuple[list[float | None], float | None]:
    """The reminder intervals (seconds) offered when acknowledging an alarm of this priority,
    and the one preselected: the rule set's default for the priority. A priority without a
    default (low: advisory) preselects no reminder."""
    day = load_limits().trial_day
    default = reminder_defaults().get(priority)
    offered: set[float] = {m * 60 for m in day.reminder_choices_minutes}
    if default is not None:
        offered.add(default)
    choices: list[float | None] = [None] if default is None else []
    return [*choices, *sorted(offered)], default


def _acknowledged(alarm: AlarmView) -> AcknowledgedAlarm | None:
    if alarm.acknowledged_at is None:
        return None
    return AcknowledgedAlarm(alarm.acknowledged_at, Priority(alarm.priority), alarm.remind_after_s)


def state_words(alarm: AlarmView, zone: Any) -> str:
    acknowledged = _acknowledged(alarm)
    if acknowledged is None:
        return "NOT ACKNOWLEDGED"
    words = f"acknowledged {format_ward(acknowledged.acknowledged_at, zone, with_date=False)}"
    interval = (
        None
        if alarm.priority == Priority.LOW.value
        else reminder_interval(acknowledged, reminder_defaults())
    )
    if interval is not None:
        words += f", reminder {every_words(interval.total_seconds())} while present"
    return words


# The one helper (screens/markdown_text.py), under the name this module's callers know.
markdown_text = md


def _badge(alarm: AlarmView) -> str:
    seen = " seen" if alarm.acknowledged else ""
    kind = " (technical)" if alarm.kind == "technical" else ""
    return (
        f'<span class="itbmon-badge {html_text(alarm.priority)}{seen}">'
        f"{PRIORITY_WORDS.get(alarm.priority, '')}{kind}</span>"
    )


def bed_line_html(bed: BedAlarms, now: datetime, anonymous: bool) -> str:
    """One bed's line: bed, its lead alarm's priority and condition, age, the count of others.
    Every piece of text is escaped."""
    lead = bed.lead
    what = condition_only(lead) if anonymous else lead.headline
    waiting = "NOT ACKNOWLEDGED" if not lead.acknowledged else "acknowledged"
    others = f" · +{bed.others} other{'s' if bed.others > 1 else ''}" if bed.others else ""
    return (
        f'<p class="itbmon-line">{_badge(lead)}'
        f'<span class="itbmon-bed">{html_text(bed_name(bed.bed, bed.trial_id))}</span>'
        f"<span>{html_text(what)}</span>"
        f'<span class="itbmon-quiet">{format_age(age_seconds(lead.last_event_at, now))} ago · '
        f"{waiting}{html_text(others)}</span></p>"
    )


def bed_label(bed: BedAlarms, now: datetime) -> str:
    """The expander label of a bed (Markdown: every piece of data escaped)."""
    lead = bed.lead
    others = f" · +{bed.others} other{'s' if bed.others > 1 else ''}" if bed.others else ""
    state = "NOT ACKNOWLEDGED" if not lead.acknowledged else "acknowledged"
    return (
        f"**{PRIORITY_WORDS.get(lead.priority, '')}** · "
        f"**{md(bed_name(bed.bed, bed.trial_id))}** · "
        f"{md(lead.headline)} · {format_age(age_seconds(lead.last_event_at, now))} "
        f"ago · {state}{others}"
    )


# ----- the live bar ----------------------------------------------------------------------------
def _trials(record: TrialRecord, alarms: Sequence[AlarmView]) -> dict[int, TrialView]:
    """The trials in monitoring (one query) and any other trial an active alarm belongs to."""
    trials = {t.id: t for t in record.trials.list({TrialStatus.MONITORING})}
    for trial_id in {a.trial_id for a in alarms} - set(trials):
        trials[trial_id] = record.trials.get(trial_id)
    return trials


def _soft_reminders(
    alarms: Sequence[AlarmView], now: datetime, settings: DisplaySettings
) -> tuple[str | None, list[int]]:
    """Beds whose acknowledged alarms (high or medium: low never reminds) are still present
    and due their soft reminder (rules/reminders.py); returns the newest reminder's token for
    the tone and the beds whose notice is still shown."""
    reminded: dict[int, datetime] = st.session_state.setdefault(REMINDED_KEY, {})
    by_trial: dict[int, list[AcknowledgedAlarm]] = {}
    for alarm in alarms:
        acknowledged = _acknowledged(alarm)
        if acknowledged is not None and alarm.priority != Priority.LOW.value:
            by_trial.setdefault(alarm.trial_id, []).append(acknowledged)
    defaults = reminder_defaults()
    for trial_id, acknowledged_alarms in by_trial.items():
        if reminder_due(acknowledged_alarms, defaults, now, reminded.get(trial_id)):
            reminded[trial_id] = now
    shown_for = timedelta(seconds=settings.reminder_shown_seconds)
    recent = sorted(
        (t for t in by_trial if t in reminded and now - reminded[t] <= shown_for),
        key=lambda t: reminded[t],
    )
    token = f"{recent[-1]}@{reminded[recent[-1]].isoformat()}" if recent else None
    return token, recent


def _sounding(alarms: Sequence[AlarmView], problem: bool) -> list[dict[str, str]]:
    """What the tone sounds for: each unacknowledged high or medium alarm (low is advisory:
    shown, never sounded), and a monitor that stopped while beds are in monitoring."""
    loud = {Priority.HIGH.value, Priority.MEDIUM.value}
    sounding = [
        {"id": str(a.id), "priority": a.priority}
        for a in alarms
        if not a.acknowledged and a.priority in loud
    ]
    if problem:
        sounding.append({"id": "monitor-not-running", "priority": Priority.HIGH.value})
    return sounding


def alarm_bar(record: TrialRecord) -> None:
    """The bar, drawn by dashboard.py before the page: live every second in one fragment that
    stays at the same place on every page."""
    settings = load_display_settings()
    css = BAR_CSS.replace("var(--itbmon-bar-box)", f"{settings.alarm_bar_box_px}px")
    st.html(f"<style>{css}</style>")

    @st.fragment(run_every=settings.numbers_refresh_seconds)
    def live_bar() -> None:
        _draw_bar(record, settings)

    with st.container(key=ALARM_BAR_KEY):
        live_bar()


def _draw_bar(record: TrialRecord, settings: DisplaySettings) -> None:
    actor = current_actor()
    if actor is None:
        return  # a refresh asked for just before a sign-out: the sign-in screen has no bar
    # Locked, or an administrator (accounts, not patients): beds and conditions only.
    anonymous = screen_locked() or not actor.roles & CLINICAL_ROLES
    page = st.session_state.get(PAGE_ON_SCREEN_KEY)
    one_line = page == WARD_PAGE and not anonymous
    now = record.store.now()
    alarms = record.alarms.active()
    trials = _trials(record, alarms)
    monitoring = [t for t in trials.values() if t.status == TrialStatus.MONITORING.value]
    problem = monitor_problem(record, settings, now)
    unwatched = problem is not None and bool(monitoring)
    on_screen = None if one_line or anonymous else st.session_state.get(PATIENT_ON_SCREEN_KEY)
    beds = beds_in_alarm(alarms, {t: trials[t].bed for t in trials}, on_screen)
    token, reminded = _soft_reminders(alarms, now, settings)

    with st.container(
        horizontal=True, vertical_alignment="center", gap="small", wrap=False, key="itbmon-bar-head"
    ):
        alarm_tone(_sounding(alarms, unwatched), token, settings, now.isoformat())
        if not beds:
            words = (
                "No alarm in the record, but none can be raised while the monitor is down"
                if problem
                else "No active alarms"
            )
            st.markdown(f":material/check_circle: {words}." if not problem else f"**{words}.**")
        elif one_line:
            # The button first: the line may be cut short on a narrow screen, never the button.
            with st.popover(
                f"Alarms of {len(beds)} bed{'s' if len(beds) > 1 else ''}",
                icon=":material/notifications_active:",
                key="itbmon-bar-popover",
            ):
                for bed in beds:
                    _bed_expander(record, actor, bed, trials, now, "ward")
            rest = len(beds) - 1
            more = (
                f'<span class="itbmon-quiet">and {rest} more bed{"s" if rest > 1 else ""}</span>'
                if rest
                else ""
            )
            line = bed_line_html(beds[0], now, anonymous=False)
            st.html(
                line.replace('class="itbmon-line"', 'class="itbmon-line one"').replace(
                    "</p>", f"{more}</p>"
                )
            )
    if problem:
        _monitor_banner(problem, monitoring, anonymous)
    for trial_id in reminded:
        trial = trials.get(trial_id)
        still = "; ".join(
            (condition_only(a) if anonymous else a.headline)
            for a in alarms
            if a.trial_id == trial_id and a.acknowledged and a.priority != Priority.LOW.value
        )
        where = bed_name(trial.bed if trial else None, trial_id)
        st.markdown(
            f":material/notifications: Reminder: acknowledged, still present · "
            f"{md(where)} · {md(still)}"
        )
    if anonymous:
        if monitoring:
            names = " · ".join(
                bed_name(t.bed, t.id)
                for t in sorted(monitoring, key=lambda t: natural_bed_key(t.bed))
            )
            st.caption(f"In monitoring: {md(names)}")
        with st.container(key="itbmon-bar-beds"):
            for bed in beds:
                st.html(bed_line_html(bed, now, anonymous=True))
        return
    if not one_line and beds:
        with st.container(key="itbmon-bar-beds"):
            for bed in beds:
                _bed_expander(record, actor, bed, trials, now, "bar")


def _monitor_banner(problem: str, monitoring: list[TrialView], anonymous: bool) -> None:
    """A high technical alarm on every trial in monitoring: nothing else is watching them."""
    if anonymous:
        beds = "; ".join(bed_name(t.bed, t.id) for t in monitoring)
    else:
        beds = "; ".join(trial_heading(t) for t in monitoring)  # bed and two identifiers
    affects = f"\n\nAffects: {md(beds)}." if beds else ""
    st.error(f"**HIGH (technical)** · {problem}{affects}", icon=":material/error:")


def _bed_expander(
    record: TrialRecord,
    actor: Actor | None,
    bed: BedAlarms,
    trials: Mapping[int, TrialView],
    now: datetime,
    where: str,
) -> None:
    state = "waiting" if bed.waiting else "seen"
    # The wrapper's key carries priority and state: the CSS colours the line by them.
    with (
        st.container(key=f"itbmon-bed-{where}-{bed.trial_id}-{bed.lead.priority}-{state}"),
        st.expander(
            bed_label(bed, now),
            icon=PRIORITY_ICONS.get(bed.lead.priority),
            key=f"itbmon-open-{where}-{bed.trial_id}",
        ),
    ):
        _bed_details(record, actor, bed, trials.get(bed.trial_id), now, where)


def _bed_details(
    record: TrialRecord,
    actor: Actor | None,
    bed: BedAlarms,
    trial: TrialView | None,
    now: datetime,
    where: str,
) -> None:
    zone = record.settings.ward_timezone
    st.text(trial_heading(trial) if trial is not None else bed_name(bed.bed, bed.trial_id))
    for alarm in bed.alarms:
        kind = " (technical)" if alarm.kind == "technical" else ""
        raised = format_ward(alarm.raised_at, zone, with_date=False)
        st.markdown(
            f"{PRIORITY_ICONS.get(alarm.priority, '')} **{PRIORITY_WORDS.get(alarm.priority, '')}"
            f"**{kind} · {md(alarm.message)} · raised {raised} "
            f"({format_age(age_seconds(alarm.raised_at, now))} ago) · "
            f"{md(state_words(alarm, zone))}"
        )
        st.caption(f"Evidence: {md(evidence_text(alarm.evidence, zone))}")
    if actor is not None:
        acknowledge_bed_form(record, actor, bed, where)


def acknowledge_bed_form(record: TrialRecord, actor: Actor, bed: BedAlarms, where: str) -> None:
    """ONE form for all of the bed's unacknowledged alarms: one note (a common action and/or
    free text; required) and the reminder choice (none for low advisories: they never remind)."""
    waiting = bed.waiting
    if not waiting:
        return
    if not may(actor, "alarm.acknowledge"):
        st.caption("Your role cannot acknowledge alarms: call the nurse in charge.")
        return
    top = Priority(waiting[0].priority)  # waiting alarms are most urgent first
    prefix = f"ack-{where}-{bed.trial_id}"
    with st.form(prefix):
        phrase = st.selectbox("Common action", [NO_PHRASE, *QUICK_PHRASES], key=f"{prefix}-phrase")
        note = st.text_area(
            "What was done, and who was told (required)",
            key=f"{prefix}-note",
            max_chars=max_chars("note"),
        )
        remind: float | None = None
        if top != Priority.LOW:
            choices, default = reminder_choices(top)
            remind = st.selectbox(
                "Remind me while it is still present",
                choices,
                index=choices.index(default),
                format_func=lambda s: "no reminder" if s is None else every_words(s),
                key=f"{prefix}-remind",
                help="A soft tone on this screen while the condition lasts; the alarm stays "
                "silent unless it gets worse. Preselected: the usual interval for a "
                f"{top.value} alarm.",
            )
        count = len(waiting)
        label = (
            "Acknowledge all of this bed's alarms" if count > 1 else "Acknowledge this bed's alarm"
        )
        submitted = st.form_submit_button(f"{label} ({count})", type="primary")
    if not submitted:
        return
    note_activity()
    text = ". ".join(p for p in ((phrase if phrase != NO_PHRASE else ""), note.strip()) if p)
    try:
        record.alarms.acknowledge_bed(actor, bed.trial_id, text, remind)
    except RecordError as error:
        show_problem(error)
        return
    for suffix in ("phrase", "note", "remind"):
        st.session_state.pop(f"{prefix}-{suffix}", None)
    st.toast(f"{md(bed_name(bed.bed, bed.trial_id))}: {count} alarm(s) acknowledged.")
    _rerun_here()


def _rerun_here() -> None:
    """Redraw what holds the form: its fragment if it is in one, else the page."""
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx()
    in_fragment = ctx is not None and getattr(ctx, "current_fragment_id", None)
    st.rerun(scope="fragment" if in_fragment else "app")


def bed_alarms(record: TrialRecord, actor: Actor, trial_id: int) -> None:
    """One bed's active alarms in full (most urgent unacknowledged first, with evidence) and
    the form that acknowledges all of them: for the trial monitor's patient."""
    now = record.store.now()
    alarms = record.alarms.active(trial_id)
    trial = record.trials.get(trial_id)
    if not alarms:
        st.markdown(":material/check_circle: No active alarms for this patient.")
        return
    [bed] = beds_in_alarm(alarms, {trial_id: trial.bed})
    _bed_details(record, actor, bed, trial, now, "monitor")
