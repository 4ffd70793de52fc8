"""The command line (``python -m dashboard …``) against SQLite and PostgreSQL through ``DATABASE_URL``."""
from __future__ import annotations

from tests.migration_head import head_revision

import io
import json
import sys
from urllib.parse import quote

import pytest
from sqlalchemy import inspect, text
from sqlmodel import select

from dashboard.lifecycle import SYSTEM
from dashboard import cli
from dashboard.i18n import t
from dashboard.passwords import verify_password
from dashboard.services import admin
from db.engine import default_engine, make_engine, read_session
from dashboard.services.unit_of_work import unit_of_work
from db.models import AuditLog, Finding, User

STATES = ("open", "in_progress", "pending_review", "ongoing", "closed", "cancelled")


def cli_url(database_url) -> str:
    """The URL the CLI gets: the test's SQLite file, or the test's PostgreSQL schema as search_path."""
    url, schema = database_url
    if schema is None:
        return url
    separator = "&" if "?" in url else "?"
    return f"{url}{separator}options={quote(f'-csearch_path={schema}')}"


@pytest.fixture
def cli_env(_no_env_database, database_url, monkeypatch):
    """DATABASE_URL for the CLI; the cached application engine is dropped before and after."""
    monkeypatch.setenv("DATABASE_URL", cli_url(database_url))
    default_engine.cache_clear()
    yield database_url
    if default_engine.cache_info().currsize:
        default_engine().dispose()
    default_engine.cache_clear()


def run(*argv: str, stdin: str | None = None, monkeypatch=None) -> int:
    if stdin is not None:
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    return cli.main(list(argv))


def test_cli_url_carries_the_schema():
    assert cli_url(("postgresql+psycopg://u@h:5432/db", "t_abc")) == \
        "postgresql+psycopg://u@h:5432/db?options=-csearch_path%3Dt_abc"
    assert cli_url(("sqlite:////tmp/x.db", None)) == "sqlite:////tmp/x.db"


def test_init_db_creates_the_schema_where_database_url_points(cli_env, capsys):
    url, schema = cli_env
    assert run("init-db") == 0
    assert run("init-db") == 0  # twice is harmless
    out = capsys.readouterr().out
    assert out.count(t("cli.db_ready", "zh")) == 2 and "database" not in out  # once, in Chinese by default
    engine = make_engine(url, schema=schema)
    try:
        tables = set(inspect(engine).get_table_names(schema=schema))
        assert {"finding", "app_user", "audit_log", "alembic_version"} <= tables
        with engine.connect() as connection:
            assert connection.execute(text("SELECT version_num FROM alembic_version")).scalar_one() == head_revision()
    finally:
        engine.dispose()


def _table_counts(engine) -> dict[str, int]:
    with engine.connect() as connection:
        return {table: connection.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
                for table in ("unit", "app_user", "finding", "measure", "progress", "evidence", "audit_log")}


def test_seed_demo_twice_and_stats_json(cli_env, engine, frozen_today, capsys):
    assert run("init-db") == 0
    capsys.readouterr()
    assert run("seed-demo") == 0
    assert capsys.readouterr().out == "演示数据已生成（演示密码：demo1234）\n"
    seeded = _table_counts(engine)
    assert seeded["finding"] > 0 and seeded["unit"] > 0
    assert run("--lang", "en", "seed-demo") == 0
    assert capsys.readouterr().out == "The database already has data: nothing added.\n"
    assert _table_counts(engine) == seeded

    assert run("stats", "--json") == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["as_of"] == "2026-06-15T10:00:00"
    assert sum(stats[state] for state in STATES) == stats["total"]
    assert stats["completion_rate"] == stats["closed"] / (stats["total"] - stats["cancelled"])  # full precision
    assert stats["on_time_rate"] == stats["closed_on_time"] / stats["closed"]
    assert stats["red"] + stats["yellow"] + stats["green"] + stats["closed"] + stats["cancelled"] == stats["total"]
    for row in stats["by_unit"]:
        assert set(row) >= {"unit", "total", "closed", "overdue", "completion_rate"}
    assert sum(row["total"] for row in stats["by_unit"]) == stats["total"]
    assert sum(row["closed"] for row in stats["by_unit"]) == stats["closed"]
    assert sum(row["overdue"] for row in stats["by_unit"]) == stats["overdue"]
    assert [row["rank"] for row in stats["by_unit"]] == list(range(1, len(stats["by_unit"]) + 1))

    # the figures are those of a plain SQL count of the finding table
    with engine.connect() as connection:
        by_status = dict(connection.execute(text("SELECT status, count(*) FROM finding GROUP BY status")).all())
        overdue = connection.execute(text(
            "SELECT count(*) FROM finding WHERE status IN ('open', 'in_progress', 'pending_review') "
            "AND current_deadline < :today"), {"today": "2026-06-15"}).scalar_one()
        per_unit = connection.execute(text(
            "SELECT u.name, count(*), sum(CASE WHEN f.status = 'closed' THEN 1 ELSE 0 END) "
            "FROM finding f JOIN unit u ON u.id = f.lead_unit_id GROUP BY u.name")).all()
    assert stats["total"] == seeded["finding"] == sum(by_status.values())
    assert {state: stats[state] for state in STATES} == {state: by_status.get(state, 0) for state in STATES}
    assert stats["overdue"] == overdue
    assert {row["unit"]: (row["total"], row["closed"]) for row in stats["by_unit"]} == {
        name: (int(total), int(closed)) for name, total, closed in per_unit}
    for row in stats["by_unit"]:
        total, closed = next((int(t), int(c)) for n, t, c in per_unit if n == row["unit"])
        cancelled = by_unit_cancelled(engine, row["unit"])
        assert row["completion_rate"] == (closed / (total - cancelled) if total - cancelled else 0.0)

    assert run("stats") == 0
    plain = capsys.readouterr().out
    assert f"total: {stats['total']}" in plain and " 1. " in plain


