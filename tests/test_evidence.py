"""Evidence files (佐证材料): what is stored, and every refusal leaving nothing behind."""
from __future__ import annotations

import hashlib

import pytest
from sqlmodel import func, select

from dashboard.errors import PermissionDenied, ValidationFailed
from dashboard.services import admin
from dashboard.services import findings as svc
from dashboard.services.findings import UploadedFile
from dashboard.vocab import Status
from db.engine import read_session
from dashboard.services.unit_of_work import unit_of_work
from db.models import AuditLog, Evidence, EvidenceContent, Finding, Progress
from tests import files
from tests.factories import evidence, finding_input

MIB = 1024 * 1024



@pytest.fixture
def finding_id(engine, world) -> int:
    with unit_of_work(engine) as session:
        return svc.log_finding(session, world.actors["inspector"], finding_input(world)).id


def do(engine, fn, *args, **kwargs):
    with unit_of_work(engine) as session:
        return fn(session, *args, **kwargs)


def counts(engine) -> dict[str, int]:
    with read_session(engine) as session:
        return {model.__name__: session.exec(select(func.count()).select_from(model)).one()
                for model in (Evidence, EvidenceContent, Progress, AuditLog)}


def finding(engine, finding_id) -> Finding:
    with read_session(engine) as session:
        return session.get(Finding, finding_id)


def test_attach_evidence_stores_hash_size_type_and_bytes(engine, world, finding_id):
    payload = b"%PDF-1.4\n" + bytes(range(256)) * 40
    stored = do(engine, svc.attach_evidence, world.actors["jiuzhu"], finding_id, evidence("入户核查表.pdf", payload))
    with read_session(engine) as session:
        row = session.get(Evidence, stored.id)
        content = session.get(EvidenceContent, stored.id)
    assert (row.finding_id, row.progress_id, row.filename, row.content_type) == (
        finding_id, None, "入户核查表.pdf", "application/pdf")
    assert row.size == len(payload) == 10249
    assert row.sha256 == hashlib.sha256(payload).hexdigest()
    assert row.uploaded_by_id == world.actors["jiuzhu"].id
    assert bytes(content.data) == payload
    # the first evidence starts the work: 待整改 → 整改中
    assert finding(engine, finding_id).status == Status.IN_PROGRESS
    with read_session(engine) as session:
        audit = session.exec(select(AuditLog).where(AuditLog.entity == "Evidence")).one()
    assert audit.action == "attach_evidence" and audit.finding_id == finding_id
    assert audit.new["sha256"] == row.sha256 and audit.new["size"] == 10249


def test_report_progress_with_files(engine, world, finding_id):
    photo, sheet = files.jpeg(), files.xlsx()
    progress = do(engine, svc.report_progress, world.actors["jiuzhu"], finding_id, done_text="已入户核查12户",
                  next_text="清退2户", percent=60,
                  files=[UploadedFile("现场照片.JPG", photo), UploadedFile("核查台账.xlsx", sheet, "application/x-custom")])
    with read_session(engine) as session:
        rows = session.exec(select(Evidence).where(Evidence.finding_id == finding_id).order_by(Evidence.id)).all()
        stored = session.get(Progress, progress.id)
        contents = [bytes(session.get(EvidenceContent, row.id).data) for row in rows]
    assert [(r.filename, r.size, r.content_type, r.progress_id) for r in rows] == [
        ("现场照片.JPG", len(photo), "image/jpeg", progress.id),
        # the type is read from the bytes; the browser's claim is not trusted
        ("核查台账.xlsx", len(sheet), "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", progress.id),
    ]
    assert [r.sha256 for r in rows] == [hashlib.sha256(photo).hexdigest(), hashlib.sha256(sheet).hexdigest()]
    assert contents == [photo, sheet]
    assert (stored.done_text, stored.next_text, stored.percent, stored.unit_id) == (
        "已入户核查12户", "清退2户", 60, world.units["社会救助办"])
    assert finding(engine, finding_id).status == Status.IN_PROGRESS


def test_only_the_file_name_is_kept(engine, world, finding_id):
    stored = do(engine, svc.attach_evidence, world.actors["jiuzhu"], finding_id,
                evidence("../../etc/低保名册.docx", files.docx()))
    assert stored.filename == "低保名册.docx"
    assert stored.content_type == "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


def test_same_file_twice_is_stored_twice(engine, world, finding_id):
    for _ in range(2):
        do(engine, svc.attach_evidence, world.actors["jiuzhu"], finding_id, evidence())
    with read_session(engine) as session:
        rows = session.exec(select(Evidence).where(Evidence.finding_id == finding_id)).all()
    assert len(rows) == 2 and len({row.sha256 for row in rows}) == 1


# --- refusals: a clear message and nothing written -------------------------------------------------

