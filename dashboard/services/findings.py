"""Services for sources and findings: the whole lifecycle of the SPEC.

Each function takes the open session of one unit of work (``dashboard.services.unit_of_work``), the
acting user, and what the user entered. It checks role, unit and state through
``dashboard.lifecycle.authorize``, validates the input, writes, and records the audit log.
"""
from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Iterable, Sequence

from sqlalchemy import false
from sqlmodel import Session, func, select

from dashboard import clock
from dashboard.errors import InvalidState, NotFound, Phrase, ValidationFailed
from dashboard.lifecycle import Action, Actor, FindingFacts, authorize, enforce, extension_decidable
from dashboard.services import evidence as evidence_files
from dashboard.services import notifications
from dashboard.services import quality
from dashboard.services.common import (apply_changes, audit, check_version, code, get_or_404, next_number, plain,
                                       record_dict, require_text)
from dashboard.settings import load_settings
from dashboard.vocab import (
    EscalationKind,
    ExtensionDecision,
    Priority,
    RectType,
    ReviewDecision,
    SourceKind,
    Status,
)
from db.models import (
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
    SerialCounter,
    Source,
    Unit,
    Village,
)

SERIAL_PREFIX = "ZG"


@dataclass
class MeasureInput:
    text: str
    deadline: dt.date | None = None


@dataclass
class MeasureEdit:
    """One row of the measures table of the edit form: ``id`` None for a new measure."""

    text: str
    deadline: dt.date | None = None
    id: int | None = None


@dataclass
class UploadedFile:
    filename: str
    data: bytes
    content_type: str | None = None


@dataclass
class FindingInput:
    """What an inspector enters when logging a finding."""

    source_id: int
    category_id: int
    description: str
    lead_unit_id: int
    measures: Sequence[MeasureInput | str]
    deadline: dt.date | None = None
    rect_type: RectType | str = RectType.DEADLINE
    priority: Priority | str = Priority.NORMAL
    co_unit_ids: Sequence[int] = field(default_factory=tuple)
    township: str | None = None
    village_id: int | None = None
    responsible_leader: str = ""
    responsible_person: str = ""
    remarks: str = ""
    repeat_of_id: int | None = None


# --- helpers ---------------------------------------------------------------------------------

def co_unit_ids(session: Session, finding_id: int) -> list[int]:
    return list(session.exec(select(FindingCoUnit.unit_id).where(FindingCoUnit.finding_id == finding_id)).all())


def _authorize_on(session: Session, actor: Actor, action: Action, finding: Finding) -> Status | None:
    return authorize(actor, action, status=finding.status, lead_unit_id=finding.lead_unit_id,
                     co_unit_ids=co_unit_ids(session, finding.id))


def facts_for(finding: Finding, *, co_unit_ids: Iterable[int], pending_extension: bool, open_measures: int,
              evidence_count: int, still_hit: Sequence[str] = ()) -> FindingFacts:
    """What the policy (``lifecycle.available_actions``) needs to know about a finding."""
    return FindingFacts(
        status=Status(finding.status), lead_unit_id=finding.lead_unit_id,
        co_unit_ids=frozenset(co_unit_ids), long_term=finding.rect_type == RectType.LONG_TERM,
        has_deadline=finding.current_deadline is not None, pending_extension=pending_extension,
        open_measures=open_measures, evidence_count=evidence_count, still_hit=tuple(still_hit))


def facts_of(session: Session, finding: Finding) -> FindingFacts:
    """The policy's facts, counted in the database as stored now (what a write checks)."""
    def count(model, *where) -> int:
        return session.execute(select(func.count()).select_from(model).where(*where)).scalar_one()

    return facts_for(
        finding, co_unit_ids=co_unit_ids(session, finding.id),
        pending_extension=count(ExtensionRequest, ExtensionRequest.finding_id == finding.id,
                                ExtensionRequest.decision == ExtensionDecision.PENDING.value) > 0,
        open_measures=count(Measure, Measure.finding_id == finding.id, Measure.done == false()),
        evidence_count=count(Evidence, Evidence.finding_id == finding.id),
        still_hit=quality.still_hit(session, finding.id))


def _load_for(session: Session, actor: Actor, action: Action, finding_id: int,
              expected_version: int | None = None) -> tuple[Finding, Status | None]:
    """Lock the finding, enforce the policy's answer for this action, then check the version."""
    finding = get_or_404(session, Finding, finding_id, lock=True)
    target = enforce(actor, action, facts_of(session, finding))
    check_version(session, finding, expected_version)
    return finding, target


