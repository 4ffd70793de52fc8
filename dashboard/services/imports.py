"""Import of existing ledgers: read and check the whole file first, then write every row or none (on SQLite a large
file in chunks, each its own short transaction, undone if the import fails: ``_commit_in_chunks``).

The parser (``dashboard.ledger_reader``) reads the file without any database. This service
resolves the names the ledger uses (units, categories, villages) through exact names, remembered aliases
and the office prefixes people add (县民政局社会救助办), lists every other name once with the nearest
existing ones (the mapping step), tells new rows from rows imported before (content fingerprint, never a
serial from another database), turns changed progress and completion of known rows into progress entries
and closure applications, and writes in one short set-based step: nothing is parsed inside the write
transaction, so other people's saves are never locked out for long.

Every message (a row's reason, a preview sentence, the summary) is a catalogue key with raw values: names
and numbers from the file, ``Phrase``s for catalogue words. The page and the command line translate them
with ``message(lang)`` / ``messages(lang)`` in the reader's language.
"""
from __future__ import annotations

import datetime as dt
import json
import logging
import os
import re
import socket
from time import monotonic as _monotonic, sleep as _sleep
import unicodedata
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Callable, Iterable

from rapidfuzz import fuzz, process
from sqlalchemy import delete, func, select, true, update
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session

from dashboard import clock
from dashboard.ledger_reader import ParsedRow, ParseResult, RowError, fingerprint, parse_ledger
from dashboard.errors import DomainError, Phrase, ValidationFailed
from dashboard.i18n import t
from dashboard.lifecycle import SYSTEM, Action, Actor, authorize, closure_path, next_status, starts_from
from dashboard.services import rollups
from dashboard.services.common import audit, code, require_text
from dashboard.services.findings import SERIAL_PREFIX
from dashboard.text import clean, clean_row
from dashboard.vocab import FINAL_STATES, ExtensionDecision, RectType, ReviewDecision, SourceKind, Status
from db.engine import after_bulk_load, note_written
from db.models import (
    ALIAS_KINDS,
    AuditLog,
    Category,
    ClosureReview,
    ExtensionRequest,
    Finding,
    FindingCoUnit,
    Household,
    ImportBatch,
    Measure,
    NameAlias,
    Progress,
    SerialCounter,
    Source,
    Unit,
    Village,
)

log = logging.getLogger(__name__)

FALLBACK_CATEGORY = "其他"
STATE_STATUS = {"open": Status.OPEN, "in_progress": Status.IN_PROGRESS, "ongoing": Status.ONGOING,
                "closed": Status.CLOSED, "pending_review": Status.PENDING_REVIEW}
MAP, CREATE, OTHER = "map", "create", "other"
SUGGESTIONS = 3
BUSY_ATTEMPTS = 3
# an office's own prefix in front of a unit's name: 县民政局社会救助办, 市民政局办公室
_OFFICE_PREFIX = re.compile(r"^.{0,12}?(?:民政局|人民政府|政府|局)")


# --------------------------------------------------------------------------- the preview


@dataclass
class Decision:
    """What the admin chose for one unknown name: map it to an existing name, create it, or 其他."""
    action: str
    target: str | None = None


@dataclass
class Unknown:
    """One name the database does not know, listed once with the rows that use it."""
    kind: str  # unit | category | village
    value: str
    rows: list[int]
    suggestions: list[str]
    columns: list[str]
    decision: Decision | None = None  # the decision in force (given or the default)

    @property
    def resolved(self) -> bool:
        return self.decision is not None


@dataclass
class ResolvedRow:
    row: ParsedRow
    lead_unit_id: int
    co_unit_ids: list[int]
    category_id: int | None  # None: a category this import creates (category_name)
    village_id: int | None
    deadline: dt.date | None
    current_deadline: dt.date | None
    category_name: str = ""
    village_key: tuple[str, str] | None = None  # a village this import creates
    note: str = ""  # added to the remarks (the category as written, when filed elsewhere)
    lead_unit_name: str = ""  # the unit here the written name resolved to


@dataclass
class UpdateRow:
    """A row imported before whose progress or completion changed."""
    row: ParsedRow
    finding_id: int
    serial: str
    new_progress: str | None
    apply_closure: bool


@dataclass
class Skipped:
    """A row not added, and why: a catalogue key with raw values."""

    excel_row: int
    key: str
    params: dict[str, Any] = field(default_factory=dict)

    def message(self, lang: str) -> str:
        return t(self.key, lang, **self.params)


@dataclass
class ImportPreview:
    parsed: ParseResult
    errors: list[RowError] = field(default_factory=list)
    rows: list[ResolvedRow] = field(default_factory=list)
    updates: list[UpdateRow] = field(default_factory=list)
    unchanged: list[Skipped] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    unknowns: list[Unknown] = field(default_factory=list)
    matched: list[tuple[str, str, str]] = field(default_factory=list)  # (kind, as written, name here)
    closed_with_date: int = 0
    closed_without_date: int = 0
    cancelled_skipped: int = 0

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def already_imported(self) -> int:
        return len(self.unchanged)

    @property
    def unresolved(self) -> list[Unknown]:
        return [unknown for unknown in self.unknowns if not unknown.resolved]

    def phrases(self) -> list[Phrase]:
        """What the preview says besides the row errors, one catalogue phrase each (raw values)."""
        parsed, out = self.parsed, []
        if parsed.skipped_sheets:
            out.append(Phrase("import.read_sheet_skipping", {"sheet": parsed.sheet, "row": parsed.header_row,
                                                             "skipped": list(parsed.skipped_sheets)}))
        else:
            out.append(Phrase("import.read_sheet", {"sheet": parsed.sheet, "row": parsed.header_row}))
        if parsed.groups:
            out.append(Phrase("import.groups", {"count": parsed.groups}))
        if parsed.continuation_rows:
            out.append(Phrase("import.continuations", {"count": parsed.continuation_rows}))
        for kind, written, name in self.matched:
            out.append(Phrase("import.matched", {"written": written, "kind": kind_word(kind), "name": name}))
        for unknown in self.unknowns:
            if unknown.decision is None:
                continue
            said = {"kind": kind_word(unknown.kind), "value": unknown.value, "count": len(unknown.rows)}
            if unknown.decision.action == CREATE:
                out.append(Phrase("import.will_create", said))
            elif unknown.decision.action == OTHER:
                out.append(Phrase("import.will_file_under_other", said | {"other": FALLBACK_CATEGORY}))
            else:
                out.append(Phrase("import.will_map", said | {"target": unknown.decision.target}))
        if self.closed_with_date or self.closed_without_date:
            out.append(Phrase("import.closed_dates", {"total": self.closed_with_date + self.closed_without_date,
                                                      "with_date": self.closed_with_date,
                                                      "without_date": self.closed_without_date}))
        extended = sum(1 for resolved in self.rows if _extended(resolved))
        if extended:
            out.append(Phrase("import.extended", {"count": extended}))
        for note in parsed.notes:
            out.append(at_row(note))
        return out

    def messages(self, lang: str) -> list[str]:
        """The preview's sentences in the reader's language."""
        return [t(phrase.key, lang, **phrase.params) for phrase in self.phrases()]


def kind_word(kind: str) -> Phrase:
    """unit / category / village as a word inside a sentence."""
    return Phrase(f"import.what_{kind}")


def at_row(error: RowError) -> Phrase:
    """A row's message with its place: 第3行【整改时限】：… / Row 3 [整改时限]: …"""
    text = Phrase(error.key, error.params)
    if error.column:
        return Phrase("import.at_cell", {"row": error.excel_row, "column": error.column, "text": text})
    return Phrase("import.at_row", {"row": error.excel_row, "text": text})




def _norm(text: str) -> str:
    """Text as compared with what is stored: cleaned as it was written, without spaces or width forms."""
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", clean(text or "")))


