"""Parse an existing Excel 整改台账 as people keep it today.

Pure parser: standard library and openpyxl only, no database. ``parse_ledger`` finds the
header row under any title rows, maps the varying header names to fields, fills merged
cells down, skips blank rows and footnotes, reads dates written in the usual Chinese ways
and returns the readable rows plus one ``RowError`` per unreadable cell.
"""
from __future__ import annotations

import calendar
import datetime
import hashlib
import io
import pathlib
import re
import unicodedata
import zipfile
from dataclasses import dataclass, field
from typing import Any

from openpyxl import load_workbook
from openpyxl.utils.datetime import from_excel
from openpyxl.utils.exceptions import InvalidFileException

HEADER_SEARCH_ROWS = 15
MIN_HEADER_FIELDS = 3

SYNONYMS: dict[str, tuple[str, ...]] = {
    "serial": ("序号", "编号"),
    "source": ("问题来源", "来源", "反馈来源"),
    "category": ("问题类别", "问题类型", "类别"),
    "description": ("问题描述", "存在问题", "问题表现", "具体问题", "问题"),
    "township": ("乡镇", "乡镇(街道)"),
    "village": ("村", "村(社区)", "行政村"),
    "measures": ("整改措施", "整改举措"),
    "lead_unit": ("牵头单位", "责任单位", "牵头股室", "责任股室"),
    "co_units": ("配合单位", "协同单位"),
    "leader": ("责任领导", "分管领导"),
    "person": ("责任人",),
    "rect_type": ("整改类型",),
    "deadline": ("整改时限", "完成时限", "整改期限", "时限"),
    "progress": ("整改进展", "进展情况", "整改情况"),
    "completion": ("完成情况", "整改结果", "是否完成"),
    "closed_date": ("销号时间",),
    "remarks": ("备注",),
}
_HEADER_FIELD = {name: f for f, names in SYNONYMS.items() for name in names}
# "整改时限(原)" / "整改时限(现)": the qualifier decides which deadline column it is.
_CURRENT_QUALIFIERS = {"现", "现时限", "调整后", "延期后", "新"}

RECT_TYPE_WORDS = {"立行立改": "immediate", "限期整改": "deadline", "长期坚持": "long_term"}
STATE_WORDS = {
    "closed": ("已完成", "已整改到位", "已整改", "完成", "已销号", "整改完成", "已完成整改", "是"),
    "in_progress": ("正在整改", "整改中", "推进中", "未完成", "正在推进", "待销号"),
    "ongoing": ("持续整改", "长期坚持"),
    "open": ("待整改", "未整改", "未启动"),
    "cancelled": ("已撤销",),  # this tool's own export: kept apart, never imported
}
_STATE_OF = {w: s for s, words in STATE_WORDS.items() for w in words}
_NOT_DONE_WORDS = {"否"}  # like an empty cell: open, or in progress when progress is written

_FOOTNOTE = re.compile(r"^(注[:：\s\d.、]|备注[:：]|说明[:：]|填表人|填报人|制表|审核人|联系人|联系电话)")
_TOTAL_WORDS = {"合计", "小计", "总计"}
_UNIT_SEP = re.compile(r"[、，,；;\n\r]+")


@dataclass
class ParsedRow:
    excel_row: int
    serial: str | None
    source: str | None
    category: str | None
    description: str
    township: str | None
    village: str | None
    measures: list[str]
    lead_unit: str | None
    co_units: list[str]
    leader: str | None
    person: str | None
    rect_type: str
    deadline: datetime.date | None
    current_deadline: datetime.date | None
    progress: str | None
    state: str
    closed_date: datetime.date | None
    remarks: str | None
    fingerprint: str


@dataclass
class RowError:
    excel_row: int
    column: str | None
    reason: str


@dataclass
class ParseResult:
    sheet: str
    header_row: int
    columns: dict[str, str]
    rows: list[ParsedRow] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    file_sha256: str = ""


class LedgerFormatError(Exception):
    """The file as a whole cannot be read as a ledger (message in Chinese)."""


# --------------------------------------------------------------------------- public API


