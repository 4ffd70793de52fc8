"""Province-scale synthetic households for the household ledger (``synthetic --households N``): bulk rows
below the ORM, spread over the synthetic villages, in every state, with sealed generated IDs and phones.

PostgreSQL receives the rows by ``COPY … FROM STDIN`` (psycopg 3) inside the generator's transaction, SQLite by
Core inserts in batches: 300,000 households and a million members are written in minutes, not the better part of
an hour. Every ID is still sealed (AES-GCM) and hashed (HMAC) one by one, as the services do.
"""
from __future__ import annotations

import datetime as dt
import random
from typing import Iterator

from dashboard import privacy
from dashboard.lifecycle import IDENTIFY_OPEN
from dashboard.vocab import (MEMBER_ADDITIONS, CaseKind, ClueSource, HouseholdState, HouseholdType, LabourSkill,
                             MemberChangeReason, MonitorCategory, Risk, SupportKind)
from dashboard.services.quality import ANSWERS
from db.engine import insert_rows
from db.models import (Household, HouseholdCase, HouseholdMember, HouseholdRisk, IncomeLine, MemberChange,
                       SupportMeasure)
from seed import people

BATCH = 20_000  # households per batch (with their members, risks and clues)
RELATIONS = ("户主", "配偶", "之子", "之女", "之母")
MEMBERS = (1, 2, 3, 3, 3, 4, 4, 5, 5)  # persons per household: 3⅓ on average (300,000 households, 1,000,000 people)
MEASURED = 0.85  # share of monitored households with a measure in force that answers their risk
INCOME_LINES = {2024: 7_500, 2025: 7_700, 2026: 7_900}  # 监测收入标准 of the synthetic province (yuan a year)
STATES = ((HouseholdState.MONITORED, 0.55), (HouseholdState.ELIMINATED, 0.22), (HouseholdState.NOT_MONITORED, 0.18),
          (HouseholdState.IDENTIFYING, 0.05))
IDENTIFY_DAYS = 15
CHANGES_SHARE = 0.06   # monitored households with a birth, marriage, death or move recorded


def _state(rng: random.Random) -> HouseholdState:
    roll = rng.random()
    for state, share in STATES:
        if roll < share:
            return state
        roll -= share
    return HouseholdState.MONITORED


def _member(sealer, member_id: int, household_id: int, seq: int, name: str | None, relation: str, born: dt.date,
            rng: random.Random, head: bool) -> dict:
    female = relation in ("配偶", "之女", "之母", "之儿媳")
    id_number = people.resident_id(rng, born, female=female)
    phone = people.phone(rng) if head else ""
    return {
        "id": member_id, "household_id": household_id, "seq": seq, "name": name or people.name(rng),
        "id_kind": "居民身份证",
        "id_cipher": sealer.seal(id_number, privacy.Field.ID), "id_hash": sealer.match_key(id_number),
        "id_masked": privacy.mask_id(id_number), "id_valid": True, "relation": relation, "is_head": head,
        "sex": "女" if female else "男", "birth_date": born, "education": "初中", "school_status": "",
        "health_cipher": None, "labour_skill": rng.choice(list(LabourSkill)).value,
        "phone_cipher": sealer.seal(phone, privacy.Field.PHONE), "phone_masked": privacy.mask_phone(phone),
        "flags": [], "version": 1}