class _Names:
    """The names a ledger may use, loaded once: exact names, aliases, and the decisions given."""

    def __init__(self, session: Session, decisions: dict[tuple[str, str], Decision]) -> None:
        self.by_kind: dict[str, dict[str, int]] = {
            "unit": dict(session.execute(select(Unit.name, Unit.id)).all()),
            "category": dict(session.execute(select(Category.name, Category.id)).all()),
        }
        self.villages: dict[tuple[str, str], int] = {}
        self.village_by_name: dict[str, list[int]] = {}
        self.village_names: dict[int, str] = {}
        for village_id, township, name in session.execute(select(Village.id, Village.township, Village.name)):
            self.villages[(township, name)] = village_id
            self.village_by_name.setdefault(name, []).append(village_id)
            self.village_names[village_id] = f"{township}·{name}"
        self.by_kind["village"] = {label: village_id for village_id, label in self.village_names.items()}
        self.aliases: dict[tuple[str, str], int] = {
            (kind, _norm(alias)): target for kind, alias, target in
            session.execute(select(NameAlias.kind, NameAlias.alias, NameAlias.target_id))}
        self.normalised = {kind: {_norm(name): target for name, target in names.items()}
                           for kind, names in self.by_kind.items()}
        self.decisions = decisions
        self.matched: dict[tuple[str, str], str] = {}
        self.unknown: dict[tuple[str, str], Unknown] = {}
        self.found: dict[tuple[str, str], int | None] = {}  # find() once per distinct name

    def name_of(self, kind: str, target: int) -> str:
        if not hasattr(self, "_names_of"):
            self._names_of = {k: {i: name for name, i in names.items()} for k, names in self.by_kind.items()}
        return self._names_of[kind].get(target, str(target))

    def find(self, kind: str, written: str) -> int | None:
        """Exact name, remembered alias, or the same name written with an office prefix or width/spaces."""
        names = self.by_kind[kind]
        if written in names:
            return names[written]
        key = _norm(written)
        if (kind, key) in self.aliases:
            target = self.aliases[(kind, key)]
            self.matched[(kind, written)] = self.name_of(kind, target)
            return target
        candidates = [key]
        if kind == "unit":
            bare = _OFFICE_PREFIX.sub("", key)
            candidates += [bare, re.sub(r"办公室$", "办", bare), re.sub(r"办公室$", "办", key)]
        for candidate in candidates:
            if candidate and candidate in self.normalised[kind]:
                target = self.normalised[kind][candidate]
                if candidate != written:
                    self.matched[(kind, written)] = self.name_of(kind, target)
                return target
        return None

    def resolve(self, kind: str, written: str, row: ParsedRow, column: str | None,
                default: Decision | None = None) -> tuple[str, Any]:
        """('id', id) | ('create', name) | ('other', None) | ('unknown', None)."""
        decision = self.decisions.get((kind, written))
        if decision is None:
            if (kind, written) not in self.found:
                self.found[(kind, written)] = self.find(kind, written)
            found = self.found[(kind, written)]
            if found is not None:
                return "id", found
            decision = default
        unknown = self.unknown.get((kind, written))
        if unknown is None:
            choices = list(self.by_kind[kind])
            best = process.extract(written, choices, scorer=fuzz.WRatio, limit=SUGGESTIONS, score_cutoff=40)
            unknown = self.unknown[(kind, written)] = Unknown(kind, written, [], [name for name, _s, _i in best], [])
        if not unknown.rows or unknown.rows[-1] != row.excel_row:  # rows come in order
            unknown.rows.append(row.excel_row)
        if column and column not in unknown.columns:
            unknown.columns.append(column)
        unknown.decision = decision
        if decision is None:
            return "unknown", None
        if decision.action == MAP:
            target = self.by_kind[kind].get(decision.target or "")
            if target is None:
                target = self.find(kind, decision.target or "")
            if target is None:
                raise ValidationFailed("error.import_bad_mapping", old=written, new=decision.target or "",
                                       reason=Phrase("import.no_such_name", {"name": decision.target or "",
                                                                             "kind": kind_word(kind)}))
            return "id", target
        if decision.action == OTHER and kind == "category":
            return "other", None
        if decision.action == CREATE and kind in ("category", "village"):
            return "create", written
        raise ValidationFailed("error.import_bad_mapping", old=written, new=decision.action,
                               reason=Phrase("import.map_existing_only", {"kind": kind_word(kind)}))


def read_ledger(data: bytes | str | Path, *, default_year: int | None = None, filename: str | None = None,
                sheet: str | None = None) -> ParseResult:
    """Read and check the whole file, with no database: call this before any transaction."""
    return parse_ledger(data, default_year=default_year, filename=filename, sheet=sheet)


def preview_import(session: Session, actor: Actor, data: bytes | str | Path | ParseResult, *,
                   default_year: int | None = None, received_date: dt.date | None = None,
                   decisions: dict[tuple[str, str], Decision] | None = None, filename: str | None = None,
                   create_categories: bool = True) -> ImportPreview:
    """Every row that can be written, updated, skipped or not, with its reason. Reads only; writes nothing."""
    authorize(actor, Action.IMPORT_LEDGER)
    parsed = data if isinstance(data, ParseResult) else read_ledger(data, default_year=default_year, filename=filename)
    preview = ImportPreview(parsed=parsed)
    preview.errors.extend(parsed.errors)
    names = _Names(session, decisions or {})
    existing = _already_here(session, parsed.rows)
    seen: dict[str, int] = {}
    received = received_date or clock.today()
    category_default = Decision(CREATE) if create_categories else None
    for row in parsed.rows:
        if row.state == "cancelled":
            preview.cancelled_skipped += 1
            preview.skipped.append(Skipped(row.excel_row, "import.skip_cancelled"))
            continue
        if row.fingerprint in seen:
            preview.skipped.append(Skipped(row.excel_row, "import.skip_duplicate", {"row": seen[row.fingerprint]}))
            continue
        seen[row.fingerprint] = row.excel_row
        known = existing.get(row.fingerprint)
        if known is not None:
            _compare(preview, row, known)
            continue
        resolved, errors = _resolve(row, names, parsed.columns, received, category_default)
        preview.errors.extend(errors)
        if resolved is not None:
            preview.rows.append(resolved)
            if row.state == "closed":
                if row.closed_date:
                    preview.closed_with_date += 1
                else:
                    preview.closed_without_date += 1
    preview.unknowns = sorted(names.unknown.values(), key=lambda u: (ALIAS_KINDS.index(u.kind), u.rows[0]))
    preview.matched = [(kind, written, name) for (kind, written), name in names.matched.items()]
    units = [u for u in preview.unresolved if u.kind == "unit"]
    if units:
        listed = [Phrase("import.unknown_unit_item_near", {"name": u.value, "count": len(u.rows), "near": u.suggestions})
                  if u.suggestions else Phrase("import.unknown_unit_item", {"name": u.value, "count": len(u.rows)})
                  for u in units]
        preview.errors.append(RowError(units[0].rows[0], None, "error.import_unknown_units",
                                       {"count": len(units), "names": listed}))
    for unknown in preview.unresolved:
        if unknown.kind != "unit":
            said = {"kind": kind_word(unknown.kind), "value": unknown.value, "count": len(unknown.rows)}
            key = "import.unknown_name"
            if unknown.suggestions:
                key, said["near"] = "import.unknown_name_near", unknown.suggestions
            preview.errors.append(RowError(unknown.rows[0], "、".join(unknown.columns) or None, key, said))
    preview.errors.sort(key=lambda error: error.excel_row)
    return preview


def _content_key(description: str | None, lead: str | None) -> str:
    return fingerprint(description, lead)


