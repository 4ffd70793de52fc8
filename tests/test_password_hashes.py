"""Password hashes: Argon2id for every new hash; a bcrypt hash from before still signs its owner in once and is
then replaced by an Argon2id hash of today's parameters (the password is known only at that moment)."""
from __future__ import annotations

import bcrypt
from sqlmodel import select

from dashboard import passwords
from dashboard.services import auth as auth_service
from dashboard.services.unit_of_work import unit_of_work
from db.engine import read_session
from db.models import User
from tests.factories import PASSWORD


def _stored_hash(engine, username: str) -> str:
    with read_session(engine) as session:
        return session.exec(select(User).where(User.username == username)).one().password_hash


def _give_bcrypt_hash(engine, username: str, password: str) -> str:
    legacy = bcrypt.hashpw(password.encode("utf-8"), bcrypt.gensalt(4)).decode("ascii")
    with unit_of_work(engine) as session:
        session.exec(select(User).where(User.username == username)).one().password_hash = legacy
    return legacy


def _sign_in(engine, username: str, password: str):
    with unit_of_work(engine) as session:
        return auth_service.sign_in(session, username, password, "10.0.0.7")


def test_new_hashes_are_argon2id_of_the_configured_cost(monkeypatch):
    monkeypatch.setattr(passwords, "COST", passwords.OWASP_COST)
    stored = passwords.hash_password("long-enough-pass")
    assert stored.startswith("$argon2id$v=19$m=7168,t=5,p=1$")
    assert passwords.verify_password("long-enough-pass", stored)
    assert not passwords.verify_password("long-enough-pasS", stored)
    assert not passwords.needs_rehash(stored)
    monkeypatch.setattr(passwords, "COST", passwords.TEST_COST)
    assert passwords.needs_rehash(stored)  # other parameters than today's
    assert passwords.verify_password("long-enough-pass", stored)  # still checked by the parameters it carries


def test_a_broken_or_foreign_hash_never_signs_in():
    for stored in ("", "plain-text", "$argon2id$v=19$m=8,t=1,p=1$broken", "$2b$04$short"):
        assert not passwords.verify_password("anything-at-all", stored)
        assert passwords.needs_rehash(stored)


def test_a_bcrypt_hash_signs_in_once_and_is_replaced_by_argon2id(engine, world):
    legacy = _give_bcrypt_hash(engine, "leader", PASSWORD)
    assert passwords.verify_password(PASSWORD, legacy) and passwords.needs_rehash(legacy)

    assert not _sign_in(engine, "leader", "wrong-password-1").ok
    assert _stored_hash(engine, "leader") == legacy  # a wrong password changes nothing

    assert _sign_in(engine, "leader", PASSWORD).ok
    upgraded = _stored_hash(engine, "leader")
    assert upgraded.startswith("$argon2id$") and not passwords.needs_rehash(upgraded)
    assert _sign_in(engine, "leader", PASSWORD).ok
    assert _stored_hash(engine, "leader") == upgraded  # hashed once, not at every sign-in
    assert not _sign_in(engine, "leader", "wrong-password-1").ok


def test_hashing_runs_in_one_thread_of_its_own(monkeypatch):
    """Argon2's working memory is taken in one thread, so glibc keeps it in one arena, not in one per session."""
    import threading

    seen: set[str] = set()
    real = passwords._hasher

    def watched(cost):
        hasher = real(cost)

        class Watched:
            def hash(self, password):
                seen.add(threading.current_thread().name)
                return hasher.hash(password)

            def verify(self, stored, password):
                seen.add(threading.current_thread().name)
                return hasher.verify(stored, password)

        return Watched()

    monkeypatch.setattr(passwords, "_hasher", watched)
    workers = [threading.Thread(target=lambda: passwords.verify_password("x" * 12, passwords.hash_password("x" * 12)))
               for _ in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert len(seen) == 1 and next(iter(seen)).startswith("password-hash")
