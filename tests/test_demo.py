"""The demo ledger (seed/demo.py): every scenario the SPEC needs to show, built through the real services.

The demo is seeded once per backend for the whole test session (it walks ~50 findings through the
services; tests/databases.py keeps it, the other tests that start from the demo get copies of it too) and copied
into this module's database; every test only reads it, except the last, which checks that seeding again adds
nothing.
"""
from __future__ import annotations

import datetime as dt
import uuid

import pytest
from sqlalchemy import false, func, text
from sqlmodel import select

from dashboard import clock, passwords
from dashboard.config import DEMO_PASSWORD
from dashboard.services import queries
from dashboard.vocab import ExtensionDecision, Role, Status, UnitKind
from db.engine import make_engine, migrate, read_session
from db.models import AuditLog, Evidence, ExtensionRequest, Finding, Source, Unit, User, Village
from seed import demo_content as content
from seed import lookback_demo
from seed.demo import seed_demo
from tests.conftest import BACKENDS, TEST_DATABASE_URL, TODAY

OFFICES = ["社会救助办", "儿童福利和社会事务股", "养老服务和慈善事业促进股", "社会组织管理股",
           "基层政权和社区治理股", "办公室", "局扶贫办", "局机关支部"]
VILLAGES = {
    ("高士镇", "毛安村"): "provincial", ("高士镇", "黄河村"): "provincial", ("高士镇", "龙口村"): "provincial",
    ("高士镇", "花园村"): "provincial",
    ("高士镇", "高士村"): "key", ("高士镇", "新坝村"): "key", ("高士镇", "官庄村"): "key", ("赛口镇", "红旗村"): "key",
}


@pytest.fixture(scope="module", params=BACKENDS)
def demo(request, tmp_path_factory, templates):
    """An engine holding the demo ledger built for TODAY (2026-06-15), one per backend."""
    schema = admin_engine = None
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(passwords, "COST", passwords.TEST_COST)
        patch.setenv("DASHBOARD_MODE", "demo")
        patch.setenv("DASHBOARD_DATA_DIR", str(tmp_path_factory.mktemp("data")))  # the privacy key of the demo
        if request.param == "sqlite":
            engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('demo') / 'demo.db'}")
        else:
            schema = f"t_{uuid.uuid4().hex[:12]}"
            admin_engine = make_engine(TEST_DATABASE_URL)
            with admin_engine.begin() as connection:
                connection.execute(text(f'CREATE SCHEMA "{schema}"'))
            engine = make_engine(TEST_DATABASE_URL, schema=schema)
        migrate(engine)
        with clock.frozen(TODAY):
            templates.copy_demo(engine)  # seed_demo(engine, TODAY.date()), built once per session
    yield engine
    engine.dispose()
    if admin_engine is not None:
        with admin_engine.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin_engine.dispose()


@pytest.fixture
def session(demo, frozen_today):
    with read_session(demo) as session:
        yield session


def scalar(session, statement):
    return session.exec(statement).one()


def test_every_status_is_present(session):
    present = set(session.exec(select(Finding.status).distinct()).all())
    assert present == {status.value for status in Status}
    # the demo's findings, and one new finding per failed re-check of its finished 回头看
    assert scalar(session, select(func.count()).select_from(Finding)) == len(content.FINDINGS) + len(lookback_demo.FAILURES)
    assert scalar(session, select(func.count()).select_from(Finding).where(Finding.status == "cancelled")) == 1


def test_overdue_extended_and_repeat_findings(session):
    figures = queries.figures(session).as_dict()
    assert figures["overdue"] >= 1 and figures["extended"] >= 1 and figures["repeats"] >= 1 and figures["stale"] >= 1
    extended = session.exec(select(Finding).where(Finding.current_deadline != Finding.original_deadline)).all()
    assert len(extended) >= 1
    assert all(f.current_deadline > f.original_deadline and f.extension_count == 1 for f in extended)
    repeats = session.exec(select(Finding).where(Finding.repeat_of_id.is_not(None))).all()
    assert len(repeats) == 2 + len(lookback_demo.FAILURES)
    for repeat in repeats:  # each repeats a closed finding
        assert session.get(Finding, repeat.repeat_of_id).status == Status.CLOSED
    overdue = queries.overdue_list(session)
    assert overdue and all(item.days_overdue > 0 for item in overdue)


