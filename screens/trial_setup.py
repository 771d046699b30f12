"""Trial set-up: patient, plan, devices, baseline, injection, the monitoring window."""

from __future__ import annotations

from datetime import date, datetime

import streamlit as st

from observations.demo import DEMO_SCENARIOS, create_demo_trial
from observations.errors import RecordError
from observations.free_text import fit_text, max_chars
from observations.record import TrialRecord
from observations.store import Actor, may
from observations.views import TrialView
from observations.ward_time import format_ward, ward_time_to_utc
from screens.markdown_text import md
from screens.nurse_view import SELECTED_TRIAL_KEY, trial_heading, trial_label
from screens.shared import INTENDED_USE, show_problem
from vocabulary import InjectionRoute, TrialStatus

# The stages this page sets up (devices, injection, the window); an assessed trial is done here.
SET_UP_STAGES = {TrialStatus.PLANNED, TrialStatus.BASELINE, TrialStatus.MONITORING}
ROUTES = {InjectionRoute.LUMBAR_PUNCTURE: "Lumbar puncture", InjectionRoute.CATHETER: "Catheter"}


def done(message: str, where: str, warnings: list[str] | None = None) -> None:
    """Say what was done (and any warning) beside the section that did it, after the rerun:
    a message at the top of a long page is missed by the person at its bottom. ``message`` and
    ``warnings`` are Markdown: any text typed by a person in them passes through ``md``."""
    st.session_state["setup-done"] = (where, message, warnings or [])
    st.rerun()


def said(where: str | None) -> None:
    """The message of the action just done in this section, if it was done here (None: any
    message still unsaid, when its section is no longer on the page)."""
    flash = st.session_state.get("setup-done")
    if flash is None or where not in (None, flash[0]):
        return
    del st.session_state["setup-done"]
    _, message, warnings = flash
    st.success(message, icon=":material/check_circle:")
    for warning in warnings:
        st.warning(warning, icon=":material/warning:")


def patient_section(record: TrialRecord, actor: Actor) -> None:
    st.subheader("1 · Patient")
    said("patient")
    text = st.text_input(
        "Find a patient (name, NHS number or hospital number)",
        max_chars=max(max_chars("name"), max_chars("identifier")),  # longer matches no one
    )
    if text.strip():
        found = record.patients.find(text)  # two identifiers shown for each match
        if not found:
            st.info("No patient matches. Check the spelling or register the patient below.")
        for patient in found:
            columns = st.columns([5, 1])
            columns[0].text(patient.identifiers)
            if columns[1].button("Choose", key=f"choose-{patient.id}"):
                st.session_state["setup-patient"] = patient.id
    if not may(actor, "patient.register"):
        return
    with st.expander("Register a new patient"), st.form("register"):
        nhs = st.text_input("NHS number", max_chars=max_chars("identifier"))
        mrn = st.text_input("Hospital number (MRN)", max_chars=max_chars("identifier"))
        family = st.text_input("Family name", max_chars=max_chars("name"))
        given = st.text_input("Given name", max_chars=max_chars("name"))
        born = st.date_input(
            "Date of birth", value=None, min_value=date(1900, 1, 1), format="DD/MM/YYYY"
        )
        if st.form_submit_button("Register patient"):
            try:
                patient = record.patients.register(
                    actor,
                    {
                        "nhs_number": nhs,
                        "hospital_number": mrn,
                        "family_name": family,
                        "given_name": given,
                        "date_of_birth": born,
                    },
                )
            except RecordError as error:
                show_problem(error)
            else:
                st.session_state["setup-patient"] = patient.id
                done(f"Registered {md(patient.identifiers)}.", "patient")


def plan_section(record: TrialRecord, actor: Actor) -> None:
    patient_id = st.session_state.get("setup-patient")
    if patient_id is None or not may(actor, "trial.plan"):
        return
    patient = record.patients.get(patient_id)
    st.subheader("2 · Plan a trial")
    st.text(f"Patient: {patient.identifiers}")
    with st.form("plan"):
        dose = st.number_input("Planned dose (mcg)", value=50, step=25)
        bed = st.text_input("Bed", max_chars=max_chars("bed"))
        scale = st.radio(
            "NEWS2 SpO2 scale",
            [1, 2],
            horizontal=True,
            help="Scale 2 only for confirmed hypercapnic respiratory failure with a "
            "prescribed target of 88-92 %, on a clinician's decision.",
        )
        reason = st.text_area(
            "Reason for scale 2 (the clinician's decision, recorded with your name)",
            max_chars=max_chars("note"),
        )
        if st.form_submit_button("Plan trial"):
            try:
                trial = record.trials.plan(
                    actor,
                    patient_id,
                    int(dose),
                    spo2_scale=int(scale),
                    spo2_scale_reason=reason,
                    bed=bed,
                )
            except RecordError as error:
                show_problem(error)
            else:
                st.session_state[SELECTED_TRIAL_KEY] = trial.id
                done(f"Planned trial {trial.episode}/{trial.trial_number}: {dose} mcg.", "plan")
    said("plan")


