"""The warning rules (预警), computed, never stored: overdue, days overdue, stale, and the red/yellow/green light.

Every query in the app takes these from here as SQL expressions, so the ledger filter, the
roll-ups, the detail page and the reports agree, and the light can be counted over a
million rows without loading them.
"""
from __future__ import annotations

import datetime as dt

from sqlalchemy import Integer, and_, case, func, literal, or_
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.functions import FunctionElement

from dashboard.lifecycle import CLOCKED_CASE_STATES, DEADLINE_STATES, STALE_STATES
from dashboard.settings import Settings
from dashboard.vocab import Light, Status
from db.models import Finding, HouseholdCase


class days_between(FunctionElement):
    """Whole days from ``earlier`` to ``later`` (both dates)."""

    type = Integer()
    inherit_cache = True


@compiles(days_between, "sqlite")
def _days_between_sqlite(element, compiler, **kw):
    later, earlier = list(element.clauses)
    return (f"CAST(julianday({compiler.process(later, **kw)}) - "
            f"julianday({compiler.process(earlier, **kw)}) AS INTEGER)")


@compiles(days_between)
def _days_between_default(element, compiler, **kw):
    later, earlier = list(element.clauses)
    return f"(CAST({compiler.process(later, **kw)} AS DATE) - CAST({compiler.process(earlier, **kw)} AS DATE))"


def _in(states) -> ColumnElement[bool]:
    return Finding.status.in_([s.value for s in states])


def is_overdue(today: dt.date) -> ColumnElement[bool]:
    return and_(_in(DEADLINE_STATES), Finding.current_deadline.is_not(None), Finding.current_deadline < today)


def days_overdue(today: dt.date) -> ColumnElement[int]:
    return case((is_overdue(today), days_between(literal(today), Finding.current_deadline)), else_=0)


def is_stale(now: dt.datetime, settings: Settings) -> ColumnElement[bool]:
    """No progress since the start of the day ``stale_days`` ago (by date, so a light changes only
    at midnight and the maintained roll-ups stay exact all day)."""
    cutoff = dt.datetime.combine(now.date() - dt.timedelta(days=settings.stale_days), dt.time())
    last_activity = func.coalesce(Finding.last_progress_at, Finding.created_at)
    return and_(_in(STALE_STATES), last_activity < cutoff)


def is_due_soon(today: dt.date, settings: Settings) -> ColumnElement[bool]:
    horizon = today + dt.timedelta(days=settings.due_soon_days)
    return and_(_in(DEADLINE_STATES), Finding.current_deadline.is_not(None),
                Finding.current_deadline >= today, Finding.current_deadline <= horizon)


def closed_on_time() -> ColumnElement[bool]:
    """按期完成: closed on or before the deadline in force (or with none)."""
    return and_(Finding.status == Status.CLOSED.value,
                or_(Finding.current_deadline.is_(None), func.date(Finding.closed_at) <= Finding.current_deadline))


def is_extended() -> ColumnElement[bool]:
    return and_(Finding.extension_count > 0, Finding.status != Status.CANCELLED.value)


def is_repeat() -> ColumnElement[bool]:
    """屡改屡犯: repeats an earlier closed finding (cancelled entries are counted apart)."""
    return and_(Finding.repeat_of_id.is_not(None), Finding.status != Status.CANCELLED.value)


def light(now: dt.datetime, settings: Settings) -> ColumnElement[str]:
    today = now.date()
    return case(
        (Finding.status == Status.CLOSED.value, literal(Light.CLOSED.value)),
        (Finding.status == Status.CANCELLED.value, literal(Light.CANCELLED.value)),
        (is_overdue(today), literal(Light.RED.value)),
        (or_(is_due_soon(today, settings), is_stale(now, settings),
             Finding.sent_back_count >= settings.sent_back_yellow), literal(Light.YELLOW.value)),
        else_=literal(Light.GREEN.value),
    )


# --- the household ledger: the clock of a clue (线索 to 县级审定 within ``identify_days``) -------------------

def _clocked() -> ColumnElement[bool]:
    return HouseholdCase.state.in_([state.value for state in CLOCKED_CASE_STATES])


def clue_overdue(today: dt.date) -> ColumnElement[bool]:
    """A clue still undecided after its due date (received + ``identify_days``)."""
    return and_(_clocked(), HouseholdCase.due_on < today)


def clue_light(today: dt.date, settings: Settings) -> ColumnElement[str]:
    """The same lights as findings: red past the due date, yellow within ``due_soon_days`` of it, green
    before; a decided case shows as closed."""
    horizon = today + dt.timedelta(days=settings.due_soon_days)
    return case(
        (~_clocked(), literal(Light.CLOSED.value)),
        (HouseholdCase.due_on < today, literal(Light.RED.value)),
        (HouseholdCase.due_on <= horizon, literal(Light.YELLOW.value)),
        else_=literal(Light.GREEN.value),
    )
