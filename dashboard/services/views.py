"""Read models for the pages: a finding with everything around it, work lists, villages, choices."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import case, false, func, or_, select, true, union
from sqlmodel import Session

from dashboard import clock, lights
from dashboard.lifecycle import Action, Actor, Refusal, available_actions
from dashboard.figures import Figures
from dashboard.services import audit_text, findings, quality, rollups
from dashboard.services.common import get_or_404
from dashboard.services.queries import check_visible, in_scope
from dashboard.settings import load_settings
from dashboard.vocab import ACTIVE_STATES, EscalationKind, ExtensionDecision, Light, ReviewDecision, Status, VillageLevel
from db.models import (
    AuditLog,
    Category,
    ClosureReview,
    Escalation,
    Evidence,
    EvidenceContent,
    ExtensionRequest,
    Finding,
    FindingCoUnit,
    Measure,
    Progress,
    Source,
    Unit,
    User,
    Village,
)


def _names(session: Session, model, ids) -> dict[int, str]:
    ids = {i for i in ids if i is not None}
    if not ids:
        return {}
    column = model.display_name if model is User else model.name
    return dict(session.execute(select(model.id, column).where(model.id.in_(ids))).all())


@dataclass(frozen=True)
class FindingDetail:
    """Everything the detail page shows about one finding, read in one go."""

    finding: Finding
    light: str
    days_overdue: int
    source: Source
    category: str
    lead_unit: str
    co_unit_ids: list[int]
    co_units: list[str]
    village: Village | None
    measures: list[Measure]
    progress: list[Progress]
    evidence: list[Evidence]
    shared_evidence: set[str]           # hashes of this finding's files also offered for another (纸面销号)
    extensions: list[ExtensionRequest]
    pending_extension: ExtensionRequest | None
    reviews: list[ClosureReview]
    escalations: list[Escalation]
    audit: list[AuditLog]
    people: dict[int, str]              # user id -> display name, for every person named above
    repeat_of_serial: str | None
    repeated_by: list[tuple[int, str]]
    actions: dict[Action, Refusal | None]  # which forms the page may offer, and why not the others


def finding_detail(session: Session, actor: Actor, finding_id: int, now: dt.datetime | None = None) -> FindingDetail:
    """Everything the detail page shows; refuses a finding the actor may not see."""
    now = now or clock.now()
    check_visible(session, actor, finding_id)
    finding = get_or_404(session, Finding, finding_id)
    settings = load_settings(session)
    light, days_overdue = session.execute(select(lights.light(now, settings), lights.days_overdue(now.date()))
                                          .where(Finding.id == finding_id)).one()
    co_units = list(session.execute(select(FindingCoUnit.unit_id).where(FindingCoUnit.finding_id == finding_id))
                    .scalars())
    measures = list(session.execute(select(Measure).where(Measure.finding_id == finding_id).order_by(Measure.seq))
                    .scalars())
    progress = list(session.execute(select(Progress).where(Progress.finding_id == finding_id)
                                    .order_by(Progress.reported_at.desc(), Progress.id.desc())).scalars())
    evidence = list(session.execute(select(Evidence).where(Evidence.finding_id == finding_id)
                                    .order_by(Evidence.uploaded_at)).scalars())
    extensions = list(session.execute(select(ExtensionRequest).where(ExtensionRequest.finding_id == finding_id)
                                      .order_by(ExtensionRequest.requested_at)).scalars())
    reviews = list(session.execute(select(ClosureReview).where(ClosureReview.finding_id == finding_id)
                                   .order_by(ClosureReview.applied_at)).scalars())
    escalations = list(session.execute(select(Escalation).where(Escalation.finding_id == finding_id)
                                       .order_by(Escalation.issued_on)).scalars())
    audit = list(session.execute(select(AuditLog).where(AuditLog.finding_id == finding_id)
                                 .order_by(AuditLog.at, AuditLog.id)).scalars())
    shared_hashes = set(session.execute(
        select(Evidence.sha256).where(Evidence.sha256.in_([e.sha256 for e in evidence]),
                                      Evidence.finding_id != finding_id)).scalars()) if evidence else set()
    people = _names(session, User, [p.author_id for p in progress] + [e.uploaded_by_id for e in evidence]
                    + [x.requested_by_id for x in extensions] + [x.decided_by_id for x in extensions]
                    + [r.applied_by_id for r in reviews] + [r.decided_by_id for r in reviews]
                    + [e.issued_by_id for e in escalations] + [finding.created_by_id])
    repeat_serial = None
    if finding.repeat_of_id:
        repeat_serial = session.execute(select(Finding.serial).where(Finding.id == finding.repeat_of_id)).scalar()
    repeated_by = list(session.execute(select(Finding.id, Finding.serial).where(Finding.repeat_of_id == finding_id)))
    pending_extension = next((x for x in extensions if x.decision == ExtensionDecision.PENDING), None)
    facts = findings.facts_for(finding, co_unit_ids=co_units, pending_extension=pending_extension is not None,
                               open_measures=sum(not m.done for m in measures), evidence_count=len(evidence),
                               still_hit=quality.still_hit(session, finding_id))
    return FindingDetail(
        finding=finding,
        light=light,
        days_overdue=int(days_overdue or 0),
        source=session.get(Source, finding.source_id),
        category=session.get(Category, finding.category_id).name,
        lead_unit=session.get(Unit, finding.lead_unit_id).name,
        co_unit_ids=co_units,
        co_units=list(_names(session, Unit, co_units).values()),
        village=session.get(Village, finding.village_id) if finding.village_id else None,
        measures=measures,
        progress=progress,
        evidence=evidence,
        shared_evidence=shared_hashes,
        extensions=extensions,
        pending_extension=pending_extension,
        reviews=reviews,
        escalations=escalations,
        audit=audit,
        people=people,
        repeat_of_serial=repeat_serial,
        repeated_by=[(row.id, row.serial) for row in repeated_by],
        actions=available_actions(actor, facts),  # from what was read above, not counted again
    )


def audit_lines(session: Session, finding_id: int | None, lang: str = "zh",
                entries: list[AuditLog] | None = None) -> list[audit_text.AuditLine]:
    """The audit log of one finding as sentences in ``lang``, with the names of the people, units,
    categories and villages its entries point at looked up once."""
    if entries is None:
        entries = list(session.execute(select(AuditLog).where(AuditLog.finding_id == finding_id)
                                       .order_by(AuditLog.at, AuditLog.id)).scalars())
    wanted = audit_text.ids_in(entries)
    names = audit_text.Names(
        users=dict(session.execute(select(User.username, User.display_name)
                                   .where(User.username.in_({e.username for e in entries}))).all()),
        unit=_names(session, Unit, wanted["unit"]),
        category=_names(session, Category, wanted["category"]),
        village=_names(session, Village, wanted["village"]),
        source=dict(session.execute(select(Source.id, Source.title).where(Source.id.in_(wanted["source"]))).all())
        if wanted["source"] else {},
        finding=dict(session.execute(select(Finding.id, Finding.serial).where(Finding.id.in_(wanted["finding"]))).all())
        if wanted["finding"] else {},
    )
    return audit_text.sentences(entries, names, lang)


def evidence_file(session: Session, actor: Actor, evidence_id: int) -> tuple[Evidence, bytes]:
    evidence = get_or_404(session, Evidence, evidence_id)
    check_visible(session, actor, evidence.finding_id)
    data = session.execute(select(EvidenceContent.data).where(EvidenceContent.evidence_id == evidence_id)).scalar_one()
    return evidence, data


def evidence_bytes(session: Session, actor: Actor, evidence_id: int) -> bytes:
    """The stored file of one evidence row (checked like ``evidence_file``): read when a download is clicked."""
    return evidence_file(session, actor, evidence_id)[1]




@dataclass(frozen=True)
class WorkItem:
    """One open item on a unit's work list (我的待办), with what the unit is expected to do next."""

    id: int
    serial: str
    description: str
    status: Status
    light: Light
    current_deadline: dt.date | None
    lead_unit_id: int
    last_progress_at: dt.datetime | None
    days_overdue: int
    open_measures: int
    evidence_count: int
    next_step: str                      # catalogue key, e.g. next.upload_evidence


