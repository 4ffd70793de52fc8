"""回头看: re-inspection campaigns that sample closed findings, re-check them in the field, and log
what was fixed only on paper as a new, linked finding.

A campaign stores its scope, its sampling rule and a seed; ``compute_sample`` turns the three into
the same sample every time (stratified by lead unit, independent of the database's row order), so an
auditor can draw it again and compare (``verify_draw``). A failed re-check never reopens the closed
finding: it logs a new one through ``findings.log_finding`` (屡改屡犯, 重点督办, the campaign's own
回头看 source), inside the same unit of work, so the roll-ups and the leadership figures follow at once.

Every write checks the role × action table (``lifecycle.authorize``), the version of the record it
changes, and records the audit log. No Streamlit here.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import random
import secrets
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any, Iterable, Sequence

from sqlalchemy import column as sa_column, true
from sqlalchemy import distinct, insert
from sqlalchemy import table as sa_table
from sqlmodel import Session, func, select

from dashboard import clock
from dashboard.errors import InvalidState, NotFound, Phrase, PermissionDenied, ValidationFailed
from dashboard.i18n import t
from dashboard.lifecycle import (CAMPAIGN_FIRST, CAMPAIGN_TRANSITIONS, Action, Actor, CampaignStep, authorize, campaign_next, can,
                                 check_unit)
from dashboard.services import evidence as evidence_files
from dashboard.services import notifications
from dashboard.services.common import (
    actor_of,
    apply_changes,
    audit,
    check_version,
    code,
    get_or_404,
    record_dict,
    require_text,
)
from dashboard.services.findings import FindingInput, UploadedFile, co_unit_ids, create_source, log_finding
from dashboard.settings import load_settings
from dashboard.vocab import CheckAnswer, Priority, RectType, Role, SampleReason, SourceKind, Status, Verdict
from db.models import (
    Evidence,
    EvidenceContent,
    Finding,
    FindingCoUnit,
    LookbackCampaign,
    LookbackEvidence,
    LookbackItem,
    LookbackSnapshot,
    Source,
    Unit,
    User,
)

# The four points of the 回头看 (seed 003): the default checklist of a new campaign, editable per campaign.
DEFAULT_CHECKLIST = (
    "乡镇政府（街道办事处）的主体责任是否落实到位",
    "保障对象的进出是否符合政策规定和操作程序",
    "保障对象的认定是否准确，纳入和退出是否准确和规范",
    "农村低保对象家庭住房是否属于危房",
)
MANDATORY = (SampleReason.KEY, SampleReason.SENT_BACK, SampleReason.SHARED_EVIDENCE)
STRATA = (*MANDATORY, SampleReason.RANDOM, SampleReason.MANUAL)
FAILED = frozenset({Verdict.INCOMPLETE, Verdict.ON_PAPER, Verdict.REBOUND})
MAX_CHECKLIST = 20


@dataclass
class CampaignInput:
    """What an inspector enters to set up a campaign."""

    title: str
    start_date: dt.date
    end_date: dt.date
    issuing_body: str = ""
    report_due_date: dt.date | None = None
    source_ids: Sequence[int] = field(default_factory=tuple)      # earlier sources (empty: all)
    lead_unit_ids: Sequence[int] = field(default_factory=tuple)   # lead units (empty: all)
    townships: Sequence[str] = field(default_factory=tuple)       # townships (empty: all)
    closed_from: dt.date | None = None                            # findings closed on or after …
    closed_to: dt.date | None = None                              # … and on or before
    checklist: Sequence[str] | None = None                        # None: the four points of seed 003
    percent: int | None = None                                    # None: the setting
    min_per_unit: int | None = None                               # None: the setting
    include_key: bool = True
    include_sent_back: bool = True
    include_shared_evidence: bool = True
    seed: int | None = None                                       # None: a fresh random seed, stored


@dataclass(frozen=True)
class Drawn:
    finding_id: int
    lead_unit_id: int
    reasons: tuple[SampleReason, ...]

    @property
    def reason(self) -> SampleReason:
        return self.reasons[0]


# --- setting up ------------------------------------------------------------------------------------

def _clean_checklist(items: Iterable[str] | None) -> list[str]:
    if items is None:
        return list(DEFAULT_CHECKLIST)
    cleaned = [" ".join(str(item).split()) for item in items]
    cleaned = [item for item in cleaned if item]
    if not cleaned:
        raise ValidationFailed("error.required", field=Phrase("field.checklist"))
    if len(cleaned) > MAX_CHECKLIST:
        raise ValidationFailed("error.lookback_checklist_long", limit=MAX_CHECKLIST)
    return cleaned


def create_campaign(session: Session, actor: Actor, data: CampaignInput) -> LookbackCampaign:
    """A campaign and its own 回头看 source (the failures are logged under it)."""
    authorize(actor, Action.MANAGE_LOOKBACK)
    title = require_text(data.title, "field.title")
    if data.end_date < data.start_date:
        raise ValidationFailed("error.lookback_dates")
    if data.closed_from and data.closed_to and data.closed_to < data.closed_from:
        raise ValidationFailed("error.lookback_dates")
    settings = load_settings(session)
    percent = settings.lookback_percent if data.percent is None else int(data.percent)
    minimum = settings.lookback_min_per_unit if data.min_per_unit is None else int(data.min_per_unit)
    if not 0 <= percent <= 100:
        raise ValidationFailed("error.percent_range")
    if not 0 <= minimum <= 1000:
        raise ValidationFailed("error.lookback_minimum", value=minimum)
    for source_id in data.source_ids:
        get_or_404(session, Source, source_id)
    for unit_id in data.lead_unit_ids:
        get_or_404(session, Unit, unit_id)
    checklist = _clean_checklist(data.checklist)
    source = create_source(session, actor, kind=SourceKind.REVIEW, title=title, received_date=data.start_date,
                           issuing_body=data.issuing_body or "", report_due_date=data.report_due_date)
    session.flush()
    scope = {"source_ids": sorted({int(i) for i in data.source_ids}),
             "lead_unit_ids": sorted({int(i) for i in data.lead_unit_ids}),
             "townships": sorted({str(name).strip() for name in data.townships if str(name).strip()}),
             "closed_from": data.closed_from.isoformat() if data.closed_from else None,
             "closed_to": data.closed_to.isoformat() if data.closed_to else None}
    rule = {"percent": percent, "min_per_unit": minimum, "key": bool(data.include_key),
            "sent_back": bool(data.include_sent_back), "shared_evidence": bool(data.include_shared_evidence)}
    campaign = LookbackCampaign(
        title=title, issuing_body=(data.issuing_body or "").strip(), start_date=data.start_date,
        end_date=data.end_date, report_due_date=data.report_due_date, source_id=source.id,
        scope=scope, checklist=checklist, rule=rule,
        seed=int(data.seed) if data.seed is not None else secrets.randbelow(2**31),
        status=CAMPAIGN_FIRST.value, created_by_id=actor.id, created_at=clock.now())
    session.add(campaign)
    audit(session, actor, "create_lookback", campaign, new=record_dict(campaign))
    return campaign


# --- the draw --------------------------------------------------------------------------------------

def _in_scope(scope: dict[str, Any], *, scan: bool = False):
    """The scope as conditions on findings. ``scan``: compare the status as an expression, so that SQLite
    reads the table in order instead of fetching most of it row by row through the status index (0.7 s
    against 0.17 s for 100,000 closed findings); used when no closing dates narrow the scope."""
    status = Finding.status.concat("") if scan else Finding.status
    conditions = [status == Status.CLOSED.value]
    if scope.get("source_ids"):
        conditions.append(Finding.source_id.in_(scope["source_ids"]))
    if scope.get("lead_unit_ids"):
        conditions.append(Finding.lead_unit_id.in_(scope["lead_unit_ids"]))
    if scope.get("townships"):
        conditions.append(Finding.township.in_(scope["townships"]))
    if scope.get("closed_from"):
        conditions.append(Finding.closed_at >= dt.datetime.fromisoformat(scope["closed_from"]))
    if scope.get("closed_to"):
        end = dt.datetime.fromisoformat(scope["closed_to"]) + dt.timedelta(days=1)
        conditions.append(Finding.closed_at < end)
    return conditions


def shared_evidence_findings(session: Session, conditions: list | None = None) -> set[int]:
    """Findings offering a file (SHA-256) also offered for another finding: the 纸面销号 warning of
    ``queries.duplicate_evidence``, as a set of finding ids."""
    shared = (select(Evidence.sha256).group_by(Evidence.sha256)
              .having(func.count(distinct(Evidence.finding_id)) > 1))
    statement = select(Evidence.finding_id).distinct().where(Evidence.sha256.in_(shared))
    if conditions:
        statement = statement.join(Finding, Finding.id == Evidence.finding_id).where(*conditions)
    return set(session.exec(statement).all())


def compute_sample(session: Session, scope: dict[str, Any], rule: dict[str, Any], seed: int) -> list[Drawn]:
    """The sample the rule gives for this scope and seed (a read; the same every time).

    Mandatory strata: every 重点督办 finding, every finding sent back at least once, every finding whose
    evidence is shared with another finding. The rest: per lead unit, ``percent`` of its findings (rounded
    up), at least ``min_per_unit`` (or all it has), drawn with a generator seeded by the campaign's seed
    and the unit, from the unit's findings in id order."""
    scan = session.get_bind().dialect.name == "sqlite" and not (scope.get("closed_from") or scope.get("closed_to"))
    conditions = _in_scope(scope, scan=scan)
    rows = session.execute(select(Finding.id, Finding.lead_unit_id, Finding.priority, Finding.sent_back_count)
                           .where(*conditions).order_by(Finding.id)).all()
    shared = shared_evidence_findings(session, conditions) if rule.get("shared_evidence", True) else set()
    drawn: list[Drawn] = []
    rest: dict[int, list[int]] = defaultdict(list)
    for finding_id, lead_unit_id, priority, sent_back_count in rows:
        reasons = []
        if rule.get("key", True) and priority == Priority.KEY.value:
            reasons.append(SampleReason.KEY)
        if rule.get("sent_back", True) and (sent_back_count or 0) > 0:
            reasons.append(SampleReason.SENT_BACK)
        if finding_id in shared:
            reasons.append(SampleReason.SHARED_EVIDENCE)
        if reasons:
            drawn.append(Drawn(finding_id, lead_unit_id, tuple(reasons)))
        else:
            rest[lead_unit_id].append(finding_id)
    share, minimum = int(rule.get("percent", 20)), int(rule.get("min_per_unit", 2))
    for unit_id in sorted(rest):
        candidates = rest[unit_id]
        wanted = min(len(candidates), max(minimum, math.ceil(len(candidates) * share / 100)))
        chosen = random.Random(f"lookback:{seed}:{unit_id}").sample(candidates, wanted)
        drawn.extend(Drawn(finding_id, unit_id, (SampleReason.RANDOM,)) for finding_id in sorted(chosen))
    drawn.sort(key=lambda item: item.finding_id)
    return drawn


