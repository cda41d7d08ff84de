"""The dialog engine's storage: one transaction per turn, with the resident's row locked."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.dialogs.messages import Inbound, Link, Outbound
from bot.dialogs.ports import CaseView, DuplicateMessage, HandoffView
from bot.dialogs.state import ConversationState
from bot.dialogs.work import (
    CaseReport,
    EraseResident,
    Escalation,
    FaqMiss,
    ForgetMessages,
    Handoff,
    HandoffClose,
    HandoffDanger,
    HandoffRelay,
    SafetyCheck,
    SafetyCheckResolved,
    Work,
)
from bot.privacy import mask_for_volunteers
from bot.storage import models
from bot.storage.db import sessions
from bot.storage.notifications import take_held_in

# Outbox priorities: lower runs first.
PRIORITY = {"escalation": 0, "handoff": 10, "relay": 10, "file_case": 20, "erasure": 40}
#: Shown to staff before the message that made the bot ask whether the resident was safe.
SAFETY_CHECK_LABEL = "【安全确认未回复】"
#: Before a relayed message that sounds dangerous, for the staff member handling the resident.
DANGER_LABEL = "【紧急·可能有危险】"


def replies_to_json(replies: tuple[Outbound, ...]) -> list[Any]:
    return [
        {
            "text": r.text,
            "options": list(r.options),
            "links": [[x.title, x.url] for x in r.links],
            "key": r.key,
        }
        for r in replies
    ]


def replies_from_json(raw: list[Any]) -> tuple[Outbound, ...]:
    return tuple(
        Outbound(
            text=r["text"],
            options=tuple(r.get("options", ())),
            links=tuple(Link(t, u) for t, u in r.get("links", ())),
            key=r.get("key", ""),
        )
        for r in raw
    )


def case_view(case: models.Case) -> CaseView:
    return CaseView(
        reference=case.reference,
        dispute_type=case.dispute_type,
        step=case.step,
        phone_last4=(case.phone or "").replace("-", "")[-4:],
        channel=case.channel,
        user_id=case.user_id,
    )


class SqlTurn:
    """One turn's transaction (implements ``bot.dialogs.ports.TurnTransaction``)."""

    def __init__(self, session: AsyncSession, conversation: models.Conversation, tz: ZoneInfo) -> None:
        self._session = session
        self._conversation = conversation
        self._tz = tz

    async def load_state(self) -> ConversationState:
        return ConversationState.from_json(self._conversation.state)

    async def save_state(self, state: ConversationState) -> None:
        self._conversation.state = state.to_json()

    async def replay(self, message_id: str) -> tuple[Outbound, ...] | None:
        conversation = self._conversation
        return await _replay(self._session, conversation.channel, conversation.user_id, message_id)

    async def record_message(self, inbound: Inbound, replies: tuple[Outbound, ...]) -> None:
        self._session.add(
            models.ProcessedMessage(
                channel=inbound.channel,
                user_id=inbound.user_id,
                message_id=inbound.message_id,
                conversation_id=self._conversation.id,
                text=inbound.text[:2000].replace("\x00", ""),  # PostgreSQL text cannot hold NUL
                replies=replies_to_json(replies),
            )
        )

    async def add_work(self, work: Work) -> None:
        session = self._session
        match work:
            case CaseReport():
                case = models.Case(
                    reference=work.reference, channel=work.channel, user_id=work.user_id,
                    dispute_type=work.dispute_type, description=work.description, place=work.place,
                    occurred=work.occurred, other_party=work.other_party, name=work.name, phone=work.phone,
                    attachments=list(work.attachments),
                    latitude=work.location[0] if work.location else None,
                    longitude=work.location[1] if work.location else None,
                    consent_at=datetime.now(UTC),
                )  # fmt: skip
                session.add(case)
                await session.flush()
                session.add(
                    models.OutboxItem(kind="file_case", priority=PRIORITY["file_case"], case_id=case.id)
                )
            case Escalation():
                payload = {
                    "channel": work.channel, "user_id": work.user_id, "text": work.text,
                    "categories": list(work.categories), "self_harm": work.self_harm,
                }  # fmt: skip
                session.add(
                    models.OutboxItem(kind="escalation", priority=PRIORITY["escalation"], payload=payload)
                )
            case SafetyCheck():
                # A handoff that reaches staff only if the resident has not answered by then.
                handoff = models.Handoff(channel=work.channel, user_id=work.user_id, status="requested")
                session.add(handoff)
                await session.flush()
                payload = {
                    "handoff_id": handoff.id, "text": f"{SAFETY_CHECK_LABEL}{work.text}", "urgent": True,
                    "safety_check": True, "channel": work.channel, "user_id": work.user_id,
                }  # fmt: skip
                due = datetime.now(UTC) + work.wait
                session.add(
                    models.OutboxItem(
                        kind="handoff", priority=PRIORITY["handoff"], payload=payload, next_attempt_at=due
                    )
                )
            case SafetyCheckResolved():
                await self._withdraw_safety_checks(work.channel, work.user_id)
            case Handoff():
                handoff = models.Handoff(channel=work.channel, user_id=work.user_id, status="requested")
                session.add(handoff)
                await session.flush()
                payload = {"handoff_id": handoff.id, "text": work.text}
                session.add(models.OutboxItem(kind="handoff", priority=PRIORITY["handoff"], payload=payload))
            case HandoffRelay():
                text = f"{DANGER_LABEL}{work.text}" if work.urgent else work.text
                payload = {"handoff_id": work.handoff_id, "text": text}
                session.add(models.OutboxItem(kind="relay", priority=PRIORITY["relay"], payload=payload))
                await session.execute(
                    update(models.Handoff)
                    .where(models.Handoff.id == work.handoff_id)
                    .values(last_activity_at=datetime.now(UTC))
                )
            case HandoffDanger():
                await self._queue_handoff_alarm(work)
            case HandoffClose():
                await session.execute(
                    update(models.Handoff).where(models.Handoff.id == work.handoff_id).values(status="closed")
                )
                payload = {"handoff_id": work.handoff_id}
                session.add(
                    models.OutboxItem(kind="close_handoff", priority=PRIORITY["relay"], payload=payload)
                )
            case ForgetMessages():
                # Declined or dropped: the texts and the replies that echoed them are erased;
                # the row stays so that a redelivered message is still recognised as handled.
                await session.execute(
                    update(models.ProcessedMessage)
                    .where(
                        models.ProcessedMessage.channel == work.channel,
                        models.ProcessedMessage.user_id == work.user_id,
                        models.ProcessedMessage.created_at >= work.since,
                    )
                    .values(text=None, replies=[])
                )
            case EraseResident():
                await erase_resident_here(session, work.channel, work.user_id)
                payload = {"channel": work.channel, "user_id": work.user_id, "token": uuid.uuid4().hex}
                session.add(models.OutboxItem(kind="erasure", priority=PRIORITY["erasure"], payload=payload))
            case FaqMiss():
                session.add(
                    models.FaqMiss(
                        # Volunteers read these: phones, ID and card numbers are masked first.
                        text=mask_for_volunteers(work.text),
                        dispute_type=work.dispute_type,
                        candidates=list(work.candidates),
                        answered_with=work.answered_with,
                    )
                )

    async def _queue_handoff_alarm(self, work: HandoffDanger) -> None:
        waiting = await self._session.scalars(
            select(models.OutboxItem).where(
                models.OutboxItem.kind == "handoff_alarm",
                models.OutboxItem.status.in_(("pending", "claimed")),
            )
        )
        if any(item.payload.get("handoff_id") == work.handoff_id for item in waiting):
            return  # one escalation per conversation: the first is still waiting on staff
        now = datetime.now(UTC)
        payload = {
            "handoff_id": work.handoff_id, "channel": work.channel, "user_id": work.user_id,
            "text": work.text, "categories": list(work.categories), "self_harm": work.self_harm,
            "alert": work.alert, "queued_at": now.isoformat(),
        }  # fmt: skip
        self._session.add(
            models.OutboxItem(
                kind="handoff_alarm",
                priority=PRIORITY["escalation"],
                payload=payload,
                next_attempt_at=now + work.wait,
            )
        )

    async def _withdraw_safety_checks(self, channel: str, user_id: str) -> None:
        pending = await self._session.scalars(
            select(models.OutboxItem).where(
                models.OutboxItem.kind == "handoff", models.OutboxItem.status == "pending"
            )
        )
        for item in pending:
            p = item.payload
            if p.get("safety_check") and p.get("channel") == channel and p.get("user_id") == user_id:
                # It never reached staff: nothing of it is kept.
                await self._session.delete(item)
                await self._session.execute(
                    delete(models.Handoff).where(models.Handoff.id == p["handoff_id"])
                )

    async def active_handoff(self) -> HandoffView | None:
        conversation = self._conversation
        handoff = await self._session.scalar(
            select(models.Handoff)
            .where(
                models.Handoff.channel == conversation.channel,
                models.Handoff.user_id == conversation.user_id,
                models.Handoff.status != "closed",
            )
            .order_by(models.Handoff.id.desc())
            .limit(1)
        )
        if handoff is None:
            return None
        return HandoffView(handoff.id, handoff.status, handoff.last_activity_at)

    async def take_held_notifications(self) -> tuple[Outbound, ...]:
        conversation = self._conversation
        return await take_held_in(self._session, conversation.channel, conversation.user_id)

    async def allocate_reference(self) -> str:
        day = datetime.now(self._tz).strftime("%Y%m%d")
        counter = models.ReferenceCounter
        insert = postgresql.insert if _dialect(self._session) == "postgresql" else sqlite.insert
        statement = (
            insert(counter)
            .values(day=day, last=1)
            .on_conflict_do_update(index_elements=["day"], set_={"last": counter.last + 1})
            .returning(counter.last)
        )
        serial = (await self._session.execute(statement)).scalar_one()
        return f"TJ{day}-{serial:04d}"

    async def cases_of(self, channel: str, user_id: str) -> list[CaseView]:
        rows = await self._session.scalars(
            select(models.Case)
            .where(models.Case.channel == channel, models.Case.user_id == user_id)
            .order_by(models.Case.id.desc())
            .limit(10)
        )
        return [case_view(c) for c in rows]

    async def find_case(self, reference: str) -> CaseView | None:
        case = await self._session.scalar(
            select(models.Case).where(models.Case.reference == reference.upper())
        )
        return case_view(case) if case else None