def _already_here(session: Session, rows: list[ParsedRow]) -> dict[str, dict]:
    """Findings these rows were imported as before: by content fingerprint, or a serial of this database
    whose finding has the same description and lead unit (this tool's own export coming back)."""
    out: dict[str, dict] = {}
    columns = (Finding.id, Finding.serial, Finding.status, Finding.import_key, Finding.description, Finding.lead_unit_id)
    keys = [row.fingerprint for row in rows]
    for start in range(0, len(keys), 1000):  # on the unique index of import_key (no join: the planner scans)
        for found in session.execute(select(*columns).where(Finding.import_key.in_(keys[start:start + 1000]))).all():
            out[found.import_key] = found._asdict()
    by_serial = {row.serial: row for row in rows if row.serial and row.serial.startswith(f"{SERIAL_PREFIX}-")
                 and row.fingerprint not in out}
    serials = list(by_serial)
    unit_names: dict[int, str] = {}
    for start in range(0, len(serials), 1000):
        for found in session.execute(select(*columns).where(Finding.serial.in_(serials[start:start + 1000]))).all():
            if not unit_names:
                unit_names = dict(session.execute(select(Unit.id, Unit.name)).all())
            row = by_serial[found.serial]
            if (_content_key(found.description, unit_names.get(found.lead_unit_id))
                    == _content_key(row.description, row.lead_unit)):
                out[row.fingerprint] = found._asdict()
    if out:
        ids = [known["id"] for known in out.values()]
        latest: dict[int, str] = {}
        for start in range(0, len(ids), 1000):
            chunk = ids[start:start + 1000]
            last = (select(Progress.finding_id, func.max(Progress.id).label("last_id"))
                    .where(Progress.finding_id.in_(chunk)).group_by(Progress.finding_id).subquery())
            latest.update(session.execute(select(Progress.finding_id, Progress.done_text)
                                          .join(last, last.c.last_id == Progress.id)).all())
        for known in out.values():
            known["progress"] = latest.get(known["id"])
    return out


def _compare(preview: ImportPreview, row: ParsedRow, known: dict) -> None:
    """A row imported before: new progress becomes a progress entry, a completion a closure application."""
    new_progress = row.progress if row.progress and _norm(row.progress) != _norm(known["progress"] or "") else None
    closing = row.state in ("closed", "pending_review") and closure_path(known["status"]) is not None
    if new_progress and not starts_from(Action.REPORT_PROGRESS, known["status"]) and not closing:
        preview.unchanged.append(Skipped(row.excel_row, "import.skip_no_progress",
                                         {"serial": known["serial"], "status": Status(known["status"])}))
        return
    if new_progress or closing:
        preview.updates.append(UpdateRow(row, known["id"], known["serial"], new_progress, closing))
    else:
        preview.unchanged.append(Skipped(row.excel_row, "import.skip_known", {"serial": known["serial"]}))


def _resolve(row: ParsedRow, names: _Names, columns: dict[str, str], received: dt.date,
             category_default: Decision | None) -> tuple[ResolvedRow | None, list[RowError]]:
    errors: list[RowError] = []

    def problem(field_name: str, key: str) -> None:
        errors.append(RowError(row.excel_row, columns.get(field_name), key))

    lead_kind, lead = names.resolve("unit", row.lead_unit or "", row, columns.get("lead_unit"))
    co_units, co_known = [], True
    for name in row.co_units:
        kind, unit_id = names.resolve("unit", name, row, columns.get("co_units") or columns.get("lead_unit"))
        if kind == "id":
            co_units.append(unit_id)
        co_known = co_known and kind == "id"
    category_text = row.category or FALLBACK_CATEGORY
    kind, category_id = names.resolve("category", category_text, row, columns.get("category"), category_default)
    note, category_name = "", category_text
    if kind == "other":
        category_id = names.by_kind["category"].get(FALLBACK_CATEGORY)
        category_name, note = FALLBACK_CATEGORY, f"原问题类别：{row.category_text or category_text}"
    elif kind == "id" and row.category_text and _norm(row.category_text) != _norm(names.name_of("category", category_id)):
        note = f"原问题类别：{row.category_text}"
    village_id, village_key = None, None
    if row.village:
        village_id = _village(row, names)
        if village_id is None:
            written = f"{row.township}·{row.village}" if row.township else row.village
            vkind, found = names.resolve("village", written, row, columns.get("village"))
            if vkind == "id":
                village_id = found
            elif vkind == "create":
                village_key = (row.township or "", row.village)
    if not row.measures:
        problem("measures", "import.missing_measures")
    deadline = row.deadline
    if deadline is None and row.rect_type == RectType.IMMEDIATE:
        deadline = received  # 立行立改 without a date: due at once
    if deadline is None and row.rect_type == RectType.DEADLINE:
        problem("deadline", "import.missing_deadline")
    if errors or lead_kind != "id" or not co_known or kind == "unknown" or (row.village and village_id is None
                                                                             and village_key is None):
        return None, errors
    current = row.current_deadline or deadline
    return ResolvedRow(row, lead, sorted(set(co_units) - {lead}), category_id if kind != "create" else None,
                       village_id, deadline, current, category_name, village_key, note,
                       names.name_of("unit", lead)), []


def _village(row: ParsedRow, names: _Names) -> int | None:
    if row.township:
        return names.villages.get((row.township, row.village))
    candidates = names.village_by_name.get(row.village or "", [])
    return candidates[0] if len(candidates) == 1 else None


def _extended(resolved: ResolvedRow) -> bool:
    return (resolved.deadline is not None and resolved.current_deadline is not None
            and resolved.current_deadline != resolved.deadline)


def decisions_from_pairs(pairs: Iterable[str], preview: ImportPreview | None = None) -> dict[tuple[str, str], Decision]:
    """``旧=新`` pairs of the command line: 新 an existing name, or 其他 for a category (kept in the remarks)."""
    out: dict[tuple[str, str], Decision] = {}
    for pair in pairs:
        old, sep, new = pair.partition("=")
        old, new = old.strip(), new.strip()
        if not sep or not old or not new:
            raise ValidationFailed("error.import_bad_mapping", old=old, new=new, reason=Phrase("import.map_format"))
        kinds: tuple[str, ...] = ALIAS_KINDS
        if preview is not None:
            kinds = tuple({u.kind for u in preview.unknowns if u.value == old}) or ALIAS_KINDS
        for kind in kinds:
            out[(kind, old)] = Decision(OTHER) if (new == FALLBACK_CATEGORY and kind == "category") else Decision(MAP, new)
    return out


# --------------------------------------------------------------------------- the write


@dataclass
class ImportSummary:
    source_id: int | None
    imported: int
    already_imported: int
    closed: int
    cancelled_skipped: int = 0
    updated: int = 0
    skipped: int = 0
    created_categories: list[str] = field(default_factory=list)
    created_villages: list[str] = field(default_factory=list)
    closed_with_date: int = 0
    extensions: int = 0
    finding_ids: list[int] = field(default_factory=list)

    @property
    def unchanged(self) -> int:
        return self.already_imported

    def phrases(self) -> list[Phrase]:
        """What was written, one catalogue phrase a part (raw numbers and names)."""
        parts = [Phrase("import.summary_counts", {
            "imported": self.imported, "closed": self.closed, "updated": self.updated,
            "unchanged": self.already_imported, "skipped": self.skipped, "cancelled": self.cancelled_skipped})]
        if self.created_categories:
            parts.append(Phrase("import.summary_categories", {"names": list(self.created_categories)}))
        if self.created_villages:
            parts.append(Phrase("import.summary_villages", {"names": list(self.created_villages)}))
        if self.closed_with_date:
            parts.append(Phrase("import.summary_closed_dates", {"count": self.closed_with_date}))
        if self.extensions:
            parts.append(Phrase("import.summary_extensions", {"count": self.extensions}))
        return parts

    def message(self, lang: str) -> str:
        """The summary in the reader's language."""
        return ("；" if lang == "zh" else "; ").join(t(part.key, lang, **part.params) for part in self.phrases())