def _rows(rng: random.Random, count: int, villages: list[dict], today: dt.date) -> Iterator[tuple[str, dict]]:
    member_id = risk_id = case_id = measure_id = 0
    sealer = privacy.sealer()
    for household_id in range(1, count + 1):
        village = villages[rng.randrange(len(villages))]
        state = _state(rng)
        monitored = state in (HouseholdState.MONITORED, HouseholdState.ELIMINATED)
        identified = today - dt.timedelta(days=rng.randint(20, 900)) if monitored else None
        eliminated = (identified + dt.timedelta(days=rng.randint(190, 400))
                      if state is HouseholdState.ELIMINATED and identified else None)
        if eliminated and eliminated > today:
            eliminated = today - dt.timedelta(days=rng.randint(0, 60))
        members = [(relation, people.birth(rng, today, 1 if index >= 2 else 30, 85))
                   for index, relation in enumerate(RELATIONS[:rng.choice(MEMBERS)])]
        head_name = people.name(rng)
        household = {
            "id": household_id, "number": f"S{household_id:011d}", "county": village["county"],
            "township": village["township"], "village_id": village["id"],
            "household_type": (HouseholdType.EXITED if rng.random() < 0.6 else HouseholdType.ORDINARY).value,
            "category": rng.choice(list(MonitorCategory)).value if monitored else None,
            "state": state.value, "head_name": head_name, "persons": len(members), "identified_on": identified, "eliminated_on": eliminated,
            "elimination_method": "supported" if eliminated else None, "income_year": today.year,
            "income_per_capita": float(rng.randrange(3000, 16000, 10)), "wage_income": None, "business_income": None,
            "transfer_income": None, "compliant_expense": None, "education_ok": True, "medical_ok": True,
            "housing_ok": rng.random() > 0.03, "water_ok": rng.random() > 0.02, "dibao": "", "tekun": "",
            "collector": "", "flags": [], "created_at": dt.datetime.combine(today, dt.time(8)),
            "updated_at": dt.datetime.combine(today, dt.time(8)), "version": 1}
        yield "household", household  # written with the next batch: a birth below still counts in its persons
        for seq, (relation, born) in enumerate(members, start=1):
            member_id += 1
            yield "member", _member(sealer, member_id, household_id, seq, head_name if seq == 1 else None, relation,
                                    born, rng, seq == 1)
        if state is HouseholdState.MONITORED and identified and rng.random() < CHANGES_SHARE:
            # 人口变动 while monitored (the bulletin's 自然增加/减少): a birth joins as a member, a leaver is gone
            reason = rng.choice(list(MemberChangeReason))
            day = max(identified, today - dt.timedelta(days=rng.randint(0, 120)))
            name = people.name(rng)
            if reason in MEMBER_ADDITIONS:
                member_id += 1
                born = day if reason is MemberChangeReason.BIRTH else people.birth(rng, day, 20, 32)
                relation = {MemberChangeReason.BIRTH: "之孙子", MemberChangeReason.MARRIAGE_IN: "之儿媳"}.get(reason, "其他")
                household["persons"] += 1
                yield "member", _member(sealer, member_id, household_id, len(members) + 1, name, relation, born, rng,
                                        False)
            yield "change", {"household_id": household_id, "reason": reason.value, "happened_on": day, "name": name,
                             "recorded_at": dt.datetime.combine(day, dt.time(10)), "recorded_by_id": None}
        risk = rng.choice(RISKS)
        if monitored or state is HouseholdState.IDENTIFYING:
            risk_id += 1
            yield "risk", {"id": risk_id, "household_id": household_id, "kind": risk.value,
                           "added_on": identified or today, "removed_on": None, "note": ""}
        if monitored and identified and rng.random() < MEASURED:
            measure_id += 1
            kind = rng.choice(ANSWERS.get(risk, SUPPORT_KINDS))
            start = identified + dt.timedelta(days=rng.randint(1, 15))
            yield "measure", {"id": measure_id, "household_id": household_id, "kind": kind.value,
                              "text": "合成帮扶措施", "unit_name": "", "start_on": min(start, today), "end_on": None,
                              "created_by_id": None, "created_at": dt.datetime.combine(today, dt.time(8)),
                              "version": 1}
        if state is HouseholdState.IDENTIFYING:
            case_id += 1
            received = today - dt.timedelta(days=rng.randint(0, 25))
            yield "case", {"id": case_id, "household_id": household_id, "kind": CaseKind.IDENTIFY.value,
                           "state": rng.choice(IDENTIFY_OPEN).value, "is_return": False,
                           "source": rng.choice(list(ClueSource)).value, "clue_text": "合成线索", "received_on": received,
                           "due_on": received + dt.timedelta(days=IDENTIFY_DAYS), "reason": "",
                           "created_at": dt.datetime.combine(received, dt.time(9)), "version": 1}


TABLES = {"household": Household.__table__, "member": HouseholdMember.__table__, "risk": HouseholdRisk.__table__,
          "case": HouseholdCase.__table__, "change": MemberChange.__table__,
          "measure": SupportMeasure.__table__}
RISKS = list(Risk)
SUPPORT_KINDS = tuple(SupportKind)


def insert_households(connection, rng: random.Random, count: int, villages: list[dict], today: dt.date) -> dict[str, int]:
    """Write ``count`` households (and their members, risks and open clues) in batches; returns the row counts.
    Each batch is written in table order, so that no member is written before its household."""
    counts = {name: 0 for name in TABLES}
    pending: dict[str, list[dict]] = {name: [] for name in TABLES}
    insert_rows(connection, IncomeLine.__table__, [{"year": year, "yuan": yuan, "set_by_id": None,
                                                "set_at": dt.datetime.combine(today, dt.time(8))}
                                               for year, yuan in INCOME_LINES.items()])

    def flush() -> None:
        for name in TABLES:
            if pending[name]:
                insert_rows(connection, TABLES[name], pending[name])
                counts[name] += len(pending[name])
                pending[name] = []

    for name, row in _rows(rng, count, villages, today):
        pending[name].append(row)
        if name == "household" and len(pending["household"]) >= BATCH:
            flush()
    flush()
    return {f"households_{name}": n for name, n in counts.items()}
