"""Issue 13, hardening: hostile files, characters that break documents, user text as text, a
production that is locked down, sign-in that tells a stranger nothing, service edge cases.

Every database test runs on SQLite and PostgreSQL. Each test was written to fail before the change.
"""
from __future__ import annotations

import datetime as dt
import re
import io
import os
import stat
import statistics
import time
import tomllib
from pathlib import Path
from types import SimpleNamespace

import pytest
from docx import Document
from openpyxl import load_workbook
from openpyxl.utils.escape import unescape
from sqlalchemy import delete, update
from sqlmodel import func, select

from dashboard.lifecycle import SYSTEM
from dashboard import cli, config, passwords
from dashboard.documents.ledger_export import export_ledger
from dashboard.documents.report import report_for_snapshot
from dashboard.errors import NotFound, ValidationFailed
from dashboard.services import admin, snapshots, web_sessions
from dashboard.services import auth as auth_service
from dashboard.services import findings as svc
from dashboard.services.findings import UploadedFile
from dashboard.settings import SPECS
from dashboard.ui.safe import html_text, plain
from dashboard.vocab import Role
from dashboard.services.unit_of_work import unit_of_work
from db.engine import make_engine, read_session
from db.models import (AuditLog, Evidence, EvidenceContent, Finding, FindingCoUnit, Progress, SignInFailure, Snapshot,
                       User, WebSession)
from tests import files
from tests.apptest_support import button, page_app, point_app_at, signed_in_entry, texts
from tests.databases import world_in
from tests.factories import PASSWORD, finding_input

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def world(engine, database_url, monkeypatch, frozen_today):
    point_app_at(monkeypatch, database_url)
    world = world_in(engine)
    with unit_of_work(engine) as session:
        world.finding_id = svc.log_finding(session, world.actors["inspector"], finding_input(world)).id
    yield world


def do(engine, fn, *args, **kwargs):
    with unit_of_work(engine) as session:
        return fn(session, *args, **kwargs)


def count(engine, model) -> int:
    with read_session(engine) as session:
        return session.exec(select(func.count()).select_from(model)).one()


# --- 5. evidence is judged by its bytes -------------------------------------------------------------

@pytest.mark.parametrize("name, payload, message", [
    ("整改报告.pdf", files.exe(), "的内容不是pdf文件"),              # a program renamed .pdf
    ("现场照片.png", "这不是图片，只是文字".encode(), "的内容不是png文件"),  # text named .png
    ("现场照片.jpg", files.png(), "的内容不是jpg文件"),               # a PNG named .jpg
    ("台账.xlsx", files.docx(), "的内容不是xlsx文件"),                 # a Word file named .xlsx
    ("说明.txt", files.exe(), "的内容不是txt文件"),                    # a program named .txt
    ("巨图.png", files.pixel_flood_png(), "的尺寸超过上限"),           # 100 KB that decodes to gigabytes
], ids=["exe-as-pdf", "text-as-png", "png-as-jpg", "docx-as-xlsx", "exe-as-txt", "pixel-flood"])
def test_hostile_evidence_is_refused_and_nothing_written(engine, world, name, payload, message):
    before = (count(engine, Evidence), count(engine, Progress))
    with pytest.raises(ValidationFailed) as refused:
        do(engine, svc.report_progress, world.actors["jiuzhu"], world.finding_id, done_text="已核查",
           files=[UploadedFile("核查表.pdf", files.pdf()), UploadedFile(name, payload, "application/pdf")])
    assert message in refused.value.zh and name in refused.value.zh
    assert refused.value.en  # both languages
    assert (count(engine, Evidence), count(engine, Progress)) == before


