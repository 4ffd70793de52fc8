"""Tokens for ``/api/v1``: one per integration (a province's platform, a WeCom mini-program …), created by an
admin, shown once, kept as a SHA-256, with scopes, units, an expiry, revocable; every call is in the audit log,
and those rows are what the per-token rate limit counts, so every replica counts the same calls.

A call acts as an ``Actor`` named ``api:NAME`` whose role gives exactly what the scope allows, so the same
policy (``lifecycle``) and services answer the API as the pages:

- ``figures:read``: the leadership figures (``queries.stats``, as ``stats --json``);
- ``findings:read``: the ledger, of the token's units (or all): a reader who sees everything, narrowed to them;
- ``findings:progress``: progress reports for the token's one unit, as that unit's liaison would write them;
- ``ledger:import``: a ledger file, previewed and then committed, as the admin's import does.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass
from enum import StrEnum
from typing import Sequence

from sqlalchemy import func, select
from sqlmodel import Session

from dashboard import clock
from dashboard.errors import NotFound, PermissionDenied, ValidationFailed
from dashboard.lifecycle import Action, Actor, check_role
from dashboard.services.common import audit
from dashboard.vocab import Role
from db.models import ApiToken, AuditLog, Unit

CALLS_PER_MINUTE = 120
TOKEN_PREFIX = "zgt_"
CALL_ACTION = "api_call"


class Scope(StrEnum):
    FIGURES_READ = "figures:read"
    FINDINGS_READ = "findings:read"
    FINDINGS_PROGRESS = "findings:progress"
    LEDGER_IMPORT = "ledger:import"


ROLE_FOR_SCOPE = {Scope.FIGURES_READ: Role.LEADER, Scope.FINDINGS_READ: Role.LEADER,
                  Scope.FINDINGS_PROGRESS: Role.DEPARTMENT, Scope.LEDGER_IMPORT: Role.ADMIN}


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Caller:
    token_id: int
    name: str
    scopes: frozenset[str]
    unit_ids: tuple[int, ...]

    def actor(self, scope: Scope) -> Actor:
        """Who the call acts as for this scope (the audit log names ``api:NAME``)."""
        if scope not in self.scopes:
            raise PermissionDenied("api.scope_missing", scope=str(scope))
        unit_id = self.unit_ids[0] if scope is Scope.FINDINGS_PROGRESS else None
        return Actor(id=None, username=f"api:{self.name}"[:60], role=ROLE_FOR_SCOPE[scope], unit_id=unit_id,
                     display_name=self.name)


def _unit_ids(session: Session, unit_names: list[str]) -> list[int]:
    ids = []
    for name in unit_names:
        unit_id = session.execute(select(Unit.id).where(Unit.name == name.strip())).scalar()
        if unit_id is None:
            raise NotFound("api.unit_unknown", name=name)
        ids.append(unit_id)
    return ids


def create(session: Session, actor: Actor, name: str, scopes: list[str], unit_names: Sequence[str] = (),
           days: int = 90) -> str:
    """A new token; returns it (the only time it is ever shown)."""
    check_role(actor, Action.MANAGE_USERS)
    name = (name or "").strip()
    if not name or len(name) > 40:
        raise ValidationFailed("api.name_required")
    if session.execute(select(ApiToken.id).where(ApiToken.name == name)).scalar() is not None:
        raise ValidationFailed("error.duplicate_name", name=name)
    unknown = [scope for scope in scopes if scope not in set(Scope)]
    if not scopes or unknown:
        raise ValidationFailed("api.scope_unknown", scopes=unknown or ["—"], allowed=[str(s) for s in Scope])
    unit_ids = _unit_ids(session, list(unit_names))
    if Scope.FINDINGS_PROGRESS in scopes and len(unit_ids) != 1:
        raise ValidationFailed("api.progress_one_unit")
    if not 1 <= int(days) <= 366:
        raise ValidationFailed("api.days_range")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(name=name, token_hash=digest(token), scopes=sorted(set(scopes)), unit_ids=unit_ids,
                   created_by=actor.username, expires_at=clock.now() + dt.timedelta(days=int(days)))
    session.add(row)
    audit(session, actor, "create_api_token", row,
          new={"name": name, "scopes": row.scopes, "unit_ids": unit_ids, "expires_at": str(row.expires_at)})
    return token


def revoke(session: Session, actor: Actor, name: str) -> None:
    check_role(actor, Action.MANAGE_USERS)
    row = session.execute(select(ApiToken).where(ApiToken.name == (name or "").strip())
                          .with_for_update()).scalars().first()
    if row is None:
        raise NotFound("api.token_unknown", name=name)
    if row.revoked_at is None:
        row.revoked_at = clock.now()
        audit(session, actor, "revoke_api_token", row, new={"name": row.name})


def listing(session: Session, actor: Actor) -> list[ApiToken]:
    check_role(actor, Action.MANAGE_USERS)
    return list(session.execute(select(ApiToken).order_by(ApiToken.created_at.desc())).scalars())


class TokenRefused(Exception):
    """401 (no such token, revoked, expired) or 429 (too many calls); ``key`` is the catalogue key."""

    def __init__(self, key: str, status: int) -> None:
        super().__init__(key)
        self.key, self.status = key, status


def authenticate(session: Session, token: str | None, method: str, path: str) -> Caller:
    """The caller of this request, its call recorded (the audit log is also what the rate limit counts)."""
    row = session.execute(select(ApiToken).where(ApiToken.token_hash == digest(token or ""))).scalars().first() \
        if token else None
    now = clock.now()
    if row is None:
        raise TokenRefused("api.token_missing" if not token else "api.token_invalid", 401)
    if row.revoked_at is not None:
        raise TokenRefused("api.token_revoked", 401)
    if row.expires_at <= now:
        raise TokenRefused("api.token_expired", 401)
    recent = session.execute(select(func.count()).select_from(AuditLog).where(
        AuditLog.action == CALL_ACTION, AuditLog.entity == "ApiToken", AuditLog.entity_id == row.id,
        AuditLog.at > now - dt.timedelta(minutes=1))).scalar_one()
    if recent >= CALLS_PER_MINUTE:
        raise TokenRefused("api.rate_limited", 429)
    row.last_used_at = now
    session.add(AuditLog(at=now, username=f"api:{row.name}"[:60], action=CALL_ACTION, entity="ApiToken",
                         entity_id=row.id, note=f"{method} {path}"[:300]))
    return Caller(row.id, row.name, frozenset(row.scopes), tuple(row.unit_ids))