async def erase_resident_here(session: AsyncSession, channel: str, user_id: str) -> None:
    """The bot's own copy of a resident's personal data, deleted in the turn that confirmed it
    (个人信息保护法 第四十七条). What stays until the case system has answered the erasure
    request: the rows of filed cases stripped to their reference, number and step (to ask the
    case system about them), and that message ids were handled (so nothing steps twice)."""
    mine = (models.Case.channel == channel, models.Case.user_id == user_id)
    await session.execute(
        update(models.ProcessedMessage)
        .where(models.ProcessedMessage.channel == channel, models.ProcessedMessage.user_id == user_id)
        .values(text=None, replies=[])
    )
    cases = list(await session.scalars(select(models.Case).where(*mine)))
    for case in cases:
        filing = await session.scalar(
            select(models.OutboxItem).where(
                models.OutboxItem.case_id == case.id, models.OutboxItem.kind == "file_case"
            )
        )
        if filing is not None and filing.status == "pending":  # never reached the case system
            await session.execute(delete(models.OutboxItem).where(models.OutboxItem.case_id == case.id))
            await session.delete(case)
            continue
        if filing is not None and filing.status == "claimed":
            continue  # being filed right now: the erasure request waits for it, then covers it
        await session.execute(  # photos not yet uploaded stay with the resident
            delete(models.OutboxItem).where(
                models.OutboxItem.case_id == case.id,
                models.OutboxItem.kind == "attachment",
                models.OutboxItem.status == "pending",
            )
        )
        case.description = case.place = case.occurred = ""
        case.other_party = case.name = case.phone = None
        case.attachments, case.latitude, case.longitude = [], None, None
        case.public_note = None
    await session.execute(
        delete(models.Notification).where(
            models.Notification.channel == channel, models.Notification.user_id == user_id
        )
    )
    await _scrub_sent_work(session, channel, user_id)
    await session.execute(
        delete(models.Handoff).where(
            models.Handoff.channel == channel,
            models.Handoff.user_id == user_id,
            models.Handoff.status == "closed",
        )
    )