def _campaign(session: Session, campaign_id: int, *, lock: bool = False) -> LookbackCampaign:
    return get_or_404(session, LookbackCampaign, campaign_id, lock=lock)


def draw_sample(session: Session, actor: Actor, campaign_id: int, expected_version: int | None = None) -> dict[str, int]:
    """Draw the campaign's sample once (待抽样 → 复查中); returns the count per stratum."""
    authorize(actor, Action.MANAGE_LOOKBACK)
    campaign = _campaign(session, campaign_id, lock=True)
    check_version(session, campaign, expected_version)
    next_status = campaign_next(CampaignStep.DRAW, campaign.status)
    sample = compute_sample(session, campaign.scope, campaign.rule, campaign.seed)
    manual = set(session.exec(select(LookbackItem.finding_id).where(LookbackItem.campaign_id == campaign.id)).all())
    rows = [{"campaign_id": campaign.id, "finding_id": item.finding_id, "lead_unit_id": item.lead_unit_id,
             "reason": item.reason.value, "reasons": [r.value for r in item.reasons], "answers": [], "note": "",
             "version": 1} for item in sample if item.finding_id not in manual]
    target = _item_insert_target(session)
    if target is not LookbackItem.__table__:  # SQLite stores JSON as text: encode each distinct list once
        encoded: dict[tuple, str] = {}
        for row in rows:
            for name in ("reasons", "answers"):
                key = tuple(row[name])
                row[name] = encoded.get(key) or encoded.setdefault(key, json.dumps(list(key)))
    for start in range(0, len(rows), 5000):
        session.execute(insert(target), rows[start:start + 5000])  # core executemany: no ORM per row
    counts = dict(Counter(item.reason.value for item in sample if item.finding_id not in manual))
    old, new = apply_changes(campaign, {"status": next_status.value, "drawn_at": clock.now()})
    audit(session, actor, "draw_lookback", campaign, old=old, new=new | {"seed": campaign.seed, "strata": counts})
    return counts


