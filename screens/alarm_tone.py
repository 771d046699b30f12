"""The alarm tone of a screen and its idle-lock timer: two small browser components.

The tone (screens/assets/alarm_tone.js) plays IEC 60601-1-8 bursts with Web Audio for every
unacknowledged high or medium alarm, offers "Pause audio" with a countdown (a new alarm ends the
pause), says "Sound off - click to enable" when the browser blocks sound, plays the soft
reminder, and covers the page with a red banner when the server stops refreshing it. Its state
lives once per browser window, so the page's reruns neither reset nor double it.

The idle timer asks the server for one run when the idle limit is reached, so the screen locks
without any timed refresh having to rerun the whole app.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import streamlit as st

from screens.display import DisplaySettings

ASSETS = Path(__file__).with_name("assets")
TONE_KEY = "itbmon-alarm-tone"
IDLE_TIMER_KEY = "itbmon-idle-timer"

_tone = st.components.v2.component(
    "itbmon_alarm_tone",
    js=(ASSETS / "alarm_tone.js").read_text(encoding="utf-8"),
    css=(ASSETS / "alarm_tone.css").read_text(encoding="utf-8"),
)

_IDLE_JS = """
export default function ({ data, setTriggerValue }) {
  // One timer per window: each call (one per full run) replaces the previous one.
  if (window.itbmonIdleTimer) clearTimeout(window.itbmonIdleTimer);
  const wait = Math.max(0, data.seconds_left) * 1000 + 500;
  window.itbmonIdleTimer = setTimeout(() => {
    window.itbmonIdleTimer = null;
    setTriggerValue("idle", Date.now());
  }, wait);
  return () => {
    if (window.itbmonIdleTimer) clearTimeout(window.itbmonIdleTimer);
    window.itbmonIdleTimer = null;
  };
}
"""
_idle = st.components.v2.component("itbmon_idle_timer", js=_IDLE_JS)


def tone_settings(settings: DisplaySettings) -> dict[str, float]:
    """What the browser needs from display.yaml to sound, pause and watch the connection."""
    return {
        "pause_s": settings.audio_pause_seconds,
        "high_every_s": settings.high_burst_every_seconds,
        "medium_every_s": settings.medium_burst_every_seconds,
        "fundamental_hz": settings.tone_fundamental_hz,
        "reminder_hz": settings.reminder_tone_hz,
        "watchdog_s": settings.connection_lost_after_seconds,
    }


def alarm_tone(
    sounding: list[dict[str, str]], reminder: str | None, settings: DisplaySettings, beat: str
) -> None:
    """Mount the screen's tone with the alarms that sound now (id and priority of each
    unacknowledged high or medium alarm), the newest soft reminder due (a token that changes
    with each reminder) and ``beat`` (changes with every refresh: the watchdog's heartbeat)."""
    data: dict[str, Any] = {
        "alarms": sounding,
        "reminder": reminder,
        "settings": tone_settings(settings),
        "beat": beat,
    }
    _tone(key=TONE_KEY, data=data, width="content", height="content")


def idle_timer(seconds_left: float, on_idle: Callable[[], None]) -> None:
    """Ask for one app run when ``seconds_left`` have passed without a new full run."""
    _idle(
        key=IDLE_TIMER_KEY,
        data={"seconds_left": max(0.0, seconds_left)},
        on_idle_change=on_idle,
        width="content",
        height="content",
    )
