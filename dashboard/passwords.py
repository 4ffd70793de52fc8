"""Password hashing and the password policy.

New hashes are Argon2id at the parameters of OWASP's Password Storage Cheat Sheet row that needs the least
memory (7 MiB, 5 passes, 1 lane; the sheet's rows are of equal strength and trade memory for passes): about
15 ms of CPU here, against 240 ms for the bcrypt cost-12 check it replaces, so fifty people signing in to a
meeting at once do not queue behind each other's hashing. Argon2id is memory-hard, so a GPU guesses it no
faster than bcrypt at that cost. Older bcrypt hashes are still checked, and are re-hashed at the owner's next
sign-in (``needs_rehash``).

Every Argon2 hash runs in one thread of its own per process: the C library's working memory then comes from
that thread's malloc arena each time, instead of from the arena of whichever session thread signs in, where
glibc keeps it after the free (measured: 32 sessions hashing at once kept 150 MB more resident, one thread
14 MB).
"""
from __future__ import annotations

import functools
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import bcrypt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from dashboard.errors import ValidationFailed

MIN_LENGTH = 10
MIN_SCORE = 2  # zxcvbn's 0–4: below 2 is "too guessable" (common passwords and their variants)


@dataclass(frozen=True)
class Cost:
    passes: int
    memory_kib: int
    lanes: int = 1


OWASP_COST = Cost(passes=5, memory_kib=7 * 1024)  # OWASP Password Storage Cheat Sheet, Argon2id
TEST_COST = Cost(passes=1, memory_kib=8)  # the test suite's: Argon2's smallest, so its fixtures stay fast
COST = OWASP_COST  # the test suite lowers it to TEST_COST


@functools.lru_cache(maxsize=4)
def _hasher(cost: Cost) -> PasswordHasher:
    return PasswordHasher(time_cost=cost.passes, memory_cost=cost.memory_kib, parallelism=cost.lanes)


_HASHING = ThreadPoolExecutor(max_workers=1, thread_name_prefix="password-hash")


def hash_password(password: str) -> str:
    return _HASHING.submit(_hasher(COST).hash, password).result()


def _verify_argon2(password: str, password_hash: str) -> bool:
    try:
        return _hasher(COST).verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def verify_password(password: str, password_hash: str) -> bool:
    if password_hash.startswith("$2"):  # bcrypt, from before Argon2id
        try:
            return bcrypt.checkpw(password.encode("utf-8"), password_hash.encode("ascii"))
        except ValueError:
            return False
    return _HASHING.submit(_verify_argon2, password, password_hash).result()


def needs_rehash(password_hash: str) -> bool:
    """A bcrypt hash, or an Argon2id hash of other parameters than today's: re-hash it at the next sign-in."""
    if not password_hash.startswith("$argon2id$"):
        return True
    try:
        return _hasher(COST).check_needs_rehash(password_hash)
    except InvalidHashError:
        return True


@functools.lru_cache(maxsize=4)
def _dummy_hash(cost: Cost) -> str:
    return _hasher(cost).hash("no account has this password")


def waste_time_like_a_check(password: str) -> None:
    """Check ``password`` against a dummy hash of today's cost, so an unknown or refused account
    answers in the same time as a wrong password for a real one."""
    verify_password(password, _dummy_hash(COST))


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
