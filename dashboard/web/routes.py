"""Every route of ours that ``st.App`` serves beside Streamlit's own."""
from __future__ import annotations

from starlette.routing import Mount

from dashboard import metrics
from dashboard.web import metrics_route, session_routes
from dashboard.web.common import database


def all_routes() -> list:
    from dashboard.web.api import api  # FastAPI: imported when the server starts, not by every page

    metrics.watch_database(database)
    return [*session_routes.routes(), *metrics_route.routes(), Mount("/api/v1", app=api)]
