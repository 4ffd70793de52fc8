"""With English chosen, every message of the ledger import reads in English: the preview, each row's reason,
the mapping step, the summary, refusals of a whole file, the command line and the admin page's import tab.

The ledgers here hold ASCII data, so any Chinese left in a message is untranslated UI text, except the
ledgers' own vocabulary the reader recognises (header names such as 问题描述, completion words such as
已完成) and the fallback category's stored name (其他): those are data and are taken out before checking.
"""
from __future__ import annotations

import base64
import re

import pytest
import streamlit as st

from dashboard import cli
from dashboard.errors import DomainError, ValidationFailed
from dashboard.ledger_reader import PRIORITY_WORDS, SYNONYMS, LedgerFormatError, parse_ledger
from dashboard.lifecycle import SYSTEM
from dashboard.services import admin, imports
from dashboard.services.common import actor_of
from dashboard.services.unit_of_work import unit_of_work
from dashboard.vocab import Role, UnitKind
from db import engine as db_engine
from db.engine import read_session
from tests import ledger_files as files
from tests.apptest_support import point_app_at

CJK = re.compile(r"[\u4e00-\u9fff]")
# The ledgers' own words, taken out exactly as they are shown (a lone 村 or 问题 is not taken out anywhere else):
# the header names of the test files (a column is named as the file names it), the completion and priority
# words, the fallback category's stored name, and the header names the refusals list as examples.
VOCABULARY = sorted({
    *(f"[{name}]" for name in files.ASCII_HEADER), *(name for name in files.ASCII_HEADER if len(name) > 2),
    *(name for name in files.ASCII_HEADER if len(name) == 2 and name not in ("问题", "来源", "类别", "时限")),
    "正在整改", "已完成", "已撤销", *(word for word in PRIORITY_WORDS if word), imports.FALLBACK_CATEGORY,
    ", ".join(SYNONYMS["description"]), "序号, 问题描述, 牵头单位, 整改时限, 完成情况"}, key=len, reverse=True)


def untranslated(text: str) -> list[str]:
    """The Chinese left in ``text`` once the ledgers' vocabulary is taken out (should be none)."""
    text = text.replace("\\", "")  # Markdown escapes of the file's values on the page
    for word in VOCABULARY:
        text = text.replace(word, "")
    return CJK.findall(text)


def assert_english(messages: list[str]) -> None:
    assert messages
    for message in messages:
        assert message.strip(), messages
        assert not untranslated(message), message


@pytest.fixture
def ascii_world(engine, frozen_today):
    """Units, a category, a village, an alias and an administrator, all named in ASCII."""
    with unit_of_work(engine) as session:
        relief = admin.create_unit(session, SYSTEM, name="Relief", kind=UnitKind.OFFICE)
        admin.create_unit(session, SYSTEM, name="Welfare", kind=UnitKind.OFFICE)
        admin.create_category(session, SYSTEM, "Funds")
        admin.create_village(session, SYSTEM, county="County", township="Gaoshi", name="Maoan", level="normal")
        user = admin.create_user(session, SYSTEM, username="boss", display_name="Boss", role=Role.ADMIN,
                                 password="a-long-enough-password")
        session.flush()
        actor = actor_of(user)
        imports.add_alias(session, actor, kind="unit", alias="ReliefDept", target=relief.name)
    with unit_of_work(engine) as session:
        imports.commit_import(session, actor, files.ascii_base_ledger(), source_title="Earlier ledger",
                              filename="base.xlsx")
    return actor


def preview(engine, actor, data, **options) -> imports.ImportPreview:
    with read_session(engine) as session:
        return imports.preview_import(session, actor, data, filename="ledger.xlsx", **options)