def parse_ledger(
    data: bytes | str | pathlib.Path,
    *,
    sheet: str | None = None,
    default_year: int | None = None,
) -> ParseResult:
    if isinstance(data, (bytes, bytearray, memoryview)):
        raw = bytes(data)
    else:
        raw = pathlib.Path(data).read_bytes()
    wb = _load_workbook(raw)
    grid, header = _find_table(wb, sheet)
    year = default_year or _title_year(grid, header.row)
    result = ParseResult(
        sheet=grid.title,
        header_row=header.row,
        columns={f: header.texts[c] for f, c in header.fields.items()},
        file_sha256=hashlib.sha256(raw).hexdigest(),
    )
    for r in range(header.first_data_row, grid.max_row + 1):
        kind = _row_kind(grid, header, r)
        if kind == "end":
            break
        if kind == "data":
            row, errors = _parse_row(grid, header, r, year)
            result.errors.extend(errors)
            if row is not None:
                result.rows.append(row)
    return result


def parse_date_text(text: str, default_year: int | None) -> datetime.date | None:
    """Read a date as written in ledgers; None for empty text, ValueError when unreadable."""
    if _empty(text):
        return None
    s = _clean_date_text(text)
    for pattern, kind in _DATE_PATTERNS:
        m = pattern.fullmatch(s)
        if m:
            return _build_date(kind, m.groups(), default_year, text)
    raise ValueError(f"无法识别的日期：‘{text.strip()}’")


# --------------------------------------------------------------------------- workbook


class _Grid:
    """Cell values of one sheet, with merged ranges filled from their top-left cell."""

    def __init__(self, ws) -> None:
        self.title = ws.title
        self.values = [list(row) for row in ws.iter_rows(values_only=True)]
        self.max_row = len(self.values)
        self.max_col = max((len(row) for row in self.values), default=0)
        self.filled: dict[tuple[int, int], Any] = {}
        self.width: dict[tuple[int, int], int] = {}  # every merged cell -> width of its merge
        for rng in ws.merged_cells.ranges:
            top_left = self.own(rng.min_row, rng.min_col)
            for r in range(rng.min_row, rng.max_row + 1):
                for c in range(rng.min_col, rng.max_col + 1):
                    self.width[(r, c)] = rng.max_col - rng.min_col + 1
                    if (r, c) != (rng.min_row, rng.min_col):
                        self.filled[(r, c)] = top_left

    def own(self, r: int, c: int) -> Any:
        """The value written in this very cell (None inside a merge but its top-left)."""
        if r > self.max_row or c > len(self.values[r - 1]):
            return None
        return self.values[r - 1][c - 1]

    def value(self, r: int, c: int) -> Any:
        return self.filled.get((r, c), self.own(r, c))

    def own_cells(self, r: int) -> list[tuple[int, Any]]:
        return [(c, v) for c in range(1, self.max_col + 1) if not _empty(v := self.own(r, c))]


@dataclass
class _Header:
    row: int
    first_data_row: int
    fields: dict[str, int]  # field -> column number
    texts: dict[int, str]  # column number -> header text as found


def _load_workbook(raw: bytes):
    try:
        return load_workbook(io.BytesIO(raw), data_only=True)
    except (zipfile.BadZipFile, InvalidFileException, KeyError, ValueError, OSError, TypeError) as exc:
        raise LedgerFormatError("文件不是有效的Excel(.xlsx)文件") from exc


def _find_table(wb, sheet: str | None) -> tuple[_Grid, _Header]:
    if sheet is not None:
        if sheet not in wb.sheetnames:
            raise LedgerFormatError(f"工作表‘{sheet}’不存在（现有：{'、'.join(wb.sheetnames)}）")
        candidates = [wb[sheet]]
    else:
        candidates = [wb.active] + [ws for ws in wb.worksheets if ws is not wb.active]
    for ws in candidates:
        grid = _Grid(ws)
        header = _find_header(grid)
        if header is not None:
            if "description" not in header.fields:
                names = "、".join(SYNONYMS["description"])
                raise LedgerFormatError(f"工作表‘{ws.title}’没有问题描述列（可用列名：{names}）")
            return grid, header
    raise LedgerFormatError(
        f"未找到表头行：前{HEADER_SEARCH_ROWS}行中没有一行能识别出至少{MIN_HEADER_FIELDS}个已知列名"
        "（如 序号、问题描述、牵头单位、整改时限、完成情况）"
    )


