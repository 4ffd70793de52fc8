"""The scheduled jobs and their claims: daily roll-up rebuild, reminders, digests, sending.

Each daily job claims its run per day and recipient in ``job_claim`` (unique key): the first
transaction to insert the claim does the run, any other worker or cron pass inserting the same key
gets nothing back and does nothing, so no message goes out twice. The claim, the in-app notices
and the queued outbound messages commit together; sending happens afterwards
(``delivery.deliver_due``).

``JOBS`` is the worker's timetable (``python -m dashboard worker``); ``run_once`` is one pass of
everything for cron (``python -m dashboard remind --once``).
"""
from __future__ import annotations

import datetime as dt
import logging
import os
import socket
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Callable

from sqlalchemy import Engine, case, func, insert, literal, or_, true, union_all
from sqlmodel import Session, select

from dashboard import clock, config, lights
from dashboard.i18n import t
from dashboard.services import delivery, notifications
from dashboard.services.notifications import Kind
from dashboard.services.unit_of_work import unit_of_work
from dashboard.lifecycle import CLOCKED_CASE_STATES, SYSTEM, add_months
from dashboard.settings import Settings, load_settings
from db.engine import conflict_insert, read_session
from db.models import (Delivery, Finding, Household, HouseholdCase, JobClaim, JobRun, Notification, NotifyChannel,
                       Source, Unit, User)
from dashboard.vocab import CaseState, HouseholdState, Role, Status, UnitKind

log = logging.getLogger(__name__)
CHUNK = 500


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"[:60]


# --- claims ---------------------------------------------------------------------------------------

def claim(session: Session, job: str, day: dt.date, recipients: list[str], worker: str = "") -> set[str]:
    """Insert the claims; return the recipients this transaction won (the others were taken)."""
    if not recipients:
        return set()
    won: set[str] = set()
    now = clock.now()
    for start in range(0, len(recipients), CHUNK):
        rows = [{"job": job, "day": day, "recipient": r, "claimed_at": now, "worker": worker}
                for r in recipients[start:start + CHUNK]]
        statement = (conflict_insert(session, JobClaim).values(rows)
                     .on_conflict_do_nothing(index_elements=["job", "day", "recipient"])
                     .returning(JobClaim.recipient))
        won.update(session.execute(statement).scalars().all())
    return won


# --- what each unit should hear today -------------------------------------------------------------

def _ranked_candidates(today: dt.date, days: int, items: int) -> Any:
    """Per unit and bucket (overdue, due within ``days``, sent back): the first ``items`` findings,
    the bucket's count and each finding's days overdue. The overdue and due rules are ``lights``'s."""
    overdue = lights.is_overdue(today)
    by_deadline = (select(Finding.lead_unit_id, Finding.serial, Finding.current_deadline,
                          case((overdue, literal("overdue")), else_=literal("due")).label("bucket"),
                          lights.days_overdue(today).label("days_overdue"))
                   .where(or_(overdue, lights.is_due_within(today, days))))
    sent_back = (select(Finding.lead_unit_id, Finding.serial, Finding.current_deadline,
                        literal("sent_back").label("bucket"), literal(0).label("days_overdue"))
                 .where(Finding.status == Status.IN_PROGRESS.value, Finding.sent_back_count > 0))
    candidates = union_all(by_deadline, sent_back).subquery("candidates")
    c = candidates.c
    partition = (c.lead_unit_id, c.bucket)
    ranked = select(c.lead_unit_id, c.bucket, c.serial, c.current_deadline, c.days_overdue,
                    func.row_number().over(partition_by=partition, order_by=(c.current_deadline, c.serial)).label("rn"),
                    func.count().over(partition_by=partition).label("n")).subquery("ranked")
    r = ranked.c
    return select(r.lead_unit_id, r.bucket, r.serial, r.current_deadline, r.days_overdue, r.n).where(r.rn <= items)


