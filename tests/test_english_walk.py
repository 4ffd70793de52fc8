"""With English chosen, no page shows Chinese but the data itself.

The ledger here is written in ASCII (units, villages, sources, findings), so any Chinese character a
page shows is interface text that was not translated: every page, for every role, in every state a
finding can be in, and every refusal of the policy."""
from __future__ import annotations

import datetime as dt
import re

import pytest

from dashboard.errors import DomainError
from dashboard.lifecycle import FINDING_ACTIONS, SYSTEM, available_actions
from dashboard.services import admin, views
from dashboard.services import findings as svc
from dashboard.services.common import actor_of
from dashboard.services.findings import FindingInput
from dashboard.services.unit_of_work import unit_of_work
from dashboard.ui.navigation import PAGES, allowed
from dashboard.vocab import RectType, Role, SourceKind, UnitKind
from db.engine import read_session
from db.models import Finding
from tests.apptest_support import metric_values, page_app, point_app_at
from tests.factories import evidence

CJK = re.compile(r"[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]")
PASSWORD = "Walk-in-English-2026"


def _ascii_world(session):
    units = {name: admin.create_unit(session, SYSTEM, name=name, kind=kind).id for name, kind in (
        ("Relief Office", UnitKind.OFFICE), ("Child Welfare Unit", UnitKind.OFFICE),
        ("Inspection Office", UnitKind.OFFICE))}
    people = {"admin": (Role.ADMIN, None), "leader": (Role.LEADER, None),
              "inspector": (Role.INSPECTOR, units["Inspection Office"]),
              "dept": (Role.DEPARTMENT, units["Relief Office"])}
    actors = {}
    for username, (role, unit_id) in people.items():
        user = admin.create_user(session, SYSTEM, username=username, display_name=f"{username} person", role=role,
                                 password=PASSWORD, unit_id=unit_id)
        session.flush()
        actors[username] = actor_of(user)
    village = admin.create_village(session, SYSTEM, township="North Town", name="Maoan Village", level="provincial",
                                   poverty_rate=2.6)
    category = admin.create_category(session, SYSTEM, "Eligibility")
    source = svc.create_source(session, actors["inspector"], kind=SourceKind.AUDIT, title="Allowance audit 2026",
                               received_date=dt.date(2026, 5, 1), issuing_body="Audit bureau")
    session.flush()

    def log(description, **extra):
        data = FindingInput(source_id=source.id, category_id=category.id, description=description,
                            lead_unit_id=units["Relief Office"], measures=["Check every household"],
                            deadline=extra.pop("deadline", dt.date(2026, 7, 31)), village_id=village.id, **extra)
        finding = svc.log_finding(session, actors["inspector"], data)
        session.flush()
        return finding.id

    ids = {"open": log("Two households admitted without checks"),
           "late": log("Files missing", deadline=dt.date(2026, 6, 1)),
           "review": log("Notice not posted", co_unit_ids=[units["Child Welfare Unit"]]),
           "closed": log("Old case", rect_type=RectType.LONG_TERM)}
    dept = actors["dept"]
    for key in ("review", "closed"):
        svc.report_progress(session, dept, ids[key], done_text="Checked", files=[evidence("proof.pdf")])
        for measure_id in [m.id for m in views.finding_detail(session, dept, ids[key]).measures]:
            svc.tick_measure(session, dept, measure_id, None)
        svc.apply_closure(session, dept, ids[key], None, summary="Done")
    svc.close(session, actors["inspector"], ids["closed"], None, "Verified")
    svc.request_extension(session, dept, ids["late"], asked_deadline=dt.date(2026, 9, 30), reason="Waiting for funds")
    return actors, ids


@pytest.fixture
def english(engine, database_url, monkeypatch, frozen_today):
    point_app_at(monkeypatch, database_url)
    with unit_of_work(engine) as session:
        return _ascii_world(session)


def _visible_text(app) -> list[str]:
    parts = []
    for kind in ("title", "header", "subheader", "markdown", "caption", "error", "warning", "success", "info",
                 "exception"):
        parts += [str(element.value) for element in getattr(app, kind)]
    for kind in ("button", "text_input", "text_area", "selectbox", "multiselect", "radio", "checkbox", "date_input",
                 "number_input", "slider", "toggle"):
        for widget in getattr(app, kind):
            parts.append(str(getattr(widget, "label", "")))
            parts += [str(option) for option in getattr(widget, "options", []) or []]
            parts.append(str(getattr(widget, "placeholder", "") or ""))
    parts += [str(tab.label) for tab in app.tabs]
    parts += list(metric_values(app))
    for frame in app.dataframe:
        parts += [str(column) for column in frame.value.columns]
    return parts


def _chinese(parts: list[str]) -> list[str]:
    return sorted({part for part in parts if CJK.search(part)})


@pytest.mark.parametrize("role", ["leader", "inspector", "dept", "admin"])
def test_every_page_reads_in_english(english, role):
    actors, ids = english
    actor = actors[role]
    for spec in PAGES:
        if not allowed(spec, actor.role):
            continue
        opened = [ids[key] for key in ids] if spec.key == "finding" else [None]
        for finding_id in opened:
            state = {"finding_id": finding_id} if finding_id else {}
            app = page_app(spec.module, actor, lang="en", **state).run()
            assert not app.exception, (spec.key, [e.value for e in app.exception])
            assert _chinese(_visible_text(app)) == [], (role, spec.key, finding_id)


def test_every_refusal_reads_in_english(engine, english):
    actors, ids = english
    with read_session(engine) as session:
        for actor in (*actors.values(), SYSTEM):
            for finding_id in ids.values():
                facts = svc.facts_of(session, session.get(Finding, finding_id))
                for action, refused in available_actions(actor, facts).items():
                    if refused is not None:
                        text = DomainError(refused.key, **refused.params).message("en")
                        assert not CJK.search(text), (actor.username, action, text)
    assert len(FINDING_ACTIONS) >= 12
