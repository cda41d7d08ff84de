"""The outbox worker: carries the work dialog turns wrote (cases to file, escalations, handoffs,
messages relayed to staff) to the case system, and a filed case's photos after it (fetched from
the resident's channel, uploaded as the case's attachments).

Each row is claimed (``bot.jobs.claims``, renewed by a heartbeat however long the call takes),
sent with the row's idempotency key, and marked done with what came back — only while the claim
is still ours — so a worker killed after the case system answered, or an answer lost on the way,
leads to a retry that the case system recognises: never a second case. Rows wait while the case
system is down and come back with growing delays.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backend_client import BackendRejected, BackendUnavailable, CaseSystemClient
from backend_client.models import (
    CaseCreate,
    ErasureOutcomeKind,
    ErasureRequest,
    ErasureRequestCreate,
    EscalationCreate,
    HandoffCreate,
    Reporter,
    TranscriptLine,
)
from bot.dialogs.replies import Replies
from bot.jobs import claims
from bot.jobs.backoff import next_attempt
from bot.jobs.heartbeat import RENEW_EVERY, TakenOver
from bot.jobs.media import MediaGone, MediaSource
from bot.jobs.notices import queue_notification
from bot.storage import models

log = structlog.get_logger(__name__)
TRANSCRIPT_LINES = 20


class NotReadyYet(Exception):
    """The row depends on one not filed yet (a relay before its handoff): try again later."""


@dataclass
class FlushResult:
    done: int = 0
    retried: int = 0
    failed: int = 0


class OutboxWorker:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        client: CaseSystemClient,
        replies: Replies,
        *,
        worker_id: str | None = None,
        batch: int = 20,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        media: dict[str, MediaSource] | None = None,
        renew_every: timedelta = RENEW_EVERY,
    ) -> None:
        self._sessions = sessions
        self._client = client
        self._replies = replies
        self._media = media or {}
        self.worker_id = worker_id or f"outbox-{uuid.uuid4().hex[:8]}"
        self._batch = batch
        self._clock = clock
        self._renew_every = renew_every

    async def flush_once(self) -> FlushResult:
        """Handle every row due now, urgent ones first, in batches."""
        result = FlushResult()
        heartbeat = claims.heartbeat(
            self._sessions,
            models.OutboxItem,
            worker=self.worker_id,
            clock=self._clock,
            every=self._renew_every,
        )
        async with heartbeat:
            while True:
                async with self._sessions.begin() as session:
                    ids = await claims.claim(
                        session,
                        models.OutboxItem,
                        worker=self.worker_id,
                        now=self._clock(),
                        limit=self._batch,
                        order_by=(models.OutboxItem.priority, models.OutboxItem.id),
                    )
                if not ids:
                    return result
                heartbeat.hold(ids)
                for row_id in ids:
                    try:
                        await heartbeat.run(row_id, self._handle(row_id, result))
                    except TakenOver:  # we stalled past the lease: the new holder sends it
                        log.warning("outbox.taken_over", row=row_id)

    async def _handle(self, row_id: int, result: FlushResult) -> None:
        async with self._sessions() as session:
            item = await session.get(models.OutboxItem, row_id)
            if item is None or item.claimed_by != self.worker_id or item.status != "claimed":
                return
            kind, payload, case_id, key = item.kind, dict(item.payload), item.case_id, item.idempotency_key
            try:
                request = await self._prepare(session, kind, payload, case_id)
            except NotReadyYet as exc:
                not_ready: str | None = str(exc)
            else:
                not_ready = None
        if not_ready is not None:  # outside the read: SQLite has one connection
            await self._retry(row_id, not_ready)
            result.retried += 1
            return
        try:
            response = await request(key)
        except BackendUnavailable as exc:
            await self._retry(row_id, str(exc))
            result.retried += 1
            log.warning("outbox.retry", kind=kind, row=row_id, error=str(exc))
            return
        except BackendRejected as exc:
            await self._fail(row_id, str(exc))
            result.failed += 1
            log.error("outbox.rejected", kind=kind, row=row_id, error=str(exc))
            return
        async with self._sessions.begin() as session:
            item = await claims.still_claimed(session, models.OutboxItem, row_id, self.worker_id)
            if item is None:  # taken over while we sent: the new holder records it
                log.warning("outbox.taken_over", kind=kind, row=row_id)
                return
            item.status, item.done_at, item.last_error = "done", self._clock(), None
            await self._apply(session, kind, payload, case_id, response)
        result.done += 1
        log.info("outbox.done", kind=kind, row=row_id)

    async def _prepare(
        self, session: AsyncSession, kind: str, payload: dict[str, Any], case_id: int | None
    ) -> Callable[[str], Any]:
        """Read what the call needs (inside a short read), return the call to make (outside it)."""
        client = self._client
        if kind == "file_case":
            case = await session.get(models.Case, case_id)
            if case is None:
                raise NotReadyYet("case row missing")
            body = CaseCreate(
                reference=case.reference, dispute_type=case.dispute_type, description=case.description,
                place=case.place, latitude=case.latitude, longitude=case.longitude, occurred=case.occurred,
                other_party=case.other_party, reporter=Reporter(name=case.name, phone=case.phone),
                channel=case.channel, consent_at=case.consent_at, resident_ref=case.user_id,
            )  # fmt: skip
            return lambda key: client.create_case(body, idempotency_key=key)
        if kind == "attachment":
            case = await session.get(models.Case, case_id)
            if case is None or case.backend_case_no is None:
                raise NotReadyYet("the case is not filed yet")
            return self._upload(case.backend_case_no, case.channel, payload["ref"])
        if kind == "erasure":
            return await self._erasure(session, payload)
        if kind == "escalation":
            transcript = await _transcript(session, payload["channel"], payload["user_id"])
            escalation = EscalationCreate(
                channel=payload["channel"], resident_ref=payload["user_id"], text=payload["text"],
                categories=payload["categories"], self_harm=payload["self_harm"], transcript=transcript,
            )  # fmt: skip
            return lambda key: client.create_escalation(escalation, idempotency_key=key)
        handoff = await session.get(models.Handoff, payload["handoff_id"])
        if handoff is None:
            raise NotReadyYet("handoff row missing")
        if kind == "handoff_alarm":
            return await self._handoff_alarm(session, handoff, payload)
        if kind == "handoff":
            transcript = await _transcript(session, handoff.channel, handoff.user_id)
            body_h = HandoffCreate(
                channel=handoff.channel,
                resident_ref=handoff.user_id,
                text=payload["text"],
                urgent=bool(payload.get("urgent", False)),
                transcript=transcript,
            )
            return lambda key: client.create_handoff(body_h, idempotency_key=key)
        if handoff.backend_id is None:
            raise NotReadyYet("the handoff is not at the desk yet")
        backend_id = handoff.backend_id
        if kind == "relay":
            text = payload["text"]
            return lambda key: client.relay_to_handoff(backend_id, text, idempotency_key=key)
        if kind == "close_handoff":
            return lambda key: client.close_handoff(backend_id)
        raise BackendRejected("outbox", f"unknown work kind {kind!r}")

    async def _handoff_alarm(
        self, session: AsyncSession, handoff: models.Handoff, payload: dict[str, Any]
    ) -> Callable[[str], Any]:
        """Danger told during a handoff, minutes ago: if a staff member has answered since (or
        the handoff ended), staff have it in hand; otherwise the alarm path runs after all."""
        queued = datetime.fromisoformat(payload["queued_at"])
        answered = handoff.staff_replied_at is not None and handoff.staff_replied_at >= queued
        if answered or handoff.status == "closed":
            return _nothing
        transcript = await _transcript(session, payload["channel"], payload["user_id"])
        escalation = EscalationCreate(
            channel=payload["channel"], resident_ref=payload["user_id"], text=payload["text"],
            categories=payload["categories"], self_harm=payload["self_harm"], transcript=transcript,
        )  # fmt: skip
        return lambda key: self._client.create_escalation(escalation, idempotency_key=key)

    async def _erasure(self, session: AsyncSession, payload: dict[str, Any]) -> Callable[[str], Any]:
        """Ask the case system to delete the resident's data, covering every case it holds; a
        case still being filed is waited for (otherwise it would escape the request)."""
        cases = list(await session.scalars(_cases_of(payload["channel"], payload["user_id"])))
        for case in cases:
            if case.backend_case_no is None and await _being_filed(session, case.id):
                raise NotReadyYet("a case of the resident is being filed")
        body = ErasureRequestCreate(
            channel=payload["channel"],
            resident_ref=payload["user_id"],
            case_nos=[c.backend_case_no for c in cases if c.backend_case_no],
        )
        return lambda key: self._client.request_erasure(body, idempotency_key=key)

    async def _erased(self, session: AsyncSession, payload: dict[str, Any], answer: ErasureRequest) -> None:
        """The case system answered: the bot's last traces go, and the resident hears the outcome."""
        channel, user_id = payload["channel"], payload["user_id"]
        cases = list(await session.scalars(_cases_of(channel, user_id)))
        references = {c.backend_case_no: c.reference for c in cases if c.backend_case_no}
        for case in cases:
            await session.delete(case)
        kept = [
            references.get(o.case_no, o.case_no) for o in answer.cases if o.outcome is ErasureOutcomeKind.KEPT
        ]
        erased = [
            references.get(o.case_no, o.case_no)
            for o in answer.cases
            if o.outcome is ErasureOutcomeKind.ERASED
        ]
        if kept:
            text = self._replies.text("privacy.erased_some_kept", references="、".join(kept))
        else:
            part = self._replies.text("privacy.erased_cases", references="、".join(erased)) if erased else ""
            text = self._replies.text("privacy.erased", cases_part=part)
        await queue_notification(
            session, channel=channel, user_id=user_id, text=text, key=f"erasure:{payload['token']}"
        )

    async def _erasure_refused(self, session: AsyncSession, payload: dict[str, Any]) -> None:
        channel, user_id = payload["channel"], payload["user_id"]
        for case in await session.scalars(_cases_of(channel, user_id)):
            await session.delete(case)
        text = self._replies.text("privacy.erase_failed")
        await queue_notification(
            session, channel=channel, user_id=user_id, text=text, key=f"erasure:{payload['token']}"
        )

    def _upload(self, case_no: str, channel: str, ref: str) -> Callable[[str], Any]:
        source = self._media.get(channel)

        async def upload(key: str) -> Any:
            if source is None:
                raise BackendRejected("fetch photo", f"the {channel} channel cannot fetch media")
            try:
                media = await source.fetch(ref)
            except MediaGone as exc:
                raise BackendRejected("fetch photo", f"gone from {channel}: {exc}") from exc
            except Exception as exc:  # the channel's network: try again later
                raise BackendUnavailable("fetch photo", f"{type(exc).__name__}: {exc}") from exc
            return await self._client.add_attachment(
                case_no,
                filename=media.filename,
                content=media.content,
                content_type=media.content_type,
                idempotency_key=key,
            )

        return upload

    async def _apply(
        self, session: AsyncSession, kind: str, payload: dict[str, Any], case_id: int | None, response: Any
    ) -> None:
        if kind == "file_case":
            case = await session.get(models.Case, case_id)
            if case is None:
                return
            case.backend_case_no = response.case_no
            case.step = case.step or response.step.value
            text = self._replies.text("notify.filed", reference=case.reference, case_no=response.case_no)
            await queue_notification(
                session, channel=case.channel, user_id=case.user_id, text=text, key=f"filed:{case.id}"
            )
            for ref in case.attachments:  # the photos follow the case, one row each
                session.add(
                    models.OutboxItem(
                        kind="attachment", priority=30, payload={"ref": str(ref)}, case_id=case.id
                    )
                )
        elif kind == "handoff_alarm" and response is not None:
            # Nobody answered the danger in time: the resident gets the emergency numbers now.
            await queue_notification(
                session,
                channel=payload["channel"],
                user_id=payload["user_id"],
                text=self._replies.text(payload["alert"]),
                key=f"handoff-alarm:{payload['handoff_id']}:{payload['queued_at']}",
            )
        elif kind == "erasure":
            await self._erased(session, payload, response)
        elif kind == "handoff":
            handoff = await session.get(models.Handoff, payload["handoff_id"])
            if handoff is not None:
                handoff.backend_id = response.id
                if handoff.status == "requested":
                    handoff.status = "waiting"

    async def _retry(self, row_id: int, error: str) -> None:
        async with self._sessions.begin() as session:
            item = await claims.still_claimed(session, models.OutboxItem, row_id, self.worker_id)
            if item is None:
                return
            item.attempts += 1
            item.status, item.claimed_by, item.last_error = "pending", None, error[:500]
            item.next_attempt_at = next_attempt(self._clock(), item.attempts)

    async def _fail(self, row_id: int, error: str) -> None:
        async with self._sessions.begin() as session:
            item = await claims.still_claimed(session, models.OutboxItem, row_id, self.worker_id)
            if item is not None:
                item.attempts += 1
                item.status, item.last_error = "failed", error[:500]
                if item.kind == "erasure":  # the bot's copy goes all the same; staff follow up
                    await self._erasure_refused(session, dict(item.payload))