@dataclass
class UnitDigest:
    unit_id: int
    overdue: list[list[Any]] = field(default_factory=list)
    overdue_count: int = 0
    due_soon: list[list[Any]] = field(default_factory=list)
    due_soon_count: int = 0
    sent_back: list[str] = field(default_factory=list)
    sent_back_count: int = 0
    clues_overdue: list[list[Any]] = field(default_factory=list)     # [户编号, days late] (a township unit)
    clues_overdue_count: int = 0
    clues_due_soon: list[list[Any]] = field(default_factory=list)    # [户编号, ISO due date]
    clues_due_soon_count: int = 0
    zero_change: list[list[Any]] = field(default_factory=list)       # [period, count, townships] (the county unit)

    def params(self, unit: str, today: dt.date, days: int, clue_days: int = 0) -> dict[str, Any]:
        return {"unit": unit, "date": today.isoformat(), "days": days,
                "overdue": self.overdue, "overdue_count": self.overdue_count,
                "due_soon": self.due_soon, "due_soon_count": self.due_soon_count,
                "sent_back": self.sent_back, "sent_back_count": self.sent_back_count,
                "clues_overdue": self.clues_overdue, "clues_overdue_count": self.clues_overdue_count,
                "clues_due_soon": self.clues_due_soon, "clues_due_soon_count": self.clues_due_soon_count,
                "clue_days": clue_days, "zero_change": self.zero_change,
                "link": f"{config.public_url()}/my_work"}


def _as_date(value: Any) -> dt.date:
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value)[:10])


def unit_digests(session: Session, today: dt.date, days: int) -> dict[int, UnitDigest]:
    """Per unit: its most overdue, soonest due and sent-back findings (a few each) and the counts,
    in one ranked query over the open-deadline index."""
    digests: dict[int, UnitDigest] = {}
    rows = session.execute(_ranked_candidates(today, days, notifications.DIGEST_ITEMS)).all()
    for unit_id, bucket, serial, deadline, days_late, count in rows:
        digest = digests.setdefault(unit_id, UnitDigest(unit_id))
        if bucket == "overdue":
            digest.overdue.append([serial, int(days_late)])
            digest.overdue_count = count
        elif bucket == "due":
            digest.due_soon.append([serial, _as_date(deadline).isoformat()])
            digest.due_soon_count = count
        else:
            digest.sent_back.append(serial)
            digest.sent_back_count = count
    return digests


def township_units(session: Session) -> dict[str, int]:
    """Township name → the unit that holds its households (the township's own unit)."""
    return dict(session.exec(select(Unit.name, Unit.id).where(Unit.kind == UnitKind.TOWNSHIP.value,
                                                              Unit.active == true())).all())


def household_digests(session: Session, today: dt.date, settings: Settings,
                      digests: dict[int, UnitDigest] | None = None) -> dict[int, UnitDigest]:
    """The household ledger's part of the digest (issue 22, 23): each township unit's clues past their clock
    and those whose clock runs out within ``clue_remind_days``; the county monitoring units' 零变化 townships
    of the last month and quarter. Added to ``digests`` (the findings' part) when given."""
    from dashboard.services import households, quality

    digests = {} if digests is None else digests
    units = township_units(session)
    overdue, near = lights.clue_overdue(today), lights.clue_due_within(today, settings.clue_remind_days)
    rows = session.execute(
        select(Household.township, Household.number, HouseholdCase.due_on, overdue.label("late"))
        .join(Household, Household.id == HouseholdCase.household_id)
        .where(or_(overdue, near)).order_by(HouseholdCase.due_on, Household.number)).all()
    for township, number, due_on, late in rows:
        unit_id = units.get(township)
        if unit_id is None:
            continue
        digest = digests.setdefault(unit_id, UnitDigest(unit_id))
        if late:
            digest.clues_overdue_count += 1
            if len(digest.clues_overdue) < notifications.DIGEST_ITEMS:
                digest.clues_overdue.append([number, (today - _as_date(due_on)).days])
        else:
            digest.clues_due_soon_count += 1
            if len(digest.clues_due_soon) < notifications.DIGEST_ITEMS:
                digest.clues_due_soon.append([number, _as_date(due_on).isoformat()])
    quiet = [quality.zero_change(session, period) for period in (quality.last_month(today), quality.last_quarter(today))]
    lines = [[change.period.label, len(change.townships), "、".join(change.townships[:ZERO_CHANGE_NAMED])]
             for change in quiet if change.townships]
    if lines:
        for unit_id in sorted(households.monitoring_unit_ids(session)):
            digests.setdefault(unit_id, UnitDigest(unit_id)).zero_change = lines
    return digests


def _users_by_unit(session: Session) -> dict[int, list[int]]:
    users: dict[int, list[int]] = defaultdict(list)
    for user_id, unit_id in session.exec(select(User.id, User.unit_id).where(User.active == true(),
                                                                               User.unit_id.is_not(None))).all():
        users[unit_id].append(user_id)  # type: ignore[index]  # the query keeps users with a unit only
    return users


