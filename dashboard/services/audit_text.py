"""The audit log as sentences in the reader's language: who did what, when, with labelled old → new values.

The log stores codes, ids and ISO dates (``AuditLog.old`` / ``new``); this module turns one entry
into "2026-06-15 10:00 张三 修改了问题：备注 由“—”改为“已补充”。" Codes become their labels, ids
become names (from the ``names`` the caller looked up), empty becomes "—", and bookkeeping fields
(ids, versions, hashes, timestamps the sentence already carries) are left out. Plain Python, no
streamlit: the pages only show the result.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Iterable

from dashboard.i18n import CATALOGUE, label, t
from dashboard.vocab import (EscalationKind, ExtensionDecision, Priority, RectType, ReviewDecision, Role, SourceKind,
                             Status, UnitKind, VillageLevel, VillageStatus)

EMPTY = "—"

# Fields never worth a reader's attention: identifiers, versions, hashes, and the acting user and
# time (the sentence already says who and when).
HIDDEN = frozenset({
    "id", "version", "finding_id", "created_at", "updated_at", "created_by_id", "import_key", "sha256",
    "decided_by_id", "decided_at", "requested_by_id", "requested_at", "applied_by_id", "applied_at",
    "uploaded_by_id", "uploaded_at", "author_id", "reported_at", "done_by_id", "done_at", "unit_id",
    "progress_id", "content_type", "issued_by_id", "password_hash", "token_version", "failed_logins",
    "last_login_at", "last_progress_at", "seq", "county", "serial_year",
})

# What a new record's sentence shows (the rest of the record is on the page already).
CREATED_FIELDS: dict[str, tuple[str, ...]] = {
    "Finding": ("serial", "current_deadline", "measures", "co_unit_ids", "repeat_of_id"),  # the description is above
    "Source": ("kind", "title", "issuing_body", "received_date"),
    "Progress": ("done_text", "next_text", "percent"),
    "Evidence": ("filename", "size"),
    "ExtensionRequest": ("old_deadline", "asked_deadline", "reason"),
    "ClosureReview": ("summary", "evidence_ids"),
    "Escalation": ("kind", "respond_by", "note"),
    "Measure": ("text", "deadline"),
}

# Enum of a code field, by field name (and by entity where the same name means different things).
CODE_FIELDS: dict[tuple[str | None, str], type[StrEnum]] = {
    (None, "status"): Status,
    (None, "finding_status"): Status,
    (None, "priority"): Priority,
    (None, "rect_type"): RectType,
    (None, "role"): Role,
    (None, "level"): VillageLevel,
    ("ExtensionRequest", "decision"): ExtensionDecision,
    ("ClosureReview", "decision"): ReviewDecision,
    ("Escalation", "kind"): EscalationKind,
    ("Source", "kind"): SourceKind,
    ("Unit", "kind"): UnitKind,
    ("Village", "status"): VillageStatus,
}

# Id fields and the kind of name they point at (looked up by the caller into ``Names``).
ID_FIELDS = {"category_id": "category", "lead_unit_id": "unit", "village_id": "village", "co_unit_ids": "unit",
             "source_id": "source", "repeat_of_id": "finding", "parent_id": "unit"}


@dataclass
class Names:
    """Names for the ids an audit entry may hold: users by username, units, categories, …"""

    users: dict[str, str] = field(default_factory=dict)        # username -> display name
    unit: dict[int, str] = field(default_factory=dict)
    category: dict[int, str] = field(default_factory=dict)
    village: dict[int, str] = field(default_factory=dict)
    source: dict[int, str] = field(default_factory=dict)
    finding: dict[int, str] = field(default_factory=dict)       # id -> serial

    def of(self, kind: str, value: Any) -> str:
        table: dict = getattr(self, kind)
        try:
            return table.get(int(value), str(value))
        except (TypeError, ValueError):
            return str(value)


@dataclass(frozen=True)
class AuditLine:
    at: str
    who: str
    text: str


def ids_in(entries: Iterable[Any]) -> dict[str, set[int]]:
    """Every id an entry's values point at, by kind, so the caller can look the names up at once."""
    wanted: dict[str, set[int]] = {kind: set() for kind in set(ID_FIELDS.values())}
    for entry in entries:
        for values in (entry.old or {}, entry.new or {}):
            for key, value in values.items():
                kind = ID_FIELDS.get(key)
                if kind is None or value is None:
                    continue
                for item in value if isinstance(value, list) else [value]:
                    if isinstance(item, int) or (isinstance(item, str) and item.isdigit()):
                        wanted[kind].add(int(item))
    return wanted


def _has(key: str) -> bool:
    return key in CATALOGUE


def field_label(key: str, lang: str) -> str:
    return t(f"audit_field.{key}", lang) if _has(f"audit_field.{key}") else t("audit_field.other", lang)