def by_unit_cancelled(engine, unit_name: str) -> int:
    with engine.connect() as connection:
        return connection.execute(text(
            "SELECT count(*) FROM finding f JOIN unit u ON u.id = f.lead_unit_id "
            "WHERE u.name = :name AND f.status = 'cancelled'"), {"name": unit_name}).scalar_one()


def test_stats_on_an_empty_database(cli_env, frozen_today, capsys):
    assert run("stats", "--json") == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["total"] == 0 and stats["completion_rate"] == 0.0 and stats["by_unit"] == []


def test_create_user_reads_the_password_from_stdin(cli_env, engine, monkeypatch, capsys):
    assert run("create-user", "WangLi", "--role", "leader", "--display-name", "王丽",
               stdin="long-enough-pass\n", monkeypatch=monkeypatch) == 0
    assert capsys.readouterr().out == "已创建用户 wangli（局领导）\n"
    with read_session(engine) as session:
        created = session.exec(select(User).where(User.username == "wangli")).one()
        audit = session.exec(select(AuditLog).where(AuditLog.entity == "User")).one()
    assert (created.display_name, created.role, created.unit_id, created.is_demo_password) == ("王丽", "leader", None, False)
    assert verify_password("long-enough-pass", created.password_hash)
    assert (audit.action, audit.username, audit.user_id) == ("create", "system", None)


def test_create_department_user_needs_a_known_unit(cli_env, engine, monkeypatch, capsys):
    assert run("create-user", "nounit", "--role", "department", stdin="long-enough-pass\n",
               monkeypatch=monkeypatch) == 2
    assert capsys.readouterr().err == "责任单位角色必须指定所属单位。\n"
    assert run("create-user", "nounit", "--role", "department", "--lang", "en", stdin="long-enough-pass\n",
               monkeypatch=monkeypatch) == 2
    assert capsys.readouterr().err == "A department user needs a unit.\n"
    assert run("create-user", "ghost", "--role", "department", "--unit", "县民政局", stdin="long-enough-pass\n",
               monkeypatch=monkeypatch) == 2
    assert capsys.readouterr().err == "找不到单位“县民政局”\n"
    assert run("--lang", "en", "create-user", "ghost", "--role", "department", "--unit", "县民政局",
               stdin="long-enough-pass\n", monkeypatch=monkeypatch) == 2
    assert capsys.readouterr().err == "There is no unit “县民政局”.\n"
    with read_session(engine) as session:
        assert session.exec(select(User)).all() == []

    with unit_of_work(engine) as session:
        unit_id = admin.create_unit(session, SYSTEM, name="社会救助办").id
    assert run("create-user", "jiuzhu", "--role", "department", "--unit", "社会救助办", stdin="long-enough-pass\n",
               monkeypatch=monkeypatch) == 0
    with read_session(engine) as session:
        assert session.exec(select(User.unit_id).where(User.username == "jiuzhu")).one() == unit_id


