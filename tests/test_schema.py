"""The migrations build exactly the models' schema, on both databases, and the engine is set up right."""
from __future__ import annotations

from tests.migration_head import head_revision

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlmodel import SQLModel

import db.models  # noqa: F401 - registers every table on SQLModel.metadata


def test_migrations_match_models(engine):
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, SQLModel.metadata)
    # PostgreSQL's trigram indexes (migration 0010, pg_trgm) and the BRIN index that replaces snapshot_finding's
    # key (0012) have no model form: the only differences allowed
    differences = [d for d in differences if not (d[0] == "remove_index" and d[1].name.endswith(("_trgm", "_brin")))]
    assert differences == []


def test_every_entity_has_a_table(engine):
    tables = set(inspect(engine).get_table_names())
    expected = {"unit", "app_user", "village", "source", "finding", "measure", "progress", "evidence",
                "extension_request", "closure_review", "escalation", "audit_log", "snapshot", "setting", "category"}
    assert expected <= tables


def test_ledger_filter_columns_are_indexed(engine):
    indexed = {tuple(index["column_names"]) for index in inspect(engine).get_indexes("finding")}
    leading = {columns[0] for columns in indexed}
    assert {"lead_unit_id", "source_id", "village_id", "township", "status", "current_deadline"} <= leading


def test_migrate_twice_is_harmless(engine):
    from db.engine import migrate

    migrate(engine)
    with engine.connect() as connection:
        assert connection.execute(text("SELECT version_num FROM alembic_version")).scalar_one() == head_revision()


def test_sqlite_pragmas(engine):
    if engine.dialect.name != "sqlite":
        return
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 10_000
