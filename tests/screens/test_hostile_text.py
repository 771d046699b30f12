"""Text typed by people (and named by devices) shows as typed on every page: never as a link, an
image, HTML, a heading, a colour, LaTeX or an icon.

The helpers (screens/markdown_text.py) first, on every construct of Streamlit's Markdown; then a
record seeded with hostile names, MRN, beds, "given by", device labels, alarm text and evidence,
notes, reasons, goals and a display name, and every page opened through the app's front door
(dashboard.py) by a role that may see it. Each Markdown-rendering text of the page (bodies,
labels, radio options) must hold the hostile text only in its escaped form, with nothing of it
live; each st.html body only escaped; each Plotly text without tags. The browser side (what
chromium makes of it) is tests/browser/test_hostile_text.py.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from observations.alarms import AlarmEventIn
from observations.entries import ReadingIn
from observations.errors import InvalidEntry
from observations.record import TrialRecord
from observations.settings import load_settings
from screens.markdown_text import MISSING, WORD_JOINER, html_text, md
from tests.accounts import GROUPS, TEST_ISSUER
from tests.browser.seed import DEVICE, make_people
from tests.screens.apps import open_at
from vocabulary import AlarmEventType, AlarmKind, InjectionRoute, Parameter, Priority, TrialStatus

ROOT = Path(__file__).resolve().parents[2]

# ----- hostile text, within the record's own limits (observations/limits.yaml `text`) ---------
GIVEN = "[Evil](http://evil.example) <img src=x onerror=alert(1)> ![i](http://evil.example/i.png)"
FAMILY = "# Evil :red[x] $x$ :material/warning: :smile: <b>evil</b>"  # shown upper-cased
MRN = "<b>EV1</b>"
BED_A = "[D1](//e.io)"  # 12 characters: the longest bed the record takes
BED_B = "<b>D2</b>"
GIVEN_BY = "[Dr Evil](http://evil.example/d) $\\alpha$ :material/skull: www.evil.io"
DEVICE_LABEL = "![dev](http://evil.example/d.png) :streamlit: x@evil.io"
DOCTOR_NAME = "<img src=x onerror=alert(4)> [Dr](http://evil.example/u)"
MESSAGE = "Evil alarm: [x](http://evil.example/m) <img src=x onerror=alert(3)>"
EVIDENCE = "[ev](http://evil.example/e) $e$ <b>e</b> :material/skull:"
NOTE = (
    "[note](http://evil.example/n)\n# heading\n<script>alert(5)</script>\n:red[red] $m$\n"
    "- item\n> quote\n    code\n| a | b |\n|---|---|\n:+1: -> <- --"
)
GOAL = "[goal](http://evil.example/g) <b>walk</b> :smile: $g$"
RECALL = "$r$ [r](http://evil.example/r)"
# A reason as long as a note may be (4000), on many lines: typed for scores taken out of time.
LONG_REASON = (NOTE + "\n") * 30
LONG_REASON = LONG_REASON[:4000].strip()
# How each is shown: the family name upper-cased, the MRN upper-cased.
SHOWN = [
    GIVEN,
    FAMILY.upper(),
    MRN.upper(),
    BED_A,
    BED_B,
    GIVEN_BY,
    DEVICE_LABEL,
    DOCTOR_NAME,
    MESSAGE,
    EVIDENCE,
    GOAL,
    RECALL,
    *NOTE.split("\n"),
]


# ----- the helpers ----------------------------------------------------------------------------
def reader(markdown: str) -> str:
    """What a reader sees of Markdown made by ``md``: the escapes and word joiners removed,
    hard line breaks as line breaks."""
    plain = re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", markdown.replace("  \n", "\n"))
    return plain.replace(WORD_JOINER, "")


def escaped(text: str, i: int) -> bool:
    """Whether the character at ``i`` is backslash-escaped (an odd run of backslashes)."""
    run = 0
    while i - run - 1 >= 0 and text[i - run - 1] == "\\":
        run += 1
    return run % 2 == 1


def live_markup(body: str) -> list[str]:
    """What in ``body`` Streamlit would render as markup from text that is not the app's own:
    raw HTML, LaTeX, link or image syntax, headings and quotes, a directive around hostile
    words, and the patterns replaced after parsing (bare addresses, shortcodes)."""
    found = []
    for m in re.finditer(r"<[A-Za-z/!?]|\$|\](?=[(\[:])", body):
        if not escaped(body, m.start()):
            found.append(f"unescaped {m.group()!r} at {m.start()}")
    for m in re.finditer(r"(?m)^[ \t]*([#>])", body):
        if not escaped(body, m.start(1)):
            found.append(f"line starting with {m.group(1)!r}")
    for m in re.finditer(r":[a-z][a-z0-9-]*\[([^\]]*)", body, re.IGNORECASE):
        if not escaped(body, m.start()) and re.search("evil|red|x", m.group(1), re.I):
            found.append(f"directive {m.group()!r}")
    shown = body.replace("\\", "")  # the text after parsing, word joiners kept
    for pattern in (
        r"https?://",
        r"(?i)\bwww\.",
        r"\w@\w",
        r":(?:smile|streamlit|\+1|100):",
        r"(?i):material/skull:",
        r"(?<!\S)(?:->|<-|--)(?!\S)",
    ):
        found += [f"replaced after parsing: {m.group()!r}" for m in re.finditer(pattern, shown)]
    return found


CONSTRUCTS = {
    "link": "[Evil](http://evil.example)",
    "image": "![i](http://evil.example/i.png)",
    "reference": "[Evil][r]\n\n[r]: http://evil.example/r",
    "autolink": "<http://evil.example/a>",
    "bare address": "see http://evil.example/b or www.evil.example or mail@evil.example",
    "html": "<img src=x onerror=alert(1)> <b>bold</b> <!-- c -->",
    "heading": "# Heading",
    "setext heading": "Text\n===",
    "list and quote": "- item\n1. item\n> quote",
    "code": "    indented\n`code` ```fence```",
    "table": "| a | b |\n|---|---|\n| 1 | 2 |",
    "emphasis": "**strong** _em_ ~~del~~",
    "directive": ":red[x] :red-background[y] :small[z] :help[w]",
    "latex": "$x^2$ and $$y$$",
    "icon": ":material/warning: :material/skull:",
    "emoji": ":smile: :+1: :-1: :100: :streamlit:",
    "arrows": "a -> b <- c <-> d -- e >= f <= g ~= h",
    "entities": "&amp; &lt;b&gt; &#60;",
    "footnote": "x[^1]\n\n[^1]: evil",
    "backslashes": "\\[x\\] ends with \\",
}


@pytest.mark.parametrize("name", list(CONSTRUCTS))
def test_md_leaves_nothing_live_and_reads_as_typed(name: str):
    text = CONSTRUCTS[name]
    out = md(text)
    assert live_markup(out) == [], out
    lines = [line.strip() for line in text.split("\n") if line.strip()]
    assert reader(out) == "\n".join(lines)  # every character as typed, line by line


def test_md_missing_controls_long_text_and_right_to_left():
    assert md(None) == MISSING and html_text(None) == MISSING
    assert md("") == "" and md("4B") == "4B" and md("Bed D7") == "Bed D7"
    # An override would reverse what follows it (the NHS number, the bed): dropped. The
    # right-to-left letters themselves stay.
    assert md("\u202eAb\u2066CD\u2069 \u05e9\u05dc\u05d5\u05dd") == "AbCD \u05e9\u05dc\u05d5\u05dd"
    assert html_text("x\u202ey\x00z\x1b") == "xyz"
    # Ten thousand characters: all of them kept, in one paragraph, in linear time.
    long = ("[a](http://evil.example) <b>b</b> $c$ :smile: " * 250)[:10_000]
    out = md(long)
    assert reader(out) == long.strip() and live_markup(out) == []
    # Lines stay lines, never a new paragraph, list or code block.
    assert md("one\n\n    two\r\n- three") == "one  \ntwo  \n\\- three"


def test_html_text_is_inert_in_html_and_in_plotly():
    assert html_text("<img src=x onerror=alert(1)>") == "&lt;img src=x onerror=alert(1)&gt;"
    # Quotes as numeric references: an attribute cannot be closed, and Plotly (which knows
    # few named references) shows them as quotes.
    assert html_text('O\'Neil "x" & y') == "O&#x27;Neil &#x22;x&#x22; &amp; y"


# ----- every page, with a record full of hostile text -----------------------------------------
def nhs(stem: str) -> str:
    """A valid NHS number from nine digits (Modulus 11), starting 999 (a test number)."""
    total = sum(int(d) * (10 - i) for i, d in enumerate(stem))
    check = 11 - total % 11
    check = 0 if check == 11 else check
    assert check != 10, stem
    return stem + str(check)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    with pytest.MonkeyPatch.context() as patch:
        data = tmp_path_factory.mktemp("hostile") / "data"
        patch.setenv("ITBMON_DATA_DIR", str(data))
        patch.delenv("ITBMON_DATABASE_URL", raising=False)
        patch.setenv("ITBMON_EMBEDDED_MONITOR", "0")  # the test writes what a monitor would
        from screens.shared import get_record

        get_record.clear()
        record = TrialRecord.open(load_settings())
        try:
            yield seed_hostile(record)
        finally:
            record.close()
            get_record.clear()


def seed_hostile(record: TrialRecord) -> dict[str, Any]:
    """Two trials: A in monitoring (an alarm waiting, one acknowledged, a device, a set with a
    note), B assessed (scale 2 with its reason, scores with goals and a late 4-hour set with
    its reason); every text typed by a person hostile."""
    people = make_people(record)
    doctor = record.users.sign_in_external(
        TEST_ISSUER, "dr.evil", DOCTOR_NAME, ["itb-doctor"], GROUPS
    )
    now = record.store.now()
    service = record.users.service_actor()
    details = {
        "hospital_number": MRN,
        "family_name": FAMILY,
        "given_name": GIVEN,
        "date_of_birth": "1980-01-01",
    }
    patient_a = record.patients.register(people.cns, {**details, "nhs_number": nhs("999000001")})
    patient_b = record.patients.register(
        people.cns, {**details, "hospital_number": "H2", "nhs_number": nhs("999000002")}
    )

    a = record.trials.plan(people.cns, patient_a.id, 50, bed=BED_A)
    record.trials.set_status(people.cns, a.id, TrialStatus.BASELINE)
    record.trials.assign_device(people.nurse, a.id, DEVICE, DEVICE_LABEL)
    record.trials.record_injection(
        doctor,
        a.id,
        {
            "dose_mcg": 50,
            "given_at": now - timedelta(minutes=20),
            "route": InjectionRoute.LUMBAR_PUNCTURE,
            "given_by": GIVEN_BY,
        },
    )
    record.services.set_device_state(DEVICE, a.id, "disconnected", NOTE, now)
    record.trials.extend_window(doctor, a.id, 30, NOTE)
    record.readings.add(
        service,
        [
            ReadingIn(
                a.id,
                Parameter.SPO2,
                84.0,
                now - timedelta(seconds=s),
                now - timedelta(seconds=s),
                DEVICE,
            )
            for s in (40, 20, 5)
        ],
    )
    record.observations.record(
        people.nurse,
        a.id,
        {
            "measured_at": now - timedelta(minutes=5),
            "rr": 14,
            "spo2": 95,
            "on_oxygen": False,
            "systolic": 120,
            "diastolic": 70,
            "pulse_rate": 70,
            "consciousness": "A",
            "temp": 36.9,
            "side_effects": ["drowsiness"],
            "note": LONG_REASON,
        },
    )
    raised = [
        AlarmEventIn(
            a.id,
            rule,
            AlarmEventType.RAISED,
            now - timedelta(minutes=minutes),
            Priority.HIGH,
            AlarmKind.PHYSIOLOGICAL,
            MESSAGE,
            {"parameter": "spo2", "source": EVIDENCE, "value": 84},
            "test",
        )
        for rule, minutes in (("pulse_low", 3), ("spo2_low", 1))
    ]
    record.alarms.record_events(service, raised)
    first = next(x for x in record.alarms.active(a.id) if x.rule_id == "pulse_low")
    record.alarms.acknowledge(people.nurse, first.id, NOTE, None)

    b = record.trials.plan(
        people.cns, patient_b.id, 50, bed=BED_B, spo2_scale=2, spo2_scale_reason=NOTE
    )
    given = now - timedelta(hours=5)
    record.assessments.record(
        people.physio,
        b.id,
        {
            "time_point": "baseline",
            "assessed_at": given - timedelta(minutes=30),
            "ashworth": [{"muscle_group": "hip_flexors", "side": "left", "label": "3"}],
            "penn_frequency": 3,
            "penn_recall_period": RECALL,
            "note": NOTE,
            "goals": [{"goal": GOAL, "rating": -1}],
        },
    )
    record.trials.set_status(people.cns, b.id, TrialStatus.BASELINE)
    record.trials.record_injection(
        doctor,
        b.id,
        {
            "dose_mcg": 50,
            "given_at": given,
            "route": InjectionRoute.LUMBAR_PUNCTURE,
            "given_by": GIVEN_BY,
        },
    )
    record.assessments.record(
        people.physio,
        b.id,
        {
            "time_point": "4h",
            "assessed_at": given + timedelta(hours=1),
            "ashworth": [{"muscle_group": "hip_flexors", "side": "left", "label": "1"}],
            "penn_frequency": 1,
            "penn_recall_period": RECALL,
            "note": NOTE,
            "goals": [{"goal": GOAL, "rating": 1}],
            "timing_reason": LONG_REASON,
        },
    )
    record.trials.set_status(doctor, b.id, TrialStatus.ASSESSED)
    record.services.beat("test-monitor", "embedded", "ward-pc", 1)
    return {
        "record": record,
        "people": people,
        "doctor": doctor,
        "a": record.trials.get(a.id),
        "b": record.trials.get(b.id),
    }


def test_the_record_refuses_what_no_page_could_show_safely(world: dict[str, Any]):
    """Ten thousand characters and direction overrides never reach a page: the record refuses
    them (observations/free_text.py); the helpers drop overrides all the same (above)."""
    record, people = world["record"], world["people"]
    for given in ("x" * 10_000, "Ann\u202e"):
        with pytest.raises(InvalidEntry):
            record.patients.register(
                people.cns,
                {
                    "nhs_number": nhs("999000003"),
                    "hospital_number": "H3",
                    "family_name": "Doe",
                    "given_name": given,
                    "date_of_birth": "1980-01-01",
                },
            )


class _Tags(HTMLParser):
    """The tags, attributes and text of an st.html body."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self._open: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in self._open:
            del self._open[len(self._open) - 1 - self._open[::-1].index(tag)]

    def handle_data(self, data: str) -> None:
        self.text.append(data)


