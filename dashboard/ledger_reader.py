"""Parse an existing 整改台账 as people keep it today: Excel, WPS, old .xls, .ods or .csv.

Pure parser: no database. ``read_sheets`` checks what the file really is (from its bytes, never its
name), refuses a zip bomb before anything expands (caps on unpacked size and rows, read streaming),
and reads every sheet through one fast reader (python-calamine). ``parse_ledger`` then finds the
ledger on any sheet (cover and summary sheets are skipped), finds the header row under any title rows,
maps the varying header names to fields, fills merged cells, recognises group rows (一、对象认定方面)
and continuation rows (one more 整改措施 with its own 时限 under a merged description), reads dates
written in the usual Chinese ways and returns the findings plus one ``RowError`` per unreadable cell.
Whole-file problems raise ``LedgerFormatError`` with one sentence in both languages. Every message is a
catalogue key with the raw values from the file (``message(lang)`` at the edge gives the sentence); the
header names and cell words the reader recognises (问题描述, 已完成 …) are the ledgers' vocabulary, not UI text.
"""
from __future__ import annotations

import calendar
import csv
import datetime
import functools
import hashlib
import io
import pathlib
import re
import unicodedata
import zipfile
from dataclasses import dataclass, field
from typing import Any, Iterator

from dashboard.errors import ValidationFailed
from dashboard.i18n import t

HEADER_SEARCH_ROWS = 15
MIN_HEADER_FIELDS = 3
MAX_ROWS = 200_000  # rows of one sheet: a larger ledger is split into several files
MAX_UNPACKED_BYTES = 256 * 1024 * 1024  # the sheets of a workbook once unzipped
MAX_SHEETS = 100
_CHUNK = 1024 * 1024

SYNONYMS: dict[str, tuple[str, ...]] = {
    "serial": ("序号", "编号"),
    "original_serial": ("原编号", "原序号"),
    "source": ("问题来源", "来源", "反馈来源"),
    "category": ("问题类别", "问题类型", "类别", "问题分类"),
    "description": ("问题描述", "存在问题", "问题表现", "具体问题", "问题", "问题清单", "反馈问题"),
    "county": ("县(区)", "县区", "县(市、区)", "区县", "县(市区)"),
    "township": ("乡镇", "乡镇(街道)"),
    "village": ("村", "村(社区)", "行政村"),
    "measures": ("整改措施", "整改举措"),
    "lead_unit": ("牵头单位", "责任单位", "牵头股室", "责任股室"),
    "co_units": ("配合单位", "协同单位"),
    "leader": ("责任领导", "分管领导"),
    "person": ("责任人",),
    "rect_type": ("整改类型",),
    "priority": ("优先级", "督办级别"),
    "repeat_of": ("重复问题", "重复问题原编号", "重复于"),
    "deadline": ("整改时限", "完成时限", "整改期限", "时限"),
    "progress": ("整改进展", "进展情况", "整改情况"),
    "completion": ("完成情况", "整改结果", "是否完成"),
    "closed_date": ("销号时间",),
    "remarks": ("备注",),
}
_HEADER_FIELD = {re.sub(r"\s+", "", name): f for f, names in SYNONYMS.items() for name in names}
# "整改时限(原)" / "整改时限(现)": the qualifier decides which deadline column it is.
_CURRENT_QUALIFIERS = {"现", "现时限", "调整后", "延期后", "新"}

RECT_TYPE_WORDS = {"立行立改": "immediate", "限期整改": "deadline", "长期坚持": "long_term",
                   "持续推进": "long_term", "长期推进": "long_term"}
STATE_WORDS = {
    "closed": ("已完成", "已整改到位", "已整改", "完成", "已销号", "整改完成", "已完成整改", "是"),
    "in_progress": ("正在整改", "整改中", "推进中", "未完成", "正在推进"),
    "pending_review": ("待销号", "申请销号", "待验收"),
    "ongoing": ("持续整改", "长期坚持", "持续推进", "长期推进"),
    "open": ("待整改", "未整改", "未启动"),
    "cancelled": ("已撤销",),  # this tool's own export: kept apart, never imported
}
_STATE_OF = {w: s for s, words in STATE_WORDS.items() for w in words}
_NOT_DONE_WORDS = {"否"}  # like an empty cell: open, or in progress when progress is written
PRIORITY_WORDS = {"重点督办": "key", "重点": "key", "一般": "normal", "": "normal"}

