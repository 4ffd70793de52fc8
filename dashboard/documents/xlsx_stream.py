"""A styled .xlsx whose body rows are streamed straight into the zip, for sheets of 100k+ rows.

XlsxWriter lays out everything around the rows: styles, merged title rows, column widths, frozen
panes, print setup. It is also asked to write one sample body row, which tells us the style number
it gave each column. The body is then written as plain SpreadsheetML rows directly into the
compressed worksheet part, without a Python object per cell. Both openpyxl (25 µs a cell) and
XlsxWriter (15 µs a cell) were too slow for the 20-second target on 1.8M cells; this writes about
1 µs a cell, and memory holds only the current batch.
"""
from __future__ import annotations

import io
import math
import re
import zipfile
from typing import Any, BinaryIO, Callable, Iterable, Sequence

import xlsxwriter
from xlsxwriter.utility import xl_col_to_name

SHEET_PART = "xl/worksheets/sheet1.xml"
_XML_ESCAPES: dict[int, str | None] = {ord("&"): "&amp;", ord("<"): "&lt;", ord(">"): "&gt;"}
# Characters XML does not allow (controls other than tab and newline, U+FFFE, U+FFFF): Excel spells
# them _xHHHH_ and reads them back. Lone surrogates cannot even be written as UTF-8: dropped.
_XML_ESCAPES.update({code: f"_x{code:04X}_" for code in (*range(32), 0xFFFE, 0xFFFF) if code not in (9, 10, 13)})
_XML_ESCAPES.update({code: None for code in range(0xD800, 0xE000)})
# Text that already looks like an _xHHHH_ escape keeps its underscore (_x005F_) so Excel shows it as typed.
_LOOKS_ESCAPED = re.compile(r"_(?=x[0-9A-Fa-f]{4}_)")
_ROW = re.compile(r'<row r="(\d+)"[^>]*>.*?</row>', re.S)
_CELL_STYLE = re.compile(r'<c r="[A-Z]+\d+"(?: s="(\d+)")?')


def escape(text: str) -> str:
    """Text for an inline string cell: well-formed XML for any text, read back by Excel as it was."""
    if "_x" in text:
        text = _LOOKS_ESCAPED.sub("_x005F_", text)
    return text.translate(_XML_ESCAPES)


def display_width(text: str) -> float:
    """Width in Excel character units: a Chinese character (3 bytes in UTF-8) is two, a Latin one one."""
    return (len(text.encode("utf-8")) + len(text)) / 2


def wrapped_lines(text: str, width: float) -> int:
    """Lines a wrapped cell of ``width`` characters needs (estimated; Excel fits heights only on edit)."""
    usable = max(width - 1, 1)
    return sum(max(1, math.ceil(display_width(part) / usable)) for part in text.split("\n"))


class StreamedSheet:
    """Lay out one worksheet with XlsxWriter, then stream its body rows.

    ``layout(book, sheet)`` writes the rows above the body and returns one cell format per column;
    ``numeric`` names the columns that hold numbers (all others hold text); ``row_height(values)``
    gives a body row's height in points (None: the default).
    """

    def __init__(self, sheet_name: str, body_first_row: int,
                 layout: Callable[[Any, Any], Sequence[Any]], numeric: Iterable[int] = (),
                 row_height: Callable[[Sequence[Any]], float | None] | None = None) -> None:
        self.first_row = body_first_row
        self.numeric = set(numeric)
        self.row_height = row_height
        package = io.BytesIO()
        book = xlsxwriter.Workbook(package, {"in_memory": True})
        sheet = book.add_worksheet(sheet_name)
        formats = layout(book, sheet)
        for column, cell_format in enumerate(formats):  # the sample row, replaced by the real ones
            sheet.write_number(body_first_row, column, 0, cell_format)
        book.close()
        self.parts = zipfile.ZipFile(package)
        self._split(self.parts.read(SHEET_PART).decode("utf-8"), len(formats))

    def _split(self, xml: str, columns: int) -> None:
        sample = next(m for m in _ROW.finditer(xml) if int(m.group(1)) == self.first_row + 1)
        styles = [style or "0" for style in _CELL_STYLE.findall(sample.group(0))]
        assert len(styles) == columns, "the sample row must have one cell per column"
        # The dimension is optional and would name the sample row as the last one.
        self.head = re.sub(r'<dimension ref="[^"]*"/>', "", xml[:sample.start()])
        self.tail = xml[sample.end():]
        letters = [xl_col_to_name(column) for column in range(columns)]
        self.open_cell = [f'<c r="{letter}' for letter in letters]
        self.text_style = [f'" s="{style}" t="inlineStr"><is><t xml:space="preserve">' for style in styles]
        self.empty_cell = [f'" s="{style}"/>' for style in styles]
        self.number_style = [f'" s="{style}"><v>' for style in styles]

    def _row(self, number: int, values: Sequence[Any]) -> str:
        cells = []
        for column, value in enumerate(values):
            start = self.open_cell[column]
            if column in self.numeric and value is not None:
                cells.append(f"{start}{number}{self.number_style[column]}{value}</v></c>")
            elif value is None or value == "":
                cells.append(f"{start}{number}{self.empty_cell[column]}")
            else:
                cells.append(f"{start}{number}{self.text_style[column]}{escape(str(value))}</t></is></c>")
        height = self.row_height(values) if self.row_height else None
        size = f' ht="{height:g}" customHeight="1"' if height else ""
        return f'<row r="{number}"{size}>{"".join(cells)}</row>'

    def write(self, out: BinaryIO, batches: Iterable[Iterable[Sequence[Any]]]) -> int:
        """Write the workbook to ``out``; ``batches`` yields lists of rows. Returns the rows written."""
        written = 0
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as target:
            for part in self.parts.infolist():
                if part.filename != SHEET_PART:
                    target.writestr(part.filename, self.parts.read(part.filename))
                    continue
                with target.open(SHEET_PART, "w", force_zip64=True) as stream:
                    stream.write(self.head.encode("utf-8"))
                    for batch in batches:
                        lines = []
                        for values in batch:
                            lines.append(self._row(self.first_row + 1 + written, values))
                            written += 1
                        stream.write("".join(lines).encode("utf-8"))
                    stream.write(self.tail.encode("utf-8"))
        return written
