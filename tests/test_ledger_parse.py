"""Tests for dashboard.ledger_reader: messy Excel ledgers built with openpyxl."""
from __future__ import annotations

import datetime as dt
import hashlib
import io
import zipfile

import pytest
from openpyxl import Workbook

from dashboard.ledger_reader import (
    LedgerFormatError,
    RowError,
    parse_date_text,
    parse_ledger,
)

D = dt.date


def build(rows: dict[int, list], merges: tuple[str, ...] = (), title: str = "台账", extra_sheets: dict | None = None) -> bytes:
    """An .xlsx whose sheet ``title`` has ``rows`` (row number -> values from column A)."""
    wb = Workbook()
    for name, sheet_rows in (extra_sheets or {}).items():
        ws = wb.create_sheet(name)
        for r, values in sheet_rows.items():
            for c, v in enumerate(values, start=1):
                ws.cell(r, c, v)
    ws = wb.active
    ws.title = title
    for r, values in rows.items():
        for c, v in enumerate(values, start=1):
            if v is not None:
                ws.cell(r, c, v)
    for rng in merges:
        ws.merge_cells(rng)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


# --------------------------------------------------------------------------- the messy ledger

MESSY_HEADER = [
    "序 号", "问题\n来源", "问题类别", "存在问题", "乡镇（街道）", "村(社区)", "整改措施", "责任单位",
    "配合单位", "分管领导", "责任人", "整改\n时限", "整改进展", "完成情况", "销号时间", "佐证材料数", "备\u3000注",
]
# (deadline cell, expected rect_type, expected deadline, 完成情况, progress, expected state)
MESSY_CASES = [
    (dt.datetime(2022, 9, 28), "deadline", D(2022, 9, 28), "已完成", "已全部清退", "closed"),
    ("2022年9月28日", "deadline", D(2022, 9, 28), "已整改到位", "已整改", "closed"),
    ("2022.9.28", "deadline", D(2022, 9, 28), "已整改", "已追回资金", "closed"),
    ("2022-10-20", "deadline", D(2022, 10, 20), "完成", "已完成", "closed"),
    ("2022/10/20", "deadline", D(2022, 10, 20), "已销号", "已销号", "closed"),
    ("9月底前", "deadline", D(2022, 9, 30), "正在整改", "正在核查", "in_progress"),
    ("2022年12月底前", "deadline", D(2022, 12, 31), "整改中", "已核查一半", "in_progress"),
    ("9月28日前", "deadline", D(2022, 9, 28), "推进中", "推进中", "in_progress"),
    ("年底前", "deadline", D(2022, 12, 31), "未完成", "资金未到位", "in_progress"),
    ("立行立改", "immediate", None, "持续整改", "每月复查", "ongoing"),
    ("立行立改，2022年9月30日前", "immediate", D(2022, 9, 30), "长期坚持", "建立长效机制", "ongoing"),
    ("长期坚持", "long_term", None, None, None, "open"),
    (None, "deadline", None, " ", "已摸排30户", "in_progress"),
]
FIRST_DATA_ROWS = [4, 5, 6, 7, 8, 10, 12, 13, 14, 15, 16, 17, 18]  # 9 blank, 11 a section divider


def messy_rows() -> dict[int, list]:
    rows: dict[int, list] = {
        1: ["民政局脱贫攻坚问题整改台账"],
        2: ["填报单位：县民政局（盖章）"] + [None] * 10 + ["日期：2022年9月1日"],
        3: MESSY_HEADER,
        11: ["二、审计反馈问题"],
        20: [19],  # a pre-numbered template row with nothing else
        22: ["注：1.本表由整改办汇总；2.完成情况填写已完成、整改中等。"],
        23: ["填表人：张三"] + [None] * 6 + ["审核人：李四"],
    }
    for i, (r, case) in enumerate(zip(FIRST_DATA_ROWS, MESSY_CASES), start=1):
        deadline, _, _, completion, progress, _ = case
        rows[r] = [
            float(i) if i == 5 else i, "省委巡视反馈" if r <= 8 else "城乡低保专项审计",
            "对象认定不精准" if r <= 6 else "资金监管", f"问题描述{i}", "高士镇", f"村{i}",
            f"措施{i}", "局扶贫办", None, "王局长", f"责任人{i}", deadline, progress, completion,
            None, 3, None,
        ]
    rows[4][6] = "1.建立台账；2.逐户核查"
    rows[5][6] = "（1）清退不符合条件对象（2）追回违规资金"
    rows[6][6] = "①开展培训②规范流程"
    rows[7][6] = "建立复查制度\n定期开展回头看"
    rows[8][6] = "一是摸清底数；二是完善档案。"
    rows[4][7] = "社会救助办、办公室"
    rows[4][8] = "局扶贫办，高士镇\n赛口镇；办公室"
    rows[4][14] = dt.datetime(2022, 9, 25)
    rows[5][14] = "2022年9月26日"
    rows[10][5] = "毛安村"
    rows[12][16] = "重点督办"
    return rows


