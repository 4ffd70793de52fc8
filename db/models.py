"""SQLModel tables for every entity of the SPEC.

Status and kind columns are plain strings guarded by CHECK constraints built from
``dashboard.vocab`` (no native PostgreSQL enums, so adding a code is a small migration).
Records people edit carry a ``version`` used for optimistic concurrency by the services.
Overdue, days overdue, stale and the red/yellow/green light are computed, never stored.
Times are naive local times of the bureau (``dashboard.clock``), stored as they are.
"""
from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any, Optional

from pydantic import NaiveDatetime
from sqlalchemy import JSON, CheckConstraint, Column, Index, LargeBinary, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from dashboard import clock
from dashboard.vocab import (
    DEADLINE_STATES,
    CampaignStatus,
    CaseKind,
    CaseState,
    ClueSource,
    EliminationMethod,
    HouseholdState,
    HouseholdType,
    LabourSkill,
    MemberChangeReason,
    MonitorCategory,
    Risk,
    SupportKind,
    EscalationKind,
    ExtensionDecision,
    Priority,
    RectType,
    ReviewDecision,
    Role,
    SampleReason,
    ScreenKind,
    ScreenOutcome,
    SourceKind,
    Status,
    UnitKind,
    VillageLevel,
    Verdict,
    VillageStatus,
    codes,
)

SQLModel.metadata.naming_convention = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def one_of(column: str, enum: type[StrEnum], nullable: bool = False) -> CheckConstraint:
    allowed = ", ".join(f"'{code}'" for code in codes(enum))
    condition = f"{column} IN ({allowed})"
    if nullable:
        condition = f"{column} IS NULL OR {condition}"
    return CheckConstraint(condition, name=f"{column}_allowed")


class Unit(SQLModel, table=True):
    __tablename__ = "unit"
    __table_args__ = (one_of("kind", UnitKind),)

    id: Optional[int] = Field(default=None, primary_key=True)
    name: str = Field(max_length=100, unique=True)
    kind: str = Field(max_length=20, default=UnitKind.OFFICE)
    parent_id: Optional[int] = Field(default=None, foreign_key="unit.id")
    active: bool = True
    # 县防返贫监测部门: the county's monitoring unit (县级审定, 县级审核 of the household ledger)
    monitoring: bool = Field(default=False, sa_column_kwargs={"server_default": text("false")})
    version: int = 1


class User(SQLModel, table=True):
    __tablename__ = "app_user"
    __table_args__ = (one_of("role", Role),)

    id: Optional[int] = Field(default=None, primary_key=True)
    username: str = Field(max_length=60, unique=True)
    display_name: str = Field(max_length=60)
    role: str = Field(max_length=20)
    unit_id: Optional[int] = Field(default=None, foreign_key="unit.id", index=True)
    password_hash: str = Field(max_length=100)
    is_demo_password: bool = False
    active: bool = True
    failed_logins: int = 0
    locked_until: Optional[NaiveDatetime] = None
    token_version: int = 1
    last_login_at: Optional[NaiveDatetime] = None
    created_at: NaiveDatetime = Field(default_factory=clock.now)
    version: int = 1


class Village(SQLModel, table=True):
    __tablename__ = "village"
    __table_args__ = (
        UniqueConstraint("county", "township", "name", name="uq_village_place"),
        Index("ix_village_township_name", "township", "name"),  # pick lists in this order without a sort
        one_of("level", VillageLevel),
        one_of("status", VillageStatus),
    )

    id: Optional[int] = Field(default=None, primary_key=True)
    county: str = Field(default="", max_length=60)
    township: str = Field(max_length=60, index=True)
    name: str = Field(max_length=60)
    level: str = Field(max_length=20, default=VillageLevel.NORMAL, index=True)
    poverty_rate: float = 0.0           # 贫困发生率, percent
    remaining_poor: int = 0             # 剩余贫困人口
    monitored_households: int = 0       # 监测户数
    population: int = Field(default=0, sa_column_kwargs={"server_default": "0"})  # 户籍人口 (0: not known)
    leader: str = Field(default="", max_length=60)        # 包村领导
    work_team: str = Field(default="", max_length=120)    # 第一书记/驻村工作队
    support_unit: str = Field(default="", max_length=120)  # 帮扶单位
    status: str = Field(max_length=30, default=VillageStatus.SUPERVISING)
    version: int = 1


class Category(SQLModel, table=True):
    __tablename__ = "category"

    id: Optional[int] = Field(default=None, primary_key=True)
    name: str = Field(max_length=60, unique=True)
    sort_order: int = 0
    active: bool = True


class Source(SQLModel, table=True):
    __tablename__ = "source"
    __table_args__ = (one_of("kind", SourceKind),)

    id: Optional[int] = Field(default=None, primary_key=True)
    kind: str = Field(max_length=20)
    title: str = Field(max_length=200)
    issuing_body: str = Field(default="", max_length=100)
    received_date: dt.date
    report_due_date: Optional[dt.date] = None   # 整改情况报告 due (reminded 7 and 3 days before and on the day)
    report_sent_on: Optional[dt.date] = None    # … and sent (the reminders stop)
    report_sent_by_id: Optional[int] = Field(default=None, foreign_key="app_user.id")
    notes: str = ""
    created_by_id: Optional[int] = Field(default=None, foreign_key="app_user.id")
    created_at: NaiveDatetime = Field(default_factory=clock.now)
    version: int = 1


def status_in(states: frozenset[Status]) -> str:
    """SQL text testing that ``status`` is one of ``states`` (in ``Status``'s order): for a partial
    index's predicate (and for a query that must repeat it word for word so SQLite uses the index)."""
    return "status IN ({})".format(", ".join(f"'{s.value}'" for s in Status if s in states))


OPEN_DEADLINE_WHERE = status_in(DEADLINE_STATES)  # the predicate of ix_finding_open_deadline


