"""Shared pieces of every service: loading with a row lock, version checks, the audit log."""
from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any, Iterator, TypeVar

from pydantic_core import PydanticUndefined
from sqlalchemy import String, any_, bindparam
from sqlalchemy.dialects.postgresql import ARRAY
from sqlmodel import Session, SQLModel, select

from dashboard import clock
from dashboard.errors import Phrase, ConflictError, NotFound, ValidationFailed
from dashboard.lifecycle import Actor
from dashboard.text import clean, clean_row
from dashboard.vocab import Role
from db.engine import conflict_insert, insert_rows
from db.models import AuditLog, User

M = TypeVar("M", bound=SQLModel)

WHAT_KEYS = {
    "Finding": "what.finding", "Source": "what.source", "Unit": "what.unit", "Village": "what.village",
    "User": "what.user", "Measure": "what.measure", "ExtensionRequest": "what.extension",
    "Category": "what.category", "Evidence": "what.evidence", "Snapshot": "what.snapshot",
    "LookbackCampaign": "what.lookback_campaign", "LookbackItem": "what.lookback_item",
    "Household": "what.household", "HouseholdCase": "what.household_case", "SupportMeasure": "what.support_measure",
    "HouseholdMember": "what.household_member",
}


def next_number(session: Session, counter: type[M], **key: Any) -> int:
    """Take the next number of a counter row (``last``), created at 0 if missing and locked for the rest of
    the transaction, so no number is issued twice and a rolled-back write leaves no gap."""
    session.execute(conflict_insert(session, counter).values(**key, last=0).on_conflict_do_nothing())
    statement = select(counter).where(*(getattr(counter, name) == value for name, value in key.items()))
    row = session.exec(statement.with_for_update()).one()
    row.last += 1
    session.add(row)
    return row.last


def get_or_404(session: Session, model: type[M], record_id: int, *, lock: bool = False) -> M:
    """Load one record; ``lock=True`` takes a row lock (PostgreSQL) for a read-modify-write."""
    statement = select(model).where(model.id == record_id)
    if lock:
        statement = statement.with_for_update()
    record = session.exec(statement).first()
    if record is None:
        raise NotFound("error.not_found", what=Phrase(WHAT_KEYS.get(model.__name__, model.__name__)), id=record_id)
    return record


def plain(value: Any) -> Any:
    """A JSON-safe copy of a field value for the audit log."""
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    return value


def record_dict(record: SQLModel, exclude: tuple[str, ...] = ("password_hash",)) -> dict[str, Any]:
    return {key: plain(value) for key, value in record.model_dump().items() if key not in exclude}


def check_version(session: Session, record: SQLModel, expected_version: int | None, history: Any = None) -> None:
    """Refuse an edit made from a stale copy; the caller's input is untouched, the other edit kept. The message
    names who changed it last: the newest row of ``history`` (a select of rows with ``username`` and ``at``, newest
    first), by default the record's own audit entries."""
    if expected_version is None or record.version == expected_version:
        return
    if history is None:
        history = (select(AuditLog).where(AuditLog.entity == type(record).__name__, AuditLog.entity_id == record.id)
                   .order_by(AuditLog.id.desc()))
    last = session.exec(history).first()
    raise ConflictError(current=record_dict(record),
                        by=last.username if last else "?",
                        at=last.at.strftime("%Y-%m-%d %H:%M") if last else "?")


def apply_changes(record: SQLModel, changes: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Set fields; return (old, new) of those that really changed, ready for the audit log."""
    old: dict[str, Any] = {}
    new: dict[str, Any] = {}
    for key, value in changes.items():
        current = getattr(record, key)
        if current != value:
            old[key], new[key] = plain(current), plain(value)
            setattr(record, key, value)
    if new and hasattr(record, "version"):
        record.version += 1
    return old, new


def audit(session: Session, actor: Actor, action: str, record: SQLModel, *,
          old: dict[str, Any] | None = None, new: dict[str, Any] | None = None,
          finding_id: int | None = None, note: str = "") -> None:
    session.flush()  # so that new records have their id
    session.add(AuditLog(
        at=clock.now(),
        user_id=actor.id,
        username=actor.username,
        action=action,
        entity=type(record).__name__,
        entity_id=getattr(record, "id", None),
        finding_id=finding_id,
        old=old or None,
        new=new or None,
        note=note,
    ))


def require_text(value: str | None, field_key: str) -> str:
    text = clean(value or "").strip()
    if not text:
        raise ValidationFailed("error.required", field=Phrase(field_key))
    return text


E = TypeVar("E", bound=StrEnum)


def code(enum: type[E], value: Any, field_key: str) -> E:
    """A stored code from user input, refused with a clear message when it is not one of ``enum``."""
    try:
        return enum(value)
    except ValueError:
        raise ValidationFailed("error.unknown_value", field=Phrase(field_key), value=value) from None


def actor_of(user: User) -> Actor:
    return Actor(id=user.id, username=user.username, role=Role(user.role), unit_id=user.unit_id,
                 display_name=user.display_name)


# --- bulk writes below the ORM (the household import, the screening) -------------------------------------------

def column_defaults(model: type[SQLModel]) -> dict[str, Any]:
    """The Python-side defaults of a model's columns (what the ORM fills in), for Core rows of it."""
    values: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        if name == "id" or name not in model.__table__.c:
            continue
        if info.default_factory is None and info.default is not PydanticUndefined:
            values[name] = info.default
    return values


def insert_clean(session: Session, model: type[SQLModel], rows: list[dict[str, Any]]) -> None:
    """Core rows of one table (``db.engine.insert_rows``: COPY on PostgreSQL) through the cleaning the flush guard
    gives every ORM write (``text.clean_row``)."""
    insert_rows(session.connection(), model.__table__, [clean_row(row) for row in rows])


def any_of(session: Session, column: Any, values: list, item_type: Any = None, size: int = 1_000) -> Iterator[Any]:
    """Conditions ``column`` is one of ``values``: on PostgreSQL one condition for all of them (``= ANY(array)``,
    the array one parameter: one set-based query), elsewhere one ``IN`` list per ``size`` values (within every
    driver's limit on parameters)."""
    if not values:
        return
    if session.get_bind().dialect.name == "postgresql":
        yield column == any_(bindparam("values", list(values), type_=ARRAY(item_type or String)))
        return
    for start in range(0, len(values), size):
        yield column.in_(values[start:start + size])