def _find_header(grid: _Grid) -> _Header | None:
    for r in range(1, min(grid.max_row, HEADER_SEARCH_ROWS) + 1):
        texts = _header_texts(grid, r)
        fields = _map_fields(texts)
        if len(fields) >= MIN_HEADER_FIELDS:
            return _with_sub_header(grid, _Header(r, r + 1, fields, texts))
    return None


def _header_texts(grid: _Grid, r: int) -> dict[int, str]:
    return {c: str(v).strip() for c in range(1, grid.max_col + 1) if not _empty(v := grid.value(r, c))}


def _map_fields(texts: dict[int, str]) -> dict[str, int]:
    fields: dict[str, int] = {}
    for c, text in texts.items():
        f = header_field(text)
        if f is not None and f not in fields:
            fields[f] = c
    return fields


def header_field(text: str) -> str | None:
    """The field a header name stands for, or None. Whitespace and bracket width are ignored."""
    name = _norm_header(text)
    if name in _HEADER_FIELD:
        return _HEADER_FIELD[name]
    m = re.fullmatch(r"(.+?)\((.*)\)", name)
    if not m or m.group(1) not in _HEADER_FIELD:
        return None
    f = _HEADER_FIELD[m.group(1)]
    if f == "deadline" and m.group(2) in _CURRENT_QUALIFIERS:
        return "current_deadline"
    return f


def _with_sub_header(grid: _Grid, header: _Header) -> _Header:
    """A header cell merged across columns with sub-headers below (整改时限 → 原 | 现)."""
    r = header.row
    merged_cols = {c for c in header.texts if grid.width.get((r, c), 1) > 1}
    subs = {c: str(v).strip() for c, v in grid.own_cells(r + 1)}
    if not subs or not set(subs) <= merged_cols:
        return header
    texts = dict(header.texts)
    for c, sub in subs.items():
        texts[c] = f"{header.texts[c]}({sub})"
    return _Header(r, r + 2, _map_fields(texts), texts)


def _title_year(grid: _Grid, header_row: int) -> int | None:
    for r in range(1, header_row):
        for _, v in grid.own_cells(r):
            if isinstance(v, (datetime.date, datetime.datetime)):
                return v.year
            m = re.search(r"(?<!\d)(20\d{2})(?!\d)", unicodedata.normalize("NFKC", str(v)))
            if m:
                return int(m.group(1))
    return None


# --------------------------------------------------------------------------- rows


def _row_kind(grid: _Grid, header: _Header, r: int) -> str:
    """'data', 'skip' (blank, template, divider, repeated header, total) or 'end' (footnote)."""
    own = grid.own_cells(r)
    if not own:
        return "skip"
    first_col, first_value = own[0]
    if isinstance(first_value, str) and _FOOTNOTE.match(first_value.strip()):
        return "end"
    if [c for c, _ in own] == [header.fields.get("serial")]:
        return "skip"  # a pre-numbered template row with nothing else in it
    if len(own) == 1 and grid.width.get((r, first_col), 1) >= 3:
        return "skip"  # a section divider such as "一、巡视反馈问题" merged across the table
    if len(_map_fields(_header_texts(grid, r))) >= MIN_HEADER_FIELDS:
        return "skip"  # header repeated (printed pages) or the sub-header line
    serial_col = header.fields.get("serial")
    if serial_col and _norm_text(grid.value(r, serial_col)) in _TOTAL_WORDS:
        return "skip"
    return "data"


