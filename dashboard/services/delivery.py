"""Outbound messages: channels (WeCom/DingTalk robots, SMTP email) through apprise, the delivery
log, and sending with retries and back-off.

A message is queued (``queue``) inside the writer's transaction as a ``Delivery`` row; the worker
(or ``remind --once``) sends due rows afterwards (``deliver_due``): it takes each row with a short
lease in its own transaction, sends outside any transaction, and records the outcome. A channel
that is down costs the sender a retry later, never a page or a write. Secrets (robot tokens,
DingTalk's signing secret, SMTP passwords) live only in ``NotifyChannel.secret_url``; pages and
logs see ``masked`` and error texts with every secret part replaced.
"""
from __future__ import annotations

import datetime as dt
import logging
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, quote, urlparse

import apprise
from sqlalchemy import Engine, or_, true
from sqlmodel import Session, select

from dashboard import clock, config
from dashboard.errors import Phrase, ValidationFailed
from dashboard.lifecycle import Action, Actor, authorize
from dashboard.services.common import audit, get_or_404
from dashboard.settings import load_settings
from dashboard.services.unit_of_work import unit_of_work
from db.engine import read_session
from db.models import Delivery, NotifyChannel, Unit

log = logging.getLogger(__name__)

CHANNEL_KINDS = ("wecom", "dingtalk", "email", "apprise")
BACKOFF_MINUTES = (1, 5, 15, 60, 240)  # after attempt 1, 2, 3 …; the last repeats
LEASE = dt.timedelta(minutes=5)        # a row being sent is not picked again for this long (a crashed sender)
DEFAULT_CHANNEL = "env"                # the recipient name of DASHBOARD_NOTIFY_URLS in the log


class Status:
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"


# --- channels -------------------------------------------------------------------------------------

def build_url(kind: str, fields: dict[str, Any]) -> str:
    """The apprise URL for what the admin typed (a robot's webhook address as WeCom/DingTalk show it)."""
    def value(name: str) -> str:
        return str(fields.get(name) or "").strip()

    if kind == "wecom":
        webhook = value("webhook")
        key = parse_qs(urlparse(webhook).query).get("key", [""])[0] if "://" in webhook else webhook
        if not re.fullmatch(r"[A-Za-z0-9-]{6,}", key or ""):
            raise ValidationFailed("error.channel_webhook", kind=kind)
        return f"wecombot://{key}"
    if kind == "dingtalk":
        webhook = value("webhook")
        token = parse_qs(urlparse(webhook).query).get("access_token", [""])[0] if "://" in webhook else webhook
        if not re.fullmatch(r"[A-Za-z0-9]{6,}", token or ""):
            raise ValidationFailed("error.channel_webhook", kind=kind)
        secret = value("secret")
        return f"dingtalk://{quote(secret, safe='')}@{token}/" if secret else f"dingtalk://{token}/"
    if kind == "email":
        host, sender, to = value("host"), value("sender"), value("to")
        if not host or not sender or not to:
            raise ValidationFailed("error.channel_email")
        port = int(fields.get("port") or 465)
        security = value("security") or "ssl"
        user, password = value("username"), value("password")
        auth = f"{quote(user, safe='')}:{quote(password, safe='')}@" if user else ""
        schema = "mailto" if security == "insecure" else "mailtos"
        recipients = ",".join(quote(part.strip(), safe="@") for part in re.split(r"[,;，；\s]+", to) if part.strip())
        mode = f"&mode={security}" if security in ("ssl", "starttls") else ""
        return (f"{schema}://{auth}{host}:{port}/?from={quote(sender, safe='@')}&to={recipients}"
                f"&smtp={host}{mode}&format=text")
    if kind == "apprise":
        url = value("url")
        if not url:
            raise ValidationFailed("error.channel_invalid")
        return url
    raise ValidationFailed("error.unknown_value", field=Phrase("field.kind"), value=kind)


def _instances(urls: list[str]) -> apprise.Apprise:
    bundle = apprise.Apprise()
    for url in urls:
        if not bundle.add(url):
            raise ValidationFailed("error.channel_invalid")
    return bundle


def mask(urls: list[str]) -> str:
    """What a page may show of a channel: apprise's privacy form (tokens and passwords starred)."""
    try:
        return ", ".join(server.url(privacy=True).split("?")[0] for server in _instances(urls))
    except ValidationFailed:
        return "****"


