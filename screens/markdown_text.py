"""Text from people and devices shown by Streamlit exactly as typed: one helper per output kind.

Names, NHS and hospital numbers, beds, "given by", goals, notes, reasons, usernames and display
names, device labels (a Bluetooth device names itself) and alarm evidence are data, never
markup. Which helper, by where the text goes:

- ``md(text)``: every element that renders Markdown: st.markdown (with or without
  ``unsafe_allow_html``), st.write of a string, st.caption, st.title/header/subheader,
  st.info/success/warning/error, st.toast, and the labels of st.expander, st.popover, st.tabs,
  st.page_link, st.button, st.checkbox and st.metric, and the options of st.radio.
- ``html_text(text)``: st.html (the bed tiles, the alarm bar's lines, the NEWS2 chart), and
  Plotly's text (hover text, annotations), which reads a few tags (<a href>, <b>, <br>) and
  character references. Never in Markdown, even with ``unsafe_allow_html``: Markdown is still
  parsed around the HTML, so links, images and LaTeX would still be live; use ``md`` there.
- Nothing: plain-text elements show text as it is (st.text, st.code, st.dataframe and
  st.data_editor cells, st.selectbox and st.multiselect options, widget values and
  placeholders); an escape there would show as a backslash.

Streamlit's Markdown (1.67) is CommonMark with GitHub's extensions (links, images, tables,
strikethrough, footnotes, and bare URLs, www. addresses and e-mail addresses made into links),
raw HTML when allowed, directives (``:red[...]``, ``:small[...]``, ``:help[...]``), LaTeX
(``$...$``), and replacements made in the text after parsing: emoji shortcodes (``:smile:``),
``:material/name:`` icons, ``:streamlit:``, arrows and dashes (``->``, ``<-``, ``<->``, ``--``,
``>=``, ``<=``, ``~=``), and the bare-address links. A backslash before every ASCII punctuation
mark (CommonMark's escape, shown as the mark itself) stops everything parsed from the source; the
replacements made after parsing see the text with its escapes removed, and are broken by an
invisible WORD JOINER (U+2060) inside the pattern (after the colon of ``:smile:`` and ``http:``,
after ``www`` and ``@``, between the two marks of an arrow). Checked in chromium, element by
element, by tests/browser/test_hostile_text.py.

Both helpers drop the invisible bidirectional controls (U+202A-U+202E, U+2066-U+2069): a
right-to-left override in a name would otherwise reverse what follows it on the line (the NHS
number, the bed, the alarm). Letters of right-to-left scripts are kept and shown in their own
direction. Other control characters are dropped too; a missing value is the missing mark.
"""

from __future__ import annotations

import html
import re

MISSING = "—"
WORD_JOINER = "\u2060"  # zero width, no line break: invisible, and never a word character

# Explicit embeddings, overrides and isolates (Unicode Bidirectional Algorithm, UAX #9 2.1-2.4).
_BIDI_CONTROLS = re.compile("[\u202a-\u202e\u2066-\u2069]")
# C0 and C1 controls except tab and newline (turned into a space and a line break).
_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")
# Every ASCII punctuation character: CommonMark lets each be backslash-escaped, and shows it.
_PUNCTUATION = re.compile(r"([!-/:-@\[-`{-~])")
# The replacements Streamlit makes in the text after parsing, found in the escaped text (each
# mark preceded by its backslash): ":name:" (an emoji, :streamlit:, :+1:, :material/name:),
# "http://" and "www." (a bare address made a link), "@" between words (an e-mail address made
# a link), and the arrows and dashes "->", "<-", "<->", "--", ">=", "<=", "~=".
_SHORTCODE = re.compile(r"(\\:)(?=(?:\w|\\[-+_/])+\\:)")
_URL = re.compile(r"(\\:)(?=\\/\\/)")
_WWW = re.compile(r"(?i)(www)(?=\\\.)")
_AT = re.compile(r"(\\@)(?=\w)")
_DIGRAPH = re.compile(r"(\\[-<>~])(?=\\[-<>=])")
_AFTER_PARSING = (_SHORTCODE, _URL, _WWW, _AT, _DIGRAPH)


def _clean(text: object) -> str:
    value = str(text).replace("\r\n", "\n").replace("\r", "\n").replace("\t", " ")
    return _CONTROLS.sub("", _BIDI_CONTROLS.sub("", value))


def md(text: object) -> str:
    """``text`` as Markdown that Streamlit shows literally (``None`` is the missing mark).

    Every ASCII punctuation mark is backslash-escaped; a WORD JOINER breaks the patterns
    Streamlit replaces after parsing (see the module's notes). Lines stay lines (a Markdown
    hard break each), without their leading spaces (four would start a code block) and
    without blank lines between them, so the text never starts a new paragraph, list, quote
    or heading of its own and can sit inside a sentence of the page.
    """
    if text is None:
        return MISSING
    lines = [line.strip() for line in _clean(text).split("\n")]
    escaped = [_PUNCTUATION.sub(r"\\\1", line) for line in lines if line]
    joined = "  \n".join(escaped)  # two spaces at the end of a line: a hard line break
    for pattern in _AFTER_PARSING:
        joined = pattern.sub(rf"\1{WORD_JOINER}", joined)
    return joined


def html_text(text: object) -> str:
    """``text`` as HTML text or an attribute's value (quotes escaped too): for st.html and
    Plotly's text, never for Markdown (``md``). ``None`` is the missing mark."""
    if text is None:
        return MISSING
    # Quotes as numeric references: HTML reads them in text and in attributes alike, and so
    # does Plotly (which knows few named ones: "&quot;" would show as typed).
    escaped = html.escape(_clean(text), quote=False)
    return escaped.replace('"', "&#x22;").replace("'", "&#x27;")