MESSY_MERGES = (
    "A1:Q1",  # title
    "C4:C6",  # category over three rows
    "B4:B8",  # source over five rows
    "H12:H14",  # lead unit over three rows
    "A11:Q11",  # section divider
    "A22:Q22",  # footnote
)


@pytest.fixture(scope="module")
def messy() -> bytes:
    rows = messy_rows()
    rows[12][7] = "儿童福利和社会事务股"
    rows[13][7] = rows[14][7] = None  # covered by the merge H12:H14
    return build(rows, MESSY_MERGES)


def test_messy_header_and_columns(messy):
    result = parse_ledger(messy)
    assert result.sheet == "台账"
    assert result.header_row == 3
    assert result.columns == {
        "serial": "序号", "source": "问题来源", "category": "问题类别", "description": "存在问题",
        "township": "乡镇（街道）", "village": "村(社区)", "measures": "整改措施", "lead_unit": "责任单位",
        "co_units": "配合单位", "leader": "分管领导", "person": "责任人", "deadline": "整改时限",
        "progress": "整改进展", "completion": "完成情况", "closed_date": "销号时间", "remarks": "备注",
    }  # header names as people read them: spaces, full-width spaces and line breaks removed
    assert result.errors == []
    assert result.file_sha256 == hashlib.sha256(messy).hexdigest()


def test_messy_skips_blank_divider_template_and_footnote(messy):
    result = parse_ledger(messy)
    assert [row.excel_row for row in result.rows] == FIRST_DATA_ROWS
    assert [row.serial for row in result.rows] == [str(i) for i in range(1, 14)]


def test_messy_dates_rect_types_and_states(messy):
    rows = parse_ledger(messy).rows  # no default_year: 2022 comes from the title row
    for row, (cell, rect_type, deadline, _completion, progress, state) in zip(rows, MESSY_CASES):
        assert (row.rect_type, row.deadline, row.state) == (rect_type, deadline, state), cell
        assert row.current_deadline is None
        assert row.progress == progress


def test_messy_merged_cells_fill_down(messy):
    rows = {row.excel_row: row for row in parse_ledger(messy).rows}
    assert [rows[r].category for r in (4, 5, 6, 7)] == ["对象认定不精准"] * 3 + ["资金监管"]
    assert [rows[r].source for r in (4, 8, 10)] == ["省委巡视反馈", "省委巡视反馈", "城乡低保专项审计"]
    assert [rows[r].lead_unit for r in (12, 13, 14, 15)] == ["儿童福利和社会事务股"] * 3 + ["局扶贫办"]


def test_messy_units_measures_and_text_fields(messy):
    rows = {row.excel_row: row for row in parse_ledger(messy).rows}
    first = rows[4]
    assert first.lead_unit == "社会救助办"
    assert first.co_units == ["办公室", "局扶贫办", "高士镇", "赛口镇"]
    assert first.measures == ["建立台账", "逐户核查"]
    assert rows[5].measures == ["清退不符合条件对象", "追回违规资金"]
    assert rows[6].measures == ["开展培训", "规范流程"]
    assert rows[7].measures == ["建立复查制度", "定期开展回头看"]
    assert rows[8].measures == ["摸清底数", "完善档案"]
    assert rows[10].measures == ["措施6"]
    assert rows[10].co_units == []
    assert (first.description, first.township, first.village) == ("问题描述1", "高士镇", "村1")
    assert rows[10].village == "毛安村"
    assert (first.leader, first.person) == ("王局长", "责任人1")
    assert [rows[4].closed_date, rows[5].closed_date, rows[6].closed_date] == [D(2022, 9, 25), D(2022, 9, 26), None]
    assert rows[12].remarks == "重点督办" and rows[4].remarks is None


