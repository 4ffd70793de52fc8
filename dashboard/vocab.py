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
    TOWNSHIP = "township"      # 乡镇: a township officer, scoped to one township (the household ledger)


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


# --- 防返贫监测 (the household monitoring ledger, issue 22) ------------------------------------------

class HouseholdType(StrEnum):
    EXITED = "exited"        # 脱贫户
    ORDINARY = "ordinary"    # 一般户


class MonitorCategory(StrEnum):
    UNSTABLE = "unstable"    # 脱贫不稳定户
    MARGINAL = "marginal"    # 边缘易致贫户
    SUDDEN = "sudden"        # 突发严重困难户


class Risk(StrEnum):
    ILLNESS = "illness"                # 因病
    DISABILITY = "disability"          # 因残
    SCHOOLING = "schooling"            # 因学
    DISASTER = "disaster"              # 因灾
    ACCIDENT = "accident"              # 因意外事故
    INDUSTRY = "industry"              # 因产业项目失败
    WORK = "work"                      # 因务工就业不稳
    LABOUR = "labour"                  # 缺劳动力
    HOUSING = "housing"                # 因安全住房
    WATER = "water"                    # 因安全饮水
    OTHER = "other"                    # 其他


class SupportKind(StrEnum):
    """帮扶措施: the eleven measure columns of the national export."""

    INDUSTRY = "industry"        # 产业帮扶
    EMPLOYMENT = "employment"    # 就业帮扶
    PUBLIC_JOB = "public_job"    # 公益性岗位
    HEALTH = "health"            # 健康帮扶
    EDUCATION = "education"      # 教育帮扶
    HOUSING = "housing"          # 住房安全保障
    WATER = "water"              # 饮水安全保障
    RELOCATION = "relocation"    # 搬迁
    WELFARE = "welfare"          # 综合保障
    FINANCE = "finance"          # 金融帮扶
    SOCIAL = "social"            # 社会帮扶


class LabourSkill(StrEnum):
    ORDINARY = "ordinary"        # 普通劳动力
    SKILLED = "skilled"          # 技能劳动力
    WEAK = "weak"                # 弱劳动力或半劳动力
    LOST = "lost"                # 丧失劳动力
    NONE = "none"                # 无劳动力


class ClueSource(StrEnum):
    SELF_REPORT = "self_report"        # 农户自主申报
    CADRE_CHECK = "cadre_check"        # 基层干部排查
    DEPARTMENT_ALERT = "department_alert"  # 部门筛查预警


class HouseholdState(StrEnum):
    """Where a household stands in the ledger (moved only by the procedure's cases)."""

    NOT_MONITORED = "not_monitored"    # 未纳入监测 (e.g. an imported 脱贫户)
    IDENTIFYING = "identifying"        # 识别中: a clue is on the clock
    MONITORED = "monitored"            # 监测帮扶中 (风险未消除)
    ELIMINATING = "eliminating"        # 风险消除中
    ELIMINATED = "eliminated"          # 风险已消除


class CaseKind(StrEnum):
    IDENTIFY = "identify"    # 识别纳入 (a first clue, or 返贫/风险消除回退 on an eliminated household)
    ELIMINATE = "eliminate"  # 风险消除


class CaseState(StrEnum):
    """One procedure on one household: identification (clue → 县级审定) or 风险消除."""

    CLUE = "clue"                          # 线索待核实
    VERIFIED = "verified"                  # 已入户核实
    REVIEWED = "reviewed"                  # 已民主评议
    PUBLICIZED = "publicized"              # 已村内公示
    TOWNSHIP_APPROVED = "township_approved"  # 乡镇初审通过
    INCLUDED = "included"                  # 县级审定：纳入监测
    REJECTED = "rejected"                  # 不予纳入 / 不予消除
    ELIM_VERIFIED = "elim_verified"        # 风险消除：已入户核实
    ELIM_PUBLICIZED = "elim_publicized"    # 风险消除：已民主评议公示
    ELIM_APPROVED = "elim_approved"        # 风险消除：县级审核通过
    ELIMINATED = "eliminated"              # 风险消除：已公告


class EliminationMethod(StrEnum):
    SUPPORTED = "supported"  # 帮扶消除
    NATURAL = "natural"      # 自然消除


class ScreenKind(StrEnum):
    """应纳未纳 screening: the department lists a county compares with its ledger."""

    MEDICAL = "medical"              # 医保: high yearly self-pay
    DISABILITY = "disability"        # 残联: new disability certificates
    DISASTER = "disaster"            # 应急: disaster victims
    UNEMPLOYMENT = "unemployment"    # 人社: unemployment registrations


class ScreenOutcome(StrEnum):
    CLUE = "clue"        # a household not monitored: a 部门筛查预警 clue on the clock
    SIGNAL = "signal"    # a household monitored (or on a clue already): a new risk signal on its page


class MemberChangeReason(StrEnum):
    """Why a person joined or left a household (人口变动). 出生、婚入 are its 自然增加, 死亡、婚出 its 自然减少;
    a move in or out (迁入、迁出, 分户 and the like) is neither."""

    BIRTH = "birth"                # 出生
    MARRIAGE_IN = "marriage_in"    # 婚入
    MOVED_IN = "moved_in"          # 迁入及其他增加
    DEATH = "death"                # 死亡
    MARRIAGE_OUT = "marriage_out"  # 婚出
    MOVED_OUT = "moved_out"        # 迁出及其他减少


MEMBER_ADDITIONS = (MemberChangeReason.BIRTH, MemberChangeReason.MARRIAGE_IN, MemberChangeReason.MOVED_IN)
MEMBER_REMOVALS = (MemberChangeReason.DEATH, MemberChangeReason.MARRIAGE_OUT, MemberChangeReason.MOVED_OUT)
NATURAL_ADDITIONS = (MemberChangeReason.BIRTH, MemberChangeReason.MARRIAGE_IN)    # 自然增加
NATURAL_REMOVALS = (MemberChangeReason.DEATH, MemberChangeReason.MARRIAGE_OUT)    # 自然减少
