"""月度监测通报: the monthly bulletin of the household ledger as a Word document, from the same rows the 数据质量
page shows (``quality.monthly_bulletin``: a past month's rows are frozen, so the document never changes)."""
from __future__ import annotations

import io

from docx import Document
from docx.shared import Pt

from dashboard.i18n import t
from dashboard.services.quality import BULLETIN_COLUMNS, TOTAL, Bulletin


def bulletin_docx(bulletin: Bulletin, lang: str = "zh") -> bytes:
    period = bulletin.period
    document = Document()
    document.add_heading(t("bulletin.title", lang, month=period.label), level=1)
    document.add_paragraph(t("bulletin.intro", lang, start=period.start.isoformat(), end=period.end.isoformat()))
    if bulletin.frozen_at is not None:
        document.add_paragraph(t("bulletin.frozen", lang, at=f"{bulletin.frozen_at:%Y-%m-%d %H:%M}"))
    else:
        document.add_paragraph(t("bulletin.provisional", lang, date=bulletin.as_of.isoformat()))
    headers = ["col.township", *(f"bulletin.{name}" for name in BULLETIN_COLUMNS)]
    table = document.add_table(rows=1, cols=len(headers))
    table.style = "Table Grid"
    for cell, key in zip(table.rows[0].cells, headers):
        cell.text = t(key, lang)
    for row in bulletin.rows:
        name = t("bulletin.total", lang) if row.township == TOTAL else row.township
        for cell, value in zip(table.add_row().cells, [name, *(str(getattr(row, col)) for col in BULLETIN_COLUMNS)]):
            cell.text = value
    for paragraph in document.paragraphs:
        for run in paragraph.runs:
            run.font.size = Pt(12)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()