def devices_section(record: TrialRecord, actor: Actor, trial: TrialView) -> None:
    st.subheader("Devices")
    said("devices")
    for assignment in record.trials.active_assignments(trial.id):
        columns = st.columns([5, 1])
        columns[0].text(f"{assignment.label} ({assignment.source})")
        if may(actor, "device.assign") and columns[1].button("End", key=f"end-{assignment.id}"):
            try:
                record.trials.end_assignment(actor, assignment.id)
            except RecordError as error:
                show_problem(error)
            else:
                done(f"{md(assignment.label)} no longer streams for this trial.", "devices")
    if not may(actor, "device.assign"):
        return
    options: dict[str, str] = {
        f"sim:{s}?seed={trial.id}": f"Simulator: {s}" for s in DEMO_SCENARIOS
    }
    try:
        from devices.serial_port import list_serial_ports

        for port in list_serial_ports():
            path = port["path"]
            options[f"serial:{path}"] = f"Serial port {path} ({port['description']})"
    except Exception as error:
        st.caption(f"Serial ports cannot be listed here: {md(error)}")
    for found in st.session_state.get("setup-ble", []):
        options[f"ble:{found.address}:{found.protocol}"] = (
            f"Bluetooth {found.name or '?'} {found.address} ({found.protocol}, {found.rssi} dBm)"
        )
    if st.button("Scan for Bluetooth oximeters"):
        import asyncio

        from devices.ble import scan

        try:
            st.session_state["setup-ble"] = asyncio.run(scan(5.0))
        except Exception as error:
            st.warning(f"Bluetooth scan not possible: {md(error)}")
        else:
            st.rerun()
    with st.form("assign"):
        source = st.selectbox("Device", list(options), format_func=lambda s: options[s])
        if st.form_submit_button("Assign device"):
            try:
                # The menu's description (a port's or a sensor's own name) can run past a
                # device name's length: kept cut short rather than refused.
                label = fit_text(options[source], "label")
                record.trials.assign_device(actor, trial.id, source, label)
            except RecordError as error:
                show_problem(error)
            else:
                done(f"{md(options[source])} assigned.", "devices")


def injection_section(record: TrialRecord, actor: Actor, trial: TrialView) -> None:
    zone = record.settings.ward_timezone
    said("baseline")
    if trial.status == TrialStatus.PLANNED.value and may(actor, "trial.status"):
        st.subheader("Baseline")
        if st.button("Start baseline observations"):
            try:
                record.trials.set_status(actor, trial.id, TrialStatus.BASELINE)
            except RecordError as error:
                show_problem(error)
            else:
                done("Baseline started: record baseline observations and scores.", "baseline")
    if trial.injection is not None:
        st.text(
            f"Injection: {trial.injection.dose_mcg} mcg at "
            f"{format_ward(trial.injection.given_at, zone)} by {trial.injection.given_by}"
        )
        said("injection")  # the after-noon or dose warning, beside the injection it concerns
        return
    if not may(actor, "injection.record"):
        st.caption("A doctor records the injection.")
        return
    st.subheader("Injection")
    local = record.store.now().astimezone(zone)
    with st.form("injection"):
        dose = st.number_input("Dose given (mcg)", value=trial.planned_dose_mcg, step=5)
        day = st.date_input("Date (ward)", value=local.date(), format="DD/MM/YYYY")
        clock = st.time_input(
            "Time given (ward clock)", value=local.time().replace(second=0, microsecond=0), step=60
        )
        route = st.selectbox("Route", list(ROUTES), format_func=lambda r: ROUTES[r])
        given_by = st.text_input(
            "Given by (name of the doctor)",
            value=record.users.by_id(actor.user_id).display_name,
            max_chars=max_chars("name"),
        )
        if st.form_submit_button("Record injection"):
            try:
                result = record.trials.record_injection(
                    actor,
                    trial.id,
                    {
                        "dose_mcg": int(dose),
                        "given_at": ward_time_to_utc(datetime.combine(day, clock), zone),
                        "route": route,
                        "given_by": given_by,
                    },
                )
            except RecordError as error:
                show_problem(error)
            else:
                done(
                    "Injection recorded: the trial is in monitoring.", "injection", result.warnings
                )