# Fields that record activity, not the state decisions are made on: writing them does not bump the
# finding's version, so a unit that keeps reporting never makes an inspector's open form stale.
BOOKKEEPING_FIELDS = ("updated_at", "last_progress_at")


def _move(session: Session, actor: Actor, action: Action, finding: Finding, target: Status | None,
          extra: dict | None = None, note: str = "") -> None:
    """Change status (and any extra fields) of a finding and log it.

    The version is bumped only when something a decision depends on changes (status, deadline,
    description, units …), not by the bookkeeping of a progress report or an upload. A move into a
    state where an extension can no longer be decided withdraws the pending request.
    """
    changes = dict(extra or {})
    if target is not None:
        changes["status"] = target.value
    material = {key: value for key, value in changes.items() if key not in BOOKKEEPING_FIELDS}
    old, new = apply_changes(finding, material)
    for key in BOOKKEEPING_FIELDS:
        if key in changes:
            setattr(finding, key, changes[key])
    finding.updated_at = clock.now()
    session.add(finding)
    if new:
        audit(session, actor, action.value, finding, old=old, new=new, finding_id=finding.id, note=note)
    if target is not None and not extension_decidable(target):
        _withdraw_pending_extensions(session, actor, finding, target)


def _withdraw_pending_extensions(session: Session, actor: Actor, finding: Finding, target: Status) -> None:
    """A request nobody can decide any more is settled as withdrawn, and the audit log says why."""
    pending = session.exec(select(ExtensionRequest).where(
        ExtensionRequest.finding_id == finding.id, ExtensionRequest.decision == ExtensionDecision.PENDING.value)
        .with_for_update()).all()
    for request in pending:
        old, new = apply_changes(request, {"decision": ExtensionDecision.WITHDRAWN.value, "decided_by_id": actor.id,
                                           "decided_at": clock.now()})
        session.add(request)
        audit(session, actor, "withdraw_extension", request, old=old, new=new | {"finding_status": target.value},
              finding_id=finding.id)


def next_serial(session: Session, year: int) -> str:
    """Take the next serial for ``year``; the counter row is locked so no number is issued twice."""
    return f"{SERIAL_PREFIX}-{year}-{next_number(session, SerialCounter, year=year):04d}"


def _measure_inputs(measures: Sequence[MeasureInput | str], deadline: dt.date | None,
                    received: dt.date | None = None) -> list[MeasureInput]:
    """Measures with text, each with its own deadline (the finding's when none is given).

    A measure cannot be due after the finding: the finding cannot be applied for closure while a
    measure is open, so the finding's deadline is the latest any measure may have (an extension
    moves the finding's deadline, and with it that limit). Nor before the feedback was received.
    """
    cleaned = []
    for item in measures:
        item = MeasureInput(item) if isinstance(item, str) else item
        if item.text and item.text.strip():
            cleaned.append(MeasureInput(item.text.strip(), item.deadline or deadline))
    if not cleaned:
        raise ValidationFailed("error.required", field=Phrase("field.measures"))
    for item in cleaned:
        _check_measure_deadline(item.text, item.deadline, deadline, received)
    return cleaned


def _check_measure_deadline(text: str, due: dt.date | None, deadline: dt.date | None,
                           received: dt.date | None) -> None:
    if due is None:
        return
    if deadline is not None and due > deadline:
        raise ValidationFailed("error.measure_after_deadline", measure=_short(text), due=due.isoformat(),
                               deadline=deadline.isoformat())
    if received is not None and due < received:
        raise ValidationFailed("error.measure_before_received", measure=_short(text), due=due.isoformat(),
                               received=received.isoformat())


def _short(text: str, limit: int = 20) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


# --- sources ----------------------------------------------------------------------------------

class DuplicateSource(ValidationFailed):
    """The same source (kind, title, issuing body, date) exists already: ``existing`` is it."""

    def __init__(self, existing: Source) -> None:
        self.existing_id = existing.id
        super().__init__("error.duplicate_source", title=existing.title, date=existing.received_date.isoformat())


def same_source(session: Session, kind: str, title: str, issuing_body: str, received_date: dt.date) -> Source | None:
    """An exact duplicate of a source about to be created (pressing 创建 twice), if there is one."""
    return session.exec(select(Source).where(
        Source.kind == kind, Source.title == title.strip(), Source.issuing_body == (issuing_body or "").strip(),
        Source.received_date == received_date).order_by(Source.id)).first()


