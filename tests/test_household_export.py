"""The household export: masked by default; full IDs and phones only when the administrator asks, refused to
every other role by the policy, and every household in such a file audited as revealed."""
from __future__ import annotations

import datetime as dt
import io
import random

import pytest
from openpyxl import load_workbook
from sqlmodel import select

from dashboard import privacy
from dashboard.errors import PermissionDenied
from dashboard.lifecycle import SYSTEM
from dashboard.services import household_export
from dashboard.services.unit_of_work import unit_of_work
from db.engine import read_session
from db.models import AuditLog
from seed import people
from tests.household_rows import Ledger


def _ledger(engine) -> list[str]:
    rng = random.Random(5)
    ids = [people.resident_id(rng, people.birth(rng, dt.date(2026, 6, 1), 20, 60), female=False)
           for _ in range(3)]
    with unit_of_work(engine) as session:
        book = Ledger(session)
        first, second = book.household("EX-1"), book.household("EX-2")
        book.member(first, id_number=ids[0])
        book.member(first, id_number=ids[1])
        book.member(second, id_number=ids[2])
    return ids


def _cells(data: bytes) -> str:
    sheet = load_workbook(io.BytesIO(data)).active
    return " ".join(str(cell) for row in sheet.iter_rows(values_only=True) for cell in row if cell is not None)


def test_the_default_export_is_masked_and_audits_nothing(engine):
    ids = _ledger(engine)
    out = io.BytesIO()
    with unit_of_work(engine) as session:
        assert household_export.export_households(session, SYSTEM, out) == 3
    text = _cells(out.getvalue())
    assert privacy.mask_id(ids[0]) in text and "EX-2" in text
    assert not any(id_number in text for id_number in ids)
    with read_session(engine) as session:
        assert not session.exec(select(AuditLog).where(AuditLog.action == household_export.REVEAL_ACTION)).all()


def test_unmasked_is_the_administrators_and_audited_per_household(engine, world):
    ids = _ledger(engine)
    for username in ("leader", "inspector", "jiuzhu", "township"):   # every role but the administrator
        with unit_of_work(engine) as session, pytest.raises(PermissionDenied):
            household_export.export_households(session, world.actors[username], io.BytesIO(), unmasked=True)
    out = io.BytesIO()
    with unit_of_work(engine) as session:
        household_export.export_households(session, world.actors["admin"], out, unmasked=True)
    assert all(id_number in _cells(out.getvalue()) for id_number in ids)
    with read_session(engine) as session:
        revealed = session.exec(select(AuditLog).where(AuditLog.action == household_export.REVEAL_ACTION)).all()
    assert sorted(row.note for row in revealed) == ["EX-1", "EX-2"]
    assert {row.username for row in revealed} == {world.actors["admin"].username}
    assert not any(id_number in str(row.new) + row.note for row in revealed for id_number in ids)