def set_channel(session: Session, actor: Actor, unit_id: int | None, kind: str, fields: dict[str, Any]) -> NotifyChannel:
    """Create or replace the channel of a unit (``unit_id`` None: the default channel)."""
    authorize(actor, Action.MANAGE_NOTIFY)
    if unit_id is not None:
        get_or_404(session, Unit, unit_id)
    if kind not in CHANNEL_KINDS:
        raise ValidationFailed("error.unknown_value", field=Phrase("field.kind"), value=kind)
    url = build_url(kind, fields)
    _instances([url])  # refused here when apprise cannot use it
    row = session.exec(select(NotifyChannel).where(NotifyChannel.unit_id == unit_id)).first()
    masked = mask([url])
    if row is None:
        row = NotifyChannel(unit_id=unit_id, kind=kind, secret_url=url, masked=masked, updated_by_id=actor.id,
                            updated_at=clock.now())
        session.add(row)
    else:
        row.kind, row.secret_url, row.masked, row.active = kind, url, masked, True
        row.updated_by_id, row.updated_at = actor.id, clock.now()
        row.version += 1
        session.add(row)
    audit(session, actor, "set_channel", row, new={"unit_id": unit_id, "kind": kind, "channel": masked})
    return row


def remove_channel(session: Session, actor: Actor, channel_id: int) -> bool:
    authorize(actor, Action.MANAGE_NOTIFY)
    row = get_or_404(session, NotifyChannel, channel_id)
    audit(session, actor, "remove_channel", row, old={"unit_id": row.unit_id, "kind": row.kind, "channel": row.masked})
    for delivery in session.exec(select(Delivery).where(Delivery.channel_id == channel_id)).all():
        delivery.channel_id = None
        delivery.recipient = delivery.recipient or row.masked
        if delivery.status in (Status.PENDING, Status.SENDING):
            delivery.status, delivery.last_error = Status.FAILED, "channel removed"
    session.delete(row)
    return True


@dataclass(frozen=True)
class ChannelRow:
    id: int | None
    unit_id: int | None
    unit: str
    kind: str
    masked: str
    active: bool


def channels(session: Session) -> list[ChannelRow]:
    """Every configured channel as pages may show it (never the secret URL)."""
    names = dict(session.exec(select(Unit.id, Unit.name)).all())
    rows = [ChannelRow(c.id, c.unit_id, names.get(c.unit_id, ""), c.kind, c.masked, c.active)
            for c in session.exec(select(NotifyChannel).order_by(NotifyChannel.unit_id.is_not(None),
                                                                 NotifyChannel.id)).all()]
    if config.notify_urls():
        rows.insert(0, ChannelRow(None, None, "", "env", mask(config.notify_urls()), True))
    return rows


def _channel_for(session: Session, unit_id: int | None) -> tuple[int | None, str] | None:
    """(channel id, recipient name) for a unit: its own, else the default row, else the
    environment's URLs (id None); None when nothing is configured."""
    for candidate in ([unit_id] if unit_id is not None else []) + [None]:
        row = session.exec(select(NotifyChannel).where(NotifyChannel.unit_id == candidate,
                                                       NotifyChannel.active == true())).first()
        if row is not None:
            return row.id, row.masked
    if config.notify_urls():
        return None, DEFAULT_CHANNEL
    return None


# --- queueing -------------------------------------------------------------------------------------

def queue(session: Session, unit_id: int | None, kind: str, *, title: str, body: str,
          dedupe_key: str | None = None, channel: tuple[int | None, str] | None = None) -> Delivery | None:
    """Record one message for the unit's channel, to be sent after the transaction; None when no
    channel is configured for it (nothing to log)."""
    target = channel or _channel_for(session, unit_id)
    if target is None:
        return None
    channel_id, recipient = target
    unit_name = session.get(Unit, unit_id).name if unit_id is not None else ""
    row = Delivery(dedupe_key=dedupe_key, unit_id=unit_id, channel_id=channel_id,
                   recipient=(f"{unit_name} · {recipient}" if unit_name else recipient)[:120],
                   kind=kind, title=title[:200], body=body, status=Status.PENDING, attempts=0,
                   next_attempt_at=clock.now(), created_at=clock.now())
    session.add(row)
    return row


# --- sending --------------------------------------------------------------------------------------

def _secret_parts(urls: list[str]) -> list[str]:
    parts: set[str] = set(urls)
    for url in urls:
        for piece in re.split(r"[/:@?&=,]+", url.split("://", 1)[-1]):
            if len(piece) >= 4:
                parts.add(piece)
    return sorted(parts, key=len, reverse=True)


def scrub(message: str, urls: list[str]) -> str:
    """An error text with every part of the channel's URL that could be a secret starred."""
    for part in _secret_parts(urls):
        message = message.replace(part, "****")
    return message[:500]


