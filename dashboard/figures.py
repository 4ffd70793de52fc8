"""The leadership figures, each defined once.

Every output — the overview, meeting mode, ``stats --json``, snapshots, the Word report and the
Excel export — takes its numbers from a ``Figures`` value, so a label means the same count
everywhere. Counts are summed by SQL (``services.queries`` or the maintained roll-ups); what is
derived from them (有效问题, 未完成, the rates) is defined here and nowhere else. Rates keep full
precision until ``percent`` formats them for a reader.
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Mapping

SCHEMA_VERSION = 2  # of the figures a snapshot stores; 1: before this module (rates rounded to 4 places)

COUNTS = ("total", "open", "in_progress", "pending_review", "ongoing", "closed", "cancelled", "overdue",
          "closed_on_time", "extended", "repeats", "stale", "red", "yellow", "green")
DERIVED = ("effective", "working", "outstanding", "completion_rate", "on_time_rate")


@dataclass(frozen=True)
class Figures:
    total: int = 0           # 问题总数: every finding logged, cancelled ones included
    open: int = 0            # 待整改
    in_progress: int = 0     # 整改中
    pending_review: int = 0  # 待销号: closure applied for, waiting for the inspector
    ongoing: int = 0         # 持续整改: long-term items, counted apart from the open ones
    closed: int = 0          # 已销号
    cancelled: int = 0       # 已撤销: logged in error; excluded from every rate
    overdue: int = 0         # 逾期: open, pending review or in progress past the deadline in force (the red light)
    closed_on_time: int = 0  # 按期销号: closed on or before the deadline in force
    extended: int = 0        # 经批准延期: at least one approved extension (cancelled excluded)
    repeats: int = 0         # 屡改屡犯: repeats an earlier closed finding (cancelled excluded)
    stale: int = 0           # 零变化: no progress for the admin's stale_days
    red: int = 0
    yellow: int = 0
    green: int = 0
    stored_rates: tuple[float, float] | None = None  # a snapshot shows the rates it was taken with

    @property
    def effective(self) -> int:
        """有效问题 = 问题总数 − 已撤销: the base of the completion rate and of every printed '问题数'."""
        return self.total - self.cancelled

    @property
    def working(self) -> int:
        """正在整改 = 待整改 + 整改中."""
        return self.open + self.in_progress

    @property
    def outstanding(self) -> int:
        """未完成 = 待整改 + 整改中 + 待销号 (持续整改 is reported apart)."""
        return self.open + self.in_progress + self.pending_review

    @property
    def completion_rate(self) -> float:
        """完成率 = 已销号 / 有效问题."""
        if self.stored_rates is not None:
            return self.stored_rates[0]
        return self.closed / self.effective if self.effective else 0.0

    @property
    def on_time_rate(self) -> float:
        """按期完成率 = 按期销号 / 已销号."""
        if self.stored_rates is not None:
            return self.stored_rates[1]
        return self.closed_on_time / self.closed if self.closed else 0.0

    def as_dict(self) -> dict[str, Any]:
        """Counts and derived figures as plain JSON values (what ``stats --json`` and snapshots hold)."""
        values: dict[str, Any] = {name: getattr(self, name) for name in COUNTS}
        values.update({name: getattr(self, name) for name in DERIVED})
        return values

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> "Figures":
        """From a mapping of counts (a query row, a snapshot's JSON). Rates a snapshot stored are
        kept: those of schema 1 were rounded to 4 places, and its report must read as it did."""
        counts = {name: int(values.get(name) or 0) for name in COUNTS}
        stored = None
        if "completion_rate" in values:
            stored = (float(values["completion_rate"]), float(values.get("on_time_rate") or 0.0))
        return cls(**counts, stored_rates=stored)


def percent(rate: float) -> str:
    """The one place a rate becomes text: one decimal, rounded once from full precision."""
    return f"{rate * 100:.1f}%"


def percent_change(change: float) -> str:
    """A change of a rate, in percentage points with its sign."""
    return f"{change * 100:+.1f}%"


assert set(COUNTS) == {f.name for f in fields(Figures)} - {"stored_rates"}


# --- 挂牌督战: seed 002's criterion for a village, applied to the figures computed from the household ledger ---
SUPERVISION_RATE_PERCENT = 1.0   # 贫困发生率 at or above this (percent of the village's population) …
SUPERVISION_PERSONS = 50         # … or more than this many poor people: the village qualifies for 挂牌督战


def qualifies_for_supervision(rate_percent: float | None, poor_persons: int) -> bool:
    """Seed 002: 贫困发生率 ≥ 1 % or more than 50 poor people (a village whose population is not known is
    judged by the persons alone)."""
    return (rate_percent is not None and rate_percent >= SUPERVISION_RATE_PERCENT) or poor_persons > SUPERVISION_PERSONS
