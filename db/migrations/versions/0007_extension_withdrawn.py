"""extension requests can be withdrawn; settle those left pending on closed, cancelled or ongoing findings

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29 19:50:00

A request left 待审批 on a finding that was closed, cancelled or set to 持续整改 before the
decision could never be decided again (issue 14, point 2). From now on the services withdraw
it; this migration settles the ones already in the database the same way, with an audit entry.
"""
from alembic import op
import sqlalchemy as sa

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

NAME = 'ck_extension_request_decision_allowed'
SETTLED_STATES = ('closed', 'cancelled', 'ongoing')


def _constraint(batch_op, codes: tuple[str, ...]) -> None:
    allowed = ", ".join(f"'{code}'" for code in codes)
    batch_op.create_check_constraint(op.f(NAME), sa.text(f"decision IN ({allowed})"))


def upgrade() -> None:
    with op.batch_alter_table('extension_request', schema=None) as batch_op:
        batch_op.drop_constraint(op.f(NAME), type_='check')
        _constraint(batch_op, ('pending', 'approved', 'rejected', 'withdrawn'))
    bind = op.get_bind()
    states = ", ".join(f"'{state}'" for state in SETTLED_STATES)
    stranded = bind.execute(sa.text(
        "SELECT r.id, r.finding_id, f.status FROM extension_request r JOIN finding f ON f.id = r.finding_id "
        f"WHERE r.decision = 'pending' AND f.status IN ({states})")).all()
    if not stranded:
        return
    now = sa.func.now() if bind.dialect.name == 'postgresql' else sa.text("datetime('now', 'localtime')")
    request = sa.table('extension_request', sa.column('id'), sa.column('decision'), sa.column('decided_at'),
                       sa.column('comment'))
    audit = sa.table('audit_log', sa.column('at'), sa.column('username'), sa.column('action'), sa.column('entity'),
                     sa.column('entity_id'), sa.column('finding_id'), sa.column('old', sa.JSON),
                     sa.column('new', sa.JSON), sa.column('note'))
    for request_id, finding_id, status in stranded:
        bind.execute(request.update().where(request.c.id == request_id)
                     .values(decision='withdrawn', decided_at=now))
        bind.execute(audit.insert().values(
            at=now, username='system', action='withdraw_extension', entity='ExtensionRequest', entity_id=request_id,
            finding_id=finding_id, old={'decision': 'pending'},
            new={'decision': 'withdrawn', 'finding_status': status}, note=''))


def downgrade() -> None:
    op.execute("UPDATE extension_request SET decision = 'pending' WHERE decision = 'withdrawn'")
    with op.batch_alter_table('extension_request', schema=None) as batch_op:
        batch_op.drop_constraint(op.f(NAME), type_='check')
        _constraint(batch_op, ('pending', 'approved', 'rejected'))