def test_every_message_of_a_messy_ledger_reads_in_english(engine, ascii_world):
    result = preview(engine, ascii_world, files.ascii_messy_ledger())
    keys = {error.key for error in result.errors}
    # every kind of row message is there, so the walk below covers them all
    assert {"import.bad_date", "import.date_no_year", "import.bad_rect_type", "import.bad_priority",
            "import.bad_completion", "import.missing_description", "import.missing_lead_unit",
            "import.missing_measures", "import.missing_deadline", "error.import_unknown_units"} <= keys
    assert keys & {"import.unknown_name", "import.unknown_name_near"}
    assert {s.key for s in result.skipped} == {"import.skip_duplicate", "import.skip_cancelled"}
    assert [s.key for s in result.unchanged] == ["import.skip_known"] and len(result.updates) == 1
    assert {note.key for note in result.parsed.notes} == {"import.note_deadline_only", "import.note_unused"}
    said = {phrase.key for phrase in result.phrases()}
    assert {"import.read_sheet_skipping", "import.groups", "import.continuations", "import.matched",
            "import.will_create", "import.at_cell"} <= said

    sentences = (result.messages("en") + [e.message("en") for e in result.errors]
                 + [s.message("en") for s in result.skipped + result.unchanged]
                 + [cli.t(p.key, "en", **p.params) for p in map(imports.at_row, result.errors)])
    assert_english(sentences)
    english = "\n".join(sentences)
    # the file's values are echoed as written, the words around them are English
    assert "Read sheet “Ledger” (header on row 2); sheets passed over: Cover" in english
    assert "“ReliefDept” is imported as the unit “Relief”" in english
    assert "Unreadable date: ‘soon’" in english and "The date ‘9/30’ has no year" in english
    assert "Row 6 [整改时限(原)]: This row has a deadline but no measure" in english
    assert "‘Li’ on a continuation row was not used (row 4 holds the finding)" in english
    assert "The same finding as row 8 (same description, unit, place and source)" in english
    assert "Unknown priority: ‘urgent’ (write 重点督办, 重点, 一般)" in english
    assert re.search(r"2 unit name\(s\) are not known: “WelfareBureau” \(1 row\(s\); nearest: [^)]*Welfare",
                     english)
    assert "Unknown village: ‘Gaoshi·Maoann’ (1 row(s)" in english
    # and the same messages in Chinese are Chinese (nothing was lost on the way)
    assert "读取工作表“Ledger”（表头在第2行），跳过工作表：Cover" in result.messages("zh")


def test_the_mapping_step_and_the_summary_read_in_english(engine, ascii_world):
    data = files.ascii_clean_ledger()
    first = preview(engine, ascii_world, data, create_categories=False)
    assert not first.ok
    assert [(u.kind, u.value) for u in first.unknowns] == [
        ("category", "Eligibility"), ("category", "Fundz"), ("category", "Misc things"),
        ("category", "Brand new kind"), ("village", "Gaoshi·Newvillage")]
    assert_english([e.message("en") for e in first.errors])
    decisions = {("category", "Eligibility"): imports.Decision(imports.MAP, "Funds"),
                 ("category", "Fundz"): imports.Decision(imports.MAP, "Funds"),
                 ("category", "Misc things"): imports.Decision(imports.OTHER),
                 ("category", "Brand new kind"): imports.Decision(imports.CREATE),
                 ("village", "Gaoshi·Newvillage"): imports.Decision(imports.CREATE)}
    decided = preview(engine, ascii_world, data, decisions=decisions)
    assert decided.ok, [e.message("en") for e in decided.errors]
    english = decided.messages("en")
    assert_english(english)
    assert "The category “Eligibility” is mapped to “Funds” (1 row(s))" in english
    assert "The category “Misc things” is filed under “其他”, its text kept in the remarks (1 row(s))" in english
    assert "The category “Brand new kind” will be created (1 row(s))" in english
    assert "The village “Gaoshi·Newvillage” will be created (1 row(s))" in english
    assert any(m.startswith("Of 2 completed findings, 1 keep the ledger's closing date") for m in english)

    with unit_of_work(engine) as session:
        summary = imports.commit_import(session, ascii_world, decided, source_title="Clean ledger",
                                        filename="clean.xlsx")
    assert summary.message("en") == ("4 new (2 closed); 0 updated; 0 unchanged; 0 not imported (0 cancelled); "
                                     "new categories: Brand new kind, 其他; new villages: Gaoshi·Newvillage; "
                                     "1 closed on the ledger's closing date; "
                                     "1 original/current deadline pair(s) recorded as approved extensions")
    assert summary.message("zh").startswith("新增 4 条（其中已完成 2 条）；更新 0 条")
    assert_english([summary.message("en")])


