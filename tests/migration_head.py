"""The newest migration, read from the migration scripts themselves."""
from __future__ import annotations

from alembic.script import ScriptDirectory

from db.engine import alembic_config


def head_revision() -> str:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()
