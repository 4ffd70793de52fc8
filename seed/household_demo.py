"""The demo's household monitoring ledger (issue 22): about 120 households in the seed villages of 高士镇 and
赛口镇, every one walked through the real services on its own dates, so each state is present with a genuine
history: 脱贫户 not monitored, clues on the 15-day clock at every step (green, yellow and red), monitored
households with measures, eliminations under way and done, and a 返贫 clue on an eliminated household.
People are generated (``seed.people``): their IDs look real and belong to nobody."""
from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass

from sqlmodel import Session, select

from dashboard import clock
from dashboard.lifecycle import SYSTEM, Actor
from dashboard.services import households as svc
from dashboard.services.households import HouseholdInput, HouseholdUpdate, MemberInput
from dashboard.vocab import HouseholdType, LabourSkill, MonitorCategory, Risk, SupportKind
from seed import people

SEED = 22
INCOME_LINES = {0: 7600, 1: 7300, 2: 7000}   # years back from today's year → yuan per person per year
VILLAGES = (("高士镇", "毛安村"), ("高士镇", "黄河村"), ("高士镇", "龙口村"), ("高士镇", "花园村"),
            ("高士镇", "高士村"), ("高士镇", "新坝村"), ("高士镇", "官庄村"), ("赛口镇", "红旗村"),
            ("赛口镇", "沿河村"))
MEASURES = {
    Risk.ILLNESS: (SupportKind.HEALTH, "家庭医生签约服务，大病救助", "县卫健委"),
    Risk.DISABILITY: (SupportKind.WELFARE, "残疾人两项补贴", "县残联"),
    Risk.SCHOOLING: (SupportKind.EDUCATION, "雨露计划助学补助", "县教育局"),
    Risk.DISASTER: (SupportKind.HOUSING, "灾后房屋修缮补助", "县住建局"),
    Risk.ACCIDENT: (SupportKind.WELFARE, "临时救助", "县民政局"),
    Risk.INDUSTRY: (SupportKind.INDUSTRY, "特色种养业奖补", "县农业农村局"),
    Risk.WORK: (SupportKind.EMPLOYMENT, "就业技能培训并推荐务工岗位", "县人社局"),
    Risk.LABOUR: (SupportKind.PUBLIC_JOB, "安排村保洁公益性岗位", "乡镇政府"),
    Risk.HOUSING: (SupportKind.HOUSING, "农村危房改造", "县住建局"),
    Risk.WATER: (SupportKind.WATER, "接通自来水管网", "县水利局"),
    Risk.OTHER: (SupportKind.SOCIAL, "结对帮扶干部定期走访", "县乡村振兴局"),
}
CLUES = {
    Risk.ILLNESS: "户主患重病住院，医疗费用自付较多",
    Risk.DISABILITY: "家庭成员新增重度残疾",
    Risk.SCHOOLING: "两个子女同时上大学，教育支出大",
    Risk.DISASTER: "暴雨导致房屋受损、农作物绝收",
    Risk.ACCIDENT: "主要劳动力务工时意外受伤",
    Risk.INDUSTRY: "养殖项目因疫病损失严重",
    Risk.WORK: "外出务工人员失业返乡",
    Risk.LABOUR: "家中主要劳动力去世，缺劳动力",
    Risk.HOUSING: "住房经鉴定为危房",
    Risk.WATER: "季节性缺水，饮水不安全",
    Risk.OTHER: "家庭收入骤减，基本生活困难",
}

# (how many, the step the identification reached, days since the clue): clues on the clock
CLUES_ON_THE_CLOCK = (
    (4, "clue", (0, 1, 2, 3)),
    (4, "verified", (3, 5, 9, 16)),
    (3, "reviewed", (6, 10, 12)),
    (4, "publicized", (7, 9, 11, 17)),
    (4, "township_approved", (10, 13, 15, 19)),
)

# days from the 风险消除 visit to the step the demo stops at (visit, 公示 the next day for 5 days, 县级审核 on the
# 7th day once the posting is over, 公告 on the 8th); a posting stopped at has ended, ready for the county
ELIMINATION_DAYS = {"elim_verified": 1, "elim_publicized": 7, "elim_approved": 8, "eliminated": 9}


@dataclass
class HouseholdCast:
    officers: dict[str, Actor]     # township name → its officer
    county: Actor                  # the county monitoring unit: decides
    county_visitor: Actor          # a second member of the unit: its own visits are decided by the first