def _item_insert_target(session: Session):
    """The table a draw inserts into: on SQLite a plain-typed view of it, so that 40,000 rows do not pay
    for 80,000 JSON encodings of the same few lists (PostgreSQL keeps the JSON type and its cast)."""
    if session.get_bind().dialect.name != "sqlite":
        return LookbackItem.__table__
    columns = ("campaign_id", "finding_id", "lead_unit_id", "reason", "reasons", "answers", "note", "version")
    return sa_table(LookbackItem.__tablename__, *(sa_column(name) for name in columns))


def verify_draw(session: Session, campaign_id: int) -> bool:
    """Draw again with the stored scope, rule and seed: True when it gives exactly the stored sample
    (the findings added by hand aside). Findings closed since the draw in the scope's dates can differ."""
    campaign = _campaign(session, campaign_id)
    again = {(item.finding_id, item.reason.value) for item in compute_sample(session, campaign.scope, campaign.rule,
                                                                             campaign.seed)}
    stored = set(session.execute(select(LookbackItem.finding_id, LookbackItem.reason).where(
        LookbackItem.campaign_id == campaign.id, LookbackItem.reason != SampleReason.MANUAL.value)).all())
    return again == {(finding_id, reason) for finding_id, reason in stored}


def add_by_hand(session: Session, actor: Actor, campaign_id: int, serial: str) -> LookbackItem:
    """An inspector adds a closed finding to the sample by its serial (marked 人工添加)."""
    authorize(actor, Action.MANAGE_LOOKBACK)
    campaign = _campaign(session, campaign_id, lock=True)
    campaign_next(CampaignStep.ADD_BY_HAND, campaign.status)
    serial = require_text(serial, "field.serial")
    finding = session.exec(select(Finding).where(Finding.serial == serial)).first()
    if finding is None:
        raise NotFound("error.not_found", what=Phrase("what.finding"), id=serial)
    if finding.status != Status.CLOSED:
        raise InvalidState("error.lookback_not_closed", serial=serial)
    existing = session.exec(select(LookbackItem).where(LookbackItem.campaign_id == campaign.id,
                                                       LookbackItem.finding_id == finding.id)).first()
    if existing is not None:
        raise InvalidState("error.lookback_in_sample", serial=serial)
    item = LookbackItem(campaign_id=campaign.id, finding_id=finding.id, lead_unit_id=finding.lead_unit_id,
                        reason=SampleReason.MANUAL.value, reasons=[SampleReason.MANUAL.value], added_by_id=actor.id)
    session.add(item)
    audit(session, actor, "add_lookback_item", item, new=record_dict(item), finding_id=finding.id)
    return item


