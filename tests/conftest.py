"""Fixtures: every database test runs on SQLite and, when TEST_DATABASE_URL is set, on PostgreSQL.

Each test gets a clean database: a new SQLite file, or a new PostgreSQL schema dropped after
the test. Without TEST_DATABASE_URL the PostgreSQL variants are skipped with the reason shown.
``database_url`` gives it empty; ``engine`` gives it migrated to the newest revision, as a copy of a
template migrated once per session (tests/databases.py), not by running every migration again.
"""
from __future__ import annotations

import datetime as dt
import os

import pytest
from sqlalchemy import text

from dashboard import clock, passwords
from db.engine import make_engine, migrate
from tests.databases import PREBUILT_WORLDS, Templates, new_data_version_token, new_schema_name, world_in

TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL", "").strip()
NO_PG_REASON = "TEST_DATABASE_URL is not set: PostgreSQL variant skipped (.ci/run sets it to the local server)"
BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.skipif(not TEST_DATABASE_URL, reason=NO_PG_REASON))]

# A fixed 'today' for reproducible deadlines: Monday 2026-06-15, 10:00.
TODAY = dt.datetime(2026, 6, 15, 10, 0)


SHARED_SCOPES = ("module", "class", "package", "session")


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items):
    """For ``--dist loadgroup`` (``dev.py test``): a test file whose tests share a fixture wider than one test (a
    browser server, a demo ledger, a module's database) stays whole on one worker, in order, as one group; every
    other test is handed out on its own, so a long file of independent tests (test_app's 455 page renders) is
    shared by all workers instead of making a long tail on one. Session fixtures of conftest (the templates) are
    per worker anyway and do not group."""
    for item in items:
        info = getattr(item, "_fixtureinfo", None)
        if info is None:
            continue
        shared = any(definitions[-1].scope in SHARED_SCOPES
                     and getattr(definitions[-1].func, "__module__", "").startswith("tests.test_")
                     for definitions in info.name2fixturedefs.values() if definitions)
        if shared or item.get_closest_marker("browser"):
            item.add_marker(pytest.mark.xdist_group(item.nodeid.split("::")[0]))


# Seconds each longer test file takes (summed over its tests; both backends and Chromium, as .ci/run runs them; the
# junit times of two whole runs on a shared machine, load 3-8, 2026-12-04, averaged, after test_figures_exact's
# readings moved into the test process), for the order the workers take files in (``pytest_xdist_make_scheduler``).
# Only the order matters, so rough figures do; a file not named here counts ``DEFAULT_TEST_SECONDS`` a test.
FILE_SECONDS = {
    "tests/test_browser.py": 185, "tests/test_figures_exact.py": 150, "tests/test_app.py": 90,
    "tests/test_deploy.py": 70, "tests/test_notify_browser.py": 55, "tests/test_outputs_agree.py": 50,
    "tests/test_household_browser.py": 45, "tests/test_benchmark.py": 45, "tests/test_permissions.py": 30,
    "tests/test_lookback_browser.py": 25, "tests/test_import_layouts.py": 20, "tests/test_browser_session.py": 20,
    "tests/test_backup.py": 20, "tests/test_notify.py": 15, "tests/test_household_lifecycle.py": 15,
    "tests/test_hardening.py": 15, "tests/test_demo.py": 15, "tests/test_deadlocks.py": 15, "tests/test_cli.py": 15,
    "tests/test_writers.py": 10, "tests/test_synthetic.py": 10, "tests/test_schema.py": 10,
    "tests/test_rollups.py": 10, "tests/test_queries.py": 10, "tests/test_monitor.py": 10,
    "tests/test_lookback.py": 10, "tests/test_lifecycle.py": 10, "tests/test_household_table_walk.py": 10,
    "tests/test_household_forms.py": 10, "tests/test_english_walk.py": 10, "tests/test_documents.py": 10,
    "tests/test_check_loop.py": 10, "tests/test_browser_hardening.py": 10, "tests/test_api.py": 10,
}
DEFAULT_TEST_SECONDS = 0.3


