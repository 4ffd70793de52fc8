"""Administration: users, units, villages, categories and settings (role ``admin``)."""
from __future__ import annotations

from typing import Any

from sqlalchemy import true
from sqlmodel import Session, select

from dashboard import config
from dashboard.errors import Phrase, ValidationFailed
from dashboard.lifecycle import Action, Actor, authorize
from dashboard.passwords import check_policy, hash_password
from dashboard.services.common import apply_changes, audit, check_version, code, get_or_404, record_dict, require_text
from dashboard.settings import SPECS
from dashboard.vocab import Role, UnitKind, VillageLevel, VillageStatus
from db.models import Category, Setting, Unit, User, Village


def _check_password(password: str, username: str = "", display_name: str = "") -> bool:
    """Refuse a weak password; returns True for the demo password, accepted in demo mode only
    (and marked, so that sign-in refuses it once the deployment is switched to production)."""
    if password == config.DEMO_PASSWORD:
        if config.is_production():
            raise ValidationFailed("error.demo_password_in_production")
        return True
    check_policy(password, username, display_name)
    return False


def _unique(session: Session, model, column, value: str, own_id: int | None = None) -> None:
    existing = session.exec(select(model).where(column == value)).first()
    if existing is not None and existing.id != own_id:
        raise ValidationFailed("error.duplicate_name", name=value)


# --- users -------------------------------------------------------------------------------------------

def _township_needs_township_unit(session: Session, role: Role, unit_id: int | None) -> None:
    """A 乡镇 officer works the households of one township: its unit is that township."""
    if role is not Role.TOWNSHIP:
        return
    unit = session.get(Unit, unit_id) if unit_id is not None else None
    if unit is None or unit.kind != UnitKind.TOWNSHIP.value:
        raise ValidationFailed("error.township_unit_required")


def create_user(session: Session, actor: Actor, *, username: str, display_name: str, role: Role | str,
                password: str, unit_id: int | None = None, is_demo_password: bool = False) -> User:
    authorize(actor, Action.MANAGE_USERS)
    username = require_text(username, "field.username").lower()
    role = code(Role, role, "field.role")
    if role is Role.DEPARTMENT and unit_id is None:
        raise ValidationFailed("error.unit_required_for_department")
    if unit_id is not None:
        get_or_404(session, Unit, unit_id)
    _township_needs_township_unit(session, role, unit_id)
    display_name = require_text(display_name, "field.display_name")
    if not is_demo_password:
        is_demo_password = _check_password(password, username, display_name)
    _unique(session, User, User.username, username)
    user = User(username=username, display_name=display_name, role=role.value,
                unit_id=unit_id, password_hash=hash_password(password), is_demo_password=is_demo_password)
    session.add(user)
    audit(session, actor, "create", user, new=record_dict(user))
    return user


KEEP: Any = object()  # "leave the unit as it is" (None means: no unit)


def update_user(session: Session, actor: Actor, user_id: int, expected_version: int | None, *,
                display_name: str | None = None, role: Role | str | None = None, unit_id: int | None = KEEP,
                active: bool | None = None) -> User:
    """Changing role or unit, or deactivating, ends every session of that user (token version)."""
    authorize(actor, Action.MANAGE_USERS)
    if role is not None or active is not None:
        _active_admins(session)  # locked before the user's row: one lock order for everyone
    user = get_or_404(session, User, user_id, lock=True)
    check_version(session, user, expected_version)
    changes: dict[str, Any] = {}
    if display_name is not None:
        changes["display_name"] = require_text(display_name, "field.display_name")
    if role is not None:
        changes["role"] = code(Role, role, "field.role").value
    if unit_id is not KEEP:
        if unit_id is not None:
            get_or_404(session, Unit, unit_id)
        changes["unit_id"] = unit_id
    if active is not None:
        changes["active"] = active
    if changes.get("role", user.role) == Role.DEPARTMENT and changes.get("unit_id", user.unit_id) is None:
        raise ValidationFailed("error.unit_required_for_department")
    _township_needs_township_unit(session, Role(changes.get("role", user.role)), changes.get("unit_id", user.unit_id))
    if user.role == Role.ADMIN and user.active and (changes.get("role", user.role) != Role.ADMIN
                                                    or not changes.get("active", True)):
        _keep_an_admin(session, user)
    old, new = apply_changes(user, changes)
    if {"role", "unit_id", "active"} & set(new):
        user.token_version += 1
    if new:
        audit(session, actor, "update", user, old=old, new=new)
    return user


