"""The data version (issue 25): every unit of work that changes what a page shows bumps it, on SQLite and
PostgreSQL and as seen from another replica; a cached page shows a write at once, does no SQL but the version
read when nothing changed, and never shows one unit's view to another."""
from __future__ import annotations

import pytest
from sqlalchemy import event, insert, select

from dashboard.services import backup, data_version
from dashboard.services import findings as svc
from dashboard.services import web_sessions
from dashboard.services.unit_of_work import unit_of_work
from db.engine import make_engine, read_session
from db.models import Category, WebSession
from tests.apptest_support import live_session, metric_cards, page_app, point_app_at, texts
from tests.factories import finding_input


def _version(engine) -> str:
    return data_version.current(engine)


def test_a_write_bumps_the_version_and_an_orm_or_core_write_counts(engine, world):
    before = _version(engine)
    with unit_of_work(engine) as session:
        svc.log_finding(session, world.actors["inspector"], finding_input(world))
    after_orm = _version(engine)
    with unit_of_work(engine) as session:  # a Core bulk insert, as the importer and the generator write
        session.execute(insert(Category), [{"name": "批量写入的类别"}])
    after_core = _version(engine)
    assert len({before, after_orm, after_core}) == 3
    assert int(after_core.split("-")[0]) == int(after_orm.split("-")[0]) + 1


def test_quiet_read_only_and_rolled_back_transactions_leave_it(engine, world):
    before = _version(engine)
    with unit_of_work(engine) as session:  # nothing written
        session.execute(select(Category.id)).all()
    with unit_of_work(engine) as session:  # a session's last-seen touch: no page shows it
        session_id = session.execute(insert(WebSession).values(
            user_id=world.actors["leader"].id, token_version=1).returning(WebSession.id)).scalar_one()
    with unit_of_work(engine) as session:
        web_sessions.touch(session, session_id)
    with pytest.raises(RuntimeError):
        with unit_of_work(engine) as session:
            svc.log_finding(session, world.actors["inspector"], finding_input(world))
            raise RuntimeError("rolled back")
    assert _version(engine) == before


def test_a_sign_in_leaves_the_version_but_a_change_to_an_account_bumps_it(engine, world):
    """Fifty people signing in to a meeting must not empty every cached page fifty times: a sign-in writes only
    its last-seen time and resets failed attempts, which no cached page shows."""
    from dashboard.services import admin, auth
    from tests.factories import PASSWORD

    leader = world.actors["leader"]
    before = _version(engine)
    with unit_of_work(engine) as session:
        assert auth.sign_in(session, leader.username, PASSWORD).ok
    assert _version(engine) == before
    with unit_of_work(engine) as session:  # the same table written for another reason: a page may show it
        admin.update_user(session, world.actors["admin"], leader.id, None, display_name="新的名字")
    assert _version(engine) != before


def test_another_replica_reads_the_new_version(engine, world, database_url):
    url, schema = database_url
    other = make_engine(url, schema=schema)  # a second process: its own pool and connections
    try:
        seen = data_version.current(other)
        with unit_of_work(engine) as session:
            svc.log_finding(session, world.actors["inspector"], finding_input(world))
        assert data_version.current(other) != seen
        with unit_of_work(other) as session:
            svc.log_finding(session, world.actors["inspector"], finding_input(world, description="另一副本写入"))
        assert data_version.current(engine) == data_version.current(other)
    finally:
        other.dispose()


def test_a_restore_gives_a_new_version(engine, world, tmp_path):
    with unit_of_work(engine) as session:
        svc.log_finding(session, world.actors["inspector"], finding_input(world))
    file = tmp_path / "before.backup"
    backup.backup(engine, file)
    at_backup = _version(engine)
    with unit_of_work(engine) as session:
        svc.log_finding(session, world.actors["inspector"], finding_input(world, description="备份之后"))
    before_restore = _version(engine)
    backup.restore(engine, file, force=True)
    assert _version(engine) not in (at_backup, before_restore)


def _effective(app) -> str:
    return next(value for label, value, _delta in metric_cards(app) if label == "有效问题")  # the first: own unit


def test_a_cached_overview_shows_another_replicas_write_at_once_and_reads_only_the_version(
        engine, world, database_url, monkeypatch):
    point_app_at(monkeypatch, database_url)
    with unit_of_work(engine) as session:
        svc.log_finding(session, world.actors["inspector"], finding_input(world))
    app = page_app("pages.overview", world.actors["leader"]).run()
    assert not app.exception and _effective(app) == "1"

    from db.engine import default_engine
    statements: list[str] = []
    listener = lambda *args: statements.append(args[2])  # noqa: E731 - (conn, cursor, statement, …)
    event.listen(default_engine(), "before_cursor_execute", listener)
    try:
        app.run()  # nothing changed: the cached view, and only the version read
    finally:
        event.remove(default_engine(), "before_cursor_execute", listener)
    assert not app.exception and _effective(app) == "1"
    queries = [sql for sql in statements if sql.strip().upper() not in ("BEGIN", "SELECT 1", "ROLLBACK")]
    assert queries and all(data_version.TABLE in sql for sql in queries), queries

    url, schema = database_url
    other = make_engine(url, schema=schema)
    try:
        with unit_of_work(other) as session:
            svc.log_finding(session, world.actors["inspector"], finding_input(world, description="另一副本写入"))
    finally:
        other.dispose()
    app.run()
    assert not app.exception and _effective(app) == "2"


