"""data version: one row every unit of work that changed the data bumps (issue 25)

Readers compare it to the version their cached read models were built for: one tiny read per page
instead of the page's queries, on every replica.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-03 10:30:00
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '0020'
down_revision = '0019'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('data_version',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('token', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_data_version'))
    )
    # no row yet: the first write inserts it (a database nobody has written to reads as version "")


def downgrade() -> None:
    op.drop_table('data_version')
