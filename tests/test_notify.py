"""Notifications, outbound channels, the daily jobs and their claims, against a local robot and SMTP server."""
from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlmodel import select

from dashboard import clock
from dashboard.i18n import placeholders
from dashboard.lifecycle import Action, can
from dashboard.services import delivery, findings as svc, jobs, notifications
from dashboard.services.unit_of_work import unit_of_work
from db.engine import read_session
from db.models import AuditLog, Delivery, JobClaim, Notification, User
from tests.databases import world_in
from tests.factories import evidence, finding_input
from tests.fake_servers import FakeRobot, FakeSmtp

ROOT = Path(__file__).resolve().parent.parent
TODAY = dt.date(2026, 6, 15)


@pytest.fixture
def world(engine, frozen_today):
    return world_in(engine)


def _user_id(engine, username: str) -> int:
    with read_session(engine) as session:
        return session.exec(select(User.id).where(User.username == username)).one()


def _ledger(engine, world):
    """社会救助办: one finding 10 days overdue, one due in 3 days, one sent back; 儿童福利股: one due in 7 days."""
    inspector, jiuzhu = world.actors["inspector"], world.actors["jiuzhu"]
    with unit_of_work(engine) as session:
        late = svc.log_finding(session, inspector, finding_input(world, description="低保档案不全",
                                                                  deadline=dt.date(2026, 6, 5)))
        soon = svc.log_finding(session, inspector, finding_input(world, description="临时救助台账未更新",
                                                                  deadline=dt.date(2026, 6, 18)))
        back = svc.log_finding(session, inspector, finding_input(world, description="特困供养资金发放滞后",
                                                                  deadline=dt.date(2026, 8, 31)))
        child = svc.log_finding(session, inspector, finding_input(
            world, description="孤儿基本生活费未足额发放", lead_unit_id=world.units["儿童福利和社会事务股"],
            deadline=dt.date(2026, 6, 22)))
    with unit_of_work(engine) as session:
        for measure_id in [m.id for m in session.exec(select(svc.Measure).where(svc.Measure.finding_id == back.id))]:
            svc.tick_measure(session, jiuzhu, measure_id, None)
        svc.attach_evidence(session, jiuzhu, back.id, evidence())
        svc.apply_closure(session, jiuzhu, back.id, None, summary="已全部发放")
    with unit_of_work(engine) as session:
        svc.send_back(session, inspector, back.id, None, "缺少发放凭证")
    return late, soon, back, child


def test_digest_reaches_robot_and_smtp_once_and_the_notification_centre(engine, world, monkeypatch):
    with FakeRobot() as robot, FakeSmtp() as smtp:
        monkeypatch.setenv("DASHBOARD_NOTIFY_URLS", robot.url)  # the default channel
        with unit_of_work(engine) as session:  # 社会救助办 has its own: email
            delivery.set_channel(session, world.actors["admin"], world.units["社会救助办"], "apprise", {"url": smtp.url()})
        late, soon, back, child = _ledger(engine, world)
        # the send-back notice queued when it happened goes out with the first pass
        first = jobs.run_once(engine)
        again = jobs.run_once(engine)  # cron twice the same day: nothing more
        assert first["digest_units"] == 2 and again["digest_units"] == 0
        jiuzhu_digest = "\n".join([
            "【整改提醒】社会救助办（6月15日）",
            f"逾期未完成1项：{late.serial}逾期10天",
            f"7日内到期1项：{soon.serial}于6月18日到期",
            f"销号被退回待重新整改1项：{back.serial}",
            "请登录处理：http://localhost:8501/my_work",
        ])
        child_digest = "\n".join([
            "【整改提醒】儿童福利和社会事务股（6月15日）",
            f"7日内到期1项：{child.serial}于6月22日到期",
            "请登录处理：http://localhost:8501/my_work",
        ])
        assert robot.bodies() == [child_digest]
        assert [item["title"] for item in robot.received] == ["整改每日提醒"]
        mails = [("\n".join(body.splitlines())) for body in smtp.bodies()]
        assert mails == [f"{back.serial} 的销号申请被退回：缺少发放凭证", jiuzhu_digest]
        assert smtp.messages[1][1]["Subject"] == "整改每日提醒"
        assert [m[0] for m in smtp.messages] == [["jiuzhu@example.cn"]] * 2
    jiuzhu = _user_id(engine, "jiuzhu")
    with read_session(engine) as session:
        notices = notifications.list_for(session, jiuzhu)
        kinds = sorted(n.kind for n in notices)
        assert kinds == ["digest", "due_soon", "sent_back"]  # 3 days before soon's deadline; the send-back
        digest = next(n for n in notices if n.kind == "digest")
        assert notifications.text(digest.kind, digest.params, "zh") == jiuzhu_digest
        assert "Overdue: 1" in notifications.text(digest.kind, digest.params, "en")
        assert notifications.unread_count(session, jiuzhu) == 3
        units = (f"unit:{world.units['儿童福利和社会事务股']}", f"unit:{world.units['社会救助办']}")
        assert set(session.exec(select(JobClaim.job, JobClaim.recipient)).all()) == {
            (job, unit) for job in ("digest", "remind") for unit in units}
        assert {d.status for d in session.exec(select(Delivery)).all()} == {"sent"}


