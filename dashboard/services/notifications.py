"""Notifications: every event that tells someone something, in ONE place.

The finding services call the ``on_*`` hooks below inside their own unit of work; the daily jobs
(``dashboard.services.jobs``) call ``notify_users``/``notify_unit`` for reminders and digests;
other features (回头看 re-checks) call ``notify_users`` or ``recheck_assigned``. A notice is stored
as a kind and RAW parameters (serials, dates, numbers, codes); its text is made in the reader's
language when shown (``text``). Outbound copies (robot, email) are queued as ``Delivery`` rows in
the same transaction and sent later by the worker: no network inside a write.
"""
from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any, Iterable, Sequence

from sqlalchemy import true, update
from sqlmodel import Session, func, select

from dashboard import clock
from dashboard.i18n import label, placeholders, t
from dashboard.lifecycle import Actor
from dashboard.vocab import CaseKind, EscalationKind, ExtensionDecision, ReviewDecision, ScreenKind
from db.models import ExtensionRequest, Finding, Notification, User


class Kind(StrEnum):
    """Every kind of notice; each has its text ``notice.{kind}`` in ``dashboard.i18n`` (the digest: ``digest.*``)."""

    DUE_SOON = "due_soon"
    OVERDUE = "overdue"
    SENT_BACK = "sent_back"
    EXTENSION_DECIDED = "extension_decided"
    CLOSURE_DECIDED = "closure_decided"
    RECHECK_ASSIGNED = "recheck_assigned"
    LETTER_ISSUED = "letter_issued"
    DIGEST = "digest"
    QUALITY_HITS = "quality_hits"    # the nightly data-quality check found households of a township
    ZERO_CHANGE = "zero_change"      # 零变化 townships of the last month or quarter, to the county's monitoring unit
    CLUE_DUE_SOON = "clue_due_soon"          # a clue's 15-day clock runs out within ``clue_remind_days``
    PUBLICITY_ENDS = "publicity_ends"        # a 公示 ends today or tomorrow: the next step may follow
    ELIMINATION_DUE = "elimination_due"      # a household monitored ``eliminate_after_months``: 风险消除 may be assessed
    SCREENING_CLUES = "screening_clues"      # a department list opened 部门筛查预警 clues in a township
    REPORT_DUE = "report_due"                # a source's 整改情况报告 is due (7 and 3 days before, on the day)


KINDS = tuple(Kind)


# --- creating notices ------------------------------------------------------------------------------

def notify_users(session: Session, user_ids: Iterable[int], kind: str, finding_id: int | None = None,
                 params: dict[str, Any] | None = None) -> list[Notification]:
    """One notice per user (duplicates in ``user_ids`` ignored). ``params`` must be raw values."""
    if kind not in KINDS:
        raise ValueError(f"unknown notification kind {kind!r}")
    now = clock.now()
    notices = [Notification(user_id=user_id, kind=kind, finding_id=finding_id, params=dict(params or {}),
                            created_at=now) for user_id in sorted(set(user_ids))]
    session.add_all(notices)
    return notices


def unit_user_ids(session: Session, unit_id: int) -> list[int]:
    return list(session.exec(select(User.id).where(User.unit_id == unit_id, User.active == true())).all())


def notify_unit(session: Session, unit_id: int, kind: str, finding_id: int | None = None,
                params: dict[str, Any] | None = None, *, outbound: bool = True,
                dedupe_key: str | None = None) -> list[Notification]:
    """Every active user of the unit gets the notice; with ``outbound`` a copy in Chinese is queued
    for the unit's channel (or the default one)."""
    from dashboard.services import delivery

    notices = notify_users(session, unit_user_ids(session, unit_id), kind, finding_id, params)
    if outbound:
        delivery.queue(session, unit_id, kind, title=t("notice.title", "zh"),
                       body=text(kind, params or {}, "zh"), dedupe_key=dedupe_key)
    return notices


def _finding_params(session: Session, finding: Finding) -> dict[str, Any]:
    return {"serial": finding.serial, "description": _short(finding.description)}


def _short(value: str, limit: int = 40) -> str:
    value = " ".join((value or "").split())
    return value if len(value) <= limit else value[: limit - 1] + "…"


# --- the events the finding services report ----------------------------------------------------------