class _RowReader:
    """Reads the cells of one data row and collects one error per unreadable cell."""

    def __init__(self, grid: _Grid, header: _Header, r: int, year: int | None) -> None:
        self.grid, self.header, self.r, self.year = grid, header, r, year
        self.errors: list[RowError] = []

    def raw(self, f: str) -> Any:
        c = self.header.fields.get(f)
        return None if c is None else self.grid.value(self.r, c)

    def text(self, f: str) -> str | None:
        return _cell_text(self.raw(f))

    def error(self, f: str, reason: str) -> None:
        c = self.header.fields.get(f)
        self.errors.append(RowError(self.r, None if c is None else self.header.texts[c], reason))

    def date(self, f: str) -> tuple[str | None, datetime.date | None]:
        try:
            return _deadline_cell(self.raw(f), self.year)
        except ValueError as exc:
            self.error(f, str(exc))
            return None, None

    def deadline_pair(self) -> tuple[str | None, datetime.date | None, datetime.date | None]:
        """The deadline cell; "2022-09-30 / 2022-12-31" (原/现, as this tool exports) gives both dates."""
        pair = _DEADLINE_PAIR.match(_cell_text(self.raw("deadline")) or "")
        if not pair:
            kind, deadline = self.date("deadline")
            return kind, deadline, None
        try:
            return None, parse_date_text(pair.group(1), self.year), parse_date_text(pair.group(2), self.year)
        except ValueError as exc:
            self.error("deadline", str(exc))
            return None, None, None

    def rect_type(self, from_deadline: str | None) -> str:
        word = _norm_text(self.raw("rect_type"))
        if not word:
            return from_deadline or "deadline"
        if word in RECT_TYPE_WORDS:
            return RECT_TYPE_WORDS[word]
        self.error("rect_type", f"无法识别的整改类型：‘{self.text('rect_type')}’")
        return "deadline"

    def state(self, progress: str | None) -> str:
        word = _norm_text(self.raw("completion")).rstrip("。.；;")
        if not word or word in _NOT_DONE_WORDS:
            return "in_progress" if progress else "open"
        if word in _STATE_OF:
            return _STATE_OF[word]
        self.error("completion", f"无法识别的完成情况：‘{self.text('completion')}’")
        return "open"


_DEADLINE_PAIR = re.compile(r"^\s*(\S.*?)\s+[/／]\s+(\S.*?)\s*$")


def _parse_row(grid: _Grid, header: _Header, r: int, year: int | None) -> tuple[ParsedRow | None, list[RowError]]:
    rd = _RowReader(grid, header, r, year)
    description = rd.text("description")
    if description is None:
        rd.error("description", "缺少问题描述")
    leads = split_units(rd.text("lead_unit"))
    if not leads:
        rd.error("lead_unit", "缺少牵头单位")
    deadline_type, deadline, paired_current = rd.deadline_pair()
    _, current = rd.date("current_deadline")
    current = current or paired_current
    _, closed_date = rd.date("closed_date")
    rect_type = rd.rect_type(deadline_type)
    progress = rd.text("progress")
    state = rd.state(progress)
    if rd.errors:
        return None, rd.errors
    lead = leads[0]
    co_units = _unique(leads[1:] + split_units(rd.text("co_units")), exclude=lead)
    keys = (description, lead, rd.text("township"), rd.text("village"), rd.text("source"))
    row = ParsedRow(
        excel_row=r,
        serial=rd.text("serial"),
        source=rd.text("source"),
        category=rd.text("category"),
        description=description,
        township=rd.text("township"),
        village=rd.text("village"),
        measures=split_measures(rd.text("measures")),
        lead_unit=lead,
        co_units=co_units,
        leader=rd.text("leader"),
        person=rd.text("person"),
        rect_type=rect_type,
        deadline=deadline,
        current_deadline=current,
        progress=progress,
        state=state,
        closed_date=closed_date,
        remarks=rd.text("remarks"),
        fingerprint=fingerprint(*keys),
    )
    return row, []


def fingerprint(*parts: str | None) -> str:
    """sha256 of the parts with whitespace and character width normalised away."""
    norm = [re.sub(r"\s+", "", unicodedata.normalize("NFKC", p or "")) for p in parts]
    return hashlib.sha256("\x1f".join(norm).encode("utf-8")).hexdigest()


# --------------------------------------------------------------------------- cell values


def _empty(v: Any) -> bool:
    return v is None or (isinstance(v, str) and not v.strip())


def _cell_text(v: Any) -> str | None:
    if _empty(v):
        return None
    if isinstance(v, datetime.datetime):
        return v.date().isoformat() if v.time() == datetime.time() else v.isoformat(sep=" ")
    if isinstance(v, datetime.date):
        return v.isoformat()
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v).strip()


def _norm_text(v: Any) -> str:
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", _cell_text(v) or ""))


def _norm_header(text: str) -> str:
    s = re.sub(r"\s+", "", text.replace("\u3000", ""))
    s = s.replace("（", "(").replace("）", ")").replace("*", "").replace("＊", "")
    return s.rstrip(":：")


def _unique(items: list[str], exclude: str) -> list[str]:
    out: list[str] = []
    for item in items:
        if item != exclude and item not in out:
            out.append(item)
    return out


