"""应纳未纳 screening: a department's list compared with the household ledger.

People are matched by the keyed hash of their ID (``privacy.match_key``), never by the clear number; an ID
that matches no one is counted and forgotten. A person above the kind's threshold in a household that is
not monitored opens a 部门筛查预警 clue on the household (the 15-day clock, its township's inbox); in a
household that is monitored, or already on a clue, the hit is a new risk signal on its page. Each hit is
kept once per kind, person, household and event (``ScreeningHit``), so the same list uploaded twice adds
nothing.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Integer, insert, update
from sqlmodel import Session, select

from dashboard import clock, privacy
from dashboard.i18n import DEFAULT_LANGUAGE as DATA_LANGUAGE, t
from dashboard.lifecycle import (HOUSEHOLD_STATE_OF_CASE, OPEN_CASE_STATES, Actor, HouseholdAction, HouseholdFacts,
                                 enforce_household, household_refusal)
from dashboard.screening_reader import DepartmentList, PersonEvent
from dashboard.services import household_figures, households, notifications
from dashboard.services.common import any_of, audit, column_defaults, insert_clean, require_text
from dashboard.settings import Settings, load_settings
from dashboard.text import clean_row
from dashboard.vocab import (CaseKind, CaseState, ClueSource, HouseholdState, HouseholdType, ScreenKind, ScreenOutcome,
                             UnitKind)
from db.engine import insert_rows, reserve_ids
from db.models import (AuditLog, Household, HouseholdCase, HouseholdMember, HouseholdStep, ScreeningHit, ScreeningRun,
                       Unit)

# a hit opens a clue on a household in these states; on any other it is a signal
CLUE_STATES = (HouseholdState.NOT_MONITORED, HouseholdState.ELIMINATED)


def threshold_met(kind: ScreenKind, event: PersonEvent, household: Household | _Found, settings: Settings,
                  today: dt.date) -> bool:
    """医保: the year's self-pay at or above the line for the household's type; the other kinds: an event
    within ``screen_event_days``."""
    if kind is ScreenKind.MEDICAL:
        line = (settings.screen_medical_exited if household.household_type == HouseholdType.EXITED.value
                else settings.screen_medical_ordinary)
        return event.amount is not None and event.amount >= line
    return event.event_on is not None and (today - event.event_on).days <= settings.screen_event_days


CHUNK = 1_000   # hashes per lookup where there is no one set-based query (SQLite: within its limit on parameters)


@dataclass
class _Found:
    """A household a person of the list is found in: what the screening decides on (its state moves when a clue
    is opened on it during the run)."""

    id: int
    number: str
    township: str
    household_type: str
    state: str


def _households_by_hash(session: Session, hashes: list[str]) -> dict[str, list[_Found]]:
    """The households each keyed hash is found in, by household id: one set-based query (PostgreSQL; chunks of
    hashes elsewhere)."""
    found: dict[str, list[_Found]] = {}
    households: dict[int, _Found] = {}
    for condition in any_of(session, HouseholdMember.id_hash, hashes, size=CHUNK):
        rows = session.execute(select(HouseholdMember.id_hash, Household.id, Household.number, Household.township,
                                      Household.household_type, Household.state)
                               .join(Household, HouseholdMember.household_id == Household.id)
                               .where(condition).order_by(Household.id)).all()
        for id_hash, household_id, number, township, household_type, state in rows:
            household = households.setdefault(household_id, _Found(household_id, number, township, household_type,
                                                                   state))
            if all(known.id != household_id for known in found.get(id_hash, [])):
                found.setdefault(id_hash, []).append(household)
    return found


def _seen(session: Session, kind: ScreenKind, hashes: list[str]) -> set[tuple[str, int, str]]:
    """(hash, household, event) of the hits already kept for these people."""
    seen: set[tuple[str, int, str]] = set()
    for condition in any_of(session, ScreeningHit.id_hash, hashes, size=CHUNK):
        seen.update((row[0], row[1], row[2]) for row in session.execute(
            select(ScreeningHit.id_hash, ScreeningHit.household_id, ScreeningHit.event_key)
            .where(ScreeningHit.kind == kind.value, condition)))
    return seen


def clue_text(kind: ScreenKind, event: PersonEvent, list_name: str) -> str:
    """What the clue or signal says, in the ledger's language (never the ID): the kind, the list, and the
    year's amount or the event's date."""
    if event.amount is not None:
        what = t("screen.amount_text", DATA_LANGUAGE, year=event.event_key, amount=f"{event.amount:,.0f}")
    else:
        what = t("screen.event_text", DATA_LANGUAGE, date=event.event_key)
    return t("screen.clue_text", DATA_LANGUAGE, kind=t(f"screen_kind.{kind.value}", DATA_LANGUAGE), what=what,
             list=list_name or "-")


def _facts(session: Session) -> HouseholdFacts:
    """Screening is the county's: the facts the policy checks are the monitoring units."""
    return HouseholdFacts(state=HouseholdState.NOT_MONITORED, township_unit_id=None,
                          monitoring_unit_ids=households.monitoring_unit_ids(session))


