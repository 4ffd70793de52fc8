"""Characters that break documents and databases, handled in one place.

XML 1.0 (every .xlsx and .docx part) allows only tab, newline, carriage return and the code points
from U+0020 up, less the surrogates and U+FFFE/U+FFFF. PostgreSQL refuses NUL in text. A vertical
tab or form feed is what Word puts on the clipboard for a manual line or page break.

``clean`` is applied to text at the edge (the services, and a flush guard for every string the ORM
writes); ``xml_safe`` by every document writer, for text stored before the edge cleaned it.
"""
from __future__ import annotations

import re
from typing import Any

# Everything XML 1.0 refuses (and NUL, which PostgreSQL refuses).
ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
LINE_BREAKS = re.compile("\r\n?|[\x0b\x0c\x85\u2028\u2029]")


def has_illegal(text: str) -> bool:
    return ILLEGAL.search(text) is not None


def clean(text: str) -> str:
    """Line breaks of every kind become ``\\n``; characters no document or database can hold are dropped."""
    if not text or text.isprintable():  # the common case, decided in C: nothing below can match
        return text
    return ILLEGAL.sub("", LINE_BREAKS.sub("\n", text))


def xml_safe(value: Any) -> str:
    """Text a document writer can always put into XML."""
    return clean("" if value is None else str(value))


def clean_row(row: dict[str, Any]) -> dict[str, Any]:
    """``clean`` through the values of one row a bulk (Core) insert writes: the same cleaning the flush
    guard (``db.engine``) gives every ORM write."""
    return {key: clean(value) if isinstance(value, str) else
            clean_value(value) if isinstance(value, (dict, list, tuple)) else value for key, value in row.items()}


def clean_value(value: Any) -> Any:
    """``clean`` through the strings of a JSON-like value (the audit log's old/new values)."""
    if isinstance(value, str):
        return clean(value)
    if isinstance(value, dict):
        return {clean_value(key): clean_value(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean_value(item) for item in value]
    return value
