"""Province-scale synthetic ledger: ~100 counties, ~1,500 townships, ~20,000 villages, ~300 units
and as many findings as asked, with realistic proportions of states and lights, 3–5 progress
entries and a few audit rows per finding, extensions, send-backs and repeats.

Bulk inserts in large batches straight through the DBAPI (not one ORM object at a time).
Deterministic for a given seed and reference date.
"""
from __future__ import annotations

import datetime as dt
import math
import random
from dataclasses import dataclass
from typing import Any, Iterable, Iterator

from sqlalchemy import Engine, Table, func, insert, select

from dashboard import config
from dashboard.passwords import hash_password
from dashboard.services import household_figures, rollups
from dashboard.services.unit_of_work import unit_of_work
from dashboard.vocab import (EscalationKind, ExtensionDecision, Priority, RectType, ReviewDecision, Role, SourceKind,
                             Status, UnitKind, VillageLevel, VillageStatus, codes)
from db.engine import after_bulk_load
from db.models import (AuditLog, Category, ClosureReview, Escalation, ExtensionRequest, Finding, FindingCoUnit,
                       Measure, Progress, SerialCounter, Source, Unit, User, Village)
from seed import demo_content
from seed.synthetic_households import insert_households

BATCH = 20_000
SYLLABLES = ("安", "宁", "丰", "泰", "和", "平", "新", "兴", "永", "清", "河", "山", "东", "西", "南", "北", "长", "石",
             "桥", "湖", "江", "林", "阳", "庆", "福", "华", "龙", "凤", "高", "望", "云", "柳", "杨", "塘", "坝", "岭")
OFFICES = ("社会救助办", "儿童福利和社会事务股", "养老服务和慈善事业促进股")
# state → share of findings (closed and cancelled apart)
FIXED_SHARES = ((Status.CANCELLED, 0.02), (Status.ONGOING, 0.05))
OPEN_SHARES = ((Status.OPEN, 0.2), (Status.IN_PROGRESS, 0.55), (Status.PENDING_REVIEW, 0.25))
OPEN_LIFETIME_DAYS = 180  # the chance a finding is still open falls by e every 180 days of age


@dataclass
class SyntheticSize:
    findings: int
    counties: int = 100
    townships: int = 1_500
    villages: int = 20_000
    units: int = 300
    sources: int = 400
    households: int = 0   # the household ledger (issue 22): households in the synthetic villages


def _name(rng: random.Random, length: int, suffix: str, taken: set[str]) -> str:
    if len(taken) >= len(SYLLABLES) ** length // 2:  # keep the space sparse so a free name is found quickly
        raise ValueError(f"too many names of {length} syllables")
    while True:
        name = "".join(rng.choice(SYLLABLES) for _ in range(length)) + suffix
        if name not in taken:
            taken.add(name)
            return name


def _batched(rows: Iterable[dict], size: int = BATCH) -> Iterator[list[dict]]:
    batch: list[dict] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _insert(connection, table: Table, rows: Iterable[dict]) -> int:
    count = 0
    for batch in _batched(rows):
        connection.execute(insert(table), batch)
        count += len(batch)
    return count


def generate(engine: Engine, size: SyntheticSize, *, seed: int = 20261123, today: dt.date | None = None) -> dict:
    """Fill an empty, migrated database. Returns the row counts written."""
    rng = random.Random(seed)
    today = today or dt.date(2026, 11, 23)
    now = dt.datetime.combine(today, dt.time(9, 0))
    counts: dict[str, int] = {}
    with unit_of_work(engine) as session:
        connection = session.connection()
        if connection.execute(select(func.count()).select_from(Finding.__table__)).scalar_one():
            raise SystemExit("数据库中已有问题记录，合成数据只写入空库 / the database already has findings")
        places = _places(rng, size)
        counts["villages"] = _insert(connection, Village.__table__, places["villages"])
        counts["units"] = _insert(connection, Unit.__table__, places["units"])
        counts["categories"] = _insert(connection, Category.__table__, [
            {"id": i, "name": name, "sort_order": i, "active": True}
            for i, name in enumerate(demo_content.CATEGORIES, start=1)])
        counts["users"] = _insert(connection, User.__table__, _users(places))
        counts["sources"] = _insert(connection, Source.__table__, _sources(rng, size, today))
        counts.update(_findings(connection, rng, size, places, today, now))
        if size.households:
            counts.update(insert_households(connection, random.Random(seed + 22), size.households,
                                            places["villages"], today))
            _advance_sequences(connection)  # again: the households were written after the findings' pass
        rollups.touch_all(session)  # written below the ORM: the next reader rebuilds the figures
        household_figures.touch_all(session)  # households by COPY: the unit of work counts every township again
    after_bulk_load(engine)  # planner statistics, and PostgreSQL's visibility map for index-only scans
    return counts