def may_screen(session: Session, actor: Actor) -> bool:
    return household_refusal(actor, HouseholdAction.SCREEN, _facts(session)) is None


def screen(session: Session, actor: Actor, listed: DepartmentList, *, list_name: str = "") -> ScreeningRun:
    """Compare one department's list with the ledger and write what it finds (inside the caller's unit of work).

    In bulk: the keyed hashes computed once per row, the people found by one set-based query, the clues (cases,
    their steps and audit entries, the households' new state), the signals and the hits written by Core
    statements; each clue still asks the household policy (``enforce_household``) where its case starts."""
    enforce_household(actor, HouseholdAction.SCREEN, _facts(session))
    settings, today = load_settings(session), clock.today()
    run = ScreeningRun(kind=listed.kind.value, list_name=list_name[:200], rows=listed.rows, run_by_id=actor.id,
                       run_by=actor.username)
    session.add(run)
    session.flush()
    sealer = privacy.sealer()
    people = [(sealer.match_key(event.id_number) or "", event) for event in listed.people]
    hashes = sorted({id_hash for id_hash, _ in people if id_hash})
    households_of, seen = _households_by_hash(session, hashes), _seen(session, listed.kind, hashes)
    clue_states = {state.value for state in CLUE_STATES}
    candidates = sorted({h.id for found in households_of.values() for h in found if h.state in clue_states})
    writes = _Writes(session, actor, run, settings, today, candidates)
    tally = writes.tally   # counted here, put on the run once (an ORM attribute per hit costs more than the hit)
    for id_hash, event in people:
        found = households_of.get(id_hash, [])
        if not found:
            tally["unmatched"] += 1
            continue
        tally["matched"] += 1
        for household in found:
            if (id_hash, household.id, event.event_key) in seen:
                tally["already_seen"] += 1
                continue
            seen.add((id_hash, household.id, event.event_key))
            _one(writes, listed.kind, event, id_hash, household)
    for name, value in tally.items():
        setattr(run, name, value)
    writes.write()
    audit(session, actor, "hh_screen", run, new={"kind": run.kind, "list": run.list_name, **counts(run)})
    _tell_townships(session, run)
    return run


def _tell_townships(session: Session, run: ScreeningRun) -> None:
    """Each township unit hears once of the 部门筛查预警 clues this list opened on its households."""
    opened = session.exec(select(Household.township, Household.number, Household.id)
                          .join(ScreeningHit, ScreeningHit.household_id == Household.id)
                          .where(ScreeningHit.run_id == run.id, ScreeningHit.outcome == ScreenOutcome.CLUE.value)
                          .order_by(Household.township, Household.number)).all()
    by_township: dict[str, list[tuple[str, int]]] = {}
    for township, number, household_id in opened:
        by_township.setdefault(township, []).append((number, household_id))
    units = township_units(session) if by_township else {}
    for township, items in by_township.items():
        unit_id = units.get(township)
        if unit_id is not None:
            notifications.on_screening_clues(session, unit_id, township=township, kind=run.kind,
                                             list_name=run.list_name, numbers=[n for n, _ in items],
                                             household_id=items[0][1])


