"""``/api/v1``: the JSON API other systems use (a province's platform, a WeCom mini-program, DefectDojo-style
integrations), on the same services and policy as the pages. FastAPI mounted in ``st.App`` gives the request
validation and the OpenAPI document (``/api/v1/openapi.json``).

Every call needs ``Authorization: Bearer <token>`` (``services.api_tokens``): 401 without a valid one, 403 for
a scope the token lacks, 429 past the rate limit. Refusals are JSON, ``{"error": key, "message": text}``, the
text in the caller's ``Accept-Language`` (Chinese by default).
"""
from __future__ import annotations

import hashlib
import json
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from dashboard import metrics
from dashboard.errors import ConflictError, DomainError, InvalidState, NotFound, PermissionDenied, ValidationFailed
from dashboard.i18n import t
from dashboard.services import api_tokens, imports, rollups, views
from dashboard.services import findings as finding_service
from dashboard.services.api_tokens import Caller, Scope, TokenRefused
from dashboard.services.queries import LedgerFilter, ledger_page, stats
from dashboard.services.unit_of_work import run_in_unit_of_work, unit_of_work
from dashboard.settings import load_settings
from dashboard.web.common import database, request_language
from db.engine import read_session
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool
from db.models import Unit

PAGE_SIZE_MAX = 500
STATUS_OF = {PermissionDenied: 403, NotFound: 404, ConflictError: 409, InvalidState: 409, ValidationFailed: 422}

api = FastAPI(title="督查整改台账 API", version="1", openapi_url="/openapi.json", docs_url=None, redoc_url=None,
              servers=[{"url": "/api/v1"}])


@api.middleware("http")
async def _count(request: Request, call_next):
    response = await call_next(request)
    route = request.scope.get("route")
    metrics.API_CALLS.labels(route=getattr(route, "path", "unmatched"), status=str(response.status_code)).inc()
    return response


def refusal(request: Request, status: int, key: str, **params: Any) -> JSONResponse:
    return JSONResponse({"error": key, "message": t(key, request_language(request), **params)}, status_code=status)


@api.exception_handler(TokenRefused)
def _token_refused(request: Request, refused: TokenRefused) -> JSONResponse:
    response = refusal(request, refused.status, refused.key)
    if refused.status == 401:
        response.headers["WWW-Authenticate"] = "Bearer"
    return response


@api.exception_handler(DomainError)
def _domain_refused(request: Request, error: DomainError) -> JSONResponse:
    status = next((code for kind, code in STATUS_OF.items() if isinstance(error, kind)), 422)
    return JSONResponse({"error": error.key, "message": error.message(request_language(request))}, status_code=status)


@api.exception_handler(RequestValidationError)
def _invalid_request(request: Request, error: RequestValidationError) -> JSONResponse:
    detail = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors())
    return refusal(request, 422, "api.bad_request", detail=detail)


@api.exception_handler(StarletteHTTPException)
def _http_refused(request: Request, error: StarletteHTTPException) -> JSONResponse:
    key = "api.not_found" if error.status_code == 404 else "api.bad_request"
    return refusal(request, error.status_code, key, detail=str(error.detail))


def caller(request: Request, authorization: Annotated[str | None, Header()] = None) -> Caller:
    """The token's caller; the call is in the audit log (and counted by the rate limit) before anything is read."""
    token = authorization[7:].strip() if authorization and authorization[:7].lower() == "bearer " else None
    with unit_of_work(database()) as session:
        return api_tokens.authenticate(session, token, request.method, request.url.path)


Authorized = Annotated[Caller, Depends(caller)]


@api.get("/stats", summary="The leadership figures (the object `python -m dashboard stats --json` prints)")
def get_stats(who: Authorized) -> Any:
    who.actor(Scope.FIGURES_READ)
    engine = database()
    rollups.refresh_if_stale(engine)
    with read_session(engine) as session:
        figures = stats(session)
    return json.loads(json.dumps(figures, ensure_ascii=False, default=str))


