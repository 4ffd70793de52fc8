"""管理 Administration: users, units, villages, categories, thresholds and upload limits."""
from __future__ import annotations

from typing import Any

from enum import StrEnum

import pandas as pd
import streamlit as st

from dashboard import clock
from dashboard.errors import DomainError, Phrase
from dashboard.services import admin, households, imports, views
from dashboard.settings import SPECS, load_settings
from dashboard.ui import navigation
from dashboard.ui.context import engine, flash, lbl, reading, run_service, show_flash, tr
from dashboard.ui.safe import plain
from dashboard.ui.widgets import day
from dashboard.vocab import Role, SourceKind, Status, UnitKind, VillageLevel, VillageStatus, codes


def users_tab(actor, units: dict[int, str]) -> None:
    with reading() as session:
        people = views.users(session)
    st.dataframe(pd.DataFrame([{
        tr("field.username"): u.username, tr("field.display_name"): u.display_name, tr("field.role"): lbl(u.role, Role),
        tr("field.unit"): units.get(u.unit_id, ""), tr("admin.active"): "✔" if u.active else "✕",
        tr("admin.locked_until"): day(u.locked_until), tr("admin.last_login"): day(u.last_login_at),
    } for u in people]), hide_index=True, width="stretch")
    left, right = st.columns(2)
    with left, st.form("new_user"):
        st.markdown(f"**{tr('admin.new_user')}**")
        username = st.text_input(tr("field.username"), key="nu_username")
        name = st.text_input(tr("field.display_name"), key="nu_name")
        role = st.selectbox(tr("field.role"), codes(Role), format_func=lambda r: lbl(r, Role), key="nu_role", placeholder=tr("ui.choose"))
        unit = st.selectbox(tr("field.unit"), [None, *units], format_func=lambda i: "—" if i is None else units[i],
                            key="nu_unit", placeholder=tr("ui.choose"))
        password = st.text_input(tr("login.password"), type="password", key="nu_password")
        if st.form_submit_button(tr("ui.create"), type="primary"):
            if run_service(admin.create_user, actor, username=username, display_name=name, role=role,
                           password=password, unit_id=unit):
                flash("admin.user_created", username=username)
                st.rerun()
    with right, st.form("edit_user"):
        st.markdown(f"**{tr('admin.edit_user')}**")
        by_name = {u.username: u for u in people}
        chosen = st.selectbox(tr("field.username"), list(by_name), key="eu_user", placeholder=tr("ui.choose"))
        user = by_name[chosen]
        role = st.selectbox(tr("field.role"), codes(Role), index=codes(Role).index(user.role),
                            format_func=lambda r: lbl(r, Role), key=f"eu_role_{user.id}", placeholder=tr("ui.choose"))
        unit_ids = [None, *units]
        unit = st.selectbox(tr("field.unit"), unit_ids, index=unit_ids.index(user.unit_id),
                            format_func=lambda i: "—" if i is None else units[i], key=f"eu_unit_{user.id}", placeholder=tr("ui.choose"))
        active = st.checkbox(tr("admin.active"), value=user.active, key=f"eu_active_{user.id}")
        new_password = st.text_input(tr("admin.reset_password"), type="password", key=f"eu_pw_{user.id}")
        if st.form_submit_button(tr("ui.save")):
            done = run_service(admin.update_user, actor, user.id, user.version, role=role, unit_id=unit, active=active)
            if done and new_password:
                done = run_service(admin.set_password, actor, user.id, new_password)
            if done:
                flash("ui.saved")
                st.rerun()