@dataclass(frozen=True)
class ReviewWaiting:
    """A closure application (销号申请) waiting for this inspector's decision."""

    review_id: int
    finding_id: int
    serial: str
    description: str
    unit: str
    applied_at: dt.datetime
    summary: str
    sent_back_count: int


@dataclass(frozen=True)
class ExtensionWaiting:
    """An extension request (延期申请) waiting for this inspector's decision."""

    request_id: int
    finding_id: int
    serial: str
    description: str
    unit: str
    requested_at: dt.datetime
    old_deadline: dt.date | None
    asked_deadline: dt.date
    reason: str


@dataclass(frozen=True)
class InspectorWork:
    reviews: list[ReviewWaiting]
    extensions: list[ExtensionWaiting]


@dataclass(frozen=True)
class EscalationDue:
    """A 督办 whose response date has come or comes soon; ``finding_id`` is None for one about a unit."""

    id: int
    kind: EscalationKind
    issued_on: dt.date
    respond_by: dt.date
    note: str
    unit: str
    finding_id: int | None
    serial: str | None
    status: Status | None


def department_work(session: Session, actor: Actor, now: dt.datetime | None = None,
                    limit: int = 200) -> list[WorkItem]:
    """A unit's open items: red, then yellow, then by deadline; with what is expected next."""
    now = now or clock.now()
    settings = load_settings(session)
    light = lights.light(now, settings)
    open_measures = (select(func.count()).where(Measure.finding_id == Finding.id, Measure.done == false())
                     .correlate(Finding).scalar_subquery())
    evidence_count = (select(func.count()).where(Evidence.finding_id == Finding.id).correlate(Finding)
                      .scalar_subquery())
    order = (case({Light.RED.value: 0, Light.YELLOW.value: 1}, value=light, else_=2),
             Finding.current_deadline.is_(None), Finding.current_deadline, Finding.id)
    # Order and cut the ids first; the per-item counts are computed for the kept items only. The unit's
    # active findings are gathered first (led: the (lead_unit_id, status) index; co-operated: the co-unit
    # index), a union rather than an OR, so PostgreSQL does not filter every active finding of the
    # province for the unit (240 ms at 1M findings).
    active = [s.value for s in ACTIVE_STATES]
    mine = union(
        select(Finding.id.label("id")).where(Finding.lead_unit_id == actor.unit_id, Finding.status.in_(active)),
        select(FindingCoUnit.finding_id.label("id")).join(Finding, Finding.id == FindingCoUnit.finding_id)
        .where(FindingCoUnit.unit_id == actor.unit_id, Finding.status.in_(active))).subquery()
    chosen = select(Finding.id).join(mine, mine.c.id == Finding.id).order_by(*order).limit(limit)
    statement = (select(Finding.id, Finding.serial, Finding.description, Finding.status, light.label("light"),
                        Finding.current_deadline, Finding.lead_unit_id, Finding.last_progress_at,
                        lights.days_overdue(now.date()).label("days_overdue"),
                        open_measures.label("open_measures"), evidence_count.label("evidence_count"))
                 .where(Finding.id.in_(chosen)).order_by(*order))
    items = []
    for row in session.execute(statement).all():
        status, open_count, evidence = Status(row.status), int(row.open_measures), int(row.evidence_count)
        items.append(WorkItem(
            id=row.id, serial=row.serial, description=row.description, status=status, light=Light(row.light),
            current_deadline=row.current_deadline, lead_unit_id=row.lead_unit_id,
            last_progress_at=row.last_progress_at, days_overdue=int(row.days_overdue or 0),
            open_measures=open_count, evidence_count=evidence,
            next_step=next_step(status, leads=row.lead_unit_id == actor.unit_id, open_measures=open_count,
                                evidence_count=evidence)))
    return items


