"""Alarms on every page: active alarms by priority, acknowledgement with a note and a reminder
interval, the tone, the soft reminder of acknowledged alarms still present, and loud notices
when the page's own data is stale (monitor not running, server lost).

Call ``alarm_panel(record, actor)`` near the top of a page, outside any fragment.
"""

from __future__ import annotations

import io
import math
import re
import struct
import wave
from collections.abc import Mapping
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

import streamlit as st

from observations.errors import RecordError
from observations.limits import load_limits
from observations.record import TrialRecord
from observations.store import PERMISSIONS, Actor
from observations.views import AlarmView, TrialView
from observations.ward_time import format_ward
from pages.display import DisplaySettings, load_display_settings
from pages.nurse_view import age_seconds, format_age, get_rule_set, trial_heading
from pages.shared import live_fragment, show_problem
from rules.reminders import AcknowledgedAlarm, reminder_due, reminder_interval
from vocabulary import Priority, TrialStatus

ALARM_SEEN_KEY = "alarm_panel_seen"
# When this screen last gave each bed (trial id) its soft reminder: the reminder is the
# screen's business, so each screen keeps its own count.
REMINDED_KEY = "alarm_panel_reminded"
PRIORITY_WORDS = {"high": "HIGH", "medium": "MEDIUM", "low": "LOW"}
PRIORITY_ICONS = {"high": "🔴", "medium": "🟠", "low": "🟡"}


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
            f"({beat.host}). Values on this page are old and no alarms are being raised. "
            "Watch the patient and the bedside monitor."
        )
    return None


def _beds_in_monitoring(record: TrialRecord, trial_id: int | None) -> str:
    """The trials a silent monitor leaves unwatched, by bed and name (this one, or all)."""
    trials = [
        t for t in record.trials.list({TrialStatus.MONITORING})
        if trial_id is None or t.id == trial_id
    ]
    return "; ".join(trial_heading(t) for t in trials)  # bed and two identifiers each


def evidence_text(evidence: dict[str, Any] | None, zone: ZoneInfo | None = None) -> str:
    """The rule's evidence as one line a nurse can read: names in words, times in ward time
    ("since: 06:53:50 GMT"), durations in seconds ("delay: 15 s"), nested values inline."""
    if not evidence:
        return "no evidence recorded"
    text = " · ".join(_evidence_part(key, value, zone, ": ") for key, value in evidence.items())
    return text if len(text) <= 400 else text[:399] + "…"


_ISO_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")


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
            f"{k.replace('_', ' ')} ({_evidence_value(v, zone)})" if isinstance(v, dict)
            else _evidence_part(k, v, zone, " ")
            for k, v in value.items()
            if v is not None
        )
    if isinstance(value, list):
        return ", ".join(_evidence_value(v, zone) for v in value)
    if zone is not None and isinstance(value, str) and _ISO_TIME.match(value):
        try:
            return format_ward(datetime.fromisoformat(value), zone, with_date=False)
        except ValueError:
            return value
    return str(value)


TONE_RATE = 16000


def _tone(pulses: list[tuple[float, float]], hertz: float, loudness: int) -> bytes:
    """WAV bytes of sine pulses, each (seconds sounding, seconds of silence after it)."""
    samples: list[int] = []
    for sounding, silent in pulses:
        n = int(TONE_RATE * sounding)
        for i in range(n):
            fade = min(1.0, i / 200, (n - i) / 200)
            samples.append(int(loudness * fade * math.sin(2 * math.pi * hertz * i / TONE_RATE)))
        samples.extend([0] * int(TONE_RATE * silent))
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(TONE_RATE)
        out.writeframes(struct.pack(f"<{len(samples)}h", *samples))
    return buffer.getvalue()


@lru_cache(maxsize=1)
def alarm_tone() -> bytes:
    """A high-priority burst (after IEC 60601-1-8: 3 + 2 pulses), then silence; WAV bytes."""
    burst = [(0.15, 0.1), (0.15, 0.1), (0.15, 0.35), (0.15, 0.1), (0.15, 0.35 + 1.5)]
    return _tone(burst, 880, 12000)