# --- assignment ----------------------------------------------------------------------------------------

def inspectors(session: Session) -> list[User]:
    return list(session.exec(select(User).where(User.role == Role.INSPECTOR.value, User.active == true())
                             .order_by(User.display_name)).all())


def assign(session: Session, actor: Actor, item_id: int, assignee_id: int, due_date: dt.date,
           expected_version: int | None = None) -> LookbackItem:
    """Give one sampled finding to an inspector outside its lead and co-operating units."""
    authorize(actor, Action.MANAGE_LOOKBACK)
    item = get_or_404(session, LookbackItem, item_id, lock=True)
    check_version(session, item, expected_version)
    campaign = _campaign(session, item.campaign_id)
    campaign_next(CampaignStep.ASSIGN, campaign.status)
    if item.verdict is not None:
        raise InvalidState("error.lookback_already_checked")
    assignee = get_or_404(session, User, assignee_id)
    _check_rechecker(session, actor_of(assignee), item)
    old, new = apply_changes(item, {"assignee_id": assignee.id, "due_date": due_date})
    if new:
        audit(session, actor, "assign_lookback", item, old=old, new=new, finding_id=item.finding_id)
        notify_assigned(session, item, assignee.id)
    return item


def _check_rechecker(session: Session, person: Actor, item: LookbackItem) -> None:
    """The re-checker: an active inspector, never of the finding's lead or co-operating units (as closing)."""
    authorize(person, Action.RECHECK)
    check_unit(person, Action.RECHECK, item.lead_unit_id, co_unit_ids(session, item.finding_id))


def assign_all(session: Session, actor: Actor, campaign_id: int, assignee_ids: Sequence[int],
               due_date: dt.date) -> int:
    """Share every unassigned, unchecked item among the chosen inspectors, each item to the eligible one
    with the fewest so far (ties: the order given). Items nobody may take stay unassigned. Returns how many."""
    authorize(actor, Action.MANAGE_LOOKBACK)
    campaign = _campaign(session, campaign_id, lock=True)
    campaign_next(CampaignStep.ASSIGN_ALL, campaign.status)
    people = [actor_of(get_or_404(session, User, user_id)) for user_id in dict.fromkeys(assignee_ids)]
    if not people:
        raise ValidationFailed("error.required", field=Phrase("field.assignee"))
    for person in people:
        authorize(person, Action.RECHECK)
    items = session.exec(select(LookbackItem).where(LookbackItem.campaign_id == campaign.id,
                                                    LookbackItem.assignee_id.is_(None),
                                                    LookbackItem.verdict.is_(None))
                         .order_by(LookbackItem.id).with_for_update()).all()
    co_units: dict[int, set[int]] = defaultdict(set)
    for finding_id, unit_id in session.execute(select(FindingCoUnit.finding_id, FindingCoUnit.unit_id).where(
            FindingCoUnit.finding_id.in_(select(LookbackItem.finding_id).where(
                LookbackItem.campaign_id == campaign.id)))).all():
        co_units[finding_id].add(unit_id)
    load = Counter(dict.fromkeys((p.id for p in people), 0))
    given = 0
    for item in items:
        eligible = [p for p in people  # the policy's separation of duties, as for one assignment
                    if can(p, Action.RECHECK, lead_unit_id=item.lead_unit_id, co_unit_ids=co_units[item.finding_id])]
        if not eligible:
            continue
        person = min(eligible, key=lambda p: load[p.id])
        load[person.id] += 1
        item.assignee_id, item.due_date = person.id, due_date
        item.version += 1
        session.add(item)
        notify_assigned(session, item, person.id)
        given += 1
    audit(session, actor, "assign_lookback_all", campaign,
          new={"assigned": given, "due_date": due_date.isoformat(), "to": dict(load)})
    return given


