"""bcrypt password hashing (the hashes streamlit-authenticator checks as well)."""
from __future__ import annotations

import bcrypt

MIN_LENGTH = 8
ROUNDS = 12  # bcrypt cost; the test suite lowers it to keep tests fast


def hash_password(password: str) -> str:
    return bcrypt.hashpw(password.encode("utf-8"), bcrypt.gensalt(ROUNDS)).decode("ascii")


def verify_password(password: str, password_hash: str) -> bool:
    try:
        return bcrypt.checkpw(password.encode("utf-8"), password_hash.encode("ascii"))
    except ValueError:
        return False