APP_TAGS = {
    "style",
    "div",
    "span",
    "b",
    "i",
    "p",
    "img",
    "table",
    "thead",
    "tbody",
    "tr",
    "th",
    "td",
    "caption",
}


def html_problems(body: str) -> list[str]:
    parser = _Tags()
    parser.feed(body)
    found = []
    for tag, attrs in parser.tags:
        if tag not in APP_TAGS:
            found.append(f"<{tag}>")
        found += [f"<{tag} {name}=...>" for name in attrs if name.lower().startswith("on")]
        src = attrs.get("src") or ""
        if tag == "img" and not src.startswith("data:image/svg+xml,"):
            found.append(f"<img src={src!r}>")
    return found


def markdown_texts(at: AppTest) -> list[tuple[str, str]]:
    """Every text of the page that Streamlit renders as Markdown: (where, text)."""
    found: list[tuple[str, str]] = []
    for node in (*at.main, *at.sidebar, *at.toast):  # each block walks its children too
        proto = getattr(node, "proto", None)
        if proto is None:
            continue
        kind = proto.DESCRIPTOR.name
        if kind == "Block":
            which = proto.WhichOneof("type")
            inner = getattr(proto, which) if which else None
            if inner is not None and hasattr(inner, "label") and inner.label:
                found.append((f"{which} label", inner.label))
            continue
        if kind in ("Markdown", "Alert", "Heading", "Toast") and proto.body:
            found.append((kind, proto.body))
        if kind != "Markdown" and hasattr(proto, "label") and proto.label:
            found.append((f"{kind} label", proto.label))
        if kind == "Radio":
            found += [("Radio option", option) for option in proto.options]
    return found


