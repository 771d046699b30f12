"""Clinical logic of the trial day, pure: NEWS2, the overdose rule set, the alarm lifecycle,
the observation schedule and responder hints. No I/O, no clock, no database, no Streamlit.

The monitor service and the pages use:
    rule_set = load_rule_set()                      # or load_rule_set(path); RuleSetError
    engine = TrialEngine(rule_set, trial_id=..., spo2_scale=1)
    engine.feed(event) -> list[AlarmEvent]          # time-ordered Reading, ObservationSet, ...
    engine.advance_to(t) -> list[AlarmEvent]        # fire timers due up to and including t
    engine.next_deadline() -> datetime | None       # when to call advance_to next
"""

from rules.engine import ActiveAlarm, EventOrderError, TrialEngine
from rules.events import (
    Acknowledgement,
    AlarmEvent,
    DeviceLink,
    Injection,
    ObservationSet,
    Reading,
    TrialEvent,
    WindowClosed,
    WindowExtension,
)
from rules.news2 import News2Band, News2Result, score_news2
from rules.rule_set import RuleSet, RuleSetError, default_rule_set, load_rule_set
from rules.schedule import DueStatus, DueTime

__all__ = [
    "Acknowledgement",
    "ActiveAlarm",
    "AlarmEvent",
    "DeviceLink",
    "DueStatus",
    "DueTime",
    "EventOrderError",
    "Injection",
    "News2Band",
    "News2Result",
    "ObservationSet",
    "Reading",
    "RuleSet",
    "RuleSetError",
    "TrialEngine",
    "TrialEvent",
    "WindowClosed",
    "WindowExtension",
    "default_rule_set",
    "load_rule_set",
    "score_news2",
]