def value_text(entity: str, key: str, value: Any, names: Names, lang: str) -> str:
    """One value as a reader should see it."""
    if value is None or value == "" or value == []:
        return EMPTY
    enum = CODE_FIELDS.get((entity, key)) or CODE_FIELDS.get((None, key))
    if enum is not None:
        try:
            return label(enum(value), lang)
        except ValueError:
            return str(value)
    if key in ID_FIELDS:
        items = value if isinstance(value, list) else [value]
        return "、".join(names.of(ID_FIELDS[key], item) for item in items) or EMPTY
    if isinstance(value, bool):
        return t("audit.yes" if value else "audit.no", lang)
    if key == "done":
        return t("audit.yes" if value else "audit.no", lang)
    if key == "percent":
        return f"{value}%"
    if key == "size" and isinstance(value, (int, float)):
        if value < 1024:
            return f"{int(value)} B"
        return f"{value / 1024:.0f} KB" if value < 1024 * 1024 else f"{value / 1048576:.1f} MB"
    if key == "evidence_ids" and isinstance(value, list):
        return t("audit.files", lang, count=len(value))
    if isinstance(value, list):
        return "、".join(str(item) for item in value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, str):
        return _date_text(value)
    return str(value)


def _date_text(value: str) -> str:
    """ISO dates stay as they are; ISO times lose their seconds and the 'T'."""
    if len(value) >= 16 and value[4:5] == "-" and value[10:11] == "T":
        try:
            return dt.datetime.fromisoformat(value).strftime("%Y-%m-%d %H:%M")
        except ValueError:
            return value
    return value


def _quoted(text: str, lang: str) -> str:
    return f"“{text}”"


def _shown_fields(entry: Any) -> list[str]:
    old, new = entry.old or {}, entry.new or {}
    if old:
        keys = list(dict.fromkeys([*old, *new]))
    else:
        chosen = CREATED_FIELDS.get(entry.entity)
        keys = [key for key in (chosen or new) if key in new and new[key] not in (None, "", [])]
    return [key for key in keys if key not in HIDDEN]


def sentence(entry: Any, names: Names, lang: str = "zh") -> AuditLine:
    """One audit entry as a sentence: 谁 在何时 做了什么, with labelled old → new values."""
    who = names.users.get(entry.username) or entry.username or t("audit.system", lang)
    if entry.username == "system":
        who = t("audit.system", lang)
    what = t(f"what.{_what_key(entry.entity)}", lang) if _what_key(entry.entity) else t("audit.record", lang)
    action_key = f"audit.{entry.action}"
    if _what_key(entry.entity) and _has(f"{action_key}_{_what_key(entry.entity)}"):
        did = t(f"{action_key}_{_what_key(entry.entity)}", lang)
    elif _has(action_key):
        did = t(action_key, lang, what=what)
    elif _has(f"action.{entry.action}"):
        did = t("audit.did", lang, action=t(f"action.{entry.action}", lang), what=what)
    else:
        did = t("audit.changed", lang, what=what)
    old, new = entry.old or {}, entry.new or {}
    parts = []
    for key in _shown_fields(entry):
        name = field_label(key, lang)
        after = value_text(entry.entity, key, new.get(key), names, lang)
        if key in old:
            before = value_text(entry.entity, key, old.get(key), names, lang)
            if key in new:
                parts.append(t("audit.change", lang, field=name, old=_quoted(before, lang), new=_quoted(after, lang)))
            else:
                parts.append(t("audit.was", lang, field=name, old=_quoted(before, lang)))
        else:
            parts.append(t("audit.value", lang, field=name, value=_quoted(after, lang)))
    if entry.note:
        parts.append(t("audit.value", lang, field=t("audit_field.note", lang), value=_quoted(entry.note, lang)))
    separator = "；" if lang == "zh" else "; "
    text = f"{who} {did}"
    if parts:
        text += ("：" if lang == "zh" else ": ") + separator.join(parts)
    text += "。" if lang == "zh" else "."
    at = entry.at.strftime("%Y-%m-%d %H:%M") if isinstance(entry.at, dt.datetime) else str(entry.at)
    return AuditLine(at=at, who=who, text=text)


WHAT = {"Finding": "finding", "Source": "source", "Unit": "unit", "Village": "village", "User": "user",
        "Measure": "measure", "ExtensionRequest": "extension", "Category": "category", "Evidence": "evidence",
        "Snapshot": "snapshot", "Progress": "progress", "ClosureReview": "review", "Escalation": "escalation",
        "Setting": "setting"}


def _what_key(entity: str) -> str | None:
    return WHAT.get(entity)


def sentences(entries: Iterable[Any], names: Names, lang: str = "zh") -> list[AuditLine]:
    return [sentence(entry, names, lang) for entry in entries]
