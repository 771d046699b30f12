"""New passwords: at least accounts.min_password_length characters, at most 1024, never the
username, never a common password (NCSC password guidance; OWASP ASVS 4.0.3 2.1.1, 2.1.7)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from observations.errors import InvalidEntry
from observations.limits import load_limits
from observations.passwords import (
    COMMON_PASSWORDS_FILE,
    MAX_PASSWORD_LENGTH,
    check_new_password,
    common_passwords,
    is_common,
)

MINIMUM = load_limits().accounts.min_password_length
GOOD = "kettle orbit marigold"  # three random words


def refusal(username: str, password: str) -> str:
    with pytest.raises(InvalidEntry) as caught:
        check_new_password(username, password)
    (problem,) = caught.value.problems
    assert problem.field == "password"
    return problem.message


def test_three_random_words_are_accepted():
    check_new_password("nurse.patel", GOOD)


def test_the_minimum_is_twelve_characters():
    # The common-password list was reduced for passwords of 12 or more characters (its
    # header): a lower minimum needs the whole list back first.
    assert MINIMUM >= 12


def test_one_character_short_is_refused_and_the_minimum_accepted():
    assert f"at least {MINIMUM} characters" in refusal("nurse.patel", GOOD[: MINIMUM - 1])
    check_new_password("nurse.patel", GOOD[:MINIMUM])


def test_longest_accepted_and_one_more_refused():
    longest = ("kettle orbit marigold " * 60)[:MAX_PASSWORD_LENGTH]
    check_new_password("nurse.patel", longest)
    assert "at most 1024" in refusal("nurse.patel", longest + "x")


@pytest.mark.parametrize(
    "password",
    ["dr.jones.ward7", "DR.JONES.WARD7", "my name is Dr.Jones.Ward7 ok"],
    ids=["same", "other-case", "inside"],
)
def test_the_username_is_refused_whole_or_inside(password: str):
    assert "username" in refusal("dr.jones.ward7", password)


def test_a_two_letter_username_inside_ordinary_words_is_no_reason_to_refuse():
    check_new_password("jo", "enjoy the journey home")


def test_one_character_repeated_is_refused():
    assert "three random words" in refusal("nurse.patel", "a" * 16)
    assert "three random words" in refusal("nurse.patel", " " * MINIMUM)


@pytest.mark.parametrize(
    "password",
    ["passwordpassword", "PasswordPassword", "qwertyuiop123", "1q2w3e4r5t6y"],
)
def test_listed_passwords_are_refused_in_any_case(password: str):
    message = refusal("nurse.patel", password)
    assert message == (
        "That password is on a list of common passwords attackers try first: "
        "choose three random words."
    )


@pytest.mark.parametrize(
    "password", ["Password123!", "liverpool2024!!", "Sunshine_1234", "monkey      !1"]
)
def test_a_listed_word_with_digits_or_punctuation_added_is_refused(password: str):
    assert "common passwords" in refusal("nurse.patel", password)


def test_a_listed_word_inside_a_longer_phrase_is_not_refused():
    # Only the whole password (less its trailing digits and punctuation) is compared: three
    # random words may well include a common one.
    assert "monkey" in common_passwords()
    check_new_password("nurse.patel", "monkey kettle orbit")


def test_the_list_names_its_source_and_licence_and_is_read_once():
    header = [
        line
        for line in COMMON_PASSWORDS_FILE.read_text(encoding="utf-8").splitlines()
        if line.startswith("# ")
    ]
    text = " ".join(header)
    assert "National Cyber Security Centre" in text and "Open Government Licence" in text
    listed = common_passwords()
    assert listed is common_passwords()
    assert len(listed) > 30_000
    assert not any(entry.startswith("# ") for entry in listed)  # no header line taken as one
    assert "#1princess" in listed  # a listed password that starts with '#'
    assert is_common("#1Princess!!!!")


usernames = st.from_regex(r"[a-z0-9][a-z0-9._-]{0,15}", fullmatch=True)
texts = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40)


@st.composite
def attempts(draw: st.DrawFn) -> tuple[str, str]:
    """A username and a password, often built around the username or a common password."""
    username = draw(usernames)
    core = draw(
        st.one_of(
            texts,
            st.just(username),
            st.just(username.upper()),
            st.sampled_from(["password", "qwertyuiop", "iloveyou", "kettle orbit marigold"]),
        )
    )
    return username, draw(texts) + core + draw(texts)


@settings(max_examples=300, deadline=None)
@given(attempts())
def test_any_accepted_password_is_long_enough_and_not_the_username(attempt: tuple[str, str]):
    username, password = attempt
    try:
        check_new_password(username, password)
    except InvalidEntry:
        return
    assert MINIMUM <= len(password) <= MAX_PASSWORD_LENGTH
    assert password.lower() != username
    if len(username) >= 3:
        assert username not in password.lower()
    assert not is_common(password)
