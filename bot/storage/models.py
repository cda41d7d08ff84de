"""The tables. Migrations in ``bot/storage/migrations`` (Alembic) create and change them."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import JSON, DateTime, Dialect, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes out, on SQLite too (which stores no zone and returns naive ones):
    comparing one with ``datetime.now(UTC)`` must never raise."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Claimable:
    """Columns of a work row that workers claim (``bot.jobs.claims``) and retry with backoff."""

    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(Text)


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, Any]: JSON, list[Any]: JSON}


class Conversation(Base):
    """One resident on one channel: the dialog state between turns."""

    __tablename__ = "conversations"
    __table_args__ = (UniqueConstraint("channel", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    user_id: Mapped[str] = mapped_column(String(128))
    state: Mapped[dict[str, Any]] = mapped_column(default=dict)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class ProcessedMessage(Base):
    """Every inbound message handled, with the replies it got: a redelivery gets the same replies.

    Keyed by the resident too: on the web channel the client picks message ids, and one
    resident's id must never replay another resident's replies.
    """

    __tablename__ = "processed_messages"
    __table_args__ = (
        UniqueConstraint("channel", "user_id", "message_id"),
        # The per-resident rate limit counts a resident's recent messages.
        Index("ix_processed_messages_recent", "channel", "user_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    user_id: Mapped[str] = mapped_column(String(128))
    message_id: Mapped[str] = mapped_column(String(128))
    conversation_id: Mapped[int] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), index=True
    )
    #: What the resident wrote (normalised): the conversation so far, for staff taking a handoff.
    text: Mapped[str | None] = mapped_column(Text)
    replies: Mapped[list[Any]] = mapped_column(default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Case(Base):
    """A dispute a resident reported, as the bot keeps it (personal data: see docs/privacy)."""

    __tablename__ = "cases"
    __table_args__ = (Index("ix_cases_owner", "channel", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(String(32), unique=True)
    channel: Mapped[str] = mapped_column(String(16))
    user_id: Mapped[str] = mapped_column(String(128))
    dispute_type: Mapped[str] = mapped_column(String(32))
    description: Mapped[str] = mapped_column(Text)
    place: Mapped[str] = mapped_column(Text)
    occurred: Mapped[str] = mapped_column(String(128))
    other_party: Mapped[str | None] = mapped_column(String(128))
    name: Mapped[str | None] = mapped_column(String(64))
    phone: Mapped[str | None] = mapped_column(String(32))  # None: no phone left (chat only)
    attachments: Mapped[list[Any]] = mapped_column(default=list)
    latitude: Mapped[float | None]
    longitude: Mapped[float | None]
    #: The centre's step code once the case system reports one; None until filed.
    step: Mapped[str | None] = mapped_column(String(32))
    backend_case_no: Mapped[str | None] = mapped_column(String(64), unique=True)
    department: Mapped[str | None] = mapped_column(String(64))
    public_note: Mapped[str | None] = mapped_column(Text)
    #: The last change of the case system's feed applied to this case (changes apply once).
    last_change_seq: Mapped[int | None]
    consent_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class OutboxItem(Claimable, Base):
    """Outgoing work written in the same transaction as the turn that caused it."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_due", "status", "priority", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(
        String(32)
    )  # file_case, attachment, escalation, handoff, relay, close_handoff
    #: Sent as the Idempotency-Key: random, so that a bot database restored or reset never
    #: collides with keys the case system already remembers.
    idempotency_key: Mapped[str] = mapped_column(String(64), unique=True, default=lambda: uuid.uuid4().hex)
    #: Lower runs first: escalations 0, handoffs 10, case filings 20.
    priority: Mapped[int] = mapped_column(Integer, default=20)
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending, claimed, done, failed
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class FaqMiss(Base):
    """A legal question no FAQ answered (for the volunteers' queue)."""

    __tablename__ = "faq_misses"

    id: Mapped[int] = mapped_column(primary_key=True)
    text: Mapped[str] = mapped_column(Text)
    dispute_type: Mapped[str | None] = mapped_column(String(32))
    candidates: Mapped[list[Any]] = mapped_column(default=list)
    #: The FAQ the bot answered with when the resident said "没用" (None: the bot was not sure).
    answered_with: Mapped[str | None] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    #: A volunteer set it aside (with the reason), or wrote an FAQ from it (its slug).
    dismissed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    dismissed_by: Mapped[str | None] = mapped_column(String(64))
    dismiss_reason: Mapped[str | None] = mapped_column(Text)
    answered_by: Mapped[str | None] = mapped_column(String(80))


class ReferenceCounter(Base):
    """The last serial handed out per day: references are TJ<yyyymmdd>-<serial>."""

    __tablename__ = "reference_counters"

    day: Mapped[str] = mapped_column(String(8), primary_key=True)
    last: Mapped[int] = mapped_column(Integer)