def test_sent_back_once_and_twice(session):
    counts = dict(session.exec(select(Finding.sent_back_count, func.count()).group_by(Finding.sent_back_count)).all())
    assert counts.get(1, 0) >= 1 and counts.get(2, 0) >= 1
    twice = session.exec(select(Finding).where(Finding.sent_back_count == 2)).first()
    assert queries.light_of(session, twice.id) in ("yellow", "red")


def test_extension_requests(session):
    decisions = dict(session.exec(select(ExtensionRequest.decision, func.count())
                                  .group_by(ExtensionRequest.decision)).all())
    assert decisions.get(ExtensionDecision.PENDING.value) == 1
    assert decisions.get(ExtensionDecision.APPROVED.value, 0) >= 1
    assert decisions.get(ExtensionDecision.REJECTED.value, 0) >= 1


def test_red_yellow_and_green_lights(session):
    figures = queries.figures(session).as_dict()
    assert figures["red"] >= 1 and figures["yellow"] >= 1 and figures["green"] >= 1
    assert figures["red"] + figures["yellow"] + figures["green"] + figures["closed"] + figures["cancelled"] \
        == figures["total"]
    assert sum(figures[s.value] for s in Status) == figures["total"]


def test_seed_002_villages_with_their_levels(session):
    villages = {(v.township, v.name): v for v in session.exec(select(Village)).all()}
    for place, level in VILLAGES.items():
        assert place in villages, place
        assert villages[place].level == level, place
    # the rule of seed 002: 贫困发生率 ≥ 1% or more than 50 remaining poor people → 挂牌督战
    for place in VILLAGES:
        village = villages[place]
        if village.level == "provincial":
            assert village.poverty_rate >= 1 or village.remaining_poor > 50, place
    # only seed 002's four villages are under provincial supervision; 一般 villages are below both thresholds
    assert {place for place, v in villages.items() if v.level == "provincial"} == {
        place for place, level in VILLAGES.items() if level == "provincial"}
    normal = [v for v in villages.values() if v.level == "normal"]
    assert normal and all(v.poverty_rate < 1 and v.remaining_poor <= 50 for v in normal)


def test_seed_002_offices(session):
    offices = {u.name: u.kind for u in session.exec(select(Unit)).all()}
    for name in OFFICES:
        assert offices.get(name) == UnitKind.OFFICE, name


def test_the_audit_source_has_19_findings(session):
    source = session.exec(select(Source).where(Source.kind == "audit")).one()
    assert source.title == "城乡低保专项审计反馈问题" and source.issuing_body == "审计部门"
    assert scalar(session, select(func.count()).select_from(Finding).where(Finding.source_id == source.id)) == 19
    # seed 003: 9月28日前报送整改情况报告 — the first 28 September after the audit's feedback
    assert (source.report_due_date.month, source.report_due_date.day) == (9, 28)
    assert source.received_date <= source.report_due_date < source.received_date + dt.timedelta(days=366)


def test_a_user_per_role_and_demo_passwords(session):
    users = session.exec(select(User)).all()
    assert {u.role for u in users} == {role.value for role in Role}
    townships = {u.username: u.unit_id for u in users if u.role == Role.TOWNSHIP}
    assert set(townships) == {"gaoshi", "saikou"} and all(townships.values())
    by_name = {u.username: u for u in users}
    for item in content.DEMO_USERS:
        assert by_name[item["username"]].role == item["role"]
    assert all(u.is_demo_password for u in users)
    assert passwords.verify_password(DEMO_PASSWORD, by_name["admin"].password_hash)
    departments = [u for u in users if u.role == Role.DEPARTMENT]
    assert all(u.unit_id is not None for u in departments)
    lead_units = set(session.exec(select(Finding.lead_unit_id).distinct()).all())
    assert lead_units <= {u.unit_id for u in departments}  # every lead unit has someone to report for it


