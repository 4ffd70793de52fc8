"""Every route of ours that ``st.App`` serves beside Streamlit's own."""
from __future__ import annotations

from dashboard.web import session_routes


def all_routes() -> list:
    return [*session_routes.routes()]
