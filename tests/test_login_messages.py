"""What a failed sign-in tells the user: how many attempts are left before the lock, then until when."""
from __future__ import annotations

import pytest

from dashboard.i18n import t
from dashboard.services import auth
from dashboard.services.unit_of_work import unit_of_work
from tests.factories import build_world


@pytest.fixture
def world(engine, frozen_today):
    with unit_of_work(engine) as session:
        return build_world(session)


def test_each_failure_says_how_many_attempts_are_left_then_the_lock(engine, world):
    left = []
    for _ in range(5):
        with unit_of_work(engine) as session:
            state = auth.record_failed_login(session, "jiuzhu")
        left.append(state.attempts_left)
    assert left == [4, 3, 2, 1, None]  # the fifth failure locks the account
    assert state.reason_key == "login.locked" and state.until is not None
    message = t("login.failed_attempts_left", "zh", left=2, minutes=15)
    assert "再输错2次" in message and "锁定15分钟" in message
    assert "2 more failed attempt(s)" in t("login.failed_attempts_left", "en", left=2, minutes=15)


def test_unknown_names_get_no_count(engine, world):
    with unit_of_work(engine) as session:
        assert auth.record_failed_login(session, "nobody") is None
