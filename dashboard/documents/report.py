"""The Word 整改情况报告 (.docx), built from a snapshot's figures only, so its numbers are the
snapshot's numbers. Chinese fonts are set on every run (eastAsia) so Word and WPS agree."""
from __future__ import annotations

import datetime as dt
import io
from typing import Any, BinaryIO

from docx import Document
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml.ns import qn
from docx.shared import Pt

from dashboard.figures import Figures, percent
from dashboard.i18n import label
from dashboard.text import xml_safe
from dashboard.vocab import Status

BODY_FONT, HEADING_FONT = "宋体", "黑体"


def _date(value: Any) -> str:
    if not value:
        return "—"
    parsed = dt.date.fromisoformat(str(value)[:10])
    return f"{parsed.year}年{parsed.month}月{parsed.day}日"


def totals_sentence(totals: dict[str, Any], as_of: str) -> str:
    """The totals in prose, as leadership reads them (the same figures as the dashboard)."""
    f = Figures.from_mapping(totals)
    sentence = (f"截至{_date(as_of)}，共发现问题{f.effective}项，已整改销号{f.closed}项，"
                f"持续整改{f.ongoing}项，正在整改{f.working}项，待销号{f.pending_review}项，"
                f"整改完成率{percent(f.completion_rate)}，按期完成率{percent(f.on_time_rate)}。"
                f"其中逾期未完成{f.overdue}项，经批准延期{f.extended}项，"
                f"屡改屡犯{f.repeats}项。")
    if f.cancelled:
        sentence += f"另有{f.cancelled}项因登记有误已撤销，不计入上述统计。"
    return sentence


def _set_fonts(document: Document) -> None:
    for style_name, font, size in (("Normal", BODY_FONT, 12), ("Title", HEADING_FONT, 20),
                                   ("Heading 1", HEADING_FONT, 15), ("Heading 2", HEADING_FONT, 13)):
        style = document.styles[style_name]
        style.font.name = font
        style.font.size = Pt(size)
        r_pr = style.element.get_or_add_rPr()
        fonts = r_pr.find(qn("w:rFonts"))
        if fonts is None:
            fonts = r_pr.makeelement(qn("w:rFonts"), {})
            r_pr.append(fonts)
        for attribute in ("w:ascii", "w:hAnsi", "w:eastAsia", "w:cs"):
            fonts.set(qn(attribute), font)
        if style_name != "Normal":
            style.font.bold = True
            style.font.color.rgb = None


def _table(document: Document, headers: list[str], rows: list[list[Any]]) -> None:
    table = document.add_table(rows=1, cols=len(headers))
    table.style = "Table Grid"
    for cell, text in zip(table.rows[0].cells, headers):
        cell.text = xml_safe(text)
        for run in cell.paragraphs[0].runs:
            run.font.bold = True
    for values in rows:
        cells = table.add_row().cells
        for cell, value in zip(cells, values):
            cell.text = xml_safe(value)  # any text the database holds: a vertical tab, U+FFFE …
    document.add_paragraph()


def _rollup_rows(rows: list[dict[str, Any]], with_rank: bool = False) -> list[list[Any]]:
    result = []
    for row in rows:
        f = Figures.from_mapping(row)
        values = [row["name"], f.effective, f.closed, f.ongoing, f.outstanding, f.overdue, percent(f.completion_rate)]
        result.append(([row["rank"]] if with_rank else []) + values)
    return result


ROLLUP_HEADERS = ["问题数", "已销号", "持续整改", "未完成", "逾期", "完成率"]


def build_report(figures: dict[str, Any], *, title: str, snapshot_title: str, taken_at: str,
                 out: BinaryIO | None = None) -> bytes:
    """Write the report; returns its bytes (and writes them to ``out`` if given)."""
    document = Document()
    _set_fonts(document)
    heading = document.add_paragraph(xml_safe(title), style="Title")
    heading.alignment = WD_ALIGN_PARAGRAPH.CENTER
    as_of = figures.get("as_of") or taken_at
    dated = document.add_paragraph(f"（{_date(as_of)}）")
    dated.alignment = WD_ALIGN_PARAGRAPH.CENTER

    document.add_heading("一、总体情况", level=1)
    document.add_paragraph(totals_sentence(figures["totals"], as_of))

    document.add_heading("二、按问题来源", level=1)
    _table(document, ["问题来源", *ROLLUP_HEADERS], _rollup_rows(figures["by_source"]))
    document.add_heading("三、按问题类别", level=1)
    _table(document, ["问题类别", *ROLLUP_HEADERS], _rollup_rows(figures["by_category"]))
    document.add_heading("四、按牵头单位（按完成率排名）", level=1)
    _table(document, ["排名", "牵头单位", *ROLLUP_HEADERS], _rollup_rows(figures["by_unit"], with_rank=True))

    document.add_heading("五、逾期问题清单", level=1)
    overdue = figures["overdue"]
    if overdue:
        _table(document, ["编号", "问题描述", "牵头单位", "原定时限", "现行时限", "逾期天数"],
               [[row["serial"], row["description"], row["unit"], _date(row["original_deadline"]),
                 _date(row["current_deadline"]), row["days_overdue"]] for row in overdue])
    else:
        document.add_paragraph("无逾期问题。")

    document.add_heading("六、批准延期情况", level=1)
    if figures.get("extensions"):
        _table(document, ["编号", "牵头单位", "原定时限", "延期至", "延期理由"],
               [[row["serial"], row["unit"], _date(row["old_deadline"]), _date(row["asked_deadline"]), row["reason"]]
                for row in figures["extensions"]])
    else:
        document.add_paragraph("无批准延期的问题。")

    document.add_heading("七、屡改屡犯问题", level=1)
    if figures.get("repeats"):
        _table(document, ["编号", "原问题编号", "问题描述", "牵头单位", "状态"],
               [[row["serial"], row["repeat_of"], row["description"], row["unit"],
                 label(Status(row["status"]), "zh")] for row in figures["repeats"]])
    else:
        document.add_paragraph("无屡改屡犯问题。")

    return saved(document, f"会议快照“{xml_safe(snapshot_title)}”", taken_at, out)


def saved(document: Document, source: str, taken_at: Any, out: BinaryIO | None = None) -> bytes:
    """Close a report with the line naming the frozen data it was built from; its bytes (also to ``out``)."""
    footer = document.add_paragraph(f"数据来源：{source}，生成于{str(taken_at)[:16].replace('T', ' ')}。")
    footer.runs[0].font.size = Pt(10)
    buffer = io.BytesIO()
    document.save(buffer)
    data = buffer.getvalue()
    if out is not None:
        out.write(data)
    return data


def report_for_snapshot(snapshot, title: str = "整改情况报告") -> bytes:
    return build_report(snapshot.figures, title=title, snapshot_title=snapshot.title,
                        taken_at=snapshot.taken_at.isoformat())