@lru_cache(maxsize=1)
def reminder_tone() -> bytes:
    """The soft reminder: two quiet, lower pulses, played once (not an alarm: nothing new)."""
    return _tone([(0.2, 0.15), (0.2, 0.3)], 523, 4000)


def _connection_watchdog(settings: DisplaySettings) -> None:
    """In the browser: if the page hears nothing from the server, cover it with a red banner."""
    limit_ms = int(settings.connection_lost_after_seconds * 1000)
    st.html(
        f"""<script>
        (function () {{
          const w = window.parent && window.parent.document ? window.parent : window;
          if (w.itbmonWatchdog) return;
          w.itbmonWatchdog = setInterval(function () {{
            const doc = w.document;
            const live = doc.querySelector('[data-itbmon-live]');
            const old = live && w.itbmonBeat && (Date.now() - w.itbmonBeat > {limit_ms});
            let banner = doc.getElementById('itbmon-connection-lost');
            if (old && !banner) {{
              banner = doc.createElement('div');
              banner.id = 'itbmon-connection-lost';
              banner.setAttribute('role', 'alert');
              banner.style.cssText = 'position:fixed;top:0;left:0;right:0;z-index:999999;' +
                'background:#b00020;color:#fff;font:bold 28px sans-serif;padding:24px;' +
                'text-align:center;';
              banner.textContent = 'CONNECTION TO THE SERVER LOST: the values on this ' +
                'screen are OLD and alarms cannot reach you. Watch the patient and the ' +
                'bedside monitor.';
              doc.body.appendChild(banner);
            }} else if (!old && banner) {{
              banner.remove();
            }}
          }}, 1000);
        }})();
        </script>""",
        unsafe_allow_javascript=True,
    )


def _heartbeat_marker() -> None:
    """Tells the watchdog the server is still sending (re-rendered with every refresh)."""
    st.html(
        f'<span data-itbmon-live="1"></span><script>/*{datetime.now().timestamp()}*/'  # noqa: DTZ005
        "(window.parent || window).itbmonBeat = Date.now();</script>",
        unsafe_allow_javascript=True,
    )


def _trials_of(record: TrialRecord, alarms: list[AlarmView]) -> dict[int, TrialView]:
    """The trials these alarms belong to: only those, not every trial the record holds (the
    panel redraws every second, and a ward's record grows by a trial or more a day)."""
    return {trial_id: record.trials.get(trial_id) for trial_id in {a.trial_id for a in alarms}}


def reminder_defaults() -> Mapping[Priority, float]:
    """The soft reminder's interval by priority when the nurse chose none (the rule set's)."""
    return get_rule_set().model.lifecycle.reminder_after_acknowledgement_s


def _acknowledged(alarm: AlarmView) -> AcknowledgedAlarm | None:
    if alarm.acknowledged_at is None:
        return None
    return AcknowledgedAlarm(alarm.acknowledged_at, Priority(alarm.priority), alarm.remind_after_s)


def every_words(seconds: float) -> str:
    """'every 5 minutes', 'every hour': a reminder interval as the nurse reads it."""
    minutes = seconds / 60
    if minutes >= 60 and minutes % 60 == 0:
        hours = minutes / 60
        return "every hour" if hours == 1 else f"every {hours:g} hours"
    return "every minute" if minutes == 1 else f"every {minutes:g} minutes"


def _state_words(alarm: AlarmView, zone: Any) -> str:
    acknowledged = _acknowledged(alarm)
    if acknowledged is None:
        return "NOT ACKNOWLEDGED"
    words = f"acknowledged {format_ward(acknowledged.acknowledged_at, zone, with_date=False)}"
    interval = reminder_interval(acknowledged, reminder_defaults())
    if interval is not None:
        words += f", reminder {every_words(interval.total_seconds())} while present"
    return words


