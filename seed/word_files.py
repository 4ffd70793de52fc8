"""Small Word files for the demo's evidence and re-check records (python-docx), the same bytes on every build."""
from __future__ import annotations

import datetime as dt
import io


def word_file(heading: str, lines: list[str]) -> bytes:
    """A .docx with a heading and one paragraph per line; its timestamps are fixed, so two builds are equal."""
    from docx import Document

    document = Document()
    document.add_heading(heading, level=1)
    for line in lines:
        document.add_paragraph(line)
    document.core_properties.created = dt.datetime(2020, 1, 1)
    document.core_properties.modified = dt.datetime(2020, 1, 1)
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()