def create_source(session: Session, actor: Actor, *, kind: SourceKind | str, title: str,
                  received_date: dt.date, issuing_body: str = "", report_due_date: dt.date | None = None,
                  notes: str = "") -> Source:
    authorize(actor, Action.CREATE_SOURCE)
    kind_code = code(SourceKind, kind, "field.kind").value
    title = require_text(title, "field.title")
    existing = same_source(session, kind_code, title, issuing_body, received_date)
    if existing is not None:
        raise DuplicateSource(existing)
    source = Source(kind=kind_code, title=title,
                    issuing_body=issuing_body.strip(), received_date=received_date,
                    report_due_date=report_due_date, notes=notes.strip(), created_by_id=actor.id,
                    created_at=clock.now())
    session.add(source)
    audit(session, actor, "create", source, new=record_dict(source))
    return source


def set_source_report(session: Session, actor: Actor, source_id: int, expected_version: int | None, *,
                      report_due_date: dt.date | None, report_sent_on: dt.date | None) -> Source:
    """A source's 整改情况报告: its due date, and the day it was sent (the reminders stop). Who may create a
    source manages its report; a report is not sent before the source was received, nor in the future."""
    authorize(actor, Action.CREATE_SOURCE)
    source = get_or_404(session, Source, source_id, lock=True)
    check_version(session, source, expected_version)
    if report_due_date is not None and report_due_date < source.received_date:
        raise ValidationFailed("error.report_due_before_received")
    if report_sent_on is not None and not source.received_date <= report_sent_on <= clock.today():
        raise ValidationFailed("error.report_sent_on_range", received=source.received_date.isoformat())
    sent_by = source.report_sent_by_id if source.report_sent_on == report_sent_on else actor.id
    old, new = apply_changes(source, {"report_due_date": report_due_date, "report_sent_on": report_sent_on,
                                      "report_sent_by_id": sent_by if report_sent_on else None})
    if new:
        audit(session, actor, "source_report", source, old=old, new=new)
    return source


def get_source(session: Session, source_id: int) -> Source:
    return get_or_404(session, Source, source_id)


def source_reports(session: Session) -> list[Source]:
    """The sources with a report due: unsent first (soonest due first), then the sent ones, newest first."""
    rows = session.exec(select(Source).where(Source.report_due_date.is_not(None))).all()
    return sorted(rows, key=lambda s: (s.report_sent_on is not None,
                                       s.report_due_date if s.report_sent_on is None else dt.date.max - s.report_due_date,
                                       s.id))


# --- logging and editing findings -----------------------------------------------------------------

def log_finding(session: Session, actor: Actor, data: FindingInput) -> Finding:
    """登记问题 with its measures. With ``repeat_of_id`` it is a 屡改屡犯 of a closed finding."""
    authorize(actor, Action.LOG_REPEAT if data.repeat_of_id else Action.LOG_FINDING)
    source = get_or_404(session, Source, data.source_id)
    get_or_404(session, Category, data.category_id)
    get_or_404(session, Unit, data.lead_unit_id)
    rect_type = code(RectType, data.rect_type, "field.rect_type")
    description = require_text(data.description, "field.description")
    if rect_type is not RectType.LONG_TERM and data.deadline is None:
        raise ValidationFailed("error.required", field=Phrase("field.deadline"))
    if data.deadline is not None and data.deadline < source.received_date:
        raise ValidationFailed("error.deadline_before_received")
    co_units = sorted(set(data.co_unit_ids))
    if data.lead_unit_id in co_units:
        raise ValidationFailed("error.self_lead_cooperate")
    for unit_id in co_units:
        get_or_404(session, Unit, unit_id)
    measures = _measure_inputs(data.measures, data.deadline, source.received_date)
    township = (data.township or "").strip() or None
    county = ""
    if data.village_id is not None:
        village = get_or_404(session, Village, data.village_id)
        township, county = village.township, village.county
    if data.repeat_of_id is not None:
        earlier = get_or_404(session, Finding, data.repeat_of_id)
        enforce(actor, Action.LOG_REPEAT, facts_of(session, earlier))  # only a closed finding can be repeated

    now = clock.now()
    finding = Finding(
        serial=next_serial(session, now.year), source_id=source.id, category_id=data.category_id,
        description=description, county=county, township=township, village_id=data.village_id,
        lead_unit_id=data.lead_unit_id, responsible_leader=data.responsible_leader.strip(),
        responsible_person=data.responsible_person.strip(), rect_type=rect_type.value,
        priority=code(Priority, data.priority, "field.priority").value, original_deadline=data.deadline,
        current_deadline=data.deadline, status=Status.OPEN.value, remarks=data.remarks.strip(),
        repeat_of_id=data.repeat_of_id, created_by_id=actor.id, created_at=now, updated_at=now,
    )
    session.add(finding)
    session.flush()
    for unit_id in co_units:
        session.add(FindingCoUnit(finding_id=finding.id, unit_id=unit_id))
    for seq, item in enumerate(measures, start=1):
        session.add(Measure(finding_id=finding.id, seq=seq, text=item.text, deadline=item.deadline))
    new = record_dict(finding) | {"co_unit_ids": co_units,
                                  "measures": [_measure_text(m.text, m.deadline) for m in measures]}
    audit(session, actor, "log_repeat" if data.repeat_of_id else "create", finding, new=new, finding_id=finding.id)
    return finding


