"""What a new password must be: long enough, not the username, not a common password.

NCSC password guidance and OWASP ASVS 4.0.3 (2.1.1, 2.1.7, 2.1.9): length instead of
composition rules (no "one capital, one digit"), and a deny list of the passwords attackers try
first. The list is observations/common_passwords.txt (its header names the source and licence).
Every account's password goes through ``check_new_password``: the first administrator, accounts
added by an administrator, a reset and a person's own change.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

from observations.errors import InvalidEntry
from observations.limits import load_limits

COMMON_PASSWORDS_FILE = Path(__file__).with_name("common_passwords.txt")
MAX_PASSWORD_LENGTH = 1024  # bounds the hashing work one request can ask for
# A username this short ("jo") turns up inside ordinary words, so only the whole password is
# compared with it; a longer one is refused anywhere inside the password.
MIN_USERNAME_INSIDE = 3
# Attackers try every listed word with digits and punctuation added ("Password123!").
_TRAILING = re.compile(r"[\d\W_]+$")
_ADVICE = "choose three random words"


def _word(password: str) -> str:
    """The password in lower case without the digits and punctuation at its end."""
    return _TRAILING.sub("", password.lower())


@cache  # read once per process: about 40,000 entries
def common_passwords() -> frozenset[str]:
    """Each listed password in lower case, and each as a word without its trailing digits and
    punctuation. Lines starting with "# " are comments (a few listed passwords start with #)."""
    entries: set[str] = set()
    with COMMON_PASSWORDS_FILE.open(encoding="utf-8") as handle:
        for line in handle:
            entry = line.rstrip("\r\n").lower()
            if not entry or entry.startswith("# "):
                continue
            entries.add(entry)
            if word := _word(entry):
                entries.add(word)
    return frozenset(entries)


def is_common(password: str) -> bool:
    listed = common_passwords()
    word = _word(password)
    return password.lower() in listed or (bool(word) and word in listed)


def check_new_password(username: str, password: str) -> None:
    """Refuse a password that is easy to guess; the message tells the person what to do."""
    minimum = load_limits().accounts.min_password_length
    if len(password) < minimum:
        raise InvalidEntry.single(
            "password",
            f"A password needs at least {minimum} characters: three random words are long "
            "enough and easy to remember.",
        )
    if len(password) > MAX_PASSWORD_LENGTH:
        raise InvalidEntry.single(
            "password", f"A password can have at most {MAX_PASSWORD_LENGTH} characters."
        )
    name = username.strip().lower()
    lowered = password.lower()
    if name and (lowered == name or (len(name) >= MIN_USERNAME_INSIDE and name in lowered)):
        raise InvalidEntry.single(
            "password", f"A password must not contain the username: {_ADVICE}."
        )
    if len(set(password)) == 1:
        raise InvalidEntry.single(
            "password",
            f"A password of one character typed again and again is guessed at once: {_ADVICE}.",
        )
    if is_common(password):
        raise InvalidEntry.single(
            "password",
            f"That password is on a list of common passwords attackers try first: {_ADVICE}.",
        )