def _refused(engine, finding_id, call) -> ValidationFailed:
    before, seen = counts(engine), finding(engine, finding_id)
    with pytest.raises(ValidationFailed) as refused:
        do(engine, call)
    assert counts(engine) == before
    after = finding(engine, finding_id)
    assert (after.status, after.version, after.last_progress_at) == (seen.status, seen.version, seen.last_progress_at)
    return refused.value


def test_disallowed_extension_refused(engine, world, finding_id):
    dept = world.actors["jiuzhu"]
    error = _refused(engine, finding_id,
                     lambda s: svc.attach_evidence(s, dept, finding_id, evidence("木马.exe", b"MZ\x90\x00")))
    assert error.zh == ("不支持的文件类型“exe”，允许：jpg、jpeg、png、gif、webp、pdf、doc、docx、xls、xlsx、wps、ofd、txt。")
    assert error.en.startswith("File type “exe” is not allowed; allowed: jpg、jpeg")
    error = _refused(engine, finding_id,
                     lambda s: svc.attach_evidence(s, dept, finding_id, evidence("没有扩展名", b"data")))
    assert error.zh.startswith("不支持的文件类型“?”")


def test_empty_file_refused(engine, world, finding_id):
    dept = world.actors["jiuzhu"]
    error = _refused(engine, finding_id, lambda s: svc.attach_evidence(s, dept, finding_id, evidence("空白.pdf", b"")))
    assert error.zh == "文件“空白.pdf”是空的。" and error.en == "File “空白.pdf” is empty."


def test_file_over_the_upload_limit_refused(engine, world, finding_id):
    do(engine, admin.update_setting, world.actors["admin"], "max_upload_mb", 1)
    dept = world.actors["jiuzhu"]
    big = b"%PDF" + b"0" * (MIB + MIB // 2 - 4)
    error = _refused(engine, finding_id,
                     lambda s: svc.attach_evidence(s, dept, finding_id, evidence("扫描件.pdf", big)))
    assert error.zh == "文件“扫描件.pdf”为1.5MB，超过上限1MB。"
    assert error.en == "File “扫描件.pdf” is 1.5 MB, over the 1 MB limit."
    # one byte over is refused too; exactly the limit is accepted
    _refused(engine, finding_id,
             lambda s: svc.attach_evidence(s, dept, finding_id, evidence("刚超.pdf", b"x" * (MIB + 1))))
    stored = do(engine, svc.attach_evidence, dept, finding_id, evidence("刚好.pdf", b"%PDF" + b"x" * (MIB - 4)))
    assert stored.size == MIB


def test_extension_not_in_a_changed_list_refused(engine, world, finding_id):
    do(engine, admin.update_setting, world.actors["admin"], "allowed_extensions", "pdf, ofd")
    dept = world.actors["jiuzhu"]
    error = _refused(engine, finding_id,
                     lambda s: svc.attach_evidence(s, dept, finding_id, evidence("照片.jpg", b"\xff\xd8")))
    assert error.zh == "不支持的文件类型“jpg”，允许：ofd、pdf。"
    assert do(engine, svc.attach_evidence, dept, finding_id, evidence("通知.OFD", files.ofd())).filename == "通知.OFD"


@pytest.mark.parametrize("bad, message", [
    (UploadedFile("病毒.bat", b"echo"), "不支持的文件类型“bat”"),
    (UploadedFile("空表.xlsx", b""), "文件“空表.xlsx”是空的。"),
], ids=["type", "empty"])
def test_progress_with_one_bad_file_writes_nothing(engine, world, finding_id, bad, message):
    """The good file, the Progress row and the status change all roll back with the bad file."""
    dept = world.actors["jiuzhu"]
    error = _refused(engine, finding_id, lambda s: svc.report_progress(
        s, dept, finding_id, done_text="已入户核查", percent=50, files=[evidence(), bad]))
    assert message in error.zh
    with read_session(engine) as session:
        assert session.exec(select(Progress).where(Progress.finding_id == finding_id)).first() is None
        assert session.exec(select(Evidence).where(Evidence.finding_id == finding_id)).first() is None
    assert finding(engine, finding_id).status == Status.OPEN


def test_progress_with_too_large_file_writes_nothing(engine, world, finding_id):
    do(engine, admin.update_setting, world.actors["admin"], "max_upload_mb", 1)
    dept = world.actors["jiuzhu"]
    error = _refused(engine, finding_id, lambda s: svc.report_progress(
        s, dept, finding_id, done_text="上传扫描件", files=[UploadedFile("全部档案.pdf", b"p" * (2 * MIB))]))
    assert error.zh == "文件“全部档案.pdf”为2.0MB，超过上限1MB。"


def test_other_units_may_not_attach(engine, world, finding_id):
    before = counts(engine)
    with pytest.raises(PermissionDenied, match="不属于您的单位"):
        do(engine, svc.attach_evidence, world.actors["ertong"], finding_id, evidence())
    assert counts(engine) == before
