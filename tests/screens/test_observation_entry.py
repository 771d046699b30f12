# ruff: noqa: F811  (pytest fixtures imported from tests/browser/seed.py)
"""Observation entry: NEWS2 as it is filled, device prefill, refusal keeping what was typed."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from streamlit.testing.v1 import AppTest

from observations.record import TrialRecord
from observations.ward_time import format_ward
from screens.news2_chart import SCORE_COLOURS
from tests.browser.seed import (  # noqa: F401  (fixtures)
    People,
    add_vitals,
    beat,
    data_dir,
    monitoring_trial,
    people,
    record,
)
from tests.judgements import judge_as_the_monitor
from tests.screens.apps import WardClock, open_at, turned_away, ward_clock  # noqa: F401
from vocabulary import Consciousness, QualityFlag

ROOT = Path(__file__).resolve().parents[2]


def page(actor: object) -> AppTest:
    at = open_at("observation_entry", actor)
    return at


def k(trial: object, name: str) -> str:
    """The form's widget key: every field belongs to one trial."""
    return f"obs-{trial.id}-{name}"  # type: ignore[attr-defined]


def fill_complete(at: AppTest, trial: object) -> None:
    at.number_input(key=k(trial, "rr")).set_value(16)
    at.number_input(key=k(trial, "spo2")).set_value(97)
    at.radio(key=k(trial, "on_oxygen")).set_value("Air")
    at.number_input(key=k(trial, "temp")).set_value(36.8)
    at.number_input(key=k(trial, "systolic")).set_value(124)
    at.number_input(key=k(trial, "diastolic")).set_value(80)
    at.number_input(key=k(trial, "pulse_rate")).set_value(72)
    at.selectbox(key=k(trial, "consciousness")).set_value(Consciousness.ALERT)


def save(at: AppTest) -> AppTest:
    return next(b for b in at.button if b.label == "Save observations").click().run()


def visible_texts(at: AppTest) -> list[str]:
    """Every text the page shows: messages, captions, labels, options and the chart."""
    texts: list[str] = []
    for kind in (
        "title",
        "subheader",
        "markdown",
        "caption",
        "success",
        "info",
        "warning",
        "error",
        "text",
    ):
        texts += [str(e.value) for e in getattr(at, kind)]
    for kind in (
        "number_input",
        "selectbox",
        "radio",
        "text_input",
        "text_area",
        "checkbox",
        "date_input",
        "time_input",
        "button",
    ):
        texts += [str(w.label) for w in getattr(at, kind)]
    for kind in ("selectbox", "radio"):
        texts += [str(o) for w in getattr(at, kind) for o in w.options]
    texts += [h.value for h in at.html]
    return texts


def no_none_shown(at: AppTest) -> None:
    shown = [t for t in visible_texts(at) if "None" in t]
    assert not shown, shown