def commit_import(session: Session, actor: Actor, data: bytes | str | Path | ParseResult | ImportPreview, *,
                  source_title: str = "", source_kind: SourceKind | str = SourceKind.INSPECTION,
                  issuing_body: str = "", default_year: int | None = None, received_date: dt.date | None = None,
                  filename: str = "", decisions: dict[tuple[str, str], Decision] | None = None,
                  create_categories: bool = True, prepared: _Rows | None = None) -> ImportSummary:
    """Write every row of an accepted file, or nothing: any unreadable row refuses the whole file.

    Given an ``ImportPreview`` (read and checked before the transaction), the names are resolved again
    (cheap) so that a unit renamed meanwhile cannot slip in, and only the inserts run here."""
    if isinstance(data, ImportPreview):
        # read, checked and resolved before the transaction: here only what may have changed since
        authorize(actor, Action.IMPORT_LEDGER)
        preview = data
        decisions = decisions or {(u.kind, u.value): u.decision for u in preview.unknowns if u.decision is not None}
        _recheck(session, preview)
    else:
        preview = preview_import(session, actor, data, default_year=default_year, received_date=received_date,
                                 decisions=decisions, filename=filename or None, create_categories=create_categories)
    if not preview.ok:
        raise ValidationFailed("error.import_rejected", count=len(preview.errors))
    skipped = len(preview.skipped)
    if not preview.rows and not preview.updates:  # nothing new: no source is created, nothing is written
        return ImportSummary(None, 0, preview.already_imported, 0, preview.cancelled_skipped, 0, skipped)
    received = received_date or clock.today()
    if prepared is None or len(prepared.findings) != len(preview.rows):  # none given, or rows written meanwhile
        prepared = _prepare_rows(actor, preview.rows, clock.now(), filename, session.get_bind().dialect)
    now, rows = prepared.now, prepared
    sources = _sources(session, actor, preview.rows, source_title, source_kind, issuing_body, received)
    created_categories = _create_categories(session, actor, preview.rows)
    created_villages = _create_villages(session, actor, preview.rows)
    _remember_aliases(session, actor, preview, decisions or {})
    serials = _serial_block(session, now.year, len(preview.rows))
    written = _write_rows(session, rows, preview.rows, sources, serials)
    updated = _write_updates(session, actor, preview.updates, now, filename)
    closed = sum(STATE_STATUS[resolved.row.state] is Status.CLOSED for resolved in preview.rows)
    rollups.touch(session, written + updated)
    first_source = next(iter(sources.values()), None)
    if first_source is not None:
        audit(session, actor, "import_ledger", first_source, new={
            "file": filename, "sha256": preview.parsed.file_sha256, "imported": len(preview.rows),
            "updated": len(updated), "already_imported": preview.already_imported, "sheet": preview.parsed.sheet})
    extensions = sum(1 for resolved in preview.rows if _extended(resolved))
    return ImportSummary(first_source.id if first_source else None, len(preview.rows), preview.already_imported,
                         closed, preview.cancelled_skipped, len(updated), skipped, created_categories, created_villages,
                         preview.closed_with_date, extensions, written)


def _recheck(session: Session, preview: ImportPreview) -> None:
    """Rows another import wrote since the preview are not written twice (one indexed lookup per 1000 rows)."""
    present = _present(session, preview.rows)
    if present:
        preview.unchanged += [Skipped(r.row.excel_row, "import.skip_concurrent") for r in preview.rows
                              if r.row.fingerprint in present]
        preview.rows = [r for r in preview.rows if r.row.fingerprint not in present]


def _present(session: Session, rows: list[ResolvedRow]) -> set[str]:
    """The fingerprints of these rows that some finding already has."""
    keys = [resolved.row.fingerprint for resolved in rows]
    present: set[str] = set()
    for start in range(0, len(keys), 1000):
        present.update(session.execute(select(Finding.import_key).where(
            Finding.import_key.in_(keys[start:start + 1000]))).scalars())
    return present


BULK_ROWS = 5_000  # an import this large is followed by VACUUM (ANALYZE) on PostgreSQL
# SQLite has one writer, and a department's save waits for the whole of a write transaction: an import of more
# rows than this is written in chunks of at most this many, each its own transaction (about 0.1 s on a quiet
# machine, issue 25); on a busy one the chunks shrink so that each holds the lock about CHUNK_SECONDS
CHUNK_ROWS = 1_000
MIN_CHUNK_ROWS = 100
CHUNK_SECONDS = 0.15
CHUNK_PAUSE = 0.12  # s between two chunks, at least: SQLite's busy handler looks again every 100 ms at most
ABANDONED = dt.timedelta(minutes=10)  # a batch not done and untouched this long was left by a crash: undone


def commit_retrying(engine: Any, actor: Actor, preview: ImportPreview, *, attempts: int = BUSY_ATTEMPTS,
                    on_busy: Callable[[int, float], None] | None = None, **options: Any) -> ImportSummary:
    """``commit_import`` in its own short unit of work; while the database is busy (another writer holds it
    past the busy timeout, or PostgreSQL reports a deadlock), wait and try again a bounded number of times,
    then refuse with a plain sentence. The file is never read again here. On SQLite an import of more than
    ``CHUNK_ROWS`` rows is written in chunks (``_commit_in_chunks``)."""
    from dashboard.services.unit_of_work import unit_of_work

    if engine.dialect.name == "sqlite" and len(preview.rows) > CHUNK_ROWS:
        summary = _commit_in_chunks(engine, actor, preview, attempts=attempts, on_busy=on_busy, **options)
    else:
        def once() -> ImportSummary:
            # Built and cleaned before the transaction: it begins by taking SQLite's one write lock (BEGIN
            # IMMEDIATE), and a department's save waits for it until it commits
            prepared = _prepare_rows(actor, preview.rows, clock.now(), options.get("filename", ""), engine.dialect)
            with unit_of_work(engine) as session:
                return commit_import(session, actor, preview, prepared=prepared, **options)
        summary = _busy_retrying(once, attempts, on_busy)
    if summary.imported + summary.updated >= BULK_ROWS:
        after_bulk_load(engine)  # a big import: planner statistics and PostgreSQL's visibility map
    return summary


def _busy_retrying(work: Callable[[], Any], attempts: int, on_busy: Callable[[int, float], None] | None) -> Any:
    """``work()``, tried again after a growing wait while the database is busy; refused after ``attempts``."""
    from dashboard.services.unit_of_work import is_retryable

    for attempt in range(1, attempts + 1):
        try:
            return work()
        except DBAPIError as error:
            if not is_retryable(error):
                raise
            log.warning("import: database busy (attempt %s of %s): %s", attempt, attempts, error.orig)
            if attempt == attempts:
                break
            wait = float(2 ** (attempt - 1))
            if on_busy is not None:
                on_busy(attempt, wait)
            _sleep(wait)
    raise ValidationFailed("error.import_database_busy", attempts=attempts)


# --------------------------------------------------------------------------- SQLite: the write in chunks


_CREATED = (("source", Source), ("category", Category), ("village", Village), ("name_alias", NameAlias))