def test_mapping_refusals_read_in_english(engine, ascii_world):
    refusals: list[DomainError] = []
    with pytest.raises(ValidationFailed) as bad_pair:
        imports.decisions_from_pairs(["ReliefDept"])
    refusals.append(bad_pair.value)
    data = files.ascii_clean_ledger()
    for decision in (imports.Decision(imports.MAP, "No such category"), imports.Decision("nonsense")):
        with pytest.raises(ValidationFailed) as bad_map:
            preview(engine, ascii_world, data, decisions={("category", "Eligibility"): decision})
        refusals.append(bad_map.value)
    with unit_of_work(engine) as session:
        for kind, target in (("planet", "Funds"), ("unit", "Nowhere")):
            with pytest.raises(ValidationFailed) as bad_alias:
                imports.add_alias(session, ascii_world, kind=kind, alias="x", target=target)
            refusals.append(bad_alias.value)
    english = [error.message("en") for error in refusals]
    assert_english(english)
    assert english[0] == "Mapping “ReliefDept=” cannot be used: write it as old name=existing name"
    assert english[1] == "Mapping “Eligibility=No such category” cannot be used: there is no category named “No such category”"
    assert english[3].endswith("there is no kind of name “planet” (kinds: unit, category, village)")
    assert refusals[0].message("zh").endswith("格式应为 旧名称=现有名称")


