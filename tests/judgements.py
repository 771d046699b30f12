"""What a monitor would store of a trial, for tests of what pages and exports show."""

from __future__ import annotations

from datetime import datetime

from monitor.trial_watch import TrialWatch
from observations.record import TrialRecord
from rules import RuleSet
from rules.rule_set import default_rule_set


def judge_as_the_monitor(
    record: TrialRecord,
    trial_id: int,
    now: datetime | None = None,
    rule_set: RuleSet | None = None,
) -> None:
    """A monitor (re)started at ``now``: its engine rebuilt from the record, then the NEWS2 of
    each set, the due times and the baseline it judged written to the record, as it writes
    them (nothing it already wrote is written again)."""
    at = now or record.store.now()
    watch = TrialWatch(
        record, rule_set or default_rule_set(), record.trials.get(trial_id), lambda: at
    )
    watch.rebuild(at)
    scores, schedule = watch.judgements()
    record.set_scores.record(
        record.users.service_actor(), scores, [schedule] if schedule is not None else []
    )