def next_step(status: Status, *, leads: bool, open_measures: int, evidence_count: int) -> str:
    """Catalogue key of what a unit is expected to do next on an item it leads (or supports)."""
    if not leads:
        return "next.support_lead"
    if status == Status.PENDING_REVIEW:
        return "next.await_review"
    if status == Status.OPEN:
        return "next.first_progress"
    if open_measures:
        return "next.finish_measures"
    if not evidence_count:
        return "next.upload_evidence"
    return "next.apply_closure"


def inspector_work(session: Session, actor: Actor) -> InspectorWork:
    """Closure applications and extension requests waiting for a decision this inspector may take
    (separation of duties: none of a finding their unit leads or co-operates on)."""
    reviews = session.execute(
        select(ClosureReview.id, ClosureReview.finding_id, Finding.serial, Finding.description,
               Unit.name.label("unit"), ClosureReview.applied_at, ClosureReview.summary, Finding.sent_back_count)
        .join(Finding, Finding.id == ClosureReview.finding_id).join(Unit, Unit.id == Finding.lead_unit_id)
        .where(ClosureReview.decision == ReviewDecision.PENDING.value, in_scope(actor, Action.CLOSE))
        .order_by(ClosureReview.applied_at)).all()
    extensions = session.execute(
        select(ExtensionRequest.id, ExtensionRequest.finding_id, Finding.serial, Finding.description,
               Unit.name.label("unit"), ExtensionRequest.requested_at, ExtensionRequest.old_deadline,
               ExtensionRequest.asked_deadline, ExtensionRequest.reason)
        .join(Finding, Finding.id == ExtensionRequest.finding_id)
        .join(Unit, Unit.id == Finding.lead_unit_id)
        .where(ExtensionRequest.decision == ExtensionDecision.PENDING.value, in_scope(actor, Action.DECIDE_EXTENSION))
        .order_by(ExtensionRequest.requested_at)).all()
    return InspectorWork(
        reviews=[ReviewWaiting(review_id=r.id, finding_id=r.finding_id, serial=r.serial, description=r.description,
                               unit=r.unit, applied_at=r.applied_at, summary=r.summary or "",
                               sent_back_count=int(r.sent_back_count or 0)) for r in reviews],
        extensions=[ExtensionWaiting(request_id=r.id, finding_id=r.finding_id, serial=r.serial,
                                     description=r.description, unit=r.unit, requested_at=r.requested_at,
                                     old_deadline=r.old_deadline, asked_deadline=r.asked_deadline,
                                     reason=r.reason or "") for r in extensions])


