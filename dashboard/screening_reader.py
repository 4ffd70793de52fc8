"""A department's list for 应纳未纳 screening (医保, 残联, 应急, 人社), read without any database.

Excel (xlsx, xls, WPS) or CSV in UTF-8 or GBK, through the ledger reader's ``read_sheets``. Title rows are
skipped: the header is the first of the top rows that names an ID column (证件号码, 身份证号 …). Each
row must carry an ID and, by kind, an amount (医保: 自付 …) or an event date (发证日期, 受灾日期 …); a row
without them refuses the whole file with its row named, so nothing is half-screened.

Rows are gathered per person: the self-pay amounts of one person and year are added up; of several events
the latest counts. The ID is kept only until the service has turned it into its keyed hash.
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any

from dashboard.errors import ValidationFailed
from dashboard.ledger_reader import LedgerFormatError, parse_date_text, read_sheets
from dashboard.vocab import ScreenKind

HEADER_SEARCH_ROWS = 10
ID_HEADERS = ("证件号码", "身份证号码", "身份证号", "公民身份号码", "身份证件号码", "证件号")
AMOUNT_HEADERS = ("合规自付", "个人自付", "自付金额", "自付费用", "自付", "金额")
DATE_HEADERS = {
    ScreenKind.MEDICAL: ("结算日期", "就诊日期", "日期", "年度"),
    ScreenKind.DISABILITY: ("发证日期", "办证日期", "日期"),
    ScreenKind.DISASTER: ("受灾日期", "灾害日期", "日期"),
    ScreenKind.UNEMPLOYMENT: ("失业登记日期", "登记日期", "日期"),
}
YEAR_HEADERS = ("年度", "年份")
MAX_NAMED_ROWS = 20


@dataclass(frozen=True)
class PersonEvent:
    id_number: str
    event_key: str                 # the year of a self-pay total, or the event's date
    amount: float | None = None
    event_on: dt.date | None = None


@dataclass
class DepartmentList:
    kind: ScreenKind
    rows: int                                        # data rows read
    people: list[PersonEvent] = field(default_factory=list)


def _norm(value: Any) -> str:
    return "".join(str(value).split()) if value is not None else ""   # str.split: the whitespace \s matches


def _column(texts: dict[int, str], names: tuple[str, ...]) -> int | None:
    for name in names:
        for column, text in texts.items():
            if text == name:
                return column
    for name in names:
        for column, text in texts.items():
            if name in text:
                return column
    return None


def _amount(value: Any) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    text = _norm(value).replace(",", "").replace("，", "").replace("元", "")
    try:
        return float(text)
    except ValueError:
        return None


def _date(value: Any, default_year: int) -> dt.date | None:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    text = _norm(value)
    if not text:
        return None
    try:
        return parse_date_text(text, default_year)
    except ValueError:
        return None


def _year(value: Any) -> int | None:
    if isinstance(value, (dt.date, dt.datetime)):
        return value.year
    match = re.search(r"(19|20)\d{2}", _norm(value))
    return int(match.group(0)) if match else None


def _header(grid) -> tuple[int, dict[int, str]] | None:
    for r in range(1, min(grid.max_row, HEADER_SEARCH_ROWS) + 1):
        texts = {c: _norm(v) for c, v in grid.own_cells(r)}
        if _column(texts, ID_HEADERS) is not None:
            return r, texts
    return None


def read_list(raw: bytes, filename: str | None, kind: ScreenKind | str, today: dt.date) -> DepartmentList:
    """The people of a department's list with their amount or event; refuses a file it cannot use."""
    kind = ScreenKind(kind)
    _type, sheets = read_sheets(raw, filename)
    for grid in sheets:
        found = _header(grid)
        if found is not None:
            return _people(grid, *found, kind, today)
    raise LedgerFormatError("error.screen_no_id_column")


def _people(grid, header_row: int, texts: dict[int, str], kind: ScreenKind, today: dt.date) -> DepartmentList:
    id_column = _column(texts, ID_HEADERS)
    amount_column = _column(texts, AMOUNT_HEADERS) if kind is ScreenKind.MEDICAL else None
    date_column = _column(texts, DATE_HEADERS[kind])
    year_column = _column(texts, YEAR_HEADERS)
    if kind is ScreenKind.MEDICAL and amount_column is None:
        raise LedgerFormatError("error.screen_no_amount_column")
    if kind is not ScreenKind.MEDICAL and date_column is None:
        raise LedgerFormatError("error.screen_no_date_column")
    totals: dict[tuple[str, str], float] = {}
    events: dict[str, dt.date] = {}
    broken: list[int] = []
    rows = 0
    for r in range(header_row + 1, grid.max_row + 1):
        if not grid.own_cells(r):
            continue
        rows += 1
        id_number = _norm(grid.value(r, id_column)).upper()
        if not id_number:
            broken.append(r)
            continue
        if kind is ScreenKind.MEDICAL:
            amount = _amount(grid.value(r, amount_column))
            year = (_year(grid.value(r, year_column)) if year_column else None) or (
                (_date(grid.value(r, date_column), today.year) or today).year if date_column else today.year)
            if amount is None:
                broken.append(r)
                continue
            totals[(id_number, str(year))] = totals.get((id_number, str(year)), 0.0) + amount
        else:
            event_on = _date(grid.value(r, date_column), today.year)
            if event_on is None:
                broken.append(r)
                continue
            events[id_number] = max(event_on, events.get(id_number, event_on))
    if broken:
        shown = "、".join(str(r) for r in broken[:MAX_NAMED_ROWS]) + ("…" if len(broken) > MAX_NAMED_ROWS else "")
        raise ValidationFailed("error.screen_broken_rows", count=len(broken), rows=shown)
    people = [PersonEvent(id_number, year, amount=round(total, 2)) for (id_number, year), total in totals.items()]
    people += [PersonEvent(id_number, day.isoformat(), event_on=day) for id_number, day in events.items()]
    return DepartmentList(kind=kind, rows=rows, people=people)
