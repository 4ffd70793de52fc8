"""finding_rollup without a foreign key to finding

Derived rows must not lock base rows: inserting a contribution took a KEY SHARE lock on its
finding (PostgreSQL), so the day's rebuild, holding the roll-up lock, could wait for a writer
that held its finding and waited for the roll-up lock: a deadlock. ``stats --verify`` checks
that every contribution belongs to a finding instead.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29 19:45:00
"""
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('finding_rollup', schema=None) as batch_op:
        batch_op.drop_constraint('fk_finding_rollup_finding_id_finding', type_='foreignkey')


def downgrade() -> None:
    with op.batch_alter_table('finding_rollup', schema=None) as batch_op:
        batch_op.create_foreign_key('fk_finding_rollup_finding_id_finding', 'finding', ['finding_id'], ['id'])
