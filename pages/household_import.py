"""导入监测对象 Household import (administrator): the national system's export, read and checked whole; the
broken rows and unknown places are listed and nothing is written until the file is clean."""
from __future__ import annotations

import streamlit as st

from dashboard import clock
from dashboard.errors import DomainError
from dashboard.services import household_import
from dashboard.ui import navigation
from dashboard.ui.context import reading, run_service, shown, show_flash, tr


def render() -> None:
    actor = navigation.require("household_import")
    show_flash()
    st.title(tr("page.household_import"))
    st.caption(tr("hh.import_help"))
    upload = st.file_uploader(tr("hh.import_file"), type=["xlsx", "xls", "ods", "csv"], key="hh_import_file")
    year = st.number_input(tr("hh.income_year"), 2000, 2100, clock.today().year, key="hh_import_year")
    if upload is None:
        return
    try:
        with reading() as session:
            preview = household_import.preview_households(session, actor, upload.getvalue(), filename=upload.name,
                                                          year=int(year))
    except DomainError as error:
        st.error(shown(error))
        return
    st.write(tr("hh.import_preview", households=len(preview.parsed.households), rows=preview.parsed.rows_read,
                new=preview.new, existing=preview.existing, skipped=preview.parsed.skipped))
    if not preview.ok:
        st.error(tr("error.hh_import_refused", count=len(preview.parsed.errors) + len(preview.unknown_places)))
        for message in preview.messages(st.session_state.get("lang", "zh"))[:200]:
            st.write(message)
        return
    if st.button(tr("hh.import_commit"), type="primary", key="hh_import_go"):
        summary = run_service(household_import.commit_households, actor, preview)
        if summary:
            st.success(tr("cli.hh_imported", created=summary.created, updated=summary.updated,
                          unchanged=summary.unchanged, members=summary.members, skipped=summary.skipped,
                          flagged=summary.flagged_ids, twice=summary.in_two_households))
            for line in summary.messages(st.session_state.get("lang", "zh"))[:200]:
                st.warning(line)