@pytest.mark.parametrize("name, payload, content_type", [
    ("照片.PNG", files.png(), "image/png"), ("照片.jpeg", files.jpeg(), "image/jpeg"),
    ("报告.pdf", files.pdf(), "application/pdf"), ("纪要.docx", files.docx(),
                                                 "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
    ("通知.ofd", files.ofd(), "application/ofd"), ("说明.txt", "整改说明\r\n第二行".encode("gb18030"), "text/plain"),
], ids=["png", "jpeg", "pdf", "docx", "ofd", "txt"])
def test_real_files_are_accepted_with_the_type_of_their_bytes(engine, world, name, payload, content_type):
    stored = do(engine, svc.attach_evidence, world.actors["jiuzhu"], world.finding_id,
                UploadedFile(name, payload, "application/x-msdownload"))  # the browser's claim is ignored
    assert stored.content_type == content_type


def _store_unchecked(engine, world, name: str, payload: bytes, content_type: str) -> None:
    """A file stored before these checks existed (written straight to the tables)."""
    with unit_of_work(engine) as session:
        row = Evidence(finding_id=world.finding_id, filename=name, content_type=content_type, size=len(payload),
                       sha256=os.urandom(32).hex(), uploaded_by_id=world.actors["jiuzhu"].id, uploaded_at=dt.datetime.now())
        session.add(row)
        session.flush()
        session.add(EvidenceContent(evidence_id=row.id, data=payload))


def test_files_stored_before_the_checks_never_break_the_finding_page(engine, world):
    _store_unchecked(engine, world, "假照片.png", "只是文字".encode(), "image/png")
    _store_unchecked(engine, world, "巨图.png", files.pixel_flood_png(), "image/png")
    _store_unchecked(engine, world, "截断.jpg", files.jpeg()[:200], "image/jpeg")
    _store_unchecked(engine, world, "程序.pdf", files.exe(), "application/pdf")
    _store_unchecked(engine, world, "真照片.png", files.png(), "image/png")
    app = page_app("pages.finding", world.actors["jiuzhu"], finding_id=world.finding_id).run()
    assert not app.exception, app.exception
    captions = [element.value for element in app.caption]
    assert captions.count("无法预览") == 3
    assert len(app.get("image")) == 1  # the real photo is previewed
    # the action forms are all still there below the evidence tab
    assert app.text_area(key="p_done_0") is not None
    assert "报送整改进展" in texts(app)


def test_upload_limit_is_the_apps_own_and_the_uploader_shows_it(engine, world):
    streamlit_config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert streamlit_config["server"]["maxUploadSize"] == SPECS["max_upload_mb"].default == 20
    app = page_app("pages.finding", world.actors["jiuzhu"], finding_id=world.finding_id).run()
    uploader = app.get("file_uploader")[0].proto
    assert uploader.max_upload_size_mb == 20
    assert "20MB" in uploader.help
    # `python -m dashboard run` hands the stored limit to Streamlit
    do(engine, admin.update_setting, world.actors["admin"], "max_upload_mb", 5)
    options = cli.server_options(engine, SimpleNamespace(port=8631, address=None))
    assert options[options.index("--server.maxUploadSize") + 1] == "5"


# --- characters that break documents ----------------------------------------------------------------

HOSTILE = "逐户\x0b核查\ufffe完毕\uffff，\x00附件\x01见后"


def test_text_is_cleaned_at_the_edge(engine, world):
    """NUL, U+FFFE/U+FFFF and other XML-illegal characters never reach the tables; a vertical tab
    (Word's line break) becomes a line break. On PostgreSQL the NUL gave a raw DataError."""
    progress = do(engine, svc.report_progress, world.actors["jiuzhu"], world.finding_id, done_text=HOSTILE,
                  next_text="下一步\x00清退")
    do(engine, svc.edit_finding, world.actors["admin"], world.finding_id, None,
       {"remarks": "备注\ufffe\x00", "description": "描述\x0b第二行"})
    with read_session(engine) as session:
        stored = session.get(Progress, progress.id)
        finding = session.get(Finding, world.finding_id)
        audit_values = [row.new for row in session.exec(select(AuditLog)).all()]
    assert stored.done_text == "逐户\n核查完毕，附件见后" and stored.next_text == "下一步清退"
    assert (finding.remarks, finding.description) == ("备注", "描述\n第二行")
    assert not any("\x00" in repr(value) or "\ufffe" in repr(value) for value in audit_values)


def _hostile_ledger(engine, world):
    """Text already in the database before the edge cleaned it: written past the ORM."""
    with unit_of_work(engine) as session:
        late = svc.log_finding(session, world.actors["inspector"],
                               finding_input(world, deadline=dt.date(2026, 6, 1), description="档案缺失"))
    stored = HOSTILE.replace("\x00", "")  # PostgreSQL cannot hold NUL at all
    with unit_of_work(engine) as session:
        session.execute(update(Finding).where(Finding.id == late.id).values(description=stored,
                                                                            remarks="_x0041_ 原样"))
        snapshot = snapshots.take_snapshot(session, world.actors["leader"], "调度会")
    with unit_of_work(engine) as session:
        figures = dict(session.get(Snapshot, snapshot.id).figures)
        figures["overdue"] = [dict(row, description=stored) for row in figures["overdue"]]
        session.execute(update(Snapshot).where(Snapshot.id == snapshot.id)
                        .values(figures=figures, title="调度会\uffff\x0b快照"))
    return late.id, snapshot.id


def test_every_document_writer_is_safe_for_any_stored_text(engine, world):
    late_id, snapshot_id = _hostile_ledger(engine, world)
    out = io.BytesIO()
    with read_session(engine) as session:
        assert export_ledger(session, world.actors["admin"], out, filters_text="关键词=\ufffe") == 2
        report = report_for_snapshot(session.get(Snapshot, snapshot_id))
    sheet = load_workbook(io.BytesIO(out.getvalue())).active  # was a malformed workbook
    # Excel reads _xHHHH_ back as the character (openpyxl leaves inline strings as written)
    cells = [unescape(cell) for row in sheet.iter_rows(values_only=True) for cell in row if isinstance(cell, str)]
    assert HOSTILE.replace("\x00", "") in cells  # every character kept, the XML well-formed
    assert "_x0041_ 原样" in cells  # text that looks like Excel's escape stays as typed
    document = Document(io.BytesIO(report))  # raised ValueError
    text = "\n".join(cell.text for table in document.tables for row in table.rows for cell in row.cells)
    assert "逐户\n核查完毕，附件见后" in text
    assert "调度会快照" in document.paragraphs[-1].text.replace("\n", "")


def test_meeting_page_shows_such_a_snapshot_without_a_traceback(engine, world):
    _late_id, snapshot_id = _hostile_ledger(engine, world)
    app = page_app("pages.meeting", world.actors["leader"]).run()
    app.selectbox(key="meeting_snapshot").set_value(snapshot_id).run()
    assert not app.exception, app.exception
    assert app.get("download_button"), "the Word report is offered"


def test_a_nul_that_reaches_the_database_gets_a_clear_message(engine, world, monkeypatch):
    """Defence in depth: a write the cleaning does not see (a core statement) answers in words."""
    from dashboard.ui import context

    shown = []
    monkeypatch.setattr(context.st, "error", shown.append)

    def raw_write(session):
        session.execute(update(Finding).where(Finding.id == world.finding_id).values(remarks="a\x00b"))
        return True

    result = context.run_service(raw_write)
    if engine.dialect.name == "postgresql":
        assert result is None and shown == ["输入中含有无法保存的控制字符（如 NUL），请删除后重试。"]
    else:  # SQLite stores it; the documents clean it on the way out
        assert result is True


# --- 9. user text is shown as text ----------------------------------------------------------------

def test_plain_escapes_markdown_and_html():
    j = "\u2060"  # a word joiner where GFM would turn a bare address into a link
    assert plain("![](http://127.0.0.1:9/x.png)") == r"\!\[\]\(http" + j + r"\:\/\/127\.0\.0\.1\:9\/x\.png\)"
    assert plain("[点我](http://evil)") == r"\[点我\]\(http" + j + r"\:\/\/evil\)"
    assert plain("www.evil.cn a@b.cn") == "www" + j + r"\.evil\.cn a\@" + j + r"b\.cn"
    assert plain("<img src=x onerror=alert(1)>") == r"\<img src\=x onerror\=alert\(1\)\>"
    assert plain("第一行\n    第二行 $x$ :red[红]") == "第一行  \n第二行 \\$x\\$ \\:red\\[红\\]"
    assert html_text("<b>a</b>\n\n![](x) $y$") == "&lt;b&gt;a&lt;/b&gt;<br><br>&#33;&#91;&#93;&#40;x&#41; &#36;y&#36;"


def test_finding_page_shows_markdown_payloads_as_text(engine, world):
    payload = "![](http://127.0.0.1:9/x.png) [点我](http://127.0.0.1:9/)"
    do(engine, svc.edit_finding, world.actors["admin"], world.finding_id, None, {"description": payload})
    do(engine, svc.report_progress, world.actors["jiuzhu"], world.finding_id, done_text=payload, next_text=payload)
    app = page_app("pages.finding", world.actors["jiuzhu"], finding_id=world.finding_id).run()
    assert not app.exception
    rendered = [str(element.value) for element in (*app.markdown, *app.caption)]
    assert not any("](http" in value for value in rendered), rendered  # every one escaped
    # the description in Markdown; the progress entry's text and next step in its HTML card
    assert sum(value.count(plain(payload)) + value.count(html_text(payload)) for value in rendered) >= 3


# --- 10.–13. production -------------------------------------------------------------------------------

def test_production_shows_an_error_id_not_the_traceback(engine, world, monkeypatch):
    monkeypatch.setenv("DASHBOARD_MODE", "production")
    monkeypatch.setenv("DASHBOARD_COOKIE_KEY", "a-long-enough-production-cookie-key")
    from dashboard.ui import navigation

    def broken(_actor):
        raise RuntimeError("SELECT password_hash FROM app_user -- /srv/secret/path.py")

    monkeypatch.setattr(navigation, "build", broken)
    with read_session(engine) as session:
        tv = session.exec(select(User).where(User.username == "leader")).one().token_version
    import streamlit as st

    monkeypatch.setattr(st, "set_option", lambda key, value: seen_options.update({key: value}))
    seen_options: dict = {}
    app = signed_in_entry("leader", tv).run()
    assert not app.exception
    assert seen_options == {"client.showErrorDetails": "none"}
    shown = texts(app)
    assert "错误编号" in shown and "SELECT" not in shown and "/srv" not in shown
    options = cli.server_options(engine, SimpleNamespace(port=8631, address=None))
    assert options[options.index("--client.showErrorDetails") + 1] == "none"


def test_server_binds_to_localhost_unless_told(engine, world, monkeypatch):
    options = cli.server_options(engine, SimpleNamespace(port=8631, address=None))
    assert options[options.index("--server.address") + 1] == "127.0.0.1"
    assert "--client.showErrorDetails" not in options  # demo mode: details for the developer
    options = cli.server_options(engine, SimpleNamespace(port=8631, address="0.0.0.0"))
    assert options[options.index("--server.address") + 1] == "0.0.0.0"
    monkeypatch.setenv("DASHBOARD_ADDRESS", "10.0.0.5")
    options = cli.server_options(engine, SimpleNamespace(port=8631, address=None))
    assert options[options.index("--server.address") + 1] == "10.0.0.5"


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_database_file_wal_and_data_folder_are_private(tmp_path, monkeypatch):
    data = tmp_path / "fresh-data"
    monkeypatch.setenv("DASHBOARD_DATA_DIR", str(data))
    assert _mode(config.data_dir()) == 0o700
    engine = make_engine(f"sqlite:///{data / 'ledger.db'}")
    from db.engine import migrate

    migrate(engine)
    with unit_of_work(engine) as session:
        admin.create_unit(session, SYSTEM, name="办公室")
        wal = data / "ledger.db-wal"
        assert wal.exists() and _mode(wal) == 0o600
    assert _mode(data / "ledger.db") == 0o600
    engine.dispose()
    # an older, world-readable deployment is narrowed on the next start
    old = tmp_path / "old"
    old.mkdir(mode=0o755)
    (old / "ledger.db").touch(mode=0o644)
    os.chmod(old, 0o755)
    os.chmod(old / "ledger.db", 0o644)
    monkeypatch.setenv("DASHBOARD_DATA_DIR", str(old))
    config.data_dir()
    make_engine(f"sqlite:///{old / 'ledger.db'}").dispose()
    assert (_mode(old), _mode(old / "ledger.db")) == (0o700, 0o600)


def test_seed_demo_refused_in_production(engine, database_url, monkeypatch, capsys):
    point_app_at(monkeypatch, database_url)
    monkeypatch.setenv("DASHBOARD_MODE", "production")
    assert cli.main(["seed-demo"]) == 2
    assert "生产模式下不生成演示数据" in capsys.readouterr().err
    assert count(engine, User) == 0 and count(engine, Finding) == 0


@pytest.mark.parametrize("password, key", [
    ("12345678", "error.weak_password"), ("password", "error.weak_password"), ("Demo1234", "error.weak_password"),
    ("1234567890", "error.password_common"), ("password1234", "error.password_common"),
    ("Password2026", "error.password_common"), ("qwertyuiop", "error.password_common"),
    ("newbie2026!", "error.password_like_username"), ("1202eibwen", "error.password_like_username"),
    ("张三丰张三丰2026", "error.password_like_username"),
])
def test_password_policy(engine, world, password, key):
    with pytest.raises(ValidationFailed) as refused:
        do(engine, admin.create_user, world.actors["admin"], username="newbie", display_name="张三丰",
           role=Role.LEADER, password=password)
    assert refused.value.key == key


def test_a_good_password_is_accepted(engine, world):
    user = do(engine, admin.create_user, world.actors["admin"], username="newbie", display_name="张三丰",
              role=Role.LEADER, password="整改台账-ledger-7q")
    assert user.id and not user.is_demo_password


# --- 13.–14. sign-in -------------------------------------------------------------------------------------

def sign_in(engine, username, password, client="10.0.0.1"):
    return do(engine, auth_service.sign_in, username, password, client)


def _make_user(engine, world, username: str, **flags) -> None:
    with unit_of_work(engine) as session:
        user = admin.create_user(session, SYSTEM, username=username, display_name=username, role=Role.LEADER,
                                 password=PASSWORD)
        for key, value in flags.items():
            setattr(user, key, value)


def test_every_failed_sign_in_reads_the_same(engine, world, monkeypatch):
    _make_user(engine, world, "retired", active=False)
    _make_user(engine, world, "demo", is_demo_password=True)
    with unit_of_work(engine) as session:  # a demo password an admin set in demo mode …
        admin.set_password(session, world.actors["admin"], world.actors["leader"].id, config.DEMO_PASSWORD)
    monkeypatch.setenv("DASHBOARD_MODE", "production")  # … then the deployment went to production
    answers = {
        "wrong password": sign_in(engine, "jiuzhu", "wrong-password-1"),
        "unknown user": sign_in(engine, "nobody", "wrong-password-1"),
        "deactivated, right password": sign_in(engine, "retired", PASSWORD),
        "deactivated, wrong password": sign_in(engine, "retired", "wrong-password-1"),
        "demo account, wrong password": sign_in(engine, "demo", "wrong-password-1"),
        "demo account, right password": sign_in(engine, "demo", PASSWORD),
        "demo password set in demo mode": sign_in(engine, "leader", config.DEMO_PASSWORD),
        "empty": sign_in(engine, "", ""),
    }
    assert {name: (a.ok, a.message_key, a.params) for name, a in answers.items()} == {
        name: (False, "login.failed", {}) for name in answers}
    assert sign_in(engine, "jiuzhu", PASSWORD).ok


def test_failed_sign_ins_take_the_same_time(engine, world, monkeypatch):
    # real Argon2id hashes, slower than the real cost so that the hash, not the database, decides the time:
    # what is measured is whether every path pays for one
    monkeypatch.setattr(passwords, "COST", passwords.Cost(passes=8, memory_kib=19 * 1024))  # about 80 ms
    _make_user(engine, world, "timed")
    _make_user(engine, world, "retired", active=False)

    names = {"known": "timed", "unknown": "nobody-at-all", "deactivated": "retired"}
    times: dict[str, list[float]] = {key: [] for key in names}
    for _ in range(7):  # interleaved, so that load on the machine falls on all three alike
        for key, username in names.items():
            with unit_of_work(engine) as session:  # only the time of the check is measured, never a throttled one
                session.execute(delete(SignInFailure))
            started = time.perf_counter()
            assert not sign_in(engine, username, "wrong-password-1").ok
            times[key].append(time.perf_counter() - started)
    known, unknown, retired = (statistics.median(times[key]) for key in names)
    # before: an unknown name answered without any password hash at all (a ratio near 0)
    assert 0.5 < unknown / known < 2 and 0.5 < retired / known < 2, (known, unknown, retired)


def test_throttle_by_client_and_account_without_ending_open_sessions(engine, world):
    with read_session(engine) as session:
        admin_user = session.exec(select(User).where(User.username == "admin")).one()
    session_before = admin_user.token_version
    for _ in range(5):  # a stranger guesses the admin's password
        assert sign_in(engine, "admin", "guess-guess-1", client="203.0.113.9").message_key == "login.failed"
    blocked = sign_in(engine, "admin", PASSWORD, client="203.0.113.9")  # even the right one, from there
    assert (blocked.ok, blocked.message_key) == (False, "login.throttled")
    for _ in range(5):  # an unknown name is throttled exactly alike: nothing to learn
        sign_in(engine, "no-such-user", "guess-guess-1", client="203.0.113.9")
    assert sign_in(engine, "no-such-user", "guess", client="203.0.113.9").message_key == "login.throttled"
    # the admin's open session goes on, and the admin still signs in from their own desk
    with read_session(engine) as session:
        assert auth_service.resume(session, "admin", session_before) is not None
        stored = session.exec(select(User).where(User.username == "admin")).one()
    assert stored.locked_until is None and stored.token_version == session_before
    signed = sign_in(engine, "admin", PASSWORD, client="10.1.1.1")
    assert signed.ok
    # … and is told about the attempts (they are in the audit log as well)
    assert signed.failed_attempts == 5 and signed.last_failed_at is not None
    with read_session(engine) as session:
        notes = session.exec(select(AuditLog.note).where(AuditLog.action == "failed_login",
                                                         AuditLog.entity_id == stored.id)).all()
    assert len(notes) == 5 and all("203.0.113.9" in note for note in notes)
    assert sign_in(engine, "admin", PASSWORD, client="10.1.1.1").failed_attempts == 0  # told once


def test_many_clients_on_one_account_are_throttled_too(engine, world):
    for index in range(20):
        sign_in(engine, "inspector", "guess-guess-1", client=f"198.51.100.{index}")
    assert sign_in(engine, "inspector", PASSWORD, client="10.9.9.9").message_key == "login.throttled"


def test_login_form_answers_every_failure_alike(engine, world):
    from streamlit.testing.v1 import AppTest

    app = AppTest.from_file("../dashboard/app.py", default_timeout=60)
    app.run()
    app.text_input(key="login_username").input("nobody")
    app.text_input(key="login_password").input("wrong-password-1")
    button(app, "登录").click().run()
    assert not app.exception
    [message] = [e.value for e in app.error]  # and how many tries are left: counted alike for any name
    assert re.fullmatch(r"用户名或密码不正确。(再输错\d次，将暂停登录\d+分钟。)?", message), message
    app.text_input(key="login_username").input("jiuzhu")
    app.text_input(key="login_password").input(PASSWORD)
    button(app, "登录").click().run()
    assert not app.exception and "actor" not in app.session_state  # signed in once the cookie route answers
    [handoff] = [element.proto.body for element in app.get("html") if "/auth/session" in element.proto.body]
    with read_session(engine) as session:
        [waiting] = session.exec(select(WebSession).where(WebSession.id_hash.is_(None))).all()
    ticket = re.search(r'name="ticket" value="([^"]+)"', handoff).group(1)
    assert waiting.ticket_hash == web_sessions.digest(ticket) and ticket not in str(waiting.ticket_hash)


# --- 15. service edge cases -----------------------------------------------------------------------------

def test_edit_finding_with_unknown_unit_or_category_is_a_clear_refusal(engine, world):
    for changes, what in (({"lead_unit_id": 9999}, "单位"), ({"category_id": 9999}, "问题类别")):
        with pytest.raises(NotFound) as refused:
            do(engine, svc.edit_finding, world.actors["admin"], world.finding_id, None, changes)
        assert what in refused.value.zh and "9999" in refused.value.zh
    with read_session(engine) as session:
        assert session.get(Finding, world.finding_id).version == 1


def test_lead_unit_cannot_also_be_a_co_unit(engine, world):
    other = world.units["儿童福利和社会事务股"]
    do(engine, svc.edit_finding, world.actors["admin"], world.finding_id, None, {}, co_units=[other])
    with pytest.raises(ValidationFailed, match="牵头单位不能同时是配合单位"):
        do(engine, svc.edit_finding, world.actors["admin"], world.finding_id, None, {"lead_unit_id": other})
    with read_session(engine) as session:
        assert session.get(Finding, world.finding_id).lead_unit_id == world.units["社会救助办"]
        assert session.exec(select(FindingCoUnit.unit_id).where(FindingCoUnit.finding_id == world.finding_id)).all() == [other]
    # moving the lead and dropping it as a co-unit in one edit is fine
    do(engine, svc.edit_finding, world.actors["admin"], world.finding_id, None, {"lead_unit_id": other}, co_units=[])


@pytest.mark.parametrize("change", [{"role": Role.LEADER}, {"active": False}], ids=["demote", "deactivate"])
def test_the_last_admin_stays_an_admin(engine, world, change):
    me = world.actors["admin"]
    with pytest.raises(ValidationFailed, match="最后一位在用的系统管理员"):
        do(engine, admin.update_user, me, me.id, None, **change)
    with read_session(engine) as session:
        stored = session.get(User, me.id)
    assert (stored.role, stored.active, stored.token_version) == ("admin", True, 1)
    second = do(engine, admin.create_user, me, username="admin2", display_name="二号管理员", role=Role.ADMIN,
                password="another-strong-Pass-9")
    do(engine, admin.update_user, me, me.id, None, **change)  # another admin remains: allowed
    with pytest.raises(ValidationFailed, match="最后一位"):  # now admin2 is the last one
        do(engine, admin.update_user, _actor(engine, "admin2"), second.id, None, **change)


def _actor(engine, username):
    from dashboard.services.common import actor_of

    with read_session(engine) as session:
        return actor_of(session.exec(select(User).where(User.username == username)).one())
