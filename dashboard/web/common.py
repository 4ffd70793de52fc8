"""What every route of ours shares: the database engine and the caller's language."""
from __future__ import annotations

from starlette.requests import Request

from dashboard.i18n import LANGUAGES
from db.engine import default_engine


def database():
    """The same engine the pages use (``DATABASE_URL``, else the SQLite file)."""
    return default_engine()


def request_language(request: Request) -> str:
    """The first language of ``Accept-Language`` that we have; Chinese otherwise."""
    for part in request.headers.get("accept-language", "").split(","):
        code = part.split(";")[0].strip().lower()[:2]
        if code in LANGUAGES:
            return code
    return "zh"