def _members(rng: random.Random, today: dt.date, nobody_works: bool = False) -> list[MemberInput]:
    size = rng.choice((1, 2, 3, 3, 4, 4, 5))
    relations = ["户主", "配偶", "之子", "之女", "之孙子", "之母"][:size]
    members = []
    for index, relation in enumerate(relations):
        low, high = {0: (38, 75), 1: (36, 72), 2: (8, 30), 3: (6, 28), 4: (1, 10), 5: (70, 88)}[index]
        born = people.birth(rng, today, low, high)
        age = today.year - born.year
        skill = (LabourSkill.NONE if age < 16 or age > 70 or nobody_works
                 else rng.choice((LabourSkill.ORDINARY, LabourSkill.ORDINARY, LabourSkill.SKILLED, LabourSkill.WEAK)))
        members.append(MemberInput(
            name=people.name(rng), relation=relation, sex="女" if relation in ("配偶", "之女", "之母") else "男",
            birth_date=born, id_number=people.resident_id(rng, born, female=relation in ("配偶", "之女", "之母")),
            phone=people.phone(rng) if index < 2 else "", labour_skill=skill,
            education=rng.choice(("小学", "初中", "高中", "文盲或半文盲")),
            school_status="在校生" if 6 <= age <= 22 and index >= 2 else "非在校生",
            health=rng.choice(("健康", "健康", "长期慢性病", "患有大病", "残疾"))))
    return members


# 人口变动 in monitored households (the bulletin's 自然增加 and 自然减少): (reason, days before the 1st of this month;
# negative: days into this month, kept before today)
MEMBER_CHANGES = (("birth", 20), ("birth", 9), ("birth", -1), ("marriage_in", 14), ("death", 25), ("death", 3),
                  ("marriage_out", 11), ("moved_out", 6), ("death", -2))