def escalations_due(session: Session, now: dt.datetime | None = None, within_days: int = 14) -> list[EscalationDue]:
    """督办 whose response date has come (or comes soon) on findings still open."""
    today = (now or clock.now()).date()
    statement = (select(Escalation.id, Escalation.kind, Escalation.issued_on, Escalation.respond_by, Escalation.note,
                        Finding.id.label("finding_id"), Finding.serial, Finding.status, Unit.name.label("unit"))
                 .join(Unit, Unit.id == Escalation.unit_id)
                 .outerjoin(Finding, Finding.id == Escalation.finding_id)
                 .where(Escalation.respond_by.is_not(None),
                        Escalation.respond_by <= today + dt.timedelta(days=within_days),
                        or_(Finding.id.is_(None), Finding.status.in_([s.value for s in ACTIVE_STATES])))
                 .order_by(Escalation.respond_by))
    return [EscalationDue(id=r.id, kind=EscalationKind(r.kind), issued_on=r.issued_on, respond_by=r.respond_by,
                          note=r.note or "", unit=r.unit, finding_id=r.finding_id, serial=r.serial,
                          status=Status(r.status) if r.status else None)
            for r in session.execute(statement).all()]


def villages_overview(session: Session, *, township: str | None = None, levels: list[str] | None = None,
                      now: dt.datetime | None = None) -> list[dict]:
    """Every village with its metrics and its open and red findings."""
    now = now or clock.now()
    statement = select(Village)
    if township:
        statement = statement.where(Village.township == township)
    if levels:
        statement = statement.where(Village.level.in_(levels))
    level_order = case({VillageLevel.PROVINCIAL.value: 0, VillageLevel.KEY.value: 1}, value=Village.level, else_=2)
    villages = list(session.execute(statement.order_by(level_order, Village.township, Village.name)).scalars())
    counts = _village_counts(session, [v.id for v in villages], now)
    return [{"village": village, **counts.get(village.id, {"findings": 0, "open_findings": 0, "red_findings": 0})}
            for village in villages]


