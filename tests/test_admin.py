"""Administration services: users, passwords, units, villages, categories, settings, and their audit log."""
from __future__ import annotations

import datetime as dt
import json

import pytest
from sqlmodel import select

from dashboard import clock, config
from dashboard.errors import ConflictError, NotFound, PermissionDenied, ValidationFailed
from dashboard.passwords import verify_password
from dashboard.services import admin, queries
from dashboard.services import findings as svc
from dashboard.settings import DEFAULTS, load_settings
from dashboard.vocab import Role, UnitKind, VillageLevel, VillageStatus
from db.engine import read_session
from dashboard.services.unit_of_work import unit_of_work
from db.models import AuditLog, Category, Setting, Unit, User, Village
from tests.factories import PASSWORD, finding_input



def do(engine, fn, *args, **kwargs):
    with unit_of_work(engine) as session:
        return fn(session, *args, **kwargs)


def user(engine, user_id) -> User:
    with read_session(engine) as session:
        return session.get(User, user_id)


def audit_rows(engine, entity: str, entity_id: int | None = None) -> list[AuditLog]:
    with read_session(engine) as session:
        statement = select(AuditLog).where(AuditLog.entity == entity)
        if entity_id is not None:
            statement = statement.where(AuditLog.entity_id == entity_id)
        return list(session.exec(statement.order_by(AuditLog.id)).all())


def count(engine, model) -> int:
    with read_session(engine) as session:
        return len(session.exec(select(model)).all())


# --- users -----------------------------------------------------------------------------------------

def test_create_user_and_its_audit_row(engine, world):
    admin_actor = world.actors["admin"]
    created = do(engine, admin.create_user, admin_actor, username="  WangLi ", display_name="王丽",
                 role=Role.DEPARTMENT, password="long-enough-1", unit_id=world.units["社会救助办"])
    stored = user(engine, created.id)
    assert (stored.username, stored.display_name, stored.role, stored.unit_id) == (
        "wangli", "王丽", "department", world.units["社会救助办"])
    assert stored.active and stored.token_version == 1 and stored.version == 1 and not stored.is_demo_password
    assert stored.password_hash.startswith("$argon2id$") and verify_password("long-enough-1", stored.password_hash)
    (row,) = audit_rows(engine, "User", created.id)
    assert (row.action, row.username, row.user_id, row.old) == ("create", "admin", admin_actor.id, None)
    assert row.new["username"] == "wangli" and row.new["role"] == "department"
    assert "password_hash" not in row.new


def test_department_user_needs_a_unit(engine, world):
    with pytest.raises(ValidationFailed) as refused:
        do(engine, admin.create_user, world.actors["admin"], username="nounit", display_name="无单位",
           role=Role.DEPARTMENT, password="long-enough-1")
    assert refused.value.zh == "责任单位角色必须指定所属单位。"
    assert refused.value.en == "A department user needs a unit."
    with read_session(engine) as session:
        assert session.exec(select(User).where(User.username == "nounit")).first() is None


def test_duplicate_username_refused_whatever_the_case(engine, world):
    before = count(engine, User)
    with pytest.raises(ValidationFailed) as refused:
        do(engine, admin.create_user, world.actors["admin"], username="JiuZhu", display_name="重复",
           role=Role.LEADER, password="long-enough-1")
    assert refused.value.zh == "名称“jiuzhu”已存在。"
    assert count(engine, User) == before


def test_create_user_refuses_unknown_unit_and_short_password(engine, world):
    with pytest.raises(NotFound) as missing:
        do(engine, admin.create_user, world.actors["admin"], username="ghost", display_name="幽灵",
           role=Role.DEPARTMENT, password="long-enough-1", unit_id=9999)
    assert missing.value.zh == "找不到单位（编号 9999）。"
    with pytest.raises(ValidationFailed) as weak:
        do(engine, admin.create_user, world.actors["admin"], username="shorty", display_name="短",
           role=Role.LEADER, password="1234567")
    assert weak.value.zh == "密码至少需要10个字符。" and weak.value.en == "The password needs at least 10 characters."


def test_only_admin_manages_users(engine, world):
    with pytest.raises(PermissionDenied) as refused:
        do(engine, admin.create_user, world.actors["leader"], username="x1", display_name="x", role=Role.LEADER,
           password="long-enough-1")
    assert refused.value.zh == "您的角色（局领导）无权管理用户。"
    with pytest.raises(PermissionDenied):
        do(engine, admin.update_user, world.actors["inspector"], world.actors["jiuzhu"].id, None, active=False)


