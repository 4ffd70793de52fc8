"""Excel 台账 export in the usual column order, streamed: rows are read from the database in
batches and streamed into the workbook (see ``xlsx_stream``), so memory stays flat for any size.

Title row merged across the table, the active filters below it, header, then one row per
finding; widths, wrapping and A4 landscape printing set."""
from __future__ import annotations

import datetime as dt
import io
from collections import defaultdict
from typing import Any, BinaryIO, Iterator

from sqlalchemy import func, select
from sqlmodel import Session

from dashboard import clock
from dashboard.documents.xlsx_stream import StreamedSheet, wrapped_lines
from dashboard.i18n import label, t
from dashboard.lifecycle import Actor
from dashboard.services.queries import LedgerFilter, ledger_conditions, visible_to
from dashboard.settings import load_settings
from dashboard.text import xml_safe
from dashboard.vocab import Priority, RectType, Status
from db.models import Category, Evidence, Finding, FindingCoUnit, Measure, Progress, Source, Unit, Village

# (catalogue key of the header, column width in characters, wrap)
COLUMNS = [
    ("export.serial", 14, False), ("export.source", 22, True), ("export.category", 14, True),
    ("export.description", 40, True), ("export.township", 9, False), ("export.village", 9, False),
    ("export.measures", 36, True), ("export.lead_unit", 14, True), ("export.co_units", 14, True),
    ("export.leader", 11, True), ("export.person", 11, True), ("export.rect_type", 9, False),
    ("export.deadline", 13, True), ("export.progress", 30, True), ("export.completion", 9, False),
    ("export.closed_at", 11, False), ("export.evidence_count", 7, False), ("export.remarks", 16, True),
    # after the usual columns: what an import elsewhere needs to lose nothing
    ("export.original_serial", 14, False), ("export.county", 9, False), ("export.priority", 9, False),
    ("export.repeat_of", 14, False),
]
BATCH = 2000
HEADER_ROW = 2  # zero-based: title, filters, header
EVIDENCE_COLUMN = 16  # the one number; every other column is text


def _format(book: Any, *, bold: bool = False, wrap: bool = True, size: int = 10,
            fill: str | None = None, center: bool = False, border: bool = True) -> Any:
    style: dict[str, Any] = {"font_name": "宋体", "font_size": size, "bold": bold, "text_wrap": wrap,
                             "valign": "vcenter"}
    if border:
        style.update(border=1, border_color="#999999")
    if center:
        style["align"] = "center"
    if fill:
        style.update(pattern=1, bg_color=f"#{fill}")
    return book.add_format(style)


def _deadline_text(rect_type: str, original: dt.date | None, current: dt.date | None, lang: str) -> str:
    if original is None and current is None:
        return label(RectType(rect_type), lang)
    if original == current or original is None:
        return current.isoformat() if current else ""
    return f"{original.isoformat()} / {current.isoformat() if current else ''}"


def _batches(session: Session, actor: Actor, flt: LedgerFilter, now: dt.datetime) -> Iterator[list[Any]]:
    """Findings matching the filters, in the order serials were issued, a batch at a time (keyset paging)."""
    settings = load_settings(session)
    conditions = [visible_to(actor), *ledger_conditions(flt, now, settings)]
    last_id = 0
    while True:
        rows = session.execute(
            select(Finding.id, Finding.serial, Source.title, Category.name, Finding.description, Finding.township,
                   Village.name, Unit.name, Finding.responsible_leader, Finding.responsible_person, Finding.rect_type,
                   Finding.original_deadline, Finding.current_deadline, Finding.status, Finding.closed_at,
                   Finding.remarks, Finding.original_serial, Finding.county, Finding.priority, Finding.repeat_of_id)
            .join(Source, Source.id == Finding.source_id).join(Category, Category.id == Finding.category_id)
            .join(Unit, Unit.id == Finding.lead_unit_id).outerjoin(Village, Village.id == Finding.village_id)
            .where(*conditions, Finding.id > last_id).order_by(Finding.id).limit(BATCH)).all()
        if not rows:
            return
        yield rows
        last_id = rows[-1].id


def _details(session: Session, ids: list[int]) -> tuple[dict, dict, dict, dict, dict]:
    """Measures, co-operating units, latest progress and evidence counts for one batch."""
    measures: dict[int, list[tuple[int, str, dt.date | None]]] = defaultdict(list)
    for finding_id, seq, text, deadline in session.execute(
            select(Measure.finding_id, Measure.seq, Measure.text, Measure.deadline)
            .where(Measure.finding_id.in_(ids)).order_by(Measure.seq)):
        measures[finding_id].append((seq, text, deadline))
    co_units: dict[int, list[str]] = defaultdict(list)
    for finding_id, name in session.execute(select(FindingCoUnit.finding_id, Unit.name)
                                            .join(Unit, Unit.id == FindingCoUnit.unit_id)
                                            .where(FindingCoUnit.finding_id.in_(ids))):
        co_units[finding_id].append(name)
    latest = (select(Progress.finding_id, func.max(Progress.id).label("last_id"))
              .where(Progress.finding_id.in_(ids)).group_by(Progress.finding_id).subquery())
    progress = dict(session.execute(select(Progress.finding_id, Progress.done_text)
                                    .join(latest, latest.c.last_id == Progress.id)).all())
    evidence = dict(session.execute(select(Evidence.finding_id, func.count()).where(Evidence.finding_id.in_(ids))
                                    .group_by(Evidence.finding_id)).all())
    repeats = dict(session.execute(select(Finding.id, Finding.serial).where(
        Finding.id.in_(select(Finding.repeat_of_id).where(Finding.id.in_(ids), Finding.repeat_of_id.is_not(None))))).all())
    return measures, co_units, progress, evidence, repeats