def _commit_in_chunks(engine: Any, actor: Actor, preview: ImportPreview, *, attempts: int,
                      on_busy: Callable[[int, float], None] | None, source_title: str = "",
                      source_kind: SourceKind | str = SourceKind.INSPECTION, issuing_body: str = "",
                      received_date: dt.date | None = None, filename: str = "",
                      decisions: dict[tuple[str, str], Decision] | None = None, **_unused: Any) -> ImportSummary:
    """SQLite: the import of a checked preview as one batch written in short transactions, so that a department's
    save waits for one chunk (at most ``CHUNK_ROWS`` findings with their children, about 0.1 s), never for the whole
    file. First the names it creates, its serials and its ``ImportBatch`` row; then each chunk of findings, with
    the roll-ups and the data version exact at its commit and its ids added to the batch; last the updates of
    rows imported before, the one audit record of the import, and the batch marked done. Any failure on the way
    undoes what the chunks wrote (``undo_batch``, chunked too) before it is raised; a crash is undone by the next
    import (``undo_abandoned``)."""
    from dashboard.services.unit_of_work import unit_of_work

    authorize(actor, Action.IMPORT_LEDGER)
    if not preview.ok:
        raise ValidationFailed("error.import_rejected", count=len(preview.errors))
    undo_abandoned(engine)
    decisions = decisions or {(u.kind, u.value): u.decision for u in preview.unknowns if u.decision is not None}
    now, received = clock.now(), received_date or clock.today()

    def begin() -> tuple[int, dict[str, Source], list[str], list[str], list[str]]:
        with unit_of_work(engine) as session:
            _recheck(session, preview)
            marks = {name: session.execute(select(func.coalesce(func.max(model.id), 0))).scalar_one()
                     for name, model in _CREATED}
            sources = _sources(session, actor, preview.rows, source_title, source_kind, issuing_body, received)
            categories = _create_categories(session, actor, preview.rows)
            villages = _create_villages(session, actor, preview.rows)
            _remember_aliases(session, actor, preview, decisions or {})
            serials = _serial_block(session, now.year, len(preview.rows))
            created: dict[str, Any] = {name: list(session.execute(select(model.id).where(model.id > marks[name])
                                                                   .order_by(model.id)).scalars())
                                       for name, model in _CREATED}
            if serials:
                created["serials"] = [now.year, _number(serials[0]), _number(serials[-1])]
            batch = ImportBatch(started_at=now, touched_at=now, username=actor.username, filename=filename[:200],
                                owner=_owner(), findings=[], created=created)
            session.add(batch)
            session.flush()
            assert batch.id is not None
            return batch.id, sources, serials, categories, villages

    skipped = len(preview.skipped)
    if not preview.rows and not preview.updates:
        return ImportSummary(None, 0, preview.already_imported, 0, preview.cancelled_skipped, 0, skipped)
    batch_id, sources, serials, categories, villages = _busy_retrying(begin, attempts, on_busy)
    pairs = list(zip(preview.rows, serials))
    written: list[int] = []
    committed = _monotonic()
    start, size = 0, CHUNK_ROWS
    try:
        while start < len(pairs):
            chunk = pairs[start:start + size]
            prepared = _prepare_rows(actor, [resolved for resolved, _serial in chunk], now, filename, engine.dialect)
            if start:
                _sleep(max(0.0, CHUNK_PAUSE - (_monotonic() - committed)))  # a waiting save gets in here
            write = partial(_write_chunk, engine, actor, batch_id, chunk, prepared, sources, now, filename)
            began = _monotonic()
            written += _busy_retrying(write, attempts, on_busy)
            committed, start = _monotonic(), start + len(chunk)
            # the next chunk as large as holds the lock about CHUNK_SECONDS at the pace of this one (never more than
            # CHUNK_ROWS): on a busy machine a save waits for a smaller chunk, not a slower one
            size = min(CHUNK_ROWS, max(MIN_CHUNK_ROWS, int(len(chunk) * CHUNK_SECONDS / max(committed - began, 0.001))))
        concurrent = {resolved.row.fingerprint for resolved, _serial in pairs} - _fingerprints(engine, written)
        if concurrent:  # written meanwhile by another import: not written twice
            preview.unchanged += [Skipped(r.row.excel_row, "import.skip_concurrent") for r in preview.rows
                                  if r.row.fingerprint in concurrent]
            preview.rows = [r for r in preview.rows if r.row.fingerprint not in concurrent]
        first_source = next(iter(sources.values()), None)

        def finish() -> list[int]:
            with unit_of_work(engine) as session:
                updated = _write_updates(session, actor, preview.updates, now, filename)
                rollups.touch(session, updated)
                if first_source is not None:
                    audit(session, actor, "import_ledger", first_source, new={
                        "file": filename, "sha256": preview.parsed.file_sha256, "imported": len(preview.rows),
                        "updated": len(updated), "already_imported": preview.already_imported,
                        "sheet": preview.parsed.sheet, "batch": batch_id})
                session.execute(update(ImportBatch).where(ImportBatch.id == batch_id)
                                .values(done=True, touched_at=clock.now()))
                return updated
        updated = _busy_retrying(finish, attempts, on_busy)
    except BaseException:
        log.warning("import: batch %s failed after %s findings; undoing it", batch_id, len(written))
        undo_batch(engine, batch_id)
        raise
    closed = sum(STATE_STATUS[resolved.row.state] is Status.CLOSED for resolved in preview.rows)
    extensions = sum(1 for resolved in preview.rows if _extended(resolved))
    return ImportSummary(first_source.id if first_source else None, len(preview.rows), preview.already_imported,
                         closed, preview.cancelled_skipped, len(updated), skipped, categories, villages,
                         preview.closed_with_date, extensions, written)


def _number(serial: str) -> int:
    return int(serial.rsplit("-", 1)[1])


def _write_chunk(engine: Any, actor: Actor, batch_id: int, chunk: list[tuple[ResolvedRow, str]], prepared: _Rows,
                 sources: dict[str, Source], now: dt.datetime, filename: str) -> list[int]:
    """One chunk of findings and their children in its own unit of work, its ids recorded in the batch."""
    from dashboard.services.unit_of_work import unit_of_work

    with unit_of_work(engine) as session:
        present = _present(session, [resolved for resolved, _serial in chunk])
        if present:  # another import wrote some of these rows since the preview
            chunk = [(resolved, serial) for resolved, serial in chunk if resolved.row.fingerprint not in present]
            prepared = _prepare_rows(actor, [resolved for resolved, _serial in chunk], now, filename, engine.dialect)
        rows = [resolved for resolved, _serial in chunk]
        ids = _write_rows(session, prepared, rows, sources, [serial for _resolved, serial in chunk])
        rollups.touch(session, ids)
        if ids:
            batch = session.get(ImportBatch, batch_id)
            assert batch is not None
            batch.findings = [*(batch.findings or []), [min(ids), max(ids)]]
            batch.touched_at = clock.now()
        return ids


def _fingerprints(engine: Any, ids: list[int]) -> set[str]:
    from db.engine import read_session

    out: set[str] = set()
    with read_session(engine) as session:
        for start in range(0, len(ids), 1000):
            out.update(session.execute(select(Finding.import_key).where(Finding.id.in_(ids[start:start + 1000])))
                       .scalars())
    return out


def _children_of_finding() -> list[tuple[Any, Any]]:
    """Every (table, column) that refers to a finding, but the finding's own ``repeat_of_id``."""
    finding = Finding.__table__
    return [(table, fk.parent) for table in reversed(finding.metadata.sorted_tables) if table is not finding
            for fk in table.foreign_keys if fk.column.table is finding]


def undo_batch(engine: Any, batch_id: int, actor: Actor = SYSTEM) -> bool:
    """Remove what an import batch not done has written, newest chunk first, each chunk's findings in their own
    short transaction (the rows that refer to them first: a nullable reference is cleared, any other row goes;
    the import's own audit rows stay, as the audit log's rows always do), with the roll-ups and the data version
    exact at each commit; then the sources, categories, villages and aliases it created that nothing uses, its
    serials when no later number was taken, and the batch row. True if there was something to undo."""
    from dashboard.services.unit_of_work import run_in_unit_of_work

    def one_chunk(session: Session) -> bool:
        batch = session.get(ImportBatch, batch_id)
        if batch is None or batch.done:
            return False
        if not batch.findings:
            _undo_names(session, actor, batch)
            return False
        first, last = batch.findings[-1]
        ids = list(session.execute(select(Finding.id).where(Finding.id.between(first, last))).scalars())
        session.execute(update(Finding).where(Finding.repeat_of_id.between(first, last)).values(repeat_of_id=None))
        for table, column in _children_of_finding():
            if column.nullable:
                session.execute(update(table).where(column.between(first, last)).values({column.name: None}))
            else:
                session.execute(delete(table).where(column.between(first, last)))
        session.execute(delete(Finding).where(Finding.id.between(first, last)))
        rollups.touch(session, ids)
        batch.findings = batch.findings[:-1]
        batch.touched_at = clock.now()
        return True

    undone = False
    while run_in_unit_of_work(engine, one_chunk):
        undone = True
    return undone


def _undo_names(session: Session, actor: Actor, batch: ImportBatch) -> None:
    created = batch.created or {}
    uses = {"source": [Finding.source_id], "category": [Finding.category_id],
            "village": [Finding.village_id, Household.village_id]}
    for name, model in _CREATED:
        for record_id in created.get(name, []):
            if any(session.execute(select(column).where(column == record_id).limit(1)).first() for column in
                   uses.get(name, [])):
                continue
            session.execute(delete(model).where(model.id == record_id))
    if created.get("serials"):
        year, first, last = created["serials"]
        session.execute(update(SerialCounter).where(SerialCounter.year == year, SerialCounter.last == last)
                        .values(last=first - 1))
    audit(session, actor, "import_undone", batch, new={"file": batch.filename, "by": batch.username,
                                                       "started_at": batch.started_at.isoformat()})
    session.delete(batch)


def _owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"[:120]