class Finding(SQLModel, table=True):
    __tablename__ = "finding"
    __table_args__ = (
        one_of("status", Status),
        one_of("rect_type", RectType),
        one_of("priority", Priority),
        Index("ix_finding_status_deadline", "status", "current_deadline"),
        Index("ix_finding_lead_status", "lead_unit_id", "status"),
        Index("ix_finding_source_status", "source_id", "status"),
        # the weekly trend counts new and closed findings per week from these alone
        Index("ix_finding_created_status", "created_at", "status"),
        Index("ix_finding_closed_status", "closed_at", "status"),
        # the overdue list: open deadlines in date order, without touching closed findings
        Index("ix_finding_open_deadline", "current_deadline",
              sqlite_where=text(OPEN_DEADLINE_WHERE), postgresql_where=text(OPEN_DEADLINE_WHERE)),
    )

    id: Optional[int] = Field(default=None, primary_key=True)
    serial: str = Field(max_length=20, unique=True)
    source_id: int = Field(foreign_key="source.id")
    category_id: int = Field(foreign_key="category.id", index=True)
    description: str
    county: str = Field(default="", max_length=60)
    township: Optional[str] = Field(default=None, max_length=60, index=True)
    village_id: Optional[int] = Field(default=None, foreign_key="village.id", index=True)
    lead_unit_id: int = Field(foreign_key="unit.id")
    responsible_leader: str = Field(default="", max_length=60)
    responsible_person: str = Field(default="", max_length=60)
    rect_type: str = Field(max_length=20, default=RectType.DEADLINE)
    priority: str = Field(max_length=20, default=Priority.NORMAL)
    original_deadline: Optional[dt.date] = None
    current_deadline: Optional[dt.date] = Field(default=None, index=True)
    status: str = Field(max_length=20, default=Status.OPEN)
    remarks: str = ""
    repeat_of_id: Optional[int] = Field(default=None, foreign_key="finding.id", index=True)
    created_by_id: Optional[int] = Field(default=None, foreign_key="app_user.id")
    created_at: NaiveDatetime = Field(default_factory=clock.now)
    updated_at: NaiveDatetime = Field(default_factory=clock.now)
    closed_at: Optional[NaiveDatetime] = Field(default=None)
    cancel_reason: str = ""
    original_serial: str = Field(default="", max_length=40, sa_column_kwargs={"server_default": ""})  # 原编号
    import_key: Optional[str] = Field(default=None, max_length=64, unique=True)  # fingerprint of an imported row
    # Maintained by the services so that lights can be computed in SQL at scale.
    last_progress_at: Optional[NaiveDatetime] = None
    sent_back_count: int = 0
    extension_count: int = 0
    version: int = 1


class FindingCoUnit(SQLModel, table=True):
    """配合单位: the units that co-operate on a finding."""

    __tablename__ = "finding_co_unit"

    finding_id: int = Field(foreign_key="finding.id", primary_key=True)
    unit_id: int = Field(foreign_key="unit.id", primary_key=True, index=True)


class Measure(SQLModel, table=True):
    __tablename__ = "measure"

    id: Optional[int] = Field(default=None, primary_key=True)
    finding_id: int = Field(foreign_key="finding.id", index=True)
    seq: int = 1
    text: str
    deadline: Optional[dt.date] = None
    done: bool = False
    done_at: Optional[NaiveDatetime] = None
    done_by_id: Optional[int] = Field(default=None, foreign_key="app_user.id")
    version: int = 1


class Progress(SQLModel, table=True):
    __tablename__ = "progress"

    id: Optional[int] = Field(default=None, primary_key=True)
    finding_id: int = Field(foreign_key="finding.id", index=True)
    unit_id: Optional[int] = Field(default=None, foreign_key="unit.id")
    author_id: Optional[int] = Field(default=None, foreign_key="app_user.id")
    reported_at: NaiveDatetime = Field(default_factory=clock.now)
    done_text: str
    next_text: str = ""
    percent: int = 0


class Evidence(SQLModel, table=True):
    __tablename__ = "evidence"

    id: Optional[int] = Field(default=None, primary_key=True)
    finding_id: int = Field(foreign_key="finding.id", index=True)
    progress_id: Optional[int] = Field(default=None, foreign_key="progress.id")
    filename: str = Field(max_length=255)
    content_type: str = Field(default="application/octet-stream", max_length=120)
    size: int
    sha256: str = Field(max_length=64, index=True)
    uploaded_by_id: Optional[int] = Field(default=None, foreign_key="app_user.id")
    uploaded_at: NaiveDatetime = Field(default_factory=clock.now)


class EvidenceContent(SQLModel, table=True):
    """File bytes, kept apart so that listing evidence never loads them."""

    __tablename__ = "evidence_content"

    evidence_id: int = Field(foreign_key="evidence.id", primary_key=True)
    data: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class ExtensionRequest(SQLModel, table=True):
    __tablename__ = "extension_request"
    __table_args__ = (one_of("decision", ExtensionDecision),
                      Index("ix_extension_request_decision_decided_at", "decision", "decided_at"))  # newest approved

    id: Optional[int] = Field(default=None, primary_key=True)
    finding_id: int = Field(foreign_key="finding.id", index=True)
    requested_by_id: Optional[int] = Field(default=None, foreign_key="app_user.id")
    requested_at: NaiveDatetime = Field(default_factory=clock.now)
    reason: str
    old_deadline: Optional[dt.date] = None
    asked_deadline: dt.date
    decision: str = Field(max_length=20, default=ExtensionDecision.PENDING, index=True)
    decided_by_id: Optional[int] = Field(default=None, foreign_key="app_user.id")
    decided_at: Optional[NaiveDatetime] = None
    comment: str = ""