def _active_admins(session: Session) -> list[User]:
    """The active administrators, their rows locked in id order (so two administrators demoting
    each other at once cannot both succeed, and never deadlock)."""
    return list(session.exec(select(User).where(User.role == Role.ADMIN.value, User.active == true())
                             .order_by(User.id).with_for_update()).all())


def _keep_an_admin(session: Session, leaving: User) -> None:
    """Refuse to demote or deactivate the last active administrator."""
    if not [admin for admin in _active_admins(session) if admin.id != leaving.id]:
        raise ValidationFailed("error.last_admin")


def set_password(session: Session, actor: Actor, user_id: int, password: str) -> User:
    """Reset (admin) or change (the user themself) a password; old login cookies stop working."""
    user = get_or_404(session, User, user_id, lock=True)
    if actor.id != user.id:
        authorize(actor, Action.MANAGE_USERS)
    user.is_demo_password = _check_password(password, user.username, user.display_name)
    user.password_hash = hash_password(password)
    user.token_version += 1
    user.failed_logins = 0
    user.locked_until = None
    user.version += 1
    audit(session, actor, "set_password", user, new={"password": "changed"})
    return user


# --- units, villages, categories -------------------------------------------------------------------------

def create_unit(session: Session, actor: Actor, *, name: str, kind: UnitKind | str = UnitKind.OFFICE,
                parent_id: int | None = None, monitoring: bool = False) -> Unit:
    """``monitoring``: the county's 防返贫 monitoring unit (县级审定 and 县级审核 of the household ledger)."""
    authorize(actor, Action.MANAGE_REFERENCE)
    name = require_text(name, "field.name")
    _unique(session, Unit, Unit.name, name)
    unit = Unit(name=name, kind=code(UnitKind, kind, "field.kind").value, parent_id=parent_id,
                monitoring=bool(monitoring))
    session.add(unit)
    audit(session, actor, "create", unit, new=record_dict(unit))
    return unit


def update_unit(session: Session, actor: Actor, unit_id: int, expected_version: int | None, **changes: Any) -> Unit:
    authorize(actor, Action.MANAGE_REFERENCE)
    unit = get_or_404(session, Unit, unit_id, lock=True)
    check_version(session, unit, expected_version)
    if "name" in changes:
        changes["name"] = require_text(changes["name"], "field.name")
        _unique(session, Unit, Unit.name, changes["name"], unit.id)
    if "kind" in changes:
        changes["kind"] = code(UnitKind, changes["kind"], "field.kind").value
    old, new = apply_changes(unit, changes)
    if new:
        audit(session, actor, "update", unit, old=old, new=new)
    return unit


VILLAGE_FIELDS = ("county", "township", "name", "level", "poverty_rate", "remaining_poor", "monitored_households",
                  "population", "leader", "work_team", "support_unit", "status")


def _clean_village(values: dict[str, Any]) -> dict[str, Any]:
    unknown = set(values) - set(VILLAGE_FIELDS)
    if unknown:
        raise ValidationFailed("error.unknown_value", field=Phrase("what.village"), value=", ".join(sorted(unknown)))
    cleaned = dict(values)
    for key in ("township", "name"):
        if key in cleaned:
            cleaned[key] = require_text(cleaned[key], f"field.{key}")
    if "level" in cleaned:
        cleaned["level"] = code(VillageLevel, cleaned["level"], "field.level").value
    if "status" in cleaned:
        cleaned["status"] = code(VillageStatus, cleaned["status"], "field.status").value
    for key in ("poverty_rate", "remaining_poor", "monitored_households", "population"):
        if key in cleaned and float(cleaned[key]) < 0:
            raise ValidationFailed("error.unknown_value", field=key, value=cleaned[key])
    return cleaned