def test_display_name_change_keeps_sessions(engine, world):
    target = world.actors["jiuzhu"].id
    do(engine, admin.update_user, world.actors["admin"], target, 1, display_name="刘某某")
    stored = user(engine, target)
    assert (stored.display_name, stored.version, stored.token_version) == ("刘某某", 2, 1)
    row = audit_rows(engine, "User", target)[-1]
    assert (row.action, row.old, row.new) == ("update", {"display_name": "jiuzhu"}, {"display_name": "刘某某"})


@pytest.mark.parametrize("change, expected_old, expected_new", [
    ({"role": Role.INSPECTOR, "unit_id": "整改办"}, {"role": "department", "unit_id": "社会救助办"},
     {"role": "inspector", "unit_id": "整改办"}),
    ({"role": Role.DEPARTMENT, "unit_id": "儿童福利和社会事务股"}, {"unit_id": "社会救助办"},
     {"unit_id": "儿童福利和社会事务股"}),
    ({"active": False}, {"active": True}, {"active": False}),
], ids=["role", "unit", "active"])
def test_role_unit_or_active_change_ends_sessions(engine, world, change, expected_old, expected_new):
    units = world.units
    resolve = {key: units.get(value, value) if isinstance(value, str) and key == "unit_id" else value
               for key, value in change.items()}
    target = world.actors["jiuzhu"].id
    do(engine, admin.update_user, world.actors["admin"], target, 1, **resolve)
    stored = user(engine, target)
    assert stored.token_version == 2 and stored.version == 2
    row = audit_rows(engine, "User", target)[-1]
    name_of = {unit_id: name for name, unit_id in units.items()}
    readable = lambda values: {k: name_of.get(v, v) if k == "unit_id" else v for k, v in values.items()}  # noqa: E731 - a one-line helper read where it is used
    assert row.action == "update"
    assert readable(row.old) == expected_old and readable(row.new) == expected_new


def test_update_user_without_change_writes_nothing(engine, world):
    target = world.actors["jiuzhu"].id
    before = len(audit_rows(engine, "User", target))
    do(engine, admin.update_user, world.actors["admin"], target, 1, display_name="jiuzhu", active=True)
    stored = user(engine, target)
    assert (stored.version, stored.token_version) == (1, 1)
    assert len(audit_rows(engine, "User", target)) == before


def test_role_to_department_without_unit_refused(engine, world):
    with pytest.raises(ValidationFailed, match="责任单位角色必须指定所属单位"):
        do(engine, admin.update_user, world.actors["admin"], world.actors["leader"].id, 1, role=Role.DEPARTMENT)
    assert user(engine, world.actors["leader"].id).role == "leader"


def test_stale_user_edit_is_a_conflict(engine, world):
    target = world.actors["ertong"].id
    do(engine, admin.update_user, world.actors["admin"], target, 1, display_name="周某某")
    with pytest.raises(ConflictError) as conflict:
        do(engine, admin.update_user, world.actors["admin"], target, 1, active=False)
    assert conflict.value.current["display_name"] == "周某某"
    assert "password_hash" not in conflict.value.current
    assert conflict.value.zh.startswith("该记录已被admin于2026-06-15 10:00修改")
    stored = user(engine, target)
    assert stored.active and stored.version == 2 and stored.token_version == 1


# --- passwords -------------------------------------------------------------------------------------

def test_set_password_bumps_token_version_and_clears_lockout(engine, world):
    target = world.actors["jiuzhu"].id
    with unit_of_work(engine) as session:
        locked = session.get(User, target)
        locked.failed_logins, locked.locked_until = 5, clock.now() + dt.timedelta(minutes=15)
        locked.is_demo_password = True
    do(engine, admin.set_password, world.actors["admin"], target, "brand-new-pass")
    stored = user(engine, target)
    assert verify_password("brand-new-pass", stored.password_hash)
    assert not verify_password(PASSWORD, stored.password_hash)
    assert (stored.token_version, stored.version, stored.failed_logins, stored.locked_until,
            stored.is_demo_password) == (2, 2, 0, None, False)
    row = audit_rows(engine, "User", target)[-1]
    assert (row.action, row.username, row.old, row.new) == ("set_password", "admin", None, {"password": "changed"})