def _gone(owner: str) -> bool:
    """The process that wrote a batch has ended (it ran on this host; elsewhere this cannot be told)."""
    host, _sep, pid = owner.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except OSError:  # alive, another user's
        return False
    return False


def undo_abandoned(engine: Any) -> int:
    """Undo the import batches a crash left (not done, and their process gone or untouched for ``ABANDONED``): each
    import on SQLite does this first, and the nightly roll-up job. How many there were."""
    from db.engine import read_session

    with read_session(engine) as session:
        batches = session.execute(select(ImportBatch.id, ImportBatch.owner, ImportBatch.touched_at)
                                  .where(ImportBatch.done.is_(False))).all()
    left = [batch_id for batch_id, owner, touched_at in batches
            if _gone(owner) or touched_at < clock.now() - ABANDONED]
    for batch_id in left:
        log.warning("import: batch %s was left unfinished; undoing it", batch_id)
        undo_batch(engine, batch_id)
    return len(left)


def _sources(session: Session, actor: Actor, rows: list[ResolvedRow], title: str, kind, issuing_body: str,
             received: dt.date) -> dict[str, Source]:
    """The source of each row: its own 问题来源 when the file has one (created or reused), else ``title``."""
    wanted = sorted({resolved.row.source or "" for resolved in rows})
    if "" in wanted:
        title = require_text(title, "field.source")
    out: dict[str, Source] = {}
    for written in wanted:
        name = written or title
        existing = session.execute(select(Source).where(Source.title == name)).scalars().first()
        if existing is None:
            existing = Source(kind=code(SourceKind, kind, "field.kind").value, title=name[:200],
                              issuing_body=issuing_body, received_date=received, created_by_id=actor.id,
                              created_at=clock.now(), notes="由Excel台账导入")
            session.add(existing)
            session.flush()
            audit(session, actor, "create", existing, new={"title": name, "kind": existing.kind})
        out[written] = existing
    return out


def _create_categories(session: Session, actor: Actor, rows: list[ResolvedRow]) -> list[str]:
    wanted = sorted({resolved.category_name for resolved in rows if resolved.category_id is None})
    created = []
    order = session.execute(select(func.coalesce(func.max(Category.sort_order), 0))).scalar_one()
    ids: dict[str, int] = {}
    for name in wanted:
        existing = session.execute(select(Category).where(Category.name == name)).scalars().first()
        if existing is None:
            order += 1
            existing = Category(name=name[:60], sort_order=order)
            session.add(existing)
            session.flush()
            audit(session, actor, "create", existing, new={"name": name, "by": "import"})
            created.append(name)
        ids[name] = existing.id  # type: ignore[assignment]  # flushed above: the row has its id
    for resolved in rows:
        if resolved.category_id is None:
            resolved.category_id = ids[resolved.category_name]
    return created


def _create_villages(session: Session, actor: Actor, rows: list[ResolvedRow]) -> list[str]:
    wanted = sorted({resolved.village_key for resolved in rows if resolved.village_key})
    ids: dict[tuple[str, str], int] = {}
    for township, name in wanted:
        village = Village(township=township, name=name)
        session.add(village)
        session.flush()
        audit(session, actor, "create", village, new={"township": township, "name": name, "by": "import"})
        ids[(township, name)] = village.id  # type: ignore[assignment]  # flushed above: the row has its id
    for resolved in rows:
        if resolved.village_key:
            resolved.village_id = ids[resolved.village_key]
    return [f"{township}·{name}" if township else name for township, name in wanted]


def _remember_aliases(session: Session, actor: Actor, preview: ImportPreview,
                      decisions: dict[tuple[str, str], Decision]) -> None:
    """Each name mapped to an existing one is remembered, so the next ledger from that office maps itself."""
    if not any(decision.action == MAP for decision in decisions.values()):
        return  # (reading every name costs a good part of a second at province scale, inside the write lock)
    names = _Names(session, {})
    for (kind, written), decision in decisions.items():
        if decision.action != MAP or not any(u.kind == kind and u.value == written for u in preview.unknowns):
            continue
        target = names.by_kind[kind].get(decision.target or "") or names.find(kind, decision.target or "")
        if target is None or names.find(kind, written) is not None:
            continue
        alias = NameAlias(kind=kind, alias=written[:200], target_id=target, created_by_id=actor.id, created_at=clock.now())
        session.add(alias)
        session.flush()
        audit(session, actor, "create", alias, new={"kind": kind, "alias": written, "target": decision.target})


def _serial_block(session: Session, year: int, count: int) -> list[str]:
    from dashboard.services.findings import next_serial

    if count == 0:
        return []
    first = next_serial(session, year)
    counter = session.exec(select(SerialCounter).where(SerialCounter.year == year).with_for_update()).scalars().one()
    start = counter.last
    counter.last += count - 1
    return [first] + [f"{SERIAL_PREFIX}-{year}-{number:04d}" for number in range(start + 1, start + count)]


def _times(row: ParsedRow, status: Status, now: dt.datetime, received: dt.datetime | None) -> tuple[dt.datetime, dt.datetime | None]:
    """(created_at, closed_at): a closed row keeps the ledger's 销号时间, and is never created after it."""
    closed_at = None
    if status is Status.CLOSED:
        closed_at = min(dt.datetime.combine(row.closed_date, dt.time(12)), now) if row.closed_date else now
    created = now
    if closed_at is not None:
        created = min(created, closed_at)
    return created, closed_at


@dataclass
class _DriverRows:
    """One table's rows as the database driver takes them (SQLite): the INSERT's own SQL, and per row a list of
    values already turned into what the driver binds (dates, times and JSON as text, booleans as 0/1), by the
    column types' own bind processors, before the unit of work. Inside it only the values known there are put in
    (``late``: a finding's id, serial, source, category and village; a child's finding) and the driver's
    ``executemany`` runs: the write lock is held for SQLite's own work, not for SQLAlchemy's per-row processing
    (3 of the 4.6 s a 20,000-row import held it)."""

    table: Any
    sql: str
    columns: list[str]
    values: list[list[Any]]
    late: dict[str, Callable[[Any], Any]]  # column -> its bind processor, for values filled in at the write

    def slot(self, column: str) -> int:
        return self.columns.index(column)


_LATE = {"finding": ("id", "serial", "source_id", "category_id", "village_id"),
         "audit_log": ("finding_id", "entity_id", "new")}  # every other child: finding_id


def _driver_rows(dialect: Any, table: Any, rows: list[dict[str, Any]], *, with_id: bool = False) -> _DriverRows:
    """``rows`` (one table's, all with the same keys) for ``_DriverRows``; a column they leave out gets its
    scalar default, as a Core insert would give it (a callable default must be given by the rows)."""
    columns = (["id"] if with_id else []) + list(rows[0]) if rows else []
    defaults: dict[str, Any] = {}
    for column in table.columns:
        if column.name in columns or column.primary_key or column.default is None:
            continue
        if not column.default.is_scalar:
            raise ValueError(f"{table.name}.{column.name}: a callable default the import must give itself")
        defaults[column.name] = column.default.arg
    columns += list(defaults)
    compiled = table.insert().compile(dialect=dialect, column_keys=columns)
    order = list(compiled.positiontup or columns)

    def processor(name: str) -> Callable[[Any], Any]:
        bind = table.c[name].type.dialect_impl(dialect).bind_processor(dialect)
        return bind or (lambda value: value)

    late_names = _LATE.get(table.name, ("finding_id",))
    processors = [None if name in late_names else processor(name) for name in order]
    values = []
    for row in rows:
        row = {**defaults, "id": None, **row}
        values.append([row[name] if bind is None else bind(row[name]) for name, bind in zip(order, processors)])
    return _DriverRows(table, str(compiled), order, values, {name: processor(name) for name in late_names if name in order})


@dataclass
class _Rows:
    """The rows of an import, built and cleaned before its transaction writes anything. A finding's id, serial,
    source, category and village are filled in at the write: the children name their finding by its position."""

    now: dt.datetime  # the import's time, on every row
    findings: list[dict[str, Any]]
    children: list[tuple[Any, list[dict[str, Any]]]]  # (model, rows) in the order they are inserted
    by_file_serial: dict[str, int]  # the file's own serial -> the position of its first finding
    driver: list[_DriverRows] | None = None  # SQLite: the same rows for the driver (the findings first)


