"""The text catalogue: both languages everywhere, a label for every stored code, and every error key the
code raises present with placeholders that the raising code fills."""
from __future__ import annotations

import ast
import re
import string
from enum import StrEnum
from pathlib import Path

import pytest

from dashboard import i18n, vocab
from dashboard.errors import ConflictError, DomainError, InvalidState, NotFound, PermissionDenied, ValidationFailed
from dashboard.i18n import CATALOGUE, ENUM_PREFIX, LANGUAGES, label, t
from dashboard.lifecycle import Action
from dashboard.services.common import WHAT_KEYS
from dashboard.settings import SPECS

PACKAGE = Path(__file__).resolve().parent.parent / "dashboard"
SOURCES = sorted(PACKAGE.rglob("*.py"))
ERROR_CLASSES = {"DomainError", "PermissionDenied", "InvalidState", "ValidationFailed", "NotFound", "ConflictError"}
CJK = re.compile(r"[\u4e00-\u9fff]")


def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


# --- the catalogue itself ----------------------------------------------------------------------------

def test_every_key_has_both_languages():
    assert LANGUAGES == ("zh", "en")
    for key, entry in CATALOGUE.items():
        assert isinstance(entry, tuple) and len(entry) == 2, key
        zh, en = entry
        assert isinstance(zh, str) and zh.strip(), key
        assert isinstance(en, str) and en.strip(), key
        assert CJK.search(zh), f"{key}: no Chinese in {zh!r}"
        assert not CJK.search(en) or key.startswith("error."), f"{key}: Chinese in the English text {en!r}"


def test_both_languages_use_the_same_placeholders():
    for key, (zh, en) in CATALOGUE.items():
        assert placeholders(zh) == placeholders(en), key


def test_keys_are_well_formed():
    for key in CATALOGUE:
        assert re.fullmatch(r"[a-z_]+\.[a-z0-9_]+", key), key


def test_t_formats_and_falls_back():
    assert t("error.weak_password", min=8) == "密码至少需要8个字符。"
    assert t("error.weak_password", "en", min=8) == "The password needs at least 8 characters."
    assert t("status.open", "fr") == "待整改"          # unknown language: Chinese
    assert t("no.such.key") == "no.such.key"           # unknown key: the key itself, never an exception
    assert t("field.title", "en") == "title"


# --- labels of stored codes ----------------------------------------------------------------------------

def test_every_enum_of_vocab_has_a_prefix():
    enums = {obj for obj in vars(vocab).values()
             if isinstance(obj, type) and issubclass(obj, StrEnum) and obj is not StrEnum}
    assert enums == set(ENUM_PREFIX)
    assert len(set(ENUM_PREFIX.values())) == len(ENUM_PREFIX)


@pytest.mark.parametrize("enum", list(ENUM_PREFIX), ids=lambda enum: enum.__name__)
def test_every_code_has_a_label_in_both_languages(enum):
    for member in enum:
        key = f"{ENUM_PREFIX[enum]}.{member.value}"
        assert key in CATALOGUE, key
        zh, en = label(member, "zh"), label(member, "en")
        assert zh == CATALOGUE[key][0] and en == CATALOGUE[key][1]
        assert zh != key and en != key
    # a raw string code from the database gets the same label
    first = next(iter(enum))
    assert label(first.value, enum=enum) == label(first)


def test_no_orphan_labels():
    """Every label key of a code prefix belongs to a code that exists (no stale labels after a rename)."""
    codes = {f"{prefix}.{member.value}" for enum, prefix in ENUM_PREFIX.items() for member in enum}
    prefixes = set(ENUM_PREFIX.values())
    for key in CATALOGUE:
        if key.split(".")[0] in prefixes:
            assert key in codes, key


def test_known_labels():
    assert label(vocab.Status.PENDING_REVIEW) == "待销号"
    assert label(vocab.VillageLevel.PROVINCIAL) == "省挂牌督战"
    assert label(vocab.RectType.LONG_TERM, "en") == "Long-term"
    assert label(None) == ""


def test_actions_settings_and_record_names_have_text():
    for action in Action:
        assert f"action.{action.value}" in CATALOGUE, action
    for key in SPECS:
        assert f"setting.{key}" in CATALOGUE, key
    for what in WHAT_KEYS.values():
        assert what in CATALOGUE, what


# --- keys used in the code -------------------------------------------------------------------------------

def _name(node: ast.AST) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def error_calls() -> list[tuple[str, int, str, set[str] | None]]:
    """(file, line, key, keyword names or None when **params makes them unknown) of every error raised."""
    found = []
    for path in SOURCES:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call) or _name(node.func) not in ERROR_CLASSES:
                continue
            if node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
                key = node.args[0].value
            elif _name(node.func) == "ConflictError" and not node.args:
                key = "error.conflict"
            else:
                continue  # a key held in a variable: covered by the literal sweep below
            keywords = {kw.arg for kw in node.keywords}
            if _name(node.func) == "ConflictError":
                keywords.discard("current")  # the other person's record, not a placeholder
            found.append((path.relative_to(PACKAGE.parent).as_posix(), node.lineno, key,
                          None if None in keywords else keywords))
    return found


ERROR_CALLS = error_calls()


def test_the_source_sweep_finds_the_raises():
    keys = {key for _, _, key, _ in ERROR_CALLS}
    # a sample of keys raised in lifecycle, common, findings, admin and imports
    assert {"error.role_denied", "error.not_found", "error.conflict", "error.file_too_large",
            "error.unit_required_for_department", "error.import_rejected"} <= keys
    # the regex view of the same sources agrees with the syntax tree
    pattern = re.compile(r"\b(?:%s)\(\s*\"([a-z_]+\.[a-z0-9_]+)\"" % "|".join(sorted(ERROR_CLASSES)))
    by_regex = {match for path in SOURCES for match in pattern.findall(path.read_text(encoding="utf-8"))}
    assert by_regex <= keys