_FOOTNOTE = re.compile(r"^(注[:：\s\d.、]|备注[:：]|说明[:：]|填表人|填报人|制表|审核人|联系人|联系电话)")
_TOTAL_WORDS = {"合计", "小计", "总计"}
_UNIT_SEP = re.compile(r"[、，,；;/／\s]+")
# the numbering of a group heading: 一、 （一） 1、 I.
_NUMBERING = re.compile(r"^\s*(?:[一二三四五六七八九十百]+\s*[、.．]|[（(]\s*[一二三四五六七八九十]+\s*[)）]|"
                        r"\d{1,2}\s*[、．](?!\d)|[IVX]+\s*[、.．])\s*")
_WORD_NUMBERING = re.compile(r"^\s*(?:[一二三四五六七八九十百]+\s*[、.．]|[（(]\s*[一二三四五六七八九十]+\s*[)）]|[IVX]+\s*[、.．])")
_GROUP_NUMERAL = re.compile(r"^\s*(?:[（(]?\s*[一二三四五六七八九十百]+\s*[)）]?|[IVX]+)\s*[、.．]?\s*$")
OWN_EXPORT_MARK = "筛选条件："  # the line above this tool's own export header


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
    # per measure, in order: the deadline (in force) written for it and whether its row says done
    measure_deadlines: list[datetime.date | None] = field(default_factory=list)
    measure_original_deadlines: list[datetime.date | None] = field(default_factory=list)
    measure_done: list[bool] = field(default_factory=list)
    category_text: str | None = None  # the category as written (group heading included), before numbering is cut
    county: str | None = None
    priority: str = "normal"
    repeat_of: str | None = None
    original_serial: str | None = None
    excel_rows: list[int] = field(default_factory=list)  # the first row and its continuation rows


@dataclass
class RowError:
    """A cell (or row) that cannot be used, and why: a catalogue key with the raw values from the file.
    ``column`` is the header as written in the file."""

    excel_row: int
    column: str | None
    key: str
    params: dict[str, Any] = field(default_factory=dict)

    def message(self, lang: str) -> str:
        """The reason in the reader's language."""
        return t(self.key, lang, **self.params)


class UnreadableDate(ValueError):
    """A date cell that cannot be read: a catalogue key and the text as written."""

    def __init__(self, key: str, **params: Any) -> None:
        self.key, self.params = key, params
        super().__init__(t(key, "zh", **params))


@dataclass
class ParseResult:
    sheet: str
    header_row: int
    columns: dict[str, str]
    rows: list[ParsedRow] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    file_sha256: str = ""
    notes: list[RowError] = field(default_factory=list)  # cells read but not used, and why
    skipped_sheets: list[str] = field(default_factory=list)
    file_type: str = "xlsx"
    own_export: bool = False
    groups: int = 0  # group / divider rows read as headings
    continuation_rows: int = 0


class LedgerFormatError(ValidationFailed):
    """The file as a whole cannot be read as a ledger: one sentence in both languages, no row is read."""


# --------------------------------------------------------------------------- public API


def parse_ledger(
    data: bytes | str | pathlib.Path,
    *,
    sheet: str | None = None,
    default_year: int | None = None,
    filename: str | None = None,
) -> ParseResult:
    if isinstance(data, (bytes, bytearray, memoryview)):
        raw = bytes(data)
    else:
        path = pathlib.Path(data)
        filename = filename or path.name
        raw = path.read_bytes()
    file_type, sheets = read_sheets(raw, filename)
    grid, header, skipped = _find_table(sheets, sheet)
    year = default_year or _title_year(grid, header.row)
    result = ParseResult(
        sheet=grid.title,
        header_row=header.row,
        columns={f: header.texts[c] for f, c in header.fields.items()},
        file_sha256=hashlib.sha256(raw).hexdigest(),
        skipped_sheets=skipped,
        file_type=file_type,
        own_export=_is_own_export(grid, header.row),
    )
    _Rows(grid, header, year, result).read()
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
    raise UnreadableDate("import.bad_date", text=text.strip())


# --------------------------------------------------------------------------- the file


def _extension(filename: str | None) -> str:
    return pathlib.PurePath(filename or "").suffix.lower()