def test_create_user_refusals(cli_env, engine, monkeypatch, capsys):
    assert run("create-user", "shorty", "--role", "leader", stdin="short\n", monkeypatch=monkeypatch) == 2
    assert capsys.readouterr().err == "密码至少需要10个字符。\n"
    monkeypatch.setenv("DASHBOARD_LANG", "en")  # the reader's language from the environment
    assert run("create-user", "shorty", "--role", "leader", stdin="short\n", monkeypatch=monkeypatch) == 2
    assert capsys.readouterr().err == "The password needs at least 10 characters.\n"
    assert run("--lang", "zh", "create-user", "shorty", "--role", "leader", stdin="short\n",
               monkeypatch=monkeypatch) == 2  # --lang wins over the environment
    assert capsys.readouterr().err == "密码至少需要10个字符。\n"
    monkeypatch.setenv("DASHBOARD_LANG", "fr")  # not a language of the catalogue: Chinese
    assert run("create-user", "shorty", "--role", "leader", stdin="short\n", monkeypatch=monkeypatch) == 2
    assert capsys.readouterr().err == "密码至少需要10个字符。\n"
    monkeypatch.delenv("DASHBOARD_LANG")
    assert run("create-user", "wang", "--role", "leader", stdin="long-enough-pass\n", monkeypatch=monkeypatch) == 0
    assert run("create-user", "WANG", "--role", "admin", stdin="long-enough-pass\n", monkeypatch=monkeypatch) == 2
    assert "名称“wang”已存在。" in capsys.readouterr().err
    with pytest.raises(SystemExit) as bad_role:
        run("create-user", "boss", "--role", "boss", stdin="long-enough-pass\n", monkeypatch=monkeypatch)
    assert bad_role.value.code == 2
    with read_session(engine) as session:
        assert [u.username for u in session.exec(select(User)).all()] == ["wang"]


def test_production_mode_refuses_the_demo_password(cli_env, engine, monkeypatch, capsys):
    monkeypatch.setenv("DASHBOARD_MODE", "production")
    assert run("create-user", "boss", "--role", "admin", stdin="demo1234\n", monkeypatch=monkeypatch) == 2
    assert "生产模式下不接受演示密码" in capsys.readouterr().err
    with read_session(engine) as session:
        assert session.exec(select(Finding)).all() == [] and session.exec(select(User)).all() == []


@pytest.mark.parametrize("argv,lang", [([], "zh"), (["--lang", "en"], "en"), (["--lang=en"], "en"),
                                       (["import-ledger", "--lang", "en"], "en")])
def test_the_help_is_in_the_readers_language(argv, lang, monkeypatch, capsys):
    """Every command's help comes from the catalogue, in the language asked for (or DASHBOARD_LANG)."""
    import re

    from dashboard import cli

    monkeypatch.delenv("DASHBOARD_LANG", raising=False)
    parser = cli.build_parser(cli._language_asked(argv))
    commands = next(action for action in parser._actions if action.dest == "command").choices
    texts = [parser.format_help()] + [sub.format_help() for sub in commands.values()]
    data_terms = ("问题来源", "其他", "9月底前")  # what the user types in a ledger, kept as written
    for help_text in texts:
        stripped = help_text
        for term in data_terms:
            stripped = stripped.replace(term, "")
        has_chinese = bool(re.search(r"[\u4e00-\u9fff]", stripped))
        assert has_chinese == (lang == "zh"), help_text
        assert "cli_help." not in help_text  # no key without a text
    monkeypatch.setenv("DASHBOARD_LANG", "en")
    assert cli._language_asked(["stats"]) == "en" and cli._language_asked(["--lang", "zh", "stats"]) == "zh"


def test_the_server_reads_the_projects_streamlit_config_also_when_installed(tmp_path, monkeypatch):
    """A checkout starts Streamlit beside its .streamlit/config.toml; an installed package (the container image)
    has none beside it and starts from the folder it was started in (the image's WORKDIR, a copy of the repo)."""
    import tomllib

    from dashboard import cli, config

    assert cli._streamlit_config_folder() == config.PROJECT_ROOT
    settings = tomllib.loads((config.PROJECT_ROOT / ".streamlit" / "config.toml").read_text())
    assert settings["runner"]["postScriptGC"] is False and settings["server"]["fileWatcherType"] == "none"
    monkeypatch.setattr(config, "PROJECT_ROOT", tmp_path / "site-packages")
    monkeypatch.chdir(tmp_path)
    assert cli._streamlit_config_folder() == tmp_path
