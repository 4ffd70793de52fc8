"""A 提醒函 / 督办函 / 通报 / 约谈通知书 as a Word file, from the stored letter: 文号, title, the text,
the table of findings, the reply deadline, the issuing body and the date."""
from __future__ import annotations

import datetime as dt
import io
from typing import Sequence

from docx import Document
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.shared import Cm, Pt

from dashboard.documents.report import _set_fonts, _table
from dashboard.text import xml_safe
from db.models import Finding, Letter


COLUMN_WIDTHS_CM = (1.1, 3.0, 6.8, 2.6, 2.0)  # 15.5 cm: inside the text width


def _cn_date(day: dt.date | None) -> str:
    return f"{day.year}年{day.month}月{day.day}日" if day else "—"


def letter_docx(letter: Letter, findings: Sequence[Finding], today: dt.date) -> bytes:
    document = Document()
    _set_fonts(document)
    number = document.add_paragraph(xml_safe(letter.doc_number))
    number.alignment = WD_ALIGN_PARAGRAPH.RIGHT
    heading = document.add_paragraph()
    heading.alignment = WD_ALIGN_PARAGRAPH.CENTER
    run = heading.add_run(xml_safe(letter.title))
    run.bold, run.font.size = True, Pt(20)
    for paragraph in letter.body.split("\n"):
        document.add_paragraph(xml_safe(paragraph))
    rows = []
    for index, finding in enumerate(findings, start=1):
        days = (today - finding.current_deadline).days if finding.current_deadline else 0
        rows.append([index, finding.serial, finding.description, _cn_date(finding.current_deadline),
                     f"{days}天" if days > 0 else "—"])
    _table(document, ["序号", "问题编号", "问题描述", "整改时限", "逾期天数"], rows)
    table = document.tables[-1]
    table.autofit = False
    for column, width in zip(table.columns, COLUMN_WIDTHS_CM):  # the grid LibreOffice and WPS read
        column.width = Cm(width)
    for row in table.rows:  # the description gets the room
        for cell, width in zip(row.cells, COLUMN_WIDTHS_CM):
            cell.width = Cm(width)
    document.add_paragraph(xml_safe(f"请于{_cn_date(letter.respond_by)}前书面回复。"))
    for text in (letter.issuing_body, _cn_date(letter.issued_on)):
        signature = document.add_paragraph(xml_safe(text))
        signature.alignment = WD_ALIGN_PARAGRAPH.RIGHT
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def letter_file(session, letter_id: int) -> tuple[str, bytes]:
    """(file name, Word bytes) of an issued letter, its findings in serial order."""
    from sqlmodel import select

    from dashboard import clock

    letter = session.get(Letter, letter_id)
    findings = session.exec(select(Finding).where(Finding.id.in_(letter.finding_ids)).order_by(Finding.serial)).all()
    return f"{letter.doc_number}.docx", letter_docx(letter, findings, min(clock.today(), letter.issued_on))
