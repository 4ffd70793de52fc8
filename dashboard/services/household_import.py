"""Import of the national system's export into the household ledger, with the ledger importer's rules:
the whole file is read and checked first (``household_reader``), unknown townships and villages are named,
and the file is refused whole when any row is broken. Re-importing updates households by 户编号 and members
by their ID's keyed hash (never a second copy) and records what changed. A wrong check digit or a person in
two households is imported and flagged."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import bindparam, func, insert, update
from sqlmodel import Session, select

from dashboard import clock, privacy
from dashboard.errors import Phrase, ValidationFailed
from dashboard.household_reader import HouseholdRows, MemberRow, ParsedHouseholds, parse_households
from dashboard.i18n import t
from dashboard.lifecycle import Actor, HouseholdAction, enforce_household
from dashboard.services import household_figures
from dashboard.services.common import any_of, apply_changes, audit, column_defaults, insert_clean
from dashboard.services.households import (FLAG_TWO_HOUSEHOLDS, MemberInput, member_row, member_values,
                                           note_member_change, open_cases, seal_member, state_before)
from dashboard.text import clean_row
from dashboard.vocab import MEMBER_ADDITIONS, CaseState, EliminationMethod, HouseholdState, MemberChangeReason
from db.engine import insert_rows, reserve_ids
from db.models import (AuditLog, Household, HouseholdCase, HouseholdMember, HouseholdRisk, HouseholdStep, SupportMeasure,
                       Village)

CHUNK = 1000


@dataclass
class HouseholdImportPreview:
    parsed: ParsedHouseholds
    year: int
    villages: dict[tuple[str, str], int]
    unknown_places: list[str] = field(default_factory=list)
    new: int = 0
    existing: int = 0

    @property
    def ok(self) -> bool:
        return not self.parsed.errors and not self.unknown_places

    def messages(self, lang: str) -> list[str]:
        lines = [t("import.hh_unknown_places", lang, names=self.unknown_places)] if self.unknown_places else []
        return lines + [t("import.hh_row", lang, row=e.row, reason=Phrase(e.key, e.params)) for e in self.parsed.errors]


@dataclass(frozen=True)
class ImportConflict:
    """A household whose monitoring status the file changes while a procedure of the ledger is open on it: its
    state is kept (the case decides it) and the import reports the difference instead of applying it."""

    number: str
    case_state: CaseState
    file_state: HouseholdState
    columns: tuple[str, ...]   # the columns of ``STATE_COLUMNS`` on which the file differs

    def message(self, lang: str) -> str:
        return t("import.hh_conflict", lang, number=self.number, case=self.case_state, file=self.file_state,
                 columns=", ".join(self.columns))


@dataclass
class HouseholdImportSummary:
    created: int
    updated: int
    unchanged: int
    members: int
    skipped: int
    flagged_ids: int
    in_two_households: int
    conflicts: list[ImportConflict] = field(default_factory=list)

    def messages(self, lang: str) -> list[str]:
        """What the import did not apply, one line per household (shown under the summary)."""
        return [conflict.message(lang) for conflict in self.conflicts]


def preview_households(session: Session, actor: Actor, raw: bytes, *, filename: str | None = None,
                       year: int | None = None) -> HouseholdImportPreview:
    """Read and check the whole file; nothing is written."""
    enforce_household(actor, HouseholdAction.IMPORT)
    parsed = parse_households(raw, filename)
    villages = {(township, name): village_id for township, name, village_id
                in session.exec(select(Village.township, Village.name, Village.id)).all()}
    unknown = sorted({f"{h.township}{h.village}" for h in parsed.households if (h.township, h.village) not in villages})
    preview = HouseholdImportPreview(parsed=parsed, year=year or clock.today().year, villages=villages,
                                     unknown_places=unknown)
    numbers = [h.number for h in parsed.households]
    known = set()
    for start in range(0, len(numbers), CHUNK):
        known |= set(session.exec(select(Household.number).where(Household.number.in_(numbers[start:start + CHUNK]))).all())
    preview.existing = len(known)
    preview.new = len(numbers) - len(known)
    return preview


def commit_households(session: Session, actor: Actor, preview: HouseholdImportPreview, *, chunk: int = CHUNK,
                      bulk: bool = True) -> HouseholdImportSummary:
    """Write a checked file: create or update each household, its members, risks and measures.

    ``bulk`` (the default) writes the households the ledger does not have yet with Core statements, ``chunk``
    households at a time (ids by RETURNING, one ``Sealer``, one recount of ``Household.persons`` per chunk, the
    steps and audit rows in bulk); a household already in the ledger is compared and only what changed is
    written. ``bulk=False`` is the household-by-household ORM path the bulk one is tested against."""
    enforce_household(actor, HouseholdAction.IMPORT)
    if not preview.ok:
        raise ValidationFailed("error.hh_import_refused", count=len(preview.parsed.errors) + len(preview.unknown_places))
    counts = {"created": 0, "updated": 0, "unchanged": 0}
    conflicts: list[ImportConflict] = []
    hashes: set[str] = set()
    households = preview.parsed.households
    writer = _BulkWriter(session, actor, preview) if bulk else None
    sealer = privacy.sealer()
    for start in range(0, len(households), chunk):
        part = households[start:start + chunk]
        existing = {h.number: h for h in session.exec(
            select(Household).where(Household.number.in_([row.number for row in part]))).all()}
        members = _members_of(session, [h.id for h in existing.values() if h.id is not None])
        cases = open_cases(session, [h.id for h in existing.values() if h.id is not None])
        if writer is not None:
            for outcome in writer.write(part, existing, members, cases, conflicts):
                counts[outcome] += 1
        else:
            for rows in part:
                outcome = _write(session, actor, preview, rows, existing.get(rows.number), members,
                                 cases=cases, conflicts=conflicts)
                counts[outcome] += 1
        hashes |= {key for key in (sealer.match_key(m.id_number) for rows in part for m in rows.members) if key}
    flagged, twice = _flag_people(session, hashes) if writer is None else _flag_people_bulk(session, hashes)
    return HouseholdImportSummary(**counts, members=sum(len(h.members) for h in households),
                                  skipped=preview.parsed.skipped, flagged_ids=flagged, in_two_households=twice,
                                  conflicts=conflicts)


class _BulkWriter:
    """The bulk path of ``commit_households``: one chunk of the file at a time."""

    def __init__(self, session: Session, actor: Actor, preview: HouseholdImportPreview) -> None:
        self.session, self.actor, self.preview = session, actor, preview
        self.sealer = privacy.sealer()
        self.today, self.now = clock.today(), clock.now()
        self.defaults = column_defaults(Household)

    def write(self, part: list[HouseholdRows], existing: dict[str, Household],
              members: dict[int, list[HouseholdMember]], cases: dict[int, HouseholdCase],
              conflicts: list[ImportConflict]) -> list[str]:
        session, actor = self.session, self.actor
        audits: list[dict[str, Any]] = []
        outcomes: list[str] = []
        known = [existing[rows.number] for rows in part if rows.number in existing]
        risks, measures = _risks_and_measures(session, [h.id for h in known if h.id is not None])
        for rows in part:
            household = existing.get(rows.number)
            if household is not None:
                outcomes.append(_write(session, actor, self.preview, rows, household, members,
                                       audits=audits, risks=risks.get(household.id, set()),
                                       measures=measures.get(household.id, set()), cases=cases, conflicts=conflicts))
        session.flush()   # the changed households, before the Core rows and the audit rows that name them
        new = [rows for rows in part if rows.number not in existing]
        if new:
            self._create(new, audits)
            outcomes += ["created"] * len(new)
        insert_clean(session, AuditLog, audits)
        return outcomes

    def _create(self, new: list[HouseholdRows], audits: list[dict[str, Any]]) -> None:
        session, actor, today, now = self.session, self.actor, self.today, self.now
        table = Household.__table__
        records = [clean_row({**self.defaults, "number": rows.number, "flags": [], "created_at": now,
                              "updated_at": now, **_household_values(self.preview, rows), **_state_of(rows)})
                   for rows in new]
        connection = session.connection()
        household_figures.touch(session, {record["township"] for record in records})  # COPY is seen by no listener
        reserved = reserve_ids(connection, table, len(records))
        if reserved is not None:   # PostgreSQL: ids from the sequence, the rows by COPY
            records = [{"id": household_id, **record} for household_id, record in zip(reserved, records)]
            insert_rows(connection, table, records)
            ids = {record["number"]: record["id"] for record in records}
        else:
            returned = connection.execute(
                insert(table).returning(table.c.id, table.c.number, sort_by_parameter_order=True), records)
            ids = {number: household_id for household_id, number in returned}
        members: list[dict[str, Any]] = []
        risks: list[dict[str, Any]] = []
        measures: list[dict[str, Any]] = []
        steps: list[dict[str, Any]] = []
        for rows in new:
            household_id = ids[rows.number]
            changed = {"created"}
            seq = 0
            for row in rows.members:
                if row.leaving:   # listed as gone: a household this import creates never had them
                    continue
                seq += 1
                values = member_values(household_id, seq, _member_input(row), self.sealer)
                members.append({**values, "labour_skill": values["labour_skill"].value if values["labour_skill"] else None,
                                "version": 1})
                changed.add("member+")
            since = rows.identified_on or today
            for risk in rows.risks:
                risks.append({"household_id": household_id, "kind": risk.value, "added_on": since, "removed_on": None,
                              "note": "导入"})
                changed.add(f"risk:{risk.value}")
            for kind, text in rows.measures.items():
                measures.append({"household_id": household_id, "kind": kind.value, "text": text, "unit_name": "",
                                 "start_on": since, "end_on": None, "created_by_id": None, "created_at": now,
                                 "version": 1})
                changed.add(f"measure:{kind.value}")
            note = ", ".join(sorted(changed))
            steps.append({"household_id": household_id, "case_id": None, "action": "hh_import", "happened_on": today,
                          "at": now, "user_id": actor.id, "username": actor.username, "note": note[:2000]})
            audits.append(_audit_row(actor, now, household_id, sorted(changed)))
        insert_clean(session, HouseholdMember, members)
        insert_clean(session, HouseholdRisk, risks)
        insert_clean(session, SupportMeasure, measures)
        insert_clean(session, HouseholdStep, steps)
        recount_persons(session, sorted(ids.values()))


def _audit_row(actor: Actor, now: dt.datetime, household_id: int | None, changed: list[str], *,
               action: str = "hh_import", old: dict[str, Any] | None = None,
               new: dict[str, Any] | None = None) -> dict[str, Any]:
    """What ``common.audit(session, actor, action, household, old=old, new=new or {"changed": …})`` writes, as a
    Core row."""
    return {"at": now, "user_id": actor.id, "username": actor.username, "action": action, "entity": "Household",
            "entity_id": household_id, "finding_id": None, "old": old or None, "new": new or {"changed": changed},
            "note": ""}


def recount_persons(session: Session, household_ids: list[int]) -> None:
    """``Household.persons`` of these households from their members: what the flush hook of ``db/engine.py`` does
    after an ORM write of a member, once for a chunk of households written below the ORM."""
    if not household_ids:
        return
    counted = (select(func.count()).where(HouseholdMember.household_id == Household.id)
               .correlate(Household).scalar_subquery())
    session.connection().execute(update(Household).where(Household.id.in_(household_ids)).values(persons=counted))


def _risks_and_measures(session: Session, household_ids: list[int]) -> tuple[dict[int, set[str]], dict[int, set]]:
    """The open risks and the measures of a chunk of households already in the ledger, read once."""
    risks: dict[int, set[str]] = {}
    measures: dict[int, set[tuple[str, str]]] = {}
    if household_ids:
        for household_id, kind in session.exec(select(HouseholdRisk.household_id, HouseholdRisk.kind).where(
                HouseholdRisk.household_id.in_(household_ids), HouseholdRisk.removed_on.is_(None))).all():
            risks.setdefault(household_id, set()).add(kind)
        for household_id, kind, text in session.exec(select(
                SupportMeasure.household_id, SupportMeasure.kind, SupportMeasure.text).where(
                SupportMeasure.household_id.in_(household_ids))).all():
            measures.setdefault(household_id, set()).add((kind, text))
    return risks, measures


def _members_of(session: Session, household_ids: list[int]) -> dict[int, list[HouseholdMember]]:
    found: dict[int, list[HouseholdMember]] = {}
    if household_ids:
        for member in session.exec(select(HouseholdMember).where(HouseholdMember.household_id.in_(household_ids))).all():
            found.setdefault(member.household_id, []).append(member)
    return found


def _household_values(preview: HouseholdImportPreview, rows: HouseholdRows) -> dict:
    head = next(m for m in rows.members if m.relation == "户主") if rows.members else None
    return {
        "county": rows.county, "township": rows.township, "village_id": preview.villages[(rows.township, rows.village)],
        "household_type": rows.household_type.value,
        "head_name": head.name if head else "", "income_year": preview.year, "income_per_capita": rows.income,
        "wage_income": rows.wage, "business_income": rows.business, "transfer_income": rows.transfer,
        "compliant_expense": rows.expense, "housing_ok": rows.housing_ok, "water_ok": rows.water_ok,
        "medical_ok": rows.medical_ok, "dibao": rows.dibao[:60], "tekun": rows.tekun[:60],
        "collector": rows.collector[:60],
    }


STATE_COLUMNS = ("state", "category", "identified_on", "eliminated_on", "elimination_method")


def _state_of(rows: HouseholdRows) -> dict:
    """Where the file puts a household: monitored, eliminated, or (a 脱贫户 without a category) not monitored; every
    column of ``STATE_COLUMNS``, for a household the import creates and for one it finds changed."""
    values: dict[str, Any] = {"category": rows.category.value if rows.category else None, "identified_on": None,
                              "eliminated_on": None, "elimination_method": None}
    if rows.category is None:
        return {**values, "state": HouseholdState.NOT_MONITORED.value}
    values["identified_on"] = rows.identified_on
    if rows.eliminated:
        method = rows.method or EliminationMethod.SUPPORTED
        return {**values, "state": HouseholdState.ELIMINATED.value, "eliminated_on": rows.eliminated_on,
                "elimination_method": method.value}
    return {**values, "state": HouseholdState.MONITORED.value}


def _restate(session: Session, actor: Actor, household: Household, rows: HouseholdRows,
             case: HouseholdCase | None, conflicts: list[ImportConflict],
             audits: list[dict[str, Any]] | None) -> set[str]:
    """A household already in the ledger moved where the file puts it (``_state_of``), with a step and an audit
    entry ``hh_import_state``; returns the columns changed. With a case open on it the household stays where the
    case has it and a difference from where it stood before the case is reported as an ``ImportConflict``."""
    target = _state_of(rows)
    if case is not None:
        standing = {**{column: getattr(household, column) for column in STATE_COLUMNS},
                    "state": state_before(household, case).value}
        differs = tuple(column for column in STATE_COLUMNS if standing[column] != target[column])
        if differs:
            conflicts.append(ImportConflict(number=household.number, case_state=CaseState(case.state),
                                            file_state=HouseholdState(target["state"]), columns=differs))
        return set()
    before = household.state
    old, new = apply_changes(household, target)
    if not new:
        return set()
    session.add(HouseholdStep(household_id=household.id, action="hh_import_state", happened_on=clock.today(),
                              user_id=actor.id, username=actor.username,
                              note=f"{before} → {household.state}: " + ", ".join(sorted(new))))
    if audits is None:
        audit(session, actor, "hh_import_state", household, old=old, new=new)
    else:
        audits.append(_audit_row(actor, clock.now(), household.id, [], action="hh_import_state", old=old, new=new))
    return set(new)


def _write(session: Session, actor: Actor, preview: HouseholdImportPreview, rows: HouseholdRows,
           household: Household | None, members: dict[int, list[HouseholdMember]], *,
           audits: list[dict[str, Any]] | None = None, risks: set[str] | None = None,
           measures: set | None = None, cases: dict[int, HouseholdCase] | None = None,
           conflicts: list[ImportConflict] | None = None) -> str:
    """One household through the ORM. The bulk path passes ``audits`` (its audit row is added there, written with
    the chunk's) and the household's open risks and measures it read for the whole chunk; both paths pass the open
    cases of the chunk's households and the list a conflict goes to."""
    values = _household_values(preview, rows)
    today = clock.today()
    if household is None:
        household = Household(number=rows.number, flags=[], **values, **_state_of(rows))
        session.add(household)
        session.flush()
        changed: dict[str, Any] = {"created": rows.number}
        outcome = "created"
    else:
        restated = _restate(session, actor, household, rows, (cases or {}).get(household.id),
                            conflicts if conflicts is not None else [], audits)
        _, changed = apply_changes(household, values)
        changed = {**changed, **dict.fromkeys(restated)}
        outcome = "updated" if changed else "unchanged"
    member_changes = _write_members(session, actor, household, rows.members, members.get(household.id, []),
                                    joined=outcome != "created")
    # risks of a household the file creates date from its 识别监测时间; a risk a re-import adds arose since the
    # household was last seen: dated the import day, so it counts as "added since" for 风险消除
    since = rows.identified_on or today
    added_risks = _add_missing(session, household, rows, since, new=outcome == "created", risks=risks,
                               measures=measures, risks_on=since if outcome == "created" else today)
    if member_changes or added_risks:
        outcome = "updated" if outcome == "unchanged" else outcome
    if outcome != "unchanged":
        household.updated_at = clock.now()
        note = ", ".join(sorted({*changed, *member_changes, *added_risks}))
        session.add(HouseholdStep(household_id=household.id, action="hh_import", happened_on=today,
                                  user_id=actor.id, username=actor.username, note=note[:2000]))
        what = sorted({*changed, *member_changes, *added_risks})
        if audits is None:
            audit(session, actor, "hh_import", household, new={"changed": what})
        else:
            audits.append(_audit_row(actor, clock.now(), household.id, what))
    return outcome


def _member_input(row: MemberRow) -> MemberInput:
    return MemberInput(name=row.name, id_number=row.id_number, id_kind=row.id_kind, relation=row.relation,
                       sex=row.sex, birth_date=row.birth, education=row.education, school_status=row.school,
                       health=row.health, labour_skill=row.skill, phone=row.phone)


def _write_members(session: Session, actor: Actor, household: Household, rows: list[MemberRow],
                   current: list[HouseholdMember], *, joined: bool) -> set[str]:
    """Members matched by their ID's keyed hash (by name when there is no ID); returns what changed.

    On a household already in the ledger (``joined``) a person who appears is recorded as a member change (人口变动)
    with the file's 变动原因, or as a birth when born after the household entered the ledger, else as 迁入; a person
    who is gone is recorded with the reason of their row still listed with one (死亡, 婚出, 迁出), else as 迁出."""
    by_key = {(m.id_hash or f"name:{m.name}"): m for m in current}
    changed: set[str] = set()
    seen = set()
    leaving = {}
    today = clock.today()
    seq = 0
    for row in rows:
        key = privacy.match_key(row.id_number) or f"name:{row.name}"
        if row.leaving:
            leaving[key] = row
            continue
        seq += 1
        seen.add(key)
        data = _member_input(row)
        member = by_key.get(key)
        if member is None:
            session.add(member_row(household.id, seq, data))
            changed.add("member+")
            if joined:
                reason, day = _joined(household, row, today)
                note_member_change(session, actor, household, reason, day, row.name)
            continue
        _, new = apply_changes(member, {"seq": seq, "name": row.name, "relation": row.relation,
                                        "is_head": row.relation == "户主", "sex": row.sex, "birth_date": row.birth,
                                        "education": row.education, "school_status": row.school,
                                        "labour_skill": row.skill.value if row.skill else None})
        if (privacy.unseal(member.phone_cipher, privacy.Field.PHONE) != privacy.normalise(row.phone)
                or privacy.unseal(member.health_cipher, privacy.Field.HEALTH) != row.health.strip()):
            seal_member(member, data)
            new["sealed"] = True
        if new:
            changed.add("member")
    for key, member in by_key.items():
        if key not in seen:
            gone = leaving.get(key)
            reason = MemberChangeReason(gone.change) if gone and gone.change else MemberChangeReason.MOVED_OUT
            note_member_change(session, actor, household, reason, min(gone.change_on or today, today) if gone else today,
                               member.name)
            session.delete(member)
            changed.add("member-")
    return changed


def _joined(household: Household, row: MemberRow, today: dt.date) -> tuple[MemberChangeReason, dt.date]:
    """Why and when a person the file lists for the first time joined the household."""
    if row.change in MEMBER_ADDITIONS:
        return MemberChangeReason(row.change), min(row.change_on or today, today)
    if row.birth is not None and row.birth >= household.created_at.date():
        return MemberChangeReason.BIRTH, min(row.birth, today)
    return MemberChangeReason.MOVED_IN, min(row.change_on or today, today)


def _add_missing(session: Session, household: Household, rows: HouseholdRows, since: dt.date, *,
                 new: bool = False, risks: set[str] | None = None, measures: set | None = None,
                 risks_on: dt.date | None = None) -> set[str]:
    """Risks and measures of the file the household does not have yet (nothing is removed by an import). A
    household this import creates has none: nothing is read (each read would flush the session first)."""
    added: set[str] = set()
    if risks is None:
        risks = set() if new else set(session.exec(select(HouseholdRisk.kind).where(
            HouseholdRisk.household_id == household.id, HouseholdRisk.removed_on.is_(None))).all())
    for risk in rows.risks:
        if risk.value not in risks:
            session.add(HouseholdRisk(household_id=household.id, kind=risk.value, added_on=risks_on or since,
                                      note="导入"))
            added.add(f"risk:{risk.value}")
    if measures is None:
        measures = set() if new else set(session.exec(select(SupportMeasure.kind, SupportMeasure.text)
                                                      .where(SupportMeasure.household_id == household.id)).all())
    for kind, text in rows.measures.items():
        if (kind.value, text) not in measures:
            session.add(SupportMeasure(household_id=household.id, kind=kind.value, text=text, start_on=since))
            added.add(f"measure:{kind.value}")
    return added


def _flag_people(session: Session, hashes: set[str]) -> tuple[int, int]:
    """Flag everyone of this import listed in two households (by keyed hash); count IDs with a bad check digit."""
    session.flush()
    twice: set[str] = set()
    keys = sorted(hashes)
    for start in range(0, len(keys), CHUNK):
        twice |= set(session.exec(
            select(HouseholdMember.id_hash).where(HouseholdMember.id_hash.in_(keys[start:start + CHUNK]))
            .group_by(HouseholdMember.id_hash).having(func.count(func.distinct(HouseholdMember.household_id)) > 1)).all())
    flagged_people = 0
    for start in range(0, len(keys), CHUNK):
        for member in session.exec(select(HouseholdMember).where(HouseholdMember.id_hash.in_(keys[start:start + CHUNK]))).all():
            wanted = [f for f in member.flags if f != FLAG_TWO_HOUSEHOLDS] + ([FLAG_TWO_HOUSEHOLDS] if member.id_hash in twice else [])
            if wanted != member.flags:
                member.flags = wanted
            flagged_people += not member.id_valid
    return flagged_people, len(twice)



def _flag_people_bulk(session: Session, hashes: set[str]) -> tuple[int, int]:
    """``_flag_people`` for the bulk path: the same flags and counts from one set-based query (each member of these
    hashes with whether the hash is in two households: ``min <> max`` over the hash), updating only the members
    whose flags change."""
    session.flush()
    table = HouseholdMember.__table__
    over = {"partition_by": table.c.id_hash}
    twice_expr = func.min(table.c.household_id).over(**over) != func.max(table.c.household_id).over(**over)
    twice: set[str] = set()
    changed: list[dict[str, Any]] = []
    flagged_people = 0
    connection = session.connection()
    for condition in any_of(session, table.c.id_hash, sorted(hashes)):
        for member_id, id_hash, flags, valid, in_two in connection.execute(
                select(table.c.id, table.c.id_hash, table.c.flags, table.c.id_valid, twice_expr).where(condition)):
            if in_two:
                twice.add(id_hash)
            wanted = [f for f in flags if f != FLAG_TWO_HOUSEHOLDS] + ([FLAG_TWO_HOUSEHOLDS] if in_two else [])
            if wanted != flags:
                changed.append({"member_id": member_id, "wanted": wanted})
            flagged_people += not valid
    if changed:
        connection.execute(update(table).where(table.c.id == bindparam("member_id"))
                           .values(flags=bindparam("wanted")), changed)
        session.expire_all()   # members the session holds may carry the old flags
    return flagged_people, len(twice)
