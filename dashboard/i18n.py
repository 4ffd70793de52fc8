"""The one catalogue of user-facing text, in Simplified Chinese (default) and English.

``t(key, lang, **params)`` formats a message; ``label(member)`` gives the label of a stored code.
A test checks that every key has both languages and that every code of every enum has a label.
"""
from __future__ import annotations

from enum import StrEnum
from typing import Any

from dashboard import vocab

LANGUAGES = ("zh", "en")
DEFAULT_LANGUAGE = "zh"

# Label prefix for each enum of stored codes.
ENUM_PREFIX: dict[type[StrEnum], str] = {
    vocab.Role: "role",
    vocab.UnitKind: "unit_kind",
    vocab.VillageLevel: "village_level",
    vocab.VillageStatus: "village_status",
    vocab.SourceKind: "source_kind",
    vocab.RectType: "rect_type",
    vocab.Priority: "priority",
    vocab.Status: "status",
    vocab.Light: "light",
    vocab.ExtensionDecision: "extension_decision",
    vocab.ReviewDecision: "review_decision",
    vocab.EscalationKind: "escalation_kind",
}

CATALOGUE: dict[str, tuple[str, str]] = {
    # --- stored codes -------------------------------------------------------------------
    "role.admin": ("系统管理员", "Administrator"),
    "role.leader": ("局领导", "Leader"),
    "role.inspector": ("整改办/督查组", "Inspector"),
    "role.department": ("责任单位", "Department"),
    "unit_kind.office": ("股室/科室", "Office"),
    "unit_kind.county": ("县区", "County"),
    "unit_kind.township": ("乡镇", "Township"),
    "unit_kind.external": ("外部单位", "External unit"),
    "village_level.provincial": ("省挂牌督战", "Provincial supervision"),
    "village_level.key": ("重点督办", "Key supervision"),
    "village_level.normal": ("一般", "Normal"),
    "village_status.supervising": ("督战中", "Under supervision"),
    "village_status.awaiting_acceptance": ("达标待验收", "Awaiting acceptance"),
    "village_status.delisted": ("已摘牌", "Delisted"),
    "source_kind.patrol": ("巡视巡察", "Inspection tour"),
    "source_kind.audit": ("审计", "Audit"),
    "source_kind.assessment": ("考核评估", "Assessment"),
    "source_kind.unannounced": ("暗访", "Unannounced visit"),
    "source_kind.inspection": ("督查检查", "Supervisory check"),
    "source_kind.leader_visit": ("领导调研", "Leader's visit"),
    "source_kind.review": ("回头看", "Follow-up review"),
    "source_kind.petition": ("信访举报", "Petition / report"),
    "source_kind.census": ("普查", "Census"),
    "source_kind.self_check": ("自查", "Self-check"),
    "rect_type.immediate": ("立行立改", "Fix at once"),
    "rect_type.deadline": ("限期整改", "Fix by deadline"),
    "rect_type.long_term": ("长期坚持", "Long-term"),
    "priority.normal": ("一般", "Normal"),
    "priority.key": ("重点督办", "Key item"),
    "status.open": ("待整改", "Open"),
    "status.in_progress": ("整改中", "In progress"),
    "status.pending_review": ("待销号", "Awaiting closure"),
    "status.ongoing": ("持续整改", "Ongoing"),
    "status.closed": ("已销号", "Closed"),
    "status.cancelled": ("已撤销", "Cancelled"),
    "light.red": ("红灯", "Red"),
    "light.yellow": ("黄灯", "Yellow"),
    "light.green": ("绿灯", "Green"),
    "light.closed": ("已销号", "Closed"),
    "light.cancelled": ("已撤销", "Cancelled"),
    "extension_decision.pending": ("待审批", "Pending"),
    "extension_decision.approved": ("批准", "Approved"),
    "extension_decision.rejected": ("驳回", "Rejected"),
    "review_decision.pending": ("待审核", "Pending"),
    "review_decision.closed": ("销号", "Closed"),
    "review_decision.sent_back": ("退回", "Sent back"),
    "review_decision.ongoing": ("持续整改", "Ongoing"),
    "escalation_kind.reminder": ("提醒", "Reminder"),
    "escalation_kind.letter": ("督办函", "Supervision letter"),
    "escalation_kind.notice": ("通报", "Public notice"),
    "escalation_kind.talk": ("约谈", "Admonitory talk"),
    "escalation_kind.accountability": ("问责", "Accountability"),
    # --- actions (the permission matrix) ------------------------------------------------
    "action.create_source": ("登记问题来源", "create a source"),
    "action.log_finding": ("登记问题", "log a finding"),
    "action.edit_finding": ("修改问题", "edit a finding"),
    "action.report_progress": ("报送整改进展", "report progress"),
    "action.attach_evidence": ("上传佐证材料", "attach evidence"),
    "action.tick_measure": ("完成整改措施", "tick a measure"),
    "action.request_extension": ("申请延期", "request an extension"),
    "action.decide_extension": ("审批延期", "decide an extension"),
    "action.apply_closure": ("申请销号", "apply for closure"),
    "action.close": ("销号", "close"),
    "action.send_back": ("退回", "send back"),
    "action.set_ongoing": ("认定持续整改", "set ongoing"),
    "action.cancel": ("撤销", "cancel"),
    "action.log_repeat": ("登记屡改屡犯", "log a repeat"),
    "action.record_escalation": ("督办", "record an escalation"),
    "action.take_snapshot": ("生成会议快照", "take a snapshot"),
    "action.view_all": ("查看全部问题", "view all findings"),
    "action.manage_users": ("管理用户", "manage users"),
    "action.manage_reference": ("管理基础数据", "manage reference data"),
    "action.manage_settings": ("修改系统设置", "change settings"),
    "action.import_ledger": ("导入台账", "import a ledger"),
    # --- domain errors ------------------------------------------------------------------
    "error.role_denied": ("您的角色（{role}）无权{action}。", "Your role ({role}) may not {action}."),
    "error.unit_denied": ("该问题不属于您的单位，无权{action}。", "This finding is not your unit's; you may not {action}."),
    "error.own_unit_close": ("不能对本单位负责的问题销号或审核（职责分离）。",
                             "You cannot review or close a finding your own unit is responsible for (separation of duties)."),
    "error.no_unit": ("您的账号未设置所属单位，请联系管理员。", "Your account has no unit; ask an administrator."),
    "error.inactive_user": ("账号已停用。", "This account is deactivated."),
    "error.bad_state": ("问题当前状态为“{status}”，不能{action}。", "The finding is “{status}”; you cannot {action}."),
    "error.conflict": ("该记录已被{by}于{at}修改，您看到的是旧版本。您的输入已保留，请核对后重新提交。",
                       "{by} changed this record at {at}; you were editing an old copy. What you typed is kept: check and submit again."),
    "error.not_found": ("找不到{what}（编号 {id}）。", "{what} {id} not found."),
    "error.required": ("请填写{field}。", "{field} is required."),
    "error.measures_open": ("还有{count}项整改措施未完成，不能申请销号。", "{count} measure(s) still open; cannot apply for closure."),
    "error.no_evidence": ("申请销号须至少上传一份佐证材料。", "At least one evidence file is required to apply for closure."),
    "error.reason_required": ("请填写{what}理由。", "A reason is required to {what}."),
    "error.closed_final": ("已销号的问题不能重新打开；如问题再次出现，请登记为屡改屡犯的新问题。",
                           "A closed finding is never reopened; log a recurrence as a new finding that repeats it."),
    "error.not_long_term": ("只有“长期坚持”类问题可以认定为持续整改。", "Only long-term findings can be set to ongoing."),
    "error.repeat_not_closed": ("屡改屡犯只能关联已销号的问题。", "A repeat must refer to a closed finding."),
    "error.extension_pending": ("已有一项延期申请待审批。", "An extension request is already waiting for a decision."),
    "error.extension_not_later": ("申请的时限须晚于现行时限（{current}）。", "The requested deadline must be later than the current one ({current})."),
    "error.extension_decided": ("该延期申请已审批。", "This extension request has already been decided."),
    "error.no_deadline": ("该问题没有整改时限，无需延期。", "This finding has no deadline to extend."),
    "error.percent_range": ("完成比例须在0到100之间。", "Percent done must be between 0 and 100."),
    "error.file_too_large": ("文件“{name}”为{size_mb}MB，超过上限{limit_mb}MB。", "File “{name}” is {size_mb} MB, over the {limit_mb} MB limit."),
    "error.file_type": ("不支持的文件类型“{ext}”，允许：{allowed}。", "File type “{ext}” is not allowed; allowed: {allowed}."),
    "error.file_empty": ("文件“{name}”是空的。", "File “{name}” is empty."),
    "error.duplicate_name": ("名称“{name}”已存在。", "The name “{name}” already exists."),
    "error.unknown_value": ("无效的{field}：{value}。", "Invalid {field}: {value}."),
    "error.unit_required_for_department": ("责任单位角色必须指定所属单位。", "A department user needs a unit."),
    "error.weak_password": ("密码至少需要{min}个字符。", "The password needs at least {min} characters."),
    "error.demo_password_in_production": ("生产模式下不接受演示密码，请设置新密码。",
                                          "Demo passwords are refused in production mode; set a new password."),
    "error.deadline_before_received": ("整改时限不能早于问题反馈日期。", "The deadline cannot be before the date the feedback was received."),
    "error.measure_done": ("该整改措施已完成。", "This measure is already done."),
    "error.self_lead_cooperate": ("牵头单位不能同时是配合单位。", "The lead unit cannot also be a co-operating unit."),
    "error.no_review_pending": ("没有待审核的销号申请。", "There is no closure application waiting for review."),
    "error.escalation_target": ("督办须指定问题或单位。", "An escalation needs a finding or a unit."),
    "error.import_rejected": ("有{count}处问题无法导入，整个文件未写入。请按预览中的行号修改后重新导入。",
                              "{count} problem(s) found: nothing was written. Fix the rows named in the preview and import again."),
    "error.setting_range": ("{name}须在{low}到{high}之间。", "{name} must be between {low} and {high}."),
    # --- field names used in messages -------------------------------------------------
    "field.description": ("问题描述", "description"),
    "field.title": ("标题", "title"),
    "field.measures": ("整改措施", "measures"),
    "field.lead_unit": ("牵头单位", "lead unit"),
    "field.category": ("问题类别", "category"),
    "field.source": ("问题来源", "source"),
    "field.deadline": ("整改时限", "deadline"),
    "field.summary": ("销号申请说明", "closure summary"),
    "field.progress_text": ("整改进展", "progress"),
    "field.name": ("名称", "name"),
    "field.username": ("用户名", "username"),
    "field.display_name": ("姓名", "display name"),
    "field.township": ("乡镇", "township"),
    "field.reason": ("理由", "reason"),
    "field.kind": ("类型", "kind"),
    "field.role": ("角色", "role"),
    "field.village": ("村", "village"),
    "field.unit": ("单位", "unit"),
    "field.note": ("说明", "note"),
    "what.finding": ("问题", "Finding"),
    "what.source": ("问题来源", "Source"),
    "what.unit": ("单位", "Unit"),
    "what.village": ("村", "Village"),
    "what.user": ("用户", "User"),
    "what.measure": ("整改措施", "Measure"),
    "what.extension": ("延期申请", "Extension request"),
    "what.category": ("问题类别", "Category"),
    "what.evidence": ("佐证材料", "Evidence"),
    "what.snapshot": ("会议快照", "Snapshot"),
    "what.send_back": ("退回", "send back"),
    "what.cancel": ("撤销", "cancel"),
    "what.reject": ("驳回", "reject"),
    "what.extension_reason": ("延期", "extend"),
    # --- settings ---------------------------------------------------------------------------
    "setting.due_soon_days": ("临期预警天数", "Days before deadline for yellow"),
    "setting.stale_days": ("零变化预警天数", "Days without progress for yellow"),
    "setting.sent_back_yellow": ("退回次数预警", "Send-backs for yellow"),
    "setting.max_upload_mb": ("上传文件大小上限(MB)", "Upload size limit (MB)"),
    "setting.allowed_extensions": ("允许的文件类型", "Allowed file types"),
    "setting.lockout_failures": ("登录失败锁定次数", "Failed logins before lock"),
    "setting.lockout_minutes": ("锁定时长(分钟)", "Lock duration (minutes)"),
}


def t(key: str, lang: str | None = None, **params: Any) -> str:
    """Text for ``key`` in ``lang`` (default Chinese), with ``{name}`` placeholders filled."""
    lang = lang if lang in LANGUAGES else DEFAULT_LANGUAGE
    entry = CATALOGUE.get(key)
    if entry is None:
        return key
    text = entry[LANGUAGES.index(lang)]
    return text.format(**params) if params else text


def label(member: StrEnum | None, lang: str | None = None, enum: type[StrEnum] | None = None) -> str:
    """Label of a stored code: ``label(Status.OPEN)`` → 待整改. Pass ``enum`` with a raw string code."""
    if member is None:
        return ""
    enum = enum or type(member)
    return t(f"{ENUM_PREFIX[enum]}.{member}", lang)