# --------------------------------------------------------------------------- fingerprints


def test_same_file_twice_gives_identical_fingerprints(messy):
    first, second = parse_ledger(messy), parse_ledger(messy)
    assert [r.fingerprint for r in first.rows] == [r.fingerprint for r in second.rows]
    assert first.file_sha256 == second.file_sha256
    assert len({r.fingerprint for r in first.rows}) == len(first.rows)
    assert all(len(r.fingerprint) == 64 for r in first.rows)


def test_fingerprint_ignores_whitespace_and_width_but_not_content():
    header = ["序号", "问题描述", "牵头单位", "乡镇", "村", "问题来源"]
    a = build({1: header, 2: [1, "低保对象 认定不准", "社会救助办", "高士镇", "毛安村", "审计"]})
    b = build({1: header, 2: [7, " 低保对象\u3000认定不准\n", "社会救助办 ", "高士镇", "毛安村", "审计"]})
    c = build({1: header, 2: [1, "低保对象认定不准", "社会救助办", "高士镇", "黄河村", "审计"]})
    fp = [parse_ledger(x).rows[0].fingerprint for x in (a, b, c)]
    assert fp[0] == fp[1] != fp[2]


# --------------------------------------------------------------------------- other layouts


def test_rect_type_column_original_and_current_deadline_and_yes_no():
    header = [
        "编号", "来源", "类别", "问题", "乡镇", "行政村", "整改举措", "牵头股室", "协同单位", "责任领导",
        "责任人", "整改类型", "整改时限（原）", "整改时限(现)", "进展情况", "是否完成", "销号时间", "备注",
    ]
    rows = {
        1: ["2021年问题整改台账"],
        2: header,
        3: [1, "暗访", "作风问题", "a", None, None, "x", "办公室", None, None, None, "立行立改",
            "立行立改", None, None, "是", "2023.3.1", None],
        4: [2, "暗访", "作风问题", "b", None, None, "x", "办公室", None, None, None, "限期整改",
            "9月底前", "2023年12月31日", "已延期", "否", None, None],
        5: [3, "暗访", "作风问题", "c", None, None, "x", "办公室", None, None, None, "长期坚持",
            "长期坚持", None, None, None, None, None],
        6: [4, "暗访", "作风问题", "d", None, None, "x", "办公室", None, None, None, None,
            "2023-06-30", None, None, "否", None, None],
    }
    result = parse_ledger(build(rows), default_year=2023)  # default_year wins over the title's 2021
    assert result.errors == []
    assert result.columns["deadline"] == "整改时限（原）"
    assert result.columns["current_deadline"] == "整改时限(现)"
    got = [(r.rect_type, r.deadline, r.current_deadline, r.state, r.closed_date) for r in result.rows]
    assert got == [
        ("immediate", None, None, "closed", D(2023, 3, 1)),
        ("deadline", D(2023, 9, 30), D(2023, 12, 31), "in_progress", None),
        ("long_term", None, None, "open", None),
        ("deadline", D(2023, 6, 30), None, "open", None),
    ]


def test_two_row_header_with_merged_deadline_over_original_and_current():
    rows = {
        1: ["县民政局整改台账（2022年）"],
        2: ["序号", "问题描述", "牵头单位", "整改时限", None, "完成情况"],
        3: [None, None, None, "原", "现", None],
        4: [1, "台账不全", "办公室", "2022年9月30日", "2022年10月31日", "整改中"],
    }
    merges = ("A1:F1", "A2:A3", "B2:B3", "C2:C3", "D2:E2", "F2:F3")
    result = parse_ledger(build(rows, merges))
    assert result.header_row == 2
    assert result.columns["deadline"] == "整改时限(原)"
    assert result.columns["current_deadline"] == "整改时限(现)"
    assert result.errors == []
    [row] = result.rows
    assert (row.excel_row, row.deadline, row.current_deadline, row.state) == (4, D(2022, 9, 30), D(2022, 10, 31), "in_progress")


