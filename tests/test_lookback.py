"""回头看: the draw (reproducible, stratified, every mandatory finding in), each verdict (a failure opens
exactly one linked finding, a pass none), separation of duties, concurrent verdicts, the report's figures.
Every test runs on SQLite and PostgreSQL (the ``engine`` fixture)."""
from __future__ import annotations

import datetime as dt
import io
import threading

import pytest
from docx import Document
from sqlmodel import func, select

from dashboard import clock
from dashboard.documents.lookback_report import build_lookback_report
from dashboard.errors import ConflictError, InvalidState, PermissionDenied, ValidationFailed
from dashboard.figures import percent
from dashboard.lifecycle import SYSTEM
from dashboard.services import admin, lookback, queries, rollups
from dashboard.services import findings as svc
from dashboard.services.common import actor_of
from dashboard.services.lookback import CampaignInput
from dashboard.services.unit_of_work import unit_of_work
from dashboard.vocab import CheckAnswer, Priority, Role, SampleReason, SourceKind, Status, Verdict
from db.engine import read_session
from db.models import AuditLog, Evidence, Finding, FindingCoUnit, LookbackItem, Source
from tests.factories import evidence, finding_input

PHOTO = evidence("复查现场.pdf", b"%PDF-1.4 photo of the house")
ALL_YES = [CheckAnswer.YES] * 4


def closed_finding(session, world, **overrides) -> Finding:
    """A finding taken through the real lifecycle to 已销号."""
    finding = svc.log_finding(session, world.actors["inspector"], finding_input(world, **overrides))
    session.flush()
    dept = world.actors["jiuzhu"] if finding.lead_unit_id == world.units["社会救助办"] else world.actors["ertong"]
    svc.report_progress(session, dept, finding.id, done_text="完成核查", files=[evidence(payload=f"%PDF-1.4 {finding.id}".encode())])
    for measure_id, in session.execute(select(svc.Measure.id).where(svc.Measure.finding_id == finding.id)).all():
        svc.tick_measure(session, dept, measure_id, None)
    svc.apply_closure(session, dept, finding.id, None, summary="已整改")
    svc.close(session, world.actors["inspector"], finding.id, None)
    session.flush()
    return finding


def bulk_closed(session, world, count: int, *, lead: str, key_every: int = 0, sent_back_every: int = 0) -> list[int]:
    """Many closed findings written directly (the draw reads only these columns)."""
    ids = []
    for n in range(count):
        finding = Finding(serial=f"ZG-B-{world.units[lead]}-{n:05d}", source_id=world.source_id, category_id=world.category_id,
                          description=f"问题{n}", lead_unit_id=world.units[lead], status=Status.CLOSED.value,
                          priority=Priority.KEY.value if key_every and n % key_every == 0 else Priority.NORMAL.value,
                          sent_back_count=1 if sent_back_every and n % sent_back_every == 1 else 0,
                          closed_at=dt.datetime(2026, 5, 20, 9, 0), township="高士镇" if n % 2 else "毛坝镇")
        session.add(finding)
        session.flush()
        ids.append(finding.id)
    return ids


def campaign_input(**overrides) -> CampaignInput:
    values = dict(title="社会救助政策落实情况回头看", issuing_body="县民政局", start_date=dt.date(2026, 6, 15),
                  end_date=dt.date(2026, 7, 15), report_due_date=dt.date(2026, 7, 20), seed=20260615)
    values.update(overrides)
    return CampaignInput(**values)


def drawn_campaign(engine, world, **overrides) -> int:
    with unit_of_work(engine) as session:
        campaign = lookback.create_campaign(session, world.actors["inspector"], campaign_input(**overrides))
    with unit_of_work(engine) as session:
        lookback.draw_sample(session, world.actors["inspector"], campaign.id)
    return campaign.id


def one_item(engine, campaign_id: int) -> LookbackItem:
    with read_session(engine) as session:
        return session.exec(select(LookbackItem).where(LookbackItem.campaign_id == campaign_id)
                            .order_by(LookbackItem.id)).first()


# --- the draw ----------------------------------------------------------------------------------------------

