"""PostgreSQL at a million findings: trigram indexes for the keyword search, eager autovacuum on the big
tables, and snapshot rows without per-row foreign-key checks

- pg_trgm (PostgreSQL only, in its own schema ``extensions`` so that dropping or renaming the app's schema
  never drops it): GIN trigram indexes on the three columns the ledger's keyword search matches with ILIKE
  (description, serial, responsible person). Where the extension cannot be created (no right to), the search
  works as before, only without the index.
- autovacuum on finding, measure, finding_rollup and snapshot_finding after 2 % of new or changed rows
  instead of 20 %: index-only scans (the weekly trend, counts by status) need the visibility map that only
  VACUUM sets; at 1M findings the default waits for 200,000 changes.
- snapshot_finding loses its two foreign keys: a snapshot writes one row per finding (a million rows), and
  the per-row checks were 8 of its 10 seconds. Its rows are written only by ``take_snapshot``, from the
  finding table itself and the snapshot row inserted just before, in one transaction; neither findings
  nor snapshots are ever deleted.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-29 20:45:00
"""
from alembic import op
import sqlalchemy as sa

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

TRGM_SCHEMA = "extensions"
TRIGRAM_INDEXES = {"ix_finding_description_trgm": "description", "ix_finding_serial_trgm": "serial",
                   "ix_finding_responsible_person_trgm": "responsible_person"}
VACUUM_EAGERLY = ("finding", "measure", "finding_rollup", "snapshot_finding")
SNAPSHOT_FKS = {"fk_snapshot_finding_finding_id_finding": (["finding_id"], "finding", ["id"]),
                "fk_snapshot_finding_snapshot_id_snapshot": (["snapshot_id"], "snapshot", ["id"])}


def _trigram_available(bind) -> bool:
    try:
        with bind.begin_nested():
            bind.exec_driver_sql(f"CREATE SCHEMA IF NOT EXISTS {TRGM_SCHEMA}")
            bind.exec_driver_sql(f"CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA {TRGM_SCHEMA}")
        return True
    except sa.exc.DBAPIError:
        return bind.exec_driver_sql(
            "SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm')").scalar()


def upgrade() -> None:
    bind = op.get_bind()
    with op.batch_alter_table('snapshot_finding', schema=None) as batch_op:
        for name in SNAPSHOT_FKS:
            batch_op.drop_constraint(name, type_='foreignkey')
    if bind.dialect.name != "postgresql":
        return
    if _trigram_available(bind):
        schema = bind.exec_driver_sql(
            "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace "
            "WHERE e.extname = 'pg_trgm'").scalar()
        for name, column in TRIGRAM_INDEXES.items():
            op.execute(f'CREATE INDEX IF NOT EXISTS {name} ON finding USING gin ({column} "{schema}".gin_trgm_ops)')
    for table in VACUUM_EAGERLY:
        op.execute(f"ALTER TABLE {table} SET (autovacuum_vacuum_scale_factor = 0.02, "
                   "autovacuum_vacuum_insert_scale_factor = 0.02, autovacuum_analyze_scale_factor = 0.02)")


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        for table in VACUUM_EAGERLY:
            op.execute(f"ALTER TABLE {table} RESET (autovacuum_vacuum_scale_factor, "
                       "autovacuum_vacuum_insert_scale_factor, autovacuum_analyze_scale_factor)")
        for name in TRIGRAM_INDEXES:
            op.execute(f"DROP INDEX IF EXISTS {name}")
    with op.batch_alter_table('snapshot_finding', schema=None) as batch_op:
        for name, (columns, table, remote) in SNAPSHOT_FKS.items():
            batch_op.create_foreign_key(name, table, columns, remote)
