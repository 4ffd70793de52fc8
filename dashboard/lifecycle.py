"""The finding lifecycle and who may do what: the gates, in one place.

``PERMISSIONS`` is the role × action matrix of the SPEC; ``SCOPES`` says whose findings an
allowed role may act on; ``TRANSITIONS`` says from which states an action may start and
where it leads. The services call ``authorize`` before every change; the tests walk
every cell of these tables.
"""
from __future__ import annotations

import calendar
import datetime as dt
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Iterable

from dashboard.errors import DomainError, InvalidState, PermissionDenied, Phrase, ValidationFailed
from dashboard.vocab import CampaignStatus, CaseState, EliminationMethod, HouseholdState, Role, Status

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
    MANAGE_LOOKBACK = "manage_lookback"   # 回头看: create a campaign, draw, add by hand, assign, finish
    RECHECK = "recheck"                   # 回头看: record the verdict of a re-check in the field
    LOOKBACK_REPORT = "lookback_report"   # 回头看: freeze a campaign's figures and write its report
    ISSUE_LETTER = "issue_letter"              # 提醒函/督办函/通报/约谈通知书
    MANAGE_NOTIFY = "manage_notify"            # outbound channels, letter templates
    VIEW_HEALTH = "view_health"


OPERATOR_EXTRA = frozenset({Action.TAKE_SNAPSHOT})  # the command line's report takes a snapshot first


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
    Action.MANAGE_LOOKBACK: frozenset({I, A}),
    Action.RECHECK: frozenset({I}),
    Action.LOOKBACK_REPORT: frozenset({L, I, A}),
    Action.ISSUE_LETTER: frozenset({L, I}),
    Action.MANAGE_NOTIFY: frozenset({A}),
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
    Action.RECHECK: Scope.NOT_OWN,  # the same separation of duties as closing
}

O, P, R, G, C, X = (Status.OPEN, Status.IN_PROGRESS, Status.PENDING_REVIEW, Status.ONGOING,
                    Status.CLOSED, Status.CANCELLED)

# action -> {status it may start from: status it leads to}. The groups of states the warning rules use
# (DEADLINE_STATES, STALE_STATES, ACTIVE_STATES, FINAL_STATES) live beside ``Status`` in ``dashboard.vocab``,
# so that the database's partial index can be built from them too.
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



def starts_from(action: Action, status: Status | str) -> bool:
    """Whether ``action`` may start from ``status`` (the state part of ``authorize``)."""
    return Status(status) in TRANSITIONS[action]


def closure_path(status: Status | str) -> tuple[Action, ...] | None:
    """The moves, by ``TRANSITIONS``, that take a finding in ``status`` to 待销号 when a ledger marks it done
    (an import): the closure application where it may start, progress first where the finding has none
    yet (待整改); None where no path leads there (already pending review, or final)."""
    status = Status(status)
    apply = TRANSITIONS[Action.APPLY_CLOSURE]
    if status in apply:
        return (Action.APPLY_CLOSURE,)
    progressed = TRANSITIONS[Action.REPORT_PROGRESS].get(status)
    if progressed is not None and progressed in apply:
        return (Action.REPORT_PROGRESS, Action.APPLY_CLOSURE)
    return None


# --- the 回头看 campaign's lifecycle, beside the finding's ---------------------------------------------------

class CampaignStep(StrEnum):
    """What can happen to a campaign (every step is ``Action.MANAGE_LOOKBACK`` but the re-check, ``RECHECK``)."""

    DRAW = "draw"                # 抽样
    ADD_BY_HAND = "add_by_hand"  # 人工添加 a closed finding to the sample
    ASSIGN = "assign"            # one sampled finding to an inspector
    ASSIGN_ALL = "assign_all"    # share every unassigned one among inspectors
    RECHECK = "recheck"          # record a re-check's verdict
    FINISH = "finish"            # 复查完成


CD, CA, CF = CampaignStatus.DRAFT, CampaignStatus.ACTIVE, CampaignStatus.FINISHED
CAMPAIGN_FIRST = CD  # a new campaign waits for its draw