def test_set_password_min_length(engine, world):
    target = world.actors["jiuzhu"].id
    with pytest.raises(ValidationFailed) as refused:
        do(engine, admin.set_password, world.actors["admin"], target, "short")
    assert refused.value.zh == "密码至少需要10个字符。"
    assert user(engine, target).token_version == 1
    assert verify_password(PASSWORD, user(engine, target).password_hash)


def test_users_change_their_own_password_but_not_others(engine, world):
    me = world.actors["jiuzhu"]
    do(engine, admin.set_password, me, me.id, "my-own-new-pass")
    assert verify_password("my-own-new-pass", user(engine, me.id).password_hash)
    with pytest.raises(PermissionDenied):
        do(engine, admin.set_password, me, world.actors["ertong"].id, "hijacked-pass")
    assert verify_password(PASSWORD, user(engine, world.actors["ertong"].id).password_hash)


def test_demo_password_refused_in_production(engine, world, monkeypatch):
    target = world.actors["leader"].id
    do(engine, admin.set_password, world.actors["admin"], target, config.DEMO_PASSWORD)  # demo mode: accepted
    assert verify_password("demo1234", user(engine, target).password_hash)
    monkeypatch.setenv("DASHBOARD_MODE", "production")
    with pytest.raises(ValidationFailed) as refused:
        do(engine, admin.set_password, world.actors["admin"], target, "demo1234")
    assert refused.value.zh == "生产模式下不接受演示密码，请设置新密码。"
    assert refused.value.en == "Demo passwords are refused in production mode; set a new password."
    with pytest.raises(ValidationFailed, match="生产模式下不接受演示密码"):
        do(engine, admin.create_user, world.actors["admin"], username="prod", display_name="生产",
           role=Role.LEADER, password="demo1234")
    assert user(engine, target).token_version == 2  # only the accepted change counted


def test_password_hashes_never_reach_the_audit_log(engine, world):
    do(engine, admin.set_password, world.actors["admin"], world.actors["jiuzhu"].id, "another-pass-1")
    do(engine, admin.update_user, world.actors["admin"], world.actors["ertong"].id, 1, active=False)
    with read_session(engine) as session:
        hashes = [u.password_hash for u in session.exec(select(User)).all()]
        rows = session.exec(select(AuditLog)).all()
    dumped = json.dumps([[row.old, row.new, row.note] for row in rows], ensure_ascii=False)
    assert len(hashes) == len(world.actors) and len(rows) > len(world.actors)
    assert "$argon2id$" not in dumped and "$2b$" not in dumped and "password_hash" not in dumped
    assert not any(h in dumped for h in hashes)
    assert "another-pass-1" not in dumped and PASSWORD not in dumped


# --- units -----------------------------------------------------------------------------------------

def test_units_create_rename_and_duplicates(engine, world):
    created = do(engine, admin.create_unit, world.actors["admin"], name=" 县残联 ", kind=UnitKind.EXTERNAL)
    with read_session(engine) as session:
        stored = session.get(Unit, created.id)
    assert (stored.name, stored.kind, stored.version) == ("县残联", "external", 1)
    before = count(engine, Unit)
    with pytest.raises(ValidationFailed) as refused:
        do(engine, admin.create_unit, world.actors["admin"], name="社会救助办")
    assert refused.value.zh == "名称“社会救助办”已存在。"
    with pytest.raises(ValidationFailed, match="名称“整改办”已存在"):
        do(engine, admin.update_unit, world.actors["admin"], created.id, 1, name="整改办")
    assert count(engine, Unit) == before
    do(engine, admin.update_unit, world.actors["admin"], created.id, 1, name="县残疾人联合会")
    do(engine, admin.update_unit, world.actors["admin"], created.id, 2, name="县残疾人联合会")  # own name is fine
    with read_session(engine) as session:
        assert (session.get(Unit, created.id).name, session.get(Unit, created.id).version) == ("县残疾人联合会", 2)
    with pytest.raises(ConflictError):
        do(engine, admin.update_unit, world.actors["admin"], created.id, 1, kind=UnitKind.COUNTY)
    rows = audit_rows(engine, "Unit", created.id)
    assert [(row.action, row.old, row.new and row.new.get("name")) for row in rows] == [
        ("create", None, "县残联"), ("update", {"name": "县残联"}, "县残疾人联合会")]


