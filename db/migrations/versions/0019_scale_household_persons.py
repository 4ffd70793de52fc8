"""The household ledger at scale (issues 22 and 23): a household's members, counted

- household.persons: its members, kept by the flush hook in db/engine.py and by bulk writers, so that 监测人数
  over 300,000 households is a sum of a column (the monitoring figures), not a million-row join. Filled here from
  the members already stored.

Revision ID: 0019
Revises: 0018
"""
from alembic import op
import sqlalchemy as sa


revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('household', schema=None) as batch_op:
        batch_op.add_column(sa.Column('persons', sa.Integer(), server_default='0', nullable=False))
    op.execute("UPDATE household SET persons = (SELECT count(*) FROM household_member "
               "WHERE household_member.household_id = household.id)")


def downgrade() -> None:
    with op.batch_alter_table('household', schema=None) as batch_op:
        batch_op.drop_column('persons')