def notify_assigned(session: Session, item: LookbackItem, assignee_id: int | None) -> None:
    """'A re-check was assigned to you' (issue 16's notification centre; both assignment paths come here)."""
    if assignee_id is not None:
        notifications.recheck_assigned(session, [assignee_id], item.finding_id,
                                       {"due": item.due_date.isoformat() if item.due_date else None})


# --- the re-check ---------------------------------------------------------------------------------------

def _validated_files(session: Session, files: Sequence[UploadedFile]) -> list[tuple[str, str, bytes]]:
    settings = load_settings(session)
    checked = []
    for upload in files:
        name = PurePath(upload.filename or "").name or "file"
        extension = PurePath(name).suffix.lower().lstrip(".")
        if extension not in settings.allowed_extensions:
            raise ValidationFailed("error.file_type", ext=extension or "?", allowed="、".join(settings.allowed_extensions))
        if not upload.data:
            raise ValidationFailed("error.file_empty", name=name)
        if len(upload.data) > settings.max_upload_mb * 1024 * 1024:
            raise ValidationFailed("error.file_too_large", name=name, size_mb=round(len(upload.data) / 1048576, 1),
                                   limit_mb=settings.max_upload_mb)
        content_type = evidence_files.check_upload(name, extension, upload.data).content_type
        checked.append((name, content_type, upload.data))
    return checked


def record_verdict(session: Session, actor: Actor, item_id: int, expected_version: int | None, *,
                   verdict: Verdict | str, answers: Sequence[CheckAnswer | str], note: str = "",
                   files: Sequence[UploadedFile] = ()) -> LookbackItem:
    """The re-check of one sampled finding. Any verdict but 真改实改 needs evidence and a note, and logs a
    NEW finding (屡改屡犯 of the original, 重点督办, the campaign's source); the closed one stays closed."""
    item = get_or_404(session, LookbackItem, item_id, lock=True)
    authorize(actor, Action.RECHECK, lead_unit_id=item.lead_unit_id, co_unit_ids=co_unit_ids(session, item.finding_id))
    check_version(session, item, expected_version)
    if item.verdict is not None:
        raise InvalidState("error.lookback_already_checked")
    campaign = _campaign(session, item.campaign_id)
    campaign_next(CampaignStep.RECHECK, campaign.status)
    if item.assignee_id is not None and item.assignee_id != actor.id:
        raise PermissionDenied("error.lookback_not_assignee")
    verdict = code(Verdict, verdict, "field.verdict")
    answered = [code(CheckAnswer, answer, "field.checklist").value for answer in answers]
    if len(answered) != len(campaign.checklist):
        raise ValidationFailed("error.lookback_answers", count=len(campaign.checklist))
    note = (note or "").strip()
    if verdict in FAILED:
        note = require_text(note, "field.note")
        if not files:
            raise ValidationFailed("error.lookback_evidence_required")
    stored_files = _validated_files(session, files)
    now = clock.now()
    old, new = apply_changes(item, {"verdict": verdict.value, "answers": answered, "note": note,
                                    "checked_by_id": actor.id, "checked_at": now})
    for name, content_type, data in stored_files:
        proof = LookbackEvidence(item_id=item.id, filename=name, content_type=content_type, size=len(data),
                                 sha256=hashlib.sha256(data).hexdigest(), uploaded_by_id=actor.id, uploaded_at=now,
                                 data=data)
        session.add(proof)
        audit(session, actor, "attach_lookback_evidence", proof, new=record_dict(proof, exclude=("data",)),
              finding_id=item.finding_id)
    if verdict in FAILED:
        opened = _open_failure(session, actor, campaign, item, verdict, note, stored_files)
        item.new_finding_id = opened.id
        new["new_finding_id"] = opened.id
    audit(session, actor, "recheck", item, old=old, new=new, finding_id=item.finding_id)
    return item