REFUSED_FILES = {
    "csv_named_xlsx": (lambda: files.csv_ledger("utf-8"), "ledger.xlsx", {}),
    "empty_workbook": (files.empty_workbook, "ledger.xlsx", {}),
    "fifty_sheets": (files.many_sheets_without_a_ledger, "ledger.xlsx", {}),
    "malformed_xml": (files.malformed_sheet_xml, "ledger.xlsx", {}),
    "empty_file": (lambda: b"", "ledger.xlsx", {}),
    "pdf": (lambda: b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj", "ledger.pdf", {}),
    "zip_bomb": (lambda: files.zip_bomb(220_000), "ledger.xlsx", {}),
    "no_such_sheet": (files.ascii_clean_ledger, "ledger.xlsx", {"sheet": "Missing"}),
    "no_description": (lambda: files.xlsx({1: ["序号", "牵头单位", "整改时限"], 2: [1, "Relief", "2026-09-30"]},
                                          title="Sheet A"), "ledger.xlsx", {}),
}


@pytest.mark.parametrize("name", list(REFUSED_FILES))
def test_a_refused_file_is_told_in_english(name):
    build, filename, options = REFUSED_FILES[name]
    with pytest.raises(LedgerFormatError) as refused:
        parse_ledger(build(), filename=filename, **options)
    english = refused.value.message("en")
    assert_english([english])
    assert refused.value.message("zh") != english and CJK.search(refused.value.message("zh"))
    if name == "no_such_sheet":
        assert english == "There is no sheet “Missing” (sheets: Ledger)."


# --------------------------------------------------------------------------- the command line


@pytest.fixture
def cli_world(engine, database_url, monkeypatch, ascii_world):
    point_app_at(monkeypatch, database_url)
    yield ascii_world
    db_engine.default_engine.cache_clear()


def test_the_command_line_speaks_the_readers_language(cli_world, tmp_path, capsys, monkeypatch):
    messy = tmp_path / "messy.xlsx"
    messy.write_bytes(files.ascii_messy_ledger())
    assert cli.main(["--lang", "en", "import-ledger", str(messy), "--source", "Tour"]) == 1
    out = capsys.readouterr()
    lines = (out.out + out.err).splitlines()
    assert_english(lines)
    assert "Row 11 [整改时限(原)]: Unreadable date: ‘soon’" in out.err
    assert "Row 9 not imported: The same finding as row 8 (same description, unit, place and source)" in out.out
    assert "1 row(s) imported before and unchanged: rows 21" in out.out
    assert "  --map Qxz=…  (1 row(s); nothing close)" in out.err or "  --map Qxz=…  (1 row(s); nearest:" in out.err
    assert out.err.splitlines()[-1].endswith("problem(s): nothing imported.")
    assert " / " not in out.out + out.err  # one language, not pairs

    clean = tmp_path / "clean.xlsx"
    clean.write_bytes(files.ascii_clean_ledger())
    monkeypatch.setenv("DASHBOARD_LANG", "en")  # the reader's language from the environment
    mapped = ["--map", "Eligibility=Funds", "--map", "Fundz=Funds", "--map", "Misc things=其他",
              "--map", "Gaoshi·Newvillage=Gaoshi·Maoan"]
    assert cli.main(["import-ledger", str(clean), "--source", "Tour", *mapped, "--no-create-categories"]) == 1
    out = capsys.readouterr()
    assert "--map Brand new kind=" in out.err and "nothing imported" in out.err  # asked for, not created
    assert cli.main(["import-ledger", str(clean), "--source", "Tour", "--map", "Eligibility=Funds",
                     "--map", "Fundz=Funds", "--map", "Misc things=其他",
                     "--map", "Gaoshi·Newvillage=Gaoshi·Maoan"]) == 0
    out = capsys.readouterr()
    assert_english((out.out + out.err).splitlines())
    assert "Imported: 4 new (2 closed); 0 updated; 0 unchanged" in out.out
    assert cli.main(["import-ledger", str(clean), "--source", "Tour", "--lang", "zh"]) == 0
    assert "导入完成：新增 0 条（其中已完成 0 条）；更新 0 条；未变 4 条" in capsys.readouterr().out
    assert cli.main(["import-ledger", str(clean), "--source", "Tour", "--map", "Eligibility"]) == 2
    assert capsys.readouterr().err == "Mapping “Eligibility=” cannot be used: write it as old name=existing name\n"


# --------------------------------------------------------------------------- the admin page's import tab


UPLOAD_SCRIPT = """
import base64
import importlib
import streamlit as st

class _Upload:
    name = "{name}"
    def getvalue(self):
        return base64.b64decode("{data}")

_real = st.file_uploader
st.file_uploader = lambda label, *args, key=None, **kwargs: _Upload() if key == "import_file" else _real(label, *args, key=key, **kwargs)
try:
    importlib.import_module("pages.admin").render()
finally:
    st.file_uploader = _real
"""


def import_tab(actor, data: bytes, lang: str = "en"):
    """The admin page with ``data`` chosen in the import tab's uploader (AppTest cannot upload files)."""
    from streamlit.testing.v1 import AppTest

    app = AppTest.from_string(UPLOAD_SCRIPT.format(name="ledger.xlsx", data=base64.b64encode(data).decode()),
                              default_timeout=60)
    app.session_state["actor"] = actor
    app.session_state["lang"] = lang
    return app


def tab_texts(tab) -> list[str]:
    """Every text the import tab shows: messages, table headers and cells, widget labels and options."""
    out = []
    for kind in ("markdown", "caption", "error", "warning", "success", "info", "subheader"):
        out += [str(element.value) for element in getattr(tab, kind)]
    for frame in tab.dataframe:
        out += [str(column) for column in frame.value.columns]
        out += [str(cell) for row in frame.value.itertuples(index=False) for cell in row]
    for box in tab.selectbox:
        out += [box.label, *map(str, box.options)]
    for widget in (*tab.text_input, *tab.number_input, *tab.button, *tab.expander):
        out.append(str(widget.label))
    return [text for text in out if text.strip()]


def test_the_import_tab_reads_in_english(engine, database_url, monkeypatch, ascii_world):
    point_app_at(monkeypatch, database_url)
    try:
        app = import_tab(ascii_world, files.ascii_messy_ledger()).run()
        assert not app.exception, app.exception
        tab = app.tabs[5]
        shown = tab_texts(tab)
        assert_english(shown)
        joined = "\n".join(shown)
        assert "nothing imported" in joined and "Unreadable date: ‘soon’" in joined
        assert "Read sheet “Ledger” (header on row 2); sheets passed over: Cover" in joined
        assert "Row 6 [整改时限\\(原\\)]: This row has a deadline" in joined  # a caption: the file's values escaped
        assert "Map names" in joined and "— choose the existing name —" in joined

        clean = files.ascii_clean_ledger()  # built once: the file's bytes name its mapping widgets
        app = import_tab(ascii_world, clean).run()
        assert not app.exception, app.exception
        shown = tab_texts(app.tabs[5])
        assert_english(shown)
        assert any("Used in 1 row(s) (2); nearest:" in text for text in shown)
        # deciding in the mapping step: the decision is said in English too
        assert any("will be created" in text for text in shown)  # a category's default: create it
        mapping = [box for box in app.tabs[5].selectbox if (box.key or "").startswith("map_")]
        assert [box.value for box in mapping] == ["create"] * 5
        # chosen before a fresh run (a second run of the same AppTest re-reads every selectbox of the page,
        # formatting the other tabs' options outside the script run, where the user's language is not known)
        app = import_tab(ascii_world, clean)
        app.session_state[mapping[0].key] = "other"
        app.run()
        assert not app.exception, app.exception
        shown = tab_texts(app.tabs[5])
        assert_english(shown)
        assert "The category “Eligibility” is filed under “其他”, its text kept in the remarks (1 row(s))" in shown

        # the same tab in Chinese is Chinese
        app = import_tab(ascii_world, files.ascii_messy_ledger(), lang="zh").run()
        assert "无法识别的日期：‘soon’" in "\n".join(tab_texts(app.tabs[5]))
    finally:
        st.cache_data.clear()
        db_engine.default_engine.cache_clear()
