"""The one source of 'now'. Local time of the bureau (naive datetimes in ``config.TIMEZONE``).

Tests and the demo builder move time with ``frozen(...)`` so that deadlines, staleness and
overdue days are reproducible.
"""
from __future__ import annotations

import datetime as dt
from contextlib import contextmanager
from typing import Iterator
from zoneinfo import ZoneInfo

from dashboard.config import TIMEZONE

_frozen: dt.datetime | None = None


def now() -> dt.datetime:
    if _frozen is not None:
        return _frozen
    return dt.datetime.now(ZoneInfo(TIMEZONE)).replace(tzinfo=None, microsecond=0)


def today() -> dt.date:
    return now().date()


@contextmanager
def frozen(moment: dt.datetime | dt.date) -> Iterator[None]:
    global _frozen
    if not isinstance(moment, dt.datetime):
        moment = dt.datetime.combine(moment, dt.time(9, 0))
    previous, _frozen = _frozen, moment
    try:
        yield
    finally:
        _frozen = previous
