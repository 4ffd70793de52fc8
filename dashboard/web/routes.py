"""Every route of ours that ``st.App`` serves beside Streamlit's own."""
from __future__ import annotations

from starlette.routing import Mount

from dashboard.web import session_routes


def all_routes() -> list:
    from dashboard.web.api import api  # FastAPI: imported when the server starts, not by every page

    return [*session_routes.routes(), Mount("/api/v1", app=api)]