#: Outbox kinds whose payload carries what the resident wrote (an alarm, a request for a
#: person, a message relayed to staff).
_WORDS_IN_PAYLOAD = ("escalation", "handoff", "handoff_alarm", "relay")


async def _scrub_sent_work(session: AsyncSession, channel: str, user_id: str) -> None:
    """Work already at the case system keeps its row (its idempotency key), not the resident's
    words: the case system holds its own copy, which the erasure request covers. (A scan of the
    finished rows: a deletion request is rare, and payloads are JSON on both databases.)"""
    handoffs = set(
        await session.scalars(
            select(models.Handoff.id).where(
                models.Handoff.channel == channel, models.Handoff.user_id == user_id
            )
        )
    )
    rows = await session.scalars(
        select(models.OutboxItem).where(
            models.OutboxItem.kind.in_(_WORDS_IN_PAYLOAD), models.OutboxItem.status.in_(("done", "failed"))
        )
    )
    for row in rows:
        p = row.payload
        mine = (p.get("channel"), p.get("user_id")) == (channel, user_id) or p.get("handoff_id") in handoffs
        if mine and p.get("text"):
            row.payload = {**p, "text": ""}


def _dialect(session: AsyncSession) -> str:
    return session.get_bind().dialect.name


async def _replay(
    session: AsyncSession, channel: str, user_id: str, message_id: str
) -> tuple[Outbound, ...] | None:
    processed = models.ProcessedMessage
    row = await session.scalar(
        select(processed.replies).where(
            processed.channel == channel, processed.user_id == user_id, processed.message_id == message_id
        )
    )
    return replies_from_json(row) if row is not None else None