def on_sent_back(session: Session, finding: Finding, reason: str) -> None:
    notify_unit(session, finding.lead_unit_id, Kind.SENT_BACK, finding.id,
                _finding_params(session, finding) | {"reason": _short(reason, 60)})


def on_extension_decided(session: Session, finding: Finding, request: ExtensionRequest) -> None:
    params = _finding_params(session, finding) | {"decision": request.decision,
                                                   "deadline": request.asked_deadline.isoformat()}
    notify_unit(session, finding.lead_unit_id, Kind.EXTENSION_DECIDED, finding.id, params)


def on_closure_decided(session: Session, finding: Finding, decision: ReviewDecision | str) -> None:
    notify_unit(session, finding.lead_unit_id, Kind.CLOSURE_DECIDED, finding.id,
                _finding_params(session, finding) | {"decision": str(decision)})


def on_escalation(session: Session, unit_id: int, kind: EscalationKind | str, finding_id: int | None,
                  doc_number: str = "", count: int = 1) -> None:
    """A 督办函 / 通报 / 约谈 (any rung of the ladder) issued to a unit."""
    params: dict[str, Any] = {"kind": str(kind), "doc_number": doc_number, "count": count}
    if finding_id is not None:
        finding = session.get(Finding, finding_id)
        if finding is not None:
            params |= _finding_params(session, finding)
    notify_unit(session, unit_id, Kind.LETTER_ISSUED, finding_id, params)


def recheck_assigned(session: Session, user_ids: Sequence[int], finding_id: int,
                     params: dict[str, Any] | None = None) -> list[Notification]:
    """回头看: these users are asked to re-check this (closed) finding."""
    finding = session.get(Finding, finding_id)
    base = _finding_params(session, finding) if finding is not None else {}
    return notify_users(session, user_ids, Kind.RECHECK_ASSIGNED, finding_id, base | dict(params or {}))


def on_screening_clues(session: Session, unit_id: int, *, township: str, kind: str, list_name: str,
                       numbers: Sequence[str], household_id: int | None) -> None:
    """部门筛查预警: one department list opened clues on these households of one township (its unit hears it
    once, in the screening's own unit of work)."""
    notify_unit(session, unit_id, Kind.SCREENING_CLUES, params={
        "township": township, "kind": kind, "list": _short(list_name, 60), "count": len(numbers),
        "numbers": "、".join(numbers[:HOUSEHOLDS_NAMED]) + ("…" if len(numbers) > HOUSEHOLDS_NAMED else ""),
        "household_id": household_id if len(numbers) == 1 else None})


HOUSEHOLDS_NAMED = 10   # 户编号 a notice names (the rest: the inbox)


# --- reading and marking -----------------------------------------------------------------------------

def unread_count(session: Session, user_id: int) -> int:
    return session.exec(select(func.count()).select_from(Notification).where(
        Notification.user_id == user_id, Notification.read_at.is_(None))).one()


def list_for(session: Session, user_id: int, *, limit: int = 100, unread_only: bool = False) -> list[Notification]:
    statement = select(Notification).where(Notification.user_id == user_id)
    if unread_only:
        statement = statement.where(Notification.read_at.is_(None))
    statement = statement.order_by(Notification.read_at.is_not(None), Notification.created_at.desc(),
                                   Notification.id.desc()).limit(limit)
    return list(session.exec(statement).all())


def mark_read(session: Session, actor: Actor, notification_ids: Iterable[int] | None = None) -> int:
    """Mark the actor's own notices read (all of them with ``None``); someone else's are untouched."""
    statement = update(Notification).where(Notification.user_id == actor.id,
                                           Notification.read_at.is_(None))
    if notification_ids is not None:
        ids = [int(i) for i in notification_ids]
        if not ids:
            return 0
        statement = statement.where(Notification.id.in_(ids))
    return session.execute(statement.values(read_at=clock.now())).rowcount or 0


# --- text --------------------------------------------------------------------------------------------

def _day(value: Any, lang: str) -> str:
    if not value:
        return "—"
    day = dt.date.fromisoformat(str(value)[:10])
    return f"{day.month}月{day.day}日" if lang == "zh" else day.isoformat()