def test_news2_shown_as_filled_then_saved(record: TrialRecord, people: People):
    trial = monitoring_trial(record, people, minutes_ago=5)
    at = page(people.nurse).run()
    assert not at.exception
    assert any("NEWS2 incomplete" in i.value for i in at.info)
    no_none_shown(at)
    at.number_input(key=k(trial, "rr")).set_value(7).run()
    # Respiration 7/min scores 3, shaded as on the NEWS2 chart (display.yaml), written too.
    [parts] = [h.proto.body for h in at.get("html") if "itbmon-news2-parts" in h.proto.body]
    assert f'Respiration <b style="background:{SCORE_COLOURS[3]};' in parts
    assert parts.split("Respiration ")[1].split("</b>")[0].endswith(">3")
    # What is still missing, in the form's words rather than the scorer's names.
    assert any(
        i.value.startswith("NEWS2 incomplete — missing: SpO2, air or oxygen, systolic BP")
        for i in at.info
    ), [i.value for i in at.info]
    fill_complete(at, trial)
    at.number_input(key=k(trial, "rr")).set_value(16)
    at.run()
    assert any(s.value.startswith("NEWS2 0 — low (of what is typed") for s in at.success)
    at.radio(key=k(trial, "check")).set_value("Done").run()
    at.checkbox(key=k(trial, "se-headache")).check()
    save(at)
    assert not at.exception
    sets = record.observations.list(trial.id)
    assert len(sets) == 1 and sets[0].rr == 16 and sets[0].side_effects == ["headache"]
    assert sets[0].device_prefilled is None
    # The confirmation says what was saved, when (ward time) and that the monitor scores it.
    [done] = [s.value for s in at.success if s.value.startswith("Observations saved")]
    measured = format_ward(sets[0].measured_at, record.settings.ward_timezone, with_date=False)
    assert f"measured {measured}:" in done
    assert "RR 16 · SpO2 97 % · on air · BP 124/80 · pulse 72 · ACVPU A · temp 36.8 °C" in done
    assert "side effects: Headache" in done or "side effects: headache" in done.lower()
    assert "NEWS2 is being worked out by the monitor" in done
    # The form is empty again for the next set, every field of it.
    for name in ("rr", "spo2", "temp", "systolic", "diastolic", "pulse_rate"):
        assert at.number_input(key=k(trial, name)).value is None, name
    assert at.radio(key=k(trial, "on_oxygen")).value is None
    assert at.selectbox(key=k(trial, "consciousness")).value is None
    assert at.radio(key=k(trial, "check")).value == "Not done"
    assert at.text_area(key=k(trial, "note")).value == ""
    assert any(i.value.startswith("NEWS2 incomplete") for i in at.info)
    no_none_shown(at)
    # Once the monitor has scored the set, the confirmation gives its score (read, not worked
    # out on the page).
    judge_as_the_monitor(record, trial.id)
    at.run()
    [done] = [s.value for s in at.success if s.value.startswith("Observations saved")]
    assert "Monitor's NEWS2 0 (low)" in done, done


def test_measured_now_is_the_moment_of_save(
    ward_clock: WardClock, record: TrialRecord, people: People
):
    trial = monitoring_trial(record, people, minutes_ago=5)
    at = page(people.nurse).run()
    opened = record.store.now()
    assert at.radio(key=k(trial, "when")).value == "Now (at Save)"
    assert not at.date_input  # no time to type unless "earlier"
    ward_clock.advance(90)  # the page stands a while before the nurse saves
    at.number_input(key=k(trial, "rr")).set_value(18)
    before = record.store.now()
    save(at)
    after = record.store.now()
    [saved] = record.observations.list(trial.id)
    assert before <= saved.measured_at <= after
    assert saved.measured_at - opened > timedelta(seconds=90)


def test_earlier_shows_ward_date_and_time(record: TrialRecord, people: People):
    trial = monitoring_trial(record, people, minutes_ago=30)
    zone = record.settings.ward_timezone
    at = page(people.nurse).run()
    at.radio(key=k(trial, "when")).set_value("Earlier").run()
    day = at.date_input(key=k(trial, "date"))
    assert day.proto.format == "DD/MM/YYYY"  # the ward's one date order
    local = (record.store.now() - timedelta(minutes=12)).astimezone(zone)
    day.set_value(local.date())
    at.time_input(key=k(trial, "time")).set_value(local.time().replace(second=0, microsecond=0))
    at.number_input(key=k(trial, "pulse_rate")).set_value(64)
    save(at)
    assert not at.exception
    [saved] = record.observations.list(trial.id)
    assert saved.measured_at.astimezone(zone).replace(tzinfo=None) == local.replace(
        second=0, microsecond=0, tzinfo=None
    )
    # After Save the time goes back to "now" for the next set.
    assert at.radio(key=k(trial, "when")).value == "Now (at Save)"