# step -> {campaign status it may start from: status it leads to}
CAMPAIGN_TRANSITIONS: dict[CampaignStep, dict[CampaignStatus, CampaignStatus]] = {
    CampaignStep.DRAW: {CD: CA},
    CampaignStep.ADD_BY_HAND: {CD: CD, CA: CA},
    CampaignStep.ASSIGN: {CD: CD, CA: CA},
    CampaignStep.ASSIGN_ALL: {CA: CA},
    CampaignStep.RECHECK: {CA: CA},
    CampaignStep.FINISH: {CA: CF},
}


def campaign_may(step: CampaignStep, status: CampaignStatus | str) -> bool:
    """Whether ``step`` may start from a campaign in ``status``: pages ask it to decide what to offer."""
    return CampaignStatus(status) in CAMPAIGN_TRANSITIONS[step]


def campaign_drawn(status: CampaignStatus | str) -> bool:
    """The campaign has its sample: it can no longer draw one."""
    return not campaign_may(CampaignStep.DRAW, status)


def campaign_next(step: CampaignStep, status: CampaignStatus | str) -> CampaignStatus:
    """Where ``step`` takes a campaign in ``status``; refuses, saying why, if it may not start there."""
    status = CampaignStatus(status)
    allowed = CAMPAIGN_TRANSITIONS[step]
    if status in allowed:
        return allowed[status]
    if step is CampaignStep.DRAW:
        raise InvalidState("error.lookback_already_drawn")
    if status is CampaignStatus.FINISHED:
        raise InvalidState("error.lookback_finished")
    raise InvalidState("error.lookback_not_active")


def extension_decidable(status: Status | str) -> bool:
    """Whether an extension request can still be decided in this state. A move into any other state
    (销号, 撤销, 持续整改) settles the pending request as withdrawn: nobody could decide it again."""
    return Status(status) in TRANSITIONS[Action.DECIDE_EXTENSION]


@dataclass(frozen=True)
class Actor:
    """Who is acting: built from the signed-in user on every run."""

    id: int | None
    username: str
    role: Role
    unit_id: int | None = None
    display_name: str = ""
    operator: bool = False  # the server's operator (``SYSTEM``), not a signed-in person


SYSTEM = Actor(id=None, username="system", role=Role.ADMIN, display_name="system", operator=True)
"""The operator of the server: the command line, the demo builder and scheduled jobs act as this
actor (the audit log names it ``system``). Services check it like anyone else: it may do what an
administrator may, and take snapshots (``OPERATOR_EXTRA``)."""


def may(role: Role | str, action: Action) -> bool:
    return Role(role) in PERMISSIONS[action]


def check_role(actor: Actor, action: Action) -> None:
    if actor.operator and action in OPERATOR_EXTRA:
        return
    if not may(actor.role, action):
        raise PermissionDenied("error.role_denied", role=Role(actor.role), action=Phrase(f"action.{action}"))


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
        raise PermissionDenied("error.unit_denied", action=Phrase(f"action.{action}"))


def next_status(action: Action, current: Status | str) -> Status:
    """Where ``action`` takes a finding in state ``current``; refuses if it may not start there."""
    current = Status(current)
    allowed = TRANSITIONS[action]
    if current not in allowed:
        if current is Status.CLOSED and action not in (Action.CLOSE,):
            raise InvalidState("error.closed_final")
        raise InvalidState("error.bad_state", status=current, action=Phrase(f"action.{action}"))
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


# --- the policy: one answer for services and pages --------------------------------------------------------

@dataclass(frozen=True)
class FindingFacts:
    """What the rules need to know about one finding (built by ``services.findings.facts_for``)."""

    status: Status
    lead_unit_id: int
    co_unit_ids: frozenset[int] = frozenset()
    long_term: bool = False          # 长期坚持: only these may be set 持续整改
    has_deadline: bool = True        # an extension needs a deadline in force
    pending_extension: bool = False  # one request at a time; deciding needs one
    open_measures: int = 0           # 申请销号 needs every measure done
    evidence_count: int = 1          # … and at least one evidence file
    still_hit: tuple[str, ...] = ()  # … and no household it names still hit by its data-quality rule (户编号)


@dataclass(frozen=True)
class Refusal:
    """Why an action is not available: a catalogue key and its raw parameters (translated at the edge)."""

    key: str
    params: dict[str, Any]
    error: type[DomainError] = InvalidState  # what a service raises for it