def units_tab(actor) -> None:
    with reading() as session:
        units = admin.all_units(session)
    st.dataframe(pd.DataFrame([{tr("field.name"): u.name, tr("field.kind"): lbl(u.kind, UnitKind),
                                tr("admin.monitoring_unit"): "✔" if u.monitoring else "",
                                tr("admin.active"): "✔" if u.active else "✕"} for u in units]),
                 hide_index=True, width="stretch")
    left, right = st.columns(2)
    with left, st.form("new_unit"):
        st.markdown(f"**{tr('admin.new_unit')}**")
        name = st.text_input(tr("field.name"), key="un_name")
        kind = st.selectbox(tr("field.kind"), codes(UnitKind), format_func=lambda k: lbl(k, UnitKind), key="un_kind", placeholder=tr("ui.choose"))
        monitoring = st.checkbox(tr("admin.monitoring_unit"), help=tr("admin.monitoring_unit_help"), key="un_monitoring")
        if st.form_submit_button(tr("ui.create"), type="primary"):
            if run_service(admin.create_unit, actor, name=name, kind=kind, monitoring=monitoring):
                flash("ui.saved")
                st.rerun()
    with right, st.form("edit_unit"):
        st.markdown(f"**{tr('admin.edit_unit')}**")
        by_id = {u.id: u for u in units}
        chosen = st.selectbox(tr("field.unit"), list(by_id), format_func=lambda i: by_id[i].name, key="ue_unit", placeholder=tr("ui.choose"))
        unit = by_id[chosen]
        name = st.text_input(tr("field.name"), value=unit.name, key=f"ue_name_{unit.id}")
        active = st.checkbox(tr("admin.active"), value=unit.active, key=f"ue_active_{unit.id}")
        monitoring = st.checkbox(tr("admin.monitoring_unit"), value=unit.monitoring, help=tr("admin.monitoring_unit_help"),
                                 key=f"ue_monitoring_{unit.id}")
        if st.form_submit_button(tr("ui.save")):
            if run_service(admin.update_unit, actor, unit.id, unit.version, name=name, active=active,
                           monitoring=monitoring):
                flash("ui.saved")
                st.rerun()


VILLAGE_NUMBERS = ("poverty_rate", "remaining_poor", "monitored_households", "population")
VILLAGE_TEXTS = ("leader", "work_team", "support_unit")


def village_fields(prefix: str, village: Any) -> dict:
    cols = st.columns(3)
    values = {
        "township": cols[0].text_input(tr("col.township"), value=village.township if village else "", key=f"{prefix}_t"),
        "name": cols[1].text_input(tr("col.village"), value=village.name if village else "", key=f"{prefix}_n"),
        "level": cols[2].selectbox(tr("col.level"), codes(VillageLevel), key=f"{prefix}_l",
                                   index=codes(VillageLevel).index(village.level) if village else 2,
                                   format_func=lambda c: lbl(c, VillageLevel), placeholder=tr("ui.choose")),
    }
    cols = st.columns(5)
    values["poverty_rate"] = cols[0].number_input(tr("col.poverty_rate"), min_value=0.0, step=0.1, key=f"{prefix}_r",
                                                  value=float(village.poverty_rate) if village else 0.0)
    values["remaining_poor"] = cols[1].number_input(tr("col.remaining_poor"), min_value=0, step=1, key=f"{prefix}_p",
                                                    value=int(village.remaining_poor) if village else 0)
    values["monitored_households"] = cols[2].number_input(tr("col.monitored"), min_value=0, step=1,
                                                          key=f"{prefix}_m",
                                                          value=int(village.monitored_households) if village else 0)
    values["population"] = cols[3].number_input(tr("col.population"), min_value=0, step=1, key=f"{prefix}_pop",
                                                value=int(village.population) if village else 0)
    values["status"] = cols[4].selectbox(tr("col.village_status"), codes(VillageStatus), key=f"{prefix}_s",
                                         index=codes(VillageStatus).index(village.status) if village else 0,
                                         format_func=lambda c: lbl(c, VillageStatus), placeholder=tr("ui.choose"))
    cols = st.columns(3)
    for column, key, label_key in zip(cols, VILLAGE_TEXTS, ("col.village_leader", "col.work_team", "col.support_unit")):
        values[key] = column.text_input(tr(label_key), value=getattr(village, key) if village else "",
                                        key=f"{prefix}_{key}")
    return values


def villages_tab(actor) -> None:
    with reading() as session:
        villages = admin.all_villages(session)
    by_id = {v.id: v for v in villages}
    chosen = st.selectbox(tr("admin.edit_village"), [None, *by_id], key="ve_village",
                          format_func=lambda i: tr("admin.new_village") if i is None
                          else f"{by_id[i].township}·{by_id[i].name}", placeholder=tr("ui.choose"))
    village = by_id.get(chosen)
    with st.form("village_form"):
        values = village_fields(f"vf_{chosen}", village)
        if st.form_submit_button(tr("ui.save"), type="primary"):
            if village is None:
                done = run_service(admin.create_village, actor, **values)
            else:
                done = run_service(admin.update_village, actor, village.id, village.version, **values)
            if done:
                flash("ui.saved")
                st.rerun()