def test_a_set_in_the_same_minute_is_offered_as_a_correction(record: TrialRecord, people: People):
    trial = monitoring_trial(record, people, minutes_ago=5)
    zone = record.settings.ward_timezone
    at = page(people.nurse).run()
    moment = (record.store.now() - timedelta(minutes=3)).astimezone(zone)
    first = record.observations.record(
        people.nurse, trial.id, {"measured_at": moment, "rr": 16, "pulse_rate": 37}
    )
    at.run()
    # The nurse types the set again for that same minute.
    at.radio(key=k(trial, "when")).set_value("Earlier").run()
    at.date_input(key=k(trial, "date")).set_value(moment.date())
    at.time_input(key=k(trial, "time")).set_value(moment.time().replace(second=0, microsecond=0))
    at.number_input(key=k(trial, "rr")).set_value(16)
    at.number_input(key=k(trial, "pulse_rate")).set_value(73)
    save(at)
    assert [s.id for s in record.observations.list(trial.id)] == [first.id]  # nothing added
    [offer] = [w.value for w in at.warning if "same minute" in w.value]
    assert "RR 16 · pulse 37" in offer and "What you typed is kept" in offer
    assert at.number_input(key=k(trial, "pulse_rate")).value == 73
    next(b for b in at.button if b.label == "Correct that set with what is typed").click().run()
    assert at.number_input(key=k(trial, "pulse_rate")).value == 73  # typed values kept
    [fix] = [b for b in at.button if b.label == "Save correction"]
    fix.click().run()  # without a reason
    assert any("Say why the observations are corrected." in e.value for e in at.error)
    assert len(record.observations.list(trial.id, include_superseded=True)) == 1
    at.text_input(key=k(trial, "reason")).input("pulse typed as 37, counted 73")
    next(b for b in at.button if b.label == "Save correction").click().run()
    assert not at.exception
    every = record.observations.list(trial.id, include_superseded=True)
    [current] = record.observations.list(trial.id)
    assert len(every) == 2 and current.supersedes_id == first.id
    assert current.pulse_rate == 73 and current.measured_at == first.measured_at
    assert current.correction_reason == "pulse typed as 37, counted 73"
    [audit] = record.audit.entries(trial_id=trial.id, action_prefix="observation.correct")
    assert audit.details == {"supersedes": first.id, "reason": "pulse typed as 37, counted 73"}
    assert any(s.value.startswith("Observations corrected") for s in at.success)
    assert at.number_input(key=k(trial, "pulse_rate")).value is None  # form cleared


def test_the_saved_set_is_corrected_not_saved_twice(record: TrialRecord, people: People):
    trial = monitoring_trial(record, people, minutes_ago=5)
    at = page(people.nurse).run()
    fill_complete(at, trial)
    save(at)
    [first] = record.observations.list(trial.id)
    # Typed again within the minute, "now": the page offers the correction instead.
    at.number_input(key=k(trial, "rr")).set_value(16)
    save(at)
    assert len(record.observations.list(trial.id, include_superseded=True)) == 1
    assert any("same minute" in w.value for w in at.warning)
    # Or from the confirmation: its values come back into the form to be changed.
    at = page(people.nurse).run()
    fill_complete(at, trial)
    at.radio(key=k(trial, "when")).set_value("Earlier").run()
    at.time_input(key=k(trial, "time")).set_value(
        (record.store.now() - timedelta(minutes=2))
        .astimezone(record.settings.ward_timezone)
        .time()
        .replace(second=0, microsecond=0)
    )
    save(at)
    assert len(record.observations.list(trial.id)) == 2
    next(b for b in at.button if b.label == "Correct this set").click().run()
    assert at.number_input(key=k(trial, "rr")).value == 16
    assert at.number_input(key=k(trial, "systolic")).value == 124
    assert at.radio(key=k(trial, "on_oxygen")).value == "Air"
    assert at.selectbox(key=k(trial, "consciousness")).value == Consciousness.ALERT
    assert any(i.value.startswith("Correcting the set measured") for i in at.info)
    at.number_input(key=k(trial, "systolic")).set_value(104)
    at.text_input(key=k(trial, "reason")).input("systolic misread")
    next(b for b in at.button if b.label == "Save correction").click().run()
    assert not at.exception
    current = record.observations.list(trial.id)
    # The set just saved (two minutes ago) was corrected; the first set is untouched.
    assert len(current) == 2 and first.id in {s.id for s in current}
    [fixed] = [s for s in current if s.supersedes_id is not None]
    assert fixed.systolic == 104 and fixed.rr == 16 and fixed.supersedes_id != first.id


