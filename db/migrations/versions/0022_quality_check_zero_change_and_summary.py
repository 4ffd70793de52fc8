"""零变化 and the rules' summary stored with the data-quality check: ``quality_check.zero_change`` holds
``quality.zero_change_figures`` as of the check's day (last month and last quarter, townships and counties), and
``quality_check.summary`` per rule its households hit and the townships it hits most (``quality.summarise`` of the
stored counts), so the 数据质量 page reads one row instead of scanning the ledger's places and four date ranges and
reading 13,000 counts on each view. Empty until the next check: the page computes both then, as before.

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
        batch_op.add_column(sa.Column('summary', sa.JSON(), server_default=sa.text("'{}'"), nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('quality_check', schema=None) as batch_op:
        batch_op.drop_column('summary')
        batch_op.drop_column('zero_change')
