"""The demo's one finished 回头看 (seed 003: the four points, the 五个再): drawn from the demo's closed
findings with a fixed seed, shared between the two inspectors, re-checked, a few failing."""
from __future__ import annotations

import datetime as dt

from sqlmodel import Session, select

from dashboard import clock
from dashboard.services import lookback
from dashboard.services.common import actor_of
from dashboard.services.findings import UploadedFile
from dashboard.vocab import CheckAnswer, Role, Verdict
from db.models import LookbackItem, User
from seed.word_files import word_file

TITLE = "社会救助政策落实情况回头看"
ISSUING_BODY = "县民政局"
SEED = 20260928
# (verdict, note) for the first sampled findings; the rest are 真改实改.
FAILURES = (
    (Verdict.ON_PAPER, "入户核实发现整改仅停留在台账上，2户不符合条件对象仍在保，未见清退手续。"),
    (Verdict.INCOMPLETE, "档案已补齐，但民主评议记录缺失，纳入程序仍不规范。"),
    (Verdict.REBOUND, "该村低保家庭住房再次出现危房，问题反弹，需再排查、再规范。"),
)


def _record(heading: str, note: str) -> UploadedFile:
    return UploadedFile(filename="回头看复查记录.docx", data=word_file(heading, [note, "再排查、再挤水、再规范、再培训、再严格。"]))


def seed_lookback(session: Session, inspector, today: dt.date) -> int:
    """Create, draw, assign, re-check and finish the demo campaign; returns its id."""
    start = today - dt.timedelta(days=20)
    with clock.frozen(dt.datetime.combine(start, dt.time(9, 0))):
        campaign = lookback.create_campaign(session, inspector, lookback.CampaignInput(
            title=TITLE, issuing_body=ISSUING_BODY, start_date=start, end_date=today - dt.timedelta(days=2),
            report_due_date=today + dt.timedelta(days=5), seed=SEED))
        session.flush()
        lookback.draw_sample(session, inspector, campaign.id)
        session.flush()
        people = [actor_of(user) for user in session.exec(
            select(User).where(User.role == Role.INSPECTOR.value).order_by(User.id)).all()]
        lookback.assign_all(session, inspector, campaign.id, [p.id for p in people], today - dt.timedelta(days=5))
        session.flush()
    by_id = {person.id: person for person in people}
    items = session.exec(select(LookbackItem).where(LookbackItem.campaign_id == campaign.id)
                         .order_by(LookbackItem.id)).all()
    for n, item in enumerate(items):
        if item.assignee_id is None:
            continue
        when = dt.datetime.combine(start + dt.timedelta(days=3 + n % 10), dt.time(15, 0))
        verdict, note = FAILURES[n] if n < len(FAILURES) else (Verdict.FIXED, "入户复查，整改到位。")
        with clock.frozen(when):
            lookback.record_verdict(
                session, by_id[item.assignee_id], item.id, item.version, verdict=verdict,
                answers=[CheckAnswer.YES] * len(campaign.checklist), note=note,
                files=[] if verdict is Verdict.FIXED else [_record(TITLE, note)])
            session.flush()
    with clock.frozen(dt.datetime.combine(today - dt.timedelta(days=2), dt.time(17, 0))):
        left = session.exec(select(LookbackItem).where(LookbackItem.campaign_id == campaign.id,
                                                       LookbackItem.verdict.is_(None))).all()  # type: ignore[union-attr]  # SQLModel types the column as its value
        if not left:
            lookback.finish_campaign(session, inspector, campaign.id)
    return campaign.id