def test_a_cached_view_is_never_shared_between_units(engine, world, database_url, monkeypatch):
    point_app_at(monkeypatch, database_url)
    with unit_of_work(engine) as session:
        finding = svc.log_finding(session, world.actors["inspector"], finding_input(world))  # 社会救助办 leads it
        serial = finding.serial
    jiuzhu = page_app("pages.my_work", world.actors["jiuzhu"]).run()
    assert serial in str([frame.value for frame in jiuzhu.dataframe])
    ertong = page_app("pages.my_work", world.actors["ertong"]).run()  # same data version, another unit
    assert not ertong.exception
    assert serial not in str([frame.value for frame in ertong.dataframe]) and "暂无待办" in texts(ertong)
    mine = page_app("pages.overview", world.actors["jiuzhu"]).run()
    theirs = page_app("pages.overview", world.actors["ertong"]).run()
    assert _effective(mine) == "1" and _effective(theirs) == "0"  # the first row: the user's own unit


def test_a_new_web_session_is_a_quiet_write(engine, world, database_url, monkeypatch):
    """The session row a live_session makes is a quiet write: it does not empty every cache."""
    point_app_at(monkeypatch, database_url)
    before = _version(engine)
    live_session("leader")
    assert _version(engine) == before
    with read_session(engine) as session:
        assert session.execute(select(WebSession.id)).first() is not None


def test_the_shell_reads_only_the_version_and_a_session_ended_elsewhere_ends_at_once(
        engine, world, database_url, monkeypatch):
    """Sign-in state, the sidebar's unread count and the page come from caches while nothing changed; an admin's
    "sign out everywhere" on another replica is a write, so the next rerun reads the session again and ends it."""
    from dashboard.lifecycle import SYSTEM
    from db.engine import default_engine
    from tests.apptest_support import signed_in_entry

    point_app_at(monkeypatch, database_url)
    app = signed_in_entry("leader").run()
    app.run()
    assert not app.exception and "退出登录" in [b.label for b in app.button]
    statements: list[str] = []
    listener = lambda *args: statements.append(args[2])  # noqa: E731 - (conn, cursor, statement, …)
    event.listen(default_engine(), "before_cursor_execute", listener)
    try:
        app.run()
    finally:
        event.remove(default_engine(), "before_cursor_execute", listener)
    queries = [sql for sql in statements if sql.strip().upper() not in ("BEGIN", "SELECT 1", "ROLLBACK")]
    assert queries and all(data_version.TABLE in sql for sql in queries), queries

    url, schema = database_url
    other = make_engine(url, schema=schema)
    try:
        with unit_of_work(other) as session:
            assert web_sessions.end_all(session, SYSTEM, world.actors["leader"].id) == 1
    finally:
        other.dispose()
    app.run()
    assert not app.exception and "退出登录" not in [b.label for b in app.button]


def _cached_views() -> dict[int, bytes]:
    """Every cached view of this process, pickled: id of the view -> bytes (what does not pickle is left out)."""
    import pickle

    from dashboard.ui.context import cached_views

    found = {}
    for view in cached_views():
        try:
            found[id(view)] = pickle.dumps(view)
        except Exception:  # noqa: BLE001 - not a picklable view
            continue
    return found


def test_drawing_a_cached_page_never_changes_its_shared_views(engine, world, database_url, monkeypatch):
    """Cached views are one object shared by every session (``context.cached_view``): a page that changed one in
    place would show its change to the next reader. Each cached page drawn twice leaves every view as built."""
    point_app_at(monkeypatch, database_url)
    with unit_of_work(engine) as session:
        finding = svc.log_finding(session, world.actors["inspector"], finding_input(world))
        finding_id = finding.id
    for module, who, state in (("pages.overview", "leader", {}), ("pages.overview", "jiuzhu", {}),
                               ("pages.ledger", "leader", {}), ("pages.my_work", "jiuzhu", {}),
                               ("pages.my_work", "inspector", {}), ("pages.meeting", "leader", {}),
                               ("pages.villages", "leader", {}), ("pages.villages", "jiuzhu", {}),
                               ("pages.finding", "leader", {"finding_id": finding_id})):
        app = page_app(module, world.actors[who], **state).run()
        assert not app.exception, (module, who)
        built = _cached_views()
        app.run()
        assert not app.exception, (module, who)
        after = _cached_views()
        assert built, module
        changed = [key for key, value in built.items() if key in after and after[key] != value]
        assert not changed, (module, who, changed)