def test_mark_read_only_touches_ones_own(engine, world):
    _ledger(engine, world)
    jiuzhu_actor = world.actors["jiuzhu"]
    with read_session(engine) as session:
        mine = notifications.list_for(session, jiuzhu_actor.id)
        others = session.exec(select(Notification).where(Notification.user_id != jiuzhu_actor.id)).all()
    assert [n.kind for n in mine] == ["sent_back"]
    with unit_of_work(engine) as session:  # someone else's ids are ignored
        assert notifications.mark_read(session, jiuzhu_actor, [n.id for n in others]) == 0
        assert notifications.mark_read(session, jiuzhu_actor, [mine[0].id]) == 1
    with read_session(engine) as session:
        assert notifications.unread_count(session, jiuzhu_actor.id) == 0
        assert notifications.list_for(session, jiuzhu_actor.id)[0].read_at == clock.now()


def test_every_event_notifies_the_unit(engine, world):
    inspector, jiuzhu = world.actors["inspector"], world.actors["jiuzhu"]
    with unit_of_work(engine) as session:
        finding = svc.log_finding(session, inspector, finding_input(world))
    with unit_of_work(engine) as session:
        request = svc.request_extension(session, jiuzhu, finding.id, asked_deadline=dt.date(2026, 9, 30), reason="等待")
    with unit_of_work(engine) as session:
        svc.decide_extension(session, inspector, request.id, approve=True)
        svc.record_escalation(session, inspector, kind="letter", note="请加快", finding_id=finding.id)
        svc.record_escalation(session, inspector, kind="reminder", note="电话提醒", finding_id=finding.id)
        notifications.recheck_assigned(session, [world.actors["ertong"].id], finding.id, {"campaign": "回头看"})
    with read_session(engine) as session:
        texts = [notifications.text(n.kind, n.params) for n in
                 reversed(notifications.list_for(session, jiuzhu.id))]
        ertong = notifications.list_for(session, world.actors["ertong"].id)
    assert texts == [f"{finding.serial} 的延期申请：批准（申请时限9月30日）",
                     f"你单位收到督办函{finding.serial}，涉及问题1项，请按要求回复。"]
    assert [n.kind for n in ertong] == ["recheck_assigned"] and ertong[0].finding_id == finding.id
    assert "Please re-check" in notifications.text(ertong[0].kind, ertong[0].params, "en")


def test_a_channel_that_is_down_costs_a_retry_never_a_write(engine, world, monkeypatch):
    monkeypatch.setenv("DASHBOARD_NOTIFY_URLS", "json://127.0.0.1:9/down")  # nothing listens there
    started = dt.datetime.now()
    _ledger(engine, world)  # the send-back queues a message: no network inside the write
    assert (dt.datetime.now() - started).total_seconds() < 10
    with read_session(engine) as session:
        row = session.exec(select(Delivery)).one()
        assert row.status == "pending" and row.attempts == 0


def test_failures_retry_with_back_off_then_show_as_failed(engine, world, monkeypatch):
    with FakeRobot(fail_first=2) as robot:
        monkeypatch.setenv("DASHBOARD_NOTIFY_URLS", robot.url)
        _ledger(engine, world)
        assert delivery.deliver_due(engine)["pending"] == 1  # 500: retry later
        assert delivery.deliver_due(engine) == {"sent": 0, "pending": 0, "failed": 0}  # not due yet
        with read_session(engine) as session:
            row = session.exec(select(Delivery)).one()
        assert (row.attempts, row.status, row.next_attempt_at) == (1, "pending", clock.now() + dt.timedelta(minutes=1))
        assert "500" in row.last_error
        with clock.frozen(clock.now() + dt.timedelta(minutes=1)):
            assert delivery.deliver_due(engine)["pending"] == 1
        with clock.frozen(clock.now() + dt.timedelta(minutes=6)):
            assert delivery.deliver_due(engine)["sent"] == 1
        assert robot.requests == 3 and len(robot.received) == 1
        with read_session(engine) as session:
            row = session.exec(select(Delivery)).one()
        assert (row.attempts, row.status, row.last_error) == (3, "sent", "")
    # a robot that never answers: after notify_max_attempts the message shows as failed
    monkeypatch.setenv("DASHBOARD_NOTIFY_URLS", "json://127.0.0.1:9/down")
    with unit_of_work(engine) as session:
        delivery.queue(session, None, "test", title="t", body="b")
    moment = clock.now()
    for _attempt in range(5):
        with clock.frozen(moment):
            delivery.deliver_due(engine)
        moment += dt.timedelta(hours=5)
    with read_session(engine) as session:
        failed = delivery.log_rows(session, failed_only=True)
    assert [(r.body, r.attempts) for r in failed] == [("b", 5)]
    assert "9/down" not in failed[0].last_error  # the address is starred in the log