def read_sheets(raw: bytes, filename: str | None = None) -> tuple[str, Iterator[Any]]:
    """(file type, the sheets one by one as grids). Refuses, with one sentence, what cannot be read."""
    ext = _extension(filename)
    if not raw:
        raise LedgerFormatError("error.ledger_file_empty")
    if raw[:4] == b"PK\x03\x04" or raw[:4] == b"PK\x05\x06":
        kind = _check_zip(raw)
        return kind, _calamine_sheets(raw)
    if raw[:8] == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1":  # OLE2: .xls (or an encrypted .xlsx)
        return "xls", _calamine_sheets(raw)
    text = None if raw.startswith(_OTHER_FILES) else _decode_text(raw)
    if text is None:
        raise LedgerFormatError("error.file_unknown_type")
    if ext in (".xlsx", ".xls", ".xlsm", ".ods", ".et"):
        raise LedgerFormatError("error.file_text_named_excel", ext=ext)
    return "csv", iter([_csv_grid(text, filename)])


# files people pick by mistake that happen to start with readable bytes: PDF, RTF, HTML pages, images
_OTHER_FILES = (b"%PDF", b"{\\rtf", b"<!DOCTYPE", b"<html", b"<HTML", b"GIF8", b"\x89PNG", b"\xff\xd8\xff")