class _Builder:
    def __init__(self, session: Session, cast: HouseholdCast, villages: dict[tuple[str, str], int], today: dt.date):
        self.session, self.cast, self.villages, self.today = session, cast, villages, today
        self.rng = random.Random(SEED)
        self.serial = 0
        self.latest = clock.now() - dt.timedelta(minutes=5)  # today's steps happened before the demo was built

    def at(self, day: dt.date):
        return clock.frozen(min(dt.datetime.combine(day, dt.time(9, 30)), self.latest))

    def new_data(self, household_type: HouseholdType = HouseholdType.ORDINARY, nobody_works: bool = False,
                 place: tuple[str, str] | None = None) -> tuple[HouseholdInput, Risk]:
        self.serial += 1
        township, village = place or VILLAGES[self.serial % len(VILLAGES)]
        risk = self.rng.choice(list(Risk))
        code = "340826" + ("10" if township == "高士镇" else "20") + f"{self.serial:04d}"
        return HouseholdInput(number=code, village_id=self.villages[(township, village)], household_type=household_type,
                              members=_members(self.rng, self.today, nobody_works), risks=[risk],
                              income_year=self.today.year, income_per_capita=float(self.rng.randrange(3800, 7200, 50)),
                              ), risk

    def officer(self, household_id: int) -> Actor:
        township = self.session.get(svc.Household, household_id).township
        return self.cast.officers[township]

    def clue(self, data: HouseholdInput, risk: Risk, received: dt.date, household_id: int | None = None):
        township = self.session.get(svc.Village, data.village_id).township if data else None
        officer = self.cast.officers[township] if township else self.officer(household_id)
        with self.at(received):
            source = self.rng.choice(("self_report", "cadre_check", "department_alert"))
            return svc.register_clue(self.session, officer, source=source, received_on=received, text=CLUES[risk],
                                     new=data if household_id is None else None, household_id=household_id), officer

    def walk(self, case, officer: Actor, received: dt.date, until: str, category: MonitorCategory) -> None:
        """The identification steps after the clue, each on its day, up to ``until``."""
        steps = ("verified", "reviewed", "publicized", "township_approved", "included")
        visitor = self.cast.county_visitor if case.id % 7 == 0 else officer
        for step in steps[:steps.index(until) + 1] if until != "clue" else ():
            with self.at(received + dt.timedelta(days={"verified": 1, "reviewed": 3, "publicized": 4,
                                                      "township_approved": 10, "included": 11}[step])):
                day = clock.today()
                version = case.version
                if step == "verified":
                    svc.record_visit(self.session, visitor, case.id, version, visited_on=day, consent_on=day,
                                     note="已入户核实家庭收支和“三保障”情况，农户签署承诺授权书")
                elif step == "reviewed":
                    svc.record_review(self.session, officer, case.id, version, reviewed_on=day, note="村民代表会议评议通过")
                elif step == "publicized":
                    svc.record_publicity(self.session, officer, case.id, version, start=day,
                                         end=day + dt.timedelta(days=4))
                elif step == "township_approved":
                    svc.township_review(self.session, officer, case.id, version, on=day, category=category)
                else:
                    svc.county_decide(self.session, self.cast.county, case.id, version, on=day, category=category)
            self.session.flush()

    def support(self, household_id: int, risk: Risk, start: dt.date, income: float) -> None:
        kind, text, unit = MEASURES[risk]
        officer = self.officer(household_id)
        with self.at(start):
            svc.add_measure(self.session, officer, household_id, kind=kind, text=text, unit_name=unit, start_on=start)
            svc.update_household(self.session, officer, household_id, None,
                                 HouseholdUpdate(income_year=start.year, income_per_capita=income))

    def monitored(self, days_ago: int, category: MonitorCategory, income: float, nobody_works: bool = False) -> int:
        data, risk = self.new_data(HouseholdType.EXITED if category is MonitorCategory.UNSTABLE else HouseholdType.ORDINARY,
                                   nobody_works)
        received = self.today - dt.timedelta(days=days_ago)
        case, officer = self.clue(data, risk, received)
        self.walk(case, officer, received, "included", category)
        self.support(case.household_id, risk, min(received + dt.timedelta(days=12), self.today), income)
        return case.household_id

    def eliminate(self, household_id: int, visited: dt.date, until: str) -> None:
        officer = self.officer(household_id)
        with self.at(visited):
            income = float(self.rng.randrange(9000, 15000, 100))
            svc.update_household(self.session, officer, household_id, None,
                                 HouseholdUpdate(income_year=visited.year, income_per_capita=income))
            case = svc.start_elimination(self.session, officer, household_id, visited_on=visited, method="supported",
                                         note="收入稳定高于监测标准，“三保障”和饮水安全持续巩固")
        if until == "elim_verified":
            return
        with self.at(visited + dt.timedelta(days=1)):
            svc.record_elimination_publicity(self.session, officer, case.id, case.version, start=clock.today(),
                                             end=clock.today() + dt.timedelta(days=4))
        if until == "elim_publicized":
            return
        with self.at(visited + dt.timedelta(days=7)):
            svc.review_elimination(self.session, self.cast.county, case.id, case.version, on=clock.today())
        if until == "elim_approved":
            return
        with self.at(visited + dt.timedelta(days=8)):
            svc.announce_elimination(self.session, self.cast.county, case.id, case.version, on=clock.today())

    def member_changes(self, household_ids: list[int]) -> None:
        """Births, marriages and deaths recorded by the township officers, last month and this month."""
        first = self.today.replace(day=1)
        for household_id, (reason, days) in zip(household_ids, MEMBER_CHANGES):
            day = min(first - dt.timedelta(days=days), self.today)
            officer = self.officer(household_id)
            with self.at(day):
                if reason in ("birth", "marriage_in"):
                    born = day if reason == "birth" else people.birth(self.rng, day, 22, 30)
                    female = self.rng.random() < 0.5 if reason == "birth" else True
                    new = MemberInput(name=people.name(self.rng), relation="之孙子" if reason == "birth" else "之儿媳",
                                      sex="女" if female else "男", birth_date=born,
                                      id_number=people.resident_id(self.rng, born, female=female),
                                      labour_skill=LabourSkill.NONE if reason == "birth" else LabourSkill.ORDINARY,
                                      education="学龄前儿童" if reason == "birth" else "初中", health="健康")
                    svc.record_member_change(self.session, officer, household_id, reason=reason, happened_on=day,
                                             new_member=new)
                else:
                    leaving = self.session.exec(select(svc.HouseholdMember.id).where(
                        svc.HouseholdMember.household_id == household_id, svc.HouseholdMember.is_head.is_(False))
                        .order_by(svc.HouseholdMember.seq.desc())).first()
                    if leaving is not None:
                        svc.record_member_change(self.session, officer, household_id, reason=reason, happened_on=day,
                                                 member_id=leaving)
            self.session.flush()


