"""The web server: Streamlit's ASGI application (``st.App``) under uvicorn, with routes of our own beside
Streamlit's: ``/auth/…`` (the server-owned session cookie), ``/api/v1`` (the JSON API) and ``/metrics``.

``python -m dashboard run`` starts it with ``streamlit run dashboard/server.py``: Streamlit finds the
``app`` below and serves it with uvicorn, the ``--server.*`` options applying as before. The pages are
still ``dashboard/app.py``.
"""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # streamlit puts only this file's folder on the path
    sys.path.insert(0, str(ROOT))

import streamlit as st  # noqa: E402 - after the path set-up above

from dashboard.web import routes  # noqa: E402 - after the path set-up above

app = st.App(Path(__file__).with_name("app.py"), routes=routes.all_routes())