def _cases_of(channel: str, user_id: str) -> Any:
    return select(models.Case).where(models.Case.channel == channel, models.Case.user_id == user_id)


async def _being_filed(session: AsyncSession, case_id: int) -> bool:
    status = await session.scalar(
        select(models.OutboxItem.status).where(
            models.OutboxItem.case_id == case_id, models.OutboxItem.kind == "file_case"
        )
    )
    return status in ("pending", "claimed")


async def _nothing(_key: str) -> None:
    """A row whose work turned out to be unneeded (staff answered the danger in time)."""


async def _transcript(session: AsyncSession, channel: str, user_id: str) -> list[TranscriptLine]:
    """The conversation so far (the last turns), for staff who take over."""
    conversation = await session.scalar(
        select(models.Conversation).where(
            models.Conversation.channel == channel, models.Conversation.user_id == user_id
        )
    )
    if conversation is None:
        return []
    rows = list(
        await session.scalars(
            select(models.ProcessedMessage)
            .where(models.ProcessedMessage.conversation_id == conversation.id)
            .order_by(models.ProcessedMessage.id.desc())
            .limit(TRANSCRIPT_LINES)
        )
    )
    lines: list[TranscriptLine] = []
    for row in reversed(rows):
        at = row.created_at
        if row.text:
            lines.append(TranscriptLine(at=at, sender="resident", text=row.text[:5000]))
        for reply in row.replies:
            lines.append(TranscriptLine(at=at, sender="bot", text=str(reply.get("text", ""))[:5000]))
    return lines
