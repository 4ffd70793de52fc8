"""会议快照: freeze the figures and every finding's status and light at one moment."""
from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import insert, literal, select
from sqlmodel import Session

from dashboard import clock, warnings
from dashboard.lifecycle import Action, Actor, authorize
from dashboard.services import queries
from dashboard.services.common import audit, get_or_404, plain, require_text
from dashboard.settings import load_settings
from db.models import Finding, Snapshot, SnapshotFinding


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_jsonable(item) for item in value]
    return plain(value)


def current_figures(session: Session, now: dt.datetime) -> dict[str, Any]:
    """Everything a meeting or a report shows, as plain JSON."""
    return _jsonable({
        "totals": queries.figures(session, now=now),
        "by_unit": queries.rollup(session, "unit", now=now),
        "by_source": queries.rollup(session, "source", now=now),
        "by_category": queries.rollup(session, "category", now=now),
        "by_township": queries.rollup(session, "township", now=now),
        "overdue": queries.overdue_list(session, now=now, limit=500),
        "trend": queries.weekly_trend(session, now=now),
        "stale_units": queries.stale_units(session, now=now),
    })


def take_snapshot(session: Session, actor: Actor, title: str) -> Snapshot:
    authorize(actor, Action.TAKE_SNAPSHOT)
    now = clock.now()
    snapshot = Snapshot(title=require_text(title, "field.title"), taken_at=now, as_of=now.date(),
                        taken_by_id=actor.id, figures=current_figures(session, now))
    session.add(snapshot)
    session.flush()
    settings = load_settings(session)
    rows = select(literal(snapshot.id), Finding.id, Finding.status, warnings.light(now, settings),
                  Finding.current_deadline, warnings.days_overdue(now.date()))
    session.execute(insert(SnapshotFinding).from_select(
        ["snapshot_id", "finding_id", "status", "light", "current_deadline", "days_overdue"], rows))
    audit(session, actor, "take_snapshot", snapshot, new={"title": snapshot.title, "as_of": plain(snapshot.as_of)})
    return snapshot


def get_snapshot(session: Session, snapshot_id: int) -> Snapshot:
    return get_or_404(session, Snapshot, snapshot_id)