def _alarm_line(alarm: AlarmView, trial: TrialView | None, now: datetime, zone: Any) -> str:
    who = trial_heading(trial) if trial is not None else f"Trial {alarm.trial_id}"
    state = _state_words(alarm, zone)
    kind = " (technical)" if alarm.kind == "technical" else ""
    return (
        f"{PRIORITY_ICONS.get(alarm.priority, '')} **{PRIORITY_WORDS.get(alarm.priority, '')}**"
        f"{kind} · {alarm.message} · raised {format_ward(alarm.raised_at, zone, with_date=False)}"
        f" ({format_age(age_seconds(alarm.raised_at, now))} ago) · {state}  \n{who}"
    )


def _show_alarm(
    alarm: AlarmView, trial: TrialView | None, now: datetime, zone: Any, compact: bool
) -> None:
    line = _alarm_line(alarm, trial, now, zone)
    box = {"high": st.error, "medium": st.warning}.get(alarm.priority, st.info)
    box(line)
    if not compact:
        st.caption(f"Evidence: {evidence_text(alarm.evidence, zone)}")


def _render_live(
    record: TrialRecord, settings: DisplaySettings, trial_id: int | None, compact: bool
) -> None:
    now = record.store.now()
    zone = record.settings.ward_timezone
    _heartbeat_marker()
    problem = monitor_problem(record, settings, now)
    if problem:
        # A high technical alarm on every trial in monitoring: nothing else is watching them.
        beds = _beds_in_monitoring(record, trial_id)
        st.error(f"## ⚠ HIGH (technical) · {problem}" + (f"\n\nAffects: {beds}." if beds else ""))
    alarms = record.alarms.active(trial_id)
    seen = tuple((a.id, a.acknowledged, a.priority) for a in alarms)
    if st.session_state.get(ALARM_SEEN_KEY) not in (None, seen):
        st.rerun(scope="app")  # a new, escalated or acknowledged alarm: redraw the forms
    unacknowledged_high = [
        a for a in alarms if a.priority == Priority.HIGH.value and not a.acknowledged
    ]
    sounding = bool(unacknowledged_high or (problem and _beds_in_monitoring(record, trial_id)))
    if sounding:
        st.audio(alarm_tone(), format="audio/wav", autoplay=True, loop=True)
        st.caption("Alarm tone playing (browsers start sound once you have clicked the page).")
    _soft_reminder(record, alarms, now, settings, quiet=sounding)
    if not alarms:
        if problem:  # never a calm green while nothing is watching
            st.warning("No alarm in the record, but none can be raised while the monitor is down.")
        else:
            st.success("No active alarms.")
        return
    trials = _trials_of(record, alarms)
    st.markdown(f"### Active alarms: {len(alarms)}")
    for alarm in alarms:
        _show_alarm(alarm, trials.get(alarm.trial_id), now, zone, compact)


def _soft_reminder(
    record: TrialRecord,
    alarms: list[AlarmView],
    now: datetime,
    settings: DisplaySettings,
    quiet: bool,
) -> None:
    """One soft reminder per bed whose acknowledged alarms are still present, when rules/
    says it is due: a notice naming the bed and the conditions, shown for a while, and a soft
    tone played once (none over the alarm tone, which already calls the nurse)."""
    reminded: dict[int, datetime] = st.session_state.setdefault(REMINDED_KEY, {})
    by_trial: dict[int, list[AlarmView]] = {}
    for alarm in alarms:
        if alarm.acknowledged_at is not None:
            by_trial.setdefault(alarm.trial_id, []).append(alarm)
    defaults = reminder_defaults()
    for trial_id, acknowledged in by_trial.items():
        bed = [a for a in map(_acknowledged, acknowledged) if a is not None]
        if reminder_due(bed, defaults, now, reminded.get(trial_id)):
            reminded[trial_id] = now
    shown_for = timedelta(seconds=settings.reminder_shown_seconds)
    recent = [t for t in by_trial if t in reminded and now - reminded[t] <= shown_for]
    if not recent:
        return
    trials = _trials_of(record, [a for t in recent for a in by_trial[t]])
    for trial_id in recent:
        trial = trials.get(trial_id)
        who = trial_heading(trial) if trial is not None else f"Trial {trial_id}"
        still = "; ".join(a.headline for a in by_trial[trial_id])
        st.info(f"🔔 Reminder: acknowledged, still present · {still}  \n{who}")
    if not quiet:
        st.audio(reminder_tone(), format="audio/wav", autoplay=True)