def create_village(session: Session, actor: Actor, **values: Any) -> Village:
    authorize(actor, Action.MANAGE_REFERENCE)
    village = Village(**_clean_village(values))
    duplicate = session.exec(select(Village).where(Village.county == village.county,
                                                   Village.township == village.township,
                                                   Village.name == village.name)).first()
    if duplicate is not None:
        raise ValidationFailed("error.duplicate_name", name=f"{village.township}{village.name}")
    session.add(village)
    audit(session, actor, "create", village, new=record_dict(village))
    return village


def update_village(session: Session, actor: Actor, village_id: int, expected_version: int | None,
                   **values: Any) -> Village:
    authorize(actor, Action.MANAGE_REFERENCE)
    village = get_or_404(session, Village, village_id, lock=True)
    check_version(session, village, expected_version)
    old, new = apply_changes(village, _clean_village(values))
    if new:
        audit(session, actor, "update", village, old=old, new=new)
    return village


def create_category(session: Session, actor: Actor, name: str, sort_order: int | None = None) -> Category:
    authorize(actor, Action.MANAGE_REFERENCE)
    name = require_text(name, "field.name")
    _unique(session, Category, Category.name, name)
    if sort_order is None:
        sort_order = len(session.exec(select(Category.id)).all()) + 1
    category = Category(name=name, sort_order=sort_order)
    session.add(category)
    audit(session, actor, "create", category, new=record_dict(category))
    return category


def set_category_active(session: Session, actor: Actor, category_id: int, active: bool) -> Category:
    """Categories in use are never deleted: a retired one is hidden from new findings."""
    authorize(actor, Action.MANAGE_REFERENCE)
    category = get_or_404(session, Category, category_id, lock=True)
    old, new = apply_changes(category, {"active": active})
    if new:
        audit(session, actor, "update", category, old=old, new=new)
    return category


# --- settings --------------------------------------------------------------------------------------------

def update_setting(session: Session, actor: Actor, key: str, value: Any) -> Setting:
    authorize(actor, Action.MANAGE_SETTINGS)
    spec = SPECS.get(key)
    if spec is None:
        raise ValidationFailed("error.unknown_value", field="setting", value=key)
    value = _clean_setting(key, value)
    row = session.get(Setting, key)
    old = {"value": row.value if row else spec.default}
    if row is None:
        row = Setting(key=key, value=value)
        session.add(row)
    else:
        row.value = value
        row.version += 1
    audit(session, actor, "update_setting", row, old=old, new={"value": value}, note=key)
    return row


def _clean_setting(key: str, value: Any) -> Any:
    spec = SPECS[key]
    if isinstance(spec.default, list):
        items = value.split(",") if isinstance(value, str) else list(value)
        cleaned = sorted({str(item).strip().lower().lstrip(".") for item in items if str(item).strip()})
        if not cleaned:
            raise ValidationFailed("error.required", field=Phrase(f"setting.{key}"))
        return cleaned
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ValidationFailed("error.setting_range", name=Phrase(f"setting.{key}"), low=spec.low, high=spec.high) from None
    if not spec.low <= number <= spec.high:
        raise ValidationFailed("error.setting_range", name=Phrase(f"setting.{key}"), low=spec.low, high=spec.high)
    return number


# --- reading reference data (the admin page's tables) -------------------------------------------------------

def all_units(session: Session) -> list[Unit]:
    return list(session.execute(select(Unit).order_by(Unit.id)).scalars())


def all_villages(session: Session) -> list[Village]:
    return list(session.execute(select(Village).order_by(Village.township, Village.name)).scalars())


def all_categories(session: Session) -> list[Category]:
    return list(session.execute(select(Category).order_by(Category.sort_order)).scalars())