def _check_zip(raw: bytes) -> str:
    """xlsx or ods; sheets within the caps, counted streaming so that a zip bomb never expands in memory."""
    try:
        book = zipfile.ZipFile(io.BytesIO(raw))
        names = book.namelist()
    except (zipfile.BadZipFile, ValueError, OSError) as exc:
        raise LedgerFormatError("error.file_damaged") from exc
    if "xl/workbook.xml" in names:
        kind, parts, row_tag = "xlsx", [n for n in names if n.startswith("xl/worksheets/") and n.endswith(".xml")], \
            re.compile(rb"<(?:\w+:)?row[\s>]")
    elif "content.xml" in names and b"opendocument.spreadsheet" in _member_head(book, "mimetype"):
        kind, parts, row_tag = "ods", ["content.xml"], re.compile(rb"<table:table-row[\s>]")
    else:
        raise LedgerFormatError("error.file_unknown_type")
    if not parts:
        raise LedgerFormatError("error.file_no_sheets")
    declared = sum(book.getinfo(name).file_size for name in parts)
    if declared > MAX_UNPACKED_BYTES:
        raise LedgerFormatError("error.file_unpacks_too_big", limit_mb=MAX_UNPACKED_BYTES // 2**20)
    total = 0
    for name in parts:
        rows, tail = 0, b""
        try:
            with book.open(name) as member:
                while chunk := member.read(_CHUNK):
                    total += len(chunk)
                    if total > MAX_UNPACKED_BYTES:
                        raise LedgerFormatError("error.file_unpacks_too_big", limit_mb=MAX_UNPACKED_BYTES // 2**20)
                    window = tail + chunk
                    rows += len(row_tag.findall(window)) - len(row_tag.findall(tail))
                    tail = window[-32:]
                    if rows > MAX_ROWS + HEADER_SEARCH_ROWS:
                        raise LedgerFormatError("error.file_too_many_rows", limit=MAX_ROWS)
        except (zipfile.BadZipFile, EOFError, OSError, RuntimeError, NotImplementedError) as exc:
            raise LedgerFormatError("error.file_damaged") from exc
    return kind


def _member_head(book: zipfile.ZipFile, name: str) -> bytes:
    try:
        with book.open(name) as member:
            return member.read(100)
    except (KeyError, zipfile.BadZipFile, OSError):
        return b""


def _calamine_sheets(raw: bytes) -> Iterator[Any]:
    from python_calamine import CalamineWorkbook, PasswordError

    try:
        book = CalamineWorkbook.from_filelike(io.BytesIO(raw))
        names = list(book.sheet_names)
    except PasswordError as exc:
        raise LedgerFormatError("error.file_password") from exc
    except BaseException as exc:  # CalamineError, or a Rust panic (PanicException is a BaseException)
        if isinstance(exc, (KeyboardInterrupt, SystemExit, GeneratorExit)):
            raise
        raise LedgerFormatError("error.file_damaged") from exc
    if not names:
        raise LedgerFormatError("error.file_no_sheets")

    def sheets() -> Iterator[_Grid]:
        for index, name in enumerate(names[:MAX_SHEETS]):
            try:
                sheet = book.get_sheet_by_index(index)
                if sheet.height > MAX_ROWS + HEADER_SEARCH_ROWS:
                    raise LedgerFormatError("error.file_too_many_rows", limit=MAX_ROWS)
                values = sheet.to_python(skip_empty_area=False)
                merges = [((r0 + 1, c0 + 1), (r1 + 1, c1 + 1)) for (r0, c0), (r1, c1) in sheet.merged_cell_ranges or []]
            except LedgerFormatError:
                raise
            except BaseException as exc:  # CalamineError, or a Rust panic on a malformed sheet
                if isinstance(exc, (KeyboardInterrupt, SystemExit, GeneratorExit)):
                    raise
                raise LedgerFormatError("error.file_sheet_damaged", sheet=name) from exc
            yield _Grid(name, [[None if v == "" else v for v in row] for row in values], merges)

    return sheets()


def _decode_text(raw: bytes) -> str | None:
    """UTF-8 (with or without BOM), else GBK/GB18030; None when the bytes are not text at all."""
    if b"\x00" in raw[:4096]:
        return None
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = raw.decode(encoding)
        except UnicodeDecodeError:
            continue
        sample = text[:4096]
        printable = sum(ch.isprintable() or ch in "\r\n\t" for ch in sample)
        if sample and printable / len(sample) > 0.97:
            return text
    return None


def _csv_grid(text: str, filename: str | None) -> _Grid:
    sample = text[:8192]
    try:
        dialect: Any = csv.Sniffer().sniff(sample, delimiters=",\t;，")
    except csv.Error:
        dialect = csv.excel
    values: list[list[Any]] = []
    for row in csv.reader(io.StringIO(text), dialect):
        if len(values) > MAX_ROWS + HEADER_SEARCH_ROWS:
            raise LedgerFormatError("error.file_too_many_rows", limit=MAX_ROWS)
        values.append([cell if cell.strip() else None for cell in row])
    return _Grid(pathlib.PurePath(filename or "csv").stem or "csv", values, [])


# --------------------------------------------------------------------------- workbook


class _Grid:
    """Cell values of one sheet, with merged ranges filled from their top-left cell."""

    def __init__(self, title: str, values: list[list[Any]], merges: list[tuple[tuple[int, int], tuple[int, int]]]) -> None:
        self.title = title
        self.values = values
        self.max_row = len(values)
        self.max_col = max((len(row) for row in values), default=0)
        self.filled: dict[tuple[int, int], Any] = {}
        self.width: dict[tuple[int, int], int] = {}  # every merged cell -> width of its merge
        self.below_top: set[tuple[int, int]] = set()  # merged cells under the first row of their merge
        for (min_row, min_col), (max_row, max_col) in merges:
            top_left = self.own(min_row, min_col)
            for r in range(min_row, min(max_row, self.max_row + 1) + 1):
                for c in range(min_col, max_col + 1):
                    self.width[(r, c)] = max_col - min_col + 1
                    if r > min_row:
                        self.below_top.add((r, c))
                    if (r, c) != (min_row, min_col):
                        self.filled[(r, c)] = top_left

    def own(self, r: int, c: int) -> Any:
        """The value written in this very cell (None inside a merge but its top-left)."""
        if r > self.max_row or c > len(self.values[r - 1]):
            return None
        return self.values[r - 1][c - 1]

    def value(self, r: int, c: int) -> Any:
        return self.filled.get((r, c), self.own(r, c))

    def values_at(self, r: int, columns: list[int]) -> list[Any]:
        """``value(r, c)`` for each of ``columns``: straight from the row where no merge covers it (a 100,000-row
        export is read a row at a time)."""
        if r not in self._merged_rows:
            row = self.values[r - 1] if r <= self.max_row else []
            return [row[c - 1] if c <= len(row) else None for c in columns]
        return [self.value(r, c) for c in columns]

    @functools.cached_property
    def _merged_rows(self) -> frozenset[int]:
        return frozenset(r for r, _ in self.filled)

    def own_cells(self, r: int) -> list[tuple[int, Any]]:
        row = self.values[r - 1] if r <= self.max_row else []
        return [(c, v) for c, v in enumerate(row, start=1) if not _empty(v)]


@dataclass
class _Header:
    row: int
    first_data_row: int
    fields: dict[str, int]  # field -> column number
    texts: dict[int, str]  # column number -> header text, whitespace removed


def _find_table(sheets: Iterator[_Grid], sheet: str | None) -> tuple[_Grid, _Header, list[str]]:
    """The first sheet with a ledger header; cover, summary and empty sheets are passed over."""
    seen: list[str] = []
    without_description: list[str] = []
    anything = False
    for grid in sheets:
        seen.append(grid.title)
        anything = anything or any(grid.own_cells(r) for r in range(1, min(grid.max_row, HEADER_SEARCH_ROWS) + 1))
        if sheet is not None and grid.title != sheet:
            continue
        header = _find_header(grid)
        if header is not None and "description" in header.fields:
            return grid, header, [name for name in seen if name != grid.title]
        if header is not None:
            without_description.append(grid.title)
    if sheet is not None:
        raise LedgerFormatError("error.sheet_missing", sheet=sheet, names=seen)
    if without_description:
        raise LedgerFormatError("error.no_description_column", sheet=without_description,
                                names=list(SYNONYMS["description"]))
    if not anything:
        raise LedgerFormatError("error.file_no_content", count=len(seen))
    raise LedgerFormatError("error.no_ledger_sheet", count=len(seen), rows=HEADER_SEARCH_ROWS, min=MIN_HEADER_FIELDS)


def _find_header(grid: _Grid) -> _Header | None:
    for r in range(1, min(grid.max_row, HEADER_SEARCH_ROWS) + 1):
        texts = _header_texts(grid, r)
        fields = _map_fields(texts)
        if len(fields) >= MIN_HEADER_FIELDS:
            return _with_sub_header(grid, _Header(r, r + 1, fields, texts))
    return None


def _header_texts(grid: _Grid, r: int) -> dict[int, str]:
    return {c: _norm_display(str(v)) for c in range(1, grid.max_col + 1) if not _empty(v := grid.value(r, c))}


def _norm_display(text: str) -> str:
    """A header as people read it: spaces, full-width spaces and line breaks removed."""
    return re.sub(r"\s+", "", text.replace("\u3000", ""))


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
    subs = {c: _norm_display(str(v)) for c, v in grid.own_cells(r + 1)}
    if not subs or not set(subs) <= merged_cols:
        return header
    texts = dict(header.texts)
    for c, sub in subs.items():
        texts[c] = f"{header.texts[c]}({sub})"
    return _Header(r, r + 2, _map_fields(texts), texts)


def _is_own_export(grid: _Grid, header_row: int) -> bool:
    return any(isinstance(v, str) and v.startswith(OWN_EXPORT_MARK)
               for r in range(1, header_row) for _, v in grid.own_cells(r))


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


class _RowReader:
    """Reads the cells of one data row and collects one error per unreadable cell."""

    def __init__(self, grid: _Grid, header: _Header, r: int, year: int | None) -> None:
        self.grid, self.header, self.r, self.year = grid, header, r, year
        self.errors: list[RowError] = []

    def raw(self, f: str) -> Any:
        c = self.header.fields.get(f)
        return None if c is None else self.grid.value(self.r, c)

    def own_raw(self, f: str) -> Any:
        """The value written on this row itself: None when the cell only continues a merge from above."""
        c = self.header.fields.get(f)
        if c is None or (self.r, c) in self.grid.below_top:
            return None
        return self.grid.value(self.r, c)

    def text(self, f: str) -> str | None:
        return _cell_text(self.raw(f))

    def own_text(self, f: str) -> str | None:
        return _cell_text(self.own_raw(f))

    def column(self, f: str) -> str | None:
        c = self.header.fields.get(f)
        return None if c is None else self.header.texts[c]

    def error(self, f: str, key: str, **params: Any) -> None:
        self.errors.append(RowError(self.r, self.column(f), key, params))

    def date(self, f: str) -> tuple[str | None, datetime.date | None]:
        try:
            return _deadline_cell(self.raw(f), self.year)
        except UnreadableDate as exc:
            self.error(f, exc.key, **exc.params)
            return None, None
        except ValueError:
            self.error(f, "import.bad_date", text=self.text(f))
            return None, None

    def deadline_pair(self) -> tuple[str | None, datetime.date | None, datetime.date | None]:
        """The deadline cell; "2022-09-30 / 2022-12-31" (原/现, as this tool exports) gives both dates."""
        pair = _DEADLINE_PAIR.match(_cell_text(self.raw("deadline")) or "")
        if not pair:
            kind, deadline = self.date("deadline")
            return kind, deadline, None
        try:
            return None, parse_date_text(pair.group(1), self.year), parse_date_text(pair.group(2), self.year)
        except UnreadableDate as exc:
            self.error("deadline", exc.key, **exc.params)
            return None, None, None

    def deadlines(self) -> tuple[str | None, datetime.date | None, datetime.date | None]:
        """(rect type named in the deadline cell, original deadline, deadline in force or None)."""
        deadline_type, deadline, paired_current = self.deadline_pair()
        _, current = self.date("current_deadline")
        return deadline_type, deadline, current or paired_current

    def rect_type(self, from_deadline: str | None) -> str:
        word = _norm_text(self.raw("rect_type"))
        if not word:
            return from_deadline or "deadline"
        if word in RECT_TYPE_WORDS:
            return RECT_TYPE_WORDS[word]
        self.error("rect_type", "import.bad_rect_type", text=self.text("rect_type"))
        return "deadline"

    def state(self, progress: str | None) -> str:
        word = _norm_text(self.raw("completion")).rstrip("。.；;")
        if not word or word in _NOT_DONE_WORDS:
            return "in_progress" if progress else "open"
        if word in _STATE_OF:
            return _STATE_OF[word]
        self.error("completion", "import.bad_completion", text=self.text("completion"))
        return "open"

    def priority(self) -> str:
        word = _norm_text(self.raw("priority"))
        if word in PRIORITY_WORDS:
            return PRIORITY_WORDS[word]
        self.error("priority", "import.bad_priority", text=self.text("priority"),
                   allowed=[word for word in PRIORITY_WORDS if word])
        return "normal"


_DEADLINE_PAIR = re.compile(r"^\s*(\S.*?)\s+[/／]\s+(\S.*?)\s*$")
# this tool's export writes one measure a line as "1.text", with "（时限：2026-09-30）" when its deadline differs
_EXPORT_MEASURE = re.compile(r"^(\d+)\.(.*)$")
_EXPORT_MEASURE_DEADLINE = re.compile(r"（时限：(\d{4}-\d{2}-\d{2})）$")
# fields a continuation row may add to the finding above it; anything else written there is listed as not used
_CONTINUATION_FIELDS = {"measures", "deadline", "current_deadline", "completion", "progress", "remarks",
                        "lead_unit", "co_units", "closed_date", "serial", "description", "rect_type"}


class _Rows:
    """Walks the data rows: group headings, findings, and the continuation rows of each finding."""

    def __init__(self, grid: _Grid, header: _Header, year: int | None, result: ParseResult) -> None:
        self.grid, self.header, self.year, self.result = grid, header, year, result
        self.heading: str | None = None
        self.last: ParsedRow | None = None
        self.last_failed = False
        self.states: dict[int, list[str]] = {}  # excel row of a multi-row finding -> the state of each of its rows

    def read(self) -> None:
        for r in range(self.header.first_data_row, self.grid.max_row + 1):
            kind = self.kind(r)
            if kind == "end":
                break
            if kind == "group":
                self.result.groups += 1
                self.last = None
            elif kind == "data":
                self.data_row(r)
        for row in self.result.rows:
            self.finish(row)

    # ---- what a row is

    def kind(self, r: int) -> str:
        """'data', 'group' (a heading row), 'skip' (blank, template, repeated header, total) or 'end' (footnote)."""
        grid, header = self.grid, self.header
        own = grid.own_cells(r)
        if not own:
            return "skip"
        first_col, first_value = own[0]
        if isinstance(first_value, str) and _FOOTNOTE.match(first_value.strip()):
            return "end"
        heading = self.group_heading(r, own)
        if heading is not None:
            self.heading = heading
            return "group"
        if [c for c, _ in own] == [header.fields.get("serial")]:
            return "skip"  # a pre-numbered template row with nothing else in it
        description = grid.value(r, header.fields["description"])
        if (isinstance(description, str) and header_field(_norm_display(description)) == "description"
                and len(_map_fields(_header_texts(grid, r))) >= MIN_HEADER_FIELDS):
            return "skip"  # header repeated (printed pages)
        serial_col = header.fields.get("serial")
        if serial_col and _norm_text(grid.value(r, serial_col)) in _TOTAL_WORDS:
            return "skip"
        return "data"

    def group_heading(self, r: int, own: list[tuple[int, Any]]) -> str | None:
        """The heading of a group / divider row in its common forms, or None:
        one text merged across the table (一、巡视反馈问题); a numeral in 序号 with the heading beside it,
        merged or not (WPS: 一 | 对象认定方面); or a lone heading numbered in words (一、对象认定方面)."""
        serial_col = self.header.fields.get("serial")
        texts = [(c, _cell_text(v) or "") for c, v in own]
        if len(texts) == 1:
            c, text = texts[0]
            if self.grid.width.get((r, c), 1) >= 3:
                return text
            if _WORD_NUMBERING.match(text) and strip_numbering(text) != text.strip():
                return text
            return None
        if len(texts) == 2 and texts[0][0] == serial_col and _GROUP_NUMERAL.fullmatch(texts[0][1]):
            numeral = texts[0][1].strip()
            return f"{numeral}{'' if re.search(r'[、.．)）]$', numeral) else '、'}{texts[1][1]}"
        return None

    def is_continuation(self, r: int) -> bool:
        """No description and no serial of its own, under a finding: one more measure of that finding."""
        if self.last is None and not self.last_failed:
            return False
        rd = _RowReader(self.grid, self.header, r, self.year)
        return rd.own_text("description") is None and rd.own_text("serial") is None

    # ---- findings

    def data_row(self, r: int) -> None:
        if self.is_continuation(r):
            if self.last is not None:
                self.continuation(r)
            return  # under a refused row: its errors already name that finding
        row, errors = self.parse(r)
        self.result.errors.extend(errors)
        self.last, self.last_failed = row, row is None
        if row is not None:
            self.result.rows.append(row)

    def parse(self, r: int) -> tuple[ParsedRow | None, list[RowError]]:
        rd = _RowReader(self.grid, self.header, r, self.year)
        description = rd.text("description")
        if description is None:
            rd.error("description", "import.missing_description")
        leads = split_units(rd.text("lead_unit"))
        if not leads:
            rd.error("lead_unit", "import.missing_lead_unit")
        deadline_type, deadline, current = rd.deadlines()
        _, closed_date = rd.date("closed_date")
        rect_type = rd.rect_type(deadline_type)
        progress = rd.text("progress")
        state = rd.state(progress)
        priority = rd.priority()
        if rd.errors:
            return None, rd.errors
        lead = leads[0]
        co_units = _unique(leads[1:] + split_units(rd.text("co_units")), exclude=lead)
        keys = (description, lead, rd.text("township"), rd.text("village"), rd.text("source"))
        category_text = rd.text("category") or self.heading
        measures, measure_deadlines = self.measures(rd.text("measures"), current or deadline)
        row = ParsedRow(
            excel_row=r,
            serial=rd.text("serial"),
            source=rd.text("source"),
            category=strip_numbering(category_text) if category_text else None,
            description=description,  # type: ignore[arg-type]  # a row without one returned with its error above
            township=rd.text("township"),
            village=rd.text("village"),
            measures=measures,
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
            measure_deadlines=measure_deadlines,
            measure_original_deadlines=[deadline if d == (current or deadline) else d for d in measure_deadlines],
            measure_done=[state == "closed"] * len(measures),
            category_text=category_text,
            county=rd.text("county"),
            priority=priority,
            repeat_of=rd.text("repeat_of"),
            original_serial=rd.text("original_serial"),
            excel_rows=[r],
        )
        return row, []

    def measures(self, text: str | None, deadline: datetime.date | None) -> tuple[list[str], list[datetime.date | None]]:
        if self.result.own_export:
            pairs = export_measures(text)
            return [m for m, _ in pairs], [d or deadline for _, d in pairs]
        items = split_measures(text)
        return items, [deadline] * len(items)

    def continuation(self, r: int) -> None:
        """One more measure (with its own deadline and completion) of the finding above."""
        row = self.last
        assert row is not None
        rd = _RowReader(self.grid, self.header, r, self.year)
        self.result.continuation_rows += 1
        row.excel_rows.append(r)
        deadline_type, deadline, current = rd.deadlines()
        _, closed_date = rd.date("closed_date")
        own_completion = rd.raw("completion")
        state = rd.state(rd.own_text("progress")) if not _empty(own_completion) else row.state
        if rd.errors:
            self.result.errors.extend(rd.errors)
            return
        items = split_measures(rd.own_text("measures"))
        if not items and (deadline or current):
            self.result.notes.append(RowError(r, rd.column("deadline"), "import.note_deadline_only"))
        in_force = current or deadline
        row.measures += items
        row.measure_deadlines += [in_force] * len(items)
        row.measure_original_deadlines += [deadline or in_force] * len(items)
        row.measure_done += [state == "closed"] * len(items)
        row.rect_type = row.rect_type if deadline_type is None or in_force else deadline_type
        if closed_date and (row.closed_date is None or closed_date > row.closed_date):
            row.closed_date = closed_date
        self.states.setdefault(row.excel_row, [row.state]).append(state)
        for f, joined in (("progress", "progress"), ("remarks", "remarks")):
            extra = rd.own_text(f)
            if extra and extra != getattr(row, joined):
                setattr(row, joined, "；".join(part for part in (getattr(row, joined), extra) if part))
        for unit in split_units(rd.own_text("lead_unit")) + split_units(rd.own_text("co_units")):
            if unit != row.lead_unit and unit not in row.co_units:
                row.co_units.append(unit)
        for f, c in self.header.fields.items():
            value = rd.own_text(f)
            if f not in _CONTINUATION_FIELDS and value is not None and value != _cell_text(getattr(row, f, None)):
                self.result.notes.append(RowError(r, self.header.texts[c], "import.note_unused",
                                                  {"value": value, "row": row.excel_row}))

    def finish(self, row: ParsedRow) -> None:
        """The finding's deadline is the latest of its measures'; its state follows all its rows."""
        dated = [d for d in row.measure_deadlines if d is not None]
        if len(row.excel_rows) > 1 and dated:
            originals = [d for d in row.measure_original_deadlines if d is not None]
            latest, latest_original = max(dated), max(originals) if originals else None
            if row.current_deadline is not None or latest != latest_original:
                row.current_deadline = latest
            row.deadline = latest_original or latest
            if row.current_deadline == row.deadline:
                row.current_deadline = None
        states = self.states.get(row.excel_row)
        if states:
            if all(s == "closed" for s in states):
                row.state = "closed"
            elif any(s in ("closed", "in_progress", "pending_review") for s in states) or row.progress:
                row.state = "in_progress" if row.state != "pending_review" else row.state


def strip_numbering(text: str) -> str:
    """A group heading without its numbering: "一、对象认定方面" -> "对象认定方面"."""
    stripped = _NUMBERING.sub("", text, count=1).strip()
    return stripped or text.strip()


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
    """Units listed in one cell, separated by 、，,；; / spaces or line breaks."""
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


def export_measures(text: str | None) -> list[tuple[str, datetime.date | None]]:
    """Measures as this tool exports them: a line "N.text" starts measure N (numbers in order), other lines
    continue it, and "（时限：YYYY-MM-DD）" at its end is its own deadline. Text is kept exactly."""
    if not text:
        return []
    items: list[list[str]] = []
    for line in text.split("\n"):
        m = _EXPORT_MEASURE.match(line)
        if m and int(m.group(1)) == len(items) + 1:
            items.append([m.group(2)])
        elif items:
            items[-1].append(line)
        else:
            return [(m, None) for m in split_measures(text)]  # not this tool's layout after all
    out: list[tuple[str, datetime.date | None]] = []
    for lines in items:
        joined = "\n".join(lines)
        m = _EXPORT_MEASURE_DEADLINE.search(joined)
        due = datetime.date.fromisoformat(m.group(1)) if m else None
        out.append((joined[: m.start()] if m else joined, due))
    return out


def _deadline_cell(v: Any, year: int | None) -> tuple[str | None, datetime.date | None]:
    """(rect_type named in the cell or None, date or None) of a date/deadline cell."""
    if _empty(v):
        return None, None
    if isinstance(v, datetime.datetime):
        return None, v.date()
    if isinstance(v, datetime.date):
        return None, v
    if isinstance(v, (int, float)) and not isinstance(v, bool) and 20000 <= v <= 80000:
        return None, _EXCEL_EPOCH + datetime.timedelta(days=int(v))  # an Excel date serial without date formatting
    text = _cell_text(v) or ""
    if "长期" in text or "持续推进" in text:
        return "long_term", None
    for word, kind in RECT_TYPE_WORDS.items():
        if word in text:
            rest = text.replace(word, "").strip(" \t\r\n\u3000，,；;、：:()（）")
            return kind, parse_date_text(rest, year)
    return None, parse_date_text(text, year)


_EXCEL_EPOCH = datetime.date(1899, 12, 30)
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
        raise UnreadableDate("import.date_no_year", text=text.strip())
    try:
        if kind == "y":
            return datetime.date(year, 12, 31)
        month = int(groups[1])
        if kind == "ym":
            return datetime.date(year, month, calendar.monthrange(year, month)[1])
        return datetime.date(year, month, int(groups[2]))
    except (ValueError, calendar.IllegalMonthError):
        raise UnreadableDate("import.bad_date", text=text.strip()) from None
