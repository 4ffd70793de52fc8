"""运行状态 System health (admin): database, migrations, roll-ups, worker, backup age, disk space."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import config
from dashboard.services import health
from dashboard.ui import navigation
from dashboard.ui.context import engine, tr


def render() -> None:
    actor = navigation.require("health")
    st.title(tr("page.health"))
    st.button(tr("health.refresh"), icon=":material/refresh:")
    found = health.checks(engine(), actor, backup_dir=config.backup_dir(), disk_path=config.backup_dir())
    status = {True: tr("health.ok"), False: tr("health.problem"), None: tr("health.unknown")}
    st.dataframe(pd.DataFrame([{
        tr("health.check"): tr(f"health.{check.key}"), tr("health.status"): status[check.ok],
        tr("health.detail"): tr(check.detail_key, **check.params),
    } for check in found]), hide_index=True, width="stretch",
        column_config={tr("health.check"): st.column_config.TextColumn(width="medium"),
                       tr("health.status"): st.column_config.TextColumn(width="small"),
                       tr("health.detail"): st.column_config.TextColumn(width="large")})
