"""Import: names remembered as aliases (mapping step), a finding's serial in the ledger it came from (原编号)

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29 19:40:00
"""
from alembic import op
import sqlalchemy as sa

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'name_alias',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=20), nullable=False),
        sa.Column('alias', sa.String(length=200), nullable=False),
        sa.Column('target_id', sa.Integer(), nullable=False),
        sa.Column('created_by_id', sa.Integer(), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.CheckConstraint("kind IN ('unit', 'category', 'village')", name=op.f('ck_name_alias_kind_allowed')),
        sa.ForeignKeyConstraint(['created_by_id'], ['app_user.id'], name=op.f('fk_name_alias_created_by_id_app_user')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_name_alias')),
        sa.UniqueConstraint('kind', 'alias', name='uq_name_alias_kind_alias'),
    )
    with op.batch_alter_table('finding', schema=None) as batch_op:
        batch_op.add_column(sa.Column('original_serial', sa.String(length=40), nullable=False, server_default=''))


def downgrade() -> None:
    with op.batch_alter_table('finding', schema=None) as batch_op:
        batch_op.drop_column('original_serial')
    op.drop_table('name_alias')
