"""Each rule spelt once: these tests fail when a copy of a rule drifts from its home.

- the states of 逾期 (``vocab.DEADLINE_STATES``) against the partial index the migrations build;
- no SQL text in the application names a finding state by hand;
- the raw figures the roll-ups and the direct queries sum are ``figures.COUNTS``.
"""
from __future__ import annotations

import ast
import importlib
import datetime as dt
import re
from pathlib import Path

from sqlalchemy import text

from dashboard import figures, lights
from dashboard.services import queries, rollups
from dashboard.settings import DEFAULTS
from dashboard.vocab import DEADLINE_STATES
from db.models import OPEN_DEADLINE_WHERE, Finding

ROOT = Path(__file__).resolve().parent.parent


def _index_definition(engine) -> str:
    with engine.connect() as connection:
        if engine.dialect.name == "sqlite":
            sql = "SELECT sql FROM sqlite_master WHERE type = 'index' AND name = 'ix_finding_open_deadline'"
        else:
            sql = "SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_finding_open_deadline' AND schemaname = current_schema()"
        return connection.execute(text(sql)).scalar_one()


def test_the_partial_index_of_open_deadlines_holds_exactly_the_deadline_states(engine):
    """The index the migrations built (not only the model) covers the states ``lights.is_overdue`` reads."""
    definition = _index_definition(engine)
    where = definition[definition.upper().index("WHERE"):]
    named = set(re.findall(r"'([a-z_]+)'", where))
    assert named == {state.value for state in DEADLINE_STATES}, definition


def test_the_model_index_and_the_red_list_use_one_predicate():
    index = next(i for i in Finding.__table__.indexes if i.name == "ix_finding_open_deadline")
    for dialect in ("sqlite", "postgresql"):
        assert str(index.dialect_options[dialect]["where"]) == OPEN_DEADLINE_WHERE
    assert OPEN_DEADLINE_WHERE == "status IN ('open', 'in_progress', 'pending_review')"  # the text migration 0002 wrote
    source = Path(queries.__file__).read_text(encoding="utf-8")
    assert "{OPEN_DEADLINE_WHERE}" in source


_STATE_SQL = re.compile(r"status\s+(?:NOT\s+)?IN\s*\(\s*'|status\s*(?:=|<>|!=)\s*'", re.IGNORECASE)


def _python_files() -> list[Path]:
    files = [*(ROOT / "dashboard").rglob("*.py"), *(ROOT / "pages").rglob("*.py"), ROOT / "db" / "models.py",
             ROOT / "db" / "engine.py"]
    return sorted(files)


def test_no_sql_text_names_a_finding_state_by_hand():
    """States reach SQL through ``lights`` expressions or ``db.models.status_in``, never as typed text."""
    offenders = []
    for path in _python_files():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and _STATE_SQL.search(node.value):
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert offenders == []


def test_the_state_groups_are_spelt_only_beside_status():
    """``DEADLINE_STATES`` and its siblings are assigned in ``dashboard/vocab.py`` and nowhere else."""
    groups = {"DEADLINE_STATES", "STALE_STATES", "ACTIVE_STATES", "FINAL_STATES", "OPEN_STATES_SQL", "_OPEN", "_RANKED"}
    assigned = []
    for path in _python_files():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Assign):
                names = {t.id for t in node.targets if isinstance(t, ast.Name)}
                assigned += [f"{path.relative_to(ROOT)}:{name}" for name in names & groups]
    assert sorted(assigned) == ["dashboard/vocab.py:ACTIVE_STATES", "dashboard/vocab.py:DEADLINE_STATES",
                                "dashboard/vocab.py:FINAL_STATES", "dashboard/vocab.py:STALE_STATES"]


def test_the_roll_ups_and_the_direct_queries_sum_exactly_the_counts_of_figures():
    assert rollups.FIGURE_KEYS is figures.COUNTS
    assert {column.name for column in rollups._sums()} == set(figures.COUNTS)
    now = dt.datetime(2026, 6, 15, 10)
    assert {column.name for column in queries._figure_columns(now, DEFAULTS)} == set(figures.COUNTS)


def test_the_stale_cut_off_is_the_start_of_a_day():
    settings = DEFAULTS
    cutoff = lights.stale_cutoff(dt.datetime(2026, 6, 15, 10, 30), settings)
    assert cutoff == dt.datetime(2026, 6, 15) - dt.timedelta(days=settings.stale_days)


_DOTTED = re.compile(r"``((?:dashboard|services|db)\.[A-Za-z_][\w.]*)``")
_LOGGER_NAMES = {"dashboard.access"}  # ``logs.ACCESS``: a logger's name, not a module


def _resolves(name: str) -> bool:
    parts = (name if name.startswith(("dashboard.", "db.")) else f"dashboard.{name}").split(".")
    for cut in range(len(parts), 0, -1):
        try:
            target = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for attribute in parts[cut:]:
            if not hasattr(target, attribute):
                return False
            target = getattr(target, attribute)
        return True
    return False


def test_every_module_a_docstring_or_comment_names_exists():
    """``dashboard.x.y`` / ``services.x.y`` in the code's prose name modules and functions that exist."""
    missing = []
    for path in sorted((ROOT / "dashboard").rglob("*.py")):
        source = path.read_text(encoding="utf-8")
        for match in _DOTTED.finditer(source):
            if match.group(1) not in _LOGGER_NAMES and not _resolves(match.group(1)):
                line = source.count("\n", 0, match.start()) + 1
                missing.append(f"{path.relative_to(ROOT)}:{line}: {match.group(1)}")
    assert missing == []
