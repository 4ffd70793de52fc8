"""(time, status) indexes for the weekly trend

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 14:10:00
"""
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('finding', schema=None) as batch_op:
        batch_op.drop_index('ix_finding_created_at')
        batch_op.drop_index('ix_finding_closed_at')
        batch_op.create_index('ix_finding_created_status', ['created_at', 'status'], unique=False)
        batch_op.create_index('ix_finding_closed_status', ['closed_at', 'status'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('finding', schema=None) as batch_op:
        batch_op.drop_index('ix_finding_closed_status')
        batch_op.drop_index('ix_finding_created_status')
        batch_op.create_index('ix_finding_closed_at', ['closed_at'], unique=False)
        batch_op.create_index('ix_finding_created_at', ['created_at'], unique=False)
