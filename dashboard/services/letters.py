"""The 督办 ladder as letters: 提醒函, 督办函, 通报, 约谈通知书.

Issuing a letter takes the next 文号 of its kind and year (a counter row locked in the issuing
transaction, so numbers have no gaps), records an escalation against each listed finding, and
notifies the unit (``notifications.on_escalation``). The letter's text comes from the admin's
template for its kind; the Word file is made from the stored ``Letter`` row
(``dashboard.documents.letter``).
"""
from __future__ import annotations

import datetime as dt
import string
from dataclasses import dataclass

from sqlmodel import Session, select

from dashboard import clock, lights
from dashboard.errors import Phrase, ValidationFailed
from dashboard.lifecycle import Action, Actor, authorize
from dashboard.services import notifications
from dashboard.services.common import audit, get_or_404, next_number, record_dict, require_text
from dashboard.settings import load_settings
from dashboard.vocab import ACTIVE_STATES, EscalationKind
from db.models import Escalation, Finding, Letter, LetterCounter, Setting, Unit

LADDER = (EscalationKind.REMINDER, EscalationKind.LETTER, EscalationKind.NOTICE, EscalationKind.TALK)
PLACEHOLDERS = ("unit", "count", "respond_by", "issuing_body", "date")

DEFAULT_TEMPLATES: dict[str, dict[str, str]] = {
    "reminder": {"title": "整改提醒函", "prefix": "X整改办提", "issuing_body": "X县民政局整改工作领导小组办公室",
                 "body": "{unit}：\n经核查，你单位承担的下列{count}项整改任务已到期或即将到期，尚未完成整改销号。"
                         "请高度重视，加快整改进度，并于{respond_by}前将整改情况书面报送{issuing_body}。"},
    "letter": {"title": "督办函", "prefix": "X整改办督", "issuing_body": "X县民政局整改工作领导小组办公室",
               "body": "{unit}：\n你单位承担的下列{count}项整改任务已超过整改时限仍未完成。现予督办，"
                       "请逐项明确责任人和完成时限，于{respond_by}前完成整改并将整改情况及佐证材料报送{issuing_body}。"
                       "逾期仍未完成的，将予以通报。"},
    "notice": {"title": "关于整改工作推进不力情况的通报", "prefix": "X整改办通",
               "issuing_body": "X县民政局整改工作领导小组办公室",
               "body": "经督办，{unit}承担的下列{count}项整改任务仍未按期完成，整改工作推进不力，现予通报。"
                       "请{unit}深刻反思，立即整改，于{respond_by}前将整改情况报送{issuing_body}。"},
    "talk": {"title": "约谈通知书", "prefix": "X整改办约", "issuing_body": "X县民政局整改工作领导小组办公室",
             "body": "{unit}：\n你单位承担的下列{count}项整改任务经督办、通报后仍未完成。根据整改工作有关规定，"
                     "定于近期对你单位主要负责人进行约谈。请于{respond_by}前书面说明未完成原因及整改计划，"
                     "报送{issuing_body}。"},
}


def _key(kind: str) -> str:
    return f"letter_template.{kind}"


def _kind(kind: str) -> EscalationKind:
    try:
        member = EscalationKind(kind)
    except ValueError:
        raise ValidationFailed("error.unknown_value", field=Phrase("field.kind"), value=kind) from None
    if member not in LADDER:
        raise ValidationFailed("error.unknown_value", field=Phrase("field.kind"), value=kind)
    return member


def template(session: Session, kind: str) -> dict[str, str]:
    row = session.get(Setting, _key(kind))
    return DEFAULT_TEMPLATES[_kind(kind).value] | (row.value if row is not None else {})


def save_template(session: Session, actor: Actor, kind: str, *, title: str, prefix: str, issuing_body: str,
                  body: str) -> dict[str, str]:
    """The admin edits a kind's title, 文号 prefix, issuing body and text ({unit}, {count}, …)."""
    authorize(actor, Action.MANAGE_NOTIFY)
    _kind(kind)
    value = {"title": require_text(title, "field.title"), "prefix": require_text(prefix, "letter.prefix"),
             "issuing_body": require_text(issuing_body, "letter.issuing_body"),
             "body": require_text(body, "letter.body")}
    unknown = sorted({name for _, name, _, _ in string.Formatter().parse(value["body"]) if name} - set(PLACEHOLDERS))
    if unknown:
        raise ValidationFailed("error.template_placeholder", names=", ".join(unknown), allowed=", ".join(PLACEHOLDERS))
    row = session.get(Setting, _key(kind))
    old = row.value if row is not None else None
    if row is None:
        row = Setting(key=_key(kind), value=value)
    else:
        row.value, row.version = value, row.version + 1
    session.add(row)
    audit(session, actor, "save_letter_template", row, old={"value": old} if old else None, new={"value": value},
          note=kind)
    return value


def _next_number(session: Session, kind: str, year: int) -> int:
    return next_number(session, LetterCounter, kind=kind, year=year)


