"""The team's responder decision, signed by a doctor, and the follow-up trial planned with it.

Layout and widgets only. The suggested next step is the one responder evaluation
(rules/evaluation.py, as Review and the report show it): never a higher dose after signs of
overdose. The follow-up dose defaults to the rules' suggestion (rules/responder.py); the record
signs the decision and plans the follow-up trial in one transaction, refuses a decision unless
the trial is assessed, checks the 24 h interval, the dose ceiling and that the dose fits the
outcome. The password is asked again before the signature.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import streamlit as st

from observations.errors import RecordError
from observations.exports.snapshot import (
    evaluation_of,
    take_snapshot,
)
from observations.free_text import max_chars
from observations.limits import dose_limits
from observations.record import TrialRecord
from observations.store import Actor, Reauthentication, may
from observations.views import DecisionView, TrialView
from observations.ward_time import format_ward, to_ward, ward_time_to_utc
from rules.evaluation import TrialDayEvaluation
from rules.responder import (
    FOLLOW_UP_OUTCOMES,
    ResponderConfig,
    follow_up_suggestion,
    load_responder_config,
)
from screens.markdown_text import md
from screens.safety_view import show_safety
from screens.shared import (
    INTENDED_USE,
    choose_trial,
    show_problem,
)
from vocabulary import DECISION_OUTCOME_LABELS, DecisionOutcome, TrialStatus


def confirm_with_hospital_sign_in(record: TrialRecord, actor: Actor) -> Reauthentication:
    """The identity provider's word that this person signed in just now: its issuer and
    subject, and when it authenticated them (auth_time, else the token's issue time)."""
    claims = st.user if getattr(st.user, "is_logged_in", False) else {}
    stamp = claims.get("auth_time") or claims.get("iat")
    if not stamp:
        raise RecordError("Confirm with the hospital account first: nothing was signed.")
    return record.users.confirm_external(
        actor,
        str(claims.get("iss") or ""),
        str(claims.get("sub") or ""),
        datetime.fromtimestamp(float(stamp), UTC),
        "decision",
    )


FLASH_KEY = "decision_message"


def up_to_minute(moment: datetime) -> datetime:
    """Times are entered to the minute: round a suggested earliest time up, never down."""
    whole = moment.replace(second=0, microsecond=0)
    return whole if whole == moment else whole + timedelta(minutes=1)


def show_decision(
    record: TrialRecord, trial: TrialView, decision: DecisionView | None, zone: ZoneInfo
) -> None:
    if decision is None:
        st.error("This trial is marked decided but no decision is in the record.")
        return
    signer = record.users.by_id(decision.signed_by)
    st.subheader("Decision")
    st.write(f"**{DECISION_OUTCOME_LABELS[DecisionOutcome(decision.outcome)]}**")
    st.text(
        f"Signed by {signer.display_name} ({signer.username}) at "
        f"{format_ward(decision.signed_at, zone)}"
    )
    st.text(f"Rationale: {decision.rationale}")  # the team's words, shown as text
    if decision.next_dose_mcg is not None:
        st.write(
            f"Next trial: {decision.next_dose_mcg} mcg, not before "
            f"{format_ward(decision.next_not_before, zone)}"
        )
    follow_ups = [
        t for t in record.trials.list(patient_id=trial.patient.id) if t.follows_trial_id == trial.id
    ]
    for planned in follow_ups:
        st.write(
            f"Follow-up trial {planned.id} planned at {planned.planned_dose_mcg} mcg "
            f"({planned.status})."
        )


def show_evaluation(evaluation: TrialDayEvaluation, zone: ZoneInfo) -> None:
    """The same evaluation as the Review page and the report: the suggested next step (never a
    higher dose after signs of overdose), the hint it rests on, and the day's safety."""
    step = evaluation.next_step
    when = f" Not before {format_ward(step.not_before, zone)}." if step.not_before else ""
    text = (
        f"Suggestion ({step.label}, not a decision): {step.text}{when} "
        f"Source: {' '.join(step.source.split())}"
    )
    if evaluation.signs:
        st.error(md(text), icon=":material/warning:")
    else:
        st.info(md(text))
    st.info(md(evaluation.hint_text))
    st.subheader("Safety on the trial day")
    show_safety(evaluation, zone, "conditions_decision", "Every event is on the Review page.")


@dataclass(frozen=True)
class FollowUp:
    """What the doctor entered for the next trial (the outcomes that plan one)."""

    dose_mcg: int | None
    not_before_day: date | None
    not_before_time: time | None
    plan_now: bool
    blocked: bool  # the outcome cannot be signed as it stands (its reason is on screen)


def render(record: TrialRecord, actor: Actor) -> None:
    """The suggestion, the day's safety, and (for a doctor) the signed decision."""
    zone = record.settings.ward_timezone
    config = load_responder_config()

    st.title("Responder decision")
    st.caption(INTENDED_USE)
    st.caption("The decision is the team's, signed by a doctor. The software only suggests.")
    message = st.session_state.pop(FLASH_KEY, None)
    if message:
        st.success(message)

    statuses = {TrialStatus.MONITORING, TrialStatus.ASSESSED, TrialStatus.DECIDED}
    trial = choose_trial(record.trials.list(statuses=statuses), "decision_trial")
    if trial is None:
        st.info("Choose the trial. Trials in monitoring, assessed or decided are listed.")
        return

    injection = trial.injection
    if injection is not None:
        st.write(
            f"Dose given: {injection.dose_mcg} mcg at {format_ward(injection.given_at, zone)}"
            f" · stage: {trial.status}"
        )

    if trial.status == TrialStatus.DECIDED.value:
        show_decision(record, trial, record.decisions.for_trial(trial.id), zone)
        return
    if trial.status == TrialStatus.MONITORING.value:
        still_monitoring(record, actor, trial, zone)
        return

    evaluation = evaluation_of(take_snapshot(record, trial.id), config)
    show_evaluation(evaluation, zone)
    st.caption("Review the scores, vital signs and every alarm on the Review page first.")

    if not may(actor, "decision.sign"):
        st.info("Only a doctor signs the decision.")
        return

    outcome = st.radio(
        "Outcome",
        list(DecisionOutcome),
        format_func=DECISION_OUTCOME_LABELS.get,
        index=None,
        key=f"outcome_{trial.id}",
    )
    rationale = st.text_area(
        "Rationale (the team's reasons)", key=f"rationale_{trial.id}", max_chars=max_chars("note")
    )
    follow_up = (
        follow_up_form(trial, outcome, evaluation, config, zone)
        if outcome in FOLLOW_UP_OUTCOMES
        else None
    )
    blocked = outcome is None or (follow_up is not None and follow_up.blocked)
    sign_form(record, actor, trial, outcome, rationale, follow_up, blocked, zone)


def still_monitoring(record: TrialRecord, actor: Actor, trial: TrialView, zone: ZoneInfo) -> None:
    """A trial still in monitoring: no decision yet; whoever may closes the window here."""
    st.warning(
        "This trial is still in monitoring: the monitoring window must be closed first (Trial "
        "set-up page) before the decision is signed. Window ends "
        f"{format_ward(trial.window_end, zone)}."
    )
    if not may(actor, "trial.status"):
        return
    unacknowledged = [a for a in record.alarms.active(trial.id) if not a.acknowledged]
    if unacknowledged:
        st.error(
            f"{len(unacknowledged)} alarm(s) not acknowledged: the window cannot be "
            "closed until every alarm is acknowledged."
        )
    if st.button(
        "Mark assessed (monitoring finished)",
        disabled=bool(unacknowledged),
        key=f"mark_assessed_{trial.id}",
    ):
        try:
            record.trials.set_status(actor, trial.id, TrialStatus.ASSESSED)
        except RecordError as error:
            show_problem(error)
        else:
            st.session_state[FLASH_KEY] = "The trial is marked assessed."
            st.rerun()


def follow_up_form(
    trial: TrialView,
    outcome: DecisionOutcome,
    evaluation: TrialDayEvaluation,
    config: ResponderConfig,
    zone: ZoneInfo,
) -> FollowUp:
    """The next trial's dose and earliest time, defaulting to the outcome's own suggestion
    (+25 mcg for a re-trial, the same dose when inconclusive)."""
    injection = trial.injection
    blocked = False
    planned = (
        follow_up_suggestion(outcome, injection.dose_mcg, injection.given_at, config, dose_limits())
        if injection is not None
        else None
    )
    default_dose = planned.dose_mcg if planned else None
    if planned is not None and planned.dose_mcg is None:
        st.error(f"{planned.explanation} Choose another outcome.")
        blocked = True
    if outcome is DecisionOutcome.RETRIAL_HIGHER and evaluation.signs:
        # Never offer a higher dose after signs of overdose: the doctor types it, knowingly.
        default_dose = None
        st.warning(
            "Signs of overdose were seen on this day ("
            + "; ".join(evaluation.signs)
            + "): no higher dose is suggested. If the team decides on one, enter it.",
            icon=":material/warning:",
        )
    st.subheader("Next trial")
    keys = f"{trial.id}_{outcome.value}"  # defaults follow the chosen outcome
    dose = st.number_input(
        "Next trial dose (mcg)",
        value=int(default_dose) if default_dose else None,
        step=5,
        key=f"next_dose_{keys}",
    )
    earliest = (
        up_to_minute(to_ward(planned.not_before, zone)) if planned and planned.not_before else None
    )
    day, clock = st.columns(2)
    not_before_day = day.date_input(
        "Not before (date)",
        value=earliest.date() if earliest else None,
        key=f"not_before_day_{keys}",
    )
    not_before_time = clock.time_input(
        "Not before (ward time)",
        value=earliest.time() if earliest else None,
        step=60,
        key=f"not_before_time_{keys}",
    )
    plan_now = st.checkbox(
        "Plan the follow-up trial now (same patient, linked to this trial)",
        value=True,
        key=f"plan_now_{keys}",
    )
    if trial.spo2_scale == 2:
        st.caption("The follow-up trial keeps SpO2 scale 2 and its recorded reason.")
    return FollowUp(
        int(dose) if dose is not None else None, not_before_day, not_before_time, plan_now, blocked
    )


def sign_form(
    record: TrialRecord,
    actor: Actor,
    trial: TrialView,
    outcome: DecisionOutcome | None,
    rationale: str,
    follow_up: FollowUp | None,
    blocked: bool,
    zone: ZoneInfo,
) -> None:
    """The signer's identity confirmed afresh (password, or the hospital account) and the
    signature: the record signs the decision and plans the follow-up in one transaction."""
    with_password = record.users.signs_with_password(actor)
    password = ""
    if with_password:
        password = st.text_input(
            "Your password, to sign", type="password", key=f"sign_password_{trial.id}"
        )
    else:
        st.caption(
            "You signed in with your hospital account: signing asks it to confirm you "
            "afresh (a hospital sign-in within the last two minutes)."
        )
        st.button(
            "Confirm with the hospital account", on_click=st.login, key=f"sso_confirm_{trial.id}"
        )
    if not st.button("Sign decision", type="primary", disabled=blocked, key=f"sign_{trial.id}"):
        return
    assert outcome is not None
    try:
        next_not_before: datetime | None = None
        if follow_up is not None:
            if follow_up.not_before_day is None or follow_up.not_before_time is None:
                raise RecordError("Enter the earliest date and time for the next trial.")
            next_not_before = ward_time_to_utc(
                datetime.combine(follow_up.not_before_day, follow_up.not_before_time), zone
            )
        proof = (
            record.users.confirm_password(actor, password, "decision")
            if with_password
            else confirm_with_hospital_sign_in(record, actor)
        )
        signed = record.decisions.sign(
            actor,
            trial.id,
            outcome,
            rationale,
            reauthentication=proof,
            next_dose_mcg=follow_up.dose_mcg if follow_up is not None else None,
            next_not_before=next_not_before,
            plan_follow_up=follow_up is not None and follow_up.plan_now,
        )
    except RecordError as error:
        show_problem(error)
    else:
        done = f"Decision signed: {DECISION_OUTCOME_LABELS[outcome]}."
        if signed.follow_up is not None:
            done += (
                f" Follow-up trial {signed.follow_up.id} planned at "
                f"{signed.follow_up.planned_dose_mcg} mcg."
            )
        st.session_state[FLASH_KEY] = done
        st.rerun()