def send(urls: list[str], title: str, body: str) -> tuple[bool, str]:
    """Send now through apprise; (ok, error text with secrets removed)."""
    try:
        bundle = _instances(urls)
    except ValidationFailed:
        return False, "invalid channel"
    with apprise.LogCapture(level=logging.WARNING) as captured:  # apprise's own connect/read timeouts apply
        try:
            ok, captured_error = bool(bundle.notify(title=title, body=body)), ""
        except Exception as error:  # a plugin bug must not stop the other messages
            ok, captured_error = False, f"{type(error).__name__}: {error}"
        details = captured.getvalue().strip() if hasattr(captured, "getvalue") else ""
    last = details.splitlines()[-1].split(" - ", 2)[-1] if details else ""
    failure = "" if ok else (captured_error or last or "failed")
    return ok, scrub(failure, urls)


def _urls_for(session: Session, row: Delivery) -> list[str]:
    if row.channel_id is None:
        return config.notify_urls()
    channel = session.get(NotifyChannel, row.channel_id)
    return [channel.secret_url] if channel is not None and channel.active else []


def backoff(attempts: int) -> dt.timedelta:
    return dt.timedelta(minutes=BACKOFF_MINUTES[min(attempts, len(BACKOFF_MINUTES)) - 1])


def _take(engine: Engine, limit: int) -> list[tuple[int, list[str], str, str]]:
    """Lease due rows in one short transaction: other senders skip them (SKIP LOCKED on PostgreSQL;
    SQLite's write transactions take turns)."""
    now = clock.now()
    with unit_of_work(engine) as session:
        statement = (select(Delivery).where(
            or_(Delivery.status == Status.PENDING, Delivery.status == Status.SENDING),
            Delivery.next_attempt_at <= now).order_by(Delivery.id).limit(limit))
        if engine.dialect.name == "postgresql":
            statement = statement.with_for_update(skip_locked=True)
        taken = []
        for row in session.exec(statement).all():
            row.status, row.attempts, row.next_attempt_at = Status.SENDING, row.attempts + 1, now + LEASE
            taken.append((row.id, _urls_for(session, row), row.title, row.body))
        return taken


def _record(engine: Engine, delivery_id: int, ok: bool, error: str, max_attempts: int) -> str:
    with unit_of_work(engine) as session:
        row = session.get(Delivery, delivery_id)
        now = clock.now()
        if ok:
            row.status, row.sent_at, row.last_error = Status.SENT, now, ""
        elif row.attempts >= max_attempts:
            row.status, row.last_error = Status.FAILED, error
        else:
            row.status, row.last_error, row.next_attempt_at = Status.PENDING, error, now + backoff(row.attempts)
        return row.status


def deliver_due(engine: Engine, *, batch: int = 50) -> dict[str, int]:
    """Send every due message (new ones and retries whose back-off has passed)."""
    with read_session(engine) as session:
        max_attempts = load_settings(session).notify_max_attempts
    outcome = {Status.SENT: 0, Status.PENDING: 0, Status.FAILED: 0}
    while True:
        taken = _take(engine, batch)
        if not taken:
            return outcome
        for delivery_id, urls, title, body in taken:
            ok, error = send(urls, title, body) if urls else (False, "no channel configured")
            status = _record(engine, delivery_id, ok, error, max_attempts)
            outcome[status] = outcome.get(status, 0) + 1
            if not ok:
                log.warning("delivery %s not sent (%s): %s", delivery_id, status, error)


def send_test(session: Session, actor: Actor, channel_id: int | None) -> tuple[bool, str]:
    """The admin's "send test message" button: sent at once, and logged like any other message."""
    authorize(actor, Action.MANAGE_NOTIFY)
    if channel_id is None:
        urls, recipient, unit_id = config.notify_urls(), DEFAULT_CHANNEL, None
    else:
        channel = get_or_404(session, NotifyChannel, channel_id)
        urls, recipient, unit_id = [channel.secret_url], channel.masked, channel.unit_id
    from dashboard.i18n import t

    title, body = t("notice.title", "zh"), t("notice.test", "zh", at=clock.now().strftime("%Y-%m-%d %H:%M"))
    ok, error = send(urls, title, body)
    session.add(Delivery(unit_id=unit_id, channel_id=channel_id, recipient=recipient[:120], kind="test", title=title,
                         body=body, status=Status.SENT if ok else Status.FAILED, attempts=1, last_error=error,
                         next_attempt_at=clock.now(), created_at=clock.now(), sent_at=clock.now() if ok else None))
    return ok, error


def log_rows(session: Session, *, failed_only: bool = False, limit: int = 200) -> list[Delivery]:
    statement = select(Delivery)
    if failed_only:
        statement = statement.where(Delivery.status == Status.FAILED)
    return list(session.exec(statement.order_by(Delivery.id.desc()).limit(limit)).all())