class SqlTurnStore:
    """Implements ``bot.dialogs.ports.TurnStore``."""

    def __init__(self, engine: AsyncEngine, *, timezone: str = "Asia/Shanghai") -> None:
        self._engine = engine
        self._sessions: async_sessionmaker[AsyncSession] = sessions(engine)
        self._tz = ZoneInfo(timezone)

    async def replay(self, channel: str, user_id: str, message_id: str) -> tuple[Outbound, ...] | None:
        async with self._sessions() as session:
            await session.connection(execution_options={"sqlite_begin": "DEFERRED"})
            return await _replay(session, channel, user_id, message_id)

    async def recent_messages(self, channel: str, user_id: str, since: datetime) -> int:
        async with self._sessions() as session:
            await session.connection(execution_options={"sqlite_begin": "DEFERRED"})
            count = await session.scalar(
                select(func.count())
                .select_from(models.ProcessedMessage)
                .where(
                    models.ProcessedMessage.channel == channel,
                    models.ProcessedMessage.user_id == user_id,
                    models.ProcessedMessage.created_at >= since,
                )
            )
            return int(count or 0)

    @asynccontextmanager
    async def transaction(self, channel: str, user_id: str) -> AsyncIterator[SqlTurn]:
        async with self._sessions() as session:
            try:
                async with session.begin():
                    conversation = await self._lock_conversation(session, channel, user_id)
                    yield SqlTurn(session, conversation, self._tz)
            except IntegrityError as exc:
                if "processed_messages" in str(exc) or "message_id" in str(exc):
                    raise DuplicateMessage(channel) from exc
                raise

    async def _lock_conversation(
        self, session: AsyncSession, channel: str, user_id: str
    ) -> models.Conversation:
        """The resident's row, locked until the transaction ends (created on first contact)."""
        insert = postgresql.insert if _dialect(session) == "postgresql" else sqlite.insert
        await session.execute(
            insert(models.Conversation)
            .values(channel=channel, user_id=user_id, state={})
            .on_conflict_do_nothing()
        )
        conversation = await session.scalar(
            select(models.Conversation)
            .where(models.Conversation.channel == channel, models.Conversation.user_id == user_id)
            .with_for_update()
        )
        if conversation is None:  # pragma: no cover - the insert above guarantees the row
            raise RuntimeError("conversation row vanished inside its transaction")
        return conversation
