"""Streamlit's own default texts are English whatever the page's language: a multiselect with no placeholder
shows "Choose options" in the Chinese interface. Every multiselect of the pages names its placeholder from the
catalogue."""
from __future__ import annotations

import ast
from pathlib import Path

PAGES = Path(__file__).resolve().parent.parent / "pages"


def _multiselects_without_placeholder() -> list[str]:
    missing = []
    for path in sorted(PAGES.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "multiselect"
                    and not any(keyword.arg == "placeholder" for keyword in node.keywords)):
                missing.append(f"{path.name}:{node.lineno}")
    return missing


def test_every_multiselect_has_a_placeholder_from_the_catalogue():
    assert _multiselects_without_placeholder() == []


def test_the_scan_finds_multiselects_at_all():
    calls = sum(source.count(".multiselect(") for source in (p.read_text(encoding="utf-8") for p in PAGES.glob("*.py")))
    assert calls >= 10