FINDING_ACTIONS = (Action.EDIT_FINDING, Action.REPORT_PROGRESS, Action.ATTACH_EVIDENCE, Action.TICK_MEASURE,
                   Action.REQUEST_EXTENSION, Action.DECIDE_EXTENSION, Action.APPLY_CLOSURE, Action.CLOSE,
                   Action.SEND_BACK, Action.SET_ONGOING, Action.CANCEL, Action.RECORD_ESCALATION, Action.LOG_REPEAT)


STILL_HIT_NAMED = 10  # households a refused closure names (the finding's page lists them all)


def _precondition(action: Action, facts: FindingFacts) -> Refusal | None:
    """The conditions on a finding's content, beyond role, unit and state."""
    if action is Action.LOG_REPEAT and facts.status is not Status.CLOSED:
        return Refusal("error.repeat_not_closed", {})
    if action is Action.SET_ONGOING and not facts.long_term:
        return Refusal("error.not_long_term", {})
    if action is Action.REQUEST_EXTENSION:
        if not facts.has_deadline:
            return Refusal("error.no_deadline", {}, ValidationFailed)
        if facts.pending_extension:
            return Refusal("error.extension_pending", {})
    if action is Action.DECIDE_EXTENSION and not facts.pending_extension:
        return Refusal("error.no_pending_extension", {})
    if action is Action.APPLY_CLOSURE:
        if facts.open_measures:
            return Refusal("error.measures_open", {"count": facts.open_measures})
        if not facts.evidence_count:
            return Refusal("error.no_evidence", {})
    if action in (Action.APPLY_CLOSURE, Action.CLOSE) and facts.still_hit:
        return Refusal("error.households_still_hit", {"count": len(facts.still_hit),
                                                      "households": "、".join(facts.still_hit[:STILL_HIT_NAMED])})
    return None


def refusal(actor: Actor, action: Action, facts: FindingFacts) -> Refusal | None:
    """None when ``actor`` may do ``action`` on a finding with these facts; otherwise why not."""
    try:
        authorize(actor, action, status=facts.status, lead_unit_id=facts.lead_unit_id, co_unit_ids=facts.co_unit_ids)
    except (PermissionDenied, InvalidState) as refused:
        return Refusal(refused.key, refused.params, type(refused))
    return _precondition(action, facts)


def available_actions(actor: Actor, facts: FindingFacts) -> dict[Action, Refusal | None]:
    """Every action on one finding, each with None (available) or its refusal: pages show exactly the
    forms this allows, and services enforce the same answer (``enforce``)."""
    return {action: refusal(actor, action, facts) for action in FINDING_ACTIONS}


def enforce(actor: Actor, action: Action, facts: FindingFacts) -> Status | None:
    """What a service calls before it writes: raises the policy's refusal, or returns the target state."""
    target = authorize(actor, action, status=facts.status, lead_unit_id=facts.lead_unit_id,
                       co_unit_ids=facts.co_unit_ids)
    refused = _precondition(action, facts)
    if refused is not None:
        raise refused.error(refused.key, **refused.params)
    return target


# --- the household ledger (防返贫监测, issue 22): a second table beside the finding lifecycle -----------------
#
# The same policy style: a role × action table, scopes, transitions and preconditions, answered by
# ``household_actions`` for pages and enforced by ``enforce_household`` in the services.

T = Role.TOWNSHIP