def test_units_need_a_name_and_an_admin(engine, world):
    with pytest.raises(ValidationFailed) as refused:
        do(engine, admin.create_unit, world.actors["admin"], name="   ")
    assert refused.value.zh == "请填写名称。"
    with pytest.raises(PermissionDenied, match="无权管理基础数据"):
        do(engine, admin.create_unit, world.actors["inspector"], name="县财政局")


# --- villages --------------------------------------------------------------------------------------

MAOAN = dict(county="本县", township="高士镇", name="毛安村", level=VillageLevel.PROVINCIAL, poverty_rate=2.6,
             remaining_poor=68, monitored_households=23, leader="局长 王某某", work_team="第一书记 李某某",
             support_unit="县民政局")


def test_villages_create_duplicate_and_update(engine, world):
    village = do(engine, admin.create_village, world.actors["admin"], **MAOAN)
    with read_session(engine) as session:
        stored = session.get(Village, village.id)
    assert (stored.township, stored.name, stored.level, stored.status, stored.poverty_rate, stored.remaining_poor,
            stored.version) == ("高士镇", "毛安村", "provincial", "supervising", 2.6, 68, 1)
    with pytest.raises(ValidationFailed) as refused:
        do(engine, admin.create_village, world.actors["admin"], **MAOAN)
    assert refused.value.zh == "名称“高士镇毛安村”已存在。"
    assert count(engine, Village) == 1
    # the same name in another township is another village
    do(engine, admin.create_village, world.actors["admin"], **(MAOAN | {"township": "赛口镇"}))
    assert count(engine, Village) == 2

    do(engine, admin.update_village, world.actors["admin"], village.id, 1,
       status=VillageStatus.AWAITING_ACCEPTANCE, remaining_poor=12)
    with read_session(engine) as session:
        stored = session.get(Village, village.id)
    assert (stored.status, stored.remaining_poor, stored.version) == ("awaiting_acceptance", 12, 2)
    with pytest.raises(ConflictError):
        do(engine, admin.update_village, world.actors["admin"], village.id, 1, status=VillageStatus.DELISTED)
    row = audit_rows(engine, "Village", village.id)[-1]
    assert (row.action, row.old, row.new) == (
        "update", {"status": "supervising", "remaining_poor": 68},
        {"status": "awaiting_acceptance", "remaining_poor": 12})


def test_village_values_are_checked(engine, world):
    with pytest.raises(ValidationFailed, match="请填写乡镇"):
        do(engine, admin.create_village, world.actors["admin"], **(MAOAN | {"township": " "}))
    with pytest.raises(ValidationFailed) as negative:
        do(engine, admin.create_village, world.actors["admin"], **(MAOAN | {"poverty_rate": -1}))
    assert negative.value.zh == "无效的poverty_rate：-1。"
    with pytest.raises(ValidationFailed, match="无效的村：households_total"):
        do(engine, admin.create_village, world.actors["admin"], **(MAOAN | {"households_total": 100}))
    with pytest.raises(ValidationFailed, match="population"):   # 户籍人口, the base of the rate from the ledger
        do(engine, admin.create_village, world.actors["admin"], **(MAOAN | {"population": -1}))
    assert count(engine, Village) == 0
    assert do(engine, admin.create_village, world.actors["admin"], **(MAOAN | {"population": 1850})).population == 1850


# --- categories ------------------------------------------------------------------------------------

def test_categories_create_and_deactivate(engine, world):
    created = do(engine, admin.create_category, world.actors["admin"], "  档案资料 ")
    with read_session(engine) as session:
        stored = session.get(Category, created.id)
    assert (stored.name, stored.sort_order, stored.active) == ("档案资料", 2, True)  # after 对象认定不精准
    with pytest.raises(ValidationFailed, match="名称“档案资料”已存在"):
        do(engine, admin.create_category, world.actors["admin"], "档案资料")
    do(engine, admin.set_category_active, world.actors["admin"], created.id, False)
    do(engine, admin.set_category_active, world.actors["admin"], created.id, False)  # no change, no row
    with read_session(engine) as session:
        assert session.get(Category, created.id).active is False
    rows = audit_rows(engine, "Category", created.id)
    assert [(row.action, row.old, row.new if row.action == "update" else None) for row in rows] == [
        ("create", None, None), ("update", {"active": True}, {"active": False})]
    with pytest.raises(PermissionDenied):
        do(engine, admin.set_category_active, world.actors["leader"], created.id, True)


# --- settings --------------------------------------------------------------------------------------