def _places(rng: random.Random, size: SyntheticSize) -> dict[str, Any]:
    taken: set[str] = set()
    counties = [_name(rng, 2, "县", taken) for _ in range(size.counties)]
    townships = [(counties[i % size.counties], _name(rng, 3, rng.choice("镇乡"), taken)) for i in range(size.townships)]
    villages, village_names = [], set()
    for village_id in range(1, size.villages + 1):
        county, township = townships[village_id % size.townships]
        supervised = rng.random() < 0.04
        level = (VillageLevel.PROVINCIAL if rng.random() < 0.4 else VillageLevel.KEY) if supervised else VillageLevel.NORMAL
        rate = round(rng.uniform(1.0, 3.5) if supervised else rng.uniform(0.0, 0.9), 2)
        villages.append({
            "id": village_id, "county": county, "township": township, "name": _name(rng, 3, "村", village_names),
            "level": level.value, "poverty_rate": rate,
            "remaining_poor": rng.randint(51, 140) if supervised else rng.randint(0, 49),
            "monitored_households": rng.randint(3, 60), "population": rng.randint(800, 4500),
            "leader": "包村领导 某某", "work_team": "第一书记 某某",
            "support_unit": "县直单位", "status": (rng.choice(codes(VillageStatus)) if supervised
                                                   else VillageStatus.SUPERVISING.value), "version": 1})
    units = [{"id": 1, "name": "整改办", "kind": UnitKind.OFFICE.value, "parent_id": None, "active": True, "version": 1}]
    for unit_id in range(2, size.units + 1):
        county = counties[(unit_id - 2) // len(OFFICES) % size.counties]
        office = OFFICES[(unit_id - 2) % len(OFFICES)]
        name = f"{county}{office}" if (unit_id - 2) < size.counties * len(OFFICES) else f"{county}{office}{unit_id}"
        units.append({"id": unit_id, "name": name, "kind": UnitKind.OFFICE.value, "parent_id": None, "active": True,
                      "version": 1})
    return {"villages": villages, "units": units, "unit_ids": [u["id"] for u in units[1:]]}


def _users(places: dict) -> list[dict]:
    password = hash_password(config.DEMO_PASSWORD)
    people = [("admin", Role.ADMIN, None), ("leader", Role.LEADER, None), ("inspector", Role.INSPECTOR, 1)]
    people += [(f"dept{unit_id}", Role.DEPARTMENT, unit_id) for unit_id in places["unit_ids"][:50]]
    return [{"id": i, "username": name, "display_name": name, "role": role.value, "unit_id": unit, "password_hash": password,
             "is_demo_password": True, "active": True, "failed_logins": 0, "token_version": 1,
             "created_at": dt.datetime(2024, 1, 1), "version": 1}
            for i, (name, role, unit) in enumerate(people, start=1)]


def _sources(rng: random.Random, size: SyntheticSize, today: dt.date) -> list[dict]:
    kinds = codes(SourceKind)
    titles = [s["title"] for s in demo_content.SOURCES]
    rows = []
    for source_id in range(1, size.sources + 1):
        received = today - dt.timedelta(days=rng.randint(10, 1400))
        rows.append({"id": source_id, "kind": rng.choice(kinds), "title": f"{rng.choice(titles)}（第{source_id}批）",
                     "issuing_body": rng.choice(("省纪委", "省整改办", "省民政厅", "审计部门", "市民政局")),
                     "received_date": received, "report_due_date": received + dt.timedelta(days=60), "notes": "",
                     "created_by_id": 3, "created_at": dt.datetime.combine(received, dt.time(9)), "version": 1})
    return rows


def _pick_state(rng: random.Random, age_days: int) -> Status:
    """Older findings are mostly closed, as in a real ledger: open work is mostly recent, so only
    part of it is overdue, not nearly all of it."""
    roll = rng.random()
    for state, share in FIXED_SHARES:
        if roll < share:
            return state
        roll -= share
    if rng.random() >= math.exp(-age_days / OPEN_LIFETIME_DAYS):
        return Status.CLOSED
    roll, cumulative = rng.random(), 0.0
    for state, share in OPEN_SHARES:
        cumulative += share
        if roll < cumulative:
            return state
    return Status.IN_PROGRESS


def _findings(connection, rng: random.Random, size: SyntheticSize, places: dict, today: dt.date,
              now: dt.datetime) -> dict[str, int]:
    descriptions = [f["description"] for f in demo_content.FINDINGS]
    measures_text = [m for f in demo_content.FINDINGS for m in f["measures"]]
    progress_text = [p for f in demo_content.FINDINGS for p in f["progress"]] or ["已召开专题会议研究整改"]
    villages, unit_ids = places["villages"], places["unit_ids"]
    source_dates = dict(connection.execute(select(Source.id, Source.received_date)).all())
    tables = {name: [] for name in ("finding", "measure", "progress", "audit", "co_unit", "extension", "review",
                                    "escalation")}
    counts = {name: 0 for name in tables}
    serial_by_year: dict[int, int] = {}
    closed_ids: list[int] = []
    progress_id = measure_id = audit_id = 0

    def flush(final: bool = False) -> None:
        for name, table in (("finding", Finding), ("measure", Measure), ("progress", Progress), ("audit", AuditLog),
                            ("co_unit", FindingCoUnit), ("extension", ExtensionRequest), ("review", ClosureReview),
                            ("escalation", Escalation)):
            if tables[name] and (final or len(tables[name]) >= BATCH):
                connection.execute(insert(table.__table__), tables[name])
                counts[name] += len(tables[name])
                tables[name] = []

    for finding_id in range(1, size.findings + 1):
        source_id = rng.randint(1, size.sources)
        received = source_dates[source_id]
        created = dt.datetime.combine(received + dt.timedelta(days=rng.randint(1, 5)), dt.time(rng.randint(8, 17)))
        if created.date() >= today:
            created = now - dt.timedelta(days=1)
        year = created.year
        serial_by_year[year] = serial_by_year.get(year, 0) + 1
        state = _pick_state(rng, (today - created.date()).days)
        rect_type = RectType.LONG_TERM if state is Status.ONGOING else rng.choice((RectType.IMMEDIATE, RectType.DEADLINE,
                                                                                   RectType.DEADLINE))
        original = None if rect_type is RectType.LONG_TERM else created.date() + dt.timedelta(days=rng.randint(15, 240))
        current, extensions = original, 0
        if original and rng.random() < 0.08:
            current, extensions = original + dt.timedelta(days=rng.randint(30, 120)), 1
        village = rng.choice(villages) if rng.random() < 0.7 else None
        lead = rng.choice(unit_ids)
        closed_at = None
        if state is Status.CLOSED:
            due = current or (created.date() + dt.timedelta(days=90))
            end = dt.datetime.combine(due, dt.time(16)) + dt.timedelta(days=rng.randint(-30, 20))
            if end >= now:  # closed early, some time since it was logged (not all in the current week)
                end = created + (now - created) * rng.uniform(0.2, 0.95)
            closed_at = max(created + dt.timedelta(days=2), end)
            if closed_at >= now:
                closed_at = now - dt.timedelta(hours=1)
        span = max(((closed_at or now) - created).days, 4)
        silent = rng.random() < 0.12
        last_progress = None
        if state is not Status.OPEN:
            for step in range(rng.randint(3, 5)):
                progress_id += 1
                moment = created + dt.timedelta(days=span * (step + 1) / 6)
                if silent:
                    moment -= dt.timedelta(days=45)
                moment = max(created, min(moment, now - dt.timedelta(hours=2)))
                last_progress = moment
                tables["progress"].append({"id": progress_id, "finding_id": finding_id, "unit_id": lead, "author_id": 4,
                                           "reported_at": moment, "done_text": rng.choice(progress_text),
                                           "next_text": "", "percent": min(100, 25 * (step + 1))})
        sent_back = 0
        if state in (Status.IN_PROGRESS, Status.PENDING_REVIEW, Status.CLOSED) and rng.random() < 0.1:
            sent_back = 1 if rng.random() < 0.8 else 2
        repeat_of = rng.choice(closed_ids) if closed_ids and rng.random() < 0.01 else None
        tables["finding"].append({
            "id": finding_id, "serial": f"ZG-{year}-{serial_by_year[year]:04d}", "source_id": source_id,
            "category_id": rng.randint(1, len(demo_content.CATEGORIES)), "description": rng.choice(descriptions),
            "county": village["county"] if village else "", "township": village["township"] if village else None,
            "village_id": village["id"] if village else None, "lead_unit_id": lead,
            "responsible_leader": "分管领导 某某", "responsible_person": "股长 某某", "rect_type": rect_type.value,
            "priority": Priority.KEY.value if rng.random() < 0.15 else Priority.NORMAL.value,
            "original_deadline": original, "current_deadline": current, "status": state.value, "remarks": "",
            "repeat_of_id": repeat_of, "created_by_id": 3, "created_at": created, "updated_at": last_progress or created,
            "closed_at": closed_at, "cancel_reason": "录入错误" if state is Status.CANCELLED else "",
            "import_key": None, "last_progress_at": last_progress, "sent_back_count": sent_back,
            "extension_count": extensions, "version": 1 + sent_back + extensions})
        if state is Status.CLOSED:
            closed_ids.append(finding_id)
        for seq in range(1, rng.randint(1, 3) + 1):
            measure_id += 1
            done = state in (Status.CLOSED, Status.PENDING_REVIEW, Status.ONGOING) or rng.random() < 0.3
            tables["measure"].append({"id": measure_id, "finding_id": finding_id, "seq": seq,
                                      "text": rng.choice(measures_text), "deadline": current, "done": done,
                                      "done_at": last_progress if done else None, "version": 1})
        if rng.random() < 0.3:
            tables["co_unit"].append({"finding_id": finding_id, "unit_id": rng.choice([u for u in unit_ids[:20]
                                                                                       if u != lead] or [1])})
        if extensions or (original and rng.random() < 0.02):
            approved = bool(extensions)
            tables["extension"].append({
                "finding_id": finding_id, "requested_by_id": 4, "requested_at": created + dt.timedelta(days=5),
                "reason": "需等待资金下拨", "old_deadline": original,
                "asked_deadline": current if approved else original + dt.timedelta(days=60),
                "decision": (ExtensionDecision.APPROVED if approved else ExtensionDecision.PENDING).value,
                "decided_by_id": 3 if approved else None,
                "decided_at": created + dt.timedelta(days=7) if approved else None, "comment": ""})
        for attempt in range(sent_back):
            tables["review"].append({"finding_id": finding_id, "applied_by_id": 4,
                                     "applied_at": created + dt.timedelta(days=10 + attempt),
                                     "summary": "已整改", "evidence_ids": [], "decision": ReviewDecision.SENT_BACK.value,
                                     "decided_by_id": 3, "decided_at": created + dt.timedelta(days=11 + attempt),
                                     "reason": "佐证材料不完整"})
        if state in (Status.PENDING_REVIEW, Status.CLOSED, Status.ONGOING):
            decision = {Status.PENDING_REVIEW: ReviewDecision.PENDING, Status.CLOSED: ReviewDecision.CLOSED,
                        Status.ONGOING: ReviewDecision.ONGOING}[state]
            tables["review"].append({"finding_id": finding_id, "applied_by_id": 4,
                                     "applied_at": (closed_at or now) - dt.timedelta(days=2), "summary": "已整改到位",
                                     "evidence_ids": [], "decision": decision.value,
                                     "decided_by_id": None if state is Status.PENDING_REVIEW else 3,
                                     "decided_at": closed_at, "reason": ""})
        for action in ("create", "report_progress", "apply_closure")[: rng.randint(2, 3)]:
            audit_id += 1
            tables["audit"].append({"id": audit_id, "at": created, "user_id": 3, "username": "inspector",
                                    "action": action, "entity": "Finding", "entity_id": finding_id,
                                    "finding_id": finding_id, "old": None, "new": {"status": state.value}, "note": ""})
        if rng.random() < 0.01:
            tables["escalation"].append({"kind": rng.choice(codes(EscalationKind)), "finding_id": finding_id,
                                         "unit_id": lead, "issued_on": today - dt.timedelta(days=rng.randint(1, 30)),
                                         "respond_by": today + dt.timedelta(days=rng.randint(-5, 14)),
                                         "issued_by_id": 2, "note": "请加快整改进度", "created_at": now})
        if finding_id % BATCH == 0:
            flush()
    flush(final=True)
    if serial_by_year:  # none when only households are generated (an empty executemany is deprecated)
        connection.execute(insert(SerialCounter.__table__), [{"year": y, "last": n} for y, n in serial_by_year.items()])
    _advance_sequences(connection)
    return counts


def _advance_sequences(connection) -> None:
    """PostgreSQL: explicit ids were inserted, so move each id sequence past them."""
    if connection.dialect.name != "postgresql":
        return
    for table in ("unit", "app_user", "village", "category", "source", "finding", "measure", "progress",
                  "extension_request", "closure_review", "escalation", "audit_log", "household", "household_member",
                  "household_risk", "household_case", "support_measure"):
        connection.exec_driver_sql(
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), COALESCE((SELECT MAX(id) FROM {table}), 1))")
