"""The sign-in throttle is kept in the database: every replica counts the same failures, a restart forgets
none, and an office behind one address is not locked out by one machine in it guessing."""
from __future__ import annotations

from sqlmodel import func, select

from dashboard.services import auth as auth_service
from dashboard.services.unit_of_work import unit_of_work
from db.engine import make_engine, read_session
from db.models import SignInFailure
from tests.factories import PASSWORD

OFFICE = "198.51.100.7"  # a county bureau's one outgoing address


def sign_in(engine, username, password, client=OFFICE):
    with unit_of_work(engine) as session:
        return auth_service.sign_in(session, username, password, client)


def test_failures_on_one_replica_throttle_the_same_name_on_another(engine, world, database_url):
    url, schema = database_url
    other_replica = make_engine(url, schema=schema)  # another process: its own engine, nothing shared but the database
    try:
        for _ in range(3):
            assert sign_in(engine, "jiuzhu", "wrong-password-1").message_key == "login.failed"
        for _ in range(2):
            assert sign_in(other_replica, "jiuzhu", "wrong-password-1").message_key == "login.failed"
        assert sign_in(engine, "jiuzhu", PASSWORD).message_key == "login.throttled"
        assert sign_in(other_replica, "jiuzhu", PASSWORD).message_key == "login.throttled"
    finally:
        other_replica.dispose()
    with read_session(engine) as session:
        assert session.exec(select(func.count()).select_from(SignInFailure)).one() == 5


def test_one_machine_guessing_does_not_lock_the_office_out(engine, world):
    for _ in range(5):  # one machine guesses the inspector's password: that name, from that address, pauses
        sign_in(engine, "inspector", "guess-guess-1")
    assert sign_in(engine, "inspector", PASSWORD).message_key == "login.throttled"
    assert sign_in(engine, "jiuzhu", PASSWORD).ok  # … a colleague at the next desk signs in
    for index in range(auth_service.UNKNOWN_NAMES_FACTOR * 5):  # it then tries fifty names that are no account
        assert sign_in(engine, f"name{index}", "guess-guess-1").message_key == "login.failed"
    assert sign_in(engine, "name-51", "guess-guess-1").message_key == "login.throttled"  # names: paused
    assert sign_in(engine, "leader", PASSWORD).ok  # real accounts from the office: never
    assert sign_in(engine, "name-52", "guess", client="203.0.113.1").message_key == "login.failed"  # elsewhere: counted apart


def test_the_owner_hears_of_failures_after_a_restart(engine, world, database_url):
    for _ in range(2):
        sign_in(engine, "leader", "wrong-password-1", client="203.0.113.9")
    url, schema = database_url
    restarted = make_engine(url, schema=schema)  # nothing of the first process survives but the database
    try:
        signed = sign_in(restarted, "leader", PASSWORD)
    finally:
        restarted.dispose()
    assert signed.ok and signed.failed_attempts == 2 and signed.last_failed_at is not None
