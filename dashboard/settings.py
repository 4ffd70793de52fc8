"""Thresholds and limits: defaults here, overrides stored in the ``setting`` table by the admin."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlmodel import Session, select

from db.models import Setting


@dataclass(frozen=True)
class SettingSpec:
    default: Any
    low: int | None = None
    high: int | None = None


SPECS: dict[str, SettingSpec] = {
    "due_soon_days": SettingSpec(7, 1, 60),         # 黄灯: deadline within N days
    "stale_days": SettingSpec(30, 7, 180),          # 黄灯: no progress for N days (零变化)
    "sent_back_yellow": SettingSpec(2, 1, 10),      # 黄灯: closure sent back N times
    "max_upload_mb": SettingSpec(20, 1, 200),
    "allowed_extensions": SettingSpec(
        ["jpg", "jpeg", "png", "gif", "webp", "pdf", "doc", "docx", "xls", "xlsx", "wps", "ofd", "txt"]),
    "lockout_failures": SettingSpec(5, 3, 20),
    "lockout_minutes": SettingSpec(15, 1, 1440),
    "session_idle_minutes": SettingSpec(120, 5, 1440),   # a browser session unused this long is ended
    "session_max_hours": SettingSpec(12, 1, 720),        # … and every session after this long, however used
    "lookback_deadline_days": SettingSpec(30, 1, 365),   # 回头看: deadline of a finding a failed re-check opens
    "lookback_percent": SettingSpec(20, 1, 100),         # 回头看: random share of the rest, per lead unit
    "lookback_min_per_unit": SettingSpec(2, 0, 50),      # 回头看: … but at least this many per unit
    "lookback_rows": SettingSpec(200, 20, 5000),         # 回头看: rows of the sample shown at once
    "remind_days_first": SettingSpec(7, 1, 60),     # 提醒: deadline in N days (first notice)
    "remind_days_second": SettingSpec(3, 1, 60),    # 提醒: deadline in N days (second notice)
    "digest_hour": SettingSpec(8, 0, 23),           # the worker sends the daily digest at this hour
    "notify_max_attempts": SettingSpec(5, 1, 20),   # outbound message: attempts before it shows as failed
    "letter_reply_days": SettingSpec(10, 1, 90),    # 督办函 etc.: reply due N days after issue
    "backup_keep": SettingSpec(14, 1, 365),        # nightly backups kept (the folder is DASHBOARD_BACKUP_DIR)
    "identify_days": SettingSpec(15, 1, 90),        # 防返贫: clue to decision (县级审定) within N days
    "clue_remind_days": SettingSpec(3, 1, 30),      # 提醒: a clue's clock runs out in N days (its unit is told once)
    "publicity_days": SettingSpec(5, 1, 30),        # 防返贫: 村内公示 lasts at least N days
    "eliminate_after_months": SettingSpec(6, 1, 36),  # 防返贫: 风险消除 only after N months of monitoring
    "screen_medical_ordinary": SettingSpec(10_000, 1_000, 200_000),  # 应纳未纳: yearly self-pay (yuan), 一般户
    "screen_medical_exited": SettingSpec(5_000, 1_000, 200_000),     # … for a 脱贫户
    "screen_event_days": SettingSpec(365, 30, 1_095),
    "check_finding_days": SettingSpec(30, 1, 365),   # a finding raised from a data-quality check: its deadline  # 应纳未纳: a certificate, disaster, unemployment this recent
}


@dataclass(frozen=True)
class Settings:
    due_soon_days: int
    stale_days: int
    sent_back_yellow: int
    max_upload_mb: int
    allowed_extensions: list[str]
    lockout_failures: int
    lockout_minutes: int
    session_idle_minutes: int
    session_max_hours: int
    lookback_deadline_days: int
    lookback_percent: int
    lookback_min_per_unit: int
    lookback_rows: int
    remind_days_first: int
    remind_days_second: int
    digest_hour: int
    notify_max_attempts: int
    letter_reply_days: int
    backup_keep: int
    identify_days: int
    clue_remind_days: int
    publicity_days: int
    eliminate_after_months: int
    screen_medical_ordinary: int
    screen_medical_exited: int
    screen_event_days: int
    check_finding_days: int


DEFAULTS = Settings(**{key: spec.default for key, spec in SPECS.items()})


def load_settings(session: Session) -> Settings:
    stored = {row.key: row.value for row in session.exec(select(Setting)).all()}
    values = {key: stored.get(key, spec.default) for key, spec in SPECS.items()}
    return Settings(**values)
