"""The migrations build exactly the models' schema, on both databases, and the engine is set up right.

Other tests get a copy of a database migrated once per session (tests/databases.py); here every migration runs
from an empty database, and the copy is compared with it."""
from __future__ import annotations

import json

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlmodel import SQLModel

import db.models  # noqa: F401 - registers every table on SQLModel.metadata
from db.engine import make_engine, migrate
from tests.conftest import NO_PG_REASON, TEST_DATABASE_URL
from tests.databases import new_schema_name
from tests.migration_head import head_revision


@pytest.fixture
def migrated_from_empty(backend, tmp_path, templates):
    """A database of its own with every migration run on it from empty, the way the app and the CLI do it."""
    if backend == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'from-empty.db'}")
        schema = None
    else:
        schema = new_schema_name("empty")
        with templates.admin().begin() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        engine = make_engine(TEST_DATABASE_URL, schema=schema)
    migrate(engine)
    yield engine
    engine.dispose()
    if schema:
        templates.drop_later(schema)


def plain(found) -> str:
    """An inspector's answer as text (SQL expressions by their SQL), for comparing two databases."""
    return json.dumps(found, sort_keys=True, default=str)


def describe(engine) -> dict:
    """Everything the inspector sees of a schema, and the revision it is at."""
    found = inspect(engine)
    tables = {}
    for table in sorted(found.get_table_names()):
        tables[table] = {
            "columns": [plain(column) for column in found.get_columns(table)],
            "primary key": plain(found.get_pk_constraint(table)),
            "foreign keys": sorted(map(plain, found.get_foreign_keys(table))),
            "indexes": sorted(map(plain, found.get_indexes(table))),
            "unique": sorted(map(plain, found.get_unique_constraints(table))),
            "checks": sorted(map(plain, found.get_check_constraints(table))),
        }
    with engine.connect() as connection:
        revision = connection.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
        if engine.dialect.name == "postgresql":
            options = connection.execute(text(
                "SELECT relname, relkind, reloptions FROM pg_class WHERE relnamespace = current_schema()::regnamespace "
                "ORDER BY relname")).all()
        else:
            # a table's DDL text is left out: SQLite's batch migrations write its constraints in varying order
            options = connection.exec_driver_sql(
                "SELECT type, name, tbl_name, CASE type WHEN 'table' THEN '' ELSE sql END FROM sqlite_master "
                "ORDER BY name").all()
    return {"tables": tables, "revision": revision, "catalogue": [tuple(map(str, row)) for row in options]}


def test_migrations_match_models(migrated_from_empty):
    engine = migrated_from_empty
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


def test_each_tests_copy_is_the_database_the_migrations_build(engine, migrated_from_empty):
    """The template copy every database test starts from equals a database migrated from empty: the same tables,
    columns, keys, indexes and checks, the same catalogue entries (PostgreSQL storage options, SQLite DDL), at the
    head revision; and it is empty."""
    copy, fresh = describe(engine), describe(migrated_from_empty)
    assert copy == fresh
    assert copy["revision"] == [head_revision()]
    with engine.connect() as connection:
        for table in copy["tables"]:
            if table != "alembic_version":
                assert connection.execute(text(f'SELECT count(*) FROM "{table}"')).scalar() == 0, table


@pytest.mark.skipif(not TEST_DATABASE_URL, reason=NO_PG_REASON)
def test_a_used_postgresql_schema_is_taken_back_only_as_new(templates):
    """A finished test's schema goes back to the pool only with its rows gone and its sequences restarted, and
    not at all when the test changed its structure (then it is dropped)."""
    schema = templates.migrated_schema()
    engine = make_engine(TEST_DATABASE_URL, schema=schema)
    with engine.begin() as connection:
        first = connection.execute(text(
            "INSERT INTO category (name, sort_order, active) VALUES ('低保', 1, true) RETURNING id")).scalar()
        connection.execute(text("INSERT INTO category (name, sort_order, active) VALUES ('特困', 2, true)"))
    engine.dispose()
    templates.release(schema)
    again = templates.migrated_schema()
    assert again == schema                                  # taken back …
    engine = make_engine(TEST_DATABASE_URL, schema=again)
    with engine.begin() as connection:
        assert connection.execute(text("SELECT count(*) FROM category")).scalar() == 0   # … empty …
        assert connection.execute(text(                                                  # … counting from the start
            "INSERT INTO category (name, sort_order, active) VALUES ('低保', 1, true) RETURNING id")).scalar() == first
        connection.execute(text("ALTER TABLE category ADD COLUMN note TEXT"))
    engine.dispose()
    templates.release(again)                                # altered: dropped, not taken back
    other = templates.migrated_schema()
    templates.release(other)
    assert other != again