EDITABLE_FIELDS = ("description", "category_id", "township", "village_id", "lead_unit_id",
                   "responsible_leader", "responsible_person", "priority", "remarks")


def edit_finding(session: Session, actor: Actor, finding_id: int, expected_version: int | None,
                 changes: dict, co_units: Iterable[int] | None = None,
                 measures: Sequence[MeasureEdit] | None = None) -> Finding:
    """Correct the fields of an open finding and its open measures. The deadline in force changes
    only by extension."""
    finding, _ = _load_for(session, actor, Action.EDIT_FINDING, finding_id, expected_version)
    unknown = set(changes) - set(EDITABLE_FIELDS)
    if unknown:
        raise ValidationFailed("error.unknown_value", field="field", value=", ".join(sorted(unknown)))
    if "description" in changes:
        changes["description"] = require_text(changes["description"], "field.description")
    if "priority" in changes:
        changes["priority"] = code(Priority, changes["priority"], "field.priority").value
    if changes.get("village_id") is not None:
        changes["township"] = get_or_404(session, Village, changes["village_id"]).township
    if "category_id" in changes:
        get_or_404(session, Category, changes["category_id"])
    if "lead_unit_id" in changes:
        get_or_404(session, Unit, changes["lead_unit_id"])
    lead = changes.get("lead_unit_id", finding.lead_unit_id)
    if lead in (set(co_units) if co_units is not None else set(co_unit_ids(session, finding.id))):
        raise ValidationFailed("error.self_lead_cooperate")
    _move(session, actor, Action.EDIT_FINDING, finding, None, changes)
    if co_units is not None:
        _replace_co_units(session, actor, finding, sorted(set(co_units)))
    if measures is not None:
        _replace_measures(session, actor, finding, measures)
    return finding


def _measure_text(text: str, deadline: dt.date | None) -> str:
    return f"{text}（{deadline.isoformat()}）" if deadline else text


def _replace_measures(session: Session, actor: Actor, finding: Finding, wanted: Sequence[MeasureEdit]) -> None:
    """Open measures may be reworded, re-dated, added or dropped; a measure already done stays as it is."""
    current = {m.id: m for m in session.exec(select(Measure).where(Measure.finding_id == finding.id)
                                             .order_by(Measure.seq).with_for_update()).all()}
    received = session.exec(select(Source.received_date).where(Source.id == finding.source_id)).one()
    rows = [row for row in wanted if (row.text or "").strip()]
    kept_ids = {row.id for row in rows if row.id is not None}
    for row in rows:
        if row.id is not None and row.id not in current:
            raise NotFound("error.not_found", what=Phrase("what.measure"), id=row.id)
    done_dropped = [m for m in current.values() if m.done and m.id not in kept_ids]
    if done_dropped:
        raise InvalidState("error.measure_done_fixed", measure=_short(done_dropped[0].text))
    if not rows:
        raise ValidationFailed("error.required", field=Phrase("field.measures"))
    next_seq = max((m.seq for m in current.values()), default=0) + 1
    for row in rows:
        text = row.text.strip()
        due = row.deadline or finding.current_deadline
        measure = current.get(row.id) if row.id is not None else None
        if measure is not None and measure.done:
            if (text, due) != (measure.text, measure.deadline):
                raise InvalidState("error.measure_done_fixed", measure=_short(measure.text))
            continue
        _check_measure_deadline(text, due, finding.current_deadline, received)
        if measure is None:
            measure = Measure(finding_id=finding.id, seq=next_seq, text=text, deadline=due)
            next_seq += 1
            session.add(measure)
            audit(session, actor, "add_measure", measure, new={"text": text, "deadline": plain(due)},
                  finding_id=finding.id)
            continue
        old, new = apply_changes(measure, {"text": text, "deadline": due})
        if new:
            session.add(measure)
            audit(session, actor, "edit_measure", measure, old=old, new=new, finding_id=finding.id)
    for measure in current.values():
        if measure.id not in kept_ids and not measure.done:
            audit(session, actor, "remove_measure", measure, old={"text": measure.text,
                                                                 "deadline": plain(measure.deadline)},
                  finding_id=finding.id)
            session.delete(measure)