def test_year_from_title_row_when_no_default_year():
    rows = {
        1: ["2021年度城乡低保专项审计反馈问题整改台账"],
        2: ["序号", "问题描述", "牵头单位", "整改时限"],
        3: [1, "漏保", "社会救助办", "9月底前"],
        4: [2, "错保", "社会救助办", "年底前"],
    }
    data = build(rows, ("A1:D1",))
    assert [r.deadline for r in parse_ledger(data).rows] == [D(2021, 9, 30), D(2021, 12, 31)]
    assert [r.deadline for r in parse_ledger(data, default_year=2024).rows] == [D(2024, 9, 30), D(2024, 12, 31)]


def test_year_from_a_real_date_in_the_title_rows():
    rows = {1: ["填报日期", dt.datetime(2020, 5, 6)], 2: ["序号", "问题描述", "牵头单位", "整改时限"],
            3: [1, "漏保", "社会救助办", "9月28日前"]}
    assert parse_ledger(build(rows)).rows[0].deadline == D(2020, 9, 28)


def test_month_only_date_without_any_year_is_an_error():
    rows = {1: ["序号", "问题描述", "牵头单位", "整改时限"], 2: [1, "漏保", "社会救助办", "9月底前"]}
    result = parse_ledger(build(rows))
    assert result.rows == []
    assert result.errors == [RowError(2, "整改时限", "import.date_no_year", {"text": "9月底前"})]
    assert result.errors[0].message("zh") == "日期缺少年份：‘9月底前’（请指定默认年份）"
    assert result.errors[0].message("en") == "The date ‘9月底前’ has no year (choose the year for dates without one)"


def test_sheet_selection_and_path_input(tmp_path):
    ledger = {1: ["序号", "问题描述", "牵头单位"], 2: [1, "漏保", "社会救助办"]}
    data = build({1: ["填表说明"], 2: ["本工作簿第二页为台账"]}, title="说明", extra_sheets={"台账": ledger})
    assert parse_ledger(data).sheet == "台账"  # found on the second sheet
    assert parse_ledger(data, sheet="台账").rows[0].description == "漏保"
    with pytest.raises(LedgerFormatError, match="工作表“不存在”不存在"):
        parse_ledger(data, sheet="不存在")
    path = tmp_path / "台账.xlsx"
    path.write_bytes(data)
    assert parse_ledger(path).rows[0].lead_unit == "社会救助办"
    assert parse_ledger(str(path)).file_sha256 == hashlib.sha256(data).hexdigest()


def test_excel_serial_number_in_deadline_column():
    rows = {1: ["序号", "问题描述", "牵头单位", "整改时限"], 2: [1, "漏保", "社会救助办", 44832]}
    assert parse_ledger(build(rows)).rows[0].deadline == D(2022, 9, 28)


# --------------------------------------------------------------------------- errors


