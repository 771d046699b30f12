"""Episodes and their comparison (rules/what_if.py), on hand-made alarm events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from rules.events import AlarmEvent
from rules.rule_set import default_rule_set
from rules.what_if import Change, compare_alarms, episodes
from vocabulary import AlarmEventType, AlarmKind, Priority

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
RULES = default_rule_set()


def ev(
    second: int,
    kind: AlarmEventType,
    level: str | None,
    priority: Priority = Priority.HIGH,
    rule: str = "spo2_low",
) -> AlarmEvent:
    return AlarmEvent(
        time=T0 + timedelta(seconds=second),
        event=kind,
        rule_id=rule,
        priority=priority,
        kind=AlarmKind.PHYSIOLOGICAL,
        message="m",
        evidence={"level": level} if level else {},
        rule_set_version="v",
    )


R, E, C, X = (
    AlarmEventType.RAISED,
    AlarmEventType.REANNUNCIATED,
    AlarmEventType.CHANGED,
    AlarmEventType.RESOLVED,
)
END = T0 + timedelta(hours=1)


def test_episodes_follow_the_level_shown():
    events = [
        ev(0, R, "desaturation", Priority.MEDIUM),
        ev(60, E, "critical_desaturation"),
        ev(90, C, "desaturation", Priority.MEDIUM),
        ev(120, X, None),
    ]
    got = [
        (e.level_id, (e.start - T0).seconds, (e.end - T0).seconds)
        for e in episodes(events, RULES, END)
    ]
    # A deeper level shows the milder ones too; easing ends the deeper ones only.
    assert sorted(got) == [
        ("critical_desaturation", 60, 90),
        ("desaturation", 0, 120),
        ("severe_desaturation", 60, 90),
    ]


def test_later_not_at_all_added_and_already_shown():
    in_force = episodes(
        [
            ev(0, R, "critical_desaturation"),
            ev(30, X, None),
            ev(100, R, "critical_desaturation"),
            ev(130, X, None),
            ev(300, R, "critical_desaturation"),
            ev(330, X, None),
        ],
        RULES,
        END,
    )
    candidate = episodes(
        [
            ev(20, R, "critical_desaturation"),
            ev(200, X, None),
            ev(600, R, "critical_desaturation"),
            ev(650, X, None),
        ],
        RULES,
        END,
    )
    critical = [
        d for d in compare_alarms(in_force, candidate) if d.level_id == "critical_desaturation"
    ]
    got = [(d.change, d.delay_s) for d in critical]
    assert (Change.LATER, 20.0) in got  # 0 s in force, 20 s candidate
    # From 100 s the candidate's alarm of 20 s was still showing: no counterpart, no delay.
    assert (Change.ALREADY_SHOWN, -80.0) in got
    assert (Change.NOT_AT_ALL, None) in got  # 300-330 s: nothing of the candidate
    assert (Change.ADDED, None) in got  # 600 s: nothing in force
    assert [d.change for d in critical][:2] == [Change.NOT_AT_ALL, Change.LATER]  # safety first


def test_earlier_and_same():
    in_force = episodes([ev(50, R, "critical_desaturation"), ev(80, X, None)], RULES, END)
    earlier = episodes([ev(40, R, "critical_desaturation"), ev(80, X, None)], RULES, END)
    same = episodes([ev(50, R, "critical_desaturation"), ev(70, X, None)], RULES, END)
    assert {(d.change, d.delay_s) for d in compare_alarms(in_force, earlier)} >= {
        (Change.EARLIER, -10.0)
    }
    assert {d.change for d in compare_alarms(in_force, same)} == {Change.SAME}