def _prepare_rows(actor: Actor, rows: list[ResolvedRow], now: dt.datetime, filename: str, dialect: Any = None) -> _Rows:
    """The findings and their measures, co-units, progress, extensions, reviews and audit rows, one list per
    table (one statement each at the write: a statement per row cost about 2 ms each in SQLAlchemy alone)."""
    findings = [_finding_values(actor, resolved, now) for resolved in rows]
    measures: list[dict[str, Any]] = []
    co_units: list[dict[str, Any]] = []
    progress: list[dict[str, Any]] = []
    audits: list[dict[str, Any]] = []
    extensions: list[dict[str, Any]] = []
    reviews: list[dict[str, Any]] = []
    by_file_serial: dict[str, int] = {}
    for position, (resolved, values) in enumerate(zip(rows, findings)):
        row, closed = resolved.row, values["status"] == Status.CLOSED.value
        if row.serial:
            by_file_serial.setdefault(row.serial, position)
        deadlines = row.measure_deadlines or [None] * len(row.measures)
        done = row.measure_done or [closed] * len(row.measures)
        for seq, (text, due, is_done) in enumerate(zip(row.measures, deadlines, done), start=1):
            is_done = closed or is_done
            measures.append({"finding_id": position, "seq": seq, "text": text,
                             "deadline": due or resolved.current_deadline, "done": is_done,
                             "done_at": (values["closed_at"] or values["created_at"]) if is_done else None,
                             "version": 1})
        co_units += [{"finding_id": position, "unit_id": unit_id} for unit_id in resolved.co_unit_ids]
        if row.progress:
            progress.append({"finding_id": position, "unit_id": resolved.lead_unit_id, "author_id": actor.id,
                             "reported_at": values["created_at"], "done_text": row.progress, "next_text": "",
                             "percent": 100 if closed else 0})
        if _extended(resolved):
            extensions.append({"finding_id": position, "requested_by_id": actor.id,
                               "requested_at": values["created_at"],
                               "reason": f"台账中原时限{resolved.deadline}、现时限{resolved.current_deadline}（由Excel导入）",
                               "old_deadline": resolved.deadline, "asked_deadline": resolved.current_deadline,
                               "decision": ExtensionDecision.APPROVED.value, "decided_by_id": actor.id,
                               "decided_at": values["created_at"],
                               "comment": f"来源：导入{filename or '台账'}第{row.excel_row}行"})
        if values["status"] == Status.PENDING_REVIEW.value:
            reviews.append({"finding_id": position, "applied_by_id": actor.id, "applied_at": values["created_at"],
                            "summary": f"台账记为待销号（由Excel导入，{filename or '台账'}第{row.excel_row}行）",
                            "evidence_ids": [], "decision": ReviewDecision.PENDING.value, "reason": ""})
        note = f"由Excel导入（{filename or '台账'}第{'、'.join(map(str, row.excel_rows or [row.excel_row]))}行）" + (
            "；台账记为已完成，导入时记为已销号" + ("，完成日期取台账的销号时间" if row.closed_date else "") if closed else "")
        audits.append({"at": now, "user_id": actor.id, "username": actor.username, "action": "import",
                       "entity": "Finding", "entity_id": position, "finding_id": position, "old": None,
                       "new": {"serial": "", "status": values["status"], "excel_row": row.excel_row,
                               "original_serial": values["original_serial"]},
                       "note": note})
    children = [(Measure, measures), (FindingCoUnit, co_units), (Progress, progress),
                (ExtensionRequest, extensions), (ClosureReview, reviews), (AuditLog, audits)]
    prepared = _Rows(now, [clean_row(row) for row in findings],
                     [(model, [clean_row(row) for row in table_rows]) for model, table_rows in children], by_file_serial)
    if dialect is not None and dialect.name == "sqlite" and prepared.findings:
        # SQLite's unit of work holds the one write lock from BEGIN IMMEDIATE: the driver's values are made here
        prepared.driver = [_driver_rows(dialect, Finding.__table__, prepared.findings, with_id=True)] + [
            _driver_rows(dialect, model.__table__, table_rows) for model, table_rows in prepared.children if table_rows]
        for table in prepared.driver:
            if table.table.name == "audit_log":  # its JSON now, the serial put in at the write (``_with_serial``)
                slot, dump = table.slot("new"), table.late["new"]
                for driver_values in table.values:
                    driver_values[slot] = dump(driver_values[slot])
    return prepared


def _write_rows(session: Session, prepared: _Rows, rows: list[ResolvedRow], sources: dict[str, Source],
                serials: list[str]) -> list[int]:
    """Insert the prepared rows: the findings first (their ids from the insert's RETURNING), then each table
    of their children with the ids in place of the positions."""
    if not rows:
        return []
    if prepared.driver is not None and session.get_bind().dialect.name == "sqlite":
        ids = _write_driver_rows(session, prepared.driver, rows, sources, serials)
    else:
        ids = _write_core_rows(session, prepared, rows, sources, serials)
    _link_repeats(session, rows, ids, {serial: ids[position] for serial, position in prepared.by_file_serial.items()})
    return ids


def _write_driver_rows(session: Session, tables: list[_DriverRows], rows: list[ResolvedRow],
                       sources: dict[str, Source], serials: list[str]) -> list[int]:
    """SQLite: the findings' ids are the next ones after the largest (the unit of work holds the one write lock,
    so no one else inserts meanwhile); each table is one ``executemany`` of the driver on the transaction's own
    connection. The statement listeners do not see it, so the tables are noted as written for the data version."""
    connection = session.connection()
    first = (connection.execute(select(func.max(Finding.id))).scalar() or 0) + 1
    ids = list(range(first, first + len(rows)))
    findings, children = tables[0], tables[1:]
    late = {name: (findings.slot(name), findings.late[name]) for name in findings.late}
    for values, finding_id, resolved, serial in zip(findings.values, ids, rows, serials):
        known = {"id": finding_id, "serial": serial, "source_id": sources[resolved.row.source or ""].id,
                 "category_id": resolved.category_id, "village_id": resolved.village_id}
        for name, (slot, bind) in late.items():
            values[slot] = bind(known[name])
    driver = connection.connection.driver_connection
    assert driver is not None
    cursor = driver.cursor()
    try:
        cursor.executemany(findings.sql, findings.values)
        for child in children:
            finding_slot = child.slot("finding_id")
            if child.table.name == "audit_log":
                entity_slot, new_slot = child.slot("entity_id"), child.slot("new")
                for values in child.values:
                    position = values[finding_slot]
                    values[finding_slot] = values[entity_slot] = ids[position]
                    values[new_slot] = _with_serial(values[new_slot], serials[position], child.late["new"])
            else:
                for values in child.values:
                    values[finding_slot] = ids[values[finding_slot]]
            cursor.executemany(child.sql, child.values)
    finally:
        cursor.close()
    note_written(connection, findings.table.name, *(child.table.name for child in children))
    return ids


_NO_SERIAL = '{"serial": ""'  # how the audit row's JSON begins before its serial is known


def _with_serial(new: Any, serial: str, dump: Callable[[Any], Any]) -> Any:
    """The audit row's ``new`` with the finding's serial: its JSON text (made before the unit of work with an empty
    serial first) with the serial put in, or the value itself dumped."""
    if isinstance(new, str) and new.startswith(_NO_SERIAL):
        return '{"serial": ' + json.dumps(serial) + new[len(_NO_SERIAL):]
    return dump({**new, "serial": serial})


def _write_core_rows(session: Session, prepared: _Rows, rows: list[ResolvedRow], sources: dict[str, Source],
                     serials: list[str]) -> list[int]:
    for values, resolved, serial in zip(prepared.findings, rows, serials):
        # known only now: the sources, categories and villages this import created, and the year's serials
        values.update(serial=serial, source_id=sources[resolved.row.source or ""].id,
                      category_id=resolved.category_id, village_id=resolved.village_id)
    ids = _insert_findings(session, prepared.findings)
    for model, table_rows in prepared.children:
        for row in table_rows:
            position = row["finding_id"]
            row["finding_id"] = ids[position]
            if model is AuditLog:
                row["entity_id"] = ids[position]
                row["new"]["serial"] = serials[position]
        if table_rows:
            session.connection().execute(model.__table__.insert(), table_rows)  # cleaned by _prepare_rows
    return ids