class ClosureReview(SQLModel, table=True):
    """One application for closure (销号申请) and the decision on it. Every attempt is kept."""

    __tablename__ = "closure_review"
    __table_args__ = (one_of("decision", ReviewDecision),)

    id: Optional[int] = Field(default=None, primary_key=True)
    finding_id: int = Field(foreign_key="finding.id", index=True)
    applied_by_id: Optional[int] = Field(default=None, foreign_key="app_user.id")
    applied_at: NaiveDatetime = Field(default_factory=clock.now)
    summary: str
    evidence_ids: list[int] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    decision: str = Field(max_length=20, default=ReviewDecision.PENDING, index=True)
    decided_by_id: Optional[int] = Field(default=None, foreign_key="app_user.id")
    decided_at: Optional[NaiveDatetime] = None
    reason: str = ""


class Escalation(SQLModel, table=True):
    """督办记录: a reminder, letter, notice, talk or accountability against a finding or a unit."""

    __tablename__ = "escalation"
    __table_args__ = (one_of("kind", EscalationKind),)

    id: Optional[int] = Field(default=None, primary_key=True)
    kind: str = Field(max_length=20)
    finding_id: Optional[int] = Field(default=None, foreign_key="finding.id", index=True)
    unit_id: Optional[int] = Field(default=None, foreign_key="unit.id", index=True)
    issued_on: dt.date
    respond_by: Optional[dt.date] = None
    issued_by_id: Optional[int] = Field(default=None, foreign_key="app_user.id")
    note: str = ""
    created_at: NaiveDatetime = Field(default_factory=clock.now)


class AuditLog(SQLModel, table=True):
    """Every change to every record. Written by the services; no service edits or deletes it."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_entity", "entity", "entity_id"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    at: NaiveDatetime = Field(default_factory=clock.now, index=True)
    user_id: Optional[int] = Field(default=None, foreign_key="app_user.id")
    username: str = Field(default="", max_length=60)
    action: str = Field(max_length=40)
    entity: str = Field(max_length=40)
    entity_id: Optional[int] = None
    finding_id: Optional[int] = Field(default=None, index=True)
    old: Optional[dict[str, Any]] = Field(default=None, sa_column=Column(JSON))
    new: Optional[dict[str, Any]] = Field(default=None, sa_column=Column(JSON))
    note: str = ""


class Snapshot(SQLModel, table=True):
    """会议快照: the figures of one moment, frozen."""

    __tablename__ = "snapshot"

    id: Optional[int] = Field(default=None, primary_key=True)
    title: str = Field(max_length=200)
    taken_at: NaiveDatetime = Field(default_factory=clock.now, index=True)
    as_of: dt.date
    taken_by_id: Optional[int] = Field(default=None, foreign_key="app_user.id")
    figures: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class SnapshotFinding(SQLModel, table=True):
    """Per-finding status and light at the moment of a snapshot."""

    __tablename__ = "snapshot_finding"

    # no foreign keys (migration 0010) and, on PostgreSQL, no btree key either but a BRIN index on snapshot_id
    # (migration 0012): a million per-row checks and index entries were most of a snapshot's time; the rows
    # are written only by take_snapshot, from the finding table and the snapshot row of the same transaction.
    # The key below is the mapper's identity.
    snapshot_id: int = Field(primary_key=True)
    finding_id: int = Field(primary_key=True)
    status: str = Field(max_length=20)
    light: str = Field(max_length=20)
    current_deadline: Optional[dt.date] = None
    days_overdue: int = 0


class Setting(SQLModel, table=True):
    """Thresholds and limits the administrator may change (defaults in dashboard.settings)."""

    __tablename__ = "setting"

    key: str = Field(max_length=60, primary_key=True)
    value: Any = Field(sa_column=Column(JSON, nullable=False))
    version: int = 1


class FindingRollup(SQLModel, table=True):
    """What one finding contributes to the maintained roll-ups (see dashboard.services.rollups).
    No foreign key on purpose: derived rows must never lock base rows (migration 0005)."""

    __tablename__ = "finding_rollup"

    finding_id: int = Field(primary_key=True)
    status: str = Field(max_length=20)
    light: str = Field(max_length=20)
    stale: bool = False
    extended: bool = False
    repeat: bool = False
    on_time: bool = False
    lead_unit_id: int
    source_id: int
    category_id: int
    township: Optional[str] = Field(default=None, max_length=60)
    village_id: Optional[int] = None


class RollupCount(SQLModel, table=True):
    """Sums of the contributions per dimension key, status and light."""

    __tablename__ = "rollup_count"

    dimension: str = Field(max_length=10, primary_key=True)
    key: str = Field(max_length=60, primary_key=True)
    status: str = Field(max_length=20, primary_key=True)
    light: str = Field(max_length=20, primary_key=True)
    n: int = 0
    stale: int = 0
    extended: int = 0
    repeat: int = 0
    on_time: int = 0


class RollupMeta(SQLModel, table=True):
    """The date and warning settings the roll-ups were computed for."""

    __tablename__ = "rollup_meta"

    id: int = Field(default=1, primary_key=True)
    as_of: dt.date
    settings_hash: str = Field(max_length=32)
    rebuilt_at: Optional[NaiveDatetime] = None
    checked_drifts: Optional[int] = None  # differences the last rebuild found in the sums it replaced; None: not checked


class DataVersion(SQLModel, table=True):
    """One row: bumped by every unit of work that changed what a page shows (``services/data_version.py``), so a
    replica's cached read models and charts are reused until the data changes. ``token`` is new on every bump:
    a restored backup brings back an old ``version``, never a token a cache still holds. No row until the first
    write."""

    __tablename__ = "data_version"

    id: int = Field(default=1, primary_key=True)
    version: int = 0
    token: str = Field(default="", max_length=16)


class ImportBatch(SQLModel, table=True):
    """A large ledger import on SQLite, written in chunks of bounded size, each its own short transaction, so that a
    department's save waits for one chunk and never for the whole file (``services/imports.py``, issue 25). The row
    says what the import has written so far (the id ranges of its findings, each written by one chunk; the sources,
    categories, villages and aliases it created; its serials), so that a failure or a crash mid-way is undone
    (``imports.undo_batch``) and never leaves half an import. ``done`` when its last chunk commits."""

    __tablename__ = "import_batch"

    id: Optional[int] = Field(default=None, primary_key=True)
    started_at: NaiveDatetime
    touched_at: NaiveDatetime  # each chunk's commit: a batch not done and not touched for long was abandoned
    username: str = Field(default="", max_length=60)
    filename: str = Field(default="", max_length=200)
    owner: str = Field(default="", max_length=120)  # host:pid of the process writing it (gone: a crash)
    done: bool = False
    findings: Optional[list[Any]] = Field(default=None, sa_column=Column(JSON))  # [[first id, last id], …] per chunk
    created: Optional[dict[str, Any]] = Field(default=None, sa_column=Column(JSON))  # ids per table; serials taken


ALIAS_KINDS = ("unit", "category", "village")


class NameAlias(SQLModel, table=True):
    """A name as an office writes it, mapped once to a unit, category or village (the import's mapping step)."""

    __tablename__ = "name_alias"
    __table_args__ = (
        UniqueConstraint("kind", "alias", name="uq_name_alias_kind_alias"),
        CheckConstraint("kind IN ('unit', 'category', 'village')", name="kind_allowed"),
    )

    id: Optional[int] = Field(default=None, primary_key=True)
    kind: str = Field(max_length=20)
    alias: str = Field(max_length=200)
    target_id: int
    created_by_id: Optional[int] = Field(default=None, foreign_key="app_user.id")
    created_at: NaiveDatetime = Field(default_factory=clock.now)


class SerialCounter(SQLModel, table=True):
    """Last serial number issued per year, so that a serial is never reused."""

    __tablename__ = "serial_counter"

    year: int = Field(primary_key=True)
    last: int = 0


class LookbackCampaign(SQLModel, table=True):
    """回头看: a campaign that samples closed findings and re-checks them in the field.

    ``scope`` (earlier sources, lead units, townships, closing dates) and ``rule`` (strata, share, minimum)
    are stored with the ``seed`` so that anyone can draw the same sample again."""

    __tablename__ = "lookback_campaign"
    __table_args__ = (one_of("status", CampaignStatus),)

    id: Optional[int] = Field(default=None, primary_key=True)
    title: str = Field(max_length=200)
    issuing_body: str = Field(default="", max_length=100)
    start_date: dt.date
    end_date: dt.date
    report_due_date: Optional[dt.date] = None
    source_id: int = Field(foreign_key="source.id")  # the 回头看 source its failures are logged under
    scope: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    checklist: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    rule: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    seed: int = 0
    status: str = Field(max_length=20, default=CampaignStatus.DRAFT)
    drawn_at: Optional[NaiveDatetime] = None
    created_by_id: Optional[int] = Field(default=None, foreign_key="app_user.id")
    created_at: NaiveDatetime = Field(default_factory=clock.now)
    version: int = 1


class LookbackItem(SQLModel, table=True):
    """One sampled finding of a campaign: why it was drawn, who re-checks it, and the verdict."""

    __tablename__ = "lookback_item"
    __table_args__ = (
        UniqueConstraint("campaign_id", "finding_id", name="uq_lookback_item_campaign_finding"),
        one_of("reason", SampleReason),
        one_of("verdict", Verdict, nullable=True),
        Index("ix_lookback_item_assignee", "assignee_id", "verdict"),
    )

    id: Optional[int] = Field(default=None, primary_key=True)
    campaign_id: int = Field(foreign_key="lookback_campaign.id", index=True)
    finding_id: int = Field(foreign_key="finding.id", index=True)
    lead_unit_id: int                      # the stratum (copied at the draw)
    reason: str = Field(max_length=20)     # the stratum it counts in
    reasons: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))  # every reason
    added_by_id: Optional[int] = Field(default=None, foreign_key="app_user.id")  # set for a manual addition
    assignee_id: Optional[int] = Field(default=None, foreign_key="app_user.id")
    due_date: Optional[dt.date] = None
    verdict: Optional[str] = Field(default=None, max_length=20)
    answers: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    note: str = ""
    checked_by_id: Optional[int] = Field(default=None, foreign_key="app_user.id")
    checked_at: Optional[NaiveDatetime] = None
    new_finding_id: Optional[int] = Field(default=None, foreign_key="finding.id")  # the finding a failure opened
    version: int = 1


