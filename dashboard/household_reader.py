"""Reads the national 防返贫监测信息系统's export (``（自定义）监测对象信息.xlsx``): title rows, the header on
(about) row 3, one row per person, grouped by 户编号.

The whole file is read and checked before anything is written. A row that cannot be read (an ID that is
neither 18, 20 nor 22 characters, a date or an amount that is not one, an unknown category or risk) and a
household without a 户主 are errors with their row numbers: the import refuses the whole file. An 18-character
ID with a wrong check digit, or a person listed in two households, is imperfect county data: it is read and
flagged, never refused.
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from dashboard import privacy
from dashboard.errors import ValidationFailed
from dashboard.i18n import label
from dashboard.ledger_reader import LedgerFormatError, read_sheets
from dashboard.vocab import (MEMBER_REMOVALS, EliminationMethod, HouseholdType, LabourSkill, MemberChangeReason,
                             MonitorCategory, Risk, SupportKind)

HEADER_SEARCH_ROWS = 10
RISK_COLUMNS = 5
YES, NO = "是", "否"

# header text (normalised: no spaces, ASCII parentheses) -> field
HEADERS: dict[str, str] = {
    "县": "county", "县(市、区)": "county", "县(市区)": "county",
    "乡": "township", "乡镇": "township", "乡(镇)": "township",
    "村": "village", "行政村": "village",
    "户编号": "number", "户类型": "household_type", "监测对象类别": "category", "识别监测时间": "identified",
    "姓名": "name", "证件类型": "id_kind", "证件号码": "id_number", "与户主关系": "relation", "性别": "sex",
    "出生日期": "birth", "文化程度": "education", "在校生状况": "school", "健康状况": "health", "劳动技能": "skill",
    "风险是否已消除": "eliminated", "风险消除方式": "method", "消除监测时间": "eliminated_on",
    "人均纯收入(元)": "income", "人均纯收入": "income", "工资性收入": "wage", "工资性收入(元)": "wage",
    "生产经营性收入": "business", "生产经营性收入(元)": "business", "转移性收入": "transfer",
    "转移性收入(元)": "transfer", "合规自付支出": "expense", "合规自付支出(元)": "expense",
    "是否危房户": "dangerous_house", "是否解决安全饮用水": "safe_water",
    "是否参加城乡居民基本医疗保险": "insured", "享受低保政策情况": "dibao", "享受特困供养政策情况": "tekun",
    "家庭成员联系电话": "phone", "联系电话": "phone", "信息采集人": "collector",
    "变动原因": "change", "人员变动原因": "change", "成员变动原因": "change", "人口变动情况": "change",
    "变动日期": "change_on", "变动时间": "change_on",
}
REQUIRED = ("number", "name", "id_number", "relation", "township", "village")


def _labels(enum: type[StrEnum]) -> dict[str, StrEnum]:
    return {label(member, "zh"): member for member in enum}


CATEGORIES = _labels(MonitorCategory)
RISKS = _labels(Risk)
SKILLS = _labels(LabourSkill)
SUPPORT = _labels(SupportKind)
METHODS = _labels(EliminationMethod)
# 变动原因 (optional): a person who joined (出生, 婚入, 迁入) or, still listed, left (死亡, 婚出, 迁出) the household
CHANGES: dict[str, StrEnum] = {**_labels(MemberChangeReason), "迁入": MemberChangeReason.MOVED_IN,
                               "其他增加": MemberChangeReason.MOVED_IN, "迁出": MemberChangeReason.MOVED_OUT,
                               "其他减少": MemberChangeReason.MOVED_OUT, "新生儿": MemberChangeReason.BIRTH}


@dataclass(frozen=True)
class RowError:
    row: int          # the row number as the spreadsheet shows it
    key: str          # catalogue key of the reason
    params: dict = field(default_factory=dict)


@dataclass
class MemberRow:
    row: int
    name: str
    id_kind: str
    id_number: str
    relation: str
    sex: str
    birth: dt.date | None
    education: str
    school: str
    health: str
    skill: LabourSkill | None
    phone: str
    change: MemberChangeReason | None = None   # 变动原因, when the file says why the person joined or left
    change_on: dt.date | None = None           # 变动日期

    @property
    def leaving(self) -> bool:
        """Listed with a reason for leaving (死亡, 婚出, 迁出): no longer a member."""
        return self.change in MEMBER_REMOVALS


@dataclass
class HouseholdRows:
    """One household of the file: its own columns (read from the 户主's row) and its members."""

    number: str
    county: str
    township: str
    village: str
    household_type: HouseholdType
    category: MonitorCategory | None
    identified_on: dt.date | None
    eliminated: bool
    method: EliminationMethod | None
    eliminated_on: dt.date | None
    income: float | None
    wage: float | None
    business: float | None
    transfer: float | None
    expense: float | None
    housing_ok: bool
    water_ok: bool
    medical_ok: bool
    dibao: str
    tekun: str
    collector: str
    risks: list[Risk]
    measures: dict[SupportKind, str]
    members: list[MemberRow]
    rows: list[int]

    @property
    def kept(self) -> bool:
        """Only monitored households (with a category) and 脱贫户 are kept in the ledger."""
        return self.category is not None or self.household_type is HouseholdType.EXITED


@dataclass
class ParsedHouseholds:
    households: list[HouseholdRows]
    errors: list[RowError]
    rows_read: int
    skipped: int      # households neither monitored nor 脱贫户


def normalise_header(text: Any) -> str:
    value = re.sub(r"\s+", "", str(text or ""))
    return value.replace("（", "(").replace("）", ")").replace("/", "")


def header_field(text: Any) -> str | None:
    norm = normalise_header(text)
    if norm in HEADERS:
        return HEADERS[norm]
    risk = re.fullmatch(r"(?:致贫|返贫)*(?:风险|原因)(\d)", norm.replace("致贫返贫", "致贫"))
    if risk and 1 <= int(risk.group(1)) <= RISK_COLUMNS:
        return f"risk{risk.group(1)}"
    for member, kind in SUPPORT.items():
        if norm == normalise_header(member):
            return f"measure_{kind.value}"
    return None


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return " ".join(str(value).split())   # runs of whitespace as one space, none at either end (str.split: \s)


class _Bad(ValueError):
    def __init__(self, key: str, **params: Any) -> None:
        super().__init__(key)
        self.key, self.params = key, params


def _amount(text: str, column: str) -> float | None:
    if not text:
        return None
    try:
        return float(text.replace(",", "").replace("，", ""))
    except ValueError:
        raise _Bad("error.hh_import_amount", column=column, value=text) from None


def _month(text: str, column: str) -> dt.date | None:
    """识别监测时间 and 消除监测时间: YYYYMM (also YYYY-MM, YYYY年MM月, or a full date)."""
    if not text:
        return None
    digits = re.sub(r"\D", "", text)
    try:
        if len(digits) == 6:
            return dt.date(int(digits[:4]), int(digits[4:]), 1)
        if len(digits) == 8:
            return dt.date(int(digits[:4]), int(digits[4:6]), int(digits[6:]))
    except ValueError:
        pass
    raise _Bad("error.hh_import_month", column=column, value=text)


def _birth(value: Any) -> dt.date | None:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    text = _cell(value)
    if not text:
        return None
    try:
        return _month(text, "出生日期")
    except _Bad:
        raise _Bad("error.hh_import_month", column="出生日期", value=text) from None


def _choice(text: str, choices: dict[str, StrEnum], column: str) -> Any:
    if not text:
        return None
    if text in choices:
        return choices[text]
    raise _Bad("error.hh_import_unknown", column=column, value=text)


def _yes(text: str, column: str) -> bool | None:
    if not text:
        return None
    if text in (YES, NO):
        return text == YES
    raise _Bad("error.hh_import_unknown", column=column, value=text)


def _find_header(grid) -> tuple[int, dict[str, int]] | None:
    for r in range(1, min(grid.max_row, HEADER_SEARCH_ROWS) + 1):
        columns: dict[str, int] = {}
        for c in range(1, grid.max_col + 1):
            name = header_field(grid.value(r, c))
            if name and name not in columns:
                columns[name] = c
        if {"number", "name", "id_number"} <= set(columns):
            return r, columns
    return None


def parse_households(raw: bytes, filename: str | None = None) -> ParsedHouseholds:
    """Every household of the file, or the errors that refuse it (row numbers as the sheet shows them)."""
    _, sheets = read_sheets(raw, filename)
    for grid in sheets:
        found = _find_header(grid)
        if found is not None:
            return _parse_grid(grid, *found)
    raise LedgerFormatError("error.hh_import_no_header")


def _parse_grid(grid, header_row: int, columns: dict[str, int]) -> ParsedHouseholds:
    missing = [name for name in REQUIRED if name not in columns]
    if missing:
        raise LedgerFormatError("error.hh_import_columns", columns=", ".join(missing))
    errors: list[RowError] = []
    groups: dict[str, list[tuple[int, dict[str, str], Any]]] = {}
    rows_read = 0
    names, numbers = list(columns), list(columns.values())
    for r in range(header_row + 1, grid.max_row + 1):
        values = dict(zip(names, map(_cell, grid.values_at(r, numbers))))
        if not any(values.values()):
            continue
        rows_read += 1
        birth_raw = grid.value(r, columns["birth"]) if "birth" in columns else None
        if not values["number"]:
            errors.append(RowError(r, "error.hh_import_required", {"column": "户编号"}))
            continue
        if not values["name"]:
            errors.append(RowError(r, "error.hh_import_required", {"column": "姓名"}))
        groups.setdefault(values["number"], []).append((r, values, birth_raw))
    households = []
    for number, rows in groups.items():
        household = _household(number, rows, errors)
        if household is not None:
            households.append(household)
    kept = [h for h in households if h.kept]
    return ParsedHouseholds(households=kept, errors=sorted(errors, key=lambda e: e.row), rows_read=rows_read,
                            skipped=len(households) - len(kept))


def _member(r: int, values: dict[str, str], birth_raw: Any) -> MemberRow:
    try:
        id_number = privacy.check_id_length(values["id_number"])
    except ValidationFailed as refused:
        raise _Bad(refused.key, **refused.params) from None
    return MemberRow(row=r, name=values["name"], id_kind=values.get("id_kind", ""), id_number=id_number,
                     relation=values["relation"], sex=values.get("sex", ""), birth=_birth(birth_raw),
                     education=values.get("education", ""), school=values.get("school", ""),
                     health=values.get("health", ""), skill=_choice(values.get("skill", ""), SKILLS, "劳动技能"),
                     phone=values.get("phone", ""), change=_choice(values.get("change", ""), CHANGES, "变动原因"),
                     change_on=_month(values.get("change_on", "").split(" ")[0], "变动日期"))


def _household(number: str, rows: list[tuple[int, dict[str, str], Any]], errors: list[RowError]) -> HouseholdRows | None:
    members = []
    for r, values, birth_raw in rows:
        try:
            members.append(_member(r, values, birth_raw))
        except _Bad as bad:
            errors.append(RowError(r, bad.key, bad.params))
    heads = [(r, values) for r, values, _ in rows if values["relation"] == "户主"]
    if not heads:
        errors.append(RowError(rows[0][0], "error.hh_import_no_head", {"number": number,
                                                                         "rows": [r for r, _, _ in rows]}))
        return None
    r, v = heads[0]
    try:
        household_type = HouseholdType.EXITED if "脱贫" in v.get("household_type", "") else HouseholdType.ORDINARY
        risks = [_choice(v.get(f"risk{i}", ""), RISKS, f"风险{i}") for i in range(1, RISK_COLUMNS + 1)]
        return HouseholdRows(
            number=number, county=v.get("county", ""), township=v["township"], village=v["village"],
            household_type=household_type, category=_choice(v.get("category", ""), CATEGORIES, "监测对象类别"),
            identified_on=_month(v.get("identified", ""), "识别监测时间"),
            eliminated=bool(_yes(v.get("eliminated", ""), "风险是否已消除")),
            method=_choice(v.get("method", ""), METHODS, "风险消除方式"),
            eliminated_on=_month(v.get("eliminated_on", ""), "消除监测时间"),
            income=_amount(v.get("income", ""), "人均纯收入"), wage=_amount(v.get("wage", ""), "工资性收入"),
            business=_amount(v.get("business", ""), "生产经营性收入"),
            transfer=_amount(v.get("transfer", ""), "转移性收入"), expense=_amount(v.get("expense", ""), "合规自付支出"),
            housing_ok=not _yes(v.get("dangerous_house", ""), "是否危房户"),
            water_ok=_yes(v.get("safe_water", ""), "是否解决安全饮用水") is not False,
            medical_ok=_yes(v.get("insured", ""), "是否参加城乡居民基本医疗保险") is not False,
            dibao=v.get("dibao", ""), tekun=v.get("tekun", ""), collector=v.get("collector", ""),
            risks=list(dict.fromkeys(risk for risk in risks if risk)),
            measures={kind: v[f"measure_{kind.value}"] for kind in SupportKind if v.get(f"measure_{kind.value}")},
            members=members, rows=[row for row, _, _ in rows])
    except _Bad as bad:
        errors.append(RowError(r, bad.key, bad.params))
        return None