def alarm_panel(
    record: TrialRecord, actor: Actor, trial_id: int | None = None, compact: bool = False
) -> None:
    """Active alarms (all trials unless ``trial_id``), refreshed every second, and the forms
    to acknowledge them. High-priority alarms stay until acknowledged (the record keeps them).

    ``compact`` (the ward overview and the trial monitor, whose own content comes next): the
    alarms one box each, every alarm's evidence and acknowledgement folded beneath, so that a
    few alarms do not push the beds or the patient's numbers off the screen. The alarms, their
    tone and the monitor's state are shown in full either way.
    """
    settings = load_display_settings()
    zone = record.settings.ward_timezone
    _connection_watchdog(settings)
    alarms = record.alarms.active(trial_id)
    st.session_state[ALARM_SEEN_KEY] = tuple((a.id, a.acknowledged, a.priority) for a in alarms)

    @live_fragment(run_every=settings.numbers_refresh_seconds)
    def live() -> None:
        _render_live(record, settings, trial_id, compact)

    live()
    waiting = [a for a in alarms if not a.acknowledged]
    may_acknowledge = bool(actor.roles & PERMISSIONS.get("alarm.acknowledge", frozenset()))
    if waiting and not may_acknowledge:
        st.caption("Your role cannot acknowledge alarms: call the nurse in charge.")
    # Full: a form per waiting alarm (evidence is under each box). Compact: a fold per alarm
    # with its evidence, and the form when it waits for this person.
    folds = alarms if compact else (waiting if may_acknowledge else [])
    trials = _trials_of(record, folds)
    # In full, the first waiting high alarm's form is open, ready to type into.
    first_high = next((a.id for a in waiting if a.priority == Priority.HIGH.value), None)
    for alarm in folds:
        trial = trials.get(alarm.trial_id)
        acknowledge = may_acknowledge and not alarm.acknowledged
        if compact:  # one line: the condition, the bed and two identifiers (name, NHS number)
            what = alarm.headline
            who = (f"{'Bed ' + trial.bed if trial.bed else 'No bed'} · {trial.patient.name} · "
                   f"NHS {trial.patient.nhs_display}") if trial else f"trial {alarm.trial_id}"
        else:
            what = alarm.message
            who = trial_heading(trial) if trial is not None else f"trial {alarm.trial_id}"
        with st.expander(
            f"{'Acknowledge' if acknowledge else 'Evidence'}: "
            f"{PRIORITY_WORDS.get(alarm.priority, '')} {what} · {who}",
            expanded=alarm.id == first_high and not compact,
        ):
            if compact:
                st.caption(f"Evidence: {evidence_text(alarm.evidence, zone)}")
            if acknowledge:
                _acknowledge_form(record, actor, alarm)


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


def _acknowledge_form(record: TrialRecord, actor: Actor, alarm: AlarmView) -> None:
    choices, default = reminder_choices(Priority(alarm.priority))
    with st.form(f"acknowledge-{alarm.id}"):
        note = st.text_area(
            "What was done, and who was told (required)",
            key=f"ack-note-{alarm.id}",
            max_chars=load_limits().trial_day.max_note_chars,
        )
        remind = st.selectbox(
            "Remind me while it is still present",
            choices,
            index=choices.index(default),
            format_func=lambda s: "no reminder" if s is None else every_words(s),
            key=f"ack-remind-{alarm.id}",
            help="A soft tone on this screen while the condition lasts; the alarm stays "
            "silent unless it gets worse. Preselected: the usual interval for a "
            f"{alarm.priority} alarm.",
        )
        if st.form_submit_button("Acknowledge alarm", type="primary"):
            try:
                record.alarms.acknowledge(actor, alarm.id, note, remind)
            except RecordError as error:
                show_problem(error)
            else:
                st.session_state.pop(f"ack-note-{alarm.id}", None)
                st.session_state.pop(f"ack-remind-{alarm.id}", None)
                st.toast("Alarm acknowledged.")
                st.rerun()