def test_an_earlier_set_is_corrected_from_the_list(record: TrialRecord, people: People):
    trial = monitoring_trial(record, people, minutes_ago=40)
    older = record.observations.record(
        people.nurse,
        trial.id,
        {"measured_at": record.store.now() - timedelta(minutes=30), "rr": 14},
    )
    record.observations.record(
        people.nurse,
        trial.id,
        {"measured_at": record.store.now() - timedelta(minutes=15), "rr": 15},
    )
    at = page(people.nurse).run()
    choice = at.selectbox(key=k(trial, "correct-choice"))
    assert len(choice.options) == 2 and "RR 15" in choice.options[0]  # newest first
    choice.set_value(older.id).run()
    next(b for b in at.button if b.label == "Correct the chosen set").click().run()
    assert at.number_input(key=k(trial, "rr")).value == 14
    # The correction keeps the set's own time unless the nurse changes it.
    assert at.radio(key=k(trial, "when-correct")).value == "As recorded"
    at.number_input(key=k(trial, "rr")).set_value(24)
    at.text_input(key=k(trial, "reason")).input("wrong patient's chart read")
    next(b for b in at.button if b.label == "Save correction").click().run()
    fixed = next(s for s in record.observations.list(trial.id) if s.supersedes_id == older.id)
    assert fixed.rr == 24 and fixed.measured_at == older.measured_at
    # Cancelling a correction writes nothing and empties the form.
    next(b for b in at.button if b.label == "Correct this set").click().run()
    next(b for b in at.button if b.label == "Cancel correction").click().run()
    assert at.number_input(key=k(trial, "rr")).value is None
    assert len(record.observations.list(trial.id, include_superseded=True)) == 3


def test_chart_on_the_page_shows_the_sets_with_rcp_shading(record: TrialRecord, people: People):
    trial = monitoring_trial(record, people, minutes_ago=40)
    record.observations.record(
        people.nurse,
        trial.id,
        {
            "measured_at": record.store.now() - timedelta(minutes=20),
            "rr": 25,
            "spo2": 97,
            "on_oxygen": False,
            "systolic": 120,
            "diastolic": 70,
            "pulse_rate": 80,
            "consciousness": "A",
            "temp": 36.8,
        },
    )
    judge_as_the_monitor(record, trial.id)
    at = page(people.nurse).run()
    [chart] = [h.value for h in at.html if "news2-chart" in h.value]
    assert 'data-row="Respiration rate /min" data-score="3"' in chart
    assert "#f08080" in chart  # the RCP red of a 3
    assert ">3<" in chart or ">3</td>" in chart  # the monitor's total of this set
    no_none_shown(at)


def test_impossible_value_refused_and_kept(record: TrialRecord, people: People):
    trial = monitoring_trial(record, people, minutes_ago=5)
    at = page(people.nurse).run()
    fill_complete(at, trial)
    at.number_input(key=k(trial, "temp")).set_value(3.7)
    at.number_input(key=k(trial, "spo2")).set_value(150)
    save(at)
    assert not at.exception
    errors = [e.value for e in at.error]
    assert any(
        "Temperature 3.7 °C is not possible" in e and "Did you mean 37.0?" in e for e in errors
    )
    assert any("SpO2 150 % is not possible" in e for e in errors)
    assert at.number_input(key=k(trial, "temp")).value == 3.7  # kept as typed
    assert at.number_input(key=k(trial, "rr")).value == 16
    assert record.observations.list(trial.id) == []


PREFILL = "Fill in the device values (median of the last minute: "


def test_prefill_is_the_median_of_the_last_minute_and_says_so(record: TrialRecord, people: People):
    trial = monitoring_trial(record, people, minutes_ago=5)
    now = record.store.now()
    add_vitals(record, trial.id, now - timedelta(seconds=75), 70, 140)  # over a minute ago
    for seconds, spo2, pulse in ((50, 96, 80), (30, 94, 84), (10, 95, 82), (3, 99, 130)):
        add_vitals(record, trial.id, now - timedelta(seconds=seconds), spo2, pulse)
    # A motion artefact is never part of it, however recent.
    add_vitals(
        record,
        trial.id,
        now - timedelta(seconds=1),
        60,
        40,
        flags=frozenset({QualityFlag.ARTIFACT}),
    )
    at = page(people.nurse).run()
    assert not at.exception
    [button] = [b for b in at.button if b.label.startswith(PREFILL)]
    assert button.label == PREFILL + "SpO2 96, Pulse 83)"
    assert any(
        "the median of the device's valid readings over the last minute" in c.value
        and "SpO2: 4" in c.value
        for c in at.caption
    ), [c.value for c in at.caption]
    button.click().run()
    # 94, 95, 96, 99 -> 95.5, charted half up as 96; 80, 82, 84, 130 -> 83.
    assert at.number_input(key=k(trial, "spo2")).value == 96
    assert at.number_input(key=k(trial, "pulse_rate")).value == 83
    assert at.number_input(key=k(trial, "spo2")).label.endswith(
        "· from device (median of the last minute)"
    )