def _open_failure(session: Session, actor: Actor, campaign: LookbackCampaign, item: LookbackItem, verdict: Verdict,
                  note: str, files: list[tuple[str, str, bytes]]) -> Finding:
    original = get_or_404(session, Finding, item.finding_id)
    settings = load_settings(session)
    deadline = max(clock.today() + dt.timedelta(days=settings.lookback_deadline_days), campaign.start_date)
    # The ledger's own language: a finding's description is stored once, in Chinese, like every other.
    description = t("lookback.failure_description", "zh", campaign=campaign.title, serial=original.serial,
                    verdict=verdict, note=note, description=original.description)
    finding = log_finding(session, actor, FindingInput(
        source_id=campaign.source_id, category_id=original.category_id, description=description,
        lead_unit_id=original.lead_unit_id, measures=[t("lookback.failure_measure", "zh")], deadline=deadline,
        rect_type=RectType.DEADLINE, priority=Priority.KEY, co_unit_ids=co_unit_ids(session, original.id),
        township=original.township, village_id=original.village_id,
        responsible_leader=original.responsible_leader, responsible_person=original.responsible_person,
        repeat_of_id=original.id))
    session.flush()
    for name, content_type, data in files:  # the re-check's proof goes with the new finding
        proof = Evidence(finding_id=finding.id, filename=name, content_type=content_type, size=len(data),
                         sha256=hashlib.sha256(data).hexdigest(), uploaded_by_id=actor.id, uploaded_at=clock.now())
        session.add(proof)
        session.flush()
        session.add(EvidenceContent(evidence_id=proof.id, data=data))
    return finding


def finish_campaign(session: Session, actor: Actor, campaign_id: int, expected_version: int | None = None
                    ) -> LookbackCampaign:
    """复查中 → 已完成, once every sampled finding has its verdict."""
    authorize(actor, Action.MANAGE_LOOKBACK)
    campaign = _campaign(session, campaign_id, lock=True)
    check_version(session, campaign, expected_version)
    finished = campaign_next(CampaignStep.FINISH, campaign.status)
    left = session.exec(select(func.count()).select_from(LookbackItem).where(
        LookbackItem.campaign_id == campaign.id, LookbackItem.verdict.is_(None))).one()
    if left:
        raise InvalidState("error.lookback_unchecked", count=left)
    old, new = apply_changes(campaign, {"status": finished.value})
    audit(session, actor, "finish_lookback", campaign, old=old, new=new)
    return campaign


# --- reading --------------------------------------------------------------------------------------------

def list_campaigns(session: Session) -> list[LookbackCampaign]:
    return list(session.exec(select(LookbackCampaign).order_by(LookbackCampaign.id.desc())).all())


def scope_options(session: Session) -> dict[str, Any]:
    """What a campaign's scope may name: the sources, lead units and townships closed findings have."""
    settings = load_settings(session)
    return {  # from the small tables and the township index: no scan of the findings
        "sources": dict(session.execute(select(Source.id, Source.title).where(
            Source.kind != SourceKind.REVIEW.value).order_by(Source.id)).all()),
        "units": dict(session.execute(select(Unit.id, Unit.name).where(Unit.active == true())
                                      .order_by(Unit.name)).all()),
        "townships": list(session.exec(select(Finding.township).distinct().where(
            Finding.township.is_not(None)).order_by(Finding.township)).all()),
        "percent": settings.lookback_percent, "min_per_unit": settings.lookback_min_per_unit,
    }


def get_snapshot(session: Session, snapshot_id: int) -> LookbackSnapshot:
    return get_or_404(session, LookbackSnapshot, snapshot_id)


def get_campaign(session: Session, campaign_id: int) -> LookbackCampaign:
    return _campaign(session, campaign_id)


def pass_rate(passed: int, checked: int) -> float:
    """真改实改 among the re-checked (0 when none is re-checked yet); formatted by ``figures.percent``."""
    return passed / checked if checked else 0.0


def _tally() -> dict[str, int]:
    return {"sampled": 0, "checked": 0, "passed": 0, "failed": 0}


def _add(tally: dict[str, int], verdict: str | None, n: int) -> None:
    tally["sampled"] += n
    if verdict is not None:
        tally["checked"] += n
        tally["passed" if verdict == Verdict.FIXED else "failed"] += n


def _rows_of(tallies: dict[int, dict[str, int]], names: dict[int, str]) -> list[dict[str, Any]]:
    rows = [{"id": key, "name": names.get(key, "?"), **tally, "pass_rate": pass_rate(tally["passed"], tally["checked"])}
            for key, tally in tallies.items()]
    return sorted(rows, key=lambda row: (-row["sampled"], row["name"]))


