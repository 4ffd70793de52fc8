"""The household ledger exported in the national system's layout (one row per person, grouped by 户编号).

ID numbers and phones are masked (``340321********1234``) unless the administrator asks for them in full: that
is a policy action (``HouseholdAction.EXPORT_UNMASKED``, the administrator only), and every household in such a
file is recorded in the audit log as revealed (who exported whom), never the numbers themselves.
"""
from __future__ import annotations

from typing import BinaryIO

import xlsxwriter
from sqlmodel import Session, select

from dashboard import privacy
from dashboard.i18n import label
from dashboard.lifecycle import Actor, HouseholdAction, check_household_role
from dashboard.services.common import audit
from dashboard.vocab import HouseholdType, MonitorCategory
from db.models import Household, HouseholdMember, Village

HEADER = ("县", "乡", "村", "户编号", "户类型", "监测对象类别", "识别监测时间", "姓名", "证件类型", "证件号码", "与户主关系",
          "性别", "出生日期", "家庭成员联系电话")
CHUNK = 5_000
REVEAL_ACTION = "reveal_export"   # the audit log's action for each household of an unmasked export


def export_households(session: Session, actor: Actor, out: BinaryIO, *, unmasked: bool = False) -> int:
    """Write every household's members to ``out`` (xlsx); returns the member rows written. ``unmasked``: the
    administrator's explicit choice, refused to every other role, each household audited as revealed."""
    check_household_role(actor, HouseholdAction.EXPORT_UNMASKED if unmasked else HouseholdAction.VIEW)
    sealer = privacy.sealer()
    book = xlsxwriter.Workbook(out, {"in_memory": True})
    sheet = book.add_worksheet("监测对象信息")
    sheet.write_row(0, 0, HEADER)
    written, last_id = 0, 0
    while True:
        households = session.exec(select(Household, Village.name).join(Village, Village.id == Household.village_id)
                                  .where(Household.id > last_id).order_by(Household.id).limit(CHUNK)).all()
        if not households:
            break
        last_id = int(households[-1][0].id or 0)
        members: dict[int, list[HouseholdMember]] = {}
        for member in session.exec(select(HouseholdMember).where(HouseholdMember.household_id.in_(
                [h.id for h, _ in households])).order_by(HouseholdMember.household_id, HouseholdMember.seq)).all():
            members.setdefault(member.household_id, []).append(member)
        for household, village in sorted(households, key=lambda pair: pair[0].number):
            for member in members.get(household.id, []):
                if unmasked:
                    id_number = sealer.unseal(member.id_cipher, privacy.Field.ID)
                    phone = sealer.unseal(member.phone_cipher, privacy.Field.PHONE)
                else:
                    id_number, phone = member.id_masked, member.phone_masked
                written += 1
                sheet.write_row(written, 0, (
                    household.county, household.township, village, household.number,
                    label(HouseholdType(household.household_type), "zh"),
                    label(MonitorCategory(household.category), "zh") if household.category else "",
                    f"{household.identified_on:%Y%m}" if household.identified_on else "", member.name,
                    member.id_kind, id_number, member.relation, member.sex,
                    f"{member.birth_date:%Y%m%d}" if member.birth_date else "", phone))
            if unmasked:
                audit(session, actor, REVEAL_ACTION, household, note=household.number)
    book.close()
    return written