WRAPPED = [(index, width) for index, (_key, width, wrap) in enumerate(COLUMNS) if wrap]
LINE_POINTS = 13.5  # one line of 10 pt 宋体


def _row_height(values: list[Any]) -> float:
    """Tall enough for the longest wrapped cell, so printed rows do not overlap."""
    lines = max(wrapped_lines(values[index] or "", width) for index, width in WRAPPED)
    return lines * LINE_POINTS + 3


def _measures_text(items: list[tuple[int, str, dt.date | None]], current: dt.date | None) -> str:
    """One measure a line, "N.text", with its own deadline when it differs from the finding's (the importer
    reads this layout back exactly)."""
    return "\n".join(f"{seq}.{text}" + (f"（时限：{deadline.isoformat()}）" if deadline and deadline != current else "")
                     for seq, text, deadline in items)


def _row_values(row: Any, details: tuple[dict, dict, dict, dict, dict], lang: str) -> list[Any]:
    measures, co_units, progress, evidence, repeats = details
    (finding_id, serial, source, category, description, township, village, unit, leader, person, rect_type,
     original, current, status, closed_at, remarks, original_serial, county, priority, repeat_of_id) = row
    return [serial, source, category, description, township, village,
            _measures_text(measures.get(finding_id, []), current),
            unit, "、".join(co_units.get(finding_id, [])), leader, person, label(RectType(rect_type), lang),
            _deadline_text(rect_type, original, current, lang), progress.get(finding_id, ""),
            label(Status(status), lang), closed_at.date().isoformat() if closed_at else "",
            evidence.get(finding_id, 0), remarks, original_serial or "", county or "", label(Priority(priority), lang),
            repeats.get(repeat_of_id, "") if repeat_of_id else ""]


def export_ledger(session: Session, actor: Actor, out: BinaryIO, *, flt: LedgerFilter | None = None,
                  title: str | None = None, filters_text: str = "", lang: str = "zh",
                  now: dt.datetime | None = None) -> int:
    """Write the ledger to ``out`` as .xlsx; returns the number of findings written."""
    now = now or clock.now()
    flt = flt or LedgerFilter()

    def layout(book: Any, sheet: Any) -> list[Any]:
        for index, (_key, width, _wrap) in enumerate(COLUMNS):
            sheet.set_column(index, index, width)
        sheet.set_landscape()
        sheet.set_paper(9)  # A4
        sheet.fit_to_pages(1, 0)
        sheet.repeat_rows(HEADER_ROW)
        sheet.freeze_panes(HEADER_ROW + 1, 0)
        last = len(COLUMNS) - 1
        heading = xml_safe(title or t("export.title", lang))
        sheet.set_row(0, 28)
        sheet.merge_range(0, 0, 0, last, f"{heading}（{t('export.as_of', lang, date=now.date().isoformat())}）",
                          _format(book, bold=True, size=16, wrap=False, center=True, border=False))
        sheet.merge_range(1, 0, 1, last,
                          xml_safe(f"{t('export.filters', lang)}{filters_text or t('export.no_filters', lang)}"),
                          _format(book, wrap=False, border=False))
        sheet.write_row(HEADER_ROW, 0, [t(key, lang) for key, _w, _x in COLUMNS],
                        _format(book, bold=True, fill="DDE5F0", center=True))
        return [_format(book, wrap=wrap) for _key, _width, wrap in COLUMNS]

    def batches() -> Iterator[list[list[Any]]]:
        for rows in _batches(session, actor, flt, now):
            details = _details(session, [row[0] for row in rows])
            yield [_row_values(row, details, lang) for row in rows]

    sheet = StreamedSheet(t("export.sheet", lang), HEADER_ROW + 1, layout, numeric=[EVIDENCE_COLUMN],
                          row_height=_row_height)
    return sheet.write(out, batches())


def ledger_workbook(engine: Any, actor: Actor, **options: Any) -> bytes:
    """The export as bytes, in its own read session (the page's one-click download builds it on demand)."""
    from db.engine import read_session

    buffer = io.BytesIO()
    with read_session(engine) as session:
        export_ledger(session, actor, buffer, **options)
    return buffer.getvalue()