class HouseholdAction(StrEnum):
    RECEIVE_CLUE = "hh_receive_clue"          # 线索登记 (also 返贫 / 风险消除回退 on an eliminated household)
    VERIFY = "hh_verify"                      # 入户核实 (with 承诺授权)
    DEMOCRATIC_REVIEW = "hh_review"           # 民主评议
    PUBLICIZE = "hh_publicize"                # 村内公示 (start and end)
    TOWNSHIP_REVIEW = "hh_township_review"    # 乡镇初审
    COUNTY_DECIDE = "hh_county_decide"        # 县级审定: 纳入监测
    REJECT = "hh_reject"                      # 不予纳入 / 不予消除, with a reason
    EDIT_HOUSEHOLD = "hh_edit"                # income, 三保障 and safe water, risks
    ADD_MEASURE = "hh_add_measure"            # 帮扶措施
    END_MEASURE = "hh_end_measure"
    ELIM_VERIFY = "hh_elim_verify"            # 风险消除: 入户核实
    ELIM_PUBLICIZE = "hh_elim_publicize"      # 风险消除: 民主评议公示
    ELIM_REVIEW = "hh_elim_review"            # 风险消除: 县级审核
    ELIM_ANNOUNCE = "hh_elim_announce"        # 风险消除: 公告
    REVEAL = "hh_reveal"                      # show a member's full ID and phone (audited)
    VIEW_HEALTH = "hh_view_health"            # health status: only roles that act on the household
    IMPORT = "hh_import"                      # the national system's export
    EXPORT_UNMASKED = "hh_export_unmasked"    # an export with full IDs and phones: the administrator, audited
    SCREEN = "hh_screen"                      # 应纳未纳: compare a department's list with the ledger
    VIEW = "hh_view"


HOUSEHOLD_PERMISSIONS: dict[HouseholdAction, frozenset[Role]] = {
    HouseholdAction.RECEIVE_CLUE: frozenset({T, D, A}),
    HouseholdAction.VERIFY: frozenset({T, D}),
    HouseholdAction.DEMOCRATIC_REVIEW: frozenset({T}),
    HouseholdAction.PUBLICIZE: frozenset({T}),
    HouseholdAction.TOWNSHIP_REVIEW: frozenset({T}),
    HouseholdAction.COUNTY_DECIDE: frozenset({D}),
    HouseholdAction.REJECT: frozenset({T, D}),
    HouseholdAction.EDIT_HOUSEHOLD: frozenset({T, D}),
    HouseholdAction.ADD_MEASURE: frozenset({T, D}),
    HouseholdAction.END_MEASURE: frozenset({T, D}),
    HouseholdAction.ELIM_VERIFY: frozenset({T, D}),
    HouseholdAction.ELIM_PUBLICIZE: frozenset({T}),
    HouseholdAction.ELIM_REVIEW: frozenset({D}),
    HouseholdAction.ELIM_ANNOUNCE: frozenset({D}),
    HouseholdAction.REVEAL: frozenset({T, D, A}),
    HouseholdAction.VIEW_HEALTH: frozenset({T, D}),
    HouseholdAction.IMPORT: frozenset({A}),
    HouseholdAction.EXPORT_UNMASKED: frozenset({A}),
    HouseholdAction.SCREEN: frozenset({A, D}),   # a department only as the county's monitoring unit (scope)
    HouseholdAction.VIEW: frozenset({A, L, I, D, T}),
}


class HouseholdScope(StrEnum):
    """Whose households a role acts on: a township officer its own township's; a department only when it is
    the county's monitoring unit; the others (administrator, leader, inspector) any."""

    OWN_TOWNSHIP = "own_township"
    MONITORING_UNIT = "monitoring_unit"


ROLE_HOUSEHOLD_SCOPES: dict[Role, HouseholdScope] = {T: HouseholdScope.OWN_TOWNSHIP, D: HouseholdScope.MONITORING_UNIT}

# Actions that need no particular household (lists, the import) are checked by role only.
UNSCOPED_HOUSEHOLD_ACTIONS = frozenset({HouseholdAction.IMPORT, HouseholdAction.EXPORT_UNMASKED,
                                        HouseholdAction.VIEW})

HS, CS = HouseholdState, CaseState

# actions that open a case: {household state it may start from: state of the new case}
CASE_OPENERS: dict[HouseholdAction, dict[HouseholdState, CaseState]] = {
    HouseholdAction.RECEIVE_CLUE: {HS.NOT_MONITORED: CS.CLUE, HS.ELIMINATED: CS.CLUE},
    HouseholdAction.ELIM_VERIFY: {HS.MONITORED: CS.ELIM_VERIFIED},
}