class Notification(Claimable, Base):
    """A message for a resident the bot sends on its own (case filed, case moved, staff wrote).

    ``dedupe_key`` makes each event notify once however often the feed is read again.
    """

    __tablename__ = "notifications"
    __table_args__ = (
        Index("ix_notifications_due", "status", "next_attempt_at"),
        Index("ix_notifications_resident", "channel", "user_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    user_id: Mapped[str] = mapped_column(String(128))
    text: Mapped[str] = mapped_column(Text)
    dedupe_key: Mapped[str] = mapped_column(String(128), unique=True)
    #: pending (to send), claimed, held (the channel cannot push: goes with the next reply), sent, failed
    status: Mapped[str] = mapped_column(String(16), default="pending")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Handoff(Base):
    """A resident's request for a person, and whether staff have taken it."""

    __tablename__ = "handoffs"
    __table_args__ = (Index("ix_handoffs_resident", "channel", "user_id", "status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    user_id: Mapped[str] = mapped_column(String(128))
    backend_id: Mapped[int | None] = mapped_column(unique=True)
    #: requested (not yet at the desk), waiting, taken (the bot only relays), closed
    status: Mapped[str] = mapped_column(String(16), default="requested")
    urgent: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_activity_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    #: When a staff member last wrote to the resident (danger told meanwhile waits on it).
    staff_replied_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class JobLease(Base):
    """A job only one process may run at a time (the feed readers), with the job's cursor."""

    __tablename__ = "job_leases"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    holder: Mapped[str | None] = mapped_column(String(64))
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    cursor: Mapped[str | None] = mapped_column(String(64))


class ChannelToken(Base):
    """A channel's API credential (WeChat's access_token), written by one refresher and read by
    every process: a second fetcher would invalidate the token the others hold."""

    __tablename__ = "channel_tokens"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    token: Mapped[str] = mapped_column(Text)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    refreshed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ResidentContact(Base):
    """When a resident last wrote on a channel, and how many messages the bot pushed since:
    WeChat allows customer-service messages only within 48 hours of it, and only a few."""

    __tablename__ = "resident_contacts"

    channel: Mapped[str] = mapped_column(String(16), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    last_inbound_at: Mapped[datetime] = mapped_column(UTCDateTime())
    pushed_since: Mapped[int] = mapped_column(Integer, default=0)


class InboundUpdate(Claimable, Base):
    """A channel update stored before the channel is told "received" (Telegram retries only
    non-2xx answers): handled from here, so a crash after the 200 loses nothing."""

    __tablename__ = "inbound_updates"
    __table_args__ = (
        UniqueConstraint("channel", "update_id"),
        Index("ix_inbound_updates_due", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    update_id: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    #: pending, claimed, done, failed
    status: Mapped[str] = mapped_column(String(16), default="pending")
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class RateSlot(Base):
    """The next free send slot per key (a channel, or a channel's chat), shared by all processes."""

    __tablename__ = "rate_slots"

    key: Mapped[str] = mapped_column(String(160), primary_key=True)
    next_free_at: Mapped[datetime] = mapped_column(UTCDateTime())


class SeenNonce(Base):
    """Nonces of signed webhook requests within the timestamp window: the same nonce again with
    another body is a replay (plaintext signatures do not cover the body) and is refused; with
    the same body it is the channel's own retry, which the engine answers from its record."""

    __tablename__ = "seen_nonces"

    channel: Mapped[str] = mapped_column(String(16), primary_key=True)
    nonce: Mapped[str] = mapped_column(String(64), primary_key=True)
    body_digest: Mapped[str] = mapped_column(String(64))
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)


class FaqEntry(Base):
    """One FAQ the volunteers keep: its versions are ``faq_versions``; residents are answered
    from the published version, drafts are never shown to them."""

    __tablename__ = "faq_entries"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: The FAQ's stable id (``labor-wage-arrears``): in YAML files, misses' candidates, URLs.
    slug: Mapped[str] = mapped_column(String(80), unique=True)
    #: draft, review (waiting for a reviewer), published, retired
    status: Mapped[str] = mapped_column(String(16), default="draft", index=True)
    latest_number: Mapped[int] = mapped_column(Integer, default=1)
    #: The version residents see; None while never published, or unpublished, or retired.
    published_number: Mapped[int | None] = mapped_column(Integer)
    #: When a reviewer last published or confirmed it (answers unreviewed for 12 months are flagged).
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class FaqVersion(Base):
    """Every saved state of an FAQ, never changed afterwards (history, diff, restore)."""

    __tablename__ = "faq_versions"
    __table_args__ = (UniqueConstraint("entry_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("faq_entries.id", ondelete="CASCADE"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    question: Mapped[str] = mapped_column(Text)
    paraphrases: Mapped[list[Any]] = mapped_column(default=list)
    answer: Mapped[str] = mapped_column(Text)
    #: [{"statute": "中华人民共和国民法典", "article": "第一千零八十四条"}, …]
    legal_basis: Mapped[list[Any]] = mapped_column(default=list)
    dispute_type: Mapped[str | None] = mapped_column(String(32))
    author: Mapped[str] = mapped_column(String(64))
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class FaqLibrary(Base):
    """One row: the published set's generation, raised at every publish, unpublish or retire, so
    that every bot process notices and reloads its FAQ index."""

    __tablename__ = "faq_library"

    id: Mapped[int] = mapped_column(primary_key=True)
    generation: Mapped[int] = mapped_column(Integer, default=0)
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ConsoleSession(Base):
    """A signed-in console session, held on the server: signing out, a new password, deactivation
    or a role change revoke it, and it ends after a while idle — a copied cookie then opens nothing."""

    __tablename__ = "console_sessions"

    #: sha256 of the token the cookie carries (a leaked table gives no usable cookie).
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("admin_users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class AdminUser(Base):
    """An account of the volunteers' console (``bot admin create-user``)."""

    __tablename__ = "admin_users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(256))
    #: volunteer (writes drafts) or reviewer (publishes, manages users)
    role: Mapped[str] = mapped_column(String(16))
    active: Mapped[bool] = mapped_column(default=True)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class AuditEvent(Base):
    """Who did what in the console: sign-ins, publishing, user changes (never passwords)."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    actor: Mapped[str | None] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(32))
    target: Mapped[str | None] = mapped_column(String(128))
    detail: Mapped[str | None] = mapped_column(Text)
