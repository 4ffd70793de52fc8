"""Select-box options stay small at province scale: villages are offered one township at a time."""
from __future__ import annotations

from dashboard.lifecycle import SYSTEM
from dashboard.services import admin, rollups, views
from dashboard.services import findings as svc
from db.engine import read_session
from dashboard.services.unit_of_work import unit_of_work
from tests.factories import build_world, finding_input


def test_townships_include_those_only_findings_name_and_villages_come_per_township(engine, frozen_today):
    with unit_of_work(engine) as session:
        world = build_world(session)
        maoan = admin.create_village(session, SYSTEM, township="高士镇", name="毛安村", level="key")
        admin.create_village(session, SYSTEM, township="高士镇", name="同心村", level="key")
        hongqi = admin.create_village(session, SYSTEM, township="赛口镇", name="红旗村", level="key")
        svc.log_finding(session, world.actors["inspector"], finding_input(world, township="凉亭乡"))
    with read_session(engine) as session:
        assert views.townships(session) == sorted(["高士镇", "赛口镇", "凉亭乡"])  # read from the findings
    rollups.refresh_if_stale(engine)
    with read_session(engine) as session:
        options = views.choices(session)
        assert options["townships"] == sorted(["高士镇", "赛口镇", "凉亭乡"])  # read from the roll-ups
        assert "villages" not in options
        assert list(views.villages_in(session, "高士镇").values()) == sorted(["毛安村", "同心村"])
        assert views.villages_in(session, "赛口镇") == {hongqi.id: "红旗村"}
        assert views.villages_in(session, None) == {}
        assert views.village_label(session, maoan.id) == "高士镇·毛安村"