def _replace_co_units(session: Session, actor: Actor, finding: Finding, wanted: list[int]) -> None:
    if finding.lead_unit_id in wanted:
        raise ValidationFailed("error.self_lead_cooperate")
    current = co_unit_ids(session, finding.id)
    if sorted(current) == wanted:
        return
    for link in session.exec(select(FindingCoUnit).where(FindingCoUnit.finding_id == finding.id)).all():
        session.delete(link)
    session.flush()
    for unit_id in wanted:
        get_or_404(session, Unit, unit_id)
        session.add(FindingCoUnit(finding_id=finding.id, unit_id=unit_id))
    audit(session, actor, "edit_co_units", finding, old={"co_unit_ids": sorted(current)},
          new={"co_unit_ids": wanted}, finding_id=finding.id)


# --- the responsible unit's work ---------------------------------------------------------------

def report_progress(session: Session, actor: Actor, finding_id: int, *, done_text: str, next_text: str = "",
                    percent: int = 0, files: Sequence[UploadedFile] = (),
                    expected_version: int | None = None) -> Progress:
    """整改进展 with optional evidence. The first report moves 待整改 to 整改中. With ``expected_version`` (the API),
    a report written against a finding someone has changed since is refused."""
    finding, target = _load_for(session, actor, Action.REPORT_PROGRESS, finding_id, expected_version)
    text = require_text(done_text, "field.progress_text")
    if not 0 <= int(percent) <= 100:
        raise ValidationFailed("error.percent_range")
    now = clock.now()
    progress = Progress(finding_id=finding.id, unit_id=actor.unit_id, author_id=actor.id, reported_at=now,
                        done_text=text, next_text=(next_text or "").strip(), percent=int(percent))
    session.add(progress)
    audit(session, actor, "report_progress", progress, new=record_dict(progress), finding_id=finding.id)
    for upload in files:
        _store_evidence(session, actor, finding, upload, progress_id=progress.id)
    _move(session, actor, Action.REPORT_PROGRESS, finding, target, {"last_progress_at": now})
    return progress


def attach_evidence(session: Session, actor: Actor, finding_id: int, upload: UploadedFile) -> Evidence:
    finding, target = _load_for(session, actor, Action.ATTACH_EVIDENCE, finding_id)
    evidence = _store_evidence(session, actor, finding, upload)
    _move(session, actor, Action.ATTACH_EVIDENCE, finding, target)
    return evidence


def _store_evidence(session: Session, actor: Actor, finding: Finding, upload: UploadedFile,
                    progress_id: int | None = None) -> Evidence:
    settings = load_settings(session)
    name = PurePath(upload.filename or "").name or "file"
    extension = PurePath(name).suffix.lower().lstrip(".")
    if extension not in settings.allowed_extensions:
        raise ValidationFailed("error.file_type", ext=extension or "?", allowed=list(settings.allowed_extensions))
    size = len(upload.data)
    if size == 0:
        raise ValidationFailed("error.file_empty", name=name)
    if size > settings.max_upload_mb * 1024 * 1024:
        raise ValidationFailed("error.file_too_large", name=name, size_mb=round(size / 1048576, 1),
                               limit_mb=settings.max_upload_mb)
    content_type = evidence_files.check_upload(name, extension, upload.data).content_type  # by its bytes
    evidence = Evidence(finding_id=finding.id, progress_id=progress_id, filename=name, content_type=content_type,
                        size=size, sha256=hashlib.sha256(upload.data).hexdigest(), uploaded_by_id=actor.id,
                        uploaded_at=clock.now())
    session.add(evidence)
    session.flush()
    session.add(EvidenceContent(evidence_id=evidence.id, data=upload.data))
    audit(session, actor, "attach_evidence", evidence, new=record_dict(evidence), finding_id=finding.id)
    return evidence


