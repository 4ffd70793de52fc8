"""A failed sign-in says how many attempts are left before sign-in pauses, the same for any name."""
from __future__ import annotations

from dashboard.i18n import t
from dashboard.services import auth as auth_service
from dashboard.services.unit_of_work import unit_of_work


def sign_in(engine, username, password, client="10.0.0.7"):
    with unit_of_work(engine) as session:
        return auth_service.sign_in(session, username, password, client)


def test_each_failure_counts_down_to_the_pause_alike_for_known_and_unknown_names(engine, world):
    known = [sign_in(engine, "jiuzhu", "wrong-password-1").attempts_left for _ in range(5)]
    unknown = [sign_in(engine, "nobody", "wrong-password-1").attempts_left for _ in range(5)]
    assert known == unknown == [4, 3, 2, 1, 0]
    assert sign_in(engine, "jiuzhu", "wrong-password-1").message_key == "login.throttled"
    assert "再输错2次" in t("login.attempts_left", "zh", left=2, minutes=15)
    assert "2 more failed attempt(s)" in t("login.attempts_left", "en", left=2, minutes=15)