def doc_number(prefix: str, year: int, number: int) -> str:
    return f"{prefix}〔{year}〕{number}号"


def _cn_date(day: dt.date) -> str:
    return f"{day.year}年{day.month}月{day.day}日"


def issue_letter(session: Session, actor: Actor, *, unit_id: int, kind: str, finding_ids: list[int],
                 respond_by: dt.date | None = None) -> Letter:
    """Issue a letter to a unit about some of its open findings (at least one)."""
    authorize(actor, Action.ISSUE_LETTER)
    member = _kind(kind)
    unit = get_or_404(session, Unit, unit_id)
    ids = sorted(set(int(i) for i in finding_ids))
    if not ids:
        raise ValidationFailed("error.letter_no_findings")
    found = session.exec(select(Finding).where(Finding.id.in_(ids)).order_by(Finding.serial)).all()
    if len(found) != len(ids) or any(f.lead_unit_id != unit_id or f.status not in ACTIVE_STATES
                                     for f in found):
        raise ValidationFailed("error.letter_findings", unit=unit.name)
    today = clock.today()
    respond_by = respond_by or today + dt.timedelta(days=load_settings(session).letter_reply_days)
    if respond_by < today:
        raise ValidationFailed("error.respond_by_past")
    chosen = template(session, member.value)
    number = _next_number(session, member.value, today.year)
    body = chosen["body"].format(unit=unit.name, count=len(found), respond_by=_cn_date(respond_by),
                                 issuing_body=chosen["issuing_body"], date=_cn_date(today))
    letter = Letter(kind=member.value, year=today.year, number=number,
                    doc_number=doc_number(chosen["prefix"], today.year, number), unit_id=unit_id, issued_on=today,
                    respond_by=respond_by, issuing_body=chosen["issuing_body"], title=chosen["title"], body=body,
                    finding_ids=[f.id for f in found],  # type: ignore[misc]  # rows read from the database have ids
                    issued_by_id=actor.id, created_at=clock.now())
    session.add(letter)
    audit(session, actor, "issue_letter", letter, new=record_dict(letter))
    for finding in found:
        escalation = Escalation(kind=member.value, finding_id=finding.id, unit_id=unit_id, issued_on=today,
                                respond_by=respond_by, issued_by_id=actor.id, note=letter.doc_number,
                                created_at=clock.now())
        session.add(escalation)
        audit(session, actor, "record_escalation", escalation, new=record_dict(escalation), finding_id=finding.id)
    notifications.on_escalation(session, unit_id, member, None, doc_number=letter.doc_number, count=len(found))
    return letter


# --- reading ------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class UnitLadder:
    unit_id: int
    unit: str
    overdue: int
    max_days: int
    reached: str | None     # highest rung already issued on its overdue findings
    suggested: str          # the next rung


def ladder(session: Session, today: dt.date | None = None) -> list[UnitLadder]:
    """Per unit with overdue findings: how far up the ladder they are, and the suggested next step."""
    today = today or clock.today()
    overdue = session.execute(select(Finding.id, Finding.lead_unit_id, lights.days_overdue(today).label("days"))
                              .where(lights.is_overdue(today))).all()
    if not overdue:
        return []
    rank = {kind.value: index for index, kind in enumerate(LADDER)}
    reached: dict[int, int] = {}
    ids = [row.id for row in overdue]
    unit_of = {row.id: row.lead_unit_id for row in overdue}
    for start in range(0, len(ids), 5000):
        for finding_id, kind in session.exec(select(Escalation.finding_id, Escalation.kind).where(
                Escalation.finding_id.in_(ids[start:start + 5000]))).all():
            if kind in rank:
                unit = unit_of[finding_id]
                reached[unit] = max(reached.get(unit, -1), rank[kind])
    names = dict(session.exec(select(Unit.id, Unit.name)).all())
    per_unit: dict[int, list[int]] = {}
    for row in overdue:
        per_unit.setdefault(row.lead_unit_id, []).append(int(row.days))
    result = []
    for unit_id, days in per_unit.items():
        level = reached.get(unit_id, -1)
        result.append(UnitLadder(unit_id, names.get(unit_id, "?"), len(days), max(days),
                                 LADDER[level].value if level >= 0 else None,
                                 LADDER[min(level + 1, len(LADDER) - 1)].value))
    return sorted(result, key=lambda r: (-r.overdue, -r.max_days, r.unit))


def overdue_of_unit(session: Session, unit_id: int, today: dt.date | None = None) -> list[Finding]:
    today = today or clock.today()
    return list(session.exec(select(Finding).where(
        Finding.lead_unit_id == unit_id, lights.is_overdue(today)).order_by(Finding.current_deadline, Finding.serial)).all())


def letters(session: Session, limit: int = 200) -> list[Letter]:
    return list(session.exec(select(Letter).order_by(Letter.id.desc()).limit(limit)).all())