def _link_repeats(session: Session, rows: list[ResolvedRow], ids: list[int], by_file_serial: dict[str, int]) -> None:
    """重复问题 names the serial of the earlier finding in the same file (or one imported from that ledger before)."""
    wanted = {finding_id: resolved.row.repeat_of for finding_id, resolved in zip(ids, rows) if resolved.row.repeat_of}
    if not wanted:
        return
    missing = sorted({serial for serial in wanted.values() if serial not in by_file_serial})
    earlier: dict[str, int] = dict(session.execute(select(Finding.original_serial, Finding.id)
                                   .where(Finding.original_serial.in_(missing))).all()) if missing else {}
    for finding_id, serial in wanted.items():
        target = by_file_serial.get(serial) or earlier.get(serial)
        if target is not None and target != finding_id:
            session.execute(update(Finding).where(Finding.id == finding_id).values(repeat_of_id=target))


def _write_updates(session: Session, actor: Actor, updates: list[UpdateRow], now: dt.datetime,
                   filename: str) -> list[int]:
    """Changed progress becomes a progress entry; a row now marked done becomes a closure application
    for an inspector to decide: an import never closes a finding by itself. Each move of state is the
    transition table's (``lifecycle.next_status``); a finding still 待整改 reports the ledger's progress
    before it applies (``lifecycle.closure_path``)."""
    ids = []
    for item in updates:
        finding = session.execute(select(Finding).where(Finding.id == item.finding_id).with_for_update()).scalars().one()
        status = Status(finding.status)
        path = closure_path(status) if item.apply_closure else ()
        if status in FINAL_STATES or path is None or not (path or starts_from(Action.REPORT_PROGRESS, status)):
            continue  # moved since the preview into a state the ledger's row cannot change
        where = f"由Excel导入，{filename or '台账'}第{item.row.excel_row}行"
        changes: dict[str, Any] = {}
        if item.new_progress or Action.REPORT_PROGRESS in path:
            session.add(Progress(finding_id=finding.id, unit_id=finding.lead_unit_id, author_id=actor.id,
                                 reported_at=now, done_text=item.new_progress or f"台账记为已完成（{where}）",
                                 next_text="", percent=0))
            changes["last_progress_at"] = now
            status = next_status(Action.REPORT_PROGRESS, status)
        if Action.APPLY_CLOSURE in path:
            session.add(ClosureReview(finding_id=finding.id, applied_by_id=actor.id, applied_at=now,
                                      summary=f"台账记为已完成（{where}），待整改办核验销号", evidence_ids=[]))
            status = next_status(Action.APPLY_CLOSURE, status)
        if status.value != finding.status:
            changes["status"] = status.value
        old = {key: getattr(finding, key) for key in changes}
        for key, value in changes.items():
            setattr(finding, key, value)
        finding.version += 1
        finding.updated_at = now
        audit(session, actor, "import_update", finding, old={k: str(v) for k, v in old.items()},
              new={k: str(v) for k, v in changes.items()} | {"excel_row": item.row.excel_row})
        ids.append(finding.id)
    session.flush()
    return ids


def _insert_findings(session: Session, findings: list[dict]) -> list[int]:
    """Insert the findings and return their ids in the rows' order, from the insert's own RETURNING.
    (Looking them up by serial afterwards cost 20 s per 1,000 serials on PostgreSQL at 20,000 rows: the
    planner took the serial's trigram index, whose pending list holds every row this transaction added.)"""
    table = Finding.__table__  # the rows are cleaned already (``_prepare_rows``)
    returned = session.connection().execute(table.insert().returning(table.c.serial, table.c.id), findings)
    found = dict(returned.all())
    return [found[row["serial"]] for row in findings]


def _finding_values(actor: Actor, resolved: ResolvedRow, now: dt.datetime) -> dict:
    """A finding's columns; its serial, source, category and village are set when it is written."""
    row = resolved.row
    status = STATE_STATUS[row.state]
    created_at, closed_at = _times(row, status, now, None)
    remarks = "；".join(part for part in (row.remarks, resolved.note) if part)
    return dict(
        serial="", source_id=None, category_id=None, description=row.description,
        county=(row.county or "")[:60], township=row.township, village_id=None,
        lead_unit_id=resolved.lead_unit_id, responsible_leader=(row.leader or "")[:60],
        responsible_person=(row.person or "")[:60], rect_type=row.rect_type, priority=row.priority,
        original_deadline=resolved.deadline, current_deadline=resolved.current_deadline,
        status=status.value, remarks=remarks, created_by_id=actor.id, created_at=created_at, updated_at=now,
        closed_at=closed_at, import_key=row.fingerprint, original_serial=(row.serial or row.original_serial or "")[:40],
        last_progress_at=created_at if row.progress else None, sent_back_count=0,
        extension_count=1 if _extended(resolved) else 0, version=1, cancel_reason="",
    )


# --------------------------------------------------------------------------- aliases (admin page)


MAPPING_VILLAGES = 500  # past this, only the nearest villages are offered (a province has 20,000)


def mapping_names(session: Session) -> dict[str, list[str]]:
    """The existing names a mapping may choose from, per kind."""
    villages = [f"{township}·{name}" for township, name in
                session.execute(select(Village.township, Village.name).order_by(Village.township, Village.name)
                                .limit(MAPPING_VILLAGES + 1))]
    return {
        "unit": list(session.execute(select(Unit.name).where(Unit.active == true()).order_by(Unit.id)).scalars()),
        "category": list(session.execute(select(Category.name).where(Category.active == true())
                                         .order_by(Category.sort_order)).scalars()),
        "village": villages if len(villages) <= MAPPING_VILLAGES else [],
    }


def list_aliases(session: Session, actor: Actor) -> list[dict]:
    authorize(actor, Action.IMPORT_LEDGER)
    names = _Names(session, {})
    return [{"id": a.id, "kind": a.kind, "alias": a.alias, "target": names.name_of(a.kind, a.target_id)}
            for a in session.execute(select(NameAlias).order_by(NameAlias.kind, NameAlias.alias)).scalars()]


def add_alias(session: Session, actor: Actor, *, kind: str, alias: str, target: str) -> NameAlias:
    authorize(actor, Action.IMPORT_LEDGER)
    alias = require_text(alias, "field.name")
    if kind not in ALIAS_KINDS:
        raise ValidationFailed("error.import_bad_mapping", old=alias, new=target,
                               reason=Phrase("import.no_such_kind", {"kind": kind, "kinds": list(ALIAS_KINDS)}))
    names = _Names(session, {})
    target_id = names.by_kind[kind].get(target)
    if target_id is None:
        raise ValidationFailed("error.import_bad_mapping", old=alias, new=target,
                               reason=Phrase("import.no_such_name", {"name": target, "kind": kind_word(kind)}))
    existing = session.execute(select(NameAlias).where(NameAlias.kind == kind, NameAlias.alias == alias)).scalars().first()
    if existing is not None:
        existing.target_id = target_id
        audit(session, actor, "update", existing, new={"alias": alias, "target": target})
        return existing
    record = NameAlias(kind=kind, alias=alias, target_id=target_id, created_by_id=actor.id, created_at=clock.now())
    session.add(record)
    session.flush()
    audit(session, actor, "create", record, new={"kind": kind, "alias": alias, "target": target})
    return record


def delete_alias(session: Session, actor: Actor, alias_id: int) -> bool:
    authorize(actor, Action.IMPORT_LEDGER)
    record = session.get(NameAlias, alias_id)
    if record is not None:
        audit(session, actor, "delete", record, old={"kind": record.kind, "alias": record.alias})
        session.delete(record)
    return True


__all__ = ["DomainError", "ImportPreview", "ImportSummary", "Decision", "Unknown", "commit_import",
           "commit_retrying", "preview_import", "read_ledger", "decisions_from_pairs"]