def split_units(text: str | None) -> list[str]:
    """Units listed in one cell, separated by 、，,；; or line breaks."""
    if not text:
        return []
    return [u.strip() for u in _UNIT_SEP.split(text) if u.strip()]


_MEASURE_MARK = re.compile(
    r"[（(]\s*\d{1,2}\s*[)）]"  # （1） (2)
    r"|[①-⑳]"  # ① ②
    r"|(?:^|(?<=[\n；;。，,:：\s]))(?:\d{1,2}\s*[.．、)）](?!\d)|[一二三四五六七八九十]{1,3}[、是])"  # 1. 1、 一、 一是
)
_MEASURE_TRIM = " \t\r\n\u3000；;，,、。：:"


def split_measures(text: str | None) -> list[str]:
    """Numbered items ("1.…；2.…", "（1）…（2）…", "①…") or lines; otherwise one measure."""
    if not text:
        return []
    marks = list(_MEASURE_MARK.finditer(text))
    if not marks:
        pieces = text.splitlines()
    else:
        bounds = [m.end() for m in marks]
        ends = [m.start() for m in marks[1:]] + [len(text)]
        pieces = [text[: marks[0].start()]] + [text[b:e] for b, e in zip(bounds, ends)]
    return [p.strip(_MEASURE_TRIM) for p in pieces if p.strip(_MEASURE_TRIM)]


def _deadline_cell(v: Any, year: int | None) -> tuple[str | None, datetime.date | None]:
    """(rect_type named in the cell or None, date or None) of a date/deadline cell."""
    if _empty(v):
        return None, None
    if isinstance(v, datetime.datetime):
        return None, v.date()
    if isinstance(v, datetime.date):
        return None, v
    if isinstance(v, (int, float)) and not isinstance(v, bool) and 20000 <= v <= 80000:
        return None, from_excel(v).date()  # an Excel date serial without date formatting
    text = _cell_text(v) or ""
    if "长期" in text:
        return "long_term", None
    for word, kind in RECT_TYPE_WORDS.items():
        if word in text:
            rest = text.replace(word, "").strip(" \t\r\n\u3000，,；;、：:()（）")
            return kind, parse_date_text(rest, year)
    return None, parse_date_text(text, year)


_DATE_PREFIX = re.compile(r"^(?:于|在|截至|截止到?|到)")
_DATE_SUFFIX = re.compile(r"(?:之前|以前|前|为止|止)?(?:完成整改|整改完成|整改到位|完成|办结)?[。.;；]?$")
_DATE_PATTERNS = [
    (re.compile(r"(\d{4})(\d{2})(\d{2})"), "ymd"),  # 20220928
    (re.compile(r"(?:(\d{4})[年.\-/])?(\d{1,2})[月.\-/](\d{1,2})[日号]?"), "ymd"),  # 2022年9月28日, 9月28日
    (re.compile(r"(?:(\d{4})[年.\-/])?(\d{1,2})月份?[底末]?"), "ym"),  # 9月底, 2022年12月底
    (re.compile(r"(\d{4})[.\-/](\d{1,2})"), "ym"),  # 2022.9
    (re.compile(r"(?:(\d{4})年|今年|本年|年)年?[底末]"), "y"),  # 年底, 2022年底
]


def _clean_date_text(text: str) -> str:
    s = unicodedata.normalize("NFKC", text or "").strip()
    s = re.sub(r"\s+\d{1,2}:\d{2}(?::\d{2})?$", "", s)  # "2022-10-20 00:00:00"
    s = re.sub(r"\s+", "", s)
    return _DATE_SUFFIX.sub("", _DATE_PREFIX.sub("", s))


def _build_date(kind: str, groups: tuple, default_year: int | None, text: str) -> datetime.date:
    year = int(groups[0]) if groups[0] else default_year
    if year is None:
        raise ValueError(f"日期缺少年份：‘{text.strip()}’（请指定默认年份）")
    try:
        if kind == "y":
            return datetime.date(year, 12, 31)
        month = int(groups[1])
        if kind == "ym":
            return datetime.date(year, month, calendar.monthrange(year, month)[1])
        return datetime.date(year, month, int(groups[2]))
    except (ValueError, calendar.IllegalMonthError):
        raise ValueError(f"无法识别的日期：‘{text.strip()}’") from None
