"""Ledger files as county offices keep them, built in the tests (openpyxl for .xlsx, xlwt for .xls, csv text).

Each builder returns the file's bytes; the layouts are those of issue 11: multi-row findings, WPS group
rows, group headings used as categories, units written the office's way, a summary sheet first, an old .xls
and a GBK .csv. Nothing here reads files from outside the repository.
"""
from __future__ import annotations

import csv
import io
import zipfile

from openpyxl import Workbook


def xlsx(rows: dict[int, list], merges: tuple[str, ...] = (), *, title: str = "台账",
         before: dict[str, dict[int, list]] | None = None) -> bytes:
    """Sheets ``before`` (name -> rows) first, then the ledger sheet ``title``."""
    book = Workbook()
    first = True
    for name, sheet_rows in (before or {}).items():
        sheet = book.active if first else book.create_sheet(name)
        sheet.title, first = name, False
        _fill(sheet, sheet_rows)
    sheet = book.active if first else book.create_sheet(title)
    sheet.title = title
    _fill(sheet, rows)
    for rng in merges:
        sheet.merge_cells(rng)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _fill(sheet, rows: dict[int, list]) -> None:
    for r, values in rows.items():
        for c, value in enumerate(values, start=1):
            if value is not None:
                sheet.cell(r, c, value)


# --------------------------------------------------------------------------- multi-row findings

MULTI_HEADER = ["序号", "问题类别", "问题描述", "整改措施", "牵头单位", "整改时限", "完成情况"]
# (serial, description, [(measure, deadline, completion)]): 4 findings, 11 measures
MULTI_FINDINGS = [
    (1, "低保对象认定不精准，毛安村3户家庭车辆未核查",
     [("逐户核查车辆信息", "2026年7月31日", "已完成"), ("清退不符合条件对象", "2026年8月31日", "正在整改"),
      ("追回违规资金", "2026年9月30日", "正在整改")]),
    (2, "临时救助审批超时限",
     [("梳理超时限案件", "2026年7月15日", "已完成"), ("规范审批流程", "2026年8月15日", "已完成")]),
    (3, "特困人员护理不到位",
     [("签订照料服务协议", "2026年7月31日", "正在整改"), ("开展护理培训", "2026年10月31日", None),
      ("建立探访制度", "2026年12月31日", None)]),
    (4, "残疾人两项补贴发放滞后",
     [("核对发放名册", "2026年7月10日", "已完成"), ("补发滞后资金", "2026年7月20日", "已完成"),
      ("建立按月发放机制", "2026年8月31日", "已完成")]),
]


def multi_row_ledger() -> tuple[bytes, dict[str, list[tuple[str, str]]]]:
    """Each finding over several rows: 序号, 类别, 问题描述 and 牵头单位 merged down; one measure a row."""
    rows: dict[int, list] = {1: ["2026年社会救助领域问题整改台账"], 2: MULTI_HEADER}
    merges = ["A1:G1"]
    r = 3
    for serial, description, measures in MULTI_FINDINGS:
        top = r
        for index, (measure, deadline, completion) in enumerate(measures):
            rows[r] = [serial if index == 0 else None, "对象认定不精准" if index == 0 else None,
                       description if index == 0 else None, measure, "社会救助办" if index == 0 else None,
                       deadline, completion]
            r += 1
        for column in "ABCE":
            merges.append(f"{column}{top}:{column}{r - 1}")
    return xlsx(rows, tuple(merges)), {d: [(m, due) for m, due, _ in ms] for _, d, ms in MULTI_FINDINGS}


# --------------------------------------------------------------------------- WPS group rows

WPS_HEADER = ["序号", "问题描述", "整改措施", "牵头单位", "配合单位", "整改\n时限", "完成\n情况"]


def wps_group_ledger() -> bytes:
    """``一`` in 序号 with the heading merged across the other columns; headers with line breaks."""
    rows = {
        1: ["民政局巡察反馈问题整改台账"],
        2: WPS_HEADER,
        3: ["一", "对象认定方面"],
        4: [1, "低保对象家庭收入核算不准", "重新核算收入", "社会救助办", None, "2026年9月30日", "整改中"],
        5: [2, "漏保对象未及时纳入", "开展漏保排查", "社会救助办", "高士镇", "2026年10月31日", None],
        6: ["二", "资金管理方面"],
        7: [1, "临时救助资金发放不及时", "按月发放", "社会救助办", None, "2026.8.31", "已完成"],
        8: ["（三）", "服务保障方面"],
        9: [1, "困境儿童探访记录不全", "补齐探访记录", "儿童福利和社会事务股", None, "持续推进", None],
    }
    return xlsx(rows, ("A1:G1", "B3:G3", "B6:G6", "B8:G8"))