def categories_tab(actor) -> None:
    with reading() as session:
        categories = admin.all_categories(session)
    st.dataframe(pd.DataFrame([{tr("field.name"): c.name, tr("admin.active"): "✔" if c.active else "✕"}
                               for c in categories]), hide_index=True, width="stretch")
    left, right = st.columns(2)
    with left, st.form("new_category"):
        name = st.text_input(tr("admin.new_category"), key="nc_name")
        if st.form_submit_button(tr("ui.create")):
            if run_service(admin.create_category, actor, name):
                flash("ui.saved")
                st.rerun()
    with right, st.form("toggle_category"):
        by_id = {c.id: c for c in categories}
        chosen = st.selectbox(tr("what.category"), list(by_id), format_func=lambda i: by_id[i].name, key="tc_cat", placeholder=tr("ui.choose"))
        if st.form_submit_button(tr("admin.toggle_category")):
            if run_service(admin.set_category_active, actor, chosen, not by_id[chosen].active):
                flash("ui.saved")
                st.rerun()


def settings_tab(actor) -> None:
    with reading() as session:
        current = load_settings(session)
    with st.form("settings_form"):
        values = {}
        cols = st.columns(3)
        for index, (key, spec) in enumerate(SPECS.items()):
            column = cols[index % 3]
            if isinstance(spec.default, list):
                values[key] = column.text_input(tr(f"setting.{key}"), value=",".join(getattr(current, key)),
                                                key=f"set_{key}")
            else:
                values[key] = column.number_input(tr(f"setting.{key}"), min_value=spec.low, max_value=spec.high,
                                                  value=int(getattr(current, key)), step=1, key=f"set_{key}")
        if st.form_submit_button(tr("ui.save"), type="primary"):
            changed = {k: v for k, v in values.items() if v != getattr(current, k)
                       and not (isinstance(v, str) and v == ",".join(getattr(current, k)))}
            if all(run_service(admin.update_setting, actor, key, value) for key, value in changed.items()):
                flash("ui.saved")
                st.rerun()
    income_lines_section(actor)


def income_lines_section(actor) -> None:
    """监测收入标准 of each year (yuan per person per year): 风险消除 compares a household's income with its year's line."""
    st.subheader(tr("admin.income_lines"))
    with reading() as session:
        lines = [(line.year, line.yuan) for line in households.income_lines(session)]
    st.caption(tr("admin.income_lines_list", lines="；".join(f"{year}: {yuan:,}" for year, yuan in lines))
               if lines else tr("admin.income_lines_none"))
    low, high = households.INCOME_LINE_RANGE
    with st.form("income_line"), st.container(horizontal=True):
        year = st.number_input(tr("hh.income_year"), min_value=2000, max_value=2100, value=clock.today().year,
                               step=1, key="il_year")
        yuan = st.number_input(tr("admin.income_line_yuan"), min_value=low, max_value=high,
                               value=dict(lines).get(clock.today().year, low), step=100, key="il_yuan")
        if st.form_submit_button(tr("ui.save"), type="primary"):
            if run_service(households.set_income_line, actor, int(year), int(yuan)):
                flash("admin.income_line_set", year=int(year), yuan=int(yuan))
                st.rerun()


@st.cache_data(max_entries=4, show_spinner=False)
def read_upload(data: bytes, year: int, name: str):
    """The file read and checked once per upload, outside any transaction (reruns reuse it)."""
    return imports.read_ledger(data, default_year=year, filename=name)


UNDECIDED = ""


def _as_text(value):
    """A message parameter as literal text inside Markdown: values from the file escaped, at any depth;
    catalogue words (Phrases) and stored codes kept, so that they are translated with the message."""
    if isinstance(value, Phrase):
        return Phrase(value.key, {name: _as_text(inner) for name, inner in value.params.items()})
    if isinstance(value, StrEnum):
        return value
    if isinstance(value, str):
        return plain(value)
    if isinstance(value, (list, tuple)):
        return [_as_text(item) for item in value]
    return value


def said(key: str, params: dict) -> str:
    """A message for Markdown (captions, errors) in the user's language, the file's values shown as text."""
    return tr(key, **{name: _as_text(value) for name, value in params.items()})


