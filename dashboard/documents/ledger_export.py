"""Excel 台账 export in the usual column order, streamed: rows are read from the database in
batches and written with openpyxl's write-only mode, so memory stays flat for any size.

Title row merged across the table, the active filters below it, header, then one row per
finding; widths, wrapping and A4 landscape printing set."""
from __future__ import annotations

import datetime as dt
from collections import defaultdict
from copy import copy
from typing import Any, BinaryIO, Iterator

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter
from sqlalchemy import func, select
from sqlmodel import Session

from dashboard import clock
from dashboard.i18n import label, t
from dashboard.lifecycle import Actor
from dashboard.services.queries import LedgerFilter, ledger_conditions, visible_to
from dashboard.settings import load_settings
from dashboard.vocab import RectType, Status
from db.models import Category, Evidence, Finding, FindingCoUnit, Measure, Progress, Source, Unit, Village

# (catalogue key of the header, column width in characters, wrap)
COLUMNS = [
    ("export.serial", 14, False), ("export.source", 22, True), ("export.category", 14, True),
    ("export.description", 40, True), ("export.township", 9, False), ("export.village", 9, False),
    ("export.measures", 36, True), ("export.lead_unit", 14, True), ("export.co_units", 14, True),
    ("export.leader", 11, True), ("export.person", 11, True), ("export.rect_type", 9, False),
    ("export.deadline", 13, True), ("export.progress", 30, True), ("export.completion", 9, False),
    ("export.closed_at", 11, False), ("export.evidence_count", 7, False), ("export.remarks", 16, True),
]
BATCH = 2000
THIN = Side(style="thin", color="999999")
BORDER = Border(left=THIN, right=THIN, top=THIN, bottom=THIN)


def _cell(sheet, value: Any, *, bold: bool = False, wrap: bool = True, size: int = 10,
          fill: str | None = None, center: bool = False) -> WriteOnlyCell:
    cell = WriteOnlyCell(sheet, value=value)
    cell.font = Font(name="宋体", bold=bold, size=size)
    cell.alignment = Alignment(wrap_text=wrap, vertical="center", horizontal="center" if center else None)
    cell.border = BORDER
    if fill:
        cell.fill = PatternFill("solid", fgColor=fill)
    return cell


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
                   Finding.remarks)
            .join(Source, Source.id == Finding.source_id).join(Category, Category.id == Finding.category_id)
            .join(Unit, Unit.id == Finding.lead_unit_id).outerjoin(Village, Village.id == Finding.village_id)
            .where(*conditions, Finding.id > last_id).order_by(Finding.id).limit(BATCH)).all()
        if not rows:
            return
        yield rows
        last_id = rows[-1].id


def _details(session: Session, ids: list[int]) -> tuple[dict, dict, dict, dict]:
    """Measures, co-operating units, latest progress and evidence counts for one batch."""
    measures: dict[int, list[str]] = defaultdict(list)
    for finding_id, seq, text in session.execute(select(Measure.finding_id, Measure.seq, Measure.text)
                                                 .where(Measure.finding_id.in_(ids)).order_by(Measure.seq)):
        measures[finding_id].append(f"{seq}.{text}")
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
    return measures, co_units, progress, evidence


def export_ledger(session: Session, actor: Actor, out: BinaryIO, *, flt: LedgerFilter | None = None,
                  title: str | None = None, filters_text: str = "", lang: str = "zh",
                  now: dt.datetime | None = None) -> int:
    """Write the ledger to ``out`` as .xlsx; returns the number of findings written."""
    now = now or clock.now()
    flt = flt or LedgerFilter()
    book = Workbook(write_only=True)
    sheet = book.create_sheet(t("export.sheet", lang))
    for index, (_key, width, _wrap) in enumerate(COLUMNS, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = width
    last_column = get_column_letter(len(COLUMNS))
    sheet.merged_cells.add(f"A1:{last_column}1")
    sheet.merged_cells.add(f"A2:{last_column}2")
    sheet.page_setup.orientation = "landscape"
    sheet.page_setup.paperSize = 9  # A4
    sheet.page_setup.fitToWidth = 1
    sheet.page_setup.fitToHeight = 0
    sheet.sheet_properties.pageSetUpPr.fitToPage = True
    sheet.print_title_rows = "3:3"
    sheet.freeze_panes = "A4"

    heading = title or t("export.title", lang)
    sheet.append([_cell(sheet, f"{heading}（{t('export.as_of', lang, date=now.date().isoformat())}）", bold=True,
                        size=16, wrap=False, center=True)])
    sheet.append([_cell(sheet, f"{t('export.filters', lang)}{filters_text or t('export.no_filters', lang)}",
                        wrap=False)])
    sheet.append([_cell(sheet, t(key, lang), bold=True, fill="DDE5F0", center=True) for key, _w, _x in COLUMNS])
    # Styles are registered once and copied: styling every cell afresh costs openpyxl a lookup each.
    templates = {wrap: _cell(sheet, "", wrap=wrap) for wrap in (True, False)}

    def data_cell(value: Any, wrap: bool) -> WriteOnlyCell:
        cell = WriteOnlyCell(sheet, value=value)
        cell._style = copy(templates[wrap]._style)
        return cell

    written = 0
    for rows in _batches(session, actor, flt, now):
        measures, co_units, progress, evidence = _details(session, [row[0] for row in rows])
        for row in rows:
            (finding_id, serial, source, category, description, township, village, unit, leader, person, rect_type,
             original, current, status, closed_at, remarks) = row
            values = [serial, source, category, description, township or "", village or "",
                      "\n".join(measures.get(finding_id, [])), unit, "、".join(co_units.get(finding_id, [])),
                      leader, person, label(RectType(rect_type), lang),
                      _deadline_text(rect_type, original, current, lang), progress.get(finding_id, ""),
                      label(Status(status), lang), closed_at.date().isoformat() if closed_at else "",
                      evidence.get(finding_id, 0), remarks]
            sheet.append([data_cell(value, wrap) for value, (_k, _w, wrap) in zip(values, COLUMNS)])
            written += 1
    book.save(out)
    return written