def counts(run: ScreeningRun) -> dict[str, int]:
    """What ``screen-list --json`` prints."""
    return {name: getattr(run, name) for name in COUNTS}


COUNTS = ("rows", "matched", "unmatched", "below_threshold", "new_clues", "signals", "already_seen")


class _Writes:
    """What one screening writes, gathered while the list is read through and written in bulk at the end."""

    def __init__(self, session: Session, actor: Actor, run: ScreeningRun, settings: Settings, today: dt.date,
                 candidates: list[int]) -> None:
        self.session, self.actor, self.run, self.settings, self.today = session, actor, run, settings, today
        self.candidates = candidates   # the households found in a state a clue opens from
        self.now = clock.now()
        self.tally = {name: 0 for name in COUNTS if name != "rows"}
        self.hits: list[dict[str, Any]] = []
        self.clues: list[tuple[_Found, str, CaseState, HouseholdState]] = []   # household, text, case, before
        self.signals: list[dict[str, Any]] = []
        self._facts: tuple[dict[str, int], frozenset[int], dict[int, CaseState]] | None = None

    def facts(self, household: _Found) -> HouseholdFacts:
        """What ``households.facts`` tells the policy about a household in a state a clue opens from (no 风险消除
        conditions: those are read for monitored households only), from three reads for the whole run."""
        if self._facts is None:
            session = self.session
            self._facts = (township_units(session), households.monitoring_unit_ids(session), self._open_cases())
        townships, monitoring, open_cases = self._facts
        return HouseholdFacts(state=HouseholdState(household.state), township_unit_id=townships.get(household.township),
                              monitoring_unit_ids=monitoring, case_state=open_cases.get(household.id))

    def _open_cases(self) -> dict[int, CaseState]:
        """The open case of each household a clue could be opened on (none, in a consistent ledger)."""
        session = self.session
        cases: dict[int, CaseState] = {}
        for condition in any_of(session, HouseholdCase.household_id, self.candidates, Integer, size=CHUNK):
            for household_id, state in session.exec(select(HouseholdCase.household_id, HouseholdCase.state).where(
                    condition, HouseholdCase.state.in_([s.value for s in OPEN_CASE_STATES]))).all():
                cases[household_id] = CaseState(state)
        return cases

    def write(self) -> None:
        """The clues (cases by RETURNING or reserved ids, their steps and audit entries, the households' state),
        the signals' steps and the hits."""
        session, actor, today, now = self.session, self.actor, self.today, self.now
        connection = session.connection()
        case_ids: dict[int, int] = {}
        if self.clues:
            defaults = column_defaults(HouseholdCase)
            rows = [clean_row({**defaults, "household_id": household.id, "kind": CaseKind.IDENTIFY.value,
                               "state": target.value, "is_return": before is HouseholdState.ELIMINATED,
                               "source": ClueSource.DEPARTMENT_ALERT.value, "clue_text": text, "received_on": today,
                               "due_on": today + dt.timedelta(days=self.settings.identify_days), "category": None,
                               "created_by_id": actor.id, "created_at": now})
                    for household, text, target, before in self.clues]
            table = HouseholdCase.__table__
            household_figures.touch(session, {household.township for household, *_ in self.clues})  # COPY: no listener
            reserved = reserve_ids(connection, table, len(rows))
            if reserved is not None:
                rows = [{"id": case_id, **row} for case_id, row in zip(reserved, rows)]
                insert_rows(connection, table, rows)
                case_ids = {row["household_id"]: row["id"] for row in rows}
            else:
                case_ids = dict(connection.execute(insert(table).returning(
                    table.c.household_id, table.c.id, sort_by_parameter_order=True), rows).all())
            household_table = Household.__table__
            by_state: dict[str, list[int]] = {}
            for household, *_ in self.clues:
                by_state.setdefault(household.state, []).append(household.id)
            for state, ids in by_state.items():
                for condition in any_of(session, household_table.c.id, ids, Integer, size=CHUNK):
                    connection.execute(update(household_table).where(condition).values(
                        state=state, updated_at=now, version=household_table.c.version + 1))
            insert_clean(session, HouseholdStep, [
                {"household_id": household.id, "case_id": case_ids[household.id],
                 "action": str(HouseholdAction.RECEIVE_CLUE), "happened_on": today, "at": now, "user_id": actor.id,
                 "username": actor.username, "note": text} for household, text, _target, _before in self.clues])
            insert_clean(session, AuditLog, [
                {"at": now, "user_id": actor.id, "username": actor.username,
                 "action": str(HouseholdAction.RECEIVE_CLUE), "entity": HouseholdCase.__name__,
                 "entity_id": case_ids[household.id], "finding_id": None, "old": None,
                 "new": {"household": household.number, "source": ClueSource.DEPARTMENT_ALERT.value,
                         "received_on": today.isoformat(), "is_return": before is HouseholdState.ELIMINATED},
                 "note": ""} for household, _text, _target, before in self.clues])
            session.flush()
            session.expire_all()   # households the session holds have a new state
        insert_clean(session, HouseholdStep, self.signals)
        for hit in self.hits:
            if hit["outcome"] == ScreenOutcome.CLUE.value:
                hit["case_id"] = case_ids[hit["household_id"]]
        insert_clean(session, ScreeningHit, self.hits)


