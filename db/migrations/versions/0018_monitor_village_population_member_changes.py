"""Monitoring (issue 23): a village's population, member changes, frozen monthly bulletins

- village.population: 户籍人口, the base of the 贫困发生率 computed from the household ledger (0: not known).
- member_change: a person who joined or left a household, with the reason (出生、婚入 … 死亡、婚出 …) and the
  day: the bulletin's 自然增加 and 自然减少.
- bulletin_snapshot: the 月度监测通报 of a month, frozen the first time it is made after the month ended.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-03 10:21:44.485282
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('bulletin_snapshot',
    sa.Column('month', sqlmodel.sql.sqltypes.AutoString(length=7), nullable=False),
    sa.Column('frozen_at', sa.DateTime(), nullable=False),
    sa.Column('frozen_by_id', sa.Integer(), nullable=True),
    sa.Column('rows', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['frozen_by_id'], ['app_user.id'], name=op.f('fk_bulletin_snapshot_frozen_by_id_app_user')),
    sa.PrimaryKeyConstraint('month', name=op.f('pk_bulletin_snapshot'))
    )
    op.create_table('member_change',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('household_id', sa.Integer(), nullable=False),
    sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('happened_on', sa.Date(), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=60), nullable=False),
    sa.Column('recorded_at', sa.DateTime(), nullable=False),
    sa.Column('recorded_by_id', sa.Integer(), nullable=True),
    sa.CheckConstraint("reason IN ('birth', 'marriage_in', 'moved_in', 'death', 'marriage_out', 'moved_out')", name=op.f('ck_member_change_reason_allowed')),
    sa.ForeignKeyConstraint(['household_id'], ['household.id'], name=op.f('fk_member_change_household_id_household')),
    sa.ForeignKeyConstraint(['recorded_by_id'], ['app_user.id'], name=op.f('fk_member_change_recorded_by_id_app_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_member_change'))
    )
    with op.batch_alter_table('member_change', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_member_change_happened_on'), ['happened_on'], unique=False)
        batch_op.create_index(batch_op.f('ix_member_change_household_id'), ['household_id'], unique=False)

    with op.batch_alter_table('village', schema=None) as batch_op:
        batch_op.add_column(sa.Column('population', sa.Integer(), nullable=False, server_default='0'))



def downgrade() -> None:
    with op.batch_alter_table('village', schema=None) as batch_op:
        batch_op.drop_column('population')

    with op.batch_alter_table('member_change', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_member_change_household_id'))
        batch_op.drop_index(batch_op.f('ix_member_change_happened_on'))

    op.drop_table('member_change')
    op.drop_table('bulletin_snapshot')