def _channels(session: Session) -> tuple[dict[int | None, tuple[int | None, str]], tuple[int | None, str] | None]:
    own = {row.unit_id: (row.id, row.masked) for row in session.exec(
        select(NotifyChannel).where(NotifyChannel.active == true())).all()}
    default = own.pop(None, None) or ((None, delivery.DEFAULT_CHANNEL) if config.notify_urls() else None)
    return own, default


def digest_pass(engine: Engine, today: dt.date | None = None, worker: str = "") -> int:
    """The daily digest of every unit with something due: an in-app notice to its users and one
    message to its channel. Returns how many units this pass claimed."""
    today = today or clock.today()
    with read_session(engine) as session:
        settings = load_settings(session)
        digests = household_digests(session, today, settings, unit_digests(session, today, settings.remind_days_first))
    if not digests:
        return 0
    recipients = sorted(f"unit:{unit_id}" for unit_id in digests)
    with unit_of_work(engine) as session:
        won = claim(session, "digest", today, recipients, worker)
        if not won:
            return 0
        names = dict(session.exec(select(Unit.id, Unit.name)).all())
        users = _users_by_unit(session)
        own, default = _channels(session)
        now = clock.now()
        notices, messages = [], []
        title = t("digest.title", "zh")
        for unit_id in sorted(int(r.split(":", 1)[1]) for r in won):
            params = digests[unit_id].params(names.get(unit_id, "?"), today, settings.remind_days_first,
                                             settings.clue_remind_days)
            notices += [{"user_id": user_id, "kind": Kind.DIGEST, "finding_id": None, "params": params,
                         "created_at": now, "read_at": None} for user_id in users.get(unit_id, [])]
            channel = own.get(unit_id, default)
            if channel is not None:
                messages.append({"dedupe_key": f"digest:{today.isoformat()}:unit:{unit_id}", "unit_id": unit_id,
                                 "channel_id": channel[0], "recipient": f"{names.get(unit_id, '?')} · {channel[1]}"[:120],
                                 "kind": Kind.DIGEST, "title": title, "body": notifications.digest_text(params, "zh"),
                                 "status": delivery.Status.PENDING, "attempts": 0, "next_attempt_at": now,
                                 "last_error": "", "created_at": now, "sent_at": None})
        for start in range(0, len(notices), CHUNK * 4):
            session.execute(insert(Notification), notices[start:start + CHUNK * 4])
        for start in range(0, len(messages), CHUNK):
            session.execute(insert(Delivery), messages[start:start + CHUNK])
    return len(won)


def reminder_pass(engine: Engine, today: dt.date | None = None, worker: str = "") -> int:
    """In-app reminders per finding on the days that matter: N days before its deadline (the two
    ``remind_days`` settings) and the first day it is overdue. Claimed per unit and day."""
    today = today or clock.today()
    with read_session(engine) as session:
        settings = load_settings(session)
    marks = {today + dt.timedelta(days=settings.remind_days_first): settings.remind_days_first,
             today + dt.timedelta(days=settings.remind_days_second): settings.remind_days_second,
             today - dt.timedelta(days=1): -1}
    with read_session(engine) as session:
        due = session.exec(select(Finding.id, Finding.serial, Finding.description, Finding.lead_unit_id,
                                  Finding.current_deadline).where(
            lights.deadline_in_force(), Finding.current_deadline.in_(list(marks)))).all()
    if not due:
        return 0
    by_unit: dict[int, list] = defaultdict(list)
    for row in due:
        by_unit[row.lead_unit_id].append(row)
    with unit_of_work(engine) as session:
        won = claim(session, "remind", today, sorted(f"unit:{u}" for u in by_unit), worker)
        users = _users_by_unit(session)
        now = clock.now()
        notices = []
        for recipient in sorted(won):
            unit_id = int(recipient.split(":", 1)[1])
            for row in by_unit[unit_id]:
                days = marks[row.current_deadline]
                kind = Kind.OVERDUE if days < 0 else Kind.DUE_SOON
                params = {"serial": row.serial, "description": notifications._short(row.description),
                          "deadline": row.current_deadline.isoformat(), "days": 1 if days < 0 else days}
                notices += [{"user_id": user_id, "kind": kind, "finding_id": row.id, "params": params,
                             "created_at": now, "read_at": None} for user_id in users.get(unit_id, [])]
        for start in range(0, len(notices), CHUNK * 4):
            session.execute(insert(Notification), notices[start:start + CHUNK * 4])
    return len(won)


