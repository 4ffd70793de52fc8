"""会议快照: freeze the figures and every finding's status and light at one moment."""
from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, is_dataclass
from typing import Any

from sqlalchemy import insert, literal, select
from sqlalchemy.orm import aliased
from sqlmodel import Session

from dashboard import clock, lights
from dashboard.figures import SCHEMA_VERSION
from dashboard.lifecycle import Action, Actor, authorize
from dashboard.services import quality, queries, rollups, views
from dashboard.services.household_figures import monitoring_figures
from dashboard.services.common import audit, get_or_404, plain, require_text
from dashboard.settings import load_settings
from dashboard.vocab import ExtensionDecision, VillageLevel
from db.models import ExtensionRequest, Finding, Snapshot, SnapshotFinding, Unit


def _jsonable(value: Any) -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        return _jsonable(asdict(value))
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_jsonable(item) for item in value]
    return plain(value)


LIST_LIMIT = 500  # the report lists at most this many extensions and repeats (totals give the rest)


def meeting_figures(session: Session, now: dt.datetime) -> dict[str, Any]:
    """What the meeting page shows live: a subset of a snapshot's figures, cheap to compute."""
    return _jsonable({
        "schema": SCHEMA_VERSION,
        "as_of": now,
        "totals": queries.figures(session, now=now).as_dict(),
        "by_unit": queries.rollup(session, "unit", now=now),
        "overdue": queries.overdue_list(session, now=now, limit=20),
        "trend": queries.weekly_trend(session, now=now),
        "villages": supervised_villages(session, now),
        "monitoring": monitoring_figures(session, now).as_dict(),
        "zero_change": quality.zero_change_figures(session, now.date()),
    })


def extensions_granted(session: Session) -> list[dict[str, Any]]:
    statement = (select(Finding.serial, Unit.name.label("unit"), ExtensionRequest.old_deadline,
                        ExtensionRequest.asked_deadline, ExtensionRequest.reason, ExtensionRequest.decided_at)
                 .join(Finding, Finding.id == ExtensionRequest.finding_id).join(Unit, Unit.id == Finding.lead_unit_id)
                 .where(ExtensionRequest.decision == ExtensionDecision.APPROVED.value)
                 .order_by(ExtensionRequest.decided_at.desc()).limit(LIST_LIMIT))
    return [dict(row._mapping) for row in session.execute(statement).all()]


def repeats(session: Session) -> list[dict[str, Any]]:
    earlier = aliased(Finding)
    statement = (select(Finding.serial, earlier.serial.label("repeat_of"), Finding.description,
                        Unit.name.label("unit"), Finding.status)
                 .join(earlier, earlier.id == Finding.repeat_of_id).join(Unit, Unit.id == Finding.lead_unit_id)
                 .where(lights.is_effective()).order_by(Finding.id.desc()).limit(LIST_LIMIT))
    return [dict(row._mapping) for row in session.execute(statement).all()]


def supervised_villages(session: Session, now: dt.datetime) -> list[dict[str, Any]]:
    rows = views.villages_overview(session, levels=[VillageLevel.PROVINCIAL.value, VillageLevel.KEY.value], now=now)
    return [{"township": row["village"].township, "name": row["village"].name, "level": row["village"].level,
             "status": row["village"].status, "poverty_rate": row["village"].poverty_rate,
             "remaining_poor": row["village"].remaining_poor, "open_findings": row["open_findings"],
             "red_findings": row["red_findings"]} for row in rows]


def current_figures(session: Session, now: dt.datetime) -> dict[str, Any]:
    """Everything a meeting or a report shows, as plain JSON."""
    return _jsonable({
        "schema": SCHEMA_VERSION,  # how to read these figures (dashboard.figures); absent: schema 1
        "as_of": now,
        "extensions": extensions_granted(session),
        "repeats": repeats(session),
        "villages": supervised_villages(session, now),
        "totals": queries.figures(session, now=now).as_dict(),
        "by_unit": queries.rollup(session, "unit", now=now),
        "by_source": queries.rollup(session, "source", now=now),
        "by_category": queries.rollup(session, "category", now=now),
        "by_township": queries.rollup(session, "township", now=now),
        "overdue": queries.overdue_list(session, now=now, limit=500),
        "trend": queries.weekly_trend(session, now=now),
        "stale_units": queries.stale_units(session, now=now),
        "monitoring": monitoring_figures(session, now).as_dict(),  # the household ledger, frozen with the rest
        "zero_change": quality.zero_change_figures(session, now.date()),  # 零变化 townships and counties
    })


def take_snapshot(session: Session, actor: Actor, title: str) -> Snapshot:
    authorize(actor, Action.TAKE_SNAPSHOT)
    now = clock.now()
    rollups.rebuild_if_stale(session, now)
    snapshot = Snapshot(title=require_text(title, "field.title"), taken_at=now, as_of=now.date(),
                        taken_by_id=actor.id, figures=current_figures(session, now))
    session.add(snapshot)
    session.flush()
    settings = load_settings(session)
    rows = select(literal(snapshot.id), Finding.id, Finding.status, lights.light(now, settings),
                  Finding.current_deadline, lights.days_overdue(now.date()))
    session.execute(insert(SnapshotFinding).from_select(
        ["snapshot_id", "finding_id", "status", "light", "current_deadline", "days_overdue"], rows))
    audit(session, actor, "take_snapshot", snapshot, new={"title": snapshot.title, "as_of": plain(snapshot.as_of)})
    return snapshot


def get_snapshot(session: Session, snapshot_id: int) -> Snapshot:
    return get_or_404(session, Snapshot, snapshot_id)


@dataclass(frozen=True)
class SnapshotListing:
    """A snapshot as the pick lists show it; its figures (a megabyte of JSON at a million findings) stay unread."""

    id: int
    title: str
    taken_at: dt.datetime


def list_snapshots(session: Session, limit: int = 50) -> list[SnapshotListing]:
    rows = session.execute(select(Snapshot.id, Snapshot.title, Snapshot.taken_at)
                           .order_by(Snapshot.taken_at.desc(), Snapshot.id.desc()).limit(limit)).all()
    return [SnapshotListing(id=row.id, title=row.title, taken_at=row.taken_at) for row in rows]
