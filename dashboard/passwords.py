"""bcrypt password hashing (the hashes streamlit-authenticator checks as well) and the password policy."""
from __future__ import annotations

import functools

import bcrypt

from dashboard.errors import ValidationFailed

MIN_LENGTH = 10
MIN_SCORE = 2  # zxcvbn's 0–4: below 2 is "too guessable" (common passwords and their variants)
ROUNDS = 12  # bcrypt cost; the test suite lowers it to keep tests fast


def hash_password(password: str) -> str:
    return bcrypt.hashpw(password.encode("utf-8"), bcrypt.gensalt(ROUNDS)).decode("ascii")


def verify_password(password: str, password_hash: str) -> bool:
    try:
        return bcrypt.checkpw(password.encode("utf-8"), password_hash.encode("ascii"))
    except ValueError:
        return False


@functools.lru_cache(maxsize=4)
def _dummy_hash(rounds: int) -> str:
    return bcrypt.hashpw(b"no account has this password", bcrypt.gensalt(rounds)).decode("ascii")


def waste_time_like_a_check(password: str) -> None:
    """Check ``password`` against a dummy hash of today's cost, so an unknown or refused account
    answers in the same time as a wrong password for a real one."""
    verify_password(password, _dummy_hash(ROUNDS))


def check_policy(password: str, username: str = "", display_name: str = "") -> None:
    """Length ≥ ``MIN_LENGTH``; not a common password or a variant of one (zxcvbn's lists of the
    most used passwords, names and words, with its l33t, reversal and sequence rules); nothing
    derived from the username or the display name."""
    from zxcvbn import zxcvbn

    password = password or ""
    if len(password) < MIN_LENGTH:
        raise ValidationFailed("error.weak_password", min=MIN_LENGTH)
    personal = [value.strip().lower() for value in (username, display_name) if value and value.strip()]
    lowered = password.lower()
    if any(value in lowered or lowered in value for value in personal if len(value) >= 3):
        raise ValidationFailed("error.password_like_username")
    result = zxcvbn(password[:100], user_inputs=personal)
    if any(match.get("dictionary_name") == "user_inputs" for match in result["sequence"]):
        raise ValidationFailed("error.password_like_username")
    if result["score"] < MIN_SCORE:
        raise ValidationFailed("error.password_common")