def text(kind: str, params: dict[str, Any], lang: str = "zh") -> str:
    """The notice in ``lang``: codes become labels here, at the edge. A notice stored before its text
    gained a placeholder (or with a parameter lost) reads that placeholder empty rather than failing."""
    if kind == Kind.DIGEST:
        return digest_text(params, lang)
    key = f"notice.{kind}"
    values: dict[str, Any] = {name: "" for name in placeholders(key, lang)}
    values.update(params)
    for name in DATE_PARAMS:
        if name in values:
            values[name] = _day(values[name], lang)
    if kind == Kind.EXTENSION_DECIDED and values.get("decision"):
        values["decision"] = label(ExtensionDecision(values["decision"]), lang)
    elif kind == Kind.CLOSURE_DECIDED and values.get("decision"):
        values["decision"] = label(ReviewDecision(values["decision"]), lang)
    elif kind == Kind.LETTER_ISSUED and values.get("kind"):
        values["kind"] = t(f"letter_kind.{values['kind']}", lang)
    elif kind == Kind.SCREENING_CLUES and values.get("kind"):
        values["kind"] = label(ScreenKind(values["kind"]), lang)
    elif kind == Kind.PUBLICITY_ENDS and values.get("case_kind"):
        values["case_kind"] = label(CaseKind(values["case_kind"]), lang)
    if kind in (Kind.REPORT_DUE, Kind.CLUE_DUE_SOON):
        days = params.get("days")
        values["when"] = (t("notice.due_when_today", lang) if days == 0
                          else t("notice.due_when_days", lang, days=days) if days is not None else "")
    if kind == Kind.PUBLICITY_ENDS:
        values["when"] = t("notice.when_today" if params.get("end") == params.get("as_of") else "notice.when_tomorrow",
                           lang)
    return t(key, lang, **values)


DATE_PARAMS = ("deadline", "due", "end", "identified")   # ISO dates a notice shows as a day


DIGEST_ITEMS = 3  # serials named per line: short enough for a phone


def digest_text(params: dict[str, Any], lang: str = "zh") -> str:
    """The daily digest of one unit: overdue (with days), due soon, sent back; a township's clues past or near
    their clock; the county monitoring unit's 零变化 townships; and the link."""
    lines = [t("digest.head", lang, unit=params["unit"], date=_day(params["date"], lang))]
    if params.get("overdue_count"):
        items = "；".join(t("digest.overdue_item", lang, serial=s, days=d) for s, d in params["overdue"])
        more = t("digest.more", lang) if params["overdue_count"] > len(params["overdue"]) else ""
        lines.append(t("digest.overdue", lang, count=params["overdue_count"], items=items) + more)
    if params.get("due_soon_count"):
        items = "；".join(t("digest.due_item", lang, serial=s, deadline=_day(d, lang)) for s, d in params["due_soon"])
        more = t("digest.more", lang) if params["due_soon_count"] > len(params["due_soon"]) else ""
        lines.append(t("digest.due_soon", lang, count=params["due_soon_count"], days=params["days"], items=items) + more)
    if params.get("sent_back_count"):
        items = "、".join(params["sent_back"])
        more = t("digest.more", lang) if params["sent_back_count"] > len(params["sent_back"]) else ""
        lines.append(t("digest.sent_back", lang, count=params["sent_back_count"], items=items) + more)
    if params.get("clues_overdue_count"):
        items = "；".join(t("digest.clue_overdue_item", lang, number=n, days=d) for n, d in params["clues_overdue"])
        more = t("digest.more", lang) if params["clues_overdue_count"] > len(params["clues_overdue"]) else ""
        lines.append(t("digest.clues_overdue", lang, count=params["clues_overdue_count"], items=items) + more)
    if params.get("clues_due_soon_count"):
        items = "；".join(t("digest.clue_due_item", lang, number=n, due=_day(d, lang))
                         for n, d in params["clues_due_soon"])
        more = t("digest.more", lang) if params["clues_due_soon_count"] > len(params["clues_due_soon"]) else ""
        lines.append(t("digest.clues_due_soon", lang, count=params["clues_due_soon_count"],
                       days=params.get("clue_days", ""), items=items) + more)
    for period, count, townships in params.get("zero_change", []):
        lines.append(t("digest.zero_change", lang, period=period, count=count, townships=townships))
    lines.append(t("digest.link", lang, url=params["link"]))
    return "\n".join(lines)
