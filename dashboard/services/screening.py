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

from sqlmodel import Session, select

from dashboard import clock, privacy
from dashboard.i18n import DEFAULT_LANGUAGE as DATA_LANGUAGE, t
from dashboard.lifecycle import Actor, HouseholdAction, HouseholdFacts, enforce_household, household_refusal
from dashboard.screening_reader import DepartmentList, PersonEvent
from dashboard.services import households, notifications
from dashboard.services.common import audit
from dashboard.settings import Settings, load_settings
from dashboard.vocab import ClueSource, HouseholdState, HouseholdType, ScreenKind, ScreenOutcome
from db.models import Household, HouseholdMember, HouseholdStep, ScreeningHit, ScreeningRun

# a hit opens a clue on a household in these states; on any other it is a signal
CLUE_STATES = (HouseholdState.NOT_MONITORED, HouseholdState.ELIMINATED)


def threshold_met(kind: ScreenKind, event: PersonEvent, household: Household, settings: Settings,
                  today: dt.date) -> bool:
    """医保: the year's self-pay at or above the line for the household's type; the other kinds: an event
    within ``screen_event_days``."""
    if kind is ScreenKind.MEDICAL:
        line = (settings.screen_medical_exited if household.household_type == HouseholdType.EXITED.value
                else settings.screen_medical_ordinary)
        return event.amount is not None and event.amount >= line
    return event.event_on is not None and (today - event.event_on).days <= settings.screen_event_days


CHUNK = 1_000   # hashes per lookup: within every driver's limit on IN lists


def _households_by_hash(session: Session, hashes: list[str]) -> dict[str, list[Household]]:
    """The households each keyed hash is found in, a chunk of hashes per query."""
    found: dict[str, list[Household]] = {}
    for start in range(0, len(hashes), CHUNK):
        chunk = hashes[start:start + CHUNK]
        rows = session.execute(select(HouseholdMember.id_hash, Household)
                               .join(Household, HouseholdMember.household_id == Household.id)
                               .where(HouseholdMember.id_hash.in_(chunk)).order_by(Household.id)).all()
        for id_hash, household in rows:
            if all(known.id != household.id for known in found.get(id_hash, [])):
                found.setdefault(id_hash, []).append(household)
    return found


def _seen(session: Session, kind: ScreenKind, hashes: list[str]) -> set[tuple[str, int, str]]:
    """(hash, household, event) of the hits already kept for these people."""
    seen: set[tuple[str, int, str]] = set()
    for start in range(0, len(hashes), CHUNK):
        chunk = hashes[start:start + CHUNK]
        seen.update((row[0], row[1], row[2]) for row in session.execute(
            select(ScreeningHit.id_hash, ScreeningHit.household_id, ScreeningHit.event_key)
            .where(ScreeningHit.kind == kind.value, ScreeningHit.id_hash.in_(chunk))))
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
    """Compare one department's list with the ledger and write what it finds (inside the caller's unit of work)."""
    enforce_household(actor, HouseholdAction.SCREEN, _facts(session))
    settings, today = load_settings(session), clock.today()
    run = ScreeningRun(kind=listed.kind.value, list_name=list_name[:200], rows=listed.rows, run_by_id=actor.id,
                       run_by=actor.username)
    session.add(run)
    session.flush()
    people = [(privacy.match_key(event.id_number) or "", event) for event in listed.people]
    hashes = sorted({id_hash for id_hash, _ in people if id_hash})
    households_of, seen = _households_by_hash(session, hashes), _seen(session, listed.kind, hashes)
    for id_hash, event in people:
        found = households_of.get(id_hash, [])
        if not found:
            run.unmatched += 1
            continue
        run.matched += 1
        for household in found:
            if (id_hash, household.id, event.event_key) in seen:
                run.already_seen += 1
                continue
            seen.add((id_hash, household.id, event.event_key))
            _one(session, actor, run, listed.kind, event, id_hash, household, settings, today)
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
    for township, items in by_township.items():
        unit_id = households.township_unit_id(session, township)
        if unit_id is not None:
            notifications.on_screening_clues(session, unit_id, township=township, kind=run.kind,
                                             list_name=run.list_name, numbers=[n for n, _ in items],
                                             household_id=items[0][1])


def counts(run: ScreeningRun) -> dict[str, int]:
    """What ``screen-list --json`` prints."""
    return {name: getattr(run, name) for name in COUNTS}


COUNTS = ("rows", "matched", "unmatched", "below_threshold", "new_clues", "signals", "already_seen")


def _one(session: Session, actor: Actor, run: ScreeningRun, kind: ScreenKind, event: PersonEvent, id_hash: str,
         household: Household, settings: Settings, today: dt.date) -> None:
    if not threshold_met(kind, event, household, settings, today):
        run.below_threshold += 1
        return
    hit = ScreeningHit(kind=kind.value, id_hash=id_hash, household_id=household.id, event_key=event.event_key,
                       amount=event.amount, event_on=event.event_on, run_id=run.id,
                       outcome=ScreenOutcome.SIGNAL.value)
    text = clue_text(kind, event, run.list_name)
    if household.state in {state.value for state in CLUE_STATES}:
        case = households.register_clue(session, actor, source=ClueSource.DEPARTMENT_ALERT, received_on=today,
                                        text=text, household_id=household.id)
        hit.outcome, hit.case_id = ScreenOutcome.CLUE.value, case.id
        run.new_clues += 1
    else:
        session.add(HouseholdStep(household_id=household.id, action=SIGNAL_STEP, happened_on=today, user_id=actor.id,
                                  username=actor.username, note=text))
        run.signals += 1
    session.add(hit)
    session.flush()


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