def plotly_strings(at: AppTest) -> Iterator[str]:
    def walk(value: Any) -> Iterator[str]:
        if isinstance(value, str):
            yield value
        elif isinstance(value, dict):
            for item in value.values():
                yield from walk(item)
        elif isinstance(value, list):
            for item in value:
                yield from walk(item)

    for chart in at.get("plotly_chart"):
        yield from walk(json.loads(chart.proto.spec))


def page_problems(at: AppTest) -> tuple[list[str], bool]:
    """What on the page renders user text as markup; and whether any user text is shown."""
    problems: list[str] = []
    seen = False
    for where, text in markdown_texts(at):
        shown = reader(text)
        for hostile in SHOWN:
            if hostile and hostile in shown:
                seen = True
                if md(hostile) not in text:
                    problems.append(f"{where}: {hostile!r} not escaped in {text[:200]!r}")
        problems += [f"{where}: {p} in {text[:200]!r}" for p in live_markup(text)]
    for element in at.get("html"):
        body = element.proto.body
        problems += [f"html: {p}" for p in html_problems(body)]
        parser = _Tags()
        parser.feed(body)
        shown = "".join(parser.text)
        source = re.sub(r"<[^>]*>", "", body)  # the escaped text, the app's own tags taken out
        for hostile in SHOWN:
            if hostile and hostile in shown:
                seen = True
                if html_text(hostile) not in source:
                    problems.append(f"html: {hostile!r} not escaped in {body[:200]!r}")
    for text in plotly_strings(at):
        if re.search(r"<(a|img|b|script)\b", text, re.I):
            problems.append(f"plotly text with a tag: {text[:200]!r}")
    plain = " ".join([str(t.value) for t in at.text] + [d.value.to_csv() for d in at.dataframe])
    return problems, seen or "evil" in plain.lower()