def tick_measure(session: Session, actor: Actor, measure_id: int, expected_version: int | None) -> Measure:
    measure = get_or_404(session, Measure, measure_id, lock=True)
    finding, target = _load_for(session, actor, Action.TICK_MEASURE, measure.finding_id)
    check_version(session, measure, expected_version)
    if measure.done:
        raise InvalidState("error.measure_done")
    old, new = apply_changes(measure, {"done": True, "done_at": clock.now(), "done_by_id": actor.id})
    audit(session, actor, "tick_measure", measure, old=old, new=new, finding_id=finding.id)
    _move(session, actor, Action.TICK_MEASURE, finding, target)
    return measure


def request_extension(session: Session, actor: Actor, finding_id: int, *, asked_deadline: dt.date,
                      reason: str) -> ExtensionRequest:
    finding, _ = _load_for(session, actor, Action.REQUEST_EXTENSION, finding_id)
    reason = require_text(reason, "field.reason")
    current = finding.current_deadline
    if current is None:  # the policy refuses an extension without a deadline in force; said again for the types
        raise ValidationFailed("error.no_deadline")
    if asked_deadline <= current:
        raise ValidationFailed("error.extension_not_later", current=current.isoformat())
    request = ExtensionRequest(finding_id=finding.id, requested_by_id=actor.id, requested_at=clock.now(),
                               reason=reason, old_deadline=finding.current_deadline, asked_deadline=asked_deadline)
    session.add(request)
    audit(session, actor, "request_extension", request, new=record_dict(request), finding_id=finding.id)
    return request


def decide_extension(session: Session, actor: Actor, request_id: int, *, approve: bool, comment: str = "",
                     expected_version: int | None = None) -> ExtensionRequest:
    """批准 changes the deadline in force (the original is kept); 驳回 needs a comment."""
    # the finding is locked before its request, in the same order as closing (which withdraws the request)
    request = get_or_404(session, ExtensionRequest, request_id)
    get_or_404(session, Finding, request.finding_id, lock=True)
    session.refresh(request, with_for_update=True)
    if request.decision != ExtensionDecision.PENDING:
        raise InvalidState("error.extension_decided")  # this request, by someone else meanwhile
    finding, _ = _load_for(session, actor, Action.DECIDE_EXTENSION, request.finding_id, expected_version)
    if not approve:
        comment = require_text(comment, "field.reason")
    decision = ExtensionDecision.APPROVED if approve else ExtensionDecision.REJECTED
    old, new = apply_changes(request, {"decision": decision.value, "decided_by_id": actor.id,
                                       "decided_at": clock.now(), "comment": (comment or "").strip()})
    audit(session, actor, "decide_extension", request, old=old, new=new, finding_id=finding.id)
    if approve:
        _move(session, actor, Action.DECIDE_EXTENSION, finding, None,
              {"current_deadline": request.asked_deadline, "extension_count": finding.extension_count + 1})
    notifications.on_extension_decided(session, finding, request)
    return request


# --- closure (对账销号) ----------------------------------------------------------------------------

def apply_closure(session: Session, actor: Actor, finding_id: int, expected_version: int | None, *,
                  summary: str) -> ClosureReview:
    """申请销号: every measure done, at least one evidence file, and a summary."""
    finding, target = _load_for(session, actor, Action.APPLY_CLOSURE, finding_id, expected_version)
    summary = require_text(summary, "field.summary")
    evidence_ids = list(session.exec(select(Evidence.id).where(Evidence.finding_id == finding.id)
                                     .order_by(Evidence.id)).all())  # the policy has checked measures and evidence
    review = ClosureReview(finding_id=finding.id, applied_by_id=actor.id, applied_at=clock.now(),
                           summary=summary, evidence_ids=evidence_ids)
    session.add(review)
    audit(session, actor, "apply_closure", review, new=record_dict(review), finding_id=finding.id)
    _move(session, actor, Action.APPLY_CLOSURE, finding, target)
    return review


def _pending_review(session: Session, finding: Finding) -> ClosureReview:
    review = session.exec(select(ClosureReview).where(
        ClosureReview.finding_id == finding.id, ClosureReview.decision == ReviewDecision.PENDING.value)
        .with_for_update()).first()
    if review is None:
        raise InvalidState("error.no_review_pending")
    return review