def test_one_duplicate_evidence_group(session):
    groups = queries.duplicate_evidence(session)
    assert len(groups) == 1
    expected = [session.exec(select(Finding.serial).where(
        Finding.description == content.FINDINGS[index]["description"])).one() for index in (0, 2)]
    assert groups[0]["findings"] == expected
    assert groups[0]["filename"] == "整改工作会议纪要.docx"
    assert scalar(session, select(func.count()).select_from(Evidence)) > 2


def test_history_lies_before_today(session):
    assert scalar(session, select(func.max(AuditLog.at))) < TODAY
    assert scalar(session, select(func.max(Finding.created_at))) < TODAY
    closed = session.exec(select(Finding).where(Finding.status == "closed")).all()
    assert closed and all(f.closed_at is not None and f.closed_at < TODAY for f in closed)
    # every finding was logged through the service and has its create (or log_repeat) row
    logged = scalar(session, select(func.count(func.distinct(AuditLog.finding_id)))
                    .where(AuditLog.action.in_(["create", "log_repeat"]), AuditLog.entity == "Finding"))
    assert logged == len(content.FINDINGS) + len(lookback_demo.FAILURES)


def test_seeding_twice_adds_nothing(demo, frozen_today):
    def counts():
        with read_session(demo) as session:
            return {model.__name__: scalar(session, select(func.count()).select_from(model))
                    for model in (Unit, User, Village, Source, Finding, Evidence, AuditLog)}

    before = counts()
    assert seed_demo(demo, TODAY.date()) is False
    assert counts() == before


def test_work_lists_are_typed_rows_that_agree_with_the_database(session):
    """我的待办 reads typed rows (not many-key dicts): every department's list, every inspector's queue
    and the leader's escalations carry enums, whole numbers and the next step the state implies."""
    from dashboard.vocab import ACTIVE_STATES
    from dashboard.services import views
    from dashboard.services.common import actor_of
    from dashboard.vocab import EscalationKind, Light
    from db.models import ClosureReview, Measure

    departments = session.exec(select(User).where(User.role == Role.DEPARTMENT)).all()
    seen_steps = set()
    for user in departments:
        items = views.department_work(session, actor_of(user))
        for item in items:
            assert isinstance(item, views.WorkItem)
            assert isinstance(item.status, Status) and item.status in ACTIVE_STATES
            assert isinstance(item.light, Light) and isinstance(item.days_overdue, int)
            finding = session.get(Finding, item.id)
            open_measures = scalar(session, select(func.count()).select_from(Measure)
                                   .where(Measure.finding_id == item.id, Measure.done == false()))
            evidence = scalar(session, select(func.count()).select_from(Evidence).where(Evidence.finding_id == item.id))
            assert (item.serial, item.open_measures, item.evidence_count) == (finding.serial, open_measures, evidence)
            assert item.next_step == views.next_step(item.status, leads=finding.lead_unit_id == user.unit_id,
                                                     open_measures=open_measures, evidence_count=evidence)
            seen_steps.add(item.next_step)
        lights_order = [{"red": 0, "yellow": 1}.get(item.light, 2) for item in items]
        assert lights_order == sorted(lights_order)  # red, then yellow, then the rest
    assert {"next.first_progress", "next.await_review", "next.support_lead"} <= seen_steps

    pending = scalar(session, select(func.count()).select_from(ClosureReview).where(ClosureReview.decision == "pending"))
    queues = [views.inspector_work(session, actor_of(user))
              for user in session.exec(select(User).where(User.role == Role.INSPECTOR)).all()]
    assert pending and max(len(queue.reviews) for queue in queues) >= 1
    for queue in queues:
        assert all(isinstance(r, views.ReviewWaiting) and isinstance(r.sent_back_count, int) for r in queue.reviews)
        assert all(isinstance(x, views.ExtensionWaiting) and x.asked_deadline for x in queue.extensions)

    for due in views.escalations_due(session):
        assert isinstance(due, views.EscalationDue) and isinstance(due.kind, EscalationKind)
        assert due.finding_id is None or isinstance(due.status, Status)