# --- the household ledger's reminders (issue 23): each event told once --------------------------------------

@dataclass(frozen=True)
class HouseholdEvent:
    """One thing a township (and, where it acts next, the county's monitoring unit) must hear about once.
    ``job``, ``day`` and ``key`` are its claim: the same event found on any later night claims nothing."""

    job: str
    day: dt.date
    key: str
    kind: Kind
    township: str
    county_acts: bool
    params: dict[str, Any]


ELIMINATION_CATCH_UP_DAYS = 6   # a night the worker missed: a household that became eligible this recently is still told
ACTED_ON_BY_COUNTY = frozenset({CaseState.TOWNSHIP_APPROVED, CaseState.ELIM_PUBLICIZED})   # 县级审定 / 县级审核 next


def household_events(session: Session, today: dt.date, settings: Settings) -> list[HouseholdEvent]:
    """Tonight's events: clues whose clock runs out within ``clue_remind_days``, 公示 that end today or
    tomorrow, and households monitored ``eliminate_after_months`` (eligible for 风险消除 by months)."""
    events: list[HouseholdEvent] = []
    base = (select(HouseholdCase.id, HouseholdCase.state, HouseholdCase.kind, HouseholdCase.due_on,
                   HouseholdCase.publicity_end, Household.id.label("household_id"), Household.number,
                   Household.township).join(Household, Household.id == HouseholdCase.household_id))
    for row in session.execute(base.where(lights.clue_due_within(today, settings.clue_remind_days))).all():
        events.append(HouseholdEvent(
            "hh_clue_due", row.due_on, f"case:{row.id}", Kind.CLUE_DUE_SOON, row.township,
            CaseState(row.state) in ACTED_ON_BY_COUNTY,
            {"number": row.number, "township": row.township, "due": row.due_on.isoformat(),
             "days": (row.due_on - today).days, "household_id": row.household_id}))
    posted = (CaseState.PUBLICIZED.value, CaseState.ELIM_PUBLICIZED.value)   # the 公示 is the step the case is at
    for row in session.execute(base.where(HouseholdCase.state.in_(posted), HouseholdCase.publicity_end >= today,
                                          HouseholdCase.publicity_end <= today + dt.timedelta(days=1))).all():
        events.append(HouseholdEvent(
            "hh_publicity_end", row.publicity_end, f"case:{row.id}", Kind.PUBLICITY_ENDS, row.township,
            CaseState(row.state) in ACTED_ON_BY_COUNTY,
            {"number": row.number, "township": row.township, "end": row.publicity_end.isoformat(),
             "as_of": today.isoformat(), "case_kind": row.kind, "household_id": row.household_id}))
    months = settings.eliminate_after_months
    earliest, latest = add_months(today - dt.timedelta(days=ELIMINATION_CATCH_UP_DAYS), -months), add_months(today, -months)
    open_case = select(HouseholdCase.id).where(HouseholdCase.household_id == Household.id,
                                               HouseholdCase.state.in_([s.value for s in CLOCKED_CASE_STATES]
                                                                       + [CaseState.ELIM_VERIFIED.value,
                                                                          CaseState.ELIM_PUBLICIZED.value,
                                                                          CaseState.ELIM_APPROVED.value]))
    candidates = session.execute(select(Household.id, Household.number, Household.township, Household.identified_on).where(
        Household.state == HouseholdState.MONITORED.value, Household.identified_on >= earliest - dt.timedelta(days=3),
        Household.identified_on <= latest + dt.timedelta(days=3), ~open_case.exists())).all()
    for row in candidates:
        eligible = add_months(row.identified_on, months)   # the 风险消除 gate's own date arithmetic
        if today - dt.timedelta(days=ELIMINATION_CATCH_UP_DAYS) <= eligible <= today:
            events.append(HouseholdEvent(
                "hh_elim_due", row.identified_on, f"household:{row.id}", Kind.ELIMINATION_DUE, row.township, False,
                {"number": row.number, "township": row.township, "identified": row.identified_on.isoformat(),
                 "months": months, "household_id": row.id}))
    return events