def campaign_figures(session: Session, campaign_id: int) -> dict[str, Any]:
    """Every number of a campaign, as the page, meeting mode, a frozen snapshot and the Word report show it."""
    campaign = _campaign(session, campaign_id)
    grouped = session.execute(
        select(LookbackItem.reason, LookbackItem.verdict, LookbackItem.lead_unit_id, Finding.source_id, func.count())
        .join(Finding, Finding.id == LookbackItem.finding_id).where(LookbackItem.campaign_id == campaign.id)
        .group_by(LookbackItem.reason, LookbackItem.verdict, LookbackItem.lead_unit_id, Finding.source_id)).all()
    totals, strata, verdicts = _tally(), Counter[str](), Counter[str]()
    by_unit: dict[int, dict[str, int]] = defaultdict(_tally)
    by_source: dict[int, dict[str, int]] = defaultdict(_tally)
    for reason, verdict, unit_id, source_id, n in grouped:
        _add(totals, verdict, n)
        _add(by_unit[unit_id], verdict, n)
        _add(by_source[source_id], verdict, n)
        strata[reason] += n
        if verdict is not None:
            verdicts[verdict] += n
    units: dict[int, str] = dict(session.execute(select(Unit.id, Unit.name).where(Unit.id.in_(list(by_unit) or [0]))).all())
    sources: dict[int, str] = dict(session.execute(select(Source.id, Source.title).where(Source.id.in_(list(by_source) or [0]))).all())
    assigned = session.exec(select(func.count()).select_from(LookbackItem).where(
        LookbackItem.campaign_id == campaign.id, LookbackItem.assignee_id.is_not(None))).one()
    return {
        "campaign": {"id": campaign.id, "title": campaign.title, "issuing_body": campaign.issuing_body,
                     "start_date": campaign.start_date.isoformat(), "end_date": campaign.end_date.isoformat(),
                     "report_due_date": campaign.report_due_date.isoformat() if campaign.report_due_date else None,
                     "status": campaign.status, "seed": campaign.seed, "checklist": list(campaign.checklist),
                     "rule": dict(campaign.rule), "scope": dict(campaign.scope)},
        "totals": totals | {"assigned": assigned, "pass_rate": pass_rate(totals["passed"], totals["checked"]),
                            "progress": pass_rate(totals["checked"], totals["sampled"])},
        "strata": {reason.value: strata.get(reason.value, 0) for reason in STRATA},
        "verdicts": {verdict.value: verdicts.get(verdict.value, 0) for verdict in Verdict},
        "by_unit": _rows_of(by_unit, units),
        "by_source": _rows_of(by_source, sources),
        "failures": failures(session, campaign.id),
    }


def failures(session: Session, campaign_id: int) -> list[dict[str, Any]]:
    New = Finding.__table__.alias("new_finding")
    statement = (select(LookbackItem.id, LookbackItem.verdict, LookbackItem.note, LookbackItem.checked_at,
                        Finding.id.label("finding_id"), Finding.serial, Finding.description, Unit.name.label("unit"),
                        New.c.serial.label("new_serial"), New.c.id.label("new_finding_id"),
                        New.c.current_deadline.label("new_deadline"))
                 .join(Finding, Finding.id == LookbackItem.finding_id).join(Unit, Unit.id == LookbackItem.lead_unit_id)
                 .outerjoin(New, New.c.id == LookbackItem.new_finding_id)
                 .where(LookbackItem.campaign_id == campaign_id,
                        LookbackItem.verdict.in_([v.value for v in FAILED]))
                 .order_by(Finding.id))
    return [{**row._asdict(), "checked_at": row.checked_at.isoformat() if row.checked_at else None,
             "new_deadline": row.new_deadline.isoformat() if row.new_deadline else None}
            for row in session.execute(statement).all()]


def items(session: Session, campaign_id: int, *, assignee_id: int | None = None, unchecked_only: bool = False,
          reason: str | None = None, limit: int | None = None, offset: int = 0) -> list[dict[str, Any]]:
    """The sample, one row per finding: why it is in it, who re-checks it, and the verdict (a page of it
    with ``limit``/``offset``, one stratum with ``reason``)."""
    Assignee = User.__table__.alias("assignee")
    statement = (select(LookbackItem.id, LookbackItem.finding_id, LookbackItem.reason, LookbackItem.reasons,  # type: ignore[misc]  # 16 columns: too many for mypy to type the row
                        LookbackItem.added_by_id, LookbackItem.assignee_id, LookbackItem.due_date,
                        LookbackItem.verdict, LookbackItem.version, LookbackItem.new_finding_id,
                        Finding.serial, Finding.description, Finding.township, Finding.closed_at,
                        Unit.name.label("unit"), Assignee.c.display_name.label("assignee"))
                 .join(Finding, Finding.id == LookbackItem.finding_id).join(Unit, Unit.id == LookbackItem.lead_unit_id)
                 .outerjoin(Assignee, Assignee.c.id == LookbackItem.assignee_id)
                 .where(LookbackItem.campaign_id == campaign_id).order_by(LookbackItem.id))
    if assignee_id is not None:
        statement = statement.where(LookbackItem.assignee_id == assignee_id)
    if unchecked_only:
        statement = statement.where(LookbackItem.verdict.is_(None))
    if reason:
        statement = statement.where(LookbackItem.reason == reason)
    if limit is not None:
        statement = statement.limit(limit).offset(offset)
    return [row._asdict() for row in session.execute(statement).all()]