class FindingRow(BaseModel):
    serial: str
    source: str
    category: str
    description: str
    township: str | None
    village: str | None
    lead_unit: str
    status: str
    light: str
    rect_type: str
    priority: str
    original_deadline: str | None
    current_deadline: str | None
    days_overdue: int
    version: int


class FindingPage(BaseModel):
    total: int
    page: int
    page_size: int
    items: list[FindingRow]


def _row(row: dict[str, Any]) -> FindingRow:
    dates = {key: (str(row[key]) if row[key] else None) for key in ("original_deadline", "current_deadline")}
    return FindingRow(**{key: row[key] for key in FindingRow.model_fields if key not in dates}, **dates)


def _unit_id(session, name: str | None) -> int | None:
    if not name:
        return None
    unit_id = session.execute(select(Unit.id).where(Unit.name == name.strip())).scalar()
    if unit_id is None:
        raise NotFound("api.unit_unknown", name=name)
    return unit_id


@api.get("/findings", response_model=FindingPage, summary="The ledger: its filters, paged, with an ETag")
def list_findings(who: Authorized, request: Request,
                  status: Annotated[list[str], Query()] = [],  # noqa: B006 - FastAPI reads the default, never changes it
                  light: Annotated[list[str], Query()] = [],  # noqa: B006 - as above
                  lead_unit: str | None = None, township: str | None = None, keyword: str = "",
                  overdue_only: bool = False, sort: str = "serial", descending: bool = False,
                  page: Annotated[int, Query(ge=1)] = 1,
                  page_size: Annotated[int, Query(ge=1, le=PAGE_SIZE_MAX)] = 100) -> Response:
    actor = who.actor(Scope.FINDINGS_READ)
    with read_session(database()) as session:
        flt = LedgerFilter(statuses=status, lights=light, lead_unit_id=_unit_id(session, lead_unit),
                           township=township, keyword=keyword, overdue_only=overdue_only,
                           involved_unit_ids=who.unit_ids)
        rows, total = ledger_page(session, actor, flt, page=page, page_size=page_size, sort=sort,
                                  descending=descending)
    body = FindingPage(total=total, page=page, page_size=page_size, items=[_row(row) for row in rows])
    content = body.model_dump_json().encode("utf-8")
    etag = '"' + hashlib.sha256(content).hexdigest()[:32] + '"'
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers={"ETag": etag})
    return Response(content, media_type="application/json", headers={"ETag": etag})


class Progress(BaseModel):
    reported_at: str
    done_text: str
    next_text: str
    percent: int


class FindingOne(BaseModel):
    serial: str
    description: str
    status: str
    light: str
    days_overdue: int
    lead_unit: str
    co_units: list[str]
    category: str
    original_deadline: str | None
    current_deadline: str | None
    measures: list[dict[str, Any]]
    progress: list[Progress]
    version: int


def _visible_finding(session, who: Caller, serial: str):
    actor = who.actor(Scope.FINDINGS_READ)
    finding_id = views.finding_id_by_serial(session, serial)
    if finding_id is None:
        raise NotFound("api.not_found")
    detail = views.finding_detail(session, actor, finding_id)
    if who.unit_ids and not ({detail.finding.lead_unit_id, *detail.co_unit_ids} & set(who.unit_ids)):
        raise NotFound("api.not_found")  # outside the token's units: as if it did not exist
    return detail


@api.get("/findings/{serial}", response_model=FindingOne, summary="One finding, with its measures and progress")
def get_finding(serial: str, who: Authorized) -> FindingOne:
    with read_session(database()) as session:
        detail = _visible_finding(session, who, serial)
    finding = detail.finding
    return FindingOne(
        serial=finding.serial, description=finding.description, status=finding.status, light=detail.light,
        days_overdue=detail.days_overdue, lead_unit=detail.lead_unit, co_units=detail.co_units,
        category=detail.category, original_deadline=str(finding.original_deadline or "") or None,
        current_deadline=str(finding.current_deadline or "") or None,
        measures=[{"seq": m.seq, "text": m.text, "deadline": str(m.deadline or "") or None, "done": m.done}
                  for m in detail.measures],
        progress=[Progress(reported_at=p.reported_at.isoformat(sep=" "), done_text=p.done_text, next_text=p.next_text,
                           percent=p.percent) for p in detail.progress],
        version=finding.version)


