"""零变化 stored with the data-quality check: ``quality_check.zero_change`` holds ``quality.zero_change_figures`` as
of the check's day (last month and last quarter, townships and counties), so the 数据质量 page reads one row
instead of scanning the ledger's places and four date ranges on each view. Empty until the next check; the page
computes it live while the stored one is not for today's periods.

Revision ID: 0022
Revises: 0021
"""
from alembic import op
import sqlalchemy as sa


revision = '0022'
down_revision = '0021'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('quality_check', schema=None) as batch_op:
        batch_op.add_column(sa.Column('zero_change', sa.JSON(), server_default=sa.text("'[]'"), nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('quality_check', schema=None) as batch_op:
        batch_op.drop_column('zero_change')
