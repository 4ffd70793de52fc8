"""Codes stored in the database for every status and kind.

Codes are short English strings (stored as plain VARCHAR with a CHECK constraint, never a
native database enum). Their Chinese and English labels live in ``dashboard.i18n`` under
``<enum key>.<code>``, e.g. ``status.open`` → 待整改.
"""
from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    ADMIN = "admin"
    LEADER = "leader"
    INSPECTOR = "inspector"
    DEPARTMENT = "department"


class UnitKind(StrEnum):
    OFFICE = "office"          # 股室/科室
    COUNTY = "county"          # 县区
    TOWNSHIP = "township"      # 乡镇
    EXTERNAL = "external"      # 外部单位


class VillageLevel(StrEnum):
    PROVINCIAL = "provincial"  # 省挂牌督战
    KEY = "key"                # 重点督办
    NORMAL = "normal"          # 一般


class VillageStatus(StrEnum):
    SUPERVISING = "supervising"                  # 督战中
    AWAITING_ACCEPTANCE = "awaiting_acceptance"  # 达标待验收
    DELISTED = "delisted"                        # 已摘牌


class SourceKind(StrEnum):
    PATROL = "patrol"              # 巡视巡察
    AUDIT = "audit"                # 审计
    ASSESSMENT = "assessment"      # 考核评估
    UNANNOUNCED = "unannounced"    # 暗访
    INSPECTION = "inspection"      # 督查检查
    LEADER_VISIT = "leader_visit"  # 领导调研
    REVIEW = "review"              # 回头看
    PETITION = "petition"          # 信访举报
    CENSUS = "census"              # 普查
    SELF_CHECK = "self_check"      # 自查


class RectType(StrEnum):
    IMMEDIATE = "immediate"    # 立行立改
    DEADLINE = "deadline"      # 限期整改
    LONG_TERM = "long_term"    # 长期坚持


class Priority(StrEnum):
    NORMAL = "normal"          # 一般
    KEY = "key"                # 重点督办


class Status(StrEnum):
    OPEN = "open"                      # 待整改
    IN_PROGRESS = "in_progress"        # 整改中
    PENDING_REVIEW = "pending_review"  # 待销号
    ONGOING = "ongoing"                # 持续整改
    CLOSED = "closed"                  # 已销号
    CANCELLED = "cancelled"            # 已撤销


# The groups of finding states every rule is built from (the lifecycle, the warning lights, the partial
# index of open deadlines, the digests and letters): spelt here once, below every layer that needs them.
DEADLINE_STATES = frozenset({Status.OPEN, Status.IN_PROGRESS, Status.PENDING_REVIEW})  # the deadline in force counts
STALE_STATES = frozenset({Status.OPEN, Status.IN_PROGRESS, Status.ONGOING})            # silence counts (零变化)
ACTIVE_STATES = DEADLINE_STATES | {Status.ONGOING}                                      # not yet final
FINAL_STATES = frozenset({Status.CLOSED, Status.CANCELLED})


class Light(StrEnum):
    RED = "red"
    YELLOW = "yellow"
    GREEN = "green"
    CLOSED = "closed"        # shown blue
    CANCELLED = "cancelled"  # shown grey


class ExtensionDecision(StrEnum):
    PENDING = "pending"    # 待审批
    APPROVED = "approved"  # 批准
    REJECTED = "rejected"  # 驳回
    WITHDRAWN = "withdrawn"  # 已撤回: the finding was closed, cancelled or set ongoing before a decision


class ReviewDecision(StrEnum):
    PENDING = "pending"        # 待审核
    CLOSED = "closed"          # 销号
    SENT_BACK = "sent_back"    # 退回
    ONGOING = "ongoing"        # 持续整改


class EscalationKind(StrEnum):
    REMINDER = "reminder"              # 提醒
    LETTER = "letter"                  # 督办函
    NOTICE = "notice"                  # 通报
    TALK = "talk"                      # 约谈
    ACCOUNTABILITY = "accountability"  # 问责


def codes(enum: type[StrEnum]) -> list[str]:
    return [member.value for member in enum]


class CampaignStatus(StrEnum):
    """回头看 campaign: drafted, sampled and being re-checked, finished."""

    DRAFT = "draft"          # 待抽样
    ACTIVE = "active"        # 复查中
    FINISHED = "finished"    # 已完成


class SampleReason(StrEnum):
    """Why a closed finding is in a 回头看 sample (the strata, in the order a finding is counted)."""

    KEY = "key"                          # 重点督办
    SENT_BACK = "sent_back"              # 曾被退回
    SHARED_EVIDENCE = "shared_evidence"  # 佐证材料重复（纸面销号预警）
    RANDOM = "random"                    # 随机抽取
    MANUAL = "manual"                    # 人工添加


class Verdict(StrEnum):
    """The verdict of a 回头看 re-check."""

    FIXED = "fixed"            # 真改实改
    INCOMPLETE = "incomplete"  # 整改不到位
    ON_PAPER = "on_paper"      # 虚假整改 / 纸面整改
    REBOUND = "rebound"        # 问题反弹


class CheckAnswer(StrEnum):
    YES = "yes"    # 是
    NO = "no"      # 否
    NA = "na"      # 不涉及