def test_update_setting_within_range_and_audit(engine, world):
    do(engine, admin.update_setting, world.actors["admin"], "stale_days", "14")
    do(engine, admin.update_setting, world.actors["admin"], "stale_days", 21)
    with read_session(engine) as session:
        row = session.get(Setting, "stale_days")
        assert (row.value, row.version) == (21, 2)
        assert load_settings(session).stale_days == 21
        assert load_settings(session).due_soon_days == DEFAULTS.due_soon_days == 7
    rows = audit_rows(engine, "Setting")
    assert [(row.action, row.old, row.new, row.note) for row in rows] == [
        ("update_setting", {"value": 30}, {"value": 14}, "stale_days"),
        ("update_setting", {"value": 14}, {"value": 21}, "stale_days"),
    ]


REFUSED_SETTINGS = [
    ("stale_days", 6, "零变化预警天数须在7到180之间。"),
    ("stale_days", 181, "零变化预警天数须在7到180之间。"),
    ("due_soon_days", 0, "临期预警天数须在1到60之间。"),
    ("max_upload_mb", 500, "上传文件大小上限(MB)须在1到200之间。"),
    ("lockout_failures", 2, "登录失败限制次数（同一地址、同一账号）须在3到20之间。"),
    ("allowed_extensions", " , ", "请填写允许的文件类型。"),
    ("no_such_setting", 1, "无效的setting：no_such_setting。"),
]


def test_update_setting_refused(engine, world):
    for key, value, message in REFUSED_SETTINGS:
        with pytest.raises(ValidationFailed) as refused:
            do(engine, admin.update_setting, world.actors["admin"], key, value)
        assert refused.value.zh == message, key
    assert refused.value.en == "Invalid setting: no_such_setting."
    assert count(engine, Setting) == 0 and audit_rows(engine, "Setting") == []
    with read_session(engine) as session:
        assert load_settings(session) == DEFAULTS


def test_setting_bounds_are_inclusive(engine, world):
    do(engine, admin.update_setting, world.actors["admin"], "stale_days", 7)
    do(engine, admin.update_setting, world.actors["admin"], "max_upload_mb", 200)
    with read_session(engine) as session:
        settings = load_settings(session)
    assert (settings.stale_days, settings.max_upload_mb) == (7, 200)


def test_allowed_extensions_are_cleaned(engine, world):
    do(engine, admin.update_setting, world.actors["admin"], "allowed_extensions", " .PDF, jpg ,, Docx ,pdf")
    with read_session(engine) as session:
        assert load_settings(session).allowed_extensions == ["docx", "jpg", "pdf"]
    do(engine, admin.update_setting, world.actors["admin"], "allowed_extensions", [".OFD", "png", " "])
    with read_session(engine) as session:
        assert load_settings(session).allowed_extensions == ["ofd", "png"]
        assert session.get(Setting, "allowed_extensions").value == ["ofd", "png"]


def test_only_admin_changes_settings(engine, world):
    with pytest.raises(PermissionDenied, match="无权修改系统设置"):
        do(engine, admin.update_setting, world.actors["leader"], "stale_days", 14)


def test_changed_stale_days_changes_the_light(engine, world):
    finding_id = do(engine, svc.log_finding, world.actors["inspector"],
                    finding_input(world, deadline=dt.date(2026, 12, 31))).id
    in_20_days = clock.now() + dt.timedelta(days=20)
    with read_session(engine) as session:
        assert queries.light_of(session, finding_id, now=in_20_days) == "green"
    do(engine, admin.update_setting, world.actors["admin"], "stale_days", 14)
    with read_session(engine) as session:
        assert queries.light_of(session, finding_id, now=in_20_days) == "yellow"
        assert queries.light_of(session, finding_id, now=clock.now() + dt.timedelta(days=13)) == "green"
    with read_session(engine) as session:  # the figures follow the same setting
        assert queries.figures(session, now=in_20_days).stale == 1
        assert queries.figures(session, now=in_20_days).yellow == 1


def test_changed_due_soon_days_changes_the_light(engine, world):
    finding_id = do(engine, svc.log_finding, world.actors["inspector"],
                    finding_input(world, deadline=dt.date(2026, 7, 5))).id
    with read_session(engine) as session:  # 20 days ahead: green with the default 7
        assert queries.light_of(session, finding_id) == "green"
    do(engine, admin.update_setting, world.actors["admin"], "due_soon_days", 20)
    with read_session(engine) as session:
        assert queries.light_of(session, finding_id) == "yellow"