def recheck_choices(session: Session, campaign_id: int, actor: Actor, limit: int) -> list[dict[str, Any]]:
    """What this inspector may re-check next: unchecked items assigned to them, then unassigned ones."""
    mine = LookbackItem.assignee_id == actor.id
    statement = (select(LookbackItem.id, Finding.serial, Unit.name.label("unit"), LookbackItem.due_date)
                 .join(Finding, Finding.id == LookbackItem.finding_id).join(Unit, Unit.id == LookbackItem.lead_unit_id)
                 .where(LookbackItem.campaign_id == campaign_id, LookbackItem.verdict.is_(None),
                        mine | LookbackItem.assignee_id.is_(None))
                 .order_by(LookbackItem.assignee_id.is_(None), LookbackItem.due_date, LookbackItem.id)
                 .limit(limit))
    return [row._asdict() for row in session.execute(statement).all()]


@dataclass(frozen=True)
class RecheckDue:
    """A re-check (回头看复查) assigned to an inspector and not yet given a verdict."""

    item_id: int
    campaign_id: int
    campaign: str
    due_date: dt.date | None
    finding_id: int
    serial: str
    description: str
    township: str | None
    unit: str


def my_rechecks(session: Session, actor: Actor) -> list[RecheckDue]:
    """The re-checks waiting for this inspector, in every campaign under way (我的待办)."""
    statement = (select(LookbackItem.id, LookbackItem.campaign_id, LookbackItem.due_date, LookbackItem.finding_id,
                        LookbackCampaign.title.label("campaign"), Finding.serial, Finding.description,
                        Finding.township, Unit.name.label("unit"))
                 .join(LookbackCampaign, LookbackCampaign.id == LookbackItem.campaign_id)
                 .join(Finding, Finding.id == LookbackItem.finding_id).join(Unit, Unit.id == LookbackItem.lead_unit_id)
                 .where(LookbackItem.assignee_id == actor.id, LookbackItem.verdict.is_(None),
                        LookbackCampaign.status.in_([s.value for s in CAMPAIGN_TRANSITIONS[CampaignStep.RECHECK]]))
                 .order_by(LookbackItem.due_date, LookbackItem.id))
    return [RecheckDue(item_id=r.id, campaign_id=r.campaign_id, campaign=r.campaign, due_date=r.due_date,
                       finding_id=r.finding_id, serial=r.serial, description=r.description, township=r.township,
                       unit=r.unit) for r in session.execute(statement).all()]


def item_detail(session: Session, item_id: int) -> dict[str, Any]:
    """One sampled finding for the re-check form: the item, the campaign's checklist, the original finding."""
    item = get_or_404(session, LookbackItem, item_id)
    campaign = _campaign(session, item.campaign_id)
    finding = get_or_404(session, Finding, item.finding_id)
    unit = session.get(Unit, item.lead_unit_id)
    proofs = session.execute(select(LookbackEvidence.id, LookbackEvidence.filename, LookbackEvidence.size)
                             .where(LookbackEvidence.item_id == item.id)).all()
    return {"item": record_dict(item), "checklist": list(campaign.checklist), "campaign_status": campaign.status,
            "campaign_title": campaign.title,
            "finding": {"id": finding.id, "serial": finding.serial, "description": finding.description,
                        "township": finding.township, "unit": unit.name if unit else "",
                        "closed_at": finding.closed_at.isoformat() if finding.closed_at else None},
            "evidence": [row._asdict() for row in proofs]}


# --- the frozen snapshot the report is written from -------------------------------------------------------

def freeze(session: Session, actor: Actor, campaign_id: int) -> LookbackSnapshot:
    """Freeze the campaign's figures now; the 回头看情况报告 is written from this snapshot only."""
    authorize(actor, Action.LOOKBACK_REPORT)
    figures = campaign_figures(session, campaign_id)
    snapshot = LookbackSnapshot(campaign_id=campaign_id, taken_at=clock.now(), taken_by_id=actor.id,
                                figures=figures | {"taken_at": clock.now().isoformat(timespec="minutes")})
    session.add(snapshot)
    audit(session, actor, "freeze_lookback", snapshot, new={"campaign_id": campaign_id,
                                                            "sampled": figures["totals"]["sampled"],
                                                            "checked": figures["totals"]["checked"]})
    return snapshot

