"""The pages' cached views (``context.cached_view``): keyed by value, bounded, and built once when many sessions
ask for the same missing view at the same moment (a meeting's fifty sign-ins landing on one overview)."""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from dashboard.ui.context import _ViewCache


@dataclass
class Filter:
    statuses: list[str] = field(default_factory=list)


def test_many_sessions_asking_at_once_build_a_missing_view_once():
    calls = []

    def build(key: tuple, _actor) -> dict:
        calls.append(key)
        time.sleep(0.2)
        return {"built": key}

    view = _ViewCache(build, max_entries=4)
    results = []
    threads = [threading.Thread(target=lambda n=n: results.append(view(("v1", "leader"), _actor=n)))
               for n in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert calls == [("v1", "leader")]
    assert len(results) == 12 and all(result is results[0] for result in results)  # one shared object
    assert view.building == {}


def test_keys_by_value_without_the_underscored_arguments_and_least_recently_used_out():
    calls = []
    view = _ViewCache(lambda key, flt, _who=None: calls.append((key, tuple(flt.statuses))) or len(calls), max_entries=2)
    assert view("a", Filter(["open"]), _who=1) == view("a", Filter(["open"]), _who=2) == 1
    assert view("a", Filter(["closed"])) == 2
    assert view("b", Filter()) == 3  # "a"/open is now the least recently used of three: out
    assert view("a", Filter(["closed"])) == 2
    assert view("a", Filter(["open"])) == 4
    view.clear()
    assert view("b", Filter()) == 5