# --------------------------------------------------------------------------- group headings as categories

CATEGORY_GROUPS = [("一、对象认定方面", 8), ("二、资金管理方面", 6), ("三、作风建设方面", 5)]  # 19 rows, 3 values


def heading_category_ledger() -> bytes:
    rows: dict[int, list] = {1: ["序号", "问题类别", "问题描述", "整改措施", "牵头单位", "整改时限"]}
    merges = []
    r, serial = 2, 1
    for heading, count in CATEGORY_GROUPS:
        top = r
        for _ in range(count):
            rows[r] = [serial, heading if r == top else None, f"{heading[2:]}问题{serial}", f"措施{serial}",
                       "社会救助办", "2026年12月31日"]
            r += 1
            serial += 1
        merges.append(f"B{top}:B{r - 1}")
    return xlsx(rows, tuple(merges))


# --------------------------------------------------------------------------- units the office's way

def unit_alias_ledger(unit: str = "救助股") -> bytes:
    rows = {
        1: ["序号", "问题描述", "整改措施", "牵头单位", "配合单位", "整改时限", "完成情况"],
        2: [1, "低保档案不规范", "规范档案", "县民政局社会救助办", "儿童福利和社会事务股 高士镇", "2026年9月30日", None],
        3: [2, "临时救助台账不全", "补齐台账", "社会救助办公室", "儿童福利和社会事务股/高士镇", "2026年9月30日", None],
        4: [3, "救助政策宣传不到位", "开展政策宣传", unit, None, "持续推进", "持续推进"],
        5: [4, "低保复核不及时", "按季度复核", unit, None, "2026年11月30日", None],
    }
    return xlsx(rows)


# --------------------------------------------------------------------------- a summary sheet first

def summary_first_ledger() -> bytes:
    summary = {1: ["问题整改情况汇总表"], 2: ["序号", "责任单位", "问题数", "已完成", "完成情况"],
               3: [1, "社会救助办", 2, 1, "50%"], 4: ["合计", None, 2, 1, "50%"]}
    ledger = {1: ["序号", "问题描述", "整改措施", "牵头单位", "整改时限"],
              2: [1, "低保档案不规范", "规范档案", "社会救助办", "2026年9月30日"],
              3: [2, "临时救助台账不全", "补齐台账", "社会救助办", "2026年10月31日"]}
    cover = {1: ["县民政局"], 2: ["问题整改台账"], 3: ["2026年6月"]}
    return xlsx(ledger, title="明细台账", before={"封面": cover, "汇总表": summary})


# --------------------------------------------------------------------------- .xls and .csv

def xls_ledger() -> bytes:
    """An old .xls (BIFF8, as WPS and Excel 2003 save it) with a merged title and a merged unit."""
    import xlwt

    book = xlwt.Workbook(encoding="utf-8")
    sheet = book.add_sheet("整改台账")
    sheet.write_merge(0, 0, 0, 5, "2026年民政领域问题整改台账")
    for c, name in enumerate(["序号", "问题描述", "整改措施", "牵头单位", "整改时限", "完成情况"]):
        sheet.write(1, c, name)
    data = [[1, "低保档案不规范", "1.规范档案；2.开展培训", "社会救助办", "2026年9月30日", "整改中"],
            [2, "临时救助台账不全", "补齐台账", None, "2026.10.31", "已完成"]]
    for r, values in enumerate(data, start=2):
        for c, value in enumerate(values):
            if value is not None and c != 3:
                sheet.write(r, c, value)
    sheet.write_merge(2, 3, 3, 3, "社会救助办")
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


CSV_ROWS = [["序号", "问题描述", "整改措施", "牵头单位", "整改时限", "完成情况"],
            ["1", "低保档案不规范", "规范档案", "社会救助办", "2026年9月30日", "整改中"],
            ["2", "临时救助台账不全，涉及3户", "补齐台账", "社会救助办", "2026-10-31", "已完成"]]


def csv_ledger(encoding: str) -> bytes:
    out = io.StringIO()
    csv.writer(out).writerows(CSV_ROWS)
    return out.getvalue().encode(encoding)


# --------------------------------------------------------------------------- hostile files

