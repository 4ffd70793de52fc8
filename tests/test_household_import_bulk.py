"""The bulk write path of ``import-households`` (Core inserts in chunks) against the household-by-household ORM
path it replaced: the same file gives the same database content — households, members (sealed IDs, phones and
health that decrypt to the same values), persons counts, risks, measures, member changes, the household's steps
and the audit entries — for new households, re-imported ones that changed, flags, and chunks smaller than the
file. Each path runs in a transaction that is rolled back, so both start from the same database."""
from __future__ import annotations

import datetime as dt
import hashlib
import random
from typing import Any

import pytest
from sqlmodel import Session, func, select

from dashboard import privacy
from dashboard.lifecycle import SYSTEM
from dashboard.services import household_import, households
from dashboard.services.unit_of_work import unit_of_work
from db.engine import read_session
from db.models import AuditLog, Household, HouseholdMember, HouseholdRisk, HouseholdStep, MemberChange, SupportMeasure
from seed import people
from tests.factories import build_household_world
from tests.household_files import Home, Person, export, home


class _RolledBack(Exception):
    pass


@pytest.fixture
def hh(engine, world):
    with unit_of_work(engine) as session:
        return build_household_world(session, world)


def first_file() -> list[Home]:
    return [
        home("340826101001", 1),
        home("340826101002", 2, category="边缘易致贫户", household_type="一般户", risks=("因灾", "因学"),
             eliminated="是", method="帮扶消除", eliminated_on="202605", income=9800),
        home("340826101003", 3, category="", identified=""),                        # 脱贫户, not monitored
    ]


def second_file() -> list[Home]:
    """The first file again with changes, and new households (one with a bad check digit, one person listed in
    two households, a person listed as gone)."""
    homes = first_file()
    homes[0].income = 7300
    homes[0].members[2].phone = "13900001111"
    homes[0].members.append(Person(name="新生儿", id_number=people.resident_id(random.Random(9),
                                                                              dt.date(2026, 3, 1), female=False),
                                   relation="之孙", phone="", birth="20260301", change="出生", change_on="20260301"))
    homes[1].members[2].change, homes[1].members[2].change_on = "迁出", "20260401"
    homes[2].risks = ("因病", "因残")
    homes[2].category, homes[2].identified = "边缘易致贫户", "202606"   # the 脱贫户 becomes monitored
    new = [home(f"3408262010{n:02d}", 10 + n, township="赛口镇", village="红旗村", category="突发严重困难户",
                risks=("因意外事故",)) for n in range(1, 6)]
    new[0].members[1].id_number = people.wrong_check_digit(new[0].members[1].id_number)
    new[1].members.append(Person(**{**vars(new[2].members[0]), "relation": "其他"}))
    new[3].members.append(Person(name="已迁出", id_number=people.resident_id(random.Random(7),
                                                                          dt.date(1990, 1, 1), female=True),
                                 relation="之女", phone="", change="迁出", change_on="20260101"))
    return homes + new


def _import(session: Session, raw: bytes, **options: Any):
    preview = household_import.preview_households(session, SYSTEM, raw, filename="监测对象信息.xlsx", year=2026)
    assert preview.ok, preview.messages("en")
    return household_import.commit_households(session, SYSTEM, preview, **options)


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:16] if value else ""


def content(session: Session, audit_after: int) -> dict[str, Any]:
    """Everything an import writes, without ids or the moment of writing; sealed values decrypted."""
    session.flush()
    session.expire_all()
    number = dict(session.exec(select(Household.id, Household.number)).all())
    skip = {"id", "created_at", "updated_at", "at", "recorded_at"}

    def plain(record, *also: str) -> dict[str, Any]:
        values = {k: v for k, v in record.model_dump().items() if k not in skip and k not in also}
        if "household_id" in values:
            values["household_id"] = number[values["household_id"]]
        return values

    def member(m: HouseholdMember) -> tuple:
        values = plain(m, "id_cipher", "phone_cipher", "health_cipher")
        for name, cipher, field in (("id_number", m.id_cipher, privacy.Field.ID),
                                    ("phone", m.phone_cipher, privacy.Field.PHONE),
                                    ("health", m.health_cipher, privacy.Field.HEALTH)):
            values[name] = _digest(privacy.unseal(cipher, field))   # decrypted, compared, never shown in clear
        return tuple(sorted(values.items(), key=lambda kv: kv[0]))

    def rows(model) -> list:
        return sorted((tuple(sorted(plain(r).items())) for r in session.exec(select(model)).all()), key=repr)

    audits = sorted((a.action, a.entity, number.get(a.entity_id) if a.entity == "Household" else a.entity,
                     a.user_id, a.username, repr(a.old), repr(a.new), a.note, old_is_null)
                    for a, old_is_null in session.exec(select(AuditLog, AuditLog.old.is_(None))   # SQL NULL or JSON null
                                                       .where(AuditLog.id > audit_after)).all())
    return {"households": rows(Household), "members": sorted(map(member, session.exec(select(HouseholdMember))), key=repr),
            "risks": rows(HouseholdRisk), "measures": rows(SupportMeasure), "changes": rows(MemberChange),
            "steps": rows(HouseholdStep), "audit": audits}