def test_broken_ledger_reports_every_bad_cell():
    header = ["序号", "问题描述", "牵头单位", "整改类型", "整改时限", "完成情况", "销号时间"]
    rows = {
        1: header,
        2: [1, "好的问题", "办公室", None, "2022年9月30日", "已完成", "2022年9月20日"],
        3: [2, "日期坏了", "办公室", None, "下月中旬", None, None],
        4: [3, None, "办公室", None, "2022年9月30日", "整改中", None],
        5: [4, "完成情况不明", "办公室", None, "2022年9月30日", "基本完成", None],
        6: [5, "没有单位", None, None, "2022年9月30日", None, None],
        7: [6, None, None, "马上整改", "2022年13月1日", "差不多", "下周"],
        8: [7, "也是好的", "社会救助办", "限期整改", "10月底前", None, None],
    }
    result = parse_ledger(build(rows), default_year=2022)
    assert [r.excel_row for r in result.rows] == [2, 8]
    assert result.errors == [
        RowError(3, "整改时限", "import.bad_date", {"text": "下月中旬"}),
        RowError(4, "问题描述", "import.missing_description"),
        RowError(5, "完成情况", "import.bad_completion", {"text": "基本完成"}),
        RowError(6, "牵头单位", "import.missing_lead_unit"),
        RowError(7, "问题描述", "import.missing_description"),
        RowError(7, "牵头单位", "import.missing_lead_unit"),
        RowError(7, "整改时限", "import.bad_date", {"text": "2022年13月1日"}),
        RowError(7, "销号时间", "import.bad_date", {"text": "下周"}),
        RowError(7, "整改类型", "import.bad_rect_type", {"text": "马上整改"}),
        RowError(7, "完成情况", "import.bad_completion", {"text": "差不多"}),
    ]
    # the same reasons, read in each language: only the file's own words stay Chinese in English
    assert [e.message("zh") for e in result.errors[:3]] == [
        "无法识别的日期：‘下月中旬’", "缺少问题描述", "无法识别的完成情况：‘基本完成’"]
    assert [e.message("en") for e in result.errors[:3]] == [
        "Unreadable date: ‘下月中旬’", "No description", "Unknown completion: ‘基本完成’"]
    assert result.rows[1].deadline == D(2022, 10, 31)


def test_missing_lead_unit_column_is_reported_per_row():
    rows = {1: ["序号", "问题描述", "整改时限", "完成情况"], 2: [1, "漏保", "2022.9.30", "已完成"]}
    assert parse_ledger(build(rows)).errors == [RowError(2, None, "import.missing_lead_unit")]


def test_not_an_xlsx_raises():
    with pytest.raises(LedgerFormatError, match=r"^文件不是Excel（\.xlsx/\.xls）、WPS/ODS表格或CSV文件"):
        parse_ledger(b"\x00\x01\x02 this is not an excel file")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("hello.txt", "not a workbook")
    with pytest.raises(LedgerFormatError, match="文件不是Excel"):
        parse_ledger(buf.getvalue())


def test_no_header_row_raises():
    data = build({1: ["民政局整改台账"], 2: ["甲", "乙", "丙"], 3: ["1", "2", "3"]})
    with pytest.raises(LedgerFormatError, match="都没有找到台账表头"):
        parse_ledger(data)


def test_no_description_column_raises():
    data = build({1: ["序号", "牵头单位", "整改时限", "完成情况"], 2: [1, "办公室", "2022.9.1", "已完成"]})
    with pytest.raises(LedgerFormatError, match="没有问题描述列"):
        parse_ledger(data)


# --------------------------------------------------------------------------- parse_date_text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2022年9月28日", D(2022, 9, 28)),
        ("2022.9.28", D(2022, 9, 28)),
        ("2022-10-20", D(2022, 10, 20)),
        ("2022/10/20", D(2022, 10, 20)),
        ("９月底前", D(2021, 9, 30)),
        ("2月底", D(2021, 2, 28)),
        ("2022年12月底前", D(2022, 12, 31)),
        ("9月28日前", D(2021, 9, 28)),
        ("年底前", D(2021, 12, 31)),
        ("2022年底前完成", D(2022, 12, 31)),
        ("于2022年9月30日前完成", D(2022, 9, 30)),
        ("2022-10-20 00:00:00", D(2022, 10, 20)),
        ("20220928", D(2022, 9, 28)),
        ("", None),
        ("  ", None),
    ],
)
def test_parse_date_text(text, expected):
    assert parse_date_text(text, 2021) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("下月中旬", "无法识别的日期：‘下月中旬’"),
        ("2022年2月30日", "无法识别的日期：‘2022年2月30日’"),
        ("13月底", "无法识别的日期：‘13月底’"),
        ("完成", "无法识别的日期：‘完成’"),
    ],
)
def test_parse_date_text_errors(text, message):
    with pytest.raises(ValueError, match=f"^{message}$"):
        parse_date_text(text, 2022)


def test_parse_date_text_needs_a_year():
    with pytest.raises(ValueError, match="日期缺少年份"):
        parse_date_text("9月底前", None)
    assert parse_date_text("2022年9月底前", None) == D(2022, 9, 30)