IDENTIFY_OPEN = (CS.CLUE, CS.VERIFIED, CS.REVIEWED, CS.PUBLICIZED, CS.TOWNSHIP_APPROVED)
ELIMINATE_OPEN = (CS.ELIM_VERIFIED, CS.ELIM_PUBLICIZED, CS.ELIM_APPROVED)
OPEN_CASE_STATES = frozenset(IDENTIFY_OPEN + ELIMINATE_OPEN)
CLOCKED_CASE_STATES = frozenset(IDENTIFY_OPEN)  # the 15-day clock runs from the clue to the decision
# Who decides a case in each open state: the township up to and including its 初审 (the case is 'publicized'),
# the county from the township's approval on and through the whole 风险消除.
TOWNSHIP_STAGE = frozenset({CS.CLUE, CS.VERIFIED, CS.REVIEWED, CS.PUBLICIZED})
COUNTY_STAGE = frozenset({CS.TOWNSHIP_APPROVED, *ELIMINATE_OPEN})

# action -> {case state it may start from: the state it leads to}
CASE_TRANSITIONS: dict[HouseholdAction, dict[CaseState, CaseState]] = {
    HouseholdAction.VERIFY: {CS.CLUE: CS.VERIFIED},
    HouseholdAction.DEMOCRATIC_REVIEW: {CS.VERIFIED: CS.REVIEWED},
    HouseholdAction.PUBLICIZE: {CS.REVIEWED: CS.PUBLICIZED},   # once: there is no way back to 'reviewed'
    HouseholdAction.TOWNSHIP_REVIEW: {CS.PUBLICIZED: CS.TOWNSHIP_APPROVED},
    HouseholdAction.COUNTY_DECIDE: {CS.TOWNSHIP_APPROVED: CS.INCLUDED},
    HouseholdAction.REJECT: {state: CS.REJECTED for state in IDENTIFY_OPEN + ELIMINATE_OPEN},
    HouseholdAction.ELIM_PUBLICIZE: {CS.ELIM_VERIFIED: CS.ELIM_PUBLICIZED},
    HouseholdAction.ELIM_REVIEW: {CS.ELIM_PUBLICIZED: CS.ELIM_APPROVED},
    HouseholdAction.ELIM_ANNOUNCE: {CS.ELIM_APPROVED: CS.ELIMINATED},
}

# Actions whose role depends on the case's state: action -> {case state: the roles that may take it there}
# (narrower than HOUSEHOLD_PERMISSIONS, which stays the role check of the action as a whole). 不予纳入/不予消除 is
# the township's until its 初审 and the county's after it: a township never overrides the county.
STAGE_ROLES: dict[HouseholdAction, dict[CaseState, frozenset[Role]]] = {
    HouseholdAction.REJECT: {**{state: frozenset({T}) for state in TOWNSHIP_STAGE},
                             **{state: frozenset({D}) for state in COUNTY_STAGE}},
}

# Separation of duties: whoever recorded the 入户核实 of a case may not decide it at county level
# (action -> the case states in which it is such a decision).
NOT_VERIFIER: dict[HouseholdAction, frozenset[CaseState]] = {
    HouseholdAction.COUNTY_DECIDE: frozenset({CS.TOWNSHIP_APPROVED}),
    HouseholdAction.ELIM_REVIEW: frozenset({CS.ELIM_PUBLICIZED}),
    HouseholdAction.REJECT: COUNTY_STAGE,
}

# Where the household stands once a case reaches a state (None: where it stood before the case).
HOUSEHOLD_STATE_OF_CASE: dict[CaseState, HouseholdState | None] = {
    **{state: HS.IDENTIFYING for state in IDENTIFY_OPEN},
    **{state: HS.ELIMINATING for state in ELIMINATE_OPEN},
    CS.INCLUDED: HS.MONITORED,
    CS.ELIMINATED: HS.ELIMINATED,
    CS.REJECTED: None,
}

# Household-level actions need the household in one of these states.
HOUSEHOLD_STATES_FOR: dict[HouseholdAction, frozenset[HouseholdState]] = {
    HouseholdAction.ADD_MEASURE: frozenset({HS.IDENTIFYING, HS.MONITORED, HS.ELIMINATING}),
    HouseholdAction.END_MEASURE: frozenset({HS.IDENTIFYING, HS.MONITORED, HS.ELIMINATING, HS.ELIMINATED}),
}


@dataclass(frozen=True)
class EliminationFacts:
    """What 风险消除 is decided on (read by ``services.households.elimination_facts``)."""

    identified_on: dt.date | None
    measures_in_force: int
    income_per_capita: float | None
    income_line: int | None
    income_year: int
    failing_guarantees: tuple[str, ...]   # 三保障 and safe water: the ones that do not hold
    new_risks: int                        # open risks added after the household was identified
    nobody_can_work: bool                 # 整户无劳动能力
    method: EliminationMethod = EliminationMethod.SUPPORTED


