"""Build the demo ledger from ``seed.demo_content`` by walking every finding through the real
services with a moving clock, so the demo has a genuine history (progress, reviews, audit log).

Deterministic for a given reference date: dates are relative to ``today``.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import lru_cache

from sqlalchemy import Engine, func
from sqlmodel import Session, select

from dashboard import clock, config
from dashboard.lifecycle import SYSTEM, Actor
from dashboard.services import admin
from dashboard.services import findings as svc
from dashboard.services.common import actor_of
from dashboard.services.findings import FindingInput, UploadedFile
from dashboard.vocab import ExtensionDecision, Role
from dashboard.services.unit_of_work import unit_of_work
from db.models import ExtensionRequest, Measure, Unit
from seed import demo_content as content
from seed.household_demo import HouseholdCast, seed_households
from seed.word_files import word_file

# The one file deliberately offered as proof for two findings (纸面销号 warning in the demo).
SHARED_EVIDENCE_FINDINGS = (0, 2)


@dataclass
class Cast:
    """Who acts in the demo: the inspector, the admin, and a department user per lead unit."""

    inspector: Actor
    admin: Actor
    departments: dict[int, Actor]
    households: HouseholdCast


def is_seeded(session: Session) -> bool:
    return session.exec(select(func.count()).select_from(Unit)).one() > 0


def seed_demo(engine: Engine, today: dt.date | None = None) -> bool:
    """Fill an empty database with the demo ledger. Returns False (and changes nothing) if it has data."""
    today = today or clock.today()
    with unit_of_work(engine) as session:
        if is_seeded(session):
            return False
        start = today - dt.timedelta(days=max(s["received_days_ago"] for s in content.SOURCES) + 5)
        with clock.frozen(dt.datetime.combine(start, dt.time(8, 30))):
            units, villages, categories = _reference_data(session)
            cast = _people(session, units)
        sources = _sources(session, cast, today)
        ids: list[int] = []
        for index, item in enumerate(content.FINDINGS):
            ids.append(_walk(session, cast, index, item, sources[item["source"]], units, villages, categories,
                             ids, today))
        session.flush()
        from seed.lookback_demo import seed_lookback

        seed_lookback(session, cast.inspector, today)
        seed_households(session, cast.households, villages, today)
    return True


def _reference_data(session: Session):
    units: dict[str, int] = {}
    for item in content.UNITS:
        parent = units.get(item["parent"]) if item["parent"] else None
        units[item["name"]] = admin.create_unit(session, SYSTEM, name=item["name"], kind=item["kind"],
                                                parent_id=parent, monitoring=item.get("monitoring", False)).id
    villages = {}
    for item in content.VILLAGES:
        village = admin.create_village(session, SYSTEM, **item)
        session.flush()
        villages[(item["township"], item["name"])] = village.id
    categories = {name: admin.create_category(session, SYSTEM, name, order).id
                  for order, name in enumerate(content.CATEGORIES, start=1)}
    session.flush()
    return units, villages, categories


def _people(session: Session, units: dict[str, int]) -> Cast:
    actors: dict[str, Actor] = {}
    for item in content.DEMO_USERS:
        user = admin.create_user(session, SYSTEM, username=item["username"], display_name=item["display_name"],
                                 role=item["role"], unit_id=units.get(item["unit"]) if item["unit"] else None,
                                 password=config.DEMO_PASSWORD, is_demo_password=True)
        session.flush()
        actors[item["username"]] = actor_of(user)
    departments = {a.unit_id: a for a in actors.values() if a.role == Role.DEPARTMENT}
    lead_units = {f["lead_unit"] for f in content.FINDINGS}
    for name in sorted(lead_units):
        unit_id = units[name]
        if unit_id not in departments:  # a unit with findings but no named demo user gets a liaison account
            user = admin.create_user(session, SYSTEM, username=f"unit{unit_id}", display_name=f"{name}联络员",
                                     role=Role.DEPARTMENT, unit_id=unit_id, password=config.DEMO_PASSWORD,
                                     is_demo_password=True)
            session.flush()
            departments[unit_id] = actor_of(user)
    return Cast(inspector=actors["inspector"], admin=actors["admin"], departments=departments,
                households=HouseholdCast(officers={"高士镇": actors["gaoshi"], "赛口镇": actors["saikou"]},
                                         county=actors["jiance"], county_visitor=actors["jiance2"]))


REPORT_SENT_EARLY = 2   # the demo's past reports were sent two days before they were due


def report_due(item: dict, received: dt.date) -> dt.date:
    """A source's 整改情况报告 due date: N days after it was received, or a named day (seed 003's audit:
    报告于9月28日前报送), the first such day on or after it was received."""
    if "report_due_on" not in item:
        return received + dt.timedelta(days=item["report_due_days_after"])
    month, day = item["report_due_on"]
    due = dt.date(received.year, month, day)
    return due if due >= received else dt.date(received.year + 1, month, day)


def _sources(session: Session, cast: Cast, today: dt.date) -> dict[str, tuple[int, dt.date]]:
    sources = {}
    for item in content.SOURCES:
        received = today - dt.timedelta(days=item["received_days_ago"])
        due = report_due(item, received)
        with clock.frozen(dt.datetime.combine(received, dt.time(9, 0))):
            source = svc.create_source(session, cast.inspector, kind=item["kind"], title=item["title"],
                                       received_date=received, issuing_body=item["issuing_body"],
                                       report_due_date=due, notes=item["notes"])
            session.flush()
        sent = max(due - dt.timedelta(days=REPORT_SENT_EARLY), received)
        if due < today:   # a report whose day has passed was sent, on time
            with clock.frozen(dt.datetime.combine(sent, dt.time(16, 0))):
                svc.set_source_report(session, cast.inspector, source.id, None, report_due_date=due,
                                      report_sent_on=sent)
            session.flush()
        sources[item["key"]] = (source.id, received)
    return sources


@lru_cache(maxsize=1)
def _shared_minutes() -> bytes:
    """Built once: the zip inside a .docx records the time it was saved, so two builds can differ."""
    return word_file("民政系统整改工作会议纪要", ["会议研究部署整改工作。"])


def _evidence_file(index: int, item: dict, step: int) -> UploadedFile:
    """A real Word document summarising the work, as a unit would upload it."""
    if index in SHARED_EVIDENCE_FINDINGS and step == 0:
        return UploadedFile(filename="整改工作会议纪要.docx", data=_shared_minutes())
    data = word_file("整改佐证材料", [item["description"], *item["progress"]])
    return UploadedFile(filename=f"整改佐证材料{step + 1}.docx", data=data)


def _walk(session: Session, cast: Cast, index: int, item: dict, source: tuple[int, dt.date],
          units: dict[str, int], villages: dict, categories: dict[str, int], ids: list[int],
          today: dt.date) -> int:
    source_id, received = source
    logged = dt.datetime.combine(received + dt.timedelta(days=2), dt.time(10, 0))
    deadline = (received + dt.timedelta(days=item["deadline_days_after"])
                if item["deadline_days_after"] is not None else None)
    village_id = villages.get((item["township"], item["village"])) if item["village"] else None
    remarks = f"审计反馈：{item['area']}" if item.get("area") else ""
    data = FindingInput(
        source_id=source_id, category_id=categories[item["category"]], description=item["description"],
        lead_unit_id=units[item["lead_unit"]], measures=item["measures"], deadline=deadline,
        rect_type=item["type"], priority=item["priority"],
        co_unit_ids=[units[name] for name in item["co_units"]], township=item["township"], village_id=village_id,
        responsible_leader=item["leader"], responsible_person=item["person"], remarks=remarks,
        repeat_of_id=ids[item["repeat_of"]] if item["scenario"] == "repeat" else None,
    )
    with clock.frozen(logged):
        finding = svc.log_finding(session, cast.inspector, data)
        session.flush()
    Walk(session, cast, index, item, finding, logged, deadline, today).run()
    return finding.id  # type: ignore[return-value]  # flushed above: the row has its id


class Walk:
    """Moves one finding to its demo scenario: a list of dated events, run in date order.

    Active items get their last activity in the last days before ``today``; 'stale' ones fall
    silent 40 days before; closed ones finish before their deadline.
    """

    CLOSURE_SCENARIOS = ("closed", "pending_review", "ongoing", "sent_back_once", "sent_back_twice")

    def __init__(self, session, cast, index, item, finding, logged, deadline, today):
        self.session, self.cast, self.index, self.item, self.finding = session, cast, index, item, finding
        self.dept = cast.departments[finding.lead_unit_id]
        self.logged, self.deadline, self.today = logged, deadline, today
        self.scenario = item["scenario"]
        self.events: list[tuple[float, object]] = []

    def at(self, day: float) -> dt.datetime:
        moment = self.logged + dt.timedelta(days=day)
        latest = dt.datetime.combine(self.today - dt.timedelta(days=1), dt.time(17, 0))
        return min(moment.replace(hour=9 + int(day * 7) % 8, minute=0), latest)

    def finish_day(self) -> float:
        """The day (after logging) of this finding's last activity."""
        days_until_today = (self.today - self.logged.date()).days
        if self.scenario == "stale":
            return days_until_today - 40
        if self.scenario in ("closed", "ongoing") and self.deadline:
            return min(days_until_today - 5, (self.deadline - self.logged.date()).days - 3)
        return days_until_today - 1 - self.index % 9

    def add(self, day: float, fn, *args, **kwargs) -> None:
        self.events.append((day, lambda: fn(self.session, *args, **kwargs)))

    def run(self) -> None:
        if self.scenario == "cancelled":
            self.add(1, svc.cancel, self.cast.admin, self.finding.id, None, self.item["cancel_reason"])
        elif self.scenario != "open":
            finish = max(self.finish_day(), 12)
            progress_until = finish
            if self.scenario in self.CLOSURE_SCENARIOS:
                progress_until = self.plan_closure(finish)
            self.plan_progress(progress_until)
            if self.item.get("extension"):
                self.plan_extension()
        for day, event in sorted(self.events, key=lambda pair: pair[0]):
            with clock.frozen(self.at(day)):
                event()
                self.session.flush()

    def plan_progress(self, until: float) -> None:
        notes = self.item["progress"] or ["已召开专题会议研究整改工作"]
        with_evidence = self.scenario in self.CLOSURE_SCENARIOS
        for step, note in enumerate(notes):
            day = 2 + (until - 2) * (step + 1) / len(notes)
            files = [_evidence_file(self.index, self.item, step)] if with_evidence and step < 2 else []
            self.add(day, svc.report_progress, self.dept, self.finding.id, done_text=note,
                     next_text="" if step == len(notes) - 1 else "继续推进整改", percent=min(95, 30 * (step + 1)),
                     files=files)

    def plan_extension(self) -> None:
        extension = self.item["extension"]
        asked = self.deadline + dt.timedelta(days=extension["extra_days"])
        days_to_deadline = (self.deadline - self.logged.date()).days
        days_until_today = (self.today - self.logged.date()).days
        day = max(1.0, min(days_to_deadline - 10, days_until_today - 4))
        self.add(day, svc.request_extension, self.dept, self.finding.id, asked_deadline=asked,
                 reason=extension["reason"])
        decision = {"extended": (True, "理由充分，同意延期"),
                    "extension_rejected": (False, "延期理由不充分，请按原时限完成整改")}.get(self.scenario)
        if decision:
            self.add(day + 2, self.decide_extension, *decision)

    def decide_extension(self, session: Session, approve: bool, comment: str) -> None:
        request = session.exec(select(ExtensionRequest).where(
            ExtensionRequest.finding_id == self.finding.id,
            ExtensionRequest.decision == ExtensionDecision.PENDING.value)).one()
        svc.decide_extension(session, self.cast.inspector, request.id, approve=approve, comment=comment)

    def plan_closure(self, finish: float) -> float:
        """Schedule measures, applications and reviews ending at ``finish``; return when progress must end."""
        reasons = list(self.item["send_back_reasons"] or [])
        rounds = {"sent_back_once": 1, "sent_back_twice": 2}.get(self.scenario, 0)
        decided = self.scenario in ("closed", "ongoing")
        apply_day = finish - 4 * rounds - (2 if decided else 0)
        summary = self.item["closure_summary"] or "整改措施已全部落实，佐证材料已上传"
        self.add(apply_day - 1, self.tick_all)
        day = apply_day
        for round_ in range(rounds):
            reason = reasons[round_] if round_ < len(reasons) else "佐证材料不完整，请补充"
            self.add(day, svc.apply_closure, self.dept, self.finding.id, None, summary=summary)
            self.add(day + 1, svc.send_back, self.cast.inspector, self.finding.id, None, reason)
            self.add(day + 3, svc.report_progress, self.dept, self.finding.id,
                     done_text=f"按退回意见补充整改：{reason}", percent=90)
            day += 4
        if rounds == 0:
            self.add(day, svc.apply_closure, self.dept, self.finding.id, None, summary=summary)
        if self.scenario == "closed":
            self.add(day + 2, svc.close, self.cast.inspector, self.finding.id, None, "经实地核查，整改到位，同意销号")
        elif self.scenario == "ongoing":
            self.add(day + 2, svc.set_ongoing, self.cast.inspector, self.finding.id, None,
                     "阶段性整改成果认可，转入持续整改，按季度报送进展")
        return apply_day - 2

    def tick_all(self, session: Session) -> None:
        for measure in session.exec(select(Measure).where(Measure.finding_id == self.finding.id)).all():
            svc.tick_measure(session, self.dept, measure.id, None)