def told(key: str, params: dict) -> str:
    """A message for a table cell (no Markdown there) in the user's language."""
    return tr(key, **params)


def _choice_label(option: str) -> str:
    if option == UNDECIDED:
        return tr("import.choose")
    if option == imports.CREATE:
        return tr("import.create")
    if option == imports.OTHER:
        return tr("import.file_under_other")
    return tr("import.map_to", name=option.split(":", 1)[1])


def mapping_step(unknowns, names: dict[str, list[str]], key: str) -> dict:
    """One line per unknown name: map it to an existing one, create it, or (categories) file it under 其他."""
    decisions = {}
    st.subheader(tr("import.mapping"))
    st.caption(tr("import.mapping_help"))
    for index, unknown in enumerate(unknowns):
        options = [UNDECIDED] if unknown.kind == "unit" else []
        if unknown.kind in ("category", "village"):
            options.append(imports.CREATE)
        if unknown.kind == "category":
            options.append(imports.OTHER)
        nearest = [f"map:{name}" for name in unknown.suggestions]
        options += nearest + [f"map:{name}" for name in names[unknown.kind] if f"map:{name}" not in nearest]
        left, right = st.columns([2, 3])
        rows: list = unknown.rows[:8] + (["…"] if len(unknown.rows) > 8 else [])
        left.markdown(f"**{tr('import.kind_' + unknown.kind)}** · {plain(unknown.value)}")
        left.caption(said("import.used_in", {"count": len(unknown.rows), "rows": rows,
                                             "near": unknown.suggestions or "—"}))
        choice = right.selectbox(tr("import.decision"), options, format_func=_choice_label,
                                 key=f"map_{key}_{index}", label_visibility="collapsed")
        if choice == imports.CREATE or choice == imports.OTHER:
            decisions[(unknown.kind, unknown.value)] = imports.Decision(choice)
        elif choice.startswith("map:"):
            decisions[(unknown.kind, unknown.value)] = imports.Decision(imports.MAP, choice.split(":", 1)[1])
    return decisions


def import_tab(actor) -> None:
    """Read and check the whole file first; map unknown names; nothing is written until accepted."""
    st.caption(tr("import.help"))
    upload = st.file_uploader(tr("import.file"), type=["xlsx", "xls", "ods", "csv"], key="import_file")
    cols = st.columns([3, 1, 1])
    title = cols[0].text_input(tr("col.source_title"), key="import_source", help=tr("import.source_help"))
    kind = cols[1].selectbox(tr("col.kind"), codes(SourceKind), index=codes(SourceKind).index("inspection"),
                             format_func=lambda k: lbl(k, SourceKind), key="import_kind", placeholder=tr("ui.choose"))
    year = cols[2].number_input(tr("import.year"), min_value=2000, max_value=2100, value=clock.today().year,
                                key="import_year")
    if upload is None:
        aliases_section(actor)
        return
    data = upload.getvalue()
    try:
        parsed = read_upload(data, int(year), upload.name)
        with reading() as session:
            first = imports.preview_import(session, actor, parsed, filename=upload.name)
            names = imports.mapping_names(session)
    except DomainError as error:
        st.error(said(error.key, error.params))
        return
    decisions = mapping_step(first.unknowns, names, parsed.file_sha256[:12]) if first.unknowns else {}
    preview = first
    if decisions:
        try:
            with reading() as session:
                preview = imports.preview_import(session, actor, parsed, filename=upload.name, decisions=decisions)
        except DomainError as error:
            st.error(said(error.key, error.params))
            return
    st.markdown(tr("import.summary", rows=len(parsed.rows), new=len(preview.rows), updated=len(preview.updates),
                   known=preview.already_imported, skipped=len(preview.skipped), errors=len(preview.errors)))
    for phrase in preview.phrases():
        st.caption(said(phrase.key, phrase.params))
    if preview.errors:
        st.error(tr("import.refused", count=len(preview.errors)))
        st.dataframe(pd.DataFrame([{tr("import.row"): e.excel_row, tr("import.column"): e.column or "",
                                    tr("col.reason"): told(e.key, e.params)} for e in preview.errors]),
                     hide_index=True, width="stretch")
    skipped = preview.skipped + preview.unchanged
    if skipped:
        with st.expander(tr("import.skipped_rows", count=len(skipped))):
            st.dataframe(pd.DataFrame([{tr("import.row"): s.excel_row, tr("col.reason"): told(s.key, s.params)}
                                       for s in skipped]), hide_index=True, width="stretch")
    if preview.updates:
        st.dataframe(pd.DataFrame([{tr("import.row"): u.row.excel_row, tr("col.serial"): u.serial,
                                    tr("import.new_progress"): u.new_progress or "",
                                    tr("import.closure"): "✔" if u.apply_closure else ""} for u in preview.updates]),
                     hide_index=True, width="stretch")
    if preview.rows:
        st.dataframe(pd.DataFrame([{tr("import.row"): r.row.excel_row, tr("col.description"): r.row.description,
                                    tr("col.lead_unit"): r.lead_unit_name, tr("import.measures"): len(r.row.measures),
                                    tr("col.deadline"): str(r.current_deadline or ""),
                                    tr("col.status"): lbl(imports.STATE_STATUS[r.row.state].value, Status)}
                                   for r in preview.rows[:200]]), hide_index=True, width="stretch")
    if not preview.errors and (preview.rows or preview.updates) and st.button(
            tr("import.confirm"), type="primary", key="import_confirm"):
        try:
            summary = imports.commit_retrying(engine(), actor, preview, source_title=title, source_kind=kind,
                                              default_year=int(year), filename=upload.name, decisions=decisions)
        except DomainError as error:
            st.error(said(error.key, error.params))
            return
        flash("import.done", imported=summary.imported, closed=summary.closed, updated=summary.updated,
              known=summary.already_imported, created=len(summary.created_categories))
        st.rerun()
    aliases_section(actor)


