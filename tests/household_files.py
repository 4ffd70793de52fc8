"""National-style exports of the 防返贫监测信息系统 (``（自定义）监测对象信息.xlsx``), built in the tests with
generated people: two title rows, the header on row 3, one row per person grouped by 户编号."""
from __future__ import annotations

import datetime as dt
import io
import random
from dataclasses import dataclass, field

from openpyxl import Workbook

from seed import people

HEADER = ["序号", "县", "乡", "村", "户编号", "户类型", "监测对象类别", "识别监测时间", "姓名", "证件类型", "证件号码",
          "与户主关系", "性别", "出生日期", "文化程度", "在校生状况", "健康状况", "劳动技能",
          "致贫/返贫风险1", "致贫/返贫风险2", "风险是否已消除", "风险消除方式", "消除监测时间", "人均纯收入（元）",
          "工资性收入", "转移性收入", "是否危房户", "是否解决安全饮用水", "是否参加城乡居民基本医疗保险",
          "健康帮扶", "就业帮扶", "家庭成员联系电话", "信息采集人", "耕地面积（亩）"]


@dataclass
class Person:
    name: str
    id_number: str
    relation: str
    phone: str
    sex: str = "男"
    birth: str = "19700101"
    skill: str = "普通劳动力"
    health: str = "健康"
    change: str = ""       # 变动原因 (written only by ``export(…, changes=True)``)
    change_on: str = ""    # 变动日期


@dataclass
class Home:
    number: str
    township: str = "高士镇"
    village: str = "毛安村"
    household_type: str = "脱贫户"
    category: str = "脱贫不稳定户"
    identified: str = "202512"
    risks: tuple[str, ...] = ("因病",)
    eliminated: str = "否"
    method: str = ""
    eliminated_on: str = ""
    income: float | str = 6800.5
    measures: dict[str, str] = field(default_factory=lambda: {"健康帮扶": "慢病签约服务"})
    members: list[Person] = field(default_factory=list)


def person(rng: random.Random, relation: str, *, age: int = 45) -> Person:
    female = relation in ("配偶", "之女")
    born = people.birth(rng, dt.date(2026, 6, 1), age, age)
    return Person(name=people.name(rng), id_number=people.resident_id(rng, born, female=female), relation=relation,
                  phone=people.phone(rng), sex="女" if female else "男", birth=born.strftime("%Y%m%d"))


def home(number: str, seed: int, **values) -> Home:
    rng = random.Random(seed)
    members = [person(rng, "户主", age=52), person(rng, "配偶", age=49), person(rng, "之子", age=20)]
    return Home(number=number, members=values.pop("members", members), **values)


def export(homes: list[Home], changes: bool = False) -> bytes:
    """The file; ``changes``: with the optional 变动原因 and 变动日期 columns."""
    header = HEADER + (["变动原因", "变动日期"] if changes else [])
    book = Workbook()
    sheet = book.active
    sheet.title = "监测对象信息"
    sheet.cell(1, 1, "（自定义）监测对象信息")
    sheet.merge_cells(start_row=1, start_column=1, end_row=1, end_column=len(header))
    sheet.cell(2, 1, "导出时间：2026-06-10  导出单位：宿松县")
    for c, name in enumerate(header, start=1):
        sheet.cell(3, c, name)
    r = 4
    for h in homes:
        for p in h.members:
            values = [r - 3, "宿松县", h.township, h.village, h.number, h.household_type, h.category, h.identified,
                      p.name, "居民身份证", p.id_number, p.relation, p.sex, p.birth, "初中", "非在校生", p.health,
                      p.skill, *(list(h.risks) + ["", ""])[:2], h.eliminated, h.method, h.eliminated_on, h.income,
                      3000, 1200, "否", "是", "是", h.measures.get("健康帮扶", ""), h.measures.get("就业帮扶", ""),
                      p.phone, "张三", 3.5, *([p.change, p.change_on] if changes else [])]
            for c, value in enumerate(values, start=1):
                if value not in ("", None):
                    sheet.cell(r, c, value)
            r += 1
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
