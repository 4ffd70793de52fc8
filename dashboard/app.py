"""Entry point: ``streamlit run dashboard/app.py`` (or ``python -m dashboard run``)."""
from __future__ import annotations

import logging
import secrets
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # streamlit puts only this file's folder on the path
    sys.path.insert(0, str(ROOT))

import streamlit as st  # noqa: E402 - after the path set-up above

from dashboard import config, logs, metrics  # noqa: E402 - after the path set-up above
from dashboard.i18n import LANGUAGES  # noqa: E402 - after the path set-up above
from dashboard.ui import auth, navigation  # noqa: E402 - after the path set-up above
from dashboard.ui.context import begin_run, lang, tr  # noqa: E402 - after the path set-up above
from dashboard.ui.shell import user_card  # noqa: E402 - after the path set-up above
from dashboard.ui.widgets import PAGE_CSS  # noqa: E402 - after the path set-up above

# the icon is a local file: a :material/…: page icon makes every browser fetch it from fonts.gstatic.com,
# which the Content-Security-Policy (deploy/) forbids and networks without Google cannot reach
st.set_page_config(page_title="督查整改台账", page_icon=str(ROOT / "dashboard" / "assets" / "icon.png"), layout="wide")
if config.is_production():  # also when started with a bare `streamlit run`, not `python -m dashboard run`
    st.set_option("client.showErrorDetails", "none")


# Streamlit's own widget texts are English whatever the page's language, and its API has no parameter for
# these few (1.67): the "Press Enter to apply" hint under text inputs outside forms (forms here use
# enter_to_submit=False, which drops theirs), and the file uploader's "Upload" button and "… per file"
# line (each uploader states its limit and types in its own help line instead), and the "Stop" button
# shown while a page runs. Matched by the data-testid attributes Streamlit's own tests use, the
# steadiest hooks it offers. (Left as they are: "No results" when a select box's search matches
# nothing, and the items of Streamlit's own ⋮ menu.)
CHROME_CSS = """
<style>
[data-testid="InputInstructions"] {display: none !important;}
[data-testid="stFileUploaderDropzoneInstructions"] {display: none !important;}
[data-testid="stFileUploaderDropzone"] button [data-testid="stMarkdownContainer"] {display: none !important;}
[data-testid="stFileUploaderDropzone"] button::after {content: var(--upload-label); margin-left: 0.4rem;}
[data-testid="stStatusWidget"] button {font-size: 0 !important;}
[data-testid="stStatusWidget"] button::after {content: var(--stop-label); font-size: 0.875rem;}
</style>
"""


def chrome_texts() -> None:
    upload, stop = (tr(key).replace('"', "") for key in ("ui.upload_button", "ui.stop_button"))
    st.html(CHROME_CSS + PAGE_CSS + f'<style>:root {{--upload-label: "{upload}"; --stop-label: "{stop}";}}</style>')


def language_switch() -> None:
    names = {"zh": "中文", "en": "English"}
    st.sidebar.segmented_control("Language / 语言", options=list(LANGUAGES), format_func=names.get,
                                 key="lang", default=lang())
    if not st.session_state.get("lang"):
        st.session_state["lang"] = "zh"


def main(line: dict) -> None:
    line["page"] = "login"
    begin_run()
    language_switch()
    chrome_texts()
    actor = auth.signed_in_actor()
    if actor is None:
        if not config.is_production():  # production has no demo accounts to point at
            st.caption(tr("login.hint"))
        st.stop()
    line.update(user=actor.username, role=str(actor.role))
    pages = navigation.build(actor)  # first: the sidebar's unread button switches to a built page
    user_card(actor)
    page = st.navigation(pages, position="sidebar", expanded=True)  # never an English "View N more" button
    line["page"] = page.url_path or navigation.home_key(actor.role)
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


def counted(line: dict) -> None:
    metrics.page_run(line.get("page", ""), line["status"], line["duration_ms"] / 1000)


with logs.timed("page", on_done=counted) as access_line:  # one JSON line per script run: user, page, duration
    guarded(lambda: main(access_line))
