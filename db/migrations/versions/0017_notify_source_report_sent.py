"""a source's 整改情况报告 marked sent (issue 23: the report reminders stop once it is)

- source.report_sent_on: the day the report was sent (NULL: not yet; the due date is report_due_date)
- source.report_sent_by_id: who marked it

Revision ID: 0017
Revises: 0016
"""
from alembic import op
import sqlalchemy as sa


revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('source', schema=None) as batch_op:
        batch_op.add_column(sa.Column('report_sent_on', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('report_sent_by_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_source_report_sent_by_id_app_user'), 'app_user',
                                    ['report_sent_by_id'], ['id'])


def downgrade() -> None:
    with op.batch_alter_table('source', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_source_report_sent_by_id_app_user'), type_='foreignkey')
        batch_op.drop_column('report_sent_by_id')
        batch_op.drop_column('report_sent_on')