@pytest.mark.parametrize("where, line, key, params", ERROR_CALLS,
                         ids=[f"{where}:{key}" for where, _, key, _ in ERROR_CALLS])
def test_raised_error_key_exists_and_formats(where, line, key, params):
    assert key in CATALOGUE, f"{where}:{line} raises unknown key {key!r}"
    if params is None:
        return
    for lang in LANGUAGES:
        text = CATALOGUE[key][LANGUAGES.index(lang)]
        missing = placeholders(text) - params
        assert not missing, f"{where}:{line} {key} ({lang}) needs {sorted(missing)}"
        formatted = t(key, lang, **{name: "X" for name in params})
        assert "{" not in formatted


def test_every_literal_message_key_in_the_code_exists():
    """Keys passed around in variables (require_text's field key, t(...), WHAT_KEYS …) exist too."""
    pattern = re.compile(r"[\"']((?:error|field|what|setting|action)\.[a-z0-9_]+)[\"']")
    used = {}
    for path in SOURCES:
        for match in pattern.finditer(path.read_text(encoding="utf-8")):
            used.setdefault(match.group(1), path.relative_to(PACKAGE.parent).as_posix())
    assert len(used) > 30
    missing = {key: where for key, where in used.items() if key not in CATALOGUE}
    assert missing == {}


# --- the errors themselves ----------------------------------------------------------------------------------

def test_domain_errors_speak_both_languages():
    error = ValidationFailed("error.file_too_large", name="扫描件.pdf", size_mb=25.3, limit_mb=20)
    assert error.zh == "文件“扫描件.pdf”为25.3MB，超过上限20MB。"
    assert error.en == "File “扫描件.pdf” is 25.3 MB, over the 20 MB limit."
    assert str(error) == error.zh
    assert error.key == "error.file_too_large" and error.params["limit_mb"] == 20
    conflict = ConflictError(current={"description": "x"}, by="inspector", at="2026-06-15 10:00")
    assert conflict.zh.startswith("该记录已被inspector于2026-06-15 10:00修改")
    assert conflict.current == {"description": "x"}
    for cls in (PermissionDenied, InvalidState, ValidationFailed, NotFound, ConflictError):
        assert issubclass(cls, DomainError)
    assert NotFound("error.not_found", what=t("what.finding", "en"), id=7).en == "Finding 7 not found."
    assert i18n.DEFAULT_LANGUAGE == "zh"


def test_no_key_is_written_twice():
    """A second entry for a key silently replaces the first one (the dict literal keeps the last)."""
    source = (PACKAGE / "i18n.py").read_text(encoding="utf-8")
    keys = re.findall(r'^\s+"([a-z_]+\.[a-z0-9_]+)":', source, re.M)
    assert len(keys) == len(set(keys)), sorted({k for k in keys if keys.count(k) > 1})


def _has_chinese_literal(node: ast.AST) -> bool:
    """A string literal (or the literal parts of an f-string) with Chinese in it, or a call to t()."""
    for inner in ast.walk(node):
        if isinstance(inner, ast.Constant) and isinstance(inner.value, str) and CJK.search(inner.value):
            return True
        if isinstance(inner, ast.Call) and _name(inner.func) in ("t", "label", "tr"):
            return True
    return False


def test_errors_carry_raw_parameters_translated_at_the_edge():
    """No refusal is built from text already in one language: parameters are data, codes or Phrases."""
    offenders = []
    for path in SOURCES:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and _name(node.func) in ERROR_CLASSES:
                for keyword in node.keywords:
                    if keyword.arg != "current" and _has_chinese_literal(keyword.value):
                        offenders.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno} {keyword.arg}")
    assert offenders == []


def test_a_refusal_reads_entirely_in_english():
    from dashboard.errors import Phrase
    from dashboard.vocab import Role, Status

    denied = PermissionDenied("error.role_denied", role=Role.DEPARTMENT, action=Phrase("action.close"))
    assert not CJK.search(denied.message("en")), denied.message("en")
    assert "责任单位" in denied.message("zh") and "销号" in denied.message("zh")
    state = InvalidState("error.bad_state", status=Status.CLOSED, action=Phrase("action.send_back"))
    assert not CJK.search(state.message("en")) and "已销号" in state.message("zh")
    required = ValidationFailed("error.required", field=Phrase("field.measures"))
    assert not CJK.search(required.message("en"))


def _mentions() -> tuple[set[str], set[str]]:
    """String literals anywhere in the product, and the literal beginnings of its f-strings."""
    literals, prefixes = set(), set()
    for folder in ("dashboard", "pages", "seed", "db"):
        for path in (PACKAGE.parent / folder).rglob("*.py"):
            if path.name == "i18n.py":
                continue  # the catalogue names every key itself
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                if isinstance(node, ast.JoinedStr) and node.values and isinstance(node.values[0], ast.Constant):
                    prefixes.add(str(node.values[0].value))
                elif (isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add)
                      and isinstance(node.left, ast.Constant) and isinstance(node.left.value, str)):
                    prefixes.add(node.left.value)  # "import.kind_" + kind
                elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                    literals.add(node.value)
    return literals, prefixes


def test_every_catalogue_key_is_used():
    """No dead text: each key is named somewhere, built from an f-string's beginning, or labels a code."""
    literals, prefixes = _mentions()
    prefixes |= {f"{prefix}." for prefix in ENUM_PREFIX.values()}
    unused = [key for key in CATALOGUE
              if key not in literals and not any(key.startswith(prefix) for prefix in prefixes if "." in prefix)]
    assert unused == []