def add_months(day: dt.date, months: int) -> dt.date:
    """The same day ``months`` later (the month's last day when it is shorter)."""
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return day.replace(year=year, month=month, day=min(day.day, calendar.monthrange(year, month)[1]))


def identified_by(today: dt.date, months: int) -> dt.date:
    """The latest 识别监测时间 from which a household has been monitored ``months`` by ``today``: the last day ``d``
    with ``add_months(d, months) <= today``. One cut-off for the 风险消除 gate and the SQL of the queue (on the
    last day of a month every day of the month ``months`` back qualifies: 8-31 + 6 months is 2-28)."""
    back = add_months(today, -months)
    if today.day == calendar.monthrange(today.year, today.month)[1]:
        return back.replace(day=calendar.monthrange(back.year, back.month)[1])
    return back


def elimination_blockers(facts: EliminationFacts, today: dt.date, months: int) -> list[Refusal]:
    """Every condition of 风险消除 that does not hold, each with its own message (empty: it may proceed).
    ``services.households.elimination_conditions`` states the same conditions in SQL for the 风险消除 queue."""
    blockers: list[Refusal] = []
    if facts.identified_on is None or facts.identified_on > identified_by(today, months):
        since = facts.identified_on.isoformat() if facts.identified_on else "-"
        blockers.append(Refusal("error.hh_too_early", {"months": months, "since": since}))
    if facts.measures_in_force < 1:
        blockers.append(Refusal("error.hh_no_measure", {}))
    if facts.income_line is None:
        blockers.append(Refusal("error.hh_no_income_line", {"year": facts.income_year}))
    elif facts.income_per_capita is None or facts.income_per_capita < facts.income_line:
        blockers.append(Refusal("error.hh_income_below", {
            "income": "-" if facts.income_per_capita is None else f"{facts.income_per_capita:,.0f}",
            "line": f"{facts.income_line:,}", "year": facts.income_year}))
    for guarantee in facts.failing_guarantees:
        blockers.append(Refusal("error.hh_guarantee", {"what": Phrase(f"guarantee.{guarantee}")}))
    if facts.new_risks:
        blockers.append(Refusal("error.hh_new_risk", {"count": facts.new_risks}))
    if facts.nobody_can_work and facts.method is EliminationMethod.SUPPORTED:
        blockers.append(Refusal("error.hh_nobody_works", {}))
    return blockers


@dataclass(frozen=True)
class HouseholdFacts:
    """What the rules need to know about one household and its open case (``services.households.facts``)."""

    state: HouseholdState
    township_unit_id: int | None
    monitoring_unit_ids: frozenset[int] = frozenset()
    case_state: CaseState | None = None          # the open case, if any
    verified_by_id: int | None = None            # who recorded its 入户核实
    publicity_over: bool = False                 # its 公示 has ended (乡镇初审 or 县级审核 may follow)
    elimination: tuple[Refusal, ...] = ()        # 风险消除 conditions that do not hold


def _check_household_scope(actor: Actor, facts: HouseholdFacts) -> None:
    scope = ROLE_HOUSEHOLD_SCOPES.get(Role(actor.role))
    if scope is HouseholdScope.OWN_TOWNSHIP:
        if actor.unit_id is None or actor.unit_id != facts.township_unit_id:
            raise PermissionDenied("error.hh_other_township")
    elif scope is HouseholdScope.MONITORING_UNIT:
        if actor.unit_id is None or actor.unit_id not in facts.monitoring_unit_ids:
            raise PermissionDenied("error.hh_not_monitoring_unit")


def check_household_role(actor: Actor, action: HouseholdAction) -> None:
    if Role(actor.role) not in HOUSEHOLD_PERMISSIONS[action]:
        raise PermissionDenied("error.role_denied", role=Role(actor.role), action=Phrase(f"action.{action}"))


