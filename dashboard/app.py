"""Entry point: ``streamlit run dashboard/app.py`` (or ``python -m dashboard run``)."""
from __future__ import annotations

import logging
import secrets
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # streamlit puts only this file's folder on the path
    sys.path.insert(0, str(ROOT))

import streamlit as st  # noqa: E402

from dashboard import config, logs  # noqa: E402
from dashboard.i18n import LANGUAGES  # noqa: E402
from dashboard.ui import auth, navigation  # noqa: E402
from dashboard.ui.context import lang, lbl, reading, tr  # noqa: E402
from dashboard.ui.safe import plain  # noqa: E402
from db.models import Unit  # noqa: E402

# the icon is a local file: a :material/…: page icon makes every browser fetch it from fonts.gstatic.com,
# which the Content-Security-Policy (deploy/) forbids and networks without Google cannot reach
st.set_page_config(page_title="督查整改台账", page_icon=str(ROOT / "dashboard" / "assets" / "icon.png"), layout="wide")
if config.is_production():  # also when started with a bare `streamlit run`, not `python -m dashboard run`
    st.set_option("client.showErrorDetails", "none")


def language_switch() -> None:
    names = {"zh": "中文", "en": "English"}
    st.sidebar.segmented_control("Language / 语言", options=list(LANGUAGES), format_func=names.get,
                                 key="lang", default=lang())
    if not st.session_state.get("lang"):
        st.session_state["lang"] = "zh"


def user_card(actor) -> None:
    with reading() as session:
        unit = session.get(Unit, actor.unit_id).name if actor.unit_id else tr("ui.no_unit")
    with st.sidebar.container(border=True):
        st.markdown(f"**{plain(actor.display_name)}** · {lbl(actor.role)}")
        st.caption(f"{tr('field.unit')}: {plain(unit)}")
        if st.button(tr("login.logout"), key="sign_out", icon=":material/logout:", width="stretch"):
            auth.logout(actor)


def main(line: dict) -> None:
    line["page"] = "login"
    language_switch()
    try:
        actor = auth.signed_in_actor()
    except auth.CookieKeyMissing as missing:
        st.error(str(missing))
        st.stop()
    if actor is None:
        if not config.is_production():  # production has no demo accounts to point at
            st.caption(tr("login.hint"))
        st.stop()
    line.update(user=actor.username, role=str(actor.role))
    user_card(actor)
    navigation.build(actor)
    page = st.navigation(list(st.session_state["_pages"].values()), position="sidebar")
    line["page"] = page.url_path or "overview"
    page.run()


def guarded(run) -> None:
    """In production an unexpected error shows a short message with an error id; the traceback,
    file paths and SQL go to the server's log only (``client.showErrorDetails`` is ``none`` there too).
    In demo mode the error is shown as Streamlit shows it, for the developer."""
    if not config.is_production():
        run()
        return
    try:
        run()
    except Exception:  # Streamlit's stop and rerun are BaseExceptions and pass through
        error_id = secrets.token_hex(4)
        logging.getLogger("dashboard").error("unexpected error %s", error_id, exc_info=True)
        st.error(tr("ui.unexpected_error", error_id=error_id))


with logs.timed("page") as access_line:  # one JSON line per script run: user, page, duration
    guarded(lambda: main(access_line))