def _decide_review(session: Session, actor: Actor, action: Action, finding_id: int, expected_version: int | None,
                   decision: ReviewDecision, reason: str, finding_extra: dict | None = None) -> ClosureReview:
    finding, target = _load_for(session, actor, action, finding_id, expected_version)
    review = _pending_review(session, finding)
    old, new = apply_changes(review, {"decision": decision.value, "decided_by_id": actor.id,
                                      "decided_at": clock.now(), "reason": reason})
    audit(session, actor, action.value, review, old=old, new=new, finding_id=finding.id)
    extra = finding_extra(finding) if callable(finding_extra) else (finding_extra or {})
    _move(session, actor, action, finding, target, extra)
    return review


def close(session: Session, actor: Actor, finding_id: int, expected_version: int | None,
          comment: str = "") -> ClosureReview:
    """销号: the finding is closed for good (a recurrence is logged as a new, linked finding)."""
    review = _decide_review(session, actor, Action.CLOSE, finding_id, expected_version, ReviewDecision.CLOSED,
                            (comment or "").strip(), {"closed_at": clock.now()})
    notifications.on_closure_decided(session, session.get(Finding, finding_id), ReviewDecision.CLOSED)
    return review


def send_back(session: Session, actor: Actor, finding_id: int, expected_version: int | None,
              reason: str) -> ClosureReview:
    """退回 with a reason: the finding returns to 整改中 and the send-back is counted."""
    reason = require_text(reason, "field.reason")
    review = _decide_review(session, actor, Action.SEND_BACK, finding_id, expected_version, ReviewDecision.SENT_BACK,
                            reason, lambda f: {"sent_back_count": f.sent_back_count + 1})
    notifications.on_sent_back(session, session.get(Finding, finding_id), reason)
    return review


def set_ongoing(session: Session, actor: Actor, finding_id: int, expected_version: int | None,
                comment: str = "") -> ClosureReview:
    """持续整改 for 长期坚持 items (the policy checks): the stage result is accepted, periodic progress stays due."""
    review = _decide_review(session, actor, Action.SET_ONGOING, finding_id, expected_version, ReviewDecision.ONGOING,
                            (comment or "").strip())
    notifications.on_closure_decided(session, session.get(Finding, finding_id), ReviewDecision.ONGOING)
    return review


def cancel(session: Session, actor: Actor, finding_id: int, expected_version: int | None, reason: str) -> Finding:
    """撤销 a mistaken entry (admin, reason required). It is kept and counted apart, never deleted."""
    finding, target = _load_for(session, actor, Action.CANCEL, finding_id, expected_version)
    reason = require_text(reason, "field.reason")
    _move(session, actor, Action.CANCEL, finding, target, {"cancel_reason": reason}, note=reason)
    return finding


# --- escalations ------------------------------------------------------------------------------------

def record_escalation(session: Session, actor: Actor, *, kind: EscalationKind | str, note: str,
                      finding_id: int | None = None, unit_id: int | None = None,
                      respond_by: dt.date | None = None) -> Escalation:
    """督办: 提醒, 督办函, 通报, 约谈 or 问责 against a finding or a unit."""
    if finding_id is None and unit_id is None:
        authorize(actor, Action.RECORD_ESCALATION)
        raise ValidationFailed("error.escalation_target")
    if finding_id is not None:
        finding = get_or_404(session, Finding, finding_id)
        _authorize_on(session, actor, Action.RECORD_ESCALATION, finding)
        unit_id = unit_id or finding.lead_unit_id
    else:
        authorize(actor, Action.RECORD_ESCALATION)
        get_or_404(session, Unit, unit_id)
    escalation = Escalation(kind=code(EscalationKind, kind, "field.kind").value, finding_id=finding_id, unit_id=unit_id,
                            issued_on=clock.today(), respond_by=respond_by, issued_by_id=actor.id,
                            note=require_text(note, "field.note"), created_at=clock.now())
    session.add(escalation)
    audit(session, actor, "record_escalation", escalation, new=record_dict(escalation), finding_id=finding_id)
    if escalation.kind in (EscalationKind.LETTER, EscalationKind.NOTICE, EscalationKind.TALK):
        notifications.on_escalation(session, unit_id, escalation.kind, finding_id)
    return escalation
