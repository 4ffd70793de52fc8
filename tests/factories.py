"""A small world for service tests: units, one user per role, categories, a source."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlmodel import Session

from dashboard.lifecycle import SYSTEM, Actor
from dashboard.services import admin, findings
from dashboard.services.common import actor_of
from dashboard.services.findings import FindingInput, UploadedFile
from dashboard.vocab import Role, SourceKind, UnitKind

PASSWORD = "s3cret-pass"


@dataclass
class World:
    units: dict[str, int]
    actors: dict[str, Actor]
    category_id: int
    source_id: int


def build_world(session: Session) -> World:
    units = {}
    for name, kind in (("社会救助办", UnitKind.OFFICE), ("儿童福利和社会事务股", UnitKind.OFFICE),
                       ("整改办", UnitKind.OFFICE), ("高士镇", UnitKind.TOWNSHIP)):
        units[name] = admin.create_unit(session, SYSTEM, name=name, kind=kind).id
    people = {
        "admin": (Role.ADMIN, None),
        "leader": (Role.LEADER, None),
        "inspector": (Role.INSPECTOR, units["整改办"]),
        "jiuzhu": (Role.DEPARTMENT, units["社会救助办"]),
        "ertong": (Role.DEPARTMENT, units["儿童福利和社会事务股"]),
        # an inspector who sits in the unit that leads the test findings (separation of duties)
        "inspector_jiuzhu": (Role.INSPECTOR, units["社会救助办"]),
        # a 乡镇 officer (the household ledger): no finding action is theirs
        "township": (Role.TOWNSHIP, units["高士镇"]),
    }
    actors = {}
    for username, (role, unit_id) in people.items():
        user = admin.create_user(session, SYSTEM, username=username, display_name=username, role=role,
                                 password=PASSWORD, unit_id=unit_id)
        session.flush()
        actors[username] = actor_of(user)
    category = admin.create_category(session, SYSTEM, "对象认定不精准")
    source = findings.create_source(session, actors["inspector"], kind=SourceKind.AUDIT, title="城乡低保专项审计",
                                    received_date=dt.date(2026, 5, 1), issuing_body="审计部门")
    session.flush()
    return World(units=units, actors=actors, category_id=category.id, source_id=source.id)


def finding_input(world: World, **overrides) -> FindingInput:
    values = dict(source_id=world.source_id, category_id=world.category_id,
                  description="毛安村2户低保对象家庭财产未核查即纳入保障", lead_unit_id=world.units["社会救助办"],
                  measures=["逐户核查家庭经济状况", "清退不符合条件对象"], deadline=dt.date(2026, 7, 31))
    values.update(overrides)
    return FindingInput(**values)


def evidence(name: str = "核查台账.pdf", payload: bytes = b"%PDF-1.4 evidence") -> UploadedFile:
    return UploadedFile(filename=name, data=payload)


# --- the household ledger (issue 22) -----------------------------------------------------------------

@dataclass
class HouseholdWorld:
    world: World
    villages: dict[str, int]       # 毛安村 (高士镇), 红旗村 (赛口镇)
    actors: dict[str, Actor]       # gaoshi, saikou (乡镇), jiance, jiance2 (county monitoring unit)
    monitoring_unit_id: int


INCOME_LINE_2026 = 7600


def build_household_world(session: Session, world: World) -> HouseholdWorld:
    from dashboard.services import households

    units = dict(world.units)
    units["赛口镇"] = admin.create_unit(session, SYSTEM, name="赛口镇", kind=UnitKind.TOWNSHIP).id
    units["监测股"] = admin.create_unit(session, SYSTEM, name="县乡村振兴局监测股", kind=UnitKind.OFFICE,
                                        monitoring=True).id
    villages = {}
    for township, name in (("高士镇", "毛安村"), ("赛口镇", "红旗村")):
        villages[name] = admin.create_village(session, SYSTEM, county="宿松县", township=township, name=name).id
    people = {"gaoshi": (Role.TOWNSHIP, units["高士镇"]), "saikou": (Role.TOWNSHIP, units["赛口镇"]),
              "jiance": (Role.DEPARTMENT, units["监测股"]), "jiance2": (Role.DEPARTMENT, units["监测股"])}
    actors = {}
    for username, (role, unit_id) in people.items():
        user = admin.create_user(session, SYSTEM, username=username, display_name=username, role=role,
                                 password=PASSWORD, unit_id=unit_id)
        session.flush()
        actors[username] = actor_of(user)
    households.set_income_line(session, SYSTEM, 2026, INCOME_LINE_2026)
    session.flush()
    return HouseholdWorld(world=world, villages=villages, actors=actors, monitoring_unit_id=units["监测股"])
