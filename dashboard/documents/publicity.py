"""公示 lists of one village (Word and Excel): the households in 村内公示 (纳入监测) or in 风险消除 公示, with
the head of household's name, the number of people, the category and the risks, and never an ID number, a
phone, a bank account or health (``household_views.PublicityRow`` carries none of them)."""
from __future__ import annotations

import io

import xlsxwriter
from docx import Document
from docx.shared import Pt

from dashboard.i18n import join, label, t
from dashboard.services.household_views import PublicityRow
from dashboard.vocab import MonitorCategory, Risk

COLUMNS = ("publicity.seq", "publicity.number", "publicity.head", "publicity.persons", "publicity.category",
           "publicity.risks", "publicity.period")


def _title(village: str, elimination: bool, lang: str) -> str:
    return t("publicity.title_elimination" if elimination else "publicity.title_identify", lang, village=village)


def _cells(index: int, row: PublicityRow, lang: str) -> list[str]:
    period = (f"{row.publicity_start:%Y-%m-%d} — {row.publicity_end:%Y-%m-%d}"
              if row.publicity_start and row.publicity_end else "")
    return [str(index), row.number, row.head_name, str(row.persons),
            label(MonitorCategory(row.category), lang) if row.category else "",
            join([label(Risk(kind), lang) for kind in row.risks], lang), period]


def publicity_docx(rows: list[PublicityRow], village: str, *, elimination: bool = False, lang: str = "zh") -> bytes:
    document = Document()
    document.add_heading(_title(village, elimination, lang), level=1)
    document.add_paragraph(t("publicity.intro", lang))
    table = document.add_table(rows=1, cols=len(COLUMNS))
    table.style = "Table Grid"
    for cell, key in zip(table.rows[0].cells, COLUMNS):
        cell.text = t(key, lang)
    for index, row in enumerate(rows, start=1):
        for cell, value in zip(table.add_row().cells, _cells(index, row, lang)):
            cell.text = value
    for paragraph in document.paragraphs:
        for run in paragraph.runs:
            run.font.size = Pt(12)
    document.add_paragraph(t("publicity.contact", lang))
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def publicity_xlsx(rows: list[PublicityRow], village: str, *, elimination: bool = False, lang: str = "zh") -> bytes:
    out = io.BytesIO()
    book = xlsxwriter.Workbook(out, {"in_memory": True})
    sheet = book.add_worksheet(t("publicity.sheet", lang))
    bold = book.add_format({"bold": True, "font_size": 14})
    head = book.add_format({"bold": True, "border": 1, "bg_color": "#e8f0fe"})
    cell = book.add_format({"border": 1, "text_wrap": True})
    sheet.merge_range(0, 0, 0, len(COLUMNS) - 1, _title(village, elimination, lang), bold)
    for c, (key, width) in enumerate(zip(COLUMNS, (6, 16, 12, 10, 16, 28, 24))):
        sheet.write(1, c, t(key, lang), head)
        sheet.set_column(c, c, width)
    for index, row in enumerate(rows, start=1):
        for c, value in enumerate(_cells(index, row, lang)):
            sheet.write_string(1 + index, c, value, cell)
    book.close()
    return out.getvalue()