def test_prefill_from_device_is_marked(record: TrialRecord, people: People):
    trial = monitoring_trial(record, people, minutes_ago=5)
    add_vitals(record, trial.id, record.store.now() - timedelta(seconds=3), 95, 88)
    at = page(people.nurse).run()
    button = next(b for b in at.button if b.label.startswith(PREFILL))
    button.click().run()
    assert at.number_input(key=k(trial, "spo2")).value == 95
    assert at.number_input(key=k(trial, "spo2")).label.endswith(
        "· from device (median of the last minute)"
    )
    at.number_input(key=k(trial, "pulse_rate")).set_value(90)  # the nurse counted it herself
    at.number_input(key=k(trial, "rr")).set_value(18)
    save(at)
    assert not at.exception
    saved = record.observations.list(trial.id)[0]
    assert saved.device_prefilled == ["spo2"]


def test_what_was_typed_stays_with_its_patient(record: TrialRecord, people: People):
    first = monitoring_trial(record, people, minutes_ago=5)
    second = monitoring_trial(
        record,
        people,
        nhs="9000000009",
        mrn="H88",
        family="Other",
        bed="5A",
        device="sim:steady?seed=2",
    )
    at = page(people.nurse).run()
    shown = at.selectbox[0].value
    typed_for = first if shown == first.id else second
    other = second if typed_for is first else first
    at.number_input(key=k(typed_for, "rr")).set_value(22).run()
    at.selectbox[0].set_value(other.id).run()  # the nurse turns to the other patient
    assert not at.exception
    assert at.number_input(key=k(other, "rr")).value is None  # nothing carried over
    assert other.patient.family_name.upper() in at.subheader[0].value
    at.selectbox[0].set_value(typed_for.id).run()  # and back: the chooser follows each change
    assert typed_for.patient.family_name.upper() in at.subheader[0].value


def test_prefill_refuses_values_gone_stale_since_the_page_was_drawn(
    ward_clock: WardClock, record: TrialRecord, people: People
):
    trial = monitoring_trial(record, people, minutes_ago=5)
    drawn_from = record.store.now() - timedelta(seconds=27)
    add_vitals(record, trial.id, drawn_from, 95, 88)
    at = page(people.nurse).run()
    button = next(b for b in at.button if b.label.startswith(PREFILL))
    # By the click the oximeter's last values have passed the 30 s stale limit.
    ward_clock.advance(max(0.0, 31 - (record.store.now() - drawn_from).total_seconds()))
    button.click().run()
    assert at.number_input(key=k(trial, "spo2")).value is None
    assert any("no longer current" in e.value for e in at.error)


def test_due_and_missed_sets_are_the_monitor_s(record: TrialRecord, people: People):
    trial = monitoring_trial(record, people, minutes_ago=50)
    at = page(people.nurse).run()
    assert not at.exception
    # No monitor has judged this trial: the page says so rather than working it out itself.
    assert any("not yet worked out by the monitor" in m.value for m in at.markdown)
    judge_as_the_monitor(record, trial.id)
    at = page(people.nurse).run()
    assert not at.exception
    assert any("Observations OVERDUE since" in m.value for m in at.markdown)
    captions = [c.value for c in at.caption]
    # Injected 50 min ago, no set since: +15, +30 and +45 min all passed unmet.
    assert any(c.startswith("Missed observation sets (3)") for c in captions), captions


def test_physiotherapist_cannot_enter(record: TrialRecord, people: People):
    monitoring_trial(record, people)
    at = page(people.physio).run()
    assert turned_away(at)