@pytest.hookimpl(optionalhook=True)  # an xdist hook: unknown (and not called) under -p no:xdist
def pytest_xdist_make_scheduler(config, log):
    """``--dist loadfile`` with the longest files handed out first. xdist's own order is by number of tests, which
    put the browser files (a few long tests each) last, a long tail on one worker while the other idled; longest
    first ends the workers close together. Any other ``--dist`` is xdist's own."""
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    class LongestFileFirst(LoadFileScheduling):
        ordered = False

        def _assign_work_unit(self, node):
            if not self.ordered:  # the queue of files is complete before the first file is handed out
                def seconds(item):
                    scope, tests = item
                    return FILE_SECONDS.get(scope, DEFAULT_TEST_SECONDS * len(tests))
                queue = sorted(self.workqueue.items(), key=seconds, reverse=True)
                self.workqueue.clear()
                self.workqueue.update(queue)
                self.ordered = True
            super()._assign_work_unit(node)

    return LongestFileFirst(config, log)


@pytest.fixture(autouse=True)
def _no_env_database(monkeypatch, tmp_path):
    """Tests never touch a developer's own database or data directory."""
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("DASHBOARD_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("DASHBOARD_MODE", "demo")
    monkeypatch.setattr(passwords, "COST", passwords.TEST_COST)


@pytest.fixture(params=BACKENDS)
def backend(request) -> str:
    return request.param


@pytest.fixture(scope="session")
def templates(tmp_path_factory):
    """The session's migrated templates (one per backend and xdist worker, built when first asked for)."""
    session_templates = Templates(tmp_path_factory.mktemp("templates"), TEST_DATABASE_URL)
    yield session_templates
    session_templates.close()


@pytest.fixture
def database_url(backend, tmp_path, templates, request):
    """A URL (and, for PostgreSQL, a schema) for an empty database; cleaned up after the test. (For a test
    that also asks for ``engine``, the PostgreSQL schema is already the migrated one ``engine`` yields.)"""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'test.db'}", None
        return
    if "engine" in request.fixturenames:
        schema = templates.migrated_schema()
    else:
        schema = new_schema_name()
        with templates.admin().begin() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield TEST_DATABASE_URL, schema
    finally:
        templates.release(schema)


@pytest.fixture
def engine(database_url, request, templates):
    """The test's database migrated to the head revision: a copy of the session's template (a fixture that
    wrote into ``database_url`` first gets the migrations run the ordinary way). A test that uses a fixture
    named ``world`` gets a copy of a database the small world was built in once per session (on TODAY, as
    every ``world`` fixture builds it); that fixture takes it with ``world_in(engine)``."""
    url, schema = database_url
    world = templates.fill_world(url, schema, TODAY) if "world" in request.fixturenames else None
    cloned = world is not None or templates.fill(url, schema)
    engine = make_engine(url, schema=schema)
    if not cloned or schema is None:
        # SQLite: the copy is at head, so this only starts the engine the way the app does (a connection that
        # has read the revision and run PRAGMA optimize stays in the pool); without it, a fresh copy gave
        # test_deadlocks' SQLite writers a "database is locked" retry under heavy load
        migrate(engine)
    if world is not None:
        new_data_version_token(engine)
        PREBUILT_WORLDS[engine] = world
    yield engine
    try:
        if not request.node.get_closest_marker("rollups_left_wrong"):
            assert_rollups_exact(engine)
    finally:
        engine.dispose()


def assert_rollups_exact(engine) -> None:
    """What ``stats --verify`` checks, after every database test: the roll-ups the test left behind equal the
    base tables as of the day they were built for. Sums marked stale (or built with other settings) are not
    read by anyone (the next reader rebuilds them) and are not checked."""
    from dashboard.services import rollups
    from db.engine import read_session

    from dashboard.services import household_figures

    with read_session(engine) as session:
        drifts = rollups.verify_as_built(session)
        tally = household_figures.verify(session)
    assert not drifts, "roll-ups left wrong by this test (stats --verify):\n" + "\n".join(map(str, drifts[:20]))
    assert not tally, "household tally left wrong by this test (stats --verify):\n" + "\n".join(tally[:20])


@pytest.fixture
def demo_copy(templates):
    """``demo_copy(engine)``: the test's empty database as ``seed_demo(engine)`` leaves it at the clock as the test
    has it, copied from a demo built once per session, backend and clock (tests/databases.py), the demo's
    privacy key in the test's data folder. For tests of what happens to the demo ledger; the building of it
    is tested where it is the subject (test_demo, test_cli, test_figures_exact's first test)."""
    return templates.copy_demo


@pytest.fixture
def frozen_today():
    with clock.frozen(TODAY):
        yield TODAY


@pytest.fixture
def world(engine, frozen_today):
    """The small world of tests/factories.py (units, one user per role, a category, a source) on a
    clean database, on the fixed 'today'. Tests that need more build on it or define their own."""
    return world_in(engine)
