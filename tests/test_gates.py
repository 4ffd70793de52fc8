"""The lint and type gates configured in pyproject.toml (``[tool.ruff]``, ``[tool.mypy]``), run with the suite.

Each exception to a gate says why on its own line: ``# noqa: CODE - reason``, ``# type: ignore[code]  # reason``.
"""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=900)


def test_ruff_finds_nothing():
    result = _run("ruff", "check", ".", "--output-format", "concise")
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_finds_nothing():
    result = _run("mypy")  # the files and the strictness per module are in pyproject.toml
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Success" in result.stdout


def _source_lines():
    for folder in ("dashboard", "db", "pages", "seed", "scripts", "tests"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            if path == Path(__file__).resolve():  # this file names the markers it looks for
                continue
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
                yield f"{path.relative_to(ROOT)}:{number}", line


def test_every_exception_to_a_gate_says_why():
    unexplained = []
    for where, line in _source_lines():
        if "# noqa" in line and not re.search(r"# noqa: [A-Z0-9, ]+ - \S", line):
            unexplained.append(f"{where}: {line.strip()}")
        if "# type: ignore" in line and not re.search(r"# type: ignore\[[a-z-, ]+\]  # \S", line):
            unexplained.append(f"{where}: {line.strip()}")
    assert unexplained == []
