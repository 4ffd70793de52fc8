"""``/auth/session`` and ``/auth/logout``: the only places the session cookie is set or cleared.

Both accept only a same-origin form POST (the ``Origin`` header's host must be the request's own), so no other
site can sign a user in or out. ``/auth/session`` also needs the one-time ticket a successful sign-in gave the
page (``services.web_sessions.exchange``: once, within a minute); it answers with the session id in an
``HttpOnly``, ``SameSite=Strict`` cookie (``Secure`` over HTTPS), and sends the browser back to the app.
"""
from __future__ import annotations

import os
from urllib.parse import urlsplit

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from dashboard.i18n import t
from dashboard.services import web_sessions
from dashboard.services.unit_of_work import unit_of_work
from dashboard.settings import load_settings
from dashboard.web.common import database, request_language

SESSION_COOKIE = "zhenggai_session"


def over_https(request: Request) -> bool:
    """``DASHBOARD_HTTPS=1``, or the request came over HTTPS (directly, or as the proxy's X-Forwarded-Proto says)."""
    if os.environ.get("DASHBOARD_HTTPS", "").strip().lower() in ("1", "true", "yes"):
        return True
    return request.url.scheme == "https" or request.headers.get("x-forwarded-proto", "").lower() == "https"


def same_origin(request: Request) -> bool:
    """The form was posted by a page of this site: its ``Origin`` names the host the request was sent to. (Only the
    host: nginx passes ``Host`` without the port.)"""
    origin = request.headers.get("origin", "")
    host = request.headers.get("host", "")
    if not origin or origin == "null" or not host:
        return False
    return urlsplit(origin).hostname == urlsplit(f"//{host}").hostname


def _refusal(request: Request, key: str, status: int) -> Response:
    return JSONResponse({"error": key, "message": t(key, request_language(request))}, status_code=status)


def _exchange(ticket: str) -> tuple[str | None, int]:
    with unit_of_work(database()) as session:
        return web_sessions.exchange(session, ticket), load_settings(session).session_max_hours


async def start_session(request: Request) -> Response:
    if not same_origin(request):
        return _refusal(request, "web.origin_refused", 403)
    ticket = str((await request.form()).get("ticket", ""))
    session_id, lifetime_hours = await run_in_threadpool(_exchange, ticket)
    if session_id is None:
        return _refusal(request, "web.ticket_refused", 403)
    response = RedirectResponse("/", status_code=303)
    response.set_cookie(SESSION_COOKIE, session_id, max_age=lifetime_hours * 3600, path="/", httponly=True,
                        samesite="strict", secure=over_https(request))
    return response


async def end_session(request: Request) -> Response:
    """Clears the cookie; the session itself was already ended in the database by the page."""
    if not same_origin(request):
        return _refusal(request, "web.origin_refused", 403)
    response = RedirectResponse("/", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict", secure=over_https(request))
    return response


def routes() -> list[Route]:
    return [Route("/auth/session", start_session, methods=["POST"]),
            Route("/auth/logout", end_session, methods=["POST"])]