class ProgressReport(BaseModel):
    done_text: str = Field(min_length=1, max_length=4000)
    next_text: str = Field(default="", max_length=4000)
    percent: int = Field(default=0, ge=0, le=100)
    version: int = Field(description="the finding's version as last read; a stale one is refused with 409")


class ProgressWritten(BaseModel):
    serial: str
    status: str
    version: int


@api.post("/findings/{serial}/progress", response_model=ProgressWritten, status_code=201,
          summary="Report a unit's progress on a finding (409 when the finding changed since `version`)")
def post_progress(serial: str, report: ProgressReport, who: Authorized) -> ProgressWritten:
    actor = who.actor(Scope.FINDINGS_PROGRESS)
    engine = database()
    with read_session(engine) as session:
        finding_id = views.finding_id_by_serial(session, serial)
    if finding_id is None:
        raise NotFound("api.not_found")
    progress = run_in_unit_of_work(engine, finding_service.report_progress, actor, finding_id,
                                   done_text=report.done_text, next_text=report.next_text, percent=report.percent,
                                   expected_version=report.version)
    with read_session(engine) as session:
        finding = views.finding_detail(session, actor, progress.finding_id).finding
    return ProgressWritten(serial=finding.serial, status=finding.status, version=finding.version)


@api.post("/imports", summary="A ledger file (the request body): a preview; then, with commit=<preview_id>, "
                              "the commit of exactly that file")
async def post_import(request: Request, who: Authorized, filename: str = "ledger.xlsx", source: str = "",
                      year: int | None = None, create_categories: bool = False,
                      map: Annotated[list[str], Query()] = [],  # noqa: A002, B006 - named as the CLI's --map (旧=新); FastAPI never changes the default
                      commit: str | None = None) -> Any:
    actor = who.actor(Scope.LEDGER_IMPORT)
    data = await request.body()
    return await run_in_threadpool(_import, request, actor, data, filename, source, year, create_categories,
                                   list(map), commit)


def _import(request: Request, actor, data: bytes, filename: str, source: str, year: int | None,
            create_categories: bool, pairs: list[str], commit: str | None) -> Any:
    engine = database()
    with read_session(engine) as session:
        limit_mb = load_settings(session).max_upload_mb
    if len(data) > limit_mb * 1024 * 1024:
        return refusal(request, 413, "api.too_large", limit=limit_mb)
    preview_id = hashlib.sha256(data).hexdigest()
    if commit is not None and commit != preview_id:
        return refusal(request, 409, "api.preview_changed")
    parsed = imports.read_ledger(data, default_year=year, filename=filename)
    decisions = imports.decisions_from_pairs(pairs)
    with read_session(engine) as session:
        preview = imports.preview_import(session, actor, parsed, decisions=decisions, filename=filename,
                                         create_categories=create_categories)
    lang = request_language(request)
    problems = [t(imports.at_row(e).key, lang, **imports.at_row(e).params) for e in preview.errors]
    described = {"preview_id": preview_id, "ok": preview.ok and not preview.unresolved,
                 "new": len(preview.rows), "updates": len(preview.updates), "unchanged": len(preview.unchanged),
                 "skipped": len(preview.skipped), "messages": preview.messages(lang), "errors": problems,
                 "unknown_names": [{"kind": u.kind, "value": u.value, "rows": len(u.rows),
                                    "suggestions": list(u.suggestions)} for u in preview.unresolved]}
    if commit is None:
        return described
    if not described["ok"]:
        return JSONResponse({**described, "error": "api.import_refused",
                             "message": t("api.import_refused", lang,
                                          count=len(preview.errors) + len(preview.unresolved))}, status_code=422)
    summary = imports.commit_retrying(engine, actor, preview, source_title=source, default_year=year,
                                      filename=filename, decisions=decisions, create_categories=create_categories)
    return {**described, "committed": True, "imported": summary.imported, "updated": summary.updated,
            "summary": summary.message(lang)}