def household_reminder_pass(engine: Engine, today: dt.date | None = None, worker: str = "") -> int:
    """Tell each township unit (and the county's monitoring units where they act next) of tonight's household
    events, each event once (claimed by the event, not the day). Returns the events this pass claimed."""
    from dashboard.services import households

    today = today or clock.today()
    with read_session(engine) as session:
        events = household_events(session, today, load_settings(session))
    if not events:
        return 0
    told = 0
    with unit_of_work(engine) as session:
        units, monitoring = township_units(session), sorted(households.monitoring_unit_ids(session))
        for job in sorted({event.job for event in events}):
            mine = [event for event in events if event.job == job]
            for day in sorted({event.day for event in mine}):
                on_day = {event.key: event for event in mine if event.day == day}
                for key in sorted(claim(session, job, day, sorted(on_day), worker)):
                    event = on_day[key]
                    recipients = ([units[event.township]] if event.township in units else []) + (
                        monitoring if event.county_acts else [])
                    for unit_id in recipients:
                        notifications.notify_unit(session, unit_id, event.kind, params=event.params,
                                                  dedupe_key=f"{job}:{day.isoformat()}:{key}:unit:{unit_id}")
                    told += 1
    return told


# --- the findings ledger: a source's 整改情况报告 ------------------------------------------------------------

REPORT_READERS = (Role.INSPECTOR, Role.LEADER)   # who is reminded of a source's report


def report_reminder_pass(engine: Engine, today: dt.date | None = None, worker: str = "") -> int:
    """A source's 整改情况报告: inspectors and leaders are reminded ``remind_days_first`` (7) and
    ``remind_days_second`` (3) days before its due date and on the day, until the report is marked sent.
    Claimed per source and day. Returns the sources this pass claimed."""
    today = today or clock.today()
    with read_session(engine) as session:
        settings = load_settings(session)
        marks = {today + dt.timedelta(days=days): days
                 for days in (settings.remind_days_first, settings.remind_days_second, 0)}
        due = session.exec(select(Source.id, Source.title, Source.report_due_date).where(
            Source.report_due_date.in_(list(marks)), Source.report_sent_on.is_(None))).all()
    if not due:
        return 0
    with unit_of_work(engine) as session:
        won = claim(session, "report_due", today, sorted(f"source:{row.id}" for row in due), worker)
        readers = list(session.exec(select(User.id).where(User.active == true(),
                                                          User.role.in_([r.value for r in REPORT_READERS]))).all())
        for row in due:
            if f"source:{row.id}" in won:
                notifications.notify_users(session, readers, Kind.REPORT_DUE, params={
                    "title": notifications._short(row.title, 60), "due": row.report_due_date.isoformat(),
                    "days": marks[row.report_due_date], "source_id": row.id})
    return len(won)


def rebuild_rollups(engine: Engine) -> Any:
    from dashboard.services import imports, rollups

    imports.undo_abandoned(engine)  # an import a crash left half-written (SQLite's chunks) goes first
    return rollups.refresh_if_stale(engine)


def daily(engine: Engine, today: dt.date | None = None) -> dict[str, int]:
    """Reminders and digests for today, then send what is due."""
    worker = worker_name()
    result = {"reminded_units": reminder_pass(engine, today, worker),
              "household_events": household_reminder_pass(engine, today, worker),
              "report_reminders": report_reminder_pass(engine, today, worker),
              "digest_units": digest_pass(engine, today, worker)}
    result.update({f"delivery_{k}": v for k, v in delivery.deliver_due(engine).items()})
    return result


def deliver(engine: Engine) -> dict[str, int]:
    return delivery.deliver_due(engine)


def quality_pass(engine: Engine, today: dt.date | None = None, worker: str = "") -> dict[str, int]:
    """The nightly data-quality check (数据质量核查): each township unit with households hit gets one notice
    a day; the county's monitoring units get each 零变化 period (month, quarter) once."""
    from dashboard.services import households, quality

    today = today or clock.today()
    # the night's result is stored (the rules' hits and 零变化): the 数据质量 page and the bulletin read it
    check = quality.refresh_in(engine, SYSTEM, today)
    per_township = check.counts
    with read_session(engine) as session:
        monitoring = sorted(households.monitoring_unit_ids(session))
        units = {township: households.township_unit_id(session, township)
                 for township in {name for counts in per_township.values() for name in counts}}
    hit_notices = {unit_id: {"township": township, "as_of": today.isoformat(),
                             "rules": sum(1 for counts in per_township.values() if counts.get(township)),
                             "households": sum(counts.get(township, 0) for counts in per_township.values())}
                   for township, unit_id in units.items() if unit_id is not None}
    sent = {"quality_units": 0, "zero_change_notices": 0}
    with unit_of_work(engine) as session:
        won = claim(session, "quality", today, sorted(f"unit:{unit_id}" for unit_id in hit_notices), worker)
        for recipient in sorted(won):
            unit_id = int(recipient.split(":", 1)[1])
            notifications.notify_unit(session, unit_id, Kind.QUALITY_HITS, params=hit_notices[unit_id],
                                      dedupe_key=f"quality:{today.isoformat()}:{recipient}")
            sent["quality_units"] += 1
        for change in check.zero_change:   # last month and last quarter (``quality.zero_change_figures``)
            if not change["townships"] or not monitoring:
                continue
            keys = [f"zero:{change['period']}:unit:{unit_id}" for unit_id in monitoring]
            end = dt.date.fromisoformat(change["end"])
            for recipient in sorted(claim(session, "zero_change", end, keys, worker)):
                unit_id = int(recipient.rsplit(":", 1)[1])
                notifications.notify_unit(session, unit_id, Kind.ZERO_CHANGE, dedupe_key=recipient, params={
                    "period": change["period"], "count": len(change["townships"]),
                    "townships": "、".join(change["townships"][:ZERO_CHANGE_NAMED])})
                sent["zero_change_notices"] += 1
    return sent