def run_both(engine, files: list[bytes], chunk: int) -> tuple[dict, dict, list, list]:
    with read_session(engine) as session:
        audit_after = session.exec(select(func.coalesce(func.max(AuditLog.id), 0))).one()
    results = []
    for options in ({"bulk": False}, {"bulk": True, "chunk": chunk}):
        try:
            with unit_of_work(engine) as session:
                summaries = [_import(session, raw, **options) for raw in files]
                results.append((content(session, audit_after), summaries))
                raise _RolledBack()
        except _RolledBack:
            pass
    (old, old_summaries), (new, new_summaries) = results
    return old, new, old_summaries, new_summaries


def _differences(new: list, old: list) -> list:
    """Where two listings differ, field by field (short enough to read in a failure)."""
    found = []
    for a, b in zip(new, old):
        if a != b:
            found.append({k: (v, dict(b).get(k)) for k, v in dict(a).items() if dict(b).get(k) != v}
                         if isinstance(a, tuple) and a and isinstance(a[0], tuple) else (a, b))
    return found[:3] + ([len(new), len(old)] if len(new) != len(old) else [])


@pytest.mark.parametrize("chunk", [2, 1000])
def test_bulk_and_per_household_paths_write_the_same(engine, hh, chunk):
    old, new, old_summaries, new_summaries = run_both(engine, [export(first_file()), export(second_file(), changes=True)],
                                                      chunk)
    assert new_summaries == old_summaries
    assert [(s.created, s.updated, s.unchanged) for s in new_summaries] == [(3, 0, 0), (5, 3, 0)]
    assert new_summaries[1].flagged_ids == 1 and new_summaries[1].in_two_households == 1
    for part in old:
        assert new[part] == old[part], (part, _differences(new[part], old[part]))
    persons = {dict(h)["number"]: dict(h)["persons"] for h in new["households"]}
    assert persons["340826101001"] == 4 and persons["340826201002"] == 4 and persons["340826201004"] == 3
    # one entry per household created or changed, and one for the household whose state the second file changes
    assert len(new["audit"]) == 12 and len(new["changes"]) == 2
    assert sum(entry[0] == "hh_import_state" for entry in new["audit"]) == 1


def test_bulk_import_over_several_chunks_then_again_adds_nothing(engine, hh):
    homes = second_file()
    raw = export(homes, changes=True)
    with unit_of_work(engine) as session:
        first = _import(session, raw, chunk=3)
    with unit_of_work(engine) as session:
        again = _import(session, raw, chunk=3)
    assert (first.created, again.created, again.updated, again.unchanged) == (8, 0, 0, 8)
    with read_session(engine) as session:
        assert session.exec(select(func.count()).select_from(Household)).one() == 8
        assert session.exec(select(func.count()).select_from(HouseholdMember)).one() == sum(
            len([p for p in h.members if p.change != "迁出"]) for h in homes)
        assert session.exec(select(func.count()).select_from(AuditLog).where(AuditLog.action == "hh_import")).one() == 8
        counted = dict(session.exec(select(HouseholdMember.household_id, func.count()).group_by(
            HouseholdMember.household_id)).all())
        assert all(h.persons == counted.get(h.id, 0) for h in session.exec(select(Household)))
        twice = households.find_person(session, homes[4].members[3].id_number)
        assert len(twice) == 2 and all(households.FLAG_TWO_HOUSEHOLDS in m.flags for m in twice)


def test_the_cached_id_check_agrees_with_stdnum():
    """``privacy.id_check`` asks the region table once per region and year; it answers as ``ric.is_valid`` does."""
    from stdnum.cn import ric

    rng = random.Random(5)
    base = [people.resident_id(rng, people.birth(rng, dt.date(2026, 1, 1), 1, 90), female=bool(i % 2))
            for i in range(200)]

    def fixed(number: str) -> str:
        return number[:17] + ric.calc_check_digit(number[:17] + "0")
    ids = [fixed(region + x[6:]) for x in base for region in ("999999", "110101", "340826", "110100", "342422")]
    ids += [fixed(x[:6] + year + x[10:]) for x in base[:40] for year in ("1900", "1950", "2000", "2025")]
    ids += [fixed(x[:10] + "0229" + x[14:]) for x in base[:40]] + [people.wrong_check_digit(x) for x in base[:40]]
    ids += [x[:5] + "A" + x[6:] for x in base[:10]]
    assert [privacy.id_check(x) for x in ids] == [ric.is_valid(x) for x in ids]
    assert 0 < sum(map(privacy.id_check, ids)) < len(ids)
