"""stored quality check and household tally: the last data-quality run's hits, read by the 数据质量 page and the
bulletin instead of every rule live on each view; the monitoring figures rolled up per township

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-03 13:45:00
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '0021'
down_revision = '0020'
branch_labels = None
depends_on = None


MONITORING = "('monitored', 'eliminating', 'eliminated')"
CLOCKED = "('clue', 'verified', 'reviewed', 'publicized', 'township_approved')"
COLUMNS = "INSERT INTO household_tally (township, kind, state, category, period, n, persons) "
FILL = [
    COLUMNS + "SELECT township, 'state', state, COALESCE(category, ''), '', count(*), COALESCE(sum(persons), 0) "
    f"FROM household WHERE state IN {MONITORING} GROUP BY township, state, COALESCE(category, '')",
    *[COLUMNS + f"SELECT township, '{kind}', '', '', substr(CAST({column} AS VARCHAR(10)), 1, {n}), count(*), 0 "
      f"FROM household WHERE state IN {MONITORING} AND {column} IS NOT NULL "
      f"GROUP BY township, substr(CAST({column} AS VARCHAR(10)), 1, {n})"
      for kind, column, n in (("identified", "identified_on", 7), ("eliminated", "eliminated_on", 7),
                              ("identified_year", "identified_on", 4), ("eliminated_year", "eliminated_on", 4))],
    COLUMNS + "SELECT household.township, 'clue_due', '', '', CAST(household_case.due_on AS VARCHAR(10)), count(*), 0 "
    "FROM household_case JOIN household ON household.id = household_case.household_id "
    f"WHERE household_case.state IN {CLOCKED} AND household_case.due_on IS NOT NULL "
    "GROUP BY household.township, CAST(household_case.due_on AS VARCHAR(10))",
]


def upgrade() -> None:
    op.create_table('quality_check',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('as_of', sa.Date(), nullable=False),
    sa.Column('computed_at', sa.DateTime(), nullable=False),
    sa.Column('computed_by', sqlmodel.sql.sqltypes.AutoString(length=60), nullable=False),
    sa.Column('seconds', sa.Float(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_quality_check'))
    )
    op.create_table('quality_count',
    sa.Column('rule_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('township', sqlmodel.sql.sqltypes.AutoString(length=60), nullable=False),
    sa.Column('n', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('rule_id', 'township', name=op.f('pk_quality_count'))
    )
    op.create_table('quality_hit',
    sa.Column('rule_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('household_id', sa.Integer(), nullable=False),
    sa.Column('township', sqlmodel.sql.sqltypes.AutoString(length=60), nullable=False),
    sa.Column('number', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.PrimaryKeyConstraint('rule_id', 'household_id', name=op.f('pk_quality_hit'))
    )
    op.create_index('ix_quality_hit_listing', 'quality_hit', ['rule_id', 'township', 'number'], unique=False)
    op.create_index('ix_quality_hit_number', 'quality_hit', ['rule_id', 'number'], unique=False)
    op.create_table('household_tally',
    sa.Column('township', sqlmodel.sql.sqltypes.AutoString(length=60), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('state', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('category', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('period', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
    sa.Column('n', sa.Integer(), nullable=False),
    sa.Column('persons', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('township', 'kind', 'state', 'category', 'period', name=op.f('pk_household_tally'))
    )
    op.create_index('ix_household_tally_kind_period', 'household_tally', ['kind', 'period'], unique=False)
    op.create_index('ix_village_township_name', 'village', ['township', 'name'], unique=False)
    op.create_index('ix_household_county_township', 'household', ['county', 'township'], unique=False)
    op.create_index('ix_household_identified_place', 'household', ['identified_on', 'county', 'township'], unique=False)
    op.create_index('ix_household_eliminated_place', 'household', ['eliminated_on', 'county', 'township'], unique=False)
    # filled from the ledger as it stands (what ``household_figures.recount`` writes; ``stats --verify`` checks it)
    for statement in FILL:
        op.execute(statement)


def downgrade() -> None:
    op.drop_index('ix_household_eliminated_place', table_name='household')
    op.drop_index('ix_household_identified_place', table_name='household')
    op.drop_index('ix_household_county_township', table_name='household')
    op.drop_index('ix_village_township_name', table_name='village')
    op.drop_index('ix_household_tally_kind_period', table_name='household_tally')
    op.drop_table('household_tally')
    op.drop_index('ix_quality_hit_number', table_name='quality_hit')
    op.drop_index('ix_quality_hit_listing', table_name='quality_hit')
    op.drop_table('quality_hit')
    op.drop_table('quality_count')
    op.drop_table('quality_check')
