from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

import db.models  # noqa: F401 - registers every table on SQLModel.metadata
from db.engine import make_engine

target_metadata = SQLModel.metadata


def numbered_revision(_context, _revision, directives) -> None:
    """``alembic revision`` names the new migration with the next number (0007 after 0006), so ids
    stay readable and in order without anyone typing them."""
    if not directives or getattr(directives[0], "rev_id", None) is None:
        return
    from alembic.script import ScriptDirectory

    numbers = [int(s.revision) for s in ScriptDirectory.from_config(context.config).walk_revisions()
               if s.revision.isdigit()]
    directives[0].rev_id = f"{max(numbers, default=0) + 1:04d}"


def run_migrations(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        process_revision_directives=numbered_revision,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is not None:
    run_migrations(connection)
else:
    with make_engine().begin() as own_connection:
        run_migrations(own_connection)