def seed_households(session: Session, cast: HouseholdCast, villages: dict[tuple[str, str], int], today: dt.date) -> int:
    """Fill the household ledger of the demo; returns how many households it made."""
    b = _Builder(session, cast, villages, today)
    with b.at(today.replace(month=1, day=1)):   # the province set this year's line in January
        for back, yuan in INCOME_LINES.items():
            svc.set_income_line(session, SYSTEM, today.year - back, yuan)
    for _ in range(20):   # 脱贫户 in the ledger, not monitored
        data, _risk = b.new_data(HouseholdType.EXITED)
        data.risks = []
        data.income_per_capita = float(b.rng.randrange(9000, 16000, 100))
        svc.new_household(session, data)
    for count, until, days in CLUES_ON_THE_CLOCK:   # clues on the 15-day clock, at every step
        for index in range(count):
            data, risk = b.new_data()
            received = today - dt.timedelta(days=days[index])
            case, officer = b.clue(data, risk, received)
            b.walk(case, officer, received, until, b.rng.choice(list(MonitorCategory)))
    categories = list(MonitorCategory)
    for days_ago in (11, 12, 13):   # identified in the last days (新识别 this month)
        b.monitored(days_ago, categories[days_ago % 3], float(b.rng.randrange(4200, 7000, 50)))
    long_monitored = []
    for index in range(42):   # monitored, identified 1 to 20 months ago
        long_monitored.append(b.monitored(30 + index * 13, categories[index % 3], float(b.rng.randrange(4200, 9800, 50)),
                                          nobody_works=index % 15 == 4))
    for index in range(6):    # ready for 风险消除: more than six months, income above the line
        b.monitored(230 + index * 20, categories[index % 3], float(b.rng.randrange(9000, 13000, 100)))
    for index, until in enumerate(("elim_verified", "elim_publicized", "elim_approved") * 2):   # under way
        household_id = b.monitored(260 + index * 15, categories[index % 3], 9500)
        b.eliminate(household_id, today - dt.timedelta(days=ELIMINATION_DAYS[until] + index), until)
    eliminated = []
    for index in range(20):   # eliminated, some this month
        household_id = b.monitored(330 + index * 12, categories[index % 3], 9800)
        b.eliminate(household_id, today - dt.timedelta(days=ELIMINATION_DAYS["eliminated"] + index * 9), "eliminated")
        eliminated.append(household_id)
    b.member_changes(long_monitored[10:])
    for household_id in eliminated[-2:]:   # 返贫: a new clue on an eliminated household, on the clock
        risk = b.rng.choice((Risk.ILLNESS, Risk.ACCIDENT))
        case, officer = b.clue(None, risk, today - dt.timedelta(days=4), household_id=household_id)
        b.walk(case, officer, today - dt.timedelta(days=4), "verified", MonitorCategory.UNSTABLE)
    plant_unsupported(b)
    plant_rejected(b)
    return b.serial


PLANTED_DAYS_AGO = 75   # identified this long ago, and no measure since: what the nightly check must find


def plant_unsupported(b: _Builder) -> int:
    """A planted problem for the nightly data-quality check (issue 23): a 高士镇 household monitored for two
    months with a 因病 risk and no measure at all (rules ``no_measure`` and ``risk_without_measure``). The
    township fixes it on the household page by adding a 健康帮扶 measure."""
    data, _risk = b.new_data(place=("高士镇", "毛安村"))
    data.risks = [Risk.ILLNESS]
    received = b.today - dt.timedelta(days=PLANTED_DAYS_AGO)
    case, officer = b.clue(data, Risk.ILLNESS, received)
    b.walk(case, officer, received, "included", MonitorCategory.SUDDEN)
    return case.household_id


REJECTED_DAYS_AGO = 20   # the clue of the 不予纳入 case was received this long ago


def plant_rejected(b: _Builder) -> int:
    """不予纳入: a clue the township did not pass at its 初审 (after the visit the income was found above the
    line); the household stays in the ledger, not monitored, with the refused case and its reason in its history."""
    data, risk = b.new_data(place=("赛口镇", "红旗村"))
    received = b.today - dt.timedelta(days=REJECTED_DAYS_AGO)
    case, officer = b.clue(data, risk, received)
    b.walk(case, officer, received, "publicized", MonitorCategory.MARGINAL)
    with b.at(received + dt.timedelta(days=10)):
        svc.reject(b.session, officer, case.id, case.version, on=clock.today(),
                   reason="入户核实后家庭人均纯收入高于监测收入标准，乡镇初审不予纳入")
    b.session.flush()
    return case.household_id