def test_next_step_follows_the_state_and_what_is_left_to_do():
    from dashboard.services.views import next_step

    assert next_step(Status.IN_PROGRESS, leads=False, open_measures=0, evidence_count=0) == "next.support_lead"
    assert next_step(Status.OPEN, leads=True, open_measures=2, evidence_count=0) == "next.first_progress"
    assert next_step(Status.PENDING_REVIEW, leads=True, open_measures=0, evidence_count=1) == "next.await_review"
    assert next_step(Status.IN_PROGRESS, leads=True, open_measures=1, evidence_count=3) == "next.finish_measures"
    assert next_step(Status.IN_PROGRESS, leads=True, open_measures=0, evidence_count=0) == "next.upload_evidence"
    assert next_step(Status.IN_PROGRESS, leads=True, open_measures=0, evidence_count=1) == "next.apply_closure"


# --- the household ledger (issue 22) --------------------------------------------------------------------

def test_member_changes_and_village_figures(session):
    """Births, marriages and deaths in monitored households last month and this month (the bulletin's 自然增加 and
    自然减少), and villages whose population puts their ledger figures beside the hand-set level: 花园村 (达标待验收)
    and the supervised villages with no demo households come out below seed 002's criterion and are flagged."""
    from dashboard.services import household_figures, quality

    may = quality.natural_changes(session, quality.last_month(TODAY.date()))
    june = quality.natural_changes(session, quality.month_period("2026-06"))
    assert sum(added for added, _ in may.values()) == 3 and sum(removed for _, removed in may.values()) == 3
    assert sum(added for added, _ in june.values()) == 1 and sum(removed for _, removed in june.values()) == 1
    assert all(village.population > 0 for village in session.exec(select(Village)).all())
    flagged = {village.name for village, _ in household_figures.disagreeing_villages(session)}
    assert flagged == {"花园村", "东山村", "团结村", "新桥村"}


def test_households_in_every_state_in_the_seed_villages(session):
    from dashboard.services import household_views
    from dashboard.vocab import CaseState, HouseholdState
    from db.models import Household, HouseholdCase, HouseholdMember

    households = session.exec(select(Household)).all()
    assert 100 <= len(households) <= 140
    assert {h.state for h in households} == {state.value for state in HouseholdState}
    cases = set(session.exec(select(HouseholdCase.state).distinct()).all())
    assert cases == {state.value for state in CaseState}   # REJECTED too: one 不予纳入 at the township's 初审
    village_ids = {h.village_id for h in households}
    places = {(v.township, v.name) for v in session.exec(select(Village).where(Village.id.in_(village_ids))).all()}
    assert set(VILLAGES) <= places and {township for township, _ in places} == {"高士镇", "赛口镇"}
    members = session.exec(select(HouseholdMember)).all()
    assert all(m.id_valid and len(m.id_masked) == 18 and "*" in m.id_masked for m in members)
    assert any(c.is_return for c in session.exec(select(HouseholdCase)).all())  # a 返贫 clue
    inspector = next(u for u in session.exec(select(User)).all() if u.username == "inspector")
    from dashboard.services.common import actor_of

    lights = {item.light for item in household_views.clue_inbox(session, actor_of(inspector))}
    assert lights == {"red", "yellow", "green"}
    assert household_views.elimination_queue(session, actor_of(inspector))  # some are ready for 风险消除
    from db.models import HouseholdStep

    assert session.exec(select(func.max(HouseholdStep.happened_on))).one() <= TODAY.date()  # nothing in the future
    from dashboard.services.household_figures import monitoring_figures

    figures = monitoring_figures(session, TODAY)
    assert figures.identified_this_month and figures.eliminated_this_month and figures.clues_overdue