def _village_counts(session: Session, village_ids: list[int], now: dt.datetime) -> dict[int, dict[str, int]]:
    """Findings (not cancelled), open and red findings per village: from the roll-ups when built for today."""
    active = [s.value for s in ACTIVE_STATES]
    if rollups.is_fresh(session, now):
        result: dict[int, dict[str, int]] = {}
        for key, values in rollups.grouped(session, "village", [str(i) for i in village_ids]).items():
            result[int(key)] = {"findings": Figures.from_mapping(values).effective,
                                "open_findings": sum(values[s] for s in active), "red_findings": values["red"]}
        return result
    light = lights.light(now, load_settings(session))
    statement = (select(Finding.village_id, func.count(),
                        func.sum(case((Finding.status.in_(active), 1), else_=0)),
                        func.sum(case((light == Light.RED.value, 1), else_=0)))
                 .where(Finding.village_id.in_(village_ids), lights.is_effective())
                 .group_by(Finding.village_id))
    return {village_id: {"findings": int(total), "open_findings": int(open_ or 0), "red_findings": int(red or 0)}
            for village_id, total, open_, red in session.execute(statement).all()}


def village_history(session: Session, village_id: int, actor: Actor) -> list[dict]:
    from dashboard.services.queries import LedgerFilter, ledger_page

    rows, _ = ledger_page(session, actor, LedgerFilter(village_id=village_id), page_size=500, sort="created")
    return rows


def choices(session: Session) -> dict[str, Any]:
    """Options for the select boxes: units, categories, sources, townships. Villages are many
    (20,000 in a province), so they are offered per township with ``villages_in``."""
    return {
        "units": dict(session.execute(select(Unit.id, Unit.name).where(Unit.active == true()).order_by(Unit.id)).all()),
        "categories": dict(session.execute(select(Category.id, Category.name).where(Category.active == true())
                                           .order_by(Category.sort_order)).all()),
        "sources": dict(session.execute(select(Source.id, Source.title).order_by(Source.received_date.desc())).all()),
        "townships": townships(session),
    }


def townships(session: Session) -> list[str]:
    """Townships of the village register and of findings that name a township only (imported ledgers)."""
    registered = session.execute(select(Village.township).distinct()).scalars()
    if rollups.is_fresh(session):  # PostgreSQL has no skip scan: a distinct over the findings reads them all
        named = rollups.keys(session, "township")
    else:
        named = list(session.execute(select(Finding.township).where(Finding.township.is_not(None)).distinct()).scalars())
    return sorted(set(registered) | set(named))


def villages_in(session: Session, township: str | None) -> dict[int, str]:
    """The villages of one township, by name; none until a township is chosen."""
    if not township:
        return {}
    return dict(session.execute(select(Village.id, Village.name).where(Village.township == township)
                                .order_by(Village.name)).all())


def village_label(session: Session, village_id: int) -> str:
    row = session.execute(select(Village.township, Village.name).where(Village.id == village_id)).one()
    return f"{row.township}·{row.name}"


def users(session: Session) -> list[User]:
    return list(session.execute(select(User).order_by(User.role, User.username)).scalars())


def finding_id_by_serial(session: Session, serial: str) -> int | None:
    """The finding a serial (ZG-2026-0001) names, for the lookup box; None when there is none."""
    return session.execute(select(Finding.id).where(Finding.serial == serial.strip().upper())).scalar()


def village_audit(session: Session, village_id: int) -> list[AuditLog]:
    """The changes recorded on one village (status, level, figures), oldest first."""
    return list(session.execute(select(AuditLog).where(AuditLog.entity == "Village", AuditLog.entity_id == village_id)
                                .order_by(AuditLog.at)).scalars())