# Every page, by a role that may open it, with the trial it shows (None: the page's own).
# "dr.evil" is a doctor signed in by single sign-on, with a hostile display name (and an
# e-mail-like username, as single sign-on gives).
PAGES = [
    ("screens/ward.py", "nurse", None),
    ("screens/trial_monitor.py", "nurse", "a"),
    ("screens/trial_monitor.py", "doctor", "b"),
    ("screens/observation_entry.py", "nurse", "a"),
    ("screens/trial_setup.py", "doctor", "a"),
    ("screens/scores.py", "physio", "b"),
    ("screens/review.py", "physio", "a"),
    ("screens/review.py", "doctor", "b"),
    ("screens/decision.py", "dr.evil", "b"),
    ("screens/trials.py", "nurse", None),
    ("screens/audit.py", "dr.evil", None),
    ("screens/accounts.py", "admin", None),
    ("screens/alarm_review.py", "doctor", None),
]
CHOOSERS = {
    "screens/trial_monitor.py": "monitor-trial-choice",
    "screens/observation_entry.py": "obs-trial-choice",
    "screens/scores.py": "scores_trial",
    "screens/review.py": "review_trial",
    "screens/decision.py": "decision_trial",
}


@pytest.mark.parametrize(
    ("path", "who", "trial"),
    PAGES,
    ids=[f"{p.split('/')[1][:-3]}-{w}-{t or 'all'}" for p, w, t in PAGES],
)
def test_every_page_shows_hostile_text_as_text(
    world: dict[str, Any], path: str, who: str, trial: str | None
):
    actor = world["doctor"] if who == "dr.evil" else getattr(world["people"], who)
    at = open_at(Path(path).stem, actor, monitor_running=False)
    if path == "screens/trial_setup.py" and trial is not None:
        at.session_state["selected_trial_id"] = world[trial].id
    at.run()
    assert not at.exception, at.exception
    if trial is not None and path in CHOOSERS:
        at.selectbox(key=CHOOSERS[path]).set_value(world[trial].id).run()
        assert not at.exception, at.exception
    for expander in at.expander:  # the bar's beds: their alarms and evidence are drawn inside
        assert expander.label
    problems, seen = page_problems(at)
    assert seen, f"{path} showed none of the hostile text: the test would prove nothing"
    assert not problems, "\n".join(dict.fromkeys(p[:300] for p in problems))


def test_the_acknowledgement_toast_names_the_bed_as_typed(
    world: dict[str, Any], monkeypatch: pytest.MonkeyPatch
):
    """The toast (Markdown) of an acknowledgement. The page reruns at once after it, and
    AppTest keeps no toast across a rerun: what the page asks Streamlit to show is kept."""
    import streamlit

    toasts: list[str] = []
    monkeypatch.setattr(streamlit, "toast", lambda body, **_: toasts.append(str(body)))
    a = world["a"]
    at = open_at("trial_monitor", world["people"].nurse, monitor_running=False).run()
    at.selectbox(key="monitor-trial-choice").set_value(a.id).run()
    at.text_area(key=f"ack-bar-{a.id}-note").input(NOTE)
    at.button(key=f"FormSubmitter:ack-bar-{a.id}-Acknowledge this bed's alarm (1)").click().run()
    assert not at.exception, at.exception
    assert all(alarm.acknowledged for alarm in world["record"].alarms.active(a.id))
    [toast] = toasts
    assert md(f"Bed {BED_A}") in toast and live_markup(toast) == [], toast
