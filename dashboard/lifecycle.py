"""The finding lifecycle and who may do what: the gates, in one place.

``PERMISSIONS`` is the role × action matrix of the SPEC; ``SCOPES`` says whose findings an
allowed role may act on; ``TRANSITIONS`` says from which states an action may start and
where it leads. The services call ``authorize`` before every change; the tests walk
every cell of these tables.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Iterable

from dashboard.errors import InvalidState, PermissionDenied
from dashboard.i18n import label, t
from dashboard.vocab import Role, Status

A, L, I, D = Role.ADMIN, Role.LEADER, Role.INSPECTOR, Role.DEPARTMENT


class Action(StrEnum):
    CREATE_SOURCE = "create_source"
    LOG_FINDING = "log_finding"
    EDIT_FINDING = "edit_finding"
    REPORT_PROGRESS = "report_progress"
    ATTACH_EVIDENCE = "attach_evidence"
    TICK_MEASURE = "tick_measure"
    REQUEST_EXTENSION = "request_extension"
    DECIDE_EXTENSION = "decide_extension"
    APPLY_CLOSURE = "apply_closure"
    CLOSE = "close"
    SEND_BACK = "send_back"
    SET_ONGOING = "set_ongoing"
    CANCEL = "cancel"
    LOG_REPEAT = "log_repeat"
    RECORD_ESCALATION = "record_escalation"
    TAKE_SNAPSHOT = "take_snapshot"
    VIEW_ALL = "view_all"
    MANAGE_USERS = "manage_users"
    MANAGE_REFERENCE = "manage_reference"
    MANAGE_SETTINGS = "manage_settings"
    IMPORT_LEDGER = "import_ledger"
    VIEW_HEALTH = "view_health"


class Scope(StrEnum):
    ANY = "any"              # any finding
    LEAD = "lead"            # only findings the actor's unit leads
    INVOLVED = "involved"    # findings the actor's unit leads or co-operates on
    NOT_OWN = "not_own"      # separation of duties: never a finding the actor's unit is responsible for


PERMISSIONS: dict[Action, frozenset[Role]] = {
    Action.CREATE_SOURCE: frozenset({I, A}),
    Action.LOG_FINDING: frozenset({I, A}),
    Action.EDIT_FINDING: frozenset({I, A}),
    Action.REPORT_PROGRESS: frozenset({D}),
    Action.ATTACH_EVIDENCE: frozenset({D}),
    Action.TICK_MEASURE: frozenset({D}),
    Action.REQUEST_EXTENSION: frozenset({D}),
    Action.DECIDE_EXTENSION: frozenset({I}),
    Action.APPLY_CLOSURE: frozenset({D}),
    Action.CLOSE: frozenset({I}),
    Action.SEND_BACK: frozenset({I}),
    Action.SET_ONGOING: frozenset({I}),
    Action.CANCEL: frozenset({A}),
    Action.LOG_REPEAT: frozenset({I, A}),
    Action.RECORD_ESCALATION: frozenset({L, I}),
    Action.TAKE_SNAPSHOT: frozenset({L, I}),
    Action.VIEW_ALL: frozenset({L, I, A}),
    Action.MANAGE_USERS: frozenset({A}),
    Action.VIEW_HEALTH: frozenset({A}),
    Action.MANAGE_REFERENCE: frozenset({A}),
    Action.MANAGE_SETTINGS: frozenset({A}),
    Action.IMPORT_LEDGER: frozenset({A}),
}

SCOPES: dict[Action, Scope] = {
    Action.REPORT_PROGRESS: Scope.INVOLVED,
    Action.ATTACH_EVIDENCE: Scope.INVOLVED,
    Action.TICK_MEASURE: Scope.LEAD,
    Action.REQUEST_EXTENSION: Scope.LEAD,
    Action.APPLY_CLOSURE: Scope.LEAD,
    Action.DECIDE_EXTENSION: Scope.NOT_OWN,
    Action.CLOSE: Scope.NOT_OWN,
    Action.SEND_BACK: Scope.NOT_OWN,
    Action.SET_ONGOING: Scope.NOT_OWN,
}

O, P, R, G, C, X = (Status.OPEN, Status.IN_PROGRESS, Status.PENDING_REVIEW, Status.ONGOING,
                    Status.CLOSED, Status.CANCELLED)

# action -> {status it may start from: status it leads to}
TRANSITIONS: dict[Action, dict[Status, Status]] = {
    Action.EDIT_FINDING: {O: O, P: P, G: G},
    Action.REPORT_PROGRESS: {O: P, P: P, G: G},
    Action.ATTACH_EVIDENCE: {O: P, P: P, G: G},
    Action.TICK_MEASURE: {O: P, P: P, G: G},
    Action.REQUEST_EXTENSION: {O: O, P: P},
    Action.DECIDE_EXTENSION: {O: O, P: P, R: R},
    Action.APPLY_CLOSURE: {P: R, G: R},
    Action.CLOSE: {R: C},
    Action.SEND_BACK: {R: P},
    Action.SET_ONGOING: {R: G},
    Action.CANCEL: {O: X, P: X, R: X, G: X},
    Action.RECORD_ESCALATION: {O: O, P: P, R: R, G: G},
}

# States in which the deadline in force counts (overdue, due soon) and in which silence counts (stale).
DEADLINE_STATES = frozenset({O, P, R})
STALE_STATES = frozenset({O, P, G})
ACTIVE_STATES = frozenset({O, P, R, G})
FINAL_STATES = frozenset({C, X})


@dataclass(frozen=True)
class Actor:
    """Who is acting: built from the signed-in user on every run."""

    id: int
    username: str
    role: Role
    unit_id: int | None = None
    display_name: str = ""


def may(role: Role | str, action: Action) -> bool:
    return Role(role) in PERMISSIONS[action]


def check_role(actor: Actor, action: Action) -> None:
    if not may(actor.role, action):
        raise PermissionDenied("error.role_denied", role=label(Role(actor.role)), action=t(f"action.{action}"))


def check_unit(actor: Actor, action: Action, lead_unit_id: int, co_unit_ids: Iterable[int]) -> None:
    scope = SCOPES.get(action, Scope.ANY)
    if scope is Scope.ANY:
        return
    responsible = {lead_unit_id, *co_unit_ids}
    if scope is Scope.NOT_OWN:
        if actor.unit_id is not None and actor.unit_id in responsible:
            raise PermissionDenied("error.own_unit_close")
        return
    if actor.unit_id is None:
        raise PermissionDenied("error.no_unit")
    allowed = {lead_unit_id} if scope is Scope.LEAD else responsible
    if actor.unit_id not in allowed:
        raise PermissionDenied("error.unit_denied", action=t(f"action.{action}"))


def next_status(action: Action, current: Status | str) -> Status:
    """Where ``action`` takes a finding in state ``current``; refuses if it may not start there."""
    current = Status(current)
    allowed = TRANSITIONS[action]
    if current not in allowed:
        if current is Status.CLOSED and action not in (Action.CLOSE,):
            raise InvalidState("error.closed_final")
        raise InvalidState("error.bad_state", status=label(current), action=t(f"action.{action}"))
    return allowed[current]


def authorize(actor: Actor, action: Action, *, status: Status | str | None = None,
              lead_unit_id: int | None = None, co_unit_ids: Iterable[int] = ()) -> Status | None:
    """Role, then unit, then state. Returns the status the action leads to (None without a finding)."""
    check_role(actor, action)
    if lead_unit_id is not None:
        check_unit(actor, action, lead_unit_id, co_unit_ids)
    if status is not None and action in TRANSITIONS:
        return next_status(action, status)
    return None


def can(actor: Actor, action: Action, *, status: Status | str | None = None,
        lead_unit_id: int | None = None, co_unit_ids: Iterable[int] = ()) -> bool:
    """The same check as ``authorize`` without raising: pages use it to offer only allowed forms."""
    try:
        authorize(actor, action, status=status, lead_unit_id=lead_unit_id, co_unit_ids=co_unit_ids)
    except (PermissionDenied, InvalidState):
        return False
    return True
