"""Households written straight into the tables (no procedure), for tests of what reads them: the
data-quality rules and the screening. Generated IDs only."""
from __future__ import annotations

import datetime as dt
import random

from sqlmodel import select

from dashboard import privacy
from dashboard.vocab import CaseKind, CaseState, HouseholdState, HouseholdType, LabourSkill, MonitorCategory, Risk, SupportKind
from db.models import (Household, HouseholdCase, HouseholdMember, HouseholdRisk, IncomeLine, MemberChange, SupportMeasure,
                       Village)
from seed import people

LINE_2026 = 7_300


class Ledger:
    """Households written straight into the tables, each with exactly the facts one case needs."""

    def __init__(self, session, village: bool = True):
        """``village=False``: add to the ledger an earlier ``Ledger`` wrote (its village and income line)."""
        self.session = session
        if village:
            place = Village(county="宿松县", township="高士镇", name="毛安村")
            session.add(place)
            session.add(IncomeLine(year=2026, yuan=LINE_2026))
            session.flush()
        else:
            place = session.exec(select(Village).where(Village.name == "毛安村")).one()
        self.village_id = place.id
        self.rng = random.Random(7)

    def household(self, number: str, *, state=HouseholdState.MONITORED, identified_on=dt.date(2025, 12, 1),
                  eliminated_on=None, method=None, income=None, township="高士镇",
                  household_type=HouseholdType.EXITED, category=MonitorCategory.UNSTABLE, **facts) -> Household:
        household = Household(number=number, township=township, village_id=self.village_id, state=state,
                              household_type=household_type, category=category,
                              head_name="户主", identified_on=identified_on, eliminated_on=eliminated_on,
                              elimination_method=method, income_per_capita=income,
                              income_year=2026 if income is not None else None, **facts)
        self.session.add(household)
        self.session.flush()
        return household

    def member(self, household: Household, *, id_number: str | None = None, birth=dt.date(1980, 5, 1),
               skill=LabourSkill.LOST) -> HouseholdMember:
        id_number = id_number or people.resident_id(self.rng, birth, female=False)
        member = HouseholdMember(household_id=household.id, name="成员", birth_date=birth, labour_skill=skill,
                                 id_cipher=privacy.seal(id_number, privacy.Field.ID),
                                 id_hash=privacy.match_key(id_number), id_masked=privacy.mask_id(id_number),
                                 id_valid=privacy.id_check(id_number))
        self.session.add(member)
        self.session.flush()
        return member

    def risk(self, household: Household, kind: Risk, removed_on=None) -> None:
        self.session.add(HouseholdRisk(household_id=household.id, kind=kind, added_on=dt.date(2025, 12, 1),
                                       removed_on=removed_on))
        self.session.flush()

    def measure(self, household: Household, kind: SupportKind, start=dt.date(2025, 12, 10), end=None) -> None:
        self.session.add(SupportMeasure(household_id=household.id, kind=kind, text="帮扶", start_on=start, end_on=end))
        self.session.flush()

    def case(self, household: Household, **fields) -> None:
        values = {"kind": CaseKind.IDENTIFY, "state": CaseState.CLUE, "received_on": dt.date(2026, 6, 1)} | fields
        self.session.add(HouseholdCase(household_id=household.id, **values))
        self.session.flush()

    def change(self, household: Household, reason, on: dt.date, name: str = "成员") -> None:
        """A member change (人口变动) as a service records it: the reason and the day."""
        self.session.add(MemberChange(household_id=household.id, reason=reason, happened_on=on, name=name))
        self.session.flush()