def test_draw_takes_every_mandatory_finding_and_a_share_of_the_rest_per_unit(engine, world):
    with unit_of_work(engine) as session:
        jiuzhu = bulk_closed(session, world, 50, lead="社会救助办", key_every=10, sent_back_every=7)
        ertong = bulk_closed(session, world, 3, lead="儿童福利和社会事务股")
        shared_a, shared_b = jiuzhu[2], ertong[0]
        for finding_id in (shared_a, shared_b):  # the same file offered for two findings: 纸面销号 warning
            session.add(Evidence(finding_id=finding_id, filename="合影.jpg", size=10, sha256="f" * 64))
        open_one = svc.log_finding(session, world.actors["inspector"], finding_input(world, priority=Priority.KEY))
    campaign_id = drawn_campaign(engine, world)
    with read_session(engine) as session:
        rows = session.exec(select(LookbackItem).where(LookbackItem.campaign_id == campaign_id)).all()
        figures = lookback.campaign_figures(session, campaign_id)
    by_finding = {row.finding_id: row for row in rows}
    key = [i for n, i in enumerate(jiuzhu) if n % 10 == 0]
    sent_back = [i for n, i in enumerate(jiuzhu) if n % 7 == 1]
    assert set(key) | set(sent_back) | {shared_a, shared_b} <= set(by_finding)
    assert all(by_finding[i].reason == SampleReason.KEY for i in key)
    assert by_finding[shared_b].reasons == [SampleReason.SHARED_EVIDENCE.value]
    assert by_finding[jiuzhu[50 - 49]].reasons[0] == SampleReason.SENT_BACK  # n=1: sent back
    assert open_one.id not in by_finding                                      # only closed findings
    mandatory_jiuzhu = len(set(key) | set(sent_back) | {shared_a})
    rest_jiuzhu = 50 - mandatory_jiuzhu
    random_rows = [row for row in rows if row.reason == SampleReason.RANDOM]
    assert sum(row.lead_unit_id == world.units["社会救助办"] for row in random_rows) == -(-rest_jiuzhu * 20 // 100)
    assert sum(row.lead_unit_id == world.units["儿童福利和社会事务股"] for row in random_rows) == 2  # at least 2
    assert figures["strata"] == {"key": len(key), "sent_back": len(set(sent_back) - set(key)),
                                 "shared_evidence": 2, "random": len(random_rows), "manual": 0}
    assert figures["totals"]["sampled"] == len(rows)


def test_the_same_seed_and_scope_draw_the_same_sample_and_another_seed_another(engine, world):
    with unit_of_work(engine) as session:
        bulk_closed(session, world, 60, lead="社会救助办")
    first = drawn_campaign(engine, world)
    second = drawn_campaign(engine, world, title="第二轮回头看")
    other = drawn_campaign(engine, world, title="换种子", seed=7)
    with read_session(engine) as session:
        sample = lambda cid: sorted(session.exec(select(LookbackItem.finding_id).where(  # noqa: E731 - a one-line helper read where it is used
            LookbackItem.campaign_id == cid)).all())
        assert sample(first) == sample(second)
        assert len(sample(other)) == len(sample(first)) == 12 and sample(other) != sample(first)
        assert lookback.verify_draw(session, first)


def test_scope_limits_the_draw(engine, world):
    with unit_of_work(engine) as session:
        bulk_closed(session, world, 10, lead="社会救助办")
        ertong = bulk_closed(session, world, 10, lead="儿童福利和社会事务股")
    campaign_id = drawn_campaign(engine, world, lead_unit_ids=[world.units["儿童福利和社会事务股"]],
                                 townships=["高士镇"], percent=100)
    with read_session(engine) as session:
        drawn = set(session.exec(select(LookbackItem.finding_id).where(LookbackItem.campaign_id == campaign_id)).all())
    assert drawn == {i for n, i in enumerate(ertong) if n % 2}


def test_manual_addition_is_marked_and_only_closed_findings_qualify(engine, world):
    with unit_of_work(engine) as session:
        closed = closed_finding(session, world)
        still_open = svc.log_finding(session, world.actors["inspector"], finding_input(world))
        session.flush()
        serials = closed.serial, still_open.serial
    campaign_id = drawn_campaign(engine, world, include_key=False, percent=0, min_per_unit=0)
    with unit_of_work(engine) as session:
        item = lookback.add_by_hand(session, world.actors["inspector"], campaign_id, serials[0])
        assert item.reason == SampleReason.MANUAL and item.added_by_id == world.actors["inspector"].id
    with unit_of_work(engine) as session, pytest.raises(InvalidState) as refused:
        lookback.add_by_hand(session, world.actors["inspector"], campaign_id, serials[1])
    assert serials[1] in refused.value.en and "not closed" in refused.value.en
    with unit_of_work(engine) as session, pytest.raises(InvalidState):
        lookback.add_by_hand(session, world.actors["inspector"], campaign_id, serials[0])
    with read_session(engine) as session:
        assert lookback.campaign_figures(session, campaign_id)["strata"]["manual"] == 1


def test_a_campaign_draws_once(engine, world):
    campaign_id = drawn_campaign(engine, world)
    with unit_of_work(engine) as session, pytest.raises(InvalidState):
        lookback.draw_sample(session, world.actors["inspector"], campaign_id)


def test_bad_campaign_input_is_refused_in_the_users_language(engine, world):
    with unit_of_work(engine) as session, pytest.raises(ValidationFailed) as refused:
        lookback.create_campaign(session, world.actors["inspector"],
                                 campaign_input(title="  ", checklist=["\u00a0", ""]))
    assert refused.value.en and "title" in refused.value.en
    with unit_of_work(engine) as session, pytest.raises(ValidationFailed):
        lookback.create_campaign(session, world.actors["inspector"], campaign_input(end_date=dt.date(2026, 1, 1)))
    with unit_of_work(engine) as session, pytest.raises(ValidationFailed):
        lookback.create_campaign(session, world.actors["inspector"], campaign_input(checklist=["\t", " "]))
    with unit_of_work(engine) as session:
        campaign = lookback.create_campaign(session, world.actors["inspector"],
                                            campaign_input(checklist=[" 档案是否齐全 ", "", "入户  核查"]))
        assert campaign.checklist == ["档案是否齐全", "入户 核查"]
        source = session.get(Source, campaign.source_id)
        assert source.kind == SourceKind.REVIEW and source.title == campaign.title


def test_default_checklist_is_the_four_points_of_the_review(engine, world):
    with unit_of_work(engine) as session:
        campaign = lookback.create_campaign(session, world.actors["inspector"], campaign_input())
        assert len(campaign.checklist) == 4 and "危房" in campaign.checklist[3]
        assert campaign.rule["percent"] == 20 and campaign.rule["min_per_unit"] == 2


# --- the verdicts ------------------------------------------------------------------------------------------

@pytest.fixture
def sampled(engine, world):
    """A campaign whose sample holds one closed finding (with a co-operating unit), by hand."""
    with unit_of_work(engine) as session:
        original = closed_finding(session, world, co_unit_ids=[world.units["高士镇"]], township="高士镇")
        world.original_id, world.original_serial = original.id, original.serial
    with unit_of_work(engine) as session:
        campaign = lookback.create_campaign(session, world.actors["inspector"], campaign_input(percent=0, min_per_unit=0,
                                                                                              include_key=False))
        world.campaign_id = campaign.id
    with unit_of_work(engine) as session:
        lookback.draw_sample(session, world.actors["inspector"], campaign.id)
    with unit_of_work(engine) as session:
        world.item_id = lookback.add_by_hand(session, world.actors["inspector"], campaign.id, world.original_serial).id
    return world


@pytest.mark.parametrize("verdict", [Verdict.INCOMPLETE, Verdict.ON_PAPER, Verdict.REBOUND], ids=str)
def test_a_failed_recheck_opens_exactly_one_new_linked_finding(engine, sampled, verdict):
    world = sampled
    with unit_of_work(engine) as session:
        rollups.rebuild(session)  # the maintained roll-ups the leadership figures read
    with read_session(engine) as session:
        repeats_before = queries.figures(session, world.actors["leader"]).repeats
        assert rollups.totals(session)["repeats"] == repeats_before
    with unit_of_work(engine) as session:
        item = lookback.record_verdict(session, world.actors["inspector"], world.item_id, 1, verdict=verdict,
                                       answers=[CheckAnswer.NO, CheckAnswer.YES, CheckAnswer.NA, CheckAnswer.NO],
                                       note="入户发现仍有2户不符合条件", files=[PHOTO])
        new_id = item.new_finding_id
    with read_session(engine) as session:
        new = session.get(Finding, new_id)
        original = session.get(Finding, world.original_id)
        repeats = session.exec(select(Finding).where(Finding.repeat_of_id == world.original_id)).all()
        assert [f.id for f in repeats] == [new_id]
        assert original.status == Status.CLOSED  # never reopened
        campaign = lookback.get_campaign(session, world.campaign_id)
        assert new.source_id == campaign.source_id and new.priority == Priority.KEY
        assert new.lead_unit_id == original.lead_unit_id and new.status == Status.OPEN
        assert set(session.exec(select(FindingCoUnit.unit_id).where(FindingCoUnit.finding_id == new_id)).all()) \
            == {world.units["高士镇"]}
        assert "入户发现仍有2户不符合条件" in new.description and original.serial in new.description
        word = {Verdict.INCOMPLETE: "整改不到位", Verdict.ON_PAPER: "纸面整改", Verdict.REBOUND: "问题反弹"}[verdict]
        assert word in new.description
        assert new.current_deadline == clock.today() + dt.timedelta(days=30)
        assert session.exec(select(func.count()).select_from(Evidence).where(Evidence.finding_id == new_id)).one() == 1
        # at once in 屡改屡犯 and in the leadership figures (the unit of work settles the roll-ups)
        assert queries.figures(session, world.actors["leader"]).repeats == repeats_before + 1
        assert rollups.totals(session)["repeats"] == repeats_before + 1
        assert rollups.verify(session) == []  # the maintained roll-ups agree with a recount
        actions = session.exec(select(AuditLog.action).where(AuditLog.finding_id == world.original_id)).all()
        assert "recheck" in actions


def test_a_pass_opens_nothing_and_needs_no_evidence(engine, sampled):
    world = sampled
    with unit_of_work(engine) as session:
        before = session.exec(select(func.count()).select_from(Finding)).one()
        item = lookback.record_verdict(session, world.actors["inspector"], world.item_id, 1, verdict=Verdict.FIXED,
                                       answers=ALL_YES)
        assert item.new_finding_id is None and item.verdict == Verdict.FIXED
    with read_session(engine) as session:
        assert session.exec(select(func.count()).select_from(Finding)).one() == before
        figures = lookback.campaign_figures(session, world.campaign_id)
        assert figures["totals"]["passed"] == 1 and figures["totals"]["pass_rate"] == 1.0


def test_a_failure_needs_evidence_a_note_and_every_answer(engine, sampled):
    world = sampled
    inspector = world.actors["inspector"]
    with unit_of_work(engine) as session, pytest.raises(ValidationFailed) as refused:
        lookback.record_verdict(session, inspector, world.item_id, 1, verdict=Verdict.ON_PAPER, answers=ALL_YES,
                                note="只有台账没有入户")
    assert "evidence" in refused.value.en
    with unit_of_work(engine) as session, pytest.raises(ValidationFailed):
        lookback.record_verdict(session, inspector, world.item_id, 1, verdict=Verdict.ON_PAPER, answers=ALL_YES,
                                note="   ", files=[PHOTO])
    with unit_of_work(engine) as session, pytest.raises(ValidationFailed) as refused:
        lookback.record_verdict(session, inspector, world.item_id, 1, verdict=Verdict.FIXED, answers=ALL_YES[:3])
    assert "4" in refused.value.en
    with unit_of_work(engine) as session, pytest.raises(ValidationFailed):
        lookback.record_verdict(session, inspector, world.item_id, 1, verdict="maybe", answers=ALL_YES)
    with unit_of_work(engine) as session, pytest.raises(ValidationFailed):  # a .pdf that is not a PDF
        lookback.record_verdict(session, inspector, world.item_id, 1, verdict=Verdict.REBOUND, answers=ALL_YES,
                                note="反弹", files=[evidence("x.pdf", b"MZ\x90\x00 not a pdf")])
    with read_session(engine) as session:
        assert session.get(LookbackItem, world.item_id).verdict is None  # nothing half-written
        assert session.exec(select(func.count()).select_from(Finding).where(
            Finding.repeat_of_id == world.original_id)).one() == 0


# --- separation of duties, assignment, concurrency --------------------------------------------------------

def test_nobody_rechecks_a_finding_their_own_unit_leads_or_cooperates_on(engine, sampled):
    world = sampled
    with unit_of_work(engine) as session:
        township_inspector = actor_of(admin.create_user(session, SYSTEM, username="gaoshi", display_name="高士镇督查",
                                                        role=Role.INSPECTOR, password="s3cret-pass-x1",
                                                        unit_id=world.units["高士镇"]))
    for actor in (world.actors["inspector_jiuzhu"], township_inspector):  # lead unit, co-operating unit
        with unit_of_work(engine) as session, pytest.raises(PermissionDenied) as refused:
            lookback.record_verdict(session, actor, world.item_id, 1, verdict=Verdict.FIXED, answers=ALL_YES)
        assert "职责分离" in refused.value.zh
        with unit_of_work(engine) as session, pytest.raises(PermissionDenied):
            lookback.assign(session, world.actors["inspector"], world.item_id, actor.id, dt.date(2026, 6, 30))
    for role in ("jiuzhu", "leader", "admin"):
        with unit_of_work(engine) as session, pytest.raises(PermissionDenied):
            lookback.record_verdict(session, world.actors[role], world.item_id, 1, verdict=Verdict.FIXED,
                                    answers=ALL_YES)


def test_assign_all_respects_separation_and_shows_in_my_work(engine, world):
    with unit_of_work(engine) as session:
        bulk_closed(session, world, 10, lead="社会救助办")
        bulk_closed(session, world, 10, lead="儿童福利和社会事务股")
    campaign_id = drawn_campaign(engine, world, percent=50)
    due = dt.date(2026, 6, 30)
    with unit_of_work(engine) as session:
        given = lookback.assign_all(session, world.actors["inspector"], campaign_id,
                                    [world.actors["inspector"].id, world.actors["inspector_jiuzhu"].id], due)
    with read_session(engine) as session:
        rows = session.exec(select(LookbackItem).where(LookbackItem.campaign_id == campaign_id)).all()
        assert given == len(rows) == 10
        assert not [r for r in rows if r.assignee_id == world.actors["inspector_jiuzhu"].id
                    and r.lead_unit_id == world.units["社会救助办"]]
        assert {r.due_date for r in rows} == {due}
        mine = lookback.my_rechecks(session, world.actors["inspector_jiuzhu"])
        assert mine and all(recheck.unit == "儿童福利和社会事务股" for recheck in mine)
    item = next(r for r in rows if r.assignee_id == world.actors["inspector"].id)
    with unit_of_work(engine) as session, pytest.raises(PermissionDenied):  # assigned to someone else
        lookback.record_verdict(session, world.actors["inspector_jiuzhu"], item.id, item.version,
                                verdict=Verdict.FIXED, answers=ALL_YES)


def test_two_verdicts_on_one_item_one_wins_the_other_gets_the_stale_edit_message(engine, sampled):
    world = sampled
    with unit_of_work(engine) as session:
        inspector2 = actor_of(admin.create_user(session, SYSTEM, username="inspector2", display_name="督查二",
                                                role=Role.INSPECTOR, password="s3cret-pass-x2",
                                                unit_id=world.units["整改办"]))
    results: dict[str, object] = {}
    barrier = threading.Barrier(2)

    def recheck(name, actor, verdict, files):
        barrier.wait()
        try:
            with unit_of_work(engine) as session:
                lookback.record_verdict(session, actor, world.item_id, 1, verdict=verdict, answers=ALL_YES,
                                        note="现场复查", files=files)
            results[name] = "ok"
        except ConflictError as conflict:
            results[name] = conflict
        except Exception as error:  # noqa: BLE001 - SQLite's lock: the loser retries below like the page would
            results[name] = error

    threads = [threading.Thread(target=recheck, args=("a", world.actors["inspector"], Verdict.FIXED, [])),
               threading.Thread(target=recheck, args=("b", inspector2, Verdict.ON_PAPER, [PHOTO]))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    winners = [name for name, result in results.items() if result == "ok"]
    assert len(winners) == 1, results
    loser = next(name for name in results if name not in winners)
    if not isinstance(results[loser], ConflictError):  # SQLite refused the second writer outright: try again
        actor = world.actors["inspector"] if loser == "a" else inspector2
        with unit_of_work(engine) as session, pytest.raises(ConflictError) as conflict:
            lookback.record_verdict(session, actor, world.item_id, 1, verdict=Verdict.FIXED, answers=ALL_YES)
        results[loser] = conflict.value
    assert "已被" in results[loser].zh or "changed" in results[loser].en
    with read_session(engine) as session:
        assert session.exec(select(func.count()).select_from(Finding).where(
            Finding.repeat_of_id == world.original_id)).one() == (1 if winners == ["b"] else 0)


# --- finishing and the report -------------------------------------------------------------------------------

def test_report_from_a_frozen_snapshot_has_the_pages_numbers(engine, sampled, tmp_path):
    world = sampled
    with unit_of_work(engine) as session:
        lookback.record_verdict(session, world.actors["inspector"], world.item_id, 1, verdict=Verdict.ON_PAPER,
                                answers=ALL_YES, note="只有台账没有入户", files=[PHOTO])
    with unit_of_work(engine) as session:
        snapshot = lookback.freeze(session, world.actors["leader"], world.campaign_id)
        frozen = snapshot.figures
    with read_session(engine) as session:
        live = lookback.campaign_figures(session, world.campaign_id)
    assert {k: v for k, v in frozen.items() if k != "taken_at"} == live
    text = "\n".join(p.text for p in Document(io.BytesIO(build_lookback_report(frozen))).paragraphs)
    tables = Document(io.BytesIO(build_lookback_report(frozen))).tables
    cells = {cell.text for table in tables for row in table.rows for cell in row.cells}
    assert f"抽取已销号问题{live['totals']['sampled']}项" in text
    assert f"通过率{percent(live['totals']['pass_rate'])}" in text
    assert world.original_serial in cells and "虚假整改/纸面整改" in cells
    with unit_of_work(engine) as session, pytest.raises(PermissionDenied):
        lookback.freeze(session, world.actors["jiuzhu"], world.campaign_id)


def test_finish_needs_every_verdict(engine, sampled):
    world = sampled
    with unit_of_work(engine) as session, pytest.raises(InvalidState) as refused:
        lookback.finish_campaign(session, world.actors["inspector"], world.campaign_id)
    assert "1" in refused.value.en
    with unit_of_work(engine) as session:
        lookback.record_verdict(session, world.actors["inspector"], world.item_id, 1, verdict=Verdict.FIXED,
                                answers=ALL_YES)
    with unit_of_work(engine) as session:
        lookback.finish_campaign(session, world.actors["inspector"], world.campaign_id)
    with unit_of_work(engine) as session, pytest.raises(InvalidState):
        lookback.add_by_hand(session, world.actors["inspector"], world.campaign_id, world.original_serial)


def test_cli_lookback_report_writes_the_word_file(engine, sampled, database_url, monkeypatch, tmp_path):
    from dashboard import cli
    from tests.apptest_support import point_app_at

    point_app_at(monkeypatch, database_url)
    out = tmp_path / "回头看.docx"
    assert cli.main(["lookback-report", str(sampled.campaign_id), str(out)]) == 0
    text = "\n".join(p.text for p in Document(str(out)).paragraphs)
    assert "社会救助政策落实情况回头看情况报告" in text and "抽取已销号问题1项" in text
    assert cli.main(["lookback-report", "99999", str(tmp_path / "none.docx")]) == 2


def test_the_demo_holds_one_finished_campaign_with_failures(engine, database_url, monkeypatch, tmp_path, demo_copy):
    from dashboard import cli
    from seed.lookback_demo import FAILURES
    from tests.apptest_support import point_app_at

    demo_copy(engine)  # seed_demo(engine), built once
    with read_session(engine) as session:
        (campaign,) = lookback.list_campaigns(session)
        figures = lookback.campaign_figures(session, campaign.id)
    assert campaign.status == "finished" and figures["totals"]["checked"] == figures["totals"]["sampled"] > 0
    assert figures["totals"]["failed"] == len(FAILURES) and all(row["new_serial"] for row in figures["failures"])
    point_app_at(monkeypatch, database_url)
    out = tmp_path / "demo.docx"
    assert cli.main(["lookback-report", str(campaign.id), str(out)]) == 0
    text = "\n".join(p.text for p in Document(str(out)).paragraphs)
    assert f"通过率{percent(figures['totals']['pass_rate'])}" in text
    assert f"未通过{figures['totals']['failed']}项" in text


def test_an_assignment_notifies_the_re_checker(engine, sampled):
    from dashboard.services import notifications

    world = sampled
    with unit_of_work(engine) as session:
        lookback.assign(session, world.actors["inspector"], world.item_id, world.actors["inspector"].id,
                        dt.date(2026, 6, 30))
    with read_session(engine) as session:
        notices = notifications.list_for(session, world.actors["inspector"].id)
        assert [n.kind for n in notices] == ["recheck_assigned"] and notices[0].finding_id == world.original_id


# --- the campaign's lifecycle table (issue 21) -------------------------------------------------------------

# A literal copy of what the SPEC and the page promise: a campaign is drawn once (待抽样 → 复查中), findings can be
# added and given out until it finishes, re-checks and 分派全部 need the sample, and it finishes from 复查中.
CAMPAIGN_CELLS = {  # step: {status it may start from: where it leads}
    "draw": {"draft": "active"},
    "add_by_hand": {"draft": "draft", "active": "active"},
    "assign": {"draft": "draft", "active": "active"},
    "assign_all": {"active": "active"},
    "recheck": {"active": "active"},
    "finish": {"active": "finished"},
}


@pytest.mark.parametrize("status", ["draft", "active", "finished"])
@pytest.mark.parametrize("step", list(CAMPAIGN_CELLS))
def test_every_cell_of_the_campaign_lifecycle(step, status):
    from dashboard.lifecycle import CampaignStep, campaign_may, campaign_next

    expected = CAMPAIGN_CELLS[step].get(status)
    assert campaign_may(CampaignStep(step), status) is (expected is not None)
    if expected is not None:
        assert campaign_next(CampaignStep(step), status) == expected
        return
    with pytest.raises(InvalidState) as refused:
        campaign_next(CampaignStep(step), status)
    assert refused.value.key == ("error.lookback_already_drawn" if step == "draw" else
                                 "error.lookback_finished" if status == "finished" else "error.lookback_not_active")


def test_assign_all_asks_the_policy_for_separation_of_duties(engine, world, monkeypatch):
    """分派全部 decides who may take an item with ``lifecycle.can(…, RECHECK, …)``, the check one assignment
    makes: every item is asked about, and a policy that lets nobody re-check gives nothing out."""
    from dashboard import lifecycle
    from dashboard.services import lookback as service

    with unit_of_work(engine) as session:
        bulk_closed(session, world, 4, lead="社会救助办")
    campaign_id = drawn_campaign(engine, world, percent=100)
    asked: list[tuple] = []

    def spied(person, action, **facts):
        asked.append((person.id, action, facts["lead_unit_id"]))
        return lifecycle.can(person, action, **facts) and not refuse_all

    monkeypatch.setattr(service, "can", spied)
    refuse_all = True
    with unit_of_work(engine) as session:
        assert service.assign_all(session, world.actors["inspector"], campaign_id,
                                  [world.actors["inspector"].id], dt.date(2026, 7, 1)) == 0
    assert len(asked) == 4 and {a[1] for a in asked} == {lifecycle.Action.RECHECK}
    refuse_all = False
    with unit_of_work(engine) as session:
        assert service.assign_all(session, world.actors["inspector"], campaign_id,
                                  [world.actors["inspector"].id], dt.date(2026, 7, 1)) == 4