ZERO_CHANGE_NAMED = 10  # townships a 零变化 notice names


def nightly_quality(engine: Engine) -> dict[str, int]:
    return quality_pass(engine)


def nightly_backup(engine: Engine) -> Any:
    """The nightly backup (issue 17) into DASHBOARD_BACKUP_DIR, the newest ``backup_keep`` kept."""
    from dashboard import config
    from dashboard.services import backup

    with read_session(engine) as session:
        keep = load_settings(session).backup_keep
    return backup.nightly_backup(engine, config.backup_dir(), keep)


def run_once(engine: Engine, today: dt.date | None = None) -> dict[str, Any]:
    """One pass of every daily job, for cron: safe to run any number of times a day."""
    result: dict[str, Any] = {"rollups_rebuilt": bool(run_and_record(engine, "rollups", rebuild_rollups))}
    result.update(run_and_record(engine, "daily", lambda e: daily(e, today)))
    result.update(run_and_record(engine, "quality", lambda e: quality_pass(e, today)))
    return result


# --- what the health page knows of the worker ---------------------------------------------------------

def run_and_record(engine: Engine, name: str, job: Callable[[Engine], Any], worker: str = "") -> Any:
    """Run one job and record its run in ``job_run`` (one row per job: the latest), also when it fails;
    the error is raised again for the caller to log."""
    worker, started = worker or worker_name(), clock.now()
    try:
        result = job(engine)
    except Exception as error:
        _record_run(engine, name, worker, started, ok=False, detail=f"{type(error).__name__}: {error}")
        raise
    _record_run(engine, name, worker, started, ok=True, detail=str(result))
    return result


def _record_run(engine: Engine, name: str, worker: str, started: dt.datetime, *, ok: bool, detail: str) -> None:
    finished = clock.now()
    values = {"job": name, "worker": worker[:60], "started_at": started, "finished_at": finished, "ok": ok,
              "detail": detail[:300]}
    with unit_of_work(engine) as session:
        statement = conflict_insert(session, JobRun).values(**values, last_ok_at=finished if ok else None)
        changes = {**values, "last_ok_at": finished if ok else JobRun.last_ok_at}  # two workers: the later wins
        session.execute(statement.on_conflict_do_update(index_elements=["job"], set_=changes))


def last_runs(session: Session) -> list[JobRun]:
    """The latest run of every job the worker (or cron) has run, newest first."""
    return list(session.execute(select(JobRun).order_by(JobRun.finished_at.desc(), JobRun.job)).scalars())


# --- the worker's timetable --------------------------------------------------------------------------

@dataclass(frozen=True)
class Job:
    name: str
    run: Callable[[Engine], Any]
    trigger: dict[str, Any]  # APScheduler trigger and its arguments


def timetable(engine: Engine) -> list[Job]:
    with read_session(engine) as session:
        hour = load_settings(session).digest_hour
    return [
        Job("rollups", rebuild_rollups, {"trigger": "cron", "hour": 0, "minute": 5}),
        Job("daily", daily, {"trigger": "cron", "hour": hour, "minute": 0}),
        Job("deliver", deliver, {"trigger": "interval", "minutes": 1}),
        Job("backup", nightly_backup, {"trigger": "cron", "hour": 2, "minute": 30}),
        Job("quality", nightly_quality, {"trigger": "cron", "hour": 1, "minute": 0}),
    ]