def test_secrets_are_never_shown_again(engine, world):
    admin = world.actors["admin"]
    with unit_of_work(engine) as session:
        delivery.set_channel(session, admin, world.units["社会救助办"], "dingtalk",
                             {"webhook": "https://oapi.dingtalk.com/robot/send?access_token=abcdef0123456789abcdef",
                              "secret": "SECa1b2c3d4e5f6"})
        delivery.set_channel(session, admin, None, "wecom",
                             {"webhook": "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa"})
        delivery.set_channel(session, admin, world.units["整改办"], "email",
                             {"host": "smtp.example.cn", "port": 465, "username": "duban", "password": "pa55-w0rd!",
                              "sender": "duban@example.cn", "to": "a@example.cn", "security": "ssl"})
    with read_session(engine) as session:
        shown = repr(delivery.channels(session)) + repr(session.exec(select(AuditLog)).all())
    for secret in ("abcdef0123456789abcdef", "SECa1b2c3d4e5f6", "693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa", "pa55-w0rd!"):
        assert secret not in shown
    assert "dingtalk://" in shown and "wecombot://" in shown and "mailtos://" in shown
    with unit_of_work(engine) as session, pytest.raises(svc.ValidationFailed) as refused:
        delivery.set_channel(session, admin, None, "wecom", {"webhook": "https://example.cn/no-key"})
    assert "Webhook" in refused.value.zh
    assert not can(world.actors["inspector"], Action.MANAGE_NOTIFY) and can(admin, Action.MANAGE_NOTIFY)


def test_send_test_message(engine, world):
    with FakeRobot() as robot:
        with unit_of_work(engine) as session:
            channel = delivery.set_channel(session, world.actors["admin"], None, "apprise", {"url": robot.url})
        with unit_of_work(engine) as session:
            ok, error = delivery.send_test(session, world.actors["admin"], channel.id)
        assert ok and error == ""
        assert robot.bodies()[0].startswith("这是一条测试消息")
    with read_session(engine) as session:
        assert [r.kind for r in delivery.log_rows(session)] == ["test"]


def _cli_env(database_url, robot_url: str) -> dict[str, str]:
    url, schema = database_url
    if schema:
        url = f"{url}?options=-csearch_path%3D{schema}"
    env = dict(os.environ, DATABASE_URL=url, DASHBOARD_NOTIFY_URLS=robot_url, PYTHONPATH=str(ROOT))
    return env


def test_two_workers_started_together_send_each_message_once(engine, world, database_url):
    late, soon, back, child = _ledger(engine, world)
    with FakeRobot() as robot:
        env = _cli_env(database_url, robot.url)
        command = [sys.executable, "-m", "dashboard", "remind", "--once", "--date", TODAY.isoformat()]
        runs = [subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                for _ in range(3)]
        outputs = [run.communicate(timeout=120) for run in runs]
        assert all(run.returncode == 0 for run in runs), outputs
        bodies = robot.bodies()
    assert sorted(body.splitlines()[0] for body in bodies) == [  # each unit's digest, once
        "【整改提醒】儿童福利和社会事务股（6月15日）", "【整改提醒】社会救助办（6月15日）"]
    with read_session(engine) as session:
        assert session.exec(select(Delivery.status)).all() == ["sent", "sent"]
        assert len(session.exec(select(JobClaim)).all()) == 4


def test_the_worker_timetable(engine, world):
    from dashboard import worker

    names = {job.id: str(job.trigger) for job in worker.scheduler(engine).get_jobs()}
    assert list(names) == ["rollups", "daily", "deliver", "backup", "quality"]  # backup (issue 17), data quality (23)
    assert "hour='2'" in names["backup"]
    assert "hour='8'" in names["daily"] and "interval[0:01:00]" in names["deliver"]
    with unit_of_work(engine) as session:
        from dashboard.services import admin

        admin.update_setting(session, world.actors["admin"], "digest_hour", 7)
    assert "hour='7'" in {job.id: str(job.trigger) for job in worker.scheduler(engine).get_jobs()}["daily"]


def test_remind_once_is_quiet_with_nothing_due(engine, world, database_url, monkeypatch):
    url, schema = database_url
    env = _cli_env(database_url, "")
    done = subprocess.run([sys.executable, "-m", "dashboard", "remind", "--once", "--date", "2026-06-15"],
                          env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert '"digest_units": 0' in done.stdout and '"delivery_sent": 0' in done.stdout


@pytest.mark.parametrize("lang", ["zh", "en"])
@pytest.mark.parametrize("kind", [k for k in notifications.KINDS if k != notifications.Kind.DIGEST])
def test_a_notice_missing_a_placeholder_reads_it_empty_instead_of_failing(kind, lang):
    """A notice stored before its text gained a placeholder still shows: the missing ones read empty."""
    shown = notifications.text(kind, {"serial": "DC-2026-0001"}, lang)
    assert shown != f"notice.{kind}", "every kind has its text in the catalogue"
    assert "{" not in shown and "}" not in shown
    if "serial" in placeholders(f"notice.{kind}", lang):
        assert "DC-2026-0001" in shown
    assert notifications.text(kind, {}, lang).strip()