def zip_bomb(rows: int = 1_000_000) -> bytes:
    """A small .xlsx whose one sheet expands to ``rows`` rows (written streaming, compressed hard)."""
    base = io.BytesIO()
    Workbook().save(base)
    source = zipfile.ZipFile(io.BytesIO(base.getvalue()))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as bomb:
        for info in source.infolist():
            if info.filename != "xl/worksheets/sheet1.xml":
                bomb.writestr(info.filename, source.read(info.filename))
                continue
            with bomb.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as sheet:
                sheet.write(b'<?xml version="1.0"?><worksheet xmlns="http://schemas.openxmlformats.org/'
                            b'spreadsheetml/2006/main"><sheetData>')
                chunk = b"".join(b'<row r="%d"><c r="A%d"><v>1</v></c></row>' % (i, i) for i in range(1, 10_001))
                for _ in range(rows // 10_000):
                    sheet.write(chunk)
                sheet.write(b"</sheetData></worksheet>")
    return out.getvalue()


def malformed_sheet_xml() -> bytes:
    base = io.BytesIO()
    book = Workbook()
    book.active.append(["序号", "问题描述", "牵头单位"])
    book.save(base)
    source = zipfile.ZipFile(io.BytesIO(base.getvalue()))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as broken:
        for info in source.infolist():
            data = source.read(info.filename)
            if info.filename == "xl/worksheets/sheet1.xml":
                data = data.replace(b"</sheetData>", b"<row><c r=\"A9\"")  # cut off mid-element
            broken.writestr(info, data)
    return out.getvalue()


def many_sheets_without_a_ledger(count: int = 50) -> bytes:
    book = Workbook()
    for index in range(count):
        sheet = book.active if index == 0 else book.create_sheet()
        sheet.title = f"第{index + 1}页"
        sheet.append(["会议记录", f"第{index + 1}次"])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def empty_workbook() -> bytes:
    out = io.BytesIO()
    Workbook().save(out)
    return out.getvalue()


def ods_ledger() -> bytes:
    """A minimal OpenDocument spreadsheet (as LibreOffice and WPS save .ods), written by hand."""
    from xml.sax.saxutils import escape

    rows = [["序号", "问题描述", "整改措施", "牵头单位", "整改时限", "完成情况"],
            ["1", "低保档案不规范", "规范档案", "社会救助办", "2026年9月30日", "整改中"],
            ["2", "临时救助台账不全", "补齐台账", "社会救助办", "2026-10-31", "已完成"]]
    cells = "".join("<table:table-row>" + "".join(
        f'<table:table-cell office:value-type="string"><text:p>{escape(value)}</text:p></table:table-cell>'
        for value in row) + "</table:table-row>" for row in rows)
    content = ('<?xml version="1.0" encoding="UTF-8"?><office:document-content '
               'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
               'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
               'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" office:version="1.2">'
               f'<office:body><office:spreadsheet><table:table table:name="台账">{cells}</table:table>'
               '</office:spreadsheet></office:body></office:document-content>')
    manifest = ('<?xml version="1.0" encoding="UTF-8"?><manifest:manifest '
                'xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" manifest:version="1.2">'
                '<manifest:file-entry manifest:full-path="/" '
                'manifest:media-type="application/vnd.oasis.opendocument.spreadsheet"/>'
                '<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/>'
                '</manifest:manifest>')
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as book:
        book.writestr(zipfile.ZipInfo("mimetype"), "application/vnd.oasis.opendocument.spreadsheet")
        book.writestr("META-INF/manifest.xml", manifest)
        book.writestr("content.xml", content, zipfile.ZIP_DEFLATED)
    return out.getvalue()


# --------------------------------------------------------------------------- a messy ledger in ASCII data

# The reader's header vocabulary (data, not UI text): 整改时限 split into 原 / 现 by a qualifier.
ASCII_HEADER = ["序号", "问题类别", "问题描述", "乡镇", "村", "整改措施", "牵头单位", "配合单位", "责任人",
                "整改类型", "优先级", "整改时限(原)", "整改时限(现)", "完成情况", "销号时间", "整改进展"]
KNOWN_ROW = [1, "Funds", "Ledger row imported before", None, None, "Keep records", "Relief", None, None,
             None, None, "2026-09-30", None, None, None, None]
PROGRESSING_ROW = [2, "Funds", "Row that moves on", None, None, "Keep going", "Relief", None, None,
                   None, None, "2026-09-30", None, None, None, "Started"]


def _ascii_row(serial=None, category=None, description=None, township=None, village=None, measures=None,
               lead=None, co=None, person=None, rect_type=None, priority=None, deadline=None, current=None,
               completion=None, closed=None, progress=None) -> list:
    return [serial, category, description, township, village, measures, lead, co, person, rect_type, priority,
            deadline, current, completion, closed, progress]


def ascii_base_ledger() -> bytes:
    """One finding, imported before the messy ledger comes in."""
    return xlsx({1: ASCII_HEADER, 2: KNOWN_ROW, 3: PROGRESSING_ROW}, title="Ledger")


def ascii_messy_ledger() -> bytes:
    """Every kind of message the importer gives, with ASCII data (only the header and the completion words
    are the ledgers' Chinese vocabulary): a cover sheet first, a group heading, continuation rows (one with
    only a deadline, one with a value that is not used), an alias, a duplicate, a cancelled row, unreadable
    dates, a date without a year, unknown words, missing cells, unknown units and villages, a row imported
    before (unchanged) and one with new progress."""
    r = _ascii_row
    rows = {
        1: ["Rectification ledger of the county bureau"],
        2: ASCII_HEADER,
        3: ["I. Eligibility checks"],
        4: r(1, None, "Vehicles not checked", None, None, "Check vehicles", "ReliefDept", None, "Zhang",
             deadline="2026-07-31", completion="正在整改", progress="Checked 3 of 5"),
        5: r(measures="Recover funds", deadline="2026-09-30"),
        6: r(deadline="2026-10-31"),
        7: r(measures="Train staff", person="Li", deadline="2026-11-30"),
        8: r(2, "Funds", "Late payments", None, None, "Pay monthly", "Relief", "Welfare",
             deadline="2026-03-31", current="2026-06-30", completion="已完成", closed="2026-05-20"),
        9: r(2, "Funds", "Late payments", None, None, "Pay monthly", "Relief", "Welfare",
             deadline="2026-03-31", current="2026-06-30", completion="已完成", closed="2026-05-20"),
        10: r(3, "Funds", "Withdrawn item", measures="Nothing", lead="Relief", deadline="2026-09-30",
              completion="已撤销"),
        11: r(4, "Funds", "Bad date row", measures="Fix", lead="Relief", deadline="soon"),
        12: r(5, "Funds", "No year row", measures="Fix", lead="Relief", deadline="9/30"),
        13: r(6, "Funds", "Odd words row", measures="Fix", lead="Relief", rect_type="asap",
              priority="urgent", deadline="2026-09-30", completion="mostly"),
        14: r(7, "Funds", None, measures="Fix", lead="Relief", deadline="2026-09-30"),
        15: r(8, "Funds", "No unit row", measures="Fix", deadline="2026-09-30"),
        16: r(9, "Funds", "No measures row", lead="Relief", deadline="2026-09-30"),
        17: r(10, "Funds", "No deadline row", measures="Fix", lead="Relief"),
        18: r(11, "Funds", "Unknown unit row", measures="Fix", lead="WelfareBureau", deadline="2026-09-30"),
        19: r(12, "Funds", "Unheard-of unit row", measures="Fix", lead="Qxz", deadline="2026-09-30"),
        20: r(13, "Funds", "Unknown village row", "Gaoshi", "Maoann", "Fix", "Relief", deadline="2026-09-30"),
        21: KNOWN_ROW,
        22: PROGRESSING_ROW[:-1] + ["Half done"],  # imported before, with new progress: an update
    }
    cover = {1: ["County bureau"], 2: ["Rectification ledger"]}
    return xlsx(rows, ("A1:P1", "A3:P3"), title="Ledger", before={"Cover": cover})


def ascii_clean_ledger() -> bytes:
    """Rows that can all be written once three unknown categories and a village are decided."""
    r = _ascii_row
    rows = {
        1: ASCII_HEADER,
        2: r(1, "Eligibility", "Unchecked vehicles", "Gaoshi", "Newvillage", "Check vehicles", "ReliefDept",
             deadline="2026-07-31"),
        3: r(2, "Fundz", "Late payments", None, None, "Pay monthly", "Relief", "Welfare",
             deadline="2026-03-31", current="2026-06-30", completion="已完成", closed="2026-05-20"),
        4: r(3, "Misc things", "Loose records", None, None, "Sort records", "Relief",
             deadline="2026-10-31", completion="已完成"),
        5: r(4, "Brand new kind", "Something new", None, None, "Do it", "Relief", deadline="2026-12-31"),
    }
    return xlsx(rows, title="Ledger")
