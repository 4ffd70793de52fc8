"""From a check to a finding: an inspector turns what a data-quality rule hits in one township into a
finding of the 整改台账, in one action.

The source is the month's check (自查 "数据质量核查 2026-12", one per month), the lead unit is the township's
unit, the description names the rule and the households (户编号: no personal data), and the households are
linked (``FindingHousehold``): the finding's closure is refused while the rule still hits any of them
(``lifecycle`` precondition, facts from ``quality.still_hit``).
"""
from __future__ import annotations

import datetime as dt

from sqlmodel import Session, select

from dashboard import clock
from dashboard.errors import ValidationFailed
from dashboard.i18n import DEFAULT_LANGUAGE as DATA_LANGUAGE, t
from dashboard.lifecycle import Actor
from dashboard.services import findings, households, quality
from dashboard.settings import load_settings
from dashboard.vocab import Priority, SourceKind
from db.models import Category, Finding, FindingHousehold, Source

NAMED_IN_TEXT = 30   # 户编号 written into the description (all are linked)
# the ledger's category for each rule's problem (by name, as the demo and most counties have them)
CATEGORY_OF_RULE = {
    "short_monitoring": "对象认定不精准", "eliminated_next_month": "对象认定不精准",
    "income_below_line": "对象认定不精准", "eliminated_unsafe": "对象认定不精准", "clue_overdue": "对象认定不精准",
    "no_measure": "其他", "risk_without_measure": "其他",
    "labour_mismatch": "信息系统数据", "invalid_id": "信息系统数据", "duplicate_person": "信息系统数据",
    "publicity_short": "档案资料",
}
FALLBACK_CATEGORY = "其他"


def check_title(today: dt.date) -> str:
    return t("check.source_title", DATA_LANGUAGE, month=f"{today:%Y-%m}")


def _source(session: Session, actor: Actor, today: dt.date) -> Source:
    title = check_title(today)
    source = session.exec(select(Source).where(Source.kind == SourceKind.SELF_CHECK.value,
                                               Source.title == title)).first()
    return source or findings.create_source(session, actor, kind=SourceKind.SELF_CHECK, title=title,
                                            received_date=today)


def _category(session: Session, rule_id: str) -> Category:
    for name in (CATEGORY_OF_RULE.get(rule_id, FALLBACK_CATEGORY), FALLBACK_CATEGORY):
        category = session.exec(select(Category).where(Category.name == name)).first()
        if category is not None:
            return category
    raise ValidationFailed("error.check_no_category", name=FALLBACK_CATEGORY)


def raise_finding(session: Session, actor: Actor, *, rule_id: str, township: str) -> Finding:
    """One finding for what ``rule_id`` hits in ``township`` today, led by the township's unit."""
    rule = quality.RULES_BY_ID.get(rule_id)
    if rule is None:
        raise ValidationFailed("error.check_unknown_rule", rule=rule_id)
    today = clock.today()
    result = quality.run(session, today=today, township=township, rules=[rule]).result(rule_id)
    if not result.household_ids:
        raise ValidationFailed("error.check_nothing_hit", township=township)
    unit_id = households.township_unit_id(session, township)
    if unit_id is None:
        raise ValidationFailed("error.check_no_township_unit", township=township)
    settings = load_settings(session)
    shown = "、".join(result.numbers[:NAMED_IN_TEXT]) + ("…" if result.count > NAMED_IN_TEXT else "")
    title = t(f"quality_rule.{rule_id}", DATA_LANGUAGE)
    finding = findings.log_finding(session, actor, findings.FindingInput(
        source_id=_source(session, actor, today).id, category_id=_category(session, rule_id).id,
        description=t("check.finding_text", DATA_LANGUAGE, township=township, rule=title, count=result.count,
                      households=shown),
        lead_unit_id=unit_id, township=township,
        measures=[t("check.finding_measure", DATA_LANGUAGE, rule=title)],
        deadline=today + dt.timedelta(days=settings.check_finding_days),
        priority=Priority.KEY if rule.severity is quality.Severity.HIGH else Priority.NORMAL))
    for household_id in result.household_ids:
        session.add(FindingHousehold(finding_id=finding.id, household_id=household_id, rule_id=rule_id))
    session.flush()
    return finding