def _one(writes: _Writes, kind: ScreenKind, event: PersonEvent, id_hash: str, household: _Found) -> None:
    run, today, tally = writes.run, writes.today, writes.tally
    if not threshold_met(kind, event, household, writes.settings, today):
        tally["below_threshold"] += 1
        return
    hit = {"kind": kind.value, "id_hash": id_hash, "household_id": household.id, "event_key": event.event_key,
           "amount": event.amount, "event_on": event.event_on, "run_id": run.id, "outcome": ScreenOutcome.SIGNAL.value,
           "case_id": None}
    text = clue_text(kind, event, run.list_name)
    if household.state in {state.value for state in CLUE_STATES}:
        text = require_text(text, "field.hh_clue_text")
        before = HouseholdState(household.state)
        target = enforce_household(writes.actor, HouseholdAction.RECEIVE_CLUE, writes.facts(household))
        assert target is not None, "a clue opens a case"
        after = HOUSEHOLD_STATE_OF_CASE[target]
        assert after is not None, "an open case gives the household its state"
        writes.clues.append((household, text, target, before))
        household.state = after.value   # written with the case; a second hit on it in this list is a signal
        hit["outcome"] = ScreenOutcome.CLUE.value
        tally["new_clues"] += 1
    else:
        writes.signals.append({"household_id": household.id, "case_id": None, "action": SIGNAL_STEP,
                               "happened_on": today, "at": writes.now, "user_id": writes.actor.id,
                               "username": writes.actor.username, "note": text})
        tally["signals"] += 1
    writes.hits.append(hit)


def township_units(session: Session) -> dict[str, int]:
    """Every township's unit by name (``households.township_unit_id`` for all townships at once)."""
    return {name: unit_id for unit_id, name in session.exec(select(Unit.id, Unit.name).where(
        Unit.kind == UnitKind.TOWNSHIP.value, Unit.active.is_(True)).order_by(Unit.id.desc())).all()
            if unit_id is not None}


SIGNAL_STEP = "hh_screen_signal"   # the household's history: a department list names it again


def signals_of(session: Session, household_id: int) -> list[ScreeningHit]:
    """The screening hits on one household, newest first (its page shows them as risk signals)."""
    return list(session.exec(select(ScreeningHit).where(ScreeningHit.household_id == household_id)
                             .order_by(ScreeningHit.id.desc())))


def recent_runs(session: Session, limit: int = 20) -> list[ScreeningRun]:
    return list(session.exec(select(ScreeningRun).order_by(ScreeningRun.id.desc()).limit(limit)))


def screen_file(session: Session, actor: Actor, raw: bytes, filename: str, kind: ScreenKind | str) -> ScreeningRun:
    """The page's and the API's entry: read the list whole (refused with its rows named), then screen it."""
    from dashboard.screening_reader import read_list

    return screen(session, actor, read_list(raw, filename, kind, clock.today()), list_name=filename)
