"""The synthetic generator: deterministic, every state and light present, proportions like a real ledger."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select

from dashboard import clock
from dashboard.services import queries
from db.engine import read_session
from db.models import Finding, Village
from seed.synthetic import SyntheticSize, generate

TODAY = dt.date(2026, 11, 23)
SMALL = SyntheticSize(findings=3_000, counties=5, townships=40, villages=400, units=30, sources=40)


def _fingerprint(engine) -> list[tuple]:
    with read_session(engine) as session:
        return list(session.execute(select(Finding.serial, Finding.status, Finding.current_deadline,
                                           Finding.lead_unit_id).order_by(Finding.id).limit(200)).all())


def test_generation_is_deterministic_and_realistic(engine):
    counts = generate(engine, SMALL, today=TODAY)
    assert counts["finding"] == 3_000 and counts["villages"] == 400
    assert 3 <= counts["progress"] / counts["finding"] <= 5  # 3–5 progress entries per finding
    with clock.frozen(dt.datetime.combine(TODAY, dt.time(10))), read_session(engine) as session:
        totals = queries.figures(session).as_dict()
        supervised = session.execute(select(func.count()).where(Village.level != "normal")).scalar_one()
    assert all(totals[state] > 0 for state in ("open", "in_progress", "pending_review", "ongoing", "closed",
                                                "cancelled"))
    assert all(totals[light] > 0 for light in ("red", "yellow", "green"))
    assert totals["extended"] and totals["repeats"]
    open_now = totals["open"] + totals["in_progress"] + totals["pending_review"]
    assert 0.6 < totals["completion_rate"] < 0.97  # most old findings are closed …
    assert totals["overdue"] < 0.8 * open_now  # … and open work is not nearly all overdue
    assert 0 < supervised < 0.1 * 400  # a few percent of villages under 挂牌督战


def test_same_seed_same_ledger(database_url, tmp_path):
    from db.engine import make_engine, migrate

    url, schema = database_url
    first = make_engine(url, schema=schema)
    migrate(first)
    generate(first, SMALL, today=TODAY)
    other = make_engine(f"sqlite:///{tmp_path / 'again.db'}")
    migrate(other)
    generate(other, SMALL, today=TODAY)
    assert _fingerprint(first) == _fingerprint(other)
    first.dispose()
    other.dispose()


def test_households_for_the_monitoring_ledger(engine):
    from dataclasses import replace

    from dashboard import privacy
    from dashboard.services.unit_of_work import unit_of_work
    from db.models import Household, HouseholdCase, HouseholdMember, IncomeLine, SupportMeasure

    counts = generate(engine, replace(SMALL, findings=300, households=1_000), today=TODAY)
    assert counts["households_household"] == 1_000 and counts["households_member"] > 2_000
    with read_session(engine) as session:
        states = set(session.execute(select(Household.state).distinct()).scalars())
        clues = session.execute(select(func.count()).select_from(HouseholdCase)).scalar_one()
        member = session.execute(select(HouseholdMember).limit(1)).scalars().one()
    assert states == {"monitored", "eliminated", "not_monitored", "identifying"} and clues == counts["households_case"]
    assert member.id_cipher and len(member.id_hash) == 64 and "*" in member.id_masked
    # written in bulk (COPY on PostgreSQL), yet sealed and hashed as the services seal them: a valid-looking ID
    id_number = privacy.unseal(member.id_cipher, privacy.Field.ID)
    assert privacy.id_check(id_number) and privacy.match_key(id_number) == member.id_hash
    assert privacy.mask_id(id_number) == member.id_masked and member.flags == []
    assert counts["households_measure"] > 0
    with read_session(engine) as session:
        assert session.execute(select(func.count()).select_from(SupportMeasure)).scalar_one() == counts["households_measure"]
        assert session.get(IncomeLine, TODAY.year).yuan > 0
    with unit_of_work(engine) as session:  # the id sequences were moved past the generated rows
        household = Household(number="NEW-1", township="某镇", village_id=1)
        session.add(household)
        session.flush()
        session.add(HouseholdMember(household_id=household.id, name="新成员"))
        session.flush()
        assert household.id == counts["households_household"] + 1
