"""import batch: a large import on SQLite written in chunks, each its own short transaction (issue 25)

A department's save waits for one chunk of an import, not the whole file; the batch row records what the import
has written so far, so that a failure or a crash mid-way is undone and never leaves half an import.

Revision ID: 0023
Revises: 0022
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '0023'
down_revision = '0022'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('import_batch',
    sa.Column('findings', sa.JSON(), nullable=True),
    sa.Column('created', sa.JSON(), nullable=True),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('started_at', sa.DateTime(), nullable=False),
    sa.Column('touched_at', sa.DateTime(), nullable=False),
    sa.Column('username', sqlmodel.sql.sqltypes.AutoString(length=60), nullable=False),
    sa.Column('filename', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('owner', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
    sa.Column('done', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_import_batch'))
    )


def downgrade() -> None:
    op.drop_table('import_batch')
