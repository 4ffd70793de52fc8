"""snapshot rows without a btree key on PostgreSQL (a BRIN index on the snapshot instead); approved
extensions by decision date

A snapshot writes one row per finding. At a million findings, maintaining the (snapshot_id, finding_id)
btree was 1.4 of the insert's 2.4 seconds (EXPLAIN ANALYZE: 2.37 s with it, 0.98 s without). The rows are
read only a whole snapshot at a time, and a snapshot's rows are written together by one INSERT … SELECT
from the finding table (unique ids) under a snapshot id created in the same transaction, so neither the
uniqueness check nor a lookup by finding is needed: a BRIN index on snapshot_id (a few pages; the rows
of one snapshot lie together) finds a snapshot's rows. SQLite keeps its primary key (rowid tables).

The snapshot and the report list the newest 500 approved extensions: (decision, decided_at) reads them in
order instead of sorting all 76,000 approved ones (0.5 s at 1M findings).

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-29 23:30:00
"""
from alembic import op

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None

BRIN = "ix_snapshot_finding_snapshot_brin"


def upgrade() -> None:
    op.create_index("ix_extension_request_decision_decided_at", "extension_request", ["decision", "decided_at"])
    if op.get_bind().dialect.name != "postgresql":
        return
    op.drop_constraint("pk_snapshot_finding", "snapshot_finding", type_="primary")
    op.create_index(BRIN, "snapshot_finding", ["snapshot_id"], postgresql_using="brin")


def downgrade() -> None:
    op.drop_index("ix_extension_request_decision_decided_at", table_name="extension_request")
    if op.get_bind().dialect.name != "postgresql":
        return
    op.drop_index(BRIN, table_name="snapshot_finding")
    op.create_primary_key("pk_snapshot_finding", "snapshot_finding", ["snapshot_id", "finding_id"])