def aliases_section(actor) -> None:
    """Names remembered by earlier mappings: each office's own names for units, categories and villages."""
    with st.expander(tr("import.aliases")):
        with reading() as session:
            aliases = imports.list_aliases(session, actor)
            names = imports.mapping_names(session)
        if aliases:
            st.dataframe(pd.DataFrame([{tr("import.kind"): tr("import.kind_" + a["kind"]), tr("import.alias"): a["alias"],
                                        tr("import.target"): a["target"]} for a in aliases]),
                         hide_index=True, width="stretch")
            with st.form("delete_alias"):
                by_id = {a["id"]: a for a in aliases}
                chosen = st.selectbox(tr("import.alias"), list(by_id), key="da_alias",
                                      format_func=lambda i: f"{by_id[i]['alias']} → {by_id[i]['target']}")
                if st.form_submit_button(tr("import.delete_alias")):
                    if run_service(imports.delete_alias, actor, chosen):
                        flash("ui.saved")
                        st.rerun()
        with st.form("add_alias"):
            cols = st.columns(3)
            kind = cols[0].selectbox(tr("import.kind"), ["unit", "category", "village"], key="aa_kind",
                                     format_func=lambda k: tr("import.kind_" + k))
            alias = cols[1].text_input(tr("import.alias"), key="aa_alias")
            target = cols[2].selectbox(tr("import.target"), names[kind], key=f"aa_target_{kind}")
            if st.form_submit_button(tr("import.add_alias")):
                if run_service(imports.add_alias, actor, kind=kind, alias=alias, target=target):
                    flash("ui.saved")
                    st.rerun()


def render() -> None:
    actor = navigation.require("admin")
    show_flash()
    st.title(tr("page.admin"))
    with reading() as session:
        units = views.choices(session)["units"]
    tabs = st.tabs([tr("admin.tab_users"), tr("admin.tab_units"), tr("admin.tab_villages"),
                    tr("admin.tab_categories"), tr("admin.tab_settings"), tr("admin.tab_import"),
                    tr("admin.tab_notify"), tr("admin.tab_api")])
    with tabs[0]:
        users_tab(actor, units)
    with tabs[1]:
        units_tab(actor)
    with tabs[2]:
        villages_tab(actor)
    with tabs[3]:
        categories_tab(actor)
    with tabs[4]:
        settings_tab(actor)
    with tabs[5]:
        import_tab(actor)
    with tabs[6]:
        from pages.admin_notify import notify_tab

        notify_tab(actor, units)
    with tabs[7]:
        from pages.admin_api import api_tab

        api_tab(actor, units)
