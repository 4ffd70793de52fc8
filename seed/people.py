"""Generated people for the demo and synthetic household ledgers, and for tests: names and ID numbers that
look real (an 18-character resident ID with a valid check digit, ``stdnum.cn.ric``) but belong to nobody."""
from __future__ import annotations

import datetime as dt
import random

from stdnum.cn import ric

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
GIVEN = "国建明华文军平志勇秀英兰芳玉凤红霞春梅丽敏静桂珍德生福才林海宝山金成德永长兴家富荣华贵清云"
REGIONS = ("340826", "340828", "340822")  # 宿松县, 岳西县, 怀宁县: the seeds' part of Anhui (codes since 1988)
OLD_REGIONS = ("340121", "340421", "340621")  # codes stdnum accepts for any birth year (长丰县, 凤台县, 濉溪县)
NEW_CODES_FROM = 1988


def name(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2))))


def resident_id(rng: random.Random, birth: dt.date, *, female: bool, region: str | None = None) -> str:
    """A valid-looking 18-character ID: region, birth date, sequence (odd for men), check digit."""
    sequence = rng.randrange(0, 500) * 2 + (0 if female else 1)
    region = region or rng.choice(REGIONS if birth.year >= NEW_CODES_FROM else OLD_REGIONS)
    body = f"{region}{birth:%Y%m%d}{sequence:03d}"
    return body + ric.calc_check_digit(body + "0")  # it reads the 17 digits before a last place


def wrong_check_digit(id_number: str) -> str:
    """The same ID with a check digit that stdnum refuses (county data is imperfect)."""
    right = id_number[-1]
    wrong = next(digit for digit in "0123456789X" if digit != right)
    return id_number[:-1] + wrong


def phone(rng: random.Random) -> str:
    return rng.choice(("138", "139", "151", "158", "187", "199")) + f"{rng.randrange(10**8):08d}"


def birth(rng: random.Random, today: dt.date, low: int, high: int) -> dt.date:
    age = rng.randint(low, high)
    return dt.date(today.year - age, rng.randint(1, 12), rng.randint(1, 28))
