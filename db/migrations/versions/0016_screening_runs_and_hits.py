"""应纳未纳 screening (issue 23): the department lists compared with the household ledger

- screening_run: one list compared (kind, name, counts); no ID of the list is kept.
- finding_household: the households a finding raised from a data-quality check names (its closure waits
  until the rule no longer hits them).
- screening_hit: a person above the kind's threshold, by the keyed hash of the ID, once per kind, person,
  household and event (so the same list uploaded twice adds nothing), with the clue it opened.

Revision ID: 0016
Revises: 0014
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '0016'
down_revision = '0014'
branch_labels = None
depends_on = None

KINDS = "kind IN ('medical', 'disability', 'disaster', 'unemployment')"


def upgrade() -> None:
    op.create_table('screening_run',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('list_name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('rows', sa.Integer(), nullable=False),
    sa.Column('matched', sa.Integer(), nullable=False),
    sa.Column('unmatched', sa.Integer(), nullable=False),
    sa.Column('below_threshold', sa.Integer(), nullable=False),
    sa.Column('new_clues', sa.Integer(), nullable=False),
    sa.Column('signals', sa.Integer(), nullable=False),
    sa.Column('already_seen', sa.Integer(), nullable=False),
    sa.Column('run_at', sa.DateTime(), nullable=False),
    sa.Column('run_by_id', sa.Integer(), nullable=True),
    sa.Column('run_by', sqlmodel.sql.sqltypes.AutoString(length=60), nullable=False),
    sa.CheckConstraint(KINDS, name=op.f('ck_screening_run_kind_allowed')),
    sa.ForeignKeyConstraint(['run_by_id'], ['app_user.id'], name=op.f('fk_screening_run_run_by_id_app_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_screening_run'))
    )
    with op.batch_alter_table('screening_run', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_screening_run_run_at'), ['run_at'], unique=False)

    op.create_table('screening_hit',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('id_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('household_id', sa.Integer(), nullable=False),
    sa.Column('event_key', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('amount', sa.Float(), nullable=True),
    sa.Column('event_on', sa.Date(), nullable=True),
    sa.Column('outcome', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=True),
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.CheckConstraint(KINDS, name=op.f('ck_screening_hit_kind_allowed')),
    sa.CheckConstraint("outcome IN ('clue', 'signal')", name=op.f('ck_screening_hit_outcome_allowed')),
    sa.ForeignKeyConstraint(['case_id'], ['household_case.id'], name=op.f('fk_screening_hit_case_id_household_case')),
    sa.ForeignKeyConstraint(['household_id'], ['household.id'], name=op.f('fk_screening_hit_household_id_household')),
    sa.ForeignKeyConstraint(['run_id'], ['screening_run.id'], name=op.f('fk_screening_hit_run_id_screening_run')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_screening_hit')),
    sa.UniqueConstraint('kind', 'id_hash', 'household_id', 'event_key', name='uq_screening_hit_event')
    )
    with op.batch_alter_table('screening_hit', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_screening_hit_household_id'), ['household_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_screening_hit_id_hash'), ['id_hash'], unique=False)
        batch_op.create_index(batch_op.f('ix_screening_hit_run_id'), ['run_id'], unique=False)


    op.create_table('finding_household',
    sa.Column('finding_id', sa.Integer(), nullable=False),
    sa.Column('household_id', sa.Integer(), nullable=False),
    sa.Column('rule_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.ForeignKeyConstraint(['finding_id'], ['finding.id'], name=op.f('fk_finding_household_finding_id_finding')),
    sa.ForeignKeyConstraint(['household_id'], ['household.id'], name=op.f('fk_finding_household_household_id_household')),
    sa.PrimaryKeyConstraint('finding_id', 'household_id', name=op.f('pk_finding_household'))
    )
    with op.batch_alter_table('finding_household', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_finding_household_household_id'), ['household_id'], unique=False)


def downgrade() -> None:
    op.drop_table('finding_household')
    op.drop_table('screening_hit')
    op.drop_table('screening_run')