class LookbackEvidence(SQLModel, table=True):
    """A photo or document taken at a re-check (bytes kept in the row: re-check files are few and small)."""

    __tablename__ = "lookback_evidence"

    id: Optional[int] = Field(default=None, primary_key=True)
    item_id: int = Field(foreign_key="lookback_item.id", index=True)
    filename: str = Field(max_length=255)
    content_type: str = Field(default="application/octet-stream", max_length=120)
    size: int
    sha256: str = Field(max_length=64)
    uploaded_by_id: Optional[int] = Field(default=None, foreign_key="app_user.id")
    uploaded_at: NaiveDatetime = Field(default_factory=clock.now)
    data: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class LookbackSnapshot(SQLModel, table=True):
    """A campaign's figures frozen at one moment: the 回头看情况报告 is written from these only."""

    __tablename__ = "lookback_snapshot"

    id: Optional[int] = Field(default=None, primary_key=True)
    campaign_id: int = Field(foreign_key="lookback_campaign.id", index=True)
    taken_at: NaiveDatetime = Field(default_factory=clock.now)
    taken_by_id: Optional[int] = Field(default=None, foreign_key="app_user.id")
    figures: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


# --- notifications, outbound delivery, scheduled-job claims, 督办 letters (issue 16) ----------------

class Notification(SQLModel, table=True):
    """One notice in a user's notification centre. ``kind`` and raw ``params`` only: the text is
    made in the reader's language when shown (``dashboard.services.notifications.text``)."""

    __tablename__ = "notification"
    __table_args__ = (Index("ix_notification_user_read", "user_id", "read_at"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="app_user.id")
    kind: str = Field(max_length=30)
    finding_id: Optional[int] = Field(default=None, foreign_key="finding.id", index=True)
    params: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: NaiveDatetime = Field(default_factory=clock.now, index=True)
    read_at: Optional[NaiveDatetime] = None


class NotifyChannel(SQLModel, table=True):
    """Where a unit's messages go (``unit_id`` NULL: the default channel). ``secret_url`` is the
    apprise URL with tokens and passwords: no read function returns it, pages see ``masked``."""

    __tablename__ = "notify_channel"

    id: Optional[int] = Field(default=None, primary_key=True)
    unit_id: Optional[int] = Field(default=None, foreign_key="unit.id", unique=True)
    kind: str = Field(max_length=20)             # wecom / dingtalk / email / apprise
    secret_url: str = Field(max_length=2000)
    masked: str = Field(max_length=300)
    active: bool = True
    updated_at: NaiveDatetime = Field(default_factory=clock.now)
    updated_by_id: Optional[int] = Field(default=None, foreign_key="app_user.id")
    version: int = 1


class JobRun(SQLModel, table=True):
    """The last run of each scheduled job: when, by which worker, and how it ended (the health page)."""

    __tablename__ = "job_run"

    job: str = Field(max_length=30, primary_key=True)
    worker: str = Field(default="", max_length=60)
    started_at: NaiveDatetime
    finished_at: NaiveDatetime
    ok: bool
    detail: str = Field(default="", max_length=300)  # the result, or the error's type and message when it failed
    last_ok_at: Optional[NaiveDatetime] = None


class JobClaim(SQLModel, table=True):
    """A scheduled job's run for one day and one recipient, claimed by whoever inserts it first:
    two workers, or a worker and cron, never do the same run twice."""

    __tablename__ = "job_claim"
    __table_args__ = (UniqueConstraint("job", "day", "recipient", name="uq_job_claim_run"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    job: str = Field(max_length=30)
    day: dt.date
    recipient: str = Field(max_length=60)
    claimed_at: NaiveDatetime = Field(default_factory=clock.now)
    worker: str = Field(default="", max_length=60)


class Delivery(SQLModel, table=True):
    """One outbound message and its fate (the delivery log). Created in the writing transaction,
    sent afterwards by the worker, so a channel that is down never blocks a page or a write."""

    __tablename__ = "delivery"
    __table_args__ = (Index("ix_delivery_status_next", "status", "next_attempt_at"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    dedupe_key: Optional[str] = Field(default=None, max_length=120, unique=True)
    unit_id: Optional[int] = Field(default=None, foreign_key="unit.id", index=True)
    channel_id: Optional[int] = Field(default=None, foreign_key="notify_channel.id")  # NULL: DASHBOARD_NOTIFY_URLS
    recipient: str = Field(default="", max_length=120)
    kind: str = Field(max_length=30)
    title: str = Field(default="", max_length=200)
    body: str
    status: str = Field(default="pending", max_length=20)  # pending / sending / sent / failed
    attempts: int = 0
    next_attempt_at: NaiveDatetime = Field(default_factory=clock.now)
    last_error: str = ""
    created_at: NaiveDatetime = Field(default_factory=clock.now, index=True)
    sent_at: Optional[NaiveDatetime] = None


class LetterCounter(SQLModel, table=True):
    """Last 文号 number per letter kind and year: numbers are taken in the issuing transaction,
    so a refused or failed issue leaves no gap."""

    __tablename__ = "letter_counter"

    kind: str = Field(max_length=20, primary_key=True)
    year: int = Field(primary_key=True)
    last: int = 0


class Letter(SQLModel, table=True):
    """An issued 提醒函 / 督办函 / 通报 / 约谈通知书: what the Word file is made from, again and again."""

    __tablename__ = "letter"
    __table_args__ = (UniqueConstraint("kind", "year", "number", name="uq_letter_number"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    kind: str = Field(max_length=20)
    year: int
    number: int
    doc_number: str = Field(max_length=80)
    unit_id: int = Field(foreign_key="unit.id", index=True)
    issued_on: dt.date
    respond_by: dt.date
    issuing_body: str = Field(max_length=100)
    title: str = Field(max_length=200)
    body: str
    finding_ids: list[int] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    issued_by_id: Optional[int] = Field(default=None, foreign_key="app_user.id")
    created_at: NaiveDatetime = Field(default_factory=clock.now)


class WebSession(SQLModel, table=True):
    """A browser's sign-in, owned by the server (``dashboard/web/session_routes.py``): the cookie holds a random id,
    this table only its SHA-256. Created by a successful sign-in with a one-time handoff ticket (also kept hashed),
    which the cookie route exchanges for the id. ``ended_at`` set: logged out, signed out by an admin or by the user
    elsewhere, password changed, account deactivated — every replica sees it on its next run."""

    __tablename__ = "web_session"

    id: Optional[int] = Field(default=None, primary_key=True)
    id_hash: Optional[str] = Field(default=None, max_length=64, unique=True)  # None until the ticket is exchanged
    ticket_hash: Optional[str] = Field(default=None, max_length=64, unique=True)  # None once exchanged
    user_id: int = Field(foreign_key="app_user.id", index=True)
    token_version: int  # the user's at sign-in: a password, role or unit change or deactivation ends the session
    created_at: NaiveDatetime = Field(default_factory=clock.now)
    last_seen_at: NaiveDatetime = Field(default_factory=clock.now)
    ended_at: Optional[NaiveDatetime] = None
    ended_reason: str = Field(default="", max_length=20)
    address: str = Field(default="", max_length=64)
    user_agent: str = Field(default="", max_length=200)
    failed_notice: int = 0  # failed sign-ins of this account before this one: told once, on the first page
    failed_notice_at: Optional[NaiveDatetime] = None


class SignInFailure(SQLModel, table=True):
    """One failed sign-in: the throttle counts these rows (per account and address; per address only for names
    that do not exist), so every replica counts the same failures and a restart forgets none."""

    __tablename__ = "sign_in_failure"
    __table_args__ = (Index("ix_sign_in_failure_pair", "username", "address", "at"),
                      Index("ix_sign_in_failure_address", "address", "known", "at"))

    id: Optional[int] = Field(default=None, primary_key=True)
    at: NaiveDatetime = Field(default_factory=clock.now, index=True)
    username: str = Field(max_length=60)
    address: str = Field(max_length=64)
    known: bool  # the name is an account


class ApiToken(SQLModel, table=True):
    """A token another system calls ``/api/v1`` with: shown once, kept as its SHA-256, with scopes, the units it may
    read or write (empty: all, for reading), an expiry, and revocable."""

    __tablename__ = "api_token"

    id: Optional[int] = Field(default=None, primary_key=True)
    name: str = Field(max_length=60, unique=True)
    token_hash: str = Field(max_length=64, unique=True)
    scopes: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    unit_ids: list[int] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    created_at: NaiveDatetime = Field(default_factory=clock.now)
    created_by: str = Field(default="", max_length=60)
    expires_at: NaiveDatetime
    revoked_at: Optional[NaiveDatetime] = None
    last_used_at: Optional[NaiveDatetime] = None


# --- 防返贫监测: the household monitoring ledger (issue 22) ------------------------------------------

class IncomeLine(SQLModel, table=True):
    """监测收入标准: yuan per person per year, set by the administrator for each year."""

    __tablename__ = "income_line"

    year: int = Field(primary_key=True)
    yuan: int
    set_by_id: Optional[int] = Field(default=None, foreign_key="app_user.id")
    set_at: NaiveDatetime = Field(default_factory=clock.now)


class Household(SQLModel, table=True):
    """One household of the ledger: where it lives, its category, income, 三保障 and safe water, its state.
    Moved from state to state only by its cases (``HouseholdCase``)."""

    __tablename__ = "household"
    __table_args__ = (
        one_of("household_type", HouseholdType),
        one_of("category", MonitorCategory, nullable=True),
        one_of("state", HouseholdState),
        one_of("elimination_method", EliminationMethod, nullable=True),
        Index("ix_household_place", "township", "village_id"),
        Index("ix_household_state_category", "state", "category"),
        Index("ix_household_county_township", "county", "township"),  # 零变化: the ledger's places by a loose scan
        # 零变化: the places that changed in a period, from the index alone
        Index("ix_household_identified_place", "identified_on", "county", "township"),
        Index("ix_household_eliminated_place", "eliminated_on", "county", "township"),
    )

    id: Optional[int] = Field(default=None, primary_key=True)
    number: str = Field(max_length=40, unique=True)            # 户编号
    county: str = Field(default="", max_length=60)
    township: str = Field(max_length=60, index=True)
    village_id: int = Field(foreign_key="village.id", index=True)
    household_type: str = Field(max_length=20, default=HouseholdType.ORDINARY)
    category: Optional[str] = Field(default=None, max_length=20)
    state: str = Field(max_length=20, default=HouseholdState.NOT_MONITORED)
    head_name: str = Field(default="", max_length=60)          # 户主 (a name, shown on the 公示 list)
    # its members, counted: kept by the flush hook of db/engine.py (every ORM write of a member) and by bulk writers,
    # so that 监测人数 over 300,000 households is a sum of a column, not a million-row join
    persons: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    identified_on: Optional[dt.date] = Field(default=None, index=True)   # 识别监测时间
    eliminated_on: Optional[dt.date] = Field(default=None, index=True)   # 消除监测时间
    elimination_method: Optional[str] = Field(default=None, max_length=20)
    income_year: Optional[int] = None
    income_per_capita: Optional[float] = None   # 人均纯收入（元）
    wage_income: Optional[float] = None         # 工资性收入
    business_income: Optional[float] = None     # 生产经营性收入
    transfer_income: Optional[float] = None     # 转移性收入
    compliant_expense: Optional[float] = None   # 合规自付支出
    education_ok: bool = True                   # 义务教育有保障
    medical_ok: bool = True                     # 基本医疗有保障 (参加城乡居民基本医疗保险)
    housing_ok: bool = True                     # 住房安全有保障 (不是危房户)
    water_ok: bool = True                       # 饮水安全有保障
    dibao: str = Field(default="", max_length=60)      # 享受低保政策情况
    tekun: str = Field(default="", max_length=60)      # 享受特困供养政策情况
    collector: str = Field(default="", max_length=60)  # 信息采集人
    flags: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))  # data-quality flags
    created_at: NaiveDatetime = Field(default_factory=clock.now)
    updated_at: NaiveDatetime = Field(default_factory=clock.now)
    version: int = 1


class HouseholdMember(SQLModel, table=True):
    """One person. ID, phone and health are sealed (``dashboard.privacy``): the cipher, a keyed hash for
    matching and the masked form are stored, never the number itself."""

    __tablename__ = "household_member"
    __table_args__ = (one_of("labour_skill", LabourSkill, nullable=True),)

    id: Optional[int] = Field(default=None, primary_key=True)
    household_id: int = Field(foreign_key="household.id", index=True)
    seq: int = 1
    name: str = Field(max_length=60)
    id_kind: str = Field(default="", max_length=30)                    # 证件类型
    id_cipher: Optional[bytes] = Field(default=None, sa_column=Column(LargeBinary))
    id_hash: Optional[str] = Field(default=None, max_length=64, index=True)
    id_masked: str = Field(default="", max_length=30)
    id_valid: bool = True                                              # stdnum.cn.ric (18 characters)
    relation: str = Field(default="", max_length=30)                   # 与户主关系
    is_head: bool = False
    sex: str = Field(default="", max_length=10)
    birth_date: Optional[dt.date] = None
    education: str = Field(default="", max_length=30)                  # 文化程度
    school_status: str = Field(default="", max_length=30)              # 在校生状况
    health_cipher: Optional[bytes] = Field(default=None, sa_column=Column(LargeBinary))  # 健康状况
    labour_skill: Optional[str] = Field(default=None, max_length=20)   # 劳动技能
    phone_cipher: Optional[bytes] = Field(default=None, sa_column=Column(LargeBinary))
    phone_masked: str = Field(default="", max_length=20)
    flags: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    version: int = 1


class HouseholdRisk(SQLModel, table=True):
    """致贫/返贫风险: added on a date, removed on a date (风险消除 needs no risk added since the last check)."""

    __tablename__ = "household_risk"
    __table_args__ = (one_of("kind", Risk),)

    id: Optional[int] = Field(default=None, primary_key=True)
    household_id: int = Field(foreign_key="household.id", index=True)
    kind: str = Field(max_length=20)
    added_on: dt.date
    removed_on: Optional[dt.date] = None
    note: str = ""


class SupportMeasure(SQLModel, table=True):
    """帮扶措施: what was given, by which unit, from when (to when)."""

    __tablename__ = "support_measure"
    __table_args__ = (one_of("kind", SupportKind),)

    id: Optional[int] = Field(default=None, primary_key=True)
    household_id: int = Field(foreign_key="household.id", index=True)
    kind: str = Field(max_length=20)
    text: str
    unit_name: str = Field(default="", max_length=100)
    start_on: dt.date
    end_on: Optional[dt.date] = None
    created_by_id: Optional[int] = Field(default=None, foreign_key="app_user.id")
    created_at: NaiveDatetime = Field(default_factory=clock.now)
    version: int = 1


class HouseholdCase(SQLModel, table=True):
    """One procedure on a household: identification from a clue (线索 → 县级审定), or 风险消除. Its state
    moves through ``dashboard.lifecycle.HOUSEHOLD_TRANSITIONS``; its clock runs from the clue's date."""

    __tablename__ = "household_case"
    __table_args__ = (
        one_of("kind", CaseKind),
        one_of("state", CaseState),
        one_of("source", ClueSource, nullable=True),
        one_of("category", MonitorCategory, nullable=True),
        Index("ix_household_case_open_due", "state", "due_on"),
    )

    id: Optional[int] = Field(default=None, primary_key=True)
    household_id: int = Field(foreign_key="household.id", index=True)
    kind: str = Field(max_length=20, default=CaseKind.IDENTIFY)
    state: str = Field(max_length=20, default=CaseState.CLUE)
    is_return: bool = False                      # 返贫 / 风险消除回退
    source: Optional[str] = Field(default=None, max_length=20)   # 线索来源
    clue_text: str = ""
    received_on: dt.date                          # 线索接收日期 (the clock starts)
    due_on: Optional[dt.date] = None              # received_on + identify_days
    consent_on: Optional[dt.date] = None          # 承诺授权
    verified_on: Optional[dt.date] = None         # 入户核实
    verified_by_id: Optional[int] = Field(default=None, foreign_key="app_user.id")
    reviewed_on: Optional[dt.date] = None         # 民主评议
    publicity_start: Optional[dt.date] = None     # 村内公示 / 民主评议公示
    publicity_end: Optional[dt.date] = None
    township_on: Optional[dt.date] = None         # 乡镇初审
    township_by_id: Optional[int] = Field(default=None, foreign_key="app_user.id")
    county_on: Optional[dt.date] = None           # 县级审定 / 县级审核
    county_by_id: Optional[int] = Field(default=None, foreign_key="app_user.id")
    decided_on: Optional[dt.date] = None          # 纳入 / 不予纳入 / 公告
    category: Optional[str] = Field(default=None, max_length=20)  # the category proposed and decided
    reason: str = ""                              # 不予纳入 with a reason
    created_by_id: Optional[int] = Field(default=None, foreign_key="app_user.id")
    created_at: NaiveDatetime = Field(default_factory=clock.now)
    version: int = 1


class HouseholdStep(SQLModel, table=True):
    """The household's history: every step of every case and every change to it, in order."""

    __tablename__ = "household_step"

    id: Optional[int] = Field(default=None, primary_key=True)
    household_id: int = Field(foreign_key="household.id", index=True)
    case_id: Optional[int] = Field(default=None, foreign_key="household_case.id")
    action: str = Field(max_length=30)
    happened_on: dt.date
    at: NaiveDatetime = Field(default_factory=clock.now)
    user_id: Optional[int] = Field(default=None, foreign_key="app_user.id")
    username: str = Field(default="", max_length=60)
    note: str = ""


class ScreeningRun(SQLModel, table=True):
    """One department list compared with the ledger: what it held and what came of it (no ID is kept)."""

    __tablename__ = "screening_run"
    __table_args__ = (one_of("kind", ScreenKind),)

    id: Optional[int] = Field(default=None, primary_key=True)
    kind: str = Field(max_length=20)
    list_name: str = Field(default="", max_length=200)
    rows: int = 0
    matched: int = 0
    unmatched: int = 0
    below_threshold: int = 0
    new_clues: int = 0
    signals: int = 0
    already_seen: int = 0
    run_at: NaiveDatetime = Field(default_factory=clock.now, index=True)
    run_by_id: Optional[int] = Field(default=None, foreign_key="app_user.id")
    run_by: str = Field(default="", max_length=60)


class ScreeningHit(SQLModel, table=True):
    """A person of a department's list found in the ledger above the kind's threshold (应纳未纳 screening).
    The person is known by the keyed hash of the ID only; one row per kind, person and event, so the same
    list uploaded again adds nothing. Rows that match no one are counted and never stored."""

    __tablename__ = "screening_hit"
    __table_args__ = (
        UniqueConstraint("kind", "id_hash", "household_id", "event_key", name="uq_screening_hit_event"),
        one_of("kind", ScreenKind),
        one_of("outcome", ScreenOutcome),
    )

    id: Optional[int] = Field(default=None, primary_key=True)
    kind: str = Field(max_length=20)
    id_hash: str = Field(max_length=64, index=True)
    household_id: int = Field(foreign_key="household.id", index=True)
    event_key: str = Field(max_length=20)          # the year of a self-pay total, or the event's date
    amount: Optional[float] = None
    event_on: Optional[dt.date] = None
    outcome: str = Field(max_length=20)
    case_id: Optional[int] = Field(default=None, foreign_key="household_case.id")
    run_id: int = Field(foreign_key="screening_run.id", index=True)


class FindingHousehold(SQLModel, table=True):
    """A finding raised from a data-quality check names the households the rule hit: its closure waits until
    the rule no longer hits them."""

    __tablename__ = "finding_household"

    finding_id: int = Field(foreign_key="finding.id", primary_key=True)
    household_id: int = Field(foreign_key="household.id", primary_key=True, index=True)
    rule_id: str = Field(max_length=40)


class MemberChange(SQLModel, table=True):
    """A person who joined or left a household (人口变动), with the reason and the day it happened: the
    monthly bulletin's 自然增加 and 自然减少 count them. Written when a member is added or removed by hand
    (``households.record_member_change``) or by an import; the name only, never an ID."""

    __tablename__ = "member_change"
    __table_args__ = (one_of("reason", MemberChangeReason),)

    id: Optional[int] = Field(default=None, primary_key=True)
    household_id: int = Field(foreign_key="household.id", index=True)
    reason: str = Field(max_length=20)
    happened_on: dt.date = Field(index=True)
    name: str = Field(default="", max_length=60)
    recorded_at: NaiveDatetime = Field(default_factory=clock.now)
    recorded_by_id: Optional[int] = Field(default=None, foreign_key="app_user.id")


class BulletinSnapshot(SQLModel, table=True):
    """月度监测通报 of one month, frozen the first time it is made after the month has ended: the page and the Word
    document show these rows, so a later change to the ledger does not alter a past month's bulletin."""

    __tablename__ = "bulletin_snapshot"

    month: str = Field(primary_key=True, max_length=7)   # YYYY-MM
    frozen_at: NaiveDatetime = Field(default_factory=clock.now)
    frozen_by_id: Optional[int] = Field(default=None, foreign_key="app_user.id")
    rows: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))


class QualityCheck(SQLModel, table=True):
    """The last run of the data-quality rules (数据质量核查): when, as of which day and by whom. The 数据质量 page and
    the monthly bulletin read its stored hits (``QualityCount``, ``QualityHit``) instead of running every rule on
    each view; the nightly pass, the page's "run now" and ``households-check`` replace them (one row, id 1)."""

    __tablename__ = "quality_check"

    id: int = Field(default=1, primary_key=True)
    as_of: dt.date                                   # the day the rules were evaluated for
    computed_at: NaiveDatetime = Field(default_factory=clock.now)
    computed_by: str = Field(default="", max_length=60)  # a username, or "system" (the worker, the command line)
    seconds: float = 0.0                             # how long the run took
    # 零变化 as of ``as_of`` (``quality.zero_change_figures``: last month and last quarter, townships and counties),
    # computed with the rules: the 数据质量 page reads it instead of the four range scans on each view
    zero_change: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(
        JSON, nullable=False, server_default=text("'[]'")))
    # per rule its households hit and the townships it hits most (``quality.summarise`` of the counts): the page's table
    summary: dict[str, Any] = Field(default_factory=dict, sa_column=Column(
        JSON, nullable=False, server_default=text("'{}'")))


class QualityCount(SQLModel, table=True):
    """Households a rule hit in one township at the last check (``QualityCheck``)."""

    __tablename__ = "quality_count"

    rule_id: str = Field(primary_key=True, max_length=40)
    township: str = Field(primary_key=True, max_length=60)
    n: int = 0


class QualityHit(SQLModel, table=True):
    """One household a rule hit at the last check, with its 户编号 and township as they were then (no foreign key:
    the stored check outlives a household's removal until the next run)."""

    __tablename__ = "quality_hit"
    __table_args__ = (Index("ix_quality_hit_listing", "rule_id", "township", "number"),
                      Index("ix_quality_hit_number", "rule_id", "number"))

    rule_id: str = Field(primary_key=True, max_length=40)
    household_id: int = Field(primary_key=True)
    township: str = Field(max_length=60)
    number: str = Field(max_length=40)


class HouseholdTally(SQLModel, table=True):
    """The household ledger's monitoring figures, rolled up per township (``services/household_figures.py``): kept
    exact by every unit of work that writes households or their cases (the touched townships are counted again
    from the base tables before commit; a bulk write that names none, all of them), checked by ``stats --verify``.
    Rows hold no day: "this month", "this year" and "overdue" are ranges over ``period`` chosen when read.

    kind ``state``: households under monitoring by (state, category); ``identified`` / ``eliminated``: those
    households by the month (``YYYY-MM``) of 识别监测时间 / 消除监测时间, ``identified_year`` / ``eliminated_year`` by its
    year (``YYYY``); ``clue_due``: clues on the clock by due day (``YYYY-MM-DD``). Rows that would count nothing are
    not stored."""

    __tablename__ = "household_tally"
    __table_args__ = (Index("ix_household_tally_kind_period", "kind", "period"),)

    township: str = Field(primary_key=True, max_length=60)
    kind: str = Field(primary_key=True, max_length=20)
    state: str = Field(primary_key=True, max_length=20)      # "" where the kind has none
    category: str = Field(primary_key=True, max_length=20)   # "" where none
    period: str = Field(primary_key=True, max_length=10)     # "" for kind state
    n: int = 0
    persons: int = 0