def _household_target(action: HouseholdAction, facts: HouseholdFacts) -> CaseState | None:
    """The state of the case after ``action``; refuses when the household or its case is not in a state for it."""
    if action in CASE_OPENERS:
        allowed_from = CASE_OPENERS[action]
        if facts.case_state is not None or facts.state not in allowed_from:
            raise InvalidState("error.hh_bad_state", status=facts.state, action=Phrase(f"action.{action}"))
        return allowed_from[facts.state]
    if action in CASE_TRANSITIONS:
        moves = CASE_TRANSITIONS[action]
        if facts.case_state not in moves:
            raise InvalidState("error.hh_bad_state", status=facts.case_state or facts.state,
                               action=Phrase(f"action.{action}"))
        return moves[facts.case_state]
    allowed_states = HOUSEHOLD_STATES_FOR.get(action)
    if allowed_states is not None and facts.state not in allowed_states:
        raise InvalidState("error.hh_bad_state", status=facts.state, action=Phrase(f"action.{action}"))
    return None


# The steps of 风险消除 at which its conditions are checked (again): a risk may be added while the case runs.
ELIMINATION_GATES = frozenset({HouseholdAction.ELIM_VERIFY, HouseholdAction.ELIM_REVIEW, HouseholdAction.ELIM_ANNOUNCE})


def _check_stage_role(actor: Actor, action: HouseholdAction, facts: HouseholdFacts) -> None:
    """Refuses a role the action is given in general but not in the case's present stage (``STAGE_ROLES``)."""
    stages = STAGE_ROLES.get(action)
    if stages is None or facts.case_state is None:
        return
    if Role(actor.role) not in stages.get(facts.case_state, frozenset()):
        raise PermissionDenied("error.hh_not_your_stage", action=Phrase(f"action.{action}"),
                               status=facts.case_state)


def _household_precondition(actor: Actor, action: HouseholdAction, facts: HouseholdFacts) -> Refusal | None:
    if (facts.case_state in NOT_VERIFIER.get(action, frozenset()) and actor.id is not None
            and actor.id == facts.verified_by_id):
        return Refusal("error.hh_verifier_decides", {}, PermissionDenied)
    if action in (HouseholdAction.TOWNSHIP_REVIEW, HouseholdAction.ELIM_REVIEW) and not facts.publicity_over:
        return Refusal("error.hh_publicity_running", {"action": Phrase(f"action.{action}")})
    if action in ELIMINATION_GATES and facts.elimination:
        return facts.elimination[0]
    return None


def enforce_household(actor: Actor, action: HouseholdAction, facts: HouseholdFacts | None = None) -> CaseState | None:
    """What a household service calls before it writes: role, scope, state, then the conditions. Returns the
    case's next state (None for actions that do not move a case)."""
    check_household_role(actor, action)
    if facts is None:
        if action not in UNSCOPED_HOUSEHOLD_ACTIONS:
            raise AssertionError(f"{action} needs the household's facts")
        return None
    _check_household_scope(actor, facts)
    target = _household_target(action, facts)
    _check_stage_role(actor, action, facts)
    refused = _household_precondition(actor, action, facts)
    if refused is not None:
        raise refused.error(refused.key, **refused.params)
    return target


def household_refusal(actor: Actor, action: HouseholdAction, facts: HouseholdFacts) -> Refusal | None:
    try:
        enforce_household(actor, action, facts)
    except (PermissionDenied, InvalidState, ValidationFailed) as refused:
        return Refusal(refused.key, refused.params, type(refused))
    return None


# Actions on the county's ledger as a whole, scoped like the rest but never offered on one household's page.
COUNTY_HOUSEHOLD_ACTIONS = frozenset({HouseholdAction.SCREEN})
HOUSEHOLD_PAGE_ACTIONS = tuple(action for action in HouseholdAction
                               if action not in UNSCOPED_HOUSEHOLD_ACTIONS | COUNTY_HOUSEHOLD_ACTIONS)


def household_actions(actor: Actor, facts: HouseholdFacts) -> dict[HouseholdAction, Refusal | None]:
    """Every action on one household with None (available) or its refusal: the page offers exactly these."""
    return {action: household_refusal(actor, action, facts) for action in HOUSEHOLD_PAGE_ACTIONS}


def may_household(actor: Actor, action: HouseholdAction) -> bool:
    return Role(actor.role) in HOUSEHOLD_PERMISSIONS[action]