def window_section(record: TrialRecord, actor: Actor, trial: TrialView) -> None:
    said("window")  # also once the window has closed and the section is gone
    if trial.status != TrialStatus.MONITORING.value:
        return
    zone = record.settings.ward_timezone
    st.subheader("Monitoring window")
    st.write(f"Window ends {format_ward(trial.window_end, zone)}.")
    if may(actor, "trial.extend_window"):
        with st.form("extend"):
            minutes = st.number_input("Extend by (minutes)", value=60, step=15)
            reason = st.text_input("Why", max_chars=max_chars("note"))
            if st.form_submit_button("Extend window"):
                try:
                    record.trials.extend_window(actor, trial.id, int(minutes), reason)
                except RecordError as error:
                    show_problem(error)
                else:
                    done(f"Window extended by {minutes} min.", "window")
    if may(actor, "trial.status"):
        close_window(record, actor, trial)


def close_window(record: TrialRecord, actor: Actor, trial: TrialView) -> None:
    """The close button; while a physiological condition is still present, a doctor gives the
    reason (recorded with their name) and anyone else reads why the window stays open. The
    record checks it all again, and refuses while an alarm is unacknowledged."""
    present = record.alarms.conditions_present(trial.id)
    reason = None
    if present:
        listed = "\n".join(f"- {md(a.headline)}" for a in present)
        if not may(actor, "trial.close_with_conditions"):
            st.warning(
                "The monitoring window stays open while these conditions are still present:"
                f"\n{listed}\n\nIt can be closed once they have ended; a doctor may close it "
                "sooner, recording why."
            )
            st.button("Close the monitoring window", disabled=True)
            return
        st.warning(f"Still present (closing the window now needs your reason):\n{listed}")
        reason = st.text_area(
            "Why close the window while these are present (recorded with your name)",
            key="close-reason",
            max_chars=max_chars("note"),
        )
    if st.button("Close the monitoring window"):
        try:
            record.trials.set_status(actor, trial.id, TrialStatus.ASSESSED, reason=reason)
        except RecordError as error:
            show_problem(error)
        else:
            st.session_state.pop("close-reason", None)
            done("Monitoring window closed.", "window")


DEMO_ACTIONS = (
    "patient.register",
    "trial.plan",
    "trial.status",
    "device.assign",
    "injection.record",
)


def render(record: TrialRecord, actor: Actor) -> None:
    """Patient, plan, then the chosen trial's devices, injection and monitoring window."""
    st.title("Trial set-up")
    st.caption(INTENDED_USE)

    said("demo")
    with st.expander("Start a demo trial (test patient, simulator)"):
        # Written as the person who asks, so the record checks every step and the audit names
        # them: registering, planning, assigning the simulator and recording the injection.
        if all(may(actor, action) for action in DEMO_ACTIONS):
            scenario = st.selectbox(
                "Scenario", DEMO_SCENARIOS, index=DEMO_SCENARIOS.index("overdose")
            )
            if st.button("Start a demo trial"):
                try:
                    demo = create_demo_trial(record, actor, scenario=scenario)
                except RecordError as error:
                    show_problem(error)
                else:
                    st.session_state[SELECTED_TRIAL_KEY] = demo.id
                    done(f"Demo trial started: {md(trial_heading(demo))}.", "demo")
        else:
            st.caption("A doctor starts demo trials (they include recording an injection).")

    patient_section(record, actor)
    plan_section(record, actor)

    trials = record.trials.list(statuses=SET_UP_STAGES)
    if trials:
        st.divider()
        by_id = {t.id: t for t in trials}
        chosen = st.session_state.get(SELECTED_TRIAL_KEY)
        trial_id = st.selectbox(
            "Trial to set up",
            list(by_id),
            index=list(by_id).index(chosen) if chosen in by_id else 0,
            format_func=lambda i: trial_label(by_id[i]),
        )
        st.session_state[SELECTED_TRIAL_KEY] = trial_id
        trial = by_id[trial_id]
        st.text(trial_heading(trial))
        devices_section(record, actor, trial)
        injection_section(record, actor, trial)
        window_section(record, actor, trial)
    # A message whose section has gone (the window closed: the trial left this page's list).
    said(None)
